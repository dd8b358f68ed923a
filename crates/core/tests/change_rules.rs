//! One given/when/then case per rule and guard of the change lifecycle.

#[path = "support/change_fixtures.rs"]
mod fixtures;

use fixtures::*;
use opsledger_core::change::{
    BackoutRecord, ChangeCommand, ChangeDecider, ChangeEvent, ChangeStatus, ChangeStatusKind,
    ChangeType, CiLink, CiRelation, CloseCode, Conflict, ConflictAcceptance,
};
use opsledger_core::policy::{ApprovalRule, Quorum};
use opsledger_core::testing::{Scenario, given, t};
use opsledger_core::window::{CiScope, NamedWindow};
use opsledger_core::{Actor, ActorId, CiId, DomainError, Permission, Policy, Role};

fn in_state(kind: ChangeStatusKind) -> Scenario<ChangeDecider> {
    given::<ChangeDecider>(events_to(kind))
        .with_policy(policy())
        .at(t(10))
}

fn authorize_with(p: &Policy, change_type: ChangeType) -> Vec<ChangeEvent> {
    let mut steps = steps_new(change_type.clone());
    steps.push((rita(), t(2), submit_cmd()));
    if change_type == ChangeType::Normal {
        steps.push((
            alice(),
            t(3),
            ChangeCommand::RequestAuthorization { id: cid() },
        ));
    }
    run(p, steps)
}

fn board_policy(quorum: Quorum, board: &[&str], min_approvals: u32) -> Policy {
    let mut p = policy();
    p.approvals.normal = ApprovalRule {
        approver_roles: [Role::CabMember, Role::ChangeManager].into_iter().collect(),
        board: board.iter().map(|b| ActorId::new(*b)).collect(),
        quorum,
        min_approvals,
    };
    p
}

fn cab(name: &str) -> Actor {
    Actor::new(name, [Role::CabMember])
}

fn status(state: &Option<opsledger_core::change::Change>) -> ChangeStatusKind {
    state.as_ref().expect("exists").status.kind()
}

// ---------------------------------------------------------------- paths by type

#[test]
fn normal_change_walks_every_state_to_closed() {
    let events = events_to(ChangeStatusKind::Closed);
    let kinds: Vec<&str> = events
        .iter()
        .map(opsledger_core::DomainEvent::event_type)
        .collect();
    assert_eq!(
        kinds,
        vec![
            "change.requested",
            "change.planned",
            "change.submitted",
            "change.authorization_requested",
            "change.approved",
            "change.authorized",
            "change.scheduled",
            "change.implementation_started",
            "change.implemented",
            "change.closed",
        ]
    );
    let state = given::<ChangeDecider>(events)
        .state()
        .clone()
        .expect("exists");
    assert_eq!(
        state.status,
        ChangeStatus::Closed {
            code: CloseCode::Successful
        }
    );
    assert_eq!(state.approved_window, Some(window()));
    assert_eq!(state.requester, rita().id);
}

#[test]
fn request_creates_the_change_in_new_with_the_actor_as_requester() {
    given::<ChangeDecider>([])
        .by(rita())
        .with_policy(policy())
        .when(request_cmd(ChangeType::Normal))
        .then([ChangeEvent::Requested {
            id: cid(),
            title: "Upgrade PostgreSQL on db-01".to_owned(),
            description: "Minor version upgrade".to_owned(),
            change_type: ChangeType::Normal,
            risk: opsledger_core::change::Risk::Moderate,
            cis: cis(&["db-01"]),
            implementation_plan: "apt upgrade; restart".to_owned(),
            backout_plan: "restore snapshot".to_owned(),
            test_plan: "smoke tests".to_owned(),
            assignee: Some("alice".into()),
            policy_version: opsledger_core::policy::PolicyVersion(1),
            at: t(0),
            by: rita().id,
        }]);
}

#[test]
fn standard_change_is_pre_authorised_and_goes_straight_to_scheduled() {
    let standard = ChangeType::Standard {
        template: TEMPLATE.to_owned(),
    };
    given::<ChangeDecider>(events_new(standard))
        .by(rita())
        .at(t(5))
        .with_policy(policy())
        .when(submit_cmd())
        .then([
            ChangeEvent::Submitted {
                id: cid(),
                at: t(5),
                by: rita().id,
            },
            ChangeEvent::Scheduled {
                id: cid(),
                window: window(),
                warnings: vec![],
                warnings_omitted: 0,
                accepted: None,
                at: t(5),
                by: rita().id,
            },
        ]);
}

#[test]
fn standard_change_implements_without_any_approval() {
    let standard = ChangeType::Standard {
        template: TEMPLATE.to_owned(),
    };
    let mut steps = steps_new(standard);
    steps.push((rita(), t(5), submit_cmd()));
    let state = given::<ChangeDecider>(run(&policy(), steps))
        .by(alice())
        .at(t(60))
        .with_policy(policy())
        .when(ChangeCommand::StartImplementation { id: cid() })
        .then_ok()
        .1
        .expect("exists");
    assert_eq!(state.status, ChangeStatus::Implement);
    assert!(state.approvals.is_empty());
    assert_eq!(state.authorized_at, None);
}

#[test]
fn standard_change_must_name_a_catalogue_template() {
    given::<ChangeDecider>([])
        .by(rita())
        .with_policy(policy())
        .when(request_cmd(ChangeType::Standard {
            template: "reboot-anything".to_owned(),
        }))
        .then_error(DomainError::validation(
            "change_type.template",
            "no standard change template `reboot-anything` in the catalogue",
        ));
}

#[test]
fn standard_submit_is_refused_once_the_template_left_the_catalogue() {
    let standard = ChangeType::Standard {
        template: TEMPLATE.to_owned(),
    };
    given::<ChangeDecider>(events_new(standard))
        .by(rita())
        .at(t(5))
        .with_policy(Policy::default())
        .when(submit_cmd())
        .then_error_code("validation");
}

