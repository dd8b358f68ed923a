//! Every validation rule gives its specific `DomainError` and no event.

#[path = "support/change_fixtures.rs"]
mod fixtures;

use fixtures::*;
use opsledger_core::change::{
    BackoutRecord, ChangeCommand, ChangeDecider, ChangeStatusKind, ChangeType, CiRelation,
    CloseCode,
};
use opsledger_core::policy::Limits;
use opsledger_core::testing::{Scenario, given, t};
use opsledger_core::{Actor, CiId, DomainError, Permission, Policy, Role, TimeWindow};

fn tight_policy() -> Policy {
    Policy {
        limits: Limits {
            max_title_bytes: 16,
            max_text_bytes: 32,
            max_links: 2,
        },
        ..policy()
    }
}

fn fresh() -> Scenario<ChangeDecider> {
    given::<ChangeDecider>([]).by(rita()).with_policy(policy())
}

fn in_state(kind: ChangeStatusKind) -> Scenario<ChangeDecider> {
    given::<ChangeDecider>(events_to(kind))
        .with_policy(policy())
        .at(t(10))
}

fn request_with(edit: impl FnOnce(&mut ChangeCommand)) -> ChangeCommand {
    let mut cmd = request_cmd(ChangeType::Normal);
    edit(&mut cmd);
    cmd
}

fn update_none() -> ChangeCommand {
    ChangeCommand::Update {
        id: cid(),
        title: None,
        description: None,
        change_type: None,
        risk: None,
        cis: None,
        implementation_plan: None,
        backout_plan: None,
        test_plan: None,
    }
}

#[test]
fn empty_title_is_refused() {
    fresh()
        .when(request_with(|c| {
            if let ChangeCommand::Request { title, .. } = c {
                *title = "   ".to_owned();
            }
        }))
        .then_error(DomainError::validation("title", "must not be empty"));
}

#[test]
fn overlong_title_is_refused() {
    given::<ChangeDecider>([])
        .by(rita())
        .with_policy(tight_policy())
        .when(request_cmd(ChangeType::Normal))
        .then_error(DomainError::LimitExceeded {
            what: "title".to_owned(),
            limit: 16,
        });
}

#[test]
fn overlong_plan_is_refused() {
    given::<ChangeDecider>([])
        .by(rita())
        .with_policy(tight_policy())
        .when(request_with(|c| {
            if let ChangeCommand::Request {
                title,
                description,
                backout_plan,
                ..
            } = c
            {
                *title = "short".to_owned();
                *description = String::new();
                *backout_plan = "x".repeat(33);
            }
        }))
        .then_error(DomainError::LimitExceeded {
            what: "backout_plan".to_owned(),
            limit: 32,
        });
}

#[test]
fn too_many_cis_are_refused() {
    given::<ChangeDecider>([])
        .by(rita())
        .with_policy(tight_policy())
        .when(request_with(|c| {
            if let ChangeCommand::Request {
                title,
                description,
                implementation_plan,
                cis: set,
                ..
            } = c
            {
                *title = "short".to_owned();
                *description = String::new();
                *implementation_plan = "go".to_owned();
                *set = cis(&["a", "b", "c"]);
            }
        }))
        .then_error(DomainError::LimitExceeded {
            what: "cis".to_owned(),
            limit: 2,
        });
}

#[test]
fn blank_ci_id_is_refused() {
    fresh()
        .when(request_with(|c| {
            if let ChangeCommand::Request { cis: set, .. } = c {
                set.insert(CiId::new(""));
            }
        }))
        .then_error(DomainError::validation("cis", "must not be empty"));
}

#[test]
fn blank_assignee_is_refused() {
    fresh()
        .when(request_with(|c| {
            if let ChangeCommand::Request { assignee, .. } = c {
                *assignee = Some(" ".into());
            }
        }))
        .then_error(DomainError::validation("assignee", "must not be empty"));
}

#[test]
fn requesting_needs_the_request_permission() {
    given::<ChangeDecider>([])
        .by(Actor::new("cab", [Role::CabMember]))
        .with_policy(policy())
        .when(request_cmd(ChangeType::Normal))
        .then_error(DomainError::Forbidden {
            actor: "cab".into(),
            permission: Permission::ChangeRequest,
        });
}

