use super::*;
use crate::connector::ClientEnv;

pub(crate) fn connector(id: &str) -> Connector {
    Connector {
        connector_id: id.into(),
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

fn number(i: u64) -> E164 {
    E164::from_u64(14_155_550_000 + i).expect("valid")
}

fn sample(version: u64, numbers: u64, connectors: u64) -> Snapshot {
    let all: Vec<Connector> = (0..connectors)
        .map(|c| connector(&format!("c{c}")))
        .collect();
    Snapshot::from_routes(
        version,
        (0..numbers).map(|i| (number(i), &all[(i % connectors) as usize])),
    )
    .expect("build")
}

fn assert_same(a: &Snapshot, b: &Snapshot) {
    assert_eq!(a.version(), b.version());
    assert_eq!(a.published_at(), b.published_at());
    assert_eq!(a.len(), b.len());
    assert!(a.connectors().eq(b.connectors()));
    assert_eq!(a.connector_count(), b.connector_count());
    let mut left: Vec<(E164, &Connector)> = a.iter().collect();
    let mut right: Vec<(E164, &Connector)> = b.iter().collect();
    left.sort_by_key(|(n, _)| *n);
    right.sort_by_key(|(n, _)| *n);
    assert_eq!(left, right);
    for (n, c) in left {
        assert_eq!(b.get(n), Some(c));
    }
}

#[test]
fn routes_each_number_to_its_connector_and_nothing_else() {
    let snapshot = sample(3, 1000, 7);
    assert_eq!(snapshot.len(), 1000);
    assert_eq!(snapshot.connector_count(), 7);
    for i in 0..1000 {
        let c = snapshot.get(number(i)).expect("routed");
        assert_eq!(c.connector_id, format!("c{}", i % 7));
    }
    assert_eq!(snapshot.get(number(1000)), None);
    assert_eq!(
        snapshot.connector("c3").map(|c| c.name.as_str()),
        Some("connector c3")
    );
    assert_eq!(snapshot.connector("c7"), None);
    assert_eq!(snapshot.iter().count(), 1000);
    assert_eq!(
        snapshot
            .lookup("+1 415 555 0042")
            .ok()
            .flatten()
            .map(|c| c.connector_id.as_str()),
        Some("c0")
    );
    assert!(snapshot.lookup("not a number").is_err());
}

#[test]
fn build_rejects_duplicates_and_conflicts() {
    let a = connector("a");
    let err = Snapshot::from_routes(1, [(number(1), &a), (number(1), &a)]).expect_err("dup");
    assert_eq!(err, BuildError::DuplicateNumber(Some(number(1))));
    let mut other = connector("a");
    other.name = "different".into();
    let err =
        Snapshot::from_routes(1, [(number(1), &a), (number(2), &other)]).expect_err("conflict");
    assert_eq!(err, BuildError::ConflictingConnector("a".into()));
    let mut builder = Snapshot::builder(1);
    builder.connector(connector("x")).expect("first");
    assert_eq!(
        builder.connector(connector("x")),
        Err(BuildError::DuplicateConnector("x".into()))
    );
    let foreign = Snapshot::builder(1)
        .connector(connector("y"))
        .expect("slot");
    let mut empty = Snapshot::builder(1);
    assert_eq!(
        empty.route(number(1), foreign),
        Err(BuildError::UnknownSlot)
    );
}

#[test]
fn empty_snapshots_answer_nothing_and_round_trip() {
    let empty = Snapshot::empty(9);
    assert!(empty.is_empty());
    assert_eq!(empty.get(number(0)), None);
    let back = Snapshot::from_file_bytes(&empty.to_file_bytes().expect("bytes")).expect("open");
    assert_same(&empty, &back);
}

/// The file written from the shards in place is, byte for byte, the archive of their
/// buckets copied into one array, wherever the writer starts.
#[test]
fn a_file_written_from_the_shards_is_the_file_of_their_buckets_copied() {
    use std::io::{Seek, SeekFrom};
    let mut builder = Snapshot::builder(3);
    let slots: Vec<_> = (0..7)
        .map(|c| {
            builder
                .connector(connector(&format!("c{c}")))
                .expect("connector")
        })
        .collect();
    for i in 0..50_000u64 {
        builder
            .route(number(i), slots[(i % 7) as usize])
            .expect("route");
    }
    for (p, slot) in [("+4420", 1), ("+1202", 2), ("+33", 3)] {
        builder
            .route_prefix(p.parse().expect("prefix"), slots[slot])
            .expect("route");
    }
    let snapshot = builder.build().expect("build");
    assert!(snapshot.index.shard_count() > 4);
    assert_eq!(snapshot.prefix_count(), 3);
    let reference = super::file::tests_support::reference_file(&snapshot);
    assert_eq!(snapshot.to_file_bytes().expect("bytes"), reference);
    let mut out = std::io::Cursor::new(vec![7u8; 10]);
    out.seek(SeekFrom::End(0)).expect("seek");
    let len = snapshot.write_file(&mut out).expect("write");
    assert_eq!(len, reference.len() as u64);
    assert_eq!(out.position(), 10 + len);
    let written = out.into_inner();
    assert_eq!(written[..10], [7u8; 10]);
    assert_eq!(written[10..], reference[..]);
    let back = Snapshot::from_file_bytes(&written[10..]).expect("open");
    assert_same(&snapshot, &back);
}

#[test]
fn files_round_trip_mapped_and_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("routes.snap");
    let snapshot = sample(42, 5000, 13);
    let size = snapshot.write_to(&path).expect("write");
    assert_eq!(size, std::fs::metadata(&path).expect("stat").len());
    // Written as header and payload, the file is the bytes of `to_file_bytes`.
    assert_eq!(
        std::fs::read(&path).expect("read"),
        snapshot.to_file_bytes().expect("bytes")
    );
    let mapped = Snapshot::open(&path).expect("open");
    assert!(format!("{mapped:?}").contains("stored: true"));
    assert_same(&snapshot, &mapped);
    assert_same(&snapshot, &Snapshot::read(&path).expect("read"));
    // No temporary files are left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path()).expect("ls").collect();
    assert_eq!(names.len(), 1);
    // Mapped buckets are cache-line aligned.
    assert!(mapped.shard_addresses().iter().all(|&at| at % 64 == 0));
}

#[test]
fn corruption_at_every_byte_offset_is_an_error() {
    let bytes = sample(5, 40, 3).to_file_bytes().expect("bytes");
    for at in 0..bytes.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut bad = bytes.clone();
            bad[at] ^= flip;
            assert!(
                Snapshot::from_file_bytes(&bad).is_err(),
                "flipping {flip:#x} at byte {at} of {} went unnoticed",
                bytes.len()
            );
        }
    }
}

