//! Alert ingest: each sender's body is normalized by the core and its facts appended to the
//! log before the sender hears 2xx. One module per sender; they share [`append`].

mod alertmanager;
mod generic;
mod github;
mod grafana;
mod pagerduty;

use aftermath_core::Fact;
use aftermath_log::Appended;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;

use crate::telemetry::IngestAppended;
use crate::{ApiError, AppState, InternalEvent};

pub(crate) use alertmanager::*;
pub(crate) use generic::*;
pub(crate) use github::*;
pub(crate) use grafana::*;
pub(crate) use pagerduty::*;

/// Each ingest route and its `source` label on `GET /metrics`: the same names the handlers
/// pass to [`append`].
pub(crate) const SOURCES_BY_ROUTE: &[(&str, &str)] = &[
    ("/v1/ingest/alertmanager", "alertmanager"),
    ("/v1/ingest/grafana", "grafana"),
    ("/v1/ingest/generic", "generic"),
    ("/v1/ingest/cloudevents", "cloudevents"),
    ("/v1/ingest/github", github::SOURCE),
    ("/v2/enqueue", "pagerduty"),
    ("/v2/change/enqueue", "pagerduty-change"),
];

/// The `source` label of an ingest route pattern; `None` for other routes.
pub(crate) fn source_of_route(route: &str) -> Option<&'static str> {
    SOURCES_BY_ROUTE
        .iter()
        .find(|(pattern, _)| *pattern == route)
        .map(|(_, source)| *source)
}

/// What appending a request's facts did.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct IngestAccepted {
    status: &'static str,
    /// Facts written by this request.
    facts_appended: usize,
    /// Facts already on the log (a resent notification).
    duplicates: usize,
    stream_key: String,
}

/// Appends a request's facts (handed over: the embedded log keeps them for the live
/// projector); 503 (with `Retry-After`) when the log cannot take them.
pub(crate) async fn append(
    state: &AppState,
    source: &str,
    facts: Vec<Fact>,
) -> Result<IngestAccepted, ApiError> {
    let stream_key = facts
        .first()
        .map(|fact| fact.stream_key.clone())
        .unwrap_or_default();
    let outcomes = state
        .log
        .append_owned(facts)
        .await
        .map_err(|error| ApiError::internal("appending to the event log", error))?;
    let duplicates = outcomes
        .iter()
        .filter(|outcome| **outcome == Appended::Duplicate)
        .count();
    let facts_appended = outcomes.len() - duplicates;
    IngestAppended {
        source,
        facts_appended,
        duplicates,
        stream_key: &stream_key,
    }
    .emit(&state.telemetry);
    Ok(IngestAccepted {
        status: if facts_appended == 0 {
            "duplicate"
        } else {
            "accepted"
        },
        facts_appended,
        duplicates,
        stream_key,
    })
}

/// The usual answer of an ingest endpoint: 202 with what was appended.
pub(crate) fn accepted(summary: IngestAccepted) -> (StatusCode, Json<IngestAccepted>) {
    (StatusCode::ACCEPTED, Json(summary))
}
