//! Nodes of one PostgreSQL store, in one process: writes through any node reach every
//! node's router, conflicting writes on two nodes settle on one, a crashed database fails
//! changes with `unavailable` while lookups answer, and nodes restart from their cache or
//! the tables.

mod pg;

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use patchbay_admin::{
    Admin, AdminConfig, Caller, ConnectError, DataDir, ErrorCode, Follower, Freshness,
    ImportRequest, MemoryStore, NewConnector, Postgres, PrefixImportRequest, Replica,
    SCHEMA_VERSION,
};
use patchbay_core::{ClientEnv, Connector, E164};
use pg::PgCluster;

fn node(url: &str, name: &str) -> Arc<Admin> {
    let store = Postgres::connect(url, name).expect("connect");
    let admin = Arc::new(
        Admin::open_shared(
            Box::new(MemoryStore::default()),
            store,
            AdminConfig::default(),
        )
        .expect("open"),
    );
    admin.follow().expect("a follower");
    admin
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

fn try_import(
    admin: &Admin,
    numbers: &[String],
    connector: &str,
) -> Result<patchbay_admin::Imported, patchbay_admin::AdminError> {
    admin.import_numbers(
        &Caller::Operator,
        "default",
        &ImportRequest {
            phone_numbers: numbers.to_vec(),
            client_env: None,
            connector_id: Some(connector.to_string()),
        },
    )
}

fn import(admin: &Admin, numbers: &[String], connector: &str) -> patchbay_admin::Imported {
    try_import(admin, numbers, connector).expect("import")
}

/// Two following nodes of a new database, its default project, and a connector made on the
/// first.
fn two_nodes(url: &str) -> (Arc<Admin>, Arc<Admin>, Connector) {
    let a = node(url, "a");
    let b = node(url, "b");
    a.bootstrap().expect("bootstrap");
    let c = connector(&a);
    (a, b, c)
}

fn number(i: u64) -> String {
    format!("+4420794{:05}", i)
}

/// Waits (up to 10 s) until `admin`'s router answers `number` with `connector` (or no
/// route, for `None`).
fn routes(admin: &Replica, number: &str, connector: Option<&str>) -> bool {
    let number: E164 = number.parse().expect("a number");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = admin
            .router()
            .get(number)
            .map(|c| c.connector().connector_id.clone());
        if found.as_deref() == connector {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn point_queries_answer_as_the_model_routes() {
    let cluster = PgCluster::shared();
    let url = cluster.database();
    let (a, _b, c) = two_nodes(&url);
    let other = connector(&a);
    import(&a, &[number(1), number(2)], &c.connector_id);
    // Numbers held without a connector: routed by a prefix, or by nothing.
    a.import_numbers(
        &Caller::Operator,
        "default",
        &ImportRequest {
            phone_numbers: vec!["+442079460042".into(), "+12025550123".into()],
            client_env: None,
            connector_id: None,
        },
    )
    .expect("unassigned numbers");
    for (prefixes, to) in [
        (vec!["+44207946".to_string()], &c.connector_id),
        (vec!["+442079460".to_string()], &other.connector_id),
        (vec!["+4420794600xx".to_string()], &c.connector_id),
    ] {
        let imported = a
            .import_prefixes(
                &Caller::Operator,
                "default",
                &PrefixImportRequest {
                    prefixes,
                    connector_id: to.clone(),
                },
            )
            .expect("prefixes");
        assert!(imported.errors.is_empty(), "{:?}", imported.errors);
    }
    let asked: Vec<E164> = [
        number(1),              // its own route
        "+442079460042".into(), // held unassigned: the longest prefix (+4420794600)
        "+442079460999".into(), // not held: +442079460
        "+442079469999".into(), // +44207946
        "+442079999999".into(), // nothing
        "+12025550123".into(),  // held unassigned, no prefix
    ]
    .iter()
    .map(|n| n.parse().expect("a number"))
    .collect();
    let store = Postgres::connect(&url, "point").expect("connect");
    let stored = store.routes(&asked).expect("point queries");
    let snapshot = a.router().snapshot();
    let mut routed = 0;
    for (number, answer) in asked.iter().zip(&stored.routes) {
        let expected = snapshot
            .get_match(*number)
            .map(|(how, connector)| (how.to_string(), connector.connector_id.clone()));
        let got = answer
            .as_ref()
            .map(|(how, connector)| (how.to_string(), connector.connector_id.clone()));
        assert_eq!(got, expected, "{number}");
        routed += usize::from(got.is_some());
    }
    assert_eq!(routed, 4, "{:?}", stored.routes);
    assert_eq!(
        stored.routes[1].as_ref().map(|(how, _)| how.to_string()),
        Some("prefix +4420794600".to_string())
    );
    assert_eq!(stored.position, a.follow_status().expect("shared").applied);
}

#[test]
fn a_row_that_cannot_be_read_is_named_when_the_tables_load() {
    let cluster = PgCluster::shared();
    let url = cluster.database();
    let (a, _b, c) = two_nodes(&url);
    import(&a, &[number(1), number(2)], &c.connector_id);
    let load = || {
        let store = Postgres::connect(&url, "loader").expect("connect");
        Follower::open_store(store, AdminConfig::default())
    };
    assert_eq!(load().expect("loads").number_count(), 2);
    cluster.query(
        &url,
        &format!(
            "UPDATE patchbay.numbers SET client_env = 'staging' WHERE number = '{}'",
            number(2)
        ),
    );
    let err = load().err().expect("refused");
    assert!(
        err.message().contains("patchbay.numbers") && err.message().contains("staging"),
        "{}",
        err.message()
    );
    cluster.query(
        &url,
        &format!(
            "UPDATE patchbay.numbers SET client_env = 'live', number = '+44x' WHERE number = '{}'",
            number(2)
        ),
    );
    let err = load().err().expect("refused");
    assert!(err.message().contains("+44x"), "{}", err.message());
}

#[test]
fn a_read_only_follower_of_the_store_applies_what_every_node_commits() {
    let cluster = PgCluster::start();
    let url = cluster.database();
    let (a, b, c) = two_nodes(&url);
    import(&a, &[number(1)], &c.connector_id);
    let store = Postgres::connect(&url, "reader").expect("connect");
    let follower = Arc::new(Follower::open_store(store, AdminConfig::default()).expect("open"));
    // What the tables held at start, before any following.
    assert!(routes(&follower, &number(1), Some(&c.connector_id)));
    follower.follow().expect("a follower thread");
    import(&b, &[number(2), number(3)], &c.connector_id);
    let removed = a.delete_number(&Caller::Operator, "default", &number(1));
    assert!(removed.is_ok(), "{removed:?}");
    assert!(routes(&follower, &number(3), Some(&c.connector_id)));
    assert!(routes(&follower, &number(1), None));
    let deadline = Instant::now() + Duration::from_secs(10);
    while follower.model_fingerprint() != a.model_fingerprint() {
        assert!(Instant::now() < deadline, "the follower never caught up");
        std::thread::sleep(Duration::from_millis(5));
    }
    follower.check_invariants().expect("invariants");
    let status = follower.follow_status();
    assert_eq!(status.freshness, Freshness::Fresh, "{status:?}");
    assert_eq!(status.applied, a.follow_status().expect("shared").applied);
}

#[test]
fn writes_through_one_node_reach_every_node_and_the_tables() {
    let cluster = PgCluster::start();
    let url = cluster.database();
    let nodes: Vec<Arc<Admin>> = (0..3).map(|i| node(&url, &format!("n{i}"))).collect();
    assert!(nodes[0].bootstrap().expect("bootstrap").is_some());
    assert_eq!(nodes[1].bootstrap().expect("bootstrap"), None);
    let c = connector(&nodes[0]);
    let batch: Vec<String> = (0..50).map(number).collect();
    let imported = import(&nodes[1], &batch, &c.connector_id);
    assert_eq!(imported.imported.len(), 50, "{:?}", imported.errors);
    // Read-your-writes on the node that wrote, then every node in step.
    assert!(nodes[1]
        .router()
        .get(batch[0].parse().expect("n"))
        .is_some());
    for n in &nodes {
        assert!(routes(n, &batch[49], Some(&c.connector_id)));
        assert_eq!(n.number_count(), 50);
    }
    // Each node's follower reaches the newest position and reports it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while nodes.iter().any(|n| {
        n.follow_status()
            .is_none_or(|s| s.applied != s.newest || !s.ready)
    }) {
        assert!(Instant::now() < deadline, "followers did not catch up");
        std::thread::sleep(Duration::from_millis(5));
    }
    let positions: Vec<u64> = nodes
        .iter()
        .map(|n| n.follow_status().expect("shared").applied)
        .collect();
    assert!(
        positions.iter().all(|&p| p == positions[0] && p >= 4),
        "{positions:?}"
    );
    // The tables hold the model, readable with psql.
    assert_eq!(
        cluster.query(&url, "SELECT count(*) FROM patchbay.numbers"),
        ["50"]
    );
    assert_eq!(
        cluster.query(
            &url,
            &format!(
                "SELECT connector_id FROM patchbay.numbers WHERE number = '{}'",
                batch[7]
            )
        ),
        std::slice::from_ref(&c.connector_id)
    );
    assert_eq!(
        cluster.query(&url, "SELECT max(position) FROM patchbay.changes"),
        [positions[0].to_string()]
    );
    // A delete through a third node is seen everywhere.
    nodes[2]
        .delete_number(&Caller::Operator, "default", &batch[3])
        .expect("delete");
    for n in &nodes {
        assert!(routes(n, &batch[3], None));
        n.check_invariants().expect("invariants");
    }
    // A node started later, with nothing cached, loads the tables.
    let late = node(&url, "late");
    assert_eq!(late.number_count(), 49);
    assert!(routes(&late, &batch[4], Some(&c.connector_id)));
    late.check_invariants().expect("invariants");
}

#[test]
fn a_bulk_change_is_packed_in_the_log_and_its_new_rows_copied() {
    let cluster = PgCluster::shared();
    let url = cluster.database();
    let (a, b, c) = two_nodes(&url);
    let other = connector(&b);
    // All new: inserted with COPY.
    let first: Vec<String> = (0..100).map(number).collect();
    assert_eq!(import(&a, &first, &c.connector_id).imported.len(), 100);
    // All new again, one listed twice (refused), through the other node.
    let mut second: Vec<String> = (100..250).map(number).collect();
    second.push(number(200));
    let added = import(&b, &second, &other.connector_id);
    assert_eq!(added.imported.len(), 150, "{:?}", added.errors);
    // Every number held: the first connector moves to another project, with its numbers.
    a.create_project(&Caller::Operator, "default", "second")
        .expect("a project");
    let patch = patchbay_admin::ConnectorPatch {
        project_id: patchbay_admin::Patch::Value("second".into()),
        ..Default::default()
    };
    a.update_connector(&Caller::Operator, "default", &c.connector_id, &patch)
        .expect("moved");
    let row = |n: u64| {
        cluster.query(
            &url,
            &format!(
                "SELECT project_id || ' ' || coalesce(connector_id, '-') \
                 FROM patchbay.numbers WHERE number = '{}'",
                number(n)
            ),
        )
    };
    assert_eq!(row(10), [format!("second {}", c.connector_id)]);
    assert_eq!(row(99), [format!("second {}", c.connector_id)]);
    assert_eq!(row(100), [format!("default {}", other.connector_id)]);
    assert_eq!(row(249), [format!("default {}", other.connector_id)]);
    assert_eq!(
        cluster.query(&url, "SELECT count(*) FROM patchbay.numbers"),
        ["250"]
    );
    // The three bulk changes are packed (about a byte a number, where JSON takes 16, beside
    // a connector's JSON and the stamp); the small ones before them are JSON.
    let packed = cluster.query(
        &url,
        "SELECT octet_length(packed) FROM patchbay.changes WHERE packed IS NOT NULL \
         ORDER BY position",
    );
    assert_eq!(packed.len(), 3, "{packed:?}");
    assert!(
        packed
            .iter()
            .all(|len| len.parse::<usize>().expect("a length") < 2 * 150 + 300),
        "{packed:?}"
    );
    assert_ne!(
        cluster.query(
            &url,
            "SELECT count(*) FROM patchbay.changes WHERE change IS NOT NULL"
        ),
        ["0"]
    );
    // Every node, following the log or loading the tables, holds the same model.
    let late = node(&url, "late");
    assert_eq!(late.number_count(), 250);
    for n in [&a, &b] {
        n.catch_up().expect("catch up");
    }
    assert_eq!(a.model_fingerprint(), b.model_fingerprint());
    assert_eq!(late.model_fingerprint(), a.model_fingerprint());
    a.check_invariants().expect("invariants");
    assert!(routes(&a, &number(249), Some(&other.connector_id)));
    assert_eq!(
        a.get_number(&Caller::Operator, "second", &number(10))
            .expect("moved")
            .connector_id,
        Some(c.connector_id.clone())
    );
}

#[test]
fn a_bulk_insert_the_table_refuses_changes_nothing() {
    let cluster = PgCluster::shared();
    let url = cluster.database();
    let (a, _b, c) = two_nodes(&url);
    // A row no change made: the node's model does not hold it, so its bulk insert meets
    // it in the table.
    cluster.query(
        &url,
        &format!(
            "INSERT INTO patchbay.numbers VALUES ('{}', 'default', 'live', NULL)",
            number(70)
        ),
    );
    let head = cluster.query(&url, "SELECT position FROM patchbay.head");
    let batch: Vec<String> = (0..100).map(number).collect();
    let error = try_import(&a, &batch, &c.connector_id).expect_err("refused");
    assert!(error.to_string().contains("duplicate key"), "{error}");
    assert_eq!(
        cluster.query(&url, "SELECT position FROM patchbay.head"),
        head
    );
    assert_eq!(
        cluster.query(&url, "SELECT count(*) FROM patchbay.numbers"),
        ["1"]
    );
    assert_eq!(a.number_count(), 0);
    assert!(routes(&a, &number(0), None));
}

#[test]
fn the_same_number_imported_on_two_nodes_at_once_lands_once() {
    let cluster = PgCluster::start();
    let url = cluster.database();
    let (a, b, ca) = two_nodes(&url);
    let cb = connector(&b);
    for round in 0..20u64 {
        let wanted = vec![number(1_000 + round)];
        let barrier = Arc::new(Barrier::new(2));
        let run = |admin: Arc<Admin>, connector: String| {
            let barrier = barrier.clone();
            let wanted = wanted.clone();
            std::thread::spawn(move || {
                barrier.wait();
                import(&admin, &wanted, &connector)
            })
        };
        let ta = run(a.clone(), ca.connector_id.clone());
        let tb = run(b.clone(), cb.connector_id.clone());
        let results = [ta.join().expect("a"), tb.join().expect("b")];
        let won: Vec<usize> = (0..2).filter(|&i| results[i].imported.len() == 1).collect();
        assert_eq!(won.len(), 1, "round {round}: {results:?}");
        let lost = &results[1 - won[0]];
        assert_eq!(lost.errors.len(), 1, "round {round}: {lost:?}");
        assert_eq!(lost.errors[0].error.code(), ErrorCode::Conflict);
        let winner = if won[0] == 0 { &ca } else { &cb };
        assert!(routes(&a, &wanted[0], Some(&winner.connector_id)));
        assert!(routes(&b, &wanted[0], Some(&winner.connector_id)));
    }
    a.check_invariants().expect("invariants");
    b.check_invariants().expect("invariants");
}

#[test]
fn a_crashed_database_fails_changes_fast_and_lookups_go_on() {
    let cluster = PgCluster::start();
    let url = cluster.database();
    let (a, b, c) = two_nodes(&url);
    import(&a, &[number(1)], &c.connector_id);
    assert!(routes(&b, &number(1), Some(&c.connector_id)));

    cluster.crash();
    let started = Instant::now();
    let refused = try_import(&a, &[number(2)], &c.connector_id).expect_err("the store is down");
    assert_eq!(refused.code(), ErrorCode::Unavailable, "{refused}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    // Nothing was applied; the last state still answers.
    assert!(a.router().get(number(2).parse().expect("n")).is_none());
    assert!(a.router().get(number(1).parse().expect("n")).is_some());
    assert_eq!(a.number_count(), 1);
    let deadline = Instant::now() + Duration::from_secs(10);
    while b.follow_status().expect("shared").reachable {
        assert!(Instant::now() < deadline, "the follower never noticed");
        std::thread::sleep(Duration::from_millis(10));
    }

    cluster.restart();
    let deadline = Instant::now() + Duration::from_secs(20);
    let imported = loop {
        match try_import(&a, &[number(2)], &c.connector_id) {
            Ok(imported) => break imported,
            Err(e) if e.code() == ErrorCode::Unavailable && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50))
            }
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(imported.imported.len(), 1);
    assert!(routes(&b, &number(2), Some(&c.connector_id)));
    assert!(b.follow_status().expect("shared").reachable);
    a.check_invariants().expect("invariants");
    b.check_invariants().expect("invariants");
}

#[test]
fn a_node_restarts_from_its_cache_and_catches_up() {
    let cluster = PgCluster::start();
    let url = cluster.database();
    let cache = tempfile::tempdir().expect("tempdir");
    let writer = node(&url, "writer");
    writer.bootstrap().expect("bootstrap");
    let c = connector(&writer);
    import(&writer, &[number(1)], &c.connector_id);
    let open_cached = || {
        let admin = Arc::new(
            Admin::open_shared(
                Box::new(DataDir::open(cache.path()).expect("cache")),
                Postgres::connect(&url, "cached").expect("connect"),
                AdminConfig::default(),
            )
            .expect("open"),
        );
        admin.follow().expect("a follower");
        admin
    };
    let cached = open_cached();
    assert!(routes(&cached, &number(1), Some(&c.connector_id)));
    import(&writer, &[number(2)], &c.connector_id);
    assert!(routes(&cached, &number(2), Some(&c.connector_id)));
    let before = cached.follow_status().expect("shared").applied;
    drop(cached);
    // Let the follower thread let go of the cache's lock.
    let deadline = Instant::now() + Duration::from_secs(5);
    while DataDir::is_locked(cache.path()) {
        assert!(Instant::now() < deadline, "the cache stayed locked");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Changes made while the node is down.
    for i in 3..13 {
        import(&writer, &[number(i)], &c.connector_id);
    }
    writer
        .delete_number(&Caller::Operator, "default", &number(1))
        .expect("delete");
    let cached = open_cached();
    // It starts where it stopped, from the cache, and then follows the log.
    assert!(cached.follow_status().expect("shared").applied >= before);
    assert!(routes(&cached, &number(12), Some(&c.connector_id)));
    assert!(routes(&cached, &number(1), None));
    assert_eq!(cached.number_count(), 11);
    cached.check_invariants().expect("invariants");
}

#[test]
fn a_schema_newer_than_the_build_is_refused() {
    let cluster = PgCluster::start();
    let url = cluster.database();
    Postgres::connect(&url, "first").expect("creates the schema");
    Postgres::connect(&url, "second").expect("finds it current");
    cluster.query(
        &url,
        "INSERT INTO patchbay.schema_migrations (version) VALUES (999)",
    );
    let err = Postgres::connect(&url, "third").expect_err("too new");
    assert!(
        matches!(err, ConnectError::SchemaTooNew { found: 999, .. }),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains("999") && message.contains("upgrade patchbay"),
        "{message}"
    );
    let err =
        Postgres::connect(&cluster.url("no_such_database"), "fourth").expect_err("no database");
    assert!(matches!(err, ConnectError::Unreachable { .. }), "{err:?}");
    assert!(err.to_string().contains("cannot reach the store"), "{err}");
    let err =
        Postgres::connect("postgresql://app:s3cret@db:notaport/x", "fifth").expect_err("not a URL");
    assert!(matches!(err, ConnectError::InvalidUrl { .. }), "{err:?}");
    assert!(!err.to_string().contains("s3cret"), "{err}");
}

/// A database of the first schema version (the store's id in `head.cluster_id`) is
/// migrated on connect and keeps its id, so the nodes' caches of it stay valid.
#[test]
fn a_database_of_an_older_schema_is_migrated_and_keeps_its_id() {
    let cluster = PgCluster::shared();
    let url = cluster.database();
    let id = Postgres::connect(&url, "first")
        .expect("creates the schema")
        .store_id()
        .to_string();
    cluster.query(
        &url,
        "ALTER TABLE patchbay.head RENAME COLUMN store_id TO cluster_id; \
         ALTER TABLE patchbay.changes DROP CONSTRAINT changes_json_or_packed, \
             DROP COLUMN packed, ALTER COLUMN change SET NOT NULL; \
         CREATE INDEX numbers_by_connector ON patchbay.numbers (connector_id); \
         ALTER TABLE patchbay.numbers ALTER COLUMN number TYPE text COLLATE \"default\"; \
         ALTER TABLE patchbay.prefixes ALTER COLUMN prefix TYPE text COLLATE \"default\"; \
         INSERT INTO patchbay.numbers VALUES ('+442079460001', 'default', 'live', NULL); \
         INSERT INTO patchbay.changes (position, node, change) VALUES (1, 'first', '[]'); \
         DROP TABLE patchbay.leader; \
         DROP TABLE patchbay.checkpoint_parts; DROP TABLE patchbay.checkpoints; \
         DROP TABLE patchbay.history_subjects; DROP TABLE patchbay.history; \
         DELETE FROM patchbay.schema_migrations WHERE version > 1",
    );
    let store = Postgres::connect(&url, "second").expect("migrates");
    assert_eq!(store.store_id(), id);
    assert_eq!(
        cluster.query(
            &url,
            "SELECT string_agg(coalesce(collation_name, '-'), ' ' ORDER BY table_name) \
             FROM information_schema.columns WHERE table_schema = 'patchbay' \
             AND column_name IN ('number', 'prefix')"
        ),
        ["C C"]
    );
    assert_eq!(
        cluster.query(&url, "SELECT number FROM patchbay.numbers"),
        ["+442079460001"]
    );
    assert_eq!(
        cluster.query(
            &url,
            "SELECT count(*) FROM pg_indexes WHERE indexname = 'numbers_by_connector'"
        ),
        ["0"]
    );
    assert_eq!(
        cluster.query(
            &url,
            "SELECT attstorage FROM pg_attribute \
             WHERE attrelid = 'patchbay.checkpoint_parts'::regclass AND attname = 'bytes'"
        ),
        ["e"],
        "checkpoint parts are kept uncompressed, out of line"
    );
    assert_eq!(
        cluster.query(
            &url,
            "SELECT string_agg(indexname, ' ' ORDER BY indexname) FROM pg_indexes \
             WHERE tablename IN ('history', 'history_subjects')"
        ),
        ["history_by_time history_pkey history_subjects_pkey"],
        "the history is indexed by time, its subjects by subject and position"
    );
    assert_eq!(
        cluster.query(&url, "SELECT max(version) FROM patchbay.schema_migrations"),
        [SCHEMA_VERSION.to_string()]
    );
}

#[test]
fn a_node_behind_the_pruned_log_reloads_from_the_tables() {
    let cluster = PgCluster::shared();
    let url = cluster.database();
    let store = Postgres::connect(&url, "writer")
        .expect("connect")
        .retain(10);
    let writer = Admin::open_shared(
        Box::new(MemoryStore::default()),
        store,
        AdminConfig::default(),
    )
    .expect("open");
    writer.bootstrap().expect("bootstrap");
    let c = connector(&writer);
    // A node that stays behind while the log moves on past a pruning point.
    let behind = Admin::open_shared(
        Box::new(MemoryStore::default()),
        Postgres::connect(&url, "behind").expect("connect"),
        AdminConfig::default(),
    )
    .expect("open");
    let at = behind.follow_status().expect("shared").applied;
    for i in 0..1_100 {
        import(&writer, &[number(i)], &c.connector_id);
    }
    let oldest: u64 = cluster.query(&url, "SELECT min(position) FROM patchbay.changes")[0]
        .parse()
        .expect("a position");
    let newest = writer.follow_status().expect("shared").applied;
    assert!(oldest > at + 1, "the log was not pruned: {oldest}");
    assert!(newest - oldest < 1_024 + 10, "kept {}", newest - oldest);
    assert_eq!(behind.catch_up().expect("catch up"), newest);
    assert_eq!(behind.follow_status().expect("shared").applied, newest);
    assert_eq!(behind.model_fingerprint(), writer.model_fingerprint());
    assert!(routes(&behind, &number(1_099), Some(&c.connector_id)));
    behind.check_invariants().expect("invariants");
    // A write through it works from there on, and reaches the writer (which follows no
    // feed here: it catches up once).
    import(&behind, &[number(5_000)], &c.connector_id);
    writer.catch_up().expect("catch up");
    assert!(routes(&writer, &number(5_000), Some(&c.connector_id)));
}
