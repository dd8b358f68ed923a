//! What the KPI functions read: per-record histories of small facts, and SLA outcomes.
//!
//! A fact is the part of an event a KPI needs, and nothing else: no titles, notes or texts. The
//! engine keeps one [`RecordHistory`] per record and appends to it as events are committed
//! ([`IncidentHistory::push_event`]), so a KPI query never re-reads or re-parses the log.

use crate::change::{ChangeEvent, ChangeType, CloseCode as ChangeCloseCode};
use crate::ids::{ChangeId, GroupId, IncidentId, ServiceId};
use crate::incident::{IncidentEvent, ResolutionSource};
use crate::priority::Priority;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One fact with the instant it was recorded at.
///
/// `at` is the event's decision instant (its `at` field, which the store records with it). It
/// is the only instant `as_of` filters on; backdated facts carry their own `occurred_at` inside.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Recorded<F> {
    /// When it was recorded.
    pub at: DateTime<Utc>,
    /// What was recorded.
    pub fact: F,
}

/// The facts of one record, in log order (the order they were appended, which is the order
/// they are folded in; instants are normally non-decreasing along it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RecordHistory<Id, F> {
    /// The record.
    pub id: Id,
    /// Its facts, in log order.
    pub facts: Vec<Recorded<F>>,
}

/// An incident's KPI history.
pub type IncidentHistory = RecordHistory<IncidentId, IncidentFact>;

/// A change's KPI history.
pub type ChangeHistory = RecordHistory<ChangeId, ChangeFact>;

impl<Id, F> RecordHistory<Id, F> {
    /// An empty history of record `id`.
    pub fn new(id: Id) -> Self {
        Self {
            id,
            facts: Vec::new(),
        }
    }

    /// Appends a fact recorded at `at`.
    pub fn push(&mut self, at: DateTime<Utc>, fact: F) {
        self.facts.push(Recorded { at, fact });
    }

    /// The facts recorded at or before `cutoff`, in log order. This is the only way the KPI
    /// functions read a history, so a query "as of T" sees exactly what
    /// [`RecordHistory::truncated`]`(T)` holds.
    pub fn visible(&self, cutoff: DateTime<Utc>) -> impl Iterator<Item = &Recorded<F>> + '_ {
        self.facts.iter().filter(move |r| r.at <= cutoff)
    }

    /// The latest recording instant, if any fact is held.
    pub fn latest(&self) -> Option<DateTime<Utc>> {
        self.facts.iter().map(|r| r.at).max()
    }
}

impl<Id: Clone, F: Clone> RecordHistory<Id, F> {
    /// The history as it stood at `cutoff`: the facts recorded at or before it.
    pub fn truncated(&self, cutoff: DateTime<Utc>) -> Self {
        Self {
            id: self.id.clone(),
            facts: self.visible(cutoff).cloned().collect(),
        }
    }
}

impl IncidentHistory {
    /// Appends the KPI fact of `event`, recorded at the event's `at`. Returns `false` (and
    /// appends nothing) for an event of another incident or one no KPI reads (work notes,
    /// links, alerts, hierarchical escalations).
    pub fn push_event(&mut self, event: &IncidentEvent) -> bool {
        if event.id() != self.id {
            return false;
        }
        match IncidentFact::from_event(event) {
            Some(fact) => {
                self.push(event.at(), fact);
                true
            }
            None => false,
        }
    }
}

/// Where a resolution came from (the data-free form of [`ResolutionSource`]).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ResolutionKind {
    /// Worked and resolved on this incident.
    Direct,
    /// Resolved because its parent was.
    Parent,
    /// Resolved because the problem it awaited or linked was fixed.
    Problem,
}

impl From<&ResolutionSource> for ResolutionKind {
    fn from(source: &ResolutionSource) -> Self {
        match source {
            ResolutionSource::Direct => ResolutionKind::Direct,
            ResolutionSource::Parent { .. } => ResolutionKind::Parent,
            ResolutionSource::Problem { .. } => ResolutionKind::Problem,
        }
    }
}

