//! Parent/child sync (`policy.incident.child_sync`): a parent's hold, resumption, resolution
//! and reopening reach its children as the policy says, and its close never does; a duplicate
//! recorded on its original is canceled with the link, its SLA clocks with it.

use crate::support::*;
use chrono::Duration;
use opsledger::core::calendar::BusinessCalendar;
use opsledger::core::incident::{
    CancelReason, CloseCode, HoldReason, IncidentCommand, IncidentStatus, IncidentStatusKind,
};
use opsledger::core::policy::{ChildSync, ChildSyncPolicy, IncidentPolicy};
use opsledger::core::sla::{
    CalendarRef, SlaDefinition, SlaKey, SlaMetric, SlaPolicy, SlaScope, SlaState,
};
use opsledger::core::{IncidentId, Policy, RecordKind};
use opsledger::{Clock, Engine, FollowUpResult, ManualClock, RecordRef};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::sync::Arc;

const PARENT: u32 = 1;

fn policy(sync: ChildSyncPolicy) -> Policy {
    Policy {
        incident: IncidentPolicy {
            child_sync: sync,
            ..IncidentPolicy::default()
        },
        ..Policy::default()
    }
}

fn engine_with(sync: ChildSyncPolicy) -> (Engine, Arc<ManualClock>) {
    let clock = clock();
    let engine = Engine::in_memory(config(&clock, 1).with_policy(policy(sync))).unwrap();
    (engine, clock)
}

/// Publishes the policy with `sync` as its next version.
fn publish(engine: &Engine, sync: ChildSyncPolicy) {
    engine
        .publish_policy(
            &opsledger::core::Actor::new("ada", [opsledger::core::Role::Admin]),
            policy(sync),
            opsledger::PublishPolicy::default(),
        )
        .unwrap();
}

/// Every key `follow` but `key`, which is `setting`.
fn sync_with(key: &str, setting: ChildSync) -> ChildSyncPolicy {
    let mut sync = ChildSyncPolicy::default();
    match key {
        "on_hold" => sync.on_hold = setting,
        "resumed" => sync.resumed = setting,
        "resolved" => sync.resolved = setting,
        "reopened" => sync.reopened = setting,
        other => panic!("no child_sync key {other}"),
    }
    sync
}

fn status(engine: &Engine, incident: IncidentId) -> IncidentStatus {
    engine
        .view(None)
        .unwrap()
        .incident(incident)
        .unwrap()
        .expect("exists")
        .status
}

fn last_note(engine: &Engine, incident: IncidentId) -> String {
    engine
        .view(None)
        .unwrap()
        .timeline(RecordRef::incident(incident))
        .unwrap()
        .into_iter()
        .rev()
        .find(|e| e.event_type == "incident.work_note_added")
        .and_then(|e| e.why)
        .unwrap_or_default()
}

fn hold(id: IncidentId, reason: HoldReason) -> IncidentCommand {
    IncidentCommand::PutOnHold { id, reason }
}

fn awaiting_parent() -> IncidentStatus {
    IncidentStatus::OnHold {
        reason: HoldReason::AwaitingParent {
            parent: inc(PARENT),
        },
    }
}

fn resolved_with_parent_notes() -> IncidentStatus {
    IncidentStatus::Resolved {
        code: CloseCode::SolvedWorkaround,
        notes: "parent fixed".into(),
    }
}

/// A parent in progress with one child, `inc(2)`, in progress (linked on the child; the
/// engine mirrors the link on the parent).
fn family(engine: &Engine) {
    for i in [PARENT, 2] {
        exec(engine, &agent(), open_incident(inc(i), "web shop down"));
        exec(engine, &agent(), assign(inc(i), "service-desk", "alice"));
    }
    exec(
        engine,
        &agent(),
        IncidentCommand::LinkParent {
            id: inc(2),
            parent: inc(PARENT),
        },
    );
}

// ---- given (the child, and the parent's state before the transition) ------------------------

fn child_in_progress(_: &Engine) {}

fn child_new(engine: &Engine) {
    exec(engine, &agent(), open_incident(inc(3), "new child"));
    exec(
        engine,
        &agent(),
        IncidentCommand::LinkParent {
            id: inc(3),
            parent: inc(PARENT),
        },
    );
}

