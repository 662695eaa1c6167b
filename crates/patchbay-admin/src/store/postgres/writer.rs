//! The writer's side: one connection with its statements prepared, holding the log's head
//! from the read of the changes the node missed to the commit of its own.

use postgres::{Client, Statement};

use super::copy::CopyRows;
use super::rows::TableStatements;
use super::{failed, position, records, Postgres, CHANNEL, PRUNE_EVERY, READ_AFTER};
use crate::store::{Records, SharedError, SharedLog, TableWrite};

/// The write connection of a node, with its statements prepared.
pub(crate) struct PgWriter {
    store: Postgres,
    session: Option<Session>,
    /// The head read by `begin`, while a write is open.
    head: Option<u64>,
}

/// A connection and the statements prepared on it (one round trip each).
struct Session {
    client: Client,
    lock: Statement,
    read: Statement,
    append: Statement,
    move_head: Statement,
    tables: TableStatements,
}

/// Locks the head. The changes up to it are read by the next statement: under READ
/// COMMITTED a statement sees the database as it was when it began, so a read in the same
/// statement as a lock that waited would miss the change committed by the writer before.
const LOCK: &str = "SELECT position FROM patchbay.head FOR UPDATE";
/// Appends the group's changes and their history (entries and subjects' rows) in one
/// statement: one round trip whatever the group holds.
const APPEND: &str = "WITH log AS (INSERT INTO patchbay.changes (position, node, change, packed) \
     SELECT p, $2, c::json, b FROM unnest($1::bigint[], $3::text[], $4::bytea[]) AS t(p, c, b)), \
     entries AS (INSERT INTO patchbay.history (position, at_ms, entry) \
     SELECT * FROM unnest($5::bigint[], $6::bigint[], $7::bytea[])) \
     INSERT INTO patchbay.history_subjects (subject, position, bits) \
     SELECT * FROM unnest($8::bytea[], $9::bigint[], $10::bytea[])";

impl Session {
    fn open(store: &Postgres) -> Result<Session, SharedError> {
        let mut client = store.client()?;
        client
            .batch_execute("SET lock_timeout = '10s'")
            .map_err(failed)?;
        Ok(Session {
            lock: client.prepare(LOCK).map_err(failed)?,
            read: client.prepare(READ_AFTER).map_err(failed)?,
            append: client.prepare(APPEND).map_err(failed)?,
            move_head: client
                .prepare(&format!(
                    "UPDATE patchbay.head SET position = $1::bigint \
                     RETURNING pg_notify('{CHANNEL}', position::text)"
                ))
                .map_err(failed)?,
            tables: TableStatements::prepare(&mut client).map_err(failed)?,
            client,
        })
    }
}

impl PgWriter {
    pub(super) fn new(store: Postgres) -> PgWriter {
        PgWriter {
            store,
            session: None,
            head: None,
        }
    }

    fn connected(&mut self) -> Result<&mut Session, SharedError> {
        if self.session.as_ref().is_some_and(|s| s.client.is_closed()) {
            self.session = None;
        }
        if self.session.is_none() {
            self.session = Some(Session::open(&self.store)?);
        }
        self.session
            .as_mut()
            .ok_or_else(|| SharedError::Unavailable("no connection".into()))
    }

    /// Rolls back what is open, dropping the connection if even that fails.
    fn roll_back(&mut self) {
        self.head = None;
        if let Some(session) = self.session.as_mut() {
            if session.client.batch_execute("ROLLBACK").is_err() {
                self.session = None;
            }
        }
    }

    fn try_begin(&mut self, after: u64) -> Result<(u64, Records), SharedError> {
        let session = self.connected()?;
        session.client.batch_execute("BEGIN").map_err(failed)?;
        let head: i64 = session
            .client
            .query_one(&session.lock, &[])
            .map_err(failed)?
            .try_get(0)
            .map_err(failed)?;
        let head = head as u64;
        if head < after {
            return Err(SharedError::Refused(format!(
                "the store's log ends at {head}, but this node has applied {after}: its \
                 local cache belongs to another database, or the database was restored \
                 from an older backup (start the node with an empty --data directory)"
            )));
        }
        let rows = session
            .client
            .query(&session.read, &[&position(after), &position(head - after)])
            .map_err(failed)?;
        let missed = records(&rows)?;
        let expected = head - after;
        if missed.len() as u64 != expected {
            return Err(SharedError::Unavailable(format!(
                "the log holds {} of the {expected} changes after {after} (the rest were \
                 pruned): this node reloads the whole model",
                missed.len()
            )));
        }
        Ok((head, missed))
    }

