//! Bad input: each validation rule and each missing permission gives its specific error and no
//! event (a refused `decide` returns `Err`, which carries no events).

#[path = "support/incident_fixtures.rs"]
mod fixtures;

use fixtures::*;
use opsledger_core::incident::{
    AlertSource, CancelReason, CloseCode, Incident, IncidentCommand, IncidentCommandKind,
    IncidentDecider, IncidentEvent, IncidentStatusKind, MajorStatusKind,
};
use opsledger_core::policy::Limits;
use opsledger_core::testing::{given, t};
use opsledger_core::{
    Actor, ActorId, CiId, Decider, DomainError, GroupId, Named, Permission, Policy, Role,
};
use std::sync::Arc;

fn tight_policy() -> Policy {
    Policy {
        limits: Limits {
            max_title_bytes: 16,
            max_text_bytes: 32,
            max_links: 2,
        },
        ..Policy::default()
    }
}

fn decide_with(
    cmds: &[IncidentCommand],
    cmd: IncidentCommand,
    policy: Policy,
) -> Result<Vec<IncidentEvent>, DomainError> {
    let ctx =
        opsledger_core::Context::new(t(100), opsledger_core::testing::admin(), Arc::new(policy));
    IncidentDecider::decide(&fold(&history(cmds)), &cmd, &ctx)
}

fn in_status(status: IncidentStatusKind) -> Vec<IncidentCommand> {
    let mut cmds = vec![open_cmd()];
    cmds.extend(path_to(status, false));
    cmds
}

fn open_with(f: impl FnOnce(&mut IncidentCommand)) -> IncidentCommand {
    let mut cmd = open_cmd();
    f(&mut cmd);
    cmd
}

fn validation(field: &str, reason: &str) -> DomainError {
    DomainError::validation(field, reason)
}

fn limit(what: &str, limit: usize) -> DomainError {
    DomainError::LimitExceeded {
        what: what.to_owned(),
        limit,
    }
}

/// The permission each command needs, written out independently of the implementation.
fn permission_of(kind: IncidentCommandKind) -> Permission {
    use IncidentCommandKind as K;
    match kind {
        K::Open => Permission::IncidentOpen,
        K::Close => Permission::IncidentClose,
        K::AutoClose => Permission::IncidentAutoClose,
        K::Reopen | K::ReopenFromParent => Permission::IncidentReopen,
        K::AddComment => Permission::IncidentComment,
        K::Cancel => Permission::IncidentCancel,
        K::EscalateFunctional => Permission::IncidentEscalateFunctional,
        K::EscalateHierarchical => Permission::IncidentEscalateHierarchical,
        K::ProposeMajor => Permission::MajorIncidentPropose,
        K::AcceptMajor | K::RejectMajor => Permission::MajorIncidentDecide,
        K::PublishReview => Permission::ReviewPublish,
        K::Acknowledge
        | K::Assign
        | K::PutOnHold
        | K::Resume
        | K::Resolve
        | K::Reprioritize
        | K::LinkParent
        | K::LinkChild
        | K::LinkDuplicate
        | K::ResolveFromParent
        | K::ResolveFromProblem
        | K::CorrelateAlert
        | K::RecordImpactStart
        | K::RecordDetection
        | K::LinkProblem
        | K::LinkCausingChange
        | K::AddWorkNote => Permission::IncidentWork,
    }
}

/// Every (state, command) pair the table allows, with its fixture history.
fn allowed_pairs() -> Vec<(Vec<IncidentEvent>, IncidentCommandKind)> {
    let table = Incident::transitions();
    let mut pairs = Vec::new();
    for &kind in IncidentCommandKind::ALL {
        if table.allows(None, kind) {
            pairs.push((Vec::new(), kind));
        }
        for &status in IncidentStatusKind::ALL {
            if table.allows(Some(status), kind) {
                pairs.push((history(&commands_to(status, kind)), kind));
            }
        }
    }
    pairs
}

// ----- permissions ----------------------------------------------------------------------------

