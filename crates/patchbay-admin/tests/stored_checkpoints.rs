//! The model stored in the shared store as a checkpoint: a node offers one, a new node
//! loads it and the log after it (and keeps both in its cache), and one that the pruned log
//! no longer follows, or that is damaged, is passed over for the tables.

mod pg;

use std::time::{Duration, Instant};

use patchbay_admin::{
    Admin, AdminConfig, Caller, DataDir, ImportRequest, MemoryStore, NewConnector, Postgres, Store,
};
use patchbay_core::{ClientEnv, Connector, E164};
use pg::PgCluster;

fn open(url: &str, name: &str, cache: Box<dyn Store>, retain: u64) -> Admin {
    let store = Postgres::connect(url, name)
        .expect("connect")
        .retain(retain);
    Admin::open_shared(cache, store, AdminConfig::default()).expect("open")
}

fn fresh(url: &str, name: &str) -> Admin {
    open(url, name, Box::new(MemoryStore::default()), 1_000_000)
}

fn connector(admin: &Admin, name: &str) -> Connector {
    admin
        .create_connector(
            &Caller::Operator,
            "default",
            NewConnector {
                name: name.into(),
                client_env: ClientEnv::Live,
                asr_lang_code: "en-US".into(),
                voice_name: "en-US-Neural2-A".into(),
                variant_id: None,
                disable_handoff: None,
            },
        )
        .expect("create")
}

fn number(i: u64) -> String {
    format!("+4420794{i:05}")
}

fn import(admin: &Admin, numbers: impl Iterator<Item = u64>, connector: &str) {
    let imported = admin
        .import_numbers(
            &Caller::Operator,
            "default",
            &ImportRequest {
                phone_numbers: numbers.map(number).collect(),
                client_env: None,
                connector_id: Some(connector.to_string()),
            },
        )
        .expect("import");
    assert!(imported.errors.is_empty(), "{:?}", imported.errors);
}

fn routed(admin: &Admin, n: u64) -> Option<String> {
    let number: E164 = number(n).parse().expect("a number");
    admin
        .router()
        .get(number)
        .map(|c| c.connector().connector_id.clone())
}

