//! Property tests over random command sequences on one change.
//!
//! Each step either sends a random command (any kind, valid or not, by a random actor) or,
//! about half the time, the next command of the happy path for the current state (by a
//! suitable actor), so that sequences reach every state often. Checked:
//! (a) the state folded from all produced events equals the state the decider worked on;
//! (b) the invariants below hold in every reachable state;
//! (c) the same inputs give the same results;
//! (d) every event (and the final state) survives a serde_json round trip;
//! (e) nothing panics, and a refused command changes nothing.

#[path = "support/change_fixtures.rs"]
mod fixtures;

use chrono::{DateTime, Duration, Utc};
use fixtures::*;
use opsledger_core::change::{
    ApprovalDecision, BackoutRecord, Change, ChangeCommand, ChangeDecider, ChangeEvent,
    ChangeStatusKind, ChangeType, CiRelation, CloseCode, Conflict, Risk, ScheduledChange,
};
use opsledger_core::policy::{ApprovalRule, Quorum};
use opsledger_core::testing::t0;
use opsledger_core::window::{CiScope, NamedWindow};
use opsledger_core::{
    Actor, ActorId, CiId, Context, Decider, DomainError, DomainEvent, Policy, Role, TimeWindow,
};
use proptest::prelude::*;
use proptest::sample::{Index, select};
use std::collections::BTreeSet;
use std::sync::Arc;

// ---------------------------------------------------------------- inputs

fn pool() -> Vec<Actor> {
    vec![
        rita(),
        alice(),
        max(),
        carol(),
        dave(),
        Actor::new("erin", [Role::CabMember, Role::ChangeManager]),
        root(),
    ]
}

fn pool_actor(id: &ActorId) -> Option<Actor> {
    pool().into_iter().find(|a| &a.id == id)
}

fn rule(roles: &[Role], board: &[&str], quorum: Quorum, min_approvals: u32) -> ApprovalRule {
    ApprovalRule {
        approver_roles: roles.iter().copied().collect(),
        board: board.iter().map(|b| ActorId::new(*b)).collect(),
        quorum,
        min_approvals,
    }
}

fn arb_policy() -> impl Strategy<Value = Policy> {
    (0usize..4, 0usize..2, any::<bool>(), any::<bool>()).prop_map(
        |(normal, emergency, blackout, maintenance)| {
            let cab = [Role::CabMember, Role::ChangeManager];
            let normal_rules = [
                rule(&cab, &[], Quorum::Any, 1),
                rule(
                    &cab,
                    &["carol", "dave", "erin", "max", "rita"],
                    Quorum::Majority,
                    1,
                ),
                rule(&cab, &["carol", "dave", "rita"], Quorum::All, 1),
                rule(&cab, &[], Quorum::Any, 2),
            ];
            let emergency_rules = [
                rule(&[Role::ChangeManager], &[], Quorum::Any, 1),
                rule(&[Role::ChangeManager], &["max", "erin"], Quorum::All, 1),
            ];
            let mut p = policy();
            p.approvals.normal = normal_rules[normal].clone();
            p.approvals.emergency = emergency_rules[emergency].clone();
            if blackout {
                p.blackout_windows = vec![NamedWindow::once(
                    "freeze",
                    win(240, 300),
                    CiScope::Only(vec![CiId::new("db-01")]),
                )];
            }
            if maintenance {
                p.maintenance_windows = vec![NamedWindow::once(
                    "web-nightly",
                    win(0, 600),
                    CiScope::Only(vec![CiId::new("web-01")]),
                )];
            }
            p
        },
    )
}

fn arb_id() -> impl Strategy<Value = opsledger_core::ChangeId> {
    prop_oneof![14 => Just(cid()), 1 => Just(other_cid(9))]
}

/// Texts: mostly valid, sometimes blank, sometimes arbitrary Unicode, now and then larger than
/// any limit (the "nothing panics" property feeds them everywhere).
fn arb_text() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => Just(String::new()),
        1 => Just("  ".to_owned()),
        4 => Just("ok".to_owned()),
        4 => Just("a considered reason".to_owned()),
        1 => any::<String>(),
        1 => Just("\u{1F600}\u{0}\r\n".repeat(20_000)),
    ]
}

/// An instant at the edge of what `DateTime<Utc>` can hold.
fn extreme_instant() -> impl Strategy<Value = DateTime<Utc>> {
    prop_oneof![
        Just(DateTime::<Utc>::MIN_UTC),
        Just(DateTime::<Utc>::MAX_UTC),
        Just(DateTime::<Utc>::UNIX_EPOCH),
    ]
}

