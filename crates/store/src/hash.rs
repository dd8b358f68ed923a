//! A fast hasher for maps keyed by integers the store allocates itself (stream numbers).
//!
//! std's SipHash resists hash flooding, which matters for keys a client controls (stream ids,
//! event ids: those maps keep the default hasher). Stream numbers are allocated by the store,
//! so a multiply-rotate hash is safe there and several times cheaper on the read path, where
//! every decoded event looks its stream number up.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

#[derive(Debug, Default, Clone, Copy)]
/// A multiply-rotate hasher for integer keys the store allocates itself.
pub struct NumberHasher(u64);

impl Hasher for NumberHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut a = [0u8; 8];
            a[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(a));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

/// A map keyed by store-allocated numbers.
pub type NumberMap<K, V> = HashMap<K, V, BuildHasherDefault<NumberHasher>>;
