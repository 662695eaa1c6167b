//! The index at scale: 10,000,000 numbers over 10,000 connectors by default.
//! `PATCHBAY_SCALE_NUMBERS` and `PATCHBAY_SCALE_CONNECTORS` set the size (CI runs a small
//! smoke); the benchmark names carry the size (`build_10m`, `build_100k`, ...).
//!
//! - `build_<n>`: `Snapshot::from_routes` over every `(number, &Connector)` pair.
//! - `publish_one_<n>`: in a `Router` serving the table, patch one number to another
//!   connector (`Snapshot::patch`), publish, and spin until a `Reader` on this thread sees
//!   it. One iteration is that whole cycle, the old snapshot's release included.
//! - `publish_100k_<n>`: the same with one patch moving 100,000 numbers (a tenth of the
//!   table when it is smaller than a million), spinning until the last moved one is seen.
//! - `reader_<n>`: `Reader::lookup(&str)` over shuffled probes of the table (2^22, or the
//!   table's size rounded up to a power of two when smaller).
//! - `reader_get_e164_<n>`: the same reader on the same probes pre-parsed to `E164`: the
//!   index without the text.
//! - `baseline_fxhashmap_u64_<n>`: the floor, `FxHashMap<u64, u32>::get` on the same probes
//!   pre-parsed.
//!
//! Compare `publish_one` and `publish_100k` with `build` (a publish used to be a build),
//! and `reader` with the floor, within one run.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use patchbay_benches::{Fixture, SEED};
use patchbay_core::{Reader, Router, Snapshot, E164};

fn size(var: &str, default: usize) -> usize {
    match std::env::var(var) {
        Ok(text) => text
            .replace('_', "")
            .parse()
            .unwrap_or_else(|e| panic!("{var}={text:?}: {e}")),
        Err(_) => default,
    }
}

/// `10m`, `1m`, `100k`, or the plain count.
fn label(n: usize) -> String {
    match n {
        n if n >= 1_000_000 && n.is_multiple_of(1_000_000) => format!("{}m", n / 1_000_000),
        n if n >= 1_000 && n.is_multiple_of(1_000) => format!("{}k", n / 1_000),
        n => n.to_string(),
    }
}

/// Spins until `reader` sees `number` at `connector_id`.
fn wait_for(reader: &mut Reader, number: E164, connector_id: &str) {
    loop {
        match reader.get(number) {
            Some(route) if route.connector.connector_id == connector_id => {
                black_box(route.version);
                return;
            }
            _ => std::hint::spin_loop(),
        }
    }
}

/// Patches `numbers[at]` for each `at` of `moved` to the next connector, publishes, and
/// waits until `reader` sees the last one moved.
fn publish_moves(
    router: &Router,
    reader: &mut Reader,
    fixture: &Fixture,
    assignment: &mut [u32],
    version: u64,
    moved: impl Iterator<Item = usize>,
) {
    let connectors = fixture.connectors.len() as u32;
    let current = router.snapshot();
    let mut patch = current.patch(version);
    let mut last = None;
    for at in moved {
        assignment[at] = (assignment[at] + 1) % connectors;
        let id = &fixture.connectors[assignment[at] as usize].connector_id;
        patch.route(fixture.numbers[at], id);
        last = Some(at);
    }
    router
        .publish(patch.finish().expect("patches"))
        .expect("a newer version");
    drop(current);
    if let Some(at) = last {
        let id = &fixture.connectors[assignment[at] as usize].connector_id;
        wait_for(reader, fixture.numbers[at], id);
    }
    // The replaced snapshot is freed here, by the publisher, once no reader holds it.
    router.reclaim();
}

fn scale(c: &mut Criterion) {
    let numbers = size("PATCHBAY_SCALE_NUMBERS", 10_000_000);
    let connectors = size("PATCHBAY_SCALE_CONNECTORS", 10_000);
    let bulk = 100_000.min(numbers / 10).max(1);
    let (n, b) = (label(numbers), label(bulk));
    let started = Instant::now();
    let probes = numbers.next_power_of_two().clamp(1 << 10, 1 << 22);
    let fixture = Fixture::new(numbers, connectors, probes, SEED);
    let router = fixture.router(1);
    let fx_u64 = fixture.floor_map();
    {
        let snapshot = router.snapshot();
        assert_eq!(snapshot.len(), numbers);
        for i in (0..fixture.probes.len()).step_by(61) {
            let expected = fixture.connector_of(fixture.probes.order()[i] as usize);
            assert_eq!(
                snapshot.lookup(fixture.probes.str(i)).expect("valid"),
                Some(&**expected)
            );
        }
        eprintln!(
            "scale: {numbers} numbers, {connectors} connectors, {} shards, index {:.1} bytes per number (set up in {:.1?})",
            snapshot.shard_count(),
            snapshot.index_bytes() as f64 / numbers as f64,
            started.elapsed()
        );
    }

    let mut group = c.benchmark_group("scale");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(8));

    group.bench_function(format!("build_{n}"), |bench| {
        bench.iter_with_large_drop(|| {
            Snapshot::from_routes(2, black_box(fixture.route_pairs())).expect("builds")
        });
    });

    let mut reader = router.reader();
    let mut assignment = fixture.assignment.clone();
    let mut version = 1u64;
    group.bench_function(format!("publish_one_{n}"), |bench| {
        bench.iter(|| {
            version += 1;
            let at = (version as usize).wrapping_mul(7_919) % numbers;
            publish_moves(
                &router,
                &mut reader,
                &fixture,
                &mut assignment,
                version,
                [at].into_iter(),
            );
        });
    });

    group.bench_function(format!("publish_{b}_{n}"), |bench| {
        bench.iter(|| {
            version += 1;
            let start = (version as usize).wrapping_mul(104_729);
            let moved = (0..bulk).map(|k| (start + k * 7_919) % numbers);
            publish_moves(
                &router,
                &mut reader,
                &fixture,
                &mut assignment,
                version,
                moved,
            );
        });
    });

    // Lookups: many per sample, so criterion's sample count can stay small.
    group.sample_size(30);
    group.throughput(Throughput::Elements(1));
    group.measurement_time(Duration::from_secs(4));
    let probes = &fixture.probes;
    let mut i = 0usize;
    group.bench_function(format!("reader_{n}"), |bench| {
        bench.iter(|| {
            let found = reader.lookup(probes.str(i));
            i = i.wrapping_add(1);
            black_box(&found);
        });
    });
    let parsed: Vec<E164> = probes
        .order()
        .iter()
        .map(|&at| fixture.numbers[at as usize])
        .collect();
    group.bench_function(format!("reader_get_e164_{n}"), |bench| {
        bench.iter(|| {
            let found = reader.get(parsed[i & probes.mask()]);
            i = i.wrapping_add(1);
            black_box(&found);
        });
    });
    group.bench_function(format!("baseline_fxhashmap_u64_{n}"), |bench| {
        bench.iter(|| {
            let found = fx_u64.get(&probes.key(i)).copied();
            i = i.wrapping_add(1);
            black_box(&found);
        });
    });
    group.finish();
}

criterion_group!(benches, scale);
criterion_main!(benches);
