//! Patches against full rebuilds: any sequence of changes made through
//! `Snapshot::patch` gives exactly the snapshot a build from scratch gives, in memory and
//! after a snapshot file round trip (whose stored shards later patches keep probing in
//! place); and a reader running beside the publisher never sees part of a change.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use patchbay_core::{BuildError, ClientEnv, Connector, Router, Snapshot, E164};
use proptest::prelude::*;

fn connector(id: &str, variant: u8) -> Connector {
    Connector {
        connector_id: id.into(),
        name: format!("connector {id}"),
        account_id: "acme".into(),
        project_id: "support".into(),
        client_env: ClientEnv::Live,
        variant_id: format!("v{variant}"),
        asr_lang_code: "en-US".into(),
        tts_lang_code: "en-US".into(),
        voice_name: "en-US-Neural2-A".into(),
        disable_handoff: false,
    }
}

/// Numbers from a few dense blocks (so changes hit numbers that are there) in a few
/// countries.
fn number(i: u32) -> E164 {
    let base = [
        14_155_550_000u64,
        442_079_460_000,
        4_930_123_400_000,
        819_012_340_000,
    ];
    E164::from_u64(base[(i % 4) as usize] + u64::from(i / 4)).expect("valid")
}

#[derive(Debug, Clone)]
enum Op {
    Route(u32, u8),
    Unroute(u32),
    Put(u8, u8),
    Remove(u8),
}

fn op(numbers: u32) -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..numbers, 0..6u8).prop_map(|(n, c)| Op::Route(n, c)),
        3 => (0..numbers).prop_map(Op::Unroute),
        1 => (0..6u8, 0..4u8).prop_map(|(c, v)| Op::Put(c, v)),
        1 => (0..6u8).prop_map(Op::Remove),
    ]
}

/// What the snapshot should hold: connectors by id, numbers by number.
#[derive(Default, Clone)]
struct Model {
    connectors: BTreeMap<String, Connector>,
    routes: BTreeMap<E164, String>,
}

impl Model {
    fn build(&self, version: u64) -> Snapshot {
        let mut builder = Snapshot::builder(version);
        let mut slots = BTreeMap::new();
        for (id, c) in &self.connectors {
            slots.insert(id.clone(), builder.connector(c.clone()).expect("connector"));
        }
        for (n, id) in &self.routes {
            builder.route(*n, slots[id]).expect("route");
        }
        builder.build().expect("build")
    }
}

/// Applies one patch of `ops` to `snapshot` and to `model` alike. A patch the snapshot
/// refuses must be one the model refuses too (an unknown connector, or a removal of one
/// still in use), and changes nothing.
fn apply(
    snapshot: &Snapshot,
    model: &mut Model,
    version: u64,
    ops: &[Op],
) -> Result<Snapshot, TestCaseError> {
    let mut next = model.clone();
    let mut patch = snapshot.patch(version);
    let mut removed = Vec::new();
    for op in ops {
        match *op {
            Op::Route(n, c) => {
                let id = format!("c{c}");
                patch.route(number(n), &id);
                next.routes.insert(number(n), id);
            }
            Op::Unroute(n) => {
                patch.unroute(number(n));
                next.routes.remove(&number(n));
            }
            Op::Put(c, v) => {
                let id = format!("c{c}");
                patch.put_connector(connector(&id, v));
                next.connectors.insert(id.clone(), connector(&id, v));
            }
            Op::Remove(c) => {
                let id = format!("c{c}");
                patch.remove_connector(&id);
                removed.push(id);
            }
        }
    }
    // Puts, then routes, then removals: a route must name a connector present after the
    // puts, and a removed connector must be present and unused after the routes.
    let mut valid = next
        .routes
        .values()
        .all(|id| next.connectors.contains_key(id));
    for id in &removed {
        valid &= next.connectors.remove(id).is_some();
        valid &= !next.routes.values().any(|r| r == id);
    }
    match patch.finish() {
        Ok(patched) => {
            prop_assert!(valid, "a patch the model refuses was accepted: {:?}", ops);
            *model = next;
            Ok(patched)
        }
        Err(BuildError::UnknownConnector(_) | BuildError::ConnectorInUse { .. }) => {
            prop_assert!(!valid, "a valid patch was refused: {:?}", ops);
            Ok(snapshot.patch(version).finish().expect("empty patch"))
        }
        Err(other) => Err(TestCaseError::fail(format!("{other}"))),
    }
}

