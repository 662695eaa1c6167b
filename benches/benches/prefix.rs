//! Prefix routes: the standard table of 1,000,000 numbers with routes of their own and
//! 100,000 prefixes of mixed lengths (country-wide catch-alls, wide ranges, and DID blocks of
//! 10 to 10,000 numbers) in one snapshot. `PATCHBAY_PREFIX_NUMBERS` and `PATCHBAY_PREFIXES`
//! set the sizes (CI runs a small smoke).
//!
//! - `exact_hit`: `Reader::lookup(&str)` of numbers with their own route.
//! - `prefix_hit`: the same reader on numbers with no route of their own that a prefix
//!   covers: the exact probe misses, then the longest routed prefix answers.
//! - `miss`: numbers neither their own route nor any prefix covers (in a country where
//!   prefixes exist): every length that some prefix has is probed.
//! - `baseline_digit_trie`: the structure Kamailio's `prefix_route`/`mtree` and OpenSIPS's
//!   `drouting` build, a 10-ary trie of the same prefixes (one node per digit, an arena of
//!   `[u32; 10]` children), walked digit by digit over the `prefix_hit` probes' text,
//!   remembering the last node with a route: the longest match.
//!
//! - `publish_one_prefix`: a patch of the snapshot that moves one DID block to another
//!   connector, finished (the publish's own work); `publish_country`: one that adds a
//!   country catch-all of a one-digit code (+7), which rebases 10,000 cells;
//!   `build_all`: the whole snapshot built from its routes, what a publish would cost if it
//!   rebuilt.
//!
//! Compare `prefix_hit` with `exact_hit` (the cost a prefix adds) and with the trie, and the
//! publishes with `build_all`, within one run.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use patchbay_benches::{e164_numbers, Fixture, Probes, SplitMix64, NUMBERS, SEED};
use patchbay_core::{Match, Prefix, Snapshot, E164};
use rustc_hash::FxHashSet;

const PROBES: usize = 1 << 20;

/// `count` distinct prefixes of mixed lengths cut from random numbers of the fixture's
/// countries: nine in ten are DID blocks (all but the last one to four digits: blocks of 10
/// to 10,000 numbers), one in ten a wider range (from three digits past the country code),
/// and three are country-wide catch-alls of countries the probes are not from (+39, +34,
/// +353), so that every length from two digits up has prefixes.
fn prefixes(count: usize, seed: u64) -> Vec<(Prefix, E164)> {
    let mut rng = SplitMix64::new(seed);
    let mut seen = FxHashSet::default();
    let mut out = Vec::with_capacity(count);
    for (country, number) in [
        ("+39", 393_471_234_567u64),
        ("+34", 34_612_345_678),
        ("+353", 353_851_234_567),
    ] {
        let prefix: Prefix = country.parse().expect("a country code");
        let number = E164::from_u64(number).expect("valid");
        seen.insert(prefix);
        out.push((prefix, number));
    }
    let mut round = 0;
    while out.len() < count {
        round += 1;
        for number in e164_numbers(count, seed ^ round) {
            let cc = number.country_code().to_string().len();
            let n = number.len();
            let len = if rng.below(10) < 9 {
                n - 1 - rng.below(4) as usize
            } else {
                cc + 3 + rng.below((n - 5 - cc).max(1) as u64) as usize
            };
            let Some(prefix) = Prefix::of(number, len) else {
                continue;
            };
            if seen.insert(prefix) {
                out.push((prefix, number));
                if out.len() == count {
                    break;
                }
            }
        }
    }
    out
}

/// `number` with every digit after its first `keep` replaced at random.
fn rerolled(number: E164, keep: usize, rng: &mut SplitMix64) -> E164 {
    let len = number.len() as u32;
    let tail = 10u64.pow(len - keep as u32);
    let value = number.as_u64() / tail * tail + rng.below(tail);
    E164::from_u64(value).unwrap_or(number)
}

/// A 10-ary digit trie: node 0 is the root; a child index of 0 is no child.
struct DigitTrie {
    children: Vec<[u32; 10]>,
    routes: Vec<u32>,
}

const NO_ROUTE: u32 = u32::MAX;

impl DigitTrie {
    fn new(prefixes: &[(Prefix, u32)]) -> DigitTrie {
        let mut trie = DigitTrie {
            children: vec![[0; 10]],
            routes: vec![NO_ROUTE],
        };
        for &(prefix, slot) in prefixes {
            let mut node = 0usize;
            for digit in prefix.to_string().bytes().skip(1) {
                let d = usize::from(digit - b'0');
                if trie.children[node][d] == 0 {
                    trie.children[node][d] = trie.children.len() as u32;
                    trie.children.push([0; 10]);
                    trie.routes.push(NO_ROUTE);
                }
                node = trie.children[node][d] as usize;
            }
            trie.routes[node] = slot;
        }
        trie
    }

    /// The route of the longest prefix of `text` (`+digits`) in the trie.
    #[inline]
    fn longest(&self, text: &str) -> Option<u32> {
        let mut node = 0usize;
        let mut best = None;
        for digit in text.bytes().skip(1) {
            let d = usize::from(digit.wrapping_sub(b'0'));
            let Some(&child) = self.children.get(node).and_then(|c| c.get(d)) else {
                break;
            };
            if child == 0 {
                break;
            }
            node = child as usize;
            if let Some(&route) = self.routes.get(node).filter(|&&r| r != NO_ROUTE) {
                best = Some(route);
            }
        }
        best
    }
}

