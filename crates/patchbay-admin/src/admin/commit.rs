//! Group commit: the one path every change takes from a plan to a durable, published change.
//!
//! A caller hands [`Admin::change`] a *plan*: a closure that validates against the model and
//! returns the mutations and the caller's answer. The plan is queued; the caller then takes
//! the writer lock. Whoever holds it is the leader: it runs every queued plan in order, each
//! against the model as the plans before it left it (so concurrent changes are validated
//! exactly as if they had run one after another), appends one journal record per change in
//! one write with one fsync, publishes one snapshot for the whole group, and only then answers
//! each caller. A caller whose plan an earlier leader ran finds its answer when it gets the
//! lock. The model stays write-locked from the first plan to the fsync, so no reader of the
//! model sees a change before it is durable; lookups see it with the publish.
//!
//! A failed append leaves nothing in the journal (the store truncates what it wrote), and
//! the model, already ahead of the store, is reloaded from it; every change of the group gets
//! the error. Should the reload fail too, the admin refuses every later change.

use std::sync::Arc;
use std::time::Instant;

use parking_lot::{Mutex, MutexGuard, RwLockWriteGuard};
use patchbay_core::Connector;

use super::{encode, store_error, Admin, Writer};
use crate::error::AdminError;
use crate::model::{Model, Mutation};
use crate::store::Store;

/// A plan: validates against the model and returns the mutations and the caller's answer.
type Plan<R> = Box<dyn FnOnce(&Admin, &Model) -> Result<(Vec<Mutation>, R), AdminError> + Send>;

/// A queued change, as the leader sees it (without its answer's type).
pub(super) trait Job: Send + Sync {
    /// Runs the plan: the mutations, or `None` when the plan refused (the job then holds its
    /// error).
    fn plan(&self, admin: &Admin, model: &Model) -> Option<Vec<Mutation>>;
    /// Settles the job with the group's outcome (a job not yet planned can only fail).
    fn settle(&self, outcome: Result<(), AdminError>);
}

enum State<R> {
    Queued(Plan<R>),
    Planned(R),
    Settled(Result<R, AdminError>),
    Taken,
}

struct Slot<R> {
    state: Mutex<State<R>>,
}

impl<R: Send> Job for Slot<R> {
    fn plan(&self, admin: &Admin, model: &Model) -> Option<Vec<Mutation>> {
        let mut state = self.state.lock();
        let State::Queued(plan) = std::mem::replace(&mut *state, State::Taken) else {
            *state = State::Settled(Err(AdminError::internal("a change was planned twice")));
            return None;
        };
        match plan(admin, model) {
            Ok((mutations, answer)) => {
                *state = State::Planned(answer);
                Some(mutations)
            }
            Err(error) => {
                *state = State::Settled(Err(error));
                None
            }
        }
    }

    fn settle(&self, outcome: Result<(), AdminError>) {
        let mut state = self.state.lock();
        *state = match std::mem::replace(&mut *state, State::Taken) {
            State::Planned(answer) => State::Settled(outcome.map(|()| answer)),
            State::Queued(_) => State::Settled(Err(outcome
                .err()
                .unwrap_or_else(|| AdminError::internal("a change was settled unplanned")))),
            settled => settled,
        };
    }
}

/// Loads the model from `store`: the checkpoint, then every journal record after it, in
/// order. Returns the model, the last sequence number and the store's warnings.
pub(super) fn load(store: &mut dyn Store) -> Result<(Model, u64, Vec<String>), AdminError> {
    let loaded = store
        .load()
        .map_err(|e| AdminError::internal(e.to_string()))?;
    let mut model = Model::default();
    let mut seq = 0;
    if let Some((at, bytes)) = &loaded.checkpoint {
        let mutations: Vec<Mutation> = serde_json::from_slice(bytes)
            .map_err(|e| AdminError::internal(format!("unreadable checkpoint: {e}")))?;
        mutations.into_iter().for_each(|m| model.apply(m));
        seq = *at;
    }
    for (at, bytes) in &loaded.records {
        if *at != seq + 1 {
            return Err(AdminError::internal(format!(
                "journal record {at} follows {seq}: a record is missing"
            )));
        }
        let mutations: Vec<Mutation> = serde_json::from_slice(bytes)
            .map_err(|e| AdminError::internal(format!("unreadable journal record {at}: {e}")))?;
        mutations.into_iter().for_each(|m| model.apply(m));
        seq = *at;
    }
    model
        .check_invariants()
        .map_err(|e| AdminError::internal(format!("the stored model is inconsistent: {e}")))?;
    Ok((model, seq, loaded.warnings))
}

/// What a group changed that the published snapshot must show.
#[derive(Default)]
struct Effect {
    /// Numbers moved, appeared or went away: the number index is rebuilt.
    reroutes: bool,
    /// Connectors put, in order (later puts of one id win).
    connectors: Vec<Connector>,
}

