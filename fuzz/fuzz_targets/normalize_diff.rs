//! Differential test against libphonenumber (`rlibphonenumber`, the metadata library the
//! product uses), on inputs both accept.
//!
//! Input: the first byte picks a default region (`byte % 8`: none, GB, US, DE, FR, IT, IN,
//! BR); the remaining bytes, which must be UTF-8, are the number.
//!
//! The property is "libphonenumber cannot tell our answer from its own": when both accept an
//! input, libphonenumber parsing patchbay's canonical string must format (E.164) exactly as
//! its own parse of the input does. It is not "the same string", on purpose: patchbay takes
//! international input literally (`+44 020 7946 0958` is `+4402079460958`, see
//! crates/patchbay-core/src/number/mod.rs), while libphonenumber strips the trunk `0` from
//! it and gives `+442079460958`. It strips the same `0` from `+4402079460958`, so the
//! property holds both where the two agree verbatim and where patchbay is deliberately
//! literal, and fails only when they name different numbers. Our string is parsed with no
//! region first; because libphonenumber's reading of a `+` number can depend on the default
//! region, a mismatch is then re-checked by parsing our string in the input's region.

#![no_main]

use libfuzzer_sys::fuzz_target;
use patchbay_core::normalize_in;
use patchbay_fuzz::{catching, region, split_region};
use rlibphonenumber::{PhoneNumberFormat, Region, PHONE_NUMBER_UTIL};

fuzz_target!(|data: &[u8]| {
    let (code, bytes) = split_region(data);
    let Ok(input) = std::str::from_utf8(bytes) else {
        return;
    };
    let id = code.map(|code| {
        Region::from_code(code).unwrap_or_else(|_| unreachable!("{code} is a region code"))
    });

    // libphonenumber's reading of the input; skip what it rejects, panics on, or reads as
    // a number with an extension (patchbay rejects extensions by design).
    let Ok(Ok(parsed)) = catching(|| PHONE_NUMBER_UTIL.parse(input, id)) else {
        return;
    };
    if parsed.extension.is_some() {
        return;
    }
    let Ok(theirs) = catching(|| e164(&parsed)) else {
        return;
    };

    let ours = catching(|| normalize_in(input, region(code)))
        .unwrap_or_else(|panic| panic!("normalize_in({input:?}, {code:?}) panicked: {panic}"));
    let Ok(ours) = ours else {
        return;
    };
    let canonical = ours.to_string();
    // The same string: nothing to tell apart. (Checked first: libphonenumber's own output
    // does not always read back as itself.)
    if canonical == theirs || reads_as(None, &canonical, input, code) == theirs {
        return;
    }
    // libphonenumber's reading of a `+` number depends on the default region too: in GB it
    // strips a trunk `0` from `+440207460958` (giving `+44207460958`), with no region it
    // keeps it. patchbay is literal in every region, so when a region was given, compare
    // with libphonenumber reading our answer in that same region.
    let again = reads_as(id, &canonical, input, code);
    assert_eq!(
        again, theirs,
        "input {input:?} in {code:?}: libphonenumber reads {theirs}, patchbay {canonical} \
         (which libphonenumber reads as {again})"
    );
});

fn e164(number: &rlibphonenumber::PhoneNumber) -> String {
    PHONE_NUMBER_UTIL
        .format(number, PhoneNumberFormat::E164)
        .into_owned()
}

/// libphonenumber's E.164 reading of patchbay's canonical answer `canonical`, in `id`.
fn reads_as(id: Option<Region>, canonical: &str, input: &str, code: Option<&str>) -> String {
    let reparsed = match catching(|| PHONE_NUMBER_UTIL.parse(canonical, id)) {
        Ok(Ok(number)) => number,
        Ok(Err(err)) => panic!(
            "input {input:?} in {code:?}: libphonenumber rejects patchbay's {canonical} \
             (region {id:?}): {err:?}"
        ),
        Err(panic) => panic!(
            "input {input:?} in {code:?}: libphonenumber panics on patchbay's {canonical} \
             (region {id:?}): {panic}"
        ),
    };
    catching(|| e164(&reparsed))
        .unwrap_or_else(|panic| panic!("formatting {canonical} panicked: {panic}"))
}