#[test]
fn an_actor_without_roles_is_forbidden_every_command_naming_the_permission() {
    for (events, kind) in allowed_pairs() {
        assert_eq!(
            decide_as(&events, &valid_command(kind), nobody()),
            Err(DomainError::Forbidden {
                actor: ActorId::new("nobody"),
                permission: permission_of(kind),
            }),
            "{kind:?}"
        );
    }
}

#[test]
fn a_requester_may_only_open_comment_close_and_reopen_their_own_incident() {
    for (events, kind) in allowed_pairs() {
        let own = decide_as(&events, &valid_command(kind), carol());
        let others = decide_as(&events, &valid_command(kind), dave());
        let needed = permission_of(kind);
        match needed {
            Permission::IncidentClose
            | Permission::IncidentReopen
            | Permission::IncidentComment => {
                assert!(own.is_ok(), "carol may {kind:?} her incident: {own:?}");
                assert_eq!(
                    others,
                    Err(DomainError::Forbidden {
                        actor: ActorId::new("dave"),
                        permission: needed
                    }),
                    "dave may not {kind:?} carol's incident"
                );
            }
            Permission::IncidentOpen => {
                // The fixture opens for carol and routes to a group: service-desk work.
                assert!(matches!(own, Err(DomainError::Forbidden { .. })), "{own:?}");
            }
            _ => {
                assert_eq!(
                    own,
                    Err(DomainError::Forbidden {
                        actor: ActorId::new("carol"),
                        permission: needed
                    }),
                    "{kind:?}"
                );
            }
        }
    }
}

#[test]
fn an_agent_may_do_everything_but_decide_majors_publish_reviews_and_auto_close() {
    for (events, kind) in allowed_pairs() {
        let result = decide_as(&events, &valid_command(kind), alice());
        match permission_of(kind) {
            Permission::MajorIncidentDecide
            | Permission::ReviewPublish
            | Permission::IncidentAutoClose => {
                assert_eq!(result.map_err(|e| e.code()), Err("forbidden"), "{kind:?}")
            }
            _ => assert!(result.is_ok(), "alice may {kind:?}: {result:?}"),
        }
    }
}

#[test]
fn grants_are_policy_data() {
    let mut policy = Policy::default();
    policy
        .authorization
        .grants
        .entry(Permission::ReviewPublish)
        .or_default()
        .insert(Role::Agent);
    let cmds = {
        let mut c = vec![open_cmd()];
        c.extend(major_commands(MajorStatusKind::Accepted));
        c.extend(path_to(IncidentStatusKind::Resolved, false));
        c
    };
    let ctx = opsledger_core::Context::new(t(100), alice(), Arc::new(policy));
    IncidentDecider::decide(&fold(&history(&cmds)), &review_cmd(), &ctx).expect("granted");
}

#[test]
fn a_worker_role_may_close_for_the_caller_even_if_not_the_caller() {
    let ops = Actor::new("ops-bot", [Role::Agent]);
    let result = decide_as(
        &history(&in_status(IncidentStatusKind::Resolved)),
        &IncidentCommand::Close { id: INC },
        ops,
    );
    assert!(result.is_ok(), "{result:?}");
}

#[test]
fn the_system_role_auto_closes_and_holds_only_what_process_managers_send() {
    let resolved = history(&in_status(IncidentStatusKind::Resolved));
    let auto_close = IncidentCommand::AutoClose { id: INC };
    assert!(decide_as(&resolved, &auto_close, system()).is_ok());
    // The engine's role is no person's: it holds no permission of the service desk's own.
    for (events, kind) in allowed_pairs() {
        let needed = permission_of(kind);
        let result = decide_as(&events, &valid_command(kind), system());
        match needed {
            // Escalations: an SLA definition may ask for one at breach. Cancel: a duplicate
            // recorded on its original is canceled by the engine.
            Permission::IncidentAutoClose
            | Permission::IncidentWork
            | Permission::IncidentReopen
            | Permission::IncidentCancel
            | Permission::IncidentEscalateFunctional
            | Permission::IncidentEscalateHierarchical => {}
            _ => assert_eq!(
                result,
                Err(DomainError::Forbidden {
                    actor: system().id,
                    permission: needed
                }),
                "{kind:?}"
            ),
        }
    }
}

