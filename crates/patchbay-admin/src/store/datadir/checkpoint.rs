//! Checkpoint files: `checkpoint.<position>.pbck` with the routing snapshot of the same
//! position beside it (`snapshot.<position>.pbsnap`), and the first layout's
//! `checkpoint.json`, still read.
//!
//! A checkpoint file is `PBCK`, version (u32, 1), position (u64), the admin's bytes, then a
//! trailer: their length (u64), their CRC-32 (u32) and `PBCE`. It is written to a temporary
//! file, synced, and renamed into place only once whole (after its snapshot), so a
//! checkpoint file that exists was complete when written; the trailer catches damage since.
//! The two newest checkpoints are kept, and the journal segments the older of them needs,
//! so that a damaged newest checkpoint falls back to the one before.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use patchbay_core::Snapshot;

use super::super::{io_err, CheckpointWriter, StoreError};
use super::journal::segment_start;
use super::Counters;

const MAGIC: &[u8; 4] = b"PBCK";
const END: &[u8; 4] = b"PBCE";
const VERSION: u32 = 1;
const HEADER: usize = 16;
const TRAILER: usize = 16;
const TMP: &str = ".tmp";
/// Bytes written between two syncs of a checkpoint or snapshot file: the disk takes them a
/// little at a time, so a journal append's sync never waits behind hundreds of megabytes.
const SYNC_EVERY: u64 = 8 << 20;

/// The first layout's checkpoint (JSON), journal and snapshot.
pub(crate) const LEGACY_CHECKPOINT: &str = "checkpoint.json";
pub(crate) const LEGACY_JOURNAL: &str = "journal.log";
pub(crate) const LEGACY_SNAPSHOT: &str = "snapshot.pbsnap";

pub(crate) fn checkpoint_name(position: u64) -> String {
    format!("checkpoint.{position:020}.pbck")
}

pub(crate) fn snapshot_name(position: u64) -> String {
    format!("snapshot.{position:020}.pbsnap")
}

fn numbered(name: &str, prefix: &str, suffix: &str) -> Option<u64> {
    let digits = name.strip_prefix(prefix)?.strip_suffix(suffix)?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// Which checkpoint file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `checkpoint.<position>.pbck`.
    Binary,
    /// `checkpoint.json`, from the first layout.
    Legacy,
}

/// What a data directory holds, by name.
#[derive(Debug, Default)]
pub(crate) struct Listing {
    /// Journal segments by first position, ascending.
    pub(crate) segments: Vec<(u64, PathBuf)>,
    /// Checkpoints by position, ascending.
    pub(crate) checkpoints: Vec<(u64, Kind, PathBuf)>,
    /// Whether the first layout's journal is there.
    pub(crate) legacy_journal: bool,
}

impl Listing {
    /// Reads the names in `dir` (the legacy checkpoint's position from its first bytes).
    pub(crate) fn of(dir: &Path) -> Result<Listing, StoreError> {
        let mut listing = Listing::default();
        for entry in fs::read_dir(dir).map_err(io_err(dir))? {
            let entry = entry.map_err(io_err(dir))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some(start) = segment_start(name) {
                listing.segments.push((start, entry.path()));
            } else if let Some(position) = numbered(name, "checkpoint.", ".pbck") {
                listing
                    .checkpoints
                    .push((position, Kind::Binary, entry.path()));
            } else if name == LEGACY_CHECKPOINT {
                let position = legacy_position(&entry.path())?;
                listing
                    .checkpoints
                    .push((position, Kind::Legacy, entry.path()));
            } else if name == LEGACY_JOURNAL {
                listing.legacy_journal = true;
            }
        }
        listing.segments.sort_by_key(|(start, _)| *start);
        listing
            .checkpoints
            .sort_by_key(|(position, kind, _)| (*position, *kind == Kind::Binary));
        Ok(listing)
    }

