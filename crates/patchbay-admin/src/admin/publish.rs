//! Publishing: what a group of changes touched ([`Effect`]), the snapshot patch that shows
//! it, and the publish, with its figures. The index's rebuild once it has outgrown its
//! shards is in `regrow.rs`.

use std::time::Instant;

use patchbay_core::{Prefix, Snapshot, SnapshotPatch, E164};

use super::Admin;
use crate::error::AdminError;
use crate::model::{Model, Mutation};

/// What a group changed that the published snapshot must show.
#[derive(Default)]
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

    /// The patch that takes `snapshot` to what `model` routes, for what the group touched:
    /// each touched connector put as the model has it or removed, each touched number and
    /// prefix routed to its connector or unrouted. O(change): nothing else of the model is
    /// read.
    pub(super) fn patch<'a>(
        &self,
        snapshot: &'a Snapshot,
        model: &Model,
        version: u64,
    ) -> SnapshotPatch<'a> {
        let mut patch = snapshot.patch(version);
        // A connector touched twice (updated, then deleted, in one group or one replay) is
        // patched once, to what the model has now.
        let mut seen = rustc_hash::FxHashSet::default();
        for id in self.connectors.iter().filter(|id| seen.insert(id.as_str())) {
            match model.connectors.get(id.as_str()) {
                Some(connector) => {
                    patch.put_connector(connector.clone());
                }
                None if snapshot.connector(id).is_some() => {
                    patch.remove_connector(id);
                }
                None => {}
            }
        }
        for &number in &self.numbers {
            let routed = model
                .numbers
                .get(&number)
                .and_then(|entry| entry.connector.as_ref())
                .filter(|id| model.connectors.contains_key(id.as_ref() as &str));
            match routed {
                Some(id) => patch.route(number, id),
                None => patch.unroute(number),
            };
        }
        for &prefix in &self.prefixes {
            let routed = model
                .prefixes
                .get(&prefix)
                .filter(|id| model.connectors.contains_key(id.as_ref() as &str));
            match routed {
                Some(id) => patch.route_prefix(prefix, id),
                None => patch.unroute_prefix(prefix),
            };
        }
        patch
    }
}

impl Admin {
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
