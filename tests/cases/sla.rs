//! SLA clocks in the engine: attachment as a follow-up, clocks and explanations as of any
//! instant, the tick (thresholds, breaches, auto-close; exactly once, across restarts), KPIs.

use crate::support::*;
use chrono::Duration;
use opsledger::core::calendar::BusinessCalendar;
use opsledger::core::incident::{IncidentCommand, IncidentStatusKind};
use opsledger::core::kpi::{KpiQuery, KpiReport};
use opsledger::core::sla::{CalendarRef, SlaDefinition, SlaKey, SlaMetric, SlaPolicy, SlaScope};
use opsledger::core::window::TimeWindow;
use opsledger::core::{Impact, Policy, Priority, RecordKind, Urgency};
use opsledger::{Clock, Engine, FollowUpResult, ManualClock, RecordRef};
use std::sync::Arc;

fn sla_policy() -> Policy {
    let cal = || CalendarRef::exact("24x7", 1);
    Policy {
        sla: SlaPolicy::new(
            vec![
                SlaDefinition::new(
                    SlaKey::new("response", 1),
                    "Response",
                    SlaScope::all(RecordKind::Incident),
                    SlaMetric::Response,
                    Duration::minutes(30),
                    cal(),
                )
                .with_thresholds([50]),
                SlaDefinition::new(
                    SlaKey::new("standard-resolution", 1),
                    "Standard resolution",
                    SlaScope::all(RecordKind::Incident).with_priorities([
                        Priority::High,
                        Priority::Moderate,
                        Priority::Low,
                        Priority::Planning,
                    ]),
                    SlaMetric::Resolution,
                    Duration::hours(4),
                    cal(),
                )
                .with_thresholds([75]),
                SlaDefinition::new(
                    SlaKey::new("urgent-resolution", 1),
                    "Urgent resolution",
                    SlaScope::all(RecordKind::Incident).with_priorities([Priority::Critical]),
                    SlaMetric::Resolution,
                    Duration::hours(1),
                    cal(),
                ),
            ],
            vec![BusinessCalendar::always()],
        ),
        ..Policy::default()
    }
}

fn sla_engine() -> (Engine, Arc<ManualClock>) {
    let clock = clock();
    let engine = Engine::in_memory(config(&clock, 1).with_policy(sla_policy())).unwrap();
    (engine, clock)
}

fn definitions(engine: &Engine, rec: RecordRef) -> Vec<String> {
    engine
        .view(None)
        .unwrap()
        .sla(rec)
        .unwrap()
        .iter()
        .map(|s| s.definition.id.to_string())
        .collect()
}

#[test]
fn opening_attaches_and_reprioritising_reattaches() {
    let (engine, clock) = sla_engine();
    let rec = RecordRef::incident(inc(1));
    let o = exec(&engine, &agent(), open_incident(inc(1), "Checkout slow"));
    let attach: Vec<_> = o
        .follow_ups
        .iter()
        .filter(|f| f.process == "sla_attach")
        .collect();
    assert_eq!(attach.len(), 1, "{:?}", o.follow_ups);
    let FollowUpResult::Applied { events } = &attach[0].result else {
        panic!("{:?}", attach[0]);
    };
    assert_eq!(
        events[0].stream.as_str(),
        format!("sla-incident-{}", inc(1).0)
    );
    assert_eq!(events[0].causation_id, Some(o.events[0].event_id));
    assert_eq!(
        definitions(&engine, rec),
        ["response", "standard-resolution"]
    );

    clock.advance(Duration::minutes(10));
    let o = exec(
        &engine,
        &agent(),
        IncidentCommand::Reprioritize {
            id: inc(1),
            impact: Impact::High,
            urgency: Urgency::High,
            reason: "whole shop down".into(),
        },
    );
    assert!(o.follow_ups.iter().any(|f| f.process == "sla_attach"));
    assert_eq!(
        definitions(&engine, rec),
        ["response", "standard-resolution", "urgent-resolution"]
    );
    let clocks = engine.view(None).unwrap().sla_explain(rec).unwrap();
    assert!(!clocks[1].instance.is_active(), "standard replaced");
    assert!(clocks[2].instance.is_active());
    assert!(!clocks[2].spans.is_empty());
    // As of before the reprioritisation: the first two clocks only.
    let before = engine.view(Some(t(5))).unwrap();
    assert_eq!(before.sla(rec).unwrap().len(), 2);
    assert_eq!(before.sla(rec).unwrap()[0].as_of, t(5));

    // Re-running the process managers attaches nothing twice.
    let head = engine.head().unwrap();
    engine.rerun_process_managers(1, head).unwrap();
    assert_eq!(engine.head().unwrap(), head);
    assert_eq!(definitions(&engine, rec).len(), 3);
}

