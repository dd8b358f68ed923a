//! One pass over a record's visible facts, keeping the instants and attributes the KPIs need.
//!
//! The incident fold applies a fact only where the incident lifecycle's `evolve` would (an
//! acknowledgement only in New, a resolution only while open, a reopen only when resolved and
//! back to New when never acknowledged...), so the status it reaches is the status the folded
//! record has.

use super::input::{ChangeFact, ChangeKind, ChangeOutcome, IncidentFact, Recorded, ResolutionKind};
use crate::ids::{GroupId, ServiceId};
use crate::priority::Priority;
use chrono::{DateTime, Utc};

/// The attributes a group key is taken from, as they stood at some event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Attrs {
    pub(crate) priority: Priority,
    pub(crate) group: Option<GroupId>,
    pub(crate) service: Option<ServiceId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    New,
    InProgress,
    OnHold,
    Resolved,
    Closed,
    Canceled,
}

impl Status {
    pub(crate) fn is_open(self) -> bool {
        match self {
            Status::New | Status::InProgress | Status::OnHold => true,
            Status::Resolved | Status::Closed | Status::Canceled => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Overlay {
    NotMajor,
    Proposed,
    Accepted,
    Rejected,
}

/// A stretch on hold: from entering OnHold to leaving it (`None` while still on hold).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hold {
    pub(crate) start: DateTime<Utc>,
    pub(crate) end: Option<DateTime<Utc>>,
}

/// One applied resolution.
#[derive(Debug, Clone)]
pub(crate) struct Resolution {
    pub(crate) at: DateTime<Utc>,
    pub(crate) source: ResolutionKind,
    pub(crate) attrs: Attrs,
    /// Reassignments recorded before it.
    pub(crate) reassignments: u32,
    /// The reopen that ended it, if any.
    pub(crate) reopened_at: Option<DateTime<Utc>>,
}

/// What the KPIs need of one incident.
#[derive(Debug, Clone)]
pub(crate) struct IncidentTrace {
    pub(crate) opened_at: DateTime<Utc>,
    pub(crate) attrs: Attrs,
    pub(crate) status: Status,
    pub(crate) first_ack: Option<(DateTime<Utc>, Attrs)>,
    pub(crate) reassignments: u32,
    pub(crate) reopens: u32,
    pub(crate) resolutions: Vec<Resolution>,
    pub(crate) holds: Vec<Hold>,
    pub(crate) major: Overlay,
    pub(crate) first_review: Option<DateTime<Utc>>,
    pub(crate) impact_start: Option<DateTime<Utc>>,
    pub(crate) detection: Option<DateTime<Utc>>,
    /// Attributes after the latest impact-start or detection fact.
    pub(crate) mttd_attrs: Option<Attrs>,
}

impl IncidentTrace {
    /// The resolution in force: the latest one, if the incident is resolved or closed.
    pub(crate) fn standing_resolution(&self) -> Option<&Resolution> {
        match self.status {
            Status::Resolved | Status::Closed => self.resolutions.last(),
            Status::New | Status::InProgress | Status::OnHold | Status::Canceled => None,
        }
    }

    fn end_hold(&mut self, at: DateTime<Utc>) {
        if let Some(hold) = self.holds.last_mut() {
            hold.end.get_or_insert(at);
        }
    }

    fn apply(&mut self, at: DateTime<Utc>, fact: &IncidentFact) {
        use Status as S;
        match fact {
            // A second opening is not a fact about this incident (as in `evolve`).
            IncidentFact::Opened { .. } => {}
            IncidentFact::Acknowledged => {
                if self.status == S::New {
                    self.status = S::InProgress;
                    self.first_ack.get_or_insert((at, self.attrs.clone()));
                }
            }
            IncidentFact::Assigned { group } => self.attrs.group = group.clone(),
            IncidentFact::Reassigned { group } => {
                self.attrs.group = group.clone();
                self.reassignments = self.reassignments.saturating_add(1);
            }
            IncidentFact::EscalatedFunctionally { to_group } => {
                self.attrs.group = Some(to_group.clone());
                self.reassignments = self.reassignments.saturating_add(1);
            }
            IncidentFact::PutOnHold => match self.status {
                S::InProgress => {
                    self.status = S::OnHold;
                    self.holds.push(Hold {
                        start: at,
                        end: None,
                    });
                }
                // A new reason while on hold continues the same stretch.
                S::OnHold | S::New | S::Resolved | S::Closed | S::Canceled => {}
            },
            IncidentFact::Resumed => {
                if self.status == S::OnHold {
                    self.end_hold(at);
                    self.status = S::InProgress;
                }
            }
            IncidentFact::Resolved { source } => {
                if self.status.is_open() {
                    if self.status == S::OnHold {
                        self.end_hold(at);
                    }
                    self.status = S::Resolved;
                    self.resolutions.push(Resolution {
                        at,
                        source: *source,
                        attrs: self.attrs.clone(),
                        reassignments: self.reassignments,
                        reopened_at: None,
                    });
                }
            }
            IncidentFact::Reopened => {
                if self.status == S::Resolved {
                    // As in `evolve`: back to work, or back to the queue (New) when nobody ever
                    // acknowledged it (a child its parent resolved from New). Its first
                    // acknowledgement, and so its MTTA, is still to come then.
                    self.status = if self.first_ack.is_some() {
                        S::InProgress
                    } else {
                        S::New
                    };
                    self.reopens = self.reopens.saturating_add(1);
                    if let Some(last) = self.resolutions.last_mut() {
                        last.reopened_at = Some(at);
                    }
                }
            }
            IncidentFact::Closed => {
                if self.status == S::Resolved {
                    self.status = S::Closed;
                }
            }
            IncidentFact::Canceled => {
                if self.status.is_open() {
                    if self.status == S::OnHold {
                        self.end_hold(at);
                    }
                    self.status = S::Canceled;
                }
            }
            IncidentFact::Reprioritized { priority } => self.attrs.priority = *priority,
            IncidentFact::MajorProposed => {
                if matches!(self.major, Overlay::NotMajor | Overlay::Rejected) {
                    self.major = Overlay::Proposed;
                }
            }
            IncidentFact::MajorAccepted => {
                if self.major == Overlay::Proposed {
                    self.major = Overlay::Accepted;
                }
            }
            IncidentFact::MajorRejected => {
                if self.major == Overlay::Proposed {
                    self.major = Overlay::Rejected;
                }
            }
            IncidentFact::ReviewPublished => {
                self.first_review.get_or_insert(at);
            }
            IncidentFact::ImpactStartRecorded { occurred_at } => {
                self.impact_start = Some(*occurred_at);
                self.mttd_attrs = Some(self.attrs.clone());
            }
            IncidentFact::DetectionRecorded { occurred_at } => {
                self.detection = Some(*occurred_at);
                self.mttd_attrs = Some(self.attrs.clone());
            }
        }
    }
}

/// Folds an incident's facts (already cut at the horizon). `None` if it was never opened.
pub(crate) fn trace_incident<'a>(
    facts: impl Iterator<Item = &'a Recorded<IncidentFact>>,
) -> Option<IncidentTrace> {
    let mut trace: Option<IncidentTrace> = None;
    for recorded in facts {
        step(&mut trace, recorded);
    }
    trace
}

/// The stretches `[from, to)` during which the incident was open (`to` `None` while it is).
pub(crate) fn open_spans<'a>(
    facts: impl Iterator<Item = &'a Recorded<IncidentFact>>,
) -> Vec<(DateTime<Utc>, Option<DateTime<Utc>>)> {
    let mut trace: Option<IncidentTrace> = None;
    let mut spans: Vec<(DateTime<Utc>, Option<DateTime<Utc>>)> = Vec::new();
    let mut was_open = false;
    for recorded in facts {
        step(&mut trace, recorded);
        let open = trace.as_ref().is_some_and(|t| t.status.is_open());
        if open && !was_open {
            spans.push((recorded.at, None));
        } else if was_open
            && !open
            && let Some(last) = spans.last_mut()
        {
            last.1 = Some(recorded.at);
        }
        was_open = open;
    }
    spans
}

