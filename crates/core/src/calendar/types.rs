//! The value types a calendar is made of: its identity, its zone, wall-clock times and the
//! weekly schedule.

use crate::error::DomainError;
use chrono::{NaiveTime, Timelike, Weekday};
use chrono_tz::Tz;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Names one business calendar, for example `emea-service-desk`.
///
/// Together with a [`CalendarVersion`] it identifies the exact rules an SLA clock pinned.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(transparent)]
pub struct CalendarId(pub String);

impl CalendarId {
    /// Wraps a caller-supplied name.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CalendarId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for CalendarId {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

/// Version of one calendar; an operator's edit produces a new version, and records keep the
/// version their clock started under, so editing a calendar never rewrites history.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(transparent)]
pub struct CalendarVersion(pub u32);

impl fmt::Display for CalendarVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

/// An IANA time zone name (`Europe/Berlin`, `America/New_York`, `UTC`), validated against the
/// tz database compiled into this build (chrono-tz).
///
/// On the wire it is the plain name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "String", into = "String")]
// The parsed zone is what is kept, so that arithmetic does not look the name up on every call.
pub struct TimeZoneName(Tz);

impl TimeZoneName {
    /// Coordinated Universal Time, the zone of [`BusinessCalendar::always`](super::BusinessCalendar::always).
    pub const UTC: TimeZoneName = TimeZoneName(Tz::UTC);

    /// Validates an IANA name. Names are case-sensitive, as in the tz database.
    pub fn new(name: &str) -> Result<Self, DomainError> {
        name.parse::<Tz>().map(Self).map_err(|_| {
            DomainError::validation("time_zone", format!("unknown IANA time zone {name:?}"))
        })
    }

    /// The zone's name as written in the tz database.
    pub fn as_str(&self) -> &'static str {
        self.0.name()
    }

    /// The zone, for conversions.
    pub fn tz(&self) -> Tz {
        self.0
    }
}

impl From<Tz> for TimeZoneName {
    fn from(tz: Tz) -> Self {
        Self(tz)
    }
}

impl TryFrom<String> for TimeZoneName {
    type Error = DomainError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(&value)
    }
}

impl From<TimeZoneName> for String {
    fn from(value: TimeZoneName) -> Self {
        value.as_str().to_owned()
    }
}

impl fmt::Display for TimeZoneName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Seconds in one wall-clock day, the range of a [`ClockTime`].
pub(crate) const DAY_SECS: u32 = 86_400;

/// A wall-clock time of day, to the second, from `00:00` to `24:00` inclusive.
///
/// `24:00` means the midnight that ends the day, so that an interval can run to the end of its
/// day (`22:00-24:00`); [`NaiveTime`] cannot say that, which is why this type exists. On the wire
/// it is `"HH:MM"`, or `"HH:MM:SS"` when the seconds are not zero.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(try_from = "String", into = "String")]
#[schemars(extend("pattern" = r"^(([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?|24:00(:00)?)$"))]
pub struct ClockTime(u32);

impl ClockTime {
    /// `00:00`, the midnight that starts a day.
    pub const MIDNIGHT: ClockTime = ClockTime(0);
    /// `24:00`, the midnight that ends a day.
    pub const END_OF_DAY: ClockTime = ClockTime(DAY_SECS);

    /// `hour:minute:second`; `None` unless it is a valid time of day or exactly `24:00:00`.
    pub const fn from_hms(hour: u32, minute: u32, second: u32) -> Option<Self> {
        if minute >= 60 || second >= 60 || hour > 24 || (hour == 24 && (minute > 0 || second > 0)) {
            return None;
        }
        Some(Self(hour * 3600 + minute * 60 + second))
    }

    /// `hour:minute`; `None` unless it is a valid time of day or exactly `24:00`.
    pub const fn from_hm(hour: u32, minute: u32) -> Option<Self> {
        Self::from_hms(hour, minute, 0)
    }

