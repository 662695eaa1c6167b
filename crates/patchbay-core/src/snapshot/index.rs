//! The number index: a bucketized linear-probing hash table of `u64` keys, the numbers'
//! packed digits (`E164`'s own representation).
//!
//! A bucket is one 64-byte cache line holding five keys and their five connector slots, so a
//! lookup touches one cache line in the common case (the table is built at most 80% full,
//! and a key lives in its home bucket or, rarely, a following one). Key `0` marks an empty
//! slot: no number's key is `0`. Slots of a bucket fill in order and nothing is ever removed
//! (snapshots are immutable), so a lookup stops at the first bucket that is not full.
//!
//! The home bucket comes from a seeded multiplicative hash mapped onto the bucket count with
//! a multiply-shift (no power-of-two rounding, so memory tracks the number count). The seed
//! is random per build: numbers chosen to collide in one snapshot do not collide in the next.
//!
//! The same layout is used in memory and in snapshot files (little-endian), so a mapped file
//! is probed in place.

use crate::number::E164;

/// Keys per bucket.
pub(crate) const SLOTS: usize = 5;

/// One cache line: five keys, their five connector slots, and four reserved bytes (zero).
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable, rkyv::Archive, rkyv::Serialize)]
#[repr(C, align(64))]
pub(crate) struct Bucket {
    pub(crate) keys: [u64; SLOTS],
    pub(crate) values: [u32; SLOTS],
    pub(crate) reserved: u32,
}

const _: () = assert!(std::mem::size_of::<Bucket>() == 64);
const _: () = assert!(std::mem::size_of::<ArchivedBucket>() == 64);

/// How the keys of one table are placed: the hash seed and the longest probe distance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Placement {
    pub(crate) seed: u64,
    pub(crate) max_probe: u32,
}

/// The home bucket of `key` in a table of `buckets` buckets (`0` when there are none).
///
/// One multiply by a 64-bit odd constant (Fibonacci hashing) spreads neighbouring keys, such
/// as a block of DIDs, across the whole word; the top bits of the product then pick the
/// bucket by a multiply-shift. The seed is mixed in before the multiply.
#[inline(always)]
fn home(key: u64, seed: u64, buckets: usize) -> usize {
    let hash = (key ^ seed).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    ((u128::from(hash) * buckets as u128) >> 64) as usize
}

/// How many buckets hold `numbers` keys at no more than 80% load.
pub(crate) fn bucket_count(numbers: usize) -> usize {
    numbers.div_ceil(SLOTS - 1).max(1)
}

/// The connector slot of `key`, if the table has it.
///
/// The common case (the key in its home bucket, or a home bucket with a free slot) is a
/// handful of instructions with no loop: on a large table a lookup waits on one cache miss,
/// and the fewer instructions each lookup adds, the more lookups the processor keeps in
/// flight at once. Walking on to the following buckets is out of line.
#[inline(always)]
pub(crate) fn find(buckets: &[Bucket], placement: Placement, key: u64) -> Option<u32> {
    let at = home(key, placement.seed, buckets.len());
    let bucket = buckets.get(at)?;
    match select(bucket, key) {
        NO_SLOT if bucket.keys[SLOTS - 1] == 0 => None,
        NO_SLOT => find_beyond(buckets, placement, key, at),
        slot => Some(slot),
    }
}

/// What [`select`] gives when the bucket does not hold the key. Never a connector slot:
/// there are at most `u32::MAX` connectors, so slots stop one below.
const NO_SLOT: u32 = u32::MAX;

/// The slot stored beside `key` in `bucket`, or [`NO_SLOT`]. A key is in a bucket at most
/// once, so each of the five compares picks its value or keeps what it had: a compare and
/// a conditional move each. Branches would mispredict: where in its bucket a key sits is
/// random.
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

/// A bit per slot of `bucket` that holds `key`.
#[inline]
fn matches(bucket: &Bucket, key: u64) -> u32 {
    bucket
        .keys
        .iter()
        .enumerate()
        .fold(0u32, |acc, (slot, &k)| acc | (u32::from(k == key) << slot))
}

/// [`find`] past a full home bucket at `home`: the following buckets, wrapping around, up to
/// the table's longest probe distance.
#[cold]
#[inline(never)]
fn find_beyond(buckets: &[Bucket], placement: Placement, key: u64, home: usize) -> Option<u32> {
    let count = buckets.len();
    let mut at = home;
    for _ in 0..placement.max_probe {
        at += 1;
        if at == count {
            at = 0;
        }
        let bucket = buckets.get(at)?;
        match matches(bucket, key) {
            0 if bucket.keys[SLOTS - 1] == 0 => return None,
            0 => {}
            hits => return bucket.values.get(hits.trailing_zeros() as usize).copied(),
        }
    }
    None
}

/// A key that was placed twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DuplicateKey(pub(crate) u64);

/// Builds a table holding every `(key, slot)` of `entries` (keys non-zero) in `buckets`,
/// which must be zeroed and [`bucket_count`] long for `entries`.
pub(crate) fn build_into(
    buckets: &mut [Bucket],
    entries: &[(u64, u32)],
    seed: u64,
) -> Result<Placement, DuplicateKey> {
    let count = buckets.len();
    let mut max_probe = 0u32;
    if count == 0 {
        return Ok(Placement { seed, max_probe });
    }
    for &(key, value) in entries {
        let mut at = home(key, seed, count);
        let mut distance = 0u32;
        // Terminates: the table has more slots than entries, so some bucket is not full.
        while let Some(bucket) = buckets.get_mut(at) {
            match bucket.keys.iter().position(|&k| k == key || k == 0) {
                Some(slot) if bucket.keys[slot] == key => return Err(DuplicateKey(key)),
                Some(slot) => {
                    bucket.keys[slot] = key;
                    bucket.values[slot] = value;
                    break;
                }
                None => {
                    at = if at + 1 == count { 0 } else { at + 1 };
                    distance += 1;
                }
            }
        }
        max_probe = max_probe.max(distance);
    }
    Ok(Placement { seed, max_probe })
}

