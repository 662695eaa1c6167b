//! Every operation's successes and errors, with the contract's codes, on the embedded store
//! and on a node of a shared PostgreSQL store.

mod pg;
mod two_stores;

use patchbay_admin::{
    AdminConfig, Caller, ConnectorPatch, ConnectorUpdate, ErrorCode, ImportRequest, NewConnector,
    NumberCheck, Patch,
};
use patchbay_core::{ClientEnv, Connector};
use two_stores::Backend;

struct World {
    admin: two_stores::Node,
    key: Caller,
}

fn world(store: Backend) -> World {
    let admin = two_stores::open(store, AdminConfig::default());
    let key = Caller::Key(admin.bootstrap().expect("bootstrap").expect("new store"));
    World { admin, key }
}

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

fn import(numbers: &[&str], env: Option<ClientEnv>, connector: Option<&str>) -> ImportRequest {
    ImportRequest {
        phone_numbers: numbers.iter().map(|s| s.to_string()).collect(),
        client_env: env,
        connector_id: connector.map(str::to_string),
    }
}

fn code<T: std::fmt::Debug>(result: Result<T, patchbay_admin::AdminError>) -> ErrorCode {
    result.expect_err("an error").code()
}

impl World {
    fn connector(&self, env: ClientEnv) -> Connector {
        self.admin
            .create_connector(&self.key, "default", new_connector(env))
            .expect("create")
    }
}

fn connectors_create_get_list_and_derive_tts(store: Backend) {
    let w = world(store);
    let c = w.connector(ClientEnv::Live);
    assert!(c.connector_id.starts_with("conn_"));
    assert_eq!(
        (c.account_id.as_str(), c.project_id.as_str()),
        ("default", "default")
    );
    assert_eq!(c.tts_lang_code, "en-US");
    assert_eq!(c.variant_id, "");
    assert_eq!(
        w.admin.get_connector(&w.key, "default", &c.connector_id),
        Ok(c.clone())
    );
    assert_eq!(
        w.admin.list_connectors(&w.key, "default"),
        Ok(vec![c.clone()])
    );
    assert_eq!(
        code(w.admin.get_connector(&w.key, "default", "conn_missing")),
        ErrorCode::NotFound
    );

    let mut cmn = new_connector(ClientEnv::Sandbox);
    cmn.voice_name = "cmn-CN-Wavenet-A".into();
    cmn.asr_lang_code = "cmn-Hans-CN".into();
    let c2 = w
        .admin
        .create_connector(&w.key, "default", cmn)
        .expect("cmn");
    assert_eq!(c2.tts_lang_code, "cmn-CN");

    let mut bad = new_connector(ClientEnv::Live);
    bad.voice_name = "en-US-Imaginary-Z".into();
    assert_eq!(
        code(w.admin.create_connector(&w.key, "default", bad)),
        ErrorCode::ValidationFailed
    );
    let mut bad = new_connector(ClientEnv::Live);
    bad.asr_lang_code = "english".into();
    assert_eq!(
        code(w.admin.create_connector(&w.key, "default", bad)),
        ErrorCode::ValidationFailed
    );
    let mut bad = new_connector(ClientEnv::Live);
    bad.name = "  ".into();
    assert_eq!(
        code(w.admin.create_connector(&w.key, "default", bad)),
        ErrorCode::ValidationFailed
    );
    assert_eq!(
        w.admin.list_connectors(&w.key, "default").map(|l| l.len()),
        Ok(2)
    );
}

fn batch_get_reports_found_and_not_found(store: Backend) {
    let w = world(store);
    let c = w.connector(ClientEnv::Live);
    let found = w
        .admin
        .batch_get_connectors(&w.key, "default", &[c.connector_id.clone(), "nope".into()])
        .expect("batch");
    assert_eq!(found.found, vec![c]);
    assert_eq!(found.not_found, vec!["nope".to_string()]);
    assert_eq!(
        code(w.admin.batch_get_connectors(&w.key, "default", &[])),
        ErrorCode::InvalidRequest
    );
}

