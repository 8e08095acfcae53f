//! `POST /v1/ingest/alertmanager`: Alertmanager's webhook (version "4").

use aftermath_core::normalize_alertmanager;
use aftermath_store::Scope;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use super::{accepted, append, IngestAccepted};
use crate::auth::Caller;
use crate::request::body_bytes;
use crate::{now, ApiError, AppState};

#[tracing::instrument(skip_all, fields(caller = %caller.0.name))]
pub(crate) async fn alertmanager(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<IngestAccepted>), ApiError> {
    caller.require(Scope::Ingest)?;
    let body = body_bytes(body)?;
    let facts = normalize_alertmanager(&body, now())?;
    Ok(accepted(append(&state, "alertmanager", &facts).await?))
}
