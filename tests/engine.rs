//! End-to-end tests of the engine (the facade crate) on the default backend, SQLite: one
//! harness, shared fixtures in `support/`, one module per concern in `cases/`.
//! `tests/engine_on_sled.rs` runs the same cases on the sled backend.

/// The backend the on-disk cases run on (see `support::open_on_disk`).
const BACKEND: &str = "sqlite";

mod cases;
mod support;
