//! A hang watchdog for a child process whose stdout lines are its progress.
//!
//! [`Watched::spawn`] starts the child with a piped stdout, read line by line on a thread.
//! [`Watched::next`] hands the lines over; when no line has come for the stall threshold, it
//! collects the stacks of the child's threads (gdb when it is on `PATH`, else `/proc`), kills
//! the child and returns [`Stalled`], whose text says so and names the pid. A deadlock then
//! fails the test with the place it sits in, instead of hanging CI until its global timeout.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Seconds without a progress line after which a child counts as hung.
pub const STALL_SECS_ENV: &str = "OPSLEDGER_WATCHDOG_SECS";
/// The stall threshold unless `OPSLEDGER_WATCHDOG_SECS` says otherwise.
pub const DEFAULT_STALL_SECS: u64 = 30;
/// How long gdb may take to attach and print the stacks before it is killed.
const GDB_TIMEOUT: Duration = Duration::from_secs(60);

/// The stall threshold: `OPSLEDGER_WATCHDOG_SECS`, default [`DEFAULT_STALL_SECS`].
pub fn stall_threshold() -> Duration {
    let secs = std::env::var(STALL_SECS_ENV)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_STALL_SECS);
    Duration::from_secs(secs)
}

/// What the child did while [`Watched::next`] waited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// It printed this line (without the newline).
    Line(String),
    /// Nothing yet, but it is not stalled.
    Quiet,
    /// Its stdout closed: it exited (or closed stdout).
    Exited,
}

/// The child made no progress for the threshold: the report, with the stacks of its threads.
/// The child has been killed.
#[derive(Debug, Clone)]
pub struct Stalled(pub String);

impl std::fmt::Display for Stalled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A child process under the watchdog.
pub struct Watched {
    child: Child,
    pid: u32,
    lines: Receiver<String>,
    reader: Option<JoinHandle<()>>,
    stall_after: Duration,
    last_progress: Instant,
    last_line: Option<String>,
}

impl Watched {
    /// Spawns `command` with its stdout piped to the watchdog (stdin and stderr as the
    /// command sets them). Spawning counts as progress.
    pub fn spawn(command: &mut Command, stall_after: Duration) -> std::io::Result<Self> {
        let mut child = command.stdout(Stdio::piped()).spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| std::io::Error::other("the child has no stdout"))?;
        let (tx, lines) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut stdout = BufReader::new(stdout);
            let mut line = String::new();
            loop {
                line.clear();
                match stdout.read_line(&mut line) {
                    // Only whole lines: a line cut by the kill is not progress.
                    Ok(n) if n > 0 && line.ends_with('\n') => {
                        let text = line.trim_end_matches(['\n', '\r']).to_owned();
                        if tx.send(text).is_err() {
                            break;
                        }
                    }
                    _ => break,
                }
            }
        });
        Ok(Self {
            pid: child.id(),
            child,
            lines,
            reader: Some(reader),
            stall_after,
            last_progress: Instant::now(),
            last_line: None,
        })
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Waits up to `wait` for the child's next line. When the child has printed nothing for
    /// the stall threshold, its stacks are collected, it is killed, and the report returned.
    pub fn next(&mut self, wait: Duration) -> Result<Progress, Stalled> {
        let stall_at = self.last_progress + self.stall_after;
        let wait = wait.min(stall_at.saturating_duration_since(Instant::now()));
        match self.lines.recv_timeout(wait) {
            Ok(line) => {
                self.last_progress = Instant::now();
                self.last_line = Some(line.clone());
                Ok(Progress::Line(line))
            }
            Err(RecvTimeoutError::Disconnected) => Ok(Progress::Exited),
            Err(RecvTimeoutError::Timeout) if Instant::now() < stall_at => Ok(Progress::Quiet),
            Err(RecvTimeoutError::Timeout) => Err(self.stalled()),
        }
    }

    /// Whether the child has exited (and been reaped).
    pub fn has_exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Kills the child (SIGKILL on Unix), reaps it, and returns the lines it printed that
    /// [`Watched::next`] had not handed over yet.
    pub fn kill(mut self) -> Vec<String> {
        self.kill_and_reap();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        self.lines.try_iter().collect()
    }

    fn kill_and_reap(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn stalled(&mut self) -> Stalled {
        let quiet = self.last_progress.elapsed();
        let stacks = thread_stacks(self.pid);
        self.kill_and_reap();
        Stalled(format!(
            "child pid {pid} stalled: no progress line for {quiet:.1?} (threshold {threshold:?}, \
             {env} sets it in seconds); last line: {last:?}\n\
             ---- threads of pid {pid} ----\n{stacks}",
            pid = self.pid,
            threshold = self.stall_after,
            env = STALL_SECS_ENV,
            last = self.last_line,
        ))
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        if !self.has_exited() {
            self.kill_and_reap();
        }
    }
}

