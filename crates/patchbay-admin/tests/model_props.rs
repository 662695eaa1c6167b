//! Random sequences of operations: after every step the invariants of the contract hold and
//! the published snapshot routes exactly what the model says; a reopened data directory
//! holds exactly the same state. On a shared PostgreSQL store, a node restarted from its
//! cache, a node loaded from the tables and a node that followed the log all end with the
//! model of the node that made the changes.

mod pg;

use std::sync::Arc;
use std::time::{Duration, Instant};

use patchbay_admin::{
    Admin, AdminConfig, Caller, ConnectorPatch, DataDir, ImportRequest, MemoryStore, NewConnector,
    Patch, Postgres, PrefixImportRequest,
};
use patchbay_core::ClientEnv;
use pg::PgCluster;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    CreateConnector {
        project: usize,
        env: usize,
    },
    Import {
        project: usize,
        numbers: Vec<usize>,
        env: Option<usize>,
        connector: Option<usize>,
    },
    Assign {
        project: usize,
        number: usize,
        connector: Option<usize>,
    },
    DeleteNumber {
        project: usize,
        number: usize,
    },
    DeleteNumbers {
        project: usize,
        numbers: Vec<usize>,
    },
    DeleteConnector {
        project: usize,
        connector: usize,
    },
    Move {
        project: usize,
        connector: usize,
        to: usize,
    },
    Update {
        project: usize,
        connector: usize,
        variant: Option<String>,
        voice: bool,
    },
    ImportPrefixes {
        project: usize,
        prefixes: Vec<usize>,
        connector: usize,
    },
    ReassignPrefix {
        project: usize,
        prefix: usize,
        connector: usize,
    },
    DeletePrefixes {
        project: usize,
        prefixes: Vec<usize>,
    },
    Checkpoint,
}

/// Nested prefixes over the numbers' block: a country, a city, blocks of a hundred and ten.
fn prefix(i: usize) -> String {
    [
        "+44",
        "+4420",
        "+44207946",
        "+442079460",
        "+4420794600",
        "+4420794601",
        "+4420794602",
    ][i % 7]
        .to_string()
}

const PROJECTS: [&str; 2] = ["p1", "p2"];

fn number(i: usize) -> String {
    format!("+4420794600{:02}", i % 30)
}

fn op() -> impl Strategy<Value = Op> {
    let p = 0..2usize;
    prop_oneof![
        3 => (p.clone(), 0..3usize).prop_map(|(project, env)| Op::CreateConnector { project, env }),
        4 => (p.clone(), proptest::collection::vec(0..30usize, 1..6), proptest::option::of(0..3usize), proptest::option::of(0..8usize))
            .prop_map(|(project, numbers, env, connector)| Op::Import { project, numbers, env, connector }),
        3 => (p.clone(), 0..30usize, proptest::option::of(0..8usize)).prop_map(|(project, number, connector)| Op::Assign { project, number, connector }),
        1 => (p.clone(), 0..30usize).prop_map(|(project, number)| Op::DeleteNumber { project, number }),
        1 => (p.clone(), proptest::collection::vec(0..30usize, 1..4)).prop_map(|(project, numbers)| Op::DeleteNumbers { project, numbers }),
        1 => (p.clone(), 0..8usize).prop_map(|(project, connector)| Op::DeleteConnector { project, connector }),
        1 => (p.clone(), 0..8usize, 0..2usize).prop_map(|(project, connector, to)| Op::Move { project, connector, to }),
        2 => (p, 0..8usize, proptest::option::of("[a-z]{0,3}"), any::<bool>())
            .prop_map(|(project, connector, variant, voice)| Op::Update { project, connector, variant, voice }),
        2 => (0..2usize, proptest::collection::vec(0..7usize, 1..4), 0..8usize)
            .prop_map(|(project, prefixes, connector)| Op::ImportPrefixes { project, prefixes, connector }),
        1 => (0..2usize, 0..7usize, 0..8usize)
            .prop_map(|(project, prefix, connector)| Op::ReassignPrefix { project, prefix, connector }),
        1 => (0..2usize, proptest::collection::vec(0..7usize, 1..3))
            .prop_map(|(project, prefixes)| Op::DeletePrefixes { project, prefixes }),
        1 => Just(Op::Checkpoint),
    ]
}

