//! Longest-prefix matching against a naive scan: for random sets of nested prefixes and
//! numbers, every answer of a snapshot (built, patched, and read back from a file) is the
//! number's own entry if it has one, else the longest routed prefix of its digits found by
//! comparing text, else none.

use std::collections::BTreeMap;

use patchbay_core::{BuildError, ClientEnv, Connector, Match, Prefix, Router, Snapshot, E164};
use proptest::prelude::*;

fn connector(id: usize) -> Connector {
    Connector {
        connector_id: format!("c{id}"),
        name: format!("connector {id}"),
        account_id: "acme".into(),
        project_id: "support".into(),
        client_env: ClientEnv::Live,
        variant_id: String::new(),
        asr_lang_code: "en-US".into(),
        tts_lang_code: "en-US".into(),
        voice_name: "en-US-Neural2-A".into(),
        disable_handoff: false,
    }
}

const CONNECTORS: usize = 4;

/// A few blocks in countries with codes of one, two and three digits, so that random
/// prefixes nest (a country, a city, a block) and random numbers fall under them.
const BLOCKS: [&str; 5] = [
    "+14155550000",
    "+442079460000",
    "+4930123400000",
    "+35312345670",
    "+79161234567",
];

/// A number from a block with its last `tail` digits replaced by `seed`'s.
fn number(block: usize, tail: u32, seed: u64) -> E164 {
    let base = BLOCKS[block % BLOCKS.len()];
    let keep = base.len() - (tail as usize).min(base.len() - 5);
    let digits: String = (0..base.len() - keep)
        .map(|at| char::from(b'0' + ((seed >> (at * 3)) % 10) as u8))
        .collect();
    format!("{}{digits}", &base[..keep])
        .parse()
        .expect("valid number")
}

fn number_strategy() -> impl Strategy<Value = E164> {
    (0..BLOCKS.len(), 0..6u32, any::<u64>()).prop_map(|(b, t, s)| number(b, t, s))
}

/// A prefix of a number of the blocks: its first `len` digits, or its country code when
/// `len` is shorter.
fn prefix_strategy() -> impl Strategy<Value = Prefix> {
    (number_strategy(), 1..15usize).prop_map(|(n, len)| {
        (1..=len.min(n.len()))
            .rev()
            .find_map(|l| Prefix::of(n, l))
            .or_else(|| (1..=3).find_map(|l| Prefix::of(n, l)))
            .expect("the number's country code is a prefix")
    })
}

#[derive(Debug, Clone)]
enum Op {
    RoutePrefix(Prefix, usize),
    UnroutePrefix(Prefix),
    Route(E164, usize),
    Unroute(E164),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (prefix_strategy(), 0..CONNECTORS).prop_map(|(p, c)| Op::RoutePrefix(p, c)),
        2 => prefix_strategy().prop_map(Op::UnroutePrefix),
        3 => (number_strategy(), 0..CONNECTORS).prop_map(|(n, c)| Op::Route(n, c)),
        1 => number_strategy().prop_map(Op::Unroute),
    ]
}

#[derive(Default, Clone)]
struct Model {
    numbers: BTreeMap<E164, usize>,
    prefixes: BTreeMap<Prefix, usize>,
}

impl Model {
    fn apply(&mut self, op: &Op) {
        match *op {
            Op::RoutePrefix(p, c) => {
                self.prefixes.insert(p, c);
            }
            Op::UnroutePrefix(p) => {
                self.prefixes.remove(&p);
            }
            Op::Route(n, c) => {
                self.numbers.insert(n, c);
            }
            Op::Unroute(n) => {
                self.numbers.remove(&n);
            }
        }
    }

    /// The answer by the rule, found the slow way: text comparison over every prefix.
    fn answer(&self, number: E164) -> Option<(Match, String)> {
        if let Some(&c) = self.numbers.get(&number) {
            return Some((Match::Exact, format!("c{c}")));
        }
        let text = number.to_string();
        self.prefixes
            .iter()
            .filter(|(p, _)| text.starts_with(&p.to_string()))
            .max_by_key(|(p, _)| p.len())
            .map(|(&p, &c)| (Match::Prefix(p), format!("c{c}")))
    }
}

