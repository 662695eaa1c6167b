use patchbay_core::{ClientEnv, Connector, Prefix, E164};
use proptest::prelude::*;

use super::*;
use crate::model::{Model, Mutation};

fn number(text: &str) -> E164 {
    text.parse().expect("a number")
}

fn connector(id: &str, project: &str) -> Connector {
    Connector {
        connector_id: id.into(),
        name: id.into(),
        account_id: "acme".into(),
        project_id: project.into(),
        client_env: ClientEnv::Live,
        variant_id: String::new(),
        asr_lang_code: "en-US".into(),
        tts_lang_code: "en-US".into(),
        voice_name: "en-US-Neural2-A".into(),
        disable_handoff: false,
    }
}

fn model() -> Model {
    let mut model = Model::default();
    for m in [
        Mutation::PutAccount {
            account_id: "acme".into(),
        },
        Mutation::PutProject {
            project_id: "pa".into(),
            account_id: "acme".into(),
        },
        Mutation::PutProject {
            project_id: "pb".into(),
            account_id: "acme".into(),
        },
        Mutation::PutConnector {
            connector: connector("c1", "pa"),
        },
    ] {
        model.apply(m);
    }
    model
}

fn put(numbers: &[&str], connector: Option<&str>, project: &str) -> Mutation {
    Mutation::PutNumbers {
        project_id: project.into(),
        client_env: ClientEnv::Live,
        connector_id: connector.map(str::to_string),
        numbers: numbers.iter().map(|n| number(n)).collect(),
    }
}

fn ops(events: &[Event]) -> Vec<(&'static str, usize)> {
    events
        .iter()
        .map(|e| match e {
            Event::Numbers { op, .. }
            | Event::Prefixes { op, .. }
            | Event::Connector { op, .. } => (op.name(), e.count()),
        })
        .collect()
}

/// Each mutation is read against the model before it: new numbers are imported, numbers
/// that were elsewhere are grouped by where they were, a connector's move carries its
/// prefixes, and what changes nothing is not recorded.
#[test]
fn mutations_read_as_the_operations_they_are() {
    let mut model = model();
    let imported = apply_described(
        &mut model,
        vec![put(&["+14155550001", "+14155550002"], Some("c1"), "pa")],
    );
    assert_eq!(ops(&imported), vec![("number.imported", 2)]);
    let again = apply_described(
        &mut model,
        vec![put(&["+14155550001", "+14155550003"], Some("c1"), "pa")],
    );
    assert_eq!(
        ops(&again),
        vec![("number.imported", 1)],
        "the same twice is nothing"
    );
    let unassigned = apply_described(
        &mut model,
        vec![put(&["+14155550001", "+14155550002"], None, "pa")],
    );
    assert_eq!(ops(&unassigned), vec![("number.unassigned", 2)]);
    let prefixes = apply_described(
        &mut model,
        vec![Mutation::PutPrefixes {
            connector_id: "c1".into(),
            prefixes: vec![Prefix::parse("+1415").expect("prefix")],
        }],
    );
    assert_eq!(ops(&prefixes), vec![("prefix.imported", 1)]);
    let moved = apply_described(
        &mut model,
        vec![
            Mutation::PutConnector {
                connector: connector("c1", "pb"),
            },
            put(&["+14155550003"], Some("c1"), "pb"),
        ],
    );
    assert_eq!(
        ops(&moved),
        vec![
            ("connector.moved", 1),
            ("prefix.moved", 1),
            ("number.moved", 1)
        ]
    );
    assert_eq!(moved[1].projects(), (Some("pa"), Some("pb")));
    assert!(moved[0].shows_in("pa") && moved[0].shows_in("pb") && !moved[0].shows_in("pc"));
    let deleted = apply_described(
        &mut model,
        vec![
            Mutation::RemoveNumbers {
                numbers: vec![number("+14155550003"), number("+19999999999")],
            },
            Mutation::RemovePrefixes {
                prefixes: vec![Prefix::parse("+1415").expect("prefix")],
            },
            Mutation::RemoveConnector {
                connector_id: "c1".into(),
            },
        ],
    );
    assert_eq!(
        ops(&deleted),
        vec![
            ("number.deleted", 1),
            ("prefix.deleted", 1),
            ("connector.deleted", 1)
        ],
        "a number that was not there is not deleted"
    );
}

