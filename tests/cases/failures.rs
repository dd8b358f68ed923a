//! Failure paths, with faults injected into the engine ([`opsledger::Faults`]): a stored
//! command is never reported failed, and follow-ups that failed for a transient reason are
//! run again at the next open, exactly once.

use crate::support::*;
use opsledger::core::incident::{IncidentCommand, IncidentStatusKind};
use opsledger::{Clock, Engine, EngineConfig, FaultPoint, Faults, FollowUpResult};
use std::path::Path;
use std::sync::Arc;

/// A parent incident with two children, on sled, all open and the parent assigned.
fn family(dir: &Path, clock: &Arc<opsledger::ManualClock>, faults: &Faults) -> Engine {
    let config: EngineConfig = EngineConfig {
        faults: faults.clone(),
        ..config(clock, 1)
    };
    let engine = open_on_disk(dir, config).unwrap();
    let a = agent();
    for i in 1..=3 {
        exec(&engine, &a, open_incident(inc(i), &format!("incident {i}")));
    }
    for child in [2, 3] {
        exec(
            &engine,
            &a,
            IncidentCommand::LinkChild {
                id: inc(1),
                child: inc(child),
            },
        );
    }
    exec(&engine, &a, assign(inc(1), "ops", "alice"));
    engine
}

fn status(engine: &Engine, n: u32) -> IncidentStatusKind {
    engine
        .view(None)
        .unwrap()
        .incident(inc(n))
        .unwrap()
        .unwrap()
        .status
        .kind()
}

#[test]
fn a_command_whose_projection_fails_is_stored_whole_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let faults = Faults::new();
    let engine = family(dir.path(), &clock, &faults);
    let head = engine.head().unwrap();
    if test_backend() != "sled" {
        // On SQLite (and PostgreSQL) the events and their read models commit in one transaction: given the
        // read models cannot be written, the command fails and nothing of it is stored,
        faults.fail_next(FaultPoint::Projection, 10);
        let err = engine
            .execute(opsledger::CommandEnvelope::new(
                agent(),
                resolve(inc(1), "Restarted the gateway"),
            ))
            .expect_err("nothing was stored");
        assert!(err.to_string().contains("injected fault"), "{err}");
        assert_eq!(engine.head().unwrap(), head);
        assert_eq!(status(&engine, 1), IncidentStatusKind::InProgress);
        // and once they can, the same command is stored with its read models and cascade.
        faults.clear();
        exec(&engine, &agent(), resolve(inc(1), "Restarted the gateway"));
        assert_eq!(status(&engine, 1), IncidentStatusKind::Resolved);
        assert_eq!(status(&engine, 2), IncidentStatusKind::Resolved);
        let stats = engine.stats().unwrap();
        assert_eq!(stats.views_checkpoint, stats.head);
        return;
    }

    // Given the read models cannot be written for a while (every attempt fails),
    faults.fail_next(FaultPoint::Projection, 10);
    // when the parent is resolved,
    let outcome = engine
        .execute(opsledger::CommandEnvelope::new(
            agent(),
            resolve(inc(1), "Restarted the gateway"),
        ))
        .expect("the command is stored: it must not be reported failed");
    // then the outcome holds the stored event, and the children's cascade waits (the process
    // managers never decide on read models that lag the log).
    assert_eq!(outcome.events.len(), 1);
    assert_eq!(outcome.events[0].position.0, head + 1);
    assert!(outcome.follow_ups.is_empty(), "{:?}", outcome.follow_ups);
    assert_eq!(engine.head().unwrap(), head + 1);
    faults.clear();
    assert_eq!(status(&engine, 1), IncidentStatusKind::Resolved);
    assert_eq!(status(&engine, 2), IncidentStatusKind::New);
    engine.close().unwrap();

    // When the engine opens again, the cascade runs, once.
    let engine = open_on_disk(dir.path(), config(&clock, 2)).unwrap();
    assert_eq!(status(&engine, 2), IncidentStatusKind::Resolved);
    assert_eq!(status(&engine, 3), IncidentStatusKind::Resolved);
    let head = engine.head().unwrap();
    engine.close().unwrap();
    let engine = open_on_disk(dir.path(), config(&clock, 3)).unwrap();
    assert_eq!(engine.head().unwrap(), head, "nothing applied twice");
}

