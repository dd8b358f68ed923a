//! The compact binary encoding of stored event records (format 1).
//!
//! ```text
//! u8      format            = 1
//! varint  position          (also the key; decoding checks both agree)
//! varint  stream number     (interned stream id; see the crate docs, "Layout")
//! varint  version
//! varint  name length, name (the stream id; present only when version == 1)
//! 16      event id
//! varint  type length, type
//! varint  schema version
//! zigzag  occurred_at seconds, varint nanoseconds
//! zigzag  recorded_at seconds, varint nanoseconds
//! varint  actor length, actor
//! u8      flags             (bit 0: correlation id follows, bit 1: causation id follows)
//! 16?     correlation id, 16? causation id
//! varint  payload length, payload
//! u32 LE  CRC-32 (IEEE) of every byte before it
//! ```
//!
//! Integers are LEB128 varints (zigzag for signed seconds), so a typical record spends ~60 bytes
//! on metadata instead of the ~150 a JSON envelope needs, and decodes without a parser.
//! The checksum is verified before anything else is read, and every length is bounds-checked,
//! so damaged bytes become an error, never a panic or a wrong event.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::types::NewEvent;

/// The record format this crate writes and reads.
pub const RECORD_FORMAT: u8 = 1;

const FLAG_CORRELATION: u8 = 1;
const FLAG_CAUSATION: u8 = 2;

/// The fields the store assigns to a record (named as in the format above).
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy)]
pub struct Assigned<'a> {
    pub position: u64,
    pub sid: u64,
    pub version: u64,
    /// The stream id, written into the record of version 1 only.
    pub stream_name: Option<&'a str>,
    pub recorded_at: DateTime<Utc>,
}

/// A record decoded in place (borrowing the stored bytes); fields as in the format above.
#[allow(missing_docs)]
#[derive(Debug, Clone)]
pub struct Record<'a> {
    pub position: u64,
    pub sid: u64,
    pub version: u64,
    pub stream_name: Option<&'a str>,
    pub event_id: Uuid,
    pub event_type: &'a str,
    pub schema_version: u16,
    pub occurred_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    pub actor: &'a str,
    pub correlation_id: Option<Uuid>,
    pub causation_id: Option<Uuid>,
    pub payload: &'a [u8],
    pub checksum: u32,
}

/// Appends the encoding of `event` with `assigned` fields to `buf`; returns the checksum.
pub fn encode_record(buf: &mut Vec<u8>, assigned: &Assigned<'_>, event: &NewEvent) -> u32 {
    let start = buf.len();
    buf.push(RECORD_FORMAT);
    put_varint(buf, assigned.position);
    put_varint(buf, assigned.sid);
    put_varint(buf, assigned.version);
    put_bytes(buf, assigned.stream_name.unwrap_or("").as_bytes());
    buf.extend_from_slice(event.event_id.as_bytes());
    put_bytes(buf, event.event_type.as_bytes());
    put_varint(buf, u64::from(event.schema_version));
    put_time(buf, event.occurred_at);
    put_time(buf, assigned.recorded_at);
    put_bytes(buf, event.actor.as_bytes());
    let flags = if event.correlation_id.is_some() {
        FLAG_CORRELATION
    } else {
        0
    } | if event.causation_id.is_some() {
        FLAG_CAUSATION
    } else {
        0
    };
    buf.push(flags);
    if let Some(id) = event.correlation_id {
        buf.extend_from_slice(id.as_bytes());
    }
    if let Some(id) = event.causation_id {
        buf.extend_from_slice(id.as_bytes());
    }
    put_bytes(buf, &event.payload);
    let crc = crc32fast::hash(&buf[start..]);
    buf.extend_from_slice(&crc.to_le_bytes());
    crc
}

/// Decodes a record, verifying its checksum first.
pub fn decode_record(bytes: &[u8]) -> Result<Record<'_>, String> {
    if bytes.len() < 5 {
        return Err(format!("record too short ({} bytes)", bytes.len()));
    }
    let (body, crc_bytes) = bytes.split_at(bytes.len() - 4);
    let stored = u32::from_le_bytes([crc_bytes[0], crc_bytes[1], crc_bytes[2], crc_bytes[3]]);
    let actual = crc32fast::hash(body);
    if stored != actual {
        return Err(format!(
            "checksum mismatch: stored {stored:08x}, computed {actual:08x}"
        ));
    }
    let mut r = Reader { bytes: body, at: 0 };
    let format = r.byte()?;
    if format != RECORD_FORMAT {
        return Err(format!("unknown record format {format}"));
    }
    let position = r.varint()?;
    let sid = r.varint()?;
    let version = r.varint()?;
    let name = r.str()?;
    let stream_name = match (version, name.is_empty()) {
        (1, false) => Some(name),
        (1, true) => return Err("first event of a stream without its stream id".into()),
        (_, true) => None,
        (_, false) => return Err("stream id on an event other than version 1".into()),
    };
    if position == 0 || version == 0 || sid == 0 {
        return Err("position, stream number and version must be >= 1".into());
    }
    let event_id = r.uuid()?;
    let event_type = r.str()?;
    let schema_version = u16::try_from(r.varint()?).map_err(|_| "schema version overflows u16")?;
    let occurred_at = r.time()?;
    let recorded_at = r.time()?;
    let actor = r.str()?;
    let flags = r.byte()?;
    if flags & !(FLAG_CORRELATION | FLAG_CAUSATION) != 0 {
        return Err(format!("unknown flags {flags:#x}"));
    }
    let correlation_id = if flags & FLAG_CORRELATION != 0 {
        Some(r.uuid()?)
    } else {
        None
    };
    let causation_id = if flags & FLAG_CAUSATION != 0 {
        Some(r.uuid()?)
    } else {
        None
    };
    let payload = r.bytes()?;
    if r.at != body.len() {
        return Err(format!("{} trailing bytes", body.len() - r.at));
    }
    Ok(Record {
        position,
        sid,
        version,
        stream_name,
        event_id,
        event_type,
        schema_version,
        occurred_at,
        recorded_at,
        actor,
        correlation_id,
        causation_id,
        payload,
        checksum: stored,
    })
}