#[test]
fn truncation_and_extension_are_errors() {
    let bytes = sample(5, 40, 3).to_file_bytes().expect("bytes");
    for len in 0..bytes.len() {
        let err = Snapshot::from_file_bytes(&bytes[..len]).expect_err("truncated");
        assert!(
            matches!(err.kind(), FileErrorKind::Truncated { .. }),
            "length {len}: {err}"
        );
    }
    let mut longer = bytes.clone();
    longer.push(0);
    let err = Snapshot::from_file_bytes(&longer).expect_err("longer");
    assert!(
        matches!(err.kind(), FileErrorKind::TrailingBytes { .. }),
        "{err}"
    );
}

#[test]
fn foreign_and_future_files_are_named_as_such() {
    let err = Snapshot::from_file_bytes(
        b"GIF89a, clearly not a snapshot at all, but long enough to hold a header",
    )
    .expect_err("foreign");
    assert!(matches!(err.kind(), FileErrorKind::NotASnapshot), "{err}");
    // A later format, and the earlier one (its index placed keys by another hash).
    for other in [FORMAT_VERSION + 1, FORMAT_VERSION - 1] {
        let mut bytes = sample(1, 3, 1).to_file_bytes().expect("bytes");
        bytes[8..12].copy_from_slice(&other.to_le_bytes());
        let err = Snapshot::from_file_bytes(&bytes).expect_err("other format");
        assert!(
            matches!(err.kind(), FileErrorKind::UnsupportedFormat { found } if *found == other),
            "{err}"
        );
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let err = Snapshot::open(dir.path().join("missing.snap")).expect_err("missing");
    assert!(matches!(err.kind(), FileErrorKind::Io(_)));
    assert!(err.to_string().contains("missing.snap"), "{err}");
}

/// Crafted files with a correct checksum: the archive and index checks must catch them.
#[test]
fn crafted_payloads_with_valid_checksums_are_rejected() {
    let bytes = sample(5, 40, 3).to_file_bytes().expect("bytes");
    let reseal = |mut b: Vec<u8>| {
        let crc = super::file::tests_support::checksum(&b);
        b[56..60].copy_from_slice(&crc.to_le_bytes());
        b
    };
    assert!(Snapshot::from_file_bytes(&reseal(bytes.clone())).is_ok());
    let mut rejected = 0;
    for at in HEADER_LEN..bytes.len() {
        let mut bad = bytes.clone();
        bad[at] ^= 0x5a;
        if let Ok(snapshot) = Snapshot::from_file_bytes(&reseal(bad)) {
            // Whatever passes must still be self-consistent.
            assert_eq!(snapshot.iter().count(), snapshot.len());
            for (n, c) in snapshot.iter() {
                assert_eq!(snapshot.get(n), Some(c));
            }
        } else {
            rejected += 1;
        }
    }
    assert!(rejected > 0);
}

#[test]
fn a_mapped_snapshot_survives_replacement_of_its_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("routes.snap");
    sample(1, 100, 2).write_to(&path).expect("write v1");
    let old = Snapshot::open(&path).expect("open v1");
    // Replace the file many times while the old mapping is used.
    for version in 2..20 {
        sample(version, 10 + version, 1)
            .write_to(&path)
            .expect("write");
        assert_eq!(old.version(), 1);
        assert_eq!(old.len(), 100);
        for i in 0..100 {
            assert_eq!(
                old.get(number(i)).map(|c| c.connector_id.clone()),
                Some(format!("c{}", i % 2))
            );
        }
    }
    assert_eq!(Snapshot::open(&path).expect("open latest").version(), 19);
}

