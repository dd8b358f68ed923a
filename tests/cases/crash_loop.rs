//! Crash loop of the engine: a child process (this test binary, re-invoked) runs the engine
//! with concurrent writer threads and is killed with SIGKILL at a random moment, over and
//! over, on one data directory. After each kill the parent reopens the engine and checks that
//! every acknowledged command is in the log exactly once (found by its correlation id, its
//! idempotency key and what it wrote), that no thread's commands have a gap, that the read
//! models agree with the log (record views, folds, queues, numbers, an as-of replay), that the
//! read-model and process-manager checkpoints are at the head and that `verify()` is clean.
//! The next child retries from the last acknowledged command of each thread with the same
//! idempotency keys: a command already stored must replay, never apply twice. Every tenth
//! child runs its writers to the end before the kill, so that a hang of the loaded engine
//! meets the watchdog instead of an early kill.
//!
//! `OPSLEDGER_ENGINE_CRASH_CYCLES` (default 50 per backend) sets the number of kills,
//! `OPSLEDGER_ENGINE_CRASH_SEED` the seed of the kill times (printed on failure). A child that
//! prints nothing for `OPSLEDGER_WATCHDOG_SECS` (default 30) fails the test with the stacks of
//! its threads (`support::watchdog`).

use crate::support::watchdog::{Progress, Watched, stall_threshold};
use crate::support::*;
use opsledger::core::IncidentId;
use opsledger::{
    Command, CommandEnvelope, Durability, Engine, EngineConfig, FollowUpResult, HumanNumber,
    Outcome, QueueFilter, RecordKind, RecordRef, StoredEvent, Uuid,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Opens the engine of `dir` on the storage backend named `backend`: the one place that picks
/// the backend.
fn open_engine(dir: &Path, backend: &str, config: EngineConfig) -> Engine {
    assert_eq!(
        backend,
        test_backend(),
        "the child runs the parent's backend"
    );
    open_on_disk(dir, config)
        .unwrap_or_else(|e| panic!("opening the {backend} engine in {}: {e}", dir.display()))
}

/// On each backend (this suite runs once per backend): SQLite in group commit, sled per
/// commit.
#[test]
fn a_killed_engine_keeps_every_acknowledged_command_once() {
    let durability = match test_backend() {
        "sqlite" => Durability::GroupCommit,
        _ => Durability::PerCommit,
    };
    crash_loop(
        "a_killed_engine_keeps_every_acknowledged_command_once",
        test_backend(),
        durability,
    );
}

// ---- the workload ---------------------------------------------------------------------------

/// Set in the child: its data directory.
const CHILD_DIR_ENV: &str = "OPSLEDGER_ENGINE_CRASH_CHILD";
/// Set in the child: the backend name.
const CHILD_BACKEND_ENV: &str = "OPSLEDGER_ENGINE_CRASH_BACKEND";
/// Set in the child: `per-commit` or `group-commit`.
const CHILD_DURABILITY_ENV: &str = "OPSLEDGER_ENGINE_CRASH_DURABILITY";
/// Set in the child: the seed of its `SequentialIds` (event ids never repeat across opens).
const CHILD_IDS_ENV: &str = "OPSLEDGER_ENGINE_CRASH_IDS";
/// Set in the child: per writer thread, the sequence number it starts from (comma-separated).
const CHILD_RESUME_ENV: &str = "OPSLEDGER_ENGINE_CRASH_RESUME";
/// Set in the child: the commands each writer thread runs before it says `idle`.
const CHILD_COMMANDS_ENV: &str = "OPSLEDGER_ENGINE_CRASH_COMMANDS";

/// Writer threads of the child.
const THREADS: u64 = 4;
/// Commands per writer thread in a child killed at a random moment (more than it gets to).
const COMMANDS_PER_CHILD: u64 = 200;
/// Commands per writer thread in a child killed once idle.
const COMMANDS_PER_DRAINED_CHILD: u64 = 40;
/// The kill lands this long after the child said `ready` (at least one acknowledgement first).
const KILL_AFTER_READY_MS: std::ops::Range<u64> = 50..400;
/// Every this many cycles the child runs its writers to the end before the kill.
const DRAIN_EVERY: u64 = 10;
/// Every this many cycles (and after the last) the read models are compared with a replay
/// of the whole log, whose cost grows with the log.
const REPLAY_EVERY: u64 = 5;
/// The "thread" of the shared incident's opening, done by every child before `ready`.
const SHARED: u64 = 0xff;

/// What command `seq` (1-based) of a writer thread does. Every fourth command opens the
/// thread's next incident; the others assign it, note on it, and resolve it (even incidents)
/// or note on the incident all threads share (odd ones, so that writers conflict).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    Open,
    Assign,
    Note,
    Resolve,
    SharedNote,
}

