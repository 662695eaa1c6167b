//! The model's table of numbers: a hash map split into shards.
//!
//! One hash map of ten million numbers doubles its table in one go when it fills: every
//! entry is moved, about a second during which the change that grew it, and every change
//! behind it, waits. Split over [`SHARDS`] maps, each grows on its own, a few milliseconds
//! at a time at ten million.
//!
//! Shards of equal size would fill at the same moment, and a bulk change would grow most
//! of them at once: the shards are of unequal sizes instead, shard `i` taking a share
//! proportional to 2^(i/256), so that as the numbers double, every shard fills at a
//! different moment, evenly spread (a bulk change of 10,000 numbers at ten million grows
//! one shard or none). A number's shard comes from a hash of its own (a 64-bit mixer), not
//! the one its shard's map uses, so the numbers of one shard still spread over that map's
//! whole table.
//!
//! An entry is 8 bytes in the table: the index of its project and environment, and the
//! index of its connector, in two small tables the map keeps (a project, environment or
//! connector is named by many numbers and there are few of them). With the number, a slot
//! is 16 bytes where the ids themselves made it 32: at ten million numbers, 270 MB less.
//! The two tables only grow while the process runs (an id no number names any more keeps
//! its index); a restart fills a new map from a checkpoint and indexes only the ids its
//! numbers name.

use patchbay_core::{ClientEnv, E164};
use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::{Id, NumberEntry};

/// How many maps the numbers are split over.
pub(crate) const SHARDS: usize = 256;

/// A number's entry as the table holds it: indexes into [`NumberMap`]'s `groups` and
/// `connectors` ([`NONE`]: no connector).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Slot {
    group: u32,
    connector: u32,
}

const _: () = assert!(std::mem::size_of::<(E164, Slot)>() == 16);

/// The connector index of a number that has none.
const NONE: u32 = u32::MAX;

type Shard = FxHashMap<E164, Slot>;

/// A number's entry, read from the map: its project, environment and connector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry<'a> {
    pub(crate) project: &'a Id,
    pub(crate) env: ClientEnv,
    pub(crate) connector: Option<&'a Id>,
}

#[cfg(test)]
impl Entry<'_> {
    /// The entry with its ids of its own.
    pub(crate) fn to_entry(self) -> NumberEntry {
        NumberEntry {
            project: self.project.clone(),
            env: self.env,
            connector: self.connector.cloned(),
        }
    }
}

/// Numbers and their entries, in [`SHARDS`] hash maps.
#[derive(Debug, Clone)]
pub(crate) struct NumberMap {
    shards: Box<[Shard; SHARDS]>,
    len: usize,
    /// Each project and environment an entry has named, by index; never shrinks.
    groups: Vec<(Id, ClientEnv)>,
    group_of: FxHashMap<(Id, ClientEnv), u32>,
    /// Each connector an entry has named, by index; never shrinks.
    connectors: Vec<Id>,
    connector_of: FxHashMap<Id, u32>,
}

impl Default for NumberMap {
    fn default() -> Self {
        NumberMap {
            shards: Box::new(std::array::from_fn(|_| Shard::default())),
            len: 0,
            groups: Vec::new(),
            group_of: FxHashMap::default(),
            connectors: Vec::new(),
            connector_of: FxHashMap::default(),
        }
    }
}

// Shards are numbered in a byte.
const _: () = assert!(SHARDS <= 256);

/// How finely [`SHARD_OF`] reads the mixed key: 4,096 slices, 11 to 22 for each shard.
const SLICES: usize = 4096;

/// The shard of each slice of mixed keys: slice `s` goes to shard `⌊256 · log2(1 + u)⌋` for
/// `u` its middle (`(s + ½) / 4096`), so that shard `i` takes a share proportional to
/// 2^(i/256).
static SHARD_OF: std::sync::LazyLock<[u8; SLICES]> = std::sync::LazyLock::new(|| {
    std::array::from_fn(|slice| {
        let u = (slice as f64 + 0.5) / SLICES as f64;
        ((1.0 + u).log2() * SHARDS as f64).min((SHARDS - 1) as f64) as u8
    })
});

/// The bits of a number's key that hold its last digit (the high half of its top byte,
/// for numbers of eight digits or more).
const LAST_DIGIT: u64 = 0xF << 60;

