//! The arithmetic: walking UTC time in pieces that each lie inside one local date and one
//! stretch of constant UTC offset.
//!
//! Inside such a piece the wall clock advances exactly with real time, so the piece maps to a
//! contiguous range of that date's wall-clock times, and the date's plan (working, outside
//! hours, holiday, by wall-clock time) maps back to UTC by subtracting one offset. That is the
//! whole DST story: a clock change only ever ends a piece. Instants are carried as `i128`
//! nanoseconds since the Unix epoch, which holds every `DateTime<Utc>` exactly.

use super::span::{CalendarSpan, SpanKind};
use super::types::{ClockInterval, ClockTime, DAY_SECS, WeeklySchedule};
use super::zone::{NANOS, next_change, offset_at};
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::iter::FusedIterator;
use std::ops::ControlFlow;

/// Nanoseconds in a wall-clock day.
pub(crate) const DAY_NS: i128 = DAY_SECS as i128 * NANOS;

/// Days from 0001-01-01 (chrono's day 1 of the common era) to 1970-01-01.
const EPOCH_DAYS_FROM_CE: i128 = 719_163;

/// Nanoseconds since the Unix epoch.
pub(crate) fn to_ns(t: DateTime<Utc>) -> i128 {
    i128::from(t.timestamp()) * NANOS + i128::from(t.timestamp_subsec_nanos())
}

/// The instant `ns` nanoseconds after the Unix epoch, clamped to chrono's range (the walk only
/// produces instants between ones it was given, so the clamp never bites in practice).
pub(crate) fn from_ns(ns: i128) -> DateTime<Utc> {
    let secs = ns.div_euclid(NANOS);
    let nanos = ns.rem_euclid(NANOS) as u32;
    i64::try_from(secs)
        .ok()
        .and_then(|s| DateTime::from_timestamp(s, nanos))
        .unwrap_or(if ns < 0 {
            DateTime::<Utc>::MIN_UTC
        } else {
            DateTime::<Utc>::MAX_UTC
        })
}

/// A duration in nanoseconds.
pub(crate) fn duration_ns(d: Duration) -> i128 {
    i128::from(d.num_seconds()) * NANOS + i128::from(d.subsec_nanos())
}

/// A duration from nanoseconds; saturates (no span between two chrono instants can overflow a
/// `Duration`, so this is only a guard).
pub(crate) fn ns_duration(ns: i128) -> Duration {
    let secs = ns.div_euclid(NANOS);
    let nanos = ns.rem_euclid(NANOS) as u32;
    i64::try_from(secs)
        .ok()
        .and_then(|s| Duration::new(s, nanos))
        .unwrap_or(if ns < 0 { Duration::MIN } else { Duration::MAX })
}

/// The local date `k` days after 1970-01-01.
fn date_from_epoch_day(k: i128) -> Option<NaiveDate> {
    i32::try_from(k + EPOCH_DAYS_FROM_CE)
        .ok()
        .and_then(NaiveDate::from_num_days_from_ce_opt)
}

/// One stretch of a day's wall-clock time, in nanoseconds from that day's midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PlanEntry {
    start: i128,
    end: i128,
    kind: SpanKind,
}

/// A whole day's plan: sorted entries covering `[0, DAY_NS)` without gaps, neighbours of
/// different kinds.
fn build_plan(working: &[ClockInterval], closed: &[ClockInterval]) -> Vec<PlanEntry> {
    let secs = |c: ClockTime| i128::from(c.seconds_from_midnight()) * NANOS;
    let mut cuts: Vec<i128> = vec![0, DAY_NS];
    for i in working.iter().chain(closed) {
        cuts.push(secs(i.start));
        cuts.push(secs(i.end));
    }
    cuts.sort_unstable();
    cuts.dedup();
    let inside = |list: &[ClockInterval], at: i128| {
        list.iter().any(|i| secs(i.start) <= at && at < secs(i.end))
    };
    let mut plan: Vec<PlanEntry> = Vec::new();
    for pair in cuts.windows(2) {
        let (start, end) = (pair[0], pair[1]);
        // A closure wins over working hours: that is what a closure is for.
        let kind = if inside(closed, start) {
            SpanKind::Holiday
        } else if inside(working, start) {
            SpanKind::Working
        } else {
            SpanKind::OutsideHours
        };
        match plan.last_mut() {
            Some(last) if last.kind == kind => last.end = end,
            _ => plan.push(PlanEntry { start, end, kind }),
        }
    }
    plan
}

