//! `POST /v1/ingest/github`: GitHub's webhook for GitHub Actions (`workflow_run` and
//! `workflow_job` events), authenticated by an ingest token and, when the token has a
//! signing secret, by GitHub's `X-Hub-Signature-256`.
//!
//! GitHub cannot send a bearer token, so the token travels another way:
//!
//! - `Authorization: Bearer <token>` when the header is present (curl, tests, a proxy that
//!   adds it); it then decides alone;
//! - otherwise the token's secret in the payload URL, `…/v1/ingest/github?token=<secret>`.
//!   Tokens are stored as hashes and looked up by their secret, so the URL carries the
//!   secret itself: a token's name or id would let anyone who learns it send alerts;
//! - when the token has a signing secret, every delivery must carry
//!   `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>` made with it (compared
//!   in constant time); a missing or wrong signature is a 401 and nothing is recorded. The
//!   URL shows in the webhook's settings and in proxies' logs; the signature means that URL
//!   alone is not enough to send alerts. A token without a signing secret takes unsigned
//!   deliveries, and then does not check a signature that comes along.
//!
//! Setup: `aftermath token create --name github --scopes ingest --signing-secret <secret>`;
//! in the repository's (or organisation's) webhook settings: payload URL
//! `https://<aftermath>/v1/ingest/github?token=<token>`, content type `application/json`,
//! secret `<secret>`, events "Workflow runs" and "Workflow jobs".
//!
//! Answers: `ping` 200; a delivery that records something 202 with what was appended; other
//! events and actions 202 `{"status": "ignored", "reason": …}` with nothing appended; a
//! malformed body 400 naming the field; a form-encoded body 415.

use aftermath_core::{normalize_github, GithubDelivery};
use aftermath_store::Scope;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::{accepted, append};
use crate::auth::Caller;
use crate::error::ErrorBody;
use crate::request::{body_bytes, hmac_sha256_verifies};
use crate::telemetry::IngestIgnored;
use crate::{now, ApiError, AppState, InternalEvent};

pub(super) const SOURCE: &str = "github";
const EVENT_HEADER: &str = "x-github-event";
const DELIVERY_HEADER: &str = "x-github-delivery";
const SIGNATURE_HEADER: &str = "x-hub-signature-256";

#[derive(Deserialize)]
pub(crate) struct WebhookQuery {
    /// The ingest token's secret, for senders that cannot set `Authorization`.
    token: Option<String>,
}

/// `POST /v1/ingest/github`
#[utoipa::path(post, path = "/v1/ingest/github", tag = "ingest",
    security(("bearer" = ["ingest"])),
    params(
        ("token" = Option<String>, Query, description = "The ingest token, when the sender cannot send a Bearer header (GitHub's payload URL)"),
        ("X-GitHub-Event" = String, Header, description = "`workflow_run`, `workflow_job` or `ping`; others are ignored"),
        ("X-Hub-Signature-256" = Option<String>, Header, description = "`sha256=<hex HMAC>` of the body; required when the token has a signing secret"),
    ),
    request_body(content = Object, description = "A GitHub webhook delivery (JSON content type)"),
    responses(
        (status = 200, description = "A ping", body = Object),
        (status = 202, description = "On the log, or ignored (`status`: `ignored`, with the reason)", body = Object),
        (status = 400, description = "Malformed delivery; `detail` names what is wrong", body = ErrorBody),
        (status = 401, description = "No valid token, or a bad or missing signature", body = ErrorBody),
        (status = 403, description = "Token lacks `ingest`", body = ErrorBody),
        (status = 415, description = "Not JSON: switch the webhook's content type to application/json", body = ErrorBody),
        (status = 503, description = "The log is unavailable; retry", body = ErrorBody),
    ))]
