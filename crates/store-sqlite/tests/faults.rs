//! Bad input and faults on the SQLite backend: a second writer, a file that is not a
//! database, another format, damaged or missing rows, backups under load or refused. Each is
//! a typed error (or a verify fault) naming what is wrong, never a panic, and changes nothing.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use opsledger_store::contract::{ev, stream};
use opsledger_store::{
    Durability, ExpectedVersion, FaultKind, NewEvent, Position, Space, Storage, StoreConfig,
    StoreError, StoredEvent, Version,
};
use opsledger_store_sqlite::{
    DATABASE_FILE, LEGACY_DATABASE_FILE, SqliteOptions, SqliteStorage, SqliteStore, database_path,
};
use rusqlite::params;

/// Events of the directories built by [`build`].
const EVENTS: u64 = 120;

fn config() -> StoreConfig {
    StoreConfig::default().with_durability(Durability::Buffered)
}

fn open(dir: &Path) -> Result<SqliteStorage, StoreError> {
    SqliteStorage::open(dir, config(), SqliteOptions::default())
}

fn stream_of(i: u64) -> String {
    format!("s-{}", i % 7)
}

/// Event `i` (0-based, stored at position `i + 1`), with a payload of `pad` extra bytes.
fn event(i: u64, pad: usize) -> NewEvent {
    let mut e = ev(u128::from(i));
    e.payload = format!("{{\"n\":{i},\"pad\":\"{}\"}}", "x".repeat(pad)).into_bytes();
    e
}

/// A closed data directory holding `events` events, position p = `event(p - 1)`, and one
/// read-model row.
fn build(dir: &Path, events: u64, pad: usize) {
    let storage = open(dir).unwrap();
    for i in 0..events {
        storage
            .log()
            .append(
                &stream(&stream_of(i)),
                ExpectedVersion::Any,
                vec![event(i, pad)],
            )
            .unwrap();
    }
    storage
        .space(Space::Views)
        .put(b"row".to_vec(), b"value".to_vec())
        .unwrap();
    Box::new(storage).close(0).unwrap();
}

/// The database file of a data directory, opened directly (no opsledger in between).
fn raw(dir: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(dir.join(DATABASE_FILE)).unwrap()
}

fn every_event(storage: &SqliteStorage) -> Vec<StoredEvent> {
    storage.log().read_all(Position::BEGINNING, 10_000).unwrap()
}

/// An event read back must be exactly the one written at its position.
fn assert_genuine(e: &StoredEvent) {
    let i = e.position.0 - 1;
    assert_eq!(
        e.event_id,
        ev(u128::from(i)).event_id,
        "wrong event at {}",
        e.position
    );
    assert_eq!(
        e.stream.as_str(),
        stream_of(i),
        "wrong stream at {}",
        e.position
    );
}

fn assert_corrupt_at(result: Result<impl std::fmt::Debug, StoreError>, position: u64) {
    match result {
        Err(StoreError::Corrupt {
            position: Some(p), ..
        }) if p == Position(position) => {}
        other => panic!("expected a corrupt record at {position}, got {other:?}"),
    }
}