fn arb_window() -> impl Strategy<Value = TimeWindow> {
    prop_oneof![
        12 => (0i64..16, select(vec![-30i64, 0, 30, 60, 120, 240]))
            .prop_map(|(k, len)| win(k * 30, k * 30 + len)),
        1 => (extreme_instant(), extreme_instant()).prop_map(|(a, b)| TimeWindow::new(a, b)),
        1 => extreme_instant().prop_map(|end| TimeWindow::new(t0(), end)),
    ]
}

fn arb_cis() -> impl Strategy<Value = BTreeSet<CiId>> {
    prop_oneof![
        12 => proptest::sample::subsequence(vec!["db-01", "web-01", "lb-01"], 0..=3)
            .prop_map(|names| cis(&names)),
        1 => proptest::collection::btree_set(arb_text().prop_map(CiId::new), 0..3),
    ]
}

fn arb_assignee() -> impl Strategy<Value = Option<ActorId>> {
    proptest::option::of(prop_oneof![
        8 => select(vec!["alice", "max", ""]).prop_map(ActorId::new),
        1 => arb_text().prop_map(ActorId::new),
    ])
}

fn arb_calendar() -> impl Strategy<Value = Vec<ScheduledChange>> {
    prop_oneof![
        2 => Just(Vec::new()),
        1 => proptest::collection::vec(
            (1u128..3, arb_window(), arb_cis(), arb_assignee()).prop_map(
                |(n, window, cis, assignee)| ScheduledChange {
                    id: other_cid(n),
                    window,
                    cis,
                    assignee,
                },
            ),
            1..3,
        ),
    ]
}

fn arb_relations() -> impl Strategy<Value = Vec<CiRelation>> {
    proptest::collection::vec(
        (
            select(vec!["host", "db-01", "web-01"]),
            select(vec!["db-01", "web-01", "app"]),
        )
            .prop_map(|(p, c)| CiRelation {
                parent: CiId::new(p),
                child: CiId::new(c),
            }),
        0..2,
    )
}

fn arb_accept() -> impl Strategy<Value = Option<String>> {
    prop_oneof![3 => Just(None), 1 => arb_text().prop_map(Some)]
}

fn arb_type() -> impl Strategy<Value = ChangeType> {
    prop_oneof![
        3 => Just(ChangeType::Normal),
        2 => Just(ChangeType::Emergency),
        2 => Just(ChangeType::Standard { template: TEMPLATE.to_owned() }),
        1 => Just(ChangeType::Standard { template: "unknown".to_owned() }),
    ]
}

fn arb_code() -> impl Strategy<Value = CloseCode> {
    prop_oneof![
        Just(CloseCode::Successful),
        Just(CloseCode::SuccessfulWithIssues),
        (any::<bool>(), arb_text()).prop_map(|(performed, notes)| CloseCode::Unsuccessful {
            backout: BackoutRecord { performed, notes },
        }),
    ]
}

