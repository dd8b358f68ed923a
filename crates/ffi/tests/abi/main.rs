//! The C ABI exercised from Rust through the exported functions, exactly as a C caller uses
//! them: statuses, NULL and empty inputs, ownership of the buffers, notifications, batches,
//! poisoning, threads, reopening a data directory, the `policy` and `clock` keys of the
//! configuration, and (feature `spec-fixtures`) the JSON-RPC specification's example table.

mod errors;
mod lifecycle;
mod policy;
#[cfg(feature = "spec-fixtures")]
mod spec;
mod support;
mod threads;
