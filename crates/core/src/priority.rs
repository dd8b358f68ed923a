//! Impact, urgency and the priority matrix that maps them to a priority.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;

/// How widely a service is affected.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Impact {
    /// Many users or a whole service.
    High,
    /// A group of users or a part of a service.
    Medium,
    /// One user or a minor function.
    Low,
}

/// How quickly the business needs a resolution.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    /// Work stopped; no workaround.
    High,
    /// Work degraded.
    Medium,
    /// Can wait.
    Low,
}

/// Priority, P1 (critical) to P5 (planning). Ordered so that `Critical < High`, i.e. "more urgent first".
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// P1.
    Critical,
    /// P2.
    High,
    /// P3.
    Moderate,
    /// P4.
    Low,
    /// P5.
    Planning,
}

impl Priority {
    /// Every priority, most urgent first.
    pub const ALL: [Priority; 5] = [
        Priority::Critical,
        Priority::High,
        Priority::Moderate,
        Priority::Low,
        Priority::Planning,
    ];

    /// The conventional short label, `P1` to `P5`.
    pub const fn label(self) -> &'static str {
        match self {
            Priority::Critical => "P1",
            Priority::High => "P2",
            Priority::Moderate => "P3",
            Priority::Low => "P4",
            Priority::Planning => "P5",
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Maps (impact, urgency) to a priority. Rows are impact High, Medium, Low; columns urgency
/// High, Medium, Low.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PriorityMatrix {
    /// `cells[impact][urgency]`.
    pub cells: [[Priority; 3]; 3],
}

impl Default for PriorityMatrix {
    /// The usual ITIL 3x3 matrix (as shipped by most service desks): P1 only for high x high,
    /// P5 only for low x low.
    fn default() -> Self {
        use Priority::*;
        Self {
            cells: [
                [Critical, High, Moderate],
                [High, Moderate, Low],
                [Moderate, Low, Planning],
            ],
        }
    }
}

impl PriorityMatrix {
    /// The priority for an impact and an urgency.
    pub fn priority(&self, impact: Impact, urgency: Urgency) -> Priority {
        let row = match impact {
            Impact::High => 0,
            Impact::Medium => 1,
            Impact::Low => 2,
        };
        let col = match urgency {
            Urgency::High => 0,
            Urgency::Medium => 1,
            Urgency::Low => 2,
        };
        self.cells[row][col]
    }
}
