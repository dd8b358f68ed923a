//! The JSON-RPC 2.0 dispatcher: text in, text out, no transport, no runtime.
//!
//! Protocol decisions (the rest is the specification, followed to the letter):
//!
//! - **ids** are echoed byte for byte: the request's `id` is kept as raw JSON text
//!   (`serde_json::value::RawValue`), so `1.0`, `-0`, `1e400` or a 40-digit integer come back
//!   exactly as sent (no `arbitrary_precision`, which would change number handling for every
//!   crate in the workspace). An `id` that is not a string, number or null makes the request
//!   invalid (-32600, `id` null), and so does a string id with a lone surrogate escape
//!   (`"\ud800"`), which strict parsers could not read back.
//! - **Invalid requests are always answered**, with or without an `id` (the spec's
//!   `{"jsonrpc": "2.0", "method": 1, "params": "bar"}` and `{"foo": "boo"}` examples): only a
//!   *valid* request without `id` is a notification. An invalid request echoes its `id` when
//!   the `id` itself was valid, and null otherwise.
//! - A **Request object** has exactly the members `jsonrpc` (the string `"2.0"`), `method` (a
//!   string), `params` (optional; an array or an object, so `null` is invalid) and `id`
//!   (optional). Unknown or duplicated members make it invalid (-32600, `data.reason` names
//!   the member): a misspelt `"param"` must not silently call the method without params.
//! - **Notifications** are run and never answered, whatever happens (unknown method, invalid
//!   params, domain error, panic: logged at debug level, or error level for internal errors).
//! - **Batches**: `[]` is one -32600; a batch is answered with an array holding one response per
//!   non-notification, in request order; a batch of notifications only is answered with nothing
//!   (`None`); a batch longer than [`Limits::max_batch_len`] is one -32099.
//! - `rpc.discover` returns the OpenRPC document; every other `rpc.` method is -32601.
//! - **Params are read strictly**: a key given twice in one object, or a key the method's
//!   params schema does not declare where it sits, is -32602 at any depth, with `data.path`
//!   naming it (see the registry docs).
//! - **Errors carry `data`** where it helps: -32700 and -32600 have `data.reason`, -32602 has
//!   `data.path` (the field, `"."` for the params as a whole) and `data.reason`, -32099 has
//!   `data.limit` and `data.max`, -32601 has `data.method` and `data.did_you_mean` when a
//!   method's name is close to the one called (else no `data`). -32603 has none; internal
//!   details and panic messages are logged, never sent.
//! - **Limits** ([`Limits`]) are checked on the raw bytes before parsing.
//! - Invalid UTF-8 is a parse error (-32700).
//! - Responses are compact, single-line JSON with members in the order `jsonrpc`,
//!   `result`/`error`, `id`.

