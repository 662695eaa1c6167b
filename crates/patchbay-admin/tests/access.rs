//! A key never reads or changes another project's data, through any operation, on the
//! embedded store and on a node of a shared PostgreSQL store.

mod pg;
mod two_stores;

use patchbay_admin::{
    Admin, AdminConfig, AdminError, Caller, ConnectorPatch, ConnectorUpdate, ErrorCode,
    ImportRequest, NewConnector, Patch, PrefixImportRequest,
};
use patchbay_core::ClientEnv;
use two_stores::Backend;

fn new_connector() -> NewConnector {
    NewConnector {
        name: "c".into(),
        client_env: ClientEnv::Live,
        asr_lang_code: "en-US".into(),
        voice_name: "en-US-Neural2-A".into(),
        variant_id: None,
        disable_handoff: None,
    }
}

/// Every operation a key can call on `project`, naming `connector`, `number` and [`PREFIX`]
/// of the victim project; each returns only its error code (or `None` on success).
fn every_operation(
    admin: &Admin,
    key: &Caller,
    project: &str,
    connector: &str,
    number: &str,
) -> Vec<(&'static str, Option<ErrorCode>)> {
    fn c<T>(r: Result<T, AdminError>) -> Option<ErrorCode> {
        r.err().map(|e| e.code())
    }
    let patch = ConnectorPatch {
        name: Patch::Value("stolen".into()),
        ..Default::default()
    };
    vec![
        ("list_connectors", c(admin.list_connectors(key, project))),
        (
            "create_connector",
            c(admin.create_connector(key, project, new_connector())),
        ),
        (
            "get_connector",
            c(admin.get_connector(key, project, connector)),
        ),
        (
            "batch_get_connectors",
            c(admin.batch_get_connectors(key, project, &[connector.into()])),
        ),
        (
            "update_connector",
            c(admin.update_connector(key, project, connector, &patch)),
        ),
        (
            "batch_update_connectors",
            c(admin.batch_update_connectors(
                key,
                project,
                &[ConnectorUpdate {
                    connector_id: connector.into(),
                    patch: patch.clone(),
                }],
            )),
        ),
        (
            "lookup_connector",
            c(admin.lookup_connector(key, project, number)),
        ),
        ("list_numbers", c(admin.list_numbers(key, project, None))),
        (
            "import_numbers",
            c(admin.import_numbers(
                key,
                project,
                &ImportRequest {
                    phone_numbers: vec![number.into()],
                    client_env: None,
                    connector_id: None,
                },
            )),
        ),
        ("get_number", c(admin.get_number(key, project, number))),
        (
            "batch_get_numbers",
            c(admin.batch_get_numbers(key, project, &[number.into()])),
        ),
        (
            "assign_number",
            c(admin.assign_number(key, project, number, None)),
        ),
        (
            "delete_numbers",
            c(admin.delete_numbers(key, project, &[number.into()])),
        ),
        (
            "delete_number",
            c(admin.delete_number(key, project, number)),
        ),
        ("list_prefixes", c(admin.list_prefixes(key, project, None))),
        (
            "import_prefixes",
            c(admin.import_prefixes(
                key,
                project,
                &PrefixImportRequest {
                    prefixes: vec!["+4420794601".into()],
                    connector_id: connector.into(),
                },
            )),
        ),
        ("get_prefix", c(admin.get_prefix(key, project, PREFIX))),
        (
            "reassign_prefix",
            c(admin.reassign_prefix(key, project, PREFIX, connector)),
        ),
        (
            "delete_prefixes",
            c(admin.delete_prefixes(key, project, &[PREFIX.into()])),
        ),
        (
            "delete_prefix",
            c(admin.delete_prefix(key, project, PREFIX)),
        ),
        (
            "delete_connector",
            c(admin.delete_connector(key, project, connector)),
        ),
    ]
}

/// The victim project's prefix.
const PREFIX: &str = "+4420794600";

