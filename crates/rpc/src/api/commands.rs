//! One method per command of every lifecycle (`incident.<command>`, `problem.<command>`,
//! `change.<command>`, named by the core's command kinds) and `alert.report`.
//!
//! No params struct is written per command: a method's params schema is its command variant's
//! schema (taken from the core's `JsonSchema` of the command enum, the `command` tag removed)
//! plus the envelope fields, and the same schema validates the params (draft-07, formats
//! checked), so every error names its field. Then the variant is decoded by the core's own
//! `Deserialize`, wrapped in a [`CommandEnvelope`] and executed.

use super::errors::{self, engine_error};
use super::params::{ActorParam, Lookup, ParamsValidator, acting_actor, resolve_numbers, take};
use super::results::CommandResult;
use crate::{CallContext, Method, MethodError};
use opsledger::core::Named;
use opsledger::core::change::{ChangeCommand, ChangeCommandKind};
use opsledger::core::incident::{IncidentCommand, IncidentCommandKind};
use opsledger::core::problem::{ProblemCommand, ProblemCommandKind};
use opsledger::{AlertReport, Command, CommandEnvelope, Engine, EngineError, Uuid};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// The envelope fields every command method accepts besides the command's own.
pub const ENVELOPE_FIELDS: [&str; 4] = [
    "idempotency_key",
    "expected_version",
    "correlation_id",
    "actor",
];

/// How one command method decodes its params into a [`Command`].
type Decode = fn(Map<String, Value>, &'static str) -> Result<Command, MethodError>;

/// One command method, before it becomes a [`Method`].
struct Spec {
    method: String,
    variant: &'static str,
    creates: bool,
    body: fn(&mut SchemaGenerator, &'static str) -> Schema,
    decode: Decode,
    errors: Vec<&'static str>,
}

/// Every command method, in no particular order.
pub(super) fn methods(engine: &Arc<Engine>) -> Vec<Method> {
    let mut specs = Vec::new();
    for kind in IncidentCommandKind::ALL {
        let name = kind.name();
        specs.push(Spec {
            method: format!("incident.{name}"),
            variant: name,
            creates: kind.is_create(),
            body: variant_body::<IncidentCommand>,
            decode: decode_variant::<IncidentCommand>,
            errors: incident_errors(*kind),
        });
    }
    for kind in ProblemCommandKind::ALL {
        let name = kind.name();
        specs.push(Spec {
            method: format!("problem.{name}"),
            variant: name,
            creates: *kind == ProblemCommandKind::Create,
            body: variant_body::<ProblemCommand>,
            decode: decode_variant::<ProblemCommand>,
            errors: problem_errors(*kind),
        });
    }
    for kind in ChangeCommandKind::ALL {
        let name = kind.name();
        specs.push(Spec {
            method: format!("change.{name}"),
            variant: name,
            creates: *kind == ChangeCommandKind::Request,
            body: variant_body::<ChangeCommand>,
            decode: decode_variant::<ChangeCommand>,
            errors: change_errors(*kind),
        });
    }
    specs.push(Spec {
        method: "alert.report".into(),
        variant: "alert",
        creates: false,
        body: alert_body,
        decode: decode_alert,
        errors: vec!["already_exists", "invalid_transition", "validation"],
    });
    specs
        .into_iter()
        .map(|spec| method(engine.clone(), spec))
        .collect()
}

const COMMON_ERRORS: [&str; 8] = [
    "not_found",
    "forbidden",
    "limit_exceeded",
    "conflict",
    "idempotency_key_reused",
    "retries_exhausted",
    "invalid_input",
    "unknown_role",
];

fn incident_errors(kind: IncidentCommandKind) -> Vec<&'static str> {
    let mut e = vec!["invalid_transition", "validation"];
    if kind.is_create() {
        e.push("already_exists");
    }
    match kind {
        IncidentCommandKind::Close => e.push("review_required"),
        IncidentCommandKind::Reopen => e.push("reject_window_closed"),
        IncidentCommandKind::AutoClose => e.push("major_incident_no_auto_close"),
        _ => {}
    }
    e
}

fn problem_errors(kind: ProblemCommandKind) -> Vec<&'static str> {
    let mut e = vec!["invalid_transition", "validation"];
    if kind == ProblemCommandKind::Create {
        e.push("already_exists");
    }
    e
}

