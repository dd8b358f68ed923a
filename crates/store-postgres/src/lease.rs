//! Leases across the processes sharing a schema: PostgreSQL session advisory locks held on a
//! connection of their own. The server releases a session's locks when the session ends, so a
//! killed process loses its leases as soon as the server sees its connection close (at once
//! for a process that died, after the TCP keepalive for a machine that vanished).

use std::collections::HashSet;

use opsledger_store::StoreError;
use parking_lot::Mutex;
use postgres::Client;

use crate::db::{Db, pg_error};

/// The leases this process holds and the connection holding them; the connection that
/// holds exclusive sections (one at a time in this process).
#[derive(Default)]
pub(crate) struct Leases {
    held: Mutex<(Option<Client>, HashSet<i64>)>,
    exclusive: Mutex<Option<Client>>,
}

/// The advisory lock key of lease `name` in `schema`: FNV-1a over both, the same in every
/// process and build.
fn key(schema: &str, name: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in schema.bytes().chain([0u8]).chain(name.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    i64::from_ne_bytes(hash.to_ne_bytes())
}

impl Leases {
    /// Whether this process holds lease `name`, taking it when it is free. A lease held on a
    /// connection that no longer answers is lost (and tried again on a new connection).
    pub(crate) fn lease(&self, db: &Db, name: &str) -> Result<bool, StoreError> {
        let key = key(&db.options.schema, name);
        let mut guard = self.held.lock();
        let (client, held) = &mut *guard;
        if let Some(c) = client.as_mut()
            && held.contains(&key)
        {
            // Still ours if the session that holds it still answers.
            if c.simple_query("SELECT 1").is_ok() {
                return Ok(true);
            }
            *client = None;
            held.clear();
        }
        if client.as_ref().is_none_or(Client::is_closed) {
            held.clear();
            *client = Some(db.connect(false)?);
        }
        let Some(c) = client.as_mut() else {
            return Ok(false);
        };
        match c.query_one("SELECT pg_try_advisory_lock($1)", &[&key]) {
            Ok(row) => {
                let taken: bool = row.get(0);
                if taken {
                    held.insert(key);
                }
                Ok(taken)
            }
            Err(e) => {
                *client = None;
                held.clear();
                Err(pg_error(&e))
            }
        }
    }

    /// Waits for the session advisory lock of `name`, then holds it (and this process's
    /// exclusive connection) until the answer is dropped.
    pub(crate) fn exclusive<'a>(
        &'a self,
        db: &Db,
        name: &str,
    ) -> Result<opsledger_store::Exclusive<'a>, StoreError> {
        let key = key(&db.options.schema, name);
        let mut guard = self.exclusive.lock();
        if guard.as_ref().is_none_or(Client::is_closed) {
            *guard = Some(db.connect(false)?);
        }
        let Some(client) = guard.as_mut() else {
            return Err(StoreError::Unavailable("no connection".into()));
        };
        if let Err(e) = client.execute("SELECT pg_advisory_lock($1)", &[&key]) {
            *guard = None;
            return Err(pg_error(&e));
        }
        Ok(opsledger_store::Exclusive::held(move || {
            let mut guard = guard;
            // A failed unlock leaves the session in doubt: closing it frees the lock.
            if let Some(client) = guard.as_mut()
                && client
                    .execute("SELECT pg_advisory_unlock($1)", &[&key])
                    .is_err()
            {
                *guard = None;
            }
        }))
    }

    /// Gives every lease back (closing the connection that holds them).
    pub(crate) fn release_all(&self) {
        let mut guard = self.held.lock();
        guard.0 = None;
        guard.1.clear();
        *self.exclusive.lock() = None;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_differ_by_schema_and_name_and_are_stable() {
        let a = super::key("opsledger", "scheduler");
        assert_eq!(a, super::key("opsledger", "scheduler"));
        assert_ne!(a, super::key("other", "scheduler"));
        assert_ne!(a, super::key("opsledger", "webhooks"));
    }
}