/// The stacks of every thread of `pid`: gdb's backtraces when gdb is on `PATH` and manages to
/// attach, else each thread's state, wait channel and kernel stack from `/proc`.
pub fn thread_stacks(pid: u32) -> String {
    match find_on_path("gdb").map(|gdb| gdb_backtraces(&gdb, pid)) {
        Some(Ok(text)) if text.contains("Thread") => text,
        Some(Ok(text)) => format!(
            "gdb printed no thread:\n{text}\n---- /proc ----\n{}",
            proc_threads(pid)
        ),
        Some(Err(e)) => format!("gdb failed: {e}\n---- /proc ----\n{}", proc_threads(pid)),
        None => proc_threads(pid),
    }
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// `gdb -p PID -batch -ex "thread apply all bt"`, killed after [`GDB_TIMEOUT`].
fn gdb_backtraces(gdb: &Path, pid: u32) -> std::io::Result<String> {
    let mut out = tempfile::tempfile()?;
    let mut child = Command::new(gdb)
        .args([
            "-p",
            &pid.to_string(),
            "-batch",
            "-ex",
            "thread apply all bt",
        ])
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out.try_clone()?)
        .spawn()?;
    let deadline = Instant::now() + GDB_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    use std::io::Seek;
    out.rewind()?;
    let mut text = String::new();
    out.read_to_string(&mut text)?;
    match status {
        Some(_) => Ok(text),
        None => Err(std::io::Error::other(format!(
            "gdb did not finish within {GDB_TIMEOUT:?}; it printed:\n{text}"
        ))),
    }
}

/// One paragraph per thread of `pid`: name, state, wait channel and (when readable) the
/// kernel stack, from `/proc/PID/task/*`.
fn proc_threads(pid: u32) -> String {
    let tasks = Path::new("/proc").join(pid.to_string()).join("task");
    let mut tids: Vec<u64> = match std::fs::read_dir(&tasks) {
        Ok(entries) => entries
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect(),
        Err(e) => return format!("cannot list {}: {e}", tasks.display()),
    };
    tids.sort_unstable();
    let mut text = String::new();
    for tid in tids {
        let task = tasks.join(tid.to_string());
        let read = |name: &str| {
            std::fs::read_to_string(task.join(name))
                .unwrap_or_else(|e| format!("(unreadable: {e})"))
        };
        let stat = read("stat");
        // `tid (comm) state ...`: the name may hold spaces and parentheses.
        let (name, state) = match (stat.find('('), stat.rfind(')')) {
            (Some(open), Some(close)) if open < close => (
                &stat[open + 1..close],
                stat[close + 1..].split_whitespace().next().unwrap_or("?"),
            ),
            _ => (stat.trim(), "?"),
        };
        text.push_str(&format!(
            "thread {tid} ({name}) state {state} wchan {}\n{}\n",
            read("wchan").trim(),
            read("stack").trim_end()
        ));
    }
    text
}

#[test]
fn a_child_that_prints_nothing_more_is_reported_as_stalled_with_its_pid() {
    let mut watched = Watched::spawn(
        Command::new("sh").args(["-c", "echo ready; exec sleep 60"]),
        Duration::from_millis(1_500),
    )
    .unwrap();
    let pid = watched.pid();
    let started = Instant::now();
    let mut lines = Vec::new();
    let report = loop {
        match watched.next(Duration::from_millis(200)) {
            Ok(Progress::Line(line)) => lines.push(line),
            Ok(Progress::Quiet) => {}
            Ok(Progress::Exited) => panic!("the sleeping child exited early"),
            Err(stalled) => break stalled.to_string(),
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the watchdog never fired"
        );
    };
    assert_eq!(lines, ["ready"]);
    assert!(
        started.elapsed() >= Duration::from_millis(1_500),
        "fired before the threshold: {:?}",
        started.elapsed()
    );
    assert!(report.contains("stalled"), "{report}");
    assert!(report.contains(&format!("pid {pid}")), "{report}");
    assert!(
        report.contains("\"ready\""),
        "names the last line: {report}"
    );
    assert!(
        report.contains(&format!("threads of pid {pid}")),
        "carries the stacks: {report}"
    );
    assert!(watched.has_exited(), "the stalled child is killed");
}

#[test]
fn a_child_that_keeps_printing_is_not_stalled() {
    let mut watched = Watched::spawn(
        Command::new("sh").args(["-c", "for i in 1 2 3 4 5 6; do echo $i; sleep 0.4; done"]),
        Duration::from_millis(1_500),
    )
    .unwrap();
    let mut lines = Vec::new();
    loop {
        match watched.next(Duration::from_millis(100)) {
            Ok(Progress::Line(line)) => lines.push(line),
            Ok(Progress::Quiet) => {}
            Ok(Progress::Exited) => break,
            Err(stalled) => panic!("a child printing every 0.4 s is not stalled: {stalled}"),
        }
    }
    assert_eq!(lines, ["1", "2", "3", "4", "5", "6"]);
    assert!(watched.kill().is_empty());
}

#[test]
fn without_gdb_the_stacks_come_from_proc() {
    let mut watched = Watched::spawn(
        Command::new("sh").args(["-c", "echo ready; exec sleep 60"]),
        Duration::from_secs(30),
    )
    .unwrap();
    assert_eq!(
        watched.next(Duration::from_secs(10)).unwrap(),
        Progress::Line("ready".to_owned())
    );
    let pid = watched.pid();
    // `exec` replaced the shell: wait until the process is the sleeping `sleep`.
    let started = Instant::now();
    let threads = loop {
        let threads = proc_threads(pid);
        if threads.contains("(sleep) state S") || started.elapsed() > Duration::from_secs(10) {
            break threads;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        threads.starts_with(&format!("thread {pid} (sleep) state S wchan ")),
        "{threads}"
    );
    watched.kill();
}
