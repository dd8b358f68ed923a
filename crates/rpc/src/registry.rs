//! The seam between the protocol and whatever serves the calls: a [`MethodRegistry`] of named
//! [`Method`]s, each a typed handler `Fn(&CallContext, Params) -> Result<Result_, MethodError>`.
//!
//! Params types are `serde::Deserialize + schemars::JsonSchema`; result types are
//! `serde::Serialize + schemars::JsonSchema`. The same types give the OpenRPC document
//! (`rpc.discover`) and decode the params, so what the document says is what the server checks.
//!
//! # Params: by name and by position
//!
//! A params type that is a struct with named fields (what `#[derive(Deserialize)]` makes of
//! `struct P { a: A, b: B }`, also through `#[serde(transparent)]`, `from`/`try_from` and
//! newtype wrappers) is a *named* method:
//! - by-name params (an object) are decoded as the struct; keys that are not fields are refused
//!   with -32602 (unless [`Method::lenient_params`]), so a misspelt optional field is not
//!   silently dropped, and so are keys nested values' schemas do not declare, at any depth
//!   (also for raw methods), and any key given twice in one object (`data.path` names it);
//! - by-position params (an array) are mapped onto the fields **in declaration order** (the order
//!   serde reports, which is also the order of the OpenRPC content descriptors), then decoded
//!   exactly like by-name params; more elements than fields is -32602; missing trailing elements
//!   are missing fields (so `#[serde(default)]` applies). [`Method::by_name_only`] refuses
//!   arrays instead;
//! - absent params are decoded as `{}`.
//!
//! Any other params type (a `Vec`, a tuple, an enum, a struct using `#[serde(flatten)]`...) is a
//! *raw* method: the params value (object or array) is handed to serde as it is, and absent
//! params are decoded from `null`. Such methods are described in OpenRPC with an empty `params`
//! list and the whole schema under `x-params-schema`; prefer named structs for real APIs.

use crate::context::CallContext;
use crate::error::{DomainCode, ErrorObject, MethodError};
use crate::strict::Shape;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, DeserializeOwned, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::collections::{HashMap, HashSet};
use std::fmt;

/// Params for a method that takes none: accepts absent params, `{}` and `[]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

/// How the OpenRPC document says params are passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamStructure {
    /// Only an object.
    ByName,
    /// Only an array.
    ByPosition,
    /// Either.
    Either,
}

impl ParamStructure {
    /// The OpenRPC spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ParamStructure::ByName => "by-name",
            ParamStructure::ByPosition => "by-position",
            ParamStructure::Either => "either",
        }
    }
}

/// Why a params value did not decode: the field path (`"."` for the params as a whole) and
/// serde's reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParamsProblem {
    pub path: String,
    pub reason: String,
}

/// What a type-erased call can fail with.
pub(crate) enum CallFailure {
    Params(ParamsProblem),
    Method(MethodError),
    Result(String),
}

type Invoke = dyn Fn(&CallContext, &str) -> Result<Box<RawValue>, CallFailure> + Send + Sync;
type SchemaFn = Box<dyn Fn(&mut SchemaGenerator) -> Schema + Send + Sync>;

/// One method: a name, a typed handler and its documentation. Build it, then
/// [`MethodRegistry::register`] it.
///
/// ```
/// use opsledger_rpc::{CallContext, Method, MethodError, MethodRegistry, Dispatcher};
/// use schemars::JsonSchema;
/// use serde::Deserialize;
///
/// /// Two numbers.
/// #[derive(Deserialize, JsonSchema)]
/// struct AddParams { a: i64, b: i64 }
///
/// let mut registry = MethodRegistry::new("calc", "1.0.0");
/// registry.register(
///     Method::new("add", |_ctx: &CallContext, p: AddParams| -> Result<i64, MethodError> {
///         Ok(p.a + p.b)
///     })
///     .summary("Adds two numbers"),
/// ).unwrap();
/// let dispatcher = Dispatcher::new(registry);
/// assert_eq!(
///     dispatcher.handle(r#"{"jsonrpc":"2.0","method":"add","params":[2,3],"id":1}"#).unwrap(),
///     r#"{"jsonrpc":"2.0","result":5,"id":1}"#
/// );
/// ```
pub struct Method {
    name: String,
    summary: Option<String>,
    description: Option<String>,
    errors: Vec<ErrorObject>,
    deprecated: bool,
    lenient: bool,
    by_name_only: bool,
    /// Top-level fields whose keys the handler checks itself (skipped by the strict check).
    own_fields: Vec<String>,
    invoke: Box<Invoke>,
    params_schema: SchemaFn,
    result_schema: SchemaFn,
    probe: fn() -> Option<&'static [&'static str]>,
    /// Set by [`Method::from_schema`]: the by-name fields, in order (no probing).
    fields: Option<Vec<String>>,
}

