//! Aftermath's HTTP API: alert ingest, the responder and read API, auth by bearer token
//! with scopes, and JSON errors that say what was wrong and where.
//!
//! Architecture invariant: handlers change state only by appending facts to the log, and
//! answer 2xx only after the append returned; they read projections, never the log.

mod admission;
mod auth;
mod error;
mod health;
mod incidents;
mod ingest;
mod metrics;
mod openapi;
mod pages;
mod postmortem;
mod rate_limit;
mod rejections;
mod request;
mod request_id;
mod telemetry;
mod views;
mod workflow;

use std::time::Duration;

use aftermath_core::Timestamp;
use aftermath_log::SharedLog;
use aftermath_store::{ProjectorPositions, SharedStore};
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, put};
use axum::Router;
use tokio::sync::watch;

pub use admission::{Admission, DEFAULT_MAX_IN_FLIGHT};
pub use error::ApiError;
pub use openapi::openapi_json;
pub use rate_limit::{TokenRateLimit, DEFAULT_REQUESTS_PER_TOKEN_PER_SECOND};
pub use rejections::Rejections;
pub use telemetry::{InternalEvent, MeteredLog, Telemetry, WebhookAttempted};

/// Request bodies above this are refused with 413 before they are read.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What every handler shares: a handle, cloned for every request and middleware layer,
/// so it is one reference count rather than a copy of each field (about 2% of the CPU of
/// an ingest request went to cloning and dropping the fields).
#[derive(Clone)]
pub struct AppState(std::sync::Arc<AppStateFields>);

impl From<AppStateFields> for AppState {
    fn from(fields: AppStateFields) -> Self {
        Self(std::sync::Arc::new(fields))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppStateFields;

    fn deref(&self) -> &AppStateFields {
        &self.0
    }
}

/// What [`AppState`] holds.
pub struct AppStateFields {
    pub log: SharedLog,
    pub store: SharedStore,
    /// The in-process projector's positions, when there is one. Without it (API-only
    /// processes) responder requests watch the store's checkpoints instead.
    pub projected: Option<watch::Receiver<ProjectorPositions>>,
    /// How long a responder request waits for its fact to be folded before answering 202.
    pub projection_wait: Duration,
    /// Changes this long before an incident opened, to its service, are suspect changes.
    pub change_window: Duration,
    /// Refused requests, counted by route and status.
    pub rejections: Rejections,
    /// How long after its resolution an incident may be reopened.
    pub reopen_window: Duration,
    /// The acknowledgement SLA per severity.
    pub ack_policy: aftermath_core::AckPolicy,
    /// This process's Prometheus metrics (`GET /metrics`).
    pub telemetry: Telemetry,
    /// The cap on API requests in flight; beyond it requests are shed with 503.
    pub admission: Admission,
    /// Requests per second each token may make.
    pub rate_limit: std::sync::Arc<TokenRateLimit>,
}

impl AppStateFields {
    pub(crate) fn view_context(&self) -> views::ViewContext<'_> {
        views::ViewContext {
            ack_policy: &self.ack_policy,
            now: now(),
        }
    }
}

/// The wall clock, read only at the edge: facts carry it as `recorded_at`.
pub(crate) fn now() -> Timestamp {
    Timestamp::from_datetime(time::OffsetDateTime::now_utc())
}

/// Builds the router with every endpoint.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/openapi.json", get(health::openapi))
        .route("/v1/ingest/alertmanager", post(ingest::alertmanager))
        .route(
            "/v1/ingest/grafana",
            post(ingest::grafana).put(ingest::grafana),
        )
        .route("/v1/ingest/generic", post(ingest::generic))
        .route("/v1/ingest/cloudevents", post(ingest::cloudevents))
        .route("/v1/ingest/github", post(ingest::github))
        .route(
            "/v2/enqueue",
            post(ingest::pagerduty_enqueue)
                .layer(DefaultBodyLimit::max(ingest::MAX_PAGERDUTY_EVENT_BYTES)),
        )
        .route("/v2/change/enqueue", post(ingest::pagerduty_change))
        .route("/v1/status", get(incidents::status))
        .route("/v1/incidents", get(incidents::list))
        .route("/v1/incidents/{id}", get(incidents::show))
        .route("/v1/incidents/{id}/timeline", get(incidents::timeline))
        .route("/v1/incidents/{id}/postmortem", get(postmortem::show))
        .route(
            "/v1/incidents/{id}/postmortem/revisions",
            get(postmortem::revisions),
        )
        .route(
            "/v1/incidents/{id}/postmortem/revisions/{n}",
            get(postmortem::revision),
        )
        .route(
            "/v1/incidents/{id}/postmortem/sections/{name}",
            put(postmortem::write_section).delete(postmortem::revert_section),
        )
        .route(
            "/v1/incidents/{id}/postmortem/publish",
            post(postmortem::publish),
        )
        .route("/v1/incidents/{id}/ack", post(incidents::acknowledge))
        .route("/v1/incidents/{id}/notes", post(incidents::add_note))
        .route("/v1/incidents/{id}/resolve", post(incidents::resolve))
        .route("/v1/incidents/{id}/mitigate", post(workflow::mitigate))
        .route("/v1/incidents/{id}/reopen", post(workflow::reopen))
        .route("/v1/incidents/{id}/severity", post(workflow::severity))
        .route("/v1/incidents/{id}/commander", post(workflow::commander))
        .route(
            "/v1/incidents/{id}/classification",
            post(workflow::classification),
        )
        .route("/v1/incidents/{id}/whys", post(workflow::add_why))
        .route("/v1/incidents/{id}/whys/{n}", put(workflow::amend_why))
        .route("/v1/incidents/{id}/root-cause", post(workflow::root_cause))
        .route("/v1/incidents/{id}/impact", post(workflow::impact))
        .route(
            "/v1/incidents/{id}/action-items",
            post(workflow::add_action_item),
        )
        .route(
            "/v1/incidents/{id}/action-items/{aid}/done",
            post(workflow::action_item_done),
        )
        .route("/v1/incidents/{id}/links", post(workflow::add_link))
        .route("/v1/action-items", get(workflow::list_action_items))
        .route("/v1/metrics/summary", get(metrics::metrics_summary))
        // Prometheus' scrape (not to be confused with the managers' summary above).
        .route("/metrics", get(telemetry::metrics))
        // The web pages for people (HTML, session cookie): `pages/`.
        .merge(pages::router())
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        // Inside the counting below, so shed requests are counted as 503s.
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            admission::shed_beyond_capacity,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            rejections::count_rejections,
        ))
        // Outermost, so every answer (fallbacks, refusals) carries its request id.
        .layer(axum::middleware::from_fn(request_id::trace_requests))
        .with_state(state)
}

/// Only the probes and the metrics, for processes that serve no API (`aftermath project`).
pub fn health_router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(telemetry::metrics))
        .fallback(error::not_found)
        .layer(axum::middleware::from_fn(request_id::trace_requests))
        .with_state(state)
}

/// Serves the API on `listener` until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}
