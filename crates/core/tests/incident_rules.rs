//! One given/when/then case per incident rule and guard; each name states the rule.

#[path = "support/incident_fixtures.rs"]
mod fixtures;

use fixtures::*;
use opsledger_core::incident::{
    AlertSource, CancelReason, CloseCode, HoldReason, IncidentCommand, IncidentCommandKind,
    IncidentDecider, IncidentEvent, IncidentStatus, IncidentStatusKind, MajorStatus,
    MajorStatusKind, ReopenSource, ResolutionSource,
};
use opsledger_core::testing::{Scenario, admin, given, t};
use opsledger_core::{
    ActorId, DomainError, GroupId, Impact, Permission, Policy, Priority, PriorityMatrix,
    RecordKind, Urgency,
};

/// A scenario on the incident after `cmds` (decided one minute apart from `t(0)`), at `t(100)`.
fn given_cmds(cmds: &[IncidentCommand]) -> Scenario<IncidentDecider> {
    given::<IncidentDecider>(history(cmds)).at(t(100))
}

/// A scenario on the incident in `status`, at `t(100)`.
fn given_status(status: IncidentStatusKind) -> Scenario<IncidentDecider> {
    let mut cmds = vec![open_cmd()];
    cmds.extend(path_to(status, false));
    given_cmds(&cmds)
}

fn in_progress() -> Scenario<IncidentDecider> {
    given_status(IncidentStatusKind::InProgress)
}

fn resolved() -> Scenario<IncidentDecider> {
    given_status(IncidentStatusKind::Resolved)
}

fn with(
    mut cmds: Vec<IncidentCommand>,
    more: impl IntoIterator<Item = IncidentCommand>,
) -> Vec<IncidentCommand> {
    cmds.extend(more);
    cmds
}

fn opened_in(status: IncidentStatusKind, before: Vec<IncidentCommand>) -> Vec<IncidentCommand> {
    with(with(vec![open_cmd()], before), path_to(status, false))
}

fn invalid(state: &str, command: &str) -> DomainError {
    DomainError::InvalidTransition {
        kind: RecordKind::Incident,
        state: state.to_owned(),
        command: command.to_owned(),
    }
}

fn forbidden(who: &str, permission: Permission) -> DomainError {
    DomainError::Forbidden {
        actor: ActorId::new(who),
        permission,
    }
}

fn open_with(f: impl FnOnce(&mut IncidentCommand)) -> IncidentCommand {
    let mut cmd = open_cmd();
    f(&mut cmd);
    cmd
}

fn set_open_assignee(cmd: &mut IncidentCommand, who: Option<&str>) {
    if let IncidentCommand::Open { assignee, .. } = cmd {
        *assignee = who.map(ActorId::new);
    }
}

fn assign(group: Option<&str>, assignee: Option<&str>) -> IncidentCommand {
    IncidentCommand::Assign {
        id: INC,
        group: group.map(GroupId::new),
        assignee: assignee.map(ActorId::new),
    }
}

// ----- identity -------------------------------------------------------------------------------

#[test]
fn a_command_on_a_missing_incident_is_not_found() {
    given::<IncidentDecider>([])
        .when(IncidentCommand::Acknowledge { id: INC })
        .then_error(DomainError::NotFound {
            kind: RecordKind::Incident,
            id: INC.to_string(),
        });
}

#[test]
fn opening_an_existing_incident_is_already_exists() {
    given_status(IncidentStatusKind::New)
        .when(open_cmd())
        .then_error(DomainError::AlreadyExists {
            kind: RecordKind::Incident,
            id: INC.to_string(),
            name: None,
        });
}

#[test]
fn a_command_for_another_incident_is_wrong_record() {
    given_status(IncidentStatusKind::New)
        .when(IncidentCommand::Acknowledge { id: OTHER })
        .then_error(DomainError::WrongRecord {
            kind: RecordKind::Incident,
            command_id: OTHER.to_string(),
            state_id: INC.to_string(),
        });
}

#[test]
fn the_table_is_checked_before_permissions() {
    given_status(IncidentStatusKind::Closed)
        .by(nobody())
        .when(IncidentCommand::AddWorkNote {
            id: INC,
            text: "late note".into(),
        })
        .then_error(invalid("closed", "add_work_note"));
}

// ----- open -----------------------------------------------------------------------------------

#[test]
fn open_without_assignee_is_new_with_priority_from_the_matrix() {
    let (events, state) = given::<IncidentDecider>([])
        .by(alice())
        .at(t(0))
        .when(open_cmd())
        .then_ok();
    assert_eq!(events.len(), 1);
    let inc = state.expect("opened");
    assert_eq!(inc.status, IncidentStatus::New);
    assert_eq!(inc.priority, Priority::Moderate);
    assert_eq!(inc.group, Some(GroupId::new("service-desk")));
    assert_eq!(inc.opened_at, t(0));
    assert_eq!(inc.acknowledged_at, None);
    assert_eq!(inc.caller, ActorId::new("carol"));
}

#[test]
fn open_with_an_assignee_starts_work_and_acknowledges() {
    let cmd = open_with(|c| set_open_assignee(c, Some("bob")));
    let (events, state) = given::<IncidentDecider>([]).at(t(0)).when(cmd).then_ok();
    assert!(matches!(events[1], IncidentEvent::Acknowledged { .. }));
    let inc = state.expect("opened");
    assert_eq!(inc.status, IncidentStatus::InProgress);
    assert_eq!(inc.acknowledged_at, Some(t(0)));
    assert_eq!(inc.reassignment_count, 0);
}

#[test]
fn open_from_an_alert_counts_one_alert_seen_when_it_fired() {
    let cmd = open_with(|c| {
        if let IncidentCommand::Open { alert, .. } = c {
            *alert = Some(AlertSource {
                dedup_key: KEY.into(),
                source: "prometheus".into(),
                seen_at: Some(t(-3)),
            });
        }
    });
    let (_, state) = given::<IncidentDecider>([]).at(t(0)).when(cmd).then_ok();
    let alert = state.expect("opened").alert.expect("alert info");
    assert_eq!(alert.alert_count, 1);
    assert_eq!((alert.first_seen, alert.last_seen), (t(-3), t(-3)));
}