fn child_on_hold_for_itself(engine: &Engine) {
    exec(engine, &agent(), hold(inc(2), HoldReason::AwaitingCaller));
}

fn parent_on_hold(engine: &Engine) {
    exec(
        engine,
        &agent(),
        hold(inc(PARENT), HoldReason::AwaitingVendor),
    );
}

fn child_for_itself_then_parent_on_hold(engine: &Engine) {
    child_on_hold_for_itself(engine);
    parent_on_hold(engine);
}

fn parent_resolved(engine: &Engine) {
    exec(engine, &agent(), resolve(inc(PARENT), "parent fixed"));
}

// ---- when (the parent's transition) ----------------------------------------------------------

fn put_parent_on_hold(engine: &Engine) {
    parent_on_hold(engine);
}

fn resume_parent(engine: &Engine) {
    exec(
        engine,
        &agent(),
        IncidentCommand::Resume { id: inc(PARENT) },
    );
}

fn resolve_parent(engine: &Engine) {
    parent_resolved(engine);
}

fn reopen_parent(engine: &Engine) {
    exec(
        engine,
        &agent(),
        IncidentCommand::Reopen {
            id: inc(PARENT),
            reason: "back again".into(),
        },
    );
}

struct Row {
    key: &'static str,
    setting: ChildSync,
    given: fn(&Engine),
    when: fn(&Engine),
    child: u32,
    then: fn() -> IncidentStatus,
}

/// The table of docs/POLICY.md, row by row, under both settings.
#[test]
fn each_parent_transition_reaches_its_children_as_the_policy_says() {
    use ChildSync::{Follow, Ignore};
    let rows = [
        // on hold: children in progress wait for the parent.
        Row {
            key: "on_hold",
            setting: Follow,
            given: child_in_progress,
            when: put_parent_on_hold,
            child: 2,
            then: awaiting_parent,
        },
        Row {
            key: "on_hold",
            setting: Ignore,
            given: child_in_progress,
            when: put_parent_on_hold,
            child: 2,
            then: || IncidentStatus::InProgress,
        },
        // ... a new child has no work to pause, and a held one keeps its own reason.
        Row {
            key: "on_hold",
            setting: Follow,
            given: child_new,
            when: put_parent_on_hold,
            child: 3,
            then: || IncidentStatus::New,
        },
        Row {
            key: "on_hold",
            setting: Follow,
            given: child_on_hold_for_itself,
            when: put_parent_on_hold,
            child: 2,
            then: || IncidentStatus::OnHold {
                reason: HoldReason::AwaitingCaller,
            },
        },
        // resumed: the children held for the parent resume, never one held for itself.
        Row {
            key: "resumed",
            setting: Follow,
            given: parent_on_hold,
            when: resume_parent,
            child: 2,
            then: || IncidentStatus::InProgress,
        },
        Row {
            key: "resumed",
            setting: Follow,
            given: child_for_itself_then_parent_on_hold,
            when: resume_parent,
            child: 2,
            then: || IncidentStatus::OnHold {
                reason: HoldReason::AwaitingCaller,
            },
        },
        // resolved: open children are resolved with the parent's code and notes.
        Row {
            key: "resolved",
            setting: Follow,
            given: child_in_progress,
            when: resolve_parent,
            child: 2,
            then: resolved_with_parent_notes,
        },
        Row {
            key: "resolved",
            setting: Follow,
            given: parent_on_hold,
            when: resolve_parent,
            child: 2,
            then: resolved_with_parent_notes,
        },
        Row {
            key: "resolved",
            setting: Ignore,
            given: child_in_progress,
            when: resolve_parent,
            child: 2,
            then: || IncidentStatus::InProgress,
        },
        // ... and under `ignore` no child keeps waiting for a resolved parent.
        Row {
            key: "resolved",
            setting: Ignore,
            given: parent_on_hold,
            when: resolve_parent,
            child: 2,
            then: || IncidentStatus::InProgress,
        },
        // reopened: resolved children are reopened.
        Row {
            key: "reopened",
            setting: Follow,
            given: parent_resolved,
            when: reopen_parent,
            child: 2,
            then: || IncidentStatus::InProgress,
        },
        Row {
            key: "reopened",
            setting: Ignore,
            given: parent_resolved,
            when: reopen_parent,
            child: 2,
            then: resolved_with_parent_notes,
        },
    ];
    for (n, row) in rows.iter().enumerate() {
        let (engine, _clock) = engine_with(sync_with(row.key, row.setting));
        family(&engine);
        (row.given)(&engine);
        let before = status(&engine, inc(row.child));
        (row.when)(&engine);
        assert_eq!(
            status(&engine, inc(row.child)),
            (row.then)(),
            "row {n}: {} = {:?}, child was {before:?}",
            row.key,
            row.setting
        );
    }
}

