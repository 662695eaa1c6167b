//! Shared fixtures for the patchbay benchmarks and the `contention` binary.
//!
//! Everything here is deterministic: the same seed gives the same numbers, the same
//! connectors, the same assignment of numbers to connectors and the same probe order, so
//! every variant of a benchmark (patchbay and each baseline) answers the same questions.
//!
//! The probe inputs are laid out so that the only difference between variants is the work
//! each does:
//!
//! - string-keyed variants read the next probe from [`Probes::str`]: one contiguous buffer of
//!   fixed 16-byte slots, read sequentially, so fetching the input is a slice of memory the
//!   hardware prefetcher already has;
//! - the `u64` baseline reads the same probes, pre-parsed, from [`Probes::key`]: a
//!   sequential `Vec<u64>` in the same order.
//!
//! Both wrap around with a mask over a power-of-two-length sequence ([`Probes::mask`]), and
//! every probe is a routed number (all lookups hit).

#![warn(missing_docs)]

mod mixed;
pub mod server;

pub use mixed::{example_numbers, mixed_numbers, us_number};

use std::sync::Arc;

use patchbay_core::{ClientEnv, Connector, Router, Snapshot, E164};
use rustc_hash::{FxHashMap, FxHashSet};

/// Numbers in the standard table: one million.
pub const NUMBERS: usize = 1_000_000;

/// Connectors in the standard table.
pub const CONNECTORS: usize = 1_000;

/// Probes in the standard probe sequence: 2^20, a power of two so that the next probe is
/// `index & mask`.
pub const PROBES: usize = 1 << 20;

/// Bytes per probe slot in [`Probes`]: the text (up to 16 bytes) and NUL padding.
pub const SLOT: usize = 16;

/// The seed of [`Fixture::standard`].
pub const SEED: u64 = 0x7061_7463_6862_6179; // "patchbay"

/// SplitMix64: a tiny, fast, seeded pseudo-random generator (Steele, Lea and Flood, 2014).
/// Good enough to spread numbers and shuffle probes; not for anything else.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..bound` (`bound > 0`), by multiply-shift (bias below 2^-32 for the
    /// bounds used here).
    pub fn below(&mut self, bound: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(bound)) >> 64) as u64
    }

    /// Shuffles `items` in place (Fisher-Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }

    /// One element of `choices` (non-empty), uniformly.
    fn pick(&mut self, choices: &[u64]) -> u64 {
        choices[self.below(choices.len() as u64) as usize]
    }
}

/// The countries numbers are drawn from, with their share of the table in percent.
const COUNTRIES: [(Country, u64); 6] = [
    (Country::Us, 35),
    (Country::Gb, 15),
    (Country::De, 15),
    (Country::Fr, 12),
    (Country::Au, 10),
    (Country::Jp, 13),
];

#[derive(Clone, Copy)]
enum Country {
    /// +1, NANP: NXX-NXX-XXXX, 10 national digits.
    Us,
    /// +44 mobile: 7X XXXX XXXX, 10 national digits.
    Gb,
    /// +49 mobile: 15X/16X/17X and 8 digits, 11 national digits.
    De,
    /// +33 mobile: 6 or 7 and 8 digits, 9 national digits.
    Fr,
    /// +61 mobile: 4 and 8 digits, 9 national digits.
    Au,
    /// +81 mobile: 70/80/90 and 8 digits, 10 national digits.
    Jp,
}

impl Country {
    /// A random number of this country, as the digits of its E.164 form read as an integer.
    fn number(self, rng: &mut SplitMix64) -> u64 {
        const E8: u64 = 100_000_000;
        match self {
            Country::Us => {
                // Area code: first digit 2-9, second not 9; exchange: first digit 2-9.
                let area = (2 + rng.below(8)) * 100 + rng.below(9) * 10 + rng.below(10);
                let exchange = (2 + rng.below(8)) * 100 + rng.below(100);
                let line = rng.below(10_000);
                10_000_000_000 + area * 10_000_000 + exchange * 10_000 + line
            }
            Country::Gb => {
                let prefix = rng.pick(&[74, 75, 77, 78, 79]);
                440_000_000_000 + prefix * E8 + rng.below(E8)
            }
            Country::De => {
                let prefix = rng.pick(&[
                    151, 152, 155, 157, 159, 160, 162, 163, 170, 171, 172, 173, 174, 175, 176, 177,
                    178, 179,
                ]);
                4_900_000_000_000 + prefix * E8 + rng.below(E8)
            }
            Country::Fr => 33_000_000_000 + rng.pick(&[6, 7]) * E8 + rng.below(E8),
            Country::Au => 61_000_000_000 + 4 * E8 + rng.below(E8),
            Country::Jp => 810_000_000_000 + rng.pick(&[70, 80, 90]) * E8 + rng.below(E8),
        }
    }
}

