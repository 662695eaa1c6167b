//! Compares the two Rust ports of libphonenumber's metadata on the jobs patchbay gives them,
//! and prints one line per figure (`cargo run --release -p patchbay-benches --bin metadata`):
//!
//! - **forms**: every region's example numbers (fixed line, mobile, toll free, VoIP) written
//!   in E.164, international, RFC 3966 and national form (national read in its region), and
//!   how many each port reads as a number other than the example (or not at all);
//! - **validity**: of `PATCHBAY_METADATA_NUMBERS` (default 5,000) valid numbers from every
//!   country and the same count of US numbers, how many each port refuses, and its time per
//!   number on one thread (after a pass that compiles the patterns), in the input's order
//!   and then in the numbers' order (the order patchbay checks imports in).
//!
//! `rlibphonenumber` is what patchbay uses; `phonenumber` is what it used before.

use std::time::Instant;

use rlibphonenumber::{PhoneNumberFormat, PhoneNumberType, PHONE_NUMBER_UTIL};

const KINDS: [PhoneNumberType; 4] = [
    PhoneNumberType::FixedLine,
    PhoneNumberType::Mobile,
    PhoneNumberType::TollFree,
    PhoneNumberType::VoIP,
];

/// `(form, region for national forms, expected E.164)` for every example number.
fn forms() -> Vec<(String, Option<String>, String)> {
    let util = &*PHONE_NUMBER_UTIL;
    let mut out = Vec::new();
    for region in util.get_supported_regions() {
        for kind in KINDS {
            let Ok(number) = util.get_example_number_for_type_and_region(region, kind) else {
                continue;
            };
            let expected = util.format(&number, PhoneNumberFormat::E164).into_owned();
            for format in [
                PhoneNumberFormat::E164,
                PhoneNumberFormat::International,
                PhoneNumberFormat::RFC3966,
            ] {
                let form = util.format(&number, format).into_owned();
                out.push((form, None, expected.clone()));
            }
            let national = util
                .format(&number, PhoneNumberFormat::National)
                .into_owned();
            let code = region.as_region_str().to_string();
            out.push((national, Some(code), expected));
        }
    }
    out
}

fn rlib_reads(form: &str, region: Option<&str>) -> Option<String> {
    let region = match region {
        Some(code) => Some(rlibphonenumber::Region::from_code(code).ok()?),
        None => None,
    };
    let number = PHONE_NUMBER_UTIL.parse(form, region).ok()?;
    Some(
        PHONE_NUMBER_UTIL
            .format(&number, PhoneNumberFormat::E164)
            .into_owned(),
    )
}

fn phonenumber_reads(form: &str, region: Option<&str>) -> Option<String> {
    let id = match region {
        Some(code) => Some(code.parse::<phonenumber::country::Id>().ok()?),
        None => None,
    };
    std::panic::catch_unwind(|| {
        let number = phonenumber::parse(id, form).ok()?;
        Some(number.format().mode(phonenumber::Mode::E164).to_string())
    })
    .ok()
    .flatten()
}

fn rlib_valid(text: &str) -> bool {
    PHONE_NUMBER_UTIL
        .parse(text, None)
        .is_ok_and(|n| PHONE_NUMBER_UTIL.is_valid_number(&n))
}

fn phonenumber_valid(text: &str) -> bool {
    std::panic::catch_unwind(|| phonenumber::parse(None, text).is_ok_and(|n| n.is_valid()))
        .unwrap_or(false)
}

/// How many of `numbers` `valid` refuses, and its time per number, after one untimed pass
/// (which compiles the patterns the numbers need).
fn validity(numbers: &[String], valid: fn(&str) -> bool) -> (usize, f64) {
    numbers.iter().for_each(|n| {
        std::hint::black_box(valid(n));
    });
    let started = Instant::now();
    let refused = numbers.iter().filter(|n| !valid(n)).count();
    let per = started.elapsed().as_secs_f64() / numbers.len() as f64;
    (refused, per * 1e6)
}

fn main() {
    let forms = forms();
    for (name, reads) in [
        (
            "rlibphonenumber",
            rlib_reads as fn(&str, Option<&str>) -> Option<String>,
        ),
        ("phonenumber", phonenumber_reads),
    ] {
        let wrong: Vec<String> = forms
            .iter()
            .filter(|(form, region, expected)| {
                reads(form, region.as_deref()).as_deref() != Some(expected.as_str())
            })
            .map(|(form, region, expected)| {
                let got = reads(form, region.as_deref());
                format!("{form:?} in {region:?}: {got:?}, expected {expected}")
            })
            .collect();
        println!("forms {name}: {} of {} wrong", wrong.len(), forms.len());
        for line in &wrong {
            println!("  {line}");
        }
    }
    let count = std::env::var("PATCHBAY_METADATA_NUMBERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5_000);
    let mixed = patchbay_benches::mixed_numbers(count, 9);
    let us: Vec<String> = (0..count)
        .map(|i| patchbay_benches::us_number(i * 37))
        .collect();
    let mut mixed_sorted = mixed.clone();
    mixed_sorted.sort_by_key(|n| n.parse::<patchbay_core::E164>().ok());
    for (name, valid) in [
        ("rlibphonenumber", rlib_valid as fn(&str) -> bool),
        ("phonenumber", phonenumber_valid),
    ] {
        for (set, numbers) in [
            ("mixed", &mixed),
            ("mixed-in-order", &mixed_sorted),
            ("us", &us),
        ] {
            let (refused, micros) = validity(numbers, valid);
            println!(
                "validity {name} {set}: {refused} of {} refused, {micros:.2} us per number",
                numbers.len()
            );
            if set == "mixed" && refused > 0 {
                // Which country codes the refused numbers have, and one of each.
                let mut by_code = std::collections::BTreeMap::new();
                for n in numbers.iter().filter(|n| !valid(n)) {
                    let code = n
                        .parse::<patchbay_core::E164>()
                        .map_or(0, |e| e.country_code());
                    by_code
                        .entry(code)
                        .or_insert_with(Vec::new)
                        .push(n.as_str());
                }
                for (code, refused) in by_code {
                    println!(
                        "  +{code}: {} refused, such as {}",
                        refused.len(),
                        refused[0]
                    );
                }
            }
        }
    }
}
