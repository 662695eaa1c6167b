//! Crash safety: a child process applies a stream of changes to a data directory and
//! reports each acknowledged one; the parent kills it with SIGKILL at a random moment,
//! reopens the directory, and checks that every acknowledged change is there and the
//! invariants hold. Repeated many times (`PATCHBAY_CRASH_ROUNDS`, default 12), then again
//! with concurrent clients in the child (`THREADS` threads importing one number at a time,
//! so changes share group commits when it dies).
//!
//! A third series kills the child at random moments while checkpoints of a larger model
//! are written one after another beside its changes, so that most kills land in the middle
//! of one; each reopened directory must hold every acknowledged change, and the series
//! must have caught at least one checkpoint half-written.
//!
//! This file has its own `main` (harness = false): run with no arguments it is the test;
//! with `worker DIR START`, `concurrent DIR START` or `checkpointing DIR START` it is the
//! child.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use patchbay_admin::{Admin, AdminConfig, Caller, DataDir, ImportRequest, NewConnector};
use patchbay_core::ClientEnv;

fn config() -> AdminConfig {
    // A small journal threshold so that checkpoints (and crashes during them) happen often.
    AdminConfig {
        checkpoint_after: 16 << 10,
        ..AdminConfig::default()
    }
}

fn number(i: u64) -> String {
    format!("+4420794{:05}", i % 100_000)
}

/// Numbers of the larger model of the checkpointing child: a project of their own.
const BASE_NUMBERS: u64 = 100_000;

/// The checkpointing child: a project of [`BASE_NUMBERS`] numbers, then the worker's
/// changes with a checkpoint started after every change (one at a time: each begins as
/// soon as the one before is written).
fn checkpointing_worker(dir: &str, start: u64) -> Result<(), Box<dyn std::error::Error>> {
    {
        let (admin, _) = open_worker(dir)?;
        let op = Caller::Operator;
        if !admin
            .list_projects(&op)?
            .iter()
            .any(|p| p.project_id == "base")
        {
            admin.create_project(&op, "acme", "base")?;
            for batch in 0..BASE_NUMBERS / 10_000 {
                let request = ImportRequest {
                    phone_numbers: (0..10_000)
                        .map(|i| format!("+4420795{:05}", batch * 10_000 + i))
                        .collect(),
                    client_env: None,
                    connector_id: None,
                };
                admin.import_numbers(&op, "base", &request)?;
            }
            admin.checkpoint()?;
        }
    }
    worker_with(
        dir,
        start,
        AdminConfig {
            checkpoint_after: 0,
            ..AdminConfig::default()
        },
    )
}

/// The child: imports numbers one change at a time and deletes some, printing
/// `import N` / `delete N` after each acknowledged change, until killed.
fn worker(dir: &str, start: u64) -> Result<(), Box<dyn std::error::Error>> {
    worker_with(dir, start, config())
}

fn worker_with(
    dir: &str,
    start: u64,
    config: AdminConfig,
) -> Result<(), Box<dyn std::error::Error>> {
    let (admin, connector) = open_worker_with(dir, config)?;
    let op = Caller::Operator;
    println!("ready");
    for i in start.. {
        let request = ImportRequest {
            phone_numbers: vec![number(i)],
            client_env: None,
            connector_id: Some(connector.clone()),
        };
        let result = admin.import_numbers(&op, "p", &request)?;
        if result.errors.is_empty() {
            println!("import {i}");
        }
        if i % 7 == 0 && i >= start + 3 {
            admin.delete_number(&op, "p", &number(i - 3))?;
            println!("delete {}", i - 3);
        }
    }
    Ok(())
}

const THREADS: u64 = 8;

/// Opens the directory with a project and a connector, as every child needs.
fn open_worker(dir: &str) -> Result<(Admin, String), Box<dyn std::error::Error>> {
    open_worker_with(dir, config())
}

fn open_worker_with(
    dir: &str,
    config: AdminConfig,
) -> Result<(Admin, String), Box<dyn std::error::Error>> {
    let admin = Admin::open(Box::new(DataDir::open(dir)?), config)?;
    let op = Caller::Operator;
    if admin.list_projects(&op)?.is_empty() {
        admin.create_project(&op, "acme", "p")?;
    }
    let connector = match admin.list_connectors(&op, "p")?.into_iter().next() {
        Some(c) => c,
        None => admin.create_connector(
            &op,
            "p",
            NewConnector {
                name: "c".into(),
                client_env: ClientEnv::Live,
                asr_lang_code: "en-US".into(),
                voice_name: "en-US-Neural2-A".into(),
                variant_id: None,
                disable_handoff: None,
            },
        )?,
    };
    Ok((admin, connector.connector_id))
}

