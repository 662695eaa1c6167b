//! The number index: a root over immutable shards, each a small hash table ([`table`]).
//!
//! A number's seeded hash picks its shard by a multiply-shift over the shard count, and the
//! product's remaining bits pick its home bucket inside the shard, so a lookup is one more
//! load (the shard's descriptor, 16 bytes, in cache: 1,221 shards at ten million numbers take
//! 19.5 KB) and one more multiply than a single table.
//!
//! Shards are shared between snapshots. A patch copies the descriptor array, and copies and
//! patches only the shards its numbers hash to ([`Index::patch`]): changing k numbers costs
//! O(k) shard copies of a few thousand numbers each, whatever the table's size, and the new
//! index is published whole, like any snapshot. A build aims at [`TARGET`] numbers a shard;
//! when patches have grown the index past [`MAX_AVERAGE`] numbers a shard on average, the
//! next patch rebuilds it with more shards, so shards stay small (and the rebuilds, each
//! after the index has grown fourfold, cost O(1) a number added).
//!
//! A shard lives on the heap or inside the bytes of a snapshot file (mapped or read), at a
//! validated range: a snapshot opened from a file and then patched keeps probing the file
//! for every shard the patches did not touch.
//!
//! [`table`]: super::table

use std::sync::Arc;

use super::map::Storage;
use super::table::{self, Bucket, DuplicateKey, Keys, Upsert};

/// Numbers a shard is built for.
pub(crate) const TARGET: usize = 8192;
/// Average numbers a shard past which a patch rebuilds the index with more shards.
pub(crate) const MAX_AVERAGE: usize = 4 * TARGET;
/// The most shards an index has (half a billion numbers at [`TARGET`]).
pub(crate) const MAX_SHARDS: usize = 1 << 16;

/// How many shards an index of `numbers` is built with.
pub(crate) fn shard_count(numbers: usize) -> usize {
    numbers.div_ceil(TARGET).clamp(1, MAX_SHARDS)
}

/// Where one shard's buckets are.
#[derive(Clone)]
pub(crate) enum Shard {
    /// Built or patched in this process.
    Heap(Arc<[Bucket]>),
    /// Inside the index's stored bytes: `len` buckets from bucket `start` of them.
    Stored { start: u32, len: u32 },
}

const _: () = assert!(std::mem::size_of::<Shard>() == 16);

/// The bytes of a snapshot file holding stored shards: `buckets` buckets from byte `start`.
#[derive(Clone)]
pub(crate) struct StoredBuckets {
    pub(crate) storage: Arc<Storage>,
    pub(crate) start: usize,
    pub(crate) buckets: usize,
}

/// The number index: the hash seed, the shard descriptors, and the file bytes that stored
/// shards point into.
#[derive(Clone)]
pub(crate) struct Index {
    seed: u64,
    shards: Arc<[Shard]>,
    stored: Option<StoredBuckets>,
}

/// One change to the index: `key` routed to `slot`, or unrouted (`None`).
pub(crate) type Change = (u64, Option<u32>);

impl Index {
    /// An index of no numbers: one shard of one empty bucket.
    pub(crate) fn empty() -> Index {
        Index {
            seed: 0,
            shards: Arc::from([Shard::Heap(Arc::from(fresh(1)))]),
            stored: None,
        }
    }

    /// An index of `entries` (keys non-zero, each once) with `seed`.
    pub(crate) fn build(entries: Vec<(u64, u32)>, seed: u64) -> Result<Index, DuplicateKey> {
        let count = shard_count(entries.len());
        Index::build_sharded(entries, seed, count)
    }

    /// [`Index::build`] with `count` shards (1 to [`MAX_SHARDS`]).
    pub(crate) fn build_sharded(
        entries: Vec<(u64, u32)>,
        seed: u64,
        count: usize,
    ) -> Result<Index, DuplicateKey> {
        let count = count.clamp(1, MAX_SHARDS);
        // Group the entries by shard (a counting sort): each shard's table is then filled
        // from one run, and being a few hundred kilobytes it stays in cache while it fills.
        let mut sizes = vec![0usize; count + 1];
        for &(key, _) in &entries {
            sizes[1 + place_of(key, seed, count).0] += 1;
        }
        for at in 1..=count {
            sizes[at] += sizes[at - 1];
        }
        let mut next = sizes.clone();
        let mut grouped = vec![(0u64, 0u32); entries.len()];
        for (key, value) in entries {
            let shard = place_of(key, seed, count).0;
            grouped[next[shard]] = (key, value);
            next[shard] += 1;
        }
        let shards = sizes
            .windows(2)
            .map(|run| {
                let entries = &grouped[run[0]..run[1]];
                let mut buckets = fresh(table::bucket_count(entries.len()));
                for &(key, value) in entries {
                    let local = place_of(key, seed, count).1;
                    table::place(&mut buckets, local, key, value)?;
                }
                Ok(Shard::Heap(Arc::from(buckets)))
            })
            .collect::<Result<Arc<[Shard]>, DuplicateKey>>()?;
        Ok(Index {
            seed,
            shards,
            stored: None,
        })
    }

