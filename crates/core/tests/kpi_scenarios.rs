//! Hand-worked KPI scenarios: histories made by the real incident decider (and change facts as
//! the engine maps them), with every expected number worked out in the comments.

#[path = "support/kpi_fixtures.rs"]
mod fixtures;

use fixtures::*;
use opsledger_core::calendar::{CalendarSpec, CalendarVersion, TimeZoneName, WeeklySchedule};
use opsledger_core::incident::{IncidentCommand, IncidentEvent, IncidentStatusKind};
use opsledger_core::kpi::{
    AgeBuckets, ChangeFact, ChangeKind, ChangeOutcome, DurationFigure, GroupBy, GroupKey,
    GroupReport, IncidentFact, IncidentHistory, KpiInput, KpiQuery, KpiReport, Ratio,
    RecordHistory, SlaMetric, compute,
};
use opsledger_core::window::TimeWindow;
use opsledger_core::{BusinessCalendar, GroupId, Impact, Priority, Urgency};

fn window(from: chrono::DateTime<chrono::Utc>, to: chrono::DateTime<chrono::Utc>) -> TimeWindow {
    TimeWindow::new(from, to)
}

/// The single row of an ungrouped report.
fn all(report: &KpiReport) -> &GroupReport {
    assert_eq!(report.groups.len(), 1, "ungrouped reports have one row");
    assert_eq!(report.groups[0].key, GroupKey::All);
    &report.groups[0]
}

fn row<'r>(report: &'r KpiReport, key: &GroupKey) -> &'r GroupReport {
    report
        .groups
        .iter()
        .find(|g| &g.key == key)
        .unwrap_or_else(|| panic!("no row {key:?} in {:?}", report.groups))
}

fn dur(count: u64, total_ms: i64) -> DurationFigure {
    DurationFigure {
        count,
        total_ms,
        mean_ms: (count > 0).then(|| total_ms as f64 / count as f64),
    }
}

fn office() -> BusinessCalendar {
    let hours = vec!["09:00-17:00".parse().expect("interval")];
    BusinessCalendar::new(CalendarSpec::new(
        "office",
        CalendarVersion(1),
        TimeZoneName::new("UTC").expect("zone"),
        WeeklySchedule::weekdays(hours),
    ))
    .expect("calendar")
}

#[test]
fn mtta_is_the_mean_time_to_the_first_acknowledgement_recorded_in_the_window() {
    let mut desk = Desk::new();
    // 1: acknowledged 10 min after opening.
    desk.open_p3(inc(1), m(0)).ack(inc(1), m(10));
    // 2: a person assigned 30 min after opening: that is the first response.
    desk.open_p3(inc(2), m(60))
        .assign(inc(2), m(90), Some("desk"), Some("bob"));
    // 3: opened with an assignee: acknowledged at opening, 0 min.
    desk.open(
        inc(3),
        m(120),
        Impact::Medium,
        Urgency::Medium,
        None,
        Some("alice"),
    );
    // 4: only routed to another group: no response yet, not in the population.
    desk.open_p3(inc(4), m(0))
        .assign(inc(4), m(5), Some("network"), None);
    // 5 and 6: acknowledged before / after the window.
    desk.open_p3(inc(5), d(-2)).ack(inc(5), d(-1));
    desk.open_p3(inc(6), m(0)).ack(inc(6), d(11));

    let q = KpiQuery::new(window(m(-60), d(10))).as_of(d(20));
    let report = compute(&q, &desk.input());
    // (10 + 30 + 0) min = 40 min = 2_400_000 ms over 3: mean 800_000 ms (13 min 20 s).
    assert_eq!(all(&report).mtta, dur(3, 2_400_000));
    assert_eq!(all(&report).mtta.mean_ms, Some(800_000.0));
}

