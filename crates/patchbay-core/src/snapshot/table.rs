//! One shard's hash table: bucketized linear probing over `u64` keys, the numbers' packed
//! digits (`E164`'s own representation).
//!
//! A bucket is one 64-byte cache line holding five keys and their five connector slots, so a
//! lookup touches one cache line in the common case (a table is built 60% full, three keys a
//! bucket on average, so a key lives in its home bucket or, rarely, a following one: at 80%
//! about one lookup in ten walked on, a mispredicted branch and a second cache line each). Key `0` marks an empty slot:
//! no number's key is `0`. Slots of a bucket fill in order, so a lookup stops at the first
//! bucket with an empty slot.
//!
//! A number removed by a patch leaves a tombstone ([`TOMBSTONE`], slot [`NO_SLOT`]): it
//! occupies its slot, so keys placed beyond it stay reachable, and it matches no probe. An
//! insert reuses the first tombstone on its chain. A table whose occupied slots (numbers and
//! tombstones) would pass 80% is rebuilt rather than patched.
//!
//! The same layout is used in memory and in snapshot files (little-endian), so a mapped file
//! is probed in place.

use crate::number::E164;

/// Keys per bucket.
pub(crate) const SLOTS: usize = 5;

/// The key of a removed number's slot. Never a number's key (its digit count nibble is 15,
/// but its digits are not decimal).
pub(crate) const TOMBSTONE: u64 = u64::MAX;

/// The connector slot of a tombstone, and what [`select`] gives when a bucket does not hold
/// a key. Never a connector's slot: there are at most `u32::MAX` connectors, so slots stop
/// one below.
pub(crate) const NO_SLOT: u32 = u32::MAX;

/// One cache line: five keys, their five connector slots, and whether the bucket spilled.
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable, rkyv::Archive, rkyv::Serialize)]
#[repr(C, align(64))]
pub(crate) struct Bucket {
    pub(crate) keys: [u64; SLOTS],
    pub(crate) values: [u32; SLOTS],
    /// 1 when some key whose home is this bucket lives in a later one (it was full when the
    /// key came), else 0. A probe that misses a bucket that never spilled stops there, full
    /// or not: at 60% load most full buckets never spilled, so most misses read one line.
    pub(crate) spilled: u32,
}

const _: () = assert!(std::mem::size_of::<Bucket>() == 64);
const _: () = assert!(std::mem::size_of::<ArchivedBucket>() == 64);

/// The `count` buckets at byte `start` of `bytes`, if they are in range and aligned.
#[inline]
pub(crate) fn bucket_slice(bytes: &[u8], start: usize, count: usize) -> Option<&[Bucket]> {
    let end = count
        .checked_mul(std::mem::size_of::<Bucket>())
        .and_then(|len| len.checked_add(start))?;
    bytemuck::try_cast_slice(bytes.get(start..end)?).ok()
}

