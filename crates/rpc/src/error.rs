//! Error codes, the JSON-RPC error object, and [`MethodError`], what a method handler returns
//! when it cannot produce a result.
//!
//! Code space (JSON-RPC 2.0 §5.1 reserves -32768..=-32000 for the protocol and the server):
//!
//! | code | meaning | produced by |
//! |---|---|---|
//! | -32700 | Parse error | the dispatcher: the text is not JSON (or not UTF-8) |
//! | -32600 | Invalid Request | the dispatcher: JSON, but not a Request object |
//! | -32601 | Method not found | the dispatcher (also any unknown `rpc.` method) |
//! | -32602 | Invalid params | the dispatcher (params do not fit the method's type), or a handler |
//! | -32603 | Internal error | a handler's [`MethodError::internal`], a panic, an unserialisable result |
//! | -32000..=-32089 | domain errors | handlers, through [`MethodError::domain`] and a [`DomainCode`] |
//! | -32099 | limit exceeded | the dispatcher and transports ([`codes::LIMIT_EXCEEDED`]) |
//! | -32098 | no identity | [`crate::CallContext::acting_identity`] ([`codes::UNAUTHENTICATED`]) |
//! | -32097 | actor not allowed in params | [`crate::CallContext::acting_identity`] ([`codes::ACTOR_NOT_ALLOWED`]) |
//!
//! -32090..=-32099 belong to this crate; the domain may use -32000..=-32089.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;

/// The numeric error codes this crate produces.
pub mod codes {
    /// Invalid JSON was received (also: the bytes were not UTF-8).
    pub const PARSE_ERROR: i32 = -32700;
    /// The JSON sent is not a valid Request object.
    pub const INVALID_REQUEST: i32 = -32600;
    /// The method does not exist / is not available.
    pub const METHOD_NOT_FOUND: i32 = -32601;
    /// Invalid method parameter(s).
    pub const INVALID_PARAMS: i32 = -32602;
    /// Internal JSON-RPC error.
    pub const INTERNAL_ERROR: i32 = -32603;
    /// The lowest code of the implementation-defined server-error band (-32099).
    pub const SERVER_ERROR_MIN: i32 = -32099;
    /// The highest code of the implementation-defined server-error band (-32000).
    pub const SERVER_ERROR_MAX: i32 = -32000;
    /// The lowest code a [`super::DomainCode`] may take (-32089).
    pub const DOMAIN_MIN: i32 = -32089;
    /// The highest code a [`super::DomainCode`] may take (-32000).
    pub const DOMAIN_MAX: i32 = -32000;
    /// A configured limit (request bytes, batch length, nesting depth, string bytes) was exceeded.
    pub const LIMIT_EXCEEDED: i32 = -32099;
    /// The method needs an acting identity and the call carried none.
    pub const UNAUTHENTICATED: i32 = -32098;
    /// The params named an actor over a transport where the actor comes from the credentials.
    pub const ACTOR_NOT_ALLOWED: i32 = -32097;
}

/// A JSON-RPC 2.0 error object (§5.1): `code`, `message` and optional `data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ErrorObject {
    /// The error code.
    pub code: i32,
    /// A short description of the error, a single sentence.
    pub message: String,
    /// Additional information defined by the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl ErrorObject {
    /// An error object without `data`.
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        ErrorObject {
            code,
            message: message.into(),
            data: None,
        }
    }

    /// The same error object with `data`.
    #[must_use]
    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }
}

/// A JSON-RPC code in the domain band -32089..=-32000, for [`MethodError::domain`].
///
/// The band -32099..=-32090 is kept for this crate's own server errors, so a domain code can
/// never be mistaken for one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DomainCode(i32);

impl DomainCode {
    /// The generic domain-rejection code, -32000.
    pub const REJECTED: DomainCode = DomainCode(-32000);

    /// `Some` when `code` lies in -32089..=-32000.
    pub const fn new(code: i32) -> Option<DomainCode> {
        if code >= codes::DOMAIN_MIN && code <= codes::DOMAIN_MAX {
            Some(DomainCode(code))
        } else {
            None
        }
    }

    /// Like [`DomainCode::new`], for constants: out of range is a compile-time error in a
    /// `const` item (and a panic elsewhere).
    ///
    /// ```
    /// use opsledger_rpc::DomainCode;
    /// const NOT_FOUND: DomainCode = DomainCode::of(-32004);
    /// assert_eq!(NOT_FOUND.get(), -32004);
    /// ```
    pub const fn of(code: i32) -> DomainCode {
        match DomainCode::new(code) {
            Some(c) => c,
            None => panic!("a domain code must lie in -32089..=-32000"),
        }
    }

    /// The numeric code.
    pub const fn get(self) -> i32 {
        self.0
    }
}

impl TryFrom<i32> for DomainCode {
    type Error = i32;
    fn try_from(code: i32) -> Result<Self, i32> {
        DomainCode::new(code).ok_or(code)
    }
}

/// Why a method call failed, as the handler reports it.
///
/// - [`MethodError::domain`]: the domain refused (illegal transition, not found, conflict...):
///   a code in -32089..=-32000, `data = {"domain_code": "...", "details": ...}`.
/// - [`MethodError::invalid_params`]: params that deserialised but are still unacceptable: -32602.
/// - [`MethodError::internal`]: anything else: -32603 with the fixed message "Internal error";
///   the detail is logged (to stderr through `tracing`), never sent to the client.
#[derive(Debug, Clone, PartialEq)]
pub struct MethodError {
    error: ErrorObject,
    /// Logged, never sent.
    internal_detail: Option<String>,
}

