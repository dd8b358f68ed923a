//! The problem record, its status and the values it holds.

use crate::ids::{ActorId, ChangeId, CiId, GroupId, IncidentId, ProblemId, ServiceId};
use crate::policy::PolicyVersion;
use crate::priority::{Impact, Priority, Urgency};
use crate::transition::Named;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// How a problem ended (ServiceNow's resolution codes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ResolutionCode {
    /// The root cause was removed.
    FixApplied,
    /// The problem is understood and will not be fixed; its known error stays in the KEDB.
    RiskAccepted,
    /// Another problem records the same cause.
    Duplicate {
        /// The problem this one duplicates.
        of: ProblemId,
    },
    /// Not a problem after all.
    Canceled,
}

impl ResolutionCode {
    /// Stable snake_case name (`fix_applied`, `risk_accepted`, `duplicate`, `canceled`).
    pub const fn name(&self) -> &'static str {
        match self {
            ResolutionCode::FixApplied => "fix_applied",
            ResolutionCode::RiskAccepted => "risk_accepted",
            ResolutionCode::Duplicate { .. } => "duplicate",
            ResolutionCode::Canceled => "canceled",
        }
    }
}

/// Where a problem is in its lifecycle (ServiceNow numbering: New 101, Assess 102,
/// Root Cause Analysis 103, Fix in Progress 104, Resolved 106, Closed 107).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ProblemStatus {
    /// Logged, not yet assessed.
    New,
    /// Being assessed: is it a real problem, a duplicate, worth analysing?
    Assess,
    /// The root cause is being investigated.
    RootCauseAnalysis,
    /// A permanent fix is being applied (usually through linked changes).
    FixInProgress,
    /// Fixed or risk accepted; awaiting completion (closure).
    Resolved {
        /// `FixApplied` or `RiskAccepted`.
        code: ResolutionCode,
    },
    /// Done. Re-analysis (role-gated) brings it back to root cause analysis.
    Closed {
        /// The code it was resolved with, or `Duplicate`/`Canceled`.
        code: ResolutionCode,
    },
}

impl ProblemStatus {
    /// The status without its data.
    pub const fn kind(&self) -> ProblemStatusKind {
        match self {
            ProblemStatus::New => ProblemStatusKind::New,
            ProblemStatus::Assess => ProblemStatusKind::Assess,
            ProblemStatus::RootCauseAnalysis => ProblemStatusKind::RootCauseAnalysis,
            ProblemStatus::FixInProgress => ProblemStatusKind::FixInProgress,
            ProblemStatus::Resolved { .. } => ProblemStatusKind::Resolved,
            ProblemStatus::Closed { .. } => ProblemStatusKind::Closed,
        }
    }

    /// The resolution code, once resolved or closed.
    pub const fn code(&self) -> Option<&ResolutionCode> {
        match self {
            ProblemStatus::New
            | ProblemStatus::Assess
            | ProblemStatus::RootCauseAnalysis
            | ProblemStatus::FixInProgress => None,
            ProblemStatus::Resolved { code } | ProblemStatus::Closed { code } => Some(code),
        }
    }
}

/// [`ProblemStatus`] without data: the rows and columns of the transition table.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ProblemStatusKind {
    /// See [`ProblemStatus::New`].
    New,
    /// See [`ProblemStatus::Assess`].
    Assess,
    /// See [`ProblemStatus::RootCauseAnalysis`].
    RootCauseAnalysis,
    /// See [`ProblemStatus::FixInProgress`].
    FixInProgress,
    /// See [`ProblemStatus::Resolved`].
    Resolved,
    /// See [`ProblemStatus::Closed`].
    Closed,
}

impl ProblemStatusKind {
    /// Whether the problem is still being worked (New, Assess, RCA, Fix in Progress).
    pub const fn is_open(self) -> bool {
        match self {
            ProblemStatusKind::New
            | ProblemStatusKind::Assess
            | ProblemStatusKind::RootCauseAnalysis
            | ProblemStatusKind::FixInProgress => true,
            ProblemStatusKind::Resolved | ProblemStatusKind::Closed => false,
        }
    }
}

impl Named for ProblemStatusKind {
    const ALL: &'static [Self] = &[
        ProblemStatusKind::New,
        ProblemStatusKind::Assess,
        ProblemStatusKind::RootCauseAnalysis,
        ProblemStatusKind::FixInProgress,
        ProblemStatusKind::Resolved,
        ProblemStatusKind::Closed,
    ];

    fn name(self) -> &'static str {
        match self {
            ProblemStatusKind::New => "new",
            ProblemStatusKind::Assess => "assess",
            ProblemStatusKind::RootCauseAnalysis => "root_cause_analysis",
            ProblemStatusKind::FixInProgress => "fix_in_progress",
            ProblemStatusKind::Resolved => "resolved",
            ProblemStatusKind::Closed => "closed",
        }
    }
}

