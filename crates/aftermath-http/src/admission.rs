//! Load shedding: a cap on API requests in flight; beyond it a request is answered 503 with
//! `Retry-After` at once, before its body is read, so memory stays bounded under overload.
//!
//! 503 and never 429: Alertmanager retries a webhook only on 5xx, and a shed request has
//! appended nothing, so the sender's retry loses nothing. Probes and `/metrics` are never
//! shed: an overloaded process must still say so.

use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use crate::error::ApiError;
use crate::telemetry::{InternalEvent, RequestShed};
use crate::AppState;

/// Requests in flight by default: with bodies of at most 1 MiB, at most 256 MiB of request
/// bodies are held at once.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 256;

/// The permits of requests in flight, shared by every clone of the state.
#[derive(Clone, Debug)]
pub struct Admission {
    permits: Arc<Semaphore>,
    limit: usize,
}

impl Admission {
    pub fn new(limit: usize) -> Self {
        let limit = limit.max(1);
        Self {
            permits: Arc::new(Semaphore::new(limit)),
            limit,
        }
    }
}

impl Admission {
    /// Requests holding a permit now.
    pub fn in_flight(&self) -> usize {
        self.limit - self.permits.available_permits()
    }

    pub fn limit(&self) -> usize {
        self.limit
    }
}

impl Default for Admission {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_IN_FLIGHT)
    }
}

/// Paths that must answer even when the API is saturated.
fn never_shed(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics")
}

pub(crate) async fn shed_beyond_capacity(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if never_shed(request.uri().path()) {
        return next.run(request).await;
    }
    let Ok(_permit) = state.admission.permits.clone().try_acquire_owned() else {
        let route = request
            .extensions()
            .get::<MatchedPath>()
            .map_or("unmatched", MatchedPath::as_str);
        RequestShed {
            route,
            limit: state.admission.limit,
        }
        .emit(&state.telemetry);
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            format!(
                "{} requests are already in flight; nothing was recorded, retry later",
                state.admission.limit
            ),
        )
        .into_response();
    };
    next.run(request).await
}
