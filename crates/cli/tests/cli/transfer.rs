//! export / import / verify / rebuild / kpi on data directories written by the engine.

use crate::common::*;
use opsledger::{Engine, EngineConfig};
use serde_json::Value;

fn empty2(dir: &tempfile::TempDir) -> std::path::PathBuf {
    let p = dir.path().join("empty2");
    std::fs::create_dir_all(&p).unwrap();
    p
}

#[test]
fn export_import_export_is_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    build(&a, 9);
    let first = dir.path().join("first.jsonl");
    let o = run(&["export", "--data", s(&a), "--out", s(&first)]);
    assert_exit(&o, 0);
    let first_bytes = std::fs::read(&first).unwrap();
    let lines: Vec<Value> = first_bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert!(lines.len() > 20, "{} events", lines.len());
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line["position"], i as u64 + 1);
        for field in [
            "stream",
            "version",
            "event_id",
            "event_type",
            "schema_version",
            "occurred_at",
            "recorded_at",
            "actor",
            "payload",
        ] {
            assert!(line.get(field).is_some(), "{field} missing in {line}");
        }
    }
    // stdout export is the same as the file.
    assert_eq!(
        ok(&["export", "--data", s(&a)]).as_bytes(),
        &first_bytes[..]
    );

    let o = run(&["import", "--data", s(&b), s(&first)]);
    assert_exit(&o, 0);
    assert!(
        stderr(&o).contains(&format!("imported {} events", lines.len())),
        "{}",
        stderr(&o)
    );
    let second = ok(&["export", "--data", s(&b)]);
    assert!(
        second.as_bytes() == &first_bytes[..],
        "export -> import -> export differs"
    );

    // The imported directory is a working engine: verified, queryable, and its projections
    // answer like the original's.
    let v = ok(&["verify", "--data", s(&b)]);
    assert!(v.contains("verify: OK"), "{v}");
    let kpi_a: Value = serde_json::from_str(&ok(&[
        "kpi",
        "--data",
        s(&a),
        "--json",
        // As of a fixed instant: a live report measures backlog ages at the moment it runs.
        "--as-of",
        "2100-01-01T00:00:00Z",
    ]))
    .unwrap();
    let kpi_b: Value = serde_json::from_str(&ok(&[
        "kpi",
        "--data",
        s(&b),
        "--json",
        // As of a fixed instant: a live report measures backlog ages at the moment it runs.
        "--as-of",
        "2100-01-01T00:00:00Z",
    ]))
    .unwrap();
    assert_eq!(kpi_a, kpi_b);
    let engine = Engine::open(&b, EngineConfig::default()).unwrap();
    let view = engine.view(None).unwrap();
    let record = view
        .find("INC0000001")
        .unwrap()
        .expect("INC0000001 after import");
    assert_eq!(record.status.name(), "resolved");
    drop(view);
    engine.close().unwrap();
}

