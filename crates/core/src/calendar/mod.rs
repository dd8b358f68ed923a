//! Business calendars: when business time runs, and arithmetic on it.
//!
//! A [`BusinessCalendar`] is weekly working hours in an IANA time zone, plus holidays (whole
//! local days off) and optional partial-day closures. SLA clocks measure business time with
//! [`BusinessCalendar::business_duration_between`], find due instants with
//! [`BusinessCalendar::add_business_duration`] and explain themselves with
//! [`BusinessCalendar::intervals`]. [`BusinessCalendar::always`] is 24x7, where business time
//! is elapsed time, exactly.
//!
//! ```
//! use chrono::{DateTime, Duration, Utc};
//! use opsledger_core::calendar::{
//!     BusinessCalendar, CalendarSpec, CalendarVersion, TimeZoneName, WeeklySchedule,
//! };
//!
//! let hours = vec!["08:00-18:00".parse().unwrap()];
//! let spec = CalendarSpec::new(
//!     "berlin-desk",
//!     CalendarVersion(1),
//!     TimeZoneName::new("Europe/Berlin").unwrap(),
//!     WeeklySchedule::weekdays(hours),
//! );
//! let calendar = BusinessCalendar::new(spec).unwrap();
//! // Friday 17:00 in Berlin (UTC+1 in January) plus 4 business hours: one hour on Friday,
//! // three on Monday morning, due Monday 11:00 local.
//! let friday: DateTime<Utc> = "2025-01-10T16:00:00Z".parse().unwrap();
//! let due = calendar.add_business_duration(friday, Duration::hours(4)).unwrap();
//! assert_eq!(due, "2025-01-13T10:00:00Z".parse::<DateTime<Utc>>().unwrap());
//! assert_eq!(calendar.business_duration_between(friday, due), Duration::hours(4));
//! ```
//!
//! # The wall-clock rule
//!
//! An instant is classified by what a clock on the office wall, set to the calendar's zone,
//! shows at that instant: a local date `D` and a local time `τ` (the UTC-to-local conversion is
//! always unique, even when local-to-UTC is not). The instant is
//! - [`SpanKind::Holiday`] if `D` is a holiday, or `τ` lies in a closure of `D`;
//! - otherwise [`SpanKind::Working`] if `τ` lies in one of the intervals of `D`'s weekday;
//! - otherwise [`SpanKind::OutsideHours`].
//!
//! Business time between two instants is the measure of the working instants between them,
//! in real (elapsed) time. That one rule decides every daylight-saving case, with no special
//! cases in the code, because it never has to turn a local time into an instant:
//!
//! - **Spring forward (gap).** Local times in the gap are never shown, so the part of an
//!   interval inside the gap has no instants. A boundary inside the gap therefore acts as the
//!   first valid instant after the gap (the transition itself). In America/New_York on
//!   2025-03-09 (02:00 EST becomes 03:00 EDT): `00:00-24:00` holds 23 h; `01:00-03:00` holds
//!   1 h (01:00-02:00 EST; then the clock shows 03:00, the end); `02:30-05:00` holds 2 h
//!   (03:00-05:00 EDT); `02:00-02:30` holds nothing that day.
//! - **Fall back (overlap).** Local times in the repeated hour are shown twice and count
//!   twice. In America/New_York on 2025-11-02 (02:00 EDT becomes 01:00 EST): `00:00-24:00`
//!   holds 25 h; `08:00-18:00` holds its 10 real hours; an overnight shift `22:00-24:00` plus
//!   `00:00-06:00` holds 2 h + 7 h. A start inside the repeated hour takes effect at its first
//!   showing; the interval then pauses while the clock, set back, shows times before its start,
//!   and resumes at the second showing: `01:30-05:00` holds 01:30-02:00 EDT plus 01:30-05:00
//!   EST = 4 h. An end inside the repeated hour is likewise reached twice: `00:00-01:30` holds
//!   00:00-01:30 EDT plus 01:00-01:30 EST = 2 h.
//! - In general an interval holds its wall-clock length, minus its overlap with a gap, plus
//!   its overlap with a repeated stretch; a whole day holds 23 h or 25 h (23.5 h or 24.5 h in
//!   Australia/Lord_Howe, whose clock moves by 30 minutes).
//! - **Days and holidays.** An instant belongs to the date its clock shows, so a holiday is
//!   exactly the instants whose clock shows that date, and an interval ending at `24:00` ends
//!   the first time the clock shows the next midnight, even where midnight itself is repeated
//!   (America/Havana sets 01:00 back to 00:00).
//!
//! The rule was chosen over "earliest mapping for starts, latest for ends" because it is stated
//! per instant: the explanation can label every span with what the clock showed, holidays need
//! no tie-breaking at repeated midnights, and the brute-force reference in the tests is the
//! rule itself, minute by minute.
//!
//! # Cost and horizon
//!
//! Arithmetic walks one local day at a time: a day on which the clock does not change and
//! which has no closure costs one offset lookup and one addition, so a year is a few hundred
//! steps. [`BusinessCalendar::add_business_duration`] and
//! [`BusinessCalendar::next_working_instant`] search at most [`SEARCH_HORIZON_DAYS`] days
//! ahead and return `None` beyond that (or at once if no weekday has working hours).
//! Instants are exact to the nanosecond. The tz rules are those compiled into this build's
//! chrono-tz, which has daylight saving rules up to 2099 and none after.