impl Step {
    /// The thread's incident (1-based) and the step of command `seq`.
    fn of(seq: u64) -> (u64, Step) {
        let incident = (seq - 1) / 4 + 1;
        let step = match (seq - 1) % 4 {
            0 => Step::Open,
            1 => Step::Assign,
            2 => Step::Note,
            _ if incident.is_multiple_of(2) => Step::Resolve,
            _ => Step::SharedNote,
        };
        (incident, step)
    }

    fn name(self) -> &'static str {
        match self {
            Step::Open => "open",
            Step::Assign => "assign",
            Step::Note => "note",
            Step::Resolve => "resolve",
            Step::SharedNote => "shared_note",
        }
    }
}

/// Thread and sequence, as written into titles, notes and idempotency keys.
fn tag(thread: u64, seq: u64) -> String {
    format!("t{thread}-s{seq}")
}

fn incident_of(thread: u64, incident: u64) -> IncidentId {
    IncidentId(Uuid::from_u128(
        0x0195_0000_0000_7000_8000_0004_0000_0000
            + (u128::from(thread) << 24)
            + u128::from(incident),
    ))
}

fn shared_incident() -> IncidentId {
    incident_of(SHARED, 0)
}

const CORRELATION_PREFIX: u128 = 0x0c0f_fee0_0000_7000_8000_0000_0000_0000;

/// The correlation id of command `seq` of `thread`: its events (and its follow-ups') say
/// which command wrote them.
fn correlation(thread: u64, seq: u64) -> Uuid {
    Uuid::from_u128(CORRELATION_PREFIX | (u128::from(thread) << 32) | u128::from(seq))
}

/// The command whose correlation id this is, if it is one of this test's.
fn command_of(correlation: Uuid) -> Option<(u64, u64)> {
    let raw = correlation.as_u128();
    let thread = ((raw >> 32) as u64) & 0xffff;
    let seq = (raw as u64) & 0xffff_ffff;
    let ours = (thread < THREADS && seq >= 1) || (thread, seq) == (SHARED, 0);
    (ours && correlation == self::correlation(thread, seq)).then_some((thread, seq))
}

fn title(thread: u64, seq: u64) -> String {
    let (incident, _) = Step::of(seq);
    format!(
        "{} incident {incident} of writer {thread}",
        tag(thread, seq)
    )
}

fn command(thread: u64, seq: u64) -> Command {
    let tag = tag(thread, seq);
    let (incident, step) = Step::of(seq);
    let id = incident_of(thread, incident);
    match step {
        Step::Open => open_incident(id, &title(thread, seq)).into(),
        Step::Assign => assign(id, "ops", &format!("agent-{thread}")).into(),
        Step::Note => note(id, &format!("{tag} looking")).into(),
        Step::Resolve => resolve(id, &format!("{tag} fixed")).into(),
        Step::SharedNote => note(shared_incident(), &format!("{tag} seen here too")).into(),
    }
}

fn envelope(thread: u64, seq: u64) -> CommandEnvelope {
    CommandEnvelope::new(agent(), command(thread, seq))
        .idempotency_key(tag(thread, seq))
        .correlation_id(correlation(thread, seq))
}

fn shared_open() -> CommandEnvelope {
    CommandEnvelope::new(agent(), open_incident(shared_incident(), "shared incident"))
        .idempotency_key("shared-incident")
        .correlation_id(correlation(SHARED, 0))
}

fn durability_name(durability: Durability) -> &'static str {
    match durability {
        Durability::PerCommit => "per-commit",
        Durability::GroupCommit => "group-commit",
        Durability::Buffered => "buffered",
    }
}

fn durability_named(name: &str) -> Durability {
    match name {
        "per-commit" => Durability::PerCommit,
        "group-commit" => Durability::GroupCommit,
        other => panic!("unknown durability {other:?}"),
    }
}

/// What the child prints for each acknowledged command.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Ack {
    thread: u64,
    seq: u64,
    step: String,
    number: String,
    version: u64,
    first_position: u64,
    events: u64,
    follow_up_events: u64,
    replayed: bool,
}

impl Ack {
    fn of(thread: u64, seq: u64, outcome: &Outcome) -> Self {
        let follow_up_events = outcome
            .follow_ups
            .iter()
            .map(|f| match &f.result {
                FollowUpResult::Applied { events } => events.len() as u64,
                FollowUpResult::Skipped { .. } => 0,
            })
            .sum();
        Self {
            thread,
            seq,
            step: Step::of(seq).1.name().to_owned(),
            number: outcome
                .number
                .map_or_else(|| "-".to_owned(), |n| n.to_string()),
            version: outcome.version,
            first_position: outcome.events.first().map_or(0, |e| e.position.0),
            events: outcome.events.len() as u64,
            follow_up_events,
            replayed: outcome.replayed,
        }
    }

    fn line(&self) -> String {
        format!(
            "ack {} {} {} {} {} {} {} {} {}",
            self.thread,
            self.seq,
            self.step,
            self.number,
            self.version,
            self.first_position,
            self.events,
            self.follow_up_events,
            u8::from(self.replayed)
        )
    }

