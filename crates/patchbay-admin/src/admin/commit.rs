//! Group commit: the one path every change takes from a plan to a durable, published change.
//!
//! A caller hands [`Admin::change`] a *plan*: a closure that validates against the model and
//! returns the mutations and the caller's answer. The plan is queued, and the caller tries
//! the writer lock. Whoever gets it is the leader: it runs every queued plan in order, each
//! against the model as the plans before it left it (so concurrent changes are validated
//! exactly as if they had run one after another), appends one journal record per change in
//! one write with one fsync, publishes one snapshot for the whole group, and only then answers
//! each caller, waking them all at once. A caller that finds the lock held sleeps until its
//! change is answered, or until the leader, done, nudges it to lead the changes queued in
//! the meantime. The model stays write-locked from the first plan to the fsync, so no reader
//! of the model sees a change before it is durable; lookups see it with the publish
//! (`publish.rs`). A leader takes the light changes queued first, as one group, and a bulk
//! change of [`BULK`] numbers or more in a group of its own after them: a one-number change
//! waits only for a change already on its way, never for a bulk change queued beside it.
//!
//! A failed append leaves nothing in the journal (the store truncates what it wrote), and
//! the model, already ahead of the store, is reloaded from it; every change of the group gets
//! the error. Should the reload fail too, the admin refuses every later change.

use std::sync::Arc;
use std::time::Instant;

use parking_lot::{Condvar, Mutex, RwLockWriteGuard};
use patchbay_core::Snapshot;

use super::log::Kept;
use super::publish::Effect;
use super::{encode, Admin, Replica, Writer};
use crate::error::AdminError;
use crate::history::{self, Actor, Entry};
use crate::model::{checkpoint, Model, Mutation};
use crate::store::{MemoryStore, Records, Store, TableWrite};

/// The numbers or prefixes from which a change is a bulk change, committed in a group of its
/// own ([`Admin::change_bulk`]).
pub(super) const BULK: usize = 1_000;

/// A plan: validates against the model and returns the mutations and the caller's answer.
type Plan<R> = Box<dyn FnOnce(&Admin, &Model) -> Result<(Vec<Mutation>, R), AdminError> + Send>;

/// A queued change, as the leader sees it (without its answer's type).
pub(super) trait Job: Send + Sync {
    /// Runs the plan: the mutations, or `None` when the plan refused (the job is then
    /// settled with its error).
    fn plan(&self, admin: &Admin, model: &Model) -> Option<Vec<Mutation>>;
    /// Settles the job with the group's outcome (a job not yet planned can only fail) and
    /// wakes its caller. A settled job stays as it is.
    fn settle(&self, outcome: Result<(), AdminError>);
    /// Wakes the job's caller to lead the next group.
    fn nudge(&self);
    /// About how many numbers or prefixes the change touches.
    fn weight(&self) -> usize;
    /// Who makes the change.
    fn actor(&self) -> &Actor;
}

enum State<R> {
    Queued(Plan<R>),
    Planned(R),
    Settled(Result<R, AdminError>),
    Taken,
}

struct Inner<R> {
    state: State<R>,
    /// Set when the caller should try to lead: the group before it has finished.
    nudged: bool,
}

/// A queued change and its caller's wake-up: the caller sleeps on `ready` until its change
/// is settled or it is nudged to lead, so a finished group wakes each of its callers at once
/// instead of handing a lock from one to the next.
struct Slot<R> {
    inner: Mutex<Inner<R>>,
    ready: Condvar,
    /// About how many numbers or prefixes the change touches.
    weight: usize,
    actor: Actor,
}

impl<R> Slot<R> {
    fn new(plan: Plan<R>, weight: usize, actor: Actor) -> Slot<R> {
        Slot {
            inner: Mutex::new(Inner {
                state: State::Queued(plan),
                nudged: false,
            }),
            ready: Condvar::new(),
            weight,
            actor,
        }
    }

    /// The outcome, if the change is settled (taken: a second call gets `None`).
    fn take_settled(inner: &mut Inner<R>) -> Option<Result<R, AdminError>> {
        match std::mem::replace(&mut inner.state, State::Taken) {
            State::Settled(outcome) => Some(outcome),
            other => {
                inner.state = other;
                None
            }
        }
    }

    /// Whether the change is planned and not yet settled: durable and waiting to be
    /// published, when no group is under way.
    fn is_planned(&self) -> bool {
        matches!(self.inner.lock().state, State::Planned(_))
    }

