//! The end-to-end cases of `tests/engine.rs`, run on the PostgreSQL backend: every on-disk case
//! opens its engine with `PgStorage` in a schema of its own on the server named by
//! `OPSLEDGER_PG_URL` (a data directory opened again gets its schema again). Without the
//! variable outside CI the cases say so loudly and run on SQLite; in CI they fail without it.

/// The backend the on-disk cases run on (see `support::open_on_disk`).
const BACKEND: &str = "postgres";

#[path = "cases/mod.rs"]
mod cases;
#[path = "support/mod.rs"]
mod support;
