//! `opsledger policy get|validate|diff|publish|history`: the policy's versions, on a data
//! directory (in process, through the same JSON-RPC methods as the server) or on a running
//! server (`--url`).

use crate::binding;
use crate::call;
use crate::cli::{
    DEFAULT_DATA_DIR, PolicyArgs, PolicyCommand, PolicyFileArgs, PolicyFormatArg, PolicyGetArgs,
    PolicyPublishArgs, Target,
};
use crate::data;
use crate::error::{CliError, CliResult, Failure, data_error};
use crate::output::{emit, emit_err, emit_line};
use chrono::{DateTime, Utc};
use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Cell, CellAlignment, ContentArrangement, Table};
use opsledger::Engine;
use opsledger::core::Policy;
use opsledger::core::policy::PolicyIssue;
use opsledger::core::policy::document::{self, PolicyChange, PolicyFormat};
use opsledger::core::sla::{SlaKey, SlaMetric};
use opsledger_rpc::{CallContext, Dispatcher, TransportKind};
use serde::Deserialize;
use serde_json::{Value, json};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Runs `opsledger policy ...`.
pub fn run(args: &PolicyArgs) -> CliResult {
    match &args.command {
        PolicyCommand::Get(a) => get(a),
        PolicyCommand::Validate(a) => validate(a),
        PolicyCommand::Diff(a) => diff(a),
        PolicyCommand::Publish(a) => publish(a),
        PolicyCommand::History(a) => history(a),
    }
}

/// A policy document read from a file: its text and notation.
#[derive(Debug)]
pub struct DocumentFile {
    /// The file as given (`-`: stdin), for messages.
    pub name: String,
    /// Its text.
    pub text: String,
    /// Its notation: as asked, else from the file name, else sniffed.
    pub format: PolicyFormat,
}

impl DocumentFile {
    /// Reads `path` (`-`: stdin). A file that cannot be read is a usage error.
    pub fn read(path: &Path, format: Option<PolicyFormatArg>) -> CliResult<Self> {
        let name = path.display().to_string();
        let text = if name == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| CliError::usage(format!("cannot read the policy from stdin: {e}")))?;
            text
        } else {
            std::fs::read_to_string(path)
                .map_err(|e| CliError::usage(format!("cannot read the policy {name}: {e}")))?
        };
        let format = match format {
            Some(PolicyFormatArg::Toml) => PolicyFormat::Toml,
            Some(PolicyFormatArg::Json) => PolicyFormat::Json,
            None => PolicyFormat::from_path(path).unwrap_or_else(|| PolicyFormat::sniff(&text)),
        };
        Ok(DocumentFile { name, text, format })
    }

    /// The document, or every problem of it printed (`path: message`, one a line, on stderr)
    /// and a usage error (exit 2).
    pub fn parse(&self) -> CliResult<Policy> {
        document::parse(&self.text, self.format).map_err(|issues| self.refused(&issues))
    }

    /// Prints `issues` on stderr under a line naming the file; the error to return.
    pub fn refused(&self, issues: &[PolicyIssue]) -> CliError {
        report_issues(&self.name, issues);
        CliError::reported(Failure::Usage)
    }

    fn params(&self) -> Value {
        let format = match self.format {
            PolicyFormat::Json => "json",
            PolicyFormat::Toml => "toml",
        };
        json!({"document": self.text, "format": format})
    }
}

/// `opsledger: FILE is not a valid policy document (N problems):` and the problems, one a
/// line, on stderr.
pub fn report_issues(name: &str, issues: &[PolicyIssue]) {
    let count = match issues.len() {
        1 => "1 problem".to_owned(),
        n => format!("{n} problems"),
    };
    emit_err(&format!(
        "opsledger: {name} is not a valid policy document ({count}):"
    ));
    for issue in issues {
        emit_err(&issue.to_string());
    }
}

/// Where the calls go.
enum Door {
    /// In process, on a data directory.
    Local(PathBuf),
    /// Over HTTP.
    Remote { url: String, token: Option<String> },
}

