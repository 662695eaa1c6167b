//! Number prefixes over HTTP and the command line: the real binary on a loopback port with a
//! temporary data directory, every operation and error, the `x-patchbay-match` header, the
//! OpenAPI document's shape for them, and a restart (graceful and `kill -9`) that keeps them.

mod common;

use common::{api, run, Server};
use serde_json::{json, Value};

fn connector_body(env: &str) -> Value {
    json!({"name": "Support", "clientEnv": env, "asrLangCode": "en-US", "voiceName": "en-US-Neural2-A"})
}

fn lines_json(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn every_prefix_operation_over_http() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let server = Server::start(&data, &[]);
    let key = server.key.clone().expect("first start prints a key");
    let c = server.client(Some(&key));
    let base = api("default");
    let connector = |env: &str| create_connector(&c, &base, env);
    let (country, block, sandbox) = (connector("live"), connector("live"), connector("sandbox"));

    // Import: wildcards read, per-prefix errors, the connector's fields.
    let imported = c.send(
        "POST",
        &format!("{base}/number-prefixes"),
        Some(json!({"prefixes": ["+44 20 7946 00xx", "+1*", "4420", "+4420x*"], "connectorId": block})),
    );
    assert_eq!(imported.status, 200);
    let body = imported.json();
    assert_eq!(
        body["imported"][0],
        json!({"prefix": "+4420794600", "projectId": "default", "accountId": "default",
               "clientEnv": "live", "connectorId": block})
    );
    assert_eq!(body["imported"][1]["prefix"], "+1");
    assert_eq!(body["errors"][0]["prefix"], "4420");
    assert_eq!(body["errors"][0]["error"]["code"], "invalid_phone_number");
    assert_eq!(body["errors"][1]["error"]["code"], "invalid_phone_number");
    let country_import = c.send(
        "POST",
        &format!("{base}/number-prefixes"),
        Some(json!({"prefixes": ["+44"], "connectorId": country})),
    );
    assert!(
        country_import.json().get("errors").is_none(),
        "errors omitted when none"
    );
    for (body, code, status) in [
        (
            json!({"prefixes": [], "connectorId": block}),
            "invalid_request",
            400,
        ),
        (
            json!({"prefixes": ["+45"], "connectorId": "conn_missing"}),
            "not_found",
            404,
        ),
        (json!({"prefixes": ["+45"]}), "invalid_request", 400),
        (
            json!({"prefixes": ["+45"], "connectorId": block, "extra": 1}),
            "invalid_request",
            400,
        ),
    ] {
        let r = c.send("POST", &format!("{base}/number-prefixes"), Some(body));
        assert_eq!((r.status, r.error_code()), (status, code.to_string()));
    }

    // Lookups: the header says how each matched; exact beats prefix.
    let number = c.send(
        "POST",
        &format!("{base}/phone-numbers"),
        Some(json!({"phoneNumbers": ["+442079460058"], "connectorId": connector("live")})),
    );
    assert_eq!(number.status, 200);
    for (input, want_connector, want_match) in [
        ("+442079460059", block.as_str(), "prefix +4420794600"),
        ("+44 161 496 0000", country.as_str(), "prefix +44"),
        ("+14155550100", block.as_str(), "prefix +1"),
    ] {
        let r = c.send(
            "POST",
            &format!("{base}/connectors/lookup"),
            Some(json!({"phoneNumber": input})),
        );
        assert_eq!(r.status, 200, "{input}");
        assert_eq!(r.json()["connectorId"], want_connector, "{input}");
        assert_eq!(r.header("x-patchbay-match"), Some(want_match), "{input}");
    }
    let exact = c.send(
        "POST",
        &format!("{base}/connectors/lookup"),
        Some(json!({"phoneNumber": "+442079460058"})),
    );
    assert_eq!(exact.header("x-patchbay-match"), Some("exact"));
    let miss = c.send(
        "POST",
        &format!("{base}/connectors/lookup"),
        Some(json!({"phoneNumber": "+4512345678"})),
    );
    assert_eq!((miss.status, miss.header("x-patchbay-match")), (404, None));

    // Get (percent-encoded too), list (pages, by connector), reassign, delete.
    let got = c.get(&format!("{base}/number-prefixes/%2B4420794600"));
    assert_eq!(
        (got.status, got.json()["connectorId"].clone()),
        (200, json!(block))
    );
    assert_eq!(c.get(&format!("{base}/number-prefixes/+4499")).status, 404);
    assert_eq!(
        c.get(&format!("{base}/number-prefixes/nope")).error_code(),
        "invalid_phone_number"
    );
    let listed = c.get(&format!("{base}/number-prefixes")).json();
    let all: Vec<&str> = listed["numberPrefixes"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|p| p["prefix"].as_str())
        .collect();
    assert_eq!(all, ["+1", "+44", "+4420794600"]);
    let page = c.get(&format!("{base}/number-prefixes?limit=2")).json();
    assert_eq!(page["numberPrefixes"].as_array().map(Vec::len), Some(2));
    let cursor = page["nextCursor"].as_str().expect("cursor");
    let rest = c
        .get(&format!("{base}/number-prefixes?limit=2&cursor={cursor}"))
        .json();
    assert_eq!(rest["numberPrefixes"][0]["prefix"], "+4420794600");
    assert!(rest.get("nextCursor").is_none());
    let mine = c
        .get(&format!("{base}/number-prefixes?connectorId={country}"))
        .json();
    assert_eq!(mine["numberPrefixes"].as_array().map(Vec::len), Some(1));
    let reassign = |prefix: &str, to: &str| {
        c.send(
            "PATCH",
            &format!("{base}/number-prefixes/{prefix}"),
            Some(json!({"connectorId": to})),
        )
    };
    assert_eq!(
        reassign("+1", &country).json()["connectorId"],
        json!(country)
    );
    assert_eq!(reassign("+1", &sandbox).error_code(), "conflict");
    assert_eq!(reassign("+1", "conn_missing").error_code(), "not_found");
    assert_eq!(
        c.send("DELETE", &format!("{base}/number-prefixes/+1"), None)
            .json(),
        json!({"deleted": "+1"})
    );
    let bulk = c.send(
        "DELETE",
        &format!("{base}/number-prefixes"),
        Some(json!({"prefixes": ["+4420794600*", "+1"]})),
    );
    assert_eq!(bulk.json()["deleted"], json!(["+4420794600"]));
    assert_eq!(bulk.json()["errors"][0]["error"]["code"], "not_found");

    // Deleting a connector deletes its prefixes, and says which.
    let deleted = c.send("DELETE", &format!("{base}/connectors/{country}"), None);
    assert_eq!(deleted.json()["deletedPrefixes"], json!(["+44"]));
    assert_eq!(
        c.get(&format!("{base}/number-prefixes")).json(),
        json!({"numberPrefixes": []})
    );

    // An unknown key is refused; the document describes every operation.
    assert_eq!(
        server
            .client(Some("pb_key_nope_0000"))
            .get(&format!("{base}/number-prefixes"))
            .status,
        401
    );
    let doc = c.get("/openapi.json").json();
    for (path, method) in [
        ("/number-prefixes", "get"),
        ("/number-prefixes", "post"),
        ("/number-prefixes", "delete"),
        ("/number-prefixes/{prefix}", "get"),
        ("/number-prefixes/{prefix}", "patch"),
        ("/number-prefixes/{prefix}", "delete"),
    ] {
        let op = &doc["paths"][format!("/v1/agents/{{agentId}}/telephony{path}")][method];
        assert!(op.is_object(), "{method} {path}");
    }
    assert!(
        doc["paths"]["/v1/agents/{agentId}/telephony/connectors/lookup"]["post"]["responses"]
            ["200"]["headers"]["x-patchbay-match"]
            .is_object()
    );
}

