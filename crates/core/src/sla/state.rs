//! The SLA stream of one record: its instances (one per attached definition and cycle), what
//! each pinned, and which thresholds and breaches were recorded.

use super::definition::{BreachAction, Percent, SlaDefinitionId, SlaKey, SlaMetric, SlaPin};
use super::status::{InstanceWindow, SlaCancelCause, ThresholdCrossing, WindowEnd};
use crate::ids::{ActorId, ChangeId, IncidentId, ProblemId, RecordKind};
use crate::transition::Named;
use chrono::{DateTime, Duration, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;
use uuid::Uuid;

/// The record an SLA stream belongs to.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum RecordRef {
    /// An incident.
    Incident(IncidentId),
    /// A problem.
    Problem(ProblemId),
    /// A change.
    Change(ChangeId),
}

impl RecordRef {
    /// The kind of record.
    pub const fn kind(&self) -> RecordKind {
        match self {
            RecordRef::Incident(_) => RecordKind::Incident,
            RecordRef::Problem(_) => RecordKind::Problem,
            RecordRef::Change(_) => RecordKind::Change,
        }
    }

    /// The record's id.
    pub const fn uuid(&self) -> Uuid {
        match self {
            RecordRef::Incident(id) => id.0,
            RecordRef::Problem(id) => id.0,
            RecordRef::Change(id) => id.0,
        }
    }

    /// The name of the record's SLA stream: `sla-<kind>-<uuid>`.
    pub fn sla_stream(&self) -> String {
        format!("sla-{}-{}", self.kind(), self.uuid())
    }
}

impl fmt::Display for RecordRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind(), self.uuid())
    }
}

/// Numbers the SLA instances of one record, 1, 2, ... in attachment order.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(transparent)]
pub struct SlaInstanceNo(pub u32);

impl fmt::Display for SlaInstanceNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Where an instance's clock starts measuring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "from", rename_all = "snake_case")]
pub enum ClockStart {
    /// From the definition's start condition over the record's whole history.
    Record,
    /// Not before the reattachment that attached it.
    Reattachment {
        /// The reattachment's effective instant.
        at: DateTime<Utc>,
    },
}

/// An instance as attached: everything decisions about it need later, copied from the pinned
/// definition so that recording thresholds and breaches never depends on the policy of the day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AttachedInstance {
    /// Its number within the record.
    pub number: SlaInstanceNo,
    /// The definition and calendar versions pinned.
    pub pin: SlaPin,
    /// The definition's name at that version.
    pub name: String,
    /// What it measures.
    pub metric: SlaMetric,
    /// Business time allowed.
    pub target: Duration,
    /// Warning thresholds, ascending.
    pub thresholds: Vec<Percent>,
    /// What happens at breach.
    pub on_breach: BreachAction,
    /// Where its clock starts.
    pub start: ClockStart,
}

/// Where an SLA instance is in its (small) lifecycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum SlaInstanceStatus {
    /// Attached: its clock follows the record.
    Active,
    /// Replaced by a reattachment; its history is kept as it was.
    Replaced {
        /// The reattachment's effective instant (the end of this instance's window).
        at: DateTime<Utc>,
        /// The instances attached by the same reattachment.
        by: Vec<SlaInstanceNo>,
        /// Why.
        reason: String,
    },
    /// Canceled explicitly.
    Canceled {
        /// When.
        at: DateTime<Utc>,
        /// Why.
        reason: String,
    },
}

/// [`SlaInstanceStatus`] without its data: the rows of [`SlaInstance::transitions`].
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SlaInstanceStatusKind {
    /// [`SlaInstanceStatus::Active`].
    Active,
    /// [`SlaInstanceStatus::Replaced`].
    Replaced,
    /// [`SlaInstanceStatus::Canceled`].
    Canceled,
}

impl Named for SlaInstanceStatusKind {
    const ALL: &'static [Self] = &[
        SlaInstanceStatusKind::Active,
        SlaInstanceStatusKind::Replaced,
        SlaInstanceStatusKind::Canceled,
    ];

    fn name(self) -> &'static str {
        match self {
            SlaInstanceStatusKind::Active => "active",
            SlaInstanceStatusKind::Replaced => "replaced",
            SlaInstanceStatusKind::Canceled => "canceled",
        }
    }
}

impl SlaInstanceStatus {
    /// The status without its data.
    pub fn kind(&self) -> SlaInstanceStatusKind {
        match self {
            SlaInstanceStatus::Active => SlaInstanceStatusKind::Active,
            SlaInstanceStatus::Replaced { .. } => SlaInstanceStatusKind::Replaced,
            SlaInstanceStatus::Canceled { .. } => SlaInstanceStatusKind::Canceled,
        }
    }

    /// Where the instance's window ends, if it has ended.
    pub fn ended(&self) -> Option<WindowEnd> {
        match self {
            SlaInstanceStatus::Active => None,
            SlaInstanceStatus::Replaced { at, .. } => Some(WindowEnd {
                at: *at,
                cause: SlaCancelCause::Reattached,
            }),
            SlaInstanceStatus::Canceled { at, .. } => Some(WindowEnd {
                at: *at,
                cause: SlaCancelCause::Explicit,
            }),
        }
    }
}

