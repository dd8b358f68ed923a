//! Params are read strictly, at any depth: a key given twice and a key the method's schema does
//! not declare are refused (-32602 naming the key's path) before the handler runs. serde alone
//! would keep the last of two values and drop an unknown key inside a nested struct silently,
//! so a misspelt optional setting (`"grup_by"`) would be ignored instead of reported.
//!
//! Paths read like the rest of the API's params paths: `query.window.start`, `cis[0]`, `.` for
//! the params as a whole.

use crate::registry::ParamsProblem;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;

/// `parent.key`, or `key` at the top.
fn key_path(parent: &str, key: &str) -> String {
    if parent == "." {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// `parent[i]`, or `[i]` at the top.
fn index_path(parent: &str, index: usize) -> String {
    if parent == "." {
        format!("[{index}]")
    } else {
        format!("{parent}[{index}]")
    }
}

/// The first key that appears twice in one object of `text` (a JSON value), with its path.
/// Text that is not JSON is left to the decoder to report.
pub(crate) fn duplicate_key(text: &str) -> Option<ParamsProblem> {
    let found = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_str(text);
    let _ = Node {
        path: ".".into(),
        found: &found,
    }
    .deserialize(&mut de);
    found.into_inner()
}

/// One JSON value at `path`, read for its keys only.
struct Node<'f> {
    path: String,
    found: &'f RefCell<Option<ParamsProblem>>,
}

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        while seq
            .next_element_seed(Node {
                path: index_path(&self.path, index),
                found: self.found,
            })?
            .is_some()
        {
            index += 1;
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = key_path(&self.path, &key);
            if !seen.insert(key.clone()) {
                *self.found.borrow_mut() = Some(ParamsProblem {
                    path,
                    reason: format!("duplicate field `{key}`: each key may appear once"),
                });
                return Err(de::Error::custom("duplicate key"));
            }
            map.next_value_seed(Node {
                path,
                found: self.found,
            })?;
        }
        Ok(())
    }
}

/// A method's params schema with its definitions (`components.schemas`), for
/// [`unknown_key`].
#[derive(Debug, Clone)]
pub(crate) struct Shape {
    root: Value,
}

impl Shape {
    /// The schema `params_schema` (an object schema) with `definitions` under
    /// `components.schemas`, where its `$ref`s point.
    pub(crate) fn new(params_schema: Value, definitions: Map<String, Value>) -> Self {
        let mut root = params_schema;
        if let Some(map) = root.as_object_mut() {
            map.insert(
                "components".into(),
                serde_json::json!({ "schemas": definitions }),
            );
        }
        Shape { root }
    }

    /// The first key in `params` that the schema does not declare where it sits, with its
    /// path and the keys allowed there. `top_checked`: the params' own keys were checked
    /// already (against the fields and their aliases), so only nested values are walked.
    pub(crate) fn unknown_key(&self, params: &Value, top_checked: bool) -> Option<ParamsProblem> {
        if top_checked {
            let mut keys = Vec::new();
            expand(&self.root, params, &self.root, &mut keys, 0);
            walk_open(params, &keys, &self.root, ".", 0)
        } else {
            walk(params, &[&self.root], &self.root, ".", 0)
        }
    }
}

/// Schemas nest at most this deep (recursive types end here, unchecked below).
const MAX_DEPTH: usize = 48;

/// What one schema says about the keys of an object.
enum Keys<'s> {
    /// Any key (a free-form value, a map without a value schema).
    Open,
    /// The declared properties, plus, when `additional` is a schema, any other key whose value
    /// is checked against it.
    Declared {
        properties: Option<&'s Map<String, Value>>,
        additional: Option<&'s Value>,
    },
}

