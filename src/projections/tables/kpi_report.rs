//! KPIs as SQL aggregates over the KPI tables: what a live `query.kpis` on the wall clock
//! costs instead of a fold of every record. Each figure is one grouped aggregate whose terms
//! are exactly those of the core's [`compute`](opsledger_core::kpi::compute) (same windows,
//! same maturity, durations truncated per record to the millisecond); the sums land in the
//! core's [`GroupTotals`], whose `finish` makes the figures, so ratios, means and percentiles
//! are computed once, in one place. The engine's tests check the two against each other.
//!
//! What SQL does not hold is computed beside it: SLA clocks still running (evaluated at the
//! query's instant, as the fold does) and, for a window that ends before now, the backlog at
//! the window's end (the incidents open then, found by their open spans, folded alone).

use crate::error::{EngineError, Result};
use chrono::{DateTime, Utc};
use opsledger_core::kpi::{
    BacklogSample, GroupBy, GroupKey, GroupTotals, KpiQuery, KpiReport, SlaMetric, TimeBasis,
};
use opsledger_core::{GroupId, Priority, ServiceId};
use opsledger_store::{RowFlow, SqlTables, SqlValue};
use std::collections::BTreeMap;
use uuid::Uuid;

/// The columns a figure is grouped by: priority, group, service.
type KeyColumns = (&'static str, &'static str, &'static str);

const ACK: KeyColumns = ("ack_priority", "ack_group", "ack_service");
const RESOLVED: KeyColumns = ("resolved_priority", "resolved_group", "resolved_service");
const RESOLUTION: KeyColumns = ("priority", "assignment_group", "service");
const DETECTION: KeyColumns = ("mttd_priority", "mttd_group", "mttd_service");
const CURRENT: KeyColumns = ("priority", "assignment_group", "service");
const SLA: KeyColumns = ("priority", "held_by_group", "service");

/// Whether a query can be answered from the tables: the wall clock, no later than now.
pub(crate) fn answers(query: &KpiQuery) -> bool {
    matches!(query.time_basis, TimeBasis::WallClock)
}

/// Everything the report needs besides the tables.
pub(crate) struct Extras<'a> {
    /// SLA outcomes of the incidents whose clocks still run, evaluated at the horizon, with
    /// their priority and group filled in.
    pub(crate) live_sla: Vec<opsledger_core::kpi::SlaOutcome>,
    /// An incident's sample in the backlog at an instant before now (its history folded).
    pub(crate) backlog_at: &'a dyn Fn(Uuid, DateTime<Utc>) -> Result<Option<BacklogSample>>,
}

fn key_column(by: GroupBy, columns: KeyColumns) -> &'static str {
    match by {
        GroupBy::None => "NULL",
        GroupBy::Priority => columns.0,
        GroupBy::Group => columns.1,
        GroupBy::Service => columns.2,
    }
}

fn priority_of(label: &str) -> Result<Priority> {
    serde_json::from_value(serde_json::Value::String(label.to_owned()))
        .map_err(|_| EngineError::Views(format!("unknown priority {label:?} in the KPI tables")))
}

fn metric_of(label: &str) -> Result<SlaMetric> {
    serde_json::from_value(serde_json::Value::String(label.to_owned()))
        .map_err(|_| EngineError::Views(format!("unknown SLA metric {label:?} in the KPI tables")))
}

fn key_of(by: GroupBy, value: &SqlValue) -> Result<GroupKey> {
    let text = value.as_str();
    Ok(match by {
        GroupBy::None => GroupKey::All,
        GroupBy::Priority => GroupKey::Priority(text.map(priority_of).transpose()?),
        GroupBy::Group => GroupKey::Group(text.map(GroupId::from)),
        GroupBy::Service => GroupKey::Service(text.map(ServiceId::from)),
    })
}

fn int(row: &[SqlValue], i: usize) -> i64 {
    row.get(i).and_then(SqlValue::as_i64).unwrap_or(0)
}

fn count(row: &[SqlValue], i: usize) -> u64 {
    u64::try_from(int(row, i)).unwrap_or(0)
}

fn micros(t: DateTime<Utc>) -> SqlValue {
    SqlValue::Integer(t.timestamp_micros())
}

struct Report<'q> {
    query: &'q KpiQuery,
    groups: BTreeMap<GroupKey, GroupTotals>,
}

