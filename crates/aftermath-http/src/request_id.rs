//! One tracing span per request, named by a request id that the answer carries back in
//! `X-Request-Id`, so an operator can go from a client's error to the server's log lines.
//!
//! What is logged is chosen so that no secret can reach a log line: the method, the
//! matched route pattern (never the raw URI, whose query may hold a `?token=` and whose
//! path holds ids), the request id, and at the end the status and latency. Headers,
//! query strings and bodies are never logged here.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

/// The header a request id travels in, both ways.
pub(crate) const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Longest incoming request id kept; a longer one is replaced. Long enough for any
/// tracing system's ids (a W3C trace id is 32 hex digits, a UUID 36 characters).
pub(crate) const MAX_REQUEST_ID_LEN: usize = 128;

/// Route of a request no route matched: the raw path is not logged (a mistyped URL may
/// still carry a token), and one name keeps log queries simple.
const UNMATCHED_ROUTE: &str = "unmatched";

/// The incoming id when it is 1 to [`MAX_REQUEST_ID_LEN`] visible ASCII characters, else
/// `None`. Visible ASCII only: no spaces or control characters, so an id cannot forge a
/// log line or break a `key=value` field.
fn valid_incoming_id(value: &HeaderValue) -> Option<&str> {
    let bytes = value.as_bytes();
    let acceptable = !bytes.is_empty()
        && bytes.len() <= MAX_REQUEST_ID_LEN
        && bytes.iter().all(u8::is_ascii_graphic);
    // All visible ASCII, so `to_str` cannot fail here.
    acceptable.then(|| value.to_str().ok()).flatten()
}

/// Middleware: keeps a valid incoming `X-Request-Id` or makes a UUIDv4 one, runs the
/// request inside a `request` span carrying it, logs one line when the answer is ready,
/// and sets the id on every answer (errors and fallbacks included).
pub(crate) async fn trace_requests(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let incoming = request.headers().get(&REQUEST_ID_HEADER);
    let kept = incoming.and_then(valid_incoming_id).map(str::to_owned);
    let replaced_invalid = incoming.is_some() && kept.is_none();
    let request_id = kept.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED_ROUTE, MatchedPath::as_str)
        .to_owned();
    let span = tracing::info_span!(
        "request",
        method = %request.method(),
        route = %route,
        request_id = %request_id,
    );
    if replaced_invalid {
        // Not its value: whatever the client sent is not ours to print.
        span.in_scope(|| {
            tracing::debug!(
                "incoming X-Request-Id is not 1 to {MAX_REQUEST_ID_LEN} visible ASCII \
                 characters; replaced"
            );
        });
    }

    let mut response = next.run(request).instrument(span.clone()).await;

    let header = HeaderValue::from_str(&request_id)
        .expect("a kept id is visible ASCII and a UUID is hex and dashes");
    response.headers_mut().insert(REQUEST_ID_HEADER, header);
    let status = response.status().as_u16();
    // Whole microseconds: finer digits are noise in a log line.
    let latency_ms = started.elapsed().as_micros() as f64 / 1000.0;
    span.in_scope(|| {
        // A 5xx is ours to look at; everything else is the normal course of things.
        if response.status().is_server_error() {
            tracing::warn!(status, latency_ms, "request finished");
        } else {
            tracing::info!(status, latency_ms, "request finished");
        }
    });
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(bytes: &[u8]) -> Option<String> {
        let value = HeaderValue::from_bytes(bytes).expect("a header value");
        valid_incoming_id(&value).map(str::to_owned)
    }

    #[test]
    fn visible_ascii_ids_up_to_the_limit_are_kept() {
        assert_eq!(kept(b"req-42").as_deref(), Some("req-42"));
        assert_eq!(
            kept(b"00f067aa0ba902b7:{trace}/x").as_deref(),
            Some("00f067aa0ba902b7:{trace}/x")
        );
        let longest = "a".repeat(MAX_REQUEST_ID_LEN);
        assert_eq!(kept(longest.as_bytes()), Some(longest));
    }

    #[test]
    fn empty_long_spaced_control_or_non_ascii_ids_are_refused() {
        let too_long = "a".repeat(MAX_REQUEST_ID_LEN + 1);
        for refused in [
            &b""[..],
            too_long.as_bytes(),
            b"two words",
            b"tab\there",
            "caf\u{e9}".as_bytes(),
            b"\x80\xff",
        ] {
            assert_eq!(
                kept(refused),
                None,
                "{:?}",
                String::from_utf8_lossy(refused)
            );
        }
    }
}
