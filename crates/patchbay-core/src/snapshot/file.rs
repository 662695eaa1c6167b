//! Snapshot files: a 64-byte header and an rkyv archive, served in place.
//!
//! Layout (all integers little-endian):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `PBAYSNAP` |
//! | 8 | 4 | format version ([`FORMAT_VERSION`]) |
//! | 12 | 4 | header length (64) |
//! | 16 | 8 | payload length in bytes |
//! | 24 | 8 | number count |
//! | 32 | 8 | connector count |
//! | 40 | 8 | snapshot version |
//! | 48 | 8 | build time, nanoseconds since the Unix epoch |
//! | 56 | 4 | CRC-32 of bytes 0..56 and the payload |
//! | 60 | 4 | reserved, zero |
//! | 64 | … | payload: the rkyv archive of the snapshot body |
//!
//! The body holds the number index's shards back to back (one bucket array, and each shard's
//! length in buckets), the hash seed, the connectors by slot (a removed connector's slot
//! is empty), and the prefix index the same way (its own buckets, lengths and seed).
//!
//! CRC-32 detects every error burst up to 32 bits long, so any single corrupted byte is
//! caught before the archive is read. The archive is then checked by rkyv's bytecheck and
//! the index by its own invariants, so crafted bytes with a valid checksum are rejected too.
//! The index buckets sit at 64-byte offsets in the payload, and the payload at offset 64, so
//! in a mapping they are cache-line aligned and probed in place; only the connector list
//! (small: one entry per connector, not per number) is deserialized on open.

use std::fs::{self, File};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rkyv::rancor::{self, Fallible};
use rkyv::ser::{Allocator, Writer as ArchiveWriter, WriterExt};
use rkyv::vec::{ArchivedVec, VecResolver};
use rkyv::{Archive, Place, Serialize, SerializeUnsized};

use super::index::{Index, StoredBuckets};
use super::map::Storage;
use super::prefixes::Prefixes;
use super::table::{self, ArchivedBucket, Bucket};
use super::{Directory, Snapshot, HOLE};
use crate::connector::Connector;

/// The first eight bytes of every snapshot file.
pub const MAGIC: [u8; 8] = *b"PBAYSNAP";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 5;
/// Length of the header; the payload starts here.
pub const HEADER_LEN: usize = 64;

/// Offset of the header's CRC-32 (little-endian `u32`).
pub const CHECKSUM_AT: usize = 56;

/// The archived body. `buckets` comes first so that rkyv writes the bucket array at offset 0
/// of the payload: with the payload at file offset 64 and 64-byte buckets, every bucket of a
/// mapping starts on a cache line (rkyv itself aligns to at most 32 bytes).
///
/// The file is written from a `Body<Shards>` (the index's shards in place) and read as a
/// `Body<Vec<Bucket>>`: both archive as the same `ArchivedBody` layout, since `Shards`
/// archives as a `Vec<Bucket>` does.
#[derive(rkyv::Archive, rkyv::Serialize)]
struct Body<B = Vec<Bucket>> {
    buckets: B,
    shards: Vec<u32>,
    version: u64,
    published_at_ns: u64,
    seed: u64,
    numbers: u64,
    connectors: Vec<Option<Connector>>,
    /// The prefix index's shards, back to back, and each one's length in buckets. It is
    /// small (one entry per prefix) and decoded to the heap on open.
    prefix_buckets: Vec<Bucket>,
    prefix_shards: Vec<u32>,
    prefix_seed: u64,
}

/// The decoded header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Header {
    payload_len: u64,
    numbers: u64,
    connectors: u64,
    version: u64,
    published_at_ns: u64,
    checksum: u32,
}

fn le_u32(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    if let Some(src) = bytes.get(at..at + 4) {
        word.copy_from_slice(src);
    }
    u32::from_le_bytes(word)
}

fn le_u64(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    if let Some(src) = bytes.get(at..at + 8) {
        word.copy_from_slice(src);
    }
    u64::from_le_bytes(word)
}

fn checksum(header: &[u8], payload: &[u8]) -> u32 {
    let mut crc = crc32fast::Hasher::new();
    crc.update(header.get(..CHECKSUM_AT).unwrap_or_default());
    crc.update(payload);
    crc.finalize()
}