fn walk(
    value: &Value,
    schemas: &[&Value],
    root: &Value,
    path: &str,
    depth: usize,
) -> Option<ParamsProblem> {
    if depth > MAX_DEPTH || schemas.is_empty() {
        return None;
    }
    let mut keys = Vec::new();
    for schema in schemas {
        expand(schema, value, root, &mut keys, depth);
    }
    if keys.iter().any(|k| matches!(k, Keys::Open)) && !matches!(value, Value::Array(_)) {
        // Still walk nested values that some schema declares.
        return walk_open(value, &keys, root, path, depth);
    }
    match value {
        // No schema here takes an object: the type check reports it better than its keys.
        Value::Object(_) if keys.is_empty() => None,
        Value::Object(object) => {
            for (key, inner) in object {
                let subs = sub_schemas(&keys, key);
                let child = key_path(path, key);
                if subs.is_empty() {
                    return Some(ParamsProblem {
                        reason: format!("unknown field `{key}`, {}", expected(&keys)),
                        path: child,
                    });
                }
                if let Some(problem) = walk(inner, &subs, root, &child, depth + 1) {
                    return Some(problem);
                }
            }
            None
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let subs: Vec<&Value> = schemas
                    .iter()
                    .flat_map(|s| item_schemas(s, root, i, depth))
                    .collect();
                if let Some(problem) = walk(item, &subs, root, &index_path(path, i), depth + 1) {
                    return Some(problem);
                }
            }
            None
        }
        _ => None,
    }
}

/// An object some schema leaves open: its declared keys are still checked inside.
fn walk_open(
    value: &Value,
    keys: &[Keys<'_>],
    root: &Value,
    path: &str,
    depth: usize,
) -> Option<ParamsProblem> {
    let Value::Object(object) = value else {
        return None;
    };
    for (key, inner) in object {
        let subs = sub_schemas(keys, key);
        if subs.is_empty() {
            continue;
        }
        if let Some(problem) = walk(inner, &subs, root, &key_path(path, key), depth + 1) {
            return Some(problem);
        }
    }
    None
}

/// The schemas a key's value must meet, by every schema that declares it.
fn sub_schemas<'s>(keys: &[Keys<'s>], key: &str) -> Vec<&'s Value> {
    let mut out = Vec::new();
    for k in keys {
        if let Keys::Declared {
            properties,
            additional,
        } = k
        {
            match properties.and_then(|p| p.get(key)) {
                Some(schema) => out.push(schema),
                None => out.extend(*additional),
            }
        }
    }
    out
}

/// "expected one of `a`, `b`", the keys allowed where an unknown key was found.
fn expected(keys: &[Keys<'_>]) -> String {
    let mut names: Vec<&str> = Vec::new();
    for k in keys {
        if let Keys::Declared {
            properties: Some(p),
            ..
        } = k
        {
            for name in p.keys() {
                if !names.contains(&name.as_str()) {
                    names.push(name);
                }
            }
        }
    }
    if names.is_empty() {
        "no fields are allowed here".to_owned()
    } else {
        let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
        format!("expected one of {}", quoted.join(", "))
    }
}

/// Resolves `$ref`s and composition (`allOf` always; of `anyOf`/`oneOf`, the branches whose
/// type and tag constants fit `value`) into what each applicable schema says about keys.
fn expand<'s>(
    schema: &'s Value,
    value: &Value,
    root: &'s Value,
    out: &mut Vec<Keys<'s>>,
    depth: usize,
) {
    if depth > MAX_DEPTH {
        out.push(Keys::Open);
        return;
    }
    let map = match schema {
        Value::Object(map) => map,
        Value::Bool(true) => return out.push(Keys::Open),
        _ => return,
    };
    let mut composed = false;
    if let Some(reference) = map.get("$ref").and_then(Value::as_str) {
        composed = true;
        match reference.strip_prefix('#').and_then(|p| root.pointer(p)) {
            Some(target) => expand(target, value, root, out, depth + 1),
            // A reference outside the document: nothing known, nothing refused.
            None => out.push(Keys::Open),
        }
    }
    if let Some(Value::Array(branches)) = map.get("allOf") {
        composed = true;
        for branch in branches {
            expand(branch, value, root, out, depth + 1);
        }
    }
    for keyword in ["anyOf", "oneOf"] {
        if let Some(Value::Array(branches)) = map.get(keyword) {
            composed = true;
            let fitting: Vec<&Value> = branches
                .iter()
                .filter(|b| fits(b, value, root, depth))
                .collect();
            if fitting.is_empty() {
                // The validator or the decoder reports the mismatch itself.
                out.push(Keys::Open);
            }
            for branch in fitting {
                expand(branch, value, root, out, depth + 1);
            }
        }
    }
    let properties = map.get("properties").and_then(Value::as_object);
    let additional = match map.get("additionalProperties") {
        Some(Value::Bool(false)) | None => None,
        Some(Value::Bool(true)) => return out.push(Keys::Open),
        Some(other) => Some(other),
    };
    if properties.is_some() || additional.is_some() {
        out.push(Keys::Declared {
            properties,
            additional,
        });
    } else if !composed && declares_objects(map) {
        out.push(Keys::Open);
    }
}

