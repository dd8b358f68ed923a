//! The optional background scheduler: a thread that runs [`Engine::tick`] every interval.
//!
//! Servers that do not want to drive the timer themselves call
//! [`Engine::start_scheduler`] (or [`Engine::start_scheduler_with`] to be told about errors).
//! The thread calls `tick(clock.now())` with the engine's configured clock right away and then
//! once per interval. It holds only a weak reference to the engine: it stops by itself when the
//! last [`Engine`] handle is dropped. [`SchedulerHandle::stop`] and dropping the handle stop and
//! join the thread.
//!
//! On a log shared by several processes (replicas on one PostgreSQL database) the thread ticks
//! only while its process holds the [`SCHEDULER_LEASE`]; the others stand by and check again
//! every interval, so a leader that died is replaced within about one interval.
//!
//! Errors never panic the thread: a failed tick (an `Err` from `tick`, or a panic inside it,
//! caught) and each per-record [`TickFailure`](crate::TickFailure) of a report are passed to the
//! callback, if any, and kept in the handle (the most recent [`KEPT_ERRORS`]). The next tick
//! retries: the tick is idempotent, so nothing is recorded twice.

use super::{Engine, Inner};
use crate::record::RecordRef;
use chrono::{DateTime, Utc};
use parking_lot::{Condvar, Mutex};
use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

/// How many errors a [`SchedulerHandle`] keeps (the oldest are dropped first).
pub const KEPT_ERRORS: usize = 64;

/// Something a scheduled tick could not do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedulerError {
    /// The instant the tick evaluated clocks at.
    pub at: DateTime<Utc>,
    /// The record, for a per-record failure; `None` when the whole tick failed.
    pub record: Option<RecordRef>,
    /// The error's stable code (`"panic"` for a caught panic).
    pub code: String,
    /// The error.
    pub message: String,
}

/// What the scheduler did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SchedulerStats {
    /// Ticks run (successful or not).
    pub ticks: u64,
    /// Ticks that returned an error (or panicked).
    pub failed_ticks: u64,
    /// Threshold events recorded, summed over ticks.
    pub thresholds_recorded: u64,
    /// Breach events recorded, summed over ticks.
    pub breaches_recorded: u64,
    /// Incidents auto-closed, summed over ticks.
    pub auto_closed: u64,
    /// Errors seen (including those no longer kept).
    pub errors: u64,
    /// Time spent in ticks, summed (with `ticks`, the mean tick time; a tick that grows
    /// towards the interval means the scheduler falls behind).
    pub tick_time: Duration,
    /// How long the last tick took.
    pub last_tick_time: Duration,
    /// Intervals this scheduler stood by because another process holds the scheduler lease
    /// (replicas on a shared database tick on one of them at a time).
    pub standby: u64,
}

/// The lease ([`Storage::lease`](opsledger_store::Storage::lease)) a scheduler must hold to
/// tick: of several processes on one shared log, one ticks; a replica that loses it stops,
/// another takes it over at its next interval.
pub const SCHEDULER_LEASE: &str = "scheduler";

type ErrorCallback = Box<dyn Fn(&SchedulerError) + Send + 'static>;

#[derive(Default)]
struct Shared {
    stop: Mutex<bool>,
    wake: Condvar,
    stats: Mutex<SchedulerStats>,
    errors: Mutex<VecDeque<SchedulerError>>,
}

impl Shared {
    fn record_error(&self, error: SchedulerError, on_error: Option<&ErrorCallback>) {
        if let Some(callback) = on_error {
            // A panicking callback must not take the thread down either.
            let _ = catch_unwind(AssertUnwindSafe(|| callback(&error)));
        }
        self.stats.lock().errors += 1;
        let mut errors = self.errors.lock();
        if errors.len() == KEPT_ERRORS {
            errors.pop_front();
        }
        errors.push_back(error);
    }
}

/// The running scheduler. Stop it with [`SchedulerHandle::stop`]; dropping it stops it too.
/// Either way the thread is joined (a tick in progress finishes first).
pub struct SchedulerHandle {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    interval: Duration,
}

impl std::fmt::Debug for SchedulerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchedulerHandle")
            .field("interval", &self.interval)
            .field("running", &self.is_running())
            .field("stats", &self.stats())
            .finish()
    }
}

impl SchedulerHandle {
    /// The interval between ticks.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Whether the thread is still running (it ends on `stop`, or when the engine is gone).
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// What the scheduler did so far.
    pub fn stats(&self) -> SchedulerStats {
        *self.shared.stats.lock()
    }

    /// The most recent errors (at most [`KEPT_ERRORS`]), oldest first.
    pub fn errors(&self) -> Vec<SchedulerError> {
        self.shared.errors.lock().iter().cloned().collect()
    }

