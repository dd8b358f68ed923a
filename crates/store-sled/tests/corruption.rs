//! Damaged bytes: typed errors or verify faults naming the position, never a panic, never a
//! wrong event.

mod common;

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use common::*;
use opsledger_store::{
    Durability, EventStore, ExpectedVersion, FaultKind, Position, StoreConfig, StoreError,
    StoredEvent, Version,
};
use opsledger_store_sled::SledStore;

const EVENTS: u128 = 300;

fn config() -> StoreConfig {
    StoreConfig::default().with_durability(Durability::Buffered)
}

fn stream_of(i: u128) -> String {
    format!("s-{}", i % 11)
}

/// A closed store holding `EVENTS` events, position p = ev(p - 1).
fn build(dir: &Path) {
    let store = SledStore::open(dir, config()).unwrap();
    for i in 0..EVENTS {
        store
            .append(&stream(&stream_of(i)), ExpectedVersion::Any, vec![ev(i)])
            .unwrap();
    }
    store.close().unwrap();
}

/// Runs `f` on the raw sled tree of a closed store. The open waits, as the store's own does,
/// for sled's background I/O of the closed handle to let go of the lock.
fn with_raw_tree(dir: &Path, f: impl FnOnce(&sled::Tree)) {
    let config = sled::Config::new().path(dir).segment_size(8 << 20);
    let db = opsledger_store_sled::page_table::open_db(&config).unwrap();
    let tree = db.open_tree("opsledger-log").unwrap();
    f(&tree);
    db.flush().unwrap();
}

fn event_key(p: u64) -> Vec<u8> {
    let mut k = vec![b'E'];
    k.extend_from_slice(&p.to_be_bytes());
    k
}

/// An event read back must be exactly the one written at its position.
fn assert_genuine(e: &StoredEvent) {
    let i = u128::from(e.position.0 - 1);
    let want = ev(i);
    assert_eq!(e.event_id, want.event_id, "wrong event at {}", e.position);
    assert_eq!(e.payload, want.payload, "wrong payload at {}", e.position);
    assert_eq!(
        e.stream.as_str(),
        stream_of(i),
        "wrong stream at {}",
        e.position
    );
}

#[test]
fn a_damaged_record_is_a_typed_error_naming_its_position() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    with_raw_tree(dir.path(), |tree| {
        let mut v = tree.get(event_key(17)).unwrap().unwrap().to_vec();
        let at = v.len() - 8;
        v[at] ^= 0x20; // inside the payload
        tree.insert(event_key(17), v).unwrap();
    });
    let store = SledStore::open(dir.path(), config()).unwrap();
    let err = store.read_all(Position(17), 100).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Corrupt {
                position: Some(Position(17)),
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(store.read_all(Position(1), 16).unwrap().len(), 16);
    assert_eq!(
        store.read_all(Position(18), 1_000).unwrap().len(),
        (EVENTS - 17) as usize
    );
    let err = store
        .read_stream(&stream(&stream_of(16)), Version::FIRST, 100)
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Corrupt {
                position: Some(Position(17)),
                ..
            }
        ),
        "{err}"
    );
    let err = store.event_by_id(ev(16).event_id).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Corrupt {
                position: Some(Position(17)),
                ..
            }
        ),
        "{err}"
    );
    // A page stops before the damaged record; reading from it is the error.
    let page = store.read_all(Position(10), 100).unwrap();
    assert_eq!(page.last().unwrap().position, Position(16));
    let mut sub = store.subscribe(Position(15)).unwrap();
    assert_eq!(sub.next().unwrap().unwrap().position, Position(16));
    assert!(matches!(
        sub.next().unwrap(),
        Err(StoreError::Corrupt {
            position: Some(Position(17)),
            ..
        })
    ));
    assert!(matches!(
        sub.next().unwrap(),
        Err(StoreError::Corrupt {
            position: Some(Position(17)),
            ..
        })
    ));
    let report = store.verify().unwrap();
    assert_eq!(report.fault_count, 1, "{:?}", report.faults);
    assert_eq!(report.faults[0].position, Some(Position(17)));
    assert_eq!(report.faults[0].kind, FaultKind::CorruptRecord);
    // Appends still work: the damage is reported, not spread.
    store
        .append(&stream("new"), ExpectedVersion::NoStream, vec![ev(1_000)])
        .unwrap();
}

#[test]
fn a_damaged_head_record_refuses_to_open_naming_the_position() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    with_raw_tree(dir.path(), |tree| {
        let last = EVENTS as u64;
        let mut v = tree.get(event_key(last)).unwrap().unwrap().to_vec();
        v[3] ^= 0xff;
        tree.insert(event_key(last), v).unwrap();
    });
    let err = SledStore::open(dir.path(), config()).unwrap_err();
    assert!(
        matches!(err, StoreError::Corrupt { position: Some(Position(p)), .. } if p == EVENTS as u64),
        "{err}"
    );
}

