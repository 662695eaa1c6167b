//! The change history of an embedded store: every change recorded with its time, actor and
//! before and after; a project's pages, filters and cursors; lookups at a past instant;
//! and the history surviving a restart, rebuilt from the journal when its file is lost.

use std::time::Duration;

use patchbay_admin::{
    Actor, Admin, AdminConfig, Caller, Change, ChangesQuery, ConnectorPatch, DataDir, ErrorCode,
    ImportRequest, NewConnector, Patch, PrefixImportRequest, Record,
};
use patchbay_core::ClientEnv;

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

/// Two projects of one account, a key for each and one for both.
struct World {
    admin: Admin,
    a: Caller,
    b: Caller,
    both: Caller,
    a_key_id: String,
}

fn world(dir: &std::path::Path, config: AdminConfig) -> World {
    let admin = Admin::open(Box::new(DataDir::open(dir).expect("dir")), config).expect("open");
    let op = Caller::Operator;
    admin.create_project(&op, "acme", "pa").expect("pa");
    admin.create_project(&op, "acme", "pb").expect("pb");
    let key = |projects: &[&str]| {
        let projects: Vec<String> = projects.iter().map(|p| p.to_string()).collect();
        admin
            .create_key(&op, "acme", &projects, "test")
            .expect("key")
    };
    let (a, a_info) = key(&["pa"]);
    let (b, _) = key(&["pb"]);
    let (both, _) = key(&["pa", "pb"]);
    World {
        admin,
        a: Caller::Key(a),
        b: Caller::Key(b),
        both: Caller::Key(both),
        a_key_id: a_info.key_id,
    }
}

fn list(admin: &Admin, caller: &Caller, project: &str, query: ChangesQuery) -> Vec<Change> {
    admin
        .changes(caller, project, &query)
        .expect("changes")
        .changes
}

fn ops(change: &Change) -> Vec<&str> {
    change.mutations.iter().map(|m| m.op.as_str()).collect()
}

fn import(admin: &Admin, caller: &Caller, project: &str, number: &str, connector: &str) {
    admin
        .import_numbers(
            caller,
            project,
            &ImportRequest {
                phone_numbers: vec![number.into()],
                client_env: None,
                connector_id: Some(connector.into()),
            },
        )
        .expect("import");
}

fn pause() {
    // Changes a few milliseconds apart have instants of their own.
    std::thread::sleep(Duration::from_millis(5));
}

