//! What an SLA clock reads from a record's history: a small, kind-neutral vocabulary of signals.
//!
//! Each record kind maps its own events onto [`SlaSignal`]s through [`SlaSource`], so one clock
//! implementation serves incidents, problems and (when it lands) changes, and callers with
//! histories from elsewhere can feed signals directly.

use super::definition::SlaTrigger;
use crate::ids::ServiceId;
use crate::incident::{HoldReason, IncidentEvent};
use crate::priority::Priority;
use crate::problem::ProblemEvent;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What happened to the record, as far as an SLA clock cares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "signal", rename_all = "snake_case")]
pub enum SignalKind {
    /// The record was logged, with the priority and service it was logged with.
    Opened {
        /// Priority at logging.
        priority: Priority,
        /// Affected service.
        service: Option<ServiceId>,
    },
    /// Work started (first response).
    Acknowledged,
    /// A person was assigned.
    AssignedToPerson,
    /// Put on hold, or the hold reason changed.
    PutOnHold {
        /// What it waits for.
        reason: HoldReason,
    },
    /// Work resumed after a hold.
    Resumed,
    /// Resolved.
    Resolved,
    /// Back to work after a resolution.
    Reopened,
    /// Closed.
    Closed,
    /// Canceled.
    Canceled,
    /// The priority changed (what may make another SLA applicable: a reattachment).
    Reprioritized {
        /// Priority now.
        priority: Priority,
    },
    /// The impact started at `occurred_at` (a backdated fact; the latest one recorded wins, so
    /// that a correction replaces a mistake).
    ImpactStarted {
        /// When the impact started.
        occurred_at: DateTime<Utc>,
    },
}

impl SignalKind {
    /// The trigger conditions can name, if any (priority changes and backdated facts are not
    /// triggers: they act through reattachment and `start_at_impact`).
    pub fn trigger(&self) -> Option<SlaTrigger> {
        match self {
            SignalKind::Opened { .. } => Some(SlaTrigger::Opened),
            SignalKind::Acknowledged => Some(SlaTrigger::Acknowledged),
            SignalKind::AssignedToPerson => Some(SlaTrigger::AssignedToPerson),
            SignalKind::PutOnHold { .. } => Some(SlaTrigger::PutOnHold),
            SignalKind::Resumed => Some(SlaTrigger::Resumed),
            SignalKind::Resolved => Some(SlaTrigger::Resolved),
            SignalKind::Reopened => Some(SlaTrigger::Reopened),
            SignalKind::Closed => Some(SlaTrigger::Closed),
            SignalKind::Canceled => Some(SlaTrigger::Canceled),
            SignalKind::Reprioritized { .. } | SignalKind::ImpactStarted { .. } => None,
        }
    }
}

/// One signal, at the instant it was recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SlaSignal {
    /// When it was recorded (for backdated facts the fact's own instant is inside `kind`).
    pub at: DateTime<Utc>,
    /// What happened.
    pub kind: SignalKind,
}

impl SlaSignal {
    /// A signal.
    pub fn new(at: DateTime<Utc>, kind: SignalKind) -> Self {
        Self { at, kind }
    }
}

/// A record event an SLA clock can read.
pub trait SlaSource {
    /// The signal this event gives an SLA clock, or `None` if clocks ignore it.
    fn sla_signal(&self) -> Option<SlaSignal>;
}

impl SlaSource for SlaSignal {
    fn sla_signal(&self) -> Option<SlaSignal> {
        Some(self.clone())
    }
}

impl<T: SlaSource + ?Sized> SlaSource for &T {
    fn sla_signal(&self) -> Option<SlaSignal> {
        (**self).sla_signal()
    }
}

