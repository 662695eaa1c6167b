//! The journal: records in segment files, each segment named by the first position it may
//! hold (`journal.00000000000000000001.log`).
//!
//! A record is `PBJ1`, payload length (u32), log position (u64), CRC-32 of the position and
//! payload (u32), then the payload; integers little-endian. A new segment starts at each
//! checkpoint, so a checkpoint never waits for the journal to be cut, and the segments a
//! checkpoint covers are deleted whole once a later one is durable.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use super::super::{io_err, Records, StoreError, RECORD_HEADER};

pub(crate) const RECORD_MAGIC: &[u8; 4] = b"PBJ1";
/// The largest payload a record may have (a bulk change of every number fits many times).
pub(crate) const MAX_RECORD: usize = 1 << 30;

const PREFIX: &str = "journal.";
const SUFFIX: &str = ".log";

/// The file name of the segment whose first position is `start`.
pub(crate) fn segment_name(start: u64) -> String {
    format!("{PREFIX}{start:020}{SUFFIX}")
}

/// The first position of a segment, from its file name.
pub(crate) fn segment_start(name: &str) -> Option<u64> {
    let digits = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// Parses the record at `at`: its position, payload and the offset after it.
pub(crate) fn parse_record(bytes: &[u8], at: usize) -> Result<(u64, &[u8], usize), String> {
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
pub(crate) fn encode_record(position: u64, payload: &[u8], out: &mut Vec<u8>) {
    let mut crc = crc32fast::Hasher::new();
    crc.update(&position.to_le_bytes());
    crc.update(payload);
    out.extend_from_slice(RECORD_MAGIC);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&position.to_le_bytes());
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.extend_from_slice(payload);
}

/// A segment as read: its records, and where its last whole record ends.
pub(crate) struct Segment {
    pub(crate) records: Records,
    /// The length of the segment's whole records; bytes past it are a torn tail.
    pub(crate) whole: u64,
    /// What the torn tail was, when there is one.
    pub(crate) torn: Option<String>,
}

/// Reads the segment at `path` (a missing file reads as empty). A bad record followed by a
/// good one is damage to acknowledged data: an error naming the offset. A bad record at
/// the very end is a torn tail: an append a crash cut short, never acknowledged (or, read
/// beside a running owner, one being written right now).
pub(crate) fn read_segment(path: &Path) -> Result<Segment, StoreError> {
    let mut bytes = Vec::new();
    match File::open(path) {
        Ok(mut file) => {
            file.read_to_end(&mut bytes).map_err(io_err(path))?;
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(path)(e)),
    }
    let mut records = Vec::new();
    let mut at = 0usize;
    let mut torn = None;
    while at < bytes.len() {
        match parse_record(&bytes, at) {
            Ok((position, payload, next)) => {
                records.push((position, payload.to_vec()));
                at = next;
            }
            Err(what) => {
                if let Some(later) = next_valid_record(&bytes, at + 1) {
                    return Err(StoreError::Corrupt {
                        path: path.to_path_buf(),
                        offset: at as u64,
                        what: format!("{what}, and a valid record follows at offset {later}"),
                    });
                }
                torn = Some(format!("{} bytes, {what}", bytes.len() - at));
                break;
            }
        }
    }
    Ok(Segment {
        records,
        whole: at as u64,
        torn,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_sort_by_position_and_read_back() {
        assert_eq!(segment_name(1), "journal.00000000000000000001.log");
        assert_eq!(segment_start(&segment_name(u64::MAX)), Some(u64::MAX));
        assert!(segment_name(9) < segment_name(10));
        for bad in [
            "journal.log",
            "journal.1.log",
            "journal.0000000000000000000x.log",
        ] {
            assert_eq!(segment_start(bad), None, "{bad}");
        }
    }
}
