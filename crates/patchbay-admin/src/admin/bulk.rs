//! Bulk changes published beside the light ones.
//!
//! Publishing copies every index shard a change's numbers hash to. A bulk import of 10,000
//! numbers from every country touches nearly all of them: at ten million numbers that is a
//! quarter of a second of copying, and done by the writer, every change queued behind it
//! would wait as long. So a group that touches [`BULK`] numbers and prefixes or more, once
//! durable and in the model, reads its routes from the model ([`Effect::resolve`]) and
//! hands them to a thread of its own, which patches them into the published snapshot; the
//! writer goes on with the changes behind it, each published at once and noted. When the
//! patched copy is ready, its thread wakes the bulk group's callers, and whichever of them
//! takes the writer first (or whoever holds it then) publishes the copy, patched again with
//! what the publishes since touched (read back from the model, as every publish does), and
//! answers the group. A bulk change is answered only once it is published, as every change
//! is; a light change committed after it may be seen before it.
//!
//! One build runs at a time. Bulk groups committed meanwhile wait, and the next build takes
//! them all at once, reading their routes from the model when it starts, so it shows what
//! the model holds then (a light change made to one of their numbers meanwhile included).
//! Until they are published, the published snapshot shows the model except for the numbers
//! and prefixes they touch. A checkpoint, whose snapshot must show the model at its position
//! except for what the journal after it changed, takes its snapshot once no bulk change from
//! before its position waits ([`Bulk::settled`]).
//!
//! [`BULK`]: super::commit::BULK

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use patchbay_core::{Router, Snapshot};

use super::commit::Job;
use super::publish::Effect;
use super::{Admin, Writer};
use crate::error::AdminError;
use crate::model::Model;

/// The bulk groups waiting to be published, shared with the checkpoint thread.
#[derive(Default)]
pub(super) struct Bulk {
    state: Mutex<State>,
    /// Notified whenever a build is published.
    published: Condvar,
    /// Holds builds back, for the tests to make changes while one is under way.
    #[cfg(test)]
    gate: tests::Gate,
}

#[derive(Default)]
struct State {
    /// The build under way.
    running: Option<Running>,
    /// Bulk groups committed while it runs, in order.
    queued: Vec<Waiting>,
}

impl State {
    /// The position of the oldest change committed and not yet published.
    fn oldest(&self) -> Option<u64> {
        let queued = self.queued.first().map(|w| w.position);
        match (&self.running, queued) {
            (Some(running), Some(queued)) => Some(running.waiting.position.min(queued)),
            (Some(running), None) => Some(running.waiting.position),
            (None, queued) => queued,
        }
    }
}

/// A durable bulk group waiting to be published.
struct Waiting {
    effect: Effect,
    /// Its changes' callers, answered once it is published.
    jobs: Vec<Arc<dyn Job>>,
    /// The position of its first change.
    position: u64,
    /// When its group began, for the publishing figures.
    started: Instant,
}

impl Waiting {
    fn absorb(&mut self, later: Waiting) {
        self.effect.append(later.effect);
        self.jobs.extend(later.jobs);
        self.position = self.position.min(later.position);
        self.started = self.started.min(later.started);
    }
}

/// A build under way.
struct Running {
    /// What it publishes.
    waiting: Waiting,
    /// What was published since it began.
    since: Effect,
    built: Arc<Built>,
}

/// A build's result, set once by its thread.
#[derive(Default)]
struct Built {
    result: Mutex<Option<Result<Snapshot, String>>>,
    ready: Condvar,
}

impl Built {
    fn set(&self, result: Result<Snapshot, String>) {
        *self.result.lock() = Some(result);
        self.ready.notify_all();
    }

    fn is_ready(&self) -> bool {
        self.result.lock().is_some()
    }

    /// The result, waiting for it when `wait`; `None` when not ready and not waiting.
    fn take(&self, wait: bool) -> Option<Result<Snapshot, String>> {
        let mut result = self.result.lock();
        while wait && result.is_none() {
            self.ready.wait(&mut result);
        }
        result.take()
    }
}

impl Bulk {
    /// The published snapshot, as soon as it shows every change up to `position` (no bulk
    /// change from before it waits): what a checkpoint at `position` stores beside the
    /// model. Waits for the builds under way when it must (a build is a fraction of a
    /// second).
    pub(super) fn settled(&self, position: u64, router: &Router) -> Arc<Snapshot> {
        let mut state = self.state.lock();
        while state.oldest().is_some_and(|oldest| oldest <= position) {
            self.published
                .wait_for(&mut state, Duration::from_millis(100));
        }
        router.snapshot()
    }

    /// Notes a publish of `effect` for the build under way, which publishes it again
    /// over its copy.
    pub(super) fn note(&self, effect: &Effect) {
        if let Some(running) = self.state.lock().running.as_mut() {
            running.since.append(effect.clone());
        }
    }

    /// Wakes the callers of a finished build that no one has published yet: called by
    /// whoever releases the writer, which they may have been waiting for.
    pub(super) fn nudge_finished(&self) {
        let state = self.state.lock();
        if let Some(running) = state.running.as_ref() {
            if running.built.is_ready() {
                running.waiting.jobs.iter().for_each(|job| job.nudge());
            }
        }
    }

