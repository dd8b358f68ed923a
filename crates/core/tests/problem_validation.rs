//! Bad input: every validation rule of the problem lifecycle gives its specific error and no event.

use opsledger_core::policy::Limits;
use opsledger_core::problem::fixtures::{
    change_id, create, history, incident_id, pid, problem_agent, problem_manager, requester,
    run_from,
};
use opsledger_core::problem::{ProblemCommand, ProblemDecider, ProblemEvent, ProblemStatusKind};
use opsledger_core::testing::{actor, given};
use opsledger_core::{CiId, DomainError, Impact, Permission, Policy, Role, Urgency};
use std::collections::BTreeSet;

type S = ProblemStatusKind;

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

fn invalid(field: &str, reason: &str) -> DomainError {
    DomainError::validation(field, reason)
}

fn too_long(what: &str, limit: usize) -> DomainError {
    DomainError::LimitExceeded {
        what: what.to_owned(),
        limit,
    }
}

fn create_with(f: impl FnOnce(&mut ProblemCommand)) -> ProblemCommand {
    let mut cmd = create(pid());
    f(&mut cmd);
    cmd
}

/// Every (history, command, expected error) case; the harness asserts the error and so that
/// no event was produced.
fn check(events: Vec<ProblemEvent>, policy: Policy, cmd: ProblemCommand, expected: DomainError) {
    given::<ProblemDecider>(events)
        .with_policy(policy)
        .when(cmd)
        .then_error(expected);
}

#[test]
fn create_needs_a_title() {
    for blank in ["", "   ", "\n\t"] {
        let cmd = create_with(|c| {
            if let ProblemCommand::Create { title, .. } = c {
                *title = blank.to_owned();
            }
        });
        check(
            vec![],
            Policy::default(),
            cmd,
            invalid("title", "must not be empty"),
        );
    }
}

#[test]
fn create_title_and_description_are_bounded() {
    let long_title = create_with(|c| {
        if let ProblemCommand::Create { title, .. } = c {
            *title = "x".repeat(17);
        }
    });
    check(vec![], tight_policy(), long_title, too_long("title", 16));
    let long_description = create_with(|c| {
        if let ProblemCommand::Create {
            title, description, ..
        } = c
        {
            *title = "short".into();
            *description = "x".repeat(33);
        }
    });
    check(
        vec![],
        tight_policy(),
        long_description,
        too_long("description", 32),
    );
}

#[test]
fn create_rejects_blank_service_and_cis_and_too_many_cis() {
    let blank_service = create_with(|c| {
        if let ProblemCommand::Create { service, .. } = c {
            *service = Some(" ".into());
        }
    });
    check(
        vec![],
        Policy::default(),
        blank_service,
        invalid("service", "must not be empty"),
    );
    let blank_ci = create_with(|c| {
        if let ProblemCommand::Create { cis, .. } = c {
            cis.insert(CiId::from(""));
        }
    });
    check(
        vec![],
        Policy::default(),
        blank_ci,
        invalid("cis", "must not be empty"),
    );
    let many = create_with(|c| {
        if let ProblemCommand::Create {
            title,
            description,
            cis,
            ..
        } = c
        {
            *title = "short".into();
            *description = String::new();
            *cis = ["a", "b", "c"].into_iter().map(CiId::from).collect();
        }
    });
    check(vec![], tight_policy(), many, too_long("cis", 2));
}

#[test]
fn assign_rejects_blank_group_and_assignee() {
    check(
        history(Some(S::New)),
        Policy::default(),
        ProblemCommand::Assign {
            id: pid(),
            group: "".into(),
            assignee: None,
        },
        invalid("group", "must not be empty"),
    );
    check(
        history(Some(S::New)),
        Policy::default(),
        ProblemCommand::Assign {
            id: pid(),
            group: "db-team".into(),
            assignee: Some(" ".into()),
        },
        invalid("assignee", "must not be empty"),
    );
}

