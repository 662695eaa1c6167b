//! Immutable snapshots: every routed number and the connector it routes to.
//!
//! A [`Snapshot`] is built once ([`Snapshot::from_routes`] or [`SnapshotBuilder`]) or opened
//! from a file ([`Snapshot::open`]), then only read. It stores each connector once and maps
//! numbers to connector slots through the index in [`index`]: one integer-hash probe, one
//! cache line in the common case.

mod cells;
pub(crate) mod file;
pub(crate) mod index;
mod map;
mod patch;
mod prefixes;
pub(crate) mod table;

use std::borrow::Borrow;
use std::collections::hash_map::{Entry, RandomState};
use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustc_hash::FxHashMap;

use crate::connector::{ClientEnv, Connector};
use crate::number::{digit_nibbles, is_encoded, normalize, NormalizeError, Prefix, E164};
use index::Index;
use prefixes::Prefixes;

pub use patch::SnapshotPatch;

pub use file::{
    write_atomically, FileErrorKind, SnapshotFileError, CHECKSUM_AT, FORMAT_VERSION, HEADER_LEN,
    MAGIC,
};

/// An immutable routing table: number → connector, number prefix → connector, connector
/// id → connector, a version and the time it was built.
///
/// A number routes to its own entry's connector if it has one, else to the connector of
/// the longest routed [`Prefix`] of its digits, else nowhere; [`Match`] says which.
///
/// ```
/// use patchbay_core::{ClientEnv, Connector, E164, Snapshot};
/// let connector = Connector {
///     connector_id: "c1".into(), name: "Support".into(), account_id: "acme".into(),
///     project_id: "support".into(), client_env: ClientEnv::Live, variant_id: String::new(),
///     asr_lang_code: "en-US".into(), tts_lang_code: "en-US".into(),
///     voice_name: "en-US-Neural2-A".into(), disable_handoff: false,
/// };
/// let number: E164 = "+14155552671".parse()?;
/// let snapshot = Snapshot::from_routes(1, [(number, &connector)])?;
/// assert_eq!(snapshot.get(number).map(|c| c.name.as_str()), Some("Support"));
/// assert_eq!(snapshot.lookup("tel:+1-415-555-2671")?, Some(&connector));
/// assert_eq!(snapshot.connector("c1"), Some(&connector));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Snapshot {
    version: u64,
    published_at_ns: u64,
    numbers: usize,
    /// Connectors by slot. A removed connector's slot is a hole (see [`Directory`]) until a
    /// new connector takes it: slots never move, so shards that do not change are shared.
    connectors: Arc<[Connector]>,
    directory: Arc<Directory>,
    /// How many numbers and prefixes route to each slot: a connector is removed only once
    /// none does.
    routed: Arc<[u32]>,
    index: Index,
    prefixes: Prefixes,
}

/// How a number found its route: its own entry, or a prefix of its digits (the longest that
/// has a route). Displays as `exact` or `prefix +4420794600`, as the `x-patchbay-match`
/// header of the HTTP lookup says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Match {
    /// The number's own entry.
    Exact,
    /// This prefix of the number, the longest with a route.
    Prefix(Prefix),
}

impl std::fmt::Display for Match {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Match::Exact => f.write_str("exact"),
            Match::Prefix(prefix) => write!(f, "prefix {prefix}"),
        }
    }
}

/// Which slot holds which connector id, and which slots are holes.
#[derive(Clone, Default)]
struct Directory {
    by_id: FxHashMap<Box<str>, u32>,
    /// Slots of removed connectors, ascending; they hold [`HOLE`].
    holes: Vec<u32>,
}

impl Directory {
    /// Whether `slot` is a removed connector's.
    fn is_hole(&self, slot: usize) -> bool {
        u32::try_from(slot).is_ok_and(|slot| self.holes.binary_search(&slot).is_ok())
    }
}

/// What a hole's slot holds: a connector no id names and no number routes to.
pub(crate) static HOLE: Connector = Connector {
    connector_id: String::new(),
    name: String::new(),
    account_id: String::new(),
    project_id: String::new(),
    client_env: ClientEnv::Live,
    variant_id: String::new(),
    asr_lang_code: String::new(),
    tts_lang_code: String::new(),
    voice_name: String::new(),
    disable_handoff: false,
};