#[test]
fn a_requester_may_open_for_themselves() {
    let cmd = open_with(|c| {
        if let IncidentCommand::Open { group, .. } = c {
            *group = None;
        }
    });
    given::<IncidentDecider>([]).by(carol()).when(cmd).then_ok();
}

#[test]
fn a_requester_may_not_open_for_someone_else_or_route() {
    let cmd = open_with(|c| {
        if let IncidentCommand::Open { group, .. } = c {
            *group = None;
        }
    });
    given::<IncidentDecider>([])
        .by(dave())
        .when(cmd)
        .then_error(forbidden("dave", Permission::IncidentWork));
    // Routing to a group at opening is service-desk work.
    given::<IncidentDecider>([])
        .by(carol())
        .when(open_cmd())
        .then_error(forbidden("carol", Permission::IncidentWork));
}

// ----- acknowledge and assignment -------------------------------------------------------------

#[test]
fn acknowledge_moves_new_to_in_progress_and_stamps_the_first_response() {
    let id = INC;
    let state = given_status(IncidentStatusKind::New)
        .by(alice())
        .when(IncidentCommand::Acknowledge { id })
        .then([IncidentEvent::Acknowledged {
            id,
            at: t(100),
            by: ActorId::new("alice"),
        }])
        .expect("incident");
    assert_eq!(state.status, IncidentStatus::InProgress);
    assert_eq!(state.acknowledged_at, Some(t(100)));
}

#[test]
fn acknowledged_at_is_never_overwritten() {
    // Acknowledged at minute 1, then reassigned to a person later: the first response stays.
    let inc = record(&history(&[
        open_cmd(),
        IncidentCommand::Acknowledge { id: INC },
        assign(Some("network"), Some("bob")),
    ]));
    assert_eq!(inc.acknowledged_at, Some(t(1)));
}

#[test]
fn assigning_only_a_group_keeps_a_new_incident_in_the_queue() {
    let (events, state) = given_status(IncidentStatusKind::New)
        .when(assign(Some("network"), None))
        .then_ok();
    assert_eq!(events.len(), 1);
    let inc = state.expect("incident");
    assert_eq!(inc.status, IncidentStatus::New);
    assert_eq!(inc.group, Some(GroupId::new("network")));
}

#[test]
fn assigning_a_person_to_a_new_incident_starts_work() {
    let (events, state) = given_status(IncidentStatusKind::New)
        .when(assign(Some("service-desk"), Some("bob")))
        .then_ok();
    assert!(matches!(events[0], IncidentEvent::Assigned { .. }));
    assert!(matches!(events[1], IncidentEvent::Acknowledged { .. }));
    let inc = state.expect("incident");
    assert_eq!(inc.status, IncidentStatus::InProgress);
    assert_eq!(inc.acknowledged_at, Some(t(100)));
}

#[test]
fn filling_an_empty_assignment_is_not_a_reassignment() {
    let (events, state) = in_progress()
        .when(assign(Some("service-desk"), Some("bob")))
        .then_ok();
    assert!(matches!(events[..], [IncidentEvent::Assigned { .. }]));
    assert_eq!(state.expect("incident").reassignment_count, 0);
}

#[test]
fn changing_a_set_group_or_assignee_counts_one_reassignment_per_command() {
    let cmds = opened_in(IncidentStatusKind::InProgress, vec![]);
    let cmds = with(cmds, [assign(Some("service-desk"), Some("bob"))]);
    let (events, state) = given_cmds(&cmds)
        .when(assign(Some("network"), Some("eve")))
        .then_ok();
    assert!(matches!(events[..], [IncidentEvent::Reassigned { .. }]));
    let inc = state.expect("incident");
    assert_eq!(inc.reassignment_count, 1);
    assert_eq!(inc.assignee, Some(ActorId::new("eve")));
}

#[test]
fn clearing_the_assignee_while_moving_group_is_a_reassignment() {
    let cmds = with(
        opened_in(IncidentStatusKind::InProgress, vec![]),
        [assign(Some("service-desk"), Some("bob"))],
    );
    let (_, state) = given_cmds(&cmds)
        .when(assign(Some("network"), None))
        .then_ok();
    let inc = state.expect("incident");
    assert_eq!((inc.reassignment_count, inc.assignee), (1, None));
}

#[test]
fn an_assignment_that_changes_nothing_is_refused() {
    in_progress()
        .when(assign(Some("service-desk"), None))
        .then_error(DomainError::validation(
            "assignee",
            "the assignment does not change",
        ));
}

#[test]
fn assignment_is_refused_once_resolved() {
    resolved()
        .when(assign(Some("network"), None))
        .then_error(invalid("resolved", "assign"));
}

// ----- hold -----------------------------------------------------------------------------------

#[test]
fn hold_and_resume_can_repeat() {
    let hold = |reason| IncidentCommand::PutOnHold { id: INC, reason };
    let state = in_progress()
        .when(hold(HoldReason::AwaitingCaller))
        .and()
        .when(IncidentCommand::Resume { id: INC })
        .and()
        .when(hold(HoldReason::AwaitingVendor))
        .then_ok()
        .1
        .expect("incident");
    assert_eq!(
        state.status,
        IncidentStatus::OnHold {
            reason: HoldReason::AwaitingVendor
        }
    );
}

#[test]
fn the_hold_reason_may_change_while_on_hold_but_not_to_itself() {
    let on_hold = || given_status(IncidentStatusKind::OnHold);
    on_hold()
        .when(IncidentCommand::PutOnHold {
            id: INC,
            reason: HoldReason::AwaitingChange { change: CHANGE },
        })
        .then_ok();
    on_hold()
        .when(IncidentCommand::PutOnHold {
            id: INC,
            reason: HoldReason::AwaitingProblem { problem: PROBLEM },
        })
        .then_error(DomainError::validation(
            "reason",
            "the incident is already on hold for this reason",
        ));
}

