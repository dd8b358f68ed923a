//! sled-specific behaviour: persistence across reopen, index recovery, lifecycle.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use opsledger_store::{
    Durability, EventStore, ExpectedVersion, ManualClock, Position, StoreConfig, StoreError,
    Upcasters, Version,
};
use opsledger_store_sled::{SledOptions, SledStore};

fn config() -> StoreConfig {
    StoreConfig::default()
        .with_durability(Durability::Buffered)
        .with_clock(Arc::new(ManualClock::new(t0())))
}

#[test]
fn everything_survives_close_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path(), config()).unwrap();
    for i in 0..3_000u128 {
        let name = format!("s-{}", i % 37);
        store
            .append(&stream(&name), ExpectedVersion::Any, vec![ev(i)])
            .unwrap();
    }
    let before = store.read_all(Position::BEGINNING, 10_000).unwrap();
    store.close().unwrap();

    let store = SledStore::open(dir.path(), config()).unwrap();
    assert_eq!(store.head().unwrap(), Position(3_000));
    assert_eq!(store.read_all(Position::BEGINNING, 10_000).unwrap(), before);
    for s in 0..37u128 {
        let name = stream(&format!("s-{s}"));
        let events = store.read_stream(&name, Version::FIRST, 1_000).unwrap();
        assert_eq!(store.stream_version(&name).unwrap().0, events.len() as u64);
        assert!(
            events
                .iter()
                .enumerate()
                .all(|(i, e)| e.version.0 == i as u64 + 1 && e.stream == name)
        );
    }
    // Idempotency and conflicts still see the old events through the persisted indexes.
    assert!(
        store
            .append(&stream("s-0"), ExpectedVersion::Any, vec![ev(0)])
            .unwrap()
            .was_duplicate
    );
    let err = store
        .append(&stream("s-1"), ExpectedVersion::NoStream, vec![ev(99_999)])
        .unwrap_err();
    assert!(matches!(err, StoreError::WrongExpectedVersion { .. }));
    let o = store
        .append(
            &stream("s-1"),
            ExpectedVersion::Exact(Version(82)),
            vec![ev(99_999)],
        )
        .unwrap();
    assert_eq!(
        (o.first_position, o.first_version),
        (Position(3_001), Version(82 + 1))
    );
    let report = store.verify().unwrap();
    assert!(report.is_clean(), "{:?}", report.faults);
    assert_eq!(report.events_checked, 3_001);
    assert_eq!(report.streams, 37);
}

#[test]
fn upcaster_registry_change_makes_newer_stored_versions_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path(), config()).unwrap();
    let mut e = ev(1);
    e.event_type = "t".into();
    e.schema_version = 3;
    store
        .append(&stream("a"), ExpectedVersion::Any, vec![e])
        .unwrap();
    store.close().unwrap();
    let mut up = Upcasters::new();
    up.declare_current("t", 2);
    let store = SledStore::open(dir.path(), config().with_upcasters(up)).unwrap();
    let err = store.read_all(Position::BEGINNING, 10).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::UnknownSchemaVersion {
                schema_version: 3,
                latest: 2,
                position: Some(Position(1)),
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn subscriptions_end_when_the_store_closes() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path(), config()).unwrap();
    store
        .append(&stream("a"), ExpectedVersion::Any, evs(0..2))
        .unwrap();
    let mut sub = store.subscribe(Position::BEGINNING).unwrap();
    let waiter = std::thread::spawn(move || {
        let mut got = Vec::new();
        for e in sub.by_ref() {
            got.push(e.unwrap().position.0);
        }
        (got, sub.next_timeout(Duration::from_millis(1)))
    });
    std::thread::sleep(Duration::from_millis(50));
    store.close().unwrap();
    let (got, after) = waiter.join().unwrap();
    assert_eq!(got, vec![1, 2]);
    assert!(matches!(after, Err(StoreError::Closed)));
    // The directory is released: it can be opened again at once.
    let store = SledStore::open(dir.path(), config()).unwrap();
    assert_eq!(store.head().unwrap(), Position(2));
}

#[test]
fn every_durability_mode_round_trips_and_flushes() {
    for durability in [
        Durability::Buffered,
        Durability::PerCommit,
        Durability::GroupCommit,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path(), config().with_durability(durability)).unwrap();
        std::thread::scope(|s| {
            for t in 0..4u128 {
                let store = &store;
                s.spawn(move || {
                    for i in 0..25u128 {
                        let name = stream(&format!("t{t}"));
                        store
                            .append(&name, ExpectedVersion::Any, vec![ev(t * 1000 + i)])
                            .unwrap();
                    }
                });
            }
        });
        store.flush().unwrap();
        assert_eq!(store.head().unwrap(), Position(100));
        drop(store);
        let store = SledStore::open(dir.path(), config()).unwrap();
        assert_eq!(
            store.read_all(Position::BEGINNING, 1000).unwrap().len(),
            100,
            "{durability:?}"
        );
        assert!(store.verify().unwrap().is_clean());
    }
}

