//! SQL tables beside the log: where the engine keeps the read models that reporting tools read.
//!
//! A backend that has a SQL database offers it through [`Storage::tables`]: the engine creates
//! its read-model tables there and writes them in the same unit of work as the events they
//! derive from (on a transactional backend, in the same transaction). The seam is deliberately
//! small (statements with bound parameters, rows as values) so that a backend is a thin
//! adapter over its driver, and the SQL itself stays with the read models that own it.
//!
//! Statements only ever take user input as bound parameters ([`SqlValue`]); the text of a
//! statement is the engine's.
//!
//! [`Storage::tables`]: crate::Storage::tables

use crate::error::StoreError;

/// The SQL dialect a backend speaks (the read models choose their DDL and full-text search by
/// it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlDialect {
    /// SQLite 3 with FTS5 (the bundled build).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// A value bound to a statement or read from a row.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    /// SQL `NULL`.
    Null,
    /// A 64-bit integer.
    Integer(i64),
    /// A double.
    Real(f64),
    /// UTF-8 text.
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
}

impl SqlValue {
    /// The integer, if this is one.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            SqlValue::Integer(i) => Some(*i),
            _ => None,
        }
    }

    /// The text, if this is text.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            SqlValue::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The number as a double (integers converted), if this is a number.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            SqlValue::Real(f) => Some(*f),
            SqlValue::Integer(i) => Some(*i as f64),
            _ => None,
        }
    }

    /// Whether this is `NULL`.
    pub fn is_null(&self) -> bool {
        matches!(self, SqlValue::Null)
    }
}

impl From<i64> for SqlValue {
    fn from(v: i64) -> Self {
        SqlValue::Integer(v)
    }
}

impl From<u64> for SqlValue {
    fn from(v: u64) -> Self {
        SqlValue::Integer(i64::try_from(v).unwrap_or(i64::MAX))
    }
}

impl From<u32> for SqlValue {
    fn from(v: u32) -> Self {
        SqlValue::Integer(i64::from(v))
    }
}

impl From<bool> for SqlValue {
    fn from(v: bool) -> Self {
        SqlValue::Integer(i64::from(v))
    }
}

impl From<&str> for SqlValue {
    fn from(v: &str) -> Self {
        SqlValue::Text(v.to_owned())
    }
}

impl From<String> for SqlValue {
    fn from(v: String) -> Self {
        SqlValue::Text(v)
    }
}

impl<T: Into<SqlValue>> From<Option<T>> for SqlValue {
    fn from(v: Option<T>) -> Self {
        v.map_or(SqlValue::Null, Into::into)
    }
}

/// One statement of a write: the engine's SQL text and the values bound to it.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlStatement {
    /// The statement (the engine's text, never built from input).
    pub sql: &'static str,
    /// Its parameters, in order (`?1`, `?2`, ...).
    pub params: Vec<SqlValue>,
}

impl SqlStatement {
    /// A statement with its parameters.
    pub fn new(sql: &'static str, params: Vec<SqlValue>) -> Self {
        Self { sql, params }
    }
}

/// What a row callback answers: go on reading, or stop here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowFlow {
    /// Read the next row.
    Continue,
    /// Stop reading (the statement is finished early).
    Stop,
}

/// A SQL database the engine may keep tables in.
///
/// Writes made by the thread that holds an open unit of work ([`Storage::begin_unit`]) join
/// that unit, and that thread's reads see them; other threads read committed data only. A
/// write outside a unit commits on its own.
///
/// [`Storage::begin_unit`]: crate::Storage::begin_unit
pub trait SqlTables: Send + Sync + std::fmt::Debug {
    /// The dialect of the statements this database accepts.
    fn dialect(&self) -> SqlDialect;

    /// Runs statements without parameters (schema changes), in one transaction or the
    /// caller's unit.
    fn execute_batch(&self, sql: &str) -> Result<(), StoreError>;

    /// Runs one statement with bound parameters; answers the rows it changed.
    fn execute(&self, sql: &str, params: &[SqlValue]) -> Result<u64, StoreError>;

    /// Runs statements in order, in one transaction (or the caller's unit): all of them or,
    /// on an error, none; answers the rows changed in total.
    fn apply(&self, statements: &[SqlStatement]) -> Result<u64, StoreError>;

    /// Runs a query, calling `row` with each row's values in column order until it answers
    /// [`RowFlow::Stop`] or the rows run out.
    fn query(
        &self,
        sql: &str,
        params: &[SqlValue],
        row: &mut dyn FnMut(&[SqlValue]) -> Result<RowFlow, StoreError>,
    ) -> Result<(), StoreError>;

    /// Every row of a query.
    fn query_all(&self, sql: &str, params: &[SqlValue]) -> Result<Vec<Vec<SqlValue>>, StoreError> {
        let mut out = Vec::new();
        self.query(sql, params, &mut |r| {
            out.push(r.to_vec());
            Ok(RowFlow::Continue)
        })?;
        Ok(out)
    }
}
