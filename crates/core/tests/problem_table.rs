//! The problem transition table, exercised exhaustively, and one given/when/then case per rule.

use opsledger_core::problem::fixtures::{
    change_id, create, history, incident_id, pid, problem_agent, problem_id, problem_manager,
    run_from,
};
use opsledger_core::problem::{
    FixOutcome, KnownError, Problem, ProblemCommand, ProblemCommandKind, ProblemDecider,
    ProblemEvent, ProblemStatus, ProblemStatusKind, ResolutionCode,
};
use opsledger_core::testing::{admin, given, given_state, t, t0};
use opsledger_core::{
    CiId, Decider, DomainError, GroupId, Impact, Named, Permission, Policy, Priority, RecordKind,
    Urgency,
};
use std::collections::{BTreeMap, BTreeSet};

type S = ProblemStatusKind;
type C = ProblemCommandKind;

fn status(state: &Option<Problem>) -> Option<S> {
    state.as_ref().map(|p| p.status.kind())
}

fn ke_event(revision: u32) -> ProblemEvent {
    ProblemEvent::KnownErrorPublished {
        id: pid(),
        title: "Database connection pool exhaustion".into(),
        service: Some("payments".into()),
        priority: Priority::High,
        known_error: KnownError {
            symptom: "Checkout returns 503 under load".into(),
            root_cause: "Pool too small".into(),
            workaround: Some("Restart the app pods".into()),
            affected_cis: [CiId::from("db-prod-01")].into_iter().collect(),
            published_at: t(0),
            revised_at: t(0),
            revision,
        },
        at: t(0),
        by: "pat".into(),
    }
}

/// Valid commands of `kind` for a problem built by `fixtures::history` (several variants where
/// the command has several outcomes in the table).
fn valid_commands(kind: C) -> Vec<ProblemCommand> {
    let id = pid();
    match kind {
        C::Create => vec![create(id)],
        C::Assign => vec![ProblemCommand::Assign {
            id,
            group: GroupId::from("db-team"),
            assignee: Some("dora".into()),
        }],
        C::Reprioritize => vec![ProblemCommand::Reprioritize {
            id,
            impact: Impact::Low,
            urgency: Urgency::Low,
            reason: "Only one tenant affected".into(),
        }],
        C::Assess => vec![ProblemCommand::Assess { id }],
        C::StartAnalysis => vec![ProblemCommand::StartAnalysis { id }],
        C::RecordRootCause => vec![ProblemCommand::RecordRootCause {
            id,
            cause: "Connection leak in the retry path".into(),
        }],
        C::MarkKnownError => vec![ProblemCommand::MarkKnownError {
            id,
            symptom: "Checkout returns 503 under load".into(),
            root_cause: "Pool too small".into(),
            workaround: Some("Restart the app pods".into()),
            affected_cis: [CiId::from("db-prod-01")].into_iter().collect(),
        }],
        C::UpdateKnownError => vec![ProblemCommand::UpdateKnownError {
            id,
            symptom: "Checkout returns 503 under load".into(),
            root_cause: "Pool too small".into(),
            workaround: None,
            affected_cis: BTreeSet::new(),
        }],
        C::StartFix => vec![ProblemCommand::StartFix {
            id,
            fix_notes: "Resize the pool".into(),
        }],
        C::ResolveFixed => vec![ProblemCommand::ResolveFixed {
            id,
            notes: "Resized".into(),
        }],
        C::AcceptRisk => vec![ProblemCommand::AcceptRisk {
            id,
            reason: "Legacy system retires next quarter".into(),
        }],
        C::MarkDuplicate => vec![ProblemCommand::MarkDuplicate {
            id,
            of: problem_id(2),
        }],
        C::Cancel => vec![ProblemCommand::Cancel {
            id,
            reason: "Not a problem".into(),
        }],
        C::Close => vec![ProblemCommand::Close { id }],
        C::Reanalyze => vec![ProblemCommand::Reanalyze {
            id,
            reason: "It recurred".into(),
        }],
        C::LinkIncident => vec![ProblemCommand::LinkIncident {
            id,
            incident: incident_id(2),
        }],
        C::UnlinkIncident => vec![ProblemCommand::UnlinkIncident {
            id,
            incident: incident_id(1),
        }],
        C::LinkFixingChange => vec![ProblemCommand::LinkFixingChange {
            id,
            change: change_id(2),
        }],
        C::RecordFixChangeOutcome => vec![
            ProblemCommand::RecordFixChangeOutcome {
                id,
                change: change_id(1),
                successful: true,
                change_name: None,
            },
            ProblemCommand::RecordFixChangeOutcome {
                id,
                change: change_id(1),
                successful: false,
                change_name: None,
            },
        ],
        C::RecordFixChangeCanceled => vec![ProblemCommand::RecordFixChangeCanceled {
            id,
            change: change_id(1),
            change_name: None,
        }],
        C::AddWorkNote => vec![ProblemCommand::AddWorkNote {
            id,
            text: "Paired with the DBA".into(),
        }],
    }
}

/// The state a command of `kind` is tried in: the fixture history, plus a published known
/// error when the command updates one.
fn history_for(from: Option<S>, kind: C) -> Vec<ProblemEvent> {
    let mut events = history(from);
    if kind == C::UpdateKnownError && from.is_some() {
        events.push(ke_event(1));
    }
    events
}

