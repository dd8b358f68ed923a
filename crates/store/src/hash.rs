//! The hasher for maps keyed by integers the store allocates itself (stream numbers).
//!
//! std's SipHash resists hash flooding, which matters for keys a client controls (stream ids,
//! event ids: those maps keep the default hasher). Stream numbers are allocated by the store,
//! so the Fx hash (rustc-hash) is safe there and several times cheaper on the read path, where
//! every decoded event looks its stream number up.

/// A map keyed by store-allocated numbers.
pub type NumberMap<K, V> = rustc_hash::FxHashMap<K, V>;
