//! The read models as SQL tables: readable by a reporting tool while the engine serves, the
//! dashboards' SQL in docs/READ_MODELS.md (SQLite's, and PostgreSQL's on that backend) equal to
//! `query.kpis`, rebuilds equal to incremental updates (whole, or one read model alone), and the
//! KEDB's full-text search with every kind of bad input.

use crate::support::*;
use chrono::{DateTime, Duration, Utc};
use opsledger::core::calendar::BusinessCalendar;
use opsledger::core::incident::{HoldReason, IncidentCommand};
use opsledger::core::kpi::{GroupBy, GroupKey, KpiQuery, KpiReport};
use opsledger::core::problem::ProblemCommand;
use opsledger::core::sla::{CalendarRef, SlaDefinition, SlaKey, SlaMetric, SlaPolicy, SlaScope};
use opsledger::core::window::TimeWindow;
use opsledger::core::{Impact, Policy, Priority, ProblemId, RecordKind, Urgency};
use opsledger::{Engine, EngineError, KedbQuery, ManualClock};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

const READ_MODELS_DOC: &str = include_str!("../../docs/READ_MODELS.md");

/// The dashboard query named `name` in docs/READ_MODELS.md: the block tagged `postgres` for
/// PostgreSQL, the untagged one for SQLite.
fn dashboard(name: &str, postgres: bool) -> &'static str {
    let marker = if postgres {
        format!("```sql dashboard={name} postgres\n")
    } else {
        format!("```sql dashboard={name}\n")
    };
    let start = READ_MODELS_DOC
        .find(&marker)
        .unwrap_or_else(|| panic!("docs/READ_MODELS.md has no dashboard {marker:?}"))
        + marker.len();
    let len = READ_MODELS_DOC[start..].find("```").expect("closed block");
    &READ_MODELS_DOC[start..start + len]
}

fn sla_policy() -> Policy {
    let cal = || CalendarRef::exact("24x7", 1);
    Policy {
        sla: SlaPolicy::new(
            vec![
                SlaDefinition::new(
                    SlaKey::new("response", 1),
                    "Response",
                    SlaScope::all(RecordKind::Incident),
                    SlaMetric::Response,
                    Duration::minutes(30),
                    cal(),
                ),
                SlaDefinition::new(
                    SlaKey::new("resolution", 1),
                    "Resolution",
                    SlaScope::all(RecordKind::Incident),
                    SlaMetric::Resolution,
                    Duration::hours(4),
                    cal(),
                ),
            ],
            vec![BusinessCalendar::always()],
        ),
        ..Policy::default()
    }
}

/// What happens to one generated incident.
#[derive(Debug, Clone)]
struct Plan {
    urgent: bool,
    group: usize,
    ack: bool,
    /// Impact and urgency flipped after the acknowledgement: the priority now differs from
    /// the one MTTA is grouped by.
    reprioritize: bool,
    hold: bool,
    escalate: bool,
    resolve: bool,
    reopen: bool,
    close: bool,
    gap_minutes: i64,
}

fn plan() -> impl Strategy<Value = Plan> {
    (
        any::<bool>(),
        0usize..3,
        any::<[bool; 8]>(),
        prop_oneof![1i64..300, 600i64..3000],
    )
        .prop_map(|(urgent, group, f, gap_minutes)| Plan {
            urgent,
            group,
            ack: f[0],
            hold: f[1],
            escalate: f[2],
            resolve: f[3] || f[4],
            reopen: f[5],
            close: f[6],
            reprioritize: f[7],
            gap_minutes,
        })
}

const GROUPS: [&str; 3] = ["service-desk", "network", "database"];