/// Every (history, command) pair tried for `kind` in `from`: each valid command in the
/// fixture history, plus one fixture per further guard, so that every target of a row with
/// several targets is reached.
fn cases(from: Option<S>, kind: C) -> Vec<(Vec<ProblemEvent>, ProblemCommand)> {
    let mut out: Vec<_> = valid_commands(kind)
        .into_iter()
        .map(|cmd| (history_for(from, kind), cmd))
        .collect();
    if kind == C::RecordFixChangeCanceled && from == Some(S::FixInProgress) {
        // Another fixing change succeeded during this fix: canceling the last pending one
        // completes it (the `CANCEL_DONE` guard).
        let succeeded = run_from(
            history(from),
            &[
                ProblemCommand::LinkFixingChange {
                    id: pid(),
                    change: change_id(2),
                },
                ProblemCommand::RecordFixChangeOutcome {
                    id: pid(),
                    change: change_id(2),
                    successful: true,
                    change_name: None,
                },
            ],
        );
        out.push((
            succeeded,
            ProblemCommand::RecordFixChangeCanceled {
                id: pid(),
                change: change_id(1),
                change_name: None,
            },
        ));
    }
    out
}

#[test]
fn every_state_and_command_pair_obeys_the_table() {
    let table = Problem::transitions();
    let froms: Vec<Option<S>> = std::iter::once(None)
        .chain(S::ALL.iter().copied().map(Some))
        .collect();
    let mut used_rows = BTreeSet::new();
    let mut pairs = 0;
    for &from in &froms {
        for &kind in C::ALL {
            for (events, cmd) in cases(from, kind) {
                pairs += 1;
                let state = ProblemDecider::fold(events.iter());
                assert_eq!(
                    status(&state),
                    from,
                    "fixture for {from:?} is in the wrong state"
                );
                let ctx = opsledger_core::Context::new(
                    t(100),
                    admin(),
                    std::sync::Arc::new(Policy::default()),
                );
                let result = ProblemDecider::decide(&state, &cmd, &ctx);
                let label = format!("{} x {}", from.map_or("none", Named::name), kind.name());
                match (from, kind == C::Create) {
                    (None, false) => assert_eq!(
                        result,
                        Err(DomainError::NotFound {
                            kind: RecordKind::Problem,
                            id: pid().to_string()
                        }),
                        "{label}"
                    ),
                    (Some(_), true) => assert_eq!(
                        result,
                        Err(DomainError::AlreadyExists {
                            kind: RecordKind::Problem,
                            id: pid().to_string(),
                            name: None,
                        }),
                        "{label}"
                    ),
                    _ if table.allows(from, kind) => {
                        let produced = result.unwrap_or_else(|e| panic!("{label}: {e:?}"));
                        assert!(!produced.is_empty(), "{label}: no event");
                        let after = produced.iter().fold(state.clone(), ProblemDecider::evolve);
                        let to = status(&after).expect("exists after a decided command");
                        let targets: Vec<S> = table.targets(from, kind).collect();
                        assert!(targets.contains(&to), "{label}: {to:?} not in {targets:?}");
                        let row = table
                            .rows
                            .iter()
                            .position(|r| r.from == from && r.command == kind && r.to == to)
                            .expect("a row for the move");
                        used_rows.insert(row);
                    }
                    _ => assert_eq!(
                        result,
                        Err(DomainError::InvalidTransition {
                            kind: RecordKind::Problem,
                            state: from.map_or("none", Named::name).to_owned(),
                            command: kind.name().to_owned(),
                        }),
                        "{label}"
                    ),
                }
            }
        }
    }
    // One command per kind, two outcomes, and the extra fixture of the `CANCEL_DONE` guard.
    assert_eq!(pairs, 7 * (C::ALL.len() + 1) + 1);
    let unused: Vec<_> = (0..table.rows.len())
        .filter(|i| !used_rows.contains(i))
        .map(|i| table.rows[i])
        .collect();
    assert!(unused.is_empty(), "rows never exercised: {unused:?}");
}

#[test]
fn table_names_are_unique_and_snake_case() {
    for names in [
        S::ALL.iter().map(|s| s.name()).collect::<Vec<_>>(),
        C::ALL.iter().map(|c| c.name()).collect::<Vec<_>>(),
    ] {
        let unique: BTreeSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len());
        assert!(
            names
                .iter()
                .all(|n| n.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        );
    }
    // The table's names are the serde names.
    for s in S::ALL {
        assert_eq!(serde_json::to_value(s).unwrap(), s.name());
    }
    for c in C::ALL {
        assert_eq!(serde_json::to_value(c).unwrap(), c.name());
    }
    let markdown = Problem::transitions().to_markdown();
    assert!(
        markdown.contains(
            "| root_cause_analysis | accept_risk | a root cause is recorded | resolved |"
        )
    );
    assert!(
        Problem::transitions()
            .to_mermaid()
            .starts_with("stateDiagram-v2")
    );
}

// ---------------------------------------------------------------------------------------------
// Identity.

#[test]
fn a_command_on_a_missing_problem_is_not_found() {
    given::<ProblemDecider>([])
        .when(ProblemCommand::Assess { id: pid() })
        .then_error_code("not_found");
}

#[test]
fn creating_an_existing_problem_is_refused() {
    given::<ProblemDecider>(history(Some(S::New)))
        .when(create(pid()))
        .then_error_code("already_exists");
}

#[test]
fn a_command_for_another_problem_is_refused() {
    given::<ProblemDecider>(history(Some(S::New)))
        .when(ProblemCommand::AddWorkNote {
            id: problem_id(9),
            text: "hello".into(),
        })
        .then_error(DomainError::WrongRecord {
            kind: RecordKind::Problem,
            command_id: problem_id(9).to_string(),
            state_id: pid().to_string(),
        });
}

// ---------------------------------------------------------------------------------------------
// The main path.

#[test]
fn create_opens_a_new_problem_with_the_priority_of_the_policy_matrix() {
    let mut policy = Policy::default();
    policy.priority_matrix.cells[0][1] = Priority::Critical;
    let (events, state) = given::<ProblemDecider>([])
        .by(problem_manager())
        .with_policy(policy)
        .when(create(pid()))
        .then_ok();
    let p = state.expect("created");
    assert_eq!(p.status, ProblemStatus::New);
    assert_eq!(
        p.priority,
        Priority::Critical,
        "High x Medium under the custom matrix"
    );
    assert_eq!(p.opened_at, t0());
    assert_eq!(p.opened_by, "pat".into());
    assert!(matches!(
        events[0],
        ProblemEvent::Created {
            priority: Priority::Critical,
            ..
        }
    ));
}

