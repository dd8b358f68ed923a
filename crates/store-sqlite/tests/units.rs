//! Units of work through `SqliteStorage`: the appends and space writes of a unit are one
//! transaction, read by the owning thread before they commit, invisible to every other
//! thread until then, and gone without a trace when the unit is rolled back.

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use opsledger_store::contract::{ev, evs, stream};
use opsledger_store::{
    Durability, ExpectedVersion, Position, Space, Storage, StoreConfig, StoreError, Version,
};
use opsledger_store_sqlite::{SqliteOptions, SqliteStorage};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// How long any wait on another thread may take before the test calls it a deadlock.
const DEADLINE: Duration = Duration::from_secs(10);
/// How long a blocked writer is watched to stay blocked.
const STILL_BLOCKED: Duration = Duration::from_millis(300);

fn config(durability: Durability) -> StoreConfig {
    StoreConfig::default().with_durability(durability)
}

fn open(dir: &Path, durability: Durability) -> Arc<SqliteStorage> {
    Arc::new(SqliteStorage::open(dir, config(durability), SqliteOptions::default()).unwrap())
}

/// What one thread sees of the storage: the log (stream, version, event id per position, in
/// position order), the head and the `Views` space.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Seen {
    head: u64,
    log: Vec<(String, u64, u128)>,
    views: Vec<(Vec<u8>, Vec<u8>)>,
}

fn seen(storage: &SqliteStorage) -> Seen {
    let log = storage.log();
    let head = log.head().unwrap().0;
    let events = log.read_all(Position::BEGINNING, 10_000).unwrap();
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.position, Position(i as u64 + 1), "positions are dense");
    }
    Seen {
        head,
        log: events
            .into_iter()
            .map(|e| {
                (
                    e.stream.as_str().to_owned(),
                    e.version.0,
                    e.event_id.as_u128(),
                )
            })
            .collect(),
        views: storage.space(Space::Views).dump().unwrap(),
    }
}

/// Runs `f` on a new thread and returns its result, failing the test if it takes longer than
/// [`DEADLINE`] (a deadlock).
fn on_other_thread<T: Send + 'static>(
    storage: &Arc<SqliteStorage>,
    f: impl FnOnce(&SqliteStorage) -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    let storage = storage.clone();
    std::thread::spawn(move || {
        let result = f(&storage);
        // The handle goes before the result is reported: the caller may want the only one.
        drop(storage);
        let _ = tx.send(result);
    });
    rx.recv_timeout(DEADLINE)
        .expect("the other thread finished in time (no deadlock)")
}

/// Starts `f` on a new thread; the receiver gets its result once it finishes.
fn start_on_other_thread<T: Send + 'static>(
    storage: &Arc<SqliteStorage>,
    f: impl FnOnce(&SqliteStorage) -> T + Send + 'static,
) -> mpsc::Receiver<T> {
    let (tx, rx) = mpsc::channel();
    let storage = storage.clone();
    std::thread::spawn(move || {
        let result = f(&storage);
        // The handle goes before the result is reported: the caller may want the only one.
        drop(storage);
        let _ = tx.send(result);
    });
    rx
}

fn kv(key: &str, value: &str) -> (Vec<u8>, Vec<u8>) {
    (key.as_bytes().to_vec(), value.as_bytes().to_vec())
}

