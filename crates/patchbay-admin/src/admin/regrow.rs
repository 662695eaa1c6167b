//! Growing the index away from the changes' path.
//!
//! The number index is built for the numbers it holds; once patches have grown it fourfold,
//! a patch would rebuild it with more shards, O(numbers) (two seconds at ten million), and
//! the change that made that patch, and every change queued behind it, would wait. Instead
//! every publish keeps the shards it has ([`SnapshotPatch::keep_shards`]), and when the
//! published snapshot has outgrown them, a thread of its own rebuilds a copy
//! ([`Snapshot::regrown`]) while changes go on, each publish noting what it changed. The
//! first publish after the copy is ready patches it with everything changed since it began
//! (read back from the model, as every publish does) and publishes it: one publish of
//! O(changes meanwhile), and no change ever waits for a rebuild. When bulk changes came
//! meanwhile, that patch would copy most of the index: the copy goes to the bulk builds
//! instead (`bulk.rs`), which patch it beside the changes.
//!
//! [`SnapshotPatch::keep_shards`]: patchbay_core::SnapshotPatch::keep_shards
//! [`Snapshot::regrown`]: patchbay_core::Snapshot::regrown

use std::thread::JoinHandle;

use patchbay_core::{BuildError, Snapshot};

use super::publish::Effect;
use super::Replica;
use crate::error::AdminError;
use crate::model::Model;

/// A copy of the index being rebuilt, and what the publishes since it began changed.
pub(super) struct Regrow {
    built: JoinHandle<Result<Snapshot, BuildError>>,
    since: Effect,
}

impl Replica {
    /// After a publish of `effect`: notes it for a rebuild under way, publishes the rebuilt
    /// copy once it is ready, or starts a rebuild when the published snapshot has outgrown
    /// its shards. Called by whoever holds the writer.
    pub(super) fn regrow_after(&self, effect: Effect, model: &Model) -> Result<(), AdminError> {
        let mut state = self.regrow.lock();
        let Some(mut job) = state.take() else {
            let current = self.router.snapshot();
            // A rebuilt index on its way in through a bulk build is not rebuilt again.
            if current.outgrown() && !self.bulk.regrowing() {
                let spawned = std::thread::Builder::new()
                    .name("patchbay-regrow".into())
                    .spawn(move || {
                        super::background_priority();
                        current.regrown(current.version())
                    });
                match spawned {
                    Ok(built) => {
                        *state = Some(Regrow {
                            built,
                            since: Effect::default(),
                        })
                    }
                    Err(error) => tracing::error!(%error, "cannot start rebuilding the index"),
                }
            }
            return Ok(());
        };
        job.since.append(effect);
        if !job.built.is_finished() {
            *state = Some(job);
            return Ok(());
        }
        let grown = match job.built.join() {
            Ok(Ok(grown)) => grown,
            Ok(Err(error)) => {
                tracing::error!(%error, "rebuilding the index failed; it keeps its shards");
                return Ok(());
            }
            Err(_) => {
                tracing::error!("rebuilding the index failed; it keeps its shards");
                return Ok(());
            }
        };
        if job.since.is_bulk() {
            // Patching in the bulk changes published meanwhile would copy most of the
            // index here, with every change waiting: the bulk build does it beside them.
            self.build_regrown(grown, job.since, model);
            return Ok(());
        }
        let publishing = std::time::Instant::now();
        let version = self.router.version() + 1;
        let mut patch = job.since.patch(&grown, model, version);
        patch.keep_shards();
        let snapshot = patch
            .finish()
            .map_err(|e| AdminError::internal(format!("the rebuilt index: {e}")))?;
        let shards = snapshot.shard_count();
        self.router
            .publish(snapshot)
            .map_err(|e| AdminError::internal(e.to_string()))?;
        tracing::info!(
            shards,
            publish_ms = publishing.elapsed().as_secs_f64() * 1e3,
            "the index was rebuilt with more shards"
        );
        Ok(())
    }
}

impl super::Admin {
    /// Makes room for about `more` numbers that are on their way (a bulk import of a file
    /// of known size, say): the model's table of numbers is sized for them at once, and an
    /// index smaller than they are is rebuilt with shards for them, so that neither is
    /// rebuilt again and again, each time beside its old copy, while they come in. An
    /// index as large as what is coming is left to grow as it does (rebuilding it now
    /// would cost what the import saves). A hint only: more or fewer numbers may come.
    ///
    /// # Errors
    ///
    /// Rebuilding the index failed (nothing changed).
    pub fn expect_numbers(&self, more: usize) -> Result<(), AdminError> {
        let _writer = self.writer.lock();
        self.finish_bulk(true);

        let current = self.router.snapshot();
        let wanted = current.len().saturating_add(more);
        let rebuilding = self.regrow.lock().is_some();
        if rebuilding || current.has_room_for(wanted) || current.len() > more {
            return Ok(());
        }
        let grown = current
            .regrown_for(self.router.version() + 1, wanted)
            .map_err(|e| AdminError::internal(format!("the index: {e}")))?;
        let shards = grown.shard_count();
        self.router
            .publish(grown)
            .map_err(|e| AdminError::internal(e.to_string()))?;
        tracing::debug!(
            shards,
            numbers = wanted,
            "the index was sized for the numbers to come"
        );
        Ok(())
    }
}
