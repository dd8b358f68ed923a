//! `opsledger import-cmdb FILE.csv|FILE.json`: loads services, CIs and their relations into
//! the service model of a data directory. The whole file is checked first (its syntax, each
//! row's fields, duplicates within the file, and every row against the model already stored
//! and the rows before it: unknown or retired items, self-relations); any problem is reported
//! with its line (CSV) or index (JSON) and field, and nothing is written. Then the rows are
//! written in changes of at most [`ROWS_PER_CHANGE`] commands, with a progress bar.
//!
//! One row per item or relation, in either format:
//!
//! ```text
//! type,id,name,class,owner_group,criticality,status,from,relation,to
//! service,webshop,Web shop,,web-ops,critical,,,,
//! ci,db-01,Shop database,database,dba,high,,,,
//! relation,,,,,,,service:webshop,depends_on,ci:db-01
//! ```
//!
//! JSON: an array of objects with the same keys (`{"type": "ci", "id": "db-01", ...}`).
//! `status` is `operational` (the default) or `planned`; `from` and `to` are `service:ID` or
//! `ci:ID` (a bare `ID` is a CI); `relation` is `runs_on`, `depends_on` or `connects_to`.

use crate::cli::ImportCmdbArgs;
use crate::data;
use crate::error::{CliError, CliResult, data_error};
use crate::progress;
use opsledger::core::service::{Criticality, ItemAttributes, ItemRef, ModelCommand, RelationType};
use opsledger::{Actor, DomainError, EngineError, Role};
use serde_json::Value;
use std::collections::BTreeMap;

/// Most commands written in one change (one atomic append of at most twice as many events).
pub const ROWS_PER_CHANGE: usize = 400;
/// Largest file read, in bytes.
pub const MAX_FILE_BYTES: u64 = 512 * 1024 * 1024;

const COLUMNS: [&str; 10] = [
    "type",
    "id",
    "name",
    "class",
    "owner_group",
    "criticality",
    "status",
    "from",
    "relation",
    "to",
];

/// One row: where it is (for messages) and its fields by column name.
struct Row {
    place: String,
    fields: BTreeMap<String, String>,
}

impl Row {
    fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .get(key)
            .map(String::as_str)
            .map(str::trim)
            .filter(|v| !v.is_empty())
    }

    fn fail(&self, field: &str, reason: impl std::fmt::Display) -> CliError {
        CliError::data(format!(
            "{} ({field}): {reason}; nothing was written",
            self.place
        ))
    }
}

/// Splits one CSV line into fields (RFC 4180 quoting: `"a,b"`, `""` for a quote).
fn csv_fields(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (false, '"') if at_start => {
                quoted = true;
                at_start = false;
            }
            (true, '"') => {
                if chars.peek() == Some(&'"') {
                    field.push('"');
                    chars.next();
                } else {
                    quoted = false;
                }
            }
            (false, ',') => {
                out.push(std::mem::take(&mut field));
                at_start = true;
            }
            (_, c) => {
                field.push(c);
                at_start = false;
            }
        }
    }
    if quoted {
        return Err("a quoted field is not closed on its line".into());
    }
    out.push(field);
    Ok(out)
}

fn csv_rows(text: &str) -> CliResult<Vec<Row>> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((header_index, header)) = lines.next() else {
        return Ok(Vec::new());
    };
    let header = csv_fields(header).map_err(|e| {
        CliError::data(format!(
            "line {}: {e}; nothing was written",
            header_index + 1
        ))
    })?;
    let header: Vec<String> = header.iter().map(|h| h.trim().to_lowercase()).collect();
    for h in &header {
        if !COLUMNS.contains(&h.as_str()) {
            return Err(CliError::data(format!(
                "line {} (header): unknown column `{h}` (columns: {}); nothing was written",
                header_index + 1,
                COLUMNS.join(", ")
            )));
        }
    }
    let mut rows = Vec::new();
    for (i, line) in lines {
        let place = format!("line {}", i + 1);
        let fields = csv_fields(line)
            .map_err(|e| CliError::data(format!("{place}: {e}; nothing was written")))?;
        if fields.len() > header.len() {
            return Err(CliError::data(format!(
                "{place}: {} fields, the header has {}; nothing was written",
                fields.len(),
                header.len()
            )));
        }
        rows.push(Row {
            place,
            fields: header.iter().cloned().zip(fields).collect(),
        });
    }
    Ok(rows)
}

