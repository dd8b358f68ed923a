//! SLA status: a pure function of a definition, a calendar, the record's history and `now`.

use super::clock::{Phase, Timeline, timeline};
use super::definition::{CalendarKey, Percent, SlaDefinition, SlaKey, SlaMetric};
use super::signal::SlaSource;
use crate::calendar::BusinessCalendar;
use crate::incident::HoldReason;
use chrono::{DateTime, Duration, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Why a clock was canceled.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SlaCancelCause {
    /// The record met one of the definition's cancel conditions (it was canceled).
    Record,
    /// The SLA instance was canceled explicitly (`sla.canceled`).
    Explicit,
    /// The SLA instance was replaced by a reattachment (`sla.reattached`).
    Reattached,
}

impl std::fmt::Display for SlaCancelCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SlaCancelCause::Record => "the record was canceled",
            SlaCancelCause::Explicit => "canceled explicitly",
            SlaCancelCause::Reattached => "replaced by a reattachment",
        })
    }
}

/// The bounds an SLA instance puts on its definition's clock. The default (no bounds) is the
/// clock of a plain attachment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct InstanceWindow {
    /// The clock measures nothing before this instant (a reattachment that starts measuring
    /// at the reattachment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<DateTime<Utc>>,
    /// The instance ended here (replaced or canceled): a clock still running or paused at this
    /// instant is canceled, a stopped one keeps its outcome, and the record's later history
    /// does not touch it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<WindowEnd>,
}

/// Where and why an instance ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WindowEnd {
    /// When.
    pub at: DateTime<Utc>,
    /// Why.
    pub cause: SlaCancelCause,
}

/// What the clock is doing at the evaluation instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SlaState {
    /// No start condition has been met yet.
    NotStarted,
    /// Business time counts.
    Running {
        /// Since when.
        since: DateTime<Utc>,
    },
    /// The record waits on a pausing hold reason: nothing counts.
    Paused {
        /// What it waits for.
        reason: HoldReason,
        /// Since when.
        since: DateTime<Utc>,
    },
    /// A stop condition was met (for a resolution clock, a reopen may continue it).
    Stopped {
        /// Since when.
        since: DateTime<Utc>,
    },
    /// Canceled for good: counts neither as met nor as breached.
    Canceled {
        /// Why.
        cause: SlaCancelCause,
        /// Since when.
        since: DateTime<Utc>,
    },
}

/// How an instance counts in compliance.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SlaOutcome {
    /// Not stopped yet and not breached: still open.
    Pending,
    /// Stopped without breaching.
    Met,
    /// Breached (whether or not it has stopped since).
    Breached,
    /// Canceled: excluded from compliance.
    Canceled,
}

impl std::fmt::Display for SlaOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SlaOutcome::Pending => "pending",
            SlaOutcome::Met => "met",
            SlaOutcome::Breached => "breached",
            SlaOutcome::Canceled => "canceled",
        })
    }
}

/// A warning threshold the clock has crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ThresholdCrossing {
    /// The threshold.
    pub percent: Percent,
    /// The first instant at which elapsed business time reached it.
    pub at: DateTime<Utc>,
}

/// A mark on an SLA clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DueWhat {
    /// A warning threshold.
    Threshold {
        /// Which.
        percent: Percent,
    },
    /// The target itself.
    Breach,
}

/// The next mark a running clock will reach, and when, if nothing pauses or stops it first:
/// what the engine's tick indexes per instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DueMark {
    /// The first instant at which the mark is reached: [`sla_status`] evaluated at `at` or
    /// later (with no new record events) shows it crossed, evaluated before `at` does not.
    pub at: DateTime<Utc>,
    /// Which mark.
    pub what: DueWhat,
}

impl DueMark {
    /// Whether a tick at `now` should evaluate the instance (`now >= at`).
    pub fn is_due(&self, now: DateTime<Utc>) -> bool {
        now >= self.at
    }
}