/// The concurrent child: `THREADS` threads, thread `t` importing `start + t`,
/// `start + t + THREADS`, ... one change at a time, printing `import N` after each
/// acknowledged one, until killed.
fn concurrent_worker(dir: &str, start: u64) -> Result<(), Box<dyn std::error::Error>> {
    let (admin, connector) = open_worker(dir)?;
    println!("ready");
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let (admin, connector) = (&admin, &connector);
            scope.spawn(move || {
                for i in (start + t..).step_by(THREADS as usize) {
                    let request = ImportRequest {
                        phone_numbers: vec![number(i)],
                        client_env: None,
                        connector_id: Some(connector.clone()),
                    };
                    match admin.import_numbers(&Caller::Operator, "p", &request) {
                        Ok(result) if result.errors.is_empty() => println!("import {i}"),
                        Ok(result) => eprintln!("worker: {:?}", result.errors),
                        Err(e) => eprintln!("worker: {e}"),
                    }
                }
            });
        }
    });
    Ok(())
}

/// When the parent kills the child.
#[derive(Clone, Copy)]
enum Kill {
    /// Once it has acknowledged more than this many steps.
    After(u64),
    /// This long after it acknowledged its first step.
    At(Duration),
}

/// Runs the child `mode` on `dir` from `start`, kills it with SIGKILL as `kill` says, and
/// returns every step it acknowledged (including those it printed before it died).
fn run_child(
    mode: &str,
    dir: &std::path::Path,
    start: u64,
    kill: Kill,
) -> Result<Vec<Step>, String> {
    let mut child = Command::new(std::env::current_exe().map_err(|e| e.to_string())?)
        .args([mode, &dir.display().to_string(), &start.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let mut steps = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    let kill_after = match kill {
        Kill::After(n) => n,
        Kill::At(_) => 0,
    };
    while steps.len() as u64 <= kill_after {
        let line = lines
            .next()
            .ok_or("the worker stopped early")?
            .map_err(|e| e.to_string())?;
        if line == "ready" {
            continue;
        }
        steps.push(parse_step(&line).ok_or_else(|| format!("unexpected worker output {line:?}"))?);
        if Instant::now() > deadline {
            return Err("the worker is too slow".into());
        }
    }
    let reader = std::thread::spawn(move || {
        lines
            .map_while(Result::ok)
            .filter_map(|l| parse_step(&l))
            .collect::<Vec<_>>()
    });
    if let Kill::At(after) = kill {
        std::thread::sleep(after);
    }
    child.kill().map_err(|e| e.to_string())?; // SIGKILL
    child.wait().map_err(|e| e.to_string())?;
    steps.extend(reader.join().map_err(|_| "the reader panicked")?);
    Ok(steps)
}

/// Reopens `dir` as a restarted process would, checks the model's invariants, and returns
/// the numbers (their worker index) that are there.
fn reopen(dir: &std::path::Path) -> Result<BTreeSet<u64>, String> {
    let admin = Admin::open(
        Box::new(DataDir::open(dir).map_err(|e| e.to_string())?),
        config(),
    )
    .map_err(|e| e.to_string())?;
    admin.check_invariants().map_err(|e| e.to_string())?;
    let present = admin
        .list_numbers(&Caller::Operator, "p", None)
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter_map(|p| {
            p.number
                .to_string()
                .strip_prefix("+4420794")
                .and_then(|d| d.parse().ok())
        })
        .collect();
    Ok(present)
}

/// One round with the concurrent child: every acknowledged import is there after the
/// kill, and nothing is there that was neither acknowledged nor in flight (at most one
/// number per thread: the one after its last acknowledged).
fn concurrent_round(
    dir: &std::path::Path,
    round: u64,
    acked: &mut BTreeSet<u64>,
) -> Result<(), String> {
    let start = round * 1000 + 10;
    let kill_after = (round * 7919 + 13) % 200;
    let imported: BTreeSet<u64> = run_child("concurrent", dir, start, Kill::After(kill_after))?
        .into_iter()
        .map(|step| match step {
            Step::Import(n) => Ok(n),
            Step::Delete(n) => Err(format!("the concurrent worker deleted {n}")),
        })
        .collect::<Result<_, _>>()?;
    let in_flight: BTreeSet<u64> = (0..THREADS)
        .map(|t| {
            let mine = imported
                .iter()
                .filter(|n| (*n - start) % THREADS == t)
                .max();
            mine.map_or(start + t, |n| n + THREADS)
        })
        .collect();
    acked.extend(&imported);

    let present = reopen(dir)?;
    if let Some(n) = acked.difference(&present).next() {
        return Err(format!("round {round}: acknowledged import {n} is missing"));
    }
    if let Some(n) = present.difference(acked).find(|n| !in_flight.contains(n)) {
        return Err(format!(
            "round {round}: {n} is there but was neither acknowledged nor in flight"
        ));
    }
    *acked = present;
    Ok(())
}

/// An acknowledged step of the worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Import(u64),
    Delete(u64),
}

fn parse_step(line: &str) -> Option<Step> {
    let mut parts = line.split_whitespace();
    match (
        parts.next(),
        parts.next().and_then(|n| n.parse::<u64>().ok()),
    ) {
        (Some("import"), Some(n)) => Some(Step::Import(n)),
        (Some("delete"), Some(n)) => Some(Step::Delete(n)),
        _ => None,
    }
}

/// The step the worker runs after `last` (it was killed during it, or before it).
fn next_step(last: Option<Step>, start: u64) -> Step {
    match last {
        None => Step::Import(start),
        Some(Step::Import(i)) if i % 7 == 0 && i >= start + 3 => Step::Delete(i - 3),
        Some(Step::Import(i)) => Step::Import(i + 1),
        Some(Step::Delete(d)) => Step::Import(d + 4),
    }
}

/// Whether a checkpoint was being written in `dir` (its temporary file is there).
fn checkpoint_in_progress(dir: &std::path::Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with("checkpoint.") && name.ends_with(".tmp")
        })
    })
}

