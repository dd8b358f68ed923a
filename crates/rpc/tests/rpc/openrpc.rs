//! `rpc.discover`: the generated OpenRPC document, validated against the vendored OpenRPC
//! meta-schema (npm `@open-rpc/meta-schema` 1.14.9, which refers to
//! `@json-schema-tools/meta-schema` 1.8.0 for its JSON Schema definitions; both Apache-2.0).

use crate::common::dispatcher;
use opsledger_rpc::Dispatcher;
use opsledger_rpc::openrpc::{META_SCHEMA_URL, OPENRPC_VERSION};
use opsledger_rpc::testing::spec_registry;
use serde_json::{Value, json};

const OPENRPC_META_SCHEMA: &str = include_str!("../fixtures/openrpc-meta-schema.json");
const JSON_SCHEMA_TOOLS_META_SCHEMA: &str =
    include_str!("../fixtures/json-schema-tools-meta-schema.json");

/// Serves the json-schema-tools meta-schema (the OpenRPC meta-schema's `JSONSchema`) from the
/// vendored copy; nothing is fetched.
struct Vendored;

impl jsonschema::Retrieve for Vendored {
    fn retrieve(
        &self,
        uri: &jsonschema::Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        if uri.as_str().trim_end_matches('/') == "https://meta.json-schema.tools" {
            Ok(without_schema_keyword(JSON_SCHEMA_TOOLS_META_SCHEMA))
        } else {
            Err(format!("not vendored: {}", uri.as_str()).into())
        }
    }
}

/// Both meta-schemas name the json-schema-tools dialect in `$schema`, which is draft-07
/// compatible; validators do not know its URI, so the keyword is dropped and draft-07 is set.
fn without_schema_keyword(text: &str) -> Value {
    let mut v: Value = serde_json::from_str(text).unwrap();
    v.as_object_mut().unwrap().remove("$schema");
    v
}

fn meta_schema_errors(document: &Value) -> Vec<String> {
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft7)
        .with_retriever(Vendored)
        .build(&without_schema_keyword(OPENRPC_META_SCHEMA))
        .expect("the OpenRPC meta-schema compiles");
    validator
        .iter_errors(document)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

fn refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                out.push(r.clone());
            }
            map.values().for_each(|v| refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[test]
fn the_generated_document_validates_against_the_openrpc_meta_schema() {
    for d in [dispatcher(), Dispatcher::new(spec_registry())] {
        let doc = d.openrpc_document();
        let errors = meta_schema_errors(&doc);
        assert!(errors.is_empty(), "{}\n{doc:#}", errors.join("\n"));
    }
}

#[test]
fn the_meta_schema_check_does_reject_broken_documents() {
    let mut doc = dispatcher().openrpc_document();
    doc.as_object_mut().unwrap().remove("info");
    assert!(!meta_schema_errors(&doc).is_empty());
    let mut doc = dispatcher().openrpc_document();
    doc["methods"][1]["paramStructure"] = json!("sideways");
    assert!(!meta_schema_errors(&doc).is_empty());
    let mut doc = dispatcher().openrpc_document();
    doc["openrpc"] = json!("9.9.9");
    assert!(!meta_schema_errors(&doc).is_empty());
}

#[test]
fn document_shape() {
    let d = dispatcher();
    let doc = d.openrpc_document();
    assert_eq!(doc["openrpc"], OPENRPC_VERSION);
    assert_eq!(
        doc["info"],
        json!({"title": "opsledger-rpc test API", "version": "0.0.1",
               "description": "Fixture methods for the opsledger-rpc tests"})
    );
    let methods = doc["methods"].as_array().unwrap();
    let names: Vec<&str> = methods
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names[0], "rpc.discover");
    assert_eq!(names[1..], d.registry().names().collect::<Vec<_>>()[..]);
    assert_eq!(methods[0]["result"]["schema"]["$ref"], META_SCHEMA_URL);

    let subtract = methods.iter().find(|m| m["name"] == "subtract").unwrap();
    assert_eq!(subtract["paramStructure"], "either");
    assert_eq!(
        subtract["params"],
        json!([
            {"name": "minuend", "required": true, "description": "The number to subtract from.",
             "schema": {"type": "integer", "format": "int64", "description": "The number to subtract from."}},
            {"name": "subtrahend", "required": true, "description": "The number to subtract.",
             "schema": {"type": "integer", "format": "int64", "description": "The number to subtract."}}
        ])
    );
    assert_eq!(
        subtract["result"],
        json!({"name": "result", "schema": {"type": "integer", "format": "int64"}})
    );

    let defaults = methods.iter().find(|m| m["name"] == "defaults").unwrap();
    assert_eq!(defaults["params"][0]["required"], true);
    assert_eq!(defaults["params"][1]["required"], false);
    let strict = methods.iter().find(|m| m["name"] == "strict").unwrap();
    assert_eq!(strict["paramStructure"], "by-name");

    let sum = methods.iter().find(|m| m["name"] == "sum").unwrap();
    assert_eq!(sum["params"], json!([]));
    assert_eq!(sum["x-params-schema"]["type"], "array");

    let fail = methods.iter().find(|m| m["name"] == "fail.domain").unwrap();
    assert_eq!(
        fail["errors"],
        json!([{"code": -32001, "message": "Not allowed in this state"}])
    );
}

