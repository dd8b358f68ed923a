//! Calls of the real methods, built from the OpenRPC document: each method's params schema
//! gives a value (records named by the numbers and ids the run has seen, instants around the
//! engine's clock, actors with real roles), which is then often mutated (a key dropped or
//! added at any depth, a value of the wrong type, a near-miss enum, a key given twice, params
//! by position, a misspelt method).

use opsledger::Uuid;
use proptest::prelude::RngExt;
use proptest::test_runner::TestRng;
use serde_json::{Map, Value, json};

/// Methods the fuzzer leaves out, and why: `admin.backup` writes a copy wherever `to` points
/// on the file system.
const LEFT_OUT: [&str; 1] = ["admin.backup"];

/// One method as the OpenRPC document describes it.
pub struct MethodSpec {
    pub name: String,
    params: Vec<(String, bool, Value)>,
}

/// What the run knows: the methods, the schemas, the records created so far.
pub struct Generator {
    pub methods: Vec<MethodSpec>,
    schemas: Value,
    /// Records seen in results: (kind, id, number).
    records: Vec<(String, String, String)>,
    /// The instant instants are drawn around.
    pub now: chrono::DateTime<chrono::Utc>,
}

const WORDS: [&str; 14] = [
    "vpn-gw-02",
    "network",
    "remote-access",
    "db-1",
    "eve.network",
    "Checkout fails",
    "",
    " ",
    "ü ñ 漢字",
    "INC0000001",
    "PRB0000001",
    "CHG0000001",
    "2026-05-04T09:00:00Z",
    "none",
];

const ROLE_SETS: [&[&str]; 9] = [
    &["agent"],
    &["manager"],
    &["problem_manager"],
    &["change_manager"],
    &["cab_member"],
    &["admin"],
    &["requester"],
    &["caller"],
    &["agent", "manager"],
];

const ACTORS: [&str; 5] = [
    "sam.desk",
    "eve.network",
    "pat.problems",
    "chris.changes",
    "carol",
];

impl Generator {
    pub fn new(openrpc: &Value, now: chrono::DateTime<chrono::Utc>) -> Generator {
        let methods = openrpc["methods"]
            .as_array()
            .expect("methods")
            .iter()
            .filter_map(|m| {
                let name = m["name"].as_str()?.to_owned();
                if name.starts_with("rpc.") || LEFT_OUT.contains(&name.as_str()) {
                    return None;
                }
                let params = m["params"]
                    .as_array()?
                    .iter()
                    .map(|p| {
                        (
                            p["name"].as_str().unwrap_or_default().to_owned(),
                            p["required"].as_bool().unwrap_or(false),
                            p["schema"].clone(),
                        )
                    })
                    .collect();
                Some(MethodSpec { name, params })
            })
            .collect();
        Generator {
            methods,
            schemas: openrpc["components"]["schemas"].clone(),
            records: Vec::new(),
            now,
        }
    }

    /// Remembers the record a command's result names.
    pub fn learn(&mut self, result: &Value) {
        if let (Some(kind), Some(id), Some(number)) = (
            result["record"]["kind"].as_str(),
            result["record"]["id"].as_str(),
            result["number"].as_str(),
        ) && !self.records.iter().any(|r| r.1 == id)
        {
            self.records
                .push((kind.to_owned(), id.to_owned(), number.to_owned()));
        }
    }

    /// A request for a random method: (method, params), params mutated now and then.
    pub fn call(&self, rng: &mut TestRng) -> (String, Value) {
        let spec = &self.methods[rng.random_range(0..self.methods.len())];
        let mut params = Map::new();
        for (name, required, schema) in &spec.params {
            // Most calls name an actor: without one, nearly every call stops at the identity.
            // A pinned version mostly conflicts: now and then.
            let keep = match name.as_str() {
                "actor" => 0.9,
                "expected_version" => 0.1,
                _ => 0.5,
            };
            if !required && !rng.random_bool(keep) {
                continue;
            }
            let value = if name == "actor" {
                self.actor(rng)
            } else {
                self.value(schema, rng, 0)
            };
            params.insert(name.clone(), value);
        }
        let mut params = Value::Object(params);
        let mut method = spec.name.clone();
        if rng.random_bool(0.3) {
            mutate(&mut params, rng);
        }
        if rng.random_bool(0.02) {
            method = misspell(&method, rng);
        }
        (method, params)
    }

    fn actor(&self, rng: &mut TestRng) -> Value {
        let id = ACTORS[rng.random_range(0..ACTORS.len())];
        let roles = ROLE_SETS[rng.random_range(0..ROLE_SETS.len())];
        json!({"id": id, "roles": roles})
    }

    fn instant(&self, rng: &mut TestRng) -> Value {
        let minutes = rng.random_range(-3 * 24 * 60..14 * 24 * 60i64);
        json!(self.now + chrono::Duration::minutes(minutes))
    }

