//! `patchbay sip` beside Kamailio doing the same job, one after the other in one run, both
//! driven by the same sipp scenario (`benches/sip/invite-302.xml`: INVITE, expect the 302
//! and its Contact, ACK) over the same numbers:
//!
//! - Kamailio 5.6 (`benches/sip/kamailio.cfg`): the numbers in an `htable` loaded from a
//!   `db_text` table at start, `sl_send_reply("302")`, `children` UDP workers;
//! - `patchbay sip --snapshot FILE` (release build), one UDP socket per core.
//!
//! For each rate of `PATCHBAY_SIP_RATES` (calls/s, default `2000,8000,15000`), sipp offers
//! `PATCHBAY_SIP_SECONDS` (default 10) seconds of calls from one UDP socket. Measured: calls
//! that succeeded and failed, the rate sipp reached, the server's CPU time per call (every
//! thread of every process of the server, from `/proc/*/task/*/schedstat`, nanoseconds),
//! and response time: sipp counts it in whole milliseconds only, so a probe beside the load
//! sends one INVITE every 5 ms from its own socket and times each answer to the
//! microsecond (p50, p99, worst).
//!
//! Start-up: time from spawn to the first answered OPTIONS with `PATCHBAY_SIP_STARTUP`
//! numbers (default 1,000,000; 0 skips it; Kamailio takes minutes): Kamailio loading the
//! htable from db_text, `patchbay sip --snapshot` and `patchbay sip --data` (a data
//! directory with the numbers in its checkpoint).
//!
//! Following: an admin owning a data directory (what `patchbay serve` runs) acknowledges
//! `PATCHBAY_SIP_CHANGES` one-number imports (default 200), one at a time, while `patchbay
//! sip --data` follows the directory: the time from each acknowledgment until an INVITE
//! for the number gets its 302 (p50, p99, worst). `PATCHBAY_SIP_FOLLOW_ONLY=1` measures
//! only this (no Kamailio or sipp needed).
//!
//! Run: `benches/sip/run` (builds in release first; needs `kamailio` and `sipp`).

use std::io::Write;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use patchbay_admin::{
    Admin, AdminConfig, Caller, DataDir, ImportRequest, NewConnector, NumberCheck,
};
use patchbay_benches::{Fixture, SplitMix64};
use patchbay_core::ClientEnv;

const CONNECTORS: usize = 1_000;
const KAMAILIO_PORT: u16 = 5470;
const PATCHBAY_PORT: u16 = 5460;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Writes Kamailio's `db_text` database: the htable's table with every route, and the
/// version table.
fn write_db_text(dir: &Path, fixture: &Fixture) {
    std::fs::create_dir_all(dir).expect("db dir");
    std::fs::write(
        dir.join("version"),
        "table_name(string) table_version(int) \nhtable:2\n",
    )
    .expect("version table");
    let mut out =
        std::io::BufWriter::new(std::fs::File::create(dir.join("htable")).expect("htable"));
    writeln!(
        out,
        "id(int,auto) key_name(string) key_type(int) value_type(int) key_value(string) expires(int) "
    )
    .expect("write");
    for (i, (number, connector)) in fixture.route_pairs().enumerate() {
        writeln!(out, "{}:{number}:0:0:{}:0", i + 1, connector.connector_id).expect("write");
    }
    out.flush().expect("flush");
}

/// sipp's numbers: every routed number once, in a random order.
fn write_csv(path: &Path, fixture: &Fixture) {
    let mut numbers: Vec<String> = fixture.numbers.iter().map(|n| n.to_string()).collect();
    SplitMix64::new(7).shuffle(&mut numbers);
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).expect("csv"));
    writeln!(out, "SEQUENTIAL").expect("write");
    for n in numbers {
        writeln!(out, "{n};").expect("write");
    }
    out.flush().expect("flush");
}

/// A server under test: its process (and Kamailio's children), where it answers.
struct Server {
    name: &'static str,
    child: Child,
    addr: SocketAddr,
    started: Duration,
}

