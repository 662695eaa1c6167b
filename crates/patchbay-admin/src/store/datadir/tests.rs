//! The data directory: records survive a reopen, torn tails are dropped and damage before
//! them is named, checkpoints start segments and keep the one before, a damaged checkpoint
//! falls back, the first layout is read and taken over, and a failed undo stops appends.

use std::fs;

use super::checkpoint::{LEGACY_CHECKPOINT, LEGACY_JOURNAL};
use super::*;

fn first_segment(dir: &Path) -> PathBuf {
    dir.join(segment_name(1))
}

fn positions(records: &Records) -> Vec<u64> {
    records.iter().map(|(position, _)| *position).collect()
}

fn checkpoint(store: &mut DataDir, position: u64, model: &[u8]) {
    let mut writer = store.begin_checkpoint(position).expect("begin");
    writer.write(model).expect("write");
    writer
        .finish(Arc::new(Snapshot::empty(position + 1)))
        .expect("finish");
}

#[test]
fn records_survive_reopen_and_torn_tails_are_dropped() {
    let tmp = tempfile::tempdir().expect("tempdir");
    {
        let mut store = DataDir::open(tmp.path()).expect("open");
        assert!(store.load().expect("load").records.is_empty());
        for position in 1..=3 {
            store
                .append(position, format!("change {position}").as_bytes())
                .expect("append");
        }
    }
    let full = fs::read(first_segment(tmp.path())).expect("segment");
    // Every cut inside the last record loses that record only, with a warning.
    let last_start = full.len() - (RECORD_HEADER + "change 3".len());
    for cut in last_start..full.len() {
        fs::write(first_segment(tmp.path()), &full[..cut]).expect("cut");
        let mut store = DataDir::open(tmp.path()).expect("open");
        let loaded = store.load().expect("load");
        assert_eq!(positions(&loaded.records), [1, 2], "cut at {cut}");
        assert_eq!(
            loaded.warnings.len(),
            usize::from(cut > last_start),
            "cut at {cut}"
        );
        // The torn bytes are gone, so the next append follows record 2 directly.
        store.append(3, b"again").expect("append");
        drop(store);
        let mut store = DataDir::open(tmp.path()).expect("open");
        assert_eq!(store.load().expect("load").records.len(), 3);
        fs::write(first_segment(tmp.path()), &full).expect("restore");
    }
}

#[test]
fn flipped_bytes_at_the_end_drop_only_the_last_record() {
    let tmp = tempfile::tempdir().expect("tempdir");
    {
        let mut store = DataDir::open(tmp.path()).expect("open");
        store.append(1, b"first").expect("append");
        store.append(2, b"second").expect("append");
    }
    let full = fs::read(first_segment(tmp.path())).expect("segment");
    let last_start = full.len() - (RECORD_HEADER + "second".len());
    for at in last_start..full.len() {
        let mut bad = full.clone();
        bad[at] ^= 0x40;
        fs::write(first_segment(tmp.path()), &bad).expect("write");
        let mut store = DataDir::open(tmp.path()).expect("open");
        let loaded = store.load().expect("load");
        assert_eq!(loaded.records, vec![(1, b"first".to_vec())], "flip at {at}");
    }
}

#[test]
fn corruption_before_the_tail_is_an_error_naming_the_file_and_offset() {
    let tmp = tempfile::tempdir().expect("tempdir");
    {
        let mut store = DataDir::open(tmp.path()).expect("open");
        store.append(1, b"first").expect("append");
        store.append(2, b"second").expect("append");
    }
    let mut bad = fs::read(first_segment(tmp.path())).expect("segment");
    bad[RECORD_HEADER + 1] ^= 0x01; // inside the first payload
    fs::write(first_segment(tmp.path()), &bad).expect("write");
    let mut store = DataDir::open(tmp.path()).expect("open");
    let err = store.load().expect_err("corrupt");
    assert!(
        matches!(err, StoreError::Corrupt { offset: 0, .. }),
        "{err}"
    );
    assert!(err.to_string().contains(&segment_name(1)), "{err}");
}

#[test]
fn one_process_owns_a_directory() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let first = DataDir::open(tmp.path()).expect("open");
    assert!(DataDir::is_locked(tmp.path()));
    let err = DataDir::open(tmp.path()).expect_err("locked");
    assert!(matches!(err, StoreError::Locked { .. }), "{err}");
    drop(first);
    assert!(!DataDir::is_locked(tmp.path()));
    DataDir::open(tmp.path()).expect("free again");
}

