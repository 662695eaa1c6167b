//! The model stored in the database as a checkpoint, so that a new node loads a few large
//! values and the log after them instead of a row per number.
//!
//! A checkpoint here is the bytes of a node's own checkpoint (`model/checkpoint.rs`: fuzzy,
//! exact once the changes after its position are replayed) in `patchbay.checkpoints` (its
//! position, the node that wrote it, its size and CRC-32) and `patchbay.checkpoint_parts` (the bytes,
//! [`PART`] at a time). One transaction writes it whole and then drops the older ones, so a
//! reader sees a whole checkpoint or none.
//!
//! Nodes offer one when their own checkpoint is due, and a node that had to load the
//! tables offers one at once. [`Postgres::upload_checkpoint`] takes it only when it is due:
//! no other node is writing one (an advisory lock held to the commit), and the newest
//! stored is missing, no longer followed by the whole log, or followed by at least the
//! given bytes of changes.
//!
//! The tables stay the store's truth: a checkpoint that cannot be read, or that the pruned
//! log no longer follows, is passed over and the node loads the tables.

use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, Statement, Transaction};

use super::{failed, position, Postgres};
use crate::store::SharedError;

/// The bytes of one row of `checkpoint_parts`.
pub(super) const PART: usize = 1 << 20;
/// The advisory lock the node writing a checkpoint holds, to its commit.
const UPLOAD_LOCK: i64 = 7_071_746_368_626_181;

/// A checkpoint on its way into the database: parts are inserted as the bytes come, in one
/// transaction that [`Upload::finish`] commits. Dropped unfinished, the connection closes
/// and the transaction with it: nothing is kept.
pub(crate) struct Upload {
    client: Client,
    insert: Statement,
    position: u64,
    part: i32,
    size: u64,
    crc: crc32fast::Hasher,
    buffer: Vec<u8>,
}

impl Postgres {
    /// Starts storing a checkpoint at `position` when one is due: none is being written,
    /// and the newest stored is older than `position` and either unusable (the log no
    /// longer reaches back to it) or followed by at least `due_bytes` of changes up to
    /// `position`. `None`: not due.
    pub(crate) fn upload_checkpoint(
        &self,
        position_at: u64,
        due_bytes: u64,
    ) -> Result<Option<Upload>, SharedError> {
        let mut client = self.client()?;
        client.batch_execute("BEGIN").map_err(failed)?;
        let at = position(position_at);
        let mut one = |sql: &str, params: &[&(dyn postgres::types::ToSql + Sync)]| {
            client
                .query_one(sql, params)
                .and_then(|row| row.try_get::<_, i64>(0))
                .map_err(failed)
        };
        let locked = one(
            "SELECT pg_try_advisory_xact_lock($1)::int::bigint",
            &[&UPLOAD_LOCK],
        )?;
        if locked == 0 {
            return Ok(None);
        }
        let newest = one(
            "SELECT coalesce(max(position), -1) FROM patchbay.checkpoints",
            &[],
        )?;
        if newest >= at {
            return Ok(None);
        }
        if newest >= 0 {
            let oldest = one(
                "SELECT coalesce(min(position), 0) FROM patchbay.changes",
                &[],
            )?;
            let usable = oldest <= newest + 1;
            let since = one(
                "SELECT coalesce(sum(coalesce(octet_length(packed), \
                 octet_length(change::text))), 0)::bigint \
                 FROM patchbay.changes WHERE position > $1 AND position <= $2",
                &[&newest, &at],
            )?;
            if usable && (since as u64) < due_bytes {
                return Ok(None);
            }
        }
        client
            .execute(
                "INSERT INTO patchbay.checkpoints (position, node, size, crc32) \
                 VALUES ($1, $2, 0, 0)",
                &[&at, &self.node],
            )
            .map_err(failed)?;
        let insert = client
            .prepare(
                "INSERT INTO patchbay.checkpoint_parts (position, part, bytes) \
                 VALUES ($1, $2, $3)",
            )
            .map_err(failed)?;
        Ok(Some(Upload {
            client,
            insert,
            position: position_at,
            part: 0,
            size: 0,
            crc: crc32fast::Hasher::new(),
            buffer: Vec::with_capacity(PART),
        }))
    }
}