impl Server {
    fn kamailio(work: &Path, db: &Path, port: u16, shm_mb: u32) -> Server {
        let config = std::fs::read_to_string(root().join("benches/sip/kamailio.cfg"))
            .expect("benches/sip/kamailio.cfg")
            .replace("@LISTEN@", &format!("127.0.0.1:{port}"))
            .replace("@DB@", &db.display().to_string())
            .replace("@CHILDREN@", &cores().to_string());
        let cfg = work.join(format!("kamailio-{port}.cfg"));
        std::fs::write(&cfg, config).expect("config");
        let log_path = work.join(format!("kamailio-{port}.log"));
        let log = std::fs::File::create(&log_path).expect("log");
        let begun = Instant::now();
        let child = Command::new("kamailio")
            .arg("-f")
            .arg(&cfg)
            .args(["-DD", "-E", "-m", &shm_mb.to_string(), "-M", "32"])
            .args(["-Y", &work.display().to_string()])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("kamailio (apt-get install -y kamailio)");
        Server::ready("kamailio", child, port, begun, Some(&log_path))
    }

    fn patchbay(args: &[&str], port: u16) -> Server {
        let begun = Instant::now();
        let child = Command::new(root().join("target/release/patchbay"))
            .args(["sip", "--listen", &format!("127.0.0.1:{port}")])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("target/release/patchbay");
        Server::ready("patchbay", child, port, begun, None)
    }

    /// Waits for the first answered OPTIONS.
    fn ready(
        name: &'static str,
        mut child: Child,
        port: u16,
        begun: Instant,
        log: Option<&Path>,
    ) -> Server {
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .expect("timeout");
        let mut buffer = [0u8; 4_096];
        for i in 0u64.. {
            if let Ok(Some(status)) = child.try_wait() {
                let log = log
                    .and_then(|l| std::fs::read_to_string(l).ok())
                    .unwrap_or_default();
                panic!("{name} exited during start-up: {status}\n{log}");
            }
            assert!(
                begun.elapsed() < Duration::from_secs(3_600),
                "{name} never answered"
            );
            let options = request(
                "OPTIONS",
                "+10000000000",
                addr,
                &socket,
                &format!("ready{i}"),
            );
            let _ = socket.send_to(options.as_bytes(), addr);
            if let Ok((len, _)) = socket.recv_from(&mut buffer) {
                if buffer[..len].starts_with(b"SIP/2.0 200 ") {
                    break;
                }
            }
        }
        Server {
            name,
            child,
            addr,
            started: begun.elapsed(),
        }
    }

    /// CPU time of every thread of the server and its child processes, in nanoseconds.
    fn cpu_ns(&self) -> u64 {
        let root = self.child.id();
        let mut pids = vec![root];
        if let Ok(entries) = std::fs::read_dir("/proc") {
            for entry in entries.flatten() {
                let Some(pid) = entry
                    .file_name()
                    .to_str()
                    .and_then(|p| p.parse::<u32>().ok())
                else {
                    continue;
                };
                let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
                // pid (comm) state ppid ...: the parent follows the closing parenthesis.
                let ppid = stat
                    .rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                    .and_then(|p| p.parse::<u32>().ok());
                if ppid == Some(root) {
                    pids.push(pid);
                }
            }
        }
        pids.iter()
            .flat_map(|pid| {
                std::fs::read_dir(format!("/proc/{pid}/task"))
                    .into_iter()
                    .flatten()
            })
            .flatten()
            .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
            .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
            .sum()
    }

