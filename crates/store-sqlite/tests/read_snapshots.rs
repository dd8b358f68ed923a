//! Read snapshots through `SqliteStorage::read_snapshot`: the reads inside see one state of
//! the database (even while another thread commits), a write inside is refused, and the
//! storage is as usable after a snapshot (one that panicked included) as before.

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use opsledger_store::contract::{ev, stream};
use opsledger_store::{
    Durability, ExpectedVersion, Position, Space, Storage, StoreConfig, StoreError,
};
use opsledger_store_sqlite::{SqliteOptions, SqliteStorage};

/// How long any wait on another thread may take before the test calls it a deadlock.
const DEADLINE: Duration = Duration::from_secs(10);

fn open(dir: &Path) -> Arc<SqliteStorage> {
    Arc::new(
        SqliteStorage::open(
            dir,
            StoreConfig::default().with_durability(Durability::Buffered),
            SqliteOptions::default(),
        )
        .unwrap(),
    )
}

/// The event ids of the log and the entries of the `Views` space.
type Contents = (Vec<u128>, Vec<(Vec<u8>, Vec<u8>)>);

/// What the log and the `Views` space hold, as SQL reads see them (the head is left out: it is
/// the store's count of acknowledged appends, not a read).
fn contents(storage: &SqliteStorage) -> Contents {
    let log = storage
        .log()
        .read_all(Position::BEGINNING, 10_000)
        .unwrap()
        .into_iter()
        .map(|e| e.event_id.as_u128())
        .collect();
    (log, storage.space(Space::Views).dump().unwrap())
}

fn append_and_put(storage: &SqliteStorage, n: u64) -> Result<(), StoreError> {
    storage.log().append(
        &stream(&format!("s-{n}")),
        ExpectedVersion::NoStream,
        vec![ev(u128::from(n))],
    )?;
    storage
        .space(Space::Views)
        .put(format!("k{n}").into_bytes(), b"v".to_vec())
}

#[test]
fn reads_in_a_snapshot_see_one_state_while_another_thread_commits() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open(dir.path());
    append_and_put(&storage, 1).unwrap();
    let before = contents(&storage);

    // Another thread holds the writer in a unit, so the snapshot is taken on a pooled reader;
    // the unit commits between the snapshot's first and second reads.
    let (opened_tx, opened_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (done_tx, done_rx) = mpsc::channel();
    let other = storage.clone();
    std::thread::spawn(move || {
        let unit = other.begin_unit().unwrap();
        append_and_put(&other, 2).unwrap();
        opened_tx.send(()).unwrap();
        go_rx.recv_timeout(DEADLINE).unwrap();
        let _ = done_tx.send(unit.commit());
    });
    opened_rx.recv_timeout(DEADLINE).unwrap();

    let mut seen = Vec::new();
    storage
        .read_snapshot(&mut || {
            seen.push(contents(&storage));
            go_tx.send(()).unwrap();
            done_rx
                .recv_timeout(DEADLINE)
                .expect("the unit committed while the snapshot was open")?;
            seen.push(contents(&storage));
            Ok(())
        })
        .unwrap();
    assert_eq!(seen, vec![before.clone(), before.clone()]);

    let after = contents(&storage);
    assert_eq!(
        after.0.len(),
        2,
        "the committed unit is seen after the snapshot"
    );
    assert_eq!(after.1.len(), 2);
}

#[test]
fn a_write_inside_a_snapshot_is_refused_and_writes_work_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open(dir.path());
    append_and_put(&storage, 1).unwrap();
    let mut refused = Vec::new();
    storage
        .read_snapshot(&mut || {
            refused.push(append_and_put(&storage, 2));
            refused.push(storage.begin_unit().map(|_| ()));
            // Nested snapshots run inside the open one.
            storage.read_snapshot(&mut || {
                refused.push(append_and_put(&storage, 3));
                Ok(())
            })?;
            assert_eq!(contents(&storage).0.len(), 1);
            Ok(())
        })
        .unwrap();
    for outcome in refused {
        assert!(
            matches!(outcome, Err(StoreError::Unsupported(_))),
            "a write inside a read snapshot: {outcome:?}"
        );
    }
    append_and_put(&storage, 4).unwrap();
    let unit = storage.begin_unit().unwrap();
    append_and_put(&storage, 5).unwrap();
    unit.commit().unwrap();
    assert_eq!(contents(&storage).0.len(), 3);
}

#[test]
fn a_write_on_another_thread_waits_for_the_snapshot_then_goes_through() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open(dir.path());
    append_and_put(&storage, 1).unwrap();
    let (tx, rx) = mpsc::channel();
    storage
        .read_snapshot(&mut || {
            let other = storage.clone();
            let tx = tx.clone();
            std::thread::spawn(move || {
                let _ = tx.send(append_and_put(&other, 2));
            });
            assert_eq!(contents(&storage).0.len(), 1);
            Ok(())
        })
        .unwrap();
    rx.recv_timeout(DEADLINE).expect("no deadlock").unwrap();
    assert_eq!(contents(&storage).0.len(), 2);
}

#[test]
fn a_snapshot_that_panics_leaves_the_storage_usable() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open(dir.path());
    append_and_put(&storage, 1).unwrap();
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        storage.read_snapshot(&mut || {
            let _ = contents(&storage);
            panic!("a read that panics");
        })
    }));
    assert!(panicked.is_err());
    append_and_put(&storage, 2).unwrap();
    assert_eq!(contents(&storage).0.len(), 2);
    // And on another thread, whose reads may take the writer or a reader.
    let other = storage.clone();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(append_and_put(&other, 3).map(|()| contents(&other).0.len()));
    });
    assert_eq!(rx.recv_timeout(DEADLINE).expect("no deadlock").unwrap(), 3);
}
