//! Whole-schema operations for tools (`opsledger migrate`): whether a schema exists, dropping
//! one, renaming one. A copy is written into a schema of its own and renamed into place once
//! checked, as a data directory is written as `DIR.partial` and renamed.

use opsledger_store::StoreError;
use postgres::Client;

use crate::db::{check_schema_name, pg_error};

fn connect(url: &str) -> Result<Client, StoreError> {
    let (url, tls) = crate::tls::split_tls(url)?;
    let config: postgres::Config = url.parse().map_err(|e: postgres::Error| {
        StoreError::InvalidConfig(format!("PostgreSQL connection string: {e}"))
    })?;
    crate::tls::connect(&config, &tls).map_err(|e| StoreError::Unavailable(e.to_string()))
}

/// Whether the database at `url` has a schema named `schema`.
pub fn schema_exists(url: &str, schema: &str) -> Result<bool, StoreError> {
    check_schema_name(schema)?;
    let mut client = connect(url)?;
    let found = client
        .query_opt("SELECT 1 FROM pg_namespace WHERE nspname = $1", &[&schema])
        .map_err(|e| pg_error(&e))?;
    Ok(found.is_some())
}

/// Drops `schema` and everything in it, if it exists.
pub fn drop_schema(url: &str, schema: &str) -> Result<(), StoreError> {
    check_schema_name(schema)?;
    connect(url)?
        .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .map_err(|e| pg_error(&e))
}

/// Renames schema `from` to `to` (which must not exist): one statement, so the copy appears
/// whole under its name or not at all.
pub fn rename_schema(url: &str, from: &str, to: &str) -> Result<(), StoreError> {
    check_schema_name(from)?;
    check_schema_name(to)?;
    connect(url)?
        .batch_execute(&format!("ALTER SCHEMA \"{from}\" RENAME TO \"{to}\""))
        .map_err(|e| pg_error(&e))
}

/// Whether `schema` of the database at `url` holds an opsledger log (its `events` table), as
/// opposed to being missing or empty (a schema an administrator created beforehand).
pub fn holds_log(url: &str, schema: &str) -> Result<bool, StoreError> {
    check_schema_name(schema)?;
    let mut client = connect(url)?;
    let found = client
        .query_opt(
            "SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename = 'events'",
            &[&schema],
        )
        .map_err(|e| pg_error(&e))?;
    Ok(found.is_some())
}
