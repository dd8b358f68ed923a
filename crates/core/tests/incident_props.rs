//! Property tests over random command sequences on one incident.
//!
//! Commands of every kind are drawn with small pools of actors, ids, texts and times so that many
//! succeed, plus some wild values (arbitrary strings, ids and instants) so that every refusal
//! path is exercised too. The clock only moves forward between commands, as the engine's does.

#[path = "support/incident_fixtures.rs"]
mod fixtures;

use chrono::{DateTime, Duration, Utc};
use fixtures::{CHANGE, CHILD, INC, OTHER, PARENT, PROBLEM, PROBLEM2};
use opsledger_core::incident::{
    AlertSource, CancelReason, CloseCode, HoldReason, Incident, IncidentCommand,
    IncidentCommandKind, IncidentDecider, IncidentEvent, IncidentStatus, IncidentStatusKind,
    ReopenSource, ResolutionSource,
};
use opsledger_core::policy::{IncidentPolicy, Limits};
use opsledger_core::testing::{actor, t0};
use opsledger_core::{
    Actor, ActorId, ChangeId, CiId, Context, Decider, DomainError, DomainEvent, GroupId, Impact,
    IncidentId, Named, Policy, Priority, PriorityMatrix, ProblemId, Role, Urgency,
};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use std::sync::Arc;

// ----- generation -----------------------------------------------------------------------------

/// One random command, still abstract: indexes into pools, resolved against `now` when run.
#[derive(Debug, Clone)]
struct Step {
    actor: usize,
    minutes_later: u32,
    kind: usize,
    /// Pick among the commands the table allows in the current state (most steps), instead of
    /// the raw kind (which mostly tests refusals).
    guided: bool,
    pick: u16,
    p: [u16; 8],
    wild_text: String,
    wild_id: u128,
    wild_minutes: i32,
}

fn actors() -> [Actor; 12] {
    [
        actor("root", &[Role::Admin]),
        actor("root", &[Role::Admin]),
        actor("root", &[Role::Admin]),
        actor("alice", &[Role::Agent]),
        actor("mona", &[Role::Manager]),
        actor("carol", &[Role::Requester]),
        actor("dave", &[Role::Caller]),
        actor("nobody", &[]),
        actor("pat", &[Role::ProblemManager]),
        actor("alice", &[Role::Agent]),
        actor("mona", &[Role::Manager]),
        actor("opsledger", &[Role::System]),
    ]
}

/// Indexes into [`actors`] used by the major-incident script.
const ALICE: usize = 3;
const MONA: usize = 4;
const SYSTEM: usize = 11;

/// Command kinds, weighted: lifecycle moves often, the endings (cancel) and re-opening rarely,
/// so that sequences travel through the whole lifecycle before they stop.
fn kinds() -> Vec<usize> {
    use IncidentCommandKind as K;
    let mut weighted = Vec::new();
    for (i, kind) in IncidentCommandKind::ALL.iter().enumerate() {
        let weight = match kind {
            K::Open | K::Cancel => 1,
            K::Acknowledge => 10,
            K::Resolve | K::Reopen | K::Resume | K::AcceptMajor | K::PublishReview => 6,
            K::Close => 3,
            K::AutoClose => 5,
            K::PutOnHold | K::Assign | K::ResolveFromParent | K::ResolveFromProblem => 4,
            K::ProposeMajor | K::ReopenFromParent | K::LinkParent | K::LinkProblem => 3,
            K::RejectMajor
            | K::Reprioritize
            | K::EscalateFunctional
            | K::EscalateHierarchical
            | K::LinkChild
            | K::LinkDuplicate
            | K::CorrelateAlert
            | K::RecordImpactStart
            | K::RecordDetection
            | K::LinkCausingChange
            | K::AddWorkNote => 2,
            K::AddComment => 4,
        };
        weighted.extend(std::iter::repeat_n(i, weight));
    }
    weighted
}

fn step() -> impl Strategy<Value = Step> {
    (
        0..actors().len(),
        // Mostly minutes; sometimes about a week, so that the auto-close delay can pass.
        prop_oneof![12 => 0u32..90, 1 => 9_000u32..12_000],
        prop::sample::select(kinds()),
        (prop::bool::weighted(0.8), any::<u16>()),
        any::<[u16; 8]>(),
        any::<String>(),
        any::<u128>(),
        -5_000_000i32..5_000_000,
    )
        .prop_map(
            |(actor, minutes_later, kind, (guided, pick), p, wild_text, wild_id, wild_minutes)| {
                Step {
                    actor,
                    minutes_later,
                    kind,
                    guided,
                    pick,
                    p,
                    wild_text,
                    wild_id,
                    wild_minutes,
                }
            },
        )
}

/// A policy: the default, or tight limits with a different matrix.
fn policy(tight: bool) -> Policy {
    if !tight {
        return Policy::default();
    }
    use Priority::*;
    Policy {
        priority_matrix: PriorityMatrix {
            cells: [
                [Critical, Critical, High],
                [High, Moderate, Moderate],
                [Low, Planning, Planning],
            ],
        },
        limits: Limits {
            max_title_bytes: 24,
            max_text_bytes: 40,
            max_links: 3,
        },
        incident: IncidentPolicy {
            auto_close_after_days: 1,
            auto_close_calendar: None,
            resume_on_caller_comment: false,
            caller_reject_days: 1,
            ..IncidentPolicy::default()
        },
        ..Policy::default()
    }
}

struct Pools<'a> {
    step: &'a Step,
    now: DateTime<Utc>,
}