#[test]
fn a_hold_awaiting_a_parent_names_the_linked_parent() {
    let hold = |parent| IncidentCommand::PutOnHold {
        id: INC,
        reason: HoldReason::AwaitingParent { parent },
    };
    // No parent linked: refused, naming the field.
    in_progress()
        .when(hold(PARENT))
        .then_error(DomainError::validation(
            "reason.parent",
            format!("{PARENT} is not this incident's parent"),
        ));
    // Another incident than the linked parent: refused too.
    let child = opened_in(
        IncidentStatusKind::InProgress,
        vec![valid_command(IncidentCommandKind::LinkParent)],
    );
    given_cmds(&child)
        .when(hold(OTHER))
        .then_error_code("validation");
    // The linked parent: on hold awaiting it.
    let state = given_cmds(&child)
        .when(hold(PARENT))
        .then_ok()
        .1
        .expect("incident");
    assert_eq!(
        state.status,
        IncidentStatus::OnHold {
            reason: HoldReason::AwaitingParent { parent: PARENT }
        }
    );
}

#[test]
fn a_new_incident_cannot_be_put_on_hold() {
    given_status(IncidentStatusKind::New)
        .when(IncidentCommand::PutOnHold {
            id: INC,
            reason: HoldReason::AwaitingCaller,
        })
        .then_error(invalid("new", "put_on_hold"));
}

// ----- resolve, reopen ------------------------------------------------------------------------

#[test]
fn resolve_records_code_notes_and_time() {
    let id = INC;
    let state = in_progress()
        .by(alice())
        .when(valid_command(IncidentCommandKind::Resolve))
        .then([IncidentEvent::Resolved {
            id,
            code: CloseCode::SolvedPermanently,
            notes: "Replaced the expired certificate".into(),
            source: ResolutionSource::Direct,
            at: t(100),
            by: ActorId::new("alice"),
        }])
        .expect("incident");
    assert_eq!(
        state.status,
        IncidentStatus::Resolved {
            code: CloseCode::SolvedPermanently,
            notes: "Replaced the expired certificate".into()
        }
    );
    assert_eq!(state.resolved_at, Some(t(100)));
    assert_eq!(
        state.resolution.expect("resolution").code,
        CloseCode::SolvedPermanently
    );
}

#[test]
fn a_new_incident_cannot_be_resolved_directly() {
    given_status(IncidentStatusKind::New)
        .when(valid_command(IncidentCommandKind::Resolve))
        .then_error(invalid("new", "resolve"));
}

#[test]
fn an_on_hold_incident_can_be_resolved() {
    given_status(IncidentStatusKind::OnHold)
        .when(valid_command(IncidentCommandKind::Resolve))
        .then_ok();
}

#[test]
fn reopen_goes_back_to_work_counts_and_clears_the_resolution() {
    let state = resolved()
        .by(carol())
        .when(valid_command(IncidentCommandKind::Reopen))
        .then_ok()
        .1
        .expect("incident");
    assert_eq!(state.status, IncidentStatus::InProgress);
    assert_eq!(state.reopen_count, 1);
    assert_eq!((state.resolution, state.resolved_at), (None, None));
}

#[test]
fn a_requester_may_not_reopen_someone_elses_incident() {
    resolved()
        .by(dave())
        .when(valid_command(IncidentCommandKind::Reopen))
        .then_error(forbidden("dave", Permission::IncidentReopen));
}

#[test]
fn an_in_progress_incident_cannot_be_reopened() {
    in_progress()
        .when(valid_command(IncidentCommandKind::Reopen))
        .then_error(invalid("in_progress", "reopen"));
}

// ----- close, auto-close ----------------------------------------------------------------------

#[test]
fn the_caller_may_confirm_the_resolution() {
    let state = resolved()
        .by(carol())
        .when(IncidentCommand::Close { id: INC })
        .then_ok()
        .1
        .expect("incident");
    assert_eq!(state.status, IncidentStatus::Closed);
    assert_eq!(state.closed_at, Some(t(100)));
    assert!(
        state.resolution.is_some(),
        "a closed incident keeps its close code"
    );
}

#[test]
fn a_requester_may_not_close_someone_elses_incident() {
    resolved()
        .by(dave())
        .when(IncidentCommand::Close { id: INC })
        .then_error(forbidden("dave", Permission::IncidentClose));
}

#[test]
fn agents_and_managers_may_close_any_incident() {
    resolved()
        .by(alice())
        .when(IncidentCommand::Close { id: INC })
        .then_ok();
    resolved()
        .by(mona())
        .when(IncidentCommand::Close { id: INC })
        .then_ok();
}

#[test]
fn auto_close_closes_a_resolved_incident_once_the_delay_has_passed() {
    // Resolved at t(2): due seven calendar days later, to the minute.
    let (events, _) = resolved()
        .by(system())
        .at(t(2) + chrono::Duration::days(7))
        .when(IncidentCommand::AutoClose { id: INC })
        .then_ok();
    assert!(matches!(events[..], [IncidentEvent::AutoClosed { .. }]));
}

#[test]
fn only_the_system_role_auto_closes_by_default() {
    for who in [alice(), mona(), carol()] {
        let id = who.id.clone();
        resolved()
            .by(who)
            .at(eight_days_later())
            .when(IncidentCommand::AutoClose { id: INC })
            .then_error(DomainError::Forbidden {
                actor: id,
                permission: Permission::IncidentAutoClose,
            });
    }
}

#[test]
fn the_auto_close_delay_comes_from_the_policy() {
    let mut policy = Policy::default();
    policy.incident.auto_close_after_days = 1;
    resolved()
        .by(system())
        .with_policy(policy.clone())
        .at(t(2) + chrono::Duration::hours(23))
        .when(IncidentCommand::AutoClose { id: INC })
        .then_error_code("validation");
    resolved()
        .by(system())
        .with_policy(policy)
        .at(t(2) + chrono::Duration::hours(24))
        .when(IncidentCommand::AutoClose { id: INC })
        .then_ok();
}