impl Snapshot {
    /// The snapshot as the bytes of a snapshot file.
    pub fn to_file_bytes(&self) -> Result<Vec<u8>, SnapshotFileError> {
        let mut out = io::Cursor::new(Vec::new());
        self.write_file(&mut out)?;
        Ok(out.into_inner())
    }

    /// The connectors by slot, as the file keeps them: a removed connector's slot empty.
    fn connector_slots(&self) -> Vec<Option<Connector>> {
        self.connectors
            .iter()
            .enumerate()
            .map(|(slot, c)| (!self.directory.is_hole(slot)).then(|| c.clone()))
            .collect()
    }

    /// Writes the snapshot file to `out`, from where `out` is: a header with room for the
    /// payload's length and checksum, the payload serialized straight into `out` from the
    /// index's shards, then the header again, filled in. No copy of the index is made, in
    /// one piece or in shards: at ten million numbers it is about 160 MB. Returns the
    /// file's length; `out` is left at its end.
    pub fn write_file<W: Write + Seek>(&self, out: &mut W) -> Result<u64, SnapshotFileError> {
        let io = |e: io::Error| SnapshotFileError::new(None, FileErrorKind::Io(e));
        let start = out.stream_position().map_err(io)?;
        out.write_all(&[0u8; HEADER_LEN]).map_err(io)?;
        let shards = self
            .index
            .tables()
            .map(|table| u32::try_from(table.len()).map_err(|_| too_large()))
            .collect::<Result<Vec<u32>, _>>()?;
        let (prefix_buckets, prefix_shards) = flatten(self.prefixes.index())?;
        let connectors = self.connector_slots();
        let body = Body {
            buckets: Shards(&self.index),
            shards,
            version: self.version,
            published_at_ns: self.published_at_ns,
            seed: self.index.seed(),
            numbers: self.numbers as u64,
            connectors,
            prefix_buckets,
            prefix_shards,
            prefix_seed: self.prefixes.index().seed(),
        };
        let mut payload = Checksummed {
            inner: &mut *out,
            crc: crc32fast::Hasher::new(),
            len: 0,
        };
        rkyv::api::high::to_bytes_in::<_, rancor::Error>(
            &body,
            rkyv::ser::writer::IoWriter::new(&mut payload),
        )
        .map_err(|e| SnapshotFileError::new(None, FileErrorKind::Corrupt(e.to_string())))?;
        let (payload_len, payload_crc) = (payload.len, payload.crc);
        let mut header = Vec::with_capacity(HEADER_LEN);
        header.extend_from_slice(&MAGIC);
        header.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        header.extend_from_slice(&(HEADER_LEN as u32).to_le_bytes());
        header.extend_from_slice(&payload_len.to_le_bytes());
        header.extend_from_slice(&(self.numbers as u64).to_le_bytes());
        header.extend_from_slice(&(self.connectors.len() as u64).to_le_bytes());
        header.extend_from_slice(&self.version.to_le_bytes());
        header.extend_from_slice(&self.published_at_ns.to_le_bytes());
        let mut crc = crc32fast::Hasher::new();
        crc.update(&header);
        crc.combine(&payload_crc);
        header.extend_from_slice(&crc.finalize().to_le_bytes());
        header.extend_from_slice(&0u32.to_le_bytes());
        let end = start + HEADER_LEN as u64 + payload_len;
        out.seek(SeekFrom::Start(start)).map_err(io)?;
        out.write_all(&header).map_err(io)?;
        out.seek(SeekFrom::Start(end)).map_err(io)?;
        Ok(end - start)
    }

    /// Writes the snapshot to `path` atomically: a temporary file in the same directory,
    /// fsync, rename over `path`, fsync of the directory. A reader that has the old file
    /// open or mapped keeps it; one that opens `path` gets the old or the new file whole.
    /// Returns the file's size in bytes.
    pub fn write_to(&self, path: impl AsRef<Path>) -> Result<u64, SnapshotFileError> {
        let path = path.as_ref();
        let mut written = 0;
        write_atomically_with(path, |file| {
            let mut out = io::BufWriter::with_capacity(1 << 20, file);
            written = self
                .write_file(&mut out)
                .map_err(|e| io::Error::other(e.to_string()))?;
            out.flush()
        })
        .map_err(|e| SnapshotFileError::io(path, e))?;
        Ok(written)
    }