#[test]
fn update_naming_no_field_is_refused() {
    in_state(ChangeStatusKind::New)
        .by(rita())
        .when(update_none())
        .then_error(DomainError::validation(
            "update",
            "names no field to change",
        ));
}

#[test]
fn update_to_an_empty_title_is_refused() {
    let mut cmd = update_none();
    if let ChangeCommand::Update { title, .. } = &mut cmd {
        *title = Some(String::new());
    }
    in_state(ChangeStatusKind::New)
        .by(rita())
        .when(cmd)
        .then_error(DomainError::validation("title", "must not be empty"));
}

#[test]
fn update_to_an_unknown_template_is_refused() {
    let mut cmd = update_none();
    if let ChangeCommand::Update { change_type, .. } = &mut cmd {
        *change_type = Some(ChangeType::Standard {
            template: "nope".to_owned(),
        });
    }
    in_state(ChangeStatusKind::New)
        .by(rita())
        .when(cmd)
        .then_error_code("validation");
}

#[test]
fn inverted_window_is_refused() {
    in_state(ChangeStatusKind::New)
        .by(alice())
        .when(plan_cmd(TimeWindow::new(t(200), t(100))))
        .then_error(DomainError::validation(
            "window",
            "must start before it ends",
        ));
}

#[test]
fn empty_window_is_refused() {
    in_state(ChangeStatusKind::New)
        .by(alice())
        .when(plan_cmd(TimeWindow::new(t(200), t(200))))
        .then_error(DomainError::validation(
            "window",
            "must start before it ends",
        ));
}

#[test]
fn window_in_the_past_is_refused() {
    in_state(ChangeStatusKind::New)
        .by(alice())
        .at(t(300))
        .when(plan_cmd(win(100, 300)))
        .then_error(DomainError::validation("window", "must end after now"));
}

#[test]
fn blank_conflict_acceptance_reason_is_refused() {
    in_state(ChangeStatusKind::New)
        .by(max())
        .when(ChangeCommand::Plan {
            id: cid(),
            window: window(),
            assignee: None,
            calendar: vec![],
            ci_relations: vec![],
            accept_conflicts: Some(" ".to_owned()),
        })
        .then_error(DomainError::validation(
            "accept_conflicts",
            "must not be empty",
        ));
}

#[test]
fn oversized_calendar_is_refused() {
    let calendar = (0..3)
        .map(|n| booked(n, win(0, 10), &["x"], None))
        .collect();
    given::<ChangeDecider>(events_to(ChangeStatusKind::New))
        .by(alice())
        .at(t(10))
        .with_policy(tight_policy())
        .when(ChangeCommand::Plan {
            id: cid(),
            window: window(),
            assignee: None,
            calendar,
            ci_relations: vec![],
            accept_conflicts: None,
        })
        .then_error(DomainError::LimitExceeded {
            what: "calendar".to_owned(),
            limit: 2,
        });
}

#[test]
fn oversized_ci_graph_is_refused() {
    let edge = |p: &str, c: &str| CiRelation {
        parent: CiId::new(p),
        child: CiId::new(c),
    };
    given::<ChangeDecider>(events_to(ChangeStatusKind::New))
        .by(alice())
        .at(t(10))
        .with_policy(tight_policy())
        .when(ChangeCommand::Plan {
            id: cid(),
            window: window(),
            assignee: None,
            calendar: vec![],
            ci_relations: vec![edge("a", "b"), edge("b", "c"), edge("c", "d")],
            accept_conflicts: None,
        })
        .then_error(DomainError::LimitExceeded {
            what: "ci_relations".to_owned(),
            limit: 2,
        });
}

#[test]
fn rejection_without_reason_is_refused() {
    in_state(ChangeStatusKind::Authorize)
        .by(carol())
        .when(ChangeCommand::Reject {
            id: cid(),
            reason: String::new(),
        })
        .then_error(DomainError::validation("reason", "must not be empty"));
}

#[test]
fn overlong_approval_comment_is_refused() {
    given::<ChangeDecider>(events_to(ChangeStatusKind::Authorize))
        .by(carol())
        .at(t(10))
        .with_policy(tight_policy())
        .when(ChangeCommand::Approve {
            id: cid(),
            comment: Some("y".repeat(33)),
            calendar: vec![],
            ci_relations: vec![],
            accept_conflicts: None,
        })
        .then_error(DomainError::LimitExceeded {
            what: "comment".to_owned(),
            limit: 32,
        });
}

