//! Inputs from fuzzing (`fuzz/`), replayed by `cargo test`.
//!
//! `replay_fuzz_corpus` runs every seed of the committed fuzz corpus through the same checks
//! as the fuzz targets, so the corpus is exercised without nightly or cargo-fuzz. When a
//! fuzz target finds a crash in patchbay-core, add the input here as its own test, with a
//! comment naming the input and what broke (see fuzz/README.md).

use std::fs;
use std::panic;
use std::path::{Path, PathBuf};

use patchbay_core::{
    normalize_bytes, normalize_in, ClientEnv, Connector, Match, Prefix, Region, Snapshot, E164,
    HEADER_LEN,
};

/// The default regions the first byte of a normalize input selects, by `byte % 8`
/// (as in fuzz/src/lib.rs).
const REGION_CODES: [Option<&str>; 8] = [
    None,
    Some("GB"),
    Some("US"),
    Some("DE"),
    Some("FR"),
    Some("IT"),
    Some("IN"),
    Some("BR"),
];

/// Byte offset of the header checksum in a snapshot file.
const CHECKSUM_AT: usize = 56;

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut files: Vec<(PathBuf, Vec<u8>)> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("directory entry").path();
            let bytes = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (path, bytes)
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} holds no seeds", dir.display());
    files
}

/// The fuzz target `normalize`: never panics; what it accepts is canonical.
fn check_normalize(name: &str, data: &[u8]) {
    let (region, input) = match data.split_first() {
        Some((&first, rest)) => (REGION_CODES[usize::from(first % 8)], rest),
        None => (None, data),
    };
    let region: Option<Region> = region.map(|code| code.parse().expect("known region"));
    let result = panic::catch_unwind(|| normalize_bytes(input, region))
        .unwrap_or_else(|_| panic!("{name}: normalize_bytes panicked"));
    let Ok(number) = result else {
        return;
    };
    let canonical = number.to_string();
    assert_eq!(normalize_in(&canonical, None), Ok(number), "{name}");
    assert_eq!(E164::parse_canonical(&canonical), Ok(number), "{name}");
    assert_eq!(E164::from_u64(number.as_u64()), Ok(number), "{name}");
}

/// The fuzz target `snapshot_open`: an error or a snapshot that agrees with itself.
fn open_snapshot(name: &str, bytes: &[u8]) -> bool {
    let opened = panic::catch_unwind(|| Snapshot::from_file_bytes(bytes))
        .unwrap_or_else(|_| panic!("{name}: from_file_bytes panicked"));
    let Ok(snapshot) = opened else {
        return false;
    };
    assert_eq!(snapshot.iter().count(), snapshot.len(), "{name}");
    for (number, connector) in snapshot.iter() {
        assert_eq!(snapshot.exact(number), Some(connector), "{name}: {number}");
    }
    assert_eq!(
        snapshot.prefixes().count(),
        snapshot.prefix_count(),
        "{name}"
    );
    for (prefix, connector) in snapshot.prefixes() {
        assert_eq!(snapshot.prefix(prefix), Some(connector), "{name}: {prefix}");
    }
    for connector in snapshot.connectors() {
        assert_eq!(
            snapshot.connector(&connector.connector_id),
            Some(connector),
            "{name}: connector {:?}",
            connector.connector_id
        );
    }
    // As the fuzz target does: a patch of what was accepted moves one number and unroutes
    // another, and nothing else changes.
    let mut routes = snapshot.iter();
    if let (Some((moved, _)), Some((gone, _)), Some(target)) = (
        routes.next(),
        routes.next(),
        snapshot.connectors().last().map(|c| c.connector_id.clone()),
    ) {
        let mut patch = snapshot.patch(snapshot.version().saturating_add(1));
        patch.route(moved, &target).unroute(gone);
        let patched = patch
            .finish()
            .expect("a patch of routes to a present connector");
        assert_eq!(patched.len(), snapshot.len() - 1, "{name}");
        assert_eq!(
            patched.get(moved).map(|c| c.connector_id.as_str()),
            Some(target.as_str())
        );
        assert_eq!(patched.exact(gone), None, "{name}");
        assert_eq!(patched.prefix_count(), snapshot.prefix_count(), "{name}");
        for (number, connector) in snapshot.iter().filter(|&(n, _)| n != moved && n != gone) {
            assert_eq!(patched.get(number), Some(connector), "{name}: {number}");
        }
    }
    true
}

