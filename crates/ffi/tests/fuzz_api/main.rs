//! Fuzzing the engine's API on the stable toolchain: arbitrary JSON-RPC calls of the real
//! methods (built from the OpenRPC document's method names and params schemas, then mutated;
//! see `generate`) against an engine in memory and one on disk (SQLite) in lockstep, and
//! through the C ABI entry points. Invariants:
//!
//! - no panic escapes: every call is answered with a JSON-RPC response (never -32603), the
//!   dispatcher counts no caught panic, the C ABI never returns `PANICKED` nor poisons a handle;
//! - a refused call writes nothing: the log's head is unchanged after any error;
//! - both engines answer every call alike (the same result or the same error code);
//! - `verify` is clean after each episode, the read models reflect the head, and the disk
//!   engine reopens to the same head, clean again.
//!
//! Each episode replays the committed corpus (`corpus/`, JSON-RPC requests applied in file
//! name order: a story that creates records of every kind), then makes random calls, some of
//! them mutations of corpus entries. The run lasts `OPSLEDGER_FUZZ_SECS` seconds (default 4:
//! a smoke run inside `cargo test`; CI sets a longer one) from the seed `OPSLEDGER_FUZZ_SEED`
//! (default: drawn from the clock and printed, so a failure can be replayed).

mod generate;

use chrono::{DateTime, TimeZone, Utc};
use generate::{Generator, garble, mutate, request_text};
use opsledger::{Engine, EngineConfig, ManualClock, SequentialIds};
use opsledger_ffi::*;
use opsledger_rpc::{CallContext, Dispatcher, Limits, api};
use proptest::prelude::RngExt;
use proptest::test_runner::{RngAlgorithm, TestRng};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::ptr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Calls per episode after the corpus.
const CALLS_PER_EPISODE: usize = 250;

fn budget() -> Duration {
    let secs: f64 = std::env::var("OPSLEDGER_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4.0);
    Duration::from_secs_f64(secs)
}

fn seed() -> u64 {
    std::env::var("OPSLEDGER_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(7)
        })
}

fn rng_for(seed: u64, stream: u64) -> TestRng {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    bytes[8..16].copy_from_slice(&stream.to_le_bytes());
    TestRng::from_seed(RngAlgorithm::ChaCha, &bytes)
}

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 4, 9, 0, 0).single().unwrap()
}

/// The committed corpus: (file name, request).
fn corpus() -> Vec<(String, Value)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_api/corpus");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let value: Value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p.file_name().unwrap().to_string_lossy().into_owned(), value)
        })
        .collect()
}

/// One engine and its dispatcher.
struct Target {
    name: &'static str,
    engine: Arc<Engine>,
    rpc: Dispatcher,
}

fn config(clock: &Arc<ManualClock>) -> EngineConfig {
    EngineConfig::default()
        .with_clock(clock.clone())
        .with_ids(Arc::new(SequentialIds::new(11)))
}

impl Target {
    fn new(name: &'static str, engine: Engine, clock: &Arc<ManualClock>) -> Target {
        let engine = Arc::new(engine);
        let rpc = Dispatcher::with_limits(
            api::registry_with_clock(engine.clone(), Some(clock.clone())),
            Limits::default(),
        );
        Target { name, engine, rpc }
    }

    fn head(&self) -> u64 {
        self.engine.head().expect("head")
    }

    /// One request: the parsed response (None for no response), with the invariants checked.
    fn call(&self, text: &str, log: &Trail) -> Option<Value> {
        let head = self.head();
        let panics = self.rpc.panics();
        let reply = self.rpc.handle_with(&CallContext::in_process(), text);
        let reply: Option<Value> = reply.map(|r| {
            serde_json::from_str(&r).unwrap_or_else(|e| {
                log.fail(&format!("{}: reply is not JSON ({e}): {r}", self.name))
            })
        });
        if self.rpc.panics() != panics {
            log.fail(&format!("{}: a method panicked on {text}", self.name));
        }
        if let Some(r) = &reply {
            if r["error"]["code"] == json!(-32603) {
                log.fail(&format!("{}: internal error on {text}: {r}", self.name));
            }
            if r.get("error").is_some() && self.head() != head {
                log.fail(&format!(
                    "{}: a refused call wrote (head {head} -> {}): {text} -> {r}",
                    self.name,
                    self.head()
                ));
            }
        }
        reply
    }

