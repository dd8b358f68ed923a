//! The caller's channel end to end: a comment by the caller resumes an incident awaiting them
//! (both events in one append), a stranger's comment writes nothing, and a caller reads only
//! their own incidents, without work notes.

use crate::support::*;
use opsledger::core::incident::{HoldReason, IncidentCommand, IncidentEvent};
use opsledger::{
    Actor, EngineError, QueueFilter, RecordEvent, RecordRef, RecordStatus, Role, Visibility,
};

fn carol() -> Actor {
    Actor::new("carol", [Role::Caller])
}

fn dave() -> Actor {
    Actor::new("dave", [Role::Caller])
}

fn comment(id: opsledger::core::IncidentId, text: &str) -> IncidentCommand {
    IncidentCommand::AddComment {
        id,
        text: text.into(),
    }
}

/// Two incidents of carol (one with a work note and a comment), one of dave.
fn desk() -> (opsledger::Engine, std::sync::Arc<opsledger::ManualClock>) {
    let (engine, clock) = memory_engine();
    exec(&engine, &agent(), open_incident(inc(1), "Checkout fails"));
    exec(&engine, &agent(), open_incident(inc(2), "Printer jams"));
    let mut daves = open_incident(inc(3), "VPN drops");
    if let IncidentCommand::Open { caller, .. } = &mut daves {
        *caller = "dave".into();
    }
    exec(&engine, &agent(), daves);
    exec(&engine, &agent(), assign(inc(1), "service-desk", "alice"));
    exec(
        &engine,
        &agent(),
        note(inc(1), "gateway logs show TLS errors"),
    );
    exec(&engine, &agent(), comment(inc(1), "We are looking into it"));
    (engine, clock)
}

#[test]
fn the_callers_reply_resumes_the_incident_in_one_append() {
    let (engine, _clock) = desk();
    exec(
        &engine,
        &agent(),
        IncidentCommand::PutOnHold {
            id: inc(1),
            reason: HoldReason::AwaitingCaller,
        },
    );
    let outcome = exec(&engine, &carol(), comment(inc(1), "Here is the screenshot"));
    let types: Vec<&str> = outcome
        .events
        .iter()
        .map(|e| e.event_type.as_str())
        .collect();
    assert_eq!(types, ["incident.comment_added", "incident.resumed"]);
    let positions: Vec<u64> = outcome.events.iter().map(|e| e.position.0).collect();
    assert_eq!(positions[1], positions[0] + 1, "appended together");
    let view = engine.view(None).unwrap();
    let record = view.record(RecordRef::incident(inc(1))).unwrap().unwrap();
    assert_eq!(record.status.to_string(), "in_progress");
}

#[test]
fn a_strangers_comment_is_forbidden_and_writes_nothing() {
    let (engine, _clock) = desk();
    let head = engine.head().unwrap();
    let err = try_exec(&engine, &dave(), comment(inc(1), "me too")).unwrap_err();
    assert_eq!(err.code(), "forbidden", "{err}");
    // Told as for any record not theirs (see below): nothing about carol's incident.
    assert!(matches!(&err, EngineError::ReadForbidden { .. }), "{err:?}");
    assert_eq!(engine.head().unwrap(), head, "nothing written");
}

#[test]
fn a_caller_reads_their_own_incident_without_work_notes() {
    let (engine, _clock) = desk();
    let view = engine.view(None).unwrap();
    let record = RecordRef::incident(inc(1));
    let (entries, next) = view.timeline_page_for(&carol(), record, 1, 100).unwrap();
    assert_eq!(next, None);
    assert!(
        entries.iter().all(|e| e.visibility == Visibility::Public),
        "{entries:?}"
    );
    assert!(entries.iter().any(|e| matches!(
        &e.event,
        RecordEvent::Incident(IncidentEvent::CommentAdded { .. })
    )));
    assert!(
        !entries
            .iter()
            .any(|e| e.event_type == "incident.work_note_added")
    );
    // Workers see everything, each entry marked.
    let (all, _) = view.timeline_page_for(&agent(), record, 1, 100).unwrap();
    assert_eq!(all.len(), entries.len() + 1);
    let note = all
        .iter()
        .find(|e| e.event_type == "incident.work_note_added")
        .unwrap();
    assert_eq!(note.visibility, Visibility::Internal);
    assert!(view.record_for(&carol(), record).unwrap().is_some());
}

#[test]
fn a_caller_is_refused_other_records_and_views_across_records() {
    let (engine, _clock) = desk();
    let view = engine.view(None).unwrap();
    let daves = RecordRef::incident(inc(3));
    let err = view.record_for(&carol(), daves).unwrap_err();
    assert_eq!(err.code(), "forbidden");
    assert_eq!(
        err.to_string(),
        "carol reads only the incidents they are the caller of, not that record"
    );
    let err = view.timeline_page_for(&carol(), daves, 1, 10).unwrap_err();
    assert_eq!(err.code(), "forbidden");
    // A record that does not exist is refused alike: nothing is learned about it.
    let err = view
        .record_for(&carol(), RecordRef::incident(inc(99)))
        .unwrap_err();
    assert_eq!(err.code(), "forbidden");
    assert_eq!(
        view.queue_for(&carol(), &QueueFilter::problems())
            .unwrap_err()
            .code(),
        "forbidden"
    );
    assert_eq!(
        view.queue_for(&carol(), &QueueFilter::incidents().caller("dave"))
            .unwrap_err()
            .code(),
        "forbidden"
    );
    assert_eq!(
        engine
            .require_reads_all(&carol(), "the KPIs")
            .unwrap_err()
            .code(),
        "forbidden"
    );
    engine.require_reads_all(&agent(), "the KPIs").unwrap();
    // Reading everything takes a role that works records: no role at all reads as an end user.
    let nobody = Actor::new("nobody", []);
    assert_eq!(
        engine
            .require_reads_all(&nobody, "the KPIs")
            .unwrap_err()
            .code(),
        "forbidden"
    );
}