fn partial_updates_distinguish_absent_null_and_value(store: Backend) {
    let w = world(store);
    let c = w.connector(ClientEnv::Live);
    let id = c.connector_id.clone();
    let set_variant = ConnectorPatch {
        variant_id: Patch::Value("v2".into()),
        ..Default::default()
    };
    let updated = w
        .admin
        .update_connector(&w.key, "default", &id, &set_variant)
        .expect("set");
    assert_eq!(updated.variant_id, "v2");
    assert_eq!(
        updated.voice_name, c.voice_name,
        "absent fields are left alone"
    );
    // Absent variant: unchanged.
    let voice = ConnectorPatch {
        voice_name: Patch::Value("en-GB-Neural2-A".into()),
        ..Default::default()
    };
    let updated = w
        .admin
        .update_connector(&w.key, "default", &id, &voice)
        .expect("voice");
    assert_eq!(
        (updated.variant_id.as_str(), updated.tts_lang_code.as_str()),
        ("v2", "en-GB")
    );
    // Null variant: cleared, reads back as "".
    let clear = ConnectorPatch {
        variant_id: Patch::Null,
        ..Default::default()
    };
    assert_eq!(
        w.admin
            .update_connector(&w.key, "default", &id, &clear)
            .map(|c| c.variant_id),
        Ok(String::new())
    );
    for patch in [
        ConnectorPatch {
            asr_lang_code: Patch::Null,
            ..Default::default()
        },
        ConnectorPatch {
            voice_name: Patch::Null,
            ..Default::default()
        },
        ConnectorPatch {
            voice_name: Patch::Value("nope".into()),
            ..Default::default()
        },
        ConnectorPatch {
            asr_lang_code: Patch::Value("en_US".into()),
            ..Default::default()
        },
        ConnectorPatch {
            project_id: Patch::Null,
            ..Default::default()
        },
    ] {
        assert_eq!(
            code(w.admin.update_connector(&w.key, "default", &id, &patch)),
            ErrorCode::ValidationFailed,
            "{patch:?}"
        );
    }
    assert_eq!(
        w.admin
            .get_connector(&w.key, "default", &id)
            .map(|c| c.variant_id),
        Ok(String::new())
    );
    assert_eq!(
        code(
            w.admin
                .update_connector(&w.key, "default", "missing", &clear)
        ),
        ErrorCode::NotFound
    );
}

fn batch_updates_are_independent(store: Backend) {
    let w = world(store);
    let a = w.connector(ClientEnv::Live);
    let b = w.connector(ClientEnv::Live);
    let updates = vec![
        ConnectorUpdate {
            connector_id: a.connector_id.clone(),
            patch: ConnectorPatch {
                name: Patch::Value("A".into()),
                ..Default::default()
            },
        },
        ConnectorUpdate {
            connector_id: b.connector_id.clone(),
            patch: ConnectorPatch {
                voice_name: Patch::Value("bad".into()),
                ..Default::default()
            },
        },
        ConnectorUpdate {
            connector_id: "missing".into(),
            patch: ConnectorPatch::default(),
        },
        ConnectorUpdate {
            connector_id: a.connector_id.clone(),
            patch: ConnectorPatch::default(),
        },
    ];
    let results = w
        .admin
        .batch_update_connectors(&w.key, "default", &updates)
        .expect("batch");
    let codes: Vec<Option<ErrorCode>> = results
        .iter()
        .map(|r| r.result.as_ref().err().map(|e| e.code()))
        .collect();
    assert_eq!(
        codes,
        [
            None,
            Some(ErrorCode::ValidationFailed),
            Some(ErrorCode::NotFound),
            Some(ErrorCode::InvalidRequest)
        ]
    );
    assert_eq!(
        w.admin
            .get_connector(&w.key, "default", &a.connector_id)
            .map(|c| c.name),
        Ok("A".into())
    );
    assert_eq!(
        w.admin.get_connector(&w.key, "default", &b.connector_id),
        Ok(b)
    );
}

