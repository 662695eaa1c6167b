//! Helpers shared by the fuzz targets in `fuzz_targets/`.
//!
//! - [`split_region`]: the first input byte picks a default region, the rest is the input.
//! - [`catching`]: runs code that may panic *and catch it* (the metadata library, and
//!   patchbay-core's own `catch_unwind` around it) without tripping libFuzzer's panic hook,
//!   which otherwise aborts on every panic, caught or not.
//! - [`with_fixed_checksum`] and [`check_snapshot`]: for the snapshot target.
//! - [`check_prefixes`]: for the prefix target.
//! - [`check_sip`]: for the SIP target.

use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::str::FromStr;
use std::sync::{Once, OnceLock};

use patchbay_core::{
    ClientEnv, Connector, Match, Prefix, Region, Router, Snapshot, E164, HEADER_LEN,
};

/// The default regions a first byte selects, by `byte % 8`. In the seed corpus the first
/// byte is an ASCII digit: `'0'` (48) is no region, `'1'` GB, `'2'` US, ... `'7'` BR.
pub const REGION_CODES: [Option<&str>; 8] = [
    None,
    Some("GB"),
    Some("US"),
    Some("DE"),
    Some("FR"),
    Some("IT"),
    Some("IN"),
    Some("BR"),
];

/// Byte offset of the CRC-32 in a snapshot file header (see `snapshot/file.rs`).
pub const CHECKSUM_AT: usize = 56;

/// Splits `data` into the region its first byte selects (by code) and the rest.
pub fn split_region(data: &[u8]) -> (Option<&'static str>, &[u8]) {
    match data.split_first() {
        Some((&first, rest)) => (REGION_CODES[usize::from(first % 8)], rest),
        None => (None, data),
    }
}

/// The patchbay [`Region`] for a code of [`REGION_CODES`].
pub fn region(code: Option<&str>) -> Option<Region> {
    static REGIONS: OnceLock<Vec<(&'static str, Region)>> = OnceLock::new();
    let regions = REGIONS.get_or_init(|| {
        REGION_CODES
            .iter()
            .flatten()
            .map(|&code| {
                let region = Region::from_str(code)
                    .unwrap_or_else(|e| panic!("region {code} must be known: {e}"));
                (code, region)
            })
            .collect()
    });
    let code = code?;
    regions
        .iter()
        .find(|(known, _)| *known == code)
        .map(|&(_, region)| region)
}

thread_local! {
    /// Set while [`catching`] runs: panics are then recorded instead of aborting.
    static QUIET: Cell<bool> = const { Cell::new(false) };
    /// The message and location of the last panic recorded while quiet.
    static LAST_PANIC: RefCell<String> = const { RefCell::new(String::new()) };
}

fn install_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        // libfuzzer-sys has installed its hook (print, then abort) before the first input.
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if QUIET.with(Cell::get) {
                let message = info
                    .payload()
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_string())
                    .or_else(|| info.payload().downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                let location = info
                    .location()
                    .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
                    .unwrap_or_default();
                LAST_PANIC.with(|last| *last.borrow_mut() = format!("{message} at {location}"));
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs `f`, returning `Err(message)` if it panics. Panics inside `f` that `f` itself
/// catches (patchbay-core's `catch_unwind` around the metadata library) are allowed and silent.
/// A caller that must not panic turns `Err` into its own panic, which then aborts as usual.
pub fn catching<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    install_hook();
    LAST_PANIC.with(|last| last.borrow_mut().clear());
    let was_quiet = QUIET.with(|quiet| quiet.replace(true));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|quiet| quiet.set(was_quiet));
    result.map_err(|_| LAST_PANIC.with(|last| last.borrow().clone()))
}

/// A copy of `bytes` with the header checksum recomputed, so that mutations get past it
/// to the archive and index checks. `None` when shorter than a header.
pub fn with_fixed_checksum(bytes: &[u8]) -> Option<Vec<u8>> {
    if bytes.len() < HEADER_LEN {
        return None;
    }
    let mut fixed = bytes.to_vec();
    let mut crc = crc32fast::Hasher::new();
    crc.update(&fixed[..CHECKSUM_AT]);
    crc.update(&fixed[HEADER_LEN..]);
    let sum = crc.finalize();
    fixed[CHECKSUM_AT..CHECKSUM_AT + 4].copy_from_slice(&sum.to_le_bytes());
    Some(fixed)
}

/// Asserts that an opened snapshot agrees with itself: `iter` yields `len` numbers, each
/// found by `exact` and `get` with the same connector; `prefixes` yields `prefix_count`
/// prefixes, each found by `prefix`, and a number made of a prefix's digits routes to it
/// unless a longer prefix or its own entry covers it; each connector is found by its id.
pub fn check_snapshot(snapshot: &Snapshot) {
    assert_eq!(
        snapshot.prefixes().count(),
        snapshot.prefix_count(),
        "prefixes() and prefix_count() disagree"
    );
    for (prefix, connector) in snapshot.prefixes() {
        assert_eq!(snapshot.prefix(prefix), Some(connector), "prefix({prefix})");
        // The prefix padded with zeros to 15 digits is a number it covers.
        let padded = prefix.as_u64() * 10u64.pow(15 - prefix.len() as u32);
        if let Ok(number) = E164::from_u64(padded) {
            match snapshot.get_match(number) {
                Some((Match::Prefix(found), _)) => {
                    assert!(found.len() >= prefix.len() && found.matches(number), "{number}")
                }
                Some((Match::Exact, _)) => assert!(snapshot.exact(number).is_some()),
                None => panic!("{number} starts with routed prefix {prefix} and routes nowhere"),
            }
        }
    }
    assert_eq!(
        snapshot.iter().count(),
        snapshot.len(),
        "iter() and len() disagree"
    );
    for (number, connector) in snapshot.iter() {
        assert_eq!(
            snapshot.get(number),
            Some(connector),
            "get({number}) differs from iter()"
        );
        assert_eq!(snapshot.exact(number), Some(connector), "exact({number})");
    }
    for connector in snapshot.connectors() {
        assert_eq!(
            snapshot.connector(&connector.connector_id),
            Some(connector),
            "connector({:?}) differs from connectors()",
            connector.connector_id
        );
    }
}