use crate::context::CallContext;
use crate::error::{ErrorObject, codes};
use crate::limits::{LimitExceeded, Limits};
use crate::registry::{CallFailure, MethodRegistry, ParamsPlan, ParamsProblem};
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Value, json};
use std::borrow::Cow;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Serves JSON-RPC 2.0 messages against a [`MethodRegistry`]. `Send + Sync`: share it (in an
/// `Arc`) between threads and transports.
pub struct Dispatcher {
    registry: MethodRegistry,
    limits: Limits,
    discover: Box<RawValue>,
    panics: std::sync::atomic::AtomicU64,
}

impl fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dispatcher")
            .field("registry", &self.registry)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Dispatcher {
    /// A dispatcher with the default [`Limits`].
    pub fn new(registry: MethodRegistry) -> Self {
        Dispatcher::with_limits(registry, Limits::default())
    }

    /// A dispatcher with the given limits. The OpenRPC document is generated here, once.
    pub fn with_limits(registry: MethodRegistry, limits: Limits) -> Self {
        let doc = crate::openrpc::document(&registry);
        let discover =
            serde_json::value::to_raw_value(&doc).unwrap_or_else(|_| RawValue::NULL.to_owned());
        Dispatcher {
            registry,
            limits,
            discover,
            panics: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// How many method calls have panicked (each answered -32603). An embedder that must stop
    /// after a broken invariant (the C ABI poisons its handle) compares it around a call.
    pub fn panics(&self) -> u64 {
        self.panics.load(std::sync::atomic::Ordering::Acquire)
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The registered methods.
    pub fn registry(&self) -> &MethodRegistry {
        &self.registry
    }

    /// The OpenRPC document `rpc.discover` returns.
    pub fn openrpc_document(&self) -> Value {
        serde_json::from_str(self.discover.get()).unwrap_or(Value::Null)
    }

    /// Handles one message (a request, a notification or a batch) from a trusted in-process
    /// caller ([`CallContext::in_process`]). `None` means nothing is to be sent back.
    pub fn handle(&self, request: &str) -> Option<String> {
        self.handle_with(&CallContext::in_process(), request)
    }

    /// Handles one message on behalf of the caller `ctx`.
    pub fn handle_with(&self, ctx: &CallContext, request: &str) -> Option<String> {
        self.guarded(|| match self.limits.scan(request.as_bytes()) {
            Ok(()) => self.dispatch(ctx, request, &mut |_| {}),
            Err(limit) => Some(self.limit_response(limit)),
        })
    }

    /// Handles one message given as bytes (as transports receive it); bytes that are not UTF-8
    /// are a parse error.
    pub fn handle_bytes(&self, ctx: &CallContext, request: &[u8]) -> Option<String> {
        self.handle_bytes_recorded(ctx, request, &mut |_| {})
    }

    /// [`Dispatcher::handle_bytes`], telling `record` about every method call the message
    /// made (one per request or notification that named a method, in order), so a transport
    /// can log and count calls without parsing the message again. A message refused before
    /// any call (a limit, a parse error, an invalid request) records nothing.
    pub fn handle_bytes_recorded(
        &self,
        ctx: &CallContext,
        request: &[u8],
        record: &mut dyn FnMut(CallRecord<'_>),
    ) -> Option<String> {
        self.guarded(|| {
            if let Err(limit) = self.limits.scan(request) {
                return Some(self.limit_response(limit));
            }
            match std::str::from_utf8(request) {
                Ok(text) => self.dispatch(ctx, text, record),
                Err(e) => Some(error_response(
                    RawValue::NULL,
                    &ErrorObject::new(codes::PARSE_ERROR, "Parse error").with_data(
                        json!({"reason": format!("invalid UTF-8 at byte {}", e.valid_up_to())}),
                    ),
                )),
            }
        })
    }

    fn guarded(&self, f: impl FnOnce() -> Option<String>) -> Option<String> {
        match catch_unwind(AssertUnwindSafe(f)) {
            Ok(out) => out,
            Err(panic) => {
                self.panics
                    .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
                tracing::error!(panic = panic_message(&*panic), "dispatcher panicked");
                Some(error_response(RawValue::NULL, &internal_error()))
            }
        }
    }

    fn limit_response(&self, limit: LimitExceeded) -> String {
        error_response(RawValue::NULL, &limit.to_error_object(&self.limits))
    }

    /// Parses and dispatches a message that passed the limits scan.
    fn dispatch(
        &self,
        ctx: &CallContext,
        text: &str,
        record: &mut dyn FnMut(CallRecord<'_>),
    ) -> Option<String> {
        let root: &RawValue = match serde_json::from_str(text) {
            Ok(root) => root,
            Err(e) => {
                return Some(error_response(
                    RawValue::NULL,
                    &ErrorObject::new(codes::PARSE_ERROR, "Parse error")
                        .with_data(json!({"reason": e.to_string()})),
                ));
            }
        };
        if !root.get().starts_with('[') {
            return self.handle_one(ctx, root, record);
        }
        let items: Vec<&RawValue> = match serde_json::from_str(root.get()) {
            Ok(items) => items,
            Err(e) => {
                tracing::error!(error = %e, "a parsed array did not split into items");
                return Some(error_response(RawValue::NULL, &internal_error()));
            }
        };
        if items.is_empty() {
            return Some(error_response(
                RawValue::NULL,
                &invalid_request("an empty array is not a batch"),
            ));
        }
        if items.len() > self.limits.max_batch_len {
            return Some(self.limit_response(LimitExceeded::BatchLen));
        }
        let entry = ctx.for_batch_entry();
        let responses: Vec<String> = items
            .into_iter()
            .filter_map(|item| self.handle_one(&entry, item, record))
            .collect();
        if responses.is_empty() {
            None
        } else {
            Some(format!("[{}]", responses.join(",")))
        }
    }

    /// One request object (alone or in a batch).
    fn handle_one(
        &self,
        ctx: &CallContext,
        item: &RawValue,
        record: &mut dyn FnMut(CallRecord<'_>),
    ) -> Option<String> {
        let request = match parse_request(item) {
            Ok(request) => request,
            Err(Invalid { id, reason }) => {
                return Some(error_response(
                    id.unwrap_or(RawValue::NULL),
                    &invalid_request(&reason),
                ));
            }
        };
        let started = std::time::Instant::now();
        let outcome = self.call(ctx, &request.method, request.params);
        record(CallRecord {
            method: self.method_label(&request.method),
            error_code: outcome.as_ref().err().map(|e| e.code),
            elapsed: started.elapsed(),
        });
        match request.id {
            Some(id) => Some(match outcome {
                Ok(result) => success_response(id, &result),
                Err(error) => error_response(id, &error),
            }),
            None => {
                if let Err(error) = outcome {
                    tracing::debug!(
                        method = %request.method,
                        code = error.code,
                        message = %error.message,
                        "notification failed (not answered)"
                    );
                }
                None
            }
        }
    }

    /// The method's name when it is one this dispatcher serves, else `"(unknown)"`: callers
    /// choose method names, and a log or a metric label must not take any text they send.
    fn method_label(&self, method: &str) -> &str {
        if method == crate::openrpc::DISCOVER_METHOD {
            return crate::openrpc::DISCOVER_METHOD;
        }
        self.registry
            .get(method)
            .map_or(UNKNOWN_METHOD, |r| r.method.name())
    }

    fn call(
        &self,
        ctx: &CallContext,
        method: &str,
        params: Option<&RawValue>,
    ) -> Result<Box<RawValue>, ErrorObject> {
        if method == crate::openrpc::DISCOVER_METHOD {
            return match params.map(RawValue::get) {
                None => Ok(self.discover.clone()),
                Some(p) if is_empty_container(p) => Ok(self.discover.clone()),
                Some(_) => Err(invalid_params(&ParamsProblem {
                    path: ".".into(),
                    reason: "rpc.discover takes no params".into(),
                })),
            };
        }
        // Registered names never start with `rpc.` (the registry refuses them).
        let Some(registered) = self.registry.get(method) else {
            return Err(self.method_not_found(method));
        };
        let params = prepare_params(&registered.plan, params).map_err(|p| invalid_params(&p))?;
        registered
            .strict_check(&params)
            .map_err(|p| invalid_params(&p))?;
        tracing::debug!(method, "call");
        match catch_unwind(AssertUnwindSafe(|| registered.invoke(ctx, &params))) {
            Ok(Ok(result)) => Ok(result),
            Ok(Err(CallFailure::Params(problem))) => Err(invalid_params(&problem)),
            Ok(Err(CallFailure::Method(error))) => {
                if let Some(detail) = error.internal_detail() {
                    tracing::error!(method, detail, "method failed with an internal error");
                }
                Err(error.to_error_object())
            }
            Ok(Err(CallFailure::Result(detail))) => {
                tracing::error!(method, detail, "method result did not serialise");
                Err(internal_error())
            }
            Err(panic) => {
                self.panics
                    .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
                tracing::error!(
                    method,
                    panic = panic_message(&*panic),
                    "method panicked; answered -32603"
                );
                Err(internal_error())
            }
        }
    }
}

impl Dispatcher {
    /// -32601, with `data.did_you_mean` when a method's name is close to `method` (a typo, a
    /// different case, a stray space).
    fn method_not_found(&self, method: &str) -> ErrorObject {
        let error = ErrorObject::new(codes::METHOD_NOT_FOUND, "Method not found");
        match nearest_method(
            method,
            std::iter::once(crate::openrpc::DISCOVER_METHOD).chain(self.registry.names()),
        ) {
            Some(name) => error.with_data(json!({"method": method, "did_you_mean": name})),
            None => error,
        }
    }
}

/// The name among `names` closest to `wanted` by Damerau-Levenshtein distance (ignoring case
/// and surrounding spaces), when it is close enough to be a slip: at most a third of the
/// name's length in edits, and at least one.
fn nearest_method<'n>(wanted: &str, names: impl Iterator<Item = &'n str>) -> Option<&'n str> {
    let wanted = wanted.trim().to_lowercase();
    if wanted.is_empty() || wanted.len() > 128 {
        return None;
    }
    let budget = (wanted.chars().count() / 3).max(1);
    names
        .map(|name| {
            let distance = strsim::damerau_levenshtein(&wanted, &name.to_lowercase());
            (distance, name)
        })
        .filter(|(distance, _)| *distance <= budget)
        .min_by_key(|(distance, name)| (*distance, *name))
        .map(|(_, name)| name)
}

/// The method label of a call to a method the dispatcher does not serve.
pub const UNKNOWN_METHOD: &str = "(unknown)";

/// One method call a message made, as [`Dispatcher::handle_bytes_recorded`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallRecord<'a> {
    /// The method's registered name, `rpc.discover`, or [`UNKNOWN_METHOD`].
    pub method: &'a str,
    /// The JSON-RPC error code, `None` when the call succeeded.
    pub error_code: Option<i32>,
    /// How long the call took (parameters checked, method run, result serialised).
    pub elapsed: std::time::Duration,
}

fn is_empty_container(text: &str) -> bool {
    let inner: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    inner == "[]" || inner == "{}"
}

/// Turns the request's params into the text the handler decodes (see the registry docs).
fn prepare_params<'a>(
    plan: &ParamsPlan,
    params: Option<&'a RawValue>,
) -> Result<Cow<'a, str>, ParamsProblem> {
    let (positional, allowed, order) = match plan {
        ParamsPlan::Raw => return Ok(Cow::Borrowed(params.map_or("null", RawValue::get))),
        ParamsPlan::Named {
            positional,
            allowed,
            order,
        } => (positional, allowed, order),
    };
    let Some(params) = params else {
        return Ok(Cow::Borrowed("{}"));
    };
    let expected = || {
        if order.is_empty() {
            "this method takes no params".to_string()
        } else {
            let names: Vec<String> = order.iter().map(|f| format!("`{f}`")).collect();
            format!("expected one of {}", names.join(", "))
        }
    };
    if params.get().starts_with('{') {
        if let Some(allowed) = allowed {
            let members = members_of(params).map_err(|e| ParamsProblem {
                path: ".".into(),
                reason: e.to_string(),
            })?;
            if let Some((key, _)) = members.iter().find(|(k, _)| !allowed.contains(k)) {
                return Err(ParamsProblem {
                    path: key.clone(),
                    reason: format!("unknown field `{key}`, {}", expected()),
                });
            }
        }
        return Ok(Cow::Borrowed(params.get()));
    }
    // An array (the envelope admits nothing else).
    let Some(positional) = positional else {
        return Err(ParamsProblem {
            path: ".".into(),
            reason: "this method takes params by name (an object), not by position".into(),
        });
    };
    let items: Vec<&RawValue> = serde_json::from_str(params.get()).map_err(|e| ParamsProblem {
        path: ".".into(),
        reason: e.to_string(),
    })?;
    if items.len() > positional.len() {
        return Err(ParamsProblem {
            path: ".".into(),
            reason: format!(
                "expected at most {} params by position, got {}",
                positional.len(),
                items.len()
            ),
        });
    }
    let mut object = String::with_capacity(params.get().len() + 16 * items.len() + 2);
    object.push('{');
    for (i, (field, value)) in positional.iter().zip(items).enumerate() {
        if i > 0 {
            object.push(',');
        }
        object.push_str(&serde_json::to_string(field).unwrap_or_else(|_| "\"\"".into()));
        object.push(':');
        object.push_str(value.get());
    }
    object.push('}');
    Ok(Cow::Owned(object))
}

/// A request that passed envelope validation.
struct Request<'a> {
    id: Option<&'a RawValue>,
    method: String,
    params: Option<&'a RawValue>,
}

/// Why a request is invalid, and the id to answer with (when the id itself was valid).
struct Invalid<'a> {
    id: Option<&'a RawValue>,
    reason: String,
}

