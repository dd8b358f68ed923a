//! Shared fixtures of the KPI tests, included with `#[path = "support/kpi_fixtures.rs"] mod fixtures;`
//! (compiled once on its own too, with no test).
#![allow(dead_code)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use opsledger_core::incident::{
    CancelReason, CloseCode, HoldReason, Incident, IncidentCommand, IncidentDecider, IncidentEvent,
};
use opsledger_core::kpi::{ChangeFact, KpiInput, RecordRef, SlaMetric, SlaOutcome, SlaStop};
use opsledger_core::testing::admin;
use opsledger_core::{
    Actor, ActorId, ChangeId, Context, Decider, GroupId, Impact, IncidentId, Policy, Priority,
    ServiceId, Urgency,
};
use std::collections::BTreeMap;
use std::sync::Arc;
use uuid::Uuid;

/// Monday 2026-01-05 09:00 UTC.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0)
        .single()
        .expect("valid")
}

/// `t0` plus minutes.
pub fn m(minutes: i64) -> DateTime<Utc> {
    t0() + Duration::minutes(minutes)
}

/// `t0` plus hours.
pub fn h(hours: i64) -> DateTime<Utc> {
    t0() + Duration::hours(hours)
}

/// `t0` plus days.
pub fn d(days: i64) -> DateTime<Utc> {
    t0() + Duration::days(days)
}

/// An instant in UTC.
pub fn utc(y: i32, mo: u32, day: u32, hh: u32, mm: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, day, hh, mm, 0)
        .single()
        .expect("valid")
}

pub const MIN: i64 = 60_000;
pub const HOUR: i64 = 60 * MIN;
pub const DAY: i64 = 24 * HOUR;

/// Incident number `n`.
pub fn inc(n: u128) -> IncidentId {
    IncidentId(Uuid::from_u128(
        0x0190_0000_0000_7000_8000_0000_0000_0000 + n,
    ))
}

/// Change number `n`.
pub fn chg(n: u128) -> ChangeId {
    ChangeId(Uuid::from_u128(
        0x0190_0000_0000_7000_8000_0000_0001_0000 + n,
    ))
}

/// A group id.
pub fn group(name: &str) -> GroupId {
    GroupId::new(name)
}

/// Drives the real incident decider (with an admin unless told otherwise, under `policy`),
/// keeping every event in log order.
#[derive(Default)]
pub struct Desk {
    pub events: Vec<IncidentEvent>,
    pub states: BTreeMap<IncidentId, Option<Incident>>,
    pub changes: Vec<(ChangeId, DateTime<Utc>, ChangeFact)>,
    pub sla: Vec<SlaOutcome>,
    /// The policy commands are decided under (the default policy unless set).
    pub policy: Arc<Policy>,
}

impl Desk {
    pub fn new() -> Self {
        Self::default()
    }

    /// Decides `cmd` at `at` as an admin; `Err` leaves everything as it was.
    pub fn try_run(
        &mut self,
        at: DateTime<Utc>,
        cmd: IncidentCommand,
    ) -> Result<usize, opsledger_core::DomainError> {
        self.try_run_as(at, admin(), cmd)
    }

    /// Decides `cmd` at `at` as `actor`; `Err` leaves everything as it was.
    pub fn try_run_as(
        &mut self,
        at: DateTime<Utc>,
        actor: Actor,
        cmd: IncidentCommand,
    ) -> Result<usize, opsledger_core::DomainError> {
        let id = cmd.id();
        let state = self.states.get(&id).cloned().unwrap_or(None);
        let ctx = Context::new(at, actor, Arc::clone(&self.policy));
        let events = IncidentDecider::decide(&state, &cmd, &ctx)?;
        let state = events.iter().fold(state, IncidentDecider::evolve);
        self.states.insert(id, state);
        let n = events.len();
        self.events.extend(events);
        Ok(n)
    }

