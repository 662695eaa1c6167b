//! Many nodes on one PostgreSQL store, measured with the real `patchbay` binary (release)
//! and a throwaway PostgreSQL cluster (fsync on), all on this machine's loopback:
//!
//! - **convergence**: a one-number import through node A until node B's lookup answers it,
//!   over `PATCHBAY_CLUSTER_CHANGES` changes (default 1,000) with three nodes: p50, p99 and
//!   the worst, counted from A's acknowledgment and from the moment the request was sent;
//! - **write throughput**: one-number imports per second from 8 concurrent clients for 5 s,
//!   through 1 node (the one that leads the writes) and through 3 nodes (the other two
//!   forward their changes to it), beside the embedded store (`--data`) in the same run. `PATCHBAY_CLUSTER_ONLY=writes` measures only this;
//! - **catch-up**: a node stopped while `PATCHBAY_CLUSTER_CATCHUP` changes (default 100,000)
//!   are made without it, restarted on its cache: time to `/readyz?fresh=1` 200; and a new
//!   node with no cache (it loads the tables);
//! - **a start while the store is down**: a node with a cache of `PATCHBAY_CLUSTER_CACHE`
//!   numbers (default 1,000,000) started with the database up, then with it down: time from
//!   spawn to `/readyz` 200 (it routes calls) each way, and a lookup answered from the cache.
//!   `PATCHBAY_CLUSTER_ONLY=store-down` measures only this (the CI smoke, with a small
//!   cache and the debug binary);
//! - **`patchbay lookup --store`**: with `PATCHBAY_CLUSTER_LOOKUP` numbers (default
//!   10,000,000) in the store's tables, written there straight with SQL (the lookup reads
//!   only the tables), spawn to exit of the command over 20 runs, beside the same with 1,000
//!   numbers in the same run; then `snapshot export --store` at the larger size, which loads
//!   the whole model as the lookup did before it queried, twice (and, alternating, with the
//!   binary `PATCHBAY_BIN_BEFORE` names, when it does); and a new node of that store (an
//!   empty cache) against an embedded restart of the same numbers, imported with
//!   `patchbay import`: time to `/readyz` 200 and resident memory.
//!   `PATCHBAY_CLUSTER_ONLY=lookup` measures only this;
//! - **`patchbay import`**: `PATCHBAY_CLUSTER_IMPORT` numbers (default 1,000,000) from one
//!   file through a new store (`--store`) against the same into a new data directory
//!   (`--data`), in the same run: time and peak memory. `PATCHBAY_CLUSTER_ONLY=import`
//!   measures only this.
//! - **what the change history costs writes**: one-number imports from 8 clients for 5 s
//!   through an embedded node (`--data`) that records the history and one that does not
//!   (`--no-history`), alternated over `PATCHBAY_CLUSTER_ROUNDS` rounds (default 10): each
//!   round's ratio and their median; with `PATCHBAY_BIN_BEFORE` naming a build from before
//!   the history, that build is the one without. `PATCHBAY_CLUSTER_ONLY=history` measures
//!   only this (no PostgreSQL).
//!
//! Run: `benches/cluster/run` (builds in release first).

#[path = "../../../crates/patchbay-admin/tests/pg/mod.rs"]
mod pg;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use patchbay_benches::server::{fresh, ready, serve, size, Http, Node};
use serde_json::{json, Value};

/// The arguments of a node `name` of the store at `url` with its cache in `cache`.
fn node_args<'a>(url: &'a str, name: &'a str, cache: &'a Path) -> [&'a str; 6] {
    [
        "--store",
        url,
        "--node",
        name,
        "--data",
        cache.to_str().expect("utf-8"),
    ]
}

fn node(url: &str, name: &str, cache: &Path) -> Node {
    serve(&node_args(url, name, cache))
}

/// A number no other call of this run gets (London, +44 207 and seven digits).
fn fresh_number() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1_000_000);
    format!("+44207{:07}", NEXT.fetch_add(1, Ordering::Relaxed))
}

