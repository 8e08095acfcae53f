//! Alert ingest: sender bodies are normalized by the core and appended to the log before
//! the sender hears 2xx.

use aftermath_core::normalize_alertmanager;
use aftermath_log::Appended;
use aftermath_store::Scope;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;

use crate::auth::Caller;
use crate::request::body_bytes;
use crate::{now, ApiError, AppState};

#[derive(Serialize)]
pub(crate) struct IngestAccepted {
    status: &'static str,
    /// Facts written by this request.
    facts_appended: usize,
    /// Facts already on the log (a resent notification).
    duplicates: usize,
    stream_key: String,
}

/// `POST /v1/ingest/alertmanager`: an Alertmanager webhook (version "4").
#[tracing::instrument(skip_all, fields(caller = %caller.0.name))]
pub(crate) async fn alertmanager(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<IngestAccepted>), ApiError> {
    caller.require(Scope::Ingest)?;
    let body = body_bytes(body)?;
    let facts = normalize_alertmanager(&body, now()).map_err(|error| {
        ApiError::bad_request(
            "invalid_body",
            format!("{}: {}", error.field, error.message),
        )
    })?;
    let stream_key = facts
        .first()
        .map(|fact| fact.stream_key.clone())
        .unwrap_or_default();
    let outcomes = state
        .log
        .append(&facts)
        .await
        .map_err(|error| ApiError::internal("appending to the event log", error))?;
    let duplicates = outcomes
        .iter()
        .filter(|outcome| **outcome == Appended::Duplicate)
        .count();
    let facts_appended = outcomes.len() - duplicates;
    tracing::info!(facts_appended, duplicates, %stream_key, "alertmanager notification accepted");
    Ok((
        StatusCode::ACCEPTED,
        Json(IngestAccepted {
            status: if facts_appended == 0 {
                "duplicate"
            } else {
                "accepted"
            },
            facts_appended,
            duplicates,
            stream_key,
        }),
    ))
}