fn entry() -> Entry {
    let mut model = model();
    let numbers: Vec<String> = (0..300).map(|i| format!("+1415555{:04}", i * 7)).collect();
    let numbers: Vec<&str> = numbers.iter().map(String::as_str).collect();
    let mut events = apply_described(&mut model, vec![put(&numbers, Some("c1"), "pa")]);
    events.extend(apply_described(
        &mut model,
        vec![
            Mutation::PutConnector {
                connector: connector("c1", "pb"),
            },
            Mutation::PutPrefixes {
                connector_id: "c1".into(),
                prefixes: vec![Prefix::parse("+44").expect("prefix")],
            },
        ],
    ));
    Entry {
        position: 42,
        stamp: Stamp {
            at: 1_796_655_600_123,
            actor: Actor::Key {
                key_id: "key_abc".into(),
            },
            node: Some("a".into()),
        },
        events,
    }
}

#[test]
fn an_entry_reads_back_as_written_and_packs_its_numbers() {
    let entry = entry();
    let bytes = entry.encode().expect("encodes");
    assert!(bytes.len() < 1_000, "{} bytes for 300 numbers", bytes.len());
    assert_eq!(Entry::decode(&bytes), Ok(entry));
}

proptest! {
    /// Damaged or cut entries are an error, never a panic.
    #[test]
    fn damaged_entries_read_without_a_panic(cut in any::<usize>(), flip in any::<(usize, u8)>()) {
        let bytes = entry().encode().expect("encodes");
        let mut flipped = bytes.clone();
        let at = flip.0 % flipped.len();
        flipped[at] ^= flip.1;
        let _ = Entry::decode(&flipped);
        prop_assert!(Entry::decode(&bytes[..cut % bytes.len()]).is_err());
    }
}

/// Retention drops whole changes, their times and their index rows, and nothing newer; a
/// number's history then begins at what is left.
#[test]
fn pruning_drops_old_changes_and_their_index_rows() {
    use super::embedded::EmbeddedHistory;
    use super::query::{HistoryRead, Subject};

    let history = EmbeddedHistory::open(None).expect("in memory");
    let mut model = model();
    let n = number("+14155550001");
    let mut entries = Vec::new();
    for (position, connector) in [(1, Some("c1")), (2, None), (3, Some("c1"))] {
        let events = apply_described(&mut model, vec![put(&["+14155550001"], connector, "pa")]);
        entries.push(stamped(position, events));
    }
    history.record(&entries, 3).expect("recorded");
    assert_eq!(
        history.touching(&Subject::Number(n), u64::MAX, 10),
        Ok(vec![3, 2, 1])
    );
    assert_eq!(
        history.prune_before(2_500, 10),
        Ok(2),
        "the two before 2.5 s"
    );
    assert_eq!(
        history.touching(&Subject::Number(n), u64::MAX, 10),
        Ok(vec![3])
    );
    assert_eq!(
        history.touching(&Subject::Project("pa".into()), u64::MAX, 10),
        Ok(vec![3])
    );
    assert_eq!(history.oldest(), Ok(Some((3, 3_000))));
    assert_eq!(history.position_at(2_999), Ok(None));
    assert_eq!(history.entry(1), Ok(None));
    assert_eq!(
        history.prune_before(2_500, 10),
        Ok(0),
        "nothing left to drop"
    );
}

fn stamped(position: u64, events: Vec<Event>) -> Entry {
    Entry {
        position,
        stamp: Stamp {
            at: 1_000 * position as i64,
            actor: Actor::Library,
            node: None,
        },
        events,
    }
}

