//! Property tests of business-calendar arithmetic against a brute-force reference.
//!
//! The reference is the calendar's rule stated minute by minute: convert the instant to the
//! zone's wall clock with chrono-tz and look the local date and time up in the weekly hours,
//! holidays and closures. Calendars are random (intervals on minute boundaries, biased to half
//! hours so that boundaries land inside DST gaps and overlaps), and windows are random within
//! weeks that contain clock changes in several zones.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use opsledger_core::calendar::{
    BusinessCalendar, CalendarSpan, CalendarSpec, CalendarVersion, ClockInterval, ClockTime,
    SpanKind, TimeZoneName, WeeklySchedule,
};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

/// Weeks around a clock change (the anchor is the day of the change), plus a few without one.
const WEEKS: &[(&str, &str)] = &[
    ("America/New_York", "2024-03-10"),
    ("America/New_York", "2024-11-03"),
    ("America/New_York", "2025-03-09"),
    ("America/New_York", "2025-11-02"),
    ("Europe/Berlin", "2024-03-31"),
    ("Europe/Berlin", "2024-10-27"),
    ("Europe/Berlin", "2025-03-30"),
    ("Europe/Berlin", "2025-10-26"),
    ("Australia/Lord_Howe", "2025-04-06"),
    ("Australia/Lord_Howe", "2025-10-05"),
    ("America/Havana", "2025-03-09"),
    ("America/Havana", "2025-11-02"),
    ("Asia/Kolkata", "2025-06-15"),
    ("UTC", "2025-06-15"),
    ("America/New_York", "2025-07-16"),
];

/// A generated calendar, in minutes, shared by the real calendar and the reference.
#[derive(Debug, Clone)]
struct Shape {
    weekly: Vec<Vec<(u32, u32)>>,
    /// Days relative to the anchor.
    holidays: Vec<i64>,
    closures: Vec<(i64, (u32, u32))>,
}

/// Minutes from midnight: mostly half-hour marks (where clocks change), sometimes any minute.
fn boundary() -> impl Strategy<Value = u32> {
    prop_oneof![
        3 => (0u32..=48).prop_map(|h| h * 30),
        1 => 0u32..=1440,
    ]
}

/// One day's intervals: sorted distinct boundaries taken in pairs.
fn day() -> impl Strategy<Value = Vec<(u32, u32)>> {
    prop::collection::btree_set(boundary(), 0..=6).prop_map(|set| {
        let points: Vec<u32> = set.into_iter().collect();
        points.chunks_exact(2).map(|p| (p[0], p[1])).collect()
    })
}

fn shape() -> impl Strategy<Value = Shape> {
    (
        prop::collection::vec(day(), 7),
        prop::collection::vec(-4i64..5, 0..3),
        prop::collection::vec((-4i64..5, (0u32..1380, 1u32..600)), 0..2),
    )
        .prop_map(|(weekly, holidays, closures)| Shape {
            weekly,
            holidays,
            closures: closures
                .into_iter()
                .map(|(d, (s, len))| (d, (s, (s + len).min(1440))))
                .collect(),
        })
}

fn clock(minutes: u32) -> ClockTime {
    ClockTime::from_hms(minutes / 60, minutes % 60, 0).unwrap()
}

fn interval((s, e): (u32, u32)) -> ClockInterval {
    ClockInterval::new(clock(s), clock(e)).unwrap()
}

/// The calendar under test and the reference, from one shape.
fn build(zone: &str, anchor: NaiveDate, shape: &Shape) -> (BusinessCalendar, Reference) {
    let mut weekly = WeeklySchedule::closed();
    for (day, intervals) in WeeklySchedule::DAYS.iter().zip(&shape.weekly) {
        weekly.set(*day, intervals.iter().copied().map(interval).collect());
    }
    let holidays: BTreeSet<NaiveDate> = shape
        .holidays
        .iter()
        .map(|d| anchor + Duration::days(*d))
        .collect();
    let mut closures: BTreeMap<NaiveDate, Vec<(u32, u32)>> = BTreeMap::new();
    for (d, range) in &shape.closures {
        closures.insert(anchor + Duration::days(*d), vec![*range]);
    }
    let mut spec = CalendarSpec::new(
        "prop",
        CalendarVersion(1),
        TimeZoneName::new(zone).unwrap(),
        weekly,
    )
    .with_holidays(holidays.iter().copied());
    for (date, ranges) in &closures {
        spec = spec.with_closure(*date, ranges.iter().copied().map(interval).collect());
    }
    let reference = Reference {
        tz: zone.parse().unwrap(),
        weekly: shape.weekly.clone(),
        holidays,
        closures,
    };
    (BusinessCalendar::new(spec).unwrap(), reference)
}

