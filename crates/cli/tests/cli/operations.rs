//! What an operator runs and watches: the access log (and what it must never hold), token
//! rotation on SIGHUP, the metrics behind the Grafana dashboard and the alert rules, the
//! separate metrics address, and what `--durability buffered` keeps through `kill -9`.

use crate::common::{BIN, Server, client, ok, s};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const MIA_TOKEN: &str = "mia-token-0123456789abcdef";
const NOEL_TOKEN: &str = "noel-token-0123456789abcdef";
const WRONG_TOKEN: &str = "wrong-token-0123456789abcdef";

fn write_tokens(path: &Path, tokens: Value) {
    std::fs::write(path, tokens.to_string()).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

fn mia_tokens(dir: &Path) -> PathBuf {
    let path = dir.join("tokens.json");
    write_tokens(
        &path,
        json!({MIA_TOKEN: {"actor": "mia", "roles": ["manager", "agent"]}}),
    );
    path
}

fn status_with(server: &Server, method: &str, token: &str) -> u16 {
    let body = json!({"jsonrpc": "2.0", "method": method, "params": {}, "id": 1});
    server.post(body.to_string(), Some(token)).0
}

#[test]
fn json_access_log_names_each_request_and_never_a_token_or_a_webhook_secret() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = mia_tokens(dir.path());
    // Debug level: even the detailed logs must not hold a secret.
    let server = Server::start_logging(
        &dir.path().join("data"),
        &["--token-file", s(&tokens), "--log-format", "json"],
        "debug",
    );
    let created = server.rpc(
        "webhook.create",
        json!({"url": "http://127.0.0.1:9/hook", "filter": {"event_types": ["incident.opened"]}}),
        Some(MIA_TOKEN),
    );
    let secret = created["secret"].as_str().expect("secret").to_owned();
    server.rpc(
        "incident.open",
        json!({"title": "Checkout down", "caller": "bob", "impact": "high", "urgency": "high"}),
        Some(MIA_TOKEN),
    );
    assert_eq!(status_with(&server, "query.stats", WRONG_TOKEN), 401);
    let request_id = "proxy-req-42";
    let answered = client()
        .post(server.url("/rpc"))
        .bearer_auth(MIA_TOKEN)
        .header("content-type", "application/json")
        .header("x-request-id", request_id)
        .body(r#"[{"jsonrpc":"2.0","method":"query.stats","id":1},{"jsonrpc":"2.0","method":"nope","id":2}]"#)
        .send()
        .unwrap();
    assert_eq!(answered.headers()["x-request-id"], request_id);
    let (_, log) = server.stop();

    for secret_text in [MIA_TOKEN, WRONG_TOKEN, secret.as_str()] {
        assert!(
            !log.contains(secret_text),
            "the log holds a secret ({} characters)",
            secret_text.len()
        );
    }
    let lines: Vec<Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    let access: Vec<&Value> = lines
        .iter()
        .filter(|l| l["target"] == "opsledger::access")
        .collect();
    let by_method = |method: &str| {
        access
            .iter()
            .find(|l| l["rpc_method"] == method)
            .unwrap_or_else(|| panic!("no access line for {method}: {access:#?}"))
    };
    let create = by_method("webhook.create");
    assert_eq!(create["level"], "INFO");
    assert_eq!(create["actor"], "mia");
    assert_eq!(create["status"], 200);
    assert_eq!(create["rpc_outcome"], "ok");
    assert_eq!(create["http_method"], "POST");
    assert!(create["client"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert!(create["duration_ms"].as_f64().unwrap() >= 0.0);
    assert!(!create["request_id"].as_str().unwrap().is_empty());
    let batch = by_method("query.stats,(unknown)");
    assert_eq!(batch["rpc_outcome"], "ok,-32601");
    assert_eq!(batch["request_id"], request_id);
    let refused = access
        .iter()
        .find(|l| l["status"] == 401)
        .expect("the refused request is logged");
    assert_eq!(refused["actor"], "-");
    // Every request got its own id.
    let ids: BTreeSet<&str> = access
        .iter()
        .map(|l| l["request_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), access.len());
    // The engine's spans: what happens inside a command says which command it is, and which
    // request it served (the request id of its access line).
    let open = by_method("incident.open");
    let inside = lines
        .iter()
        .find(|l| {
            l["span"]["name"] == "command"
                && l["span"]["command"] == "incident.open"
                && l["span"]["actor"] == "mia"
        })
        .expect("a line inside the incident.open command span");
    let spans = inside["spans"].as_array().expect("the span list");
    assert!(
        spans
            .iter()
            .any(|s| s["name"] == "request" && s["request_id"] == open["request_id"]),
        "{inside}"
    );
}

#[test]
fn sighup_rotates_tokens_and_an_invalid_file_keeps_the_old_ones() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = mia_tokens(dir.path());
    let server = Server::start(&dir.path().join("data"), &["--token-file", s(&tokens)]);
    assert_eq!(status_with(&server, "query.stats", MIA_TOKEN), 200);
    let hangup = |server: &Server| {
        let status = Command::new("kill")
            .args(["-HUP", &server.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    };
    // Rotation: Noel's token replaces Mia's.
    write_tokens(
        &tokens,
        json!({NOEL_TOKEN: {"actor": "noel", "roles": ["agent"]}}),
    );
    hangup(&server);
    let deadline = Instant::now() + Duration::from_secs(10);
    while status_with(&server, "query.stats", NOEL_TOKEN) != 200 {
        assert!(Instant::now() < deadline, "the new token never worked");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(status_with(&server, "query.stats", MIA_TOKEN), 401);
    // A file with a role that does not exist: refused, Noel's token stays.
    write_tokens(
        &tokens,
        json!({MIA_TOKEN: {"actor": "mia", "roles": ["superuser"]}}),
    );
    hangup(&server);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(status_with(&server, "query.stats", NOEL_TOKEN), 200);
    assert_eq!(status_with(&server, "query.stats", MIA_TOKEN), 401);
    let (status, log) = server.stop();
    assert!(status.success(), "{log}");
    assert!(log.contains("tokens reloaded"), "{log}");
    assert!(
        log.contains("tokens not reloaded") && log.contains("superuser"),
        "the log says why: {log}"
    );
    assert!(!log.contains(MIA_TOKEN) && !log.contains(NOEL_TOKEN));
}

/// Metric names in a scrape: counters as `name_total`, histograms as their three series.
fn exported_names(scrape: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in scrape.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let mut parts = rest.split_whitespace();
        let (Some(name), Some(kind)) = (parts.next(), parts.next()) else {
            continue;
        };
        match kind {
            "counter" => {
                names.insert(format!("{name}_total"));
            }
            "histogram" => {
                for suffix in ["_bucket", "_sum", "_count"] {
                    names.insert(format!("{name}{suffix}"));
                }
            }
            _ => {
                names.insert(name.to_owned());
            }
        }
    }
    names
}

/// Every `opsledger_*` name in a text.
fn named_metrics(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(start) = rest.find("opsledger_") {
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(tail.len());
        names.insert(tail[..end].to_owned());
        rest = &tail[end..];
    }
    names
}

fn deploy_file(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_dashboard_and_the_alert_rules_name_only_metrics_the_server_exports() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = mia_tokens(dir.path());
    // The scheduler and the webhook worker on, so that their metrics are there.
    let server = Server::start(
        &dir.path().join("data"),
        &["--token-file", s(&tokens), "--scheduler"],
    );
    server.rpc(
        "incident.open",
        json!({"title": "Disk full", "caller": "bob", "impact": "low", "urgency": "low"}),
        Some(MIA_TOKEN),
    );
    let unauthenticated = client().get(server.url("/metrics")).send().unwrap();
    assert_eq!(unauthenticated.status().as_u16(), 401);
    let scrape = client()
        .get(server.url("/metrics"))
        .bearer_auth(MIA_TOKEN)
        .send()
        .unwrap()
        .text()
        .unwrap();
    server.stop();
    let exported = exported_names(&scrape);
    // The engine's figures are there, with values that follow from what happened.
    let value = |series: &str| {
        scrape
            .lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no {series} in the scrape:\n{scrape}"))
    };
    assert!(value("opsledger_events_appended_total") >= 1.0);
    assert_eq!(value("opsledger_projection_lag_events"), 0.0);
    assert!(value("opsledger_store_size_bytes") > 0.0);
    // Per-commit: every commit that stored events was synced.
    assert!(value("opsledger_store_commits_total") >= 1.0);
    assert!(value("opsledger_store_syncs_total") >= value("opsledger_store_commits_total"));
    assert_eq!(
        value(r#"opsledger_rpc_calls_total{method="incident.open",outcome="ok"}"#),
        1.0
    );

    let dashboard: Value = serde_json::from_str(&deploy_file("grafana-dashboard.json"))
        .expect("the dashboard is JSON");
    let panels = dashboard["panels"].as_array().expect("panels");
    assert!(!panels.is_empty());
    let mut on_dashboard = BTreeSet::new();
    for panel in panels {
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{}", panel["title"]);
        for target in targets {
            let expr = target["expr"].as_str().expect("expr");
            let names = named_metrics(expr);
            assert!(!names.is_empty(), "{expr}");
            on_dashboard.extend(names);
        }
    }
    let unknown: Vec<_> = on_dashboard.difference(&exported).collect();
    assert!(
        unknown.is_empty(),
        "the dashboard names metrics the server does not export: {unknown:?}"
    );
    let alerts = named_metrics(&deploy_file("prometheus-alerts.yml"));
    assert!(alerts.len() >= 5);
    let unknown: Vec<_> = alerts.difference(&exported).collect();
    assert!(
        unknown.is_empty(),
        "the alert rules name metrics the server does not export: {unknown:?}"
    );
    // And the dashboard shows every family the server exports (by base name).
    let base = |n: &str| {
        ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| n.strip_suffix(s))
            .unwrap_or(n)
            .to_owned()
    };
    let shown: BTreeSet<String> = on_dashboard.iter().map(|n| base(n)).collect();
    let missing: Vec<String> = exported
        .iter()
        .map(|n| base(n))
        .filter(|n| !shown.contains(n))
        .collect();
    assert!(missing.is_empty(), "not on the dashboard: {missing:?}");
}

#[test]
fn metrics_listen_serves_the_metrics_apart_from_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = mia_tokens(dir.path());
    let mut child = Command::new(BIN)
        .args(["serve", "--data"])
        .arg(dir.path().join("data"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
            "--no-scheduler",
            "--token-file",
            s(&tokens),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let api = lines.next().unwrap().unwrap();
    let metrics = lines.next().unwrap().unwrap();
    let api = api
        .strip_prefix("opsledger listening on http://")
        .unwrap_or_else(|| panic!("{api}"))
        .to_owned();
    let metrics = metrics
        .strip_prefix("opsledger metrics on http://")
        .unwrap_or_else(|| panic!("{metrics}"))
        .to_owned();
    let scrape = client()
        .get(format!("http://{metrics}/metrics"))
        .send()
        .unwrap();
    let main = client()
        .get(format!("http://{api}/metrics"))
        .bearer_auth(MIA_TOKEN)
        .send()
        .unwrap();
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    assert_eq!(scrape.status().as_u16(), 200);
    assert!(scrape.text().unwrap().contains("opsledger_uptime_seconds"));
    assert_eq!(main.status().as_u16(), 404);
    assert!(status.success());
}

/// Keeps the disk busy: large writes, each synced, until told to stop.
fn disk_pressure(dir: &Path, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    let path = dir.join("pressure.bin");
    std::thread::spawn(move || {
        let chunk = vec![0x5au8; 8 * 1024 * 1024];
        let mut written = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let mut file = std::fs::File::create(&path).unwrap();
            for _ in 0..4 {
                file.write_all(&chunk).unwrap();
                written += chunk.len() as u64;
            }
            file.sync_all().unwrap();
        }
        let _ = std::fs::remove_file(&path);
        written
    })
}

/// What `kill -9` of `serve --durability buffered` under disk pressure left of the writes it
/// acknowledged.
struct Kill9Report {
    acknowledged: usize,
    /// How long before the kill each lost acknowledgement arrived.
    lost: Vec<Duration>,
    /// Whether what was kept is a prefix of the acknowledgements: every lost one arrived
    /// after every kept one of the same writer.
    kept_a_prefix: bool,
}

fn buffered_kill9(dir: &Path, data: &Path, label: &str) -> Kill9Report {
    let tokens = mia_tokens(dir);
    let server = Server::start(
        data,
        &[
            "--token-file",
            s(&tokens),
            "--durability",
            "buffered",
            "--no-webhooks",
        ],
    );
    let stop = Arc::new(AtomicBool::new(false));
    let pressure = disk_pressure(dir, stop.clone());
    // Four writers; each title is remembered with the instant its acknowledgement arrived.
    let acknowledged: Arc<Mutex<Vec<(usize, String, Instant)>>> = Arc::default();
    let url = server.url("/rpc");
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (url, stop, acknowledged) = (url.clone(), stop.clone(), acknowledged.clone());
            std::thread::spawn(move || {
                let client = client();
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let title = format!("buffered write {w}-{i}");
                    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "incident.open",
                        "params": {"title": title, "caller": "bob", "impact": "low", "urgency": "low"}});
                    let Ok(response) = client
                        .post(&url)
                        .bearer_auth(MIA_TOKEN)
                        .header("content-type", "application/json")
                        .body(body.to_string())
                        .send()
                    else {
                        return;
                    };
                    let Ok(text) = response.text() else { return };
                    if text.contains("\"result\"") {
                        acknowledged.lock().unwrap().push((w, title, Instant::now()));
                    }
                    i += 1;
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(3));
    let _ = server.kill9();
    let killed_at = Instant::now();
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.join().unwrap();
    }
    let pressure_bytes = pressure.join().unwrap();

    let exported = ok(&["export", "--data", s(data)]);
    let acknowledged = acknowledged.lock().unwrap();
    let kept = |title: &str| exported.contains(&format!("\"{title}\""));
    let lost: Vec<Duration> = acknowledged
        .iter()
        .filter(|(_, title, _)| !kept(title))
        .map(|(_, _, at)| killed_at.duration_since(*at))
        .collect();
    let kept_a_prefix = (0..4).all(|w| {
        let mine: Vec<bool> = acknowledged
            .iter()
            .filter(|(writer, _, _)| *writer == w)
            .map(|(_, title, _)| kept(title))
            .collect();
        mine.windows(2).all(|pair| pair[0] || !pair[1])
    });
    let oldest = lost.iter().max();
    println!(
        "{label}: buffered, kill -9 under disk pressure ({} MiB written beside): {} writes \
         acknowledged, {} lost, oldest lost acknowledgement {}",
        pressure_bytes / (1024 * 1024),
        acknowledged.len(),
        lost.len(),
        oldest.map_or_else(|| "none".to_owned(), |d| format!("{} ms", d.as_millis()))
    );
    assert!(
        acknowledged.len() >= 20,
        "too few writes to judge: {}",
        acknowledged.len()
    );
    // The directory opens and verifies after the crash.
    let verified = Command::new(BIN)
        .args(["verify", "--data", s(data)])
        .output()
        .unwrap();
    let mut report = String::new();
    let _ = verified.stdout.as_slice().read_to_string(&mut report);
    assert!(verified.status.success(), "{report}");
    Kill9Report {
        acknowledged: acknowledged.len(),
        lost,
        kept_a_prefix,
    }
}

#[test]
fn buffered_durability_keeps_every_acknowledged_write_through_kill_9_under_disk_pressure() {
    let dir = tempfile::tempdir().unwrap();
    let report = buffered_kill9(dir.path(), &dir.path().join("data"), "sqlite");
    // On SQLite, Buffered acknowledges once the transaction is in the operating system's
    // hands: a crash of the process alone loses none of it (a power loss can).
    assert!(
        report.lost.is_empty(),
        "acknowledged writes lost to kill -9: {} of {}",
        report.lost.len(),
        report.acknowledged
    );
}

#[test]
fn buffered_durability_on_sled_loses_only_the_newest_acknowledgements_to_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    // A sled data directory: migrated from an SQLite one.
    let source = dir.path().join("source");
    crate::common::build(&source, 1);
    let data = dir.path().join("sled");
    ok(&[
        "migrate",
        "--from",
        s(&source),
        "--to",
        s(&data),
        "--store",
        "sled",
    ]);
    let report = buffered_kill9(dir.path(), &data, "sled");
    // sled acknowledges from its in-process buffer, written and synced by a background flusher:
    // a crash loses the writes of the last flush period and of the flush that was running, a
    // time that grows with the disk's latency (docs/OPERATIONS.md). What stays is a prefix.
    assert!(
        report.kept_a_prefix,
        "a kept write follows a lost one of the same writer"
    );
}
