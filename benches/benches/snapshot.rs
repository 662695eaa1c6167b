//! Building, publishing and opening 1,000,000-number snapshots.
//!
//! - `build_1m`: `Snapshot::from_routes` over 1M `(number, &Connector)` pairs.
//! - `publish_1m`: in a `Router` serving 1M numbers, patch the next version with one number
//!   moved to another connector (`Snapshot::patch`), publish it, and spin until a `Reader`
//!   on this thread sees the change. One iteration is that whole cycle (the old snapshot is
//!   freed inside it).
//! - `open_1m`: `Snapshot::open` of a 1M-number snapshot file (written once with
//!   `write_to` into a temporary directory, so it is in the page cache), plus the first
//!   lookup.
//! - `baseline_read_1m`: `std::fs::read` of the same file: the cost of just getting the
//!   bytes.
//!
//! `build_1m`, `open_1m` and `baseline_read_1m` drop their results outside the timing
//! (`iter_with_large_drop`).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use patchbay_benches::Fixture;
use patchbay_core::{Snapshot, E164};

fn snapshot(c: &mut Criterion) {
    let started = Instant::now();
    let fixture = Fixture::standard();
    let numbers = fixture.numbers.len() as u64;

    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("routes.pbsnap");
    let size = fixture
        .snapshot(1)
        .write_to(&path)
        .expect("the snapshot file is written");
    assert_eq!(std::fs::metadata(&path).expect("metadata").len(), size);
    eprintln!(
        "snapshot: file of {numbers} numbers and {} connectors is {size} bytes, {:.2} bytes per number (set up in {:.1?})",
        fixture.connectors.len(),
        size as f64 / numbers as f64,
        started.elapsed()
    );
    let first_probe = fixture.probes.str(0);
    {
        let opened = Snapshot::open(&path).expect("opens");
        assert_eq!(opened.len(), fixture.numbers.len());
        let expected = fixture.connector_of(fixture.probes.order()[0] as usize);
        assert_eq!(
            opened.lookup(first_probe).expect("valid"),
            Some(&**expected)
        );
    }

    let mut group = c.benchmark_group("snapshot");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(10));

    group.bench_function("build_1m", |b| {
        b.iter_with_large_drop(|| {
            Snapshot::from_routes(2, black_box(fixture.route_pairs())).expect("builds")
        });
    });

    // The router and the reader persist across samples; versions keep increasing.
    let router = fixture.router(1);
    let mut reader = router.reader();
    let mut assignment = fixture.assignment.clone();
    let mut version = 1u64;
    let connectors = fixture.connectors.len() as u32;
    group.bench_function("publish_1m", |b| {
        b.iter(|| {
            version += 1;
            // Move one number to the next connector; every other number stays.
            let changed = (version as usize * 7_919) % assignment.len();
            assignment[changed] = (assignment[changed] + 1) % connectors;
            let number: E164 = fixture.numbers[changed];
            let expected = &*fixture.connectors[assignment[changed] as usize];
            let current = router.snapshot();
            let mut patch = current.patch(version);
            patch.route(number, &expected.connector_id);
            let next = patch.finish().expect("patches");
            drop(current);
            router.publish(next).expect("a newer version");
            loop {
                match reader.get(number) {
                    Some(route) if route.connector == expected => {
                        black_box(route.version);
                        break;
                    }
                    _ => std::hint::spin_loop(),
                }
            }
        });
    });

    group.bench_function("open_1m", |b| {
        b.iter_with_large_drop(|| {
            let opened = Snapshot::open(&path).expect("opens");
            black_box(opened.lookup(first_probe).expect("valid").is_some());
            opened
        });
    });

    group.bench_function("baseline_read_1m", |b| {
        b.iter_with_large_drop(|| std::fs::read(&path).expect("reads"));
    });

    group.finish();
}

criterion_group!(benches, snapshot);
criterion_main!(benches);
