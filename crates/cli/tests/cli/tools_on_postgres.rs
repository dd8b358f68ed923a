//! The operator's tools on a PostgreSQL database (`--store URL`): verify, export, import, kpi,
//! rebuild and backup, beside a server using the database. Runs on the server named by
//! `OPSLEDGER_PG_URL`, in schemas of its own.

use crate::common::*;
use opsledger_store_postgres::testing::{TestSchema, test_url};
use serde_json::{Value, json};
use std::path::Path;

fn in_schema(url: &str, schema: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}schema={schema}")
}

fn schema_exists(url: &str, schema: &str) -> bool {
    opsledger_store_postgres::admin::schema_exists(url, schema).unwrap()
}

/// A server on `store` with three incidents, one of them resolved.
fn server_with_incidents(store: &str, tokens: &Path) -> Server {
    let server = Server::start_store(store, &["--token-file", s(tokens)]);
    for title in ["Checkout fails", "Search is slow", "VPN drops"] {
        server.rpc(
            "incident.open",
            json!({"title": title, "caller": "bob", "impact": "low", "urgency": "low",
                   "assignee": "alice"}),
            Some(ALICE_TOKEN),
        );
    }
    server.rpc(
        "incident.resolve",
        json!({"id": "INC0000001", "code": "solved_workaround", "notes": "Rolled back"}),
        Some(ALICE_TOKEN),
    );
    server
}

#[test]
fn verify_export_import_kpi_and_rebuild_take_a_database_url() {
    let Some(url) = test_url() else { return };
    let _server = postgres_shared();
    let source = TestSchema::new(&url, "tools");
    let store = in_schema(&url, &source.name);
    let dir = tempfile::tempdir().unwrap();
    let tokens = write_tokens(dir.path());
    // The tools run beside a server using the database.
    let server = server_with_incidents(&store, &tokens);

    let report = ok(&["verify", "--store", &store]);
    assert!(report.contains("verify: OK"), "{report}");
    // Through TLS, the server's certificate verified (when the server offers it: .ci/postgres.sh).
    if let Ok(ca) = std::env::var("OPSLEDGER_PG_CA") {
        let tls = format!("{store}&sslmode=verify-full&sslrootcert={ca}");
        assert!(ok(&["verify", "--store", &tls]).contains("verify: OK"));
        let o = run(&["verify", "--store", &format!("{store}&sslmode=verify-ca")]);
        assert_exit(&o, 3);
        assert!(stderr(&o).contains("not supported"), "{}", stderr(&o));
    }
    assert!(
        report.contains(&format!("schema {}", source.name)),
        "{report}"
    );
    assert!(reported(&report, "events checked") >= 5, "{report}");

    let kpis: Value = serde_json::from_str(&ok(&["kpi", "--store", &store, "--json"])).unwrap();
    assert_eq!(kpis["groups"][0]["backlog"]["size"], 2, "{kpis}");
    assert_eq!(kpis["groups"][0]["mttr"]["count"], 1, "{kpis}");

    // Export to stdout and to a file: the same lines, one per event.
    let exported = ok(&["export", "--store", &store]);
    let file = dir.path().join("events.jsonl");
    let o = run(&["export", "--store", &store, "--out", s(&file)]);
    assert_exit(&o, 0);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), exported);
    let head = server.rpc(
        "events.read",
        json!({"after": 0, "max": 1}),
        Some(ALICE_TOKEN),
    )["head"]
        .as_u64()
        .unwrap();
    assert_eq!(exported.lines().count() as u64, head);

    // Import into a new schema: exported again, the same bytes.
    let copy = TestSchema::new(&url, "imported");
    let copy_store = in_schema(&url, &copy.name);
    let o = run(&["import", "--store", &copy_store, s(&file)]);
    assert_exit(&o, 0);
    assert!(stderr(&o).contains("into "), "{}", stderr(&o));
    assert!(schema_exists(&url, &copy.name));
    assert!(!schema_exists(&url, &format!("{}_partial", copy.name)));
    assert_eq!(ok(&["export", "--store", &copy_store]), exported);
    // An existing schema is never imported into.
    let o = run(&["import", "--store", &copy_store, s(&file)]);
    assert_exit(&o, 3);
    assert!(stderr(&o).contains("it exists"), "{}", stderr(&o));
    assert_eq!(ok(&["export", "--store", &copy_store]), exported);
    // A bad file writes nothing: no schema, no partial one.
    let bad = write(dir.path(), "bad.jsonl", "{\"position\": 1}\n");
    let other = TestSchema::new(&url, "bad_import");
    let o = run(&["import", "--store", &in_schema(&url, &other.name), s(&bad)]);
    assert_exit(&o, 2);
    assert!(!schema_exists(&url, &other.name));
    assert!(!schema_exists(&url, &format!("{}_partial", other.name)));

    // Rebuild the copy's read models (no server uses it), then it verifies and answers.
    let o = run(&["rebuild", "--store", &copy_store]);
    assert_exit(&o, 0);
    assert!(
        stdout(&o).contains(&format!("from {head} events")),
        "{}",
        stdout(&o)
    );
    assert!(ok(&["verify", "--store", &copy_store]).contains("verify: OK"));
    let kpis: Value =
        serde_json::from_str(&ok(&["kpi", "--store", &copy_store, "--json"])).unwrap();
    assert_eq!(kpis["groups"][0]["backlog"]["size"], 2, "{kpis}");

    let (status, _) = server.stop();
    assert!(status.success());
}