fn working_total(plan: &[PlanEntry]) -> i128 {
    plan.iter()
        .filter(|e| e.kind == SpanKind::Working)
        .map(|e| e.end - e.start)
        .sum()
}

/// What a calendar's data compiles to, once, when the calendar is built: the plan of a normal
/// day for each weekday and its working total.
#[derive(Clone, PartialEq)]
pub(crate) struct Compiled {
    plans: [Vec<PlanEntry>; 7],
    totals: [i128; 7],
    /// Every instant is working time: all days are `00:00-24:00` and nothing is ever closed.
    always: bool,
}

impl fmt::Debug for Compiled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Derived from the calendar's data, so printing it again would only add noise.
        f.write_str("Compiled")
    }
}

impl Compiled {
    pub(crate) fn new(
        weekly: &WeeklySchedule,
        holidays: &BTreeSet<NaiveDate>,
        closures: &BTreeMap<NaiveDate, Vec<ClockInterval>>,
    ) -> Self {
        let plans = WeeklySchedule::DAYS.map(|d| build_plan(weekly.day(d), &[]));
        let totals = plans.each_ref().map(|plan| working_total(plan));
        let always =
            holidays.is_empty() && closures.is_empty() && totals.iter().all(|t| *t == DAY_NS);
        Self {
            plans,
            totals,
            always,
        }
    }

    pub(crate) fn is_always(&self) -> bool {
        self.always
    }

    pub(crate) fn has_weekly_hours(&self) -> bool {
        self.totals.iter().any(|t| *t > 0)
    }
}

/// The part of the walk that needs the calendar: plans by date.
#[derive(Clone, Copy)]
pub(crate) struct Walker<'a> {
    pub(crate) tz: Tz,
    pub(crate) compiled: &'a Compiled,
    pub(crate) holidays: &'a BTreeSet<NaiveDate>,
    pub(crate) closures: &'a BTreeMap<NaiveDate, Vec<ClockInterval>>,
    pub(crate) weekly: &'a WeeklySchedule,
}

/// The plan of a holiday.
const HOLIDAY_PLAN: [PlanEntry; 1] = [PlanEntry {
    start: 0,
    end: DAY_NS,
    kind: SpanKind::Holiday,
}];

