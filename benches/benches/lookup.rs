//! Per-call lookup: patchbay's `Reader` and `Router` against named baselines.
//!
//! Every variant serves the same 1,000,000-number table and answers the same shuffled probe
//! sequence (2^20 probes, all hits). One iteration is one lookup of the next probe; string
//! variants read the probe's `&str` from a sequential array (the texts themselves sit in one
//! contiguous buffer of 16-byte slots), the `u64` baseline reads pre-parsed keys from a
//! sequential `Vec<u64>` in the same order.
//!
//! - `reader`: a per-thread `patchbay_core::Reader`, `reader.lookup(&str)`.
//! - `reader_get_e164`: the same reader on pre-parsed `E164` numbers (a sequential
//!   `Vec<E164>` in the same order): the index and the snapshot handle without the text.
//! - `baseline_fxhashmap_parse`: the floor reading the same probe text with a bare digit
//!   loop (no validation): what text input costs by itself.
//! - `latency_reader_get_e164`, `latency_fxhashmap_u64`: the same two lookups made to wait
//!   for each other (the next key depends on the previous answer through a zero the
//!   compiler cannot see), so none overlap: what one lookup waits for on its own.
//! - `router`: the shared `Router::lookup(&str)`.
//! - `baseline_fxhashmap_u64`: `FxHashMap<u64, u32>::get` on pre-parsed keys (the floor).
//! - `baseline_rwlock_string`: `parking_lot::RwLock<HashMap<String, Arc<Connector>>>`:
//!   read lock, get, clone the `Arc` out.
//! - `baseline_dashmap_string`: `DashMap<String, Arc<Connector>>`: get, clone the `Arc`.
//! - `baseline_papaya_string`, `baseline_papaya_u64`: `papaya::HashMap` with string keys
//!   (`Arc<Connector>` values, cloned out) and with pre-parsed `u64` keys (`u32` slots), each
//!   lookup under its own `pin()`, as its documentation writes it; default hasher.
//! - `baseline_scc_string`, `baseline_scc_u64`: `scc::HashIndex`, the same two ways, with
//!   `peek_with` (its lock-free read); default hasher.
//! - `baseline_phonenumber`: `phonenumber::parse`, format as E.164, then a get in a
//!   `HashMap<String, Arc<Connector>>` (what a naive integration does per call). The
//!   `phonenumber` crate is a dependency of the benchmarks only, for this baseline.
//! - `baseline_rlibphonenumber`: the same with `rlibphonenumber` (the metadata library
//!   patchbay uses for national formats and import validity), its global `PhoneNumberUtil`.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dashmap::DashMap;
use parking_lot::RwLock;
use patchbay_benches::Fixture;
use patchbay_core::Connector;
use phonenumber::Mode;

/// What a naive integration does per call: parse with libphonenumber's port, format the
/// canonical key, look the string up.
#[inline]
fn phonenumber_lookup(
    map: &HashMap<String, Arc<Connector>>,
    input: &str,
) -> Option<Arc<Connector>> {
    let number = phonenumber::parse(None, input).ok()?;
    let key = number.format().mode(Mode::E164).to_string();
    map.get(&key).cloned()
}

/// The naive integration with `rlibphonenumber`.
#[inline]
fn rlibphonenumber_lookup(
    map: &HashMap<String, Arc<Connector>>,
    input: &str,
) -> Option<Arc<Connector>> {
    use rlibphonenumber::{PhoneNumberFormat, PHONE_NUMBER_UTIL};
    let number = PHONE_NUMBER_UTIL.parse(input, None).ok()?;
    let key = PHONE_NUMBER_UTIL.format(&number, PhoneNumberFormat::E164);
    map.get(key.as_ref()).cloned()
}

