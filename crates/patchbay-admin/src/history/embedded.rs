//! The embedded store's history: a redb database beside the journal (`history.redb` in the
//! data directory), derived from the journal and rebuilt from it.
//!
//! Tables:
//!
//! | table | key | value |
//! |---|---|---|
//! | `entries` | position | the entry's bytes (`mod.rs`) |
//! | `times` | (commit time in ms, position) | none |
//! | `subjects` | kind, subject, position (below) | for a block of numbers, which of its 256 |
//! | `meta` | `recorded`, `complete_from` | a position |
//!
//! A subject key is `[kind][length][subject][position, 8 bytes big-endian]`, so a subject's
//! changes are one range, newest last. A change of up to 16 numbers keys each by its
//! digits; a bulk change keys them by block: the key's subject is a number's digits divided
//! by 256, and the value a 256-bit set of which numbers of the block the change touched. An
//! import of a sorted run of numbers writes a row a block instead of a row a number, and a
//! number's history is two range reads (its own rows, its block's), of about a page of rows
//! each however often its neighbours change. Prefixes, connectors (anything about one, and
//! its own record apart) and projects are keyed by their text.
//!
//! It keeps nothing the journal does not: a commit here is durable (it is written on a
//! thread of its own, `recorder.rs`, never on the path of a change), and on open the journal
//! records past `recorded` are read into it again.

use std::path::Path;

use redb::{
    ConcurrencyMode, Database, ReadOnlyDatabase, ReadTransaction, ReadableDatabase, ReadableTable,
    TableDefinition, WriteTransaction,
};

use super::query::Subject;
use super::{holds, number_key, row_keys, subject_key, subject_rows, Entry};

const ENTRIES: TableDefinition<u64, &[u8]> = TableDefinition::new("entries");
const TIMES: TableDefinition<(i64, u64), ()> = TableDefinition::new("times");
const SUBJECTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("subjects");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// The last position recorded.
const RECORDED: &str = "recorded";
/// The first position after a stretch of the journal the history never saw (its file was
/// lost, or fell behind a checkpoint): nothing is answered from before it.
const COMPLETE_FROM: &str = "complete_from";

/// The key of a subject's row at `position`: the subject's key, then the position.
fn key(subject: &[u8], position: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(subject.len() + 8);
    key.extend_from_slice(subject);
    key.extend_from_slice(&position.to_be_bytes());
    key
}

/// The rows of one change, keyed as this table keys them.
fn rows_of(entry: &Entry) -> Vec<(Vec<u8>, Vec<u8>)> {
    subject_rows(entry)
        .into_iter()
        .map(|(subject, value)| (key(&subject, entry.position), value))
        .collect()
}

fn failed(e: impl std::fmt::Display) -> String {
    format!("the history database: {e}")
}

/// The database, as its writer (the process that owns the data directory) or a reader
/// beside it (the command line while a server runs): redb's single-writer mode lets one
/// process write and others read and follow its commits.
enum Db {
    Writable(Database),
    ReadOnly(ReadOnlyDatabase),
}

impl Db {
    fn begin_read(&self) -> Result<ReadTransaction, redb::TransactionError> {
        match self {
            Db::Writable(db) => db.begin_read(),
            Db::ReadOnly(db) => db.begin_read(),
        }
    }

    fn begin_write(&self) -> Result<WriteTransaction, String> {
        match self {
            Db::Writable(db) => db.begin_write().map_err(failed),
            Db::ReadOnly(_) => Err("the history is open read-only".into()),
        }
    }
}

/// The history of an embedded store, in redb.
pub(crate) struct EmbeddedHistory {
    db: Db,
}

impl EmbeddedHistory {
    /// Opens (or creates) the history at `path`, or one in memory.
    pub(crate) fn open(path: Option<&Path>) -> Result<EmbeddedHistory, String> {
        let mut builder = Database::builder();
        // The history answers a few ranges at a time: a small cache keeps the node's memory
        // what its numbers take.
        builder.set_cache_size(16 << 20);
        let db = match path {
            // Others (the command line) may read the file while this process writes it.
            Some(path) => builder
                .set_concurrency_mode(ConcurrencyMode::SingleWriter)
                .create(path)
                .map_err(failed)?,
            None => builder
                .create_with_backend(redb::backends::InMemoryBackend::new())
                .map_err(failed)?,
        };
        let tx = db.begin_write().map_err(failed)?;
        {
            tx.open_table(ENTRIES).map_err(failed)?;
            tx.open_table(TIMES).map_err(failed)?;
            tx.open_table(SUBJECTS).map_err(failed)?;
            tx.open_table(META).map_err(failed)?;
        }
        tx.commit().map_err(failed)?;
        Ok(EmbeddedHistory {
            db: Db::Writable(db),
        })
    }

