//! What a KPI query answers. Every figure carries what it was computed from (counts, totals,
//! numerators and denominators), so a reader can check it; a mean or a percentage over an
//! empty population is `None`, never 0.

use super::input::SlaMetric;
use crate::ids::{ArticleId, GroupId, ServiceId};
use crate::priority::Priority;
use crate::window::TimeWindow;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Which group a row of the report describes. `None` inside a variant means "no value" (an
/// unassigned incident; a change, which has no priority, group or service).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "by", content = "value", rename_all = "snake_case")]
pub enum GroupKey {
    /// Everything (no grouping).
    All,
    /// One priority.
    Priority(Option<Priority>),
    /// One assignment group.
    Group(Option<GroupId>),
    /// One service.
    Service(Option<ServiceId>),
}

/// `numerator / denominator`, with the percentage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Ratio {
    /// What satisfies the condition.
    pub numerator: u64,
    /// The population.
    pub denominator: u64,
    /// `100 * numerator / denominator`; `None` for an empty population.
    pub percent: Option<f64>,
}

impl Ratio {
    /// The ratio of two counts.
    pub fn new(numerator: u64, denominator: u64) -> Self {
        Self {
            numerator,
            denominator,
            percent: percent(numerator, denominator),
        }
    }
}

/// `100 * n / d` as a float, `None` when `d == 0`.
pub(crate) fn percent(n: u64, d: u64) -> Option<f64> {
    // u64 -> f64 is exact below 2^53, far beyond any record count.
    (d > 0).then(|| 100.0 * n as f64 / d as f64)
}

/// `total / count` as a float, `None` when `count == 0`.
pub(crate) fn mean(total: i64, count: u64) -> Option<f64> {
    (count > 0).then(|| total as f64 / count as f64)
}

/// A mean duration with its sample count and total. Durations are whole milliseconds, each
/// sample truncated on its own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DurationFigure {
    /// Number of samples.
    pub count: u64,
    /// Sum of the samples, in milliseconds (saturating).
    pub total_ms: i64,
    /// `total_ms / count`; `None` without samples.
    pub mean_ms: Option<f64>,
}

impl DurationFigure {
    /// The figure of `count` samples summing to `total_ms`.
    pub fn new(count: u64, total_ms: i64) -> Self {
        Self {
            count,
            total_ms,
            mean_ms: mean(total_ms, count),
        }
    }
}

/// A distribution of durations: mean, nearest-rank median and 90th percentile.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AgeFigure {
    /// Number of samples.
    pub count: u64,
    /// Sum, in milliseconds (saturating).
    pub total_ms: i64,
    /// `total_ms / count`; `None` without samples.
    pub mean_ms: Option<f64>,
    /// The nearest-rank 50th percentile: the smallest sample with at least half of the
    /// samples at or below it (an actual sample, never interpolated).
    pub median_ms: Option<i64>,
    /// The nearest-rank 90th percentile: the smallest sample with at least 90 % of the samples
    /// at or below it.
    pub p90_ms: Option<i64>,
}

/// Backlog ages in buckets: `[0, 1 d)`, `[1 d, 7 d)`, `[7 d, 30 d)`, `[30 d, ...)`, where a day
/// is 24 hours of the query's clock (24 business hours under a business calendar).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AgeBuckets {
    /// Younger than one day.
    pub under_1d: u64,
    /// One day up to a week.
    pub from_1d_to_7d: u64,
    /// One week up to 30 days.
    pub from_7d_to_30d: u64,
    /// 30 days or older.
    pub over_30d: u64,
}

/// The incidents open at the backlog instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BacklogFigure {
    /// How many.
    pub size: u64,
    /// Their ages.
    pub age: AgeFigure,
    /// Their ages in buckets (the buckets add up to `size`).
    pub buckets: AgeBuckets,
}

/// A rate over a mature cohort: only members whose observation period had ended by the
/// horizon are in the ratio; the others are counted as `pending`, so that a figure is not
/// biased by outcomes that cannot be known yet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MatureRatio {
    /// The rate over the mature members.
    pub rate: Ratio,
    /// Members whose observation period was still running at the horizon.
    pub pending: u64,
}

