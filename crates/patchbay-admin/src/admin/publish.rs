//! Publishing: what a group of changes touched ([`Effect`]), the snapshot patch that shows
//! it, and the publish, with its figures. The index's rebuild once it has outgrown its
//! shards is in `regrow.rs`.

use std::time::Instant;

use patchbay_core::{Connector, Prefix, Snapshot, SnapshotPatch, E164};

use super::commit::BULK;
use super::Replica;
use crate::error::AdminError;
use crate::model::{Id, Model, Mutation};

/// What a group changed that the published snapshot must show.
#[derive(Default, Clone)]
pub(super) struct Effect {
    /// Numbers put or removed, in order (a number may be there more than once).
    numbers: Vec<E164>,
    /// Ids of connectors put or removed, in order.
    connectors: Vec<String>,
    /// Prefixes put or removed, in order.
    prefixes: Vec<Prefix>,
    /// Whether accounts, projects or keys changed: lookups' access checks must see it.
    access: bool,
}

impl Effect {
    pub(super) fn add(&mut self, change: &[Mutation]) {
        for mutation in change {
            match mutation {
                Mutation::PutNumbers { numbers, .. } | Mutation::RemoveNumbers { numbers } => {
                    self.numbers.extend_from_slice(numbers)
                }
                Mutation::PutConnector { connector } => {
                    self.connectors.push(connector.connector_id.clone())
                }
                Mutation::RemoveConnector { connector_id } => {
                    self.connectors.push(connector_id.clone())
                }
                Mutation::PutPrefixes { prefixes, .. } | Mutation::RemovePrefixes { prefixes } => {
                    self.prefixes.extend_from_slice(prefixes)
                }
                Mutation::PutAccount { .. }
                | Mutation::PutProject { .. }
                | Mutation::PutKey { .. }
                | Mutation::RevokeKey { .. } => self.access = true,
            }
        }
    }

    /// How many numbers, connectors and prefixes it touched (counting repeats).
    pub(super) fn len(&self) -> usize {
        self.numbers.len() + self.connectors.len() + self.prefixes.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.numbers.is_empty() && self.connectors.is_empty() && self.prefixes.is_empty()
    }

    /// Adds what `later` touched.
    pub(super) fn append(&mut self, mut later: Effect) {
        self.numbers.append(&mut later.numbers);
        self.connectors.append(&mut later.connectors);
        self.prefixes.append(&mut later.prefixes);
        self.access |= later.access;
    }

    /// Whether publishing this copies enough of the index to be built beside the changes
    /// rather than in their way (`bulk.rs`): [`BULK`] numbers and prefixes or more.
    pub(super) fn is_bulk(&self) -> bool {
        self.numbers.len() + self.prefixes.len() >= BULK
    }

    /// Whether accounts, projects or keys changed.
    pub(super) fn touches_access(&self) -> bool {
        self.access
    }

    /// What a patch of `snapshot` must do to show what `model` routes, for what the group
    /// touched: each touched connector put as the model has it or removed, each touched
    /// number and prefix routed to its connector or unrouted. O(change): nothing else of
    /// the model is read.
    pub(super) fn resolve(&self, snapshot: &Snapshot, model: &Model) -> Recipe {
        let mut recipe = Recipe::default();
        // A connector touched twice (updated, then deleted, in one group or one replay) is
        // patched once, to what the model has now.
        let mut seen = rustc_hash::FxHashSet::default();
        for id in self.connectors.iter().filter(|id| seen.insert(id.as_str())) {
            match model.connectors.get(id.as_str()) {
                Some(connector) => recipe.put.push(connector.clone()),
                None if snapshot.connector(id).is_some() => recipe.removed.push(id.clone()),
                None => {}
            }
        }
        let routed = |id: Option<&Id>| {
            id.filter(|id| model.connectors.contains_key(id.as_ref() as &str))
                .cloned()
        };
        recipe.numbers = self
            .numbers
            .iter()
            .map(|&number| {
                let id = model.numbers.get(&number).and_then(|entry| entry.connector);
                (number, routed(id))
            })
            .collect();
        recipe.prefixes = self
            .prefixes
            .iter()
            .map(|&prefix| (prefix, routed(model.prefixes.get(&prefix))))
            .collect();
        recipe
    }

    /// The patch that takes `snapshot` to what `model` routes, for what the group touched
    /// ([`Effect::resolve`]).
    pub(super) fn patch<'a>(
        &self,
        snapshot: &'a Snapshot,
        model: &Model,
        version: u64,
    ) -> SnapshotPatch<'a> {
        let mut patch = snapshot.patch(version);
        self.resolve(snapshot, model).apply(&mut patch);
        patch
    }
}

/// A patch read from the model ([`Effect::resolve`]), owned, so that another thread can
/// make it.
#[derive(Default)]
pub(super) struct Recipe {
    put: Vec<Connector>,
    removed: Vec<String>,
    numbers: Vec<(E164, Option<Id>)>,
    prefixes: Vec<(Prefix, Option<Id>)>,
}

impl Recipe {
    /// Adds this to `patch`.
    pub(super) fn apply(&self, patch: &mut SnapshotPatch<'_>) {
        for connector in &self.put {
            patch.put_connector(connector.clone());
        }
        for id in &self.removed {
            patch.remove_connector(id);
        }
        for (number, id) in &self.numbers {
            match id {
                Some(id) => patch.route(*number, id),
                None => patch.unroute(*number),
            };
        }
        for (prefix, id) in &self.prefixes {
            match id {
                Some(id) => patch.route_prefix(*prefix, id),
                None => patch.unroute_prefix(*prefix),
            };
        }
    }
}

impl Replica {
    /// Builds and publishes the snapshot that shows `effect`, and records the timing.
    pub(super) fn publish_group(
        &self,
        effect: Effect,
        model: &Model,
        started: Instant,
    ) -> Result<(), AdminError> {
        if effect.access {
            self.access.publish(model);
        }
        if !effect.is_empty() {
            let version = self.router.version() + 1;
            let current = self.router.snapshot();
            let mut patch = effect.patch(&current, model, version);
            // An outgrown index is rebuilt on a thread of its own (`regrow.rs`).
            patch.keep_shards();
            let snapshot = match patch.finish() {
                Ok(snapshot) => snapshot,
                Err(_) => {
                    // Cannot happen while the model keeps its invariants (a connector is
                    // removed with its numbers); a full build from the model is right anyway.
                    self.stats.lock().rebuilds += 1;
                    model
                        .snapshot(version)
                        .map_err(|e| AdminError::internal(e.to_string()))?
                }
            };
            self.router
                .publish(snapshot)
                .map_err(|e| AdminError::internal(e.to_string()))?;
            self.bulk.note(&effect);
            self.regrow_after(effect, model)?;
        }
        let elapsed = started.elapsed();
        let mut stats = self.stats.lock();
        stats.publishes += 1;
        stats.last = elapsed;
        stats.total += elapsed;
        Ok(())
    }
}