/// The shard of `number`: its slice, the top bits of the SplitMix64 finalizer of its key
/// without its last digit.
///
/// Ten numbers that differ only in their last digit share a shard, and in it (whose hash
/// multiplies the key, so the top digit moves only high bits of the hash) a group of
/// buckets: a run of consecutive numbers, as a block of DIDs is imported and looked up,
/// takes one cache miss for ten numbers, not one each.
fn shard_of(number: &E164) -> usize {
    let mut z = number.to_packed() & !LAST_DIGIT;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    usize::from(SHARD_OF[(z >> 52) as usize % SLICES])
}

impl NumberMap {
    fn shard(&self, number: &E164) -> &Shard {
        &self.shards[shard_of(number)]
    }

    fn shard_mut(&mut self, number: &E164) -> &mut Shard {
        &mut self.shards[shard_of(number)]
    }

    /// How many numbers there are.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The entry a slot stands for.
    fn read(&self, slot: Slot) -> Entry<'_> {
        // Slots are only made by `slot` below, from indexes of these tables.
        let (project, env) = self
            .groups
            .get(slot.group as usize)
            .map_or((&HOLE.0, ClientEnv::Live), |(project, env)| (project, *env));
        Entry {
            project,
            env,
            connector: self.connectors.get(slot.connector as usize),
        }
    }

    /// The slot of `entry`, its project, environment and connector indexed first when new:
    /// for many numbers of one entry, found once ([`NumberMap::insert_slot`]).
    pub(crate) fn slot(&mut self, entry: &NumberEntry) -> Slot {
        let key = (entry.project.clone(), entry.env);
        let group = match self.group_of.get(&key) {
            Some(&group) => group,
            None => {
                let group = self.groups.len() as u32;
                self.groups.push(key.clone());
                self.group_of.insert(key, group);
                group
            }
        };
        let connector = match &entry.connector {
            None => NONE,
            Some(id) => match self.connector_of.get(id) {
                Some(&index) => index,
                None => {
                    let index = self.connectors.len() as u32;
                    self.connectors.push(id.clone());
                    self.connector_of.insert(id.clone(), index);
                    index
                }
            },
        };
        Slot { group, connector }
    }

    /// The entry of `number`.
    pub(crate) fn get(&self, number: &E164) -> Option<Entry<'_>> {
        self.shard(number).get(number).map(|&slot| self.read(slot))
    }

    /// Puts `entry` for `number`; whether it replaced one.
    #[cfg(test)]
    pub(crate) fn insert(&mut self, number: E164, entry: NumberEntry) -> bool {
        let slot = self.slot(&entry);
        self.insert_slot(number, slot)
    }

    /// Puts the entry `slot` stands for (from [`NumberMap::slot`] of this map) for
    /// `number`; whether it replaced one.
    pub(crate) fn insert_slot(&mut self, number: E164, slot: Slot) -> bool {
        let replaced = self.shard_mut(&number).insert(number, slot).is_some();
        self.len += usize::from(!replaced);
        replaced
    }

    /// Puts every entry of `entries` in order (a later entry for a number replaces an
    /// earlier one), and says whether any replaced an entry: for a table being filled
    /// from a store, a large batch at a time.
    ///
    /// The entries are first sorted out by shard, and each shard then takes its own, the
    /// shards in parallel: one shard's table fits in a core's cache where the whole
    /// table does not, so its inserts hit the cache instead of waiting on memory.
    pub(crate) fn insert_all(&mut self, entries: Vec<(E164, NumberEntry)>) -> bool {
        // Entries come in runs of one project, environment and connector: the slot of the
        // one before is checked first (ids compare by pointer first).
        let mut last: Option<(NumberEntry, Slot)> = None;
        let entries: Vec<(E164, Slot)> = entries
            .into_iter()
            .map(|(number, entry)| {
                let slot = match &last {
                    Some((before, slot)) if *before == entry => *slot,
                    _ => {
                        let slot = self.slot(&entry);
                        last = Some((entry, slot));
                        slot
                    }
                };
                (number, slot)
            })
            .collect();
        let mut parts: Vec<Vec<(E164, Slot)>> = Vec::with_capacity(SHARDS);
        let of: Vec<u8> = entries.iter().map(|(n, _)| shard_of(n) as u8).collect();
        let mut counts = [0usize; SHARDS];
        for &shard in &of {
            counts[usize::from(shard)] += 1;
        }
        parts.extend(counts.iter().map(|&count| Vec::with_capacity(count)));
        for (entry, shard) in entries.into_iter().zip(of) {
            if let Some(part) = parts.get_mut(usize::from(shard)) {
                part.push(entry);
            }
        }
        let (added, replaced) = self
            .shards
            .par_iter_mut()
            .zip(parts)
            .map(|(shard, part)| {
                let mut replaced = 0;
                let count = part.len();
                for (number, entry) in part {
                    replaced += usize::from(shard.insert(number, entry).is_some());
                }
                (count - replaced, replaced)
            })
            .reduce(|| (0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
        self.len += added;
        replaced > 0
    }

    /// Removes `number`; whether it was there.
    pub(crate) fn remove(&mut self, number: &E164) -> bool {
        let removed = self.shard_mut(number).remove(number).is_some();
        self.len -= usize::from(removed);
        removed
    }

    /// Makes room for `additional` more numbers, each shard for its share: for a table
    /// about to be filled (a model read from a store).
    pub(crate) fn reserve(&mut self, additional: usize) {
        // Shard i's share is 2^(i/256) / (256 · ∫₀¹ 2^x dx) = 2^(i/256) · ln 2 / 256.
        for (i, shard) in self.shards.iter_mut().enumerate() {
            let share = (i as f64 / SHARDS as f64).exp2() * std::f64::consts::LN_2 / SHARDS as f64;
            // The expected count, and five standard deviations for the luck of the draw,
            // which deals numbers out in runs of ten (see `shard_of`).
            let expected = additional as f64 * share;
            shard.reserve((expected + 5.0 * (10.0 * expected).sqrt()) as usize + 16);
        }
    }

    /// Every number and its entry, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&E164, Entry<'_>)> {
        self.shards
            .iter()
            .flat_map(|shard| shard.iter())
            .map(|(number, &slot)| (number, self.read(slot)))
    }

    /// Every entry, in no particular order.
    pub(crate) fn values(&self) -> impl Iterator<Item = Entry<'_>> {
        self.iter().map(|(_, entry)| entry)
    }
}

