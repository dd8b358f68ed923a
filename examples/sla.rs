//! SLA clocks: a policy with a business-hours resolution SLA, an incident that waits on the
//! caller overnight, the engine's tick recording the threshold and the breach, and the
//! breached clock explained span by span (running, outside hours, paused).
//!
//! Run with `cargo run --example sla`.

use chrono::{DateTime, Duration, Utc};
use opsledger::core::calendar::{
    BusinessCalendar, CalendarSpec, CalendarVersion, TimeZoneName, WeeklySchedule,
};
use opsledger::core::incident::{HoldReason, IncidentCommand};
use opsledger::core::sla::{CalendarRef, SlaDefinition, SlaKey, SlaMetric, SlaPolicy, SlaScope};
use opsledger::core::{Actor, Impact, IncidentId, Policy, RecordKind, Role, Urgency};
use opsledger::{Clock, CommandEnvelope, Engine, EngineConfig, ManualClock, RecordRef, Uuid};
use std::sync::Arc;

fn at(s: &str) -> DateTime<Utc> {
    s.parse().expect("valid instant")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let office = BusinessCalendar::new(CalendarSpec::new(
        "london-office",
        CalendarVersion(1),
        TimeZoneName::new("Europe/London")?,
        WeeklySchedule::weekdays(vec!["08:00-18:00".parse()?]),
    ))?;
    let policy = Policy {
        sla: SlaPolicy::new(
            vec![
                SlaDefinition::new(
                    SlaKey::new("resolution", 1),
                    "Resolution within 8 business hours",
                    SlaScope::all(RecordKind::Incident),
                    SlaMetric::Resolution,
                    Duration::hours(8),
                    CalendarRef::exact("london-office", 1),
                )
                .with_thresholds([75]),
            ],
            vec![office],
        ),
        ..Policy::default()
    };
    // Tuesday 2026-01-06, 16:00 London time.
    let clock = Arc::new(ManualClock::new(at("2026-01-06T16:00:00Z")));
    let engine = Engine::in_memory(
        EngineConfig::default()
            .with_clock(clock.clone())
            .with_policy(policy),
    )?;
    let desk = Actor::new("sam.servicedesk", [Role::Agent]);
    let id = IncidentId(Uuid::now_v7());
    let record = RecordRef::incident(id);
    let run =
        |command: IncidentCommand| engine.execute(CommandEnvelope::new(desk.clone(), command));

    let opened = run(IncidentCommand::Open {
        id,
        title: "VPN drops every ten minutes".into(),
        description: String::new(),
        caller: "carol".into(),
        impact: Impact::Medium,
        urgency: Urgency::Medium,
        service: Some("vpn".into()),
        cis: vec![],
        group: Some("network".into()),
        assignee: None,
        alert: None,
    })?;
    for f in &opened.follow_ups {
        let on = f
            .number
            .map_or_else(|| f.record.to_string(), |n| n.to_string());
        println!("follow-up {} on {on}", f.process);
    }
    // 17:00 the agent waits for the caller's logs; they arrive Wednesday 10:00.
    clock.set(at("2026-01-06T17:00:00Z"));
    run(IncidentCommand::Assign {
        id,
        group: Some("network".into()),
        assignee: Some("sam.servicedesk".into()),
    })?;
    run(IncidentCommand::PutOnHold {
        id,
        reason: HoldReason::AwaitingCaller,
    })?;
    clock.set(at("2026-01-07T10:00:00Z"));
    run(IncidentCommand::Resume { id })?;

    // The timer runs every few minutes in production; here twice, at Wednesday 18:00.
    clock.set(at("2026-01-07T18:00:00Z"));
    let report = engine.tick(clock.now())?;
    println!(
        "tick at {}: {} threshold(s), {} breach(es) recorded",
        report.now, report.thresholds_recorded, report.breaches_recorded
    );
    let again = engine.tick(clock.now())?;
    println!(
        "tick again: {} threshold(s), {} breach(es) (each is recorded once)",
        again.thresholds_recorded, again.breaches_recorded
    );

    for sla in engine.view(None)?.sla_explain(record)? {
        let s = &sla.status;
        println!(
            "\n{} ({}): {}, elapsed {} min of {} min, paused {} min, {}",
            sla.instance.name,
            s.definition.id,
            s.outcome(),
            s.elapsed.num_minutes(),
            s.target.num_minutes(),
            s.paused.num_minutes(),
            s.breached.map_or_else(
                || "not breached".to_owned(),
                |at| format!("breached at {}", at.format("%Y-%m-%d %H:%M UTC"))
            ),
        );
        for span in &sla.spans {
            println!(
                "  {} .. {}  {:<40} counted {:>4} min, elapsed after {:>4} min{}",
                span.from.format("%a %H:%M"),
                span.to.format("%a %H:%M"),
                span.kind.to_string(),
                span.business_time_counted.num_minutes(),
                span.elapsed_after.num_minutes(),
                if span.over_target {
                    "  (over target)"
                } else {
                    ""
                },
            );
        }
    }
    Ok(())
}
