//! The database's SQL tables as the engine's read models see them ([`SqlTables`]), in
//! PostgreSQL's dialect: statements join the calling thread's unit of work; reads go where
//! the store's reads go. Placeholders may be written `?N` (SQLite's form, shared by the
//! statements that are the same in both dialects) or `$N`.

use std::error::Error;
use std::sync::Arc;

use opsledger_store::{RowFlow, SqlDialect, SqlStatement, SqlTables, SqlValue, StoreError};
use postgres::types::{IsNull, ToSql, Type, to_sql_checked};

use crate::conn::{Conn, changes_schema};
use crate::db::Db;

/// SQL access to an opsledger PostgreSQL schema (the read-model tables).
#[derive(Clone)]
pub struct PgTables {
    db: Arc<Db>,
}

impl std::fmt::Debug for PgTables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgTables")
            .field("schema", &self.db.options.schema)
            .finish()
    }
}

impl PgTables {
    pub(crate) fn new(db: Arc<Db>) -> Self {
        Self { db }
    }
}

/// Rewrites `?N` and `?` placeholders as `$N` outside quoted text and identifiers.
pub fn placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    let mut quote: Option<char> = None;
    let mut next_bare = 1u32;
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                out.push(c);
                if c == q {
                    quote = None;
                }
            }
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                out.push(c);
            }
            None if c == '?' => {
                out.push('$');
                if chars.peek().is_some_and(char::is_ascii_digit) {
                    while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                        out.push(d);
                        chars.next();
                    }
                } else {
                    out.push_str(&next_bare.to_string());
                    next_bare += 1;
                }
            }
            None => out.push(c),
        }
    }
    out
}

/// A bound value, converted to the column's type as PostgreSQL infers it.
#[derive(Debug)]
struct Param<'a>(&'a SqlValue);

impl ToSql for Param<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut postgres::types::private::BytesMut,
    ) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        match self.0 {
            SqlValue::Null => Ok(IsNull::Yes),
            SqlValue::Integer(i) => match *ty {
                Type::INT8 => i.to_sql(ty, out),
                Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
                Type::BOOL => (*i != 0).to_sql(ty, out),
                Type::FLOAT8 => (*i as f64).to_sql(ty, out),
                Type::FLOAT4 => (*i as f32).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR => i.to_string().to_sql(ty, out),
                _ => Err(format!("an integer bound to a {ty} parameter").into()),
            },
            SqlValue::Real(f) => match *ty {
                Type::FLOAT8 => f.to_sql(ty, out),
                Type::FLOAT4 => (*f as f32).to_sql(ty, out),
                _ => Err(format!("a number bound to a {ty} parameter").into()),
            },
            SqlValue::Text(s) => match *ty {
                Type::BYTEA => s.as_bytes().to_sql(ty, out),
                _ => s.as_str().to_sql(ty, out),
            },
            SqlValue::Blob(b) => b.as_slice().to_sql(ty, out),
        }
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// Decodes PostgreSQL's binary `numeric` (sums of integers are numeric): an integer when it
/// has no fraction and fits, else a double.
fn numeric(raw: &[u8]) -> Result<SqlValue, String> {
    let word = |i: usize| -> Result<i16, String> {
        raw.get(i..i + 2)
            .map(|b| i16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| "a truncated numeric".to_owned())
    };
    let ndigits = usize::try_from(word(0)?).map_err(|_| "a negative digit count")?;
    let weight = i32::from(word(2)?);
    let sign = word(4)? as u16;
    let scale = word(6)?;
    if sign == 0xC000 {
        return Ok(SqlValue::Real(f64::NAN));
    }
    let mut value = 0f64;
    let mut integer: Option<i128> = Some(0);
    for i in 0..ndigits {
        let digit = i32::from(word(8 + 2 * i)?);
        let exponent = weight - i as i32;
        value += f64::from(digit) * 10_000f64.powi(exponent);
        integer = match (integer, exponent >= 0) {
            (Some(acc), true) => u32::try_from(exponent)
                .ok()
                .and_then(|e| 10_000i128.checked_pow(e))
                .and_then(|p| acc.checked_add(i128::from(digit) * p)),
            (Some(acc), false) if digit == 0 => Some(acc),
            _ => None,
        };
    }
    let negative = sign == 0x4000;
    if scale == 0
        && let Some(i) = integer.and_then(|i| i64::try_from(if negative { -i } else { i }).ok())
    {
        return Ok(SqlValue::Integer(i));
    }
    Ok(SqlValue::Real(if negative { -value } else { value }))
}

/// A column's value as the seam's [`SqlValue`].
struct Column(SqlValue);