fn arb_command() -> impl Strategy<Value = ChangeCommand> {
    prop_oneof![
        (
            arb_id(),
            arb_text(),
            arb_type(),
            arb_cis(),
            arb_text(),
            arb_text(),
            arb_assignee()
        )
            .prop_map(
                |(id, title, change_type, cis, implementation_plan, backout_plan, assignee)| {
                    ChangeCommand::Request {
                        id,
                        title,
                        description: String::new(),
                        change_type,
                        risk: Risk::Low,
                        cis,
                        implementation_plan,
                        backout_plan,
                        test_plan: String::new(),
                        assignee,
                    }
                }
            ),
        (
            arb_id(),
            proptest::option::of(arb_text()),
            proptest::option::of(arb_type()),
            proptest::option::of(arb_cis()),
            proptest::option::of(arb_text()),
        )
            .prop_map(|(id, title, change_type, cis, backout_plan)| {
                ChangeCommand::Update {
                    id,
                    title,
                    description: None,
                    change_type,
                    risk: Some(Risk::High),
                    cis,
                    implementation_plan: None,
                    backout_plan,
                    test_plan: None,
                }
            }),
        (
            arb_id(),
            arb_window(),
            arb_assignee(),
            arb_calendar(),
            arb_relations(),
            arb_accept()
        )
            .prop_map(
                |(id, window, assignee, calendar, ci_relations, accept_conflicts)| {
                    ChangeCommand::Plan {
                        id,
                        window,
                        assignee,
                        calendar,
                        ci_relations,
                        accept_conflicts,
                    }
                }
            ),
        (arb_id(), arb_calendar(), arb_relations(), arb_accept()).prop_map(
            |(id, calendar, ci_relations, accept_conflicts)| ChangeCommand::Submit {
                id,
                calendar,
                ci_relations,
                accept_conflicts,
            }
        ),
        arb_id().prop_map(|id| ChangeCommand::RequestAuthorization { id }),
        (
            arb_id(),
            proptest::option::of(arb_text()),
            arb_calendar(),
            arb_relations(),
            arb_accept()
        )
            .prop_map(|(id, comment, calendar, ci_relations, accept_conflicts)| {
                ChangeCommand::Approve {
                    id,
                    comment,
                    calendar,
                    ci_relations,
                    accept_conflicts,
                }
            }),
        (arb_id(), arb_text()).prop_map(|(id, reason)| ChangeCommand::Reject { id, reason }),
        arb_id().prop_map(|id| ChangeCommand::StartImplementation { id }),
        arb_id().prop_map(|id| ChangeCommand::CompleteImplementation { id }),
        (arb_id(), arb_code(), arb_text()).prop_map(|(id, code, notes)| ChangeCommand::Close {
            id,
            code,
            notes
        }),
        (arb_id(), arb_text()).prop_map(|(id, reason)| ChangeCommand::Cancel { id, reason }),
        (arb_id(), arb_text()).prop_map(|(id, reason)| ChangeCommand::RevertToNew { id, reason }),
        (arb_id(), 0u128..3).prop_map(|(id, n)| ChangeCommand::LinkFixesProblem {
            id,
            problem: pid(n)
        }),
        (arb_id(), 0u128..3).prop_map(|(id, n)| ChangeCommand::RecordCausedIncident {
            id,
            incident: iid(n)
        }),
        (arb_id(), arb_text()).prop_map(|(id, note)| ChangeCommand::AddWorkNote { id, note }),
    ]
}

#[derive(Debug, Clone)]
struct Step {
    actor: usize,
    follow_path: bool,
    minutes: i64,
    command: ChangeCommand,
    seed: usize,
    calendar: Vec<ScheduledChange>,
}

fn arb_steps() -> impl Strategy<Value = Vec<Step>> {
    proptest::collection::vec(
        (
            0usize..7,
            proptest::bool::weighted(0.55),
            select(vec![0i64, 0, 1, 5, 10, 30]),
            arb_command(),
            any::<usize>(),
            arb_calendar(),
        )
            .prop_map(
                |(actor, follow_path, minutes, command, seed, calendar)| Step {
                    actor,
                    follow_path,
                    minutes,
                    command,
                    seed,
                    calendar,
                },
            ),
        1..40,
    )
}

