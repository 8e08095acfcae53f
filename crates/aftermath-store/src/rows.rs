//! Row encoding shared by the SQL stores: projection state as canonical JSON text, and
//! tokens from their stored columns.

use std::collections::BTreeSet;

use aftermath_core::{StreamState, Timestamp};
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

/// A stream row: the stream's state without its folded fact ids, which live in their own
/// insert-only table (`folded_facts`, see [`pack_ids`]) so that a commit writes only the
/// ids its batch folded, not every id the stream ever had.
pub(crate) fn encode_stream(stream: &StreamState) -> String {
    #[derive(serde::Serialize)]
    struct StreamRow<'a> {
        current_incident: &'a Option<Uuid>,
    }
    encode(&StreamRow {
        current_incident: &stream.current_incident,
    })
}

/// Fact ids as one `folded_facts` value: their 16 bytes each, back to back.
pub(crate) fn pack_ids(ids: &BTreeSet<Uuid>) -> Vec<u8> {
    ids.iter().flat_map(|id| *id.as_bytes()).collect()
}

/// Adds the ids of a `folded_facts` value (see [`pack_ids`]) to `into`.
pub(crate) fn unpack_ids(
    stream_key: &str,
    packed: &[u8],
    into: &mut BTreeSet<Uuid>,
) -> Result<(), StoreError> {
    if packed.len() % 16 != 0 {
        return Err(StoreError::Corrupt {
            what: format!("folded fact ids of stream {stream_key}"),
            message: format!("{} bytes is not a whole number of ids", packed.len()),
        });
    }
    into.extend(
        packed
            .chunks_exact(16)
            .map(|bytes| Uuid::from_slice(bytes).expect("16 bytes")),
    );
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_ids_round_trip_and_a_torn_value_is_corrupt() {
        let ids: BTreeSet<Uuid> = (1..=3).map(|n| Uuid::from_u128(n * 0x1234_5678)).collect();
        let packed = pack_ids(&ids);
        assert_eq!(packed.len(), 48);
        let mut unpacked = BTreeSet::from([Uuid::from_u128(7)]);
        unpack_ids("s", &packed, &mut unpacked).unwrap();
        assert_eq!(unpacked.len(), 4, "added to what was there");
        assert!(ids.is_subset(&unpacked));
        assert!(matches!(
            unpack_ids("s", &packed[..47], &mut unpacked),
            Err(StoreError::Corrupt { .. })
        ));
    }

    #[test]
    fn a_stream_row_leaves_its_ids_out_and_older_rows_listing_them_still_decode() {
        let stream = StreamState {
            current_incident: Some(Uuid::from_u128(1)),
            seen_facts: BTreeSet::from([Uuid::from_u128(2)]),
        };
        let row = encode_stream(&stream);
        assert_eq!(
            row,
            r#"{"current_incident":"00000000-0000-0000-0000-000000000001"}"#
        );
        let decoded: StreamState = decode("stream", &row).unwrap();
        assert_eq!(decoded.current_incident, stream.current_incident);
        assert!(decoded.seen_facts.is_empty());
        let legacy: StreamState = decode("stream", &encode(&stream)).unwrap();
        assert_eq!(legacy, stream);
    }
}
