//! The model's table of numbers: a hash map split into shards.
//!
//! One hash map of ten million numbers doubles its table in one go when it fills: every
//! entry is moved, about a second during which the change that grew it, and every change
//! behind it, waits. Split over [`SHARDS`] maps, each grows on its own, one 256th of that
//! at a time (a few milliseconds at ten million). A number's shard comes from a hash of
//! its own (a 64-bit mixer), not the one its shard's map uses, so the numbers of one shard
//! still spread over that map's whole table.

use patchbay_core::E164;
use rustc_hash::FxHashMap;

use super::NumberEntry;

/// How many maps the numbers are split over.
pub(crate) const SHARDS: usize = 256;

type Shard = FxHashMap<E164, NumberEntry>;

/// Numbers and their entries, in [`SHARDS`] hash maps.
#[derive(Debug, Clone)]
pub(crate) struct NumberMap {
    shards: Box<[Shard; SHARDS]>,
    len: usize,
}

impl Default for NumberMap {
    fn default() -> Self {
        NumberMap {
            shards: Box::new(std::array::from_fn(|_| Shard::default())),
            len: 0,
        }
    }
}

/// The shard of `number`: the top bits of the SplitMix64 finalizer of its key.
fn shard_of(number: &E164) -> usize {
    let mut z = number.to_packed();
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> 56) as usize % SHARDS
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

    /// The entry of `number`.
    pub(crate) fn get(&self, number: &E164) -> Option<&NumberEntry> {
        self.shard(number).get(number)
    }

    /// The entry of `number`, to change.
    #[cfg(test)]
    pub(crate) fn get_mut(&mut self, number: &E164) -> Option<&mut NumberEntry> {
        self.shard_mut(number).get_mut(number)
    }

    /// Puts `entry` for `number`, and returns the entry it replaces.
    pub(crate) fn insert(&mut self, number: E164, entry: NumberEntry) -> Option<NumberEntry> {
        let old = self.shard_mut(&number).insert(number, entry);
        self.len += usize::from(old.is_none());
        old
    }

    /// Removes `number`, and returns its entry.
    pub(crate) fn remove(&mut self, number: &E164) -> Option<NumberEntry> {
        let old = self.shard_mut(number).remove(number);
        self.len -= usize::from(old.is_some());
        old
    }

    /// Makes room for `additional` more numbers, spread evenly (with some slack for the
    /// shards that get more than their share).
    pub(crate) fn reserve(&mut self, additional: usize) {
        let each = additional / SHARDS + additional / SHARDS / 8 + 1;
        for shard in self.shards.iter_mut() {
            shard.reserve(each);
        }
    }

    /// Every number and its entry, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&E164, &NumberEntry)> {
        self.shards.iter().flat_map(|shard| shard.iter())
    }

    /// Every entry, in no particular order.
    pub(crate) fn values(&self) -> impl Iterator<Item = &NumberEntry> {
        self.shards.iter().flat_map(|shard| shard.values())
    }
}

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

    /// Sequential numbers, as a block of DIDs is, spread over every shard, and evenly: no
    /// shard holds more than twice its share.
    #[test]
    fn a_block_of_numbers_spreads_over_every_shard() {
        let mut counts = [0usize; SHARDS];
        for i in 0..256_000u64 {
            let number: E164 = format!("+1415{:07}", i).parse().expect("a number");
            counts[shard_of(&number)] += 1;
        }
        let (least, most) = (counts.iter().min(), counts.iter().max());
        assert!(least.is_some_and(|&n| n > 500), "{least:?}");
        assert!(most.is_some_and(|&n| n < 2_000), "{most:?}");
    }

    #[test]
    fn it_keeps_its_count_and_entries_as_a_map_does() {
        let mut map = NumberMap::default();
        let n = |i: u64| -> E164 { format!("+4420794{i:05}").parse().expect("a number") };
        for i in 0..5_000 {
            assert_eq!(map.insert(n(i), entry("a")), None);
        }
        assert_eq!(map.insert(n(7), entry("b")), Some(entry("a")));
        assert_eq!(map.len(), 5_000);
        assert_eq!(map.get(&n(7)), Some(&entry("b")));
        assert_eq!(map.remove(&n(7)), Some(entry("b")));
        assert_eq!(map.remove(&n(7)), None);
        assert_eq!(map.len(), 4_999);
        assert_eq!(map.iter().count(), 4_999);
        assert_eq!(map.values().filter(|e| **e == entry("a")).count(), 4_999);
        let copy = map.clone();
        assert_eq!(copy, map);
        map.remove(&n(8));
        assert_ne!(copy, map);
    }
}
