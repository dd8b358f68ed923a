//! Shared fixtures of the SLA tests, included by the other `sla_*` test files with
//! `#[path = "support/sla_fixtures.rs"] mod fixtures;`.
#![allow(dead_code)]

use chrono::{DateTime, Duration, NaiveDate, Utc};
use opsledger_core::calendar::{
    BusinessCalendar, CalendarSpec, CalendarVersion, ClockInterval, TimeZoneName, WeeklySchedule,
};
use opsledger_core::incident::{
    CancelReason, CloseCode, HoldReason, IncidentEvent, ReopenSource, ResolutionSource,
};
use opsledger_core::policy::PolicyVersion;
use opsledger_core::sla::{CalendarRef, RecordRef, SlaDefinition, SlaKey, SlaMetric, SlaScope};
use opsledger_core::{ActorId, Impact, IncidentId, Priority, RecordKind, Urgency};
use uuid::Uuid;

/// The incident under test.
pub const INC: IncidentId = IncidentId(Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001));
/// Another incident.
pub const INC2: IncidentId = IncidentId(Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0002));
/// A third incident.
pub const INC3: IncidentId = IncidentId(Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0003));
/// A fourth incident.
pub const INC4: IncidentId = IncidentId(Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0004));

/// The SLA stream's record.
pub const REC: RecordRef = RecordRef::Incident(INC);

/// An instant from RFC 3339 text.
pub fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("bad instant {s}: {e}"))
        .with_timezone(&Utc)
}

/// Hours.
pub fn h(hours: i64) -> Duration {
    Duration::hours(hours)
}

/// Minutes.
pub fn m(minutes: i64) -> Duration {
    Duration::minutes(minutes)
}

fn iv(s: &str) -> ClockInterval {
    s.parse().unwrap()
}

/// A calendar with the given zone, weekly hours and holidays.
pub fn calendar(
    id: &str,
    version: u32,
    tz: &str,
    weekly: WeeklySchedule,
    holidays: &[&str],
) -> BusinessCalendar {
    let spec = CalendarSpec::new(
        id,
        CalendarVersion(version),
        TimeZoneName::new(tz).unwrap(),
        weekly,
    )
    .with_holidays(holidays.iter().map(|d| d.parse::<NaiveDate>().unwrap()));
    BusinessCalendar::new(spec).unwrap()
}

/// London office: Monday to Friday 08:00-18:00, Europe/London.
pub fn london(version: u32, holidays: &[&str]) -> BusinessCalendar {
    calendar(
        "london-office",
        version,
        "Europe/London",
        WeeklySchedule::weekdays(vec![iv("08:00-18:00")]),
        holidays,
    )
}

/// New York office: Monday to Friday 08:00-18:00, America/New_York.
pub fn new_york() -> BusinessCalendar {
    calendar(
        "ny-office",
        1,
        "America/New_York",
        WeeklySchedule::weekdays(vec![iv("08:00-18:00")]),
        &[],
    )
}

/// New York weekend desk: Saturday and Sunday 00:00-24:00.
pub fn new_york_weekend() -> BusinessCalendar {
    calendar(
        "ny-weekend",
        1,
        "America/New_York",
        WeeklySchedule::closed()
            .with(chrono::Weekday::Sat, vec![ClockInterval::WHOLE_DAY])
            .with(chrono::Weekday::Sun, vec![ClockInterval::WHOLE_DAY]),
        &[],
    )
}

/// An incident definition for every priority, measured in exactly `calendar`.
pub fn def(
    id: &str,
    version: u32,
    metric: SlaMetric,
    target: Duration,
    calendar: &BusinessCalendar,
) -> SlaDefinition {
    SlaDefinition::new(
        SlaKey::new(id, version),
        format!("{id} {metric}"),
        SlaScope::all(RecordKind::Incident),
        metric,
        target,
        CalendarRef::exact(calendar.id().clone(), calendar.version().0),
    )
}

/// The actor of every event.
pub fn alice() -> ActorId {
    ActorId::new("alice")
}