/// The part of an [`IncidentEvent`] the KPIs read. Variants mirror the events one to one
/// (`incident.closed` and `incident.auto_closed` both become [`IncidentFact::Closed`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "fact", rename_all = "snake_case")]
pub enum IncidentFact {
    /// `incident.opened`.
    Opened {
        /// Priority at opening.
        priority: Priority,
        /// Initial assignment group.
        group: Option<GroupId>,
        /// Affected service.
        service: Option<ServiceId>,
    },
    /// `incident.acknowledged`: first response (also recorded when a person is assigned to a
    /// New incident).
    Acknowledged,
    /// `incident.assigned`: an empty group or assignee was filled in.
    Assigned {
        /// Group now.
        group: Option<GroupId>,
    },
    /// `incident.reassigned`: a set group or assignee changed (a reassignment).
    Reassigned {
        /// Group now.
        group: Option<GroupId>,
    },
    /// `incident.escalated_functionally`: handed to another group (counts as a reassignment).
    EscalatedFunctionally {
        /// Group now.
        to_group: GroupId,
    },
    /// `incident.put_on_hold` (also a change of hold reason while on hold).
    PutOnHold,
    /// `incident.resumed`.
    Resumed,
    /// `incident.resolved`.
    Resolved {
        /// Where the resolution came from.
        source: ResolutionKind,
    },
    /// `incident.reopened` (directly or from the parent).
    Reopened,
    /// `incident.closed` or `incident.auto_closed`.
    Closed,
    /// `incident.canceled`.
    Canceled,
    /// `incident.reprioritized`.
    Reprioritized {
        /// Priority now.
        priority: Priority,
    },
    /// `incident.major_proposed`.
    MajorProposed,
    /// `incident.major_accepted`.
    MajorAccepted,
    /// `incident.major_rejected`.
    MajorRejected,
    /// `incident.review_published` (any revision).
    ReviewPublished,
    /// `incident.impact_start_recorded` (backdated).
    ImpactStartRecorded {
        /// When the impact started.
        occurred_at: DateTime<Utc>,
    },
    /// `incident.detection_recorded` (backdated).
    DetectionRecorded {
        /// When the interruption was detected.
        occurred_at: DateTime<Utc>,
    },
}

impl IncidentFact {
    /// The KPI fact of an incident event; `None` for events no KPI reads.
    pub fn from_event(event: &IncidentEvent) -> Option<Self> {
        let fact = match event {
            IncidentEvent::Opened {
                priority,
                group,
                service,
                ..
            } => IncidentFact::Opened {
                priority: *priority,
                group: group.clone(),
                service: service.clone(),
            },
            IncidentEvent::Acknowledged { .. } => IncidentFact::Acknowledged,
            IncidentEvent::Assigned { group, .. } => IncidentFact::Assigned {
                group: group.clone(),
            },
            IncidentEvent::Reassigned { group, .. } => IncidentFact::Reassigned {
                group: group.clone(),
            },
            IncidentEvent::EscalatedFunctionally { to_group, .. } => {
                IncidentFact::EscalatedFunctionally {
                    to_group: to_group.clone(),
                }
            }
            IncidentEvent::PutOnHold { .. } => IncidentFact::PutOnHold,
            IncidentEvent::Resumed { .. } => IncidentFact::Resumed,
            IncidentEvent::Resolved { source, .. } => IncidentFact::Resolved {
                source: source.into(),
            },
            IncidentEvent::Reopened { .. } => IncidentFact::Reopened,
            IncidentEvent::Closed { .. } | IncidentEvent::AutoClosed { .. } => IncidentFact::Closed,
            IncidentEvent::Canceled { .. } => IncidentFact::Canceled,
            IncidentEvent::Reprioritized { priority, .. } => IncidentFact::Reprioritized {
                priority: *priority,
            },
            IncidentEvent::MajorProposed { .. } => IncidentFact::MajorProposed,
            IncidentEvent::MajorAccepted { .. } => IncidentFact::MajorAccepted,
            IncidentEvent::MajorRejected { .. } => IncidentFact::MajorRejected,
            IncidentEvent::ReviewPublished { .. } => IncidentFact::ReviewPublished,
            IncidentEvent::ImpactStartRecorded { occurred_at, .. } => {
                IncidentFact::ImpactStartRecorded {
                    occurred_at: *occurred_at,
                }
            }
            IncidentEvent::DetectionRecorded { occurred_at, .. } => {
                IncidentFact::DetectionRecorded {
                    occurred_at: *occurred_at,
                }
            }
            IncidentEvent::EscalatedHierarchically { .. }
            | IncidentEvent::ParentLinked { .. }
            | IncidentEvent::ChildLinked { .. }
            | IncidentEvent::DuplicateLinked { .. }
            | IncidentEvent::AlertCorrelated { .. }
            | IncidentEvent::ProblemLinked { .. }
            | IncidentEvent::CausingChangeLinked { .. }
            | IncidentEvent::WorkNoteAdded { .. }
            | IncidentEvent::CommentAdded { .. } => return None,
        };
        Some(fact)
    }
}