fn numbers_import_route_and_report_per_number_errors(store: Backend) {
    let w = world(store);
    let c = w.connector(ClientEnv::Live);
    let result = w
        .admin
        .import_numbers(
            &w.key,
            "default",
            &import(
                &[
                    "+44 20 7946 0958",
                    "tel:+1-415-555-2671",
                    "hello",
                    "+4402079460957",
                    "+442079460958",
                ],
                None,
                Some(&c.connector_id),
            ),
        )
        .expect("import");
    let imported: Vec<String> = result
        .imported
        .iter()
        .map(|p| p.number.to_string())
        .collect();
    assert_eq!(imported, ["+442079460958", "+14155552671"]);
    assert!(result
        .imported
        .iter()
        .all(|p| p.client_env == ClientEnv::Live
            && p.connector_id.as_deref() == Some(c.connector_id.as_str())));
    let errors: Vec<(&str, ErrorCode)> = result
        .errors
        .iter()
        .map(|e| (e.phone_number.as_str(), e.error.code()))
        .collect();
    assert_eq!(
        errors,
        [
            ("hello", ErrorCode::InvalidPhoneNumber),
            ("+4402079460957", ErrorCode::InvalidPhoneNumber),
            ("+442079460958", ErrorCode::Conflict),
        ]
    );
    // Read-your-writes through the published snapshot.
    let mut reader = w.admin.router().reader();
    assert_eq!(
        reader
            .lookup("+442079460958")
            .ok()
            .flatten()
            .map(|r| r.connector.connector_id.clone()),
        Some(c.connector_id.clone())
    );
    assert_eq!(
        w.admin
            .lookup_connector(&w.key, "default", "+1 415 555 2671"),
        Ok(c.clone())
    );
    assert_eq!(
        code(w.admin.lookup_connector(&w.key, "default", "+14155550100")),
        ErrorCode::NotFound
    );
    assert_eq!(
        code(w.admin.lookup_connector(&w.key, "default", "nope")),
        ErrorCode::InvalidPhoneNumber
    );
    // Re-importing unchanged succeeds; with another environment it conflicts.
    let again = w
        .admin
        .import_numbers(&w.key, "default", &import(&["+442079460958"], None, None))
        .expect("again");
    assert_eq!(again.imported.len(), 1);
    let other_env = w
        .admin
        .import_numbers(
            &w.key,
            "default",
            &import(&["+442079460958"], Some(ClientEnv::Sandbox), None),
        )
        .expect("call");
    assert_eq!(
        other_env.errors.first().map(|e| e.error.code()),
        Some(ErrorCode::Conflict)
    );
    // Request-level errors.
    assert_eq!(
        code(
            w.admin
                .import_numbers(&w.key, "default", &import(&[], None, None))
        ),
        ErrorCode::InvalidRequest
    );
    assert_eq!(
        code(w.admin.import_numbers(
            &w.key,
            "default",
            &import(
                &["+442079460959"],
                Some(ClientEnv::Sandbox),
                Some(&c.connector_id)
            )
        )),
        ErrorCode::Conflict
    );
    assert_eq!(
        code(w.admin.import_numbers(
            &w.key,
            "default",
            &import(&["+442079460959"], None, Some("missing"))
        )),
        ErrorCode::NotFound
    );
    let many: Vec<String> = (0..10_001).map(|i| format!("+44207946{i:04}")).collect();
    let too_many = ImportRequest {
        phone_numbers: many,
        client_env: None,
        connector_id: None,
    };
    assert_eq!(
        code(w.admin.import_numbers(&w.key, "default", &too_many)),
        ErrorCode::PayloadTooLarge
    );
    w.admin.check_invariants().expect("invariants");
}

fn possible_numbers_import_when_configured(store: Backend) {
    let config = AdminConfig {
        number_check: NumberCheck::Possible,
        ..Default::default()
    };
    let admin = two_stores::open(store, config);
    let key = Caller::Key(admin.bootstrap().expect("bootstrap").expect("key"));
    // A possible length for +1, but no area code starts with 1: not valid per the metadata.
    let result = admin
        .import_numbers(&key, "default", &import(&["+11235550100"], None, None))
        .expect("import");
    assert_eq!(result.imported.len(), 1, "{:?}", result.errors);
    let strict = world(store);
    let result = strict
        .admin
        .import_numbers(
            &strict.key,
            "default",
            &import(&["+11235550100"], None, None),
        )
        .expect("import");
    assert_eq!(result.errors.len(), 1);
}