/// Whether a schema without `properties` admits objects (no `type`, or `object` among them).
fn declares_objects(map: &Map<String, Value>) -> bool {
    match map.get("type") {
        None => true,
        Some(Value::String(t)) => t == "object",
        Some(Value::Array(ts)) => ts.iter().any(|t| t == "object"),
        Some(_) => false,
    }
}

/// Whether a branch of a union could be the one `value` means: its `type` admits the value and
/// none of its constant properties (a tag such as `"kind": "awaiting_problem"`) contradicts it.
fn fits(branch: &Value, value: &Value, root: &Value, depth: usize) -> bool {
    if depth > MAX_DEPTH {
        return true;
    }
    let Some(map) = branch.as_object() else {
        return true;
    };
    if let Some(target) = map
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix('#'))
        .and_then(|p| root.pointer(p))
        && !fits(target, value, root, depth + 1)
    {
        return false;
    }
    if let Some(types) = map.get("type")
        && !type_admits(types, value)
    {
        return false;
    }
    if let (Some(Value::Object(properties)), Value::Object(object)) = (map.get("properties"), value)
    {
        for (key, schema) in properties {
            if let (Some(constant), Some(given)) = (constant_of(schema), object.get(key))
                && constant != given
            {
                return false;
            }
        }
    }
    true
}

/// The one value a schema allows (`const`, or an `enum` of one).
fn constant_of(schema: &Value) -> Option<&Value> {
    schema.get("const").or_else(|| match schema.get("enum") {
        Some(Value::Array(values)) if values.len() == 1 => values.first(),
        _ => None,
    })
}

fn type_admits(types: &Value, value: &Value) -> bool {
    let admits = |t: &str| match (t, value) {
        ("object", Value::Object(_))
        | ("array", Value::Array(_))
        | ("string", Value::String(_))
        | ("boolean", Value::Bool(_))
        | ("null", Value::Null)
        | ("number", Value::Number(_)) => true,
        ("integer", Value::Number(n)) => n.is_i64() || n.is_u64(),
        _ => false,
    };
    match types {
        Value::String(t) => admits(t),
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).any(admits),
        _ => true,
    }
}

