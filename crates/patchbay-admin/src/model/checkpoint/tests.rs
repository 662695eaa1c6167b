//! The checkpoint format: a model read back is the model written; a checkpoint written while
//! changes go on, then the changes after its position replayed, is the model at the end;
//! damaged bytes are refused, never a panic.

use proptest::prelude::*;

use super::*;

fn number(i: usize) -> E164 {
    E164::from_u64(442_079_460_000 + (i % 40) as u64).expect("valid")
}

const PREFIXES: [&str; 5] = ["+44", "+4420", "+44207946", "+4420794600", "+4420794601"];

fn connector(id: usize, project: usize, env: usize) -> Connector {
    Connector {
        connector_id: format!("c{id}"),
        name: format!("connector {id}"),
        account_id: "a".into(),
        project_id: format!("p{project}"),
        client_env: ClientEnv::ALL[env % 3],
        variant_id: if id.is_multiple_of(2) {
            String::new()
        } else {
            "v".into()
        },
        asr_lang_code: "en-US".into(),
        tts_lang_code: "en-US".into(),
        voice_name: "en-US-Neural2-A".into(),
        disable_handoff: id.is_multiple_of(3),
    }
}

/// One change as the operations make them, planned against `model` (so that connectors'
/// numbers move and go with them): the mutations, or none when it does not apply.
fn plan(model: &Model, op: (u8, usize, usize, usize, Vec<usize>)) -> Vec<Mutation> {
    let (kind, a, b, c, picks) = op;
    let cid = format!("c{}", a % 4);
    let existing = model.connectors.get(cid.as_str());
    let of_connector = |id: &str| -> Vec<E164> {
        model
            .by_connector
            .get(id)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default()
    };
    match kind % 8 {
        0 => {
            let new = connector(
                a % 4,
                b % 2,
                existing.map_or(c, |e| env_code(e.client_env) as usize),
            );
            let mut change = Vec::new();
            let numbers = of_connector(&cid);
            let moved = existing.is_some_and(|e| e.project_id != new.project_id);
            change.push(Mutation::PutConnector {
                connector: new.clone(),
            });
            if moved && !numbers.is_empty() {
                change.push(Mutation::PutNumbers {
                    project_id: new.project_id.clone(),
                    client_env: new.client_env,
                    connector_id: Some(cid),
                    numbers,
                });
            }
            change
        }
        1 | 2 => {
            let numbers: Vec<E164> = picks.iter().map(|&i| number(i)).collect();
            match (kind % 2 == 0, existing) {
                (true, Some(c)) => vec![Mutation::PutNumbers {
                    project_id: c.project_id.clone(),
                    client_env: c.client_env,
                    connector_id: Some(cid),
                    numbers,
                }],
                _ => vec![Mutation::PutNumbers {
                    project_id: format!("p{}", b % 2),
                    client_env: ClientEnv::ALL[c % 3],
                    connector_id: None,
                    numbers,
                }],
            }
        }
        3 => vec![Mutation::RemoveNumbers {
            numbers: picks.iter().map(|&i| number(i)).collect(),
        }],
        4 if existing.is_some() => {
            let mut change = vec![Mutation::RemoveNumbers {
                numbers: of_connector(&cid),
            }];
            let prefixes: Vec<Prefix> = model
                .prefixes_by_connector
                .get(cid.as_str())
                .map(|s| s.iter().copied().collect())
                .unwrap_or_default();
            change.push(Mutation::RemovePrefixes { prefixes });
            change.push(Mutation::RemoveConnector { connector_id: cid });
            change
        }
        5 if existing.is_some() => vec![Mutation::PutPrefixes {
            connector_id: cid,
            prefixes: picks
                .iter()
                .map(|&i| PREFIXES[i % PREFIXES.len()].parse().expect("prefix"))
                .collect(),
        }],
        6 => vec![Mutation::RemovePrefixes {
            prefixes: picks
                .iter()
                .map(|&i| PREFIXES[i % PREFIXES.len()].parse().expect("prefix"))
                .collect(),
        }],
        7 if b % 2 == 0 => vec![Mutation::PutKey {
            key: KeyRecord {
                info: KeyInfo {
                    key_id: format!("key_{}", a % 3),
                    account_id: "a".into(),
                    grant: if c % 2 == 0 {
                        Grant::AllProjects
                    } else {
                        Grant::Projects(["p0".to_string()].into_iter().collect())
                    },
                    label: format!("label {c}"),
                    created_at: c as u64,
                    revoked: false,
                },
                hash: "ab".repeat(32),
            },
        }],
        7 => vec![Mutation::RevokeKey {
            key_id: format!("key_{}", a % 3),
        }],
        _ => Vec::new(),
    }
}

