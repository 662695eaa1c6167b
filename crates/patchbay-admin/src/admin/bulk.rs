//! Bulk changes published beside the light ones.
//!
//! Publishing copies every index shard a change's numbers hash to. A bulk import of 10,000
//! numbers from every country touches nearly all of them: at ten million numbers that is a
//! quarter of a second of copying, and done by the writer, every change queued behind it
//! would wait as long. So a group that touches [`BULK`] numbers and prefixes or more, once
//! durable and in the model, reads its routes from the model ([`Effect::resolve`]) and
//! hands them to a thread of its own, which patches them into the published snapshot; the
//! writer goes on with the changes behind it, each published at once and noted. Once the
//! copy is patched, its thread patches in what was noted meanwhile as well, reading those
//! routes back from the model (a few rounds, while enough comes), so that the writer has
//! little left to patch. When the copy is ready, its thread wakes the bulk group's callers, and whichever of them
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
//! An index rebuilt with more shards (`regrow.rs`) comes in the same way when bulk changes
//! were published while it was rebuilt: patching them in would copy most of it. The next
//! build starts from it instead of the published snapshot, with everything published since
//! it began read from the model; until then every publish is noted for it.
//!
//! [`BULK`]: super::commit::BULK

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use patchbay_core::{Router, Snapshot};

use super::commit::Job;
use super::publish::Effect;
use super::Replica;
use crate::error::AdminError;
use crate::model::Model;

/// How much published meanwhile a finished build patches in itself before it is handed to
/// the writer (numbers, connectors and prefixes noted).
const CATCH_UP_FROM: usize = 16;
/// At most this many rounds of it: changes keep coming while a round runs.
const CATCH_UP_ROUNDS: usize = 3;

/// The bulk groups waiting to be published, shared with the checkpoint thread.
#[derive(Default)]
pub(super) struct Bulk {
    state: Mutex<State>,
    /// Notified whenever a build is published.
    published: Condvar,
    /// Holds builds back, for the tests to make changes while one is under way.
    #[cfg(test)]
    gate: tests::Gate,
    /// Builds started from a rebuilt index, for the tests.
    #[cfg(test)]
    regrown_builds: std::sync::atomic::AtomicUsize,
    /// Rounds of what was published meanwhile patched in by a build, for the tests.
    #[cfg(test)]
    caught_up: std::sync::atomic::AtomicUsize,
}

#[derive(Default)]
struct State {
    /// The build under way.
    running: Option<Running>,
    /// Bulk groups committed while it runs, in order.
    queued: Vec<Waiting>,
    /// An index rebuilt with more shards, for the next build to start from.
    regrown: Option<Regrown>,
}

/// An index rebuilt with more shards, and what was published since the snapshot it was
/// rebuilt from.
struct Regrown {
    grown: Arc<Snapshot>,
    since: Effect,
}

impl State {
    /// The position of the oldest change committed and not yet published.
    fn oldest(&self) -> Option<u64> {
        let running = self.running.as_ref().and_then(|r| r.waiting.position);
        let queued = self.queued.iter().filter_map(|w| w.position).min();
        running.into_iter().chain(queued).min()
    }
}

/// A durable bulk group waiting to be published.
struct Waiting {
    effect: Effect,
    /// Its changes' callers, answered once it is published.
    jobs: Vec<Arc<dyn Job>>,
    /// The position of its first change (none for an index rebuilt, which changes no
    /// route).
    position: Option<u64>,
    /// When its group began, for the publishing figures.
    started: Instant,
}

