//! Bearer tokens and the identities they stand for.
//!
//! The tokens file is a JSON object mapping each token to the identity it grants:
//!
//! ```json
//! {
//!   "3f9a1c0e5b7d2a4c6e8f0a1b": { "actor": "alice", "roles": ["agent"] },
//!   "b2d4f6a8c0e1f3a5b7c9d1e3": { "actor": "carol", "roles": ["cab_member", "change_manager"] }
//! }
//! ```
//!
//! Tokens are at least [`MIN_TOKEN_LEN`] characters of the RFC 6750 `b64token` alphabet
//! (`A-Z a-z 0-9 - . _ ~ + /`, then `=` padding). Only their SHA-256 digests are kept in
//! memory, and a presented token is compared with every digest in constant time, so neither
//! the time taken nor which entry matched reveals anything about the tokens.

use crate::context::Identity;
use opsledger::core::Role;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use subtle::{ConditionallySelectable, ConstantTimeEq};

/// The shortest token accepted.
pub const MIN_TOKEN_LEN: usize = 16;

/// Why a tokens file or token was refused.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The file could not be read.
    #[error("cannot read the tokens file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a JSON object of token -> {actor, roles}.
    #[error("the tokens file is not a JSON object of token -> {{\"actor\", \"roles\"}}: {0}")]
    Format(String),
    /// A token is too short or uses characters outside the b64token alphabet.
    #[error(
        "token #{index} is not acceptable: use at least {MIN_TOKEN_LEN} characters of A-Z a-z 0-9 - . _ ~ + / (then = padding)"
    )]
    BadToken {
        /// The token's place in the file (1-based, in sorted order), never the token itself.
        index: usize,
    },
    /// An identity has an empty actor.
    #[error("token #{index} maps to an empty actor")]
    EmptyActor {
        /// The token's place in the file (1-based, in sorted order).
        index: usize,
    },
    /// An identity names a role the engine does not know.
    #[error("token #{index} grants {role:?}, which is not a role (roles: {known})")]
    UnknownRole {
        /// The token's place in the file (1-based, in sorted order).
        index: usize,
        /// The unknown name.
        role: String,
        /// The roles there are, comma-separated.
        known: String,
    },
    /// An identity grants the engine's own `system` role, which no caller may hold.
    #[error(
        "token #{index} grants the system role, which is the engine's own: no token may hold it"
    )]
    SystemRole {
        /// The token's place in the file (1-based, in sorted order).
        index: usize,
    },
    /// The same token twice.
    #[error("token #{index} is already configured")]
    Duplicate {
        /// The token's place (1-based).
        index: usize,
    },
}

/// The configured bearer tokens. Empty means "no authentication".
#[derive(Clone, Default)]
pub struct TokenStore {
    entries: Vec<([u8; 32], Identity)>,
}