    fn record_id(&self, kind: &str, rng: &mut TestRng) -> Value {
        let known: Vec<&(String, String, String)> =
            self.records.iter().filter(|r| r.0 == kind).collect();
        match rng.random_range(0..10) {
            0 => json!(Uuid::from_u128(rng.random::<u128>()).to_string()),
            1 => {
                let prefix = match kind {
                    "incident" => "INC",
                    "problem" => "PRB",
                    _ => "CHG",
                };
                json!(format!("{prefix}{:07}", known.len() + 1))
            }
            _ if known.is_empty() => json!(Uuid::from_u128(rng.random::<u128>()).to_string()),
            n => {
                let r = known[rng.random_range(0..known.len())];
                json!(if n % 2 == 0 { &r.1 } else { &r.2 })
            }
        }
    }

    fn resolve<'s>(&'s self, schema: &'s Value) -> &'s Value {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let name = r.rsplit('/').next().unwrap_or_default();
                self.schemas.get(name).unwrap_or(schema)
            }
            None => schema,
        }
    }

    /// A value the schema describes (mostly valid; small; bounded depth).
    pub fn value(&self, schema: &Value, rng: &mut TestRng, depth: usize) -> Value {
        if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            let name = r.rsplit('/').next().unwrap_or_default();
            match name {
                "IncidentId" => return self.record_id("incident", rng),
                "ProblemId" => return self.record_id("problem", rng),
                "ChangeId" => return self.record_id("change", rng),
                _ => {}
            }
            let target = self.resolve(schema);
            if !std::ptr::eq(target, schema) {
                return self.value(target, rng, depth + 1);
            }
        }
        if depth > 12 {
            return Value::Null;
        }
        if let Some(c) = schema.get("const") {
            return c.clone();
        }
        if let Some(Value::Array(options)) = schema.get("enum")
            && !options.is_empty()
        {
            return options[rng.random_range(0..options.len())].clone();
        }
        for keyword in ["oneOf", "anyOf"] {
            if let Some(Value::Array(branches)) = schema.get(keyword)
                && !branches.is_empty()
            {
                let branch = &branches[rng.random_range(0..branches.len())];
                return self.value(branch, rng, depth + 1);
            }
        }
        if let Some(Value::Array(parts)) = schema.get("allOf") {
            let mut merged = Map::new();
            let mut last = Value::Null;
            for part in parts {
                match self.value(part, rng, depth + 1) {
                    Value::Object(o) => merged.extend(o),
                    other => last = other,
                }
            }
            return if merged.is_empty() {
                last
            } else {
                Value::Object(merged)
            };
        }
        let ty = match schema.get("type") {
            Some(Value::String(t)) => t.clone(),
            Some(Value::Array(ts)) => {
                let ts: Vec<&str> = ts.iter().filter_map(Value::as_str).collect();
                // Prefer the non-null type of an optional value.
                ts.iter()
                    .find(|t| **t != "null" || rng.random_bool(0.1))
                    .unwrap_or(&"null")
                    .to_string()
            }
            _ if schema.get("properties").is_some() => "object".into(),
            _ => return json!({}),
        };
        match ty.as_str() {
            "null" => Value::Null,
            "boolean" => json!(rng.random_bool(0.5)),
            "integer" => {
                let min = schema.get("minimum").and_then(Value::as_i64).unwrap_or(-5);
                let picks = [min, min + 1, 0, 1, 2, 3, 7, 50, 1000];
                json!(picks[rng.random_range(0..picks.len())].max(min))
            }
            "number" => json!([0.0, 0.5, 1.0, 50.0, 99.9][rng.random_range(0..5)]),
            "string" => match schema.get("format").and_then(Value::as_str) {
                Some("date-time") => self.instant(rng),
                Some("uuid") => json!(Uuid::from_u128(rng.random::<u128>()).to_string()),
                _ => match schema.get("pattern").and_then(Value::as_str) {
                    Some(p) if p.contains("INC|PRB|CHG") => self.record_id("incident", rng),
                    _ => json!(WORDS[rng.random_range(0..WORDS.len())]),
                },
            },
            "array" => {
                let n = rng.random_range(0..3);
                let items = schema.get("items").cloned().unwrap_or(json!({}));
                Value::Array((0..n).map(|_| self.value(&items, rng, depth + 1)).collect())
            }
            _ => self.object(schema, rng, depth),
        }
    }

    fn object(&self, schema: &Value, rng: &mut TestRng, depth: usize) -> Value {
        let mut out = Map::new();
        let required: Vec<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if let Some(Value::Object(properties)) = schema.get("properties") {
            for (name, sub) in properties {
                if required.contains(&name.as_str()) || rng.random_bool(0.4) {
                    out.insert(name.clone(), self.value(sub, rng, depth + 1));
                }
            }
        }
        if let Some(additional @ Value::Object(_)) = schema.get("additionalProperties")
            && rng.random_bool(0.3)
        {
            out.insert(
                WORDS[rng.random_range(0..4)].to_owned(),
                self.value(additional, rng, depth + 1),
            );
        }
        Value::Object(out)
    }
}

