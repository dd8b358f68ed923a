//! Schedule-conflict detection: a pure function over a candidate change, the scheduled changes,
//! maintenance and blackout windows, CIs and assignees.

use crate::ids::{ActorId, ChangeId, CiId};
use crate::window::TimeWindow;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One reason a planned change clashes with the calendar.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "conflict", rename_all = "snake_case")]
pub enum Conflict {
    /// Another scheduled change touches the same CI in an overlapping window.
    CiAlreadyScheduled {
        /// The shared CI.
        ci: CiId,
        /// The other change.
        other: ChangeId,
        /// Its window.
        other_window: TimeWindow,
    },
    /// The change's window is not inside any maintenance window covering this CI.
    OutsideMaintenanceWindow {
        /// The CI.
        ci: CiId,
    },
    /// The change's window overlaps a blackout window covering this CI.
    InsideBlackout {
        /// The CI.
        ci: CiId,
        /// The blackout window's name.
        blackout: String,
    },
    /// The assignee is already booked on another change in an overlapping window.
    AssigneeDoubleBooked {
        /// The assignee.
        assignee: ActorId,
        /// The other change.
        other: ChangeId,
    },
}