/// Whether the digits (`nibbles`, from `digit_nibbles`) of probe key `key` past its first
/// `matched` are all 0-9 (the key of canonical-looking text holds a byte's low four bits
/// per digit, 10-15 for `:` to `?`).
#[inline]
fn digits_past_are_decimal(nibbles: u64, key: u64, matched: usize) -> bool {
    let count = (key & 0xF) as usize;
    let below = |digits: usize| {
        u64::MAX
            .checked_shr(4 * (16 - digits.min(16)) as u32)
            .unwrap_or(0)
    };
    let past = below(count) & !below(matched);
    // A four-bit value is above 9 when bit 3 is set with bit 2 or bit 1.
    let high = nibbles & ((nibbles << 1) | (nibbles << 2)) & 0x8888_8888_8888_8888;
    high & past == 0
}

impl Snapshot {
    /// A snapshot with no numbers and no connectors.
    pub fn empty(version: u64) -> Snapshot {
        SnapshotBuilder::new(version).finish_unchecked()
    }

    /// A patch of this snapshot: connectors put and removed, numbers routed and unrouted,
    /// published as a new snapshot of `version` that shares everything the patch does not
    /// touch. See [`SnapshotPatch`].
    pub fn patch(&self, version: u64) -> SnapshotPatch<'_> {
        SnapshotPatch::new(self, version)
    }

    /// Builds a snapshot from `(number, connector)` pairs in O(n). Connectors are stored
    /// once per `connector_id`; pairs may borrow them (`&Connector`, `Arc<Connector>`).
    ///
    /// Fails if a number appears twice, or two different connectors share an id.
    pub fn from_routes<I, C>(version: u64, routes: I) -> Result<Snapshot, BuildError>
    where
        I: IntoIterator<Item = (E164, C)>,
        C: Borrow<Connector>,
    {
        let routes = routes.into_iter();
        let mut builder = SnapshotBuilder::with_capacity(version, routes.size_hint().0, 0);
        for (number, connector) in routes {
            let slot = builder.connector_ref(connector.borrow())?;
            builder.route(number, slot)?;
        }
        builder.build()
    }

    /// A builder, for adding connectors once and numbers by slot.
    pub fn builder(version: u64) -> SnapshotBuilder {
        SnapshotBuilder::new(version)
    }

    /// The version this snapshot was built with. A [`Router`](crate::Router) only moves to
    /// higher versions.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// When the snapshot was built.
    pub fn published_at(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.published_at_ns)
    }

    /// How many numbers have their own route (prefixes not counted: see
    /// [`Snapshot::prefix_count`]).
    pub fn len(&self) -> usize {
        self.numbers
    }

    /// Whether it routes no number of its own and no prefix.
    pub fn is_empty(&self) -> bool {
        self.numbers == 0 && self.prefixes.len() == 0
    }

    /// How many prefixes have a route.
    pub fn prefix_count(&self) -> usize {
        self.prefixes.len()
    }

    /// The connector routed to exactly this prefix (not to a shorter one that covers it).
    pub fn prefix(&self, prefix: Prefix) -> Option<&Connector> {
        self.prefixes
            .find(prefix)
            .and_then(|slot| self.connectors.get(slot as usize))
    }

    /// Every routed prefix with its connector, in no particular order.
    pub fn prefixes(&self) -> impl Iterator<Item = (Prefix, &Connector)> + '_ {
        self.prefixes.entries().filter_map(move |(key, slot)| {
            Some((Prefix::from_key(key)?, self.connectors.get(slot as usize)?))
        })
    }

    /// Every connector, each once, in slot order.
    pub fn connectors(&self) -> impl Iterator<Item = &Connector> + '_ {
        self.connectors
            .iter()
            .enumerate()
            .filter(|&(slot, _)| !self.directory.is_hole(slot))
            .map(|(_, connector)| connector)
    }

    /// How many connectors it holds.
    pub fn connector_count(&self) -> usize {
        self.directory.by_id.len()
    }

    /// The connector with this id.
    pub fn connector(&self, connector_id: &str) -> Option<&Connector> {
        let slot = *self.directory.by_id.get(connector_id)?;
        self.connectors.get(slot as usize)
    }

    /// How many numbers and prefixes route to the connector with this id (`None`: no such
    /// connector).
    pub fn routed_to(&self, connector_id: &str) -> Option<usize> {
        let slot = *self.directory.by_id.get(connector_id)?;
        self.routed.get(slot as usize).map(|&n| n as usize)
    }

    /// The connector in `slot` (a slot from [`Snapshot::probe`] or [`Snapshot::slot_of`]).
    #[inline]
    pub(crate) fn slot_connector(&self, slot: u32) -> Option<&Connector> {
        self.connectors.get(slot as usize)
    }

    /// The connector that serves `number`: its own entry's, or the longest routed prefix's.
    #[inline]
    pub fn get(&self, number: E164) -> Option<&Connector> {
        self.get_match(number).map(|(_, connector)| connector)
    }

    /// The connector that serves `number`, and how it matched.
    #[inline]
    pub fn get_match(&self, number: E164) -> Option<(Match, &Connector)> {
        self.resolve(number, |slot| self.connectors.get(slot as usize))
    }

    /// The connector of `number`'s own entry, prefixes aside.
    #[inline]
    pub fn exact(&self, number: E164) -> Option<&Connector> {
        self.find(number.index_key())
            .and_then(|slot| self.connectors.get(slot as usize))
    }

    /// Normalizes `input` (no default region) and returns the connector that serves it.
    #[inline]
    pub fn lookup(&self, input: &str) -> Result<Option<&Connector>, NormalizeError> {
        Ok(self.route(input)?.map(|(_, _, connector)| connector))
    }

    /// [`Snapshot::lookup`], saying how the number matched.
    #[inline]
    pub fn lookup_match(&self, input: &str) -> Result<Option<(Match, &Connector)>, NormalizeError> {
        Ok(self
            .route(input)?
            .map(|(_, how, connector)| (how, connector)))
    }

    /// The number `input` names, how it matched and its connector, if routed.
    #[inline(always)]
    pub(crate) fn route(
        &self,
        input: &str,
    ) -> Result<Option<(E164, Match, &Connector)>, NormalizeError> {
        self.probe_with(input, |slot| self.connectors.get(slot as usize))
    }

    /// The number `input` names, how it matched and its connector slot (below the connector
    /// count), if routed.
    #[inline]
    pub(crate) fn probe(&self, input: &str) -> Result<Option<(E164, Match, u32)>, NormalizeError> {
        self.probe_with(input, |slot| self.checked_slot(slot))
    }

    /// `slot` if it is below the connector count.
    #[inline(always)]
    fn checked_slot(&self, slot: u32) -> Option<u32> {
        ((slot as usize) < self.connectors.len()).then_some(slot)
    }

    /// The number `input` names and what `resolve` makes of its connector slot. Canonical
    /// input is probed before it is validated (see `number::probe_key`) and validated only
    /// on a miss; everything else goes through [`normalize`]. Answers and errors are
    /// exactly those of `normalize` followed by [`Snapshot::get_match`].
    #[inline(always)]
    fn probe_with<T>(
        &self,
        input: &str,
        resolve: impl Fn(u32) -> Option<T>,
    ) -> Result<Option<(E164, Match, T)>, NormalizeError> {
        if let Some(key) = crate::number::probe_key(input) {
            // Keys in the index are valid numbers' keys, so a hit proves the input was the
            // canonical text of a valid number.
            if let Some(found) = self.find(key).and_then(&resolve) {
                if let Some(number) = E164::from_index_key(key) {
                    return Ok(Some((number, Match::Exact, found)));
                }
            }
            return self.canonical_miss(input, key, resolve);
        }
        let number = normalize(input)?;
        Ok(self
            .resolve(number, resolve)
            .map(|(how, found)| (number, how, found)))
    }

    /// Input shaped like canonical text whose key has no entry of its own: a valid number
    /// that a prefix routes, or one that nothing routes, or not a valid number at all (a
    /// `:` among the digits, a leading zero, an unknown country code), which [`normalize`]
    /// names. Out of line: the exact path is inlined into callers.
    ///
    /// A key that a prefix matches is a valid number without asking `normalize` when its
    /// digits past the prefix are decimal: the match proves the digits it covers, and
    /// every prefix starts with an assigned country code which, country codes being
    /// prefix-free, is the number's. A key that no prefix matches is a valid number, and
    /// the answer none, when it is digits only and starts with an assigned country code;
    /// only invalid input pays for `normalize`, which says why.
    #[cold]
    #[inline(never)]
    fn canonical_miss<T>(
        &self,
        input: &str,
        key: u64,
        resolve: impl Fn(u32) -> Option<T>,
    ) -> Result<Option<(E164, Match, T)>, NormalizeError> {
        // A prefix match proves its own digits; only the number's digits past it are left
        // to check (no four-bit place above 9).
        if self.prefixes.len() > 0 {
            let nibbles = digit_nibbles(key);
            if let Some((prefix, slot)) = self.prefixes.longest_of(key, nibbles) {
                if digits_past_are_decimal(nibbles, key, prefix.len()) {
                    if let (Some(found), Some(number)) = (resolve(slot), E164::from_index_key(key))
                    {
                        return Ok(Some((number, Match::Prefix(prefix), found)));
                    }
                }
            }
        }
        if is_encoded(key) && E164::is_valid_key(key) {
            return Ok(None);
        }
        normalize(input).map(|_| None)
    }

    /// `number`'s own entry, or its longest routed prefix, through `resolve`.
    #[inline]
    fn resolve<T>(&self, number: E164, resolve: impl Fn(u32) -> Option<T>) -> Option<(Match, T)> {
        if let Some(found) = self.find(number.index_key()).and_then(&resolve) {
            return Some((Match::Exact, found));
        }
        let (prefix, slot) = self.prefixes.longest(number.index_key())?;
        Some((Match::Prefix(prefix), resolve(slot)?))
    }

    /// Every number with its own route, with its connector, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (E164, &Connector)> + '_ {
        self.index.entries().filter_map(move |(key, slot)| {
            let number = E164::from_index_key(key)?;
            Some((number, self.connectors.get(slot as usize)?))
        })
    }

    /// How `number` matched and its connector slot; always below `connectors.len()`.
    #[inline]
    pub(crate) fn slot_of(&self, number: E164) -> Option<(Match, u32)> {
        self.resolve(number, |slot| self.checked_slot(slot))
    }

    /// The connector slot the index holds for `key`.
    #[inline(always)]
    fn find(&self, key: u64) -> Option<u32> {
        self.index.find(key)
    }

    /// A snapshot of `version` with the same routes and `changed` connectors replacing
    /// those with the same id, or added when the id is new. The number index is shared, not
    /// rebuilt: the cost is O(connectors), whatever the number of routes.
    ///
    /// ```
    /// # use patchbay_core::{ClientEnv, Connector, Snapshot};
    /// # let mut c = Connector { connector_id: "c1".into(), name: "Support".into(), account_id: "a".into(),
    /// #     project_id: "p".into(), client_env: ClientEnv::Live, variant_id: String::new(),
    /// #     asr_lang_code: "en-US".into(), tts_lang_code: "en-US".into(),
    /// #     voice_name: "en-US-Neural2-A".into(), disable_handoff: false };
    /// let v1 = Snapshot::from_routes(1, [("+14155552671".parse()?, &c)])?;
    /// c.variant_id = "spring-sale".into();
    /// let v2 = v1.with_connectors(2, [c])?;
    /// assert_eq!(v2.lookup("+14155552671")?.map(|c| c.variant_id.as_str()), Some("spring-sale"));
    /// assert_eq!(v1.lookup("+14155552671")?.map(|c| c.variant_id.as_str()), Some(""));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_connectors(
        &self,
        version: u64,
        changed: impl IntoIterator<Item = Connector>,
    ) -> Result<Snapshot, BuildError> {
        let mut patch = self.patch(version);
        for connector in changed {
            patch.put_connector(connector);
        }
        patch.finish()
    }

    /// Bytes the index occupies (in memory or in the mapped file).
    pub fn index_bytes(&self) -> usize {
        self.index.bytes()
    }

    /// How many shards the number index has (see [`Snapshot::patch`]).
    pub fn shard_count(&self) -> usize {
        self.index.shard_count()
    }

    /// Whether the number index has fewer shards than an index built for `numbers` numbers
    /// would: [`Snapshot::regrown_for`] `numbers` would give it more.
    pub fn has_room_for(&self, numbers: usize) -> bool {
        self.index.shard_count() >= index::shard_count(numbers)
    }

    /// Whether patches have grown the number or prefix index past its shards, so that the
    /// next [`SnapshotPatch::finish`] would rebuild it (unless told to
    /// [`SnapshotPatch::keep_shards`]).
    pub fn outgrown(&self) -> bool {
        self.index.outgrown(self.numbers) || self.prefixes.outgrown()
    }

    /// This snapshot as `version`, with its indexes rebuilt for the numbers and prefixes they
    /// hold (new seeds, more shards): O(numbers), what a patch of an outgrown snapshot does
    /// inline. A caller that cannot afford that on a change's path builds this on another
    /// thread while it patches with [`SnapshotPatch::keep_shards`], then patches the result
    /// with what changed meanwhile. Connectors and their slots are shared.
    pub fn regrown(&self, version: u64) -> Result<Snapshot, BuildError> {
        self.regrown_for(version, self.numbers)
    }

    /// [`Snapshot::regrown`] with shards for `numbers` numbers (or the ones it holds, when
    /// more): what a caller about to add many numbers builds first, so that the index is
    /// not rebuilt again and again as they come.
    pub fn regrown_for(&self, version: u64, numbers: usize) -> Result<Snapshot, BuildError> {
        Ok(Snapshot {
            version,
            published_at_ns: now_ns(),
            numbers: self.numbers,
            connectors: self.connectors.clone(),
            directory: self.directory.clone(),
            routed: self.routed.clone(),
            index: patch::regrown_index(&self.index, version, numbers)?,
            prefixes: patch::regrown_prefixes(&self.prefixes, version)?,
        })
    }
}

