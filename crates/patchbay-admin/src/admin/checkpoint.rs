//! Checkpoints, written beside the changes rather than in their way.
//!
//! When the journal has grown past [`AdminConfig::checkpoint_after`], the change that
//! crossed it starts a checkpoint at its position ([`Store::begin_checkpoint`]: the store
//! starts a new journal segment) and hands it to a thread of its own, then returns. That
//! thread reads the model a part at a time, each under a short hold of the model's read
//! lock (the accounts, projects, keys, connectors and prefixes at once; then a few thousand
//! numbers at a time), so changes go on between the parts; the checkpoint is *fuzzy*, and
//! replaying the journal after its position makes it exact (see `model/checkpoint.rs`).
//! The store drops the journal it covers only once it is durable.
//!
//! One checkpoint is written at a time. One that fails (a full disk, say) is logged and
//! tried again a while later; the journal keeps every change meanwhile. [`Admin::checkpoint`]
//! writes one now, waiting for any in progress, with changes held off: on shutdown.
//!
//! [`AdminConfig::checkpoint_after`]: super::AdminConfig::checkpoint_after

use std::ops::Deref;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, RwLock};
use patchbay_core::Snapshot;

use super::{Admin, Writer};
use crate::error::AdminError;
use crate::model::Model;
use crate::store::postgres::Upload;
use crate::store::{CheckpointWriter, SharedError, Store, StoreError};
use crate::Postgres;

/// Numbers read under one hold of the model's lock: well under a millisecond.
const NUMBERS_PER_HOLD: usize = 4_096;
/// Bytes gathered before they go to the store.
const FLUSH_AT: usize = 1 << 20;

