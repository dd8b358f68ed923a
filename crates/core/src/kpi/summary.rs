//! One record's KPI facts flattened into one row: what the engine's SQL read model stores per
//! incident and per change, so that the common figures (MTTA, MTTR, backlog, change success)
//! are single SQL aggregates. Each field is what [`compute`](super::compute) reads from the
//! record's whole history (no horizon), on the wall clock.

use super::input::{ChangeHistory, ChangeKind, ChangeOutcome, IncidentHistory, ResolutionKind};
use super::trace::{Attrs, Overlay, open_spans, trace_change, trace_incident};
use crate::ids::{GroupId, ServiceId};
use crate::priority::Priority;
use chrono::{DateTime, Utc};

/// The priority, group and service of an incident at some instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routing {
    /// Priority.
    pub priority: Priority,
    /// Assignment group.
    pub group: Option<GroupId>,
    /// Affected service.
    pub service: Option<ServiceId>,
}

impl From<&Attrs> for Routing {
    fn from(a: &Attrs) -> Self {
        Self {
            priority: a.priority,
            group: a.group.clone(),
            service: a.service.clone(),
        }
    }
}

/// The resolution in force on a resolved or closed incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandingResolution {
    /// When it was resolved.
    pub at: DateTime<Utc>,
    /// Routing when it was resolved (what MTTR groups by).
    pub routing: Routing,
    /// Where the resolution came from.
    pub source: ResolutionKind,
    /// Reassignments before it.
    pub reassignments: u32,
    /// Wall-clock time on hold between the opening and the resolution, in microseconds.
    pub held_us: i64,
}

/// One applied resolution (the standing one and every earlier one a reopen ended).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolutionRecord {
    /// When it was resolved.
    pub at: DateTime<Utc>,
    /// Routing when it was resolved.
    pub routing: Routing,
    /// The reopen that ended it, if any.
    pub reopened_at: Option<DateTime<Utc>>,
}

/// Time to detect: from the recorded start of impact to its detection (or the opening).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detection {
    /// When it was detected (the detection recorded, else the opening).
    pub detected_at: DateTime<Utc>,
    /// Wall-clock milliseconds from the start of impact to the detection.
    pub ms: i64,
    /// Routing after the latest impact-start or detection fact.
    pub routing: Routing,
}

/// One incident's KPI facts (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentSummary {
    /// When it was opened.
    pub opened_at: DateTime<Utc>,
    /// Routing now.
    pub routing: Routing,
    /// Whether it still needs work (new, in progress, on hold).
    pub open: bool,
    /// The first acknowledgement and the routing then (what MTTA groups by).
    pub first_ack: Option<(DateTime<Utc>, Routing)>,
    /// The standing resolution, if resolved or closed.
    pub resolution: Option<StandingResolution>,
    /// Reopens so far.
    pub reopens: u32,
    /// Reassignments so far.
    pub reassignments: u32,
    /// Wall-clock time in finished stretches on hold, in microseconds.
    pub held_us: i64,
    /// Since when it is on hold, if it is.
    pub on_hold_since: Option<DateTime<Utc>>,
    /// Whether it is an accepted major incident.
    pub major: bool,
    /// When its first post-incident review was published.
    pub first_review_at: Option<DateTime<Utc>>,
    /// Every applied resolution, in order.
    pub resolutions: Vec<ResolutionRecord>,
    /// The stretches during which it was open (`[from, to)`, `to` `None` while it is).
    pub open_spans: Vec<(DateTime<Utc>, Option<DateTime<Utc>>)>,
    /// Time to detect, when an impact start was recorded no later than the detection.
    pub detection: Option<Detection>,
}

/// An open incident in a backlog: its routing and age at the backlog instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BacklogSample {
    /// Routing at that instant.
    pub routing: Routing,
    /// Age in milliseconds (less time on hold when asked).
    pub age_ms: i64,
}

fn us(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    if to <= from {
        0
    } else {
        (to - from).num_microseconds().unwrap_or(i64::MAX)
    }
}

fn ms(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    if to <= from {
        0
    } else {
        (to - from).num_milliseconds()
    }
}