#[test]
fn a_unit_is_invisible_to_other_threads_until_it_commits() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open(dir.path(), Durability::PerCommit);
    storage
        .log()
        .append(&stream("before"), ExpectedVersion::NoStream, vec![ev(0)])
        .unwrap();
    storage
        .space(Space::Views)
        .put(b"a".to_vec(), b"0".to_vec())
        .unwrap();
    let committed = seen(&storage);

    let unit = storage.begin_unit().unwrap();
    assert!(unit.is_transactional());
    let outcome = storage
        .log()
        .append(&stream("inc-1"), ExpectedVersion::NoStream, evs(1..3))
        .unwrap();
    assert_eq!(outcome.last_position, Position(3));
    storage
        .log()
        .append(
            &stream("before"),
            ExpectedVersion::Exact(Version(1)),
            vec![ev(3)],
        )
        .unwrap();
    let views = storage.space(Space::Views);
    views
        .apply(vec![
            (b"a".to_vec(), Some(b"1".to_vec())),
            (b"b".to_vec(), Some(b"2".to_vec())),
        ])
        .unwrap();

    // The owning thread reads its own uncommitted writes, through every read.
    let own = seen(&storage);
    assert_eq!(own.head, 4);
    assert_eq!(
        own.log,
        vec![
            ("before".to_owned(), 1, ev(0).event_id.as_u128()),
            ("inc-1".to_owned(), 1, ev(1).event_id.as_u128()),
            ("inc-1".to_owned(), 2, ev(2).event_id.as_u128()),
            ("before".to_owned(), 2, ev(3).event_id.as_u128()),
        ]
    );
    assert_eq!(own.views, vec![kv("a", "1"), kv("b", "2")]);
    let log = storage.log();
    assert_eq!(log.stream_version(&stream("inc-1")).unwrap(), Version(2));
    assert_eq!(
        log.event_by_id(ev(2).event_id).unwrap().unwrap().position,
        Position(3)
    );
    assert_eq!(
        log.read_stream(&stream("before"), Version::FIRST, 10)
            .unwrap()
            .len(),
        2
    );
    assert_eq!(views.get(b"b").unwrap(), Some(b"2".to_vec()));

    // Every other thread sees what was committed before the unit, and nothing of it.
    let other = on_other_thread(&storage, |s| {
        let log = s.log();
        (
            seen(s),
            log.stream_version(&stream("inc-1")).unwrap(),
            log.event_by_id(ev(2).event_id).unwrap().is_none(),
            log.read_stream(&stream("before"), Version::FIRST, 10)
                .unwrap()
                .len(),
            s.space(Space::Views).get(b"b").unwrap(),
        )
    });
    assert_eq!(other, (committed, Version::NONE, true, 1, None));

    unit.commit().unwrap();
    let after = on_other_thread(&storage, seen);
    assert_eq!(after, own);
    assert_eq!(seen(&storage), own);
}

#[test]
fn dropping_a_unit_rolls_all_of_it_back_and_positions_stay_dense() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open(dir.path(), Durability::GroupCommit);
    storage
        .log()
        .append(&stream("kept"), ExpectedVersion::NoStream, evs(0..2))
        .unwrap();
    storage
        .space(Space::Views)
        .put(b"k".to_vec(), b"kept".to_vec())
        .unwrap();
    let committed = seen(&storage);

    {
        let _unit = storage.begin_unit().unwrap();
        let log = storage.log();
        log.append(&stream("lost"), ExpectedVersion::NoStream, evs(10..13))
            .unwrap();
        log.append(
            &stream("kept"),
            ExpectedVersion::Exact(Version(2)),
            vec![ev(13)],
        )
        .unwrap();
        storage
            .space(Space::Views)
            .put(b"k".to_vec(), b"lost".to_vec())
            .unwrap();
        storage
            .space(Space::Views)
            .put(b"z".to_vec(), b"lost".to_vec())
            .unwrap();
        storage
            .space(Space::Meta)
            .put(b"m".to_vec(), b"lost".to_vec())
            .unwrap();
        assert_eq!(log.head().unwrap(), Position(6));
    }

    assert_eq!(seen(&storage), committed);
    let log = storage.log();
    assert_eq!(log.stream_version(&stream("lost")).unwrap(), Version::NONE);
    assert_eq!(log.stream_version(&stream("kept")).unwrap(), Version(2));
    assert!(log.event_by_id(ev(10).event_id).unwrap().is_none());
    assert_eq!(storage.space(Space::Meta).get(b"m").unwrap(), None);

    // The positions and versions the rolled-back unit used are given out again, and the
    // rolled-back event ids are free.
    let o = log
        .append(&stream("lost"), ExpectedVersion::NoStream, evs(10..12))
        .unwrap();
    assert_eq!(
        (o.first_position, o.last_position),
        (Position(3), Position(4))
    );
    assert_eq!(o.first_version, Version(1));
    assert!(!o.was_duplicate);
    let o = log
        .append(
            &stream("kept"),
            ExpectedVersion::Exact(Version(2)),
            vec![ev(13)],
        )
        .unwrap();
    assert_eq!(
        (o.first_position, o.first_version),
        (Position(5), Version(3))
    );
    let report = log.verify().unwrap();
    assert!(report.is_clean(), "{:?}", report.faults);
    assert_eq!(report.events_checked, 5);
}

