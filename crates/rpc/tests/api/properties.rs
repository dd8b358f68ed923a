//! Whatever method and params arrive, the API never panics (never -32603), always answers a
//! well-formed reply, and never writes when it answers an error.

use crate::common::*;
use opsledger_rpc::CallContext;
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use std::sync::LazyLock;

static RIG: LazyLock<Rig> = LazyLock::new(|| {
    let rig = Rig::memory();
    rig.ok("incident.open", by(&desk(), open_params("Seed incident")));
    rig.ok(
        "problem.create",
        by(
            &pat(),
            json!({"title": "Seed problem", "impact": "low", "urgency": "low"}),
        ),
    );
    rig
});

fn method_name() -> impl Strategy<Value = String> {
    let names: Vec<String> = RIG.rpc.registry().names().map(str::to_owned).collect();
    prop_oneof![
        4 => prop::sample::select(names),
        1 => "[a-z]{1,8}\\.[a-z_]{1,10}",
        1 => Just("rpc.discover".to_owned()),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1.0e6f64..1.0e6).prop_map(Value::from),
        ".{0,10}".prop_map(Value::String),
        prop::sample::select(vec![
            "INC0000001",
            "INC0000002",
            "PRB0000001",
            "CHG0000001",
            "high",
            "low",
            "agent",
            "admin",
            "2026-05-04T09:30:00Z",
            "0190c4b2-7a1e-7c3d-9e5f-0123456789ab",
            "normal",
            "awaiting_problem",
            "in_progress",
        ])
        .prop_map(|s| Value::String(s.into())),
    ]
}

fn field() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "id",
            "title",
            "caller",
            "impact",
            "urgency",
            "reason",
            "kind",
            "problem",
            "cis",
            "actor",
            "roles",
            "idempotency_key",
            "expected_version",
            "as_of",
            "after",
            "max",
            "timeout_ms",
            "window",
            "start",
            "end",
            "text",
            "notes",
            "code",
            "version",
            "query",
            "group",
            "assignee",
        ])
        .prop_map(str::to_owned),
        "[a-z_]{1,8}",
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(field(), inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn params() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => prop::collection::btree_map(field(), value(), 0..7)
            .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        1 => prop::collection::vec(value(), 0..4).prop_map(Value::Array),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 384, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_calls_never_panic_and_never_write_on_error(
        method in method_name(),
        params in params(),
        timeout in 0u64..20,
    ) {
        let rig = &*RIG;
        // Keep long polls short.
        let mut params = params;
        if method == "events.subscribe" && let Value::Object(map) = &mut params {
            map.insert("timeout_ms".into(), json!(timeout));
        }
        let head = rig.head();
        let request = json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params});
        let reply = rig
            .rpc
            .handle_with(&CallContext::in_process(), &request.to_string())
            .expect("a request is answered");
        let reply: Value = serde_json::from_str(&reply).expect("the reply is JSON");
        prop_assert_eq!(&reply["jsonrpc"], "2.0");
        prop_assert_eq!(&reply["id"], 7);
        prop_assert!(reply.get("result").is_some() != reply.get("error").is_some());
        if let Some(error) = reply.get("error") {
            let code = error["code"].as_i64().unwrap();
            prop_assert_ne!(code, -32603, "{}", error);
            prop_assert!(
                (-32099..=-32000).contains(&code) || [-32600, -32601, -32602].contains(&code),
                "{}", error
            );
            prop_assert_eq!(rig.head(), head, "an error wrote: {}", error);
        }
    }
}
