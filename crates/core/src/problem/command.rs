//! What callers may ask of a problem.

use crate::authz::Permission;
use crate::ids::{ActorId, ChangeId, CiId, GroupId, IncidentId, ProblemId, ServiceId};
use crate::priority::{Impact, Urgency};
use crate::transition::Named;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// A command on one problem. Every command names its target; `Create` names the new id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum ProblemCommand {
    /// Log a new problem.
    Create {
        /// The new problem's id (caller-chosen UUID v7).
        id: ProblemId,
        /// Short description; required.
        title: String,
        /// Longer description; may be empty.
        #[serde(default)]
        description: String,
        /// How widely services are affected.
        impact: Impact,
        /// How soon it must be dealt with.
        urgency: Urgency,
        /// The business service affected, if known.
        #[serde(default)]
        service: Option<ServiceId>,
        /// Configuration items involved.
        #[serde(default)]
        cis: BTreeSet<CiId>,
    },
    /// Assign to a group and, optionally, a coordinator. Open states only.
    Assign {
        /// Target problem.
        id: ProblemId,
        /// Assignment group.
        group: GroupId,
        /// The coordinator; assessment needs one.
        #[serde(default)]
        assignee: Option<ActorId>,
    },
    /// Change impact and urgency (and so priority). Open states only.
    Reprioritize {
        /// Target problem.
        id: ProblemId,
        /// New impact.
        impact: Impact,
        /// New urgency.
        urgency: Urgency,
        /// Why; required.
        reason: String,
    },
    /// New -> Assess. Needs an assignee (ServiceNow: `assigned_to` mandatory).
    Assess {
        /// Target problem.
        id: ProblemId,
    },
    /// Assess -> Root cause analysis (ServiceNow "Confirm").
    StartAnalysis {
        /// Target problem.
        id: ProblemId,
    },
    /// Record (or refine) the root cause. In RCA and Fix in Progress.
    RecordRootCause {
        /// Target problem.
        id: ProblemId,
        /// The cause; required.
        cause: String,
    },
    /// Publish the problem as a known error to the KEDB (revision 1).
    MarkKnownError {
        /// Target problem.
        id: ProblemId,
        /// What is observed; required.
        symptom: String,
        /// The cause as the KEDB states it; required.
        root_cause: String,
        /// The workaround, if one is known (must not be blank when given).
        #[serde(default)]
        workaround: Option<String>,
        /// Configuration items known to exhibit the error.
        #[serde(default)]
        affected_cis: BTreeSet<CiId>,
    },
    /// Publish a new revision of the known error (replaces all four fields).
    UpdateKnownError {
        /// Target problem.
        id: ProblemId,
        /// What is observed; required.
        symptom: String,
        /// The cause as the KEDB states it; required.
        root_cause: String,
        /// The workaround, if one is known (must not be blank when given).
        #[serde(default)]
        workaround: Option<String>,
        /// Configuration items known to exhibit the error.
        #[serde(default)]
        affected_cis: BTreeSet<CiId>,
    },
    /// RCA -> Fix in Progress (ServiceNow "Fix"). Needs a recorded root cause.
    StartFix {
        /// Target problem.
        id: ProblemId,
        /// The fix to be applied; required.
        fix_notes: String,
    },
    /// Fix in Progress -> Resolved with `FixApplied` (ServiceNow "Resolve").
    ResolveFixed {
        /// Target problem.
        id: ProblemId,
        /// Resolution notes; required.
        notes: String,
    },
    /// RCA or Fix in Progress -> Resolved with `RiskAccepted`. Role-gated.
    AcceptRisk {
        /// Target problem.
        id: ProblemId,
        /// Why the risk is accepted; required.
        reason: String,
    },
    /// Any open state -> Closed with `Duplicate { of }`. Role-gated.
    MarkDuplicate {
        /// Target problem.
        id: ProblemId,
        /// The problem it duplicates (not itself).
        of: ProblemId,
    },
    /// Any open state -> Closed with `Canceled`. Role-gated.
    Cancel {
        /// Target problem.
        id: ProblemId,
        /// Why; required.
        reason: String,
    },
    /// Resolved -> Closed with the resolution code (ServiceNow "Complete"). Role-gated.
    Close {
        /// Target problem.
        id: ProblemId,
    },
    /// Resolved or Closed (not as a duplicate) -> Root cause analysis. Role-gated.
    Reanalyze {
        /// Target problem.
        id: ProblemId,
        /// Why; required.
        reason: String,
    },
    /// Record that an incident is caused by this problem.
    LinkIncident {
        /// Target problem.
        id: ProblemId,
        /// The incident.
        incident: IncidentId,
    },
    /// Remove an incident link recorded in error (or moved to another problem).
    UnlinkIncident {
        /// Target problem.
        id: ProblemId,
        /// The incident.
        incident: IncidentId,
    },
    /// Record that a change delivers (part of) the fix.
    LinkFixingChange {
        /// Target problem.
        id: ProblemId,
        /// The change.
        change: ChangeId,
    },
    /// Record how a linked fixing change closed (sent by the engine's process manager on
    /// `change.closed`).
    RecordFixChangeOutcome {
        /// Target problem.
        id: ProblemId,
        /// The linked change.
        change: ChangeId,
        /// Whether it closed successfully.
        successful: bool,
        /// How people name the change: its human number (`CHG0000001`, nothing else is
        /// accepted); the resolution notes use it, and the change id when it is absent.
        #[serde(default)]
        change_name: Option<String>,
    },
    /// Record that a linked fixing change was canceled (sent by the engine's process manager
    /// on `change.canceled`): it fixes nothing and is no longer waited for.
    RecordFixChangeCanceled {
        /// Target problem.
        id: ProblemId,
        /// The linked change.
        change: ChangeId,
        /// How people name the change, as in [`ProblemCommand::RecordFixChangeOutcome`].
        #[serde(default)]
        change_name: Option<String>,
    },
    /// Add an internal work note.
    AddWorkNote {
        /// Target problem.
        id: ProblemId,
        /// The note; required.
        text: String,
    },
}

