//! Shared fixtures: a registry with the specification's methods plus methods that exercise
//! every failure path, and a checker for "this is a well-formed JSON-RPC reply".

use opsledger_rpc::testing::register_spec_methods;
use opsledger_rpc::{
    CallContext, Dispatcher, DomainCode, Identity, Limits, Method, MethodError, MethodRegistry,
    NoParams,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;

/// `whoami` params: stdio may name the actor, HTTP may not.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WhoAmIParams {
    /// The actor the caller claims to act as.
    #[serde(default)]
    pub actor: Option<Identity>,
}

/// An item of `nested`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct Item {
    /// How many.
    pub count: u32,
}

/// The inner part of `nested`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct Outer {
    /// The items.
    pub items: Vec<Item>,
}

/// `nested` params, to check that error paths name nested fields.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct NestedParams {
    /// A nested object.
    pub outer: Outer,
    /// A label.
    pub label: String,
}

/// `defaults` params: a field with a default.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct DefaultsParams {
    /// Required.
    pub a: i64,
    /// Optional, defaults to 0.
    #[serde(default)]
    pub b: i64,
}

/// `sleep` params.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SleepParams {
    /// How long to block, in milliseconds.
    pub millis: u64,
}

/// A result that refuses to serialise.
pub struct Unserialisable;

impl Serialize for Unserialisable {
    fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("cannot serialise this"))
    }
}

impl JsonSchema for Unserialisable {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Unserialisable".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({})
    }
}

pub const ILLEGAL_TRANSITION: DomainCode = DomainCode::of(-32001);

/// The specification's methods plus the failure-path methods; `with_panic` adds `panic`.
pub fn registry(with_panic: bool) -> MethodRegistry {
    let mut r = MethodRegistry::new("opsledger-rpc test API", "0.0.1")
        .with_description("Fixture methods for the opsledger-rpc tests");
    register_spec_methods(&mut r).unwrap();
    r.register(
        Method::new("echo", |_: &CallContext, p: Value| Ok(p)).summary("Returns its params"),
    )
    .unwrap()
    .register(
        Method::new(
            "fail.domain",
            |_: &CallContext, _: NoParams| -> Result<(), _> {
                Err(MethodError::domain(
                    ILLEGAL_TRANSITION,
                    "illegal_transition",
                    "Not allowed in this state",
                )
                .with_details(json!({"state": "closed"})))
            },
        )
        .error(ILLEGAL_TRANSITION, "Not allowed in this state"),
    )
    .unwrap()
    .register(Method::new(
        "fail.internal",
        |_: &CallContext, _: NoParams| -> Result<(), _> {
            Err(MethodError::internal("connection string password=hunter2"))
        },
    ))
    .unwrap()
    .register(Method::new(
        "whoami",
        |ctx: &CallContext, p: WhoAmIParams| ctx.acting_identity(p.actor),
    ))
    .unwrap()
    .register(Method::new("nested", |_: &CallContext, p: NestedParams| {
        Ok(json!({"label": p.label, "outer": p.outer}))
    }))
    .unwrap()
    .register(Method::new(
        "defaults",
        |_: &CallContext, p: DefaultsParams| Ok(p.a * 10 + p.b),
    ))
    .unwrap()
    .register(Method::new("strict", |_: &CallContext, p: DefaultsParams| Ok(p.a)).by_name_only())
    .unwrap()
    .register(Method::new("lenient", |_: &CallContext, p: DefaultsParams| Ok(p.a)).lenient_params())
    .unwrap()
    .register(Method::new("bad.result", |_: &CallContext, _: NoParams| {
        Ok(Unserialisable)
    }))
    .unwrap()
    .register(Method::new("sleep", |_: &CallContext, p: SleepParams| {
        std::thread::sleep(Duration::from_millis(p.millis.min(10_000)));
        Ok(p.millis)
    }))
    .unwrap();
    if with_panic {
        r.register(Method::new(
            "panic",
            |_: &CallContext, _: NoParams| -> Result<(), _> {
                panic!("boom: a secret panic message")
            },
        ))
        .unwrap();
    }
    r
}

pub fn dispatcher() -> Dispatcher {
    Dispatcher::new(registry(true))
}

pub fn dispatcher_with(limits: Limits) -> Dispatcher {
    Dispatcher::with_limits(registry(true), limits)
}

/// Parses a reply, failing the test with the text if it is not JSON.
pub fn parse(reply: &str) -> Value {
    serde_json::from_str(reply).unwrap_or_else(|e| panic!("reply is not JSON ({e}): {reply}"))
}

/// The error code of a single reply.
pub fn error_code(reply: &str) -> i64 {
    parse(reply)["error"]["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("not an error reply: {reply}"))
}

/// Checks one response object, given as raw members so that ids are looked at as sent (an id
/// like `1e400` is valid JSON that `serde_json::Value` cannot hold); `Err` says what is wrong.
pub fn check_response_object(raw: &RawValue) -> Result<(), String> {
    let text = raw.get();
    let obj: HashMap<String, Box<RawValue>> =
        serde_json::from_str(text).map_err(|e| format!("not an object ({e}): {text}"))?;
    if obj.get("jsonrpc").map(|v| v.get()) != Some("\"2.0\"") {
        return Err(format!("jsonrpc is not \"2.0\": {text}"));
    }
    let id = obj.get("id").ok_or_else(|| format!("no id: {text}"))?.get();
    if !(id == "null"
        || id.starts_with('"')
        || id.starts_with('-')
        || id.starts_with(|c: char| c.is_ascii_digit()))
    {
        return Err(format!("bad id: {text}"));
    }
    match (obj.get("result"), obj.get("error")) {
        (Some(_), None) => {}
        (None, Some(error)) => {
            let error: Value = serde_json::from_str(error.get())
                .map_err(|e| format!("error not JSON ({e}): {text}"))?;
            let e = error
                .as_object()
                .ok_or_else(|| format!("error not an object: {text}"))?;
            if !e.get("code").is_some_and(|c| c.is_i64()) {
                return Err(format!("error code not an integer: {text}"));
            }
            if !e.get("message").is_some_and(Value::is_string) {
                return Err(format!("error message not a string: {text}"));
            }
            if e.keys()
                .any(|k| !["code", "message", "data"].contains(&k.as_str()))
            {
                return Err(format!("extra error members: {text}"));
            }
        }
        _ => return Err(format!("not exactly one of result/error: {text}")),
    }
    if obj
        .keys()
        .any(|k| !["jsonrpc", "result", "error", "id"].contains(&k.as_str()))
    {
        return Err(format!("extra members: {text}"));
    }
    Ok(())
}

/// Checks a whole reply: one line, JSON, a response object or a non-empty array of them.
pub fn check_reply(reply: &str) -> Result<(), String> {
    if reply.contains('\n') || reply.contains('\r') {
        return Err(format!("reply spans lines: {reply:?}"));
    }
    let raw: &RawValue =
        serde_json::from_str(reply).map_err(|e| format!("not JSON ({e}): {reply}"))?;
    if raw.get().starts_with('[') {
        let items: Vec<&RawValue> = serde_json::from_str(raw.get()).map_err(|e| e.to_string())?;
        if items.is_empty() {
            return Err("empty batch reply".into());
        }
        items.into_iter().try_for_each(check_response_object)
    } else {
        check_response_object(raw)
    }
}