fn partial_of(to: &Path) -> PathBuf {
    let mut name = to.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

#[test]
fn a_second_writer_is_locked_out_and_a_read_only_open_works_beside_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(DATABASE_FILE);
    let writer = open(dir.path()).unwrap();
    writer
        .log()
        .append(
            &stream("a"),
            ExpectedVersion::NoStream,
            vec![event(0, 0), event(1, 0)],
        )
        .unwrap();
    writer
        .space(Space::Views)
        .put(b"a".to_vec(), b"2".to_vec())
        .unwrap();

    let err = open(dir.path()).unwrap_err();
    match &err {
        StoreError::Locked { path } => assert_eq!(path, &file),
        other => panic!("expected Locked, got {other:?}"),
    }
    assert!(
        err.to_string().contains(&file.display().to_string()),
        "{err}"
    );
    let err = SqliteStore::open(&file, config()).unwrap_err();
    assert!(
        matches!(err, StoreError::Locked { ref path } if path == &file),
        "{err:?}"
    );

    let reader = SqliteStorage::open_read_only(dir.path(), config()).unwrap();
    assert_eq!(reader.log().head().unwrap(), Position(2));
    assert_eq!(
        every_event(&reader),
        every_event(&writer),
        "the reader sees the committed events as the writer stored them"
    );
    assert_eq!(
        reader.space(Space::Views).get(b"a").unwrap(),
        Some(b"2".to_vec())
    );
    assert!(reader.log().verify().unwrap().is_clean());

    // Every write through the reader is refused with a typed error, and writes nothing.
    let refused = [
        reader
            .log()
            .append(&stream("a"), ExpectedVersion::Any, vec![event(2, 0)])
            .map(|_| ()),
        reader.space(Space::Views).put(b"b".to_vec(), b"1".to_vec()),
        reader.space(Space::Meta).clear(),
        reader.begin_unit().map(|_| ()),
    ];
    for result in refused {
        match result {
            Err(StoreError::Unsupported(reason)) => {
                assert!(reason.contains("read-only"), "{reason}")
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
    assert_eq!(writer.log().head().unwrap(), Position(2));
    assert_eq!(writer.space(Space::Views).dump().unwrap().len(), 1);

    // What the writer commits later reaches the reader too.
    writer
        .log()
        .append(&stream("b"), ExpectedVersion::NoStream, vec![event(2, 0)])
        .unwrap();
    writer
        .space(Space::Views)
        .put(b"b".to_vec(), b"1".to_vec())
        .unwrap();
    assert_eq!(
        reader.space(Space::Views).get(b"b").unwrap(),
        Some(b"1".to_vec())
    );
    assert_eq!(reader.log().head().unwrap(), Position(3));
    assert_eq!(every_event(&reader), every_event(&writer));
    assert_eq!(
        reader.log().stream_version(&stream("b")).unwrap(),
        Version(1)
    );

    // A backup through the reader copies what was committed.
    let copy_dir = tempfile::tempdir().unwrap();
    let to = copy_dir.path().join("copy");
    reader.backup(&to).unwrap();
    let copy = open(&to).unwrap();
    assert_eq!(every_event(&copy), every_event(&writer));
    assert_eq!(copy.space(Space::Views).dump().unwrap().len(), 2);

    // Once the writer is gone, the directory opens for writing again.
    drop(writer);
    drop(reader);
    let writer = open(dir.path()).unwrap();
    assert_eq!(writer.log().head().unwrap(), Position(3));
}

#[test]
fn a_directory_of_the_older_file_name_is_opened_under_that_name() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), 5, 0);
    let legacy = dir.path().join(LEGACY_DATABASE_FILE);
    std::fs::rename(dir.path().join(DATABASE_FILE), &legacy).unwrap();
    assert_eq!(database_path(dir.path()), legacy);
    assert!(SqliteStorage::exists_in(dir.path()));
    let storage = open(dir.path()).unwrap();
    assert_eq!(storage.log().head().unwrap(), Position(5));
    storage
        .log()
        .append(&stream("later"), ExpectedVersion::Any, vec![event(5, 0)])
        .unwrap();
    Box::new(storage).close(0).unwrap();
    // Still one database, under the older name: nothing was created beside it.
    assert!(!dir.path().join(DATABASE_FILE).exists());
    let storage = SqliteStorage::open_read_only(dir.path(), config()).unwrap();
    assert_eq!(storage.log().head().unwrap(), Position(6));
    // A new directory gets the current name.
    let fresh = tempfile::tempdir().unwrap();
    build(fresh.path(), 1, 0);
    assert_eq!(
        database_path(fresh.path()),
        fresh.path().join(DATABASE_FILE)
    );
    assert!(fresh.path().join("opsledger.db").is_file());
}

#[test]
fn a_read_only_open_of_a_missing_database_is_incompatible() {
    let dir = tempfile::tempdir().unwrap();
    let err = SqliteStorage::open_read_only(dir.path(), config()).unwrap_err();
    assert!(
        matches!(&err, StoreError::Incompatible { path, .. } if path == &dir.path().join(DATABASE_FILE)),
        "{err:?}"
    );
    assert!(
        !dir.path().join(DATABASE_FILE).exists(),
        "nothing was created"
    );
}

