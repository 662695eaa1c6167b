//! The keys of the history's index of subjects, which both stores keep the same way: what
//! a change touched (a number, a prefix, a connector, a project), each row keyed by the
//! subject and then the change's position.

use patchbay_core::E164;

use super::{query, Entry, Event};

/// A change that touches at most this many numbers indexes each by its own key
/// ([`number_key`]); one that touches more, by their blocks of 256 ([`subject_key`]). A
/// number's history is then the rows of its own key and the bulk changes' rows of its
/// block: a page of it reads about a page of rows, however busy its neighbours are.
pub(crate) const NUMBERS_BY_KEY_UP_TO: usize = 16;

/// The key of a number's own rows: kind 6, then its digits (8 bytes).
pub(crate) fn number_key(number: E164) -> Vec<u8> {
    let mut key = vec![6, 8];
    key.extend_from_slice(&number.as_u64().to_be_bytes());
    key
}

/// A subject's key in an index of the history: its kind, its length and its bytes (a
/// number's block of 256, as 8 bytes; a prefix's, a connector's or a project's text), and
/// for a number its bit in the block's set. (A number also has rows of its own key,
/// [`number_key`].)
pub(crate) fn subject_key(subject: &query::Subject) -> (Vec<u8>, Option<u8>) {
    use query::Subject;
    let (kind, bytes, bit): (u8, Vec<u8>, Option<u8>) = match subject {
        Subject::Number(n) => {
            let digits = n.as_u64();
            (1, (digits >> 8).to_be_bytes().to_vec(), Some(digits as u8))
        }
        Subject::Prefix(p) => (2, p.to_string().into_bytes(), None),
        Subject::Connector(id) => (3, id.as_bytes().to_vec(), None),
        Subject::Project(id) => (4, id.as_bytes().to_vec(), None),
        Subject::ConnectorRecord(id) => (5, id.as_bytes().to_vec(), None),
        Subject::All => (0, Vec::new(), None),
    };
    let mut key = Vec::with_capacity(bytes.len() + 2);
    key.push(kind);
    // Ids are at most 64 bytes (checked where they are made); the length keeps a key from
    // being a prefix of another's.
    key.push(bytes.len().min(255) as u8);
    key.extend_from_slice(bytes.get(..255).unwrap_or(&bytes));
    (key, bit)
}

/// The keys of every row `entry` may have: [`subject_rows`]'s, and for the numbers it
/// indexed by their own keys, their blocks' as well (the form a build before those keys
/// wrote), so that dropping a change leaves none of its rows behind.
pub(crate) fn row_keys(entry: &Entry) -> Vec<Vec<u8>> {
    let mut keys: std::collections::BTreeSet<Vec<u8>> =
        subject_rows(entry).into_iter().map(|(k, _)| k).collect();
    for event in &entry.events {
        if let Event::Numbers { numbers, .. } = event {
            keys.extend(numbers.iter().map(|n| {
                let mut key = vec![1, 8];
                key.extend_from_slice(&(n.as_u64() >> 8).to_be_bytes());
                key
            }));
        }
    }
    keys.into_iter().collect()
}

/// Whether a subject row's value holds the number of `bit` (every row does for a subject
/// that is not a number).
pub(crate) fn holds(value: &[u8], bit: Option<u8>) -> bool {
    bit.is_none_or(|bit| {
        value
            .get(usize::from(bit / 8))
            .is_some_and(|byte| byte & (1 << (bit % 8)) != 0)
    })
}

/// The index rows of one change: each subject it touched (by [`subject_key`]) and, for a
/// block of numbers, the 256-bit set of which of them.
pub(crate) fn subject_rows(entry: &Entry) -> Vec<(Vec<u8>, Vec<u8>)> {
    use query::Subject;
    use std::collections::BTreeSet;
    // Blocks in the order met, a run of one block in one entry; sorted and merged after.
    let mut blocks: Vec<(u64, [u8; 32])> = Vec::new();
    let mut texts: BTreeSet<Vec<u8>> = BTreeSet::new();
    let mut text = |subject: Subject| {
        texts.insert(subject_key(&subject).0);
    };
    let touched: usize = entry
        .events
        .iter()
        .map(|event| match event {
            Event::Numbers { numbers, .. } => numbers.len(),
            _ => 0,
        })
        .sum();
    let by_key = touched <= NUMBERS_BY_KEY_UP_TO;
    let mut own: BTreeSet<Vec<u8>> = BTreeSet::new();
    for event in &entry.events {
        let (before, after) = event.projects();
        for project in [before, after].into_iter().flatten() {
            text(Subject::Project(project.to_string()));
        }
        for connector in event.connectors() {
            text(Subject::Connector(connector.to_string()));
        }
        match event {
            Event::Numbers { numbers, .. } if by_key => {
                own.extend(numbers.iter().map(|n| number_key(*n)));
            }
            Event::Numbers { numbers, .. } => {
                for n in numbers {
                    let digits = n.as_u64();
                    let block = digits >> 8;
                    if blocks.last().is_none_or(|(b, _)| *b != block) {
                        blocks.push((block, [0; 32]));
                    }
                    let bit = digits as u8;
                    if let Some(byte) = blocks
                        .last_mut()
                        .and_then(|(_, set)| set.get_mut(usize::from(bit / 8)))
                    {
                        *byte |= 1 << (bit % 8);
                    }
                }
            }
            Event::Prefixes { prefixes, .. } => {
                for p in prefixes {
                    text(Subject::Prefix(*p));
                }
            }
            Event::Connector { id, .. } => text(Subject::ConnectorRecord(id.clone())),
        }
    }
    blocks.sort_unstable_by_key(|(block, _)| *block);
    let mut merged: Vec<(u64, [u8; 32])> = Vec::with_capacity(blocks.len());
    for (block, set) in blocks {
        match merged.last_mut() {
            Some((last, into)) if *last == block => {
                into.iter_mut().zip(set).for_each(|(a, b)| *a |= b);
            }
            _ => merged.push((block, set)),
        }
    }
    let mut rows = Vec::with_capacity(merged.len() + texts.len());
    for (block, set) in merged {
        let mut key = vec![1, 8];
        key.extend_from_slice(&block.to_be_bytes());
        rows.push((key, set.to_vec()));
    }
    rows.extend(texts.into_iter().map(|key| (key, Vec::new())));
    rows.extend(own.into_iter().map(|key| (key, Vec::new())));
    rows
}
