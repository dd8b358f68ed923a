//! A connection with its prepared statements. Running a statement by its text makes the
//! driver prepare it first (parse and describe: one round trip, and planning on the server)
//! and then bind and execute it (a second round trip); a statement found in the connection's
//! cache goes straight to bind and execute. Prepared statements belong to the server session,
//! so the cache lives and dies with the connection.
//!
//! A cached statement can go stale: a schema change that alters what it returns makes the
//! server refuse it ("cached plan must not change result type"), and a session that lost its
//! statements refuses their names. Three things keep that from surfacing: schema changes made
//! through this process bump [`Db`](crate::db::Db)'s generation, and every connection drops
//! its cache before its next use after a bump; a statement refused as stale drops the whole
//! cache of its connection; and the callers run such a refusal again once (a read on its
//! own, a write in a transaction of its own) or report it as `StoreError::Transient` (inside
//! a unit of work, whose transaction the refusal aborted), which the engine retries.

use std::num::NonZeroUsize;

use lru::LruCache;
use postgres::error::SqlState;
use postgres::types::ToSql;
use postgres::{Client, Row, Statement};

/// Prepared statements kept per connection: more than the store and the read models use, so
/// a warm connection prepares nothing.
pub(crate) const STATEMENT_CACHE: usize = 256;

/// Statement parameters as the driver takes them.
pub(crate) type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// Whether the server refused a cached statement because it went stale (see the module
/// documentation): dropping the cache and running the statement again succeeds.
pub(crate) fn is_stale(e: &postgres::Error) -> bool {
    let Some(db) = e.as_db_error() else {
        return false;
    };
    let code = db.code();
    *code == SqlState::INVALID_SQL_STATEMENT_NAME
        || (*code == SqlState::FEATURE_NOT_SUPPORTED
            && db
                .message()
                .contains("cached plan must not change result type"))
}

/// Whether `sql` changes the schema (its first word is `CREATE`, `ALTER` or `DROP`): such a
/// statement is not cached and makes every connection of the process drop its cache.
pub(crate) fn changes_schema(sql: &str) -> bool {
    let first = sql
        .trim_start()
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or_default();
    ["CREATE", "ALTER", "DROP"]
        .iter()
        .any(|word| first.eq_ignore_ascii_case(word))
}

/// A connection and the statements prepared on it.
pub(crate) struct Conn {
    client: Client,
    statements: LruCache<String, Statement>,
    /// The schema generation the cached statements were prepared under.
    generation: u64,
    /// Statements prepared on this connection (a counter for tests and diagnostics).
    prepared: u64,
}

impl Conn {
    pub(crate) fn new(client: Client, generation: u64) -> Self {
        let capacity = NonZeroUsize::new(STATEMENT_CACHE).unwrap_or(NonZeroUsize::MIN);
        Self {
            client,
            statements: LruCache::new(capacity),
            generation,
            prepared: 0,
        }
    }

    /// Whether the connection was lost.
    pub(crate) fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    /// Statements prepared on this connection since it was opened.
    #[cfg(test)]
    pub(crate) fn prepared(&self) -> u64 {
        self.prepared
    }

    /// Drops the cached statements if the schema changed since they were prepared.
    pub(crate) fn sync_generation(&mut self, generation: u64) {
        if self.generation != generation {
            self.statements.clear();
            self.generation = generation;
        }
    }

    /// Runs statements through the simple query protocol (transaction control, DDL), nothing
    /// prepared.
    pub(crate) fn batch_execute(&mut self, sql: &str) -> Result<(), postgres::Error> {
        self.client.batch_execute(sql)
    }

