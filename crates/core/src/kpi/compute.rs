//! The KPI computation: one fold per record, contributions collected per group.

use super::input::{
    ChangeFact, ChangeHistory, ChangeKind, ChangeOutcome, IncidentHistory, RecordHistory,
    ResolutionKind, SlaMetric, SlaOutcome,
};
use super::query::{GroupBy, KpiQuery};
use super::report::{
    AgeBuckets, AgeFigure, BacklogFigure, ChangeSuccessFigure, DurationFigure, GroupKey,
    GroupReport, KpiReport, MatureRatio, Ratio, ReassignmentFigure, SlaFigure, mean,
};
use super::trace::{Attrs, Hold, IncidentTrace, Overlay, trace_change, trace_incident};
use crate::ids::{ChangeId, IncidentId};
use crate::incident::IncidentEvent;
use crate::priority::Priority;
use chrono::{DateTime, Duration, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

const DAY_MS: i64 = 86_400_000;

/// Everything a KPI query reads, kept up to date by the engine as events are committed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct KpiInput {
    /// Incident histories by id.
    pub incidents: BTreeMap<IncidentId, IncidentHistory>,
    /// Change histories by id.
    pub changes: BTreeMap<ChangeId, ChangeHistory>,
    /// SLA instances (any order).
    pub sla: Vec<SlaOutcome>,
    /// The latest instant of any event fed through [`KpiInput::push_incident_event`] or
    /// [`KpiInput::push_change_fact`], including events no KPI reads (a work note recorded
    /// last still moves "now" when a query has no `as_of`).
    #[serde(default)]
    pub recorded_until: Option<DateTime<Utc>>,
}

impl KpiInput {
    /// An empty input.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends the KPI fact of an incident event to its incident's history (created on first
    /// use). Returns whether a fact was appended (see [`IncidentHistory::push_event`]).
    pub fn push_incident_event(&mut self, event: &IncidentEvent) -> bool {
        self.saw(event.at());
        self.incidents
            .entry(event.id())
            .or_insert_with(|| RecordHistory::new(event.id()))
            .push_event(event)
    }

    /// Appends a change fact recorded at `at` to its change's history (created on first use).
    pub fn push_change_fact(&mut self, id: ChangeId, at: DateTime<Utc>, fact: ChangeFact) {
        self.saw(at);
        self.changes
            .entry(id)
            .or_insert_with(|| RecordHistory::new(id))
            .push(at, fact);
    }

    fn saw(&mut self, at: DateTime<Utc>) {
        self.recorded_until = Some(self.recorded_until.map_or(at, |t| t.max(at)));
    }

    /// The input as it stood at `cutoff`: histories cut to the facts recorded at or before it,
    /// SLA outcomes seen as of it ([`SlaOutcome::as_of`]).
    pub fn truncated(&self, cutoff: DateTime<Utc>) -> Self {
        Self {
            incidents: self
                .incidents
                .iter()
                .map(|(id, h)| (*id, h.truncated(cutoff)))
                .collect(),
            changes: self
                .changes
                .iter()
                .map(|(id, h)| (*id, h.truncated(cutoff)))
                .collect(),
            sla: self.sla.iter().filter_map(|o| o.as_of(cutoff)).collect(),
            // Known up to the cutoff (or less, if nothing later was ever fed).
            recorded_until: self.recorded_until.map(|t| t.min(cutoff)),
        }
    }

    /// The latest recorded instant anywhere in the input: the horizon of a query without
    /// `as_of`.
    pub fn latest(&self) -> Option<DateTime<Utc>> {
        let fed = self.recorded_until.into_iter();
        let incidents = self.incidents.values().filter_map(RecordHistory::latest);
        let changes = self.changes.values().filter_map(RecordHistory::latest);
        let sla = self.sla.iter().map(SlaOutcome::latest);
        fed.chain(incidents).chain(changes).chain(sla).max()
    }
}

/// Computes every KPI of `query` over `input`. Pure and deterministic; see the
/// [module documentation](crate::kpi) for the formulas.
pub fn compute(query: &KpiQuery, input: &KpiInput) -> KpiReport {
    let horizon = query
        .as_of
        .or_else(|| input.latest())
        .unwrap_or(query.window.end);
    let backlog_at = query.window.end.min(horizon);
    let mut run = Run {
        query,
        horizon,
        backlog_at,
        groups: BTreeMap::new(),
    };
    if query.group_by == GroupBy::None {
        run.group(GroupKey::All);
    }
    for history in input.incidents.values() {
        run.incident(history);
    }
    for history in input.changes.values() {
        run.change(history);
    }
    for outcome in &input.sla {
        run.sla(outcome);
    }
    KpiReport {
        window: query.window,
        horizon,
        backlog_at,
        groups: run
            .groups
            .into_iter()
            .map(|(key, acc)| acc.finish(key))
            .collect(),
        runbooks: Vec::new(),
    }
}

