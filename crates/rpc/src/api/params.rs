//! Params shared by the methods: the acting actor, record references (an id or a human
//! number), the params validator built from a method's schema, and human-number resolution
//! inside command params.

use super::errors;
use crate::{CallContext, Identity, MethodError};
use opsledger::core::{Actor, RecordKind, Role};
use opsledger::{Engine, HumanNumber, ReadView, RecordRef, Uuid};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The actor a trusted local caller (stdio, in-process, the C ABI) acts as:
/// `{"id": "alice", "roles": ["agent"]}`. Over HTTP the bearer token decides and this field is
/// refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ActorParam {
    /// The actor's id.
    pub id: String,
    /// The roles the actor holds: `requester`, `caller`, `agent`, `manager`, `problem_manager`,
    /// `change_manager`, `cab_member`, `admin` (`system` is the engine's own and is refused).
    #[serde(default)]
    pub roles: Vec<String>,
}

impl From<ActorParam> for Identity {
    fn from(a: ActorParam) -> Self {
        Identity {
            actor: a.id,
            roles: a.roles,
        }
    }
}

/// The core actor a call runs as: the identity [`CallContext::acting_identity`] allows (the
/// params' `actor` on trusted local transports, the token's identity over HTTP), with its role
/// names parsed. An unknown role is -32602 when the params named it and `unknown_role` when the
/// transport did; the `system` role is refused (`forbidden`): it is the engine's own.
pub fn acting_actor(ctx: &CallContext, claimed: Option<ActorParam>) -> Result<Actor, MethodError> {
    let from_params = claimed.is_some();
    let identity = ctx.acting_identity(claimed.map(Identity::from))?;
    let mut roles = Vec::with_capacity(identity.roles.len());
    for (i, name) in identity.roles.iter().enumerate() {
        let role: Role = match serde_json::from_value(Value::String(name.clone())) {
            Ok(role) => role,
            Err(_) if from_params => {
                return Err(MethodError::invalid_params_at(
                    format!("actor.roles[{i}]"),
                    format!(
                        "unknown role {name:?}, expected one of {}",
                        quoted(&role_names())
                    ),
                ));
            }
            Err(_) => return Err(errors::unknown_role(name)),
        };
        if role == Role::System {
            return Err(errors::forbidden(
                &identity.actor,
                "system",
                "the system role is the engine's own: no caller may act under it",
            ));
        }
        roles.push(role);
    }
    if identity.actor.trim().is_empty() {
        return Err(MethodError::invalid_params_at(
            "actor.id",
            "the actor id must not be empty",
        ));
    }
    Ok(Actor::new(identity.actor, roles))
}

/// The role names a caller may hold (every role but the engine's own `system`).
pub fn role_names() -> Vec<&'static str> {
    Role::ALL
        .iter()
        .filter(|r| **r != Role::System)
        .map(|r| r.as_str())
        .collect()
}

