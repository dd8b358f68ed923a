//! The policy document: the text an operator writes (TOML or JSON), read with every problem
//! reported at its path, written back, and compared with another.
//!
//! A document is a [`Policy`] on the wire. Unknown keys are refused at any depth, so that a
//! misspelt setting is an error and not a silently ignored line. Every section may be left
//! out and then takes its default ([`Policy::default`]); `version` is set by the engine when
//! it publishes the document.
//!
//! ```
//! use opsledger_core::policy::document::{self, PolicyFormat};
//!
//! let policy = document::parse("[incident]\nauto_close_after_days = 3\n", PolicyFormat::Toml)
//!     .expect("a valid document");
//! assert_eq!(policy.incident.auto_close_after_days, 3);
//! assert_eq!(policy.limits, Default::default());
//!
//! let issues = document::parse("[incident]\nauto_close_after_dayz = 3\n", PolicyFormat::Toml)
//!     .unwrap_err();
//! assert_eq!(issues[0].path, "incident.auto_close_after_dayz");
//! assert!(issues[0].message.starts_with("unknown field `auto_close_after_dayz`"));
//! ```

use super::{Policy, PolicyIssue};
use crate::actor::Role;
use crate::authz::Permission;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

/// The two notations of a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PolicyFormat {
    /// JSON.
    Json,
    /// TOML (instants, dates and times may be written bare or quoted).
    Toml,
}

impl PolicyFormat {
    /// The format a file name says (`.json`, `.toml`), if it says one.
    pub fn from_path(path: &Path) -> Option<Self> {
        match path.extension()?.to_str()? {
            "json" => Some(Self::Json),
            "toml" => Some(Self::Toml),
            _ => None,
        }
    }

    /// The format of `text`: JSON when its first non-blank character opens an object, TOML
    /// otherwise.
    pub fn sniff(text: &str) -> Self {
        if text.trim_start().starts_with('{') {
            Self::Json
        } else {
            Self::Toml
        }
    }
}

/// Reads a document: the first problem of the text itself (syntax, an unknown key, a value of
/// the wrong type or out of its range, an unknown time zone), else every problem of
/// [`Policy::issues`]. Each comes with its path; nothing is partially accepted.
pub fn parse(text: &str, format: PolicyFormat) -> Result<Policy, Vec<PolicyIssue>> {
    // No TOML document starts with `{`: such a text is JSON whatever the caller guessed.
    let format = match PolicyFormat::sniff(text) {
        PolicyFormat::Json => PolicyFormat::Json,
        PolicyFormat::Toml => format,
    };
    let value = match format {
        PolicyFormat::Json => {
            let value = serde_json::from_str::<Value>(text).map_err(|e| {
                vec![PolicyIssue::new(
                    "",
                    format!("not JSON: {e} (line {}, column {})", e.line(), e.column()),
                )]
            })?;
            if !value.is_object() {
                return from_value(value);
            }
            // Read from the text itself too, where a key given twice in one object is an
            // error (a JSON value keeps the last one silently).
            let mut text_reader = serde_json::Deserializer::from_str(text);
            let read = serde_path_to_error::deserialize::<_, Policy>(&mut text_reader);
            return checked(read.map_err(|e| path_issue(&value, e)));
        }
        PolicyFormat::Toml => {
            let table = toml::from_str::<toml::Table>(text).map_err(|e| {
                let at = e
                    .span()
                    .map(|s| {
                        let before = &text.as_bytes()[..s.start.min(text.len())];
                        let line = before.iter().filter(|b| **b == b'\n').count() + 1;
                        format!(" (line {line})")
                    })
                    .unwrap_or_default();
                vec![PolicyIssue::new(
                    "",
                    format!("not TOML: {}{at}", e.message().trim()),
                )]
            })?;
            toml_to_json(toml::Value::Table(table))
        }
    };
    from_value(value)
}

/// Reads a document already parsed as JSON (a JSON-RPC parameter): see [`parse`].
pub fn from_value(value: Value) -> Result<Policy, Vec<PolicyIssue>> {
    if !value.is_object() {
        return Err(vec![PolicyIssue::new(
            "",
            "a policy document is an object (a table in TOML)",
        )]);
    }
    let read = serde_path_to_error::deserialize(&value).map_err(|e| path_issue(&value, e));
    checked(read)
}

/// The issue of a reading error, at its path.
fn path_issue<E: std::fmt::Display>(
    document: &Value,
    e: serde_path_to_error::Error<E>,
) -> PolicyIssue {
    let path = e.path().to_string();
    let path = if path == "." { String::new() } else { path };
    name_grant_key(document, PolicyIssue::new(path, e.into_inner().to_string()))
}

/// A document that was read, checked against [`Policy::issues`].
fn checked(read: Result<Policy, PolicyIssue>) -> Result<Policy, Vec<PolicyIssue>> {
    let policy = read.map_err(|issue| vec![issue])?;
    let issues = policy.issues();
    if issues.is_empty() {
        Ok(policy)
    } else {
        Err(issues)
    }
}

