//! Shared fixtures for the change tests (included with `#[path]` by the other `change_*` test
//! files; compiled on its own it holds no test).
#![allow(dead_code)]

use chrono::{DateTime, Utc};
use opsledger_core::change::{
    ChangeCommand, ChangeDecider, ChangeEvent, ChangeStatusKind, ChangeType, CloseCode, Risk,
    ScheduledChange,
};
use opsledger_core::policy::StandardChangeTemplate;
use opsledger_core::testing::t;
use opsledger_core::{
    Actor, ChangeId, CiId, Context, Decider, IncidentId, Policy, ProblemId, Role, TimeWindow,
};
use std::collections::BTreeSet;
use std::sync::Arc;
use uuid::Uuid;

/// The change under test.
pub fn cid() -> ChangeId {
    ChangeId::from_uuid(Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001))
}

/// Another change (calendar entries, wrong-record commands).
pub fn other_cid(n: u128) -> ChangeId {
    ChangeId::from_uuid(Uuid::from_u128(
        0x0190_0000_0000_7000_8000_0000_0000_1000 + n,
    ))
}

/// A problem id.
pub fn pid(n: u128) -> ProblemId {
    ProblemId::from_uuid(Uuid::from_u128(
        0x0190_0000_0000_7000_8000_0000_0000_2000 + n,
    ))
}

/// An incident id.
pub fn iid(n: u128) -> IncidentId {
    IncidentId::from_uuid(Uuid::from_u128(
        0x0190_0000_0000_7000_8000_0000_0000_3000 + n,
    ))
}

/// The requester: raises and submits changes, nothing else.
pub fn rita() -> Actor {
    Actor::new("rita", [Role::Requester])
}

/// An agent: plans, implements, closes.
pub fn alice() -> Actor {
    Actor::new("alice", [Role::Agent])
}

/// A CAB member.
pub fn carol() -> Actor {
    Actor::new("carol", [Role::CabMember])
}

/// Another CAB member.
pub fn dave() -> Actor {
    Actor::new("dave", [Role::CabMember])
}

/// A change manager (schedules, cancels, reverts, approves emergencies).
pub fn max() -> Actor {
    Actor::new("max", [Role::ChangeManager])
}

/// An admin who is on no board and holds no approver role.
pub fn root() -> Actor {
    Actor::new("root", [Role::Admin])
}

/// The catalogue's standard template.
pub const TEMPLATE: &str = "std-patch";

/// Default policy plus one standard-change template.
pub fn policy() -> Policy {
    Policy {
        standard_changes: vec![StandardChangeTemplate {
            id: TEMPLATE.to_owned(),
            name: "Monthly OS patch".to_owned(),
        }],
        ..Policy::default()
    }
}

/// The planned window of the fixtures: [t+60min, t+180min).
pub fn window() -> TimeWindow {
    TimeWindow::new(t(60), t(180))
}

/// A window from minute `a` to minute `b` after t0.
pub fn win(a: i64, b: i64) -> TimeWindow {
    TimeWindow::new(t(a), t(b))
}

/// A set of CIs.
pub fn cis(names: &[&str]) -> BTreeSet<CiId> {
    names.iter().map(|n| CiId::new(*n)).collect()
}

/// A calendar entry.
pub fn booked(
    n: u128,
    window: TimeWindow,
    ci_names: &[&str],
    assignee: Option<&str>,
) -> ScheduledChange {
    ScheduledChange {
        id: other_cid(n),
        window,
        cis: cis(ci_names),
        assignee: assignee.map(Into::into),
    }
}

/// A valid request of the given type affecting `db-01`.
pub fn request_cmd(change_type: ChangeType) -> ChangeCommand {
    ChangeCommand::Request {
        id: cid(),
        title: "Upgrade PostgreSQL on db-01".to_owned(),
        description: "Minor version upgrade".to_owned(),
        change_type,
        risk: Risk::Moderate,
        cis: cis(&["db-01"]),
        implementation_plan: "apt upgrade; restart".to_owned(),
        backout_plan: "restore snapshot".to_owned(),
        test_plan: "smoke tests".to_owned(),
        assignee: Some("alice".into()),
    }
}

