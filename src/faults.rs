//! Fault injection, for tests of the engine's failure paths: make the next N passes through a
//! named point fail as a transient store error would. Empty (the default) it costs one atomic
//! load per point; nothing in the engine ever arms it.

use crate::error::{EngineError, Result};
use opsledger_store::StoreError;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Where a fault can be injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultPoint {
    /// Bringing the read models up to a position (after a command's append, or a catch-up).
    Projection,
    /// Running one process-manager follow-up command.
    FollowUp,
    /// The end of a command's unit of work, after its events were appended and projected and
    /// before the unit commits (backends whose units are transactions: the whole command is
    /// rolled back).
    Commit,
}

/// Armed faults, shared by every clone (keep a clone to arm faults after the engine opened).
#[derive(Debug, Clone, Default)]
pub struct Faults {
    armed: Arc<AtomicBool>,
    remaining: Arc<Mutex<BTreeMap<FaultPoint, u32>>>,
}

impl Faults {
    /// No fault armed.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes the next `times` passes through `point` fail.
    pub fn fail_next(&self, point: FaultPoint, times: u32) {
        let mut remaining = self.remaining.lock();
        *remaining.entry(point).or_insert(0) += times;
        self.armed.store(true, Ordering::Release);
    }

    /// Disarms every point.
    pub fn clear(&self) {
        self.remaining.lock().clear();
        self.armed.store(false, Ordering::Release);
    }

    /// Passes `point`: an error if a fault is armed there (and one fewer stays armed).
    pub(crate) fn pass(&self, point: FaultPoint) -> Result<()> {
        if !self.armed.load(Ordering::Acquire) {
            return Ok(());
        }
        let mut remaining = self.remaining.lock();
        match remaining.get_mut(&point) {
            Some(n) if *n > 0 => {
                *n -= 1;
                Err(EngineError::Store(StoreError::Backend(format!(
                    "injected fault at {point:?}"
                ))))
            }
            Some(_) | None => Ok(()),
        }
    }
}