/// The next happy-path command for `state`, and a suitable actor. May move `now` forward (to
/// the start of the approved window) so that implementation can start.
fn happy(
    state: &Option<Change>,
    step: &Step,
    now: &mut DateTime<Utc>,
    policy: &Policy,
) -> (Actor, ChangeCommand) {
    let id = cid();
    let seed = step.seed;
    let accept = seed
        .is_multiple_of(5)
        .then(|| "accepted by the change manager".to_owned());
    let Some(change) = state else {
        let types = [
            ChangeType::Normal,
            ChangeType::Emergency,
            ChangeType::Standard {
                template: TEMPLATE.to_owned(),
            },
        ];
        // Requesters include approvers (max, erin): separation of duties must hold for them.
        let requester = pool()[[0, 1, 2, 5][(seed / 7) % 4]].clone();
        let mut cmd = request_cmd(types[seed % 3].clone());
        if let ChangeCommand::Request { cis: set, .. } = &mut cmd {
            *set = cis(&[["db-01", "web-01"][seed % 2]]);
        }
        return (requester, cmd);
    };
    match change.status.kind() {
        ChangeStatusKind::New => {
            let stale = change
                .planned_window
                .is_none_or(|w| w.end <= *now + Duration::minutes(30));
            if stale || seed.is_multiple_of(6) {
                let start = *now + Duration::minutes(30);
                let len = i64::try_from(seed % 4 + 1).unwrap_or(1) * 120;
                let cmd = ChangeCommand::Plan {
                    id,
                    window: TimeWindow::new(start, start + Duration::minutes(len)),
                    assignee: None,
                    calendar: step.calendar.clone(),
                    ci_relations: Vec::new(),
                    accept_conflicts: accept.clone(),
                };
                (if accept.is_some() { max() } else { alice() }, cmd)
            } else {
                let cmd = ChangeCommand::Submit {
                    id,
                    calendar: step.calendar.clone(),
                    ci_relations: Vec::new(),
                    accept_conflicts: accept.clone(),
                };
                (if accept.is_some() { max() } else { rita() }, cmd)
            }
        }
        ChangeStatusKind::Assess => (alice(), ChangeCommand::RequestAuthorization { id }),
        ChangeStatusKind::Authorize => {
            let eligible: Vec<Actor> = match change.change_type.approval_rule(policy) {
                None => Vec::new(),
                Some(rule) => pool()
                    .into_iter()
                    .filter(|a| a.id != change.requester)
                    .filter(|a| rule.approver_roles.iter().any(|r| a.has_role(*r)))
                    .filter(|a| rule.board.is_empty() || rule.board.contains(&a.id))
                    .filter(|a| !change.approvals.contains_key(&a.id))
                    .collect(),
            };
            if seed.is_multiple_of(11) {
                return (
                    max(),
                    ChangeCommand::RevertToNew {
                        id,
                        reason: "re-plan".to_owned(),
                    },
                );
            }
            // A third of the votes come from anyone at all (the requester, someone off the
            // board, someone who already voted), so the approval rules are exercised.
            let voter = if eligible.is_empty() || seed.is_multiple_of(3) {
                pool()[(seed / 3) % 7].clone()
            } else {
                eligible[seed % eligible.len()].clone()
            };
            if seed.is_multiple_of(7) {
                return (
                    voter,
                    ChangeCommand::Reject {
                        id,
                        reason: "not convinced".to_owned(),
                    },
                );
            }
            let cmd = ChangeCommand::Approve {
                id,
                comment: None,
                calendar: step.calendar.clone(),
                ci_relations: Vec::new(),
                accept_conflicts: accept,
            };
            (voter, cmd)
        }
        ChangeStatusKind::Scheduled => {
            if let Some(w) = change.approved_window
                && *now < w.start
            {
                *now = w.start;
            }
            (alice(), ChangeCommand::StartImplementation { id })
        }
        ChangeStatusKind::Implement => (alice(), ChangeCommand::CompleteImplementation { id }),
        ChangeStatusKind::Review => {
            let code = [
                CloseCode::Successful,
                CloseCode::SuccessfulWithIssues,
                CloseCode::Unsuccessful {
                    backout: BackoutRecord {
                        performed: seed.is_multiple_of(2),
                        // Sometimes blank: the backout record must be refused then.
                        notes: if seed % 4 == 1 {
                            String::new()
                        } else {
                            "rolled back".to_owned()
                        },
                    },
                },
            ][seed % 3]
                .clone();
            (
                alice(),
                ChangeCommand::Close {
                    id,
                    code,
                    notes: "reviewed".to_owned(),
                },
            )
        }
        ChangeStatusKind::Closed | ChangeStatusKind::Canceled => (
            alice(),
            ChangeCommand::RecordCausedIncident {
                id,
                incident: iid(u128::try_from(seed % 3).unwrap_or(0)),
            },
        ),
    }
}

// ---------------------------------------------------------------- the driver

#[derive(Debug, Clone, PartialEq)]
struct Traced {
    before: Option<Change>,
    actor: Actor,
    now: DateTime<Utc>,
    command: ChangeCommand,
    result: Result<Vec<ChangeEvent>, DomainError>,
    after: Option<Change>,
}

fn drive(policy: &Policy, steps: &[Step]) -> Vec<Traced> {
    let shared = Arc::new(policy.clone());
    let mut state: Option<Change> = None;
    let mut now = t0();
    let mut trace = Vec::with_capacity(steps.len());
    for step in steps {
        now += Duration::minutes(step.minutes);
        let (actor, command) = if step.follow_path {
            happy(&state, step, &mut now, policy)
        } else {
            (pool()[step.actor].clone(), step.command.clone())
        };
        let ctx = Context::new(now, actor.clone(), shared.clone());
        let before = state.clone();
        let result = ChangeDecider::decide(&state, &command, &ctx);
        if let Ok(events) = &result {
            for event in events {
                state = ChangeDecider::evolve(state, event);
            }
        }
        trace.push(Traced {
            before,
            actor,
            now,
            command,
            result,
            after: state.clone(),
        });
    }
    trace
}

