//! Two engines on one PostgreSQL database, as two replicas of a server would be: the SLA
//! scheduler ticks on one of them at a time (the scheduler lease), the other takes over when
//! the leader closes or loses its connection, and a write on one is read on the other at once.
//! Runs on the server named by `OPSLEDGER_PG_URL`, in a schema of its own.

use std::time::{Duration, Instant};

use opsledger::core::incident::IncidentCommand;
use opsledger::core::{Actor, Impact, IncidentId, Role, Urgency};
use opsledger::{CommandEnvelope, Engine, EngineConfig, SchedulerHandle};
use opsledger_store_postgres::testing::{TestSchema, test_url};

const TICK: Duration = Duration::from_millis(50);

fn location(url: &str, schema: &TestSchema, application: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!(
        "{url}{separator}schema={}&application_name={application}",
        schema.name
    )
}

/// Waits until `done` holds, for at most `limit`; whether it did.
fn eventually(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    done()
}

fn ticking(handle: &SchedulerHandle) -> bool {
    let before = handle.stats().ticks;
    std::thread::sleep(TICK * 4);
    handle.stats().ticks > before
}

#[test]
fn one_replica_ticks_and_another_takes_over_when_it_goes() {
    let Some(url) = test_url() else { return };
    let schema = TestSchema::new(&url, "lease");
    let a = Engine::open_location(
        &location(&url, &schema, &schema.name),
        EngineConfig::default(),
    )
    .unwrap();
    let b = Engine::open_location(
        &location(&url, &schema, "replica_b"),
        EngineConfig::default(),
    )
    .unwrap();
    let on_a = a.start_scheduler(TICK);
    std::thread::sleep(TICK * 2);
    let on_b = b.start_scheduler(TICK);
    assert!(eventually(Duration::from_secs(5), || on_b.stats().standby >= 3));
    assert!(
        ticking(&on_a),
        "the first scheduler holds the lease and ticks"
    );
    assert!(!ticking(&on_b), "the second stands by: {:?}", on_b.stats());

    // A write on one replica is read on the other at once.
    let id = IncidentId(uuid::Uuid::from_u128(
        0x0190_0000_0000_7000_8000_0000_0000_0001,
    ));
    let agent = Actor::new("alice", [Role::Agent]);
    a.execute(CommandEnvelope::new(
        agent,
        IncidentCommand::Open {
            id,
            title: "Checkout fails".into(),
            description: String::new(),
            caller: "bob".into(),
            impact: Impact::High,
            urgency: Urgency::High,
            service: None,
            cis: vec![],
            group: None,
            assignee: None,
            alert: None,
        },
    ))
    .unwrap();
    let seen = b
        .view(None)
        .unwrap()
        .record(opsledger::RecordRef::incident(id))
        .unwrap();
    assert!(
        seen.is_some(),
        "the other replica reads the new incident at once"
    );

    // The leader's scheduler stops but its process lives on, holding the lease: the other
    // replica still stands by (never two leaders).
    let stopped = on_a.stop();
    assert!(stopped.ticks > 0);
    assert!(
        !ticking(&on_b),
        "the lease is still held: {:?}",
        on_b.stats()
    );
    // The leader's process dies: the database ends its sessions, and with them the lease;
    // the other replica takes it over within a few intervals.
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
            &[&schema.name],
        )
        .unwrap();
    assert!(
        eventually(Duration::from_secs(10), || ticking(&on_b)),
        "the standby takes over: {:?}",
        on_b.stats()
    );

    // The new leader closes: the first replica (its connections made again) takes the lease
    // back once it runs a scheduler again.
    let on_a = a.start_scheduler(TICK);
    assert!(!ticking(&on_a), "{:?}", on_a.stats());
    on_b.stop();
    b.close().unwrap();
    assert!(
        eventually(Duration::from_secs(10), || ticking(&on_a)),
        "the first replica takes the lease back: {:?}",
        on_a.stats()
    );
    on_a.stop();
    a.close().unwrap();
}

fn open_command(n: u128, title: &str) -> CommandEnvelope {
    CommandEnvelope::new(
        Actor::new("alice", [Role::Agent]),
        IncidentCommand::Open {
            id: IncidentId(uuid::Uuid::from_u128(
                0x0190_0000_0000_7000_8000_0000_0000_0000 | n,
            )),
            title: title.into(),
            description: String::new(),
            caller: "bob".into(),
            impact: Impact::Low,
            urgency: Urgency::Low,
            service: None,
            cis: vec![],
            group: None,
            assignee: None,
            alert: None,
        },
    )
}

