//! Golden files (tests/golden/): the stored-record encoding of every record format, and a
//! payload at every schema version of a sample event type with what the upcasters make of it.
//! A change that alters stored bytes or upcast results fails here. Regenerate deliberately
//! with `UPDATE_GOLDEN=1 cargo test -p opsledger-store --test golden`.

use std::path::PathBuf;

use chrono::DateTime;
use opsledger_store::__private::{decode_record, encode_record, upcast};
use opsledger_store::contract::{ev, stream, t0};
use opsledger_store::{
    Durability, EventStore, ExpectedVersion, MemoryStore, NewEvent, Position, StoreConfig,
    StoredEvent, Upcasters,
};
use serde_json::{Value, json};
use uuid::Uuid;

fn golden(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

fn updating() -> bool {
    std::env::var_os("UPDATE_GOLDEN").is_some()
}

/// Compares `actual` with the golden file `name` (or rewrites it under UPDATE_GOLDEN).
fn check_bytes(name: &str, actual: &[u8]) {
    let path = golden(name);
    if updating() {
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        expected, actual,
        "{name} drifted; regenerate only for a deliberate format change"
    );
}

fn check_json(name: &str, actual: &Value) {
    check_bytes(
        name,
        format!("{}\n", serde_json::to_string_pretty(actual).unwrap()).as_bytes(),
    );
}

fn to_json(e: &StoredEvent) -> Value {
    json!({
        "position": e.position.0,
        "stream": e.stream.as_str(),
        "version": e.version.0,
        "event_id": e.event_id,
        "event_type": e.event_type,
        "schema_version": e.schema_version,
        "occurred_at": e.occurred_at.to_rfc3339(),
        "recorded_at": e.recorded_at.to_rfc3339(),
        "actor": e.actor,
        "correlation_id": e.correlation_id,
        "causation_id": e.causation_id,
        "payload": String::from_utf8(e.payload.clone()).unwrap(),
        "checksum": format!("{:08x}", e.checksum),
    })
}

/// Record format 1: a stream's first event (carries the stream id and both optional ids) and
/// a later one (neither).
#[test]
fn record_format_1_bytes_are_stable() {
    let first = NewEvent {
        event_id: Uuid::parse_str("0190f2a4-1c2d-7e3f-8a4b-5c6d7e8f9a0b").unwrap(),
        event_type: "incident.opened".into(),
        schema_version: 1,
        occurred_at: DateTime::parse_from_rfc3339("2026-03-01T09:15:00.123456789Z")
            .unwrap()
            .into(),
        actor: "user:alice".into(),
        correlation_id: Some(Uuid::parse_str("0190f2a4-0000-7000-8000-00000000c0c0").unwrap()),
        causation_id: Some(Uuid::parse_str("0190f2a4-0000-7000-8000-0000000ca5e0").unwrap()),
        payload: br#"{"title":"mail down","impact":"high"}"#.to_vec(),
    };
    let next = NewEvent {
        event_id: Uuid::parse_str("0190f2a4-1c2d-7e3f-8a4b-5c6d7e8f9a0c").unwrap(),
        event_type: "incident.acknowledged".into(),
        schema_version: 2,
        occurred_at: DateTime::parse_from_rfc3339("1969-07-20T20:17:40Z")
            .unwrap()
            .into(),
        actor: String::new(),
        correlation_id: None,
        causation_id: None,
        payload: Vec::new(),
    };
    let recorded = DateTime::parse_from_rfc3339("2026-03-01T09:15:01.5Z")
        .unwrap()
        .into();
    let stream_id = stream("incident-0190f2a4-1c2d-7e3f-8a4b-5c6d7e8f9a00");
    let a = encode_record(41, 7, 1, Some(stream_id.as_str()), recorded, &first);
    let b = encode_record(300_000, 7, 2, None, recorded, &next);
    check_bytes("record-format1-first-event.bin", &a);
    check_bytes("record-format1-later-event.bin", &b);
    let decoded: Vec<Value> = [
        "record-format1-first-event.bin",
        "record-format1-later-event.bin",
    ]
    .iter()
    .map(|name| {
        let stored = std::fs::read(golden(name)).unwrap();
        let (sid, event) = decode_record(&stored, stream_id.clone()).unwrap();
        assert_eq!(sid, 7);
        to_json(&event)
    })
    .collect();
    check_json("record-format1-decoded.json", &Value::Array(decoded));
}

/// The sample type's upcasters: v1 `{title, impact}` -> v2 renames `title` to `summary` ->
/// v3 turns `impact` into `{impact, urgency}` under `priority`.
fn upcasters() -> Upcasters {
    let mut up = Upcasters::new();
    up.register("incident.opened", 1, |mut v| {
        let o = v.as_object_mut().ok_or("payload is not an object")?;
        let title = o.remove("title").ok_or("v1 payload without title")?;
        o.insert("summary".into(), title);
        Ok(v)
    })
    .unwrap();
    up.register("incident.opened", 2, |mut v| {
        let o = v.as_object_mut().ok_or("payload is not an object")?;
        let impact = o.remove("impact").unwrap_or(json!("medium"));
        o.insert(
            "priority".into(),
            json!({"impact": impact, "urgency": "medium"}),
        );
        Ok(v)
    })
    .unwrap();
    up
}

fn sample(version: u16, payload: Vec<u8>) -> StoredEvent {
    StoredEvent {
        position: Position(1),
        stream: stream("incident-1"),
        version: opsledger_store::Version(1),
        event_id: Uuid::from_u128(1),
        event_type: "incident.opened".into(),
        schema_version: version,
        occurred_at: t0(),
        recorded_at: t0(),
        actor: "a".into(),
        correlation_id: None,
        causation_id: None,
        payload,
        checksum: 0,
    }
}

#[test]
fn every_schema_version_upcasts_to_the_golden_latest() {
    let up = upcasters();
    assert_eq!(up.latest("incident.opened"), Some(3));
    for version in 1..=3u16 {
        let input =
            std::fs::read(golden(&format!("payload-incident.opened-v{version}.json"))).unwrap();
        let mut event = sample(version, input);
        upcast(&up, &mut event).unwrap();
        assert_eq!(event.schema_version, 3);
        let out: Value = serde_json::from_slice(&event.payload).unwrap();
        check_json(
            &format!("payload-incident.opened-v{version}-read-as-v3.json"),
            &out,
        );
    }
}

#[test]
fn a_golden_v1_payload_is_upcast_on_read() {
    let input = std::fs::read(golden("payload-incident.opened-v1.json")).unwrap();
    let expected: Value = serde_json::from_slice(
        &std::fs::read(golden("payload-incident.opened-v1-read-as-v3.json")).unwrap(),
    )
    .unwrap();
    let config = || {
        StoreConfig::default()
            .with_durability(Durability::Buffered)
            .with_upcasters(upcasters())
    };
    let stores: Vec<Box<dyn EventStore>> = vec![Box::new(MemoryStore::new(config()).unwrap())];
    for store in stores {
        let mut e = ev(1);
        e.event_type = "incident.opened".into();
        e.payload = input.clone();
        store
            .append(&stream("incident-1"), ExpectedVersion::NoStream, vec![e])
            .unwrap();
        let got = store.read_all(Position::BEGINNING, 1).unwrap().remove(0);
        assert_eq!(got.schema_version, 3);
        assert_eq!(
            serde_json::from_slice::<Value>(&got.payload).unwrap(),
            expected
        );
    }
}