fn invalid(id: Option<&RawValue>, reason: impl Into<String>) -> Invalid<'_> {
    Invalid {
        id,
        reason: reason.into(),
    }
}

fn parse_request(item: &RawValue) -> Result<Request<'_>, Invalid<'_>> {
    if !item.get().starts_with('{') {
        return Err(invalid(None, "a request must be an object"));
    }
    let members = members_of(item).map_err(|e| invalid(None, e.to_string()))?;

    // The id first, so that every later complaint can echo it.
    let mut ids = members.iter().filter(|(k, _)| k == "id").map(|(_, v)| *v);
    let id = match (ids.next(), ids.next()) {
        (None, _) => None,
        (Some(_), Some(_)) => return Err(invalid(None, "duplicate member `id`")),
        (Some(id), None) => match id.get().as_bytes().first() {
            Some(b'-' | b'0'..=b'9') => Some(id),
            // A string that is not Unicode (a lone surrogate escape such as "\ud800") would
            // make the reply unreadable to strict parsers: refuse it.
            Some(b'"') if serde_json::from_str::<String>(id.get()).is_ok() => Some(id),
            Some(b'"') => return Err(invalid(None, "`id` is not a valid Unicode string")),
            _ if id.get() == "null" => Some(id),
            _ => return Err(invalid(None, "`id` must be a string, a number or null")),
        },
    };

    let (mut jsonrpc, mut method, mut params) = (None, None, None);
    for (key, value) in &members {
        let slot = match key.as_str() {
            "id" => continue,
            "jsonrpc" => &mut jsonrpc,
            "method" => &mut method,
            "params" => &mut params,
            other => return Err(invalid(id, format!("unknown member `{other}`"))),
        };
        if slot.replace(*value).is_some() {
            return Err(invalid(id, format!("duplicate member `{key}`")));
        }
    }

    let version: Option<String> = jsonrpc.and_then(|v| serde_json::from_str(v.get()).ok());
    if version.as_deref() != Some("2.0") {
        return Err(invalid(id, "`jsonrpc` must be exactly \"2.0\""));
    }
    let Some(method) = method.and_then(|m| serde_json::from_str::<String>(m.get()).ok()) else {
        return Err(invalid(id, "`method` must be a string"));
    };
    if let Some(p) = params
        && !(p.get().starts_with('{') || p.get().starts_with('['))
    {
        return Err(invalid(id, "`params` must be an array or an object"));
    }
    Ok(Request { id, method, params })
}