fn crash_round(
    mode: &str,
    dir: &std::path::Path,
    round: u64,
    acked: &mut BTreeSet<u64>,
    deleted: &mut BTreeSet<u64>,
) -> Result<bool, String> {
    let start = round * 1000 + 10;
    let kill = match mode {
        // Kill at a pseudo-random moment, 20 to 600 ms in.
        "checkpointing" => Kill::At(Duration::from_millis(20 + (round * 7919 + 13) % 581)),
        // Kill after a pseudo-random number of acknowledged changes (0 to 120).
        _ => Kill::After((round * 7919 + 13) % 121),
    };
    let steps = run_child(mode, dir, start, kill)?;
    let caught = checkpoint_in_progress(dir);
    for step in &steps {
        match *step {
            Step::Import(n) => {
                acked.insert(n);
                deleted.remove(&n);
            }
            Step::Delete(n) => {
                acked.remove(&n);
                deleted.insert(n);
            }
        }
    }
    let in_flight = next_step(steps.last().copied(), start);

    let present = reopen(dir)?;
    for &n in acked.iter() {
        if !present.contains(&n) && in_flight != Step::Delete(n) {
            return Err(format!("round {round}: acknowledged import {n} is missing"));
        }
    }
    for &n in deleted.iter() {
        if present.contains(&n) {
            return Err(format!("round {round}: acknowledged delete {n} is undone"));
        }
    }
    for &n in present.difference(acked) {
        if in_flight != Step::Import(n) {
            return Err(format!(
                "round {round}: {n} is there but was never acknowledged"
            ));
        }
    }
    // The in-flight step may have landed either way: continue from what is there.
    for &n in acked.difference(&present) {
        deleted.insert(n);
    }
    *acked = present;
    if checkpoint_in_progress(dir) {
        return Err(format!(
            "round {round}: a half-written checkpoint was left after reopening"
        ));
    }
    Ok(caught)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let child = match args.get(1).map(String::as_str) {
        Some("worker") => Some(worker as fn(&str, u64) -> Result<(), Box<dyn std::error::Error>>),
        Some("concurrent") => Some(concurrent_worker as _),
        Some("checkpointing") => Some(checkpointing_worker as _),
        _ => None,
    };
    if let Some(child) = child {
        let (Some(dir), Some(start)) = (args.get(2), args.get(3).and_then(|s| s.parse().ok()))
        else {
            eprintln!("usage: crash worker|concurrent|checkpointing DIR START");
            std::process::exit(2);
        };
        if let Err(e) = child(dir, start) {
            eprintln!("worker: {e}");
            std::process::exit(1);
        }
        return;
    }
    // Accept and ignore libtest's flags (cargo test passes some).
    let rounds: u64 = std::env::var("PATCHBAY_CRASH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(12);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut acked = BTreeSet::new();
    let mut deleted = BTreeSet::new();
    let mut failed = 0;
    for round in 0..rounds {
        if let Err(e) = crash_round("worker", dir.path(), round, &mut acked, &mut deleted) {
            eprintln!("crash round {round} FAILED: {e}");
            failed += 1;
        }
    }
    println!(
        "crash: {rounds} kill -9 rounds, {} acknowledged numbers verified",
        acked.len()
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let mut acked = BTreeSet::new();
    for round in 0..rounds {
        if let Err(e) = concurrent_round(dir.path(), round, &mut acked) {
            eprintln!("concurrent crash round {round} FAILED: {e}");
            failed += 1;
        }
    }
    println!(
        "crash: {rounds} kill -9 rounds with {THREADS} concurrent clients, {} acknowledged \
         numbers verified",
        acked.len()
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut acked, mut deleted) = (BTreeSet::new(), BTreeSet::new());
    let mut caught = 0;
    for round in 0..rounds {
        match crash_round("checkpointing", dir.path(), round, &mut acked, &mut deleted) {
            Ok(mid_checkpoint) => caught += u64::from(mid_checkpoint),
            Err(e) => {
                eprintln!("checkpointing crash round {round} FAILED: {e}");
                failed += 1;
            }
        }
    }
    println!(
        "crash: {rounds} kill -9 rounds beside checkpoints of {BASE_NUMBERS} numbers, {caught} \
         of them with a checkpoint half-written, {} acknowledged numbers verified",
        acked.len()
    );
    if caught == 0 {
        eprintln!("no kill landed in the middle of a checkpoint: the series tested nothing");
        failed += 1;
    }
    println!("{} passed, {failed} failed", 3 * rounds - failed);
    if failed > 0 {
        std::process::exit(1);
    }
}