#[test]
fn assess_requires_an_assignee() {
    let events = run_from(Vec::new(), &[create(pid())]);
    given::<ProblemDecider>(events)
        .when(ProblemCommand::Assess { id: pid() })
        .then_error(DomainError::validation(
            "assignee",
            "requires: an assignee is set",
        ));
}

#[test]
fn assess_moves_new_to_assess_once_assigned() {
    let state = given::<ProblemDecider>(history(Some(S::New)))
        .by(problem_agent())
        .when(ProblemCommand::Assess { id: pid() })
        .then([ProblemEvent::Assessed {
            id: pid(),
            at: t0(),
            by: "alice".into(),
        }]);
    let p = state.expect("exists");
    assert_eq!(p.status, ProblemStatus::Assess);
    assert_eq!(p.assessed_at, Some(t0()));
}

#[test]
fn start_analysis_moves_assess_to_root_cause_analysis() {
    let (_, state) = given::<ProblemDecider>(history(Some(S::Assess)))
        .when(ProblemCommand::StartAnalysis { id: pid() })
        .then_ok();
    let p = state.expect("exists");
    assert_eq!(p.status, ProblemStatus::RootCauseAnalysis);
    assert_eq!(p.rca_started_at, Some(t0()));
}

#[test]
fn start_fix_requires_a_recorded_root_cause() {
    let mut events = history(Some(S::Assess));
    events = run_from(events, &[ProblemCommand::StartAnalysis { id: pid() }]);
    given::<ProblemDecider>(events)
        .when(ProblemCommand::StartFix {
            id: pid(),
            fix_notes: "Resize".into(),
        })
        .then_error(DomainError::validation(
            "cause_notes",
            "requires: a root cause is recorded",
        ));
}

#[test]
fn start_fix_records_fix_notes_and_moves_to_fix_in_progress() {
    let (_, state) = given::<ProblemDecider>(history(Some(S::RootCauseAnalysis)))
        .when(ProblemCommand::StartFix {
            id: pid(),
            fix_notes: "Resize the pool".into(),
        })
        .then_ok();
    let p = state.expect("exists");
    assert_eq!(p.status, ProblemStatus::FixInProgress);
    assert_eq!(p.fix_notes.as_deref(), Some("Resize the pool"));
    assert_eq!(p.fix_started_at, Some(t0()));
}

#[test]
fn record_root_cause_replaces_the_cause_during_the_fix() {
    let (_, state) = given::<ProblemDecider>(history(Some(S::FixInProgress)))
        .when(ProblemCommand::RecordRootCause {
            id: pid(),
            cause: "Refined cause".into(),
        })
        .then_ok();
    assert_eq!(
        state.expect("exists").cause_notes.as_deref(),
        Some("Refined cause")
    );
}

#[test]
fn resolve_fixed_resolves_with_fix_applied_and_carries_the_linked_incidents() {
    let state = given::<ProblemDecider>(history(Some(S::FixInProgress)))
        .by(problem_agent())
        .when(ProblemCommand::ResolveFixed {
            id: pid(),
            notes: "Resized".into(),
        })
        .then([ProblemEvent::Resolved {
            id: pid(),
            code: ResolutionCode::FixApplied,
            notes: "Resized".into(),
            linked_incidents: [incident_id(1)].into_iter().collect(),
            at: t0(),
            by: "alice".into(),
        }]);
    let p = state.expect("exists");
    assert_eq!(
        p.status,
        ProblemStatus::Resolved {
            code: ResolutionCode::FixApplied
        }
    );
    assert_eq!(p.resolved_at, Some(t0()));
    assert_eq!(p.resolution_notes.as_deref(), Some("Resized"));
}

#[test]
fn close_keeps_the_resolution_code() {
    given::<ProblemDecider>(history(Some(S::Resolved)))
        .by(problem_manager())
        .when(ProblemCommand::Close { id: pid() })
        .then([ProblemEvent::Closed {
            id: pid(),
            code: ResolutionCode::FixApplied,
            at: t0(),
            by: "pat".into(),
        }]);
}

#[test]
fn close_requires_the_close_permission() {
    given::<ProblemDecider>(history(Some(S::Resolved)))
        .by(problem_agent())
        .when(ProblemCommand::Close { id: pid() })
        .then_error(DomainError::Forbidden {
            actor: "alice".into(),
            permission: Permission::ProblemClose,
        });
}

// ---------------------------------------------------------------------------------------------
// Risk acceptance, duplicates, cancellation, re-analysis.

#[test]
fn accept_risk_from_root_cause_analysis_resolves_with_risk_accepted() {
    let (events, state) = given::<ProblemDecider>(history(Some(S::RootCauseAnalysis)))
        .by(problem_manager())
        .when(ProblemCommand::AcceptRisk {
            id: pid(),
            reason: "Retires next quarter".into(),
        })
        .then_ok();
    assert!(matches!(
        &events[..],
        [ProblemEvent::Resolved { code: ResolutionCode::RiskAccepted, notes, .. }] if notes == "Retires next quarter"
    ));
    assert_eq!(
        state.expect("exists").status,
        ProblemStatus::Resolved {
            code: ResolutionCode::RiskAccepted
        }
    );
}

