//! Three `patchbay serve` processes on one PostgreSQL store: writes through one are seen by
//! the others, concurrent conflicting writes settle on one, a node killed with `kill -9`
//! during a stream of writes catches up, and a database crash during a stream of writes
//! loses no acknowledged change and invents none. Also the command line on the store, and
//! `patchbay sip --store` answering INVITEs from it.

mod common;
#[path = "../../patchbay-admin/tests/pg/mod.rs"]
mod pg;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{api, invite, run, spawn_sip, Server};
use pg::PgCluster;
use serde_json::{json, Value};

fn start(cache: &Path, url: &str, node: &str) -> Server {
    Server::start(cache, &["--store", url, "--node", node])
}

fn connector(c: &common::Client<'_>) -> String {
    let created = c.send(
        "POST",
        &format!("{}/connectors", api("default")),
        Some(json!({"name": "Support", "clientEnv": "live", "asrLangCode": "en-US", "voiceName": "en-US-Neural2-A"})),
    );
    assert_eq!(
        created.status,
        201,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    created.json()["connectorId"]
        .as_str()
        .expect("id")
        .to_string()
}

fn number(i: u64) -> String {
    format!("+4420794{:05}", i)
}

/// Imports one number; its status and body.
fn import(c: &common::Client<'_>, number: &str, connector: &str) -> (u16, Value) {
    let response = c.send(
        "POST",
        &format!("{}/phone-numbers", api("default")),
        Some(json!({"phoneNumbers": [number], "connectorId": connector})),
    );
    let body = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    if response.status == 503 {
        assert_eq!(response.header("retry-after"), Some("1"));
        assert_eq!(body["error"]["code"], "unavailable");
    }
    (response.status, body)
}

/// The connector a node's lookup answers for `number`, if any.
fn lookup(c: &common::Client<'_>, number: &str) -> Option<String> {
    let found = c.send(
        "POST",
        &format!("{}/connectors/lookup", api("default")),
        Some(json!({"phoneNumber": number})),
    );
    match found.status {
        200 => found.json()["connectorId"].as_str().map(str::to_string),
        404 => None,
        other => panic!("lookup answered {other}"),
    }
}

/// Waits up to 20 s for `check` to hold.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every number a node holds in project `default` (all pages).
fn numbers(c: &common::Client<'_>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut path = format!("{}/phone-numbers?limit=1000", api("default"));
    loop {
        let page = c.get(&path).json();
        for n in page["phoneNumbers"].as_array().expect("a page") {
            out.insert(n["number"].as_str().expect("number").to_string());
        }
        match page["nextCursor"].as_str() {
            Some(cursor) => {
                path = format!(
                    "{}/phone-numbers?limit=1000&cursor={cursor}",
                    api("default")
                )
            }
            None => return out,
        }
    }
}

fn metric(server: &Server, name: &str) -> Option<f64> {
    let text = String::from_utf8_lossy(&server.client(None).get("/metrics").body).to_string();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

struct Nodes {
    _dir: tempfile::TempDir,
    caches: Vec<PathBuf>,
    servers: Vec<Server>,
    key: String,
}

fn three_nodes(url: &str) -> Nodes {
    let dir = tempfile::tempdir().expect("tempdir");
    let caches: Vec<PathBuf> = (0..3).map(|i| dir.path().join(format!("n{i}"))).collect();
    let servers: Vec<Server> = caches
        .iter()
        .enumerate()
        .map(|(i, cache)| start(cache, url, &format!("n{i}")))
        .collect();
    let keys: Vec<&String> = servers.iter().filter_map(|s| s.key.as_ref()).collect();
    assert_eq!(keys.len(), 1, "exactly one node creates the first key");
    let key = keys[0].clone();
    Nodes {
        _dir: dir,
        caches,
        servers,
        key,
    }
}

#[test]
fn three_nodes_follow_one_store() {
    let cluster = PgCluster::start();
    let url = cluster.database();
    let nodes = three_nodes(&url);
    let key = nodes.key.as_str();
    let clients: Vec<_> = nodes.servers.iter().map(|s| s.client(Some(key))).collect();
    // The key made on one node works on every node.
    let id = connector(&clients[1]);
    for c in &clients {
        eventually("the connector everywhere", || {
            c.get(&format!("{}/connectors/{id}", api("default"))).status == 200
        });
    }
    // Writes through each node, read-your-writes there, seen by the others.
    for i in 0..30u64 {
        let writer = &clients[i as usize % 3];
        let (status, body) = import(writer, &number(i), &id);
        assert_eq!(status, 200, "{body}");
        assert_eq!(lookup(writer, &number(i)).as_deref(), Some(id.as_str()));
    }
    for c in &clients {
        eventually("every number on every node", || {
            lookup(c, &number(29)).is_some() && numbers(c).len() == 30
        });
    }
    // Concurrent conflicting imports of one number through two nodes: one wins.
    let other = connector(&clients[0]);
    for round in 0..10u64 {
        let n = number(500 + round);
        let (a, b) = std::thread::scope(|s| {
            let ta = s.spawn(|| import(&clients[0], &n, &other));
            let tb = s.spawn(|| import(&clients[2], &n, &id));
            (ta.join().expect("a"), tb.join().expect("b"))
        });
        let won = [&a, &b]
            .iter()
            .filter(|(status, body)| {
                *status == 200 && body["imported"].as_array().is_some_and(|i| i.len() == 1)
            })
            .count();
        assert_eq!(won, 1, "round {round}: {a:?} {b:?}");
        let lost = if a.1["imported"].as_array().is_some_and(|i| i.len() == 1) {
            &b.1
        } else {
            &a.1
        };
        assert_eq!(lost["errors"][0]["error"]["code"], "conflict", "{lost}");
    }
    // Monitoring: positions, lag and reachability; ready.
    let newest = metric(&nodes.servers[0], "patchbay_store_newest_position").expect("metric");
    assert!(newest >= 40.0, "{newest}");
    for s in &nodes.servers {
        eventually("caught up", || {
            metric(s, "patchbay_store_applied_position") == Some(newest)
        });
        assert_eq!(metric(s, "patchbay_store_reachable"), Some(1.0));
        assert_eq!(s.client(None).get("/readyz").status, 200);
    }
    // The store's tables are the model.
    assert_eq!(
        cluster.query(&url, "SELECT count(*) FROM patchbay.numbers"),
        ["40"]
    );
    // The command line on the store: import, look up, export.
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("numbers.txt");
    std::fs::write(
        &file,
        format!("{}\n{}\nnot a number\n", number(900), number(901)),
    )
    .expect("write");
    let (code, out, err) = run(
        &[
            "import",
            "--store",
            &url,
            "--project",
            "default",
            "--connector",
            &id,
            file.to_str().expect("utf-8"),
        ],
        None,
    );
    assert_eq!(code, 1, "one line was refused: {out}{err}");
    assert!(out.contains("imported 2"), "{out}{err}");
    for c in &clients {
        eventually("the command line's import everywhere", || {
            lookup(c, &number(901)).as_deref() == Some(id.as_str())
        });
    }
    let (code, out, err) = run(&["lookup", "--store", &url, &number(900)], None);
    assert_eq!(code, 0, "{err}");
    let line: Value = serde_json::from_str(out.trim()).expect("json");
    assert_eq!(line["connector"]["connectorId"], id.as_str());
    assert_eq!(line["match"], "exact");
    let exported = dir.path().join("snap.pbsnap");
    let (code, out, err) = run(
        &[
            "snapshot",
            "export",
            "--store",
            &url,
            "--out",
            exported.to_str().expect("utf-8"),
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("42 numbers"), "{out}");
    let (code, out, err) = run(&["key", "list", "--store", &url], None);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&key[..12]) || out.contains("default"), "{out}");
    // A data directory of an embedded store is not taken for a cache.
    let embedded = dir.path().join("embedded");
    drop(Server::start(&embedded, &[]));
    let (code, _, err) = run(
        &[
            "import",
            "--store",
            &url,
            "--data",
            embedded.to_str().expect("utf-8"),
            "--project",
            "default",
            file.to_str().expect("utf-8"),
        ],
        None,
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("embedded store"), "{err}");
    // A cache of this store is not taken for another store's.
    let other = cluster.database();
    let (code, _, err) = run(
        &[
            "import",
            "--store",
            &other,
            "--data",
            nodes.caches[0].to_str().expect("utf-8"),
            "--project",
            "default",
            file.to_str().expect("utf-8"),
        ],
        None,
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("caches another store"), "{err}");
}

/// Which of `servers` leads the writes, once exactly one says so.
fn leader_of(servers: &[&Server]) -> usize {
    let mut leader = None;
    eventually("exactly one node leads", || {
        let leading: Vec<usize> = (0..servers.len())
            .filter(|&i| metric(servers[i], "patchbay_store_leading") == Some(1.0))
            .collect();
        leader = leading.first().copied();
        leading.len() == 1
    });
    leader.expect("a leader")
}

#[test]
fn changes_through_any_node_are_committed_by_the_leader_which_another_replaces() {
    let cluster = PgCluster::shared();
    let url = cluster.database();
    let nodes = three_nodes(&url);
    let key = nodes.key.as_str();
    let servers: Vec<&Server> = nodes.servers.iter().collect();
    let leader = leader_of(&servers);
    let follower = (leader + 1) % 3;
    let clients: Vec<_> = servers.iter().map(|s| s.client(Some(key))).collect();
    let id = connector(&clients[follower]);
    let before: u64 = cluster.query(&url, "SELECT position FROM patchbay.head")[0]
        .parse()
        .expect("a position");
    // Through a node that does not lead: committed by the leader, read back at once here.
    for i in 0..10u64 {
        let writer = &clients[(leader + 1 + i as usize % 2) % 3];
        let (status, body) = import(writer, &number(2_000 + i), &id);
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            lookup(writer, &number(2_000 + i)).as_deref(),
            Some(id.as_str())
        );
    }
    assert_eq!(
        cluster.query(
            &url,
            &format!("SELECT DISTINCT node FROM patchbay.changes WHERE position > {before}")
        ),
        [format!("n{leader}")]
    );
    // The leader's refusals come back as they are.
    let stranger = servers[follower].client(Some("pb_key_wrong"));
    let refused = stranger.send(
        "POST",
        &format!("{}/phone-numbers", api("default")),
        Some(json!({"phoneNumbers": [number(2_100)], "connectorId": id})),
    );
    assert_eq!(refused.status, 401);
    assert_eq!(refused.json()["error"]["code"], "unauthorized");
    let (status, body) = import(&clients[follower], "+44 not a number", &id);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["errors"][0]["error"]["code"], "invalid_phone_number");
    // The leader killed: changes go on through the others, and one of them leads.
    let mut servers_left: Vec<Server> = nodes.servers;
    let dead = servers_left.remove(leader);
    let dead_port = dead.addr.port();
    dead.kill9();
    let left: Vec<&Server> = servers_left.iter().collect();
    let clients: Vec<_> = left.iter().map(|s| s.client(Some(key))).collect();
    for i in 0..10u64 {
        let (status, body) = import(&clients[i as usize % 2], &number(2_200 + i), &id);
        assert_eq!(status, 200, "{body}");
    }
    let next = leader_of(&left);
    assert_ne!(left[next].addr.port(), dead_port);
    for c in &clients {
        eventually("every change on the nodes left", || {
            numbers(c).len() == 20 && lookup(c, &number(2_209)).is_some()
        });
    }
}

