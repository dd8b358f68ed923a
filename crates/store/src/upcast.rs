//! Upcasters: lift stored payloads of old schema versions to the latest one on read.
//!
//! Events are never rewritten (DESIGN.md), so a schema change is a function registered here,
//! per `(event_type, from_version)`, turning the JSON payload of version `n` into version `n + 1`.
//! Reads apply the chain from the stored version up to the latest registered one. A version
//! newer than the latest known, or a gap in the chain, is a typed error, never a guess.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use serde_json::Value;

use crate::error::StoreError;
use crate::types::{NewEvent, StoredEvent};

/// A function lifting a payload from one schema version to the next.
pub type UpcastFn = Arc<dyn Fn(Value) -> Result<Value, String> + Send + Sync>;

#[derive(Clone, Default)]
struct Chain {
    /// The version reads return.
    latest: u16,
    /// `from_version -> fn` producing `from_version + 1`.
    steps: BTreeMap<u16, UpcastFn>,
}

/// The registry of upcasters, keyed by event type.
#[derive(Clone, Default)]
pub struct Upcasters {
    chains: HashMap<String, Chain>,
}

impl fmt::Debug for Upcasters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (ty, chain) in &self.chains {
            map.entry(ty, &(chain.latest, chain.steps.keys().collect::<Vec<_>>()));
        }
        map.finish()
    }
}

impl Upcasters {
    /// An empty registry: every payload is returned as stored.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `f`, lifting `event_type` payloads from `from_version` to `from_version + 1`.
    ///
    /// Fails on version 0, on `u16::MAX` (no next version) and on a second registration of the
    /// same step (two answers for one question would make reads ambiguous).
    pub fn register<F>(
        &mut self,
        event_type: &str,
        from_version: u16,
        f: F,
    ) -> Result<&mut Self, StoreError>
    where
        F: Fn(Value) -> Result<Value, String> + Send + Sync + 'static,
    {
        if from_version == 0 || from_version == u16::MAX {
            return Err(StoreError::InvalidConfig(format!(
                "upcaster for {event_type:?}: from_version must be in 1..65535"
            )));
        }
        let chain = self.chains.entry(event_type.to_string()).or_default();
        if chain.steps.contains_key(&from_version) {
            return Err(StoreError::InvalidConfig(format!(
                "upcaster for {event_type:?} from version {from_version} registered twice"
            )));
        }
        chain.steps.insert(from_version, Arc::new(f));
        chain.latest = chain.latest.max(from_version + 1);
        Ok(self)
    }

    /// Declares that `event_type` currently has schema `version`, without an upcaster (so that
    /// appending or reading a newer version is rejected as unknown).
    pub fn declare_current(&mut self, event_type: &str, version: u16) -> &mut Self {
        let chain = self.chains.entry(event_type.to_string()).or_default();
        chain.latest = chain.latest.max(version);
        self
    }

    /// The latest schema version of `event_type`, if the registry knows the type.
    pub fn latest(&self, event_type: &str) -> Option<u16> {
        self.chains.get(event_type).map(|c| c.latest)
    }

    /// Rejects a new event whose schema version the registry cannot read back.
    pub(crate) fn check_new(&self, event: &NewEvent) -> Result<(), StoreError> {
        match self.chains.get(&event.event_type) {
            Some(chain) if event.schema_version > chain.latest => {
                Err(StoreError::UnknownSchemaVersion {
                    event_type: event.event_type.clone(),
                    schema_version: event.schema_version,
                    latest: chain.latest,
                    position: None,
                })
            }
            _ => Ok(()),
        }
    }

    /// Lifts `event` to the latest schema version of its type (no-op for unknown types or when
    /// already current).
    pub fn upcast(&self, event: &mut StoredEvent) -> Result<(), StoreError> {
        let Some(chain) = self.chains.get(&event.event_type) else {
            return Ok(());
        };
        if event.schema_version == chain.latest {
            return Ok(());
        }
        if event.schema_version > chain.latest {
            return Err(StoreError::UnknownSchemaVersion {
                event_type: event.event_type.clone(),
                schema_version: event.schema_version,
                latest: chain.latest,
                position: Some(event.position),
            });
        }
        let failed = |from: u16, reason: String| StoreError::UpcastFailed {
            event_type: event.event_type.clone(),
            from_version: from,
            position: event.position,
            reason,
        };
        let mut value: Value = serde_json::from_slice(&event.payload)
            .map_err(|e| failed(event.schema_version, format!("payload is not JSON: {e}")))?;
        let mut version = event.schema_version;
        while version < chain.latest {
            let step = chain
                .steps
                .get(&version)
                .ok_or_else(|| StoreError::MissingUpcaster {
                    event_type: event.event_type.clone(),
                    from_version: version,
                    position: Some(event.position),
                })?;
            value = step(value).map_err(|reason| failed(version, reason))?;
            version += 1;
        }
        event.payload =
            serde_json::to_vec(&value).map_err(|e| failed(event.schema_version, e.to_string()))?;
        event.schema_version = version;
        Ok(())
    }

    /// Whether no upcaster is registered.
    pub fn is_empty(&self) -> bool {
        self.chains.is_empty()
    }
}
