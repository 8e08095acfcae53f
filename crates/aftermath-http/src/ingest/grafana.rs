//! `POST|PUT /v1/ingest/grafana`: Grafana unified alerting's webhook contact point
//! (payload version "1"), with Grafana's optional HMAC signature checked when the ingest
//! token has a signing secret.
//!
//! Grafana's contact point setup: URL `https://<aftermath>/v1/ingest/grafana`, HTTP method
//! POST or PUT, "Authorization Header Credentials" = the ingest token (scheme `Bearer`).
//! For signed requests, create the token with `--signing-secret` and set the same secret
//! in the contact point's "HMAC Signature" settings; leave its header at Grafana's default
//! `X-Grafana-Alerting-Signature`, and set "Timestamp Header" to
//! `X-Grafana-Alerting-Signature-Timestamp` for replay protection.

use aftermath_core::{normalize_grafana, Timestamp};
use aftermath_store::Scope;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;

use super::{accepted, append, IngestAccepted};
use crate::auth::Caller;
use crate::error::ErrorBody;
use crate::request::{body_bytes, hmac_sha256_verifies};
use crate::{now, ApiError, AppState};

/// Where the hex HMAC-SHA256 is read from, first match wins. The first is the default
/// documented by Grafana; the second is the default of some `grafana/alerting` releases.
/// Accepting both costs nothing: either way the MAC must verify.
const SIGNATURE_HEADERS: [&str; 2] = ["x-grafana-alerting-signature", "x-grafana-alert-signature"];
/// Grafana has no default timestamp header (the user names it); these are the names
/// Aftermath documents and the one Grafana's own provisioning examples use.
const TIMESTAMP_HEADERS: [&str; 2] = [
    "x-grafana-alerting-signature-timestamp",
    "x-grafana-alerting-timestamp",
];
/// A signed timestamp further than this from the server clock, either way, is refused: an
/// older one may be a replay, a newer one a forged clock.
const MAX_TIMESTAMP_SKEW_SECONDS: i64 = 5 * 60;

/// `POST` or `PUT /v1/ingest/grafana`
#[utoipa::path(method(post, put), path = "/v1/ingest/grafana", tag = "ingest",
    security(("bearer" = ["ingest"])),
    request_body(content = Object, description = "Grafana's webhook contact point body, version \"1\"; signed (X-Grafana-Alerting-Signature) when the token has a signing secret"),
    responses(
        (status = 202, description = "On the log", body = IngestAccepted),
        (status = 400, description = "Malformed body; `detail` names the field", body = ErrorBody),
        (status = 401, description = "No valid token, or a bad or stale signature", body = ErrorBody),
        (status = 403, description = "Token lacks `ingest`", body = ErrorBody),
        (status = 413, description = "Body over the size limit", body = ErrorBody),
        (status = 503, description = "The log is unavailable; retry", body = ErrorBody)
    ))]
#[tracing::instrument(skip_all, fields(caller = %caller.0.name))]
pub(crate) async fn grafana(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<IngestAccepted>), ApiError> {
    caller.require(Scope::Ingest)?;
    let body = body_bytes(body)?;
    // Before parsing: an unsigned body is not looked at, let alone reported on.
    if let Some(secret) = caller.0.signing_secret.as_deref() {
        if let Err(error) = verify_signature(secret, &headers, &body, now()) {
            tracing::warn!(detail = %error.detail, "Grafana signature refused");
            return Err(error);
        }
    }
    let facts = normalize_grafana(&body, now())?;
    Ok(accepted(append(&state, "grafana", facts).await?))
}

