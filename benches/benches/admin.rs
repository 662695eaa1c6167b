//! Criterion group `admin`: durable changes against a store of a million numbers.
//!
//! - `import_100k`: one bulk import of 100,000 new numbers into the store of 1,000,000 (one
//!   change: validation, journal append with fsync, apply, snapshot build, publish); each
//!   is undone, untimed, so the store stays at a million.
//! - `update_one_1m`: one connector update, durable, until a reader on this thread sees it.
//! - `import_one_1m`: one number imported to a connector in that store (one change: journal
//!   append with fsync, apply, snapshot patch, publish), until a reader on this thread sees
//!   it; each is deleted again, untimed.
//! - `baseline_append_100k`: the journal append (with fsync) of a record the size of the
//!   import's, alone: the floor of durability for that change.
//! - `baseline_build_1m`: building the routing snapshot of the store alone.
//!
//! Imports into an empty store, as `patchbay import` does them (requests of 100,000 numbers,
//! two in flight through `Admin::import_batches`, durable, then a checkpoint), of
//! `PATCHBAY_BENCH_IMPORT` numbers (default 1,000,000; the ids keep the name):
//!
//! - `import_1m_mixed`: valid numbers from every country, in about equal shares
//!   (`patchbay_benches::mixed_numbers`);
//! - `import_1m_us`: the same count of North American numbers;
//! - `import_1m_us_no_history`: the same without a change history (`record_history` off):
//!   the baseline of what recording the history costs an import.
//!
//! Group commit, into a data directory (one fsync a group) of a few thousand numbers:
//!
//! - `sequential_one_number`: one client importing 256 numbers, one change each;
//! - `concurrent_one_number_32`: 32 clients importing 8 numbers each, one change each, at
//!   once. Both report numbers per second; the ratio is what group commit buys.
//! - `..._no_history`: each of the two without a change history, the baseline of what
//!   recording it costs one-number changes.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use patchbay_admin::{
    Admin, AdminConfig, Caller, ConnectorPatch, DataDir, ImportRequest, NewConnector, Patch, Store,
};
use patchbay_core::{ClientEnv, Snapshot};

const STORE: usize = 1_000_000;
const CHUNK: usize = 100_000;

fn number(i: usize) -> String {
    patchbay_benches::us_number(i)
}

fn request(from: usize, connector: &str) -> ImportRequest {
    ImportRequest {
        phone_numbers: (from..from + CHUNK).map(number).collect(),
        client_env: None,
        connector_id: Some(connector.to_string()),
    }
}

struct Fixture {
    admin: Admin,
    connectors: Vec<String>,
    _dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let (admin, dir) = empty_store(true);
    let op = Caller::Operator;
    let connectors: Vec<String> = (0..10)
        .map(|i| {
            admin
                .create_connector(
                    &op,
                    "p",
                    NewConnector {
                        name: format!("c{i}"),
                        client_env: ClientEnv::Live,
                        asr_lang_code: "en-US".into(),
                        voice_name: "en-US-Neural2-A".into(),
                        variant_id: None,
                        disable_handoff: None,
                    },
                )
                .expect("connector")
                .connector_id
        })
        .collect();
    let started = Instant::now();
    for (chunk, from) in (0..STORE).step_by(CHUNK).enumerate() {
        let result = admin
            .import_numbers(
                &op,
                "p",
                &request(from, &connectors[chunk % connectors.len()]),
            )
            .expect("import");
        assert!(result.errors.is_empty(), "{:?}", result.errors.first());
    }
    eprintln!(
        "admin fixture: imported {STORE} numbers in {:.1} s ({:.0} numbers/s), 10 changes of {CHUNK}",
        started.elapsed().as_secs_f64(),
        STORE as f64 / started.elapsed().as_secs_f64()
    );
    Fixture {
        admin,
        connectors,
        _dir: dir,
    }
}