fn all_events(trace: &[Traced]) -> Vec<ChangeEvent> {
    trace
        .iter()
        .flat_map(|s| s.result.clone().unwrap_or_default())
        .collect()
}

/// Approvals a quorum needs from `eligible` board members (the board minus the requester),
/// written out by hand for boards of up to six, independently of `ApprovalRule`.
const ANY_NEEDS: [u32; 7] = [1, 1, 1, 1, 1, 1, 1];
const MAJORITY_NEEDS: [u32; 7] = [1, 1, 2, 2, 3, 3, 4];
const ALL_NEEDS: [u32; 7] = [0, 1, 2, 3, 4, 5, 6];

/// The quorum oracle: approvals a change of `change_type` raised by `requester` needs under
/// `policy`, from the hand-written tables above (`None` for a standard change).
fn oracle_required(policy: &Policy, change_type: &ChangeType, requester: &ActorId) -> Option<u32> {
    let rule = match change_type {
        ChangeType::Standard { .. } => return None,
        ChangeType::Normal => &policy.approvals.normal,
        ChangeType::Emergency => &policy.approvals.emergency,
    };
    let floor = rule.min_approvals.max(1);
    if rule.board.is_empty() {
        return Some(floor);
    }
    let eligible = rule
        .board
        .iter()
        .filter(|m| *m != requester)
        .collect::<BTreeSet<_>>()
        .len();
    let table = match rule.quorum {
        Quorum::Any => &ANY_NEEDS,
        Quorum::Majority => &MAJORITY_NEEDS,
        Quorum::All => &ALL_NEEDS,
    };
    Some(table[eligible].max(floor))
}

#[test]
fn quorum_counts_match_the_hand_written_table_for_boards_of_one_to_six() {
    let requester = ActorId::new("req");
    for n in 1..=6usize {
        let board: Vec<&str> = ["b1", "b2", "b3", "b4", "b5", "b6"][..n].to_vec();
        for (quorum, table) in [
            (Quorum::Any, &ANY_NEEDS),
            (Quorum::Majority, &MAJORITY_NEEDS),
            (Quorum::All, &ALL_NEEDS),
        ] {
            let r = rule(&[Role::CabMember], &board, quorum, 1);
            // The requester is not on the board: all n members are eligible.
            assert_eq!(
                r.required_approvals(&requester),
                table[n].max(1),
                "{quorum:?}, board of {n}"
            );
            // The requester is on the board: n - 1 are eligible.
            assert_eq!(
                r.required_approvals(&ActorId::new("b1")),
                table[n - 1].max(1),
                "{quorum:?}, board of {n} including the requester"
            );
            assert_eq!(
                r.quorum_reachable(&ActorId::new("b1")),
                table[n - 1].max(1) <= u32::try_from(n - 1).expect("small"),
                "{quorum:?}, board of {n} including the requester: reachable?"
            );
        }
    }
    // Explicitly, for the record: majority of 1..6 is 1, 2, 2, 3, 3, 4; all of them is n.
    assert_eq!(MAJORITY_NEEDS[1..], [1, 2, 2, 3, 3, 4]);
    assert_eq!(ALL_NEEDS[1..], [1, 2, 3, 4, 5, 6]);
}

fn is_eligible(change: &Change, id: &ActorId, policy: &Policy) -> bool {
    let Some(rule) = change.change_type.approval_rule(policy) else {
        return false;
    };
    let Some(actor) = pool_actor(id) else {
        return false;
    };
    actor.id != change.requester
        && rule.approver_roles.iter().any(|r| actor.has_role(*r))
        && (rule.board.is_empty() || rule.board.contains(&actor.id))
}