fn connector(http: &mut Http) -> String {
    let (status, body) = http.send(
        "POST",
        "/v1/agents/default/telephony/connectors",
        Some(&json!({"name": "Bench", "clientEnv": "live", "asrLangCode": "en-US", "voiceName": "en-US-Neural2-A"})),
    );
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    let value: Value = serde_json::from_slice(&body).expect("json");
    value["connectorId"].as_str().expect("id").to_string()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(at).copied().unwrap_or_default()
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// One-number imports per second from `clients` concurrent clients for `secs`, spread over
/// `addrs`.
/// The machine's CPU time so far, busy and in all, in clock ticks (`/proc/stat`).
fn machine_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    let all: u64 = fields.iter().take(8).sum();
    (all - idle, all)
}

/// A write rate and what it cost the whole machine (the nodes, PostgreSQL and the clients):
/// the share of its cores busy, and the busy CPU time a write.
struct Rate {
    per_second: f64,
    busy: f64,
    cpu_per_write: Duration,
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:>6.0}/s (machine {:.0}% busy, {} CPU a write)",
            self.per_second,
            self.busy * 100.0,
            ms(self.cpu_per_write)
        )
    }
}

fn throughput(addrs: &[SocketAddr], key: &str, connector: &str, clients: usize, secs: f64) -> Rate {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..clients)
        .map(|i| {
            let (stop, done) = (stop.clone(), done.clone());
            let mut http = Http::new(addrs[i % addrs.len()], key);
            let connector = connector.to_string();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if http.import(&fresh_number(), &connector) {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    let started = Instant::now();
    let (busy_before, all_before) = machine_ticks();
    std::thread::sleep(Duration::from_secs_f64(secs));
    let (busy_after, all_after) = machine_ticks();
    let writes = done.load(Ordering::Relaxed);
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().expect("client");
    }
    let busy_ticks = busy_after.saturating_sub(busy_before);
    let all = all_after.saturating_sub(all_before).max(1) as f64;
    // Clock ticks are 1/100 s on Linux.
    let busy_seconds = busy_ticks as f64 / 100.0;
    Rate {
        per_second: writes as f64 / elapsed.as_secs_f64(),
        busy: busy_ticks as f64 / all,
        cpu_per_write: Duration::from_secs_f64(busy_seconds / writes.max(1) as f64),
    }
}

/// `nodes` with the one that leads the writes first, once one does (as they are, when none
/// says so within 3 s: a build whose nodes each write their own changes).
fn leader_first(nodes: &[SocketAddr], key: &str) -> Vec<SocketAddr> {
    let leads = |addr: &SocketAddr| {
        let (_, body) = Http::new(*addr, key).send("GET", "/metrics", None);
        String::from_utf8_lossy(&body)
            .lines()
            .any(|line| line == "patchbay_store_leading 1")
    };
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut ordered = nodes.to_vec();
    while Instant::now() < deadline {
        if let Some(at) = nodes.iter().position(leads) {
            ordered.swap(0, at);
            return ordered;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    println!("  (no node says it leads the writes: each writes its own)");
    ordered
}

/// Write throughput: one-number imports a second from 8 clients through the node that
/// leads the writes (one store node), through all three, and through a new embedded node
/// in `embedded`, in the same run.
fn write_rates(nodes: &[SocketAddr], key: &str, id: &str, embedded: &Path) {
    let nodes = &leader_first(nodes, key)[..];
    let clients = 8;
    let secs = 5.0;
    let one = throughput(&nodes[..1], key, id, clients, secs);
    let three = throughput(nodes, key, id, clients, secs);
    let embedded = {
        let node = serve(&["--data", embedded.to_str().expect("utf-8")]);
        let key = node.key.clone().expect("a key");
        let id = connector(&mut Http::new(node.addr, &key));
        throughput(&[node.addr], &key, &id, clients, secs)
    };
    println!("write throughput, one-number imports, {clients} clients for {secs} s:");
    println!("  embedded store (--data): {embedded}");
    println!(
        "  PostgreSQL, 1 writer node: {one}  ({:.2}x embedded)",
        one.per_second / embedded.per_second
    );
    println!(
        "  PostgreSQL, 3 writer nodes: {three}  ({:.2}x embedded, {:.2}x one node, {:.2}x \
         its CPU a write)",
        three.per_second / embedded.per_second,
        three.per_second / one.per_second,
        three.cpu_per_write.as_secs_f64() / one.cpu_per_write.as_secs_f64()
    );
}

/// One-number writes through an embedded node with the history against one without it,
/// alternated over `rounds` rounds, each on a new data directory.
fn history_cost(rounds: usize) {
    let before = std::env::var_os("PATCHBAY_BIN_BEFORE").map(std::path::PathBuf::from);
    let rate = |with: bool| {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        let mut args = vec!["--data", data.to_str().expect("utf-8")];
        let binary = match (&before, with) {
            (Some(before), false) => before.clone(),
            (None, false) => {
                args.push("--no-history");
                patchbay_benches::server::binary()
            }
            (_, true) => patchbay_benches::server::binary(),
        };
        let node = patchbay_benches::server::serve_binary(
            &binary,
            &args,
            &[("PATCHBAY_LOG", "warn")],
            std::process::Stdio::inherit(),
        );
        let key = node.key.clone().expect("a key");
        let id = connector(&mut Http::new(node.addr, &key));
        throughput(&[node.addr], &key, &id, 8, 5.0)
    };
    println!(
        "one-number writes, 8 clients for 5 s, embedded, with the history and without ({}):",
        match &before {
            Some(before) => format!("the build {}", before.display()),
            None => "--no-history".into(),
        }
    );
    let mut ratios = Vec::with_capacity(rounds);
    for round in 1..=rounds {
        // Which goes first alternates, so that a drift of the machine favours neither.
        let (with, without) = if round % 2 == 1 {
            let with = rate(true);
            (with, rate(false))
        } else {
            let without = rate(false);
            (rate(true), without)
        };
        let ratio = with.per_second / without.per_second;
        println!("  round {round}: with {with}; without {without}; {ratio:.3}x the rate");
        ratios.push(ratio);
    }
    ratios.sort_by(f64::total_cmp);
    let median = match ratios.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => ratios[n / 2],
        n => (ratios[n / 2 - 1] + ratios[n / 2]) / 2.0,
    };
    println!(
        "  median: {median:.3}x the rate without the history ({:.3}x the time a write)",
        1.0 / median
    );
}

fn main() {
    let only = std::env::var("PATCHBAY_CLUSTER_ONLY").unwrap_or_default();
    if only == "history" {
        history_cost(size("PATCHBAY_CLUSTER_ROUNDS", 10) as usize);
        return;
    }
    if only == "store-down" {
        let cluster = pg::PgCluster::start();
        store_down(&cluster, size("PATCHBAY_CLUSTER_CACHE", 1_000_000) as usize);
        return;
    }
    if only == "lookup" {
        let cluster = pg::PgCluster::start();
        lookup_store(&cluster, size("PATCHBAY_CLUSTER_LOOKUP", 10_000_000));
        return;
    }
    if only == "writes" {
        let cluster = pg::PgCluster::start();
        let url = cluster.database();
        let dir = tempfile::tempdir().expect("tempdir");
        let nodes: Vec<Node> = ["a", "b", "c"]
            .iter()
            .map(|name| node(&url, name, &dir.path().join(name)))
            .collect();
        let key = nodes[0]
            .key
            .clone()
            .expect("the first node creates the key");
        let id = connector(&mut Http::new(nodes[0].addr, &key));
        let addrs: Vec<SocketAddr> = nodes.iter().map(|n| n.addr).collect();
        for addr in &addrs {
            let mut http = Http::new(*addr, &key);
            let path = format!("/v1/agents/default/telephony/connectors/{id}");
            while http.send("GET", &path, None).0 != 200 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        write_rates(&addrs, &key, &id, &dir.path().join("embedded"));
        return;
    }
    if only == "import" {
        let cluster = pg::PgCluster::start();
        import_both(&cluster, size("PATCHBAY_CLUSTER_IMPORT", 1_000_000));
        return;
    }
    let changes = size("PATCHBAY_CLUSTER_CHANGES", 1_000) as usize;
    let catchup = size("PATCHBAY_CLUSTER_CATCHUP", 100_000);
    let cluster = pg::PgCluster::start();
    let url = cluster.database();
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = |name: &str| dir.path().join(name);
    let a = node(&url, "a", &cache("a"));
    let key = a.key.clone().expect("the first node creates the key");
    let b = node(&url, "b", &cache("b"));
    let mut c = node(&url, "c", &cache("c"));
    let mut to_a = Http::new(a.addr, &key);
    let mut to_b = Http::new(b.addr, &key);
    let id = connector(&mut to_a);
    while to_b
        .send(
            "GET",
            &format!("/v1/agents/default/telephony/connectors/{id}"),
            None,
        )
        .0
        != 200
    {
        std::thread::sleep(Duration::from_millis(1));
    }

    // Convergence.
    let mut from_ack = Vec::with_capacity(changes);
    let mut from_send = Vec::with_capacity(changes);
    for _ in 0..changes {
        let number = fresh_number();
        let sent = Instant::now();
        assert!(to_a.import(&number, &id), "import {number}");
        let acked = Instant::now();
        while to_b.lookup(&number).as_deref() != Some(id.as_str()) {
            std::hint::spin_loop();
        }
        let seen = Instant::now();
        from_ack.push(seen - acked);
        from_send.push(seen - sent);
    }
    from_ack.sort();
    from_send.sort();
    println!("convergence over {changes} one-number imports, 3 nodes (A writes, B looks up):");
    for (what, set) in [("from A's ack", &from_ack), ("from the send", &from_send)] {
        println!(
            "  {what:>14}: p50 {}  p99 {}  max {}",
            ms(percentile(set, 0.5)),
            ms(percentile(set, 0.99)),
            ms(*set.last().expect("some"))
        );
    }

    write_rates(&[a.addr, b.addr, c.addr], &key, &id, &cache("embedded"));

    // Catch-up: C away while `catchup` changes are made.
    let _ = Command::new("kill")
        .args(["-TERM", &c.child.id().to_string()])
        .status();
    let _ = c.child.wait();
    let started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let made = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..8)
        .map(|i| {
            let (stop, made) = (stop.clone(), made.clone());
            let mut http = Http::new([a.addr, b.addr][i % 2], &key);
            let id = id.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if made.fetch_add(1, Ordering::Relaxed) >= catchup {
                        break;
                    }
                    assert!(http.import(&fresh_number(), &id));
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("writer");
    }
    stop.store(true, Ordering::Relaxed);
    println!(
        "catch-up: {catchup} changes made without node C in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    c = node(&url, "c", &cache("c"));
    while !fresh(c.addr) {
        std::thread::sleep(Duration::from_millis(1));
    }
    println!(
        "  C restarted on its cache: caught up in {}",
        ms(started.elapsed())
    );
    let started = Instant::now();
    let d = node(&url, "d", &cache("d"));
    while !fresh(d.addr) {
        std::thread::sleep(Duration::from_millis(1));
    }
    println!(
        "  a new node, no cache (loads the tables): ready in {}",
        ms(started.elapsed())
    );
    let numbers = cluster.query(&url, "SELECT count(*) FROM patchbay.numbers");
    println!("  the store holds {} numbers", numbers[0]);
    drop((a, b, c, d));
    store_down(&cluster, size("PATCHBAY_CLUSTER_CACHE", 1_000_000) as usize);
}

/// Stops `node` gracefully (its cache gets a final checkpoint).
fn stop(mut node: Node) {
    let _ = Command::new("kill")
        .args(["-TERM", &node.child.id().to_string()])
        .status();
    let _ = node.child.wait();
}

/// Spawns `node` on `url` with `cache` and times it to `/readyz` 200.
fn timed_start(url: &str, cache: &Path) -> (Node, Duration) {
    let started = Instant::now();
    let node = node(url, "down", cache);
    while !ready(node.addr) {
        std::thread::sleep(Duration::from_millis(1));
    }
    (node, started.elapsed())
}

/// A node with a cache of `count` numbers, started with the database up, then down.
fn store_down(cluster: &pg::PgCluster, count: usize) {
    let url = cluster.database();
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("down");
    let first = node(&url, "down", &cache);
    let key = first.key.clone().expect("the first node creates the key");
    let mut http = Http::new(first.addr, &key);
    let id = connector(&mut http);
    let numbers: Vec<String> = (0..count).map(|_| fresh_number()).collect();
    for chunk in numbers.chunks(10_000) {
        assert!(http.import_all(chunk, &id), "bulk import");
    }
    stop(first);
    let (up, with_store) = timed_start(&url, &cache);
    stop(up);
    cluster.crash();
    let (down, without_store) = timed_start(&url, &cache);
    let probe = numbers.last().expect("a number");
    assert_eq!(
        Http::new(down.addr, &key).lookup(probe).as_deref(),
        Some(id.as_str()),
        "the node routes from its cache"
    );
    println!("a start with a cache of {count} numbers, spawn to /readyz 200:");
    println!("  with the database up: {}", ms(with_store));
    println!(
        "  with the database down (from the cache): {}  ({:.2}x)",
        ms(without_store),
        without_store.as_secs_f64() / with_store.as_secs_f64()
    );
    cluster.restart();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !fresh(down.addr) {
        assert!(Instant::now() < deadline, "the node never caught up");
        std::thread::sleep(Duration::from_millis(10));
    }
    stop(down);
}

/// A store whose tables hold `count` North American numbers routed to one connector,
/// written straight with SQL; its URL and a few of its numbers.
fn store_of(cluster: &pg::PgCluster, count: u64) -> (String, Vec<String>, String) {
    let url = cluster.database();
    let dir = tempfile::tempdir().expect("tempdir");
    let seed = node(&url, "seed", &dir.path().join("seed"));
    let key = seed.key.clone().expect("the first node creates the key");
    let mut http = Http::new(seed.addr, &key);
    let id = connector(&mut http);
    assert!(http.import_all(&[fresh_number()], &id), "one number");
    stop(seed);
    // The numbers of `store_number`, in SQL.
    cluster.query(
        &url,
        &format!(
            "INSERT INTO patchbay.numbers (number, project_id, client_env, connector_id) \
             SELECT '+1' || (201 + i / {AREA})::text || (2000000 + i % {AREA})::text, \
             n.project_id, n.client_env, n.connector_id \
             FROM generate_series(0, {count} - 1) i, (SELECT * FROM patchbay.numbers LIMIT 1) n"
        ),
    );
    // As a store's rows are once they are old: hint bits set, statistics current.
    cluster.query(&url, "VACUUM (ANALYZE) patchbay.numbers");
    let probes = (0..20u64)
        .map(|k| store_number((k * 7_919_993) % count.max(1)))
        .collect();
    (url, probes, id)
}

/// Numbers of one area code: its exchanges 200 to 999.
const AREA: u64 = 8_000_000;

/// The `i`th number of a store of [`store_of`]: area codes 201, 202, ... from exchange 200
/// on, every one a valid North American number.
fn store_number(i: u64) -> String {
    format!("+1{}{}", 201 + i / AREA, 2_000_000 + i % AREA)
}

/// The resident memory of `pid`, in bytes.
fn resident(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Spawns `patchbay serve` with `args` and times it to `/readyz` 200; its resident memory
/// then. `then` runs before the node is stopped.
fn ready_in(args: &[&str], then: impl FnOnce(&Node)) -> (Duration, u64) {
    let started = Instant::now();
    let node = serve(args);
    while !ready(node.addr) {
        std::thread::sleep(Duration::from_millis(1));
    }
    let took = started.elapsed();
    let memory = resident(node.child.id());
    then(&node);
    stop(node);
    (took, memory)
}

/// A new data directory `embedded` in `dir` holding one connector: its path and the
/// connector's id.
fn embedded_with_connector(dir: &Path) -> (std::path::PathBuf, String) {
    let data = dir.join("embedded");
    let first = serve(&["--data", data.to_str().expect("utf-8")]);
    let key = first
        .key
        .clone()
        .expect("a new data directory prints its key");
    let id = connector(&mut Http::new(first.addr, &key));
    stop(first);
    (data, id)
}

/// New nodes of the store at `url` (each with an empty cache directory) against an
/// embedded restart of the same `count` numbers: time to `/readyz` 200 and resident memory.
/// The first loads the tables and stores a checkpoint in the store; the ones after load that
/// checkpoint.
fn new_node_against_restart(cluster: &pg::PgCluster, url: &str, count: u64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (data, id) = embedded_with_connector(dir.path());
    let data_arg = data.to_str().expect("utf-8");
    let file = numbers_file(dir.path(), count);
    let status = Command::new(patchbay_benches::server::binary())
        .args([
            "import",
            "--data",
            data_arg,
            "--project",
            "default",
            "--connector",
            &id,
        ])
        .arg(&file)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("patchbay import");
    assert!(status.success(), "the embedded import");
    let per = |bytes: u64| bytes as f64 / count as f64;
    println!("new nodes of the store (empty cache) against an embedded restart, {count} numbers:");
    let restart = |label: &str| {
        let (took, memory) = ready_in(&["--data", data_arg], |_| ());
        println!(
            "  embedded restart{label}: {} to /readyz, {} MB resident ({:.0} B/number)",
            ms(took),
            memory >> 20,
            per(memory)
        );
        (took, memory)
    };
    let new_node = |name: &str, label: &str, base: (Duration, u64), then: &dyn Fn()| {
        let cache = dir.path().join(name);
        let (took, memory) = ready_in(&node_args(url, name, &cache), |_| then());
        println!(
            "  new node, {label}: {} ({:.2}x), {} MB resident ({:.0} B/number, {:.2}x)",
            ms(took),
            took.as_secs_f64() / base.0.as_secs_f64(),
            memory >> 20,
            per(memory),
            memory as f64 / base.1.max(1) as f64
        );
    };
    let stored = || cluster.query(url, "SELECT count(*) FROM patchbay.checkpoints");
    cluster.query(url, "DELETE FROM patchbay.checkpoints");
    let base = restart("");
    // The first new node stores a checkpoint once it is ready: wait for it before stopping.
    new_node("first", "loading the tables", base, &|| {
        let deadline = Instant::now() + Duration::from_secs(600);
        while stored() != ["1"] && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    assert_eq!(stored(), ["1"], "the first new node stored a checkpoint");
    for (k, name) in ["second", "third"].into_iter().enumerate() {
        let base = if k == 0 { base } else { restart(" (again)") };
        new_node(name, "loading the stored checkpoint", base, &|| ());
    }
}

/// A numbers file of `count` numbers of [`store_number`], in `dir`.
fn numbers_file(dir: &Path, count: u64) -> std::path::PathBuf {
    let file = dir.join("numbers.txt");
    let mut text = String::with_capacity(count as usize * 14);
    for i in 0..count {
        text.push_str(&store_number(i));
        text.push('\n');
    }
    std::fs::write(&file, text).expect("the numbers file");
    file
}

/// Runs `patchbay import` with `place` (`--data DIR` or `--store URL`) into project
/// `default` with connector `id`: how long it took, spawn to exit, and its peak resident
/// memory in bytes when GNU time is there to say.
fn timed_import(place: &[&str], id: &str, file: &Path) -> (Duration, Option<u64>) {
    let timed = Path::new("/usr/bin/time").exists();
    let mut command = if timed {
        let mut command = Command::new("/usr/bin/time");
        command
            .args(["-f", "%M"])
            .arg(patchbay_benches::server::binary());
        command
    } else {
        Command::new(patchbay_benches::server::binary())
    };
    let started = Instant::now();
    let output = command
        .arg("import")
        .args(place)
        .args(["--project", "default", "--connector", id])
        .arg(file)
        .output()
        .expect("patchbay import");
    let took = started.elapsed();
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && said.contains("imported"),
        "import {place:?}: {said}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let peak_kb: Option<u64> = String::from_utf8_lossy(&output.stderr)
        .lines()
        .last()
        .and_then(|line| line.trim().parse().ok());
    (took, peak_kb.map(|kb| kb * 1024))
}

/// `patchbay import` of `count` numbers through a new store against the same into a new
/// embedded data directory, in the same run: time and peak memory.
fn import_both(cluster: &pg::PgCluster, count: u64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = numbers_file(dir.path(), count);
    let (data, embedded_id) = embedded_with_connector(dir.path());
    let data_arg = data.to_str().expect("utf-8");
    let url = cluster.database();
    let seed = node(&url, "seed", &dir.path().join("seed"));
    let key = seed.key.clone().expect("the first node creates the key");
    let store_id = connector(&mut Http::new(seed.addr, &key));
    stop(seed);
    let (embedded, embedded_peak) = timed_import(&["--data", data_arg], &embedded_id, &file);
    let (store, store_peak) = timed_import(&["--store", &url], &store_id, &file);
    let counted = cluster.query(&url, "SELECT count(*) FROM patchbay.numbers");
    assert_eq!(
        counted,
        vec![count.to_string()],
        "every number in the table"
    );
    let rate = |d: Duration| count as f64 / d.as_secs_f64() / 1e3;
    let mb = |peak: Option<u64>| peak.map_or("-".to_string(), |b| format!("{} MB", b >> 20));
    println!("patchbay import of {count} numbers, spawn to exit:");
    println!(
        "  embedded (--data): {:.2} s ({:.0}k numbers/s), peak {}",
        embedded.as_secs_f64(),
        rate(embedded),
        mb(embedded_peak)
    );
    println!(
        "  store (--store): {:.2} s ({:.0}k numbers/s, {:.2}x), peak {}",
        store.as_secs_f64(),
        rate(store),
        store.as_secs_f64() / embedded.as_secs_f64(),
        mb(store_peak)
    );
}

/// Spawn to exit of `patchbay lookup --store URL NUMBER` for each probe, checked to answer
/// with `id`: sorted.
fn time_lookups(url: &str, probes: &[String], id: &str) -> Vec<Duration> {
    let mut times: Vec<Duration> = probes
        .iter()
        .map(|probe| {
            let started = Instant::now();
            let out = Command::new(patchbay_benches::server::binary())
                .args(["lookup", "--store", url, probe])
                .output()
                .expect("patchbay lookup");
            let took = started.elapsed();
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() && text.contains(id),
                "{probe}: {text}{}",
                String::from_utf8_lossy(&out.stderr)
            );
            took
        })
        .collect();
    times.sort();
    times
}

/// `patchbay lookup --store` at `count` numbers, beside 1,000 numbers in the same run.
fn lookup_store(cluster: &pg::PgCluster, count: u64) {
    let small = 1_000.min(count);
    let (url_small, probes_small, id_small) = store_of(cluster, small);
    let loaded = Instant::now();
    let (url, probes, id) = store_of(cluster, count);
    let filled = loaded.elapsed();
    let base = time_lookups(&url_small, &probes_small, &id_small);
    let big = time_lookups(&url, &probes, &id);
    println!(
        "patchbay lookup --store, spawn to exit, 20 runs ({count} numbers written by SQL in {:.1} s):",
        filled.as_secs_f64()
    );
    println!(
        "  {small} numbers: median {}, worst {}",
        ms(percentile(&base, 0.5)),
        ms(percentile(&base, 1.0))
    );
    println!(
        "  {count} numbers: median {}, worst {}  ({:.2}x)",
        ms(percentile(&big, 0.5)),
        ms(percentile(&big, 1.0)),
        percentile(&big, 0.5).as_secs_f64() / percentile(&base, 0.5).as_secs_f64()
    );
    new_node_against_restart(cluster, &url, count);
    let mut binaries = vec![("", patchbay_benches::server::binary())];
    if let Some(before) = std::env::var_os("PATCHBAY_BIN_BEFORE") {
        binaries.push((" (PATCHBAY_BIN_BEFORE)", before.into()));
    }
    for (label, binary) in binaries.iter().chain(&binaries) {
        export_store(&url, count, label, binary);
    }
}

/// Times `snapshot export --store`, which loads the whole model, with `binary`.
fn export_store(url: &str, count: u64, label: &str, binary: &Path) {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("store.pbsnap");
    let started = Instant::now();
    // GNU time, when there, for the peak resident memory.
    let timed = Path::new("/usr/bin/time").exists();
    let mut command = if timed {
        let mut command = Command::new("/usr/bin/time");
        command.args(["-f", "%M"]).arg(binary);
        command
    } else {
        Command::new(binary)
    };
    let output = command
        .args(["snapshot", "export", "--store", url, "--out"])
        .arg(&out)
        .output()
        .expect("patchbay snapshot export");
    let took = started.elapsed();
    assert!(output.status.success(), "snapshot export");
    let peak_kb: Option<u64> = String::from_utf8_lossy(&output.stderr)
        .lines()
        .last()
        .and_then(|line| line.trim().parse().ok());
    println!(
        "  loading the whole model instead (snapshot export --store){label}: {}{}",
        ms(took),
        peak_kb.map_or(String::new(), |kb| format!(
            ", peak {} MB ({:.0} B/number)",
            kb / 1024,
            kb as f64 * 1024.0 / count as f64
        ))
    );
}
