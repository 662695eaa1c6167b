//! The change history of a shared store, against a real PostgreSQL: written with each
//! change, so every node answers the same history, with the node each change committed on;
//! lookups at past instants on a node other than the one that made the change; and the
//! store's history read without a model.

mod pg;

use std::sync::Arc;

use patchbay_admin::{
    Actor, Admin, AdminConfig, Caller, ChangesQuery, ConnectorPatch, ImportRequest, MemoryStore,
    NewConnector, Patch, Postgres,
};
use patchbay_core::ClientEnv;
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

fn new_connector(name: &str) -> NewConnector {
    NewConnector {
        name: name.into(),
        client_env: ClientEnv::Live,
        asr_lang_code: "en-US".into(),
        voice_name: "en-US-Neural2-A".into(),
        variant_id: None,
        disable_handoff: None,
    }
}

#[test]
fn every_node_answers_the_same_history() {
    let cluster = PgCluster::shared();
    let url = cluster.database();
    let a = node(&url, "node-a");
    let b = node(&url, "node-b");
    let op = Caller::Operator;
    a.create_project(&op, "acme", "pa").expect("project");
    let (key, info) = a
        .create_key(&op, "acme", &["pa".to_string()], "k")
        .expect("key");
    let key = Caller::Key(key);
    let c = a
        .create_connector(&key, "pa", new_connector("before"))
        .expect("c");
    std::thread::sleep(std::time::Duration::from_millis(5));
    let numbers: Vec<String> = (0..300)
        .map(|i| format!("+1415555{:04}", 1000 + i))
        .collect();
    b.import_numbers(
        &key,
        "pa",
        &ImportRequest {
            phone_numbers: numbers,
            client_env: None,
            connector_id: Some(c.connector_id.clone()),
        },
    )
    .expect("import through b");
    std::thread::sleep(std::time::Duration::from_millis(5));
    let renamed = ConnectorPatch {
        name: Patch::Value("after".into()),
        ..ConnectorPatch::default()
    };
    a.update_connector(&key, "pa", &c.connector_id, &renamed)
        .expect("rename through a");

    let on_a = a
        .changes(&key, "pa", &ChangesQuery::default())
        .expect("a's");
    let on_b = b
        .changes(&key, "pa", &ChangesQuery::default())
        .expect("b's");
    assert_eq!(on_a, on_b, "every node answers the same history");
    let nodes: Vec<Option<&str>> = on_a.changes.iter().map(|c| c.node.as_deref()).collect();
    assert_eq!(nodes, [Some("node-a"), Some("node-b"), Some("node-a")]);
    assert!(on_a.changes.iter().all(|c| c.actor
        == Actor::Key {
            key_id: info.key_id.clone()
        }));
    assert_eq!(
        on_a.changes[1].mutation_count, 300,
        "the import is one change"
    );

    // A number's history, found through its block's index, on either node.
    let of_number = ChangesQuery {
        number: Some("+14155551150".into()),
        ..ChangesQuery::default()
    };
    let found = b.changes(&key, "pa", &of_number).expect("number");
    assert_eq!(found.changes.len(), 1);
    assert_eq!(found.changes[0].mutations[0].op, "number.imported");
    // As of the import, on the node that did not make the rename: the connector as it was.
    let at = on_a.changes[1].at.clone();
    let then = b
        .lookup_at(&key, Some("pa"), "+14155551150", &at)
        .expect("as of the import");
    assert_eq!(then.connector.name, "before");
    assert_eq!(then.change_id, on_a.changes[1].change_id);
    let now = a
        .lookup_at(&key, Some("pa"), "+14155551150", &on_a.changes[0].at)
        .expect("as of the rename");
    assert_eq!(now.connector.name, "after");

    // The store's own reading, without a model, answers the same.
    let store = Postgres::connect(&url, "reader").expect("connect");
    let read = store
        .changes(Some("pa"), &ChangesQuery::default())
        .expect("the store's");
    assert_eq!(read, on_a);
    assert_eq!(
        cluster.query(
            &url,
            "SELECT count(*) FROM patchbay.history_subjects WHERE bits IS NOT NULL"
        ),
        ["2"],
        "300 numbers in two blocks of 256: two rows"
    );

    // Its neighbour in the block, changed alone afterwards, is told apart by the block's
    // set of numbers: its history has the unassignment, the number's has not.
    b.assign_number(&key, "pa", "+14155551151", None)
        .expect("unassign the neighbour");
    let changes_of = |number: &str| {
        let query = ChangesQuery {
            number: Some(number.into()),
            ..ChangesQuery::default()
        };
        a.changes(&key, "pa", &query).expect(number).changes.len()
    };
    assert_eq!(changes_of("+14155551151"), 2);
    assert_eq!(changes_of("+14155551150"), 1);
    assert_eq!(
        changes_of("+14155551299"),
        1,
        "the last number imported, in the second block"
    );
    assert_eq!(changes_of("+14155551300"), 0, "never imported");
}

/// Writers drop the history older than the retention as they prune the log (once every
/// 1,024 positions), in the transaction of a change; what is older is then refused.
#[test]
fn writers_drop_history_older_than_the_retention() {
    let cluster = PgCluster::shared();
    let url = cluster.database();
    let store = Postgres::connect(&url, "pruning").expect("connect");
    let config = AdminConfig {
        history_retain: Some(std::time::Duration::from_millis(200)),
        ..AdminConfig::default()
    };
    let a = Arc::new(
        Admin::open_shared(Box::new(MemoryStore::default()), store, config).expect("open"),
    );
    let op = Caller::Operator;
    a.create_project(&op, "acme", "pa").expect("project");
    let c = a
        .create_connector(&op, "pa", new_connector("c"))
        .expect("c");
    let first = a
        .changes(&op, "pa", &ChangesQuery::default())
        .expect("history")
        .changes;
    assert_eq!(first.len(), 1, "the connector's creation");
    std::thread::sleep(std::time::Duration::from_millis(300));
    std::thread::scope(|scope| {
        for client in 0..16 {
            let (a, id) = (&a, &c.connector_id);
            scope.spawn(move || {
                for i in (client..1_100).step_by(16) {
                    a.import_numbers(
                        &Caller::Operator,
                        "pa",
                        &ImportRequest {
                            phone_numbers: vec![format!("+1415555{:04}", 2000 + i)],
                            client_env: None,
                            connector_id: Some(id.clone()),
                        },
                    )
                    .expect("import");
                }
            });
        }
    });
    let kept: Vec<String> = cluster.query(&url, "SELECT min(position) FROM patchbay.history");
    let oldest: u64 = kept[0].parse().expect("a position");
    assert!(
        oldest > 3,
        "the creation and what came before it were dropped: {oldest}"
    );
    let error = a
        .changes(
            &op,
            "pa",
            &ChangesQuery {
                since: Some(first[0].at.clone()),
                ..ChangesQuery::default()
            },
        )
        .expect_err("older than what is kept");
    assert!(
        error.message().contains("oldest retained instant"),
        "{error}"
    );
    assert_eq!(
        cluster.query(
            &url,
            "SELECT count(*) FROM patchbay.history_subjects s \
             WHERE NOT EXISTS (SELECT 1 FROM patchbay.history h WHERE h.position = s.position)"
        ),
        ["0"],
        "no index row outlives its change"
    );
}
