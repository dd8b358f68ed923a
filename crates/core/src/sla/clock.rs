//! The clock fold: a record's signals, a definition's conditions and an instance's window in;
//! the phases of the clock over time out. Status and explanation are both read from this one
//! timeline, so they cannot disagree.

use super::definition::{EffectiveConditions, SlaDefinition};
use super::signal::{SignalKind, SlaSource};
use super::status::{InstanceWindow, SlaCancelCause};
use crate::incident::HoldReason;
use chrono::{DateTime, Utc};

/// What the clock does during a stretch of time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Phase {
    Running,
    Paused(HoldReason),
    Stopped,
    Canceled(SlaCancelCause),
}

/// The clock from its start to `end` (the evaluation instant): `points` are the instants at
/// which its phase changed, strictly increasing, each phase lasting until the next point (the
/// last until `end`). No point lies after `end`.
#[derive(Debug, Clone)]
pub(crate) struct Timeline {
    /// When the clock started measuring (after impact and window adjustments).
    pub started_at: Option<DateTime<Utc>>,
    pub points: Vec<(DateTime<Utc>, Phase)>,
    pub end: DateTime<Utc>,
}

impl Timeline {
    /// The phase now, or `None` before the clock starts.
    pub fn current(&self) -> Option<&(DateTime<Utc>, Phase)> {
        self.points.last()
    }

    /// Consecutive `[from, to)` stretches of one phase, empty ones left out.
    pub fn segments(&self) -> impl Iterator<Item = (DateTime<Utc>, DateTime<Utc>, &Phase)> + '_ {
        self.points
            .iter()
            .enumerate()
            .filter_map(|(i, (from, phase))| {
                let to = self.points.get(i + 1).map_or(self.end, |(t, _)| *t);
                (to > *from).then_some((*from, to, phase))
            })
    }
}

/// Records a phase change at `t`, keeping `points` strictly increasing and free of repeats:
/// several signals at one instant leave only their net effect.
fn push(points: &mut Vec<(DateTime<Utc>, Phase)>, t: DateTime<Utc>, phase: Phase) {
    if points.last().is_some_and(|(last_t, _)| *last_t == t) {
        points.pop();
    }
    if points.last().map(|(_, p)| p) != Some(&phase) {
        points.push((t, phase));
    }
}

fn run_or_pause(hold: Option<&HoldReason>, conditions: &EffectiveConditions) -> Phase {
    match hold.filter(|r| conditions.pauses(r)) {
        Some(reason) => Phase::Paused(reason.clone()),
        None => Phase::Running,
    }
}