#[test]
fn a_file_that_is_not_a_database_is_incompatible_and_left_as_it_was() {
    let mut noise = Vec::with_capacity(64 * 1024);
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    while noise.len() < 64 * 1024 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        noise.extend_from_slice(&x.to_le_bytes());
    }
    let garbage: [&[u8]; 3] = [
        b"this is a text file, not a database\n",
        &b"opsledger?".repeat(410),
        &noise,
    ];
    for bytes in garbage {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(DATABASE_FILE);
        std::fs::write(&file, bytes).unwrap();
        for err in [
            open(dir.path()).unwrap_err(),
            SqliteStorage::open_read_only(dir.path(), config()).unwrap_err(),
        ] {
            match &err {
                StoreError::Incompatible { path, .. } => assert_eq!(path, &file),
                other => panic!(
                    "{} bytes of garbage: expected Incompatible, got {other:?}",
                    bytes.len()
                ),
            }
            assert!(
                err.to_string().contains(&file.display().to_string()),
                "{err}"
            );
        }
        assert_eq!(
            std::fs::read(&file).unwrap(),
            bytes,
            "the file is left as it was"
        );
    }
}

#[test]
fn an_sqlite_database_of_another_program_is_incompatible() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(DATABASE_FILE);
    {
        let conn = rusqlite::Connection::open(&file).unwrap();
        conn.execute_batch("CREATE TABLE invoices(id INTEGER PRIMARY KEY, total INTEGER)")
            .unwrap();
    }
    let err = open(dir.path()).unwrap_err();
    assert!(
        matches!(&err, StoreError::Incompatible { path, .. } if path == &file),
        "{err:?}"
    );
    let tables: i64 = raw(dir.path())
        .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
        .unwrap();
    assert_eq!(tables, 1, "no opsledger table was added");
    let journal: String = raw(dir.path())
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(journal, "delete", "the journal mode was left as it was");
}

#[test]
fn another_format_marker_is_incompatible_naming_the_format() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(DATABASE_FILE);
    build(dir.path(), 10, 0);
    raw(dir.path())
        .execute(
            "UPDATE opsledger_meta SET value = 'opsledger-sqlite-99' WHERE key = 'format'",
            [],
        )
        .unwrap();
    let before = std::fs::read(&file).unwrap();
    for err in [
        open(dir.path()).unwrap_err(),
        SqliteStorage::open_read_only(dir.path(), config()).unwrap_err(),
        SqliteStore::open(&file, config()).unwrap_err(),
    ] {
        match &err {
            StoreError::Incompatible { path, reason } => {
                assert_eq!(path, &file);
                assert!(reason.contains("opsledger-sqlite-99"), "{reason}");
                assert!(reason.contains("opsledger-sqlite-1"), "{reason}");
            }
            other => panic!("expected Incompatible, got {other:?}"),
        }
    }
    assert_eq!(
        std::fs::read(&file).unwrap(),
        before,
        "the file is left as it was"
    );
    let marker: String = raw(dir.path())
        .query_row(
            "SELECT value FROM opsledger_meta WHERE key = 'format'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(marker, "opsledger-sqlite-99");
}

/// Flips one bit of the payload of the record at `position`.
fn flip_record_byte(dir: &Path, position: u64) {
    let conn = raw(dir);
    let mut record: Vec<u8> = conn
        .query_row(
            "SELECT record FROM events WHERE position = ?1",
            [position as i64],
            |r| r.get(0),
        )
        .unwrap();
    let at = record.len() - 8; // inside the payload, before the checksum
    record[at] ^= 0x20;
    let changed = conn
        .execute(
            "UPDATE events SET record = ?1 WHERE position = ?2",
            params![record, position as i64],
        )
        .unwrap();
    assert_eq!(changed, 1);
}

