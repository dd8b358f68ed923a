//! Shared fixtures of the incident tests, included by the other `incident_*` test files with
//! `#[path = "support/incident_fixtures.rs"] mod fixtures;`.
#![allow(dead_code)]

use chrono::{DateTime, Utc};
use opsledger_core::incident::{
    AlertSource, CancelReason, CloseCode, HoldReason, Incident, IncidentCommand,
    IncidentCommandKind, IncidentDecider, IncidentEvent, IncidentStatusKind, MajorStatusKind,
};
use opsledger_core::testing::{actor, admin, t};
use opsledger_core::{
    Actor, ActorId, ChangeId, Context, Decider, DomainError, GroupId, Impact, IncidentId, Policy,
    ProblemId, Role, Urgency,
};
use std::sync::Arc;
use uuid::Uuid;

/// The incident under test.
pub const INC: IncidentId = IncidentId(Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001));
/// Its parent in parent/child scenarios.
pub const PARENT: IncidentId =
    IncidentId(Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0002));
/// Another incident (duplicates, wrong record).
pub const OTHER: IncidentId =
    IncidentId(Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0003));
/// A child.
pub const CHILD: IncidentId =
    IncidentId(Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0004));
/// A problem.
pub const PROBLEM: ProblemId =
    ProblemId(Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0101));
/// Another problem.
pub const PROBLEM2: ProblemId =
    ProblemId(Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0102));
/// A change.
pub const CHANGE: ChangeId = ChangeId(Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0201));

/// The dedup key incidents are opened with.
pub const KEY: &str = "cpu-high";

/// The caller of [`INC`], a requester.
pub fn carol() -> Actor {
    actor("carol", &[Role::Requester])
}

/// Another requester.
pub fn dave() -> Actor {
    actor("dave", &[Role::Requester])
}

/// An agent.
pub fn alice() -> Actor {
    actor("alice", &[Role::Agent])
}

/// A manager.
pub fn mona() -> Actor {
    actor("mona", &[Role::Manager])
}

/// The engine's timer (auto-close) and process managers.
pub fn system() -> Actor {
    actor("opsledger", &[Role::System])
}

/// Somebody without any role.
pub fn nobody() -> Actor {
    actor("nobody", &[])
}

/// A context at `now` for `who` under the default policy.
pub fn ctx(who: Actor, now: DateTime<Utc>) -> Context {
    Context::new(now, who, Arc::new(Policy::default()))
}

/// Opens [`INC`] for carol, routed to the service desk, medium/medium, from the `cpu-high` alert.
pub fn open_cmd() -> IncidentCommand {
    IncidentCommand::Open {
        id: INC,
        title: "Checkout fails with HTTP 500".to_owned(),
        description: "Customers cannot pay since 08:40".to_owned(),
        caller: ActorId::new("carol"),
        impact: Impact::Medium,
        urgency: Urgency::Medium,
        service: None,
        cis: Vec::new(),
        group: Some(GroupId::new("service-desk")),
        assignee: None,
        alert: Some(AlertSource {
            dedup_key: KEY.to_owned(),
            source: "prometheus".to_owned(),
            seen_at: None,
        }),
    }
}

/// Decides `cmds` one after the other as an admin, one minute apart starting at `t(0)`, and
/// returns every event. Panics on a refused command: fixtures must be valid.
#[track_caller]
pub fn history(cmds: &[IncidentCommand]) -> Vec<IncidentEvent> {
    history_with(&Policy::default(), cmds)
}

/// Like [`history`], under `policy`.
#[track_caller]
pub fn history_with(policy: &Policy, cmds: &[IncidentCommand]) -> Vec<IncidentEvent> {
    let policy = Arc::new(policy.clone());
    let mut state: Option<Incident> = None;
    let mut events = Vec::new();
    for (i, cmd) in cmds.iter().enumerate() {
        let minute = i64::try_from(i).expect("few commands");
        let ctx = Context::new(t(minute), admin(), policy.clone());
        let produced = IncidentDecider::decide(&state, cmd, &ctx)
            .unwrap_or_else(|e| panic!("fixture command {cmd:?} refused: {e:?}"));
        for e in &produced {
            state = IncidentDecider::evolve(state, e);
        }
        events.extend(produced);
    }
    events
}

/// The folded state of `events`.
pub fn fold(events: &[IncidentEvent]) -> Option<Incident> {
    IncidentDecider::fold(events.iter())
}

/// The opened incident of `events` (panics when none).
#[track_caller]
pub fn record(events: &[IncidentEvent]) -> Incident {
    fold(events).expect("an opened incident")
}

