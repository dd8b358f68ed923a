//! Opening: no replay when read models and checkpoints are current; rebuild when they are
//! missing, stale or ahead of the log; interrupted follow-ups completed after a crash.

use crate::support::*;
use opsledger::core::incident::{IncidentCommand, IncidentStatusKind};
use opsledger::{Engine, EventHook, QueueFilter, RecordRef, StoredEvent};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

fn populate(engine: &Engine, from: u32, to: u32) {
    let a = agent();
    for i in from..=to {
        exec(engine, &a, open_incident(inc(i), &format!("incident {i}")));
        exec(
            engine,
            &a,
            assign(inc(i), "ops", if i % 2 == 0 { "alice" } else { "bob" }),
        );
        exec(engine, &a, note(inc(i), "looking"));
        if i % 3 == 0 {
            exec(engine, &a, resolve(inc(i), "fixed"));
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn opening_with_current_read_models_replays_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let engine = disk_engine(dir.path(), &clock, 1);
    populate(&engine, 1, 60);
    let head = engine.head().unwrap();
    let dump = engine.view(None).unwrap().dump().unwrap();
    engine.close().unwrap();

    let engine = disk_engine(dir.path(), &clock, 2);
    let stats = engine.stats().unwrap();
    assert_eq!(stats.head, head);
    assert_eq!(stats.open.views_events_applied, 0);
    assert_eq!(stats.open.process_events_checked, 0);
    assert_eq!(stats.views_checkpoint, head);
    assert_eq!(engine.view(None).unwrap().dump().unwrap(), dump);
    // Record states load from snapshots and the tail: equal to a fold from the beginning.
    for i in [1, 30, 60] {
        let rec = RecordRef::incident(inc(i));
        let version = engine
            .view(None)
            .unwrap()
            .record(rec)
            .unwrap()
            .unwrap()
            .version;
        assert_eq!(
            engine.view(None).unwrap().state(rec).unwrap(),
            engine.state_at_version(rec, version).unwrap()
        );
    }
}

#[test]
fn deleted_read_models_are_rebuilt_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let engine = disk_engine(dir.path(), &clock, 1);
    populate(&engine, 1, 20);
    let head = engine.head().unwrap();
    let dump = engine.view(None).unwrap().dump().unwrap();
    engine.close().unwrap();
    delete_read_models(dir.path());

    let engine = disk_engine(dir.path(), &clock, 2);
    let stats = engine.stats().unwrap();
    assert_eq!(stats.open.views_events_applied, head);
    assert_eq!(
        stats.open.process_events_checked, 0,
        "history is not re-run"
    );
    assert_eq!(engine.view(None).unwrap().dump().unwrap(), dump);
    let page = engine
        .view(None)
        .unwrap()
        .queue(&QueueFilter::incidents().limit(100))
        .unwrap();
    assert_eq!(page.items.len(), 20);
}

#[test]
fn read_models_ahead_of_the_log_are_rebuilt() {
    let root = tempfile::tempdir().unwrap();
    let early = root.path().join("early");
    let late = root.path().join("late");
    let clock = clock();
    let engine = disk_engine(&early, &clock, 1);
    populate(&engine, 1, 5);
    let early_dump = engine.view(None).unwrap().dump().unwrap();
    engine.close().unwrap();
    if test_backend() == "postgres" {
        // A schema is not in the directory, so it cannot be copied with it: "late" records a
        // longer history of its own, whose read models are as far ahead of early's log.
        let engine = disk_engine(&late, &clock, 2);
        populate(&engine, 1, 10);
        engine.close().unwrap();
    } else {
        copy_dir(&early, &late);
        let engine = disk_engine(&late, &clock, 2);
        populate(&engine, 6, 10);
        engine.close().unwrap();
    }
    // The log of "early" with the read models of "late": as after a crash that lost the
    // log's tail but not the views.
    copy_read_models(&late, &early);
    let engine = disk_engine(&early, &clock, 3);
    assert!(engine.stats().unwrap().open.views_rebuilt);
    assert_eq!(engine.view(None).unwrap().dump().unwrap(), early_dump);
}

/// Arms a clock when a given event type is projected.
struct ArmOn {
    event_type: &'static str,
    flag: Arc<AtomicBool>,
}

impl EventHook for ArmOn {
    fn name(&self) -> &str {
        "arm-on"
    }
    fn on_events(&self, events: &[StoredEvent]) {
        if events.iter().any(|e| e.event_type == self.event_type) {
            self.flag.store(true, Ordering::SeqCst);
        }
    }
}

/// A clock that panics at its next reading once armed: a crash in the middle of a command.
#[derive(Debug)]
struct CrashingClock {
    inner: opsledger::ManualClock,
    armed: Arc<AtomicBool>,
}

impl opsledger::Clock for CrashingClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        if self.armed.swap(false, Ordering::SeqCst) {
            panic!("simulated crash");
        }
        self.inner.now()
    }
}