/// `plan` with no calendar.
pub fn plan_cmd(window: TimeWindow) -> ChangeCommand {
    ChangeCommand::Plan {
        id: cid(),
        window,
        assignee: None,
        calendar: Vec::new(),
        ci_relations: Vec::new(),
        accept_conflicts: None,
    }
}

/// `submit` with no calendar.
pub fn submit_cmd() -> ChangeCommand {
    ChangeCommand::Submit {
        id: cid(),
        calendar: Vec::new(),
        ci_relations: Vec::new(),
        accept_conflicts: None,
    }
}

/// `approve` with no calendar.
pub fn approve_cmd() -> ChangeCommand {
    ChangeCommand::Approve {
        id: cid(),
        comment: None,
        calendar: Vec::new(),
        ci_relations: Vec::new(),
        accept_conflicts: None,
    }
}

/// One command as an actor at an instant.
pub type Step = (Actor, DateTime<Utc>, ChangeCommand);

/// Runs `steps` through the decider under `policy`, panicking on the first refusal; returns
/// every event.
#[track_caller]
pub fn run(policy: &Policy, steps: Vec<Step>) -> Vec<ChangeEvent> {
    let policy = Arc::new(policy.clone());
    let mut state = None;
    let mut all = Vec::new();
    for (actor, now, cmd) in steps {
        let ctx = Context::new(now, actor, policy.clone());
        let events = ChangeDecider::decide(&state, &cmd, &ctx)
            .unwrap_or_else(|e| panic!("fixture step {cmd:?} refused: {e:?}"));
        for e in &events {
            state = ChangeDecider::evolve(state, e);
        }
        all.extend(events);
    }
    all
}

/// Steps that bring a change of `change_type` to New with a planned window.
pub fn steps_new(change_type: ChangeType) -> Vec<Step> {
    vec![
        (rita(), t(0), request_cmd(change_type)),
        (alice(), t(1), plan_cmd(window())),
    ]
}

/// Steps that bring a normal change to `kind` (Canceled: canceled during implementation).
pub fn steps_to(kind: ChangeStatusKind) -> Vec<Step> {
    let mut steps = steps_new(ChangeType::Normal);
    let add = |steps: &mut Vec<Step>, upto: ChangeStatusKind| {
        let path: [(ChangeStatusKind, Step); 6] = [
            (ChangeStatusKind::Assess, (rita(), t(2), submit_cmd())),
            (
                ChangeStatusKind::Authorize,
                (
                    alice(),
                    t(3),
                    ChangeCommand::RequestAuthorization { id: cid() },
                ),
            ),
            (ChangeStatusKind::Scheduled, (carol(), t(4), approve_cmd())),
            (
                ChangeStatusKind::Implement,
                (
                    alice(),
                    t(60),
                    ChangeCommand::StartImplementation { id: cid() },
                ),
            ),
            (
                ChangeStatusKind::Review,
                (
                    alice(),
                    t(61),
                    ChangeCommand::CompleteImplementation { id: cid() },
                ),
            ),
            (
                ChangeStatusKind::Closed,
                (
                    alice(),
                    t(62),
                    ChangeCommand::Close {
                        id: cid(),
                        code: CloseCode::Successful,
                        notes: "went fine".to_owned(),
                    },
                ),
            ),
        ];
        for (reached, step) in path {
            steps.push(step);
            if reached == upto {
                break;
            }
        }
    };
    match kind {
        ChangeStatusKind::New => {}
        ChangeStatusKind::Canceled => {
            add(&mut steps, ChangeStatusKind::Implement);
            steps.push((
                max(),
                t(61),
                ChangeCommand::Cancel {
                    id: cid(),
                    reason: "aborted mid-way".to_owned(),
                },
            ));
        }
        ChangeStatusKind::Assess
        | ChangeStatusKind::Authorize
        | ChangeStatusKind::Scheduled
        | ChangeStatusKind::Implement
        | ChangeStatusKind::Review
        | ChangeStatusKind::Closed => add(&mut steps, kind),
    }
    steps
}

/// Events of a normal change in `kind` under [`policy`].
pub fn events_to(kind: ChangeStatusKind) -> Vec<ChangeEvent> {
    run(&policy(), steps_to(kind))
}

/// The events of a change of `change_type` in New with a planned window, under [`policy`].
pub fn events_new(change_type: ChangeType) -> Vec<ChangeEvent> {
    run(&policy(), steps_new(change_type))
}