/// The invariants, one assertion each.
fn check_invariants(policy: &Policy, trace: &[Traced]) -> Result<(), TestCaseError> {
    let mut reached_review = false;
    let mut resets = 0u32;
    let mut approved_this_round: Vec<ActorId> = Vec::new();
    for (i, s) in trace.iter().enumerate() {
        let events = s.result.clone().unwrap_or_default();
        for e in &events {
            match e {
                ChangeEvent::Approved { by, .. } => approved_this_round.push(by.clone()),
                ChangeEvent::Rejected { .. } | ChangeEvent::RevertedToNew { .. } => {
                    resets += 1;
                    approved_this_round.clear();
                }
                ChangeEvent::Requested { .. }
                | ChangeEvent::Updated { .. }
                | ChangeEvent::Planned { .. }
                | ChangeEvent::Submitted { .. }
                | ChangeEvent::AuthorizationRequested { .. }
                | ChangeEvent::Authorized { .. }
                | ChangeEvent::Scheduled { .. }
                | ChangeEvent::ImplementationStarted { .. }
                | ChangeEvent::Implemented { .. }
                | ChangeEvent::Closed { .. }
                | ChangeEvent::Canceled { .. }
                | ChangeEvent::ProblemLinked { .. }
                | ChangeEvent::CausedIncidentRecorded { .. }
                | ChangeEvent::WorkNoteAdded { .. } => {}
            }
            prop_assert_eq!(e.at(), s.now, "step {}: event time is ctx.now", i);
            prop_assert_eq!(e.by(), &s.actor.id, "step {}: event actor is ctx.actor", i);
            let record = s.after.as_ref().map(|c| c.id);
            prop_assert_eq!(
                Some(e.id()),
                record,
                "step {}: event belongs to the record",
                i
            );
        }
        if s.result.is_err() {
            prop_assert_eq!(
                &s.after,
                &s.before,
                "step {}: a refused command changed the state",
                i
            );
        }
        let Some(c) = &s.after else { continue };
        let kind = c.status.kind();
        let before_kind = s.before.as_ref().map(|b| b.status.kind());

        prop_assert!(
            !(reached_review && kind == ChangeStatusKind::Canceled),
            "step {}: a change that reached Review or Closed was canceled afterwards",
            i
        );
        if matches!(kind, ChangeStatusKind::Review | ChangeStatusKind::Closed) {
            reached_review = true;
        }

        let implemented = c.implement_started_at.is_some();
        match &c.change_type {
            ChangeType::Standard { .. } => {
                prop_assert!(
                    !implemented || (c.approvals.is_empty() && c.authorized_at.is_none()),
                    "step {}: a standard change implemented with approvals: {:?}",
                    i,
                    c.approvals
                );
            }
            ChangeType::Normal | ChangeType::Emergency => {
                let needed = oracle_required(policy, &c.change_type, &c.requester).unwrap_or(0);
                let approvals = c
                    .approvals
                    .values()
                    .filter(|a| matches!(a.decision, ApprovalDecision::Approved { .. }))
                    .count();
                prop_assert!(
                    !implemented
                        || (c.authorized_at.is_some()
                            && u32::try_from(approvals).unwrap_or(u32::MAX) >= needed),
                    "step {}: implemented without its round's quorum ({} approvals, {} needed)",
                    i,
                    approvals,
                    needed
                );
            }
        }

        prop_assert!(
            !c.approvals.contains_key(&c.requester),
            "step {}: the requester {} is among the approvers",
            i,
            c.requester
        );

        for approver in c.approvals.keys() {
            prop_assert!(
                is_eligible(c, approver, policy),
                "step {}: {} approved without being eligible",
                i,
                approver
            );
        }
        let distinct: BTreeSet<&ActorId> = approved_this_round.iter().collect();
        prop_assert_eq!(
            distinct.len(),
            approved_this_round.len(),
            "step {}: an actor approved twice in a round: {:?}",
            i,
            &approved_this_round
        );
        prop_assert_eq!(
            c.approvals.keys().collect::<BTreeSet<_>>(),
            distinct,
            "step {}: the record's approvals differ from this round's approval events",
            i
        );

        if let Some(started) = c.implement_started_at {
            prop_assert!(
                c.approved_window.is_some_and(|w| w.contains(started)),
                "step {}: implementation started at {} outside the approved window {:?}",
                i,
                started,
                c.approved_window
            );
        }
        // A freeze over what is left of the window stops the start unless it was accepted.
        if events
            .iter()
            .any(|e| matches!(e, ChangeEvent::ImplementationStarted { .. }))
        {
            let rest = c.approved_window.map(|w| TimeWindow::new(s.now, w.end));
            for b in &policy.blackout_windows {
                let applies = match &b.scope {
                    CiScope::All => true,
                    CiScope::Only(only) => only.iter().any(|ci| c.cis.contains(ci)),
                };
                let overlaps = rest.is_some_and(|r| !b.occurrences(&r).is_empty());
                let accepted = c.accepted_conflicts.iter().any(|a| {
                    a.conflicts.iter().any(|x| {
                        matches!(x, Conflict::InsideBlackout { blackout, .. }
                            | Conflict::InsideGlobalBlackout { blackout } if *blackout == b.name)
                    })
                });
                prop_assert!(
                    !(applies && overlaps) || accepted,
                    "step {}: implementation started inside the unaccepted freeze {}",
                    i,
                    b.name
                );
            }
        }
        // Nothing is authorised or scheduled blind: the change names its CIs.
        prop_assert!(
            !matches!(
                kind,
                ChangeStatusKind::Authorize
                    | ChangeStatusKind::Scheduled
                    | ChangeStatusKind::Implement
                    | ChangeStatusKind::Review
                    | ChangeStatusKind::Closed
            ) || !c.cis.is_empty(),
            "step {}: {:?} without any CI",
            i,
            kind
        );
        // A requester edits and submits only their own change.
        if s.result.is_ok()
            && matches!(
                s.command,
                ChangeCommand::Update { .. } | ChangeCommand::Submit { .. }
            )
        {
            prop_assert!(
                s.actor.id == c.requester
                    || policy
                        .authorization
                        .allows(&s.actor, opsledger_core::Permission::ChangeWork),
                "step {}: {} edited or submitted {}'s change",
                i,
                s.actor.id,
                c.requester
            );
        }
        // The record pins its policy, and its ending carries its links.
        prop_assert_eq!(
            c.policy_version,
            policy.version,
            "step {}: policy version",
            i
        );
        for e in &events {
            if let ChangeEvent::Closed {
                fixes_problems,
                caused_incidents,
                ..
            }
            | ChangeEvent::Canceled {
                fixes_problems,
                caused_incidents,
                ..
            } = e
            {
                let before = s.before.as_ref();
                prop_assert_eq!(
                    Some(fixes_problems),
                    before.map(|b| &b.fixes_problems),
                    "step {}: the ending carries the fixed problems",
                    i
                );
                prop_assert_eq!(
                    Some(caused_incidents),
                    before.map(|b| &b.caused_incidents),
                    "step {}: the ending carries the caused incidents",
                    i
                );
            }
        }

        if let opsledger_core::change::ChangeStatus::Closed {
            code: CloseCode::Unsuccessful { backout },
        } = &c.status
        {
            prop_assert!(
                !backout.notes.trim().is_empty(),
                "step {}: closed unsuccessful without a backout record",
                i
            );
        }

        let reset_now = events.iter().any(|e| {
            matches!(
                e,
                ChangeEvent::Rejected { .. } | ChangeEvent::RevertedToNew { .. }
            )
        });
        if reset_now {
            prop_assert!(
                c.approvals.is_empty(),
                "step {}: approvals survived a rejection or revert",
                i
            );
            prop_assert_eq!(
                kind,
                ChangeStatusKind::New,
                "step {}: reset did not return to New",
                i
            );
        }

        prop_assert_eq!(
            c.approval_round,
            1 + resets,
            "step {}: the round counter is not 1 + rejections + reverts",
            i
        );
        prop_assert!(
            !matches!(kind, ChangeStatusKind::New | ChangeStatusKind::Assess)
                || c.approvals.is_empty(),
            "step {}: approvals recorded before Authorize",
            i
        );
        prop_assert!(
            !(matches!(c.change_type, ChangeType::Standard { .. })
                && matches!(kind, ChangeStatusKind::Assess | ChangeStatusKind::Authorize)),
            "step {}: a standard change went through assessment or authorisation",
            i
        );
        prop_assert!(
            !(c.change_type == ChangeType::Emergency && kind == ChangeStatusKind::Assess),
            "step {}: an emergency change went through Assess",
            i
        );
        prop_assert!(
            !matches!(
                kind,
                ChangeStatusKind::Scheduled | ChangeStatusKind::Implement
            ) || c.approved_window.is_some(),
            "step {}: booked without an approved window",
            i
        );
        prop_assert!(
            !before_kind.is_some_and(|b| b.is_terminal()) || before_kind == Some(kind),
            "step {}: a closed or canceled change moved to {:?}",
            i,
            kind
        );
        prop_assert!(
            kind != ChangeStatusKind::Closed || c.closed_at.is_some(),
            "step {}: closed without closed_at",
            i
        );
        prop_assert!(
            kind != ChangeStatusKind::Canceled || c.canceled_at.is_some(),
            "step {}: canceled without canceled_at",
            i
        );
    }
    Ok(())
}

