//! Deterministic identifiers: every id the fold hands out is a UUIDv5 of the facts that
//! caused it, so a rebuild from offset 0 reproduces the same ids.

use uuid::Uuid;

/// Namespace of fact ids derived from content (alerts, notifications, idempotent requests).
const FACT_NAMESPACE: Uuid = Uuid::from_u128(0x6d1c_61f4_3b55_4c3e_9a8e_02f1_d7a0_5e11);
/// Namespace of outbound notification events.
const OUTBOUND_NAMESPACE: Uuid = Uuid::from_u128(0x3f0a_9c27_5be4_4d61_a1f8_6e2c_90d4_7b35);
/// Namespace of incident ids, derived from the fact that opened the incident.
const INCIDENT_NAMESPACE: Uuid = Uuid::from_u128(0x0b7e_2a44_95c1_4f0f_8e36_7c1d_4a90_b3c2);

/// The id of a fact whose identity is its content: re-sending the same content yields
/// the same id, which is how resent notifications are recognised.
pub(crate) fn content_fact_id(parts: &[&str]) -> Uuid {
    Uuid::new_v5(&FACT_NAMESPACE, parts.join("\n").as_bytes())
}

/// The id of an outbound notification event: what caused it and which kind it is, so
/// every attempt and every replay names the same event.
pub(crate) fn outbound_event_id(cause: Uuid, kind: &str) -> Uuid {
    Uuid::new_v5(&OUTBOUND_NAMESPACE, format!("{cause}\n{kind}").as_bytes())
}

/// The id of the incident opened by the fact `opening_fact_id`.
pub fn incident_id_for(opening_fact_id: Uuid) -> Uuid {
    Uuid::new_v5(&INCIDENT_NAMESPACE, opening_fact_id.as_bytes())
}

/// The fact id of a responder request carrying an `Idempotency-Key`: the same caller
/// repeating the same action with the same key gets the same fact id, so the log and the
/// fold both see the repeat as the fact they already hold.
pub fn responder_fact_id(caller: &str, incident_id: Uuid, action: &str, key: &str) -> Uuid {
    content_fact_id(&["responder", caller, &incident_id.to_string(), action, key])
}
