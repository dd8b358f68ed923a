//! Why a clock says what it says: its history cut into classified spans.

use super::clock::{Phase, timeline};
use super::definition::SlaDefinition;
use super::signal::SlaSource;
use super::status::{InstanceWindow, SlaCancelCause, SlaStatus, status_from};
use crate::calendar::{BusinessCalendar, SpanKind};
use crate::incident::HoldReason;
use chrono::{DateTime, Duration, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What happened to the clock during one span.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ExplainKind {
    /// Running inside business hours: every instant counts.
    Running,
    /// Running, but outside the calendar's working hours (evening, weekend, lunch): nothing
    /// counts.
    OutsideHours,
    /// Running, but on a holiday or a closure: nothing counts.
    Holiday,
    /// Paused: the record waited on a pausing hold reason; nothing counts.
    Paused {
        /// What it waited for.
        reason: HoldReason,
    },
    /// Stopped (responded, resolved or closed); nothing counts until a reopen.
    Stopped,
    /// Canceled; nothing counts any more.
    Canceled {
        /// Why.
        cause: SlaCancelCause,
    },
}

impl std::fmt::Display for ExplainKind {
    /// `running`, `outside hours`, `holiday`, `paused (awaiting caller)`, `stopped`,
    /// `canceled (replaced by a reattachment)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExplainKind::Running => f.write_str("running"),
            ExplainKind::OutsideHours => f.write_str("outside hours"),
            ExplainKind::Holiday => f.write_str("holiday"),
            ExplainKind::Paused { reason } => write!(f, "paused ({reason})"),
            ExplainKind::Stopped => f.write_str("stopped"),
            ExplainKind::Canceled { cause } => write!(f, "canceled ({cause})"),
        }
    }
}

/// One span of a clock's history: `[from, to)`, what the clock did, and what it counted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ExplainSpan {
    /// First instant of the span.
    pub from: DateTime<Utc>,
    /// First instant after it.
    pub to: DateTime<Utc>,
    /// What the clock did.
    pub kind: ExplainKind,
    /// Business time this span added to elapsed: its length for `running`, zero otherwise.
    pub business_time_counted: Duration,
    /// Business time the span would have counted had the clock not been paused (zero unless
    /// `paused`); these add up to the status's `paused`.
    pub business_time_paused: Duration,
    /// Elapsed business time at the end of the span.
    pub elapsed_after: Duration,
    /// Whether the span lies after the breach instant (spans are cut there).
    pub over_target: bool,
}

/// The spans of `definition`'s clock from its start to `now`: contiguous, ordered, and the
/// `business_time_counted` of the `running` spans adds up to the status's `elapsed`. Empty
/// when the clock never started.
pub fn explain<E: SlaSource>(
    definition: &SlaDefinition,
    calendar: &BusinessCalendar,
    events: &[E],
    now: DateTime<Utc>,
) -> Vec<ExplainSpan> {
    explain_in(
        definition,
        calendar,
        events,
        &InstanceWindow::default(),
        now,
    )
}

/// [`explain`] within an instance's window.
pub fn explain_in<E: SlaSource>(
    definition: &SlaDefinition,
    calendar: &BusinessCalendar,
    events: &[E],
    window: &InstanceWindow,
    now: DateTime<Utc>,
) -> Vec<ExplainSpan> {
    evaluate_in(definition, calendar, events, window, now).1
}

/// Status and explanation from one pass over the history.
pub fn evaluate_in<E: SlaSource>(
    definition: &SlaDefinition,
    calendar: &BusinessCalendar,
    events: &[E],
    window: &InstanceWindow,
    now: DateTime<Utc>,
) -> (SlaStatus, Vec<ExplainSpan>) {
    let timeline = timeline(definition, events, window, now);
    let status = status_from(definition, calendar, &timeline, now);
    if timeline.started_at.is_none() {
        return (status, Vec::new());
    }
    let breach = status.breached;
    let mut spans = Spans {
        out: Vec::new(),
        elapsed: Duration::zero(),
        breach,
    };
    for (from, to, phase) in timeline.segments() {
        match phase {
            Phase::Running => {
                for span in calendar.intervals(from, to) {
                    let kind = match span.kind {
                        SpanKind::Working => ExplainKind::Running,
                        SpanKind::OutsideHours => ExplainKind::OutsideHours,
                        SpanKind::Holiday => ExplainKind::Holiday,
                    };
                    spans.push(span.start, span.end, kind, Duration::zero());
                }
            }
            Phase::Paused(reason) => {
                let paused = calendar.business_duration_between(from, to);
                let kind = ExplainKind::Paused {
                    reason: reason.clone(),
                };
                spans.push(from, to, kind, paused);
            }
            Phase::Stopped => spans.push(from, to, ExplainKind::Stopped, Duration::zero()),
            Phase::Canceled(cause) => {
                spans.push(
                    from,
                    to,
                    ExplainKind::Canceled { cause: *cause },
                    Duration::zero(),
                );
            }
        }
    }
    (status, spans.out)
}

struct Spans {
    out: Vec<ExplainSpan>,
    elapsed: Duration,
    breach: Option<DateTime<Utc>>,
}

impl Spans {
    fn push(
        &mut self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        kind: ExplainKind,
        paused: Duration,
    ) {
        // Cut at the breach, so that "over target" starts exactly there. Only a running span
        // can hold the breach inside it (elapsed time grows nowhere else), so a cut span never
        // carries paused time into its second part.
        match self.breach.filter(|b| from < *b && *b < to) {
            Some(b) => {
                self.push_one(from, b, kind.clone(), paused);
                self.push_one(b, to, kind, Duration::zero());
            }
            None => self.push_one(from, to, kind, paused),
        }
    }

    fn push_one(
        &mut self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        kind: ExplainKind,
        paused: Duration,
    ) {
        let counted = match kind {
            ExplainKind::Running => to - from,
            ExplainKind::OutsideHours
            | ExplainKind::Holiday
            | ExplainKind::Paused { .. }
            | ExplainKind::Stopped
            | ExplainKind::Canceled { .. } => Duration::zero(),
        };
        self.elapsed += counted;
        self.out.push(ExplainSpan {
            from,
            to,
            kind,
            business_time_counted: counted,
            business_time_paused: paused,
            elapsed_after: self.elapsed,
            over_target: self.breach.is_some_and(|b| from >= b),
        });
    }
}
