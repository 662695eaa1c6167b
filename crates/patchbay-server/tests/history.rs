//! The change history over HTTP and from the command line, against the real binary: who
//! changed what with which key, lookups at past instants with the change they read as of,
//! the history read beside a running server, the command line's own changes, and every
//! acknowledged change still in the history after `kill -9`.

mod common;

use common::{api, run, Server};
use serde_json::{json, Value};

fn connector(c: &common::Client<'_>, name: &str) -> String {
    let reply = c.send(
        "POST",
        &format!("{}/connectors", api("default")),
        Some(
            json!({"name": name, "clientEnv": "live", "asrLangCode": "en-US",
                    "voiceName": "en-US-Neural2-A"}),
        ),
    );
    assert_eq!(reply.status, 201);
    reply.json()["connectorId"]
        .as_str()
        .expect("id")
        .to_string()
}

fn changes(c: &common::Client<'_>, query: &str) -> Value {
    let reply = c.get(&format!("{}/changes{query}", api("default")));
    assert_eq!(reply.status, 200, "{query}: {:?}", reply.json());
    reply.json()
}

fn pause() {
    std::thread::sleep(std::time::Duration::from_millis(5));
}

#[test]
fn history_over_http_and_from_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let data_arg = data.to_str().expect("utf-8");
    let server = Server::start(&data, &[]);
    let key = server.key.clone().expect("key");
    let c = server.client(Some(&key));
    let key_id = c.get("/v1/me").json()["keyId"]
        .as_str()
        .expect("keyId")
        .to_string();
    let first = connector(&c, "first");
    let second = connector(&c, "second");
    pause();
    let reply = c.send(
        "POST",
        &format!("{}/phone-numbers", api("default")),
        Some(json!({"phoneNumbers": ["+14155552671", "+14155552672"], "connectorId": first})),
    );
    assert_eq!(reply.status, 200);
    pause();
    let reply = c.send(
        "PATCH",
        &format!("{}/phone-numbers/%2B14155552671", api("default")),
        Some(json!({"connectorId": second})),
    );
    assert_eq!(reply.status, 200);

    // The number's history: assigned away, imported; by this key; before and after.
    let history = changes(&c, "?number=%2B1%20415%20555%202671");
    let list = history["changes"].as_array().expect("changes");
    let ops: Vec<&str> = list
        .iter()
        .map(|ch| ch["mutations"][0]["op"].as_str().expect("op"))
        .collect();
    assert_eq!(ops, ["number.assigned", "number.imported"], "{history:#}");
    assert_eq!(list[0]["actor"], json!({"kind": "key", "keyId": key_id}));
    assert_eq!(
        list[0]["mutations"][0]["before"]["connectorId"],
        first.as_str()
    );
    assert_eq!(
        list[0]["mutations"][0]["after"]["connectorId"],
        second.as_str()
    );
    assert_eq!(
        list[1]["mutationCount"], 1,
        "the filter keeps the number's own"
    );
    assert!(list[1]["mutations"][0].get("before").is_none());
    let imported_at = list[1]["at"].as_str().expect("at").to_string();
    let imported_id = list[1]["changeId"].as_str().expect("id").to_string();
    let whole = changes(&c, "?limit=1");
    assert_eq!(whole["changes"].as_array().map(Vec::len), Some(1));
    let next = whole["nextCursor"]
        .as_str()
        .expect("more follow")
        .to_string();
    let older = changes(&c, &format!("?limit=1&cursor={next}"));
    assert_eq!(older["changes"][0]["changeId"], imported_id.as_str());

    // A lookup as of the import routes to the first connector, and says as of which change.
    let lookup = |at: Option<&str>| {
        let mut body = json!({"phoneNumber": "+14155552671"});
        if let Some(at) = at {
            body["at"] = json!(at);
        }
        c.send(
            "POST",
            &format!("{}/connectors/lookup", api("default")),
            Some(body),
        )
    };
    let then = lookup(Some(&imported_at));
    assert_eq!(then.status, 200);
    assert_eq!(then.json()["connectorId"], first.as_str());
    assert_eq!(then.header("x-patchbay-as-of"), Some(imported_id.as_str()));
    assert_eq!(then.header("x-patchbay-match"), Some("exact"));
    assert_eq!(lookup(None).json()["connectorId"], second.as_str());
    for (at, status, code) in [
        ("tuesday", 400, "invalid_request"),
        ("2999-01-01T00:00:00Z", 422, "validation_failed"),
        ("2000-01-01T00:00:00Z", 422, "validation_failed"),
    ] {
        let reply = lookup(Some(at));
        assert_eq!(
            (reply.status, reply.error_code().as_str()),
            (status, code),
            "{at}"
        );
    }
    for query in [
        "?limit=0",
        "?cursor=n1.14155552671",
        "?number=abc",
        "?since=now",
        "?bogus=1",
    ] {
        let reply = c.get(&format!("{}/changes{query}", api("default")));
        assert_eq!(reply.status, 400, "{query}");
    }

    // Beside the running server, the command line reads the same history, and looks up
    // as of the import.
    let (code, out, err) = run(
        &["history", "--data", data_arg, "--number", "+14155552671"],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines, *list, "the command line shows what the API shows");
    let (code, out, err) = run(
        &[
            "lookup",
            "--data",
            data_arg,
            "--at",
            &imported_at,
            "+14155552671",
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let line: Value = serde_json::from_str(out.trim()).expect("JSON");
    assert_eq!(line["connector"]["connectorId"], first.as_str());
    assert_eq!(line["asOf"], imported_id.as_str());

    // The command line's own changes are the command line's.
    assert_eq!(server.stop(), Some(0));
    let (code, _, err) = run(
        &["import", "--data", data_arg, "--project", "default", "-"],
        Some("+14155552673\n"),
    );
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = run(&["history", "--data", data_arg, "--limit", "1"], None);
    assert_eq!(code, 0, "{err}");
    let newest: Value = serde_json::from_str(out.trim()).expect("JSON");
    assert_eq!(newest["actor"], json!({"kind": "cli"}));
    assert_eq!(newest["mutations"][0]["number"], "+14155552673");
    let (code, _, err) = run(&["history", "--data", data_arg, "--since", "soon"], None);
    assert_eq!(code, 2);
    assert!(err.contains("RFC 3339"), "{err}");
}

/// Every change acknowledged before a `kill -9` is in the history after the restart.
#[test]
fn kill_9_keeps_every_acknowledged_change_in_the_history() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let server = Server::start(&data, &[]);
    let key = server.key.clone().expect("key");
    let id = connector(&server.client(Some(&key)), "c");
    let addr = server.addr;
    let writer_key = key.clone();
    let acks = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let writer_acks = std::sync::Arc::clone(&acks);
    let writer = std::thread::spawn(move || {
        let client = common::Client {
            addr,
            key: Some(&writer_key),
        };
        let mut acknowledged = Vec::new();
        for i in 0..10_000u32 {
            let number = format!("+4420794{i:05}");
            let response = std::panic::catch_unwind(|| {
                client.send(
                    "POST",
                    &format!("{}/phone-numbers", api("default")),
                    Some(json!({"phoneNumbers": [number], "connectorId": id})),
                )
            });
            match response {
                Ok(r) if r.status == 200 => {
                    acknowledged.push(number);
                    writer_acks.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
                _ => break,
            }
        }
        acknowledged
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while acks.load(std::sync::atomic::Ordering::SeqCst) < 40
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    server.kill9();
    let acknowledged = writer.join().expect("writer");
    assert!(
        acknowledged.len() >= 40,
        "{} acknowledged",
        acknowledged.len()
    );
    let server = Server::start(&data, &[]);
    let c = server.client(Some(&key));
    let mut recorded = std::collections::HashSet::new();
    let mut cursor = String::new();
    loop {
        let page = changes(&c, &format!("?limit=1000{cursor}"));
        for change in page["changes"].as_array().expect("changes") {
            for m in change["mutations"].as_array().expect("mutations") {
                if m["op"] == "number.imported" {
                    recorded.insert(m["number"].as_str().expect("number").to_string());
                }
            }
        }
        match page["nextCursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    for number in &acknowledged {
        assert!(
            recorded.contains(number),
            "acknowledged {number} is not in the history"
        );
    }
}

/// `serve --no-history` keeps none: the history's reads answer 404 and no file is written;
/// it is refused beside a shared store, whose history every node writes.
#[test]
fn no_history_keeps_none() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let server = Server::start(&data, &["--no-history"]);
    let key = server.key.clone().expect("key");
    let c = server.client(Some(&key));
    let id = connector(&c, "c");
    let imported = c.send(
        "POST",
        &format!("{}/phone-numbers", api("default")),
        Some(json!({"phoneNumbers": ["+14155552671"], "connectorId": id})),
    );
    assert_eq!(imported.status, 200);
    let listed = c.get(&format!("{}/changes", api("default")));
    assert_eq!(listed.status, 404, "{:?}", listed.json());
    let then = c.send(
        "POST",
        &format!("{}/connectors/lookup", api("default")),
        Some(json!({"phoneNumber": "+14155552671", "at": "2026-01-01T00:00:00Z"})),
    );
    assert_eq!(then.status, 404, "{:?}", then.json());
    assert!(!data.join("history.redb").exists());

    let (code, _, err) = run(
        &[
            "serve",
            "--no-history",
            "--store",
            "postgresql://nobody@127.0.0.1:1/none",
        ],
        None,
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--no-history"), "{err}");
}
