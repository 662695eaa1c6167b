//! Number prefixes through the admin: every operation and error, the invariants (one owner
//! system-wide, the connector's project and environment, moves and deletes with the
//! connector), lookups (exact first, then the longest prefix), and a restart; the operations
//! on the embedded store and on a node of a shared PostgreSQL store.

mod pg;
mod two_stores;

use patchbay_admin::{
    Admin, AdminConfig, Caller, ConnectorPatch, DataDir, ErrorCode, ImportRequest, NewConnector,
    Patch, PrefixImportRequest,
};
use patchbay_core::{ClientEnv, Connector, Match, Prefix};
use two_stores::Backend;

fn new_connector(env: ClientEnv) -> NewConnector {
    NewConnector {
        name: "Support".into(),
        client_env: env,
        asr_lang_code: "en-US".into(),
        voice_name: "en-US-Neural2-A".into(),
        variant_id: None,
        disable_handoff: None,
    }
}

fn prefixes(list: &[&str], connector: &str) -> PrefixImportRequest {
    PrefixImportRequest {
        prefixes: list.iter().map(|s| s.to_string()).collect(),
        connector_id: connector.into(),
    }
}

fn p(s: &str) -> Prefix {
    s.parse().expect("prefix")
}

fn code<T: std::fmt::Debug>(result: Result<T, patchbay_admin::AdminError>) -> ErrorCode {
    result.expect_err("an error").code()
}

struct World {
    admin: two_stores::Node,
    op: Caller,
}

impl World {
    fn new(store: Backend) -> World {
        let admin = two_stores::open(store, AdminConfig::default());
        let op = Caller::Operator;
        admin.create_project(&op, "acme", "a1").expect("a1");
        admin.create_project(&op, "acme", "a2").expect("a2");
        World { admin, op }
    }

    fn connector(&self, project: &str, env: ClientEnv) -> Connector {
        self.admin
            .create_connector(&self.op, project, new_connector(env))
            .expect("create")
    }

    /// The connector id and match of a lookup in `project`, or the error code.
    fn lookup(&self, project: &str, number: &str) -> Result<(String, Match), ErrorCode> {
        self.admin
            .lookup_route(&self.op, project, number)
            .map(|(c, how)| (c.connector_id, how))
            .map_err(|e| e.code())
    }
}

fn import_reads_wildcards_reports_each_failure_and_applies_the_rest_at_once(store: Backend) {
    let w = World::new(store);
    let c = w.connector("a1", ClientEnv::Live);
    let version = w.admin.router().version();
    let got = w
        .admin
        .import_prefixes(
            &w.op,
            "a1",
            &prefixes(
                &[
                    "+44 20 7946 00xx",
                    "+4420794600*",
                    "+1 415",
                    "+44",
                    "4420",
                    "+99",
                    "+4420x*",
                    "+123456789012345",
                ],
                &c.connector_id,
            ),
        )
        .expect("import");
    let imported: Vec<String> = got.imported.iter().map(|i| i.prefix.to_string()).collect();
    assert_eq!(imported, ["+4420794600", "+1415", "+44"]);
    let first = &got.imported[0];
    assert_eq!(
        (
            first.project_id.as_str(),
            first.account_id.as_str(),
            first.client_env,
            first.connector_id.as_str()
        ),
        ("a1", "acme", ClientEnv::Live, c.connector_id.as_str())
    );
    let failed: Vec<(&str, ErrorCode)> = got
        .errors
        .iter()
        .map(|e| (e.prefix.as_str(), e.error.code()))
        .collect();
    assert_eq!(
        failed,
        [
            ("+4420794600*", ErrorCode::Conflict),
            ("4420", ErrorCode::InvalidPhoneNumber),
            ("+99", ErrorCode::InvalidPhoneNumber),
            ("+4420x*", ErrorCode::InvalidPhoneNumber),
            ("+123456789012345", ErrorCode::InvalidPhoneNumber),
        ]
    );
    assert_eq!(
        w.admin.router().version(),
        version + 1,
        "one change, one publish"
    );
    // Importing again to the same connector succeeds and changes nothing.
    let again = w
        .admin
        .import_prefixes(&w.op, "a1", &prefixes(&["+44"], &c.connector_id))
        .expect("again");
    assert!(again.errors.is_empty());
    assert_eq!(w.admin.router().version(), version + 1);
    // Whole-request errors: no prefixes, an unknown connector.
    assert_eq!(
        code(
            w.admin
                .import_prefixes(&w.op, "a1", &prefixes(&[], &c.connector_id))
        ),
        ErrorCode::InvalidRequest
    );
    assert_eq!(
        code(
            w.admin
                .import_prefixes(&w.op, "a1", &prefixes(&["+45"], "conn_missing"))
        ),
        ErrorCode::NotFound
    );
    // Refused requests and refused prefixes change nothing and publish nothing.
    let only_bad = w
        .admin
        .import_prefixes(&w.op, "a1", &prefixes(&["4420", "+99"], &c.connector_id))
        .expect("call");
    assert_eq!((only_bad.imported.len(), only_bad.errors.len()), (0, 2));
    assert_eq!(w.admin.router().version(), version + 1);
    assert_eq!(w.admin.prefix_count(), 3);
    w.admin.check_invariants().expect("invariants");
}

