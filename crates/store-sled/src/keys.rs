//! Key layout of the single sled tree (see the crate docs, "Layout").
//!
//! One tree with byte-prefixed keyspaces instead of several trees: every write of the store is
//! then a plain single-key `insert` or one `Batch` on one tree, never a multi-tree transaction
//! (which takes sled's global lock and runs at a fraction of the speed). Integers are big-endian
//! so that byte order is numeric order.

/// `E ‖ position:u64be` -> event record. The log itself.
pub(crate) const EVENT: u8 = b'E';
/// `I ‖ event_id:16` -> position (varint). Derived index: idempotency and `event_by_id`.
pub(crate) const ID: u8 = b'I';
/// `M ‖ stream_number:u64be` -> stream id bytes. Derived index: decode stream names.
pub(crate) const NUMBER: u8 = b'M';
/// `N ‖ stream id bytes` -> stream number (varint). Derived index: resolve stream names.
pub(crate) const NAME: u8 = b'N';
/// `S ‖ stream_number:u64be ‖ version:u64be` -> position (varint). Derived index: streams.
pub(crate) const STREAM: u8 = b'S';
/// `X ‖ name` -> store metadata: the format marker key and its current value...
pub(crate) const FORMAT_KEY: &[u8] = b"Xformat";
pub(crate) const FORMAT_VALUE: &[u8] = b"opsledger-store/1";
/// ...and the derived-index checkpoint: every event up to this position (u64be) is indexed in sled.
pub(crate) const INDEXED_KEY: &[u8] = b"Xindexed";

pub(crate) fn event(position: u64) -> [u8; 9] {
    let mut k = [EVENT; 9];
    k[1..].copy_from_slice(&position.to_be_bytes());
    k
}

pub(crate) fn id(event_id: &uuid::Uuid) -> [u8; 17] {
    let mut k = [ID; 17];
    k[1..].copy_from_slice(event_id.as_bytes());
    k
}

pub(crate) fn number(sid: u64) -> [u8; 9] {
    let mut k = [NUMBER; 9];
    k[1..].copy_from_slice(&sid.to_be_bytes());
    k
}

pub(crate) fn name(stream: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(stream.len() + 1);
    k.push(NAME);
    k.extend_from_slice(stream.as_bytes());
    k
}

pub(crate) fn stream(sid: u64, version: u64) -> [u8; 17] {
    let mut k = [STREAM; 17];
    k[1..9].copy_from_slice(&sid.to_be_bytes());
    k[9..].copy_from_slice(&version.to_be_bytes());
    k
}

/// Reads the big-endian u64 at `bytes[at..at + 8]`, if present.
pub(crate) fn be_u64(bytes: &[u8], at: usize) -> Option<u64> {
    let slice = bytes.get(at..at + 8)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(slice);
    Some(u64::from_be_bytes(a))
}

/// Decodes an `E` key.
pub(crate) fn event_position(key: &[u8]) -> Option<u64> {
    (key.len() == 9 && key[0] == EVENT)
        .then(|| be_u64(key, 1))
        .flatten()
}

/// Decodes an `S` key into (stream number, version).
pub(crate) fn stream_parts(key: &[u8]) -> Option<(u64, u64)> {
    if key.len() != 17 || key[0] != STREAM {
        return None;
    }
    Some((be_u64(key, 1)?, be_u64(key, 9)?))
}