/// Writes through `servers` from one thread each until `stop`: the numbers acknowledged
/// (200 with the number imported) and every number sent.
fn stream(
    clients: Vec<(std::net::SocketAddr, u64)>,
    key: &str,
    connector: &str,
    stop: Arc<AtomicBool>,
) -> (BTreeSet<String>, BTreeSet<String>) {
    std::thread::scope(|s| {
        let workers: Vec<_> = clients
            .into_iter()
            .map(|(addr, base)| {
                let stop = stop.clone();
                s.spawn(move || {
                    let c = common::Client {
                        addr,
                        key: Some(key),
                    };
                    let (mut acked, mut sent) = (BTreeSet::new(), BTreeSet::new());
                    let mut i = base;
                    while !stop.load(Ordering::Acquire) {
                        let n = number(i);
                        i += 1;
                        sent.insert(n.clone());
                        if let Ok((200, body)) =
                            std::panic::catch_unwind(|| import(&c, &n, connector))
                        {
                            if body["imported"].as_array().is_some_and(|a| a.len() == 1) {
                                acked.insert(n);
                            }
                        }
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    (acked, sent)
                })
            })
            .collect();
        let mut acked = BTreeSet::new();
        let mut sent = BTreeSet::new();
        for w in workers {
            let (a, s) = w.join().expect("worker");
            acked.extend(a);
            sent.extend(s);
        }
        (acked, sent)
    })
}

#[test]
fn a_killed_node_and_a_crashed_database_lose_no_acknowledged_change() {
    let cluster = PgCluster::start();
    let url = cluster.database();
    let mut nodes = three_nodes(&url);
    let key = nodes.key.clone();
    let id = connector(&nodes.servers[0].client(Some(&key)));

    // kill -9 of node 1 during a stream of writes through nodes 0 and 1.
    let stop = Arc::new(AtomicBool::new(false));
    let targets = vec![(nodes.servers[0].addr, 0), (nodes.servers[1].addr, 20_000)];
    let (acked, sent) = std::thread::scope(|s| {
        let writer = s.spawn(|| stream(targets, &key, &id, stop.clone()));
        std::thread::sleep(Duration::from_millis(700));
        let victim = nodes.servers.remove(1);
        victim.kill9();
        std::thread::sleep(Duration::from_millis(300));
        stop.store(true, Ordering::Release);
        writer.join().expect("stream")
    });
    assert!(acked.len() > 20, "too few writes: {}", acked.len());
    let log_path = nodes._dir.path().join("n1.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    nodes.servers.insert(
        1,
        Server::start_logging(
            &nodes.caches[1],
            &["--store", &url, "--node", "n1"],
            "warn",
            log,
        ),
    );

    // A database crash and restart during a stream of writes through all three.
    let stop = Arc::new(AtomicBool::new(false));
    let targets: Vec<_> = nodes
        .servers
        .iter()
        .enumerate()
        .map(|(i, s)| (s.addr, 40_000 + 10_000 * i as u64))
        .collect();
    let (acked2, sent2) = std::thread::scope(|s| {
        let writer = s.spawn(|| stream(targets, &key, &id, stop.clone()));
        std::thread::sleep(Duration::from_millis(500));
        cluster.crash();
        std::thread::sleep(Duration::from_millis(500));
        // While it is down, lookups still answer from the last state.
        let c = nodes.servers[2].client(Some(&key));
        assert_eq!(
            lookup(&c, acked.iter().next().expect("one")).as_deref(),
            Some(id.as_str())
        );
        cluster.restart();
        std::thread::sleep(Duration::from_millis(1_500));
        stop.store(true, Ordering::Release);
        writer.join().expect("stream")
    });
    assert!(acked2.len() > 20, "too few writes: {}", acked2.len());
    assert!(
        sent2.len() > acked2.len(),
        "writes sent while the database was down were refused"
    );
    let acked: BTreeSet<String> = acked.union(&acked2).cloned().collect();
    let sent: BTreeSet<String> = sent.union(&sent2).cloned().collect();

    // Every node ends with the same numbers: every acknowledged one, none never sent.
    let mut seen = Vec::new();
    for s in &nodes.servers {
        let c = s.client(Some(&key));
        eventually("the node reaches the store's newest position", || {
            metric(s, "patchbay_store_reachable") == Some(1.0)
                && metric(s, "patchbay_store_lag_changes") == Some(0.0)
        });
        let held = numbers(&c);
        assert!(
            acked.is_subset(&held),
            "lost: {:?}",
            acked.difference(&held).take(5).collect::<Vec<_>>()
        );
        assert!(
            held.is_subset(&sent),
            "invented: {:?}",
            held.difference(&sent).take(5).collect::<Vec<_>>()
        );
        seen.push(held);
    }
    assert!(seen.windows(2).all(|w| w[0] == w[1]), "the nodes disagree");
    // The node's log says it lost the store, and names the node.
    let log = std::fs::read_to_string(&log_path).expect("log");
    assert!(
        log.lines()
            .any(|l| l.contains("lost the store") && l.contains("n1")),
        "{log}"
    );
    let rows: usize = cluster.query(&url, "SELECT count(*) FROM patchbay.numbers")[0]
        .parse()
        .expect("a count");
    assert_eq!(rows, seen[0].len());
}

#[test]
fn sip_answers_from_the_store_and_follows_it() {
    let cluster = PgCluster::start();
    let url = cluster.database();
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(&dir.path().join("n0"), &url, "n0");
    let key = server.key.clone().expect("key");
    let c = server.client(Some(&key));
    let id = connector(&c);
    let (status, body) = import(&c, &number(1), &id);
    assert_eq!(status, 200, "{body}");
    let (mut sip, addr) = spawn_sip(&["--store", &url, "--node", "sip-0"]);
    let reply = invite(addr, &number(1), "first");
    assert!(reply.starts_with("SIP/2.0 302 "), "{reply}");
    assert!(
        reply.contains(&format!("\r\nContact: <sip:{id}@127.0.0.1:5080>\r\n")),
        "{reply}"
    );
    assert!(invite(addr, &number(2), "before").starts_with("SIP/2.0 404 "));
    let (status, body) = import(&c, &number(2), &id);
    assert_eq!(status, 200, "{body}");
    eventually("the SIP front answers the new number", || {
        invite(addr, &number(2), "after").starts_with("SIP/2.0 302 ")
    });
    let _ = sip.kill();
    let _ = sip.wait();
}

/// `/readyz`, plain or `fresh=1`: its status and the state its body names.
fn readiness(server: &Server, fresh: bool) -> (u16, String) {
    let path = if fresh { "/readyz?fresh=1" } else { "/readyz" };
    let response = server.client(None).get(path);
    let state = response.json()["state"].as_str().unwrap_or("").to_string();
    (response.status, state)
}

/// A node restarted on its cache while the database is down routes calls at once from the
/// cache, refuses changes with 503, says so in `/readyz` and `/metrics`, and once the
/// database is back connects on its own, catches up and takes changes again.
#[test]
fn a_node_starts_from_its_cache_while_the_database_is_down() {
    let cluster = PgCluster::start();
    let url = cluster.database();
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("n0");
    let server = start(&cache, &url, "n0");
    let key = server.key.clone().expect("key");
    let c = server.client(Some(&key));
    let id = connector(&c);
    for i in 0..5 {
        assert_eq!(import(&c, &number(i), &id).0, 200);
    }
    assert_eq!(readiness(&server, true), (200, "fresh".into()));
    assert_eq!(server.stop(), Some(0));

    cluster.crash();
    let server = start(&cache, &url, "n0");
    let c = server.client(Some(&key));
    // Routing at once, from the cache.
    assert_eq!(readiness(&server, false), (200, "cache_only".into()));
    assert_eq!(readiness(&server, true), (503, "cache_only".into()));
    for i in 0..5 {
        assert_eq!(lookup(&c, &number(i)).as_deref(), Some(id.as_str()));
    }
    let (status, body) = import(&c, &number(9), &id);
    assert_eq!(status, 503, "{body}");
    assert!(lookup(&c, &number(9)).is_none(), "nothing was applied");
    assert_eq!(metric(&server, "patchbay_store_reachable"), Some(0.0));
    assert!(
        metric(&server, "patchbay_store_stale_seconds").is_some_and(|s| s >= 0.0),
        "the stale seconds are exported"
    );

    // The database is back: the node connects and catches up on its own.
    cluster.restart();
    eventually("the node is fresh again", || {
        readiness(&server, true) == (200, "fresh".into())
    });
    assert_eq!(metric(&server, "patchbay_store_reachable"), Some(1.0));
    assert!(metric(&server, "patchbay_store_stale_seconds").is_some_and(|s| s < 5.0));
    let (status, body) = import(&c, &number(9), &id);
    assert_eq!(status, 200, "{body}");
    assert_eq!(lookup(&c, &number(9)).as_deref(), Some(id.as_str()));
}

/// A node with no cache has nothing to route from: it waits for the database, says why
/// while it retries, and starts once the database answers.
#[test]
fn a_node_without_a_cache_waits_for_the_database_and_says_why() {
    let cluster = PgCluster::start();
    let url = cluster.database();
    let dir = tempfile::tempdir().expect("tempdir");
    // The schema exists: a node made it.
    let first = start(&dir.path().join("n0"), &url, "n0");
    let key = first.key.clone().expect("key");
    assert_eq!(first.stop(), Some(0));
    cluster.crash();
    let log_path = dir.path().join("n1.log");
    let log = std::fs::File::create(&log_path).expect("log");
    let (started, ready) = std::sync::mpsc::channel();
    let empty = dir.path().join("n1");
    let store = url.clone();
    std::thread::spawn(move || {
        let server = Server::start_env(
            &empty,
            &["--store", &store, "--node", "n1"],
            &[("PATCHBAY_LOG", Some("warn"))],
            log,
        );
        let _ = started.send(server);
    });
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        ready.try_recv().is_err(),
        "the node started with no cache and no database"
    );
    let text = std::fs::read_to_string(&log_path).expect("log");
    assert!(
        text.contains("waiting for the shared store") && text.contains("no cache"),
        "the node says why it waits: {text}"
    );
    cluster.restart();
    let server = ready
        .recv_timeout(Duration::from_secs(30))
        .expect("the node starts once the database answers");
    let c = server.client(Some(&key));
    assert_eq!(c.get(&format!("{}/connectors", api("default"))).status, 200);
    eventually("the node is fresh", || {
        readiness(&server, true) == (200, "fresh".into())
    });
}

