//! The probes (`/healthz`, `/readyz`) and the OpenAPI document: the endpoints open to all.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;

use crate::error::ErrorBody;
use crate::{ApiError, AppState};

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "The process answers", body = Object)))]
pub(crate) async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

/// Readiness: the log and the projection store both answer.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses(
        (status = 200, description = "Ready; a projector also lists its partitions", body = Object),
        (status = 503, description = "The log or the projection store does not answer", body = ErrorBody),
    ))]
pub(crate) async fn readyz(
    State(state): State<AppState>,
) -> Result<Json<serde_json::Value>, ApiError> {
    state
        .log
        .ping()
        .await
        .map_err(|error| ApiError::internal("reaching the event log", error))?;
    state
        .store
        .checkpoints()
        .await
        .map_err(|error| ApiError::internal("reaching the projection store", error))?;
    // A projector also says which partitions it folds (its consumer-group share).
    let owned = match state.projected {
        Some(_) => Some(state.log.owned_partitions().await),
        None => None,
    };
    Ok(Json(
        serde_json::json!({"status": "ready", "owned_partitions": owned}),
    ))
}

/// The OpenAPI 3.1 document of this API.
pub(crate) async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::openapi_json(),
    )
}