#[test]
fn definitions_live_under_components_and_every_ref_resolves() {
    let doc = dispatcher().openrpc_document();
    let schemas = doc["components"]["schemas"]
        .as_object()
        .expect("components.schemas");
    for name in ["Outer", "Item", "Identity"] {
        assert!(
            schemas.contains_key(name),
            "{name} in {:?}",
            schemas.keys().collect::<Vec<_>>()
        );
    }
    let nested = doc["methods"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "nested")
        .unwrap();
    // draft-07 ignores siblings of `$ref`, so a documented field wraps the reference in `allOf`.
    assert_eq!(
        nested["params"][0]["schema"],
        json!({"allOf": [{"$ref": "#/components/schemas/Outer"}], "description": "A nested object."})
    );
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(all.len() > 3);
    for r in all {
        if r == META_SCHEMA_URL {
            continue;
        }
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("$ref outside components: {r}"));
        assert!(schemas.contains_key(name), "dangling $ref {r}");
    }
    assert!(
        !doc.to_string().contains("\"$schema\""),
        "no $schema keywords inside"
    );
    assert!(
        !doc.to_string().contains("$defs"),
        "draft-07 definitions, not $defs"
    );
}

#[test]
fn discover_returns_the_same_document_every_time() {
    let d = dispatcher();
    let reply = d
        .handle(r#"{"jsonrpc":"2.0","method":"rpc.discover","id":1}"#)
        .unwrap();
    let v: Value = serde_json::from_str(&reply).unwrap();
    assert_eq!(v["result"], d.openrpc_document());
    assert_eq!(
        dispatcher().openrpc_document(),
        d.openrpc_document(),
        "deterministic"
    );
}

/// The engine API's document (`opsledger_rpc::api`), as `rpc.discover` returns it.
fn api_document() -> Value {
    let engine = std::sync::Arc::new(
        opsledger::Engine::in_memory(opsledger::EngineConfig::default()).expect("engine"),
    );
    opsledger_rpc::api::dispatcher(engine, opsledger_rpc::Limits::default()).openrpc_document()
}

#[test]
fn the_engine_api_document_validates_and_its_refs_resolve() {
    let doc = api_document();
    let errors = meta_schema_errors(&doc);
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    let schemas = doc["components"]["schemas"]
        .as_object()
        .expect("components");
    let mut all = Vec::new();
    refs(&doc, &mut all);
    for r in all {
        if r == META_SCHEMA_URL {
            continue;
        }
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("$ref outside components: {r}"));
        assert!(schemas.contains_key(name), "dangling $ref {r}");
    }
    let names: Vec<&str> = doc["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    // rpc.discover first (as for every registry), then the API's methods in name order.
    assert_eq!(names[0], "rpc.discover");
    let mut sorted = names[1..].to_vec();
    sorted.sort_unstable();
    assert_eq!(names[1..], sorted[..], "method names are sorted");
    for m in doc["methods"].as_array().unwrap() {
        assert!(
            m["summary"].as_str().is_some_and(|s| !s.is_empty()),
            "{}",
            m["name"]
        );
        if m["name"] != "rpc.discover" {
            assert!(
                m["description"].as_str().is_some_and(|s| !s.is_empty()),
                "{}",
                m["name"]
            );
        }
    }
}

/// `docs/openrpc.json` is the engine API's document; regenerate it with
/// `OPSLEDGER_BLESS=1 cargo test -p opsledger-rpc --test rpc openrpc`.
#[test]
fn committed_openrpc_json_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openrpc.json");
    let text = format!(
        "{}\n",
        serde_json::to_string_pretty(&api_document()).unwrap()
    );
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    if current != text {
        if std::env::var_os("OPSLEDGER_BLESS").is_some() {
            std::fs::write(&path, &text).expect("write docs/openrpc.json");
        } else {
            panic!(
                "docs/openrpc.json is stale: run `OPSLEDGER_BLESS=1 cargo test -p opsledger-rpc --test rpc openrpc`"
            );
        }
    }
}
