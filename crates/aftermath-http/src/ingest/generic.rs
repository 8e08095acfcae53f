//! generic ingest (being written).

use crate::ApiError;

fn not_yet() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::NOT_IMPLEMENTED,
        "not_implemented",
        "this sender is not available yet",
    )
}

pub(crate) async fn generic() -> ApiError {
    not_yet()
}

pub(crate) async fn cloudevents() -> ApiError {
    not_yet()
}
