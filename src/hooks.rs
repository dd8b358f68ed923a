//! The seam for further projections (exports, custom read models; SLA clocks and KPIs are
//! built in: see `ReadView::sla` and `ReadView::kpis`): hooks called with every batch
//! of stored events, in log order, right after the built-in read models have applied it.

use opsledger_store::StoredEvent;

/// Receives every stored event once the engine has projected it.
///
/// Called under the projector's lock, in position order, with dense batches (the first event
/// of a batch follows the last of the previous one) — including during rebuilds, which start
/// again from position 1, and, for a hook registered in the configuration
/// ([`EngineConfig::with_hook`](crate::EngineConfig::with_hook)), during the catch-up while the
/// engine opens. A hook added after opening ([`Engine::add_hook`](crate::Engine::add_hook))
/// sees the events projected from then on. Either way a hook that persists anything keeps its
/// own checkpoint and catches up from the log ([`Engine::events`](crate::Engine::events)) for
/// what happened while it was not registered (events already projected before an open are not
/// projected again). It must be quick: every command waits for it (that is the price of seeing
/// batches in order, atomically with the read models). A panicking hook is caught and ignored.
pub trait EventHook: Send + Sync {
    /// A name for diagnostics.
    fn name(&self) -> &str;

    /// The next events of the log.
    fn on_events(&self, events: &[StoredEvent]);

    /// The read models are being rebuilt from position 1 (the hook should reset if it keeps
    /// state derived from earlier calls).
    fn on_rebuild(&self) {}
}