    /// Decides `cmd` at `at`, which must succeed.
    pub fn run(&mut self, at: DateTime<Utc>, cmd: IncidentCommand) -> &mut Self {
        let shown = format!("{cmd:?}");
        if let Err(e) = self.try_run(at, cmd) {
            panic!("{shown} at {at} refused: {e}");
        }
        self
    }

    /// Records a change fact.
    pub fn change(&mut self, id: ChangeId, at: DateTime<Utc>, fact: ChangeFact) -> &mut Self {
        self.changes.push((id, at, fact));
        self
    }

    /// The KPI input built from everything recorded, as the engine would build it.
    pub fn input(&self) -> KpiInput {
        let mut input = KpiInput::new();
        for e in &self.events {
            input.push_incident_event(e);
        }
        for (id, at, fact) in &self.changes {
            input.push_change_fact(*id, *at, fact.clone());
        }
        input.sla = self.sla.clone();
        input
    }

    // ----- commands ---------------------------------------------------------------------------

    pub fn open(
        &mut self,
        id: IncidentId,
        at: DateTime<Utc>,
        impact: Impact,
        urgency: Urgency,
        grp: Option<&str>,
        assignee: Option<&str>,
    ) -> &mut Self {
        self.open_for(id, at, impact, urgency, grp, assignee, None)
    }

    #[allow(clippy::too_many_arguments)]
    pub fn open_for(
        &mut self,
        id: IncidentId,
        at: DateTime<Utc>,
        impact: Impact,
        urgency: Urgency,
        grp: Option<&str>,
        assignee: Option<&str>,
        service: Option<&str>,
    ) -> &mut Self {
        self.run(
            at,
            IncidentCommand::Open {
                id,
                title: "Checkout fails".into(),
                description: String::new(),
                caller: ActorId::new("carol"),
                impact,
                urgency,
                service: service.map(ServiceId::new),
                cis: Vec::new(),
                group: grp.map(GroupId::new),
                assignee: assignee.map(ActorId::new),
                alert: None,
            },
        )
    }

    /// Opens a Moderate (medium x medium) incident routed to `desk`, nobody assigned.
    pub fn open_p3(&mut self, id: IncidentId, at: DateTime<Utc>) -> &mut Self {
        self.open(id, at, Impact::Medium, Urgency::Medium, Some("desk"), None)
    }

    pub fn ack(&mut self, id: IncidentId, at: DateTime<Utc>) -> &mut Self {
        self.run(at, IncidentCommand::Acknowledge { id })
    }

    pub fn assign(
        &mut self,
        id: IncidentId,
        at: DateTime<Utc>,
        grp: Option<&str>,
        assignee: Option<&str>,
    ) -> &mut Self {
        self.run(
            at,
            IncidentCommand::Assign {
                id,
                group: grp.map(GroupId::new),
                assignee: assignee.map(ActorId::new),
            },
        )
    }

    pub fn escalate(&mut self, id: IncidentId, at: DateTime<Utc>, to: &str) -> &mut Self {
        self.run(
            at,
            IncidentCommand::EscalateFunctional {
                id,
                to_group: GroupId::new(to),
                reason: "needs the DBAs".into(),
            },
        )
    }

    pub fn hold(&mut self, id: IncidentId, at: DateTime<Utc>) -> &mut Self {
        self.run(
            at,
            IncidentCommand::PutOnHold {
                id,
                reason: HoldReason::AwaitingCaller,
            },
        )
    }

    pub fn hold_vendor(&mut self, id: IncidentId, at: DateTime<Utc>) -> &mut Self {
        self.run(
            at,
            IncidentCommand::PutOnHold {
                id,
                reason: HoldReason::AwaitingVendor,
            },
        )
    }

    pub fn resume(&mut self, id: IncidentId, at: DateTime<Utc>) -> &mut Self {
        self.run(at, IncidentCommand::Resume { id })
    }

