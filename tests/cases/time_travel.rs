//! Time travel: every query as of an instant equals what the engine answered at that instant,
//! and records can be read at any version.

use crate::support::*;
use chrono::Duration;
use opsledger::core::incident::{IncidentCommand, IncidentStatusKind};
use opsledger::{KedbQuery, QueueFilter, RecordRef};

#[test]
fn as_of_answers_equal_what_was_answered_then() {
    let (engine, clock) = memory_engine();
    let a = agent();
    let mut snapshots = Vec::new();
    let mut capture = |engine: &opsledger::Engine, at| {
        let view = engine.view(None).unwrap();
        snapshots.push((
            at,
            view.dump().unwrap(),
            format!(
                "{:?}",
                view.queue(&QueueFilter::incidents().open().limit(100))
                    .unwrap()
                    .items
            ),
            format!("{:?}", view.state(RecordRef::incident(inc(1))).unwrap()),
            view.timeline(RecordRef::incident(inc(1))).unwrap().len(),
            format!("{:?}", view.known_errors(&KedbQuery::default()).unwrap()),
        ));
    };
    capture(&engine, clock.now_at());
    clock.advance(Duration::minutes(1));
    exec(&engine, &a, open_incident(inc(1), "first"));
    exec(&engine, &a, open_incident(inc(2), "second"));
    capture(&engine, clock.now_at());
    clock.advance(Duration::minutes(1));
    exec(&engine, &a, assign(inc(1), "ops", "alice"));
    exec(
        &engine,
        &a,
        IncidentCommand::LinkChild {
            id: inc(1),
            child: inc(2),
        },
    );
    capture(&engine, clock.now_at());
    clock.advance(Duration::minutes(1));
    exec(&engine, &problem_manager(), create_problem(prb(1), "cause"));
    problem_to_fix(&engine, prb(1));
    exec(&engine, &a, resolve(inc(1), "done"));
    capture(&engine, clock.now_at());
    clock.advance(Duration::minutes(1));
    exec(&engine, &a, close(inc(1)));
    capture(&engine, clock.now_at());

    for (at, dump, queue, state, timeline, kedb) in snapshots {
        let past = engine.view(Some(at)).unwrap();
        assert_eq!(past.dump().unwrap(), dump, "read models as of {at}");
        assert_eq!(
            format!(
                "{:?}",
                past.queue(&QueueFilter::incidents().open().limit(100))
                    .unwrap()
                    .items
            ),
            queue
        );
        assert_eq!(
            format!("{:?}", past.state(RecordRef::incident(inc(1))).unwrap()),
            state
        );
        assert_eq!(
            past.timeline(RecordRef::incident(inc(1))).unwrap().len(),
            timeline
        );
        assert_eq!(
            format!("{:?}", past.known_errors(&KedbQuery::default()).unwrap()),
            kedb
        );
    }
    // Before anything existed.
    let before = engine.view(Some(t0() - Duration::days(1))).unwrap();
    assert_eq!(before.position(), 0);
    assert!(before.find("INC0000001").unwrap().is_none());
    let now = engine.view(None).unwrap();
    assert!(now.find("INC0000001").unwrap().is_some());
}

#[test]
fn a_record_can_be_read_at_any_version() {
    let (engine, _clock) = memory_engine();
    let a = agent();
    exec(&engine, &a, open_incident(inc(1), "x"));
    exec(&engine, &a, assign(inc(1), "ops", "alice")); // versions 2 and 3
    for i in 0..10 {
        exec(&engine, &a, note(inc(1), &format!("note {i}")));
    }
    exec(&engine, &a, resolve(inc(1), "done"));
    let rec = RecordRef::incident(inc(1));
    assert!(engine.state_at_version(rec, 0).unwrap().is_none());
    let v1 = engine.state_at_version(rec, 1).unwrap().unwrap();
    assert_eq!(v1.status().name(), "new");
    let v3 = engine.state_at_version(rec, 3).unwrap().unwrap();
    assert_eq!(
        v3.as_incident().unwrap().status.kind(),
        IncidentStatusKind::InProgress
    );
    for v in 4..=13 {
        let s = engine.state_at_version(rec, v).unwrap().unwrap();
        assert_eq!(s.as_incident().unwrap().work_note_count, (v - 3) as u32);
    }
    let last = engine.state_at_version(rec, 14).unwrap().unwrap();
    assert_eq!(
        last.as_incident().unwrap().status.kind(),
        IncidentStatusKind::Resolved
    );
    assert_eq!(Some(last), engine.view(None).unwrap().state(rec).unwrap());
}