/// The fuzz target `prefix_parse`: accepted prefixes are canonical, and a snapshot of them
/// answers numbers made from their digits with the longest one, as text comparison does.
fn check_prefixes(name: &str, data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut accepted: Vec<Prefix> = Vec::new();
    for input in text.lines().take(8) {
        let parsed = panic::catch_unwind(|| Prefix::parse(input))
            .unwrap_or_else(|_| panic!("{name}: Prefix::parse({input:?}) panicked"));
        if let Ok(prefix) = parsed {
            assert_eq!(Prefix::parse(&prefix.to_string()), Ok(prefix), "{name}");
            if !accepted.contains(&prefix) {
                accepted.push(prefix);
            }
        }
    }
    let mut builder = Snapshot::builder(1);
    for (i, &prefix) in accepted.iter().enumerate() {
        let slot = builder
            .connector(Connector {
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
            })
            .expect("connector");
        builder.route_prefix(prefix, slot).expect("route");
    }
    let snapshot = builder.build().expect("build");
    for prefix in &accepted {
        let digits = &prefix.to_string()[1..];
        for len in digits.len()..=15 {
            let Ok(number) = format!("+{digits}{}", "0".repeat(len - digits.len())).parse::<E164>()
            else {
                continue;
            };
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
            assert_eq!(got, want, "{name}: {text}");
        }
    }
}

/// `bytes` with the header checksum recomputed, as the fuzz target also tries.
fn with_fixed_checksum(bytes: &[u8]) -> Option<Vec<u8>> {
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

#[test]
fn replay_fuzz_corpus() {
    for target in ["normalize", "normalize_diff"] {
        for (path, data) in corpus(target) {
            check_normalize(&path.display().to_string(), &data);
        }
    }
    for (path, data) in corpus("prefix_parse") {
        check_prefixes(&path.display().to_string(), &data);
    }

    let (mut opened, mut rejected) = (0, 0);
    for (path, bytes) in corpus("snapshot_open") {
        let name = path.display().to_string();
        // The seeds `snapshot_seeds` writes whole, in the current format, must open: a seed
        // left behind by a change to the format or the hash would fuzz nothing but refusals.
        let file = path
            .file_name()
            .and_then(|f| f.to_str())
            .unwrap_or_default();
        let whole = !["format-", "truncated", "one-byte"]
            .iter()
            .any(|damaged| file.starts_with(damaged));
        if open_snapshot(&name, &bytes) {
            opened += 1;
        } else {
            assert!(
                !whole,
                "{name}: a whole seed no longer opens; rerun snapshot_seeds"
            );
            rejected += 1;
        }
        if let Some(fixed) = with_fixed_checksum(&bytes) {
            open_snapshot(&format!("{name} (checksum fixed)"), &fixed);
        }
    }
    // The seeds include valid snapshots and damaged ones; both paths must be exercised.
    assert!(opened > 0, "no seed snapshot opened");
    assert!(rejected > 0, "every seed snapshot opened");
}

/// Not a crash: found by the `normalize_diff` target, where libphonenumber's reading of a `+`
/// number depends on the default region. `+44 020 7-46 0958` in GB is `+44207460958` to
/// libphonenumber (trunk `0` stripped) but `+440207460958` with no region; patchbay takes
/// international input literally in every region. This pins that choice.
#[test]
fn international_input_is_literal_in_every_region() {
    let gb: Region = "GB".parse().expect("GB");
    for region in [None, Some(gb)] {
        for input in ["+44 020 7-46 0958", "+440207460958"] {
            assert_eq!(
                normalize_in(input, region).map(|n| n.to_string()),
                Ok("+440207460958".to_string()),
                "{input:?} in {region:?}"
            );
        }
    }
}