    /// The newest checkpoint's position, 0 when there is none.
    pub(crate) fn newest_position(&self) -> u64 {
        self.checkpoints
            .last()
            .map_or(0, |(position, _, _)| *position)
    }
}

/// Removes what a crash left half-written: temporary checkpoint and snapshot files.
pub(crate) fn remove_leftovers(dir: &Path) -> Result<(), StoreError> {
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let ours = ((name.starts_with("checkpoint.") || name.starts_with("snapshot."))
            && name.ends_with(TMP))
            || (name.starts_with(".snapshot.") && name.contains(".tmp."));
        if ours {
            fs::remove_file(entry.path()).map_err(io_err(&entry.path()))?;
        }
    }
    Ok(())
}

pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

/// Reads a checkpoint file: its position and the admin's bytes, after checking its frame
/// and checksum.
pub(crate) fn read(path: &Path, kind: &Kind) -> Result<(u64, Vec<u8>), StoreError> {
    let bytes = fs::read(path).map_err(io_err(path))?;
    match kind {
        Kind::Binary => unframe(path, &bytes),
        Kind::Legacy => parse_legacy(path, &bytes),
    }
}

fn unframe(path: &Path, bytes: &[u8]) -> Result<(u64, Vec<u8>), StoreError> {
    let corrupt = |offset: usize, what: &str| StoreError::Corrupt {
        path: path.to_path_buf(),
        offset: offset as u64,
        what: what.to_string(),
    };
    let word = |at: usize| -> Option<u64> {
        Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
    };
    if bytes.len() < HEADER + TRAILER {
        return Err(corrupt(bytes.len(), "the checkpoint is cut short"));
    }
    if bytes.get(..4) != Some(&MAGIC[..]) {
        return Err(corrupt(0, "not a checkpoint file"));
    }
    let version = bytes
        .get(4..8)
        .and_then(|v| v.try_into().ok())
        .map(u32::from_le_bytes);
    if version != Some(VERSION) {
        return Err(corrupt(
            4,
            &format!(
                "checkpoint format {}; this patchbay reads format {VERSION}: upgrade it",
                version.unwrap_or_default()
            ),
        ));
    }
    let position = word(8).unwrap_or_default();
    let end = bytes.len() - TRAILER;
    let trailer = bytes.get(end..).unwrap_or_default();
    if trailer.get(12..16) != Some(&END[..]) {
        return Err(corrupt(
            bytes.len(),
            "the checkpoint has no end marker (cut short?)",
        ));
    }
    let payload = bytes.get(HEADER..end).unwrap_or_default();
    if word(end) != Some(payload.len() as u64) {
        return Err(corrupt(
            end,
            "the checkpoint's length does not match its trailer",
        ));
    }
    let crc = trailer
        .get(8..12)
        .and_then(|c| c.try_into().ok())
        .map(u32::from_le_bytes);
    if crc != Some(crc32fast::hash(payload)) {
        return Err(corrupt(HEADER, "checkpoint checksum mismatch"));
    }
    Ok((position, payload.to_vec()))
}

/// The first layout's checkpoint: `{"seq":N,"crc":C,"model":[...]}`.
fn parse_legacy(path: &Path, bytes: &[u8]) -> Result<(u64, Vec<u8>), StoreError> {
    #[derive(serde::Deserialize)]
    struct Legacy<'a> {
        #[serde(rename = "seq")]
        position: u64,
        crc: u32,
        #[serde(borrow)]
        model: &'a serde_json::value::RawValue,
    }
    let corrupt = |what: String| StoreError::Corrupt {
        path: path.to_path_buf(),
        offset: 0,
        what,
    };
    let parsed: Legacy<'_> = serde_json::from_slice(bytes)
        .map_err(|e| corrupt(format!("unreadable checkpoint: {e}")))?;
    let model = parsed.model.get().as_bytes();
    if crc32fast::hash(model) != parsed.crc {
        return Err(corrupt("checkpoint checksum mismatch".into()));
    }
    Ok((parsed.position, model.to_vec()))
}

