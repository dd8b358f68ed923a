//! The `policy.*` methods: the policy is history too. Every published version is an event of
//! the log; these methods read a version (now, by number or as of an instant), list them,
//! check or compare a document, and publish one.
//!
//! A document travels as a JSON object (the policy itself) or as text, TOML or JSON (`format`,
//! sniffed when absent: text starting with `{` is JSON). Every problem of a document comes back
//! at once, each with its path (`sla.definitions[2].target`): from `policy.validate` as a
//! result, from `policy.diff` and `policy.publish` as the `invalid_policy` error
//! (`data.details.issues`). Checks include the history: an SLA definition or calendar version
//! published before may not be given other content.

use super::errors::{self, engine_error};
use super::params::{ActorParam, acting_actor, reading_actor};
use crate::{CallContext, Method, MethodError};
use chrono::{DateTime, Utc};
use opsledger::core::policy::document::{self, PolicyFormat};
use opsledger::core::policy::{PolicyIssue, PolicyVersion};
use opsledger::core::{ActorId, Permission, Policy};
use opsledger::{Engine, EngineError, PolicyDiff, PolicyPublished, PolicyRevision, PublishPolicy};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;

/// A policy document as a parameter: the document itself, or its text.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum DocumentParam {
    /// The document as a JSON object.
    Object(Box<Policy>),
    /// The document's text, TOML or JSON (see `format`).
    Text(String),
}

/// `policy.get` params.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetParams {
    /// This version (1 is the first); default: the one in force.
    #[serde(default)]
    pub version: Option<u32>,
    /// The version in force at this recorded instant (RFC 3339) instead.
    #[serde(default)]
    pub as_of: Option<DateTime<Utc>>,
}

/// One published version with its document.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PolicyAt {
    /// Its version.
    pub version: PolicyVersion,
    /// When it was recorded: it is in force from then until the next version.
    pub published_at: DateTime<Utc>,
    /// Who published it.
    pub published_by: ActorId,
    /// Why, as the publisher said.
    pub reason: String,
    /// The log position of its `policy.published` event.
    pub position: u64,
    /// The document.
    pub document: Policy,
}

impl From<PolicyRevision> for PolicyAt {
    fn from(r: PolicyRevision) -> Self {
        PolicyAt {
            version: r.version,
            published_at: r.published_at,
            published_by: r.published_by,
            reason: r.reason,
            position: r.position,
            document: (*r.policy).clone(),
        }
    }
}

/// Params carrying a document (`policy.validate`, `policy.diff`).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DocumentParams {
    /// The document: a JSON object, or its text (TOML or JSON).
    #[schemars(with = "DocumentParam")]
    pub document: Value,
    /// The notation of a document given as text (default: JSON when the text starts with `{`,
    /// else TOML).
    #[serde(default)]
    pub format: Option<PolicyFormat>,
}

/// What `policy.validate` found.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ValidateResult {
    /// True when the document could be published as it is.
    pub valid: bool,
    /// Every problem, in document order, each with its path.
    pub issues: Vec<PolicyIssue>,
}

/// `policy.publish` params.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishParams {
    /// The document: a JSON object, or its text (TOML or JSON).
    #[schemars(with = "DocumentParam")]
    pub document: Value,
    /// The notation of a document given as text (default: JSON when the text starts with `{`,
    /// else TOML).
    #[serde(default)]
    pub format: Option<PolicyFormat>,
    /// Publish only if this is still the version in force; otherwise `conflict`.
    #[serde(default)]
    pub expected_version: Option<u32>,
    /// Why, for the history (for example the change that approved it).
    #[serde(default)]
    pub reason: Option<String>,
    /// Who acts, on trusted local transports only (see the command methods).
    #[serde(default)]
    pub actor: Option<ActorParam>,
}

/// The document of a params object, read: the policy or every problem of the text or the
/// object (outer error: a value that is neither an object nor a string, or a `toml` format
/// for an object, -32602).
fn parse_document(
    document: Value,
    format: Option<PolicyFormat>,
) -> Result<Result<Policy, Vec<PolicyIssue>>, MethodError> {
    match document {
        Value::String(text) => Ok(document::parse(
            &text,
            format.unwrap_or_else(|| PolicyFormat::sniff(&text)),
        )),
        Value::Object(_) if format == Some(PolicyFormat::Toml) => {
            Err(MethodError::invalid_params_at(
                "format",
                "a document given as an object is JSON; `toml` is for a document given as text",
            ))
        }
        object @ Value::Object(_) => Ok(document::from_value(object)),
        _ => Err(MethodError::invalid_params_at(
            "document",
            "a policy document is an object, or its TOML or JSON text",
        )),
    }
}

/// The document, or `invalid_policy` with every problem found reading it.
fn read_document(document: Value, format: Option<PolicyFormat>) -> Result<Policy, MethodError> {
    parse_document(document, format)?
        .map_err(|issues| engine_error(EngineError::InvalidPolicy { issues }))
}

fn get(engine: &Engine, p: GetParams) -> Result<PolicyAt, MethodError> {
    let version = match (p.version, p.as_of) {
        (Some(_), Some(_)) => {
            return Err(MethodError::invalid_params_at(
                "version",
                "give either `version` or `as_of`, not both",
            ));
        }
        (Some(v), None) => PolicyVersion(v),
        (None, Some(t)) => engine.view(Some(t)).map_err(engine_error)?.policy().version,
        (None, None) => engine.policy().version,
    };
    engine
        .policy_revision(version)
        .map(PolicyAt::from)
        .ok_or_else(|| errors::not_found(format!("policy {version}")))
}