#[test]
fn the_auto_close_delay_counts_from_the_latest_resolution() {
    // Resolved at t(2), reopened and resolved again at t(100): the clock starts again.
    let again = with(
        opened_in(IncidentStatusKind::Resolved, vec![]),
        [valid_command(IncidentCommandKind::Reopen)],
    );
    given::<IncidentDecider>(history(&again))
        .at(t(100))
        .when(valid_command(IncidentCommandKind::Resolve))
        .and()
        .by(system())
        // Due seven days after the first resolution, but not yet after the second.
        .at(t(2) + chrono::Duration::days(7) + chrono::Duration::minutes(1))
        .when(IncidentCommand::AutoClose { id: INC })
        .then_error_code("validation");
}

#[test]
fn an_unresolved_incident_cannot_close() {
    in_progress()
        .when(IncidentCommand::Close { id: INC })
        .then_error(invalid("in_progress", "close"));
}

#[test]
fn closing_a_parent_closes_no_child() {
    // Children never auto-close with their parent: the close touches only the parent's stream.
    let cmds = with(
        with(
            vec![open_cmd()],
            [IncidentCommand::LinkChild {
                id: INC,
                child: CHILD,
            }],
        ),
        path_to(IncidentStatusKind::Resolved, false),
    );
    let (events, _) = given_cmds(&cmds)
        .when(IncidentCommand::Close { id: INC })
        .then_ok();
    assert_eq!(events.len(), 1);
    assert!(events.iter().all(|e| e.id() == INC));
}

// ----- major incidents ------------------------------------------------------------------------

fn major_resolved(major: MajorStatusKind) -> Vec<IncidentCommand> {
    opened_in(IncidentStatusKind::Resolved, major_commands(major))
}

#[test]
fn an_agent_may_propose_a_major_incident() {
    let state = in_progress()
        .by(alice())
        .when(valid_command(IncidentCommandKind::ProposeMajor))
        .then_ok()
        .1
        .expect("incident");
    assert_eq!(
        state.major.status,
        MajorStatus::Proposed {
            reason: "All card payments fail".into()
        }
    );
}

#[test]
fn only_a_manager_decides_on_a_major_incident() {
    let proposed = opened_in(
        IncidentStatusKind::InProgress,
        major_commands(MajorStatusKind::Proposed),
    );
    given_cmds(&proposed)
        .by(alice())
        .when(IncidentCommand::AcceptMajor { id: INC })
        .then_error(forbidden("alice", Permission::MajorIncidentDecide));
    given_cmds(&proposed)
        .by(mona())
        .when(IncidentCommand::AcceptMajor { id: INC })
        .then_ok();
}

#[test]
fn a_rejected_major_incident_may_be_proposed_again() {
    let rejected = opened_in(
        IncidentStatusKind::InProgress,
        major_commands(MajorStatusKind::Rejected),
    );
    given_cmds(&rejected)
        .when(valid_command(IncidentCommandKind::ProposeMajor))
        .then_ok();
}

#[test]
fn an_accepted_major_incident_cannot_be_proposed_again() {
    let accepted = opened_in(
        IncidentStatusKind::InProgress,
        major_commands(MajorStatusKind::Accepted),
    );
    given_cmds(&accepted)
        .when(valid_command(IncidentCommandKind::ProposeMajor))
        .then_error(invalid("accepted", "propose_major"));
}

#[test]
fn an_accepted_major_incident_cannot_close_before_its_review_is_published() {
    given_cmds(&major_resolved(MajorStatusKind::Accepted))
        .when(IncidentCommand::Close { id: INC })
        .then_error(DomainError::ReviewRequired);
}

#[test]
fn an_accepted_major_incident_closes_once_its_review_is_published() {
    let state = given_cmds(&major_resolved(MajorStatusKind::Accepted))
        .by(mona())
        .when(review_cmd())
        .and()
        .when(IncidentCommand::Close { id: INC })
        .then_ok()
        .1
        .expect("incident");
    assert_eq!(state.status, IncidentStatus::Closed);
    assert_eq!(state.major.review.expect("review").revision, 1);
}

#[test]
fn an_accepted_major_incident_never_auto_closes() {
    let with_review = with(major_resolved(MajorStatusKind::Accepted), [review_cmd()]);
    given_cmds(&with_review)
        .by(system())
        .at(eight_days_later())
        .when(IncidentCommand::AutoClose { id: INC })
        .then_error(DomainError::MajorIncidentNoAutoClose {
            major: MajorStatusKind::Accepted,
        });
}

#[test]
fn a_rejected_major_incident_may_auto_close_but_a_proposed_one_may_not() {
    given_cmds(&major_resolved(MajorStatusKind::Rejected))
        .by(system())
        .at(eight_days_later())
        .when(IncidentCommand::AutoClose { id: INC })
        .then_ok();
    given_cmds(&major_resolved(MajorStatusKind::Proposed))
        .by(system())
        .at(eight_days_later())
        .when(IncidentCommand::AutoClose { id: INC })
        .then_error(DomainError::MajorIncidentNoAutoClose {
            major: MajorStatusKind::Proposed,
        });
}

#[test]
fn a_review_is_published_only_for_an_accepted_major_incident() {
    given_cmds(&major_resolved(MajorStatusKind::Proposed))
        .when(review_cmd())
        .then_error(invalid("proposed", "publish_review"));
    given_status(IncidentStatusKind::Resolved)
        .when(review_cmd())
        .then_error(invalid("not_major", "publish_review"));
}

#[test]
fn a_review_is_published_only_once_resolved() {
    let accepted = opened_in(
        IncidentStatusKind::InProgress,
        major_commands(MajorStatusKind::Accepted),
    );
    given_cmds(&accepted)
        .when(review_cmd())
        .then_error(invalid("in_progress", "publish_review"));
}

#[test]
fn republishing_a_review_adds_a_revision() {
    let with_review = with(major_resolved(MajorStatusKind::Accepted), [review_cmd()]);
    let state = given_cmds(&with_review)
        .when(review_cmd())
        .then_ok()
        .1
        .expect("incident");
    assert_eq!(state.major.review.expect("review").revision, 2);
}