impl SlaSource for IncidentEvent {
    fn sla_signal(&self) -> Option<SlaSignal> {
        let kind = match self {
            IncidentEvent::Opened {
                priority, service, ..
            } => SignalKind::Opened {
                priority: *priority,
                service: service.clone(),
            },
            IncidentEvent::Acknowledged { .. } => SignalKind::Acknowledged,
            IncidentEvent::Assigned { assignee, .. }
            | IncidentEvent::Reassigned { assignee, .. } => {
                // A group alone is routing, not a response.
                assignee.as_ref()?;
                SignalKind::AssignedToPerson
            }
            IncidentEvent::PutOnHold { reason, .. } => SignalKind::PutOnHold {
                reason: reason.clone(),
            },
            IncidentEvent::Resumed { .. } => SignalKind::Resumed,
            IncidentEvent::Resolved { .. } => SignalKind::Resolved,
            IncidentEvent::Reopened { .. } => SignalKind::Reopened,
            IncidentEvent::Closed { .. } | IncidentEvent::AutoClosed { .. } => SignalKind::Closed,
            IncidentEvent::Canceled { .. } => SignalKind::Canceled,
            IncidentEvent::Reprioritized { priority, .. } => SignalKind::Reprioritized {
                priority: *priority,
            },
            IncidentEvent::ImpactStartRecorded { occurred_at, .. } => SignalKind::ImpactStarted {
                occurred_at: *occurred_at,
            },
            IncidentEvent::EscalatedFunctionally { .. }
            | IncidentEvent::EscalatedHierarchically { .. }
            | IncidentEvent::MajorProposed { .. }
            | IncidentEvent::MajorAccepted { .. }
            | IncidentEvent::MajorRejected { .. }
            | IncidentEvent::ReviewPublished { .. }
            | IncidentEvent::ParentLinked { .. }
            | IncidentEvent::ChildLinked { .. }
            | IncidentEvent::DuplicateLinked { .. }
            | IncidentEvent::AlertCorrelated { .. }
            | IncidentEvent::DetectionRecorded { .. }
            | IncidentEvent::ProblemLinked { .. }
            | IncidentEvent::CausingChangeLinked { .. }
            | IncidentEvent::WorkNoteAdded { .. }
            | IncidentEvent::CommentAdded { .. } => return None,
        };
        Some(SlaSignal {
            at: self.at(),
            kind,
        })
    }
}

impl SlaSource for ProblemEvent {
    /// Problems: created = opened; assessment = acknowledgement (someone looked at it); an
    /// assignment naming a coordinator = assigned to a person; resolved and closed as such; a
    /// duplicate or a cancellation = canceled; re-analysis = reopened.
    fn sla_signal(&self) -> Option<SlaSignal> {
        let kind = match self {
            ProblemEvent::Created {
                priority, service, ..
            } => SignalKind::Opened {
                priority: *priority,
                service: service.clone(),
            },
            ProblemEvent::Assigned { assignee, .. } => {
                assignee.as_ref()?;
                SignalKind::AssignedToPerson
            }
            ProblemEvent::Assessed { .. } => SignalKind::Acknowledged,
            ProblemEvent::Reprioritized { priority, .. } => SignalKind::Reprioritized {
                priority: *priority,
            },
            ProblemEvent::Resolved { .. } => SignalKind::Resolved,
            ProblemEvent::MarkedDuplicate { .. } | ProblemEvent::Canceled { .. } => {
                SignalKind::Canceled
            }
            ProblemEvent::Closed { .. } => SignalKind::Closed,
            ProblemEvent::Reanalyzed { .. } => SignalKind::Reopened,
            ProblemEvent::AnalysisStarted { .. }
            | ProblemEvent::RootCauseRecorded { .. }
            | ProblemEvent::KnownErrorPublished { .. }
            | ProblemEvent::FixStarted { .. }
            | ProblemEvent::IncidentLinked { .. }
            | ProblemEvent::IncidentUnlinked { .. }
            | ProblemEvent::FixingChangeLinked { .. }
            | ProblemEvent::FixChangeOutcomeRecorded { .. }
            | ProblemEvent::WorkNoteAdded { .. } => return None,
        };
        Some(SlaSignal {
            at: self.at(),
            kind,
        })
    }
}
