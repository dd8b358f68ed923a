//! The derived spaces as tables of the same database (`key BYTEA PRIMARY KEY, value BYTEA`),
//! written in the same transaction as the log when a unit of work is open.

use std::collections::VecDeque;
use std::sync::Arc;

use opsledger_store::{Kv, KvIter, KvOp, Space, StoreError};

use crate::db::Db;
use crate::store::to_i64;

/// Entries fetched per query by a scan.
const SCAN_PAGE: usize = 256;

/// The statements of one space's table (the table names are the crate's, never input).
struct Statements {
    get: &'static str,
    forward_from: &'static str,
    forward_after: &'static str,
    backward: &'static str,
    upsert: &'static str,
    delete: &'static str,
    clear: &'static str,
}

macro_rules! statements {
    ($table:literal) => {
        Statements {
            get: concat!("SELECT value FROM ", $table, " WHERE key = $1"),
            forward_from: concat!(
                "SELECT key, value FROM ",
                $table,
                " WHERE key >= $1 AND key < $2 ORDER BY key LIMIT $3"
            ),
            forward_after: concat!(
                "SELECT key, value FROM ",
                $table,
                " WHERE key > $1 AND key < $2 ORDER BY key LIMIT $3"
            ),
            backward: concat!(
                "SELECT key, value FROM ",
                $table,
                " WHERE key >= $1 AND key < $2 ORDER BY key DESC LIMIT $3"
            ),
            upsert: concat!(
                "INSERT INTO ",
                $table,
                " (key, value) SELECT * FROM unnest($1::bytea[], $2::bytea[]) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value"
            ),
            delete: concat!("DELETE FROM ", $table, " WHERE key = ANY($1)"),
            clear: concat!("DELETE FROM ", $table),
        }
    };
}

const VIEWS: Statements = statements!("kv_views");
const META: Statements = statements!("kv_meta");
const SNAPSHOTS: Statements = statements!("kv_snapshots");

/// One derived space: an ordered key-value table (`bytea` keys compare bytewise, as the
/// [`Kv`] contract wants).
#[derive(Clone)]
pub struct PgKv {
    db: Arc<Db>,
    statements: &'static Statements,
}

impl std::fmt::Debug for PgKv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgKv").finish_non_exhaustive()
    }
}

impl PgKv {
    pub(crate) fn new(db: Arc<Db>, space: Space) -> Self {
        let statements = match space {
            Space::Views => &VIEWS,
            Space::Meta => &META,
            Space::Snapshots => &SNAPSHOTS,
        };
        Self { db, statements }
    }
}

struct Scan<'a> {
    kv: &'a PgKv,
    low: Vec<u8>,
    low_inclusive: bool,
    high: Vec<u8>,
    reverse: bool,
    buffer: VecDeque<(Vec<u8>, Vec<u8>)>,
    done: bool,
}

impl Scan<'_> {
    fn fill(&mut self) -> Result<(), StoreError> {
        let s = self.kv.statements;
        let sql = match (self.reverse, self.low_inclusive) {
            (false, true) => s.forward_from,
            (false, false) => s.forward_after,
            (true, _) => s.backward,
        };
        let (low, high) = (&self.low, &self.high);
        let page: Vec<(Vec<u8>, Vec<u8>)> = self.kv.db.read(|client| {
            Ok(client
                .query(sql, &[low, high, &to_i64(SCAN_PAGE as u64)])?
                .into_iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect())
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

impl Kv for PgKv {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let sql = self.statements.get;
        self.db
            .read(|client| Ok(client.query_opt(sql, &[&key])?.map(|r| r.get(0))))
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
        // The last write of a key wins, as if applied in order.
        let mut last: std::collections::BTreeMap<&[u8], Option<&[u8]>> = Default::default();
        for (key, value) in &ops {
            last.insert(key, value.as_deref());
        }
        let mut keys: Vec<&[u8]> = Vec::new();
        let mut values: Vec<&[u8]> = Vec::new();
        let mut deleted: Vec<&[u8]> = Vec::new();
        for (key, value) in last {
            match value {
                Some(v) => {
                    keys.push(key);
                    values.push(v);
                }
                None => deleted.push(key),
            }
        }
        let s = self.statements;
        self.db.write(|client| {
            if !deleted.is_empty() {
                client.execute(s.delete, &[&deleted])?;
            }
            if !keys.is_empty() {
                client.execute(s.upsert, &[&keys, &values])?;
            }
            Ok(((), None))
        })
    }

    fn clear(&self) -> Result<(), StoreError> {
        let sql = self.statements.clear;
        self.db.write(|client| {
            client.execute(sql, &[])?;
            Ok(((), None))
        })
    }
}
