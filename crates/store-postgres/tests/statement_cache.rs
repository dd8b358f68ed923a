//! Prepared statements are kept per connection: a schema change (made through this process
//! or by another one) and a replaced connection never leave a stale statement behind.

use std::time::Duration;

use opsledger_store::contract::{evs, stream};
use opsledger_store::{
    ExpectedVersion, RowFlow, SqlTables, SqlValue, Storage, StoreConfig, StoreError, Version,
};
use opsledger_store_postgres::PgStorage;
use opsledger_store_postgres::testing::{TestSchema, test_url};
use postgres::NoTls;

/// The rows of `sql`, through the read models' SQL seam.
fn rows(tables: &dyn SqlTables, sql: &str) -> Result<Vec<Vec<SqlValue>>, StoreError> {
    let mut out = Vec::new();
    tables.query(sql, &[], &mut |row| {
        out.push(row.to_vec());
        Ok(RowFlow::Continue)
    })?;
    Ok(out)
}

fn another_replica(url: &str, schema: &TestSchema, sql: &str) {
    let mut client = postgres::Client::connect(url, NoTls).unwrap();
    client
        .batch_execute(&format!("SET search_path TO \"{}\"; {sql}", schema.name))
        .unwrap();
}

#[test]
fn a_schema_change_between_two_uses_of_a_statement_is_seen() {
    let Some(url) = test_url() else { return };
    let schema = TestSchema::new(&url, "ddl");
    let storage = PgStorage::open(&url, StoreConfig::default(), schema.options()).unwrap();
    let tables = storage.tables().unwrap();
    tables
        .execute_batch("CREATE TABLE items (id BIGINT PRIMARY KEY)")
        .unwrap();
    tables
        .execute(
            "INSERT INTO items (id) VALUES (?1)",
            &[SqlValue::Integer(1)],
        )
        .unwrap();
    let all = "SELECT * FROM items ORDER BY id";
    assert_eq!(
        rows(&*tables, all).unwrap(),
        vec![vec![SqlValue::Integer(1)]]
    );

    // Through this process: every connection drops its statements, the unit's one included.
    let unit = storage.begin_unit().unwrap();
    tables
        .execute_batch("ALTER TABLE items ADD COLUMN name TEXT NOT NULL DEFAULT 'a'")
        .unwrap();
    assert_eq!(
        rows(&*tables, all).unwrap(),
        vec![vec![SqlValue::Integer(1), SqlValue::Text("a".into())]]
    );
    unit.commit().unwrap();
    let two_columns = vec![vec![SqlValue::Integer(1), SqlValue::Text("a".into())]];
    assert_eq!(rows(&*tables, all).unwrap(), two_columns);

    // By another replica: a read prepares the statement again and answers the new columns.
    another_replica(
        &url,
        &schema,
        "ALTER TABLE items ADD COLUMN size BIGINT DEFAULT 7",
    );
    let three_columns = vec![vec![
        SqlValue::Integer(1),
        SqlValue::Text("a".into()),
        SqlValue::Integer(7),
    ]];
    assert_eq!(rows(&*tables, all).unwrap(), three_columns);

    // A write outside a unit runs again by itself.
    let touch = "UPDATE items SET id = id RETURNING *";
    assert_eq!(tables.execute(touch, &[]).unwrap(), 1);
    another_replica(&url, &schema, "ALTER TABLE items DROP COLUMN size");
    assert_eq!(tables.execute(touch, &[]).unwrap(), 1);

    // Inside a unit the refusal aborted the transaction: it is transient, and the next
    // attempt (the engine retries transient failures) succeeds.
    let unit = storage.begin_unit().unwrap();
    assert_eq!(rows(&*tables, all).unwrap(), two_columns);
    unit.commit().unwrap();
    another_replica(
        &url,
        &schema,
        "ALTER TABLE items ADD COLUMN size BIGINT DEFAULT 8",
    );
    let unit = storage.begin_unit().unwrap();
    let error = rows(&*tables, all).unwrap_err();
    assert!(matches!(error, StoreError::Transient(_)), "{error}");
    drop(unit);
    let unit = storage.begin_unit().unwrap();
    assert_eq!(
        rows(&*tables, all).unwrap(),
        vec![vec![
            SqlValue::Integer(1),
            SqlValue::Text("a".into()),
            SqlValue::Integer(8),
        ]]
    );
    unit.commit().unwrap();
}

#[test]
fn a_replaced_connection_prepares_its_statements_again() {
    let Some(url) = test_url() else { return };
    let schema = TestSchema::new(&url, "replaced");
    let application = schema.name.clone();
    let separator = if url.contains('?') { '&' } else { '?' };
    let tagged = format!("{url}{separator}application_name={application}");
    let storage = PgStorage::open(&tagged, StoreConfig::default(), schema.options()).unwrap();
    let log = storage.log();
    log.append(&stream("s"), ExpectedVersion::NoStream, evs(0..2))
        .unwrap();
    assert_eq!(
        log.read_stream(&stream("s"), Version(1), 10).unwrap().len(),
        2
    );

    // The server ends every session of this store (writer, readers, listener).
    let terminated = postgres::Client::connect(&url, NoTls)
        .unwrap()
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
            &[&application],
        )
        .unwrap()
        .len();
    assert!(terminated >= 2, "{terminated}");
    std::thread::sleep(Duration::from_millis(200));

    // A lost connection may fail its first use (as unavailable); the next one connects again
    // and prepares on the new session instead of naming the old session's statements.
    let mut appended = None;
    for _ in 0..3 {
        match log.append(&stream("s"), ExpectedVersion::Exact(Version(2)), evs(2..3)) {
            Ok(outcome) => {
                appended = Some(outcome);
                break;
            }
            Err(StoreError::Unavailable(_)) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(appended.unwrap().last_version, Version(3));
    let mut read = None;
    for _ in 0..3 {
        match log.read_stream(&stream("s"), Version(1), 10) {
            Ok(events) => {
                read = Some(events);
                break;
            }
            Err(StoreError::Unavailable(_)) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(read.unwrap().len(), 3);
}
