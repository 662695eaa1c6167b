//! Durable storage behind a small trait: the embedded data directory is the default.
//!
//! A [`Store`] keeps opaque, already-encoded changes: an append-only journal of records, each
//! with its log position, and checkpoints (the model at a position, plus the routing
//! snapshot of that moment). The admin encodes and decodes; a store only has to keep bytes
//! durable and in order, which is what a shared PostgreSQL store's node cache does as well.
//!
//! A checkpoint is written beside the journal, not instead of it: [`Store::begin_checkpoint`]
//! starts it at a position (changes appended from then on come after it), its bytes may be
//! written from another thread while changes keep being appended, and only once it is
//! durable does the store drop the journal it covers.
//!
//! Backends, one module each: [`DataDir`] (`datadir`, with its journal and checkpoint files
//! and their formats), [`MemoryStore`] (`memory`), and the shared PostgreSQL store
//! (`postgres`), which several nodes follow. A process beside the owner of a data directory
//! follows it read-only through `tail`.

mod datadir;
mod memory;
pub(crate) mod postgres;
pub(crate) mod tail;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use patchbay_core::Snapshot;

pub use datadir::DataDir;
pub use memory::MemoryStore;

/// The bytes a journal record takes besides its payload.
const RECORD_HEADER: usize = 20;

/// Journal records: log position and payload, in order.
pub type Records = Vec<(u64, Vec<u8>)>;

/// A checkpoint as a store hands it back.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// Every change up to this log position is in it (and later ones may be: replay the
    /// journal after it).
    pub position: u64,
    /// The bytes the admin wrote.
    pub model: Vec<u8>,
    /// The routing snapshot at `position`, when the store kept one that opens.
    pub snapshot: Option<Arc<Snapshot>>,
}

/// What a store holds on start.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The newest checkpoint that reads back whole, if any.
    pub checkpoint: Option<Checkpoint>,
    /// Journal records after the checkpoint, in order.
    pub records: Records,
    /// Things a person should know (a dropped torn record, a damaged checkpoint passed
    /// over, say).
    pub warnings: Vec<String>,
}

/// Why a store failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// Another process owns the data directory.
    #[error(
        "{path} is in use by another patchbay process (stop it, or use another --data directory)"
    )]
    Locked {
        /// The data directory.
        path: PathBuf,
    },
    /// A write failed and could not be undone (the journal could not be cut back to its
    /// last whole record): appending more would leave damage in the middle of the
    /// journal, so the store takes no more changes until the process restarts. Nothing
    /// acknowledged is lost.
    #[error(
        "{path}: a failed write could not be undone ({reason}); restart patchbay (nothing \
         acknowledged is lost)"
    )]
    Poisoned {
        /// The journal file.
        path: PathBuf,
        /// Why the undo failed.
        reason: String,
    },
    /// Acknowledged data is damaged: the file and offset say where.
    #[error(
        "{path}: corrupt at byte offset {offset}: {what}; restore the data directory from a backup"
    )]
    Corrupt {
        /// The damaged file.
        path: PathBuf,
        /// Where the damage starts.
        offset: u64,
        /// What is wrong.
        what: String,
    },
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Durable storage of journal records and checkpoints.
pub trait Store: Send {
    /// Everything stored: the newest checkpoint that reads back, and the journal records
    /// after it.
    fn load(&mut self) -> Result<Loaded, StoreError>;
    /// Appends records `(position, payload)`, in order, and returns once all of them are
    /// durable: one write and one sync for the group. On an error none of them is kept.
    fn append_group(&mut self, records: &[(u64, Vec<u8>)]) -> Result<(), StoreError>;
    /// Appends one record; returns once it is durable.
    fn append(&mut self, position: u64, payload: &[u8]) -> Result<(), StoreError> {
        self.append_group(&[(position, payload.to_vec())])
    }
    /// Starts a checkpoint at `position`, the position of the last record appended:
    /// records appended from now on come after it. The writer takes the checkpoint's bytes,
    /// from any thread and while appends go on, and [`CheckpointWriter::finish`] makes it
    /// durable and drops the journal it covers. Dropped unfinished, it leaves nothing.
    fn begin_checkpoint(&mut self, position: u64) -> Result<Box<dyn CheckpointWriter>, StoreError>;
    /// Bytes appended since the last checkpoint that finished.
    fn journal_len(&self) -> u64;
    /// Where the change history derived from this store is kept: a file beside the
    /// journal, or `None` to keep it in memory (a store that keeps nothing).
    fn history_path(&self) -> Option<std::path::PathBuf> {
        None
    }
}

