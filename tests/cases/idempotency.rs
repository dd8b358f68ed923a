//! Idempotency keys: replay of the first outcome, refusal of another command, across restarts
//! and under concurrency.

use crate::support::*;
use opsledger::core::incident::IncidentCommand;
use opsledger::{CommandEnvelope, EngineError, FollowUpResult};

#[test]
fn same_key_same_command_replays_and_holds_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let engine = disk_engine(dir.path(), &clock, 1);
    let open = CommandEnvelope::new(agent(), open_incident(inc(1), "Payment API 502"))
        .idempotency_key("req-open-1");
    let first = engine.execute(open.clone()).unwrap();
    assert!(!first.replayed);
    let head = engine.head().unwrap();
    let again = engine.execute(open.clone()).unwrap();
    assert!(again.replayed);
    assert_eq!(engine.head().unwrap(), head, "a replay writes nothing");
    assert_eq!(again.events, first.events);
    assert_eq!(again.number, first.number);
    assert_eq!(again.record, first.record);

    // Resolve a parent with a key: the replay lists the follow-ups the first run caused.
    exec(&engine, &agent(), open_incident(inc(2), "child"));
    exec(
        &engine,
        &agent(),
        IncidentCommand::LinkParent {
            id: inc(2),
            parent: inc(1),
        },
    );
    exec(&engine, &agent(), assign(inc(1), "api", "alice"));
    let resolve_cmd = CommandEnvelope::new(agent(), resolve(inc(1), "Rolled back"))
        .idempotency_key("req-resolve-1");
    let resolved = engine.execute(resolve_cmd.clone()).unwrap();
    assert_eq!(resolved.follow_ups.len(), 1);
    engine.close().unwrap();

    let engine = disk_engine(dir.path(), &clock, 2);
    let head = engine.head().unwrap();
    let replayed = engine.execute(open).unwrap();
    assert!(replayed.replayed);
    assert_eq!(replayed.events, first.events);
    let replayed = engine.execute(resolve_cmd).unwrap();
    assert!(replayed.replayed);
    assert_eq!(replayed.events, resolved.events);
    assert_eq!(replayed.follow_ups.len(), 1);
    assert_eq!(replayed.follow_ups[0].process, "parent_resolution");
    assert_eq!(replayed.follow_ups[0].result, resolved.follow_ups[0].result);
    assert!(matches!(
        replayed.follow_ups[0].result,
        FollowUpResult::Applied { .. }
    ));
    assert_eq!(engine.head().unwrap(), head);

    // The same key for another command is refused, also after the restart.
    let other =
        CommandEnvelope::new(agent(), note(inc(1), "different")).idempotency_key("req-open-1");
    match engine.execute(other) {
        Err(e @ EngineError::IdempotencyKeyReused { .. }) => {
            assert_eq!(e.code(), "idempotency_key_reused");
        }
        other => panic!("expected idempotency_key_reused, got {other:?}"),
    }
    // Another actor with the same key and command is another request (keys are scoped per
    // actor): it is decided on its own, and refused by the domain (the incident exists).
    let by_bob = CommandEnvelope::new(agent2(), open_incident(inc(1), "Payment API 502"))
        .idempotency_key("req-open-1");
    assert!(matches!(
        engine.execute(by_bob),
        Err(EngineError::Domain(_))
    ));
    assert_eq!(engine.head().unwrap(), head);
}

#[test]
fn a_refused_command_consumes_no_key() {
    let (engine, _clock) = memory_engine();
    exec(&engine, &agent(), open_incident(inc(1), "x"));
    let refused = CommandEnvelope::new(agent(), close(inc(1))).idempotency_key("k");
    assert_eq!(
        engine.execute(refused).unwrap_err().code(),
        "invalid_transition"
    );
    let ok = CommandEnvelope::new(agent(), note(inc(1), "fine")).idempotency_key("k");
    assert!(!engine.execute(ok).unwrap().replayed);
}

#[test]
fn keys_are_bounded() {
    let (engine, _clock) = memory_engine();
    let head = engine.head().unwrap();
    let long = "k".repeat(257);
    let e = engine
        .execute(CommandEnvelope::new(agent(), open_incident(inc(1), "x")).idempotency_key(long))
        .unwrap_err();
    assert_eq!(e.code(), "limit_exceeded");
    let e = engine
        .execute(CommandEnvelope::new(agent(), open_incident(inc(1), "x")).idempotency_key(""))
        .unwrap_err();
    assert_eq!(e.code(), "invalid_input");
    assert_eq!(engine.head().unwrap(), head, "nothing written");
}

#[test]
fn concurrent_uses_of_one_key_apply_once() {
    let (engine, _clock) = memory_engine();
    exec(&engine, &agent(), open_incident(inc(1), "x"));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let engine = engine.clone();
            std::thread::spawn(move || {
                let env =
                    CommandEnvelope::new(agent(), note(inc(1), "once")).idempotency_key("note-1");
                engine.execute(env).unwrap()
            })
        })
        .collect();
    let outcomes: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(outcomes.iter().filter(|o| !o.replayed).count(), 1);
    let events = &outcomes[0].events;
    assert!(outcomes.iter().all(|o| &o.events == events));
    let incident = engine
        .view(None)
        .unwrap()
        .incident(inc(1))
        .unwrap()
        .unwrap();
    assert_eq!(incident.work_note_count, 1);
}

#[test]
fn alerts_with_a_key_replay_their_routing() {
    let (engine, _clock) = memory_engine();
    let report = alert("disk:db1", None);
    let first = engine
        .execute(CommandEnvelope::new(monitor(), report.clone()).idempotency_key("am-1"))
        .unwrap();
    let again = engine
        .execute(CommandEnvelope::new(monitor(), report).idempotency_key("am-1"))
        .unwrap();
    assert!(again.replayed);
    assert_eq!(again.record, first.record);
    assert_eq!(
        engine.view(None).unwrap().open_alerts().unwrap()[0].alert_count,
        1
    );
}
