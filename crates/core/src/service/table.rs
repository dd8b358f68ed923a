//! THE item transition table (services and CIs share it). `decide` consults it for the item a
//! command is about before anything else; the diagram is generated from it.

use super::command::ModelCommandKind as C;
use super::state::{ItemStatus as S, ServiceModel};
use crate::ids::RecordKind;
use crate::transition::{Transition, TransitionTable};

/// Guard texts, shared with `decide`.
pub(crate) mod guard {
    pub const NOT_REGISTERED: &str = "id not registered yet";
    pub const BOTH_LIVE: &str = "`to` registered and not retired; not itself; not recorded yet";
    pub const RECORDED: &str = "the relation is recorded";
    pub const REASON: &str = "a reason";
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

const PLANNED: Option<S> = Some(S::Planned);
const OPERATIONAL: Option<S> = Some(S::Operational);

/// The lifecycle of a service or CI. Refusals name the item, not the nominal `kind` below.
pub(crate) static TABLE: TransitionTable<S, C> = TransitionTable {
    kind: RecordKind::Change,
    name: "service_model_item",
    rows: &[
        row(None, C::RegisterService, S::Planned, guard::NOT_REGISTERED),
        row(None, C::RegisterCi, S::Planned, guard::NOT_REGISTERED),
        row(PLANNED, C::Activate, S::Operational, ""),
        row(PLANNED, C::Retire, S::Retired, ""),
        row(OPERATIONAL, C::Retire, S::Retired, ""),
        row(
            Some(S::Retired),
            C::Reactivate,
            S::Operational,
            guard::REASON,
        ),
        keep(S::Planned, C::UpdateAttributes, ""),
        keep(S::Operational, C::UpdateAttributes, ""),
        keep(S::Planned, C::Relate, guard::BOTH_LIVE),
        keep(S::Operational, C::Relate, guard::BOTH_LIVE),
        keep(S::Planned, C::Unrelate, guard::RECORDED),
        keep(S::Operational, C::Unrelate, guard::RECORDED),
    ],
};

impl ServiceModel {
    /// The lifecycle table of services and CIs.
    pub fn transitions() -> &'static TransitionTable<S, C> {
        &TABLE
    }
}