impl fmt::Debug for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Method")
            .field("name", &self.name)
            .field("summary", &self.summary)
            .finish_non_exhaustive()
    }
}

fn inline_schema_of<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    T::json_schema(generator)
}

fn subschema_of<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

impl Method {
    /// A method named `name` whose params decode as `P` and whose result serialises from `R`.
    ///
    /// The handler runs synchronously on the calling thread, inside `catch_unwind`: a panic
    /// answers -32603 and the dispatcher keeps serving.
    pub fn new<P, R, F>(name: impl Into<String>, handler: F) -> Self
    where
        P: DeserializeOwned + JsonSchema + 'static,
        R: Serialize + JsonSchema + 'static,
        F: Fn(&CallContext, P) -> Result<R, MethodError> + Send + Sync + 'static,
    {
        let invoke = move |ctx: &CallContext, params: &str| {
            let params: P = decode_params(params).map_err(CallFailure::Params)?;
            let result = handler(ctx, params).map_err(CallFailure::Method)?;
            serde_json::value::to_raw_value(&result).map_err(|e| CallFailure::Result(e.to_string()))
        };
        Method {
            name: name.into(),
            summary: None,
            description: None,
            errors: Vec::new(),
            deprecated: false,
            lenient: false,
            by_name_only: false,
            own_fields: Vec::new(),
            invoke: Box::new(invoke),
            params_schema: Box::new(inline_schema_of::<P>),
            result_schema: Box::new(subschema_of::<R>),
            probe: probe_fields::<P>,
            fields: None,
        }
    }

    /// A by-name method whose params are described by a schema built at run time rather than
    /// by a Rust type: `fields` are the accepted keys, in the order the OpenRPC content
    /// descriptors list them (other keys are refused with -32602 naming the key; by-position
    /// params are refused); `params_schema` gives an object schema whose `properties` describe
    /// those fields; the handler receives the params object as JSON text (`{}` when absent)
    /// and decodes it itself, reporting bad input with [`MethodError::invalid_params_at`].
    ///
    /// This is how one method per variant of a tagged enum is served without a params struct
    /// per variant.
    pub fn from_schema<R, S, F>(
        name: impl Into<String>,
        fields: Vec<String>,
        params_schema: S,
        handler: F,
    ) -> Self
    where
        R: Serialize + JsonSchema + 'static,
        S: Fn(&mut SchemaGenerator) -> Schema + Send + Sync + 'static,
        F: Fn(&CallContext, &str) -> Result<R, MethodError> + Send + Sync + 'static,
    {
        let invoke = move |ctx: &CallContext, params: &str| {
            let result = handler(ctx, params).map_err(CallFailure::Method)?;
            serde_json::value::to_raw_value(&result).map_err(|e| CallFailure::Result(e.to_string()))
        };
        Method {
            name: name.into(),
            summary: None,
            description: None,
            errors: Vec::new(),
            deprecated: false,
            lenient: false,
            by_name_only: true,
            own_fields: Vec::new(),
            invoke: Box::new(invoke),
            params_schema: Box::new(params_schema),
            result_schema: Box::new(subschema_of::<R>),
            probe: probe_fields::<NoParams>,
            fields: Some(fields),
        }
    }

    /// A one-line summary (OpenRPC `summary`).
    #[must_use]
    pub fn summary(mut self, summary: impl Into<String>) -> Self {
        self.summary = Some(summary.into());
        self
    }

    /// A longer description, Markdown allowed (OpenRPC `description`).
    #[must_use]
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Documents a domain error the method may answer with (OpenRPC `errors`).
    #[must_use]
    pub fn error(mut self, code: DomainCode, message: impl Into<String>) -> Self {
        self.errors.push(ErrorObject::new(code.get(), message));
        self
    }

    /// Marks the method deprecated (OpenRPC `deprecated`).
    #[must_use]
    pub fn deprecated(mut self) -> Self {
        self.deprecated = true;
        self
    }

    /// Lets by-name params carry keys that are not fields of the params type (they are then
    /// ignored, or refused by the type itself if it uses `#[serde(deny_unknown_fields)]`).
    #[must_use]
    pub fn lenient_params(mut self) -> Self {
        self.lenient = true;
        self
    }

