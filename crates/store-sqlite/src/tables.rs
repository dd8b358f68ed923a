//! The database's SQL tables as the engine's read models see them ([`SqlTables`]): statements on
//! the writer connection join the calling thread's unit of work; reads go where
//! [`Db::read`] sends them.

use std::sync::Arc;

use opsledger_store::{RowFlow, SqlDialect, SqlStatement, SqlTables, SqlValue, StoreError};
use rusqlite::ToSql;
use rusqlite::types::{ToSqlOutput, ValueRef};

use crate::db::{Db, sql_error};

/// SQL access to an opsledger SQLite database (the read-model tables).
#[derive(Debug, Clone)]
pub struct SqliteTables {
    db: Arc<Db>,
}

impl SqliteTables {
    pub(crate) fn new(db: Arc<Db>) -> Self {
        Self { db }
    }
}

/// A parameter bound by reference: text and blobs are handed to SQLite without a copy.
struct Param<'a>(&'a SqlValue);

impl ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self.0 {
            SqlValue::Null => ValueRef::Null,
            SqlValue::Integer(i) => ValueRef::Integer(*i),
            SqlValue::Real(f) => ValueRef::Real(*f),
            SqlValue::Text(s) => ValueRef::Text(s.as_bytes()),
            SqlValue::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

fn bind(params: &[SqlValue]) -> impl rusqlite::Params + '_ {
    rusqlite::params_from_iter(params.iter().map(Param))
}

fn from_sqlite(v: ValueRef<'_>) -> SqlValue {
    match v {
        ValueRef::Null => SqlValue::Null,
        ValueRef::Integer(i) => SqlValue::Integer(i),
        ValueRef::Real(f) => SqlValue::Real(f),
        ValueRef::Text(t) => SqlValue::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => SqlValue::Blob(b.to_vec()),
    }
}

impl SqlTables for SqliteTables {
    fn dialect(&self) -> SqlDialect {
        SqlDialect::Sqlite
    }

    fn execute_batch(&self, sql: &str) -> Result<(), StoreError> {
        self.db.write(false, |writer| {
            writer.conn.execute_batch(sql).map_err(sql_error)
        })
    }

    fn execute(&self, sql: &str, params: &[SqlValue]) -> Result<u64, StoreError> {
        self.db.write(false, |writer| {
            let mut statement = writer.conn.prepare_cached(sql).map_err(sql_error)?;
            let changed = statement.execute(bind(params)).map_err(sql_error)?;
            Ok(changed as u64)
        })
    }

    fn apply(&self, statements: &[SqlStatement]) -> Result<u64, StoreError> {
        if statements.is_empty() {
            return Ok(0);
        }
        self.db.write(false, |writer| {
            let mut changed = 0u64;
            for statement in statements {
                changed += writer
                    .conn
                    .prepare_cached(statement.sql)
                    .and_then(|mut s| s.execute(bind(&statement.params)))
                    .map_err(sql_error)? as u64;
            }
            Ok(changed)
        })
    }

    fn query(
        &self,
        sql: &str,
        params: &[SqlValue],
        row: &mut dyn FnMut(&[SqlValue]) -> Result<RowFlow, StoreError>,
    ) -> Result<(), StoreError> {
        let mut failure: Option<StoreError> = None;
        self.db.read(|conn| {
            let mut statement = conn.prepare_cached(sql)?;
            let columns = statement.column_count();
            let mut rows = statement.query(bind(params))?;
            let mut buffer = Vec::with_capacity(columns);
            while let Some(r) = rows.next()? {
                buffer.clear();
                for i in 0..columns {
                    buffer.push(from_sqlite(r.get_ref(i)?));
                }
                match row(&buffer) {
                    Ok(RowFlow::Continue) => {}
                    Ok(RowFlow::Stop) => break,
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                }
            }
            Ok(())
        })?;
        match failure {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
