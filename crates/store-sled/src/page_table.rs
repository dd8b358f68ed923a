//! Opening sled databases, and keeping sled's page-table snapshot current.
//!
//! sled 0.34 keeps its page table (where every tree node lives in its log file) in memory and
//! persists it as a snapshot file only while a database *opens*: the open reads the previous
//! snapshot, then reads every log segment written since it, then writes the new snapshot. A
//! database written for a day and then reopened therefore reads the whole day's writes
//! before it serves anything, on the path back into service after a restart. [`refresh`]
//! opens and drops a closed database, which moves that work to the clean close that wrote it;
//! the next open reads only the snapshot (see docs/PERFORMANCE.md, "Large log").

use std::time::{Duration, Instant};

use opsledger_store::StoreError;

/// How long an open waits for a database lock still held by this process's previous handle.
const LOCK_WAIT: Duration = Duration::from_secs(2);

/// Opens a sled database. sled's background I/O tasks may hold the file (and its lock) for a
/// few milliseconds after the previous handle in this process was dropped; wait for them
/// briefly rather than failing a close-then-reopen. Another live process keeps the lock: that
/// still fails, after the wait.
pub fn open_db(config: &sled::Config) -> Result<sled::Db, StoreError> {
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        match config.open() {
            Err(sled::Error::Io(e)) if is_lock_error(&e) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            other => return other.map_err(crate::sled_error),
        }
    }
}

fn is_lock_error(e: &std::io::Error) -> bool {
    e.to_string().contains("could not acquire lock")
}

/// Whether a run that wrote `written` events should refresh the snapshot at its close, under
/// the threshold `min_events` (`None`: never).
pub fn worth_refreshing(min_events: Option<u64>, written: u64) -> bool {
    min_events.is_some_and(|min| written >= min)
}

/// What [`refresh`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresh {
    /// The snapshot now covers the whole log file; it took this long.
    Written(Duration),
    /// The database is still open elsewhere (another handle of this process, or another
    /// process): nothing was done and nothing is lost; its next open reads the log instead.
    StillOpen,
}

/// Brings the page-table snapshot of the closed database at `config`'s path up to date, by
/// opening it (sled replays its log and writes the snapshot) and closing it again. Changes no
/// data. Its cost is what the next open would otherwise have paid.
pub fn refresh(config: &sled::Config) -> Result<Refresh, StoreError> {
    let started = Instant::now();
    match open_db(config) {
        Ok(db) => {
            drop(db);
            Ok(Refresh::Written(started.elapsed()))
        }
        Err(StoreError::Io(e)) if is_lock_error(&e) => Ok(Refresh::StillOpen),
        Err(e) => Err(e),
    }
}
