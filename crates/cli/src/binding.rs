//! The engine's JSON-RPC binding as the binary uses it: `opsledger_rpc::api`'s method registry
//! and the event source of `GET /events`.

use opsledger::{Engine, ManualClock};
use opsledger_rpc::MethodRegistry;
use opsledger_rpc::api::{self, EngineEvents};
use opsledger_rpc::transport::EventSource;
use std::sync::Arc;

/// Every method of the engine's API.
pub fn registry(engine: Arc<Engine>) -> MethodRegistry {
    api::registry(engine)
}

/// Every method of the engine's API, `admin.set_clock` moving `manual_clock` (the engine's
/// own) when there is one.
pub fn registry_with_clock(
    engine: Arc<Engine>,
    manual_clock: Option<Arc<ManualClock>>,
) -> MethodRegistry {
    api::registry_with_clock(engine, manual_clock)
}

/// The source of `GET /events`.
pub fn events(engine: Arc<Engine>) -> Option<Arc<dyn EventSource>> {
    Some(Arc::new(EngineEvents::new(engine)))
}