    /// Sleeps until the change is settled (its outcome) or the caller is nudged (`None`).
    fn wait(&self) -> Option<Result<R, AdminError>> {
        let mut inner = self.inner.lock();
        loop {
            if let Some(outcome) = Self::take_settled(&mut inner) {
                return Some(outcome);
            }
            if std::mem::take(&mut inner.nudged) {
                return None;
            }
            self.ready.wait(&mut inner);
        }
    }
}

impl<R: Send> Job for Slot<R> {
    fn plan(&self, admin: &Admin, model: &Model) -> Option<Vec<Mutation>> {
        let mut inner = self.inner.lock();
        let State::Queued(plan) = std::mem::replace(&mut inner.state, State::Taken) else {
            return None; // planned by an earlier group: nothing to do
        };
        match plan(admin, model) {
            Ok((mutations, answer)) => {
                inner.state = State::Planned(answer);
                Some(mutations)
            }
            Err(error) => {
                inner.state = State::Settled(Err(error));
                self.ready.notify_one();
                None
            }
        }
    }

    fn settle(&self, outcome: Result<(), AdminError>) {
        let mut inner = self.inner.lock();
        inner.state = match std::mem::replace(&mut inner.state, State::Taken) {
            State::Planned(answer) => State::Settled(outcome.map(|()| answer)),
            State::Queued(_) => State::Settled(Err(outcome
                .err()
                .unwrap_or_else(|| AdminError::internal("a change was settled unplanned")))),
            settled => settled,
        };
        self.ready.notify_one();
    }

    fn nudge(&self) {
        self.inner.lock().nudged = true;
        self.ready.notify_one();
    }

    fn weight(&self) -> usize {
        self.weight
    }

    fn actor(&self) -> &Actor {
        &self.actor
    }
}

/// Settles every job of a group that is not settled yet when dropped before the group
/// finished (`finished` unset): the group's callers are answered even if the leader unwinds.
struct SettleAll<'a> {
    jobs: &'a [Arc<dyn Job>],
    finished: bool,
}

impl Drop for SettleAll<'_> {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        for job in self.jobs {
            job.settle(Err(AdminError::internal(
                "the change's group commit failed: retry the change",
            )));
        }
    }
}

/// What a store holds, read back: the model, the position of its last change, the routing
/// snapshot when the store kept one it could bring up to that position, and what a person
/// should know.
pub(super) struct Opened {
    pub(super) model: Model,
    pub(super) position: u64,
    pub(super) snapshot: Option<Arc<Snapshot>>,
    pub(super) warnings: Vec<String>,
    /// The history of the changes replayed after `history_after` (when asked for).
    pub(super) entries: Vec<Entry>,
    /// The position the replay began at (the checkpoint's, or 0).
    pub(super) replayed_from: u64,
}

/// Loads the model from `store`: the checkpoint, then every journal record after it, in
/// order. The checkpoint's snapshot, when the store kept it, is patched with what the
/// records changed (O(changes), where building one is O(numbers)). The changes after
/// `history_after`, when given, are read into history entries as they are replayed.
pub(super) fn load(
    store: &mut dyn Store,
    history_after: Option<u64>,
) -> Result<Opened, AdminError> {
    let loaded = store
        .load()
        .map_err(|e| AdminError::internal(e.to_string()))?;
    let mut effect = Effect::default();
    let checkpoint = loaded
        .checkpoint
        .as_ref()
        .map(|c| (c.position, c.model.as_slice()));
    let replayed_from = checkpoint.map_or(0, |(at, _)| at);
    let mut entries = Vec::new();
    let (model, position) =
        checkpoint::restore_with(checkpoint, &loaded.records, |model, at, stamp, change| {
            effect.add(&change);
            match stamp.filter(|_| history_after.is_some_and(|after| at > after)) {
                Some(stamp) => entries.push(Entry {
                    position: at,
                    stamp,
                    events: history::apply_described(model, change),
                }),
                None => change.into_iter().for_each(|m| model.apply(m)),
            }
        })
        .map_err(AdminError::internal)?;
    model
        .check_loaded()
        .map_err(|e| AdminError::internal(format!("the stored model is inconsistent: {e}")))?;
    let mut warnings = loaded.warnings;
    let snapshot = loaded
        .checkpoint
        .and_then(|c| c.snapshot)
        .and_then(|stored| {
            let patched = if effect.is_empty() {
                Ok(stored)
            } else {
                effect
                    .patch(&stored, &model, stored.version() + 1)
                    .finish()
                    .map(Arc::new)
            };
            let routed: usize = model.by_connector.values().map(|set| set.len()).sum();
            match patched {
                Ok(snapshot)
                    if snapshot.len() == routed
                        && snapshot.connector_count() == model.connectors.len()
                        && snapshot.prefix_count() == model.prefixes.len() =>
                {
                    Some(snapshot)
                }
                _ => {
                    warnings.push(
                        "the stored routing snapshot does not match the model; building it \
                         again"
                            .into(),
                    );
                    None
                }
            }
        });
    Ok(Opened {
        model,
        position,
        snapshot,
        warnings,
        entries,
        replayed_from,
    })
}

