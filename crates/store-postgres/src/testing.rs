//! Helpers for test suites that run against a real PostgreSQL server (this crate's, the
//! engine's): where the server is, and a schema of their own that is dropped afterwards.
//!
//! The server is named by `OPSLEDGER_PG_URL`. Without it, [`test_url`] answers `None` after
//! printing a loud message, so a developer without a server sees the tests skip; in CI (`CI`
//! set) a missing URL is a failure, never a silent skip.

use std::sync::atomic::{AtomicU64, Ordering};

use postgres::NoTls;

/// The environment variable naming the test server.
pub const URL_VARIABLE: &str = "OPSLEDGER_PG_URL";

/// The test server's connection string; `None` (with a message on stderr) when
/// `OPSLEDGER_PG_URL` is unset outside CI.
///
/// # Panics
///
/// When `OPSLEDGER_PG_URL` is unset and `CI` is set: CI always runs the PostgreSQL tests.
pub fn test_url() -> Option<String> {
    match std::env::var(URL_VARIABLE) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!("{URL_VARIABLE} is not set, and CI must run the PostgreSQL tests")
        }
        _ => {
            eprintln!(
                "\n*** SKIPPED: {URL_VARIABLE} is not set, so this PostgreSQL test did not run. \
                 Start a server (source .ci/postgres.sh && start_postgres) and set it. ***\n"
            );
            None
        }
    }
}

/// A schema name no other test (in this process or another) uses.
pub fn unique_schema(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{prefix}_{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        nanos % 1_000_000
    )
}

/// A schema of one test, dropped with everything in it when this value is dropped.
#[derive(Debug)]
pub struct TestSchema {
    /// The server.
    pub url: String,
    /// The schema's name.
    pub name: String,
}

impl TestSchema {
    /// A fresh schema name on the test server (the store creates the schema at open).
    pub fn new(url: &str, prefix: &str) -> Self {
        Self {
            url: url.to_owned(),
            name: unique_schema(prefix),
        }
    }

    /// The default options in this schema.
    pub fn options(&self) -> crate::PgOptions {
        crate::PgOptions::in_schema(self.name.clone())
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        if crate::db::check_schema_name(&self.name).is_err() {
            return;
        }
        if let Ok(mut client) = postgres::Client::connect(&self.url, NoTls) {
            let _ =
                client.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.name));
        }
    }
}
