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

/// The write side of a store several nodes share: an ordered log of changes, and tables of
/// the model written in the same transaction. Writers take turns on the log's head.
pub(crate) trait SharedLog: Send {
    /// Starts a write: waits for the head of the log, then returns the changes committed
    /// after `after`, which the node applies before it plans against its model.
    fn begin(&mut self, after: u64) -> Result<Records, SharedError>;
    /// Appends `records` (the positions right after the head) with their mutations, writes
    /// the mutations to the tables, and commits.
    fn commit(
        &mut self,
        records: &[(u64, Vec<u8>)],
        changes: &[Vec<crate::model::Mutation>],
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
    /// The whole model as the store holds it now, and the position it is at.
    fn tables(&mut self) -> Result<(u64, crate::model::Model), SharedError>;
}