#[test]
fn missing_records_and_wrong_index_entries_are_caught() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    with_raw_tree(dir.path(), |tree| {
        tree.remove(event_key(10)).unwrap();
        // Point stream s-0's version 2 (position 12) at position 13 (another stream's event).
        let mut k = vec![b'S'];
        let sid = tree.get(b"Ns-0").unwrap().unwrap()[0] as u64;
        k.extend_from_slice(&sid.to_be_bytes());
        k.extend_from_slice(&2u64.to_be_bytes());
        tree.insert(k, &[13u8]).unwrap();
        // Drop the id index entry of position 40.
        let mut ik = vec![b'I'];
        ik.extend_from_slice(ev(39).event_id.as_bytes());
        tree.remove(ik).unwrap();
    });
    let store = SledStore::open(dir.path(), config()).unwrap();
    assert_eq!(store.read_all(Position(5), 10).unwrap().len(), 5);
    let err = store.read_all(Position(10), 10).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Corrupt {
                position: Some(Position(10)),
                ..
            }
        ),
        "{err}"
    );
    let err = store
        .read_stream(&stream("s-0"), Version::FIRST, 100)
        .unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    let report = store.verify().unwrap();
    let kinds: HashMap<FaultKind, Vec<Option<Position>>> =
        report.faults.iter().fold(HashMap::new(), |mut m, f| {
            m.entry(f.kind).or_default().push(f.position);
            m
        });
    assert!(
        kinds[&FaultKind::PositionGap].contains(&Some(Position(10))),
        "{:?}",
        report.faults
    );
    assert!(
        kinds[&FaultKind::IndexMismatch].contains(&Some(Position(12))),
        "{:?}",
        report.faults
    );
    assert!(
        kinds[&FaultKind::IndexMissing].contains(&Some(Position(40))),
        "{:?}",
        report.faults
    );
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Everything a reader can do with a damaged store; returns (events read, errors, faults).
fn exercise(dir: &Path) -> Result<(usize, usize, u64), StoreError> {
    let store = SledStore::open(dir, config())?;
    let (mut read, mut errors) = (0, 0);
    let mut from = Position::BEGINNING;
    while from.0 <= EVENTS as u64 {
        match store.read_all(from, 50) {
            Ok(page) if page.is_empty() => break,
            Ok(page) => {
                page.iter().for_each(assert_genuine);
                read += page.len();
                from = page.last().unwrap().position.next();
            }
            Err(_) => {
                errors += 1;
                from = from.next();
            }
        }
    }
    for s in 0..11u128 {
        match store.read_stream(&stream(&stream_of(s)), Version::FIRST, 1_000) {
            Ok(events) => events.iter().for_each(assert_genuine),
            Err(_) => errors += 1,
        }
    }
    let faults = store.verify().map(|r| r.fault_count).unwrap_or(1);
    let _ = store.append(&stream("after"), ExpectedVersion::Any, vec![ev(5_000)]);
    Ok((read, errors, faults))
}

#[test]
fn flipped_bytes_in_the_files_never_panic_or_return_wrong_events() {
    // "fresh": closed right after writing, so sled replays its whole log at the next open;
    // "settled": reopened once, so sled's snapshot covers the log and pages are read lazily.
    let fresh = tempfile::tempdir().unwrap();
    build(fresh.path());
    let settled = tempfile::tempdir().unwrap();
    build(settled.path());
    SledStore::open(settled.path(), config())
        .unwrap()
        .close()
        .unwrap();
    let mut rng = Rng(0xC0FFEE);
    let (mut refused, mut damaged, mut clean) = (0, 0, 0);
    for round in 0..48 {
        let dir = tempfile::tempdir().unwrap();
        let pristine = if round % 2 == 0 { &fresh } else { &settled };
        copy_dir(pristine.path(), dir.path());
        let target = match round % 8 {
            6 => "conf",
            7 => "opsledger.mark",
            _ => "db",
        };
        let path = dir.path().join(target);
        let mut bytes = std::fs::read(&path).unwrap();
        // Flip bits in bytes that hold data (sled's file is mostly preallocated zeros).
        let live: Vec<usize> = (0..bytes.len()).filter(|&i| bytes[i] != 0).collect();
        for _ in 0..1 + rng.next() % 3 {
            let at = live[(rng.next() % live.len() as u64) as usize];
            bytes[at] ^= 1 << (rng.next() % 8);
        }
        std::fs::write(&path, bytes).unwrap();
        let outcome = catch_unwind(AssertUnwindSafe(|| exercise(dir.path())));
        match outcome {
            Err(_) => {
                panic!("round {round}: a panic escaped the store (or a wrong event was read)")
            }
            Ok(Err(e)) => {
                assert!(
                    matches!(
                        e,
                        StoreError::Corrupt { .. } | StoreError::Io(_) | StoreError::Backend(_)
                    ),
                    "round {round} ({target}): unexpected error {e}"
                );
                refused += 1
            }
            Ok(Ok((read, 0, 0))) => {
                assert_eq!(read, EVENTS as usize, "round {round}: events silently lost");
                clean += 1
            }
            Ok(Ok(_)) => damaged += 1,
        }
    }
    eprintln!(
        "corruption: {refused} refused to open (typed error), {damaged} opened with errors/faults, {clean} unaffected"
    );
}
