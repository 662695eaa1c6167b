//! Patches: a new snapshot from an old one and a change, in O(change).

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::index::{Change, Index};
use super::{now_ns, BuildError, Directory, Snapshot, HOLE};
use crate::connector::Connector;
use crate::number::{Prefix, E164};

/// What a route of a patch points at: an index into the patch's connector ids, or nothing.
const UNROUTED: u32 = u32::MAX;

/// A change to a [`Snapshot`]: connectors put and removed, numbers and prefixes routed and
/// unrouted. It builds a new snapshot that shares with the old one everything it does not
/// touch: only the index shards its numbers and prefixes hash to are copied, so routing k numbers costs O(k) shard copies
/// (a few thousand numbers each) whatever the table's size. Putting or removing connectors
/// copies the connector list, O(connectors). The old snapshot is unchanged.
///
/// [`SnapshotPatch::finish`] applies, in this order: the connectors put (an id already there
/// is replaced in its slot, a new one takes a free slot), the routes (the last route of a
/// number or prefix wins), then the connectors removed, which must route no number and no
/// prefix by then.
///
/// ```
/// # use patchbay_core::{ClientEnv, Connector, Snapshot};
/// # let c = |id: &str| Connector { connector_id: id.into(), name: "Support".into(), account_id: "a".into(),
/// #     project_id: "p".into(), client_env: ClientEnv::Live, variant_id: String::new(),
/// #     asr_lang_code: "en-US".into(), tts_lang_code: "en-US".into(),
/// #     voice_name: "en-US-Neural2-A".into(), disable_handoff: false };
/// let v1 = Snapshot::from_routes(1, [("+14155552671".parse()?, &c("old"))])?;
/// let mut patch = v1.patch(2);
/// patch
///     .put_connector(c("new"))
///     .route("+14155552671".parse()?, "new")
///     .route("+14155552672".parse()?, "new")
///     .remove_connector("old");
/// let v2 = patch.finish()?;
/// assert_eq!(v2.lookup("+14155552672")?.map(|c| c.connector_id.as_str()), Some("new"));
/// assert_eq!(v2.connector("old"), None);
/// assert_eq!(v1.lookup("+14155552671")?.map(|c| c.connector_id.as_str()), Some("old"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct SnapshotPatch<'a> {
    base: &'a Snapshot,
    version: u64,
    put: Vec<Connector>,
    removed: Vec<String>,
    targets: FxHashMap<Box<str>, u32>,
    target_ids: Vec<Box<str>>,
    routes: Vec<(u64, u32)>,
    prefix_routes: Vec<(u64, u32)>,
    /// Whether `finish` rebuilds an index that patches have outgrown.
    regrow: bool,
}

