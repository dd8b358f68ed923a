//! The parity scenario (`tests/parity/scenario.json`) through the Rust API: an `Engine` built
//! in this process (in memory, a manual clock); the scenario's steps, written as JSON-RPC
//! calls, go to the method registry over it (the one mapping from method names to engine
//! calls), called directly. Every step must have its expected outcome. The log and the KPI
//! report are read through the Rust API (`Engine::events`, `ReadView::kpis`) and must equal
//! what `events.read` and `query.kpis` answer. The run's dump (step outcomes, the log, the KPI
//! report) is written to `<target>/tmp/parity-rust.json`, where the parity suite
//! (`tests/parity/test_parity.py`) compares it with the same scenario run through the C ABI
//! and over HTTP.

use opsledger::core::kpi::KpiQuery;
use opsledger::{Clock, Engine, EngineConfig, ManualClock, SystemClock};
use opsledger_rpc::api::results::WireEvent;
use opsledger_rpc::{CallContext, Dispatcher, Limits, TransportKind};
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The scenario, with every `{"$file": path}` replaced by the file's text.
fn scenario() -> Value {
    let path = repository().join("tests/parity/scenario.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut scenario: Value = serde_json::from_str(&text).expect("the scenario is JSON");
    substitute(&mut scenario["steps"]);
    scenario
}

fn substitute(value: &mut Value) {
    match value {
        Value::Object(fields) => {
            if fields.len() == 1
                && let Some(Value::String(file)) = fields.get("$file")
            {
                let text = std::fs::read_to_string(repository().join(file.as_str()))
                    .unwrap_or_else(|e| panic!("{file}: {e}"));
                *value = Value::String(text);
                return;
            }
            fields.values_mut().for_each(substitute);
        }
        Value::Array(items) => items.iter_mut().for_each(substitute),
        _ => {}
    }
}

struct Door {
    dispatcher: Dispatcher,
    context: CallContext,
    actors: Map<String, Value>,
}

impl Door {
    /// One call; `who` acts (the `actor` param) unless the method takes no actor (`None`).
    fn call(&self, who: Option<&str>, method: &str, params: &Value) -> Value {
        let mut params = params.as_object().cloned().unwrap_or_default();
        if let Some(who) = who {
            params.insert("actor".into(), self.actors[who].clone());
        }
        let request = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let reply = self
            .dispatcher
            .handle_with(&self.context, &request.to_string())
            .expect("a request is answered");
        serde_json::from_str(&reply).expect("the reply is JSON")
    }
}

#[test]
fn parity_scenario_runs_through_the_rust_api() {
    let scenario = scenario();
    // As the server's `--clock manual`: the clock starts at the present, and the scenario's
    // first call moves it to its start.
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let engine = Arc::new(
        Engine::in_memory(EngineConfig::default().with_clock(clock.clone() as Arc<dyn Clock>))
            .expect("an in-memory engine opens"),
    );
    let registry = opsledger_rpc::api::registry_with_clock(Arc::clone(&engine), Some(clock));
    let door = Door {
        dispatcher: Dispatcher::with_limits(registry, Limits::default()),
        context: CallContext::local(TransportKind::InProcess, None),
        actors: scenario["actors"].as_object().expect("actors").clone(),
    };

    let started = door.call(
        Some("admin"),
        "admin.set_clock",
        &json!({"now": scenario["start"]}),
    );
    assert!(started.get("result").is_some(), "{started}");
    let mut outcomes = Vec::new();
    for (number, step) in scenario["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .enumerate()
    {
        let (who, method) = (
            step["as"].as_str().unwrap(),
            step["method"].as_str().unwrap(),
        );
        let reply = door.call(Some(who), method, &step["params"]);
        let place = format!("step {} ({method} as {who})", number + 1);
        match step.get("error") {
            Some(expected) => {
                let code = &reply["error"]["data"]["domain_code"];
                assert_eq!(code, expected, "{place}: {reply}");
                outcomes.push(json!({"error": code}));
            }
            None => {
                let result = reply
                    .get("result")
                    .unwrap_or_else(|| panic!("{place}: {}", reply["error"]));
                outcomes.push(json!({"result": result}));
            }
        }
    }

    let mut events = Vec::new();
    let mut after = 0;
    loop {
        let page = door.call(None, "events.read", &json!({"after": after, "max": 500}));
        let page = &page["result"];
        let batch = page["events"].as_array().expect("events").clone();
        if batch.is_empty() {
            break;
        }
        after = page["next"].as_u64().expect("next");
        events.extend(batch);
    }
    let kpis = door.call(None, "query.kpis", &json!({"query": scenario["kpis"]}));
    let kpis = kpis
        .get("result")
        .cloned()
        .unwrap_or_else(|| panic!("{kpis}"));

    // The Rust API reads the same log and KPIs as the methods answer.
    let mut logged = Vec::new();
    loop {
        let page = engine
            .events(logged.len() as u64 + 1, 500)
            .expect("the log reads");
        if page.is_empty() {
            break;
        }
        logged.extend(
            page.iter()
                .map(|e| serde_json::to_value(WireEvent::from(e)).unwrap()),
        );
    }
    assert_eq!(logged, events, "Engine::events and events.read");
    let query: KpiQuery = serde_json::from_value(scenario["kpis"].clone()).expect("a KPI query");
    let report = engine
        .view(None)
        .and_then(|v| v.kpis(&query))
        .expect("the KPIs");
    assert_eq!(
        serde_json::to_value(&report).unwrap(),
        kpis,
        "ReadView::kpis and query.kpis"
    );

    // The story happened: both incidents waiting for the problem were resolved by its fix.
    let resolved = events
        .iter()
        .filter(|e| e["event_type"] == "incident.resolved")
        .count();
    assert_eq!(resolved, 2, "incidents resolved by the problem's fix");

    let dump = json!({"steps": outcomes, "events": logged, "kpis": report});
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("parity-rust.json");
    std::fs::write(&out, serde_json::to_string_pretty(&dump).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", out.display()));
}