fn keys_never_touch_projects_they_do_not_grant(store: Backend) {
    let admin = two_stores::open(store, AdminConfig::default());
    let op = Caller::Operator;
    admin.create_project(&op, "acme", "a1").expect("a1");
    admin.create_project(&op, "acme", "a2").expect("a2");
    admin.create_project(&op, "globex", "b1").expect("b1");
    let key = |account: &str, projects: &[&str]| {
        let projects: Vec<String> = projects.iter().map(|p| p.to_string()).collect();
        Caller::Key(
            admin
                .create_key(&op, account, &projects, "")
                .expect("key")
                .0,
        )
    };
    let only_a1 = key("acme", &["a1"]);
    let all_acme = key("acme", &[]);
    let globex = key("globex", &[]);
    // Each key says who it is and what it grants; the operator has no key.
    let grants = |caller: &Caller| {
        admin
            .whoami(caller)
            .map(|me| (me.account_id, me.projects))
            .map_err(|e| e.code())
    };
    assert_eq!(grants(&only_a1), Ok(("acme".into(), vec!["a1".into()])));
    assert_eq!(
        grants(&all_acme),
        Ok(("acme".into(), vec!["a1".into(), "a2".into()]))
    );
    assert_eq!(grants(&globex), Ok(("globex".into(), vec!["b1".into()])));
    assert_eq!(grants(&op), Err(ErrorCode::Unauthorized));
    assert_eq!(
        grants(&Caller::Key("pb_key_0000000000000000_00".into())),
        Err(ErrorCode::Unauthorized)
    );
    // Victim data in a2: a connector with a number.
    let victim = admin
        .create_connector(&op, "a2", new_connector())
        .expect("victim");
    admin
        .import_numbers(
            &op,
            "a2",
            &ImportRequest {
                phone_numbers: vec!["+442079460958".into()],
                client_env: None,
                connector_id: Some(victim.connector_id.clone()),
            },
        )
        .expect("import");
    admin
        .import_prefixes(
            &op,
            "a2",
            &PrefixImportRequest {
                prefixes: vec![PREFIX.into()],
                connector_id: victim.connector_id.clone(),
            },
        )
        .expect("import prefix");
    let before = (
        admin.list_connectors(&op, "a2"),
        admin.list_numbers(&op, "a2", None),
        admin.list_prefixes(&op, "a2", None),
        admin.router().version(),
    );

    // Keys without a grant on a2 are refused with 403 on every operation.
    for key in [&only_a1, &globex] {
        for (operation, code) in
            every_operation(&admin, key, "a2", &victim.connector_id, "+442079460958")
        {
            assert_eq!(code, Some(ErrorCode::Forbidden), "{operation}");
        }
    }
    // Explained through a1, a2's routed number shows nothing of a2: not routed here.
    for key in [&only_a1, &all_acme] {
        let explained = admin
            .explain(key, "a1", "+442079460958")
            .expect("explained");
        assert_eq!(explained.outcome, patchbay_admin::Outcome::NotRouted);
        assert_eq!(explained.matched, patchbay_admin::MatchKind::None);
        assert!(explained.connector.is_none() && explained.number.is_none());
        assert!(explained.prefix.is_none());
    }
    assert_eq!(
        admin
            .explain(&globex, "a2", "+442079460958")
            .map_err(|e| e.code())
            .err(),
        Some(ErrorCode::Forbidden)
    );
    // A key granted a1 reaching a2's entities through a1: never found, never changed.
    for key in [&only_a1, &all_acme] {
        for (operation, code) in
            every_operation(&admin, key, "a1", &victim.connector_id, "+442079460958")
        {
            match operation {
                // These create in a1 or list a1 and succeed without touching a2.
                "list_connectors" | "create_connector" | "list_numbers" | "list_prefixes" => {
                    assert_eq!(code, None, "{operation}")
                }
                "batch_get_connectors"
                | "batch_get_numbers"
                | "batch_update_connectors"
                | "delete_numbers"
                | "delete_prefixes" => {
                    assert_eq!(code, None, "{operation} reports per item")
                }
                // Importing a number owned by a2 is a per-number conflict.
                "import_numbers" => assert_eq!(code, None, "{operation}"),
                _ => assert_eq!(code, Some(ErrorCode::NotFound), "{operation}"),
            }
        }
        let found = admin
            .batch_get_connectors(key, "a1", std::slice::from_ref(&victim.connector_id))
            .expect("batch");
        assert!(found.found.is_empty());
        let found = admin
            .batch_get_numbers(key, "a1", &["+442079460958".into()])
            .expect("batch");
        assert!(found.found.is_empty());
        let imported = admin
            .import_numbers(
                key,
                "a1",
                &ImportRequest {
                    phone_numbers: vec!["+442079460958".into()],
                    client_env: None,
                    connector_id: None,
                },
            )
            .expect("call");
        assert_eq!(
            imported.errors.first().map(|e| e.error.code()),
            Some(ErrorCode::Conflict)
        );
        assert!(
            !imported.errors[0].error.message().contains("a2"),
            "does not name the owner"
        );
        let moved = ConnectorPatch {
            project_id: Patch::Value("b1".into()),
            ..Default::default()
        };
        let a1_connector = admin
            .create_connector(key, "a1", new_connector())
            .expect("own connector");
        assert_eq!(
            admin
                .update_connector(key, "a1", &a1_connector.connector_id, &moved)
                .map_err(|e| e.code()),
            Err(ErrorCode::Forbidden),
            "moving into another account's project"
        );
    }
    // a2 is exactly as it was.
    let after = (
        admin.list_connectors(&op, "a2"),
        admin.list_numbers(&op, "a2", None),
        admin.list_prefixes(&op, "a2", None),
    );
    assert_eq!((before.0, before.1, before.2), after);
    assert_eq!(
        admin.list_prefixes(&op, "a2", None).map(|p| p.len()),
        Ok(1),
        "the victim's prefix is still there"
    );
    // The all-projects key does reach a2.
    assert!(admin
        .get_connector(&all_acme, "a2", &victim.connector_id)
        .is_ok());
    admin.check_invariants().expect("invariants");
}

on_both_stores!(keys_never_touch_projects_they_do_not_grant);