impl Waiting {
    fn absorb(&mut self, later: Waiting) {
        self.effect.append(later.effect);
        self.jobs.extend(later.jobs);
        self.position = self.position.into_iter().chain(later.position).min();
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
    /// Whether it starts from an index rebuilt with more shards.
    regrowing: bool,
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
    /// over its copy, and for a rebuilt index waiting for the next build.
    pub(super) fn note(&self, effect: &Effect) {
        let mut state = self.state.lock();
        if let Some(running) = state.running.as_mut() {
            running.since.append(effect.clone());
        }
        if let Some(regrown) = state.regrown.as_mut() {
            regrown.since.append(effect.clone());
        }
    }

    /// Patches `built` with what was published while it was built, read from `model`, a
    /// round at a time while enough was, so that its publish, on the writer, patches little
    /// again: each number patched copies its index shard, and by the end of a build at ten
    /// million numbers a few hundred of them are most of the index (a quarter of a second
    /// on the writer). `result` names the build; what a round takes, the publish no longer
    /// patches.
    fn catch_up(
        &self,
        mut built: Snapshot,
        result: &Arc<Built>,
        model: &parking_lot::RwLock<Model>,
    ) -> Result<Snapshot, String> {
        for _ in 0..CATCH_UP_ROUNDS {
            let since = {
                let mut state = self.state.lock();
                match state.running.as_mut() {
                    Some(running)
                        if Arc::ptr_eq(&running.built, result)
                            && running.since.len() >= CATCH_UP_FROM =>
                    {
                        std::mem::take(&mut running.since)
                    }
                    _ => break,
                }
            };
            // The model's read is held only to read the routes back (the numbers noted).
            let recipe = since.resolve(&built, &model.read());
            let mut patch = built.patch(built.version());
            recipe.apply(&mut patch);
            patch.keep_shards();
            built = patch.finish().map_err(|e| e.to_string())?;
            #[cfg(test)]
            self.caught_up
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(built)
    }

    /// Whether an index rebuilt with more shards waits for a build or is in one.
    pub(super) fn regrowing(&self) -> bool {
        let state = self.state.lock();
        state.regrown.is_some() || state.running.as_ref().is_some_and(|r| r.regrowing)
    }

    /// Wakes every caller waiting for a bulk change to be published, when the build under
    /// way has finished: whichever takes the writer first publishes it (and starts the
    /// next). Called by the build's thread once done, and by whoever releases the writer
    /// (the callers may have found it held).
    pub(super) fn nudge_finished(&self) {
        let state = self.state.lock();
        if state.running.as_ref().is_some_and(|r| r.built.is_ready()) {
            let running = state.running.iter().map(|r| &r.waiting);
            for waiting in running.chain(&state.queued) {
                waiting.jobs.iter().for_each(|job| job.nudge());
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
        state.regrown = None;
        self.published.notify_all();
        jobs
    }
}

impl Replica {
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
            position: Some(position),
            started,
        });
        if state.running.is_none() {
            self.start_build(&mut state, model);
        }
    }

    /// Hands an index rebuilt with more shards to the next build, `since` being what was
    /// published since the snapshot it was rebuilt from. Called by whoever holds the writer.
    pub(super) fn build_regrown(&self, grown: Snapshot, since: Effect, model: &Model) {
        let mut state = self.bulk.state.lock();
        state.regrown = Some(Regrown {
            grown: Arc::new(grown),
            since,
        });
        if state.running.is_none() {
            self.start_build(&mut state, model);
        }
    }

    /// Starts a build of every waiting group (and of a rebuilt index waiting), with their
    /// routes read from `model` now.
    fn start_build(&self, state: &mut State, model: &Model) {
        let regrown = state.regrown.take();
        let mut queued = std::mem::take(&mut state.queued).into_iter();
        let mut waiting = match (queued.next(), &regrown) {
            (Some(first), _) => first,
            (None, Some(_)) => Waiting {
                effect: Effect::default(),
                jobs: Vec::new(),
                position: None,
                started: Instant::now(),
            },
            (None, None) => return,
        };
        queued.for_each(|later| waiting.absorb(later));
        let regrowing = regrown.is_some();
        #[cfg(test)]
        self.bulk
            .regrown_builds
            .fetch_add(usize::from(regrowing), std::sync::atomic::Ordering::Relaxed);
        let base = match regrown {
            Some(Regrown { grown, since }) => {
                waiting.effect.append(since);
                grown
            }
            None => self.router.snapshot(),
        };
        let recipe = waiting.effect.resolve(&base, model);
        let built = Arc::new(Built::default());
        let bulk = Arc::clone(&self.bulk);
        let result = Arc::clone(&built);
        let shared_model = Arc::clone(&self.model);
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
                    let built = patch.finish().map_err(|e| e.to_string())?;
                    bulk.catch_up(built, &result, &shared_model)
                }));
                result.set(patched.unwrap_or_else(|_| Err("the build panicked".into())));
                bulk.nudge_finished();
            });
        if let Err(error) = spawned {
            // Published from the model by whoever finishes it.
            built.set(Err(format!("cannot start a thread: {error}")));
        }
        state.running = Some(Running {
            waiting,
            since: Effect::default(),
            built,
            regrowing,
        });
    }

    /// Publishes the build under way if it is finished (with `wait`, waits for it, and for
    /// every build after it), answers its callers and starts the next. Called by whoever
    /// publishes: the holder of an admin's writer, or a follower applying what it read.
    pub(super) fn finish_bulk(&self, wait: bool) {
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
            let publishing = Instant::now();
            let since_count = running.since.len();
            let published = self.publish_built(result, &running, &model);
            let published_at = Instant::now();
            // The state is updated only now, after the publish, so that a checkpoint never
            // takes a snapshot that lacks what it says is published.
            let Running {
                waiting, mut since, ..
            } = running;
            if let Some(regrown) = state.regrown.as_mut() {
                // Published over the old shards, after the rebuilt index began.
                regrown.since.append(waiting.effect.clone());
            }
            self.start_build(&mut state, &model);
            drop(state);
            let next_at = Instant::now();
            self.bulk.published.notify_all();
            for job in &waiting.jobs {
                job.settle(published.clone());
            }
            if published.is_ok() && !waiting.jobs.is_empty() {
                let elapsed = waiting.started.elapsed();
                let mut stats = self.stats.lock();
                stats.publishes += 1;
                stats.last = elapsed;
                stats.total += elapsed;
                drop(stats);
            }
            if published.is_ok() {
                since.append(waiting.effect);
                if let Err(error) = self.regrow_after(since, &model) {
                    tracing::error!(%error, "rebuilding the index after a bulk change failed");
                }
            }
            let held = publishing.elapsed();
            if held >= super::commit::SLOW {
                let ms = |from: Instant, to: Instant| (to - from).as_secs_f64() * 1e3;
                tracing::warn!(
                    since = since_count,
                    publish_ms = ms(publishing, published_at),
                    next_build_ms = ms(published_at, next_at),
                    regrow_ms = ms(next_at, Instant::now()),
                    "publishing a bulk change held the writer for {:.0} ms",
                    held.as_secs_f64() * 1e3
                );
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
