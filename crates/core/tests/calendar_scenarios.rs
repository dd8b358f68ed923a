//! Hand-worked business-calendar scenarios. Every expected number is worked out in the comments
//! from the zone's published offsets, so a failure points at the arithmetic, not at the test.

use chrono::{DateTime, Duration, NaiveDate, Utc, Weekday};
use opsledger_core::calendar::{
    BusinessCalendar, CalendarSpan, CalendarSpec, CalendarVersion, ClockInterval, ClockTime,
    SpanKind, TimeZoneName, WeeklySchedule,
};

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("bad instant {s}: {e}"))
        .with_timezone(&Utc)
}

fn date(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn iv(s: &str) -> ClockInterval {
    s.parse().unwrap()
}

fn ivs(list: &[&str]) -> Vec<ClockInterval> {
    list.iter().map(|s| iv(s)).collect()
}

fn h(hours: i64) -> Duration {
    Duration::hours(hours)
}

fn m(minutes: i64) -> Duration {
    Duration::minutes(minutes)
}

fn zone(name: &str) -> TimeZoneName {
    TimeZoneName::new(name).unwrap()
}

fn calendar(tz: &str, weekly: WeeklySchedule) -> BusinessCalendar {
    BusinessCalendar::new(CalendarSpec::new(
        "test",
        CalendarVersion(1),
        zone(tz),
        weekly,
    ))
    .unwrap()
}

fn with_holidays(tz: &str, weekly: WeeklySchedule, holidays: &[&str]) -> BusinessCalendar {
    let spec = CalendarSpec::new("test", CalendarVersion(1), zone(tz), weekly)
        .with_holidays(holidays.iter().map(|d| date(d)));
    BusinessCalendar::new(spec).unwrap()
}

fn span(start: &str, end: &str, kind: SpanKind) -> CalendarSpan {
    CalendarSpan {
        start: utc(start),
        end: utc(end),
        kind,
    }
}

/// The spans of `[a, b)`, checked for the invariants every caller relies on.
fn spans(cal: &BusinessCalendar, a: DateTime<Utc>, b: DateTime<Utc>) -> Vec<CalendarSpan> {
    let spans: Vec<CalendarSpan> = cal.intervals(a, b).collect();
    let working: Duration = spans
        .iter()
        .filter(|s| s.kind == SpanKind::Working)
        .map(CalendarSpan::duration)
        .sum();
    assert_eq!(working, cal.business_duration_between(a, b));
    spans
}

/// Berlin office hours, Monday to Friday 08:00-18:00.
fn berlin_office() -> WeeklySchedule {
    WeeklySchedule::weekdays(ivs(&["08:00-18:00"]))
}

#[test]
fn friday_evening_start_rolls_to_monday() {
    // Berlin in January is UTC+1. Friday 2025-01-10 17:00 local = 16:00Z.
    let cal = calendar("Europe/Berlin", berlin_office());
    let start = utc("2025-01-10T16:00:00Z");
    // 4 business hours: 1 h on Friday (17:00-18:00), then Monday 2025-01-13 08:00-11:00 local,
    // i.e. 11:00 local = 10:00Z.
    assert_eq!(
        cal.add_business_duration(start, h(4)),
        Some(utc("2025-01-13T10:00:00Z"))
    );
    assert_eq!(
        cal.business_duration_between(start, utc("2025-01-13T10:00:00Z")),
        h(4)
    );
    // Exactly the hour left on Friday ends at Friday 18:00 local (17:00Z), the first instant at
    // which the hour is used up, and not at Monday 08:00.
    assert_eq!(
        cal.add_business_duration(start, h(1)),
        Some(utc("2025-01-10T17:00:00Z"))
    );
    // One nanosecond more does reach Monday 08:00 local (07:00Z).
    assert_eq!(
        cal.add_business_duration(start, h(1) + Duration::nanoseconds(1)),
        Some(utc("2025-01-13T07:00:00.000000001Z"))
    );
    // A zero duration is the start itself, even outside hours.
    let saturday = utc("2025-01-11T12:00:00Z");
    assert_eq!(cal.add_business_duration(saturday, h(0)), Some(saturday));
    assert!(!cal.is_working(saturday));
    assert_eq!(cal.classify(saturday), SpanKind::OutsideHours);
    assert_eq!(
        cal.next_working_instant(saturday),
        Some(utc("2025-01-13T07:00:00Z"))
    );
    assert_eq!(cal.next_working_instant(start), Some(start));
    // The weekend, as an explanation would show it.
    assert_eq!(
        spans(&cal, start, utc("2025-01-13T10:00:00Z")),
        vec![
            span(
                "2025-01-10T16:00:00Z",
                "2025-01-10T17:00:00Z",
                SpanKind::Working
            ),
            span(
                "2025-01-10T17:00:00Z",
                "2025-01-13T07:00:00Z",
                SpanKind::OutsideHours
            ),
            span(
                "2025-01-13T07:00:00Z",
                "2025-01-13T10:00:00Z",
                SpanKind::Working
            ),
        ]
    );
}

#[test]
fn christmas_holidays_and_a_half_day_closure() {
    // Berlin in December is UTC+1. 2025-12-25 (Thu) and 2025-12-26 (Fri) are holidays;
    // 2025-12-31 (Wed) closes at 13:00.
    let spec = CalendarSpec::new(
        "berlin",
        CalendarVersion(3),
        zone("Europe/Berlin"),
        berlin_office(),
    )
    .with_holidays([date("2025-12-25"), date("2025-12-26")])
    .with_closure(date("2025-12-31"), ivs(&["13:00-18:00"]));
    let cal = BusinessCalendar::new(spec).unwrap();

    // Wednesday 24th 16:00 local = 15:00Z; 10 business hours = 2 h on the 24th (16:00-18:00),
    // none on Thu/Fri (holidays) or the weekend, then Monday 29th 08:00-16:00 local: 16:00
    // local = 15:00Z.
    let start = utc("2025-12-24T15:00:00Z");
    let due = utc("2025-12-29T15:00:00Z");
    assert_eq!(cal.add_business_duration(start, h(10)), Some(due));
    assert_eq!(cal.business_duration_between(start, due), h(10));
    assert_eq!(cal.classify(utc("2025-12-25T10:00:00Z")), SpanKind::Holiday);
    // The holiday is the whole local day: 25th 00:00 local (24th 23:00Z) to 27th 00:00 local
    // (26th 23:00Z).
    assert_eq!(
        spans(&cal, start, due),
        vec![
            span(
                "2025-12-24T15:00:00Z",
                "2025-12-24T17:00:00Z",
                SpanKind::Working
            ),
            span(
                "2025-12-24T17:00:00Z",
                "2025-12-24T23:00:00Z",
                SpanKind::OutsideHours
            ),
            span(
                "2025-12-24T23:00:00Z",
                "2025-12-26T23:00:00Z",
                SpanKind::Holiday
            ),
            span(
                "2025-12-26T23:00:00Z",
                "2025-12-29T07:00:00Z",
                SpanKind::OutsideHours
            ),
            span(
                "2025-12-29T07:00:00Z",
                "2025-12-29T15:00:00Z",
                SpanKind::Working
            ),
        ]
    );

    // New Year's Eve: 08:00-13:00 local (07:00Z-12:00Z) is 5 h; the closure 13:00-18:00 is
    // reported as Holiday; after 18:00 it is ordinary evening.
    let (a, b) = (utc("2025-12-31T06:00:00Z"), utc("2025-12-31T18:00:00Z"));
    assert_eq!(cal.business_duration_between(a, b), h(5));
    assert_eq!(
        spans(&cal, a, b),
        vec![
            span(
                "2025-12-31T06:00:00Z",
                "2025-12-31T07:00:00Z",
                SpanKind::OutsideHours
            ),
            span(
                "2025-12-31T07:00:00Z",
                "2025-12-31T12:00:00Z",
                SpanKind::Working
            ),
            span(
                "2025-12-31T12:00:00Z",
                "2025-12-31T17:00:00Z",
                SpanKind::Holiday
            ),
            span(
                "2025-12-31T17:00:00Z",
                "2025-12-31T18:00:00Z",
                SpanKind::OutsideHours
            ),
        ]
    );
    // 6 business hours from Wednesday 31st 07:00Z: 5 h that day, then (Thursday 1 January is
    // not a holiday in this calendar) 1 h from 08:00 local: 09:00 local = 08:00Z.
    assert_eq!(
        cal.add_business_duration(a + h(1), h(6)),
        Some(utc("2026-01-01T08:00:00Z"))
    );
}

#[test]
fn new_york_spring_forward_week() {
    // 2025-03-09 (Sunday) 02:00 EST (UTC-5) becomes 03:00 EDT (UTC-4).
    // Weekdays 09:00-17:00, plus all of Sunday.
    let weekly = WeeklySchedule::weekdays(ivs(&["09:00-17:00"]))
        .with(Weekday::Sun, vec![ClockInterval::WHOLE_DAY]);
    let cal = calendar("America/New_York", weekly);
    // Friday 7th 09:00-17:00 EST = 14:00Z-22:00Z: 8 h.
    // Sunday 9th 00:00 EST (05:00Z) to Monday 10th 00:00 EDT (04:00Z): 23 h.
    // Monday 10th 09:00-17:00 EDT = 13:00Z-21:00Z: 8 h.
    let (a, b) = (utc("2025-03-07T00:00:00Z"), utc("2025-03-11T00:00:00Z"));
    assert_eq!(cal.business_duration_between(a, b), h(8 + 23 + 8));
    assert_eq!(
        spans(&cal, a, b),
        vec![
            span(
                "2025-03-07T00:00:00Z",
                "2025-03-07T14:00:00Z",
                SpanKind::OutsideHours
            ),
            span(
                "2025-03-07T14:00:00Z",
                "2025-03-07T22:00:00Z",
                SpanKind::Working
            ),
            span(
                "2025-03-07T22:00:00Z",
                "2025-03-09T05:00:00Z",
                SpanKind::OutsideHours
            ),
            span(
                "2025-03-09T05:00:00Z",
                "2025-03-10T04:00:00Z",
                SpanKind::Working
            ),
            span(
                "2025-03-10T04:00:00Z",
                "2025-03-10T13:00:00Z",
                SpanKind::OutsideHours
            ),
            span(
                "2025-03-10T13:00:00Z",
                "2025-03-10T21:00:00Z",
                SpanKind::Working
            ),
            span(
                "2025-03-10T21:00:00Z",
                "2025-03-11T00:00:00Z",
                SpanKind::OutsideHours
            ),
        ]
    );
    // From Saturday noon EST (17:00Z): 23 h is all of Sunday, due at Monday 00:00 EDT (04:00Z);
    // 24 h adds Monday 09:00-10:00 EDT, due 10:00 EDT = 14:00Z. (Wall-clock arithmetic that
    // ignored the change would say 23 h ends at Sunday 23:00 and be an hour early.)
    let saturday = utc("2025-03-08T17:00:00Z");
    assert_eq!(
        cal.add_business_duration(saturday, h(23)),
        Some(utc("2025-03-10T04:00:00Z"))
    );
    assert_eq!(
        cal.add_business_duration(saturday, h(24)),
        Some(utc("2025-03-10T14:00:00Z"))
    );
    // Across two whole weeks the 9-17 hours are 8 real hours every weekday, DST or not.
    let office = calendar(
        "America/New_York",
        WeeklySchedule::weekdays(ivs(&["09:00-17:00"])),
    );
    assert_eq!(
        office.business_duration_between(utc("2025-03-03T00:00:00Z"), utc("2025-03-17T00:00:00Z")),
        h(10 * 8)
    );
}

#[test]
fn new_york_spring_forward_boundaries_in_the_gap() {
    // Local 02:00-03:00 does not exist on 2025-03-09; a boundary there acts as 03:00 EDT
    // (07:00Z), the first instant after the gap.
    let sunday = |interval: &str| {
        calendar(
            "America/New_York",
            WeeklySchedule::closed().with(Weekday::Sun, ivs(&[interval])),
        )
    };
    let (a, b) = (utc("2025-03-09T00:00:00Z"), utc("2025-03-10T12:00:00Z"));
    // 01:00 EST (06:00Z) to the jump (07:00Z): 1 h.
    let early = sunday("01:00-03:00");
    assert_eq!(early.business_duration_between(a, b), h(1));
    assert_eq!(
        spans(&early, a, b)[1],
        span(
            "2025-03-09T06:00:00Z",
            "2025-03-09T07:00:00Z",
            SpanKind::Working
        )
    );
    // 01:00-02:30: the end falls in the gap, so it also ends at the jump: 1 h.
    assert_eq!(sunday("01:00-02:30").business_duration_between(a, b), h(1));
    // 02:30-05:00: starts at the jump, 03:00 EDT (07:00Z), ends 05:00 EDT (09:00Z): 2 h.
    let late = sunday("02:30-05:00");
    assert_eq!(late.business_duration_between(a, b), h(2));
    assert_eq!(
        late.next_working_instant(a),
        Some(utc("2025-03-09T07:00:00Z"))
    );
    // 02:00-02:30 lies wholly in the gap: nothing that day.
    let never = sunday("02:00-02:30");
    assert_eq!(never.business_duration_between(a, b), h(0));
    // ... but it exists a week later: 02:00 EDT = 06:00Z on 2025-03-16.
    assert_eq!(
        never.next_working_instant(a),
        Some(utc("2025-03-16T06:00:00Z"))
    );
    // The whole day is 23 h.
    assert_eq!(sunday("00:00-24:00").business_duration_between(a, b), h(23));
}

#[test]
fn berlin_fall_back_week() {
    // 2025-10-26 (Sunday) 03:00 CEST (UTC+2) becomes 02:00 CET (UTC+1), at 01:00Z.
    // Weekdays 08:00-18:00, plus all of Sunday.
    let weekly = berlin_office().with(Weekday::Sun, vec![ClockInterval::WHOLE_DAY]);
    let cal = calendar("Europe/Berlin", weekly);
    // Friday 24th 08:00-18:00 CEST = 06:00Z-16:00Z: 10 h.
    // Sunday 26th 00:00 CEST (25th 22:00Z) to Monday 27th 00:00 CET (26th 23:00Z): 25 h.
    // Monday 27th 08:00-18:00 CET = 07:00Z-17:00Z: 10 h.
    let (a, b) = (utc("2025-10-24T00:00:00Z"), utc("2025-10-28T00:00:00Z"));
    assert_eq!(cal.business_duration_between(a, b), h(10 + 25 + 10));
    assert_eq!(
        spans(&cal, a, b),
        vec![
            span(
                "2025-10-24T00:00:00Z",
                "2025-10-24T06:00:00Z",
                SpanKind::OutsideHours
            ),
            span(
                "2025-10-24T06:00:00Z",
                "2025-10-24T16:00:00Z",
                SpanKind::Working
            ),
            span(
                "2025-10-24T16:00:00Z",
                "2025-10-25T22:00:00Z",
                SpanKind::OutsideHours
            ),
            span(
                "2025-10-25T22:00:00Z",
                "2025-10-26T23:00:00Z",
                SpanKind::Working
            ),
            span(
                "2025-10-26T23:00:00Z",
                "2025-10-27T07:00:00Z",
                SpanKind::OutsideHours
            ),
            span(
                "2025-10-27T07:00:00Z",
                "2025-10-27T17:00:00Z",
                SpanKind::Working
            ),
            span(
                "2025-10-27T17:00:00Z",
                "2025-10-28T00:00:00Z",
                SpanKind::OutsideHours
            ),
        ]
    );
    // From Saturday 25th 12:00Z: 25 h is all of Sunday, due Monday 00:00 CET (26th 23:00Z);
    // 26 h adds Monday 08:00-09:00 CET, due 09:00 CET = 08:00Z.
    let saturday = utc("2025-10-25T12:00:00Z");
    assert_eq!(
        cal.add_business_duration(saturday, h(25)),
        Some(utc("2025-10-26T23:00:00Z"))
    );
    assert_eq!(
        cal.add_business_duration(saturday, h(26)),
        Some(utc("2025-10-27T08:00:00Z"))
    );
    // An 08:00-18:00 Sunday holds its 10 real hours: 07:00Z-17:00Z.
    let day = calendar(
        "Europe/Berlin",
        WeeklySchedule::closed().with(Weekday::Sun, ivs(&["08:00-18:00"])),
    );
    assert_eq!(day.business_duration_between(a, b), h(10));
}

#[test]
fn berlin_fall_back_boundaries_in_the_repeated_hour() {
    // Local 02:00-03:00 is shown twice on 2025-10-26: 00:00Z-01:00Z (CEST) and 01:00Z-02:00Z
    // (CET). Every showing of a working wall-clock time counts.
    let sunday = |interval: &str| {
        calendar(
            "Europe/Berlin",
            WeeklySchedule::closed().with(Weekday::Sun, ivs(&[interval])),
        )
    };
    let (a, b) = (utc("2025-10-25T12:00:00Z"), utc("2025-10-26T12:00:00Z"));
    // 02:30-05:00: 02:30-03:00 CEST (00:30Z-01:00Z), then the clock shows 02:00-02:30 again
    // (01:00Z-01:30Z, before the start), then 02:30-05:00 CET (01:30Z-04:00Z): 0.5 h + 2.5 h.
    let late = sunday("02:30-05:00");
    assert_eq!(late.business_duration_between(a, b), h(3));
    assert_eq!(
        spans(&late, a, b),
        vec![
            span(
                "2025-10-25T12:00:00Z",
                "2025-10-26T00:30:00Z",
                SpanKind::OutsideHours
            ),
            span(
                "2025-10-26T00:30:00Z",
                "2025-10-26T01:00:00Z",
                SpanKind::Working
            ),
            span(
                "2025-10-26T01:00:00Z",
                "2025-10-26T01:30:00Z",
                SpanKind::OutsideHours
            ),
            span(
                "2025-10-26T01:30:00Z",
                "2025-10-26T04:00:00Z",
                SpanKind::Working
            ),
            span(
                "2025-10-26T04:00:00Z",
                "2025-10-26T12:00:00Z",
                SpanKind::OutsideHours
            ),
        ]
    );
    // 00:00-02:30: 00:00-02:30 CEST (25th 22:00Z to 00:30Z), then 02:00-02:30 CET
    // (01:00Z-01:30Z): 2.5 h + 0.5 h.
    let early = sunday("00:00-02:30");
    assert_eq!(early.business_duration_between(a, b), h(3));
    // Half an hour into the second showing: 2.5 h + 0.5 h is used up at 01:30Z.
    assert_eq!(
        early.add_business_duration(a, h(3)),
        Some(utc("2025-10-26T01:30:00Z"))
    );
    // 02:00-03:00 is the repeated hour itself: 2 real hours.
    assert_eq!(sunday("02:00-03:00").business_duration_between(a, b), h(2));
}

#[test]
fn overnight_shift_across_both_new_york_changes() {
    // 22:00-06:00 every night, written as 22:00-24:00 and 00:00-06:00 on every day.
    let mut weekly = WeeklySchedule::closed();
    for day in WeeklySchedule::DAYS {
        weekly.set(day, ivs(&["00:00-06:00", "22:00-24:00"]));
    }
    let cal = calendar("America/New_York", weekly);

    // Fall back: Saturday 2025-11-01 22:00 EDT (2nd 02:00Z) to Sunday 06:00 EST (11:00Z) is
    // 9 real hours, one span although it crosses midnight.
    let (a, b) = (utc("2025-11-01T12:00:00Z"), utc("2025-11-02T18:00:00Z"));
    assert_eq!(cal.business_duration_between(a, b), h(9));
    assert_eq!(
        spans(&cal, a, b),
        vec![
            span(
                "2025-11-01T12:00:00Z",
                "2025-11-02T02:00:00Z",
                SpanKind::OutsideHours
            ),
            span(
                "2025-11-02T02:00:00Z",
                "2025-11-02T11:00:00Z",
                SpanKind::Working
            ),
            span(
                "2025-11-02T11:00:00Z",
                "2025-11-02T18:00:00Z",
                SpanKind::OutsideHours
            ),
        ]
    );
    // 8 h of the shift are used up at 05:00 EST (10:00Z), not at 06:00.
    assert_eq!(
        cal.add_business_duration(a, h(8)),
        Some(utc("2025-11-02T10:00:00Z"))
    );

    // Spring forward: Saturday 2025-03-08 22:00 EST (9th 03:00Z) to Sunday 06:00 EDT (10:00Z)
    // is 7 real hours.
    let (a, b) = (utc("2025-03-08T12:00:00Z"), utc("2025-03-09T18:00:00Z"));
    assert_eq!(cal.business_duration_between(a, b), h(7));
    assert_eq!(
        cal.add_business_duration(a, h(8)),
        // 7 h that night, then the next night from Sunday 22:00 EDT (10th 02:00Z): 1 h later.
        Some(utc("2025-03-10T03:00:00Z"))
    );
}

#[test]
fn lord_howe_half_hour_changes() {
    // Australia/Lord_Howe moves its clock by 30 minutes: UTC+11 in summer, UTC+10:30 in winter.
    let cal = calendar(
        "Australia/Lord_Howe",
        WeeklySchedule::closed().with(Weekday::Sun, vec![ClockInterval::WHOLE_DAY]),
    );
    // Sunday 2025-04-06, 02:00 +11 becomes 01:30 +10:30: from 00:00 +11 (5th 13:00Z) to the
    // next midnight +10:30 (6th 13:30Z) is 24.5 h.
    assert_eq!(
        cal.business_duration_between(utc("2025-04-05T00:00:00Z"), utc("2025-04-07T00:00:00Z")),
        h(24) + m(30)
    );
    // Sunday 2025-10-05, 02:00 +10:30 becomes 02:30 +11: 00:00 +10:30 (4th 13:30Z) to the next
    // midnight +11 (5th 13:00Z) is 23.5 h.
    assert_eq!(
        cal.business_duration_between(utc("2025-10-04T00:00:00Z"), utc("2025-10-06T00:00:00Z")),
        h(23) + m(30)
    );
    assert_eq!(
        cal.add_business_duration(utc("2025-10-04T00:00:00Z"), h(23) + m(30)),
        Some(utc("2025-10-05T13:00:00Z"))
    );
}

#[test]
fn havana_repeats_midnight() {
    // America/Havana sets 01:00 CDT (UTC-4) back to 00:00 CST (UTC-5) on Sunday 2025-11-02,
    // at 05:00Z, so Sunday's 00:00-01:00 is shown twice. Saturday 22:00-24:00 is working and
    // Sunday is a holiday.
    let cal = with_holidays(
        "America/Havana",
        WeeklySchedule::closed().with(Weekday::Sat, ivs(&["22:00-24:00"])),
        &["2025-11-02"],
    );
    let (a, b) = (utc("2025-11-01T12:00:00Z"), utc("2025-11-03T12:00:00Z"));
    // The shift ends the first time the clock shows Sunday 00:00 (04:00Z): 2 h, and the whole
    // of Sunday as the clock shows it (04:00Z to Monday 00:00 CST = 05:00Z) is the holiday,
    // 25 h.
    assert_eq!(cal.business_duration_between(a, b), h(2));
    assert_eq!(
        spans(&cal, a, b),
        vec![
            span(
                "2025-11-01T12:00:00Z",
                "2025-11-02T02:00:00Z",
                SpanKind::OutsideHours
            ),
            span(
                "2025-11-02T02:00:00Z",
                "2025-11-02T04:00:00Z",
                SpanKind::Working
            ),
            span(
                "2025-11-02T04:00:00Z",
                "2025-11-03T05:00:00Z",
                SpanKind::Holiday
            ),
            span(
                "2025-11-03T05:00:00Z",
                "2025-11-03T12:00:00Z",
                SpanKind::OutsideHours
            ),
        ]
    );
}

#[test]
fn a_whole_year_in_berlin() {
    // 2025 has 261 weekdays (1 January is a Wednesday: 52 weeks + 1 day). Nine holidays fall on
    // weekdays, leaving 252 days of 8 hours = 2016 h.
    let cal = with_holidays(
        "Europe/Berlin",
        WeeklySchedule::weekdays(ivs(&["09:00-17:00"])),
        &[
            "2025-01-01",
            "2025-04-18",
            "2025-04-21",
            "2025-05-01",
            "2025-05-29",
            "2025-06-09",
            "2025-10-03",
            "2025-12-25",
            "2025-12-26",
        ],
    );
    // Local midnights (UTC+1 in winter).
    let (a, b) = (utc("2024-12-31T23:00:00Z"), utc("2025-12-31T23:00:00Z"));
    let started = std::time::Instant::now();
    assert_eq!(cal.business_duration_between(a, b), h(2016));
    // The last hour is Wednesday 31 December 16:00-17:00 local; all of it is used up at 17:00
    // local = 16:00Z.
    assert_eq!(
        cal.add_business_duration(a, h(2016)),
        Some(utc("2025-12-31T16:00:00Z"))
    );
    let working = cal
        .intervals(a, b)
        .filter(|s| s.kind == SpanKind::Working)
        .count();
    assert_eq!(working, 252);
    eprintln!(
        "one year of between + add + intervals: {:?}",
        started.elapsed()
    );
}

#[test]
fn always_is_exact_elapsed_time() {
    let cal = BusinessCalendar::always();
    assert!(cal.is_always());
    assert_eq!(cal.id().as_str(), "24x7");
    let a = utc("2025-03-09T06:59:59.123456789Z");
    let b = utc("2125-03-09T07:00:00Z");
    assert_eq!(cal.business_duration_between(a, b), b - a);
    assert_eq!(cal.add_business_duration(a, b - a), Some(b));
    assert_eq!(cal.next_working_instant(a), Some(a));
    assert_eq!(
        cal.intervals(a, b).collect::<Vec<_>>(),
        vec![CalendarSpan {
            start: a,
            end: b,
            kind: SpanKind::Working
        }]
    );
    // Whole days in a DST zone are also "always": every instant's clock shows a working time.
    let ny = calendar("America/New_York", WeeklySchedule::always());
    assert!(ny.is_always());
    assert_eq!(ny.business_duration_between(a, b), b - a);
}

#[test]
fn nothing_to_find_gives_none() {
    let closed = calendar("Europe/Berlin", WeeklySchedule::closed());
    let t = utc("2025-01-01T00:00:00Z");
    assert!(!closed.has_working_hours());
    assert_eq!(closed.add_business_duration(t, h(1)), None);
    assert_eq!(closed.add_business_duration(t, h(0)), Some(t));
    assert_eq!(closed.next_working_instant(t), None);
    assert_eq!(closed.business_duration_between(t, t + h(100)), h(0));
    // One minute a week takes 60 weeks to make an hour: found well inside the horizon.
    let sparse = calendar(
        "Europe/Berlin",
        WeeklySchedule::closed().with(Weekday::Mon, ivs(&["10:00-10:01"])),
    );
    let due = sparse.add_business_duration(t, h(1)).unwrap();
    assert_eq!(sparse.business_duration_between(t, due), h(1));
    assert!(due > t + Duration::weeks(59) && due < t + Duration::weeks(61));
    // Reversed or empty ranges hold no business time and no spans.
    assert_eq!(sparse.business_duration_between(due, t), h(0));
    assert_eq!(sparse.intervals(due, t).count(), 0);
}

#[test]
fn validation_rejects_bad_input() {
    let bad = |weekly: WeeklySchedule| {
        BusinessCalendar::new(CalendarSpec::new(
            "x",
            CalendarVersion(1),
            zone("UTC"),
            weekly,
        ))
    };
    // Overlapping and unsorted days are refused, naming the field.
    let overlapping =
        WeeklySchedule::closed().with(Weekday::Tue, ivs(&["08:00-12:00", "11:00-14:00"]));
    let err = bad(overlapping).unwrap_err().to_string();
    assert!(err.contains("weekly.tuesday[1]"), "{err}");
    let unsorted =
        WeeklySchedule::closed().with(Weekday::Mon, ivs(&["13:00-14:00", "08:00-12:00"]));
    assert!(bad(unsorted).is_err());
    // Touching intervals are fine.
    assert!(
        bad(WeeklySchedule::weekdays(ivs(&[
            "08:00-12:00",
            "12:00-18:00"
        ])))
        .is_ok()
    );
    // Empty or reversed intervals.
    assert!("10:00-10:00".parse::<ClockInterval>().is_err());
    assert!("18:00-08:00".parse::<ClockInterval>().is_err());
    let reversed = ClockInterval {
        start: ClockTime::from_hm(18, 0).unwrap(),
        end: ClockTime::from_hm(8, 0).unwrap(),
    };
    assert!(bad(WeeklySchedule::closed().with(Weekday::Fri, vec![reversed])).is_err());
    // Times: 24:00 is the only hour-24 time.
    assert_eq!(ClockTime::from_hm(24, 0), Some(ClockTime::END_OF_DAY));
    assert!(ClockTime::from_hm(24, 1).is_none());
    assert!("24:00:01".parse::<ClockTime>().is_err());
    assert!("7:00".parse::<ClockTime>().is_err());
    assert_eq!(
        "07:30:15"
            .parse::<ClockTime>()
            .unwrap()
            .seconds_from_midnight(),
        27_015
    );
    // Zones are IANA names.
    assert!(TimeZoneName::new("Europe/Atlantis").is_err());
    assert!(TimeZoneName::new("CEST").is_err());
    // Ids, closures.
    let spec = CalendarSpec::new(
        " ",
        CalendarVersion(1),
        zone("UTC"),
        WeeklySchedule::always(),
    );
    assert!(BusinessCalendar::new(spec).is_err());
    let spec = CalendarSpec::new(
        "x",
        CalendarVersion(1),
        zone("UTC"),
        WeeklySchedule::always(),
    )
    .with_closure(date("2025-01-01"), vec![]);
    assert!(BusinessCalendar::new(spec).is_err());
}

#[test]
fn serde_round_trip_validates_and_schema_exists() {
    let spec = CalendarSpec::new(
        "emea",
        CalendarVersion(7),
        zone("Europe/Berlin"),
        berlin_office().with(Weekday::Sat, ivs(&["22:00-24:00"])),
    )
    .with_holidays([date("2025-12-25")])
    .with_closure(date("2025-12-31"), ivs(&["13:00-18:00"]));
    let cal = BusinessCalendar::new(spec).unwrap();
    let json = serde_json::to_value(&cal).unwrap();
    assert_eq!(json["time_zone"], "Europe/Berlin");
    assert_eq!(json["version"], 7);
    assert_eq!(json["weekly"]["saturday"][0]["end"], "24:00");
    assert_eq!(json["holidays"][0], "2025-12-25");
    assert_eq!(json["closures"]["2025-12-31"][0]["start"], "13:00");
    let back: BusinessCalendar = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(back, cal);

    // Deserializing validates like the constructor.
    let mut overlapping = json.clone();
    overlapping["weekly"]["monday"] = serde_json::json!([
        {"start": "08:00", "end": "12:00"},
        {"start": "11:00", "end": "13:00"}
    ]);
    assert!(serde_json::from_value::<BusinessCalendar>(overlapping).is_err());
    let mut bad_zone = json.clone();
    bad_zone["time_zone"] = "Mars/Olympus_Mons".into();
    assert!(serde_json::from_value::<BusinessCalendar>(bad_zone).is_err());
    let mut bad_time = json;
    bad_time["weekly"]["monday"][0]["end"] = "25:00".into();
    assert!(serde_json::from_value::<BusinessCalendar>(bad_time).is_err());

    let schema = serde_json::to_string(&schemars::schema_for!(BusinessCalendar)).unwrap();
    assert!(
        schema.contains("time_zone") && schema.contains("closures"),
        "{schema}"
    );
    let span = serde_json::to_value(CalendarSpan {
        start: utc("2025-01-01T00:00:00Z"),
        end: utc("2025-01-01T01:00:00Z"),
        kind: SpanKind::OutsideHours,
    })
    .unwrap();
    assert_eq!(span["kind"], "outside_hours");
}

#[test]
fn new_york_fall_back_examples_from_the_module_docs() {
    // 2025-11-02: 02:00 EDT (UTC-4) becomes 01:00 EST (UTC-5) at 06:00Z.
    let sunday = |interval: &str| {
        calendar(
            "America/New_York",
            WeeklySchedule::closed().with(Weekday::Sun, ivs(&[interval])),
        )
    };
    let (a, b) = (utc("2025-11-01T12:00:00Z"), utc("2025-11-03T12:00:00Z"));
    // 01:30-02:00 EDT (05:30Z-06:00Z) plus 01:30-05:00 EST (06:30Z-10:00Z) = 4 h.
    assert_eq!(sunday("01:30-05:00").business_duration_between(a, b), h(4));
    // 00:00-01:30 EDT (04:00Z-05:30Z) plus 01:00-01:30 EST (06:00Z-06:30Z) = 2 h.
    assert_eq!(sunday("00:00-01:30").business_duration_between(a, b), h(2));
    assert_eq!(sunday("08:00-18:00").business_duration_between(a, b), h(10));
    assert_eq!(sunday("00:00-24:00").business_duration_between(a, b), h(25));
}