/// Checks Grafana's HMAC: hex HMAC-SHA256 with the shared secret over the body, or over
/// `timestamp + ":" + body` when a timestamp header is present (then it must also be within
/// [`MAX_TIMESTAMP_SKEW_SECONDS`] of `now`). Errors say what failed, never the secret or
/// the expected MAC.
fn verify_signature(
    secret: &str,
    headers: &HeaderMap,
    body: &[u8],
    now: Timestamp,
) -> Result<(), ApiError> {
    let Some(signature) = first_header(headers, &SIGNATURE_HEADERS)? else {
        return Err(unauthorized(
            "missing X-Grafana-Alerting-Signature header: this token has a signing secret, so \
             requests must carry Grafana's HMAC-SHA256 signature (set the secret in the contact \
             point's HMAC Signature settings)",
        ));
    };
    let signature = hex::decode(signature.trim()).map_err(|_| {
        unauthorized("X-Grafana-Alerting-Signature must be the hex-encoded HMAC-SHA256")
    })?;
    let timestamp = first_header(headers, &TIMESTAMP_HEADERS)?;

    let signed: Vec<&[u8]> = match timestamp {
        Some(timestamp) => vec![timestamp.as_bytes(), b":", body],
        None => vec![body],
    };
    if !hmac_sha256_verifies(secret, &signed, &signature) {
        return Err(unauthorized(if timestamp.is_some() {
            "X-Grafana-Alerting-Signature does not match: expected the HMAC-SHA256, with the \
             token's signing secret, of the timestamp header, \":\" and the body"
        } else {
            "X-Grafana-Alerting-Signature does not match: expected the HMAC-SHA256, with the \
             token's signing secret, of the body"
        }));
    }

    if let Some(timestamp) = timestamp {
        let sent: i64 = timestamp.trim().parse().map_err(|_| {
            unauthorized(format!(
                "X-Grafana-Alerting-Signature-Timestamp {timestamp:?} is not a Unix time in seconds"
            ))
        })?;
        let skew = now.datetime().unix_timestamp().saturating_sub(sent);
        if skew.unsigned_abs() > MAX_TIMESTAMP_SKEW_SECONDS.unsigned_abs() {
            let direction = if skew > 0 { "old" } else { "in the future" };
            return Err(unauthorized(format!(
                "X-Grafana-Alerting-Signature-Timestamp is {} seconds {direction}; at most \
                 {MAX_TIMESTAMP_SKEW_SECONDS} seconds either way of the server clock are \
                 accepted (a replayed request, or a clock to fix)",
                skew.unsigned_abs()
            )));
        }
    }
    Ok(())
}

/// The first of `names` present, as text.
fn first_header<'a>(headers: &'a HeaderMap, names: &[&str]) -> Result<Option<&'a str>, ApiError> {
    let Some((name, value)) = names
        .iter()
        .find_map(|name| headers.get(*name).map(|value| (name, value)))
    else {
        return Ok(None);
    };
    value
        .to_str()
        .map(Some)
        .map_err(|_| unauthorized(format!("header {name} is not visible ASCII")))
}

