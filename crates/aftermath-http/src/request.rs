//! Reading requests: bodies with size limits, JSON with the failing field named, path ids
//! and the `Idempotency-Key` header, all turned into [`ApiError`]s.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::{ApiError, MAX_BODY_BYTES};

/// The body's bytes, or 413 / 400 as JSON.
pub(crate) fn body_bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("request body exceeds {MAX_BODY_BYTES} bytes"),
            )
        } else {
            ApiError::bad_request("unreadable_body", rejection.body_text())
        }
    })
}

/// Parses a JSON body, naming the field at fault. An empty body reads as `{}`.
pub(crate) fn json_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    Ok(aftermath_core::parse_json(bytes)?)
}

/// An incident id from the path. Anything that is not a UUID cannot name an incident.
pub(crate) fn incident_id(text: &str) -> Result<Uuid, ApiError> {
    Uuid::try_parse(text).map_err(|_| ApiError::unknown_incident(text))
}

/// The `Idempotency-Key` header: 1 to 255 visible ASCII characters, when present.
pub(crate) fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let invalid = || {
        ApiError::bad_request(
            "invalid_idempotency_key",
            "Idempotency-Key must be 1 to 255 visible ASCII characters",
        )
    };
    let key = value.to_str().map_err(|_| invalid())?;
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid());
    }
    Ok(Some(key.to_owned()))
}

/// A required, non-blank text field of at most `max` bytes.
pub(crate) fn text_field(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.trim().is_empty() {
        return Err(ApiError::bad_request(
            "invalid_body",
            format!("{field}: must not be blank"),
        ));
    }
    if value.len() > max {
        return Err(ApiError::bad_request(
            "invalid_body",
            format!("{field}: longer than {max} bytes"),
        ));
    }
    Ok(())
}

/// Whether `signature` is the HMAC-SHA256 of `parts` (concatenated) under `secret`,
/// compared in constant time: how signing senders (Grafana, GitHub) prove a request.
pub(crate) fn hmac_sha256_verifies(secret: &str, parts: &[&[u8]], signature: &[u8]) -> bool {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
        .expect("HMAC accepts keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac.verify_slice(signature).is_ok()
}