/// A store that refuses the connection (a certificate from another CA, no password) stops
/// a node at once with why, instead of retrying; the password from `PGPASSWORD` is used,
/// and it shows in no message.
#[test]
fn a_store_that_refuses_the_connection_stops_a_node_at_once_saying_why() {
    const PASSWORD: &str = "pw-cli-5e1";
    let certs = tempfile::tempdir().expect("tempdir");
    pg::certificates(certs.path());
    let cluster = PgCluster::start_tls_app(certs.path(), PASSWORD);
    let port = cluster.port();
    let with_ca = |ca: &str| {
        format!(
            "postgresql://app@localhost:{port}/tls?sslmode=verify-full&sslrootcert={}",
            certs.path().join(ca).display()
        )
    };
    let cache = tempfile::tempdir().expect("tempdir");
    let cache = cache.path().display().to_string();
    let wrong_ca = with_ca("other-ca.crt");
    let (code, _, err) = common::run_env(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data",
            &cache,
            "--store",
            &wrong_ca,
        ],
        &[("PGPASSWORD", PASSWORD)],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("UnknownIssuer") && err.contains("not signed by the CA of sslrootcert"),
        "{err}"
    );
    assert!(!err.contains(PASSWORD), "{err}");
    let right = with_ca("ca.crt");
    let no_password = [("PGPASSWORD", ""), ("PGPASSFILE", "/nonexistent")];
    let (code, _, err) = common::run_env(&["project", "list", "--store", &right], &no_password);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("password"), "{err}");
    let (code, out, err) = common::run_env(
        &["project", "list", "--store", &right],
        &[("PGPASSWORD", PASSWORD)],
    );
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains(PASSWORD) && !err.contains(PASSWORD));
}