#[test]
fn no_sla_policy_means_no_sla_stream() {
    let (engine, _clock) = memory_engine();
    let o = exec(&engine, &agent(), open_incident(inc(1), "x"));
    assert!(o.follow_ups.is_empty());
    let rec = RecordRef::incident(inc(1));
    assert!(engine.view(None).unwrap().sla(rec).unwrap().is_empty());
}

#[test]
fn tick_records_thresholds_and_breaches_once_even_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let open = |seed| open_on_disk(dir.path(), config(&clock, seed).with_policy(sla_policy()));
    let engine = open(1).unwrap();
    let rec = RecordRef::incident(inc(1));
    exec(&engine, &agent(), open_incident(inc(1), "Checkout slow"));

    // Nothing due yet.
    let r = engine.tick(clock.now()).unwrap();
    assert_eq!(r.records_due, 0);

    clock.advance(Duration::minutes(20));
    let r = engine.tick(clock.now()).unwrap();
    assert_eq!(
        (r.thresholds_recorded, r.breaches_recorded),
        (1, 0),
        "{r:?}"
    );
    let r = engine.tick(clock.now()).unwrap();
    assert_eq!(
        (r.thresholds_recorded, r.breaches_recorded),
        (0, 0),
        "{r:?}"
    );

    clock.set(t(190));
    let head = engine.head().unwrap();
    let r = engine.tick(clock.now()).unwrap();
    // The response breach (at 30 min) and the 75 % of the resolution clock (at 3 h).
    assert_eq!(
        (r.thresholds_recorded, r.breaches_recorded),
        (1, 1),
        "{r:?}"
    );
    assert_eq!(engine.head().unwrap(), head + 2);
    let head = engine.head().unwrap();
    for _ in 0..3 {
        let r = engine.tick(clock.now()).unwrap();
        assert_eq!((r.thresholds_recorded, r.breaches_recorded), (0, 0));
    }
    assert_eq!(engine.head().unwrap(), head);
    engine.close().unwrap();

    // After a restart: the index survived, nothing is recorded twice.
    let engine = open(2).unwrap();
    let r = engine.tick(clock.now()).unwrap();
    assert_eq!(
        (r.thresholds_recorded, r.breaches_recorded),
        (0, 0),
        "{r:?}"
    );
    assert_eq!(engine.head().unwrap(), head);
    let clocks = engine.view(None).unwrap().sla_explain(rec).unwrap();
    assert_eq!(clocks[0].instance.breach_recorded, Some(t(30)));
    assert_eq!(clocks[0].status.breached, Some(t(30)));
    assert_eq!(clocks[1].instance.thresholds_recorded.len(), 1);
    assert_eq!(clocks[1].instance.breach_recorded, None);

    clock.set(t(241));
    let r = engine.tick(clock.now()).unwrap();
    assert_eq!(
        (r.thresholds_recorded, r.breaches_recorded),
        (0, 1),
        "{r:?}"
    );
    let clocks = engine.view(None).unwrap().sla_explain(rec).unwrap();
    assert_eq!(clocks[1].instance.breach_recorded, Some(t(240)));
    // Both clocks are done: nothing is indexed any more.
    assert_eq!(engine.tick(clock.now()).unwrap().records_due, 0);
}