#[test]
fn accept_risk_during_the_fix_is_allowed_and_then_closes_as_risk_accepted() {
    let state = given::<ProblemDecider>(history(Some(S::FixInProgress)))
        .by(problem_manager())
        .when(ProblemCommand::AcceptRisk {
            id: pid(),
            reason: "Fix too costly".into(),
        })
        .and()
        .when(ProblemCommand::Close { id: pid() })
        .then_ok()
        .1;
    assert_eq!(
        state.expect("exists").status,
        ProblemStatus::Closed {
            code: ResolutionCode::RiskAccepted
        }
    );
}

#[test]
fn accept_risk_requires_the_accept_risk_permission() {
    given::<ProblemDecider>(history(Some(S::RootCauseAnalysis)))
        .by(problem_agent())
        .when(ProblemCommand::AcceptRisk {
            id: pid(),
            reason: "x".into(),
        })
        .then_error(DomainError::Forbidden {
            actor: "alice".into(),
            permission: Permission::ProblemAcceptRisk,
        });
}

#[test]
fn accept_risk_before_analysis_is_an_invalid_transition() {
    given::<ProblemDecider>(history(Some(S::Assess)))
        .when(ProblemCommand::AcceptRisk {
            id: pid(),
            reason: "x".into(),
        })
        .then_error_code("invalid_transition");
}

#[test]
fn mark_duplicate_closes_at_once_and_carries_the_links_to_move() {
    let state = given::<ProblemDecider>(history(Some(S::Assess)))
        .by(problem_manager())
        .when(ProblemCommand::MarkDuplicate {
            id: pid(),
            of: problem_id(2),
        })
        .then([ProblemEvent::MarkedDuplicate {
            id: pid(),
            of: problem_id(2),
            linked_incidents: [incident_id(1)].into_iter().collect(),
            fixing_changes: BTreeMap::from([(change_id(1), FixOutcome::Pending)]),
            at: t0(),
            by: "pat".into(),
        }]);
    let p = state.expect("exists");
    assert_eq!(
        p.status,
        ProblemStatus::Closed {
            code: ResolutionCode::Duplicate { of: problem_id(2) }
        }
    );
    assert_eq!(p.closed_at, Some(t0()));
    assert_eq!(p.resolved_at, None);
}

#[test]
fn a_problem_cannot_duplicate_itself() {
    given::<ProblemDecider>(history(Some(S::New)))
        .when(ProblemCommand::MarkDuplicate {
            id: pid(),
            of: pid(),
        })
        .then_error(DomainError::validation(
            "of",
            "a problem cannot duplicate itself",
        ));
}

#[test]
fn mark_duplicate_and_cancel_require_the_cancel_permission() {
    for cmd in [
        ProblemCommand::MarkDuplicate {
            id: pid(),
            of: problem_id(2),
        },
        ProblemCommand::Cancel {
            id: pid(),
            reason: "Not a problem".into(),
        },
    ] {
        given::<ProblemDecider>(history(Some(S::New)))
            .by(problem_agent())
            .when(cmd)
            .then_error(DomainError::Forbidden {
                actor: "alice".into(),
                permission: Permission::ProblemCancel,
            });
    }
}

#[test]
fn cancel_closes_at_once_with_canceled_from_every_open_state() {
    for from in [S::New, S::Assess, S::RootCauseAnalysis, S::FixInProgress] {
        let (_, state) = given::<ProblemDecider>(history(Some(from)))
            .when(ProblemCommand::Cancel {
                id: pid(),
                reason: "Not a problem".into(),
            })
            .then_ok();
        let p = state.expect("exists");
        assert_eq!(
            p.status,
            ProblemStatus::Closed {
                code: ResolutionCode::Canceled
            }
        );
        assert_eq!(p.resolution_notes.as_deref(), Some("Not a problem"));
    }
}

#[test]
fn cancel_after_resolution_is_an_invalid_transition() {
    given::<ProblemDecider>(history(Some(S::Resolved)))
        .when(ProblemCommand::Cancel {
            id: pid(),
            reason: "x".into(),
        })
        .then_error_code("invalid_transition");
}

#[test]
fn reanalyze_a_closed_problem_returns_to_rca_counts_and_clears_the_resolution() {
    let mut events = history(Some(S::Closed));
    events.push(ke_event(1));
    let (produced, state) = given::<ProblemDecider>(events)
        .by(problem_manager())
        .at(t(500))
        .when(ProblemCommand::Reanalyze {
            id: pid(),
            reason: "It recurred".into(),
        })
        .then_ok();
    assert_eq!(
        produced,
        vec![ProblemEvent::Reanalyzed {
            id: pid(),
            reason: "It recurred".into(),
            previous_code: ResolutionCode::FixApplied,
            at: t(500),
            by: "pat".into(),
        }]
    );
    let p = state.expect("exists");
    assert_eq!(p.status, ProblemStatus::RootCauseAnalysis);
    assert_eq!(p.reanalysis_count, 1);
    assert_eq!(p.rca_started_at, Some(t(500)));
    assert_eq!(
        (p.resolved_at, p.closed_at, p.fix_started_at),
        (None, None, None)
    );
    assert_eq!(p.resolution_notes, None);
    assert!(p.cause_notes.is_some(), "cause notes survive re-analysis");
    assert!(
        p.known_error.is_some(),
        "the known error survives re-analysis"
    );
    assert!(
        p.incidents.contains(&incident_id(1)),
        "links survive re-analysis"
    );
}

#[test]
fn reanalyze_a_resolved_problem_returns_to_rca() {
    let (_, state) = given::<ProblemDecider>(history(Some(S::Resolved)))
        .by(problem_manager())
        .when(ProblemCommand::Reanalyze {
            id: pid(),
            reason: "Fix did not hold".into(),
        })
        .then_ok();
    let p = state.expect("exists");
    assert_eq!(p.status, ProblemStatus::RootCauseAnalysis);
    assert_eq!(p.reanalysis_count, 1);
}

