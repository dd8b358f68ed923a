//! `opsledger kpi`: the KPI report as a table (or JSON).

use crate::cli::{GroupByArg, KpiArgs};
use crate::data;
use crate::error::{CliError, CliResult, data_error};
use crate::output::{emit, emit_line};
use chrono::{DateTime, Utc};
use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Cell, CellAlignment, ContentArrangement, Table};
use opsledger::core::TimeWindow;
use opsledger::core::kpi::{
    AgeFigure, DurationFigure, GroupBy, GroupKey, GroupReport, KpiQuery, KpiReport, MatureRatio,
    Ratio,
};
use serde::Serialize;

/// Parses an RFC 3339 instant (`2026-11-01T00:00:00Z`, offsets allowed).
pub fn parse_instant(flag: &str, text: &str) -> CliResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            CliError::usage(format!(
                "{flag} {text:?} is not an RFC 3339 instant such as 2026-11-01T00:00:00Z: {e}"
            ))
        })
}

fn now() -> DateTime<Utc> {
    DateTime::<Utc>::from(std::time::SystemTime::now())
}

/// Runs `opsledger kpi`.
pub fn run(args: &KpiArgs) -> CliResult {
    let as_of = args
        .as_of
        .as_deref()
        .map(|t| parse_instant("--as-of", t))
        .transpose()?;
    let start = match &args.from {
        Some(t) => parse_instant("--from", t)?,
        None => DateTime::<Utc>::UNIX_EPOCH,
    };
    let end = match &args.to {
        Some(t) => parse_instant("--to", t)?,
        // The window runs to the present (or the as-of instant), inclusive of its last event.
        None => as_of.unwrap_or_else(now) + chrono::Duration::milliseconds(1),
    };
    let window = TimeWindow::new(start, end);
    if !window.is_valid() {
        return Err(CliError::usage(format!(
            "the window is empty: --from {start} is not before --to {end}"
        )));
    }
    let mut query = KpiQuery::new(window);
    if let Some(by) = args.group_by {
        query = query.group_by(match by {
            GroupByArg::Priority => GroupBy::Priority,
            GroupByArg::Group => GroupBy::Group,
            GroupByArg::Service => GroupBy::Service,
        });
    }
    if let Some(t) = as_of {
        query = query.as_of(t);
    }
    let (engine, _copy) = data::open_engine_for_reading_at(&args.location())?;
    let report = engine
        .view(as_of)
        .and_then(|view| view.kpis(&query))
        .map_err(|e| data_error("cannot compute the KPIs", &e));
    let closed = engine
        .close()
        .map_err(|e| data_error("cannot close the engine", &e));
    let report = report?;
    closed?;
    if args.json {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| CliError::data(format!("cannot encode the report: {e}")))?;
        emit_line(&text)
    } else {
        emit(&render(&report))
    }
}

/// The snake_case name serde gives a unit-like value (`p1`, `response`, ...).
fn name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => "?".into(),
    }
}

fn key_label(key: &GroupKey) -> String {
    fn or_none(v: Option<String>) -> String {
        v.unwrap_or_else(|| "(none)".into())
    }
    match key {
        GroupKey::All => "all".into(),
        GroupKey::Priority(p) => or_none(p.map(|p| p.to_string())),
        GroupKey::Group(g) => or_none(g.as_ref().map(name)),
        GroupKey::Service(s) => or_none(s.as_ref().map(name)),
    }
}

/// A duration in milliseconds, readably: `42 s`, `3 min 20 s`, `2 h 05 min`, `3 d 04 h`.
pub fn human_ms(ms: f64) -> String {
    if !ms.is_finite() {
        return "-".into();
    }
    let s = (ms / 1000.0).round() as i64;
    let sign = if s < 0 { "-" } else { "" };
    let s = s.abs();
    let (d, h, m, sec) = (s / 86_400, s / 3_600 % 24, s / 60 % 60, s % 60);
    let text = if d > 0 {
        format!("{d} d {h:02} h")
    } else if h > 0 {
        format!("{h} h {m:02} min")
    } else if m > 0 {
        format!("{m} min {sec:02} s")
    } else if ms.abs() < 1000.0 && ms != 0.0 {
        format!("{} ms", ms.abs().round())
    } else {
        format!("{sec} s")
    };
    format!("{sign}{text}")
}

fn duration(f: &DurationFigure) -> String {
    match f.mean_ms {
        Some(mean) => format!("{} (n={})", human_ms(mean), f.count),
        None => "- (n=0)".into(),
    }
}

fn age(f: &AgeFigure) -> String {
    match (f.median_ms, f.p90_ms) {
        (Some(median), Some(p90)) => format!(
            "median {}, p90 {}",
            human_ms(median as f64),
            human_ms(p90 as f64)
        ),
        _ => "-".into(),
    }
}

fn ratio(r: &Ratio) -> String {
    match r.percent {
        Some(p) => format!("{p:.1} % ({}/{})", r.numerator, r.denominator),
        None => format!("- ({}/{})", r.numerator, r.denominator),
    }
}

