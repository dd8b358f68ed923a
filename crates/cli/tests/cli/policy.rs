//! The policy from the command line: `serve --policy`, `serve --clock manual`, and
//! `opsledger policy get|validate|diff|publish|history` on a data directory and over HTTP.

use crate::common::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

const ADMIN_TOKEN: &str = "admin-token-0123456789abcdef";
const AGENT_TOKEN: &str = "agent-token-0123456789abcdef";

/// An admin and an agent token.
fn tokens(dir: &Path) -> PathBuf {
    write(
        dir,
        "tokens.json",
        &json!({
            ADMIN_TOKEN: {"actor": "ada", "roles": ["admin"]},
            AGENT_TOKEN: {"actor": "alice", "roles": ["agent"]},
        })
        .to_string(),
    )
}

/// A data directory holding one incident (and the default policy as version 1).
fn one_incident(data: &Path) {
    call_ok(
        &["--data", s(data), "--actor", "alice", "--role", "agent"],
        "incident.open",
        json!({"title": "Disk full", "caller": "bob", "impact": "low", "urgency": "low"}),
    );
}

fn p1_incident() -> Value {
    json!({"title": "Checkout down", "caller": "bob", "impact": "high", "urgency": "high"})
}

fn head(data: &Path) -> u64 {
    call_ok(&["--data", s(data)], "query.stats", json!({}))["head"]
        .as_u64()
        .unwrap()
}

#[test]
fn serve_policy_publishes_once_and_a_restart_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    one_incident(&data);
    let file = write(dir.path(), "policy.toml", &p1_policy("4h", 1));
    let tokens = tokens(dir.path());
    let serve = |extra: &[&str]| {
        let mut args = vec!["--token-file", s(&tokens)];
        args.extend_from_slice(extra);
        Server::start(&data, &args)
    };

    // The file differs from the version in force: published as v2, said in one line.
    let server = serve(&["--policy", s(&file)]);
    let opened = server.rpc("incident.open", p1_incident(), Some(AGENT_TOKEN));
    let number = opened["number"].as_str().unwrap().to_owned();
    let sla = server.rpc("query.sla", json!({"id": number}), Some(AGENT_TOKEN));
    assert_eq!(sla[0]["definition"]["id"], "p1-resolution", "{sla}");
    let (status, log) = server.stop();
    assert!(status.success(), "{log}");
    let line = format!("policy v2 published from {}", file.display());
    assert_eq!(log.matches(&line).count(), 1, "{log}");
    let after_publish = head(&data);

    // A restart without --policy keeps v2.
    let server = serve(&[]);
    let current = server.rpc("policy.get", json!({}), Some(AGENT_TOKEN));
    assert_eq!(current["version"], 2);
    assert_eq!(current["document"]["sla"]["definitions"][0]["target"], "4h");
    assert!(server.stop().0.success());

    // Serving the same file again publishes nothing.
    let server = serve(&["--policy", s(&file)]);
    let versions = server.rpc("policy.history", json!({}), Some(AGENT_TOKEN));
    assert_eq!(versions.as_array().unwrap().len(), 2, "{versions}");
    let (status, log) = server.stop();
    assert!(status.success(), "{log}");
    assert!(
        log.contains(&format!(
            "policy {} is already in force as v2",
            file.display()
        )),
        "{log}"
    );
    assert!(!log.contains("published from"), "{log}");
    assert_eq!(head(&data), after_publish, "nothing was written");
}

#[test]
fn serve_refuses_an_invalid_policy_before_writing_anything() {
    let dir = tempfile::tempdir().unwrap();
    // Two problems of one definition: an empty target and a calendar the policy lacks.
    let bad = p1_policy("0s", 1).replace(r#"{ id = "24x7" }"#, r#"{ id = "nowhere" }"#);
    let file = write(dir.path(), "bad.toml", &bad);
    let data = dir.path().join("data");
    let o = run(&["serve", "--data", s(&data), "--policy", s(&file)]);
    assert_exit(&o, 2);
    let err = stderr(&o);
    assert!(
        err.contains("bad.toml is not a valid policy document (2 problems)"),
        "{err}"
    );
    let issues: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("sla.definitions[0]"))
        .collect();
    assert_eq!(issues.len(), 2, "{err}");
    assert!(!data.exists(), "the data directory must not be created");

    // On an existing directory nothing is written either.
    one_incident(&data);
    let exported = ok(&["export", "--data", s(&data)]);
    let before = tree(&data);
    let o = run(&["serve", "--data", s(&data), "--policy", s(&file)]);
    assert_exit(&o, 2);
    assert_eq!(tree(&data), before);
    assert_eq!(ok(&["export", "--data", s(&data)]), exported);
}