/// A number's life in the history: imported, reassigned, moved with its connector, deleted
/// with it; each with its actor and before and after; each project sees its own part.
#[test]
fn a_numbers_life_is_recorded_with_actors_and_before_and_after() {
    let dir = tempfile::tempdir().expect("tmp");
    let w = world(dir.path(), AdminConfig::default());
    let c1 = w
        .admin
        .create_connector(&w.a, "pa", new_connector("one"))
        .expect("c1");
    let c2 = w
        .admin
        .create_connector(&w.a, "pa", new_connector("two"))
        .expect("c2");
    pause();
    let mut numbers: Vec<String> = (0..100)
        .map(|i| format!("+1415555{:04}", 1000 + i))
        .collect();
    numbers.push("+14155552671".into());
    w.admin
        .import_numbers(
            &w.a,
            "pa",
            &ImportRequest {
                phone_numbers: numbers,
                client_env: None,
                connector_id: Some(c1.connector_id.clone()),
            },
        )
        .expect("import");
    pause();
    w.admin
        .assign_number(
            &Caller::Operator,
            "pa",
            "+14155552671",
            Some(&c2.connector_id),
        )
        .expect("reassign");
    pause();
    let moved = ConnectorPatch {
        project_id: Patch::Value("pb".into()),
        ..ConnectorPatch::default()
    };
    w.admin
        .update_connector(&w.both, "pa", &c2.connector_id, &moved)
        .expect("move");
    pause();
    w.admin
        .delete_connector(&w.b, "pb", &c2.connector_id)
        .expect("delete");

    let of_number = ChangesQuery {
        number: Some("(415) 555-2671".replace("(415) ", "+1 415 ")),
        ..ChangesQuery::default()
    };
    let in_a = list(&w.admin, &w.a, "pa", of_number.clone());
    assert_eq!(
        in_a.iter().map(ops).collect::<Vec<_>>(),
        vec![
            vec!["number.moved"],
            vec!["number.assigned"],
            vec!["number.imported"]
        ],
        "{in_a:#?}"
    );
    let imported = &in_a[2];
    assert_eq!(
        imported.actor,
        Actor::Key {
            key_id: w.a_key_id.clone()
        }
    );
    assert_eq!(
        imported.mutation_count, 1,
        "a filter keeps only the number's mutation"
    );
    assert!(imported.mutations[0].before.is_none());
    let Some(Record::Number(after)) = &imported.mutations[0].after else {
        panic!("{imported:#?}");
    };
    assert_eq!(
        after.connector_id.as_deref(),
        Some(c1.connector_id.as_str())
    );
    assert_eq!(
        in_a[1].actor,
        Actor::Library,
        "the operator through the library"
    );
    let Some(Record::Number(before)) = &in_a[1].mutations[0].before else {
        panic!("{:#?}", in_a[1]);
    };
    assert_eq!(
        before.connector_id.as_deref(),
        Some(c1.connector_id.as_str())
    );
    assert!(in_a[0].change_id > in_a[1].change_id && in_a[1].change_id > in_a[2].change_id);
    assert!(in_a[0].at >= in_a[1].at, "newest first");

    // Project b sees the move (into it) and the delete, not the import.
    let in_b = list(&w.admin, &w.b, "pb", of_number);
    assert_eq!(
        in_b.iter().map(ops).collect::<Vec<_>>(),
        vec![vec!["number.deleted"], vec!["number.moved"]]
    );

    // The whole cascade of the delete is one change: the connector and its number.
    let all_b = list(&w.admin, &w.b, "pb", ChangesQuery::default());
    assert_eq!(ops(&all_b[0]), vec!["number.deleted", "connector.deleted"]);
    assert_eq!(ops(&all_b[1]), vec!["connector.moved", "number.moved"]);
    // The import is one change of 101 mutations, in project a only.
    let all_a = list(&w.admin, &w.a, "pa", ChangesQuery::default());
    let import = all_a
        .iter()
        .find(|c| c.mutation_count == 101)
        .expect("the import");
    assert_eq!(import.mutations.len(), 101);
    assert!(all_b.iter().all(|c| c.change_id != import.change_id));
    // A connector filter finds the connector's own changes and its numbers'.
    let of_c1 = list(
        &w.admin,
        &w.a,
        "pa",
        ChangesQuery {
            connector_id: Some(c1.connector_id.clone()),
            ..ChangesQuery::default()
        },
    );
    assert_eq!(
        of_c1.iter().map(ops).collect::<Vec<_>>().concat().len(),
        1 + 101 + 1,
        "created, 101 imported, one reassigned away: {of_c1:#?}"
    );
}