/// The store keeps the numbers of the streams its appends look up; a stream a unit created is
/// not one of them until the unit commits: after a rollback its number belongs to the next new
/// stream, and the rolled-back name has no events.
#[test]
fn a_stream_created_by_a_rolled_back_unit_keeps_no_number() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open(dir.path(), Durability::Buffered);
    let log = storage.log();
    log.append(&stream("kept"), ExpectedVersion::NoStream, evs(0..1))
        .unwrap();
    {
        let _unit = storage.begin_unit().unwrap();
        // Created here, then looked up by a second append of the same unit.
        log.append(&stream("lost"), ExpectedVersion::NoStream, evs(10..11))
            .unwrap();
        log.append(
            &stream("lost"),
            ExpectedVersion::Exact(Version(1)),
            evs(11..12),
        )
        .unwrap();
        // A committed stream looked up in the same unit.
        log.append(
            &stream("kept"),
            ExpectedVersion::Exact(Version(1)),
            evs(12..13),
        )
        .unwrap();
    }
    // The next new stream takes the number the rolled-back one had.
    log.append(&stream("other"), ExpectedVersion::NoStream, evs(20..22))
        .unwrap();
    assert_eq!(log.stream_version(&stream("lost")).unwrap(), Version::NONE);
    assert!(
        log.read_stream(&stream("lost"), Version::FIRST, 10)
            .unwrap()
            .is_empty()
    );
    let err = log
        .append(
            &stream("lost"),
            ExpectedVersion::Exact(Version(2)),
            evs(30..31),
        )
        .unwrap_err();
    assert!(
        matches!(err, StoreError::WrongExpectedVersion { .. }),
        "{err}"
    );
    let other = log
        .read_stream(&stream("other"), Version::FIRST, 10)
        .unwrap();
    assert_eq!(
        other.iter().map(|e| e.event_id).collect::<Vec<_>>(),
        vec![ev(20).event_id, ev(21).event_id]
    );
    // The committed stream's number is still its own.
    log.append(
        &stream("kept"),
        ExpectedVersion::Exact(Version(1)),
        evs(13..14),
    )
    .unwrap();
    let kept = log
        .read_stream(&stream("kept"), Version::FIRST, 10)
        .unwrap();
    assert_eq!(
        kept.iter().map(|e| e.event_id).collect::<Vec<_>>(),
        vec![ev(0).event_id, ev(13).event_id]
    );
    let report = log.verify().unwrap();
    assert!(report.is_clean(), "{:?}", report.faults);
}

#[test]
fn nested_units_commit_together() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open(dir.path(), Durability::Buffered);
    let outer = storage.begin_unit().unwrap();
    storage
        .log()
        .append(&stream("outer"), ExpectedVersion::NoStream, vec![ev(1)])
        .unwrap();
    {
        let inner = storage.begin_unit().unwrap();
        storage
            .log()
            .append(&stream("inner"), ExpectedVersion::NoStream, vec![ev(2)])
            .unwrap();
        storage
            .space(Space::Views)
            .put(b"inner".to_vec(), b"1".to_vec())
            .unwrap();
        inner.commit().unwrap();
    }
    // The inner commit publishes nothing: the outer unit is still open.
    let other = on_other_thread(&storage, seen);
    assert_eq!(other, Seen::default());
    storage
        .log()
        .append(
            &stream("outer"),
            ExpectedVersion::Exact(Version(1)),
            vec![ev(3)],
        )
        .unwrap();
    outer.commit().unwrap();

    let other = on_other_thread(&storage, seen);
    assert_eq!(other.head, 3);
    assert_eq!(
        other
            .log
            .iter()
            .map(|(s, v, _)| (s.as_str(), *v))
            .collect::<Vec<_>>(),
        vec![("outer", 1), ("inner", 1), ("outer", 2)]
    );
    assert_eq!(other.views, vec![kv("inner", "1")]);
}

