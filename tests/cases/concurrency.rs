//! Many threads against shared records: no lost update, dense numbers, one incident per alert
//! storm.

use crate::support::*;
use opsledger::core::incident::IncidentCommand;
use opsledger::{Engine, EngineError, QueueFilter, RecordRef};
use std::collections::BTreeSet;
use std::sync::Arc;

fn disk_engine_for_threads(dir: &std::path::Path) -> Engine {
    let clock = clock();
    let config = config(&clock, 7).with_max_attempts(200);
    open_on_disk(dir, config).expect("open")
}

#[test]
fn concurrent_writers_on_shared_records_lose_no_update() {
    let dir = tempfile::tempdir().unwrap();
    let engine = disk_engine_for_threads(dir.path());
    for i in 1..=2 {
        exec(&engine, &agent(), open_incident(inc(i), "shared"));
    }
    const THREADS: u32 = 6;
    const NOTES: u32 = 15;
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let engine = engine.clone();
            std::thread::spawn(move || {
                let mut ok = [0u32; 2];
                for n in 0..NOTES {
                    let target = (t + n) % 2;
                    let cmd = note(inc(target + 1), &format!("thread {t} note {n}"));
                    match try_exec(&engine, &agent(), cmd) {
                        Ok(o) => {
                            assert_eq!(o.events.len(), 1);
                            ok[target as usize] += 1;
                        }
                        Err(EngineError::RetriesExhausted { .. }) => {}
                        Err(e) => panic!("unexpected {e}"),
                    }
                }
                ok
            })
        })
        .collect();
    let mut ok = [0u32; 2];
    for h in handles {
        let r = h.join().unwrap();
        ok[0] += r[0];
        ok[1] += r[1];
    }
    assert_eq!(
        ok[0] + ok[1],
        THREADS * NOTES,
        "every write succeeded within the bound"
    );
    for (i, ok) in ok.iter().enumerate() {
        let id = inc(i as u32 + 1);
        let incident = engine.view(None).unwrap().incident(id).unwrap().unwrap();
        assert_eq!(
            incident.work_note_count,
            *ok,
            "no lost update on incident {}",
            i + 1
        );
        let view = engine
            .view(None)
            .unwrap()
            .record(RecordRef::incident(id))
            .unwrap()
            .unwrap();
        assert_eq!(view.version, u64::from(*ok) + 1);
    }
    // The read models match a rebuild from the log.
    let dump = engine.view(None).unwrap().dump().unwrap();
    engine.rebuild_views().unwrap();
    assert_eq!(engine.view(None).unwrap().dump().unwrap(), dump);
}

