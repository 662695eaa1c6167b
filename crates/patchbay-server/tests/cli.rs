//! The command line, run as a person would.

mod common;

use common::{api, run, Server};
use serde_json::{json, Value};

fn lines_json(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn normalize_prints_e164_and_fails_on_rejections() {
    let (code, out, err) = run(
        &["normalize", "+1 (415) 555-2671", "tel:+44-20-7946-0958"],
        None,
    );
    assert_eq!(
        (code, out.as_str()),
        (0, "+14155552671\n+442079460958\n"),
        "{err}"
    );
    let (code, out, err) = run(&["normalize", "+14155552671", "nope"], None);
    assert_eq!((code, out.as_str()), (1, "+14155552671\n"));
    assert!(err.contains("letters"), "{err}");
    let (code, out, _) = run(
        &["normalize", "--region", "GB", "--json"],
        Some("020 7946 0958\n00 44 20 7946 0958\n+1 415 555 2671 ext. 9\n"),
    );
    assert_eq!(code, 1);
    let rows = lines_json(&out);
    assert_eq!(
        rows[0],
        json!({"input": "020 7946 0958", "e164": "+442079460958"})
    );
    assert_eq!(rows[1]["e164"], "+442079460958");
    assert_eq!(rows[2]["error"]["code"], "extension");
    let (code, _, err) = run(&["normalize", "--region", "XX", "1"], None);
    assert_eq!(code, 2);
    assert!(err.contains("region"), "{err}");
}

#[test]
fn operator_commands_on_a_data_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let data_arg = data.to_str().expect("utf-8");
    assert_eq!(
        run(
            &[
                "project",
                "create",
                "--data",
                data_arg,
                "--account",
                "acme",
                "support"
            ],
            None
        )
        .0,
        0
    );
    let (code, _, err) = run(
        &[
            "project",
            "create",
            "--data",
            data_arg,
            "--account",
            "acme",
            "support",
        ],
        None,
    );
    assert_eq!(code, 2);
    assert!(err.contains("already exists"), "{err}");
    let (code, key, _) = run(
        &[
            "key",
            "create",
            "--data",
            data_arg,
            "--account",
            "acme",
            "--label",
            "ci",
        ],
        None,
    );
    assert_eq!(code, 0);
    let key = key.trim().to_string();
    let (code, listed, _) = run(&["key", "list", "--data", data_arg], None);
    assert_eq!(code, 0);
    assert!(!listed.contains(&key), "secrets are never listed");
    let key_id = lines_json(&listed)[0]["keyId"]
        .as_str()
        .expect("id")
        .to_string();
    assert!(key.contains(&key_id));

    // Import: CSV with a header, forms of every kind, and errors reported by line.
    let file = dir.path().join("numbers.csv");
    std::fs::write(&file, "phone,label\n+1 415 555 2671,main\ntel:+44-20-7946-0958,uk\n\nnot a number,bad\n+14155552671,dup\n").expect("write");
    let (code, out, _) = run(
        &[
            "import",
            "--data",
            data_arg,
            "--project",
            "support",
            "--env",
            "sandbox",
            file.to_str().expect("utf-8"),
        ],
        None,
    );
    assert_eq!(code, 1, "errors make the exit status 1: {out}");
    assert!(
        out.contains("imported 2 of 4 numbers into project support (2 errors)"),
        "{out}"
    );
    assert!(
        out.contains("line 5: \"not a number\": invalid_phone_number"),
        "{out}"
    );
    assert!(out.contains("line 6: \"+14155552671\": conflict"), "{out}");
    // From stdin, one per line.
    let (code, out, _) = run(
        &[
            "import",
            "--data",
            data_arg,
            "--project",
            "support",
            "--env",
            "sandbox",
            "-",
        ],
        Some("+442079460001\n"),
    );
    assert_eq!(code, 0, "{out}");

    // Serve it and use the key; lookups of unassigned numbers miss.
    let server = Server::start(&data, &[]);
    assert_eq!(server.key, None);
    let c = server.client(Some(&key));
    let numbers = c.get(&format!("{}/phone-numbers", api("support"))).json();
    assert_eq!(numbers["phoneNumbers"].as_array().map(Vec::len), Some(3));
    assert_eq!(numbers["phoneNumbers"][0]["clientEnv"], "sandbox");
    let connector = c
        .send("POST", &format!("{}/connectors", api("support")), Some(json!({"name": "c", "clientEnv": "sandbox", "asrLangCode": "en-US", "voiceName": "en-US-Neural2-A"})))
        .json();
    let id = connector["connectorId"].as_str().expect("id");
    c.send(
        "PATCH",
        &format!("{}/phone-numbers/%2B14155552671", api("support")),
        Some(json!({"connectorId": id})),
    );

    // A command that changes the directory fails clearly while the server owns it.
    let before = c.get(&format!("{}/phone-numbers", api("support"))).json();
    let (code, _, err) = run(
        &["import", "--data", data_arg, "--project", "support", "-"],
        Some("+442079460002\n"),
    );
    assert_eq!(code, 2);
    assert!(err.contains("in use by another patchbay process"), "{err}");
    let (code, _, err) = run(&["key", "revoke", "--data", data_arg, &key_id], None);
    assert_eq!(code, 2, "{err}");
    assert_eq!(
        c.get(&format!("{}/phone-numbers", api("support"))).json(),
        before,
        "nothing changed"
    );

    // Reading works while the server runs: lookup and export.
    let (code, out, _) = run(
        &[
            "lookup",
            "--data",
            data_arg,
            "+1 415 555 2671",
            "+442079460958",
            "bad",
        ],
        None,
    );
    assert_eq!(code, 1, "misses and errors make the exit status 1");
    let rows = lines_json(&out);
    assert_eq!(rows[0]["connector"]["connectorId"], id);
    assert_eq!(rows[0]["phoneNumber"], "+14155552671");
    assert_eq!(rows[1]["error"]["code"], "not_found");
    assert_eq!(rows[2]["error"]["code"], "invalid_phone_number");
    // Explained in the project: how each input read and what a lookup comes to.
    let (code, out, err) = run(
        &[
            "lookup",
            "--data",
            data_arg,
            "--explain",
            "support",
            "tel:+1-415-555-2671",
            "1-800-FLOWERS",
        ],
        None,
    );
    assert_eq!(
        code, 1,
        "an input that does not route makes the exit status 1: {err}"
    );
    let rows = lines_json(&out);
    assert_eq!(
        (&rows[0]["form"], &rows[0]["outcome"], &rows[0]["match"]),
        (&json!("tel_uri"), &json!("routed"), &json!("exact"))
    );
    assert_eq!(rows[0]["number"]["connectorId"], id);
    assert_eq!(
        (&rows[1]["valid"], &rows[1]["reason"]),
        (&json!(false), &json!("letters"))
    );
    let (code, _, err) = run(
        &[
            "lookup",
            "--snapshot",
            "x.pbsnap",
            "--explain",
            "support",
            "+1",
        ],
        None,
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--explain"), "{err}");
    let snap = dir.path().join("routes.pbsnap");
    let (code, out, err) = run(
        &[
            "snapshot",
            "export",
            "--data",
            data_arg,
            "--out",
            snap.to_str().expect("utf-8"),
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("1 numbers, 1 connectors"), "{out}");
    assert_eq!(server.stop(), Some(0));

    let (code, out, _) = run(
        &["snapshot", "inspect", snap.to_str().expect("utf-8")],
        None,
    );
    assert_eq!(code, 0);
    let format = format!("format: {}", patchbay_core::FORMAT_VERSION);
    for field in [
        "version:",
        "numbers: 1",
        "connectors: 1",
        "checksum: crc32:",
        "size_bytes:",
        format.as_str(),
    ] {
        assert!(out.contains(field), "{field} in {out}");
    }
    let (code, out, _) = run(
        &[
            "lookup",
            "--snapshot",
            snap.to_str().expect("utf-8"),
            "+14155552671",
        ],
        None,
    );
    assert_eq!(code, 0);
    assert_eq!(lines_json(&out)[0]["connector"]["connectorId"], id);
    // A corrupt snapshot is refused with a reason.
    let mut bytes = std::fs::read(&snap).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&snap, bytes).expect("write");
    let (code, _, err) = run(
        &["snapshot", "inspect", snap.to_str().expect("utf-8")],
        None,
    );
    assert_eq!(code, 2);
    assert!(err.contains("checksum"), "{err}");

    // Revoke works once the server is gone.
    assert_eq!(
        run(&["key", "revoke", "--data", data_arg, &key_id], None).0,
        0
    );
    let server = Server::start(&data, &[]);
    assert_eq!(
        server
            .client(Some(&key))
            .get(&format!("{}/connectors", api("support")))
            .status,
        401
    );
}

#[test]
fn help_teaches_the_commands() {
    let (code, out, _) = run(&["--help"], None);
    assert_eq!(code, 0);
    for command in [
        "serve",
        "project",
        "key",
        "import",
        "lookup",
        "normalize",
        "snapshot",
    ] {
        assert!(out.contains(command), "{command} in {out}");
    }
    let (_, out, _) = run(&["serve", "--help"], None);
    assert!(
        out.contains("127.0.0.1:8080") && out.contains("./patchbay-data"),
        "{out}"
    );
    let (code, _, err) = run(&["lookup", "+14155552671"], None);
    assert_eq!(code, 2, "lookup needs --data or --snapshot");
    assert!(
        err.contains("--data") || err.contains("--snapshot"),
        "{err}"
    );
}

/// A file read a few lines at a time, imported by two threads: every number lands once,
/// errors name their lines in order, and the national forms of several regions work.
#[test]
fn import_streams_in_batches_and_reports_lines_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let data_arg = data.to_str().expect("utf-8");
    let (code, _, err) = run(
        &[
            "project",
            "create",
            "--data",
            data_arg,
            "--account",
            "a",
            "p",
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let mut text = String::from("number\n");
    for i in 0..40 {
        text.push_str(&format!("+4420794600{i:02}\n"));
        if i % 9 == 4 {
            text.push_str("+1 800 FLOWERS\n");
        }
    }
    // Valid in their countries although the previous metadata refused or misread them.
    text.push_str("+24761907\n+7 800 123 45 67\n");
    let file = dir.path().join("numbers.txt");
    std::fs::write(&file, &text).expect("write");
    let (code, out, err) = run(
        &[
            "import",
            "--data",
            data_arg,
            "--project",
            "p",
            "--batch",
            "3",
            file.to_str().expect("utf-8"),
        ],
        None,
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("imported 42 of 46 numbers into project p (4 errors)"),
        "{out}"
    );
    let lines: Vec<usize> = out
        .lines()
        .filter_map(|l| l.trim().strip_prefix("line "))
        .filter_map(|l| l.split(':').next()?.parse().ok())
        .collect();
    assert_eq!(lines, [7, 17, 27, 37], "{out}");
    assert!(out.contains("letters"), "{out}");
    assert!(
        !out.contains("+24761907") && !out.contains("+7 800"),
        "{out}"
    );
}
