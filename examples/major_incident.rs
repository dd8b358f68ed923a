//! An alert storm deduplicated into one incident, raised to a major incident, resolved, and
//! closed only once its post-incident review is published.
//!
//! Run with `cargo run --example major_incident`.

use opsledger::core::Named;
use opsledger::core::incident::{CloseCode, IncidentCommand};
use opsledger::core::{Actor, Impact, IncidentId, Role, Urgency};
use opsledger::{
    AlertReport, CommandEnvelope, Engine, EngineConfig, FollowUpResult, QueueFilter, RecordRef,
};
use std::collections::BTreeMap;

fn report(key: &str, source: &str, ci: &str) -> AlertReport {
    AlertReport {
        dedup_key: key.into(),
        source: source.into(),
        seen_at: None,
        title: format!("{key} firing"),
        description: "Raised by monitoring".into(),
        impact: Impact::High,
        urgency: Urgency::High,
        service: Some("payments".into()),
        cis: vec![ci.into()],
        group: Some("payments-oncall".into()),
        caller: None,
        incident_id: None,
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let engine = Engine::in_memory(EngineConfig::default())?;
    let monitoring = Actor::new("alertmanager", [Role::Agent]);
    let oncall = Actor::new("olga.oncall", [Role::Agent]);
    let duty_manager = Actor::new("max.duty", [Role::Manager]);

    // 1. The storm: 4 monitoring threads fire 60 alerts for two dedup keys.
    println!("== Alert storm: 4 senders, 60 alerts, 2 dedup keys");
    let handles: Vec<_> = (0..4)
        .map(|sender| {
            let engine = engine.clone();
            let actor = monitoring.clone();
            std::thread::spawn(move || -> Result<Vec<RecordRef>, opsledger::EngineError> {
                (0..15)
                    .map(|n| {
                        let (key, ci) = if n % 3 == 0 {
                            ("api-latency:pay-gw", "pay-gw")
                        } else {
                            ("http-5xx:pay-api", "pay-api")
                        };
                        let source = format!("prometheus-{sender}");
                        engine
                            .execute(CommandEnvelope::new(
                                actor.clone(),
                                report(key, &source, ci),
                            ))
                            .map(|o| o.record)
                    })
                    .collect()
            })
        })
        .collect();
    let mut per_record: BTreeMap<RecordRef, usize> = BTreeMap::new();
    for h in handles {
        for record in h.join().map_err(|_| "sender panicked")?? {
            *per_record.entry(record).or_default() += 1;
        }
    }
    let view = engine.view(None)?;
    for alert in view.open_alerts()? {
        println!(
            "  {:<22} -> {} ({} occurrences)",
            alert.dedup_key,
            alert.number.map(|n| n.to_string()).unwrap_or_default(),
            alert.alert_count
        );
    }
    println!(
        "  incidents opened: {} (for {} alerts)",
        per_record.len(),
        per_record.values().sum::<usize>()
    );
    let mut incidents = view.queue(&QueueFilter::incidents().open())?.items;
    incidents.sort_by_key(|v| v.number);
    let (main, other) = (
        IncidentId(incidents[0].record.id),
        IncidentId(incidents[1].record.id),
    );

    // 2. Triage: one incident becomes the parent, the other its child; the major-incident
    //    process starts.
    println!("\n== Triage");
    let run = |actor: &Actor, cmd: IncidentCommand| {
        engine.execute(CommandEnvelope::new(actor.clone(), cmd))
    };
    run(
        &oncall,
        IncidentCommand::Assign {
            id: main,
            group: Some("payments-oncall".into()),
            assignee: Some(oncall.id.clone()),
        },
    )?;
    run(
        &oncall,
        IncidentCommand::LinkChild {
            id: main,
            child: other,
        },
    )?;
    run(
        &oncall,
        IncidentCommand::ProposeMajor {
            id: main,
            reason: "Card payments failing in all stores".into(),
        },
    )?;
    run(&duty_manager, IncidentCommand::AcceptMajor { id: main })?;
    let major = engine
        .view(None)?
        .record(RecordRef::incident(main))?
        .ok_or("missing")?;
    println!(
        "  {} \"{}\": major incident {}, child {}",
        major.number.map(|n| n.to_string()).unwrap_or_default(),
        major.title,
        major
            .incident()
            .map(|d| d.major.name().replace('_', " "))
            .unwrap_or_default(),
        incidents[1]
            .number
            .map(|n| n.to_string())
            .unwrap_or_default()
    );

    // 3. Resolution: the child follows its parent.
    println!("\n== Resolution");
    let resolved = run(
        &oncall,
        IncidentCommand::Resolve {
            id: main,
            code: CloseCode::SolvedPermanently,
            notes: "Payment gateway TLS certificate renewed".into(),
        },
    )?;
    for f in &resolved.follow_ups {
        let done = matches!(f.result, FollowUpResult::Applied { .. });
        println!(
            "  follow-up {}: {} {}",
            f.process,
            f.number.map(|n| n.to_string()).unwrap_or_default(),
            if done {
                "resolved with the parent's notes"
            } else {
                "skipped"
            }
        );
    }

    // 4. Closing needs the post-incident review.
    println!("\n== Closing");
    match run(&oncall, IncidentCommand::Close { id: main }) {
        Err(e) => println!("  close refused: {} ({})", e, e.code()),
        Ok(_) => println!("  closed?!"),
    }
    run(&duty_manager, IncidentCommand::PublishReview {
        id: main,
        summary: "Expired TLS certificate on the payment gateway stopped card payments for 42 minutes".into(),
        findings: "Certificate expiry was not monitored".into(),
        action_items: vec!["Alert 30 days before certificate expiry".into(), "Automate renewal".into()],
    })?;
    run(&oncall, IncidentCommand::Close { id: main })?;
    let closed = engine.view(None)?.incident(main)?.ok_or("missing")?;
    let review = closed.major.review.as_ref().ok_or("no review")?;
    println!(
        "  review r{} published by {}: {}",
        review.revision, review.published_by, review.summary
    );
    for item in &review.action_items {
        println!("    - {item}");
    }
    println!(
        "  {} is {}",
        major.number.map(|n| n.to_string()).unwrap_or_default(),
        closed.status.kind().name().replace('_', " ")
    );

    println!("\n== Timeline of the major incident (event types)");
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for entry in engine.view(None)?.timeline(RecordRef::incident(main))? {
        *counts.entry(entry.event_type).or_default() += 1;
    }
    for (t, n) in counts {
        println!("  {n:>3} x {t}");
    }
    Ok(())
}
