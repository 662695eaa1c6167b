//! Number prefixes from untrusted text: `Prefix::parse` never panics, what it accepts is
//! canonical, and a snapshot routing the accepted prefixes answers every number with the
//! longest one that it starts with (checked against a scan of the prefixes as text).
//!
//! Input: up to eight prefixes, one per line, each in any form an operator may send
//! (`+44 20 7946 00xx`, `+4420794600*`, `tel:+44-20`, ...).

#![no_main]

use libfuzzer_sys::fuzz_target;
use patchbay_fuzz::{catching, check_prefixes};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let inputs: Vec<&str> = text.lines().take(8).collect();
    catching(|| check_prefixes(&inputs))
        .unwrap_or_else(|panic| panic!("prefixes {inputs:?}: {panic}"));
});