#[test]
fn reanalyze_a_canceled_problem_is_allowed() {
    let events = run_from(
        history(Some(S::New)),
        &[ProblemCommand::Cancel {
            id: pid(),
            reason: "Thought it was noise".into(),
        }],
    );
    given::<ProblemDecider>(events)
        .by(problem_manager())
        .when(ProblemCommand::Reanalyze {
            id: pid(),
            reason: "It was not noise".into(),
        })
        .then_ok();
}

#[test]
fn reanalyze_requires_the_reanalyze_permission() {
    given::<ProblemDecider>(history(Some(S::Closed)))
        .by(problem_agent())
        .when(ProblemCommand::Reanalyze {
            id: pid(),
            reason: "x".into(),
        })
        .then_error(DomainError::Forbidden {
            actor: "alice".into(),
            permission: Permission::ProblemReanalyze,
        });
}

fn duplicate_history() -> Vec<ProblemEvent> {
    run_from(
        history(Some(S::RootCauseAnalysis)),
        &[ProblemCommand::MarkDuplicate {
            id: pid(),
            of: problem_id(2),
        }],
    )
}

#[test]
fn a_duplicate_is_not_reanalyzed_its_original_is() {
    let err = given::<ProblemDecider>(duplicate_history())
        .when(ProblemCommand::Reanalyze {
            id: pid(),
            reason: "x".into(),
        })
        .then_error_code("validation");
    assert!(err.to_string().contains("duplicate"), "{err}");
}

#[test]
fn reanalyze_of_an_open_problem_is_an_invalid_transition() {
    given::<ProblemDecider>(history(Some(S::FixInProgress)))
        .when(ProblemCommand::Reanalyze {
            id: pid(),
            reason: "x".into(),
        })
        .then_error_code("invalid_transition");
}

// ---------------------------------------------------------------------------------------------
// Known errors.

fn mark_ke() -> ProblemCommand {
    ProblemCommand::MarkKnownError {
        id: pid(),
        symptom: "Checkout returns 503 under load".into(),
        root_cause: "Pool too small".into(),
        workaround: Some("Restart the app pods".into()),
        affected_cis: [CiId::from("app-01"), CiId::from("db-prod-01")]
            .into_iter()
            .collect(),
    }
}

fn update_ke(workaround: Option<&str>) -> ProblemCommand {
    ProblemCommand::UpdateKnownError {
        id: pid(),
        symptom: "Checkout returns 503 under load".into(),
        root_cause: "Pool too small".into(),
        workaround: workaround.map(str::to_owned),
        affected_cis: [CiId::from("db-prod-01")].into_iter().collect(),
    }
}

#[test]
fn mark_known_error_publishes_revision_one_with_everything_the_kedb_needs() {
    let state = given::<ProblemDecider>(history(Some(S::RootCauseAnalysis)))
        .by(problem_agent())
        .at(t(30))
        .when(mark_ke())
        .then([ProblemEvent::KnownErrorPublished {
            id: pid(),
            title: "Database connection pool exhaustion".into(),
            service: Some("payments".into()),
            priority: Priority::High,
            known_error: KnownError {
                symptom: "Checkout returns 503 under load".into(),
                root_cause: "Pool too small".into(),
                workaround: Some("Restart the app pods".into()),
                affected_cis: [CiId::from("app-01"), CiId::from("db-prod-01")]
                    .into_iter()
                    .collect(),
                published_at: t(30),
                revised_at: t(30),
                revision: 1,
            },
            at: t(30),
            by: "alice".into(),
        }]);
    assert_eq!(
        state.expect("exists").known_error.map(|k| k.revision),
        Some(1)
    );
}

#[test]
fn update_known_error_publishes_the_next_revision_and_keeps_the_first_publication_time() {
    let (events, state) = given::<ProblemDecider>(history(Some(S::RootCauseAnalysis)))
        .at(t(30))
        .when(mark_ke())
        .and()
        .at(t(60))
        .when(update_ke(None))
        .and()
        .at(t(90))
        .when(update_ke(Some("Fail over to the replica")))
        .then_ok();
    let ProblemEvent::KnownErrorPublished { known_error, .. } = &events[0] else {
        panic!("expected a publication, got {events:?}");
    };
    assert_eq!(known_error.revision, 3);
    assert_eq!(known_error.published_at, t(30));
    assert_eq!(known_error.revised_at, t(90));
    assert_eq!(
        state.expect("exists").known_error.as_ref(),
        Some(known_error)
    );
}

#[test]
fn marking_a_known_error_twice_is_refused_use_update() {
    let mut events = history(Some(S::FixInProgress));
    events.push(ke_event(1));
    given::<ProblemDecider>(events)
        .when(mark_ke())
        .then_error(DomainError::validation(
            "known_error",
            "a known error is already published; use update_known_error",
        ));
}

#[test]
fn updating_a_known_error_that_was_never_published_is_refused() {
    given::<ProblemDecider>(history(Some(S::FixInProgress)))
        .when(update_ke(None))
        .then_error(DomainError::validation(
            "known_error",
            "no known error is published yet; use mark_known_error",
        ));
}

#[test]
fn no_known_error_before_analysis() {
    for from in [S::New, S::Assess] {
        given::<ProblemDecider>(history(Some(from)))
            .when(mark_ke())
            .then_error_code("invalid_transition");
    }
}

#[test]
fn a_risk_accepted_closed_problem_can_still_be_published_to_the_kedb() {
    let events = run_from(
        history(Some(S::RootCauseAnalysis)),
        &[
            ProblemCommand::AcceptRisk {
                id: pid(),
                reason: "Retires next quarter".into(),
            },
            ProblemCommand::Close { id: pid() },
        ],
    );
    given::<ProblemDecider>(events)
        .by(problem_agent())
        .when(mark_ke())
        .then_ok();
}

