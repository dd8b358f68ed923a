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

use super::DAY_US;
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
    let (start_us, end_us) = (
        window.start.timestamp_micros(),
        window.end.timestamp_micros(),
    );
    let terms = Terms {
        now: horizon.timestamp_micros(),
        reopen_us: i64::from(query.reopen_window_days).saturating_mul(86_400_000_000),
        pir_us: i64::from(query.pir_deadline_hours).saturating_mul(3_600_000_000),
    };
    // Whole days of the window from the daily buckets, its partial first and last days from
    // the rows.
    let (partial, days) = split(start_us, end_us);
    for span in &partial {
        incident_rows(&mut r, sql, &terms, *span, Parts::ALL)?;
    }
    if let Some(days) = days {
        incident_days(&mut r, sql, &terms, days)?;
    }
    let (start, end) = (micros(window.start), micros(window.end));

    backlog(&mut r, sql, backlog_at, horizon, &extras)?;
    changes(&mut r, sql, &start, &end)?;
    for (from, to) in partial {
        sla_rows(
            &mut r,
            sql,
            &SqlValue::Integer(from),
            &SqlValue::Integer(to),
        )?;
    }
    if let Some(days) = days {
        sla_days(&mut r, sql, days)?;
    }
    sla_live(&mut r, extras.live_sla);

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

/// A span `[from, to)`, of microseconds or of days.
type Span = (i64, i64);

/// A window `[start, end)` (microseconds) as its whole days `[first, last)` (days since 1970),
/// if it holds any, and the spans of instants around them (the whole window if none).
fn split(start: i64, end: i64) -> (Vec<Span>, Option<Span>) {
    let first = start.div_euclid(DAY_US) + i64::from(start.rem_euclid(DAY_US) != 0);
    let last = end.div_euclid(DAY_US);
    if first >= last {
        return (
            (start < end).then_some((start, end)).into_iter().collect(),
            None,
        );
    }
    let (from, to) = (first * DAY_US, last * DAY_US);
    let spans = [(start, from), (to, end)]
        .into_iter()
        .filter(|(a, b)| a < b)
        .collect();
    (spans, Some((first, last)))
}

/// The query's instant and the lengths of its reopen and review windows, in microseconds.
struct Terms {
    now: i64,
    reopen_us: i64,
    pir_us: i64,
}

/// Which figures a scan of the rows adds to the report.
#[derive(Clone, Copy)]
struct Parts {
    /// Time to acknowledge and to detect.
    ack_detect: bool,
    /// The MTTR population: resolved, MTTR, reassignments, ping-pong.
    population: bool,
    /// First-contact resolution.
    fcr: bool,
    /// Post-incident reviews.
    pir: bool,
    /// The reopen rate (`Some(true)`: only the reopens of resolutions already counted as
    /// mature).
    reopen: Option<bool>,
    /// Only the rows of major incidents.
    majors_only: bool,
}

impl Parts {
    const ALL: Parts = Parts {
        ack_detect: true,
        population: true,
        fcr: true,
        pir: true,
        reopen: Some(false),
        majors_only: false,
    };
    const NONE: Parts = Parts {
        ack_detect: false,
        population: false,
        fcr: false,
        pir: false,
        reopen: None,
        majors_only: false,
    };
}

