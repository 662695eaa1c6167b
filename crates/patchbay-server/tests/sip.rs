//! The SIP front end to end: `patchbay serve --sip`, and `patchbay sip` following a running
//! server's data directory or a snapshot file, driven by
//! sipp (Debian's `sip-tester`) with the scenarios committed under `crates/patchbay-sip`,
//! over UDP and TCP, and by raw datagrams for the exact replies.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{api, invite, invite_from, run, spawn_sip, Server};
use serde_json::json;

fn scenario(code: u16) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../patchbay-sip/scenarios/invite-{code}.xml"))
}

/// Runs sipp: `calls` calls of `scenario(code)` to the numbers of `numbers`, over `transport`
/// (`u1` or `t1`); whether every call succeeded, and sipp's output.
fn sipp(
    dir: &Path,
    to: SocketAddr,
    code: u16,
    numbers: &[&str],
    transport: &str,
) -> (bool, String) {
    let csv = dir.join(format!("numbers-{code}.csv"));
    let mut text = String::from("SEQUENTIAL\n");
    for n in numbers {
        text += &format!("{n};\n");
    }
    std::fs::write(&csv, text).expect("csv");
    let output = Command::new("sipp")
        .arg(to.to_string())
        .arg("-sf")
        .arg(scenario(code))
        .arg("-inf")
        .arg(&csv)
        .args([
            "-m",
            "20",
            "-r",
            "200",
            "-t",
            transport,
            "-nostdin",
            "-timeout",
            "20s",
            "-timeout_error",
            "-trace_err",
            "-p",
            "0",
        ])
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| match e.kind() {
            std::io::ErrorKind::NotFound => panic!(
                "sipp is not installed, and the SIP tests drive the front with it: run \
                 scripts/test, which installs it, or apt-get install -y sip-tester"
            ),
            _ => panic!("cannot run sipp: {e}"),
        });
    (
        output.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

fn connector(c: &common::Client<'_>) -> String {
    let created = c.send(
        "POST",
        &format!("{}/connectors", api("default")),
        Some(json!({"name": "Support", "clientEnv": "live", "asrLangCode": "en-US", "voiceName": "en-US-Neural2-A"})),
    );
    assert_eq!(created.status, 201);
    created.json()["connectorId"]
        .as_str()
        .expect("id")
        .to_string()
}

fn import(c: &common::Client<'_>, number: &str, connector: &str) {
    let imported = c.send(
        "POST",
        &format!("{}/phone-numbers", api("default")),
        Some(json!({"phoneNumbers": [number], "connectorId": connector})),
    );
    assert_eq!(imported.status, 200);
}

#[test]
fn serve_sip_answers_sipp_over_udp_and_tcp() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), &["--sip", "127.0.0.1:0"]);
    let sip = server.sip.expect("the SIP address");
    let key = server.key.clone().expect("key");
    let c = server.client(Some(&key));
    let id = connector(&c);
    import(&c, "+14155552671", &id);

    for transport in ["u1", "t1"] {
        let (ok, out) = sipp(
            dir.path(),
            sip,
            302,
            &["+14155552671", "+1-415-555-2671"],
            transport,
        );
        assert!(ok, "302 over {transport}: {out}");
        let (ok, out) = sipp(dir.path(), sip, 404, &["+14155550000"], transport);
        assert!(ok, "404 over {transport}: {out}");
        let (ok, out) = sipp(
            dir.path(),
            sip,
            484,
            &["+1415CALLNOW", "+999123"],
            transport,
        );
        assert!(ok, "484 over {transport}: {out}");
    }
    // The scenario's checks bite: a 302 is not what an unrouted number gets.
    let (ok, _) = sipp(dir.path(), sip, 302, &["+14155550000"], "u1");
    assert!(!ok, "sipp accepted a 404 as a 302");

    // The exact reply, and a change over HTTP answered at once.
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let reply = invite_from(&socket, sip, "+14155552671", "exact");
    assert!(
        reply.starts_with("SIP/2.0 302 Moved Temporarily\r\n"),
        "{reply}"
    );
    assert!(
        reply.contains(&format!("\r\nContact: <sip:{id}@127.0.0.1:5080>\r\n")),
        "{reply}"
    );
    assert!(reply.contains("\r\nX-Patchbay-Match: exact\r\n"), "{reply}");
    assert_eq!(
        invite_from(&socket, sip, "+14155552671", "exact"),
        reply,
        "a retransmission, byte for byte"
    );
    import(&c, "+14155552672", &id);
    assert!(invite(sip, "+14155552672", "fresh").starts_with("SIP/2.0 302 "));

    // Counters by reply class in the server's /metrics.
    let metrics = String::from_utf8_lossy(&server.client(None).get("/metrics").body).to_string();
    let count = |name: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or(0)
    };
    // sipp's runs: 20 calls each (302, 404, 484 over UDP and TCP, and the refused 302 that
    // got 404s), each ACKed, plus the three INVITEs sent here; a UDP retransmission may add.
    for (status, at_least) in [(302, 43), (404, 60), (484, 40)] {
        assert!(
            count(&format!(
                "patchbay_sip_replies_total{{status=\"{status}\"}}"
            )) >= at_least,
            "{metrics}"
        );
    }
    assert!(count("patchbay_sip_absorbed_total") >= 120, "{metrics}");
}

