//! Pages of a project's numbers: every number exactly once and in order, however the pages
//! are cut, while other numbers come and go; bad limits are refused.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use patchbay_admin::{
    Admin, AdminConfig, Caller, ErrorCode, ImportRequest, MemoryStore, NewConnector, MAX_PAGE,
};
use patchbay_core::{ClientEnv, E164};

fn admin() -> Admin {
    let admin =
        Admin::open(Box::new(MemoryStore::default()), AdminConfig::default()).expect("open");
    admin
        .create_project(&Caller::Operator, "acme", "p")
        .expect("project");
    admin
        .create_project(&Caller::Operator, "acme", "q")
        .expect("project");
    admin
}

fn import(admin: &Admin, project: &str, numbers: &[String], connector: Option<&str>) {
    let request = ImportRequest {
        phone_numbers: numbers.to_vec(),
        client_env: None,
        connector_id: connector.map(str::to_string),
    };
    let result = admin
        .import_numbers(&Caller::Operator, project, &request)
        .expect("import");
    assert!(result.errors.is_empty(), "{:?}", result.errors.first());
}

fn gb(i: usize) -> String {
    format!("+44207946{i:04}")
}

/// Every page of `project` (optionally one connector's) with pages of `limit`.
fn walk(admin: &Admin, project: &str, connector: Option<&str>, limit: usize) -> Vec<E164> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = admin
            .list_numbers_page(&Caller::Operator, project, connector, after, limit)
            .expect("page");
        assert!(page.phone_numbers.len() <= limit);
        out.extend(page.phone_numbers.iter().map(|p| p.number));
        match page.next {
            Some(next) => {
                assert_eq!(Some(next), page.phone_numbers.last().map(|p| p.number));
                after = Some(next);
            }
            None => return out,
        }
    }
}

#[test]
fn pages_list_every_number_once_in_order() {
    let admin = admin();
    let connector = admin
        .create_connector(
            &Caller::Operator,
            "p",
            NewConnector {
                name: "c".into(),
                client_env: ClientEnv::Live,
                asr_lang_code: "en-US".into(),
                voice_name: "en-US-Neural2-A".into(),
                variant_id: None,
                disable_handoff: None,
            },
        )
        .expect("connector");
    // Interleaved: 300 numbers in p (every third on the connector), 200 in q.
    let p: Vec<String> = (0..300).map(|i| gb(2 * i)).collect();
    let q: Vec<String> = (0..200).map(|i| gb(2 * i + 1)).collect();
    import(&admin, "p", &p, None);
    import(&admin, "q", &q, None);
    let on_connector: Vec<String> = p.iter().step_by(3).cloned().collect();
    for number in &on_connector {
        admin
            .assign_number(
                &Caller::Operator,
                "p",
                number,
                Some(&connector.connector_id),
            )
            .expect("assign");
    }
    let all: Vec<E164> = admin
        .list_numbers(&Caller::Operator, "p", None)
        .expect("list")
        .into_iter()
        .map(|n| n.number)
        .collect();
    assert_eq!(all.len(), 300);
    assert!(all.windows(2).all(|w| w[0] < w[1]), "sorted");
    for limit in [1, 7, 100, 299, 300, 301, MAX_PAGE] {
        assert_eq!(walk(&admin, "p", None, limit), all, "limit {limit}");
    }
    let mine: Vec<E164> = on_connector
        .iter()
        .map(|n| n.parse().expect("e164"))
        .collect();
    assert_eq!(walk(&admin, "p", Some(&connector.connector_id), 9), mine);
    assert_eq!(walk(&admin, "q", None, 64).len(), 200);
    // A page after the last number is empty and ends the walk.
    let last = all.last().copied();
    let page = admin
        .list_numbers_page(&Caller::Operator, "p", None, last, 10)
        .expect("page");
    assert!(page.phone_numbers.is_empty() && page.next.is_none());
}

#[test]
fn numbers_present_throughout_are_listed_once_while_others_change() {
    let admin = Arc::new(admin());
    let stable: Vec<String> = (0..2_000).map(|i| gb(2 * i)).collect();
    import(&admin, "p", &stable, None);
    let stop = Arc::new(AtomicBool::new(false));
    let churn = {
        let (admin, stop) = (Arc::clone(&admin), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut round = 0;
            while !stop.load(Ordering::Relaxed) {
                // Odd numbers, between the stable ones: added, then removed.
                let batch: Vec<String> = (0..50)
                    .map(|i| gb(2 * ((round * 50 + i) % 2_000) + 1))
                    .collect();
                import(&admin, "p", &batch, None);
                admin
                    .delete_numbers(&Caller::Operator, "p", &batch)
                    .expect("delete");
                round += 1;
            }
        })
    };
    let expected: Vec<E164> = stable.iter().map(|n| n.parse().expect("e164")).collect();
    for limit in [13, 250] {
        let listed = walk(&admin, "p", None, limit);
        assert!(
            listed.windows(2).all(|w| w[0] < w[1]),
            "in order, none twice"
        );
        let kept: Vec<E164> = listed
            .iter()
            .copied()
            .filter(|n| n.as_u64() % 2 == 0)
            .collect();
        assert_eq!(kept, expected, "every stable number exactly once");
    }
    stop.store(true, Ordering::Relaxed);
    churn.join().expect("churn");
}

#[test]
fn bad_limits_and_projects_are_refused() {
    let admin = admin();
    import(&admin, "p", &[gb(1)], None);
    for limit in [0, MAX_PAGE + 1] {
        let err = admin
            .list_numbers_page(&Caller::Operator, "p", None, None, limit)
            .expect_err("out of range");
        assert_eq!(err.code(), ErrorCode::InvalidRequest);
        assert!(err.message().contains("1 to 10000"), "{}", err.message());
    }
    let err = admin
        .list_numbers_page(&Caller::Operator, "nope", None, None, 10)
        .expect_err("unknown project");
    assert_eq!(err.code(), ErrorCode::NotFound);
    let err = admin
        .list_numbers_page(&Caller::Operator, "p", Some("conn_missing"), None, 10)
        .expect_err("unknown connector");
    assert_eq!(err.code(), ErrorCode::NotFound);
    // An empty project lists nothing, with no cursor.
    let page = admin
        .list_numbers_page(&Caller::Operator, "q", None, None, 10)
        .expect("page");
    assert!(page.phone_numbers.is_empty() && page.next.is_none());
}