#[test]
fn a_second_open_of_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _store = SledStore::open(dir.path(), config()).unwrap();
    let err = SledStore::open(dir.path(), config()).unwrap_err();
    assert!(
        matches!(err, StoreError::Io(_) | StoreError::Backend(_)),
        "{err}"
    );
}

#[test]
fn invalid_config_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config();
    c.limits.max_payload_bytes = 1 << 20;
    assert!(matches!(
        SledStore::open(dir.path(), c).unwrap_err(),
        StoreError::InvalidConfig(_)
    ));
}

#[test]
fn a_foreign_sled_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = sled::Config::new()
            .path(dir.path())
            .segment_size(8 << 20)
            .open()
            .unwrap();
        db.open_tree("opsledger-log")
            .unwrap()
            .insert(b"Xformat", b"something-else/9")
            .unwrap();
        db.flush().unwrap();
    }
    let err = SledStore::open(dir.path(), config()).unwrap_err();
    assert!(matches!(err, StoreError::InvalidConfig(_)), "{err}");
}

/// The stable log sequence number of sled's newest page-table snapshot in `dir` (its file is
/// `snap.<LSN in hex>`), or `None` without one.
fn snapshot_lsn(dir: &std::path::Path) -> Option<u64> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            let hex = name.strip_prefix("snap.")?.to_owned();
            u64::from_str_radix(&hex, 16).ok()
        })
        .max()
}

fn fill(store: &SledStore, from: u128, to: u128) {
    for i in from..to {
        store
            .append(
                &stream(&format!("s-{}", i % 11)),
                ExpectedVersion::Any,
                vec![ev(i)],
            )
            .unwrap();
    }
}

#[test]
fn a_clean_close_brings_sleds_page_table_snapshot_up_to_date() {
    let dir = tempfile::tempdir().unwrap();
    let with = |min: Option<u64>| SledOptions {
        page_table_refresh_min_events: min,
        ..SledOptions::default()
    };
    assert_eq!(
        SledOptions::default().page_table_refresh_min_events,
        Some(10_000),
        "the default"
    );

    // Without the refresh, the snapshot stays where the open left it: the next open reads
    // everything written since.
    let store = SledStore::open_with(dir.path(), config(), with(None)).unwrap();
    let at_open = snapshot_lsn(dir.path());
    fill(&store, 0, 1_000);
    store.close().unwrap();
    assert_eq!(snapshot_lsn(dir.path()), at_open);

    // Nor after a run that wrote less than the threshold.
    let store = SledStore::open_with(dir.path(), config(), with(Some(1_001))).unwrap();
    let at_open = snapshot_lsn(dir.path());
    fill(&store, 1_000, 2_000);
    store.close().unwrap();
    assert_eq!(snapshot_lsn(dir.path()), at_open);

    // At the threshold, the close writes a snapshot covering this run's writes.
    let store = SledStore::open_with(dir.path(), config(), with(Some(2_000))).unwrap();
    let at_open = snapshot_lsn(dir.path()).expect("sled writes one at open");
    fill(&store, 2_000, 4_000);
    store.close().unwrap();
    let at_close = snapshot_lsn(dir.path()).expect("snapshot");
    assert!(at_close > at_open, "{at_close} > {at_open}");

    // Nothing changed but the snapshot: everything reads back, and the next open finds the
    // snapshot it would have written itself.
    let store = SledStore::open(dir.path(), config()).unwrap();
    assert_eq!(snapshot_lsn(dir.path()), Some(at_close));
    assert_eq!(store.head().unwrap(), Position(4_000));
    assert_eq!(
        store.read_all(Position::BEGINNING, 10_000).unwrap().len(),
        4_000
    );
    assert_eq!(store.verify().unwrap().faults, vec![]);
}

#[test]
fn a_refresh_leaves_a_database_that_is_still_open_alone() {
    use opsledger_store_sled::page_table::{Refresh, refresh};
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path(), config()).unwrap();
    fill(&store, 0, 100);
    let before = snapshot_lsn(dir.path());
    let sled_config = sled::Config::new()
        .path(dir.path())
        .segment_size(8 * 1024 * 1024);
    assert_eq!(refresh(&sled_config).unwrap(), Refresh::StillOpen);
    assert_eq!(snapshot_lsn(dir.path()), before);
    // The open store is untouched and still writes.
    fill(&store, 100, 200);
    assert_eq!(store.head().unwrap(), Position(200));
    store.close().unwrap();
    assert!(matches!(
        refresh(&sled_config).unwrap(),
        Refresh::Written(_)
    ));
}
