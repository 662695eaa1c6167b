//! Numbers from every country, as an operator with a worldwide customer base imports them.
//!
//! The sources are libphonenumber's own example numbers: every region's and every
//! non-geographic entity's, of every kind (fixed line, mobile, toll free, ...). Each source
//! yields numbers that keep its leading digits and draw its last digits at random; a number
//! is kept only where libphonenumber, parsing its E.164 text, calls it valid. Every source
//! contributes about the same share, so small countries weigh as much as large ones: the
//! opposite of a US-only test, and the worst case for per-country metadata caches.

use rayon::prelude::*;
use rlibphonenumber::{PhoneNumberFormat, PhoneNumberType, PHONE_NUMBER_UTIL};
use rustc_hash::FxHashSet;

use crate::SplitMix64;

const KINDS: [PhoneNumberType; 10] = [
    PhoneNumberType::FixedLine,
    PhoneNumberType::Mobile,
    PhoneNumberType::TollFree,
    PhoneNumberType::PremiumRate,
    PhoneNumberType::SharedCost,
    PhoneNumberType::VoIP,
    PhoneNumberType::PersonalNumber,
    PhoneNumberType::Pager,
    PhoneNumberType::UAN,
    PhoneNumberType::VoiceMail,
];

/// Every example number of the metadata, in E.164, without repeats.
pub fn example_numbers() -> Vec<String> {
    let util = &*PHONE_NUMBER_UTIL;
    let regional = util.get_supported_regions().flat_map(|region| {
        KINDS.iter().filter_map(move |kind| {
            util.get_example_number_for_type_and_region(region, *kind)
                .ok()
        })
    });
    let global = util
        .get_supported_global_network_calling_codes()
        .filter_map(|code| util.get_example_number_for_non_geo_entity(code).ok());
    let mut out: Vec<String> = regional
        .chain(global)
        .map(|n| util.format(&n, PhoneNumberFormat::E164).into_owned())
        .collect();
    out.sort();
    out.dedup();
    out
}

fn is_valid(text: &str) -> bool {
    PHONE_NUMBER_UTIL
        .parse(text, None)
        .is_ok_and(|n| PHONE_NUMBER_UTIL.is_valid_number(&n))
}

/// Up to `want` valid numbers near `example`: its last digits (four, or five when more than
/// five thousand are wanted, never more than all but four) drawn at random.
fn near(example: &str, want: usize, seed: u64) -> Vec<String> {
    let digits = example.len().saturating_sub(1);
    let free = digits
        .saturating_sub(4)
        .min(if want > 5_000 { 5 } else { 4 });
    let stem = &example[..example.len() - free];
    let space = 10usize.pow(free as u32);
    let mut rng = SplitMix64::new(seed);
    let mut out = FxHashSet::default();
    let mut tries = 0;
    while out.len() < want.min(space) && tries < want * 4 + 64 {
        tries += 1;
        let tail = rng.below(space as u64);
        let text = format!("{stem}{tail:0free$}");
        if is_valid(&text) {
            out.insert(text);
        }
    }
    out.into_iter().collect()
}

/// `count` distinct valid numbers from every country, in about equal shares per example
/// number of the metadata, shuffled; the same for the same `seed`. Panics if the metadata
/// cannot supply that many (it supplies millions).
pub fn mixed_numbers(count: usize, seed: u64) -> Vec<String> {
    let sources = example_numbers();
    // A little over an equal share each: some sources have fewer valid numbers near them.
    let share = count / sources.len() * 5 / 4 + 16;
    let mut out: Vec<String> = sources
        .par_iter()
        .enumerate()
        .flat_map_iter(|(i, example)| near(example, share, seed ^ (i as u64) << 20))
        .collect();
    out.sort_unstable();
    out.dedup();
    assert!(
        out.len() >= count,
        "the metadata gave {} numbers, {count} were asked for",
        out.len()
    );
    SplitMix64::new(seed).shuffle(&mut out);
    out.truncate(count);
    out
}

/// The `i`-th of many valid North American numbers: area codes 212, 415, 646, 718, 917,
/// exchanges 200 to 999 except N11, all line numbers. Distinct for `i` below 3,960,000.
pub fn us_number(i: usize) -> String {
    const AREAS: [u32; 5] = [212, 415, 646, 718, 917];
    const EXCHANGES: usize = 8 * 99; // 200..1000 without the eight N11
    let line = i % 10_000;
    let rest = i / 10_000;
    // Each hundred (200-299, ..., 900-999) has 99 exchanges: all but its N11.
    let (hundred, offset) = ((rest % EXCHANGES) / 99, (rest % EXCHANGES) % 99);
    let exchange = 200 + 100 * hundred as u32 + offset as u32 + u32::from(offset >= 11);
    let area = AREAS[(rest / EXCHANGES) % AREAS.len()];
    format!("+1{area}{exchange}{line:04}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixed_numbers_are_valid_distinct_deterministic_and_worldwide() {
        let a = mixed_numbers(20_000, 3);
        assert_eq!(a, mixed_numbers(20_000, 3));
        let distinct: FxHashSet<&String> = a.iter().collect();
        assert_eq!(distinct.len(), a.len());
        let mut codes = FxHashSet::default();
        for text in &a {
            assert!(is_valid(text), "{text}");
            let number: patchbay_core::E164 = text.parse().expect("canonical");
            codes.insert(number.country_code());
        }
        assert!(codes.len() > 210, "only {} country codes", codes.len());
    }

    #[test]
    fn us_numbers_are_valid_and_distinct() {
        let numbers: Vec<String> = (0..3_960_000).step_by(997).map(us_number).collect();
        let distinct: FxHashSet<&String> = numbers.iter().collect();
        assert_eq!(distinct.len(), numbers.len());
        for text in numbers.iter().step_by(10) {
            assert!(is_valid(text), "{text}");
        }
    }
}
