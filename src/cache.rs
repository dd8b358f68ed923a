//! Loading record states: a bounded LRU cache of hot records, snapshots every N events, and the
//! log's tail.
//!
//! - **Cache.** At most `cache_records` states, each with the stream version it is exact at.
//!   Entries only move forward (an older state never replaces a newer one).
//! - **Snapshots** live in their own keyspace (the `snapshots` tree of `<dir>/views`). Each one
//!   holds the state at a version, the id of the event at that version and the fingerprint of
//!   the snapshot format ([`snapshot_schema`]). The projector writes one whenever a record's stream crosses a multiple of
//!   `snapshot_every`; a load that had to fold `snapshot_every` events or more writes one too.
//!   A snapshot is used only if its schema is current and the log still has the same event at
//!   its version; otherwise it is stale, ignored, and replaced by the next one written. They are
//!   caches: deleting them loses nothing.
//! - **Tail.** Whatever the cache or snapshot lacks is read from the record's stream and folded.

use crate::error::{EngineError, Result};
use crate::kv::{Kv, prefix_end};
use crate::projections::StateSource;
use crate::record::{AnyState, RecordRef, fold_stored};
use lru::LruCache;
use opsledger_store::{EventStore, StoredEvent, Version};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::num::NonZeroUsize;
use std::sync::{Arc, OnceLock};
use uuid::Uuid;

/// Changes of meaning that keep the state types' shape (a field reinterpreted, a fold fixed):
/// bump it to make every snapshot stale. Changes of shape need no bump: they change the JSON
/// Schema and with it [`snapshot_schema`].
const SNAPSHOT_EPOCH: u32 = 1;

/// The fingerprint of the snapshot format: a name-based (v5) UUID of the JSON Schema of the
/// record state types and [`SNAPSHOT_EPOCH`]. A field added, removed, renamed or retyped in
/// any state type of the core changes it, so snapshots written by another build are stale
/// without anyone remembering to bump a version.
pub(crate) fn snapshot_schema() -> Uuid {
    static FINGERPRINT: OnceLock<Uuid> = OnceLock::new();
    *FINGERPRINT.get_or_init(|| {
        let schema = schemars::schema_for!(AnyState);
        fingerprint(
            &serde_json::to_value(&schema).unwrap_or_default(),
            SNAPSHOT_EPOCH,
        )
    })
}

/// The fingerprint of one schema document and epoch: of its shape only, so that editing a
/// doc comment (a `description`) does not make every snapshot stale.
fn fingerprint(schema: &serde_json::Value, epoch: u32) -> Uuid {
    let mut shape = schema.clone();
    strip_prose(&mut shape);
    // serde_json's map is ordered by key, so equal schemas give equal bytes.
    let mut bytes = epoch.to_be_bytes().to_vec();
    bytes.extend_from_slice(shape.to_string().as_bytes());
    Uuid::new_v5(&SNAPSHOT_NAMESPACE, &bytes)
}

/// Removes the schema keywords that describe without constraining. Names of properties and
/// definitions are kept whatever they are (a state type's field may be called `title`).
fn strip_prose(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for key in ["description", "title", "examples"] {
                map.remove(key);
            }
            for (key, value) in map.iter_mut() {
                match (key.as_str(), value) {
                    (
                        "properties" | "$defs" | "definitions" | "patternProperties",
                        serde_json::Value::Object(named),
                    ) => named.values_mut().for_each(strip_prose),
                    (_, value) => strip_prose(value),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_prose),
        serde_json::Value::Null
        | serde_json::Value::Bool(_)
        | serde_json::Value::Number(_)
        | serde_json::Value::String(_) => {}
    }
}

/// The namespace of snapshot fingerprints (a fixed, arbitrary UUID).
const SNAPSHOT_NAMESPACE: Uuid = Uuid::from_u128(0x6f70_736c_6564_6765_7273_6e61_7073_686f);

