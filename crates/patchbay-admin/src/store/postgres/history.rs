//! The change history in the shared store: `patchbay.history` (each change's entry by
//! position, and its commit time, indexed) and `patchbay.history_subjects` (what each change
//! touched, by subject and position: a number by its block of 256 with which of them),
//! written by the writer with the change itself (in the statement that appends it to the
//! log), so every node answers the same history and nothing committed is missing from it. Read by [`PgHistory`], with a
//! connection of its own.

use parking_lot::Mutex;
use postgres::Client;

use super::{describe, failed, position, Postgres};
use crate::history::query::{HistoryRead, Subject};
use crate::history::{number_key, row_keys, subject_key, subject_rows, Entry};
use crate::store::SharedError;

/// A group's history as the writer's append statement takes it: the entries' positions,
/// commit times and bytes, and their subjects' rows (subject, position, the numbers of a
/// block).
pub(super) struct Rows {
    pub(super) positions: Vec<i64>,
    pub(super) times: Vec<i64>,
    pub(super) bodies: Vec<Vec<u8>>,
    pub(super) subjects: Vec<Vec<u8>>,
    pub(super) subject_positions: Vec<i64>,
    pub(super) bits: Vec<Option<Vec<u8>>>,
}

impl Rows {
    pub(super) fn of(entries: &[&Entry]) -> Result<Rows, SharedError> {
        let mut rows = Rows {
            positions: Vec::with_capacity(entries.len()),
            times: Vec::with_capacity(entries.len()),
            bodies: Vec::with_capacity(entries.len()),
            subjects: Vec::new(),
            subject_positions: Vec::new(),
            bits: Vec::new(),
        };
        for entry in entries {
            let at = position(entry.position);
            rows.positions.push(at);
            rows.times.push(entry.stamp.at);
            rows.bodies
                .push(entry.encode().map_err(SharedError::Refused)?);
            for (subject, value) in subject_rows(entry) {
                rows.subjects.push(subject);
                rows.subject_positions.push(at);
                rows.bits.push((!value.is_empty()).then_some(value));
            }
        }
        Ok(rows)
    }
}

/// The most changes one pruning drops: a history long past its retention is trimmed over
/// several.
const PRUNE_STEP: i64 = 10_000;

/// Drops the history of the changes committed before `cutoff` (ms), inside the writer's
/// transaction, at most [`PRUNE_STEP`] at a time: the entries, and their subjects' rows,
/// found from each entry by their primary key.
pub(super) fn prune(client: &mut Client, cutoff: i64) -> Result<(), SharedError> {
    let rows = client
        .query(
            "SELECT entry FROM patchbay.history WHERE at_ms < $1 ORDER BY position LIMIT $2",
            &[&cutoff, &PRUNE_STEP],
        )
        .map_err(failed)?;
    if rows.is_empty() {
        return Ok(());
    }
    let mut positions = Vec::with_capacity(rows.len());
    let mut subjects: Vec<Vec<u8>> = Vec::new();
    let mut subject_positions: Vec<i64> = Vec::new();
    for row in &rows {
        let bytes: Vec<u8> = row.try_get(0).map_err(failed)?;
        let entry = Entry::decode(&bytes).map_err(SharedError::Refused)?;
        let at = position(entry.position);
        positions.push(at);
        for subject in row_keys(&entry) {
            subjects.push(subject);
            subject_positions.push(at);
        }
    }
    client
        .execute(
            "WITH gone AS (DELETE FROM patchbay.history_subjects s \
             USING unnest($1::bytea[], $2::bigint[]) AS t(subject, position) \
             WHERE s.subject = t.subject AND s.position = t.position) \
             DELETE FROM patchbay.history WHERE position = ANY($3::bigint[])",
            &[&subjects, &subject_positions, &positions],
        )
        .map_err(failed)?;
    Ok(())
}

/// The shared store's history, read with a connection of its own (opened on first use, and
/// again after it is lost).
pub(crate) struct PgHistory {
    store: Postgres,
    client: Mutex<Option<Client>>,
}

impl PgHistory {
    pub(crate) fn new(store: Postgres) -> PgHistory {
        PgHistory {
            store,
            client: Mutex::new(None),
        }
    }

    /// Runs `read` on the connection, opening it when there is none or it was lost.
    fn with<T>(
        &self,
        read: impl FnOnce(&mut Client) -> Result<T, postgres::Error>,
    ) -> Result<T, String> {
        let mut slot = self.client.lock();
        if slot.as_ref().is_some_and(Client::is_closed) {
            *slot = None;
        }
        if slot.is_none() {
            *slot = Some(
                self.store
                    .client()
                    .map_err(|e| format!("the store's history: {e}"))?,
            );
        }
        let client = slot
            .as_mut()
            .ok_or_else(|| "the store's history: no connection".to_string())?;
        read(client).map_err(|e| format!("the store's history: {}", describe(&e)))
    }
}

fn to_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

impl HistoryRead for PgHistory {
    fn recorded(&self) -> Result<u64, String> {
        self.with(|c| {
            let row = c.query_one("SELECT position FROM patchbay.head", &[])?;
            Ok(to_u64(row.try_get(0)?))
        })
    }

    fn oldest(&self) -> Result<Option<(u64, i64)>, String> {
        self.with(|c| {
            let row = c.query_opt(
                "SELECT position, at_ms FROM patchbay.history ORDER BY position LIMIT 1",
                &[],
            )?;
            row.map(|r| Ok((to_u64(r.try_get(0)?), r.try_get(1)?)))
                .transpose()
        })
    }

