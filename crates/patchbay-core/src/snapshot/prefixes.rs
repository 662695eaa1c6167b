//! The prefix index: every routed number prefix and its connector slot, consulted only when
//! a number's own entry misses.
//!
//! Prefixes live in an [`Index`] of their own (the same sharded tables as numbers, keyed by
//! [`Prefix`] keys, patched the same way in O(change)): the record of what is routed, and
//! what snapshot files store. Beside it, a count of prefixes per length, and the
//! longest-match table derived from it ([`Cells`]), which answers a number's longest prefix
//! in two or three loads whatever the lengths of the prefixes loaded. A digit trie instead
//! follows one pointer per digit, each load depending on the one before; probing the
//! index once per length costs one probe for every length some prefix has.
//!
//! [`digit_nibbles`]: crate::number::digit_nibbles

use super::cells::Cells;
use super::index::{Change, Index};
use super::table::{DuplicateKey, Keys};
use crate::number::{digit_nibbles, prefix_key_at, Prefix, MAX_PREFIX_DIGITS};

/// The prefixes of a snapshot.
#[derive(Clone)]
pub(crate) struct Prefixes {
    index: Index,
    count: usize,
    /// How many prefixes have each length (index 1 to 14).
    lengths: [u32; MAX_PREFIX_DIGITS + 1],
    /// Bit `L` is set when some prefix has `L` digits.
    present: u16,
    /// The longest-match table derived from `index`.
    cells: Cells,
}

impl Prefixes {
    /// No prefixes.
    pub(crate) fn empty() -> Prefixes {
        Prefixes {
            index: Index::empty(),
            count: 0,
            lengths: [0; MAX_PREFIX_DIGITS + 1],
            present: 0,
            cells: Cells::empty(),
        }
    }

    /// The prefixes of `entries` (prefix keys and connector slots, each key once).
    pub(crate) fn build(entries: Vec<(u64, u32)>, seed: u64) -> Result<Prefixes, DuplicateKey> {
        let mut lengths = [0; MAX_PREFIX_DIGITS + 1];
        for &(key, _) in &entries {
            count_length(&mut lengths, key, 1);
        }
        let count = entries.len();
        let index = Index::build(entries, seed)?;
        Ok(Prefixes::with(index, count, lengths))
    }

    /// The prefixes of an index read from a file: every key is checked to be a prefix's,
    /// placed and reachable as in [`Index::validate`], and each slot's prefixes are counted
    /// into `routed`.
    pub(crate) fn validated(index: Index, routed: &mut [u32]) -> Result<Prefixes, String> {
        let count = index.validate_keys(routed, Keys::Prefixes)?;
        let mut lengths = [0; MAX_PREFIX_DIGITS + 1];
        for (key, _) in index.entries() {
            count_length(&mut lengths, key, 1);
        }
        Ok(Prefixes::with(index, count, lengths))
    }

    fn with(index: Index, count: usize, lengths: [u32; MAX_PREFIX_DIGITS + 1]) -> Prefixes {
        let cells = Cells::build(&index);
        Prefixes::with_cells(index, count, lengths, cells)
    }

    fn with_cells(
        index: Index,
        count: usize,
        lengths: [u32; MAX_PREFIX_DIGITS + 1],
        cells: Cells,
    ) -> Prefixes {
        let present = lengths
            .iter()
            .enumerate()
            .filter(|&(_, &n)| n > 0)
            .fold(0u16, |bits, (len, _)| bits | (1 << len));
        Prefixes {
            index,
            count,
            lengths,
            present,
            cells,
        }
    }

    /// How many prefixes there are.
    pub(crate) fn len(&self) -> usize {
        self.count
    }

    /// The index holding them.
    pub(crate) fn index(&self) -> &Index {
        &self.index
    }

    /// The connector slot of exactly this prefix.
    pub(crate) fn find(&self, prefix: Prefix) -> Option<u32> {
        if self.count == 0 {
            return None;
        }
        self.index.find(prefix.key())
    }

    /// The longest prefix of the number whose index key is `number` that has a route, and
    /// its connector slot. `number` must be a valid number's key (a prefix found then
    /// proves nothing about it; the caller checks the number).
    ///
    /// The cell table answers, unless the number is shorter than its cell's base (a number
    /// that is the start of a prefix), when the shorter lengths are probed instead.
    #[inline]
    pub(crate) fn longest(&self, number: u64) -> Option<(Prefix, u32)> {
        if self.count == 0 {
            return None;
        }
        self.longest_of(number, digit_nibbles(number))
    }

    /// [`Prefixes::longest`] for a number whose digits as nibbles (`digit_nibbles`) the
    /// caller has already.
    #[inline]
    pub(crate) fn longest_of(&self, number: u64, nibbles: u64) -> Option<(Prefix, u32)> {
        let digits = (number & 0xF) as u32;
        let found = match self.cells.find(&self.index, nibbles, digits) {
            Ok(found) => found,
            Err(()) => return self.longest_probing(nibbles, digits),
        };
        let (key, slot) = found?;
        Prefix::from_key(key).map(|prefix| (prefix, slot))
    }

    /// [`Prefixes::longest`] by probing every length some prefix has, longest first.
    #[cold]
    fn longest_probing(&self, nibbles: u64, digits: u32) -> Option<(Prefix, u32)> {
        let capped = digits.min(MAX_PREFIX_DIGITS as u32);
        let mut candidates = u32::from(self.present) & ((2u32 << capped) - 1);
        while candidates != 0 {
            let len = 31 - candidates.leading_zeros();
            candidates &= !(1 << len);
            let key = prefix_key_at(nibbles, len);
            if let Some(slot) = self.index.find(key) {
                return Prefix::from_key(key).map(|prefix| (prefix, slot));
            }
        }
        None
    }

    /// Every `(prefix key, slot)`, in no particular order.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (u64, u32)> + '_ {
        self.index.entries()
    }

    /// The prefixes with `changes` made (see [`Index::patch`]); `counted` sees each
    /// effective change as `(slot before, slot after)`.
    pub(crate) fn patch(
        &self,
        changes: Vec<Change>,
        mut counted: impl FnMut(Option<u32>, Option<u32>),
    ) -> Prefixes {
        let mut lengths = self.lengths;
        let mut count = self.count;
        let mut changed: Vec<u64> = changes.iter().map(|&(key, _)| key).collect();
        changed.sort_unstable();
        changed.dedup();
        let index = self.index.patch(changes, |key, before, after| {
            let delta = i64::from(after.is_some()) - i64::from(before.is_some());
            count_length(&mut lengths, key, delta);
            count = count.saturating_add_signed(delta as isize);
            counted(before, after);
        });
        let cells = self.cells.patched(&index, &changed);
        Prefixes::with_cells(index, count, lengths, cells)
    }

    /// Whether patches have grown the index past its shards' room (see [`Index::outgrown`]).
    pub(crate) fn outgrown(&self) -> bool {
        self.index.outgrown(self.count)
    }

    /// The same prefixes in an index rebuilt with `seed` and as many shards as they need.
    pub(crate) fn rebuilt(&self, seed: u64) -> Result<Prefixes, DuplicateKey> {
        Prefixes::build(self.index.entries().collect(), seed)
    }
}

/// Adds `delta` to the count of `key`'s length.
fn count_length(lengths: &mut [u32; MAX_PREFIX_DIGITS + 1], key: u64, delta: i64) {
    if let Some(n) = lengths.get_mut((key & 0xF) as usize) {
        *n = n.saturating_add_signed(delta as i32);
    }
}