/// The legacy checkpoint's position, from the start of its file alone (`{"seq":N,...`).
fn legacy_position(path: &Path) -> Result<u64, StoreError> {
    let mut head = [0u8; 32];
    let mut read = 0;
    let mut file = File::open(path)
        .map_err(io_err(path))?
        .take(head.len() as u64);
    while let Ok(n @ 1..) = file.read(head.get_mut(read..).unwrap_or_default()) {
        read += n;
    }
    let digits = head
        .get(..read)
        .and_then(|h| h.strip_prefix(b"{\"seq\":"))
        .map(|rest| rest.iter().take_while(|b| b.is_ascii_digit()).count())
        .filter(|&n| (1..=20).contains(&n));
    digits
        .and_then(|n| head.get(7..7 + n))
        .and_then(|d| std::str::from_utf8(d).ok())
        .and_then(|d| d.parse().ok())
        .ok_or_else(|| StoreError::Corrupt {
            path: path.to_path_buf(),
            offset: 0,
            what: "the checkpoint does not start with its position".into(),
        })
}

/// A checkpoint being written to its temporary file.
pub(crate) struct DirCheckpoint {
    dir: PathBuf,
    position: u64,
    tmp: PathBuf,
    file: Option<BufWriter<File>>,
    crc: crc32fast::Hasher,
    len: u64,
    /// `len` at the last sync.
    synced: u64,
    counters: Arc<Counters>,
    /// Bytes appended when the checkpoint began: what it covers once finished.
    appended_at_begin: u64,
}

impl DirCheckpoint {
    pub(crate) fn create(
        dir: &Path,
        position: u64,
        counters: Arc<Counters>,
    ) -> Result<DirCheckpoint, StoreError> {
        let tmp = dir.join(format!("{}{TMP}", checkpoint_name(position)));
        let file = File::create(&tmp).map_err(io_err(&tmp))?;
        let mut file = BufWriter::with_capacity(1 << 20, file);
        let mut header = Vec::with_capacity(HEADER);
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&VERSION.to_le_bytes());
        header.extend_from_slice(&position.to_le_bytes());
        file.write_all(&header).map_err(io_err(&tmp))?;
        let appended_at_begin = counters.appended.load(Ordering::Acquire);
        Ok(DirCheckpoint {
            dir: dir.to_path_buf(),
            position,
            tmp,
            file: Some(file),
            crc: crc32fast::Hasher::new(),
            len: 0,
            synced: 0,
            counters,
            appended_at_begin,
        })
    }

    fn complete(&mut self, snapshot: &Snapshot) -> Result<(), StoreError> {
        let tmp = self.tmp.clone();
        let mut file = self.file.take().ok_or_else(|| StoreError::Io {
            path: tmp.clone(),
            source: io::Error::other("the checkpoint was already finished"),
        })?;
        let mut trailer = Vec::with_capacity(TRAILER);
        trailer.extend_from_slice(&self.len.to_le_bytes());
        trailer.extend_from_slice(&self.crc.clone().finalize().to_le_bytes());
        trailer.extend_from_slice(END);
        file.write_all(&trailer).map_err(io_err(&tmp))?;
        let file = file
            .into_inner()
            .map_err(|e| io_err(&tmp)(e.into_error()))?;
        file.sync_all().map_err(io_err(&tmp))?;
        drop(file);
        let snapshot_path = self.dir.join(snapshot_name(self.position));
        write_paced(&snapshot_path, |out| {
            snapshot
                .write_file(out)
                .map(|_| ())
                .map_err(|e| io::Error::other(e.to_string()))
        })?;
        let path = self.dir.join(checkpoint_name(self.position));
        fs::rename(&tmp, &path).map_err(io_err(&path))?;
        sync_dir(&self.dir)?;
        self.counters
            .checkpointed
            .fetch_max(self.appended_at_begin, Ordering::AcqRel);
        prune(&self.dir)
    }
}