/// A known error as published to the known-error database (KEDB).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct KnownError {
    /// What users and agents observe; what the service desk matches new incidents against.
    pub symptom: String,
    /// The cause, worded for the KEDB audience.
    pub root_cause: String,
    /// How to restore service until the fix lands; `None` means "no workaround known", which a
    /// KEDB must be able to say honestly.
    pub workaround: Option<String>,
    /// Configuration items known to exhibit the error.
    pub affected_cis: BTreeSet<CiId>,
    /// When revision 1 was published.
    pub published_at: DateTime<Utc>,
    /// When this revision was published (equals `published_at` for revision 1).
    pub revised_at: DateTime<Utc>,
    /// 1 for the first publication, plus one per update.
    pub revision: u32,
}

/// Outcome of a change linked as a fix for the problem.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum FixOutcome {
    /// The change has not closed yet.
    Pending,
    /// The change closed successfully.
    Successful,
    /// The change closed unsuccessfully (backed out or failed).
    Unsuccessful,
    /// The change was canceled before it closed: it fixes nothing, and no longer holds the
    /// problem's fix up.
    Canceled,
}

impl FixOutcome {
    /// Whether the change is still to close (and so still holds the fix up).
    pub const fn is_pending(self) -> bool {
        match self {
            FixOutcome::Pending => true,
            FixOutcome::Successful | FixOutcome::Unsuccessful | FixOutcome::Canceled => false,
        }
    }
}

/// An internal note on the problem's work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
// Changes have work notes too: unique schema names for combined documents (OpenRPC).
#[schemars(rename = "ProblemWorkNote")]
pub struct WorkNote {
    /// The note.
    pub text: String,
    /// When it was written.
    pub at: DateTime<Utc>,
    /// Who wrote it.
    pub by: ActorId,
}

/// A problem: the cause, known or not yet, of one or more incidents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Problem {
    /// Identity.
    pub id: ProblemId,
    /// Short description.
    pub title: String,
    /// Longer description (may be empty).
    pub description: String,
    /// How widely services are affected.
    pub impact: Impact,
    /// How soon it must be dealt with.
    pub urgency: Urgency,
    /// From the policy's matrix at the time impact or urgency was last set.
    pub priority: Priority,
    /// The business service affected, if known.
    pub service: Option<ServiceId>,
    /// Configuration items involved.
    pub cis: BTreeSet<CiId>,
    /// Where it is in its lifecycle.
    pub status: ProblemStatus,
    /// Who opened it.
    pub opened_by: ActorId,
    /// Assignment group.
    pub group: Option<GroupId>,
    /// Assignee (the problem coordinator).
    pub assignee: Option<ActorId>,
    /// The root cause found by analysis (ServiceNow `cause_notes`).
    pub cause_notes: Option<String>,
    /// The fix being applied (ServiceNow `fix_notes`).
    pub fix_notes: Option<String>,
    /// Notes of the latest resolution, risk acceptance or cancellation; cleared by re-analysis.
    pub resolution_notes: Option<String>,
    /// The published known error, if any. Survives re-analysis: the KEDB entry stays valid.
    pub known_error: Option<KnownError>,
    /// Incidents caused by this problem.
    pub incidents: BTreeSet<IncidentId>,
    /// Changes that deliver the fix, with their outcome.
    pub fixing_changes: BTreeMap<ChangeId, FixOutcome>,
    /// Internal work notes, oldest first.
    pub work_notes: Vec<WorkNote>,
    /// When it was opened.
    pub opened_at: DateTime<Utc>,
    /// The policy version in force when it was opened (pinned).
    #[serde(default)]
    pub policy_version: PolicyVersion,
    /// When assessment started.
    pub assessed_at: Option<DateTime<Utc>>,
    /// When the current root cause analysis started (reset by re-analysis).
    pub rca_started_at: Option<DateTime<Utc>>,
    /// When the current fix started; cleared by re-analysis.
    pub fix_started_at: Option<DateTime<Utc>>,
    /// When a fixing change last closed successfully during the current fix (Fix in
    /// Progress); cleared when a fix starts and by re-analysis. With it, settling the last
    /// pending fixing change by a cancellation completes the fix.
    #[serde(default)]
    pub fix_succeeded_at: Option<DateTime<Utc>>,
    /// When it was last resolved; cleared by re-analysis.
    pub resolved_at: Option<DateTime<Utc>>,
    /// When it was last closed; cleared by re-analysis.
    pub closed_at: Option<DateTime<Utc>>,
    /// How many times it was re-analysed.
    pub reanalysis_count: u32,
}

impl Problem {
    /// Whether this problem was closed as a duplicate of another.
    pub fn is_duplicate(&self) -> bool {
        self.duplicate_of().is_some()
    }

    /// The problem this one duplicates, if it was closed as a duplicate.
    pub fn duplicate_of(&self) -> Option<ProblemId> {
        match self.status.code() {
            Some(ResolutionCode::Duplicate { of }) => Some(*of),
            Some(ResolutionCode::FixApplied | ResolutionCode::RiskAccepted)
            | Some(ResolutionCode::Canceled)
            | None => None,
        }
    }
}