    /// Leaves the keys inside the top-level field `field` to the handler, which reads that
    /// value itself and reports its problems its own way (all at once, say); duplicate keys in
    /// it are still refused. Other fields stay checked at every depth.
    #[must_use]
    pub fn reads_field_itself(mut self, field: impl Into<String>) -> Self {
        self.own_fields.push(field.into());
        self
    }

    /// Refuses by-position params (-32602) for a named method.
    #[must_use]
    pub fn by_name_only(mut self) -> Self {
        self.by_name_only = true;
        self
    }

    /// The method's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// How a registered method's params are turned into the text its handler decodes.
#[derive(Debug, Clone)]
pub(crate) enum ParamsPlan {
    /// A struct with named fields.
    Named {
        /// The fields in declaration order, as by-position params map onto them (aliases left
        /// out); `None` when by-position params are refused.
        positional: Option<Vec<String>>,
        /// Accepted keys (fields and their aliases); `None` when any key is passed on.
        allowed: Option<HashSet<String>>,
        /// The fields in declaration order, for the OpenRPC content descriptors.
        order: Vec<String>,
    },
    /// Anything else: the params value is passed on as it is.
    Raw,
}

/// A method with its params plan and the shape its params are checked against.
pub(crate) struct Registered {
    pub method: Method,
    pub plan: ParamsPlan,
    pub shape: Shape,
}

impl Registered {
    pub(crate) fn invoke(
        &self,
        ctx: &CallContext,
        params: &str,
    ) -> Result<Box<RawValue>, CallFailure> {
        (self.method.invoke)(ctx, params)
    }
    /// The first duplicate key, or key the params schema does not declare, at any depth
    /// (`params` is the text [`ParamsPlan`] prepared). Lenient methods skip the key check.
    pub(crate) fn strict_check(&self, params: &str) -> Result<(), ParamsProblem> {
        if let Some(problem) = crate::strict::duplicate_key(params) {
            return Err(problem);
        }
        if self.method.lenient {
            return Ok(());
        }
        let Ok(mut value) = serde_json::from_str::<serde_json::Value>(params) else {
            return Ok(());
        };
        if let Some(object) = value.as_object_mut() {
            for field in &self.method.own_fields {
                object.remove(field);
            }
        }
        let top_checked = matches!(self.plan, ParamsPlan::Named { .. });
        match self.shape.unknown_key(&value, top_checked) {
            Some(problem) => Err(problem),
            None => Ok(()),
        }
    }
    pub(crate) fn summary(&self) -> Option<&str> {
        self.method.summary.as_deref()
    }
    pub(crate) fn description(&self) -> Option<&str> {
        self.method.description.as_deref()
    }
    pub(crate) fn errors(&self) -> &[ErrorObject] {
        &self.method.errors
    }
    pub(crate) fn deprecated(&self) -> bool {
        self.method.deprecated
    }
    pub(crate) fn params_schema(&self, generator: &mut SchemaGenerator) -> Schema {
        (self.method.params_schema)(generator)
    }
    pub(crate) fn result_schema(&self, generator: &mut SchemaGenerator) -> Schema {
        (self.method.result_schema)(generator)
    }
    pub(crate) fn param_structure(&self) -> ParamStructure {
        match &self.plan {
            ParamsPlan::Named {
                positional: None, ..
            } => ParamStructure::ByName,
            ParamsPlan::Named { .. } | ParamsPlan::Raw => ParamStructure::Either,
        }
    }
}

/// The API's name and version, for the OpenRPC `info` object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiInfo {
    /// The API's title.
    pub title: String,
    /// The API's version (not the OpenRPC version).
    pub version: String,
    /// A description, Markdown allowed.
    pub description: Option<String>,
}

/// Why a method could not be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The name is empty.
    #[error("a method name must not be empty")]
    EmptyName,
    /// The name starts with `rpc.`, which JSON-RPC 2.0 reserves for system extensions.
    #[error("method names starting with `rpc.` are reserved: {0}")]
    Reserved(String),
    /// A method of that name is already registered.
    #[error("method {0} is already registered")]
    Duplicate(String),
}

/// The named methods a [`crate::Dispatcher`] serves, in registration order.
pub struct MethodRegistry {
    info: ApiInfo,
    methods: Vec<Registered>,
    index: HashMap<String, usize>,
}

impl fmt::Debug for MethodRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MethodRegistry")
            .field("info", &self.info)
            .field("methods", &self.names().collect::<Vec<_>>())
            .finish()
    }
}

