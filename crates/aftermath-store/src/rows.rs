//! Row encoding shared by the SQL stores: projection state as canonical JSON text, and
//! tokens from their stored columns.

use std::collections::BTreeSet;

use aftermath_core::Timestamp;
use uuid::Uuid;

use crate::tokens::{hash_secret, new_secret};
use crate::{Scope, StoreError, TokenInfo};

pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    what: &str,
    json: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(json).map_err(|error| StoreError::Corrupt {
        what: what.to_owned(),
        message: error.to_string(),
    })
}

pub(crate) fn encode<T: serde::Serialize>(value: &T) -> String {
    // Projection types hold only maps, strings and numbers: serialization cannot fail.
    serde_json::to_string(value).expect("projection rows serialize")
}

/// The stored columns of a token row.
pub(crate) struct TokenColumns {
    pub id: String,
    pub name: String,
    pub scopes: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
    pub signing_secret: Option<String>,
}

impl TokenColumns {
    pub(crate) fn into_token(self) -> Result<TokenInfo, StoreError> {
        let corrupt = |message: String| StoreError::Corrupt {
            what: format!("token {}", self.id),
            message,
        };
        Ok(TokenInfo {
            id: Uuid::try_parse(&self.id).map_err(|error| corrupt(error.to_string()))?,
            scopes: Scope::parse_list(&self.scopes).map_err(|error| corrupt(error.to_string()))?,
            name: self.name,
            created_at: self.created_at,
            revoked_at: self.revoked_at,
            signing_secret: self.signing_secret,
        })
    }
}

/// A token about to be stored: checked name and scopes, a fresh secret and its hash.
pub(crate) struct NewToken {
    pub info: TokenInfo,
    pub secret: String,
    pub hash: String,
}

impl NewToken {
    pub(crate) fn prepare(
        name: &str,
        scopes: &BTreeSet<Scope>,
        created_at: Timestamp,
        signing_secret: Option<&str>,
    ) -> Result<Self, StoreError> {
        if signing_secret.is_some_and(|secret| secret.len() < 16) {
            return Err(StoreError::InvalidToken(
                "a signing secret must be at least 16 characters".into(),
            ));
        }
        let name = name.trim();
        if name.is_empty() || name.len() > 100 {
            return Err(StoreError::InvalidToken(
                "a token name must be 1 to 100 characters".into(),
            ));
        }
        if scopes.is_empty() {
            return Err(StoreError::InvalidToken(
                "a token needs at least one scope (ingest, respond, read, manage, admin)".into(),
            ));
        }
        let secret = new_secret()
            .map_err(|error| StoreError::InvalidToken(format!("no randomness: {error}")))?;
        Ok(Self {
            info: TokenInfo {
                id: Uuid::new_v4(),
                name: name.to_owned(),
                scopes: scopes.clone(),
                created_at: created_at.to_string(),
                revoked_at: None,
                signing_secret: signing_secret.map(str::to_owned),
            },
            hash: hash_secret(&secret),
            secret,
        })
    }

    pub(crate) fn name_taken(&self) -> StoreError {
        StoreError::InvalidToken(format!(
            "a token named {:?} already exists; revoke it first or pick another name",
            self.info.name
        ))
    }
}
