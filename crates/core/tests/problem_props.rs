//! Property tests of the problem decider over random command sequences.

use opsledger_core::problem::fixtures::{change_id, incident_id, pid, problem_id};
use opsledger_core::problem::{
    FixOutcome, Problem, ProblemCommand, ProblemDecider, ProblemEvent, ProblemStatus,
    ProblemStatusKind, ResolutionCode,
};
use opsledger_core::testing::t;
use opsledger_core::{
    Actor, CiId, Context, Decider, DomainError, DomainEvent, Impact, Permission, Policy, Role,
    Urgency,
};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

// ---------------------------------------------------------------------------------------------
// Generators: a small pool of actors, ids and texts, so that many commands succeed.

fn actors() -> Vec<Actor> {
    vec![
        Actor::new("pat", [Role::ProblemManager]),
        Actor::new("alice", [Role::Agent]),
        Actor::new("root", [Role::Admin]),
        Actor::new("mo", [Role::Manager]),
        Actor::new("rita", [Role::Requester]),
        Actor::new("carl", [Role::ChangeManager]),
    ]
}

fn actor_index() -> impl Strategy<Value = usize> {
    prop_oneof![4 => Just(0usize), 3 => Just(1usize), 1 => Just(2usize), 1 => 3usize..6]
}

fn problem() -> impl Strategy<Value = opsledger_core::ProblemId> {
    prop_oneof![12 => Just(pid()), 1 => Just(problem_id(2))]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![16 => "[a-z]{1,6}( [a-z]{1,6})?", 1 => Just(String::new()), 1 => Just("  ".to_owned())]
}

fn impact() -> impl Strategy<Value = Impact> {
    prop_oneof![Just(Impact::High), Just(Impact::Medium), Just(Impact::Low)]
}

fn urgency() -> impl Strategy<Value = Urgency> {
    prop_oneof![
        Just(Urgency::High),
        Just(Urgency::Medium),
        Just(Urgency::Low)
    ]
}

fn cis() -> impl Strategy<Value = BTreeSet<CiId>> {
    prop::collection::btree_set(
        prop_oneof![4 => "(app|db)-0[1-3]", 1 => Just(String::new())].prop_map(CiId),
        0..3,
    )
}

fn incident() -> impl Strategy<Value = opsledger_core::IncidentId> {
    (1u16..5).prop_map(incident_id)
}

fn change() -> impl Strategy<Value = opsledger_core::ChangeId> {
    (1u16..4).prop_map(change_id)
}

fn known_error_fields() -> impl Strategy<Value = (String, String, Option<String>, BTreeSet<CiId>)> {
    (text(), text(), prop::option::of(text()), cis())
}

/// Commands that move the problem along (weighted up so that sequences get somewhere).
fn lifecycle_command() -> BoxedStrategy<ProblemCommand> {
    prop_oneof![
        1 => (problem(), "[a-z]{0,6}", impact(), urgency(), cis()).prop_map(
            |(id, title, impact, urgency, cis)| ProblemCommand::Create {
                id,
                title,
                description: String::new(),
                impact,
                urgency,
                service: None,
                cis,
            }
        ),
        4 => (problem(), prop_oneof![Just("pt"), Just("db")], prop::option::of(prop_oneof![Just("pat"), Just("alice")]))
            .prop_map(|(id, group, assignee)| ProblemCommand::Assign {
                id,
                group: group.into(),
                assignee: assignee.map(Into::into),
            }),
        1 => (problem(), impact(), urgency(), text()).prop_map(|(id, impact, urgency, reason)| {
            ProblemCommand::Reprioritize { id, impact, urgency, reason }
        }),
        4 => problem().prop_map(|id| ProblemCommand::Assess { id }),
        4 => problem().prop_map(|id| ProblemCommand::StartAnalysis { id }),
        4 => (problem(), text()).prop_map(|(id, cause)| ProblemCommand::RecordRootCause { id, cause }),
        4 => (problem(), text()).prop_map(|(id, fix_notes)| ProblemCommand::StartFix { id, fix_notes }),
        3 => (problem(), text()).prop_map(|(id, notes)| ProblemCommand::ResolveFixed { id, notes }),
        2 => (problem(), text()).prop_map(|(id, reason)| ProblemCommand::AcceptRisk { id, reason }),
        3 => problem().prop_map(|id| ProblemCommand::Close { id }),
    ]
    .boxed()
}

