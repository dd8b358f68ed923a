//! `admin.backup`: a consistent copy of a running engine's data directory, and the errors of a
//! backup that cannot or may not be taken.

use crate::common::*;
use opsledger::store::{Position, StoreConfig, StoredEvent};
use opsledger::{Engine, EngineConfig};
use serde_json::{Value, json};
use std::path::Path;

/// Every stored event of a data directory, read through the bare storage (read-only).
fn stored_events(dir: &Path) -> Vec<StoredEvent> {
    let storage = opsledger::open_storage(dir, StoreConfig::default(), true).unwrap();
    let events = storage.log().read_all(Position(1), 10_000).unwrap();
    storage.close(0).unwrap();
    events
}

fn backup_params(to: &Path) -> Value {
    json!({"to": to, "actor": root()})
}

#[test]
fn admin_backup_copies_a_running_engine_and_the_copy_opens() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let rig = Rig::sled(&data, start(), 1);
    for title in ["VPN down", "Mail slow", "Printer jam"] {
        rig.ok("incident.open", by(&desk(), open_params(title)));
    }
    let head = rig.head();
    let to = dir.path().join("copy");

    let result = rig.ok("admin.backup", backup_params(&to));
    assert_eq!(result["to"], json!(to));
    assert_eq!(result["head"], head);
    assert!(result["bytes"].as_u64().unwrap() > 0, "{result}");
    assert!(to.join("opsledger.db").is_file());
    // One self-contained database file: no write-ahead log beside it.
    assert!(!to.join("opsledger.db-wal").exists());
    assert!(!dir.path().join("copy.partial").exists());

    // The engine keeps serving; the copy stays as it was taken.
    rig.ok("incident.open", by(&desk(), open_params("After the copy")));
    let original = stored_events(&data);
    let copied = stored_events(&to);
    assert_eq!(copied.len() as u64, head);
    assert!(original[..copied.len()] == copied[..], "not a prefix");
    assert!(original.len() as u64 > head);

    // It is a data directory: an engine opens it, with the records as they were.
    let restored = Engine::open(&to, EngineConfig::default()).unwrap();
    assert_eq!(restored.head().unwrap(), head);
    assert!(restored.verify().unwrap().is_clean());
    let view = restored.view(None).unwrap();
    let record = view.find("INC0000003").unwrap().expect("INC0000003");
    assert_eq!(record.title, "Printer jam");
    assert!(view.find("INC0000004").unwrap().is_none());
    drop(view);
    restored.close().unwrap();

    // rpc.discover lists it, with its params.
    let doc = rig.ok("rpc.discover", json!({}));
    let method = doc["methods"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "admin.backup")
        .expect("admin.backup in rpc.discover");
    let params: Vec<&str> = method["params"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(params, ["to", "actor"]);
    rig.close();
}

#[test]
fn admin_backup_refuses_bad_targets_callers_and_backends() {
    let dir = tempfile::tempdir().unwrap();
    let rig = Rig::sled(&dir.path().join("data"), start(), 1);
    rig.ok("incident.open", by(&desk(), open_params("VPN down")));
    let invalid = |params: Value, path: &str, needle: &str| {
        let e = rig.err("admin.backup", params);
        assert_eq!(code(&e), -32602, "{e}");
        assert_eq!(e["data"]["path"], path, "{e}");
        let message = e["message"].as_str().unwrap();
        assert!(message.contains(needle), "{needle}: {message}");
        assert!(!message.contains("PathBuf"), "{message}");
    };

    // A relative path (it would be relative to the server's working directory).
    invalid(json!({"to": "copy", "actor": root()}), "to", "absolute");
    // An existing directory, even an empty one.
    let existing = dir.path().join("existing");
    std::fs::create_dir(&existing).unwrap();
    invalid(backup_params(&existing), "to", "exists already");
    assert!(std::fs::read_dir(&existing).unwrap().next().is_none());
    // A leftover `<to>.partial` is not the caller's to lose.
    let leftover = dir.path().join("fresh.partial");
    std::fs::create_dir(&leftover).unwrap();
    std::fs::write(leftover.join("keep.txt"), "mine").unwrap();
    invalid(
        backup_params(&dir.path().join("fresh")),
        "to",
        "fresh.partial",
    );
    assert!(leftover.join("keep.txt").is_file());
    // A parent directory that does not exist.
    invalid(
        backup_params(&dir.path().join("no/such/dir")),
        "to",
        "does not exist",
    );
    assert!(!dir.path().join("no").exists());
    // Missing, mistyped or unknown params.
    let e = rig.err("admin.backup", json!({"actor": root()}));
    assert_eq!(code(&e), -32602, "{e}");
    let e = rig.err("admin.backup", json!({"to": 7, "actor": root()}));
    assert_eq!((code(&e), e["data"]["path"].as_str()), (-32602, Some("to")));
    let e = rig.err(
        "admin.backup",
        json!({"to": dir.path().join("x"), "actor": root(), "overwrite": true}),
    );
    assert_eq!(code(&e), -32602, "{e}");
    let e = rig.err("admin.backup", json!([dir.path().join("x")]));
    assert_eq!(code(&e), -32602, "{e}");
    assert!(!dir.path().join("x").exists());

    // Someone without the permission: forbidden, nothing written.
    let to = dir.path().join("copy");
    let e = rig.err("admin.backup", json!({"to": to, "actor": desk()}));
    assert_eq!(code(&e), -32005, "{e}");
    assert_eq!(domain_code(&e), "forbidden");
    assert_eq!(e["data"]["details"]["permission"], "engine_backup");
    assert!(!to.exists());
    // Without an identity at all.
    let e = call_with(&rig.rpc, &stdio(), "admin.backup", json!({"to": to})).unwrap_err();
    assert_eq!(code(&e), -32098, "{e}");
    rig.close();

    // A backend that cannot copy itself while in use answers the store error, with nothing
    // of the backend's detail.
    let memory = Rig::memory();
    let e = memory.err("admin.backup", backup_params(&to));
    assert_eq!(code(&e), -32050, "{e}");
    assert_eq!(domain_code(&e), "store");
    assert!(e["data"].get("details").is_none(), "{e}");
    assert!(!to.exists());
}