#[test]
fn emergency_change_goes_from_new_to_the_emergency_cab() {
    let (events, state) = given::<ChangeDecider>(events_new(ChangeType::Emergency))
        .by(rita())
        .at(t(5))
        .with_policy(policy())
        .when(submit_cmd())
        .then_ok();
    assert_eq!(events.len(), 1);
    assert_eq!(status(&state), ChangeStatusKind::Authorize);
}

#[test]
fn emergency_change_is_approved_by_the_emergency_rule_only() {
    let events = authorize_with(&policy(), ChangeType::Emergency);
    // A CAB member approves normal changes, not emergencies (default: change managers only).
    given::<ChangeDecider>(events.clone())
        .by(carol())
        .at(t(5))
        .with_policy(policy())
        .when(approve_cmd())
        .then_error_code("not_an_approver");
    let (_, state) = given::<ChangeDecider>(events)
        .by(max())
        .at(t(5))
        .with_policy(policy())
        .when(approve_cmd())
        .then_ok();
    assert_eq!(status(&state), ChangeStatusKind::Scheduled);
}

// ---------------------------------------------------------------- readiness

#[test]
fn authorisation_needs_a_planned_window() {
    let events = run(
        &policy(),
        vec![
            (rita(), t(0), request_cmd(ChangeType::Normal)),
            (rita(), t(1), submit_cmd()),
        ],
    );
    given::<ChangeDecider>(events)
        .by(alice())
        .with_policy(policy())
        .when(ChangeCommand::RequestAuthorization { id: cid() })
        .then_error(DomainError::validation(
            "planned_window",
            "plan the implementation window first",
        ));
}

#[test]
fn authorisation_needs_a_backout_plan() {
    let mut events = events_to(ChangeStatusKind::Assess);
    events.push(ChangeEvent::Updated {
        id: cid(),
        title: None,
        description: None,
        change_type: None,
        risk: None,
        cis: None,
        implementation_plan: None,
        backout_plan: Some("  ".to_owned()),
        test_plan: None,
        at: t(3),
        by: rita().id,
    });
    given::<ChangeDecider>(events)
        .by(alice())
        .with_policy(policy())
        .when(ChangeCommand::RequestAuthorization { id: cid() })
        .then_error(DomainError::validation(
            "backout_plan",
            "required before authorisation or scheduling",
        ));
}

#[test]
fn emergency_submission_needs_an_implementation_plan() {
    let mut events = events_new(ChangeType::Emergency);
    events.push(ChangeEvent::Updated {
        id: cid(),
        title: None,
        description: None,
        change_type: None,
        risk: None,
        cis: None,
        implementation_plan: Some(String::new()),
        backout_plan: None,
        test_plan: None,
        at: t(3),
        by: rita().id,
    });
    given::<ChangeDecider>(events)
        .by(rita())
        .with_policy(policy())
        .when(submit_cmd())
        .then_error(DomainError::validation(
            "implementation_plan",
            "required before authorisation or scheduling",
        ));
}

#[test]
fn authorisation_is_refused_when_the_board_cannot_reach_its_quorum() {
    // All of {carol, rita} minus the requester = carol alone, but min_approvals is 2.
    let p = board_policy(Quorum::All, &["carol", "rita"], 2);
    let events = run(
        &p,
        [
            steps_new(ChangeType::Normal),
            vec![(rita(), t(2), submit_cmd())],
        ]
        .concat(),
    );
    given::<ChangeDecider>(events)
        .by(alice())
        .with_policy(p)
        .when(ChangeCommand::RequestAuthorization { id: cid() })
        .then_error(DomainError::validation(
            "approvals",
            "the approval policy needs 2 approval(s) but only 1 board member(s) other than the \
             requester can vote",
        ));
}

#[test]
fn type_changes_only_in_new() {
    let update = ChangeCommand::Update {
        id: cid(),
        title: None,
        description: None,
        change_type: Some(ChangeType::Emergency),
        risk: None,
        cis: None,
        implementation_plan: None,
        backout_plan: None,
        test_plan: None,
    };
    in_state(ChangeStatusKind::Assess)
        .by(rita())
        .when(update.clone())
        .then_error(DomainError::validation(
            "change_type",
            "the type can change only while the change is New",
        ));
    let (_, state) = in_state(ChangeStatusKind::New)
        .by(rita())
        .when(update)
        .then_ok();
    assert_eq!(state.expect("exists").change_type, ChangeType::Emergency);
}

#[test]
fn nothing_can_be_edited_once_the_cab_has_it() {
    in_state(ChangeStatusKind::Authorize)
        .by(rita())
        .when(ChangeCommand::Update {
            id: cid(),
            title: Some("sneaky".to_owned()),
            description: None,
            change_type: None,
            risk: None,
            cis: None,
            implementation_plan: None,
            backout_plan: None,
            test_plan: None,
        })
        .then_error_code("invalid_transition");
}

// ---------------------------------------------------------------- approvals

#[test]
fn requester_may_never_approve_even_as_admin() {
    let requester_admin = Actor::new("rita", [Role::Requester, Role::Admin, Role::CabMember]);
    given::<ChangeDecider>(events_to(ChangeStatusKind::Authorize))
        .by(requester_admin)
        .at(t(10))
        .with_policy(policy())
        .when(approve_cmd())
        .then_error(DomainError::SeparationOfDuties { actor: rita().id });
}

#[test]
fn requester_may_never_approve_even_as_change_manager() {
    let requester_cm = Actor::new("rita", [Role::ChangeManager]);
    given::<ChangeDecider>(events_to(ChangeStatusKind::Authorize))
        .by(requester_cm)
        .at(t(10))
        .with_policy(board_policy(Quorum::Any, &["rita", "carol"], 1))
        .when(approve_cmd())
        .then_error(DomainError::SeparationOfDuties { actor: rita().id });
}