fn json_rows(text: &str) -> CliResult<Vec<Row>> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| CliError::data(format!("not JSON: {e}; nothing was written")))?;
    let Value::Array(items) = value else {
        return Err(CliError::data(
            "the JSON file must hold an array of rows; nothing was written",
        ));
    };
    let mut rows = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let place = format!("[{i}]");
        let Value::Object(map) = item else {
            return Err(CliError::data(format!(
                "{place}: a row must be an object; nothing was written"
            )));
        };
        let mut fields = BTreeMap::new();
        for (k, v) in map {
            if !COLUMNS.contains(&k.as_str()) {
                return Err(CliError::data(format!(
                    "{place}.{k}: unknown key (keys: {}); nothing was written",
                    COLUMNS.join(", ")
                )));
            }
            let text = match v {
                Value::String(s) => s,
                Value::Null => String::new(),
                other => {
                    return Err(CliError::data(format!(
                        "{place}.{k}: expected a string, found {other}; nothing was written"
                    )));
                }
            };
            fields.insert(k, text);
        }
        rows.push(Row { place, fields });
    }
    Ok(rows)
}

fn item_ref(row: &Row, field: &str) -> CliResult<ItemRef> {
    let Some(text) = row.get(field) else {
        return Err(row.fail(field, "missing"));
    };
    let (kind, id) = text.split_once(':').unwrap_or(("ci", text));
    if id.trim().is_empty() {
        return Err(row.fail(field, "an empty id"));
    }
    match kind {
        "ci" => Ok(ItemRef::Ci(id.trim().into())),
        "service" => Ok(ItemRef::Service(id.trim().into())),
        other => Err(row.fail(field, format!("`{other}:` is not `service:` or `ci:`"))),
    }
}

fn criticality(row: &Row) -> CliResult<Criticality> {
    match row.get("criticality") {
        None | Some("medium") => Ok(Criticality::Medium),
        Some("critical") => Ok(Criticality::Critical),
        Some("high") => Ok(Criticality::High),
        Some("low") => Ok(Criticality::Low),
        Some(other) => Err(row.fail(
            "criticality",
            format!("`{other}` is not one of critical, high, medium, low"),
        )),
    }
}

/// The rows as model commands, each with the place of the row it comes from; duplicates in
/// the file are refused here, naming both places.
fn commands(rows: &[Row]) -> CliResult<(Vec<ModelCommand>, Vec<usize>, [usize; 3])> {
    let mut out = Vec::new();
    let mut origin = Vec::new();
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    let mut counts = [0usize; 3];
    for (r, row) in rows.iter().enumerate() {
        let kind = row.get("type").unwrap_or("");
        let key = match kind {
            "service" | "ci" => {
                let Some(id) = row.get("id") else {
                    return Err(row.fail("id", "missing"));
                };
                format!("{kind}:{id}")
            }
            "relation" => {
                let relation = row.get("relation").unwrap_or("");
                format!(
                    "{}|{relation}|{}",
                    item_ref(row, "from")?,
                    item_ref(row, "to")?
                )
            }
            other => {
                return Err(row.fail("type", format!("`{other}` is not service, ci or relation")));
            }
        };
        if let Some(first) = seen.insert(key, &row.place) {
            return Err(row.fail(
                if kind == "relation" { "to" } else { "id" },
                format!("a duplicate of {first}"),
            ));
        }
        match kind {
            "service" | "ci" => {
                let id = row.get("id").unwrap_or_default();
                let attributes = ItemAttributes {
                    name: row.get("name").unwrap_or_default().to_owned(),
                    class: row.get("class").map(str::to_owned),
                    owner_group: row.get("owner_group").map(Into::into),
                    support_hours: None,
                    criticality: criticality(row)?,
                };
                let item = if kind == "service" {
                    counts[0] += 1;
                    out.push(ModelCommand::RegisterService {
                        service: id.into(),
                        attributes,
                    });
                    ItemRef::Service(id.into())
                } else {
                    counts[1] += 1;
                    out.push(ModelCommand::RegisterCi {
                        ci: id.into(),
                        attributes,
                    });
                    ItemRef::Ci(id.into())
                };
                origin.push(r);
                match row.get("status") {
                    None | Some("operational") => {
                        out.push(ModelCommand::Activate { item });
                        origin.push(r);
                    }
                    Some("planned") => {}
                    Some(other) => {
                        return Err(
                            row.fail("status", format!("`{other}` is not operational or planned"))
                        );
                    }
                }
            }
            _ => {
                let relation = RelationType::parse("relation", row.get("relation").unwrap_or(""))
                    .map_err(|e| row.fail("relation", e))?;
                counts[2] += 1;
                out.push(ModelCommand::Relate {
                    from: item_ref(row, "from")?,
                    kind: relation,
                    to: item_ref(row, "to")?,
                });
                origin.push(r);
            }
        }
    }
    Ok((out, origin, counts))
}

