//! Walks an incident, a problem and a change through their lifecycles with the pure deciders
//! and prints the event log they produce: what a production-support day looks like as history.
//!
//! Run with `cargo run --example story`.

use chrono::{DateTime, Duration, TimeZone, Utc};
use opsledger::core::change::ChangeDecider;
use opsledger::core::incident::IncidentDecider;
use opsledger::core::problem::ProblemDecider;
use opsledger::core::{Actor, Context, Decider, DomainEvent, Policy, Role};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::sync::Arc;

/// The log as the example keeps it: position, time, actor, event.
struct Log {
    lines: Vec<(DateTime<Utc>, String, &'static str, Value)>,
}

impl Log {
    /// Decides `command` against `state`, appends the events, returns the new state.
    fn run<D>(
        &mut self,
        state: D::State,
        command: Value,
        actor: &Actor,
        now: DateTime<Utc>,
        policy: &Arc<Policy>,
    ) -> D::State
    where
        D: Decider,
        D::Command: DeserializeOwned,
        D::Event: Serialize + DomainEvent,
    {
        let cmd: D::Command = serde_json::from_value(command).expect("well-formed command");
        let ctx = Context::new(now, actor.clone(), Arc::clone(policy));
        let events =
            D::decide(&state, &cmd, &ctx).unwrap_or_else(|e| panic!("refused: {e} ({})", e.code()));
        let mut state = state;
        for event in &events {
            let payload = serde_json::to_value(event).expect("events serialize");
            self.lines
                .push((now, actor.id.to_string(), event.event_type(), payload));
            state = D::evolve(state, event);
        }
        state
    }
}

fn main() {
    let policy = Arc::new(Policy::default());
    let t0 = Utc
        .with_ymd_and_hms(2026, 3, 2, 8, 55, 0)
        .single()
        .expect("valid instant");
    let at = |minutes: i64| t0 + Duration::minutes(minutes);
    let caller = Actor::new("bob", [Role::Requester]);
    let agent = Actor::new("alice", [Role::Agent]);
    let problem_manager = Actor::new("priya", [Role::ProblemManager]);
    let change_manager = Actor::new("carl", [Role::ChangeManager]);
    let cab = Actor::new("dana", [Role::CabMember]);

    let inc = "0196a000-0000-7000-8000-000000000001";
    let prb = "0196a000-0000-7000-8000-000000000002";
    let chg = "0196a000-0000-7000-8000-000000000003";
    let mut log = Log { lines: Vec::new() };

    // The incident: reported, worked, parked on a problem, resolved when the fix lands.
    let mut incident = None;
    for (minute, actor, cmd) in [
        (
            0,
            &caller,
            json!({"command": "open", "id": inc, "title": "Checkout returns HTTP 500",
            "caller": "bob", "impact": "high", "urgency": "high", "service": "payments",
            "cis": ["db-prod-01"]}),
        ),
        (
            4,
            &agent,
            json!({"command": "assign", "id": inc, "group": "payments-oncall", "assignee": "alice"}),
        ),
        (
            9,
            &agent,
            json!({"command": "record_impact_start", "id": inc, "started_at": at(-20)}),
        ),
        (
            30,
            &agent,
            json!({"command": "link_problem", "id": inc, "problem": prb}),
        ),
        (
            31,
            &agent,
            json!({"command": "put_on_hold", "id": inc,
            "reason": {"kind": "awaiting_problem", "problem": prb}}),
        ),
    ] {
        incident = log.run::<IncidentDecider>(incident, cmd, actor, at(minute), &policy);
    }

    // The problem: analysed, root cause found, published as a known error, fixed by a change.
    let mut problem = None;
    for (minute, cmd) in [
        (
            25,
            json!({"command": "create", "id": prb, "title": "Connection pool exhaustion on db-prod-01",
            "impact": "high", "urgency": "medium", "service": "payments", "cis": ["db-prod-01"]}),
        ),
        (
            26,
            json!({"command": "assign", "id": prb, "group": "dba", "assignee": "priya"}),
        ),
        (27, json!({"command": "assess", "id": prb})),
        (28, json!({"command": "start_analysis", "id": prb})),
        (
            29,
            json!({"command": "link_incident", "id": prb, "incident": inc}),
        ),
        (
            90,
            json!({"command": "record_root_cause", "id": prb, "cause": "Pool size 20 after the 4.2 upgrade; default used to be 100"}),
        ),
        (
            95,
            json!({"command": "mark_known_error", "id": prb, "symptom": "HTTP 500 on checkout under load",
            "root_cause": "Connection pool too small", "workaround": "Restart the checkout pods",
            "affected_cis": ["db-prod-01"]}),
        ),
        (
            100,
            json!({"command": "start_fix", "id": prb, "fix_notes": "Raise the pool size by a normal change"}),
        ),
        (
            101,
            json!({"command": "link_fixing_change", "id": prb, "change": chg}),
        ),
    ] {
        problem = log.run::<ProblemDecider>(problem, cmd, &problem_manager, at(minute), &policy);
    }

    // The change: planned, assessed, approved by the CAB (not by its requester), implemented
    // inside its window, reviewed and closed.
    let window = json!({"start": at(24 * 60), "end": at(24 * 60 + 60)});
    let mut change = None;
    for (minute, actor, cmd) in [
        (
            110,
            &change_manager,
            json!({"command": "request", "id": chg, "title": "Raise db-prod-01 pool size to 100",
            "description": "Fix for the checkout outage", "change_type": {"kind": "normal"}, "risk": "moderate",
            "cis": ["db-prod-01"], "implementation_plan": "Set pool_size=100; rolling restart",
            "backout_plan": "Set pool_size=20; rolling restart", "test_plan": "Load test checkout"}),
        ),
        (
            111,
            &change_manager,
            json!({"command": "link_fixes_problem", "id": chg, "problem": prb}),
        ),
        (
            112,
            &change_manager,
            json!({"command": "plan", "id": chg, "window": window, "assignee": "alice"}),
        ),
        (
            113,
            &change_manager,
            json!({"command": "submit", "id": chg}),
        ),
        (
            120,
            &change_manager,
            json!({"command": "request_authorization", "id": chg}),
        ),
        (
            180,
            &cab,
            json!({"command": "approve", "id": chg, "comment": "Low blast radius, good backout"}),
        ),
        (
            24 * 60 + 5,
            &agent,
            json!({"command": "start_implementation", "id": chg}),
        ),
        (
            24 * 60 + 35,
            &agent,
            json!({"command": "complete_implementation", "id": chg}),
        ),
        (
            24 * 60 + 240,
            &change_manager,
            json!({"command": "close", "id": chg,
            "code": {"kind": "successful"}, "notes": "Pool at 100; no errors under load test"}),
        ),
    ] {
        change = log.run::<ChangeDecider>(change, cmd, actor, at(minute), &policy);
    }

    // What the engine's process managers do: the successful fixing change moves the problem on,
    // and the fixed problem resolves the incident that waited for it.
    let later = at(24 * 60 + 241);
    problem = log.run::<ProblemDecider>(
        problem,
        json!({"command": "record_fix_change_outcome",
        "id": prb, "change": chg, "successful": true}),
        &problem_manager,
        later,
        &policy,
    );
    incident = log.run::<IncidentDecider>(
        incident,
        json!({"command": "resolve_from_problem",
        "id": inc, "problem": prb, "notes": "Fixed by CHG: pool size raised"}),
        &agent,
        later,
        &policy,
    );
    incident = log.run::<IncidentDecider>(
        incident,
        json!({"command": "close", "id": inc}),
        &caller,
        at(24 * 60 + 300),
        &policy,
    );
    problem = log.run::<ProblemDecider>(
        problem,
        json!({"command": "close", "id": prb}),
        &problem_manager,
        at(24 * 60 + 300),
        &policy,
    );

    println!(
        "{:>3}  {:<20}  {:<6}  {:<38}  payload",
        "pos", "recorded", "actor", "event"
    );
    for (n, (at, actor, kind, payload)) in log.lines.iter().enumerate() {
        let mut payload = payload.clone();
        if let Some(obj) = payload.as_object_mut() {
            for noise in ["type", "id", "at", "by"] {
                obj.remove(noise);
            }
        }
        println!(
            "{:>3}  {}  {:<6}  {:<38}  {}",
            n + 1,
            at.format("%Y-%m-%d %H:%M"),
            actor,
            kind,
            payload
        );
    }
    let status = |v: Value| v["status"]["status"].as_str().unwrap_or("?").to_owned();
    println!(
        "\nfinal states: incident {}, problem {}, change {}",
        status(serde_json::to_value(&incident).expect("state serializes")),
        status(serde_json::to_value(&problem).expect("state serializes")),
        status(serde_json::to_value(&change).expect("state serializes")),
    );
}