    /// An index of stored shards over `stored`, as a file describes it: `lens` buckets each,
    /// back to back. The caller validates it ([`Index::validate`]) before use.
    pub(crate) fn stored(seed: u64, stored: StoredBuckets, lens: &[u32]) -> Result<Index, String> {
        check_shard_count(lens)?;
        let mut start = 0u64;
        let mut shards = Vec::with_capacity(lens.len());
        for &len in lens {
            let at = u32::try_from(start).map_err(|_| "the index is too large".to_string())?;
            shards.push(Shard::Stored { start: at, len });
            start += u64::from(len);
        }
        if start != stored.buckets as u64 {
            return Err(format!(
                "the shards hold {start} buckets, the index {}",
                stored.buckets
            ));
        }
        Ok(Index {
            seed,
            shards: shards.into(),
            stored: Some(stored),
        })
    }

    /// An index of heap shards from decoded buckets (big-endian hosts read files this way).
    pub(crate) fn decoded(seed: u64, buckets: &[Bucket], lens: &[u32]) -> Result<Index, String> {
        check_shard_count(lens)?;
        let mut rest = buckets;
        let mut shards = Vec::with_capacity(lens.len());
        for &len in lens {
            let (shard, after) = rest
                .split_at_checked(len as usize)
                .ok_or("the shards hold more buckets than the index")?;
            shards.push(Shard::Heap(Arc::from(shard)));
            rest = after;
        }
        if !rest.is_empty() {
            return Err("the shards hold fewer buckets than the index".into());
        }
        Ok(Index {
            seed,
            shards: shards.into(),
            stored: None,
        })
    }

    /// The hash seed.
    pub(crate) fn seed(&self) -> u64 {
        self.seed
    }

    /// How many shards there are.
    pub(crate) fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// The connector slot the index holds for `key`.
    #[inline(always)]
    pub(crate) fn find(&self, key: u64) -> Option<u32> {
        let (shard, local) = place_of(key, self.seed, self.shards.len());
        let buckets = self.buckets_of(self.shards.get(shard)?);
        table::find(buckets, local, key)
    }

    /// The buckets of `shard`.
    #[inline(always)]
    pub(crate) fn buckets_of<'a>(&'a self, shard: &'a Shard) -> &'a [Bucket] {
        match shard {
            Shard::Heap(buckets) => buckets,
            Shard::Stored { start, len } => self.stored_buckets(*start, *len),
        }
    }

    #[inline]
    fn stored_buckets(&self, start: u32, len: u32) -> &[Bucket] {
        let Some(stored) = &self.stored else {
            return &[];
        };
        let at = (start as usize)
            .checked_mul(std::mem::size_of::<Bucket>())
            .and_then(|offset| offset.checked_add(stored.start));
        at.and_then(|at| table::bucket_slice(stored.storage.bytes(), at, len as usize))
            .unwrap_or_default()
    }