fn impact_urgency(priority: Priority) -> (Impact, Urgency) {
    match priority {
        Priority::Critical => (Impact::High, Urgency::High),
        Priority::High => (Impact::High, Urgency::Medium),
        Priority::Moderate => (Impact::Medium, Urgency::Medium),
        Priority::Low => (Impact::Medium, Urgency::Low),
        Priority::Planning => (Impact::Low, Urgency::Low),
    }
}

/// `incident.opened` of `id` with `priority`.
pub fn opened_as(id: IncidentId, at: &str, priority: Priority) -> IncidentEvent {
    let (impact, urgency) = impact_urgency(priority);
    IncidentEvent::Opened {
        id,
        title: "Payments API returns 500".into(),
        description: String::new(),
        caller: ActorId::new("carol"),
        impact,
        urgency,
        priority,
        service: None,
        cis: Vec::new(),
        group: None,
        assignee: None,
        alert: None,
        policy_version: PolicyVersion(1),
        at: utc(at),
        by: alice(),
    }
}

/// `incident.opened` of [`INC`].
pub fn opened(at: &str, priority: Priority) -> IncidentEvent {
    opened_as(INC, at, priority)
}

/// `incident.acknowledged`.
pub fn acknowledged(at: &str) -> IncidentEvent {
    IncidentEvent::Acknowledged {
        id: INC,
        at: utc(at),
        by: alice(),
    }
}

/// `incident.put_on_hold`.
pub fn on_hold(at: &str, reason: HoldReason) -> IncidentEvent {
    IncidentEvent::PutOnHold {
        id: INC,
        reason,
        at: utc(at),
        by: alice(),
    }
}

/// `incident.resumed`.
pub fn resumed(at: &str) -> IncidentEvent {
    IncidentEvent::Resumed {
        id: INC,
        at: utc(at),
        by: alice(),
    }
}

/// `incident.resolved` of `id`.
pub fn resolved_as(id: IncidentId, at: &str) -> IncidentEvent {
    IncidentEvent::Resolved {
        id,
        code: CloseCode::SolvedPermanently,
        notes: "restarted the pool".into(),
        source: ResolutionSource::Direct,
        at: utc(at),
        by: alice(),
    }
}

/// `incident.resolved` of [`INC`].
pub fn resolved(at: &str) -> IncidentEvent {
    resolved_as(INC, at)
}

/// `incident.reopened`.
pub fn reopened(at: &str) -> IncidentEvent {
    IncidentEvent::Reopened {
        id: INC,
        source: ReopenSource::Direct {
            reason: "still failing".into(),
        },
        at: utc(at),
        by: alice(),
    }
}

/// `incident.canceled`.
pub fn canceled(at: &str) -> IncidentEvent {
    IncidentEvent::Canceled {
        id: INC,
        reason: CancelReason::NotAnIncident,
        at: utc(at),
        by: alice(),
    }
}

/// `incident.reprioritized` of `id`.
pub fn reprioritized_as(id: IncidentId, at: &str, from: Priority, to: Priority) -> IncidentEvent {
    let (previous_impact, previous_urgency) = impact_urgency(from);
    let (impact, urgency) = impact_urgency(to);
    IncidentEvent::Reprioritized {
        id,
        previous_impact,
        previous_urgency,
        previous_priority: from,
        impact,
        urgency,
        priority: to,
        reason: "more users affected".into(),
        at: utc(at),
        by: alice(),
    }
}

/// `incident.reprioritized` of [`INC`].
pub fn reprioritized(at: &str, from: Priority, to: Priority) -> IncidentEvent {
    reprioritized_as(INC, at, from, to)
}

/// `incident.impact_start_recorded`, recorded at `at`, backdated to `occurred_at`.
pub fn impact_started(at: &str, occurred_at: &str) -> IncidentEvent {
    IncidentEvent::ImpactStartRecorded {
        id: INC,
        occurred_at: utc(occurred_at),
        at: utc(at),
        by: alice(),
    }
}
