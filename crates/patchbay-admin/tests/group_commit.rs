//! Group commit: concurrent changes share appends, each is validated as if it ran alone after
//! the ones before it, each caller is answered only once its change is stored, and a failed
//! append changes nothing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use patchbay_admin::{
    Admin, AdminConfig, Caller, CheckpointWriter, ErrorCode, ImportRequest, Loaded, MemoryStore,
    Store, StoreError,
};

/// A store that takes a while to make an append durable (5 ms) and to write a checkpoint
/// (30 ms), records the size of every group, and can be told to fail.
#[derive(Clone, Default)]
struct SlowStore {
    inner: Arc<Mutex<MemoryStore>>,
    groups: Arc<Mutex<Vec<usize>>>,
    /// Each group's records' payload sizes.
    sizes: Arc<Mutex<Vec<Vec<usize>>>>,
    fail: Arc<AtomicBool>,
    /// While set, appends wait (the writer is held up).
    hold: Arc<(Mutex<bool>, std::sync::Condvar)>,
}

impl Store for SlowStore {
    fn load(&mut self) -> Result<Loaded, StoreError> {
        self.inner.lock().expect("store").load()
    }

    fn append_group(&mut self, records: &[(u64, Vec<u8>)]) -> Result<(), StoreError> {
        let (held, released) = &*self.hold;
        let mut held = held.lock().expect("hold");
        while *held {
            held = released.wait(held).expect("hold");
        }
        drop(held);
        std::thread::sleep(Duration::from_millis(5));
        if self.fail.load(Ordering::SeqCst) {
            return Err(StoreError::Io {
                path: "journal".into(),
                source: std::io::Error::other("disk full"),
            });
        }
        self.groups.lock().expect("groups").push(records.len());
        self.sizes
            .lock()
            .expect("sizes")
            .push(records.iter().map(|(_, payload)| payload.len()).collect());
        self.inner.lock().expect("store").append_group(records)
    }

    fn begin_checkpoint(&mut self, position: u64) -> Result<Box<dyn CheckpointWriter>, StoreError> {
        std::thread::sleep(Duration::from_millis(30));
        self.inner.lock().expect("store").begin_checkpoint(position)
    }

    fn journal_len(&self) -> u64 {
        self.inner.lock().expect("store").journal_len()
    }
}

fn one(number: &str) -> ImportRequest {
    ImportRequest {
        phone_numbers: vec![number.to_string()],
        client_env: None,
        connector_id: None,
    }
}

fn open(store: &SlowStore) -> Arc<Admin> {
    let admin = Admin::open(Box::new(store.clone()), AdminConfig::default()).expect("open");
    admin
        .create_project(&Caller::Operator, "acme", "p")
        .expect("project");
    admin
        .create_project(&Caller::Operator, "acme", "q")
        .expect("project");
    Arc::new(admin)
}