/// An SLA clock at one instant.
///
/// A mark (threshold or target) is crossed at the first instant elapsed business time reaches
/// it, and a clock has breached once elapsed >= target: a record resolved at its due instant
/// or later (even outside business hours) breached; one resolved before it met the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SlaStatus {
    /// The evaluation instant.
    pub as_of: DateTime<Utc>,
    /// The definition version measured.
    pub definition: SlaKey,
    /// The calendar version measured in.
    pub calendar: CalendarKey,
    /// What is measured.
    pub metric: SlaMetric,
    /// Business time allowed.
    pub target: Duration,
    /// What the clock is doing.
    pub state: SlaState,
    /// When it started measuring (`None` if it never started).
    pub started_at: Option<DateTime<Utc>>,
    /// Business time counted: the sum of the running stretches, in calendar time.
    pub elapsed: Duration,
    /// Business time the clock spent paused (what the calendar would have counted).
    pub paused: Duration,
    /// When elapsed reached the target (breached), or will reach it if the clock keeps running
    /// (running); `None` while paused, stopped within target, canceled or not started.
    pub due_at: Option<DateTime<Utc>>,
    /// Target minus elapsed; negative once over target.
    pub remaining: Duration,
    /// Elapsed as a whole percentage of the target (rounded down; over 100 once breached).
    pub percent: u32,
    /// When it breached, if it has.
    pub breached: Option<DateTime<Utc>>,
    /// Thresholds crossed so far, in ascending order.
    pub thresholds_crossed: Vec<ThresholdCrossing>,
    /// The next mark a running clock will reach (see [`next_due`]).
    pub next_due: Option<DueMark>,
}

impl SlaStatus {
    /// How this clock counts in compliance.
    pub fn outcome(&self) -> SlaOutcome {
        match (&self.state, self.breached) {
            (SlaState::Canceled { .. }, _) => SlaOutcome::Canceled,
            (
                SlaState::NotStarted
                | SlaState::Running { .. }
                | SlaState::Paused { .. }
                | SlaState::Stopped { .. },
                Some(_),
            ) => SlaOutcome::Breached,
            (SlaState::Stopped { .. }, None) => SlaOutcome::Met,
            (SlaState::NotStarted | SlaState::Running { .. } | SlaState::Paused { .. }, None) => {
                SlaOutcome::Pending
            }
        }
    }

    /// Business time over target (zero when within).
    pub fn over_target(&self) -> Duration {
        (self.elapsed - self.target).max(Duration::zero())
    }
}

/// The next threshold or breach instant of a running clock, assuming it keeps running; `None`
/// when it is not running or has no mark left.
pub fn next_due(status: &SlaStatus) -> Option<DueMark> {
    status.next_due
}

/// Nanoseconds of a duration, without the i64 overflow of `num_nanoseconds`.
pub(crate) fn nanos(d: Duration) -> i128 {
    i128::from(d.num_seconds()) * 1_000_000_000 + i128::from(d.subsec_nanos())
}

/// A duration of `ns` nanoseconds, saturating at chrono's range.
pub(crate) fn from_nanos(ns: i128) -> Duration {
    let secs = ns.div_euclid(1_000_000_000);
    let sub = ns.rem_euclid(1_000_000_000);
    let max = Duration::MAX.num_seconds();
    let min = Duration::MIN.num_seconds();
    if secs >= i128::from(max) {
        return Duration::MAX;
    }
    if secs <= i128::from(min) {
        return Duration::MIN;
    }
    // In range by the checks above; `sub` < 1e9.
    Duration::seconds(secs as i64) + Duration::nanoseconds(sub as i64)
}

/// `percent` of `target`, rounded down to the nanosecond.
pub(crate) fn mark(target: Duration, percent: Percent) -> Duration {
    from_nanos(nanos(target) * i128::from(percent.0) / 100)
}

/// The instants at which the running stretches of `timeline` carried elapsed time past each of
/// `marks` (ascending), and the elapsed and paused totals.
pub(crate) struct Walk {
    pub elapsed: Duration,
    pub paused: Duration,
    pub crossed: Vec<DateTime<Utc>>,
}

pub(crate) fn walk(timeline: &Timeline, calendar: &BusinessCalendar, marks: &[Duration]) -> Walk {
    let mut elapsed = Duration::zero();
    let mut paused = Duration::zero();
    let mut crossed = Vec::new();
    for (from, to, phase) in timeline.segments() {
        match phase {
            Phase::Running => {
                let counted = calendar.business_duration_between(from, to);
                while let Some(&m) = marks.get(crossed.len()) {
                    if elapsed + counted < m {
                        break;
                    }
                    let needed = m - elapsed;
                    let at = if needed <= Duration::zero() {
                        from
                    } else {
                        calendar
                            .add_business_duration(from, needed)
                            .map_or(to, |t| t.min(to))
                    };
                    crossed.push(at);
                }
                elapsed += counted;
            }
            Phase::Paused(_) => paused += calendar.business_duration_between(from, to),
            Phase::Stopped | Phase::Canceled(_) => {}
        }
    }
    Walk {
        elapsed,
        paused,
        crossed,
    }
}