#[test]
fn a_damaged_record_is_a_verify_fault_and_a_typed_error_naming_its_position() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), EVENTS, 0);
    flip_record_byte(dir.path(), 17);

    let storage = open(dir.path()).unwrap();
    let log = storage.log();
    let report = log.verify().unwrap();
    assert_eq!(report.events_checked, EVENTS);
    assert_eq!(report.fault_count, 1, "{:?}", report.faults);
    assert_eq!(report.faults[0].kind, FaultKind::CorruptRecord);
    assert_eq!(report.faults[0].position, Some(Position(17)));

    assert_corrupt_at(log.read_all(Position(17), 100), 17);
    // A page stops before the damaged record; a page that starts there is the error.
    let page = log.read_all(Position(1), 100).unwrap();
    assert_eq!(page.last().unwrap().position, Position(16));
    assert_corrupt_at(
        log.read_stream(&stream(&stream_of(16)), Version::FIRST, 100),
        17,
    );
    assert_corrupt_at(log.event_by_id(ev(16).event_id), 17);
    let mut subscription = log.subscribe(Position::BEGINNING).unwrap();
    for p in 1..17 {
        let e = subscription
            .next_timeout(Duration::from_secs(5))
            .unwrap()
            .unwrap();
        assert_eq!(e.position, Position(p));
    }
    assert_corrupt_at(subscription.next_timeout(Duration::from_secs(5)), 17);
    assert_corrupt_at(subscription.next_timeout(Duration::from_secs(5)), 17);
    assert_eq!(subscription.position(), Position(16));
    // A consumer that skips the damaged record goes on after it.
    let mut subscription = log.subscribe(Position(17)).unwrap();
    let e = subscription
        .next_timeout(Duration::from_secs(5))
        .unwrap()
        .unwrap();
    assert_eq!(e.position, Position(18));

    // Everything around the damage reads back exactly as written.
    let before = log.read_all(Position(1), 16).unwrap();
    let after = log.read_all(Position(18), 1_000).unwrap();
    assert_eq!((before.len(), after.len()), (16, (EVENTS - 17) as usize));
    before.iter().chain(&after).for_each(assert_genuine);
    // The log stays writable after the damage, at the next position.
    let o = log
        .append(
            &stream("new"),
            ExpectedVersion::NoStream,
            vec![event(EVENTS, 0)],
        )
        .unwrap();
    assert_eq!(o.first_position, Position(EVENTS + 1));
}

#[test]
fn a_record_copied_to_another_position_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), EVENTS, 0);
    // A record that passes its checksum, but belongs at position 30.
    raw(dir.path())
        .execute(
            "UPDATE events SET record = (SELECT record FROM events WHERE position = 30) \
             WHERE position = 31",
            [],
        )
        .unwrap();
    let storage = open(dir.path()).unwrap();
    let log = storage.log();
    let report = log.verify().unwrap();
    assert!(!report.is_clean());
    assert!(
        report
            .faults
            .iter()
            .all(|f| f.position == Some(Position(31))),
        "{:?}",
        report.faults
    );
    assert!(
        report
            .faults
            .iter()
            .any(|f| f.kind == FaultKind::PositionMismatch),
        "{:?}",
        report.faults
    );
    assert_corrupt_at(log.read_all(Position(31), 1), 31);
    assert_corrupt_at(log.event_by_id(ev(30).event_id), 31);
    assert_genuine(&log.event_by_id(ev(29).event_id).unwrap().unwrap());
}

#[test]
fn a_damaged_head_record_refuses_to_open_naming_the_position() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), EVENTS, 0);
    flip_record_byte(dir.path(), EVENTS);
    let err = open(dir.path()).unwrap_err();
    assert!(
        matches!(err, StoreError::Corrupt { position: Some(p), .. } if p == Position(EVENTS)),
        "{err:?}"
    );
    assert!(err.to_string().contains(&EVENTS.to_string()), "{err}");
}