/// The tick's due index is the read-model table `sla_due`: rebuilt alone from the log when its
/// version changes, it finds what is due as the incremental rows did.
#[test]
fn tick_finds_what_is_due_after_the_due_table_is_rebuilt_alone() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let open = |seed| open_on_disk(dir.path(), config(&clock, seed).with_policy(sla_policy()));
    let engine = open(1).unwrap();
    exec(&engine, &agent(), open_incident(inc(1), "Checkout slow"));
    exec(&engine, &agent(), open_incident(inc(2), "Login slow"));
    exec(&engine, &agent(), assign(inc(2), "ops", "alice"));
    exec(&engine, &agent(), resolve(inc(2), "fixed"));
    engine.close().unwrap();
    // A reporting tool's connection: the SQLite file, or the PostgreSQL schema.
    let changed = sql_execute(
        dir.path(),
        "UPDATE read_models SET version = 0 WHERE name = 'sla_due'",
        &[],
    );
    assert_eq!(changed, 1);
    let engine = open(2).unwrap();
    assert!(!engine.stats().unwrap().open.views_rebuilt);
    clock.advance(Duration::minutes(20));
    let r = engine.tick(clock.now()).unwrap();
    assert_eq!(r.records_due, 1, "{r:?}");
    assert_eq!(
        (r.thresholds_recorded, r.breaches_recorded),
        (1, 0),
        "{r:?}"
    );
    // The resolved incident is indexed for its auto-close.
    clock.advance(Duration::days(8));
    let r = engine.tick(clock.now()).unwrap();
    assert_eq!(r.auto_closed, vec![RecordRef::incident(inc(2))], "{r:?}");
}

/// A store of read-model layout 5 kept the due index twice, as keys (`D`, `E`) and as the
/// `sla_due` table: opening it drops the keys and rebuilds nothing.
#[test]
fn a_store_with_the_due_index_as_keys_is_upgraded_in_place() {
    upgraded_in_place(5);
}

/// A store of read-model layout 6 kept the KPI facts as keys (`K`): opening it drops them,
/// rebuilds the KPI model alone into its rows, and the KPIs read the same.
#[test]
fn a_store_with_the_kpi_facts_as_keys_is_upgraded_in_place() {
    upgraded_in_place(6);
}

/// KPIs over the day either side of the clock's instant.
fn kpi_query_around(clock: &ManualClock) -> KpiQuery {
    KpiQuery::new(TimeWindow::new(
        clock.now() - Duration::days(1),
        clock.now() + Duration::days(1),
    ))
}

/// The live view's KPIs folded from the facts (not the SQL aggregates).
fn kpis_by_fold(engine: &Engine, query: &KpiQuery) -> KpiReport {
    engine.view(None).unwrap().kpis_by_fold(query).unwrap()
}