fn unauthorized(detail: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;
    use hmac::{Hmac, Mac};
    use sha2::Sha256;

    use super::*;

    const SECRET: &str = "grafana-shared-secret";
    const BODY: &[u8] = br#"{"version":"1"}"#;

    fn sign(secret: &str, message: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(message);
        hex::encode(mac.finalize().into_bytes())
    }

    fn headers(pairs: &[(&'static str, String)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_unix_seconds(seconds).unwrap()
    }

    fn refusal(result: Result<(), ApiError>) -> String {
        let error = result.expect_err("should be refused");
        assert_eq!(error.status, StatusCode::UNAUTHORIZED);
        assert!(!error.detail.contains(SECRET), "{}", error.detail);
        error.detail
    }

    #[test]
    fn a_signature_over_the_body_alone_is_accepted() {
        let signed = headers(&[("x-grafana-alerting-signature", sign(SECRET, BODY))]);
        verify_signature(SECRET, &signed, BODY, at(1_000)).unwrap();
        // Upper-case hex and the alternative header name are the same signature.
        let upper = headers(&[(
            "x-grafana-alert-signature",
            sign(SECRET, BODY).to_uppercase(),
        )]);
        verify_signature(SECRET, &upper, BODY, at(1_000)).unwrap();
    }

    #[test]
    fn a_timestamped_signature_is_accepted_within_five_minutes_either_way() {
        for (sent, now) in [(1_000, 1_000), (1_000, 1_300), (1_300, 1_000)] {
            let message = format!("{sent}:{}", std::str::from_utf8(BODY).unwrap());
            let signed = headers(&[
                (
                    "x-grafana-alerting-signature",
                    sign(SECRET, message.as_bytes()),
                ),
                ("x-grafana-alerting-signature-timestamp", sent.to_string()),
            ]);
            verify_signature(SECRET, &signed, BODY, at(now)).unwrap();
        }
    }

    #[test]
    fn each_failure_is_refused_and_named() {
        let expected = sign(SECRET, BODY);
        let missing = refusal(verify_signature(SECRET, &HeaderMap::new(), BODY, at(1_000)));
        assert!(missing.contains("missing"), "{missing}");

        let wrong_secret =
            headers(&[("x-grafana-alerting-signature", sign("another-secret", BODY))]);
        let mismatch = refusal(verify_signature(SECRET, &wrong_secret, BODY, at(1_000)));
        assert!(mismatch.contains("does not match"), "{mismatch}");
        assert!(!mismatch.contains(&expected), "{mismatch}");

        let tampered = headers(&[("x-grafana-alerting-signature", expected.clone())]);
        let detail = refusal(verify_signature(
            SECRET,
            &tampered,
            br#"{"version":"2"}"#,
            at(1_000),
        ));
        assert!(detail.contains("does not match"), "{detail}");

        let not_hex = headers(&[("x-grafana-alerting-signature", "sha256=zz".to_owned())]);
        let detail = refusal(verify_signature(SECRET, &not_hex, BODY, at(1_000)));
        assert!(detail.contains("hex"), "{detail}");

        for (sent, now, word) in [(1_000, 1_301, "old"), (1_301, 1_000, "future")] {
            let message = format!("{sent}:{}", std::str::from_utf8(BODY).unwrap());
            let stale = headers(&[
                (
                    "x-grafana-alerting-signature",
                    sign(SECRET, message.as_bytes()),
                ),
                ("x-grafana-alerting-signature-timestamp", sent.to_string()),
            ]);
            let detail = refusal(verify_signature(SECRET, &stale, BODY, at(now)));
            assert!(detail.contains(word), "{detail}");
        }

        // A timestamp added to a body-only signature changes the signed message.
        let added = headers(&[
            ("x-grafana-alerting-signature", expected),
            ("x-grafana-alerting-signature-timestamp", "1000".to_owned()),
        ]);
        let detail = refusal(verify_signature(SECRET, &added, BODY, at(1_000)));
        assert!(detail.contains("does not match"), "{detail}");

        let message = format!("soon:{}", std::str::from_utf8(BODY).unwrap());
        let unparsable = headers(&[
            (
                "x-grafana-alerting-signature",
                sign(SECRET, message.as_bytes()),
            ),
            ("x-grafana-alerting-signature-timestamp", "soon".to_owned()),
        ]);
        let detail = refusal(verify_signature(SECRET, &unparsable, BODY, at(1_000)));
        assert!(detail.contains("Unix time"), "{detail}");
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        proptest! {
            /// Any body signed with the secret over `timestamp:body` is accepted within the
            /// window, and refused outside it, with a reason that never holds the secret.
            #[test]
            fn the_timestamp_window_is_five_minutes_either_way(
                body in prop::collection::vec(any::<u8>(), 0..256),
                skew in -900i64..900,
            ) {
                let sent = 1_800_000_000i64;
                let mut message = format!("{sent}:").into_bytes();
                message.extend_from_slice(&body);
                let signed = headers(&[
                    ("x-grafana-alerting-signature", sign(SECRET, &message)),
                    ("x-grafana-alerting-signature-timestamp", sent.to_string()),
                ]);
                let result = verify_signature(SECRET, &signed, &body, at(sent + skew));
                if skew.abs() <= MAX_TIMESTAMP_SKEW_SECONDS {
                    prop_assert!(result.is_ok());
                } else {
                    let detail = refusal(result);
                    prop_assert!(detail.contains("seconds"), "{}", detail);
                }
            }

            /// Changing one bit of the signature, one byte of the body or the secret is
            /// always refused.
            #[test]
            fn any_change_is_refused(
                body in prop::collection::vec(any::<u8>(), 1..256),
                bit in 0usize..256,
                byte in any::<prop::sample::Index>(),
                other_secret in "[a-z]{1,40}",
            ) {
                let good = sign(SECRET, &body);
                let mut mac = hex::decode(&good).unwrap();
                mac[bit / 8] ^= 1 << (bit % 8);
                let flipped = headers(&[("x-grafana-alerting-signature", hex::encode(mac))]);
                refusal(verify_signature(SECRET, &flipped, &body, at(1_000)));

                let mut changed = body.clone();
                let at_byte = byte.index(changed.len());
                changed[at_byte] ^= 0x01;
                let signed = headers(&[("x-grafana-alerting-signature", good.clone())]);
                refusal(verify_signature(SECRET, &signed, &changed, at(1_000)));

                prop_assume!(other_secret != SECRET);
                refusal(verify_signature(&other_secret, &signed, &body, at(1_000)));
            }

            /// Whatever the headers hold, the check answers (never panics) and refuses
            /// what is not the right signature.
            #[test]
            fn arbitrary_header_values_are_refused_not_panicked_on(
                signature in "[ -~]{0,100}",
                timestamp in "[ -~]{0,30}",
            ) {
                let garbage = headers(&[
                    ("x-grafana-alerting-signature", signature),
                    ("x-grafana-alerting-signature-timestamp", timestamp),
                ]);
                refusal(verify_signature(SECRET, &garbage, BODY, at(1_000)));
            }
        }
    }
}