// ---------------------------------------------------------------- the properties

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn folding_all_events_gives_the_stepwise_state(policy in arb_policy(), steps in arb_steps()) {
        let trace = drive(&policy, &steps);
        let folded = ChangeDecider::fold(all_events(&trace).iter());
        let stepwise = trace.last().and_then(|s| s.after.clone());
        prop_assert_eq!(folded, stepwise);
    }

    #[test]
    fn invariants_hold_in_every_reachable_state(policy in arb_policy(), steps in arb_steps()) {
        let trace = drive(&policy, &steps);
        check_invariants(&policy, &trace)?;
    }

    #[test]
    fn same_inputs_give_the_same_results(policy in arb_policy(), steps in arb_steps()) {
        let first = drive(&policy, &steps);
        let second = drive(&policy, &steps);
        prop_assert_eq!(first, second);
    }

    #[test]
    fn events_and_states_survive_a_serde_round_trip(policy in arb_policy(), steps in arb_steps()) {
        let trace = drive(&policy, &steps);
        for event in all_events(&trace) {
            let json = serde_json::to_value(&event).expect("serializes");
            prop_assert_eq!(json["type"].as_str(), Some(event.event_type()));
            prop_assert_eq!(event.schema_version(), 1);
            let back: ChangeEvent = serde_json::from_value(json).expect("deserializes");
            prop_assert_eq!(back, event);
        }
        for s in &trace {
            let json = serde_json::to_string(&s.command).expect("serializes");
            let back: ChangeCommand = serde_json::from_str(&json).expect("deserializes");
            prop_assert_eq!(&back, &s.command);
        }
        if let Some(state) = trace.last().and_then(|s| s.after.clone()) {
            let json = serde_json::to_string(&state).expect("serializes");
            let back: Change = serde_json::from_str(&json).expect("deserializes");
            prop_assert_eq!(back, state);
        }
    }

    #[test]
    fn arbitrary_commands_never_panic_and_refusals_change_nothing(
        policy in arb_policy(),
        steps in arb_steps(),
        probe in arb_command(),
        who in 0usize..8,
        wild_id in arb_text(),
        extreme_now in proptest::option::of(extreme_instant()),
    ) {
        // Every prefix's state receives an arbitrary command, valid or not, by anyone (an
        // actor with an arbitrary id and every role included), at any instant (the very first
        // and last ones `DateTime` can hold included).
        let trace = drive(&policy, &steps);
        let shared = Arc::new(policy);
        let actor = pool()
            .get(who)
            .cloned()
            .unwrap_or_else(|| Actor::new(wild_id, Role::ALL));
        for s in &trace {
            let now = extreme_now.unwrap_or(s.now);
            let ctx = Context::new(now, actor.clone(), shared.clone());
            match ChangeDecider::decide(&s.after, &probe, &ctx) {
                Ok(events) => {
                    let _ = events.iter().fold(s.after.clone(), ChangeDecider::evolve);
                }
                Err(e) => prop_assert!(!e.code().is_empty()),
            }
        }
    }

    #[test]
    fn evolve_is_total_on_reordered_and_repeated_events(
        policy in arb_policy(),
        steps in arb_steps(),
        picks in proptest::collection::vec(any::<Index>(), 0..60),
    ) {
        let events = all_events(&drive(&policy, &steps));
        if !events.is_empty() {
            let shuffled: Vec<&ChangeEvent> = picks.iter().map(|p| p.get(&events)).collect();
            let _ = shuffled
                .into_iter()
                .fold(None, ChangeDecider::evolve);
        }
    }
}

/// The generator reaches every state: a guard against a silently weakened property test.
#[test]
fn random_sequences_reach_every_state() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let mut seen = BTreeSet::new();
    let mut accepted_kinds = BTreeSet::new();
    for _ in 0..300 {
        let policy = arb_policy()
            .new_tree(&mut runner)
            .expect("policy")
            .current();
        let steps = arb_steps().new_tree(&mut runner).expect("steps").current();
        for s in drive(&policy, &steps) {
            if let Some(c) = &s.after {
                seen.insert(c.status.kind());
            }
            if s.result.as_ref().is_ok_and(|e| !e.is_empty()) {
                accepted_kinds.insert(s.command.kind());
            }
        }
    }
    assert_eq!(seen.len(), 8, "states reached: {seen:?}");
    assert_eq!(
        accepted_kinds.len(),
        15,
        "command kinds accepted at least once: {accepted_kinds:?}"
    );
}