impl Upload {
    /// The position of the checkpoint.
    pub(crate) fn position(&self) -> u64 {
        self.position
    }

    /// Appends `bytes` to the checkpoint.
    pub(crate) fn write(&mut self, mut bytes: &[u8]) -> Result<(), SharedError> {
        while !bytes.is_empty() {
            let room = PART - self.buffer.len();
            let (now, rest) = bytes.split_at(room.min(bytes.len()));
            self.buffer.extend_from_slice(now);
            bytes = rest;
            if self.buffer.len() == PART {
                self.flush()?;
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SharedError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        self.client
            .execute(
                &self.insert,
                &[&position(self.position), &self.part, &self.buffer],
            )
            .map_err(failed)?;
        self.size += self.buffer.len() as u64;
        self.crc.update(&self.buffer);
        self.part += 1;
        self.buffer.clear();
        Ok(())
    }

    /// Stores the rest, drops the older checkpoints and commits: returns the size stored.
    pub(crate) fn finish(mut self) -> Result<u64, SharedError> {
        self.flush()?;
        let at = position(self.position);
        let size = i64::try_from(self.size).unwrap_or(i64::MAX);
        let crc = i64::from(self.crc.clone().finalize());
        self.client
            .execute(
                "UPDATE patchbay.checkpoints SET size = $2, crc32 = $3 WHERE position = $1",
                &[&at, &size, &crc],
            )
            .map_err(failed)?;
        self.client
            .execute(
                "DELETE FROM patchbay.checkpoints WHERE position < $1",
                &[&at],
            )
            .map_err(failed)?;
        self.client.batch_execute("COMMIT").map_err(failed)?;
        Ok(self.size)
    }
}

/// The newest stored checkpoint no newer than `head`, read in `tx`: its position and
/// bytes. The parts are streamed into one buffer of the size recorded.
pub(super) fn newest(
    tx: &mut Transaction<'_>,
    head: u64,
) -> Result<Option<(u64, Vec<u8>)>, SharedError> {
    let Some(row) = tx
        .query_opt(
            "SELECT position, size, crc32 FROM patchbay.checkpoints WHERE position <= $1 \
             ORDER BY position DESC LIMIT 1",
            &[&position(head)],
        )
        .map_err(failed)?
    else {
        return Ok(None);
    };
    let at: i64 = row.try_get(0).map_err(failed)?;
    let size: i64 = row.try_get(1).map_err(failed)?;
    let crc: i64 = row.try_get(2).map_err(failed)?;
    let size = usize::try_from(size).unwrap_or(0);
    let mut bytes = Vec::with_capacity(size);
    let mut parts = tx
        .query_raw(
            "SELECT part, bytes FROM patchbay.checkpoint_parts WHERE position = $1 \
             ORDER BY part",
            [&at],
        )
        .map_err(failed)?;
    let mut expected = 0i32;
    while let Some(row) = parts.next().map_err(failed)? {
        let part: i32 = row.try_get(0).map_err(failed)?;
        let chunk: &[u8] = row.try_get(1).map_err(failed)?;
        if part != expected {
            return Err(SharedError::Refused(format!(
                "patchbay.checkpoint_parts: checkpoint {at} lacks part {expected}"
            )));
        }
        bytes.extend_from_slice(chunk);
        expected += 1;
    }
    if bytes.len() != size {
        return Err(SharedError::Refused(format!(
            "patchbay.checkpoint_parts: checkpoint {at} holds {} bytes, not {size}",
            bytes.len()
        )));
    }
    let found = crc32fast::hash(&bytes);
    if i64::from(found) != crc {
        return Err(SharedError::Refused(format!(
            "patchbay.checkpoint_parts: checkpoint {at} is damaged (CRC-32 {found:08x}, \
             recorded {crc:08x})"
        )));
    }
    Ok(Some((at as u64, bytes)))
}
