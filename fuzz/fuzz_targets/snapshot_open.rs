//! Opening arbitrary bytes as a snapshot file returns an error or a snapshot that agrees
//! with itself; it never panics.
//!
//! A CRC-32 guards the file, so almost every mutation is rejected by the checksum alone.
//! Each input is therefore opened twice: as is, and (when it is at least a header long)
//! with the checksum at bytes 56..60 recomputed, which lets mutations reach the header
//! checks, rkyv's archive validation and the index invariants behind it.

#![no_main]

use libfuzzer_sys::fuzz_target;
use patchbay_core::Snapshot;
use patchbay_fuzz::{catching, check_snapshot, with_fixed_checksum};

fn open(bytes: &[u8]) {
    let opened = catching(|| Snapshot::from_file_bytes(bytes))
        .unwrap_or_else(|panic| panic!("from_file_bytes panicked: {panic}"));
    let Ok(snapshot) = opened else {
        return;
    };
    check_snapshot(&snapshot);
    // What was accepted writes back to a file that opens to the same table.
    let written = snapshot.to_file_bytes().expect("an opened snapshot writes");
    let reopened = Snapshot::from_file_bytes(&written).expect("a written snapshot opens");
    assert_eq!(reopened.version(), snapshot.version());
    assert_eq!(reopened.len(), snapshot.len());
    assert!(reopened.connectors().eq(snapshot.connectors()));
    for (number, connector) in snapshot.iter() {
        assert_eq!(reopened.get(number), Some(connector));
    }
    assert_eq!(reopened.prefix_count(), snapshot.prefix_count());
    for (prefix, connector) in snapshot.prefixes() {
        assert_eq!(reopened.prefix(prefix), Some(connector));
    }
    // A patch of what was accepted (its shards probed in the input's bytes) moves one
    // number, unroutes another, and leaves every other route as it was.
    let mut routes = snapshot.iter();
    let (Some((moved, _)), Some((gone, _))) = (routes.next(), routes.next()) else {
        return;
    };
    let Some(target) = snapshot.connectors().last().map(|c| c.connector_id.clone()) else {
        return;
    };
    let mut patch = snapshot.patch(snapshot.version().saturating_add(1));
    patch.route(moved, &target).unroute(gone);
    let patched = patch.finish().expect("a patch of routes to a present connector");
    check_snapshot(&patched);
    assert_eq!(patched.len(), snapshot.len() - 1);
    assert_eq!(patched.get(moved).map(|c| c.connector_id.as_str()), Some(target.as_str()));
    assert_eq!(patched.exact(gone), None);
    assert_eq!(patched.prefix_count(), snapshot.prefix_count());
    for (number, connector) in snapshot.iter().filter(|&(n, _)| n != moved && n != gone) {
        assert_eq!(patched.get(number), Some(connector));
    }
}

fuzz_target!(|data: &[u8]| {
    open(data);
    if let Some(fixed) = with_fixed_checksum(data) {
        if fixed != data {
            open(&fixed);
        }
    }
});