fn assert_same(patched: &Snapshot, model: &Model, numbers: u32) -> Result<(), TestCaseError> {
    let rebuilt = model.build(patched.version());
    prop_assert_eq!(patched.len(), model.routes.len());
    prop_assert_eq!(patched.len(), rebuilt.len());
    let mut ids: Vec<&str> = patched
        .connectors()
        .map(|c| c.connector_id.as_str())
        .collect();
    ids.sort_unstable();
    let want: Vec<&str> = model.connectors.keys().map(String::as_str).collect();
    prop_assert_eq!(ids, want);
    for (id, c) in &model.connectors {
        prop_assert_eq!(patched.connector(id), Some(c));
        let routed = model.routes.values().filter(|r| *r == id).count();
        prop_assert_eq!(patched.routed_to(id), Some(routed));
    }
    for i in 0..numbers + 8 {
        let n = number(i);
        let want = model.routes.get(&n).map(|id| &model.connectors[id]);
        prop_assert_eq!(patched.get(n), want, "{}", n);
        prop_assert_eq!(rebuilt.get(n), want, "{}", n);
    }
    let mut all: Vec<(E164, &Connector)> = patched.iter().collect();
    all.sort_by_key(|(n, _)| *n);
    let mut again: Vec<(E164, &Connector)> = rebuilt.iter().collect();
    again.sort_by_key(|(n, _)| *n);
    prop_assert_eq!(all, again);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn patches_give_what_a_rebuild_gives(
        initial in prop_oneof![0..3000u32, 8000..20_000u32],
        patches in prop::collection::vec(prop::collection::vec(op(24_000), 0..40), 1..12),
    ) {
        let mut model = Model::default();
        for c in 0..3u8 {
            let id = format!("c{c}");
            model.connectors.insert(id.clone(), connector(&id, 0));
        }
        for i in 0..initial {
            model.routes.insert(number(i * 7 % 24_000), format!("c{}", i % 3));
        }
        let mut snapshot = model.build(1);
        let mut version = 1;
        for (round, ops) in patches.iter().enumerate() {
            version += 1;
            snapshot = apply(&snapshot, &mut model, version, ops)?;
            assert_same(&snapshot, &model, 24_000)?;
            if round % 3 == 2 {
                // A file round trip: its shards are then probed in the file's bytes, and
                // the next patches copy out only the ones they touch.
                let bytes = snapshot.to_file_bytes().expect("bytes");
                snapshot = Snapshot::from_file_bytes(&bytes).expect("open");
                assert_same(&snapshot, &model, 24_000)?;
            }
        }
        let bytes = snapshot.to_file_bytes().expect("bytes");
        assert_same(&Snapshot::from_file_bytes(&bytes).expect("open"), &model, 24_000)?;
    }
}

#[test]
fn growth_by_patches_reshards_and_stays_whole() {
    let c = connector("c", 0);
    let mut snapshot = Snapshot::from_routes(1, [(number(0), &c)]).expect("build");
    assert_eq!(snapshot.shard_count(), 1);
    let mut version = 1;
    for block in 0..10u32 {
        version += 1;
        let mut patch = snapshot.patch(version);
        for i in 1 + block * 5000..1 + (block + 1) * 5000 {
            patch.route(number(i), "c");
        }
        snapshot = patch.finish().expect("patch");
        assert_eq!(snapshot.len(), 1 + (block as usize + 1) * 5000);
    }
    assert!(snapshot.shard_count() > 1, "50,001 numbers in one shard");
    for i in 0..50_001 {
        assert_eq!(snapshot.get(number(i)), Some(&c));
    }
    let bytes = snapshot.to_file_bytes().expect("bytes");
    let opened = Snapshot::from_file_bytes(&bytes).expect("open");
    assert_eq!(opened.len(), 50_001);
    assert_eq!(opened.shard_count(), snapshot.shard_count());
}