impl Pools<'_> {
    fn n(&self, i: usize, len: usize) -> usize {
        usize::from(self.step.p[i % 8]) % len
    }

    fn text(&self, i: usize) -> String {
        const TEXTS: [&str; 10] = [
            "Restarted the gateway",
            "Customer confirmed",
            "Vendor ticket 4711",
            "ok",
            "Failed over",
            "Rolled back",
            "",
            "   ",
            "a text far too long for the tight limits of the policy",
            "WILD",
        ];
        match TEXTS[self.n(i, TEXTS.len())] {
            "WILD" => self.step.wild_text.clone(),
            text => text.to_owned(),
        }
    }

    fn name(&self, i: usize, pool: &[&str]) -> String {
        let k = self.n(i, pool.len() + 1);
        pool.get(k)
            .map_or_else(|| self.step.wild_text.clone(), |s| (*s).to_owned())
    }

    fn incident(&self, i: usize) -> IncidentId {
        [
            INC,
            PARENT,
            PARENT,
            PARENT,
            OTHER,
            CHILD,
            IncidentId(uuid::Uuid::from_u128(self.step.wild_id)),
        ][self.n(i, 7)]
    }

    fn problem(&self, i: usize) -> ProblemId {
        [
            PROBLEM,
            PROBLEM2,
            ProblemId(uuid::Uuid::from_u128(self.step.wild_id)),
        ][self.n(i, 3)]
    }

    fn change(&self, i: usize) -> ChangeId {
        [CHANGE, ChangeId(uuid::Uuid::from_u128(self.step.wild_id))][self.n(i, 2)]
    }

    /// Mostly earlier than now; sometimes in the future; sometimes anywhere within ~10 years.
    fn time(&self, i: usize) -> DateTime<Utc> {
        match self.n(i, 10) {
            0 => self.now + Duration::minutes(5),
            1 => self.now + Duration::minutes(i64::from(self.step.wild_minutes)),
            _ => self.now - Duration::minutes(i64::from(self.step.p[(i + 1) % 8] % 300)),
        }
    }

    fn impact(&self, i: usize) -> Impact {
        [Impact::High, Impact::Medium, Impact::Low][self.n(i, 3)]
    }

    fn urgency(&self, i: usize) -> Urgency {
        [Urgency::High, Urgency::Medium, Urgency::Low][self.n(i, 3)]
    }

    fn code(&self, i: usize) -> CloseCode {
        CloseCode::ALL[self.n(i, CloseCode::ALL.len())]
    }

    fn hold(&self, i: usize) -> HoldReason {
        // Problems twice as often: only an incident awaiting one is resolved from it.
        match self.n(i, 5) {
            0 => HoldReason::AwaitingCaller,
            1 | 4 => HoldReason::AwaitingProblem {
                problem: self.problem(i + 1),
            },
            2 => HoldReason::AwaitingVendor,
            _ => HoldReason::AwaitingChange {
                change: self.change(i + 1),
            },
        }
    }

    fn key(&self, i: usize) -> String {
        self.name(i, &["cpu-high", "cpu-high", "disk-full"])
    }
}

const GROUPS: [&str; 3] = ["service-desk", "network", "db"];
const PEOPLE: [&str; 3] = ["alice", "bob", "carol"];

/// The next step of the major-incident script (propose, accept, resolve, publish the review,
/// close) for `state`, and who sends it; `None` when the script has nothing to do. Now and
/// then (by `pick`) it tries to close without a current review, or reopens after the review,
/// so that the review rule is tested from both sides.
fn major_next(state: &Option<Incident>, pick: u16) -> Option<(IncidentCommandKind, usize)> {
    use IncidentCommandKind as K;
    use IncidentStatusKind as S;
    use opsledger_core::incident::MajorStatusKind as M;
    let inc = state.as_ref()?;
    let status = inc.status.kind();
    match (inc.major.status.kind(), status) {
        (_, S::Closed | S::Canceled) => None,
        (M::NotMajor | M::Rejected, S::New | S::InProgress | S::OnHold) => {
            Some((K::ProposeMajor, ALICE))
        }
        (M::NotMajor | M::Rejected, S::Resolved) => None,
        (M::Proposed, _) => Some((K::AcceptMajor, MONA)),
        (M::Accepted, S::New) => Some((K::Acknowledge, ALICE)),
        (M::Accepted, S::InProgress | S::OnHold) => Some((K::Resolve, ALICE)),
        (M::Accepted, S::Resolved) if pick % 5 == 1 => Some((K::Close, MONA)),
        (M::Accepted, S::Resolved) if !inc.major.review_is_current() => {
            Some((K::PublishReview, MONA))
        }
        (M::Accepted, S::Resolved) if pick % 5 == 2 => Some((K::Reopen, ALICE)),
        (M::Accepted, S::Resolved) => Some((K::Close, MONA)),
    }
}

/// The kind a step stands for in `state`, who sends it, and (for the timer) the instant it
/// fires at: in a major-incident run, mostly the script's next step; when guided, one the
/// table allows there (weighted like [`kinds`]); otherwise the raw draw.
fn choose(
    step: &Step,
    major_run: bool,
    state: &Option<Incident>,
    policy: &Policy,
) -> (IncidentCommandKind, usize, Option<DateTime<Utc>>) {
    if major_run
        && step.guided
        && !step.pick.is_multiple_of(4)
        && let Some((kind, who)) = major_next(state, step.pick / 4)
    {
        return (kind, who, None);
    }
    let kind = choose_kind(step, state);
    // Half the guided auto-closes are the engine's timer: its role, at the due instant (the
    // other half, by anyone at any time, exercise the refusals).
    if kind == IncidentCommandKind::AutoClose && step.guided && step.pick.is_multiple_of(2) {
        let days = i64::from(policy.incident.auto_close_after_days);
        let due = state
            .as_ref()
            .and_then(|i| i.resolved_at)
            .map(|r| r + Duration::days(days));
        return (kind, SYSTEM, due);
    }
    (kind, step.actor, None)
}

