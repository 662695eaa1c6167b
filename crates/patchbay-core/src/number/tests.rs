use super::*;

fn ok(input: &str) -> String {
    match normalize(input) {
        Ok(n) => n.to_string(),
        Err(e) => panic!("{input:?} rejected: {e}"),
    }
}

fn ok_in(input: &str, region: &str) -> String {
    let region: Region = region.parse().expect("region");
    match normalize_in(input, Some(region)) {
        Ok(n) => n.to_string(),
        Err(e) => panic!("{input:?} in {region} rejected: {e}"),
    }
}

fn err(input: &str) -> &'static str {
    match normalize(input) {
        Ok(n) => panic!("{input:?} accepted as {n}"),
        Err(e) => e.reason(),
    }
}

#[test]
fn accepts_every_form_of_numbers_md() {
    assert_eq!(ok("+14155552671"), "+14155552671");
    assert_eq!(ok("+1 (415) 555-2671"), "+14155552671");
    assert_eq!(ok("+44 20 7946 0958"), "+442079460958");
    assert_eq!(ok("+44\u{a0}20\u{2009}7946\u{202f}0958"), "+442079460958");
    assert_eq!(ok("+1.415.555.2671"), "+14155552671");
    assert_eq!(ok("+1/415/555/2671"), "+14155552671");
    assert_eq!(ok("  +14155552671  "), "+14155552671");
    assert_eq!(ok("tel:+1-415-555-2671"), "+14155552671");
    assert_eq!(ok("TEL:+1-415-555-2671"), "+14155552671");
    assert_eq!(ok("tel:+1-415-555-2671;isub=1234"), "+14155552671");
    assert_eq!(
        ok("sip:+14155552671@example.com;user=phone"),
        "+14155552671"
    );
    assert_eq!(ok("sips:+14155552671@example.com"), "+14155552671");
    assert_eq!(ok("sip:+1-415-555-2671:secret@example.com"), "+14155552671");
    assert_eq!(ok("sip:%2B14155552671@example.com"), "+14155552671");
    assert_eq!(ok("<sip:+14155552671@example.com>"), "+14155552671");
    assert_eq!(
        ok("\u{ff0b}\u{ff11}\u{ff14}\u{ff11}\u{ff15}5552671"),
        "+14155552671"
    );
    assert_eq!(ok("+1\u{2013}415\u{2013}555\u{2013}2671"), "+14155552671");
    // The smallest canonical numbers: a one-digit country code and one more digit.
    assert_eq!(ok("+12"), "+12");
    assert_eq!(ok("+979999999999999").len(), 16);
}

#[test]
fn national_formats_need_a_region() {
    assert_eq!(ok_in("020 7946 0958", "GB"), "+442079460958");
    assert_eq!(ok_in("20 7946 0958", "GB"), "+442079460958");
    assert_eq!(ok_in("00 44 20 7946 0958", "GB"), "+442079460958");
    assert_eq!(ok_in("011 44 20 7946 0958", "US"), "+442079460958");
    assert_eq!(ok_in("(415) 555-2671", "us"), "+14155552671");
    assert_eq!(ok_in("+1 415 555 2671", "GB"), "+14155552671");
    assert_eq!(err("020 7946 0958"), "national_without_region");
    assert_eq!(err("0044 20 7946 0958"), "national_without_region");
    assert_eq!(err("14155552671"), "national_without_region");
}

#[test]
fn rejects_every_case_of_numbers_md_with_its_reason() {
    assert_eq!(err(""), "empty");
    assert_eq!(err("   "), "empty");
    assert_eq!(err("+"), "empty");
    assert_eq!(err("1-800-FLOWERS"), "letters");
    assert_eq!(err("+1 800 FLOWERS"), "letters");
    assert_eq!(err("+1 415 555 2671 ext. 12"), "extension");
    assert_eq!(err("+1 415 555 2671 x12"), "extension");
    assert_eq!(err("+1 415 555 2671#12"), "extension");
    assert_eq!(err("tel:+1-415-555-2671;ext=12"), "extension");
    assert_eq!(err("+1234567890123456"), "too_many_digits");
    assert_eq!(err("+1 234 567 890 123 456"), "too_many_digits");
    assert_eq!(err("+1"), "too_short");
    assert_eq!(err("+2"), "too_short");
    assert_eq!(err("+28912345"), "unknown_country_code");
    assert_eq!(err("+04155552671"), "leading_zero");
    assert_eq!(err(&"1".repeat(65)), "too_long");
    assert_eq!(err(&format!("+{}", "1".repeat(64))), "too_long");
    assert_eq!(err("+1415\n5552671"), "control_character");
    assert_eq!(err("+1415\u{0}5552671"), "control_character");
    assert_eq!(err("+1415*5552671"), "invalid_character");
    assert_eq!(err("+1 415 +555 2671"), "misplaced_plus");
    assert_eq!(err("1+4155552671"), "misplaced_plus");
    assert_eq!(err("+44 (0)20 7946 0958"), "trunk_prefix");
    assert_eq!(err("+44 ( 0 ) 20 7946 0958"), "trunk_prefix");
    assert_eq!(err("+39 (0)6 1234 5678"), "trunk_prefix");
    // Not right after the country code: an ordinary parenthesized digit.
    assert_eq!(ok("+1 415 555 267 (0)"), "+14155552670");
    assert_eq!(err("tel:7042;phone-context=example.com"), "local_number");
    assert_eq!(err("tel:+17042;phone-context=+1"), "local_number");
    assert_eq!(err("tel:4155552671"), "local_number");
    assert_eq!(err("sip:alice@example.com"), "not_global");
    assert_eq!(err("sip:14155552671@example.com"), "not_global");
    assert_eq!(err("sip:example.com"), "not_global");
    assert_eq!(err("sip:%ZZ@example.com"), "not_global");
}