impl Effect {
    fn add(&mut self, change: &[Mutation]) {
        for mutation in change {
            match mutation {
                Mutation::PutNumbers { .. }
                | Mutation::RemoveNumbers { .. }
                | Mutation::RemoveConnector { .. } => self.reroutes = true,
                Mutation::PutConnector { connector } => self.connectors.push(connector.clone()),
                _ => {}
            }
        }
    }
}

impl Admin {
    /// Runs `plan` in a group commit and returns its answer once its change is durable and
    /// published. A plan that returns no mutations changes nothing and is answered as is.
    pub(super) fn change<R, F>(&self, plan: F) -> Result<R, AdminError>
    where
        R: Send + 'static,
        F: FnOnce(&Admin, &Model) -> Result<(Vec<Mutation>, R), AdminError> + Send + 'static,
    {
        let slot = Arc::new(Slot {
            state: Mutex::new(State::Queued(Box::new(plan))),
        });
        self.queue.lock().push(slot.clone());
        let writer = self.writer.lock();
        if matches!(*slot.state.lock(), State::Queued(_)) {
            let jobs = std::mem::take(&mut *self.queue.lock());
            self.commit_group(writer, &jobs);
        } else {
            drop(writer);
        }
        let settled = std::mem::replace(&mut *slot.state.lock(), State::Taken);
        match settled {
            State::Settled(outcome) => outcome,
            _ => Err(AdminError::internal(
                "a change was not settled by its group",
            )),
        }
    }

    /// Plans, stores, applies and publishes `jobs` as one group, then settles each.
    fn commit_group(&self, mut writer: MutexGuard<'_, Writer>, jobs: &[Arc<dyn Job>]) {
        if let Some(why) = &writer.poisoned {
            let refused = AdminError::internal(format!(
                "an earlier write failed and the store could not be reloaded ({why}): \
                 restart patchbay"
            ));
            jobs.iter().for_each(|job| job.settle(Err(refused.clone())));
            return;
        }
        let started = Instant::now();
        let mut model = self.model.write();
        let mut planned = Vec::with_capacity(jobs.len());
        let mut records = Vec::new();
        let mut effect = Effect::default();
        let mut seq = writer.seq;
        for job in jobs {
            let Some(change) = job.plan(self, &model) else {
                continue;
            };
            if !change.is_empty() {
                let payload = match encode(&change) {
                    Ok(payload) => payload,
                    Err(error) => {
                        job.settle(Err(error));
                        continue;
                    }
                };
                seq += 1;
                records.push((seq, payload));
                effect.add(&change);
                change.into_iter().for_each(|m| model.apply(m));
            }
            planned.push(job);
        }
        let outcome = if records.is_empty() {
            Ok(())
        } else {
            self.store_group(&mut writer, &mut model, &records)
                .and_then(|()| {
                    writer.seq = seq;
                    let model = RwLockWriteGuard::downgrade(model);
                    self.publish_group(effect, &model, started)?;
                    if writer.store.journal_len() > self.config.checkpoint_after {
                        Self::checkpoint_locked(&mut writer, &model, &self.router)?;
                    }
                    Ok(())
                })
        };
        for job in planned {
            job.settle(outcome.clone());
        }
    }

    /// Appends the group's records durably. On failure the model, which already holds the
    /// group's mutations, is reloaded from the store.
    fn store_group(
        &self,
        writer: &mut Writer,
        model: &mut Model,
        records: &[(u64, Vec<u8>)],
    ) -> Result<(), AdminError> {
        let Err(err) = writer.store.append_group(records) else {
            return Ok(());
        };
        let error = store_error(err);
        match load(&mut *writer.store) {
            Ok((reloaded, seq, _)) => {
                *model = reloaded;
                writer.seq = seq;
            }
            Err(reload) => writer.poisoned = Some(reload.to_string()),
        }
        Err(error)
    }

    /// Builds and publishes the snapshot that shows `effect`, and records the timing.
    fn publish_group(
        &self,
        effect: Effect,
        model: &Model,
        started: Instant,
    ) -> Result<(), AdminError> {
        let version = self.router.version() + 1;
        let snapshot = if effect.reroutes {
            Some(model.snapshot(version))
        } else if effect.connectors.is_empty() {
            None
        } else {
            Some(
                self.router
                    .snapshot()
                    .with_connectors(version, effect.connectors),
            )
        };
        if let Some(snapshot) = snapshot {
            let snapshot = snapshot.map_err(|e| AdminError::internal(e.to_string()))?;
            self.router
                .publish(snapshot)
                .map_err(|e| AdminError::internal(e.to_string()))?;
        }
        let elapsed = started.elapsed();
        let mut stats = self.stats.lock();
        stats.publishes += 1;
        stats.last = elapsed;
        stats.total += elapsed;
        Ok(())
    }
}