fn admin(c: &mut Criterion) {
    let f = fixture();
    let op = Caller::Operator;
    let mut group = c.benchmark_group("admin");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(20));

    // Each timed import is undone (untimed) so that every one lands in a store of 1M.
    let mut round = 0;
    group.bench_function("import_100k", |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                round += 1;
                let r = request(STORE * 2 + (round % 5) * CHUNK, &f.connectors[0]);
                let started = Instant::now();
                let result = f.admin.import_numbers(&op, "p", &r).expect("import");
                total += started.elapsed();
                assert!(result.errors.is_empty(), "{:?}", result.errors.first());
                let deleted = f
                    .admin
                    .delete_numbers(&op, "p", &r.phone_numbers)
                    .expect("undo");
                assert_eq!(deleted.deleted.len(), CHUNK);
            }
            total
        })
    });

    let mut reader = f.admin.router().reader();
    let target = f.connectors[1].clone();
    let probe = number(CHUNK); // routed to connectors[1]
    let mut flip = 0u64;
    group.bench_function("update_one_1m", |b| {
        b.iter(|| {
            flip += 1;
            let variant = format!("v{flip}");
            let patch = ConnectorPatch {
                variant_id: Patch::Value(variant.clone()),
                ..ConnectorPatch::default()
            };
            f.admin
                .update_connector(&op, "p", &target, &patch)
                .expect("update");
            let route = reader.lookup(&probe).expect("valid").expect("routed");
            assert_eq!(
                route.connector.variant_id, variant,
                "the reader sees the change"
            );
        })
    });

    group.bench_function("import_one_1m", |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                round += 1;
                let one = ImportRequest {
                    phone_numbers: vec![number(STORE * 3 + round % 1000)],
                    client_env: None,
                    connector_id: Some(target.clone()),
                };
                let started = Instant::now();
                let result = f.admin.import_numbers(&op, "p", &one).expect("import");
                let route = reader
                    .lookup(&one.phone_numbers[0])
                    .expect("valid")
                    .expect("routed");
                total += started.elapsed();
                assert!(result.errors.is_empty(), "{:?}", result.errors.first());
                assert_eq!(route.connector.connector_id, target);
                f.admin
                    .delete_numbers(&op, "p", &one.phone_numbers)
                    .expect("undo");
            }
            total
        })
    });

    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = DataDir::open(dir.path()).expect("dir");
    let payload = vec![b'x'; serde_json_len_of_import()];
    let mut seq = 0;
    group.bench_function("baseline_append_100k", |b| {
        b.iter(|| {
            seq += 1;
            store.append(seq, &payload).expect("append");
        })
    });

    // Building the routing snapshot of the store alone, the way the admin does: every
    // connector once, then every number by connector slot.
    let snapshot = f.admin.router().snapshot();
    let connectors = snapshot.connectors().cloned().collect::<Vec<_>>();
    let routes: Vec<(patchbay_core::E164, usize)> = snapshot
        .iter()
        .map(|(n, c)| {
            let slot = connectors
                .iter()
                .position(|k| k.connector_id == c.connector_id);
            (n, slot.expect("known connector"))
        })
        .collect();
    let mut version = 1_000_000;
    group.bench_function("baseline_build_1m", |b| {
        b.iter(|| {
            version += 1;
            let mut builder = Snapshot::builder(version);
            let slots: Vec<_> = connectors
                .iter()
                .map(|c| builder.connector(c.clone()).expect("connector"))
                .collect();
            for &(number, slot) in &routes {
                builder.route(number, slots[slot]).expect("route");
            }
            builder.build().expect("build")
        })
    });
    group.finish();
    assert_eq!(
        f.admin.number_count(),
        STORE,
        "the store stayed at a million"
    );
}

/// Bytes of the journal record of one 100k import (numbers as JSON strings).
fn serde_json_len_of_import() -> usize {
    // `{"op":"put_numbers",...,"numbers":["+12125550000",...]}`: 15 bytes a number.
    CHUNK * 15 + 128
}