    /// Stops the thread, waits for it to end and returns the final stats.
    pub fn stop(mut self) -> SchedulerStats {
        self.shutdown();
        self.stats()
    }

    fn shutdown(&mut self) {
        *self.shared.stop.lock() = true;
        self.shared.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            // The loop catches panics, so join only fails if the thread itself died oddly:
            // nothing more to do about it here.
            let _ = thread.join();
        }
    }
}

impl Drop for SchedulerHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn run(engine: &Weak<Inner>, shared: &Shared, interval: Duration, on_error: Option<ErrorCallback>) {
    loop {
        if *shared.stop.lock() {
            return;
        }
        let Some(inner) = engine.upgrade() else {
            return;
        };
        let now = inner.config.clock.now();
        let leader = inner.storage().lease(SCHEDULER_LEASE);
        if !matches!(leader, Ok(true)) {
            drop(inner);
            shared.stats.lock().standby += 1;
            if let Err(e) = leader {
                let error = SchedulerError {
                    at: now,
                    record: None,
                    code: "lease".to_owned(),
                    message: format!(
                        "cannot tell whether this process holds the scheduler lease: {e}"
                    ),
                };
                shared.record_error(error, on_error.as_ref());
            }
            let mut stop = shared.stop.lock();
            if !*stop {
                let _ = shared.wake.wait_for(&mut stop, interval);
            }
            continue;
        }
        let started = std::time::Instant::now();
        let result = catch_unwind(AssertUnwindSafe(|| inner.tick(now)));
        let took = started.elapsed();
        // Release the engine before sleeping, so that dropping the last handle closes it.
        drop(inner);
        let failure = |record, code: &str, message: String| SchedulerError {
            at: now,
            record,
            code: code.to_owned(),
            message,
        };
        {
            let mut stats = shared.stats.lock();
            stats.ticks += 1;
            stats.tick_time += took;
            stats.last_tick_time = took;
        }
        match result {
            Ok(Ok(report)) => {
                {
                    let mut stats = shared.stats.lock();
                    stats.thresholds_recorded += report.thresholds_recorded as u64;
                    stats.breaches_recorded += report.breaches_recorded as u64;
                    stats.auto_closed += report.auto_closed.len() as u64;
                }
                for f in report.failures {
                    shared.record_error(
                        failure(Some(f.record), &f.code, f.message),
                        on_error.as_ref(),
                    );
                }
            }
            Ok(Err(e)) => {
                shared.stats.lock().failed_ticks += 1;
                shared.record_error(failure(None, e.code(), e.to_string()), on_error.as_ref());
            }
            Err(panic) => {
                shared.stats.lock().failed_ticks += 1;
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "tick panicked".to_owned());
                shared.record_error(failure(None, "panic", message), on_error.as_ref());
            }
        }
        let mut stop = shared.stop.lock();
        if !*stop {
            let _ = shared.wake.wait_for(&mut stop, interval);
        }
    }
}

impl Engine {
    /// Starts the background scheduler: a thread that calls [`Engine::tick`] with the engine
    /// clock's `now()` at once and then every `interval`. Errors are kept in the handle
    /// ([`SchedulerHandle::errors`]). The thread ends when the handle is stopped or dropped,
    /// or when the last engine handle is dropped. Several schedulers on one engine are safe
    /// (the tick is idempotent) but pointless.
    ///
    /// If the thread cannot be spawned the handle is returned anyway, not running
    /// ([`SchedulerHandle::is_running`] is `false`), with the error (code `"spawn"`) kept.
    pub fn start_scheduler(&self, interval: Duration) -> SchedulerHandle {
        self.spawn_scheduler(interval, None)
    }

    /// [`Engine::start_scheduler`], calling `on_error` (on the scheduler thread) for every
    /// error as well as keeping it.
    pub fn start_scheduler_with(
        &self,
        interval: Duration,
        on_error: impl Fn(&SchedulerError) + Send + 'static,
    ) -> SchedulerHandle {
        self.spawn_scheduler(interval, Some(Box::new(on_error)))
    }

    fn spawn_scheduler(
        &self,
        interval: Duration,
        on_error: Option<ErrorCallback>,
    ) -> SchedulerHandle {
        let shared = Arc::new(Shared::default());
        let engine = Arc::downgrade(&self.inner);
        let thread = std::thread::Builder::new()
            .name("opsledger-scheduler".into())
            .spawn({
                let shared = shared.clone();
                move || run(&engine, &shared, interval, on_error)
            });
        let thread = match thread {
            Ok(t) => Some(t),
            Err(e) => {
                let error = SchedulerError {
                    at: self.inner.config.clock.now(),
                    record: None,
                    code: "spawn".to_owned(),
                    message: e.to_string(),
                };
                shared.record_error(error, None);
                None
            }
        };
        SchedulerHandle {
            shared,
            thread,
            interval,
        }
    }
}
