//! A read-only follower of a data directory another admin owns: it starts from what the
//! directory holds, applies every change the owner acknowledges, keeps up across the
//! owner's checkpoints (also when it falls behind one), and refuses changes of its own.

use std::sync::Arc;
use std::time::{Duration, Instant};

use patchbay_admin::{Admin, AdminConfig, Caller, DataDir, ErrorCode, ImportRequest, NewConnector};
use patchbay_core::{ClientEnv, Connector};

/// An owner of `dir` that checkpoints after `checkpoint_after` journal bytes.
fn owner(dir: &std::path::Path, checkpoint_after: u64) -> Admin {
    let store = DataDir::open(dir).expect("open");
    let config = AdminConfig {
        checkpoint_after,
        ..AdminConfig::default()
    };
    Admin::open(Box::new(store), config).expect("admin")
}

fn connector(admin: &Admin) -> Connector {
    admin
        .create_connector(
            &Caller::Operator,
            "default",
            NewConnector {
                name: "Support".into(),
                client_env: ClientEnv::Live,
                asr_lang_code: "en-US".into(),
                voice_name: "en-US-Neural2-A".into(),
                variant_id: None,
                disable_handoff: None,
            },
        )
        .expect("create")
}

fn import(admin: &Admin, numbers: &[String], connector: &str) {
    admin
        .import_numbers(
            &Caller::Operator,
            "default",
            &ImportRequest {
                phone_numbers: numbers.to_vec(),
                client_env: None,
                connector_id: Some(connector.to_string()),
            },
        )
        .expect("import");
}

fn number(i: u64) -> String {
    format!("+4420794{:05}", i)
}

fn routed(admin: &Admin, number: &str) -> bool {
    admin
        .router()
        .get(number.parse().expect("a number"))
        .is_some()
}

/// Waits until `follower` holds what `owner` holds; panics after 10 s.
fn converge(owner: &Admin, follower: &Admin) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while follower.model_fingerprint() != owner.model_fingerprint() {
        assert!(Instant::now() < deadline, "the follower never caught up");
        std::thread::sleep(Duration::from_millis(5));
    }
    follower.check_invariants().expect("invariants");
    assert_eq!(follower.number_count(), owner.number_count());
}

#[test]
fn a_follower_starts_from_the_directory_and_applies_every_acknowledged_change() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let owner = owner(tmp.path(), 64 << 20);
    owner.bootstrap().expect("bootstrap");
    let c = connector(&owner);
    import(&owner, &[number(1)], &c.connector_id);
    let follower =
        Arc::new(Admin::open_following(tmp.path(), AdminConfig::default()).expect("follow"));
    assert!(
        routed(&follower, &number(1)),
        "what the directory held at start"
    );
    follower.follow().expect("a follower thread");
    for i in 2..40 {
        import(&owner, &[number(i)], &c.connector_id);
        let deadline = Instant::now() + Duration::from_secs(5);
        while !routed(&follower, &number(i)) {
            assert!(
                Instant::now() < deadline,
                "change {i} never reached the follower"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    converge(&owner, &follower);
    let status = follower.follow_status().expect("a follower has a status");
    assert!(
        status.ready && status.applied == status.newest,
        "{status:?}"
    );
    assert_eq!(follower.node_name(), None);
}

#[test]
fn a_follower_keeps_up_while_the_owner_checkpoints_all_the_time() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // A checkpoint after almost every change.
    let owner = Arc::new(owner(tmp.path(), 256));
    owner.bootstrap().expect("bootstrap");
    let c = connector(&owner);
    let follower =
        Arc::new(Admin::open_following(tmp.path(), AdminConfig::default()).expect("follow"));
    follower.follow().expect("a follower thread");
    let writer = {
        let owner = owner.clone();
        let id = c.connector_id.clone();
        std::thread::spawn(move || {
            for i in 0..300u64 {
                import(&owner, &[number(2 * i), number(2 * i + 1)], &id);
            }
        })
    };
    writer.join().expect("writer");
    converge(&owner, &follower);
    assert_eq!(follower.number_count(), 600);
}

#[test]
fn a_follower_far_behind_a_checkpoint_loads_the_directory_again() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let owner = owner(tmp.path(), 1_024);
    owner.bootstrap().expect("bootstrap");
    let c = connector(&owner);
    import(&owner, &[number(0)], &c.connector_id);
    // No follower thread: the follower reads only when told to.
    let follower = Admin::open_following(tmp.path(), AdminConfig::default()).expect("follow");
    for i in 1..200 {
        import(&owner, &[number(i)], &c.connector_id);
    }
    assert!(!routed(&follower, &number(199)));
    let applied = follower.catch_up().expect("catch up");
    assert!(applied > 200, "at the owner's position, {applied}");
    converge(&owner, &follower);
}

#[test]
fn a_follower_refuses_changes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let owner = owner(tmp.path(), 64 << 20);
    owner.bootstrap().expect("bootstrap");
    let c = connector(&owner);
    let follower = Admin::open_following(tmp.path(), AdminConfig::default()).expect("follow");
    let err = follower
        .import_numbers(
            &Caller::Operator,
            "default",
            &ImportRequest {
                phone_numbers: vec![number(7)],
                client_env: None,
                connector_id: Some(c.connector_id.clone()),
            },
        )
        .expect_err("refused");
    assert_eq!(err.code(), ErrorCode::Conflict);
    assert!(err.message().contains("read-only"), "{}", err.message());
    assert!(!routed(&follower, &number(7)));
    assert!(!routed(&owner, &number(7)));
}

#[test]
fn a_directory_that_holds_nothing_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let err = Admin::open_following(tmp.path(), AdminConfig::default())
        .err()
        .expect("refused");
    assert!(
        err.message().contains("not a patchbay data directory"),
        "{}",
        err.message()
    );
}