#[test]
fn import_refuses_a_non_empty_directory_and_bad_files_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    build(&a, 2);
    let file = dir.path().join("events.jsonl");
    assert_exit(&run(&["export", "--data", s(&a), "--out", s(&file)]), 0);

    // Into a directory with data in it, or with any file in it.
    let before = tree(&a);
    let o = run(&["import", "--data", s(&a), s(&file)]);
    assert_exit(&o, 3);
    assert!(stderr(&o).contains("not empty"), "{}", stderr(&o));
    assert_eq!(tree(&a), before);
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("notes.txt"), "mine").unwrap();
    assert_exit(&run(&["import", "--data", s(&other), s(&file)]), 3);
    assert_eq!(tree(&other).len(), 1);

    // Into an empty directory: fine.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    assert_exit(&run(&["import", "--data", s(&empty), s(&file)]), 0);

    // Broken files: nothing is created.
    let text = std::fs::read_to_string(&file).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    let target = dir.path().join("never");
    let cases: Vec<(&str, String)> = vec![
        ("garbage", format!("{}\nnot json\n", lines[0])),
        ("gap", format!("{}\n{}\n", lines[0], lines[2])),
        ("unknown field", lines[0].replacen('{', r#"{"extra":1,"#, 1)),
        ("twice", format!("{}\n{}\n", lines[0], lines[0])),
        (
            "truncated",
            String::from_utf8_lossy(&text.as_bytes()[..text.len() / 2]).into_owned(),
        ),
    ];
    for (what, content) in cases {
        let bad = dir.path().join("bad.jsonl");
        std::fs::write(&bad, content).unwrap();
        let o = run(&["import", "--data", s(&target), s(&bad)]);
        assert_exit(&o, 2);
        assert!(stderr(&o).contains("line "), "{what}: {}", stderr(&o));
        assert!(!target.exists(), "{what}: the target was created");
    }
    let o = run(&[
        "import",
        "--data",
        s(&target),
        s(&dir.path().join("missing.jsonl")),
    ]);
    assert_exit(&o, 2);
    assert!(!target.exists());
    // A well-formed log the engine cannot read (a payload that is no incident event): the log
    // is written, the projections fail, and everything is removed again.
    let unreadable = dir.path().join("unreadable.jsonl");
    std::fs::write(
        &unreadable,
        r#"{"position":1,"stream":"incident-0190f2a4-0000-7000-8000-000000000001","version":1,"event_id":"00000000-0000-7000-8000-000000000001","event_type":"incident.opened","schema_version":1,"occurred_at":"2026-01-01T00:00:00Z","recorded_at":"2026-01-01T00:00:00Z","actor":"x","correlation_id":null,"causation_id":null,"payload":{"nonsense":true}}"#,
    )
    .unwrap();
    let o = run(&["import", "--data", s(&target), s(&unreadable)]);
    assert_exit(&o, 3);
    assert!(stderr(&o).contains("position 1"), "{}", stderr(&o));
    assert!(!target.exists());
    let o = run(&["import", "--data", s(&empty2(&dir)), s(&unreadable)]);
    assert_exit(&o, 3);
    assert!(
        tree(&dir.path().join("empty2")).is_empty(),
        "an empty target stays empty"
    );
    // Lines reordered: positions must be dense and in order.
    lines.swap(0, 1);
    let bad = dir.path().join("swapped.jsonl");
    std::fs::write(&bad, lines.join("\n")).unwrap();
    assert_exit(&run(&["import", "--data", s(&target), s(&bad)]), 2);
    assert!(!target.exists());
}

#[test]
fn verify_reports_a_damaged_copy() {
    let dir = tempfile::tempdir().unwrap();
    let (good, bad) = (dir.path().join("good"), dir.path().join("bad"));
    build(&good, 4);
    let report = ok(&["verify", "--data", s(&good)]);
    assert!(report.contains("faults              0"), "{report}");
    assert!(report.contains("verify: OK"), "{report}");

    copy_dir(&good, &bad);
    damage_record(&bad, 3);
    let o = run(&["verify", "--data", s(&bad)]);
    assert_exit(&o, 1);
    let report = stdout(&o);
    assert!(report.contains("verify: FAILED"), "{report}");
    assert!(report.contains("position 3: corrupt record"), "{report}");
    // Export refuses to write a damaged log.
    let out = dir.path().join("x.jsonl");
    let o = run(&["export", "--data", s(&bad), "--out", s(&out)]);
    assert_exit(&o, 3);
    assert!(!out.exists(), "a partial export was left behind");
}

#[test]
fn rebuild_kpi_and_missing_directories() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    build(&a, 6);
    let out = ok(&["rebuild", "--data", s(&a)]);
    assert!(out.contains("rebuilt the projections"), "{out}");
    let table = ok(&["kpi", "--data", s(&a)]);
    for needle in ["MTTR (resolve)", "Backlog (open incidents)", "all"] {
        assert!(table.contains(needle), "{needle}: {table}");
    }
    let by_priority = ok(&["kpi", "--data", s(&a), "--group-by", "priority"]);
    assert!(
        by_priority.contains("P1") || by_priority.contains("p1"),
        "{by_priority}"
    );
    let json: Value = serde_json::from_str(&ok(&["kpi", "--data", s(&a), "--json"])).unwrap();
    assert_eq!(json["groups"][0]["backlog"]["size"], 4);
    // As of the epoch: nothing had happened.
    let o = run(&[
        "kpi",
        "--data",
        s(&a),
        "--as-of",
        "1971-01-01T00:00:00Z",
        "--from",
        "1970-01-01T00:00:00Z",
        "--to",
        "1971-01-01T00:00:00Z",
    ]);
    assert_exit(&o, 0);
    // A window that ends before it starts.
    let o = run(&[
        "kpi",
        "--data",
        s(&a),
        "--from",
        "2030-01-01T00:00:00Z",
        "--to",
        "2020-01-01T00:00:00Z",
    ]);
    assert_exit(&o, 2);

    let missing = dir.path().join("missing");
    for cmd in ["verify", "rebuild", "kpi", "export"] {
        let o = run(&[cmd, "--data", s(&missing)]);
        assert_exit(&o, 3);
        assert!(
            stderr(&o).contains("does not exist"),
            "{cmd}: {}",
            stderr(&o)
        );
    }
    assert!(!missing.exists());
}