fn ms(d: Duration) -> i64 {
    d.num_milliseconds()
}

fn incident_key(by: GroupBy, attrs: &Attrs) -> GroupKey {
    match by {
        GroupBy::None => GroupKey::All,
        GroupBy::Priority => GroupKey::Priority(Some(attrs.priority)),
        GroupBy::Group => GroupKey::Group(attrs.group.clone()),
        GroupBy::Service => GroupKey::Service(attrs.service.clone()),
    }
}

/// Changes carry no priority, group or service: with grouping they fall in the "no value" row.
fn change_key(by: GroupBy) -> GroupKey {
    match by {
        GroupBy::None => GroupKey::All,
        GroupBy::Priority => GroupKey::Priority(None),
        GroupBy::Group => GroupKey::Group(None),
        GroupBy::Service => GroupKey::Service(None),
    }
}

fn sla_key(by: GroupBy, o: &SlaOutcome) -> GroupKey {
    match by {
        GroupBy::None => GroupKey::All,
        GroupBy::Priority => GroupKey::Priority(Some(o.priority)),
        GroupBy::Group => GroupKey::Group(o.group.clone()),
        GroupBy::Service => GroupKey::Service(o.service.clone()),
    }
}

struct Run<'q> {
    query: &'q KpiQuery,
    horizon: DateTime<Utc>,
    backlog_at: DateTime<Utc>,
    groups: BTreeMap<GroupKey, GroupTotals>,
}

