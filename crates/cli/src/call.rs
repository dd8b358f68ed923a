//! `opsledger call`: one JSON-RPC request, in-process on a data directory or over HTTP.

use crate::binding;
use crate::cli::{CallArgs, DEFAULT_DATA_DIR};
use crate::data;
use crate::error::{CliError, CliResult, Failure};
use crate::output::{emit_err, emit_line};
use opsledger_rpc::{CallContext, Dispatcher, TransportKind};
use serde_json::{Value, json};
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Runs `opsledger call`: prints the result as pretty JSON on stdout; a JSON-RPC error goes to
/// stderr (pretty JSON) and exits with code 1.
pub fn run(args: &CallArgs) -> CliResult {
    let params = read_params(args.params.as_deref())?;
    let params = inject_actor(params, args.actor.as_deref(), &args.roles)?;
    // The params go out as written: parsing them into a map would keep only the last of two
    // values of a key, which the server refuses.
    let body = match params {
        Some(params) => format!(
            r#"{{"jsonrpc":"2.0","method":{},"params":{},"id":1}}"#,
            json!(args.method),
            params.trim()
        ),
        None => json!({"jsonrpc": "2.0", "method": args.method, "id": 1}).to_string(),
    };
    let reply = match &args.target.url {
        Some(url) => over_http(url, args.target.token.as_deref(), &body)?,
        None => {
            let data = args
                .target
                .data
                .clone()
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
            in_process(&data, &body)?
        }
    };
    print_reply(&reply)
}

/// The params argument, checked to be a JSON object or array (`-`: read from stdin), as its
/// text.
fn read_params(arg: Option<&str>) -> CliResult<Option<String>> {
    let text = match arg {
        None => return Ok(None),
        Some("-") => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| CliError::usage(format!("cannot read the params from stdin: {e}")))?;
            text
        }
        Some(text) => text.to_owned(),
    };
    let value: Value = serde_json::from_str(&text)
        .map_err(|e| CliError::usage(format!("PARAMS_JSON is not valid JSON: {e}")))?;
    match value {
        Value::Object(_) | Value::Array(_) => Ok(Some(text)),
        other => Err(CliError::usage(format!(
            "PARAMS_JSON must be a JSON object (by name) or array (by position), not {other}"
        ))),
    }
}

/// Adds `"actor": {"id", "roles"}` to by-name params that do not name one (as the object's
/// first member; the rest of the text stays as written).
fn inject_actor(
    params: Option<String>,
    actor: Option<&str>,
    roles: &[String],
) -> CliResult<Option<String>> {
    let Some(actor) = actor else {
        return Ok(params);
    };
    if actor.trim().is_empty() {
        return Err(CliError::usage("--actor must not be empty"));
    }
    let identity = json!({"id": actor, "roles": roles});
    let Some(text) = params else {
        return Ok(Some(json!({ "actor": identity }).to_string()));
    };
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(map)) if map.contains_key("actor") => Ok(Some(text)),
        Ok(Value::Object(map)) => {
            // Checked to be an object: the text starts with `{` after any whitespace.
            let rest = text.trim_start().strip_prefix('{').unwrap_or_default();
            let separator = if map.is_empty() { "" } else { "," };
            Ok(Some(format!(r#"{{"actor":{identity}{separator}{rest}"#)))
        }
        _ => Err(CliError::usage(
            "--actor needs by-name params (a JSON object); put the actor into by-position params yourself",
        )),
    }
}

fn in_process(data: &std::path::Path, body: &str) -> CliResult<String> {
    if !data::has_log(data) {
        // A call that cannot succeed (unknown method, bad request) must not create a data
        // directory: answer it from an ephemeral engine.
        let scratch = opsledger::Engine::in_memory(data::engine_config())
            .map_err(|e| CliError::data(format!("cannot start an engine: {e}")))?;
        let dispatcher = Dispatcher::new(binding::registry(Arc::new(scratch)));
        let known = serde_json::from_str::<Value>(body)
            .ok()
            .and_then(|v| v.get("method").and_then(Value::as_str).map(str::to_owned))
            .is_some_and(|m| dispatcher.registry().contains(&m));
        if !known {
            return dispatcher
                .handle_with(&CallContext::local(TransportKind::InProcess, None), body)
                .ok_or_else(|| CliError::data("the dispatcher sent no reply to a request"));
        }
    }
    let engine = Arc::new(data::open_engine(data, true)?);
    let dispatcher = Dispatcher::new(binding::registry(engine.clone()));
    let reply = dispatcher.handle_with(&CallContext::local(TransportKind::InProcess, None), body);
    drop(dispatcher);
    let closed = match Arc::try_unwrap(engine) {
        Ok(engine) => engine.close(),
        Err(engine) => engine.flush(),
    };
    closed.map_err(|e| CliError::data(format!("cannot close {}: {e}", data.display())))?;
    reply.ok_or_else(|| CliError::data("the dispatcher sent no reply to a request"))
}

/// The URL to POST to: `/rpc` is added to a URL without a path.
pub fn rpc_url(url: &str) -> CliResult<reqwest::Url> {
    let mut parsed = reqwest::Url::parse(url)
        .map_err(|e| CliError::usage(format!("--url {url:?} is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(CliError::usage(format!(
            "--url {url:?}: only http:// URLs are served by `opsledger serve`"
        )));
    }
    if parsed.path().is_empty() || parsed.path() == "/" {
        parsed.set_path("/rpc");
    }
    Ok(parsed)
}