fn check(snapshot: &Snapshot, model: &Model, probes: &[E164], when: &str) {
    assert_eq!(snapshot.len(), model.numbers.len(), "{when}: numbers");
    assert_eq!(
        snapshot.prefix_count(),
        model.prefixes.len(),
        "{when}: prefixes"
    );
    for (&p, &c) in &model.prefixes {
        let id = snapshot.prefix(p).map(|c| c.connector_id.clone());
        assert_eq!(id, Some(format!("c{c}")), "{when}: prefix {p}");
    }
    let all = probes.iter().chain(model.numbers.keys());
    for &number in all {
        let want = model.answer(number);
        let got = snapshot
            .get_match(number)
            .map(|(how, c)| (how, c.connector_id.clone()));
        assert_eq!(got, want, "{when}: {number}");
        let text = number.to_string();
        let looked = snapshot
            .lookup_match(&text)
            .expect("valid")
            .map(|(how, c)| (how, c.connector_id.clone()));
        assert_eq!(looked, want, "{when}: lookup {text}");
        let spaced = match text.split_at_checked(4) {
            Some((head, tail)) if !tail.is_empty() => format!("tel:{head}-{tail}"),
            _ => format!("tel:{text}"),
        };
        let slow = snapshot
            .lookup_match(&spaced)
            .expect("valid")
            .map(|(how, c)| (how, c.connector_id.clone()));
        assert_eq!(slow, want, "{when}: lookup {spaced}");
    }
}

fn full_build(model: &Model, version: u64) -> Snapshot {
    let mut builder = Snapshot::builder(version);
    let slots: Vec<_> = (0..CONNECTORS)
        .map(|c| builder.connector(connector(c)).expect("connector"))
        .collect();
    for (&n, &c) in &model.numbers {
        builder.route(n, slots[c]).expect("route");
    }
    for (&p, &c) in &model.prefixes {
        builder.route_prefix(p, slots[c]).expect("route");
    }
    builder.build().expect("build")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn longest_match_equals_a_naive_scan(
        initial in prop::collection::vec(op(), 0..200),
        rounds in prop::collection::vec(prop::collection::vec(op(), 1..40), 1..8),
        probes in prop::collection::vec(number_strategy(), 50..200),
    ) {
        let mut model = Model::default();
        for op in &initial {
            model.apply(op);
        }
        let mut snapshot = full_build(&model, 1);
        check(&snapshot, &model, &probes, "built");
        for (round, ops) in rounds.iter().enumerate() {
            let version = round as u64 + 2;
            let mut patch = snapshot.patch(version);
            for op in ops {
                model.apply(op);
                match *op {
                    Op::RoutePrefix(p, c) => patch.route_prefix(p, &format!("c{c}")),
                    Op::UnroutePrefix(p) => patch.unroute_prefix(p),
                    Op::Route(n, c) => patch.route(n, &format!("c{c}")),
                    Op::Unroute(n) => patch.unroute(n),
                };
            }
            snapshot = patch.finish().expect("patch");
            check(&snapshot, &model, &probes, &format!("patch {round}"));
            if round % 2 == 1 {
                let bytes = snapshot.to_file_bytes().expect("write");
                snapshot = Snapshot::from_file_bytes(&bytes).expect("open");
                check(&snapshot, &model, &probes, &format!("file after patch {round}"));
            }
        }
    }
}