/// Applies one fact: to the trace once the incident is opened; before that only the opening
/// starts it (facts before the opening do not apply, as in `evolve`).
fn step(trace: &mut Option<IncidentTrace>, Recorded { at, fact }: &Recorded<IncidentFact>) {
    match trace.as_mut() {
        Some(t) => t.apply(*at, fact),
        None => {
            if let IncidentFact::Opened {
                priority,
                group,
                service,
            } = fact
            {
                *trace = Some(IncidentTrace {
                    opened_at: *at,
                    attrs: Attrs {
                        priority: *priority,
                        group: group.clone(),
                        service: service.clone(),
                    },
                    status: Status::New,
                    first_ack: None,
                    reassignments: 0,
                    reopens: 0,
                    resolutions: Vec::new(),
                    holds: Vec::new(),
                    major: Overlay::NotMajor,
                    first_review: None,
                    impact_start: None,
                    detection: None,
                    mttd_attrs: None,
                });
            }
        }
    }
}

/// What the KPIs need of one change.
#[derive(Debug, Clone)]
pub(crate) struct ChangeTrace {
    pub(crate) requested_at: DateTime<Utc>,
    pub(crate) kind: ChangeKind,
    pub(crate) authorized: bool,
    /// The first implementation start, and whether it was unauthorised.
    pub(crate) implementation: Option<(DateTime<Utc>, bool)>,
    /// The first close.
    pub(crate) closed: Option<(DateTime<Utc>, ChangeOutcome)>,
    pub(crate) caused_incident: bool,
}

impl ChangeTrace {
    fn apply(&mut self, at: DateTime<Utc>, fact: &ChangeFact) {
        match fact {
            ChangeFact::Requested { .. } => {}
            ChangeFact::TypeChanged { kind } => self.kind = *kind,
            ChangeFact::Authorized => self.authorized = true,
            ChangeFact::AuthorizationWithdrawn => self.authorized = false,
            ChangeFact::ImplementationStarted => {
                let unauthorized = match self.kind {
                    // Pre-authorised by its template.
                    ChangeKind::Standard => false,
                    ChangeKind::Normal | ChangeKind::Emergency => !self.authorized,
                };
                self.implementation.get_or_insert((at, unauthorized));
            }
            ChangeFact::Closed { outcome } => {
                self.closed.get_or_insert((at, *outcome));
            }
            ChangeFact::Canceled => {}
            ChangeFact::CausedIncident => self.caused_incident = true,
        }
    }
}

/// Folds a change's facts (already cut at the horizon). `None` if it was never requested.
pub(crate) fn trace_change<'a>(
    facts: impl Iterator<Item = &'a Recorded<ChangeFact>>,
) -> Option<ChangeTrace> {
    let mut trace: Option<ChangeTrace> = None;
    for Recorded { at, fact } in facts {
        match trace.as_mut() {
            Some(t) => t.apply(*at, fact),
            None => {
                if let ChangeFact::Requested { kind } = fact {
                    trace = Some(ChangeTrace {
                        requested_at: *at,
                        kind: *kind,
                        authorized: false,
                        implementation: None,
                        closed: None,
                        caused_incident: false,
                    });
                }
            }
        }
    }
    trace
}