#[test]
fn a_held_child_names_its_parent_and_the_follow_up_says_which_process_held_it() {
    let (engine, _clock) = engine_with(ChildSyncPolicy::default());
    family(&engine);
    let outcome = exec(
        &engine,
        &agent(),
        hold(inc(PARENT), HoldReason::AwaitingCaller),
    );
    let held: Vec<_> = outcome
        .follow_ups
        .iter()
        .filter(|f| f.process == "parent_hold")
        .collect();
    assert_eq!(held.len(), 1, "{:#?}", outcome.follow_ups);
    assert_eq!(held[0].record, RecordRef::incident(inc(2)));
    assert!(matches!(&held[0].result, FollowUpResult::Applied { events } if events.len() == 1));
    let timeline = engine
        .view(None)
        .unwrap()
        .timeline(RecordRef::incident(inc(2)))
        .unwrap();
    let last = timeline.last().unwrap();
    assert_eq!(last.actor, "opsledger:parent_hold");
    // A change of the parent's reason while on hold leaves the held child as it is.
    let outcome = exec(
        &engine,
        &agent(),
        hold(inc(PARENT), HoldReason::AwaitingVendor),
    );
    assert!(
        outcome
            .follow_ups
            .iter()
            .all(|f| f.process != "parent_hold"),
        "{:#?}",
        outcome.follow_ups
    );
    assert_eq!(status(&engine, inc(2)), awaiting_parent());
}

#[test]
fn a_canceled_parent_releases_the_children_waiting_for_it_with_a_note() {
    let (engine, _clock) = engine_with(ChildSyncPolicy::default());
    family(&engine);
    parent_on_hold(&engine);
    assert_eq!(status(&engine, inc(2)), awaiting_parent());
    exec(
        &engine,
        &agent(),
        IncidentCommand::Cancel {
            id: inc(PARENT),
            reason: CancelReason::NotAnIncident,
        },
    );
    assert_eq!(status(&engine, inc(2)), IncidentStatus::InProgress);
    assert_eq!(
        last_note(&engine, inc(2)),
        "parent INC0000001 was canceled, so nothing will release this hold; work resumes here"
    );
}

#[test]
fn a_hold_awaiting_a_parent_names_the_linked_parent_and_one_not_on_hold_is_released() {
    let (engine, _clock) = engine_with(ChildSyncPolicy::default());
    family(&engine);
    exec(&engine, &agent(), open_incident(inc(9), "a stranger"));
    // Not this incident's parent: refused, nothing written.
    let head = engine.head().unwrap();
    let refused = try_exec(
        &engine,
        &agent(),
        hold(inc(2), HoldReason::AwaitingParent { parent: inc(9) }),
    )
    .unwrap_err();
    assert_eq!(refused.code(), "validation");
    assert!(
        refused
            .to_string()
            .contains("is not this incident's parent"),
        "{refused}"
    );
    assert_eq!(engine.head().unwrap(), head);
    // Its parent, by hand, while the parent works: nothing would release it, so it resumes.
    exec(
        &engine,
        &agent(),
        hold(
            inc(2),
            HoldReason::AwaitingParent {
                parent: inc(PARENT),
            },
        ),
    );
    assert_eq!(status(&engine, inc(2)), IncidentStatus::InProgress);
    assert_eq!(
        last_note(&engine, inc(2)),
        "parent INC0000001 is not on hold, so nothing will release this hold; work resumes here"
    );
}

