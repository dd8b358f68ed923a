//! THE problem transition table. `decide` consults it before anything else about the state, and
//! the diagrams and the table tests are generated from it, so this is the one place to read.

use crate::ids::RecordKind;
use crate::problem::command::ProblemCommandKind;
use crate::problem::state::{Problem, ProblemStatusKind};
use crate::transition::{Transition, TransitionTable};

use ProblemCommandKind as C;
use ProblemStatusKind as S;

/// Guard texts, shared with `decide` so that a guard's wording and its check stay together.
pub(crate) mod guard {
    pub const ASSIGNEE_SET: &str = "an assignee is set";
    pub const ROOT_CAUSE_RECORDED: &str = "a root cause is recorded";
    pub const NO_KNOWN_ERROR_YET: &str = "no known error yet; not closed as duplicate or canceled";
    pub const KNOWN_ERROR_PUBLISHED: &str =
        "known error published; not closed as duplicate or canceled";
    pub const NOT_ITSELF: &str = "of != id";
    pub const NOT_A_DUPLICATE: &str = "not closed as a duplicate";
    pub const INCIDENT_NOT_LINKED: &str = "not linked yet, not a duplicate";
    pub const INCIDENT_LINKED: &str = "linked";
    pub const CHANGE_NOT_LINKED: &str = "not linked yet";
    pub const OUTCOME_PENDING: &str = "outcome pending";
    pub const FIX_NOT_DONE: &str = "outcome pending; failed, or another fix pending";
    pub const FIX_DONE: &str = "outcome pending; succeeded, no other fix pending";
    pub const CANCEL_NOT_DONE: &str =
        "outcome pending; another fix pending, or none succeeded during this fix";
    pub const CANCEL_DONE: &str =
        "outcome pending; no other fix pending, one succeeded during this fix";
}

const fn row(
    from: ProblemStatusKind,
    command: ProblemCommandKind,
    to: ProblemStatusKind,
    guard: &'static str,
) -> Transition<ProblemStatusKind, ProblemCommandKind> {
    Transition {
        from: Some(from),
        command,
        to,
        guard,
    }
}

