//! The caller's channel: comments beside work notes, the caller's own records, a reply that
//! resumes an incident awaiting the caller, and confirming or rejecting a resolution within
//! the policy's window. One given/when/then case per rule; each name states the rule.

#[path = "support/incident_fixtures.rs"]
mod fixtures;

use chrono::Duration;
use fixtures::*;
use opsledger_core::incident::{
    HoldReason, IncidentCommand, IncidentCommandKind, IncidentDecider, IncidentEvent,
    IncidentStatus, ReopenSource, Visibility,
};
use opsledger_core::policy::IncidentPolicy;
use opsledger_core::testing::{Scenario, actor, given, t};
use opsledger_core::{ActorId, DomainError, Permission, Policy, Role};

/// carol is the caller of the fixture incident; as an end user she holds only `caller`.
fn carol_caller() -> opsledger_core::Actor {
    actor("carol", &[Role::Caller])
}

fn dave_caller() -> opsledger_core::Actor {
    actor("dave", &[Role::Caller])
}

fn comment(text: &str) -> IncidentCommand {
    IncidentCommand::AddComment {
        id: INC,
        text: text.to_owned(),
    }
}

fn reject(reason: &str) -> IncidentCommand {
    IncidentCommand::Reopen {
        id: INC,
        reason: reason.to_owned(),
    }
}

/// The fixture incident after `more`, decided one minute apart from `t(0)`.
fn given_after(more: &[IncidentCommand]) -> Scenario<IncidentDecider> {
    let mut cmds = vec![open_cmd(), valid_command(IncidentCommandKind::Acknowledge)];
    cmds.extend(more.iter().cloned());
    given::<IncidentDecider>(history(&cmds)).at(t(100))
}

fn awaiting_caller() -> Scenario<IncidentDecider> {
    given_after(&[IncidentCommand::PutOnHold {
        id: INC,
        reason: HoldReason::AwaitingCaller,
    }])
}

/// Resolved at `t(2)` (open at 0, acknowledged at 1).
fn resolved() -> Scenario<IncidentDecider> {
    given_after(&[valid_command(IncidentCommandKind::Resolve)])
}

fn forbidden(who: &str, permission: Permission) -> DomainError {
    DomainError::Forbidden {
        actor: ActorId::new(who),
        permission,
    }
}

#[test]
fn the_caller_comments_on_their_own_incident_and_the_comment_is_public() {
    let (events, state) = given_after(&[])
        .by(carol_caller())
        .when(comment("It fails on the shop terminal too"))
        .then_ok();
    assert_eq!(
        events,
        vec![IncidentEvent::CommentAdded {
            id: INC,
            text: "It fails on the shop terminal too".to_owned(),
            at: t(100),
            by: ActorId::new("carol"),
        }]
    );
    assert_eq!(events[0].visibility(), Visibility::Public);
    let state = state.expect("an incident");
    assert_eq!(state.comment_count, 1);
    assert_eq!(state.work_note_count, 0);
}

#[test]
fn a_work_note_is_internal() {
    let (events, _) = given_after(&[])
        .by(agent_alice())
        .when(valid_command(IncidentCommandKind::AddWorkNote))
        .then_ok();
    assert_eq!(events[0].visibility(), Visibility::Internal);
}

#[test]
fn a_requester_comments_on_their_own_incident() {
    given_after(&[])
        .by(carol())
        .when(comment("Any news?"))
        .then_ok();
}

#[test]
fn a_caller_may_not_comment_on_someone_elses_incident_and_nothing_is_written() {
    given_after(&[])
        .by(dave_caller())
        .when(comment("Me too"))
        .then_error(forbidden("dave", Permission::IncidentComment));
}

#[test]
fn a_caller_may_not_add_work_notes_even_on_their_own_incident() {
    given_after(&[])
        .by(carol_caller())
        .when(valid_command(IncidentCommandKind::AddWorkNote))
        .then_error(forbidden("carol", Permission::IncidentWork));
}

#[test]
fn an_agent_comments_on_any_incident() {
    given_after(&[])
        .by(agent_alice())
        .when(comment("We are on it"))
        .then_ok();
}

#[test]
fn a_blank_comment_is_refused() {
    given_after(&[])
        .by(carol_caller())
        .when(comment("   "))
        .then_error_code("validation");
}

