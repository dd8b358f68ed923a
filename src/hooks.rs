//! The seam for further projections (exports, custom read models; SLA clocks and KPIs are
//! built in: see `ReadView::sla` and `ReadView::kpis`): hooks called with every batch
//! of stored events, in log order, right after the built-in read models have applied it.

use opsledger_store::StoredEvent;

/// Receives every stored event once the engine has projected it.
///
/// Called under the projector's lock, in position order, with dense batches (the first event
/// of a batch follows the last of the previous one) — including during catch-up at open and
/// during rebuilds, which start again from position 1. A hook keeps its own checkpoint if it
/// persists anything, and must be quick: every command waits for it. A panicking hook is
/// caught and ignored.
pub trait EventHook: Send + Sync {
    /// A name for diagnostics.
    fn name(&self) -> &str;

    /// The next events of the log.
    fn on_events(&self, events: &[StoredEvent]);

    /// The read models are being rebuilt from position 1 (the hook should reset if it keeps
    /// state derived from earlier calls).
    fn on_rebuild(&self) {}
}
