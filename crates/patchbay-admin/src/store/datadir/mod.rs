//! [`DataDir`]: the embedded store, a data directory of one process.
//!
//! | file | what |
//! |---|---|
//! | `LOCK` | held with an exclusive lock while a process owns the directory |
//! | `journal.<first position>.log` | journal segments: records, each fsynced before it is acknowledged; a new segment starts at each checkpoint |
//! | `checkpoint.<position>.pbck` | the model at a log position (the two newest are kept) |
//! | `snapshot.<position>.pbsnap` | the routing snapshot at that position (a `patchbay-core` snapshot file) |
//!
//! The record and segment formats are in `journal.rs`, the checkpoint files in
//! `checkpoint.rs`. A directory of the first layout (`journal.log`, `checkpoint.json`) is
//! read as it is: its journal becomes a segment when a process takes the directory, and its
//! checkpoint is replaced by the first new one.

mod checkpoint;
mod journal;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use patchbay_core::Snapshot;

use super::{
    io_err, Checkpoint, CheckpointWriter, Loaded, Records, Store, StoreError, RECORD_HEADER,
};
pub(crate) use checkpoint::Listing;
use checkpoint::LEGACY_JOURNAL;
use checkpoint::{DirCheckpoint, Kind};
pub(crate) use journal::{parse_record, read_segment, segment_name, RECORD_MAGIC};

/// Bytes appended, and the part of them a finished checkpoint covers; shared with the
/// checkpoint being written, which may finish on another thread.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    appended: AtomicU64,
    checkpointed: AtomicU64,
}

/// The segment changes are appended to.
#[derive(Debug)]
struct Active {
    file: File,
    start: u64,
    /// The length of its whole records: where the next append goes.
    len: u64,
}

/// The embedded store: a data directory owned by one process at a time.
#[derive(Debug)]
pub struct DataDir {
    dir: PathBuf,
    /// `None` in read-only mode.
    active: Option<Active>,
    counters: Arc<Counters>,
    /// Why the store takes no more changes, once an undo failed.
    poisoned: Option<String>,
    /// The directory's lock, held while this is open (`None` in read-only mode).
    _lock: Option<File>,
}

impl DataDir {
    /// The lock file's name.
    pub const LOCK: &'static str = "LOCK";