// ----- open -----------------------------------------------------------------------------------

#[test]
fn open_rejects_an_empty_or_blank_title() {
    for title in ["", "   \t"] {
        let cmd = open_with(|c| {
            if let IncidentCommand::Open { title: t, .. } = c {
                *t = title.to_owned();
            }
        });
        given::<IncidentDecider>([])
            .when(cmd)
            .then_error(validation("title", "must not be empty"));
    }
}

#[test]
fn open_rejects_a_title_over_the_limit() {
    let cmd = open_with(|c| {
        if let IncidentCommand::Open { title, .. } = c {
            *title = "x".repeat(17);
        }
    });
    assert_eq!(
        decide_with(&[], cmd, tight_policy()),
        Err(limit("title", 16))
    );
}

#[test]
fn open_rejects_a_description_over_the_limit() {
    let cmd = open_with(|c| {
        if let IncidentCommand::Open {
            title, description, ..
        } = c
        {
            *title = "short".into();
            *description = "x".repeat(33);
        }
    });
    assert_eq!(
        decide_with(&[], cmd, tight_policy()),
        Err(limit("description", 32))
    );
}

#[test]
fn open_rejects_a_blank_caller() {
    let cmd = open_with(|c| {
        if let IncidentCommand::Open { caller, .. } = c {
            *caller = ActorId::new(" ");
        }
    });
    given::<IncidentDecider>([])
        .when(cmd)
        .then_error(validation("caller", "must not be empty"));
}

#[test]
fn open_rejects_repeated_or_too_many_cis() {
    let cmd = |cis: &[&str]| {
        open_with(|c| {
            if let IncidentCommand::Open { title, cis: x, .. } = c {
                *title = "short".into();
                *x = cis.iter().map(|s| CiId::new(*s)).collect();
            }
        })
    };
    assert_eq!(
        decide_with(&[], cmd(&["db-1", "db-1"]), tight_policy()),
        Err(validation("cis", "db-1 is listed twice"))
    );
    assert_eq!(
        decide_with(&[], cmd(&["db-1", "db-2", "db-3"]), tight_policy()),
        Err(limit("cis", 2))
    );
    assert_eq!(
        decide_with(&[], cmd(&[""]), tight_policy()),
        Err(validation("cis", "must not be empty"))
    );
}

#[test]
fn open_rejects_blank_routing() {
    let cmd = open_with(|c| {
        if let IncidentCommand::Open { group, .. } = c {
            *group = Some(GroupId::new(""));
        }
    });
    given::<IncidentDecider>([])
        .when(cmd)
        .then_error(validation("group", "must not be empty"));
    let cmd = open_with(|c| {
        if let IncidentCommand::Open { assignee, .. } = c {
            *assignee = Some(ActorId::new(""));
        }
    });
    given::<IncidentDecider>([])
        .when(cmd)
        .then_error(validation("assignee", "must not be empty"));
}

#[test]
fn open_rejects_a_bad_alert() {
    let with_alert = |dedup_key: &str, source: &str, seen_at| {
        open_with(|c| {
            if let IncidentCommand::Open { alert, .. } = c {
                *alert = Some(AlertSource {
                    dedup_key: dedup_key.into(),
                    source: source.into(),
                    seen_at,
                });
            }
        })
    };
    given::<IncidentDecider>([])
        .when(with_alert("", "prometheus", None))
        .then_error(validation("alert.dedup_key", "must not be empty"));
    given::<IncidentDecider>([])
        .when(with_alert(KEY, " ", None))
        .then_error(validation("alert.source", "must not be empty"));
    given::<IncidentDecider>([])
        .at(t(0))
        .when(with_alert(KEY, "prometheus", Some(t(1))))
        .then_error_code("validation");
}

// ----- free text on every command that takes some ---------------------------------------------

