//! Time windows: maintenance windows, blackout (freeze) windows and planned change windows.

use crate::calendar::{ClockTime, TimeZoneName};
use crate::ids::CiId;
use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc, Weekday};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// A half-open interval `[start, end)` of instants.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct TimeWindow {
    /// First instant inside the window.
    pub start: DateTime<Utc>,
    /// First instant after the window.
    pub end: DateTime<Utc>,
}

impl TimeWindow {
    /// A window; callers validate `start < end` where it matters (see [`TimeWindow::is_valid`]).
    pub const fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Self {
        Self { start, end }
    }

    /// Whether `start < end`.
    pub fn is_valid(&self) -> bool {
        self.start < self.end
    }

    /// Whether `t` lies inside the window.
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.start <= t && t < self.end
    }

    /// Whether `other` lies wholly inside this window.
    pub fn covers(&self, other: &TimeWindow) -> bool {
        self.start <= other.start && other.end <= self.end
    }

    /// Whether the two windows share at least one instant.
    pub fn overlaps(&self, other: &TimeWindow) -> bool {
        self.start < other.end && other.start < self.end
    }
}

impl std::fmt::Display for TimeWindow {
    /// `2026-03-03 22:00-23:00 UTC` within one UTC day, `2026-03-03 22:00 - 2026-03-04 01:00
    /// UTC` across days (seconds shown only when not zero).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let time = |t: &DateTime<Utc>| {
            if t.timestamp_subsec_nanos() == 0 && t.timestamp().rem_euclid(60) == 0 {
                t.format("%H:%M").to_string()
            } else {
                t.format("%H:%M:%S").to_string()
            }
        };
        let (start, end) = (&self.start, &self.end);
        if start.date_naive() == end.date_naive() {
            write!(
                f,
                "{} {}-{} UTC",
                start.format("%Y-%m-%d"),
                time(start),
                time(end)
            )
        } else {
            write!(
                f,
                "{} {} - {} {} UTC",
                start.format("%Y-%m-%d"),
                time(start),
                end.format("%Y-%m-%d"),
                time(end)
            )
        }
    }
}

/// Which configuration items a maintenance or blackout window applies to.
///
/// On the wire: the word `"all"`, or the list of CI ids (`["db-01", "db-02"]`). Omitted, a
/// window applies to every CI.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CiScope {
    /// Every CI.
    #[default]
    All,
    /// Only these CIs.
    Only(Vec<CiId>),
}

impl CiScope {
    /// Whether the scope includes `ci`.
    pub fn includes(&self, ci: &CiId) -> bool {
        match self {
            CiScope::All => true,
            CiScope::Only(cis) => cis.contains(ci),
        }
    }

    /// Whether some CI is in both scopes.
    pub fn intersects(&self, other: &CiScope) -> bool {
        match (self, other) {
            (CiScope::All, _) | (_, CiScope::All) => true,
            (CiScope::Only(a), CiScope::Only(b)) => a.iter().any(|ci| b.contains(ci)),
        }
    }
}

/// The wire form of a [`CiScope`].
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
enum ScopeRepr {
    /// `"all"`.
    Word(AllWord),
    /// The CI ids.
    List(Vec<CiId>),
}

/// The one word a scope may be.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum AllWord {
    All,
}

impl Serialize for CiScope {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            CiScope::All => ScopeRepr::Word(AllWord::All),
            CiScope::Only(cis) => ScopeRepr::List(cis.clone()),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for CiScope {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match ScopeRepr::deserialize(deserializer)
            .map_err(|_| serde::de::Error::custom("a scope is \"all\" or a list of CI ids"))?
        {
            ScopeRepr::Word(AllWord::All) => Ok(CiScope::All),
            ScopeRepr::List(cis) => Ok(CiScope::Only(cis)),
        }
    }
}

impl JsonSchema for CiScope {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "CiScope".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        ScopeRepr::json_schema(generator)
    }
}

/// A day of the week, as a weekly window names it (`monday` ... `sunday`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Day {
    /// Monday.
    Monday,
    /// Tuesday.
    Tuesday,
    /// Wednesday.
    Wednesday,
    /// Thursday.
    Thursday,
    /// Friday.
    Friday,
    /// Saturday.
    Saturday,
    /// Sunday.
    Sunday,
}

impl Day {
    /// The chrono weekday.
    pub fn weekday(self) -> Weekday {
        match self {
            Day::Monday => Weekday::Mon,
            Day::Tuesday => Weekday::Tue,
            Day::Wednesday => Weekday::Wed,
            Day::Thursday => Weekday::Thu,
            Day::Friday => Weekday::Fri,
            Day::Saturday => Weekday::Sat,
            Day::Sunday => Weekday::Sun,
        }
    }
}

/// A window that opens every week on the same days at the same local wall-clock times, for
/// example "Saturday and Sunday, 22:00 to 04:00 Europe/Berlin".
///
/// Each occurrence starts on one of `days` at `start` and ends at the next `end` after it: on
/// the same day when `end > start`, on the following day otherwise (`22:00` to `04:00` crosses
/// midnight; `24:00` is the midnight that ends the day). Local times follow the zone's clock
/// changes: a start that falls in a spring-forward gap opens at the first instant after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WeeklyWindow {
    /// The days an occurrence starts on.
    pub days: BTreeSet<Day>,
    /// Local time the window opens.
    pub start: ClockTime,
    /// Local time the window closes (the next day when not after `start`).
    pub end: ClockTime,
    /// The IANA zone of `start` and `end`.
    pub time_zone: TimeZoneName,
}