#[test]
fn a_directory_in_use_is_read_but_never_written_by_another_process() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    build(&a, 2);
    let server = Server::start(&a, &[]);
    // Reading works beside the server: export, verify and kpi read a consistent state.
    let out = dir.path().join("live.jsonl");
    ok(&["export", "--data", s(&a), "--out", s(&out)]);
    let exported = std::fs::read_to_string(&out).unwrap();
    assert!(exported.lines().count() >= 2, "{exported}");
    let report = ok(&["verify", "--data", s(&a)]);
    assert!(report.contains("verify: OK"), "{report}");
    let table = ok(&["kpi", "--data", s(&a)]);
    assert!(table.contains("Backlog (open incidents)"), "{table}");
    // Writing is refused with a hint, and changes nothing.
    let o = run(&["rebuild", "--data", s(&a)]);
    assert_exit(&o, 3);
    assert!(
        stderr(&o).contains("opsledger call --url"),
        "{}",
        stderr(&o)
    );
    assert!(server.stop().0.success());
    let after = dir.path().join("after.jsonl");
    ok(&["export", "--data", s(&a), "--out", s(&after)]);
    assert_eq!(std::fs::read_to_string(&after).unwrap(), exported);
}

#[test]
fn payloads_round_trip_verbatim_json_or_hex() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("crafted.jsonl");
    // Exactly what export writes: spacing inside a JSON payload is kept byte for byte, and a
    // payload that is not JSON travels as hex. Two events share an instant (one append).
    let crafted = concat!(
        r#"{"position":1,"stream":"ext-a","version":1,"event_id":"00000000-0000-7000-8000-000000000001","event_type":"ext.raw","schema_version":1,"occurred_at":"2026-01-01T00:00:00Z","recorded_at":"2026-01-01T00:00:00.000000001Z","actor":"importer","correlation_id":null,"causation_id":null,"payload_hex":"00ff0a7b"}"#,
        "\n",
        r#"{"position":2,"stream":"ext-b","version":1,"event_id":"00000000-0000-7000-8000-000000000002","event_type":"ext.json","schema_version":3,"occurred_at":"2025-12-31T23:59:59.500Z","recorded_at":"2026-01-01T00:00:00.000000001Z","actor":"importer","correlation_id":"00000000-0000-7000-8000-00000000000c","causation_id":"00000000-0000-7000-8000-000000000001","payload":{"a": [1, 2.50, "é\n"], "b" : null}}"#,
        "\n",
        r#"{"position":3,"stream":"ext-a","version":2,"event_id":"00000000-0000-7000-8000-000000000003","event_type":"ext.json","schema_version":1,"occurred_at":"2026-01-02T00:00:00Z","recorded_at":"2026-01-02T00:00:00Z","actor":"importer","correlation_id":null,"causation_id":null,"payload":null}"#,
        "\n",
    );
    std::fs::write(&file, crafted).unwrap();
    let data = dir.path().join("data");
    assert_exit(&run(&["import", "--data", s(&data), s(&file)]), 0);
    // The engine records its policy's first version after the imported events (a log
    // without one gets it when the engine opens); the imported events are kept verbatim.
    let exported = ok(&["export", "--data", s(&data)]);
    let (imported, policy): (Vec<&str>, Vec<&str>) = exported
        .lines()
        .partition(|l| !l.contains(r#""stream":"policy""#));
    let imported: String = imported.iter().map(|l| format!("{l}\n")).collect();
    assert_eq!(imported, crafted);
    assert_eq!(policy.len(), 1, "{exported}");
    let policy: Value = serde_json::from_str(policy[0]).unwrap();
    assert_eq!(
        (&policy["position"], &policy["event_type"]),
        (&Value::from(4), &Value::from("policy.published"))
    );
}