/// `` `a`, `b`, `c` ``: values as error messages list them.
pub fn quoted(values: &[&str]) -> String {
    values
        .iter()
        .map(|v| format!("`{v}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The actor a query reads as: the actor a trusted local caller names in the params, else the
/// identity the transport established (a bearer token, a local default). `None` when there is
/// no identity at all (a trusted local caller naming none, a loopback server without tokens):
/// such a reader reads everything, as before identities existed.
pub fn reading_actor(
    ctx: &CallContext,
    claimed: Option<ActorParam>,
) -> Result<Option<Actor>, MethodError> {
    if claimed.is_none() && ctx.identity().is_none() {
        return Ok(None);
    }
    acting_actor(ctx, claimed).map(Some)
}

/// Parses a human number of `kind` (`INC0000001`, `PRB…`, `CHG…`); `None` for anything else.
pub fn parse_number(text: &str, kind: Option<RecordKind>) -> Option<HumanNumber> {
    let n: HumanNumber = text.parse().ok()?;
    match kind {
        Some(k) if k != n.kind => None,
        Some(_) | None => Some(n),
    }
}

/// Resolves a record named by `id` (a UUID or a human number) and an optional `kind`, as of
/// `view`. A UUID without `kind` is looked up among the three kinds. `Ok(None)` when nothing
/// matches; -32602 (at `path`) when `id` is neither a UUID nor a number of the right kind.
pub fn resolve_record(
    view: &ReadView<'_>,
    id: &str,
    kind: Option<RecordKind>,
    path: &str,
) -> Result<Option<RecordRef>, MethodError> {
    if let Ok(uuid) = Uuid::parse_str(id) {
        let kinds: &[RecordKind] = match &kind {
            Some(k) => std::slice::from_ref(k),
            None => &opsledger::KINDS,
        };
        for k in kinds {
            let record = RecordRef::new(*k, uuid);
            if view.state(record).map_err(errors::engine_error)?.is_some() {
                return Ok(Some(record));
            }
        }
        return Ok(None);
    }
    let Some(number) = parse_number(id, kind) else {
        let expected = match kind {
            Some(k) => format!(
                "a UUID or a {} number such as {}0000001",
                k,
                HumanNumber::prefix(k)
            ),
            None => "a UUID or a record number such as INC0000001".to_owned(),
        };
        return Err(MethodError::invalid_params_at(
            path,
            format!("{id:?} is not {expected}"),
        ));
    };
    view.lookup(&number).map_err(errors::engine_error)
}

/// Like [`resolve_record`], but a record that does not exist is `not_found`.
pub fn require_record(
    view: &ReadView<'_>,
    id: &str,
    kind: Option<RecordKind>,
    path: &str,
) -> Result<RecordRef, MethodError> {
    resolve_record(view, id, kind, path)?.ok_or_else(|| errors::not_found(id))
}

/// A params validator compiled from a method's schema (draft-07, definitions under
/// `components.schemas`, formats checked), reporting the first problem as -32602 with the
/// field's path.
pub struct ParamsValidator {
    validator: jsonschema::Validator,
    /// The params schema (an object schema) with `components.schemas` alongside.
    root: Value,
}

impl std::fmt::Debug for ParamsValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParamsValidator").finish_non_exhaustive()
    }
}

impl ParamsValidator {
    /// Builds the schema with a fresh generator (the OpenRPC settings) and compiles it.
    pub fn new(schema_fn: &dyn Fn(&mut SchemaGenerator) -> Schema) -> Self {
        let mut generator = crate::openrpc::schema_settings().into_generator();
        let mut schema = schema_fn(&mut generator);
        for transform in generator.transforms_mut() {
            transform.transform(&mut schema);
        }
        let definitions = generator.take_definitions(true);
        let mut root = schema.to_value();
        if let Some(map) = root.as_object_mut() {
            map.insert(
                "components".into(),
                serde_json::json!({ "schemas": definitions }),
            );
        }
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft7)
            .should_validate_formats(true)
            // draft-07 knows no `uuid` format; record ids are UUIDs, and a malformed one must
            // be named by its path.
            .with_format("uuid", |s: &str| Uuid::parse_str(s).is_ok())
            .build(&root)
            .unwrap_or_else(|e| panic!("a generated params schema must compile: {e}"));
        ParamsValidator { validator, root }
    }

    /// The first problem with `params`, as -32602 naming the field.
    pub fn check(&self, params: &Value) -> Result<(), MethodError> {
        match self.validator.validate(params) {
            Ok(()) => Ok(()),
            Err(e) => {
                let (path, reason) = innermost(&e);
                Err(MethodError::invalid_params_at(path, reason))
            }
        }
    }

    /// The compiled schema (with its definitions), for number resolution.
    pub fn schema(&self) -> &Value {
        &self.root
    }
}

