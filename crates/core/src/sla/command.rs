//! What may be asked of a record's SLA stream. The engine sends these: `attach` when a record's
//! clock starts, `reattach` after a change (a reprioritisation) alters which definitions apply,
//! `record_threshold` and `record_breach` from its tick, `cancel` to withdraw instances.

use super::definition::{Percent, SlaPin};
use super::state::{RecordRef, SlaInstanceNo};
use crate::transition::Named;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A command on a record's SLA stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum SlaCommand {
    /// Attach definitions to the record, pinning the given versions. Idempotent: a definition
    /// (by id) attached before, in any version and whatever became of it, is skipped, so a
    /// retried or repeated attach never adds a second clock and never changes a pinned
    /// version; attaching a definition again is what `reattach` is for.
    Attach {
        /// The record.
        record: RecordRef,
        /// What to pin (usually [`SlaPolicy::pins_for`](super::SlaPolicy::pins_for)).
        pins: Vec<SlaPin>,
    },
    /// Make `pins` the record's active definitions, explicitly and on the record: active
    /// instances whose definition is not among them are replaced (their history is kept and
    /// frozen at `effective_at`), definitions not active get new instances, the rest are kept
    /// with their pinned versions. A reattachment that would change nothing is a no-op.
    Reattach {
        /// The record.
        record: RecordRef,
        /// The definitions that apply now (may be empty: none applies any more).
        pins: Vec<SlaPin>,
        /// When the change that caused it happened (the reprioritisation's instant).
        effective_at: DateTime<Utc>,
        /// Why.
        reason: String,
    },
    /// Record that an instance's clock crossed a warning threshold. Exactly once per instance
    /// and threshold: a repeat is a no-op.
    RecordThreshold {
        /// The record.
        record: RecordRef,
        /// Which instance.
        instance: SlaInstanceNo,
        /// Which threshold (one of the instance's).
        percent: Percent,
        /// When the clock crossed it (from [`sla_status`](super::sla_status)).
        crossed_at: DateTime<Utc>,
    },
    /// Record that an instance's clock breached. Exactly once per instance: a repeat is a no-op.
    RecordBreach {
        /// The record.
        record: RecordRef,
        /// Which instance.
        instance: SlaInstanceNo,
        /// When it breached (from [`sla_status`](super::sla_status)).
        breached_at: DateTime<Utc>,
    },
    /// Cancel one instance, or every active one. Canceling a canceled instance, or "every
    /// active one" when none is, is a no-op.
    Cancel {
        /// The record.
        record: RecordRef,
        /// Which instance; `None` for every active one.
        instance: Option<SlaInstanceNo>,
        /// Why.
        reason: String,
    },
}

/// [`SlaCommand`] without its data: the columns of the transition table.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SlaCommandKind {
    /// [`SlaCommand::Attach`].
    Attach,
    /// [`SlaCommand::Reattach`].
    Reattach,
    /// [`SlaCommand::RecordThreshold`].
    RecordThreshold,
    /// [`SlaCommand::RecordBreach`].
    RecordBreach,
    /// [`SlaCommand::Cancel`].
    Cancel,
}

impl Named for SlaCommandKind {
    const ALL: &'static [Self] = &[
        SlaCommandKind::Attach,
        SlaCommandKind::Reattach,
        SlaCommandKind::RecordThreshold,
        SlaCommandKind::RecordBreach,
        SlaCommandKind::Cancel,
    ];

    fn name(self) -> &'static str {
        match self {
            SlaCommandKind::Attach => "attach",
            SlaCommandKind::Reattach => "reattach",
            SlaCommandKind::RecordThreshold => "record_threshold",
            SlaCommandKind::RecordBreach => "record_breach",
            SlaCommandKind::Cancel => "cancel",
        }
    }
}

impl SlaCommand {
    /// The command without its data.
    pub fn kind(&self) -> SlaCommandKind {
        match self {
            SlaCommand::Attach { .. } => SlaCommandKind::Attach,
            SlaCommand::Reattach { .. } => SlaCommandKind::Reattach,
            SlaCommand::RecordThreshold { .. } => SlaCommandKind::RecordThreshold,
            SlaCommand::RecordBreach { .. } => SlaCommandKind::RecordBreach,
            SlaCommand::Cancel { .. } => SlaCommandKind::Cancel,
        }
    }

    /// The record it targets.
    pub fn record(&self) -> RecordRef {
        match self {
            SlaCommand::Attach { record, .. }
            | SlaCommand::Reattach { record, .. }
            | SlaCommand::RecordThreshold { record, .. }
            | SlaCommand::RecordBreach { record, .. }
            | SlaCommand::Cancel { record, .. } => *record,
        }
    }
}
