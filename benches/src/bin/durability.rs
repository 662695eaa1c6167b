//! Durability under load, with the real `patchbay` binary on loopback:
//!
//! - **write tail**: a data directory of `PATCHBAY_TAIL_BASE` routed numbers (default
//!   3,000,000) served over HTTP takes bulk imports of `PATCHBAY_TAIL_BULK` numbers each
//!   (default 10,000) until `PATCHBAY_TAIL_CHECKPOINTS` checkpoints (default 2) have been
//!   written, while one client imports one number at a time and another looks numbers up:
//!   median, p99.9 and worst of each. The baseline is the same run on a copy of the same
//!   directory, with the same bulk imports, and `--checkpoint-after` above everything
//!   written (no checkpoint).
//! - **restart**: the directory after the run, `patchbay serve` from spawn to `/readyz`
//!   200, against the floor of reading its newest checkpoint and snapshot files once.
//!
//! One-number changes slower than 100 ms are printed with when they began;
//! `PATCHBAY_TAIL_LOGS=<dir>` keeps the server's log of each run there, to look them up.
//!
//! `PATCHBAY_TAIL_CHECKPOINT_AFTER` sets the server's `--checkpoint-after` (default 16 MiB,
//! the server's own default). Prints a table and one JSON line. CI runs a smoke of it with
//! small sizes and the debug binary (`PATCHBAY_BIN`), which checks what it can: every
//! change acknowledged, every lookup answered by its connector, the checkpoints written
//! with and none without, and every number there after the restart.
//!
//! Run: `cargo build --release -p patchbay-server -p patchbay-benches --bins &&
//! target/release/durability` (several minutes and a few GB at the default sizes).

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use patchbay_admin::{
    Admin, AdminConfig, Caller, DataDir, ImportRequest, NewConnector, NumberCheck,
};
use patchbay_benches::server::{ready, serve_logging, size, Http, Node};
use patchbay_benches::{e164_numbers, SplitMix64};
use patchbay_core::ClientEnv;
use serde_json::json;

/// One-number changes slower than this are printed, with when they began.
const SLOW: Duration = Duration::from_millis(100);

/// A data directory of `base` numbers of project `default`, every one routed to one
/// connector: the key, the connector and the numbers.
fn make_base(dir: &Path, numbers: &[String]) -> (String, String) {
    let config = AdminConfig {
        number_check: NumberCheck::Possible,
        max_bulk: 100_000,
        ..AdminConfig::default()
    };
    let admin = Admin::open(Box::new(DataDir::open(dir).expect("data dir")), config).expect("open");
    let key = admin.bootstrap().expect("bootstrap").expect("a new key");
    let connector = admin
        .create_connector(
            &Caller::Operator,
            "default",
            NewConnector {
                name: "tail".into(),
                client_env: ClientEnv::Live,
                asr_lang_code: "en-US".into(),
                voice_name: "en-US-Neural2-A".into(),
                variant_id: None,
                disable_handoff: None,
            },
        )
        .expect("connector")
        .connector_id;
    for chunk in numbers.chunks(100_000) {
        let imported = admin
            .import_numbers(
                &Caller::Operator,
                "default",
                &ImportRequest {
                    phone_numbers: chunk.to_vec(),
                    client_env: None,
                    connector_id: Some(connector.clone()),
                },
            )
            .expect("import");
        assert!(imported.errors.is_empty(), "{:?}", imported.errors.first());
    }
    admin.checkpoint().expect("checkpoint");
    (key, connector)
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for entry in fs::read_dir(from).expect("list") {
        let entry = entry.expect("entry");
        if entry.file_name() != "LOCK" {
            fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
        }
    }
}

