//! Classified stretches of time, the raw material of an SLA explanation.

use chrono::{DateTime, Duration, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What the calendar says about an instant.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SpanKind {
    /// Inside the working hours of a working day: business time runs.
    Working,
    /// A working day, but outside its working hours (evenings, weekends, lunch breaks).
    OutsideHours,
    /// A holiday, or a partial-day closure: business time stops, whatever the weekly hours say.
    Holiday,
}

/// A half-open stretch `[start, end)` of one [`SpanKind`], as returned by
/// [`BusinessCalendar::intervals`](super::BusinessCalendar::intervals).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct CalendarSpan {
    /// First instant of the stretch.
    pub start: DateTime<Utc>,
    /// First instant after the stretch.
    pub end: DateTime<Utc>,
    /// What the calendar says about every instant in it.
    pub kind: SpanKind,
}

impl CalendarSpan {
    /// Elapsed (real) time from `start` to `end`.
    pub fn duration(&self) -> Duration {
        self.end - self.start
    }
}