/// The type of a change, without its template (the data-free form of the change lifecycle's
/// change type).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// Pre-authorised from a template: never needs an authorisation.
    Standard,
    /// Assessed and authorised by the CAB.
    Normal,
    /// Authorised by the emergency CAB.
    Emergency,
}

/// How a closed change ended (the change lifecycle's close code without its backout record).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ChangeOutcome {
    /// Implemented as planned.
    Successful,
    /// Implemented, with issues worth recording.
    SuccessfulWithIssues,
    /// Not implemented as intended (backed out or not).
    Unsuccessful,
}

/// The part of a change event the KPIs read.
///
/// The engine maps the change lifecycle's events as follows (every other event maps to none):
///
/// | change event | fact |
/// |---|---|
/// | `change.requested { change_type }` | [`ChangeFact::Requested`] |
/// | `change.updated { change_type: Some(t) }` | [`ChangeFact::TypeChanged`] |
/// | `change.authorized` | [`ChangeFact::Authorized`] |
/// | `change.rejected`, `change.reverted_to_new` | [`ChangeFact::AuthorizationWithdrawn`] |
/// | `change.implementation_started` | [`ChangeFact::ImplementationStarted`] |
/// | `change.closed { code }` | [`ChangeFact::Closed`] |
/// | `change.canceled` | [`ChangeFact::Canceled`] |
/// | `change.caused_incident_recorded` | [`ChangeFact::CausedIncident`] |
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "fact", rename_all = "snake_case")]
pub enum ChangeFact {
    /// The change was raised.
    Requested {
        /// Its type.
        kind: ChangeKind,
    },
    /// Its type was edited.
    TypeChanged {
        /// The type now.
        kind: ChangeKind,
    },
    /// The approval round reached its quorum: the change is authorised.
    Authorized,
    /// A rejection or a return to New cleared the authorisation.
    AuthorizationWithdrawn,
    /// Implementation started.
    ImplementationStarted,
    /// The change was closed with its outcome.
    Closed {
        /// The outcome.
        outcome: ChangeOutcome,
    },
    /// The change was canceled.
    Canceled,
    /// The change was recorded as the cause of an incident.
    CausedIncident,
}

// The SLA module owns these two types; KPIs read SLA outcomes in its terms.
pub use crate::sla::{RecordRef, SlaMetric};

/// How an SLA clock stopped (its stop condition was met).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SlaStop {
    /// When it stopped.
    pub at: DateTime<Utc>,
    /// Business time the clock ran, pauses excluded, in milliseconds.
    pub business_elapsed_ms: i64,
}

/// One SLA instance (one attachment, or one reattached cycle, of one definition to one record),
/// as the SLA module or the engine computed it. The KPI functions read nothing else about SLAs.
///
/// Every outcome is an instant, so an outcome can be seen as of any earlier instant
/// ([`SlaOutcome::as_of`]): a breach, stop or cancellation recorded after the cutoff has not
/// happened yet as of the cutoff. That is exact as long as clocks are causal (a breach instant
/// depends only on events recorded before it), which holds unless a definition lets a backdated
/// fact move a clock; for such definitions feed outcomes computed as of the cutoff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "KpiSlaOutcome")]
pub struct SlaOutcome {
    /// The record the clock ran on.
    pub record: RecordRef,
    /// The SLA definition's id.
    pub definition: String,
    /// 1 for the first attachment, +1 per reattachment; each cycle is its own instance.
    pub cycle: u32,
    /// What it measures.
    pub metric: SlaMetric,
    /// The record's priority the instance was attached for.
    pub priority: Priority,
    /// The record's assignment group when the clock stopped (or breached, if it still runs).
    pub group: Option<GroupId>,
    /// The record's service.
    pub service: Option<ServiceId>,
    /// When the clock started (recorded).
    pub started_at: DateTime<Utc>,
    /// The target, in business milliseconds.
    pub target_ms: i64,
    /// When the clock crossed its target, if it did.
    pub breached_at: Option<DateTime<Utc>>,
    /// When and how it stopped, if it did.
    pub stopped: Option<SlaStop>,
    /// When it was canceled, if it was (canceled instances are left out of every figure).
    pub canceled_at: Option<DateTime<Utc>>,
}