#[test]
fn blank_required_text_is_refused_with_its_field() {
    let ip = in_status(IncidentStatusKind::InProgress);
    let resolved = in_status(IncidentStatusKind::Resolved);
    let proposed = {
        let mut c = vec![open_cmd()];
        c.extend(major_commands(MajorStatusKind::Proposed));
        c
    };
    let accepted_resolved = {
        let mut c = vec![open_cmd()];
        c.extend(major_commands(MajorStatusKind::Accepted));
        c.extend(path_to(IncidentStatusKind::Resolved, false));
        c
    };
    let child = {
        let mut c = vec![open_cmd(), valid_command(IncidentCommandKind::LinkParent)];
        c.extend(path_to(IncidentStatusKind::InProgress, false));
        c
    };
    let awaiting = in_status(IncidentStatusKind::OnHold);
    let blank = "  ".to_owned();
    let cases: Vec<(&[IncidentCommand], IncidentCommand, &str)> = vec![
        (
            &ip,
            IncidentCommand::Resolve {
                id: INC,
                code: CloseCode::SolvedPermanently,
                notes: blank.clone(),
            },
            "notes",
        ),
        (
            &resolved,
            IncidentCommand::Reopen {
                id: INC,
                reason: blank.clone(),
            },
            "reason",
        ),
        (
            &ip,
            IncidentCommand::Cancel {
                id: INC,
                reason: CancelReason::Other {
                    text: blank.clone(),
                },
            },
            "reason.text",
        ),
        (
            &ip,
            IncidentCommand::Reprioritize {
                id: INC,
                impact: opsledger_core::Impact::High,
                urgency: opsledger_core::Urgency::High,
                reason: blank.clone(),
            },
            "reason",
        ),
        (
            &ip,
            IncidentCommand::EscalateFunctional {
                id: INC,
                to_group: GroupId::new("l2"),
                reason: blank.clone(),
            },
            "reason",
        ),
        (
            &ip,
            IncidentCommand::EscalateFunctional {
                id: INC,
                to_group: GroupId::new(""),
                reason: "r".into(),
            },
            "to_group",
        ),
        (
            &ip,
            IncidentCommand::EscalateHierarchical {
                id: INC,
                to: ActorId::new("mona"),
                reason: blank.clone(),
            },
            "reason",
        ),
        (
            &ip,
            IncidentCommand::EscalateHierarchical {
                id: INC,
                to: ActorId::new(""),
                reason: "r".into(),
            },
            "to",
        ),
        (
            &ip,
            IncidentCommand::ProposeMajor {
                id: INC,
                reason: blank.clone(),
            },
            "reason",
        ),
        (
            &proposed,
            IncidentCommand::RejectMajor {
                id: INC,
                reason: blank.clone(),
            },
            "reason",
        ),
        (
            &accepted_resolved,
            IncidentCommand::PublishReview {
                id: INC,
                summary: blank.clone(),
                findings: String::new(),
                action_items: vec![],
            },
            "summary",
        ),
        (
            &accepted_resolved,
            IncidentCommand::PublishReview {
                id: INC,
                summary: "s".into(),
                findings: String::new(),
                action_items: vec![blank.clone()],
            },
            "action_items",
        ),
        (
            &child,
            IncidentCommand::ResolveFromParent {
                id: INC,
                parent: PARENT,
                code: CloseCode::SolvedWorkaround,
                notes: blank.clone(),
            },
            "notes",
        ),
        (
            &awaiting,
            IncidentCommand::ResolveFromProblem {
                id: INC,
                problem: PROBLEM,
                notes: blank.clone(),
            },
            "notes",
        ),
        (
            &ip,
            IncidentCommand::AddWorkNote {
                id: INC,
                text: blank.clone(),
            },
            "text",
        ),
        (
            &ip,
            IncidentCommand::Assign {
                id: INC,
                group: Some(GroupId::new("")),
                assignee: None,
            },
            "group",
        ),
        (
            &ip,
            IncidentCommand::Assign {
                id: INC,
                group: None,
                assignee: Some(ActorId::new(" ")),
            },
            "assignee",
        ),
    ];
    for (cmds, cmd, field) in cases {
        assert_eq!(
            decide_with(cmds, cmd.clone(), Policy::default()),
            Err(validation(field, "must not be empty")),
            "{cmd:?}"
        );
    }
}