/// Streams the model into `writer`: `read` gives the model for each part (a fresh hold of
/// its lock, or the same model throughout).
pub(super) fn write_model<G: Deref<Target = Model>>(
    read: impl Fn() -> G,
    writer: &mut dyn CheckpointWriter,
) -> Result<(), StoreError> {
    let mut buffer = Vec::with_capacity(FLUSH_AT + (1 << 16));
    let projects = {
        let model = read();
        model.encode_head(&mut buffer);
        model.numbered_projects()
    };
    let mut written = 0u64;
    for project in projects {
        let mut after = None;
        loop {
            let (count, next) =
                read().encode_numbers(&project, after, NUMBERS_PER_HOLD, &mut buffer);
            written += count;
            if buffer.len() >= FLUSH_AT {
                writer.write(&buffer)?;
                buffer.clear();
            }
            match next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
    }
    Model::encode_end(written, &mut buffer);
    writer.write(&buffer)
}

/// A checkpoint written to the node's own store and, when the shared store takes one now,
/// into the shared store as well (`store/postgres/checkpoint.rs`). The shared copy is a
/// convenience for new nodes: when it fails, it is logged and dropped, and the node's own
/// checkpoint goes on.
struct Tee {
    local: Option<Box<dyn CheckpointWriter>>,
    shared: Option<Upload>,
}

impl Tee {
    fn drop_shared(&mut self, error: &SharedError) {
        tracing::warn!(
            %error,
            "storing a checkpoint in the shared store failed; new nodes load the one before \
             it, or the tables"
        );
        self.shared = None;
    }
}

impl CheckpointWriter for Tee {
    fn write(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        if let Some(local) = &mut self.local {
            local.write(bytes)?;
        }
        if let Some(Err(error)) = self.shared.as_mut().map(|shared| shared.write(bytes)) {
            self.drop_shared(&error);
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>, snapshot: Arc<Snapshot>) -> Result<(), StoreError> {
        if let Some(local) = self.local.take() {
            local.finish(snapshot)?;
        }
        if let Some(shared) = self.shared.take() {
            let position = shared.position();
            match shared.finish() {
                Ok(bytes) => {
                    tracing::info!(position, bytes, "checkpoint stored in the shared store");
                }
                Err(error) => self.drop_shared(&error),
            }
        }
        Ok(())
    }
}

/// The shared store's checkpoint at `position`, when `store` takes one now (see
/// [`Postgres::upload_checkpoint`]).
fn upload(store: Option<&Postgres>, position: u64, due_bytes: u64) -> Option<Upload> {
    match store?.upload_checkpoint(position, due_bytes) {
        Ok(upload) => upload,
        Err(error) => {
            tracing::warn!(%error, "cannot store a checkpoint in the shared store now");
            None
        }
    }
}

/// Writes a checkpoint of `model` at `position` now, on this thread.
pub(super) fn checkpoint_now(
    store: &mut dyn Store,
    position: u64,
    model: &Model,
    snapshot: Arc<Snapshot>,
) -> Result<(), StoreError> {
    let mut writer = store.begin_checkpoint(position)?;
    write_model(|| model, &mut *writer)?;
    writer.finish(snapshot)
}

#[derive(Default)]
struct State {
    /// A checkpoint is being written.
    running: bool,
    /// When the last one failed, if it did.
    failed_at: Option<Instant>,
}

/// Whether a checkpoint is being written, and a way to wait for it.
#[derive(Default)]
pub(super) struct Checkpoints {
    state: Mutex<State>,
    finished: Condvar,
}

impl Checkpoints {
    /// Waits until no checkpoint is being written.
    pub(super) fn wait_idle(&self) {
        let mut state = self.state.lock();
        while state.running {
            self.finished.wait(&mut state);
        }
    }

    /// Claims the right to write one in the background, unless one is running or the last
    /// failed less than `retry` ago.
    fn claim(&self, retry: Duration) -> bool {
        let mut state = self.state.lock();
        let resting = state.failed_at.is_some_and(|at| at.elapsed() < retry);
        if state.running || resting {
            return false;
        }
        state.running = true;
        true
    }

    fn release(&self, outcome: &Result<(), StoreError>) {
        let mut state = self.state.lock();
        state.running = false;
        state.failed_at = outcome.is_err().then(Instant::now);
        self.finished.notify_all();
    }
}

impl Drop for Admin {
    /// Waits for a checkpoint being written: its thread writes into the store's directory,
    /// which must be left alone once the admin, and with it the directory's lock, is gone.
    fn drop(&mut self) {
        // The checkpoint may wait for the bulk changes to be published first.
        let writer = self.writer.lock();
        self.finish_bulk(true);
        drop(writer);
        self.checkpoints.wait_idle();
    }
}

/// How long a checkpoint waits for the history to record the changes it covers.
const HISTORY_WAIT: Duration = Duration::from_secs(60);

impl Admin {
    /// Starts a checkpoint in the background when the journal has grown past the setting.
    /// Called by whoever holds the writer, after a change was published: the checkpoint's
    /// position is the writer's.
    pub(super) fn start_checkpoint_if_due(&self, writer: &mut Writer) {
        if writer.log.local().journal_len() <= self.config.checkpoint_after
            || !self.checkpoints.claim(self.config.checkpoint_retry)
        {
            return;
        }
        let position = writer.position;
        let begun = writer.log.local().begin_checkpoint(position);
        let store_writer = match begun {
            Ok(store_writer) => store_writer,
            Err(error) => {
                tracing::error!(%error, "cannot start a checkpoint; the journal keeps every change");
                self.checkpoints.release(&Err(error));
                return;
            }
        };
        let model: Arc<RwLock<Model>> = Arc::clone(&self.model);
        let bulk = Arc::clone(&self.bulk);
        let router = self.router.clone();
        let checkpoints = Arc::clone(&self.checkpoints);
        let retry = self.config.checkpoint_retry;
        let shared = self.cluster.as_ref().and_then(|c| c.source.store());
        let due = self.config.checkpoint_after / 2;
        let history = self.history.clone();
        let spawned = std::thread::Builder::new()
            .name("patchbay-checkpoint".into())
            .spawn(move || {
                let started = Instant::now();
                let mut store_writer = Tee {
                    local: Some(store_writer),
                    shared: upload(shared.as_ref(), position, due),
                };
                // The model is read at the priority of the threads that change it: a thread
                // below them could be set aside holding a read of the model, and hold up
                // the writer with it. The rest (the snapshot file, the syncs) takes no lock
                // and goes below them.
                // The snapshot is taken once written, when it shows every change up to
                // the position (a bulk change may wait to be published, `bulk.rs`); what
                // it shows from after the position, the journal changes again on a start.
                // The journal the checkpoint lets go of is what the history is derived
                // from: it finishes once the history holds every change up to it.
                let outcome = write_model(|| model.read(), &mut store_writer).and_then(|()| {
                    super::background_priority();
                    if let Some(history) = &history {
                        history
                            .wait_for(position, HISTORY_WAIT)
                            .map_err(|why| StoreError::Io {
                                path: "history.redb".into(),
                                source: std::io::Error::other(why),
                            })?;
                    }
                    Box::new(store_writer).finish(bulk.settled(position, &router))
                });
                match &outcome {
                    Ok(()) => tracing::info!(
                        position,
                        seconds = started.elapsed().as_secs_f64(),
                        "checkpoint written"
                    ),
                    Err(error) => tracing::error!(
                        position,
                        %error,
                        "the checkpoint failed; the journal keeps every change, and the \
                         next checkpoint is tried in {} s",
                        retry.as_secs_f64()
                    ),
                }
                checkpoints.release(&outcome);
            });
        if let Err(error) = spawned {
            tracing::error!(%error, "cannot start the checkpoint thread");
            self.checkpoints.release(&Err(StoreError::Io {
                path: "checkpoint".into(),
                source: error,
            }));
        }
    }

    /// Offers the shared store a checkpoint of this node's model, in the background: it
    /// takes one when it has none that new nodes can load, or when the changes after its
    /// newest carry half of [`super::AdminConfig::checkpoint_after`] (otherwise, and on a
    /// node of no shared store, this does nothing). Nodes offer one whenever their own
    /// checkpoint is due; a node calls this once it has started, so that the first node
    /// to load a store's tables saves the next one from doing the same.
    pub fn offer_checkpoint(&self) {
        let Some(store) = self.cluster.as_ref().and_then(|c| c.source.store()) else {
            return;
        };
        if !self.checkpoints.claim(self.config.checkpoint_retry) {
            return;
        }
        let position = self.writer.lock().position;
        let model: Arc<RwLock<Model>> = Arc::clone(&self.model);
        let router = self.router.clone();
        let checkpoints = Arc::clone(&self.checkpoints);
        let due = self.config.checkpoint_after / 2;
        let spawned = std::thread::Builder::new()
            .name("patchbay-checkpoint".into())
            .spawn(move || {
                let mut tee = Tee {
                    local: None,
                    shared: upload(Some(&store), position, due),
                };
                let outcome = match tee.shared {
                    Some(_) => write_model(|| model.read(), &mut tee)
                        .and_then(|()| Box::new(tee).finish(router.snapshot())),
                    None => Ok(()),
                };
                checkpoints.release(&outcome);
            });
        if let Err(error) = spawned {
            tracing::error!(%error, "cannot start the checkpoint thread");
            self.checkpoints.release(&Ok(()));
        }
    }

    /// Writes a checkpoint now (the whole model and its snapshot), after any being written
    /// in the background, with changes held off meanwhile: the store's journal then holds
    /// nothing the checkpoint does not.
    pub fn checkpoint(&self) -> Result<(), AdminError> {
        let written = {
            let mut writer = self.writer.lock();
            // The checkpoint in the background may wait for the bulk changes to be published.
            self.finish_bulk(true);
            self.checkpoints.wait_idle();
            let position = writer.position;
            // The journal it lets go of is what the history is derived from.
            if let Some(history) = &self.history {
                history
                    .wait_for(position, HISTORY_WAIT)
                    .map_err(AdminError::unavailable)?;
            }
            let model = self.model.read();
            checkpoint_now(writer.log.local(), position, &model, self.router.snapshot())
                .map_err(super::store_error)
        };
        self.nudge_next();
        written
    }
}