fn change_errors(kind: ChangeCommandKind) -> Vec<&'static str> {
    let mut e = vec!["invalid_transition", "validation"];
    match kind {
        ChangeCommandKind::Request => e.push("already_exists"),
        ChangeCommandKind::Approve | ChangeCommandKind::Reject => {
            e.extend(["separation_of_duties", "not_an_approver", "already_decided"]);
            if kind == ChangeCommandKind::Approve {
                e.push("schedule_conflict");
            }
        }
        ChangeCommandKind::Plan | ChangeCommandKind::Submit => e.push("schedule_conflict"),
        ChangeCommandKind::StartImplementation => {
            e.extend(["outside_approved_window", "schedule_conflict"]);
        }
        _ => {}
    }
    e
}

/// The object schema of the variant of `C` tagged `command: variant`, without the tag.
fn variant_body<C: JsonSchema>(generator: &mut SchemaGenerator, variant: &'static str) -> Schema {
    let whole = C::json_schema(generator).to_value();
    let found = whole
        .get("oneOf")
        .and_then(Value::as_array)
        .and_then(|branches| {
            branches.iter().find(|b| {
                let tag = &b["properties"]["command"];
                tag.get("const").and_then(Value::as_str) == Some(variant)
                    || tag.get("enum") == Some(&json!([variant]))
            })
        })
        .cloned()
        .unwrap_or_else(|| json!({"type": "object"}));
    let mut body = found;
    if let Some(map) = body.as_object_mut() {
        if let Some(Value::Object(p)) = map.get_mut("properties") {
            p.remove("command");
        }
        if let Some(Value::Array(r)) = map.get_mut("required") {
            r.retain(|f| f != "command");
        }
    }
    Schema::try_from(body).unwrap_or_default()
}

fn alert_body(generator: &mut SchemaGenerator, _: &'static str) -> Schema {
    AlertReport::json_schema(generator)
}

