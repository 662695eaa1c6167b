//! PostgreSQL's binary `COPY` format, both ways: how a node takes the numbers table whole
//! (`CopyReader`), and how a bulk change inserts its new numbers (`CopyRows`). One stream
//! of rows with no message or row object per row, where a query hands each row over as a
//! message of its own: at ten million rows that overhead was most of a load; and an insert
//! with no conflict to look for, where `INSERT ... ON CONFLICT` checks each row.
//!
//! The format: the signature `PGCOPY\n\xff\r\n\0`, a 32-bit flags field, a 32-bit header
//! extension length and the extension; then each row as a 16-bit field count and, per
//! field, a 32-bit length (`-1`: NULL) and its bytes; then a count of `-1`. Integers are
//! big-endian. A text column's bytes are its UTF-8 text.

use std::io::{BufReader, Read};

/// The file signature every binary `COPY` stream starts with.
const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";
/// The flags bit saying each row carries an OID (never asked for here).
const HAS_OIDS: u32 = 1 << 16;
/// The longest field taken: the columns read are numbers and ids, a few dozen bytes.
const MAX_FIELD: usize = 1 << 20;

/// Why a stream could not be read.
#[derive(Debug)]
pub(super) enum CopyError {
    /// Reading failed (the connection, or the server's error, inside).
    Io(std::io::Error),
    /// The bytes are not the format.
    Format(String),
}

impl std::fmt::Display for CopyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CopyError::Io(error) => write!(f, "{error}"),
            CopyError::Format(what) => write!(f, "not a binary COPY stream: {what}"),
        }
    }
}

/// A binary `COPY` stream of rows of `columns` fields, read a row at a time into buffers
/// that every row reuses.
pub(super) struct CopyReader<R> {
    inner: BufReader<R>,
    fields: Vec<Vec<u8>>,
    present: Vec<bool>,
}

impl<R: Read> CopyReader<R> {
    /// Reads the header of `reader`, whose rows have `columns` fields.
    pub(super) fn new(reader: R, columns: usize) -> Result<CopyReader<R>, CopyError> {
        let mut inner = BufReader::with_capacity(1 << 20, reader);
        let mut signature = [0u8; 11];
        read_exact(&mut inner, &mut signature)?;
        if &signature != SIGNATURE {
            return Err(CopyError::Format("the signature is missing".into()));
        }
        let flags = read_u32(&mut inner)?;
        if flags & HAS_OIDS != 0 {
            return Err(CopyError::Format("rows carry OIDs".into()));
        }
        let extension = read_u32(&mut inner)? as usize;
        if extension > MAX_FIELD {
            return Err(CopyError::Format(format!(
                "a header extension of {extension} bytes"
            )));
        }
        let mut skipped = vec![0u8; extension];
        read_exact(&mut inner, &mut skipped)?;
        Ok(CopyReader {
            inner,
            fields: vec![Vec::new(); columns],
            present: vec![false; columns],
        })
    }

    /// Reads the next row; `false` at the end of the stream.
    pub(super) fn next(&mut self) -> Result<bool, CopyError> {
        let mut count = [0u8; 2];
        read_exact(&mut self.inner, &mut count)?;
        let count = i16::from_be_bytes(count);
        if count == -1 {
            return Ok(false);
        }
        if usize::try_from(count).ok() != Some(self.fields.len()) {
            return Err(CopyError::Format(format!(
                "a row of {count} fields, where {} were asked for",
                self.fields.len()
            )));
        }
        for (field, present) in self.fields.iter_mut().zip(self.present.iter_mut()) {
            let len = read_u32(&mut self.inner)? as i32;
            field.clear();
            *present = len >= 0;
            if len < 0 {
                continue;
            }
            let len = len as usize;
            if len > MAX_FIELD {
                return Err(CopyError::Format(format!("a field of {len} bytes")));
            }
            field.resize(len, 0);
            read_exact(&mut self.inner, field)?;
        }
        Ok(true)
    }

    /// Field `at` of the row read last: `None` for NULL (or no such field).
    pub(super) fn field(&self, at: usize) -> Option<&[u8]> {
        match (self.present.get(at), self.fields.get(at)) {
            (Some(true), Some(field)) => Some(field),
            _ => None,
        }
    }
}

/// Rows written as a binary `COPY` stream, into memory.
pub(super) struct CopyRows {
    out: Vec<u8>,
}

impl CopyRows {
    /// The header, with room for about `rows` rows of `row_bytes` bytes each.
    pub(super) fn new(rows: usize, row_bytes: usize) -> CopyRows {
        let mut out = Vec::with_capacity(SIGNATURE.len() + 10 + rows.saturating_mul(row_bytes));
        out.extend_from_slice(SIGNATURE);
        out.extend(0u32.to_be_bytes());
        out.extend(0u32.to_be_bytes());
        CopyRows { out }
    }