#[test]
fn reasons_and_notes_are_required() {
    let id = pid();
    let cases: Vec<(S, ProblemCommand, &str)> = vec![
        (
            S::New,
            ProblemCommand::Reprioritize {
                id,
                impact: Impact::Low,
                urgency: Urgency::Low,
                reason: " ".into(),
            },
            "reason",
        ),
        (
            S::RootCauseAnalysis,
            ProblemCommand::RecordRootCause {
                id,
                cause: "".into(),
            },
            "cause",
        ),
        (
            S::RootCauseAnalysis,
            ProblemCommand::StartFix {
                id,
                fix_notes: "".into(),
            },
            "fix_notes",
        ),
        (
            S::FixInProgress,
            ProblemCommand::ResolveFixed {
                id,
                notes: "".into(),
            },
            "notes",
        ),
        (
            S::RootCauseAnalysis,
            ProblemCommand::AcceptRisk {
                id,
                reason: "".into(),
            },
            "reason",
        ),
        (
            S::Assess,
            ProblemCommand::Cancel {
                id,
                reason: "".into(),
            },
            "reason",
        ),
        (
            S::Closed,
            ProblemCommand::Reanalyze {
                id,
                reason: "".into(),
            },
            "reason",
        ),
        (
            S::Closed,
            ProblemCommand::AddWorkNote {
                id,
                text: "".into(),
            },
            "text",
        ),
    ];
    for (from, cmd, field) in cases {
        check(
            history(Some(from)),
            Policy::default(),
            cmd.clone(),
            invalid(field, "must not be empty"),
        );
        // Too long is a limit, not a blank.
        let mut long = cmd;
        let text = "x".repeat(33);
        match &mut long {
            ProblemCommand::Reprioritize { reason, .. }
            | ProblemCommand::AcceptRisk { reason, .. }
            | ProblemCommand::Cancel { reason, .. }
            | ProblemCommand::Reanalyze { reason, .. } => *reason = text,
            ProblemCommand::RecordRootCause { cause, .. } => *cause = text,
            ProblemCommand::StartFix { fix_notes, .. } => *fix_notes = text,
            ProblemCommand::ResolveFixed { notes, .. } => *notes = text,
            ProblemCommand::AddWorkNote { text: t, .. } => *t = text,
            other => panic!("unexpected case {other:?}"),
        }
        check(
            history(Some(from)),
            tight_policy(),
            long,
            too_long(field, 32),
        );
    }
}

fn ke(
    symptom: &str,
    root_cause: &str,
    workaround: Option<&str>,
    cis: &[&str],
    update: bool,
) -> ProblemCommand {
    let affected_cis: BTreeSet<CiId> = cis.iter().copied().map(CiId::from).collect();
    if update {
        ProblemCommand::UpdateKnownError {
            id: pid(),
            symptom: symptom.into(),
            root_cause: root_cause.into(),
            workaround: workaround.map(str::to_owned),
            affected_cis,
        }
    } else {
        ProblemCommand::MarkKnownError {
            id: pid(),
            symptom: symptom.into(),
            root_cause: root_cause.into(),
            workaround: workaround.map(str::to_owned),
            affected_cis,
        }
    }
}

#[test]
fn known_error_fields_are_validated_on_publication_and_on_update() {
    let published = run_from(
        history(Some(S::RootCauseAnalysis)),
        &[ke("503s", "pool", None, &[], false)],
    );
    for update in [false, true] {
        let events = if update {
            published.clone()
        } else {
            history(Some(S::RootCauseAnalysis))
        };
        check(
            events.clone(),
            Policy::default(),
            ke("", "pool", None, &[], update),
            invalid("symptom", "must not be empty"),
        );
        check(
            events.clone(),
            Policy::default(),
            ke("503s", " ", None, &[], update),
            invalid("root_cause", "must not be empty"),
        );
        check(
            events.clone(),
            Policy::default(),
            ke("503s", "pool", Some(""), &[], update),
            invalid("workaround", "must not be empty"),
        );
        check(
            events.clone(),
            Policy::default(),
            ke("503s", "pool", None, &[""], update),
            invalid("affected_cis", "must not be empty"),
        );
        check(
            events.clone(),
            tight_policy(),
            ke("503s", "pool", None, &["a", "b", "c"], update),
            too_long("affected_cis", 2),
        );
        check(
            events,
            tight_policy(),
            ke("503s", "pool", Some(&"x".repeat(33)), &[], update),
            too_long("workaround", 32),
        );
    }
}

