//! The OpenRPC document `rpc.discover` returns, generated from the registered methods' types.
//!
//! - `openrpc` is [`OPENRPC_VERSION`]; `info` comes from the registry ([`crate::ApiInfo`]).
//! - Schemas are JSON Schema draft-07 (the OpenRPC meta-schema's dialect), produced by schemars
//!   with [`schema_settings`]: every named type lands once under `components.schemas`, and every
//!   `$ref` points at `#/components/schemas/NAME`.
//! - A named method (params a struct) has one content descriptor per field, in declaration
//!   order (the order by-position params map onto), each with the field's schema, its
//!   `description` (the field's doc comment) and `required`; `paramStructure` is `either`, or
//!   `by-name` for [`crate::Method::by_name_only`]. A raw method has `params: []` and its whole
//!   params schema under `x-params-schema`.
//! - The result is a content descriptor named `result` with the result type's schema.
//! - `rpc.discover` itself is listed first, its result referring to the OpenRPC meta-schema as
//!   the OpenRPC specification prescribes.

use crate::registry::{MethodRegistry, ParamsPlan};
use schemars::generate::SchemaSettings;
use schemars::{Schema, SchemaGenerator};
use serde_json::{Map, Value, json};

/// The OpenRPC specification version the document declares.
pub const OPENRPC_VERSION: &str = "1.3.2";

/// Where schema definitions live in the document (a JSON pointer).
pub const DEFINITIONS_PATH: &str = "/components/schemas";

/// The name of the service-discovery method.
pub const DISCOVER_METHOD: &str = "rpc.discover";

/// The schema `rpc.discover`'s result refers to, per the OpenRPC specification.
pub const META_SCHEMA_URL: &str =
    "https://raw.githubusercontent.com/open-rpc/meta-schema/master/schema.json";

/// schemars settings for schemas that sit in an OpenRPC document: draft-07, definitions under
/// `#/components/schemas`, no `$schema` keyword. Use them for standalone schemas too, so both
/// describe the same types the same way.
pub fn schema_settings() -> SchemaSettings {
    SchemaSettings::draft07().with(|s| {
        s.definitions_path = DEFINITIONS_PATH.into();
        s.meta_schema = None;
    })
}

fn apply_transforms(generator: &mut SchemaGenerator, schema: &mut Schema) {
    for transform in generator.transforms_mut() {
        transform.transform(schema);
    }
}

fn insert_opt(map: &mut Map<String, Value>, key: &str, value: Option<&str>) {
    if let Some(v) = value {
        map.insert(key.into(), Value::String(v.into()));
    }
}

/// Builds the OpenRPC document for `registry` (what `rpc.discover` returns; also
/// [`crate::Dispatcher::openrpc_document`]). Object keys come out sorted, so the document is
/// byte-for-byte stable across runs: fit for a committed `openrpc.json` checked for staleness.
pub fn document(registry: &MethodRegistry) -> Value {
    let mut generator = schema_settings().into_generator();
    let mut methods = vec![discover_method()];
    for m in registry.methods() {
        let mut obj = Map::new();
        obj.insert("name".into(), Value::String(m.method.name().into()));
        insert_opt(&mut obj, "summary", m.summary());
        insert_opt(&mut obj, "description", m.description());
        obj.insert(
            "paramStructure".into(),
            Value::String(m.param_structure().as_str().into()),
        );

        let mut params_schema = m.params_schema(&mut generator);
        apply_transforms(&mut generator, &mut params_schema);
        let params = match &m.plan {
            ParamsPlan::Named { order, .. } => {
                let properties = params_schema.get("properties").and_then(Value::as_object);
                let required: Vec<String> = params_schema
                    .get("required")
                    .and_then(Value::as_array)
                    .map(|r| {
                        r.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default();
                order
                    .iter()
                    .map(|field| {
                        let schema = properties
                            .and_then(|p| p.get(field.as_str()))
                            .cloned()
                            .unwrap_or_else(|| json!({}));
                        let mut d = Map::new();
                        d.insert("name".into(), Value::String(field.clone()));
                        insert_opt(
                            &mut d,
                            "description",
                            schema.get("description").and_then(Value::as_str),
                        );
                        d.insert("required".into(), Value::Bool(required.contains(field)));
                        d.insert("schema".into(), schema);
                        Value::Object(d)
                    })
                    .collect()
            }
            ParamsPlan::Raw => {
                obj.insert("x-params-schema".into(), params_schema.to_value());
                Vec::new()
            }
        };
        obj.insert("params".into(), Value::Array(params));

        let mut result_schema = m.result_schema(&mut generator);
        apply_transforms(&mut generator, &mut result_schema);
        obj.insert(
            "result".into(),
            json!({"name": "result", "schema": result_schema.to_value()}),
        );
        if !m.errors().is_empty() {
            obj.insert(
                "errors".into(),
                serde_json::to_value(m.errors()).unwrap_or_else(|_| json!([])),
            );
        }
        if m.deprecated() {
            obj.insert("deprecated".into(), Value::Bool(true));
        }
        methods.push(Value::Object(obj));
    }

    let info = registry.info();
    let mut info_obj = Map::new();
    info_obj.insert("title".into(), Value::String(info.title.clone()));
    info_obj.insert("version".into(), Value::String(info.version.clone()));
    insert_opt(&mut info_obj, "description", info.description.as_deref());

    let mut doc = Map::new();
    doc.insert("openrpc".into(), Value::String(OPENRPC_VERSION.into()));
    doc.insert("info".into(), Value::Object(info_obj));
    doc.insert("methods".into(), Value::Array(methods));
    let definitions = generator.take_definitions(true);
    if !definitions.is_empty() {
        doc.insert("components".into(), json!({ "schemas": definitions }));
    }
    Value::Object(doc)
}

fn discover_method() -> Value {
    json!({
        "name": DISCOVER_METHOD,
        "summary": "Returns the OpenRPC document describing this service",
        "description": "Service discovery as the OpenRPC specification defines it. Takes no params (absent, `[]` or `{}`).",
        "params": [],
        "result": {
            "name": "OpenRPC Schema",
            "schema": { "$ref": META_SCHEMA_URL }
        }
    })
}