#[test]
fn a_child_never_closes_with_its_parent_neither_by_hand_nor_by_the_timer() {
    let (engine, clock) = engine_with(ChildSyncPolicy::default());
    family(&engine);
    resolve_parent(&engine);
    assert_eq!(status(&engine, inc(2)), resolved_with_parent_notes());
    // The parent's caller confirms: the parent closes, the child stays resolved.
    let outcome = exec(&engine, &agent(), close(inc(PARENT)));
    assert!(outcome.follow_ups.is_empty(), "{:#?}", outcome.follow_ups);
    assert_eq!(status(&engine, inc(PARENT)), IncidentStatus::Closed);
    assert_eq!(status(&engine, inc(2)), resolved_with_parent_notes());

    // A second family: the child is resolved again two days after its parent, and the
    // parent's auto-close leaves it resolved until its own delay has passed.
    for i in [4, 5] {
        exec(&engine, &agent(), open_incident(inc(i), "mail down"));
        exec(&engine, &agent(), assign(inc(i), "service-desk", "alice"));
    }
    exec(
        &engine,
        &agent(),
        IncidentCommand::LinkParent {
            id: inc(5),
            parent: inc(4),
        },
    );
    exec(&engine, &agent(), resolve(inc(4), "mail fixed"));
    clock.advance(Duration::days(2));
    exec(
        &engine,
        &agent(),
        IncidentCommand::Reopen {
            id: inc(5),
            reason: "still bouncing".into(),
        },
    );
    exec(&engine, &agent(), resolve(inc(5), "mailbox quota raised"));
    clock.advance(Duration::days(5));
    let report = engine.tick(clock.now()).unwrap();
    assert!(
        report.auto_closed.contains(&RecordRef::incident(inc(4))),
        "{report:?}"
    );
    assert!(
        !report.auto_closed.contains(&RecordRef::incident(inc(5))),
        "{report:?}"
    );
    assert_eq!(status(&engine, inc(4)), IncidentStatus::Closed);
    assert_eq!(status(&engine, inc(5)).kind(), IncidentStatusKind::Resolved);
    clock.advance(Duration::days(2));
    let report = engine.tick(clock.now()).unwrap();
    assert_eq!(report.auto_closed, vec![RecordRef::incident(inc(5))]);
}

#[test]
fn a_policy_published_later_decides_the_sync_from_then_on() {
    let (engine, _clock) = engine_with(ChildSyncPolicy::default());
    family(&engine);
    let ignore = ChildSyncPolicy {
        on_hold: ChildSync::Ignore,
        ..ChildSyncPolicy::default()
    };
    publish(&engine, ignore);
    parent_on_hold(&engine);
    assert_eq!(status(&engine, inc(2)), IncidentStatus::InProgress);
}

#[test]
fn resume_may_be_ignored_only_with_hold_and_children_held_before_are_released() {
    // `on_hold = follow` with `resumed = ignore` would leave children waiting forever.
    let clock = clock();
    let refused = Engine::in_memory(
        config(&clock, 1).with_policy(policy(sync_with("resumed", ChildSync::Ignore))),
    );
    let Err(refused) = refused else {
        panic!("on_hold = follow with resumed = ignore must be refused");
    };
    let message = refused.to_string();
    assert!(message.contains("incident.child_sync.resumed"), "{message}");
    // Children held under a version that followed the hold are released, with a note, when
    // the parent resumes under a version that ignores both.
    let (engine, _clock) = engine_with(ChildSyncPolicy::default());
    family(&engine);
    parent_on_hold(&engine);
    assert_eq!(status(&engine, inc(2)), awaiting_parent());
    let ignore = ChildSyncPolicy {
        on_hold: ChildSync::Ignore,
        resumed: ChildSync::Ignore,
        ..ChildSyncPolicy::default()
    };
    publish(&engine, ignore);
    resume_parent(&engine);
    assert_eq!(status(&engine, inc(2)), IncidentStatus::InProgress);
    let note = last_note(&engine, inc(2));
    assert!(
        note.contains("resumed and the policy does not resume its children"),
        "{note}"
    );
}

// ---- duplicates ----------------------------------------------------------------------------

fn sla_policy() -> Policy {
    Policy {
        sla: SlaPolicy::new(
            vec![SlaDefinition::new(
                SlaKey::new("resolution", 1),
                "Resolution",
                SlaScope::all(RecordKind::Incident),
                SlaMetric::Resolution,
                Duration::hours(4),
                CalendarRef::exact("24x7", 1),
            )],
            vec![BusinessCalendar::always()],
        ),
        ..Policy::default()
    }
}