#[test]
fn an_inner_rollback_makes_the_outer_commit_fail_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open(dir.path(), Durability::PerCommit);
    storage
        .log()
        .append(&stream("kept"), ExpectedVersion::NoStream, vec![ev(0)])
        .unwrap();
    let committed = seen(&storage);

    let outer = storage.begin_unit().unwrap();
    storage
        .log()
        .append(&stream("outer"), ExpectedVersion::NoStream, vec![ev(1)])
        .unwrap();
    storage
        .space(Space::Views)
        .put(b"outer".to_vec(), b"1".to_vec())
        .unwrap();
    {
        let _inner = storage.begin_unit().unwrap();
        storage
            .log()
            .append(&stream("inner"), ExpectedVersion::NoStream, vec![ev(2)])
            .unwrap();
        // Dropped: rolled back.
    }
    // A later inner unit cannot commit either: the whole unit is doomed.
    {
        let again = storage.begin_unit().unwrap();
        assert!(matches!(again.commit(), Err(StoreError::RolledBack)));
    }
    let err = outer.commit().unwrap_err();
    assert!(matches!(err, StoreError::RolledBack), "{err}");

    assert_eq!(seen(&storage), committed);
    assert_eq!(on_other_thread(&storage, seen), committed);
    // The storage is usable afterwards, and the next unit is not doomed.
    let unit = storage.begin_unit().unwrap();
    let o = storage
        .log()
        .append(&stream("outer"), ExpectedVersion::NoStream, vec![ev(1)])
        .unwrap();
    assert_eq!(o.first_position, Position(2));
    unit.commit().unwrap();
    assert_eq!(
        on_other_thread(&storage, |s| s.log().head().unwrap()),
        Position(2)
    );
}

#[test]
fn a_failed_append_inside_a_unit_keeps_the_units_earlier_writes() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open(dir.path(), Durability::GroupCommit);
    let unit = storage.begin_unit().unwrap();
    let log = storage.log();
    log.append(&stream("inc-1"), ExpectedVersion::NoStream, evs(1..3))
        .unwrap();
    storage
        .space(Space::Views)
        .put(b"inc-1".to_vec(), b"2".to_vec())
        .unwrap();

    let err = log
        .append(
            &stream("inc-1"),
            ExpectedVersion::Exact(Version(7)),
            vec![ev(3)],
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::WrongExpectedVersion {
                actual: Version(2),
                ..
            }
        ),
        "{err}"
    );
    // A multi-stream append that fails on its second stream writes nothing of the first.
    let err = log
        .append_multi(vec![
            opsledger_store::AppendRequest::new(
                stream("inc-2"),
                ExpectedVersion::NoStream,
                vec![ev(4)],
            ),
            opsledger_store::AppendRequest::new(
                stream("inc-1"),
                ExpectedVersion::NoStream,
                vec![ev(5)],
            ),
        ])
        .unwrap_err();
    assert!(
        matches!(err, StoreError::WrongExpectedVersion { .. }),
        "{err}"
    );
    // Reusing an id the unit already wrote, elsewhere, is refused too.
    let err = log
        .append(&stream("inc-3"), ExpectedVersion::NoStream, vec![ev(1)])
        .unwrap_err();
    assert!(matches!(err, StoreError::DuplicateEventId { .. }), "{err}");

    assert_eq!(log.head().unwrap(), Position(2));
    assert_eq!(log.stream_version(&stream("inc-2")).unwrap(), Version::NONE);
    let o = log
        .append(
            &stream("inc-1"),
            ExpectedVersion::Exact(Version(2)),
            vec![ev(3)],
        )
        .unwrap();
    assert_eq!(o.first_position, Position(3));
    unit.commit().unwrap();

    let other = on_other_thread(&storage, seen);
    assert_eq!(other.head, 3);
    assert_eq!(
        other
            .log
            .iter()
            .map(|(s, v, _)| (s.as_str(), *v))
            .collect::<Vec<_>>(),
        vec![("inc-1", 1), ("inc-1", 2), ("inc-1", 3)]
    );
    assert_eq!(other.views, vec![kv("inc-1", "2")]);
    let report = storage.log().verify().unwrap();
    assert!(report.is_clean(), "{:?}", report.faults);
}