#[test]
fn a_child_reopened_before_anyone_acknowledged_it_goes_back_to_new_and_its_first_ack_counts() {
    // Regression: the KPI fold sent every reopen to InProgress, so the acknowledgement that
    // follows a reopen to New (the lifecycle's rule for a never-acknowledged incident) was
    // ignored and the incident dropped out of MTTA.
    let parent = inc(900);
    let mut desk = Desk::new();
    // 1: a child resolved with its parent while still New (10 min), reopened directly at
    //    70 min (back to New), acknowledged at 100 min, resolved at 160 min.
    desk.open_p3(inc(1), m(0))
        .link_parent(inc(1), m(5), parent)
        .resolve_from_parent(inc(1), m(10), parent)
        .reopen(inc(1), m(70));
    let status = |desk: &Desk, n| desk.states[&inc(n)].as_ref().unwrap().status.kind();
    assert_eq!(status(&desk, 1), IncidentStatusKind::New);
    desk.ack(inc(1), m(100)).resolve(inc(1), m(160));
    // 2: the same child reopened with its parent at 70 min (back to New), then a person
    //    assigned at 130 min (that is its first acknowledgement); still open.
    desk.open_p3(inc(2), m(0))
        .link_parent(inc(2), m(5), parent)
        .resolve_from_parent(inc(2), m(10), parent)
        .run(
            m(70),
            IncidentCommand::ReopenFromParent { id: inc(2), parent },
        );
    assert_eq!(status(&desk, 2), IncidentStatusKind::New);
    desk.assign(inc(2), m(130), Some("desk"), Some("bob"));
    let input = desk.input();

    let q = KpiQuery::new(window(m(-60), d(10))).as_of(d(20));
    let g = all(&compute(&q, &input)).clone();
    // MTTA: (100 + 130) min = 13_800_000 ms over 2 (was 0 samples before the fix).
    assert_eq!(g.mtta, dur(2, 13_800_000));
    // Reopen rate: resolutions 1@10 min (reopened 60 min later), 2@10 min (reopened 60 min
    // later) and 1@160 min (standing), all mature at day 20 with the 7-day window: 2 of 3.
    assert_eq!(g.reopen_rate.rate, Ratio::new(2, 3));
    assert_eq!(g.reopen_rate.pending, 0);
    // MTTR: only 1 stands resolved: 160 min = 9_600_000 ms; reopened, so not FCR (0 of 1).
    assert_eq!(g.mttr, dur(1, 9_600_000));
    assert_eq!(g.first_contact_resolution.rate, Ratio::new(0, 1));
    // Backlog at day 10: 2 only (InProgress since 130 min), 10 days old.
    assert_eq!(g.backlog.size, 1);
    assert_eq!(g.backlog.age.total_ms, 10 * DAY);

    // As of 120 min: 1 acknowledged (100 min), 2 back in the queue (New) and not yet: MTTA
    // 100 min over 1; the backlog (at 120 min) holds both, 120 min old each.
    let early = KpiQuery::new(window(m(-60), d(10))).as_of(m(120));
    let g = all(&compute(&early, &input)).clone();
    assert_eq!(g.mtta, dur(1, 6_000_000));
    assert_eq!(g.backlog.size, 2);
    assert_eq!(g.backlog.age.total_ms, 2 * 120 * MIN);
    // And as of 120 min is the history cut at 120 min.
    assert_eq!(
        compute(&early, &input),
        compute(&early, &input.truncated(m(120)))
    );
}

#[test]
fn mttr_counts_incidents_resolved_in_the_window_and_can_leave_holds_out() {
    let mut desk = Desk::new();
    // 1: 100 min to resolve, 60 of them on hold (20 -> 80); closed later (still resolved).
    desk.open_p3(inc(1), m(0))
        .ack(inc(1), m(5))
        .hold(inc(1), m(20))
        .resume(inc(1), m(80))
        .resolve(inc(1), m(100))
        .close(inc(1), m(200));
    // 2: resolved, then reopened and still open: not resolved, not in MTTR.
    desk.open_p3(inc(2), m(0))
        .ack(inc(2), m(1))
        .resolve(inc(2), m(30))
        .reopen(inc(2), m(40));
    // 3: canceled: never resolved.
    desk.open_p3(inc(3), m(0))
        .ack(inc(3), m(1))
        .cancel(inc(3), m(50));
    // 4: resolved straight from hold: 70 min, 60 of them on hold (10 -> 70).
    desk.open_p3(inc(4), m(0))
        .ack(inc(4), m(2))
        .hold_vendor(inc(4), m(10))
        .resolve(inc(4), m(70));

    let mut q = KpiQuery::new(window(m(-60), d(1))).as_of(d(2));
    let report = compute(&q, &desk.input());
    // (100 + 70) min = 10_200_000 ms over 2.
    assert_eq!(all(&report).mttr, dur(2, 10_200_000));
    assert_eq!(all(&report).mttr.mean_ms, Some(5_100_000.0));

    q.exclude_on_hold = true;
    let report = compute(&q, &desk.input());
    // (40 + 10) min = 3_000_000 ms over 2.
    assert_eq!(all(&report).mttr, dur(2, 3_000_000));
}

#[test]
fn a_reopen_moves_an_incident_out_of_the_month_it_was_first_resolved_in_but_as_of_replays_the_old_report()
 {
    let mut desk = Desk::new();
    desk.open_p3(inc(1), utc(2026, 1, 10, 9, 0))
        .ack(inc(1), utc(2026, 1, 10, 9, 10))
        .resolve(inc(1), utc(2026, 1, 10, 12, 0))
        .reopen(inc(1), utc(2026, 2, 2, 9, 0))
        .resolve(inc(1), utc(2026, 2, 5, 9, 0));
    let input = desk.input();
    let january = window(utc(2026, 1, 1, 0, 0), utc(2026, 2, 1, 0, 0));
    let february = window(utc(2026, 2, 1, 0, 0), utc(2026, 3, 1, 0, 0));

    // As of January 31st: resolved in 3 h (09:00 -> 12:00) = 10_800_000 ms.
    let then = compute(
        &KpiQuery::new(january).as_of(utc(2026, 1, 31, 0, 0)),
        &input,
    );
    assert_eq!(all(&then).mttr, dur(1, 10_800_000));

    // As of March 1st the January resolution did not hold: January has no MTTR sample...
    let now = compute(&KpiQuery::new(january).as_of(utc(2026, 3, 1, 0, 0)), &input);
    assert_eq!(all(&now).mttr, dur(0, 0));
    assert_eq!(all(&now).mttr.mean_ms, None);
    // ...and February has it, from the opening: Jan 10 09:00 -> Feb 5 09:00 = 26 days.
    let feb = compute(
        &KpiQuery::new(february).as_of(utc(2026, 3, 1, 0, 0)),
        &input,
    );
    assert_eq!(all(&feb).mttr, dur(1, 26 * DAY));

    // January's resolution was reopened 22 days 21 hours later: a reopen within 30 days, not
    // within 7.
    let mut q = KpiQuery::new(january).as_of(utc(2026, 3, 1, 0, 0));
    assert_eq!(all(&compute(&q, &input)).reopen_rate.rate, Ratio::new(0, 1));
    q.reopen_window_days = 30;
    assert_eq!(all(&compute(&q, &input)).reopen_rate.rate, Ratio::new(1, 1));
}