/// POSTs a JSON-RPC `body` to `url` (see [`rpc_url`]) with an optional bearer token; the
/// reply's text, or a transport error (unreachable, 401 with a hint, another HTTP status).
pub fn over_http(url: &str, token: Option<&str>, body: &str) -> CliResult<String> {
    let url = rpc_url(url)?;
    let client = reqwest::blocking::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(300))
        .build()
        .map_err(|e| CliError::transport(format!("cannot build the HTTP client: {e}")))?;
    let mut request = client
        .post(url.clone())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_owned());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request
        .send()
        .map_err(|e| CliError::transport(format!("cannot reach {url}: {}", why_unreachable(&e))))?;
    let status = response.status();
    let text = response
        .text()
        .map_err(|e| CliError::transport(format!("cannot read the answer of {url}: {e}")))?;
    match status.as_u16() {
        200 => Ok(text),
        401 => Err(CliError::transport(format!(
            "{url}: 401 Unauthorized: {} (pass --token or set OPSLEDGER_TOKEN)",
            text.trim()
        ))),
        _ => Err(CliError::transport(format!(
            "{url}: HTTP {status}: {}",
            text.trim()
        ))),
    }
}

/// Why a request did not get an answer, in the words an operator looks for: the innermost
/// cause (`Connection refused (os error 111)`), named by kind (timed out, TLS), rather than
/// the client's `error sending request for url`.
fn why_unreachable(e: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let innermost = cause.to_string();
    let lower = innermost.to_ascii_lowercase();
    if e.is_timeout() {
        format!("timed out ({innermost})")
    } else if lower.contains("certificate") || lower.contains("tls") || lower.contains("ssl") {
        format!("TLS failed ({innermost})")
    } else if lower.contains("refused") {
        "connection refused (is the server running, and on this address?)".to_owned()
    } else if e.is_connect() {
        format!("cannot connect ({innermost})")
    } else {
        innermost
    }
}

fn print_reply(reply: &str) -> CliResult {
    let value: Value = serde_json::from_str(reply)
        .map_err(|e| CliError::transport(format!("the reply is not JSON ({e}): {reply}")))?;
    if let Some(result) = value.get("result") {
        return emit_line(&pretty(result));
    }
    match value.get("error") {
        Some(error) => {
            emit_err(&pretty(error));
            Err(CliError::reported(Failure::Refused))
        }
        None => Err(CliError::transport(format!(
            "the reply is not a JSON-RPC response: {reply}"
        ))),
    }
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_actor_joins_params_that_stay_as_written() {
        let roles = ["agent".to_owned()];
        let with = |p: &str| inject_actor(Some(p.to_owned()), Some("alice"), &roles).unwrap();
        let actor = r#""actor":{"id":"alice","roles":["agent"]}"#;
        // A key given twice stays twice, for the server to refuse.
        assert_eq!(
            with(r#" {"a":1,"a":2}"#).unwrap(),
            format!(r#"{{{actor},"a":1,"a":2}}"#)
        );
        assert_eq!(with("{ }").unwrap(), format!("{{{actor} }}"));
        assert_eq!(
            with(r#"{"actor":{"id":"bob"}}"#).unwrap(),
            r#"{"actor":{"id":"bob"}}"#
        );
        assert!(inject_actor(Some("[1]".into()), Some("alice"), &roles).is_err());
        assert_eq!(
            inject_actor(None, Some("alice"), &roles).unwrap().unwrap(),
            format!("{{{actor}}}")
        );
        assert_eq!(
            inject_actor(Some("[1]".into()), None, &roles)
                .unwrap()
                .unwrap(),
            "[1]"
        );
    }
}