/// serde_path_to_error cannot name a map key that is read as an enum: it writes `?` instead.
/// The one such map of a document is `authorization.grants` (keyed by permission), so an issue
/// under it is put at the first entry whose permission or roles do not read.
fn name_grant_key(document: &Value, issue: PolicyIssue) -> PolicyIssue {
    const UNNAMED: &str = "authorization.grants.?";
    let Some(rest) = issue.path.strip_prefix(UNNAMED) else {
        return issue;
    };
    let Some(grants) = document
        .pointer("/authorization/grants")
        .and_then(Value::as_object)
    else {
        return issue;
    };
    let at_fault = grants.iter().find(|(key, roles)| {
        serde_json::from_value::<Permission>(Value::String((*key).clone())).is_err()
            || BTreeSet::<Role>::deserialize(*roles).is_err()
    });
    match at_fault {
        Some((key, _)) => {
            PolicyIssue::new(format!("authorization.grants.{key}{rest}"), issue.message)
        }
        None => issue,
    }
}

/// The document as TOML (instants and dates quoted).
///
/// Every document this crate reads can be written as TOML; should one ever not be, its JSON
/// form is returned instead (which [`parse`] reads back the same, whatever format it is told).
pub fn to_toml(policy: &Policy) -> String {
    toml::to_string_pretty(policy).unwrap_or_else(|_| to_json(policy))
}

/// The document as indented JSON.
pub fn to_json(policy: &Policy) -> String {
    serde_json::to_string_pretty(policy).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// A TOML value as the JSON value the document types read: TOML's dates and times become the
/// RFC 3339 text they stand for.
fn toml_to_json(value: toml::Value) -> Value {
    match value {
        toml::Value::String(s) => Value::String(s),
        toml::Value::Integer(i) => Value::from(i),
        toml::Value::Float(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        toml::Value::Boolean(b) => Value::Bool(b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(items) => Value::Array(items.into_iter().map(toml_to_json).collect()),
        toml::Value::Table(table) => Value::Object(
            table
                .into_iter()
                .map(|(k, v)| (k, toml_to_json(v)))
                .collect(),
        ),
    }
}

/// One difference between two documents: the value at `path` before and after (`None`: not
/// there). Lists whose items carry an `id` (and a `version`) or a `name` are compared item by
/// item by that identity (`sla.definitions[p1-resolution v2].target`), other lists position by
/// position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyChange {
    /// Where.
    pub path: String,
    /// The value before (absent when it was added).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    /// The value after (absent when it was removed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
}

/// What changes from `from` to `to`, leaves first in document order; the documents' `version`
/// is left out (it numbers documents, it is not a setting).
pub fn diff(from: &Policy, to: &Policy) -> Vec<PolicyChange> {
    let mut a = serde_json::to_value(from).unwrap_or(Value::Null);
    let mut b = serde_json::to_value(to).unwrap_or(Value::Null);
    for v in [&mut a, &mut b] {
        if let Value::Object(map) = v {
            map.remove("version");
        }
    }
    let mut out = Vec::new();
    diff_values("", Some(&a), Some(&b), &mut out);
    out
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn diff_values(path: &str, a: Option<&Value>, b: Option<&Value>, out: &mut Vec<PolicyChange>) {
    match (a, b) {
        (Some(Value::Object(x)), Some(Value::Object(y))) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                diff_values(&join(path, k), x.get(k), y.get(k), out);
            }
        }
        (Some(Value::Array(x)), Some(Value::Array(y))) => match (identities(x), identities(y)) {
            (Some(ix), Some(iy)) => {
                let mut seen = std::collections::BTreeSet::new();
                for (id, item) in ix.iter().zip(x) {
                    seen.insert(id.clone());
                    let other = iy.iter().position(|j| j == id).map(|n| &y[n]);
                    diff_values(&format!("{path}[{id}]"), Some(item), other, out);
                }
                for (id, item) in iy.iter().zip(y) {
                    if !seen.contains(id) {
                        diff_values(&format!("{path}[{id}]"), None, Some(item), out);
                    }
                }
            }
            _ => {
                for i in 0..x.len().max(y.len()) {
                    diff_values(&format!("{path}[{i}]"), x.get(i), y.get(i), out);
                }
            }
        },
        (a, b) if a == b => {}
        (a, b) => out.push(PolicyChange {
            path: path.to_owned(),
            before: a.cloned(),
            after: b.cloned(),
        }),
    }
}

/// The identity of every item of a list (`id`, `id vN` with a version, or `name`), when every
/// item has a distinct one.
fn identities(items: &[Value]) -> Option<Vec<String>> {
    let ids: Vec<String> = items
        .iter()
        .map(|item| {
            let obj = item.as_object()?;
            let text = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_owned);
            match (text("id"), obj.get("version").and_then(Value::as_u64)) {
                (Some(id), Some(v)) => Some(format!("{id} v{v}")),
                (Some(id), None) => Some(id),
                (None, _) => text("name"),
            }
        })
        .collect::<Option<_>>()?;
    let distinct: std::collections::BTreeSet<&String> = ids.iter().collect();
    (distinct.len() == ids.len()).then_some(ids)
}