#[test]
fn business_time_counts_only_working_hours() {
    // Mon-Fri 09:00-17:00 UTC. Friday 2026-01-09 16:00 -> Monday 2026-01-12 10:00.
    let mut desk = Desk::new();
    desk.open_p3(inc(1), utc(2026, 1, 9, 16, 0))
        .ack(inc(1), utc(2026, 1, 12, 10, 0))
        .resolve(inc(1), utc(2026, 1, 12, 15, 0));
    // Still open at the backlog instant (Wednesday 09:00): opened Monday 09:00.
    desk.open_p3(inc(2), utc(2026, 1, 12, 9, 0));
    let w = window(utc(2026, 1, 5, 0, 0), utc(2026, 1, 14, 9, 0));
    let q = KpiQuery::new(w).as_of(utc(2026, 1, 20, 0, 0));

    let wall = compute(&q, &desk.input());
    // Wall clock: acknowledged after 66 h, resolved after 71 h; the open one is 48 h old.
    assert_eq!(all(&wall).mtta, dur(1, 66 * HOUR));
    assert_eq!(all(&wall).mttr, dur(1, 71 * HOUR));
    assert_eq!(all(&wall).backlog.age.total_ms, 48 * HOUR);
    assert_eq!(all(&wall).backlog.buckets.from_1d_to_7d, 1);

    let business = compute(&q.clone().business(office()), &desk.input());
    // Business: 1 h on Friday + 1 h on Monday = 2 h; + 5 h more on Monday = 7 h; the open one
    // has Monday and Tuesday, 2 x 8 h = 16 h, less than one (24 h) day.
    assert_eq!(all(&business).mtta, dur(1, 2 * HOUR));
    assert_eq!(all(&business).mttr, dur(1, 7 * HOUR));
    assert_eq!(all(&business).backlog.age.total_ms, 16 * HOUR);
    assert_eq!(all(&business).backlog.buckets.under_1d, 1);
}

#[test]
fn mttd_runs_from_the_backdated_impact_start_to_detection() {
    let mut desk = Desk::new();
    // 1: impact started 17 min before opening, detected 5 min before: 12 min.
    desk.open_p3(inc(1), m(0))
        .impact_start(inc(1), m(30), m(-17))
        .detection(inc(1), m(31), m(-5));
    // 2: no detection recorded: the opening is the detection, 17 min after the impact start.
    desk.open_p3(inc(2), m(100))
        .impact_start(inc(2), m(110), m(83));
    // 3: proactive: the impact started after the incident was opened; no time to detect.
    desk.open_p3(inc(3), m(200))
        .impact_start(inc(3), m(260), m(250));
    // 4: no impact start: not in the population.
    desk.open_p3(inc(4), m(0));

    let report = compute(
        &KpiQuery::new(window(m(-60), d(1))).as_of(d(2)),
        &desk.input(),
    );
    // (12 + 17) min = 1_740_000 ms over 2: mean 870_000 ms (14.5 min).
    assert_eq!(all(&report).mttd, dur(2, 1_740_000));
    assert_eq!(all(&report).mttd.mean_ms, Some(870_000.0));
}