/// The bytes of one checkpoint on their way to a store.
pub trait CheckpointWriter: Send {
    /// Appends `bytes` to the checkpoint.
    fn write(&mut self, bytes: &[u8]) -> Result<(), StoreError>;
    /// Makes the checkpoint durable with `snapshot` (the routing snapshot at its position),
    /// then drops what it made unnecessary.
    fn finish(self: Box<Self>, snapshot: Arc<Snapshot>) -> Result<(), StoreError>;
}

/// Why a shared store failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SharedError {
    /// The store cannot be reached: nothing was written.
    Unavailable(String),
    /// The connection broke while the commit was on its way: the change may be committed
    /// or not, and the log says which.
    Unknown(String),
    /// The store refused: nothing was written (a fault, or a database this node cannot use).
    Refused(String),
}

impl SharedError {
    /// What went wrong, in the store's own words.
    pub(crate) fn reason(&self) -> &str {
        match self {
            SharedError::Unavailable(why)
            | SharedError::Unknown(why)
            | SharedError::Refused(why) => why,
        }
    }
}

impl std::fmt::Display for SharedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // A feed is a shared store or another process's data directory: the reason
            // names which.
            SharedError::Unavailable(why) => write!(f, "the store is unreachable: {why}"),
            SharedError::Unknown(why) => write!(
                f,
                "the connection to the store broke during the commit ({why}); whether the \
                 change was committed is settled by the log"
            ),
            SharedError::Refused(why) => write!(f, "the store refused: {why}"),
        }
    }
}

/// A mutation as a shared store's tables take it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TableWrite {
    /// Written as the mutation says: rows put (inserted, or updated where they exist) and
    /// removed by key.
    Apply(crate::model::Mutation),
    /// Numbers no row holds yet, in order: inserted with the database's bulk path, with no
    /// existing row to look for.
    Insert {
        /// Their project.
        project_id: String,
        /// Their environment.
        client_env: patchbay_core::ClientEnv,
        /// Their connector, or none.
        connector_id: Option<String>,
        /// The numbers, sorted, each once.
        numbers: Vec<patchbay_core::E164>,
    },
    /// The change's history entry (written beside it, in the same transaction).
    History(Box<crate::history::Entry>),
}

impl TableWrite {
    /// A put of at least this many numbers sends its new numbers apart, by the bulk path.
    const BULK_FROM: usize = 64;

    /// The writes of `mutation` on a model in which `held` says which numbers exist, just
    /// before it applies: a put of many numbers splits into the numbers it adds, inserted
    /// in bulk, and those it changes, put as usual.
    pub(crate) fn of(
        mutation: &crate::model::Mutation,
        held: impl Fn(&patchbay_core::E164) -> bool,
    ) -> Vec<TableWrite> {
        use crate::model::Mutation;
        let Mutation::PutNumbers {
            project_id,
            client_env,
            connector_id,
            numbers,
        } = mutation
        else {
            return vec![TableWrite::Apply(mutation.clone())];
        };
        if numbers.len() < Self::BULK_FROM {
            return vec![TableWrite::Apply(mutation.clone())];
        }
        let (existing, mut added): (Vec<_>, Vec<_>) = numbers.iter().partition(|n| held(n));
        added.sort_unstable();
        added.dedup();
        let mut writes = Vec::with_capacity(2);
        if !existing.is_empty() {
            writes.push(TableWrite::Apply(Mutation::PutNumbers {
                project_id: project_id.clone(),
                client_env: *client_env,
                connector_id: connector_id.clone(),
                numbers: existing,
            }));
        }
        if !added.is_empty() {
            writes.push(TableWrite::Insert {
                project_id: project_id.clone(),
                client_env: *client_env,
                connector_id: connector_id.clone(),
                numbers: added,
            });
        }
        writes
    }
}