#[test]
fn links_are_bounded_by_the_policy() {
    // The fixture already holds incident 1 and change 1; the tight policy allows two of each.
    let two = run_from(
        history(Some(S::Assess)),
        &[
            ProblemCommand::LinkIncident {
                id: pid(),
                incident: incident_id(2),
            },
            ProblemCommand::LinkFixingChange {
                id: pid(),
                change: change_id(2),
            },
            ProblemCommand::AddWorkNote {
                id: pid(),
                text: "one".into(),
            },
            ProblemCommand::AddWorkNote {
                id: pid(),
                text: "two".into(),
            },
        ],
    );
    check(
        two.clone(),
        tight_policy(),
        ProblemCommand::LinkIncident {
            id: pid(),
            incident: incident_id(3),
        },
        too_long("incidents", 2),
    );
    check(
        two.clone(),
        tight_policy(),
        ProblemCommand::LinkFixingChange {
            id: pid(),
            change: change_id(3),
        },
        too_long("fixing_changes", 2),
    );
    check(
        two,
        tight_policy(),
        ProblemCommand::AddWorkNote {
            id: pid(),
            text: "three".into(),
        },
        too_long("work_notes", 2),
    );
}

#[test]
fn wrong_role_is_forbidden_naming_the_permission() {
    let id = pid();
    let cases: Vec<(Option<S>, opsledger_core::Actor, ProblemCommand, Permission)> = vec![
        (None, requester(), create(id), Permission::ProblemCreate),
        (
            Some(S::New),
            requester(),
            ProblemCommand::AddWorkNote {
                id,
                text: "hi".into(),
            },
            Permission::ProblemWork,
        ),
        (
            Some(S::New),
            actor("mo", &[Role::Manager]),
            ProblemCommand::Assess { id },
            Permission::ProblemWork,
        ),
        (
            Some(S::RootCauseAnalysis),
            actor("mo", &[Role::Manager]),
            ke("503s", "pool", None, &[], false),
            Permission::ProblemKnownError,
        ),
        (
            Some(S::FixInProgress),
            problem_agent(),
            ProblemCommand::AcceptRisk {
                id,
                reason: "r".into(),
            },
            Permission::ProblemAcceptRisk,
        ),
        (
            Some(S::Assess),
            problem_agent(),
            ProblemCommand::Cancel {
                id,
                reason: "r".into(),
            },
            Permission::ProblemCancel,
        ),
        (
            Some(S::Resolved),
            actor("cab", &[Role::CabMember]),
            ProblemCommand::Close { id },
            Permission::ProblemClose,
        ),
        (
            Some(S::Resolved),
            actor("mo", &[Role::Manager, Role::Agent]),
            ProblemCommand::Reanalyze {
                id,
                reason: "r".into(),
            },
            Permission::ProblemReanalyze,
        ),
    ];
    for (from, who, cmd, permission) in cases {
        let name = who.id.clone();
        given::<ProblemDecider>(history(from))
            .by(who)
            .when(cmd)
            .then_error(DomainError::Forbidden {
                actor: name,
                permission,
            });
    }
}

#[test]
fn a_policy_can_grant_problem_permissions_to_other_roles() {
    let mut policy = Policy::default();
    policy
        .authorization
        .grants
        .entry(Permission::ProblemAcceptRisk)
        .or_default()
        .insert(Role::Manager);
    given::<ProblemDecider>(history(Some(S::RootCauseAnalysis)))
        .with_policy(policy)
        .by(actor("mo", &[Role::Manager]))
        .when(ProblemCommand::AcceptRisk {
            id: pid(),
            reason: "Board decision".into(),
        })
        .then_ok();
    // The problem manager holds every problem permission by default.
    given::<ProblemDecider>(history(Some(S::Resolved)))
        .by(problem_manager())
        .when(ProblemCommand::Close { id: pid() })
        .then_ok();
}

#[test]
fn an_invalid_transition_wins_over_a_missing_permission_and_bad_fields() {
    // The table is checked before authorization and validation: the caller learns first that the
    // command makes no sense here.
    given::<ProblemDecider>(history(Some(S::New)))
        .by(requester())
        .when(ProblemCommand::AcceptRisk {
            id: pid(),
            reason: "".into(),
        })
        .then_error_code("invalid_transition");
    // And a missing permission wins over bad fields.
    given::<ProblemDecider>(history(Some(S::RootCauseAnalysis)))
        .by(requester())
        .when(ProblemCommand::AcceptRisk {
            id: pid(),
            reason: "".into(),
        })
        .then_error_code("forbidden");
}
