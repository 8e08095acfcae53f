//! PagerDuty's Events API v2 (`POST /v2/enqueue`), drop-in: the `routing_key` is an ingest
//! token, and requests and answers have PagerDuty's shapes, so any tool with a PagerDuty
//! integration works by changing its URL.

use aftermath_core::{normalize_pagerduty, normalize_pagerduty_change};
use aftermath_store::{Scope, TokenInfo};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::append;
use crate::error::ErrorBody;
use crate::{now, ApiError, AppState};

/// PagerDuty refuses events over 512 KB; so does Aftermath.
pub(crate) const MAX_PAGERDUTY_EVENT_BYTES: usize = 512 * 1024;

fn invalid(status: StatusCode, errors: Vec<String>) -> Response {
    let body =
        json!({"status": "invalid event", "message": "Event object is invalid", "errors": errors});
    (status, Json(body)).into_response()
}

fn unauthorized(message: &str) -> Response {
    let body = json!({"status": "unauthorized", "message": message});
    (StatusCode::UNAUTHORIZED, Json(body)).into_response()
}

/// Reads the body and the ingest token its `routing_key` names, or the PagerDuty-shaped
/// refusal to answer with.
async fn authenticated(
    state: &AppState,
    body: Result<Bytes, BytesRejection>,
) -> Result<Result<(Bytes, TokenInfo), Response>, ApiError> {
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            let error = format!("event exceeds {MAX_PAGERDUTY_EVENT_BYTES} bytes");
            return Ok(Err(invalid(StatusCode::PAYLOAD_TOO_LARGE, vec![error])));
        }
        Err(rejection) => {
            let refusal = invalid(StatusCode::BAD_REQUEST, vec![rejection.body_text()]);
            return Ok(Err(refusal));
        }
    };
    // The routing key authenticates the event: read it before anything else, from a body
    // that is UTF-8 JSON within the nesting limit (else say that, not "missing key").
    let readable = std::str::from_utf8(&body)
        .map_err(|error| format!("body is not UTF-8: {error}"))
        .and_then(|_| {
            aftermath_core::check_json_depth(&body)
                .map_err(|error| format!("'{}': {}", error.field, error.message))
        })
        .and_then(|()| {
            serde_json::from_slice::<serde_json::Value>(&body)
                .map_err(|error| format!("'body': not a JSON event: {error}"))
        });
    let event = match readable {
        Ok(event) => event,
        Err(error) => return Ok(Err(invalid(StatusCode::BAD_REQUEST, vec![error]))),
    };
    let routing_key = event
        .get("routing_key")
        .and_then(|key| key.as_str().map(str::to_owned));
    let Some(routing_key) = routing_key.filter(|key| !key.is_empty()) else {
        let error = "'routing_key' is missing or blank".to_owned();
        return Ok(Err(invalid(StatusCode::BAD_REQUEST, vec![error])));
    };
    let refusal = match state.store.authenticate(&routing_key).await {
        Ok(Some(token)) if token.has(Scope::Ingest) => {
            return Ok(
                match state.rate_limit.take(token.id, std::time::Instant::now()) {
                    Ok(()) => Ok((body, token)),
                    Err(wait) => Err(state
                        .rate_limit
                        .refusal("/v2/enqueue", wait)
                        .into_response()),
                },
            );
        }
        Ok(Some(_)) => unauthorized("the routing_key's token lacks the ingest scope"),
        Ok(None) => unauthorized("routing_key is not a valid ingest token"),
        Err(error) => return Err(ApiError::internal("token lookup", error)),
    };
    Ok(Err(refusal))
}

/// `POST /v2/enqueue`
#[utoipa::path(post, path = "/v2/enqueue", tag = "ingest",
    request_body(content = Object, description = "A PagerDuty Events API v2 event; its `routing_key` is an ingest token"),
    responses(
        (status = 202, description = "`{\"status\": \"success\", \"message\": \"Event processed\", \"dedup_key\"}`", body = Object),
        (status = 400, description = "`{\"status\": \"invalid event\", \"message\": \"Event object is invalid\", \"errors\": […]}`", body = Object),
        (status = 401, description = "The routing key is not an ingest token", body = Object),
        (status = 413, description = "Event over 512 KB", body = Object),
        (status = 503, description = "The log is unavailable; retry", body = ErrorBody),
    ))]
#[tracing::instrument(skip_all)]
pub(crate) async fn pagerduty_enqueue(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (body, token) = match authenticated(&state, body).await? {
        Ok(accepted) => accepted,
        Err(refusal) => return Ok(refusal),
    };
    let generated = uuid::Uuid::new_v4().simple().to_string();
    let event =
        match normalize_pagerduty(&body, &token.id.to_string(), &token.name, &generated, now()) {
            Ok(event) => event,
            Err(errors) => {
                tracing::info!(caller = %token.name, ?errors, "PagerDuty event refused");
                return Ok(invalid(StatusCode::BAD_REQUEST, errors));
            }
        };
    append(&state, "pagerduty", event.facts).await?;
    let body =
        json!({"status": "success", "message": "Event processed", "dedup_key": event.dedup_key});
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

/// `POST /v2/change/enqueue`: a PagerDuty change event (a deploy, a config push…).
#[utoipa::path(post, path = "/v2/change/enqueue", tag = "ingest",
    request_body(content = Object, description = "A PagerDuty change event; its `routing_key` is an ingest token"),
    responses(
        (status = 202, description = "`{\"status\": \"success\", \"message\": \"Change event processed\"}`", body = Object),
        (status = 400, description = "Invalid event, PagerDuty's shape", body = Object),
        (status = 401, description = "The routing key is not an ingest token", body = Object),
        (status = 503, description = "The log is unavailable; retry", body = ErrorBody),
    ))]
#[tracing::instrument(skip_all)]
pub(crate) async fn pagerduty_change(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (body, token) = match authenticated(&state, body).await? {
        Ok(accepted) => accepted,
        Err(refusal) => return Ok(refusal),
    };
    let facts = match normalize_pagerduty_change(&body, &token.id.to_string(), &token.name, now()) {
        Ok(facts) => facts,
        Err(errors) => return Ok(invalid(StatusCode::BAD_REQUEST, errors)),
    };
    append(&state, "pagerduty-change", facts).await?;
    let body = json!({"status": "success", "message": "Change event processed"});
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}