#[test]
fn follow_ups_interrupted_by_a_crash_run_at_the_next_open() {
    let dir = tempfile::tempdir().unwrap();
    let armed = Arc::new(AtomicBool::new(false));
    let crashing = Arc::new(CrashingClock {
        inner: opsledger::ManualClock::new(t0()),
        armed: armed.clone(),
    });
    let manual = clock();
    let engine = open_on_disk(dir.path(), config(&manual, 1).with_clock(crashing)).unwrap();
    let a = agent();
    for i in 1..=3 {
        exec(&engine, &a, open_incident(inc(i), "x"));
    }
    for child in [2, 3] {
        exec(
            &engine,
            &a,
            IncidentCommand::LinkParent {
                id: inc(child),
                parent: inc(1),
            },
        );
    }
    exec(&engine, &a, assign(inc(1), "ops", "alice"));
    engine.add_hook(Arc::new(ArmOn {
        event_type: "incident.resolved",
        flag: armed.clone(),
    }));
    // The parent's resolution is stored and projected; the first follow-up's decision then
    // "crashes" the process.
    let crashed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        engine.execute(opsledger::CommandEnvelope::new(
            a.clone(),
            resolve(inc(1), "done"),
        ))
    }));
    assert!(crashed.is_err());
    let head = engine.head().unwrap();
    let child = engine
        .view(None)
        .unwrap()
        .incident(inc(2))
        .unwrap()
        .unwrap();
    assert_eq!(
        child.status.kind(),
        IncidentStatusKind::New,
        "follow-up not applied yet"
    );
    drop(engine);

    let engine = disk_engine(dir.path(), &manual, 2);
    let stats = engine.stats().unwrap();
    assert!(stats.open.process_events_checked >= 1);
    assert!(engine.head().unwrap() > head);
    for child in [2, 3] {
        let c = engine
            .view(None)
            .unwrap()
            .incident(inc(child))
            .unwrap()
            .unwrap();
        assert_eq!(
            c.status.kind(),
            IncidentStatusKind::Resolved,
            "child {child}"
        );
    }
    // And a second open finds nothing more to do.
    let head = engine.head().unwrap();
    drop(engine);
    let engine = disk_engine(dir.path(), &manual, 3);
    assert_eq!(engine.stats().unwrap().open.process_events_checked, 0);
    assert_eq!(engine.head().unwrap(), head);
}

/// Records the positions it is called with.
struct Positions(std::sync::Mutex<Vec<u64>>);

impl EventHook for Positions {
    fn name(&self) -> &str {
        "positions"
    }
    fn on_events(&self, events: &[StoredEvent]) {
        self.0
            .lock()
            .unwrap()
            .extend(events.iter().map(|e| e.position.0));
    }
}

#[test]
fn a_hook_in_the_config_sees_the_events_projected_while_the_engine_opens() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let engine = disk_engine(dir.path(), &clock, 1);
    exec(&engine, &agent(), open_incident(inc(1), "x"));
    exec(&engine, &agent(), assign(inc(1), "ops", "alice"));
    let head = engine.head().unwrap();
    engine.close().unwrap();

    // Given the read models were deleted (a cache: rebuilt at the next open),
    delete_read_models(dir.path());
    // when the engine opens with a hook in its configuration,
    let hook = Arc::new(Positions(std::sync::Mutex::new(Vec::new())));
    let engine = open_on_disk(dir.path(), config(&clock, 2).with_hook(hook.clone())).unwrap();
    // then the hook saw every event of the rebuild, in order, once;
    assert_eq!(*hook.0.lock().unwrap(), (1..=head).collect::<Vec<_>>());
    // and it goes on seeing new ones.
    exec(&engine, &agent(), resolve(inc(1), "fixed"));
    let seen = hook.0.lock().unwrap().clone();
    assert_eq!(seen.last(), Some(&engine.head().unwrap()));
    assert_eq!(seen.len() as u64, engine.head().unwrap());
}

/// The newest sled page-table snapshot's stable LSN in `db` (`snap.<hex>` files); none before
/// sled has written anything to a new database.
fn sled_snapshot_lsn(db: &Path) -> Option<u64> {
    std::fs::read_dir(db)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            u64::from_str_radix(name.strip_prefix("snap.")?, 16).ok()
        })
        .max()
}

