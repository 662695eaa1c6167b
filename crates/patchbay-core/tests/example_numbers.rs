//! The metadata's own corpus: every region's example numbers (fixed line, mobile, toll free,
//! VoIP) and every non-geographic entity's, written in E.164, international, RFC 3966 and
//! national form, normalize to the number libphonenumber says they are. No form is skipped:
//! the expected share is 100%, and a failure lists every form that came out wrong.

use patchbay_core::{normalize, normalize_in, NormalizeError, Region, E164};
use rlibphonenumber::{PhoneNumber, PhoneNumberFormat, PhoneNumberType, PHONE_NUMBER_UTIL};

const KINDS: [PhoneNumberType; 4] = [
    PhoneNumberType::FixedLine,
    PhoneNumberType::Mobile,
    PhoneNumberType::TollFree,
    PhoneNumberType::VoIP,
];

fn format(number: &PhoneNumber, format: PhoneNumberFormat) -> String {
    PHONE_NUMBER_UTIL.format(number, format).into_owned()
}

/// Checks the forms of `number` that need no region; returns how many were checked.
fn check_international(number: &PhoneNumber, expected: E164, wrong: &mut Vec<String>) -> usize {
    let forms = [
        format(number, PhoneNumberFormat::E164),
        format(number, PhoneNumberFormat::International),
        format(number, PhoneNumberFormat::RFC3966),
    ];
    for form in &forms {
        let got = normalize(form);
        if got != Ok(expected) {
            wrong.push(format!("{form:?}: {got:?}, expected {expected}"));
        }
    }
    forms.len()
}

#[test]
fn every_example_number_in_every_form_normalizes_to_its_number() {
    let mut wrong = Vec::new();
    let mut forms = 0;
    let mut regions = 0;
    for id in PHONE_NUMBER_UTIL.get_supported_regions() {
        let code = id.as_region_str();
        let region: Region = match code.parse() {
            Ok(region) => region,
            Err(err) => {
                wrong.push(format!("region {code}: {err}"));
                continue;
            }
        };
        regions += 1;
        for kind in KINDS {
            let Ok(number) = PHONE_NUMBER_UTIL.get_example_number_for_type_and_region(id, kind)
            else {
                continue; // the region has no numbers of this kind
            };
            let e164 = format(&number, PhoneNumberFormat::E164);
            let expected: E164 = match e164.parse() {
                Ok(expected) => expected,
                Err(err) => {
                    wrong.push(format!("{code} {kind:?} {e164}: not canonical: {err}"));
                    continue;
                }
            };
            forms += check_international(&number, expected, &mut wrong);
            let national = format(&number, PhoneNumberFormat::National);
            let got = normalize_in(&national, Some(region));
            if got != Ok(expected) {
                wrong.push(format!(
                    "{national:?} in {code}: {got:?}, expected {expected}"
                ));
            }
            if normalize(&national) != Err(NormalizeError::NationalWithoutRegion) {
                wrong.push(format!("{national:?} without a region was read"));
            }
            forms += 1;
        }
    }
    let mut entities = 0;
    for code in PHONE_NUMBER_UTIL.get_supported_global_network_calling_codes() {
        let Ok(number) = PHONE_NUMBER_UTIL.get_example_number_for_non_geo_entity(code) else {
            wrong.push(format!("+{code}: no example number"));
            continue;
        };
        entities += 1;
        let e164 = format(&number, PhoneNumberFormat::E164);
        match e164.parse() {
            Ok(expected) => forms += check_international(&number, expected, &mut wrong),
            Err(err) => wrong.push(format!("+{code} {e164}: not canonical: {err}")),
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {forms} forms came out wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    // The corpus is the whole metadata: about 245 regions and 9 entities.
    assert!(regions > 240, "only {regions} regions");
    assert!(entities >= 8, "only {entities} non-geographic entities");
    assert!(forms > 2_500, "only {forms} forms");
}

/// Regressions of the previous metadata crate, each a different number or a refusal there.
#[test]
fn regions_the_previous_metadata_got_wrong() {
    let ru: Region = "RU".parse().expect("RU");
    assert_eq!(
        normalize_in("8 800 123 45 67", Some(ru)).map(|n| n.to_string()),
        Ok("+78001234567".to_string())
    );
    let gb: Region = "GB".parse().expect("GB");
    assert_eq!(
        normalize_in("020 7946 0958", Some(gb)).map(|n| n.to_string()),
        Ok("+442079460958".to_string())
    );
    let us: Region = "US".parse().expect("US");
    assert_eq!(
        normalize_in("011 44 20 7946 0958", Some(us)).map(|n| n.to_string()),
        Ok("+442079460958".to_string())
    );
}
