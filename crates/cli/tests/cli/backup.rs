//! `backup`: a consistent copy of a data directory while a server writes to it, that opens as
//! a data directory of its own.

use crate::common::*;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

#[test]
fn a_backup_taken_while_serving_is_a_prefix_of_the_log_and_opens() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    build(&data, 3);
    let tokens = write_tokens(dir.path());
    let server = Server::start(&data, &["--token-file", s(&tokens)]);

    // A client keeps writing while the backup runs.
    let stop = Arc::new(AtomicBool::new(false));
    let opened = Arc::new(AtomicU64::new(0));
    let writer = {
        let (url, stop, opened) = (server.url("/rpc"), stop.clone(), opened.clone());
        std::thread::spawn(move || {
            let client = client();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let body = json!({"jsonrpc": "2.0", "id": n, "method": "incident.open",
                    "params": {"title": format!("During the backup {n}"), "caller": "bob",
                               "impact": "low", "urgency": "low"}});
                let reply = client
                    .post(&url)
                    .bearer_auth(ALICE_TOKEN)
                    .header("content-type", "application/json")
                    .body(body.to_string())
                    .send()
                    .unwrap()
                    .text()
                    .unwrap();
                assert!(reply.contains("\"result\""), "{reply}");
                opened.store(n, Ordering::Relaxed);
            }
        })
    };
    while opened.load(Ordering::Relaxed) < 2 {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let copy = dir.path().join("copy");
    let o = run(&["backup", "--data", s(&data), s(&copy)]);
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    assert_exit(&o, 0);
    let after = json!({"title": "After the backup", "caller": "bob", "impact": "low",
                       "urgency": "low"});
    server.rpc("incident.open", after, Some(ALICE_TOKEN));
    let report = stdout(&o);
    assert!(report.contains("(sqlite) to"), "{report}");
    assert!(report.contains("opsledger serve --data"), "{report}");
    let events = reported(&report, "events");
    assert!(reported(&report, "bytes") > 0, "{report}");
    assert!(!dir.path().join("copy.partial").exists());
    assert!(copy.join("opsledger.db").is_file());
    assert!(!copy.join("opsledger.db-wal").exists());

    // The copy holds the log as it was at one instant: a prefix of the final log, as long
    // as the report says, and no shorter than what was written before the backup began.
    let (status, _) = server.stop();
    assert!(status.success());
    let final_log = ok(&["export", "--data", s(&data)]);
    let copied = ok(&["export", "--data", s(&copy)]);
    assert_eq!(copied.lines().count() as u64, events, "{report}");
    assert!(
        copied.matches("During the backup").count() >= 2,
        "what was written before the backup began is in it"
    );
    assert!(
        final_log.starts_with(&copied),
        "the backup is not a prefix of the log"
    );
    assert!(final_log.len() > copied.len());
    let verified = ok(&["verify", "--data", s(&copy)]);
    assert!(verified.contains("verify: OK"), "{verified}");

    // Restoring is serving the copy.
    let restored = Server::start(&copy, &[]);
    let stats = restored.rpc("query.stats", json!({}), None);
    assert_eq!(stats["head"], events);
    let first = restored.rpc("query.record", json!({"id": "INC0000001"}), None);
    assert_eq!(first["number"], "INC0000001");
    assert!(restored.stop().0.success());
}

#[test]
fn backup_refuses_existing_targets_and_backends_that_cannot_copy_themselves() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    build(&data, 1);

    // OUT exists (even empty): refused, nothing written.
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let o = run(&["backup", "--data", s(&data), s(&out)]);
    assert_exit(&o, 3);
    assert!(stderr(&o).contains("a new directory"), "{}", stderr(&o));
    assert!(tree(&out).is_empty());
    // A leftover OUT.partial is not removed for the caller.
    let fresh = dir.path().join("fresh");
    let leftover = dir.path().join("fresh.partial");
    std::fs::create_dir(&leftover).unwrap();
    std::fs::write(leftover.join("keep.txt"), "mine").unwrap();
    let o = run(&["backup", "--data", s(&data), s(&fresh)]);
    assert_exit(&o, 3);
    assert!(stderr(&o).contains("fresh.partial"), "{}", stderr(&o));
    assert_eq!(tree(&leftover).len(), 1);
    assert!(!fresh.exists());
    std::fs::remove_dir_all(&leftover).unwrap();
    // Into the directory it copies.
    let o = run(&["backup", "--data", s(&data), s(&data.join("copy"))]);
    assert_exit(&o, 2);
    assert!(!data.join("copy").exists() && !data.join("copy.partial").exists());
    // No data to copy.
    let o = run(&[
        "backup",
        "--data",
        s(&dir.path().join("missing")),
        s(&fresh),
    ]);
    assert_exit(&o, 3);
    assert!(stderr(&o).contains("does not exist"), "{}", stderr(&o));

    // sled cannot copy itself while open: the message says what to do instead.
    let sled = dir.path().join("sled");
    ok(&[
        "migrate",
        "--from",
        s(&data),
        "--to",
        s(&sled),
        "--store",
        "sled",
    ]);
    let o = run(&["backup", "--data", s(&sled), s(&fresh)]);
    assert_exit(&o, 3);
    assert!(stderr(&o).contains("opsledger migrate"), "{}", stderr(&o));
    assert!(!fresh.exists());
}