    /// Seconds since the midnight that starts the day (0 to 86 400).
    pub const fn seconds_from_midnight(&self) -> u32 {
        self.0
    }

    /// The same time as a [`NaiveTime`]; `None` for `24:00`.
    pub fn to_naive_time(&self) -> Option<NaiveTime> {
        NaiveTime::from_num_seconds_from_midnight_opt(self.0, 0)
    }
}

impl TryFrom<NaiveTime> for ClockTime {
    type Error = DomainError;

    /// Whole seconds only: a calendar boundary with a fraction of a second (or a leap second) is
    /// almost certainly a mistake, so it is refused rather than silently truncated.
    fn try_from(value: NaiveTime) -> Result<Self, Self::Error> {
        if value.nanosecond() != 0 {
            return Err(DomainError::validation(
                "time",
                "calendar times are whole seconds",
            ));
        }
        Ok(Self(value.num_seconds_from_midnight()))
    }
}

impl FromStr for ClockTime {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || DomainError::validation("time", format!("{s:?} is not HH:MM or HH:MM:SS"));
        let parts: Vec<&str> = s.split(':').collect();
        if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.len() != 2) {
            return Err(bad());
        }
        let mut numbers = [0u32; 3];
        for (slot, part) in numbers.iter_mut().zip(&parts) {
            if !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            *slot = part.parse().map_err(|_| bad())?;
        }
        Self::from_hms(numbers[0], numbers[1], numbers[2]).ok_or_else(bad)
    }
}

impl TryFrom<String> for ClockTime {
    type Error = DomainError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<ClockTime> for String {
    fn from(value: ClockTime) -> Self {
        value.to_string()
    }
}

impl fmt::Display for ClockTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (h, m, s) = (self.0 / 3600, self.0 / 60 % 60, self.0 % 60);
        if s == 0 {
            write!(f, "{h:02}:{m:02}")
        } else {
            write!(f, "{h:02}:{m:02}:{s:02}")
        }
    }
}

/// A half-open range `[start, end)` of wall-clock time within one local day, for example
/// `08:00-18:00`. `end` may be `24:00`.
///
/// `start < end` is checked when a calendar is built (and by [`ClockInterval::new`]); a shift
/// that crosses midnight is written as two intervals on consecutive weekdays
/// (`22:00-24:00` and `00:00-06:00`), because each local day is scheduled on its own.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct ClockInterval {
    /// First wall-clock time inside the interval.
    pub start: ClockTime,
    /// First wall-clock time after the interval.
    pub end: ClockTime,
}

impl ClockInterval {
    /// The whole day, `00:00-24:00`.
    pub const WHOLE_DAY: ClockInterval = ClockInterval {
        start: ClockTime::MIDNIGHT,
        end: ClockTime::END_OF_DAY,
    };

    /// An interval; refused unless `start < end`.
    pub fn new(start: ClockTime, end: ClockTime) -> Result<Self, DomainError> {
        let interval = Self { start, end };
        interval.validate("interval")?;
        Ok(interval)
    }

    /// Wall-clock length in seconds (what the interval lasts on a day without a clock change).
    pub const fn seconds(&self) -> u32 {
        self.end.0.saturating_sub(self.start.0)
    }

    pub(crate) fn validate(&self, field: &str) -> Result<(), DomainError> {
        if self.start < self.end {
            Ok(())
        } else {
            Err(DomainError::validation(
                field,
                format!("{self} is empty or reversed: start must be before end"),
            ))
        }
    }
}

impl FromStr for ClockInterval {
    type Err = DomainError;

    /// `"HH:MM-HH:MM"` (seconds allowed), for configuration files and tests.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (start, end) = s.split_once('-').ok_or_else(|| {
            DomainError::validation("interval", format!("{s:?} is not HH:MM-HH:MM"))
        })?;
        Self::new(start.trim().parse()?, end.trim().parse()?)
    }
}

impl fmt::Display for ClockInterval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start, self.end)
    }
}

