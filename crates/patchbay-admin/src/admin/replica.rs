//! [`Replica`]: what every holder of the model shares, whether it takes changes or follows a
//! process that does. It holds the model, the router readers are handed, and the path from
//! applied changes to a published snapshot: apply (`Replica::apply_records`), then publish
//! (`publish.rs`, with `regrow.rs` and `bulk.rs` beside it).
//!
//! An [`Admin`](super::Admin) is a replica with a writer in front: the journal, or the
//! shared store's log. A [`Follower`](super::Follower) is a replica fed by a data directory
//! that another process owns, or by a shared store's log, and it takes no change. The reads
//! of the contract (listings, gets, lookups, keys and projects) are the replica's, so both
//! answer them the same way.

use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use patchbay_core::{normalize_in, Router, Snapshot, E164};

use super::access::{self, PublishedAccess};
use super::bulk::Bulk;
use super::publish::Effect;
use super::reclaim::Reclaimer;
use super::regrow::Regrow;
use super::{encode, AdminConfig, Caller, PublishStats};
use crate::error::{AdminError, ErrorCode};
use crate::model::{change, InvariantError, Model};
use crate::store::Records;

/// The model, the router it is published into, and the machinery between the two. Every
/// method is safe to call from many threads; readers never take the writer's side.
pub struct Replica {
    /// Shared with the threads that write a checkpoint or build a bulk change beside the
    /// writer.
    pub(super) model: Arc<RwLock<Model>>,
    pub(super) router: Router,
    /// The keys and projects lookups are checked against, published with every change to
    /// them, so that a lookup never waits for the model's lock.
    pub(super) access: PublishedAccess,
    pub(super) stats: Mutex<PublishStats>,
    /// The index being rebuilt with more shards in the background, if it is.
    pub(super) regrow: Mutex<Option<Regrow>>,
    /// Bulk changes waiting to be published beside the light ones; shared with the
    /// checkpoint thread.
    pub(super) bulk: Arc<Bulk>,
    pub(super) config: AdminConfig,
    pub(super) warnings: Vec<String>,
    /// Frees the snapshots publishes replace, so that whoever publishes does not.
    _reclaimer: Reclaimer,
}

/// The records of a read that were applied, in order (the last one's position is the
/// replica's now).
pub(super) type Applied = Vec<(u64, Vec<u8>)>;

impl Replica {
    /// A replica of `model`, whose last change is at `position`, publishing `snapshot` (or
    /// one built from the model when there is none).
    pub(super) fn new(
        model: Model,
        position: u64,
        snapshot: Option<Arc<Snapshot>>,
        config: AdminConfig,
        warnings: Vec<String>,
    ) -> Result<Replica, AdminError> {
        let snapshot = match snapshot {
            Some(snapshot) => snapshot,
            None => Arc::new(
                model
                    .snapshot(position + 1)
                    .map_err(|e| AdminError::internal(e.to_string()))?,
            ),
        };
        let router = Router::from_arc(snapshot);
        Ok(Replica {
            access: PublishedAccess::new(&model),
            model: Arc::new(RwLock::new(model)),
            _reclaimer: Reclaimer::start(&router),
            router,
            stats: Mutex::new(PublishStats::default()),
            regrow: Mutex::new(None),
            bulk: Arc::default(),
            config,
            warnings,
        })
    }

    /// Applies the records that follow position `at` to `model`, in order and without a
    /// gap (a record at or below `at` is skipped: applied already), and adds what they
    /// touched to `effect`. Returns the records applied. Nothing is applied when one of
    /// them cannot be read or does not follow the one before.
    pub(super) fn apply_records(
        model: &mut Model,
        at: u64,
        records: &Records,
        effect: &mut Effect,
    ) -> Result<Applied, AdminError> {
        let mut last = at;
        let mut fresh = Vec::new();
        let mut changes = Vec::new();
        for (position, bytes) in records {
            if *position <= last {
                continue;
            }
            if *position != last + 1 {
                return Err(AdminError::internal(format!(
                    "change {position} of the log follows {last}: read the log again"
                )));
            }
            changes.push(change::decode_change(*position, bytes).map_err(AdminError::internal)?);
            fresh.push((*position, bytes.clone()));
            last = *position;
        }
        for change in changes {
            effect.add(&change);
            change.into_iter().for_each(|m| model.apply(m));
        }
        Ok(fresh)
    }

    /// Replaces `model` (the replica's, write-locked by the caller) with `fresh`, read whole
    /// from the store, and publishes `snapshot`, built from it. Bulk changes waiting to be
    /// published and an index being rebuilt from an older snapshot are dropped (`fresh`
    /// holds everything they showed), and the bulk changes' callers answered.
    pub(super) fn replace_model(
        &self,
        model: &mut Model,
        fresh: Model,
        snapshot: Arc<Snapshot>,
    ) -> Result<(), AdminError> {
        *model = fresh;
        self.access.publish(model);
        let published = self
            .router
            .publish_arc(snapshot)
            .map_err(|e| AdminError::internal(e.to_string()));
        *self.regrow.lock() = None;
        for job in self.bulk.supersede() {
            job.settle(published.clone());
        }
        published
    }

