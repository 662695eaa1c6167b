//! Every lookup path (snapshot, shared router, per-thread reader) answers exactly what
//! normalizing and then probing answers, for any input: same number, same connector, same
//! error.

use patchbay_core::{normalize, ClientEnv, Connector, Router, Snapshot, E164};
use proptest::prelude::*;

fn connector(id: &str) -> Connector {
    Connector {
        connector_id: id.into(),
        name: id.into(),
        account_id: "a".into(),
        project_id: "p".into(),
        client_env: ClientEnv::Live,
        variant_id: String::new(),
        asr_lang_code: "en-US".into(),
        tts_lang_code: "en-US".into(),
        voice_name: "en-US-Neural2-A".into(),
        disable_handoff: false,
    }
}

fn router() -> Router {
    let c = connector("c");
    let numbers = [
        "+14155552671",
        "+442079460958",
        "+12",
        "+979999999999999",
        "+3906123456",
    ];
    let routes = numbers
        .iter()
        .map(|n| (n.parse::<E164>().expect("valid"), &c));
    Router::new(Snapshot::from_routes(1, routes).expect("build"))
}

fn check(router: &Router, input: &str) -> Result<(), TestCaseError> {
    let snapshot = router.snapshot();
    let expected = normalize(input).map(|n| snapshot.get(n).map(|c| (n, c.connector_id.clone())));
    let via_snapshot = snapshot
        .lookup(input)
        .map(|found| found.map(|c| c.connector_id.clone()));
    prop_assert_eq!(
        via_snapshot,
        expected.clone().map(|f| f.map(|(_, c)| c)),
        "snapshot, {:?}",
        input
    );
    let via_router = router
        .lookup(input)
        .map(|g| g.map(|g| (g.route().number, g.connector().connector_id.clone())));
    prop_assert_eq!(&via_router, &expected, "router, {:?}", input);
    let mut reader = router.reader();
    let via_reader = reader
        .lookup(input)
        .map(|r| r.map(|r| (r.number, r.connector.connector_id.clone())));
    prop_assert_eq!(&via_reader, &expected, "reader, {:?}", input);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn lookups_agree_with_normalize_then_get(input in prop_oneof![
        "[+]?[0-9]{0,17}",
        "[+][0-9 ()-]{0,20}",
        "\\PC{0,20}",
        Just("+14155552671".to_string()),
        Just("+12".to_string()),
    ]) {
        check(&router(), &input)?;
    }
}

#[test]
fn edge_cases_agree() {
    let router = router();
    for input in [
        "+14155552671",
        "+014155552671",
        "+1",
        "+",
        "",
        "+12",
        "+979999999999999",
        "+9799999999999999",
        "+28912345",
        "+3906123456",
        "+1 415 555 2671",
        "+1415555267a",
        "+0",
        "+00",
        "+1234567890123456",
    ] {
        check(&router, input).expect(input);
    }
}
