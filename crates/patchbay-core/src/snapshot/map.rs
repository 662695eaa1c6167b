//! The bytes behind a stored snapshot: a read-only file mapping or an aligned heap copy.
//!
//! This is the one module of the crate with `unsafe`: mapping a file. Everything read from
//! the bytes is validated (checksum, rkyv's bytecheck, the index invariants) before a
//! snapshot is handed out, and lookups reach the index through `bytemuck`'s checked casts.

#![allow(unsafe_code)]

use std::fs::File;
use std::io;

/// Alignment of heap copies: one cache line, like the index buckets inside.
const ALIGN: usize = 64;

/// The bytes of a snapshot file.
pub(crate) enum Storage {
    /// A read-only shared mapping of the file.
    Mapped(memmap2::Mmap),
    /// A copy on the heap, aligned like a mapping's start.
    Owned(rkyv::util::AlignedVec<ALIGN>),
}

impl Storage {
    /// Maps `file` read-only.
    pub(crate) fn map(file: &File) -> io::Result<Storage> {
        // SAFETY: `Mmap::map` is unsafe because the bytes change if another process writes
        // or truncates the file in place while it is mapped. patchbay never does: snapshot
        // files are written to a temporary file and renamed over the old one
        // (`Snapshot::write_to`), so a mapped inode is never modified, only unlinked, and an
        // unlinked inode stays valid until unmapped. The mapping is read-only, and every
        // value read from it is validated before use, so even altered bytes cannot cause
        // undefined behaviour through this crate's code paths beyond what the OS does to a
        // process whose mapped file shrinks (SIGBUS), which the writer's protocol excludes.
        let map = unsafe { memmap2::Mmap::map(file)? };
        Ok(Storage::Mapped(map))
    }

    /// Copies `bytes` to an aligned heap buffer.
    pub(crate) fn copy(bytes: &[u8]) -> Storage {
        let mut owned = rkyv::util::AlignedVec::<ALIGN>::with_capacity(bytes.len());
        owned.extend_from_slice(bytes);
        Storage::Owned(owned)
    }

    /// The bytes.
    #[inline]
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Storage::Mapped(map) => map,
            Storage::Owned(vec) => vec,
        }
    }
}
