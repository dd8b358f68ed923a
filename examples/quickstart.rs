//! Embed opsledger: open an engine on a directory, log an incident, assign, resolve and close
//! it, then print its audit trail and the queue.
//!
//! Run with `cargo run --example quickstart`.

use opsledger::core::incident::{CloseCode, IncidentCommand};
use opsledger::core::{Actor, Impact, IncidentId, Role, Urgency};
use opsledger::{CommandEnvelope, Engine, EngineConfig, QueueFilter, RecordRef, Uuid};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let engine = Engine::open(dir.path(), EngineConfig::default())?;
    println!("opened an engine in {}", dir.path().display());

    let desk = Actor::new("sam.servicedesk", [Role::Agent]);
    let dana = Actor::new("dana.dba", [Role::Agent]);
    let caller = Actor::new("carol", [Role::Requester]);
    let id = IncidentId(Uuid::now_v7());

    // 1. The service desk logs the incident for the caller and routes it to the DBA group.
    let opened = engine.execute(CommandEnvelope::new(
        desk.clone(),
        IncidentCommand::Open {
            id,
            title: "Order history page times out".into(),
            description: "Since 09:10 the order history page times out for all users".into(),
            caller: caller.id.clone(),
            impact: Impact::Medium,
            urgency: Urgency::High,
            service: Some("webshop".into()),
            cis: vec!["db-orders-01".into()],
            group: Some("dba".into()),
            assignee: None,
            alert: None,
        },
    ))?;
    let number = opened.number.map(|n| n.to_string()).unwrap_or_default();
    println!(
        "logged {number} (version {}, position {})",
        opened.version, opened.events[0].position
    );

    // 2. Dana takes it: assigning a person starts work.
    engine.execute(CommandEnvelope::new(
        dana.clone(),
        IncidentCommand::Assign {
            id,
            group: Some("dba".into()),
            assignee: Some(dana.id.clone()),
        },
    ))?;
    // 3. A work note, then the resolution. The key makes a retried request safe.
    engine.execute(CommandEnvelope::new(
        dana.clone(),
        IncidentCommand::AddWorkNote {
            id,
            text: "Missing index on orders.customer_id after last night's migration".into(),
        },
    ))?;
    let resolve = CommandEnvelope::new(
        dana.clone(),
        IncidentCommand::Resolve {
            id,
            code: CloseCode::SolvedPermanently,
            notes: "Recreated the index; page loads in 80 ms".into(),
        },
    )
    .idempotency_key("dana-resolve-1");
    engine.execute(resolve.clone())?;
    let retried = engine.execute(resolve)?;
    println!(
        "resolve retried with the same idempotency key: replayed = {}, nothing written",
        retried.replayed
    );

    // 4. The caller confirms: closed.
    engine.execute(CommandEnvelope::new(caller, IncidentCommand::Close { id }))?;

    println!("\nTimeline of {number}:");
    for entry in engine.view(None)?.timeline(RecordRef::incident(id))? {
        println!(
            "  #{:<3} {}  {:<22} {:<26} {}{}",
            entry.position,
            entry.recorded_at.format("%H:%M:%S%.3f"),
            entry.actor,
            entry.event_type,
            entry.what,
            entry.why.map(|w| format!(" — {w}")).unwrap_or_default()
        );
    }

    let view = engine.view(None)?;
    let open = view.queue(&QueueFilter::incidents().open())?;
    let record = view.find(&number)?.ok_or("record not found")?;
    println!(
        "\n{number} is {}; open incidents in the queue: {}",
        record.status,
        open.items.len()
    );
    engine.close()?;
    Ok(())
}