#[test]
fn requester_may_not_reject_their_own_change_either() {
    given::<ChangeDecider>(events_to(ChangeStatusKind::Authorize))
        .by(Actor::new("rita", [Role::CabMember]))
        .at(t(10))
        .with_policy(policy())
        .when(ChangeCommand::Reject {
            id: cid(),
            reason: "never mind".to_owned(),
        })
        .then_error(DomainError::SeparationOfDuties { actor: rita().id });
}

#[test]
fn approving_needs_the_change_approve_permission() {
    in_state(ChangeStatusKind::Authorize)
        .by(alice())
        .when(approve_cmd())
        .then_error(DomainError::Forbidden {
            actor: alice().id,
            permission: Permission::ChangeApprove,
        });
}

#[test]
fn admin_without_an_approver_role_is_not_an_approver() {
    in_state(ChangeStatusKind::Authorize)
        .by(root())
        .when(approve_cmd())
        .then_error(DomainError::NotAnApprover {
            actor: root().id,
            reason: "holds none of the approver roles [change_manager, cab_member]".to_owned(),
        });
}

#[test]
fn approver_not_on_the_board_is_not_an_approver() {
    let p = board_policy(Quorum::Any, &["carol"], 1);
    given::<ChangeDecider>(authorize_with(&p, ChangeType::Normal))
        .by(dave())
        .at(t(10))
        .with_policy(p)
        .when(approve_cmd())
        .then_error(DomainError::NotAnApprover {
            actor: dave().id,
            reason: "not on the approval board".to_owned(),
        });
}

#[test]
fn deciding_twice_in_a_round_is_refused() {
    let p = board_policy(Quorum::All, &["carol", "dave"], 1);
    let scenario = given::<ChangeDecider>(authorize_with(&p, ChangeType::Normal))
        .by(carol())
        .at(t(10))
        .with_policy(p)
        .when(approve_cmd())
        .and();
    scenario
        .when(ChangeCommand::Reject {
            id: cid(),
            reason: "changed my mind".to_owned(),
        })
        .then_error(DomainError::AlreadyDecided { actor: carol().id });
}

#[test]
fn quorum_reached_emits_approval_authorisation_and_schedule() {
    in_state(ChangeStatusKind::Authorize)
        .by(carol())
        .when(ChangeCommand::Approve {
            id: cid(),
            comment: Some("fine".to_owned()),
            calendar: vec![],
            ci_relations: vec![],
            accept_conflicts: None,
        })
        .then([
            ChangeEvent::Approved {
                id: cid(),
                round: 1,
                comment: Some("fine".to_owned()),
                at: t(10),
                by: carol().id,
            },
            ChangeEvent::Authorized {
                id: cid(),
                round: 1,
                approvers: vec![carol().id],
                at: t(10),
                by: carol().id,
            },
            ChangeEvent::Scheduled {
                id: cid(),
                window: window(),
                warnings: vec![],
                warnings_omitted: 0,
                accepted: None,
                at: t(10),
                by: carol().id,
            },
        ]);
}

#[test]
fn majority_counts_the_board_minus_the_requester() {
    // Board of 5 including the requester: 4 eligible, so a majority is 3.
    let p = board_policy(
        Quorum::Majority,
        &["carol", "dave", "erin", "max", "rita"],
        1,
    );
    let erin = cab("erin");
    let scenario = given::<ChangeDecider>(authorize_with(&p, ChangeType::Normal))
        .at(t(10))
        .with_policy(p)
        .by(carol())
        .when(approve_cmd())
        .and()
        .by(dave())
        .when(approve_cmd())
        .and();
    assert_eq!(status(scenario.state()), ChangeStatusKind::Authorize);
    let (events, state) = scenario.by(erin).when(approve_cmd()).then_ok();
    assert_eq!(events.len(), 3);
    assert_eq!(status(&state), ChangeStatusKind::Scheduled);
}

#[test]
fn all_needs_every_board_member_but_the_requester() {
    let p = board_policy(Quorum::All, &["carol", "dave", "rita"], 1);
    let scenario = given::<ChangeDecider>(authorize_with(&p, ChangeType::Normal))
        .at(t(10))
        .with_policy(p)
        .by(carol())
        .when(approve_cmd())
        .and();
    assert_eq!(status(scenario.state()), ChangeStatusKind::Authorize);
    let (_, state) = scenario.by(dave()).when(approve_cmd()).then_ok();
    assert_eq!(status(&state), ChangeStatusKind::Scheduled);
    assert_eq!(
        state.expect("exists").approvers(),
        vec![carol().id, dave().id]
    );
}

#[test]
fn min_approvals_raises_any_and_applies_without_a_board() {
    let p = board_policy(Quorum::Any, &[], 2);
    let scenario = given::<ChangeDecider>(authorize_with(&p, ChangeType::Normal))
        .at(t(10))
        .with_policy(p)
        .by(carol())
        .when(approve_cmd())
        .and();
    assert_eq!(status(scenario.state()), ChangeStatusKind::Authorize);
    let (_, state) = scenario.by(max()).when(approve_cmd()).then_ok();
    assert_eq!(status(&state), ChangeStatusKind::Scheduled);
}

#[test]
fn rejection_returns_to_new_with_a_new_round_and_no_approvals() {
    let p = board_policy(Quorum::All, &["carol", "dave"], 1);
    let (events, state) = given::<ChangeDecider>(authorize_with(&p, ChangeType::Normal))
        .at(t(10))
        .with_policy(p)
        .by(carol())
        .when(approve_cmd())
        .and()
        .by(dave())
        .when(ChangeCommand::Reject {
            id: cid(),
            reason: "no rollback test".to_owned(),
        })
        .then_ok();
    assert_eq!(
        events,
        vec![ChangeEvent::Rejected {
            id: cid(),
            round: 1,
            reason: "no rollback test".to_owned(),
            at: t(10),
            by: dave().id,
        }]
    );
    let state = state.expect("exists");
    assert_eq!(state.status, ChangeStatus::New);
    assert!(state.approvals.is_empty());
    assert_eq!(state.approval_round, 2);
    assert_eq!(
        state.planned_window,
        Some(window()),
        "the plan survives a rejection"
    );
}