#[test]
fn a_callers_queue_holds_only_their_incidents() {
    let (engine, _clock) = desk();
    let view = engine.view(None).unwrap();
    let page = view.queue_for(&carol(), &QueueFilter::incidents()).unwrap();
    let mut ids: Vec<_> = page.items.iter().map(|v| v.record.id).collect();
    ids.sort();
    assert_eq!(ids, vec![inc(1).0, inc(2).0]);
    let page = view.queue_for(&dave(), &QueueFilter::incidents()).unwrap();
    assert_eq!(page.items.len(), 1);
    // A worker sees the whole queue, or one caller's when asking for it.
    assert_eq!(
        view.queue_for(&agent(), &QueueFilter::incidents())
            .unwrap()
            .items
            .len(),
        3
    );
    let open_of_dave = QueueFilter::incidents()
        .caller("dave")
        .status(RecordStatus::Incident(
            opsledger::core::incident::IncidentStatusKind::New,
        ));
    assert_eq!(view.queue(&open_of_dave).unwrap().items.len(), 1);
}

#[test]
fn the_caller_confirms_or_rejects_a_resolution() {
    let (engine, clock) = desk();
    exec(&engine, &agent(), resolve(inc(1), "Restarted the gateway"));
    exec(&engine, &agent(), assign(inc(2), "service-desk", "alice"));
    exec(&engine, &agent(), resolve(inc(2), "Cleared the jam"));
    exec(&engine, &carol(), close(inc(2)));
    clock.advance(chrono::Duration::days(8));
    let err = try_exec(
        &engine,
        &carol(),
        IncidentCommand::Reopen {
            id: inc(1),
            reason: "still failing".into(),
        },
    )
    .unwrap_err();
    assert_eq!(err.code(), "reject_window_closed", "{err}");
    exec(
        &engine,
        &agent(),
        IncidentCommand::Reopen {
            id: inc(1),
            reason: "carol called: still failing".into(),
        },
    );
}

#[test]
fn a_callers_timeline_names_no_event_of_another_record() {
    let (engine, _clock) = desk();
    // Linking carol's incident under dave's: the engine mirrors the link on dave's.
    exec(
        &engine,
        &agent(),
        IncidentCommand::LinkParent {
            id: inc(1),
            parent: inc(3),
        },
    );
    let view = engine.view(None).unwrap();
    let record = RecordRef::incident(inc(1));
    let linked = |reader: &Actor| {
        view.timeline_page_for(reader, record, 1, 100)
            .unwrap()
            .0
            .into_iter()
            .find(|e| e.event_type == "incident.parent_linked")
            .unwrap()
    };
    let seen_by_worker = linked(&agent());
    assert_eq!(seen_by_worker.caused.len(), 1, "{seen_by_worker:?}");
    assert_eq!(
        seen_by_worker.caused[0].record,
        Some(RecordRef::incident(inc(3)))
    );
    assert!(linked(&carol()).caused.is_empty());
}

#[test]
fn a_callers_command_on_another_record_says_nothing_about_it() {
    let (engine, _clock) = desk();
    // Dave's incident, resolved then closed: a stranger's close, reopen or comment is refused
    // before its state is looked at, with the words used for a record that does not exist.
    exec(&engine, &agent(), assign(inc(3), "service-desk", "alice"));
    exec(&engine, &agent(), resolve(inc(3), "VPN profile replaced"));
    exec(&engine, &agent(), close(inc(3)));
    let head = engine.head().unwrap();
    let mut messages = Vec::new();
    for command in [
        comment(inc(3), "me too"),
        close(inc(3)),
        IncidentCommand::Reopen {
            id: inc(3),
            reason: "still broken".into(),
        },
        comment(inc(99), "anyone there?"),
    ] {
        let err = try_exec(&engine, &carol(), command).unwrap_err();
        assert_eq!(err.code(), "forbidden", "{err}");
        assert!(!err.to_string().contains("closed"), "{err}");
        messages.push(err.to_string());
    }
    assert_eq!(engine.head().unwrap(), head, "nothing is written");
    assert!(
        messages.iter().all(|m| *m == messages[3]),
        "one refusal for all: {messages:?}"
    );
    // On her own incident, a refusal still says what is wrong.
    let err = try_exec(
        &engine,
        &carol(),
        IncidentCommand::Cancel {
            id: inc(1),
            reason: opsledger::core::incident::CancelReason::NotAnIncident,
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("incident_cancel"), "{err}");
    // A missing incident and a closed one that is not hers read the same.
    assert_eq!(
        messages[3].replace(&inc(99).to_string(), ""),
        messages[3],
        "no id echoed"
    );
    assert!(messages[3].ends_with("that record"), "{}", messages[3]);
}
