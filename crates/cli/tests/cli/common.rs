//! Running the real `opsledger` binary: one-shot commands, an HTTP server on an ephemeral
//! port, a stdio server on pipes.

#![allow(dead_code)]

use opsledger::core::incident::{CloseCode, IncidentCommand};
use opsledger::core::{Actor, Impact, IncidentId, Role, Urgency};
use opsledger::{CommandEnvelope, Engine, EngineConfig};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_opsledger");

/// The line `serve` prints once it listens.
pub const LISTENING: &str = "opsledger listening on http://";

pub const ALICE_TOKEN: &str = "alice-token-0123456789abcdef";
pub const CAROL_TOKEN: &str = "carol-token-0123456789abcdef";

/// A data directory holding a few incidents in various states (with their SLA follow-ups).
pub fn build(dir: &Path, incidents: u32) {
    let engine = Engine::open(dir, EngineConfig::default()).unwrap();
    let alice = Actor::new("alice", [Role::Agent]);
    for i in 0..incidents {
        let id = IncidentId(opsledger::Uuid::now_v7());
        let run = |command: IncidentCommand| {
            engine
                .execute(CommandEnvelope::new(alice.clone(), command))
                .unwrap()
        };
        run(IncidentCommand::Open {
            id,
            title: format!("Checkout fails \"{i}\"\nwith ünïcödé"),
            description: String::new(),
            caller: "bob".into(),
            impact: Impact::High,
            urgency: if i % 2 == 0 {
                Urgency::High
            } else {
                Urgency::Low
            },
            service: Some("payments".into()),
            cis: vec![],
            group: Some("web-oncall".into()),
            assignee: None,
            alert: None,
        });
        if i % 3 != 2 {
            run(IncidentCommand::Assign {
                id,
                group: Some("web-oncall".into()),
                assignee: Some("alice".into()),
            });
        }
        if i % 3 == 0 {
            run(IncidentCommand::Resolve {
                id,
                code: CloseCode::SolvedWorkaround,
                notes: "Rolled back".into(),
            });
        }
    }
    engine.close().unwrap();
}

/// Flips a bit inside the payload of the stored record at `position` of an SQLite data
/// directory (its checksum no longer matches).
pub fn damage_record(dir: &Path, position: i64) {
    let db = rusqlite::Connection::open(dir.join("opsledger.db")).unwrap();
    let mut record: Vec<u8> = db
        .query_row(
            "SELECT record FROM events WHERE position = ?1",
            [position],
            |r| r.get(0),
        )
        .unwrap();
    let at = record.len() - 12;
    record[at] ^= 0x20;
    let changed = db
        .execute(
            "UPDATE events SET record = ?1 WHERE position = ?2",
            rusqlite::params![record, position],
        )
        .unwrap();
    assert_eq!(changed, 1);
}

/// The number after `label` in a report line such as `  events          1,234`.
pub fn reported(report: &str, label: &str) -> u64 {
    let line = report
        .lines()
        .find(|l| l.trim_start().starts_with(label))
        .unwrap_or_else(|| panic!("no {label} in {report}"));
    let digits: String = line[line.find(label).unwrap() + label.len()..]
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == ',')
        .filter(char::is_ascii_digit)
        .collect();
    digits.parse().unwrap()
}

/// A path as a command-line argument.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Runs `opsledger ARGS` to completion.
pub fn run(args: &[&str]) -> Output {
    run_in(None, args, None)
}

/// Runs `opsledger ARGS` with an optional working directory and stdin.
pub fn run_in(cwd: Option<&Path>, args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("OPSLEDGER_TOKEN")
        .env("RUST_LOG", "warn")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    let mut child = cmd.spawn().expect("spawn opsledger");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(input.as_bytes()).unwrap();
    }
    child.wait_with_output().expect("opsledger runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts the exit code, showing the output otherwise.
#[track_caller]
pub fn assert_exit(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "exit status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status,
        stdout(o),
        stderr(o)
    );
    assert!(
        !stderr(o).contains("panicked"),
        "panic in the binary:\n{}",
        stderr(o)
    );
}

/// Runs a command that must succeed; returns its stdout.
#[track_caller]
pub fn ok(args: &[&str]) -> String {
    let o = run(args);
    assert_exit(&o, 0);
    stdout(&o)
}