    /// Opens a snapshot file by mapping it: after validation, lookups probe the mapped bytes.
    pub fn open(path: impl AsRef<Path>) -> Result<Snapshot, SnapshotFileError> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|e| SnapshotFileError::io(path, e))?;
        let len = file
            .metadata()
            .map_err(|e| SnapshotFileError::io(path, e))?
            .len();
        if len < HEADER_LEN as u64 {
            let kind = FileErrorKind::Truncated {
                expected: HEADER_LEN as u64,
                found: len,
            };
            return Err(SnapshotFileError::new(Some(path), kind));
        }
        let storage = Storage::map(&file).map_err(|e| SnapshotFileError::io(path, e))?;
        Snapshot::from_storage(storage).map_err(|kind| SnapshotFileError::new(Some(path), kind))
    }

    /// Reads a snapshot file into memory (for file systems where mapping is unwanted).
    pub fn read(path: impl AsRef<Path>) -> Result<Snapshot, SnapshotFileError> {
        let path = path.as_ref();
        let bytes = fs::read(path).map_err(|e| SnapshotFileError::io(path, e))?;
        Snapshot::from_storage(Storage::copy(&bytes))
            .map_err(|kind| SnapshotFileError::new(Some(path), kind))
    }

    /// A snapshot from the bytes of a snapshot file (copied to an aligned buffer).
    pub fn from_file_bytes(bytes: &[u8]) -> Result<Snapshot, SnapshotFileError> {
        Snapshot::from_storage(Storage::copy(bytes))
            .map_err(|kind| SnapshotFileError::new(None, kind))
    }

    fn from_storage(storage: Storage) -> Result<Snapshot, FileErrorKind> {
        let bytes = storage.bytes();
        let header = read_header(bytes)?;
        let payload = bytes.get(HEADER_LEN..).unwrap_or_default();
        let archived = rkyv::access::<ArchivedBody, rancor::Error>(payload)
            .map_err(|e| FileErrorKind::Corrupt(format!("archive: {e}")))?;
        let corrupt =
            |what: &str| FileErrorKind::Corrupt(format!("header and body disagree: {what}"));
        if archived.version != header.version {
            return Err(corrupt("version"));
        }
        if archived.published_at_ns != header.published_at_ns {
            return Err(corrupt("build time"));
        }
        if archived.numbers != header.numbers {
            return Err(corrupt("number count"));
        }
        if archived.connectors.len() as u64 != header.connectors {
            return Err(corrupt("connector count"));
        }
        let slots: Vec<Option<Connector>> =
            rkyv::deserialize::<Vec<Option<Connector>>, rancor::Error>(&archived.connectors)
                .map_err(|e| FileErrorKind::Corrupt(format!("connectors: {e}")))?;
        let mut directory = Directory::default();
        directory.by_id.reserve(slots.len());
        let mut connectors = Vec::with_capacity(slots.len());
        for (slot, connector) in slots.into_iter().enumerate() {
            let slot = u32::try_from(slot)
                .ok()
                .filter(|&slot| slot < u32::MAX)
                .ok_or_else(|| corrupt("too many connectors"))?;
            let Some(connector) = connector else {
                directory.holes.push(slot);
                connectors.push(HOLE.clone());
                continue;
            };
            if directory
                .by_id
                .insert(connector.connector_id.as_str().into(), slot)
                .is_some()
            {
                return Err(FileErrorKind::Corrupt(format!(
                    "connector id {:?} appears twice",
                    connector.connector_id
                )));
            }
            connectors.push(connector);
        }
        let seed = archived.seed.to_native();
        let lens: Vec<u32> = archived.shards.iter().map(|len| len.to_native()).collect();
        let index_error = |e: String| FileErrorKind::Corrupt(format!("index: {e}"));
        let prefix_buckets: Vec<Bucket> = archived.prefix_buckets.iter().map(decode).collect();
        let prefix_lens: Vec<u32> = archived
            .prefix_shards
            .iter()
            .map(|len| len.to_native())
            .collect();
        let prefix_index = Index::decoded(
            archived.prefix_seed.to_native(),
            &prefix_buckets,
            &prefix_lens,
        )
        .map_err(|e| FileErrorKind::Corrupt(format!("prefixes: {e}")))?;
        let index = Indexes {
            numbers: (),
            prefixes: prefix_index,
        };
        let (start, buckets) = match plan_table(bytes, &archived.buckets) {
            TablePlan::InPlace { start, buckets } => (start, buckets),
            TablePlan::Decoded(buckets) => {
                let numbers = Index::decoded(seed, &buckets, &lens).map_err(index_error)?;
                return finish(header, connectors, directory, index.with(numbers));
            }
        };
        if table::bucket_slice(bytes, start, buckets).is_none() {
            return Err(FileErrorKind::Corrupt("the index is misaligned".into()));
        }
        let stored = StoredBuckets {
            storage: Arc::new(storage),
            start,
            buckets,
        };
        let numbers = Index::stored(seed, stored, &lens).map_err(index_error)?;
        finish(header, connectors, directory, index.with(numbers))
    }
}

