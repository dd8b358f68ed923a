//! The derived spaces as `WITHOUT ROWID` tables of the same database, written in the same
//! transaction as the log when a unit of work is open.

use std::collections::VecDeque;
use std::sync::Arc;

use opsledger_store::{Kv, KvIter, KvOp, Space, StoreError};
use rusqlite::{OptionalExtension, params};

use crate::db::Db;

/// Entries fetched per query by a scan (each page takes a connection briefly).
const SCAN_PAGE: usize = 256;

/// The table that holds a space.
pub(crate) fn table(space: Space) -> &'static str {
    match space {
        Space::Views => "kv_views",
        Space::Meta => "kv_meta",
        Space::Snapshots => "kv_snapshots",
    }
}

/// One derived space: an ordered key-value table.
#[derive(Debug, Clone)]
pub struct SqliteKv {
    db: Arc<Db>,
    table: &'static str,
}

impl SqliteKv {
    pub(crate) fn new(db: Arc<Db>, space: Space) -> Self {
        Self {
            db,
            table: table(space),
        }
    }
}

struct Scan<'a> {
    kv: &'a SqliteKv,
    /// Lower bound (inclusive until the first page, then exclusive).
    low: Vec<u8>,
    low_inclusive: bool,
    /// Upper bound (exclusive until the first page of a reverse scan, then exclusive too).
    high: Vec<u8>,
    reverse: bool,
    buffer: VecDeque<(Vec<u8>, Vec<u8>)>,
    done: bool,
}

impl Scan<'_> {
    fn fill(&mut self) -> Result<(), StoreError> {
        let table = self.kv.table;
        let sql = match (self.reverse, self.low_inclusive) {
            (false, true) => format!(
                "SELECT key, value FROM {table} WHERE key >= ?1 AND key < ?2 ORDER BY key LIMIT ?3"
            ),
            (false, false) => format!(
                "SELECT key, value FROM {table} WHERE key > ?1 AND key < ?2 ORDER BY key LIMIT ?3"
            ),
            (true, _) => format!(
                "SELECT key, value FROM {table} WHERE key >= ?1 AND key < ?2 ORDER BY key DESC LIMIT ?3"
            ),
        };
        let (low, high) = (&self.low, &self.high);
        let page: Vec<(Vec<u8>, Vec<u8>)> = self.kv.db.read(|conn| {
            let mut statement = conn.prepare_cached(&sql)?;
            let rows = statement.query_map(params![low, high, SCAN_PAGE as i64], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
            rows.collect()
        })?;
        if page.len() < SCAN_PAGE {
            self.done = true;
        }
        if let Some((last, _)) = page.last() {
            if self.reverse {
                self.high = last.clone();
            } else {
                self.low = last.clone();
                self.low_inclusive = false;
            }
        }
        self.buffer.extend(page);
        Ok(())
    }
}

impl Iterator for Scan<'_> {
    type Item = Result<(Vec<u8>, Vec<u8>), StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buffer.is_empty()
            && !self.done
            && let Err(e) = self.fill()
        {
            self.done = true;
            return Some(Err(e));
        }
        self.buffer.pop_front().map(Ok)
    }
}

impl Kv for SqliteKv {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let sql = format!("SELECT value FROM {} WHERE key = ?1", self.table);
        self.db.read(|conn| {
            conn.prepare_cached(&sql)?
                .query_row([key], |r| r.get(0))
                .optional()
        })
    }

    fn range(&self, start: &[u8], end: &[u8], reverse: bool) -> KvIter<'_> {
        if start >= end {
            return Box::new(std::iter::empty());
        }
        Box::new(Scan {
            kv: self,
            low: start.to_vec(),
            low_inclusive: true,
            high: end.to_vec(),
            reverse,
            buffer: VecDeque::new(),
            done: false,
        })
    }

    fn apply(&self, ops: Vec<KvOp>) -> Result<(), StoreError> {
        if ops.is_empty() {
            return Ok(());
        }
        let upsert = format!(
            "INSERT INTO {}(key, value) VALUES (?1, ?2) \
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            self.table
        );
        let delete = format!("DELETE FROM {} WHERE key = ?1", self.table);
        self.db.write(false, |writer| {
            let conn = &writer.conn;
            let result = (|| {
                let mut upsert = conn.prepare_cached(&upsert)?;
                let mut delete = conn.prepare_cached(&delete)?;
                for (key, value) in &ops {
                    match value {
                        Some(value) => upsert.execute(params![key, value])?,
                        None => delete.execute([key])?,
                    };
                }
                Ok(())
            })();
            result.map_err(crate::db::sql_error)
        })
    }

    /// Empties the table; a table whose pages are too damaged to delete from is dropped and
    /// created anew (it holds derived data only).
    fn clear(&self) -> Result<(), StoreError> {
        let table = self.table;
        self.db.write(false, |writer| {
            let conn = &writer.conn;
            conn.execute_batch("SAVEPOINT clear_space")
                .map_err(crate::db::sql_error)?;
            match conn.execute_batch(&format!("DELETE FROM {table}")) {
                Ok(()) => conn.execute_batch("RELEASE clear_space"),
                Err(_) => conn.execute_batch(&format!(
                    "ROLLBACK TO clear_space; RELEASE clear_space; DROP TABLE IF EXISTS {table}; \
                     CREATE TABLE {table}(key BLOB PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;"
                )),
            }
            .map_err(crate::db::sql_error)
        })
    }
}