#[test]
fn known_error_commands_require_the_known_error_permission() {
    given::<ProblemDecider>(history(Some(S::RootCauseAnalysis)))
        .by(opsledger_core::testing::actor(
            "carl",
            &[opsledger_core::Role::ChangeManager],
        ))
        .when(mark_ke())
        .then_error(DomainError::Forbidden {
            actor: "carl".into(),
            permission: Permission::ProblemKnownError,
        });
}

#[test]
fn a_duplicate_takes_no_known_error_and_no_incident() {
    given::<ProblemDecider>(duplicate_history())
        .when(mark_ke())
        .then_error_code("validation");
    given::<ProblemDecider>(duplicate_history())
        .when(ProblemCommand::LinkIncident {
            id: pid(),
            incident: incident_id(7),
        })
        .then_error_code("validation");
    // Moving its links to the original is allowed.
    given::<ProblemDecider>(duplicate_history())
        .when(ProblemCommand::UnlinkIncident {
            id: pid(),
            incident: incident_id(1),
        })
        .then_ok();
}

// ---------------------------------------------------------------------------------------------
// Fixing changes.

fn outcome(change: u16, successful: bool) -> ProblemCommand {
    ProblemCommand::RecordFixChangeOutcome {
        id: pid(),
        change: change_id(change),
        successful,
        change_name: None,
    }
}

#[test]
fn the_last_pending_fix_succeeding_moves_a_fix_in_progress_problem_to_resolved() {
    let state = given::<ProblemDecider>(history(Some(S::FixInProgress)))
        .by(admin())
        .when(outcome(1, true))
        .then([
            ProblemEvent::FixChangeOutcomeRecorded {
                id: pid(),
                change: change_id(1),
                outcome: FixOutcome::Successful,
                at: t0(),
                by: "root".into(),
            },
            ProblemEvent::Resolved {
                id: pid(),
                code: ResolutionCode::FixApplied,
                notes: format!(
                    "fixing change {} closed successfully; no fixing change pending",
                    change_id(1)
                ),
                linked_incidents: [incident_id(1)].into_iter().collect(),
                at: t0(),
                by: "root".into(),
            },
        ]);
    let p = state.expect("exists");
    assert_eq!(
        p.status,
        ProblemStatus::Resolved {
            code: ResolutionCode::FixApplied
        }
    );
    assert_eq!(p.fixing_changes[&change_id(1)], FixOutcome::Successful);
}

#[test]
fn a_fix_succeeding_while_another_is_pending_keeps_the_fix_in_progress() {
    let events = run_from(
        history(Some(S::FixInProgress)),
        &[ProblemCommand::LinkFixingChange {
            id: pid(),
            change: change_id(2),
        }],
    );
    let (produced, state) = given::<ProblemDecider>(events)
        .when(outcome(1, true))
        .then_ok();
    assert_eq!(produced.len(), 1);
    assert_eq!(
        state.as_ref().expect("exists").status,
        ProblemStatus::FixInProgress
    );
    // The second one completes the fix.
    let (produced, state) = given_state::<ProblemDecider>(state)
        .when(outcome(2, true))
        .then_ok();
    assert_eq!(produced.len(), 2, "outcome and resolution");
    assert_eq!(
        state.expect("exists").status,
        ProblemStatus::Resolved {
            code: ResolutionCode::FixApplied
        }
    );
}

#[test]
fn a_failed_fix_keeps_the_fix_in_progress_and_a_successful_retry_resolves() {
    let events = run_from(history(Some(S::FixInProgress)), &[outcome(1, false)]);
    let state: Option<Problem> = ProblemDecider::fold(events.iter());
    assert_eq!(
        state.as_ref().expect("exists").status,
        ProblemStatus::FixInProgress
    );
    let (produced, state) = given::<ProblemDecider>(events)
        .when(ProblemCommand::LinkFixingChange {
            id: pid(),
            change: change_id(2),
        })
        .and()
        .when(outcome(2, true))
        .then_ok();
    assert_eq!(produced.len(), 2, "outcome and resolution");
    assert_eq!(
        state.expect("exists").status,
        ProblemStatus::Resolved {
            code: ResolutionCode::FixApplied
        }
    );
}

#[test]
fn a_fix_succeeding_outside_fix_in_progress_is_only_recorded() {
    for from in [
        S::New,
        S::Assess,
        S::RootCauseAnalysis,
        S::Resolved,
        S::Closed,
    ] {
        let (produced, state) = given::<ProblemDecider>(history(Some(from)))
            .when(outcome(1, true))
            .then_ok();
        assert_eq!(produced.len(), 1, "{from:?}");
        assert_eq!(status(&state), Some(from));
    }
}

#[test]
fn a_fix_outcome_is_recorded_once_and_only_for_linked_changes() {
    given::<ProblemDecider>(history(Some(S::RootCauseAnalysis)))
        .when(outcome(1, false))
        .and()
        .when(outcome(1, true))
        .then_error_code("validation");
    given::<ProblemDecider>(history(Some(S::FixInProgress)))
        .when(outcome(9, true))
        .then_error_code("validation");
}

#[test]
fn a_fixing_change_is_linked_once_and_not_to_a_closed_problem() {
    given::<ProblemDecider>(history(Some(S::Assess)))
        .when(ProblemCommand::LinkFixingChange {
            id: pid(),
            change: change_id(1),
        })
        .then_error_code("validation");
    given::<ProblemDecider>(history(Some(S::Closed)))
        .when(ProblemCommand::LinkFixingChange {
            id: pid(),
            change: change_id(2),
        })
        .then_error_code("invalid_transition");
}

// ---------------------------------------------------------------------------------------------
// Incidents, assignment, priority, notes.