#[test]
fn only_review_publishers_publish_reviews() {
    given_cmds(&major_resolved(MajorStatusKind::Accepted))
        .by(alice())
        .when(review_cmd())
        .then_error(forbidden("alice", Permission::ReviewPublish));
}

// ----- cancel ---------------------------------------------------------------------------------

#[test]
fn a_duplicate_is_canceled_with_a_link_to_the_original() {
    let state = in_progress()
        .when(valid_command(IncidentCommandKind::Cancel))
        .then_ok()
        .1
        .expect("incident");
    assert_eq!(
        state.status,
        IncidentStatus::Canceled {
            reason: CancelReason::Duplicate { of: OTHER }
        }
    );
    assert_eq!(state.canceled_at, Some(t(100)));
}

#[test]
fn the_original_records_its_duplicates() {
    let state = in_progress()
        .when(IncidentCommand::LinkDuplicate {
            id: INC,
            duplicate: OTHER,
        })
        .then_ok()
        .1
        .expect("incident");
    assert!(state.duplicates.contains(&OTHER));
}

#[test]
fn an_incident_cannot_duplicate_itself() {
    in_progress()
        .when(IncidentCommand::Cancel {
            id: INC,
            reason: CancelReason::Duplicate { of: INC },
        })
        .then_error(DomainError::validation(
            "reason.of",
            "an incident cannot duplicate itself",
        ));
    in_progress()
        .when(IncidentCommand::LinkDuplicate {
            id: INC,
            duplicate: INC,
        })
        .then_error_code("validation");
}

#[test]
fn a_resolved_incident_cannot_be_canceled() {
    resolved()
        .when(valid_command(IncidentCommandKind::Cancel))
        .then_error(invalid("resolved", "cancel"));
}

#[test]
fn a_requester_cannot_cancel() {
    in_progress()
        .by(carol())
        .when(valid_command(IncidentCommandKind::Cancel))
        .then_error(forbidden("carol", Permission::IncidentCancel));
}

#[test]
fn closed_and_canceled_are_final() {
    for status in [IncidentStatusKind::Closed, IncidentStatusKind::Canceled] {
        for &kind in <IncidentCommandKind as opsledger_core::Named>::ALL {
            given_status(status)
                .when(valid_command(kind))
                .then_error_code(if kind.is_create() {
                    "already_exists"
                } else {
                    "invalid_transition"
                });
        }
    }
}

// ----- priority -------------------------------------------------------------------------------

#[test]
fn reprioritize_records_old_and_new_priority_with_a_reason() {
    let id = INC;
    in_progress()
        .by(alice())
        .when(valid_command(IncidentCommandKind::Reprioritize))
        .then([IncidentEvent::Reprioritized {
            id,
            previous_impact: Impact::Medium,
            previous_urgency: Urgency::Medium,
            previous_priority: Priority::Moderate,
            impact: Impact::High,
            urgency: Urgency::High,
            priority: Priority::Critical,
            reason: "All shops affected".into(),
            at: t(100),
            by: ActorId::new("alice"),
        }]);
}

#[test]
fn priority_comes_from_the_policy_matrix() {
    let policy = Policy {
        priority_matrix: PriorityMatrix {
            cells: [[Priority::High; 3]; 3],
        },
        ..Policy::default()
    };
    let state = given::<IncidentDecider>([])
        .with_policy(policy.clone())
        .when(open_cmd())
        .and()
        .when(valid_command(IncidentCommandKind::Reprioritize))
        .then_ok()
        .1
        .expect("incident");
    assert_eq!(state.priority, Priority::High);
}

#[test]
fn reprioritize_without_a_change_is_refused() {
    in_progress()
        .when(IncidentCommand::Reprioritize {
            id: INC,
            impact: Impact::Medium,
            urgency: Urgency::Medium,
            reason: "no change".into(),
        })
        .then_error(DomainError::validation(
            "impact",
            "impact and urgency are unchanged",
        ));
}

// ----- escalation -----------------------------------------------------------------------------

#[test]
fn functional_escalation_hands_over_one_tier_up_and_counts_as_reassignment() {
    let cmds = with(
        opened_in(IncidentStatusKind::InProgress, vec![]),
        [assign(Some("service-desk"), Some("bob"))],
    );
    let state = given_cmds(&cmds)
        .when(valid_command(IncidentCommandKind::EscalateFunctional))
        .then_ok()
        .1
        .expect("incident");
    assert_eq!(state.group, Some(GroupId::new("payments-l2")));
    assert_eq!(state.assignee, None);
    assert_eq!(state.escalation.functional_tier, 2);
    assert_eq!(state.reassignment_count, 1);
    assert_eq!(state.status, IncidentStatus::InProgress);
}

#[test]
fn functional_escalation_to_the_current_group_is_refused() {
    in_progress()
        .when(IncidentCommand::EscalateFunctional {
            id: INC,
            to_group: GroupId::new("service-desk"),
            reason: "again".into(),
        })
        .then_error(DomainError::validation(
            "to_group",
            "the incident is already with this group",
        ));
}

#[test]
fn hierarchical_escalation_raises_the_level_and_names_the_manager() {
    let state = in_progress()
        .when(valid_command(IncidentCommandKind::EscalateHierarchical))
        .and()
        .when(IncidentCommand::EscalateHierarchical {
            id: INC,
            to: ActorId::new("cio"),
            reason: "Outage past one hour".into(),
        })
        .then_ok()
        .1
        .expect("incident");
    assert_eq!(state.escalation.hierarchical_level, 2);
    assert_eq!(state.escalation.hierarchical_to, Some(ActorId::new("cio")));
    assert_eq!(
        state.reassignment_count, 0,
        "hierarchical escalation keeps the assignment"
    );
}

#[test]
fn escalation_needs_its_permission() {
    in_progress()
        .by(carol())
        .when(valid_command(IncidentCommandKind::EscalateFunctional))
        .then_error(forbidden("carol", Permission::IncidentEscalateFunctional));
    in_progress()
        .by(carol())
        .when(valid_command(IncidentCommandKind::EscalateHierarchical))
        .then_error(forbidden("carol", Permission::IncidentEscalateHierarchical));
}