/// `n` distinct, valid E.164 numbers spread over +1, +44, +49, +33, +61 and +81 (mobile
/// ranges, and NANP for +1) with each country's national length, the same for the same
/// `seed`. Every number is at most 14 digits, so its `+digits` text fits a [`SLOT`].
pub fn e164_numbers(n: usize, seed: u64) -> Vec<E164> {
    let mut rng = SplitMix64::new(seed);
    let total: u64 = COUNTRIES.iter().map(|&(_, share)| share).sum();
    let mut seen = FxHashSet::with_capacity_and_hasher(n, Default::default());
    let mut numbers = Vec::with_capacity(n);
    while numbers.len() < n {
        let mut roll = rng.below(total);
        let country = COUNTRIES
            .iter()
            .find(|&&(_, share)| {
                let hit = roll < share;
                roll = roll.saturating_sub(share);
                hit
            })
            .map_or(Country::Us, |&(country, _)| country);
        let digits = country.number(&mut rng);
        if seen.insert(digits) {
            let number = E164::from_u64(digits)
                .unwrap_or_else(|e| panic!("generated an invalid number {digits}: {e}"));
            numbers.push(number);
        }
    }
    numbers
}

/// `n` distinct connectors (`conn-0000`, `conn-0001`, ...) with varied environments,
/// languages, voices and variants, like a real account base.
pub fn connectors(n: usize) -> Vec<Arc<Connector>> {
    const VOICES: [&str; 6] = [
        "en-US-Neural2-A",
        "en-GB-Neural2-B",
        "de-DE-Neural2-C",
        "fr-FR-Neural2-D",
        "en-AU-Neural2-A",
        "ja-JP-Neural2-B",
    ];
    (0..n)
        .map(|i| {
            let voice = VOICES[i % VOICES.len()];
            let lang = &voice[..5];
            Arc::new(Connector {
                connector_id: format!("conn-{i:04}"),
                name: format!("Connector {i}"),
                account_id: format!("acct-{:03}", i / 10),
                project_id: format!("project-{i}"),
                client_env: ClientEnv::ALL[i % ClientEnv::ALL.len()],
                variant_id: if i % 4 == 0 {
                    String::new()
                } else {
                    format!("variant-{}", i % 7)
                },
                asr_lang_code: lang.to_string(),
                tts_lang_code: lang.to_string(),
                voice_name: voice.to_string(),
                disable_handoff: i % 5 == 0,
            })
        })
        .collect()
}

/// Which connector serves each of `numbers` numbers: an index into a list of `connectors`
/// connectors (`connectors > 0`), drawn at random so each serves about
/// `numbers / connectors` numbers.
pub fn assignment(numbers: usize, connectors: usize, seed: u64) -> Vec<u32> {
    let mut rng = SplitMix64::new(seed);
    (0..numbers)
        .map(|_| rng.below(connectors as u64) as u32)
        .collect()
}