/// Everything else.
fn side_command() -> BoxedStrategy<ProblemCommand> {
    prop_oneof![
        2 => (problem(), known_error_fields()).prop_map(|(id, (symptom, root_cause, workaround, affected_cis))| {
            ProblemCommand::MarkKnownError { id, symptom, root_cause, workaround, affected_cis }
        }),
        2 => (problem(), known_error_fields()).prop_map(|(id, (symptom, root_cause, workaround, affected_cis))| {
            ProblemCommand::UpdateKnownError { id, symptom, root_cause, workaround, affected_cis }
        }),
        1 => (problem(), prop_oneof![4 => Just(problem_id(2)), 1 => Just(pid())])
            .prop_map(|(id, of)| ProblemCommand::MarkDuplicate { id, of }),
        1 => (problem(), text()).prop_map(|(id, reason)| ProblemCommand::Cancel { id, reason }),
        2 => (problem(), text()).prop_map(|(id, reason)| ProblemCommand::Reanalyze { id, reason }),
        2 => (problem(), incident()).prop_map(|(id, incident)| ProblemCommand::LinkIncident { id, incident }),
        1 => (problem(), incident()).prop_map(|(id, incident)| ProblemCommand::UnlinkIncident { id, incident }),
        2 => (problem(), change()).prop_map(|(id, change)| ProblemCommand::LinkFixingChange { id, change }),
        3 => (problem(), change(), prop::bool::weighted(0.7)).prop_map(|(id, change, successful)| {
            ProblemCommand::RecordFixChangeOutcome { id, change, successful, change_name: None }
        }),
        1 => (problem(), change()).prop_map(|(id, change)| {
            ProblemCommand::RecordFixChangeCanceled { id, change, change_name: None }
        }),
        1 => (problem(), text()).prop_map(|(id, text)| ProblemCommand::AddWorkNote { id, text }),
    ]
    .boxed()
}

fn command() -> BoxedStrategy<ProblemCommand> {
    prop_oneof![2 => lifecycle_command(), 1 => side_command()].boxed()
}

/// One scripted step: a random command, or "advance", which the runner turns into the next
/// move of the lifecycle for the state at hand (with the step's random actor). Without it,
/// random sequences rarely get past Assess; with it, every status is reached often while
/// random commands still land in every state.
#[derive(Debug, Clone)]
enum Intent {
    Command(ProblemCommand),
    Advance(u8),
}

fn steps() -> impl Strategy<Value = Vec<(usize, Intent)>> {
    let intent = prop_oneof![
        1 => command().prop_map(Intent::Command),
        1 => any::<u8>().prop_map(Intent::Advance),
    ];
    prop::collection::vec((actor_index(), intent), 0..40)
}