fn history(engine: &Engine) -> Vec<PolicyRevision> {
    engine.policy_history()
}

fn validate(engine: &Engine, p: DocumentParams) -> Result<ValidateResult, MethodError> {
    let issues = match parse_document(p.document, p.format)? {
        Ok(policy) => engine.validate_policy(&policy),
        Err(issues) => issues,
    };
    Ok(ValidateResult {
        valid: issues.is_empty(),
        issues,
    })
}

fn diff(engine: &Engine, p: DocumentParams) -> Result<PolicyDiff, MethodError> {
    let policy = read_document(p.document, p.format)?;
    let issues = engine.validate_policy(&policy);
    if !issues.is_empty() {
        return Err(engine_error(EngineError::InvalidPolicy { issues }));
    }
    engine.diff_policy(&policy).map_err(engine_error)
}

fn publish(
    engine: &Engine,
    ctx: &CallContext,
    p: PublishParams,
) -> Result<PolicyPublished, MethodError> {
    let actor = acting_actor(ctx, p.actor)?;
    // Who may publish is decided before the document is read: a caller without the
    // permission learns nothing about what the engine would say of it.
    engine
        .authorize(&actor, Permission::PolicyPublish)
        .map_err(engine_error)?;
    let policy = read_document(p.document, p.format)?;
    let request = PublishPolicy {
        expected_version: p.expected_version.map(PolicyVersion),
        reason: p.reason.unwrap_or_default(),
    };
    engine
        .publish_policy(&actor, policy, request)
        .map_err(engine_error)
}

fn documented(mut m: Method, summary: &str, description: &str, codes: &[&str]) -> Method {
    m = m.summary(summary).description(description);
    for code in codes {
        if let Some(row) = errors::error_code(code) {
            m = m.error(row.code, format!("{}: {}", row.domain_code, row.meaning));
        }
    }
    m
}

/// The `policy.*` methods.
pub(super) fn methods(engine: &Arc<Engine>) -> Vec<Method> {
    let get = {
        let engine = engine.clone();
        Method::new("policy.get", move |_: &CallContext, p: GetParams| {
            get(&engine, p)
        })
        .by_name_only()
    };
    let history = {
        let engine = engine.clone();
        Method::new(
            "policy.history",
            move |_: &CallContext, _: crate::NoParams| -> Result<_, MethodError> {
                Ok(history(&engine))
            },
        )
    };
    let validate = {
        let engine = engine.clone();
        Method::new(
            "policy.validate",
            move |_: &CallContext, p: DocumentParams| validate(&engine, p),
        )
        .by_name_only()
        // Every problem of a document, unknown keys included, comes back at once as
        // `invalid_policy` with its path.
        .reads_field_itself("document")
    };
    let diff = {
        let engine = engine.clone();
        Method::new(
            "policy.diff",
            move |ctx: &CallContext, p: DocumentParams| {
                // The diff lists open records whose SLA targets would move.
                if let Some(reader) = reading_actor(ctx, None)? {
                    engine
                        .require_reads_all(&reader, "a policy diff across records")
                        .map_err(engine_error)?;
                }
                diff(&engine, p)
            },
        )
        .by_name_only()
        // Every problem of a document, unknown keys included, comes back at once as
        // `invalid_policy` with its path.
        .reads_field_itself("document")
    };
    let publish = {
        let engine = engine.clone();
        Method::new(
            "policy.publish",
            move |ctx: &CallContext, p: PublishParams| publish(&engine, ctx, p),
        )
        .by_name_only()
        // Every problem of a document, unknown keys included, comes back at once as
        // `invalid_policy` with its path.
        .reads_field_itself("document")
    };
    vec![
        documented(
            get,
            "One published version of the policy, with its document",
            "The version in force (no params), version `version`, or the version in force at the recorded instant `as_of` (the first version for instants before it was recorded); at most one of `version` and `as_of`. Reads only; needs no actor.",
            &["not_found"],
        ),
        documented(
            history,
            "Every published version of the policy, oldest first",
            "Version, publication instant, publisher, reason and log position of each version (without the documents: `policy.get` reads one). Reads only; needs no actor.",
            &[],
        ),
        documented(
            validate,
            "Checks a policy document without publishing it",
            "Every problem of `document` (an object, or TOML or JSON text), each with its path: syntax, unknown keys at any depth, wrong types, unknown time zones, the policy's own rules, and the history (an SLA definition or calendar version published before with other content). Writes nothing; needs no actor.",
            &[],
        ),
        documented(
            diff,
            "What publishing a policy document would change",
            "Every changed setting (`changes`: path, before, after) against the version in force, and the open records whose SLA targets would move if they were pinned again under the document (`moved_targets`; running clocks keep their pins: publishing moves nothing by itself). A document with problems is refused with `invalid_policy`. Writes nothing; needs no actor.",
            &["invalid_policy", "store", "views"],
        ),
        documented(
            publish,
            "Publishes a policy document as the next version",
            "Records `document` as the next version of the policy, in force for every command appended after it; history is not rewritten (records keep the SLA versions they pinned). Refused with `invalid_policy` and every problem when the document has any, with `conflict` when `expected_version` is not the version in force. A document equal to the version in force writes nothing (`changed: false`, `position: null`). Needs the `policy_publish` permission (by default: the `admin` role).",
            &[
                "forbidden",
                "unknown_role",
                "invalid_policy",
                "conflict",
                "limit_exceeded",
                "store",
            ],
        ),
    ]
}