impl Run<'_> {
    fn group(&mut self, key: GroupKey) -> &mut GroupTotals {
        self.groups.entry(key).or_default()
    }

    /// Time on hold inside `[from, to)`, on the query's clock.
    fn held(&self, holds: &[Hold], from: DateTime<Utc>, to: DateTime<Utc>) -> Duration {
        holds
            .iter()
            .map(|h| {
                let start = h.start.max(from);
                let end = h.end.unwrap_or(to).min(to);
                self.query.time_basis.between(start, end)
            })
            .fold(Duration::zero(), |a, b| a + b)
    }

    /// `[from, to)` on the query's clock, less time on hold if the query says so.
    fn worked(&self, holds: &[Hold], from: DateTime<Utc>, to: DateTime<Utc>) -> Duration {
        let all = self.query.time_basis.between(from, to);
        if self.query.exclude_on_hold {
            all - self.held(holds, from, to)
        } else {
            all
        }
    }

    /// `at + hours`, or `None` past chrono's range (never mature then).
    fn deadline(at: DateTime<Utc>, hours: i64) -> Option<DateTime<Utc>> {
        Duration::try_hours(hours).and_then(|d| at.checked_add_signed(d))
    }

    fn incident(&mut self, history: &IncidentHistory) {
        let q = self.query;
        let by = q.group_by;
        let window = q.window;
        let horizon = self.horizon;
        let Some(t) = trace_incident(history.visible(horizon)) else {
            return;
        };

        if let Some((ack, attrs)) = &t.first_ack
            && window.contains(*ack)
        {
            let d = ms(q.time_basis.between(t.opened_at, *ack));
            self.group(incident_key(by, attrs)).mtta.add(d);
        }

        if let Some(r) = t.standing_resolution()
            && window.contains(r.at)
        {
            let ttr = ms(self.worked(&t.holds, t.opened_at, r.at));
            let reopen_deadline =
                Self::deadline(r.at, i64::from(q.reopen_window_days).saturating_mul(24));
            let mature = reopen_deadline.is_some_and(|d| d <= horizon);
            let fcr = t.reopens == 0
                && r.reassignments <= q.fcr.max_reassignments
                && (!q.fcr.direct_only || r.source == ResolutionKind::Direct)
                && q.fcr
                    .within_minutes
                    .is_none_or(|m| ttr <= i64::from(m).saturating_mul(60_000));
            let pir = (t.major == Overlay::Accepted).then(|| {
                let deadline = Self::deadline(r.at, i64::from(q.pir_deadline_hours));
                let on_time = t
                    .first_review
                    .is_some_and(|p| deadline.is_some_and(|d| p <= d));
                (deadline.is_some_and(|d| d <= horizon), on_time)
            });
            let ping_pong = r.reassignments >= q.ping_pong_threshold;
            let acc = self.group(incident_key(by, &r.attrs));
            acc.mttr.add(ttr);
            acc.resolved += 1;
            acc.reassignments += u64::from(r.reassignments);
            acc.ping_pong += u64::from(ping_pong);
            acc.fcr.add(mature, fcr);
            if let Some((mature, on_time)) = pir {
                acc.pir.add(mature, on_time);
            }
        }

        for r in &t.resolutions {
            if window.contains(r.at) {
                let deadline =
                    Self::deadline(r.at, i64::from(q.reopen_window_days).saturating_mul(24));
                let mature = deadline.is_some_and(|d| d <= horizon);
                let reopened = r
                    .reopened_at
                    .is_some_and(|x| deadline.is_some_and(|d| x <= d));
                self.group(incident_key(by, &r.attrs))
                    .reopen
                    .add(mature, reopened);
            }
        }

        if let (Some(impact), Some(attrs)) = (t.impact_start, &t.mttd_attrs) {
            let detected = t.detection.unwrap_or(t.opened_at);
            if impact <= detected && window.contains(detected) {
                let d = ms(q.time_basis.between(impact, detected));
                self.group(incident_key(by, attrs)).mttd.add(d);
            }
        }

        let at_backlog;
        let backlog: &IncidentTrace = if self.backlog_at == horizon {
            &t
        } else {
            match trace_incident(history.visible(self.backlog_at)) {
                Some(b) => {
                    at_backlog = b;
                    &at_backlog
                }
                None => return,
            }
        };
        if backlog.status.is_open() {
            let age = ms(self.worked(&backlog.holds, backlog.opened_at, self.backlog_at));
            let key = incident_key(by, &backlog.attrs);
            self.group(key).ages.push(age);
        }
    }

    fn change(&mut self, history: &ChangeHistory) {
        let q = self.query;
        let Some(change) = trace_change(history.visible(self.horizon)) else {
            return;
        };
        let key = change_key(q.group_by);
        if q.window.contains(change.requested_at) {
            let acc = self.group(key.clone());
            acc.requested += 1;
            acc.emergency += u64::from(change.kind == ChangeKind::Emergency);
        }
        if let Some((at, unauthorized)) = change.implementation
            && q.window.contains(at)
        {
            let acc = self.group(key.clone());
            acc.implemented += 1;
            acc.unauthorized += u64::from(unauthorized);
        }
        if let Some((at, outcome)) = change.closed
            && q.window.contains(at)
        {
            let success = match outcome {
                ChangeOutcome::Successful => true,
                ChangeOutcome::SuccessfulWithIssues => q.with_issues_is_success,
                ChangeOutcome::Unsuccessful => false,
            };
            let acc = self.group(key);
            acc.closed += 1;
            acc.successful += u64::from(success);
            acc.caused_incidents += u64::from(change.caused_incident);
        }
    }

    fn sla(&mut self, outcome: &SlaOutcome) {
        let Some(o) = outcome.as_of(self.horizon) else {
            return;
        };
        if o.canceled_at.is_some() {
            return;
        }
        let window = self.query.window;
        let key = sla_key(self.query.group_by, &o);
        if let Some(breach) = o.breach() {
            if window.contains(breach) {
                let row = self.group(key).sla_row(o.metric, o.priority);
                row.decided += 1;
                row.breaches += 1;
                match o.stopped {
                    Some(stop) => row
                        .overrun
                        .add(stop.business_elapsed_ms.saturating_sub(o.target_ms).max(0)),
                    None => row.breached_running += 1,
                }
            }
        } else if let Some(stop) = o.stopped
            && window.contains(stop.at)
        {
            let row = self.group(key).sla_row(o.metric, o.priority);
            row.decided += 1;
            row.met += 1;
        }
    }
}

/// Samples of a duration: how many, and their sum in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DurationTotal {
    /// Number of samples.
    pub count: u64,
    /// Sum of the samples (saturating).
    pub total: i64,
}

impl DurationTotal {
    /// Adds one sample.
    pub fn add(&mut self, ms: i64) {
        self.count += 1;
        self.total = self.total.saturating_add(ms);
    }

    fn finish(&self) -> DurationFigure {
        DurationFigure::new(self.count, self.total)
    }
}

/// A ratio over a population whose members count once they are mature.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MatureTotal {
    /// Mature members that satisfy the condition.
    pub yes: u64,
    /// Mature members.
    pub mature: u64,
    /// Members not mature yet.
    pub pending: u64,
}

impl MatureTotal {
    /// Adds one member.
    pub fn add(&mut self, mature: bool, yes: bool) {
        if mature {
            self.mature += 1;
            self.yes += u64::from(yes);
        } else {
            self.pending += 1;
        }
    }

    fn finish(&self) -> MatureRatio {
        MatureRatio {
            rate: Ratio::new(self.yes, self.mature),
            pending: self.pending,
        }
    }
}

