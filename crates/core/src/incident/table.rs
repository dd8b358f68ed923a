//! THE incident transition tables: the lifecycle and the major-incident overlay.
//!
//! `decide` checks every command against these tables before anything else, so they are the
//! authority on what is allowed where; guards (in words here) are enforced in `decide`.

use super::command::{IncidentCommandKind as C, MajorCommandKind as M};
use super::state::{Incident, IncidentStatusKind as S, MajorStatusKind as Major};
use crate::ids::RecordKind;
use crate::transition::{Transition, TransitionTable};

const fn row(from: Option<S>, command: C, to: S, guard: &'static str) -> Transition<S, C> {
    Transition {
        from,
        command,
        to,
        guard,
    }
}

const fn keep(state: S, command: C, guard: &'static str) -> Transition<S, C> {
    row(Some(state), command, state, guard)
}

const fn mrow(from: Major, command: M, to: Major, guard: &'static str) -> Transition<Major, M> {
    Transition {
        from: Some(from),
        command,
        to,
        guard,
    }
}

const NEW: Option<S> = Some(S::New);
const IN_PROGRESS: Option<S> = Some(S::InProgress);
const ON_HOLD: Option<S> = Some(S::OnHold);
const RESOLVED: Option<S> = Some(S::Resolved);

/// The incident lifecycle. Closed and Canceled accept nothing.
pub(crate) static TABLE: TransitionTable<S, C> = TransitionTable {
    kind: RecordKind::Incident,
    name: "incident",
    rows: &[
        // Logging.
        row(None, C::Open, S::New, "no assignee"),
        row(None, C::Open, S::InProgress, "assignee given"),
        // First response.
        row(NEW, C::Acknowledge, S::InProgress, ""),
        row(NEW, C::Assign, S::New, "group only"),
        row(NEW, C::Assign, S::InProgress, "assignee given"),
        keep(S::InProgress, C::Assign, "assignment changes"),
        keep(S::OnHold, C::Assign, "assignment changes"),
        // Holding.
        row(IN_PROGRESS, C::PutOnHold, S::OnHold, ""),
        keep(S::OnHold, C::PutOnHold, "reason changes"),
        row(ON_HOLD, C::Resume, S::InProgress, ""),
        // Resolution.
        row(IN_PROGRESS, C::Resolve, S::Resolved, ""),
        row(ON_HOLD, C::Resolve, S::Resolved, ""),
        row(NEW, C::ResolveFromParent, S::Resolved, "the linked parent"),
        row(
            IN_PROGRESS,
            C::ResolveFromParent,
            S::Resolved,
            "the linked parent",
        ),
        row(
            ON_HOLD,
            C::ResolveFromParent,
            S::Resolved,
            "the linked parent",
        ),
        row(
            ON_HOLD,
            C::ResolveFromProblem,
            S::Resolved,
            "awaits this problem",
        ),
        row(
            RESOLVED,
            C::Reopen,
            S::InProgress,
            "acknowledged before; caller: own incident, within caller_reject_days",
        ),
        row(
            RESOLVED,
            C::Reopen,
            S::New,
            "never acknowledged; caller: own incident, within caller_reject_days",
        ),
        row(
            RESOLVED,
            C::ReopenFromParent,
            S::InProgress,
            "the linked parent; acknowledged before",
        ),
        row(
            RESOLVED,
            C::ReopenFromParent,
            S::New,
            "the linked parent; never acknowledged",
        ),
        // Closure.
        row(
            RESOLVED,
            C::Close,
            S::Closed,
            "caller: own incident; accepted major: review published since the latest reopen",
        ),
        row(
            RESOLVED,
            C::AutoClose,
            S::Closed,
            "not a proposed or accepted major; auto-close delay elapsed since resolution",
        ),
        row(
            NEW,
            C::Cancel,
            S::Canceled,
            "accepted major: major_incident_decide",
        ),
        row(
            IN_PROGRESS,
            C::Cancel,
            S::Canceled,
            "accepted major: major_incident_decide",
        ),
        row(
            ON_HOLD,
            C::Cancel,
            S::Canceled,
            "accepted major: major_incident_decide",
        ),
        // Priority and escalation, while the incident is open.
        keep(S::New, C::Reprioritize, "impact or urgency changes"),
        keep(S::InProgress, C::Reprioritize, "impact or urgency changes"),
        keep(S::OnHold, C::Reprioritize, "impact or urgency changes"),
        keep(S::New, C::EscalateFunctional, "another group"),
        keep(S::InProgress, C::EscalateFunctional, "another group"),
        keep(S::OnHold, C::EscalateFunctional, "another group"),
        keep(S::New, C::EscalateHierarchical, ""),
        keep(S::InProgress, C::EscalateHierarchical, ""),
        keep(S::OnHold, C::EscalateHierarchical, ""),
        // Major-incident overlay (its own table decides further).
        keep(S::New, C::ProposeMajor, ""),
        keep(S::InProgress, C::ProposeMajor, ""),
        keep(S::OnHold, C::ProposeMajor, ""),
        keep(S::Resolved, C::ProposeMajor, ""),
        keep(S::New, C::AcceptMajor, ""),
        keep(S::InProgress, C::AcceptMajor, ""),
        keep(S::OnHold, C::AcceptMajor, ""),
        keep(S::Resolved, C::AcceptMajor, ""),
        keep(S::New, C::RejectMajor, ""),
        keep(S::InProgress, C::RejectMajor, ""),
        keep(S::OnHold, C::RejectMajor, ""),
        keep(S::Resolved, C::RejectMajor, ""),
        keep(S::Resolved, C::PublishReview, ""),
        // Parent/child and duplicates.
        keep(
            S::New,
            C::LinkParent,
            "no parent yet; not itself or its child",
        ),
        keep(
            S::InProgress,
            C::LinkParent,
            "no parent yet; not itself or its child",
        ),
        keep(
            S::OnHold,
            C::LinkParent,
            "no parent yet; not itself or its child",
        ),
        keep(S::New, C::LinkChild, "not itself or its parent"),
        keep(S::InProgress, C::LinkChild, "not itself or its parent"),
        keep(S::OnHold, C::LinkChild, "not itself or its parent"),
        keep(S::New, C::LinkDuplicate, "not itself"),
        keep(S::InProgress, C::LinkDuplicate, "not itself"),
        keep(S::OnHold, C::LinkDuplicate, "not itself"),
        keep(S::Resolved, C::LinkDuplicate, "not itself"),
        // Alerts: only an open incident takes repeats of its alert.
        keep(
            S::New,
            C::CorrelateAlert,
            "same dedup key, or via its service",
        ),
        keep(
            S::InProgress,
            C::CorrelateAlert,
            "same dedup key, or via its service",
        ),
        keep(
            S::OnHold,
            C::CorrelateAlert,
            "same dedup key, or via its service",
        ),
        // Backdated facts, links and notes, until the incident is closed.
        keep(S::New, C::RecordImpactStart, "not after detection"),
        keep(S::InProgress, C::RecordImpactStart, "not after detection"),
        keep(S::OnHold, C::RecordImpactStart, "not after detection"),
        keep(S::Resolved, C::RecordImpactStart, "not after detection"),
        keep(
            S::New,
            C::RecordDetection,
            "not before impact start, not after logging",
        ),
        keep(
            S::InProgress,
            C::RecordDetection,
            "not before impact start, not after logging",
        ),
        keep(
            S::OnHold,
            C::RecordDetection,
            "not before impact start, not after logging",
        ),
        keep(
            S::Resolved,
            C::RecordDetection,
            "not before impact start, not after logging",
        ),
        keep(S::New, C::LinkProblem, ""),
        keep(S::InProgress, C::LinkProblem, ""),
        keep(S::OnHold, C::LinkProblem, ""),
        keep(S::Resolved, C::LinkProblem, ""),
        keep(S::New, C::LinkCausingChange, "mirrored on the change"),
        keep(
            S::InProgress,
            C::LinkCausingChange,
            "mirrored on the change",
        ),
        keep(S::OnHold, C::LinkCausingChange, "mirrored on the change"),
        keep(S::Resolved, C::LinkCausingChange, "mirrored on the change"),
        keep(S::New, C::AddWorkNote, ""),
        keep(S::InProgress, C::AddWorkNote, ""),
        keep(S::OnHold, C::AddWorkNote, ""),
        keep(S::Resolved, C::AddWorkNote, ""),
        // Comments the caller sees: the caller on their own incident, workers on any.
        keep(S::New, C::AddComment, "caller: own incident"),
        keep(S::InProgress, C::AddComment, "caller: own incident"),
        row(
            ON_HOLD,
            C::AddComment,
            S::InProgress,
            "by the caller, awaiting caller, resume_on_caller_comment",
        ),
        keep(S::OnHold, C::AddComment, "caller: own incident; otherwise"),
        keep(S::Resolved, C::AddComment, "caller: own incident"),
    ],
};

/// The major-incident overlay. A command must pass both this table and [`TABLE`].
pub(crate) static MAJOR_TABLE: TransitionTable<Major, M> = TransitionTable {
    kind: RecordKind::Incident,
    name: "incident_major",
    rows: &[
        mrow(Major::NotMajor, M::ProposeMajor, Major::Proposed, ""),
        mrow(Major::Rejected, M::ProposeMajor, Major::Proposed, ""),
        mrow(Major::Proposed, M::AcceptMajor, Major::Accepted, ""),
        mrow(Major::Proposed, M::RejectMajor, Major::Rejected, ""),
        mrow(
            Major::Accepted,
            M::PublishReview,
            Major::Accepted,
            "incident resolved",
        ),
    ],
};

impl Incident {
    /// The incident lifecycle's transition table.
    pub fn transitions() -> &'static TransitionTable<S, C> {
        &TABLE
    }

    /// The major-incident overlay's transition table.
    pub fn major_transitions() -> &'static TransitionTable<Major, M> {
        &MAJOR_TABLE
    }
}