/// Events read per call while folding a stream.
const FOLD_PAGE: usize = 1_000;

/// The cache of hot record states.
pub(crate) struct StateCache {
    lru: Mutex<LruCache<RecordRef, (u64, Arc<AnyState>)>>,
}

impl StateCache {
    /// A cache of at most `capacity` records (at least one).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            lru: Mutex::new(LruCache::new(
                NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN),
            )),
        }
    }

    pub(crate) fn get(&self, record: &RecordRef) -> Option<(u64, Arc<AnyState>)> {
        self.lru.lock().get(record).cloned()
    }

    /// Stores `state` at `version` unless a newer one is cached.
    pub(crate) fn put(&self, record: RecordRef, version: u64, state: Arc<AnyState>) {
        let mut lru = self.lru.lock();
        if lru.peek(&record).is_some_and(|(v, _)| *v >= version) {
            return;
        }
        lru.put(record, (version, state));
    }

    pub(crate) fn clear(&self) {
        self.lru.lock().clear();
    }

    pub(crate) fn len(&self) -> usize {
        self.lru.lock().len()
    }
}

#[derive(Deserialize)]
struct Snapshot {
    schema: Uuid,
    version: u64,
    event_id: Uuid,
    state: AnyState,
}

#[derive(Serialize)]
struct SnapshotRef<'a> {
    schema: Uuid,
    version: u64,
    event_id: Uuid,
    state: &'a AnyState,
}

/// The snapshot keyspace.
pub(crate) struct Snapshots {
    kv: Arc<dyn Kv>,
    pub(crate) every: u64,
}

fn snapshot_prefix(record: &RecordRef) -> Vec<u8> {
    let mut k = record.stream_name().into_bytes();
    k.push(0xFF);
    k
}

fn snapshot_key(record: &RecordRef, version: u64) -> Vec<u8> {
    let mut k = snapshot_prefix(record);
    k.extend_from_slice(&version.to_be_bytes());
    k
}

impl Snapshots {
    pub(crate) fn new(kv: Arc<dyn Kv>, every: u64) -> Self {
        Self { kv, every }
    }

    /// The newest snapshot at or below `version` (any version when `None`) with the current
    /// schema; not yet checked against the log.
    fn best(&self, record: &RecordRef, version: Option<u64>) -> Result<Option<Snapshot>> {
        let prefix = snapshot_prefix(record);
        let end = match version {
            Some(v) => snapshot_key(record, v.saturating_add(1)),
            None => prefix_end(&prefix),
        };
        for item in self.kv.range(&prefix, &end, true) {
            let (_, bytes) = item?;
            match serde_json::from_slice::<Snapshot>(&bytes) {
                Ok(s) if s.schema == snapshot_schema() => return Ok(Some(s)),
                // Stale (another format, including the integer versions of earlier builds) or
                // unreadable: ignored, an older one may still serve.
                Ok(_) | Err(_) => continue,
            }
        }
        Ok(None)
    }

    pub(crate) fn write(
        &self,
        record: &RecordRef,
        version: u64,
        event_id: Uuid,
        state: &AnyState,
    ) -> Result<()> {
        let snapshot = SnapshotRef {
            schema: snapshot_schema(),
            version,
            event_id,
            state,
        };
        let bytes = serde_json::to_vec(&snapshot).map_err(EngineError::views)?;
        self.kv.put(snapshot_key(record, version), bytes)
    }
}

/// Loads states through the cache, the snapshots and the log; the projector's state source.
pub(crate) struct Loader<'a> {
    pub(crate) store: &'a dyn EventStore,
    pub(crate) cache: &'a StateCache,
    pub(crate) snapshots: &'a Snapshots,
}