/// The seeded hash of `key`: one multiply by a 64-bit odd constant (Fibonacci hashing),
/// which spreads neighbouring keys, such as a block of DIDs, across the high bits that
/// [`spread`] reads first.
#[inline(always)]
pub(crate) fn hash(key: u64, seed: u64) -> u64 {
    (key ^ seed).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Maps `hash` onto `0..n` by a multiply-shift, and gives the product's low bits: what is
/// left of the hash once the choice is made, uniform again, for the next choice.
#[inline(always)]
pub(crate) fn spread(hash: u64, n: usize) -> (usize, u64) {
    let product = u128::from(hash) * n as u128;
    ((product >> 64) as usize, product as u64)
}

/// Keys a bucket holds on average in a table built for them: 60% load.
const BUILT_LOAD: usize = 3;

/// How many buckets hold `numbers` keys at 60% load, the load a table is built with.
pub(crate) fn bucket_count(numbers: usize) -> usize {
    numbers.div_ceil(BUILT_LOAD).max(1)
}

/// How many occupied slots (numbers and tombstones) a table of `buckets` may hold: 80%.
pub(crate) fn capacity(buckets: usize) -> usize {
    buckets * (SLOTS - 1)
}

/// The connector slot of `key` in `table`, whose hash left `local` for placing it.
///
/// The common case (the key in its home bucket, or a home bucket with a free slot) is a
/// handful of instructions with no loop: on a large table a lookup waits on one cache miss,
/// and the fewer instructions each lookup adds, the more lookups the processor keeps in
/// flight at once. Walking on to the following buckets is out of line.
#[inline(always)]
pub(crate) fn find(table: &[Bucket], local: u64, key: u64) -> Option<u32> {
    let at = spread(local, table.len()).0;
    let bucket = table.get(at)?;
    match select(bucket, key) {
        NO_SLOT if bucket.spilled == 0 => None,
        NO_SLOT => find_beyond(table, key, at),
        slot => Some(slot),
    }
}

/// The slot stored beside `key` in `bucket`, or [`NO_SLOT`]. A key is in a bucket at most
/// once, so each of the five compares picks its value or keeps what it had: a compare and
/// a conditional move each. Branches would mispredict: where in its bucket a key sits is
/// random. A tombstone's slot is `NO_SLOT`, so a probe that matches one finds nothing.
#[inline(always)]
fn select(bucket: &Bucket, key: u64) -> u32 {
    bucket
        .keys
        .iter()
        .zip(bucket.values)
        .fold(NO_SLOT, |found, (&k, value)| {
            std::hint::select_unpredictable(k == key, value, found)
        })
}

/// [`find`] past a full home bucket at `home`: the following buckets, wrapping around, until
/// one has an empty slot or the chain has visited every bucket.
#[cold]
#[inline(never)]
fn find_beyond(table: &[Bucket], key: u64, home: usize) -> Option<u32> {
    let count = table.len();
    let mut at = home;
    for _ in 1..count {
        at = if at + 1 == count { 0 } else { at + 1 };
        let bucket = table.get(at)?;
        match select(bucket, key) {
            NO_SLOT if bucket.keys[SLOTS - 1] == 0 => return None,
            NO_SLOT => {}
            slot => return Some(slot),
        }
    }
    None
}

/// A key that was placed twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DuplicateKey(pub(crate) u64);

/// What [`upsert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Upsert {
    /// The key was there, with this slot; it now has the new one.
    Replaced(u32),
    /// The key is new and took an empty slot.
    Added,
    /// The key is new and took a tombstone's slot.
    Revived,
    /// The key is new and every slot of the table is taken: nothing changed.
    Full,
}

/// Where `key` is or would go: walks its chain from home, to the key itself or to the first
/// bucket with an empty slot, remembering the first tombstone on the way.
fn locate(table: &[Bucket], local: u64, key: u64) -> Located {
    let count = table.len();
    let mut at = spread(local, count).0;
    let mut tombstone = None;
    for _ in 0..count {
        let Some(bucket) = table.get(at) else {
            break;
        };
        for (slot, &k) in bucket.keys.iter().enumerate() {
            if k == key {
                return Located::Present(at, slot);
            }
            if k == TOMBSTONE && tombstone.is_none() {
                tombstone = Some((at, slot));
            }
            if k == 0 {
                return match tombstone {
                    Some((b, s)) => Located::Tombstone(b, s),
                    None => Located::Empty(at, slot),
                };
            }
        }
        at = if at + 1 == count { 0 } else { at + 1 };
    }
    match tombstone {
        Some((b, s)) => Located::Tombstone(b, s),
        None => Located::Nowhere,
    }
}

enum Located {
    Present(usize, usize),
    Tombstone(usize, usize),
    Empty(usize, usize),
    Nowhere,
}