/// The body plus the envelope fields; `id` optional for creating commands.
fn params_schema(
    generator: &mut SchemaGenerator,
    body: fn(&mut SchemaGenerator, &'static str) -> Schema,
    variant: &'static str,
    creates: bool,
) -> Schema {
    let mut schema = body(generator, variant).to_value();
    let actor = generator.subschema_for::<ActorParam>().to_value();
    if let Some(map) = schema.as_object_mut() {
        map.remove("description");
        map.insert("type".into(), json!("object"));
        let mut properties = match map.remove("properties") {
            Some(Value::Object(p)) => p,
            _ => Map::new(),
        };
        // A command field named like an envelope field would be shadowed: refuse to build
        // such an API (every registry construction, so every test, would fail).
        if let Some(clash) = ENVELOPE_FIELDS
            .iter()
            .find(|f| properties.contains_key(**f))
        {
            panic!("the command {variant} has a field named like the envelope field {clash}");
        }
        if creates {
            if let Some(Value::Object(id)) = properties.get_mut("id") {
                id.insert(
                    "description".into(),
                    json!("The new record's id (a UUID); optional: the engine generates one when absent."),
                );
            }
            if let Some(Value::Array(r)) = map.get_mut("required") {
                r.retain(|f| f != "id");
            }
        }
        properties.insert(
            "idempotency_key".into(),
            json!({
                "description": "Makes retries safe: the first outcome for this key (scoped per actor) is replayed for the same command (`was_duplicate: true`, nothing written) and the key is refused for any other command (`idempotency_key_reused`), across restarts.",
                "type": "string"
            }),
        );
        properties.insert(
            "expected_version".into(),
            json!({
                "description": "Pins the record's version (0: it must not exist yet): a mismatch is `conflict` and nothing is written, instead of a retry against fresh state.",
                "type": "integer",
                "format": "uint64",
                "minimum": 0
            }),
        );
        properties.insert(
            "correlation_id".into(),
            json!({
                "description": "Groups the events of one request or workflow (a UUID); generated when absent; follow-ups inherit it.",
                "type": "string",
                "format": "uuid"
            }),
        );
        properties.insert(
            "actor".into(),
            json!({
                "description": "Who acts, on trusted local transports only (stdio, in-process, the C ABI): `{\"id\": \"alice\", \"roles\": [\"agent\"]}`. Over HTTP the bearer token's identity acts and this field is refused (-32097).",
                "allOf": [actor]
            }),
        );
        map.insert("properties".into(), Value::Object(properties));
        if let Some(Value::Array(r)) = map.get("required")
            && r.is_empty()
        {
            map.remove("required");
        }
    }
    Schema::try_from(schema).unwrap_or_default()
}

fn decode_variant<C>(
    mut params: Map<String, Value>,
    variant: &'static str,
) -> Result<Command, MethodError>
where
    C: DeserializeOwned + Into<Command>,
{
    params.insert("command".into(), Value::String(variant.into()));
    serde_path_to_error::deserialize::<_, C>(Value::Object(params))
        .map(Into::into)
        .map_err(|e| {
            MethodError::invalid_params_at(
                path_of(e.path().to_string()),
                crate::registry::strip_position(&e.inner().to_string()),
            )
        })
}

fn decode_alert(params: Map<String, Value>, _: &'static str) -> Result<Command, MethodError> {
    serde_path_to_error::deserialize::<_, AlertReport>(Value::Object(params))
        .map(Command::Alert)
        .map_err(|e| {
            MethodError::invalid_params_at(
                path_of(e.path().to_string()),
                crate::registry::strip_position(&e.inner().to_string()),
            )
        })
}

fn path_of(path: String) -> String {
    if path.is_empty() || path == "?" {
        ".".into()
    } else {
        path
    }
}

/// The id of a record created without an `id` but with an idempotency key: a UUID v5 of
/// (actor, method, key), so that a retry names the same record and replays.
fn derived_id(actor: &str, method: &str, key: &str) -> Uuid {
    const NAMESPACE: Uuid = Uuid::from_u128(0x6f70_736c_6564_6765_7270_635f_6964_7331);
    Uuid::new_v5(
        &NAMESPACE,
        format!("{actor}\u{0}{method}\u{0}{key}").as_bytes(),
    )
}

fn summary_of(description: &str) -> String {
    let first = description
        .split("\n\n")
        .next()
        .unwrap_or("")
        .replace('\n', " ");
    match first.find(". ") {
        Some(i) => first[..=i].trim().to_owned(),
        None => first.trim().to_owned(),
    }
}

fn method(engine: Arc<Engine>, spec: Spec) -> Method {
    let Spec {
        method: name,
        variant,
        creates,
        body,
        decode,
        errors: specific,
    } = spec;
    let schema_fn = move |g: &mut SchemaGenerator| params_schema(g, body, variant, creates);
    let validator = Arc::new(ParamsValidator::new(&schema_fn));
    let fields: Vec<String> = validator
        .schema()
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    let description = {
        let mut g = crate::openrpc::schema_settings().into_generator();
        body(&mut g, variant)
            .to_value()
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let (summary, description) = if variant == "alert" {
        (
            "Reports a monitoring alert: joins the open incident holding its dedup key, or opens one".to_owned(),
            "An alert as monitoring reports it. The engine correlates it with the open incident holding `dedup_key` (`incident.correlate_alert`); else, when the policy's `incident.correlate_alerts_by_service` is on, with an open incident of a service the outage of one of its `cis` affects (recorded with `via`: the CI, the service, the path); else it opens a new incident from it (`incident.open` with the alert; `incident_id` optional). Repeats share a `dedup_key`.".to_owned(),
        )
    } else {
        (summary_of(&description), description)
    };
    let method_name = name.clone();
    let handler = {
        let validator = validator.clone();
        move |ctx: &CallContext, text: &str| -> Result<CommandResult, MethodError> {
            let mut params: Map<String, Value> = serde_json::from_str(text)
                .map_err(|e| MethodError::invalid_params_at(".", e.to_string()))?;
            // A creating command without an id: validated with a placeholder, given its id
            // once the actor is known (below).
            let generate_id = creates && params.get("id").is_none_or(Value::is_null);
            if generate_id {
                params.insert("id".into(), Value::String(Uuid::nil().to_string()));
            }
            let mut value = Value::Object(params);
            let root = validator.schema();
            let mut lookup = Lookup::new(&engine);
            if let Err(e) = resolve_numbers(&mut value, root, root, &mut |n| lookup.find(n)) {
                return Err(not_theirs_or(ctx, &value, e));
            }
            validator.check(&value)?;
            let Value::Object(mut params) = value else {
                return Err(MethodError::invalid_params_at(
                    ".",
                    "params must be an object",
                ));
            };
            let claimed: Option<ActorParam> = take(&mut params, "actor")?;
            let idempotency_key: Option<String> = take(&mut params, "idempotency_key")?;
            let expected_version: Option<u64> = take(&mut params, "expected_version")?;
            let correlation_id: Option<Uuid> = take(&mut params, "correlation_id")?;
            let actor = acting_actor(ctx, claimed)?;
            if generate_id {
                let id = match &idempotency_key {
                    // A retry with the same key must name the same record.
                    Some(key) => derived_id(actor.id.as_str(), &method_name, key),
                    None => engine.new_id(),
                };
                params.insert("id".into(), Value::String(id.to_string()));
            }
            let command = decode(params, variant)?;
            let own_records_only = actor.reads_own_records_only();
            let mut envelope = CommandEnvelope::new(actor, command);
            envelope.idempotency_key = idempotency_key;
            envelope.expected_version = expected_version;
            envelope.correlation_id = correlation_id;
            let outcome = engine.execute(envelope).map_err(engine_error)?;
            let mut result = CommandResult::from(&outcome);
            if method_name == "incident.open" && !outcome.replayed {
                // The incident is stored: a failed lookup leaves the list empty, never an error.
                result.suggested_runbooks = engine.suggest(outcome.record, 5).unwrap_or_default();
            }
            if matches!(
                method_name.as_str(),
                "incident.propose_major" | "incident.accept_major"
            ) {
                result.blast_radius = engine
                    .blast_radius(opsledger::core::IncidentId(outcome.record.id))
                    .unwrap_or_default();
            }
            if own_records_only {
                // An end user sees what their command did to their own record, not what the
                // engine did in turn to others (a parent's children, a problem's incidents).
                result.follow_ups.retain(|f| f.record == outcome.record);
            }
            Ok(result)
        }
    };
    let mut description = description;
    description.push_str(
        "\n\nParams: the command's fields by name (record ids accept a human number such as `INC0000001` too), plus `idempotency_key`, `expected_version`, `correlation_id` and, on trusted local transports, `actor`. Result: the outcome (record, number, version, stored events, follow-ups, `was_duplicate`).",
    );
    let mut m = Method::from_schema(name, fields, schema_fn, handler)
        .summary(summary)
        .description(description);
    let mut seen = Vec::new();
    for code in specific.iter().chain(COMMON_ERRORS.iter()) {
        if seen.contains(code) {
            continue;
        }
        seen.push(code);
        if let Some(row) = errors::error_code(code) {
            m = m.error(row.code, format!("{}: {}", row.domain_code, row.meaning));
        }
    }
    m
}

/// `e`, or, when `e` says a number names no record and the acting actor reads only their own
/// records, the refusal they get for any record not theirs: a command does not tell an end
/// user which records exist.
fn not_theirs_or(ctx: &CallContext, params: &Value, e: MethodError) -> MethodError {
    let not_found = e
        .data()
        .and_then(|d| d.get("domain_code"))
        .is_some_and(|c| c == "not_found");
    if !not_found {
        return e;
    }
    let claimed: Option<ActorParam> = params
        .get("actor")
        .cloned()
        .and_then(|v| serde_json::from_value(v).ok());
    match acting_actor(ctx, claimed) {
        Ok(actor) if actor.reads_own_records_only() => engine_error(EngineError::ReadForbidden {
            actor: actor.id,
            what: opsledger::OTHER_RECORD.to_owned(),
        }),
        Ok(_) | Err(_) => e,
    }
}
