//! `POST /v1/ingest/generic` (one generic JSON event) and `POST /v1/ingest/cloudevents`
//! (the same event in a CloudEvents 1.0 structured envelope, one or a batch). Both group
//! by the sender's dedup key scoped by the calling token, so tenants never collide.

use aftermath_core::{normalize_cloudevents, normalize_generic, CloudEventsMode};
use aftermath_store::Scope;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use serde::Serialize;

use super::{append, IngestAccepted};
use crate::auth::Caller;
use crate::error::ErrorBody;
use crate::request::body_bytes;
use crate::{now, ApiError, AppState};

/// The shared ingest answer plus the dedup key the event was grouped by, which a sender
/// that sent none needs to know (it was derived from title and service).
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct GenericAccepted {
    #[serde(flatten)]
    summary: IngestAccepted,
    dedup_key: String,
}

/// The shared ingest answer plus, per event in request order, where it went.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct CloudEventsAccepted {
    #[serde(flatten)]
    summary: IngestAccepted,
    events: Vec<CloudEventAccepted>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct CloudEventAccepted {
    dedup_key: String,
    stream_key: String,
}

/// `POST /v1/ingest/generic`
#[utoipa::path(post, path = "/v1/ingest/generic", tag = "ingest",
    security(("bearer" = ["ingest"])),
    request_body(content = Object, description = "`{\"title\", \"status\": \"firing\"|\"resolved\", \"dedup_key\", \"severity\", \"service\", \"description\", \"labels\", \"occurred_at\", \"source_url\"}`"),
    responses(
        (status = 202, description = "On the log", body = GenericAccepted),
        (status = 400, description = "Malformed event; `detail` names the field", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Token lacks `ingest`", body = ErrorBody),
        (status = 413, description = "Body over the size limit", body = ErrorBody),
        (status = 503, description = "The log is unavailable; retry", body = ErrorBody)
    ))]
#[tracing::instrument(skip_all, fields(caller = %caller.0.name))]
pub(crate) async fn generic(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<GenericAccepted>), ApiError> {
    let token = caller.require(Scope::Ingest)?;
    let body = body_bytes(body)?;
    let event = normalize_generic(&body, &token.id.to_string(), now())?;
    let summary = append(&state, "generic", event.facts).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(GenericAccepted {
            summary,
            dedup_key: event.dedup_key,
        }),
    ))
}

/// `POST /v1/ingest/cloudevents`
#[utoipa::path(post, path = "/v1/ingest/cloudevents", tag = "ingest",
    security(("bearer" = ["ingest"])),
    request_body(content = Object, description = "A CloudEvents 1.0 event (`application/cloudevents+json`) or a batch (`application/cloudevents-batch+json`); the generic fields under `data`"),
    responses(
        (status = 202, description = "Every event on the log", body = CloudEventsAccepted),
        (status = 400, description = "Malformed event; `detail` names the field, e.g. `[2].specversion`", body = ErrorBody),
        (status = 415, description = "Not a CloudEvents JSON content type", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Token lacks `ingest`", body = ErrorBody),
        (status = 413, description = "Body over the size limit", body = ErrorBody),
        (status = 503, description = "The log is unavailable; retry", body = ErrorBody)
    ))]
#[tracing::instrument(skip_all, fields(caller = %caller.0.name))]
pub(crate) async fn cloudevents(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<CloudEventsAccepted>), ApiError> {
    let token = caller.require(Scope::Ingest)?;
    let mode = cloudevents_mode(&headers)?;
    let body = body_bytes(body)?;
    let events = normalize_cloudevents(&body, mode, &token.id.to_string(), now())?;
    let mut facts = Vec::new();
    let mut accepted = Vec::with_capacity(events.len());
    for event in events {
        facts.extend(event.facts);
        accepted.push(CloudEventAccepted {
            dedup_key: event.dedup_key,
            stream_key: event.stream_key,
        });
    }
    // One append for every event of the request: on the embedded log it is one
    // transaction, so a batch is recorded whole or not at all.
    let summary = append(&state, "cloudevents", facts).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(CloudEventsAccepted {
            summary,
            events: accepted,
        }),
    ))
}

/// The structured mode the `Content-Type` asks for; 415 for anything else (binary content
/// mode, plain `application/json`, none at all).
fn cloudevents_mode(headers: &HeaderMap) -> Result<CloudEventsMode, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok());
    content_type
        .and_then(CloudEventsMode::from_content_type)
        .ok_or_else(|| {
            let got = match content_type {
                Some(value) => format!("Content-Type {value:?} is not accepted"),
                None => "the request has no Content-Type".to_owned(),
            };
            ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!("{got}; send {}", CloudEventsMode::ACCEPTED_CONTENT_TYPES),
            )
        })
}
