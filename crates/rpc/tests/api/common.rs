//! Fixtures: an engine (in memory or sled) with a manual clock, its dispatcher, and helpers to
//! call methods and read replies.

#![allow(dead_code)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use opsledger::core::calendar::BusinessCalendar;
use opsledger::core::sla::{CalendarRef, SlaDefinition, SlaKey, SlaMetric, SlaPolicy, SlaScope};
use opsledger::core::{Policy, RecordKind};
use opsledger::{Engine, EngineConfig, ManualClock, SequentialIds};
use opsledger_rpc::{CallContext, Dispatcher, Limits, TransportKind, api};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;

/// 2026-05-04 09:00 UTC, a Monday.
pub fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 4, 9, 0, 0).single().unwrap()
}

/// An engine, its clock and its dispatcher.
pub struct Rig {
    pub engine: Arc<Engine>,
    pub clock: Arc<ManualClock>,
    pub rpc: Dispatcher,
}

/// The default policy with two 24x7 SLAs on incidents: response 60 min, resolution 4 h.
pub fn policy() -> Policy {
    let cal = || CalendarRef::exact("24x7", 1);
    Policy {
        sla: SlaPolicy::new(
            vec![
                SlaDefinition::new(
                    SlaKey::new("response", 1),
                    "Response",
                    SlaScope::all(RecordKind::Incident),
                    SlaMetric::Response,
                    Duration::minutes(60),
                    cal(),
                ),
                SlaDefinition::new(
                    SlaKey::new("resolution", 1),
                    "Resolution",
                    SlaScope::all(RecordKind::Incident),
                    SlaMetric::Resolution,
                    Duration::hours(4),
                    cal(),
                ),
            ],
            vec![BusinessCalendar::always()],
        ),
        ..Policy::default()
    }
}

fn config(clock: &Arc<ManualClock>, seed: u64) -> EngineConfig {
    EngineConfig::default()
        .with_clock(clock.clone())
        .with_ids(Arc::new(SequentialIds::new(seed)))
        .with_policy(policy())
}

impl Rig {
    /// An in-memory engine at [`start`].
    pub fn memory() -> Rig {
        let clock = Arc::new(ManualClock::new(start()));
        let engine = Arc::new(Engine::in_memory(config(&clock, 7)).unwrap());
        Rig::around(engine, clock)
    }

    /// A sled engine in `dir`, its clock at `now`, sequential ids from `seed` (a reopened
    /// engine needs another seed: ids must stay unique across runs).
    pub fn sled(dir: &Path, now: DateTime<Utc>, seed: u64) -> Rig {
        let clock = Arc::new(ManualClock::new(now));
        let engine = Arc::new(Engine::open(dir, config(&clock, seed)).unwrap());
        Rig::around(engine, clock)
    }

    /// An in-memory engine at [`start`] under `policy` (the library's default, without SLAs,
    /// when `None`), served with its manual clock: `admin.set_clock` moves it.
    pub fn manual(policy: Option<Policy>) -> Rig {
        let clock = Arc::new(ManualClock::new(start()));
        let mut config = EngineConfig::default()
            .with_clock(clock.clone())
            .with_ids(Arc::new(SequentialIds::new(7)));
        if let Some(policy) = policy {
            config = config.with_policy(policy);
        }
        let engine = Arc::new(Engine::in_memory(config).unwrap());
        let rpc = Dispatcher::with_limits(
            api::registry_with_clock(engine.clone(), Some(clock.clone())),
            Limits::default(),
        );
        Rig { engine, clock, rpc }
    }

    fn around(engine: Arc<Engine>, clock: Arc<ManualClock>) -> Rig {
        let rpc = api::dispatcher(engine.clone(), Limits::default());
        Rig { engine, clock, rpc }
    }

    /// Closes a sled engine (the dispatcher holds the last other handle).
    pub fn close(self) -> DateTime<Utc> {
        let now = opsledger::Clock::now(&*self.clock);
        drop(self.rpc);
        let engine = Arc::try_unwrap(self.engine).expect("no other engine handle");
        engine.close().unwrap();
        now
    }

    pub fn advance(&self, minutes: i64) {
        self.clock.advance(Duration::minutes(minutes));
    }

    pub fn now(&self) -> DateTime<Utc> {
        opsledger::Clock::now(&*self.clock)
    }

    pub fn head(&self) -> u64 {
        self.engine.head().unwrap()
    }

    /// Calls `method` in process (trusted): the result, or the error object.
    pub fn call(&self, method: &str, params: Value) -> Result<Value, Value> {
        call_with(&self.rpc, &CallContext::in_process(), method, params)
    }

    /// Calls and expects a result.
    pub fn ok(&self, method: &str, params: Value) -> Value {
        match self.call(method, params.clone()) {
            Ok(v) => v,
            Err(e) => panic!("{method} {params} failed: {e}"),
        }
    }

    /// Calls and expects an error.
    pub fn err(&self, method: &str, params: Value) -> Value {
        match self.call(method, params.clone()) {
            Ok(v) => panic!("{method} {params} succeeded: {v}"),
            Err(e) => e,
        }
    }
}

/// A stdio-like trusted context without a default identity.
pub fn stdio() -> CallContext {
    CallContext::local(TransportKind::Stdio, None)
}

/// One request through `handle_with`; the result or the error object.
pub fn call_with(
    rpc: &Dispatcher,
    ctx: &CallContext,
    method: &str,
    params: Value,
) -> Result<Value, Value> {
    let request = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let reply = rpc
        .handle_with(ctx, &request.to_string())
        .expect("a request is answered");
    let mut reply: Value = serde_json::from_str(&reply).unwrap();
    match reply.get("error") {
        Some(e) => Err(e.clone()),
        None => Ok(reply["result"].take()),
    }
}

/// `{"id": id, "roles": roles}`.
pub fn actor(id: &str, roles: &[&str]) -> Value {
    json!({"id": id, "roles": roles})
}

/// Adds `"actor": actor` to an object of params.
pub fn by(actor: &Value, mut params: Value) -> Value {
    params["actor"] = actor.clone();
    params
}

pub fn desk() -> Value {
    actor("sam.desk", &["agent"])
}
pub fn eve() -> Value {
    actor("eve.network", &["agent"])
}
pub fn pat() -> Value {
    actor("pat.problems", &["problem_manager"])
}
pub fn chris() -> Value {
    actor("chris.changes", &["change_manager"])
}
pub fn cora() -> Value {
    actor("cora.cab", &["cab_member"])
}
pub fn carol() -> Value {
    actor("carol", &["requester"])
}
pub fn root() -> Value {
    actor("root", &["admin"])
}

/// Params of a valid `incident.open`.
pub fn open_params(title: &str) -> Value {
    json!({
        "title": title,
        "caller": "carol",
        "impact": "medium",
        "urgency": "high",
        "service": "remote-access",
        "cis": ["vpn-gw-02"],
        "group": "network",
    })
}

/// The error's `data.domain_code`.
pub fn domain_code(error: &Value) -> &str {
    error["data"]["domain_code"].as_str().unwrap_or("")
}

/// The error's code.
pub fn code(error: &Value) -> i64 {
    error["code"].as_i64().unwrap()
}