#[test]
fn revert_to_new_cancels_pending_approvals_and_starts_a_new_round() {
    let p = board_policy(Quorum::All, &["carol", "dave"], 1);
    let (events, state) = given::<ChangeDecider>(authorize_with(&p, ChangeType::Normal))
        .at(t(10))
        .with_policy(p)
        .by(carol())
        .when(approve_cmd())
        .and()
        .by(max())
        .when(ChangeCommand::RevertToNew {
            id: cid(),
            reason: "scope grew".to_owned(),
        })
        .then_ok();
    assert_eq!(
        events,
        vec![ChangeEvent::RevertedToNew {
            id: cid(),
            round: 1,
            canceled_approvals: vec![carol().id],
            reason: "scope grew".to_owned(),
            at: t(10),
            by: max().id,
        }]
    );
    let state = state.expect("exists");
    assert!(state.approvals.is_empty());
    assert_eq!(state.approval_round, 2);
}

#[test]
fn revert_from_scheduled_voids_the_authorisation() {
    let (_, state) = in_state(ChangeStatusKind::Scheduled)
        .by(max())
        .when(ChangeCommand::RevertToNew {
            id: cid(),
            reason: "vendor slipped".to_owned(),
        })
        .then_ok();
    let state = state.expect("exists");
    assert_eq!(state.status, ChangeStatus::New);
    assert_eq!(state.approved_window, None);
    assert_eq!(state.authorized_at, None);
    assert!(state.approvals.is_empty());
}

#[test]
fn an_approver_votes_again_in_a_new_round() {
    let p = board_policy(Quorum::All, &["carol", "dave"], 1);
    let scenario = given::<ChangeDecider>(authorize_with(&p, ChangeType::Normal))
        .at(t(10))
        .with_policy(p)
        .by(carol())
        .when(approve_cmd())
        .and()
        .by(max())
        .when(ChangeCommand::RevertToNew {
            id: cid(),
            reason: "fix typo".to_owned(),
        })
        .and()
        .by(rita())
        .when(submit_cmd())
        .and()
        .by(alice())
        .when(ChangeCommand::RequestAuthorization { id: cid() })
        .and();
    let (events, _) = scenario.by(carol()).when(approve_cmd()).then_ok();
    assert_eq!(
        events,
        vec![ChangeEvent::Approved {
            id: cid(),
            round: 2,
            comment: None,
            at: t(10),
            by: carol().id,
        }],
        "carol's round-1 approval does not count in round 2"
    );
}

// ---------------------------------------------------------------- conflicts

fn blackout_policy() -> Policy {
    let mut p = policy();
    p.blackout_windows = vec![NamedWindow::once(
        "quarter-end",
        win(100, 300),
        CiScope::All,
    )];
    p
}

fn blackout_conflict() -> Conflict {
    Conflict::InsideBlackout {
        ci: CiId::new("db-01"),
        affected: CiId::new("db-01"),
        link: CiLink::Affected,
        blackout: "quarter-end".to_owned(),
    }
}

#[test]
fn plan_into_a_blackout_is_refused() {
    given::<ChangeDecider>(events_to(ChangeStatusKind::New))
        .by(alice())
        .at(t(10))
        .with_policy(blackout_policy())
        .when(plan_cmd(win(120, 180)))
        .then_error(DomainError::ScheduleConflict {
            conflicts: vec![blackout_conflict()],
            total: 1,
        });
}

#[test]
fn plan_over_a_ci_already_scheduled_is_refused_listing_every_blocking_conflict() {
    let calendar = vec![
        booked(1, win(100, 200), &["db-01"], None),
        booked(2, win(150, 160), &["db-01", "web-01"], None),
    ];
    given::<ChangeDecider>(events_to(ChangeStatusKind::New))
        .by(alice())
        .at(t(10))
        .with_policy(blackout_policy())
        .when(ChangeCommand::Plan {
            id: cid(),
            window: win(120, 180),
            assignee: None,
            calendar: calendar.clone(),
            ci_relations: vec![],
            accept_conflicts: None,
        })
        .then_error(DomainError::ScheduleConflict {
            conflicts: vec![
                Conflict::CiAlreadyScheduled {
                    ci: CiId::new("db-01"),
                    affected: CiId::new("db-01"),
                    link: CiLink::Affected,
                    other: other_cid(1),
                    other_window: win(100, 200),
                },
                Conflict::CiAlreadyScheduled {
                    ci: CiId::new("db-01"),
                    affected: CiId::new("db-01"),
                    link: CiLink::Affected,
                    other: other_cid(2),
                    other_window: win(150, 160),
                },
                blackout_conflict(),
            ],
            total: 3,
        });
}

#[test]
fn a_clash_on_the_parent_ci_blocks_too() {
    let calendar = vec![booked(1, win(100, 200), &["cluster-a"], None)];
    let err = given::<ChangeDecider>(events_to(ChangeStatusKind::New))
        .by(alice())
        .at(t(10))
        .with_policy(policy())
        .when(ChangeCommand::Plan {
            id: cid(),
            window: win(120, 180),
            assignee: None,
            calendar,
            ci_relations: vec![CiRelation {
                parent: CiId::new("cluster-a"),
                child: CiId::new("db-01"),
            }],
            accept_conflicts: None,
        })
        .then_error_code("schedule_conflict");
    let DomainError::ScheduleConflict { conflicts, total } = err else {
        panic!("not a schedule conflict")
    };
    assert_eq!(
        conflicts,
        vec![Conflict::CiAlreadyScheduled {
            ci: CiId::new("cluster-a"),
            affected: CiId::new("db-01"),
            link: CiLink::Parent,
            other: other_cid(1),
            other_window: win(100, 200),
        }]
    );
    assert_eq!(total, 1);
}