/// The members of a JSON object, in order, values kept raw (duplicates kept).
fn members_of(object: &RawValue) -> Result<Vec<(String, &RawValue)>, serde_json::Error> {
    Ok(serde_json::from_str::<Members<'_>>(object.get())?.0)
}

struct Members<'a>(Vec<(String, &'a RawValue)>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MembersVisitor;
        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members<'de>, A::Error> {
                let mut members = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    let value: &'de RawValue = map.next_value()?;
                    members.push((key, value));
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(MembersVisitor)
    }
}

fn invalid_request(reason: &str) -> ErrorObject {
    ErrorObject::new(codes::INVALID_REQUEST, "Invalid Request").with_data(json!({"reason": reason}))
}

fn invalid_params(problem: &ParamsProblem) -> ErrorObject {
    let message = if problem.path == "." {
        format!("Invalid params: {}", problem.reason)
    } else {
        format!("Invalid params: {}: {}", problem.path, problem.reason)
    };
    ErrorObject::new(codes::INVALID_PARAMS, message)
        .with_data(json!({"path": problem.path, "reason": problem.reason}))
}

fn internal_error() -> ErrorObject {
    ErrorObject::new(codes::INTERNAL_ERROR, "Internal error")
}

fn success_response(id: &RawValue, result: &RawValue) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","result":{},"id":{}}}"#,
        result.get(),
        id.get()
    )
}

/// A complete error response with the given id (use [`RawValue::NULL`] for none).
pub(crate) fn error_response(id: &RawValue, error: &ErrorObject) -> String {
    let error = serde_json::to_string(error)
        .unwrap_or_else(|_| r#"{"code":-32603,"message":"Internal error"}"#.to_string());
    format!(r#"{{"jsonrpc":"2.0","error":{},"id":{}}}"#, error, id.get())
}

/// An error response with `id` null for a message over `limit` (for transports that refuse a
/// message before the dispatcher sees it, e.g. an over-long stdio line).
pub fn limit_error_response(limit: LimitExceeded, limits: &Limits) -> String {
    error_response(RawValue::NULL, &limit.to_error_object(limits))
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    if let Some(s) = panic.downcast_ref::<&str>() {
        s
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s
    } else {
        "non-string panic payload"
    }
}