/// An engine on the sled backend whose ids do not repeat another open's (`seed`), with
/// page-table refresh threshold `min`.
fn refreshing_sled_engine(
    dir: &Path,
    clock: &Arc<opsledger::ManualClock>,
    seed: u64,
    min: Option<u64>,
) -> Engine {
    let dir = dir.to_path_buf();
    let options = opsledger_store_sled::SledOptions {
        page_table_refresh_min_events: min,
        ..Default::default()
    };
    Engine::builder()
        .storage(move |store_config| {
            Ok(Box::new(opsledger_store_sled::SledStorage::open(
                &dir,
                store_config,
                options,
            )?))
        })
        .config(config(clock, seed))
        .open()
        .unwrap()
}

#[test]
fn a_clean_close_on_sled_leaves_the_log_with_a_current_page_table_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let log = dir.path().join(opsledger_store_sled::LOG_DIR);
    let snapshot = || sled_snapshot_lsn(&log);

    // A run that wrote less than the threshold leaves the snapshot where its open put it.
    let engine = refreshing_sled_engine(dir.path(), &clock, 1, Some(1_000));
    let opened = snapshot();
    populate(&engine, 1, 20);
    engine.close().unwrap();
    assert_eq!(snapshot(), opened);

    // One that wrote more moves it past what it wrote, so the next open reads no log segment
    // of this run; the data is what it was.
    let engine = refreshing_sled_engine(dir.path(), &clock, 2, Some(10));
    let opened = snapshot();
    populate(&engine, 21, 40);
    let dump = engine.view(None).unwrap().dump().unwrap();
    engine.close().unwrap();
    let closed = snapshot();
    assert!(closed > opened, "{closed:?} vs {opened:?}");
    let engine = refreshing_sled_engine(dir.path(), &clock, 3, Some(10));
    assert_eq!(snapshot(), closed);
    assert_eq!(engine.view(None).unwrap().dump().unwrap(), dump);
    assert_eq!(engine.stats().unwrap().open.views_events_applied, 0);

    // A run that only reads does not refresh, whatever the threshold.
    let _ = engine.view(None).unwrap().dump().unwrap();
    engine.close().unwrap();
    assert_eq!(snapshot(), closed);
}

/// Flips bits in the value of every third read-model row of the closed data directory `dir`
/// (its SQLite file, or its PostgreSQL schema).
fn damage_read_model_rows(dir: &Path) -> usize {
    let rows = sql_rows(dir, "SELECT key, value FROM kv_views ORDER BY key", &[]);
    let mut damaged = 0;
    for row in rows.into_iter().step_by(3) {
        let (key, mut value) = (row[0].bytes().to_vec(), row[1].bytes().to_vec());
        if value.is_empty() {
            continue;
        }
        let at = value.len() / 2;
        value[at] ^= 0x5A;
        let changed = sql_execute(
            dir,
            "UPDATE kv_views SET value = ?1 WHERE key = ?2",
            &[SqlCell::Bytes(value), SqlCell::Bytes(key)],
        );
        assert_eq!(changed, 1);
        damaged += 1;
    }
    damaged
}

#[test]
fn damaged_read_model_rows_are_repaired_by_a_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let engine = disk_engine(dir.path(), &clock, 1);
    populate(&engine, 1, 12);
    let dump = engine.view(None).unwrap().dump().unwrap();
    engine.close().unwrap();

    // Given read-model rows whose bytes were flipped (the log is intact),
    assert!(damage_read_model_rows(dir.path()) > 3);
    // the directory still opens (never bricked), and a rebuild restores every read model
    // from the log.
    let engine = disk_engine(dir.path(), &clock, 2);
    engine.rebuild_views().unwrap();
    assert_eq!(engine.view(None).unwrap().dump().unwrap(), dump);
    assert!(engine.verify().unwrap().is_clean());
    engine.close().unwrap();
    let engine = disk_engine(dir.path(), &clock, 3);
    assert_eq!(engine.view(None).unwrap().dump().unwrap(), dump);
}

#[test]
fn a_read_models_file_damaged_beyond_reading_never_bricks_a_sled_directory() {
    if test_backend() != "sled" {
        // On SQLite the read models share the log's file: damage there is the log's, found by
        // `verify` (see the store's fault tests).
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let engine = disk_engine(dir.path(), &clock, 1);
    populate(&engine, 1, 6);
    let dump = engine.view(None).unwrap().dump().unwrap();
    engine.close().unwrap();

    // Given the read models' database is overwritten with garbage,
    let file = read_models_database(dir.path());
    let size = std::fs::metadata(&file).unwrap().len() as usize;
    std::fs::write(&file, vec![0xA5; size.max(8192)]).unwrap();
    // the engine still opens: the damaged file is set aside and the read models rebuilt.
    let engine = disk_engine(dir.path(), &clock, 2);
    assert!(engine.stats().unwrap().open.views_events_applied > 0);
    assert_eq!(engine.view(None).unwrap().dump().unwrap(), dump);
    let set_aside = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains("damaged")
        })
        .count();
    assert_eq!(set_aside, 1, "the damaged file is kept for inspection");
}
