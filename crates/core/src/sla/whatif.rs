//! What-if: replay records' histories under two SLA policies and compare compliance, writing
//! nothing.
//!
//! Both sides are replayed with the same attachment rule ([`plan_instances`]), so a difference
//! is due to the policies alone: each record gets the definitions a policy has in force and
//! that apply to its priority and service when it is logged, and a reprioritisation that
//! changes which definitions apply is a reattachment (as the engine does it). Pinned history
//! (the record's actual SLA stream) is not consulted: it answers "what did happen", this
//! answers "what would have happened under each policy".

use super::definition::{CalendarKey, ReattachStart, SlaDefinitionId, SlaKey, SlaMetric, SlaPin};
use super::policy::SlaPolicy;
use super::signal::{SignalKind, SlaSource};
use super::state::RecordRef;
use super::status::{InstanceWindow, SlaCancelCause, SlaOutcome, WindowEnd, sla_status_in};
use crate::ids::{RecordKind, ServiceId};
use chrono::{DateTime, Duration, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One record's history.
#[derive(Debug, Clone, Copy)]
pub struct RecordHistory<'a, E> {
    /// The record.
    pub record: RecordRef,
    /// Its events, in stream order.
    pub events: &'a [E],
}

/// An instance a policy would attach, with its window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PlannedInstance {
    /// What it would pin.
    pub pin: SlaPin,
    /// Its window (ended where a reattachment would replace it).
    pub window: InstanceWindow,
}

/// The instances `policy` attaches to a record of `kind` over its history up to `now`: the
/// applicable definitions at logging, and a reattachment at every reprioritisation that
/// changes which definitions apply (definitions still applicable are kept).
pub fn plan_instances<E: SlaSource>(
    policy: &SlaPolicy,
    kind: RecordKind,
    events: &[E],
    now: DateTime<Utc>,
) -> Vec<PlannedInstance> {
    let mut planned: Vec<PlannedInstance> = Vec::new();
    let mut active: Vec<usize> = Vec::new();
    let mut service: Option<ServiceId> = None;
    let mut opened = false;
    let mut last: Option<DateTime<Utc>> = None;
    for event in events {
        let Some(signal) = event.sla_signal() else {
            continue;
        };
        let t = last.map_or(signal.at, |l| l.max(signal.at));
        if t > now {
            break;
        }
        last = Some(t);
        match &signal.kind {
            SignalKind::Opened {
                priority,
                service: s,
            } => {
                if opened {
                    continue;
                }
                opened = true;
                service = s.clone();
                for pin in policy.pins_for(kind, *priority, service.as_ref()) {
                    active.push(planned.len());
                    planned.push(PlannedInstance {
                        pin,
                        window: InstanceWindow::default(),
                    });
                }
            }
            SignalKind::Reprioritized { priority } => {
                if !opened {
                    continue;
                }
                let pins = policy.pins_for(kind, *priority, service.as_ref());
                let wanted: Vec<&SlaDefinitionId> = pins.iter().map(|p| &p.definition.id).collect();
                active.retain(|&i| {
                    let keep = wanted.contains(&&planned[i].pin.definition.id);
                    if !keep {
                        planned[i].window.ended = Some(WindowEnd {
                            at: t,
                            cause: SlaCancelCause::Reattached,
                        });
                    }
                    keep
                });
                for pin in pins {
                    if active
                        .iter()
                        .any(|&i| planned[i].pin.definition.id == pin.definition.id)
                    {
                        continue;
                    }
                    let not_before = policy
                        .definition(&pin.definition)
                        .filter(|d| d.reattach_start == ReattachStart::Reattachment)
                        .map(|_| t);
                    active.push(planned.len());
                    planned.push(PlannedInstance {
                        pin,
                        window: InstanceWindow {
                            not_before,
                            ended: None,
                        },
                    });
                }
            }
            SignalKind::Acknowledged
            | SignalKind::AssignedToPerson
            | SignalKind::PutOnHold { .. }
            | SignalKind::Resumed
            | SignalKind::Resolved
            | SignalKind::Reopened
            | SignalKind::Closed
            | SignalKind::Canceled
            | SignalKind::ImpactStarted { .. } => {}
        }
    }
    planned
}

/// One replayed instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WhatIfInstance {
    /// The definition version.
    pub definition: SlaKey,
    /// The calendar version.
    pub calendar: CalendarKey,
    /// What it measures.
    pub metric: SlaMetric,
    /// Its window.
    pub window: InstanceWindow,
    /// How it counts.
    pub outcome: SlaOutcome,
    /// Business time counted.
    pub elapsed: Duration,
    /// When it breached, if it did.
    pub breached: Option<DateTime<Utc>>,
}

/// A metric whose outcome for a record differs between the policies. A record's outcome for a
/// metric is the worst of its non-canceled instances of that metric (breached, then pending,
/// then met); `None` when no such instance exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct MetricChange {
    /// Which metric.
    pub metric: SlaMetric,
    /// Under the current policy.
    pub current: Option<SlaOutcome>,
    /// Under the proposed policy.
    pub proposed: Option<SlaOutcome>,
}