/// `(number, connector)` pairs: `numbers[i]` routes to `connectors[assignment[i]]`. The
/// iterator knows its length, so [`Snapshot::from_routes`] reserves exactly.
pub fn route_pairs<'a>(
    numbers: &'a [E164],
    assignment: &'a [u32],
    connectors: &'a [Arc<Connector>],
) -> impl ExactSizeIterator<Item = (E164, &'a Connector)> + 'a {
    numbers
        .iter()
        .zip(assignment)
        .map(move |(&number, &slot)| (number, &*connectors[slot as usize]))
}

/// A probe sequence: which routed numbers to look up, in which order, laid out twice.
///
/// - [`Probes::str`]: the `+digits` text, in one contiguous buffer of [`SLOT`]-byte slots
///   (slot `i` holds the text and NUL padding), handed out from a sequential
///   `Vec<&str>` of the slots' texts: one array read, like the keys.
/// - [`Probes::key`]: the same numbers, pre-parsed to `u64`, in a `Vec<u64>`.
///
/// The text buffer lives to the end of the process (it is leaked, so that the `&str`s need
/// no re-slicing per call: slicing a `String` checks two char boundaries each time, work
/// that is the harness's, not the variant's). A benchmark process builds a few probe sets.
///
/// The length is a power of two; both accessors take any index and wrap it with
/// [`Probes::mask`].
#[derive(Debug, Clone)]
pub struct Probes {
    text: &'static str,
    strs: Vec<&'static str>,
    keys: Vec<u64>,
    order: Vec<u32>,
    mask: usize,
}

impl Probes {
    /// `len` probes (a power of two) over `numbers` (non-empty) in a shuffled order: each
    /// number once in a random order, then again in another random order, and so on until
    /// `len` probes.
    pub fn shuffled(numbers: &[E164], len: usize, seed: u64) -> Probes {
        assert!(
            len.is_power_of_two(),
            "the probe count must be a power of two"
        );
        assert!(!numbers.is_empty(), "probes need at least one number");
        let mut rng = SplitMix64::new(seed);
        let mut order = Vec::with_capacity(len);
        while order.len() < len {
            let mut round: Vec<u32> = (0..numbers.len() as u32).collect();
            rng.shuffle(&mut round);
            let take = (len - order.len()).min(round.len());
            order.extend_from_slice(&round[..take]);
        }
        Probes::in_order(numbers, order)
    }

    /// Probes of `numbers[order[i]]`, in the given order (its length a power of two).
    pub fn in_order(numbers: &[E164], order: Vec<u32>) -> Probes {
        assert!(
            order.len().is_power_of_two(),
            "the probe count must be a power of two"
        );
        let mut text = String::with_capacity(order.len() * SLOT);
        let mut keys = Vec::with_capacity(order.len());
        for &at in &order {
            let number = numbers[at as usize];
            let mut buf = [0u8; 16];
            let digits = number.write_to(&mut buf);
            let len = digits.len();
            text.push_str(digits);
            text.extend(std::iter::repeat_n('\0', SLOT - len));
            keys.push(number.as_u64());
        }
        let text: &'static str = text.leak();
        let strs = (0..order.len())
            .map(|i| {
                let slot = &text[i * SLOT..(i + 1) * SLOT];
                slot.trim_end_matches('\0')
            })
            .collect();
        Probes {
            text,
            strs,
            keys,
            mask: order.len() - 1,
            order,
        }
    }

    /// How many probes (a power of two).
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Never true: there is at least one probe.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// `len() - 1`: probe `i` of an endless sequence is probe `i & mask`.
    pub fn mask(&self) -> usize {
        self.mask
    }

    /// The text (`+digits`) of probe `i & mask`, in its slot of the contiguous buffer.
    #[inline]
    pub fn str(&self, i: usize) -> &str {
        self.strs[i & self.mask]
    }

    /// The number of probe `i & mask` as a `u64` (its digits read as an integer), read from
    /// a sequential `Vec<u64>`.
    #[inline]
    pub fn key(&self, i: usize) -> u64 {
        self.keys[i & self.mask]
    }

    /// The pre-parsed keys, in probe order.
    pub fn keys(&self) -> &[u64] {
        &self.keys
    }

    /// The slotted text buffer: `len() * SLOT` bytes.
    pub fn slots(&self) -> &str {
        self.text
    }

    /// Which number (an index into the numbers the probes were made from) each probe is.
    pub fn order(&self) -> &[u32] {
        &self.order
    }
}

/// A routing table and probe sequence shared by the benchmarks: numbers, connectors, the
/// assignment of numbers to connectors and shuffled probes over the numbers.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// The routed numbers, distinct.
    pub numbers: Vec<E164>,
    /// The connectors, distinct ids.
    pub connectors: Vec<Arc<Connector>>,
    /// `numbers[i]` routes to `connectors[assignment[i]]`.
    pub assignment: Vec<u32>,
    /// Shuffled probes over `numbers`; every probe is a hit.
    pub probes: Probes,
}

