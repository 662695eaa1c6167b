//! The follower's side: one connection that listens for commits and reads the log by
//! position, or every table at once.

use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, Statement};

use super::rows::Tables;
use super::{failed, position, records, Postgres, CHANNEL, READ_AFTER};
use crate::model::Model;
use crate::store::{Feed, Records, SharedError};

/// The follow connection of a node: listens for commits and reads the log by position.
pub(crate) struct PgFeed {
    store: Postgres,
    client: Option<Client>,
    /// `READ_AFTER` and the head's position, prepared on `client`.
    statements: Option<(Statement, Statement)>,
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
            self.statements = Some((
                client.prepare(READ_AFTER).map_err(failed)?,
                client
                    .prepare("SELECT position FROM patchbay.head")
                    .map_err(failed)?,
            ));
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
        let (read, head) = self
            .statements
            .clone()
            .ok_or_else(|| SharedError::Unavailable("no connection".into()))?;
        let (rows, head) = self.with(|client| {
            let mut tx = client
                .build_transaction()
                .isolation_level(postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()?;
            let head: i64 = tx.query_one(&head, &[])?.get(0);
            let rows = tx.query(&read, &[&position(after), &(limit as i64)])?;
            tx.commit()?;
            Ok((rows, head as u64))
        })?;
        Ok((records(&rows)?, head))
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

    fn tables(&mut self) -> Result<(u64, Model), SharedError> {
        let client = self.connected()?;
        match Tables::read(client) {
            Ok(tables) => tables.model(),
            Err(error) => {
                // A load cut off in the middle leaves the connection in a state of its own.
                self.client = None;
                Err(error)
            }
        }
    }
}