    fn parse(line: &str) -> Option<Self> {
        let fields: Vec<&str> = line.strip_prefix("ack ")?.split(' ').collect();
        let [
            thread,
            seq,
            step,
            number,
            version,
            first,
            events,
            follow,
            replayed,
        ] = fields[..]
        else {
            return None;
        };
        Some(Self {
            thread: thread.parse().ok()?,
            seq: seq.parse().ok()?,
            step: step.to_owned(),
            number: number.to_owned(),
            version: version.parse().ok()?,
            first_position: first.parse().ok()?,
            events: events.parse().ok()?,
            follow_up_events: follow.parse().ok()?,
            replayed: match replayed {
                "0" => false,
                "1" => true,
                _ => return None,
            },
        })
    }

    /// What a replay must repeat of the first outcome.
    fn outcome(&self) -> (&str, u64, u64, u64, u64) {
        (
            &self.number,
            self.version,
            self.first_position,
            self.events,
            self.follow_up_events,
        )
    }
}

// ---- the child ------------------------------------------------------------------------------

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    // One write per line (shorter than PIPE_BUF), so a kill never tears one.
    let _ = out.write_all(format!("{line}\n").as_bytes());
    let _ = out.flush();
}

fn child_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set in the child"))
}

/// The child: opens the engine, opens the shared incident (a replay after the first child),
/// says `ready`, runs the writers, then idles until it is killed.
fn run_child(dir: &str) -> ! {
    let backend = child_env(CHILD_BACKEND_ENV);
    let durability = durability_named(&child_env(CHILD_DURABILITY_ENV));
    let ids: u64 = child_env(CHILD_IDS_ENV).parse().expect("ids seed");
    let commands: u64 = child_env(CHILD_COMMANDS_ENV).parse().expect("commands");
    let resume: Vec<u64> = child_env(CHILD_RESUME_ENV)
        .split(',')
        .map(|s| s.parse().expect("resume point"))
        .collect();
    assert_eq!(resume.len() as u64, THREADS);
    let clock = clock();
    let config = config(&clock, ids)
        .with_durability(durability)
        .with_max_attempts(1_000);
    let engine = open_engine(Path::new(dir), &backend, config);
    if let Err(e) = engine.execute(shared_open()) {
        say(&format!("fail {SHARED} 0 {}: {e}", e.code()));
        std::process::exit(3);
    }
    say("ready");
    std::thread::scope(|s| {
        for (thread, &first) in (0..THREADS).zip(&resume) {
            let engine = &engine;
            s.spawn(move || {
                for seq in first.max(1)..first.max(1) + commands {
                    match engine.execute(envelope(thread, seq)) {
                        Ok(outcome) => say(&Ack::of(thread, seq, &outcome).line()),
                        Err(e) => {
                            say(&format!("fail {thread} {seq} {}: {e}", e.code()));
                            std::process::exit(3);
                        }
                    }
                }
                say(&format!("idle {thread}"));
            });
        }
    });
    loop {
        std::thread::sleep(Duration::from_secs(60));
    }
}

// ---- the parent -----------------------------------------------------------------------------

/// xorshift64: the kill times, reproducible from the seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn crash_loop(test_name: &str, backend: &str, durability: Durability) {
    if let Ok(dir) = std::env::var(CHILD_DIR_ENV) {
        run_child(&dir);
    }
    let cycles = env_u64("OPSLEDGER_ENGINE_CRASH_CYCLES", 50);
    let seed = env_u64("OPSLEDGER_ENGINE_CRASH_SEED", 0x0e5c_a1a7_e5ee_d001);
    eprintln!(
        "engine crash loop ({backend}, {}): {cycles} cycles, seed {seed}",
        durability_name(durability)
    );
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut crash = CrashLoop::new(test_name, backend, durability);
        let mut rng = Rng(seed | 1);
        for cycle in 0..cycles {
            let delay = KILL_AFTER_READY_MS.start
                + rng.below(KILL_AFTER_READY_MS.end - KILL_AFTER_READY_MS.start);
            let kill = if cycle % DRAIN_EVERY == DRAIN_EVERY - 1 {
                Kill::WhenIdle
            } else {
                Kill::AfterReady(Duration::from_millis(delay))
            };
            let replay = cycle % REPLAY_EVERY == REPLAY_EVERY - 1 || cycle + 1 == cycles;
            crash.cycle(cycle, kill, replay);
        }
        crash.summary()
    }));
    match run {
        Ok(summary) => eprintln!("engine crash loop ({backend}): {summary}"),
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            panic!(
                "engine crash loop ({backend}, {}) failed; rerun with the same kill \
                 times: OPSLEDGER_ENGINE_CRASH_SEED={seed} OPSLEDGER_ENGINE_CRASH_CYCLES={cycles}:\n\
                 {message}",
                durability_name(durability)
            );
        }
    }
}