/// Routes `key` to `value` in `table`: replaces its slot if present, else places it.
pub(crate) fn upsert(table: &mut [Bucket], local: u64, key: u64, value: u32) -> Upsert {
    let home = spread(local, table.len()).0;
    let (at, slot, done) = match locate(table, local, key) {
        Located::Present(at, slot) => {
            let old = table[at].values[slot];
            (at, slot, Upsert::Replaced(old))
        }
        Located::Tombstone(at, slot) => (at, slot, Upsert::Revived),
        Located::Empty(at, slot) => (at, slot, Upsert::Added),
        Located::Nowhere => return Upsert::Full,
    };
    let bucket = &mut table[at];
    bucket.keys[slot] = key;
    bucket.values[slot] = value;
    if at != home {
        table[home].spilled = 1;
    }
    done
}

/// Places `key`, new to `table`, on its chain. The table must have a free slot. Fails if
/// the key is already there.
pub(crate) fn place(
    table: &mut [Bucket],
    local: u64,
    key: u64,
    value: u32,
) -> Result<(), DuplicateKey> {
    match upsert(table, local, key, value) {
        Upsert::Replaced(_) => Err(DuplicateKey(key)),
        Upsert::Added | Upsert::Revived => Ok(()),
        Upsert::Full => unreachable!("a table is built with more slots than keys"),
    }
}

/// Removes `key` from `table`, leaving a tombstone. Returns its slot, if it was there.
pub(crate) fn remove(table: &mut [Bucket], local: u64, key: u64) -> Option<u32> {
    let Located::Present(at, slot) = locate(table, local, key) else {
        return None;
    };
    let bucket = &mut table[at];
    let old = bucket.values[slot];
    bucket.keys[slot] = TOMBSTONE;
    bucket.values[slot] = NO_SLOT;
    Some(old)
}

/// Every `(key, slot)` of `table`, tombstones left out.
pub(crate) fn entries(table: &[Bucket]) -> impl Iterator<Item = (u64, u32)> + '_ {
    table.iter().flat_map(|bucket| {
        bucket
            .keys
            .iter()
            .zip(bucket.values)
            .filter(|&(&key, _)| key != 0 && key != TOMBSTONE)
            .map(|(&key, value)| (key, value))
    })
}

/// How many slots of `table` are occupied: numbers and tombstones.
pub(crate) fn occupied(table: &[Bucket]) -> usize {
    table
        .iter()
        .map(|bucket| bucket.keys.iter().filter(|&&k| k != 0).count())
        .sum()
}

/// Checks a table read from a file: every key is a valid E.164 number placed where a lookup
/// finds it (`local_of` says where its hash leads, or `None` when the key belongs to another
/// table, and its home bucket marked as spilled when it lives past it), no key is there
/// twice, tombstones and empty slots hold nothing, spill flags are 0 or 1, and some slot is
/// empty so every probe chain ends. Counts each connector slot's
/// numbers into `routed`, which is as long as there are slots.
#[cfg(test)]
pub(crate) fn validate(
    table: &[Bucket],
    local_of: impl Fn(u64) -> Option<u64>,
    routed: &mut [u32],
) -> Result<usize, String> {
    validate_keys(table, local_of, routed, Keys::Numbers)
}

/// What the keys of a table are, for [`validate_keys`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Keys {
    /// Numbers' keys (`E164`).
    Numbers,
    /// Number prefixes' keys (`Prefix`).
    Prefixes,
}

impl Keys {
    /// Why `key` is not a key of this kind, if it is not.
    fn check(self, key: u64) -> Result<(), String> {
        match self {
            Keys::Numbers => E164::from_untrusted_key(key).map(|_| ()),
            Keys::Prefixes => crate::number::Prefix::from_untrusted_key(key).map(|_| ()),
        }
    }
}