    /// Every shard's buckets, in shard order.
    pub(crate) fn tables(&self) -> impl Iterator<Item = &[Bucket]> + '_ {
        self.shards.iter().map(|shard| self.buckets_of(shard))
    }

    /// Every `(key, slot)`, in no particular order.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (u64, u32)> + '_ {
        self.tables().flat_map(table::entries)
    }

    /// Whether any shard is stored in a file's bytes.
    pub(crate) fn is_stored(&self) -> bool {
        self.shards
            .iter()
            .any(|shard| matches!(shard, Shard::Stored { .. }))
    }

    /// Bytes the buckets occupy.
    pub(crate) fn bytes(&self) -> usize {
        self.tables().map(std::mem::size_of_val).sum()
    }

    /// Checks every shard (see [`table::validate`]), counting each connector slot's numbers
    /// into `routed`. Returns the number count.
    pub(crate) fn validate(&self, routed: &mut [u32]) -> Result<usize, String> {
        self.validate_keys(routed, Keys::Numbers)
    }

    /// [`Index::validate`] for an index of `keys`.
    pub(crate) fn validate_keys(&self, routed: &mut [u32], keys: Keys) -> Result<usize, String> {
        let count = self.shards.len();
        let mut numbers = 0usize;
        for (at, shard) in self.shards.iter().enumerate() {
            let buckets = self.buckets_of(shard);
            if let (Shard::Stored { len, .. }, true) = (shard, buckets.is_empty()) {
                return Err(format!("shard {at} ({len} buckets) is out of range"));
            }
            let local_of = |key: u64| {
                let (shard, local) = place_of(key, self.seed, count);
                (shard == at).then_some(local)
            };
            numbers += table::validate_keys(buckets, local_of, routed, keys)
                .map_err(|e| format!("shard {at}: {e}"))?;
        }
        Ok(numbers)
    }

    /// The index with `changes` made: each key routed to its slot or unrouted, the last
    /// change of a key winning. Only the shards the keys hash to are copied. `counted` sees
    /// each effective change as `(key, slot before, slot after)`.
    pub(crate) fn patch(
        &self,
        changes: Vec<Change>,
        mut counted: impl FnMut(u64, Option<u32>, Option<u32>),
    ) -> Index {
        let count = self.shards.len();
        // Order by shard, then key, keeping the input order among a key's changes, so each
        // shard's changes form one run and a key's last change is the last of its run.
        let mut placed: Vec<(usize, Change)> = changes
            .into_iter()
            .map(|change| (place_of(change.0, self.seed, count).0, change))
            .collect();
        placed.sort_by_key(|&(shard, (key, _))| (shard, key));
        let mut shards: Vec<Shard> = self.shards.to_vec();
        for run in placed.chunk_by(|a, b| a.0 == b.0) {
            let Some(slot) = run.first().and_then(|&(shard, _)| shards.get_mut(shard)) else {
                continue;
            };
            let old = self.buckets_of(slot);
            let local = |key| place_of(key, self.seed, count).1;
            *slot = Shard::Heap(patch_table(old, run, local, &mut counted));
        }
        Index {
            seed: self.seed,
            shards: shards.into(),
            stored: self.stored.clone(),
        }
    }

    /// Whether patches have grown the index past [`MAX_AVERAGE`] numbers a shard.
    pub(crate) fn outgrown(&self, numbers: usize) -> bool {
        self.shards.len() < MAX_SHARDS && numbers > self.shards.len() * MAX_AVERAGE
    }
}

/// Where `key` goes in an index of `shards` shards with `seed`: its shard, and the bits of
/// its hash left for placing it in the shard's table.
#[inline(always)]
fn place_of(key: u64, seed: u64, shards: usize) -> (usize, u64) {
    table::spread(table::hash(key, seed), shards)
}

/// Refuses a shard count a file may not hold.
fn check_shard_count(lens: &[u32]) -> Result<(), String> {
    if lens.is_empty() || lens.len() > MAX_SHARDS {
        return Err(format!("{} shards (1 to {MAX_SHARDS} allowed)", lens.len()));
    }
    Ok(())
}

/// A zeroed table of `buckets` buckets.
fn fresh(buckets: usize) -> Box<[Bucket]> {
    bytemuck::allocation::zeroed_slice_box(buckets)
}

/// `old` with `changes` (one shard's, beside its index, sorted by key, a key's changes in
/// order) made. Copied and patched
/// in place when the changes fit; rebuilt at the load of a build (60%, room to grow) when
/// they would fill it past 80% (tombstones included).
fn patch_table(
    old: &[Bucket],
    changes: &[(usize, Change)],
    local: impl Fn(u64) -> u64,
    counted: &mut impl FnMut(u64, Option<u32>, Option<u32>),
) -> Arc<[Bucket]> {
    // A key's last change is the one that counts.
    let last: Vec<Change> = changes
        .chunk_by(|(_, a), (_, b)| a.0 == b.0)
        .filter_map(|run| run.last().map(|&(_, change)| change))
        .collect();
    let adds = last.iter().filter(|(_, slot)| slot.is_some()).count();
    let occupied = table::occupied(old);
    if occupied + adds <= table::capacity(old.len()) {
        let mut patched: Box<[Bucket]> = Box::from(old);
        if apply(&mut patched, &last, &local, counted) {
            return Arc::from(patched);
        }
    }
    // Rebuild from the numbers that stay and the ones that come.
    let stay =
        table::entries(old).filter(|(key, _)| last.binary_search_by_key(key, |&(k, _)| k).is_err());
    let kept: Vec<(u64, u32)> = stay.collect();
    let numbers = kept.len() + adds;
    let mut rebuilt = fresh(table::bucket_count(numbers));
    for &(key, value) in &kept {
        // Cannot fail: the keys come from one table, so each is there once.
        let _ = table::place(&mut rebuilt, local(key), key, value);
    }
    for &(key, slot) in &last {
        let before = table::find(old, local(key), key);
        if let Some(value) = slot {
            let _ = table::place(&mut rebuilt, local(key), key, value);
        }
        if before != slot {
            counted(key, before, slot);
        }
    }
    Arc::from(rebuilt)
}