/// Latencies in microseconds: median, p99.9, worst.
fn summary(mut micros: Vec<u64>) -> (u64, u64, u64, usize) {
    micros.sort_unstable();
    let at = |q: f64| {
        micros
            .get(((micros.len() as f64 * q) as usize).min(micros.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    (
        at(0.5),
        at(0.999),
        micros.last().copied().unwrap_or(0),
        micros.len(),
    )
}

struct Tail {
    changes: Vec<u64>,
    lookups: Vec<u64>,
    bulk_imports: usize,
    checkpoints: usize,
    /// Every number the run imported (bulk and one at a time).
    imported: Vec<String>,
}

fn stop(mut node: Node) {
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &node.child.id().to_string()])
        .status();
    let _ = node.child.wait();
}

fn start(dir: &Path, checkpoint_after: u64, bulk: usize, log: &Path) -> Node {
    let log = fs::File::create(log).expect("log");
    serve_logging(
        &[
            "--data",
            dir.to_str().expect("utf-8"),
            "--checkpoint-after",
            &checkpoint_after.to_string(),
            "--accept-possible",
            "--max-bulk",
            &bulk.to_string(),
        ],
        &[("PATCHBAY_LOG", "info"), ("PATCHBAY_LOG_FORMAT", "json")],
        log,
    )
}

fn checkpoints_written(log: &Path) -> usize {
    fs::read_to_string(log)
        .map(|text| text.matches("\"checkpoint written\"").count())
        .unwrap_or(0)
}

/// One write-tail run. Bulk imports go on until `until_checkpoints` checkpoints are
/// written, or, with `imports`, for exactly that many.
#[allow(clippy::too_many_arguments)]
fn write_tail(
    dir: &Path,
    key: &str,
    connector: &str,
    base: &[String],
    fresh: &[String],
    bulk: usize,
    checkpoint_after: u64,
    until_checkpoints: usize,
    imports: Option<usize>,
) -> Tail {
    let log = dir.with_extension("log");
    let node = start(dir, checkpoint_after, bulk, &log);
    let done = Arc::new(AtomicBool::new(false));
    // The one-at-a-time client takes the fresh numbers from the end, the bulk client from
    // the start: they never import the same number.
    let singles = Arc::new(AtomicUsize::new(0));
    let changer = {
        let (done, singles) = (Arc::clone(&done), Arc::clone(&singles));
        let (addr, key, connector) = (node.addr, key.to_string(), connector.to_string());
        let fresh = fresh.to_vec();
        std::thread::spawn(move || {
            let mut http = Http::new(addr, &key);
            let mut micros = Vec::new();
            while !done.load(Ordering::Acquire) {
                let i = singles.fetch_add(1, Ordering::AcqRel);
                let Some(number) = fresh.len().checked_sub(1 + i).and_then(|at| fresh.get(at))
                else {
                    break;
                };
                let started = Instant::now();
                let at = std::time::SystemTime::now();
                assert!(
                    http.import(number, &connector),
                    "one-number import of {number}"
                );
                let took = started.elapsed();
                if took >= SLOW {
                    // To find in the server's log (`PATCHBAY_TAIL_LOGS`).
                    let since_epoch = at
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap_or_default()
                        .as_secs_f64();
                    eprintln!(
                        "durability: a one-number change took {:.0} ms, from {since_epoch:.3} \
                         (seconds since the epoch)",
                        took.as_secs_f64() * 1e3
                    );
                }
                micros.push(took.as_micros() as u64);
                std::thread::sleep(Duration::from_millis(2));
            }
            micros
        })
    };
    let looker = {
        let done = Arc::clone(&done);
        let (addr, key, connector) = (node.addr, key.to_string(), connector.to_string());
        let base = base.to_vec();
        std::thread::spawn(move || {
            let mut http = Http::new(addr, &key);
            let mut rng = SplitMix64::new(7);
            let mut micros = Vec::new();
            while !done.load(Ordering::Acquire) {
                let number = &base[rng.below(base.len() as u64) as usize];
                let started = Instant::now();
                let routed = http.lookup(number);
                micros.push(started.elapsed().as_micros() as u64);
                assert_eq!(
                    routed.as_deref(),
                    Some(connector.as_str()),
                    "lookup of {number}"
                );
            }
            micros
        })
    };
    let mut http = Http::new(node.addr, key);
    let mut bulk_imports = 0;
    for chunk in fresh.chunks(bulk) {
        let enough = match imports {
            Some(n) => bulk_imports >= n,
            None => checkpoints_written(&log) >= until_checkpoints,
        };
        // Leave room at the end for the one-at-a-time client.
        if enough
            || (bulk_imports + 2) * bulk
                >= fresh.len().saturating_sub(singles.load(Ordering::Acquire))
        {
            break;
        }
        assert!(
            http.import_all(chunk, connector),
            "bulk import {bulk_imports}"
        );
        bulk_imports += 1;
    }
    done.store(true, Ordering::Release);
    let changes = changer.join().expect("changer");
    let lookups = looker.join().expect("looker");
    let checkpoints = checkpoints_written(&log);
    stop(node);
    if let Ok(keep) = std::env::var("PATCHBAY_TAIL_LOGS") {
        let name = log.file_name().expect("a log file");
        let kept = Path::new(&keep).join(name);
        fs::copy(&log, &kept).expect("the server's log kept");
        eprintln!("durability: the server's log is in {}", kept.display());
    }
    let mut imported: Vec<String> = fresh.iter().take(bulk_imports * bulk).cloned().collect();
    imported.extend(fresh.iter().rev().take(changes.len()).cloned());
    Tail {
        changes,
        lookups,
        bulk_imports,
        checkpoints,
        imported,
    }
}

/// Bytes of the newest checkpoint and its snapshot, read once: the floor of a restart.
fn read_floor(dir: &Path) -> (Duration, u64) {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("list")
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| n.starts_with("checkpoint.") && n.ends_with(".pbck"))
        .collect();
    names.sort();
    let newest = names.last().expect("a checkpoint");
    let position = newest
        .trim_start_matches("checkpoint.")
        .trim_end_matches(".pbck");
    let newest: PathBuf = dir.join(newest);
    let snapshot = dir.join(format!("snapshot.{position}.pbsnap"));
    let started = Instant::now();
    let mut bytes = 0;
    for path in [&newest, &snapshot] {
        let mut buffer = Vec::new();
        fs::File::open(path)
            .and_then(|mut f| f.read_to_end(&mut buffer))
            .expect("read");
        bytes += buffer.len() as u64;
    }
    (started.elapsed(), bytes)
}

