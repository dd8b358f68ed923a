//! `diagram` and `schema`: the published contract from the code.

use crate::common::*;
use serde_json::Value;

#[test]
fn diagrams_match_the_committed_docs() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/diagrams");
    let all = ok(&["diagram"]);
    for name in [
        "incident",
        "incident_major",
        "problem",
        "change",
        "sla_instance",
    ] {
        let committed = std::fs::read_to_string(root.join(format!("{name}.md"))).unwrap();
        assert!(
            all.contains(&committed),
            "{name}.md differs from `opsledger diagram`"
        );
    }
    let mermaid = ok(&["diagram", "change", "--format", "mermaid"]);
    assert!(
        mermaid.starts_with("%% change\nstateDiagram-v2\n"),
        "{mermaid}"
    );
    assert!(!mermaid.contains("```"));
}

#[test]
fn schemas_and_the_openrpc_document() {
    let all: Value = serde_json::from_str(&ok(&["schema"])).unwrap();
    for name in ["incident_command", "change_event", "kpi_report"] {
        assert_eq!(
            all[name]["$schema"], "http://json-schema.org/draft-07/schema#",
            "{name}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("schema");
    assert_exit(&run(&["schema", "--out", out.to_str().unwrap()]), 0);
    let committed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/schema");
    for entry in std::fs::read_dir(&committed).unwrap().flatten() {
        let name = entry.file_name();
        let written = std::fs::read_to_string(out.join(&name))
            .unwrap_or_else(|_| panic!("{name:?} not written"));
        assert_eq!(
            written,
            std::fs::read_to_string(entry.path()).unwrap(),
            "{name:?}"
        );
    }
    let text = ok(&["schema", "--openrpc"]);
    let committed_doc =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openrpc.json");
    assert_eq!(
        text,
        std::fs::read_to_string(committed_doc).unwrap(),
        "`opsledger schema --openrpc` differs from docs/openrpc.json"
    );
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert!(doc["openrpc"].as_str().unwrap().starts_with("1."));
    let methods = doc["methods"].as_array().unwrap();
    assert!(methods.iter().any(|m| m["name"] == "incident.open"));
    assert!(
        !methods.iter().any(|m| m["name"] == "subtract"),
        "spec fixtures leak into the OpenRPC document"
    );
    // --out onto a file is refused, and the file is left alone.
    let file = dir.path().join("f");
    std::fs::write(&file, "keep").unwrap();
    assert_exit(&run(&["schema", "--out", file.to_str().unwrap()]), 2);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep");
}
