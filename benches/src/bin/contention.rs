//! Lookup latency while snapshots are published.
//!
//! Builds a 1,000,000-number `Router`, then a reader thread (the main thread) times every
//! lookup individually (`Instant::now()` before, `elapsed()` after, so each sample includes
//! one clock read; the clock's own cost is measured and printed) in two phases of equal
//! length:
//!
//! 1. idle: nothing else runs;
//! 2. loaded: a writer thread repeatedly builds a new 1M-number snapshot with the next
//!    version and 1,000 numbers moved to other connectors, and publishes it.
//!
//! Prints p50/p99/p99.9 (and more) for both phases, the number of publishes during phase 2,
//! and as the last line one JSON object with `idle_p99_ns` and `loaded_p99_ns`.
//!
//! Run with `cargo run --release -p patchbay-benches --bin contention`.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use patchbay_benches::{route_pairs, Fixture, Probes, SplitMix64};
use patchbay_core::{Reader, Router, Snapshot};

/// Length of each measured phase.
const PHASE: Duration = Duration::from_secs(6);
/// Numbers moved to another connector in each published version.
const CHANGES_PER_PUBLISH: usize = 1_000;
/// Lookups between two checks of the phase deadline.
const CHUNK: usize = 4_096;

/// Latencies in nanoseconds: exact counts below 65,536 ns, the rest kept individually.
struct Histogram {
    counts: Vec<u64>,
    overflow: Vec<u64>,
    total: u64,
    sum: u128,
}

impl Histogram {
    const EXACT: usize = 1 << 16;

    fn new() -> Histogram {
        Histogram {
            counts: vec![0; Histogram::EXACT],
            overflow: Vec::new(),
            total: 0,
            sum: 0,
        }
    }

    #[inline]
    fn record(&mut self, ns: u64) {
        match self.counts.get_mut(ns as usize) {
            Some(count) => *count += 1,
            None => self.overflow.push(ns),
        }
        self.total += 1;
        self.sum += u128::from(ns);
    }

    /// The smallest latency with at least `q` of all samples at or below it.
    fn quantile(&mut self, q: f64) -> u64 {
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total.max(1));
        let mut seen = 0u64;
        for (ns, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return ns as u64;
            }
        }
        self.overflow.sort_unstable();
        let at = (rank - seen - 1) as usize;
        self.overflow.get(at).copied().unwrap_or(u64::MAX)
    }

    fn max(&mut self) -> u64 {
        self.quantile(1.0)
    }

    fn mean(&self) -> f64 {
        self.sum as f64 / self.total.max(1) as f64
    }

    fn above(&self, ns: u64) -> u64 {
        let exact: u64 = self.counts.iter().skip(ns as usize + 1).sum();
        exact + self.overflow.iter().filter(|&&v| v > ns).count() as u64
    }
}

/// One phase's figures.
struct Phase {
    name: &'static str,
    histogram: Histogram,
    /// Latencies of the lookups that were the first to see a new version (they also drop
    /// the reader's reference to the old snapshot, and free it if it was the last one).
    switches: Vec<u64>,
    elapsed: Duration,
}

impl Phase {
    fn print(&mut self) {
        let h = &mut self.histogram;
        let (p50, p90, p99, p999, p9999, max) = (
            h.quantile(0.50),
            h.quantile(0.90),
            h.quantile(0.99),
            h.quantile(0.999),
            h.quantile(0.9999),
            h.max(),
        );
        println!(
            "{:<6} {:>11} lookups in {:.2?}: mean {:.1} ns, p50 {p50} ns, p90 {p90} ns, p99 {p99} ns, p99.9 {p999} ns, p99.99 {p9999} ns, max {max} ns; >1 us: {}, >10 us: {}, >100 us: {}",
            self.name,
            h.total,
            self.elapsed,
            h.mean(),
            h.above(1_000),
            h.above(10_000),
            h.above(100_000),
        );
        if !self.switches.is_empty() {
            self.switches.sort_unstable();
            let median = self.switches[self.switches.len() / 2];
            println!(
                "{:<6} {} lookups saw a new version first: median {median} ns, max {} ns",
                self.name,
                self.switches.len(),
                self.switches.last().copied().unwrap_or(0),
            );
        }
    }
}