    fn stop(mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A request as sipp sends one.
fn request(method: &str, number: &str, to: SocketAddr, from: &UdpSocket, call: &str) -> String {
    let local = from.local_addr().expect("addr");
    format!(
        "{method} sip:{number}@{to};user=phone SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-{call}\r\n\
         From: probe <sip:probe@{local}>;tag={call}\r\nTo: <sip:{number}@{to}>\r\n\
         Call-ID: {call}@probe\r\nCSeq: 1 {method}\r\nContact: sip:probe@{local}\r\n\
         Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
}

/// What one sipp run at one rate measured.
struct Run {
    offered: u32,
    calls: u64,
    successful: u64,
    failed: u64,
    reached: f64,
    cpu_per_call_us: f64,
    probe: Latency,
    sipp_ms_p99: f64,
}

#[derive(Default)]
struct Latency {
    count: usize,
    lost: usize,
    p50_us: f64,
    p99_us: f64,
    max_us: f64,
}

/// Sends an INVITE for one of `numbers` every 5 ms until `stop`, timing each 302.
fn probe(to: SocketAddr, numbers: Vec<String>, stop: Arc<AtomicBool>) -> Latency {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    let mut times = Vec::new();
    let mut lost = 0;
    let mut buffer = [0u8; 4_096];
    let mut i = 0usize;
    let mut next = Instant::now();
    while !stop.load(Ordering::Acquire) {
        let number = &numbers[i % numbers.len()];
        let invite = request(
            "INVITE",
            number,
            to,
            &socket,
            &format!("p{i}-{}", std::process::id()),
        );
        let sent = Instant::now();
        socket.send_to(invite.as_bytes(), to).expect("send");
        loop {
            match socket.recv_from(&mut buffer) {
                Ok((len, _)) if buffer[..len].starts_with(b"SIP/2.0 302 ") => {
                    times.push(sent.elapsed().as_secs_f64() * 1e6);
                    break;
                }
                Ok(_) => continue,
                Err(_) => {
                    lost += 1;
                    break;
                }
            }
        }
        i += 1;
        next += Duration::from_millis(5);
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    times.sort_by(f64::total_cmp);
    let at = |q: f64| {
        times
            .get(((times.len() as f64 * q) as usize).min(times.len().saturating_sub(1)))
            .copied()
            .unwrap_or(f64::NAN)
    };
    Latency {
        count: times.len(),
        lost,
        p50_us: at(0.50),
        p99_us: at(0.99),
        max_us: times.last().copied().unwrap_or(f64::NAN),
    }
}

/// One sipp run of `seconds` at `rate` calls/s against `server`.
fn sipp(
    server: &Server,
    work: &Path,
    csv: &Path,
    rate: u32,
    seconds: u32,
    probe_numbers: &[String],
) -> Run {
    let dir = work.join(format!("sipp-{}-{rate}", server.name));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("sipp dir");
    let calls = u64::from(rate) * u64::from(seconds);
    let stop = Arc::new(AtomicBool::new(false));
    let prober = {
        let (to, numbers, stop) = (server.addr, probe_numbers.to_vec(), stop.clone());
        std::thread::spawn(move || probe(to, numbers, stop))
    };
    let cpu_before = server.cpu_ns();
    let begun = Instant::now();
    let status = Command::new("sipp")
        .arg(server.addr.to_string())
        .arg("-sf")
        .arg(root().join("benches/sip/invite-302.xml"))
        .arg("-inf")
        .arg(csv)
        .args(["-r", &rate.to_string(), "-m", &calls.to_string()])
        .args([
            "-t",
            "u1",
            "-nostdin",
            "-p",
            "0",
            "-timeout",
            "120s",
            "-timeout_error",
        ])
        .args([
            "-trace_stat",
            "-stf",
            "stat.csv",
            "-fd",
            "1",
            "-trace_rtt",
            "-rtt_freq",
            "1000",
        ])
        .args(["-l", &(rate * 2).to_string()])
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("sipp (apt-get install -y sip-tester)");
    let elapsed = begun.elapsed();
    let cpu = server.cpu_ns() - cpu_before;
    stop.store(true, Ordering::Release);
    let latency = prober.join().expect("probe");
    let stat = std::fs::read_to_string(dir.join("stat.csv")).expect("sipp's stat.csv");
    let header: Vec<&str> = stat.lines().next().unwrap_or_default().split(';').collect();
    let last: Vec<&str> = stat.lines().last().unwrap_or_default().split(';').collect();
    let column = |name: &str| -> u64 {
        header
            .iter()
            .position(|h| *h == name)
            .and_then(|i| last.get(i))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let successful = column("SuccessfulCall(C)");
    let failed = column("FailedCall(C)");
    // sipp's own response times, whole milliseconds.
    let mut rtts: Vec<f64> = std::fs::read_dir(&dir)
        .expect("sipp dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with("_rtt.csv"))
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .flat_map(|text| {
            text.lines()
                .skip(1)
                .filter_map(|l| l.split(';').nth(1)?.parse::<f64>().ok())
                .collect::<Vec<_>>()
        })
        .collect();
    rtts.sort_by(f64::total_cmp);
    let sipp_ms_p99 = rtts
        .get((rtts.len() as f64 * 0.99) as usize)
        .copied()
        .unwrap_or(f64::NAN);
    if !status.success() && failed == 0 {
        eprintln!("  sipp exited with {status} ({})", dir.display());
    }
    Run {
        offered: rate,
        calls,
        successful,
        failed,
        reached: successful as f64 / elapsed.as_secs_f64(),
        cpu_per_call_us: cpu as f64 / 1e3 / successful.max(1) as f64,
        probe: latency,
        sipp_ms_p99,
    }
}

fn print_run(name: &str, run: &Run) {
    println!(
        "  {name:<9} {:>6}/s offered: {:>7} of {:>7} calls ok, {:>5} failed, {:>8.0}/s reached, \
         CPU {:>6.2} µs/call; probe p50 {:>6.0} µs p99 {:>6.0} µs max {:>6.0} µs ({} timed, {} lost); sipp p99 {} ms",
        run.offered,
        run.successful,
        run.calls,
        run.failed,
        run.reached,
        run.cpu_per_call_us,
        run.probe.p50_us,
        run.probe.p99_us,
        run.probe.max_us,
        run.probe.count,
        run.probe.lost,
        run.sipp_ms_p99,
    );
}

/// A data directory holding `fixture`'s numbers in its checkpoint, as a server leaves it.
fn data_dir(dir: &Path, fixture: &Fixture) {
    let admin =
        Admin::open(Box::new(DataDir::open(dir).expect("data dir")), config()).expect("admin");
    admin.bootstrap().expect("bootstrap");
    let ids: Vec<String> = fixture
        .connectors
        .iter()
        .map(|c| connector(&admin, &c.name))
        .collect();
    let mut by_connector: Vec<Vec<String>> = vec![Vec::new(); ids.len()];
    for (number, &slot) in fixture.numbers.iter().zip(&fixture.assignment) {
        by_connector[slot as usize].push(number.to_string());
    }
    let mut refused = 0;
    for (numbers, id) in by_connector.iter().zip(&ids) {
        for chunk in numbers.chunks(10_000) {
            refused += admin
                .import_numbers(
                    &Caller::Operator,
                    "default",
                    &ImportRequest {
                        phone_numbers: chunk.to_vec(),
                        client_env: None,
                        connector_id: Some(id.clone()),
                    },
                )
                .expect("import")
                .errors
                .len();
        }
    }
    assert_eq!(refused, 0, "every number of the fixture imports");
    admin.checkpoint().expect("checkpoint");
}

/// A new connector named `name` in the default project; its id.
fn connector(admin: &Admin, name: &str) -> String {
    admin
        .create_connector(
            &Caller::Operator,
            "default",
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

/// The admin's settings here: the fixture's numbers are of possible lengths, not all in
/// assigned ranges.
fn config() -> AdminConfig {
    AdminConfig {
        number_check: NumberCheck::Possible,
        ..AdminConfig::default()
    }
}

/// How long after an acknowledged change `patchbay sip --data` answers from it.
fn follow_latency(work: &Path, changes: usize) {
    let dir = work.join("follow-data");
    let admin =
        Admin::open(Box::new(DataDir::open(&dir).expect("data dir")), config()).expect("admin");
    admin.bootstrap().expect("bootstrap");
    let id = connector(&admin, "Follow");
    let server = Server::patchbay(&["--data", dir.to_str().expect("utf-8")], PATCHBAY_PORT);
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let mut buffer = [0u8; 4_096];
    let mut times = Vec::with_capacity(changes);
    for (i, number) in patchbay_benches::e164_numbers(changes, 99)
        .iter()
        .enumerate()
    {
        let imported = admin
            .import_numbers(
                &Caller::Operator,
                "default",
                &ImportRequest {
                    phone_numbers: vec![number.to_string()],
                    client_env: None,
                    connector_id: Some(id.clone()),
                },
            )
            .expect("import");
        assert!(
            imported.errors.is_empty(),
            "{number}: {:?}",
            imported.errors
        );
        let acknowledged = Instant::now();
        for attempt in 0u64.. {
            let invite = request(
                "INVITE",
                &number.to_string(),
                server.addr,
                &socket,
                &format!("f{i}-{attempt}"),
            );
            socket
                .send_to(invite.as_bytes(), server.addr)
                .expect("send");
            let (len, _) = socket.recv_from(&mut buffer).expect("a reply");
            if buffer[..len].starts_with(b"SIP/2.0 302 ") {
                break;
            }
            assert!(
                acknowledged.elapsed() < Duration::from_secs(10),
                "never answered: {}",
                String::from_utf8_lossy(&buffer[..len])
            );
        }
        times.push(acknowledged.elapsed().as_secs_f64() * 1e3);
    }
    server.stop();
    times.sort_by(f64::total_cmp);
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    println!(
        "following: {changes} acknowledged changes answered by patchbay sip --data after p50 {:.2} ms, p99 {:.2} ms, worst {:.2} ms",
        at(0.5),
        at(0.99),
        times[times.len() - 1]
    );
}

fn main() {
    let numbers: usize = env_or("PATCHBAY_SIP_NUMBERS", 200_000);
    let seconds: u32 = env_or("PATCHBAY_SIP_SECONDS", 10);
    let startup: usize = env_or("PATCHBAY_SIP_STARTUP", 1_000_000);
    let rates: Vec<u32> = std::env::var("PATCHBAY_SIP_RATES")
        .unwrap_or_else(|_| "2000,8000,15000".into())
        .split(',')
        .filter_map(|r| r.trim().parse().ok())
        .collect();
    let changes: usize = env_or("PATCHBAY_SIP_CHANGES", 200);
    let work = tempfile::tempdir().expect("tempdir");
    let work = work.path();
    if changes > 0 {
        follow_latency(work, changes);
    }
    if std::env::var_os("PATCHBAY_SIP_FOLLOW_ONLY").is_some() {
        return;
    }
    println!(
        "patchbay sip beside Kamailio: {numbers} numbers over {CONNECTORS} connectors, {seconds} s a rate, {} cores",
        cores()
    );
    let fixture = Fixture::new(numbers, CONNECTORS, 1 << 12, 42);
    let snapshot = work.join("routes.pbsnap");
    fixture.snapshot(1).write_to(&snapshot).expect("snapshot");
    write_db_text(&work.join("db"), &fixture);
    let csv = work.join("numbers.csv");
    write_csv(&csv, &fixture);
    let probe_numbers: Vec<String> = fixture
        .numbers
        .iter()
        .rev()
        .take(1_000)
        .map(|n| n.to_string())
        .collect();

    let mut runs: Vec<(Run, Run)> = Vec::new();
    let kamailio = Server::kamailio(work, &work.join("db"), KAMAILIO_PORT, 1_024);
    println!(
        "kamailio answered after {:.2} s ({numbers} htable rows)",
        kamailio.started.as_secs_f64()
    );
    let patchbay = Server::patchbay(
        &["--snapshot", snapshot.to_str().expect("utf-8")],
        PATCHBAY_PORT,
    );
    println!(
        "patchbay answered after {:.3} s",
        patchbay.started.as_secs_f64()
    );
    for &rate in &rates {
        let k = sipp(&kamailio, work, &csv, rate, seconds, &probe_numbers);
        print_run("kamailio", &k);
        let p = sipp(&patchbay, work, &csv, rate, seconds, &probe_numbers);
        print_run("patchbay", &p);
        println!(
            "  ratio     CPU/call {:.2}×, probe p99 {:.2}×",
            p.cpu_per_call_us / k.cpu_per_call_us,
            p.probe.p99_us / k.probe.p99_us
        );
        runs.push((k, p));
    }
    kamailio.stop();
    patchbay.stop();

    if startup > 0 {
        println!("start-up with {startup} numbers (spawn to the first answered OPTIONS):");
        let big = Fixture::new(startup, CONNECTORS, 1 << 12, 43);
        let big_snapshot = work.join("big.pbsnap");
        big.snapshot(1).write_to(&big_snapshot).expect("snapshot");
        let big_data = work.join("big-data");
        data_dir(&big_data, &big);
        let server = Server::patchbay(
            &["--snapshot", big_snapshot.to_str().expect("utf-8")],
            PATCHBAY_PORT,
        );
        let from_snapshot = server.started;
        server.stop();
        println!(
            "  patchbay sip --snapshot {:>9.3} s",
            from_snapshot.as_secs_f64()
        );
        let server = Server::patchbay(
            &["--data", big_data.to_str().expect("utf-8")],
            PATCHBAY_PORT,
        );
        let from_data = server.started;
        server.stop();
        println!(
            "  patchbay sip --data     {:>9.3} s",
            from_data.as_secs_f64()
        );
        let big_db = work.join("big-db");
        write_db_text(&big_db, &big);
        let kamailio = Server::kamailio(work, &big_db, KAMAILIO_PORT, 2_048);
        println!(
            "  kamailio (htable from db_text) {:>9.3} s",
            kamailio.started.as_secs_f64()
        );
        println!(
            "  ratio: --snapshot {:.0}× faster, --data {:.0}× faster",
            kamailio.started.as_secs_f64() / from_snapshot.as_secs_f64(),
            kamailio.started.as_secs_f64() / from_data.as_secs_f64()
        );
        kamailio.stop();
    }
}