/// Every allowed (from, command, to, guard) move of a problem.
static TABLE: TransitionTable<ProblemStatusKind, ProblemCommandKind> = TransitionTable {
    kind: RecordKind::Problem,
    name: "problem",
    rows: &[
        // Creation.
        Transition {
            from: None,
            command: C::Create,
            to: S::New,
            guard: "",
        },
        // The main path (ServiceNow: Assess, Confirm, Fix, Resolve, Complete).
        row(S::New, C::Assess, S::Assess, guard::ASSIGNEE_SET),
        row(S::Assess, C::StartAnalysis, S::RootCauseAnalysis, ""),
        row(
            S::RootCauseAnalysis,
            C::StartFix,
            S::FixInProgress,
            guard::ROOT_CAUSE_RECORDED,
        ),
        row(S::FixInProgress, C::ResolveFixed, S::Resolved, ""),
        row(S::Resolved, C::Close, S::Closed, ""),
        // Risk acceptance: analysed (a cause is known), and deliberately not fixed.
        row(
            S::RootCauseAnalysis,
            C::AcceptRisk,
            S::Resolved,
            guard::ROOT_CAUSE_RECORDED,
        ),
        row(
            S::FixInProgress,
            C::AcceptRisk,
            S::Resolved,
            guard::ROOT_CAUSE_RECORDED,
        ),
        // Duplicate and cancel close at once, as ServiceNow does.
        row(S::New, C::MarkDuplicate, S::Closed, guard::NOT_ITSELF),
        row(S::Assess, C::MarkDuplicate, S::Closed, guard::NOT_ITSELF),
        row(
            S::RootCauseAnalysis,
            C::MarkDuplicate,
            S::Closed,
            guard::NOT_ITSELF,
        ),
        row(
            S::FixInProgress,
            C::MarkDuplicate,
            S::Closed,
            guard::NOT_ITSELF,
        ),
        row(S::New, C::Cancel, S::Closed, ""),
        row(S::Assess, C::Cancel, S::Closed, ""),
        row(S::RootCauseAnalysis, C::Cancel, S::Closed, ""),
        row(S::FixInProgress, C::Cancel, S::Closed, ""),
        // Re-analysis (role-gated).
        row(S::Resolved, C::Reanalyze, S::RootCauseAnalysis, ""),
        row(
            S::Closed,
            C::Reanalyze,
            S::RootCauseAnalysis,
            guard::NOT_A_DUPLICATE,
        ),
        // Fixing-change outcomes: a successful last pending fix moves the problem on.
        row(
            S::FixInProgress,
            C::RecordFixChangeOutcome,
            S::FixInProgress,
            guard::FIX_NOT_DONE,
        ),
        row(
            S::FixInProgress,
            C::RecordFixChangeOutcome,
            S::Resolved,
            guard::FIX_DONE,
        ),
        row(
            S::New,
            C::RecordFixChangeOutcome,
            S::New,
            guard::OUTCOME_PENDING,
        ),
        row(
            S::Assess,
            C::RecordFixChangeOutcome,
            S::Assess,
            guard::OUTCOME_PENDING,
        ),
        row(
            S::RootCauseAnalysis,
            C::RecordFixChangeOutcome,
            S::RootCauseAnalysis,
            guard::OUTCOME_PENDING,
        ),
        row(
            S::Resolved,
            C::RecordFixChangeOutcome,
            S::Resolved,
            guard::OUTCOME_PENDING,
        ),
        row(
            S::Closed,
            C::RecordFixChangeOutcome,
            S::Closed,
            guard::OUTCOME_PENDING,
        ),
        // A canceled fixing change settles like an outcome, but fixes nothing by itself.
        row(
            S::FixInProgress,
            C::RecordFixChangeCanceled,
            S::FixInProgress,
            guard::CANCEL_NOT_DONE,
        ),
        row(
            S::FixInProgress,
            C::RecordFixChangeCanceled,
            S::Resolved,
            guard::CANCEL_DONE,
        ),
        row(
            S::New,
            C::RecordFixChangeCanceled,
            S::New,
            guard::OUTCOME_PENDING,
        ),
        row(
            S::Assess,
            C::RecordFixChangeCanceled,
            S::Assess,
            guard::OUTCOME_PENDING,
        ),
        row(
            S::RootCauseAnalysis,
            C::RecordFixChangeCanceled,
            S::RootCauseAnalysis,
            guard::OUTCOME_PENDING,
        ),
        row(
            S::Resolved,
            C::RecordFixChangeCanceled,
            S::Resolved,
            guard::OUTCOME_PENDING,
        ),
        row(
            S::Closed,
            C::RecordFixChangeCanceled,
            S::Closed,
            guard::OUTCOME_PENDING,
        ),
        // Work that keeps the state: open states only.
        row(S::New, C::Assign, S::New, ""),
        row(S::Assess, C::Assign, S::Assess, ""),
        row(S::RootCauseAnalysis, C::Assign, S::RootCauseAnalysis, ""),
        row(S::FixInProgress, C::Assign, S::FixInProgress, ""),
        row(S::New, C::Reprioritize, S::New, ""),
        row(S::Assess, C::Reprioritize, S::Assess, ""),
        row(
            S::RootCauseAnalysis,
            C::Reprioritize,
            S::RootCauseAnalysis,
            "",
        ),
        row(S::FixInProgress, C::Reprioritize, S::FixInProgress, ""),
        row(
            S::RootCauseAnalysis,
            C::RecordRootCause,
            S::RootCauseAnalysis,
            "",
        ),
        row(S::FixInProgress, C::RecordRootCause, S::FixInProgress, ""),
        // The known error: once analysis has started, and for as long as the KEDB needs it.
        row(
            S::RootCauseAnalysis,
            C::MarkKnownError,
            S::RootCauseAnalysis,
            guard::NO_KNOWN_ERROR_YET,
        ),
        row(
            S::FixInProgress,
            C::MarkKnownError,
            S::FixInProgress,
            guard::NO_KNOWN_ERROR_YET,
        ),
        row(
            S::Resolved,
            C::MarkKnownError,
            S::Resolved,
            guard::NO_KNOWN_ERROR_YET,
        ),
        row(
            S::Closed,
            C::MarkKnownError,
            S::Closed,
            guard::NO_KNOWN_ERROR_YET,
        ),
        row(
            S::RootCauseAnalysis,
            C::UpdateKnownError,
            S::RootCauseAnalysis,
            guard::KNOWN_ERROR_PUBLISHED,
        ),
        row(
            S::FixInProgress,
            C::UpdateKnownError,
            S::FixInProgress,
            guard::KNOWN_ERROR_PUBLISHED,
        ),
        row(
            S::Resolved,
            C::UpdateKnownError,
            S::Resolved,
            guard::KNOWN_ERROR_PUBLISHED,
        ),
        row(
            S::Closed,
            C::UpdateKnownError,
            S::Closed,
            guard::KNOWN_ERROR_PUBLISHED,
        ),
        // Incident links: in every state (recurrences of a risk-accepted known error still link).
        row(S::New, C::LinkIncident, S::New, guard::INCIDENT_NOT_LINKED),
        row(
            S::Assess,
            C::LinkIncident,
            S::Assess,
            guard::INCIDENT_NOT_LINKED,
        ),
        row(
            S::RootCauseAnalysis,
            C::LinkIncident,
            S::RootCauseAnalysis,
            guard::INCIDENT_NOT_LINKED,
        ),
        row(
            S::FixInProgress,
            C::LinkIncident,
            S::FixInProgress,
            guard::INCIDENT_NOT_LINKED,
        ),
        row(
            S::Resolved,
            C::LinkIncident,
            S::Resolved,
            guard::INCIDENT_NOT_LINKED,
        ),
        row(
            S::Closed,
            C::LinkIncident,
            S::Closed,
            guard::INCIDENT_NOT_LINKED,
        ),
        row(S::New, C::UnlinkIncident, S::New, guard::INCIDENT_LINKED),
        row(
            S::Assess,
            C::UnlinkIncident,
            S::Assess,
            guard::INCIDENT_LINKED,
        ),
        row(
            S::RootCauseAnalysis,
            C::UnlinkIncident,
            S::RootCauseAnalysis,
            guard::INCIDENT_LINKED,
        ),
        row(
            S::FixInProgress,
            C::UnlinkIncident,
            S::FixInProgress,
            guard::INCIDENT_LINKED,
        ),
        row(
            S::Resolved,
            C::UnlinkIncident,
            S::Resolved,
            guard::INCIDENT_LINKED,
        ),
        row(
            S::Closed,
            C::UnlinkIncident,
            S::Closed,
            guard::INCIDENT_LINKED,
        ),
        // Fixing changes: linked while open or resolved (a fix may be recorded after the fact).
        row(
            S::New,
            C::LinkFixingChange,
            S::New,
            guard::CHANGE_NOT_LINKED,
        ),
        row(
            S::Assess,
            C::LinkFixingChange,
            S::Assess,
            guard::CHANGE_NOT_LINKED,
        ),
        row(
            S::RootCauseAnalysis,
            C::LinkFixingChange,
            S::RootCauseAnalysis,
            guard::CHANGE_NOT_LINKED,
        ),
        row(
            S::FixInProgress,
            C::LinkFixingChange,
            S::FixInProgress,
            guard::CHANGE_NOT_LINKED,
        ),
        row(
            S::Resolved,
            C::LinkFixingChange,
            S::Resolved,
            guard::CHANGE_NOT_LINKED,
        ),
        // Work notes: always.
        row(S::New, C::AddWorkNote, S::New, ""),
        row(S::Assess, C::AddWorkNote, S::Assess, ""),
        row(
            S::RootCauseAnalysis,
            C::AddWorkNote,
            S::RootCauseAnalysis,
            "",
        ),
        row(S::FixInProgress, C::AddWorkNote, S::FixInProgress, ""),
        row(S::Resolved, C::AddWorkNote, S::Resolved, ""),
        row(S::Closed, C::AddWorkNote, S::Closed, ""),
    ],
};

impl Problem {
    /// The problem transition table.
    pub fn transitions() -> &'static TransitionTable<ProblemStatusKind, ProblemCommandKind> {
        &TABLE
    }
}