#[test]
fn read_only_opens_skip_the_lock_and_never_write() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut owner = DataDir::open(tmp.path()).expect("open");
    owner.append(1, b"a").expect("append");
    let mut journal = OpenOptions::new()
        .append(true)
        .open(first_segment(tmp.path()))
        .expect("journal");
    journal
        .write_all(b"PBJ1\x05")
        .expect("half a record, as if being written");
    let mut reader = DataDir::open_read_only(tmp.path()).expect("read-only");
    let loaded = reader.load().expect("load");
    assert_eq!(loaded.records, vec![(1, b"a".to_vec())]);
    assert!(loaded.warnings.is_empty());
    assert!(reader.append(2, b"b").is_err());
    assert!(reader.begin_checkpoint(1).is_err());
    // The half record is still there for the owner to deal with.
    assert_eq!(
        fs::metadata(first_segment(tmp.path())).expect("stat").len(),
        20 + 1 + 5
    );
    assert!(DataDir::open_read_only(tmp.path().join("missing")).is_err());
}

#[test]
fn a_checkpoint_starts_a_segment_and_covers_the_journal_once_finished() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut store = DataDir::open(tmp.path()).expect("open");
    store.append(1, b"a").expect("append");
    store.append(2, b"b").expect("append");
    let before = store.journal_len();
    assert!(before > 0);
    let mut writer = store.begin_checkpoint(2).expect("begin");
    // Appends go on while the checkpoint is written, into the new segment.
    store.append(3, b"c").expect("append");
    assert!(tmp.path().join(segment_name(3)).exists());
    writer.write(b"model at 2").expect("write");
    assert!(store.journal_len() > before, "not covered until finished");
    writer.finish(Arc::new(Snapshot::empty(7))).expect("finish");
    assert_eq!(
        store.journal_len(),
        (RECORD_HEADER + 1) as u64,
        "record 3 only"
    );
    drop(store);
    let mut store = DataDir::open(tmp.path()).expect("open");
    let loaded = store.load().expect("load");
    let checkpoint = loaded.checkpoint.expect("a checkpoint");
    assert_eq!(
        (checkpoint.position, checkpoint.model.as_slice()),
        (2, &b"model at 2"[..])
    );
    assert_eq!(checkpoint.snapshot.map(|s| s.version()), Some(7));
    assert_eq!(loaded.records, vec![(3, b"c".to_vec())]);
}

#[test]
fn an_unfinished_checkpoint_leaves_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut store = DataDir::open(tmp.path()).expect("open");
    store.append(1, b"a").expect("append");
    let mut writer = store.begin_checkpoint(1).expect("begin");
    writer.write(b"half").expect("write");
    drop(writer);
    store.append(2, b"b").expect("append");
    drop(store);
    let names: Vec<String> = fs::read_dir(tmp.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.contains("tmp")), "{names:?}");
    let loaded = DataDir::open(tmp.path())
        .expect("open")
        .load()
        .expect("load");
    assert!(loaded.checkpoint.is_none());
    assert_eq!(positions(&loaded.records), [1, 2]);
}

#[test]
fn two_checkpoints_are_kept_and_a_damaged_newest_falls_back() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut store = DataDir::open(tmp.path()).expect("open");
    let mut at = 0;
    for round in 1..=4u64 {
        for _ in 0..3 {
            at += 1;
            store
                .append(at, format!("change {at}").as_bytes())
                .expect("append");
        }
        checkpoint(&mut store, at, format!("model {round}").as_bytes());
    }
    at += 1;
    store.append(at, b"last").expect("append");
    drop(store);
    let listing = Listing::of(tmp.path()).expect("list");
    let kept: Vec<u64> = listing.checkpoints.iter().map(|(p, _, _)| *p).collect();
    assert_eq!(kept, [9, 12]);
    let starts: Vec<u64> = listing.segments.iter().map(|(s, _)| *s).collect();
    assert_eq!(
        starts,
        [10, 13],
        "the journal after the older checkpoint is kept"
    );
    // Damage the newest checkpoint: the one before it and the journal since answer.
    let newest = tmp.path().join(checkpoint::checkpoint_name(12));
    let mut bytes = fs::read(&newest).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    fs::write(&newest, &bytes).expect("damage");
    let loaded = DataDir::open(tmp.path())
        .expect("open")
        .load()
        .expect("load");
    let checkpoint = loaded.checkpoint.expect("the older checkpoint");
    assert_eq!(
        (checkpoint.position, checkpoint.model),
        (9, b"model 3".to_vec())
    );
    assert_eq!(positions(&loaded.records), [10, 11, 12, 13]);
    assert!(
        loaded
            .warnings
            .iter()
            .any(|w| w.contains("checksum") && w.contains("before it")),
        "{:?}",
        loaded.warnings
    );
    // With the journal it needs gone too, the damage is refused, naming the file.
    fs::remove_file(tmp.path().join(segment_name(10))).expect("remove");
    let err = DataDir::open(tmp.path())
        .expect("open")
        .load()
        .expect_err("refused");
    assert!(
        matches!(&err, StoreError::Corrupt { path, .. } if *path == newest),
        "{err}"
    );
}