impl fmt::Debug for TokenStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenStore")
            .field(
                "actors",
                &self
                    .entries
                    .iter()
                    .map(|(_, i)| &i.actor)
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn acceptable(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    token.len() >= MIN_TOKEN_LEN
        && !body.is_empty()
        && body.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}

impl TokenStore {
    /// No tokens.
    pub fn new() -> Self {
        TokenStore::default()
    }

    /// Parses a tokens file's text.
    pub fn from_json(text: &str) -> Result<Self, TokenError> {
        let map: BTreeMap<String, Identity> =
            serde_json::from_str(text).map_err(|e| TokenError::Format(e.to_string()))?;
        let mut store = TokenStore::new();
        for (token, identity) in map {
            store.insert(&token, identity)?;
        }
        Ok(store)
    }

    /// Reads and parses a tokens file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, TokenError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| TokenError::Read {
            path: path.display().to_string(),
            source,
        })?;
        TokenStore::from_json(&text)
    }

    /// Adds a token for `identity`.
    pub fn insert(&mut self, token: &str, identity: Identity) -> Result<(), TokenError> {
        let index = self.entries.len() + 1;
        if !acceptable(token) {
            return Err(TokenError::BadToken { index });
        }
        if identity.actor.trim().is_empty() {
            return Err(TokenError::EmptyActor { index });
        }
        for name in &identity.roles {
            match serde_json::from_value::<Role>(serde_json::Value::String(name.clone())) {
                Ok(Role::System) => return Err(TokenError::SystemRole { index }),
                Ok(_) => {}
                Err(_) => {
                    return Err(TokenError::UnknownRole {
                        index,
                        role: name.clone(),
                        known: Role::ALL
                            .iter()
                            .filter(|r| **r != Role::System)
                            .map(|r| r.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                    });
                }
            }
        }
        if self.authenticate(token).is_some() {
            return Err(TokenError::Duplicate { index });
        }
        self.entries.push((digest(token), identity));
        Ok(())
    }

    /// Whether no token is configured.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The number of tokens.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The identity `presented` stands for. Compares its digest with every configured digest
    /// without branching on the bytes, and looks at all of them whatever matches.
    pub fn authenticate(&self, presented: &str) -> Option<&Identity> {
        let presented = digest(presented);
        let mut found = 0u64; // 1-based index of the match, 0 for none
        for (i, (stored, _)) in self.entries.iter().enumerate() {
            let hit = stored.ct_eq(&presented);
            found = u64::conditional_select(&found, &(i as u64 + 1), hit);
        }
        let index = usize::try_from(found).ok()?.checked_sub(1)?;
        self.entries.get(index).map(|(_, identity)| identity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbb-_.~+/==";

    #[test]
    fn parses_and_authenticates() {
        let store = TokenStore::from_json(&format!(
            r#"{{"{A}": {{"actor": "alice", "roles": ["agent"]}}, "{B}": {{"actor": "bob"}}}}"#
        ))
        .unwrap();
        assert_eq!(store.len(), 2);
        assert_eq!(
            store.authenticate(A),
            Some(&Identity::new("alice", ["agent"]))
        );
        assert_eq!(store.authenticate(B).map(|i| i.actor.as_str()), Some("bob"));
        assert_eq!(store.authenticate("aaaaaaaaaaaaaaaaaaab"), None);
        assert_eq!(store.authenticate(""), None);
        assert!(!format!("{store:?}").contains(A));
    }

    #[test]
    fn refuses_weak_or_malformed_tokens() {
        for bad in [
            r#"{"short": {"actor": "a"}}"#,
            r#"{"has space in it, long enough": {"actor": "a"}}"#,
            r#"{"================": {"actor": "a"}}"#,
        ] {
            assert!(
                matches!(TokenStore::from_json(bad), Err(TokenError::BadToken { .. })),
                "{bad}"
            );
        }
        assert!(matches!(
            TokenStore::from_json(&format!(r#"{{"{A}": {{"actor": " "}}}}"#)),
            Err(TokenError::EmptyActor { .. })
        ));
        assert!(matches!(
            TokenStore::from_json(&format!(r#"{{"{A}": {{"actor": "a", "role": []}}}}"#)),
            Err(TokenError::Format(_))
        ));
        assert!(matches!(
            TokenStore::from_json("[]"),
            Err(TokenError::Format(_))
        ));
        let mut s = TokenStore::new();
        s.insert(A, Identity::new("a", [""; 0])).unwrap();
        assert!(matches!(
            s.insert(A, Identity::new("b", [""; 0])),
            Err(TokenError::Duplicate { index: 2 })
        ));
    }

    #[test]
    fn refuses_unknown_roles_and_the_system_role_when_loaded() {
        let unknown = TokenStore::from_json(&format!(
            r#"{{"{A}": {{"actor": "alice", "roles": ["agent", "service_desk"]}}}}"#
        ))
        .unwrap_err();
        assert!(
            matches!(&unknown, TokenError::UnknownRole { index: 1, role, .. } if role == "service_desk"),
            "{unknown:?}"
        );
        let message = unknown.to_string();
        assert!(
            message.contains("cab_member") && !message.contains("system"),
            "{message}"
        );
        assert!(!message.contains(A), "{message}");
        assert!(matches!(
            TokenStore::from_json(&format!(
                r#"{{"{A}": {{"actor": "cron", "roles": ["system"]}}}}"#
            )),
            Err(TokenError::SystemRole { index: 1 })
        ));
        // Every role a person may hold is accepted.
        let all: Vec<&str> = Role::ALL
            .iter()
            .filter(|r| **r != Role::System)
            .map(|r| r.as_str())
            .collect();
        let mut s = TokenStore::new();
        s.insert(A, Identity::new("a", all)).unwrap();
    }
}