fn upgraded_in_place(layout: u32) {
    if test_backend() == "postgres" {
        // This case edits the read models' SQLite file; a PostgreSQL schema has none.
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let open = |seed| open_on_disk(dir.path(), config(&clock, seed).with_policy(sla_policy()));
    let engine = open(1).unwrap();
    exec(&engine, &agent(), open_incident(inc(1), "Checkout slow"));
    exec(&engine, &agent(), open_incident(inc(2), "Search slow"));
    exec(&engine, &agent(), assign(inc(2), "ops", "alice"));
    exec(&engine, &agent(), resolve(inc(2), "fixed"));
    let query = kpi_query_around(&clock);
    let kpis_before = kpis_by_fold(&engine, &query);
    engine.close().unwrap();
    let count_due_keys = |db: &rusqlite::Connection| -> i64 {
        db.query_row(
            "SELECT count(*) FROM kv_views WHERE substr(key, 1, 1) IN (x'44', x'45', x'4b')",
            [],
            |r| r.get(0),
        )
        .unwrap()
    };
    {
        let db = rusqlite::Connection::open(read_models_database(dir.path())).unwrap();
        db.execute(
            "UPDATE kv_meta SET value = ?1 WHERE key = ?2",
            rusqlite::params![layout.to_be_bytes().to_vec(), b"views_schema".to_vec()],
        )
        .unwrap();
        // The KPI model of layout 6 (its facts as `K` keys, its rows without them).
        db.execute("UPDATE read_models SET version = 3 WHERE name = 'kpi'", [])
            .unwrap();
        db.execute("UPDATE kpi_incidents SET facts = ''", [])
            .unwrap();
        let mut facts = vec![b'K', 1];
        facts.extend_from_slice(inc(1).0.as_bytes());
        let mut due = vec![b'D'];
        due.extend_from_slice(&[0x80, 0, 0, 0, 0, 0, 0, 1, 1]);
        due.extend_from_slice(inc(1).0.as_bytes());
        let mut due_of = vec![b'E', 1];
        due_of.extend_from_slice(inc(1).0.as_bytes());
        for (key, value) in [
            (due, Vec::<u8>::new()),
            (due_of, vec![0x80u8, 0, 0, 0, 0, 0, 0, 1]),
            (facts, b"{}".to_vec()),
        ] {
            db.execute(
                "INSERT INTO kv_views(key, value) VALUES (?1, ?2)",
                rusqlite::params![key, value],
            )
            .unwrap();
        }
        assert_eq!(count_due_keys(&db), 3);
    }
    let engine = open(2).unwrap();
    assert!(!engine.stats().unwrap().open.views_rebuilt);
    let kpis_after = kpis_by_fold(&engine, &query);
    assert_eq!(kpis_after, kpis_before);
    // The resolved incident's facts were read back from its row.
    assert_eq!(kpis_after.groups[0].mttr.count, 1, "{kpis_after:?}");
    clock.advance(Duration::minutes(20));
    let r = engine.tick(clock.now()).unwrap();
    assert_eq!(r.thresholds_recorded, 1, "{r:?}");
    engine.close().unwrap();
    let db = rusqlite::Connection::open(read_models_database(dir.path())).unwrap();
    assert_eq!(count_due_keys(&db), 0);
    let schema: Vec<u8> = db
        .query_row(
            "SELECT value FROM kv_meta WHERE key = ?1",
            [b"views_schema".to_vec()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(schema, 7u32.to_be_bytes().to_vec());
}

/// A batch whose rows were written but whose checkpoint was not (a crash between the two, where
/// units are not transactions) is projected again at the next open: its KPI facts are not
/// folded twice.
#[test]
fn a_batch_projected_again_does_not_fold_its_kpi_facts_twice() {
    if test_backend() == "postgres" {
        // This case edits the read models' SQLite file; a PostgreSQL schema has none.
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let open = |seed| open_on_disk(dir.path(), config(&clock, seed).with_policy(sla_policy()));
    let engine = open(1).unwrap();
    exec(&engine, &agent(), open_incident(inc(1), "Checkout slow"));
    exec(&engine, &agent(), assign(inc(1), "ops", "alice"));
    let before_resolve = engine.stats().unwrap().head;
    let checkpoint_event = engine.events(before_resolve, 1).unwrap()[0].event_id;
    clock.advance(Duration::minutes(30));
    exec(&engine, &agent(), resolve(inc(1), "fixed"));
    let query = kpi_query_around(&clock);
    let kpis_before = kpis_by_fold(&engine, &query);
    engine.close().unwrap();
    let facts = |db: &rusqlite::Connection| -> String {
        db.query_row("SELECT facts FROM kpi_incidents", [], |r| r.get(0))
            .unwrap()
    };
    let facts_before = {
        let db = rusqlite::Connection::open(read_models_database(dir.path())).unwrap();
        let mut checkpoint = before_resolve.to_be_bytes().to_vec();
        checkpoint.extend_from_slice(checkpoint_event.as_bytes());
        let changed = db
            .execute(
                "UPDATE kv_views SET value = ?1 WHERE key = ?2",
                rusqlite::params![checkpoint, b"Xcheckpoint".to_vec()],
            )
            .unwrap();
        assert_eq!(changed, 1);
        facts(&db)
    };
    assert_eq!(
        facts_before.matches("\"resolved\"").count(),
        1,
        "{facts_before}"
    );
    let engine = open(2).unwrap();
    let open_report = engine.stats().unwrap().open;
    assert!(!open_report.views_rebuilt, "{open_report:?}");
    let kpis_after = kpis_by_fold(&engine, &query);
    assert_eq!(kpis_after, kpis_before);
    assert_eq!(kpis_after.groups[0].mttr.count, 1, "{kpis_after:?}");
    engine.close().unwrap();
    let db = rusqlite::Connection::open(read_models_database(dir.path())).unwrap();
    assert_eq!(facts(&db), facts_before);
}

#[test]
fn tick_auto_closes_resolved_incidents_once_after_the_delay() {
    let (engine, clock) = memory_engine();
    let rec = RecordRef::incident(inc(1));
    exec(&engine, &agent(), open_incident(inc(1), "x"));
    exec(&engine, &agent(), assign(inc(1), "ops", "alice"));
    exec(&engine, &agent(), resolve(inc(1), "fixed"));

    clock.advance(Duration::days(6));
    let r = engine.tick(clock.now()).unwrap();
    assert!(r.auto_closed.is_empty(), "{r:?}");
    assert_eq!(r.records_due, 0);

    clock.advance(Duration::days(1));
    let r = engine.tick(clock.now()).unwrap();
    assert_eq!(r.auto_closed, vec![rec], "{r:?}");
    assert!(r.failures.is_empty());
    let view = engine.view(None).unwrap();
    assert_eq!(
        view.incident(inc(1)).unwrap().unwrap().status.kind(),
        IncidentStatusKind::Closed
    );
    let last = view.timeline(rec).unwrap().pop().unwrap();
    assert_eq!(last.actor, "opsledger:auto_close");

    let head = engine.head().unwrap();
    let r = engine.tick(clock.now()).unwrap();
    assert!(r.auto_closed.is_empty());
    assert_eq!(r.records_due, 0);
    assert_eq!(engine.head().unwrap(), head);
}

#[test]
fn kpis_read_incident_facts_and_sla_outcomes_as_of_the_view() {
    let (engine, clock) = sla_engine();
    exec(&engine, &agent(), open_incident(inc(1), "x"));
    clock.set(t(10));
    exec(&engine, &agent(), assign(inc(1), "ops", "alice"));
    clock.set(t(300));
    exec(&engine, &agent(), resolve(inc(1), "fixed"));

    let query = KpiQuery::new(window(0, 24 * 60));
    let report = engine.view(None).unwrap().kpis(&query).unwrap();
    let all = &report.groups[0];
    assert_eq!(all.mttr.count, 1, "{all:?}");
    let response = all
        .sla
        .iter()
        .find(|f| f.metric == SlaMetric::Response)
        .unwrap();
    assert_eq!(
        (
            response.compliance.numerator,
            response.compliance.denominator
        ),
        (1, 1)
    );
    let resolution = all
        .sla
        .iter()
        .find(|f| f.metric == SlaMetric::Resolution)
        .unwrap();
    assert_eq!(resolution.breaches, 1);
    assert_eq!(resolution.compliance.numerator, 0);

    // As of before the resolution: not resolved, the resolution clock had not breached yet.
    let report = engine.view(Some(t(100))).unwrap().kpis(&query).unwrap();
    let all = &report.groups[0];
    assert_eq!(all.mttr.count, 0);
    assert!(
        all.sla
            .iter()
            .filter(|f| f.metric == SlaMetric::Resolution)
            .all(|f| f.breaches == 0)
    );
}

#[test]
fn a_breach_escalates_as_its_definition_asks_once_and_never_again_after_restart() {
    use opsledger::core::GroupId;
    use opsledger::core::sla::BreachEscalation;
    let mut policy = sla_policy();
    policy.sla.definitions[0] =
        policy.sla.definitions[0]
            .clone()
            .escalating_to(BreachEscalation::Functional {
                to_group: GroupId::new("tier2"),
            });
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let open = |seed| open_on_disk(dir.path(), config(&clock, seed).with_policy(policy.clone()));
    let engine = open(1).unwrap();
    let rec = RecordRef::incident(inc(1));
    exec(&engine, &agent(), open_incident(inc(1), "Checkout slow"));

    // Given the response clock (30 min, escalating to tier2) runs,
    // when a tick finds it breached,
    clock.set(t(31));
    let head = engine.head().unwrap();
    let r = engine.tick(clock.now()).unwrap();
    // then the breach and the escalation are recorded, the escalation as the system.
    assert_eq!(r.breaches_recorded, 1, "{r:?}");
    assert_eq!(r.escalations.len(), 1, "{r:?}");
    assert!(
        matches!(&r.escalations[0].result, FollowUpResult::Applied { events } if events.len() == 1),
        "{r:?}"
    );
    assert_eq!(r.escalations[0].process, "sla_escalation");
    // The threshold at 50 %, the breach, the escalation.
    assert_eq!(engine.head().unwrap(), head + 3);
    let incident = engine
        .view(None)
        .unwrap()
        .incident(inc(1))
        .unwrap()
        .unwrap();
    assert_eq!(incident.group, Some(GroupId::new("tier2")));
    // Opened at tier 1, escalated once.
    assert_eq!(incident.escalation.functional_tier, 2);
    let last = engine
        .view(None)
        .unwrap()
        .timeline(rec)
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(last.actor, "opsledger:sla_escalation");
    assert_eq!(last.event_type, "incident.escalated_functionally");

    // Ticks and process-manager re-runs never escalate twice, before or after a restart.
    let head = engine.head().unwrap();
    let r = engine.tick(clock.now()).unwrap();
    assert!(r.escalations.is_empty(), "{r:?}");
    let rerun = engine.rerun_process_managers(1, head).unwrap();
    assert!(
        rerun
            .iter()
            .filter(|f| f.process == "sla_escalation")
            .all(|f| matches!(&f.result, FollowUpResult::Applied { events } if events.len() == 1)),
        "{rerun:?}"
    );
    assert_eq!(engine.head().unwrap(), head);
    engine.close().unwrap();
    let engine = open(2).unwrap();
    engine.tick(clock.now()).unwrap();
    assert_eq!(engine.head().unwrap(), head);
}

#[test]
fn a_breach_of_a_definition_without_escalation_escalates_nothing() {
    let (engine, clock) = sla_engine();
    exec(&engine, &agent(), open_incident(inc(1), "Checkout slow"));
    clock.set(t(31));
    let r = engine.tick(clock.now()).unwrap();
    assert_eq!(r.breaches_recorded, 1, "{r:?}");
    assert!(r.escalations.is_empty(), "{:#?}", r.escalations);
    let incident = engine
        .view(None)
        .unwrap()
        .incident(inc(1))
        .unwrap()
        .unwrap();
    assert_eq!(incident.escalation.functional_tier, 1);
    assert_eq!(
        incident.group,
        Some(opsledger::core::GroupId::new("service-desk"))
    );
}

#[test]
fn auto_close_counts_business_days_of_its_calendar() {
    use chrono::TimeZone;
    use opsledger::core::calendar::{CalendarSpec, CalendarVersion, TimeZoneName, WeeklySchedule};
    use opsledger::core::sla::CalendarRef;
    let office = BusinessCalendar::new(CalendarSpec::new(
        "office",
        CalendarVersion(1),
        TimeZoneName::new("UTC").unwrap(),
        WeeklySchedule::weekdays(vec!["08:00-18:00".parse().unwrap()]),
    ))
    .unwrap();
    let mut policy = Policy::default();
    policy.incident.auto_close_after_days = 2;
    policy.incident.auto_close_calendar = Some(CalendarRef::exact("office", 1));
    policy.sla = SlaPolicy::new(vec![], vec![office]);
    let clock = clock();
    let engine = Engine::in_memory(config(&clock, 1).with_policy(policy)).unwrap();
    let at = |d, h, m| chrono::Utc.with_ymd_and_hms(2026, 1, d, h, m, 0).unwrap();

    // Given an incident resolved on Friday 2026-01-09 at 15:00,
    exec(&engine, &agent(), open_incident(inc(1), "x"));
    exec(&engine, &agent(), assign(inc(1), "ops", "alice"));
    clock.set(at(9, 15, 0));
    exec(&engine, &agent(), resolve(inc(1), "fixed"));
    let status = |e: &Engine| {
        e.view(None)
            .unwrap()
            .incident(inc(1))
            .unwrap()
            .unwrap()
            .status
            .kind()
    };

    // when ticks run on Monday (two calendar days later) and late on Tuesday,
    for now in [at(12, 9, 0), at(13, 23, 59)] {
        clock.set(now);
        let r = engine.tick(now).unwrap();
        assert!(r.auto_closed.is_empty(), "{now}: {r:?}");
        assert_eq!(status(&engine), IncidentStatusKind::Resolved);
    }
    // then it closes only once Monday and Tuesday, its two business days, have ended.
    clock.set(at(14, 0, 0));
    let r = engine.tick(at(14, 0, 0)).unwrap();
    assert_eq!(r.auto_closed, vec![RecordRef::incident(inc(1))], "{r:?}");
    assert_eq!(status(&engine), IncidentStatusKind::Closed);
}