/// A new connector of `env` under `base`, by its id.
fn create_connector(c: &common::Client<'_>, base: &str, env: &str) -> String {
    let created = c.send(
        "POST",
        &format!("{base}/connectors"),
        Some(connector_body(env)),
    );
    assert_eq!(created.status, 201);
    created.json()["connectorId"]
        .as_str()
        .expect("id")
        .to_string()
}

#[test]
fn prefixes_survive_restarts_and_the_command_line_manages_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let data_arg = data.to_str().expect("utf-8").to_string();
    let connector = {
        let server = Server::start(&data, &[]);
        let key = server.key.clone().expect("key");
        let c = server.client(Some(&key));
        let id = create_connector(&c, &api("default"), "live");
        let r = c.send(
            "POST",
            &format!("{}/number-prefixes", api("default")),
            Some(json!({"prefixes": ["+4420794600"], "connectorId": id})),
        );
        assert_eq!(r.status, 200);
        // Acknowledged means durable: a crash right after keeps it.
        server.kill9();
        id
    };

    // The command line: import from a file with a header, errors by line; list; lookup.
    let file = dir.path().join("prefixes.csv");
    std::fs::write(&file, "prefix,note\n+44 161 xxx xxxx,manchester\n+4420794601*,block\nnot one,bad\n+4420794600,taken\n").expect("write");
    let (code, out, err) = run(
        &[
            "prefix",
            "import",
            "--data",
            &data_arg,
            "--project",
            "default",
            "--connector",
            &connector,
            file.to_str().expect("utf-8"),
        ],
        None,
    );
    assert_eq!(code, 1, "errors make the exit status 1: {out}{err}");
    assert!(
        out.contains("imported 3 of 4 prefixes into project default (1 errors)"),
        "{out}"
    );
    assert!(
        out.contains("line 4: \"not one\": invalid_phone_number"),
        "{out}"
    );
    let (code, out, _) = run(
        &[
            "prefix",
            "list",
            "--data",
            &data_arg,
            "--project",
            "default",
        ],
        None,
    );
    assert_eq!(code, 0);
    let listed: Vec<Value> = lines_json(&out);
    let prefixes: Vec<&str> = listed.iter().filter_map(|p| p["prefix"].as_str()).collect();
    assert_eq!(prefixes, ["+44161", "+4420794600", "+4420794601"]);
    let (code, out, _) = run(
        &[
            "lookup",
            "--data",
            &data_arg,
            "+442079460155",
            "+441614960000",
        ],
        None,
    );
    assert_eq!(code, 0, "{out}");
    let rows = lines_json(&out);
    assert_eq!(rows[0]["match"], "prefix +4420794601");
    assert_eq!(rows[1]["match"], "prefix +44161");
    let (code, out, _) = run(
        &[
            "prefix",
            "delete",
            "--data",
            &data_arg,
            "--project",
            "default",
            "+44161",
            "+4499",
        ],
        None,
    );
    assert_eq!(code, 1, "{out}");
    let rows = lines_json(&out);
    assert_eq!(rows[0], json!({"deleted": "+44161"}));
    assert_eq!(rows[1]["error"]["code"], "not_found");

    // The server starts again with them, from the journal and the checkpoint.
    let server = Server::start(&data, &[]);
    assert_eq!(server.client(None).get("/readyz").status, 200);
    let (code, out, _) = run(
        &[
            "prefix",
            "list",
            "--data",
            &data_arg,
            "--project",
            "default",
        ],
        None,
    );
    assert_eq!(code, 0);
    assert_eq!(lines_json(&out).len(), 2);
    assert_eq!(server.stop(), Some(0));
}