/// A size from the environment, `_` allowed as a separator.
fn size(var: &str, default: usize) -> usize {
    std::env::var(var).map_or(default, |text| {
        text.replace('_', "")
            .parse()
            .unwrap_or_else(|e| panic!("{var}={text:?}: {e}"))
    })
}

fn prefix_group(c: &mut Criterion) {
    let count = size("PATCHBAY_PREFIXES", 100_000);
    let numbers = size("PATCHBAY_PREFIX_NUMBERS", NUMBERS);
    let fixture = Fixture::new(numbers, 1_000, PROBES, SEED);
    let cut = prefixes(count, SEED ^ 0x5052_4546); // "PREF"
    let connectors = fixture.connectors.len() as u32;
    let routes: Vec<(Prefix, u32)> = cut
        .iter()
        .enumerate()
        .map(|(i, &(p, _))| (p, i as u32 % connectors))
        .collect();

    let build = || {
        let mut builder = Snapshot::builder(1);
        let slots: Vec<_> = fixture
            .connectors
            .iter()
            .map(|c| {
                builder
                    .connector((**c).clone())
                    .expect("distinct connectors")
            })
            .collect();
        for (&number, &at) in fixture.numbers.iter().zip(&fixture.assignment) {
            builder.route(number, slots[at as usize]).expect("route");
        }
        for &(prefix, at) in &routes {
            builder
                .route_prefix(prefix, slots[at as usize])
                .expect("route");
        }
        builder.build().expect("build")
    };
    let snapshot = build();
    let trie = DigitTrie::new(&routes);

    // Prefix hits: a prefix's source number with the digits past the prefix rerolled, kept
    // when it has no route of its own.
    let mut rng = SplitMix64::new(SEED ^ 0x4849_5453); // "HITS"
    let mut hits = Vec::new();
    while hits.len() < count.min(PROBES) {
        let (prefix, source) = cut[rng.below(cut.len() as u64) as usize];
        let number = rerolled(source, prefix.len(), &mut rng);
        if snapshot.exact(number).is_none() {
            hits.push(number);
        }
    }
    // Misses: numbers of the same countries nothing covers.
    let misses: Vec<E164> = e164_numbers(numbers + 4 * count, SEED ^ 0x4d49_5353) // "MISS"
        .into_iter()
        .filter(|&n| snapshot.get(n).is_none())
        .take(count)
        .collect();
    assert!(misses.len() > 1_000, "too few misses: {}", misses.len());
    let hit_probes = Probes::shuffled(&hits, PROBES, SEED ^ 1);
    let miss_probes = Probes::shuffled(&misses, PROBES, SEED ^ 2);

    // The trie and the index agree on every probe before anything is timed.
    for i in 0..hit_probes.len() {
        let text = hit_probes.str(i);
        let ours = snapshot.lookup_match(text).expect("valid");
        let (how, connector) = ours.expect("a prefix covers every hit probe");
        assert!(matches!(how, Match::Prefix(_)), "{text}: {how}");
        let want = trie
            .longest(text)
            .map(|slot| &*fixture.connectors[slot as usize]);
        assert_eq!(Some(connector), want, "{text}");
    }
    for i in 0..miss_probes.len() {
        assert_eq!(snapshot.lookup(miss_probes.str(i)), Ok(None));
    }

    let mut group = c.benchmark_group("prefix");
    group.sample_size(10);
    let mut version = 1;
    let moved = routes[routes.len() / 2].0;
    let target = &fixture.connectors[0].connector_id;
    group.bench_function("publish_one_prefix", |bench| {
        bench.iter(|| {
            version += 1;
            let mut patch = snapshot.patch(version);
            patch.route_prefix(moved, target);
            black_box(patch.finish().expect("patch"))
        });
    });
    let country: Prefix = "+7".parse().expect("a country code");
    group.bench_function("publish_country", |bench| {
        bench.iter(|| {
            version += 1;
            let mut patch = snapshot.patch(version);
            patch.route_prefix(country, target);
            black_box(patch.finish().expect("patch"))
        });
    });
    group.bench_function("build_all", |bench| bench.iter(|| black_box(build())));
    group.finish();

    let router = patchbay_core::Router::new(snapshot);
    let mut reader = router.reader();
    let mut group = c.benchmark_group("prefix");
    group.sample_size(30);
    group.throughput(Throughput::Elements(1));
    group.measurement_time(Duration::from_secs(4));
    let exact = &fixture.probes;
    let mut i = 0usize;
    for (name, probes) in [
        ("exact_hit", exact),
        ("prefix_hit", &hit_probes),
        ("miss", &miss_probes),
    ] {
        group.bench_function(name, |bench| {
            bench.iter(|| {
                let found = reader.lookup(probes.str(i));
                i = i.wrapping_add(1);
                black_box(&found);
            });
        });
    }
    group.bench_function("baseline_digit_trie", |bench| {
        bench.iter(|| {
            let found = trie.longest(hit_probes.str(i));
            i = i.wrapping_add(1);
            black_box(&found);
        });
    });
    group.finish();
}

criterion_group!(benches, prefix_group);
criterion_main!(benches);
