//! SIP requests from the network: `Responder::answer` never panics, and every answer has the
//! properties of `patchbay_sip::check` (a reply only to a request with a `Via`, never to
//! `ACK`, `CANCEL`, a response or garbage; the request's `Via` lines in order; a bounded
//! size).
//!
//! Input: one message, as a datagram would carry it.

#![no_main]

use libfuzzer_sys::fuzz_target;
use patchbay_fuzz::check_sip;

fuzz_target!(|data: &[u8]| {
    check_sip(data).unwrap_or_else(|what| panic!("{:?}: {what}", String::from_utf8_lossy(data)));
});
