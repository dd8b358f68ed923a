//! What-if at the engine: replay the records opened in a window under a proposed SLA policy
//! and under the policy in force, with the core's [`what_if`], writing nothing.
//!
//! The records are the incidents opened (and the problems created) in the window, in log
//! order, read as of a view's position; their events are the record streams cut at that
//! position. Nothing is appended and no read model is touched: a what-if is a pure function of
//! the log prefix, the two policies and the view's instant.

use super::Inner;
use crate::error::Result;
use crate::record::{RecordEvent, RecordRef, decode_as};
use chrono::{DateTime, Utc};
use opsledger_core::incident::IncidentEvent;
use opsledger_core::problem::ProblemEvent;
use opsledger_core::sla::{RecordHistory, SlaPolicy, SlaSource, WhatIfReport, what_if};
use opsledger_core::window::TimeWindow;
use opsledger_core::{IncidentId, ProblemId, RecordKind};

/// Events read per call while looking for openings.
const PAGE: usize = 1_000;

impl Inner {
    /// The incidents and problems whose opening event lies in `window` (by its recorded
    /// instant), among the events up to position `up_to`, in log order.
    fn opened_in(&self, window: &TimeWindow, up_to: u64) -> Result<Vec<RecordRef>> {
        let mut out = Vec::new();
        for e in opsledger_store::log_events(self.store(), 1, up_to, PAGE) {
            let e = &e?;
            {
                if e.event_type != "incident.opened" && e.event_type != "problem.created" {
                    continue;
                }
                let Some(record) = RecordRef::from_stream(e.stream.as_str()) else {
                    continue;
                };
                let at = match decode_as(record.kind, e)? {
                    RecordEvent::Incident(ev @ IncidentEvent::Opened { .. }) => {
                        ev.sla_signal().map(|s| s.at)
                    }
                    RecordEvent::Problem(ev @ ProblemEvent::Created { .. }) => {
                        ev.sla_signal().map(|s| s.at)
                    }
                    RecordEvent::Incident(_) | RecordEvent::Problem(_) | RecordEvent::Change(_) => {
                        None
                    }
                };
                if at.is_some_and(|at| window.contains(at)) {
                    out.push(record);
                }
            }
        }
        Ok(out)
    }

    /// The what-if report of the records opened in `window`, as of position `up_to` and
    /// instant `now`: `proposed` against the SLA policy in force at `up_to`.
    pub(crate) fn sla_what_if(
        &self,
        window: &TimeWindow,
        proposed: &SlaPolicy,
        up_to: u64,
        now: DateTime<Utc>,
    ) -> Result<WhatIfReport> {
        let mut incidents: Vec<(IncidentId, Vec<IncidentEvent>)> = Vec::new();
        let mut problems: Vec<(ProblemId, Vec<ProblemEvent>)> = Vec::new();
        let mut order: Vec<RecordKind> = Vec::new();
        for record in self.opened_in(window, up_to)? {
            let stored = self.stream_events(&record.stream(), Some(up_to), usize::MAX)?;
            match record.kind {
                RecordKind::Incident => {
                    let mut events = Vec::with_capacity(stored.len());
                    for e in &stored {
                        if let RecordEvent::Incident(ev) = decode_as(record.kind, e)? {
                            events.push(ev);
                        }
                    }
                    incidents.push((IncidentId(record.id), events));
                }
                RecordKind::Problem => {
                    let mut events = Vec::with_capacity(stored.len());
                    for e in &stored {
                        if let RecordEvent::Problem(ev) = decode_as(record.kind, e)? {
                            events.push(ev);
                        }
                    }
                    problems.push((ProblemId(record.id), events));
                }
                RecordKind::Change => continue,
            }
            order.push(record.kind);
        }
        // The baseline is the policy in force at the view's position (for a live view: now).
        let current = self.policy_at(Some(up_to));
        let incident_histories: Vec<RecordHistory<'_, IncidentEvent>> = incidents
            .iter()
            .map(|(id, events)| RecordHistory {
                record: opsledger_core::sla::RecordRef::Incident(*id),
                events,
            })
            .collect();
        let problem_histories: Vec<RecordHistory<'_, ProblemEvent>> = problems
            .iter()
            .map(|(id, events)| RecordHistory {
                record: opsledger_core::sla::RecordRef::Problem(*id),
                events,
            })
            .collect();
        let mut report = what_if(&incident_histories, &current.sla, proposed, now);
        if !problem_histories.is_empty() {
            let other = what_if(&problem_histories, &current.sla, proposed, now);
            merge(&mut report, other, &order);
        }
        Ok(report)
    }
}

/// Merges the problems' report into the incidents', restoring log order of the records.
fn merge(report: &mut WhatIfReport, other: WhatIfReport, order: &[RecordKind]) {
    let add = |a: &mut opsledger_core::sla::ComplianceTotals,
               b: opsledger_core::sla::ComplianceTotals| {
        a.met += b.met;
        a.breached += b.breached;
        a.pending += b.pending;
        a.canceled += b.canceled;
    };
    for (mine, theirs) in [
        (&mut report.current, other.current),
        (&mut report.proposed, other.proposed),
    ] {
        add(&mut mine.all, theirs.all);
        add(&mut mine.response, theirs.response);
        add(&mut mine.resolution, theirs.resolution);
    }
    report.records_changed += other.records_changed;
    report.breaches_added += other.breaches_added;
    report.breaches_avoided += other.breaches_avoided;
    let mut incidents = std::mem::take(&mut report.records).into_iter();
    let mut problems = other.records.into_iter();
    for kind in order {
        let next = match kind {
            RecordKind::Incident => incidents.next(),
            RecordKind::Problem => problems.next(),
            RecordKind::Change => None,
        };
        report.records.extend(next);
    }
}