#[test]
fn accepting_conflicts_needs_the_schedule_permission() {
    given::<ChangeDecider>(events_to(ChangeStatusKind::New))
        .by(alice())
        .at(t(10))
        .with_policy(blackout_policy())
        .when(ChangeCommand::Plan {
            id: cid(),
            window: win(120, 180),
            assignee: None,
            calendar: vec![],
            ci_relations: vec![],
            accept_conflicts: Some("security fix cannot wait".to_owned()),
        })
        .then_error(DomainError::Forbidden {
            actor: alice().id,
            permission: Permission::ChangeSchedule,
        });
}

#[test]
fn accepted_conflicts_are_recorded_in_the_event_and_the_record() {
    let (events, state) = given::<ChangeDecider>(events_to(ChangeStatusKind::New))
        .by(max())
        .at(t(10))
        .with_policy(blackout_policy())
        .when(ChangeCommand::Plan {
            id: cid(),
            window: win(120, 180),
            assignee: None,
            calendar: vec![],
            ci_relations: vec![],
            accept_conflicts: Some("security fix cannot wait".to_owned()),
        })
        .then_ok();
    let acceptance = ConflictAcceptance {
        conflicts: vec![blackout_conflict()],
        reason: "security fix cannot wait".to_owned(),
        by: max().id,
        at: t(10),
    };
    assert_eq!(
        events,
        vec![ChangeEvent::Planned {
            id: cid(),
            window: win(120, 180),
            assignee: None,
            warnings: vec![],
            warnings_omitted: 0,
            accepted: Some(acceptance.clone()),
            at: t(10),
            by: max().id,
        }]
    );
    assert_eq!(state.expect("exists").accepted_conflicts, vec![acceptance]);
}

#[test]
fn missed_maintenance_window_and_double_booked_assignee_are_warnings() {
    let mut p = policy();
    p.maintenance_windows = vec![NamedWindow::once(
        "db-sunday",
        win(0, 60),
        CiScope::Only(vec![CiId::new("db-01")]),
    )];
    let calendar = vec![booked(1, win(100, 200), &["web-01"], Some("alice"))];
    let (events, state) = given::<ChangeDecider>(events_to(ChangeStatusKind::New))
        .by(alice())
        .at(t(10))
        .with_policy(p)
        .when(ChangeCommand::Plan {
            id: cid(),
            window: win(120, 180),
            assignee: None,
            calendar,
            ci_relations: vec![],
            accept_conflicts: None,
        })
        .then_ok();
    let warnings = vec![
        Conflict::OutsideMaintenanceWindow {
            ci: CiId::new("db-01"),
            affected: CiId::new("db-01"),
            link: CiLink::Affected,
        },
        Conflict::AssigneeDoubleBooked {
            assignee: alice().id,
            other: other_cid(1),
            other_window: win(100, 200),
        },
    ];
    let ChangeEvent::Planned {
        warnings: got,
        accepted,
        ..
    } = &events[0]
    else {
        panic!("expected change.planned, got {events:?}")
    };
    assert_eq!(got, &warnings);
    assert_eq!(accepted, &None);
    assert_eq!(state.expect("exists").schedule_warnings, warnings);
}

#[test]
fn conflicts_are_checked_again_when_the_quorum_is_reached() {
    let calendar = vec![booked(1, win(30, 90), &["db-01"], None)];
    in_state(ChangeStatusKind::Authorize)
        .by(carol())
        .when(ChangeCommand::Approve {
            id: cid(),
            comment: None,
            calendar,
            ci_relations: vec![],
            accept_conflicts: None,
        })
        .then_error(DomainError::ScheduleConflict {
            conflicts: vec![Conflict::CiAlreadyScheduled {
                ci: CiId::new("db-01"),
                affected: CiId::new("db-01"),
                link: CiLink::Affected,
                other: other_cid(1),
                other_window: win(30, 90),
            }],
            total: 1,
        });
}

#[test]
fn an_approval_below_the_quorum_does_not_check_the_calendar() {
    let p = board_policy(Quorum::All, &["carol", "dave"], 1);
    let calendar = vec![booked(1, win(30, 90), &["db-01"], None)];
    let (events, _) = given::<ChangeDecider>(authorize_with(&p, ChangeType::Normal))
        .by(carol())
        .at(t(10))
        .with_policy(p)
        .when(ChangeCommand::Approve {
            id: cid(),
            comment: None,
            calendar,
            ci_relations: vec![],
            accept_conflicts: None,
        })
        .then_ok();
    assert_eq!(events.len(), 1);
}

#[test]
fn conflicts_accepted_at_planning_stay_accepted_at_scheduling() {
    let mut steps = vec![
        (rita(), t(0), request_cmd(ChangeType::Normal)),
        (
            max(),
            t(1),
            ChangeCommand::Plan {
                id: cid(),
                window: window(),
                assignee: None,
                calendar: vec![],
                ci_relations: vec![],
                accept_conflicts: Some("freeze exception granted".to_owned()),
            },
        ),
    ];
    steps.push((rita(), t(2), submit_cmd()));
    steps.push((
        alice(),
        t(3),
        ChangeCommand::RequestAuthorization { id: cid() },
    ));
    let events = run(&blackout_policy(), steps);
    let (produced, state) = given::<ChangeDecider>(events)
        .by(carol())
        .at(t(10))
        .with_policy(blackout_policy())
        .when(approve_cmd())
        .then_ok();
    assert_eq!(produced.len(), 3);
    assert!(matches!(
        produced[2],
        ChangeEvent::Scheduled { accepted: None, .. }
    ));
    assert_eq!(status(&state), ChangeStatusKind::Scheduled);
}

