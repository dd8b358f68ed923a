//! The clock that stamps `recorded_at`.
//!
//! The store is the ordering point of the log, so it is the one place that reads a clock. The
//! clock is injectable so that tests and deterministic replays can pin time.

use chrono::{DateTime, Duration, Utc};
use parking_lot::Mutex;

/// A source of the current instant.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;
}

/// The operating system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        // chrono is built without its `clock` feature workspace-wide; std gives the same instant.
        // Instants are recorded to the microsecond (as PostgreSQL and the SQL read models keep
        // them), so that every duration computed from them is exact in either place.
        let now = DateTime::<Utc>::from(std::time::SystemTime::now());
        DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
    }
}

/// A clock that only moves when told to (tests, deterministic tools).
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    /// A clock stopped at `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            now: Mutex::new(start),
        }
    }

    /// Sets the current instant (may go backwards; the store keeps `recorded_at` monotonic).
    pub fn set(&self, to: DateTime<Utc>) {
        *self.now.lock() = to;
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock();
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock()
    }
}
