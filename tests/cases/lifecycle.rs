//! End-to-end scenarios on sled that close and reopen the engine mid-scenario and must give the
//! same answers before and after.

use crate::support::*;
use opsledger::core::change::ChangeCommand;
use opsledger::core::incident::{IncidentCommand, IncidentStatusKind};
use opsledger::core::problem::{ProblemCommand, ProblemStatusKind};
use opsledger::{
    CalendarQuery, Engine, FollowUpResult, KedbQuery, QueueFilter, RecordRef, RecordStatus,
};

/// Everything a person could ask, rendered as text (so two engines can be compared).
fn answers(engine: &Engine) -> String {
    let view = engine.view(None).expect("view");
    let mut out = String::new();
    for filter in [
        QueueFilter::incidents(),
        QueueFilter::incidents().open(),
        QueueFilter::incidents().group("service-desk"),
        QueueFilter::problems(),
        QueueFilter::changes(),
    ] {
        let page = view.queue(&filter.limit(100)).expect("queue");
        for v in &page.items {
            out.push_str(&format!("{v:?}\n"));
        }
    }
    for i in 1..=6 {
        let rec = RecordRef::incident(inc(i));
        out.push_str(&format!("{:?}\n", view.state(rec).expect("state")));
        for e in view.timeline(rec).expect("timeline") {
            out.push_str(&format!(
                "{} {} {} {} {:?} {:?}\n",
                e.position, e.actor, e.event_type, e.what, e.why, e.caused_by
            ));
        }
    }
    out.push_str(&format!("{:?}\n", view.known_errors(&KedbQuery::default())));
    out.push_str(&format!("{:?}\n", view.calendar(&CalendarQuery::all())));
    out.push_str(&format!("{:?}\n", view.open_alerts()));
    out.push_str(&format!("{:?}\n", view.dump().expect("dump").len()));
    out
}

#[test]
fn incident_problem_change_lifecycle_survives_restarts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = clock();
    let a = agent();

    // --- first session: incidents, parent/child ----------------------------------------
    let engine = disk_engine(dir.path(), &clock, 1);
    let o = exec(&engine, &a, open_incident(inc(1), "Payments down"));
    assert_eq!(
        o.number.map(|n| n.to_string()).as_deref(),
        Some("INC0000001")
    );
    exec(&engine, &a, open_incident(inc(2), "Cannot pay (store 12)"));
    exec(&engine, &a, open_incident(inc(3), "Cannot pay (store 40)"));
    clock.advance(chrono::Duration::minutes(5));
    for child in [2, 3] {
        let o = exec(
            &engine,
            &a,
            IncidentCommand::LinkParent {
                id: inc(child),
                parent: inc(1),
            },
        );
        // The link is mirrored on the parent by a process manager.
        assert_eq!(o.follow_ups.len(), 1, "{:?}", o.follow_ups);
        assert_eq!(o.follow_ups[0].process, "link_mirror");
    }
    exec(&engine, &a, assign(inc(1), "payments-oncall", "alice"));
    let before = answers(&engine);
    engine.close().expect("close");

    // --- second session: same answers, nothing replayed -------------------------------
    let engine = disk_engine(dir.path(), &clock, 2);
    let stats = engine.stats().expect("stats");
    assert_eq!(stats.open.views_events_applied, 0);
    assert_eq!(stats.open.process_events_checked, 0);
    assert!(!stats.open.views_rebuilt);
    assert_eq!(answers(&engine), before);
    assert_eq!(
        engine
            .view(None)
            .unwrap()
            .find("INC0000003")
            .unwrap()
            .unwrap()
            .record,
        RecordRef::incident(inc(3))
    );

    clock.advance(chrono::Duration::minutes(30));
    let resolved = exec(
        &engine,
        &a,
        resolve(inc(1), "Failed over to the standby PSP"),
    );
    let children: Vec<_> = resolved
        .follow_ups
        .iter()
        .filter(|f| f.process == "parent_resolution")
        .collect();
    assert_eq!(children.len(), 2);
    for f in &children {
        assert!(matches!(f.result, FollowUpResult::Applied { .. }), "{f:?}");
    }
    let child = engine
        .view(None)
        .unwrap()
        .incident(inc(2))
        .unwrap()
        .unwrap();
    assert_eq!(child.status.kind(), IncidentStatusKind::Resolved);
    assert_eq!(
        child.resolution.as_ref().map(|r| r.notes.as_str()),
        Some("Failed over to the standby PSP")
    );

    // --- problem -> known error -> fixing change -> incidents resolved ------------------
    exec(&engine, &a, open_incident(inc(4), "Checkout slow at night"));
    exec(&engine, &a, assign(inc(4), "dba", "alice"));
    exec(
        &engine,
        &problem_manager(),
        create_problem(prb(1), "Nightly checkout timeouts"),
    );
    exec(&engine, &a, await_problem(inc(4), prb(1)));
    problem_to_fix(&engine, prb(1));
    change_to_scheduled(&engine, chg(1), "db-orders-01", window(120, 180));
    let linked = exec(
        &engine,
        &change_manager(),
        ChangeCommand::LinkFixesProblem {
            id: chg(1),
            problem: prb(1),
        },
    );
    assert_eq!(linked.follow_ups.len(), 1, "mirrored on the problem");
    let before = answers(&engine);
    drop(engine); // no explicit close: dropping flushes too

    // --- third session ----------------------------------------------------------------
    let engine = disk_engine(dir.path(), &clock, 3);
    assert_eq!(engine.stats().unwrap().open.views_events_applied, 0);
    assert_eq!(answers(&engine), before);
    let kedb = engine
        .view(None)
        .unwrap()
        .known_errors(&KedbQuery::text("checkout batch"))
        .unwrap()
        .items;
    assert_eq!(kedb.len(), 1);
    assert_eq!(
        kedb[0].number.map(|n| n.to_string()).as_deref(),
        Some("PRB0000001")
    );

    clock.set(t(130));
    change_implement_and_close(&engine, chg(1), true);
    let problem = engine.view(None).unwrap().problem(prb(1)).unwrap().unwrap();
    assert_eq!(problem.status.kind(), ProblemStatusKind::Resolved);
    let incident = engine
        .view(None)
        .unwrap()
        .incident(inc(4))
        .unwrap()
        .unwrap();
    assert_eq!(incident.status.kind(), IncidentStatusKind::Resolved);
    exec(
        &engine,
        &problem_manager(),
        ProblemCommand::Close { id: prb(1) },
    );
    let before = answers(&engine);
    engine.close().unwrap();

    let engine = disk_engine(dir.path(), &clock, 4);
    assert_eq!(answers(&engine), before);
    let open = engine
        .view(None)
        .unwrap()
        .queue(&QueueFilter::incidents().open().limit(10))
        .unwrap();
    assert!(open.items.is_empty(), "{:?}", open.items);
    let closed_problem = engine
        .view(None)
        .unwrap()
        .find("PRB0000001")
        .unwrap()
        .unwrap();
    assert_eq!(
        closed_problem.status,
        RecordStatus::Problem(ProblemStatusKind::Closed)
    );
    assert!(engine.verify().unwrap().is_clean());
}