/// Working hours for each weekday, in the calendar's local wall-clock time.
///
/// Each day's intervals must be sorted and must not overlap (touching, as in `08:00-12:00`
/// then `12:00-18:00`, is allowed); [`BusinessCalendar::new`](super::BusinessCalendar::new)
/// checks this. A missing or empty day has no working time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WeeklySchedule {
    /// Monday's working intervals.
    #[serde(default)]
    pub monday: Vec<ClockInterval>,
    /// Tuesday's working intervals.
    #[serde(default)]
    pub tuesday: Vec<ClockInterval>,
    /// Wednesday's working intervals.
    #[serde(default)]
    pub wednesday: Vec<ClockInterval>,
    /// Thursday's working intervals.
    #[serde(default)]
    pub thursday: Vec<ClockInterval>,
    /// Friday's working intervals.
    #[serde(default)]
    pub friday: Vec<ClockInterval>,
    /// Saturday's working intervals.
    #[serde(default)]
    pub saturday: Vec<ClockInterval>,
    /// Sunday's working intervals.
    #[serde(default)]
    pub sunday: Vec<ClockInterval>,
}

impl WeeklySchedule {
    /// Every weekday, in order from Monday (the order `Weekday::num_days_from_monday` counts).
    pub const DAYS: [Weekday; 7] = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ];

    /// No working time on any day.
    pub fn closed() -> Self {
        Self::default()
    }

    /// Every day `00:00-24:00`.
    pub fn always() -> Self {
        let mut week = Self::default();
        for day in Self::DAYS {
            week.set(day, vec![ClockInterval::WHOLE_DAY]);
        }
        week
    }

    /// The same intervals Monday to Friday, nothing at the weekend.
    pub fn weekdays(intervals: Vec<ClockInterval>) -> Self {
        let mut week = Self::default();
        for day in &Self::DAYS[..5] {
            week.set(*day, intervals.clone());
        }
        week
    }

    /// One day's intervals.
    pub fn day(&self, day: Weekday) -> &[ClockInterval] {
        match day {
            Weekday::Mon => &self.monday,
            Weekday::Tue => &self.tuesday,
            Weekday::Wed => &self.wednesday,
            Weekday::Thu => &self.thursday,
            Weekday::Fri => &self.friday,
            Weekday::Sat => &self.saturday,
            Weekday::Sun => &self.sunday,
        }
    }

    /// Replaces one day's intervals (checked when the calendar is built).
    pub fn set(&mut self, day: Weekday, intervals: Vec<ClockInterval>) {
        let slot = match day {
            Weekday::Mon => &mut self.monday,
            Weekday::Tue => &mut self.tuesday,
            Weekday::Wed => &mut self.wednesday,
            Weekday::Thu => &mut self.thursday,
            Weekday::Fri => &mut self.friday,
            Weekday::Sat => &mut self.saturday,
            Weekday::Sun => &mut self.sunday,
        };
        *slot = intervals;
    }

    /// Builder form of [`WeeklySchedule::set`].
    pub fn with(mut self, day: Weekday, intervals: Vec<ClockInterval>) -> Self {
        self.set(day, intervals);
        self
    }

    /// Wall-clock working seconds in a normal week (no holidays, no clock change).
    pub fn weekly_seconds(&self) -> u64 {
        Self::DAYS
            .iter()
            .flat_map(|d| self.day(*d))
            .map(|i| u64::from(i.seconds()))
            .sum()
    }
}

/// Checks one day's list: every interval non-empty, sorted by start, no overlap.
pub(crate) fn validate_day(field: &str, intervals: &[ClockInterval]) -> Result<(), DomainError> {
    for (i, interval) in intervals.iter().enumerate() {
        interval.validate(&format!("{field}[{i}]"))?;
        if i > 0 && intervals[i - 1].end > interval.start {
            return Err(DomainError::validation(
                format!("{field}[{i}]"),
                format!(
                    "{interval} overlaps or precedes {}: intervals must be sorted and disjoint",
                    intervals[i - 1]
                ),
            ));
        }
    }
    Ok(())
}
