//! The one table from the engine's stable error codes to JSON-RPC error codes, and the
//! translation of [`EngineError`] into [`MethodError`].
//!
//! Every domain code of the core ([`opsledger::DomainError::code`]), every other code of the
//! engine ([`EngineError::code`]) and the few codes of this adapter have one fixed JSON-RPC code
//! in -32089..=-32000 ([`DomainCode`]). The error object is
//! `{"code": <number>, "message": <one sentence>, "data": {"domain_code": <snake code>,
//! "details": {...}}}`. Server-side failures (`store`, `decode`, `views`, `invalid_config`) keep
//! their stable code but carry no details: the cause is logged on the server, never sent.
//! Anything unforeseen is -32603 "Internal error".

use crate::{DomainCode, MethodError};
use opsledger::EngineError;
use serde_json::{Value, json};

/// One row of the error-code table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCode {
    /// The stable snake_case code (`data.domain_code`).
    pub domain_code: &'static str,
    /// The JSON-RPC error code.
    pub code: DomainCode,
    /// What it means, for the OpenRPC document and docs/RPC.md.
    pub meaning: &'static str,
    /// Whether `data.details` describes the error (false for server-side failures, whose
    /// details stay in the server's log).
    pub details: bool,
}

const fn row(domain_code: &'static str, code: i32, meaning: &'static str) -> ErrorCode {
    ErrorCode {
        domain_code,
        code: DomainCode::of(code),
        meaning,
        details: true,
    }
}

const fn server_row(domain_code: &'static str, code: i32, meaning: &'static str) -> ErrorCode {
    ErrorCode {
        domain_code,
        code: DomainCode::of(code),
        meaning,
        details: false,
    }
}

/// The table: every stable error code the engine and this adapter produce, with its JSON-RPC
/// code. Codes never change once published; new codes take new numbers.
pub const ERROR_CODES: &[ErrorCode] = &[
    // The core's domain errors (DomainError::code), -32001..
    row(
        "not_found",
        -32001,
        "The record, number or event named does not exist",
    ),
    row(
        "already_exists",
        -32002,
        "A creating command names a record that already exists",
    ),
    row(
        "wrong_record",
        -32003,
        "The command was decided against another record",
    ),
    row(
        "invalid_transition",
        -32004,
        "The command is not allowed in the record's current state",
    ),
    row(
        "forbidden",
        -32005,
        "The acting actor lacks the permission (or role) the call needs, or reads only the incidents they are the caller of",
    ),
    row(
        "validation",
        -32006,
        "A field failed the domain's validation",
    ),
    row(
        "limit_exceeded",
        -32007,
        "A configured size, count or replay limit would be exceeded",
    ),
    row(
        "separation_of_duties",
        -32008,
        "The requester of a change may not approve it",
    ),
    row(
        "not_an_approver",
        -32009,
        "The actor is not an eligible approver under the approval policy",
    ),
    row(
        "already_decided",
        -32010,
        "The approver already decided in this approval round",
    ),
    row(
        "outside_approved_window",
        -32011,
        "Implementation attempted outside the approved window",
    ),
    row(
        "schedule_conflict",
        -32012,
        "The schedule has blocking conflicts that were not accepted",
    ),
    row(
        "review_required",
        -32013,
        "A major incident cannot close before its post-incident review is published",
    ),
    row(
        "major_incident_no_auto_close",
        -32014,
        "A major incident is never auto-closed",
    ),
    row(
        "reject_window_closed",
        -32015,
        "The caller's window to reject the resolution (policy.incident.caller_reject_days) has ended",
    ),
    row(
        "unsafe_webhook_url",
        -32017,
        "The webhook URL is not http(s) or names a link-local, cloud metadata or unspecified address",
    ),
    row(
        "unknown_event_type",
        -32018,
        "A webhook filter names an event type the engine never records",
    ),
    // The service model's domain errors, -32060..
    row(
        "unknown_reference",
        -32060,
        "A reference names a service or CI that is not in the service model; data.details.path says where",
    ),
    row(
        "retired_reference",
        -32061,
        "A relation names a retired service or CI; data.details.path says where",
    ),
    row(
        "self_relation",
        -32062,
        "A relation from a service or CI to itself; data.details.path says where",
    ),
    row(
        "item_transition",
        -32063,
        "The service or CI's lifecycle state does not accept the command",
    ),
    // The engine's own errors (EngineError::code), -32020..
    row(
        "conflict",
        -32020,
        "The pinned expected_version is not the record's version; nothing was written",
    ),
    row(
        "idempotency_key_reused",
        -32021,
        "The idempotency key was already used for a different command",
    ),
    row(
        "retries_exhausted",
        -32022,
        "Concurrent writers kept winning; nothing was written, retry",
    ),
    row(
        "invalid_input",
        -32023,
        "Malformed input the domain does not see (idempotency key, cursor, number)",
    ),
    row(
        "invalid_policy",
        -32024,
        "The policy document was refused: every problem is in data.details.issues, each with its path; nothing was published",
    ),
    // This adapter's codes, -32030..
    row(
        "unknown_role",
        -32030,
        "The acting identity names a role the engine does not know",
    ),
    row(
        "not_supported",
        -32031,
        "This server does not offer the operation (admin.set_clock on a server without a manual clock)",
    ),
    // Server-side failures: stable codes, no details on the wire, -32050..
    server_row(
        "store",
        -32050,
        "The event store failed; a write's outcome may be unknown: retry with the same idempotency key",
    ),
    server_row("decode", -32051, "A stored event could not be decoded"),
    server_row(
        "views",
        -32052,
        "The read models failed (they are a cache and can be rebuilt)",
    ),
    server_row(
        "invalid_config",
        -32053,
        "The engine's configuration is inconsistent",
    ),
];

