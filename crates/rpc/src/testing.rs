//! The JSON-RPC 2.0 specification's examples (§7) as data, the fixture methods they call, and a
//! comparison that follows the specification's latitude (batch responses in any order; `data`
//! is server-defined).
//!
//! Compiled only for this crate's tests and with the `spec-fixtures` feature, so that other
//! crates can run the same table over their transports. Never enable it in a shipped build.

use crate::{CallContext, Method, MethodError, MethodRegistry, NoParams, RegistryError};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

/// `subtract`'s params: by name, or by position in this order.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubtractParams {
    /// The number to subtract from.
    pub minuend: i64,
    /// The number to subtract.
    pub subtrahend: i64,
}

fn checked(v: Option<i64>) -> Result<i64, MethodError> {
    v.ok_or_else(|| MethodError::invalid_params("arithmetic overflow"))
}

/// Registers the specification's example methods: `subtract`, `sum`, `get_data`, and the
/// notification targets `update`, `notify_hello`, `notify_sum`.
pub fn register_spec_methods(registry: &mut MethodRegistry) -> Result<(), RegistryError> {
    registry
        .register(
            Method::new("subtract", |_: &CallContext, p: SubtractParams| {
                checked(p.minuend.checked_sub(p.subtrahend))
            })
            .summary("minuend - subtrahend"),
        )?
        .register(
            Method::new("sum", |_: &CallContext, p: Vec<i64>| {
                checked(p.iter().try_fold(0i64, |a, b| a.checked_add(*b)))
            })
            .summary("The sum of the numbers given by position"),
        )?
        .register(
            Method::new("get_data", |_: &CallContext, _: NoParams| {
                Ok(("hello".to_string(), 5i64))
            })
            .summary("Returns [\"hello\", 5]"),
        )?
        .register(
            Method::new("update", |_: &CallContext, _: Vec<i64>| Ok(()))
                .summary("Accepts numbers; used as a notification"),
        )?
        .register(
            Method::new("notify_hello", |_: &CallContext, _: Vec<i64>| Ok(()))
                .summary("Accepts numbers; used as a notification"),
        )?
        .register(
            Method::new("notify_sum", |_: &CallContext, p: Vec<i64>| {
                checked(p.iter().try_fold(0i64, |a, b| a.checked_add(*b)))
            })
            .summary("The sum of the numbers; used as a notification"),
        )?;
    Ok(())
}

/// A registry holding only the specification's example methods.
pub fn spec_registry() -> MethodRegistry {
    let mut registry = MethodRegistry::new("JSON-RPC 2.0 specification examples", "1.0.0");
    // The names are distinct and not reserved: registration cannot fail.
    if let Err(e) = register_spec_methods(&mut registry) {
        unreachable!("spec fixtures: {e}");
    }
    registry
}

/// One request message of the specification's examples and the expected reply (`None`: no
/// reply at all).
#[derive(Debug, Clone, Copy)]
pub struct SpecExample {
    /// The example's title in the specification, with a counter where it sends several messages.
    pub title: &'static str,
    /// The message, on one line (multi-line examples joined, for line-delimited transports).
    pub request: &'static str,
    /// The reply, or `None` when the server must send nothing.
    pub response: Option<&'static str>,
}