/// The commands that bring a fresh [`INC`] to `status`, with the preconditions `for_cmd` needs
/// (a linked parent, a linked problem, a proposed or accepted major incident) set up first.
pub fn commands_to(
    status: IncidentStatusKind,
    for_cmd: IncidentCommandKind,
) -> Vec<IncidentCommand> {
    use IncidentCommandKind as K;
    let mut cmds = vec![open_cmd()];
    match for_cmd {
        K::ResolveFromParent | K::ReopenFromParent => {
            cmds.push(IncidentCommand::LinkParent {
                id: INC,
                parent: PARENT,
            });
        }
        K::ResolveFromProblem => cmds.push(IncidentCommand::LinkProblem {
            id: INC,
            problem: PROBLEM,
        }),
        K::AcceptMajor | K::RejectMajor => cmds.extend(major_commands(MajorStatusKind::Proposed)),
        K::PublishReview => cmds.extend(major_commands(MajorStatusKind::Accepted)),
        K::Open
        | K::Acknowledge
        | K::Assign
        | K::PutOnHold
        | K::Resume
        | K::Resolve
        | K::Reopen
        | K::Close
        | K::AutoClose
        | K::Cancel
        | K::Reprioritize
        | K::EscalateFunctional
        | K::EscalateHierarchical
        | K::ProposeMajor
        | K::LinkParent
        | K::LinkChild
        | K::LinkDuplicate
        | K::CorrelateAlert
        | K::RecordImpactStart
        | K::RecordDetection
        | K::LinkProblem
        | K::LinkCausingChange
        | K::AddWorkNote
        | K::AddComment => {}
    }
    let major_accepted = for_cmd == K::PublishReview;
    cmds.extend(path_to(status, major_accepted));
    cmds
}

/// The commands that move an open, New [`INC`] to `status`.
pub fn path_to(status: IncidentStatusKind, major_accepted: bool) -> Vec<IncidentCommand> {
    let ack = IncidentCommand::Acknowledge { id: INC };
    let resolve = IncidentCommand::Resolve {
        id: INC,
        code: CloseCode::SolvedWorkaround,
        notes: "Restarted the payment gateway".to_owned(),
    };
    match status {
        IncidentStatusKind::New => vec![],
        IncidentStatusKind::InProgress => vec![ack],
        IncidentStatusKind::OnHold => vec![
            ack,
            IncidentCommand::PutOnHold {
                id: INC,
                reason: HoldReason::AwaitingProblem { problem: PROBLEM },
            },
        ],
        IncidentStatusKind::Resolved => vec![ack, resolve],
        IncidentStatusKind::Closed => {
            let mut cmds = vec![ack, resolve];
            if major_accepted {
                cmds.push(review_cmd());
            }
            cmds.push(IncidentCommand::Close { id: INC });
            cmds
        }
        IncidentStatusKind::Canceled => vec![IncidentCommand::Cancel {
            id: INC,
            reason: CancelReason::NotAnIncident,
        }],
    }
}

/// The commands that put the major overlay of a New [`INC`] into `status`.
pub fn major_commands(status: MajorStatusKind) -> Vec<IncidentCommand> {
    let propose = IncidentCommand::ProposeMajor {
        id: INC,
        reason: "All card payments fail".to_owned(),
    };
    match status {
        MajorStatusKind::NotMajor => vec![],
        MajorStatusKind::Proposed => vec![propose],
        MajorStatusKind::Accepted => vec![propose, IncidentCommand::AcceptMajor { id: INC }],
        MajorStatusKind::Rejected => vec![
            propose,
            IncidentCommand::RejectMajor {
                id: INC,
                reason: "Only one merchant affected".to_owned(),
            },
        ],
    }
}

/// A post-incident review for [`INC`].
pub fn review_cmd() -> IncidentCommand {
    IncidentCommand::PublishReview {
        id: INC,
        summary: "Payments failed for 40 minutes after a certificate expired".to_owned(),
        findings: "No alert on certificate expiry".to_owned(),
        action_items: vec!["Alert 30 days before expiry".to_owned()],
    }
}