#[test]
fn sla_compliance_breaches_and_time_over_target_per_metric_and_priority() {
    use SlaMetric::{Resolution, Response};
    let p1 = Priority::Critical;
    let mut desk = Desk::new();
    desk.sla = vec![
        // a: response met (10 of 15 min).
        sla(
            1,
            Response,
            p1,
            m(0),
            15 * MIN,
            None,
            Some((m(10), 10 * MIN)),
            None,
        ),
        // b: response breached at 15 min, stopped at 25 min: 10 min over.
        sla(
            2,
            Response,
            p1,
            m(0),
            15 * MIN,
            Some(m(15)),
            Some((m(25), 25 * MIN)),
            None,
        ),
        // c: response breached, still running.
        sla(3, Response, p1, m(0), 15 * MIN, Some(m(15)), None, None),
        // d: resolution met (200 of 240 min).
        sla(
            4,
            Resolution,
            p1,
            m(0),
            4 * HOUR,
            None,
            Some((m(200), 200 * MIN)),
            None,
        ),
        // e: P3 resolution breached at 8 h, stopped at 9 h: 1 h over.
        sla(
            5,
            Resolution,
            Priority::Moderate,
            m(0),
            8 * HOUR,
            Some(m(480)),
            Some((m(540), 9 * HOUR)),
            None,
        ),
        // f: canceled: left out.
        sla(6, Response, p1, m(0), 15 * MIN, None, None, Some(m(5))),
        // g: running, not breached: undecided, left out.
        sla(7, Response, p1, m(0), 15 * MIN, None, None, None),
        // h: decided before the window.
        sla(
            8,
            Resolution,
            p1,
            d(-10),
            4 * HOUR,
            None,
            Some((d(-9), HOUR)),
            None,
        ),
    ];
    let input = desk.input();
    let q = KpiQuery::new(window(m(-60), d(1))).as_of(d(2));
    let report = compute(&q, &input);
    let rows = &all(&report).sla;
    assert_eq!(rows.len(), 3);
    // Response P1: a met; b, c breached: 1 / 3; overrun 10 min from b; c still running.
    assert_eq!((rows[0].metric, rows[0].priority), (Response, p1));
    assert_eq!(rows[0].compliance, Ratio::new(1, 3));
    assert_eq!(rows[0].breaches, 2);
    assert_eq!(rows[0].overrun, dur(1, 10 * MIN));
    assert_eq!(rows[0].breached_running, 1);
    // Resolution P1: d met: 1 / 1.
    assert_eq!((rows[1].metric, rows[1].priority), (Resolution, p1));
    assert_eq!(rows[1].compliance, Ratio::new(1, 1));
    assert_eq!(rows[1].breaches, 0);
    assert_eq!(rows[1].overrun, dur(0, 0));
    // Resolution P3: e breached: 0 / 1, 1 h over.
    assert_eq!(
        (rows[2].metric, rows[2].priority),
        (Resolution, Priority::Moderate)
    );
    assert_eq!(rows[2].compliance, Ratio::new(0, 1));
    assert_eq!(rows[2].compliance.percent, Some(0.0));
    assert_eq!(rows[2].overrun, dur(1, HOUR));

    // As of minute 20: b has breached but not stopped yet; d and e are undecided.
    let early = compute(&q.clone().as_of(m(20)), &input);
    let rows = &all(&early).sla;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].compliance, Ratio::new(1, 3));
    assert_eq!(rows[0].breaches, 2);
    assert_eq!(rows[0].overrun, dur(0, 0));
    assert_eq!(rows[0].breached_running, 2);
    assert_eq!(early, compute(&q.as_of(m(20)), &input.truncated(m(20))));
}

#[test]
fn reopen_rate_counts_resolutions_over_a_mature_cohort() {
    let mut desk = Desk::new();
    // 1: resolved at 60 min, reopened 2 days later (a reopen), resolved again on day 3 and
    //    not reopened within 7 days (day 10 is the horizon: exactly mature).
    desk.open_p3(inc(1), m(0))
        .ack(inc(1), m(1))
        .resolve(inc(1), m(60))
        .reopen(inc(1), d(2))
        .resolve(inc(1), d(3));
    // 2: resolved at 100 min, reopened on day 8: after 7 days, not a reopen for the rate.
    desk.open_p3(inc(2), m(0))
        .ack(inc(2), m(1))
        .resolve(inc(2), m(100))
        .reopen(inc(2), d(8));
    // 3: resolved on day 5: its 7 days run to day 12, after the horizon: pending.
    desk.open_p3(inc(3), m(0))
        .ack(inc(3), m(1))
        .resolve(inc(3), d(5));
    // 4: resolved on day 9 and reopened an hour later: still pending (not yet mature).
    desk.open_p3(inc(4), m(0))
        .ack(inc(4), m(1))
        .resolve(inc(4), d(9))
        .reopen(inc(4), d(9) + chrono::Duration::hours(1));
    // 5: resolved on day 1 and reopened exactly 7 days later: a reopen (the window is
    //    inclusive).
    desk.open_p3(inc(5), m(0))
        .ack(inc(5), m(1))
        .resolve(inc(5), d(1))
        .reopen(inc(5), d(8));

    let q = KpiQuery::new(window(m(-60), d(30))).as_of(d(10));
    let report = compute(&q, &desk.input());
    let reopen = all(&report).reopen_rate;
    // Mature: 1@60min (reopened), 1@day3, 2@100min, 5@day1 (reopened): 2 of 4;
    // pending: 3@day5, 4@day9.
    assert_eq!(reopen.rate, Ratio::new(2, 4));
    assert_eq!(reopen.rate.percent, Some(50.0));
    assert_eq!(reopen.pending, 2);
}

