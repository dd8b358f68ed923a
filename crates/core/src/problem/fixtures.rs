//! Ready-made problems for tests (this crate's and, with the `testing` feature, the engine's):
//! fixed ids, a canonical cast and histories that reach every status through `decide`, so that
//! they are always histories the decider itself would have produced.

use crate::actor::{Actor, Role};
use crate::context::Context;
use crate::decider::Decider;
use crate::ids::{ActorId, ChangeId, CiId, GroupId, IncidentId, ProblemId};
use crate::policy::Policy;
use crate::priority::{Impact, Urgency};
use crate::problem::{Problem, ProblemCommand, ProblemDecider, ProblemEvent, ProblemStatusKind};
use crate::testing::t;
use std::sync::Arc;
use uuid::Uuid;

/// Problem id number `n` (deterministic).
pub fn problem_id(n: u16) -> ProblemId {
    ProblemId(Uuid::from_u128(
        0x0195_0000_0000_7000_8000_0000_0001_0000 + u128::from(n),
    ))
}

/// Incident id number `n` (deterministic).
pub fn incident_id(n: u16) -> IncidentId {
    IncidentId(Uuid::from_u128(
        0x0195_0000_0000_7000_8000_0000_0002_0000 + u128::from(n),
    ))
}

/// Change id number `n` (deterministic).
pub fn change_id(n: u16) -> ChangeId {
    ChangeId(Uuid::from_u128(
        0x0195_0000_0000_7000_8000_0000_0003_0000 + u128::from(n),
    ))
}

/// The problem most tests work on.
pub fn pid() -> ProblemId {
    problem_id(1)
}

/// A problem manager (holds every problem permission under the default policy).
pub fn problem_manager() -> Actor {
    Actor::new("pat", [Role::ProblemManager])
}

/// An agent: works problems and records known errors, but may not accept risk, cancel, close
/// or re-analyse.
pub fn problem_agent() -> Actor {
    Actor::new("alice", [Role::Agent])
}

/// A requester: may not even create problems.
pub fn requester() -> Actor {
    Actor::new("rita", [Role::Requester])
}

/// A valid creating command for `id`.
pub fn create(id: ProblemId) -> ProblemCommand {
    ProblemCommand::Create {
        id,
        title: "Database connection pool exhaustion".to_owned(),
        description: "Recurring outages of checkout under load".to_owned(),
        impact: Impact::High,
        urgency: Urgency::Medium,
        service: Some("payments".into()),
        cis: [CiId::from("db-prod-01")].into_iter().collect(),
    }
}

/// The commands that take [`pid`] from nothing to `target` (None: no command at all) along the
/// main path. On the way it links incident 1 and fixing change 1 (outcome pending), assigns
/// group `problem-team` and coordinator `pat`, and records a root cause as soon as analysis starts.
pub fn path_to(target: Option<ProblemStatusKind>) -> Vec<ProblemCommand> {
    let id = pid();
    let mut cmds = Vec::new();
    let Some(target) = target else {
        return cmds;
    };
    cmds.push(create(id));
    cmds.push(ProblemCommand::LinkIncident {
        id,
        incident: incident_id(1),
    });
    cmds.push(ProblemCommand::LinkFixingChange {
        id,
        change: change_id(1),
    });
    cmds.push(ProblemCommand::Assign {
        id,
        group: GroupId::from("problem-team"),
        assignee: Some(ActorId::from("pat")),
    });
    let steps = [
        (ProblemStatusKind::Assess, ProblemCommand::Assess { id }),
        (
            ProblemStatusKind::RootCauseAnalysis,
            ProblemCommand::StartAnalysis { id },
        ),
        (
            ProblemStatusKind::FixInProgress,
            ProblemCommand::StartFix {
                id,
                fix_notes: "Raise the pool size and add a circuit breaker".to_owned(),
            },
        ),
        (
            ProblemStatusKind::Resolved,
            ProblemCommand::ResolveFixed {
                id,
                notes: "Pool resized; no recurrence under load test".to_owned(),
            },
        ),
        (ProblemStatusKind::Closed, ProblemCommand::Close { id }),
    ];
    if target == ProblemStatusKind::New {
        return cmds;
    }
    for (reached, cmd) in steps {
        cmds.push(cmd);
        if reached == ProblemStatusKind::RootCauseAnalysis {
            cmds.push(ProblemCommand::RecordRootCause {
                id,
                cause: "Pool sized for last year's traffic".to_owned(),
            });
        }
        if reached == target {
            break;
        }
    }
    cmds
}

/// Decides `cmds` one after the other as an admin at `t(1)`, `t(2)`, ..., under the default
/// policy; returns every event. Panics (it is a fixture) if a command is refused.
pub fn run(cmds: &[ProblemCommand]) -> Vec<ProblemEvent> {
    run_from(Vec::new(), cmds)
}

/// Like [`run`], continuing after `history`.
pub fn run_from(history: Vec<ProblemEvent>, cmds: &[ProblemCommand]) -> Vec<ProblemEvent> {
    let mut state: Option<Problem> = ProblemDecider::fold(history.iter());
    let mut events = history;
    let base = i64::try_from(events.len()).unwrap_or(0);
    for (i, cmd) in cmds.iter().enumerate() {
        let ctx = Context::new(
            t(base + i64::try_from(i).unwrap_or(0) + 1),
            Actor::new("root", [Role::Admin]),
            Arc::new(Policy::default()),
        );
        match ProblemDecider::decide(&state, cmd, &ctx) {
            Ok(new) => {
                for e in &new {
                    state = ProblemDecider::evolve(state, e);
                }
                events.extend(new);
            }
            Err(e) => panic!("fixture command {cmd:?} refused: {e}"),
        }
    }
    events
}

/// The events of a problem in status `target` (see [`path_to`]).
pub fn history(target: Option<ProblemStatusKind>) -> Vec<ProblemEvent> {
    run(&path_to(target))
}
