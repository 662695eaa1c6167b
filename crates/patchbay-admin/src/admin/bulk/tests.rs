//! Bulk changes built beside the light ones: with a build held back, light changes are
//! answered and seen at once, the bulk change only once published, with every change made
//! meanwhile; a checkpoint taken meanwhile stores a snapshot a restart can use; and under
//! concurrent changes of every weight the published index routes what the model says.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use patchbay_core::ClientEnv;

use crate::api::{ImportRequest, NewConnector};
use crate::store::{DataDir, MemoryStore, Store};
use crate::{Admin, AdminConfig, AdminError, Caller};

/// Holds the builds back while held.
#[derive(Default, Clone)]
pub(in crate::admin) struct Gate(Arc<(Mutex<bool>, Condvar)>);

impl Gate {
    fn hold(&self) {
        *self.0 .0.lock() = true;
    }

    fn release(&self) {
        *self.0 .0.lock() = false;
        self.0 .1.notify_all();
    }

    /// Waits while the gate is held.
    pub(in crate::admin) fn pass(&self) {
        let mut held = self.0 .0.lock();
        while *held {
            self.0 .1.wait(&mut held);
        }
    }
}

const WAIT: Duration = Duration::from_secs(60);

fn connector(admin: &Admin, name: &str) -> String {
    admin
        .create_connector(
            &Caller::Operator,
            "p",
            NewConnector {
                name: name.into(),
                client_env: ClientEnv::Live,
                asr_lang_code: "en-US".into(),
                voice_name: "en-US-Neural2-A".into(),
                variant_id: None,
                disable_handoff: None,
            },
        )
        .expect("connector")
        .connector_id
}

/// An admin over `store` with project `p` and two connectors.
fn admin_over(store: Box<dyn Store>, config: AdminConfig) -> (Arc<Admin>, String, String) {
    let admin = Admin::open(store, config).expect("open");
    admin
        .create_project(&Caller::Operator, "acme", "p")
        .expect("project");
    let x = connector(&admin, "x");
    let y = connector(&admin, "y");
    (Arc::new(admin), x, y)
}

fn numbers(from: u64, count: u64) -> Vec<String> {
    (from..from + count)
        .map(|i| format!("+1415{:07}", 2_000_000 + i))
        .collect()
}

/// Imports `numbers` (every one of them: the tests import numbers not there yet).
fn import(admin: &Admin, numbers: Vec<String>, connector: &str) -> Result<(), AdminError> {
    let imported = import_some(admin, numbers, connector)?;
    assert!(imported.errors.is_empty(), "{:?}", imported.errors.first());
    Ok(())
}

/// Imports `numbers`: those already there are reported, the others imported.
fn import_some(
    admin: &Admin,
    numbers: Vec<String>,
    connector: &str,
) -> Result<crate::api::Imported, AdminError> {
    admin.import_numbers(
        &Caller::Operator,
        "p",
        &ImportRequest {
            phone_numbers: numbers,
            client_env: None,
            connector_id: Some(connector.to_string()),
        },
    )
}

/// Imports on a thread of its own, which ends with the answer.
fn import_beside(
    admin: &Arc<Admin>,
    numbers: Vec<String>,
    connector: &str,
) -> JoinHandle<Result<(), AdminError>> {
    let (admin, connector) = (Arc::clone(admin), connector.to_string());
    std::thread::spawn(move || import(&admin, numbers, &connector))
}

/// The answer of a change made on a thread of its own, within [`WAIT`].
fn answer<T>(thread: JoinHandle<Result<T, AdminError>>) -> Result<T, AdminError> {
    let deadline = Instant::now() + WAIT;
    while !thread.is_finished() {
        assert!(Instant::now() < deadline, "a change was never answered");
        std::thread::sleep(Duration::from_millis(2));
    }
    thread.join().expect("the changing thread")
}

fn routed(admin: &Admin, number: &str) -> Option<String> {
    admin
        .router()
        .snapshot()
        .lookup(number)
        .expect("a number")
        .map(|c| c.connector_id.clone())
}