impl SlaOutcome {
    /// The outcome as known at `cutoff`: `None` if the clock had not started; otherwise the
    /// breach, stop and cancellation recorded after `cutoff` are dropped. The KPI functions
    /// read outcomes only through this.
    pub fn as_of(&self, cutoff: DateTime<Utc>) -> Option<SlaOutcome> {
        if self.started_at > cutoff {
            return None;
        }
        Some(SlaOutcome {
            breached_at: self.breached_at.filter(|t| *t <= cutoff),
            stopped: self.stopped.filter(|s| s.at <= cutoff),
            canceled_at: self.canceled_at.filter(|t| *t <= cutoff),
            ..self.clone()
        })
    }

    /// The latest instant the outcome mentions (start, breach, stop, cancellation).
    pub fn latest(&self) -> DateTime<Utc> {
        [
            Some(self.started_at),
            self.breached_at,
            self.stopped.map(|s| s.at),
            self.canceled_at,
        ]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(self.started_at)
    }

    /// The breach instant, if the clock breached before it stopped (a breach recorded after the
    /// stop is not one). Stopping exactly at the due instant is met: the SLA module records no
    /// breach then.
    pub fn breach(&self) -> Option<DateTime<Utc>> {
        self.breached_at
            .filter(|b| self.stopped.is_none_or(|stop| *b <= stop.at))
    }
}

impl ChangeKind {
    /// The KPI kind of a change type.
    pub fn of(change_type: &ChangeType) -> Self {
        match change_type {
            ChangeType::Standard { .. } => ChangeKind::Standard,
            ChangeType::Normal => ChangeKind::Normal,
            ChangeType::Emergency => ChangeKind::Emergency,
        }
    }
}

impl ChangeFact {
    /// The KPI fact of a change event; `None` for events no KPI reads.
    pub fn from_event(event: &ChangeEvent) -> Option<Self> {
        match event {
            ChangeEvent::Requested { change_type, .. } => Some(ChangeFact::Requested {
                kind: ChangeKind::of(change_type),
            }),
            ChangeEvent::Updated { change_type, .. } => {
                change_type.as_ref().map(|t| ChangeFact::TypeChanged {
                    kind: ChangeKind::of(t),
                })
            }
            ChangeEvent::Authorized { .. } => Some(ChangeFact::Authorized),
            ChangeEvent::Rejected { .. } | ChangeEvent::RevertedToNew { .. } => {
                Some(ChangeFact::AuthorizationWithdrawn)
            }
            ChangeEvent::ImplementationStarted { .. } => Some(ChangeFact::ImplementationStarted),
            ChangeEvent::Closed { code, .. } => Some(ChangeFact::Closed {
                outcome: match code {
                    ChangeCloseCode::Successful => ChangeOutcome::Successful,
                    ChangeCloseCode::SuccessfulWithIssues => ChangeOutcome::SuccessfulWithIssues,
                    ChangeCloseCode::Unsuccessful { .. } => ChangeOutcome::Unsuccessful,
                },
            }),
            ChangeEvent::Canceled { .. } => Some(ChangeFact::Canceled),
            ChangeEvent::CausedIncidentRecorded { .. } => Some(ChangeFact::CausedIncident),
            ChangeEvent::Planned { .. }
            | ChangeEvent::Submitted { .. }
            | ChangeEvent::AuthorizationRequested { .. }
            | ChangeEvent::Approved { .. }
            | ChangeEvent::Scheduled { .. }
            | ChangeEvent::Implemented { .. }
            | ChangeEvent::ProblemLinked { .. }
            | ChangeEvent::WorkNoteAdded { .. } => None,
        }
    }
}
