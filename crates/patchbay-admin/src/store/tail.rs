//! [`DirFeed`]: the data directory of another process, followed read-only as a [`Feed`].
//!
//! The owner appends records to the journal and, at a checkpoint, renames a new checkpoint
//! file over the old one and only then empties the journal. A reader reads the journal on
//! from where it stopped, and notes the checkpoint file's identity before and after: when
//! it changed, the bytes read may come from an emptied journal, so the reader discards them
//! and reads again from the start. Records carry their positions, so reading again never
//! applies one twice; a record past the reader's position with one missing between (the
//! reader fell behind a checkpoint) is a gap, which the follower closes by loading the
//! directory whole ([`Feed::tables`]).

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::datadir::{checkpoint_position, parse_record, RECORD_MAGIC};
use super::{DataDir, Feed, Records, SharedError, Store, StoreError, RECORD_HEADER};
use crate::model::Mutation;

/// How often a waiting reader looks at the directory: the most a change waits to be seen.
pub const POLL: Duration = Duration::from_millis(5);
/// How often a read is tried again when a checkpoint lands in the middle of it.
const ATTEMPTS: usize = 16;

/// What tells one checkpoint file from the next: a new file is renamed over the old one,
/// so its inode and change time differ (an inode number alone may be reused).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Identity {
    dev: u64,
    ino: u64,
    ctime: i64,
    ctime_nsec: i64,
    len: u64,
}

/// What the journal looked like when last read, so that a wait sees a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    checkpoint: Option<Identity>,
    journal: Option<(u64, u64)>,
}

/// Follows the data directory of a running `patchbay serve` without its lock.
pub(crate) struct DirFeed {
    dir: PathBuf,
    /// Where the next journal read starts.
    offset: u64,
    /// The checkpoint file the offset belongs to.
    checkpoint: Option<Identity>,
    /// The checkpoint's position, for a journal that holds nothing past it.
    checkpoint_position: u64,
    /// The newest position seen.
    newest: u64,
    seen: Seen,
    buffer: Vec<u8>,
}

fn unavailable(err: impl std::fmt::Display) -> SharedError {
    SharedError::Unavailable(err.to_string())
}

fn store_failed(err: StoreError) -> SharedError {
    match err {
        StoreError::Corrupt { .. } => SharedError::Refused(err.to_string()),
        _ => unavailable(err),
    }
}

/// The identity of `path`, `None` when there is no such file.
fn identity(path: &Path) -> Result<Option<Identity>, SharedError> {
    match fs::metadata(path) {
        Ok(m) => Ok(Some(Identity {
            dev: m.dev(),
            ino: m.ino(),
            ctime: m.ctime(),
            ctime_nsec: m.ctime_nsec(),
            len: m.len(),
        })),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(unavailable(format!("{}: {e}", path.display()))),
    }
}

/// The journal's inode and length, `None` when there is no journal.
fn journal_state(path: &Path) -> Result<Option<(u64, u64)>, SharedError> {
    match fs::metadata(path) {
        Ok(m) => Ok(Some((m.ino(), m.len()))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(unavailable(format!("{}: {e}", path.display()))),
    }
}

impl DirFeed {
    /// A reader of `dir`, which must be a data directory (a journal or a checkpoint in it).
    pub(crate) fn new(dir: impl Into<PathBuf>) -> Result<DirFeed, SharedError> {
        let dir = dir.into();
        let journal = dir.join(DataDir::JOURNAL);
        let checkpoint = dir.join(DataDir::CHECKPOINT);
        if !journal.exists() && !checkpoint.exists() {
            return Err(SharedError::Refused(format!(
                "{} is not a patchbay data directory (no journal or checkpoint); run \
                 `patchbay serve --data {}` first",
                dir.display(),
                dir.display()
            )));
        }
        Ok(DirFeed {
            dir,
            offset: 0,
            checkpoint: None,
            checkpoint_position: 0,
            newest: 0,
            seen: Seen {
                checkpoint: None,
                journal: None,
            },
            buffer: Vec::new(),
        })
    }

    fn look(&self) -> Result<Seen, SharedError> {
        Ok(Seen {
            checkpoint: identity(&self.dir.join(DataDir::CHECKPOINT))?,
            journal: journal_state(&self.dir.join(DataDir::JOURNAL))?,
        })
    }

    /// Reads the journal's new bytes into the buffer; their start is `self.offset`.
    fn read_new(&mut self) -> Result<(), SharedError> {
        self.buffer.clear();
        let path = self.dir.join(DataDir::JOURNAL);
        let mut file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(unavailable(format!("{}: {e}", path.display()))),
        };
        let failed = |e: io::Error| unavailable(format!("{}: {e}", path.display()));
        let len = file.metadata().map_err(failed)?.len();
        if len < self.offset {
            self.offset = 0; // emptied by a checkpoint
        }
        file.seek(SeekFrom::Start(self.offset)).map_err(failed)?;
        file.take(len - self.offset)
            .read_to_end(&mut self.buffer)
            .map_err(failed)?;
        Ok(())
    }

    /// Parses the buffer: the records after `after` (at most `limit`), the offset in the
    /// buffer up to which everything was either returned or skipped, and whether bytes
    /// follow that no record starts at (the offset belonged to a journal since emptied).
    fn parse(&mut self, after: u64, limit: usize) -> (Records, usize, bool) {
        let mut records = Vec::new();
        let mut at = 0;
        while at < self.buffer.len() {
            match parse_record(&self.buffer, at) {
                Ok((position, payload, next)) => {
                    self.newest = self.newest.max(position);
                    if position > after {
                        if records.len() == limit {
                            break;
                        }
                        records.push((position, payload.to_vec()));
                    }
                    at = next;
                }
                Err(_) => {
                    let marker = self.buffer.get(at..at + 4) == Some(&RECORD_MAGIC[..]);
                    // A record marker with the rest cut short: the owner is writing it
                    // right now, and the next read has it.
                    let stale = !marker && self.buffer.len() - at >= RECORD_HEADER;
                    return (records, at, stale);
                }
            }
        }
        (records, at, false)
    }
}