/// Folds the record's signals recorded up to `now` (in stream order; an instant earlier than
/// its predecessor counts as its predecessor's, so time never runs backwards on a clock).
pub(crate) fn timeline<E: SlaSource>(
    definition: &SlaDefinition,
    events: &[E],
    window: &InstanceWindow,
    now: DateTime<Utc>,
) -> Timeline {
    let conditions = definition.conditions();
    let mut last: Option<DateTime<Utc>> = None;
    let mut hold: Option<HoldReason> = None;
    let mut impact: Option<DateTime<Utc>> = None;
    let mut started: Option<DateTime<Utc>> = None;
    let mut phase: Option<Phase> = None;
    let mut points: Vec<(DateTime<Utc>, Phase)> = Vec::new();

    for event in events {
        let Some(signal) = event.sla_signal() else {
            continue;
        };
        let t = last.map_or(signal.at, |l| l.max(signal.at));
        if t > now {
            break;
        }
        last = Some(t);
        let trigger = match &signal.kind {
            SignalKind::ImpactStarted { occurred_at } => {
                impact = Some(*occurred_at);
                continue;
            }
            SignalKind::Reprioritized { .. } => continue,
            SignalKind::Opened { .. }
            | SignalKind::Acknowledged
            | SignalKind::AssignedToPerson
            | SignalKind::PutOnHold { .. }
            | SignalKind::Resumed
            | SignalKind::Resolved
            | SignalKind::Reopened
            | SignalKind::Closed
            | SignalKind::Canceled => match signal.kind.trigger() {
                Some(trigger) => trigger,
                None => continue,
            },
        };
        // The record's own hold state, tracked whatever the clock does, so that a clock that
        // starts or continues while the record waits starts or continues paused.
        match &signal.kind {
            SignalKind::PutOnHold { reason } => hold = Some(reason.clone()),
            SignalKind::Resumed
            | SignalKind::Resolved
            | SignalKind::Reopened
            | SignalKind::Closed
            | SignalKind::Canceled => hold = None,
            SignalKind::Opened { .. }
            | SignalKind::Acknowledged
            | SignalKind::AssignedToPerson
            | SignalKind::Reprioritized { .. }
            | SignalKind::ImpactStarted { .. } => {}
        }
        let next = match &phase {
            None => {
                if conditions.cancel.contains(&trigger) {
                    Some(Phase::Canceled(SlaCancelCause::Record))
                } else if conditions.start.contains(&trigger) {
                    started = Some(t);
                    Some(run_or_pause(hold.as_ref(), &conditions))
                } else {
                    None
                }
            }
            Some(current @ (Phase::Running | Phase::Paused(_))) => {
                if conditions.cancel.contains(&trigger) {
                    Some(Phase::Canceled(SlaCancelCause::Record))
                } else if conditions.stop.contains(&trigger) {
                    Some(Phase::Stopped)
                } else if let SignalKind::PutOnHold { reason } = &signal.kind {
                    // A hold for a non-pausing reason ends a pause: the condition no longer holds.
                    Some(run_or_pause(Some(reason), &conditions))
                } else if matches!(current, Phase::Paused(_))
                    && conditions.resume.contains(&trigger)
                {
                    Some(Phase::Running)
                } else {
                    Some(current.clone())
                }
            }
            Some(Phase::Stopped) => {
                if conditions.reopen.contains(&trigger) {
                    Some(run_or_pause(hold.as_ref(), &conditions))
                } else {
                    Some(Phase::Stopped)
                }
            }
            Some(Phase::Canceled(cause)) => Some(Phase::Canceled(*cause)),
        };
        if let Some(next) = next {
            push(&mut points, t, next.clone());
            phase = Some(next);
        }
    }

    // A backdated impact start moves the start back only where the definition says so, and
    // only back: an impact that began after logging does not delay a clock already running.
    let mut started_at = started;
    let moved_start = started
        .zip(impact)
        .filter(|(start, impact)| definition.start_at_impact && impact < start)
        .map(|(_, impact)| impact);
    if let Some(impact) = moved_start {
        let mut moved = vec![(impact, Phase::Running)];
        for (t, p) in points.drain(..) {
            push(&mut moved, t, p);
        }
        points = moved;
        started_at = Some(impact);
    }

    if let Some(not_before) = window.not_before {
        if not_before > now {
            // The instance did not exist yet.
            return Timeline {
                started_at: None,
                points: Vec::new(),
                end: now,
            };
        }
        if started_at.is_some_and(|start| start < not_before) {
            let at_not_before = points
                .iter()
                .rev()
                .find(|(t, _)| *t <= not_before)
                .map(|(_, p)| p.clone());
            let later: Vec<_> = points.drain(..).filter(|(t, _)| *t > not_before).collect();
            if let Some(p) = at_not_before {
                points.push((not_before, p));
            }
            for (t, p) in later {
                push(&mut points, t, p);
            }
            started_at = Some(not_before);
        }
    }

    if let Some(end) = window.ended.as_ref().filter(|end| end.at <= now) {
        // The instance ended: what the record does afterwards is no longer its business. A
        // clock that had stopped keeps its outcome; a running or paused one is canceled; one
        // whose window closed before it started never measured anything.
        if started_at.is_some_and(|start| start >= end.at) {
            started_at = None;
            points.clear();
        }
        points.retain(|(t, _)| *t <= end.at);
        let frozen = match points.last().map(|(_, p)| p) {
            Some(Phase::Stopped | Phase::Canceled(_)) => true,
            Some(Phase::Running | Phase::Paused(_)) | None => false,
        };
        if !frozen {
            push(&mut points, end.at, Phase::Canceled(end.cause));
        }
    }

    Timeline {
        started_at,
        points,
        end: now,
    }
}