impl Report<'_> {
    fn group(&mut self, key: GroupKey) -> &mut GroupTotals {
        self.groups.entry(key).or_default()
    }

    /// Runs a grouped aggregate (its first column the key) and hands each row to `add`.
    fn each(
        &mut self,
        sql: &dyn SqlTables,
        statement: &str,
        params: &[SqlValue],
        mut add: impl FnMut(&mut GroupTotals, &[SqlValue]) -> Result<()>,
    ) -> Result<()> {
        let by = self.query.group_by;
        let mut failure = None;
        let mut rows = Vec::new();
        sql.query(statement, params, &mut |row| {
            rows.push(row.to_vec());
            Ok(RowFlow::Continue)
        })?;
        for row in rows {
            let key = match row.first().map(|v| key_of(by, v)) {
                Some(Ok(k)) => k,
                Some(Err(e)) => {
                    failure = Some(e);
                    break;
                }
                None => continue,
            };
            add(self.group(key), &row[1..])?;
        }
        failure.map_or(Ok(()), Err)
    }
}

/// The report of `query` at `horizon` (now), from the tables and `extras`.
pub(crate) fn report(
    sql: &dyn SqlTables,
    query: &KpiQuery,
    horizon: DateTime<Utc>,
    extras: Extras<'_>,
) -> Result<KpiReport> {
    debug_assert!(answers(query));
    let window = query.window;
    let backlog_at = window.end.min(horizon);
    let by = query.group_by;
    let mut r = Report {
        query,
        groups: BTreeMap::new(),
    };
    if by == GroupBy::None {
        r.group(GroupKey::All);
    }
    let (start, end, now) = (micros(window.start), micros(window.end), micros(horizon));
    let reopen_us = i64::from(query.reopen_window_days).saturating_mul(86_400_000_000);
    let pir_us = i64::from(query.pir_deadline_hours).saturating_mul(3_600_000_000);

    // Time to acknowledge: first acknowledgements in the window.
    r.each(
        sql,
        &format!(
            "SELECT {}, count(*), sum(max(0, acknowledged_us - opened_us) / 1000)
             FROM kpi_incidents WHERE acknowledged_us >= ?1 AND acknowledged_us < ?2 GROUP BY 1",
            key_column(by, ACK)
        ),
        &[start.clone(), end.clone()],
        |g, row| {
            g.mtta.count += count(row, 0);
            g.mtta.total = g.mtta.total.saturating_add(int(row, 1));
            Ok(())
        },
    )?;

    // The MTTR population: standing resolutions in the window.
    let held = if query.exclude_on_hold {
        "coalesce(held_to_resolve_us, 0)"
    } else {
        "0"
    };
    r.each(
        sql,
        &format!(
            "SELECT key, count(*), sum(ttr_ms), sum(reassigned), sum(reassigned >= ?5),
                    sum(mature), sum(mature AND fcr), sum(NOT mature),
                    sum(major = 1 AND pir_mature), sum(major = 1 AND pir_mature AND on_time),
                    sum(major = 1 AND NOT pir_mature)
             FROM (
                SELECT {key} AS key,
                       (max(0, resolved_us - opened_us) - {held}) / 1000 AS ttr_ms,
                       coalesce(resolved_reassignments, 0) AS reassigned,
                       resolved_us + ?3 <= ?4 AS mature,
                       reopens = 0 AND coalesce(resolved_reassignments, 0) <= ?6
                           AND (?7 = 0 OR resolution_source = 'direct')
                           AND (CAST(?8 AS BIGINT) IS NULL OR (max(0, resolved_us - opened_us) - {held}) / 1000
                                <= ?8 * 60000) AS fcr,
                       major,
                       resolved_us + ?9 <= ?4 AS pir_mature,
                       first_review_us IS NOT NULL AND first_review_us <= resolved_us + ?9
                           AS on_time
                FROM kpi_incidents WHERE resolved_us >= ?1 AND resolved_us < ?2) AS resolved
             GROUP BY 1",
            key = key_column(by, RESOLVED),
        ),
        &[
            start.clone(),
            end.clone(),
            SqlValue::Integer(reopen_us),
            now.clone(),
            SqlValue::from(query.ping_pong_threshold),
            SqlValue::from(query.fcr.max_reassignments),
            SqlValue::from(query.fcr.direct_only),
            query
                .fcr
                .within_minutes
                .map_or(SqlValue::Null, SqlValue::from),
            SqlValue::Integer(pir_us),
        ],
        |g, row| {
            g.resolved += count(row, 0);
            g.mttr.count += count(row, 0);
            g.mttr.total = g.mttr.total.saturating_add(int(row, 1));
            g.reassignments += count(row, 2);
            g.ping_pong += count(row, 3);
            g.fcr.mature += count(row, 4);
            g.fcr.yes += count(row, 5);
            g.fcr.pending += count(row, 6);
            g.pir.mature += count(row, 7);
            g.pir.yes += count(row, 8);
            g.pir.pending += count(row, 9);
            Ok(())
        },
    )?;

    // Reopen rate: every resolution in the window.
    r.each(
        sql,
        &format!(
            "SELECT {}, sum(resolved_us + ?3 <= ?4),
                    sum(resolved_us + ?3 <= ?4 AND reopened_us IS NOT NULL
                        AND reopened_us <= resolved_us + ?3),
                    sum(resolved_us + ?3 > ?4)
             FROM kpi_resolutions WHERE resolved_us >= ?1 AND resolved_us < ?2 GROUP BY 1",
            key_column(by, RESOLUTION)
        ),
        &[
            start.clone(),
            end.clone(),
            SqlValue::Integer(reopen_us),
            now.clone(),
        ],
        |g, row| {
            g.reopen.mature += count(row, 0);
            g.reopen.yes += count(row, 1);
            g.reopen.pending += count(row, 2);
            Ok(())
        },
    )?;

    // Time to detect: detections in the window.
    r.each(
        sql,
        &format!(
            "SELECT {}, count(*), sum(mttd_ms)
             FROM kpi_incidents WHERE detected_us >= ?1 AND detected_us < ?2 GROUP BY 1",
            key_column(by, DETECTION)
        ),
        &[start.clone(), end.clone()],
        |g, row| {
            g.mttd.count += count(row, 0);
            g.mttd.total = g.mttd.total.saturating_add(int(row, 1));
            Ok(())
        },
    )?;

    backlog(&mut r, sql, backlog_at, horizon, &extras)?;
    changes(&mut r, sql, &start, &end)?;
    sla(&mut r, sql, &start, &end, extras.live_sla)?;

    Ok(KpiReport {
        window,
        horizon,
        backlog_at,
        groups: r
            .groups
            .into_iter()
            .map(|(key, totals)| totals.finish(key))
            .collect(),
        runbooks: Vec::new(),
    })
}

