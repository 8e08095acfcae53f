//! API errors: one JSON shape, `{"error": "...", "detail": "..."}`, with the status code
//! that says whose fault it was.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

/// The JSON body of every error.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorBody {
    /// A short machine-readable kind, such as `invalid_body`.
    error: &'static str,
    /// What was wrong and where.
    detail: String,
}

/// An error answered to the client.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    /// A short machine-readable kind, such as `invalid_body`.
    pub error: &'static str,
    /// What was wrong and where, for a person.
    pub detail: String,
    /// Seconds for `Retry-After` on a 429 or 503 (5 when not set).
    pub retry_after_seconds: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, error: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            error,
            detail: detail.into(),
            retry_after_seconds: None,
        }
    }

    /// Says when to retry (`Retry-After`), for a 429 or a 503.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after_seconds = Some(seconds);
        self
    }

    /// What was wrong, in Aftermath's words.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    pub fn bad_request(error: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, error, detail)
    }

    pub fn unknown_incident(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "unknown_incident",
            format!("no incident with id {id:?}"),
        )
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", detail)
    }

    /// A failure of ours: logged in full, answered without internals.
    pub fn internal(context: &str, error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, context, "request failed");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            format!("{context} failed; nothing was recorded, retry later"),
        )
    }
}

/// A body the core refused: 400, naming the field.
impl From<aftermath_core::IngestError> for ApiError {
    fn from(error: aftermath_core::IngestError) -> Self {
        Self::bad_request("invalid_body", error.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_client_error() {
            // The reason, never the body: details are Aftermath's own words.
            tracing::info!(status = self.status.as_u16(), error = self.error, detail = %self.detail, "request refused");
        }
        let body = Json(ErrorBody {
            error: self.error,
            detail: self.detail,
        });
        let mut response = (self.status, body).into_response();
        match self.status {
            StatusCode::UNAUTHORIZED => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS => {
                let seconds = self.retry_after_seconds.unwrap_or(5);
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            }
            _ => {}
        }
        response
    }
}

pub(crate) async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such endpoint; see the API section of README.md",
    )
}

pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not accept that method",
    )
}