#[test]
fn a_new_plan_voids_earlier_acceptances() {
    let steps = vec![
        (rita(), t(0), request_cmd(ChangeType::Normal)),
        (
            max(),
            t(1),
            ChangeCommand::Plan {
                id: cid(),
                window: window(),
                assignee: None,
                calendar: vec![],
                ci_relations: vec![],
                accept_conflicts: Some("freeze exception granted".to_owned()),
            },
        ),
        (alice(), t(2), plan_cmd(win(400, 500))),
    ];
    let events = run(&blackout_policy(), steps);
    let state = given::<ChangeDecider>(events)
        .state()
        .clone()
        .expect("exists");
    assert!(state.accepted_conflicts.is_empty());
}

#[test]
fn emergency_change_may_accept_conflicts_when_scheduled() {
    let events = authorize_with(&policy(), ChangeType::Emergency);
    let (produced, state) = given::<ChangeDecider>(events)
        .by(max())
        .at(t(10))
        .with_policy(blackout_policy())
        .when(ChangeCommand::Approve {
            id: cid(),
            comment: None,
            calendar: vec![],
            ci_relations: vec![],
            accept_conflicts: Some("outage in progress".to_owned()),
        })
        .then_ok();
    let ChangeEvent::Scheduled { accepted, .. } = &produced[2] else {
        panic!("expected change.scheduled, got {produced:?}")
    };
    assert_eq!(
        accepted.as_ref().map(|a| a.conflicts.clone()),
        Some(vec![blackout_conflict()])
    );
    assert_eq!(status(&state), ChangeStatusKind::Scheduled);
}

#[test]
fn scheduling_is_refused_when_the_window_is_over() {
    in_state(ChangeStatusKind::Authorize)
        .by(carol())
        .at(t(180))
        .when(approve_cmd())
        .then_error(DomainError::validation(
            "planned_window",
            "the planned window has already ended; revert to New and plan a new one",
        ));
}

#[test]
fn the_calendar_entry_of_the_change_itself_is_no_conflict() {
    let calendar = vec![opsledger_core::change::ScheduledChange {
        id: cid(),
        window: window(),
        cis: cis(&["db-01"]),
        assignee: Some("alice".into()),
    }];
    given::<ChangeDecider>(events_to(ChangeStatusKind::New))
        .by(alice())
        .at(t(10))
        .with_policy(policy())
        .when(ChangeCommand::Plan {
            id: cid(),
            window: window(),
            assignee: None,
            calendar,
            ci_relations: vec![],
            accept_conflicts: None,
        })
        .then_ok();
}

// ---------------------------------------------------------------- implementation

#[test]
fn implementation_is_refused_before_the_approved_window() {
    in_state(ChangeStatusKind::Scheduled)
        .by(alice())
        .at(t(59))
        .when(ChangeCommand::StartImplementation { id: cid() })
        .then_error(DomainError::OutsideApprovedWindow {
            now: t(59),
            window: window(),
        });
}

#[test]
fn implementation_is_refused_at_the_end_of_the_window() {
    in_state(ChangeStatusKind::Scheduled)
        .by(alice())
        .at(t(180))
        .when(ChangeCommand::StartImplementation { id: cid() })
        .then_error(DomainError::OutsideApprovedWindow {
            now: t(180),
            window: window(),
        });
}

#[test]
fn implementation_starts_at_the_first_instant_of_the_window() {
    in_state(ChangeStatusKind::Scheduled)
        .by(alice())
        .at(t(60))
        .when(ChangeCommand::StartImplementation { id: cid() })
        .then([ChangeEvent::ImplementationStarted {
            id: cid(),
            at: t(60),
            by: alice().id,
        }]);
}

#[test]
fn completing_implementation_moves_to_review() {
    let (_, state) = in_state(ChangeStatusKind::Implement)
        .by(alice())
        .at(t(100))
        .when(ChangeCommand::CompleteImplementation { id: cid() })
        .then_ok();
    let state = state.expect("exists");
    assert_eq!(state.status, ChangeStatus::Review);
    assert_eq!(state.implemented_at, Some(t(100)));
}

#[test]
fn unsuccessful_close_carries_the_backout_record() {
    let code = CloseCode::Unsuccessful {
        backout: BackoutRecord {
            performed: false,
            notes: "forward-fixed instead".to_owned(),
        },
    };
    let (_, state) = in_state(ChangeStatusKind::Review)
        .by(alice())
        .when(ChangeCommand::Close {
            id: cid(),
            code: code.clone(),
            notes: "index rebuild failed".to_owned(),
        })
        .then_ok();
    assert_eq!(state.expect("exists").status, ChangeStatus::Closed { code });
}

// ---------------------------------------------------------------- cancel

#[test]
fn cancel_is_refused_in_review() {
    in_state(ChangeStatusKind::Review)
        .by(max())
        .when(ChangeCommand::Cancel {
            id: cid(),
            reason: "too late".to_owned(),
        })
        .then_error(DomainError::InvalidTransition {
            kind: opsledger_core::RecordKind::Change,
            state: "review".to_owned(),
            command: "cancel".to_owned(),
        });
}

#[test]
fn cancel_is_refused_once_closed() {
    in_state(ChangeStatusKind::Closed)
        .by(max())
        .when(ChangeCommand::Cancel {
            id: cid(),
            reason: "too late".to_owned(),
        })
        .then_error_code("invalid_transition");
}

#[test]
fn cancel_mid_implementation_is_allowed_and_needs_the_cancel_permission() {
    let cancel = ChangeCommand::Cancel {
        id: cid(),
        reason: "abort".to_owned(),
    };
    in_state(ChangeStatusKind::Implement)
        .by(alice())
        .when(cancel.clone())
        .then_error(DomainError::Forbidden {
            actor: alice().id,
            permission: Permission::ChangeCancel,
        });
    let (_, state) = in_state(ChangeStatusKind::Implement)
        .by(max())
        .when(cancel)
        .then_ok();
    assert_eq!(
        state.expect("exists").status,
        ChangeStatus::Canceled {
            reason: "abort".to_owned()
        }
    );
}