    /// Verify clean, read models at the head.
    fn check_consistent(&self, log: &Trail) {
        let report = self.engine.verify().expect("verify runs");
        if !report.is_clean() {
            log.fail(&format!("{}: verify found {report:?}", self.name));
        }
        let stats = self.engine.stats().expect("stats");
        if stats.views_checkpoint != stats.head {
            log.fail(&format!(
                "{}: read models at {} behind the head {}",
                self.name, stats.views_checkpoint, stats.head
            ));
        }
    }
}

/// The last requests sent, printed with the seed when an invariant breaks.
struct Trail {
    seed: u64,
    recent: std::cell::RefCell<std::collections::VecDeque<String>>,
}

impl Trail {
    fn new(seed: u64) -> Trail {
        Trail {
            seed,
            recent: Default::default(),
        }
    }
    fn push(&self, text: &str) {
        let mut recent = self.recent.borrow_mut();
        if recent.len() == 20 {
            recent.pop_front();
        }
        recent.push_back(text.chars().take(2000).collect());
    }
    fn fail(&self, what: &str) -> ! {
        let recent: Vec<String> = self.recent.borrow().iter().cloned().collect();
        panic!(
            "{what}\nreplay with OPSLEDGER_FUZZ_SEED={}; the last requests:\n{}",
            self.seed,
            recent.join("\n")
        );
    }
}

/// Sends `text` to both engines: the same kind of answer from each.
fn both(targets: &[Target; 2], text: &str, log: &Trail) -> Option<Value> {
    log.push(text);
    let a = targets[0].call(text, log);
    let b = targets[1].call(text, log);
    let outcome = |r: &Option<Value>| r.as_ref().map(|r| r["error"]["code"].clone());
    if outcome(&a) != outcome(&b) {
        log.fail(&format!(
            "the engines disagree on {text}:\n  {}: {a:?}\n  {}: {b:?}",
            targets[0].name, targets[1].name
        ));
    }
    a
}

/// Long polls wait at most a few milliseconds.
fn tame(method: &str, params: &mut Value) {
    if method == "events.subscribe"
        && let Some(object) = params.as_object_mut()
    {
        object.insert("timeout_ms".into(), json!(2));
    }
}

#[test]
fn arbitrary_calls_of_the_real_methods_keep_the_invariants() {
    let seed = seed();
    let log = Trail::new(seed);
    let deadline = Instant::now() + budget().mul_f64(0.75);
    let corpus = corpus();
    assert!(corpus.len() >= 10, "the corpus holds the seed story");
    let mut rng = rng_for(seed, 1);
    let mut episodes = 0;
    let mut calls = 0u64;
    // Answers by code (0: a result), to show in the log what the run reached.
    let mut answers: std::collections::BTreeMap<i64, u64> = Default::default();
    loop {
        episodes += 1;
        let dir = tempfile::tempdir().unwrap();
        let clock_a = Arc::new(ManualClock::new(start()));
        let clock_b = Arc::new(ManualClock::new(start()));
        let targets = [
            Target::new(
                "memory",
                Engine::in_memory(config(&clock_a)).unwrap(),
                &clock_a,
            ),
            Target::new(
                "sqlite",
                Engine::open(dir.path().join("data"), config(&clock_b)).unwrap(),
                &clock_b,
            ),
        ];
        let mut generator = Generator::new(&targets[0].rpc.openrpc_document(), start());
        // The story first: records of every kind for the random calls to work on.
        for (name, request) in &corpus {
            let reply = both(&targets, &request.to_string(), &log);
            if let Some(r) = &reply {
                assert!(r.get("error").is_none(), "corpus {name} failed: {r}");
                generator.learn(&r["result"]);
            }
        }
        for _ in 0..CALLS_PER_EPISODE {
            calls += 1;
            let text = if rng.random_bool(0.2) {
                // A corpus entry, mutated.
                let (_, request) = &corpus[rng.random_range(0..corpus.len())];
                let method = request["method"].as_str().unwrap_or_default().to_owned();
                let mut params = request["params"].clone();
                mutate(&mut params, &mut rng);
                tame(&method, &mut params);
                request_text(calls, &method, &params)
            } else {
                let (method, mut params) = generator.call(&mut rng);
                tame(&method, &mut params);
                request_text(calls, &method, &params)
            };
            if let Some(r) = both(&targets, &text, &log) {
                *answers
                    .entry(r["error"]["code"].as_i64().unwrap_or(0))
                    .or_default() += 1;
                if r.get("result").is_some() {
                    generator.learn(&r["result"]);
                }
            }
        }
        for target in &targets {
            target.check_consistent(&log);
        }
        // The disk engine closes and reopens to the same head, clean.
        let [memory, sqlite] = targets;
        drop(memory);
        let head = sqlite.head();
        drop(sqlite.rpc);
        Arc::try_unwrap(sqlite.engine)
            .unwrap_or_else(|_| panic!("no other engine handle"))
            .close()
            .unwrap();
        let clock = Arc::new(ManualClock::new(start()));
        let reopened = Target::new(
            "sqlite reopened",
            Engine::open(dir.path().join("data"), config(&clock)).unwrap(),
            &clock,
        );
        assert_eq!(
            reopened.head(),
            head,
            "seed {seed}: the head survives a reopen"
        );
        reopened.check_consistent(&log);
        if Instant::now() >= deadline {
            break;
        }
    }
    eprintln!(
        "fuzz_api: seed {seed}: {episodes} episodes, {calls} random calls, answers by code (0: result): {answers:?}"
    );
    // The generator must reach the engine, not only the params checks.
    assert!(
        answers.get(&0).copied().unwrap_or(0) * 10 >= calls,
        "{answers:?}"
    );
}