#[test]
fn incidents_link_in_every_state_once_and_unlink_only_when_linked() {
    for from in S::ALL.iter().copied() {
        given::<ProblemDecider>(history(Some(from)))
            .when(ProblemCommand::LinkIncident {
                id: pid(),
                incident: incident_id(2),
            })
            .then_ok();
        given::<ProblemDecider>(history(Some(from)))
            .when(ProblemCommand::LinkIncident {
                id: pid(),
                incident: incident_id(1),
            })
            .then_error_code("validation");
        given::<ProblemDecider>(history(Some(from)))
            .when(ProblemCommand::UnlinkIncident {
                id: pid(),
                incident: incident_id(2),
            })
            .then_error_code("validation");
    }
}

#[test]
fn resolution_carries_the_incidents_linked_at_that_moment() {
    let (events, _) = given::<ProblemDecider>(history(Some(S::FixInProgress)))
        .when(ProblemCommand::LinkIncident {
            id: pid(),
            incident: incident_id(2),
        })
        .and()
        .when(ProblemCommand::UnlinkIncident {
            id: pid(),
            incident: incident_id(1),
        })
        .and()
        .when(ProblemCommand::ResolveFixed {
            id: pid(),
            notes: "done".into(),
        })
        .then_ok();
    assert!(matches!(
        &events[..],
        [ProblemEvent::Resolved { linked_incidents, .. }]
            if *linked_incidents == [incident_id(2)].into_iter().collect()
    ));
}

#[test]
fn assignment_is_for_open_problems_and_must_change_something() {
    given::<ProblemDecider>(history(Some(S::New)))
        .when(ProblemCommand::Assign {
            id: pid(),
            group: "problem-team".into(),
            assignee: Some("pat".into()),
        })
        .then_error(DomainError::validation(
            "assignee",
            "the problem is already assigned so",
        ));
    given::<ProblemDecider>(history(Some(S::Resolved)))
        .when(ProblemCommand::Assign {
            id: pid(),
            group: "db-team".into(),
            assignee: None,
        })
        .then_error_code("invalid_transition");
    let (_, state) = given::<ProblemDecider>(history(Some(S::FixInProgress)))
        .when(ProblemCommand::Assign {
            id: pid(),
            group: "db-team".into(),
            assignee: None,
        })
        .then_ok();
    let p = state.expect("exists");
    assert_eq!(p.group, Some("db-team".into()));
    assert_eq!(p.assignee, None);
}

#[test]
fn reprioritize_recomputes_priority_and_must_change_something() {
    let (events, state) = given::<ProblemDecider>(history(Some(S::Assess)))
        .when(ProblemCommand::Reprioritize {
            id: pid(),
            impact: Impact::Low,
            urgency: Urgency::Low,
            reason: "One tenant only".into(),
        })
        .then_ok();
    assert!(matches!(
        events[0],
        ProblemEvent::Reprioritized {
            priority: Priority::Planning,
            ..
        }
    ));
    assert_eq!(state.expect("exists").priority, Priority::Planning);
    given::<ProblemDecider>(history(Some(S::Assess)))
        .when(ProblemCommand::Reprioritize {
            id: pid(),
            impact: Impact::High,
            urgency: Urgency::Medium,
            reason: "same".into(),
        })
        .then_error_code("validation");
}

#[test]
fn work_notes_are_accepted_in_every_state() {
    for from in S::ALL.iter().copied() {
        let (_, state) = given::<ProblemDecider>(history(Some(from)))
            .by(problem_agent())
            .when(ProblemCommand::AddWorkNote {
                id: pid(),
                text: "note".into(),
            })
            .then_ok();
        let p = state.expect("exists");
        assert_eq!(p.work_notes.last().map(|n| n.text.as_str()), Some("note"));
        assert_eq!(p.work_notes.last().map(|n| n.by.as_str()), Some("alice"));
    }
}

#[test]
fn problem_work_needs_the_work_permission() {
    given::<ProblemDecider>(history(Some(S::New)))
        .by(opsledger_core::testing::actor(
            "rita",
            &[opsledger_core::Role::Requester],
        ))
        .when(ProblemCommand::Assess { id: pid() })
        .then_error(DomainError::Forbidden {
            actor: "rita".into(),
            permission: Permission::ProblemWork,
        });
}

// ---------------------------------------------------------------------------------------------
// Evolve is total.

#[test]
fn evolve_ignores_events_that_do_not_apply() {
    let events = history(Some(S::Resolved));
    // Before creation, only a creation applies.
    for e in &events[1..] {
        assert_eq!(ProblemDecider::evolve(None, e), None, "{e:?}");
    }
    // Another problem's events leave this one untouched.
    let state: Option<Problem> = ProblemDecider::fold(events.iter());
    let mut other = ke_event(1);
    if let ProblemEvent::KnownErrorPublished { id, .. } = &mut other {
        *id = problem_id(2);
    }
    assert_eq!(ProblemDecider::evolve(state.clone(), &other), state);
    // A second creation does not reset the record.
    assert_eq!(ProblemDecider::evolve(state.clone(), &events[0]), state);
}

// ---------------------------------------------------------------------------------------------
// Audit fixes.

/// A problem in root cause analysis with no root cause recorded yet.
fn analysis_without_cause() -> Vec<ProblemEvent> {
    run_from(
        history(Some(S::New)),
        &[
            ProblemCommand::Assess { id: pid() },
            ProblemCommand::StartAnalysis { id: pid() },
        ],
    )
}

#[test]
fn given_no_recorded_root_cause_when_the_risk_is_accepted_then_the_guard_refuses() {
    given::<ProblemDecider>(analysis_without_cause())
        .by(problem_manager())
        .when(ProblemCommand::AcceptRisk {
            id: pid(),
            reason: "Legacy system retires next quarter".into(),
        })
        .then_error(DomainError::validation(
            "cause_notes",
            "requires: a root cause is recorded",
        ));
}