/// Reassignments of resolved incidents.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ReassignmentFigure {
    /// Resolved incidents in the population.
    pub incidents: u64,
    /// Their reassignments before resolution, summed.
    pub reassignments: u64,
    /// `reassignments / incidents`; `None` without incidents.
    pub mean: Option<f64>,
    /// Incidents with at least the ping-pong threshold of reassignments, over `incidents`.
    pub ping_pong: Ratio,
}

/// SLA compliance and breaches for one metric and priority.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SlaFigure {
    /// The metric.
    pub metric: SlaMetric,
    /// The priority the instances were attached for.
    pub priority: Priority,
    /// Met instances over met + breached instances decided in the window.
    pub compliance: Ratio,
    /// Instances that breached in the window.
    pub breaches: u64,
    /// Time over target (business elapsed minus target) of those breaches whose clock had
    /// stopped by the horizon.
    pub overrun: DurationFigure,
    /// Breaches whose clock was still running at the horizon (their overrun still grows, so it
    /// is left out of `overrun`).
    pub breached_running: u64,
}

/// Closed changes and their outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ChangeSuccessFigure {
    /// Successful closes over all closes in the window.
    pub rate: Ratio,
    /// Of those closed changes, how many are recorded as the cause of an incident (the input
    /// of a DORA-style change failure rate).
    pub caused_incidents: u64,
}

/// Every figure for one group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GroupReport {
    /// Which group.
    pub key: GroupKey,
    /// Mean time to acknowledge.
    pub mtta: DurationFigure,
    /// Mean time to resolve.
    pub mttr: DurationFigure,
    /// Mean time to detect.
    pub mttd: DurationFigure,
    /// SLA compliance and breaches per metric and priority (ordered by metric, then priority).
    pub sla: Vec<SlaFigure>,
    /// Resolutions reopened within the reopen window.
    pub reopen_rate: MatureRatio,
    /// Reassignments of resolved incidents.
    pub reassignment: ReassignmentFigure,
    /// First-contact resolutions over resolved incidents.
    pub first_contact_resolution: MatureRatio,
    /// Open incidents at the backlog instant.
    pub backlog: BacklogFigure,
    /// Change success rate.
    pub change_success: ChangeSuccessFigure,
    /// Emergency changes over changes requested in the window.
    pub emergency_changes: Ratio,
    /// Changes implemented without authorisation over changes implemented in the window (the
    /// numerator is the unauthorised-change count).
    pub unauthorized_changes: Ratio,
    /// Accepted major incidents whose review was published on time.
    pub pir_on_time: MatureRatio,
}

/// The answer to a [`KpiQuery`](super::KpiQuery).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KpiReport {
    /// The window asked for.
    pub window: TimeWindow,
    /// The knowledge horizon: `as_of`, or the latest instant in the input. Facts after it
    /// were not seen; maturity (reopen, FCR, PIR) is judged at it.
    pub horizon: DateTime<Utc>,
    /// Where the backlog was measured: the earlier of the window's end and the horizon.
    pub backlog_at: DateTime<Utc>,
    /// One row per group, ordered by key. Without grouping there is exactly one ([`GroupKey::All`]);
    /// with grouping, only groups something contributed to.
    pub groups: Vec<GroupReport>,
    /// How the runbooks fared in the window: one row per runbook suggested or applied in it,
    /// most applied first (not grouped). Filled by the engine from the knowledge read model;
    /// [`compute`](super::compute) leaves it empty.
    #[serde(default)]
    pub runbooks: Vec<RunbookFigure>,
}

/// One runbook in a KPI window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunbookFigure {
    /// The runbook.
    pub article: ArticleId,
    /// Its title.
    pub title: String,
    /// Incidents opened in the window it was suggested to at triage.
    pub suggested: u64,
    /// Times it was applied to an incident in the window.
    pub applied: u64,
    /// Of those applications, how many resolved the incident.
    pub resolved: u64,
    /// `resolved / applied`; `None` when it was not applied.
    pub resolution_rate: Option<f64>,
    /// Time to resolve (opening to standing resolution, wall clock) of the incidents resolved
    /// in the window that it was applied to.
    pub mttr_applied: DurationFigure,
    /// The same of the incidents resolved in the window that it was suggested to but never
    /// applied to.
    pub mttr_not_applied: DurationFigure,
}