impl IncidentHistory {
    /// The incident's KPI facts over its whole history; `None` if it was never opened.
    pub fn summary(&self) -> Option<IncidentSummary> {
        let t = trace_incident(self.facts.iter())?;
        let resolution = t.standing_resolution().map(|r| StandingResolution {
            at: r.at,
            routing: Routing::from(&r.attrs),
            source: r.source,
            reassignments: r.reassignments,
            held_us: t
                .holds
                .iter()
                .map(|h| us(h.start.max(t.opened_at), h.end.unwrap_or(r.at).min(r.at)))
                .sum(),
        });
        Some(IncidentSummary {
            opened_at: t.opened_at,
            routing: Routing::from(&t.attrs),
            open: t.status.is_open(),
            first_ack: t.first_ack.as_ref().map(|(at, a)| (*at, Routing::from(a))),
            resolution,
            reopens: t.reopens,
            reassignments: t.reassignments,
            held_us: t
                .holds
                .iter()
                .filter_map(|h| h.end.map(|end| us(h.start.max(t.opened_at), end)))
                .sum(),
            on_hold_since: t.holds.last().filter(|h| h.end.is_none()).map(|h| h.start),
            major: t.major == Overlay::Accepted,
            first_review_at: t.first_review,
            resolutions: t
                .resolutions
                .iter()
                .map(|r| ResolutionRecord {
                    at: r.at,
                    routing: Routing::from(&r.attrs),
                    reopened_at: r.reopened_at,
                })
                .collect(),
            open_spans: open_spans(self.facts.iter()),
            detection: match (t.impact_start, &t.mttd_attrs) {
                (Some(impact), Some(attrs)) => {
                    let detected_at = t.detection.unwrap_or(t.opened_at);
                    (impact <= detected_at).then(|| Detection {
                        detected_at,
                        ms: ms(impact, detected_at),
                        routing: Routing::from(attrs),
                    })
                }
                _ => None,
            },
        })
    }

    /// The incident in a backlog at `at`: `None` unless it was open then. Its age runs from the
    /// opening to `at` on the wall clock, less time on hold when `exclude_on_hold`.
    pub fn backlog_at(&self, at: DateTime<Utc>, exclude_on_hold: bool) -> Option<BacklogSample> {
        let t = trace_incident(self.visible(at))?;
        if !t.status.is_open() {
            return None;
        }
        let held: i64 = if exclude_on_hold {
            t.holds
                .iter()
                .map(|h| {
                    let start = h.start.max(t.opened_at);
                    let end = h.end.unwrap_or(at).min(at);
                    if end <= start {
                        0
                    } else {
                        (end - start).num_microseconds().unwrap_or(0)
                    }
                })
                .sum()
        } else {
            0
        };
        let all = if at <= t.opened_at {
            0
        } else {
            (at - t.opened_at).num_microseconds().unwrap_or(i64::MAX)
        };
        Some(BacklogSample {
            routing: Routing::from(&t.attrs),
            age_ms: chrono::Duration::microseconds(all - held).num_milliseconds(),
        })
    }

    /// The incident's assignment group as it stood at `t` (the facts recorded at or before
    /// it); `None` if it had none or was not opened yet.
    pub fn group_at(&self, t: DateTime<Utc>) -> Option<GroupId> {
        trace_incident(self.visible(t)).and_then(|tr| tr.attrs.group)
    }
}

/// One change's KPI facts (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeSummary {
    /// When it was requested.
    pub requested_at: DateTime<Utc>,
    /// Its type now.
    pub kind: ChangeKind,
    /// The first implementation start, and whether it was unauthorised.
    pub implementation: Option<(DateTime<Utc>, bool)>,
    /// The first close and how it ended.
    pub closed: Option<(DateTime<Utc>, ChangeOutcome)>,
    /// Whether an incident was recorded as caused by it.
    pub caused_incident: bool,
}

impl ChangeHistory {
    /// The change's KPI facts over its whole history; `None` if it was never requested.
    pub fn summary(&self) -> Option<ChangeSummary> {
        let t = trace_change(self.facts.iter())?;
        Some(ChangeSummary {
            requested_at: t.requested_at,
            kind: t.kind,
            implementation: t.implementation,
            closed: t.closed,
            caused_incident: t.caused_incident,
        })
    }
}