/// What a local call needs of the data directory.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    /// Read it (through a consistent copy when a server holds it).
    Read,
    /// Read it if it holds a log; else check against a new, empty history.
    ReadIfThere,
    /// Write to it: it must hold a log, and no other process may hold it.
    Write,
}

impl Door {
    fn of(target: &Target) -> Door {
        match &target.url {
            Some(url) => Door::Remote {
                url: url.clone(),
                token: target.token.clone(),
            },
            None => Door::Local(
                target
                    .data
                    .clone()
                    .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
            ),
        }
    }

    /// Calls `method`: its result, or its JSON-RPC error object.
    fn call(&self, method: &str, params: Value, access: Access) -> CliResult<Result<Value, Value>> {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let reply = match self {
            Door::Remote { url, token } => {
                call::over_http(url, token.as_deref(), &body.to_string())?
            }
            Door::Local(dir) => in_process(dir, &body.to_string(), access)?,
        };
        let mut reply: Value = serde_json::from_str(&reply)
            .map_err(|e| CliError::transport(format!("the reply is not JSON ({e}): {reply}")))?;
        if let Some(result) = reply.get_mut("result") {
            return Ok(Ok(result.take()));
        }
        match reply.get_mut("error") {
            Some(error) => Ok(Err(error.take())),
            None => Err(CliError::transport(format!(
                "the reply is not a JSON-RPC response: {reply}"
            ))),
        }
    }
}

fn in_process(dir: &Path, body: &str, access: Access) -> CliResult<String> {
    let (engine, _copy) = match access {
        Access::Write => (data::open_engine(dir, false)?, None),
        Access::Read => data::open_engine_for_reading(dir)?,
        Access::ReadIfThere if data::has_log(dir) => data::open_engine_for_reading(dir)?,
        Access::ReadIfThere => {
            emit_err(&format!(
                "{} holds no log: the document is checked on its own, without a history",
                dir.display()
            ));
            let engine = Engine::in_memory(data::engine_config())
                .map_err(|e| CliError::data(format!("cannot start an engine: {e}")))?;
            (engine, None)
        }
    };
    let engine = Arc::new(engine);
    let dispatcher = Dispatcher::new(binding::registry(engine.clone()));
    let reply = dispatcher.handle_with(&CallContext::local(TransportKind::InProcess, None), body);
    drop(dispatcher);
    let closed = match Arc::try_unwrap(engine) {
        Ok(engine) => engine.close(),
        Err(engine) => engine.flush(),
    };
    closed.map_err(|e| data_error(&format!("cannot close {}", dir.display()), &e))?;
    reply.ok_or_else(|| CliError::data("the dispatcher sent no reply to a request"))
}

/// A JSON-RPC error for people: every problem of a refused document (`path: message`), else
/// the error's message; exit 1 (the operation answered no).
fn refused(document: Option<&str>, error: &Value) -> CliError {
    let issues = error
        .pointer("/data/details/issues")
        .and_then(|v| Vec::<PolicyIssue>::deserialize(v).ok());
    match (
        error.pointer("/data/domain_code").and_then(Value::as_str),
        issues,
    ) {
        (Some("invalid_policy"), Some(issues)) => {
            report_issues(document.unwrap_or("the document"), &issues);
        }
        _ => {
            let message = error["message"].as_str().unwrap_or("the server refused");
            emit_err(&format!("opsledger: {message}"));
        }
    }
    CliError::reported(Failure::Refused)
}

/// The result as `T`, or a transport error naming what did not fit.
fn decode<T: serde::de::DeserializeOwned>(what: &str, value: Value) -> CliResult<T> {
    serde_json::from_value(value)
        .map_err(|e| CliError::transport(format!("unexpected {what} in the reply: {e}")))
}

/// One published version as the methods describe it.
#[derive(Debug, Deserialize)]
struct Revision {
    version: u32,
    published_at: DateTime<Utc>,
    published_by: String,
    reason: String,
    position: u64,
}