impl<'a> SnapshotPatch<'a> {
    pub(super) fn new(base: &'a Snapshot, version: u64) -> SnapshotPatch<'a> {
        SnapshotPatch {
            base,
            version,
            put: Vec::new(),
            removed: Vec::new(),
            targets: FxHashMap::default(),
            target_ids: Vec::new(),
            routes: Vec::new(),
            prefix_routes: Vec::new(),
            regrow: true,
        }
    }

    /// Leaves an index that patches have grown past its shards as it is, where
    /// [`SnapshotPatch::finish`] would rebuild it (O(numbers)): for a caller that rebuilds
    /// it away from its own path ([`Snapshot::outgrown`], [`Snapshot::regrown`]) and patches
    /// meanwhile. The shards then hold more numbers each, so a patch copies more; nothing
    /// else changes.
    pub fn keep_shards(&mut self) -> &mut Self {
        self.regrow = false;
        self
    }

    /// Puts `connector`: replaces the one with its id, or adds it.
    pub fn put_connector(&mut self, connector: Connector) -> &mut Self {
        self.put.push(connector);
        self
    }

    /// Removes the connector with this id. No number or prefix may route to it once the
    /// patch's routes are made.
    pub fn remove_connector(&mut self, connector_id: &str) -> &mut Self {
        self.removed.push(connector_id.to_string());
        self
    }

    /// Routes `number` to the connector with this id (in the snapshot, or put by this patch).
    pub fn route(&mut self, number: E164, connector_id: &str) -> &mut Self {
        let target = self.target(connector_id);
        self.routes.push((number.index_key(), target));
        self
    }

    /// Routes `prefix` to the connector with this id (in the snapshot, or put by this
    /// patch).
    pub fn route_prefix(&mut self, prefix: Prefix, connector_id: &str) -> &mut Self {
        let target = self.target(connector_id);
        self.prefix_routes.push((prefix.key(), target));
        self
    }

    /// Unroutes `prefix` (nothing happens if it was not routed).
    pub fn unroute_prefix(&mut self, prefix: Prefix) -> &mut Self {
        self.prefix_routes.push((prefix.key(), UNROUTED));
        self
    }

    /// The patch's index of `connector_id`.
    fn target(&mut self, connector_id: &str) -> u32 {
        match self.targets.get(connector_id) {
            Some(&target) => target,
            None => {
                let target = self.target_ids.len() as u32;
                self.targets.insert(connector_id.into(), target);
                self.target_ids.push(connector_id.into());
                target
            }
        }
    }

    /// Unroutes `number` (nothing happens if it was not routed).
    pub fn unroute(&mut self, number: E164) -> &mut Self {
        self.routes.push((number.index_key(), UNROUTED));
        self
    }

    /// How many routes and unroutes (of numbers and prefixes) the patch holds.
    pub fn route_changes(&self) -> usize {
        self.routes.len() + self.prefix_routes.len()
    }

    /// The patched snapshot. Fails, changing nothing, if a route names a connector that is
    /// neither in the snapshot nor put, if a removed connector is not in the snapshot or
    /// still routes numbers, or if there would be more than `u32::MAX - 1` connectors.
    pub fn finish(self) -> Result<Snapshot, BuildError> {
        let base = self.base;
        let edits_connectors = !self.put.is_empty() || !self.removed.is_empty();
        let mut connectors = edits_connectors.then(|| base.connectors.to_vec());
        let mut directory = edits_connectors.then(|| (*base.directory).clone());
        if let (Some(connectors), Some(directory)) = (&mut connectors, &mut directory) {
            for connector in self.put {
                put(connectors, directory, connector)?;
            }
        }
        let by_id = &directory.as_ref().unwrap_or(&base.directory).by_id;
        let slot_count = connectors.as_ref().map_or(base.connectors.len(), Vec::len);
        let slots = self
            .target_ids
            .iter()
            .map(|id| {
                by_id
                    .get(id)
                    .copied()
                    .ok_or_else(|| BuildError::UnknownConnector(id.to_string()))
            })
            .collect::<Result<Vec<u32>, BuildError>>()?;
        let mut numbers = base.numbers;
        let mut index = base.index.clone();
        let changes_routes = !self.routes.is_empty() || !self.prefix_routes.is_empty();
        let mut routed = (changes_routes || slot_count > base.routed.len()).then(|| {
            let mut counts = base.routed.to_vec();
            counts.resize(slot_count, 0);
            counts
        });
        let mut prefixes = base.prefixes.clone();
        let changes_of = |routes: &[(u64, u32)]| -> Vec<Change> {
            routes
                .iter()
                .map(|&(key, target)| (key, slots.get(target as usize).copied()))
                .collect()
        };
        if let Some(counts) = &mut routed {
            let mut count = |before: Option<u32>, after: Option<u32>| -> i64 {
                let mut delta = 0;
                if let Some(count) = before.and_then(|slot| counts.get_mut(slot as usize)) {
                    *count = count.saturating_sub(1);
                    delta -= 1;
                }
                if let Some(count) = after.and_then(|slot| counts.get_mut(slot as usize)) {
                    *count += 1;
                    delta += 1;
                }
                delta
            };
            if !self.routes.is_empty() {
                index = base
                    .index
                    .patch(changes_of(&self.routes), |_, before, after| {
                        numbers = numbers.saturating_add_signed(count(before, after) as isize);
                    });
            }
            if !self.prefix_routes.is_empty() {
                prefixes = base
                    .prefixes
                    .patch(changes_of(&self.prefix_routes), |before, after| {
                        count(before, after);
                    });
            }
        }
        if let (Some(connectors), Some(directory)) = (&mut connectors, &mut directory) {
            let counts = routed.as_deref().unwrap_or(&base.routed);
            for id in &self.removed {
                remove(connectors, directory, counts, id)?;
            }
        }
        if self.regrow && index.outgrown(numbers) {
            index = regrown_index(&index, self.version, 0)?;
        }
        if self.regrow && prefixes.outgrown() {
            prefixes = regrown_prefixes(&prefixes, self.version)?;
        }
        Ok(Snapshot {
            version: self.version,
            published_at_ns: now_ns(),
            numbers,
            connectors: connectors.map_or_else(|| base.connectors.clone(), Arc::from),
            directory: directory.map_or_else(|| base.directory.clone(), Arc::new),
            routed: routed.map_or_else(|| base.routed.clone(), Arc::from),
            index,
            prefixes,
        })
    }
}

/// `index` rebuilt with shards for the numbers it holds, with a new seed.
pub(super) fn regrown_index(
    index: &Index,
    version: u64,
    numbers: usize,
) -> Result<Index, BuildError> {
    let seed = RandomState::new().hash_one(version);
    let entries: Vec<(u64, u32)> = index.entries().collect();
    let count = super::index::shard_count(numbers.max(entries.len()));
    Index::build_sharded(entries, seed, count)
        .map_err(|dup| BuildError::DuplicateNumber(E164::from_index_key(dup.0)))
}

/// `prefixes` rebuilt with shards for the prefixes it holds, with a new seed.
pub(super) fn regrown_prefixes(
    prefixes: &super::prefixes::Prefixes,
    version: u64,
) -> Result<super::prefixes::Prefixes, BuildError> {
    let seed = RandomState::new().hash_one(version);
    prefixes
        .rebuilt(seed)
        .map_err(|dup| BuildError::DuplicatePrefix(Prefix::from_key(dup.0)))
}

/// Puts `connector` in its slot, or in a hole, or in a new slot.
fn put(
    connectors: &mut Vec<Connector>,
    directory: &mut Directory,
    connector: Connector,
) -> Result<(), BuildError> {
    if let Some(&slot) = directory.by_id.get(connector.connector_id.as_str()) {
        if let Some(existing) = connectors.get_mut(slot as usize) {
            *existing = connector;
        }
        return Ok(());
    }
    let slot = match directory.holes.first().copied() {
        Some(slot) => {
            directory.holes.remove(0);
            slot
        }
        None => u32::try_from(connectors.len())
            .ok()
            .filter(|&slot| slot < u32::MAX)
            .ok_or(BuildError::TooManyConnectors)?,
    };
    directory
        .by_id
        .insert(connector.connector_id.as_str().into(), slot);
    match connectors.get_mut(slot as usize) {
        Some(existing) => *existing = connector,
        None => connectors.push(connector),
    }
    Ok(())
}

/// Removes the connector with id `id`, leaving a hole, if no number routes to it.
fn remove(
    connectors: &mut [Connector],
    directory: &mut Directory,
    routed: &[u32],
    id: &str,
) -> Result<(), BuildError> {
    let slot = *directory
        .by_id
        .get(id)
        .ok_or_else(|| BuildError::UnknownConnector(id.to_string()))?;
    let numbers = routed.get(slot as usize).copied().unwrap_or(0);
    if numbers > 0 {
        return Err(BuildError::ConnectorInUse {
            id: id.to_string(),
            numbers,
        });
    }
    directory.by_id.remove(id);
    if let Some(existing) = connectors.get_mut(slot as usize) {
        *existing = HOLE.clone();
    }
    if let Err(at) = directory.holes.binary_search(&slot) {
        directory.holes.insert(at, slot);
    }
    Ok(())
}
