//! The engine over JSON-RPC (`opsledger_rpc::api`): one harness, shared fixtures in `common`.

mod backup;
mod caller;
mod common;
mod errors;
mod http;
mod policy;
mod properties;
mod service_impact;
mod story;
mod sync;
mod wire;