#[test]
fn a_missing_row_is_a_position_gap() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), EVENTS, 0);
    let deleted = raw(dir.path())
        .execute("DELETE FROM events WHERE position IN (40, 41)", [])
        .unwrap();
    assert_eq!(deleted, 2);

    let storage = open(dir.path()).unwrap();
    let log = storage.log();
    assert_eq!(log.head().unwrap(), Position(EVENTS));
    let report = log.verify().unwrap();
    assert_eq!(report.events_checked, EVENTS - 2);
    let gaps: Vec<_> = report
        .faults
        .iter()
        .filter(|f| f.kind == FaultKind::PositionGap)
        .collect();
    assert_eq!(gaps.len(), 1, "{:?}", report.faults);
    assert_eq!(gaps[0].position, Some(Position(40)));
    // The streams of the missing events now skip a version: reported too, at their positions.
    assert!(
        report
            .faults
            .iter()
            .all(|f| f.kind == FaultKind::PositionGap || f.kind == FaultKind::VersionOrder),
        "{:?}",
        report.faults
    );

    let page = log.read_all(Position(1), 1_000).unwrap();
    assert_eq!(page.last().unwrap().position, Position(39));
    assert_corrupt_at(log.read_all(Position(40), 1_000), 40);
    assert_corrupt_at(log.read_all(Position(41), 10), 41);
    let tail = log.read_all(Position(42), 1_000).unwrap();
    assert_eq!(tail.len(), (EVENTS - 41) as usize);
    tail.iter().for_each(assert_genuine);
    let mut subscription = log.subscribe(Position(35)).unwrap();
    for p in 36..40 {
        let e = subscription
            .next_timeout(Duration::from_secs(5))
            .unwrap()
            .unwrap();
        assert_eq!(e.position, Position(p));
    }
    assert_corrupt_at(subscription.next_timeout(Duration::from_secs(5)), 40);
}

#[test]
fn a_backup_taken_while_appending_is_a_consistent_dense_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(
        SqliteStorage::open(
            dir.path().join("live"),
            config().with_durability(Durability::GroupCommit),
            SqliteOptions::default(),
        )
        .unwrap(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    // Each unit appends one or two events and records the head it reached in a read model,
    // so a backup whose spaces and log come from different instants shows.
    let appender = {
        let storage = storage.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::Acquire) {
                let unit = storage.begin_unit().unwrap();
                let n = 1 + i % 2;
                let events = (i..i + n).map(|k| event(k, 200)).collect();
                let o = storage
                    .log()
                    .append(&stream(&stream_of(i)), ExpectedVersion::Any, events)
                    .unwrap();
                storage
                    .space(Space::Views)
                    .put(b"head".to_vec(), o.last_position.0.to_be_bytes().to_vec())
                    .unwrap();
                unit.commit().unwrap();
                i += n;
            }
            i
        })
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut targets = Vec::new();
    for k in 0..4 {
        while storage.log().head().unwrap().0 < 20 * (k + 1) {
            assert!(Instant::now() < deadline, "the appender makes no progress");
            std::thread::sleep(Duration::from_millis(5));
        }
        let to = dir.path().join(format!("backup-{k}"));
        storage.backup(&to).unwrap();
        assert!(!partial_of(&to).exists());
        targets.push(to);
    }
    stop.store(true, Ordering::Release);
    let appended = appender.join().unwrap();
    let source = every_event(&storage);
    assert_eq!(source.len() as u64, appended);

    let mut heads = Vec::new();
    for to in &targets {
        let copy = open(to).unwrap();
        let events = every_event(&copy);
        let head = copy.log().head().unwrap().0;
        assert!(
            head >= 20,
            "{}: the copy holds what preceded it",
            to.display()
        );
        assert_eq!(events.len() as u64, head);
        assert_eq!(
            events[..],
            source[..head as usize],
            "{}: a prefix",
            to.display()
        );
        let report = copy.log().verify().unwrap();
        assert!(report.is_clean(), "{}: {:?}", to.display(), report.faults);
        let recorded = copy.space(Space::Views).get(b"head").unwrap().unwrap();
        assert_eq!(
            recorded,
            head.to_be_bytes().to_vec(),
            "{}: the read model is of the same instant as the log",
            to.display()
        );
        heads.push(head);
    }
    assert!(heads.windows(2).all(|w| w[0] <= w[1]), "{heads:?}");
}

#[test]
fn a_backup_refuses_an_existing_target_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    build(&dir.path().join("live"), 10, 0);
    let storage = open(&dir.path().join("live")).unwrap();

    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, b"keep me").unwrap();
    for to in [&empty, &file] {
        let err = storage.backup(to).unwrap_err();
        match &err {
            StoreError::InvalidInput(reason) => {
                assert!(reason.contains(&to.display().to_string()), "{reason}")
            }
            other => panic!("expected InvalidInput, got {other:?}"),
        }
        assert!(
            !partial_of(to).exists(),
            "no partial copy of {}",
            to.display()
        );
    }
    assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0);
    assert_eq!(std::fs::read(&file).unwrap(), b"keep me");
    assert_eq!(storage.log().head().unwrap(), Position(10));
}