mod span;
mod types;
mod walk;
mod zone;

pub use span::{CalendarSpan, SpanKind};
pub use types::{
    CalendarId, CalendarVersion, ClockInterval, ClockTime, TimeZoneName, WeeklySchedule,
};
pub use walk::Intervals;

use crate::error::DomainError;
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use walk::{Compiled, DAY_NS, Walker, duration_ns, from_ns, ns_duration, to_ns};

/// How far ahead, in days (about a century), [`BusinessCalendar::add_business_duration`] and
/// [`BusinessCalendar::next_working_instant`] look before giving up with `None`.
pub const SEARCH_HORIZON_DAYS: i64 = 36_525;

/// A calendar as written by an operator, before validation; the wire form of a
/// [`BusinessCalendar`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CalendarSpec {
    /// Which calendar.
    pub id: CalendarId,
    /// Which version of it.
    pub version: CalendarVersion,
    /// The IANA zone whose wall clock the hours, holidays and closures are written in.
    pub time_zone: TimeZoneName,
    /// Working hours per weekday, in local wall-clock time.
    pub weekly: WeeklySchedule,
    /// Whole local days off.
    #[serde(default)]
    pub holidays: BTreeSet<NaiveDate>,
    /// Partial-day closures (for example a half day before a holiday): local wall-clock
    /// intervals, per local date, during which business time stops. Each date's list follows
    /// the same rules as a weekday's.
    #[serde(default)]
    pub closures: BTreeMap<NaiveDate, Vec<ClockInterval>>,
}

impl CalendarSpec {
    /// A calendar with no holidays or closures.
    pub fn new(
        id: impl Into<CalendarId>,
        version: CalendarVersion,
        time_zone: TimeZoneName,
        weekly: WeeklySchedule,
    ) -> Self {
        Self {
            id: id.into(),
            version,
            time_zone,
            weekly,
            holidays: BTreeSet::new(),
            closures: BTreeMap::new(),
        }
    }

    /// Builder: adds holidays.
    pub fn with_holidays(mut self, dates: impl IntoIterator<Item = NaiveDate>) -> Self {
        self.holidays.extend(dates);
        self
    }

    /// Builder: sets the closures of one date.
    pub fn with_closure(mut self, date: NaiveDate, closed: Vec<ClockInterval>) -> Self {
        self.closures.insert(date, closed);
        self
    }