/// The positions of the stored checkpoints, waiting (up to 10 s) until there are `count`.
fn stored(cluster: &PgCluster, url: &str, count: usize) -> Vec<u64> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let rows = cluster.query(url, "SELECT position FROM patchbay.checkpoints");
        if rows.len() == count || Instant::now() > deadline {
            return rows
                .iter()
                .map(|p| p.parse().expect("a position"))
                .collect();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_new_node_loads_the_stored_checkpoint_and_the_changes_after_it() {
    let cluster = PgCluster::shared();
    let url = cluster.database();
    let first = fresh(&url, "first");
    first.bootstrap().expect("bootstrap");
    let c = connector(&first, "Support");
    import(&first, 0..300, &c.connector_id);
    first.offer_checkpoint();
    let at = first.follow_status().expect("shared").applied;
    assert_eq!(
        stored(cluster, &url, 1),
        [at],
        "none stored: the offer is taken"
    );
    assert_eq!(
        cluster.query(
            &url,
            "SELECT node || ' ' || (size = (SELECT sum(octet_length(bytes)) \
             FROM patchbay.checkpoint_parts)) FROM patchbay.checkpoints"
        ),
        ["first true"]
    );
    // Not due again: the changes after it carry far less than half of checkpoint_after.
    import(&first, 300..310, &c.connector_id);
    first.offer_checkpoint();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(stored(cluster, &url, 1), [at]);

    // After the checkpoint: a connector made, numbers imported to it, one released.
    let d = connector(&first, "Sales");
    import(&first, 400..430, &d.connector_id);
    first
        .delete_number(&Caller::Operator, "default", &number(5))
        .expect("release");
    // A row removed behind the store's back, at a number the checkpoint holds: a node that
    // loaded the tables would lack it, one that loaded the checkpoint routes it.
    cluster.query(
        &url,
        &format!(
            "DELETE FROM patchbay.numbers WHERE number = '{}'",
            number(7)
        ),
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let late = open(
        &url,
        "late",
        Box::new(DataDir::open(dir.path()).expect("cache")),
        1_000_000,
    );
    assert_eq!(late.model_fingerprint(), first.model_fingerprint());
    assert_eq!(routed(&late, 7), Some(c.connector_id.clone()));
    assert_eq!(routed(&late, 410), Some(d.connector_id.clone()));
    assert_eq!(routed(&late, 5), None);
    late.check_invariants().expect("invariants");
    // Its cache holds the checkpoint's bytes and the changes after them: it restarts from
    // them alone.
    let position = late.follow_status().expect("shared").applied;
    drop(late);
    let restarted = open(
        &url,
        "late",
        Box::new(DataDir::open(dir.path()).expect("cache")),
        1_000_000,
    );
    assert_eq!(restarted.follow_status().expect("shared").applied, position);
    assert_eq!(restarted.model_fingerprint(), first.model_fingerprint());

    // With no checkpoint stored, a new node loads the tables (and lacks the row removed).
    cluster.query(&url, "DELETE FROM patchbay.checkpoints");
    assert_eq!(
        cluster.query(&url, "SELECT count(*) FROM patchbay.checkpoint_parts"),
        ["0"]
    );
    let from_tables = fresh(&url, "tables");
    assert_eq!(routed(&from_tables, 7), None);
    assert_eq!(routed(&from_tables, 410), Some(d.connector_id.clone()));
    assert_eq!(from_tables.number_count(), first.number_count() - 1);
}

#[test]
fn a_checkpoint_the_pruned_log_no_longer_follows_or_a_damaged_one_is_passed_over() {
    let cluster = PgCluster::shared();
    let url = cluster.database();
    let writer = open(&url, "writer", Box::new(MemoryStore::default()), 10);
    writer.bootstrap().expect("bootstrap");
    let c = connector(&writer, "Support");
    import(&writer, 0..100, &c.connector_id);
    writer.offer_checkpoint();
    let first = stored(cluster, &url, 1);
    // The log moves past a pruning point: the changes after the checkpoint are gone.
    for i in 100..1_200 {
        import(&writer, std::iter::once(i), &c.connector_id);
    }
    let oldest: u64 = cluster.query(&url, "SELECT min(position) FROM patchbay.changes")[0]
        .parse()
        .expect("a position");
    assert!(oldest > first[0] + 1, "the log still follows it: {oldest}");
    let late = fresh(&url, "late");
    assert_eq!(late.model_fingerprint(), writer.model_fingerprint());
    assert_eq!(routed(&late, 1_199), Some(c.connector_id.clone()));

    // The stored checkpoint no longer serves: an offer is taken however few the changes
    // after it, and replaces it.
    writer.offer_checkpoint();
    let newest = writer.follow_status().expect("shared").applied;
    let deadline = Instant::now() + Duration::from_secs(10);
    while stored(cluster, &url, 1) != [newest] && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(stored(cluster, &url, 1), [newest]);

    // One damaged byte: the CRC-32 finds it, and the node loads the tables instead.
    cluster.query(
        &url,
        "UPDATE patchbay.checkpoint_parts \
         SET bytes = set_byte(bytes, 40, (get_byte(bytes, 40) + 1) % 256) WHERE part = 0",
    );
    let damaged = fresh(&url, "damaged");
    assert_eq!(damaged.model_fingerprint(), writer.model_fingerprint());
    // A recorded size the parts do not add up to: the same.
    cluster.query(
        &url,
        "UPDATE patchbay.checkpoint_parts SET bytes = set_byte(bytes, 40, \
         (get_byte(bytes, 40) + 255) % 256) WHERE part = 0; \
         UPDATE patchbay.checkpoints SET size = size + 1",
    );
    let short = fresh(&url, "short");
    assert_eq!(short.model_fingerprint(), writer.model_fingerprint());
}

#[test]
fn a_node_offers_a_checkpoint_whenever_its_own_is_due_and_the_older_are_dropped() {
    let cluster = PgCluster::shared();
    let url = cluster.database();
    let config = AdminConfig {
        checkpoint_after: 4_096,
        ..AdminConfig::default()
    };
    let store = |name: &str| Postgres::connect(&url, name).expect("connect");
    let a = Admin::open_shared(Box::new(MemoryStore::default()), store("a"), config.clone())
        .expect("open");
    a.bootstrap().expect("bootstrap");
    let c = connector(&a, "Support");
    let b = Admin::open_shared(Box::new(MemoryStore::default()), store("b"), config.clone())
        .expect("open");
    // Changes carrying far more than checkpoint_after: each node's own checkpoint comes
    // due again and again, and each offers the shared store one.
    for k in 0..20u64 {
        import(&a, k * 100..(k + 1) * 100, &c.connector_id);
        b.catch_up().expect("catch up");
    }
    let positions = stored(cluster, &url, 1);
    assert_eq!(
        positions.len(),
        1,
        "older checkpoints are dropped: {positions:?}"
    );
    assert!(
        positions[0] > 2,
        "a checkpoint of an early position: {positions:?}"
    );
    let late = fresh(&url, "late");
    assert_eq!(late.model_fingerprint(), a.model_fingerprint());
    assert_eq!(late.number_count(), 2_000);
}