fn numbers_get_batch_assign_and_delete(store: Backend) {
    let w = world(store);
    let live = w.connector(ClientEnv::Live);
    let sandbox = w.connector(ClientEnv::Sandbox);
    w.admin
        .import_numbers(
            &w.key,
            "default",
            &import(
                &["+442079460001", "+442079460002", "+442079460003"],
                None,
                None,
            ),
        )
        .expect("import");
    let p = w
        .admin
        .get_number(&w.key, "default", "+44 20 7946 0001")
        .expect("get");
    assert_eq!(
        (p.client_env, p.connector_id.clone()),
        (ClientEnv::Live, None)
    );
    assert_eq!(
        code(w.admin.get_number(&w.key, "default", "+442079460999")),
        ErrorCode::NotFound
    );
    assert_eq!(
        code(w.admin.get_number(&w.key, "default", "garbage")),
        ErrorCode::InvalidPhoneNumber
    );

    let found = w
        .admin
        .batch_get_numbers(
            &w.key,
            "default",
            &["+442079460002".into(), "+442079460999".into(), "x".into()],
        )
        .expect("batch");
    assert_eq!(found.found.len(), 1);
    assert_eq!(found.not_found, ["+442079460999", "x"]);
    assert_eq!(
        code(w.admin.batch_get_numbers(&w.key, "default", &[])),
        ErrorCode::InvalidRequest
    );

    let assigned = w
        .admin
        .assign_number(&w.key, "default", "+442079460001", Some(&live.connector_id))
        .expect("assign");
    assert_eq!(
        assigned.connector_id.as_deref(),
        Some(live.connector_id.as_str())
    );
    assert_eq!(
        code(w.admin.assign_number(
            &w.key,
            "default",
            "+442079460001",
            Some(&sandbox.connector_id)
        )),
        ErrorCode::Conflict
    );
    assert_eq!(
        code(
            w.admin
                .assign_number(&w.key, "default", "+442079460001", Some("missing"))
        ),
        ErrorCode::NotFound
    );
    assert_eq!(
        w.admin.lookup_connector(&w.key, "default", "+442079460001"),
        Ok(live.clone())
    );
    let unassigned = w
        .admin
        .assign_number(&w.key, "default", "+442079460001", None)
        .expect("unassign");
    assert_eq!(unassigned.connector_id, None);
    assert_eq!(
        code(w.admin.lookup_connector(&w.key, "default", "+442079460001")),
        ErrorCode::NotFound
    );

    assert_eq!(
        w.admin
            .delete_number(&w.key, "default", "+442079460001")
            .map(|n| n.to_string()),
        Ok("+442079460001".into())
    );
    assert_eq!(
        code(w.admin.delete_number(&w.key, "default", "+442079460001")),
        ErrorCode::NotFound
    );
    let deleted = w
        .admin
        .delete_numbers(
            &w.key,
            "default",
            &[
                "+442079460002".into(),
                "+442079460002".into(),
                "+442079460999".into(),
            ],
        )
        .expect("delete");
    assert_eq!(deleted.deleted.len(), 1);
    let codes: Vec<ErrorCode> = deleted.errors.iter().map(|e| e.error.code()).collect();
    assert_eq!(codes, [ErrorCode::Conflict, ErrorCode::NotFound]);
    assert_eq!(
        w.admin
            .list_numbers(&w.key, "default", None)
            .map(|l| l.len()),
        Ok(1)
    );
    w.admin.check_invariants().expect("invariants");
}

fn deleting_a_connector_releases_its_numbers_in_one_change(store: Backend) {
    let w = world(store);
    let c = w.connector(ClientEnv::Live);
    let keep = w.connector(ClientEnv::Live);
    w.admin
        .import_numbers(
            &w.key,
            "default",
            &import(
                &["+442079460001", "+442079460002"],
                None,
                Some(&c.connector_id),
            ),
        )
        .expect("import");
    w.admin
        .import_numbers(
            &w.key,
            "default",
            &import(&["+442079460003"], None, Some(&keep.connector_id)),
        )
        .expect("import");
    let before = w.admin.router().version();
    let deleted = w
        .admin
        .delete_connector(&w.key, "default", &c.connector_id)
        .expect("delete");
    assert_eq!(
        w.admin.router().version(),
        before + 1,
        "one snapshot for the whole cascade"
    );
    let released: Vec<String> = deleted
        .deleted_phone_numbers
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(released, ["+442079460001", "+442079460002"]);
    assert_eq!(
        code(w.admin.get_number(&w.key, "default", "+442079460001")),
        ErrorCode::NotFound
    );
    assert_eq!(
        w.admin
            .list_numbers(&w.key, "default", None)
            .map(|l| l.len()),
        Ok(1)
    );
    assert_eq!(
        code(w.admin.delete_connector(&w.key, "default", &c.connector_id)),
        ErrorCode::NotFound
    );
    let list = w
        .admin
        .list_numbers(&w.key, "default", Some(&keep.connector_id))
        .expect("list");
    assert_eq!(list.len(), 1);
    assert_eq!(
        code(
            w.admin
                .list_numbers(&w.key, "default", Some(&c.connector_id))
        ),
        ErrorCode::NotFound
    );
    w.admin.check_invariants().expect("invariants");
}

