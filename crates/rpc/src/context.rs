//! Who is calling, and how far the transport vouches for it: [`CallContext`].
//!
//! The rule the engine binding relies on: over HTTP the acting actor comes from the bearer token
//! and never from the params; over stdio (a trusted local parent process) and in-process the
//! params may name the actor. Handlers never decide that themselves: they call
//! [`CallContext::acting_identity`] with the actor the params claimed, if any.

use crate::error::MethodError;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An acting identity: an actor id and the roles it was given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    /// The actor's id, as the domain knows it.
    pub actor: String,
    /// The roles the actor holds.
    #[serde(default)]
    pub roles: Vec<String>,
}

impl Identity {
    /// An identity from an actor id and roles.
    pub fn new(
        actor: impl Into<String>,
        roles: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Identity {
            actor: actor.into(),
            roles: roles.into_iter().map(Into::into).collect(),
        }
    }
}

/// How far the transport vouches for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// A trusted local caller (in-process, or the parent process on stdio): the params may name
    /// the acting actor; the context's identity, if any, is the default.
    Local,
    /// The transport authenticated the caller (a bearer token over HTTP): the acting identity is
    /// the context's, and params naming an actor are refused.
    Authenticated,
    /// The transport knows nothing about the caller (HTTP with no tokens configured, which is
    /// only allowed on loopback): no acting identity, and params naming an actor are refused.
    Anonymous,
}

/// Which transport carried the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// A direct call of [`crate::Dispatcher::handle`] (tests, the C ABI).
    InProcess,
    /// Newline-delimited JSON on stdin/stdout.
    Stdio,
    /// `POST /rpc`.
    Http,
}

/// What a handler knows about the call besides its params.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallContext {
    trust: Trust,
    transport: TransportKind,
    identity: Option<Identity>,
    in_batch: bool,
}

impl CallContext {
    /// A trusted in-process caller without a default identity (what
    /// [`crate::Dispatcher::handle`] uses).
    pub fn in_process() -> Self {
        CallContext {
            trust: Trust::Local,
            transport: TransportKind::InProcess,
            identity: None,
            in_batch: false,
        }
    }

    /// A trusted local caller on `transport`, with an optional default identity.
    pub fn local(transport: TransportKind, identity: Option<Identity>) -> Self {
        CallContext {
            trust: Trust::Local,
            transport,
            identity,
            in_batch: false,
        }
    }

    /// A caller the HTTP transport authenticated as `identity`.
    pub fn authenticated(identity: Identity) -> Self {
        CallContext {
            trust: Trust::Authenticated,
            transport: TransportKind::Http,
            identity: Some(identity),
            in_batch: false,
        }
    }

    /// An unauthenticated HTTP caller (no tokens configured).
    pub fn anonymous() -> Self {
        CallContext {
            trust: Trust::Anonymous,
            transport: TransportKind::Http,
            identity: None,
            in_batch: false,
        }
    }

    /// Whether the call is one entry of a batch. A batch's entries run one after another on
    /// one thread, so a method that may block (the `events.subscribe` long poll) must not wait
    /// inside one: a batch of long polls would hold its thread for their summed timeouts.
    pub fn in_batch(&self) -> bool {
        self.in_batch
    }

    /// The same context for an entry of a batch (see [`CallContext::in_batch`]).
    pub fn for_batch_entry(&self) -> Self {
        CallContext {
            in_batch: true,
            ..self.clone()
        }
    }

    /// How far the transport vouches for the caller.
    pub fn trust(&self) -> Trust {
        self.trust
    }

    /// Which transport carried the call.
    pub fn transport(&self) -> TransportKind {
        self.transport
    }

    /// The identity the transport established (or the local default).
    pub fn identity(&self) -> Option<&Identity> {
        self.identity.as_ref()
    }

    /// Whether params may name the acting actor on this call.
    pub fn params_may_name_actor(&self) -> bool {
        self.trust == Trust::Local
    }

    /// The identity a command must run as, given the actor the params `claimed` (if any).
    ///
    /// - [`Trust::Local`]: the claimed identity, else the context's default, else -32098.
    /// - [`Trust::Authenticated`]: the token's identity; a claim in the params is refused with
    ///   -32097 even if it matches, so a client can never choose who it acts as.
    /// - [`Trust::Anonymous`]: a claim is refused with -32097; no claim is -32098.
    pub fn acting_identity(&self, claimed: Option<Identity>) -> Result<Identity, MethodError> {
        match (self.trust, claimed) {
            (Trust::Local, Some(claimed)) => Ok(claimed),
            (Trust::Local, None) => self.identity.clone().ok_or_else(|| {
                MethodError::unauthenticated("No actor: name the acting actor in the params")
            }),
            (Trust::Authenticated | Trust::Anonymous, Some(_)) => {
                Err(MethodError::actor_not_allowed(
                    "The actor comes from the bearer token on this transport, not from the params",
                ))
            }
            (Trust::Authenticated, None) => self
                .identity
                .clone()
                .ok_or_else(|| MethodError::unauthenticated("No identity for this call")),
            (Trust::Anonymous, None) => Err(MethodError::unauthenticated(
                "This method needs an identity: configure bearer tokens and send one",
            )),
        }
    }
}

impl Default for CallContext {
    fn default() -> Self {
        CallContext::in_process()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::codes;

    fn alice() -> Identity {
        Identity::new("alice", ["agent"])
    }

    #[test]
    fn local_callers_may_name_the_actor() {
        let ctx = CallContext::local(TransportKind::Stdio, Some(alice()));
        let bob = Identity::new("bob", ["cab"]);
        assert_eq!(ctx.acting_identity(Some(bob.clone())), Ok(bob));
        assert_eq!(ctx.acting_identity(None), Ok(alice()));
        let bare = CallContext::in_process();
        assert_eq!(
            bare.acting_identity(None).map_err(|e| e.code()),
            Err(codes::UNAUTHENTICATED)
        );
    }

    #[test]
    fn authenticated_callers_cannot_claim_an_actor_even_their_own() {
        let ctx = CallContext::authenticated(alice());
        assert_eq!(ctx.acting_identity(None), Ok(alice()));
        assert_eq!(
            ctx.acting_identity(Some(alice())).map_err(|e| e.code()),
            Err(codes::ACTOR_NOT_ALLOWED)
        );
        assert!(!ctx.params_may_name_actor());
    }

    #[test]
    fn anonymous_callers_have_no_identity() {
        let ctx = CallContext::anonymous();
        assert_eq!(
            ctx.acting_identity(None).map_err(|e| e.code()),
            Err(codes::UNAUTHENTICATED)
        );
        assert_eq!(
            ctx.acting_identity(Some(alice())).map_err(|e| e.code()),
            Err(codes::ACTOR_NOT_ALLOWED)
        );
    }
}