#[test]
fn a_duplicate_recorded_on_its_original_is_canceled_with_the_link_and_its_clock_stops() {
    let clock = clock();
    let engine = Engine::in_memory(config(&clock, 1).with_policy(sla_policy())).unwrap();
    exec(&engine, &agent(), open_incident(inc(1), "VPN down"));
    exec(&engine, &agent(), open_incident(inc(2), "cannot reach VPN"));
    exec(&engine, &agent(), assign(inc(2), "service-desk", "bob"));
    let running = engine
        .view(None)
        .unwrap()
        .sla(RecordRef::incident(inc(2)))
        .unwrap();
    assert!(
        matches!(running[0].state, SlaState::Running { .. }),
        "{running:?}"
    );
    clock.advance(Duration::minutes(20));
    let outcome = exec(
        &engine,
        &agent(),
        IncidentCommand::LinkDuplicate {
            id: inc(1),
            duplicate: inc(2),
        },
    );
    let canceled: Vec<_> = outcome
        .follow_ups
        .iter()
        .filter(|f| f.process == "duplicate_cancel")
        .collect();
    assert_eq!(canceled.len(), 1, "{:#?}", outcome.follow_ups);
    assert_eq!(
        status(&engine, inc(2)),
        IncidentStatus::Canceled {
            reason: CancelReason::Duplicate { of: inc(1) }
        }
    );
    let view = engine.view(None).unwrap();
    // The link stays on both sides, once (the mirror sees it already recorded).
    let original = view.record(RecordRef::incident(inc(1))).unwrap().unwrap();
    assert_eq!(original.incident().unwrap().duplicates, vec![inc(2)]);
    assert!(
        view.record(RecordRef::incident(inc(2)))
            .unwrap()
            .is_some_and(|v| !v.open)
    );
    // Its clock stopped at the cancellation and counts no further.
    let clocks = view.sla(RecordRef::incident(inc(2))).unwrap();
    assert_eq!(clocks.len(), 1);
    let SlaState::Canceled { since, .. } = &clocks[0].state else {
        panic!("the clock runs on: {clocks:?}");
    };
    assert_eq!(*since, clock.now());
    clock.advance(Duration::hours(8));
    let later = engine
        .view(None)
        .unwrap()
        .sla(RecordRef::incident(inc(2)))
        .unwrap();
    assert!(later[0].breached.is_none(), "{later:?}");
    assert_eq!(later[0].elapsed, clocks[0].elapsed);
    let report = engine.tick(clock.now()).unwrap();
    assert!(report.failures.is_empty(), "{report:?}");
    let after_tick = engine
        .view(None)
        .unwrap()
        .sla(RecordRef::incident(inc(2)))
        .unwrap();
    assert!(after_tick[0].breached.is_none(), "{after_tick:?}");
}

#[test]
fn a_duplicate_already_resolved_or_canceled_is_linked_and_left_as_it_is() {
    let (engine, _clock) = engine_with(ChildSyncPolicy::default());
    for i in 1..=3 {
        exec(&engine, &agent(), open_incident(inc(i), "printer jam"));
        exec(&engine, &agent(), assign(inc(i), "service-desk", "bob"));
    }
    exec(&engine, &agent(), resolve(inc(2), "cleared the jam"));
    exec(
        &engine,
        &agent(),
        IncidentCommand::Cancel {
            id: inc(3),
            reason: CancelReason::NotAnIncident,
        },
    );
    for d in [2, 3] {
        let outcome = exec(
            &engine,
            &agent(),
            IncidentCommand::LinkDuplicate {
                id: inc(1),
                duplicate: inc(d),
            },
        );
        assert!(
            outcome
                .follow_ups
                .iter()
                .all(|f| f.process != "duplicate_cancel"),
            "{:#?}",
            outcome.follow_ups
        );
    }
    assert_eq!(status(&engine, inc(2)).kind(), IncidentStatusKind::Resolved);
    assert_eq!(
        status(&engine, inc(3)),
        IncidentStatus::Canceled {
            reason: CancelReason::NotAnIncident
        }
    );
}

