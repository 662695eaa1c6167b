//! Work done beside the changes, on threads of its own: checkpoints (while they fail, as on
//! a full disk, every change is still journaled and acknowledged, and the next succeeds
//! once there is room) and the index's rebuild once it has outgrown its shards.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use patchbay_admin::{
    Admin, AdminConfig, Caller, CheckpointWriter, ImportRequest, Loaded, MemoryStore, Store,
    StoreError,
};
use patchbay_core::Snapshot;

/// A store in memory whose checkpoints fail while `full` is set, as on a full disk.
#[derive(Clone, Default)]
struct FullDisk {
    inner: Arc<Mutex<MemoryStore>>,
    full: Arc<AtomicBool>,
    written: Arc<AtomicUsize>,
}

fn no_space() -> StoreError {
    StoreError::Io {
        path: "checkpoint".into(),
        source: std::io::Error::other("No space left on device"),
    }
}

struct Writer {
    inner: Box<dyn CheckpointWriter>,
    full: Arc<AtomicBool>,
    written: Arc<AtomicUsize>,
}

impl CheckpointWriter for Writer {
    fn write(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        if self.full.load(Ordering::SeqCst) {
            return Err(no_space());
        }
        self.inner.write(bytes)
    }

    fn finish(self: Box<Self>, snapshot: Arc<Snapshot>) -> Result<(), StoreError> {
        if self.full.load(Ordering::SeqCst) {
            return Err(no_space());
        }
        self.inner.finish(snapshot)?;
        self.written.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

impl Store for FullDisk {
    fn load(&mut self) -> Result<Loaded, StoreError> {
        self.inner.lock().expect("store").load()
    }

    fn append_group(&mut self, records: &[(u64, Vec<u8>)]) -> Result<(), StoreError> {
        self.inner.lock().expect("store").append_group(records)
    }

    fn begin_checkpoint(&mut self, position: u64) -> Result<Box<dyn CheckpointWriter>, StoreError> {
        let inner = self
            .inner
            .lock()
            .expect("store")
            .begin_checkpoint(position)?;
        Ok(Box::new(Writer {
            inner,
            full: Arc::clone(&self.full),
            written: Arc::clone(&self.written),
        }))
    }

    fn journal_len(&self) -> u64 {
        self.inner.lock().expect("store").journal_len()
    }
}

fn import(admin: &Admin, i: u64) {
    let imported = admin
        .import_numbers(
            &Caller::Operator,
            "p",
            &ImportRequest {
                phone_numbers: vec![format!("+44207946{i:04}")],
                client_env: None,
                connector_id: None,
            },
        )
        .expect("acknowledged while checkpoints fail");
    assert!(imported.errors.is_empty(), "{:?}", imported.errors);
}

#[test]
fn changes_go_on_while_checkpoints_fail_and_one_succeeds_once_there_is_room() {
    let store = FullDisk::default();
    let config = || AdminConfig {
        checkpoint_after: 1,
        checkpoint_retry: Duration::from_millis(20),
        ..AdminConfig::default()
    };
    let admin = Admin::open(Box::new(store.clone()), config()).expect("open");
    admin
        .create_project(&Caller::Operator, "acme", "p")
        .expect("project");
    // The checkpoint the project's change started may still be on its way: let it land
    // before the disk fills, so that only checkpoints begun on a full disk are counted.
    admin.checkpoint().expect("a checkpoint with room");
    store.written.store(0, Ordering::SeqCst);
    store.full.store(true, Ordering::SeqCst);
    for i in 0..50 {
        import(&admin, i);
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(
        store.written.load(Ordering::SeqCst),
        0,
        "no checkpoint got through"
    );
    assert_eq!(admin.number_count(), 50);

    store.full.store(false, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut i = 50;
    while store.written.load(Ordering::SeqCst) == 0 {
        assert!(
            Instant::now() < deadline,
            "no checkpoint once there was room"
        );
        import(&admin, i);
        i += 1;
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(admin);
    // Everything acknowledged is there, from the checkpoint and the journal after it.
    let reopened = Admin::open(Box::new(store.clone()), config()).expect("reopen");
    reopened.check_invariants().expect("invariants");
    assert_eq!(reopened.number_count() as u64, i);
    let loaded = store.inner.lock().expect("store").load().expect("load");
    assert!(loaded.checkpoint.is_some());
}

/// An admin in memory with project `p` and a connector in it, and the connector's id.
fn admin_with_connector() -> (Admin, String) {
    let admin =
        Admin::open(Box::new(MemoryStore::default()), AdminConfig::default()).expect("open");
    admin
        .create_project(&Caller::Operator, "acme", "p")
        .expect("project");
    let connector = admin
        .create_connector(
            &Caller::Operator,
            "p",
            patchbay_admin::NewConnector {
                name: "c".into(),
                client_env: patchbay_core::ClientEnv::Live,
                asr_lang_code: "en-US".into(),
                voice_name: "en-US-Neural2-A".into(),
                variant_id: None,
                disable_handoff: None,
            },
        )
        .expect("connector")
        .connector_id;
    (admin, connector)
}

/// An index that bulk imports have grown past its shards is rebuilt beside the changes: the
/// imports go on with the shards it has, and a later publish brings the rebuilt index in,
/// with every change made meanwhile.
#[test]
fn an_outgrown_index_is_rebuilt_beside_the_changes() {
    let (admin, connector) = admin_with_connector();
    assert_eq!(admin.router().snapshot().shard_count(), 1);
    let mut next = 0u64;
    let mut import = |count: u64| {
        let request = ImportRequest {
            phone_numbers: (next..next + count)
                .map(|i| format!("+1415{:07}", 2_000_000 + i))
                .collect(),
            client_env: None,
            connector_id: Some(connector.clone()),
        };
        next += count;
        let imported = admin
            .import_numbers(&Caller::Operator, "p", &request)
            .expect("import");
        assert!(imported.errors.is_empty(), "{:?}", imported.errors.first());
    };
    // Past four shards' worth of numbers: one shard, outgrown.
    for _ in 0..4 {
        import(9_000);
    }
    assert!(admin.router().snapshot().outgrown());
    assert_eq!(
        admin.router().snapshot().shard_count(),
        1,
        "kept, not rebuilt inline"
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while admin.router().snapshot().shard_count() == 1 {
        assert!(Instant::now() < deadline, "the rebuilt index never came in");
        import(10);
        std::thread::sleep(Duration::from_millis(10));
    }
    let snapshot = admin.router().snapshot();
    assert!(!snapshot.outgrown());
    assert_eq!(
        snapshot.len() as u64,
        next,
        "every number, those imported meanwhile too"
    );
    admin
        .check_invariants()
        .expect("the published index routes what the model says");
}

#[test]
fn an_index_made_room_for_the_numbers_to_come_is_not_rebuilt_as_they_come() {
    let (admin, connector) = admin_with_connector();
    let request = |from: u64, count: u64| ImportRequest {
        phone_numbers: (from..from + count)
            .map(|i| format!("+1415{:07}", 2_000_000 + i))
            .collect(),
        client_env: None,
        connector_id: Some(connector.clone()),
    };
    admin
        .import_numbers(&Caller::Operator, "p", &request(0, 10))
        .expect("import");
    let version = admin.router().version();
    admin.expect_numbers(60_000).expect("room");
    let sized = admin.router().snapshot();
    assert!(sized.shard_count() > 1, "sized for what is coming");
    assert!(sized.has_room_for(60_010));
    assert_eq!(sized.version(), version + 1);
    assert_eq!(sized.len(), 10);
    for start in (10..60_010).step_by(10_000) {
        let imported = admin
            .import_numbers(&Caller::Operator, "p", &request(start, 10_000))
            .expect("import");
        assert!(imported.errors.is_empty(), "{:?}", imported.errors.first());
    }
    let filled = admin.router().snapshot();
    assert_eq!(filled.shard_count(), sized.shard_count(), "never rebuilt");
    assert!(!filled.outgrown());
    assert_eq!(filled.len(), 60_010);
    admin
        .check_invariants()
        .expect("routes what the model says");
    // An index already as large as what is said to come is left as it is.
    admin.expect_numbers(1_000).expect("room");
    assert_eq!(admin.router().version(), filled.version());
}