impl ProblemCommand {
    /// The command without its data.
    pub const fn kind(&self) -> ProblemCommandKind {
        use ProblemCommandKind as K;
        match self {
            ProblemCommand::Create { .. } => K::Create,
            ProblemCommand::Assign { .. } => K::Assign,
            ProblemCommand::Reprioritize { .. } => K::Reprioritize,
            ProblemCommand::Assess { .. } => K::Assess,
            ProblemCommand::StartAnalysis { .. } => K::StartAnalysis,
            ProblemCommand::RecordRootCause { .. } => K::RecordRootCause,
            ProblemCommand::MarkKnownError { .. } => K::MarkKnownError,
            ProblemCommand::UpdateKnownError { .. } => K::UpdateKnownError,
            ProblemCommand::StartFix { .. } => K::StartFix,
            ProblemCommand::ResolveFixed { .. } => K::ResolveFixed,
            ProblemCommand::AcceptRisk { .. } => K::AcceptRisk,
            ProblemCommand::MarkDuplicate { .. } => K::MarkDuplicate,
            ProblemCommand::Cancel { .. } => K::Cancel,
            ProblemCommand::Close { .. } => K::Close,
            ProblemCommand::Reanalyze { .. } => K::Reanalyze,
            ProblemCommand::LinkIncident { .. } => K::LinkIncident,
            ProblemCommand::UnlinkIncident { .. } => K::UnlinkIncident,
            ProblemCommand::LinkFixingChange { .. } => K::LinkFixingChange,
            ProblemCommand::RecordFixChangeOutcome { .. } => K::RecordFixChangeOutcome,
            ProblemCommand::RecordFixChangeCanceled { .. } => K::RecordFixChangeCanceled,
            ProblemCommand::AddWorkNote { .. } => K::AddWorkNote,
        }
    }

    /// The problem the command targets (the new id for `Create`).
    pub const fn id(&self) -> ProblemId {
        match self {
            ProblemCommand::Create { id, .. }
            | ProblemCommand::Assign { id, .. }
            | ProblemCommand::Reprioritize { id, .. }
            | ProblemCommand::Assess { id }
            | ProblemCommand::StartAnalysis { id }
            | ProblemCommand::RecordRootCause { id, .. }
            | ProblemCommand::MarkKnownError { id, .. }
            | ProblemCommand::UpdateKnownError { id, .. }
            | ProblemCommand::StartFix { id, .. }
            | ProblemCommand::ResolveFixed { id, .. }
            | ProblemCommand::AcceptRisk { id, .. }
            | ProblemCommand::MarkDuplicate { id, .. }
            | ProblemCommand::Cancel { id, .. }
            | ProblemCommand::Close { id }
            | ProblemCommand::Reanalyze { id, .. }
            | ProblemCommand::LinkIncident { id, .. }
            | ProblemCommand::UnlinkIncident { id, .. }
            | ProblemCommand::LinkFixingChange { id, .. }
            | ProblemCommand::RecordFixChangeOutcome { id, .. }
            | ProblemCommand::RecordFixChangeCanceled { id, .. }
            | ProblemCommand::AddWorkNote { id, .. } => *id,
        }
    }
}

