//! Reads through a memory map (`SqliteOptions::mmap_mib`, on by default on 64-bit targets)
//! return what reads with `pread` return: the same events from the database file, from the
//! write-ahead log and from the part of the file that grew after the map was made.

use std::path::Path;

use opsledger_store::contract::{ev, stream};
use opsledger_store::{
    Durability, ExpectedVersion, NewEvent, Position, Storage, StoreConfig, StoreError, StoredEvent,
    Version,
};
use opsledger_store_sqlite::{SqliteOptions, SqliteStorage};

/// Streams the events are spread over.
const STREAMS: u64 = 13;

fn open(dir: &Path, mmap_mib: i64) -> SqliteStorage {
    SqliteStorage::open(
        dir,
        StoreConfig::default().with_durability(Durability::Buffered),
        // A page cache far smaller than the file, so that reads go to the file.
        SqliteOptions {
            cache_kib: 64,
            mmap_mib,
            ..SqliteOptions::default()
        },
    )
    .unwrap()
}

/// Event `i` with a payload of about 2 KB.
fn event(i: u64) -> NewEvent {
    let mut e = ev(u128::from(i));
    e.payload = format!("{{\"n\":{i},\"pad\":\"{}\"}}", "x".repeat(2_000)).into_bytes();
    e
}

fn append(storage: &SqliteStorage, events: std::ops::Range<u64>) {
    for i in events {
        storage
            .log()
            .append(
                &stream(&format!("s-{}", i % STREAMS)),
                ExpectedVersion::Any,
                vec![event(i)],
            )
            .unwrap();
    }
}

/// The whole log, then every stream, as the store reads them.
fn everything(storage: &SqliteStorage) -> (Vec<StoredEvent>, Vec<Vec<StoredEvent>>) {
    let log = storage.log();
    let mut all = Vec::new();
    loop {
        let from = Position(all.last().map_or(1, |e: &StoredEvent| e.position.0 + 1));
        let page = log.read_all(from, 100).unwrap();
        if page.is_empty() {
            break;
        }
        all.extend(page);
    }
    let streams = (0..STREAMS)
        .map(|s| {
            log.read_stream(&stream(&format!("s-{s}")), Version(1), 1_000)
                .unwrap()
        })
        .collect();
    (all, streams)
}

#[test]
fn reads_through_the_memory_map_equal_reads_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let default = SqliteOptions::default().mmap_mib;
    // Written with the map in use, read while part of the log is still in the write-ahead log.
    let storage = open(dir.path(), default);
    append(&storage, 0..600);
    let written = everything(&storage);
    assert_eq!(written.0.len(), 600);
    assert_eq!(written.1.iter().map(Vec::len).sum::<usize>(), 600);
    Box::new(storage).close(0).unwrap();

    // The same file read with `pread` only, then through the map.
    let unmapped = open(dir.path(), 0);
    assert_eq!(everything(&unmapped), written);
    Box::new(unmapped).close(0).unwrap();
    let mapped = open(dir.path(), default);
    assert_eq!(everything(&mapped), written);

    // The file grows past what was mapped at the first read; the new events are read too.
    append(&mapped, 600..1_200);
    mapped.log().flush().unwrap();
    let grown = everything(&mapped);
    assert_eq!(grown.0.len(), 1_200);
    assert_eq!(grown.0[..600], written.0[..]);
    Box::new(mapped).close(0).unwrap();
    let unmapped = open(dir.path(), 0);
    assert_eq!(everything(&unmapped), grown);
}

#[test]
fn a_negative_map_size_is_refused() {
    let options = SqliteOptions {
        mmap_mib: -1,
        ..SqliteOptions::default()
    };
    assert!(matches!(
        options.validate(),
        Err(StoreError::InvalidConfig(reason)) if reason.contains("mmap_mib")
    ));
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        SqliteStorage::open(dir.path(), StoreConfig::default(), options),
        Err(StoreError::InvalidConfig(_))
    ));
}