/// The schemas the `index`-th element of an array meets under `schema`.
fn item_schemas<'s>(
    schema: &'s Value,
    root: &'s Value,
    index: usize,
    depth: usize,
) -> Vec<&'s Value> {
    if depth > MAX_DEPTH {
        return Vec::new();
    }
    let Some(map) = schema.as_object() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(target) = map
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix('#'))
        .and_then(|p| root.pointer(p))
    {
        out.extend(item_schemas(target, root, index, depth + 1));
    }
    for keyword in ["allOf", "anyOf", "oneOf"] {
        if let Some(Value::Array(branches)) = map.get(keyword) {
            for branch in branches {
                out.extend(item_schemas(branch, root, index, depth + 1));
            }
        }
    }
    match map.get("items") {
        Some(Value::Array(tuple)) => out.extend(tuple.get(index)),
        Some(items) => out.push(items),
        None => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn shape(schema: Value, definitions: Value) -> Shape {
        let Value::Object(definitions) = definitions else {
            panic!("definitions are an object")
        };
        Shape::new(schema, definitions)
    }

    #[test]
    fn duplicates_are_found_at_any_depth_with_their_path() {
        assert_eq!(duplicate_key(r#"{"a":1,"b":{"c":[{"d":1}]}}"#), None);
        let p = duplicate_key(r#"{"a":1,"b":{"c":[{"d":1},{"d":1,"d":2}]}}"#).unwrap();
        assert_eq!(p.path, "b.c[1].d");
        assert!(p.reason.contains("duplicate field `d`"), "{}", p.reason);
        assert_eq!(duplicate_key(r#"{"a":1,"a":1}"#).unwrap().path, "a");
        assert_eq!(duplicate_key(r#"[{"x":1,"x":2}]"#).unwrap().path, "[0].x");
        // The same key in sibling objects is no duplicate.
        assert_eq!(duplicate_key(r#"[{"x":1},{"x":2}]"#), None);
        assert_eq!(duplicate_key("not json"), None);
    }

    #[test]
    fn unknown_keys_are_found_through_refs_options_and_tagged_unions() {
        let s = shape(
            json!({
                "type": "object",
                "properties": {
                    "window": {"$ref": "#/components/schemas/Window"},
                    "reason": {"anyOf": [{"$ref": "#/components/schemas/Reason"}, {"type": "null"}]},
                    "labels": {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/Window"}},
                    "free": {},
                    "list": {"type": "array", "items": {"$ref": "#/components/schemas/Window"}}
                }
            }),
            json!({
                "Window": {"type": "object", "properties": {"start": {"type": "string"}, "end": {"type": "string"}}},
                "Reason": {"oneOf": [
                    {"type": "object", "properties": {"kind": {"const": "caller"}}},
                    {"type": "object", "properties": {"kind": {"const": "problem"}, "problem": {"type": "string"}}}
                ]}
            }),
        );
        let ok = json!({
            "window": {"start": "a", "end": "b"},
            "reason": {"kind": "problem", "problem": "x"},
            "labels": {"anything": {"start": "a"}},
            "free": {"whatever": {"nested": 1}},
            "list": [{"start": "a"}]
        });
        assert_eq!(s.unknown_key(&ok, false), None);
        // Top-level keys checked elsewhere are skipped; nested ones still count.
        assert_eq!(s.unknown_key(&json!({"alias": 1}), true), None);
        assert_eq!(
            s.unknown_key(&json!({"alias": 1, "window": {"x": 1}}), true)
                .unwrap()
                .path,
            "window.x"
        );
        let problem = |v: Value| s.unknown_key(&v, false).map(|p| (p.path, p.reason));
        let (path, reason) = problem(json!({"window": {"start": "a", "stat": "b"}})).unwrap();
        assert_eq!(path, "window.stat");
        assert_eq!(
            reason,
            "unknown field `stat`, expected one of `end`, `start`"
        );
        // A key of another variant of a tagged union is unknown in this one.
        let (path, _) = problem(json!({"reason": {"kind": "caller", "problem": "x"}})).unwrap();
        assert_eq!(path, "reason.problem");
        assert_eq!(problem(json!({"reason": null})), None);
        assert_eq!(
            problem(json!({"labels": {"k": {"start": "a", "x": 1}}}))
                .unwrap()
                .0,
            "labels.k.x"
        );
        assert_eq!(
            problem(json!({"list": [{}, {"y": 1}]})).unwrap().0,
            "list[1].y"
        );
        assert_eq!(problem(json!({"nope": 1})).unwrap().0, "nope");
        // An object where a string goes is a type error, left to the decoder.
        assert_eq!(problem(json!({"window": {"start": {"x": 1}}})), None);
    }
}