/// Times each lookup of the probe sequence from `*next` on, for `duration`.
fn measure(
    name: &'static str,
    reader: &mut Reader,
    probes: &Probes,
    next: &mut usize,
    duration: Duration,
) -> Phase {
    let mut histogram = Histogram::new();
    let mut switches = Vec::new();
    let mut version = reader.snapshot().version();
    let started = Instant::now();
    let deadline = started + duration;
    let mut i = *next;
    loop {
        for _ in 0..CHUNK {
            let input = probes.str(i);
            i = i.wrapping_add(1);
            let start = Instant::now();
            let found = reader.lookup(input);
            black_box(&found);
            let ns = start.elapsed().as_nanos() as u64;
            histogram.record(ns);
            let seen = match found {
                Ok(Some(route)) => route.version,
                _ => panic!("probe {input} is routed"),
            };
            if seen != version {
                version = seen;
                switches.push(ns);
            }
        }
        if Instant::now() >= deadline {
            break;
        }
    }
    *next = i;
    Phase {
        name,
        histogram,
        switches,
        elapsed: started.elapsed(),
    }
}

/// The cost of the clock itself: two reads around nothing but fetching the probe.
fn timer_overhead(probes: &Probes) -> u64 {
    let mut histogram = Histogram::new();
    for i in 0..2_000_000 {
        let input = probes.str(i);
        let start = Instant::now();
        black_box(input);
        histogram.record(start.elapsed().as_nanos() as u64);
    }
    histogram.quantile(0.5)
}

/// Builds and publishes new versions until `stop`, counting publishes.
fn write_continuously(
    fixture: &Fixture,
    router: &Router,
    stop: &AtomicBool,
    publishes: &AtomicU64,
) {
    let mut rng = SplitMix64::new(0x5752_4954_4552); // "WRITER"
    let mut assignment = fixture.assignment.clone();
    let connectors = fixture.connectors.len() as u32;
    let mut version = router.version();
    while !stop.load(Ordering::Relaxed) {
        version += 1;
        for _ in 0..CHANGES_PER_PUBLISH {
            let at = rng.below(assignment.len() as u64) as usize;
            assignment[at] = (assignment[at] + 1) % connectors;
        }
        let next = Snapshot::from_routes(
            version,
            route_pairs(&fixture.numbers, &assignment, &fixture.connectors),
        )
        .expect("builds");
        router.publish(next).expect("a newer version");
        publishes.fetch_add(1, Ordering::Relaxed);
    }
}

fn main() {
    let started = Instant::now();
    let fixture = Fixture::standard();
    let router = fixture.router(1);
    let probes = &fixture.probes;
    let mut reader = router.reader();
    println!(
        "contention: {} numbers, {} connectors, {} probes; set up in {:.1?}; {} CPUs",
        fixture.numbers.len(),
        fixture.connectors.len(),
        probes.len(),
        started.elapsed(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );

    // Warm up: caches, branch predictors, the reader's snapshot, CPU frequency.
    let mut next = 0usize;
    let _ = measure(
        "warmup",
        &mut reader,
        probes,
        &mut next,
        Duration::from_secs(1),
    );
    let overhead = timer_overhead(probes);
    println!(
        "timing: each lookup timed individually (Instant::now() before, elapsed() after); \
         clock overhead alone p50 {overhead} ns, included in every figure below"
    );

    let mut idle = measure("idle", &mut reader, probes, &mut next, PHASE);

    let stop = AtomicBool::new(false);
    let publishes = AtomicU64::new(0);
    let (mut loaded, during, total_publishes) = std::thread::scope(|scope| {
        let writer = scope.spawn(|| write_continuously(&fixture, &router, &stop, &publishes));
        // Let the writer get going (it starts with a build) before measuring.
        std::thread::sleep(Duration::from_millis(50));
        let before = publishes.load(Ordering::Relaxed);
        let loaded = measure("loaded", &mut reader, probes, &mut next, PHASE);
        let during = publishes.load(Ordering::Relaxed) - before;
        stop.store(true, Ordering::Relaxed);
        writer.join().expect("the writer finishes");
        (loaded, during, publishes.load(Ordering::Relaxed))
    });

    idle.print();
    loaded.print();
    println!(
        "writer: {during} publishes during the loaded phase ({:.1} per second; {} in all, {CHANGES_PER_PUBLISH} numbers changed per version); final version {}",
        during as f64 / loaded.elapsed.as_secs_f64(),
        total_publishes,
        router.version(),
    );

    let summary = serde_json::json!({
        "idle_p99_ns": idle.histogram.quantile(0.99),
        "loaded_p99_ns": loaded.histogram.quantile(0.99),
        "idle_p50_ns": idle.histogram.quantile(0.50),
        "loaded_p50_ns": loaded.histogram.quantile(0.50),
        "idle_p999_ns": idle.histogram.quantile(0.999),
        "loaded_p999_ns": loaded.histogram.quantile(0.999),
        "idle_max_ns": idle.histogram.max(),
        "loaded_max_ns": loaded.histogram.max(),
        "idle_lookups": idle.histogram.total,
        "loaded_lookups": loaded.histogram.total,
        "publishes": during,
        "timing": "per_lookup",
        "clock_overhead_p50_ns": overhead,
    });
    println!("{summary}");
}