/// What an entry reads as should its slot name no project: never, as slots are made only
/// from the map's own tables.
static HOLE: std::sync::LazyLock<(Id, ClientEnv)> =
    std::sync::LazyLock::new(|| (Id::from(""), ClientEnv::Live));

impl PartialEq for NumberMap {
    fn eq(&self, other: &NumberMap) -> bool {
        self.len == other.len && self.iter().all(|(n, e)| other.get(n) == Some(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Id;
    use patchbay_core::ClientEnv;

    fn entry(project: &str) -> NumberEntry {
        NumberEntry {
            project: Id::from(project),
            env: ClientEnv::Live,
            connector: None,
        }
    }

    /// Sequential numbers, as a block of DIDs is, spread over every shard, each in its
    /// share (2^(i/256), from 1 to 2): the first shards take about 2,770 of 1,024,000, the
    /// last about 5,530, and the counts rise with the shard.
    #[test]
    fn a_block_of_numbers_spreads_over_every_shard_in_rising_shares() {
        let mut counts = [0usize; SHARDS];
        for i in 0..1_024_000u64 {
            let number = E164::from_u64(14_150_000_000 + i).expect("a number");
            counts[shard_of(&number)] += 1;
        }
        let (first, last) = (&counts[..16], &counts[SHARDS - 16..]);
        assert!(
            first.iter().all(|&n| (2_300..3_250).contains(&n)),
            "{first:?}"
        );
        assert!(
            last.iter().all(|&n| (4_800..6_300).contains(&n)),
            "{last:?}"
        );
        let (low, high): (usize, usize) = (counts[..128].iter().sum(), counts[128..].iter().sum());
        // ∫ 2^x over [0, ½] and [½, 1]: 41.4% and 58.6% of the numbers.
        assert!((400_000..448_000).contains(&low), "{low}");
        assert!((576_000..624_000).contains(&high), "{high}");
    }

    /// Numbers that differ only in their last digit share a shard.
    #[test]
    fn runs_of_ten_numbers_share_a_shard() {
        for start in (0..100_000u64).step_by(10) {
            let shard = shard_of(&E164::from_u64(4_420_794_600_000 + start).expect("a number"));
            for last in 1..10 {
                let number = E164::from_u64(4_420_794_600_000 + start + last).expect("a number");
                assert_eq!(shard_of(&number), shard, "{number}");
            }
        }
    }

    /// Room made for a table about to be filled is where its numbers go: filling it with
    /// that many grows no shard.
    #[test]
    fn reserving_for_a_fill_leaves_no_shard_to_grow() {
        let mut map = NumberMap::default();
        map.reserve(200_000);
        let capacities: Vec<usize> = map.shards.iter().map(|s| s.capacity()).collect();
        for i in 0..200_000u64 {
            let number: E164 = format!("+4420{:08}", i).parse().expect("a number");
            map.insert(number, entry("a"));
        }
        let grown = map
            .shards
            .iter()
            .zip(&capacities)
            .filter(|(shard, &before)| shard.capacity() != before)
            .count();
        assert_eq!(grown, 0);
    }

    #[test]
    fn it_keeps_its_count_and_entries_as_a_map_does() {
        let mut map = NumberMap::default();
        let n = |i: u64| -> E164 { format!("+4420794{i:05}").parse().expect("a number") };
        for i in 0..5_000 {
            assert!(!map.insert(n(i), entry("a")));
        }
        assert_eq!(map.get(&n(7)).map(Entry::to_entry), Some(entry("a")));
        assert!(map.insert(n(7), entry("b")));
        assert_eq!(map.len(), 5_000);
        assert_eq!(map.get(&n(7)).map(Entry::to_entry), Some(entry("b")));
        let assigned = NumberEntry {
            connector: Some(Id::from("conn_x")),
            ..entry("b")
        };
        map.insert(n(9), assigned.clone());
        assert_eq!(map.get(&n(9)).map(Entry::to_entry), Some(assigned));
        assert!(map.remove(&n(7)));
        assert!(!map.remove(&n(7)));
        assert_eq!(map.len(), 4_999);
        assert_eq!(map.iter().count(), 4_999);
        assert_eq!(
            map.values().filter(|e| e.to_entry() == entry("a")).count(),
            4_998
        );
        let copy = map.clone();
        assert_eq!(copy, map);
        map.remove(&n(8));
        assert_ne!(copy, map);
    }

    /// A batch lands as the same inserts one by one would leave the table: a later entry
    /// for a number replaces an earlier one, in the batch or already in the table, and
    /// the count and the answer say so.
    #[test]
    fn a_batch_lands_as_its_inserts_in_order_would() {
        let n = |i: u64| -> E164 { format!("+3361{i:07}").parse().expect("a number") };
        let mut batched = NumberMap::default();
        let mut one_by_one = NumberMap::default();
        let first: Vec<_> = (0..20_000).map(|i| (n(i), entry("a"))).collect();
        assert!(!batched.insert_all(first.clone()));
        first.into_iter().for_each(|(number, e)| {
            one_by_one.insert(number, e);
        });
        assert_eq!(batched, one_by_one);
        // Half new, half over the first batch, and one number twice in the batch itself.
        let mut second: Vec<_> = (10_000..30_000).map(|i| (n(i), entry("b"))).collect();
        second.push((n(25_000), entry("c")));
        assert!(batched.insert_all(second.clone()));
        second.into_iter().for_each(|(number, e)| {
            one_by_one.insert(number, e);
        });
        assert_eq!(batched.len(), 30_000);
        assert_eq!(batched, one_by_one);
        assert_eq!(
            batched.get(&n(25_000)).map(Entry::to_entry),
            Some(entry("c"))
        );
        assert_eq!(
            batched.get(&n(9_999)).map(Entry::to_entry),
            Some(entry("a"))
        );
        // A batch of only new numbers, into a table that has some: nothing replaced.
        assert!(!batched.insert_all(vec![(n(40_000), entry("a"))]));
    }

    /// As the table doubles, its shards grow at different moments: no chunk of 1% of the
    /// numbers grows more than a few of them (shards of one size would all grow within a
    /// few chunks, as one table).
    #[test]
    fn the_shards_grow_one_at_a_time() {
        let mut map = NumberMap::default();
        let n = |i: u64| -> E164 { format!("+4420{i:08}").parse().expect("a number") };
        (0..100_000).for_each(|i| {
            map.insert(n(i), entry("a"));
        });
        let mut most = 0;
        for chunk in 0..200u64 {
            let before: Vec<usize> = map.shards.iter().map(|s| s.capacity()).collect();
            for i in 100_000 + chunk * 1_000..100_000 + (chunk + 1) * 1_000 {
                map.insert(n(i), entry("a"));
            }
            let grown = map
                .shards
                .iter()
                .zip(&before)
                .filter(|(shard, &was)| shard.capacity() != was)
                .count();
            most = most.max(grown);
        }
        assert!(most <= 16, "{most} shards grew in one chunk");
    }
}