/// The incident figures of the instants `[from, to)` (microseconds), from the rows.
fn incident_rows(
    r: &mut Report<'_>,
    sql: &dyn SqlTables,
    terms: &Terms,
    (from, to): (i64, i64),
    parts: Parts,
) -> Result<()> {
    let by = r.query.group_by;
    let query = r.query;
    let (start, end, now) = (
        SqlValue::Integer(from),
        SqlValue::Integer(to),
        SqlValue::Integer(terms.now),
    );
    if parts.ack_detect {
        // Time to acknowledge: first acknowledgements in the window.
        r.each(
            sql,
            &format!(
                "SELECT {}, count(*), sum(max(0, acknowledged_us - opened_us) / 1000)
                 FROM kpi_incidents WHERE acknowledged_us >= ?1 AND acknowledged_us < ?2
                 GROUP BY 1",
                key_column(by, ACK)
            ),
            &[start.clone(), end.clone()],
            |g, row| {
                g.mtta.count += count(row, 0);
                g.mtta.total = g.mtta.total.saturating_add(int(row, 1));
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
    }

    // The MTTR population: standing resolutions in the window.
    if parts.population || parts.fcr || parts.pir {
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
                               AND (CAST(?8 AS BIGINT) IS NULL OR (max(0, resolved_us - opened_us) - {held})
                                    / 1000 <= CAST(?8 AS BIGINT) * 60000) AS fcr,
                           major,
                           resolved_us + ?9 <= ?4 AS pir_mature,
                           first_review_us IS NOT NULL AND first_review_us <= resolved_us + ?9
                               AS on_time
                    FROM kpi_incidents WHERE resolved_us >= ?1 AND resolved_us < ?2{majors})
                    AS resolved
                 GROUP BY 1",
                key = key_column(by, RESOLVED),
                majors = if parts.majors_only {
                    " AND major = 1"
                } else {
                    ""
                },
            ),
            &[
                start.clone(),
                end.clone(),
                SqlValue::Integer(terms.reopen_us),
                now.clone(),
                SqlValue::from(query.ping_pong_threshold),
                SqlValue::from(query.fcr.max_reassignments),
                SqlValue::from(query.fcr.direct_only),
                query
                    .fcr
                    .within_minutes
                    .map_or(SqlValue::Null, SqlValue::from),
                SqlValue::Integer(terms.pir_us),
            ],
            |g, row| {
                if parts.population {
                    g.resolved += count(row, 0);
                    g.mttr.count += count(row, 0);
                    g.mttr.total = g.mttr.total.saturating_add(int(row, 1));
                    g.reassignments += count(row, 2);
                    g.ping_pong += count(row, 3);
                }
                if parts.fcr {
                    g.fcr.mature += count(row, 4);
                    g.fcr.yes += count(row, 5);
                    g.fcr.pending += count(row, 6);
                }
                if parts.pir {
                    g.pir.mature += count(row, 7);
                    g.pir.yes += count(row, 8);
                    g.pir.pending += count(row, 9);
                }
                Ok(())
            },
        )?;
    }

    // Reopen rate: every resolution in the window.
    if let Some(reopened_only) = parts.reopen {
        r.each(
            sql,
            &format!(
                "SELECT {}, sum(resolved_us + ?3 <= ?4),
                        sum(resolved_us + ?3 <= ?4 AND reopened_us IS NOT NULL
                            AND reopened_us <= resolved_us + ?3),
                        sum(resolved_us + ?3 > ?4)
                 FROM kpi_resolutions WHERE resolved_us >= ?1 AND resolved_us < ?2{} GROUP BY 1",
                key_column(by, RESOLUTION),
                if reopened_only {
                    " AND reopened_us IS NOT NULL"
                } else {
                    ""
                },
            ),
            &[start, end, SqlValue::Integer(terms.reopen_us), now],
            |g, row| {
                if !reopened_only {
                    g.reopen.mature += count(row, 0);
                    g.reopen.pending += count(row, 2);
                }
                g.reopen.yes += count(row, 1);
                Ok(())
            },
        )?;
    }
    Ok(())
}