/// What `policy.diff` answers (the engine's `PolicyDiff`, read back).
#[derive(Debug, Deserialize)]
pub struct Diff {
    /// The version compared against.
    pub from_version: u32,
    /// Every changed setting.
    pub changes: Vec<PolicyChange>,
    /// Open records whose SLA targets would move if they were pinned again.
    pub moved_targets: Vec<MovedTarget>,
    /// Whether only the first open records were looked at.
    pub records_truncated: bool,
}

/// One open record's clock that would measure differently.
#[derive(Debug, Deserialize)]
pub struct MovedTarget {
    /// Its human number.
    pub number: Option<String>,
    /// What is measured.
    pub metric: SlaMetric,
    /// Today's clock.
    pub current: Option<TargetAt>,
    /// The clock under the document.
    pub proposed: Option<TargetAt>,
}

/// A clock's definition, target and due instant.
#[derive(Debug, Deserialize)]
pub struct TargetAt {
    /// The definition version.
    pub definition: SlaKey,
    /// Its name.
    pub name: String,
    /// Business time allowed, as text.
    pub target: String,
    /// When it is (or was) due.
    pub due_at: Option<DateTime<Utc>>,
}

fn when(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn get(args: &PolicyGetArgs) -> CliResult {
    let as_of = args
        .as_of
        .as_deref()
        .map(|t| crate::kpi::parse_instant("--as-of", t))
        .transpose()?;
    let mut params = json!({});
    if let Some(v) = args.version {
        params["version"] = json!(v);
    }
    if let Some(t) = as_of {
        params["as_of"] = json!(t);
    }
    let door = Door::of(&args.target);
    let mut result = door
        .call("policy.get", params, Access::Read)?
        .map_err(|e| refused(None, &e))?;
    let document: Policy = decode("document", result["document"].take())?;
    let revision: Revision = decode("version", result)?;
    match args.format {
        PolicyFormatArg::Json => emit_line(document::to_json(&document).trim_end()),
        PolicyFormatArg::Toml => {
            let mut header = format!(
                "# policy v{}, in force from {} (log position {})\n# published by {}",
                revision.version,
                when(&revision.published_at),
                revision.position,
                revision.published_by
            );
            if !revision.reason.is_empty() {
                header.push_str(&format!(": {}", revision.reason));
            }
            emit(&format!("{header}\n\n{}", document::to_toml(&document)))
        }
    }
}

fn validate(args: &PolicyFileArgs) -> CliResult {
    let file = DocumentFile::read(&args.file, args.format)?;
    let door = Door::of(&args.target);
    let result = door
        .call("policy.validate", file.params(), Access::ReadIfThere)?
        .map_err(|e| refused(Some(&file.name), &e))?;
    let issues: Vec<PolicyIssue> = decode("issues", result["issues"].clone())?;
    if issues.is_empty() {
        return emit_line(&format!("{}: a valid policy document", file.name));
    }
    for issue in &issues {
        emit_line(&issue.to_string())?;
    }
    let count = match issues.len() {
        1 => "1 problem".to_owned(),
        n => format!("{n} problems"),
    };
    emit_err(&format!(
        "opsledger: {} is not a valid policy document ({count})",
        file.name
    ));
    Err(CliError::reported(Failure::Refused))
}

fn diff(args: &PolicyFileArgs) -> CliResult {
    let file = DocumentFile::read(&args.file, args.format)?;
    let door = Door::of(&args.target);
    let result = door
        .call("policy.diff", file.params(), Access::Read)?
        .map_err(|e| refused(Some(&file.name), &e))?;
    let diff: Diff = decode("diff", result)?;
    emit(&render_diff(&file.name, &diff))
}

/// A value of a change for people: JSON, or the name of a whole item added or removed.
fn value_text(value: &Value) -> String {
    match value.get("name").and_then(Value::as_str) {
        Some(name) => format!("{name:?}"),
        None => value.to_string(),
    }
}

/// One change for people: `path: before -> after`, `path: added ...`, `path: removed ...`.
fn change_text(change: &PolicyChange) -> String {
    match (&change.before, &change.after) {
        (None, Some(after)) => format!("  {}: added {}", change.path, value_text(after)),
        (Some(before), None) => format!("  {}: removed {}", change.path, value_text(before)),
        (Some(before), Some(after)) => {
            format!("  {}: {before} -> {after}", change.path)
        }
        (None, None) => format!("  {}", change.path),
    }
}

fn target_text(at: Option<&TargetAt>) -> String {
    match at {
        None => "no clock".to_owned(),
        Some(at) => {
            let due = at
                .due_at
                .map(|t| format!(", due {}", when(&t)))
                .unwrap_or_default();
            format!("{} ({}), {}{due}", at.name, at.definition, at.target)
        }
    }
}

fn moved_text(m: &MovedTarget) -> String {
    let record = m.number.as_deref().unwrap_or("(a record without a number)");
    format!(
        "  {record} {}: {} -> {}",
        m.metric,
        target_text(m.current.as_ref()),
        target_text(m.proposed.as_ref())
    )
}

/// The human form of `policy diff`.
pub fn render_diff(name: &str, diff: &Diff) -> String {
    let mut out = String::new();
    if diff.changes.is_empty() {
        out.push_str(&format!(
            "{name} equals v{}, the version in force: publishing it would change nothing\n",
            diff.from_version
        ));
    } else {
        out.push_str(&format!(
            "{name} against v{}, the version in force ({} changed):\n",
            diff.from_version,
            diff.changes.len()
        ));
        for change in &diff.changes {
            out.push_str(&change_text(change));
            out.push('\n');
        }
    }
    if !diff.moved_targets.is_empty() {
        out.push_str(
            "SLA targets of open records that would move if pinned again (running clocks keep \
             theirs):\n",
        );
        for m in &diff.moved_targets {
            out.push_str(&moved_text(m));
            out.push('\n');
        }
    }
    if diff.records_truncated {
        out.push_str(&format!(
            "(only the first {} open records were looked at)\n",
            opsledger::DIFF_MAX_RECORDS
        ));
    }
    out
}

fn publish(args: &PolicyPublishArgs) -> CliResult {
    let target = &args.document.target;
    let file = DocumentFile::read(&args.document.file, args.document.format)?;
    let mut params = file.params();
    params["reason"] = json!(
        args.reason
            .clone()
            .unwrap_or_else(|| format!("published from {}", file.name))
    );
    if let Some(v) = args.expected_version {
        params["expected_version"] = json!(v);
    }
    match (&args.actor, &target.url) {
        (Some(actor), _) => {
            if actor.trim().is_empty() {
                return Err(CliError::usage("--actor must not be empty"));
            }
            params["actor"] = json!({"id": actor, "roles": args.roles});
        }
        (None, None) => {
            return Err(CliError::usage(
                "publishing on a data directory needs the acting actor: --actor ID --role admin \
                 (over --url the token decides)",
            ));
        }
        (None, Some(_)) => {}
    }
    let door = Door::of(target);
    let result = door
        .call("policy.publish", params, Access::Write)?
        .map_err(|e| refused(Some(&file.name), &e))?;
    let version = result["version"].as_u64().unwrap_or_default();
    if result["changed"] == json!(true) {
        let position = result["position"].as_u64().unwrap_or_default();
        emit_line(&format!(
            "policy v{version} published from {} (log position {position})",
            file.name
        ))
    } else {
        emit_line(&format!(
            "policy {} is already in force as v{version}: nothing written",
            file.name
        ))
    }
}

fn history(args: &Target) -> CliResult {
    let door = Door::of(args);
    let result = door
        .call("policy.history", json!({}), Access::Read)?
        .map_err(|e| refused(None, &e))?;
    let revisions: Vec<Revision> = decode("history", result)?;
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header([
            "Version",
            "In force from",
            "Published by",
            "Reason",
            "Position",
        ]);
    for r in &revisions {
        table.add_row(vec![
            Cell::new(format!("v{}", r.version)),
            Cell::new(when(&r.published_at)),
            Cell::new(&r.published_by),
            Cell::new(&r.reason),
            Cell::new(r.position).set_alignment(CellAlignment::Right),
        ]);
    }
    emit_line(&table.to_string())
}
