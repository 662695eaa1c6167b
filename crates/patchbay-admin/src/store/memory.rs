//! [`MemoryStore`]: everything in memory, nothing durable; [`Discard`]: nothing at all.

use patchbay_core::Snapshot;

use super::{Loaded, Records, Store, StoreError, RECORD_HEADER};

/// A store that keeps everything in memory: for tests, benchmarks and embedders that do
/// not need durability. Dropping it loses everything.
#[derive(Debug, Default)]
pub struct MemoryStore {
    checkpoint: Option<(u64, Vec<u8>)>,
    records: Records,
    journal_len: u64,
}

impl Store for MemoryStore {
    fn load(&mut self) -> Result<Loaded, StoreError> {
        Ok(Loaded {
            checkpoint: self.checkpoint.clone(),
            records: self.records.clone(),
            warnings: Vec::new(),
        })
    }

    fn append_group(&mut self, records: &[(u64, Vec<u8>)]) -> Result<(), StoreError> {
        for (position, payload) in records {
            self.journal_len += (RECORD_HEADER + payload.len()) as u64;
            self.records.push((*position, payload.clone()));
        }
        Ok(())
    }

    fn checkpoint(&mut self, position: u64, model: &[u8], _: &Snapshot) -> Result<(), StoreError> {
        self.checkpoint = Some((position, model.to_vec()));
        self.records.retain(|(s, _)| *s > position);
        self.journal_len = 0;
        Ok(())
    }

    fn journal_len(&self) -> u64 {
        self.journal_len
    }
}

/// A store that keeps nothing: for a process that follows another's store and has nothing
/// of its own to keep ([`crate::Admin::open_following`]). It loads empty and takes every
/// change and checkpoint without keeping it.
#[derive(Debug, Default)]
pub struct Discard;

impl Store for Discard {
    fn load(&mut self) -> Result<Loaded, StoreError> {
        Ok(Loaded::default())
    }

    fn append_group(&mut self, _: &[(u64, Vec<u8>)]) -> Result<(), StoreError> {
        Ok(())
    }

    fn checkpoint(&mut self, _: u64, _: &[u8], _: &Snapshot) -> Result<(), StoreError> {
        Ok(())
    }

    fn journal_len(&self) -> u64 {
        0
    }
}