fn main() {
    let base_count = size("PATCHBAY_TAIL_BASE", 3_000_000) as usize;
    let bulk = size("PATCHBAY_TAIL_BULK", 10_000) as usize;
    let checkpoints = size("PATCHBAY_TAIL_CHECKPOINTS", 2) as usize;
    let checkpoint_after = size("PATCHBAY_TAIL_CHECKPOINT_AFTER", 16 << 20);
    // Enough fresh numbers for the bulk imports to cross the checkpoints: a bulk change is
    // packed, each number a few bytes of journal (numbers from every country, further apart
    // than a block's, take more).
    let fresh_count = base_count
        .max((checkpoints as u64 + 1) as usize * (checkpoint_after as usize / 3) + 4 * bulk);
    eprintln!(
        "durability: generating {} numbers",
        base_count + fresh_count
    );
    let all: Vec<String> = e164_numbers(base_count + fresh_count, 42)
        .iter()
        .map(|n| n.to_string())
        .collect();
    let (base, fresh) = all.split_at(base_count);
    let work = tempfile::tempdir().expect("tempdir");
    let with = work.path().join("with-checkpoints");
    let without = work.path().join("without");
    eprintln!("durability: a data directory of {base_count} routed numbers");
    let started = Instant::now();
    let (key, connector) = make_base(&with, base);
    eprintln!(
        "durability: built in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    copy_dir(&with, &without);

    eprintln!("durability: write tail with checkpoints (--checkpoint-after {checkpoint_after})");
    let tail = write_tail(
        &with,
        &key,
        &connector,
        base,
        fresh,
        bulk,
        checkpoint_after,
        checkpoints,
        None,
    );
    eprintln!("durability: the same bulk imports without checkpoints");
    let baseline = write_tail(
        &without,
        &key,
        &connector,
        base,
        fresh,
        bulk,
        u64::MAX / 2,
        0,
        Some(tail.bulk_imports),
    );

    // Restart on the directory the run left.
    let log = work.path().join("restart.log");
    let started = Instant::now();
    let node = start(&with, checkpoint_after, bulk, &log);
    while !ready(node.addr) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let restart = started.elapsed();
    let numbers = base_count + tail.imported.len();
    {
        let mut http = Http::new(node.addr, &key);
        for number in tail
            .imported
            .iter()
            .step_by((tail.imported.len() / 1000).max(1))
        {
            assert_eq!(
                http.lookup(number).as_deref(),
                Some(connector.as_str()),
                "{number} after the restart"
            );
        }
    }
    stop(node);
    let (floor, floor_bytes) = read_floor(&with);

    let (cm, cp, cw, cn) = summary(tail.changes);
    let (lm, lp, lw, ln) = summary(tail.lookups);
    let (bcm, bcp, bcw, bcn) = summary(baseline.changes);
    let (blm, blp, blw, bln) = summary(baseline.lookups);
    println!(
        "write tail, {base_count} numbers + {} bulk imports of {bulk} (to {numbers} numbers), \
         {} checkpoints written (baseline: {}):",
        tail.bulk_imports, tail.checkpoints, baseline.checkpoints
    );
    println!("| | median | p99.9 | worst | count |");
    println!("|---|---|---|---|---|");
    let ms = |us: u64| us as f64 / 1000.0;
    println!(
        "| one-number change | {:.2} ms | {:.2} ms | {:.2} ms | {cn} |",
        ms(cm),
        ms(cp),
        ms(cw)
    );
    println!(
        "| one-number change, no checkpoint | {:.2} ms | {:.2} ms | {:.2} ms | {bcn} |",
        ms(bcm),
        ms(bcp),
        ms(bcw)
    );
    println!(
        "| HTTP lookup | {:.2} ms | {:.2} ms | {:.2} ms | {ln} |",
        ms(lm),
        ms(lp),
        ms(lw)
    );
    println!(
        "| HTTP lookup, no checkpoint | {:.2} ms | {:.2} ms | {:.2} ms | {bln} |",
        ms(blm),
        ms(blp),
        ms(blw)
    );
    println!(
        "restart at {numbers} numbers: {:.2} s to /readyz 200; reading its checkpoint and \
         snapshot ({:.0} MB) once: {:.2} s ({:.1}x)",
        restart.as_secs_f64(),
        floor_bytes as f64 / 1e6,
        floor.as_secs_f64(),
        restart.as_secs_f64() / floor.as_secs_f64().max(1e-9)
    );
    println!(
        "{}",
        json!({
            "numbers": numbers,
            "bulk_imports": tail.bulk_imports,
            "checkpoints": tail.checkpoints,
            "change_ms": {"median": ms(cm), "p999": ms(cp), "worst": ms(cw)},
            "change_no_checkpoint_ms": {"median": ms(bcm), "p999": ms(bcp), "worst": ms(bcw)},
            "lookup_ms": {"median": ms(lm), "p999": ms(lp), "worst": ms(lw)},
            "lookup_no_checkpoint_ms": {"median": ms(blm), "p999": ms(blp), "worst": ms(blw)},
            "restart_s": restart.as_secs_f64(),
            "read_floor_s": floor.as_secs_f64(),
        })
    );
    assert!(
        tail.checkpoints >= checkpoints,
        "the run wrote {} checkpoints, {checkpoints} wanted",
        tail.checkpoints
    );
    assert_eq!(baseline.checkpoints, 0, "the baseline wrote a checkpoint");
}