#[test]
fn a_subscription_sees_a_units_events_only_after_commit_and_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open(dir.path(), Durability::GroupCommit);
    storage
        .log()
        .append(&stream("a"), ExpectedVersion::NoStream, vec![ev(0)])
        .unwrap();
    let mut here = storage.log().subscribe(Position::BEGINNING).unwrap();
    assert_eq!(
        here.next_timeout(DEADLINE).unwrap().unwrap().position,
        Position(1)
    );

    // A subscriber on another thread, reporting what it receives.
    let (tx, received) = mpsc::channel();
    let mut there = storage.log().subscribe(Position(1)).unwrap();
    std::thread::spawn(move || {
        while let Ok(Some(e)) = there.next_timeout(DEADLINE) {
            if tx.send(e.position.0).is_err() {
                break;
            }
        }
    });

    let unit = storage.begin_unit().unwrap();
    storage
        .log()
        .append(&stream("a"), ExpectedVersion::Exact(Version(1)), evs(1..4))
        .unwrap();
    storage
        .log()
        .append(&stream("b"), ExpectedVersion::NoStream, evs(4..6))
        .unwrap();
    assert!(here.try_next().unwrap().is_none());
    assert!(
        here.next_timeout(Duration::from_millis(100))
            .unwrap()
            .is_none()
    );
    assert_eq!(
        received.recv_timeout(STILL_BLOCKED),
        Err(RecvTimeoutError::Timeout),
        "the other thread's subscription saw an uncommitted event"
    );
    unit.commit().unwrap();

    let mut mine = Vec::new();
    while mine.len() < 5 {
        let e = here.next_timeout(DEADLINE).unwrap().expect("delivered");
        mine.push(e.position.0);
    }
    assert_eq!(mine, vec![2, 3, 4, 5, 6]);
    let theirs: Vec<u64> = (0..5)
        .map(|_| received.recv_timeout(DEADLINE).expect("delivered"))
        .collect();
    assert_eq!(theirs, vec![2, 3, 4, 5, 6]);
}

#[test]
fn writers_on_other_threads_wait_for_an_open_unit() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open(dir.path(), Durability::PerCommit);
    let unit = storage.begin_unit().unwrap();
    storage
        .log()
        .append(&stream("unit"), ExpectedVersion::NoStream, evs(0..2))
        .unwrap();

    let appended = start_on_other_thread(&storage, |s| {
        s.log()
            .append(&stream("other"), ExpectedVersion::NoStream, vec![ev(10)])
            .map(|o| o.first_position)
    });
    let written = start_on_other_thread(&storage, |s| {
        s.space(Space::Views).put(b"other".to_vec(), b"1".to_vec())
    });
    let nested = start_on_other_thread(&storage, |s| {
        let unit = s.begin_unit()?;
        s.space(Space::Meta).put(b"other".to_vec(), b"1".to_vec())?;
        unit.commit()
    });
    for (what, waited) in [
        ("append", appended.recv_timeout(STILL_BLOCKED).map(|_| ())),
        (
            "space write",
            written.recv_timeout(STILL_BLOCKED).map(|_| ()),
        ),
        ("unit", nested.recv_timeout(STILL_BLOCKED).map(|_| ())),
    ] {
        assert_eq!(
            waited,
            Err(RecvTimeoutError::Timeout),
            "a {what} on another thread went through while the unit was open"
        );
    }
    // Reads on other threads do not wait.
    let head = on_other_thread(&storage, |s| s.log().head().unwrap());
    assert_eq!(head, Position::BEGINNING);
    storage
        .space(Space::Views)
        .put(b"unit".to_vec(), b"1".to_vec())
        .unwrap();
    unit.commit().unwrap();

    let position = appended
        .recv_timeout(DEADLINE)
        .expect("no deadlock")
        .unwrap();
    assert_eq!(
        position,
        Position(3),
        "the waiting append comes after the unit"
    );
    written
        .recv_timeout(DEADLINE)
        .expect("no deadlock")
        .unwrap();
    nested.recv_timeout(DEADLINE).expect("no deadlock").unwrap();
    let views = storage.space(Space::Views).dump().unwrap();
    assert_eq!(views, vec![kv("other", "1"), kv("unit", "1")]);
    assert_eq!(
        storage.space(Space::Meta).get(b"other").unwrap(),
        Some(b"1".to_vec())
    );
}