/// [`ProblemCommand`] without data: the columns of the transition table.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ProblemCommandKind {
    /// See [`ProblemCommand::Create`].
    Create,
    /// See [`ProblemCommand::Assign`].
    Assign,
    /// See [`ProblemCommand::Reprioritize`].
    Reprioritize,
    /// See [`ProblemCommand::Assess`].
    Assess,
    /// See [`ProblemCommand::StartAnalysis`].
    StartAnalysis,
    /// See [`ProblemCommand::RecordRootCause`].
    RecordRootCause,
    /// See [`ProblemCommand::MarkKnownError`].
    MarkKnownError,
    /// See [`ProblemCommand::UpdateKnownError`].
    UpdateKnownError,
    /// See [`ProblemCommand::StartFix`].
    StartFix,
    /// See [`ProblemCommand::ResolveFixed`].
    ResolveFixed,
    /// See [`ProblemCommand::AcceptRisk`].
    AcceptRisk,
    /// See [`ProblemCommand::MarkDuplicate`].
    MarkDuplicate,
    /// See [`ProblemCommand::Cancel`].
    Cancel,
    /// See [`ProblemCommand::Close`].
    Close,
    /// See [`ProblemCommand::Reanalyze`].
    Reanalyze,
    /// See [`ProblemCommand::LinkIncident`].
    LinkIncident,
    /// See [`ProblemCommand::UnlinkIncident`].
    UnlinkIncident,
    /// See [`ProblemCommand::LinkFixingChange`].
    LinkFixingChange,
    /// See [`ProblemCommand::RecordFixChangeOutcome`].
    RecordFixChangeOutcome,
    /// See [`ProblemCommand::RecordFixChangeCanceled`].
    RecordFixChangeCanceled,
    /// See [`ProblemCommand::AddWorkNote`].
    AddWorkNote,
}

impl ProblemCommandKind {
    /// The permission an actor needs to issue this command.
    pub const fn permission(self) -> Permission {
        use ProblemCommandKind as K;
        match self {
            K::Create => Permission::ProblemCreate,
            K::Assign
            | K::Reprioritize
            | K::Assess
            | K::StartAnalysis
            | K::RecordRootCause
            | K::StartFix
            | K::ResolveFixed
            | K::LinkIncident
            | K::UnlinkIncident
            | K::LinkFixingChange
            | K::RecordFixChangeOutcome
            | K::RecordFixChangeCanceled
            | K::AddWorkNote => Permission::ProblemWork,
            K::MarkKnownError | K::UpdateKnownError => Permission::ProblemKnownError,
            K::AcceptRisk => Permission::ProblemAcceptRisk,
            K::MarkDuplicate | K::Cancel => Permission::ProblemCancel,
            K::Close => Permission::ProblemClose,
            K::Reanalyze => Permission::ProblemReanalyze,
        }
    }
}

impl Named for ProblemCommandKind {
    const ALL: &'static [Self] = &[
        ProblemCommandKind::Create,
        ProblemCommandKind::Assign,
        ProblemCommandKind::Reprioritize,
        ProblemCommandKind::Assess,
        ProblemCommandKind::StartAnalysis,
        ProblemCommandKind::RecordRootCause,
        ProblemCommandKind::MarkKnownError,
        ProblemCommandKind::UpdateKnownError,
        ProblemCommandKind::StartFix,
        ProblemCommandKind::ResolveFixed,
        ProblemCommandKind::AcceptRisk,
        ProblemCommandKind::MarkDuplicate,
        ProblemCommandKind::Cancel,
        ProblemCommandKind::Close,
        ProblemCommandKind::Reanalyze,
        ProblemCommandKind::LinkIncident,
        ProblemCommandKind::UnlinkIncident,
        ProblemCommandKind::LinkFixingChange,
        ProblemCommandKind::RecordFixChangeOutcome,
        ProblemCommandKind::RecordFixChangeCanceled,
        ProblemCommandKind::AddWorkNote,
    ];

    fn name(self) -> &'static str {
        use ProblemCommandKind as K;
        match self {
            K::Create => "create",
            K::Assign => "assign",
            K::Reprioritize => "reprioritize",
            K::Assess => "assess",
            K::StartAnalysis => "start_analysis",
            K::RecordRootCause => "record_root_cause",
            K::MarkKnownError => "mark_known_error",
            K::UpdateKnownError => "update_known_error",
            K::StartFix => "start_fix",
            K::ResolveFixed => "resolve_fixed",
            K::AcceptRisk => "accept_risk",
            K::MarkDuplicate => "mark_duplicate",
            K::Cancel => "cancel",
            K::Close => "close",
            K::Reanalyze => "reanalyze",
            K::LinkIncident => "link_incident",
            K::UnlinkIncident => "unlink_incident",
            K::LinkFixingChange => "link_fixing_change",
            K::RecordFixChangeOutcome => "record_fix_change_outcome",
            K::RecordFixChangeCanceled => "record_fix_change_canceled",
            K::AddWorkNote => "add_work_note",
        }
    }
}
