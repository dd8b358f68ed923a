//! The end-to-end cases of `tests/engine.rs`, run on the sled backend: every on-disk case opens
//! its engine with `SledStorage` (the log in `log/`, read models beside it in SQLite).

/// The backend the on-disk cases run on (see `support::open_on_disk`).
const BACKEND: &str = "sled";

#[path = "cases/mod.rs"]
mod cases;
#[path = "support/mod.rs"]
mod support;