impl CheckpointWriter for DirCheckpoint {
    fn write(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        let file = self.file.as_mut().ok_or_else(|| StoreError::Io {
            path: self.tmp.clone(),
            source: io::Error::other("the checkpoint was already finished"),
        })?;
        file.write_all(bytes).map_err(io_err(&self.tmp))?;
        self.crc.update(bytes);
        self.len += bytes.len() as u64;
        if self.len - self.synced >= SYNC_EVERY {
            file.flush()
                .and_then(|()| file.get_ref().sync_data())
                .map_err(io_err(&self.tmp))?;
            self.synced = self.len;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>, snapshot: Arc<Snapshot>) -> Result<(), StoreError> {
        self.complete(&snapshot)
    }
}

impl Drop for DirCheckpoint {
    fn drop(&mut self) {
        // Unfinished, or failed part way: leave nothing half-written behind.
        if self.file.take().is_some() || self.tmp.exists() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Writes what `write` writes to `path` as a whole or not at all (a temporary file,
/// renamed once synced), syncing every [`SYNC_EVERY`] bytes on the way.
fn write_paced(
    path: &Path,
    write: impl FnOnce(&mut io::BufWriter<Paced>) -> io::Result<()>,
) -> Result<(), StoreError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(TMP);
    let tmp = PathBuf::from(tmp);
    let written = (|| {
        let file = File::create(&tmp)?;
        let mut out = io::BufWriter::with_capacity(1 << 20, Paced { file, unsynced: 0 });
        write(&mut out)?;
        let paced = out.into_inner().map_err(io::IntoInnerError::into_error)?;
        paced.file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(error) = written {
        let _ = fs::remove_file(&tmp);
        return Err(io_err(path)(error));
    }
    Ok(())
}

/// A file that syncs its data each time [`SYNC_EVERY`] bytes have been written to it, so
/// that a large file never leaves much unwritten data for one sync to wait out (and for
/// the journal's syncs to queue behind).
struct Paced {
    file: File,
    unsynced: u64,
}

impl Write for Paced {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let n = self.file.write(bytes)?;
        self.unsynced += n as u64;
        if self.unsynced >= SYNC_EVERY {
            self.file.sync_data()?;
            self.unsynced = 0;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl io::Seek for Paced {
    fn seek(&mut self, to: io::SeekFrom) -> io::Result<u64> {
        self.file.seek(to)
    }
}

/// Keeps the two newest checkpoints (and their snapshots) and the journal segments the
/// older of them needs; removes the rest.
pub(crate) fn prune(dir: &Path) -> Result<(), StoreError> {
    let listing = Listing::of(dir)?;
    // With one checkpoint there is none to fall back to: the journal is all kept.
    if listing.checkpoints.len() < 2 {
        return Ok(());
    }
    let keep = listing.checkpoints.len() - 2;
    let Some(oldest_kept) = listing.checkpoints.get(keep).map(|(p, _, _)| *p) else {
        return Ok(());
    };
    let remove = |path: &Path| match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_err(path)(e)),
        _ => Ok(()),
    };
    for (position, kind, path) in listing.checkpoints.iter().take(keep) {
        remove(path)?;
        match kind {
            Kind::Binary => remove(&dir.join(snapshot_name(*position)))?,
            Kind::Legacy => remove(&dir.join(LEGACY_SNAPSHOT))?,
        }
    }
    // A segment holds positions below the next one's start: once that start is at most
    // one past the oldest kept checkpoint, everything in the segment is in both.
    for pair in listing.segments.windows(2) {
        if let [(_, path), (next, _)] = pair {
            if *next <= oldest_kept + 1 {
                remove(path)?;
            }
        }
    }
    sync_dir(dir)
}