#[cfg(test)]
impl Snapshot {
    /// Where each shard's buckets start.
    pub(crate) fn shard_addresses(&self) -> Vec<usize> {
        self.index.tables().map(|t| t.as_ptr() as usize).collect()
    }
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("version", &self.version)
            .field("numbers", &self.numbers)
            .field("connectors", &self.connector_count())
            .field("shards", &self.index.shard_count())
            .field("stored", &self.index.is_stored())
            .finish()
    }
}

/// A connector's place in a [`SnapshotBuilder`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnectorSlot(u32);

/// Collects connectors and routes, then builds a [`Snapshot`] in O(n).
pub struct SnapshotBuilder {
    version: u64,
    connectors: Vec<Connector>,
    by_id: FxHashMap<Box<str>, u32>,
    routes: Vec<(u64, u32)>,
    prefix_routes: Vec<(u64, u32)>,
}

impl SnapshotBuilder {
    /// An empty builder for a snapshot of `version`.
    pub fn new(version: u64) -> SnapshotBuilder {
        SnapshotBuilder::with_capacity(version, 0, 0)
    }

    /// An empty builder with room for `numbers` routes and `connectors` connectors.
    pub fn with_capacity(version: u64, numbers: usize, connectors: usize) -> SnapshotBuilder {
        SnapshotBuilder {
            version,
            connectors: Vec::with_capacity(connectors),
            by_id: FxHashMap::with_capacity_and_hasher(connectors, Default::default()),
            routes: Vec::with_capacity(numbers),
            prefix_routes: Vec::new(),
        }
    }