/// The kind a step stands for in `state`: when guided, one the table allows there (weighted
/// like [`kinds`]), otherwise the raw draw.
fn choose_kind(step: &Step, state: &Option<Incident>) -> IncidentCommandKind {
    let raw = IncidentCommandKind::ALL[step.kind];
    if !step.guided {
        return raw;
    }
    let from = state.as_ref().map(|i| i.status.kind());
    let allowed: Vec<usize> = kinds()
        .into_iter()
        .filter(|k| Incident::transitions().allows(from, IncidentCommandKind::ALL[*k]))
        .collect();
    if allowed.is_empty() {
        return raw;
    }
    IncidentCommandKind::ALL[allowed[usize::from(step.pick) % allowed.len()]]
}

fn build(
    step: &Step,
    kind: IncidentCommandKind,
    now: DateTime<Utc>,
    state: &Option<Incident>,
) -> IncidentCommand {
    use IncidentCommandKind as K;
    let g = Pools { step, now };
    // Guided steps mostly name what the record links (its parent, its problem, its alert key),
    // as the engine's process managers would; unguided ones name anything.
    let hinted = step.guided && g.n(5, 4) != 0;
    let state = state.as_ref().filter(|_| hinted);
    let parent = |i| {
        state
            .and_then(|s| s.parent)
            .unwrap_or_else(|| g.incident(i))
    };
    let problem = |i| {
        let awaited = state.and_then(|s| match &s.status {
            IncidentStatus::OnHold {
                reason: HoldReason::AwaitingProblem { problem },
            } => Some(*problem),
            _ => s.problems.iter().next().copied(),
        });
        awaited.unwrap_or_else(|| g.problem(i))
    };
    let key = |i| {
        state
            .and_then(|s| s.alert.as_ref().map(|a| a.dedup_key.clone()))
            .unwrap_or_else(|| g.key(i))
    };
    // Mostly the incident under test; sometimes another one (wrong record / not found).
    let id = if g.n(7, 16) == 0 { OTHER } else { INC };
    let opt = |i: usize, v: String| if g.n(i, 3) == 0 { None } else { Some(v) };
    match kind {
        K::Open => IncidentCommand::Open {
            id,
            title: g.text(0),
            description: g.text(1),
            caller: ActorId::new(g.name(2, &["carol", "dave", "alice"])),
            impact: g.impact(3),
            urgency: g.urgency(4),
            service: opt(5, "payments".into()).map(opsledger_core::ServiceId::new),
            cis: (0..g.n(6, 4))
                .map(|i| CiId::new(g.name(i, &["db-1", "db-2", "web-1"])))
                .collect(),
            group: opt(1, g.name(2, &GROUPS)).map(GroupId::new),
            assignee: if g.n(3, 3) == 0 {
                Some(ActorId::new(g.name(4, &PEOPLE)))
            } else {
                None
            },
            alert: if g.n(5, 4) == 0 {
                None
            } else {
                Some(AlertSource {
                    dedup_key: g.key(6),
                    source: g.name(0, &["prometheus"]),
                    seen_at: if g.n(1, 2) == 0 {
                        None
                    } else {
                        Some(g.time(2))
                    },
                })
            },
        },
        K::Acknowledge => IncidentCommand::Acknowledge { id },
        K::Assign => IncidentCommand::Assign {
            id,
            group: opt(0, g.name(1, &GROUPS)).map(GroupId::new),
            assignee: opt(2, g.name(3, &PEOPLE)).map(ActorId::new),
        },
        K::PutOnHold => IncidentCommand::PutOnHold {
            id,
            reason: g.hold(0),
        },
        K::Resume => IncidentCommand::Resume { id },
        K::Resolve => IncidentCommand::Resolve {
            id,
            code: g.code(0),
            notes: g.text(1),
        },
        K::Reopen => IncidentCommand::Reopen {
            id,
            reason: g.text(0),
        },
        K::Close => IncidentCommand::Close { id },
        K::AutoClose => IncidentCommand::AutoClose { id },
        K::Cancel => IncidentCommand::Cancel {
            id,
            reason: match g.n(0, 3) {
                0 => CancelReason::Duplicate { of: g.incident(1) },
                1 => CancelReason::NotAnIncident,
                _ => CancelReason::Other { text: g.text(1) },
            },
        },
        K::Reprioritize => IncidentCommand::Reprioritize {
            id,
            impact: g.impact(0),
            urgency: g.urgency(1),
            reason: g.text(2),
        },
        K::EscalateFunctional => IncidentCommand::EscalateFunctional {
            id,
            to_group: GroupId::new(g.name(0, &GROUPS)),
            reason: g.text(1),
        },
        K::EscalateHierarchical => IncidentCommand::EscalateHierarchical {
            id,
            to: ActorId::new(g.name(0, &["mona", "cio"])),
            reason: g.text(1),
        },
        K::ProposeMajor => IncidentCommand::ProposeMajor {
            id,
            reason: g.text(0),
        },
        K::AcceptMajor => IncidentCommand::AcceptMajor { id },
        K::RejectMajor => IncidentCommand::RejectMajor {
            id,
            reason: g.text(0),
        },
        K::PublishReview => IncidentCommand::PublishReview {
            id,
            summary: g.text(0),
            findings: g.text(1),
            action_items: (0..g.n(2, 3)).map(|i| g.text(i + 3)).collect(),
        },
        K::LinkParent => IncidentCommand::LinkParent {
            id,
            parent: g.incident(0),
        },
        K::LinkChild => IncidentCommand::LinkChild {
            id,
            child: g.incident(0),
        },
        K::LinkDuplicate => IncidentCommand::LinkDuplicate {
            id,
            duplicate: g.incident(0),
        },
        K::ResolveFromParent => IncidentCommand::ResolveFromParent {
            id,
            parent: parent(0),
            code: g.code(1),
            notes: g.text(2),
        },
        K::ReopenFromParent => IncidentCommand::ReopenFromParent {
            id,
            parent: parent(0),
        },
        K::ResolveFromProblem => IncidentCommand::ResolveFromProblem {
            id,
            problem: problem(0),
            notes: g.text(1),
        },
        K::CorrelateAlert => IncidentCommand::CorrelateAlert {
            id,
            dedup_key: key(0),
            seen_at: g.time(1),
            via: None,
        },
        K::RecordImpactStart => IncidentCommand::RecordImpactStart {
            id,
            started_at: g.time(0),
        },
        K::RecordDetection => IncidentCommand::RecordDetection {
            id,
            detected_at: g.time(0),
        },
        K::LinkProblem => IncidentCommand::LinkProblem {
            id,
            problem: g.problem(0),
        },
        K::LinkCausingChange => IncidentCommand::LinkCausingChange {
            id,
            change: g.change(0),
        },
        K::AddWorkNote => IncidentCommand::AddWorkNote {
            id,
            text: g.text(0),
        },
        K::AddComment => IncidentCommand::AddComment {
            id,
            text: g.text(0),
        },
    }
}