#[test]
fn an_original_that_is_itself_canceled_cancels_no_duplicate() {
    let (engine, _clock) = engine_with(ChildSyncPolicy::default());
    for i in 1..=2 {
        exec(&engine, &agent(), open_incident(inc(i), "printer jam"));
        exec(&engine, &agent(), assign(inc(i), "service-desk", "bob"));
    }
    // 2 is recorded as a duplicate of 1 and canceled; then 2 records 1 as its duplicate.
    exec(
        &engine,
        &agent(),
        IncidentCommand::LinkDuplicate {
            id: inc(1),
            duplicate: inc(2),
        },
    );
    assert_eq!(status(&engine, inc(2)).kind(), IncidentStatusKind::Canceled);
    let _ = try_exec(
        &engine,
        &agent(),
        IncidentCommand::LinkDuplicate {
            id: inc(2),
            duplicate: inc(1),
        },
    );
    assert_eq!(
        status(&engine, inc(1)).kind(),
        IncidentStatusKind::InProgress
    );
}

#[test]
fn the_duplicate_cancel_runs_once_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let before;
    {
        let engine = disk_engine(dir.path(), &clock, 1);
        exec(&engine, &agent(), open_incident(inc(1), "VPN down"));
        exec(&engine, &agent(), open_incident(inc(2), "VPN down too"));
        exec(
            &engine,
            &agent(),
            IncidentCommand::LinkDuplicate {
                id: inc(1),
                duplicate: inc(2),
            },
        );
        before = engine.head().unwrap();
        engine.close().unwrap();
    }
    let engine = disk_engine(dir.path(), &clock, 2);
    assert_eq!(engine.head().unwrap(), before);
    assert_eq!(
        status(&engine, inc(2)),
        IncidentStatus::Canceled {
            reason: CancelReason::Duplicate { of: inc(1) }
        }
    );
}

// ---- the invariants over random histories ---------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    ParentHold(bool),
    ParentResume,
    ParentResolve,
    ParentReopen,
    ParentClose,
    ChildAck(u32),
    ChildHold(u32),
    ChildResume(u32),
    ChildResolve(u32),
    ChildReopen(u32),
    ChildClose(u32),
}

impl Op {
    fn parent(&self) -> bool {
        matches!(
            self,
            Op::ParentHold(_)
                | Op::ParentResume
                | Op::ParentResolve
                | Op::ParentReopen
                | Op::ParentClose
        )
    }
}

const CHILDREN: std::ops::RangeInclusive<u32> = 2..=4;

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => any::<bool>().prop_map(Op::ParentHold),
        3 => Just(Op::ParentResume),
        1 => Just(Op::ParentResolve),
        1 => Just(Op::ParentReopen),
        1 => Just(Op::ParentClose),
        1 => CHILDREN.prop_map(Op::ChildAck),
        2 => CHILDREN.prop_map(Op::ChildHold),
        2 => CHILDREN.prop_map(Op::ChildResume),
        1 => CHILDREN.prop_map(Op::ChildResolve),
        1 => CHILDREN.prop_map(Op::ChildReopen),
        1 => CHILDREN.prop_map(Op::ChildClose),
    ]
}

fn command(op: &Op) -> IncidentCommand {
    match op {
        Op::ParentHold(caller) => hold(
            inc(PARENT),
            if *caller {
                HoldReason::AwaitingCaller
            } else {
                HoldReason::AwaitingVendor
            },
        ),
        Op::ParentResume => IncidentCommand::Resume { id: inc(PARENT) },
        Op::ParentResolve => resolve(inc(PARENT), "parent fixed"),
        Op::ParentReopen => IncidentCommand::Reopen {
            id: inc(PARENT),
            reason: "back".into(),
        },
        Op::ParentClose => close(inc(PARENT)),
        Op::ChildAck(i) => IncidentCommand::Acknowledge { id: inc(*i) },
        Op::ChildHold(i) => hold(inc(*i), HoldReason::AwaitingVendor),
        Op::ChildResume(i) => IncidentCommand::Resume { id: inc(*i) },
        Op::ChildResolve(i) => resolve(inc(*i), "child fixed"),
        Op::ChildReopen(i) => IncidentCommand::Reopen {
            id: inc(*i),
            reason: "back".into(),
        },
        Op::ChildClose(i) => close(inc(*i)),
    }
}