/// The C ABI as a C caller drives it, with arbitrary configurations and messages.
struct Abi {
    handle: *mut OpsledgerEngine,
}

impl Abi {
    fn open(config: &[u8], log: &Trail) -> Option<Abi> {
        let mut out: *mut OpsledgerEngine = ptr::null_mut();
        // SAFETY: `config` is a live slice and `out` a live out-parameter.
        let status = unsafe { opsledger_engine_open(config.as_ptr(), config.len(), &mut out) };
        match status {
            OpsledgerStatus::Ok => Some(Abi { handle: out }),
            OpsledgerStatus::InvalidConfig
            | OpsledgerStatus::InvalidUtf8
            | OpsledgerStatus::OpenFailed => {
                if !out.is_null() {
                    log.fail("a failed open left a handle");
                }
                None
            }
            other => log.fail(&format!(
                "open answered {other:?} for {}",
                String::from_utf8_lossy(config)
            )),
        }
    }

    /// One message: the response text, with the ABI's invariants checked.
    fn rpc(&self, request: &[u8], log: &Trail) -> Option<String> {
        let mut out: *mut u8 = ptr::null_mut();
        let mut out_len = 0usize;
        // SAFETY: a live handle, a live request slice and live out-parameters.
        let status = unsafe {
            opsledger_rpc(
                self.handle,
                request.as_ptr(),
                request.len(),
                &mut out,
                &mut out_len,
            )
        };
        match status {
            OpsledgerStatus::Ok => {}
            OpsledgerStatus::InvalidUtf8 => return None,
            other => log.fail(&format!(
                "opsledger_rpc answered {other:?} for {}",
                String::from_utf8_lossy(request)
            )),
        }
        if out.is_null() {
            return None;
        }
        // SAFETY: the ABI hands out `out_len` initialised bytes at `out`.
        let text = unsafe { std::slice::from_raw_parts(out, out_len) }.to_vec();
        // SAFETY: `out`/`out_len` came from `opsledger_rpc` and are freed once.
        unsafe { opsledger_buf_free(out, out_len) };
        let text = String::from_utf8(text).unwrap_or_else(|_| log.fail("a response is not UTF-8"));
        if serde_json::from_str::<Value>(&text).is_err() {
            log.fail(&format!("a response is not JSON: {text}"));
        }
        if text.contains("\"code\":-32603") {
            log.fail(&format!(
                "internal error through the ABI for {}: {text}",
                String::from_utf8_lossy(request)
            ));
        }
        Some(text)
    }

    fn head(&self, log: &Trail) -> u64 {
        let text = self
            .rpc(
                br#"{"jsonrpc":"2.0","id":0,"method":"query.stats","params":{}}"#,
                log,
            )
            .unwrap_or_else(|| log.fail("query.stats answered nothing"));
        let reply: Value = serde_json::from_str(&text).unwrap();
        reply["result"]["head"]
            .as_u64()
            .unwrap_or_else(|| log.fail(&format!("query.stats: {text}")))
    }
}

impl Drop for Abi {
    fn drop(&mut self) {
        // SAFETY: the handle came from `opsledger_engine_open` and is closed once.
        let status = unsafe { opsledger_engine_close(self.handle) };
        assert_eq!(status, OpsledgerStatus::Ok, "close");
    }
}