/// Makes `changes` (each key once) in `table` in place. `false` if a key found no slot; the
/// caller then rebuilds (the count check before makes that impossible, but a table is never
/// left half-patched on the strength of a count).
fn apply(
    table: &mut [Bucket],
    changes: &[Change],
    local: &impl Fn(u64) -> u64,
    counted: &mut impl FnMut(u64, Option<u32>, Option<u32>),
) -> bool {
    let mut seen = Vec::with_capacity(changes.len());
    for &(key, slot) in changes {
        let before = match slot {
            Some(value) => match table::upsert(table, local(key), key, value) {
                Upsert::Replaced(old) => Some(old),
                Upsert::Added | Upsert::Revived => None,
                Upsert::Full => return false,
            },
            None => table::remove(table, local(key), key),
        };
        if before != slot {
            seen.push((key, before, slot));
        }
    }
    for (key, before, after) in seen {
        counted(key, before, after);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::number::E164;

    fn key(i: u64) -> u64 {
        E164::from_u64(14_155_550_000 + i)
            .expect("valid")
            .index_key()
    }

    fn sorted(index: &Index) -> Vec<(u64, u32)> {
        let mut all: Vec<_> = index.entries().collect();
        all.sort_unstable();
        all
    }

    #[test]
    fn shards_partition_the_numbers_and_each_is_validated() {
        let entries: Vec<(u64, u32)> = (0..50_000).map(|i| (key(i), (i % 3) as u32)).collect();
        let index = Index::build(entries.clone(), 99).expect("build");
        assert_eq!(index.shard_count(), shard_count(50_000));
        assert!(index.shard_count() > 1);
        for &(k, v) in &entries {
            assert_eq!(index.find(k), Some(v));
        }
        assert_eq!(index.find(key(50_000)), None);
        let mut routed = vec![0; 3];
        assert_eq!(index.validate(&mut routed), Ok(50_000));
        assert_eq!(routed.iter().sum::<u32>(), 50_000);
        let mut want = entries;
        want.sort_unstable();
        assert_eq!(sorted(&index), want);
    }

    #[test]
    fn a_patch_copies_only_the_shards_it_touches() {
        let entries: Vec<(u64, u32)> = (0..40_000).map(|i| (key(i), 0)).collect();
        let index = Index::build(entries, 5).expect("build");
        let mut changes = Vec::new();
        let patched = index.patch(
            vec![(key(7), Some(1)), (key(40_001), Some(1))],
            |_, b, a| changes.push((b, a)),
        );
        changes.sort();
        assert_eq!(changes, vec![(None, Some(1)), (Some(0), Some(1))]);
        let copied = index
            .shards
            .iter()
            .zip(patched.shards.iter())
            .filter(|(a, b)| match (a, b) {
                (Shard::Heap(a), Shard::Heap(b)) => !Arc::ptr_eq(a, b),
                _ => true,
            })
            .count();
        assert!((1..=2).contains(&copied), "{copied} shards copied");
        assert_eq!(patched.find(key(7)), Some(1));
        assert_eq!(patched.find(key(40_001)), Some(1));
        assert_eq!(index.find(key(7)), Some(0), "the old index is unchanged");
        assert_eq!(index.find(key(40_001)), None);
    }

    #[test]
    fn patches_grow_and_shrink_shards_past_their_room() {
        let mut index = Index::build(vec![(key(0), 0)], 1).expect("build");
        let mut live = 1i64;
        for round in 0..20u64 {
            let adds = (0..500).map(|i| (key(1 + round * 500 + i), Some(2)));
            let removes = (0..200).map(|i| (key(round * 500 + i * 2), None));
            index = index.patch(adds.chain(removes).collect(), |_, b, a| {
                live += i64::from(a.is_some()) - i64::from(b.is_some())
            });
            let numbers = index.validate(&mut [0; 3]).expect("valid");
            assert_eq!(numbers as i64, live);
            assert_eq!(index.entries().count() as i64, live);
        }
    }
}
