//! What happened on a record's SLA stream. Events are facts: never rewritten.

use super::definition::{BreachEscalation, Percent, SlaKey, SlaMetric};
use super::state::{AttachedInstance, RecordRef, SlaInstanceNo};
use crate::decider::DomainEvent;
use crate::ids::ActorId;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An event of a record's SLA stream. Every variant names the record, when it was recorded
/// (`at`) and by whom (`by`); facts about the clock carry their own instant as well.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type")]
pub enum SlaEvent {
    /// Definitions were attached, each as a new instance with its pinned versions.
    #[serde(rename = "sla.attached")]
    Attached {
        /// The record.
        record: RecordRef,
        /// The new instances.
        instances: Vec<AttachedInstance>,
        /// Recorded at.
        at: DateTime<Utc>,
        /// Recorded by.
        by: ActorId,
    },
    /// The applicable definitions changed: `replaced` instances ended at `effective_at`,
    /// `instances` were attached.
    #[serde(rename = "sla.reattached")]
    Reattached {
        /// The record.
        record: RecordRef,
        /// Instances replaced (their history is kept).
        replaced: Vec<SlaInstanceNo>,
        /// New instances.
        instances: Vec<AttachedInstance>,
        /// When the change that caused it happened.
        effective_at: DateTime<Utc>,
        /// Why.
        reason: String,
        /// Recorded at.
        at: DateTime<Utc>,
        /// Recorded by.
        by: ActorId,
    },
    /// An instance's clock crossed a warning threshold.
    #[serde(rename = "sla.threshold_crossed")]
    ThresholdCrossed {
        /// The record.
        record: RecordRef,
        /// Which instance.
        instance: SlaInstanceNo,
        /// Its pinned definition.
        definition: SlaKey,
        /// Which threshold.
        percent: Percent,
        /// When the clock crossed it.
        crossed_at: DateTime<Utc>,
        /// Recorded at.
        at: DateTime<Utc>,
        /// Recorded by.
        by: ActorId,
    },
    /// An instance's clock breached its target.
    #[serde(rename = "sla.breached")]
    Breached {
        /// The record.
        record: RecordRef,
        /// Which instance.
        instance: SlaInstanceNo,
        /// Its pinned definition.
        definition: SlaKey,
        /// What it measures.
        metric: SlaMetric,
        /// When it breached.
        breached_at: DateTime<Utc>,
        /// The escalation its definition asks for, for the process manager to carry out.
        escalation: Option<BreachEscalation>,
        /// Recorded at.
        at: DateTime<Utc>,
        /// Recorded by.
        by: ActorId,
    },
    /// Instances were canceled explicitly.
    #[serde(rename = "sla.canceled")]
    Canceled {
        /// The record.
        record: RecordRef,
        /// Which instances.
        instances: Vec<SlaInstanceNo>,
        /// Why.
        reason: String,
        /// Recorded at.
        at: DateTime<Utc>,
        /// Recorded by.
        by: ActorId,
    },
}

impl SlaEvent {
    /// The record whose SLA stream it belongs to.
    pub fn record(&self) -> RecordRef {
        match self {
            SlaEvent::Attached { record, .. }
            | SlaEvent::Reattached { record, .. }
            | SlaEvent::ThresholdCrossed { record, .. }
            | SlaEvent::Breached { record, .. }
            | SlaEvent::Canceled { record, .. } => *record,
        }
    }

    /// When it was recorded.
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            SlaEvent::Attached { at, .. }
            | SlaEvent::Reattached { at, .. }
            | SlaEvent::ThresholdCrossed { at, .. }
            | SlaEvent::Breached { at, .. }
            | SlaEvent::Canceled { at, .. } => *at,
        }
    }

    /// Who recorded it.
    pub fn by(&self) -> &ActorId {
        match self {
            SlaEvent::Attached { by, .. }
            | SlaEvent::Reattached { by, .. }
            | SlaEvent::ThresholdCrossed { by, .. }
            | SlaEvent::Breached { by, .. }
            | SlaEvent::Canceled { by, .. } => by,
        }
    }
}

impl DomainEvent for SlaEvent {
    fn event_type(&self) -> &'static str {
        // Must match the serde renames above; a test compares them.
        match self {
            SlaEvent::Attached { .. } => "sla.attached",
            SlaEvent::Reattached { .. } => "sla.reattached",
            SlaEvent::ThresholdCrossed { .. } => "sla.threshold_crossed",
            SlaEvent::Breached { .. } => "sla.breached",
            SlaEvent::Canceled { .. } => "sla.canceled",
        }
    }

    fn schema_version(&self) -> u16 {
        1
    }
}