/// A group that holds the writer longer than this is logged, with where the time went.
pub(super) const SLOW: std::time::Duration = std::time::Duration::from_millis(100);

/// When each part of a group commit ended.
struct Timing {
    started: Instant,
    locked: Instant,
    planned: Instant,
    stored: Instant,
}

impl Timing {
    fn new(started: Instant) -> Timing {
        let locked = Instant::now();
        Timing {
            started,
            locked,
            planned: locked,
            stored: locked,
        }
    }

    /// Logs a group that held the writer past [`SLOW`]: as a warning when changes queued
    /// behind it (`waited`: they waited for it), else, as for a bulk import with nothing
    /// beside it, only at debug level.
    fn log_if_slow(&self, changes: usize, records: usize, waited: bool) {
        let done = Instant::now();
        if done - self.started < SLOW {
            return;
        }
        let ms =
            |from: Instant, to: Instant| to.saturating_duration_since(from).as_secs_f64() * 1e3;
        let planned = self.planned.max(self.locked);
        let stored = self.stored.max(planned);
        macro_rules! slow {
            ($level:ident) => {
                tracing::$level!(
                    changes,
                    records,
                    lock_ms = ms(self.started, self.locked),
                    plan_ms = ms(self.locked, planned),
                    store_ms = ms(planned, stored),
                    publish_ms = ms(stored, done),
                    "a group of changes held the writer for {:.0} ms",
                    ms(self.started, done)
                )
            };
        }
        if waited {
            slow!(warn);
        } else {
            slow!(debug);
        }
    }
}

impl Admin {
    /// Runs `plan` in a group commit and returns its answer once its change is durable and
    /// published. A plan that returns no mutations changes nothing and is answered as is.
    pub(super) fn change<R, F>(&self, actor: Actor, plan: F) -> Result<R, AdminError>
    where
        R: Send + 'static,
        F: FnOnce(&Admin, &Model) -> Result<(Vec<Mutation>, R), AdminError> + Send + 'static,
    {
        self.change_bulk(1, actor, plan)
    }

    /// [`Admin::change`] for a change of about `weight` numbers or prefixes: one of
    /// [`BULK`] or more is committed in a group of its own, after the light changes queued
    /// with it, so that a one-number change never waits for a bulk change to be stored and
    /// published beside it (only for one already on its way).
    pub(super) fn change_bulk<R, F>(
        &self,
        weight: usize,
        actor: Actor,
        plan: F,
    ) -> Result<R, AdminError>
    where
        R: Send + 'static,
        F: FnOnce(&Admin, &Model) -> Result<(Vec<Mutation>, R), AdminError> + Send + 'static,
    {
        let slot = Arc::new(Slot::new(Box::new(plan), weight, actor));
        self.queue.lock().push(slot.clone());
        loop {
            if let Some(outcome) = Slot::take_settled(&mut slot.inner.lock()) {
                return outcome;
            }
            if let Some(mut writer) = self.writer.try_lock() {
                let (light, bulk) = {
                    let mut queue = self.queue.lock();
                    let (light, mut bulk): (Vec<_>, Vec<_>) = std::mem::take(&mut *queue)
                        .into_iter()
                        .partition(|job| job.weight() < BULK);
                    // One bulk change a turn; the others wait at the head of the queue, in
                    // their order, behind whatever light change comes meanwhile.
                    let rest = bulk.split_off(bulk.len().min(1));
                    queue.splice(0..0, rest);
                    (light, bulk)
                };
                if !light.is_empty() {
                    self.commit_group(&mut writer, &light);
                }
                if !bulk.is_empty() {
                    self.commit_group(&mut writer, &bulk);
                }
                self.finish_bulk(false);
                drop(writer);
                self.nudge_next();
                if slot.is_planned() {
                    // Durable, and published once its build is ready: its thread, or
                    // whoever publishes it, wakes this caller.
                    if let Some(outcome) = slot.wait() {
                        return outcome;
                    }
                }
                continue;
            }
            if let Some(outcome) = slot.wait() {
                return outcome;
            }
        }
    }