/// The two indexes of a file: numbers (`N`, once read) and prefixes.
struct Indexes<N> {
    numbers: N,
    prefixes: Index,
}

impl Indexes<()> {
    fn with(self, numbers: Index) -> Indexes<Index> {
        Indexes {
            numbers,
            prefixes: self.prefixes,
        }
    }
}

/// The shards of `index` back to back, and each one's length in buckets.
fn too_large() -> SnapshotFileError {
    SnapshotFileError::new(None, FileErrorKind::Corrupt("a shard is too large".into()))
}

/// The bytes written through it, counted and checksummed on their way to `inner`.
struct Checksummed<'a, W> {
    inner: &'a mut W,
    crc: crc32fast::Hasher,
    len: u64,
}

impl<W: Write> Write for Checksummed<'_, W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(bytes)?;
        let written = bytes.get(..n).unwrap_or_default();
        self.crc.update(written);
        self.len += written.len() as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The number index's shards, archived as one `Vec<Bucket>` (the shards back to back),
/// serialized from where they are.
struct Shards<'a>(&'a Index);

impl Archive for Shards<'_> {
    type Archived = ArchivedVec<ArchivedBucket>;
    type Resolver = VecResolver;

    fn resolve(&self, resolver: VecResolver, out: Place<Self::Archived>) {
        let len = self.0.tables().map(<[Bucket]>::len).sum();
        ArchivedVec::resolve_from_len(len, resolver, out);
    }
}

impl<S> Serialize<S> for Shards<'_>
where
    S: Fallible + Allocator + ArchiveWriter + ?Sized,
    S::Error: rancor::Source,
{
    /// Each shard is serialized as a slice, right after the one before: an archived bucket
    /// is 64 bytes and aligned to fewer, so no padding comes between them, and the shards
    /// read back as one array (checked here, so that a change of layout cannot write a
    /// file that reads wrong).
    fn serialize(&self, serializer: &mut S) -> Result<VecResolver, S::Error> {
        const _: () = assert!(std::mem::size_of::<ArchivedBucket>() == 64);
        serializer.align_for::<ArchivedBucket>()?;
        let first = serializer.pos();
        let mut next = first;
        for table in self.0.tables().filter(|table| !table.is_empty()) {
            let at = table.serialize_unsized(serializer)?;
            if at != next {
                return Err(<S::Error as rancor::Source>::new(io::Error::other(
                    "the shards' buckets were not written back to back",
                )));
            }
            next = at + std::mem::size_of_val(table);
        }
        Ok(VecResolver::from_pos(first))
    }
}

fn flatten(index: &Index) -> Result<(Vec<Bucket>, Vec<u32>), SnapshotFileError> {
    let mut buckets = Vec::with_capacity(index.bytes() / std::mem::size_of::<Bucket>());
    let mut shards = Vec::with_capacity(index.shard_count());
    for table in index.tables() {
        buckets.extend_from_slice(table);
        shards.push(u32::try_from(table.len()).map_err(|_| too_large())?);
    }
    Ok((buckets, shards))
}

/// An archived bucket, decoded.
fn decode(b: &ArchivedBucket) -> Bucket {
    Bucket {
        keys: b.keys.map(|k| k.to_native()),
        values: b.values.map(|v| v.to_native()),
        spilled: b.spilled.to_native(),
    }
}