impl MethodError {
    /// A domain rejection: `code` in the domain band, `domain_code` a stable machine-readable
    /// name (e.g. `"illegal_transition"`), `message` one sentence for humans.
    pub fn domain(
        code: DomainCode,
        domain_code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        let mut data = Map::new();
        data.insert("domain_code".into(), Value::String(domain_code.into()));
        MethodError {
            error: ErrorObject::new(code.get(), message).with_data(Value::Object(data)),
            internal_detail: None,
        }
    }

    /// Attaches `details` (anything serialisable, e.g. the domain error itself) under
    /// `data.details`. On a non-domain error this sets `data` to `{"details": ...}`.
    #[must_use]
    pub fn with_details(mut self, details: impl Serialize) -> Self {
        let details = serde_json::to_value(details)
            .unwrap_or_else(|e| Value::String(format!("unserialisable details: {e}")));
        match &mut self.error.data {
            Some(Value::Object(map)) => {
                map.insert("details".into(), details);
            }
            other => {
                let mut map = Map::new();
                map.insert("details".into(), details);
                *other = Some(Value::Object(map));
            }
        }
        self
    }

    /// Params the handler finds unacceptable after deserialisation (-32602).
    pub fn invalid_params(message: impl Into<String>) -> Self {
        MethodError {
            error: ErrorObject::new(
                codes::INVALID_PARAMS,
                format!("Invalid params: {}", message.into()),
            ),
            internal_detail: None,
        }
    }

    /// Params that do not fit, at `path` (the field, as in `outer.items[1].count`; `"."` for
    /// the params as a whole): -32602 with the same message and `data` (`{"path", "reason"}`)
    /// the dispatcher gives when a typed params struct does not decode.
    pub fn invalid_params_at(path: impl Into<String>, reason: impl Into<String>) -> Self {
        let (path, reason) = (path.into(), reason.into());
        let message = if path == "." {
            format!("Invalid params: {reason}")
        } else {
            format!("Invalid params: {path}: {reason}")
        };
        let mut data = Map::new();
        data.insert("path".into(), Value::String(path));
        data.insert("reason".into(), Value::String(reason));
        MethodError {
            error: ErrorObject::new(codes::INVALID_PARAMS, message).with_data(Value::Object(data)),
            internal_detail: None,
        }
    }

    /// An internal failure (-32603). `detail` is logged to stderr, not sent: the client sees
    /// only "Internal error".
    pub fn internal(detail: impl fmt::Display) -> Self {
        MethodError {
            error: ErrorObject::new(codes::INTERNAL_ERROR, "Internal error"),
            internal_detail: Some(detail.to_string()),
        }
    }

    /// The call needs an acting identity and has none (-32098).
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        MethodError {
            error: ErrorObject::new(codes::UNAUTHENTICATED, message),
            internal_detail: None,
        }
    }

    /// The params named an actor where the transport supplies it (-32097).
    pub fn actor_not_allowed(message: impl Into<String>) -> Self {
        MethodError {
            error: ErrorObject::new(codes::ACTOR_NOT_ALLOWED, message),
            internal_detail: None,
        }
    }

    /// The JSON-RPC code.
    pub fn code(&self) -> i32 {
        self.error.code
    }

    /// The message sent to the client.
    pub fn message(&self) -> &str {
        &self.error.message
    }

    /// The `data` sent to the client.
    pub fn data(&self) -> Option<&Value> {
        self.error.data.as_ref()
    }

    /// The detail of an internal error (logged, never sent).
    pub fn internal_detail(&self) -> Option<&str> {
        self.internal_detail.as_deref()
    }

    /// The error object sent to the client.
    pub fn to_error_object(&self) -> ErrorObject {
        self.error.clone()
    }
}

impl fmt::Display for MethodError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.error.message, self.error.code)?;
        if let Some(d) = &self.internal_detail {
            write!(f, ": {d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for MethodError {}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn domain_codes_stay_in_their_band() {
        assert!(DomainCode::new(-32000).is_some());
        assert!(DomainCode::new(-32089).is_some());
        assert!(DomainCode::new(-32090).is_none());
        assert!(DomainCode::new(-31999).is_none());
        assert!(DomainCode::new(codes::LIMIT_EXCEEDED).is_none());
        assert_eq!(
            DomainCode::try_from(-32001).map(DomainCode::get),
            Ok(-32001)
        );
    }

    #[test]
    #[should_panic(expected = "domain code")]
    fn domain_code_of_panics_out_of_range() {
        let _ = DomainCode::of(-32700);
    }

    #[test]
    fn domain_error_carries_domain_code_and_details() {
        let e = MethodError::domain(DomainCode::of(-32001), "illegal_transition", "Not allowed")
            .with_details(json!({"from": "new", "command": "close"}));
        assert_eq!(e.code(), -32001);
        assert_eq!(
            e.data(),
            Some(&json!({"domain_code": "illegal_transition",
                          "details": {"from": "new", "command": "close"}}))
        );
    }

    #[test]
    fn internal_error_does_not_leak_its_detail() {
        let e = MethodError::internal("disk on fire at /var/x");
        let obj = e.to_error_object();
        assert_eq!(obj, ErrorObject::new(-32603, "Internal error"));
        assert_eq!(e.internal_detail(), Some("disk on fire at /var/x"));
    }
}