/// The table row of a stable code.
pub fn error_code(domain_code: &str) -> Option<&'static ErrorCode> {
    ERROR_CODES.iter().find(|e| e.domain_code == domain_code)
}

fn rejection(domain_code: &str, message: impl Into<String>, details: Value) -> MethodError {
    match error_code(domain_code) {
        Some(row) if row.details => {
            MethodError::domain(row.code, row.domain_code, message).with_details(details)
        }
        Some(row) => MethodError::domain(row.code, row.domain_code, row.meaning),
        None => MethodError::internal(format!("no JSON-RPC code for {domain_code}: {details}")),
    }
}

/// Translates an engine error (domain refusals included) into the JSON-RPC error the client
/// sees, following [`ERROR_CODES`].
pub fn engine_error(error: EngineError) -> MethodError {
    let code = error.code();
    let details = match &error {
        EngineError::Domain(d) => {
            let mut v = serde_json::to_value(d).unwrap_or(Value::Null);
            if let Some(map) = v.as_object_mut() {
                map.remove("code");
            }
            v
        }
        EngineError::NotFound { what } => json!({ "what": what }),
        EngineError::IdempotencyKeyReused { key } => json!({ "key": key }),
        EngineError::Conflict {
            record,
            expected,
            actual,
        } => json!({ "record": record, "expected": expected, "actual": actual }),
        EngineError::RetriesExhausted { record, attempts } => {
            json!({ "record": record, "attempts": attempts })
        }
        EngineError::InvalidInput { field, reason } => json!({ "field": field, "reason": reason }),
        EngineError::LimitExceeded { what, limit } => json!({ "what": what, "limit": limit }),
        EngineError::InvalidPolicy { issues } => json!({ "issues": issues }),
        EngineError::ReadForbidden { actor, what } => json!({ "actor": actor, "what": what }),
        other => {
            tracing::error!(code = other.code(), error = %other, "engine failure");
            Value::Null
        }
    };
    rejection(code, error.to_string(), details)
}

/// `not_found` for something the call named (a number, a record as of an instant).
pub fn not_found(what: impl Into<String>) -> MethodError {
    let what = what.into();
    rejection(
        "not_found",
        format!("{what} not found"),
        json!({ "what": what }),
    )
}

/// `forbidden` for an adapter-level permission (the admin methods, the system role).
pub fn forbidden(actor: &str, needs: &str, message: impl Into<String>) -> MethodError {
    rejection(
        "forbidden",
        message,
        json!({ "actor": actor, "permission": needs }),
    )
}

/// `unknown_role` for a role name the engine does not know, granted by the transport.
pub fn unknown_role(role: &str) -> MethodError {
    let allowed = super::params::role_names();
    rejection(
        "unknown_role",
        format!(
            "the identity names an unknown role {role:?}, expected one of {}",
            super::params::quoted(&allowed)
        ),
        json!({ "role": role, "allowed": allowed }),
    )
}

/// `not_supported` for an operation this server was not set up to offer.
pub fn not_supported(operation: &str, message: impl Into<String>) -> MethodError {
    rejection("not_supported", message, json!({ "operation": operation }))
}

/// `invalid_input` for a value the adapter refuses before the engine sees it.
pub fn invalid_input(field: &str, reason: impl Into<String>) -> MethodError {
    let reason = reason.into();
    rejection(
        "invalid_input",
        format!("invalid {field}: {reason}"),
        json!({ "field": field, "reason": reason }),
    )
}

/// `limit_exceeded` for an adapter-level bound (events per read, long-poll timeout).
pub fn limit_exceeded(what: &str, limit: u64) -> MethodError {
    rejection(
        "limit_exceeded",
        format!("{what} exceeds the limit of {limit}"),
        json!({ "what": what, "limit": limit }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_and_names_are_unique_and_in_the_domain_band() {
        let mut codes = HashSet::new();
        let mut names = HashSet::new();
        for row in ERROR_CODES {
            assert!(codes.insert(row.code.get()), "duplicate {}", row.code.get());
            assert!(
                names.insert(row.domain_code),
                "duplicate {}",
                row.domain_code
            );
        }
    }
}