/// The incident figures of the whole days `[first, last)` (days since 1970): the sums that
/// take no parameter from the daily buckets; from the rows, what the query's definitions
/// decide row by row (reviews on time, reopens within the window, and the whole MTTR
/// population when a definition goes beyond the buckets' classes), and what is not mature
/// yet on the days that end less than a reopen window before now.
fn incident_days(
    r: &mut Report<'_>,
    sql: &dyn SqlTables,
    terms: &Terms,
    (first, last): (i64, i64),
) -> Result<()> {
    let query = r.query;
    let by = query.group_by;
    // Maturity (a resolution is mature once its reopen window has passed): every resolution
    // of the days before `fresh` is mature, none of those from `unripe` on, and the day in
    // between (at most one) is counted from its rows.
    let horizon = terms.now.saturating_sub(terms.reopen_us);
    let fresh = horizon
        .saturating_add(1)
        .div_euclid(DAY_US)
        .clamp(first, last);
    let unripe = horizon
        .div_euclid(DAY_US)
        .saturating_add(1)
        .clamp(fresh, last);
    // The resolved buckets class reassignments up to 8 ("8 or more") and know no time to
    // resolve: other definitions count the rows.
    let classes = query.fcr.within_minutes.is_none()
        && query.fcr.max_reassignments < REASSIGNED_CLASSES
        && query.ping_pong_threshold <= REASSIGNED_CLASSES;
    let dimension = match by {
        GroupBy::None | GroupBy::Priority => "priority",
        GroupBy::Group => "group",
        GroupBy::Service => "service",
    };
    let rows = sql.query_all(
        "SELECT figure, value, valued, source, reassigned, reopened,
                CASE WHEN day < ?4 THEN 0 WHEN day < ?5 THEN 1 ELSE 2 END, sum(n),
                sum(total_ms), sum(net_ms), sum(reassignments)
         FROM kpi_daily WHERE dimension = ?1 AND day >= ?2 AND day < ?3
         GROUP BY figure, value, valued, source, reassigned, reopened,
                  CASE WHEN day < ?4 THEN 0 WHEN day < ?5 THEN 1 ELSE 2 END",
        &[
            SqlValue::Text(dimension.to_owned()),
            SqlValue::Integer(first),
            SqlValue::Integer(last),
            SqlValue::Integer(fresh),
            SqlValue::Integer(unripe),
        ],
    )?;
    for row in rows {
        let text = |i: usize| row.get(i).and_then(SqlValue::as_str).unwrap_or("");
        let value = (int(&row, 2) != 0).then(|| SqlValue::Text(text(1).to_owned()));
        let key = match by {
            GroupBy::None => GroupKey::All,
            _ => key_of(by, value.as_ref().unwrap_or(&SqlValue::Null))?,
        };
        let (reassigned, reopened, maturity) = (int(&row, 4), int(&row, 5), int(&row, 6));
        let (n, total, net, reassignments) =
            (count(&row, 7), int(&row, 8), int(&row, 9), count(&row, 10));
        match text(0) {
            "acknowledged" => {
                let g = r.group(key);
                g.mtta.count += n;
                g.mtta.total = g.mtta.total.saturating_add(total);
            }
            "detected" => {
                let g = r.group(key);
                g.mttd.count += n;
                g.mttd.total = g.mttd.total.saturating_add(total);
            }
            "resolved" if classes => {
                let g = r.group(key);
                g.resolved += n;
                g.mttr.count += n;
                let ttr = if query.exclude_on_hold { net } else { total };
                g.mttr.total = g.mttr.total.saturating_add(ttr);
                g.reassignments += reassignments;
                if reassigned >= i64::from(query.ping_pong_threshold) {
                    g.ping_pong += n;
                }
                match maturity {
                    MATURE => {
                        g.fcr.mature += n;
                        if reopened == 0
                            && reassigned <= i64::from(query.fcr.max_reassignments)
                            && (!query.fcr.direct_only || text(3) == "direct")
                        {
                            g.fcr.yes += n;
                        }
                    }
                    UNRIPE => g.fcr.pending += n,
                    _ => {}
                }
            }
            "resolution" => {
                let g = r.group(key);
                match maturity {
                    MATURE => g.reopen.mature += n,
                    UNRIPE => g.reopen.pending += n,
                    _ => {}
                }
            }
            _ => {}
        }
    }
    let (from, to) = (first * DAY_US, last * DAY_US);
    let (fresh_from, unripe_from) = (fresh * DAY_US, unripe * DAY_US);
    if !classes {
        let population = Parts {
            population: true,
            fcr: true,
            ..Parts::NONE
        };
        incident_rows(r, sql, terms, (from, to), population)?;
    } else if fresh_from < unripe_from {
        let fcr = Parts {
            fcr: true,
            ..Parts::NONE
        };
        incident_rows(r, sql, terms, (fresh_from, unripe_from), fcr)?;
    }
    let reviews = Parts {
        pir: true,
        majors_only: true,
        ..Parts::NONE
    };
    incident_rows(r, sql, terms, (from, to), reviews)?;
    if from < fresh_from {
        let reopens = Parts {
            reopen: Some(true),
            ..Parts::NONE
        };
        incident_rows(r, sql, terms, (from, fresh_from), reopens)?;
    }
    if fresh_from < unripe_from {
        let ripening = Parts {
            reopen: Some(false),
            ..Parts::NONE
        };
        incident_rows(r, sql, terms, (fresh_from, unripe_from), ripening)?;
    }
    Ok(())
}

