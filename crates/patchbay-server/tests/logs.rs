//! The logs of the long-running commands: plain text without escape codes when standard
//! error is not a terminal, one JSON object per line with `--log-format json` or
//! `PATCHBAY_LOG_FORMAT=json`, and `RUST_LOG` filtering (overridden by `PATCHBAY_LOG`).

mod common;

use std::process::{Command, Stdio};

use common::{api, Server, BIN};
use serde_json::Value;

/// Starts a server with `extra` arguments and `env`, makes a few requests (one refused),
/// stops it, and returns what it logged.
fn logged(extra: &[&str], env: &[(&str, Option<&str>)]) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let log_path = dir.path().join("serve.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let server = Server::start_env(&dir.path().join("data"), extra, env, log);
    let key = server.key.clone().expect("key");
    let client = server.client(Some(&key));
    assert_eq!(client.get("/healthz").status, 200);
    assert_eq!(
        client
            .get(&format!("{}/connectors/missing", api("default")))
            .status,
        404
    );
    assert_eq!(server.stop(), Some(0));
    std::fs::read_to_string(&log_path).expect("read log")
}

#[test]
fn a_log_written_to_a_file_has_no_escape_codes() {
    let text = logged(&[], &[("PATCHBAY_LOG", Some("debug"))]);
    assert!(
        text.contains("finished processing request"),
        "debug lines are logged: {text}"
    );
    assert!(text.contains("INFO"), "levels are written: {text}");
    assert!(!text.contains('\u{1b}'), "escape codes in a file: {text:?}");
}

#[test]
fn json_logs_are_one_object_per_line() {
    let text = logged(
        &["--log-format", "json"],
        &[("PATCHBAY_LOG", Some("debug"))],
    );
    let lines: Vec<Value> = text
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?} is not JSON: {e}"))
        })
        .collect();
    assert!(lines.len() >= 3, "requests and shutdown are logged: {text}");
    for line in &lines {
        for field in ["timestamp", "level", "target", "message"] {
            assert!(
                line[field].is_string(),
                "{field} missing from {line} (all: {text})"
            );
        }
    }
    // An event's own fields sit beside the message, and the request's span beside them.
    let finished = lines
        .iter()
        .find(|l| l["message"] == "finished processing request" && l["status"] == 404)
        .unwrap_or_else(|| panic!("the refused request's line: {text}"));
    assert_eq!(finished["level"], "DEBUG");
    assert_eq!(finished["span"]["name"], "request");
    assert!(
        lines.iter().any(|l| l["level"] == "INFO"
            && l["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("stopped; data is durable"))),
        "the last word is a JSON line too: {text}"
    );
}

#[test]
fn the_environment_chooses_the_format_and_the_filter() {
    // RUST_LOG filters when PATCHBAY_LOG is unset.
    let text = logged(
        &[],
        &[
            ("PATCHBAY_LOG", None),
            ("RUST_LOG", Some("tower_http=debug,warn")),
            ("PATCHBAY_LOG_FORMAT", Some("json")),
        ],
    );
    let levels: Vec<String> = text
        .lines()
        .map(|line| {
            let line: Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?} is not JSON: {e}"));
            format!("{} {}", line["level"], line["target"])
        })
        .collect();
    assert!(
        levels
            .iter()
            .any(|l| l.starts_with("\"DEBUG\" \"tower_http")),
        "RUST_LOG turned tower_http's debug lines on: {levels:?}"
    );
    assert!(
        !levels.iter().any(|l| l.starts_with("\"INFO\" \"patchbay")),
        "RUST_LOG kept patchbay's info lines off: {levels:?}"
    );
    // PATCHBAY_LOG wins over RUST_LOG.
    let text = logged(
        &[],
        &[
            ("PATCHBAY_LOG", Some("warn")),
            ("RUST_LOG", Some("debug")),
            ("PATCHBAY_LOG_FORMAT", None),
        ],
    );
    assert!(
        !text.contains("DEBUG") && !text.contains("INFO"),
        "PATCHBAY_LOG=warn overrides RUST_LOG=debug: {text}"
    );
}

#[test]
fn a_bad_filter_is_reported_and_logging_goes_on_at_info() {
    let text = logged(
        &["--log-format", "json"],
        &[("PATCHBAY_LOG", Some("patchbay=loud"))],
    );
    let lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).expect("JSON"))
        .collect();
    assert!(
        lines.iter().any(|l| l["level"] == "WARN"
            && l["message"]
                .as_str()
                .is_some_and(|m| m.contains("PATCHBAY_LOG") && m.contains("not a log filter"))),
        "the bad filter is named: {text}"
    );
    assert!(
        lines.iter().any(|l| l["level"] == "INFO"),
        "info lines still come: {text}"
    );
}

#[test]
fn sip_logs_its_refusal_as_json() {
    let output = Command::new(BIN)
        .args([
            "sip",
            "--listen",
            "127.0.0.1:0",
            "--snapshot",
            "/nonexistent/routes.pbsnap",
        ])
        .env("PATCHBAY_LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .output()
        .expect("run patchbay sip");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last: Value = stderr
        .lines()
        .last()
        .and_then(|line| serde_json::from_str(line).ok())
        .unwrap_or_else(|| panic!("the error is a JSON line: {stderr}"));
    assert_eq!(last["level"], "ERROR", "{stderr}");
    assert!(
        last["message"]
            .as_str()
            .is_some_and(|m| m.contains("/nonexistent/routes.pbsnap")),
        "the error names the file: {stderr}"
    );
}

#[test]
fn an_unknown_log_format_is_refused() {
    let output = Command::new(BIN)
        .args(["serve", "--log-format", "xml"])
        .output()
        .expect("run patchbay serve");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("xml") && stderr.contains("json"),
        "the refusal names the value and the choices: {stderr}"
    );
}
