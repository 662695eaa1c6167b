//! End to end over HTTP: the real binary on a loopback port with a temporary data directory.

mod common;

use common::{api, run, Server};
use serde_json::{json, Value};

fn connector_body(env: &str) -> Value {
    json!({"name": "Support", "clientEnv": env, "asrLangCode": "en-US", "voiceName": "en-US-Neural2-A"})
}

/// Everything observable about a project, for before/after comparisons.
fn project_state(server: &Server, key: &str, project: &str) -> (Value, Value) {
    let client = server.client(Some(key));
    (
        client.get(&format!("{}/connectors", api(project))).json(),
        client
            .get(&format!("{}/phone-numbers", api(project)))
            .json(),
    )
}

#[test]
fn every_endpoint_over_http() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), &[]);
    let key = server.key.clone().expect("first start prints a key");
    let c = server.client(Some(&key));
    let base = api("default");

    // Operations endpoints.
    assert_eq!(c.get("/healthz").status, 200);
    assert_eq!(c.get("/readyz").json()["status"], "ok");
    let doc = c.get("/openapi.json").json();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/v1/agents/{agentId}/telephony/connectors/lookup"]["post"].is_object());

    // Connectors.
    let created = c.send(
        "POST",
        &format!("{base}/connectors"),
        Some(connector_body("live")),
    );
    assert_eq!(
        created.status,
        201,
        "{:?}",
        String::from_utf8_lossy(&created.body)
    );
    let connector = created.json();
    let id = connector["connectorId"].as_str().expect("id").to_string();
    assert_eq!(connector["variantId"], "");
    assert_eq!(connector["ttsLangCode"], "en-US");
    let listed = c.get(&format!("{base}/connectors")).json();
    assert_eq!(listed["connectors"].as_array().map(Vec::len), Some(1));
    assert_eq!(c.get(&format!("{base}/connectors/{id}")).json(), connector);
    let batch = c
        .send(
            "POST",
            &format!("{base}/connectors/batch"),
            Some(json!({"connectorIds": [id, "nope"]})),
        )
        .json();
    assert_eq!(batch["notFound"], json!(["nope"]));
    assert_eq!(batch["found"][0]["connectorId"], id.as_str());

    // Partial update semantics: value, absent, null.
    let set = c
        .send(
            "PATCH",
            &format!("{base}/connectors/{id}"),
            Some(json!({"variantId": "v2"})),
        )
        .json();
    assert_eq!(set["variantId"], "v2");
    let other = c
        .send(
            "PATCH",
            &format!("{base}/connectors/{id}"),
            Some(json!({"voiceName": "cmn-CN-Wavenet-A"})),
        )
        .json();
    assert_eq!(
        (other["variantId"].as_str(), other["ttsLangCode"].as_str()),
        (Some("v2"), Some("cmn-CN"))
    );
    let cleared = c
        .send(
            "PATCH",
            &format!("{base}/connectors/{id}"),
            Some(json!({"variantId": null})),
        )
        .json();
    assert_eq!(cleared["variantId"], "");
    let refused = c.send(
        "PATCH",
        &format!("{base}/connectors/{id}"),
        Some(json!({"asrLangCode": null})),
    );
    assert_eq!(
        (refused.status, refused.error_code().as_str()),
        (422, "validation_failed")
    );
    let bad_voice = c.send(
        "PATCH",
        &format!("{base}/connectors/{id}"),
        Some(json!({"voiceName": "en-US-Nope-Z"})),
    );
    assert_eq!(bad_voice.status, 422);

    // Batch update with partial success.
    let results = c
        .send(
            "PATCH",
            &format!("{base}/connectors/batch"),
            Some(json!({"updates": [
                {"connectorId": id, "variantId": "b"},
                {"connectorId": "missing", "variantId": "b"},
            ]})),
        )
        .json();
    assert_eq!(results["results"][0]["success"], true);
    assert_eq!(results["results"][0]["data"]["variantId"], "b");
    assert_eq!(results["results"][1]["success"], false);
    assert_eq!(results["results"][1]["error"]["code"], "not_found");

    // Phone numbers: import with per-number errors, in any accepted form.
    let imported = c
        .send("POST", &format!("{base}/phone-numbers"), Some(json!({
            "phoneNumbers": ["+1 (415) 555-2671", "tel:+44-20-7946-0958", "1-800-FLOWERS", "+4402079460958"],
            "connectorId": id,
        })))
        .json();
    assert_eq!(imported["imported"].as_array().map(Vec::len), Some(2));
    assert_eq!(imported["imported"][0]["number"], "+14155552671");
    let errors: Vec<&str> = imported["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["error"]["code"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(errors, ["invalid_phone_number", "invalid_phone_number"]);
    let clean = c
        .send(
            "POST",
            &format!("{base}/phone-numbers"),
            Some(json!({"phoneNumbers": ["+442079460001"]})),
        )
        .json();
    assert!(
        clean.get("errors").is_none(),
        "errors is omitted when empty: {clean}"
    );

    // Lookup (read-your-writes through the snapshot).
    let found = c.send(
        "POST",
        &format!("{base}/connectors/lookup"),
        Some(json!({"phoneNumber": "sip:+14155552671@pbx;user=phone"})),
    );
    assert_eq!(found.status, 200);
    assert_eq!(found.json()["connectorId"], id.as_str());
    let missing = c.send(
        "POST",
        &format!("{base}/connectors/lookup"),
        Some(json!({"phoneNumber": "+442079460001"})),
    );
    assert_eq!(
        (missing.status, missing.error_code().as_str()),
        (404, "not_found")
    );

    // Get (percent-encoded path), batch get, list by connector.
    let got = c.get(&format!("{base}/phone-numbers/%2B14155552671"));
    assert_eq!(got.json()["connectorId"], id.as_str());
    assert_eq!(
        c.get(&format!("{base}/phone-numbers/+1%20415%20555%202671"))
            .status,
        200
    );
    let batch = c
        .send(
            "POST",
            &format!("{base}/phone-numbers/batch"),
            Some(json!({"phoneNumbers": ["+14155552671", "+19995550000"]})),
        )
        .json();
    assert_eq!(batch["notFound"], json!(["+19995550000"]));
    let by_connector = c
        .get(&format!("{base}/phone-numbers?connectorId={id}"))
        .json();
    assert_eq!(
        by_connector["phoneNumbers"].as_array().map(Vec::len),
        Some(2)
    );

    // Reassign: environment mismatch, then unassign with null.
    let sandbox = c
        .send(
            "POST",
            &format!("{base}/connectors"),
            Some(connector_body("sandbox")),
        )
        .json();
    let mismatch = c.send(
        "PATCH",
        &format!("{base}/phone-numbers/%2B442079460001"),
        Some(json!({"connectorId": sandbox["connectorId"]})),
    );
    assert_eq!(
        (mismatch.status, mismatch.error_code().as_str()),
        (409, "conflict")
    );
    let assigned = c
        .send(
            "PATCH",
            &format!("{base}/phone-numbers/%2B442079460001"),
            Some(json!({"connectorId": id})),
        )
        .json();
    assert_eq!(assigned["connectorId"], id.as_str());
    let unassigned = c
        .send(
            "PATCH",
            &format!("{base}/phone-numbers/%2B442079460001"),
            Some(json!({"connectorId": null})),
        )
        .json();
    assert!(
        unassigned.get("connectorId").is_none(),
        "absent when unassigned: {unassigned}"
    );
    let absent = c.send(
        "PATCH",
        &format!("{base}/phone-numbers/%2B442079460001"),
        Some(json!({})),
    );
    assert_eq!(absent.status, 400);

    // Delete one and many.
    let deleted = c
        .send(
            "DELETE",
            &format!("{base}/phone-numbers/%2B442079460001"),
            None,
        )
        .json();
    assert_eq!(deleted["deleted"], "+442079460001");
    c.send(
        "POST",
        &format!("{base}/phone-numbers"),
        Some(json!({"phoneNumbers": ["+442079460002"]})),
    );
    let many = c
        .send(
            "DELETE",
            &format!("{base}/phone-numbers"),
            Some(json!({"phoneNumbers": ["+442079460002", "+442079460003"]})),
        )
        .json();
    assert_eq!(many["deleted"], json!(["+442079460002"]));
    assert_eq!(many["errors"][0]["error"]["code"], "not_found");

    // Cascade delete.
    let gone = c
        .send("DELETE", &format!("{base}/connectors/{id}"), None)
        .json();
    assert_eq!(gone["deletedConnector"], id.as_str());
    let mut released: Vec<&str> = gone["deletedPhoneNumbers"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    released.sort_unstable();
    assert_eq!(released, ["+14155552671", "+442079460958"]);
    assert_eq!(
        c.get(&format!("{base}/phone-numbers/%2B14155552671"))
            .status,
        404
    );
    assert_eq!(c.get(&format!("{base}/connectors/{id}")).status, 404);

    // Metrics saw it all.
    let metrics = String::from_utf8_lossy(&c.get("/metrics").body).to_string();
    assert!(metrics.contains("patchbay_lookups_total 2"), "{metrics}");
    assert!(metrics.contains("patchbay_lookup_hits_total 1"));
    assert!(metrics.contains("patchbay_snapshot_version"));
    assert!(metrics.contains("patchbay_publish_last_seconds"));
    assert!(metrics.contains("status=\"201\""));
    assert_eq!(server.stop(), Some(0), "graceful shutdown exits 0");
}

#[test]
fn moving_a_connector_needs_both_grants() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    // Create the data directory, a second project and a key limited to `default` first.
    let server = Server::start(&data, &[]);
    let full = server.key.clone().expect("key");
    assert_eq!(server.stop(), Some(0));
    let data_arg = data.to_str().expect("utf-8 path");
    assert_eq!(
        run(
            &[
                "project",
                "create",
                "--data",
                data_arg,
                "--account",
                "default",
                "second"
            ],
            None
        )
        .0,
        0
    );
    let (code, narrow, _) = run(
        &[
            "key",
            "create",
            "--data",
            data_arg,
            "--account",
            "default",
            "--project",
            "default",
        ],
        None,
    );
    assert_eq!(code, 0);
    let narrow = narrow.trim().to_string();
    assert!(
        narrow.starts_with("pb_key_") && !narrow.contains(char::is_whitespace),
        "the key alone: {narrow:?}"
    );

    let server = Server::start(&data, &[]);
    assert_eq!(server.key, None, "a key is printed only on first start");
    let c_full = server.client(Some(&full));
    let c_narrow = server.client(Some(&narrow));
    // Each key says who it is: its account, its id (never the secret) and its projects.
    let id_of = |key: &str| {
        key.strip_prefix("pb_")
            .and_then(|rest| rest.rsplit_once('_'))
            .map(|(id, _)| id.to_string())
    };
    assert_eq!(
        c_full.get("/v1/me").json(),
        json!({"accountId": "default", "keyId": id_of(&full), "projects": ["default", "second"]})
    );
    assert_eq!(
        c_narrow.get("/v1/me").json(),
        json!({"accountId": "default", "keyId": id_of(&narrow), "projects": ["default"]})
    );
    let last = if full.ends_with('0') { '1' } else { '0' };
    let wrong_key = format!("{}{last}", &full[..full.len() - 1]);
    let wrong = server.client(Some(&wrong_key));
    let refused = wrong.get("/v1/me");
    assert_eq!(
        (refused.status, refused.error_code().as_str()),
        (401, "unauthorized")
    );
    let keyless = server.client(None).get("/v1/me");
    assert_eq!(
        (keyless.status, keyless.error_code().as_str()),
        (401, "unauthorized")
    );
    let id = c_full
        .send(
            "POST",
            &format!("{}/connectors", api("default")),
            Some(connector_body("live")),
        )
        .json()["connectorId"]
        .as_str()
        .expect("id")
        .to_string();
    c_full.send(
        "POST",
        &format!("{}/phone-numbers", api("default")),
        Some(json!({"phoneNumbers": ["+442079460958"], "connectorId": id})),
    );
    let denied = c_narrow.send(
        "PATCH",
        &format!("{}/connectors/{id}", api("default")),
        Some(json!({"projectId": "second"})),
    );
    assert_eq!(
        (denied.status, denied.error_code().as_str()),
        (403, "forbidden")
    );
    assert_eq!(
        c_narrow
            .get(&format!("{}/connectors", api("second")))
            .status,
        403
    );
    let moved = c_full.send(
        "PATCH",
        &format!("{}/connectors/{id}", api("default")),
        Some(json!({"projectId": "second"})),
    );
    assert_eq!(moved.status, 200);
    assert_eq!(moved.json()["projectId"], "second");
    let number = c_full
        .get(&format!("{}/phone-numbers/%2B442079460958", api("second")))
        .json();
    assert_eq!(number["projectId"], "second");
    assert_eq!(
        c_full
            .get(&format!("{}/phone-numbers/%2B442079460958", api("default")))
            .status,
        404
    );
    assert_eq!(server.stop(), Some(0));
}