impl Fixture {
    /// [`NUMBERS`] numbers, [`CONNECTORS`] connectors and [`PROBES`] probes, from [`SEED`].
    pub fn standard() -> Fixture {
        Fixture::new(NUMBERS, CONNECTORS, PROBES, SEED)
    }

    /// `numbers` numbers over `connectors` connectors and `probes` shuffled probes (a power
    /// of two), from `seed`.
    pub fn new(numbers: usize, connectors: usize, probes: usize, seed: u64) -> Fixture {
        let number_list = e164_numbers(numbers, seed);
        let probes = Probes::shuffled(&number_list, probes, seed ^ 0x5052_4f42_4553); // "PROBES"
        Fixture {
            numbers: number_list,
            connectors: self::connectors(connectors),
            assignment: assignment(numbers, connectors, seed ^ 0x4153_5349_474e), // "ASSIGN"
            probes,
        }
    }

    /// The `(number, connector)` pairs of the table.
    pub fn route_pairs(&self) -> impl ExactSizeIterator<Item = (E164, &Connector)> + '_ {
        route_pairs(&self.numbers, &self.assignment, &self.connectors)
    }

    /// The connector that serves `numbers[index]`.
    pub fn connector_of(&self, index: usize) -> &Arc<Connector> {
        &self.connectors[self.assignment[index] as usize]
    }

    /// The table as a snapshot of `version`.
    pub fn snapshot(&self, version: u64) -> Snapshot {
        Snapshot::from_routes(version, self.route_pairs())
            .unwrap_or_else(|e| panic!("the fixture builds: {e}"))
    }

    /// The floor: the table as a bare `FxHashMap` from each number's digits (`as_u64`, what
    /// [`Probes::key`] gives) to its connector's index.
    pub fn floor_map(&self) -> FxHashMap<u64, u32> {
        self.numbers
            .iter()
            .zip(&self.assignment)
            .map(|(number, &slot)| (number.as_u64(), slot))
            .collect()
    }

    /// A router serving [`Fixture::snapshot`] of `version`.
    pub fn router(&self, version: u64) -> Router {
        Router::new(self.snapshot(version))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_distinct_valid_and_deterministic() {
        let a = e164_numbers(50_000, 7);
        assert_eq!(a, e164_numbers(50_000, 7));
        let distinct: FxHashSet<E164> = a.iter().copied().collect();
        assert_eq!(distinct.len(), a.len());
        let codes: FxHashSet<u16> = a.iter().map(|n| n.country_code()).collect();
        assert_eq!(codes.len(), COUNTRIES.len());
        for n in &a {
            let text = n.to_string();
            assert_eq!(patchbay_core::normalize(&text), Ok(*n));
            assert!(text.len() < SLOT);
        }
    }

    #[test]
    fn phonenumber_reads_them_back_identically() {
        for n in e164_numbers(5_000, 11) {
            let text = n.to_string();
            let parsed = phonenumber::parse(None, &text).expect("parses");
            let formatted = parsed.format().mode(phonenumber::Mode::E164).to_string();
            assert_eq!(formatted, text);
        }
    }

    #[test]
    fn probes_match_the_numbers_in_both_layouts() {
        let fixture = Fixture::new(3_000, 10, 4_096, 3);
        let probes = &fixture.probes;
        assert_eq!(probes.len(), 4_096);
        assert_eq!(probes.slots().len(), 4_096 * SLOT);
        let mut seen = FxHashSet::default();
        for i in 0..probes.len() {
            let number = fixture.numbers[probes.order()[i] as usize];
            assert_eq!(probes.str(i), number.to_string());
            assert_eq!(probes.key(i), number.as_u64());
            assert_eq!(probes.str(i + probes.len()), probes.str(i));
            seen.insert(number);
        }
        assert_eq!(seen.len(), 3_000, "every number is probed");
        let snapshot = fixture.snapshot(1);
        for i in 0..probes.len() {
            let at = probes.order()[i] as usize;
            let found = snapshot.lookup(probes.str(i)).expect("valid");
            assert_eq!(found, Some(&**fixture.connector_of(at)));
        }
    }
}
