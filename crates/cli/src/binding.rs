//! The engine's JSON-RPC binding, as the binary uses it: the method registry and the event
//! source of `GET /events`.

use opsledger::Engine;
use opsledger_rpc::MethodRegistry;
use opsledger_rpc::transport::EventSource;
use std::sync::Arc;

/// The engine's methods.
pub fn registry(_engine: Arc<Engine>) -> MethodRegistry {
    MethodRegistry::new("opsledger", env!("CARGO_PKG_VERSION"))
}

/// The source of `GET /events`.
pub fn events(_engine: Arc<Engine>) -> Option<Arc<dyn EventSource>> {
    None
}