/// When the parent kills the child.
#[derive(Debug, Clone, Copy)]
enum Kill {
    /// This long after `ready`, once the child acknowledged a command.
    AfterReady(Duration),
    /// Once every writer ran its commands: the watchdog then also sees a hang of the loaded
    /// engine, which a kill within milliseconds would cut short.
    WhenIdle,
}

/// The parent's knowledge, carried across the cycles on one directory.
struct CrashLoop {
    test_name: String,
    backend: String,
    durability: Durability,
    dir: tempfile::TempDir,
    logs: tempfile::TempDir,
    /// Per thread, the highest acknowledged sequence number.
    acked: Vec<u64>,
    /// Per thread, the highest sequence number in the log at the last check.
    stored: Vec<u64>,
    /// The first acknowledgement of each command (replays must repeat it).
    acks: BTreeMap<(u64, u64), Ack>,
    started: Instant,
    acks_read: u64,
    replays: u64,
    unacknowledged_stored: u64,
    recovered: Recovered,
    head: u64,
}

/// What the parent's opens after the kills had to recover, in total.
#[derive(Debug, Default)]
struct Recovered {
    views_events_applied: u64,
    views_rebuilds: u64,
    process_events_checked: u64,
}

/// What the log holds of one command: the events it appended itself (no causation id).
#[derive(Debug, Default)]
struct StoredCommand {
    keys: u64,
    numbers: Vec<u64>,
    record_events: Vec<StoredEvent>,
    elsewhere: Vec<String>,
}

/// What one scan of the whole log found.
#[derive(Default)]
struct LogScan {
    head: u64,
    commands: BTreeMap<(u64, u64), StoredCommand>,
    /// Event ids of the events caused by each event.
    caused: HashMap<Uuid, Vec<Uuid>>,
    /// Per stream: its version and the position of its last event.
    streams: HashMap<String, (u64, u64)>,
    /// Events appended by commands this test did not send.
    strangers: Vec<String>,
}

impl LogScan {
    fn read(engine: &Engine) -> Self {
        let mut scan = LogScan::default();
        let mut next = 1u64;
        loop {
            let page = engine.events(next, 1_000).expect("read the log");
            let Some(last) = page.last().map(|e| e.position.0) else {
                break;
            };
            for event in page {
                assert_eq!(event.position.0, next, "positions are dense");
                next += 1;
                scan.add(event);
            }
            assert_eq!(last + 1, next);
        }
        scan.head = next - 1;
        scan
    }

    fn add(&mut self, event: StoredEvent) {
        let stream = event.stream.as_str().to_owned();
        let (version, position) = self.streams.entry(stream.clone()).or_insert((0, 0));
        assert_eq!(
            event.version.0,
            *version + 1,
            "stream {stream}: versions are dense (position {})",
            event.position.0
        );
        *version = event.version.0;
        *position = event.position.0;
        if let Some(cause) = event.causation_id {
            self.caused.entry(cause).or_default().push(event.event_id);
            return;
        }
        if stream == opsledger::POLICY_STREAM {
            // The policy's version 1, recorded by the first open.
            assert_eq!(
                event.version.0, 1,
                "the engine publishes no other version here"
            );
            return;
        }
        let Some(command) = event.correlation_id.and_then(command_of) else {
            self.strangers.push(format!(
                "{} {} at {} (correlation {:?})",
                event.event_type, stream, event.position.0, event.correlation_id
            ));
            return;
        };
        let expected_stream = record_of(command).stream_name();
        let stored = self.commands.entry(command).or_default();
        if event.event_type == "idempotency.recorded" {
            stored.keys += 1;
        } else if stream == "numbers-incident" {
            stored.numbers.push(event.version.0);
        } else if stream == expected_stream {
            stored.record_events.push(event);
        } else {
            stored
                .elsewhere
                .push(format!("{} on {stream}", event.event_type));
        }
    }

    /// Events caused by `event`, transitively (follow-ups of follow-ups).
    fn descendants(&self, event: Uuid) -> u64 {
        self.caused.get(&event).map_or(0, |children| {
            children
                .iter()
                .map(|c| 1 + self.descendants(*c))
                .sum::<u64>()
        })
    }

    fn follow_up_events(&self, stored: &StoredCommand) -> u64 {
        stored
            .record_events
            .iter()
            .map(|e| self.descendants(e.event_id))
            .sum()
    }

    fn stream(&self, record: RecordRef) -> (u64, u64) {
        self.streams
            .get(&record.stream_name())
            .copied()
            .unwrap_or((0, 0))
    }

    /// The number the log gave the incident opened by `command`.
    fn number_of_open(&self, command: (u64, u64)) -> Option<u64> {
        self.commands.get(&command)?.numbers.first().copied()
    }
}