// ----- parent / child -------------------------------------------------------------------------

#[test]
fn parent_and_child_are_linked_on_both_sides() {
    let child = in_progress()
        .when(valid_command(IncidentCommandKind::LinkParent))
        .then_ok()
        .1
        .expect("incident");
    assert_eq!(child.parent, Some(PARENT));
    let parent = in_progress()
        .when(valid_command(IncidentCommandKind::LinkChild))
        .then_ok()
        .1
        .expect("incident");
    assert!(parent.children.contains(&CHILD));
}

#[test]
fn an_incident_cannot_be_its_own_parent_or_child() {
    in_progress()
        .when(IncidentCommand::LinkParent {
            id: INC,
            parent: INC,
        })
        .then_error(DomainError::validation(
            "parent",
            "an incident cannot be its own parent",
        ));
    in_progress()
        .when(IncidentCommand::LinkChild {
            id: INC,
            child: INC,
        })
        .then_error(DomainError::validation(
            "child",
            "an incident cannot be its own child",
        ));
}

#[test]
fn an_incident_with_a_parent_cannot_be_the_parent_of_its_parent() {
    let child = opened_in(
        IncidentStatusKind::InProgress,
        vec![IncidentCommand::LinkParent {
            id: INC,
            parent: PARENT,
        }],
    );
    given_cmds(&child)
        .when(IncidentCommand::LinkChild {
            id: INC,
            child: PARENT,
        })
        .then_error_code("validation");
    let parent = opened_in(
        IncidentStatusKind::InProgress,
        vec![IncidentCommand::LinkChild {
            id: INC,
            child: PARENT,
        }],
    );
    given_cmds(&parent)
        .when(IncidentCommand::LinkParent {
            id: INC,
            parent: PARENT,
        })
        .then_error_code("validation");
}

#[test]
fn an_incident_has_at_most_one_parent() {
    let child = opened_in(
        IncidentStatusKind::InProgress,
        vec![IncidentCommand::LinkParent {
            id: INC,
            parent: PARENT,
        }],
    );
    given_cmds(&child)
        .when(IncidentCommand::LinkParent {
            id: INC,
            parent: OTHER,
        })
        .then_error(DomainError::validation(
            "parent",
            format!("the incident already has parent {PARENT}"),
        ));
}

#[test]
fn a_child_is_linked_once() {
    let parent = opened_in(
        IncidentStatusKind::InProgress,
        vec![IncidentCommand::LinkChild {
            id: INC,
            child: CHILD,
        }],
    );
    given_cmds(&parent)
        .when(valid_command(IncidentCommandKind::LinkChild))
        .then_error_code("validation");
}

#[test]
fn resolving_the_parent_resolves_the_child_with_copied_notes_even_from_new() {
    let child = opened_in(
        IncidentStatusKind::New,
        vec![valid_command(IncidentCommandKind::LinkParent)],
    );
    let state = given_cmds(&child)
        .when(valid_command(IncidentCommandKind::ResolveFromParent))
        .then_ok()
        .1
        .expect("incident");
    assert_eq!(
        state.status,
        IncidentStatus::Resolved {
            code: CloseCode::SolvedWorkaround,
            notes: "Parent: failed over to the standby gateway".into()
        }
    );
    assert_eq!(
        state.resolution.expect("resolution").source,
        ResolutionSource::Parent { parent: PARENT }
    );
}

#[test]
fn only_the_linked_parent_resolves_or_reopens_a_child() {
    let child = opened_in(
        IncidentStatusKind::InProgress,
        vec![valid_command(IncidentCommandKind::LinkParent)],
    );
    given_cmds(&child)
        .when(IncidentCommand::ResolveFromParent {
            id: INC,
            parent: OTHER,
            code: CloseCode::SolvedWorkaround,
            notes: "n".into(),
        })
        .then_error(DomainError::validation(
            "parent",
            format!("{OTHER} is not this incident's parent"),
        ));
    given_status(IncidentStatusKind::Resolved)
        .when(valid_command(IncidentCommandKind::ReopenFromParent))
        .then_error_code("validation");
}

#[test]
fn reopening_the_parent_reopens_a_resolved_child_and_counts() {
    let child = opened_in(
        IncidentStatusKind::Resolved,
        vec![valid_command(IncidentCommandKind::LinkParent)],
    );
    let (events, state) = given_cmds(&child)
        .when(valid_command(IncidentCommandKind::ReopenFromParent))
        .then_ok();
    assert!(matches!(
        &events[..],
        [IncidentEvent::Reopened {
            source: ReopenSource::Parent { .. },
            ..
        }]
    ));
    let inc = state.expect("incident");
    assert_eq!(inc.status, IncidentStatus::InProgress);
    assert_eq!(inc.reopen_count, 1);
}

// ----- problems and changes -------------------------------------------------------------------

#[test]
fn a_fixed_problem_resolves_an_incident_awaiting_it_permanently() {
    let state = given_status(IncidentStatusKind::OnHold)
        .when(valid_command(IncidentCommandKind::ResolveFromProblem))
        .then_ok()
        .1
        .expect("incident");
    assert!(matches!(
        state.status,
        IncidentStatus::Resolved {
            code: CloseCode::SolvedPermanently,
            ..
        }
    ));
}

#[test]
fn an_unrelated_problem_does_not_resolve_an_incident() {
    // On hold awaiting PROBLEM; PROBLEM2 was fixed.
    given_status(IncidentStatusKind::OnHold)
        .when(IncidentCommand::ResolveFromProblem {
            id: INC,
            problem: PROBLEM2,
            notes: "Another fix".into(),
        })
        .then_error(DomainError::validation(
            "problem",
            format!("the incident does not await problem {PROBLEM2}"),
        ));
}