/// The incidents open at the backlog instant, with their ages.
fn backlog(
    r: &mut Report<'_>,
    sql: &dyn SqlTables,
    at: DateTime<Utc>,
    horizon: DateTime<Utc>,
    extras: &Extras<'_>,
) -> Result<()> {
    let by = r.query.group_by;
    let exclude = r.query.exclude_on_hold;
    if at < horizon {
        let rows = sql.query_all(
            "SELECT DISTINCT incident FROM kpi_open_spans
             WHERE from_us <= ?1 AND (to_us IS NULL OR to_us > ?1)",
            &[micros(at)],
        )?;
        for row in rows {
            let Some(id) = row.first().and_then(SqlValue::as_str) else {
                continue;
            };
            let id = Uuid::parse_str(id).map_err(|e| EngineError::Views(e.to_string()))?;
            if let Some(sample) = (extras.backlog_at)(id, at)? {
                let key = match by {
                    GroupBy::None => GroupKey::All,
                    GroupBy::Priority => GroupKey::Priority(Some(sample.routing.priority)),
                    GroupBy::Group => GroupKey::Group(sample.routing.group),
                    GroupBy::Service => GroupKey::Service(sample.routing.service),
                };
                r.group(key).ages.push(sample.age_ms);
            }
        }
        return Ok(());
    }
    let at_us = at.timestamp_micros();
    r.each(
        sql,
        &format!(
            "SELECT {}, opened_us, held_us, on_hold_since_us
             FROM kpi_incidents WHERE is_open = 1",
            key_column(by, CURRENT)
        ),
        &[],
        |g, row| {
            let opened = int(row, 0);
            let mut age = (at_us - opened).max(0);
            if exclude {
                let current = row
                    .get(2)
                    .and_then(SqlValue::as_i64)
                    .map_or(0, |since| (at_us - since).max(0));
                age -= int(row, 1) + current;
            }
            g.ages.push(age / 1000);
            Ok(())
        },
    )
}