/// Plays the plans in rounds (step k of every incident, then step k + 1), so that their
/// histories overlap; then a few changes; then the SLA tick at the end.
fn play(engine: &Engine, clock: &Arc<ManualClock>, plans: &[Plan], changes: &[bool]) {
    for step in 0..10 {
        for (i, p) in plans.iter().enumerate() {
            let id = inc(i as u32 + 1);
            let command: Option<IncidentCommand> = match step {
                0 => Some(open_incident_full(
                    id,
                    &format!("Incident {i}"),
                    if p.urgent { Impact::High } else { Impact::Low },
                    if p.urgent {
                        Urgency::High
                    } else {
                        Urgency::Low
                    },
                    GROUPS[p.group],
                    "webshop",
                    "web-01",
                )),
                1 if p.ack => Some(IncidentCommand::Acknowledge { id }),
                2 if p.reprioritize => Some(IncidentCommand::Reprioritize {
                    id,
                    impact: if p.urgent { Impact::Low } else { Impact::High },
                    urgency: if p.urgent {
                        Urgency::Low
                    } else {
                        Urgency::High
                    },
                    reason: "impact reassessed".into(),
                }),
                3 if p.hold => Some(IncidentCommand::PutOnHold {
                    id,
                    reason: HoldReason::AwaitingCaller,
                }),
                4 if p.hold => Some(IncidentCommand::Resume { id }),
                5 if p.escalate => Some(IncidentCommand::EscalateFunctional {
                    id,
                    to_group: "level-2".into(),
                    reason: "needs a specialist".into(),
                }),
                6 if p.resolve => Some(resolve(id, "fixed")),
                7 if p.resolve && p.reopen => Some(IncidentCommand::Reopen {
                    id,
                    reason: "still broken".into(),
                }),
                8 if p.resolve && p.reopen => Some(resolve(id, "fixed again")),
                9 if p.resolve && p.close => Some(close(id)),
                _ => None,
            };
            if let Some(c) = command {
                clock.advance(Duration::minutes(p.gap_minutes));
                let _ = try_exec(engine, &agent(), c);
            }
        }
    }
    for (i, successful) in changes.iter().enumerate() {
        let id = chg(i as u32 + 1);
        let now = clock.now_at();
        let start = (now - t0()).num_minutes() + 60;
        change_to_scheduled(engine, id, "db-01", window(start, start + 120));
        clock.advance(Duration::minutes(90));
        change_implement_and_close(engine, id, *successful);
    }
    clock.advance(Duration::hours(5));
    engine.tick(clock.now_at()).expect("tick");
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// `sql` with its named parameters (`:start_us`, the form of SQLite and of psql's variables)
/// numbered `?1`, `?2`, ... in order of first use, and their values from `values` in that
/// order. Quoted text and PostgreSQL's casts (`::`) are left alone.
fn numbered_parameters(sql: &str, values: &[(&str, i64)]) -> (String, Vec<SqlCell>) {
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let mut names: Vec<&str> = Vec::new();
    let (mut copied, mut i, mut quoted) = (0, 0, false);
    while i < bytes.len() {
        quoted ^= bytes[i] == b'\'';
        let named = !quoted
            && bytes[i] == b':'
            && (i == 0 || bytes[i - 1] != b':')
            && bytes
                .get(i + 1)
                .is_some_and(|c| c.is_ascii_lowercase() || *c == b'_');
        if !named {
            i += 1;
            continue;
        }
        let end = bytes[i + 1..]
            .iter()
            .position(|c| !(c.is_ascii_alphanumeric() || *c == b'_'))
            .map_or(bytes.len(), |n| i + 1 + n);
        let name = &sql[i..end];
        let number = match names.iter().position(|n| *n == name) {
            Some(k) => k + 1,
            None => {
                names.push(name);
                names.len()
            }
        };
        out.push_str(&sql[copied..i]);
        out.push_str(&format!("?{number}"));
        copied = end;
        i = end;
    }
    out.push_str(&sql[copied..]);
    let args = names
        .iter()
        .map(|name| {
            let (_, value) = values
                .iter()
                .find(|(n, _)| n == name)
                .unwrap_or_else(|| panic!("a dashboard names the unknown parameter {name}"));
            SqlCell::Int(*value)
        })
        .collect();
    (out, args)
}

/// Runs a dashboard, in the dialect of the backend under test, on the read models of `dir`
/// through a reporting tool's own connection (the SQLite file opened read-only, or the
/// PostgreSQL schema) while the engine serves, with the window and now bound.
fn run(dir: &Path, name: &str, window: &TimeWindow, now: DateTime<Utc>) -> Vec<Vec<SqlCell>> {
    let sql = dashboard(name, read_models_on_postgres(dir));
    let (sql, args) = numbered_parameters(
        sql,
        &[
            (":start_us", micros(window.start)),
            (":end_us", micros(window.end)),
            (":now_us", micros(now)),
        ],
    );
    sql_rows(dir, &sql, &args)
}

fn int(v: &SqlCell) -> i64 {
    match v {
        SqlCell::Int(i) => *i,
        SqlCell::Null => 0,
        other => panic!("not an integer: {other:?}"),
    }
}

fn text(v: &SqlCell) -> Option<String> {
    match v {
        SqlCell::Text(s) => Some(s.clone()),
        SqlCell::Null => None,
        other => panic!("not text: {other:?}"),
    }
}

fn priority_name(p: Priority) -> String {
    serde_json::to_value(p)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .expect("a name")
}

fn group(report: &KpiReport, key: &GroupKey) -> Option<opsledger::core::kpi::GroupReport> {
    report.groups.iter().find(|g| &g.key == key).cloned()
}

/// Checks every dashboard against `query.kpis` for `window`, as of now.
fn check_dashboards(engine: &Engine, dir: &Path, window: TimeWindow, now: DateTime<Utc>) {
    let backlog_now = window.end >= now;
    let view = engine.view(None).expect("view");
    let by_priority = view
        .kpis(&KpiQuery::new(window).group_by(GroupBy::Priority))
        .expect("kpis");
    let by_group = view
        .kpis(&KpiQuery::new(window).group_by(GroupBy::Group))
        .expect("kpis");
    let all = view.kpis(&KpiQuery::new(window)).expect("kpis");
    let all = group(&all, &GroupKey::All).expect("the whole");

    // MTTA and MTTR: per priority, summed over the weeks.
    for (name, pick) in [("mtta_by_week", 0), ("mttr_by_week", 1)] {
        let mut sql: BTreeMap<String, (u64, i64)> = BTreeMap::new();
        for row in run(dir, name, &window, now) {
            let e = sql.entry(text(&row[1]).expect("priority")).or_default();
            e.0 += int(&row[2]) as u64;
            e.1 += int(&row[3]);
        }
        let mut api: BTreeMap<String, (u64, i64)> = BTreeMap::new();
        for g in &by_priority.groups {
            let GroupKey::Priority(Some(p)) = g.key else {
                continue;
            };
            let figure = if pick == 0 { g.mtta } else { g.mttr };
            if figure.count > 0 {
                api.insert(priority_name(p), (figure.count, figure.total_ms));
            }
        }
        assert_eq!(sql, api, "{name}: the dashboard and query.kpis differ");
    }

    // SLA compliance by the group that held the record.
    let mut sql: BTreeMap<(Option<String>, String), (u64, u64)> = BTreeMap::new();
    for row in run(dir, "sla_compliance_by_group", &window, now) {
        sql.insert(
            (text(&row[0]), text(&row[1]).expect("metric")),
            (int(&row[2]) as u64, int(&row[3]) as u64),
        );
    }
    let mut api: BTreeMap<(Option<String>, String), (u64, u64)> = BTreeMap::new();
    for g in &by_group.groups {
        let GroupKey::Group(name) = &g.key else {
            continue;
        };
        for s in &g.sla {
            let e = api
                .entry((
                    name.as_ref().map(|n| n.to_string()),
                    serde_json::to_value(s.metric)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .expect("metric"),
                ))
                .or_default();
            e.0 += s.compliance.numerator;
            e.1 += s.compliance.denominator;
        }
    }
    api.retain(|_, (_, decided)| *decided > 0);
    assert_eq!(
        sql, api,
        "SLA compliance: the dashboard and query.kpis differ"
    );

    // Backlog, measured now (the API measures it at the window's end when that is earlier).
    if backlog_now {
        check_backlog(dir, &all, window, now);
    }
    check_change_success(dir, &all, window, now);
}

fn check_backlog(
    dir: &Path,
    all: &opsledger::core::kpi::GroupReport,
    window: TimeWindow,
    now: DateTime<Utc>,
) {
    let rows = run(dir, "backlog_age_buckets", &window, now);
    let buckets: BTreeMap<String, (u64, i64)> = rows
        .iter()
        .map(|r| {
            (
                text(&r[0]).expect("bucket"),
                (int(&r[1]) as u64, int(&r[2])),
            )
        })
        .collect();
    let count = |b: &str| buckets.get(b).map_or(0, |v| v.0);
    let b = all.backlog;
    assert_eq!(
        (
            count("under 1 day"),
            count("1 to 7 days"),
            count("7 to 30 days"),
            count("over 30 days")
        ),
        (
            b.buckets.under_1d,
            b.buckets.from_1d_to_7d,
            b.buckets.from_7d_to_30d,
            b.buckets.over_30d
        ),
        "backlog buckets"
    );
    assert_eq!(
        buckets.values().map(|v| v.1).sum::<i64>(),
        b.age.total_ms,
        "backlog ages, measured now"
    );
    assert_eq!(buckets.values().map(|v| v.0).sum::<u64>(), b.size);
}

fn check_change_success(
    dir: &Path,
    all: &opsledger::core::kpi::GroupReport,
    window: TimeWindow,
    now: DateTime<Utc>,
) {
    let rows = run(dir, "change_success_by_month", &window, now);
    let closed: u64 = rows.iter().map(|r| int(&r[1]) as u64).sum();
    let successful: u64 = rows.iter().map(|r| int(&r[2]) as u64).sum();
    let caused: u64 = rows.iter().map(|r| int(&r[4]) as u64).sum();
    assert_eq!(
        (successful, closed, caused),
        (
            all.change_success.rate.numerator,
            all.change_success.rate.denominator,
            all.change_success.caused_incidents
        ),
        "change success"
    );
}

/// The daily buckets recomputed from the rows they sum: one bucket per dimension, day (since
/// 1970), figure, value and class, with its count and sums; equal to `kpi_daily`.
fn check_daily_buckets(dir: &Path) {
    type Key = (String, i64, String, String, i64, String, i64, i64);
    let day = |us: i64| us.div_euclid(86_400_000_000);
    let mut expected: BTreeMap<Key, [i64; 4]> = BTreeMap::new();
    let mut add = |figure: &str,
                   us: i64,
                   values: [Option<String>; 3],
                   class: (String, i64, i64),
                   sums: [i64; 4]| {
        for (dimension, value) in ["priority", "group", "service"].into_iter().zip(values) {
            let key = (
                dimension.to_owned(),
                day(us),
                figure.to_owned(),
                value.clone().unwrap_or_default(),
                i64::from(value.is_some()),
                class.0.clone(),
                class.1,
                class.2,
            );
            let bucket = expected.entry(key).or_default();
            for (b, s) in bucket.iter_mut().zip(sums) {
                *b += s;
            }
        }
    };
    let incidents = sql_rows(
        dir,
        "SELECT opened_us, acknowledged_us, ack_priority, ack_group, ack_service,
                resolved_us, resolved_priority, resolved_group, resolved_service,
                resolution_source, resolved_reassignments, held_to_resolve_us, reopens,
                detected_us, mttd_ms, mttd_priority, mttd_group, mttd_service
         FROM kpi_incidents",
        &[],
    );
    for r in incidents {
        let opened = int(&r[0]);
        if r[1] != SqlCell::Null {
            let ack = int(&r[1]);
            add(
                "acknowledged",
                ack,
                [text(&r[2]), text(&r[3]), text(&r[4])],
                (String::new(), 0, 0),
                [1, (ack - opened).max(0) / 1000, 0, 0],
            );
        }
        if r[5] != SqlCell::Null {
            let resolved = int(&r[5]);
            let reassigned = int(&r[10]);
            let ttr = (resolved - opened).max(0);
            add(
                "resolved",
                resolved,
                [text(&r[6]), text(&r[7]), text(&r[8])],
                (
                    text(&r[9]).unwrap_or_default(),
                    reassigned.min(8),
                    i64::from(int(&r[12]) > 0),
                ),
                [1, ttr / 1000, (ttr - int(&r[11])) / 1000, reassigned],
            );
        }
        if r[13] != SqlCell::Null {
            add(
                "detected",
                int(&r[13]),
                [text(&r[15]), text(&r[16]), text(&r[17])],
                (String::new(), 0, 0),
                [1, int(&r[14]), 0, 0],
            );
        }
    }
    let resolutions = sql_rows(
        dir,
        "SELECT resolved_us, priority, assignment_group, service FROM kpi_resolutions",
        &[],
    );
    for r in resolutions {
        add(
            "resolution",
            int(&r[0]),
            [text(&r[1]), text(&r[2]), text(&r[3])],
            (String::new(), 0, 0),
            [1, 0, 0, 0],
        );
    }
    let stored = sql_rows(
        dir,
        "SELECT dimension, day, figure, value, valued, source, reassigned, reopened,
                n, total_ms, net_ms, reassignments FROM kpi_daily",
        &[],
    );
    let name = |cell: &SqlCell| text(cell).expect("a name");
    let actual: BTreeMap<Key, [i64; 4]> = stored
        .iter()
        .map(|r| {
            (
                (
                    name(&r[0]),
                    int(&r[1]),
                    name(&r[2]),
                    name(&r[3]),
                    int(&r[4]),
                    name(&r[5]),
                    int(&r[6]),
                    int(&r[7]),
                ),
                [int(&r[8]), int(&r[9]), int(&r[10]), int(&r[11])],
            )
        })
        .collect();
    assert_eq!(
        actual, expected,
        "the daily buckets are the sums of the rows"
    );
}

/// Every row of every read-model table, in a fixed order (what two equal read models share).
fn dump_tables(dir: &Path) -> BTreeMap<String, Vec<Vec<SqlCell>>> {
    let mut out = BTreeMap::new();
    for table in [
        "records",
        "record_cis",
        "record_links",
        "timeline",
        "known_errors",
        "known_error_cis",
        "change_calendar",
        "open_alerts",
        "kpi_incidents",
        "kpi_resolutions",
        "kpi_open_spans",
        "kpi_daily",
        "kpi_daily_sla",
        "kpi_changes",
        "sla_clocks",
        "sla_due",
    ] {
        // `known_errors.id` is a row number: compare what it numbers.
        let columns = if table == "known_errors" {
            "problem, number, title, status, priority, service, symptom, root_cause, workaround, \
             revision, published_at, revised_at, entry"
        } else {
            "*"
        };
        let mut rows = sql_rows(dir, &format!("SELECT {columns} FROM {table}"), &[]);
        // Any order both dumps share: the rows' text.
        rows.sort_by_cached_key(|row| format!("{row:?}"));
        out.insert(table.to_owned(), rows);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    /// The dashboards' SQL over a generated history equals `query.kpis` for the same window;
    /// rebuilding every read model, or one alone after its version changed, gives the rows
    /// incremental updates wrote.
    #[test]
    fn dashboards_equal_query_kpis_and_rebuilds_equal_incremental_updates(
        plans in prop::collection::vec(plan(), 1..14),
        changes in prop::collection::vec(any::<bool>(), 0..4),
    ) {
        let dir = tempfile::tempdir().expect("temp dir");
        let clock = clock();
        let engine = open_on_disk(dir.path(), config(&clock, 1).with_policy(sla_policy()))
            .expect("open");
        play(&engine, &clock, &plans, &changes);
        let now = clock.now_at();
        let window = TimeWindow::new(t0() - Duration::days(1), now + Duration::days(1));
        check_dashboards(&engine, dir.path(), window, now);
        // A window ending before now: only what was decided in it.
        let early = TimeWindow::new(t0(), t0() + Duration::hours(6));
        check_dashboards(&engine, dir.path(), early, now);

        let incremental = dump_tables(dir.path());
        prop_assert_eq!(incremental["kpi_incidents"].len(), plans.len());
        prop_assert_eq!(incremental["kpi_changes"].len(), changes.len());
        // The daily buckets hold exactly the sums of the rows, per day and dimension.
        check_daily_buckets(dir.path());
        // Every incident has its response and resolution clocks.
        prop_assert!(incremental["sla_clocks"].len() >= 2 * plans.len());
        engine.rebuild_views().expect("rebuild");
        prop_assert_eq!(&dump_tables(dir.path()), &incremental, "a rebuild differs");
        engine.close().expect("close");

        // A new version of one read model: dropped at open and rebuilt alone (the versions
        // are rows of `read_models` on SQLite and in the PostgreSQL schema alike).
        sql_execute(
            dir.path(),
            "UPDATE read_models SET version = 0 WHERE name IN ('kpi', 'sla_due')",
            &[],
        );
        sql_execute(
            dir.path(),
            "DELETE FROM timeline WHERE position = (SELECT max(position) FROM timeline)",
            &[],
        );
        let reopened = open_on_disk(dir.path(), config(&clock, 1).with_policy(sla_policy()))
            .expect("reopen");
        let after = dump_tables(dir.path());
        prop_assert_eq!(&after["kpi_incidents"], &incremental["kpi_incidents"]);
        prop_assert_eq!(&after["kpi_daily"], &incremental["kpi_daily"]);
        prop_assert_eq!(&after["kpi_daily_sla"], &incremental["kpi_daily_sla"]);
        prop_assert_eq!(&after["kpi_changes"], &incremental["kpi_changes"]);
        prop_assert_eq!(&after["sla_clocks"], &incremental["sla_clocks"]);
        prop_assert_eq!(&after["sla_due"], &incremental["sla_due"]);
        // The timeline's version did not change: it was left alone (the row deleted above
        // stays deleted), which shows only the changed model was rebuilt.
        prop_assert_eq!(after["timeline"].len() + 1, incremental["timeline"].len());
        reopened.close().expect("close");
    }
}

/// What the projector remembers of the rows it wrote (numbers, KPI facts, SLA fingerprints,
/// record views) is forgotten with a unit that does not commit: the commands after it write
/// the rows a rebuild from the log gives.
#[test]
fn a_command_rolled_back_after_its_projection_leaves_no_trace_in_the_read_models() {
    if test_backend() == "sled" {
        // sled's units are not transactions: a command's read models are projected after its
        // append, never rolled back with it.
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = clock();
    let faults = opsledger::Faults::new();
    let config = opsledger::EngineConfig {
        faults: faults.clone(),
        ..config(&clock, 1).with_policy(sla_policy())
    };
    let engine = open_on_disk(dir.path(), config).expect("open");
    for i in 1..=2 {
        exec(
            &engine,
            &agent(),
            open_incident(inc(i), &format!("Checkout {i}")),
        );
        exec(&engine, &agent(), assign(inc(i), "web", "alice"));
    }
    let rolled_back = |command: IncidentCommand| {
        // Every attempt is projected, then fails before its unit commits.
        faults.fail_next(opsledger::FaultPoint::Commit, 100);
        let head = engine.head().expect("head");
        let err = try_exec(&engine, &agent(), command).expect_err("nothing is stored");
        assert!(err.to_string().contains("injected fault"), "{err}");
        assert_eq!(engine.head().expect("head"), head);
        faults.clear();
    };
    clock.advance(Duration::minutes(20));
    // Given a resolution and a new incident that were projected, then rolled back,
    rolled_back(resolve(inc(1), "Restarted the gateway"));
    rolled_back(open_incident(inc(3), "Rolled back"));
    // when other commands take their place later (another resolution time, the number the
    // rolled-back incident had),
    clock.advance(Duration::minutes(70));
    exec(&engine, &agent(), resolve(inc(1), "Restarted the gateway"));
    exec(&engine, &agent(), open_incident(inc(4), "Stored"));
    exec(
        &engine,
        &agent(),
        note(inc(4), &format!("Not {}", inc(3).0)),
    );
    exec(&engine, &agent(), assign(inc(4), "web", "bob"));
    exec(&engine, &agent(), note(inc(1), "Monitoring"));
    clock.advance(Duration::hours(3));
    exec(&engine, &agent(), note(inc(2), "Still waiting"));
    // then the read models are those of the log alone.
    let numbers = sql_rows(
        dir.path(),
        "SELECT id, number FROM records ORDER BY number",
        &[],
    );
    assert_eq!(numbers.len(), 3, "{numbers:?}");
    assert_eq!(
        (numbers[2][0].text(), numbers[2][1].text()),
        (inc(4).0.to_string().as_str(), "INC0000003"),
        "{numbers:?}"
    );
    let incremental = dump_tables(dir.path());
    engine.rebuild_views().expect("rebuild");
    assert_eq!(dump_tables(dir.path()), incremental, "a rebuild differs");
    engine.close().expect("close");
}

/// A command is decided on its record's cached state without reading the record's tail (on
/// SQLite): with more records than the cache holds, every decision still sees the latest
/// state (no command conflicts and is decided again), and the read models are the log's.
#[test]
fn commands_decided_on_cached_states_see_the_latest_state() {
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = clock();
    // The cache holds 8 records (`config`): 20 records in turn evict one another.
    let engine =
        open_on_disk(dir.path(), config(&clock, 1).with_policy(sla_policy())).expect("open");
    for round in 0..4 {
        for i in 1..=20 {
            let id = inc(i);
            let command = match round {
                0 => open_incident(id, &format!("Incident {i}")),
                1 => assign(id, "web", "alice"),
                2 => note(id, "Looking"),
                _ => resolve(id, "Fixed"),
            };
            exec(&engine, &agent(), command);
            clock.advance(Duration::minutes(1));
        }
    }
    assert_eq!(engine.stats().expect("stats").conflicts_retried, 0);
    let incremental = dump_tables(dir.path());
    assert_eq!(incremental["records"].len(), 20);
    engine.rebuild_views().expect("rebuild");
    assert_eq!(dump_tables(dir.path()), incremental, "a rebuild differs");
    engine.close().expect("close");
}

#[test]
fn a_reporting_tool_reads_incidents_by_number_while_the_engine_serves() {
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = clock();
    let engine = disk_engine(dir.path(), &clock, 1);
    for i in 1..=4 {
        exec(
            &engine,
            &agent(),
            open_incident(inc(i), &format!("Checkout down {i}")),
        );
    }
    exec(&engine, &agent(), assign(inc(2), "network", "bob"));
    // A reporting tool's own connection beside the engine (the SQLite file opened read-only,
    // or the PostgreSQL schema).
    let texts = |sql: &str| -> Vec<Vec<String>> {
        sql_rows(dir.path(), sql, &[])
            .into_iter()
            .map(|row| row.iter().map(|c| c.text().to_owned()).collect())
            .collect()
    };
    let rows = texts("select number, status from incidents order by number limit 3");
    assert_eq!(
        rows,
        vec![
            vec!["INC0000001".to_owned(), "new".to_owned()],
            vec!["INC0000002".to_owned(), "in_progress".to_owned()],
            vec!["INC0000003".to_owned(), "new".to_owned()],
        ]
    );
    // A later command is visible to a reader once committed.
    exec(&engine, &agent(), resolve(inc(2), "fixed"));
    let status = texts("select status from incidents where number = 'INC0000002'");
    assert_eq!(status, vec![vec!["resolved".to_owned()]]);
    let last = texts(
        "select what, actor from timeline where number = 'INC0000002' order by position desc limit 1",
    );
    let (what, who) = (&last[0][0], &last[0][1]);
    assert!(what.contains("resolved"), "{what}");
    assert_eq!(who, "alice");
}

/// The columns of `timeline`, in log order.
const TIMELINE_ROWS: &str = "SELECT position, record, kind, number, version, event_id, event_type, \
     what, why, actor, occurred_at, recorded_at, visibility, caused_by FROM timeline ORDER BY position";

/// The indexes of `timeline` by name, in either dialect.
fn timeline_indexes(dir: &Path) -> Vec<String> {
    let sql = if read_models_on_postgres(dir) {
        "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() \
         AND tablename = 'timeline' ORDER BY indexname"
    } else {
        "SELECT name FROM pragma_index_list('timeline') ORDER BY name"
    };
    sql_rows(dir, sql, &[])
        .into_iter()
        .map(|r| r[0].text().to_owned())
        .collect()
}

/// A database whose `timeline` is at version 2 (a table keyed by `position` with the unique
/// index `timeline_by_record` beside it) rebuilds that model alone at version 3, keyed by
/// `(record, version)` without the index, with the same rows; new events are written to it.
#[test]
fn a_timeline_of_version_2_is_rebuilt_keyed_by_record_and_version() {
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = clock();
    let open = || open_on_disk(dir.path(), config(&clock, 1).with_policy(sla_policy()));
    let engine = open().expect("open");
    for i in 1..=3 {
        exec(
            &engine,
            &agent(),
            open_incident(inc(i), &format!("Checkout down {i}")),
        );
    }
    exec(&engine, &agent(), assign(inc(2), "network", "bob"));
    clock.advance(Duration::hours(5));
    engine.tick(clock.now_at()).expect("tick");
    exec(&engine, &agent(), resolve(inc(2), "fixed"));
    engine.close().expect("close");
    let before = sql_rows(dir.path(), TIMELINE_ROWS, &[]);
    assert!(before.len() >= 5, "{before:?}");
    let postgres = read_models_on_postgres(dir.path());

    // Version 2's layout, with the rows as they were, less the last one (which only a rebuild
    // from the log brings back).
    let integer = if postgres { "BIGINT" } else { "INTEGER" };
    for statement in [
        "CREATE TABLE timeline_v3 AS SELECT * FROM timeline".to_owned(),
        "DROP TABLE timeline".to_owned(),
        format!(
            "CREATE TABLE timeline(
                position    {integer} PRIMARY KEY,
                record      TEXT NOT NULL,
                kind        TEXT NOT NULL,
                number      TEXT,
                version     {integer} NOT NULL,
                event_id    TEXT NOT NULL,
                event_type  TEXT NOT NULL,
                what        TEXT NOT NULL,
                why         TEXT,
                actor       TEXT NOT NULL,
                occurred_at TEXT NOT NULL,
                recorded_at TEXT NOT NULL,
                visibility  TEXT NOT NULL,
                caused_by   TEXT
            )"
        ),
        "INSERT INTO timeline SELECT * FROM timeline_v3".to_owned(),
        "DROP TABLE timeline_v3".to_owned(),
        "CREATE UNIQUE INDEX timeline_by_record ON timeline(record, version)".to_owned(),
        "DELETE FROM timeline WHERE position = (SELECT max(position) FROM timeline)".to_owned(),
        "UPDATE read_models SET version = 2 WHERE name = 'timeline'".to_owned(),
    ] {
        sql_execute(dir.path(), &statement, &[]);
    }
    assert!(
        timeline_indexes(dir.path()).contains(&"timeline_by_record".to_owned()),
        "{:?}",
        timeline_indexes(dir.path())
    );
    assert_eq!(
        sql_rows(dir.path(), TIMELINE_ROWS, &[]).len() + 1,
        before.len()
    );

    let engine = open().expect("reopen");
    assert!(!engine.stats().expect("stats").open.views_rebuilt);
    assert_eq!(sql_rows(dir.path(), TIMELINE_ROWS, &[]), before);
    let version = sql_rows(
        dir.path(),
        "SELECT version FROM read_models WHERE name = 'timeline'",
        &[],
    );
    assert_eq!(version[0][0].int(), 3);
    // One B-tree: the primary key, and no other index.
    let indexes = timeline_indexes(dir.path());
    assert!(
        !indexes.contains(&"timeline_by_record".to_owned()),
        "{indexes:?}"
    );
    if postgres {
        assert_eq!(indexes, vec!["timeline_pkey".to_owned()]);
        let key = sql_rows(
            dir.path(),
            "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() \
             AND indexname = 'timeline_pkey'",
            &[],
        );
        assert!(key[0][0].text().contains("(record, version)"), "{key:?}");
    } else {
        let key = sql_rows(
            dir.path(),
            "SELECT origin FROM pragma_index_list('timeline')",
            &[],
        );
        assert_eq!(key, vec![vec![SqlCell::Text("pk".to_owned())]]);
        let create = sql_rows(
            dir.path(),
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'timeline'",
            &[],
        );
        assert!(create[0][0].text().contains("WITHOUT ROWID"), "{create:?}");
    }
    // New events are written to the new table, in log order.
    exec(&engine, &agent(), close(inc(2)));
    let after = sql_rows(dir.path(), TIMELINE_ROWS, &[]);
    assert_eq!(after[..before.len()], before[..]);
    let last = after.last().expect("a row");
    assert_eq!(last[6].text(), "incident.closed");
    // A rebuild of every read model writes the same rows.
    engine.rebuild_views().expect("rebuild");
    assert_eq!(sql_rows(dir.path(), TIMELINE_ROWS, &[]), after);
    engine.close().expect("close");
}

fn publish_known_error(engine: &Engine, n: u32, title: &str, symptom: &str, root: &str, ci: &str) {
    let pm = problem_manager();
    let id = prb(n);
    exec(engine, &pm, create_problem(id, title));
    for command in [
        ProblemCommand::Assign {
            id,
            group: "problem-mgmt".into(),
            assignee: Some("pat".into()),
        },
        ProblemCommand::Assess { id },
        ProblemCommand::StartAnalysis { id },
        ProblemCommand::RecordRootCause {
            id,
            cause: root.into(),
        },
        ProblemCommand::MarkKnownError {
            id,
            symptom: symptom.into(),
            root_cause: root.into(),
            workaround: Some("restart the pool".into()),
            affected_cis: [ci.into()].into_iter().collect(),
        },
    ] {
        exec(engine, &pm, command);
    }
}

fn numbers(engine: &Engine, query: KedbQuery) -> Result<Vec<String>, EngineError> {
    Ok(engine
        .view(None)?
        .known_errors(&query)?
        .items
        .into_iter()
        .map(|e| e.number.map(|n| n.to_string()).unwrap_or_default())
        .collect())
}

#[test]
fn kedb_search_stems_ranks_matches_words_not_substrings_and_takes_prefixes() {
    let (engine, _clock) = memory_engine();
    publish_known_error(
        &engine,
        1,
        "Checkout times out",
        "Customers see timeouts at checkout",
        "Database connections exhausted",
        "db-01",
    );
    publish_known_error(
        &engine,
        2,
        "Feedback form broken",
        "The feedback form returns an error",
        "A bad deploy of the form service",
        "web-01",
    );
    publish_known_error(
        &engine,
        3,
        "Database failover slow",
        "Writes stall during a database failover; database alarms fire",
        "Replica lag",
        "db-02",
    );
    // Stemming: "connection" finds "connections".
    assert_eq!(
        numbers(&engine, KedbQuery::text("connection")).unwrap(),
        ["PRB0000001"]
    );
    // Words, not substrings: "db" does not match "feedback".
    assert!(numbers(&engine, KedbQuery::text("db")).unwrap().is_empty());
    // Prefixes.
    assert_eq!(
        numbers(&engine, KedbQuery::text("feedb*")).unwrap(),
        ["PRB0000002"]
    );
    // BM25: the entry that says "database" most, in the shortest text, ranks first.
    assert_eq!(
        numbers(&engine, KedbQuery::text("database")).unwrap(),
        ["PRB0000003", "PRB0000001"]
    );
    // Filters by CI and service; symptom-only words.
    assert_eq!(
        numbers(
            &engine,
            KedbQuery {
                ci: Some("db-02".into()),
                ..KedbQuery::text("database")
            }
        )
        .unwrap(),
        ["PRB0000003"]
    );
    assert_eq!(
        numbers(&engine, KedbQuery::symptom("timeouts")).unwrap(),
        ["PRB0000001"]
    );
    assert!(
        numbers(&engine, KedbQuery::symptom("replica"))
            .unwrap()
            .is_empty()
    );
    // Snippets mark the matches.
    let page = engine
        .view(None)
        .unwrap()
        .known_errors(&KedbQuery::text("timeouts"))
        .unwrap();
    let snippet = page.items[0].snippet.clone().expect("a snippet");
    assert!(snippet.contains("[timeouts]"), "{snippet}");
    assert!(page.items[0].score > 0.0);
}

#[test]
fn kedb_search_takes_any_text_as_words_and_refuses_malformed_queries_with_the_position() {
    let (engine, _clock) = memory_engine();
    publish_known_error(
        &engine,
        1,
        "Checkout 100% CPU",
        "The checkout's CPU is at 100% (AND it stays)",
        "A \"runaway\" loop: NEAR the cache",
        "db-01",
    );
    let head = engine.stats().unwrap().head;
    // Quotes, %, FTS5 operators and syntax, column filters, NULs: words, nothing else.
    for text in [
        "100%",
        "AND",
        "NEAR(checkout cache)",
        "checkout OR nothing",
        "symptom:cpu",
        "{title}: cpu",
        "^checkout",
        "cpu\0checkout",
        "'; DROP TABLE known_errors; --",
        "%",
        "\"runaway\"",
        "check*",
    ] {
        let found = numbers(&engine, KedbQuery::text(text));
        match found {
            Ok(found) => assert!(found.len() <= 1, "{text:?}: {found:?}"),
            Err(EngineError::InvalidInput { reason, .. }) => {
                assert!(!reason.contains("fts5"), "{text:?}: {reason}");
                assert!(!reason.contains("syntax error"), "{text:?}: {reason}");
            }
            Err(e) => panic!("{text:?}: {e}"),
        }
    }
    assert_eq!(
        numbers(&engine, KedbQuery::text("100%")).unwrap(),
        ["PRB0000001"]
    );
    // Operators are words: "near" and "cache" both appear in the root cause.
    assert_eq!(
        numbers(&engine, KedbQuery::text("NEAR cache")).unwrap(),
        ["PRB0000001"]
    );
    // Words joined by punctuation are a phrase: "near checkout" never appears.
    assert!(
        numbers(&engine, KedbQuery::text("NEAR(checkout"))
            .unwrap()
            .is_empty()
    );
    assert!(
        numbers(&engine, KedbQuery::text("checkout OR nothing"))
            .unwrap()
            .is_empty()
    );
    // Malformed: a typed error naming the character, not SQLite's text.
    match numbers(&engine, KedbQuery::text("checkout \"cpu")) {
        Err(EngineError::InvalidInput { field, reason }) => {
            assert_eq!(field, "text");
            assert!(reason.contains("character 10"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    match numbers(&engine, KedbQuery::symptom("cpu *")) {
        Err(EngineError::InvalidInput { field, reason }) => {
            assert_eq!(field, "symptom");
            assert!(reason.contains("character 5"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        numbers(&engine, KedbQuery::text("%%% ---")),
        Err(EngineError::InvalidInput { .. })
    ));
    // Filters take any text as a value.
    assert!(
        numbers(
            &engine,
            KedbQuery {
                service: Some("x' OR 1=1 --".into()),
                ..KedbQuery::default()
            }
        )
        .unwrap()
        .is_empty()
    );
    assert!(
        numbers(
            &engine,
            KedbQuery {
                ci: Some("%".into()),
                ..KedbQuery::default()
            }
        )
        .unwrap()
        .is_empty()
    );
    assert_eq!(
        engine.stats().unwrap().head,
        head,
        "a search writes nothing"
    );
}

/// Every match of `query`, paged `page` at a time, with its score.
fn kedb_pages(
    engine: &Engine,
    query: &KedbQuery,
    page: usize,
) -> Vec<(ProblemId, f64, Option<Priority>, String)> {
    let view = engine.view(None).expect("view");
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let found = view
            .known_errors(&KedbQuery {
                limit: Some(page),
                cursor,
                ..query.clone()
            })
            .expect("search");
        assert!(found.items.len() <= page);
        out.extend(found.items.into_iter().map(|e| {
            let number = e.number.map(|n| n.to_string()).unwrap_or_default();
            (e.problem, e.score, e.priority, number)
        }));
        match found.next {
            Some(next) => cursor = Some(next),
            None => return out,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Matches of equal rank are ordered by priority, then number, whichever statement
    /// answers: the full-text table alone (orders packed into row ids), the same with a known
    /// error whose order is not packed (as one without a number would be), and the single
    /// statement the workaround filter takes; paged at any size, with a CI filter or without,
    /// after reprioritisations that move known errors in the order.
    #[test]
    fn kedb_pages_follow_rank_then_priority_then_number_on_every_path(
        published in prop::collection::vec(
            (0usize..3, 0usize..3, 0usize..3, 0usize..3, any::<bool>()), 2..9),
        page in 1usize..4,
        word in 0usize..4,
        unpack in any::<bool>(),
        by_ci in any::<bool>(),
    ) {
        const WORDS: [&str; 3] = ["disk", "queue", "cache"];
        const LEVELS: [Impact; 3] = [Impact::High, Impact::Medium, Impact::Low];
        const URGENCIES: [Urgency; 3] = [Urgency::High, Urgency::Medium, Urgency::Low];
        let clock = clock();
        let dir = tempfile::tempdir().expect("temp dir");
        let engine = open_on_disk(dir.path(), config(&clock, 1)).expect("engine");
        let pm = problem_manager();
        for (n, &(a, b, impact, urgency, _)) in published.iter().enumerate() {
            let id = prb(n as u32 + 1);
            exec(&engine, &pm, ProblemCommand::Create {
                id,
                title: format!("{} {}", WORDS[a], WORDS[b]),
                description: String::new(),
                impact: LEVELS[impact],
                urgency: URGENCIES[urgency],
                service: Some("webshop".into()),
                cis: [format!("ci-{}", n % 2).as_str().into()].into_iter().collect(),
            });
            problem_to_fix(&engine, id);
        }
        for (n, &(_, _, impact, urgency, again)) in published.iter().enumerate() {
            if again {
                exec(&engine, &pm, ProblemCommand::Reprioritize {
                    id: prb(n as u32 + 1),
                    impact: LEVELS[(impact + 1) % 3],
                    urgency: URGENCIES[(urgency + 2) % 3],
                    reason: "the impact changed".into(),
                });
            }
        }
        // Every known error says "checkout" (its symptom), so that query ties them all.
        let text = WORDS.get(word).copied().unwrap_or("checkout");
        let query = KedbQuery {
            ci: by_ci.then(|| "ci-1".into()),
            ..KedbQuery::text(text)
        };
        let packed = kedb_pages(&engine, &query, page);
        if unpack && test_backend() != "postgres" {
            // The first known error's row id made what an unpacked order is (7 << 60 up).
            let problem = SqlCell::Text(prb(1).0.to_string());
            let unpacked = SqlCell::Int((7 << 60) + 1);
            sql_execute(dir.path(),
                "INSERT INTO known_errors_fts(rowid, title, symptom, root_cause, workaround)
                 SELECT ?2, title, symptom, root_cause, coalesce(workaround, '')
                 FROM known_errors WHERE problem = ?1",
                &[problem.clone(), unpacked.clone()]);
            sql_execute(dir.path(),
                "DELETE FROM known_errors_fts
                 WHERE rowid = (SELECT id FROM known_errors WHERE problem = ?1)",
                std::slice::from_ref(&problem));
            sql_execute(dir.path(), "UPDATE known_errors SET id = ?2 WHERE problem = ?1",
                &[problem, unpacked]);
            prop_assert_eq!(&kedb_pages(&engine, &query, page), &packed);
        }
        // Every known error has a workaround: the filter changes the statement, not the matches.
        let single = kedb_pages(&engine, &KedbQuery { with_workaround: true, ..query.clone() }, page);
        prop_assert_eq!(&single, &packed);
        // Every known error that says the word (of the CI, with the filter) is found once.
        let expected = published
            .iter()
            .enumerate()
            .filter(|&(n, &(a, b, ..))| {
                (word >= WORDS.len() || a == word || b == word) && (!by_ci || n % 2 == 1)
            })
            .count();
        prop_assert_eq!(packed.len(), expected);
        for pair in packed.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            prop_assert!(a.1 >= b.1, "best first: {:?}", packed);
            if a.1 == b.1 {
                let order = |e: &(ProblemId, f64, Option<Priority>, String)| {
                    (e.2.map_or(6, |p| p as u8), e.3.clone())
                };
                prop_assert!(order(a) < order(b), "ties by priority, then number: {:?}", packed);
            }
        }
    }
}

/// More of an incident's life: major incidents and their reviews, detection facts, cancels.
#[derive(Debug, Clone)]
struct Extra {
    major: bool,
    review: bool,
    detection: bool,
    cancel: bool,
}

fn extra() -> impl Strategy<Value = Extra> {
    any::<[bool; 4]>().prop_map(|f| Extra {
        major: f[0],
        review: f[1],
        detection: f[2],
        cancel: f[3] && !f[0],
    })
}

fn play_extras(engine: &Engine, clock: &Arc<ManualClock>, extras: &[Extra]) {
    for (i, x) in extras.iter().enumerate() {
        let id = inc(i as u32 + 1);
        let mut commands: Vec<IncidentCommand> = Vec::new();
        if x.detection {
            let now = clock.now_at();
            commands.push(IncidentCommand::RecordImpactStart {
                id,
                started_at: now - Duration::minutes(45),
            });
            commands.push(IncidentCommand::RecordDetection {
                id,
                detected_at: now - Duration::minutes(10),
            });
        }
        if x.major {
            commands.push(IncidentCommand::ProposeMajor {
                id,
                reason: "many users".into(),
            });
            commands.push(IncidentCommand::AcceptMajor { id });
        }
        if x.review {
            commands.push(IncidentCommand::PublishReview {
                id,
                summary: "what happened".into(),
                findings: String::new(),
                action_items: vec!["fix it".into()],
            });
        }
        if x.cancel {
            commands.push(IncidentCommand::Cancel {
                id,
                reason: opsledger::core::incident::CancelReason::Other {
                    text: "not an incident".into(),
                },
            });
        }
        for c in commands {
            clock.advance(Duration::minutes(7));
            let _ = try_exec(engine, &manager(), c);
        }
    }
}

/// A KPI query with every knob drawn.
fn kpi_query(now: DateTime<Utc>) -> impl Strategy<Value = KpiQuery> {
    (
        (0usize..6, 0i64..240, 1i64..480),
        0usize..4,
        any::<[bool; 4]>(),
        0u32..3,
        prop::option::of(1u32..600),
        prop::sample::select(vec![1u32, 7]),
        1u32..4,
        prop::sample::select(vec![1u32, 72]),
    )
        .prop_map(
            move |(
                (w, from_hours, hours),
                by,
                flags,
                max_reassignments,
                within,
                reopen,
                ping,
                pir,
            )| {
                // Whole days from the daily buckets, their partial ends from the rows.
                let from = t0() - Duration::days(1) + Duration::minutes(from_hours * 61);
                let window = match w {
                    4 => TimeWindow::new(from, from + Duration::minutes(hours * 67)),
                    5 => {
                        let midnight = |t: DateTime<Utc>| {
                            t.date_naive()
                                .and_hms_opt(0, 0, 0)
                                .expect("midnight")
                                .and_utc()
                        };
                        let start = midnight(from);
                        let end = midnight(now) + Duration::days(hours % 3);
                        TimeWindow::new(start, end.max(start + Duration::days(1)))
                    }
                    0 => TimeWindow::new(t0() - Duration::days(1), now + Duration::days(1)),
                    1 => TimeWindow::new(t0(), t0() + Duration::hours(6)),
                    2 => TimeWindow::new(
                        t0() + Duration::hours(3),
                        (now - Duration::hours(2)).max(t0() + Duration::hours(4)),
                    ),
                    _ => TimeWindow::new(now - Duration::hours(8), now),
                };
                let mut q = KpiQuery::new(window).group_by(
                    [
                        GroupBy::None,
                        GroupBy::Priority,
                        GroupBy::Group,
                        GroupBy::Service,
                    ][by],
                );
                q.exclude_on_hold = flags[0];
                q.with_issues_is_success = flags[1];
                q.fcr.direct_only = flags[2];
                q.fcr.max_reassignments = max_reassignments;
                q.fcr.within_minutes = within;
                q.reopen_window_days = reopen;
                q.ping_pong_threshold = ping;
                q.pir_deadline_hours = pir;
                q
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// KPIs from the SQL aggregates equal the fold of every record's facts, for any window,
    /// grouping and definition; with clocks still running (evaluated now) and without.
    #[test]
    fn kpis_from_sql_aggregates_equal_the_fold_of_the_log(
        plans in prop::collection::vec(plan(), 1..12),
        extras in prop::collection::vec(extra(), 0..12),
        changes in prop::collection::vec(any::<bool>(), 0..3),
        seed in any::<u64>(),
        tick in any::<bool>(),
    ) {
        let clock = clock();
        // On disk, so that the PostgreSQL run of these cases answers from its own tables.
        let dir = tempfile::tempdir().expect("temp dir");
        let engine = open_on_disk(dir.path(), config(&clock, 1).with_policy(sla_policy()))
            .expect("engine");
        play(&engine, &clock, &plans, &changes);
        play_extras(&engine, &clock, &extras);
        clock.advance(Duration::minutes(20));
        if tick {
            engine.tick(clock.now_at()).expect("tick");
        }
        let now = clock.now_at();
        let view = engine.view(None).expect("view");
        let mut runner = proptest::test_runner::TestRunner::new_with_rng(
            ProptestConfig::default(),
            proptest::test_runner::TestRng::from_seed(
                proptest::test_runner::RngAlgorithm::ChaCha,
                &{
                    let mut s = [0u8; 32];
                    s[..8].copy_from_slice(&seed.to_le_bytes());
                    s
                },
            ),
        );
        for _ in 0..8 {
            let q = kpi_query(now).new_tree(&mut runner).expect("a query").current();
            let sql = view.kpis(&q).expect("kpis");
            let fold = view.kpis_by_fold(&q).expect("kpis by fold");
            prop_assert_eq!(&sql, &fold, "query {:?}", q);
        }
        drop(view);
        engine.close().expect("close");
    }
}