#[test]
fn policy_validate_prints_every_problem_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let bad = p1_policy("0s", 1).replace(r#"{ id = "24x7" }"#, r#"{ id = "nowhere" }"#);
    let file = write(dir.path(), "bad.toml", &bad);
    let data = dir.path().join("data");
    one_incident(&data);
    let tree_before = tree(&data);

    let o = run(&["policy", "validate", "--data", s(&data), s(&file)]);
    assert_exit(&o, 1);
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    for line in &lines {
        assert!(line.starts_with("sla.definitions[0]"), "{out}");
        assert!(line.contains(": "), "{out}");
    }
    assert!(stderr(&o).contains("2 problems"), "{}", stderr(&o));

    // An unknown key deep inside, and an unknown zone, in JSON: named by their paths.
    let typo = write(
        dir.path(),
        "typo.json",
        r#"{"sla": {"calendars": [{"id": "c", "version": 1, "time_zone": "Mars/Olympus"}]}}"#,
    );
    let o = run(&["policy", "validate", "--data", s(&data), s(&typo)]);
    assert_exit(&o, 1);
    assert!(
        stdout(&o).starts_with("sla.calendars[0].time_zone: "),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).contains("Mars/Olympus"), "{}", stdout(&o));

    let good = write(dir.path(), "good.toml", &p1_policy("4h", 1));
    let o = run(&["policy", "validate", "--data", s(&data), s(&good)]);
    assert_exit(&o, 0);
    assert_eq!(
        stdout(&o),
        format!("{}: a valid policy document\n", good.display())
    );
    assert_eq!(tree(&data), tree_before, "validate writes nothing");
}