fn lookup(c: &mut Criterion) {
    let started = Instant::now();
    let fixture = Fixture::standard();
    let probes = &fixture.probes;
    let router = fixture.router(1);

    let fx_u64 = fixture.floor_map();
    let string_map: HashMap<String, Arc<Connector>> = fixture
        .numbers
        .iter()
        .enumerate()
        .map(|(i, number)| (number.to_string(), Arc::clone(fixture.connector_of(i))))
        .collect();
    let rwlock = RwLock::new(string_map.clone());
    let dashmap: DashMap<String, Arc<Connector>> = string_map
        .iter()
        .map(|(k, v)| (k.clone(), Arc::clone(v)))
        .collect();
    let papaya_string: papaya::HashMap<String, Arc<Connector>> = string_map
        .iter()
        .map(|(k, v)| (k.clone(), Arc::clone(v)))
        .collect();
    let papaya_u64: papaya::HashMap<u64, u32> = fx_u64.iter().map(|(&k, &v)| (k, v)).collect();
    let scc_string: scc::HashIndex<String, Arc<Connector>> = scc::HashIndex::default();
    let scc_u64: scc::HashIndex<u64, u32> = scc::HashIndex::default();
    for (k, v) in &string_map {
        assert!(scc_string.insert_sync(k.clone(), Arc::clone(v)).is_ok());
    }
    for (&k, &v) in &fx_u64 {
        assert!(scc_u64.insert_sync(k, v).is_ok());
    }

    // Every variant finds the right connector for every probe (the phonenumber baseline
    // for a sample: it is slow).
    {
        let mut reader = router.reader();
        for i in 0..probes.len() {
            let expected = fixture.connector_of(probes.order()[i] as usize);
            let s = probes.str(i);
            let found = reader.lookup(s).expect("valid").expect("hit");
            assert_eq!(found.connector, &**expected);
            let guard = router.lookup(s).expect("valid").expect("hit");
            assert_eq!(guard.connector(), &**expected);
            let slot = fx_u64[&probes.key(i)];
            assert!(Arc::ptr_eq(&fixture.connectors[slot as usize], expected));
            assert!(Arc::ptr_eq(&rwlock.read()[s], expected));
            assert!(Arc::ptr_eq(&dashmap.get(s).expect("hit"), expected));
            assert!(Arc::ptr_eq(
                papaya_string.pin().get(s).expect("hit"),
                expected
            ));
            assert_eq!(papaya_u64.pin().get(&probes.key(i)), Some(&slot));
            let found = scc_string.peek_with(s, |_, v| Arc::clone(v)).expect("hit");
            assert!(Arc::ptr_eq(&found, expected));
            assert_eq!(scc_u64.peek_with(&probes.key(i), |_, v| *v), Some(slot));
            if i % 64 == 0 {
                let found = phonenumber_lookup(&string_map, s).expect("hit");
                assert!(Arc::ptr_eq(&found, expected));
                let found = rlibphonenumber_lookup(&string_map, s).expect("hit");
                assert!(Arc::ptr_eq(&found, expected));
            }
        }
    }
    eprintln!(
        "lookup: {} numbers, {} connectors, {} probes, set up and checked in {:.1?}",
        fixture.numbers.len(),
        fixture.connectors.len(),
        probes.len(),
        started.elapsed()
    );

    let parsed: Vec<_> = probes
        .order()
        .iter()
        .map(|&at| fixture.numbers[at as usize])
        .collect();

    let mut group = c.benchmark_group("lookup");
    group.throughput(Throughput::Elements(1));
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(4));

    // Criterion calls each closure once per sample: the probe position (and the reader)
    // live outside it, so every sample continues the sequence instead of replaying its
    // start (which would keep the replayed entries cache-hot).
    let mut reader = router.reader();
    let mut i = 0usize;
    group.bench_function("reader", |b| {
        b.iter(|| {
            let found = reader.lookup(probes.str(i));
            i = i.wrapping_add(1);
            black_box(&found);
        });
    });

    group.bench_function("reader_get_e164", |b| {
        b.iter(|| {
            let found = reader.get(parsed[i & probes.mask()]);
            i = i.wrapping_add(1);
            black_box(&found);
        });
    });

    group.bench_function("router", |b| {
        b.iter(|| {
            let found = router.lookup(probes.str(i));
            i = i.wrapping_add(1);
            black_box(&found);
        });
    });

    group.bench_function("baseline_fxhashmap_u64", |b| {
        b.iter(|| {
            let found = fx_u64.get(&probes.key(i)).copied();
            i = i.wrapping_add(1);
            black_box(&found);
        });
    });

    // The floor again, reading the same probe text as the patchbay variants with the
    // simplest digit loop (no validation at all): what text input costs by itself.
    group.bench_function("baseline_fxhashmap_parse", |b| {
        b.iter(|| {
            let text = probes.str(i).as_bytes();
            let key = text
                .iter()
                .skip(1)
                .fold(0u64, |acc, &d| acc * 10 + u64::from(d.wrapping_sub(b'0')));
            let found = fx_u64.get(&key).copied();
            i = i.wrapping_add(1);
            black_box(&found);
        });
    });

    // The next probe's position depends on the previous answer (ANDed with a zero the
    // compiler cannot see), so the processor cannot overlap lookups: the time of one lookup
    // on its own.
    let zero = black_box(0usize);
    let mut previous = 0usize;
    group.bench_function("latency_reader_get_e164", |b| {
        b.iter(|| {
            let found = reader.get(parsed[(i | (previous & zero)) & probes.mask()]);
            previous = found.map_or(1, |route| std::ptr::from_ref(route.connector) as usize);
            i = i.wrapping_add(1);
            black_box(&found);
        });
    });
    group.bench_function("latency_fxhashmap_u64", |b| {
        b.iter(|| {
            let found = fx_u64.get(&probes.key(i | (previous & zero))).copied();
            previous = found.map_or(1, |slot| slot as usize);
            i = i.wrapping_add(1);
            black_box(&found);
        });
    });

    group.bench_function("baseline_rwlock_string", |b| {
        b.iter(|| {
            let found = rwlock.read().get(probes.str(i)).cloned();
            i = i.wrapping_add(1);
            black_box(&found);
        });
    });

    group.bench_function("baseline_dashmap_string", |b| {
        b.iter(|| {
            let found = dashmap.get(probes.str(i)).map(|entry| Arc::clone(&entry));
            i = i.wrapping_add(1);
            black_box(&found);
        });
    });

    group.bench_function("baseline_papaya_string", |b| {
        b.iter(|| {
            let found = papaya_string.pin().get(probes.str(i)).map(Arc::clone);
            i = i.wrapping_add(1);
            black_box(&found);
        });
    });

    group.bench_function("baseline_papaya_u64", |b| {
        b.iter(|| {
            let found = papaya_u64.pin().get(&probes.key(i)).copied();
            i = i.wrapping_add(1);
            black_box(&found);
        });
    });

    group.bench_function("baseline_scc_string", |b| {
        b.iter(|| {
            let found = scc_string.peek_with(probes.str(i), |_, v| Arc::clone(v));
            i = i.wrapping_add(1);
            black_box(&found);
        });
    });

    group.bench_function("baseline_scc_u64", |b| {
        b.iter(|| {
            let found = scc_u64.peek_with(&probes.key(i), |_, v| *v);
            i = i.wrapping_add(1);
            black_box(&found);
        });
    });

    // About a microsecond or more per call: fewer samples over a longer window.
    group.sample_size(30);
    group.measurement_time(Duration::from_secs(6));
    group.bench_function("baseline_phonenumber", |b| {
        b.iter(|| {
            let found = phonenumber_lookup(&string_map, probes.str(i));
            i = i.wrapping_add(1);
            black_box(&found);
        });
    });
    group.bench_function("baseline_rlibphonenumber", |b| {
        b.iter(|| {
            let found = rlibphonenumber_lookup(&string_map, probes.str(i));
            i = i.wrapping_add(1);
            black_box(&found);
        });
    });

    group.finish();
}

criterion_group!(benches, lookup);
criterion_main!(benches);