    /// Appends a row: each field's bytes, or `None` for NULL. A field is a text column's
    /// UTF-8 text, never near the format's 2 GB limit.
    pub(super) fn row(&mut self, fields: &[Option<&[u8]>]) {
        self.out
            .extend((fields.len().min(i16::MAX as usize) as i16).to_be_bytes());
        for field in fields {
            match field {
                Some(bytes) => {
                    self.out
                        .extend((bytes.len().min(i32::MAX as usize) as i32).to_be_bytes());
                    self.out.extend_from_slice(bytes);
                }
                None => self.out.extend((-1i32).to_be_bytes()),
            }
        }
    }

    /// The whole stream, with its trailer.
    pub(super) fn finish(mut self) -> Vec<u8> {
        self.out.extend((-1i16).to_be_bytes());
        self.out
    }
}

fn read_exact(reader: &mut impl Read, into: &mut [u8]) -> Result<(), CopyError> {
    reader.read_exact(into).map_err(|error| {
        if error.kind() == std::io::ErrorKind::UnexpectedEof {
            CopyError::Format("the stream ends in the middle of a row".into())
        } else {
            CopyError::Io(error)
        }
    })
}

fn read_u32(reader: &mut impl Read) -> Result<u32, CopyError> {
    let mut bytes = [0u8; 4];
    read_exact(reader, &mut bytes)?;
    Ok(u32::from_be_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The binary COPY stream of `rows`, as the server writes it.
    fn stream(rows: &[Vec<Option<&[u8]>>]) -> Vec<u8> {
        let mut out = SIGNATURE.to_vec();
        out.extend(0u32.to_be_bytes());
        out.extend(0u32.to_be_bytes());
        for row in rows {
            out.extend((row.len() as i16).to_be_bytes());
            for field in row {
                match field {
                    Some(bytes) => {
                        out.extend((bytes.len() as i32).to_be_bytes());
                        out.extend_from_slice(bytes);
                    }
                    None => out.extend((-1i32).to_be_bytes()),
                }
            }
        }
        out.extend((-1i16).to_be_bytes());
        out
    }

    fn read_all(bytes: &[u8], columns: usize) -> Result<Vec<Vec<Option<Vec<u8>>>>, CopyError> {
        let mut reader = CopyReader::new(bytes, columns)?;
        let mut rows = Vec::new();
        while reader.next()? {
            rows.push(
                (0..columns)
                    .map(|at| reader.field(at).map(<[u8]>::to_vec))
                    .collect(),
            );
        }
        Ok(rows)
    }

    #[test]
    fn rows_and_nulls_are_read_back() {
        let rows = vec![
            vec![Some(&b"+442079460001"[..]), Some(b"default"), None],
            vec![Some(&b"+12025550123"[..]), Some(b""), Some(b"conn_1")],
        ];
        let read = read_all(&stream(&rows), 3).expect("read");
        let expected: Vec<Vec<Option<Vec<u8>>>> = rows
            .iter()
            .map(|row| row.iter().map(|f| f.map(<[u8]>::to_vec)).collect())
            .collect();
        assert_eq!(read, expected);
        assert_eq!(read_all(&stream(&[]), 3).expect("empty").len(), 0);
    }

    #[test]
    fn rows_written_are_the_format() {
        let rows = vec![
            vec![Some(&b"+442079460001"[..]), Some(b"default"), None],
            vec![Some(&b"+12025550123"[..]), Some(b""), Some(b"conn_1")],
        ];
        let mut written = CopyRows::new(rows.len(), 40);
        rows.iter().for_each(|row| written.row(row));
        assert_eq!(written.finish(), stream(&rows));
        assert_eq!(CopyRows::new(0, 0).finish(), stream(&[]));
    }

    #[test]
    fn what_is_not_the_format_is_refused() {
        let good = stream(&[vec![Some(&b"+442079460001"[..]), None]]);
        let cut = &good[..good.len() - 5];
        assert!(matches!(read_all(cut, 2), Err(CopyError::Format(_))));
        assert!(matches!(read_all(&good, 3), Err(CopyError::Format(_))));
        let mut unsigned = good.clone();
        unsigned[0] = b'X';
        assert!(matches!(read_all(&unsigned, 2), Err(CopyError::Format(_))));
        let mut huge = stream(&[vec![Some(&b"x"[..])]]);
        let at = SIGNATURE.len() + 8 + 2;
        huge[at..at + 4].copy_from_slice(&(i32::MAX).to_be_bytes());
        assert!(matches!(read_all(&huge, 1), Err(CopyError::Format(_))));
    }

    proptest! {
        #[test]
        fn any_bytes_are_read_or_refused_never_a_panic(
            tail in proptest::collection::vec(any::<u8>(), 0..256),
            columns in 0usize..5,
        ) {
            let mut bytes = SIGNATURE.to_vec();
            bytes.extend(0u32.to_be_bytes());
            bytes.extend(0u32.to_be_bytes());
            bytes.extend(tail);
            let _ = read_all(&bytes, columns);
        }
    }
}