    pub fn resolve(&mut self, id: IncidentId, at: DateTime<Utc>) -> &mut Self {
        self.run(
            at,
            IncidentCommand::Resolve {
                id,
                code: CloseCode::SolvedPermanently,
                notes: "Restarted the gateway".into(),
            },
        )
    }

    pub fn reopen(&mut self, id: IncidentId, at: DateTime<Utc>) -> &mut Self {
        self.run(
            at,
            IncidentCommand::Reopen {
                id,
                reason: "Still failing".into(),
            },
        )
    }

    pub fn close(&mut self, id: IncidentId, at: DateTime<Utc>) -> &mut Self {
        self.run(at, IncidentCommand::Close { id })
    }

    pub fn cancel(&mut self, id: IncidentId, at: DateTime<Utc>) -> &mut Self {
        self.run(
            at,
            IncidentCommand::Cancel {
                id,
                reason: CancelReason::NotAnIncident,
            },
        )
    }

    pub fn reprioritize(
        &mut self,
        id: IncidentId,
        at: DateTime<Utc>,
        impact: Impact,
        urgency: Urgency,
    ) -> &mut Self {
        self.run(
            at,
            IncidentCommand::Reprioritize {
                id,
                impact,
                urgency,
                reason: "wider impact".into(),
            },
        )
    }

    pub fn major(&mut self, id: IncidentId, at: DateTime<Utc>) -> &mut Self {
        self.run(
            at,
            IncidentCommand::ProposeMajor {
                id,
                reason: "all payments down".into(),
            },
        )
        .run(at, IncidentCommand::AcceptMajor { id })
    }

    pub fn publish_review(&mut self, id: IncidentId, at: DateTime<Utc>) -> &mut Self {
        self.run(
            at,
            IncidentCommand::PublishReview {
                id,
                summary: "Gateway certificate expired".into(),
                findings: String::new(),
                action_items: Vec::new(),
            },
        )
    }

    pub fn impact_start(
        &mut self,
        id: IncidentId,
        at: DateTime<Utc>,
        started: DateTime<Utc>,
    ) -> &mut Self {
        self.run(
            at,
            IncidentCommand::RecordImpactStart {
                id,
                started_at: started,
            },
        )
    }

    pub fn detection(
        &mut self,
        id: IncidentId,
        at: DateTime<Utc>,
        detected: DateTime<Utc>,
    ) -> &mut Self {
        self.run(
            at,
            IncidentCommand::RecordDetection {
                id,
                detected_at: detected,
            },
        )
    }

    pub fn link_parent(
        &mut self,
        id: IncidentId,
        at: DateTime<Utc>,
        parent: IncidentId,
    ) -> &mut Self {
        self.run(at, IncidentCommand::LinkParent { id, parent })
    }

    pub fn resolve_from_parent(
        &mut self,
        id: IncidentId,
        at: DateTime<Utc>,
        parent: IncidentId,
    ) -> &mut Self {
        self.run(
            at,
            IncidentCommand::ResolveFromParent {
                id,
                parent,
                code: CloseCode::SolvedWorkaround,
                notes: "Resolved with the parent".into(),
            },
        )
    }
}

/// An SLA outcome on incident `n` for hand-written scenarios.
#[allow(clippy::too_many_arguments)]
pub fn sla(
    n: u128,
    metric: SlaMetric,
    priority: Priority,
    started: DateTime<Utc>,
    target_ms: i64,
    breached: Option<DateTime<Utc>>,
    stopped: Option<(DateTime<Utc>, i64)>,
    canceled: Option<DateTime<Utc>>,
) -> SlaOutcome {
    SlaOutcome {
        record: RecordRef::Incident(inc(n)),
        definition: "gold".into(),
        cycle: 1,
        metric,
        priority,
        group: Some(GroupId::new("desk")),
        service: None,
        started_at: started,
        target_ms,
        breached_at: breached,
        stopped: stopped.map(|(at, business_elapsed_ms)| SlaStop {
            at,
            business_elapsed_ms,
        }),
        canceled_at: canceled,
    }
}