    /// Adds a connector; its id must be new to this builder.
    pub fn connector(&mut self, connector: Connector) -> Result<ConnectorSlot, BuildError> {
        let slot =
            u32::try_from(self.connectors.len()).map_err(|_| BuildError::TooManyConnectors)?;
        match self.by_id.entry(connector.connector_id.as_str().into()) {
            Entry::Occupied(_) => Err(BuildError::DuplicateConnector(connector.connector_id)),
            Entry::Vacant(entry) => {
                entry.insert(slot);
                self.connectors.push(connector);
                Ok(ConnectorSlot(slot))
            }
        }
    }

    /// The slot of a connector equal to `connector`, adding it if its id is new. Fails if
    /// a different connector has the same id.
    pub fn connector_ref(&mut self, connector: &Connector) -> Result<ConnectorSlot, BuildError> {
        match self.by_id.get(connector.connector_id.as_str()) {
            Some(&slot) if self.connectors.get(slot as usize) == Some(connector) => {
                Ok(ConnectorSlot(slot))
            }
            Some(_) => Err(BuildError::ConflictingConnector(
                connector.connector_id.clone(),
            )),
            None => self.connector(connector.clone()),
        }
    }

    /// Routes `number` to the connector in `slot`. Duplicates are reported by
    /// [`SnapshotBuilder::build`].
    pub fn route(&mut self, number: E164, slot: ConnectorSlot) -> Result<(), BuildError> {
        if slot.0 as usize >= self.connectors.len() {
            return Err(BuildError::UnknownSlot);
        }
        self.routes.push((number.index_key(), slot.0));
        Ok(())
    }