#[test]
fn files_are_compact() {
    let bytes = sample(1, 100_000, 50).to_file_bytes().expect("bytes");
    let per_number = bytes.len() as f64 / 100_000.0;
    assert!(per_number <= 24.0, "{per_number} bytes per number");
}

#[test]
fn connector_changes_share_the_index_of_built_and_mapped_snapshots() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("routes.snap");
    let built = sample(1, 1000, 3);
    built.write_to(&path).expect("write");
    let mapped = Snapshot::open(&path).expect("open");
    for base in [&built, &mapped] {
        let mut changed = connector("c1");
        changed.variant_id = "new".into();
        let next = base
            .with_connectors(2, [changed.clone(), connector("c9")])
            .expect("with");
        assert_eq!(next.version(), 2);
        assert_eq!(next.len(), 1000);
        assert_eq!(
            next.shard_addresses(),
            base.shard_addresses(),
            "the index is shared"
        );
        assert_eq!(next.get(number(1)), Some(&changed));
        assert_eq!(
            next.get(number(0)).map(|c| c.connector_id.as_str()),
            Some("c0")
        );
        assert_eq!(next.connector("c9"), Some(&connector("c9")));
        assert_eq!(
            base.get(number(1)),
            Some(&connector("c1")),
            "the old snapshot is unchanged"
        );
        let round_trip =
            Snapshot::from_file_bytes(&next.to_file_bytes().expect("bytes")).expect("open");
        assert_same(&next, &round_trip);
    }
}

/// A patch told to keep its shards leaves an outgrown index as it is; the snapshot says it
/// has outgrown them, and `regrown` rebuilds it with more, routing the same.
#[test]
fn an_outgrown_index_is_kept_or_regrown_as_asked() {
    let base = sample(1, 100, 1);
    assert_eq!(base.shard_count(), 1);
    assert!(!base.outgrown());
    let grow = |kept: bool| {
        let mut patch = base.patch(2);
        for i in 100..(index::MAX_AVERAGE as u64 + 1_000) {
            patch.route(number(i), "c0");
        }
        if kept {
            patch.keep_shards();
        }
        patch.finish().expect("patch")
    };
    let inline = grow(false);
    assert!(inline.shard_count() > 1, "an ordinary patch regrows inline");
    assert!(!inline.outgrown());
    let kept = grow(true);
    assert_eq!(kept.shard_count(), 1, "the shards are kept");
    assert!(kept.outgrown());
    assert_eq!(kept.len(), inline.len());
    for i in (0..index::MAX_AVERAGE as u64 + 1_000).step_by(89) {
        assert_eq!(kept.get(number(i)), inline.get(number(i)), "{i}");
    }
    let regrown = kept.regrown(3).expect("regrown");
    assert!(regrown.shard_count() > 1 && !regrown.outgrown());
    assert_eq!(regrown.version(), 3);
    assert_eq!(regrown.len(), kept.len());
    for i in (0..index::MAX_AVERAGE as u64 + 1_000).step_by(97) {
        assert_eq!(regrown.get(number(i)), kept.get(number(i)), "{i}");
    }
    assert_eq!(regrown.get(number(index::MAX_AVERAGE as u64 + 1_000)), None);
}

/// `regrown_for` sizes the index for numbers still to come: as many shards as an index of
/// that many numbers is built with, routing the same, and patches then fill it without
/// outgrowing it; it never gives fewer shards than the numbers held want.
#[test]
fn an_index_regrown_for_numbers_to_come_has_room_for_them() {
    let base = sample(1, 100, 1);
    let coming = 50 * index::TARGET;
    assert!(!base.has_room_for(coming));
    assert!(base.has_room_for(100));
    let sized = base.regrown_for(2, coming).expect("regrown");
    assert_eq!(sized.shard_count(), index::shard_count(coming));
    assert!(sized.has_room_for(coming));
    assert_eq!(sized.version(), 2);
    assert_eq!(sized.len(), base.len());
    for i in 0..100 {
        assert_eq!(sized.get(number(i)), base.get(number(i)), "{i}");
    }
    let mut patch = sized.patch(3);
    for i in 100..coming as u64 {
        patch.route(number(i), "c0");
    }
    let filled = patch.finish().expect("patch");
    assert_eq!(
        filled.shard_count(),
        sized.shard_count(),
        "no rebuild on the way"
    );
    assert!(!filled.outgrown());
    assert_eq!(
        filled
            .get(number(coming as u64 - 1))
            .map(|c| c.connector_id.as_str()),
        Some("c0")
    );
    // Asked for fewer than it holds: shards for what it holds.
    let small = filled.regrown_for(4, 10).expect("regrown");
    assert_eq!(small.shard_count(), index::shard_count(filled.len()));
}