/// The record command `(thread, seq)` works on.
fn record_of((thread, seq): (u64, u64)) -> RecordRef {
    if thread == SHARED {
        return RecordRef::incident(shared_incident());
    }
    match Step::of(seq) {
        (_, Step::SharedNote) => RecordRef::incident(shared_incident()),
        (incident, _) => RecordRef::incident(incident_of(thread, incident)),
    }
}

/// What the read models must say of an incident, folded from the commands the log holds.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ExpectedIncident {
    title: String,
    status: &'static str,
    assignee: Option<String>,
    notes: u32,
    number: u64,
}

fn format_number(value: u64) -> String {
    HumanNumber::new(RecordKind::Incident, value).to_string()
}

impl CrashLoop {
    fn new(test_name: &str, backend: &str, durability: Durability) -> Self {
        let module = module_path!()
            .split_once("::")
            .map_or(module_path!(), |(_, m)| m);
        Self {
            test_name: format!("{module}::{test_name}"),
            backend: backend.to_owned(),
            durability,
            dir: tempfile::tempdir().unwrap(),
            logs: tempfile::tempdir().unwrap(),
            acked: vec![0; THREADS as usize],
            stored: vec![0; THREADS as usize],
            acks: BTreeMap::new(),
            started: Instant::now(),
            acks_read: 0,
            replays: 0,
            unacknowledged_stored: 0,
            recovered: Recovered::default(),
            head: 0,
        }
    }

    fn summary(&self) -> String {
        format!(
            "{} acknowledgements checked ({} of them replays), {} commands stored, {} stored \
             but unacknowledged at a kill; the opens after the kills projected {} events, \
             rebuilt the read models {} times, re-ran the process managers for {} events; log \
             head {}, {:.1?}",
            self.acks_read,
            self.replays,
            self.stored.iter().sum::<u64>() + 1,
            self.unacknowledged_stored,
            self.recovered.views_events_applied,
            self.recovered.views_rebuilds,
            self.recovered.process_events_checked,
            self.head,
            self.started.elapsed()
        )
    }

    fn child_stderr(&self, cycle: u64) -> String {
        let text = std::fs::read_to_string(self.logs.path().join(format!("child-{cycle}.stderr")))
            .unwrap_or_default();
        let tail = text.len().saturating_sub(4_000);
        let tail = (tail..text.len())
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(text.len());
        text[tail..].to_owned()
    }

