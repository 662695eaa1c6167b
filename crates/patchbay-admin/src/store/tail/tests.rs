//! Following a data directory: on from where it stopped, across segments and checkpoints,
//! a gap when it fell behind what the directory keeps, and a record being written left for
//! the next read.

use std::fs;

use patchbay_core::Snapshot;

use super::*;
use crate::store::datadir::segment_name;
use crate::store::CheckpointWriter;

/// A journal record's payload: a change of nothing.
fn change(_: u64) -> Vec<u8> {
    b"[]".to_vec()
}

fn positions(records: &Records) -> Vec<u64> {
    records.iter().map(|(position, _)| *position).collect()
}

/// A finished checkpoint at `position` of an empty model.
fn checkpoint(owner: &mut DataDir, position: u64) {
    let mut writer: Box<dyn CheckpointWriter> = owner.begin_checkpoint(position).expect("begin");
    writer.write(&Model::default().encode()).expect("write");
    writer
        .finish(std::sync::Arc::new(Snapshot::empty(1)))
        .expect("finish");
}

#[test]
fn reads_on_from_where_it_stopped_and_across_checkpoints() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut owner = DataDir::open(tmp.path()).expect("open");
    owner.append(1, &change(1)).expect("append");
    let mut feed = DirFeed::new(tmp.path()).expect("feed");
    let (records, newest) = feed.read(0, 100).expect("read");
    assert_eq!((positions(&records), newest), (vec![1], 1));
    owner.append(2, &change(2)).expect("append");
    owner.append(3, &change(3)).expect("append");
    assert!(feed.wait(Duration::from_millis(200)).expect("wait"));
    let (records, newest) = feed.read(1, 100).expect("read");
    assert_eq!((positions(&records), newest), (vec![2, 3], 3));
    // A limit leaves the rest for the next read.
    owner.append(4, &change(4)).expect("append");
    owner.append(5, &change(5)).expect("append");
    let (records, _) = feed.read(3, 1).expect("read");
    assert_eq!(positions(&records), vec![4]);
    let (records, _) = feed.read(4, 100).expect("read");
    assert_eq!(positions(&records), vec![5]);
    // Nothing new: no wake-up.
    assert!(!feed.wait(Duration::from_millis(20)).expect("wait"));
    // A checkpoint starts a segment: the reader finishes the old one and moves on.
    owner.append(6, &change(6)).expect("append");
    checkpoint(&mut owner, 6);
    owner.append(7, &change(7)).expect("append");
    assert!(feed.wait(Duration::from_millis(200)).expect("wait"));
    let (records, newest) = feed.read(5, 100).expect("read");
    assert_eq!((positions(&records), newest), (vec![6, 7], 7));
    assert_eq!(feed.segment, Some(7));
}

#[test]
fn a_reader_behind_what_the_directory_keeps_sees_the_gap_and_loads_it_whole() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut owner = DataDir::open(tmp.path()).expect("open");
    owner.append(1, &change(1)).expect("append");
    let mut feed = DirFeed::new(tmp.path()).expect("feed");
    assert_eq!(positions(&feed.read(0, 100).expect("read").0), vec![1]);
    // Three checkpoints later, the segment the reader was in is gone.
    let mut at = 1;
    for _ in 0..3 {
        for _ in 0..10 {
            at += 1;
            owner.append(at, &change(at)).expect("append");
        }
        checkpoint(&mut owner, at);
    }
    owner.append(at + 1, &change(at + 1)).expect("append");
    assert!(!tmp.path().join(segment_name(1)).exists());
    let (records, newest) = feed.read(1, 1000).expect("read");
    assert!(records.is_empty(), "{:?}", positions(&records));
    assert!(newest > 1, "the gap shows: newest {newest}");
    let (position, model) = feed.whole().expect("tables");
    assert_eq!(position, at + 1);
    assert_eq!(model.check_invariants(), Ok(()));
    assert!(feed.read(at + 1, 100).expect("read").0.is_empty());
    owner.append(at + 2, &change(at + 2)).expect("append");
    assert_eq!(
        positions(&feed.read(at + 1, 100).expect("read").0),
        vec![at + 2]
    );
}

#[test]
fn a_record_being_written_is_left_for_the_next_read() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut owner = DataDir::open(tmp.path()).expect("open");
    owner.append(1, &change(1)).expect("append");
    let mut feed = DirFeed::new(tmp.path()).expect("feed");
    assert_eq!(positions(&feed.read(0, 100).expect("read").0), vec![1]);
    // Half a record at the end: the owner is writing it.
    let journal = tmp.path().join(segment_name(1));
    let mut bytes = fs::read(&journal).expect("journal");
    let first = bytes.clone();
    bytes.extend_from_slice(&first[..first.len() / 2]);
    fs::write(&journal, &bytes).expect("write");
    let (records, newest) = feed.read(1, 100).expect("read");
    assert!(records.is_empty());
    assert_eq!(newest, 1);
    assert_eq!(
        feed.offset,
        first.len() as u64,
        "the offset stays before it"
    );
}

#[test]
fn a_directory_that_is_not_a_data_directory_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let err = DirFeed::new(tmp.path()).err().expect("refused");
    assert!(
        err.to_string().contains("not a patchbay data directory"),
        "{err}"
    );
}

#[cfg(target_os = "linux")]
#[test]
fn a_waiting_reader_is_woken_by_the_kernel_when_a_change_is_written() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut owner = DataDir::open(tmp.path()).expect("open");
    owner.append(1, &change(1)).expect("append");
    let mut feed = DirFeed::new(tmp.path()).expect("feed");
    assert!(feed.watch.is_some(), "the kernel watches the directory");
    assert_eq!(positions(&feed.read(0, 100).expect("read").0), vec![1]);
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        owner.append(2, &change(2)).expect("append");
        owner
    });
    // Woken by the write, long before the wait would end on its own.
    let started = Instant::now();
    assert!(feed.wait(Duration::from_secs(30)).expect("wait"));
    assert!(started.elapsed() < Duration::from_secs(20));
    let _owner = writer.join().expect("writer");
    assert_eq!(positions(&feed.read(1, 100).expect("read").0), vec![2]);
    // Nothing since: the wait ends at its timeout, with nothing.
    assert!(!feed.wait(Duration::from_millis(50)).expect("wait"));
}