/// The first step always opens the incident (as an agent, with sane fields), so that most of
/// a sequence runs against an existing record.
fn first_open() -> Step {
    Step {
        actor: 3,
        minutes_later: 0,
        kind: 0,
        guided: false,
        pick: 0,
        p: [0, 1, 2, 1, 1, 1, 0, 1],
        wild_text: String::new(),
        wild_id: 0,
        wild_minutes: 0,
    }
}

// ----- running --------------------------------------------------------------------------------

struct Run {
    /// Every command decided, in order.
    commands: Vec<IncidentCommand>,
    /// Every decision's outcome, in order.
    results: Vec<Result<Vec<IncidentEvent>, DomainError>>,
    /// Every event produced, in order.
    events: Vec<IncidentEvent>,
    /// The state the decider worked on, after the last step.
    state: Option<Incident>,
}

fn run(policy: &Policy, major_run: bool, steps: &[Step]) -> Result<Run, TestCaseError> {
    let actors = actors();
    let policy = Arc::new(policy.clone());
    let mut now = t0();
    let mut state: Option<Incident> = None;
    let mut events: Vec<IncidentEvent> = Vec::new();
    let mut results = Vec::new();
    let mut commands = Vec::new();
    for step in std::iter::once(&first_open()).chain(steps) {
        now += Duration::minutes(i64::from(step.minutes_later));
        let (kind, who, fires_at) = choose(step, major_run, &state, &policy);
        // The clock only moves forward.
        now = now.max(fires_at.unwrap_or(now));
        let who = actors[who].clone();
        let cmd = build(step, kind, now, &state);
        let ctx = Context::new(now, who.clone(), policy.clone());
        let result = IncidentDecider::decide(&state, &cmd, &ctx);
        if let Ok(produced) = &result {
            check_step(&state, &cmd, produced, &ctx)?;
            let before = state.clone();
            for e in produced {
                state = IncidentDecider::evolve(state, e);
            }
            check_closing(before.as_ref(), produced, &events, &ctx)?;
            check_guards(before.as_ref(), &cmd, produced, &ctx)?;
            events.extend(produced.iter().cloned());
            if let Some(inc) = &state {
                check_invariants(inc, &events, &policy)?;
            }
        }
        results.push(result);
        commands.push(cmd);
    }
    Ok(Run {
        commands,
        results,
        events,
        state,
    })
}

/// Checks one accepted decision: it respects the tables and stamps its events with the context.
fn check_step(
    before: &Option<Incident>,
    cmd: &IncidentCommand,
    produced: &[IncidentEvent],
    ctx: &Context,
) -> Result<(), TestCaseError> {
    prop_assert!(
        !produced.is_empty(),
        "an accepted command records something"
    );
    let from = before.as_ref().map(|i| i.status.kind());
    prop_assert!(
        !before.as_ref().is_some_and(|i| i.status.is_final()),
        "a final incident accepted {cmd:?}"
    );
    for e in produced {
        prop_assert_eq!(e.id(), cmd.id(), "event for the command's incident");
        prop_assert_eq!(e.at(), ctx.now, "events are recorded at ctx.now");
        prop_assert_eq!(e.by(), &ctx.actor.id, "events name the actor");
    }
    let after = produced
        .iter()
        .fold(before.clone(), IncidentDecider::evolve)
        .expect("an accepted command leaves an incident");
    prop_assert!(
        Incident::transitions()
            .targets(from, cmd.kind())
            .any(|to| to == after.status.kind()),
        "{:?} x {:?} reached {:?}, not a target of the table",
        from,
        cmd.kind(),
        after.status.kind()
    );
    if let (Some(major), Some(before)) = (cmd.kind().major(), before) {
        prop_assert!(
            Incident::major_transitions()
                .targets(Some(before.major.status.kind()), major)
                .any(|to| to == after.major.status.kind()),
            "major table not respected by {cmd:?}"
        );
    }
    Ok(())
}

