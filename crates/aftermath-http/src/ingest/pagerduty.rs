//! pagerduty ingest (being written).

use crate::ApiError;

fn not_yet() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::NOT_IMPLEMENTED,
        "not_implemented",
        "this sender is not available yet",
    )
}

pub(crate) async fn pagerduty_enqueue() -> ApiError {
    not_yet()
}

pub(crate) async fn pagerduty_change() -> ApiError {
    not_yet()
}