#[test]
fn concurrent_changes_share_appends_and_each_is_acknowledged_stored() {
    let store = SlowStore::default();
    let admin = open(&store);
    let threads = 16;
    let per_thread = 10;
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let admin = Arc::clone(&admin);
            std::thread::spawn(move || {
                for i in 0..per_thread {
                    let number = format!("+44207946{:04}", t * 100 + i);
                    let result = admin
                        .import_numbers(&Caller::Operator, "p", &one(&number))
                        .expect("import");
                    assert!(result.errors.is_empty(), "{:?}", result.errors);
                    // Acknowledged means stored: the model says so, and reopening the store
                    // would load it (checked below for all of them).
                    admin
                        .get_number(&Caller::Operator, "p", &number)
                        .expect("read your write");
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().expect("thread");
    }
    let groups = store.groups.lock().expect("groups").clone();
    let changes: usize = groups.iter().sum();
    assert_eq!(changes, 2 + threads * per_thread, "one record per change");
    assert!(
        groups.len() < changes / 2,
        "{} appends for {changes} changes: concurrent changes were not grouped",
        groups.len()
    );
    admin.check_invariants().expect("invariants");
    let reopened = Admin::open(Box::new(store.clone()), AdminConfig::default()).expect("reopen");
    assert_eq!(reopened.number_count(), threads * per_thread);
    reopened
        .check_invariants()
        .expect("invariants after reopen");
}

/// The same number imported by many callers at once into two projects: exactly one import
/// succeeds, every other caller is told who has it, whatever group each lands in.
#[test]
fn conflicting_changes_in_one_group_are_validated_in_order() {
    let store = SlowStore::default();
    let admin = open(&store);
    let handles: Vec<_> = (0..16)
        .map(|t| {
            let admin = Arc::clone(&admin);
            std::thread::spawn(move || {
                let project = if t % 2 == 0 { "p" } else { "q" };
                let result = admin
                    .import_numbers(&Caller::Operator, project, &one("+442079460958"))
                    .expect("import");
                (project, result)
            })
        })
        .collect();
    let results: Vec<_> = handles
        .into_iter()
        .map(|h| h.join().expect("thread"))
        .collect();
    let owner = admin
        .get_number(&Caller::Operator, "p", "+442079460958")
        .map(|_| "p")
        .or_else(|_| {
            admin
                .get_number(&Caller::Operator, "q", "+442079460958")
                .map(|_| "q")
        })
        .expect("one project owns it");
    for (project, result) in &results {
        if *project == owner {
            // The first import and identical re-imports into the owner succeed.
            assert!(result.errors.is_empty(), "{:?}", result.errors);
        } else {
            assert_eq!(result.errors.len(), 1);
            assert_eq!(result.errors[0].error.code(), ErrorCode::Conflict);
            assert!(result.errors[0]
                .error
                .message()
                .contains("belongs to another project"));
        }
    }
    admin.check_invariants().expect("invariants");
}

#[test]
fn a_failed_append_fails_every_change_of_its_group_and_changes_nothing() {
    let store = SlowStore::default();
    let admin = open(&store);
    admin
        .import_numbers(&Caller::Operator, "p", &one("+442079460001"))
        .expect("import");
    let version = admin.router().version();
    store.fail.store(true, Ordering::SeqCst);
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let admin = Arc::clone(&admin);
            std::thread::spawn(move || {
                admin.import_numbers(
                    &Caller::Operator,
                    "p",
                    &one(&format!("+44207946{:04}", 100 + t)),
                )
            })
        })
        .collect();
    for handle in handles {
        let err = handle
            .join()
            .expect("thread")
            .expect_err("the append failed");
        assert_eq!(err.code(), ErrorCode::Internal);
        assert!(err.message().contains("disk full"), "{}", err.message());
    }
    // Nothing of the failed groups is visible: not in the model, not in lookups.
    assert_eq!(admin.number_count(), 1);
    assert_eq!(admin.router().version(), version);
    admin.check_invariants().expect("invariants");
    // The store works again once the disk does, and the numbers import.
    store.fail.store(false, Ordering::SeqCst);
    let result = admin
        .import_numbers(&Caller::Operator, "p", &one("+442079460100"))
        .expect("import after recovery");
    assert!(result.errors.is_empty());
    assert_eq!(admin.number_count(), 2);
}

#[test]
fn import_batches_reports_every_request_and_stops_at_a_failed_one() {
    let store = SlowStore::default();
    let admin = open(&store);
    let requests = (0..10).map(|b| {
        let numbers = (0..50).map(|i| format!("+44207946{:04}", b * 50 + i));
        let mut request = one("+442079469999");
        request.phone_numbers.extend(numbers);
        (request, b)
    });
    let reported = Mutex::new(Vec::new());
    admin
        .import_batches(&Caller::Operator, "p", requests, |b, request, result| {
            assert_eq!(result.imported.len(), request.phone_numbers.len());
            reported.lock().expect("reported").push(b);
        })
        .expect("import");
    let mut reported = reported.into_inner().expect("reported");
    reported.sort_unstable();
    assert_eq!(reported, (0..10).collect::<Vec<_>>());
    assert_eq!(admin.number_count(), 501);

    // An unknown connector fails the whole request: the error comes back, nothing changes.
    let requests = (0..3).map(|b| {
        let mut request = one(&format!("+44207947{b:04}"));
        request.connector_id = Some("conn_missing".into());
        (request, b)
    });
    let err = admin
        .import_batches(&Caller::Operator, "p", requests, |_, _, _| {
            panic!("no request succeeds")
        })
        .expect_err("unknown connector");
    assert_eq!(err.code(), ErrorCode::NotFound);
    assert_eq!(admin.number_count(), 501);
}

