//! The engine over JSON-RPC (`opsledger_rpc::api`): one harness, shared fixtures in `common`.

mod common;
mod errors;
mod http;
mod properties;
mod story;