#[test]
fn given_a_canceled_problem_when_a_known_error_is_published_or_updated_then_it_is_refused() {
    let cancel = ProblemCommand::Cancel {
        id: pid(),
        reason: "Not a problem after all".into(),
    };
    let canceled = run_from(
        history(Some(S::RootCauseAnalysis)),
        std::slice::from_ref(&cancel),
    );
    let err = given::<ProblemDecider>(canceled)
        .by(problem_manager())
        .when(mark_ke())
        .then_error_code("validation");
    assert!(err.to_string().contains("canceled"), "{err}");
    let published_then_canceled =
        run_from(history(Some(S::RootCauseAnalysis)), &[mark_ke(), cancel]);
    given::<ProblemDecider>(published_then_canceled)
        .by(problem_manager())
        .when(update_ke(None))
        .then_error_code("validation");
}

fn canceled(change: u16) -> ProblemCommand {
    ProblemCommand::RecordFixChangeCanceled {
        id: pid(),
        change: change_id(change),
        change_name: None,
    }
}

/// A problem in Fix in Progress with fixing changes 1 and 2 pending.
fn two_fixes_pending() -> Vec<ProblemEvent> {
    run_from(
        history(Some(S::FixInProgress)),
        &[ProblemCommand::LinkFixingChange {
            id: pid(),
            change: change_id(2),
        }],
    )
}

#[test]
fn given_a_canceled_fixing_change_when_the_other_one_succeeds_then_the_fix_is_in() {
    let events = run_from(two_fixes_pending(), &[canceled(2)]);
    let p = ProblemDecider::fold(events.iter()).expect("exists");
    assert_eq!(p.status, ProblemStatus::FixInProgress);
    assert_eq!(p.fixing_changes[&change_id(2)], FixOutcome::Canceled);
    let (produced, state) = given::<ProblemDecider>(events)
        .when(outcome(1, true))
        .then_ok();
    assert_eq!(produced.len(), 2, "outcome and resolution");
    assert_eq!(
        state.expect("exists").status,
        ProblemStatus::Resolved {
            code: ResolutionCode::FixApplied
        }
    );
}

#[test]
fn given_a_fix_succeeded_while_another_was_pending_when_that_one_is_canceled_then_the_fix_is_in() {
    let events = run_from(two_fixes_pending(), &[outcome(1, true)]);
    let (produced, state) = given::<ProblemDecider>(events).when(canceled(2)).then_ok();
    assert!(matches!(
        &produced[..],
        [
            ProblemEvent::FixChangeOutcomeRecorded {
                outcome: FixOutcome::Canceled,
                ..
            },
            ProblemEvent::Resolved {
                code: ResolutionCode::FixApplied,
                ..
            }
        ]
    ));
    assert_eq!(
        state.expect("exists").status,
        ProblemStatus::Resolved {
            code: ResolutionCode::FixApplied
        }
    );
}

#[test]
fn given_no_fix_succeeded_when_the_last_pending_change_is_canceled_then_the_fix_goes_on() {
    let (produced, state) = given::<ProblemDecider>(history(Some(S::FixInProgress)))
        .when(canceled(1))
        .then_ok();
    assert_eq!(produced.len(), 1);
    assert_eq!(
        state.expect("exists").status,
        ProblemStatus::FixInProgress,
        "a canceled change fixes nothing"
    );
}

#[test]
fn given_a_success_before_a_reanalysis_when_the_new_fix_is_canceled_then_the_old_success_does_not_count()
 {
    // Fixed by change 1, re-analysed (it recurred), a new fix with change 2, which is canceled.
    let events = run_from(
        history(Some(S::FixInProgress)),
        &[
            outcome(1, true),
            ProblemCommand::Reanalyze {
                id: pid(),
                reason: "It recurred".into(),
            },
            ProblemCommand::StartFix {
                id: pid(),
                fix_notes: "Second attempt".into(),
            },
            ProblemCommand::LinkFixingChange {
                id: pid(),
                change: change_id(2),
            },
        ],
    );
    let (produced, state) = given::<ProblemDecider>(events).when(canceled(2)).then_ok();
    assert_eq!(produced.len(), 1);
    assert_eq!(state.expect("exists").status, ProblemStatus::FixInProgress);
}

#[test]
fn a_cancellation_is_recorded_once_and_only_for_linked_changes() {
    let events = run_from(history(Some(S::RootCauseAnalysis)), &[canceled(1)]);
    given::<ProblemDecider>(events.clone())
        .when(canceled(1))
        .then_error_code("validation");
    given::<ProblemDecider>(events)
        .when(outcome(1, true))
        .then_error_code("validation");
    given::<ProblemDecider>(history(Some(S::RootCauseAnalysis)))
        .when(canceled(9))
        .then_error_code("validation");
}

#[test]
fn given_a_policy_version_when_a_problem_is_created_then_the_event_and_record_pin_it() {
    let policy = Policy {
        version: opsledger_core::policy::PolicyVersion(42),
        ..Policy::default()
    };
    let (events, state) = given::<ProblemDecider>([])
        .with_policy(policy)
        .when(create(pid()))
        .then_ok();
    assert!(matches!(
        events[0],
        ProblemEvent::Created {
            policy_version: opsledger_core::policy::PolicyVersion(42),
            ..
        }
    ));
    assert_eq!(
        state.expect("exists").policy_version,
        opsledger_core::policy::PolicyVersion(42)
    );
    // Events recorded before versions were pinned read as version 0.
    let mut json = serde_json::to_value(&events[0]).expect("serializes");
    json.as_object_mut()
        .expect("object")
        .remove("policy_version");
    let old: ProblemEvent = serde_json::from_value(json).expect("an old event still reads");
    assert!(matches!(
        old,
        ProblemEvent::Created {
            policy_version: opsledger_core::policy::PolicyVersion(0),
            ..
        }
    ));
}