/// `opsledger call ... METHOD PARAMS` that must succeed; returns the parsed result.
#[track_caller]
pub fn call_ok(target: &[&str], method: &str, params: Value) -> Value {
    let params = params.to_string();
    let mut args = vec!["call"];
    args.extend_from_slice(target);
    args.push(method);
    args.push(&params);
    let out = ok(&args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{method}: not JSON ({e}): {out}"))
}

/// Every file under `dir` (relative path, size), sorted: a cheap "nothing was written" check.
pub fn tree(dir: &Path) -> Vec<(PathBuf, u64)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(PathBuf, u64)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let len = e.metadata().map(|m| m.len()).unwrap_or(0);
                out.push((p.strip_prefix(root).unwrap().to_path_buf(), len));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Copies a directory tree.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// A tokens file granting alice (agent) and carol (change manager).
pub fn write_tokens(dir: &Path) -> PathBuf {
    let path = dir.join("tokens.json");
    std::fs::write(
        &path,
        json!({
            ALICE_TOKEN: {"actor": "alice", "roles": ["agent", "problem_manager"]},
            CAROL_TOKEN: {"actor": "carol", "roles": ["change_manager", "cab_member"]},
        })
        .to_string(),
    )
    .unwrap();
    path
}

/// A running `opsledger serve` over HTTP.
pub struct Server {
    child: Option<Child>,
    pub addr: String,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Server {
    /// `opsledger serve --data DATA --listen 127.0.0.1:0 --no-scheduler EXTRA`.
    pub fn start(data: &Path, extra: &[&str]) -> Server {
        Server::start_logging(data, extra, "info")
    }

    /// [`Server::start`] with `RUST_LOG` set to `filter`.
    pub fn start_logging(data: &Path, extra: &[&str], filter: &str) -> Server {
        let mut location = vec!["--data".to_owned()];
        location.push(data.to_str().expect("a UTF-8 path").to_owned());
        Server::spawn(&location, extra, filter)
    }

    /// `opsledger serve --store URL --listen 127.0.0.1:0 --no-scheduler EXTRA`: a replica on a
    /// shared database.
    pub fn start_store(url: &str, extra: &[&str]) -> Server {
        Server::start_store_logging(url, extra, "info")
    }

    /// [`Server::start_store`] with `RUST_LOG` set to `filter`.
    pub fn start_store_logging(url: &str, extra: &[&str], filter: &str) -> Server {
        Server::spawn(&["--store".to_owned(), url.to_owned()], extra, filter)
    }

    fn spawn(location: &[String], extra: &[&str], filter: &str) -> Server {
        let mut cmd = Command::new(BIN);
        cmd.arg("serve")
            .args(location)
            .args(["--listen", "127.0.0.1:0", "--no-scheduler"])
            .args(extra)
            .env("RUST_LOG", filter)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn opsledger serve");
        let stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        });
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let first = lines.next().and_then(Result::ok);
            let _ = tx.send(first);
            for _ in lines {}
        });
        let mut server = Server {
            child: Some(child),
            addr: String::new(),
            stderr: Some(stderr),
        };
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(Some(line)) if line.starts_with(LISTENING) => {
                server.addr = line[LISTENING.len()..].trim().to_owned();
                server
            }
            other => {
                let (status, log) = server.kill();
                panic!("serve did not start ({other:?}), status {status:?}:\n{log}");
            }
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// POSTs `body` to /rpc with `application/json`.
    pub fn post(&self, body: impl Into<String>, token: Option<&str>) -> (u16, String) {
        let mut req = client()
            .post(self.url("/rpc"))
            .header("content-type", "application/json")
            .body(body.into());
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().expect("POST /rpc");
        let status = resp.status().as_u16();
        (status, resp.text().unwrap_or_default())
    }

    /// A JSON-RPC call that must succeed over HTTP; the result.
    #[track_caller]
    pub fn rpc(&self, method: &str, params: Value, token: Option<&str>) -> Value {
        let body = json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 1});
        let (status, text) = self.post(body.to_string(), token);
        assert_eq!(status, 200, "{method}: {text}");
        let reply: Value = serde_json::from_str(&text).unwrap();
        reply
            .get("result")
            .cloned()
            .unwrap_or_else(|| panic!("{method} failed: {reply}"))
    }

    /// SIGTERM, then waits; returns the exit status and the server's stderr.
    pub fn stop(mut self) -> (ExitStatus, String) {
        let child = self.child.as_mut().unwrap();
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                break child.wait().unwrap();
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        self.child = None;
        let log = self
            .stderr
            .take()
            .map(|h| h.join().unwrap())
            .unwrap_or_default();
        (status, log)
    }

    /// The server's process id (to send it signals).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// SIGKILL (`kill -9`): no shutdown, no flush beyond what the engine made durable.
    pub fn kill9(mut self) -> String {
        self.kill().1
    }

    fn kill(&mut self) -> (Option<ExitStatus>, String) {
        let status = self.child.take().map(|mut c| {
            let _ = c.kill();
            c.wait().unwrap()
        });
        let log = self
            .stderr
            .take()
            .map(|h| h.join().unwrap())
            .unwrap_or_default();
        (status, log)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// A running `opsledger serve --stdio`.
pub struct StdioServer {
    child: Child,
    stdin: Option<ChildStdin>,
    replies: mpsc::Receiver<String>,
}

impl StdioServer {
    pub fn start(data: &Path, extra: &[&str]) -> StdioServer {
        let mut child = Command::new(BIN)
            .args(["serve", "--stdio", "--no-scheduler", "--data"])
            .arg(data)
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn opsledger serve --stdio");
        let stdin = child.stdin.take();
        let stdout: ChildStdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        StdioServer {
            child,
            stdin,
            replies: rx,
        }
    }

    /// Sends one line (a newline is added).
    pub fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(line.as_bytes()).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
    }

    /// The next reply line.
    pub fn recv(&mut self) -> String {
        self.replies
            .recv_timeout(Duration::from_secs(30))
            .expect("a reply line from serve --stdio")
    }

    /// Sends a request and returns its reply.
    pub fn call(&mut self, line: &str) -> String {
        self.send(line);
        self.recv()
    }

    /// SIGTERM while stdin stays open; waits for the exit.
    pub fn terminate(mut self) -> ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                drop(self.stdin.take());
                return status;
            }
            assert!(Instant::now() < deadline, "serve --stdio ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Closes stdin (end of input) and waits for the exit.
    pub fn finish(mut self) -> ExitStatus {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "serve --stdio did not exit at EOF"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for StdioServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A 24x7 calendar, as TOML.
pub fn calendar() -> String {
    let days = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    let weekly: String = days
        .iter()
        .map(|d| format!("{d} = [{{ start = \"00:00\", end = \"24:00\" }}]\n"))
        .collect();
    format!(
        r#"[[sla.calendars]]
id = "24x7"
version = 1
time_zone = "UTC"

[sla.calendars.weekly]
{weekly}
"#
    )
}

/// A P1 resolution SLA of `target` (definition version `version`) on the 24x7 calendar.
pub fn definition(target: &str, version: u32) -> String {
    format!(
        r#"[[sla.definitions]]
id = "p1-resolution"
version = {version}
name = "P1 resolution: {target}"
applies_to = {{ kind = "incident", priorities = ["critical"] }}
metric = "resolution"
target = "{target}"
calendar = {{ id = "24x7" }}

"#
    )
}

/// The 24x7 calendar and one P1 resolution SLA; the rest of the policy is the default.
pub fn p1_policy(target: &str, version: u32) -> String {
    format!(
        "# P1 incidents are resolved within {target}, around the clock.\n{}{}",
        calendar(),
        definition(target, version)
    )
}

/// Writes `text` to `dir/name`.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// The soak restarts the PostgreSQL server under load: the other PostgreSQL tests of this
/// harness hold this lock shared, the soak holds it alone, so no other test sees the restart.
static POSTGRES_SERVER: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// Held by a PostgreSQL test that must not see the server restart.
pub fn postgres_shared() -> std::sync::RwLockReadGuard<'static, ()> {
    POSTGRES_SERVER
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Held by the test that restarts the PostgreSQL server.
pub fn postgres_alone() -> std::sync::RwLockWriteGuard<'static, ()> {
    POSTGRES_SERVER
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