#[test]
fn bad_input_gets_a_contract_error_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), &[]);
    let key = server.key.clone().expect("key");
    let c = server.client(Some(&key));
    let base = api("default");
    let id = c
        .send(
            "POST",
            &format!("{base}/connectors"),
            Some(connector_body("live")),
        )
        .json()["connectorId"]
        .as_str()
        .expect("id")
        .to_string();
    c.send(
        "POST",
        &format!("{base}/phone-numbers"),
        Some(json!({"phoneNumbers": ["+442079460958"], "connectorId": id})),
    );
    let before = project_state(&server, &key, "default");
    let huge = vec![b' '; 9 << 20];
    let too_many: Vec<String> = (0..10_001).map(|i| format!("+4420794{i:05}")).collect();
    /// Method, path, body, expected status and code.
    type Case = (&'static str, String, Option<Vec<u8>>, u16, &'static str);
    let cases: Vec<Case> = vec![
        ("POST", format!("{base}/connectors"), Some(b"{not json".to_vec()), 400, "invalid_request"),
        ("POST", format!("{base}/connectors"), Some(br#"{"name": 5}"#.to_vec()), 400, "invalid_request"),
        ("POST", format!("{base}/connectors"), Some(br#"{"name":"a","clientEnv":"prod","asrLangCode":"en-US","voiceName":"en-US-Neural2-A"}"#.to_vec()), 400, "invalid_request"),
        ("PATCH", format!("{base}/connectors/{id}"), Some(br#"{"colour":"red"}"#.to_vec()), 400, "invalid_request"),
        ("PATCH", format!("{base}/connectors/{id}"), Some(br#"[1,2]"#.to_vec()), 400, "invalid_request"),
        ("POST", format!("{base}/phone-numbers"), Some(huge), 413, "payload_too_large"),
        ("POST", format!("{base}/phone-numbers"), Some(serde_json::to_vec(&json!({"phoneNumbers": too_many})).expect("json")), 413, "payload_too_large"),
        ("POST", format!("{base}/phone-numbers"), Some(br#"{"phoneNumbers": []}"#.to_vec()), 400, "invalid_request"),
        ("POST", format!("{base}/connectors/lookup"), Some(br#"{"phoneNumber": "+1\u0000415"}"#.to_vec()), 400, "invalid_phone_number"),
        ("POST", format!("{base}/connectors/lookup"), Some("{\"phoneNumber\": \"+1\u{0}415\"}".as_bytes().to_vec()), 400, "invalid_request"),
        ("POST", format!("{base}/connectors/lookup"), Some(b"{\"phoneNumber\": \"\xff\xfe\"}".to_vec()), 400, "invalid_request"),
        ("GET", format!("{base}/phone-numbers/%FF%FE"), None, 400, "invalid_request"),
        ("GET", format!("{base}/phone-numbers/%2B1%0A415"), None, 400, "invalid_phone_number"),
        ("DELETE", format!("{base}/phone-numbers/not-a-number"), None, 400, "invalid_phone_number"),
        ("PUT", format!("{base}/connectors"), Some(b"{}".to_vec()), 405, "invalid_request"),
        ("GET", "/v1/nothing/here".to_string(), None, 404, "not_found"),
        ("GET", format!("{}/connectors", api("someone-else")), None, 403, "forbidden"),
    ];
    for (method, path, body, status, code) in cases {
        let response = c.raw(method, &path, &[], body.as_deref());
        assert_eq!(
            (response.status, response.error_code()),
            (status, code.to_string()),
            "{method} {path}"
        );
    }
    // Keys: missing, unknown.
    let anonymous = server.client(None);
    assert_eq!(
        anonymous.get(&format!("{base}/connectors")).error_code(),
        "unauthorized"
    );
    let stranger = server.client(Some("pb_key_0000000000000000_00"));
    assert_eq!(stranger.get(&format!("{base}/connectors")).status, 401);
    // Correlation ids are echoed, or generated.
    let echoed = c.raw(
        "GET",
        &format!("{base}/connectors/missing"),
        &[("x-correlation-id", "trace-42")],
        None,
    );
    assert_eq!(echoed.header("x-correlation-id"), Some("trace-42"));
    assert_eq!(echoed.json()["error"]["correlation_id"], "trace-42");
    let generated = c.get(&format!("{base}/connectors/missing"));
    assert!(generated
        .header("x-correlation-id")
        .is_some_and(|v| v.starts_with("req_")));
    assert_eq!(
        project_state(&server, &key, "default"),
        before,
        "nothing changed"
    );
    let metrics = String::from_utf8_lossy(&c.get("/metrics").body).to_string();
    assert!(!metrics.contains(&key), "keys never appear in metrics");
    assert!(!metrics.contains("status=\"500\""), "no 5xx: {metrics}");
    assert_eq!(server.stop(), Some(0));
}

#[test]
fn restart_keeps_everything() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let server = Server::start(&data, &[]);
    let key = server.key.clone().expect("key");
    let c = server.client(Some(&key));
    let id = c
        .send(
            "POST",
            &format!("{}/connectors", api("default")),
            Some(connector_body("pre-release")),
        )
        .json()["connectorId"]
        .as_str()
        .expect("id")
        .to_string();
    c.send(
        "POST",
        &format!("{}/phone-numbers", api("default")),
        Some(json!({"phoneNumbers": ["+442079460958", "+14155552671"], "connectorId": id})),
    );
    c.send(
        "PATCH",
        &format!("{}/connectors/{id}", api("default")),
        Some(json!({"variantId": "x"})),
    );
    let before = project_state(&server, &key, "default");
    assert_eq!(server.stop(), Some(0));
    let server = Server::start(&data, &[]);
    assert_eq!(project_state(&server, &key, "default"), before);
    let found = server.client(Some(&key)).send(
        "POST",
        &format!("{}/connectors/lookup", api("default")),
        Some(json!({"phoneNumber": "+14155552671"})),
    );
    assert_eq!(found.json()["variantId"], "x");
}

#[test]
fn kill_9_mid_stream_keeps_every_acknowledged_change() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let server = Server::start(&data, &[]);
    let key = server.key.clone().expect("key");
    let c = server.client(Some(&key));
    let id = c
        .send(
            "POST",
            &format!("{}/connectors", api("default")),
            Some(connector_body("live")),
        )
        .json()["connectorId"]
        .as_str()
        .expect("id")
        .to_string();
    // A writer acknowledging imports as fast as it can, on its own thread.
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
                _ => break, // the server is gone
            }
        }
        acknowledged
    });
    // Kill mid-stream, once a good number of imports were acknowledged.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while acks.load(std::sync::atomic::Ordering::SeqCst) < 40
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    server.kill9();
    let acknowledged = writer.join().expect("writer");
    assert!(
        !acknowledged.is_empty(),
        "some imports were acknowledged before the kill"
    );
    let server = Server::start(&data, &[]);
    let listed = server
        .client(Some(&key))
        .get(&format!("{}/phone-numbers", api("default")))
        .json();
    let present: std::collections::HashSet<&str> = listed["phoneNumbers"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|p| p["number"].as_str())
        .collect();
    for number in &acknowledged {
        assert!(
            present.contains(number.as_str()),
            "acknowledged {number} is missing after kill -9"
        );
    }
    assert!(
        present.len() <= acknowledged.len() + 1,
        "at most the one in-flight import is extra"
    );
}

#[test]
fn keys_never_appear_in_logs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log_path = dir.path().join("serve.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let server = Server::start_logging(&dir.path().join("data"), &[], "debug", log);
    let key = server.key.clone().expect("key");
    let c = server.client(Some(&key));
    c.send(
        "POST",
        &format!("{}/connectors", api("default")),
        Some(connector_body("live")),
    );
    c.get(&format!("{}/connectors/missing", api("default")));
    let wrong = "pb_key_0123456789abcdef_00112233445566778899";
    server
        .client(Some(wrong))
        .get(&format!("{}/connectors", api("default")));
    assert_eq!(server.stop(), Some(0));
    let text = std::fs::read_to_string(&log_path).expect("read log");
    assert!(
        text.contains("/v1/agents/default/telephony/connectors"),
        "requests are logged: {text}"
    );
    assert!(!text.contains(&key), "the key leaked into the log");
    assert!(!text.contains(wrong), "a presented key leaked into the log");
    assert!(!text.contains("pb_key_"), "no key of any kind in the log");
}

/// Every schema of the document can be satisfied by the bodies the server accepts: no
/// `allOf` combines closed objects (each part forbidding the other's fields, as a flattened
/// update's derived schema did), and a batch update's item is one object with
/// `connectorId` and the update's fields.
#[test]
fn the_document_has_no_unsatisfiable_schema() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), &[]);
    let doc = server.client(None).get("/openapi.json").json();
    let schemas = &doc["components"]["schemas"];
    let resolve = |part: &Value| -> Value {
        match part["$ref"].as_str() {
            Some(reference) => {
                let name = reference.rsplit('/').next().unwrap_or_default();
                schemas[name].clone()
            }
            None => part.clone(),
        }
    };
    fn walk(value: &Value, found: &mut Vec<Value>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::Array(parts)) = map.get("allOf") {
                    found.push(Value::Array(parts.clone()));
                }
                map.values().for_each(|v| walk(v, found));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, found)),
            _ => {}
        }
    }
    let mut all_ofs = Vec::new();
    walk(&doc, &mut all_ofs);
    for parts in &all_ofs {
        let parts = parts.as_array().expect("parts");
        if parts.len() < 2 {
            continue;
        }
        for part in parts {
            assert_ne!(
                resolve(part)["additionalProperties"],
                json!(false),
                "an allOf with a closed part: {parts:?}"
            );
        }
    }
    let update = &schemas["ConnectorUpdate"];
    assert!(update.get("allOf").is_none(), "{update}");
    assert_eq!(update["additionalProperties"], json!(false));
    assert_eq!(update["required"], json!(["connectorId"]));
    for field in [
        "connectorId",
        "name",
        "variantId",
        "voiceName",
        "asrLangCode",
        "projectId",
    ] {
        assert!(update["properties"][field].is_object(), "{field}");
    }
    // The links that let stateful testing reach what was created.
    let created = &doc["paths"]["/v1/agents/{agentId}/telephony/connectors"]["post"]["responses"]
        ["201"]["links"];
    assert_eq!(created["get_connector"]["operationId"], "get_connector");
    assert_eq!(
        created["get_connector"]["parameters"]["connectorId"],
        "$response.body#/connectorId"
    );
}