    /// Wakes the first queued change to lead the next group. Whoever releases the writer
    /// lock calls this: changes queued while it was held sleep until nudged.
    pub(super) fn nudge_next(&self) {
        if let Some(next) = self.queue.lock().first() {
            next.nudge();
        }
        // A bulk build that finished while the writer was held waits for its callers.
        self.bulk.nudge_finished();
    }

    /// Applies changes committed in the shared store (those past the node's position, which
    /// must follow it without a gap) to `model` and the local cache, and adds them to
    /// `effect`. Nothing is applied when one of them cannot be read.
    pub(super) fn apply_committed(
        &self,
        writer: &mut Writer,
        model: &mut Model,
        records: &Records,
        effect: &mut Effect,
    ) -> Result<(), AdminError> {
        let fresh = Replica::apply_records(model, writer.position, records, effect)?;
        let Some((at, bytes)) = fresh.last() else {
            return Ok(());
        };
        writer.position = *at;
        // The next change stamped here is never before those committed elsewhere: commit
        // times follow the log's order whatever the nodes' clocks say.
        if let Ok(Some(stamp)) = crate::model::change::stamp_of(*at, bytes) {
            writer.last_at = writer.last_at.max(stamp.at);
        }
        if let Some(cluster) = &self.cluster {
            cluster.set_applied(*at);
        }
        if let Err(err) = writer.log.local().append_group(&fresh) {
            Self::replace_cache(writer, model, err);
        }
        Ok(())
    }

    /// The local cache of a shared store failed to take a change: the node goes on with a
    /// cache in memory (it restarts from the store's tables), which a failed commit can
    /// still reload from.
    fn replace_cache(writer: &mut Writer, model: &Model, err: crate::store::StoreError) {
        tracing::error!(error = %err, "the local cache failed; keeping it in memory instead");
        let mut memory = MemoryStore::default();
        // The router may not show the change yet: the snapshot kept is the model's own.
        let kept = model
            .snapshot(1)
            .map_err(|e| e.to_string())
            .and_then(|snapshot| {
                super::checkpoint::checkpoint_now(
                    &mut memory,
                    writer.position,
                    model,
                    Arc::new(snapshot),
                )
                .map_err(|e| e.to_string())
            });
        if let Err(error) = kept {
            tracing::error!(%error, "the cache in memory could not take the model either");
        }
        writer.log.replace_local(Box::new(memory));
    }