fn statuses(engine: &Engine) -> BTreeMap<u32, IncidentStatus> {
    (PARENT..=*CHILDREN.end())
        .map(|i| (i, status(engine, inc(i))))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, max_shrink_iters: 200, .. ProptestConfig::default() })]

    /// Over random histories of a parent and three children, under every on_hold/resumed
    /// setting: a parent's hold holds exactly its children in progress (or none under
    /// `ignore`), its resumption resumes exactly the children held for it (never one held for
    /// its own reason; none under `ignore`), its close changes no child, a child's own command
    /// changes no other incident, and no child waits for a parent that is not on hold.
    #[test]
    fn children_follow_their_parent_as_the_policy_says(
        on_hold in any::<bool>(),
        resumed in any::<bool>(),
        new_child in any::<bool>(),
        ops in proptest::collection::vec(op(), 1..24),
    ) {
        // Holding children with the parent but not resuming them is refused by the policy.
        prop_assume!(!on_hold || resumed);
        let setting = |follow: bool| if follow { ChildSync::Follow } else { ChildSync::Ignore };
        let sync = ChildSyncPolicy {
            on_hold: setting(on_hold),
            resumed: setting(resumed),
            ..ChildSyncPolicy::default()
        };
        let (engine, _clock) = engine_with(sync);
        exec(&engine, &agent(), open_incident(inc(PARENT), "parent"));
        exec(&engine, &agent(), assign(inc(PARENT), "service-desk", "alice"));
        for i in CHILDREN {
            exec(&engine, &agent(), open_incident(inc(i), "child"));
            // One child may stay new (nobody works on it yet).
            if !(new_child && i == *CHILDREN.end()) {
                exec(&engine, &agent(), assign(inc(i), "service-desk", "bob"));
            }
            exec(&engine, &agent(), IncidentCommand::LinkParent { id: inc(i), parent: inc(PARENT) });
        }
        let parent_hold = IncidentStatus::OnHold { reason: HoldReason::AwaitingParent { parent: inc(PARENT) } };
        for op in ops {
            let before = statuses(&engine);
            let accepted = try_exec(&engine, &agent(), command(&op)).is_ok();
            let after = statuses(&engine);
            if !accepted {
                prop_assert_eq!(&before, &after, "a refused {:?} changed something", op);
                continue;
            }
            for i in CHILDREN {
                let (was, now) = (&before[&i], &after[&i]);
                match &op {
                    Op::ParentHold(_) if was.kind() == IncidentStatusKind::InProgress && on_hold => {
                        prop_assert_eq!(now, &parent_hold, "{:?}: child {} was in progress", op, i);
                    }
                    Op::ParentResume if *was == parent_hold && resumed => {
                        prop_assert_eq!(now, &IncidentStatus::InProgress, "{:?}: child {}", op, i);
                    }
                    Op::ParentHold(_) | Op::ParentResume | Op::ParentClose => {
                        prop_assert_eq!(was, now, "{:?} changed child {}", op, i);
                    }
                    Op::ParentResolve | Op::ParentReopen => {
                        // Their own table rows; a child never ends closed by its parent.
                        prop_assert!(
                            now.kind() != IncidentStatusKind::Closed || was.kind() == IncidentStatusKind::Closed,
                            "{:?} closed child {}", op, i
                        );
                    }
                    Op::ChildAck(c) | Op::ChildHold(c) | Op::ChildResume(c) | Op::ChildResolve(c)
                    | Op::ChildReopen(c) | Op::ChildClose(c) => {
                        if *c != i {
                            prop_assert_eq!(was, now, "{:?} changed child {}", op, i);
                        }
                    }
                }
                // A child held for its own reason keeps it whatever the parent does.
                if op.parent()
                    && let IncidentStatus::OnHold { reason } = was
                    && !matches!(reason, HoldReason::AwaitingParent { .. })
                    && !matches!(op, Op::ParentResolve)
                {
                    prop_assert_eq!(was, now, "{:?} moved child {} held for itself", op, i);
                }
            }
            if !op.parent() {
                prop_assert_eq!(&before[&PARENT], &after[&PARENT], "{:?} changed the parent", op);
            }
            let parent_held = after[&PARENT].kind() == IncidentStatusKind::OnHold;
            for i in CHILDREN {
                prop_assert!(
                    parent_held || after[&i] != parent_hold,
                    "child {} waits for a parent that is {:?}", i, after[&PARENT]
                );
            }
        }
    }
}
