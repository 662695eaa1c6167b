//! The writer's side: one connection with its statements prepared, holding the log's head
//! from the read of the changes the node missed to the commit of its own.

use postgres::{Client, Statement};

use super::rows::TableStatements;
use super::{failed, position, records, Postgres, CHANNEL, PRUNE_EVERY, READ_AFTER};
use crate::model::Mutation;
use crate::store::{Records, SharedError, SharedLog};

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
const APPEND: &str = "INSERT INTO patchbay.changes (position, node, change) \
     SELECT p, $2, c::json FROM unnest($1::bigint[], $3::text[]) AS t(p, c)";

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
                 pruned): this node reloads from the tables",
                missed.len()
            )));
        }
        Ok((head, missed))
    }

    fn try_commit(
        &mut self,
        records: &[(u64, Vec<u8>)],
        changes: &[Vec<Mutation>],
    ) -> Result<(), SharedError> {
        let node = self.store.node.clone();
        let retain = self.store.retain;
        let head = self
            .head
            .take()
            .ok_or_else(|| SharedError::Refused("commit without begin".into()))?;
        let mut positions = Vec::with_capacity(records.len());
        let mut texts = Vec::with_capacity(records.len());
        let mut newest = head;
        for (at, payload) in records {
            if *at != newest + 1 {
                return Err(SharedError::Refused(format!(
                    "change {at} does not follow the log's head {newest}"
                )));
            }
            let text = std::str::from_utf8(payload)
                .map_err(|e| SharedError::Refused(format!("change {at}: {e}")))?;
            positions.push(position(*at));
            texts.push(text);
            newest = *at;
        }
        let session = self.connected()?;
        session
            .client
            .execute(&session.append, &[&positions, &node, &texts])
            .map_err(failed)?;
        for mutation in changes.iter().flatten() {
            session
                .tables
                .write(&mut session.client, mutation)
                .map_err(failed)?;
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
        changes: &[Vec<Mutation>],
    ) -> Result<(), SharedError> {
        let outcome = self.try_commit(records, changes);
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