    /// The prepared statement of `sql`, from the cache or prepared now.
    fn statement(&mut self, sql: &str) -> Result<Statement, postgres::Error> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(sql)?;
        self.prepared += 1;
        self.statements.put(sql.to_owned(), statement.clone());
        Ok(statement)
    }

    /// Drops the cache when `e` says it went stale; answers `e`.
    fn checked(&mut self, e: postgres::Error) -> postgres::Error {
        if is_stale(&e) {
            self.statements.clear();
        }
        e
    }

    /// Runs a statement, answering its rows.
    pub(crate) fn query(
        &mut self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<Vec<Row>, postgres::Error> {
        let statement = self.statement(sql).map_err(|e| self.checked(e))?;
        self.client
            .query(&statement, params)
            .map_err(|e| self.checked(e))
    }

    /// Runs a statement that answers exactly one row.
    pub(crate) fn query_one(
        &mut self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<Row, postgres::Error> {
        let statement = self.statement(sql).map_err(|e| self.checked(e))?;
        self.client
            .query_one(&statement, params)
            .map_err(|e| self.checked(e))
    }

    /// Runs a statement that answers at most one row.
    pub(crate) fn query_opt(
        &mut self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<Option<Row>, postgres::Error> {
        let statement = self.statement(sql).map_err(|e| self.checked(e))?;
        self.client
            .query_opt(&statement, params)
            .map_err(|e| self.checked(e))
    }

    /// Runs a statement, answering the rows it changed.
    pub(crate) fn execute(
        &mut self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<u64, postgres::Error> {
        let statement = self.statement(sql).map_err(|e| self.checked(e))?;
        self.client
            .execute(&statement, params)
            .map_err(|e| self.checked(e))
    }

    /// Runs a statement without caching it (a schema change), answering the rows it changed.
    pub(crate) fn execute_once(
        &mut self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<u64, postgres::Error> {
        self.client.execute(sql, params)
    }
}

#[cfg(test)]
mod tests {
    use opsledger_store::contract::{evs, stream};
    use opsledger_store::{EventStore, ExpectedVersion, StoreConfig, Version};

    use super::*;
    use crate::PgStore;
    use crate::testing::{TestSchema, test_url};

    /// Statements prepared so far on the store's writer connection.
    fn writer_prepared(store: &PgStore) -> u64 {
        let guard = store.db.lock_writer();
        let mut writer = guard.borrow_mut();
        writer.client(&store.db).unwrap().prepared()
    }

    #[test]
    fn a_warm_connection_prepares_nothing_and_a_lost_statement_is_prepared_again() {
        let Some(url) = test_url() else { return };
        let schema = TestSchema::new(&url, "cache");
        let store = PgStore::open(&url, StoreConfig::default(), schema.options()).unwrap();
        store
            .append(&stream("a"), ExpectedVersion::NoStream, evs(0..2))
            .unwrap();
        let warm = writer_prepared(&store);
        assert_eq!(
            warm, 3,
            "an append: the head's lock, the lookup, the writes"
        );
        store
            .append(&stream("b"), ExpectedVersion::NoStream, evs(2..5))
            .unwrap();
        store
            .append(&stream("a"), ExpectedVersion::Exact(Version(2)), evs(5..6))
            .unwrap();
        assert_eq!(
            writer_prepared(&store),
            warm,
            "warm appends prepare nothing"
        );

        // The session forgets its statements (as a pooler or DISCARD ALL would): the next
        // append is refused by name, drops the cache and runs again, preparing afresh.
        {
            let guard = store.db.lock_writer();
            let mut writer = guard.borrow_mut();
            let conn = writer.client(&store.db).unwrap();
            conn.batch_execute("DEALLOCATE ALL").unwrap();
        }
        let outcome = store
            .append(&stream("c"), ExpectedVersion::NoStream, evs(6..7))
            .unwrap();
        assert_eq!(outcome.first_position.0, 7);
        assert!(writer_prepared(&store) > warm);
        assert_eq!(
            store
                .read_all(opsledger_store::Position(1), 100)
                .unwrap()
                .len(),
            7
        );
    }

    #[test]
    fn schema_changes_are_recognised_by_their_first_word() {
        assert!(changes_schema("CREATE TABLE t (a INT)"));
        assert!(changes_schema("  alter table t add column b int"));
        assert!(changes_schema("\nDrop INDEX i"));
        assert!(!changes_schema("INSERT INTO created (a) VALUES (1)"));
        assert!(!changes_schema("SELECT 1"));
        assert!(!changes_schema("CREATED"));
        assert!(!changes_schema(""));
    }
}