    /// Plans, stores, applies and publishes `jobs` as one group, then settles each.
    fn commit_group(&self, writer: &mut Writer, jobs: &[Arc<dyn Job>]) {
        let mut guard = SettleAll {
            jobs,
            finished: false,
        };
        if let Some(refused) = self.cluster.as_ref().and_then(|c| c.refusal()) {
            jobs.iter().for_each(|job| job.settle(Err(refused.clone())));
            guard.finished = true;
            return;
        }
        if let Some(why) = &writer.poisoned {
            let refused = AdminError::internal(format!(
                "an earlier write failed and the store could not be reloaded ({why}): \
                 restart patchbay"
            ));
            jobs.iter().for_each(|job| job.settle(Err(refused.clone())));
            guard.finished = true;
            return;
        }
        let started = Instant::now();
        let mut model = self.model.write();
        let mut timing = Timing::new(started);
        let mut effect = Effect::default();
        let first = writer.position + 1;
        // Take the right to write, and apply what others committed before planning (a
        // shared store's other nodes), so that every plan is validated against every change
        // before it.
        let caught_up = writer
            .log
            .begin(writer.position)
            .and_then(|missed| self.apply_committed(writer, &mut model, &missed, &mut effect));
        // Whether changes committed elsewhere were applied: published even if the group fails.
        let missed = !effect.is_empty();
        if let Err(error) = caught_up {
            writer.log.abort();
            jobs.iter().for_each(|job| job.settle(Err(error.clone())));
            guard.finished = true;
            return;
        }
        let mut planned = Vec::with_capacity(jobs.len());
        let mut records = Vec::new();
        let mut writes = Vec::new();
        let mut position = writer.position;
        let mut entries = Vec::new();
        for job in jobs {
            let Some(change) = job.plan(self, &model) else {
                continue;
            };
            if !change.is_empty() {
                let stamp = self.stamp(writer, job.actor());
                let payload = match encode(Some(&stamp), &change) {
                    Ok(payload) => payload,
                    Err(error) => {
                        job.settle(Err(error));
                        continue;
                    }
                };
                position += 1;
                records.push((position, payload));
                effect.add(&change);
                let tables = writer.log.wants_mutations();
                let mut events = Vec::new();
                for mutation in change {
                    if tables {
                        writes.extend(TableWrite::of(&mutation, |n| {
                            model.numbers.get(n).is_some()
                        }));
                    }
                    if self.history.is_some() || tables {
                        history::describe(&model, &mutation, &mut events);
                    }
                    model.apply(mutation);
                }
                let entry = Entry {
                    position,
                    stamp,
                    events,
                };
                if tables {
                    // The shared store's history commits with the change.
                    writes.push(TableWrite::History(Box::new(entry)));
                } else if self.history.is_some() {
                    entries.push(entry);
                }
            }
            planned.push(job);
        }
        timing.planned = Instant::now();
        let outcome = if records.is_empty() {
            writer.log.abort();
            let model = RwLockWriteGuard::downgrade(model);
            self.publish_group(effect, &model, started)
        } else {
            let stored = self.store_group(writer, &mut model, &records, &writes);
            timing.stored = Instant::now();
            match stored {
                Ok(()) => {
                    writer.position = position;
                    if let Some(cluster) = &self.cluster {
                        cluster.set_applied(position);
                    }
                    if let Some(history) = &self.history {
                        history.send(entries, position);
                    }
                    let model = RwLockWriteGuard::downgrade(model);
                    let published = if effect.is_bulk() {
                        // Published beside the changes behind it, which do not wait for
                        // it; its callers are answered then (`bulk.rs`).
                        let deferred = planned.drain(..).cloned().collect();
                        self.defer_publish(effect, &model, first, deferred, started);
                        Ok(())
                    } else {
                        self.publish_group(effect, &model, started)
                    };
                    drop(model);
                    if published.is_ok() {
                        self.start_checkpoint_if_due(writer);
                    }
                    published
                }
                Err(error) => {
                    if missed && writer.poisoned.is_none() {
                        // The model is back at what the log holds, with the changes caught
                        // up before planning: publish those. What the failed group touched
                        // shows what it showed.
                        let model = RwLockWriteGuard::downgrade(model);
                        let _ = self.publish_group(effect, &model, started);
                    }
                    Err(error)
                }
            }
        };
        for job in planned {
            job.settle(outcome.clone());
        }
        guard.finished = true;
        let waited = !self.queue.lock().is_empty();
        timing.log_if_slow(jobs.len(), records.len(), waited);
    }

    /// Commits the group's records to the log (`writes` are their mutations, when it wants
    /// them). On failure the model, which already holds the group's mutations, is
    /// reloaded from the node's own store (the journal, or the cache, which holds
    /// everything the shared log had up to the group); should that fail too, the writer is
    /// poisoned.
    fn store_group(
        &self,
        writer: &mut Writer,
        model: &mut Model,
        records: &[(u64, Vec<u8>)],
        writes: &[TableWrite],
    ) -> Result<(), AdminError> {
        let error = match writer.log.commit(records, writes) {
            Ok(Kept::Everywhere) => return Ok(()),
            Ok(Kept::NotCached(err)) => {
                Self::replace_cache(writer, model, err);
                return Ok(());
            }
            Err(error) => error,
        };
        match load(writer.log.local(), None) {
            Ok(reloaded) => {
                *model = reloaded.model;
                writer.position = reloaded.position;
            }
            Err(reload) => writer.poisoned = Some(reload.to_string()),
        }
        Err(error)
    }
}

#[cfg(test)]
mod tests {
    //! A commit whose reply is lost: the caller gets `unavailable`, and the log settles the
    //! change, on the node that made it and on every other.

    use std::sync::atomic::{AtomicU8, Ordering};
    use std::sync::Arc;

    use super::*;
    use crate::store::postgres::{PgWriter, Postgres};
    use crate::store::{MemoryStore, SharedError, SharedLog};
    use crate::{AdminConfig, Caller, ErrorCode, ImportRequest, NewConnector};

    /// What the next commit does before its reply is lost.
    const PASS: u8 = 0;
    const COMMIT_THEN_LOSE: u8 = 1;
    const ABORT_THEN_LOSE: u8 = 2;