fn a_prefix_has_one_owner_and_moves_and_dies_with_its_connector(store: Backend) {
    let w = World::new(store);
    let a1 = w.connector("a1", ClientEnv::Live);
    let other = w.connector("a1", ClientEnv::Live);
    let sandbox = w.connector("a1", ClientEnv::Sandbox);
    let a2 = w.connector("a2", ClientEnv::Live);
    w.admin
        .import_prefixes(
            &w.op,
            "a1",
            &prefixes(&["+4420", "+4421"], &a1.connector_id),
        )
        .expect("import");
    // Another project cannot take it, nor can another connector of this one by import.
    let taken = w
        .admin
        .import_prefixes(&w.op, "a2", &prefixes(&["+4420"], &a2.connector_id))
        .expect("call");
    assert_eq!(taken.errors[0].error.code(), ErrorCode::Conflict);
    assert!(!taken.errors[0].error.message().contains("a1"));
    let other_connector = w
        .admin
        .import_prefixes(&w.op, "a1", &prefixes(&["+4420"], &other.connector_id))
        .expect("call");
    assert!(other_connector.errors[0].error.message().contains("PATCH"));
    // Reassign: same environment only, connectors of this project only.
    let moved = w
        .admin
        .reassign_prefix(&w.op, "a1", "+44 20", &other.connector_id)
        .expect("reassign");
    assert_eq!(moved.connector_id, other.connector_id);
    assert_eq!(
        code(
            w.admin
                .reassign_prefix(&w.op, "a1", "+4420", &sandbox.connector_id)
        ),
        ErrorCode::Conflict
    );
    assert_eq!(
        w.admin
            .get_prefix(&w.op, "a1", "+4420")
            .map(|np| np.connector_id),
        Ok(other.connector_id.clone()),
        "a refused reassign leaves the prefix where it was"
    );
    assert_eq!(
        code(
            w.admin
                .reassign_prefix(&w.op, "a1", "+4420", &a2.connector_id)
        ),
        ErrorCode::NotFound
    );
    assert_eq!(
        code(
            w.admin
                .reassign_prefix(&w.op, "a1", "+4499", &other.connector_id)
        ),
        ErrorCode::NotFound
    );
    assert_eq!(
        code(w.admin.get_prefix(&w.op, "a2", "+4420")),
        ErrorCode::NotFound,
        "another project's prefix is not found"
    );
    // Listing, whole and by connector, in order.
    let listed = |project: &str, connector: Option<&str>| -> Vec<String> {
        w.admin
            .list_prefixes(&w.op, project, connector)
            .expect("list")
            .iter()
            .map(|np| np.prefix.to_string())
            .collect()
    };
    assert_eq!(listed("a1", None), ["+4420", "+4421"]);
    assert_eq!(listed("a1", Some(&other.connector_id)), ["+4420"]);
    assert_eq!(listed("a1", Some(&a1.connector_id)), ["+4421"]);
    // Moving the connector to a2 moves its prefix.
    w.admin
        .update_connector(
            &w.op,
            "a1",
            &other.connector_id,
            &ConnectorPatch {
                project_id: Patch::Value("a2".into()),
                ..Default::default()
            },
        )
        .expect("move");
    assert_eq!(listed("a1", None), ["+4421"]);
    assert_eq!(listed("a2", None), ["+4420"]);
    let got = w.admin.get_prefix(&w.op, "a2", "+4420").expect("moved");
    assert_eq!(
        (got.project_id.as_str(), got.account_id.as_str()),
        ("a2", "acme")
    );
    assert_eq!(
        w.lookup("a2", "+442012345678").map(|r| r.0),
        Ok(other.connector_id.clone())
    );
    assert_eq!(w.lookup("a1", "+442012345678"), Err(ErrorCode::NotFound));
    w.admin.check_invariants().expect("invariants");
    // Deleting the connector deletes its prefixes in the same change.
    let deleted = w
        .admin
        .delete_connector(&w.op, "a2", &other.connector_id)
        .expect("delete");
    assert_eq!(deleted.deleted_prefixes, [p("+4420")]);
    assert_eq!(listed("a2", None), Vec::<String>::new());
    assert_eq!(w.lookup("a2", "+442012345678"), Err(ErrorCode::NotFound));
    assert_eq!(
        w.lookup("a1", "+442112345678").map(|r| r.1),
        Ok(Match::Prefix(p("+4421")))
    );
    w.admin.check_invariants().expect("invariants");
}