impl<'a> Walker<'a> {
    fn plan(&self, date: NaiveDate) -> Cow<'a, [PlanEntry]> {
        if self.holidays.contains(&date) {
            return Cow::Borrowed(&HOLIDAY_PLAN);
        }
        let weekday = date.weekday();
        match self.closures.get(&date) {
            Some(closed) => Cow::Owned(build_plan(self.weekly.day(weekday), closed)),
            None => Cow::Borrowed(&self.compiled.plans[weekday.num_days_from_monday() as usize]),
        }
    }

    /// Working nanoseconds in the whole of `date` when the clock does not change that day.
    fn day_total(&self, date: NaiveDate) -> i128 {
        if self.holidays.contains(&date) {
            0
        } else if self.closures.contains_key(&date) {
            working_total(&self.plan(date))
        } else {
            self.compiled.totals[date.weekday().num_days_from_monday() as usize]
        }
    }

    /// What the calendar says about instant `t`.
    pub(crate) fn classify(&self, t: i128) -> SpanKind {
        let local = t + i128::from(offset_at(self.tz, t)) * NANOS;
        let day = local.div_euclid(DAY_NS);
        let within = local - day * DAY_NS;
        date_from_epoch_day(day)
            .and_then(|date| {
                self.plan(date)
                    .iter()
                    .find(|e| e.start <= within && within < e.end)
                    .map(|e| e.kind)
            })
            .unwrap_or(SpanKind::OutsideHours)
    }

    /// Calls `f` with each classified span of `piece`, in order.
    fn spans<B>(
        &self,
        piece: &Piece,
        mut f: impl FnMut(i128, i128, SpanKind) -> ControlFlow<B>,
    ) -> ControlFlow<B> {
        let plan = self.plan(piece.date);
        let (lo, hi) = (
            piece.start + piece.offset - piece.midnight,
            piece.end + piece.offset - piece.midnight,
        );
        let shift = piece.midnight - piece.offset;
        for entry in plan.iter() {
            let (start, end) = (entry.start.max(lo), entry.end.min(hi));
            if start < end {
                f(start + shift, end + shift, entry.kind)?;
            }
        }
        ControlFlow::Continue(())
    }

    /// Working nanoseconds in `[a, b)`.
    pub(crate) fn between(&self, a: i128, b: i128) -> i128 {
        let mut total = 0;
        for piece in Pieces::new(self.tz, a, b) {
            if piece.is_whole_day() {
                // The fast path that makes long spans cheap: one lookup per day.
                total += self.day_total(piece.date);
                continue;
            }
            let _ = self.spans::<()>(&piece, |s, e, kind| {
                if kind == SpanKind::Working {
                    total += e - s;
                }
                ControlFlow::Continue(())
            });
        }
        total
    }

    /// The first instant `t >= start` with `between(start, t) == d`, searching up to `limit`.
    pub(crate) fn add(&self, start: i128, d: i128, limit: i128) -> Option<i128> {
        let mut remaining = d;
        for piece in Pieces::new(self.tz, start, limit) {
            if piece.is_whole_day() {
                let total = self.day_total(piece.date);
                // Strictly less: when the day holds exactly what remains, the answer is the end
                // of its last working span, not the end of the day.
                if total < remaining {
                    remaining -= total;
                    continue;
                }
            }
            let found = self.spans(&piece, |s, e, kind| {
                if kind == SpanKind::Working {
                    if e - s >= remaining {
                        return ControlFlow::Break(s + remaining);
                    }
                    remaining -= e - s;
                }
                ControlFlow::Continue(())
            });
            if let ControlFlow::Break(t) = found {
                return Some(t);
            }
        }
        None
    }

    /// The first working instant at or after `t`, searching up to `limit`.
    pub(crate) fn next_working(&self, t: i128, limit: i128) -> Option<i128> {
        for piece in Pieces::new(self.tz, t, limit) {
            if piece.is_whole_day() && self.day_total(piece.date) == 0 {
                continue;
            }
            let found = self.spans(&piece, |s, _, kind| {
                if kind == SpanKind::Working {
                    ControlFlow::Break(s)
                } else {
                    ControlFlow::Continue(())
                }
            });
            if let ControlFlow::Break(s) = found {
                return Some(s);
            }
        }
        None
    }
}

/// A stretch of UTC time inside one local date and one constant offset.
#[derive(Debug, Clone, Copy)]
struct Piece {
    date: NaiveDate,
    /// The local date's midnight, as nanoseconds on the local clock's own epoch.
    midnight: i128,
    /// UTC offset in force, in nanoseconds.
    offset: i128,
    start: i128,
    end: i128,
}

impl Piece {
    /// The piece is the entire local day: the clock did not change during it.
    fn is_whole_day(&self) -> bool {
        self.start + self.offset == self.midnight
            && self.end + self.offset == self.midnight + DAY_NS
    }
}