fn reassignment_desk() -> Desk {
    let mut desk = Desk::new();
    // 1: resolved by the first line, untouched: a first-contact resolution.
    desk.open_p3(inc(1), m(0))
        .ack(inc(1), m(10))
        .resolve(inc(1), m(60));
    // 2: desk -> network (1, and bob starts work), -> db (2, functional escalation),
    //    -> desk (3): ping-pong.
    desk.open_p3(inc(2), m(0))
        .assign(inc(2), m(5), Some("network"), Some("bob"))
        .escalate(inc(2), m(20), "db")
        .assign(inc(2), m(30), Some("desk"), Some("bob"))
        .resolve(inc(2), m(90));
    // 3: alice hands over to bob: 1 reassignment.
    desk.open(
        inc(3),
        m(0),
        Impact::Medium,
        Urgency::Medium,
        Some("desk"),
        Some("alice"),
    )
    .assign(inc(3), m(10), Some("desk"), Some("bob"))
    .resolve(inc(3), m(40));
    // 4: resolved, reopened, resolved again: 0 reassignments, but reopened.
    desk.open_p3(inc(4), m(0))
        .ack(inc(4), m(1))
        .resolve(inc(4), m(20))
        .reopen(inc(4), m(30))
        .resolve(inc(4), m(50));
    // 5: a child resolved with its parent, straight from New.
    desk.open_p3(inc(5), m(0))
        .link_parent(inc(5), m(1), inc(99))
        .resolve_from_parent(inc(5), m(45), inc(99));
    // 6: resolved after the window.
    desk.open_p3(inc(6), m(0))
        .ack(inc(6), m(1))
        .resolve(inc(6), d(35));
    desk
}

#[test]
fn reassignment_rate_is_the_mean_count_and_the_share_with_three_or_more() {
    let desk = reassignment_desk();
    let q = KpiQuery::new(window(m(-60), d(30))).as_of(d(40));
    let r = compute(&q, &desk.input());
    let figure = all(&r).reassignment;
    // Incidents 1-5: 0 + 3 + 1 + 0 + 0 = 4 reassignments over 5: mean 0.8; one of five >= 3.
    assert_eq!(figure.incidents, 5);
    assert_eq!(figure.reassignments, 4);
    assert_eq!(figure.mean, Some(0.8));
    assert_eq!(figure.ping_pong, Ratio::new(1, 5));
    assert_eq!(figure.ping_pong.percent, Some(20.0));
}

#[test]
fn first_contact_resolution_follows_its_definition() {
    let desk = reassignment_desk();
    let input = desk.input();
    let mut q = KpiQuery::new(window(m(-60), d(30))).as_of(d(40));
    // Strict: only 1 (2 and 3 were reassigned, 4 reopened, 5 resolved from its parent).
    let fcr = all(&compute(&q, &input)).first_contact_resolution;
    assert_eq!(fcr.rate, Ratio::new(1, 5));
    assert_eq!(fcr.pending, 0);
    // One reassignment allowed, propagated resolutions count: 1, 3 and 5.
    q.fcr.max_reassignments = 1;
    q.fcr.direct_only = false;
    assert_eq!(
        all(&compute(&q, &input)).first_contact_resolution.rate,
        Ratio::new(3, 5)
    );
    // "At first interaction": within 60 min keeps 1 (exactly 60), within 59 keeps none of
    // the strict ones.
    let mut q = KpiQuery::new(window(m(-60), d(30))).as_of(d(40));
    q.fcr.within_minutes = Some(60);
    assert_eq!(
        all(&compute(&q, &input)).first_contact_resolution.rate,
        Ratio::new(1, 5)
    );
    q.fcr.within_minutes = Some(59);
    assert_eq!(
        all(&compute(&q, &input)).first_contact_resolution.rate,
        Ratio::new(0, 5)
    );
    // At minute 100 no 7-day period has ended: all five are pending, the rate has no value.
    let early = all(&compute(
        &KpiQuery::new(window(m(-60), d(30))).as_of(m(100)),
        &input,
    ))
    .first_contact_resolution;
    assert_eq!(early.rate, Ratio::new(0, 0));
    assert_eq!(early.rate.percent, None);
    assert_eq!(early.pending, 5);
}

#[test]
fn backlog_is_what_was_open_at_the_window_end_with_ages_and_buckets() {
    let mut desk = Desk::new();
    // Open at t0 (the window's end), aged 2 h, 12 h, 3 d, 10 d and 40 d.
    desk.open_p3(inc(1), h(-2));
    desk.open_p3(inc(2), h(-12));
    desk.open_p3(inc(3), d(-3));
    desk.open_p3(inc(4), d(-10)).ack(inc(4), d(-9));
    desk.open_p3(inc(5), d(-40));
    // 6: resolved before t0: not in the backlog.
    desk.open_p3(inc(6), d(-5))
        .ack(inc(6), d(-5))
        .resolve(inc(6), d(-4));
    // 7: resolved, then reopened before t0: open again, 5 d old.
    desk.open_p3(inc(7), d(-5))
        .ack(inc(7), d(-5))
        .resolve(inc(7), d(-4))
        .reopen(inc(7), d(-1));
    // 8: opened after t0: not yet in the backlog at t0.
    desk.open_p3(inc(8), m(30));
    // 9: resolved after t0: still open at t0, 3 d old.
    desk.open_p3(inc(9), d(-3))
        .ack(inc(9), d(-3))
        .resolve(inc(9), m(30));

    let q = KpiQuery::new(window(d(-60), m(0))).as_of(d(1));
    let report = compute(&q, &desk.input());
    assert_eq!(report.backlog_at, m(0));
    let backlog = all(&report).backlog;
    // Ages, sorted: 2 h, 12 h, 72 h, 72 h, 120 h, 240 h, 960 h = 1478 h.
    assert_eq!(backlog.size, 7);
    assert_eq!(backlog.age.count, 7);
    assert_eq!(backlog.age.total_ms, 1478 * HOUR);
    assert_eq!(backlog.age.mean_ms, Some((1478 * HOUR) as f64 / 7.0));
    // Nearest rank: median = 4th of 7 (ceil 3.5) = 72 h; P90 = 7th of 7 (ceil 6.3) = 960 h.
    assert_eq!(backlog.age.median_ms, Some(72 * HOUR));
    assert_eq!(backlog.age.p90_ms, Some(960 * HOUR));
    assert_eq!(
        backlog.buckets,
        AgeBuckets {
            under_1d: 2,
            from_1d_to_7d: 3,
            from_7d_to_30d: 1,
            over_30d: 1,
        }
    );
}