/// The specification's §7 examples: 12 groups, 15 messages.
pub const SPEC_EXAMPLES: &[SpecExample] = &[
    SpecExample {
        title: "rpc call with positional parameters (1)",
        request: r#"{"jsonrpc": "2.0", "method": "subtract", "params": [42, 23], "id": 1}"#,
        response: Some(r#"{"jsonrpc": "2.0", "result": 19, "id": 1}"#),
    },
    SpecExample {
        title: "rpc call with positional parameters (2)",
        request: r#"{"jsonrpc": "2.0", "method": "subtract", "params": [23, 42], "id": 2}"#,
        response: Some(r#"{"jsonrpc": "2.0", "result": -19, "id": 2}"#),
    },
    SpecExample {
        title: "rpc call with named parameters (1)",
        request: r#"{"jsonrpc": "2.0", "method": "subtract", "params": {"subtrahend": 23, "minuend": 42}, "id": 3}"#,
        response: Some(r#"{"jsonrpc": "2.0", "result": 19, "id": 3}"#),
    },
    SpecExample {
        title: "rpc call with named parameters (2)",
        request: r#"{"jsonrpc": "2.0", "method": "subtract", "params": {"minuend": 42, "subtrahend": 23}, "id": 4}"#,
        response: Some(r#"{"jsonrpc": "2.0", "result": 19, "id": 4}"#),
    },
    SpecExample {
        title: "a Notification (1)",
        request: r#"{"jsonrpc": "2.0", "method": "update", "params": [1,2,3,4,5]}"#,
        response: None,
    },
    SpecExample {
        title: "a Notification (2)",
        request: r#"{"jsonrpc": "2.0", "method": "foobar"}"#,
        response: None,
    },
    SpecExample {
        title: "rpc call of non-existent method",
        request: r#"{"jsonrpc": "2.0", "method": "foobar", "id": "1"}"#,
        response: Some(
            r#"{"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": "1"}"#,
        ),
    },
    SpecExample {
        title: "rpc call with invalid JSON",
        request: r#"{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]"#,
        response: Some(
            r#"{"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}, "id": null}"#,
        ),
    },
    SpecExample {
        title: "rpc call with invalid Request object",
        request: r#"{"jsonrpc": "2.0", "method": 1, "params": "bar"}"#,
        response: Some(
            r#"{"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null}"#,
        ),
    },
    SpecExample {
        title: "rpc call Batch, invalid JSON",
        request: r#"[{"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"}, {"jsonrpc": "2.0", "method"]"#,
        response: Some(
            r#"{"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}, "id": null}"#,
        ),
    },
    SpecExample {
        title: "rpc call with an empty Array",
        request: r#"[]"#,
        response: Some(
            r#"{"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null}"#,
        ),
    },
    SpecExample {
        title: "rpc call with an invalid Batch (but not empty)",
        request: r#"[1]"#,
        response: Some(
            r#"[{"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null}]"#,
        ),
    },
    SpecExample {
        title: "rpc call with invalid Batch",
        request: r#"[1,2,3]"#,
        response: Some(
            r#"[{"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null}, {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null}, {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null}]"#,
        ),
    },
    SpecExample {
        title: "rpc call Batch",
        request: r#"[{"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"}, {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]}, {"jsonrpc": "2.0", "method": "subtract", "params": [42,23], "id": "2"}, {"foo": "boo"}, {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"}, {"jsonrpc": "2.0", "method": "get_data", "id": "9"}]"#,
        response: Some(
            r#"[{"jsonrpc": "2.0", "result": 7, "id": "1"}, {"jsonrpc": "2.0", "result": 19, "id": "2"}, {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null}, {"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": "5"}, {"jsonrpc": "2.0", "result": ["hello", 5], "id": "9"}]"#,
        ),
    },
    SpecExample {
        title: "rpc call Batch (all notifications)",
        request: r#"[{"jsonrpc": "2.0", "method": "notify_sum", "params": [1,2,4]}, {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]}]"#,
        response: None,
    },
];

/// A reply reduced to what the specification fixes: `error.data` (server-defined) removed and
/// the elements of a batch reply sorted (the specification lets them come in any order).
pub fn normalize_response(mut reply: Value) -> Value {
    fn strip_data(v: &mut Value) {
        if let Some(Value::Object(error)) = v.get_mut("error") {
            error.remove("data");
        }
    }
    match &mut reply {
        Value::Array(items) => {
            items.iter_mut().for_each(strip_data);
            items.sort_by_cached_key(|v| v.to_string());
        }
        other => strip_data(other),
    }
    reply
}

/// Checks `actual` against `expected` as the specification allows: same presence, same JSON
/// after [`normalize_response`] (batch replies compared as multisets). `Err` explains the
/// difference.
pub fn check_response(expected: Option<&str>, actual: Option<&str>) -> Result<(), String> {
    match (expected, actual) {
        (None, None) => Ok(()),
        (None, Some(a)) => Err(format!("expected no reply, got {a}")),
        (Some(e), None) => Err(format!("expected {e}, got no reply")),
        (Some(e), Some(a)) => {
            let ev: Value = serde_json::from_str(e).map_err(|x| format!("expected: {x}"))?;
            let av: Value = serde_json::from_str(a).map_err(|x| format!("actual {a}: {x}"))?;
            if matches!(&ev, Value::Array(_)) != matches!(&av, Value::Array(_)) {
                return Err(format!("expected {e}, got {a}"));
            }
            if normalize_response(ev) == normalize_response(av) {
                Ok(())
            } else {
                Err(format!("expected {e}, got {a}"))
            }
        }
    }
}
