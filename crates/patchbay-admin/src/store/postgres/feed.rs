//! The follower's side: one connection that listens for commits and reads the log by
//! position, or every table at once.

use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, Statement};

use super::checkpoint;
use super::rows::Tables;
use super::{failed, position, records, Postgres, CHANNEL, READ_AFTER};
use crate::model::Model;
use crate::store::{Feed, Records, SharedError};

/// The head, and the changes after `$1` (at most `$2`), in order: the head alone (with
/// NULL for the change) when there are none.
const FOLLOW: &str = "SELECT h.position, c.position, c.change::text, c.packed \
     FROM patchbay.head h LEFT JOIN LATERAL (SELECT position, change, packed \
     FROM patchbay.changes WHERE position > $1 ORDER BY position LIMIT $2) c ON true \
     ORDER BY c.position";

/// The follow connection of a node: listens for commits and reads the log by position.
pub(crate) struct PgFeed {
    store: Postgres,
    client: Option<Client>,
    /// `FOLLOW`, prepared on `client`.
    statements: Option<Statement>,
}

impl PgFeed {
    pub(super) fn new(store: Postgres) -> PgFeed {
        PgFeed {
            store,
            client: None,
            statements: None,
        }
    }

    fn connected(&mut self) -> Result<&mut Client, SharedError> {
        if self.client.as_ref().is_some_and(Client::is_closed) {
            self.client = None;
        }
        if self.client.is_none() {
            let mut client = self.store.client()?;
            client
                .batch_execute(&format!("LISTEN {CHANNEL}"))
                .map_err(failed)?;
            self.statements = Some(client.prepare(FOLLOW).map_err(failed)?);
            self.client = Some(client);
        }
        self.client
            .as_mut()
            .ok_or_else(|| SharedError::Unavailable("no connection".into()))
    }

    /// Runs `f` on the connection, dropping it when it failed.
    fn with<T>(
        &mut self,
        f: impl FnOnce(&mut Client) -> Result<T, postgres::Error>,
    ) -> Result<T, SharedError> {
        let client = self.connected()?;
        match f(client) {
            Ok(value) => Ok(value),
            Err(err) => {
                if err.as_db_error().is_none() {
                    self.client = None;
                }
                Err(failed(err))
            }
        }
    }
}

impl Feed for PgFeed {
    fn read(&mut self, after: u64, limit: usize) -> Result<(Records, u64), SharedError> {
        self.connected()?;
        let read = self
            .statements
            .clone()
            .ok_or_else(|| SharedError::Unavailable("no connection".into()))?;
        // One statement, one snapshot of the database: the head and the changes after
        // `after` agree, in one round trip.
        let rows = self.with(|client| client.query(&read, &[&position(after), &(limit as i64)]))?;
        let head = match rows.first() {
            Some(row) => row.try_get::<_, i64>(0).map_err(failed)?,
            None => return Err(SharedError::Refused("patchbay.head has no row".into())),
        };
        let changes = rows
            .iter()
            .filter_map(|row| {
                let at = row.try_get::<_, Option<i64>>(1).transpose()?;
                Some((at, row))
            })
            .map(|(at, row)| {
                let at = at.map_err(failed)?;
                let json: Option<String> = row.try_get(2).map_err(failed)?;
                let packed: Option<Vec<u8>> = row.try_get(3).map_err(failed)?;
                let change = json.map(String::into_bytes).or(packed).ok_or_else(|| {
                    SharedError::Refused(format!("change {at} is empty in the store's log"))
                })?;
                Ok((at as u64, change))
            })
            .collect::<Result<Records, SharedError>>()?;
        Ok((changes, u64::try_from(head).unwrap_or(0)))
    }

    fn wait(&mut self, timeout: Duration) -> Result<bool, SharedError> {
        let client = self.connected()?;
        let outcome = {
            let mut notifications = client.notifications();
            let first = notifications.timeout_iter(timeout).next();
            if let Ok(Some(_)) = first {
                // Take whatever else came with it: one read covers them all.
                let mut rest = notifications.iter();
                while let Ok(Some(_)) = rest.next() {}
            }
            first
        };
        let closed = client.is_closed();
        match outcome {
            Ok(Some(_)) => Ok(true),
            Err(err) => {
                self.client = None;
                Err(failed(err))
            }
            Ok(None) if closed => {
                self.client = None;
                Err(SharedError::Unavailable("the connection closed".into()))
            }
            Ok(None) => Ok(false),
        }
    }

