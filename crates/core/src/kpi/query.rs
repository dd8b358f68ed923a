//! What a KPI query asks: which window, as of when, grouped how, measured in which time.

use crate::calendar::BusinessCalendar;
use crate::window::TimeWindow;
use chrono::{DateTime, Duration, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How records are split into groups.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// One group holding everything.
    #[default]
    None,
    /// By priority.
    Priority,
    /// By assignment group.
    Group,
    /// By affected service.
    Service,
}

/// Which clock durations are measured on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "basis", rename_all = "snake_case")]
pub enum TimeBasis {
    /// Elapsed real time.
    #[default]
    WallClock,
    /// Business time under one calendar, applied to every record
    /// ([`BusinessCalendar::business_duration_between`]).
    Business {
        /// The calendar (boxed: it is large, and the wall-clock case is common).
        calendar: Box<BusinessCalendar>,
    },
}

impl TimeBasis {
    /// The duration of `[a, b)` on this clock; zero when `b <= a` (only possible with
    /// out-of-order input), as [`BusinessCalendar::business_duration_between`] does.
    pub fn between(&self, a: DateTime<Utc>, b: DateTime<Utc>) -> Duration {
        if b <= a {
            return Duration::zero();
        }
        match self {
            TimeBasis::WallClock => b - a,
            TimeBasis::Business { calendar } => calendar.business_duration_between(a, b),
        }
    }
}

/// What counts as a first-contact resolution (beyond "never reopened", which always applies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FcrDefinition {
    /// Most reassignments (functional escalations included) allowed before the resolution.
    #[serde(default)]
    pub max_reassignments: u32,
    /// Only a resolution worked on the incident itself counts; one propagated from a parent
    /// or a problem does not.
    #[serde(default = "yes")]
    pub direct_only: bool,
    /// "Resolved at first interaction" variant: the time to resolve (measured as MTTR
    /// measures it) may not exceed this many minutes.
    #[serde(default)]
    pub within_minutes: Option<u32>,
}

impl Default for FcrDefinition {
    fn default() -> Self {
        Self {
            max_reassignments: 0,
            direct_only: true,
            within_minutes: None,
        }
    }
}

fn yes() -> bool {
    true
}

fn seven() -> u32 {
    7
}

fn three() -> u32 {
    3
}

fn seventy_two() -> u32 {
    72
}

/// A KPI query. See the [module documentation](crate::kpi) for which instant puts a record in
/// the window for each figure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KpiQuery {
    /// The reporting window `[start, end)`.
    pub window: TimeWindow,
    /// Only facts recorded at or before this instant count. `None`: everything given counts,
    /// and the latest instant in the input stands in for "now" (pass `Some(now)` for a live
    /// dashboard, so that maturity and backlog ages run to the present).
    #[serde(default)]
    pub as_of: Option<DateTime<Utc>>,
    /// How to split the figures.
    #[serde(default)]
    pub group_by: GroupBy,
    /// Which clock durations are measured on.
    #[serde(default)]
    pub time_basis: TimeBasis,
    /// Leave time on hold out of time-to-resolve and backlog ages.
    #[serde(default)]
    pub exclude_on_hold: bool,
    /// A resolution reopened within this many (wall-clock) days of it counts as reopened.
    #[serde(default = "seven")]
    pub reopen_window_days: u32,
    /// First-contact resolution rules.
    #[serde(default)]
    pub fcr: FcrDefinition,
    /// An incident with at least this many reassignments is "ping-pong".
    #[serde(default = "three")]
    pub ping_pong_threshold: u32,
    /// A post-incident review is on time if published within this many (wall-clock) hours of
    /// the resolution.
    #[serde(default = "seventy_two")]
    pub pir_deadline_hours: u32,
    /// A change closed "successful with issues" counts as a success.
    #[serde(default = "yes")]
    pub with_issues_is_success: bool,
}

impl KpiQuery {
    /// A query over `window` with the defaults: everything recorded, no grouping, wall clock,
    /// holds included, 7-day reopen window, strict FCR, ping-pong at 3, PIR within 72 h,
    /// "successful with issues" is a success.
    pub fn new(window: TimeWindow) -> Self {
        Self {
            window,
            as_of: None,
            group_by: GroupBy::None,
            time_basis: TimeBasis::WallClock,
            exclude_on_hold: false,
            reopen_window_days: seven(),
            fcr: FcrDefinition::default(),
            ping_pong_threshold: three(),
            pir_deadline_hours: seventy_two(),
            with_issues_is_success: true,
        }
    }

    /// Builder: as of `t`.
    pub fn as_of(mut self, t: DateTime<Utc>) -> Self {
        self.as_of = Some(t);
        self
    }

    /// Builder: grouped by `by`.
    pub fn group_by(mut self, by: GroupBy) -> Self {
        self.group_by = by;
        self
    }

    /// Builder: durations in business time under `calendar`.
    pub fn business(mut self, calendar: BusinessCalendar) -> Self {
        self.time_basis = TimeBasis::Business {
            calendar: Box::new(calendar),
        };
        self
    }
}