/// A change queued while a checkpoint holds the writer lock is led once it is released: it
/// does not sleep until another change comes along.
#[test]
fn a_change_queued_behind_a_checkpoint_is_committed() {
    let store = SlowStore::default();
    let admin = open(&store);
    for round in 0..5 {
        let checkpoint = {
            let admin = Arc::clone(&admin);
            std::thread::spawn(move || admin.checkpoint().expect("checkpoint"))
        };
        // The checkpoint takes 30 ms (SlowStore): the import queues behind it.
        std::thread::sleep(Duration::from_millis(10));
        let (done, finished) = std::sync::mpsc::channel();
        let importer = {
            let admin = Arc::clone(&admin);
            std::thread::spawn(move || {
                let number = format!("+44207946{:04}", 500 + round);
                let result = admin.import_numbers(&Caller::Operator, "p", &one(&number));
                done.send(result.map(|r| r.errors.len())).expect("send");
            })
        };
        let imported = finished
            .recv_timeout(Duration::from_secs(10))
            .expect("the import finishes: it is not left asleep behind the checkpoint");
        assert_eq!(imported, Ok(0));
        importer.join().expect("importer");
        checkpoint.join().expect("checkpoint");
    }
    assert_eq!(admin.number_count(), 5);
}

/// A one-number change queued behind a bulk change is committed before it, in a group of its
/// own: it waits for the change already being stored, not for the bulk one beside it.
#[test]
fn a_one_number_change_does_not_wait_for_a_bulk_change_queued_before_it() {
    let store = SlowStore::default();
    let admin = open(&store);
    let set_hold = |on: bool| {
        let (held, released) = &*store.hold;
        *held.lock().expect("hold") = on;
        released.notify_all();
    };
    set_hold(true);
    let spawn = |request: ImportRequest| {
        let admin = Arc::clone(&admin);
        std::thread::spawn(move || {
            let imported = admin
                .import_numbers(&Caller::Operator, "p", &request)
                .expect("import");
            assert!(imported.errors.is_empty(), "{:?}", imported.errors);
        })
    };
    // The first change holds the writer (its append waits); the bulk change queues, then
    // the one-number change.
    let first = spawn(one("+442079460001"));
    std::thread::sleep(Duration::from_millis(100));
    let bulk = spawn(ImportRequest {
        phone_numbers: (0..2_000).map(|i| format!("+44207947{i:04}")).collect(),
        client_env: None,
        connector_id: None,
    });
    std::thread::sleep(Duration::from_millis(300));
    let single = spawn(one("+442079460002"));
    std::thread::sleep(Duration::from_millis(100));
    set_hold(false);
    for handle in [first, bulk, single] {
        handle.join().expect("change");
    }
    // A one-number change takes about a hundred bytes; the bulk one, packed, about two
    // thousand.
    let sizes = store.sizes.lock().expect("sizes").clone();
    let big = sizes
        .iter()
        .position(|group| group.iter().any(|&size| size > 1_000))
        .expect("the bulk change's group");
    assert_eq!(
        sizes[big].len(),
        1,
        "the bulk change is alone in its group: {sizes:?}"
    );
    let last_small = sizes
        .iter()
        .rposition(|group| group.iter().all(|&size| size < 1_000))
        .expect("small groups");
    assert!(
        last_small < big,
        "the one-number change was stored before the bulk change: {sizes:?}"
    );
    admin.check_invariants().expect("invariants");
    assert_eq!(admin.number_count(), 2_002);
}
