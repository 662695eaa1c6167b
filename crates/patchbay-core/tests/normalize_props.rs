//! Properties of normalization: canonical numbers round-trip, every accepted spelling of a
//! number gives the same number, answers agree with libphonenumber (`rlibphonenumber`, the
//! metadata the product uses), and no input panics.

use patchbay_core::{normalize, normalize_bytes, normalize_in, NormalizeError, Region, E164};
use proptest::prelude::*;
use rlibphonenumber::{PhoneNumberFormat, PHONE_NUMBER_UTIL};

/// Any canonical number: random digits, kept when they form a valid E.164 number.
fn canonical() -> impl Strategy<Value = E164> {
    (2u32..=15)
        .prop_flat_map(|len| 10u64.pow(len - 1)..10u64.pow(len))
        .prop_filter_map("not an E.164 number", |digits| E164::from_u64(digits).ok())
}

const SEPARATORS: &[&str] = &[
    "", "", "", " ", "-", ".", "/", "(", ")", "\u{a0}", "\u{2009}", "\u{202f}", "\u{2013}",
];

/// `number` written with random separators between its digits (never `(0)`, which is
/// rejected as ambiguous, and never so long that the 64-byte limit applies).
fn spelled(number: E164) -> impl Strategy<Value = String> {
    let digits = number.to_string()[1..].to_string();
    proptest::collection::vec(proptest::sample::select(SEPARATORS), digits.len()).prop_map(
        move |seps| {
            let mut out = String::from("+");
            for (d, sep) in digits.chars().zip(seps) {
                out.push(d);
                out.push_str(sep);
            }
            out
        },
    )
}

/// Calls libphonenumber as an integrator would, treating a panic as "rejected".
fn reference(region: Option<Region>, input: &str) -> Option<String> {
    let region = match region {
        Some(region) => Some(rlibphonenumber::Region::from_code(region.code()).ok()?),
        None => None,
    };
    std::panic::catch_unwind(|| {
        let parsed = PHONE_NUMBER_UTIL.parse(input, region).ok()?;
        if parsed.extension.is_some() {
            return None;
        }
        Some(
            PHONE_NUMBER_UTIL
                .format(&parsed, PhoneNumberFormat::E164)
                .into_owned(),
        )
    })
    .ok()
    .flatten()
}

/// The agreement property: when both accept `input`, libphonenumber cannot tell patchbay's
/// answer from its own. (They differ in digits only where libphonenumber rewrites the digits
/// after an explicit country code, such as dropping a trunk `0`; patchbay takes those
/// literally, and libphonenumber reading patchbay's answer rewrites it the same way.)
fn agrees(input: &str, region: Option<Region>) -> Result<(), TestCaseError> {
    let ours = normalize_in(input, region);
    let theirs = reference(region, input);
    if let (Ok(ours), Some(theirs)) = (ours, theirs) {
        if ours.to_string() == theirs {
            return Ok(());
        }
        // Re-read in the same region: libphonenumber's treatment of a `+` number depends
        // on the default region (`+11001` is `+1001` with US and `+11001` without).
        let reread = reference(region, &ours.to_string());
        prop_assert_eq!(
            reread.as_deref(),
            Some(theirs.as_str()),
            "input {:?} in {:?}: patchbay {}, libphonenumber {}",
            input,
            region.map(|r| r.code().to_string()),
            ours,
            theirs
        );
    }
    Ok(())
}