/// Parses `inputs` as prefixes: each accepted one displays as `+digits` that parse back to
/// it, has 1 to 14 digits, and matches exactly the numbers that start with its digits. A
/// snapshot routing the accepted ones (each to its own connector), built and then read
/// back from a file, answers every number made from their digits with the longest
/// accepted prefix it starts with, found by comparing text.
pub fn check_prefixes(inputs: &[&str]) {
    let mut accepted: Vec<Prefix> = Vec::new();
    for input in inputs {
        let Ok(prefix) = Prefix::parse(input) else {
            continue;
        };
        let text = prefix.to_string();
        assert_eq!(Prefix::parse(&text), Ok(prefix), "{input:?} gave {text}");
        assert!((1..=14).contains(&prefix.len()), "{text}");
        assert_eq!(text.len(), prefix.len() + 1, "{text}");
        if !accepted.contains(&prefix) {
            accepted.push(prefix);
        }
    }
    let connector = |i: usize| Connector {
        connector_id: format!("c{i}"),
        name: "c".into(),
        account_id: "a".into(),
        project_id: "p".into(),
        client_env: ClientEnv::Live,
        variant_id: String::new(),
        asr_lang_code: "en-US".into(),
        tts_lang_code: "en-US".into(),
        voice_name: "en-US-Neural2-A".into(),
        disable_handoff: false,
    };
    let mut builder = Snapshot::builder(1);
    for (i, &prefix) in accepted.iter().enumerate() {
        let slot = builder.connector(connector(i)).expect("distinct ids");
        builder.route_prefix(prefix, slot).expect("a slot of this builder");
    }
    let built = builder.build().expect("distinct prefixes");
    let bytes = built.to_file_bytes().expect("write");
    let opened = Snapshot::from_file_bytes(&bytes).expect("a written snapshot opens");
    // Numbers from each prefix's digits: the digits alone, and padded with 0s and 9s.
    let mut numbers = Vec::new();
    for prefix in &accepted {
        let digits = &prefix.to_string()[1..];
        for len in digits.len()..=15 {
            for pad in ["0", "9"] {
                let text = format!("+{digits}{}", pad.repeat(len - digits.len()));
                if let Ok(number) = text.parse::<E164>() {
                    numbers.push(number);
                }
            }
        }
    }
    for snapshot in [&built, &opened] {
        assert_eq!(snapshot.prefix_count(), accepted.len());
        for &number in &numbers {
            let text = number.to_string();
            let want = accepted
                .iter()
                .enumerate()
                .filter(|(_, p)| text.starts_with(&p.to_string()))
                .max_by_key(|(_, p)| p.len())
                .map(|(i, &p)| (Match::Prefix(p), format!("c{i}")));
            let got = snapshot
                .get_match(number)
                .map(|(how, c)| (how, c.connector_id.clone()));
            assert_eq!(got, want, "{text} among {accepted:?}");
            for &prefix in &accepted {
                assert_eq!(prefix.matches(number), text.starts_with(&prefix.to_string()));
            }
        }
    }
}

/// Answers `message` from a router with two routed numbers and a DID block, twice: no
/// panic, the same answer both times (a stateless server answers retransmissions
/// identically), and an answer with the properties of `patchbay_sip::check`.
pub fn check_sip(message: &[u8]) -> Result<(), String> {
    use patchbay_sip::{check::check_answer, ContactTemplate, Responder};
    thread_local! {
        static ROUTER: Router = sip_router();
    }
    ROUTER.with(|router| {
        let mut reader = router.reader();
        let responder = Responder::new(
            ContactTemplate::parse("sip:{connectorId}@10.0.0.9;n={number};v={voiceName}")
                .map_err(|e| e.to_string())?,
        );
        let mut first = Vec::new();
        let outcome = responder.answer(&mut reader, message, &mut first);
        let mut second = Vec::new();
        let again = responder.answer(&mut reader, message, &mut second);
        if (outcome, &first) != (again, &second) {
            return Err("two answers to one message differ".into());
        }
        check_answer(message, outcome, &first).map_err(|e| e.to_string())
    })
}

fn sip_router() -> Router {
    let mut builder = Snapshot::builder(1);
    let connector = |id: &str| Connector {
        connector_id: id.into(),
        name: "Support".into(),
        account_id: "acme".into(),
        project_id: "p1".into(),
        client_env: ClientEnv::Live,
        variant_id: String::new(),
        asr_lang_code: "en-US".into(),
        tts_lang_code: "en-US".into(),
        voice_name: "en-US-Neural2-A".into(),
        disable_handoff: false,
    };
    let a = builder.connector(connector("conn_a")).expect("a");
    let b = builder.connector(connector("conn_b")).expect("b");
    for n in ["+14155552671", "+442079460958"] {
        builder.route(n.parse().expect("a number"), a).expect("route");
    }
    let block: Prefix = "+4420794600".parse().expect("a prefix");
    builder.route_prefix(block, b).expect("prefix");
    Router::new(builder.build().expect("build"))
}
