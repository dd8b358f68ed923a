//! Idempotency keys, persisted in the log.
//!
//! A command with a key appends, in the same atomic `append_multi` as its record events, one
//! `idempotency.recorded` event to the stream `idempotency-<uuid v5 of (actor id, key)>`,
//! expecting that stream not to exist: keys are scoped per actor, so two actors' keys never
//! collide (the same key from another actor is another request). The key's request goes first
//! in the append. The event holds a fingerprint of (actor, command) and where the
//! record events went. Because the key is in the log, it holds across restarts and crashes:
//! either the command and its key are both stored, or neither is.
//!
//! - Same key, same fingerprint: the first outcome is rebuilt from the log (its record events,
//!   then the follow-ups they caused, from the causation index) and returned with
//!   `replayed = true`; nothing is written.
//! - Same key, another fingerprint: [`EngineError::IdempotencyKeyReused`].
//! - Two concurrent first uses of one key: one append wins (`NoStream`); the other replays or
//!   refuses as above. It checks the key again after taking the record's locks, when its
//!   append conflicts on the key, and before returning a domain error or a conflict, so a
//!   concurrent retry gets the winner's outcome, not an error.
//! - A command the domain refuses writes nothing, so its key stays unused.

use crate::command::Command;
use crate::error::{EngineError, Result};
use crate::record::RecordRef;
use opsledger_core::Actor;
use opsledger_core::change::ChangeCommand;
use opsledger_store::StreamId;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The event type of an idempotency record.
pub(crate) const IDEMPOTENCY_EVENT: &str = "idempotency.recorded";

/// Namespace of the key -> stream mapping (a fixed, random UUID).
const KEY_NAMESPACE: Uuid = Uuid::from_u128(0x6f1c_2e4a_9b7d_4c1e_8a53_0d2f_71b6_c9e4);
/// Namespace of command fingerprints.
const FINGERPRINT_NAMESPACE: Uuid = Uuid::from_u128(0x3a8e_51c0_7d24_4f9b_b6e1_95c2_04da_7f13);

/// What the log keeps about a key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct IdempotencyRecord {
    pub key: String,
    pub fingerprint: Uuid,
    pub record: RecordRef,
    /// Version of the first record event the command appended (0 when it appended none).
    pub first_version: u64,
    /// Number of record events it appended.
    pub count: u64,
    /// The record's version right after the command.
    pub version: u64,
}

/// Checks a key against the limits.
pub(crate) fn validate_key(key: &str, max_bytes: usize) -> Result<()> {
    if key.is_empty() {
        return Err(EngineError::invalid("idempotency_key", "must not be empty"));
    }
    if key.len() > max_bytes {
        return Err(EngineError::LimitExceeded {
            what: "idempotency_key".to_owned(),
            limit: max_bytes as u64,
        });
    }
    Ok(())
}

/// The stream holding the record of `actor`'s `key` (keys are scoped per actor).
pub(crate) fn key_stream(actor: &str, key: &str) -> StreamId {
    let mut name = Vec::with_capacity(actor.len() + key.len() + 1);
    name.extend_from_slice(actor.as_bytes());
    name.push(0);
    name.extend_from_slice(key.as_bytes());
    let id = Uuid::new_v5(&KEY_NAMESPACE, &name);
    StreamId::new(format!("idempotency-{id}"))
        .unwrap_or_else(|_| unreachable!("a fixed prefix and a UUID form a valid stream id"))
}

/// Fingerprint of what the key protects: who sends which command. Roles are left out (they may
/// change between a request and its retry without making it another request), and so is the
/// change calendar of `Plan`, `Submit` and `Approve`: the engine replaces it from the read
/// model, so it is not part of what the caller sent.
pub(crate) fn fingerprint(actor: &Actor, command: &Command) -> Result<Uuid> {
    let mut command = command.clone();
    if let Command::Change(
        ChangeCommand::Plan { calendar, .. }
        | ChangeCommand::Submit { calendar, .. }
        | ChangeCommand::Approve { calendar, .. },
    ) = &mut command
    {
        calendar.clear();
    }
    let bytes = serde_json::to_vec(&(actor.id.as_str(), &command))
        .map_err(|e| EngineError::invalid("command", e.to_string()))?;
    Ok(Uuid::new_v5(&FINGERPRINT_NAMESPACE, &bytes))
}
