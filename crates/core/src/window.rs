//! Time windows: maintenance windows, blackout (freeze) windows and planned change windows.

use crate::ids::CiId;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A half-open interval `[start, end)` of instants.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub struct TimeWindow {
    /// First instant inside the window.
    pub start: DateTime<Utc>,
    /// First instant after the window.
    pub end: DateTime<Utc>,
}

impl TimeWindow {
    /// A window; callers validate `start < end` where it matters (see [`TimeWindow::is_valid`]).
    pub const fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Self {
        Self { start, end }
    }

    /// Whether `start < end`.
    pub fn is_valid(&self) -> bool {
        self.start < self.end
    }

    /// Whether `t` lies inside the window.
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.start <= t && t < self.end
    }

    /// Whether `other` lies wholly inside this window.
    pub fn covers(&self, other: &TimeWindow) -> bool {
        self.start <= other.start && other.end <= self.end
    }

    /// Whether the two windows share at least one instant.
    pub fn overlaps(&self, other: &TimeWindow) -> bool {
        self.start < other.end && other.start < self.end
    }
}

/// Which configuration items a maintenance or blackout window applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "scope", content = "cis", rename_all = "snake_case")]
pub enum CiScope {
    /// Every CI.
    All,
    /// Only these CIs.
    Only(Vec<CiId>),
}

impl CiScope {
    /// Whether the scope includes `ci`.
    pub fn includes(&self, ci: &CiId) -> bool {
        match self {
            CiScope::All => true,
            CiScope::Only(cis) => cis.contains(ci),
        }
    }
}

/// A named window with a CI scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct NamedWindow {
    /// Human name, for example `sunday-night-db`.
    pub name: String,
    /// When.
    pub window: TimeWindow,
    /// Which CIs.
    pub scope: CiScope,
}