/// [`build_into`] a new heap table.
#[cfg(test)]
pub(crate) fn build(
    entries: &[(u64, u32)],
    seed: u64,
) -> Result<(Box<[Bucket]>, Placement), DuplicateKey> {
    let mut buckets: Box<[Bucket]> =
        bytemuck::allocation::zeroed_slice_box(bucket_count(entries.len()));
    let placement = build_into(&mut buckets, entries, seed)?;
    Ok((buckets, placement))
}

/// Checks a table read from a file: every key is a valid E.164 number placed where a lookup
/// finds it, no key is there twice, every slot names one of `connectors`, empty slots and
/// reserved bytes are zero. Returns the number of keys.
pub(crate) fn validate(
    buckets: &[Bucket],
    placement: Placement,
    connectors: usize,
) -> Result<usize, String> {
    let count = buckets.len();
    if count == 0 {
        return Err("the index has no buckets".into());
    }
    if placement.max_probe as usize >= count {
        return Err(format!(
            "probe distance {} is not below the bucket count {count}",
            placement.max_probe
        ));
    }
    let mut keys = 0usize;
    for (at, bucket) in buckets.iter().enumerate() {
        if bucket.reserved != 0 {
            return Err(format!("bucket {at}: reserved bytes are not zero"));
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
            E164::from_untrusted_key(key).map_err(|e| format!("bucket {at}: key {key:#x}: {e}"))?;
            if value as usize >= connectors {
                return Err(format!("bucket {at}: connector slot {value} out of range"));
            }
            if bucket.keys[..slot].contains(&key) {
                return Err(format!("bucket {at}: key {key} appears twice"));
            }
            let start = home(key, placement.seed, count);
            let distance = (at + count - start) % count;
            if distance > placement.max_probe as usize {
                return Err(format!(
                    "bucket {at}: key {key} is beyond the probe distance"
                ));
            }
            for step in 0..distance {
                let before = &buckets[(start + step) % count];
                if before.keys[SLOTS - 1] == 0 || before.keys.contains(&key) {
                    return Err(format!("bucket {at}: key {key} is unreachable or repeated"));
                }
            }
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

    #[test]
    fn finds_every_key_and_no_other() {
        let entries: Vec<(u64, u32)> = (0..10_000u64)
            .map(|i| (key(14_155_550_000 + i * 7), (i % 13) as u32))
            .collect();
        for seed in [0, 1, u64::MAX, 0x1234_5678] {
            let (buckets, placement) = build(&entries, seed).expect("no duplicates");
            assert_eq!(buckets.len(), 2500);
            for (i, &(k, value)) in entries.iter().enumerate() {
                assert_eq!(find(&buckets, placement, k), Some(value));
                assert_eq!(
                    find(&buckets, placement, key(14_155_550_001 + i as u64 * 7)),
                    None
                );
            }
            assert_eq!(validate(&buckets, placement, 13), Ok(entries.len()));
            assert_eq!(
                validate(&buckets, placement, 12).map_err(|e| e.contains("out of range")),
                Err(true)
            );
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
            let (buckets, placement) = build(&[(bad, 0)], 5).expect("build");
            assert!(validate(&buckets, placement, 1).is_err(), "{bad:#x}");
        }
        let (buckets, placement) = build(&[(good, 0)], 5).expect("build");
        assert_eq!(validate(&buckets, placement, 1), Ok(1));
    }

    #[test]
    fn a_full_probe_chain_still_terminates() {
        // Every key in one table of one bucket: chains wrap around.
        let entries: Vec<(u64, u32)> = (0..4).map(|i| (key(14155552671 + i), 0)).collect();
        let (buckets, placement) = build(&entries, 3).expect("build");
        assert_eq!(buckets.len(), 1);
        assert_eq!(find(&buckets, placement, 12), None);
        assert_eq!(find(&[], placement, 12), None);
    }

    #[test]
    fn validate_catches_misplaced_keys() {
        let entries: Vec<(u64, u32)> = (0..100).map(|i| (key(14155552000 + i), 0)).collect();
        let (mut buckets, placement) = build(&entries, 11).expect("build");
        // Move a key from its bucket to another bucket's free slot.
        let (from, slot) = (0..buckets.len())
            .flat_map(|b| (0..SLOTS).map(move |s| (b, s)))
            .find(|&(b, s)| {
                buckets[b].keys[s] != 0 && (s + 1 == SLOTS || buckets[b].keys[s + 1] == 0)
            })
            .expect("a last filled slot");
        let key = buckets[from].keys[slot];
        buckets[from].keys[slot] = 0;
        let to = (from + buckets.len() / 2) % buckets.len();
        let free = buckets[to]
            .keys
            .iter()
            .position(|&k| k == 0)
            .expect("free slot");
        buckets[to].keys[free] = key;
        assert!(validate(&buckets, placement, 1).is_err());
    }
}
