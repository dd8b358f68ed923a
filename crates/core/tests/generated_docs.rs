//! `docs/schema/` and `docs/diagrams/` are generated from the code. These tests fail when the
//! committed files are stale; run with `OPSLEDGER_BLESS=1` to rewrite them.

use opsledger_core::catalog::{self, Document};
use std::fs;
use std::path::{Path, PathBuf};

fn docs_dir(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs")
        .join(sub)
}

fn check(sub: &str, docs: Vec<Document>) {
    let dir = docs_dir(sub);
    let bless = std::env::var_os("OPSLEDGER_BLESS").is_some();
    if bless {
        fs::create_dir_all(&dir).expect("create docs dir");
    }
    let mut stale = Vec::new();
    for doc in &docs {
        let path = dir.join(&doc.file_name);
        let current = fs::read_to_string(&path).unwrap_or_default();
        if current != doc.text {
            if bless {
                fs::write(&path, &doc.text).expect("write generated doc");
            } else {
                stale.push(doc.file_name.clone());
            }
        }
    }
    // A committed file that the code no longer generates is stale too.
    let expected: Vec<&str> = docs.iter().map(|d| d.file_name.as_str()).collect();
    if let Ok(entries) = fs::read_dir(&dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !expected.contains(&name.as_str()) {
                if bless {
                    fs::remove_file(entry.path()).expect("remove stale doc");
                } else {
                    stale.push(format!("{name} (no longer generated)"));
                }
            }
        }
    }
    assert!(
        stale.is_empty(),
        "docs/{sub} is stale: {stale:?}; run `OPSLEDGER_BLESS=1 cargo test -p opsledger-core --test generated_docs`"
    );
}

#[test]
fn committed_schemas_are_current() {
    check("schema", catalog::schemas());
}

#[test]
fn committed_diagrams_are_current() {
    check("diagrams", catalog::diagrams());
}

#[test]
fn every_schema_is_draft_07_and_names_its_definitions() {
    for doc in catalog::schemas() {
        let value: serde_json::Value = serde_json::from_str(&doc.text).expect("schema is JSON");
        assert_eq!(
            value["$schema"], "http://json-schema.org/draft-07/schema#",
            "{} is not draft-07",
            doc.file_name
        );
        assert!(
            value.get("$defs").is_none(),
            "{} uses $defs instead of draft-07 definitions",
            doc.file_name
        );
    }
}

#[test]
fn every_diagram_draws_every_state_of_its_table() {
    use opsledger_core::Named;
    use opsledger_core::change::{Change, ChangeStatusKind};
    use opsledger_core::incident::{Incident, IncidentStatusKind};
    use opsledger_core::problem::{Problem, ProblemStatusKind};
    fn states_drawn<S: Named>(mermaid: &str) {
        for s in S::ALL {
            assert!(
                mermaid.contains(s.name()),
                "state {} missing from diagram",
                s.name()
            );
        }
    }
    states_drawn::<IncidentStatusKind>(&Incident::transitions().to_mermaid());
    states_drawn::<ProblemStatusKind>(&Problem::transitions().to_mermaid());
    states_drawn::<ChangeStatusKind>(&Change::transitions().to_mermaid());
}
