//! [`DataDir`]: the embedded store, a data directory of one process (layout in `store`).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use patchbay_core::Snapshot;

use super::{io_err, Loaded, Records, Store, StoreError, RECORD_HEADER};

pub(super) const RECORD_MAGIC: &[u8; 4] = b"PBJ1";
/// The largest payload a record may have (a bulk change of every number fits many times).
const MAX_RECORD: usize = 1 << 30;

/// The embedded store: a data directory owned by one process at a time.
#[derive(Debug)]
pub struct DataDir {
    dir: PathBuf,
    journal: File,
    journal_len: u64,
    /// `None` in read-only mode.
    lock: Option<File>,
}

impl DataDir {
    /// The journal file's name.
    pub const JOURNAL: &'static str = "journal.log";
    /// The checkpoint file's name.
    pub const CHECKPOINT: &'static str = "checkpoint.json";
    /// The snapshot file's name.
    pub const SNAPSHOT: &'static str = "snapshot.pbsnap";
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
        let journal_path = dir.join(Self::JOURNAL);
        let journal = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(&journal_path)
            .map_err(io_err(&journal_path))?;
        let journal_len = journal.metadata().map_err(io_err(&journal_path))?.len();
        Ok(DataDir {
            dir,
            journal,
            journal_len,
            lock: Some(lock),
        })
    }

    /// Opens `dir` to read only, without its lock, so that a running server may own it.
    /// Loading sees every change the owner acknowledged before the call; a record the owner
    /// is writing at that moment is skipped, not truncated. Appends and checkpoints fail.
    pub fn open_read_only(dir: impl Into<PathBuf>) -> Result<DataDir, StoreError> {
        let dir = dir.into();
        let journal_path = dir.join(Self::JOURNAL);
        let journal = match File::open(&journal_path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound && dir.is_dir() => {
                File::open(&dir).map_err(io_err(&dir))?
            }
            Err(e) => return Err(io_err(&journal_path)(e)),
        };
        Ok(DataDir {
            dir,
            journal,
            journal_len: 0,
            lock: None,
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

    fn read_journal(&mut self) -> Result<(Records, Vec<String>), StoreError> {
        let path = self.dir.join(Self::JOURNAL);
        let mut bytes = Vec::new();
        match File::open(&path) {
            Ok(mut file) => {
                file.read_to_end(&mut bytes).map_err(io_err(&path))?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound && self.lock.is_none() => {}
            Err(e) => return Err(io_err(&path)(e)),
        }
        let mut records = Vec::new();
        let mut warnings = Vec::new();
        let mut at = 0usize;
        while at < bytes.len() {
            match parse_record(&bytes, at) {
                Ok((position, payload, next)) => {
                    records.push((position, payload.to_vec()));
                    at = next;
                }
                Err(what) => {
                    if let Some(later) = next_valid_record(&bytes, at + 1) {
                        return Err(StoreError::Corrupt {
                            path,
                            offset: at as u64,
                            what: format!("{what}, and a valid record follows at offset {later}"),
                        });
                    }
                    if self.lock.is_none() {
                        // Read-only: the owner may be writing this record right now.
                        break;
                    }
                    warnings.push(format!(
                        "{}: dropped an incomplete record at byte offset {at} ({} bytes, {what}): \
                         a change interrupted by a crash, never acknowledged",
                        path.display(),
                        bytes.len() - at
                    ));
                    self.journal.set_len(at as u64).map_err(io_err(&path))?;
                    self.journal.sync_all().map_err(io_err(&path))?;
                    break;
                }
            }
        }
        self.journal_len = at as u64;
        Ok((records, warnings))
    }
}

/// Parses the record at `at`: its position, payload and the offset after it.
pub(super) fn parse_record(bytes: &[u8], at: usize) -> Result<(u64, &[u8], usize), String> {
    let header = bytes
        .get(at..at + RECORD_HEADER)
        .ok_or_else(|| "the record header is cut short".to_string())?;
    if header.get(..4) != Some(&RECORD_MAGIC[..]) {
        return Err("no record marker".into());
    }
    let word = |from: usize, len: usize| -> u64 {
        header
            .get(from..from + len)
            .map(|b| b.iter().rev().fold(0u64, |acc, &x| acc << 8 | u64::from(x)))
            .unwrap_or_default()
    };
    let len = word(4, 4) as usize;
    let position = word(8, 8);
    let stored = word(16, 4) as u32;
    if len > MAX_RECORD {
        return Err(format!("implausible record length {len}"));
    }
    let payload = bytes
        .get(at + RECORD_HEADER..at + RECORD_HEADER + len)
        .ok_or_else(|| "the record is cut short".to_string())?;
    let mut crc = crc32fast::Hasher::new();
    crc.update(&position.to_le_bytes());
    crc.update(payload);
    if crc.finalize() != stored {
        return Err("checksum mismatch".into());
    }
    Ok((position, payload, at + RECORD_HEADER + len))
}

/// The offset of the first valid record at or after `from`.
fn next_valid_record(bytes: &[u8], from: usize) -> Option<usize> {
    (from..bytes.len().saturating_sub(RECORD_HEADER - 1))
        .filter(|&at| bytes.get(at..at + 4) == Some(&RECORD_MAGIC[..]))
        .find(|&at| parse_record(bytes, at).is_ok())
}

/// Appends the record `(position, payload)` to `out`.
fn encode_record(position: u64, payload: &[u8], out: &mut Vec<u8>) {
    let mut crc = crc32fast::Hasher::new();
    crc.update(&position.to_le_bytes());
    crc.update(payload);
    out.extend_from_slice(RECORD_MAGIC);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&position.to_le_bytes());
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.extend_from_slice(payload);
}

impl Store for DataDir {
    fn load(&mut self) -> Result<Loaded, StoreError> {
        let checkpoint_path = self.dir.join(Self::CHECKPOINT);
        let checkpoint = match fs::read(&checkpoint_path) {
            Ok(bytes) => Some(parse_checkpoint(&checkpoint_path, &bytes)?),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_err(&checkpoint_path)(e)),
        };
        let (records, warnings) = self.read_journal()?;
        let after = checkpoint.as_ref().map_or(0, |(position, _)| *position);
        Ok(Loaded {
            checkpoint,
            records: records
                .into_iter()
                .filter(|(position, _)| *position > after)
                .collect(),
            warnings,
        })
    }

    fn append_group(&mut self, records: &[(u64, Vec<u8>)]) -> Result<(), StoreError> {
        if self.lock.is_none() {
            return Err(self.read_only_error());
        }
        let path = self.dir.join(Self::JOURNAL);
        if records
            .iter()
            .any(|(_, payload)| payload.len() > MAX_RECORD)
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
            encode_record(*position, payload, &mut bytes);
        }
        let written = self
            .journal
            .write_all(&bytes)
            .and_then(|()| self.journal.sync_data());
        if let Err(source) = written {
            // Leave no partial record behind for the next append to follow.
            let _ = self.journal.set_len(self.journal_len);
            return Err(StoreError::Io { path, source });
        }
        self.journal_len += bytes.len() as u64;
        Ok(())
    }

    fn checkpoint(
        &mut self,
        position: u64,
        model: &[u8],
        snapshot: &Snapshot,
    ) -> Result<(), StoreError> {
        let path = self.dir.join(Self::CHECKPOINT);
        let mut bytes = Vec::with_capacity(model.len() + 32);
        bytes.extend_from_slice(
            format!(
                "{{\"seq\":{position},\"crc\":{},\"model\":",
                crc32fast::hash(model)
            )
            .as_bytes(),
        );
        bytes.extend_from_slice(model);
        bytes.push(b'}');
        patchbay_core::write_file_atomically(&path, &bytes).map_err(io_err(&path))?;
        let snapshot_path = self.dir.join(Self::SNAPSHOT);
        snapshot
            .write_to(&snapshot_path)
            .map_err(|e| StoreError::Io {
                path: snapshot_path,
                source: io::Error::other(e.to_string()),
            })?;
        let journal_path = self.dir.join(Self::JOURNAL);
        self.journal.set_len(0).map_err(io_err(&journal_path))?;
        self.journal.sync_all().map_err(io_err(&journal_path))?;
        self.journal_len = 0;
        Ok(())
    }

    fn journal_len(&self) -> u64 {
        self.journal_len
    }
}