#[test]
fn the_callers_reply_resumes_an_incident_awaiting_them_in_the_same_decision() {
    let (events, state) = awaiting_caller()
        .by(carol_caller())
        .when(comment("Here is the screenshot"))
        .then_ok();
    assert_eq!(
        events,
        vec![
            IncidentEvent::CommentAdded {
                id: INC,
                text: "Here is the screenshot".to_owned(),
                at: t(100),
                by: ActorId::new("carol"),
            },
            IncidentEvent::Resumed {
                id: INC,
                at: t(100),
                by: ActorId::new("carol"),
            },
        ]
    );
    assert_eq!(
        state.expect("an incident").status,
        IncidentStatus::InProgress
    );
}

#[test]
fn a_workers_comment_does_not_resume_an_incident_awaiting_the_caller() {
    let (events, state) = awaiting_caller()
        .by(agent_alice())
        .when(comment("Could you send a screenshot?"))
        .then_ok();
    assert_eq!(events.len(), 1);
    assert_eq!(
        state.expect("an incident").status,
        IncidentStatus::OnHold {
            reason: HoldReason::AwaitingCaller
        }
    );
}

#[test]
fn the_callers_comment_does_not_resume_a_hold_for_another_reason() {
    let (events, _) = given_after(&[IncidentCommand::PutOnHold {
        id: INC,
        reason: HoldReason::AwaitingVendor,
    }])
    .by(carol_caller())
    .when(comment("Any news from the vendor?"))
    .then_ok();
    assert_eq!(events.len(), 1, "{events:?}");
}

#[test]
fn the_policy_can_turn_resuming_on_a_caller_comment_off() {
    let policy = Policy {
        incident: IncidentPolicy {
            resume_on_caller_comment: false,
            ..IncidentPolicy::default()
        },
        ..Policy::default()
    };
    let (events, state) = awaiting_caller()
        .with_policy(policy)
        .by(carol_caller())
        .when(comment("Here is the screenshot"))
        .then_ok();
    assert_eq!(events.len(), 1);
    assert!(matches!(
        state.expect("an incident").status,
        IncidentStatus::OnHold { .. }
    ));
}

#[test]
fn the_caller_confirms_a_resolution_which_closes_the_incident() {
    given_after(&[valid_command(IncidentCommandKind::Resolve)])
        .by(carol_caller())
        .when(IncidentCommand::Close { id: INC })
        .then([IncidentEvent::Closed {
            id: INC,
            at: t(100),
            by: ActorId::new("carol"),
        }]);
}

#[test]
fn another_caller_may_not_confirm_the_resolution() {
    resolved()
        .by(dave_caller())
        .when(IncidentCommand::Close { id: INC })
        .then_error(forbidden("dave", Permission::IncidentClose));
}

#[test]
fn the_caller_rejects_a_resolution_within_the_window_with_a_reason() {
    // Resolved at t(2); the default window is 7 days.
    let at = t(2) + Duration::days(7);
    resolved()
        .at(at)
        .by(carol_caller())
        .when(reject("Still failing for Visa cards"))
        .then([IncidentEvent::Reopened {
            id: INC,
            source: ReopenSource::Direct {
                reason: "Still failing for Visa cards".to_owned(),
            },
            at,
            by: ActorId::new("carol"),
        }]);
}

#[test]
fn the_callers_reject_after_the_window_is_a_typed_error_naming_the_window() {
    let at = t(2) + Duration::days(7) + Duration::seconds(1);
    resolved()
        .at(at)
        .by(carol_caller())
        .when(reject("Still failing"))
        .then_error(DomainError::RejectWindowClosed {
            days: 7,
            resolved_at: t(2),
            window_ended_at: t(2) + Duration::days(7),
        });
}

#[test]
fn the_window_comes_from_the_policy() {
    let policy = Policy {
        incident: IncidentPolicy {
            caller_reject_days: 2,
            ..IncidentPolicy::default()
        },
        ..Policy::default()
    };
    let err = resolved()
        .with_policy(policy)
        .at(t(2) + Duration::days(3))
        .by(carol())
        .when(reject("Still failing"))
        .then_error_code("reject_window_closed");
    assert!(
        err.to_string().contains("within 2 day(s)"),
        "the message names the window: {err}"
    );
}

#[test]
fn workers_reopen_after_the_callers_window() {
    resolved()
        .at(t(2) + Duration::days(30))
        .by(agent_alice())
        .when(reject("The fix did not hold"))
        .then_ok();
}

#[test]
fn a_blank_reason_is_refused_before_the_window_is_considered() {
    resolved()
        .at(t(2) + Duration::days(30))
        .by(carol_caller())
        .when(reject(" "))
        .then_error_code("validation");
}

fn agent_alice() -> opsledger_core::Actor {
    actor("alice", &[Role::Agent])
}
