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
use crate::error::ErrorBody;
use crate::request::body_bytes;
use crate::{now, ApiError, AppState};

/// `POST /v1/ingest/alertmanager`
#[utoipa::path(post, path = "/v1/ingest/alertmanager", tag = "ingest",
    security(("bearer" = ["ingest"])),
    request_body(content = Object, description = "Alertmanager's webhook body, version \"4\""),
    responses(
        (status = 202, description = "On the log (or already there: `status` is `duplicate`)", body = IngestAccepted),
        (status = 400, description = "Malformed body; `detail` names the field", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Token lacks `ingest`", body = ErrorBody),
        (status = 413, description = "Body over the size limit", body = ErrorBody),
        (status = 503, description = "The log is unavailable; retry", body = ErrorBody)
    ))]
#[tracing::instrument(skip_all, fields(caller = %caller.0.name))]
pub(crate) async fn alertmanager(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<IngestAccepted>), ApiError> {
    caller.require(Scope::Ingest)?;
    let body = body_bytes(body)?;
    let facts = normalize_alertmanager(&body, now())?;
    Ok(accepted(append(&state, "alertmanager", facts).await?))
}