#[test]
fn close_without_notes_is_refused() {
    in_state(ChangeStatusKind::Review)
        .by(alice())
        .when(ChangeCommand::Close {
            id: cid(),
            code: CloseCode::Successful,
            notes: "\n".to_owned(),
        })
        .then_error(DomainError::validation("notes", "must not be empty"));
}

#[test]
fn unsuccessful_close_without_backout_notes_is_refused() {
    in_state(ChangeStatusKind::Review)
        .by(alice())
        .when(ChangeCommand::Close {
            id: cid(),
            code: CloseCode::Unsuccessful {
                backout: BackoutRecord {
                    performed: true,
                    notes: String::new(),
                },
            },
            notes: "failed".to_owned(),
        })
        .then_error(DomainError::validation(
            "code.backout.notes",
            "must not be empty",
        ));
}

#[test]
fn closing_needs_the_close_permission() {
    in_state(ChangeStatusKind::Review)
        .by(carol())
        .when(ChangeCommand::Close {
            id: cid(),
            code: CloseCode::Successful,
            notes: "ok".to_owned(),
        })
        .then_error(DomainError::Forbidden {
            actor: carol().id,
            permission: Permission::ChangeClose,
        });
}

#[test]
fn cancel_without_reason_is_refused() {
    in_state(ChangeStatusKind::New)
        .by(max())
        .when(ChangeCommand::Cancel {
            id: cid(),
            reason: String::new(),
        })
        .then_error(DomainError::validation("reason", "must not be empty"));
}

#[test]
fn revert_without_reason_is_refused() {
    in_state(ChangeStatusKind::Scheduled)
        .by(max())
        .when(ChangeCommand::RevertToNew {
            id: cid(),
            reason: " ".to_owned(),
        })
        .then_error(DomainError::validation("reason", "must not be empty"));
}

#[test]
fn blank_work_note_is_refused() {
    in_state(ChangeStatusKind::New)
        .by(alice())
        .when(ChangeCommand::AddWorkNote {
            id: cid(),
            note: String::new(),
        })
        .then_error(DomainError::validation("note", "must not be empty"));
}

#[test]
fn work_notes_are_bounded() {
    let scenario = given::<ChangeDecider>(events_to(ChangeStatusKind::New))
        .by(alice())
        .at(t(10))
        .with_policy(tight_policy());
    let note = |n: &str| ChangeCommand::AddWorkNote {
        id: cid(),
        note: n.to_owned(),
    };
    scenario
        .when(note("1"))
        .and()
        .when(note("2"))
        .and()
        .when(note("3"))
        .then_error(DomainError::LimitExceeded {
            what: "work_notes".to_owned(),
            limit: 2,
        });
}

#[test]
fn fixed_problems_are_bounded() {
    let link = |n| ChangeCommand::LinkFixesProblem {
        id: cid(),
        problem: pid(n),
    };
    given::<ChangeDecider>(events_to(ChangeStatusKind::New))
        .by(alice())
        .at(t(10))
        .with_policy(tight_policy())
        .when(link(1))
        .and()
        .when(link(2))
        .and()
        .when(link(3))
        .then_error(DomainError::LimitExceeded {
            what: "fixes_problems".to_owned(),
            limit: 2,
        });
}

#[test]
fn a_requester_cannot_do_agent_work() {
    in_state(ChangeStatusKind::New)
        .by(rita())
        .when(plan_cmd(window()))
        .then_error(DomainError::Forbidden {
            actor: rita().id,
            permission: Permission::ChangeWork,
        });
}

#[test]
fn table_check_comes_before_permission() {
    // A requester asking to close a New change learns the state is wrong, not the permission.
    in_state(ChangeStatusKind::New)
        .by(rita())
        .when(ChangeCommand::Close {
            id: cid(),
            code: CloseCode::Successful,
            notes: "ok".to_owned(),
        })
        .then_error_code("invalid_transition");
}