    /// Routes every number that starts with `prefix` (and has no route of its own, or a
    /// longer prefix) to the connector in `slot`. Duplicates are reported by
    /// [`SnapshotBuilder::build`].
    pub fn route_prefix(&mut self, prefix: Prefix, slot: ConnectorSlot) -> Result<(), BuildError> {
        if slot.0 as usize >= self.connectors.len() {
            return Err(BuildError::UnknownSlot);
        }
        self.prefix_routes.push((prefix.key(), slot.0));
        Ok(())
    }

    /// Builds the snapshot. Fails if a number or a prefix was routed twice.
    pub fn build(self) -> Result<Snapshot, BuildError> {
        let seed = RandomState::new().hash_one(self.version);
        let numbers = self.routes.len();
        let mut routed = vec![0u32; self.connectors.len()];
        for &(_, slot) in self.routes.iter().chain(&self.prefix_routes) {
            if let Some(count) = routed.get_mut(slot as usize) {
                *count += 1;
            }
        }
        let index = Index::build(self.routes, seed)
            .map_err(|dup| BuildError::DuplicateNumber(E164::from_index_key(dup.0)))?;
        let prefixes = Prefixes::build(self.prefix_routes, seed)
            .map_err(|dup| BuildError::DuplicatePrefix(Prefix::from_key(dup.0)))?;
        Ok(Snapshot {
            version: self.version,
            published_at_ns: now_ns(),
            numbers,
            connectors: self.connectors.into(),
            directory: Arc::new(Directory {
                by_id: self.by_id,
                holes: Vec::new(),
            }),
            routed: routed.into(),
            index,
            prefixes,
        })
    }

