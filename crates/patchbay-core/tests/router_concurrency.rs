//! The router under concurrency: readers on every core while writers publish thousands of
//! snapshots, and a router following a snapshot file that another writer replaces.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use patchbay_core::{ClientEnv, Connector, PublishError, Router, Snapshot, E164};

const NUMBERS: u64 = 64;

fn connector(version: u64) -> Connector {
    Connector {
        connector_id: format!("v{version}"),
        name: format!("version {version}"),
        account_id: "acme".into(),
        project_id: "support".into(),
        client_env: ClientEnv::Live,
        variant_id: String::new(),
        asr_lang_code: "en-US".into(),
        tts_lang_code: "en-US".into(),
        voice_name: "en-US-Neural2-A".into(),
        disable_handoff: false,
    }
}

fn number(i: u64) -> E164 {
    E164::from_u64(442_079_460_000 + i).expect("valid")
}

/// Snapshot `version`: numbers 0..NUMBERS all route to connector `v{version}`, and number
/// NUMBERS + (version % 2) routes too, so that the set of numbers changes between versions.
fn snapshot(version: u64) -> Snapshot {
    let c = connector(version);
    let numbers = (0..NUMBERS).chain([NUMBERS + version % 2]);
    Snapshot::from_routes(version, numbers.map(|i| (number(i), &c))).expect("build")
}

fn version_of(c: &Connector) -> u64 {
    c.connector_id[1..].parse().expect("v<version>")
}

#[test]
fn readers_see_whole_snapshots_and_versions_only_move_forward() {
    const PUBLISHES: u64 = 3000;
    let router = Router::new(snapshot(1));
    let done = Arc::new(AtomicBool::new(false));
    let readers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .max(2);
    let start = Arc::new(Barrier::new(readers + 1));
    let mut handles = Vec::new();
    for r in 0..readers {
        let router = router.clone();
        let done = Arc::clone(&done);
        let start = Arc::clone(&start);
        handles.push(std::thread::spawn(move || {
            let mut reader = router.reader();
            let mut last = 0u64;
            let mut lookups = 0u64;
            start.wait();
            let mut i = r as u64;
            while !done.load(Ordering::Relaxed) || lookups < 10_000 {
                i = (i + 1) % NUMBERS;
                let input = number(i).to_string();
                // Alternate the per-thread reader and the shared router.
                let (version, connector_version) = if i.is_multiple_of(2) {
                    let route = reader.lookup(&input).expect("valid").expect("routed");
                    (route.version, version_of(route.connector))
                } else {
                    let guard = router.lookup(&input).expect("valid").expect("routed");
                    (guard.version(), version_of(guard.connector()))
                };
                assert_eq!(version, connector_version, "a lookup mixed two snapshots");
                assert!(
                    version >= last,
                    "version went back from {last} to {version}"
                );
                last = version;
                // The whole snapshot a reader holds is one version.
                let snap = reader.snapshot();
                let v = snap.version();
                assert!(snap.iter().all(|(_, c)| version_of(c) == v));
                assert_eq!(snap.len() as u64, NUMBERS + 1);
                assert!(snap.get(number(NUMBERS + v % 2)).is_some());
                assert!(snap.get(number(NUMBERS + (v + 1) % 2)).is_none());
                lookups += 1;
            }
            (lookups, last)
        }));
    }
    start.wait();
    for version in 2..=PUBLISHES {
        router.publish(snapshot(version)).expect("newer version");
    }
    done.store(true, Ordering::Relaxed);
    for handle in handles {
        let (lookups, last) = handle.join().expect("reader panicked");
        assert!(lookups >= 10_000);
        assert!(last <= PUBLISHES);
    }
    assert_eq!(router.version(), PUBLISHES);
    let mut reader = router.reader();
    assert_eq!(reader.get(number(0)).map(|r| r.version), Some(PUBLISHES));
}