/// Changes: requested, implemented and closed in the window.
fn changes(
    r: &mut Report<'_>,
    sql: &dyn SqlTables,
    start: &SqlValue,
    end: &SqlValue,
) -> Result<()> {
    let key = match r.query.group_by {
        GroupBy::None => GroupKey::All,
        GroupBy::Priority => GroupKey::Priority(None),
        GroupBy::Group => GroupKey::Group(None),
        GroupBy::Service => GroupKey::Service(None),
    };
    let window = [start.clone(), end.clone()];
    let requested = sql.query_all(
        "SELECT count(*), sum(change_type = 'emergency') FROM kpi_changes
         WHERE requested_us >= ?1 AND requested_us < ?2",
        &window,
    )?;
    if let Some(row) = requested.first().filter(|row| count(row, 0) > 0) {
        let g = r.group(key.clone());
        g.requested += count(row, 0);
        g.emergency += count(row, 1);
    }
    let implemented = sql.query_all(
        "SELECT count(*), sum(unauthorized) FROM kpi_changes
         WHERE implemented_us >= ?1 AND implemented_us < ?2",
        &window,
    )?;
    if let Some(row) = implemented.first().filter(|row| count(row, 0) > 0) {
        let g = r.group(key.clone());
        g.implemented += count(row, 0);
        g.unauthorized += count(row, 1);
    }
    let closed = sql.query_all(
        "SELECT count(*),
                sum(outcome = 'successful' OR (?3 AND outcome = 'successful_with_issues')),
                sum(caused_incident)
         FROM kpi_changes WHERE closed_us >= ?1 AND closed_us < ?2",
        &[
            start.clone(),
            end.clone(),
            SqlValue::from(r.query.with_issues_is_success),
        ],
    )?;
    if let Some(row) = closed.first().filter(|row| count(row, 0) > 0) {
        let g = r.group(key);
        g.closed += count(row, 0);
        g.successful += count(row, 1);
        g.caused_incidents += count(row, 2);
    }
    Ok(())
}

/// SLA clocks decided in the window: the finished ones from the table, the running ones
/// evaluated now.
fn sla(
    r: &mut Report<'_>,
    sql: &dyn SqlTables,
    start: &SqlValue,
    end: &SqlValue,
    live: Vec<opsledger_core::kpi::SlaOutcome>,
) -> Result<()> {
    let by = r.query.group_by;
    r.each(
        sql,
        &format!(
            "SELECT {}, metric, priority,
                    sum(breached_us IS NOT NULL),
                    sum(CASE WHEN breached_us IS NOT NULL AND stopped_us IS NOT NULL
                             THEN 1 ELSE 0 END),
                    sum(CASE WHEN breached_us IS NOT NULL AND stopped_us IS NOT NULL
                             THEN max(0, elapsed_ms - target_ms) ELSE 0 END),
                    sum(breached_us IS NOT NULL AND stopped_us IS NULL),
                    sum(breached_us IS NULL)
             FROM sla_clocks
             WHERE incident_live = 0 AND canceled_at IS NULL
               AND ((breached_us >= ?1 AND breached_us < ?2)
                 OR (breached_us IS NULL AND stopped_us >= ?1 AND stopped_us < ?2))
             GROUP BY 1, 2, 3",
            key_column(by, SLA)
        ),
        &[start.clone(), end.clone()],
        |g, row| {
            let metric = metric_of(row.first().and_then(SqlValue::as_str).unwrap_or(""))?;
            let priority = priority_of(row.get(1).and_then(SqlValue::as_str).unwrap_or(""))?;
            let s = g.sla_row(metric, priority);
            let breaches = count(row, 2);
            let met = count(row, 6);
            s.breaches += breaches;
            s.decided += breaches + met;
            s.met += met;
            s.overrun.count += count(row, 3);
            s.overrun.total = s.overrun.total.saturating_add(int(row, 4));
            s.breached_running += count(row, 5);
            Ok(())
        },
    )?;
    if live.is_empty() {
        return Ok(());
    }
    // The running clocks, through the core's own fold of SLA outcomes.
    let input = opsledger_core::kpi::KpiInput {
        sla: live,
        ..Default::default()
    };
    let partial = opsledger_core::kpi::compute(r.query, &input);
    for g in partial.groups {
        for f in g.sla {
            let s = r.group(g.key.clone()).sla_row(f.metric, f.priority);
            s.met += f.compliance.numerator;
            s.decided += f.compliance.denominator;
            s.breaches += f.breaches;
            s.overrun.count += f.overrun.count;
            s.overrun.total = s.overrun.total.saturating_add(f.overrun.total_ms);
            s.breached_running += f.breached_running;
        }
    }
    Ok(())
}
