//! The C ABI exercised from Rust through the exported functions, exactly as a C caller uses
//! them: statuses, NULL and empty inputs, ownership of the buffers, notifications, batches,
//! poisoning, threads, reopening a data directory, and (feature `spec-fixtures`) the JSON-RPC
//! specification's example table.

mod errors;
mod lifecycle;
#[cfg(feature = "spec-fixtures")]
mod spec;
mod support;
mod threads;