fn mature(r: &MatureRatio) -> String {
    if r.pending > 0 {
        format!("{} +{} pending", ratio(&r.rate), r.pending)
    } else {
        ratio(&r.rate)
    }
}

/// The report as a table: one row per figure, one column per group.
pub fn render(report: &KpiReport) -> String {
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    let mut header = vec![Cell::new("KPI")];
    header.extend(report.groups.iter().map(|g| Cell::new(key_label(&g.key))));
    table.set_header(header);
    type Row = (&'static str, fn(&GroupReport) -> String);
    let rows: [Row; 14] = [
        ("MTTA (acknowledge)", |g| duration(&g.mtta)),
        ("MTTR (resolve)", |g| duration(&g.mttr)),
        ("MTTD (detect)", |g| duration(&g.mttd)),
        ("Reopen rate", |g| mature(&g.reopen_rate)),
        ("First-contact resolution", |g| {
            mature(&g.first_contact_resolution)
        }),
        ("Reassignments per incident", |g| {
            g.reassignment.mean.map_or_else(
                || "-".into(),
                |m| format!("{m:.2} (n={})", g.reassignment.incidents),
            )
        }),
        ("Ping-pong incidents", |g| ratio(&g.reassignment.ping_pong)),
        ("Backlog (open incidents)", |g| g.backlog.size.to_string()),
        ("Backlog age", |g| age(&g.backlog.age)),
        ("Backlog <1d / 1-7d / 7-30d / >30d", |g| {
            let b = &g.backlog.buckets;
            format!(
                "{} / {} / {} / {}",
                b.under_1d, b.from_1d_to_7d, b.from_7d_to_30d, b.over_30d
            )
        }),
        ("Change success rate", |g| ratio(&g.change_success.rate)),
        ("Emergency changes", |g| ratio(&g.emergency_changes)),
        ("Unauthorised changes", |g| ratio(&g.unauthorized_changes)),
        ("PIR on time", |g| mature(&g.pir_on_time)),
    ];
    for (label, figure) in rows {
        let mut row = vec![Cell::new(label)];
        row.extend(
            report
                .groups
                .iter()
                .map(|g| Cell::new(figure(g)).set_alignment(CellAlignment::Right)),
        );
        table.add_row(row);
    }
    // SLA rows: one per (metric, priority) present in any group.
    let mut sla_keys: Vec<(String, String)> = report
        .groups
        .iter()
        .flat_map(|g| {
            g.sla
                .iter()
                .map(|s| (name(&s.metric), s.priority.to_string()))
        })
        .collect();
    sla_keys.sort();
    sla_keys.dedup();
    for (metric, priority) in &sla_keys {
        let mut row = vec![Cell::new(format!(
            "SLA {metric} {priority}: compliance, breaches"
        ))];
        row.extend(report.groups.iter().map(|g| {
            let text = g
                .sla
                .iter()
                .find(|s| &name(&s.metric) == metric && &s.priority.to_string() == priority)
                .map_or_else(
                    || "-".into(),
                    |s| format!("{}, {} breached", ratio(&s.compliance), s.breaches),
                );
            Cell::new(text).set_alignment(CellAlignment::Right)
        }));
        table.add_row(row);
    }
    let mut out = format!(
        "KPIs for [{}, {}), horizon {}, backlog at {}\n",
        report.window.start.to_rfc3339(),
        report.window.end.to_rfc3339(),
        report.horizon.to_rfc3339(),
        report.backlog_at.to_rfc3339()
    );
    if report.groups.is_empty() {
        out.push_str("(no records in the window)\n");
    } else {
        out.push_str(&table.to_string());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(human_ms(0.0), "0 s");
        assert_eq!(human_ms(250.0), "250 ms");
        assert_eq!(human_ms(42_000.0), "42 s");
        assert_eq!(human_ms(200_000.0), "3 min 20 s");
        assert_eq!(human_ms(7_500_000.0), "2 h 05 min");
        assert_eq!(human_ms(273_600_000.0), "3 d 04 h");
        assert_eq!(human_ms(f64::NAN), "-");
    }

    #[test]
    fn instants_parse_or_explain() {
        assert!(parse_instant("--from", "2026-11-01T00:00:00Z").is_ok());
        assert!(parse_instant("--from", "2026-11-01T01:00:00+01:00").is_ok());
        let e = parse_instant("--from", "yesterday").unwrap_err();
        assert!(e.message.contains("RFC 3339"), "{}", e.message);
    }

    #[test]
    fn an_empty_report_renders() {
        let window = TimeWindow::new(DateTime::<Utc>::UNIX_EPOCH, now());
        let report = opsledger::core::kpi::compute(
            &KpiQuery::new(window),
            &opsledger::core::KpiInput::new(),
        );
        let text = render(&report);
        assert!(text.contains("KPIs for"), "{text}");
    }
}