#[test]
fn a_replica_decides_under_the_policy_another_one_published_and_sees_its_read_models_current() {
    let Some(url) = test_url() else { return };
    let schema = TestSchema::new(&url, "policy");
    let a = Engine::open_location(
        &location(&url, &schema, "replica_a"),
        EngineConfig::default(),
    )
    .unwrap();
    let b = Engine::open_location(
        &location(&url, &schema, "replica_b"),
        EngineConfig::default(),
    )
    .unwrap();
    // The other replica's writes count as projected here: the read models are shared.
    for n in 1..=5 {
        a.execute(open_command(n, "Printer on fire")).unwrap();
    }
    let stats = b.stats().unwrap();
    assert_eq!(stats.views_checkpoint, stats.head, "{stats:?}");

    // A stricter policy published on one replica is in force for commands on the other.
    let mut document = (*a.policy()).clone();
    document.limits.max_title_bytes = 10;
    a.publish_policy(
        &Actor::new("ada", [Role::Admin]),
        document,
        opsledger::PublishPolicy::default(),
    )
    .unwrap();
    let refused = b.execute(open_command(6, "A title longer than ten bytes"));
    let error = refused.expect_err("decided under the old policy");
    assert_eq!(error.code(), "limit_exceeded", "{error}");
    assert_eq!(b.policy().limits.max_title_bytes, 10);
    b.execute(open_command(7, "Short")).unwrap();
    a.close().unwrap();
    b.close().unwrap();
}

#[test]
fn creations_on_several_replicas_at_once_never_conflict_on_their_numbers() {
    let Some(url) = test_url() else { return };
    let schema = TestSchema::new(&url, "numbering");
    // One attempt each: a creation that had to retry would fail.
    let config = || EngineConfig::default().with_max_attempts(1);
    let replicas: Vec<Engine> = ["replica_a", "replica_b", "replica_c"]
        .iter()
        .map(|name| Engine::open_location(&location(&url, &schema, name), config()).unwrap())
        .collect();
    const PER_THREAD: u128 = 15;
    std::thread::scope(|scope| {
        for (r, engine) in replicas.iter().enumerate() {
            for t in 0..2u128 {
                scope.spawn(move || {
                    for i in 0..PER_THREAD {
                        let n = 1 + (r as u128 * 2 + t) * PER_THREAD + i;
                        if let Err(e) = engine.execute(open_command(n, "Disk full")) {
                            panic!("open {n} on replica {r}: {e}");
                        }
                    }
                });
            }
        }
    });
    // Every incident has its own number, and the numbers run 1..=90 without a gap.
    let view = replicas[0].view(None).unwrap();
    let mut numbers: Vec<String> = (1..=3 * 2 * PER_THREAD)
        .map(|n| {
            let id = IncidentId(uuid::Uuid::from_u128(
                0x0190_0000_0000_7000_8000_0000_0000_0000 | n,
            ));
            view.record(opsledger::RecordRef::incident(id))
                .unwrap()
                .expect("stored")
                .number
                .expect("numbered")
                .to_string()
        })
        .collect();
    numbers.sort();
    let expected: Vec<String> = (1..=3 * 2 * PER_THREAD)
        .map(|n| format!("INC{n:07}"))
        .collect();
    assert_eq!(numbers, expected);
    for engine in replicas {
        engine.close().unwrap();
    }
}