/// The write side of a store several nodes share: an ordered log of changes, and tables of
/// the model written in the same transaction. Writers take turns on the log's head.
pub(crate) trait SharedLog: Send {
    /// Starts a write: waits for the head of the log, then returns the changes committed
    /// after `after`, which the node applies before it plans against its model.
    fn begin(&mut self, after: u64) -> Result<Records, SharedError>;
    /// Appends `records` (the positions right after the head), makes `writes` (their
    /// mutations, in order) to the tables, and commits.
    fn commit(
        &mut self,
        records: &[(u64, Vec<u8>)],
        writes: &[TableWrite],
    ) -> Result<(), SharedError>;
    /// Abandons a write begun with nothing to commit.
    fn abort(&mut self);
}

/// The read side of a shared store: what a node follows.
pub(crate) trait Feed: Send {
    /// Up to `limit` changes committed after `after`, in order, and the newest position.
    fn read(&mut self, after: u64, limit: usize) -> Result<(Records, u64), SharedError>;
    /// Waits up to `timeout` for word of a new change; `true` when some came.
    fn wait(&mut self, timeout: std::time::Duration) -> Result<bool, SharedError>;
    /// The oldest position the log still holds (0 when it is empty).
    fn oldest(&mut self) -> Result<u64, SharedError>;
    /// The whole model as the store holds it now, and the position it is at: from its
    /// newest checkpoint and the changes after it, or from its tables.
    fn whole(&mut self) -> Result<(u64, crate::model::Model), SharedError>;
}

#[cfg(test)]
mod tests {
    use patchbay_core::{ClientEnv, E164};

    use super::TableWrite;
    use crate::model::Mutation;

    fn numbers(range: std::ops::Range<u64>) -> Vec<E164> {
        range
            .map(|i| format!("+4420794{i:05}").parse().expect("a number"))
            .collect()
    }

    fn put(numbers: Vec<E164>) -> Mutation {
        Mutation::PutNumbers {
            project_id: "p".into(),
            client_env: ClientEnv::Live,
            connector_id: Some("conn_a".into()),
            numbers,
        }
    }

    #[test]
    fn a_put_of_many_numbers_inserts_the_new_ones_apart_sorted_and_once() {
        let held = numbers(0..40);
        let mut listed = numbers(0..100);
        listed.reverse();
        listed.push(listed[0]);
        let writes = TableWrite::of(&put(listed), |n| held.contains(n));
        let mut existing = numbers(0..40);
        existing.reverse();
        assert_eq!(
            writes,
            vec![
                TableWrite::Apply(put(existing)),
                TableWrite::Insert {
                    project_id: "p".into(),
                    client_env: ClientEnv::Live,
                    connector_id: Some("conn_a".into()),
                    numbers: numbers(40..100),
                },
            ]
        );
        // None held: only the insert.
        let writes = TableWrite::of(&put(numbers(0..100)), |_| false);
        assert!(
            matches!(writes.as_slice(), [TableWrite::Insert { numbers, .. }] if numbers.len() == 100)
        );
    }

    #[test]
    fn few_numbers_and_other_mutations_are_written_as_they_are() {
        let few = put(numbers(0..TableWrite::BULK_FROM as u64 - 1));
        assert_eq!(
            TableWrite::of(&few, |_| false),
            vec![TableWrite::Apply(few.clone())]
        );
        let remove = Mutation::RemoveNumbers {
            numbers: numbers(0..1_000),
        };
        assert_eq!(
            TableWrite::of(&remove, |_| true),
            vec![TableWrite::Apply(remove.clone())]
        );
    }
}