fn base() -> Model {
    let mut model = Model::default();
    model.apply(Mutation::PutAccount {
        account_id: "a".into(),
    });
    for p in ["p0", "p1"] {
        model.apply(Mutation::PutProject {
            project_id: p.into(),
            account_id: "a".into(),
        });
    }
    model
}

fn ops() -> impl Strategy<Value = Vec<(u8, usize, usize, usize, Vec<usize>)>> {
    proptest::collection::vec(
        (
            any::<u8>(),
            0..8usize,
            0..4usize,
            0..6usize,
            proptest::collection::vec(0..40usize, 1..8),
        ),
        1..60,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A model written whole and read back is the same model, indexes and all.
    #[test]
    fn a_model_reads_back_as_written(ops in ops()) {
        let mut model = base();
        for op in ops {
            for m in plan(&model, op) {
                model.apply(m);
            }
        }
        let read = Model::decode(&model.encode()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(read.to_mutations(), model.to_mutations());
        prop_assert_eq!(read.check_invariants(), Ok(()));
        prop_assert_eq!(&read.by_project, &model.by_project);
        prop_assert_eq!(&read.by_connector, &model.by_connector);
    }

    /// A checkpoint started at position `P` whose parts are read while later changes are
    /// applied (between the head and each numbers section, whose sections hold three
    /// numbers each), read back, with every change after `P` replayed on it, is the model
    /// at the end.
    #[test]
    fn a_fuzzy_checkpoint_and_the_log_after_it_make_the_model(
        ops in ops(),
        split in 0..60usize,
        gaps in proptest::collection::vec(0..3usize, 64),
    ) {
        let mut live = base();
        let mut changes: Vec<Vec<Mutation>> = Vec::new();
        let mut ops = ops.into_iter();
        let mut step = |live: &mut Model, changes: &mut Vec<Vec<Mutation>>, n: usize| {
            for op in ops.by_ref().take(n) {
                let change = plan(live, op);
                for m in change.clone() {
                    live.apply(m);
                }
                changes.push(change);
            }
        };
        step(&mut live, &mut changes, split);
        let position = changes.len();
        let mut gaps = gaps.into_iter().cycle();
        let mut out = Vec::new();
        step(&mut live, &mut changes, gaps.next().unwrap_or(0));
        live.encode_head(&mut out);
        let mut written = 0;
        for project in live.numbered_projects() {
            let mut after = None;
            loop {
                step(&mut live, &mut changes, gaps.next().unwrap_or(0));
                let (count, next) = live.encode_numbers(&project, after, 3, &mut out);
                written += count;
                match next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
        }
        Model::encode_end(written, &mut out);
        step(&mut live, &mut changes, usize::MAX);
        let mut read = Model::decode(&out).map_err(|e| TestCaseError::fail(e.to_string()))?;
        for change in changes.into_iter().skip(position) {
            for m in change {
                read.apply(m);
            }
        }
        prop_assert_eq!(read.to_mutations(), live.to_mutations());
        prop_assert_eq!(read.check_invariants(), Ok(()));
    }
}

#[test]
fn damaged_bytes_are_refused_without_a_panic() {
    let mut model = base();
    for k in 0..40u8 {
        let i = usize::from(k);
        for m in plan(&model, (k, i, i, i, vec![i, i + 7])) {
            model.apply(m);
        }
    }
    let bytes = model.encode();
    assert!(Model::decode(&bytes).is_ok());
    for cut in 0..bytes.len() {
        assert!(Model::decode(&bytes[..cut]).is_err(), "cut at {cut}");
    }
    let mut refused = 0;
    for at in 0..bytes.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut damaged = bytes.clone();
            damaged[at] ^= flip;
            // Read as something or refused: either way no panic and no huge allocation.
            if Model::decode(&damaged).is_err() {
                refused += 1;
            }
        }
    }
    assert!(
        refused > bytes.len(),
        "most single-byte damage is caught ({refused})"
    );
    let mut other = bytes.clone();
    other[4] = 2;
    let err = Model::decode(&other).expect_err("another version");
    assert!(err.what.contains("version 2"), "{err}");
}
