//! `opsledger diagram` and `opsledger schema`: the published contract, generated from code.

use crate::binding;
use crate::cli::{DiagramArgs, DiagramFormat, DiagramWhich, SchemaArgs};
use crate::data;
use crate::error::{CliError, CliResult};
use crate::output::{emit, emit_err, emit_line};
use opsledger::core::catalog::{self, Document};
use opsledger_rpc::Dispatcher;
use serde_json::{Map, Value};
use std::path::Path;
use std::sync::Arc;

/// The catalog's diagram documents for `which` (file names without `.md`).
fn diagram_names(which: DiagramWhich) -> &'static [&'static str] {
    match which {
        DiagramWhich::Incident => &["incident", "incident_major"],
        DiagramWhich::Problem => &["problem"],
        DiagramWhich::Change => &["change"],
        DiagramWhich::Sla => &["sla_instance"],
        DiagramWhich::All => &[
            "incident",
            "incident_major",
            "problem",
            "change",
            "sla_instance",
        ],
    }
}

/// The Mermaid block of a diagram document.
fn mermaid_of(doc: &Document) -> Option<&str> {
    let start = doc.text.find("```mermaid\n")? + "```mermaid\n".len();
    let len = doc.text[start..].find("```")?;
    Some(&doc.text[start..start + len])
}

/// The text `opsledger diagram` prints.
pub fn diagram_text(which: DiagramWhich, format: DiagramFormat) -> CliResult<String> {
    let docs = catalog::diagrams();
    let mut parts = Vec::new();
    for name in diagram_names(which) {
        let file = format!("{name}.md");
        let doc = docs
            .iter()
            .find(|d| d.file_name == file)
            .ok_or_else(|| CliError::data(format!("the catalog has no diagram {name}")))?;
        parts.push(match format {
            DiagramFormat::Markdown => doc.text.clone(),
            DiagramFormat::Mermaid => {
                let block = mermaid_of(doc).ok_or_else(|| {
                    CliError::data(format!("diagram {name} has no Mermaid block"))
                })?;
                format!("%% {name}\n{block}")
            }
        });
    }
    Ok(parts.join("\n"))
}

/// Runs `opsledger diagram`.
pub fn diagram(args: &DiagramArgs) -> CliResult {
    emit(&diagram_text(args.which, args.format)?)
}

/// The OpenRPC document of the engine's JSON-RPC API (what `rpc.discover` answers).
pub fn openrpc_document() -> CliResult<Value> {
    let engine = opsledger::Engine::in_memory(data::engine_config())
        .map_err(|e| CliError::data(format!("cannot start an engine: {e}")))?;
    let dispatcher = Dispatcher::new(binding::registry(Arc::new(engine)));
    Ok(dispatcher.openrpc_document())
}

/// Runs `opsledger schema`.
pub fn schema(args: &SchemaArgs) -> CliResult {
    let documents: Vec<(String, String)> = if args.openrpc {
        let doc = openrpc_document()?;
        let mut text = serde_json::to_string_pretty(&doc)
            .map_err(|e| CliError::data(format!("cannot encode the OpenRPC document: {e}")))?;
        text.push('\n');
        vec![("openrpc.json".to_owned(), text)]
    } else {
        catalog::schemas()
            .into_iter()
            .map(|d| (d.file_name, d.text))
            .collect()
    };
    match &args.out {
        Some(dir) => write_all(dir, &documents),
        None if args.openrpc => emit(&documents[0].1),
        None => {
            // One JSON object: file name -> schema.
            let mut all = Map::new();
            for (name, text) in &documents {
                let value: Value = serde_json::from_str(text)
                    .map_err(|e| CliError::data(format!("schema {name} is not JSON: {e}")))?;
                all.insert(name.trim_end_matches(".schema.json").to_owned(), value);
            }
            let text = serde_json::to_string_pretty(&Value::Object(all))
                .map_err(|e| CliError::data(format!("cannot encode the schemas: {e}")))?;
            emit_line(&text)
        }
    }
}

fn write_all(dir: &Path, documents: &[(String, String)]) -> CliResult {
    if dir.exists() && !dir.is_dir() {
        return Err(CliError::usage(format!(
            "--out {} is not a directory",
            dir.display()
        )));
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| CliError::data(format!("cannot create {}: {e}", dir.display())))?;
    for (name, text) in documents {
        let path = dir.join(name);
        std::fs::write(&path, text)
            .map_err(|e| CliError::data(format!("cannot write {}: {e}", path.display())))?;
    }
    emit_err(&format!(
        "wrote {} file(s) to {}",
        documents.len(),
        dir.display()
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mermaid_blocks_are_extracted() {
        let text = diagram_text(DiagramWhich::Incident, DiagramFormat::Mermaid).unwrap();
        assert!(text.starts_with("%% incident\nstateDiagram-v2"), "{text}");
        assert!(!text.contains("```"), "{text}");
        assert!(text.contains("%% incident_major"), "{text}");
        let all = diagram_text(DiagramWhich::All, DiagramFormat::Markdown).unwrap();
        for title in [
            "# Incident lifecycle",
            "# Problem lifecycle",
            "# Change lifecycle",
            "# SLA instance",
        ] {
            assert!(all.contains(title), "{title}");
        }
    }
}
