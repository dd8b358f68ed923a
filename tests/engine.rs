//! End-to-end tests of the engine (the facade crate): one harness, shared fixtures in
//! `support/`, one module per concern in `cases/`.

mod cases;
mod support;