    /// Opens the history at `path` to read beside the process that writes it.
    pub(crate) fn open_read_only(path: &Path) -> Result<EmbeddedHistory, String> {
        let mut builder = Database::builder();
        builder
            .set_cache_size(16 << 20)
            .set_concurrency_mode(ConcurrencyMode::SingleWriter);
        let db = builder.open_read_only(path).map_err(failed)?;
        Ok(EmbeddedHistory {
            db: Db::ReadOnly(db),
        })
    }

    fn meta(&self, name: &str) -> Result<u64, String> {
        let tx = self.db.begin_read().map_err(failed)?;
        let table = tx.open_table(META).map_err(failed)?;
        let value = table.get(name).map_err(failed)?.map_or(0, |v| v.value());
        Ok(value)
    }

    /// Records `entries` (in order, after what is recorded) durably, in one commit, and
    /// what is recorded as reaching `through` (changes without a stamp, made before the
    /// history was kept, have no entry).
    pub(crate) fn record(&self, entries: &[Entry], through: u64) -> Result<(), String> {
        let tx = self.db.begin_write()?;
        {
            let mut bodies = tx.open_table(ENTRIES).map_err(failed)?;
            let mut times = tx.open_table(TIMES).map_err(failed)?;
            let mut subjects = tx.open_table(SUBJECTS).map_err(failed)?;
            for entry in entries {
                bodies
                    .insert(entry.position, entry.encode()?.as_slice())
                    .map_err(failed)?;
                times
                    .insert((entry.stamp.at, entry.position), ())
                    .map_err(failed)?;
                for (key, value) in rows_of(entry) {
                    subjects
                        .insert(key.as_slice(), value.as_slice())
                        .map_err(failed)?;
                }
            }
            let mut meta = tx.open_table(META).map_err(failed)?;
            meta.insert(RECORDED, through).map_err(failed)?;
        }
        tx.commit().map_err(failed)
    }

    /// Marks what is recorded as ending at `position`, and the history as complete only
    /// from `complete_from` (after a stretch it never saw). Entries past `position` (a data
    /// directory put back from an older copy) are dropped.
    pub(crate) fn reset_to(&self, position: u64, complete_from: Option<u64>) -> Result<(), String> {
        let newer: Vec<Entry> = {
            let tx = self.db.begin_read().map_err(failed)?;
            let table = tx.open_table(ENTRIES).map_err(failed)?;
            let range = table.range(position.saturating_add(1)..).map_err(failed)?;
            let mut newer = Vec::new();
            for row in range {
                let (_, bytes) = row.map_err(failed)?;
                newer.push(Entry::decode(bytes.value())?);
            }
            newer
        };
        let tx = self.db.begin_write()?;
        {
            remove(&tx, &newer)?;
            let mut meta = tx.open_table(META).map_err(failed)?;
            meta.insert(RECORDED, position).map_err(failed)?;
            if let Some(from) = complete_from {
                meta.insert(COMPLETE_FROM, from).map_err(failed)?;
            }
        }
        tx.commit().map_err(failed)
    }

    /// The commit time of the newest change recorded (ms).
    pub(crate) fn newest_at(&self) -> Result<Option<i64>, String> {
        let tx = self.db.begin_read().map_err(failed)?;
        let times = tx.open_table(TIMES).map_err(failed)?;
        let last = times.last().map_err(failed)?;
        Ok(last.map(|(key, _)| key.value().0))
    }

    /// Drops every change committed before `cutoff` (ms), as retention says: at most
    /// `limit` at a time, so a long-idle history is trimmed in steps. How many went.
    pub(crate) fn prune_before(&self, cutoff: i64, limit: usize) -> Result<usize, String> {
        let old: Vec<Entry> = {
            let tx = self.db.begin_read().map_err(failed)?;
            let times = tx.open_table(TIMES).map_err(failed)?;
            let bodies = tx.open_table(ENTRIES).map_err(failed)?;
            let mut old = Vec::new();
            for row in times.range(..(cutoff, 0)).map_err(failed)?.take(limit) {
                let (key, _) = row.map_err(failed)?;
                let (_, position) = key.value();
                if let Some(bytes) = bodies.get(position).map_err(failed)? {
                    old.push(Entry::decode(bytes.value())?);
                }
            }
            old
        };
        if old.is_empty() {
            return Ok(0);
        }
        let tx = self.db.begin_write()?;
        remove(&tx, &old)?;
        tx.commit().map_err(failed)?;
        Ok(old.len())
    }
}

impl super::query::HistoryRead for EmbeddedHistory {
    fn recorded(&self) -> Result<u64, String> {
        self.meta(RECORDED)
    }

    fn oldest(&self) -> Result<Option<(u64, i64)>, String> {
        let complete_from = self.meta(COMPLETE_FROM)?;
        let tx = self.db.begin_read().map_err(failed)?;
        let times = tx.open_table(TIMES).map_err(failed)?;
        let bodies = tx.open_table(ENTRIES).map_err(failed)?;
        // The oldest by time is the oldest by position: stamps never go back.
        let first = match bodies
            .range(complete_from..)
            .map_err(failed)?
            .next()
            .transpose()
            .map_err(failed)?
        {
            Some((position, _)) => position.value(),
            None => return Ok(None),
        };
        for row in times.iter().map_err(failed)? {
            let (key, _) = row.map_err(failed)?;
            let (at, position) = key.value();
            if position >= first {
                return Ok(Some((position, at)));
            }
        }
        Ok(None)
    }