#[test]
fn a_unit_commits_across_a_reopen_and_a_rolled_back_one_leaves_nothing_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    {
        let storage = open(dir.path(), Durability::PerCommit);
        let unit = storage.begin_unit().unwrap();
        storage
            .log()
            .append(&stream("kept"), ExpectedVersion::NoStream, evs(0..3))
            .unwrap();
        storage
            .space(Space::Snapshots)
            .put(b"kept".to_vec(), b"3".to_vec())
            .unwrap();
        unit.commit().unwrap();
        let _lost = storage.begin_unit().unwrap();
        storage
            .log()
            .append(&stream("lost"), ExpectedVersion::NoStream, evs(3..5))
            .unwrap();
        storage
            .space(Space::Snapshots)
            .put(b"lost".to_vec(), b"2".to_vec())
            .unwrap();
        // The block ends with the unit open: dropping it rolls it back before the storage
        // closes.
    }
    let storage = open(dir.path(), Durability::PerCommit);
    let log = storage.log();
    assert_eq!(log.head().unwrap(), Position(3));
    assert_eq!(log.stream_version(&stream("lost")).unwrap(), Version::NONE);
    assert_eq!(
        storage.space(Space::Snapshots).dump().unwrap(),
        vec![kv("kept", "3")]
    );
    let o = log
        .append(&stream("lost"), ExpectedVersion::NoStream, evs(3..5))
        .unwrap();
    assert_eq!(o.first_position, Position(4));
}

#[test]
fn a_backup_taken_inside_a_unit_holds_only_what_was_committed() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open(&dir.path().join("live"), Durability::PerCommit);
    storage
        .log()
        .append(&stream("kept"), ExpectedVersion::NoStream, evs(0..2))
        .unwrap();
    let committed = seen(&storage);
    let unit = storage.begin_unit().unwrap();
    storage
        .log()
        .append(&stream("open"), ExpectedVersion::NoStream, evs(2..4))
        .unwrap();
    storage
        .space(Space::Views)
        .put(b"open".to_vec(), b"1".to_vec())
        .unwrap();
    let to = dir.path().join("copy");
    storage.backup(&to).unwrap();
    unit.commit().unwrap();
    assert_eq!(seen(&storage).head, 4);
    let copy = open(&to, Durability::PerCommit);
    assert_eq!(seen(&copy), committed);
}

// --- Model-based: random units against a plain model ---------------------------------------

#[derive(Debug, Clone)]
enum Op {
    /// Appends `count` events to stream `s{stream}` at its current version (opening a unit if
    /// none is open).
    Append {
        stream: u8,
        count: u8,
    },
    /// Writes (or, with `None`, removes) a key of the `Views` space in the open unit (opening
    /// one if none is open).
    Put {
        key: u8,
        value: Option<u8>,
    },
    Commit,
    Rollback,
    /// Drops the open unit and the storage (closed cleanly or not), then opens it again.
    Reopen {
        clean: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..3, 1u8..4).prop_map(|(stream, count)| Op::Append { stream, count }),
        3 => (0u8..4, prop::option::weighted(0.8, 0u8..8))
            .prop_map(|(key, value)| Op::Put { key, value }),
        2 => Just(Op::Commit),
        2 => Just(Op::Rollback),
        1 => any::<bool>().prop_map(|clean| Op::Reopen { clean }),
    ]
}

/// The model: the log as (stream, event id) in position order, and the `Views` space.
#[derive(Debug, Clone, Default)]
struct Model {
    log: Vec<(u8, u128)>,
    views: std::collections::BTreeMap<Vec<u8>, Vec<u8>>,
}

