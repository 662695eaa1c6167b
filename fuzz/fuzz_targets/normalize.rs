//! `normalize_bytes` and `input_form` never panic, and whatever `normalize_bytes` accepts
//! comes out canonical, and reads as `e164` once it is.
//!
//! Input: the first byte picks a default region (`byte % 8`: none, GB, US, DE, FR, IT, IN,
//! BR); the remaining bytes are the number as received.

#![no_main]

use libfuzzer_sys::fuzz_target;
use patchbay_core::{input_form, normalize_bytes, normalize_in, InputForm, E164};
use patchbay_fuzz::{catching, region, split_region};

fuzz_target!(|data: &[u8]| {
    let (code, input) = split_region(data);
    let region = region(code);
    // patchbay-core catches panics of the phonenumber parser itself (ParserFailure);
    // `catching` lets those through and turns any panic that escapes into a crash.
    let result = catching(|| normalize_bytes(input, region))
        .unwrap_or_else(|panic| panic!("normalize_bytes({input:?}, {code:?}) panicked: {panic}"));
    if let Ok(text) = std::str::from_utf8(input) {
        catching(|| input_form(text))
            .unwrap_or_else(|panic| panic!("input_form({text:?}) panicked: {panic}"));
    }
    let Ok(number) = result else {
        return;
    };
    let canonical = number.to_string();
    assert_eq!(input_form(&canonical), InputForm::E164, "{canonical}");
    assert_eq!(
        normalize_in(&canonical, None),
        Ok(number),
        "{canonical} (from {input:?} in {code:?}) does not normalize to itself"
    );
    assert_eq!(
        E164::parse_canonical(&canonical),
        Ok(number),
        "{canonical} (from {input:?} in {code:?}) is not canonical"
    );
    assert_eq!(
        E164::from_u64(number.as_u64()),
        Ok(number),
        "from_u64(as_u64()) differs for {canonical}"
    );
    let mut buf = [0u8; 16];
    assert_eq!(
        number.write_to(&mut buf),
        canonical,
        "write_to differs from Display"
    );
    assert_eq!(number.len(), canonical.len() - 1, "len() of {canonical}");
});