impl Loader<'_> {
    /// Reads `record`'s events from `from` up to `to` (inclusive; `None` = to the end).
    fn read(&self, record: &RecordRef, from: u64, to: Option<u64>) -> Result<Vec<StoredEvent>> {
        let stream = record.stream();
        let mut out = Vec::new();
        let mut next = from.max(1);
        loop {
            let want = match to {
                Some(to) if next > to => break,
                Some(to) => usize::try_from(to - next + 1)
                    .unwrap_or(FOLD_PAGE)
                    .min(FOLD_PAGE),
                None => FOLD_PAGE,
            };
            let page = self.store.read_stream(&stream, Version(next), want)?;
            let n = page.len();
            if let Some(last) = page.last() {
                next = last.version.0 + 1;
            }
            out.extend(page);
            if n < want {
                break;
            }
        }
        Ok(out)
    }

    /// A validated starting point at or below `version`: a snapshot whose event still is in
    /// the log, or the empty state.
    fn base(&self, record: &RecordRef, version: Option<u64>) -> Result<(u64, AnyState)> {
        if let Some(s) = self.snapshots.best(record, version)? {
            let at = self
                .store
                .read_stream(&record.stream(), Version(s.version), 1)?;
            if at
                .first()
                .is_some_and(|e| e.version.0 == s.version && e.event_id == s.event_id)
            {
                return Ok((s.version, s.state));
            }
        }
        Ok((0, AnyState::empty(record.kind)))
    }

    /// The latest state of `record` and its version.
    pub(crate) fn latest(&self, record: &RecordRef) -> Result<(u64, Arc<AnyState>)> {
        let (base_version, base, cached) = match self.cache.get(record) {
            Some((v, s)) => (v, s, true),
            None => {
                let (v, s) = self.base(record, None)?;
                (v, Arc::new(s), false)
            }
        };
        let tail = self.read(record, base_version + 1, None)?;
        let Some(last) = tail.last().map(|e| (e.version.0, e.event_id)) else {
            if !cached && base_version > 0 {
                self.cache.put(*record, base_version, base.clone());
            }
            return Ok((base_version, base));
        };
        let state = fold_stored(record.kind, (*base).clone(), &tail)?;
        let (version, last_id) = last;
        if tail.len() as u64 >= self.snapshots.every {
            self.snapshots.write(record, version, last_id, &state)?;
        }
        let state = Arc::new(state);
        self.cache.put(*record, version, state.clone());
        Ok((version, state))
    }

    /// The state of `record` exactly at `version` (0 = not created).
    pub(crate) fn at_version(&self, record: &RecordRef, version: u64) -> Result<AnyState> {
        if version == 0 {
            return Ok(AnyState::empty(record.kind));
        }
        if let Some((v, s)) = self.cache.get(record)
            && v == version
        {
            return Ok((*s).clone());
        }
        let (base_version, base) = self.base(record, Some(version))?;
        let tail = self.read(record, base_version + 1, Some(version))?;
        fold_stored(record.kind, base, &tail)
    }
}

