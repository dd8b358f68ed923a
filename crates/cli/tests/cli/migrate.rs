//! `migrate`: every event into a new data directory, across backends, checked; nothing left
//! behind when it fails.

use crate::common::*;
use opsledger::store::{
    AppendRequest, ExpectedVersion, NewEvent, Position, StoreConfig, StoredEvent, StreamId,
};
use serde_json::Value;
use std::path::Path;

/// Every stored event of a data directory, read through the bare storage (read-only).
fn stored_events(dir: &Path) -> Vec<StoredEvent> {
    let storage = opsledger::open_storage(dir, StoreConfig::default(), true).unwrap();
    let head = storage.log().head().unwrap().0;
    let mut events = Vec::new();
    while (events.len() as u64) < head {
        let page = storage
            .log()
            .read_all(Position(events.len() as u64 + 1), 500)
            .unwrap();
        assert!(!page.is_empty());
        events.extend(page);
    }
    storage.close(0).unwrap();
    events
}

fn kpis(dir: &Path) -> Value {
    serde_json::from_str(&ok(&[
        "kpi",
        "--data",
        s(dir),
        "--json",
        // As of a fixed instant: a live report measures backlog ages at the moment it runs.
        "--as-of",
        "2100-01-01T00:00:00Z",
    ]))
    .unwrap()
}

/// `<dir>.partial`.
fn partial(dir: &Path) -> std::path::PathBuf {
    let mut name = dir.file_name().unwrap().to_owned();
    name.push(".partial");
    dir.with_file_name(name)
}

#[test]
fn sqlite_to_sled_to_sqlite_keeps_every_event_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("c"),
    );
    build(&a, 9);
    let original = ok(&["export", "--data", s(&a)]);
    let events = original.lines().count();
    assert!(events > 20, "{events} events");

    // SQLite -> sled (the default store is SQLite, so sled must be asked for).
    let report = ok(&["migrate", "--from", s(&a), "--to", s(&b), "--store", "sled"]);
    assert!(report.contains("(sqlite) to"), "{report}");
    assert!(report.contains("(sled)"), "{report}");
    assert!(
        report.contains(&format!("events          {events}\n")),
        "{report}"
    );
    assert!(report.contains("streams         "), "{report}");
    assert!(report.contains("seconds         "), "{report}");
    assert!(b.join("log").is_dir() && !b.join("opsledger.db").exists());
    // sled -> SQLite (the default).
    let report = ok(&["migrate", "--from", s(&b), "--to", s(&c)]);
    assert!(report.contains("(sled) to"), "{report}");
    assert!(c.join("opsledger.db").is_file() && !c.join("log").exists());
    for d in [&b, &c] {
        assert!(!partial(d).exists(), "{} left behind", partial(d).display());
    }

    // The exports are byte for byte the original's, each copy verifies, and the projections
    // built from the copies answer as the original's do.
    for d in [&b, &c] {
        assert!(
            ok(&["export", "--data", s(d)]) == original,
            "the export of {} differs",
            d.display()
        );
        let report = ok(&["verify", "--data", s(d)]);
        assert!(report.contains("faults              0"), "{report}");
        assert!(report.contains("verify: OK"), "{report}");
        assert!(report.contains("at open             current"), "{report}");
    }
    assert_eq!(kpis(&a), kpis(&c));
    // Every stored field, the records' checksums included, is the original's.
    let source = stored_events(&a);
    assert_eq!(source.len(), events);
    assert!(source == stored_events(&b), "sled copy differs");
    assert!(source == stored_events(&c), "SQLite copy differs");
}