#[test]
fn backlog_ages_can_leave_time_on_hold_out() {
    let mut desk = Desk::new();
    // 10 days old at t0; on hold day -8 -> -6 and again since day -2: 4 days on hold.
    desk.open_p3(inc(1), d(-10))
        .ack(inc(1), d(-10))
        .hold(inc(1), d(-8))
        .resume(inc(1), d(-6))
        .hold(inc(1), d(-2));
    let mut q = KpiQuery::new(window(d(-60), m(0))).as_of(d(1));
    assert_eq!(
        all(&compute(&q, &desk.input())).backlog.age.total_ms,
        10 * DAY
    );
    q.exclude_on_hold = true;
    let backlog = all(&compute(&q, &desk.input())).backlog;
    assert_eq!(backlog.age.total_ms, 6 * DAY);
    assert_eq!(backlog.age.median_ms, Some(6 * DAY));
    assert_eq!(backlog.buckets.from_1d_to_7d, 1);
}

fn change_desk() -> Desk {
    use ChangeFact::*;
    let mut desk = Desk::new();
    // c1: normal, authorised, implemented, successful.
    desk.change(
        chg(1),
        d(1),
        Requested {
            kind: ChangeKind::Normal,
        },
    )
    .change(chg(1), d(2), Authorized)
    .change(chg(1), d(3), ImplementationStarted)
    .change(
        chg(1),
        d(4),
        Closed {
            outcome: ChangeOutcome::Successful,
        },
    );
    // c2: normal, implemented without authorisation, unsuccessful, caused an incident.
    desk.change(
        chg(2),
        d(1),
        Requested {
            kind: ChangeKind::Normal,
        },
    )
    .change(chg(2), d(3), ImplementationStarted)
    .change(
        chg(2),
        d(5),
        Closed {
            outcome: ChangeOutcome::Unsuccessful,
        },
    )
    .change(chg(2), d(6), CausedIncident);
    // c3: standard (pre-authorised), successful with issues.
    desk.change(
        chg(3),
        d(1),
        Requested {
            kind: ChangeKind::Standard,
        },
    )
    .change(chg(3), d(2), ImplementationStarted)
    .change(
        chg(3),
        d(3),
        Closed {
            outcome: ChangeOutcome::SuccessfulWithIssues,
        },
    );
    // c4: emergency, authorised, then rejected (authorisation withdrawn), implemented anyway.
    desk.change(
        chg(4),
        d(2),
        Requested {
            kind: ChangeKind::Emergency,
        },
    )
    .change(chg(4), d(2), Authorized)
    .change(chg(4), d(3), AuthorizationWithdrawn)
    .change(chg(4), d(4), ImplementationStarted)
    .change(
        chg(4),
        d(5),
        Closed {
            outcome: ChangeOutcome::Successful,
        },
    );
    // c5: emergency, canceled.
    desk.change(
        chg(5),
        d(2),
        Requested {
            kind: ChangeKind::Emergency,
        },
    )
    .change(chg(5), d(3), Canceled);
    // c6: requested before the window, implemented (authorised) in it, closed after it.
    desk.change(
        chg(6),
        d(-5),
        Requested {
            kind: ChangeKind::Normal,
        },
    )
    .change(chg(6), d(-1), Authorized)
    .change(chg(6), d(1), ImplementationStarted)
    .change(
        chg(6),
        d(35),
        Closed {
            outcome: ChangeOutcome::Successful,
        },
    );
    // c7: requested as normal, turned into an emergency change.
    desk.change(
        chg(7),
        d(3),
        Requested {
            kind: ChangeKind::Normal,
        },
    )
    .change(
        chg(7),
        d(3),
        TypeChanged {
            kind: ChangeKind::Emergency,
        },
    );
    desk
}

#[test]
fn change_success_emergency_ratio_and_unauthorised_changes() {
    let desk = change_desk();
    let mut q = KpiQuery::new(window(d(0), d(30))).as_of(d(40));
    let report = compute(&q, &desk.input());
    let g = all(&report);
    // Closed in the window: c1 ok, c2 failed, c3 ok with issues, c4 ok: 3 / 4; c2 caused one.
    assert_eq!(g.change_success.rate, Ratio::new(3, 4));
    assert_eq!(g.change_success.rate.percent, Some(75.0));
    assert_eq!(g.change_success.caused_incidents, 1);
    // Requested in the window: c1, c2, c3, c4, c5, c7; emergency: c4, c5, c7: 3 / 6.
    assert_eq!(g.emergency_changes, Ratio::new(3, 6));
    // Implemented in the window: c1, c2, c3, c4, c6; unauthorised: c2, c4 (c3 is standard).
    assert_eq!(g.unauthorized_changes, Ratio::new(2, 5));
    // "With issues" as a failure: 2 / 4.
    q.with_issues_is_success = false;
    assert_eq!(
        all(&compute(&q, &desk.input())).change_success.rate,
        Ratio::new(2, 4)
    );
    // Grouped, changes have no priority: all in the "no priority" row.
    let grouped = compute(&q.group_by(GroupBy::Priority), &desk.input());
    assert_eq!(grouped.groups.len(), 1);
    assert_eq!(grouped.groups[0].key, GroupKey::Priority(None));
    assert_eq!(grouped.groups[0].unauthorized_changes, Ratio::new(2, 5));
}