fn region() -> impl Strategy<Value = Option<Region>> {
    proptest::option::of(
        proptest::sample::select(vec![
            "GB", "US", "DE", "FR", "IT", "IN", "BR", "AU", "JP", "RU",
        ])
        .prop_map(|code| code.parse::<Region>().expect("known region")),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn canonical_numbers_round_trip(number in canonical()) {
        let text = number.to_string();
        prop_assert_eq!(normalize(&text), Ok(number));
        prop_assert_eq!(E164::parse_canonical(&text), Ok(number));
        prop_assert_eq!(E164::from_u64(number.as_u64()), Ok(number));
        prop_assert_eq!(text.len(), number.len() + 1);
        let json = serde_json::to_string(&number).expect("serialize");
        prop_assert_eq!(serde_json::from_str::<E164>(&json).expect("deserialize"), number);
        let mut buf = [0u8; 16];
        prop_assert_eq!(number.write_to(&mut buf), text.as_str());
    }

    #[test]
    fn numbers_order_by_value(a in canonical(), b in canonical()) {
        prop_assert_eq!(a.cmp(&b), a.as_u64().cmp(&b.as_u64()));
        prop_assert_eq!(a == b, a.as_u64() == b.as_u64());
    }

    /// The order of numbers that share a length and a prefix: one digit changed anywhere,
    /// including where the packed form stores a digit twice.
    #[test]
    fn numbers_of_one_length_order_by_value(a in canonical(), at in 1usize..15, digit in 0u64..10) {
        let text = a.to_string();
        let at = 1 + at % (text.len() - 1);
        let mut changed = text.into_bytes();
        changed[at] = b'0' + digit as u8;
        let Ok(b) = E164::parse_canonical(std::str::from_utf8(&changed).expect("ascii")) else {
            return Ok(());
        };
        prop_assert_eq!(a.cmp(&b), a.as_u64().cmp(&b.as_u64()), "{} {}", a, b);
        prop_assert_eq!(b.cmp(&a), b.as_u64().cmp(&a.as_u64()));
    }

    #[test]
    fn every_spelling_gives_the_same_number(
        (number, text) in canonical().prop_flat_map(|n| (Just(n), spelled(n))),
        wrap in 0usize..5,
    ) {
        let input = match wrap {
            0 => text.clone(),
            1 => format!("tel:{}", text.replace(['/', ' ', '\u{a0}', '\u{2009}', '\u{202f}', '\u{2013}'], "")),
            2 => format!("sip:{}@pbx.example.com;user=phone", text.replace(['/', ' ', '\u{a0}', '\u{2009}', '\u{202f}', '\u{2013}', '(', ')'], "")),
            3 => format!("  {text}\u{a0}"),
            _ => format!("<sips:{number}@example.com>"),
        };
        prop_assume!(input.len() <= patchbay_core::MAX_INPUT_LEN);
        if let Some(before) = input.find("(0)").map(|at| &input[..at]) {
            let digits: String = before.chars().filter(char::is_ascii_digit).collect();
            if digits == number.country_code().to_string() {
                prop_assert_eq!(normalize(&input), Err(NormalizeError::TrunkPrefix));
                return Ok(());
            }
        }
        prop_assert_eq!(normalize(&input), Ok(number), "input {:?}", input);
        // A region never changes how an international number is read.
        prop_assert_eq!(normalize_in(&input, "GB".parse().ok()), Ok(number));
    }

    #[test]
    fn agrees_with_libphonenumber_on_number_like_input(
        input in "[+]?[0-9 ()./-]{0,24}",
        region in region(),
    ) {
        agrees(&input, region)?;
    }

    #[test]
    fn agrees_with_libphonenumber_on_spelled_numbers(
        text in canonical().prop_flat_map(spelled),
        region in region(),
    ) {
        agrees(&text, region)?;
    }

    #[test]
    fn no_string_panics_and_successes_are_canonical(input in "\\PC{0,80}", region in region()) {
        if let Ok(number) = normalize_in(&input, region) {
            prop_assert_eq!(normalize(&number.to_string()), Ok(number));
        }
    }

    #[test]
    fn no_byte_string_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80), region in region()) {
        match normalize_bytes(&bytes, region) {
            Ok(number) => prop_assert_eq!(normalize(&number.to_string()), Ok(number)),
            Err(NormalizeError::TooLong { len }) => prop_assert!(len > 64 && len == bytes.len()),
            Err(_) => {}
        }
    }
}