/// The position of the checkpoint in `dir` (0 when there is none), read from the start of
/// its file alone: the checkpoint is written as `{"seq":N,...` (`seq`, the position's
/// name in the checkpoint format).
pub(super) fn checkpoint_position(dir: &Path) -> Result<u64, StoreError> {
    let path = dir.join(DataDir::CHECKPOINT);
    let mut head = [0u8; 32];
    let read = match File::open(&path) {
        Ok(file) => {
            let mut read = 0;
            let mut file = file.take(head.len() as u64);
            while let Ok(n @ 1..) = file.read(head.get_mut(read..).unwrap_or_default()) {
                read += n;
            }
            read
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(io_err(&path)(e)),
    };
    let digits = head
        .get(..read)
        .and_then(|h| h.strip_prefix(b"{\"seq\":"))
        .map(|rest| rest.iter().take_while(|b| b.is_ascii_digit()).count())
        .filter(|&n| (1..=20).contains(&n));
    let position = digits
        .and_then(|n| head.get(7..7 + n))
        .and_then(|d| std::str::from_utf8(d).ok())
        .and_then(|d| d.parse().ok());
    position.ok_or_else(|| StoreError::Corrupt {
        path,
        offset: 0,
        what: "the checkpoint does not start with its position".into(),
    })
}

fn parse_checkpoint(path: &Path, bytes: &[u8]) -> Result<(u64, Vec<u8>), StoreError> {
    #[derive(serde::Deserialize)]
    struct Checkpoint<'a> {
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
    let parsed: Checkpoint<'_> = serde_json::from_slice(bytes)
        .map_err(|e| corrupt(format!("unreadable checkpoint: {e}")))?;
    let model = parsed.model.get().as_bytes();
    if crc32fast::hash(model) != parsed.crc {
        return Err(corrupt("checkpoint checksum mismatch".into()));
    }
    Ok((parsed.position, model.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn journal_bytes(dir: &Path) -> Vec<u8> {
        fs::read(dir.join(DataDir::JOURNAL)).expect("journal")
    }

    #[test]
    fn records_survive_reopen_and_torn_tails_are_dropped() {
        let tmp = tempfile::tempdir().expect("tempdir");
        {
            let mut store = DataDir::open(tmp.path()).expect("open");
            assert!(store.load().expect("load").records.is_empty());
            for position in 1..=3 {
                store
                    .append(position, format!("change {position}").as_bytes())
                    .expect("append");
            }
        }
        let full = journal_bytes(tmp.path());
        // Every cut inside the last record loses that record only, with a warning.
        let last_start = full.len() - (RECORD_HEADER + "change 3".len());
        for cut in last_start..full.len() {
            fs::write(tmp.path().join(DataDir::JOURNAL), &full[..cut]).expect("cut");
            let mut store = DataDir::open(tmp.path()).expect("open");
            let loaded = store.load().expect("load");
            let positions: Vec<u64> = loaded.records.iter().map(|r| r.0).collect();
            assert_eq!(positions, [1, 2], "cut at {cut}");
            assert_eq!(
                loaded.warnings.len(),
                usize::from(cut > last_start),
                "cut at {cut}"
            );
            // The torn bytes are gone, so the next append follows record 2 directly.
            store.append(3, b"again").expect("append");
            drop(store);
            let mut store = DataDir::open(tmp.path()).expect("open");
            assert_eq!(store.load().expect("load").records.len(), 3);
            fs::write(tmp.path().join(DataDir::JOURNAL), &full).expect("restore");
        }
    }

    #[test]
    fn flipped_bytes_at_the_end_drop_only_the_last_record() {
        let tmp = tempfile::tempdir().expect("tempdir");
        {
            let mut store = DataDir::open(tmp.path()).expect("open");
            store.append(1, b"first").expect("append");
            store.append(2, b"second").expect("append");
        }
        let full = journal_bytes(tmp.path());
        let last_start = full.len() - (RECORD_HEADER + "second".len());
        for at in last_start..full.len() {
            let mut bad = full.clone();
            bad[at] ^= 0x40;
            fs::write(tmp.path().join(DataDir::JOURNAL), &bad).expect("write");
            let mut store = DataDir::open(tmp.path()).expect("open");
            let loaded = store.load().expect("load");
            assert_eq!(loaded.records.len(), 1, "flip at {at}");
            assert_eq!(loaded.records[0].1, b"first");
        }
    }

    #[test]
    fn corruption_before_the_tail_is_an_error_naming_the_offset() {
        let tmp = tempfile::tempdir().expect("tempdir");
        {
            let mut store = DataDir::open(tmp.path()).expect("open");
            store.append(1, b"first").expect("append");
            store.append(2, b"second").expect("append");
        }
        let mut bad = journal_bytes(tmp.path());
        bad[RECORD_HEADER + 1] ^= 0x01; // inside the first payload
        fs::write(tmp.path().join(DataDir::JOURNAL), &bad).expect("write");
        let mut store = DataDir::open(tmp.path()).expect("open");
        let err = store.load().expect_err("corrupt");
        assert!(
            matches!(err, StoreError::Corrupt { offset: 0, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("journal.log"), "{err}");
    }

    #[test]
    fn one_process_owns_a_directory() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let first = DataDir::open(tmp.path()).expect("open");
        assert!(DataDir::is_locked(tmp.path()));
        let err = DataDir::open(tmp.path()).expect_err("locked");
        assert!(matches!(err, StoreError::Locked { .. }), "{err}");
        drop(first);
        assert!(!DataDir::is_locked(tmp.path()));
        DataDir::open(tmp.path()).expect("free again");
    }

    #[test]
    fn read_only_opens_skip_the_lock_and_never_write() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut owner = DataDir::open(tmp.path()).expect("open");
        owner.append(1, b"a").expect("append");
        let mut journal = OpenOptions::new()
            .append(true)
            .open(tmp.path().join(DataDir::JOURNAL))
            .expect("journal");
        journal
            .write_all(b"PBJ1\x05")
            .expect("half a record, as if being written");
        let mut reader = DataDir::open_read_only(tmp.path()).expect("read-only");
        let loaded = reader.load().expect("load");
        assert_eq!(loaded.records, vec![(1, b"a".to_vec())]);
        assert!(loaded.warnings.is_empty());
        assert!(reader.append(2, b"b").is_err());
        assert!(reader.checkpoint(1, b"{}", &Snapshot::empty(1)).is_err());
        // The half record is still there for the owner to deal with.
        assert_eq!(
            fs::metadata(tmp.path().join(DataDir::JOURNAL))
                .expect("stat")
                .len(),
            20 + 1 + 5
        );
        assert!(DataDir::open_read_only(tmp.path().join("missing")).is_err());
    }

    #[test]
    fn checkpoints_replace_the_journal() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut store = DataDir::open(tmp.path()).expect("open");
        store.append(1, b"a").expect("append");
        store.append(2, b"b").expect("append");
        store
            .checkpoint(2, b"{\"model\":true}", &Snapshot::empty(1))
            .expect("checkpoint");
        assert_eq!(store.journal_len(), 0);
        store.append(3, b"c").expect("append");
        drop(store);
        let mut store = DataDir::open(tmp.path()).expect("open");
        let loaded = store.load().expect("load");
        assert_eq!(loaded.checkpoint, Some((2, b"{\"model\":true}".to_vec())));
        assert_eq!(loaded.records, vec![(3, b"c".to_vec())]);
        assert!(tmp.path().join(DataDir::SNAPSHOT).exists());
    }
}