    /// Runs one child until the kill and returns the lines it printed.
    fn run_child_until_killed(&self, cycle: u64, kill: Kill) -> Vec<String> {
        let exe = std::env::current_exe().unwrap();
        let stderr =
            std::fs::File::create(self.logs.path().join(format!("child-{cycle}.stderr"))).unwrap();
        let resume: Vec<String> = self.acked.iter().map(u64::to_string).collect();
        let mut command = std::process::Command::new(exe);
        command
            .args([
                self.test_name.as_str(),
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_DIR_ENV, self.dir.path())
            .env(CHILD_BACKEND_ENV, &self.backend)
            .env(CHILD_DURABILITY_ENV, durability_name(self.durability))
            .env(CHILD_IDS_ENV, (1_000 + 2 * cycle).to_string())
            .env(CHILD_RESUME_ENV, resume.join(","))
            .env(
                CHILD_COMMANDS_ENV,
                match kill {
                    Kill::AfterReady(_) => COMMANDS_PER_CHILD,
                    Kill::WhenIdle => COMMANDS_PER_DRAINED_CHILD,
                }
                .to_string(),
            )
            .stdin(Stdio::null())
            .stderr(stderr);
        let mut child = Watched::spawn(&mut command, stall_threshold()).unwrap();
        let mut lines = Vec::new();
        let mut ready_at = None;
        let mut acks = 0u64;
        let mut idle = 0u64;
        loop {
            let now = Instant::now();
            let wait = match (kill, ready_at) {
                (Kill::AfterReady(after), Some(ready)) if now >= ready + after && acks > 0 => {
                    break;
                }
                (Kill::AfterReady(after), Some(ready)) if now < ready + after => {
                    ready + after - now
                }
                (Kill::WhenIdle, _) if idle == THREADS => break,
                // Waiting for `ready`, an acknowledgement or the writers' end: the watchdog
                // bounds the wait.
                _ => Duration::from_millis(100),
            };
            let wait = wait.clamp(Duration::from_millis(1), Duration::from_millis(100));
            match child.next(wait) {
                Ok(Progress::Line(line)) => {
                    // libtest prints the test's name before the test runs, without a
                    // newline: the first line is "test ... ready".
                    if line == "ready" || line.ends_with(" ready") {
                        ready_at = Some(Instant::now());
                    } else if line.starts_with("ack ") {
                        acks += 1;
                    } else if line.starts_with("idle ") {
                        idle += 1;
                    } else if line.starts_with("fail ") {
                        drop(child);
                        panic!(
                            "cycle {cycle}: the child failed a command: {line}\nchild stderr:\n{}",
                            self.child_stderr(cycle)
                        );
                    }
                    lines.push(line);
                }
                Ok(Progress::Quiet) => {}
                Ok(Progress::Exited) => {
                    drop(child);
                    panic!(
                        "cycle {cycle}: the child exited before the kill; last lines {:?}\n\
                         child stderr:\n{}",
                        &lines[lines.len().saturating_sub(5)..],
                        self.child_stderr(cycle)
                    );
                }
                Err(stalled) => panic!(
                    "cycle {cycle}: {stalled}\nchild stderr:\n{}",
                    self.child_stderr(cycle)
                ),
            }
        }
        lines.extend(child.kill()); // SIGKILL
        lines
    }

    /// One kill and the checks after it; `replay`: also compare the read models with a
    /// replay of the whole log.
    fn cycle(&mut self, cycle: u64, kill: Kill, replay: bool) {
        let lines = self.run_child_until_killed(cycle, kill);
        self.take_acks(cycle, &lines);
        let clock = clock();
        let engine = open_engine(
            self.dir.path(),
            &self.backend,
            config(&clock, 1_001 + 2 * cycle),
        );
        let rebuilt = self.check_open(cycle, &engine);
        let scan = LogScan::read(&engine);
        self.check_log(cycle, &scan);
        // Every incident when the read models were rebuilt and on replay cycles; otherwise
        // those written since the last check (the parent's close left the read models there).
        let since = if replay || rebuilt { 0 } else { self.head };
        self.check_read_models(cycle, &engine, &scan, since);
        if replay {
            check_replay(cycle, &engine, scan.head);
        }
        self.head = scan.head;
        engine
            .close()
            .unwrap_or_else(|e| panic!("cycle {cycle}: close: {e}"));
    }

    /// Records the child's acknowledgements; a retry of a command the log held at the last
    /// check must be a replay, any other command a first application.
    fn take_acks(&mut self, cycle: u64, lines: &[String]) {
        for line in lines {
            if line.starts_with("fail ") {
                panic!(
                    "cycle {cycle}: the child failed a command: {line}\nchild stderr:\n{}",
                    self.child_stderr(cycle)
                );
            }
            if !line.starts_with("ack ") {
                continue;
            }
            let ack = Ack::parse(line)
                .unwrap_or_else(|| panic!("cycle {cycle}: malformed acknowledgement {line:?}"));
            let key = (ack.thread, ack.seq);
            let t = ack.thread as usize;
            assert!(ack.thread < THREADS, "cycle {cycle}: {line}");
            assert_eq!(
                ack.replayed,
                ack.seq <= self.stored[t],
                "cycle {cycle}: {} (the log held this thread's commands up to {}): a retry of a \
                 stored command must replay, a new one must apply",
                line,
                self.stored[t]
            );
            assert_eq!(ack.step, Step::of(ack.seq).1.name(), "{line}");
            assert!(ack.events >= 1, "cycle {cycle}: {line} wrote nothing");
            self.acks_read += 1;
            self.replays += u64::from(ack.replayed);
            match self.acks.get(&key) {
                Some(first) => assert_eq!(
                    ack.outcome(),
                    first.outcome(),
                    "cycle {cycle}: the replay {line} differs from the first outcome {}",
                    first.line()
                ),
                None => {
                    self.acks.insert(key, ack.clone());
                }
            }
            self.acked[t] = self.acked[t].max(ack.seq);
        }
    }

    /// After open: the read models and the process managers are at the head, the log
    /// verifies clean.
    fn check_open(&mut self, cycle: u64, engine: &Engine) -> bool {
        let stats = engine.stats().unwrap();
        self.recovered.views_events_applied += stats.open.views_events_applied;
        self.recovered.views_rebuilds += u64::from(stats.open.views_rebuilt);
        self.recovered.process_events_checked += stats.open.process_events_checked;
        assert_eq!(
            stats.views_checkpoint, stats.head,
            "cycle {cycle}: read-model checkpoint after open: {stats:?}"
        );
        assert_eq!(
            stats.process_checkpoint, stats.head,
            "cycle {cycle}: process-manager checkpoint after open: {stats:?}"
        );
        let report = engine.verify().unwrap();
        assert!(
            report.is_clean(),
            "cycle {cycle}: verify found {} faults: {:?}",
            report.fault_count,
            report.faults
        );
        stats.open.views_rebuilt
    }

    /// Every acknowledged command is in the log once, with the events it acknowledged; no
    /// thread has a gap; at most the one command in flight at the kill is stored
    /// unacknowledged; follow-ups ran once.
    fn check_log(&mut self, cycle: u64, scan: &LogScan) {
        assert!(
            scan.strangers.is_empty(),
            "cycle {cycle}: events of no command of this test: {:?}",
            scan.strangers
        );
        for thread in 0..THREADS {
            let t = thread as usize;
            let seqs: Vec<u64> = scan
                .commands
                .range((thread, 0)..(thread + 1, 0))
                .map(|(&(_, seq), _)| seq)
                .collect();
            let count = seqs.len() as u64;
            assert_eq!(
                seqs,
                (1..=count).collect::<Vec<_>>(),
                "cycle {cycle}: writer {thread}'s commands in the log have a gap"
            );
            assert!(
                count >= self.acked[t],
                "cycle {cycle}: writer {thread}: commands up to {} acknowledged, the log holds \
                 only up to {count}: an acknowledged command was lost",
                self.acked[t]
            );
            assert!(
                count <= self.acked[t] + 1,
                "cycle {cycle}: writer {thread}: the log holds commands up to {count}, but only \
                 up to {} were acknowledged and one at a time is in flight",
                self.acked[t]
            );
            self.unacknowledged_stored += count - self.acked[t];
            self.stored[t] = count;
        }
        assert!(
            scan.commands.contains_key(&(SHARED, 0)),
            "cycle {cycle}: the shared incident"
        );
        let mut follow_ups_per_step: BTreeMap<Step, BTreeSet<u64>> = BTreeMap::new();
        for (&(thread, seq), stored) in &scan.commands {
            let what = || format!("cycle {cycle}: command {} ({stored:?})", tag(thread, seq));
            let step = if thread == SHARED {
                Step::Open
            } else {
                Step::of(seq).1
            };
            assert_eq!(stored.keys, 1, "{}: its idempotency key, once", what());
            assert!(
                stored.elsewhere.is_empty(),
                "{}: events on other streams",
                what()
            );
            assert_eq!(
                stored.numbers.len(),
                usize::from(step == Step::Open),
                "{}: numbers allocated",
                what()
            );
            assert!(
                !stored.record_events.is_empty(),
                "{}: no record event",
                what()
            );
            let first = stored.record_events[0].version.0;
            for (i, event) in stored.record_events.iter().enumerate() {
                assert_eq!(event.version.0, first + i as u64, "{}: one append", what());
            }
            let follow_ups = scan.follow_up_events(stored);
            follow_ups_per_step
                .entry(step)
                .or_default()
                .insert(follow_ups);
            if let Some(ack) = self.acks.get(&(thread, seq)) {
                let positions: Vec<u64> =
                    stored.record_events.iter().map(|e| e.position.0).collect();
                assert_eq!(
                    positions,
                    (ack.first_position..ack.first_position + ack.events).collect::<Vec<_>>(),
                    "{}: the acknowledged events ({}), exactly once",
                    what(),
                    ack.line()
                );
                assert_eq!(
                    stored.record_events.last().map(|e| e.version.0),
                    Some(ack.version),
                    "{}: {}",
                    what(),
                    ack.line()
                );
                assert_eq!(
                    follow_ups,
                    ack.follow_up_events,
                    "{}: follow-up events in the log vs acknowledged ({})",
                    what(),
                    ack.line()
                );
                let number = match step {
                    Step::SharedNote => scan.number_of_open((SHARED, 0)),
                    _ => scan.number_of_open((thread, (Step::of(seq).0 - 1) * 4 + 1)),
                };
                assert_eq!(
                    Some(ack.number.clone()),
                    number.map(format_number),
                    "{}: the acknowledged number",
                    what()
                );
            }
        }
        for (step, counts) in follow_ups_per_step {
            assert_eq!(
                counts.len(),
                1,
                "cycle {cycle}: the {} commands caused different numbers of follow-up events \
                 ({counts:?}): a follow-up lost or run twice",
                step.name()
            );
        }
    }

    /// The incidents as the stored commands made them.
    fn expected_incidents(&self, scan: &LogScan) -> BTreeMap<IncidentId, ExpectedIncident> {
        let mut incidents = BTreeMap::new();
        let shared = ExpectedIncident {
            title: "shared incident".to_owned(),
            status: "new",
            assignee: None,
            notes: 0,
            number: scan.number_of_open((SHARED, 0)).expect("numbered"),
        };
        incidents.insert(shared_incident(), shared);
        for &(thread, seq) in scan.commands.keys().filter(|(t, _)| *t != SHARED) {
            let (incident, step) = Step::of(seq);
            let id = incident_of(thread, incident);
            if step == Step::Open {
                let opened = ExpectedIncident {
                    title: title(thread, seq),
                    status: "new",
                    assignee: None,
                    notes: 0,
                    number: scan.number_of_open((thread, seq)).expect("numbered"),
                };
                incidents.insert(id, opened);
                continue;
            }
            let target = if step == Step::SharedNote {
                shared_incident()
            } else {
                id
            };
            let expected = incidents
                .get_mut(&target)
                .expect("commands of a thread are stored in order");
            match step {
                Step::Open => {}
                Step::Assign => {
                    expected.status = "in_progress";
                    expected.assignee = Some(format!("agent-{thread}"));
                }
                Step::Note | Step::SharedNote => expected.notes += 1,
                Step::Resolve => expected.status = "resolved",
            }
        }
        incidents
    }

    /// The read models answer what the log says: record views, state loads against a fold and
    /// lookups by number (of the incidents written after position `since`), the incident
    /// queues, dense numbers.
    fn check_read_models(&self, cycle: u64, engine: &Engine, scan: &LogScan, since: u64) {
        let expected = self.expected_incidents(scan);
        let view = engine.view(None).unwrap();
        assert_eq!(view.position(), scan.head, "cycle {cycle}");
        for (&id, want) in &expected {
            let record = RecordRef::incident(id);
            let (version, position) = scan.stream(record);
            if position <= since {
                continue;
            }
            let what = format!("cycle {cycle}: incident {} ({})", want.title, want.number);
            let got = view
                .record(record)
                .unwrap()
                .unwrap_or_else(|| panic!("{what}: missing from the read model"));
            assert_eq!(got.version, version, "{what}: version");
            assert_eq!(got.position, position, "{what}: position");
            assert_eq!(got.title, want.title, "{what}: title");
            assert_eq!(got.status.name(), want.status, "{what}: status");
            assert_eq!(
                got.assignee.as_ref().map(|a| a.as_str().to_owned()),
                want.assignee,
                "{what}: assignee"
            );
            assert_eq!(
                got.number.map(|n| n.value),
                Some(want.number),
                "{what}: number"
            );
            let state = view.state(record).unwrap();
            assert_eq!(
                state,
                engine.state_at_version(record, version).unwrap(),
                "{what}: the loaded state (cache, snapshot, tail) is the fold of the stream"
            );
            let incident = view.incident(id).unwrap().expect("loaded");
            assert_eq!(incident.work_note_count, want.notes, "{what}: work notes");
            let found = view
                .find(&format_number(want.number))
                .unwrap()
                .unwrap_or_else(|| panic!("{what}: not found by number"));
            assert_eq!(found.record, record, "{what}: found by number");
        }
        let mut numbers: Vec<u64> = expected.values().map(|e| e.number).collect();
        numbers.sort_unstable();
        assert_eq!(
            numbers,
            (1..=expected.len() as u64).collect::<Vec<_>>(),
            "cycle {cycle}: incident numbers are dense"
        );
        let queue = |filter: QueueFilter| {
            let mut seen = BTreeMap::new();
            let mut cursor = None;
            loop {
                let page = view
                    .queue(&filter.clone().limit(500).after(cursor))
                    .unwrap();
                for item in page.items {
                    let id = IncidentId(item.record.id);
                    assert!(
                        seen.insert(id, item.status.name()).is_none(),
                        "cycle {cycle}: {} listed twice",
                        item.title
                    );
                }
                match page.next {
                    Some(next) => cursor = Some(next),
                    None => break seen,
                }
            }
        };
        let want_all: BTreeMap<IncidentId, &str> =
            expected.iter().map(|(id, e)| (*id, e.status)).collect();
        assert_eq!(
            queue(QueueFilter::incidents()),
            want_all,
            "cycle {cycle}: the incident queue"
        );
        let want_open: BTreeMap<IncidentId, &str> = want_all
            .iter()
            .filter(|(_, status)| **status != "resolved")
            .map(|(id, status)| (*id, *status))
            .collect();
        assert_eq!(
            queue(QueueFilter::incidents().open()),
            want_open,
            "cycle {cycle}: the open-incident queue"
        );
    }
}

/// The live read models equal a replay of the whole log: every event is recorded at the
/// manual clock's t0, so the view as of t0 replays the log into fresh read models.
fn check_replay(cycle: u64, engine: &Engine, head: u64) {
    let replayed = engine.view(Some(t0())).unwrap();
    assert_eq!(replayed.position(), head, "cycle {cycle}");
    let want = replayed.dump().unwrap();
    let got = engine.view(None).unwrap().dump().unwrap();
    if want != got {
        let want: BTreeMap<_, _> = want.into_iter().collect();
        let got: BTreeMap<_, _> = got.into_iter().collect();
        let differing: Vec<String> = want
            .keys()
            .chain(got.keys())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .filter(|k| want.get(*k) != got.get(*k))
            .take(5)
            .map(|k| {
                format!(
                    "key {}: replay {} / live {}",
                    String::from_utf8_lossy(k),
                    want.get(k)
                        .map_or("none".into(), |v| String::from_utf8_lossy(v).into_owned()),
                    got.get(k)
                        .map_or("none".into(), |v| String::from_utf8_lossy(v).into_owned()),
                )
            })
            .collect();
        panic!(
            "cycle {cycle}: the live read models differ from a replay of the log:\n{}",
            differing.join("\n")
        );
    }
}
