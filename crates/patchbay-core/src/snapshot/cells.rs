//! The longest-match table: what a number's first five digits say about its prefixes.
//!
//! The table has a *cell* for every five-digit start (`44207`), on pages of the first three
//! digits (a page table of 4,096 entries, a hundred cells a page). A cell holds:
//!
//! - its *base*: the innermost prefix of at most five digits covering all of it (a country,
//!   a city);
//! - the lengths (6 to 14) of the longer prefixes inside it;
//! - a small filter of those longer prefixes (two bits of one word each, 16 bits a prefix,
//!   in its page's filter words: 200 KB for 100,000 prefixes, so it stays in cache).
//!
//! A number's longest prefix is then: for each length its cell has, longest first, the key
//! of its first that many digits (a mask, a shift and an or of its digits) checked against
//! the filter, and only where the filter holds it one probe of the prefix index, which
//! confirms; else the base. A match costs one probe of the index whatever the lengths of
//! the prefixes loaded (and a filter error, about one check in seventy, one more), and a
//! number that no long prefix covers none, where a digit trie follows one pointer per
//! digit, each load depending on the one before.
//!
//! Pages are shared between snapshots and copied on write: a change of a long prefix
//! rebuilds its page's filter (O(long prefixes of the page)), a change of a short prefix of
//! `L` digits rebases the `10^(5-L)` cells under it (10,000 for a country code of one
//! digit), each with at most five probes of the prefix index, which stays the record of
//! what is routed. The table is derived from that index: built when a snapshot is built or
//! opened, patched with it, and never stored.

use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::index::Index;
use crate::number::{prefix_key_at, reversed_nibbles as left_aligned};

/// Digits a cell is named by.
const CELL_DIGITS: u32 = 5;

/// Cells in a page: the fourth and fifth digits.
const PAGE_CELLS: usize = 100;

/// Pages: the first three digits as four-bit values (most are absent).
const PAGES: usize = 1 << 12;

/// No prefix: the key of an answer that is none (prefix keys are never zero).
const NONE: (u64, u32) = (0, 0);

/// Filter bits per long prefix of a cell (two of them set per prefix): about 1.5% of the
/// keys that are not there pass.
const FILTER_BITS: usize = 16;

/// Where the cell of a number or prefix whose digits are `nibbles` is: its page, and its
/// place in the page.
#[inline(always)]
fn cell_of(nibbles: u64) -> (usize, usize) {
    let left = left_aligned(nibbles);
    let page = (left >> 52) as usize;
    let fourth = ((left >> 48) & 0xF) as usize;
    let fifth = ((left >> 44) & 0xF) as usize;
    (page, fourth * 10 + fifth)
}

/// The length a prefix key records.
#[inline(always)]
fn len_of(key: u64) -> u32 {
    (key & 0xF) as u32
}