/// One SLA instance: one pinned definition measuring one record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SlaInstance {
    /// Its number within the record.
    pub number: SlaInstanceNo,
    /// The definition and calendar versions pinned.
    pub pin: SlaPin,
    /// The definition's name at that version.
    pub name: String,
    /// What it measures.
    pub metric: SlaMetric,
    /// Business time allowed.
    pub target: Duration,
    /// Warning thresholds, ascending.
    pub thresholds: Vec<Percent>,
    /// What happens at breach.
    pub on_breach: BreachAction,
    /// Where its clock starts.
    pub start: ClockStart,
    /// Active, replaced or canceled.
    pub status: SlaInstanceStatus,
    /// When it was attached.
    pub attached_at: DateTime<Utc>,
    /// Who attached it.
    pub attached_by: ActorId,
    /// Thresholds recorded so far (each at most once), in recording order.
    pub thresholds_recorded: Vec<ThresholdCrossing>,
    /// The breach instant, once recorded.
    pub breach_recorded: Option<DateTime<Utc>>,
}

impl SlaInstance {
    fn attached(attached: &AttachedInstance, at: DateTime<Utc>, by: &ActorId) -> Self {
        Self {
            number: attached.number,
            pin: attached.pin.clone(),
            name: attached.name.clone(),
            metric: attached.metric,
            target: attached.target,
            thresholds: attached.thresholds.clone(),
            on_breach: attached.on_breach.clone(),
            start: attached.start,
            status: SlaInstanceStatus::Active,
            attached_at: at,
            attached_by: by.clone(),
            thresholds_recorded: Vec::new(),
            breach_recorded: None,
        }
    }

    /// The pinned definition version.
    pub fn definition(&self) -> &SlaKey {
        &self.pin.definition
    }

    /// Whether its clock still follows the record.
    pub fn is_active(&self) -> bool {
        self.status.kind() == SlaInstanceStatusKind::Active
    }

    /// The bounds this instance puts on its definition's clock, for
    /// [`sla_status_in`](super::sla_status_in) and [`explain_in`](super::explain_in).
    pub fn window(&self) -> InstanceWindow {
        InstanceWindow {
            not_before: match self.start {
                ClockStart::Record => None,
                ClockStart::Reattachment { at } => Some(at),
            },
            ended: self.status.ended(),
        }
    }

    /// Whether `percent` has been recorded.
    pub fn threshold_recorded(&self, percent: Percent) -> bool {
        self.thresholds_recorded
            .iter()
            .any(|c| c.percent == percent)
    }
}

/// The SLA stream of one record, folded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SlaRecord {
    /// The record.
    pub record: RecordRef,
    /// Every instance ever attached, in attachment order (numbered from 1).
    pub instances: Vec<SlaInstance>,
    /// When the first instance was attached.
    pub created_at: DateTime<Utc>,
    /// Instant of the latest applied event.
    pub updated_at: DateTime<Utc>,
}

impl SlaRecord {
    /// One instance by number.
    pub fn instance(&self, number: SlaInstanceNo) -> Option<&SlaInstance> {
        self.instances.iter().find(|i| i.number == number)
    }

    /// The newest instance of a definition (any version), if it was ever attached.
    pub fn latest(&self, id: &SlaDefinitionId) -> Option<&SlaInstance> {
        self.instances
            .iter()
            .rev()
            .find(|i| &i.pin.definition.id == id)
    }

    /// The instances whose clocks still follow the record.
    pub fn active(&self) -> impl Iterator<Item = &SlaInstance> + '_ {
        self.instances.iter().filter(|i| i.is_active())
    }

    /// The definition ids of the active instances.
    pub fn active_ids(&self) -> BTreeSet<&SlaDefinitionId> {
        self.active().map(|i| &i.pin.definition.id).collect()
    }

    /// Whether attaching exactly `pins` now would change which definitions measure the record:
    /// when the engine should send a reattachment (compared by definition id, so a newer
    /// version of an attached definition does not replace the pinned one).
    pub fn needs_reattachment(&self, pins: &[SlaPin]) -> bool {
        let wanted: BTreeSet<&SlaDefinitionId> = pins.iter().map(|p| &p.definition.id).collect();
        wanted != self.active_ids()
    }

    /// The number the next attached instance gets.
    pub fn next_number(&self) -> SlaInstanceNo {
        SlaInstanceNo(u32::try_from(self.instances.len()).map_or(u32::MAX, |n| n.saturating_add(1)))
    }

    pub(crate) fn attach(
        &mut self,
        attached: &[AttachedInstance],
        at: DateTime<Utc>,
        by: &ActorId,
    ) {
        for a in attached {
            if self.instance(a.number).is_none() {
                self.instances.push(SlaInstance::attached(a, at, by));
            }
        }
    }

    pub(crate) fn instance_mut(&mut self, number: SlaInstanceNo) -> Option<&mut SlaInstance> {
        self.instances.iter_mut().find(|i| i.number == number)
    }
}