    fn try_commit(
        &mut self,
        records: &[(u64, Vec<u8>)],
        writes: &[TableWrite],
    ) -> Result<(), SharedError> {
        let node = self.store.node.clone();
        let retain = self.store.retain;
        let history_retain = self.store.history_retain;
        let head = self
            .head
            .take()
            .ok_or_else(|| SharedError::Refused("commit without begin".into()))?;
        let mut positions = Vec::with_capacity(records.len());
        let mut texts: Vec<Option<&str>> = Vec::with_capacity(records.len());
        let mut packed: Vec<Option<&[u8]>> = Vec::with_capacity(records.len());
        let mut newest = head;
        for (at, payload) in records {
            if *at != newest + 1 {
                return Err(SharedError::Refused(format!(
                    "change {at} does not follow the log's head {newest}"
                )));
            }
            positions.push(position(*at));
            if payload.starts_with(b"[") || payload.starts_with(b"{") {
                let text = std::str::from_utf8(payload)
                    .map_err(|e| SharedError::Refused(format!("change {at}: {e}")))?;
                texts.push(Some(text));
                packed.push(None);
            } else {
                texts.push(None);
                packed.push(Some(payload));
            }
            newest = *at;
        }
        let entries: Vec<&crate::history::Entry> = writes
            .iter()
            .filter_map(|write| match write {
                TableWrite::History(entry) => Some(&**entry),
                _ => None,
            })
            .collect();
        let history = super::history::Rows::of(&entries)?;
        let session = self.connected()?;
        session
            .client
            .execute(
                &session.append,
                &[
                    &positions,
                    &node,
                    &texts,
                    &packed,
                    &history.positions,
                    &history.times,
                    &history.bodies,
                    &history.subjects,
                    &history.subject_positions,
                    &history.bits,
                ],
            )
            .map_err(failed)?;
        for write in writes {
            match write {
                TableWrite::Apply(mutation) => session
                    .tables
                    .write(&mut session.client, mutation)
                    .map_err(failed)?,
                TableWrite::Insert {
                    project_id,
                    client_env,
                    connector_id,
                    numbers,
                } => {
                    let mut rows = CopyRows::new(numbers.len(), 64);
                    let project = Some(project_id.as_bytes());
                    let env = Some(client_env.as_str().as_bytes());
                    let connector = connector_id.as_deref().map(str::as_bytes);
                    let mut text = [0u8; 16];
                    for number in numbers {
                        let number = number.write_to(&mut text).as_bytes();
                        rows.row(&[Some(number), project, env, connector]);
                    }
                    insert_rows(&mut session.client, &rows.finish())?;
                }
                // Appended with the changes.
                TableWrite::History(_) => {}
            }
        }
        session
            .client
            .query(&session.move_head, &[&position(newest)])
            .map_err(failed)?;
        if newest / PRUNE_EVERY != head / PRUNE_EVERY && newest > retain {
            session
                .client
                .execute(
                    "DELETE FROM patchbay.changes WHERE position <= $1",
                    &[&position(newest - retain)],
                )
                .map_err(failed)?;
        }
        if newest / PRUNE_EVERY != head / PRUNE_EVERY {
            if let Some(keep) = history_retain {
                let keep = i64::try_from(keep.as_millis()).unwrap_or(i64::MAX);
                let cutoff = crate::history::now_ms().saturating_sub(keep);
                super::history::prune(&mut session.client, cutoff)?;
            }
        }
        match session.client.batch_execute("COMMIT") {
            Ok(()) => Ok(()),
            // The server answered: the transaction is rolled back.
            Err(err) if err.as_db_error().is_some() => Err(failed(err)),
            Err(err) => {
                self.session = None;
                Err(SharedError::Unknown(err.to_string()))
            }
        }
    }
}

/// Inserts the numbers of `stream` (a binary `COPY` stream of number, project,
/// environment and connector) with `COPY`.
fn insert_rows(client: &mut Client, stream: &[u8]) -> Result<(), SharedError> {
    let mut copy = client
        .copy_in(
            "COPY patchbay.numbers (number, project_id, client_env, connector_id) \
             FROM STDIN (FORMAT binary)",
        )
        .map_err(failed)?;
    if let Err(error) = std::io::Write::write_all(&mut copy, stream) {
        // The server's error, if it answered, is what `finish` returns; else the
        // connection's.
        return match copy.finish() {
            Err(server) => Err(failed(server)),
            Ok(_) => Err(SharedError::Unavailable(error.to_string())),
        };
    }
    copy.finish().map(|_| ()).map_err(failed)
}

impl SharedLog for PgWriter {
    fn begin(&mut self, after: u64) -> Result<Records, SharedError> {
        match self.try_begin(after) {
            Ok((head, missed)) => {
                self.head = Some(head);
                Ok(missed)
            }
            Err(err) => {
                self.roll_back();
                Err(err)
            }
        }
    }

    fn commit(
        &mut self,
        records: &[(u64, Vec<u8>)],
        writes: &[TableWrite],
    ) -> Result<(), SharedError> {
        let outcome = self.try_commit(records, writes);
        if matches!(
            outcome,
            Err(SharedError::Refused(_) | SharedError::Unavailable(_))
        ) {
            self.roll_back();
        }
        outcome
    }

    fn abort(&mut self) {
        self.roll_back();
    }
}