/// One SLA row's counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SlaTotal {
    /// Clocks that met their target.
    pub met: u64,
    /// Clocks decided (met or breached).
    pub decided: u64,
    /// Clocks breached.
    pub breaches: u64,
    /// Time over target of breached clocks that stopped.
    pub overrun: DurationTotal,
    /// Breached clocks still running.
    pub breached_running: u64,
}

/// The sums one group's figures are made of, before the ratios and means: what
/// [`compute`] accumulates, and what a pre-aggregated source (SQL) fills in instead.
/// [`GroupTotals::finish`] turns them into the group's report.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupTotals {
    /// Time to acknowledge.
    pub mtta: DurationTotal,
    /// Time to resolve.
    pub mttr: DurationTotal,
    /// Time to detect.
    pub mttd: DurationTotal,
    /// SLA rows by metric and priority.
    pub sla: BTreeMap<(SlaMetric, Priority), SlaTotal>,
    /// Resolutions reopened within the window.
    pub reopen: MatureTotal,
    /// Incidents in the MTTR population.
    pub resolved: u64,
    /// Their reassignments.
    pub reassignments: u64,
    /// Those with at least the ping-pong threshold of reassignments.
    pub ping_pong: u64,
    /// First-contact resolutions.
    pub fcr: MatureTotal,
    /// Backlog ages in milliseconds (any order).
    pub ages: Vec<i64>,
    /// Changes closed.
    pub closed: u64,
    /// Of those, successful.
    pub successful: u64,
    /// Of those, having caused an incident.
    pub caused_incidents: u64,
    /// Changes requested.
    pub requested: u64,
    /// Of those, emergency changes.
    pub emergency: u64,
    /// Changes implemented.
    pub implemented: u64,
    /// Of those, without an authorisation.
    pub unauthorized: u64,
    /// Post-incident reviews on time.
    pub pir: MatureTotal,
}

impl GroupTotals {
    /// The SLA row of `metric` and `priority`.
    pub fn sla_row(&mut self, metric: SlaMetric, priority: Priority) -> &mut SlaTotal {
        self.sla.entry((metric, priority)).or_default()
    }

    /// The group's report.
    pub fn finish(mut self, key: GroupKey) -> GroupReport {
        self.ages.sort_unstable();
        let count = self.ages.len() as u64;
        let total = self.ages.iter().fold(0i64, |a, b| a.saturating_add(*b));
        let mut buckets = AgeBuckets::default();
        for age in &self.ages {
            let bucket = if *age < DAY_MS {
                &mut buckets.under_1d
            } else if *age < 7 * DAY_MS {
                &mut buckets.from_1d_to_7d
            } else if *age < 30 * DAY_MS {
                &mut buckets.from_7d_to_30d
            } else {
                &mut buckets.over_30d
            };
            *bucket += 1;
        }
        GroupReport {
            key,
            mtta: self.mtta.finish(),
            mttr: self.mttr.finish(),
            mttd: self.mttd.finish(),
            sla: self
                .sla
                .iter()
                .map(|((metric, priority), row)| SlaFigure {
                    metric: *metric,
                    priority: *priority,
                    compliance: Ratio::new(row.met, row.decided),
                    breaches: row.breaches,
                    overrun: row.overrun.finish(),
                    breached_running: row.breached_running,
                })
                .collect(),
            reopen_rate: self.reopen.finish(),
            reassignment: ReassignmentFigure {
                incidents: self.resolved,
                reassignments: self.reassignments,
                mean: mean(
                    i64::try_from(self.reassignments).unwrap_or(i64::MAX),
                    self.resolved,
                ),
                ping_pong: Ratio::new(self.ping_pong, self.resolved),
            },
            first_contact_resolution: self.fcr.finish(),
            backlog: BacklogFigure {
                size: count,
                age: AgeFigure {
                    count,
                    total_ms: total,
                    mean_ms: mean(total, count),
                    median_ms: nearest_rank(&self.ages, 50),
                    p90_ms: nearest_rank(&self.ages, 90),
                },
                buckets,
            },
            change_success: ChangeSuccessFigure {
                rate: Ratio::new(self.successful, self.closed),
                caused_incidents: self.caused_incidents,
            },
            emergency_changes: Ratio::new(self.emergency, self.requested),
            unauthorized_changes: Ratio::new(self.unauthorized, self.implemented),
            pir_on_time: self.pir.finish(),
        }
    }
}

/// The nearest-rank `p`-th percentile of sorted samples: the sample at rank `ceil(p * n / 100)`.
pub fn nearest_rank(sorted: &[i64], p: usize) -> Option<i64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let rank = (p * n).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}
