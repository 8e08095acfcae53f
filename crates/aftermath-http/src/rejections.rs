//! Counts refused requests by route and status, so an operator sees which senders are
//! misconfigured (`GET /v1/status`, and the metrics to come). The reason of each refusal
//! is logged where it is decided ([`crate::ApiError`]), never with the request body.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

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
/// would hold incident ids).
pub(crate) async fn count_rejections(
    State(rejections): State<Rejections>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let method = request.method().clone();
    let response = next.run(request).await;
    if response.status().is_client_error() {
        rejections.record(format!("{method} {route}"), response.status().as_u16());
    }
    response
}
