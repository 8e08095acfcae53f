//! Row encoding shared by the SQL stores: projection state as canonical JSON text, and
//! tokens from their stored columns.

use std::collections::BTreeSet;

use aftermath_core::{Incident, StreamState, TimelineEntry, Timestamp};
use serde::ser::{SerializeStruct, Serializer};
use serde::Serialize;
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

/// An incident row: the incident's canonical JSON without its `timeline`, whose entries
/// live one per row in the insert-only `timeline_entries` table. The fold only appends to
/// a timeline, so a commit writes the entries its batch added instead of re-encoding and
/// rewriting every entry the incident ever had (a long incident's row had grown to
/// megabytes, rewritten on every batch that touched it).
pub(crate) fn encode_incident_row(incident: &Incident) -> String {
    let mut out = Vec::with_capacity(1024);
    let mut json = serde_json::Serializer::new(&mut out);
    incident
        .serialize(WithoutField {
            inner: &mut json,
            field: "timeline",
        })
        .expect("projection rows serialize");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// The stored form of one timeline entry.
pub(crate) fn encode_timeline_entry(entry: &TimelineEntry) -> String {
    encode(entry)
}

/// Decodes an incident's timeline from its entries' JSON joined with commas, in position
/// order (`None`: no entries), as one array: one parse instead of one per entry.
pub(crate) fn decode_joined_timeline(
    incident_id: &str,
    joined: Option<&str>,
) -> Result<Vec<TimelineEntry>, StoreError> {
    let Some(joined) = joined else {
        return Ok(Vec::new());
    };
    let mut array = String::with_capacity(joined.len() + 2);
    array.push('[');
    array.push_str(joined);
    array.push(']');
    decode(&format!("timeline of incident {incident_id}"), &array)
}

/// An incident row as the SQL stores select it: its state (see [`encode_incident_row`])
/// and its timeline entries joined with commas in position order (NULL: none).
pub(crate) type IncidentRow = (String, Option<String>);

/// An incident from its row and its joined timeline entries.
pub(crate) fn incident_from_row((state, timeline): &IncidentRow) -> Result<Incident, StoreError> {
    let mut incident: Incident = decode("incident", state)?;
    incident.timeline = decode_joined_timeline(&incident.id.to_string(), timeline.as_deref())?;
    Ok(incident)
}

pub(crate) fn incidents_from_rows(rows: &[IncidentRow]) -> Result<Vec<Incident>, StoreError> {
    rows.iter().map(incident_from_row).collect()
}

/// A serializer that writes what `inner` writes, except one field of the outermost
/// struct. Serializing through it costs nothing extra, unlike building a
/// `serde_json::Value` and removing the field, or cloning the value without it.
struct WithoutField<S> {
    inner: S,
    field: &'static str,
}

/// The outermost struct's fields, minus the skipped one.
struct SkipField<C> {
    inner: C,
    field: &'static str,
}

impl<C: SerializeStruct> SerializeStruct for SkipField<C> {
    type Ok = C::Ok;
    type Error = C::Error;

    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Self::Error> {
        if key == self.field {
            self.inner.skip_field(key)
        } else {
            self.inner.serialize_field(key, value)
        }
    }

    fn skip_field(&mut self, key: &'static str) -> Result<(), Self::Error> {
        self.inner.skip_field(key)
    }

    fn end(self) -> Result<Self::Ok, Self::Error> {
        self.inner.end()
    }
}

/// Forwards a serializer method to `inner` unchanged.
macro_rules! forward {
    ($($method:ident($($arg:ident: $type:ty),*) -> $ret:ty;)*) => {
        $(fn $method(self, $($arg: $type),*) -> Result<$ret, Self::Error> {
            self.inner.$method($($arg),*)
        })*
    };
}

impl<S: Serializer> Serializer for WithoutField<S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = S::SerializeSeq;
    type SerializeTuple = S::SerializeTuple;
    type SerializeTupleStruct = S::SerializeTupleStruct;
    type SerializeTupleVariant = S::SerializeTupleVariant;
    type SerializeMap = S::SerializeMap;
    type SerializeStruct = SkipField<S::SerializeStruct>;
    type SerializeStructVariant = S::SerializeStructVariant;

    forward! {
        serialize_bool(v: bool) -> S::Ok;
        serialize_i8(v: i8) -> S::Ok;
        serialize_i16(v: i16) -> S::Ok;
        serialize_i32(v: i32) -> S::Ok;
        serialize_i64(v: i64) -> S::Ok;
        serialize_i128(v: i128) -> S::Ok;
        serialize_u8(v: u8) -> S::Ok;
        serialize_u16(v: u16) -> S::Ok;
        serialize_u32(v: u32) -> S::Ok;
        serialize_u64(v: u64) -> S::Ok;
        serialize_u128(v: u128) -> S::Ok;
        serialize_f32(v: f32) -> S::Ok;
        serialize_f64(v: f64) -> S::Ok;
        serialize_char(v: char) -> S::Ok;
        serialize_str(v: &str) -> S::Ok;
        serialize_bytes(v: &[u8]) -> S::Ok;
        serialize_none() -> S::Ok;
        serialize_unit() -> S::Ok;
        serialize_unit_struct(name: &'static str) -> S::Ok;
        serialize_unit_variant(name: &'static str, index: u32, variant: &'static str) -> S::Ok;
        serialize_seq(len: Option<usize>) -> S::SerializeSeq;
        serialize_tuple(len: usize) -> S::SerializeTuple;
        serialize_tuple_struct(name: &'static str, len: usize) -> S::SerializeTupleStruct;
        serialize_tuple_variant(name: &'static str, index: u32, variant: &'static str, len: usize) -> S::SerializeTupleVariant;
        serialize_map(len: Option<usize>) -> S::SerializeMap;
        serialize_struct_variant(name: &'static str, index: u32, variant: &'static str, len: usize) -> S::SerializeStructVariant;
    }

    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result<S::Ok, S::Error> {
        self.inner.serialize_some(value)
    }

    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        self.inner.serialize_newtype_struct(name, value)
    }

    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        self.inner
            .serialize_newtype_variant(name, index, variant, value)
    }

    fn serialize_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStruct, S::Error> {
        Ok(SkipField {
            inner: self.inner.serialize_struct(name, len)?,
            field: self.field,
        })
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

    #[test]
    fn an_incident_row_leaves_only_its_timeline_out() {
        let at = Timestamp::from_unix_seconds(1_700_000_000).unwrap();
        let facts = aftermath_core::normalize_alertmanager(
            include_bytes!("../../../tests/fixtures/alertmanager/01-checkout-firing.json"),
            at,
        )
        .unwrap();
        let mut projection = aftermath_core::Projection::default();
        for fact in &facts {
            projection.apply(fact);
        }
        let incident = projection.incidents.values().next().unwrap().clone();
        assert!(!incident.timeline.is_empty());

        let row = encode_incident_row(&incident);
        let mut whole: serde_json::Value = serde_json::from_str(&encode(&incident)).unwrap();
        whole.as_object_mut().unwrap().remove("timeline");
        let row_value: serde_json::Value = serde_json::from_str(&row).unwrap();
        assert_eq!(row_value, whole, "every other field is written as before");
        assert!(!row.contains("\"timeline\""));

        let mut decoded: Incident = decode("incident", &row).unwrap();
        assert!(decoded.timeline.is_empty());
        let entries: Vec<String> = incident
            .timeline
            .iter()
            .map(encode_timeline_entry)
            .collect();
        decoded.timeline = decode_joined_timeline("i", Some(&entries.join(","))).unwrap();
        assert_eq!(decoded, incident);
        // Rows written before the split hold the timeline inline and still decode.
        let legacy: Incident = decode("incident", &encode(&incident)).unwrap();
        assert_eq!(legacy, incident);
        assert!(decode_joined_timeline("i", None).unwrap().is_empty());
        assert!(matches!(
            decode_joined_timeline("i", Some("{\"at\":")),
            Err(StoreError::Corrupt { .. })
        ));
    }
}