/// The snapshot of a file whose header, connectors and indexes were read: the indexes are
/// validated against the connectors and the header's number count.
fn finish(
    header: Header,
    connectors: Vec<Connector>,
    directory: Directory,
    indexes: Indexes<Index>,
) -> Result<Snapshot, FileErrorKind> {
    let mut routed = vec![0u32; connectors.len()];
    let index = indexes.numbers;
    let numbers = index
        .validate(&mut routed)
        .map_err(|e| FileErrorKind::Corrupt(format!("index: {e}")))?;
    let prefixes = Prefixes::validated(indexes.prefixes, &mut routed)
        .map_err(|e| FileErrorKind::Corrupt(format!("prefixes: {e}")))?;
    if numbers as u64 != header.numbers {
        return Err(FileErrorKind::Corrupt(
            "header and body disagree: the index holds a different number count".into(),
        ));
    }
    if let Some(slot) = directory
        .holes
        .iter()
        .find(|&&slot| routed.get(slot as usize).is_some_and(|&n| n > 0))
    {
        return Err(FileErrorKind::Corrupt(format!(
            "index: numbers or prefixes route to removed connector slot {slot}"
        )));
    }
    Ok(Snapshot {
        version: header.version,
        published_at_ns: header.published_at_ns,
        numbers,
        connectors: connectors.into(),
        directory: Arc::new(directory),
        routed: routed.into(),
        index,
        prefixes,
    })
}

/// Whether the buckets are probed in place (little-endian hosts, where the archived layout
/// is the native one) or decoded to the heap (big-endian hosts).
enum TablePlan {
    InPlace { start: usize, buckets: usize },
    Decoded(Box<[Bucket]>),
}

fn plan_table(bytes: &[u8], archived: &rkyv::vec::ArchivedVec<ArchivedBucket>) -> TablePlan {
    let slice = archived.as_slice();
    if cfg!(target_endian = "little") {
        TablePlan::InPlace {
            start: (slice.as_ptr() as usize).wrapping_sub(bytes.as_ptr() as usize),
            buckets: slice.len(),
        }
    } else {
        TablePlan::Decoded(slice.iter().map(decode).collect())
    }
}

fn read_header(bytes: &[u8]) -> Result<Header, FileErrorKind> {
    let found = bytes.len() as u64;
    if bytes.len() < HEADER_LEN {
        if bytes.len() >= MAGIC.len() && bytes.get(..MAGIC.len()) != Some(&MAGIC[..]) {
            return Err(FileErrorKind::NotASnapshot);
        }
        return Err(FileErrorKind::Truncated {
            expected: HEADER_LEN as u64,
            found,
        });
    }
    if bytes.get(..MAGIC.len()) != Some(&MAGIC[..]) {
        return Err(FileErrorKind::NotASnapshot);
    }
    let format = le_u32(bytes, 8);
    if format != FORMAT_VERSION {
        return Err(FileErrorKind::UnsupportedFormat { found: format });
    }
    if le_u32(bytes, 12) as usize != HEADER_LEN {
        return Err(FileErrorKind::Corrupt("header length is not 64".into()));
    }
    let header = Header {
        payload_len: le_u64(bytes, 16),
        numbers: le_u64(bytes, 24),
        connectors: le_u64(bytes, 32),
        version: le_u64(bytes, 40),
        published_at_ns: le_u64(bytes, 48),
        checksum: le_u32(bytes, CHECKSUM_AT),
    };
    let expected = (HEADER_LEN as u64).saturating_add(header.payload_len);
    if found < expected {
        return Err(FileErrorKind::Truncated { expected, found });
    }
    if found > expected {
        return Err(FileErrorKind::TrailingBytes { expected, found });
    }
    let payload = bytes.get(HEADER_LEN..).unwrap_or_default();
    let computed = checksum(bytes, payload);
    if computed != header.checksum {
        return Err(FileErrorKind::ChecksumMismatch {
            stored: header.checksum,
            computed,
        });
    }
    if le_u32(bytes, 60) != 0 {
        return Err(FileErrorKind::Corrupt(
            "reserved header bytes are not zero".into(),
        ));
    }
    Ok(header)
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, fsync,
/// rename over `path`, then fsync of the directory so the rename itself is durable. Readers
/// see the old file or the new one, never a mix; a crash leaves one of the two. This is the
/// protocol of snapshot files, shared with anything else that must be replaced whole.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomically_with(path, |file| file.write_all(bytes))
}