/// The marks of a definition, ascending: thresholds, then the target.
pub(crate) fn marks(definition: &SlaDefinition) -> (Vec<Percent>, Vec<Duration>) {
    let thresholds = definition.sorted_thresholds();
    let mut marks: Vec<Duration> = thresholds
        .iter()
        .map(|p| mark(definition.target, *p))
        .collect();
    marks.push(definition.target);
    (thresholds, marks)
}

/// The status of `definition`'s clock over the record's `events`, measured in `calendar`, as
/// of `now`. Events recorded after `now` are not seen, so this is also "the status as it was
/// at `now`".
pub fn sla_status<E: SlaSource>(
    definition: &SlaDefinition,
    calendar: &BusinessCalendar,
    events: &[E],
    now: DateTime<Utc>,
) -> SlaStatus {
    sla_status_in(
        definition,
        calendar,
        events,
        &InstanceWindow::default(),
        now,
    )
}

/// [`sla_status`] of one SLA instance: the definition's clock within the instance's window
/// (see [`SlaInstance::window`](super::SlaInstance::window)).
pub fn sla_status_in<E: SlaSource>(
    definition: &SlaDefinition,
    calendar: &BusinessCalendar,
    events: &[E],
    window: &InstanceWindow,
    now: DateTime<Utc>,
) -> SlaStatus {
    let timeline = timeline(definition, events, window, now);
    status_from(definition, calendar, &timeline, now)
}

pub(crate) fn status_from(
    definition: &SlaDefinition,
    calendar: &BusinessCalendar,
    timeline: &Timeline,
    now: DateTime<Utc>,
) -> SlaStatus {
    let target = definition.target;
    let (thresholds, marks) = marks(definition);
    let walk = walk(timeline, calendar, &marks);
    let thresholds_crossed: Vec<ThresholdCrossing> = thresholds
        .iter()
        .zip(&walk.crossed)
        .map(|(percent, at)| ThresholdCrossing {
            percent: *percent,
            at: *at,
        })
        .collect();
    let breached = walk.crossed.get(thresholds.len()).copied();
    let state = match timeline.current() {
        None => SlaState::NotStarted,
        Some((since, phase)) => {
            let since = *since;
            match phase {
                Phase::Running => SlaState::Running { since },
                Phase::Paused(reason) => SlaState::Paused {
                    reason: reason.clone(),
                    since,
                },
                Phase::Stopped => SlaState::Stopped { since },
                Phase::Canceled(cause) => SlaState::Canceled {
                    cause: *cause,
                    since,
                },
            }
        }
    };
    let running = matches!(state, SlaState::Running { .. });
    let due_at = match breached {
        Some(at) => Some(at),
        None if running => calendar.add_business_duration(now, target - walk.elapsed),
        None => None,
    };
    let next_due = if running {
        marks
            .iter()
            .enumerate()
            .find(|(_, m)| **m > walk.elapsed)
            .and_then(|(i, m)| {
                let at = calendar.add_business_duration(now, *m - walk.elapsed)?;
                let what = match thresholds.get(i) {
                    Some(percent) => DueWhat::Threshold { percent: *percent },
                    None => DueWhat::Breach,
                };
                Some(DueMark { at, what })
            })
    } else {
        None
    };
    let target_ns = nanos(target);
    let percent = if target_ns > 0 {
        u32::try_from(nanos(walk.elapsed).max(0) * 100 / target_ns).unwrap_or(u32::MAX)
    } else {
        100
    };
    SlaStatus {
        as_of: now,
        definition: definition.key(),
        calendar: CalendarKey {
            id: calendar.id().clone(),
            version: calendar.version(),
        },
        metric: definition.metric,
        target,
        state,
        started_at: timeline.started_at,
        elapsed: walk.elapsed,
        paused: walk.paused,
        due_at,
        remaining: target - walk.elapsed,
        percent,
        breached,
        thresholds_crossed,
        next_due,
    }
}
