//! Counts refused requests by route and status, so an operator sees which senders are
//! misconfigured (`GET /v1/status`, and `GET /metrics`, where failed ingest requests are
//! counted too). The reason of each refusal is logged where it is decided
//! ([`crate::ApiError`]), never with the request body.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::telemetry::{IngestFailed, RequestRefused};
use crate::{ingest, AppState, InternalEvent};

/// Refusals so far, by (route pattern, status code).
#[derive(Clone, Default)]
pub struct Rejections {
    counts: Arc<Mutex<BTreeMap<(String, u16), u64>>>,
}

impl Rejections {
    fn record(&self, route: String, status: u16) {
        let mut counts = self
            .counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *counts.entry((route, status)).or_default() += 1;
    }

    /// `{"POST /v1/ingest/alertmanager": {"400": 3}, …}`
    pub fn snapshot(&self) -> BTreeMap<String, BTreeMap<String, u64>> {
        let counts = self
            .counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut snapshot: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        for ((route, status), count) in counts.iter() {
            snapshot
                .entry(route.clone())
                .or_default()
                .insert(status.to_string(), *count);
        }
        snapshot
    }
}

/// Middleware: counts every 4xx answer under its route pattern (never the raw path, which
/// would hold incident ids), and every 5xx of an ingest endpoint. Accepted ingest requests
/// are counted by the handlers, which know whether the facts were new.
pub(crate) async fn count_rejections(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let method = request.method().clone();
    let response = next.run(request).await;
    let status = response.status();
    let ingest_source = ingest::source_of_route(&route);
    if status.is_client_error() {
        state
            .rejections
            .record(format!("{method} {route}"), status.as_u16());
        RequestRefused {
            method: &method,
            route: &route,
            status,
            ingest_source,
        }
        .emit(&state.telemetry);
    } else if let (true, Some(source)) = (status.is_server_error(), ingest_source) {
        IngestFailed { source, status }.emit(&state.telemetry);
    }
    response
}
