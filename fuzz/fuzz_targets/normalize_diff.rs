//! Differential test against the `phonenumber` crate, on inputs both accept.
//!
//! Input: the first byte picks a default region (`byte % 8`: none, GB, US, DE, FR, IT, IN,
//! BR); the remaining bytes, which must be UTF-8, are the number.
//!
//! The property is "phonenumber cannot tell our answer from its own": when both accept an
//! input, phonenumber parsing patchbay's canonical string must format (E.164) exactly as
//! phonenumber's own parse of the input does. It is not "the same string", on purpose:
//! patchbay takes international input literally (`+44 020 7946 0958` is `+4402079460958`,
//! see crates/patchbay-core/src/number/mod.rs), while phonenumber strips the trunk `0`
//! from it and gives `+442079460958`. phonenumber strips the same `0` from
//! `+4402079460958`, so the property holds both where the two agree verbatim and where
//! patchbay is deliberately literal, and fails only when they name different numbers.
//! phonenumber parses our string with no region first; because its own reading of a `+`
//! number can depend on the default region (see below), a mismatch is then re-checked by
//! parsing our string in the input's region.

#![no_main]

use std::str::FromStr;

use libfuzzer_sys::fuzz_target;
use patchbay_core::normalize_in;
use patchbay_fuzz::{catching, region, split_region};
use phonenumber::Mode;

fuzz_target!(|data: &[u8]| {
    let (code, bytes) = split_region(data);
    let Ok(input) = std::str::from_utf8(bytes) else {
        return;
    };
    let id = match code.map(phonenumber::country::Id::from_str) {
        None => None,
        Some(Ok(id)) => Some(id),
        Some(Err(_)) => unreachable!("every region code is a phonenumber country id"),
    };

    // phonenumber's reading of the input; skip what it rejects, panics on, or reads as
    // a number with an extension (patchbay rejects extensions by design).
    let Ok(Ok(parsed)) = catching(|| phonenumber::parse(id, input)) else {
        return;
    };
    if parsed.extension().is_some() {
        return;
    }
    let Ok(theirs) = catching(|| parsed.format().mode(Mode::E164).to_string()) else {
        return;
    };

    let ours = catching(|| normalize_in(input, region(code)))
        .unwrap_or_else(|panic| panic!("normalize_in({input:?}, {code:?}) panicked: {panic}"));
    let Ok(ours) = ours else {
        return;
    };
    let canonical = ours.to_string();
    // The same string: nothing to tell apart. (Checked first because phonenumber's own
    // output does not always read back as itself: in FR, `00046 0958` reads as
    // `+330460958`, and `+330460958` as `+33460958`.)
    if canonical == theirs || reads_as(None, &canonical, input, code) == theirs {
        return;
    }
    // phonenumber's reading of a `+` number depends on the default region too: in GB it
    // strips a trunk `0` from `+440207460958` (giving `+44207460958`), with no region it
    // keeps it. patchbay is literal in every region, so when a region was given, compare
    // with phonenumber reading our answer in that same region.
    let again = reads_as(id, &canonical, input, code);
    assert_eq!(
        again, theirs,
        "input {input:?} in {code:?}: phonenumber reads {theirs}, patchbay {canonical} \
         (which phonenumber reads as {again})"
    );
});

/// phonenumber's E.164 reading of patchbay's canonical answer `canonical`, in `id`.
fn reads_as(
    id: Option<phonenumber::country::Id>,
    canonical: &str,
    input: &str,
    code: Option<&str>,
) -> String {
    let reparsed = match catching(|| phonenumber::parse(id, canonical)) {
        Ok(Ok(number)) => number,
        Ok(Err(err)) => panic!(
            "input {input:?} in {code:?}: phonenumber rejects patchbay's {canonical} \
             (region {id:?}): {err:?}"
        ),
        Err(panic) => panic!(
            "input {input:?} in {code:?}: phonenumber panics on patchbay's {canonical} \
             (region {id:?}): {panic}"
        ),
    };
    catching(|| reparsed.format().mode(Mode::E164).to_string())
        .unwrap_or_else(|panic| panic!("formatting {canonical} panicked: {panic}"))
}