#[test]
fn problems_and_causing_changes_are_linked_once() {
    let state = resolved()
        .when(valid_command(IncidentCommandKind::LinkProblem))
        .and()
        .when(valid_command(IncidentCommandKind::LinkCausingChange))
        .then_ok()
        .1
        .expect("incident");
    assert!(state.problems.contains(&PROBLEM2));
    assert!(state.caused_by_changes.contains(&CHANGE));
    let linked = with(
        opened_in(IncidentStatusKind::InProgress, vec![]),
        [
            valid_command(IncidentCommandKind::LinkProblem),
            valid_command(IncidentCommandKind::LinkCausingChange),
        ],
    );
    given_cmds(&linked)
        .when(valid_command(IncidentCommandKind::LinkProblem))
        .then_error_code("validation");
    given_cmds(&linked)
        .when(valid_command(IncidentCommandKind::LinkCausingChange))
        .then_error_code("validation");
}

// ----- alerts ---------------------------------------------------------------------------------

#[test]
fn a_repeat_alert_joins_the_open_incident_counting_and_widening_the_window() {
    let state = in_progress()
        .when(IncidentCommand::CorrelateAlert {
            id: INC,
            dedup_key: KEY.into(),
            seen_at: t(50),
            via: None,
        })
        .and()
        .when(IncidentCommand::CorrelateAlert {
            id: INC,
            dedup_key: KEY.into(),
            seen_at: t(-20),
            via: None,
        })
        .then_ok()
        .1
        .expect("incident");
    let alert = state.alert.expect("alert");
    assert_eq!(alert.alert_count, 3);
    assert_eq!((alert.first_seen, alert.last_seen), (t(-20), t(50)));
}

#[test]
fn a_repeat_alert_with_another_key_is_refused() {
    in_progress()
        .when(IncidentCommand::CorrelateAlert {
            id: INC,
            dedup_key: "disk-full".into(),
            seen_at: t(50),
            via: None,
        })
        .then_error_code("validation");
}

#[test]
fn an_incident_not_opened_from_an_alert_takes_no_repeats() {
    let cmd = open_with(|c| {
        if let IncidentCommand::Open { alert, .. } = c {
            *alert = None;
        }
    });
    given_cmds(&[cmd])
        .when(valid_command(IncidentCommandKind::CorrelateAlert))
        .then_error(DomainError::validation(
            "dedup_key",
            "the incident was not opened from an alert",
        ));
}

#[test]
fn a_resolved_incident_takes_no_repeat_alerts() {
    resolved()
        .when(valid_command(IncidentCommandKind::CorrelateAlert))
        .then_error(invalid("resolved", "correlate_alert"));
}

// ----- backdated facts ------------------------------------------------------------------------

#[test]
fn impact_start_and_detection_are_backdated_facts() {
    let (events, state) = in_progress()
        .when(valid_command(IncidentCommandKind::RecordImpactStart))
        .and()
        .when(valid_command(IncidentCommandKind::RecordDetection))
        .then_ok();
    assert_eq!(events[0].occurred_at(), t(-10));
    assert_eq!(events[0].at(), t(100));
    let inc = state.expect("incident");
    assert_eq!(inc.impact_started_at, Some(t(-30)));
    assert_eq!(inc.detected_at, Some(t(-10)));
}

#[test]
fn backdated_facts_may_not_lie_in_the_future() {
    in_progress()
        .when(IncidentCommand::RecordDetection {
            id: INC,
            detected_at: t(101),
        })
        .then_error_code("validation");
    in_progress()
        .when(IncidentCommand::RecordImpactStart {
            id: INC,
            started_at: t(101),
        })
        .then_error_code("validation");
}

#[test]
fn impact_cannot_start_after_detection() {
    in_progress()
        .when(IncidentCommand::RecordDetection {
            id: INC,
            detected_at: t(-10),
        })
        .and()
        .when(IncidentCommand::RecordImpactStart {
            id: INC,
            started_at: t(-5),
        })
        .then_error_code("validation");
    in_progress()
        .when(IncidentCommand::RecordImpactStart {
            id: INC,
            started_at: t(-10),
        })
        .and()
        .when(IncidentCommand::RecordDetection {
            id: INC,
            detected_at: t(-20),
        })
        .then_error_code("validation");
}

#[test]
fn backdated_facts_may_be_recorded_after_resolution_for_the_review() {
    resolved()
        .when(valid_command(IncidentCommandKind::RecordImpactStart))
        .then_ok();
}

// ----- notes ----------------------------------------------------------------------------------

#[test]
fn work_notes_are_counted() {
    let state = resolved()
        .when(valid_command(IncidentCommandKind::AddWorkNote))
        .and()
        .when(valid_command(IncidentCommandKind::AddWorkNote))
        .then_ok()
        .1
        .expect("incident");
    assert_eq!(state.work_note_count, 2);
    assert_eq!(state.updated_at, t(100));
}

#[test]
fn the_fixture_admin_is_allowed_everything() {
    // Guards the fixtures: the table tests rely on an actor that never hits a permission check.
    given_status(IncidentStatusKind::New)
        .by(admin())
        .when(valid_command(IncidentCommandKind::AddWorkNote))
        .then_ok();
}

// ----- audit fixes ----------------------------------------------------------------------------

/// Eight calendar days after `t(0)`: past the default auto-close delay of seven days.
fn eight_days_later() -> chrono::DateTime<chrono::Utc> {
    t(0) + chrono::Duration::days(8)
}

#[test]
fn given_a_resolved_incident_when_auto_closed_before_the_delay_then_the_guard_refuses() {
    // Resolved at t(2); the default delay is 7 calendar days.
    let err = resolved()
        .at(t(2) + chrono::Duration::days(7) - chrono::Duration::minutes(1))
        .when(IncidentCommand::AutoClose { id: INC })
        .then_error_code("validation");
    assert!(err.to_string().contains("auto_close"), "{err}");
}

#[test]
fn given_a_proposed_major_incident_when_auto_closed_then_it_is_refused() {
    given_cmds(&major_resolved(MajorStatusKind::Proposed))
        .at(eight_days_later())
        .when(IncidentCommand::AutoClose { id: INC })
        .then_error_code("major_incident_no_auto_close");
}

#[test]
fn given_an_accepted_major_incident_when_auto_closed_then_a_dedicated_error_says_so() {
    let with_review = with(major_resolved(MajorStatusKind::Accepted), [review_cmd()]);
    given_cmds(&with_review)
        .at(eight_days_later())
        .when(IncidentCommand::AutoClose { id: INC })
        .then_error_code("major_incident_no_auto_close");
}