#[test]
fn pir_on_time_is_the_share_of_major_incidents_reviewed_within_the_deadline() {
    let mut desk = Desk::new();
    for n in [1, 2, 3, 4, 6] {
        desk.open(
            inc(n),
            d(0),
            Impact::High,
            Urgency::High,
            Some("desk"),
            Some("alice"),
        )
        .major(inc(n), d(0) + chrono::Duration::minutes(5));
    }
    // 1: resolved day 2, review 48 h later: on time (deadline 72 h).
    desk.resolve(inc(1), d(2)).publish_review(inc(1), d(4));
    // 2: resolved day 3, review 80 h later: late.
    desk.resolve(inc(2), d(3))
        .publish_review(inc(2), d(3) + chrono::Duration::hours(80));
    // 3: resolved day 4, never reviewed: late once the deadline passed.
    desk.resolve(inc(3), d(4));
    // 4: resolved day 39, reviewed an hour later; the deadline (day 42) is after the horizon:
    //    pending.
    desk.resolve(inc(4), d(39))
        .publish_review(inc(4), d(39) + chrono::Duration::hours(1));
    // 5: not a major incident: not in the population.
    desk.open_p3(inc(5), d(1))
        .ack(inc(5), d(1))
        .resolve(inc(5), d(5));
    // 6: resolved day 6, reviewed exactly 72 h later: on time (the deadline is inclusive).
    desk.resolve(inc(6), d(6)).publish_review(inc(6), d(9));

    let q = KpiQuery::new(window(d(0), d(40))).as_of(d(40));
    let pir = all(&compute(&q, &desk.input())).pir_on_time;
    // Mature: 1 and 6 on time, 2 and 3 late: 2 / 4; 4 is pending.
    assert_eq!(pir.rate, Ratio::new(2, 4));
    assert_eq!(pir.pending, 1);
}

#[test]
fn grouping_uses_the_attributes_at_each_figures_defining_event() {
    let mut desk = Desk::new();
    // 1: acknowledged as a P3 of the desk after 5 min; then made P1 and handed to network;
    //    resolved after 60 min.
    desk.open_p3(inc(1), m(0))
        .ack(inc(1), m(5))
        .reprioritize(inc(1), m(10), Impact::High, Urgency::High)
        .assign(inc(1), m(20), Some("network"), None)
        .resolve(inc(1), m(60));
    // 2: a P5 without a group: acknowledged after 1 min, resolved after 31 min.
    desk.open(inc(2), m(0), Impact::Low, Urgency::Low, None, None)
        .ack(inc(2), m(1))
        .resolve(inc(2), m(31));
    let input = desk.input();
    let q = KpiQuery::new(window(m(-60), d(1))).as_of(d(10));

    let by_priority = compute(&q.clone().group_by(GroupBy::Priority), &input);
    let keys: Vec<_> = by_priority.groups.iter().map(|g| g.key.clone()).collect();
    assert_eq!(
        keys,
        vec![
            GroupKey::Priority(Some(Priority::Critical)),
            GroupKey::Priority(Some(Priority::Moderate)),
            GroupKey::Priority(Some(Priority::Planning)),
        ]
    );
    let p1 = row(&by_priority, &GroupKey::Priority(Some(Priority::Critical)));
    assert_eq!((p1.mtta, p1.mttr), (dur(0, 0), dur(1, 60 * MIN)));
    let p3 = row(&by_priority, &GroupKey::Priority(Some(Priority::Moderate)));
    assert_eq!((p3.mtta, p3.mttr), (dur(1, 5 * MIN), dur(0, 0)));
    let p5 = row(&by_priority, &GroupKey::Priority(Some(Priority::Planning)));
    assert_eq!((p5.mtta, p5.mttr), (dur(1, MIN), dur(1, 31 * MIN)));

    let by_group = compute(&q.clone().group_by(GroupBy::Group), &input);
    let desk_row = row(&by_group, &GroupKey::Group(Some(GroupId::new("desk"))));
    assert_eq!((desk_row.mtta, desk_row.mttr), (dur(1, 5 * MIN), dur(0, 0)));
    let network = row(&by_group, &GroupKey::Group(Some(GroupId::new("network"))));
    assert_eq!((network.mtta, network.mttr), (dur(0, 0), dur(1, 60 * MIN)));
    let none = row(&by_group, &GroupKey::Group(None));
    assert_eq!((none.mtta, none.mttr), (dur(1, MIN), dur(1, 31 * MIN)));

    // The groups add up to the ungrouped figures: 6 min over 2, 91 min over 2.
    let total = compute(&q, &input);
    assert_eq!(all(&total).mtta, dur(2, 6 * MIN));
    assert_eq!(all(&total).mttr, dur(2, 91 * MIN));
}