/// The word (of a filter of `mask + 1` words, a power of two) and the two bits that prefix
/// key `key` has in it.
#[inline(always)]
fn filter_place(key: u64, mask: usize) -> (usize, u64) {
    // A product's high bits depend on all of the key: the two bits come from its top
    // twelve, the word from bits 32 and up.
    let hash = (key ^ (key >> 29)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let word = (hash >> 32) as usize & mask;
    (word, (1 << (hash >> 58)) | (1 << ((hash >> 52) & 63)))
}

/// One cell: its base, and the long prefixes inside it.
#[derive(Clone)]
struct Cell {
    base: (u64, u32),
    /// Bit `L` set: some prefix of `L` digits (6 to 14) lies inside the cell.
    lengths: u16,
    /// The cell's filter words in its page's filter: how many less one (a power of two
    /// less one), and from where.
    mask: u16,
    from: u32,
    /// The long prefixes inside the cell (key, slot), by key: read only by patches.
    long: Option<Arc<[(u64, u32)]>>,
}

const PLAIN: Cell = Cell {
    base: NONE,
    lengths: 0,
    mask: 0,
    from: 0,
    long: None,
};

/// A page: a hundred cells and their filter words.
struct Page {
    cells: Vec<Cell>,
    filter: Box<[u64]>,
}

impl Page {
    /// The page of `cells`, its filter built from their long prefixes.
    fn new(mut cells: Vec<Cell>) -> Page {
        let mut filter = Vec::new();
        for cell in &mut cells {
            let long = cell.long.as_deref().unwrap_or_default();
            cell.lengths = long
                .iter()
                .fold(0, |bits, &(key, _)| bits | (1 << len_of(key)));
            let words = if long.is_empty() {
                0
            } else {
                (long.len() * FILTER_BITS)
                    .div_ceil(64)
                    .next_power_of_two()
                    .min(1 << 15)
            };
            cell.mask = words.saturating_sub(1) as u16;
            cell.from = u32::try_from(filter.len()).unwrap_or(u32::MAX);
            let start = filter.len();
            filter.resize(start + words, 0u64);
            for &(key, _) in long {
                let (word, bits) = filter_place(key, words.saturating_sub(1));
                if let Some(w) = filter.get_mut(start + word) {
                    *w |= bits;
                }
            }
        }
        Page {
            cells,
            filter: filter.into(),
        }
    }

    /// Whether the cell's filter may hold prefix key `key`.
    #[inline(always)]
    fn may_hold(&self, cell: &Cell, key: u64) -> bool {
        let (word, bits) = filter_place(key, usize::from(cell.mask));
        self.filter
            .get(cell.from as usize + word)
            .is_some_and(|&w| w & bits == bits)
    }
}

/// The longest-match table.
#[derive(Clone)]
pub(crate) struct Cells {
    pages: Arc<[Option<Arc<Page>>]>,
}

impl Cells {
    /// No prefixes.
    pub(crate) fn empty() -> Cells {
        Cells {
            pages: vec![None; PAGES].into(),
        }
    }

    /// The table of every prefix in `index`.
    pub(crate) fn build(index: &Index) -> Cells {
        let keys: Vec<u64> = index.entries().map(|(key, _)| key).collect();
        Cells::empty().patched(index, &keys)
    }

    /// The longest prefix (key and slot) in `index` of a number of `digits` digits whose
    /// digits are `nibbles` (digit 1 lowest): a long one inside its cell, or the cell's
    /// base. `Err` when the base is longer than the number (the caller then probes the
    /// shorter lengths itself).
    #[inline(always)]
    pub(crate) fn find(
        &self,
        index: &Index,
        nibbles: u64,
        digits: u32,
    ) -> Result<Option<(u64, u32)>, ()> {
        let (page, at) = cell_of(nibbles);
        let Some(page) = self.pages.get(page).and_then(Option::as_ref) else {
            return Ok(None);
        };
        let Some(cell) = page.cells.get(at) else {
            return Ok(None);
        };
        let mut lengths = u32::from(cell.lengths) & ((2u32 << digits.min(14)) - 1);
        while lengths != 0 {
            let len = 31 - lengths.leading_zeros();
            lengths &= !(1 << len);
            let key = prefix_key_at(nibbles, len);
            if page.may_hold(cell, key) {
                if let Some(slot) = index.find(key) {
                    return Ok(Some((key, slot)));
                }
            }
        }
        match cell.base {
            NONE => Ok(None),
            (key, _) if len_of(key) > digits => Err(()),
            base => Ok(Some(base)),
        }
    }

    /// The table after the prefixes `changed` (keys) changed; `index` already holds their
    /// new routes (or none). Only the pages they fall in are copied.
    pub(crate) fn patched(&self, index: &Index, changed: &[u64]) -> Cells {
        let mut long: FxHashMap<(usize, usize), Vec<u64>> = FxHashMap::default();
        let mut rebase: Vec<(usize, usize)> = Vec::new();
        for &key in changed {
            let len = len_of(key);
            let nibbles = key >> 4;
            if len > CELL_DIGITS {
                long.entry(cell_of(nibbles)).or_default().push(key);
            } else {
                rebase.extend(extensions(nibbles, len, CELL_DIGITS).map(cell_of));
            }
        }
        rebase.sort_unstable();
        rebase.dedup();
        let mut copied: FxHashMap<usize, Vec<Cell>> = FxHashMap::default();
        for &(page, at) in &rebase {
            let base = base_of(index, page, at);
            if let Some(cell) = cell_mut(&mut copied, &self.pages, page, at) {
                cell.base = base;
            }
        }
        for (&(page, at), keys) in &long {
            let Some(cell) = cell_mut(&mut copied, &self.pages, page, at) else {
                continue;
            };
            let mut list: Vec<(u64, u32)> = cell.long.as_deref().unwrap_or_default().to_vec();
            list.retain(|(key, _)| !keys.contains(key));
            list.extend(
                keys.iter()
                    .filter_map(|&key| index.find(key).map(|slot| (key, slot))),
            );
            list.sort_unstable();
            list.dedup_by_key(|&mut (key, _)| key);
            cell.long = (!list.is_empty()).then(|| list.into());
        }
        let mut pages = self.pages.to_vec();
        for (page, cells) in copied {
            if let Some(slot) = pages.get_mut(page) {
                *slot = Some(Arc::new(Page::new(cells)));
            }
        }
        Cells {
            pages: pages.into(),
        }
    }
}

/// Every way to extend the `len` digits of `nibbles` to `to` digits, as nibbles.
fn extensions(nibbles: u64, len: u32, to: u32) -> impl Iterator<Item = u64> {
    let spread = 10u64.pow(to.saturating_sub(len));
    (0..spread).map(move |tail| {
        let mut digits = nibbles;
        let mut rest = tail;
        for place in (len..to).rev() {
            digits |= (rest % 10) << (4 * place);
            rest /= 10;
        }
        digits
    })
}

/// Cell `at` of `page` in the copies of the pages a patch makes (copied on first use).
fn cell_mut<'a>(
    copied: &'a mut FxHashMap<usize, Vec<Cell>>,
    pages: &[Option<Arc<Page>>],
    page: usize,
    at: usize,
) -> Option<&'a mut Cell> {
    let cells = copied.entry(page).or_insert_with(|| match pages.get(page) {
        Some(Some(existing)) => existing.cells.clone(),
        _ => vec![PLAIN; PAGE_CELLS],
    });
    cells.get_mut(at)
}