#[test]
fn revert_needs_the_revert_permission() {
    in_state(ChangeStatusKind::Assess)
        .by(alice())
        .when(ChangeCommand::RevertToNew {
            id: cid(),
            reason: "x".to_owned(),
        })
        .then_error(DomainError::Forbidden {
            actor: alice().id,
            permission: Permission::ChangeRevert,
        });
}

// ---------------------------------------------------------------- links and notes

#[test]
fn linking_a_fixed_problem_twice_decides_nothing_the_second_time() {
    let link = ChangeCommand::LinkFixesProblem {
        id: cid(),
        problem: pid(7),
    };
    let scenario = in_state(ChangeStatusKind::Assess)
        .by(alice())
        .when(link.clone())
        .and();
    scenario.when(link).then([]);
}

#[test]
fn a_never_implemented_change_cannot_have_caused_an_incident() {
    let mut events = events_to(ChangeStatusKind::Scheduled);
    events.push(ChangeEvent::Canceled {
        id: cid(),
        reason: "postponed".to_owned(),
        fixes_problems: Default::default(),
        caused_incidents: Default::default(),
        at: t(20),
        by: max().id,
    });
    given::<ChangeDecider>(events)
        .by(alice())
        .with_policy(policy())
        .when(ChangeCommand::RecordCausedIncident {
            id: cid(),
            incident: iid(1),
        })
        .then_error(DomainError::validation(
            "incident",
            "a change whose implementation never started cannot have caused an incident",
        ));
}

#[test]
fn a_closed_change_records_the_incident_it_caused() {
    let (_, state) = in_state(ChangeStatusKind::Closed)
        .by(alice())
        .when(ChangeCommand::RecordCausedIncident {
            id: cid(),
            incident: iid(3),
        })
        .then_ok();
    assert!(state.expect("exists").caused_incidents.contains(&iid(3)));
}

#[test]
fn work_notes_are_kept_in_order() {
    let (_, state) = in_state(ChangeStatusKind::Canceled)
        .by(alice())
        .when(ChangeCommand::AddWorkNote {
            id: cid(),
            note: "post-mortem scheduled".to_owned(),
        })
        .then_ok();
    let notes = state.expect("exists").work_notes;
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].note, "post-mortem scheduled");
}

// ---------------------------------------------------------------- identity

#[test]
fn a_command_for_another_change_is_refused() {
    in_state(ChangeStatusKind::New)
        .by(alice())
        .when(ChangeCommand::AddWorkNote {
            id: other_cid(9),
            note: "hi".to_owned(),
        })
        .then_error(DomainError::WrongRecord {
            kind: opsledger_core::RecordKind::Change,
            command_id: other_cid(9).to_string(),
            state_id: cid().to_string(),
        });
}

#[test]
fn a_change_is_requested_only_once() {
    in_state(ChangeStatusKind::New)
        .by(rita())
        .when(request_cmd(ChangeType::Normal))
        .then_error_code("already_exists");
}

#[test]
fn commands_on_a_missing_change_are_not_found() {
    given::<ChangeDecider>([])
        .by(alice())
        .when(ChangeCommand::AddWorkNote {
            id: cid(),
            note: "hi".to_owned(),
        })
        .then_error_code("not_found");
}

#[test]
fn the_schedule_entry_exists_only_while_booked() {
    let scheduled = given::<ChangeDecider>(events_to(ChangeStatusKind::Scheduled))
        .state()
        .clone()
        .expect("exists");
    let entry = scheduled.schedule_entry().expect("booked");
    assert_eq!(entry.window, window());
    assert_eq!(entry.cis, cis(&["db-01"]));
    let review = given::<ChangeDecider>(events_to(ChangeStatusKind::Review))
        .state()
        .clone()
        .expect("exists");
    assert_eq!(review.schedule_entry(), None);
}

// ---------------------------------------------------------------- audit fixes

fn without_cis(change_type: ChangeType) -> ChangeCommand {
    let mut cmd = request_cmd(change_type);
    if let ChangeCommand::Request { cis, .. } = &mut cmd {
        cis.clear();
    }
    cmd
}

fn freeze_policy(window: opsledger_core::TimeWindow) -> Policy {
    let mut p = policy();
    p.blackout_windows = vec![NamedWindow::once("freeze", window, CiScope::All)];
    p
}

#[test]
fn given_a_change_naming_no_ci_when_it_asks_for_authorisation_then_it_is_not_ready() {
    let cis_required = DomainError::validation(
        "cis",
        "name at least one affected CI before authorisation or scheduling",
    );
    // Normal: submitted to Assess, then refused at the request for authorisation.
    let events = run(
        &policy(),
        vec![
            (rita(), t(0), without_cis(ChangeType::Normal)),
            (alice(), t(1), plan_cmd(window())),
            (rita(), t(2), submit_cmd()),
        ],
    );
    given::<ChangeDecider>(events)
        .by(alice())
        .at(t(3))
        .with_policy(policy())
        .when(ChangeCommand::RequestAuthorization { id: cid() })
        .then_error(cis_required.clone());
    // Emergency and standard changes are refused at submission.
    for change_type in [
        ChangeType::Emergency,
        ChangeType::Standard {
            template: TEMPLATE.to_owned(),
        },
    ] {
        let events = run(
            &policy(),
            vec![
                (rita(), t(0), without_cis(change_type)),
                (alice(), t(1), plan_cmd(window())),
            ],
        );
        given::<ChangeDecider>(events)
            .by(rita())
            .at(t(2))
            .with_policy(policy())
            .when(submit_cmd())
            .then_error(cis_required.clone());
    }
}

#[test]
fn given_a_global_freeze_when_a_change_naming_no_ci_plans_into_it_then_it_is_refused() {
    let events = run(
        &policy(),
        vec![(rita(), t(0), without_cis(ChangeType::Normal))],
    );
    let err = given::<ChangeDecider>(events)
        .by(alice())
        .at(t(1))
        .with_policy(freeze_policy(win(0, 600)))
        .when(plan_cmd(window()))
        .then_error_code("schedule_conflict");
    assert!(err.to_string().contains("1 blocking"), "{err}");
}

