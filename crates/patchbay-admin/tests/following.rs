//! A read-only follower of a data directory another admin owns: it starts from what the
//! directory holds, applies every change the owner acknowledges, keeps up across the
//! owner's checkpoints (also when it falls behind one), and answers reads as the owner does.
//! It has no change operations: the type has none to call.

use std::sync::Arc;
use std::time::{Duration, Instant};

use patchbay_admin::{
    Admin, AdminConfig, Caller, DataDir, ErrorCode, Follower, ImportRequest, NewConnector, Replica,
};
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

fn routed(admin: &Replica, number: &str) -> bool {
    admin
        .router()
        .get(number.parse().expect("a number"))
        .is_some()
}

/// Waits until `follower` holds what `owner` holds; panics after 10 s.
fn converge(owner: &Replica, follower: &Replica) {
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
        Arc::new(Follower::open_dir(tmp.path(), AdminConfig::default()).expect("follow"));
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
    // Applied from the journal a read at a time, not by reading the directory whole again.
    let published = follower.publish_stats().publishes;
    assert!(published >= 1, "{published} changes applied one by one");
    let status = follower.follow_status();
    assert!(
        status.ready && status.applied == status.newest,
        "{status:?}"
    );
}

#[test]
fn a_follower_keeps_up_while_the_owner_checkpoints_all_the_time() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // A checkpoint after almost every change.
    let owner = Arc::new(owner(tmp.path(), 256));
    owner.bootstrap().expect("bootstrap");
    let c = connector(&owner);
    let follower =
        Arc::new(Follower::open_dir(tmp.path(), AdminConfig::default()).expect("follow"));
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
    let follower = Follower::open_dir(tmp.path(), AdminConfig::default()).expect("follow");
    for i in 1..200 {
        import(&owner, &[number(i)], &c.connector_id);
    }
    assert!(!routed(&follower, &number(199)));
    let applied = follower.catch_up().expect("catch up");
    assert!(applied > 200, "at the owner's position, {applied}");
    converge(&owner, &follower);
}

#[test]
fn a_follower_answers_reads_as_the_owner_does() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let owner = owner(tmp.path(), 64 << 20);
    let key = Caller::Key(owner.bootstrap().expect("bootstrap").expect("a new store"));
    let c = connector(&owner);
    import(&owner, &[number(7), number(8)], &c.connector_id);
    let follower = Follower::open_dir(tmp.path(), AdminConfig::default()).expect("follow");
    for replica in [&*owner as &Replica, &follower] {
        let page = replica
            .list_numbers_page(&key, "default", None, None, 10)
            .expect("a page");
        let listed: Vec<String> = page
            .phone_numbers
            .iter()
            .map(|n| n.number.to_string())
            .collect();
        assert_eq!(listed, [number(7), number(8)]);
        let found = replica
            .lookup_connector(&key, "default", &number(8))
            .expect("routed");
        assert_eq!(found.connector_id, c.connector_id);
        let wrong = Caller::Key("pb_live_nobody.nothing".into());
        let err = replica
            .get_number(&wrong, "default", &number(7))
            .expect_err("a wrong key");
        assert_eq!(err.code(), ErrorCode::Unauthorized);
        let err = replica
            .get_number(&key, "default", &number(9))
            .expect_err("not there");
        assert_eq!(err.code(), ErrorCode::NotFound);
    }
    assert_eq!(follower.model_fingerprint(), owner.model_fingerprint());
}

#[test]
fn a_directory_that_holds_nothing_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let err = Follower::open_dir(tmp.path(), AdminConfig::default())
        .err()
        .expect("refused");
    assert!(
        err.message().contains("not a patchbay data directory"),
        "{}",
        err.message()
    );
}