#[tracing::instrument(
    skip_all,
    fields(caller = tracing::field::Empty, event = tracing::field::Empty, delivery = tracing::field::Empty)
)]
pub(crate) async fn github(
    State(state): State<AppState>,
    bearer: Result<Caller, ApiError>,
    query: Result<Query<WebhookQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let caller = authenticate(&state, &headers, bearer, query).await?;
    let span = tracing::Span::current();
    span.record("caller", caller.0.name.as_str());
    caller.require(Scope::Ingest)?;
    let body = body_bytes(body)?;
    // Before parsing: an unsigned body is not looked at, let alone reported on.
    if let Some(secret) = caller.0.signing_secret.as_deref() {
        if let Err(error) = verify_signature(secret, &headers, &body) {
            tracing::warn!(detail = %error.detail, "GitHub signature refused");
            return Err(error);
        }
    }
    refuse_form_encoding(&headers)?;
    let event = header_text(&headers, EVENT_HEADER)?
        .filter(|event| !event.is_empty())
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_request",
                "missing X-GitHub-Event header: GitHub sends it with every delivery; name the \
                 event (workflow_run, workflow_job or ping)",
            )
        })?;
    span.record("event", event);
    if let Some(delivery) = header_text(&headers, DELIVERY_HEADER)? {
        span.record("delivery", delivery);
    }

    match normalize_github(event, &body, now())? {
        GithubDelivery::Ping => {
            IngestIgnored {
                source: SOURCE,
                event,
                reason: "ping",
            }
            .emit(&state.telemetry);
            Ok((
                StatusCode::OK,
                Json(serde_json::json!({"status": "pong", "event": event})),
            )
                .into_response())
        }
        GithubDelivery::Ignored(reason) => {
            IngestIgnored {
                source: SOURCE,
                event,
                reason: &reason,
            }
            .emit(&state.telemetry);
            Ok((
                StatusCode::ACCEPTED,
                Json(serde_json::json!({"status": "ignored", "event": event, "reason": reason})),
            )
                .into_response())
        }
        GithubDelivery::Facts(facts) => {
            Ok(accepted(append(&state, SOURCE, facts).await?).into_response())
        }
    }
}

/// The caller: the bearer token when an `Authorization` header is present, else the token
/// whose secret is the `token` query parameter.
async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    bearer: Result<Caller, ApiError>,
    query: Result<Query<WebhookQuery>, QueryRejection>,
) -> Result<Caller, ApiError> {
    if headers.contains_key(header::AUTHORIZATION) {
        return bearer;
    }
    let Query(query) =
        query.map_err(|rejection| ApiError::bad_request("invalid_query", rejection.body_text()))?;
    let secret = query
        .token
        .as_deref()
        .map(str::trim)
        .filter(|secret| !secret.is_empty())
        .ok_or_else(|| {
            unauthorized(
                "missing token: put the ingest token in the webhook's payload URL \
                 (/v1/ingest/github?token=<token>), or send Authorization: Bearer <token>",
            )
        })?;
    match state.store.authenticate(secret).await {
        Ok(Some(token)) => {
            state
                .rate_limit
                .take(token.id, std::time::Instant::now())
                .map_err(|wait| state.rate_limit.refusal("/v1/ingest/github", wait))?;
            Ok(Caller(token))
        }
        Ok(None) => Err(unauthorized("unknown or revoked token in ?token=")),
        Err(error) => Err(ApiError::internal("token lookup", error)),
    }
}

/// Checks GitHub's `X-Hub-Signature-256`: `sha256=` and the hex HMAC-SHA256 of the raw body
/// with the token's signing secret. Errors say what failed, never the secret or the MAC.
fn verify_signature(secret: &str, headers: &HeaderMap, body: &[u8]) -> Result<(), ApiError> {
    let signature = header_text(headers, SIGNATURE_HEADER)
        .map_err(|_| unauthorized("X-Hub-Signature-256 is not visible ASCII"))?
        .ok_or_else(|| {
            unauthorized(
                "missing X-Hub-Signature-256 header: this token has a signing secret, so \
                 deliveries must be signed (set the same secret as the webhook's Secret)",
            )
        })?;
    let signature = signature
        .trim()
        .strip_prefix("sha256=")
        .and_then(|digits| hex::decode(digits).ok())
        .ok_or_else(|| {
            unauthorized("X-Hub-Signature-256 must be sha256=<hex HMAC-SHA256 of the body>")
        })?;
    if hmac_sha256_verifies(secret, &[body], &signature) {
        Ok(())
    } else {
        Err(unauthorized(
            "X-Hub-Signature-256 does not match: expected the HMAC-SHA256 of the raw body with \
             the token's signing secret (the webhook's Secret)",
        ))
    }
}