/// Pages follow cursors to the oldest change; a cursor of other filters, of another
/// listing or made up, a limit out of range, and instants that do not read, lie in the
/// future or are older than retention are refused.
#[test]
fn pages_cursors_and_bad_queries() {
    let dir = tempfile::tempdir().expect("tmp");
    let w = world(dir.path(), AdminConfig::default());
    let c = w
        .admin
        .create_connector(&w.a, "pa", new_connector("c"))
        .expect("c");
    for i in 0..25 {
        let number = format!("+1415555{:04}", 2000 + i);
        import(&w.admin, &w.a, "pa", &number, &c.connector_id);
    }
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = w
            .admin
            .changes(
                &w.a,
                "pa",
                &ChangesQuery {
                    limit: Some(10),
                    cursor: cursor.clone(),
                    ..ChangesQuery::default()
                },
            )
            .expect("page");
        assert!(page.changes.len() <= 10);
        seen.extend(page.changes.into_iter().map(|c| c.change_id));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(
        seen.len(),
        26,
        "25 assignments and the connector's creation"
    );
    let mut sorted = seen.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(seen, sorted, "newest first, none twice");

    let refused = |query: ChangesQuery| w.admin.changes(&w.a, "pa", &query).expect_err("refused");
    let first = w
        .admin
        .changes(
            &w.a,
            "pa",
            &ChangesQuery {
                limit: Some(1),
                ..ChangesQuery::default()
            },
        )
        .expect("page");
    let other = refused(ChangesQuery {
        number: Some("+14155552000".into()),
        cursor: first.next_cursor.clone(),
        ..ChangesQuery::default()
    });
    assert!(other.message().contains("other filters"), "{other}");
    for cursor in ["n1.14155552000", "h1.12", "h1.x.00000000", "bogus"] {
        let error = refused(ChangesQuery {
            cursor: Some(cursor.into()),
            ..ChangesQuery::default()
        });
        assert_eq!(error.code(), ErrorCode::InvalidRequest, "{cursor}: {error}");
    }
    for limit in [0, 1_001] {
        let error = refused(ChangesQuery {
            limit: Some(limit),
            ..ChangesQuery::default()
        });
        assert!(error.message().contains("out of range"), "{error}");
    }
    for (filter, query) in [
        (
            "number",
            ChangesQuery {
                number: Some("call me".into()),
                ..ChangesQuery::default()
            },
        ),
        (
            "prefix",
            ChangesQuery {
                prefix: Some("+1 call".into()),
                ..ChangesQuery::default()
            },
        ),
        (
            "connector",
            ChangesQuery {
                connector_id: Some("not an id!".into()),
                ..ChangesQuery::default()
            },
        ),
        (
            "since",
            ChangesQuery {
                since: Some("yesterday".into()),
                ..ChangesQuery::default()
            },
        ),
    ] {
        let error = refused(query);
        assert_eq!(error.code(), ErrorCode::InvalidRequest, "{filter}: {error}");
    }
    let future = refused(ChangesQuery {
        until: Some("2999-01-01T00:00:00Z".into()),
        ..ChangesQuery::default()
    });
    assert_eq!(future.code(), ErrorCode::ValidationFailed);
    assert!(future.message().contains("future"), "{future}");
    let old = refused(ChangesQuery {
        since: Some("2001-01-01T00:00:00Z".into()),
        ..ChangesQuery::default()
    });
    assert_eq!(old.code(), ErrorCode::ValidationFailed);
    assert!(
        old.message().contains("oldest retained instant is 20"),
        "{old}"
    );
    // Project a's key cannot read project b's history.
    let forbidden = w
        .admin
        .changes(&w.a, "pb", &ChangesQuery::default())
        .expect_err("forbidden");
    assert_eq!(forbidden.code(), ErrorCode::Forbidden);
}

/// A lookup at a past instant routes as the routes were then: the number's own route, a
/// prefix once the number is gone, and the connector as it was named then.
#[test]
fn lookups_at_past_instants_route_as_then() {
    let dir = tempfile::tempdir().expect("tmp");
    let w = world(dir.path(), AdminConfig::default());
    let c1 = w
        .admin
        .create_connector(&w.a, "pa", new_connector("first name"))
        .expect("c1");
    let c2 = w
        .admin
        .create_connector(&w.a, "pa", new_connector("two"))
        .expect("c2");
    pause();
    w.admin
        .import_prefixes(
            &w.a,
            "pa",
            &PrefixImportRequest {
                prefixes: vec!["+1415555".into()],
                connector_id: c2.connector_id.clone(),
            },
        )
        .expect("prefix");
    pause();
    import(&w.admin, &w.a, "pa", "+14155552671", &c1.connector_id);
    pause();
    let renamed = ConnectorPatch {
        name: Patch::Value("second name".into()),
        ..ConnectorPatch::default()
    };
    w.admin
        .update_connector(&w.a, "pa", &c1.connector_id, &renamed)
        .expect("rename");
    pause();
    w.admin
        .delete_number(&w.a, "pa", "+14155552671")
        .expect("delete");
    let changes = list(&w.admin, &w.a, "pa", ChangesQuery::default());
    let when = |op: &str| {
        changes
            .iter()
            .find(|c| ops(c).contains(&op))
            .unwrap_or_else(|| panic!("{op}: {changes:#?}"))
            .clone()
    };
    let assigned = when("number.imported");
    let renamed = when("connector.updated");
    let deleted = when("number.deleted");

    let then = w
        .admin
        .lookup_at(&w.a, Some("pa"), "+1 415 555 2671", &assigned.at)
        .expect("as of the assignment");
    assert_eq!(then.connector.connector_id, c1.connector_id);
    assert_eq!(
        then.connector.name, "first name",
        "the connector as it was then"
    );
    assert_eq!(then.prefix, None);
    assert_eq!(then.change_id, assigned.change_id);
    let later = w
        .admin
        .lookup_at(&w.a, Some("pa"), "+14155552671", &renamed.at)
        .expect("as of the rename");
    assert_eq!(later.connector.name, "second name");
    let gone = w
        .admin
        .lookup_at(&w.a, Some("pa"), "+14155552671", &deleted.at)
        .expect("as of the delete");
    assert_eq!(
        gone.connector.connector_id, c2.connector_id,
        "the prefix routes it"
    );
    assert_eq!(
        gone.prefix.map(|p| p.to_string()).as_deref(),
        Some("+1415555")
    );
    // Explained as of then: the number's own entry and route then, and the connector then.
    let explained = w
        .admin
        .explain_at(&w.a, "pa", "tel:+1-415-555-2671", &assigned.at)
        .expect("explained");
    assert_eq!(explained.outcome, patchbay_admin::Outcome::Routed);
    assert_eq!(explained.matched, patchbay_admin::MatchKind::Exact);
    assert_eq!(
        explained.connector.as_ref().map(|c| c.name.as_str()),
        Some("first name")
    );
    assert!(explained.number.is_some());
    let gone_explained = w
        .admin
        .explain_at(&w.a, "pa", "+14155552671", &deleted.at)
        .expect("explained");
    assert_eq!(gone_explained.matched, patchbay_admin::MatchKind::Prefix);
    assert!(gone_explained.number.is_none(), "deleted by then");
    let now = w
        .admin
        .explain(&w.a, "pa", "+14155552671")
        .expect("explained now");
    assert_eq!(now.matched, patchbay_admin::MatchKind::Prefix);
    // Project b's key, and project b, see nothing of it.
    let error = w
        .admin
        .lookup_at(&w.both, Some("pb"), "+14155552671", &assigned.at)
        .expect_err("another project's");
    assert_eq!(error.code(), ErrorCode::NotFound);
    for (at, code) in [
        ("last tuesday", ErrorCode::InvalidRequest),
        ("2999-01-01T00:00:00Z", ErrorCode::ValidationFailed),
        ("1999-01-01T00:00:00Z", ErrorCode::ValidationFailed),
    ] {
        let error = w
            .admin
            .lookup_at(&w.a, Some("pa"), "+14155552671", at)
            .expect_err(at);
        assert_eq!(error.code(), code, "{at}: {error}");
    }
}