/// The id of the `i`-th connector of `project` (modulo how many there are), if any.
fn connector_id(admin: &Admin, project: &str, i: usize) -> Option<String> {
    let list = admin.list_connectors(&Caller::Operator, project).ok()?;
    (!list.is_empty()).then(|| list[i % list.len()].connector_id.clone())
}

fn run(admin: &Admin, op: &Op) {
    let caller = Caller::Operator;
    let env = |i: usize| ClientEnv::ALL[i % 3];
    // Results are not asserted: refusals are part of the sequence. What must hold is
    // checked after every step.
    match op {
        Op::CreateConnector { project, env: e } => {
            let _ = admin.create_connector(
                &caller,
                PROJECTS[*project],
                NewConnector {
                    name: "c".into(),
                    client_env: env(*e),
                    asr_lang_code: "en-US".into(),
                    voice_name: "en-GB-Wavenet-B".into(),
                    variant_id: None,
                    disable_handoff: None,
                },
            );
        }
        Op::Import {
            project,
            numbers,
            env: e,
            connector,
        } => {
            let project = PROJECTS[*project];
            let request = ImportRequest {
                phone_numbers: numbers.iter().map(|&i| number(i)).collect(),
                client_env: e.map(env),
                connector_id: connector.and_then(|c| connector_id(admin, project, c)),
            };
            let _ = admin.import_numbers(&caller, project, &request);
        }
        Op::Assign {
            project,
            number: n,
            connector,
        } => {
            let project = PROJECTS[*project];
            let id = connector.and_then(|c| connector_id(admin, project, c));
            let _ = admin.assign_number(&caller, project, &number(*n), id.as_deref());
        }
        Op::DeleteNumber { project, number: n } => {
            let _ = admin.delete_number(&caller, PROJECTS[*project], &number(*n));
        }
        Op::DeleteNumbers { project, numbers } => {
            let list: Vec<String> = numbers.iter().map(|&i| number(i)).collect();
            let _ = admin.delete_numbers(&caller, PROJECTS[*project], &list);
        }
        Op::DeleteConnector { project, connector } => {
            let project = PROJECTS[*project];
            if let Some(id) = connector_id(admin, project, *connector) {
                let _ = admin.delete_connector(&caller, project, &id);
            }
        }
        Op::Move {
            project,
            connector,
            to,
        } => {
            let project = PROJECTS[*project];
            if let Some(id) = connector_id(admin, project, *connector) {
                let patch = ConnectorPatch {
                    project_id: Patch::Value(PROJECTS[*to].into()),
                    ..Default::default()
                };
                let _ = admin.update_connector(&caller, project, &id, &patch);
            }
        }
        Op::Update {
            project,
            connector,
            variant,
            voice,
        } => {
            let project = PROJECTS[*project];
            if let Some(id) = connector_id(admin, project, *connector) {
                let patch = ConnectorPatch {
                    variant_id: variant.clone().map_or(Patch::Null, Patch::Value),
                    voice_name: if *voice {
                        Patch::Value("de-DE-Neural2-B".into())
                    } else {
                        Patch::Absent
                    },
                    ..Default::default()
                };
                let _ = admin.update_connector(&caller, project, &id, &patch);
            }
        }
        Op::ImportPrefixes {
            project,
            prefixes,
            connector,
        } => {
            let project = PROJECTS[*project];
            if let Some(id) = connector_id(admin, project, *connector) {
                let request = PrefixImportRequest {
                    prefixes: prefixes.iter().map(|&i| prefix(i)).collect(),
                    connector_id: id,
                };
                let _ = admin.import_prefixes(&caller, project, &request);
            }
        }
        Op::ReassignPrefix {
            project,
            prefix: i,
            connector,
        } => {
            let project = PROJECTS[*project];
            if let Some(id) = connector_id(admin, project, *connector) {
                let _ = admin.reassign_prefix(&caller, project, &prefix(*i), &id);
            }
        }
        Op::DeletePrefixes { project, prefixes } => {
            let list: Vec<String> = prefixes.iter().map(|&i| prefix(i)).collect();
            let _ = admin.delete_prefixes(&caller, PROJECTS[*project], &list);
        }
        Op::Checkpoint => {
            admin.checkpoint().expect("checkpoint");
        }
    }
}

