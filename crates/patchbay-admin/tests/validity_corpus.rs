//! Valid numbers from every country import, none refused: the corpus is every region's and
//! every non-geographic entity's example numbers of every kind, each with its last two digits
//! run through 00-99, kept where libphonenumber, parsing the E.164 text, calls the number
//! valid. Imports check validity from the digits (not by parsing text), so this pins the two
//! readings to each other: leading zeros (Italy), shared country codes (+1, +7, +44, ...),
//! short plans (+247).

use patchbay_admin::{Admin, AdminConfig, Caller, ImportRequest, MemoryStore, NumberCheck};
use rlibphonenumber::{PhoneNumber, PhoneNumberFormat, PhoneNumberType, PHONE_NUMBER_UTIL};

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

/// Up to `per_example` valid numbers near `example` (its E.164 text with the last two digits
/// replaced).
fn near(example: &PhoneNumber, per_example: usize, out: &mut Vec<String>) {
    let e164 = PHONE_NUMBER_UTIL
        .format(example, PhoneNumberFormat::E164)
        .into_owned();
    let Some(stem) = e164.get(..e164.len().saturating_sub(2)) else {
        return;
    };
    let valid = (0..100)
        .map(|tail| format!("{stem}{tail:02}"))
        .filter(|text| {
            PHONE_NUMBER_UTIL
                .parse(text, None)
                .is_ok_and(|n| PHONE_NUMBER_UTIL.is_valid_number(&n))
        })
        .take(per_example);
    out.extend(valid);
}

fn corpus(per_example: usize) -> Vec<String> {
    let mut out = Vec::new();
    for region in PHONE_NUMBER_UTIL.get_supported_regions() {
        for kind in KINDS {
            if let Ok(example) =
                PHONE_NUMBER_UTIL.get_example_number_for_type_and_region(region, kind)
            {
                near(&example, per_example, &mut out);
            }
        }
    }
    for code in PHONE_NUMBER_UTIL.get_supported_global_network_calling_codes() {
        if let Ok(example) = PHONE_NUMBER_UTIL.get_example_number_for_non_geo_entity(code) {
            near(&example, per_example, &mut out);
        }
    }
    out.sort();
    out.dedup();
    out
}

fn admin(check: NumberCheck) -> Admin {
    let config = AdminConfig {
        number_check: check,
        ..AdminConfig::default()
    };
    let admin = Admin::open(Box::new(MemoryStore::default()), config).expect("open");
    admin
        .create_project(&Caller::Operator, "acme", "p")
        .expect("project");
    admin
}

fn refused(admin: &Admin, numbers: &[String]) -> Vec<String> {
    let mut refused = Vec::new();
    for chunk in numbers.chunks(5_000) {
        let request = ImportRequest {
            phone_numbers: chunk.to_vec(),
            client_env: None,
            connector_id: None,
        };
        let result = admin
            .import_numbers(&Caller::Operator, "p", &request)
            .expect("import");
        refused.extend(
            result
                .errors
                .iter()
                .map(|e| format!("{}: {}", e.phone_number, e.error.message())),
        );
    }
    refused
}

#[test]
fn valid_numbers_of_every_country_import() {
    let numbers = corpus(4);
    assert!(numbers.len() > 3_000, "only {} numbers", numbers.len());
    let countries: std::collections::BTreeSet<_> = numbers
        .iter()
        .filter_map(|n| n.parse::<patchbay_core::E164>().ok())
        .map(|n| n.country_code())
        .collect();
    assert!(
        countries.len() > 210,
        "only {} country codes",
        countries.len()
    );
    for check in [NumberCheck::Valid, NumberCheck::Possible] {
        let admin = admin(check);
        let refused = refused(&admin, &numbers);
        assert!(
            refused.is_empty(),
            "{check:?}: {} of {} refused:\n{}",
            refused.len(),
            numbers.len(),
            refused.join("\n")
        );
        assert_eq!(admin.number_count(), numbers.len());
    }
}

/// Refused by the previous metadata crate although libphonenumber calls them valid.
#[test]
fn numbers_the_previous_metadata_refused() {
    let admin = admin(NumberCheck::Valid);
    let numbers = ["+24761907".to_string(), "+390612345678".to_string()];
    assert_eq!(refused(&admin, &numbers), Vec::<String>::new());
}

/// The digits are checked as written: a trunk `0` after the country code is not stripped
/// and validated as the number without it, and the error names the number meant.
#[test]
fn a_trunk_prefix_after_the_country_code_is_refused_with_the_fix() {
    let admin = admin(NumberCheck::Valid);
    let refused = refused(&admin, &["+4402079460958".to_string()]);
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(
        refused[0].contains("did you mean +442079460958"),
        "{refused:?}"
    );
}
