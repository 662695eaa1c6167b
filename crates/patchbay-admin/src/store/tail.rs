//! [`DirFeed`]: the data directory of another process, followed read-only as a [`Feed`].
//!
//! The owner appends records to the newest journal segment and starts a new segment at
//! each checkpoint; segments are only appended to, and deleted whole once two newer
//! checkpoints cover them. A reader reads its segment on from where it stopped, and moves
//! to the next segment once one exists (the owner starts a segment only after the last
//! append to the one before, so that one is complete). Records carry their positions, so
//! a read never applies one twice; a reader whose segment is gone (it fell two checkpoints
//! behind) sees a gap, which the follower closes by loading the directory whole
//! ([`Feed::tables`]).
//!
//! A waiting reader is woken by the kernel when a file of the directory changes (inotify),
//! so an acknowledged change is read within microseconds of its write; where inotify is not
//! to be had, it looks at the directory every [`POLL`].

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::fs::inotify;

use super::datadir::{parse_record, Listing, RECORD_MAGIC};
use super::{DataDir, Feed, Records, SharedError, Store, StoreError, RECORD_HEADER};
use crate::model::{checkpoint, Model};

/// How often a waiting reader looks at the directory when the kernel cannot wake it.
pub const POLL: Duration = Duration::from_millis(5);
/// The longest a reader woken by the kernel waits before it looks anyway.
const LOOK_ANYWAY: Duration = Duration::from_millis(250);
/// How often a whole read is tried again when the owner prunes in the middle of it.
const ATTEMPTS: usize = 16;

/// What the directory looked like when last read, so that a wait sees a change.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Seen {
    /// The newest segment's first position and length, and the newest checkpoint's.
    newest_segment: Option<(u64, u64)>,
    newest_checkpoint: u64,
}

/// The kernel's word that a file of the directory changed (inotify).
struct Watch {
    fd: OwnedFd,
    buffer: Vec<MaybeUninit<u8>>,
}

impl Watch {
    /// Watches `dir` for files written, created, renamed into it and removed; `None` when
    /// the kernel will not (no inotify, or no watches left).
    fn new(dir: &Path) -> Option<Watch> {
        let fd =
            inotify::init(inotify::CreateFlags::CLOEXEC | inotify::CreateFlags::NONBLOCK).ok()?;
        let events = inotify::WatchFlags::MODIFY
            | inotify::WatchFlags::CREATE
            | inotify::WatchFlags::MOVED_TO
            | inotify::WatchFlags::DELETE;
        inotify::add_watch(&fd, dir, events).ok()?;
        Some(Watch {
            fd,
            buffer: vec![MaybeUninit::uninit(); 4096],
        })
    }

    /// Waits up to `timeout` for word of a change; drains what came. `false` when none did.
    fn wait(&mut self, timeout: Duration) -> io::Result<bool> {
        let timeout = Timespec::try_from(timeout).unwrap_or(Timespec {
            tv_sec: 1,
            tv_nsec: 0,
        });
        let mut fds = [PollFd::new(&self.fd, PollFlags::IN)];
        match rustix::event::poll(&mut fds, Some(&timeout)) {
            Ok(0) | Err(rustix::io::Errno::INTR) => return Ok(false),
            Ok(_) => {}
            Err(e) => return Err(e.into()),
        }
        let mut reader = inotify::Reader::new(&self.fd, &mut self.buffer);
        // Non-blocking: it ends with `EAGAIN` once every queued event is read.
        while reader.next().is_ok() {}
        Ok(true)
    }
}

/// Follows the data directory of a running `patchbay serve` without its lock.
pub(crate) struct DirFeed {
    dir: PathBuf,
    /// The segment being read (its first position), and where the next read starts in it.
    segment: Option<u64>,
    offset: u64,
    /// The newest position seen.
    newest: u64,
    seen: Seen,
    buffer: Vec<u8>,
    /// The kernel's wake-ups, when it gives them.
    watch: Option<Watch>,
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

fn look(listing: &Listing) -> Seen {
    Seen {
        newest_segment: listing.segments.last().map(|(start, path)| {
            let len = std::fs::metadata(path).map_or(0, |m| m.len());
            (*start, len)
        }),
        newest_checkpoint: listing.newest_position(),
    }
}

impl DirFeed {
    /// A reader of `dir`, which must be a data directory (a journal or a checkpoint in it).
    pub(crate) fn new(dir: impl Into<PathBuf>) -> Result<DirFeed, SharedError> {
        let dir = dir.into();
        if !DataDir::is_data_dir(&dir) {
            return Err(SharedError::Refused(format!(
                "{} is not a patchbay data directory (no journal or checkpoint); run \
                 `patchbay serve --data {}` first",
                dir.display(),
                dir.display()
            )));
        }
        let watch = Watch::new(&dir);
        Ok(DirFeed {
            dir,
            segment: None,
            offset: 0,
            newest: 0,
            seen: Seen::default(),
            buffer: Vec::new(),
            watch,
        })
    }

    fn listing(&self) -> Result<Listing, SharedError> {
        Listing::of(&self.dir).map_err(store_failed)
    }