/// [`write_atomically`] of what `write` writes to the temporary file.
fn write_atomically_with(
    path: &Path,
    write: impl FnOnce(&mut File) -> io::Result<()>,
) -> io::Result<()> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp.{}.{}", std::process::id(), super::now_ns()));
    let tmp = dir.join(tmp_name);
    let result = (|| {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        write(&mut file)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        File::open(&dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// A snapshot file that could not be read or written, and the file's path when known.
#[derive(Debug, thiserror::Error)]
#[error("{}{kind}", path.as_ref().map(|p| format!("snapshot file {}: ", p.display())).unwrap_or_default())]
pub struct SnapshotFileError {
    path: Option<PathBuf>,
    #[source]
    kind: FileErrorKind,
}

impl SnapshotFileError {
    fn new(path: Option<&Path>, kind: FileErrorKind) -> Self {
        SnapshotFileError {
            path: path.map(Path::to_path_buf),
            kind,
        }
    }

    pub(crate) fn io(path: &Path, err: io::Error) -> Self {
        SnapshotFileError::new(Some(path), FileErrorKind::Io(err))
    }

    /// What went wrong.
    pub fn kind(&self) -> &FileErrorKind {
        &self.kind
    }

    /// The file, when the error concerns one.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }
}

/// What is wrong with a snapshot file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileErrorKind {
    /// Reading or writing failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The file does not start with the snapshot magic: it is some other file.
    #[error("not a patchbay snapshot (bad magic): check the path")]
    NotASnapshot,
    /// Written by a format this build does not read.
    #[error("snapshot format {found} is not supported (this build reads format {supported}): re-export it with a matching patchbay", supported = FORMAT_VERSION)]
    UnsupportedFormat {
        /// The format version in the file.
        found: u32,
    },
    /// Shorter than its header says: a partial copy or an interrupted write.
    #[error("truncated: {found} bytes, expected {expected}; re-export the snapshot")]
    Truncated {
        /// Length the header promises.
        expected: u64,
        /// Actual length.
        found: u64,
    },
    /// Longer than its header says.
    #[error("{found} bytes, expected {expected}: trailing bytes after the snapshot")]
    TrailingBytes {
        /// Length the header promises.
        expected: u64,
        /// Actual length.
        found: u64,
    },
    /// The bytes changed after they were written.
    #[error(
        "checksum mismatch (stored {stored:#010x}, computed {computed:#010x}): the file is corrupt"
    )]
    ChecksumMismatch {
        /// Checksum in the header.
        stored: u32,
        /// Checksum of the bytes.
        computed: u32,
    },
    /// The checksum matches but the contents break the format's rules.
    #[error("corrupt: {0}")]
    Corrupt(String),
}

#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    /// The checksum a whole file's header should carry.
    pub(crate) fn checksum(file: &[u8]) -> u32 {
        super::checksum(file, file.get(super::HEADER_LEN..).unwrap_or_default())
    }

    /// The file of `snapshot` made the plain way, to hold [`Snapshot::write_file`] to: the
    /// shards copied into one `Vec<Bucket>`, the body archived whole in memory, and the
    /// header computed over it.
    pub(crate) fn reference_file(snapshot: &Snapshot) -> Vec<u8> {
        let (buckets, shards) = flatten(&snapshot.index).expect("flatten");
        let (prefix_buckets, prefix_shards) = flatten(snapshot.prefixes.index()).expect("flatten");
        let connectors = snapshot.connector_slots();
        let body: Body = Body {
            buckets,
            shards,
            version: snapshot.version,
            published_at_ns: snapshot.published_at_ns,
            seed: snapshot.index.seed(),
            numbers: snapshot.numbers as u64,
            connectors,
            prefix_buckets,
            prefix_shards,
            prefix_seed: snapshot.prefixes.index().seed(),
        };
        let payload = rkyv::to_bytes::<rancor::Error>(&body).expect("archive");
        let mut file = Vec::new();
        file.extend_from_slice(&MAGIC);
        file.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        file.extend_from_slice(&(HEADER_LEN as u32).to_le_bytes());
        file.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        file.extend_from_slice(&(snapshot.numbers as u64).to_le_bytes());
        file.extend_from_slice(&(snapshot.connectors.len() as u64).to_le_bytes());
        file.extend_from_slice(&snapshot.version.to_le_bytes());
        file.extend_from_slice(&snapshot.published_at_ns.to_le_bytes());
        let crc = super::checksum(&file, &payload);
        file.extend_from_slice(&crc.to_le_bytes());
        file.extend_from_slice(&0u32.to_le_bytes());
        file.extend_from_slice(&payload);
        file
    }
}