/// The rule, minute by minute.
struct Reference {
    tz: Tz,
    weekly: Vec<Vec<(u32, u32)>>,
    holidays: BTreeSet<NaiveDate>,
    closures: BTreeMap<NaiveDate, Vec<(u32, u32)>>,
}

impl Reference {
    fn kind(&self, t: DateTime<Utc>) -> SpanKind {
        let local = self.tz.from_utc_datetime(&t.naive_utc()).naive_local();
        let date = local.date();
        let second = local.time().num_seconds_from_midnight();
        let inside = |ranges: &[(u32, u32)]| {
            ranges
                .iter()
                .any(|(s, e)| s * 60 <= second && second < e * 60)
        };
        if self.holidays.contains(&date) || self.closures.get(&date).is_some_and(|c| inside(c)) {
            SpanKind::Holiday
        } else if inside(&self.weekly[date.weekday().num_days_from_monday() as usize]) {
            SpanKind::Working
        } else {
            SpanKind::OutsideHours
        }
    }

    /// The kind of each minute of `[a, a + minutes)`.
    fn minutes(&self, a: DateTime<Utc>, minutes: i64) -> Vec<SpanKind> {
        (0..minutes)
            .map(|i| self.kind(a + Duration::minutes(i)))
            .collect()
    }
}

fn anchor_midnight(anchor: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&anchor.and_hms_opt(0, 0, 0).unwrap())
}

/// Everything that can be checked against the minute-by-minute reference on `[a, a + len)`.
fn check_against_reference(
    cal: &BusinessCalendar,
    reference: &Reference,
    a: DateTime<Utc>,
    len: i64,
    probes: &[i64],
) -> Result<(), TestCaseError> {
    let b = a + Duration::minutes(len);
    let kinds = reference.minutes(a, len);
    let working_minutes = kinds.iter().filter(|k| **k == SpanKind::Working).count() as i64;

    // Point queries agree with the rule at every minute.
    for (i, kind) in kinds.iter().enumerate() {
        let t = a + Duration::minutes(i as i64);
        prop_assert_eq!(cal.classify(t), *kind, "classify at {}", t);
    }

    // between = the brute-force count.
    prop_assert_eq!(
        cal.business_duration_between(a, b),
        Duration::minutes(working_minutes)
    );

    // intervals cover [a, b) in order, are maximal, and agree with every minute.
    let spans: Vec<CalendarSpan> = cal.intervals(a, b).collect();
    let mut cursor = a;
    for (i, span) in spans.iter().enumerate() {
        prop_assert_eq!(span.start, cursor);
        prop_assert!(span.start < span.end);
        if i > 0 {
            prop_assert_ne!(spans[i - 1].kind, span.kind);
        }
        let first = (span.start - a).num_minutes();
        let last = (span.end - a).num_minutes();
        for (m, kind) in kinds[first as usize..last as usize].iter().enumerate() {
            prop_assert_eq!(
                *kind,
                span.kind,
                "minute {} in {:?}",
                first + m as i64,
                span
            );
        }
        cursor = span.end;
    }
    prop_assert_eq!(cursor, if len > 0 { b } else { a });

    // next_working_instant: the first working minute, or none before b.
    let first_working = kinds.iter().position(|k| *k == SpanKind::Working);
    let next = cal.next_working_instant(a);
    match first_working {
        Some(i) => prop_assert_eq!(next, Some(a + Duration::minutes(i as i64))),
        None => prop_assert!(next.is_none_or(|t| t >= b && cal.is_working(t))),
    }

    // Round trip: add(a, between(a, x)) is the first instant at which that much business time
    // has passed, i.e. the end of the last working minute before x (or a itself).
    for &probe in probes {
        let k = probe.rem_euclid(len + 1);
        let x = a + Duration::minutes(k);
        let d = cal.business_duration_between(a, x);
        let expected = match kinds[..k as usize]
            .iter()
            .rposition(|kind| *kind == SpanKind::Working)
        {
            Some(m) => a + Duration::minutes(m as i64 + 1),
            None => a,
        };
        prop_assert_eq!(cal.add_business_duration(a, d), Some(expected), "x = {}", x);
    }
    Ok(())
}