#[test]
fn permission_comes_before_validation() {
    in_state(ChangeStatusKind::New)
        .by(carol())
        .when(ChangeCommand::Cancel {
            id: cid(),
            reason: String::new(),
        })
        .then_error_code("forbidden");
}

// ---------------------------------------------------------------- audit fixes

fn plan_with(
    calendar: Vec<opsledger_core::change::ScheduledChange>,
    ci_relations: Vec<CiRelation>,
    accept_conflicts: Option<&str>,
) -> ChangeCommand {
    ChangeCommand::Plan {
        id: cid(),
        window: window(),
        assignee: None,
        calendar,
        ci_relations,
        accept_conflicts: accept_conflicts.map(str::to_owned),
    }
}

#[test]
fn given_a_calendar_entry_with_too_many_cis_when_planning_then_it_is_refused() {
    given::<ChangeDecider>(events_to(ChangeStatusKind::New))
        .by(alice())
        .at(t(10))
        .with_policy(tight_policy())
        .when(plan_with(
            vec![booked(1, win(0, 10), &["a", "b", "c"], None)],
            vec![],
            None,
        ))
        .then_error(DomainError::LimitExceeded {
            what: "calendar.cis".to_owned(),
            limit: 2,
        });
}

#[test]
fn given_a_ci_graph_naming_an_oversized_ci_when_planning_then_it_is_refused() {
    given::<ChangeDecider>(events_to(ChangeStatusKind::New))
        .by(alice())
        .at(t(10))
        .with_policy(tight_policy())
        .when(plan_with(
            vec![],
            vec![CiRelation {
                parent: CiId::new("x".repeat(17)),
                child: CiId::new("db-01"),
            }],
            None,
        ))
        .then_error(DomainError::LimitExceeded {
            what: "ci_relations".to_owned(),
            limit: 16,
        });
}

#[test]
fn given_150_blocking_conflicts_when_planning_then_the_first_100_and_the_total_are_reported() {
    let calendar: Vec<_> = (1..=150)
        .map(|n| booked(n, win(0, 600), &["db-01"], None))
        .collect();
    let err = given::<ChangeDecider>(events_to(ChangeStatusKind::New))
        .by(alice())
        .at(t(10))
        .with_policy(policy())
        .when(plan_with(calendar.clone(), vec![], None))
        .then_error_code("schedule_conflict");
    let DomainError::ScheduleConflict { conflicts, total } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(
        conflicts.len(),
        opsledger_core::change::MAX_REPORTED_CONFLICTS
    );
    assert_eq!(*total, 150);
    assert_eq!(err.to_string(), "the schedule has 150 blocking conflict(s)");
    // That many cannot be accepted wholesale: narrow the window or the CIs instead.
    given::<ChangeDecider>(events_to(ChangeStatusKind::New))
        .by(max())
        .at(t(10))
        .with_policy(policy())
        .when(plan_with(calendar, vec![], Some("accept everything")))
        .then_error(DomainError::LimitExceeded {
            what: "accept_conflicts (150 blocking conflicts)".to_owned(),
            limit: 100,
        });
}

#[test]
fn given_150_warnings_when_planning_then_the_event_lists_100_and_counts_the_rest() {
    // The same assignee booked on 150 other changes: warnings only.
    let calendar: Vec<_> = (1..=150)
        .map(|n| booked(n, win(0, 600), &["other"], Some("alice")))
        .collect();
    let (events, state) = given::<ChangeDecider>(events_to(ChangeStatusKind::New))
        .by(alice())
        .at(t(10))
        .with_policy(policy())
        .when(plan_with(calendar, vec![], None))
        .then_ok();
    let opsledger_core::change::ChangeEvent::Planned {
        warnings,
        warnings_omitted,
        ..
    } = &events[0]
    else {
        panic!("{events:?}")
    };
    assert_eq!(warnings.len(), 100);
    assert_eq!(*warnings_omitted, 50);
    let c = state.expect("exists");
    assert_eq!(c.schedule_warnings.len(), 100);
    assert_eq!(c.schedule_warnings_omitted, 50);
}

// ---------------------------------------------------------------- policy validation

fn with_normal(edit: impl FnOnce(&mut opsledger_core::policy::ApprovalRule)) -> Policy {
    let mut p = policy();
    edit(&mut p.approvals.normal);
    p
}