#[test]
fn a_missing_schema_or_a_bad_url_is_refused_and_nothing_is_created() {
    let Some(url) = test_url() else { return };
    let _server = postgres_shared();
    let missing = TestSchema::new(&url, "missing");
    let store = in_schema(&url, &missing.name);
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec!["verify", "--store", &store],
        vec!["export", "--store", &store],
        vec!["kpi", "--store", &store],
        vec!["rebuild", "--store", &store],
        vec!["backup", "--store", &store, s(&dir.path().join("copy"))],
    ] {
        let o = run(&args);
        assert_exit(&o, 3);
        assert!(
            stderr(&o).contains("holds no opsledger data"),
            "{args:?}: {}",
            stderr(&o)
        );
        assert!(!schema_exists(&url, &missing.name), "{args:?} created it");
    }
    assert!(!dir.path().join("copy").exists());
    // An empty schema (created beforehand by an administrator) holds no data either, and the
    // tools create no table in it.
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    client
        .batch_execute(&format!("CREATE SCHEMA \"{}\"", missing.name))
        .unwrap();
    for args in [
        vec!["verify", "--store", &store],
        vec!["kpi", "--store", &store],
    ] {
        let o = run(&args);
        assert_exit(&o, 3);
        assert!(
            stderr(&o).contains("holds no opsledger data"),
            "{args:?}: {}",
            stderr(&o)
        );
    }
    let tables: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE schemaname = $1",
            &[&missing.name],
        )
        .unwrap()
        .get(0);
    assert_eq!(tables, 0, "a table was created in the empty schema");
    // --store takes a database URL; a directory goes in --data, and not both.
    let o = run(&["verify", "--store", s(dir.path())]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("postgres://"), "{}", stderr(&o));
    let o = run(&["verify", "--store", &store, "--data", s(dir.path())]);
    assert_exit(&o, 2);
    // A schema name the store refuses is a usage error.
    let o = run(&["verify", "--store", &in_schema(&url, "no;such")]);
    assert_exit(&o, 2);
    // A server that does not answer is a data error that names it without the password.
    let o = run(&[
        "verify",
        "--store",
        "postgres://alice:s3cret@127.0.0.1:1/opsledger",
    ]);
    assert_exit(&o, 3);
    assert!(!stderr(&o).contains("s3cret"), "{}", stderr(&o));
}

#[test]
fn backup_of_a_database_under_load_is_one_commit_of_its_log() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let Some(url) = test_url() else { return };
    let _server = postgres_shared();
    let source = TestSchema::new(&url, "backup");
    let store = in_schema(&url, &source.name);
    let dir = tempfile::tempdir().unwrap();
    let tokens = write_tokens(dir.path());
    let server = server_with_incidents(&store, &tokens);
    // A writer keeps the server busy while the backup runs.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let base = server.base();
        std::thread::spawn(move || {
            let client = client();
            let mut written = 0u32;
            while !stop.load(Ordering::Acquire) || written < 10 {
                let body = json!({"jsonrpc": "2.0", "method": "incident.open", "id": 1,
                    "params": {"title": format!("Load {written}"), "caller": "bob",
                               "impact": "low", "urgency": "low"}});
                let reply = client
                    .post(format!("{base}/rpc"))
                    .bearer_auth(ALICE_TOKEN)
                    .header("content-type", "application/json")
                    .body(body.to_string())
                    .send()
                    .unwrap()
                    .text()
                    .unwrap();
                assert!(reply.contains("\"result\""), "{reply}");
                written += 1;
            }
            written
        })
    };
    let out = dir.path().join("backup");
    let o = run(&["backup", "--store", &store, s(&out)]);
    stop.store(true, Ordering::Release);
    let written = writer.join().unwrap();
    assert_exit(&o, 0);
    let report = stdout(&o);
    assert!(report.contains("(postgres)"), "{report}");
    assert!(!dir.path().join("backup.partial").exists());
    // The copy is a data directory that verifies, and its log is a prefix of the database's
    // (the database as it was at one commit), byte for byte through export.
    assert!(ok(&["verify", "--data", s(&out)]).contains("verify: OK"));
    let copied = ok(&["export", "--data", s(&out)]);
    let all = ok(&["export", "--store", &store]);
    let events = reported(&report, "events") as usize;
    assert_eq!(copied.lines().count(), events);
    assert!(events >= 5, "{report}");
    assert!(written >= 10);
    assert!(
        all.starts_with(&copied),
        "the backup is not a prefix of the log"
    );
    // Another backup into the same directory is refused; nothing is written.
    let o = run(&["backup", "--store", &store, s(&out)]);
    assert_exit(&o, 3);
    assert_eq!(ok(&["export", "--data", s(&out)]), copied);
    let (status, _) = server.stop();
    assert!(status.success());
}
