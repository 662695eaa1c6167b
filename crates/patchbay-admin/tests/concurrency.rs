//! Concurrent callers: no change is lost, every success is visible to the caller's very next
//! lookup, and lookup readers keep answering while changes are published.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use patchbay_admin::{Admin, AdminConfig, Caller, DataDir, ImportRequest, NewConnector};
use patchbay_core::ClientEnv;

#[test]
fn concurrent_changes_are_all_kept_and_read_your_writes_holds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let admin = Arc::new(
        Admin::open(
            Box::new(DataDir::open(dir.path()).expect("dir")),
            AdminConfig::default(),
        )
        .expect("open"),
    );
    let op = Caller::Operator;
    admin.create_project(&op, "acme", "p").expect("project");
    let done = Arc::new(AtomicBool::new(false));
    let lookups = Arc::new(AtomicU64::new(0));

    // A lookup reader that runs throughout and only ever sees versions move forward.
    let reader = {
        let (admin, done, lookups) = (Arc::clone(&admin), Arc::clone(&done), Arc::clone(&lookups));
        std::thread::spawn(move || {
            let mut reader = admin.router().reader();
            let mut last = 0;
            while !done.load(Ordering::Relaxed) {
                let version = reader.snapshot().version();
                assert!(version >= last);
                last = version;
                let _ = reader.lookup("+442079460001");
                lookups.fetch_add(1, Ordering::Relaxed);
            }
        })
    };

    let writers: Vec<_> = (0..4u64)
        .map(|w| {
            let admin = Arc::clone(&admin);
            std::thread::spawn(move || {
                let op = Caller::Operator;
                let connector = admin
                    .create_connector(
                        &op,
                        "p",
                        NewConnector {
                            name: format!("writer {w}"),
                            client_env: ClientEnv::Live,
                            asr_lang_code: "en-US".into(),
                            voice_name: "en-US-Neural2-C".into(),
                            variant_id: None,
                            disable_handoff: None,
                        },
                    )
                    .expect("connector");
                let mut reader = admin.router().reader();
                let mut mine = Vec::new();
                for i in 0..25u64 {
                    let number = format!("+44207946{:04}", w * 100 + i);
                    let result = admin
                        .import_numbers(
                            &op,
                            "p",
                            &ImportRequest {
                                phone_numbers: vec![number.clone()],
                                client_env: None,
                                connector_id: Some(connector.connector_id.clone()),
                            },
                        )
                        .expect("import");
                    assert!(result.errors.is_empty(), "{:?}", result.errors);
                    // Read-your-writes: the very next lookup sees the change.
                    let route = reader
                        .lookup(&number)
                        .expect("valid")
                        .expect("routed at once");
                    assert_eq!(route.connector.connector_id, connector.connector_id);
                    mine.push(number);
                }
                mine
            })
        })
        .collect();
    let mut expected: Vec<String> = writers
        .into_iter()
        .flat_map(|w| w.join().expect("writer"))
        .collect();
    done.store(true, Ordering::Relaxed);
    reader.join().expect("reader");
    assert!(lookups.load(Ordering::Relaxed) > 0);

    admin.check_invariants().expect("invariants");
    let mut present: Vec<String> = admin
        .list_numbers(&op, "p", None)
        .expect("list")
        .into_iter()
        .map(|p| p.number.to_string())
        .collect();
    expected.sort();
    present.sort();
    assert_eq!(present, expected, "no change was lost");
    drop(admin);
    let reopened = Admin::open(
        Box::new(DataDir::open(dir.path()).expect("dir")),
        AdminConfig::default(),
    )
    .expect("reopen");
    assert_eq!(reopened.number_count(), expected.len());
}