    fn position_at(&self, at: i64) -> Result<Option<u64>, String> {
        self.with(|c| {
            let row = c.query_opt(
                "SELECT position FROM patchbay.history WHERE at_ms <= $1 \
                 ORDER BY at_ms DESC, position DESC LIMIT 1",
                &[&at],
            )?;
            row.map(|r| Ok(to_u64(r.try_get(0)?))).transpose()
        })
    }

    fn touching(&self, subject: &Subject, below: u64, limit: usize) -> Result<Vec<u64>, String> {
        let below = position(below);
        let want = i64::try_from(limit).unwrap_or(i64::MAX);
        if *subject == Subject::All {
            return self.with(|c| {
                c.query(
                    "SELECT position FROM patchbay.history WHERE position < $1 \
                     ORDER BY position DESC LIMIT $2",
                    &[&below, &want],
                )?
                .iter()
                .map(|r| Ok(to_u64(r.try_get(0)?)))
                .collect()
            });
        }
        let (key, bit) = subject_key(subject);
        // A number's rows are its own and its block's (bulk changes): the database keeps
        // those of the block whose set holds it.
        let own = match subject {
            Subject::Number(number) => number_key(*number),
            _ => Vec::new(),
        };
        let bit = bit.map(i32::from);
        self.with(|c| {
            c.query(
                "SELECT position FROM ((SELECT position FROM patchbay.history_subjects \
                 WHERE subject = $1 AND position < $2 AND (CASE WHEN $3::int IS NULL THEN true \
                 WHEN length(bits) * 8 > $3::int THEN get_bit(bits, $3::int) = 1 ELSE false END) \
                 ORDER BY position DESC LIMIT $4) UNION (SELECT position \
                 FROM patchbay.history_subjects WHERE subject = $5 AND position < $2 \
                 ORDER BY position DESC LIMIT $4)) AS t ORDER BY position DESC LIMIT $4",
                &[&key, &below, &bit, &want, &own],
            )?
            .iter()
            .map(|r| Ok(to_u64(r.try_get(0)?)))
            .collect()
        })
    }

    fn first_touching_after(&self, subject: &Subject, above: u64) -> Result<Option<u64>, String> {
        let after = position(above);
        if *subject == Subject::All {
            return self.with(|c| {
                let row = c.query_opt(
                    "SELECT position FROM patchbay.history WHERE position > $1 \
                     ORDER BY position LIMIT 1",
                    &[&after],
                )?;
                row.map(|r| Ok(to_u64(r.try_get(0)?))).transpose()
            });
        }
        let (key, bit) = subject_key(subject);
        let own = match subject {
            Subject::Number(number) => number_key(*number),
            _ => Vec::new(),
        };
        let bit = bit.map(i32::from);
        self.with(|c| {
            let row = c.query_opt(
                "SELECT min(position) FROM ((SELECT position FROM patchbay.history_subjects \
                 WHERE subject = $1 AND position > $2 AND (CASE WHEN $3::int IS NULL THEN true \
                 WHEN length(bits) * 8 > $3::int THEN get_bit(bits, $3::int) = 1 ELSE false END) \
                 ORDER BY position LIMIT 1) UNION ALL (SELECT position \
                 FROM patchbay.history_subjects WHERE subject = $4 AND position > $2 \
                 ORDER BY position LIMIT 1)) AS t",
                &[&key, &after, &bit, &own],
            )?;
            row.and_then(|r| r.try_get::<_, Option<i64>>(0).transpose())
                .map(|at| Ok(to_u64(at?)))
                .transpose()
        })
    }

    fn entry(&self, at: u64) -> Result<Option<Entry>, String> {
        let bytes: Option<Vec<u8>> = self.with(|c| {
            let row = c.query_opt(
                "SELECT entry FROM patchbay.history WHERE position = $1",
                &[&position(at)],
            )?;
            row.map(|r| r.try_get(0)).transpose()
        })?;
        bytes.map(|b| Entry::decode(&b)).transpose()
    }

    fn entries(&self, positions: &[u64]) -> Result<Vec<Entry>, String> {
        if positions.is_empty() {
            return Ok(Vec::new());
        }
        let wanted: Vec<i64> = positions.iter().map(|p| position(*p)).collect();
        let rows: Vec<(i64, Vec<u8>)> = self.with(|c| {
            c.query(
                "SELECT position, entry FROM patchbay.history WHERE position = ANY($1)",
                &[&wanted],
            )?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
        })?;
        let mut found: std::collections::HashMap<i64, Vec<u8>> = rows.into_iter().collect();
        wanted
            .iter()
            .filter_map(|p| found.remove(p))
            .map(|bytes| Entry::decode(&bytes))
            .collect()
    }
}

impl Postgres {
    /// The changes `query` asks for, of `project` or of every project, read from the
    /// store's history without loading its model (`patchbay history --store`). Nothing is
    /// refused as older than retention but what the store no longer holds.
    ///
    /// # Errors
    ///
    /// As [`crate::Admin::changes`]; `unavailable` when the store cannot be reached.
    pub fn changes(
        &self,
        project: Option<&str>,
        query: &crate::ChangesQuery,
    ) -> Result<crate::ChangesPage, crate::AdminError> {
        let config = crate::AdminConfig {
            history_retain: None,
            ..crate::AdminConfig::default()
        };
        let history = self.history();
        // One reading of the head first: an unreachable store says so as such.
        history.recorded().map_err(crate::AdminError::unavailable)?;
        config.changes_in(&history, project, query)
    }
}