/// The path and message of the most telling error: inside a `oneOf`/`anyOf` (a tagged union,
/// an optional value) the branch the value meant (not failing on its tag) and there the deepest
/// error, so that `{"kind": "awaiting_problem", "problem": 42}` is reported at `reason.problem`
/// rather than as "not valid under any of the schemas" at `reason`.
fn innermost(e: &jsonschema::ValidationError<'_>) -> (String, String) {
    use jsonschema::error::ValidationErrorKind as Kind;
    if let Some((path, given, allowed)) = allowed_values(e) {
        let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
        return (
            pointer_to_path(&path),
            format!("{given} is not one of {}", list.join(", ")),
        );
    }
    let depth =
        |e: &jsonschema::ValidationError<'_>| e.instance_path().as_str().matches('/').count();
    if let Kind::OneOfNotValid { context } | Kind::AnyOf { context } = e.kind() {
        let chosen = context
            .iter()
            .filter(|branch| {
                !branch.is_empty()
                    && !branch
                        .iter()
                        .any(|x| matches!(x.kind(), Kind::Constant { .. }))
            })
            .filter_map(|branch| branch.iter().max_by_key(|x| depth(x)))
            .max_by_key(|x| depth(x));
        if let Some(inner) = chosen
            && depth(inner) > depth(e)
        {
            return innermost(inner);
        }
    }
    let mut path = pointer_to_path(e.instance_path().as_str());
    if let Kind::Required { property } = e.kind()
        && let Some(name) = property.as_str()
    {
        path = if path == "." {
            name.to_owned()
        } else {
            format!("{path}.{name}")
        };
    }
    (path, e.to_string())
}

/// When `e` is a value outside a fixed set (an `enum`, a `const`, a union of documented
/// constants, a tagged union's tag): the value's pointer, the value and every allowed value.
/// jsonschema's own message lists at most three; a client should see them all.
fn allowed_values(e: &jsonschema::ValidationError<'_>) -> Option<(String, Value, Vec<Value>)> {
    use jsonschema::error::ValidationErrorKind as Kind;
    let here = || e.instance_path().as_str().to_owned();
    match e.kind() {
        Kind::Constant { expected_value } => Some((
            here(),
            e.instance().clone().into_owned(),
            vec![(**expected_value).clone()],
        )),
        Kind::Enum { options } => Some((
            here(),
            e.instance().clone().into_owned(),
            options.as_array()?.clone(),
        )),
        Kind::OneOfNotValid { context } | Kind::AnyOf { context } => {
            let mut found: Option<(String, Value, Vec<Value>)> = None;
            for branch in context {
                // A branch for another type (`null` of an optional value) says nothing.
                if branch.iter().all(|x| {
                    matches!(x.kind(), Kind::Type { .. })
                        && x.instance_path().as_str() == e.instance_path().as_str()
                }) {
                    continue;
                }
                let (path, given, values) = branch.iter().find_map(allowed_values)?;
                match &mut found {
                    None => found = Some((path, given, values)),
                    Some((at, _, all)) if *at == path => {
                        for v in values {
                            if !all.contains(&v) {
                                all.push(v);
                            }
                        }
                    }
                    Some(_) => return None,
                }
            }
            found
        }
        _ => None,
    }
}

/// `/reason/problem` -> `reason.problem`, `/cis/0` -> `cis[0]`, `` -> `.`.
pub fn pointer_to_path(pointer: &str) -> String {
    if pointer.is_empty() || pointer == "/" {
        return ".".into();
    }
    let mut out = String::new();
    for segment in pointer.trim_start_matches('/').split('/') {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
            out.push('[');
            out.push_str(&segment);
            out.push(']');
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&segment);
        }
    }
    out
}

/// The record kind a schema `$ref` names, when it is one of the record id types.
fn id_kind(reference: &str) -> Option<RecordKind> {
    match reference.rsplit('/').next()? {
        "IncidentId" => Some(RecordKind::Incident),
        "ProblemId" => Some(RecordKind::Problem),
        "ChangeId" => Some(RecordKind::Change),
        _ => None,
    }
}