fn lookups_take_the_number_first_then_the_longest_prefix(store: Backend) {
    let w = World::new(store);
    let country = w.connector("a1", ClientEnv::Live);
    let block = w.connector("a1", ClientEnv::Live);
    let own = w.connector("a1", ClientEnv::Live);
    w.admin
        .import_prefixes(&w.op, "a1", &prefixes(&["+44"], &country.connector_id))
        .expect("country");
    w.admin
        .import_prefixes(
            &w.op,
            "a1",
            &prefixes(&["+4420794600"], &block.connector_id),
        )
        .expect("block");
    w.admin
        .import_numbers(
            &w.op,
            "a1",
            &ImportRequest {
                phone_numbers: vec!["+442079460058".into()],
                client_env: None,
                connector_id: Some(own.connector_id.clone()),
            },
        )
        .expect("own number");
    // An unassigned number is not a route and hides no prefix.
    w.admin
        .import_numbers(
            &w.op,
            "a1",
            &ImportRequest {
                phone_numbers: vec!["+442079460059".into()],
                client_env: None,
                connector_id: None,
            },
        )
        .expect("unassigned");
    assert_eq!(
        w.lookup("a1", "+442079460058"),
        Ok((own.connector_id.clone(), Match::Exact))
    );
    assert_eq!(
        w.lookup("a1", "+442079460059"),
        Ok((block.connector_id.clone(), Match::Prefix(p("+4420794600"))))
    );
    assert_eq!(
        w.lookup("a1", "+44 161 123 4567"),
        Ok((country.connector_id.clone(), Match::Prefix(p("+44"))))
    );
    assert_eq!(w.lookup("a1", "+4512345678"), Err(ErrorCode::NotFound));
    assert_eq!(w.lookup("a2", "+442079460059"), Err(ErrorCode::NotFound));
    // Deleting the block: its numbers fall back to the country.
    assert_eq!(
        w.admin.delete_prefix(&w.op, "a1", "+4420794600*"),
        Ok(p("+4420794600"))
    );
    assert_eq!(
        w.lookup("a1", "+442079460059"),
        Ok((country.connector_id.clone(), Match::Prefix(p("+44"))))
    );
    let bulk = w
        .admin
        .delete_prefixes(
            &w.op,
            "a1",
            &["+44".into(), "+44".into(), "+4499".into(), "x".into()],
        )
        .expect("bulk");
    assert_eq!(bulk.deleted, [p("+44")]);
    let failed: Vec<ErrorCode> = bulk.errors.iter().map(|e| e.error.code()).collect();
    assert_eq!(
        failed,
        [
            ErrorCode::Conflict,
            ErrorCode::NotFound,
            ErrorCode::InvalidPhoneNumber
        ]
    );
    assert_eq!(w.lookup("a1", "+442079460059"), Err(ErrorCode::NotFound));
    assert_eq!(
        code(w.admin.delete_prefix(&w.op, "a1", "+44")),
        ErrorCode::NotFound
    );
    w.admin.check_invariants().expect("invariants");
}

fn pages_of_prefixes_walk_them_in_order(store: Backend) {
    let w = World::new(store);
    let c = w.connector("a1", ClientEnv::Live);
    let all: Vec<String> = (0..25).map(|i| format!("+4420794{i:03}")).collect();
    let request = PrefixImportRequest {
        prefixes: all.clone(),
        connector_id: c.connector_id.clone(),
    };
    w.admin
        .import_prefixes(&w.op, "a1", &request)
        .expect("import");
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = w
            .admin
            .list_prefixes_page(&w.op, "a1", None, after, 10)
            .expect("page");
        seen.extend(page.prefixes.iter().map(|np| np.prefix.to_string()));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, all);
    assert_eq!(
        code(w.admin.list_prefixes_page(&w.op, "a1", None, None, 0)),
        ErrorCode::InvalidRequest
    );
}

#[test]
fn prefixes_survive_a_restart_from_the_journal_and_from_a_checkpoint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let open = || {
        let store = DataDir::open(dir.path()).expect("data dir");
        Admin::open(Box::new(store), AdminConfig::default()).expect("open")
    };
    let connector = {
        let admin = open();
        admin.bootstrap().expect("bootstrap");
        let c = admin
            .create_connector(&Caller::Operator, "default", new_connector(ClientEnv::Live))
            .expect("create");
        admin
            .import_prefixes(
                &Caller::Operator,
                "default",
                &prefixes(&["+44", "+4420794600"], &c.connector_id),
            )
            .expect("import");
        c
    };
    for round in 0..2 {
        let admin = open();
        assert_eq!(admin.prefix_count(), 2, "round {round}");
        let route = admin
            .lookup_route(&Caller::Operator, "default", "+442079460001")
            .expect("routed");
        assert_eq!(
            (route.0.connector_id, route.1),
            (
                connector.connector_id.clone(),
                Match::Prefix(p("+4420794600"))
            )
        );
        admin.check_invariants().expect("invariants");
        admin.checkpoint().expect("checkpoint");
    }
}

on_both_stores!(
    import_reads_wildcards_reports_each_failure_and_applies_the_rest_at_once,
    a_prefix_has_one_owner_and_moves_and_dies_with_its_connector,
    lookups_take_the_number_first_then_the_longest_prefix,
    pages_of_prefixes_walk_them_in_order,
);