#[test]
fn a_follow_up_that_failed_transiently_runs_at_the_next_open_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let faults = Faults::new();
    let engine = family(dir.path(), &clock, &faults);

    // Given the first follow-up fails for a transient reason,
    faults.fail_next(FaultPoint::FollowUp, 1);
    let outcome = exec(&engine, &agent(), resolve(inc(1), "Restarted the gateway"));
    // then the command stands, the failure is reported with its code, the other child's
    // follow-up ran,
    let skipped: Vec<_> = outcome
        .follow_ups
        .iter()
        .filter(|f| matches!(f.result, FollowUpResult::Skipped { .. }))
        .collect();
    assert_eq!(skipped.len(), 1, "{:?}", outcome.follow_ups);
    let FollowUpResult::Skipped { code, .. } = &skipped[0].result else {
        unreachable!()
    };
    assert_eq!(code, "store");
    let skipped_child = skipped[0].record;
    let resolved: Vec<u32> = [2, 3]
        .into_iter()
        .filter(|&n| status(&engine, n) == IncidentStatusKind::Resolved)
        .collect();
    assert_eq!(resolved.len(), 1);
    let head = engine.head().unwrap();
    engine.close().unwrap();

    // and the next open runs the missing one (and only it).
    let engine = open_on_disk(dir.path(), config(&clock, 2)).unwrap();
    assert_eq!(status(&engine, 2), IncidentStatusKind::Resolved);
    assert_eq!(status(&engine, 3), IncidentStatusKind::Resolved);
    assert_eq!(engine.head().unwrap(), head + 1, "{skipped_child:?}");
    let timeline = engine.view(None).unwrap().timeline(skipped_child).unwrap();
    let last = timeline.last().unwrap();
    assert_eq!(last.actor, "opsledger:parent_resolution");
    engine.close().unwrap();
    let engine = open_on_disk(dir.path(), config(&clock, 3)).unwrap();
    assert_eq!(engine.head().unwrap(), head + 1);
}

#[test]
fn a_refused_follow_up_is_final_and_not_retried() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let faults = Faults::new();
    let engine = family(dir.path(), &clock, &faults);
    // Given one child is already canceled (the cascade's resolve is refused for it),
    exec(
        &engine,
        &agent(),
        IncidentCommand::Cancel {
            id: inc(3),
            reason: opsledger::core::incident::CancelReason::NotAnIncident,
        },
    );
    let outcome = exec(&engine, &agent(), resolve(inc(1), "Restarted the gateway"));
    // (a refusal is reported, or the canceled child is skipped: either way not an error),
    assert!(
        outcome
            .follow_ups
            .iter()
            .all(|f| !matches!(&f.result, FollowUpResult::Skipped { code, .. } if code == "store")),
        "{:?}",
        outcome.follow_ups
    );
    let head = engine.head().unwrap();
    engine.close().unwrap();
    // then reopening retries nothing.
    let engine = open_on_disk(dir.path(), config(&clock, 2)).unwrap();
    assert_eq!(engine.head().unwrap(), head);
    assert_eq!(status(&engine, 3), IncidentStatusKind::Canceled);
}

/// A read model whose version changed is rebuilt alone at the next open; a rebuild that fails
/// (or is interrupted) leaves the old version recorded, so the next open rebuilds it again
/// instead of serving its emptied tables.
#[test]
fn a_model_rebuild_that_fails_is_done_again_at_the_next_open() {
    if test_backend() == "postgres" {
        // This case edits the read models' SQLite file; a PostgreSQL schema has none.
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let faults = Faults::new();
    let engine = family(dir.path(), &clock, &faults);
    exec(&engine, &agent(), resolve(inc(1), "Restarted the gateway"));
    let window = opsledger::core::window::TimeWindow::new(
        clock.now() - chrono::Duration::days(1),
        clock.now() + chrono::Duration::days(1),
    );
    let query = opsledger::core::kpi::KpiQuery::new(window);
    let kpis = engine.view(None).unwrap().kpis(&query).unwrap();
    engine.close().unwrap();
    let kpi_version = || -> i64 {
        let db = rusqlite::Connection::open(read_models_database(dir.path())).unwrap();
        db.query_row(
            "SELECT version FROM read_models WHERE name = 'kpi'",
            [],
            |r| r.get(0),
        )
        .unwrap()
    };
    let current = kpi_version();
    {
        let db = rusqlite::Connection::open(read_models_database(dir.path())).unwrap();
        db.execute("UPDATE read_models SET version = 1 WHERE name = 'kpi'", [])
            .unwrap();
    }
    let config = || EngineConfig {
        faults: faults.clone(),
        ..config(&clock, 2)
    };
    faults.fail_next(FaultPoint::Projection, 1);
    let err = open_on_disk(dir.path(), config()).expect_err("the rebuild fails");
    assert!(err.to_string().contains("injected fault"), "{err}");
    assert_eq!(kpi_version(), 1, "a failed rebuild records no new version");
    faults.clear();
    let engine = open_on_disk(dir.path(), config()).unwrap();
    assert_eq!(engine.view(None).unwrap().kpis(&query).unwrap(), kpis);
    engine.close().unwrap();
    assert_eq!(kpi_version(), current);
}