#[test]
fn given_an_accepted_major_incident_when_an_agent_cancels_then_major_decide_is_required() {
    let accepted = opened_in(
        IncidentStatusKind::InProgress,
        major_commands(MajorStatusKind::Accepted),
    );
    given_cmds(&accepted)
        .by(alice())
        .when(IncidentCommand::Cancel {
            id: INC,
            reason: CancelReason::NotAnIncident,
        })
        .then_error(forbidden("alice", Permission::MajorIncidentDecide));
    given_cmds(&accepted)
        .by(mona())
        .when(IncidentCommand::Cancel {
            id: INC,
            reason: CancelReason::NotAnIncident,
        })
        .then_ok();
}

#[test]
fn given_a_review_published_before_a_reopen_when_closing_again_then_a_new_revision_is_required() {
    let reopened_and_resolved = with(
        major_resolved(MajorStatusKind::Accepted),
        [
            review_cmd(),
            valid_command(IncidentCommandKind::Reopen),
            valid_command(IncidentCommandKind::Resolve),
        ],
    );
    given_cmds(&reopened_and_resolved)
        .when(IncidentCommand::Close { id: INC })
        .then_error(DomainError::ReviewRequired);
    let state = given_cmds(&reopened_and_resolved)
        .when(review_cmd())
        .and()
        .when(IncidentCommand::Close { id: INC })
        .then_ok()
        .1
        .expect("incident");
    assert_eq!(state.status, IncidentStatus::Closed);
    assert_eq!(state.major.review.expect("review").revision, 2);
}

#[test]
fn given_an_incident_only_linked_to_a_problem_when_the_problem_is_fixed_then_it_is_not_resolved() {
    let linked = opened_in(
        IncidentStatusKind::InProgress,
        vec![IncidentCommand::LinkProblem {
            id: INC,
            problem: PROBLEM,
        }],
    );
    given_cmds(&linked)
        .when(valid_command(IncidentCommandKind::ResolveFromProblem))
        .then_error(invalid("in_progress", "resolve_from_problem"));
    // On hold for another reason, even while linked: not awaiting this problem.
    let waiting_for_vendor = with(
        linked,
        [IncidentCommand::PutOnHold {
            id: INC,
            reason: HoldReason::AwaitingVendor,
        }],
    );
    given_cmds(&waiting_for_vendor)
        .when(valid_command(IncidentCommandKind::ResolveFromProblem))
        .then_error(DomainError::validation(
            "problem",
            format!("the incident does not await problem {PROBLEM}"),
        ));
}

#[test]
fn given_a_never_acknowledged_child_resolved_by_its_parent_when_reopened_then_it_returns_to_new() {
    let child = opened_in(
        IncidentStatusKind::New,
        vec![valid_command(IncidentCommandKind::LinkParent)],
    );
    let inc = given_cmds(&child)
        .when(valid_command(IncidentCommandKind::ResolveFromParent))
        .and()
        .when(valid_command(IncidentCommandKind::ReopenFromParent))
        .then_ok()
        .1
        .expect("incident");
    assert_eq!(inc.status, IncidentStatus::New);
    assert_eq!(inc.acknowledged_at, None);
    assert_eq!(inc.assignee, None);
    assert_eq!(inc.reopen_count, 1);
    // The same holds for a direct reopen by the caller or an agent.
    let inc = given_cmds(&child)
        .when(valid_command(IncidentCommandKind::ResolveFromParent))
        .and()
        .when(valid_command(IncidentCommandKind::Reopen))
        .then_ok()
        .1
        .expect("incident");
    assert_eq!(inc.status, IncidentStatus::New);
}

#[test]
fn given_an_incident_when_detection_is_recorded_after_it_was_logged_then_it_is_refused() {
    // Logged at t(0); detected at t(50) would mean it was logged before anyone noticed.
    in_progress()
        .when(IncidentCommand::RecordDetection {
            id: INC,
            detected_at: t(50),
        })
        .then_error(DomainError::validation(
            "detected_at",
            format!("after the incident was logged at {}", t(0)),
        ));
    in_progress()
        .when(IncidentCommand::RecordDetection {
            id: INC,
            detected_at: t(0),
        })
        .then_ok();
}

#[test]
fn given_a_policy_version_when_an_incident_is_opened_then_the_event_and_record_pin_it() {
    let policy = Policy {
        version: opsledger_core::policy::PolicyVersion(7),
        ..Policy::default()
    };
    let (events, state) = given::<IncidentDecider>([])
        .with_policy(policy)
        .when(open_cmd())
        .then_ok();
    assert!(matches!(
        events[0],
        IncidentEvent::Opened {
            policy_version: opsledger_core::policy::PolicyVersion(7),
            ..
        }
    ));
    assert_eq!(
        state.expect("incident").policy_version,
        opsledger_core::policy::PolicyVersion(7)
    );
    // An event recorded before versions were pinned still reads (as version 0).
    let mut json = serde_json::to_value(&events[0]).expect("serializes");
    json.as_object_mut()
        .expect("object")
        .remove("policy_version");
    let old: IncidentEvent = serde_json::from_value(json).expect("an old event still reads");
    assert!(matches!(
        old,
        IncidentEvent::Opened {
            policy_version: opsledger_core::policy::PolicyVersion(0),
            ..
        }
    ));
}

#[test]
fn given_any_change_id_when_linked_as_the_cause_then_the_incident_accepts_it_and_the_change_decides()
 {
    // The incident cannot see the change: it records the link; the engine mirrors it on the
    // change with `RecordCausedIncident`, which refuses a change that was never implemented.
    let (events, state) = in_progress()
        .when(IncidentCommand::LinkCausingChange {
            id: INC,
            change: CHANGE,
        })
        .then_ok();
    assert!(matches!(
        events[..],
        [IncidentEvent::CausingChangeLinked { .. }]
    ));
    assert!(state.expect("incident").caused_by_changes.contains(&CHANGE));
}