impl StateSource for Loader<'_> {
    fn state_after(&mut self, record: RecordRef, events: &[&StoredEvent]) -> Result<AnyState> {
        let (Some(first), Some(last)) = (events.first(), events.last()) else {
            return self.latest(&record).map(|(_, s)| (*s).clone());
        };
        let first_v = first.version.0;
        let last_v = last.version.0;
        let state = match self.cache.get(&record) {
            Some((v, s)) if v == last_v => (*s).clone(),
            Some((v, s)) if v + 1 == first_v => {
                fold_stored(record.kind, (*s).clone(), events.iter().copied())?
            }
            _ => {
                let before = self.at_version(&record, first_v - 1)?;
                fold_stored(record.kind, before, events.iter().copied())?
            }
        };
        // A snapshot whenever the stream crosses a multiple of `every`.
        let every = self.snapshots.every;
        if (first_v - 1) / every < last_v / every {
            self.snapshots
                .write(&record, last_v, last.event_id, &state)?;
        }
        self.cache.put(record, last_v, Arc::new(state.clone()));
        Ok(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::MemoryKv;
    use crate::record::RecordEvent;
    use chrono::{TimeZone, Utc};
    use opsledger_core::incident::IncidentEvent;
    use opsledger_core::{ActorId, Impact, IncidentId, Priority, Urgency};
    use opsledger_store::{ExpectedVersion, MemoryStore};

    fn setup(notes: u32) -> (MemoryStore, RecordRef) {
        let store = MemoryStore::default();
        let id = IncidentId(Uuid::from_u128(7));
        let record = RecordRef::incident(id);
        let at = Utc
            .with_ymd_and_hms(2026, 1, 5, 9, 0, 0)
            .single()
            .expect("valid");
        let by = ActorId::new("alice");
        let mut events = vec![RecordEvent::Incident(IncidentEvent::Opened {
            id,
            policy_version: Default::default(),
            title: "t".into(),
            description: String::new(),
            caller: by.clone(),
            impact: Impact::Low,
            urgency: Urgency::Low,
            priority: Priority::Planning,
            service: None,
            cis: vec![],
            group: None,
            assignee: None,
            alert: None,
            at,
            by: by.clone(),
        })];
        for n in 0..notes {
            events.push(RecordEvent::Incident(IncidentEvent::WorkNoteAdded {
                id,
                text: format!("note {n}"),
                at,
                by: by.clone(),
            }));
        }
        let new: Vec<_> = events
            .iter()
            .enumerate()
            .map(|(i, e)| e.to_new_event(Uuid::from_u128(100 + i as u128), "alice", None, None))
            .collect::<Result<_>>()
            .expect("encode");
        store
            .append(&record.stream(), ExpectedVersion::NoStream, new)
            .expect("append");
        (store, record)
    }

    fn notes(state: &AnyState) -> u32 {
        match state {
            AnyState::Incident(Some(i)) => i.work_note_count,
            AnyState::Incident(None) | AnyState::Problem(_) | AnyState::Change(_) => u32::MAX,
        }
    }

    #[test]
    fn loading_writes_a_snapshot_and_uses_it() {
        let (store, record) = setup(9);
        let kv: Arc<dyn Kv> = Arc::new(MemoryKv::new());
        let snapshots = Snapshots::new(kv.clone(), 4);
        let cache = StateCache::new(4);
        let loader = Loader {
            store: &store,
            cache: &cache,
            snapshots: &snapshots,
        };
        let (version, state) = loader.latest(&record).expect("load");
        assert_eq!((version, notes(&state)), (10, 9));
        let snap = snapshots
            .best(&record, None)
            .expect("read")
            .expect("written");
        assert_eq!(snap.version, 10);
        // At an older version, the snapshot is not usable: folded from the start.
        assert_eq!(notes(&loader.at_version(&record, 5).expect("load")), 4);
    }

    #[test]
    fn the_snapshot_fingerprint_follows_the_state_schema_and_the_epoch() {
        let schema = serde_json::to_value(schemars::schema_for!(AnyState)).expect("schema");
        assert_eq!(fingerprint(&schema, SNAPSHOT_EPOCH), snapshot_schema());
        // The schema covers the state types themselves, down to their fields.
        let text = schema.to_string();
        for field in ["reopen_count", "planned_window", "known_error"] {
            assert!(text.contains(field), "{field} not in the state schema");
        }
        // A field added anywhere gives another fingerprint; so does an epoch bump.
        let mut changed = schema.clone();
        changed["$defs"]["Incident"]["properties"]["added"] = serde_json::json!({"type": "string"});
        assert_ne!(fingerprint(&changed, SNAPSHOT_EPOCH), snapshot_schema());
        assert_ne!(fingerprint(&schema, SNAPSHOT_EPOCH + 1), snapshot_schema());
        // A field retyped too, even one named like a prose keyword.
        let mut title = schema.clone();
        assert!(title["$defs"]["Incident"]["properties"]["title"].is_object());
        title["$defs"]["Incident"]["properties"]["title"] = serde_json::json!({"type": "integer"});
        assert_ne!(fingerprint(&title, SNAPSHOT_EPOCH), snapshot_schema());
        let mut retyped = schema.clone();
        retyped["$defs"]["Incident"]["properties"]["reopen_count"] =
            serde_json::json!({"type": "string"});
        assert_ne!(fingerprint(&retyped, SNAPSHOT_EPOCH), snapshot_schema());
        // A doc comment edited is not a change of format.
        let mut reworded = schema.clone();
        assert!(
            reworded["$defs"]["Incident"]["properties"]["reopen_count"]["description"].is_string()
        );
        reworded["$defs"]["Incident"]["properties"]["reopen_count"]["description"] =
            serde_json::json!("How often it was reopened, reworded.");
        reworded["$defs"]["Incident"]["title"] = serde_json::json!("A title");
        assert_eq!(fingerprint(&reworded, SNAPSHOT_EPOCH), snapshot_schema());
    }

    #[test]
    fn snapshots_of_earlier_integer_versions_are_stale() {
        let (store, record) = setup(5);
        let kv: Arc<dyn Kv> = Arc::new(MemoryKv::new());
        let snapshots = Snapshots::new(kv.clone(), 100);
        // The format before fingerprints: `schema: 1`, with a state that would be wrong.
        let old = serde_json::json!({
            "schema": 1, "version": 5, "event_id": Uuid::from_u128(105),
            "state": {"kind": "incident", "state": null}
        });
        kv.put(
            snapshot_key(&record, 5),
            serde_json::to_vec(&old).expect("encode"),
        )
        .expect("put");
        assert!(snapshots.best(&record, None).expect("read").is_none());
        let cache = StateCache::new(4);
        let loader = Loader {
            store: &store,
            cache: &cache,
            snapshots: &snapshots,
        };
        let (version, state) = loader.latest(&record).expect("load");
        assert_eq!((version, notes(&state)), (6, 5));
    }

    #[test]
    fn stale_snapshots_are_ignored() {
        let (store, record) = setup(5);
        let kv: Arc<dyn Kv> = Arc::new(MemoryKv::new());
        let snapshots = Snapshots::new(kv.clone(), 100);
        // A snapshot of another schema, claiming a wrong state.
        let wrong = AnyState::Incident(None);
        let bytes = serde_json::to_vec(&SnapshotRef {
            schema: Uuid::from_u128(1),
            version: 6,
            event_id: Uuid::from_u128(105),
            state: &wrong,
        })
        .expect("encode");
        kv.put(snapshot_key(&record, 6), bytes).expect("put");
        // And one of the current schema whose event is not in the log (the log lost its tail,
        // or was replaced).
        snapshots
            .write(&record, 4, Uuid::from_u128(999), &wrong)
            .expect("write");
        let cache = StateCache::new(4);
        let loader = Loader {
            store: &store,
            cache: &cache,
            snapshots: &snapshots,
        };
        let (version, state) = loader.latest(&record).expect("load");
        assert_eq!((version, notes(&state)), (6, 5));
        assert_eq!(notes(&loader.at_version(&record, 5).expect("load")), 4);
    }

    #[test]
    fn the_cache_is_bounded_and_never_goes_back() {
        let cache = StateCache::new(2);
        let r = |n: u128| RecordRef::incident(IncidentId(Uuid::from_u128(n)));
        let s = Arc::new(AnyState::Incident(None));
        cache.put(r(1), 5, s.clone());
        cache.put(r(1), 3, s.clone());
        assert_eq!(cache.get(&r(1)).map(|(v, _)| v), Some(5));
        cache.put(r(2), 1, s.clone());
        cache.put(r(3), 1, s.clone());
        assert_eq!(cache.len(), 2);
        assert!(cache.get(&r(1)).is_none(), "least recently used went first");
    }
}
