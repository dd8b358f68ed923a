//! The Rust side of the C ABI benchmark (`crates/ffi/bench/run.sh` runs it with the C and
//! Python sides and prints one table).
//!
//! Measures, on an in-memory engine (so that the figures are the adapters' cost, not the
//! disk's), the same read (`query.record` of an incident by number) and write (a work note on
//! an incident) made:
//! - `rust-engine`: directly on `Engine` (`ReadView::find` + `state` + `number_of`;
//!   `Engine::execute`), the baseline;
//! - `rust-dispatcher`: as JSON-RPC text through `Dispatcher::handle_with` (the JSON layer,
//!   no ABI);
//! - `rust-abi`: through the exported `opsledger_rpc` + `opsledger_buf_free`, as a C caller.
//!
//! Prints `name<TAB>ns_per_call` lines. `OPSLEDGER_BENCH_N` sets the calls per round
//! (default 10,000); the best of 5 rounds is kept.

use opsledger::core::incident::IncidentCommand;
use opsledger::core::{Actor, Impact, IncidentId, Role, Urgency};
use opsledger::{CommandEnvelope, Engine, EngineConfig, Uuid};
use opsledger_ffi::{OpsledgerEngine, OpsledgerStatus, opsledger_buf_free, opsledger_rpc};
use opsledger_rpc::{CallContext, TransportKind};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

/// Notes per incident before the write loop moves to a fresh one (the core allows 10,000).
const NOTES_PER_INCIDENT: usize = 1_000;

fn rounds() -> usize {
    std::env::var("OPSLEDGER_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

/// The best (lowest) ns per call of 5 rounds of `n` calls, after a warm-up of `n / 10`.
fn best_of(n: usize, mut f: impl FnMut(usize)) -> f64 {
    (0..n / 10).for_each(&mut f);
    (0..5)
        .map(|round| {
            let started = Instant::now();
            for i in 0..n {
                f(round * n + i);
            }
            started.elapsed().as_nanos() as f64 / n as f64
        })
        .fold(f64::INFINITY, f64::min)
}

fn alice() -> Actor {
    Actor::new("alice", [Role::Agent])
}

fn open_cmd(title: &str) -> IncidentCommand {
    IncidentCommand::Open {
        id: IncidentId(Uuid::now_v7()),
        title: title.into(),
        description: String::new(),
        caller: "bob".into(),
        impact: Impact::Low,
        urgency: Urgency::Low,
        service: None,
        cis: vec![],
        group: None,
        assignee: None,
        alert: None,
    }
}

fn engine_direct(n: usize) -> (f64, f64) {
    let engine = Engine::in_memory(EngineConfig::default()).unwrap();
    let opened = engine
        .execute(CommandEnvelope::new(alice(), open_cmd("read target")))
        .unwrap();
    let number = opened.number.unwrap().to_string();
    let read = best_of(n, |_| {
        let view = engine.view(None).unwrap();
        let found = view.find(black_box(&number)).unwrap().unwrap();
        black_box(view.number_of(found.record).unwrap());
        black_box(view.state(found.record).unwrap());
        black_box(found);
    });
    let mut target = None;
    let write = best_of(n, |i| {
        if i % NOTES_PER_INCIDENT == 0 || target.is_none() {
            let cmd = open_cmd("write target");
            let IncidentCommand::Open { id, .. } = &cmd else {
                unreachable!()
            };
            target = Some(*id);
            engine
                .execute(CommandEnvelope::new(alice(), cmd.clone()))
                .unwrap();
        }
        let id = target.unwrap();
        black_box(
            engine
                .execute(CommandEnvelope::new(
                    alice(),
                    IncidentCommand::AddWorkNote {
                        id,
                        text: format!("note {i}"),
                    },
                ))
                .unwrap(),
        );
    });
    (read, write)
}

const ACTOR: &str = r#""actor":{"id":"alice","roles":["agent"]}"#;

fn open_request() -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"incident.open","params":{{{ACTOR},"title":"target","caller":"bob","impact":"low","urgency":"low"}}}}"#
    )
}

fn read_request(number: &str) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":2,"method":"query.record","params":{{"id":"{number}"}}}}"#)
}

fn note_request(number: &str, i: usize) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":3,"method":"incident.add_work_note","params":{{{ACTOR},"id":"{number}","text":"note {i}"}}}}"#
    )
}

/// The `number` of a command result.
fn number_of(response: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(response).unwrap();
    v["result"]["number"].as_str().unwrap().to_owned()
}

fn through(n: usize, call: &mut dyn FnMut(&str) -> String) -> (f64, f64) {
    let number = number_of(&call(&open_request()));
    let read_req = read_request(&number);
    let read = best_of(n, |_| {
        black_box(call(black_box(&read_req)));
    });
    let mut target = String::new();
    let write = best_of(n, |i| {
        if i % NOTES_PER_INCIDENT == 0 || target.is_empty() {
            target = number_of(&call(&open_request()));
        }
        let response = call(&note_request(&target, i));
        debug_assert!(response.contains("\"result\""), "{response}");
        black_box(response);
    });
    (read, write)
}

fn dispatcher(n: usize) -> (f64, f64) {
    let engine = Arc::new(Engine::in_memory(EngineConfig::default()).unwrap());
    let rpc = opsledger_rpc::api::dispatcher(engine, opsledger_rpc::Limits::default());
    let ctx = CallContext::local(TransportKind::InProcess, None);
    through(n, &mut |request| rpc.handle_with(&ctx, request).unwrap())
}

fn abi(n: usize) -> (f64, f64) {
    let config = br#"{"in_memory": true}"#;
    let mut handle: *mut OpsledgerEngine = std::ptr::null_mut();
    // SAFETY: live input and out-parameter.
    let st =
        unsafe { opsledger_ffi::opsledger_engine_open(config.as_ptr(), config.len(), &mut handle) };
    assert_eq!(st, OpsledgerStatus::Ok);
    let result = through(n, &mut |request| {
        let (mut out, mut out_len) = (std::ptr::null_mut(), 0usize);
        // SAFETY: a live handle, input and out-parameters.
        let st = unsafe {
            opsledger_rpc(
                handle,
                request.as_ptr(),
                request.len(),
                &mut out,
                &mut out_len,
            )
        };
        assert_eq!(st, OpsledgerStatus::Ok);
        // SAFETY: the buffer the library handed out; copied, then freed once.
        let text = unsafe { std::slice::from_raw_parts(out, out_len) }.to_vec();
        // SAFETY: as above.
        unsafe { opsledger_buf_free(out, out_len) };
        String::from_utf8(text).unwrap()
    });
    // SAFETY: the live handle, closed once.
    unsafe { opsledger_ffi::opsledger_engine_close(handle) };
    result
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is accepted.
    let n = rounds();
    let (read, write) = engine_direct(n);
    println!("rust-engine read\t{read:.0}");
    println!("rust-engine write\t{write:.0}");
    let (read, write) = dispatcher(n);
    println!("rust-dispatcher read\t{read:.0}");
    println!("rust-dispatcher write\t{write:.0}");
    let (read, write) = abi(n);
    println!("rust-abi read\t{read:.0}");
    println!("rust-abi write\t{write:.0}");
}