impl MethodRegistry {
    /// An empty registry for an API titled `title` at `version`.
    pub fn new(title: impl Into<String>, version: impl Into<String>) -> Self {
        MethodRegistry {
            info: ApiInfo {
                title: title.into(),
                version: version.into(),
                description: None,
            },
            methods: Vec::new(),
            index: HashMap::new(),
        }
    }

    /// Sets the API's description.
    #[must_use]
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.info.description = Some(description.into());
        self
    }

    /// Registers `method`. Names are unique and may not start with `rpc.`.
    pub fn register(&mut self, method: Method) -> Result<&mut Self, RegistryError> {
        if method.name.is_empty() {
            return Err(RegistryError::EmptyName);
        }
        if method.name.starts_with("rpc.") {
            return Err(RegistryError::Reserved(method.name));
        }
        if self.index.contains_key(&method.name) {
            return Err(RegistryError::Duplicate(method.name));
        }
        let plan = plan_for(&method);
        let shape = shape_of(&method);
        self.index.insert(method.name.clone(), self.methods.len());
        self.methods.push(Registered {
            method,
            plan,
            shape,
        });
        Ok(self)
    }

    /// The API's title, version and description.
    pub fn info(&self) -> &ApiInfo {
        &self.info
    }

    /// Whether a method of that name is registered.
    pub fn contains(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// The method names, in registration order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.methods.iter().map(|m| m.method.name.as_str())
    }

    /// The number of registered methods.
    pub fn len(&self) -> usize {
        self.methods.len()
    }

    /// Whether no method is registered.
    pub fn is_empty(&self) -> bool {
        self.methods.is_empty()
    }

    pub(crate) fn get(&self, name: &str) -> Option<&Registered> {
        self.index.get(name).map(|&i| &self.methods[i])
    }

    pub(crate) fn methods(&self) -> &[Registered] {
        &self.methods
    }
}

/// The method's params schema with its definitions, as the OpenRPC document shows it.
fn shape_of(method: &Method) -> Shape {
    let mut generator = crate::openrpc::schema_settings().into_generator();
    let mut schema = (method.params_schema)(&mut generator);
    for transform in generator.transforms_mut() {
        transform.transform(&mut schema);
    }
    let definitions = generator.take_definitions(true);
    Shape::new(schema.to_value(), definitions)
}

/// Works out how a method's params are decoded: named (with the declaration order of the
/// fields) or raw.
fn plan_for(method: &Method) -> ParamsPlan {
    if let Some(fields) = &method.fields {
        return ParamsPlan::Named {
            positional: (!method.by_name_only).then(|| fields.clone()),
            allowed: (!method.lenient).then(|| fields.iter().cloned().collect()),
            order: fields.clone(),
        };
    }
    let Some(fields) = (method.probe)() else {
        return ParamsPlan::Raw;
    };
    // serde's field list includes aliases; the schema's properties do not. Their intersection,
    // in serde's order, is the declaration order of the real fields.
    let mut generator = crate::openrpc::schema_settings().into_generator();
    let schema = (method.params_schema)(&mut generator);
    let properties: Option<HashSet<&str>> = schema
        .get("properties")
        .and_then(|p| p.as_object())
        .map(|p| p.keys().map(String::as_str).collect());
    let mut seen = HashSet::new();
    let order: Vec<String> = fields
        .iter()
        .copied()
        .filter(|f| properties.as_ref().is_none_or(|p| p.contains(f)))
        .filter(|f| seen.insert(*f))
        .map(str::to_owned)
        .collect();
    ParamsPlan::Named {
        positional: (!method.by_name_only).then(|| order.clone()),
        allowed: (!method.lenient).then(|| fields.iter().map(|f| (*f).to_owned()).collect()),
        order,
    }
}

/// Decodes params text as `P`, naming the failing field.
fn decode_params<P: DeserializeOwned>(text: &str) -> Result<P, ParamsProblem> {
    let mut de = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize::<_, P>(&mut de).map_err(|e| ParamsProblem {
        path: e.path().to_string(),
        reason: strip_position(&e.inner().to_string()),
    })
}

/// serde_json appends " at line L column C" to its messages; the position refers to text the
/// client may never have sent (by-position params are rewritten), so it is dropped.
pub(crate) fn strip_position(message: &str) -> String {
    if let Some(at) = message.rfind(" at line ") {
        let tail = &message[at + " at line ".len()..];
        let mut parts = tail.split(" column ");
        if let (Some(l), Some(c), None) = (parts.next(), parts.next(), parts.next())
            && l.bytes().all(|b| b.is_ascii_digit())
            && c.bytes().all(|b| b.is_ascii_digit())
        {
            return message[..at].to_string();
        }
    }
    message.to_string()
}