#[test]
fn concurrent_publishers_never_move_versions_back() {
    let router = Router::new(snapshot(1));
    let next = Arc::new(AtomicU64::new(2));
    let published = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (router, next, published) = (router.clone(), next.clone(), published.clone());
            std::thread::spawn(move || {
                let mut seen = 0;
                for _ in 0..250 {
                    let version = next.fetch_add(1, Ordering::SeqCst);
                    // Building takes a while, so publishers race with each other.
                    match router.publish(snapshot(version)) {
                        Ok(()) => {
                            published.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(PublishError::Stale { current, offered }) => {
                            assert!(current >= offered);
                        }
                        Err(other) => panic!("unexpected {other}"),
                    }
                    let now = router.version();
                    assert!(now >= seen);
                    seen = now;
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().expect("publisher panicked");
    }
    assert!(published.load(Ordering::SeqCst) > 0);
    assert_eq!(router.version(), next.load(Ordering::SeqCst) - 1);
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_router_follows_a_replaced_snapshot_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("routes.snap");
    snapshot(5).write_to(&path).expect("write v5");
    let router = Router::default();
    let follower = router
        .follow(&path, Duration::from_millis(10))
        .expect("follow");
    assert_eq!(router.version(), 5);

    snapshot(6).write_to(&path).expect("write v6");
    wait_for("version 6", || router.version() == 6);
    assert_eq!(follower.reloads(), 1);
    let route = router
        .lookup("+442079460000")
        .expect("valid")
        .expect("routed");
    assert_eq!(route.connector().connector_id, "v6");
    drop(route);

    // A corrupt replacement is reported and the router keeps serving version 6.
    let mut bytes = snapshot(7).to_file_bytes().expect("bytes");
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    let tmp = dir.path().join("corrupt.tmp");
    std::fs::write(&tmp, &bytes).expect("write corrupt");
    std::fs::rename(&tmp, &path).expect("rename");
    wait_for("the error", || follower.last_error().is_some());
    assert!(follower
        .last_error()
        .unwrap_or_default()
        .contains("checksum"));
    assert_eq!(router.version(), 6);

    // An older file is ignored; a newer one is picked up again.
    snapshot(3).write_to(&path).expect("write v3");
    snapshot(8).write_to(&path).expect("write v8");
    wait_for("version 8", || router.version() == 8);
    assert_eq!(follower.last_error(), None);

    drop(follower);
    snapshot(9).write_to(&path).expect("write v9");
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(router.version(), 8, "a dropped follower stops following");
}

#[test]
fn readers_never_free_replaced_snapshots() {
    let router = Router::new(snapshot(1));
    let mut reader = router.reader();
    let held = reader.snapshot().version();
    assert_eq!(held, 1);
    router.publish(snapshot(2)).expect("publish");
    // The reader still holds version 1: it is retired, not freed.
    assert_eq!(router.reclaim(), 1);
    // The reader moves on; its reference to version 1 goes, but the router's stays.
    assert_eq!(
        reader
            .lookup("+442079460000")
            .ok()
            .flatten()
            .map(|r| r.version),
        Some(2)
    );
    assert_eq!(
        router.reclaim(),
        0,
        "freed by the router, not by the reader"
    );
    router.publish(snapshot(3)).expect("publish");
    assert_eq!(
        router.reclaim(),
        1,
        "version 2 is still in the reader's cache"
    );
}

#[test]
fn a_deferred_router_frees_replaced_snapshots_only_when_reclaiming() {
    let published = |router: &Router, version| {
        let snapshot = std::sync::Arc::new(snapshot(version));
        let weak = std::sync::Arc::downgrade(&snapshot);
        router.publish_arc(snapshot).expect("publish");
        weak
    };
    // By default the publisher frees what no reader holds, as it publishes.
    let router = Router::new(snapshot(1));
    let two = published(&router, 2);
    router.publish(snapshot(3)).expect("publish");
    assert_eq!(two.strong_count(), 0, "freed by the publish");

    // Deferred: publishing frees nothing; reclaiming does.
    let router = Router::new(snapshot(1));
    router.defer_reclaim();
    let two = published(&router, 2);
    let three = published(&router, 3);
    router.publish(snapshot(4)).expect("publish");
    assert_eq!((two.strong_count(), three.strong_count()), (1, 1));
    let mut reader = router.reader();
    assert_eq!(reader.snapshot().version(), 4);
    assert_eq!(router.reclaim(), 0);
    assert_eq!((two.strong_count(), three.strong_count()), (0, 0));
    // One a reader holds is kept until it lets go.
    let _held = reader.snapshot();
    let four = std::sync::Arc::downgrade(&router.snapshot());
    router.publish(snapshot(5)).expect("publish");
    assert_eq!(router.reclaim(), 1);
    assert!(four.strong_count() > 0);
}