/// The closing rules, checked against the history rather than the decider's own helpers: an
/// accepted major incident closes only with a review published after its latest reopen; a
/// proposed or accepted one is never auto-closed; the timer closes only once the policy's delay
/// has passed since the latest resolution, and only as the engine's role (or an admin).
fn check_closing(
    before: Option<&Incident>,
    produced: &[IncidentEvent],
    history: &[IncidentEvent],
    ctx: &Context,
) -> Result<(), TestCaseError> {
    use opsledger_core::incident::MajorStatusKind;
    let Some(before) = before else {
        return Ok(());
    };
    let mine: Vec<&IncidentEvent> = history.iter().filter(|e| e.id() == before.id).collect();
    let last_reopen = mine
        .iter()
        .rposition(|e| matches!(e, IncidentEvent::Reopened { .. }));
    let last_review = mine
        .iter()
        .rposition(|e| matches!(e, IncidentEvent::ReviewPublished { .. }));
    let last_resolved_at = mine.iter().rev().find_map(|e| match e {
        IncidentEvent::Resolved { at, .. } => Some(*at),
        _ => None,
    });
    for e in produced {
        match e {
            IncidentEvent::Closed { .. } if before.major.is_accepted() => {
                let review_after_reopen = match (last_review, last_reopen) {
                    (Some(review), Some(reopen)) => review > reopen,
                    (Some(_), None) => true,
                    (None, _) => false,
                };
                prop_assert!(
                    review_after_reopen,
                    "an accepted major incident closed without a review published after its \
                     latest reopen"
                );
            }
            IncidentEvent::AutoClosed { .. } => {
                let major = before.major.status.kind();
                prop_assert!(
                    major != MajorStatusKind::Proposed && major != MajorStatusKind::Accepted,
                    "a {:?} major incident was auto-closed",
                    major
                );
                let days = i64::from(ctx.policy.incident.auto_close_after_days);
                let due = last_resolved_at.map(|r| r + Duration::days(days));
                prop_assert!(
                    due.is_some_and(|due| ctx.now >= due),
                    "auto-closed at {} before the delay since {:?} passed",
                    ctx.now,
                    last_resolved_at
                );
                prop_assert!(
                    ctx.actor.has_role(Role::System) || ctx.actor.has_role(Role::Admin),
                    "auto-closed by {:?}, neither the engine nor an admin",
                    ctx.actor
                );
            }
            _ => {}
        }
    }
    Ok(())
}

/// Guards of accepted decisions, checked on the state before them.
fn check_guards(
    before: Option<&Incident>,
    cmd: &IncidentCommand,
    produced: &[IncidentEvent],
    ctx: &Context,
) -> Result<(), TestCaseError> {
    let Some(before) = before else {
        return Ok(());
    };
    for e in produced {
        match e {
            IncidentEvent::Resolved {
                source: ResolutionSource::Problem { problem },
                ..
            } => prop_assert_eq!(
                &before.status,
                &IncidentStatus::OnHold {
                    reason: HoldReason::AwaitingProblem { problem: *problem }
                },
                "resolved from a problem it did not await"
            ),
            IncidentEvent::DetectionRecorded { occurred_at, .. } => prop_assert!(
                *occurred_at <= before.opened_at,
                "detected at {} after being logged at {}",
                occurred_at,
                before.opened_at
            ),
            IncidentEvent::Canceled { .. } if before.major.is_accepted() => prop_assert!(
                ctx.actor.has_role(Role::Manager) || ctx.actor.has_role(Role::Admin),
                "{:?} canceled an accepted major incident without major_incident_decide",
                cmd
            ),
            IncidentEvent::CommentAdded { .. } => prop_assert!(
                works(&ctx.actor) || ctx.actor.id == before.caller,
                "{:?} commented on an incident of caller {} without working incidents",
                ctx.actor,
                before.caller
            ),
            IncidentEvent::Reopened {
                source: ReopenSource::Direct { .. },
                ..
            } if !works(&ctx.actor) => {
                prop_assert_eq!(&ctx.actor.id, &before.caller, "a stranger reopened");
                let window = Duration::days(i64::from(ctx.policy.incident.caller_reject_days));
                let resolved = before.resolved_at.expect("a resolved incident");
                prop_assert!(
                    ctx.now <= resolved + window,
                    "the caller rejected at {} after the window since {} ended",
                    ctx.now,
                    resolved
                );
            }
            _ => {}
        }
    }
    // A comment resumes exactly when the caller answers an incident awaiting them, and the
    // policy says so.
    if let IncidentCommand::AddComment { .. } = cmd {
        let awaiting = before.status
            == IncidentStatus::OnHold {
                reason: HoldReason::AwaitingCaller,
            };
        let should_resume = awaiting
            && ctx.actor.id == before.caller
            && ctx.policy.incident.resume_on_caller_comment;
        let resumed = produced
            .iter()
            .any(|e| matches!(e, IncidentEvent::Resumed { .. }));
        prop_assert_eq!(
            resumed,
            should_resume,
            "comment by {:?} on {:?}",
            ctx.actor,
            before.status
        );
        prop_assert!(
            matches!(produced.first(), Some(IncidentEvent::CommentAdded { .. })),
            "a comment records the comment first"
        );
    }
    Ok(())
}

/// Whether `actor` may work incidents under the default grants (written out independently).
fn works(actor: &Actor) -> bool {
    [Role::Agent, Role::Manager, Role::Admin, Role::System]
        .iter()
        .any(|r| actor.has_role(*r))
}

fn count(events: &[IncidentEvent], pred: impl Fn(&IncidentEvent) -> bool) -> usize {
    events.iter().filter(|e| pred(e)).count()
}