/// Asks `P`'s `Deserialize` impl which struct fields it expects, without any input: a
/// deserializer that stops at the first request and reports what was asked for.
fn probe_fields<P: DeserializeOwned>() -> Option<&'static [&'static str]> {
    match std::panic::catch_unwind(|| P::deserialize(Probe)) {
        Ok(Err(ProbeOutcome(fields))) => fields,
        Ok(Ok(_)) | Err(_) => None,
    }
}

struct Probe;

#[derive(Debug)]
struct ProbeOutcome(Option<&'static [&'static str]>);

impl fmt::Display for ProbeOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("probe")
    }
}

impl std::error::Error for ProbeOutcome {}

impl de::Error for ProbeOutcome {
    fn custom<T: fmt::Display>(_msg: T) -> Self {
        ProbeOutcome(None)
    }
}

impl<'de> de::Deserializer<'de> for Probe {
    type Error = ProbeOutcome;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, ProbeOutcome> {
        Err(ProbeOutcome(None))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, ProbeOutcome> {
        Err(ProbeOutcome(Some(fields)))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ProbeOutcome> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize, JsonSchema)]
    #[allow(dead_code)]
    struct Sub {
        minuend: i64,
        #[serde(alias = "sub")]
        subtrahend: i64,
    }

    #[derive(Deserialize, JsonSchema)]
    #[serde(transparent)]
    #[allow(dead_code)]
    struct Wrapped(Sub);

    #[derive(Deserialize, JsonSchema)]
    #[allow(dead_code)]
    struct Newtype(Sub);

    #[derive(Deserialize, JsonSchema)]
    #[allow(dead_code)]
    struct Flat {
        #[serde(flatten)]
        sub: Sub,
    }

    #[test]
    fn probe_finds_struct_fields_with_aliases() {
        // serde lists each field with its aliases (in its own order), fields in declaration order.
        assert_eq!(
            probe_fields::<Sub>(),
            Some(&["minuend", "sub", "subtrahend"][..])
        );
        assert_eq!(probe_fields::<Wrapped>(), probe_fields::<Sub>());
        assert_eq!(probe_fields::<Newtype>(), probe_fields::<Sub>());
        assert_eq!(probe_fields::<NoParams>(), Some(&[][..]));
        assert_eq!(probe_fields::<Vec<i64>>(), None);
        assert_eq!(probe_fields::<(i64, i64)>(), None);
        assert_eq!(probe_fields::<Flat>(), None);
        assert_eq!(probe_fields::<serde_json::Value>(), None);
    }

    #[test]
    fn plan_drops_aliases_from_the_positional_order() {
        let m = Method::new(
            "sub",
            |_: &CallContext, p: Sub| Ok(p.minuend - p.subtrahend),
        );
        match plan_for(&m) {
            ParamsPlan::Named {
                positional,
                allowed,
                order,
            } => {
                assert_eq!(order, vec!["minuend", "subtrahend"]);
                assert_eq!(positional, Some(order));
                assert!(allowed.unwrap().contains("sub"));
            }
            ParamsPlan::Raw => panic!("Sub is a named struct"),
        }
    }

    #[test]
    fn registry_refuses_reserved_empty_and_duplicate_names() {
        let mut r = MethodRegistry::new("t", "1");
        let m = || Method::new("x", |_: &CallContext, _: NoParams| Ok(()));
        r.register(m()).unwrap();
        assert_eq!(
            r.register(m()).err(),
            Some(RegistryError::Duplicate("x".into()))
        );
        assert_eq!(
            r.register(Method::new("rpc.x", |_: &CallContext, _: NoParams| Ok(())))
                .err(),
            Some(RegistryError::Reserved("rpc.x".into()))
        );
        assert_eq!(
            r.register(Method::new("", |_: &CallContext, _: NoParams| Ok(())))
                .err(),
            Some(RegistryError::EmptyName)
        );
        assert_eq!(r.names().collect::<Vec<_>>(), vec!["x"]);
    }

    #[test]
    fn positions_are_stripped_from_serde_messages() {
        assert_eq!(
            strip_position("invalid type: string \"x\", expected i64 at line 1 column 14"),
            "invalid type: string \"x\", expected i64"
        );
        assert_eq!(strip_position("missing field `a`"), "missing field `a`");
        assert_eq!(
            strip_position("weird at line x column 2"),
            "weird at line x column 2"
        );
    }
}