/// Everything observable, for comparing two admins.
fn state(admin: &Admin) -> String {
    let op = Caller::Operator;
    let mut out = String::new();
    for project in PROJECTS {
        out += &format!(
            "{:?}\n{:?}\n{:?}\n",
            admin.list_connectors(&op, project),
            admin.list_numbers(&op, project, None),
            admin.list_prefixes(&op, project, None)
        );
    }
    out
}

/// Opens `dir` again once the admin that held it is gone. The other test of this binary
/// spawns processes (PostgreSQL's tools); a child forked while the directory's lock was open
/// holds a copy of the lock until it runs its program, so the lock may stay taken for a
/// moment after the admin let it go: wait that moment out, and only for that.
fn reopen(dir: &std::path::Path) -> DataDir {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match DataDir::open(dir) {
            Err(patchbay_admin::StoreError::Locked { .. })
                if std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            opened => return opened.expect("dir"),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_after_every_step_and_survive_restart(ops in proptest::collection::vec(op(), 1..40)) {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = || AdminConfig { checkpoint_after: 2048, ..AdminConfig::default() };
        let expected = {
            let admin = Admin::open(Box::new(DataDir::open(dir.path()).expect("dir")), config()).expect("open");
            for project in PROJECTS {
                admin.create_project(&Caller::Operator, "acme", project).expect("project");
            }
            for op in &ops {
                run(&admin, op);
                if let Err(broken) = admin.check_invariants() {
                    return Err(TestCaseError::fail(format!("after {op:?}: {broken}")));
                }
            }
            state(&admin)
        };
        let reopened = Admin::open(Box::new(reopen(dir.path())), config()).expect("reopen");
        prop_assert!(reopened.warnings().is_empty(), "{:?}", reopened.warnings());
        reopened.check_invariants().map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(state(&reopened), expected);
    }
}

fn shared_node(url: &str, name: &str, cache: Box<dyn patchbay_admin::Store>) -> Admin {
    let config = AdminConfig {
        checkpoint_after: 2048,
        ..AdminConfig::default()
    };
    let store = Postgres::connect(url, name).expect("connect");
    Admin::open_shared(cache, store, config).expect("open")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn every_node_of_a_shared_store_ends_with_the_writers_model(ops in proptest::collection::vec(op(), 1..40)) {
        let url = PgCluster::shared().database();
        let cache = tempfile::tempdir().expect("tempdir");
        let follower = Arc::new(shared_node(&url, "follower", Box::new(MemoryStore::default())));
        follower.follow().expect("a follower");
        let expected = {
            let writer = shared_node(&url, "writer", Box::new(DataDir::open(cache.path()).expect("dir")));
            for project in PROJECTS {
                writer.create_project(&Caller::Operator, "acme", project).expect("project");
            }
            for op in &ops {
                run(&writer, op);
                if let Err(broken) = writer.check_invariants() {
                    return Err(TestCaseError::fail(format!("after {op:?}: {broken}")));
                }
            }
            (writer.model_fingerprint(), state(&writer))
        };
        let restarted = shared_node(&url, "restarted", Box::new(reopen(cache.path())));
        restarted.catch_up().map_err(|e| TestCaseError::fail(e.to_string()))?;
        restarted.check_invariants().map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(restarted.model_fingerprint(), expected.0.clone());
        prop_assert_eq!(state(&restarted), expected.1.clone());
        let fresh = shared_node(&url, "fresh", Box::new(MemoryStore::default()));
        fresh.check_invariants().map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(fresh.model_fingerprint(), expected.0.clone());
        let deadline = Instant::now() + Duration::from_secs(10);
        while follower.model_fingerprint() != expected.0 {
            prop_assert!(Instant::now() < deadline, "the follower never caught up");
            std::thread::sleep(Duration::from_millis(10));
        }
        follower.check_invariants().map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(state(&follower), expected.1);
    }
}