    /// Reads the new bytes of segment `start` into the buffer, from `self.offset`; `false`
    /// when the segment is gone.
    fn read_new(&mut self, path: &Path) -> Result<bool, SharedError> {
        self.buffer.clear();
        let failed = |e: io::Error| unavailable(format!("{}: {e}", path.display()));
        let mut file = match File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(failed(e)),
        };
        let len = file.metadata().map_err(failed)?.len();
        if len > self.offset {
            file.seek(SeekFrom::Start(self.offset)).map_err(failed)?;
            file.take(len - self.offset)
                .read_to_end(&mut self.buffer)
                .map_err(failed)?;
        }
        Ok(true)
    }

    /// Parses the buffer: the records after `after` (at most `limit` in `records`), and
    /// the offset in the buffer up to which everything was returned or skipped. A record
    /// cut short at the end (a marker and less than the whole) is the owner's append in
    /// progress: the next read has it.
    fn parse(&mut self, after: u64, limit: usize, records: &mut Records) -> usize {
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
                    let partial = marker || self.buffer.len() - at < RECORD_HEADER;
                    if !partial {
                        tracing::warn!(
                            dir = %self.dir.display(),
                            "a journal segment holds bytes that are no record; reading on \
                             from the next segment"
                        );
                    }
                    break;
                }
            }
        }
        at
    }
}

impl Feed for DirFeed {
    fn read(&mut self, after: u64, limit: usize) -> Result<(Records, u64), SharedError> {
        let listing = self.listing()?;
        self.seen = look(&listing);
        self.newest = self.newest.max(listing.newest_position());
        let starts: Vec<u64> = listing.segments.iter().map(|(start, _)| *start).collect();
        if self.segment.is_none_or(|s| !starts.contains(&s)) {
            // Start, or start over after the segment was pruned: at the segment that holds
            // the record after `after`. None does when the reader fell behind what the
            // directory keeps: the newest position says there is a gap.
            self.segment = starts.iter().rev().find(|s| **s <= after + 1).copied();
            self.offset = 0;
            if self.segment.is_none() {
                let first = starts.first().map_or(0, |s| s.saturating_sub(1));
                self.newest = self.newest.max(first);
                return Ok((Vec::new(), self.newest));
            }
        }
        let mut records = Vec::new();
        while let Some(start) = self.segment {
            let path = self.dir.join(super::datadir::segment_name(start));
            if !self.read_new(&path)? {
                // Pruned since the listing: the next read starts over.
                self.segment = None;
                break;
            }
            let used = self.parse(after, limit, &mut records);
            self.offset += used as u64;
            let whole = used == self.buffer.len();
            let next = starts.iter().find(|s| **s > start).copied();
            match next {
                // The owner starts a segment only after the last append to this one.
                Some(next) if whole && records.len() < limit => {
                    self.segment = Some(next);
                    self.offset = 0;
                }
                _ => break,
            }
        }
        Ok((records, self.newest))
    }

    fn wait(&mut self, timeout: Duration) -> Result<bool, SharedError> {
        let deadline = Instant::now() + timeout;
        loop {
            // Anything since the last read shows here: the kernel's word is only a wake-up.
            if look(&self.listing()?) != self.seen {
                return Ok(true);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(false);
            }
            let waited = match self.watch.as_mut() {
                Some(watch) => watch.wait(left.min(LOOK_ANYWAY)),
                None => {
                    std::thread::sleep(left.min(POLL));
                    Ok(true)
                }
            };
            if let Err(error) = waited {
                tracing::debug!(%error, "the directory's watch failed; looking every few ms");
                self.watch = None;
            }
        }
    }

    fn oldest(&mut self) -> Result<u64, SharedError> {
        let listing = self.listing()?;
        Ok(match listing.segments.first() {
            Some((start, _)) => *start,
            None => listing.newest_position() + 1,
        })
    }

    fn whole(&mut self) -> Result<(u64, Model), SharedError> {
        let mut last = None;
        for _ in 0..ATTEMPTS {
            // A prune between the listing and the reads shows as a file gone, or as a gap
            // after the checkpoint read: read again, from the newer checkpoint.
            let loaded = DataDir::open_read_only(&self.dir).and_then(|mut dir| dir.load());
            let loaded = match loaded {
                Ok(loaded) => loaded,
                Err(error) => {
                    last = Some(store_failed(error));
                    continue;
                }
            };
            let checkpoint = loaded
                .checkpoint
                .as_ref()
                .map(|c| (c.position, c.model.as_slice()));
            match checkpoint::restore(checkpoint, &loaded.records, |_| {}) {
                Ok((model, at)) => {
                    // The next read starts at the segment after `at`.
                    self.segment = None;
                    self.offset = 0;
                    self.newest = self.newest.max(at);
                    return Ok((at, model));
                }
                Err(error) => {
                    last = Some(SharedError::Refused(format!(
                        "{}: {error}",
                        self.dir.display()
                    )))
                }
            }
        }
        Err(last.unwrap_or_else(|| {
            unavailable(format!(
                "{} changed throughout {ATTEMPTS} attempts to read it whole",
                self.dir.display()
            ))
        }))
    }
}

#[cfg(test)]
mod tests;