#[test]
fn a_cut_short_checkpoint_is_passed_over() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut store = DataDir::open(tmp.path()).expect("open");
    store.append(1, b"a").expect("append");
    checkpoint(&mut store, 1, b"first model");
    store.append(2, b"b").expect("append");
    checkpoint(&mut store, 2, b"second model");
    drop(store);
    let newest = tmp.path().join(checkpoint::checkpoint_name(2));
    let bytes = fs::read(&newest).expect("read");
    for cut in [0, 10, bytes.len() / 2, bytes.len() - 1] {
        fs::write(&newest, &bytes[..cut]).expect("cut");
        let loaded = DataDir::open(tmp.path())
            .expect("open")
            .load()
            .expect("load");
        let checkpoint = loaded.checkpoint.expect("the older checkpoint");
        assert_eq!(checkpoint.position, 1, "cut at {cut}");
        assert_eq!(positions(&loaded.records), [2], "cut at {cut}");
    }
}

#[test]
fn a_damaged_snapshot_is_built_again() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut store = DataDir::open(tmp.path()).expect("open");
    store.append(1, b"a").expect("append");
    checkpoint(&mut store, 1, b"model");
    drop(store);
    let path = tmp.path().join(checkpoint::snapshot_name(1));
    let mut bytes = fs::read(&path).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    fs::write(&path, &bytes).expect("damage");
    let loaded = DataDir::open(tmp.path())
        .expect("open")
        .load()
        .expect("load");
    let checkpoint = loaded.checkpoint.expect("checkpoint");
    assert!(checkpoint.snapshot.is_none());
    assert!(
        loaded.warnings.iter().any(|w| w.contains("building")),
        "{:?}",
        loaded.warnings
    );
}

#[test]
fn the_first_layout_is_read_and_taken_over() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let model = br#"[{"op":"put_account","account_id":"a"}]"#;
    let legacy = format!(
        "{{\"seq\":2,\"crc\":{},\"model\":{}}}",
        crc32fast::hash(model),
        String::from_utf8_lossy(model)
    );
    fs::write(tmp.path().join(LEGACY_CHECKPOINT), legacy).expect("checkpoint");
    let mut journal = Vec::new();
    journal::encode_record(2, b"old, in the checkpoint", &mut journal);
    journal::encode_record(3, b"c", &mut journal);
    fs::write(tmp.path().join(LEGACY_JOURNAL), &journal).expect("journal");
    // Read beside its owner, it is read as it is.
    let loaded = DataDir::open_read_only(tmp.path())
        .expect("open")
        .load()
        .expect("load");
    assert_eq!(
        loaded.checkpoint.map(|c| (c.position, c.model)),
        Some((2, model.to_vec()))
    );
    assert_eq!(loaded.records, vec![(3, b"c".to_vec())]);
    assert!(DataDir::is_data_dir(tmp.path()) && DataDir::holds_changes(tmp.path()));
    // Taken, its journal becomes the segment after its checkpoint.
    let mut store = DataDir::open(tmp.path()).expect("open");
    assert!(!tmp.path().join(LEGACY_JOURNAL).exists());
    assert!(tmp.path().join(segment_name(3)).exists());
    let loaded = store.load().expect("load");
    assert_eq!(loaded.records, vec![(3, b"c".to_vec())]);
    store.append(4, b"d").expect("append");
    checkpoint(&mut store, 4, b"new model");
    store.append(5, b"e").expect("append");
    checkpoint(&mut store, 5, b"newer model");
    // Two newer checkpoints: the first layout's files are gone.
    assert!(!tmp.path().join(LEGACY_CHECKPOINT).exists());
    drop(store);
    let loaded = DataDir::open(tmp.path())
        .expect("open")
        .load()
        .expect("load");
    assert_eq!(
        loaded.checkpoint.map(|c| c.model),
        Some(b"newer model".to_vec())
    );
    assert!(loaded.records.is_empty());
}

#[cfg(target_os = "linux")]
#[test]
fn a_write_that_cannot_be_undone_stops_appends() {
    // /dev/full takes no bytes and cannot be cut back: the append fails and so does its
    // undo, which is what a disk that fails both ways does.
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut store = DataDir::open(tmp.path()).expect("open");
    store.append(1, b"a").expect("append");
    let full = OpenOptions::new()
        .append(true)
        .open("/dev/full")
        .expect("/dev/full");
    if let Some(active) = store.active.as_mut() {
        active.file = full;
    }
    let err = store.append(2, b"b").expect_err("disk full");
    assert!(matches!(err, StoreError::Io { .. }), "{err}");
    let err = store.append(2, b"b").expect_err("poisoned");
    assert!(matches!(err, StoreError::Poisoned { .. }), "{err}");
    assert!(err.to_string().contains("restart patchbay"), "{err}");
}