/// Waits until `done` holds of the bulk state.
fn wait_for(admin: &Admin, what: &str, done: impl Fn(&super::State) -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done(&admin.bulk.state.lock()) {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn light_changes_are_answered_and_seen_while_a_bulk_change_is_built() {
    let (admin, x, y) = admin_over(Box::new(MemoryStore::default()), AdminConfig::default());
    admin.bulk.gate.hold();
    let bulk = numbers(0, 2_000);
    let answered = import_beside(&admin, bulk.clone(), &x);
    wait_for(&admin, "a build under way", |s| s.running.is_some());

    // A one-number change, and one to a number of the bulk change, are answered and seen
    // while the bulk change's build is held back.
    import(&admin, numbers(5_000, 1), &y).expect("a light change is answered");
    assert_eq!(routed(&admin, &numbers(5_000, 1)[0]), Some(y.clone()));
    admin
        .assign_number(&Caller::Operator, "p", &bulk[7], Some(&y))
        .expect("a number of the bulk change, moved");
    assert_eq!(routed(&admin, &bulk[7]), Some(y.clone()));
    assert!(
        !answered.is_finished(),
        "the bulk change is answered only once published"
    );
    assert_eq!(routed(&admin, &bulk[0]), None, "nor seen before");

    admin.bulk.gate.release();
    answer(answered).expect("the bulk change");
    assert_eq!(routed(&admin, &bulk[0]), Some(x.clone()));
    assert_eq!(routed(&admin, &bulk[1_999]), Some(x.clone()));
    assert_eq!(
        routed(&admin, &bulk[7]),
        Some(y),
        "the later change to one of its numbers stands"
    );
    assert_eq!(admin.router().snapshot().len(), 2_001);
    admin
        .check_invariants()
        .expect("published as the model says");
    assert!(admin.bulk.state.lock().running.is_none());
}

/// What was published while a build ran is patched into it by its own thread, and the
/// copy published shows the latest of everything: the bulk change, the light changes to
/// its numbers and the light changes beside it.
#[test]
fn a_build_patches_in_what_was_published_meanwhile() {
    let (admin, x, y) = admin_over(Box::new(MemoryStore::default()), AdminConfig::default());
    admin.bulk.gate.hold();
    let bulk = numbers(0, 2_000);
    let answered = import_beside(&admin, bulk.clone(), &x);
    wait_for(&admin, "the build", |s| s.running.is_some());
    // Twenty of its numbers moved, and twenty new numbers, each a change of its own.
    for number in &bulk[..20] {
        admin
            .assign_number(&Caller::Operator, "p", number, Some(&y))
            .expect("moved");
    }
    let beside = numbers(10_000, 20);
    for number in &beside {
        import(&admin, vec![number.clone()], &y).expect("imported");
    }
    admin.bulk.gate.release();
    answer(answered).expect("the bulk change");
    assert!(
        admin
            .bulk
            .caught_up
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 1,
        "the build patched in what came meanwhile"
    );
    for number in bulk[..20].iter().chain(&beside) {
        assert_eq!(routed(&admin, number), Some(y.clone()), "{number}");
    }
    assert_eq!(routed(&admin, &bulk[20]), Some(x.clone()));
    assert_eq!(admin.router().snapshot().len(), 2_020);
    admin
        .check_invariants()
        .expect("published as the model says");
}

#[test]
fn bulk_changes_made_during_a_build_are_published_by_the_next_one() {
    let (admin, x, y) = admin_over(Box::new(MemoryStore::default()), AdminConfig::default());
    admin.bulk.gate.hold();
    let first = import_beside(&admin, numbers(0, 1_500), &x);
    wait_for(&admin, "the first build", |s| s.running.is_some());
    let second = import_beside(&admin, numbers(1_500, 1_500), &y);
    let third = import_beside(&admin, numbers(3_000, 1_500), &y);
    wait_for(&admin, "the next two waiting", |s| s.queued.len() == 2);
    // Deleting a connector whose numbers a build is to route: a change as heavy as they
    // are, waiting with them.
    let (deleter, id) = (Arc::clone(&admin), x.clone());
    let gone = std::thread::spawn(move || deleter.delete_connector(&Caller::Operator, "p", &id));
    wait_for(&admin, "the deletion waiting", |s| s.queued.len() == 3);

    admin.bulk.gate.release();
    for answered in [first, second, third] {
        answer(answered).expect("a bulk change");
    }
    let deleted = answer(gone).expect("deleted");
    assert_eq!(deleted.deleted_phone_numbers.len(), 1_500);
    let snapshot = admin.router().snapshot();
    assert_eq!(snapshot.len(), 3_000);
    assert_eq!(snapshot.connector(&x), None);
    assert_eq!(routed(&admin, &numbers(0, 1)[0]), None);
    assert_eq!(routed(&admin, &numbers(4_499, 1)[0]), Some(y));
    admin
        .check_invariants()
        .expect("published as the model says");
}

/// A checkpoint started while a bulk change waits to be published stores a snapshot that
/// shows it: the restart opens that snapshot (a snapshot without it would not match the
/// model, and be built again, with a warning).
#[test]
fn a_checkpoint_taken_during_a_build_stores_a_snapshot_a_start_can_use() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = || AdminConfig {
        checkpoint_after: 1,
        ..AdminConfig::default()
    };
    let store = DataDir::open(dir.path()).expect("data directory");
    let (admin, x, y) = admin_over(Box::new(store), config());
    // None under way: the bulk change's commit starts the next.
    admin.checkpoint().expect("a checkpoint");
    admin.bulk.gate.hold();
    let answered = import_beside(&admin, numbers(0, 3_000), &x);
    wait_for(&admin, "a build under way", |s| s.running.is_some());
    import(&admin, numbers(9_000, 1), &y).expect("a light change");
    admin.bulk.gate.release();
    answer(answered).expect("bulk");
    let admin = Arc::into_inner(admin).expect("the only reference");
    drop(admin);

    let reopened = Admin::open(
        Box::new(DataDir::open(dir.path()).expect("reopen")),
        config(),
    )
    .expect("open");
    assert_eq!(reopened.warnings(), &[] as &[String]);
    assert_eq!(reopened.router().snapshot().len(), 3_001);
    assert_eq!(routed(&reopened, &numbers(2_999, 1)[0]), Some(x));
    reopened
        .check_invariants()
        .expect("published as the model says");
}

/// Many callers, changes of every weight, checkpoints all along: every change is answered,
/// the published index routes exactly what the model says, and the data directory opens
/// to the same.
#[test]
fn under_concurrent_changes_of_every_weight_the_index_shows_the_model() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = || AdminConfig {
        checkpoint_after: 64 << 10,
        ..AdminConfig::default()
    };
    let (admin, x, y) = admin_over(
        Box::new(DataDir::open(dir.path()).expect("data directory")),
        config(),
    );
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let (admin, x, y) = (Arc::clone(&admin), x.clone(), y.clone());
            std::thread::spawn(move || {
                let mut rng = 0x9E37_79B9_7F4A_7C15u64.wrapping_mul(t + 1);
                let mut next = || {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    rng
                };
                for _ in 0..12 {
                    let pick = next();
                    let to = if pick & 1 == 0 { &x } else { &y };
                    // Overlapping ranges: bulk and light changes meet on the same numbers.
                    let from = next() % 6_000;
                    let outcome = match pick % 5 {
                        0 | 1 => {
                            import_some(&admin, numbers(from, 1_000 + next() % 500), to).map(drop)
                        }
                        2 => import_some(&admin, numbers(from, 1), to).map(drop),
                        3 => admin
                            .assign_number(&Caller::Operator, "p", &numbers(from, 1)[0], Some(to))
                            .map(drop),
                        _ => admin
                            .delete_numbers(&Caller::Operator, "p", &numbers(from, 1_200))
                            .map(drop),
                    };
                    // A number not imported yet cannot be assigned; every other change
                    // must go through.
                    if let Err(error) = outcome {
                        assert_eq!(pick % 5, 3, "{error}");
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("a changing thread");
    }
    admin
        .check_invariants()
        .expect("published as the model says");
    let fingerprint = admin.model_fingerprint();
    let routed_count = admin.router().snapshot().len();
    drop(Arc::into_inner(admin).expect("the only reference"));

    let reopened = Admin::open(
        Box::new(DataDir::open(dir.path()).expect("reopen")),
        config(),
    )
    .expect("open");
    assert_eq!(reopened.model_fingerprint(), fingerprint);
    assert_eq!(reopened.router().snapshot().len(), routed_count);
    assert_eq!(reopened.warnings(), &[] as &[String]);
    reopened
        .check_invariants()
        .expect("published as the model says");
}

/// An index that bulk changes have grown past its shards, rebuilt while more bulk changes
/// come, is brought in by a bulk build (patching those in on the writer would copy most of
/// it), with every change made meanwhile.
#[test]
fn an_index_rebuilt_during_bulk_changes_comes_in_through_a_bulk_build() {
    let (admin, x, _) = admin_over(Box::new(MemoryStore::default()), AdminConfig::default());
    assert_eq!(admin.router().snapshot().shard_count(), 1);
    let deadline = Instant::now() + WAIT;
    let mut next = 0;
    while admin.router().snapshot().shard_count() == 1 {
        assert!(Instant::now() < deadline, "the rebuilt index never came in");
        import(&admin, numbers(next, 1_000), &x).expect("a bulk change");
        next += 1_000;
    }
    assert_eq!(
        admin
            .bulk
            .regrown_builds
            .load(std::sync::atomic::Ordering::Relaxed),
        1,
        "brought in by a bulk build"
    );
    let snapshot = admin.router().snapshot();
    assert!(!snapshot.outgrown());
    assert_eq!(snapshot.len() as u64, next);
    admin
        .check_invariants()
        .expect("published as the model says");
}