    fn finish_unchecked(self) -> Snapshot {
        Snapshot {
            version: self.version,
            published_at_ns: now_ns(),
            numbers: 0,
            connectors: Arc::from([]),
            directory: Arc::default(),
            routed: Arc::from([]),
            index: Index::empty(),
            prefixes: Prefixes::empty(),
        }
    }
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Why a snapshot could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A number was routed twice; a number routes to exactly one connector.
    #[error("{} is routed twice: a number routes to exactly one connector", .0.map_or_else(String::new, |n| n.to_string()))]
    DuplicateNumber(Option<E164>),
    /// A prefix was routed twice; a prefix routes to exactly one connector.
    #[error("{} is routed twice: a prefix routes to exactly one connector", .0.map_or_else(String::new, |p| p.to_string()))]
    DuplicatePrefix(Option<Prefix>),
    /// Two connectors were added with the same id.
    #[error("connector id {0:?} was added twice")]
    DuplicateConnector(String),
    /// Two different connectors share an id.
    #[error("two different connectors have the id {0:?}: connector ids must be unique")]
    ConflictingConnector(String),
    /// More than `u32::MAX` connectors.
    #[error("too many connectors: at most 4294967295")]
    TooManyConnectors,
    /// A slot that this builder did not hand out.
    #[error("connector slot does not belong to this builder")]
    UnknownSlot,
    /// A patch names a connector the snapshot does not hold.
    #[error("connector {0:?} is not in the snapshot")]
    UnknownConnector(String),
    /// A patch removes a connector that numbers or prefixes still route to.
    #[error("connector {id:?} still routes {numbers} numbers and prefixes: unroute them in the same patch")]
    ConnectorInUse {
        /// The connector.
        id: String,
        /// How many numbers and prefixes route to it after the patch.
        numbers: u32,
    },
}

#[cfg(test)]
mod tests;