/// GitHub's default content type wraps the JSON in a form field; say how to fix the hook
/// rather than report the body as malformed JSON.
fn refuse_form_encoding(headers: &HeaderMap) -> Result<(), ApiError> {
    let form_encoded = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value
                .trim()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    if form_encoded {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "form-encoded webhook body: set the GitHub webhook's content type to application/json",
        ));
    }
    Ok(())
}

/// A header's value as text, when present.
fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, ApiError> {
    headers
        .get(name)
        .map(|value| {
            value.to_str().map(str::trim).map_err(|_| {
                ApiError::bad_request(
                    "invalid_request",
                    format!("header {name} is not visible ASCII"),
                )
            })
        })
        .transpose()
}

fn unauthorized(detail: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;
    use hmac::{Hmac, Mac};
    use sha2::Sha256;

    use super::*;

    const SECRET: &str = "github-webhook-secret";
    const BODY: &[u8] = br#"{"action":"completed"}"#;

    fn sign(secret: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }

    fn signed(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(SIGNATURE_HEADER, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn a_signature_made_with_the_secret_over_the_body_verifies() {
        assert!(verify_signature(SECRET, &signed(&sign(SECRET, BODY)), BODY).is_ok());
    }

    /// GitHub's documented test vector for validating webhook deliveries.
    #[test]
    fn githubs_documented_example_verifies() {
        let expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert!(verify_signature(
            "It's a Secret to Everybody",
            &signed(expected),
            b"Hello, World!"
        )
        .is_ok());
    }

    #[test]
    fn a_wrong_missing_or_malformed_signature_is_refused() {
        let cases = [
            (
                signed(&sign("another-secret-value", BODY)),
                "does not match",
            ),
            (signed(&sign(SECRET, b"{}")), "does not match"),
            (HeaderMap::new(), "missing X-Hub-Signature-256"),
            (
                signed(&sign(SECRET, BODY).replace("sha256=", "sha1=")),
                "sha256=<hex",
            ),
            (signed("sha256=zz"), "sha256=<hex"),
            (signed("sha256="), "does not match"),
        ];
        for (headers, needle) in cases {
            let error = verify_signature(SECRET, &headers, BODY).unwrap_err();
            assert_eq!(error.status, StatusCode::UNAUTHORIZED);
            assert!(
                error.detail.contains(needle),
                "{} lacks {needle}",
                error.detail
            );
        }
    }

    #[test]
    fn form_encoded_bodies_are_refused_with_the_fix() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        let error = refuse_form_encoding(&headers).unwrap_err();
        assert_eq!(error.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(error.detail.contains("application/json"));
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        assert!(refuse_form_encoding(&headers).is_ok());
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        proptest! {
            /// GitHub's signature verifies for any body, and one flipped bit of the MAC or
            /// of the body, or another secret, is refused with a reason without the secret.
            #[test]
            fn only_the_exact_signature_verifies(
                body in prop::collection::vec(any::<u8>(), 1..256),
                bit in 0usize..256,
                byte in any::<prop::sample::Index>(),
                other_secret in "[a-z]{1,40}",
            ) {
                let good = sign(SECRET, &body);
                prop_assert!(verify_signature(SECRET, &signed(&good), &body).is_ok());

                let mut mac = hex::decode(good.trim_start_matches("sha256=")).unwrap();
                mac[bit / 8] ^= 1 << (bit % 8);
                let flipped = format!("sha256={}", hex::encode(mac));
                let error = verify_signature(SECRET, &signed(&flipped), &body).unwrap_err();
                prop_assert_eq!(error.status, StatusCode::UNAUTHORIZED);
                prop_assert!(!error.detail.contains(SECRET));

                let mut changed = body.clone();
                let at_byte = byte.index(changed.len());
                changed[at_byte] ^= 0x01;
                prop_assert!(verify_signature(SECRET, &signed(&good), &changed).is_err());

                prop_assume!(other_secret != SECRET);
                prop_assert!(verify_signature(&other_secret, &signed(&good), &body).is_err());
            }

            /// Arbitrary header values are refused with 401, never a panic.
            #[test]
            fn arbitrary_header_values_are_refused(value in "[ -~]{0,120}") {
                let result = verify_signature(SECRET, &signed(&value), BODY);
                if let Err(error) = result {
                    prop_assert_eq!(error.status, StatusCode::UNAUTHORIZED);
                } else {
                    prop_assert_eq!(value.trim(), sign(SECRET, BODY));
                }
            }
        }
    }
}