#[test]
fn a_hole_left_by_a_removed_connector_is_reused_and_survives_files() {
    let a = connector("a", 0);
    let b = connector("b", 0);
    let base = Snapshot::from_routes(1, [(number(0), &a), (number(1), &b)]).expect("build");
    let mut patch = base.patch(2);
    patch.unroute(number(0)).remove_connector("a");
    let holed = patch.finish().expect("patch");
    assert_eq!(holed.connector_count(), 1);
    assert_eq!(holed.connector("a"), None);
    assert_eq!(holed.get(number(1)), Some(&b));
    let opened = Snapshot::from_file_bytes(&holed.to_file_bytes().expect("bytes")).expect("open");
    assert_eq!(opened.connector_count(), 1);
    assert_eq!(opened.get(number(0)), None);
    let c = connector("c", 0);
    let mut patch = opened.patch(3);
    patch.put_connector(c.clone()).route(number(0), "c");
    let reused = patch.finish().expect("patch");
    assert_eq!(reused.connectors().collect::<Vec<_>>(), vec![&c, &b]);
    assert_eq!(reused.get(number(0)), Some(&c));
    // Refusals name the problem and change nothing.
    let mut patch = reused.patch(4);
    patch.remove_connector("b");
    assert_eq!(
        patch.finish().err(),
        Some(BuildError::ConnectorInUse {
            id: "b".into(),
            numbers: 1
        })
    );
    let mut patch = reused.patch(4);
    patch.route(number(5), "nobody");
    assert_eq!(
        patch.finish().err(),
        Some(BuildError::UnknownConnector("nobody".into()))
    );
    assert_eq!(reused.get(number(5)), None);
}

/// Every version moves a block of numbers, all at once, to the connector of its parity. A
/// reader's every answer must be the one of the version that gave it, and a snapshot it
/// holds must show every number of the block at one connector.
#[test]
fn a_concurrent_reader_never_sees_part_of_a_patch() {
    const BLOCK: u32 = 2000;
    let even = connector("even", 0);
    let odd = connector("odd", 0);
    let mut builder = Snapshot::builder(2);
    let even_slot = builder.connector(even.clone()).expect("even");
    builder.connector(odd.clone()).expect("odd");
    for i in 0..20_000 {
        builder.route(number(i), even_slot).expect("route");
    }
    let router = Arc::new(Router::new(builder.build().expect("build")));
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (router, done) = (router.clone(), done.clone());
        std::thread::spawn(move || {
            let mut reader = router.reader();
            let mut checked = 0u64;
            let mut i = 0u32;
            while !done.load(Ordering::Relaxed) {
                i = (i + 7919) % BLOCK;
                let text = number(i).to_string();
                let route = reader.lookup(&text).expect("valid").expect("routed");
                let want = if route.version % 2 == 0 {
                    "even"
                } else {
                    "odd"
                };
                assert_eq!(
                    route.connector.connector_id, want,
                    "version {}",
                    route.version
                );
                if checked.is_multiple_of(64) {
                    let snapshot = router.snapshot();
                    let want = if snapshot.version() % 2 == 0 {
                        &even
                    } else {
                        &odd
                    };
                    for n in 0..BLOCK {
                        assert_eq!(snapshot.get(number(n)), Some(want));
                    }
                }
                checked += 1;
            }
            checked
        })
    };
    for version in 3..300u64 {
        let current = router.snapshot();
        let to = if version % 2 == 0 { "even" } else { "odd" };
        let mut patch = current.patch(version);
        for n in 0..BLOCK {
            patch.route(number(n), to);
        }
        router
            .publish(patch.finish().expect("patch"))
            .expect("publish");
    }
    done.store(true, Ordering::Relaxed);
    let checked = reader.join().expect("reader");
    assert!(checked > 0);
}
