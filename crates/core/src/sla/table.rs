//! THE SLA instance transition table. `decide` checks every instance a command touches against
//! it before anything else.
//!
//! `from` is the status of the instance the command is about: for `record_threshold`,
//! `record_breach` and `cancel` the numbered instance (`none`: no such instance); for `attach`
//! and `reattach`, the newest instance of each definition named (`none`: never attached), and
//! `to` is the status of that definition's newest instance afterwards (a new instance when a
//! replaced or canceled definition applies again; the old one keeps its history).

use super::command::SlaCommandKind as C;
use super::state::{SlaInstance, SlaInstanceStatusKind as S};
use crate::ids::RecordKind;
use crate::transition::{Transition, TransitionTable};

/// Guard texts, shared with `decide`.
pub(crate) mod guard {
    pub const NEVER_ATTACHED: &str = "definition never attached to the record";
    pub const ATTACHED_BEFORE: &str = "attached before: no-op";
    pub const NEWLY_APPLICABLE: &str = "definition applies now: new instance";
    pub const STILL_APPLICABLE: &str = "definition still applies: kept as pinned";
    pub const NO_LONGER_APPLICABLE: &str = "definition no longer applies";
    pub const ONCE: &str = "first time for this instance (repeat: no-op)";
    pub const BEFORE_REPLACEMENT: &str = "happened before the replacement (repeat: no-op)";
    pub const BEFORE_CANCELLATION: &str = "happened before the cancellation (repeat: no-op)";
    pub const REPEAT: &str = "repeat: no-op";
}

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

const ACTIVE: Option<S> = Some(S::Active);
const REPLACED: Option<S> = Some(S::Replaced);
const CANCELED: Option<S> = Some(S::Canceled);

/// The SLA instance lifecycle. The table serves every record kind; refusals name the record's
/// own kind (the `kind` below is only the table's nominal one).
pub(crate) static TABLE: TransitionTable<S, C> = TransitionTable {
    kind: RecordKind::Incident,
    name: "sla_instance",
    rows: &[
        row(None, C::Attach, S::Active, guard::NEVER_ATTACHED),
        keep(S::Active, C::Attach, guard::ATTACHED_BEFORE),
        keep(S::Replaced, C::Attach, guard::ATTACHED_BEFORE),
        keep(S::Canceled, C::Attach, guard::ATTACHED_BEFORE),
        row(None, C::Reattach, S::Active, guard::NEWLY_APPLICABLE),
        keep(S::Active, C::Reattach, guard::STILL_APPLICABLE),
        row(
            ACTIVE,
            C::Reattach,
            S::Replaced,
            guard::NO_LONGER_APPLICABLE,
        ),
        row(REPLACED, C::Reattach, S::Active, guard::NEWLY_APPLICABLE),
        row(CANCELED, C::Reattach, S::Active, guard::NEWLY_APPLICABLE),
        keep(S::Active, C::RecordThreshold, guard::ONCE),
        keep(S::Replaced, C::RecordThreshold, guard::BEFORE_REPLACEMENT),
        keep(S::Canceled, C::RecordThreshold, guard::BEFORE_CANCELLATION),
        keep(S::Active, C::RecordBreach, guard::ONCE),
        keep(S::Replaced, C::RecordBreach, guard::BEFORE_REPLACEMENT),
        keep(S::Canceled, C::RecordBreach, guard::BEFORE_CANCELLATION),
        row(ACTIVE, C::Cancel, S::Canceled, ""),
        keep(S::Canceled, C::Cancel, guard::REPEAT),
    ],
};

impl SlaInstance {
    /// The SLA instance transition table.
    pub fn transitions() -> &'static TransitionTable<S, C> {
        &TABLE
    }
}
