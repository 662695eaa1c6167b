//! Criterion group `history`: reading the change history of a large store.
//!
//! The store: `PATCHBAY_BENCH_HISTORY_NUMBERS` numbers (default 1,000,000; 10,000,000 for
//! the figures of record), imported in changes of 100,000, then
//! `PATCHBAY_BENCH_HISTORY_CHANGES` one-number changes (default 100,000; 1,000,000 for the
//! figures of record), each moving one of the first 10,000 numbers between two connectors,
//! made by 32 clients at once (group commit), so each of those numbers has about a hundred
//! changes at the default size.
//!
//! - `number_history`: `GET /changes?number=` for one of those numbers, a page of 100;
//! - `number_history_bulk_only`: the same for a number only the bulk import touched;
//! - `project_page`: the project's newest 100 changes;
//! - `as_of_lookup`: a lookup of that number at the instant of the middle one of its page of
//!   changes;
//! - `lookup_now`: the lookup of the same number now (the snapshot's, for scale).
//!
//! `PATCHBAY_BENCH_HISTORY_STORE=postgres` measures the same through a node of a shared
//! store on a throwaway PostgreSQL cluster (its history is the store's indexed tables)
//! instead of a data directory.

#[path = "../../crates/patchbay-admin/tests/pg/mod.rs"]
mod pg;

use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use patchbay_admin::{
    Admin, AdminConfig, Caller, ChangesQuery, DataDir, ImportRequest, MemoryStore, NewConnector,
    Postgres,
};
use patchbay_core::ClientEnv;

const CHUNK: usize = 100_000;
const MOVED: usize = 10_000;

fn size(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn connector(admin: &Admin, name: &str) -> String {
    admin
        .create_connector(
            &Caller::Operator,
            "p",
            NewConnector {
                name: name.into(),
                client_env: ClientEnv::Live,
                asr_lang_code: "en-US".into(),
                voice_name: "en-US-Neural2-A".into(),
                variant_id: None,
                disable_handoff: None,
            },
        )
        .expect("connector")
        .connector_id
}

fn history(c: &mut Criterion) {
    let numbers = size("PATCHBAY_BENCH_HISTORY_NUMBERS", 1_000_000);
    let changes = size("PATCHBAY_BENCH_HISTORY_CHANGES", 100_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let config = AdminConfig {
        max_bulk: CHUNK,
        ..AdminConfig::default()
    };
    let shared = std::env::var("PATCHBAY_BENCH_HISTORY_STORE").is_ok_and(|s| s == "postgres");
    // Kept until the end: the cluster stops when dropped.
    let cluster = shared.then(pg::PgCluster::start);
    let admin = match &cluster {
        Some(cluster) => {
            let store = Postgres::connect(&cluster.database(), "bench").expect("connect");
            Admin::open_shared(Box::new(MemoryStore::default()), store, config).expect("open")
        }
        None => {
            Admin::open(Box::new(DataDir::open(dir.path()).expect("dir")), config).expect("open")
        }
    };
    eprintln!(
        "history fixture: {}",
        if shared {
            "a PostgreSQL store"
        } else {
            "a data directory"
        }
    );
    let op = Caller::Operator;
    admin.create_project(&op, "acme", "p").expect("project");
    let (first, second) = (connector(&admin, "first"), connector(&admin, "second"));
    let started = Instant::now();
    let requests = (0..numbers).step_by(CHUNK).map(|from| {
        let request = ImportRequest {
            phone_numbers: (from..(from + CHUNK).min(numbers))
                .map(patchbay_benches::us_number)
                .collect(),
            client_env: None,
            connector_id: Some(first.clone()),
        };
        (request, ())
    });
    admin
        .import_batches(&op, "p", requests, |(), _, result| {
            assert!(result.errors.is_empty(), "{:?}", result.errors.first());
        })
        .expect("import");
    eprintln!(
        "history fixture: imported {numbers} numbers in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    std::thread::scope(|scope| {
        let clients = 32;
        for client in 0..clients {
            let (admin, first, second) = (&admin, &first, &second);
            scope.spawn(move || {
                for i in (client..changes).step_by(clients) {
                    let number = patchbay_benches::us_number(i % MOVED.min(numbers));
                    let to = if (i / MOVED).is_multiple_of(2) {
                        second
                    } else {
                        first
                    };
                    admin
                        .assign_number(&Caller::Operator, "p", &number, Some(to))
                        .expect("move");
                }
            });
        }
    });
    eprintln!(
        "history fixture: {changes} one-number changes in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let moved = patchbay_benches::us_number(7);
    let bulk_only = patchbay_benches::us_number(numbers - 1);
    let key = |number: &str| ChangesQuery {
        number: Some(number.to_string()),
        ..ChangesQuery::default()
    };
    let page = admin.changes(&op, "p", &key(&moved)).expect("history");
    assert_eq!(
        page.changes.len(),
        100.min(changes / MOVED + 1),
        "a page of the number's changes"
    );
    // An instant among the number's changes: the middle one of its page.
    let middle = page.changes[page.changes.len() / 2].at.clone();
    let mut group = c.benchmark_group("history");
    group.sample_size(50);
    group.bench_function("number_history", |b| {
        b.iter(|| admin.changes(&op, "p", &key(&moved)).expect("history"))
    });
    group.bench_function("number_history_bulk_only", |b| {
        b.iter(|| admin.changes(&op, "p", &key(&bulk_only)).expect("history"))
    });
    group.bench_function("project_page", |b| {
        b.iter(|| {
            admin
                .changes(&op, "p", &ChangesQuery::default())
                .expect("page")
        })
    });
    group.bench_function("as_of_lookup", |b| {
        b.iter(|| {
            admin
                .lookup_at(&op, Some("p"), &moved, &middle)
                .expect("as of")
        })
    });
    group.bench_function("lookup_now", |b| {
        b.iter(|| admin.lookup_route(&op, "p", &moved).expect("now"))
    });
    group.finish();
}

criterion_group!(benches, history);
criterion_main!(benches);