/// Replaces, in `value`, every string that sits where `schema` expects a record id and reads
/// as a human number of that kind (`INC0000001` where an `IncidentId` goes) with the record's
/// UUID, looked up through `lookup`. A number that does not exist is `not_found`. Strings that
/// are not numbers are left for the validator to judge.
pub fn resolve_numbers(
    value: &mut Value,
    schema: &Value,
    root: &Value,
    lookup: &mut dyn FnMut(&HumanNumber) -> Result<Option<RecordRef>, MethodError>,
) -> Result<(), MethodError> {
    walk(value, schema, root, lookup, 0)
}

fn walk(
    value: &mut Value,
    schema: &Value,
    root: &Value,
    lookup: &mut dyn FnMut(&HumanNumber) -> Result<Option<RecordRef>, MethodError>,
    depth: usize,
) -> Result<(), MethodError> {
    if depth > 32 {
        return Ok(());
    }
    let Some(schema) = schema.as_object() else {
        return Ok(());
    };
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        if let Some(kind) = id_kind(reference) {
            if let Value::String(text) = value
                && Uuid::parse_str(text).is_err()
                && let Some(number) = parse_number(text, Some(kind))
            {
                let record =
                    lookup(&number)?.ok_or_else(|| errors::not_found(number.to_string()))?;
                *value = Value::String(record.id.to_string());
            }
            return Ok(());
        }
        if let Some(target) = reference
            .strip_prefix('#')
            .and_then(|pointer| root.pointer(pointer))
        {
            walk(value, target, root, lookup, depth + 1)?;
        }
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(Value::Array(branches)) = schema.get(key) {
            for branch in branches {
                walk(value, branch, root, lookup, depth + 1)?;
            }
        }
    }
    match value {
        Value::Object(map) => {
            if let Some(Value::Object(properties)) = schema.get("properties") {
                for (name, sub) in properties {
                    if let Some(v) = map.get_mut(name) {
                        walk(v, sub, root, lookup, depth + 1)?;
                    }
                }
            }
            if let Some(additional @ Value::Object(_)) = schema.get("additionalProperties") {
                for v in map.values_mut() {
                    walk(v, additional, root, lookup, depth + 1)?;
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema @ Value::Object(_)) = schema.get("items") {
                for v in items {
                    walk(v, item_schema, root, lookup, depth + 1)?;
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// A lazily opened live view for number lookups during one call.
pub struct Lookup<'e> {
    engine: &'e Engine,
    view: Option<ReadView<'e>>,
}

impl<'e> Lookup<'e> {
    /// Nothing opened yet.
    pub fn new(engine: &'e Engine) -> Self {
        Lookup { engine, view: None }
    }

    /// The record holding `number`, now.
    pub fn find(&mut self, number: &HumanNumber) -> Result<Option<RecordRef>, MethodError> {
        if self.view.is_none() {
            self.view = Some(self.engine.view(None).map_err(errors::engine_error)?);
        }
        match &self.view {
            Some(view) => view.lookup(number).map_err(errors::engine_error),
            None => Ok(None),
        }
    }
}

/// Takes `key` out of `params` and decodes it (it was validated already).
pub fn take<T: serde::de::DeserializeOwned>(
    params: &mut Map<String, Value>,
    key: &str,
) -> Result<Option<T>, MethodError> {
    match params.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => serde_json::from_value(v)
            .map(Some)
            .map_err(|e| MethodError::invalid_params_at(key, e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_become_field_paths() {
        assert_eq!(pointer_to_path(""), ".");
        assert_eq!(pointer_to_path("/reason/problem"), "reason.problem");
        assert_eq!(pointer_to_path("/cis/0"), "cis[0]");
        assert_eq!(pointer_to_path("/a/1/b"), "a[1].b");
    }

    #[test]
    fn numbers_parse_only_for_their_kind() {
        assert!(parse_number("INC0000001", Some(RecordKind::Incident)).is_some());
        assert!(parse_number("INC0000001", Some(RecordKind::Problem)).is_none());
        assert!(parse_number("XYZ", None).is_none());
    }
}