/// [`validate`] for a table of `keys`.
pub(crate) fn validate_keys(
    table: &[Bucket],
    local_of: impl Fn(u64) -> Option<u64>,
    routed: &mut [u32],
    keys_are: Keys,
) -> Result<usize, String> {
    let count = table.len();
    if count == 0 {
        return Err("a shard has no buckets".into());
    }
    if occupied(table) > capacity(count) {
        return Err("a shard is more than 80% full".into());
    }
    let mut keys = 0usize;
    for (at, bucket) in table.iter().enumerate() {
        if bucket.spilled > 1 {
            return Err(format!("bucket {at}: the spill flag is neither 0 nor 1"));
        }
        let mut empty = false;
        for slot in 0..SLOTS {
            let (key, value) = (bucket.keys[slot], bucket.values[slot]);
            if key == 0 {
                if value != 0 {
                    return Err(format!("bucket {at}: an empty slot has a value"));
                }
                empty = true;
                continue;
            }
            if empty {
                return Err(format!("bucket {at}: a key follows an empty slot"));
            }
            if key == TOMBSTONE {
                if value != NO_SLOT {
                    return Err(format!("bucket {at}: a tombstone has a connector slot"));
                }
                continue;
            }
            keys_are
                .check(key)
                .map_err(|e| format!("bucket {at}: key {key:#x}: {e}"))?;
            let Some(numbers) = routed.get_mut(value as usize) else {
                return Err(format!("bucket {at}: connector slot {value} out of range"));
            };
            if bucket.keys[..slot].contains(&key) {
                return Err(format!("bucket {at}: key {key} appears twice"));
            }
            let Some(local) = local_of(key) else {
                return Err(format!("bucket {at}: key {key} belongs to another shard"));
            };
            let start = spread(local, count).0;
            let distance = (at + count - start) % count;
            if distance > 0 && table[start].spilled == 0 {
                return Err(format!(
                    "bucket {at}: key {key} lives past its home bucket {start}, which is not \
                     marked as spilled"
                ));
            }
            for step in 0..distance {
                let before = &table[(start + step) % count];
                if before.keys[SLOTS - 1] == 0 || before.keys.contains(&key) {
                    return Err(format!("bucket {at}: key {key} is unreachable or repeated"));
                }
            }
            *numbers += 1;
            keys += 1;
        }
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The index key of the number whose digits are `value`.
    fn key(value: u64) -> u64 {
        E164::from_u64(value).expect("valid").index_key()
    }

    fn local(key: u64, seed: u64) -> u64 {
        hash(key, seed)
    }

    fn build(entries: &[(u64, u32)], seed: u64) -> Result<Box<[Bucket]>, DuplicateKey> {
        let mut table: Box<[Bucket]> =
            bytemuck::allocation::zeroed_slice_box(bucket_count(entries.len()));
        for &(k, v) in entries {
            place(&mut table, local(k, seed), k, v)?;
        }
        Ok(table)
    }

    #[test]
    fn finds_every_key_and_no_other() {
        let entries: Vec<(u64, u32)> = (0..10_000u64)
            .map(|i| (key(14_155_550_000 + i * 7), (i % 13) as u32))
            .collect();
        for seed in [0, 1, u64::MAX, 0x1234_5678] {
            let table = build(&entries, seed).expect("no duplicates");
            assert_eq!(table.len(), 3334);
            for (i, &(k, value)) in entries.iter().enumerate() {
                assert_eq!(find(&table, local(k, seed), k), Some(value));
                let other = key(14_155_550_001 + i as u64 * 7);
                assert_eq!(find(&table, local(other, seed), other), None);
            }
            let mut routed = vec![0; 13];
            let here = |k| Some(local(k, seed));
            assert_eq!(validate(&table, here, &mut routed), Ok(entries.len()));
            assert_eq!(routed.iter().sum::<u32>() as usize, entries.len());
            assert_eq!(
                validate(&table, here, &mut [0; 12]).map_err(|e| e.contains("out of range")),
                Err(true)
            );
            assert!(validate(&table, |_| None, &mut routed).is_err());
        }
    }

    /// A block of consecutive DIDs, the common case, spreads like random keys: at the built
    /// load almost every key sits in its home bucket, for one shard and for several.
    #[test]
    fn consecutive_numbers_stay_in_their_home_buckets() {
        for shards in [1usize, 3, 1221] {
            for start in [14_155_550_000u64, 442_079_460_000, 4_930_000_000_000] {
                let keys: Vec<u64> = (0..30_000).map(|i| key(start + i)).collect();
                let mine: Vec<(u64, u64)> = keys
                    .iter()
                    .filter_map(|&k| {
                        let (shard, local) = spread(hash(k, 0x5eed), shards);
                        (shard == 0).then_some((k, local))
                    })
                    .collect();
                let mut table: Box<[Bucket]> =
                    bytemuck::allocation::zeroed_slice_box(bucket_count(mine.len()));
                for &(k, local) in &mine {
                    place(&mut table, local, k, 0).expect("distinct");
                }
                let away = mine
                    .iter()
                    .filter(|&&(k, local)| !table[spread(local, table.len()).0].keys.contains(&k))
                    .count();
                assert!(
                    away * 20 < mine.len().max(20),
                    "{away} of {} keys from {start} past their home bucket ({shards} shards)",
                    mine.len()
                );
            }
        }
    }

    #[test]
    fn rejects_duplicates() {
        let entries = [
            (key(14155552671), 0),
            (key(442079460958), 1),
            (key(14155552671), 2),
        ];
        assert_eq!(
            build(&entries, 7).err(),
            Some(DuplicateKey(key(14155552671)))
        );
    }

    #[test]
    fn removed_keys_leave_tombstones_that_keep_chains_whole() {
        // One bucket's worth of chains: a small table, nearly full, so chains run long.
        let keys: Vec<u64> = (0..40).map(|i| key(14155552000 + i)).collect();
        let mut table: Box<[Bucket]> = bytemuck::allocation::zeroed_slice_box(10);
        for (i, &k) in keys.iter().enumerate() {
            assert_eq!(upsert(&mut table, local(k, 3), k, i as u32), Upsert::Added);
        }
        assert_eq!(occupied(&table), 40);
        for &k in keys.iter().step_by(2) {
            assert!(remove(&mut table, local(k, 3), k).is_some());
            assert_eq!(remove(&mut table, local(k, 3), k), None);
        }
        for (i, &k) in keys.iter().enumerate() {
            let want = (i % 2 == 1).then_some(i as u32);
            assert_eq!(find(&table, local(k, 3), k), want, "key {i}");
        }
        assert_eq!(entries(&table).count(), 20);
        assert_eq!(occupied(&table), 40);
        // A re-added key takes a tombstone; a replaced one keeps its place.
        assert_eq!(
            upsert(&mut table, local(keys[0], 3), keys[0], 7),
            Upsert::Revived
        );
        assert_eq!(
            upsert(&mut table, local(keys[1], 3), keys[1], 9),
            Upsert::Replaced(1)
        );
        assert_eq!(find(&table, local(keys[0], 3), keys[0]), Some(7));
        assert_eq!(find(&table, local(keys[1], 3), keys[1]), Some(9));
        let mut routed = vec![0; 40];
        assert_eq!(validate(&table, |k| Some(local(k, 3)), &mut routed), Ok(21));
        // Fill every slot: the next new key is refused, and a probe still ends.
        let mut i = 0;
        while occupied(&table) < 50 {
            let k = key(14165552000 + i);
            assert_ne!(upsert(&mut table, local(k, 3), k, 0), Upsert::Full);
            i += 1;
        }
        let k = key(14175552000);
        assert_eq!(upsert(&mut table, local(k, 3), k, 0), Upsert::Full);
        assert_eq!(find(&table, local(k, 3), k), None);
        assert!(validate(&table, |k| Some(local(k, 3)), &mut [0; 40]).is_err());
    }

    #[test]
    fn a_tombstone_never_matches_a_probe() {
        let k = key(14155552671);
        let mut table = build(&[(k, 0)], 1).expect("build");
        remove(&mut table, local(k, 1), k);
        assert_eq!(find(&table, local(TOMBSTONE, 1), TOMBSTONE), None);
        assert!(E164::from_untrusted_key(TOMBSTONE).is_err());
    }

    #[test]
    fn validate_rejects_what_is_not_a_numbers_key() {
        let good = key(14155552671);
        // The digits as a plain integer; a key with a digit half above 9; a key whose
        // overlapping digits disagree; a key with a leading zero; a digit count of 1.
        for bad in [
            14155552671,
            good | 0xA00,
            good ^ 0x10,
            good & !0xF00,
            (good & !0xF) | 1,
        ] {
            let table = build(&[(bad, 0)], 5).expect("build");
            assert!(
                validate(&table, |k| Some(local(k, 5)), &mut [0]).is_err(),
                "{bad:#x}"
            );
        }
        let table = build(&[(good, 0)], 5).expect("build");
        assert_eq!(validate(&table, |k| Some(local(k, 5)), &mut [0]), Ok(1));
    }

    #[test]
    fn a_miss_stops_at_a_home_bucket_that_never_spilled() {
        // Enough keys that some buckets fill and spill into the next.
        let entries: Vec<(u64, u32)> = (0..3_000).map(|i| (key(14155550000 + i), 1)).collect();
        let table = build(&entries, 7).expect("build");
        let spilled = table.iter().filter(|b| b.spilled == 1).count();
        let full = table.iter().filter(|b| b.keys[SLOTS - 1] != 0).count();
        assert!(
            spilled > 0 && spilled < full,
            "{spilled} spilled of {full} full"
        );
        // Every key whose home spilled is still found, and so is every other.
        for &(k, v) in &entries {
            assert_eq!(find(&table, local(k, 7), k), Some(v));
        }
        assert_eq!(
            validate(&table, |k| Some(local(k, 7)), &mut [0, 0]),
            Ok(3_000)
        );
        // A key living past its home needs the home's flag: clearing it is refused.
        let home_of = |k: u64| spread(local(k, 7), table.len()).0;
        let (at, k) = table
            .iter()
            .enumerate()
            .flat_map(|(at, b)| b.keys.iter().map(move |&k| (at, k)))
            .find(|&(at, k)| k != 0 && home_of(k) != at)
            .expect("a key past its home");
        let mut broken = table.clone();
        broken[home_of(k)].spilled = 0;
        let err = validate(&broken, |k| Some(local(k, 7)), &mut [0, 0]).expect_err("refused");
        assert!(err.contains("spilled"), "{err} (key in bucket {at})");
        let mut bad_flag = table.clone();
        bad_flag[0].spilled = 2;
        assert!(validate(&bad_flag, |k| Some(local(k, 7)), &mut [0, 0]).is_err());
    }

    #[test]
    fn validate_catches_misplaced_keys() {
        let entries: Vec<(u64, u32)> = (0..100).map(|i| (key(14155552000 + i), 0)).collect();
        let mut table = build(&entries, 11).expect("build");
        // Move a key from its bucket to another bucket's free slot.
        let (from, slot) = (0..table.len())
            .flat_map(|b| (0..SLOTS).map(move |s| (b, s)))
            .find(|&(b, s)| table[b].keys[s] != 0 && (s + 1 == SLOTS || table[b].keys[s + 1] == 0))
            .expect("a last filled slot");
        let moved = table[from].keys[slot];
        table[from].keys[slot] = 0;
        let (to, free) = (1..table.len())
            .map(|step| (from + table.len() / 2 + step) % table.len())
            .find_map(|b| Some((b, table[b].keys.iter().position(|&k| k == 0)?)))
            .expect("a bucket with a free slot");
        table[to].keys[free] = moved;
        assert!(validate(&table, |k| Some(local(k, 11)), &mut [0]).is_err());
    }
}