/// Splits `[from, limit)` into pieces, each inside one local date and one offset.
struct Pieces {
    tz: Tz,
    cursor: i128,
    limit: i128,
}

impl Pieces {
    fn new(tz: Tz, from: i128, limit: i128) -> Self {
        Self {
            tz,
            cursor: from,
            limit,
        }
    }
}

impl Iterator for Pieces {
    type Item = Piece;

    fn next(&mut self) -> Option<Piece> {
        if self.cursor >= self.limit {
            return None;
        }
        let offset_secs = offset_at(self.tz, self.cursor);
        let offset = i128::from(offset_secs) * NANOS;
        let day = (self.cursor + offset).div_euclid(DAY_NS);
        let midnight = day * DAY_NS;
        let Some(date) = date_from_epoch_day(day) else {
            // Beyond chrono's calendar: nothing more can be said.
            self.cursor = self.limit;
            return None;
        };
        let day_end = (midnight + DAY_NS - offset).min(self.limit);
        // At most a day to look at, so a single probe (plus a bisection on the rare day the
        // clock changes) per piece.
        let end = next_change(self.tz, self.cursor, offset_secs, day_end).unwrap_or(day_end);
        let piece = Piece {
            date,
            midnight,
            offset,
            start: self.cursor,
            end,
        };
        self.cursor = end;
        Some(piece)
    }
}

/// The classified spans of `[a, b)`, in order, adjacent spans of different kinds; see
/// [`BusinessCalendar::intervals`](super::BusinessCalendar::intervals).
pub struct Intervals<'a> {
    walker: Option<Walker<'a>>,
    pieces: Pieces,
    /// Spans of the current piece not yet merged.
    buffer: VecDeque<(i128, i128, SpanKind)>,
    /// The span being grown; emitted when a span of another kind (or the end) arrives.
    pending: Option<(i128, i128, SpanKind)>,
}

impl fmt::Debug for Intervals<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Intervals")
            .field("cursor", &from_ns(self.pieces.cursor))
            .field("end", &from_ns(self.pieces.limit))
            .finish()
    }
}

impl<'a> Intervals<'a> {
    /// `walker` is `None` for a calendar where every instant is working time.
    pub(crate) fn new(walker: Option<Walker<'a>>, tz: Tz, a: i128, b: i128) -> Self {
        let pending = match walker {
            None if a < b => Some((a, b, SpanKind::Working)),
            _ => None,
        };
        let pieces = Pieces::new(tz, a, if walker.is_some() { b } else { a });
        Self {
            walker,
            pieces,
            buffer: VecDeque::new(),
            pending,
        }
    }

    fn emit(span: (i128, i128, SpanKind)) -> CalendarSpan {
        CalendarSpan {
            start: from_ns(span.0),
            end: from_ns(span.1),
            kind: span.2,
        }
    }
}

impl Iterator for Intervals<'_> {
    type Item = CalendarSpan;

    fn next(&mut self) -> Option<CalendarSpan> {
        loop {
            if self.buffer.is_empty() {
                let piece = self.walker.as_ref().and_then(|_| self.pieces.next());
                match (piece, self.walker) {
                    (Some(piece), Some(walker)) => {
                        let buffer = &mut self.buffer;
                        let _ = walker.spans::<()>(&piece, |s, e, kind| {
                            buffer.push_back((s, e, kind));
                            ControlFlow::Continue(())
                        });
                    }
                    _ => return self.pending.take().map(Self::emit),
                }
            }
            while let Some(next) = self.buffer.pop_front() {
                match &mut self.pending {
                    Some(p) if p.2 == next.2 && p.1 == next.0 => p.1 = next.1,
                    _ => {
                        if let Some(done) = self.pending.replace(next) {
                            return Some(Self::emit(done));
                        }
                    }
                }
            }
        }
    }
}

// Once the pieces run out only the pending span is left, and it is taken exactly once.
impl FusedIterator for Intervals<'_> {}