#[test]
fn concurrent_creations_get_dense_unique_numbers() {
    let (engine, _clock) = memory_engine();
    let engine = Arc::new(engine);
    const THREADS: u32 = 4;
    const EACH: u32 = 20;
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let engine = engine.clone();
            std::thread::spawn(move || {
                (0..EACH)
                    .map(|n| {
                        let o = exec(
                            &engine,
                            &agent(),
                            open_incident(inc(1000 + t * EACH + n), "x"),
                        );
                        o.number.unwrap().value
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let numbers: BTreeSet<u64> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    assert_eq!(numbers, (1..=u64::from(THREADS * EACH)).collect());
    // Lookup both ways.
    let view = engine.view(None).unwrap();
    for n in [1, 40, 80] {
        let number = format!("INC{n:07}");
        let found = view.find(&number).unwrap().unwrap();
        assert_eq!(
            view.number_of(found.record).unwrap().unwrap().to_string(),
            number
        );
    }
}

#[test]
fn a_concurrent_alert_storm_becomes_one_incident() {
    let dir = tempfile::tempdir().unwrap();
    let engine = disk_engine_for_threads(dir.path());
    const THREADS: usize = 4;
    const EACH: usize = 10;
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let engine = engine.clone();
            std::thread::spawn(move || {
                (0..EACH)
                    .map(|_| exec(&engine, &monitor(), alert("latency:checkout", None)).record)
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let records: BTreeSet<RecordRef> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    assert_eq!(records.len(), 1, "one incident for one dedup key");
    let alerts = engine.view(None).unwrap().open_alerts().unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].alert_count, (THREADS * EACH) as u64);
    let page = engine
        .view(None)
        .unwrap()
        .queue(&QueueFilter::incidents())
        .unwrap();
    assert_eq!(page.items.len(), 1);
}

#[test]
fn pinned_writers_conflict_instead_of_overwriting() {
    let (engine, _clock) = memory_engine();
    exec(&engine, &agent(), open_incident(inc(1), "x"));
    let stale =
        opsledger::CommandEnvelope::new(agent(), IncidentCommand::Acknowledge { id: inc(1) })
            .expected_version(1);
    exec(&engine, &agent(), note(inc(1), "someone else was first"));
    match engine.execute(stale) {
        Err(EngineError::Conflict {
            expected, actual, ..
        }) => assert_eq!((expected, actual), (1, 2)),
        other => panic!("expected a conflict, got {other:?}"),
    }
    let ok = opsledger::CommandEnvelope::new(agent(), IncidentCommand::Acknowledge { id: inc(1) })
        .expected_version(2);
    assert_eq!(engine.execute(ok).unwrap().version, 3);
}

/// A clock that, once armed, lets another writer change the record between the moment a
/// command loaded it and the moment it appends (the decision reads the clock in between).
#[derive(Debug)]
struct InterferingClock {
    inner: opsledger::ManualClock,
    engine: std::sync::OnceLock<Engine>,
    armed: std::sync::atomic::AtomicBool,
}

impl opsledger::Clock for InterferingClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        if self.armed.swap(false, std::sync::atomic::Ordering::SeqCst) {
            let engine = self.engine.get().expect("engine set").clone();
            std::thread::spawn(move || exec(&engine, &agent2(), note(inc(1), "interfering")))
                .join()
                .expect("interfering writer");
        }
        self.inner.now()
    }
}

#[test]
fn an_unpinned_conflict_is_retried_against_fresh_state() {
    let clock = Arc::new(InterferingClock {
        inner: opsledger::ManualClock::new(t0()),
        engine: std::sync::OnceLock::new(),
        armed: std::sync::atomic::AtomicBool::new(false),
    });
    let engine = Engine::in_memory(
        opsledger::EngineConfig::default()
            .with_clock(clock.clone())
            .with_ids(Arc::new(opsledger::SequentialIds::new(3))),
    )
    .unwrap();
    let _ = clock.engine.set(engine.clone());
    exec(&engine, &agent(), open_incident(inc(1), "x"));
    clock.armed.store(true, std::sync::atomic::Ordering::SeqCst);
    let o = exec(&engine, &agent(), note(inc(1), "mine"));
    assert_eq!(
        o.version, 3,
        "decided again on version 2, after the interfering note"
    );
    assert_eq!(engine.stats().unwrap().conflicts_retried, 1);
    let incident = engine
        .view(None)
        .unwrap()
        .incident(inc(1))
        .unwrap()
        .unwrap();
    assert_eq!(incident.work_note_count, 2);

    // The same interference against a pinned command is a typed conflict.
    clock.armed.store(true, std::sync::atomic::Ordering::SeqCst);
    let pinned =
        opsledger::CommandEnvelope::new(agent(), note(inc(1), "pinned")).expected_version(3);
    match engine.execute(pinned) {
        Err(EngineError::Conflict {
            expected, actual, ..
        }) => assert_eq!((expected, actual), (3, 4)),
        other => panic!("expected a conflict, got {other:?}"),
    }
}

#[test]
fn concurrent_lifecycles_leave_read_models_equal_to_a_replay() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let engine = open_on_disk(
        dir.path(),
        config(&clock, 9)
            .with_max_attempts(200)
            .with_durability(opsledger::Durability::GroupCommit),
    )
    .expect("open");
    exec(&engine, &agent(), open_incident(inc(1000), "shared"));
    const THREADS: u32 = 4;
    const INCIDENTS: u32 = 12;
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let engine = &engine;
            scope.spawn(move || {
                for i in 0..INCIDENTS {
                    let id = inc(t * 100 + i + 1);
                    exec(engine, &agent(), open_incident(id, "mine"));
                    exec(engine, &agent(), assign(id, "ops", "alice"));
                    exec(engine, &agent(), note(id, "looking"));
                    if i % 2 == 0 {
                        exec(engine, &agent(), resolve(id, "fixed"));
                    } else {
                        exec(engine, &agent(), note(inc(1000), "shared note"));
                    }
                }
            });
        }
    });
    let live = engine.view(None).unwrap().dump().unwrap();
    let replayed = engine.view(Some(t0())).unwrap().dump().unwrap();
    assert!(live == replayed, "the read models differ from a replay");
}