/// A reader beside the file (the command line while a server runs) sees each change once
/// the thread has lingered, and as soon as someone in the process has waited for it.
#[test]
fn the_recorder_brings_each_change_to_the_file_within_moments() {
    use super::embedded::EmbeddedHistory;
    use super::query::HistoryRead;
    use super::recorder::{Recorder, LINGER};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("history.redb");
    let history = Arc::new(EmbeddedHistory::open(Some(&path)).expect("opened"));
    let recorder = Recorder::start(history, 0, None);
    let beside = EmbeddedHistory::open_read_only(&path).expect("read beside");
    let mut model = model();

    // Left to itself, the thread records what it was handed once it has lingered.
    let events = apply_described(&mut model, vec![put(&["+14155550001"], Some("c1"), "pa")]);
    recorder.send(vec![stamped(1, events)], 1);
    assert_eq!(recorder.sent(), 1);
    let deadline = Instant::now() + LINGER * 500;
    while beside.recorded() != Ok(1) {
        assert!(Instant::now() < deadline, "change 1 never reached the file");
        std::thread::sleep(Duration::from_millis(2));
    }

    // A wait cuts the lingering short: each change is in the file when the wait ends.
    for position in 2..=21 {
        let connector = (position % 2 == 1).then_some("c1");
        let events = apply_described(&mut model, vec![put(&["+14155550001"], connector, "pa")]);
        recorder.send(vec![stamped(position, events)], position);
        recorder
            .wait_for(position, Duration::from_secs(10))
            .expect("recorded");
        assert_eq!(
            beside.recorded(),
            Ok(position),
            "in the file when the wait ends"
        );
    }

    // What is handed over before it stops is recorded as it stops.
    let events = apply_described(&mut model, vec![put(&["+14155550001"], None, "pa")]);
    recorder.send(vec![stamped(22, events)], 22);
    drop(recorder);
    assert_eq!(beside.recorded(), Ok(22));
    assert_eq!(
        beside
            .touching(
                &super::query::Subject::Number(number("+14155550001")),
                u64::MAX,
                100
            )
            .map(|found| found.len()),
        Ok(22)
    );
}

/// A change of a few numbers indexes each by its own key, a bulk change by blocks: a
/// number's history is both, newest first, and its neighbours' changes are not in it.
#[test]
fn a_number_is_found_by_its_own_rows_and_its_blocks() {
    use super::embedded::EmbeddedHistory;
    use super::query::{HistoryRead, Subject};

    let history = EmbeddedHistory::open(None).expect("in memory");
    let mut model = model();
    let bulk: Vec<String> = (0..20).map(|i| format!("+141555501{i:02}")).collect();
    let bulk: Vec<&str> = bulk.iter().map(String::as_str).collect();
    let mut entries = Vec::new();
    let mut changes = vec![
        vec![put(&bulk, Some("c1"), "pa")],
        vec![put(&["+14155550100"], None, "pa")],
        vec![put(&["+14155550101"], None, "pa")],
    ];
    for (position, change) in (1..).zip(changes.drain(..)) {
        let events = apply_described(&mut model, change);
        entries.push(stamped(position, events));
    }
    let rows: Vec<Vec<(Vec<u8>, Vec<u8>)>> = entries.iter().map(subject_rows).collect();
    assert!(
        rows[0]
            .iter()
            .any(|(k, v)| k.first() == Some(&1) && v.len() == 32),
        "20 numbers: a block's row"
    );
    assert!(rows[0].iter().all(|(k, _)| k.first() != Some(&6)));
    assert!(
        rows[1].contains(&(number_key(number("+14155550100")), Vec::new())),
        "one number: its own row"
    );
    assert!(rows[1].iter().all(|(k, _)| k.first() != Some(&1)));
    history.record(&entries, 3).expect("recorded");

    let of = |text: &str| Subject::Number(number(text));
    assert_eq!(
        history.touching(&of("+14155550100"), u64::MAX, 10),
        Ok(vec![2, 1])
    );
    assert_eq!(
        history.touching(&of("+14155550101"), u64::MAX, 10),
        Ok(vec![3, 1])
    );
    assert_eq!(
        history.touching(&of("+14155550102"), u64::MAX, 10),
        Ok(vec![1])
    );
    assert_eq!(
        history.touching(&of("+14155550199"), u64::MAX, 10),
        Ok(vec![])
    );
    assert_eq!(history.touching(&of("+14155550100"), 2, 10), Ok(vec![1]));
    assert_eq!(
        history.touching(&of("+14155550100"), u64::MAX, 1),
        Ok(vec![2])
    );
    assert_eq!(
        history.first_touching_after(&of("+14155550100"), 0),
        Ok(Some(1))
    );
    assert_eq!(
        history.first_touching_after(&of("+14155550100"), 1),
        Ok(Some(2))
    );
    assert_eq!(
        history.first_touching_after(&of("+14155550101"), 1),
        Ok(Some(3))
    );
    assert_eq!(
        history.first_touching_after(&of("+14155550102"), 1),
        Ok(None)
    );

    // Dropping the changes drops every row of theirs, in either form.
    assert_eq!(history.prune_before(i64::MAX, 10), Ok(3));
    assert_eq!(
        history.touching(&of("+14155550100"), u64::MAX, 10),
        Ok(vec![])
    );
    assert_eq!(
        history.touching(&of("+14155550102"), u64::MAX, 10),
        Ok(vec![])
    );
}