    fn validate(&self) -> Result<(), DomainError> {
        if self.id.as_str().trim().is_empty() {
            return Err(DomainError::validation("id", "must not be empty"));
        }
        for day in WeeklySchedule::DAYS {
            let field = format!("weekly.{}", day_field(day));
            types::validate_day(&field, self.weekly.day(day))?;
        }
        for (date, closed) in &self.closures {
            let field = format!("closures.{date}");
            if closed.is_empty() {
                // An empty list would make two calendars that behave the same compare unequal.
                return Err(DomainError::validation(field, "must not be empty"));
            }
            types::validate_day(&field, closed)?;
        }
        Ok(())
    }
}

fn day_field(day: chrono::Weekday) -> &'static str {
    match day {
        chrono::Weekday::Mon => "monday",
        chrono::Weekday::Tue => "tuesday",
        chrono::Weekday::Wed => "wednesday",
        chrono::Weekday::Thu => "thursday",
        chrono::Weekday::Fri => "friday",
        chrono::Weekday::Sat => "saturday",
        chrono::Weekday::Sun => "sunday",
    }
}

/// A validated business calendar. See the [module documentation](crate::calendar) for the rule that
/// decides what counts as business time, including across clock changes.
///
/// Built with [`BusinessCalendar::new`] (or deserialized, which validates the same way); its
/// data is read back with [`BusinessCalendar::spec`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "CalendarSpec", into = "CalendarSpec")]
pub struct BusinessCalendar {
    spec: CalendarSpec,
    compiled: Compiled,
}

impl TryFrom<CalendarSpec> for BusinessCalendar {
    type Error = DomainError;

    fn try_from(spec: CalendarSpec) -> Result<Self, Self::Error> {
        Self::new(spec)
    }
}

impl From<BusinessCalendar> for CalendarSpec {
    fn from(calendar: BusinessCalendar) -> Self {
        calendar.spec
    }
}

impl BusinessCalendar {
    /// Validates `spec`: a non-empty id; every interval non-empty; each weekday's and each
    /// closure date's intervals sorted and disjoint (touching is fine); no empty closure list.
    /// The time zone was validated when its [`TimeZoneName`] was made.
    pub fn new(spec: CalendarSpec) -> Result<Self, DomainError> {
        spec.validate()?;
        let compiled = Compiled::new(&spec.weekly, &spec.holidays, &spec.closures);
        Ok(Self { spec, compiled })
    }

    /// The trivial calendar: 24x7 in UTC, no holidays (id `24x7`, version 1). Business time is
    /// elapsed time, computed without walking any days.
    pub fn always() -> Self {
        let spec = CalendarSpec::new(
            "24x7",
            CalendarVersion(1),
            TimeZoneName::UTC,
            WeeklySchedule::always(),
        );
        let compiled = Compiled::new(&spec.weekly, &spec.holidays, &spec.closures);
        Self { spec, compiled }
    }

    /// The calendar's data.
    pub fn spec(&self) -> &CalendarSpec {
        &self.spec
    }

    /// The calendar's data, by value.
    pub fn into_spec(self) -> CalendarSpec {
        self.spec
    }

    /// Which calendar.
    pub fn id(&self) -> &CalendarId {
        &self.spec.id
    }

    /// Which version.
    pub fn version(&self) -> CalendarVersion {
        self.spec.version
    }

    /// The zone its hours are written in.
    pub fn time_zone(&self) -> TimeZoneName {
        self.spec.time_zone
    }

    /// Working hours per weekday.
    pub fn weekly(&self) -> &WeeklySchedule {
        &self.spec.weekly
    }

    /// Whole local days off.
    pub fn holidays(&self) -> &BTreeSet<NaiveDate> {
        &self.spec.holidays
    }

    /// Partial-day closures per local date.
    pub fn closures(&self) -> &BTreeMap<NaiveDate, Vec<ClockInterval>> {
        &self.spec.closures
    }

    /// Whether every instant is working time (all days `00:00-24:00`, no holiday, no closure),
    /// whatever the zone: then business time is elapsed time.
    pub fn is_always(&self) -> bool {
        self.compiled.is_always()
    }