#[test]
fn policy_publish_get_history_and_diff_on_a_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    one_incident(&data);
    let d = s(&data);
    let file = write(dir.path(), "p1.toml", &p1_policy("4h", 1));
    let f = s(&file);

    // Who publishes must be named, and must hold the permission.
    let o = run(&["policy", "publish", "--data", d, f]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("--actor"), "{}", stderr(&o));
    let o = run(&[
        "policy", "publish", "--data", d, f, "--actor", "alice", "--role", "agent",
    ]);
    assert_exit(&o, 1);
    assert!(
        stderr(&o).contains("alice lacks permission policy_publish"),
        "{}",
        stderr(&o)
    );
    let head_before = head(&data);

    let publish = [
        "policy",
        "publish",
        "--data",
        d,
        f,
        "--actor",
        "ada",
        "--role",
        "admin",
        "--reason",
        "CHG0000042 approved",
    ];
    let out = ok(&publish);
    assert_eq!(
        out,
        format!(
            "policy v2 published from {f} (log position {})\n",
            head_before + 1
        )
    );
    assert_eq!(
        ok(&publish),
        format!("policy {f} is already in force as v2: nothing written\n")
    );
    let o = run(&[
        "policy",
        "publish",
        "--data",
        d,
        f,
        "--actor",
        "ada",
        "--role",
        "admin",
        "--expected-version",
        "1",
    ]);
    assert_exit(&o, 1);
    assert!(
        stderr(&o).contains("expected version 1, actual 2"),
        "{}",
        stderr(&o)
    );
    assert_eq!(head(&data), head_before + 1);

    // get: TOML by default, with a header naming the version; JSON on request; as of an
    // instant before the publication, the version then in force.
    let toml = ok(&["policy", "get", "--data", d]);
    assert!(toml.starts_with("# policy v2, in force from "), "{toml}");
    assert!(
        toml.contains("# published by ada: CHG0000042 approved"),
        "{toml}"
    );
    assert!(toml.contains(r#"id = "p1-resolution""#), "{toml}");
    let first: Value = serde_json::from_str(&ok(&[
        "policy",
        "get",
        "--data",
        d,
        "--version",
        "1",
        "--format",
        "json",
    ]))
    .unwrap();
    assert_eq!(first["version"], 1);
    assert_eq!(first["sla"]["definitions"], json!([]));
    let versions = call_ok(&["--data", d], "policy.history", json!({}));
    let published_at: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(versions[1]["published_at"].clone()).unwrap();
    let before = (published_at - chrono::Duration::microseconds(1)).to_rfc3339();
    let then = ok(&["policy", "get", "--data", d, "--as-of", &before]);
    assert!(then.starts_with("# policy v1,"), "{then}");
    let o = run(&["policy", "get", "--data", d, "--version", "7"]);
    assert_exit(&o, 1);
    assert!(stderr(&o).contains("policy v7 not found"), "{}", stderr(&o));

    // history: a table, oldest first, with human instants and no ids.
    let table = ok(&["policy", "history", "--data", d]);
    let v1 = table.find("v1").unwrap();
    let v2 = table.find("v2").unwrap();
    assert!(v1 < v2, "{table}");
    assert!(table.contains("CHG0000042 approved"), "{table}");
    assert!(table.contains(" UTC"), "{table}");
    assert!(table.contains("ada"), "{table}");

    // diff: an open P1 incident's target would move under a new definition version.
    call_ok(
        &["--data", d, "--actor", "alice", "--role", "agent"],
        "incident.open",
        p1_incident(),
    );
    let faster = write(
        dir.path(),
        "faster.toml",
        &format!("{}{}", p1_policy("4h", 1), definition("2h", 2)),
    );
    let head_before = head(&data);
    let out = ok(&["policy", "diff", "--data", d, s(&faster)]);
    assert!(
        out.starts_with(&format!(
            "{} against v2, the version in force (1 changed):\n",
            faster.display()
        )),
        "{out}"
    );
    assert!(
        out.contains(r#"  sla.definitions[p1-resolution v2]: added "P1 resolution: 2h""#),
        "{out}"
    );
    let moved = out
        .lines()
        .find(|l| l.starts_with("  INC0000002 resolution: "))
        .unwrap_or_else(|| panic!("no moved target: {out}"));
    assert!(
        moved.contains("(p1-resolution@v1), 4h, due ")
            && moved.contains(" -> P1 resolution: 2h (p1-resolution@v2), 2h, due "),
        "{moved}"
    );
    assert!(!out.contains("-0000-"), "no UUIDs: {out}");
    let same = ok(&["policy", "diff", "--data", d, f]);
    assert_eq!(
        same,
        format!("{f} equals v2, the version in force: publishing it would change nothing\n")
    );
    assert_eq!(head(&data), head_before, "diff writes nothing");
}

#[test]
fn policy_commands_over_http_and_a_manual_clock() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let tokens = tokens(dir.path());
    let server = Server::start(&data, &["--token-file", s(&tokens), "--clock", "manual"]);
    let url = server.base();
    let file = write(dir.path(), "p1.toml", &p1_policy("4h", 1));
    let remote = |args: &[&str], token: &str| {
        let mut all: Vec<&str> = vec!["policy"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--url", &url, "--token", token]);
        run(&all)
    };

    // The token decides who publishes: the agent may not, the admin may.
    let o = remote(&["publish", s(&file)], AGENT_TOKEN);
    assert_exit(&o, 1);
    assert!(stderr(&o).contains("policy_publish"), "{}", stderr(&o));
    let o = remote(
        &["publish", s(&file), "--reason", "SLA for P1"],
        ADMIN_TOKEN,
    );
    assert_exit(&o, 0);
    assert!(
        stdout(&o).starts_with(&format!("policy v2 published from {}", file.display())),
        "{}",
        stdout(&o)
    );
    let o = remote(&["history"], AGENT_TOKEN);
    assert_exit(&o, 0);
    assert!(stdout(&o).contains("SLA for P1"), "{}", stdout(&o));
    let o = remote(&["get", "--format", "json"], AGENT_TOKEN);
    assert_exit(&o, 0);
    let document: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(document["sla"]["definitions"][0]["target"], "4h");
    let bad = write(
        dir.path(),
        "bad.toml",
        "[incident]\nauto_close_after_dayz = 3\n",
    );
    let o = remote(&["validate", s(&bad)], AGENT_TOKEN);
    assert_exit(&o, 1);
    assert!(
        stdout(&o).starts_with("incident.auto_close_after_dayz: "),
        "{}",
        stdout(&o)
    );

    // The manual clock: a P1 incident breaches once the admin moves time past its target.
    let opened = server.rpc("incident.open", p1_incident(), Some(AGENT_TOKEN));
    let number = opened["number"].as_str().unwrap();
    let sla = server.rpc("query.sla", json!({"id": number}), Some(AGENT_TOKEN));
    let due: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(sla[0]["due_at"].clone()).unwrap();
    let later = due + chrono::Duration::minutes(1);
    let (_, body) = server.post(
        json!({"jsonrpc": "2.0", "id": 1, "method": "admin.set_clock",
               "params": {"now": later}})
        .to_string(),
        Some(AGENT_TOKEN),
    );
    assert!(body.contains("forbidden"), "{body}");
    let set = server.rpc("admin.set_clock", json!({"now": later}), Some(ADMIN_TOKEN));
    assert_eq!(set["now"], json!(later));
    let tick = server.rpc("admin.tick", json!({}), Some(ADMIN_TOKEN));
    assert_eq!(tick["breaches_recorded"], 1, "{tick}");
    let sla = server.rpc("query.sla", json!({"id": number}), Some(AGENT_TOKEN));
    assert_eq!(sla[0]["breached"], json!(due), "{sla}");
    assert!(server.stop().0.success());

    // Without --clock manual the server refuses to set its time.
    let server = Server::start(&data, &["--token-file", s(&tokens)]);
    let (_, body) = server.post(
        json!({"jsonrpc": "2.0", "id": 1, "method": "admin.set_clock",
               "params": {"now": later + chrono::Duration::hours(1)}})
        .to_string(),
        Some(ADMIN_TOKEN),
    );
    assert!(body.contains("not_supported"), "{body}");
    assert!(server.stop().0.success());
}

#[test]
fn a_manual_clock_is_refused_on_a_public_address() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = tokens(dir.path());
    let data = dir.path().join("data");
    for listen in ["0.0.0.0:0", "[::]:0"] {
        let o = run(&[
            "serve",
            "--data",
            s(&data),
            "--listen",
            listen,
            "--token-file",
            s(&tokens),
            "--clock",
            "manual",
        ]);
        assert_exit(&o, 2);
        assert!(
            stderr(&o).contains("refusing --clock manual"),
            "{}",
            stderr(&o)
        );
    }
    assert!(!data.exists(), "the data directory must not be created");
}