    /// What start-up dropped or noticed (a torn journal tail, say).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Publishing figures since start.
    pub fn publish_stats(&self) -> PublishStats {
        *self.stats.lock()
    }

    /// The router this replica publishes into: hand readers out of it.
    pub fn router(&self) -> &Router {
        &self.router
    }

    /// How many numbers the model holds.
    pub fn number_count(&self) -> usize {
        self.model.read().numbers.len()
    }

    /// How many prefixes the model holds.
    pub fn prefix_count(&self) -> usize {
        self.model.read().prefixes.len()
    }

    /// Whether `caller` may use `project` (see [`access::authorize`]).
    pub(super) fn authorize(
        &self,
        model: &Model,
        caller: &Caller,
        project: &str,
    ) -> Result<(), AdminError> {
        access::authorize(model, caller, project)
    }

    /// Checks that `caller` is a valid key (or the operator) without naming a project.
    pub fn authenticate_caller(&self, caller: &Caller) -> Result<(), AdminError> {
        match caller {
            Caller::Operator => Ok(()),
            Caller::Key(key) => access::authenticate(&*self.model.read(), key).map(|_| ()),
        }
    }

    /// Refuses a key where only the operator may act.
    pub(super) fn operator_only(caller: &Caller) -> Result<(), AdminError> {
        match caller {
            Caller::Operator => Ok(()),
            Caller::Key(_) => Err(AdminError::new(
                ErrorCode::Forbidden,
                "only the operator (the command line) manages projects and keys",
            )),
        }
    }

    /// Refuses a bulk call of more than the bulk limit.
    pub(super) fn check_bulk(&self, count: usize) -> Result<(), AdminError> {
        if count > self.config.max_bulk {
            return Err(AdminError::new(
                ErrorCode::PayloadTooLarge,
                format!(
                    "{count} items in one call; the limit is {}: split the call",
                    self.config.max_bulk
                ),
            ));
        }
        Ok(())
    }

    /// A bulk call's list: at least one item, at most the bulk limit.
    pub(super) fn check_list(
        &self,
        field: &str,
        items: &str,
        count: usize,
    ) -> Result<(), AdminError> {
        if count == 0 {
            return Err(AdminError::invalid_request(format!(
                "{field} must list at least one {items}"
            )));
        }
        self.check_bulk(count)
    }

    /// Reads `input` as a number, in the configured region when it is written nationally.
    pub(super) fn normalize(&self, input: &str) -> Result<E164, AdminError> {
        Ok(normalize_in(input, self.config.default_region)?)
    }

    /// Checks the model's invariants, and that the published snapshot routes exactly what
    /// the model says (for tests and diagnostics).
    ///
    /// # Errors
    ///
    /// The first [`InvariantError`] found.
    pub fn check_invariants(&self) -> Result<(), InvariantError> {
        let model = self.model.read();
        model.check_invariants()?;
        // The published snapshot is exactly what the model routes.
        let snapshot = self.router.snapshot();
        let assigned = model
            .numbers
            .values()
            .filter(|e| e.connector.is_some())
            .count();
        if snapshot.len() != assigned {
            return Err(InvariantError::SnapshotRoutes {
                what: "numbers",
                snapshot: snapshot.len(),
                model: assigned,
            });
        }
        for (number, entry) in model.numbers.iter() {
            let routed = snapshot.exact(*number).map(|c| c.connector_id.as_str());
            if routed != entry.connector.map(|c| &**c) {
                return Err(InvariantError::SnapshotNumber {
                    number: *number,
                    routed: routed.map(str::to_string),
                    model: entry.connector.as_ref().map(|c| c.to_string()),
                });
            }
        }
        if snapshot.prefix_count() != model.prefixes.len() {
            return Err(InvariantError::SnapshotRoutes {
                what: "prefixes",
                snapshot: snapshot.prefix_count(),
                model: model.prefixes.len(),
            });
        }
        for (prefix, connector) in &model.prefixes {
            let routed = snapshot.prefix(*prefix).map(|c| c.connector_id.as_str());
            if routed != Some(&**connector) {
                return Err(InvariantError::SnapshotPrefix {
                    prefix: *prefix,
                    routed: routed.map(str::to_string),
                    model: connector.to_string(),
                });
            }
        }
        for (id, connector) in &model.connectors {
            if snapshot.connector(id) != Some(connector) {
                return Err(InvariantError::SnapshotConnector {
                    connector: id.to_string(),
                });
            }
        }
        if snapshot.connector_count() != model.connectors.len() {
            return Err(InvariantError::SnapshotConnectors {
                snapshot: snapshot.connector_count(),
                model: model.connectors.len(),
            });
        }
        // Every publish patched the snapshot before it: none fell back to a rebuild.
        let rebuilds = self.stats.lock().rebuilds;
        if rebuilds > 0 {
            return Err(InvariantError::Rebuilds { rebuilds });
        }
        Ok(())
    }

    /// A digest of the whole model (accounts, projects, keys, connectors, numbers, prefixes):
    /// two replicas, on one node or two, hold the same model exactly when their fingerprints
    /// agree. O(model): for checks and diagnostics, not for every call.
    pub fn model_fingerprint(&self) -> String {
        use sha2::Digest;
        let bytes = encode(None, &self.model.read().to_mutations()).unwrap_or_default();
        sha2::Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}