#[test]
fn migrate_writes_only_into_a_new_or_empty_directory() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    build(&a, 2);
    build(&b, 1);

    // A directory holding data, or anything at all: refused, exit 3, left as it was.
    let before = tree(&b);
    let o = run(&["migrate", "--from", s(&a), "--to", s(&b)]);
    assert_exit(&o, 3);
    assert!(stderr(&o).contains("not empty"), "{}", stderr(&o));
    assert!(stderr(&o).contains("nothing was written"), "{}", stderr(&o));
    assert_eq!(tree(&b), before);
    assert!(!partial(&b).exists());
    let notes = dir.path().join("notes");
    std::fs::create_dir(&notes).unwrap();
    std::fs::write(notes.join("todo.txt"), "mine").unwrap();
    assert_exit(&run(&["migrate", "--from", s(&a), "--to", s(&notes)]), 3);
    assert_eq!(tree(&notes).len(), 1);
    // Onto itself: the source is not empty; into itself: refused before anything is written.
    assert_exit(&run(&["migrate", "--from", s(&a), "--to", s(&a)]), 3);
    let before = tree(&a);
    let o = run(&["migrate", "--from", s(&a), "--to", s(&a.join("x/copy"))]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("inside"), "{}", stderr(&o));
    assert_eq!(tree(&a), before);
    // A leftover `<to>.partial` is never removed for the caller.
    let target = dir.path().join("target");
    std::fs::create_dir(partial(&target)).unwrap();
    std::fs::write(partial(&target).join("keep.txt"), "mine").unwrap();
    let o = run(&["migrate", "--from", s(&a), "--to", s(&target)]);
    assert_exit(&o, 3);
    assert!(stderr(&o).contains("target.partial"), "{}", stderr(&o));
    assert!(!target.exists());
    assert_eq!(tree(&partial(&target)).len(), 1);
    std::fs::remove_dir_all(partial(&target)).unwrap();
    // An empty directory is fine, and so is a trailing separator.
    std::fs::create_dir(&target).unwrap();
    let o = run(&[
        "migrate",
        "--from",
        s(&a),
        "--to",
        &format!("{}/", s(&target)),
    ]);
    assert_exit(&o, 0);
    assert_eq!(
        ok(&["export", "--data", s(&target)]),
        ok(&["export", "--data", s(&a)])
    );
    assert!(!partial(&target).exists());

    // No source, an unknown backend: nothing is created.
    let never = dir.path().join("never");
    let o = run(&[
        "migrate",
        "--from",
        s(&dir.path().join("missing")),
        "--to",
        s(&never),
    ]);
    assert_exit(&o, 3);
    assert!(stderr(&o).contains("does not exist"), "{}", stderr(&o));
    let o = run(&[
        "migrate",
        "--from",
        s(&a),
        "--to",
        s(&never),
        "--store",
        "csv",
    ]);
    assert_exit(&o, 2);
    assert!(!never.exists() && !partial(&never).exists());
}

#[test]
fn a_damaged_source_is_refused_and_nothing_is_left_behind() {
    let dir = tempfile::tempdir().unwrap();
    let (good, bad) = (dir.path().join("good"), dir.path().join("bad"));
    build(&good, 4);
    copy_dir(&good, &bad);
    damage_record(&bad, 3);
    let report = run(&["verify", "--data", s(&bad)]);
    assert_exit(&report, 1);

    for store in ["sqlite", "sled"] {
        let target = dir.path().join(format!("copy-{store}"));
        let o = run(&[
            "migrate",
            "--from",
            s(&bad),
            "--to",
            s(&target),
            "--store",
            store,
        ]);
        assert_exit(&o, 3);
        let message = stderr(&o);
        assert!(message.contains("1 fault(s)"), "{message}");
        assert!(message.contains("position 3: corrupt record"), "{message}");
        assert!(message.contains("opsledger verify"), "{message}");
        assert!(!target.exists(), "{store}: a target was left");
        assert!(
            !partial(&target).exists(),
            "{store}: a partial copy was left"
        );
    }
}

