//! Hand-worked auto-close delays ([`Policy::auto_close_due`]): calendar days without a
//! calendar, business days with one (weekends, holidays, a DST switch), and the policy check.

use chrono::{DateTime, NaiveDate, Utc};
use opsledger_core::calendar::{
    BusinessCalendar, CalendarSpec, CalendarVersion, ClockInterval, TimeZoneName, WeeklySchedule,
};
use opsledger_core::policy::IncidentPolicy;
use opsledger_core::sla::{CalendarRef, SlaPolicy};
use opsledger_core::{DomainError, Policy};

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// Berlin office hours, Monday to Friday 08:00-18:00, with the given holidays.
fn berlin_office(holidays: &[&str]) -> BusinessCalendar {
    let interval: ClockInterval = "08:00-18:00".parse().unwrap();
    let spec = CalendarSpec::new(
        "berlin-office",
        CalendarVersion(1),
        TimeZoneName::new("Europe/Berlin").unwrap(),
        WeeklySchedule::weekdays(vec![interval]),
    )
    .with_holidays(holidays.iter().map(|d| d.parse::<NaiveDate>().unwrap()));
    BusinessCalendar::new(spec).unwrap()
}

fn policy(days: u32, calendar: Option<BusinessCalendar>) -> Policy {
    let reference = calendar
        .as_ref()
        .map(|c| CalendarRef::exact(c.id().as_str(), c.version().0));
    Policy {
        incident: IncidentPolicy {
            auto_close_after_days: days,
            auto_close_calendar: reference,
            ..IncidentPolicy::default()
        },
        sla: SlaPolicy::new(vec![], calendar.into_iter().collect()),
        ..Policy::default()
    }
}

#[test]
fn without_a_calendar_days_are_24_hours_from_the_resolution() {
    // Given 7 calendar days, when resolved on Friday 2026-03-06 15:30 UTC,
    // then due exactly 168 h later, Friday 2026-03-13 15:30 UTC.
    let p = policy(7, None);
    assert_eq!(
        p.auto_close_due(utc("2026-03-06T15:30:00Z")),
        Some(utc("2026-03-13T15:30:00Z"))
    );
    assert_eq!(
        policy(0, None).auto_close_due(utc("2026-03-06T15:30:00Z")),
        Some(utc("2026-03-06T15:30:00Z"))
    );
}

#[test]
fn business_days_skip_the_weekend_and_end_at_local_midnight() {
    // Given 2 business days of a Monday-Friday Berlin calendar (CET, UTC+1 in early March),
    // when resolved on Friday 2026-03-06 at 15:30 local (14:30 UTC),
    // then the business days after Friday are Monday 9 and Tuesday 10, so the closure is due
    // when Tuesday ends: Wednesday 2026-03-11 00:00 CET = 2026-03-10T23:00Z.
    let p = policy(2, Some(berlin_office(&[])));
    assert_eq!(
        p.auto_close_due(utc("2026-03-06T14:30:00Z")),
        Some(utc("2026-03-10T23:00:00Z"))
    );
    // Resolved on Saturday: the same two business days.
    assert_eq!(
        p.auto_close_due(utc("2026-03-07T10:00:00Z")),
        Some(utc("2026-03-10T23:00:00Z"))
    );
    // Zero business days: at once.
    let p0 = policy(0, Some(berlin_office(&[])));
    assert_eq!(
        p0.auto_close_due(utc("2026-03-07T10:00:00Z")),
        Some(utc("2026-03-07T10:00:00Z"))
    );
}

#[test]
fn business_days_skip_holidays() {
    // Given Good Friday 2026-04-03 and Easter Monday 2026-04-06 as holidays (CEST, UTC+2),
    // when resolved on Thursday 2026-04-02 at 12:00 local with 1 business day,
    // then Friday, the weekend and Monday are skipped: Tuesday 7 is the business day, due at
    // Wednesday 2026-04-08 00:00 CEST = 2026-04-07T22:00Z.
    let p = policy(1, Some(berlin_office(&["2026-04-03", "2026-04-06"])));
    assert_eq!(
        p.auto_close_due(utc("2026-04-02T10:00:00Z")),
        Some(utc("2026-04-07T22:00:00Z"))
    );
}

#[test]
fn business_days_cross_a_dst_switch_in_local_time() {
    // Given Berlin switches to CEST on Sunday 2026-03-29 (02:00 -> 03:00),
    // when resolved on Friday 2026-03-27 at 17:00 CET (16:00 UTC) with 3 business days,
    // then Monday 30, Tuesday 31 and Wednesday 1 count; due at Thursday 2026-04-02 00:00 CEST,
    // which is 2026-04-01T22:00Z (not 23:00Z as CET would give).
    let p = policy(3, Some(berlin_office(&[])));
    assert_eq!(
        p.auto_close_due(utc("2026-03-27T16:00:00Z")),
        Some(utc("2026-04-01T22:00:00Z"))
    );
}

#[test]
fn a_calendar_without_working_days_is_never_due() {
    let closed = BusinessCalendar::new(CalendarSpec::new(
        "closed",
        CalendarVersion(1),
        TimeZoneName::new("UTC").unwrap(),
        WeeklySchedule::weekdays(vec![]),
    ))
    .unwrap();
    assert_eq!(
        policy(1, Some(closed)).auto_close_due(utc("2026-03-06T14:30:00Z")),
        None
    );
}

#[test]
fn the_auto_close_calendar_must_be_in_the_policy() {
    // Given a policy naming a calendar its SLA section does not hold,
    let mut p = policy(2, Some(berlin_office(&[])));
    p.sla = SlaPolicy::new(vec![], vec![]);
    // then validation names the field, and nothing is ever due under it.
    match p.validate() {
        Err(DomainError::Validation { field, .. }) => {
            assert_eq!(field, "incident.auto_close_calendar")
        }
        other => panic!("expected a validation error, got {other:?}"),
    }
    assert_eq!(p.auto_close_due(utc("2026-03-06T14:30:00Z")), None);
    assert!(policy(2, Some(berlin_office(&[]))).validate().is_ok());
}