/// The model's refusal of command `index`, named by the row it comes from.
fn refusal(e: &EngineError, rows: &[Row], origin: &[usize]) -> CliError {
    let EngineError::Domain(d) = e else {
        return data_error("checking the file", e);
    };
    let path = match d {
        DomainError::UnknownReference { path, .. }
        | DomainError::RetiredReference { path, .. }
        | DomainError::SelfRelation { path, .. } => Some(path.clone()),
        DomainError::Validation { field, .. } => Some(field.clone()),
        _ => None,
    };
    let located = path.as_deref().and_then(|p| {
        let rest = p.strip_prefix("commands[")?;
        let (index, field) = rest.split_once("].")?;
        let index: usize = index.parse().ok()?;
        Some((
            origin.get(index).and_then(|r| rows.get(*r))?,
            field.to_owned(),
        ))
    });
    match located {
        Some((row, field)) => {
            let reason = d.to_string();
            let reason = reason
                .split_once(": ")
                .map_or(reason.as_str(), |(_, r)| r)
                .to_owned();
            row.fail(&field, format!("{reason} ({})", d.code()))
        }
        None => CliError::data(format!("{d} ({}); nothing was written", d.code())),
    }
}

/// Runs `opsledger import-cmdb`.
pub fn run(args: &ImportCmdbArgs) -> CliResult {
    let size = std::fs::metadata(&args.file)
        .map_err(|e| CliError::data(format!("{}: {e}", args.file.display())))?
        .len();
    if size > MAX_FILE_BYTES {
        return Err(CliError::data(format!(
            "{} is {size} bytes, more than the {MAX_FILE_BYTES} an import reads",
            args.file.display()
        )));
    }
    let text = std::fs::read_to_string(&args.file)
        .map_err(|e| CliError::data(format!("{}: {e}", args.file.display())))?;
    let json = args
        .file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let rows = if json {
        json_rows(&text)?
    } else {
        csv_rows(&text)?
    };
    let (commands, origin, counts) = commands(&rows)?;
    let engine = data::open_engine(&args.data, true)?;
    let actor = Actor::new(args.actor.as_str(), [Role::Admin]);
    engine
        .check_service_model(&actor, &commands)
        .map_err(|e| refusal(&e, &rows, &origin))?;
    let bar = progress::events(commands.len() as u64, "cmdb");
    for chunk in commands.chunks(ROWS_PER_CHANGE) {
        engine
            .change_service_model(&actor, chunk)
            .map_err(|e| data_error("writing the service model", &e))?;
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    engine
        .close()
        .map_err(|e| data_error("closing the data directory", &e))?;
    println!(
        "imported {} service(s), {} CI(s), {} relation(s) into {}",
        counts[0],
        counts[1],
        counts[2],
        args.data.display()
    );
    Ok(())
}