/// Properties that need no reference: exactness, monotonicity, additivity, at any precision.
fn check_algebra(
    cal: &BusinessCalendar,
    a: DateTime<Utc>,
    durations: &mut [Duration],
    cuts: &mut [DateTime<Utc>],
) -> Result<(), TestCaseError> {
    durations.sort();
    let mut previous = a;
    for d in durations.iter() {
        let Some(t) = cal.add_business_duration(a, *d) else {
            prop_assert!(!cal.has_working_hours());
            continue;
        };
        // Exact: the business time from a to the result is d.
        prop_assert_eq!(cal.business_duration_between(a, t), *d);
        // Monotonic in d.
        prop_assert!(t >= previous, "add({}) = {} < {}", d, t, previous);
        previous = t;
    }
    cuts.sort();
    for w in cuts.windows(3) {
        let (x, y, z) = (w[0], w[1], w[2]);
        prop_assert_eq!(
            cal.business_duration_between(x, y) + cal.business_duration_between(y, z),
            cal.business_duration_between(x, z)
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn matches_brute_force_in_dst_weeks(
        week in 0..WEEKS.len(),
        shape in shape(),
        start in 0i64..4 * 1440,
        len in 0i64..3 * 1440,
        probes in prop::collection::vec(any::<i64>(), 3),
    ) {
        let (zone, anchor) = WEEKS[week];
        let anchor: NaiveDate = anchor.parse().unwrap();
        let (cal, reference) = build(zone, anchor, &shape);
        let a = anchor_midnight(anchor) - Duration::days(3) + Duration::minutes(start);
        check_against_reference(&cal, &reference, a, len, &probes)?;
    }

    #[test]
    fn algebra_holds_to_the_nanosecond(
        week in 0..WEEKS.len(),
        shape in shape(),
        start in 0i64..4 * 86_400_000_000_000,
        durations in prop::collection::vec(0i64..2 * 86_400_000_000_000, 1..6),
        cuts in prop::collection::vec(0i64..8 * 86_400_000_000_000, 3..7),
    ) {
        let (zone, anchor) = WEEKS[week];
        let anchor: NaiveDate = anchor.parse().unwrap();
        let (cal, _) = build(zone, anchor, &shape);
        let base = anchor_midnight(anchor) - Duration::days(4);
        let a = base + Duration::nanoseconds(start);
        let mut durations: Vec<Duration> =
            durations.into_iter().map(Duration::nanoseconds).collect();
        let mut cuts: Vec<DateTime<Utc>> =
            cuts.into_iter().map(|c| base + Duration::nanoseconds(c)).collect();
        check_algebra(&cal, a, &mut durations, &mut cuts)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Any zone of the compiled database, around its first clock change after a random day
    /// from 1980 to 2099: checks that finding clock changes by probing misses none, beyond the
    /// zones picked above.
    #[test]
    fn matches_brute_force_in_any_zone(
        zone in 0..chrono_tz::TZ_VARIANTS.len(),
        day in 0i64..(120 * 365),
        shape in shape(),
        start in 0i64..1440,
        len in 2 * 1440i64..3 * 1440,
        probes in prop::collection::vec(any::<i64>(), 2),
    ) {
        let tz = chrono_tz::TZ_VARIANTS[zone];
        let from = NaiveDate::from_ymd_opt(1980, 1, 1).unwrap() + Duration::days(day);
        let anchor = next_change_day(tz, from);
        let (cal, reference) = build(tz.name(), anchor, &shape);
        // The window starts within the day before the change's UTC day and lasts at least two
        // days, so it contains the change.
        let a = anchor_midnight(anchor) - Duration::days(1) + Duration::minutes(start);
        check_against_reference(&cal, &reference, a, len, &probes)?;
    }
}

/// The first UTC day, at or after `from` and within about a year, during which the zone's
/// offset changes (or `from` if it does not), found by comparing offsets at UTC midnights.
fn next_change_day(tz: Tz, from: NaiveDate) -> NaiveDate {
    let offset = |d: NaiveDate| {
        use chrono::Offset;
        tz.offset_from_utc_datetime(&d.and_hms_opt(0, 0, 0).unwrap())
            .fix()
    };
    (0..400)
        .map(|i| from + Duration::days(i))
        .find(|d| offset(*d) != offset(*d + Duration::days(1)))
        .unwrap_or(from)
}

/// The brute-force reference itself, on a case worked by hand: New York's fall-back day has
/// 25 hours, so a whole-day Sunday calendar must count 1500 working minutes.
#[test]
fn reference_counts_a_25_hour_day() {
    let shape = Shape {
        weekly: vec![
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![(0, 1440)],
        ],
        holidays: vec![],
        closures: vec![],
    };
    let anchor: NaiveDate = "2025-11-02".parse().unwrap();
    let (cal, reference) = build("America/New_York", anchor, &shape);
    let a = anchor_midnight(anchor) - Duration::days(1);
    let kinds = reference.minutes(a, 3 * 1440);
    let working = kinds.iter().filter(|k| **k == SpanKind::Working).count();
    assert_eq!(working, 25 * 60);
    assert_eq!(
        cal.business_duration_between(a, a + Duration::days(3)),
        Duration::hours(25)
    );
}