/// The history is the same after a restart, and after its file is lost it is rebuilt from
/// the journal; with a checkpoint past its lost changes, it answers from there on.
#[test]
fn the_history_survives_restarts_and_is_rebuilt_from_the_journal() {
    let dir = tempfile::tempdir().expect("tmp");
    let before = {
        let w = world(dir.path(), AdminConfig::default());
        let c = w
            .admin
            .create_connector(&w.a, "pa", new_connector("c"))
            .expect("c");
        for i in 0..5 {
            let number = format!("+1415555{:04}", 3000 + i);
            import(&w.admin, &w.a, "pa", &number, &c.connector_id);
        }
        list(&w.admin, &w.a, "pa", ChangesQuery::default())
    };
    let key = |admin: &Admin| {
        let (key, _) = admin
            .create_key(&Caller::Operator, "acme", &["pa".to_string()], "again")
            .expect("key");
        Caller::Key(key)
    };
    let reopen = || {
        Admin::open(
            Box::new(DataDir::open(dir.path()).expect("dir")),
            AdminConfig::default(),
        )
        .expect("reopen")
    };
    {
        let admin = reopen();
        let caller = key(&admin);
        let after: Vec<Change> = list(&admin, &caller, "pa", ChangesQuery::default());
        assert_eq!(after, before, "the same history after a restart");
    }
    std::fs::remove_file(dir.path().join("history.redb")).expect("lose the history");
    {
        let admin = reopen();
        let caller = key(&admin);
        let rebuilt = list(&admin, &caller, "pa", ChangesQuery::default());
        assert_eq!(rebuilt, before, "rebuilt from the journal");
        admin.checkpoint().expect("checkpoint");
        admin
            .checkpoint()
            .expect("a second, so the journal before the first goes");
    }
    std::fs::remove_file(dir.path().join("history.redb")).expect("lose it again");
    let admin = reopen();
    let caller = key(&admin);
    let left = list(&admin, &caller, "pa", ChangesQuery::default());
    assert!(
        left.is_empty(),
        "nothing after the checkpoint touched pa: {left:#?}"
    );
    let error = admin
        .changes(
            &caller,
            "pa",
            &ChangesQuery {
                since: Some(before.last().expect("oldest").at.clone()),
                ..ChangesQuery::default()
            },
        )
        .expect_err("older than the history keeps");
    assert!(
        error.message().contains("oldest retained instant"),
        "{error}"
    );
}
