//! `GET /metrics`: checks the caller, samples the gauges that describe the log and the
//! projections, and answers every metric in Prometheus' text format.

use std::collections::BTreeMap;

use aftermath_core::{AckPolicy, Severity, Timestamp};
use aftermath_store::{IncidentQuery, Scope, StatusFilter, StoreError};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::events::SampleFailed;
use super::InternalEvent;
use crate::auth::Caller;
use crate::{now, ApiError, AppState};

/// The incident gauges count at most this many incidents per scrape, so a scrape stays
/// cheap however many incidents pile up (each is loaded whole). Past it the gauges are
/// lower bounds and `aftermath_incidents_sample_truncated` is 1: far more open incidents
/// than any team works at once already says what is wrong.
pub(crate) const MAX_INCIDENTS_SAMPLED: usize = 2_000;
const INCIDENT_PAGE: u32 = 500;
const SEVERITIES: [Severity; 4] = [
    Severity::Critical,
    Severity::Error,
    Severity::Warning,
    Severity::Info,
];

/// `GET /metrics`: a token with `read`, unless the process runs with `--metrics-public`.
pub(crate) async fn metrics(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
) -> Result<Response, ApiError> {
    if !state.telemetry.public_scrape {
        caller?.require(Scope::Read)?;
    }
    let metrics = state.telemetry.metrics();
    metrics
        .requests_in_flight
        .set(state.admission.in_flight() as i64);
    metrics
        .requests_in_flight_limit
        .set(state.admission.limit() as i64);
    sample_partitions(&state).await;
    sample_incidents(&state).await;
    let text = state
        .telemetry
        .encode()
        .map_err(|error| ApiError::internal("encoding the metrics", error))?;
    Ok(([(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], text).into_response())
}

/// Log end, projector position (the committed checkpoint) and lag per partition, read as
/// `GET /v1/status` reads them: any process that reaches the log and the store can report
/// them, so an API-only process shows a stopped projector's lag.
async fn sample_partitions(state: &AppState) {
    let metrics = state.telemetry.metrics();
    let checkpoints = match state.store.checkpoints().await {
        Ok(checkpoints) => checkpoints,
        Err(error) => {
            // Stale positions would hide a stopped projector: leave them out instead.
            metrics.projector_position.reset();
            metrics.projector_lag.reset();
            SampleFailed {
                what: "checkpoints",
                error: &error,
            }
            .emit(&state.telemetry);
            return;
        }
    };
    for partition in 0..state.log.partitions() {
        let label = partition.to_string();
        let position = checkpoints.get(&partition).copied().unwrap_or(0);
        metrics
            .projector_position
            .with_label_values(&[&label])
            .set(gauge_value(position));
        match state.log.end_offset(partition).await {
            Ok(end) => {
                metrics
                    .log_end_offset
                    .with_label_values(&[&label])
                    .set(gauge_value(end));
                metrics
                    .projector_lag
                    .with_label_values(&[&label])
                    .set(gauge_value(end.saturating_sub(position)));
            }
            Err(error) => {
                let _ = metrics.log_end_offset.remove_label_values(&[&label]);
                let _ = metrics.projector_lag.remove_label_values(&[&label]);
                SampleFailed {
                    what: "log_end",
                    error: &error,
                }
                .emit(&state.telemetry);
            }
        }
    }
}

fn gauge_value(offset: u64) -> i64 {
    i64::try_from(offset).unwrap_or(i64::MAX)
}

/// Open incidents and those past their acknowledgement SLA, by severity.
async fn sample_incidents(state: &AppState) {
    let metrics = state.telemetry.metrics();
    let at = now();
    let open = count_by_severity(state, open_query(None)).await;
    let overdue = count_by_severity(state, open_query(Some((&state.ack_policy, at)))).await;
    let mut truncated = false;
    for (what, counted, gauges) in [
        ("open_incidents", open, &metrics.incidents_open),
        ("overdue_incidents", overdue, &metrics.incidents_ack_overdue),
    ] {
        match counted {
            Ok((counts, capped)) => {
                truncated |= capped;
                for severity in SEVERITIES {
                    let count = counts.get(&severity).copied().unwrap_or(0);
                    gauges.with_label_values(&[severity.as_str()]).set(count);
                }
            }
            Err(error) => {
                gauges.reset();
                SampleFailed {
                    what,
                    error: &error,
                }
                .emit(&state.telemetry);
            }
        }
    }
    metrics.incidents_sample_truncated.set(i64::from(truncated));
}

/// Open incidents; with a policy, only the unacknowledged ones past their SLA at `at`.
fn open_query(overdue: Option<(&AckPolicy, Timestamp)>) -> IncidentQuery {
    IncidentQuery {
        status: StatusFilter::Open,
        limit: INCIDENT_PAGE,
        cursor: None,
        overdue_before: overdue.map(|(policy, at)| policy.overdue_cutoffs(at)),
        service: None,
        class: None,
        with_timelines: false,
    }
}

/// Counts the incidents `query` lists, page by page, up to [`MAX_INCIDENTS_SAMPLED`];
/// the flag says the cap was reached.
async fn count_by_severity(
    state: &AppState,
    mut query: IncidentQuery,
) -> Result<(BTreeMap<Severity, i64>, bool), StoreError> {
    let mut counts = BTreeMap::new();
    let mut counted = 0;
    loop {
        let page = state.store.list_incidents(&query).await?;
        for incident in &page.incidents {
            *counts.entry(incident.severity).or_default() += 1;
        }
        counted += page.incidents.len();
        match page.next_cursor {
            Some(_) if counted >= MAX_INCIDENTS_SAMPLED => return Ok((counts, true)),
            Some(cursor) => query.cursor = Some(cursor),
            None => return Ok((counts, false)),
        }
    }
}