/// The invariants every reachable incident keeps, given the events that built it.
fn check_invariants(
    inc: &Incident,
    events: &[IncidentEvent],
    policy: &Policy,
) -> Result<(), TestCaseError> {
    let mine: Vec<IncidentEvent> = events
        .iter()
        .filter(|e| e.id() == inc.id)
        .cloned()
        .collect();
    let events = &mine[..];
    let kind = inc.status.kind();
    let is = |k: IncidentStatusKind| kind == k;

    // A closed incident has a close code: it was resolved before closing.
    if is(IncidentStatusKind::Closed) {
        prop_assert!(inc.resolution.is_some(), "closed without a close code");
        let last_resolved = events
            .iter()
            .rposition(|e| matches!(e, IncidentEvent::Resolved { .. }));
        let closed = events.iter().position(|e| {
            matches!(
                e,
                IncidentEvent::Closed { .. } | IncidentEvent::AutoClosed { .. }
            )
        });
        prop_assert!(
            matches!((last_resolved, closed), (Some(r), Some(c)) if r < c),
            "closed without being resolved first"
        );
    }
    // Resolved and closed incidents carry non-blank notes.
    if let IncidentStatus::Resolved { code, notes } = &inc.status {
        prop_assert!(!notes.trim().is_empty(), "resolved with blank notes");
        let res = inc.resolution.as_ref();
        prop_assert_eq!(
            res.map(|r| r.code),
            Some(*code),
            "status and resolution agree on the code"
        );
        prop_assert_eq!(
            res.map(|r| r.notes.as_str()),
            Some(notes.as_str()),
            "and on the notes"
        );
    }
    if is(IncidentStatusKind::Closed) {
        prop_assert!(
            inc.resolution
                .as_ref()
                .is_some_and(|r| !r.notes.trim().is_empty()),
            "closed with blank notes"
        );
    }
    // The resolution exists exactly while resolved or closed.
    let resolvedish = is(IncidentStatusKind::Resolved) || is(IncidentStatusKind::Closed);
    prop_assert_eq!(
        inc.resolution.is_some(),
        resolvedish,
        "resolution iff resolved/closed"
    );
    prop_assert_eq!(
        inc.resolved_at.is_some(),
        resolvedish,
        "resolved_at iff resolved/closed"
    );
    prop_assert_eq!(
        inc.closed_at.is_some(),
        is(IncidentStatusKind::Closed),
        "closed_at iff closed"
    );
    // Counters equal the number of their events.
    prop_assert_eq!(
        inc.reopen_count as usize,
        count(events, |e| matches!(e, IncidentEvent::Reopened { .. })),
        "reopen_count == reopen events"
    );
    prop_assert_eq!(
        inc.reassignment_count as usize,
        count(events, |e| matches!(
            e,
            IncidentEvent::Reassigned { .. } | IncidentEvent::EscalatedFunctionally { .. }
        )),
        "reassignment_count == reassignment events"
    );
    prop_assert_eq!(
        usize::from(inc.escalation.functional_tier),
        1 + count(events, |e| matches!(
            e,
            IncidentEvent::EscalatedFunctionally { .. }
        )),
        "tier == 1 + functional escalations"
    );
    prop_assert_eq!(
        usize::from(inc.escalation.hierarchical_level),
        count(events, |e| matches!(
            e,
            IncidentEvent::EscalatedHierarchically { .. }
        )),
        "level == hierarchical escalations"
    );
    prop_assert_eq!(
        inc.work_note_count as usize,
        count(events, |e| matches!(e, IncidentEvent::WorkNoteAdded { .. })),
        "work_note_count == work note events"
    );
    prop_assert_eq!(
        inc.comment_count as usize,
        count(events, |e| matches!(e, IncidentEvent::CommentAdded { .. })),
        "comment_count == comment events"
    );
    // A canceled incident never became resolved afterwards, and stays canceled.
    if let Some(c) = events
        .iter()
        .position(|e| matches!(e, IncidentEvent::Canceled { .. }))
    {
        prop_assert!(
            is(IncidentStatusKind::Canceled),
            "canceled, then left Canceled"
        );
        prop_assert_eq!(
            c,
            events.len() - 1,
            "nothing recorded after the cancellation"
        );
    }
    // A major incident is closed only with a published review.
    if is(IncidentStatusKind::Closed) && inc.major.is_accepted() {
        prop_assert!(
            inc.major.review.is_some(),
            "major incident closed without review"
        );
    }
    // Timestamps are ordered.
    if let (Some(ack), Some(res)) = (inc.acknowledged_at, inc.resolved_at) {
        prop_assert!(ack <= res, "acknowledged_at <= resolved_at");
    }
    if let Some(ack) = inc.acknowledged_at {
        prop_assert!(inc.opened_at <= ack, "opened_at <= acknowledged_at");
    }
    if let (Some(start), Some(detected)) = (inc.impact_started_at, inc.detected_at) {
        prop_assert!(start <= detected, "impact_started_at <= detected_at");
    }
    prop_assert_eq!(
        Some(inc.updated_at),
        events.last().map(IncidentEvent::at),
        "updated_at is the latest event"
    );
    // Alerts: 1 + one per correlation, inside a consistent window.
    if let Some(alert) = &inc.alert {
        prop_assert_eq!(
            alert.alert_count as usize,
            1 + count(events, |e| matches!(
                e,
                IncidentEvent::AlertCorrelated { .. }
            )),
            "alert_count == 1 + correlations"
        );
        prop_assert!(
            alert.first_seen <= alert.last_seen,
            "first_seen <= last_seen"
        );
    } else {
        prop_assert_eq!(
            count(events, |e| matches!(
                e,
                IncidentEvent::AlertCorrelated { .. }
            )),
            0,
            "no correlation without an alert"
        );
    }
    // Priority always follows the matrix.
    prop_assert_eq!(
        inc.priority,
        policy.priority_matrix.priority(inc.impact, inc.urgency),
        "priority == matrix(impact, urgency)"
    );
    // New means nobody owns it and nobody responded; working states were responded to.
    if is(IncidentStatusKind::New) {
        prop_assert!(inc.assignee.is_none(), "a New incident has no assignee");
        prop_assert!(
            inc.acknowledged_at.is_none(),
            "a New incident is unacknowledged"
        );
    }
    if is(IncidentStatusKind::InProgress) || is(IncidentStatusKind::OnHold) {
        prop_assert!(
            inc.acknowledged_at.is_some(),
            "work started => acknowledged"
        );
    }
    // The record pins the policy it was opened under.
    prop_assert_eq!(
        inc.policy_version,
        policy.version,
        "policy_version pinned at opening"
    );
    // A review is stale exactly when a reopen came after the latest revision.
    let last_reopen = events
        .iter()
        .rposition(|e| matches!(e, IncidentEvent::Reopened { .. }));
    let last_review = events
        .iter()
        .rposition(|e| matches!(e, IncidentEvent::ReviewPublished { .. }));
    prop_assert_eq!(
        inc.major.review_required_since.is_some(),
        matches!((last_review, last_reopen), (Some(review), Some(reopen)) if reopen > review),
        "review_required_since iff a reopen followed the latest review"
    );
    // Links: no self-links, no two-incident cycle, within limits.
    prop_assert!(inc.parent != Some(inc.id), "not its own parent");
    prop_assert!(!inc.children.contains(&inc.id), "not its own child");
    prop_assert!(
        inc.parent.is_none_or(|p| !inc.children.contains(&p)),
        "its parent is not its child"
    );
    prop_assert!(!inc.duplicates.contains(&inc.id), "not its own duplicate");
    let max = policy.limits.max_links;
    prop_assert!(inc.children.len() <= max, "children within limits");
    prop_assert!(inc.duplicates.len() <= max, "duplicates within limits");
    prop_assert!(inc.problems.len() <= max, "problems within limits");
    prop_assert!(inc.caused_by_changes.len() <= max, "changes within limits");
    prop_assert!(inc.cis.len() <= max, "CIs within limits");
    prop_assert!(
        inc.work_note_count as usize <= max,
        "work notes within limits"
    );
    Ok(())
}

