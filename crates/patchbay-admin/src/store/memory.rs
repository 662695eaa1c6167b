//! [`MemoryStore`]: everything in memory, nothing durable.

use std::sync::Arc;

use parking_lot::Mutex;
use patchbay_core::Snapshot;

use super::{Checkpoint, CheckpointWriter, Loaded, Records, Store, StoreError, RECORD_HEADER};

#[derive(Debug, Default)]
struct Kept {
    checkpoint: Option<Checkpoint>,
    records: Records,
    /// Bytes appended, and the part of them a finished checkpoint covers.
    appended: u64,
    checkpointed: u64,
}

/// A store that keeps everything in memory: for tests, benchmarks and embedders that do
/// not need durability. Dropping it loses everything.
#[derive(Debug, Default)]
pub struct MemoryStore {
    kept: Arc<Mutex<Kept>>,
}

impl Store for MemoryStore {
    fn load(&mut self) -> Result<Loaded, StoreError> {
        let kept = self.kept.lock();
        Ok(Loaded {
            checkpoint: kept.checkpoint.clone(),
            records: kept.records.clone(),
            warnings: Vec::new(),
        })
    }

    fn append_group(&mut self, records: &[(u64, Vec<u8>)]) -> Result<(), StoreError> {
        let mut kept = self.kept.lock();
        for (position, payload) in records {
            kept.appended += (RECORD_HEADER + payload.len()) as u64;
            kept.records.push((*position, payload.clone()));
        }
        Ok(())
    }

    fn begin_checkpoint(&mut self, position: u64) -> Result<Box<dyn CheckpointWriter>, StoreError> {
        Ok(Box::new(MemoryCheckpoint {
            kept: Arc::clone(&self.kept),
            position,
            appended_at_begin: self.kept.lock().appended,
            model: Vec::new(),
        }))
    }

    fn journal_len(&self) -> u64 {
        let kept = self.kept.lock();
        kept.appended - kept.checkpointed
    }
}

struct MemoryCheckpoint {
    kept: Arc<Mutex<Kept>>,
    position: u64,
    appended_at_begin: u64,
    model: Vec<u8>,
}

impl CheckpointWriter for MemoryCheckpoint {
    fn write(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        self.model.extend_from_slice(bytes);
        Ok(())
    }

    fn finish(self: Box<Self>, snapshot: Arc<Snapshot>) -> Result<(), StoreError> {
        let mut kept = self.kept.lock();
        let position = self.position;
        kept.records.retain(|(at, _)| *at > position);
        kept.checkpoint = Some(Checkpoint {
            position,
            model: self.model,
            snapshot: Some(snapshot),
        });
        kept.checkpointed = kept.checkpointed.max(self.appended_at_begin);
        Ok(())
    }
}