#[test]
fn the_default_policy_is_valid() {
    assert_eq!(Policy::default().validate(), Ok(()));
    assert_eq!(policy().validate(), Ok(()));
}

#[test]
fn given_a_rule_with_no_approver_role_when_validated_then_it_is_refused() {
    let p = with_normal(|r| {
        r.approver_roles.clear();
        r.board = vec!["carol".into(), "dave".into()];
    });
    assert_eq!(
        p.validate().map_err(|e| e.to_string()),
        Err(
            "invalid approvals.normal.approver_roles: names no role: nobody could ever approve, \
             whoever is on the board"
                .to_owned()
        )
    );
}

#[test]
fn given_min_approvals_of_zero_when_validated_then_it_is_refused() {
    let p = with_normal(|r| r.min_approvals = 0);
    assert_eq!(
        p.validate(),
        Err(DomainError::validation(
            "approvals.normal.min_approvals",
            "must be at least 1"
        ))
    );
}

#[test]
fn given_a_majority_or_all_quorum_without_a_board_when_validated_then_it_is_refused() {
    use opsledger_core::policy::Quorum;
    for quorum in [Quorum::Majority, Quorum::All] {
        let p = with_normal(|r| {
            r.quorum = quorum;
            r.board.clear();
        });
        assert_eq!(
            p.validate().map_err(|e| e.code()),
            Err("validation"),
            "{quorum:?}"
        );
        let err = p.validate().expect_err("refused");
        assert!(err.to_string().contains("approvals.normal.quorum"), "{err}");
    }
    // The emergency rule is checked too.
    let mut p = policy();
    p.approvals.emergency.quorum = Quorum::All;
    let err = p.validate().expect_err("refused");
    assert!(
        err.to_string().contains("approvals.emergency.quorum"),
        "{err}"
    );
}

#[test]
fn given_a_board_that_can_never_reach_min_approvals_or_repeats_a_member_then_it_is_refused() {
    let small = with_normal(|r| {
        r.board = vec!["carol".into()];
        r.min_approvals = 2;
    });
    assert!(small.validate().is_err());
    let repeated = with_normal(|r| r.board = vec!["carol".into(), "carol".into()]);
    assert!(repeated.validate().is_err());
    let blank = with_normal(|r| r.board = vec![" ".into()]);
    assert!(blank.validate().is_err());
}

#[test]
fn given_an_empty_window_or_template_id_when_validated_then_it_is_refused() {
    use opsledger_core::window::{CiScope, NamedWindow};
    let mut p = policy();
    p.blackout_windows = vec![NamedWindow::once("freeze", win(10, 10), CiScope::All)];
    assert_eq!(
        p.validate(),
        Err(DomainError::validation(
            "blackout_windows[0].window",
            "must start before it ends"
        ))
    );
    let mut p = policy();
    p.maintenance_windows = vec![NamedWindow::once(
        "nightly",
        win(0, 10),
        CiScope::Only(vec![]),
    )];
    assert!(p.validate().is_err());
    let mut p = policy();
    p.standard_changes.push(p.standard_changes[0].clone());
    assert!(p.validate().is_err());
    let mut p = policy();
    p.limits.max_links = 0;
    assert!(p.validate().is_err());
}

#[test]
fn validation_leaves_decide_alone_a_policy_is_used_as_given() {
    // `decide` does not validate the policy: an (invalid) all-quorum without a board still
    // decides as before, needing `min_approvals`.
    use opsledger_core::policy::Quorum;
    let p = with_normal(|r| r.quorum = Quorum::All);
    assert!(p.validate().is_err());
    let events = run(
        &p,
        vec![
            (rita(), t(0), request_cmd(ChangeType::Normal)),
            (alice(), t(1), plan_cmd(window())),
            (rita(), t(2), submit_cmd()),
            (
                alice(),
                t(3),
                ChangeCommand::RequestAuthorization { id: cid() },
            ),
        ],
    );
    let (_, state) = given::<ChangeDecider>(events)
        .by(carol())
        .at(t(4))
        .with_policy(p)
        .when(approve_cmd())
        .then_ok();
    assert_eq!(
        state.expect("exists").status.kind(),
        ChangeStatusKind::Scheduled
    );
}