#[test]
fn a_failure_after_copying_removes_the_partial_copy() {
    // A log whose checksums are sound but whose event the engine cannot read: the copy is
    // written and checked, then building the projections fails, and the copy goes.
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    let storage = opsledger::create_storage(
        &source,
        StoreConfig::default(),
        opsledger::DirectoryKind::Sqlite,
    )
    .unwrap();
    storage
        .log()
        .append_multi(vec![AppendRequest::new(
            StreamId::new("incident-0190f2a4-0000-7000-8000-000000000001").unwrap(),
            ExpectedVersion::NoStream,
            vec![NewEvent {
                event_id: opsledger::Uuid::from_u128(1),
                event_type: "incident.opened".into(),
                schema_version: 1,
                occurred_at: chrono::DateTime::UNIX_EPOCH,
                actor: "x".into(),
                correlation_id: None,
                causation_id: None,
                payload: br#"{"nonsense":true}"#.to_vec(),
            }],
        )])
        .unwrap();
    storage.close(0).unwrap();

    for store in ["sqlite", "sled"] {
        let target = dir.path().join(format!("copy-{store}"));
        let o = run(&[
            "migrate",
            "--from",
            s(&source),
            "--to",
            s(&target),
            "--store",
            store,
        ]);
        assert_exit(&o, 3);
        assert!(
            stderr(&o).contains("cannot open the engine on the new log"),
            "{}",
            stderr(&o)
        );
        assert!(!target.exists(), "{store}: a target was left");
        assert!(
            !partial(&target).exists(),
            "{store}: a partial copy was left"
        );
    }
}

#[test]
fn migrate_reads_a_directory_a_server_is_writing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    build(&data, 2);
    let server = Server::start(&data, &[]);
    let copy = dir.path().join("copy");
    let report = ok(&[
        "migrate",
        "--from",
        s(&data),
        "--to",
        s(&copy),
        "--store",
        "sled",
    ]);
    let events = reported(&report, "events");
    assert!(server.stop().0.success());
    let copied = ok(&["export", "--data", s(&copy)]);
    assert_eq!(copied.lines().count() as u64, events);
    assert_eq!(copied, ok(&["export", "--data", s(&data)]));
}

/// Every stored event of a store location (a directory or a database URL).
fn stored_events_at(location: &str) -> Vec<StoredEvent> {
    let storage = opsledger::open_storage_at(location, StoreConfig::default(), true).unwrap();
    let head = storage.log().head().unwrap().0;
    let events = opsledger::store::log_events(storage.log(), 1, head, 500)
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    storage.close(0).unwrap();
    events
}

#[test]
fn sqlite_to_postgres_to_sled_keeps_every_event_exactly() {
    let Some(url) = opsledger_store_postgres::testing::test_url() else {
        return;
    };
    let _server = postgres_shared();
    let schema = opsledger_store_postgres::testing::TestSchema::new(&url, "migrate");
    let partial_schema = opsledger_store_postgres::testing::TestSchema {
        url: url.clone(),
        name: format!("{}_partial", schema.name),
    };
    let separator = if url.contains('?') { '&' } else { '?' };
    let database = format!("{url}{separator}schema={}", schema.name);
    let dir = tempfile::tempdir().unwrap();
    let (a, c) = (dir.path().join("a"), dir.path().join("c"));
    build(&a, 9);
    let events = stored_events(&a);

    // SQLite -> PostgreSQL: the URL names the target.
    let report = ok(&["migrate", "--from", s(&a), "--to", &database]);
    assert!(report.contains("(sqlite) to"), "{report}");
    assert!(report.contains("(postgres)"), "{report}");
    assert!(
        report.contains(&format!("events          {}\n", events.len())),
        "{report}"
    );
    assert!(
        !opsledger_store_postgres::admin::schema_exists(&url, &partial_schema.name).unwrap(),
        "the partial schema is renamed into place"
    );
    assert!(
        events == stored_events_at(&database),
        "PostgreSQL copy differs"
    );
    // The schema exists now: migrating into it again is refused, and writes nothing.
    let refused = run(&["migrate", "--from", s(&a), "--to", &database]);
    assert_exit(&refused, 3);
    assert!(
        stderr(&refused).contains("it exists"),
        "{}",
        stderr(&refused)
    );

    // PostgreSQL -> sled, every field equal to the original's.
    let report = ok(&[
        "migrate",
        "--from",
        &database,
        "--to",
        s(&c),
        "--store",
        "sled",
    ]);
    assert!(report.contains("(postgres) to"), "{report}");
    assert!(events == stored_events(&c), "sled copy differs");
    assert_eq!(kpis(&a), kpis(&c));
    // A PostgreSQL target must be a URL.
    let refused = run(&[
        "migrate",
        "--from",
        s(&a),
        "--to",
        s(&dir.path().join("d")),
        "--store",
        "postgres",
    ]);
    assert_exit(&refused, 2);
    drop(partial_schema);
}