    struct LostReply {
        inner: PgWriter,
        next: Arc<AtomicU8>,
    }

    impl SharedLog for LostReply {
        fn begin(&mut self, after: u64) -> Result<Records, SharedError> {
            self.inner.begin(after)
        }

        fn commit(
            &mut self,
            records: &[(u64, Vec<u8>)],
            writes: &[TableWrite],
        ) -> Result<(), SharedError> {
            match self.next.swap(PASS, Ordering::AcqRel) {
                COMMIT_THEN_LOSE => {
                    self.inner.commit(records, writes)?;
                    Err(SharedError::Unknown("the reply was lost".into()))
                }
                ABORT_THEN_LOSE => {
                    self.inner.abort();
                    Err(SharedError::Unknown("the reply was lost".into()))
                }
                _ => self.inner.commit(records, writes),
            }
        }

        fn abort(&mut self) {
            self.inner.abort();
        }
    }

    fn node(url: &str, name: &str) -> Admin {
        let store = Postgres::connect(url, name).expect("connect");
        Admin::open_shared(
            Box::new(MemoryStore::default()),
            store,
            AdminConfig::default(),
        )
        .expect("open")
    }

    fn import(admin: &Admin, number: &str, connector: &str) -> Result<usize, AdminError> {
        admin
            .import_numbers(
                &Caller::Operator,
                "default",
                &ImportRequest {
                    phone_numbers: vec![number.to_string()],
                    client_env: None,
                    connector_id: Some(connector.to_string()),
                },
            )
            .map(|imported| imported.imported.len())
    }

    fn routed(admin: &Admin, number: &str) -> bool {
        admin
            .router()
            .get(number.parse().expect("a number"))
            .is_some()
    }

    #[test]
    fn a_commit_whose_outcome_is_unknown_is_settled_by_the_log() {
        let cluster = crate::admin::pg::PgCluster::start();
        let url = cluster.database();
        let admin = node(&url, "writer");
        let next = Arc::new(AtomicU8::new(PASS));
        {
            let mut writer = admin.writer.lock();
            let inner = admin
                .cluster
                .as_ref()
                .and_then(|c| match &c.source {
                    crate::admin::follow::Source::Shared { store, .. } => {
                        store.get().map(|store| store.writer())
                    }
                    crate::admin::follow::Source::Dir { .. } => None,
                })
                .expect("shared");
            writer
                .log
                .attach(Box::new(LostReply {
                    inner,
                    next: next.clone(),
                }))
                .expect("a shared log");
        }
        let other = node(&url, "other");
        admin.bootstrap().expect("bootstrap");
        let connector = admin
            .create_connector(
                &Caller::Operator,
                "default",
                NewConnector {
                    name: "Support".into(),
                    client_env: patchbay_core::ClientEnv::Live,
                    asr_lang_code: "en-US".into(),
                    voice_name: "en-US-Neural2-A".into(),
                    variant_id: None,
                    disable_handoff: None,
                },
            )
            .expect("connector")
            .connector_id;

        // Committed, but the node never heard: 503, not applied here until the log says so.
        next.store(COMMIT_THEN_LOSE, Ordering::Release);
        let err = import(&admin, "+442079460001", &connector).expect_err("unknown");
        assert_eq!(err.code(), ErrorCode::Unavailable, "{err}");
        assert!(!routed(&admin, "+442079460001"));
        admin.check_invariants().expect("invariants");
        admin.catch_up().expect("catch up");
        other.catch_up().expect("catch up");
        assert!(routed(&admin, "+442079460001"), "the log has it");
        assert!(routed(&other, "+442079460001"));

        // Never committed: 503, and nowhere after the log is read.
        next.store(ABORT_THEN_LOSE, Ordering::Release);
        let err = import(&admin, "+442079460002", &connector).expect_err("unknown");
        assert_eq!(err.code(), ErrorCode::Unavailable, "{err}");
        admin.catch_up().expect("catch up");
        other.catch_up().expect("catch up");
        assert!(!routed(&admin, "+442079460002"));
        assert!(!routed(&other, "+442079460002"));
        // A retry succeeds, and both nodes end with one model.
        assert_eq!(import(&admin, "+442079460002", &connector), Ok(1));
        other.catch_up().expect("catch up");
        assert!(routed(&other, "+442079460002"));
        assert_eq!(admin.model_fingerprint(), other.model_fingerprint());
        admin.check_invariants().expect("invariants");
        other.check_invariants().expect("invariants");
    }
}