impl Feed for DirFeed {
    fn read(&mut self, after: u64, limit: usize) -> Result<(Records, u64), SharedError> {
        for _ in 0..ATTEMPTS {
            let before = self.look()?;
            if before.checkpoint != self.checkpoint {
                self.offset = 0;
                self.checkpoint_position = checkpoint_position(&self.dir).map_err(store_failed)?;
            }
            self.read_new()?;
            let (records, used, stale) = self.parse(after, limit);
            let now = identity(&self.dir.join(DataDir::CHECKPOINT))?;
            if now != before.checkpoint {
                continue; // a checkpoint landed meanwhile: what was read may be stale
            }
            self.checkpoint = before.checkpoint;
            if stale && records.is_empty() && self.offset > 0 {
                // The offset pointed into an emptied journal: read again from the start.
                self.offset = 0;
                continue;
            }
            self.offset += used as u64;
            self.seen = before;
            self.newest = self.newest.max(self.checkpoint_position);
            return Ok((records, self.newest));
        }
        // The owner checkpoints faster than this reads: nothing this time, read again.
        Ok((Vec::new(), self.newest))
    }

    fn wait(&mut self, timeout: Duration) -> Result<bool, SharedError> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.look()? != self.seen {
                return Ok(true);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(false);
            }
            std::thread::sleep(left.min(POLL));
        }
    }

    fn oldest(&mut self) -> Result<u64, SharedError> {
        Ok(checkpoint_position(&self.dir).map_err(store_failed)? + 1)
    }

    fn tables(&mut self) -> Result<(u64, Vec<Mutation>), SharedError> {
        for _ in 0..ATTEMPTS {
            let before = identity(&self.dir.join(DataDir::CHECKPOINT))?;
            let loaded = DataDir::open_read_only(&self.dir)
                .and_then(|mut dir| dir.load())
                .map_err(store_failed)?;
            if identity(&self.dir.join(DataDir::CHECKPOINT))? != before {
                continue; // a checkpoint landed between the checkpoint and the journal
            }
            let (mut at, checkpoint) = loaded.checkpoint.unwrap_or_default();
            let contiguous = loaded
                .records
                .iter()
                .enumerate()
                .all(|(i, (position, _))| *position == at + 1 + i as u64);
            if !contiguous {
                continue;
            }
            let mut mutations: Vec<Mutation> = if checkpoint.is_empty() {
                Vec::new()
            } else {
                serde_json::from_slice(&checkpoint).map_err(|e| {
                    SharedError::Refused(format!(
                        "{}: unreadable checkpoint: {e}",
                        self.dir.display()
                    ))
                })?
            };
            for (position, payload) in &loaded.records {
                let change: Vec<Mutation> = serde_json::from_slice(payload).map_err(|e| {
                    SharedError::Refused(format!(
                        "{}: unreadable journal record {position}: {e}",
                        self.dir.display()
                    ))
                })?;
                mutations.extend(change);
                at = *position;
            }
            // The next read starts over from the journal's start.
            self.checkpoint = None;
            self.offset = 0;
            self.newest = self.newest.max(at);
            return Ok((at, mutations));
        }
        Err(unavailable(format!(
            "{} changed throughout {ATTEMPTS} attempts to read it whole",
            self.dir.display()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use patchbay_core::Snapshot;

    /// A journal record's payload: a change of nothing (the feed never decodes it).
    fn change(_: u64) -> Vec<u8> {
        b"[]".to_vec()
    }

    fn positions(records: &Records) -> Vec<u64> {
        records.iter().map(|(position, _)| *position).collect()
    }

    #[test]
    fn reads_on_from_where_it_stopped_and_across_checkpoints() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut owner = DataDir::open(tmp.path()).expect("open");
        owner.append(1, &change(1)).expect("append");
        let mut feed = DirFeed::new(tmp.path()).expect("feed");
        let (records, newest) = feed.read(0, 100).expect("read");
        assert_eq!((positions(&records), newest), (vec![1], 1));
        owner.append(2, &change(2)).expect("append");
        owner.append(3, &change(3)).expect("append");
        assert!(feed.wait(Duration::from_millis(200)).expect("wait"));
        let (records, newest) = feed.read(1, 100).expect("read");
        assert_eq!((positions(&records), newest), (vec![2, 3], 3));
        // A limit leaves the rest for the next read.
        owner.append(4, &change(4)).expect("append");
        owner.append(5, &change(5)).expect("append");
        let (records, _) = feed.read(3, 1).expect("read");
        assert_eq!(positions(&records), vec![4]);
        let (records, _) = feed.read(4, 100).expect("read");
        assert_eq!(positions(&records), vec![5]);
        // Nothing new: no wake-up.
        assert!(!feed.wait(Duration::from_millis(20)).expect("wait"));
        // A checkpoint empties the journal; the next record is at its start, shorter than
        // the offset the reader had.
        owner
            .checkpoint(5, b"[]", &Snapshot::empty(1))
            .expect("checkpoint");
        owner.append(6, &change(6)).expect("append");
        let (records, newest) = feed.read(5, 100).expect("read");
        assert_eq!((positions(&records), newest), (vec![6], 6));
    }

    #[test]
    fn a_reader_behind_a_checkpoint_sees_the_gap_and_loads_the_directory() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut owner = DataDir::open(tmp.path()).expect("open");
        owner.append(1, &change(1)).expect("append");
        let mut feed = DirFeed::new(tmp.path()).expect("feed");
        assert_eq!(positions(&feed.read(0, 100).expect("read").0), vec![1]);
        // Many records past the reader's offset, then a checkpoint and more records: the
        // new journal is longer than the old offset.
        for position in 2..=40 {
            owner.append(position, &change(position)).expect("append");
        }
        owner
            .checkpoint(40, b"[]", &Snapshot::empty(1))
            .expect("checkpoint");
        for position in 41..=80 {
            owner.append(position, &change(position)).expect("append");
        }
        let (records, newest) = feed.read(1, 1000).expect("read");
        assert_eq!(newest, 80);
        assert_eq!(
            records.first().map(|(position, _)| *position),
            Some(41),
            "a gap after 1"
        );
        let (at, mutations) = feed.tables().expect("tables");
        assert_eq!((at, mutations.len()), (80, 0));
        assert!(feed.read(80, 100).expect("read").0.is_empty());
        // An emptied journal past a checkpoint still says how far the directory is.
        owner
            .checkpoint(80, b"[]", &Snapshot::empty(1))
            .expect("checkpoint");
        let (records, newest) = feed.read(80, 100).expect("read");
        assert!(records.is_empty());
        assert_eq!(newest, 80);
    }

    #[test]
    fn a_record_being_written_is_left_for_the_next_read() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut owner = DataDir::open(tmp.path()).expect("open");
        owner.append(1, &change(1)).expect("append");
        let mut feed = DirFeed::new(tmp.path()).expect("feed");
        assert_eq!(positions(&feed.read(0, 100).expect("read").0), vec![1]);
        // Half a record at the end: the owner is writing it.
        let journal = tmp.path().join(DataDir::JOURNAL);
        let mut bytes = fs::read(&journal).expect("journal");
        let first = bytes.clone();
        bytes.extend_from_slice(&first[..first.len() / 2]);
        fs::write(&journal, &bytes).expect("write");
        let (records, newest) = feed.read(1, 100).expect("read");
        assert!(records.is_empty());
        assert_eq!(newest, 1);
        assert_eq!(
            feed.offset,
            first.len() as u64,
            "the offset stays before it"
        );
    }

    #[test]
    fn a_directory_that_is_not_a_data_directory_is_refused() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let err = DirFeed::new(tmp.path()).err().expect("refused");
        assert!(
            err.to_string().contains("not a patchbay data directory"),
            "{err}"
        );
    }
}
