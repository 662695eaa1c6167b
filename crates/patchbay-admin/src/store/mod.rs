//! Durable storage behind a small trait: the embedded data directory is the default.
//!
//! A [`Store`] keeps opaque, already-encoded changes: an append-only journal of records, each
//! with its log position, and a checkpoint (the whole model at a position, plus the
//! snapshot file of that moment). The admin encodes and decodes; a store only has to keep
//! bytes durable and in order, which is what a shared PostgreSQL store would do as well.
//!
//! Backends, one module each: [`DataDir`] (`datadir`), [`MemoryStore`] (`memory`), and the
//! shared PostgreSQL store (`postgres`), which several nodes follow. A process beside the
//! owner of a data directory follows it read-only through `tail`.
//!
//! [`DataDir`] layout:
//!
//! | file | what |
//! |---|---|
//! | `LOCK` | held with an exclusive lock while a process owns the directory |
//! | `journal.log` | records appended since the checkpoint, each fsynced before it is acknowledged |
//! | `checkpoint.json` | the model at a log position, replaced atomically |
//! | `snapshot.pbsnap` | the routing snapshot of the checkpoint (a `patchbay-core` snapshot file) |
//!
//! A journal record is `PBJ1`, payload length (u32), log position (u64), CRC-32 of the
//! position and payload (u32), then the payload; integers little-endian. On start a
//! record that is cut short or fails its checksum at the very end of the journal (a crash
//! during an append: it was never acknowledged) is dropped with a warning; a bad record
//! followed by a good one is corruption of acknowledged data and an error naming the offset.

mod datadir;
mod memory;
pub(crate) mod postgres;
pub(crate) mod tail;

use std::io;
use std::path::{Path, PathBuf};

use patchbay_core::Snapshot;

pub use datadir::DataDir;
pub use memory::{Discard, MemoryStore};

/// The bytes a journal record takes besides its payload.
const RECORD_HEADER: usize = 20;

/// Journal records: log position and payload, in order.
pub type Records = Vec<(u64, Vec<u8>)>;

/// What a store holds on start.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The checkpoint: its log position and bytes, if one was written.
    pub checkpoint: Option<(u64, Vec<u8>)>,
    /// Journal records after the checkpoint, in order.
    pub records: Records,
    /// Things a person should know (a dropped torn record, say).
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
    /// Everything stored: the checkpoint and the journal records after it.
    fn load(&mut self) -> Result<Loaded, StoreError>;
    /// Appends records `(position, payload)`, in order, and returns once all of them are durable:
    /// one write and one sync for the group. On an error none of them is kept.
    fn append_group(&mut self, records: &[(u64, Vec<u8>)]) -> Result<(), StoreError>;
    /// Appends one record; returns once it is durable.
    fn append(&mut self, position: u64, payload: &[u8]) -> Result<(), StoreError> {
        self.append_group(&[(position, payload.to_vec())])
    }
    /// Replaces the checkpoint with `model` at `position` (and `snapshot`, where the store keeps
    /// one), then drops the journal records up to `position`.
    fn checkpoint(
        &mut self,
        position: u64,
        model: &[u8],
        snapshot: &Snapshot,
    ) -> Result<(), StoreError>;
    /// Bytes in the journal since the last checkpoint.
    fn journal_len(&self) -> u64;
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
    /// The whole model as the tables hold it, and the position it is at.
    fn tables(&mut self) -> Result<(u64, Vec<crate::model::Mutation>), SharedError>;
}