/// How many days of a weekly window [`NamedWindow::occurrences`] expands at most (about ten
/// years): a range longer than that only sees the occurrences in its first ten years.
pub const MAX_WEEKLY_EXPANSION_DAYS: i64 = 3_660;

impl WeeklyWindow {
    /// The occurrences that share at least one instant with `range`, in order.
    pub fn occurrences(&self, range: &TimeWindow) -> Vec<TimeWindow> {
        let mut out = Vec::new();
        if !range.is_valid() || self.days.is_empty() {
            return out;
        }
        // Dates are taken in UTC and widened by two days on each side: an occurrence lasts at
        // most a day and no zone is more than a day from UTC. UTC dates cannot overflow where a
        // far instant in a zone east of UTC would.
        let (Some(mut date), Some(last)) = (
            range
                .start
                .date_naive()
                .checked_sub_days(chrono::Days::new(2)),
            range
                .end
                .date_naive()
                .checked_add_days(chrono::Days::new(2)),
        ) else {
            return out;
        };
        for _ in 0..MAX_WEEKLY_EXPANSION_DAYS {
            if date > last {
                break;
            }
            if self.days.iter().any(|d| d.weekday() == date.weekday())
                && let Some(w) = self.occurrence_on(date)
                && w.overlaps(range)
            {
                out.push(w);
            }
            let Some(next) = date.succ_opt() else { break };
            date = next;
        }
        out
    }

    /// The occurrence starting on local date `date` (whatever its weekday).
    fn occurrence_on(&self, date: NaiveDate) -> Option<TimeWindow> {
        let end_date = if self.end > self.start {
            date
        } else {
            date.succ_opt()?
        };
        let start = local_instant(self.time_zone, date, self.start)?;
        let end = local_instant(self.time_zone, end_date, self.end)?;
        (start < end).then_some(TimeWindow::new(start, end))
    }
}

/// The instant of local wall-clock `time` on `date` in `zone`: the earlier one when the clock
/// goes back, the first instant after the gap when it goes forward.
fn local_instant(zone: TimeZoneName, date: NaiveDate, time: ClockTime) -> Option<DateTime<Utc>> {
    let tz = zone.tz();
    let local = date
        .and_hms_opt(0, 0, 0)?
        .checked_add_signed(Duration::seconds(i64::from(time.seconds_from_midnight())))?;
    (0..=4 * 60)
        .find_map(|minutes| {
            let probe = local.checked_add_signed(Duration::minutes(minutes))?;
            tz.from_local_datetime(&probe).earliest()
        })
        .map(|t| t.with_timezone(&Utc))
}

/// A named window with a CI scope: once (`window`) or every week (`weekly`), exactly one of
/// the two.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NamedWindow {
    /// Human name, for example `sunday-night-db`.
    pub name: String,
    /// A single occurrence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<TimeWindow>,
    /// A weekly occurrence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weekly: Option<WeeklyWindow>,
    /// Which CIs (default: all).
    #[serde(default)]
    pub scope: CiScope,
}

impl NamedWindow {
    /// A window that happens once.
    pub fn once(name: impl Into<String>, window: TimeWindow, scope: CiScope) -> Self {
        Self {
            name: name.into(),
            window: Some(window),
            weekly: None,
            scope,
        }
    }

    /// A window that happens every week.
    pub fn every_week(name: impl Into<String>, weekly: WeeklyWindow, scope: CiScope) -> Self {
        Self {
            name: name.into(),
            window: None,
            weekly: Some(weekly),
            scope,
        }
    }

    /// Whether the window has any occurrence at all: exactly one timing, a one-off window that
    /// starts before it ends, a weekly one with a day and different start and end times.
    pub fn can_occur(&self) -> bool {
        match (&self.window, &self.weekly) {
            (Some(w), None) => w.is_valid(),
            (None, Some(weekly)) => !weekly.days.is_empty() && weekly.start != weekly.end,
            _ => false,
        }
    }

    /// The occurrences that share at least one instant with `range`, in order (see
    /// [`WeeklyWindow::occurrences`] for the bound on weekly ones). A malformed window (both
    /// or neither timing, or an empty one-off window) has none.
    pub fn occurrences(&self, range: &TimeWindow) -> Vec<TimeWindow> {
        match (&self.window, &self.weekly) {
            (Some(w), None) if w.is_valid() && w.overlaps(range) => vec![*w],
            (None, Some(weekly)) => weekly.occurrences(range),
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(d: u32, h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, d, h, m, s)
            .single()
            .expect("valid")
    }

    #[test]
    fn a_window_reads_as_dates_and_times_in_utc() {
        let same_day = TimeWindow::new(at(3, 22, 0, 0), at(3, 23, 0, 0));
        assert_eq!(same_day.to_string(), "2026-03-03 22:00-23:00 UTC");
        let overnight = TimeWindow::new(at(3, 22, 0, 0), at(4, 1, 30, 0));
        assert_eq!(
            overnight.to_string(),
            "2026-03-03 22:00 - 2026-03-04 01:30 UTC"
        );
        let seconds = TimeWindow::new(at(3, 22, 0, 5), at(3, 22, 0, 6));
        assert_eq!(seconds.to_string(), "2026-03-03 22:00:05-22:00:06 UTC");
    }
}