    /// Whether some weekday has working hours. Without any, no business time ever passes.
    pub fn has_working_hours(&self) -> bool {
        self.compiled.has_weekly_hours()
    }

    fn walker(&self) -> Walker<'_> {
        Walker {
            tz: self.spec.time_zone.tz(),
            compiled: &self.compiled,
            holidays: &self.spec.holidays,
            closures: &self.spec.closures,
            weekly: &self.spec.weekly,
        }
    }

    /// What the wall clock in the calendar's zone shows at `t`.
    pub fn local_datetime(&self, t: DateTime<Utc>) -> NaiveDateTime {
        t.with_timezone(&self.spec.time_zone.tz()).naive_local()
    }

    /// What the calendar says about instant `t`.
    pub fn classify(&self, t: DateTime<Utc>) -> SpanKind {
        if self.is_always() {
            return SpanKind::Working;
        }
        self.walker().classify(to_ns(t))
    }

    /// Whether business time runs at `t`.
    pub fn is_working(&self, t: DateTime<Utc>) -> bool {
        self.classify(t) == SpanKind::Working
    }

    /// The first instant at or after `t` at which business time runs (`t` itself if it is
    /// working). `None` if there is none within [`SEARCH_HORIZON_DAYS`].
    pub fn next_working_instant(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.is_always() {
            return Some(t);
        }
        if !self.has_working_hours() {
            return None;
        }
        let start = to_ns(t);
        self.walker()
            .next_working(start, horizon_limit(start))
            .map(from_ns)
    }

    /// The first instant `t >= start` such that `business_duration_between(start, t) == d`:
    /// where an SLA of business duration `d` started at `start` falls due.
    ///
    /// "First" matters at the edges: if the duration is used up exactly at the end of a working
    /// stretch (Friday 18:00), that is the answer, not the start of the next one (Monday
    /// 08:00); and `d` of zero (or negative, treated as zero) gives `start` itself. `None` only
    /// if no weekday has working hours, or the answer lies more than [`SEARCH_HORIZON_DAYS`]
    /// days after `start` (or beyond chrono's range).
    pub fn add_business_duration(
        &self,
        start: DateTime<Utc>,
        d: Duration,
    ) -> Option<DateTime<Utc>> {
        let remaining = duration_ns(d);
        if remaining <= 0 {
            return Some(start);
        }
        if self.is_always() {
            return start.checked_add_signed(d);
        }
        if !self.has_working_hours() {
            return None;
        }
        let from = to_ns(start);
        self.walker()
            .add(from, remaining, horizon_limit(from))
            .map(from_ns)
    }

    /// Business time in `[a, b)`: the real time during which the calendar is working. Zero when
    /// `b <= a`. Additive: `between(a, b) + between(b, c) == between(a, c)` for `a <= b <= c`.
    pub fn business_duration_between(&self, a: DateTime<Utc>, b: DateTime<Utc>) -> Duration {
        if b <= a {
            return Duration::zero();
        }
        if self.is_always() {
            return b - a;
        }
        if !self.has_working_hours() {
            return Duration::zero();
        }
        ns_duration(self.walker().between(to_ns(a), to_ns(b)))
    }

    /// `[a, b)` cut into consecutive, maximal spans of one [`SpanKind`], in order. The spans
    /// cover `[a, b)` exactly, neighbours differ in kind, and the `Working` spans add up to
    /// [`BusinessCalendar::business_duration_between`]`(a, b)`. Empty when `b <= a`.
    pub fn intervals(&self, a: DateTime<Utc>, b: DateTime<Utc>) -> Intervals<'_> {
        let walker = (!self.is_always()).then(|| self.walker());
        Intervals::new(walker, self.spec.time_zone.tz(), to_ns(a), to_ns(b))
    }
}

/// Where a forward search from `from` stops: the horizon, or the end of chrono's range.
fn horizon_limit(from: i128) -> i128 {
    (from + i128::from(SEARCH_HORIZON_DAYS) * DAY_NS).min(to_ns(DateTime::<Utc>::MAX_UTC))
}