#[test]
fn an_empty_population_has_no_mean_and_no_percentage() {
    let report = compute(&KpiQuery::new(window(m(0), d(1))), &KpiInput::new());
    assert_eq!(
        report.horizon,
        d(1),
        "without input or as_of the window end stands in"
    );
    let g = all(&report);
    for figure in [g.mtta, g.mttr, g.mttd] {
        assert_eq!(figure, dur(0, 0));
        assert_eq!(figure.mean_ms, None);
    }
    assert_eq!(g.reassignment.mean, None);
    assert_eq!(g.backlog.age.mean_ms, None);
    assert_eq!(g.backlog.age.median_ms, None);
    assert_eq!(g.backlog.age.p90_ms, None);
    for ratio in [
        g.reopen_rate.rate,
        g.first_contact_resolution.rate,
        g.pir_on_time.rate,
        g.change_success.rate,
        g.emergency_changes,
        g.unauthorized_changes,
        g.reassignment.ping_pong,
    ] {
        assert_eq!(ratio, Ratio::new(0, 0));
        assert_eq!(ratio.percent, None);
    }
    assert!(g.sla.is_empty());
    // Grouped and empty: no rows at all.
    let grouped = compute(
        &KpiQuery::new(window(m(0), d(1))).group_by(GroupBy::Service),
        &KpiInput::new(),
    );
    assert!(grouped.groups.is_empty());
}

#[test]
fn as_of_is_truncation_and_no_as_of_means_the_latest_instant() {
    let mut desk = reassignment_desk();
    desk.sla = vec![sla(
        1,
        SlaMetric::Resolution,
        Priority::Moderate,
        m(0),
        30 * MIN,
        Some(m(30)),
        Some((m(60), 60 * MIN)),
        None,
    )];
    let input = desk.input();
    let q = KpiQuery::new(window(m(-60), d(30)));
    for cut in [m(0), m(10), m(30), m(45), m(60), d(1), d(36)] {
        let q = q.clone().as_of(cut);
        assert_eq!(
            compute(&q, &input),
            compute(&q, &input.truncated(cut)),
            "as of {cut}"
        );
    }
    // The latest instant is incident 6's resolution on day 35.
    assert_eq!(input.latest(), Some(d(35)));
    assert_eq!(
        compute(&q, &input),
        compute(&q.clone().as_of(d(35)), &input)
    );
}

#[test]
fn histories_keep_only_the_facts_kpis_read() {
    let mut desk = Desk::new();
    desk.open_p3(inc(1), m(0))
        .ack(inc(1), m(1))
        .run(
            m(2),
            opsledger_core::incident::IncidentCommand::AddWorkNote {
                id: inc(1),
                text: "looking".into(),
            },
        )
        .resolve(inc(1), m(3));
    let mut history: IncidentHistory = RecordHistory::new(inc(1));
    let pushed: Vec<bool> = desk.events.iter().map(|e| history.push_event(e)).collect();
    assert_eq!(pushed, vec![true, true, false, true]);
    assert_eq!(history.facts.len(), 3);
    assert_eq!(history.facts[1].fact, IncidentFact::Acknowledged);
    // Another incident's event is refused.
    let other = IncidentEvent::Acknowledged {
        id: inc(2),
        at: m(4),
        by: opsledger_core::ActorId::new("root"),
    };
    assert!(!history.push_event(&other));
    assert_eq!(history.truncated(m(1)).facts.len(), 2);
}

#[test]
fn queries_and_reports_survive_a_json_round_trip_and_have_schemas() {
    let desk = reassignment_desk();
    let q = KpiQuery::new(window(m(-60), d(30)))
        .as_of(d(40))
        .group_by(GroupBy::Group)
        .business(office());
    let report = compute(&q, &desk.input());
    let q2: KpiQuery = serde_json::from_str(&serde_json::to_string(&q).unwrap()).unwrap();
    assert_eq!(q2, q);
    let r2: KpiReport = serde_json::from_str(&serde_json::to_string(&report).unwrap()).unwrap();
    assert_eq!(r2, report);
    // Omitted fields take the documented defaults.
    let minimal: KpiQuery = serde_json::from_value(serde_json::json!({
        "window": { "start": "2026-01-01T00:00:00Z", "end": "2026-02-01T00:00:00Z" }
    }))
    .unwrap();
    assert_eq!(
        minimal,
        KpiQuery::new(window(utc(2026, 1, 1, 0, 0), utc(2026, 2, 1, 0, 0)))
    );
    let input = desk.input();
    let i2: KpiInput = serde_json::from_str(&serde_json::to_string(&input).unwrap()).unwrap();
    assert_eq!(i2, input);
    for schema in [
        schemars::schema_for!(KpiQuery),
        schemars::schema_for!(KpiReport),
        schemars::schema_for!(KpiInput),
    ] {
        assert!(serde_json::to_string(&schema).unwrap().len() > 100);
    }
}