    /// Drops every build and waiting group, and returns their callers: for a model
    /// replaced whole, whose own snapshot shows them.
    pub(super) fn supersede(&self) -> Vec<Arc<dyn Job>> {
        let mut state = self.state.lock();
        let mut jobs = Vec::new();
        if let Some(running) = state.running.take() {
            jobs.extend(running.waiting.jobs);
        }
        for waiting in std::mem::take(&mut state.queued) {
            jobs.extend(waiting.jobs);
        }
        self.published.notify_all();
        jobs
    }
}

impl Admin {
    /// Hands a durable bulk group, already in `model`, to a build: its `jobs` are answered
    /// once it is published. `position` is the position of its first change. Called by
    /// whoever holds the writer.
    pub(super) fn defer_publish(
        &self,
        effect: Effect,
        model: &Model,
        position: u64,
        jobs: Vec<Arc<dyn Job>>,
        started: Instant,
    ) {
        if effect.touches_access() {
            self.access.publish(model);
        }
        let mut state = self.bulk.state.lock();
        state.queued.push(Waiting {
            effect,
            jobs,
            position,
            started,
        });
        if state.running.is_none() {
            self.start_build(&mut state, model);
        }
    }

    /// Starts a build of every waiting group, with their routes read from `model` now.
    fn start_build(&self, state: &mut State, model: &Model) {
        let mut queued = std::mem::take(&mut state.queued).into_iter();
        let Some(mut waiting) = queued.next() else {
            return;
        };
        queued.for_each(|later| waiting.absorb(later));
        let base = self.router.snapshot();
        let recipe = waiting.effect.resolve(&base, model);
        let built = Arc::new(Built::default());
        let wake = waiting.jobs.clone();
        let result = Arc::clone(&built);
        #[cfg(test)]
        let gate = self.bulk.gate.clone();
        let spawned = std::thread::Builder::new()
            .name("patchbay-bulk".into())
            .spawn(move || {
                super::background_priority();
                #[cfg(test)]
                gate.pass();
                let patched = std::panic::catch_unwind(AssertUnwindSafe(|| {
                    let mut patch = base.patch(base.version());
                    recipe.apply(&mut patch);
                    patch.keep_shards();
                    patch.finish().map_err(|e| e.to_string())
                }));
                result.set(patched.unwrap_or_else(|_| Err("the build panicked".into())));
                wake.iter().for_each(|job| job.nudge());
            });
        if let Err(error) = spawned {
            // Published from the model by whoever finishes it.
            built.set(Err(format!("cannot start a thread: {error}")));
        }
        state.running = Some(Running {
            waiting,
            since: Effect::default(),
            built,
        });
    }

    /// Publishes the build under way if it is finished (with `wait`, waits for it, and for
    /// every build after it), answers its callers and starts the next. Called by whoever
    /// holds the writer.
    pub(super) fn finish_bulk(&self, _writer: &mut Writer, wait: bool) {
        loop {
            let model = self.model.read();
            let mut state = self.bulk.state.lock();
            let Some(built) = state.running.as_ref().map(|r| Arc::clone(&r.built)) else {
                return;
            };
            let result = if wait {
                // The build takes no lock: nothing it needs is held here but the model's
                // read and this state, which only the writer's holder and a checkpoint
                // waiting for the build take.
                drop(state);
                let result = built.take(true);
                state = self.bulk.state.lock();
                result
            } else {
                built.take(false)
            };
            let Some(result) = result else {
                return;
            };
            let Some(running) = state.running.take() else {
                return;
            };
            let published = self.publish_built(result, &running, &model);
            // The state is updated only now, after the publish, so that a checkpoint never
            // takes a snapshot that lacks what it says is published.
            let Running {
                waiting, mut since, ..
            } = running;
            self.start_build(&mut state, &model);
            drop(state);
            self.bulk.published.notify_all();
            for job in &waiting.jobs {
                job.settle(published.clone());
            }
            if published.is_ok() {
                let elapsed = waiting.started.elapsed();
                let mut stats = self.stats.lock();
                stats.publishes += 1;
                stats.last = elapsed;
                stats.total += elapsed;
                drop(stats);
                since.append(waiting.effect);
                if let Err(error) = self.regrow_after(since, &model) {
                    tracing::error!(%error, "rebuilding the index after a bulk change failed");
                }
            }
            if !wait {
                return;
            }
        }
    }

    /// Publishes a build's copy patched with what was published since it began, or, should
    /// the build have failed, a snapshot built from the model.
    fn publish_built(
        &self,
        result: Result<Snapshot, String>,
        running: &Running,
        model: &Model,
    ) -> Result<(), AdminError> {
        let version = self.router.version() + 1;
        let patched = result.and_then(|built| {
            let mut patch = running.since.patch(&built, model, version);
            patch.keep_shards();
            patch.finish().map_err(|e| e.to_string())
        });
        let snapshot = match patched {
            Ok(snapshot) => snapshot,
            Err(error) => {
                tracing::error!(%error, "a bulk change's build failed; building from the model");
                self.stats.lock().rebuilds += 1;
                model
                    .snapshot(version)
                    .map_err(|e| AdminError::internal(e.to_string()))?
            }
        };
        self.router
            .publish(snapshot)
            .map_err(|e| AdminError::internal(e.to_string()))
    }
}

#[cfg(test)]
mod tests;
