//! Where a group's changes become durable, behind one interface: the journal of the
//! embedded store ([`Journal`]), or the log of a shared store with the node's cache of it
//! behind ([`SharedJournal`]). The group commit (`commit.rs`) takes the right to write, has
//! what others committed meanwhile, commits and, when a commit fails, reloads from the
//! node's own store, without asking which kind of store it is.

use super::store_error;
use crate::error::AdminError;
use crate::store::{Records, SharedError, SharedLog, Store, StoreError, TableWrite};

/// What a group's changes are written to.
pub(super) trait Log: Send {
    /// Starts a group after `position`: takes the right to write, and returns the changes
    /// committed elsewhere after `position`, which the writer applies before it plans
    /// (none when this process is the store's only writer).
    fn begin(&mut self, position: u64) -> Result<Records, AdminError>;
    /// Ends a group begun with nothing to commit.
    fn abort(&mut self);
    /// Whether [`Log::commit`] needs the group's mutations, as table writes, beside its
    /// records.
    fn wants_mutations(&self) -> bool;
    /// Makes `records` durable, in order (`writes` are their mutations, when
    /// [`Log::wants_mutations`]). On an error none of them is.
    fn commit(
        &mut self,
        records: &[(u64, Vec<u8>)],
        writes: &[TableWrite],
    ) -> Result<Kept, AdminError>;
    /// This node's own store: the journal, or the cache of the shared store. Checkpoints
    /// are written to it, and a group whose commit failed reloads the model from it.
    fn local(&mut self) -> &mut dyn Store;
    /// Replaces this node's own store (a cache that failed, by one in memory).
    fn replace_local(&mut self, store: Box<dyn Store>);
    /// Connects the shared store's log, for a node that started from its cache alone.
    fn attach(&mut self, shared: Box<dyn SharedLog>) -> Result<(), AdminError>;
}

/// What a committed group's records were kept in.
#[derive(Debug)]
pub(super) enum Kept {
    /// The log and this node's own store.
    Everywhere,
    /// The shared store's log, but the node's cache failed to take them: the node goes on
    /// with a cache in memory.
    NotCached(StoreError),
}

/// The embedded store's journal: this process is its only writer.
pub(super) struct Journal(pub(super) Box<dyn Store>);

impl Log for Journal {
    fn begin(&mut self, _position: u64) -> Result<Records, AdminError> {
        Ok(Records::new())
    }

    fn abort(&mut self) {}

    fn wants_mutations(&self) -> bool {
        false
    }

    fn commit(
        &mut self,
        records: &[(u64, Vec<u8>)],
        _writes: &[TableWrite],
    ) -> Result<Kept, AdminError> {
        self.0
            .append_group(records)
            .map(|()| Kept::Everywhere)
            .map_err(store_error)
    }

    fn local(&mut self) -> &mut dyn Store {
        &mut *self.0
    }

    fn replace_local(&mut self, store: Box<dyn Store>) {
        self.0 = store;
    }

    fn attach(&mut self, _shared: Box<dyn SharedLog>) -> Result<(), AdminError> {
        Err(AdminError::internal(
            "this node has no shared store to attach",
        ))
    }
}

/// A shared store's log, where changes commit first, and the node's cache of it. Until the
/// store is reached (a node started from its cache alone), there is no log to write to.
pub(super) struct SharedJournal {
    pub(super) shared: Option<Box<dyn SharedLog>>,
    pub(super) cache: Box<dyn Store>,
}

impl SharedJournal {
    fn shared(&mut self) -> Result<&mut dyn SharedLog, AdminError> {
        match self.shared.as_mut() {
            Some(shared) => Ok(&mut **shared),
            None => Err(AdminError::unavailable(
                "the shared store has not been reached yet: retry",
            )),
        }
    }
}

impl Log for SharedJournal {
    fn begin(&mut self, position: u64) -> Result<Records, AdminError> {
        self.shared()?.begin(position).map_err(shared_error)
    }

    fn abort(&mut self) {
        if let Some(shared) = self.shared.as_mut() {
            shared.abort();
        }
    }

    fn wants_mutations(&self) -> bool {
        true
    }

    fn commit(
        &mut self,
        records: &[(u64, Vec<u8>)],
        writes: &[TableWrite],
    ) -> Result<Kept, AdminError> {
        self.shared()?
            .commit(records, writes)
            .map_err(shared_error)?;
        Ok(match self.cache.append_group(records) {
            Ok(()) => Kept::Everywhere,
            Err(err) => Kept::NotCached(err),
        })
    }

    fn local(&mut self) -> &mut dyn Store {
        &mut *self.cache
    }

    fn replace_local(&mut self, store: Box<dyn Store>) {
        self.cache = store;
    }

    fn attach(&mut self, shared: Box<dyn SharedLog>) -> Result<(), AdminError> {
        self.shared = Some(shared);
        Ok(())
    }
}

/// The admin's error for a shared store's failure: `unavailable` (503, retry) when it
/// cannot be reached or the commit's outcome is unknown, `internal` when it refused.
pub(super) fn shared_error(err: SharedError) -> AdminError {
    match err {
        SharedError::Unavailable(_) | SharedError::Unknown(_) => {
            AdminError::unavailable(format!("{err}; nothing was applied here: retry"))
        }
        SharedError::Refused(_) => AdminError::internal(err.to_string()),
    }
}