/// A command of `kind` for [`INC`] that passes every field check and guard in the states
/// [`commands_to`] builds for it (decided at `t(100)`).
pub fn valid_command(kind: IncidentCommandKind) -> IncidentCommand {
    use IncidentCommandKind as K;
    let id = INC;
    match kind {
        K::Open => open_cmd(),
        K::Acknowledge => IncidentCommand::Acknowledge { id },
        K::Assign => IncidentCommand::Assign {
            id,
            group: Some(GroupId::new("network")),
            assignee: Some(ActorId::new("bob")),
        },
        K::PutOnHold => IncidentCommand::PutOnHold {
            id,
            reason: HoldReason::AwaitingVendor,
        },
        K::Resume => IncidentCommand::Resume { id },
        K::Resolve => IncidentCommand::Resolve {
            id,
            code: CloseCode::SolvedPermanently,
            notes: "Replaced the expired certificate".to_owned(),
        },
        K::Reopen => IncidentCommand::Reopen {
            id,
            reason: "Still failing for Visa cards".to_owned(),
        },
        K::Close => IncidentCommand::Close { id },
        K::AutoClose => IncidentCommand::AutoClose { id },
        K::Cancel => IncidentCommand::Cancel {
            id,
            reason: CancelReason::Duplicate { of: OTHER },
        },
        K::Reprioritize => IncidentCommand::Reprioritize {
            id,
            impact: Impact::High,
            urgency: Urgency::High,
            reason: "All shops affected".to_owned(),
        },
        K::EscalateFunctional => IncidentCommand::EscalateFunctional {
            id,
            to_group: GroupId::new("payments-l2"),
            reason: "Needs gateway expertise".to_owned(),
        },
        K::EscalateHierarchical => IncidentCommand::EscalateHierarchical {
            id,
            to: ActorId::new("mona"),
            reason: "SLA at risk".to_owned(),
        },
        K::ProposeMajor => IncidentCommand::ProposeMajor {
            id,
            reason: "All card payments fail".to_owned(),
        },
        K::AcceptMajor => IncidentCommand::AcceptMajor { id },
        K::RejectMajor => IncidentCommand::RejectMajor {
            id,
            reason: "Only one merchant affected".to_owned(),
        },
        K::PublishReview => review_cmd(),
        K::LinkParent => IncidentCommand::LinkParent { id, parent: PARENT },
        K::LinkChild => IncidentCommand::LinkChild { id, child: CHILD },
        K::LinkDuplicate => IncidentCommand::LinkDuplicate {
            id,
            duplicate: OTHER,
        },
        K::ResolveFromParent => IncidentCommand::ResolveFromParent {
            id,
            parent: PARENT,
            code: CloseCode::SolvedWorkaround,
            notes: "Parent: failed over to the standby gateway".to_owned(),
        },
        K::ReopenFromParent => IncidentCommand::ReopenFromParent { id, parent: PARENT },
        K::ResolveFromProblem => IncidentCommand::ResolveFromProblem {
            id,
            problem: PROBLEM,
            notes: "Certificate rotation automated".to_owned(),
        },
        K::CorrelateAlert => IncidentCommand::CorrelateAlert {
            id,
            dedup_key: KEY.to_owned(),
            seen_at: t(99),
            via: None,
        },
        K::RecordImpactStart => IncidentCommand::RecordImpactStart {
            id,
            started_at: t(-30),
        },
        K::RecordDetection => IncidentCommand::RecordDetection {
            id,
            detected_at: t(-10),
        },
        K::LinkProblem => IncidentCommand::LinkProblem {
            id,
            problem: PROBLEM2,
        },
        K::LinkCausingChange => IncidentCommand::LinkCausingChange { id, change: CHANGE },
        K::AddComment => IncidentCommand::AddComment {
            id,
            text: "Could you try again from the shop terminal?".to_owned(),
        },
        K::AddWorkNote => IncidentCommand::AddWorkNote {
            id,
            text: "Gateway logs show TLS handshake failures".to_owned(),
        },
    }
}

/// When [`decide_as`] decides a command of `kind`: `t(100)`, and for `AutoClose` seven days
/// later, once the default auto-close delay has passed for every fixture.
pub fn decision_time(kind: IncidentCommandKind) -> DateTime<Utc> {
    match kind {
        IncidentCommandKind::AutoClose => t(100) + chrono::Duration::days(7),
        _ => t(100),
    }
}

/// Decides `cmd` against the state folded from `events`, as `who` at
/// [`decision_time`]`(cmd.kind())`.
pub fn decide_as(
    events: &[IncidentEvent],
    cmd: &IncidentCommand,
    who: Actor,
) -> Result<Vec<IncidentEvent>, DomainError> {
    IncidentDecider::decide(&fold(events), cmd, &ctx(who, decision_time(cmd.kind())))
}