/// The size of the import benchmarks.
fn import_size() -> usize {
    std::env::var("PATCHBAY_BENCH_IMPORT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000)
}

/// An admin on a fresh data directory with project `p`, keeping a change history or not.
fn empty_store(history: bool) -> (Admin, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = AdminConfig {
        max_bulk: CHUNK,
        record_history: history,
        ..AdminConfig::default()
    };
    let admin =
        Admin::open(Box::new(DataDir::open(dir.path()).expect("dir")), config).expect("open");
    admin
        .create_project(&Caller::Operator, "acme", "p")
        .expect("project");
    (admin, dir)
}

/// Imports `numbers` as `patchbay import` does, and returns the time it took (with the
/// checkpoint after it, which waits for the history to hold the changes it covers).
fn import_all(numbers: &[String], history: bool) -> Duration {
    let (admin, _dir) = empty_store(history);
    let requests = numbers.chunks(CHUNK).map(|chunk| {
        let request = ImportRequest {
            phone_numbers: chunk.to_vec(),
            client_env: None,
            connector_id: None,
        };
        (request, ())
    });
    let started = Instant::now();
    admin
        .import_batches(&Caller::Operator, "p", requests, |(), _, result| {
            assert!(result.errors.is_empty(), "{:?}", result.errors.first());
        })
        .expect("import");
    admin.checkpoint().expect("checkpoint");
    let elapsed = started.elapsed();
    assert_eq!(admin.number_count(), numbers.len());
    elapsed
}

fn imports(c: &mut Criterion) {
    let size = import_size();
    let mixed = patchbay_benches::mixed_numbers(size, 1);
    let us: Vec<String> = (0..size).map(number).collect();
    let mut group = c.benchmark_group("admin");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(15));
    group.throughput(Throughput::Elements(size as u64));
    for (name, numbers, history) in [
        ("import_1m_mixed", &mixed, true),
        ("import_1m_us", &us, true),
        ("import_1m_us_no_history", &us, false),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iterations| (0..iterations).map(|_| import_all(numbers, history)).sum())
        });
    }

    const CHANGES: usize = 256;
    group.throughput(Throughput::Elements(CHANGES as u64));
    group.measurement_time(Duration::from_secs(10));
    let mut round = 0;
    let mut one_number_changes = |clients: usize, history: bool, iterations: u64| -> Duration {
        let mut total = Duration::ZERO;
        for _ in 0..iterations {
            // A fresh store each time, so every measurement imports into the same size.
            let (admin, _dir) = empty_store(history);
            round += 1;
            let base = round * CHANGES;
            let started = Instant::now();
            std::thread::scope(|scope| {
                for client in 0..clients {
                    let admin = &admin;
                    scope.spawn(move || {
                        for i in (client..CHANGES).step_by(clients) {
                            let request = ImportRequest {
                                phone_numbers: vec![number(base + i)],
                                client_env: None,
                                connector_id: None,
                            };
                            let result = admin
                                .import_numbers(&Caller::Operator, "p", &request)
                                .expect("import");
                            assert!(result.errors.is_empty(), "{:?}", result.errors);
                        }
                    });
                }
            });
            total += started.elapsed();
            assert_eq!(admin.number_count(), CHANGES);
        }
        total
    };
    group.bench_function("sequential_one_number", |b| {
        b.iter_custom(|iterations| one_number_changes(1, true, iterations))
    });
    group.bench_function("sequential_one_number_no_history", |b| {
        b.iter_custom(|iterations| one_number_changes(1, false, iterations))
    });
    group.bench_function("concurrent_one_number_32", |b| {
        b.iter_custom(|iterations| one_number_changes(32, true, iterations))
    });
    group.bench_function("concurrent_one_number_32_no_history", |b| {
        b.iter_custom(|iterations| one_number_changes(32, false, iterations))
    });
    group.finish();
}

criterion_group!(benches, admin, imports);
criterion_main!(benches);