/// A replica opening while another one writes finds the read models as that one left them:
/// the writes it sees land meanwhile are never taken for damage (which would clear the read
/// models every replica shares, and rebuild them under the others' feet).
#[test]
fn a_replica_opening_while_another_writes_leaves_the_shared_read_models_alone() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let Some(url) = test_url() else { return };
    let schema = TestSchema::new(&url, "opening");
    let writer =
        Engine::open_location(&location(&url, &schema, "writer"), EngineConfig::default()).unwrap();
    let done = AtomicBool::new(false);
    /// Stops the writes however the opens end (a failed assertion included).
    struct Stop<'a>(&'a AtomicBool);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Release);
        }
    }
    let written = std::thread::scope(|scope| {
        let stop = Stop(&done);
        let writes = scope.spawn(|| {
            let mut n = 0u128;
            while !done.load(Ordering::Acquire) {
                n += 1;
                writer
                    .execute(open_command(n, "Queue backlog"))
                    .unwrap_or_else(|e| panic!("open {n}: {e}"));
            }
            n
        });
        // Opens one after the other while the writes go on (at least one write between two
        // opens, so that every open races a commit).
        let mut seen = 0u128;
        for round in 0..12 {
            let replica =
                Engine::open_location(&location(&url, &schema, "replica"), EngineConfig::default())
                    .unwrap();
            let stats = replica.stats().unwrap();
            assert!(
                !stats.open.views_rebuilt,
                "open {round} rebuilt the shared read models: {:?}",
                stats.open
            );
            replica.close().unwrap();
            let count = writer.stats().unwrap().head;
            assert!(eventually(Duration::from_secs(10), || {
                writer.stats().unwrap().head > count
            }));
            seen += 1;
        }
        drop(stop);
        assert_eq!(seen, 12);
        writes.join().unwrap()
    });
    // Every incident written is in the read models, under its number.
    let view = writer.view(None).unwrap();
    for n in 1..=written {
        let id = IncidentId(uuid::Uuid::from_u128(
            0x0190_0000_0000_7000_8000_0000_0000_0000 | n,
        ));
        assert!(
            view.record(opsledger::RecordRef::incident(id))
                .unwrap()
                .is_some_and(|r| r.number.is_some()),
            "incident {n} is in the read models"
        );
    }
    writer.close().unwrap();
}

/// A replica that did not live to run its command's follow-ups: the one holding the scheduler
/// lease runs them at its next tick, once.
#[test]
fn the_follow_ups_one_replica_left_are_run_by_the_next_tick_of_another() {
    let Some(url) = test_url() else { return };
    let schema = TestSchema::new(&url, "followups");
    let faults = opsledger::Faults::new();
    let config = EngineConfig {
        faults: faults.clone(),
        ..EngineConfig::default()
    };
    let a = Engine::open_location(&location(&url, &schema, "replica_a"), config).unwrap();
    let b = Engine::open_location(
        &location(&url, &schema, "replica_b"),
        EngineConfig::default(),
    )
    .unwrap();
    let agent = Actor::new("alice", [Role::Agent]);
    let id = |n: u128| {
        IncidentId(uuid::Uuid::from_u128(
            0x0190_0000_0000_7000_8000_0000_0000_0000 | n,
        ))
    };
    for n in 1..=3 {
        a.execute(open_command(n, "VPN down")).unwrap();
    }
    for child in [2, 3] {
        a.execute(CommandEnvelope::new(
            agent.clone(),
            IncidentCommand::LinkChild {
                id: id(1),
                child: id(child),
            },
        ))
        .unwrap();
    }
    a.execute(CommandEnvelope::new(
        agent.clone(),
        IncidentCommand::Assign {
            id: id(1),
            group: Some("network".into()),
            assignee: Some("alice".into()),
        },
    ))
    .unwrap();
    // The parent's resolution cascades to both children; one of the two follow-ups fails on
    // replica A, which is then gone before it could run it again.
    faults.fail_next(opsledger::FaultPoint::FollowUp, 1);
    a.execute(CommandEnvelope::new(
        agent.clone(),
        IncidentCommand::Resolve {
            id: id(1),
            code: opsledger::core::incident::CloseCode::SolvedWorkaround,
            notes: "Gateway restarted".into(),
        },
    ))
    .unwrap();
    let resolved = |engine: &Engine| -> usize {
        [2, 3]
            .into_iter()
            .filter(|&n| {
                engine
                    .view(None)
                    .unwrap()
                    .incident(id(n))
                    .unwrap()
                    .unwrap()
                    .status
                    .kind()
                    == opsledger::core::incident::IncidentStatusKind::Resolved
            })
            .count()
    };
    assert_eq!(resolved(&b), 1, "one follow-up ran on replica A");
    drop(a);
    // The other replica's tick runs the missing one, and the next tick runs nothing again.
    let now = opsledger::Clock::now(&opsledger::SystemClock);
    b.tick(now).unwrap();
    assert_eq!(resolved(&b), 2);
    let head = b.head().unwrap();
    b.tick(now).unwrap();
    assert_eq!(b.head().unwrap(), head, "nothing applied twice");
    b.close().unwrap();
}