#[test]
fn text_over_the_limit_is_refused_with_the_limit() {
    // The fixture's texts exceed the tight limits, so open under the default policy first.
    let ip = in_status(IncidentStatusKind::InProgress);
    let long = "x".repeat(33);
    let cases = [
        (
            IncidentCommand::Resolve {
                id: INC,
                code: CloseCode::SolvedPermanently,
                notes: long.clone(),
            },
            "notes",
        ),
        (
            IncidentCommand::AddWorkNote {
                id: INC,
                text: long.clone(),
            },
            "text",
        ),
        (
            IncidentCommand::ProposeMajor {
                id: INC,
                reason: long.clone(),
            },
            "reason",
        ),
    ];
    for (cmd, what) in cases {
        assert_eq!(decide_with(&ip, cmd, tight_policy()), Err(limit(what, 32)));
    }
}

#[test]
fn an_assignment_needs_a_group_or_an_assignee() {
    assert_eq!(
        decide_with(
            &in_status(IncidentStatusKind::InProgress),
            IncidentCommand::Assign {
                id: INC,
                group: None,
                assignee: None
            },
            Policy::default()
        ),
        Err(validation("assignee", "give a group, an assignee or both"))
    );
}

#[test]
fn link_collections_are_bounded_by_the_limits() {
    let ip = in_status(IncidentStatusKind::InProgress);
    let mut cmds = ip.clone();
    for n in 0..2u128 {
        let i = opsledger_core::IncidentId(uuid::Uuid::from_u128(1000 + n));
        cmds.push(IncidentCommand::LinkChild { id: INC, child: i });
        cmds.push(IncidentCommand::LinkDuplicate {
            id: INC,
            duplicate: i,
        });
        cmds.push(IncidentCommand::LinkProblem {
            id: INC,
            problem: opsledger_core::ProblemId(uuid::Uuid::from_u128(2000 + n)),
        });
        cmds.push(IncidentCommand::LinkCausingChange {
            id: INC,
            change: opsledger_core::ChangeId(uuid::Uuid::from_u128(3000 + n)),
        });
        cmds.push(IncidentCommand::AddWorkNote {
            id: INC,
            text: "note".into(),
        });
    }
    let cases = [
        (valid_command(IncidentCommandKind::LinkChild), "children"),
        (
            valid_command(IncidentCommandKind::LinkDuplicate),
            "duplicates",
        ),
        (valid_command(IncidentCommandKind::LinkProblem), "problems"),
        (
            valid_command(IncidentCommandKind::LinkCausingChange),
            "caused_by_changes",
        ),
        (
            IncidentCommand::AddWorkNote {
                id: INC,
                text: "note".into(),
            },
            "work_notes",
        ),
    ];
    for (cmd, what) in cases {
        assert_eq!(
            decide_with(&cmds, cmd, tight_policy()),
            Err(limit(what, 2)),
            "{what}"
        );
    }
    let mut accepted = vec![open_cmd()];
    accepted.extend(major_commands(MajorStatusKind::Accepted));
    accepted.extend(path_to(IncidentStatusKind::Resolved, false));
    assert_eq!(
        decide_with(
            &accepted,
            IncidentCommand::PublishReview {
                id: INC,
                summary: "s".into(),
                findings: String::new(),
                action_items: vec!["a".into(), "b".into(), "c".into()],
            },
            tight_policy()
        ),
        Err(limit("action_items", 2))
    );
}

#[test]
fn a_repeat_alert_from_the_future_is_refused() {
    assert_eq!(
        decide_with(
            &in_status(IncidentStatusKind::InProgress),
            IncidentCommand::CorrelateAlert {
                id: INC,
                dedup_key: KEY.into(),
                seen_at: t(101),
                via: None,
            },
            Policy::default()
        ),
        Err(DomainError::validation(
            "seen_at",
            format!("{} lies in the future (now is {})", t(101), t(100))
        ))
    );
}
