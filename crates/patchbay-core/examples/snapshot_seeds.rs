//! Writes the seed corpus of the `snapshot_open` fuzz target: valid snapshot files of a few
//! shapes in the current format, and damaged copies of them.
//!
//! ```sh
//! cargo run -p patchbay-core --example snapshot_seeds -- fuzz/corpus/snapshot_open
//! ```
//!
//! Run it again whenever the file format changes (`FORMAT_VERSION`), so that the seeds reach
//! past the header check.

use std::error::Error;
use std::path::PathBuf;

use patchbay_core::{ClientEnv, Connector, Prefix, Snapshot, E164, HEADER_LEN};

fn connector(id: &str, env: ClientEnv) -> Connector {
    Connector {
        connector_id: id.into(),
        name: format!("Connector {id}"),
        account_id: "acct-1".into(),
        project_id: "project-1".into(),
        client_env: env,
        variant_id: String::new(),
        asr_lang_code: "en-US".into(),
        tts_lang_code: "en-US".into(),
        voice_name: "en-US-Neural2-A".into(),
        disable_handoff: false,
    }
}

/// `count` routed numbers of the San Francisco block `+1415555xxxx`, spread over `connectors`.
fn snapshot(
    version: u64,
    count: u64,
    connectors: &[Connector],
) -> Result<Snapshot, Box<dyn Error>> {
    let routes = (0..count)
        .map(|i| {
            let number = E164::from_u64(14_155_550_000 + i * 37)?;
            let at = usize::try_from(i)? % connectors.len();
            Ok((number, &connectors[at]))
        })
        .collect::<Result<Vec<_>, Box<dyn Error>>>()?;
    Ok(Snapshot::from_routes(version, routes)?)
}

/// A snapshot patched after its build: a removed connector's slot (a hole), tombstones of
/// unrouted numbers, and numbers moved between connectors.
fn patched(connectors: &[Connector]) -> Result<Snapshot, Box<dyn Error>> {
    let base = snapshot(1, 12, connectors)?;
    let mut patch = base.patch(2);
    for (number, connector) in base.iter() {
        match connector.connector_id.as_str() {
            "conn-live" => patch.unroute(number),
            _ => patch.route(number, "conn-pre"),
        };
    }
    patch.remove_connector("conn-live");
    Ok(patch.finish()?)
}

/// Numbers and nested prefixes (a country, a city, a DID block inside it), patched so that
/// one prefix is a tombstone and one moved.
fn with_prefixes(connectors: &[Connector]) -> Result<Snapshot, Box<dyn Error>> {
    let base = snapshot(1, 4, connectors)?;
    let mut patch = base.patch(2);
    for (prefix, at) in [
        ("+44", 0),
        ("+4420", 1),
        ("+4420794600", 2),
        ("+1415", 1),
        ("+7", 0),
    ] {
        patch.route_prefix(prefix.parse::<Prefix>()?, &connectors[at].connector_id);
    }
    let added = patch.finish()?;
    let mut patch = added.patch(3);
    patch
        .unroute_prefix("+7".parse()?)
        .route_prefix("+4420".parse()?, &connectors[2].connector_id);
    Ok(patch.finish()?)
}

fn main() -> Result<(), Box<dyn Error>> {
    let dir: PathBuf = std::env::args_os()
        .nth(1)
        .ok_or("usage: snapshot_seeds <corpus directory>")?
        .into();
    std::fs::create_dir_all(&dir)?;
    let live = connector("conn-live", ClientEnv::Live);
    let three = [
        live.clone(),
        connector("conn-sandbox", ClientEnv::Sandbox),
        connector("conn-pre", ClientEnv::PreRelease),
    ];
    let ten = snapshot(3, 10, &three)?.to_file_bytes()?;
    let mut corrupted = ten.clone();
    let middle = HEADER_LEN + (corrupted.len() - HEADER_LEN) / 2;
    corrupted[middle] ^= 0x40;
    let seeds: Vec<(&str, Vec<u8>)> = vec![
        ("empty-v0", Snapshot::empty(0).to_file_bytes()?),
        ("one-number", snapshot(1, 1, &three[..1])?.to_file_bytes()?),
        ("ten-numbers-three-connectors", ten.clone()),
        (
            "forty-numbers-max-version",
            snapshot(u64::MAX, 40, &three)?.to_file_bytes()?,
        ),
        (
            "unused-connector",
            snapshot(1, 2, &three[..1])?
                .with_connectors(2, [connector("conn-unused", ClientEnv::Live)])?
                .to_file_bytes()?,
        ),
        (
            "patched-hole-and-tombstones",
            patched(&three)?.to_file_bytes()?,
        ),
        ("nested-prefixes", with_prefixes(&three)?.to_file_bytes()?),
        ("one-byte-corrupted", corrupted),
        ("truncated", ten[..ten.len() / 2].to_vec()),
        ("truncated-header", ten[..40].to_vec()),
    ];
    for (name, bytes) in seeds {
        std::fs::write(dir.join(name), bytes)?;
    }
    Ok(())
}