fn moving_a_connector_moves_its_numbers_and_needs_both_grants(store: Backend) {
    let w = world(store);
    w.admin
        .create_project(&Caller::Operator, "default", "second")
        .expect("project");
    let (only_default, _) = w
        .admin
        .create_key(&Caller::Operator, "default", &["default".into()], "narrow")
        .expect("key");
    let only_default = Caller::Key(only_default);
    let c = w.connector(ClientEnv::Live);
    w.admin
        .import_numbers(
            &w.key,
            "default",
            &import(&["+442079460001"], None, Some(&c.connector_id)),
        )
        .expect("import");
    let mv = ConnectorPatch {
        project_id: Patch::Value("second".into()),
        ..Default::default()
    };
    assert_eq!(
        code(
            w.admin
                .update_connector(&only_default, "default", &c.connector_id, &mv)
        ),
        ErrorCode::Forbidden
    );
    assert_eq!(
        w.admin
            .get_connector(&w.key, "default", &c.connector_id)
            .map(|c| c.project_id),
        Ok("default".into())
    );
    let moved = w
        .admin
        .update_connector(&w.key, "default", &c.connector_id, &mv)
        .expect("move");
    assert_eq!(moved.project_id, "second");
    let number = w
        .admin
        .get_number(&w.key, "second", "+442079460001")
        .expect("number moved");
    assert_eq!(number.project_id, "second");
    assert_eq!(
        code(w.admin.get_number(&w.key, "default", "+442079460001")),
        ErrorCode::NotFound
    );
    assert_eq!(
        w.admin
            .lookup_connector(&w.key, "second", "+442079460001")
            .map(|c| c.project_id),
        Ok("second".into())
    );
    w.admin.check_invariants().expect("invariants");
}

fn projects_and_keys_are_the_operators(store: Backend) {
    let w = world(store);
    assert_eq!(
        code(w.admin.create_project(&w.key, "default", "x")),
        ErrorCode::Forbidden
    );
    assert_eq!(
        code(
            w.admin
                .create_project(&Caller::Operator, "default", "default")
        ),
        ErrorCode::Conflict
    );
    assert_eq!(
        code(
            w.admin
                .create_project(&Caller::Operator, "bad account!", "x")
        ),
        ErrorCode::InvalidRequest
    );
    w.admin
        .create_project(&Caller::Operator, "other", "p2")
        .expect("new account");
    assert_eq!(
        code(w.admin.create_key(&Caller::Operator, "nobody", &[], "")),
        ErrorCode::NotFound
    );
    assert_eq!(
        code(
            w.admin
                .create_key(&Caller::Operator, "other", &["default".into()], "")
        ),
        ErrorCode::NotFound
    );
    let (secret, info) = w
        .admin
        .create_key(&Caller::Operator, "other", &[], "ops")
        .expect("key");
    let listed = w.admin.list_keys(&Caller::Operator).expect("list");
    assert!(listed.contains(&info));
    assert!(!format!("{listed:?}").contains(&secret));
    let other = Caller::Key(secret);
    assert!(w.admin.list_connectors(&other, "p2").is_ok());
    // Lookups check keys against the published keys, not the model: a new key works at
    // once (the number is not routed: found no connector, not refused)...
    assert_eq!(
        code(w.admin.lookup_connector(&other, "p2", "+14155552671")),
        ErrorCode::NotFound
    );
    w.admin
        .revoke_key(&Caller::Operator, &info.key_id)
        .expect("revoke");
    assert_eq!(
        code(w.admin.list_connectors(&other, "p2")),
        ErrorCode::Unauthorized
    );
    // ... and a revoked one stops working at once.
    assert_eq!(
        code(w.admin.lookup_connector(&other, "p2", "+14155552671")),
        ErrorCode::Unauthorized
    );
    assert_eq!(
        code(w.admin.revoke_key(&Caller::Operator, "key_missing")),
        ErrorCode::NotFound
    );
    assert_eq!(
        code(
            w.admin
                .list_connectors(&Caller::Key("pb_key_00_nope".into()), "default")
        ),
        ErrorCode::Unauthorized
    );
    assert_eq!(
        code(
            w.admin
                .list_connectors(&Caller::Key(String::new()), "default")
        ),
        ErrorCode::Unauthorized
    );
    assert_eq!(
        code(w.admin.list_connectors(&Caller::Operator, "missing")),
        ErrorCode::NotFound
    );
    assert!(format!("{other:?}").starts_with("Key(key_"));
}

on_both_stores!(
    connectors_create_get_list_and_derive_tts,
    batch_get_reports_found_and_not_found,
    partial_updates_distinguish_absent_null_and_value,
    batch_updates_are_independent,
    numbers_import_route_and_report_per_number_errors,
    possible_numbers_import_when_configured,
    numbers_get_batch_assign_and_delete,
    deleting_a_connector_releases_its_numbers_in_one_change,
    moving_a_connector_moves_its_numbers_and_needs_both_grants,
    projects_and_keys_are_the_operators,
);