fn round_trip<T>(value: &T) -> Result<serde_json::Value, TestCaseError>
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let json = serde_json::to_value(value).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let back: T =
        serde_json::from_value(json.clone()).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&back, value, "serde round trip");
    Ok(json)
}

/// (tight policy, major-incident run, steps). A third of the runs follow the major-incident
/// script (propose, accept, resolve, review, close) between random steps, so that the rules
/// of accepted major incidents are exercised in a meaningful share of runs.
fn scenario() -> impl Strategy<Value = (bool, bool, Vec<Step>)> {
    (
        prop::bool::weighted(0.25),
        prop::bool::weighted(0.35),
        prop::collection::vec(step(), 0..40),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// (a) folding the produced events gives the state the decider worked on, and (b) every
    /// reachable state keeps the invariants (checked inside `run` after every step).
    #[test]
    fn folded_events_equal_the_state_and_invariants_hold((tight, major, steps) in scenario()) {
        let policy = policy(tight);
        let run = run(&policy, major, &steps)?;
        prop_assert_eq!(IncidentDecider::fold(run.events.iter()), run.state.clone());
        prop_assert!(run.state.is_some(), "the first step opens the incident");
    }

    /// (c) the same inputs give the same events and the same errors.
    #[test]
    fn decisions_are_deterministic((tight, major, steps) in scenario()) {
        let policy = policy(tight);
        let first = run(&policy, major, &steps)?;
        let second = run(&policy, major, &steps)?;
        prop_assert_eq!(first.results, second.results);
    }

    /// (d) every event, command and state survives a serde_json round trip, and events carry
    /// their stable type and schema version.
    #[test]
    fn everything_survives_serde((tight, major, steps) in scenario()) {
        let policy = policy(tight);
        let run = run(&policy, major, &steps)?;
        for e in &run.events {
            let json = round_trip(e)?;
            prop_assert_eq!(json["type"].as_str(), Some(e.event_type()));
            prop_assert_eq!(e.schema_version(), 1);
        }
        for cmd in &run.commands {
            let json = round_trip(cmd)?;
            prop_assert!(json["command"].is_string());
        }
        if let Some(state) = &run.state {
            round_trip(state)?;
        }
    }

    /// (e) arbitrary commands in arbitrary states never panic (wild strings, ids and instants
    /// included: see `Pools`), and evolve is total even on shuffled or repeated events.
    #[test]
    fn nothing_panics_and_evolve_is_total(
        (tight, major, steps) in scenario(),
        order in prop::collection::vec(any::<u32>(), 0..80),
    ) {
        let policy = policy(tight);
        let run = run(&policy, major, &steps)?;
        for events in run.results.iter().flatten() {
            prop_assert!(!events.is_empty());
        }
        // Out of order and repeated: pick events by the random indexes, fold, never panic.
        if !run.events.is_empty() {
            let shuffled: Vec<&IncidentEvent> = order
                .iter()
                .map(|i| &run.events[*i as usize % run.events.len()])
                .collect();
            let state = shuffled
                .into_iter()
                .fold(None, |s: Option<Incident>, e| IncidentDecider::evolve(s, e));
            if let Some(inc) = state {
                prop_assert!(inc.id == INC || inc.id == OTHER);
            }
        }
    }
}

#[test]
fn every_event_type_matches_its_serde_tag() {
    // Broad coverage without randomness: one long scripted run touching every event type.
    use fixtures::*;
    let events = history(&[
        open_cmd(),
        IncidentCommand::LinkParent {
            id: INC,
            parent: PARENT,
        },
        IncidentCommand::Assign {
            id: INC,
            group: Some(GroupId::new("service-desk")),
            assignee: Some(ActorId::new("bob")),
        },
        IncidentCommand::Assign {
            id: INC,
            group: Some(GroupId::new("network")),
            assignee: Some(ActorId::new("eve")),
        },
        valid_command(IncidentCommandKind::PutOnHold),
        valid_command(IncidentCommandKind::Resume),
        valid_command(IncidentCommandKind::Reprioritize),
        valid_command(IncidentCommandKind::EscalateFunctional),
        valid_command(IncidentCommandKind::EscalateHierarchical),
        valid_command(IncidentCommandKind::ProposeMajor),
        valid_command(IncidentCommandKind::RejectMajor),
        valid_command(IncidentCommandKind::ProposeMajor),
        valid_command(IncidentCommandKind::AcceptMajor),
        valid_command(IncidentCommandKind::LinkChild),
        valid_command(IncidentCommandKind::LinkDuplicate),
        IncidentCommand::CorrelateAlert {
            id: INC,
            dedup_key: KEY.into(),
            seen_at: opsledger_core::testing::t(1),
            via: None,
        },
        IncidentCommand::RecordImpactStart {
            id: INC,
            started_at: opsledger_core::testing::t(-30),
        },
        IncidentCommand::RecordDetection {
            id: INC,
            detected_at: opsledger_core::testing::t(-10),
        },
        valid_command(IncidentCommandKind::LinkProblem),
        valid_command(IncidentCommandKind::LinkCausingChange),
        valid_command(IncidentCommandKind::AddWorkNote),
        valid_command(IncidentCommandKind::AddComment),
        valid_command(IncidentCommandKind::ResolveFromParent),
        valid_command(IncidentCommandKind::ReopenFromParent),
        valid_command(IncidentCommandKind::Resolve),
        valid_command(IncidentCommandKind::Reopen),
        valid_command(IncidentCommandKind::Resolve),
        review_cmd(),
        IncidentCommand::Close { id: INC },
    ]);
    let mut types = std::collections::BTreeSet::new();
    for e in &events {
        let json = serde_json::to_value(e).expect("serializes");
        assert_eq!(json["type"].as_str(), Some(e.event_type()));
        types.insert(e.event_type());
    }
    // Everything but auto_closed and canceled, which end a record differently.
    let no_delay = Policy {
        incident: IncidentPolicy {
            auto_close_after_days: 0,
            auto_close_calendar: None,
            ..IncidentPolicy::default()
        },
        ..Policy::default()
    };
    let others = [
        history_with(
            &no_delay,
            &[
                open_cmd(),
                valid_command(IncidentCommandKind::Acknowledge),
                valid_command(IncidentCommandKind::Resolve),
                IncidentCommand::AutoClose { id: INC },
            ],
        ),
        history(&[open_cmd(), valid_command(IncidentCommandKind::Cancel)]),
        history(&[
            open_cmd(),
            valid_command(IncidentCommandKind::Acknowledge),
            IncidentCommand::PutOnHold {
                id: INC,
                reason: HoldReason::AwaitingProblem { problem: PROBLEM },
            },
            valid_command(IncidentCommandKind::ResolveFromProblem),
        ]),
    ];
    for e in others.iter().flatten() {
        let json = serde_json::to_value(e).expect("serializes");
        assert_eq!(json["type"].as_str(), Some(e.event_type()));
        types.insert(e.event_type());
    }
    assert_eq!(types.len(), 28, "every event type was produced: {types:?}");
}

#[test]
fn random_runs_accept_every_command_kind_and_reach_every_state() {
    // Guards the generator: properties over sequences that are all refused would prove nothing.
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    use std::collections::BTreeMap;
    let mut runner = TestRunner::deterministic();
    let mut accepted: BTreeMap<&str, usize> = BTreeMap::new();
    let mut reached: BTreeMap<&str, usize> = BTreeMap::new();
    let (mut ok, mut total) = (0usize, 0usize);
    let (mut majors_closed, mut auto_closed, mut stale_reviews_refused) = (0usize, 0usize, 0usize);
    let runs = 300;
    for _ in 0..runs {
        let (tight, major, steps) = scenario()
            .new_tree(&mut runner)
            .expect("generates")
            .current();
        let policy = policy(tight);
        let run = run(&policy, major, &steps).expect("invariants hold");
        // Runs where an accepted major incident went all the way: resolved, reviewed, closed.
        let mut state: Option<Incident> = None;
        let mut closed_major = false;
        for e in &run.events {
            let accepted = state.as_ref().is_some_and(|i| i.major.is_accepted());
            if accepted && matches!(e, IncidentEvent::Closed { .. }) {
                closed_major = true;
            }
            if matches!(e, IncidentEvent::AutoClosed { .. }) {
                auto_closed += 1;
            }
            state = IncidentDecider::evolve(state, e);
        }
        majors_closed += usize::from(closed_major);
        stale_reviews_refused += run
            .results
            .iter()
            .filter(|r| matches!(r, Err(DomainError::ReviewRequired)))
            .count();
        for (cmd, result) in run.commands.iter().zip(&run.results) {
            total += 1;
            if result.is_ok() {
                ok += 1;
                *accepted.entry(cmd.kind().name()).or_default() += 1;
            }
        }
        let mut state = None;
        for e in &run.events {
            state = IncidentDecider::evolve(state, e);
            if let Some(inc) = &state {
                *reached.entry(inc.status.kind().name()).or_default() += 1;
            }
        }
    }
    for kind in IncidentCommandKind::ALL {
        assert!(
            accepted.contains_key(kind.name()),
            "{kind:?} never accepted: {accepted:?}"
        );
    }
    for status in IncidentStatusKind::ALL {
        assert!(
            reached.contains_key(status.name()),
            "{status:?} never reached"
        );
    }
    assert!(
        majors_closed * 10 >= runs,
        "an accepted major incident was resolved, reviewed and closed in only {majors_closed} \
         of {runs} runs"
    );
    assert!(auto_closed >= 10, "only {auto_closed} auto-closes");
    assert!(
        stale_reviews_refused >= 10,
        "only {stale_reviews_refused} closes refused for want of a review"
    );
    eprintln!(
        "accepted {ok} of {total} commands: {accepted:?}\nreached: {reached:?}\n\
         majors closed in {majors_closed} of {runs} runs; {auto_closed} auto-closes"
    );
}