impl<'a> postgres::types::FromSql<'a> for Column {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn Error + Sync + Send>> {
        Ok(Column(match *ty {
            Type::INT8 => SqlValue::Integer(i64::from_sql(ty, raw)?),
            Type::INT4 => SqlValue::Integer(i64::from(i32::from_sql(ty, raw)?)),
            Type::INT2 => SqlValue::Integer(i64::from(i16::from_sql(ty, raw)?)),
            Type::BOOL => SqlValue::Integer(i64::from(bool::from_sql(ty, raw)?)),
            Type::FLOAT8 => SqlValue::Real(f64::from_sql(ty, raw)?),
            Type::FLOAT4 => SqlValue::Real(f64::from(f32::from_sql(ty, raw)?)),
            Type::NUMERIC => numeric(raw)?,
            Type::BYTEA => SqlValue::Blob(raw.to_vec()),
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                SqlValue::Text(String::from_sql(ty, raw)?)
            }
            _ => {
                return Err(
                    format!("a column of type {ty}, which the read models do not use").into(),
                );
            }
        }))
    }

    fn from_sql_null(_ty: &Type) -> Result<Self, Box<dyn Error + Sync + Send>> {
        Ok(Column(SqlValue::Null))
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }
}

/// Runs one statement: prepared once per connection, or, for a schema change, run as it
/// comes and followed by dropping every connection's prepared statements.
fn run(
    db: &Db,
    client: &mut Conn,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64, postgres::Error> {
    if !changes_schema(sql) {
        return client.execute(sql, params);
    }
    let result = client.execute_once(sql, params);
    db.schema_changed(client);
    result
}

fn bind(params: &[SqlValue]) -> Vec<Param<'_>> {
    params.iter().map(Param).collect()
}

fn refs<'a>(params: &'a [Param<'a>]) -> Vec<&'a (dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

impl SqlTables for PgTables {
    fn dialect(&self) -> SqlDialect {
        SqlDialect::Postgres
    }

    /// Batches carry the read models' DDL: every connection's prepared statements are
    /// dropped after one.
    fn execute_batch(&self, sql: &str) -> Result<(), StoreError> {
        let db = &*self.db;
        db.write(|client| {
            let result = client.batch_execute(sql);
            db.schema_changed(client);
            result?;
            Ok(((), None))
        })
    }

    fn execute(&self, sql: &str, params: &[SqlValue]) -> Result<u64, StoreError> {
        let sql = placeholders(sql);
        let bound = bind(params);
        let db = &*self.db;
        db.write(|client| Ok((run(db, client, &sql, &refs(&bound))?, None)))
    }

    fn apply(&self, statements: &[SqlStatement]) -> Result<u64, StoreError> {
        if statements.is_empty() {
            return Ok(0);
        }
        let translated: Vec<(String, Vec<Param<'_>>)> = statements
            .iter()
            .map(|s| (placeholders(s.sql), bind(&s.params)))
            .collect();
        let db = &*self.db;
        db.write(|client| {
            let mut changed = 0u64;
            for (sql, bound) in &translated {
                changed += run(db, client, sql, &refs(bound))?;
            }
            Ok((changed, None))
        })
    }

    fn query(
        &self,
        sql: &str,
        params: &[SqlValue],
        row: &mut dyn FnMut(&[SqlValue]) -> Result<RowFlow, StoreError>,
    ) -> Result<(), StoreError> {
        let sql = placeholders(sql);
        let bound = bind(params);
        let rows = self
            .db
            .read(|client| Ok(client.query(sql.as_str(), &refs(&bound))?))?;
        let mut buffer = Vec::new();
        for r in rows {
            buffer.clear();
            for i in 0..r.len() {
                let Column(value) = r
                    .try_get(i)
                    .map_err(|e| StoreError::Backend(format!("PostgreSQL: {e}")))?;
                buffer.push(value);
            }
            if row(&buffer)? == RowFlow::Stop {
                break;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_location_names_its_schema() {
        let (url, options) =
            crate::split_location("postgres://u@h/db?schema=tenant_a&connect_timeout=3").unwrap();
        assert_eq!(url, "postgres://u@h/db?connect_timeout=3");
        assert_eq!(options.schema, "tenant_a");
        let (url, options) = crate::split_location("postgres://u@h/db").unwrap();
        assert_eq!(
            (url.as_str(), options.schema.as_str()),
            ("postgres://u@h/db", "opsledger")
        );
        assert!(crate::split_location("postgres://u@h/db?schema=Robert');--").is_err());
    }

    #[test]
    fn placeholders_become_numbered_outside_quotes() {
        assert_eq!(
            placeholders("SELECT a FROM t WHERE b = ?1 AND c = '?2' AND d = ?12"),
            "SELECT a FROM t WHERE b = $1 AND c = '?2' AND d = $12"
        );
        assert_eq!(placeholders("VALUES (?, ?)"), "VALUES ($1, $2)");
    }

    #[test]
    fn numeric_decodes_integers_and_fractions() {
        // 12345678: ndigits 2, weight 1, sign +, scale 0, digits 1234 5678.
        let raw = [0, 2, 0, 1, 0, 0, 0, 0, 0x04, 0xD2, 0x16, 0x2E];
        assert_eq!(numeric(&raw), Ok(SqlValue::Integer(12_345_678)));
        // -1.5: ndigits 2, weight 0, sign -, scale 1, digits 1 5000.
        let raw = [0, 2, 0, 0, 0x40, 0, 0, 1, 0, 1, 0x13, 0x88];
        assert_eq!(numeric(&raw), Ok(SqlValue::Real(-1.5)));
        // 0: no digits.
        let raw = [0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(numeric(&raw), Ok(SqlValue::Integer(0)));
        assert!(numeric(&[0, 1]).is_err());
    }
}