    /// Opens (creating if needed) the data directory `dir` and takes its lock. Fails with
    /// [`StoreError::Locked`] if another process holds it.
    pub fn open(dir: impl Into<PathBuf>) -> Result<DataDir, StoreError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let lock_path = dir.join(Self::LOCK);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(StoreError::Locked { path: dir }),
            Err(fs::TryLockError::Error(source)) => {
                return Err(StoreError::Io {
                    path: lock_path,
                    source,
                })
            }
        }
        checkpoint::remove_leftovers(&dir)?;
        let mut listing = Listing::of(&dir)?;
        if listing.legacy_journal {
            // The first layout's journal holds the records after its checkpoint: it is the
            // segment that starts there.
            let start = listing.newest_position() + 1;
            let path = dir.join(segment_name(start));
            if path.exists() {
                return Err(StoreError::Corrupt {
                    path,
                    offset: 0,
                    what: format!("both {LEGACY_JOURNAL} and this segment hold the journal"),
                });
            }
            fs::rename(dir.join(LEGACY_JOURNAL), &path).map_err(io_err(&path))?;
            checkpoint::sync_dir(&dir)?;
            listing = Listing::of(&dir)?;
        }
        let (start, path) = match listing.segments.last() {
            Some((start, path)) => (*start, path.clone()),
            None => {
                let start = listing.newest_position() + 1;
                (start, dir.join(segment_name(start)))
            }
        };
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(&path)
            .map_err(io_err(&path))?;
        checkpoint::sync_dir(&dir)?;
        let len = file.metadata().map_err(io_err(&path))?.len();
        let newest = listing.newest_position();
        let pending: u64 = listing
            .segments
            .iter()
            .filter(|(start, _)| *start > newest)
            .filter_map(|(_, path)| fs::metadata(path).ok())
            .map(|m| m.len())
            .sum();
        let counters = Arc::new(Counters::default());
        counters.appended.store(pending, Ordering::Release);
        Ok(DataDir {
            dir,
            active: Some(Active { file, start, len }),
            counters,
            poisoned: None,
            _lock: Some(lock),
        })
    }

    /// Opens `dir` to read only, without its lock, so that a running server may own it.
    /// Loading sees every change the owner acknowledged before the call; a record the owner
    /// is writing at that moment is skipped, not truncated. Appends and checkpoints fail.
    pub fn open_read_only(dir: impl Into<PathBuf>) -> Result<DataDir, StoreError> {
        let dir = dir.into();
        if !dir.is_dir() {
            return Err(io_err(&dir)(io::Error::new(
                io::ErrorKind::NotFound,
                "no such directory",
            )));
        }
        Ok(DataDir {
            dir,
            active: None,
            counters: Arc::default(),
            poisoned: None,
            _lock: None,
        })
    }

    /// Whether `dir` holds a data directory's files (a journal segment or a checkpoint, of
    /// either layout).
    pub fn is_data_dir(dir: &Path) -> bool {
        Listing::of(dir)
            .is_ok_and(|l| !l.segments.is_empty() || !l.checkpoints.is_empty() || l.legacy_journal)
    }

    /// Whether `dir` holds any change: a checkpoint, or a journal record.
    pub fn holds_changes(dir: &Path) -> bool {
        let nonempty = |path: &Path| fs::metadata(path).is_ok_and(|m| m.len() > 0);
        Listing::of(dir).is_ok_and(|l| {
            !l.checkpoints.is_empty()
                || l.segments.iter().any(|(_, path)| nonempty(path))
                || (l.legacy_journal && nonempty(&dir.join(LEGACY_JOURNAL)))
        })
    }

    fn read_only_error(&self) -> StoreError {
        StoreError::Io {
            path: self.dir.clone(),
            source: io::Error::new(
                io::ErrorKind::PermissionDenied,
                "the data directory was opened read-only",
            ),
        }
    }

    /// Whether another process holds the lock of `dir` right now (without taking it).
    pub fn is_locked(dir: &Path) -> bool {
        let Ok(file) = File::open(dir.join(Self::LOCK)) else {
            return false;
        };
        matches!(file.try_lock_shared(), Err(fs::TryLockError::WouldBlock))
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The newest checkpoint that reads back whole (passing over damaged ones, with a
    /// warning each), or the error of the newest when none does.
    fn newest_checkpoint(
        &self,
        listing: &Listing,
        warnings: &mut Vec<String>,
    ) -> (Option<Checkpoint>, Option<StoreError>) {
        let mut first_error = None;
        for (position, kind, path) in listing.checkpoints.iter().rev() {
            match checkpoint::read(path, kind) {
                Ok((_, model)) => {
                    let snapshot = match kind {
                        Kind::Binary => self.snapshot_at(*position, warnings),
                        // The first layout wrote its snapshot after its checkpoint: they
                        // may not match, so the snapshot is built again.
                        Kind::Legacy => None,
                    };
                    return (
                        Some(Checkpoint {
                            position: *position,
                            model,
                            snapshot,
                        }),
                        first_error,
                    );
                }
                Err(error) => {
                    warnings.push(format!("{error}; reading the checkpoint before it"));
                    first_error.get_or_insert(error);
                }
            }
        }
        (None, first_error)
    }

    fn snapshot_at(&self, position: u64, warnings: &mut Vec<String>) -> Option<Arc<Snapshot>> {
        let path = self.dir.join(checkpoint::snapshot_name(position));
        match Snapshot::open(&path) {
            Ok(snapshot) => Some(Arc::new(snapshot)),
            Err(error) => {
                warnings.push(format!("{error}; building the routing snapshot again"));
                None
            }
        }
    }
}

impl Store for DataDir {
    fn history_path(&self) -> Option<PathBuf> {
        Some(self.dir.join("history.redb"))
    }

    fn load(&mut self) -> Result<Loaded, StoreError> {
        let listing = Listing::of(&self.dir)?;
        let mut warnings = Vec::new();
        let (checkpoint, damaged) = self.newest_checkpoint(&listing, &mut warnings);
        let after = checkpoint.as_ref().map_or(0, |c| c.position);
        let mut segments = listing.segments.iter().peekable();
        if listing.legacy_journal && self.active.is_none() {
            // Read-only, before an owner has renamed it: the first layout's journal.
            let legacy = read_segment(&self.dir.join(LEGACY_JOURNAL))?;
            return Ok(Loaded {
                checkpoint,
                records: legacy
                    .records
                    .into_iter()
                    .filter(|(p, _)| *p > after)
                    .collect(),
                warnings,
            });
        }
        let mut records: Records = Vec::new();
        while let Some((start, path)) = segments.next() {
            // Skip the segments wholly at or before the checkpoint.
            if segments.peek().is_some_and(|(next, _)| *next <= after + 1) {
                continue;
            }
            let segment = read_segment(path)?;
            if let Some(torn) = segment.torn {
                let last = segments.peek().is_none();
                if !last {
                    return Err(StoreError::Corrupt {
                        path: path.clone(),
                        offset: segment.whole,
                        what: format!("a torn record ({torn}) before the last segment"),
                    });
                }
                if let Some(active) = self.active.as_mut().filter(|a| a.start == *start) {
                    warnings.push(format!(
                        "{}: dropped an incomplete record at byte offset {} ({torn}): a \
                         change interrupted by a crash, never acknowledged",
                        path.display(),
                        segment.whole
                    ));
                    active.file.set_len(segment.whole).map_err(io_err(path))?;
                    active.file.sync_all().map_err(io_err(path))?;
                    active.len = segment.whole;
                }
            }
            records.extend(segment.records.into_iter().filter(|(p, _)| *p > after));
        }
        // The records must follow the checkpoint without a gap; when a damaged newest
        // checkpoint was passed over, a gap means the journal it needed is gone.
        if let Some((first, _)) = records.first() {
            if *first != after + 1 {
                return Err(damaged.unwrap_or_else(|| StoreError::Corrupt {
                    path: self.dir.clone(),
                    offset: 0,
                    what: format!(
                        "the journal resumes at change {first}, but the newest checkpoint \
                         that reads back ends at {after}: changes between are missing"
                    ),
                }));
            }
        } else if let Some(error) = damaged.filter(|_| checkpoint.is_none()) {
            return Err(error);
        }
        Ok(Loaded {
            checkpoint,
            records,
            warnings,
        })
    }

    fn append_group(&mut self, records: &[(u64, Vec<u8>)]) -> Result<(), StoreError> {
        let Some(active) = self.active.as_mut() else {
            return Err(self.read_only_error());
        };
        let path = self.dir.join(segment_name(active.start));
        if let Some(reason) = &self.poisoned {
            return Err(StoreError::Poisoned {
                path,
                reason: reason.clone(),
            });
        }
        if records
            .iter()
            .any(|(_, payload)| payload.len() > journal::MAX_RECORD)
        {
            return Err(StoreError::Io {
                path,
                source: io::Error::new(io::ErrorKind::InvalidInput, "change too large"),
            });
        }
        let mut bytes = Vec::with_capacity(
            records
                .iter()
                .map(|(_, payload)| RECORD_HEADER + payload.len())
                .sum(),
        );
        for (position, payload) in records {
            journal::encode_record(*position, payload, &mut bytes);
        }
        let written = active
            .file
            .write_all(&bytes)
            .and_then(|()| active.file.sync_data());
        if let Err(source) = written {
            // Leave no partial record behind for the next append to follow; if even that
            // fails, take no more appends (they would follow the damage).
            let undone = active
                .file
                .set_len(active.len)
                .and_then(|()| active.file.sync_data());
            if let Err(undo) = undone {
                self.poisoned = Some(format!("after {source}: {undo}"));
            }
            return Err(StoreError::Io { path, source });
        }
        active.len += bytes.len() as u64;
        self.counters
            .appended
            .fetch_add(bytes.len() as u64, Ordering::AcqRel);
        Ok(())
    }

    fn begin_checkpoint(&mut self, position: u64) -> Result<Box<dyn CheckpointWriter>, StoreError> {
        let Some(active) = self.active.as_mut() else {
            return Err(self.read_only_error());
        };
        let start = position + 1;
        if start < active.start {
            return Err(StoreError::Io {
                path: self.dir.join(segment_name(active.start)),
                source: io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("a checkpoint at {position} is behind the journal"),
                ),
            });
        }
        if start > active.start {
            let path = self.dir.join(segment_name(start));
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .read(true)
                .open(&path)
                .map_err(io_err(&path))?;
            checkpoint::sync_dir(&self.dir)?;
            let len = file.metadata().map_err(io_err(&path))?.len();
            *active = Active { file, start, len };
        }
        Ok(Box::new(DirCheckpoint::create(
            &self.dir,
            position,
            Arc::clone(&self.counters),
        )?))
    }

    fn journal_len(&self) -> u64 {
        let appended = self.counters.appended.load(Ordering::Acquire);
        appended.saturating_sub(self.counters.checkpointed.load(Ordering::Acquire))
    }
}

#[cfg(test)]
mod tests;