/// The innermost prefix of at most [`CELL_DIGITS`] digits that `index` holds and that covers
/// the cell `at` of `page`: its five digits probed from all five down to one.
fn base_of(index: &Index, page: usize, at: usize) -> (u64, u32) {
    let digits = [
        (page >> 8) as u64 & 0xF,
        (page >> 4) as u64 & 0xF,
        page as u64 & 0xF,
        (at / 10) as u64,
        (at % 10) as u64,
    ];
    let nibbles = digits
        .iter()
        .enumerate()
        .fold(0u64, |acc, (i, &d)| acc | (d << (4 * i)));
    (1..=CELL_DIGITS)
        .rev()
        .find_map(|len| {
            let key = prefix_key_at(nibbles, len);
            index.find(key).map(|slot| (key, slot))
        })
        .unwrap_or(NONE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_named_by_the_first_five_digits() {
        // Digits 4, 4, 2, 0, 7, 9 (digit 1 lowest).
        let nibbles = 0x0097_0244;
        assert_eq!(cell_of(nibbles), (0x442, 7));
        assert!(
            left_aligned(0x5_4) > left_aligned(nibbles),
            "+45 sorts after +44207"
        );
        let all: Vec<u64> = extensions(0x0244, 3, 5).collect();
        assert_eq!(all.len(), 100);
        assert_eq!(all[0], 0x0_0244);
        assert_eq!(all[99], 0x9_9244);
    }

    #[test]
    fn a_filter_holds_every_key_it_was_built_from() {
        let long: Vec<(u64, u32)> = (0..500u64).map(|i| ((i << 8) | 9, i as u32)).collect();
        let page = Page::new(vec![Cell {
            long: Some(long.clone().into()),
            ..PLAIN
        }]);
        let cell = &page.cells[0];
        assert!(long.iter().all(|&(key, _)| page.may_hold(cell, key)));
        let passed = (500..100_500u64)
            .filter(|i| page.may_hold(cell, (i << 8) | 9))
            .count();
        assert!(passed < 4_000, "{passed} of 100,000 absent keys passed");
    }
}