/// The maturity of a day's resolutions in the buckets: all mature, some, none.
const MATURE: i64 = 0;
const UNRIPE: i64 = 2;

/// The classes of reassignments in the resolved buckets: 0 to 7, and 8 for "8 or more".
const REASSIGNED_CLASSES: u32 = 8;

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
        // By the end of the spans: what a report reads is mostly recent, and the spans that
        // end after a recent instant are few (by their start, every span of the history
        // before it would be read).
        let rows = sql.query_all(
            "SELECT incident FROM kpi_open_spans WHERE to_us IS NULL AND from_us <= ?1
             UNION
             SELECT incident FROM kpi_open_spans WHERE to_us > ?1 AND from_us <= ?1",
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

/// SLA clocks decided in `[start, end)` (microseconds), from the rows, but those of incidents
/// whose clocks still run.
fn sla_rows(
    r: &mut Report<'_>,
    sql: &dyn SqlTables,
    start: &SqlValue,
    end: &SqlValue,
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
    Ok(())
}

/// SLA clocks decided on the whole days `[first, last)`, from the daily buckets.
fn sla_days(r: &mut Report<'_>, sql: &dyn SqlTables, (first, last): (i64, i64)) -> Result<()> {
    let by = r.query.group_by;
    let dimension = match by {
        GroupBy::None | GroupBy::Priority => "priority",
        GroupBy::Group => "group",
        GroupBy::Service => "service",
    };
    let rows = sql.query_all(
        "SELECT value, valued, metric, priority, sum(met), sum(breached_stopped),
                sum(breached_running), sum(overrun_ms)
         FROM kpi_daily_sla WHERE dimension = ?1 AND day >= ?2 AND day < ?3
         GROUP BY value, valued, metric, priority",
        &[
            SqlValue::Text(dimension.to_owned()),
            SqlValue::Integer(first),
            SqlValue::Integer(last),
        ],
    )?;
    for row in rows {
        let value = if int(&row, 1) != 0 {
            row.first().cloned().unwrap_or(SqlValue::Null)
        } else {
            SqlValue::Null
        };
        let key = match by {
            GroupBy::None => GroupKey::All,
            _ => key_of(by, &value)?,
        };
        let metric = metric_of(row.get(2).and_then(SqlValue::as_str).unwrap_or(""))?;
        let priority = priority_of(row.get(3).and_then(SqlValue::as_str).unwrap_or(""))?;
        let (met, stopped, running) = (count(&row, 4), count(&row, 5), count(&row, 6));
        let s = r.group(key).sla_row(metric, priority);
        s.breaches += stopped + running;
        s.decided += stopped + running + met;
        s.met += met;
        s.overrun.count += stopped;
        s.overrun.total = s.overrun.total.saturating_add(int(&row, 7));
        s.breached_running += running;
    }
    Ok(())
}

/// The SLA clocks still running, evaluated at the query's instant by the core's own fold.
fn sla_live(r: &mut Report<'_>, live: Vec<opsledger_core::kpi::SlaOutcome>) {
    if live.is_empty() {
        return;
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
}