const BACKUP_CHILD_ENV: &str = "OPSLEDGER_BACKUP_CHILD";

/// The child of [`an_interrupted_backup_leaves_neither_the_target_nor_a_partial_copy`]: runs
/// only when re-invoked by it, under a file-size limit that the copy exceeds.
#[test]
fn backup_child_process() {
    let Ok(dirs) = std::env::var(BACKUP_CHILD_ENV) else {
        return;
    };
    let (live, to) = dirs.split_once('\n').unwrap();
    let (live, to) = (Path::new(live), Path::new(to));
    let storage = open(live).unwrap();
    let err = storage.backup(to).unwrap_err();
    println!("backup failed: {err}");
    assert!(
        matches!(err, StoreError::Io(_) | StoreError::Backend(_)),
        "{err:?}"
    );
    assert!(!to.exists(), "the target was left behind");
    assert!(!partial_of(to).exists(), "the partial copy was left behind");
    assert_eq!(storage.log().head().unwrap(), Position(EVENTS * 20));
    println!("child checks passed");
}

#[test]
fn an_interrupted_backup_leaves_neither_the_target_nor_a_partial_copy() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live");
    // About 5 MB of events: more than the child may write to any one file.
    build(&live, EVENTS * 20, 2_000);
    let to = dir.path().join("backup");
    // SIGXFSZ ignored, so an oversized write fails with EFBIG instead of killing the child;
    // the limit is in blocks of 512 or 1,024 bytes depending on the shell: 1 or 2 MiB.
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("trap '' XFSZ; ulimit -f 2048 && exec \"$0\" backup_child_process --exact --nocapture --test-threads=1")
        .arg(std::env::current_exe().unwrap())
        .env(
            BACKUP_CHILD_ENV,
            format!("{}\n{}", live.display(), to.display()),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout: Vec<String> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .collect();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    let status = child.wait().unwrap();
    assert!(
        status.success() && stdout.iter().any(|l| l == "child checks passed"),
        "child failed ({status}):\n{}\n{stderr}",
        stdout.join("\n")
    );
    for line in stdout.iter().filter(|l| l.contains("backup failed")) {
        eprintln!("child: {line}");
    }
    assert!(!to.exists());
    assert!(!partial_of(&to).exists());
    // The source is untouched by the failed copy.
    let storage = open(&live).unwrap();
    let report = storage.log().verify().unwrap();
    assert!(report.is_clean(), "{:?}", report.faults);
    assert_eq!(report.events_checked, EVENTS * 20);
}

#[test]
fn a_backup_never_deletes_an_existing_partial_copy_and_accepts_a_trailing_separator() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    build(&data, 5, 0);
    let storage = open(&data).unwrap();

    // Given a `<to>.partial` that is not ours (an interrupted or running backup),
    let to = root.path().join("copy");
    std::fs::create_dir_all(partial_of(&to)).unwrap();
    std::fs::write(partial_of(&to).join("keep.txt"), b"someone's file").unwrap();
    // the backup is refused and leaves it as it was.
    let err = storage.backup(&to).unwrap_err();
    assert!(matches!(err, StoreError::InvalidInput(_)), "{err}");
    assert!(err.to_string().contains(".partial"), "{err}");
    assert_eq!(
        std::fs::read(partial_of(&to).join("keep.txt")).unwrap(),
        b"someone's file"
    );
    assert!(!to.exists());

    // A target written with a trailing separator is the same directory.
    let other = root.path().join("other");
    let mut with_slash = other.as_os_str().to_owned();
    with_slash.push("/");
    storage.backup(Path::new(&with_slash)).unwrap();
    assert!(other.join(DATABASE_FILE).exists());
    assert!(!partial_of(&other).exists());
    let copy = SqliteStorage::open_read_only(&other, config()).unwrap();
    assert_eq!(every_event(&copy).len(), 5);
}