/// A random path to a value inside `v` (objects and arrays), possibly empty (the root).
fn pick_path(v: &Value, rng: &mut TestRng) -> Vec<PathStep> {
    let mut path = Vec::new();
    let mut cur = v;
    loop {
        let next = match cur {
            Value::Object(m) if !m.is_empty() && rng.random_bool(0.6) => {
                let k = m.keys().nth(rng.random_range(0..m.len())).cloned();
                k.map(|k| {
                    let child = &m[&k];
                    (PathStep::Key(k), child)
                })
            }
            Value::Array(a) if !a.is_empty() && rng.random_bool(0.6) => {
                let i = rng.random_range(0..a.len());
                Some((PathStep::Index(i), &a[i]))
            }
            _ => None,
        };
        match next {
            Some((step, child)) => {
                path.push(step);
                cur = child;
            }
            None => return path,
        }
    }
}

enum PathStep {
    Key(String),
    Index(usize),
}

fn at_mut<'v>(v: &'v mut Value, path: &[PathStep]) -> &'v mut Value {
    let mut cur = v;
    for step in path {
        cur = match (step, cur) {
            (PathStep::Key(k), Value::Object(m)) => m.get_mut(k).expect("picked key"),
            (PathStep::Index(i), Value::Array(a)) => &mut a[*i],
            _ => unreachable!("paths follow the value"),
        };
    }
    cur
}

/// The key the duplicate mutation plants, replaced in the text by an existing key.
pub const DUPLICATE_MARK: &str = "__fuzz_duplicate__";

/// One mutation somewhere in `params`.
pub fn mutate(params: &mut Value, rng: &mut TestRng) {
    let path = pick_path(params, rng);
    let target = at_mut(params, &path);
    match rng.random_range(0..8) {
        // Drop a key.
        0 => {
            if let Value::Object(m) = target
                && let Some(k) = m.keys().next().cloned()
            {
                m.remove(&k);
            }
        }
        // An unknown key.
        1 => {
            if let Value::Object(m) = target {
                m.insert("colour".into(), json!("blue"));
            } else {
                *target = json!({"colour": "blue"});
            }
        }
        // A value of another type.
        2 => {
            let others = [
                Value::Null,
                json!(42),
                json!(-1),
                json!(1e300),
                json!(u64::MAX),
                json!("x"),
                json!([]),
                json!({}),
                json!(true),
            ];
            *target = others[rng.random_range(0..others.len())].clone();
        }
        // A near-miss string (an enum's neighbour, a number's).
        3 => {
            if let Value::String(s) = target {
                match rng.random_range(0..3) {
                    0 => s.push('x'),
                    1 => *s = s.to_uppercase(),
                    _ => {
                        s.pop();
                    }
                }
            }
        }
        // A key given twice (see DUPLICATE_MARK).
        4 => {
            if let Value::Object(m) = target
                && !m.is_empty()
            {
                m.insert(DUPLICATE_MARK.into(), json!("second"));
            }
        }
        // A long string.
        5 => *target = json!("a".repeat(rng.random_range(100..5000))),
        // Deep nesting.
        6 => {
            let mut v = json!(1);
            for _ in 0..rng.random_range(1..40) {
                v = json!([v]);
            }
            *target = v;
        }
        // Params by position.
        _ => {
            if path.is_empty()
                && let Value::Object(m) = target
            {
                *target = Value::Array(m.values().cloned().collect());
            }
        }
    }
}

/// The request text; a planted duplicate becomes a second copy of a key of its object.
pub fn request_text(id: u64, method: &str, params: &Value) -> String {
    let text = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string();
    let mark = format!("\"{DUPLICATE_MARK}\":");
    let Some(at) = text.find(&mark) else {
        return text;
    };
    // Keys come out sorted and the mark sorts before lowercase keys: the object reads
    // `{"__fuzz_duplicate__":"second","key":...}`, and the mark becomes that next key.
    let rest = &text[at + mark.len()..];
    let next_key = rest
        .strip_prefix("\"second\",")
        .and_then(|r| r.split(':').next())
        .filter(|k| k.starts_with('"') && k.ends_with('"') && k.len() > 2)
        .unwrap_or("\"id\"");
    format!("{}{}:{}", &text[..at], next_key, rest)
}

fn misspell(method: &str, rng: &mut TestRng) -> String {
    let mut chars: Vec<char> = method.chars().collect();
    if chars.len() > 2 {
        let i = rng.random_range(0..chars.len() - 1);
        chars.swap(i, i + 1);
    }
    chars.into_iter().collect()
}

/// Raw bytes around a valid request: a byte flipped, a cut, invalid UTF-8.
pub fn garble(text: &str, rng: &mut TestRng) -> Vec<u8> {
    let mut bytes = text.as_bytes().to_vec();
    match rng.random_range(0..3) {
        0 if !bytes.is_empty() => {
            let i = rng.random_range(0..bytes.len());
            bytes[i] ^= 1 << rng.random_range(0..8);
        }
        1 => bytes.truncate(rng.random_range(0..=bytes.len())),
        _ => {
            let i = rng.random_range(0..=bytes.len());
            bytes.insert(i, 0xff);
        }
    }
    bytes
}