/// One record under both policies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WhatIfRecord {
    /// The record.
    pub record: RecordRef,
    /// Its instances under the current policy.
    pub current: Vec<WhatIfInstance>,
    /// Its instances under the proposed policy.
    pub proposed: Vec<WhatIfInstance>,
    /// The metrics whose outcome differs (empty: no difference).
    pub changes: Vec<MetricChange>,
}

/// Instance counts by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ComplianceTotals {
    /// Stopped within target.
    pub met: u64,
    /// Breached.
    pub breached: u64,
    /// Still running within target.
    pub pending: u64,
    /// Canceled or replaced: excluded from compliance.
    pub canceled: u64,
}

impl ComplianceTotals {
    fn add(&mut self, outcome: SlaOutcome) {
        match outcome {
            SlaOutcome::Met => self.met += 1,
            SlaOutcome::Breached => self.breached += 1,
            SlaOutcome::Pending => self.pending += 1,
            SlaOutcome::Canceled => self.canceled += 1,
        }
    }

    /// `100 × met / (met + breached)`; `None` when nothing is decided yet.
    pub fn compliance_percent(&self) -> Option<f64> {
        let decided = self.met + self.breached;
        (decided > 0).then(|| 100.0 * self.met as f64 / decided as f64)
    }
}

/// Totals of one policy, overall and per metric.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PolicyTotals {
    /// Every instance.
    pub all: ComplianceTotals,
    /// Response instances.
    pub response: ComplianceTotals,
    /// Resolution instances.
    pub resolution: ComplianceTotals,
}

impl PolicyTotals {
    fn add(&mut self, metric: SlaMetric, outcome: SlaOutcome) {
        self.all.add(outcome);
        match metric {
            SlaMetric::Response => self.response.add(outcome),
            SlaMetric::Resolution => self.resolution.add(outcome),
        }
    }
}

/// The comparison.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WhatIfReport {
    /// Evaluated as of.
    pub as_of: DateTime<Utc>,
    /// Every record, in the order given.
    pub records: Vec<WhatIfRecord>,
    /// Totals under the current policy.
    pub current: PolicyTotals,
    /// Totals under the proposed policy.
    pub proposed: PolicyTotals,
    /// Records with at least one metric whose outcome differs.
    pub records_changed: u64,
    /// (record, metric) pairs breached under the proposed policy but not under the current.
    pub breaches_added: u64,
    /// (record, metric) pairs breached under the current policy but not under the proposed.
    pub breaches_avoided: u64,
}

fn replay<E: SlaSource>(
    policy: &SlaPolicy,
    record: RecordRef,
    events: &[E],
    now: DateTime<Utc>,
) -> Vec<WhatIfInstance> {
    plan_instances(policy, record.kind(), events, now)
        .into_iter()
        .filter_map(|planned| {
            let (definition, calendar) = policy.resolve(&planned.pin)?;
            let status = sla_status_in(definition, calendar, events, &planned.window, now);
            Some(WhatIfInstance {
                definition: planned.pin.definition,
                calendar: planned.pin.calendar,
                metric: definition.metric,
                window: planned.window,
                outcome: status.outcome(),
                elapsed: status.elapsed,
                breached: status.breached,
            })
        })
        .collect()
}

fn severity(outcome: SlaOutcome) -> u8 {
    match outcome {
        SlaOutcome::Canceled => 0,
        SlaOutcome::Met => 1,
        SlaOutcome::Pending => 2,
        SlaOutcome::Breached => 3,
    }
}

fn metric_outcome(instances: &[WhatIfInstance], metric: SlaMetric) -> Option<SlaOutcome> {
    instances
        .iter()
        .filter(|i| i.metric == metric && i.outcome != SlaOutcome::Canceled)
        .map(|i| i.outcome)
        .max_by_key(|o| severity(*o))
}

/// Replays every record under `current` and `proposed` as of `now` and compares them.
pub fn what_if<E: SlaSource>(
    records: &[RecordHistory<'_, E>],
    current: &SlaPolicy,
    proposed: &SlaPolicy,
    now: DateTime<Utc>,
) -> WhatIfReport {
    let mut report = WhatIfReport {
        as_of: now,
        records: Vec::with_capacity(records.len()),
        current: PolicyTotals::default(),
        proposed: PolicyTotals::default(),
        records_changed: 0,
        breaches_added: 0,
        breaches_avoided: 0,
    };
    for history in records {
        let before = replay(current, history.record, history.events, now);
        let after = replay(proposed, history.record, history.events, now);
        for i in &before {
            report.current.add(i.metric, i.outcome);
        }
        for i in &after {
            report.proposed.add(i.metric, i.outcome);
        }
        let mut changes = Vec::new();
        for metric in SlaMetric::ALL {
            let change = MetricChange {
                metric,
                current: metric_outcome(&before, metric),
                proposed: metric_outcome(&after, metric),
            };
            if change.current == change.proposed {
                continue;
            }
            let breached = |o: Option<SlaOutcome>| o == Some(SlaOutcome::Breached);
            if breached(change.proposed) && !breached(change.current) {
                report.breaches_added += 1;
            }
            if breached(change.current) && !breached(change.proposed) {
                report.breaches_avoided += 1;
            }
            changes.push(change);
        }
        if !changes.is_empty() {
            report.records_changed += 1;
        }
        report.records.push(WhatIfRecord {
            record: history.record,
            current: before,
            proposed: after,
            changes,
        });
    }
    report
}