#[test]
fn the_c_abi_survives_arbitrary_configurations_and_messages() {
    let seed = seed();
    let log = Trail::new(seed);
    let deadline = Instant::now() + budget().mul_f64(0.5);
    let mut rng = rng_for(seed, 2);
    let corpus = corpus();
    let dir = tempfile::tempdir().unwrap();
    #[cfg(debug_assertions)]
    let live_before = opsledger_debug_live_buffers();
    let mut opened = 0;
    let mut round = 0u64;
    while Instant::now() < deadline || opened == 0 {
        round += 1;
        let data_dir = dir.path().join(format!("d{round}"));
        let mut config = match rng.random_range(0..4) {
            0 => json!({"in_memory": true}),
            1 => json!({"in_memory": true, "clock": {"manual": start()}}),
            2 => json!({"data_dir": data_dir, "durability": "buffered", "clock": "manual"}),
            _ => json!({"in_memory": true, "actor": {"id": "sam.desk", "roles": ["agent"]},
                        "cache_records": 8, "policy": {"incident": {"auto_close_after_days": 3}}}),
        };
        if rng.random_bool(0.4) {
            mutate(&mut config, &mut rng);
            if let Some(o) = config.as_object_mut()
                && o.contains_key("data_dir")
            {
                // Never anywhere but the temporary directory.
                o.insert("data_dir".into(), json!(data_dir));
            }
        }
        let text = request_text(0, "-", &config);
        // The config alone, out of the request envelope the helper builds.
        let config_text = serde_json::from_str::<Value>(&text)
            .map(|v| v["params"].to_string())
            .unwrap_or_else(|_| config.to_string());
        let bytes = if rng.random_bool(0.1) {
            garble(&config_text, &mut rng)
        } else {
            config_text.into_bytes()
        };
        log.push(&String::from_utf8_lossy(&bytes));
        let Some(abi) = Abi::open(&bytes, &log) else {
            continue;
        };
        opened += 1;
        let mut generator = Generator::new(&json!({"methods": [], "components": {}}), start());
        for (_, request) in &corpus {
            if let Some(reply) = abi.rpc(request.to_string().as_bytes(), &log) {
                let reply: Value = serde_json::from_str(&reply).unwrap();
                generator.learn(&reply["result"]);
            }
        }
        for i in 0..40u64 {
            let (_, request) = &corpus[rng.random_range(0..corpus.len())];
            let method = request["method"].as_str().unwrap_or_default().to_owned();
            let mut params = request["params"].clone();
            mutate(&mut params, &mut rng);
            tame(&method, &mut params);
            let text = request_text(i + 1, &method, &params);
            let bytes = if rng.random_bool(0.15) {
                garble(&text, &mut rng)
            } else {
                text.into_bytes()
            };
            log.push(&String::from_utf8_lossy(&bytes));
            let head = abi.head(&log);
            if let Some(reply) = abi.rpc(&bytes, &log)
                && reply.contains("\"error\"")
                && !reply.starts_with('[')
                && abi.head(&log) != head
            {
                log.fail(&format!("a refused call wrote through the ABI: {reply}"));
            }
        }
        let verify = abi
            .rpc(
                br#"{"jsonrpc":"2.0","id":0,"method":"admin.verify","params":{"actor":{"id":"root","roles":["admin"]}}}"#,
                &log,
            )
            .unwrap_or_default();
        if !verify.contains("\"clean\":true") {
            log.fail(&format!("verify through the ABI: {verify}"));
        }
        // A NULL request with length 0 is an empty message, answered as a parse error.
        let mut out: *mut u8 = ptr::null_mut();
        let mut out_len = 0usize;
        // SAFETY: NULL with length 0 is allowed by the ABI; the out-parameters are live.
        let status = unsafe { opsledger_rpc(abi.handle, ptr::null(), 0, &mut out, &mut out_len) };
        assert!(
            matches!(status, OpsledgerStatus::Ok | OpsledgerStatus::NullArgument),
            "{status:?}"
        );
        if !out.is_null() {
            // SAFETY: a buffer the ABI handed out, freed once.
            unsafe { opsledger_buf_free(out, out_len) };
        }
    }
    #[cfg(debug_assertions)]
    assert_eq!(
        opsledger_debug_live_buffers(),
        live_before,
        "every buffer was freed"
    );
    eprintln!("fuzz_api (C ABI): seed {seed}: {round} configurations, {opened} opened");
}