#[test]
fn sip_follows_a_snapshot_file_and_refuses_a_bad_template() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let server = Server::start(&data, &[]);
    let key = server.key.clone().expect("key");
    let c = server.client(Some(&key));
    let id = connector(&c);
    import(&c, "+14155552671", &id);
    let file = dir.path().join("routes.pbsnap");
    let export = |file: &Path| {
        let (code, _, err) = run(
            &[
                "snapshot",
                "export",
                "--data",
                data.to_str().expect("utf-8"),
                "--out",
                file.to_str().expect("utf-8"),
            ],
            None,
        );
        assert_eq!(code, 0, "{err}");
    };
    export(&file);

    let (code, _, err) = run(
        &[
            "sip",
            "--snapshot",
            file.to_str().expect("utf-8"),
            "--contact",
            "sip:{connector}@h",
        ],
        None,
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("unknown placeholder {connector}"), "{err}");

    let (mut child, sip) = spawn_sip(&[
        "--snapshot",
        file.to_str().expect("utf-8"),
        "--contact",
        "sip:{number}@{connectorId}.example",
    ]);
    let reply = invite(sip, "+14155552671", "snap");
    assert!(
        reply.contains(&format!("\r\nContact: <sip:+14155552671@{id}.example>\r\n")),
        "{reply}"
    );
    assert!(invite(sip, "+14155552672", "before").starts_with("SIP/2.0 404 "));
    // A new file: answered from within 100 ms of its replacement (checked with a margin).
    import(&c, "+14155552672", &id);
    export(&file);
    let replaced = Instant::now();
    while !invite(sip, "+14155552672", "after").starts_with("SIP/2.0 302 ") {
        assert!(
            replaced.elapsed() < Duration::from_secs(5),
            "the new file was never answered from"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let (ok, out) = sipp(dir.path(), sip, 302, &["+14155552671"], "u1");
    assert!(
        !ok,
        "the contact template differs from the scenario's: {out}"
    );
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn sip_follows_a_running_servers_data_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let server = Server::start(&data, &[]);
    let key = server.key.clone().expect("key");
    let c = server.client(Some(&key));
    let id = connector(&c);
    import(&c, "+14155552671", &id);
    let (mut child, sip) = spawn_sip(&["--data", data.to_str().expect("utf-8")]);
    for transport in ["u1", "t1"] {
        let (ok, out) = sipp(dir.path(), sip, 302, &["+14155552671"], transport);
        assert!(ok, "302 over {transport}: {out}");
    }
    // Every change the server acknowledges, answered at once (within 100 ms; checked here
    // with a margin for a loaded machine, measured in benches/sip).
    for (i, number) in ["+14155552672", "+442079460001", "+14155552673"]
        .into_iter()
        .enumerate()
    {
        assert!(invite(sip, number, &format!("before{i}")).starts_with("SIP/2.0 404 "));
        import(&c, number, &id);
        let acknowledged = Instant::now();
        while !invite(sip, number, &format!("after{i}")).starts_with("SIP/2.0 302 ") {
            assert!(
                acknowledged.elapsed() < Duration::from_secs(5),
                "the change to {number} was never answered from"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    // A release is followed as well.
    let released = c.send(
        "DELETE",
        &format!("{}/phone-numbers/%2B14155552671", api("default")),
        None,
    );
    assert_eq!(
        released.status,
        200,
        "{}",
        String::from_utf8_lossy(&released.body)
    );
    let acknowledged = Instant::now();
    while !invite(sip, "+14155552671", "released").starts_with("SIP/2.0 404 ") {
        assert!(
            acknowledged.elapsed() < Duration::from_secs(5),
            "never released"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    // The follower changes nothing: the server still owns and serves its directory.
    assert_eq!(
        server
            .client(Some(&key))
            .get(&format!("{}/phone-numbers/%2B14155552672", api("default")))
            .status,
        200
    );
    let _ = child.kill();
    let _ = child.wait();
    // A directory that is not a data directory is refused with a clear message.
    let (code, _, err) = run(
        &[
            "sip",
            "--data",
            dir.path().join("nothing").to_str().expect("utf-8"),
        ],
        None,
    );
    assert_ne!(code, 0);
    assert!(err.contains("not a patchbay data directory"), "{err}");
}

/// A second SIP front on a port a running one holds is refused, naming the port and the
/// process that holds it, instead of quietly taking part of the UDP traffic.
#[test]
fn a_second_front_on_a_held_port_is_refused_naming_the_holder() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let server = Server::start(&data, &[]);
    let file = dir.path().join("routes.pbsnap");
    let (code, _, err) = run(
        &[
            "snapshot",
            "export",
            "--data",
            data.to_str().expect("utf-8"),
            "--out",
            file.to_str().expect("utf-8"),
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    drop(server);
    let (mut first, addr) = spawn_sip(&["--snapshot", file.to_str().expect("utf-8")]);
    let listen = addr.to_string();
    let (code, _, err) = run(
        &[
            "sip",
            "--listen",
            &listen,
            "--snapshot",
            file.to_str().expect("utf-8"),
        ],
        None,
    );
    let _ = first.kill();
    let _ = first.wait();
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!(
            "port {} is taken by process {}",
            addr.port(),
            first.id()
        )),
        "the refusal names the port and the holder: {err}"
    );
    assert!(err.contains("patchbay sip"), "and what it runs: {err}");
}