/// Appends `v` as a LEB128 varint.
pub fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// Reads a varint that must span the whole slice (index values).
pub fn read_varint_exact(bytes: &[u8]) -> Result<u64, String> {
    let mut r = Reader { bytes, at: 0 };
    let v = r.varint()?;
    if r.at != bytes.len() {
        return Err("trailing bytes after varint".into());
    }
    Ok(v)
}

fn put_bytes(buf: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(buf, bytes.len() as u64);
    buf.extend_from_slice(bytes);
}

fn put_time(buf: &mut Vec<u8>, t: DateTime<Utc>) {
    let secs = t.timestamp();
    put_varint(buf, ((secs << 1) ^ (secs >> 63)) as u64);
    put_varint(buf, u64::from(t.timestamp_subsec_nanos()));
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, String> {
        let b = *self.bytes.get(self.at).ok_or("truncated record")?;
        self.at += 1;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            let bits = u64::from(b & 0x7f);
            if shift == 63 && bits > 1 {
                return Err("varint overflows u64".into());
            }
            v |= bits << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("varint longer than 10 bytes".into())
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or("truncated record")?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let len = usize::try_from(self.varint()?).map_err(|_| "length overflows usize")?;
        self.take(len)
    }

    fn str(&mut self) -> Result<&'a str, String> {
        std::str::from_utf8(self.bytes()?).map_err(|_| "string is not UTF-8".into())
    }

    fn uuid(&mut self) -> Result<Uuid, String> {
        let b = self.take(16)?;
        let mut a = [0u8; 16];
        a.copy_from_slice(b);
        Ok(Uuid::from_bytes(a))
    }

    fn time(&mut self) -> Result<DateTime<Utc>, String> {
        let z = self.varint()?;
        let secs = ((z >> 1) as i64) ^ -((z & 1) as i64);
        let nanos = u32::try_from(self.varint()?).map_err(|_| "nanoseconds overflow u32")?;
        DateTime::from_timestamp(secs, nanos).ok_or_else(|| "timestamp out of range".into())
    }
}

impl Record<'_> {
    /// Builds the public event (payload copied out of the stored bytes).
    pub fn to_stored(&self, stream: crate::types::StreamId) -> crate::types::StoredEvent {
        crate::types::StoredEvent {
            position: crate::types::Position(self.position),
            stream,
            version: crate::types::Version(self.version),
            event_id: self.event_id,
            event_type: self.event_type.to_string(),
            schema_version: self.schema_version,
            occurred_at: self.occurred_at,
            recorded_at: self.recorded_at,
            actor: self.actor.to_string(),
            correlation_id: self.correlation_id,
            causation_id: self.causation_id,
            payload: self.payload.to_vec(),
            checksum: self.checksum,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> NewEvent {
        NewEvent {
            event_id: Uuid::from_u128(7),
            event_type: "t".into(),
            schema_version: 3,
            occurred_at: DateTime::from_timestamp(-5, 999_999_999).unwrap(),
            actor: "me".into(),
            correlation_id: Some(Uuid::from_u128(1)),
            causation_id: None,
            payload: b"{}".to_vec(),
        }
    }

    #[test]
    fn round_trip_and_every_truncation_or_flip_is_an_error() {
        let mut buf = Vec::new();
        let a = Assigned {
            position: 300,
            sid: 5,
            version: 1,
            stream_name: Some("s-1"),
            recorded_at: DateTime::from_timestamp(1_700_000_000, 5).unwrap(),
        };
        let crc = encode_record(&mut buf, &a, &event());
        let r = decode_record(&buf).unwrap();
        assert_eq!(
            (r.position, r.sid, r.version, r.stream_name),
            (300, 5, 1, Some("s-1"))
        );
        assert_eq!(r.checksum, crc);
        assert_eq!(r.occurred_at, event().occurred_at);
        assert_eq!(r.correlation_id, Some(Uuid::from_u128(1)));
        for len in 0..buf.len() {
            assert!(decode_record(&buf[..len]).is_err());
        }
        for i in 0..buf.len() {
            for bit in 0..8 {
                let mut b = buf.clone();
                b[i] ^= 1 << bit;
                assert!(
                    decode_record(&b).is_err(),
                    "flip at {i} bit {bit} went unnoticed"
                );
            }
        }
    }

    #[test]
    fn varints() {
        for v in [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            assert_eq!(read_varint_exact(&b).unwrap(), v);
        }
        assert!(read_varint_exact(&[0xff; 11]).is_err());
    }
}