    fn position_at(&self, at: i64) -> Result<Option<u64>, String> {
        let tx = self.db.begin_read().map_err(failed)?;
        let times = tx.open_table(TIMES).map_err(failed)?;
        let last = times
            .range(..=(at, u64::MAX))
            .map_err(failed)?
            .next_back()
            .transpose()
            .map_err(failed)?;
        Ok(last.map(|(key, _)| key.value().1))
    }

    fn touching(&self, subject: &Subject, below: u64, limit: usize) -> Result<Vec<u64>, String> {
        let tx = self.db.begin_read().map_err(failed)?;
        if *subject == Subject::All {
            let bodies = tx.open_table(ENTRIES).map_err(failed)?;
            let mut found = Vec::new();
            for row in bodies.range(..below).map_err(failed)?.rev().take(limit) {
                found.push(row.map_err(failed)?.0.value());
            }
            return Ok(found);
        }
        let table = tx.open_table(SUBJECTS).map_err(failed)?;
        let below_in = |subject: &[u8], bit: Option<u8>| -> Result<Vec<u64>, String> {
            let from = key(subject, 0);
            let to = key(subject, below);
            let mut found = Vec::new();
            for row in table
                .range(from.as_slice()..to.as_slice())
                .map_err(failed)?
                .rev()
            {
                if found.len() >= limit {
                    break;
                }
                let (k, v) = row.map_err(failed)?;
                if holds(v.value(), bit) {
                    found.push(position_of(k.value()));
                }
            }
            Ok(found)
        };
        let (block, bit) = subject_key(subject);
        let mut found = below_in(&block, bit)?;
        if let Subject::Number(number) = subject {
            // Its own rows and its block's (bulk changes), newest first.
            found.extend(below_in(&number_key(*number), None)?);
            found.sort_unstable_by(|a, b| b.cmp(a));
            found.dedup();
            found.truncate(limit);
        }
        Ok(found)
    }

    fn first_touching_after(&self, subject: &Subject, above: u64) -> Result<Option<u64>, String> {
        let tx = self.db.begin_read().map_err(failed)?;
        if *subject == Subject::All {
            let bodies = tx.open_table(ENTRIES).map_err(failed)?;
            let first = bodies
                .range(above.saturating_add(1)..)
                .map_err(failed)?
                .next()
                .transpose()
                .map_err(failed)?;
            return Ok(first.map(|(position, _)| position.value()));
        }
        let table = tx.open_table(SUBJECTS).map_err(failed)?;
        let first_in = |subject: &[u8], bit: Option<u8>| -> Result<Option<u64>, String> {
            let from = key(subject, above.saturating_add(1));
            let to = key(subject, u64::MAX);
            for row in table
                .range(from.as_slice()..=to.as_slice())
                .map_err(failed)?
            {
                let (k, v) = row.map_err(failed)?;
                if holds(v.value(), bit) {
                    return Ok(Some(position_of(k.value())));
                }
            }
            Ok(None)
        };
        let (block, bit) = subject_key(subject);
        let first = first_in(&block, bit)?;
        if let Subject::Number(number) = subject {
            let own = first_in(&number_key(*number), None)?;
            return Ok(first.into_iter().chain(own).min());
        }
        Ok(first)
    }

    fn entry(&self, position: u64) -> Result<Option<Entry>, String> {
        let tx = self.db.begin_read().map_err(failed)?;
        let table = tx.open_table(ENTRIES).map_err(failed)?;
        let bytes = table.get(position).map_err(failed)?;
        bytes.map(|b| Entry::decode(b.value())).transpose()
    }
}

/// Removes `entries` whole, with their times and their subjects' rows, in `tx`.
fn remove(tx: &WriteTransaction, entries: &[Entry]) -> Result<(), String> {
    let mut bodies = tx.open_table(ENTRIES).map_err(failed)?;
    let mut times = tx.open_table(TIMES).map_err(failed)?;
    let mut subjects = tx.open_table(SUBJECTS).map_err(failed)?;
    for entry in entries {
        bodies.remove(entry.position).map_err(failed)?;
        times
            .remove((entry.stamp.at, entry.position))
            .map_err(failed)?;
        for subject in row_keys(entry) {
            subjects
                .remove(key(&subject, entry.position).as_slice())
                .map_err(failed)?;
        }
    }
    Ok(())
}

/// The position at the end of a subject key.
fn position_of(key: &[u8]) -> u64 {
    let tail = key.len().saturating_sub(8);
    key.get(tail..)
        .and_then(|end| <[u8; 8]>::try_from(end).ok())
        .map_or(0, u64::from_be_bytes)
}