    fn oldest(&mut self) -> Result<u64, SharedError> {
        self.with(|client| {
            let oldest: i64 = client
                .query_one(
                    "SELECT coalesce(min(position), 0) FROM patchbay.changes",
                    &[],
                )?
                .get(0);
            Ok(oldest as u64)
        })
    }

    fn whole(&mut self) -> Result<(u64, Model), SharedError> {
        self.load().map(|whole| (whole.position, whole.model))
    }
}

/// The whole model of the store, at a position, and the stored checkpoint it came from.
pub(crate) struct Whole {
    /// The position of the model: the head when it was read.
    pub(crate) position: u64,
    /// The model.
    pub(crate) model: Model,
    /// The checkpoint and the changes after it that make the model, when it came from one
    /// (else from the tables): a node's own store can keep those bytes as they are.
    pub(crate) checkpoint: Option<Stored>,
}

/// A checkpoint read from the store, and the changes after it.
pub(crate) struct Stored {
    /// Its position.
    pub(crate) position: u64,
    /// Its bytes.
    pub(crate) bytes: Vec<u8>,
    /// The log's changes after it, up to the head.
    pub(crate) after: Records,
}

impl PgFeed {
    /// The whole model as the store holds it now: from its newest checkpoint and the
    /// changes after it, or, when there is none the log still follows or it cannot be
    /// read, from its tables.
    pub(crate) fn load(&mut self) -> Result<Whole, SharedError> {
        let client = self.connected()?;
        match stored(client) {
            Ok(Some(whole)) => return Ok(whole),
            Ok(None) => {}
            // The connection is gone (the database is away, say): so are the tables.
            Err(error) if client.is_closed() => {
                self.client = None;
                return Err(error);
            }
            Err(error) => {
                tracing::warn!(
                    %error,
                    "the store's checkpoint cannot be used; loading its tables instead"
                );
                self.client = None;
            }
        }
        let client = self.connected()?;
        let read = Tables::read(client).and_then(Tables::model);
        if read.is_err() {
            // A load cut off in the middle leaves the connection in a state of its own.
            self.client = None;
        }
        let (position, model) = read?;
        Ok(Whole {
            position,
            model,
            checkpoint: None,
        })
    }
}

/// The model from the store's newest checkpoint and every change after it, in one snapshot
/// of the database, at the head; `None` when there is no checkpoint, or the pruned log no
/// longer follows it.
fn stored(client: &mut Client) -> Result<Option<Whole>, SharedError> {
    let mut tx = super::read_snapshot(client)?;
    let head: i64 = tx
        .query_one("SELECT position FROM patchbay.head", &[])
        .and_then(|row| row.try_get(0))
        .map_err(failed)?;
    let head = u64::try_from(head).unwrap_or(0);
    let Some((at, bytes)) = checkpoint::newest(&mut tx, head)? else {
        return Ok(None);
    };
    let rows = tx
        .query(READ_AFTER, &[&position(at), &i64::MAX])
        .map_err(failed)?;
    tx.commit().map_err(failed)?;
    let after = records(&rows)?;
    drop(rows);
    if after.first().is_some_and(|(first, _)| *first != at + 1) || (after.is_empty() && at < head) {
        // The log was pruned past it.
        return Ok(None);
    }
    let (model, reached) = crate::model::checkpoint::restore(Some((at, &bytes)), &after, |_| {})
        .map_err(|e| SharedError::Refused(format!("the checkpoint at {at}: {e}")))?;
    if reached != head {
        return Err(SharedError::Refused(format!(
            "the checkpoint at {at} and the log after it reach {reached}, not the head {head}"
        )));
    }
    Ok(Some(Whole {
        position: head,
        model,
        checkpoint: Some(Stored {
            position: at,
            bytes,
            after,
        }),
    }))
}