impl Model {
    fn version(&self, stream: u8) -> u64 {
        self.log.iter().filter(|(s, _)| *s == stream).count() as u64
    }

    fn expected(&self) -> Seen {
        let mut versions = [0u64; 256];
        Seen {
            head: self.log.len() as u64,
            log: self
                .log
                .iter()
                .map(|&(s, id)| {
                    versions[s as usize] += 1;
                    (
                        format!("s{s}"),
                        versions[s as usize],
                        ev(id).event_id.as_u128(),
                    )
                })
                .collect(),
            views: self
                .views
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }
}

fn run(ops: &[Op], durability: Durability) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let mut committed = Model::default();
    let mut next_id = 0u128;
    // One session per storage opened: the ops up to and including a reopen.
    for session in ops.split_inclusive(|op| matches!(op, Op::Reopen { .. })) {
        let storage = open(dir.path(), durability);
        prop_assert_eq!(seen(&storage), committed.expected(), "after reopen");
        let mut unit = None;
        let mut pending = committed.clone();
        let mut close_cleanly = false;
        for op in session {
            match op {
                Op::Append { stream, count } => {
                    if unit.is_none() {
                        unit = Some(storage.begin_unit().unwrap());
                    }
                    let ids: Vec<u128> = (next_id..next_id + u128::from(*count)).collect();
                    next_id += u128::from(*count);
                    let version = pending.version(*stream);
                    let o = storage
                        .log()
                        .append(
                            &opsledger_store::contract::stream(&format!("s{stream}")),
                            ExpectedVersion::Exact(Version(version)),
                            ids.iter().map(|&i| ev(i)).collect(),
                        )
                        .unwrap();
                    prop_assert_eq!(o.first_position.0, pending.log.len() as u64 + 1);
                    pending.log.extend(ids.iter().map(|&i| (*stream, i)));
                }
                Op::Put { key, value } => {
                    if unit.is_none() {
                        unit = Some(storage.begin_unit().unwrap());
                    }
                    let key = vec![b'k', *key];
                    let value = value.map(|v| vec![v]);
                    storage
                        .space(Space::Views)
                        .apply(vec![(key.clone(), value.clone())])
                        .unwrap();
                    match value {
                        Some(v) => pending.views.insert(key, v),
                        None => pending.views.remove(&key),
                    };
                }
                Op::Commit => {
                    if let Some(u) = unit.take() {
                        u.commit().unwrap();
                        committed = pending.clone();
                    }
                }
                Op::Rollback => {
                    drop(unit.take());
                    pending = committed.clone();
                }
                Op::Reopen { clean } => {
                    close_cleanly = *clean;
                    break;
                }
            }
            let own = if unit.is_some() { &pending } else { &committed };
            prop_assert_eq!(
                seen(&storage),
                own.expected(),
                "the owning thread, after {:?}",
                op
            );
            prop_assert_eq!(
                on_other_thread(&storage, seen),
                committed.expected(),
                "another thread, after {:?}",
                op
            );
        }
        // A unit still open is rolled back by the drop, before the storage goes.
        drop(unit);
        if close_cleanly {
            let storage = Arc::try_unwrap(storage).expect("the only handle");
            Box::new(storage).close(0).unwrap();
        }
    }
    let storage = open(dir.path(), durability);
    prop_assert_eq!(seen(&storage), committed.expected(), "at the end");
    let report = storage.log().verify().unwrap();
    prop_assert!(report.is_clean(), "{:?}", report.faults);
    Ok(())
}

#[test]
fn random_units_match_the_model() {
    let mut runner = TestRunner::new(Config {
        cases: 48,
        failure_persistence: None,
        ..Config::default()
    });
    let durability = prop_oneof![
        Just(Durability::PerCommit),
        Just(Durability::GroupCommit),
        Just(Durability::Buffered),
    ];
    let result = runner.run(
        &(prop::collection::vec(op(), 1..40), durability),
        |(ops, durability)| run(&ops, durability),
    );
    if let Err(e) = result {
        panic!("units disagree with the model: {e}");
    }
}