/// The next lifecycle move for `state`; `pick` chooses among the sensible ones.
fn advance(state: &Option<Problem>, pick: u8) -> ProblemCommand {
    let id = pid();
    let Some(p) = state else {
        return open(id);
    };
    let note = |s: &str| s.to_owned();
    let ke = |update: bool| {
        let (symptom, root_cause) = (note("checkout 503"), note("pool too small"));
        let workaround = pick.is_multiple_of(2).then(|| note("restart pods"));
        let affected_cis = [CiId::from("db-01")].into_iter().collect();
        if update {
            ProblemCommand::UpdateKnownError {
                id,
                symptom,
                root_cause,
                workaround,
                affected_cis,
            }
        } else {
            ProblemCommand::MarkKnownError {
                id,
                symptom,
                root_cause,
                workaround,
                affected_cis,
            }
        }
    };
    let pending = p
        .fixing_changes
        .iter()
        .find(|(_, o)| **o == FixOutcome::Pending)
        .map(|(c, _)| *c);
    let spare_change = (1u16..4)
        .map(change_id)
        .find(|c| !p.fixing_changes.contains_key(c));
    match p.status.kind() {
        ProblemStatusKind::New if p.assignee.is_none() => ProblemCommand::Assign {
            id,
            group: "pt".into(),
            assignee: Some("pat".into()),
        },
        ProblemStatusKind::New => match pick % 12 {
            0 => ProblemCommand::Cancel {
                id,
                reason: note("noise"),
            },
            _ => ProblemCommand::Assess { id },
        },
        ProblemStatusKind::Assess => match pick % 12 {
            0 => ProblemCommand::MarkDuplicate {
                id,
                of: problem_id(2),
            },
            _ => ProblemCommand::StartAnalysis { id },
        },
        ProblemStatusKind::RootCauseAnalysis if p.cause_notes.is_none() => {
            ProblemCommand::RecordRootCause {
                id,
                cause: note("pool too small"),
            }
        }
        ProblemStatusKind::RootCauseAnalysis => match pick % 8 {
            0 => ProblemCommand::AcceptRisk {
                id,
                reason: note("too costly"),
            },
            1 => ke(p.known_error.is_some()),
            2 => match spare_change {
                Some(change) => ProblemCommand::LinkFixingChange { id, change },
                None => ProblemCommand::StartFix {
                    id,
                    fix_notes: note("resize"),
                },
            },
            _ => ProblemCommand::StartFix {
                id,
                fix_notes: note("resize"),
            },
        },
        ProblemStatusKind::FixInProgress => match (pick % 6, pending, spare_change) {
            (0, _, _) => ProblemCommand::ResolveFixed {
                id,
                notes: note("done"),
            },
            (1, _, _) => ProblemCommand::AcceptRisk {
                id,
                reason: note("give up"),
            },
            (2, _, Some(change)) => ProblemCommand::LinkFixingChange { id, change },
            (_, Some(change), _) if pick.is_multiple_of(5) => {
                ProblemCommand::RecordFixChangeCanceled {
                    id,
                    change,
                    change_name: None,
                }
            }
            (_, Some(change), _) => ProblemCommand::RecordFixChangeOutcome {
                id,
                change,
                successful: !pick.is_multiple_of(3),
                change_name: None,
            },
            (_, None, Some(change)) => ProblemCommand::LinkFixingChange { id, change },
            (_, None, None) => ProblemCommand::ResolveFixed {
                id,
                notes: note("done"),
            },
        },
        ProblemStatusKind::Resolved => match pick % 4 {
            0 => ProblemCommand::Reanalyze {
                id,
                reason: note("recurred"),
            },
            1 => ke(p.known_error.is_some()),
            _ => ProblemCommand::Close { id },
        },
        ProblemStatusKind::Closed => match pick % 3 {
            0 => ke(p.known_error.is_some()),
            _ => ProblemCommand::Reanalyze {
                id,
                reason: note("recurred"),
            },
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Running a sequence.

fn open(id: opsledger_core::ProblemId) -> ProblemCommand {
    ProblemCommand::Create {
        id,
        title: "Recurring checkout outages".into(),
        description: String::new(),
        impact: Impact::High,
        urgency: Urgency::High,
        service: Some("payments".into()),
        cis: BTreeSet::new(),
    }
}

struct Step {
    actor: Actor,
    at: chrono::DateTime<chrono::Utc>,
    cmd: ProblemCommand,
    before: Option<Problem>,
    result: Result<Vec<ProblemEvent>, DomainError>,
    after: Option<Problem>,
}

struct Run {
    steps: Vec<Step>,
    events: Vec<ProblemEvent>,
    last: Option<Problem>,
}

fn execute(start_open: bool, script: &[(usize, Intent)]) -> Run {
    let pool = actors();
    let policy = Arc::new(Policy::default());
    let mut all: Vec<(usize, Intent)> = Vec::new();
    if start_open {
        all.push((0, Intent::Command(open(pid()))));
    }
    all.extend(script.iter().cloned());
    let mut state: Option<Problem> = None;
    let mut events = Vec::new();
    let mut steps = Vec::new();
    for (i, (who, intent)) in all.into_iter().enumerate() {
        let cmd = match intent {
            Intent::Command(cmd) => cmd,
            Intent::Advance(pick) => advance(&state, pick),
        };
        let actor = pool[who].clone();
        let at = t(i64::try_from(i).expect("small") * 7);
        let ctx = Context::new(at, actor.clone(), Arc::clone(&policy));
        let before = state.clone();
        let result = ProblemDecider::decide(&state, &cmd, &ctx);
        if let Ok(new) = &result {
            for e in new {
                state = ProblemDecider::evolve(state, e);
            }
            events.extend(new.iter().cloned());
        }
        steps.push(Step {
            actor,
            at,
            cmd,
            before,
            result,
            after: state.clone(),
        });
    }
    Run {
        steps,
        events,
        last: state,
    }
}

// ---------------------------------------------------------------------------------------------
// Invariants.

/// Checks every invariant over a run; `Err` names the broken one.
fn check_invariants(run: &Run) -> Result<(), TestCaseError> {
    let policy = Policy::default();
    let table = Problem::transitions();
    let mut links: BTreeSet<opsledger_core::IncidentId> = BTreeSet::new();
    let mut reanalyses = 0u32;
    let mut publications = 0u32;
    let mut outcomes: BTreeMap<opsledger_core::ChangeId, FixOutcome> = BTreeMap::new();

    for step in &run.steps {
        let Ok(events) = &step.result else {
            prop_assert_eq!(
                &step.before,
                &step.after,
                "a refused command changed the state"
            );
            continue;
        };
        prop_assert!(!events.is_empty(), "an accepted command produced no event");
        let from = step.before.as_ref().map(|p| p.status.kind());
        let to = step
            .after
            .as_ref()
            .map(|p| p.status.kind())
            .expect("a decided command leaves a record");
        prop_assert!(
            table.targets(from, step.cmd.kind()).any(|s| s == to),
            "{:?} --{:?}--> {:?} is not a row of the table",
            from,
            step.cmd.kind(),
            to
        );
        let mut state = step.before.clone();
        for event in events {
            prop_assert_eq!(event.at(), step.at, "event time is not the decision time");
            prop_assert_eq!(event.by(), &step.actor.id, "event actor is not the decider");
            prop_assert_eq!(event.id(), step.cmd.id(), "event of another record");
            let prev = state.clone();
            state = ProblemDecider::evolve(state, event);
            match event {
                ProblemEvent::Closed { code, .. } => {
                    let before = prev.as_ref().map(|p| p.status.clone());
                    prop_assert_eq!(
                        before,
                        Some(ProblemStatus::Resolved { code: code.clone() }),
                        "Closed{{code}}: code must equal the preceding Resolved code"
                    );
                }
                ProblemEvent::Resolved {
                    code,
                    by,
                    linked_incidents,
                    ..
                } => {
                    let before = prev.as_ref().map(|p| p.status.kind());
                    match code {
                        ResolutionCode::FixApplied => prop_assert_eq!(
                            before,
                            Some(ProblemStatusKind::FixInProgress),
                            "resolved FixApplied without going through FixInProgress"
                        ),
                        ResolutionCode::RiskAccepted => {
                            let holder = actors().into_iter().find(|a| &a.id == by);
                            prop_assert!(
                                holder.is_some_and(|a| policy
                                    .authorization
                                    .allows(&a, Permission::ProblemAcceptRisk)),
                                "RiskAccepted by {} who lacks problem_accept_risk",
                                by
                            );
                            prop_assert!(
                                prev.as_ref().is_some_and(|p| p.cause_notes.is_some()),
                                "RiskAccepted without a recorded root cause"
                            );
                        }
                        ResolutionCode::Duplicate { .. } | ResolutionCode::Canceled => {
                            prop_assert!(
                                false,
                                "Resolved with {:?}: duplicates and cancels close",
                                code
                            )
                        }
                    }
                    prop_assert_eq!(
                        linked_incidents,
                        &links,
                        "Resolved must carry the linked incidents"
                    );
                }
                ProblemEvent::KnownErrorPublished { known_error, .. } => {
                    prop_assert!(
                        !matches!(
                            prev.as_ref().map(|p| &p.status),
                            Some(ProblemStatus::Closed {
                                code: ResolutionCode::Canceled | ResolutionCode::Duplicate { .. }
                            })
                        ),
                        "a known error published on a canceled or duplicate problem"
                    );
                    let previous = prev
                        .as_ref()
                        .and_then(|p| p.known_error.as_ref())
                        .map_or(0, |k| k.revision);
                    prop_assert_eq!(
                        known_error.revision,
                        previous + 1,
                        "known error revision must grow by one per publication"
                    );
                    publications += 1;
                }
                ProblemEvent::Reanalyzed { by, .. } => {
                    reanalyses += 1;
                    let holder = actors().into_iter().find(|a| &a.id == by);
                    prop_assert!(
                        holder.is_some_and(|a| policy
                            .authorization
                            .allows(&a, Permission::ProblemReanalyze)),
                        "re-analysed by {} who lacks problem_reanalyze",
                        by
                    );
                }
                ProblemEvent::IncidentLinked { incident, .. } => {
                    links.insert(*incident);
                }
                ProblemEvent::IncidentUnlinked { incident, .. } => {
                    links.remove(incident);
                }
                ProblemEvent::FixingChangeLinked { change, .. } => {
                    outcomes.insert(*change, FixOutcome::Pending);
                }
                ProblemEvent::FixChangeOutcomeRecorded {
                    change, outcome, ..
                } => {
                    prop_assert_eq!(
                        outcomes.get(change),
                        Some(&FixOutcome::Pending),
                        "an outcome is recorded once, for a linked change"
                    );
                    outcomes.insert(*change, *outcome);
                }
                ProblemEvent::MarkedDuplicate { id, of, .. } => {
                    prop_assert_ne!(id, of, "a problem duplicates itself");
                }
                ProblemEvent::Created { .. }
                | ProblemEvent::Assigned { .. }
                | ProblemEvent::Reprioritized { .. }
                | ProblemEvent::Assessed { .. }
                | ProblemEvent::AnalysisStarted { .. }
                | ProblemEvent::RootCauseRecorded { .. }
                | ProblemEvent::FixStarted { .. }
                | ProblemEvent::Canceled { .. }
                | ProblemEvent::WorkNoteAdded { .. } => {}
            }
            if let Some(p) = &state {
                check_state(p, &links, reanalyses, publications, &outcomes, &policy)?;
            }
        }
        prop_assert_eq!(
            &state,
            &step.after,
            "step-by-step state differs from the event fold"
        );
        // An outcome that completes the fix: nothing pending any more, and a fix succeeded.
        let settled = events
            .iter()
            .any(|e| matches!(e, ProblemEvent::FixChangeOutcomeRecorded { .. }));
        let fixed = events.iter().any(|e| {
            matches!(
                e,
                ProblemEvent::Resolved {
                    code: ResolutionCode::FixApplied,
                    ..
                }
            )
        });
        if settled && fixed {
            prop_assert!(
                outcomes.values().all(|o| *o != FixOutcome::Pending),
                "resolved by an outcome while a fixing change is pending"
            );
            prop_assert!(
                outcomes.values().any(|o| *o == FixOutcome::Successful),
                "resolved by an outcome although no fixing change succeeded"
            );
        }
    }
    Ok(())
}

/// Invariants of one reachable state, given counters kept over the history that led to it.
fn check_state(
    p: &Problem,
    links: &BTreeSet<opsledger_core::IncidentId>,
    reanalyses: u32,
    publications: u32,
    outcomes: &BTreeMap<opsledger_core::ChangeId, FixOutcome>,
    policy: &Policy,
) -> Result<(), TestCaseError> {
    let kind = p.status.kind();
    prop_assert!(
        kind != ProblemStatusKind::FixInProgress || p.cause_notes.is_some(),
        "FixInProgress without a recorded root cause"
    );
    prop_assert_eq!(
        p.reanalysis_count,
        reanalyses,
        "reanalysis_count must equal the number of reanalyzed events"
    );
    prop_assert_eq!(
        p.known_error.as_ref().map_or(0, |k| k.revision),
        publications,
        "known error revision must equal the number of publications"
    );
    prop_assert_eq!(
        &p.incidents,
        links,
        "linked incidents must equal links minus unlinks"
    );
    prop_assert_eq!(
        &p.fixing_changes,
        outcomes,
        "fixing changes must match their events"
    );
    prop_assert_eq!(
        p.priority,
        policy.priority_matrix.priority(p.impact, p.urgency),
        "priority must follow the matrix"
    );
    match &p.status {
        ProblemStatus::Resolved { code } => {
            prop_assert!(
                matches!(
                    code,
                    ResolutionCode::FixApplied | ResolutionCode::RiskAccepted
                ),
                "Resolved only with FixApplied or RiskAccepted, got {:?}",
                code
            );
            prop_assert!(p.resolved_at.is_some(), "Resolved without resolved_at");
            if *code == ResolutionCode::FixApplied {
                prop_assert!(p.fix_started_at.is_some(), "FixApplied without a fix start");
            }
        }
        ProblemStatus::Closed { code } => {
            prop_assert!(p.closed_at.is_some(), "Closed without closed_at");
            if let ResolutionCode::Duplicate { of } = code {
                prop_assert_ne!(*of, p.id, "a problem duplicates itself");
            }
        }
        ProblemStatus::New
        | ProblemStatus::Assess
        | ProblemStatus::RootCauseAnalysis
        | ProblemStatus::FixInProgress => {
            prop_assert!(
                p.resolved_at.is_none() && p.closed_at.is_none(),
                "an open problem carries resolution times"
            );
        }
    }
    // Only duplicate and cancel leave New without an assessment (and re-analysis of such a
    // canceled problem goes straight to root cause analysis, as in ServiceNow).
    if kind != ProblemStatusKind::New && kind != ProblemStatusKind::Closed {
        prop_assert!(
            p.assessed_at.is_some() || p.reanalysis_count > 0,
            "left New without assessment"
        );
    }
    if let Some(k) = &p.known_error {
        prop_assert!(k.published_at <= k.revised_at, "revised before published");
    }
    Ok(())
}

fn roundtrip<T>(value: &T) -> Result<(), TestCaseError>
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let json = serde_json::to_string(value).expect("serializes");
    let back: T = serde_json::from_str(&json).expect("deserializes");
    prop_assert_eq!(&back, value, "serde round trip changed the value: {}", json);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// (a) the fold of the produced events equals the state worked on step by step, and
    /// (b) every invariant holds in every reachable state.
    #[test]
    fn folded_events_equal_the_stepwise_state_and_invariants_hold(script in steps()) {
        let run = execute(true, &script);
        prop_assert_eq!(ProblemDecider::fold(run.events.iter()), run.last.clone());
        check_invariants(&run)?;
    }

    /// (c) the same inputs give the same events and errors.
    #[test]
    fn decisions_are_deterministic(script in steps()) {
        let a = execute(true, &script);
        let b = execute(true, &script);
        let ra: Vec<_> = a.steps.iter().map(|s| s.result.clone()).collect();
        let rb: Vec<_> = b.steps.iter().map(|s| s.result.clone()).collect();
        prop_assert_eq!(ra, rb);
        prop_assert_eq!(a.events, b.events);
    }

    /// (d) every event, command and state survives a serde_json round trip, and an event's serde
    /// tag is its `event_type`.
    #[test]
    fn everything_survives_a_serde_round_trip(script in steps()) {
        let run = execute(true, &script);
        for event in &run.events {
            roundtrip(event)?;
            let json = serde_json::to_value(event).expect("serializes");
            prop_assert_eq!(json["type"].as_str(), Some(event.event_type()));
            prop_assert_eq!(event.schema_version(), 1);
        }
        for step in &run.steps {
            roundtrip(&step.cmd)?;
        }
        roundtrip(&run.last)?;
    }

    /// (e) arbitrary commands by arbitrary actors in arbitrary reachable states never panic, and
    /// a refused command yields no event and leaves the state as it was.
    #[test]
    fn arbitrary_commands_never_panic(
        start_open in any::<bool>(),
        script in steps(),
        who in 0usize..6,
        cmd in command(),
    ) {
        let run = execute(start_open, &script);
        let before = run.last.clone();
        let ctx = Context::new(t(10_000), actors()[who].clone(), Arc::new(Policy::default()));
        let result = ProblemDecider::decide(&run.last, &cmd, &ctx);
        prop_assert_eq!(&run.last, &before);
        if let Ok(events) = result {
            prop_assert!(!events.is_empty());
        }
    }

    /// evolve is total: any sequence of events, in any order, repeated or of other problems,
    /// folds without panicking.
    #[test]
    fn evolve_is_total_on_shuffled_histories(
        script in steps(),
        other in steps(),
        picks in prop::collection::vec(any::<prop::sample::Index>(), 0..80),
    ) {
        let mut pool = execute(true, &script).events;
        let mut second = other.clone();
        second.insert(0, (0, Intent::Command(open(problem_id(2)))));
        pool.extend(execute(false, &second).events);
        if !pool.is_empty() {
            let shuffled: Vec<ProblemEvent> = picks.iter().map(|i| i.get(&pool).clone()).collect();
            let _ = ProblemDecider::fold(shuffled.iter());
        }
    }
}

/// The generators reach every status and every event type, so the properties above are not
/// vacuous.
#[test]
fn the_generators_reach_every_status_and_event_type() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let mut statuses = BTreeSet::new();
    let mut types = BTreeSet::new();
    let mut fixed_by_a_cancellation = 0;
    for _ in 0..400 {
        let script = steps().new_tree(&mut runner).expect("tree").current();
        let run = execute(true, &script);
        for step in &run.steps {
            if let Some(p) = &step.after {
                statuses.insert(p.status.kind());
            }
            if matches!(step.cmd, ProblemCommand::RecordFixChangeCanceled { .. })
                && step.result.as_ref().is_ok_and(|e| e.len() == 2)
            {
                fixed_by_a_cancellation += 1;
            }
        }
        for e in &run.events {
            types.insert(e.event_type());
        }
    }
    assert_eq!(statuses.len(), 6, "statuses reached: {statuses:?}");
    assert_eq!(types.len(), 18, "event types reached: {types:?}");
    assert!(
        fixed_by_a_cancellation > 0,
        "no fix was completed by canceling the last pending change"
    );
}