#[test]
fn a_connector_with_prefixes_is_not_removed_and_the_reader_says_how_it_matched() {
    let base = full_build(&Model::default(), 1);
    let mut patch = base.patch(2);
    patch
        .route_prefix("+44".parse().expect("prefix"), "c1")
        .route_prefix("+4420 7946 00xx".parse().expect("prefix"), "c2")
        .route("+442079460058".parse().expect("number"), "c3");
    let snapshot = patch.finish().expect("patch");
    let mut refused = snapshot.patch(3);
    refused.remove_connector("c2");
    assert_eq!(
        refused.finish().map(|_| ()),
        Err(BuildError::ConnectorInUse {
            id: "c2".into(),
            numbers: 1
        })
    );
    assert_eq!(snapshot.routed_to("c1"), Some(1));

    let router = Router::new(snapshot);
    let mut reader = router.reader();
    let block: Prefix = "+4420794600".parse().expect("prefix");
    let cases = [
        ("+442079460058", "c3", Match::Exact),
        ("+442079460059", "c2", Match::Prefix(block)),
        ("+44 20 7946 0059", "c2", Match::Prefix(block)),
        ("+4420794600", "c2", Match::Prefix(block)),
        (
            "+441234",
            "c1",
            Match::Prefix("+44".parse().expect("prefix")),
        ),
    ];
    for (input, id, how) in cases {
        let route = reader.lookup(input).expect("valid").expect("routed");
        assert_eq!(
            (route.connector.connector_id.as_str(), route.matched),
            (id, how),
            "{input}"
        );
        let guard = router.lookup(input).expect("valid").expect("routed");
        assert_eq!(
            (guard.connector().connector_id.as_str(), guard.matched()),
            (id, how)
        );
        let number: E164 = input.parse().expect("number");
        assert_eq!(router.get(number).map(|g| g.matched()), Some(how));
    }
    assert_eq!(reader.lookup("+4512345678").expect("valid"), None);
    // Invalid input is refused as without prefixes, even where a prefix covers its digits.
    for invalid in [
        "+44207946005:",
        "+4420794600:1",
        "+44?07946001",
        "+4420794600>>",
        "+0420794600",
    ] {
        assert!(reader.lookup(invalid).is_err(), "{invalid}");
        assert!(snapshot_of(&router).lookup(invalid).is_err(), "{invalid}");
    }
    assert!(reader.lookup("+44 20 7946 00xx").is_err());
    assert_eq!(Match::Prefix(block).to_string(), "prefix +4420794600");
    assert_eq!(Match::Exact.to_string(), "exact");
}

fn snapshot_of(router: &Router) -> std::sync::Arc<Snapshot> {
    router.snapshot()
}

#[test]
fn many_prefixes_reshard_and_survive_a_file() {
    let mut snapshot = full_build(&Model::default(), 1);
    let mut model = Model::default();
    for round in 0..6u64 {
        let mut patch = snapshot.patch(round + 2);
        for i in 0..30_000u64 {
            let value = 4_420_000_000 + round * 30_000 + i;
            let prefix =
                Prefix::of(E164::from_u64(value * 10).expect("number"), 10).expect("prefix");
            patch.route_prefix(prefix, "c1");
            model.prefixes.insert(prefix, 1);
        }
        snapshot = patch.finish().expect("patch");
    }
    assert_eq!(snapshot.prefix_count(), 180_000);
    let bytes = snapshot.to_file_bytes().expect("write");
    let opened = Snapshot::from_file_bytes(&bytes).expect("open");
    for s in [&snapshot, &opened] {
        for (&p, _) in model.prefixes.iter().step_by(997) {
            let n = E164::from_u64(p.as_u64() * 100 + 7).expect("number");
            assert_eq!(s.get_match(n).map(|(m, _)| m), Some(Match::Prefix(p)));
        }
    }
}

/// Numbers shorter than the cells' five digits, and numbers shorter than a prefix they
/// begin with, match as a text scan says.
#[test]
fn short_numbers_match_only_prefixes_they_are_long_enough_for() {
    let mut model = Model::default();
    for (i, p) in [
        "+1",
        "+123",
        "+1234",
        "+12340",
        "+123400",
        "+12345678",
        "+7",
    ]
    .iter()
    .enumerate()
    {
        model
            .prefixes
            .insert(p.parse().expect("prefix"), i % CONNECTORS);
    }
    let snapshot = full_build(&model, 1);
    let probes: Vec<E164> = [
        "+12",
        "+123",
        "+1234",
        "+12340",
        "+123400",
        "+1234000",
        "+1234567",
        "+12345678",
        "+123456789",
        "+19",
        "+70",
        "+7999",
    ]
    .iter()
    .map(|s| s.parse().expect("number"))
    .collect();
    check(&snapshot, &model, &probes, "short numbers");
    let reopened =
        Snapshot::from_file_bytes(&snapshot.to_file_bytes().expect("write")).expect("open");
    check(&reopened, &model, &probes, "short numbers, from a file");
}
