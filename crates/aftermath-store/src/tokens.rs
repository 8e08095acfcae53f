//! API tokens: scopes, secret generation and hashing. Secrets are random 160-bit values,
//! so a plain SHA-256 is a sufficient hash; the clear text is shown once, at creation.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// What a token may do. Scopes do not imply each other.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Monitors sending alerts.
    Ingest,
    /// Responders acknowledging, annotating and resolving.
    Respond,
    /// Reading incidents, timelines and post-mortems.
    Read,
    /// Managers editing and publishing post-mortems.
    Manage,
    /// Managing tokens.
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 5] = [
        Scope::Ingest,
        Scope::Respond,
        Scope::Read,
        Scope::Manage,
        Scope::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Ingest => "ingest",
            Scope::Respond => "respond",
            Scope::Read => "read",
            Scope::Manage => "manage",
            Scope::Admin => "admin",
        }
    }

    /// Parses a comma-separated list such as `ingest,read`.
    pub fn parse_list(text: &str) -> Result<BTreeSet<Scope>, UnknownScope> {
        text.split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .map(Scope::from_str)
            .collect()
    }

    pub fn join(scopes: &BTreeSet<Scope>) -> String {
        scopes
            .iter()
            .map(|scope| scope.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown scope {0:?}; scopes are ingest, respond, read, manage, admin")]
pub struct UnknownScope(pub String);

impl FromStr for Scope {
    type Err = UnknownScope;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == text)
            .ok_or_else(|| UnknownScope(text.to_owned()))
    }
}

/// A token as the API sees it: who, and what they may do. Never the secret.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    pub id: Uuid,
    pub name: String,
    pub scopes: BTreeSet<Scope>,
    pub created_at: String,
    pub revoked_at: Option<String>,
    /// The shared secret a signing sender signs with; never serialized.
    #[serde(skip)]
    pub signing_secret: Option<String>,
}

/// By hand, so that a `Debug` print (a log field, a test failure) never shows the signing
/// secret: only whether there is one.
impl fmt::Debug for TokenInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenInfo")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("scopes", &self.scopes)
            .field("created_at", &self.created_at)
            .field("revoked_at", &self.revoked_at)
            .field(
                "signing_secret",
                &self.signing_secret.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl TokenInfo {
    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }
}

const SECRET_PREFIX: &str = "aftm_";

/// A fresh secret: `aftm_` and 40 hex digits from the operating system's generator.
pub(crate) fn new_secret() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 20];
    getrandom::fill(&mut bytes)?;
    Ok(format!("{SECRET_PREFIX}{}", hex::encode(bytes)))
}

pub(crate) fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_lists_parse_and_reject_unknown_names() {
        let scopes = Scope::parse_list("ingest, read").unwrap();
        assert_eq!(Scope::join(&scopes), "ingest,read");
        let error = Scope::parse_list("ingest,write").unwrap_err();
        assert!(error.to_string().contains("\"write\""));
    }

    #[test]
    fn secrets_are_unique_and_hashes_are_stable() {
        let a = new_secret().unwrap();
        let b = new_secret().unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("aftm_") && a.len() == 45);
        assert_eq!(hash_secret(&a), hash_secret(&a));
        assert_ne!(hash_secret(&a), hash_secret(&b));
    }

    #[test]
    fn debug_shows_that_there_is_a_signing_secret_but_not_the_secret() {
        let token = TokenInfo {
            id: Uuid::nil(),
            name: "github".to_owned(),
            scopes: Scope::parse_list("ingest").unwrap(),
            created_at: "2026-11-24T08:00:00Z".to_owned(),
            revoked_at: None,
            signing_secret: Some("hmac-s3cret".to_owned()),
        };
        let printed = format!("{token:?}");
        assert!(!printed.contains("hmac-s3cret"), "{printed}");
        assert!(
            printed.contains("signing_secret: Some(\"<redacted>\")"),
            "{printed}"
        );
        assert!(printed.contains("name: \"github\""), "{printed}");
    }
}