#[test]
fn given_a_freeze_declared_after_scheduling_when_implementation_starts_then_it_is_refused() {
    // Scheduled for [60, 180) under a policy without freezes; the freeze arrives later.
    let err = in_state(ChangeStatusKind::Scheduled)
        .by(alice())
        .at(t(90))
        .with_policy(freeze_policy(win(80, 400)))
        .when(ChangeCommand::StartImplementation { id: cid() })
        .then_error_code("schedule_conflict");
    assert!(err.to_string().contains("blocking"), "{err}");
    // A freeze that does not touch the rest of the window does not stop it.
    in_state(ChangeStatusKind::Scheduled)
        .by(alice())
        .at(t(90))
        .with_policy(freeze_policy(win(180, 400)))
        .when(ChangeCommand::StartImplementation { id: cid() })
        .then_ok();
}

#[test]
fn given_a_freeze_accepted_when_scheduling_when_implementation_starts_inside_it_then_it_proceeds() {
    let steps = vec![
        (rita(), t(0), request_cmd(ChangeType::Normal)),
        (
            max(),
            t(1),
            ChangeCommand::Plan {
                id: cid(),
                window: window(),
                assignee: None,
                calendar: vec![],
                ci_relations: vec![],
                accept_conflicts: Some("freeze exception granted".to_owned()),
            },
        ),
        (rita(), t(2), submit_cmd()),
        (
            alice(),
            t(3),
            ChangeCommand::RequestAuthorization { id: cid() },
        ),
        (carol(), t(4), approve_cmd()),
    ];
    let events = run(&blackout_policy(), steps);
    given::<ChangeDecider>(events)
        .by(alice())
        .at(t(120))
        .with_policy(blackout_policy())
        .when(ChangeCommand::StartImplementation { id: cid() })
        .then_ok();
}

#[test]
fn given_another_requesters_change_when_a_requester_updates_or_submits_then_it_is_forbidden() {
    let rob = Actor::new("rob", [Role::Requester]);
    let update = ChangeCommand::Update {
        id: cid(),
        title: Some("Not my change".to_owned()),
        description: None,
        change_type: None,
        risk: None,
        cis: None,
        implementation_plan: None,
        backout_plan: None,
        test_plan: None,
    };
    let forbidden = DomainError::Forbidden {
        actor: ActorId::new("rob"),
        permission: Permission::ChangeRequest,
    };
    in_state(ChangeStatusKind::New)
        .by(rob.clone())
        .when(update.clone())
        .then_error(forbidden.clone());
    in_state(ChangeStatusKind::New)
        .by(rob)
        .when(submit_cmd())
        .then_error(forbidden);
    // The requester themself, and anyone who works changes, may.
    in_state(ChangeStatusKind::New)
        .by(rita())
        .when(update.clone())
        .then_ok();
    in_state(ChangeStatusKind::New)
        .by(alice())
        .when(update)
        .then_ok();
}

#[test]
fn given_a_policy_version_when_a_change_is_requested_then_the_event_and_record_pin_it() {
    let p = Policy {
        version: opsledger_core::policy::PolicyVersion(3),
        ..policy()
    };
    let (events, state) = given::<ChangeDecider>([])
        .by(rita())
        .with_policy(p)
        .when(request_cmd(ChangeType::Normal))
        .then_ok();
    assert!(matches!(
        events[0],
        ChangeEvent::Requested {
            policy_version: opsledger_core::policy::PolicyVersion(3),
            ..
        }
    ));
    assert_eq!(
        state.expect("exists").policy_version,
        opsledger_core::policy::PolicyVersion(3)
    );
}

#[test]
fn given_a_change_with_links_when_it_closes_or_is_canceled_then_the_event_carries_them() {
    let linked = |kind| {
        let mut events = events_to(kind);
        let state = given::<ChangeDecider>(events.clone())
            .by(alice())
            .at(t(62))
            .with_policy(policy())
            .when(ChangeCommand::LinkFixesProblem {
                id: cid(),
                problem: pid(1),
            })
            .then_ok();
        events.extend(state.0);
        events
    };
    let problems: std::collections::BTreeSet<_> = [pid(1)].into_iter().collect();
    let incidents: std::collections::BTreeSet<_> = [iid(1)].into_iter().collect();
    // Closed, after having caused an incident.
    let mut review = linked(ChangeStatusKind::Review);
    let caused = given::<ChangeDecider>(review.clone())
        .by(alice())
        .at(t(62))
        .with_policy(policy())
        .when(ChangeCommand::RecordCausedIncident {
            id: cid(),
            incident: iid(1),
        })
        .then_ok();
    review.extend(caused.0);
    let (events, _) = given::<ChangeDecider>(review)
        .by(alice())
        .at(t(63))
        .with_policy(policy())
        .when(ChangeCommand::Close {
            id: cid(),
            code: CloseCode::Successful,
            notes: "went fine".to_owned(),
        })
        .then_ok();
    assert!(matches!(
        &events[..],
        [ChangeEvent::Closed { fixes_problems, caused_incidents, .. }]
            if *fixes_problems == problems && *caused_incidents == incidents
    ));
    // Canceled before implementation.
    let (events, _) = given::<ChangeDecider>(linked(ChangeStatusKind::Scheduled))
        .by(max())
        .at(t(63))
        .with_policy(policy())
        .when(ChangeCommand::Cancel {
            id: cid(),
            reason: "superseded".to_owned(),
        })
        .then_ok();
    assert!(matches!(
        &events[..],
        [ChangeEvent::Canceled { fixes_problems, caused_incidents, .. }]
            if *fixes_problems == problems && caused_incidents.is_empty()
    ));
}
