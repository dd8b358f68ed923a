//! opsledger-rpc: JSON-RPC 2.0 for opsledger.
//!
//! - [`Dispatcher`]: one synchronous, transport-free entry point,
//!   [`Dispatcher::handle`]`(&str) -> Option<String>`, implementing JSON-RPC 2.0 to the letter
//!   (single and batch requests, notifications, exact id echo, the -32700..-32603 errors,
//!   limits checked before parsing, panics answered -32603). Its protocol decisions are listed
//!   in the [`dispatcher`] module docs.
//! - [`MethodRegistry`] and [`Method`]: the seam a binding plugs methods into — a name, a
//!   params type (serde + schemars), a result type and a handler
//!   `Fn(&CallContext, Params) -> Result<Result_, MethodError>`. The same types decode the
//!   params and generate the OpenRPC document returned by `rpc.discover` ([`openrpc`]).
//! - [`CallContext`]: who calls and how far the transport vouches for it ([`Trust`]); over HTTP
//!   the actor comes from the bearer token, over stdio the params may name it.
//! - [`MethodError`]: domain errors in -32089..=-32000 with a stable `domain_code` and details
//!   in `data`; internal errors as -32603 without leaking details.
//! - [`transport`]: newline-delimited JSON over any `BufRead`/`Write` pair (stdio), and (feature
//!   `http`, on by default) an HTTP server on axum/tokio with `POST /rpc` and a server-sent
//!   event stream `GET /events` fed by an [`transport::EventSource`].
//!
//! - [`api`]: the engine binding: [`api::registry`] and [`api::dispatcher`] serve every
//!   command, query, event read, policy operation and admin operation of an
//!   [`opsledger::Engine`] as a method ([`api::registry_with_clock`] adds a manual clock),
//!   and [`api::EngineEvents`] feeds `GET /events` from the engine's log. The reference
//!   (methods, identity rules per transport, error codes, limits) is `docs/RPC.md`.
//!
//! This crate holds no domain logic: the dispatcher, registry and transports know nothing of the
//! engine, and [`api`] only translates between JSON and the engine's public API.
//!
//! Fuzzing: `crates/rpc/fuzz` holds a cargo-fuzz target for [`Dispatcher::handle`] (see the
//! crate README for the bounded-time command); the `fuzz_properties` test runs the same
//! property on stable with proptest. The engine binding's methods themselves are fuzzed on
//! stable by `crates/ffi/tests/fuzz_api` (calls built from the OpenRPC document, in memory,
//! on disk and through the C ABI; a bounded run in CI).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod api;
mod context;
pub mod dispatcher;
mod error;
pub mod limits;
pub mod openrpc;
mod registry;
mod strict;
#[cfg(any(test, feature = "spec-fixtures"))]
pub mod testing;
pub mod transport;

pub use context::{CallContext, Identity, TransportKind, Trust};
pub use dispatcher::{CallRecord, Dispatcher};
pub use error::{DomainCode, ErrorObject, MethodError, codes};
pub use limits::{LimitExceeded, Limits};
pub use registry::{ApiInfo, Method, MethodRegistry, NoParams, ParamStructure, RegistryError};
