//! TLS to the server: `sslmode=require` and `sslmode=verify-full&sslrootcert=FILE` in the
//! connection string. Runs on the server named by `OPSLEDGER_PG_URL`, which must accept TLS
//! with a certificate signed by the authority in `OPSLEDGER_PG_CA` (`.ci/postgres.sh` starts
//! one so); without that variable outside CI the TLS checks say so and skip.

use opsledger_store::contract::{ev, stream};
use opsledger_store::{EventStore, ExpectedVersion, Position, StoreConfig, StoreError};
use opsledger_store_postgres::PgStore;
use opsledger_store_postgres::testing::{TestSchema, test_url, unique_schema};
use postgres::NoTls;

/// The test server and the certificate of the authority that signed its certificate.
fn server() -> Option<(String, String)> {
    let url = test_url()?;
    match std::env::var("OPSLEDGER_PG_CA") {
        Ok(ca) if !ca.is_empty() => Some((url, ca)),
        _ if std::env::var_os("CI").is_some() => {
            panic!("OPSLEDGER_PG_CA is not set, and CI must run the TLS tests (.ci/postgres.sh)")
        }
        _ => {
            eprintln!(
                "\n*** SKIPPED: OPSLEDGER_PG_CA is not set, so this TLS test did not run. Start \
                 a server with .ci/postgres.sh (start_postgres sets it). ***\n"
            );
            None
        }
    }
}

fn with(url: &str, extra: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{extra}")
}

/// Whether every session of the server named `application` is encrypted, and how many there are.
fn sessions(url: &str, application: &str) -> (i64, i64) {
    let mut client = postgres::Client::connect(url, NoTls).unwrap();
    let row = client
        .query_one(
            "SELECT count(*), count(*) FILTER (WHERE s.ssl) FROM pg_stat_activity a \
             JOIN pg_stat_ssl s USING (pid) WHERE a.application_name = $1",
            &[&application],
        )
        .unwrap();
    (row.get(0), row.get(1))
}

/// Writes and reads through a store opened at `location`; every session it opened is encrypted.
fn round_trip_encrypted(url: &str, location: &str, application: &str) {
    let schema = TestSchema::new(url, "tls");
    let store = PgStore::open(location, StoreConfig::default(), schema.options()).unwrap();
    store
        .append(&stream("tls"), ExpectedVersion::NoStream, vec![ev(1)])
        .unwrap();
    let read = store.read_all(Position(1), 10).unwrap();
    assert_eq!(read.len(), 1);
    let (total, encrypted) = sessions(url, application);
    assert!(total >= 1, "no session of {application}");
    assert_eq!(
        encrypted, total,
        "a session of {application} is not encrypted"
    );
    drop(store);
}

#[test]
fn verify_full_connects_through_tls_checked_against_the_authority() {
    let Some((url, ca)) = server() else { return };
    let application = unique_schema("verify_full");
    let location = with(
        &url,
        &format!("sslmode=verify-full&sslrootcert={ca}&application_name={application}"),
    );
    round_trip_encrypted(&url, &location, &application);
}

#[test]
fn require_connects_through_tls() {
    let Some((url, _)) = server() else { return };
    let application = unique_schema("require");
    let location = with(
        &url,
        &format!("sslmode=require&application_name={application}"),
    );
    round_trip_encrypted(&url, &location, &application);
    // Without sslmode the same server is reached in clear (TLS only when asked).
    let plain = unique_schema("plain");
    let schema = TestSchema::new(&url, "tls_plain");
    let store = PgStore::open(
        &with(&url, &format!("application_name={plain}")),
        StoreConfig::default(),
        schema.options(),
    )
    .unwrap();
    let (total, encrypted) = sessions(&url, &plain);
    assert!(total >= 1);
    assert_eq!(encrypted, 0);
    drop(store);
}

#[test]
fn a_server_signed_by_another_authority_is_refused() {
    let Some((url, _)) = server() else { return };
    // Another authority, made for this test.
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other.crt");
    let status = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=another authority", "-keyout"])
        .arg(dir.path().join("other.key"))
        .arg("-out")
        .arg(&other)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(status.success());
    let schema = TestSchema::new(&url, "tls_refused");
    let location = with(
        &url,
        &format!("sslmode=verify-full&sslrootcert={}", other.display()),
    );
    match PgStore::open(&location, StoreConfig::default(), schema.options()) {
        Err(StoreError::Unavailable(why)) => {
            assert!(why.to_lowercase().contains("certificate"), "{why}")
        }
        Err(e) => panic!("expected the server to be unavailable, got {e}"),
        Ok(_) => panic!("a server signed by another authority was accepted"),
    }
}

#[test]
fn tls_settings_that_cannot_work_are_typed_errors() {
    // No server is needed: the connection string is refused before connecting.
    let base = "postgres://opsledger@127.0.0.1:1/opsledger";
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    for (extra, says) in [
        ("sslmode=verify-full", "sslrootcert"),
        ("sslmode=verify-ca", "not supported"),
        ("sslmode=allow", "not supported"),
        (
            "sslmode=verify-full&sslrootcert=/nonexistent/ca.crt",
            "/nonexistent/ca.crt",
        ),
        (
            &format!("sslmode=verify-full&sslrootcert={}", empty.display()),
            "no certificate",
        ),
        ("sslmode=require&sslrootcert=/x.crt", "verify-full"),
        ("sslrootcert=/x.crt", "verify-full"),
    ] {
        let location = with(base, extra);
        match PgStore::open(&location, StoreConfig::default(), Default::default()) {
            Err(StoreError::InvalidConfig(why)) => assert!(why.contains(says), "{extra}: {why}"),
            Err(e) => panic!("{extra}: expected an invalid configuration, got {e}"),
            Ok(_) => panic!("{extra}: accepted"),
        }
    }
}