#[test]
fn explain_says_how_an_input_reads_and_why_it_routes_or_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), &[]);
    let key = server.key.clone().expect("key");
    let c = server.client(Some(&key));
    let id = c
        .send(
            "POST",
            &format!("{}/connectors", api("default")),
            Some(connector_body("live")),
        )
        .json()["connectorId"]
        .as_str()
        .expect("id")
        .to_string();
    let post = |path: &str, body: Value| {
        let reply = c.send("POST", &format!("{}{path}", api("default")), Some(body));
        assert_eq!(reply.status, 200, "{path}");
    };
    post(
        "/phone-numbers",
        json!({"phoneNumbers": ["+442079460958"], "connectorId": id}),
    );
    post("/phone-numbers", json!({"phoneNumbers": ["+14155552671"]}));
    post(
        "/number-prefixes",
        json!({"prefixes": ["+4420794600"], "connectorId": id}),
    );
    let explain = |input: &str| {
        let reply = c.send(
            "POST",
            &format!("{}/connectors/lookup/explain", api("default")),
            Some(json!({"phoneNumber": input})),
        );
        assert_eq!(reply.status, 200, "{input}");
        reply.json()
    };

    let own = explain("tel:+44-20-7946-0958");
    assert_eq!(
        (
            &own["valid"],
            &own["normalized"],
            &own["form"],
            &own["match"],
            &own["outcome"]
        ),
        (
            &json!(true),
            &json!("+442079460958"),
            &json!("tel_uri"),
            &json!("exact"),
            &json!("routed")
        )
    );
    assert_eq!(own["connector"]["connectorId"], id.as_str());
    assert_eq!(own["number"]["connectorId"], id.as_str());
    assert!(own["snapshotVersion"].as_u64().is_some_and(|v| v > 0));

    let by_prefix = explain("+44 20 7946 0011");
    assert_eq!(
        (
            &by_prefix["form"],
            &by_prefix["match"],
            &by_prefix["prefix"],
            &by_prefix["outcome"]
        ),
        (
            &json!("international"),
            &json!("prefix"),
            &json!("+4420794600"),
            &json!("routed")
        )
    );
    assert_eq!(by_prefix["connector"]["connectorId"], id.as_str());
    assert!(by_prefix.get("number").is_none(), "{by_prefix}");

    let unassigned = explain("+14155552671");
    assert_eq!(
        (
            &unassigned["form"],
            &unassigned["match"],
            &unassigned["outcome"]
        ),
        (&json!("e164"), &json!("none"), &json!("unassigned"))
    );
    assert_eq!(unassigned["number"]["number"], "+14155552671");
    assert!(unassigned.get("connector").is_none());

    let elsewhere = explain("+14155552672");
    assert_eq!(
        (&elsewhere["valid"], &elsewhere["outcome"]),
        (&json!(true), &json!("not_routed"))
    );
    assert!(elsewhere.get("number").is_none() && elsewhere.get("connector").is_none());

    for (input, reason) in [
        ("1-800-FLOWERS", "letters"),
        ("020 7946 0958", "national_without_region"),
        ("", "empty"),
    ] {
        let invalid = explain(input);
        assert_eq!(
            (
                &invalid["valid"],
                &invalid["reason"],
                &invalid["outcome"],
                &invalid["match"]
            ),
            (
                &json!(false),
                &json!(reason),
                &json!("invalid"),
                &json!("none")
            ),
            "{input:?}: {invalid}"
        );
        assert!(invalid.get("normalized").is_none());
    }

    // The body and the key are checked as everywhere.
    let unknown = c.send(
        "POST",
        &format!("{}/connectors/lookup/explain", api("default")),
        Some(json!({"phoneNumber": "+14155552671", "extra": 1})),
    );
    assert_eq!(
        (unknown.status, unknown.error_code().as_str()),
        (400, "invalid_request")
    );
    let keyless = server.client(None).send(
        "POST",
        &format!("{}/connectors/lookup/explain", api("default")),
        Some(json!({"phoneNumber": "+14155552671"})),
    );
    assert_eq!(keyless.status, 401);
    assert_eq!(server.stop(), Some(0));
}
