//! `GET /phone-numbers` of a large project over HTTP: pages with `limit` and `cursor`, the
//! streamed full listing, and the contract's 400 for every bad `limit` and `cursor`.

mod common;

use common::{api, Server};
use serde_json::{json, Value};

const NUMBERS: usize = 25_000;

/// Valid New York numbers, distinct for `i` below 30,000.
fn number(i: usize) -> String {
    format!("+1212{:03}{:04}", 200 + i / 10_000, i % 10_000)
}

fn numbers_of(list: &Value) -> Vec<String> {
    list["phoneNumbers"]
        .as_array()
        .expect("phoneNumbers")
        .iter()
        .map(|n| n["number"].as_str().expect("number").to_string())
        .collect()
}

#[test]
fn large_projects_page_and_stream() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("data"), &[]);
    let key = server.key.clone().expect("key");
    let c = server.client(Some(&key));
    let base = format!("{}/phone-numbers", api("default"));
    let all: Vec<String> = (0..NUMBERS).map(number).collect();
    for chunk in all.chunks(10_000) {
        let imported = c.send("POST", &base, Some(json!({ "phoneNumbers": chunk })));
        assert_eq!(imported.status, 200);
    }

    // Without limit: every number, sorted, streamed in chunks.
    let streamed = c.get(&base);
    assert_eq!(streamed.status, 200);
    assert_eq!(streamed.header("content-type"), Some("application/json"));
    assert_eq!(streamed.header("transfer-encoding"), Some("chunked"));
    let listed = streamed.json();
    assert!(listed.get("nextCursor").is_none());
    assert_eq!(numbers_of(&listed), all, "every number once, in order");

    // Pages: the same numbers, whatever the page size; the last page has no cursor.
    for limit in [10_000, 777] {
        let mut walked = Vec::new();
        let mut path = format!("{base}?limit={limit}");
        loop {
            let page = c.get(&path);
            assert_eq!(page.status, 200, "{path}");
            let page = page.json();
            let numbers = numbers_of(&page);
            assert!(numbers.len() <= limit);
            walked.extend(numbers);
            match page["nextCursor"].as_str() {
                Some(cursor) => path = format!("{base}?limit={limit}&cursor={cursor}"),
                None => break,
            }
        }
        assert_eq!(walked, all, "limit {limit}");
    }

    // Bad limits and cursors: the contract's 400, and nothing listed.
    for query in [
        "limit=0",
        "limit=10001",
        "limit=abc",
        "limit=-1",
        "limit=5&cursor=nope",
        "limit=5&cursor=n1.0",
        "limit=5&cursor=n1.2891234",
        "cursor=n1.12122000000",
    ] {
        let refused = c.get(&format!("{base}?{query}"));
        assert_eq!(refused.status, 400, "{query}");
        assert_eq!(refused.error_code(), "invalid_request", "{query}");
        assert!(refused.json()["error"]["message"].is_string());
    }
    // A connector filter pages too; an unknown connector is 404 before anything streams.
    let missing = c.get(&format!("{base}?connectorId=conn_missing"));
    assert_eq!(missing.status, 404);
    assert_eq!(missing.error_code(), "not_found");
    let unauthorized = server.client(None).get(&base);
    assert_eq!(unauthorized.status, 401);
}