#[test]
fn too_long_is_checked_before_anything_else() {
    // 65 bytes of garbage that would otherwise be a control-character error.
    let input = "\u{0}".repeat(65);
    assert_eq!(normalize(&input), Err(NormalizeError::TooLong { len: 65 }));
    assert_eq!(
        normalize_bytes(&[0xff; 65], None),
        Err(NormalizeError::TooLong { len: 65 })
    );
    assert_eq!(
        normalize_bytes(&[0xff; 3], None),
        Err(NormalizeError::InvalidUtf8)
    );
}

#[test]
fn regions_parse_in_either_case_and_reject_unknown_codes() {
    assert_eq!(
        "gb".parse::<Region>().map(|r| r.code().to_string()),
        Ok("GB".into())
    );
    for bad in ["", "G", "GBR", "ZZ", "12", "g\u{e9}"] {
        assert_eq!(
            bad.parse::<Region>(),
            Err(NormalizeError::UnknownRegion),
            "{bad:?}"
        );
    }
}

#[test]
fn e164_accessors() {
    let n = E164::parse_canonical("+442079460958").expect("canonical");
    assert_eq!(n.country_code(), 44);
    assert_eq!(n.national_number(), 2079460958);
    assert_eq!(n.len(), 12);
    assert_eq!(E164::from_u64(442079460958), Ok(n));
    assert_eq!(E164::from_u64(0), Err(NormalizeError::LeadingZero));
    assert_eq!(
        E164::from_u64(u64::MAX),
        Err(NormalizeError::TooManyDigits { digits: 20 })
    );
    assert_eq!(
        E164::parse_canonical("+1 415"),
        Err(NormalizeError::NotCanonical)
    );
    let mut buf = [0u8; 16];
    assert_eq!(n.write_to(&mut buf), "+442079460958");
    let max = E164::parse_canonical("+979999999999999").expect("15 digits");
    assert_eq!(max.write_to(&mut buf), "+979999999999999");
}

#[test]
fn serde_uses_the_canonical_string() {
    let n: E164 = serde_json::from_str("\"+1 (415) 555-2671\"").expect("deserialize");
    assert_eq!(
        serde_json::to_string(&n).expect("serialize"),
        "\"+14155552671\""
    );
    let bad = serde_json::from_str::<E164>("\"hello\"").expect_err("letters");
    assert!(bad.to_string().contains("letters"), "{bad}");
    assert!(serde_json::from_str::<E164>("14155552671").is_err());
}

#[test]
fn untrusted_keys_are_numbers_only_when_normalize_would_make_them() {
    for text in [
        "+14155552671",
        "+442079460958",
        "+4930123456",
        "+6831234",
        "+972501234567",
        "+861012345678901",
        "+12",
    ] {
        let number = normalize(text).expect(text);
        assert_eq!(E164::from_untrusted_key(number.index_key()), Ok(number));
        assert_eq!(
            E164::from_packed(number.to_packed()),
            Some(number),
            "{text}"
        );
    }
    assert_eq!(E164::from_packed(0), None);
    assert_eq!(E164::from_packed(u64::MAX), None);
    // Well-formed keys of digit strings that are not numbers: unknown country codes, and a
    // country code with nothing after it.
    for (value, len) in [(2_801_234_567, 10), (6_951_234, 7), (44, 2), (800, 3)] {
        let key = key::encode(value, len);
        assert!(key::is_encoded(key));
        assert!(E164::from_untrusted_key(key).is_err(), "{value}");
        assert_eq!(E164::from_packed(key), None, "{value}");
        assert!(E164::from_u64(value).is_err(), "{value}");
    }
}
