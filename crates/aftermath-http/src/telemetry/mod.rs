//! Prometheus metrics of this process, served on `GET /metrics`.
//!
//! One [`Telemetry`] (one registry) per process, carried in [`AppState`](crate::AppState):
//! never the crate's global default registry, so apps started side by side in one test
//! process count apart. Counters and histograms are fed by typed internal events
//! ([`events`]), each of which both counts and logs, as vector does; gauges that describe
//! the log and the projections are sampled when Prometheus scrapes ([`scrape`]).

mod events;
mod metered_log;
mod scrape;

use std::sync::Arc;

use aftermath_log::Partition;
use aftermath_store::{CommittedBatch, ProjectorObserver, StoreError};
use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

pub(crate) use events::{IngestAppended, IngestFailed, IngestIgnored, RequestRefused, RequestShed};
pub use events::{InternalEvent, WebhookAttempted};
pub use metered_log::MeteredLog;
pub(crate) use scrape::metrics;

/// Seconds buckets for a call that normally takes milliseconds; the top ones catch the
/// Kafka append timeout (5 s by default) and a database under lock contention.
const CALL_SECONDS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Facts per projector batch, up to well above the default batch size (500).
const BATCH_FACTS: &[f64] = &[
    1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0,
];
/// Time to acknowledge: the SOP's target is 5 minutes, so 300 s is a bucket boundary.
const ACKNOWLEDGE_SECONDS: &[f64] = &[
    30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 43200.0, 86400.0,
];
/// Time to resolve: minutes to a week.
const RESOLVE_SECONDS: &[f64] = &[
    300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 86400.0, 172800.0, 604800.0,
];

/// This process's metrics and how `/metrics` is exposed. Cheap to clone (shared).
#[derive(Clone)]
pub struct Telemetry {
    metrics: Arc<Metrics>,
    /// Serve `/metrics` without a token (`--metrics-public`), for scrapers that cannot
    /// send one. Off by default: the figures name sources, targets and partitions.
    public_scrape: bool,
}

impl Default for Telemetry {
    fn default() -> Self {
        Self::new()
    }
}

impl Telemetry {
    /// A fresh registry holding every Aftermath metric, at zero.
    pub fn new() -> Self {
        Self {
            metrics: Arc::new(Metrics::new()),
            public_scrape: false,
        }
    }

    /// Whether `/metrics` answers without a token.
    pub fn with_public_scrape(mut self, public_scrape: bool) -> Self {
        self.public_scrape = public_scrape;
        self
    }

    /// Every metric in Prometheus' text format (version 0.0.4).
    pub fn encode(&self) -> Result<String, prometheus::Error> {
        prometheus::TextEncoder::new().encode_to_string(&self.metrics.registry.gather())
    }

    pub(crate) fn metrics(&self) -> &Metrics {
        &self.metrics
    }
}

/// The projector reports its batches here (wired by the binary), so `aftermath-store`
/// needs no metrics library.
impl ProjectorObserver for Telemetry {
    fn batch_committed(&self, batch: &CommittedBatch) {
        events::BatchCommitted(batch).emit(self);
    }

    fn batch_failed(&self, partition: Partition, error: &StoreError) {
        events::BatchFailed { partition, error }.emit(self);
    }
}

/// Every metric family, registered in one registry.
pub(crate) struct Metrics {
    registry: Registry,
    // Ingest, by the sender's endpoint.
    pub(crate) ingest_requests: IntCounterVec,
    pub(crate) ingest_rejections: IntCounterVec,
    pub(crate) http_rejections: IntCounterVec,
    pub(crate) requests_shed: IntCounterVec,
    pub(crate) requests_in_flight: IntGauge,
    pub(crate) requests_in_flight_limit: IntGauge,
    // The log.
    pub(crate) facts_appended: IntCounterVec,
    pub(crate) facts_duplicate: IntCounterVec,
    pub(crate) append_duration: Histogram,
    pub(crate) append_errors: IntCounterVec,
    pub(crate) log_end_offset: IntGaugeVec,
    // The projector.
    pub(crate) projector_position: IntGaugeVec,
    pub(crate) projector_lag: IntGaugeVec,
    pub(crate) projector_batch_facts: Histogram,
    pub(crate) projector_commit_duration: Histogram,
    pub(crate) projector_facts_folded: IntCounterVec,
    pub(crate) projector_batch_failures: IntCounterVec,
    // Incidents.
    pub(crate) time_to_acknowledge: HistogramVec,
    pub(crate) time_to_resolve: HistogramVec,
    pub(crate) incidents_open: IntGaugeVec,
    pub(crate) incidents_ack_overdue: IntGaugeVec,
    pub(crate) incidents_sample_truncated: IntGauge,
    // The notifier, and /metrics itself.
    pub(crate) notifier_attempts: IntCounterVec,
    pub(crate) sample_errors: IntCounterVec,
}

impl Metrics {
    fn new() -> Self {
        let registry = Registry::new();
        let build_info = IntGaugeVec::new(
            Opts::new(
                "aftermath_build_info",
                "Always 1; the version label says which build runs.",
            ),
            &["version"],
        )
        .expect("a constant metric definition is valid");
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        register(&registry, build_info);
        let metrics = Self {
            ingest_requests: counters(
                &registry,
                "aftermath_ingest_requests_total",
                "Requests to an ingest endpoint, by source and outcome (accepted, duplicate, \
                 ignored, rejected: 4xx, failed: 5xx).",
                &["source", "outcome"],
            ),
            ingest_rejections: counters(
                &registry,
                "aftermath_ingest_rejections_total",
                "Ingest requests refused with a 4xx, by source and reason.",
                &["source", "reason"],
            ),
            http_rejections: counters(
                &registry,
                "aftermath_http_rejections_total",
                "Requests refused with a 4xx on any endpoint, by route pattern and status.",
                &["route", "status"],
            ),
            requests_shed: counters(
                &registry,
                "aftermath_requests_shed_total",
                "Requests answered 503 at once because the cap on requests in flight \
                 (--max-in-flight) was reached, by route pattern.",
                &["route"],
            ),
            requests_in_flight: {
                let gauge = IntGauge::new(
                    "aftermath_requests_in_flight",
                    "API requests being served (sampled at scrape; the scrape itself is not \
                     counted).",
                )
                .expect("a constant metric definition is valid");
                register(&registry, gauge.clone());
                gauge
            },
            requests_in_flight_limit: {
                let gauge = IntGauge::new(
                    "aftermath_requests_in_flight_limit",
                    "The cap on API requests in flight (--max-in-flight); beyond it requests \
                     are shed with 503.",
                )
                .expect("a constant metric definition is valid");
                register(&registry, gauge.clone());
                gauge
            },
            facts_appended: counters(
                &registry,
                "aftermath_facts_appended_total",
                "Facts written to the log, by the source of their stream and the family of \
                 their type (alert, notification, incident, change).",
                &["source", "family"],
            ),
            facts_duplicate: counters(
                &registry,
                "aftermath_facts_duplicate_total",
                "Facts offered to the log that it already held (a resent notification).",
                &["source", "family"],
            ),
            append_duration: histogram(
                &registry,
                "aftermath_log_append_duration_seconds",
                "How long one append to the log took, until the facts were durable.",
                CALL_SECONDS,
            ),
            append_errors: counters(
                &registry,
                "aftermath_log_append_errors_total",
                "Appends the log refused or failed (the API answered 503), by kind of error.",
                &["kind"],
            ),
            log_end_offset: gauges(
                &registry,
                "aftermath_log_end_offset",
                "The offset the next fact of each partition will get (sampled at scrape).",
                &["partition"],
            ),
            projector_position: gauges(
                &registry,
                "aftermath_projector_position",
                "The next offset to fold per partition: the committed checkpoint (sampled at \
                 scrape).",
                &["partition"],
            ),
            projector_lag: gauges(
                &registry,
                "aftermath_projector_lag",
                "Facts on the log not yet folded per partition: end offset minus position \
                 (sampled at scrape).",
                &["partition"],
            ),
            projector_batch_facts: histogram(
                &registry,
                "aftermath_projector_batch_facts",
                "Facts folded per committed projector batch.",
                BATCH_FACTS,
            ),
            projector_commit_duration: histogram(
                &registry,
                "aftermath_projector_commit_duration_seconds",
                "How long writing a batch's rows and checkpoint in one transaction took.",
                CALL_SECONDS,
            ),
            projector_facts_folded: counters(
                &registry,
                "aftermath_projector_facts_folded_total",
                "Facts folded and committed by this process's projector, per partition.",
                &["partition"],
            ),
            projector_batch_failures: counters(
                &registry,
                "aftermath_projector_batch_failures_total",
                "Projector batches that failed and will be retried, by reason \
                 (checkpoint_moved: another projector got there first).",
                &["reason"],
            ),
            time_to_acknowledge: histograms(
                &registry,
                "aftermath_incident_time_to_acknowledge_seconds",
                "From an incident's opening to its acknowledgement, observed when the \
                 projector folds the acknowledgement.",
                &["severity", "class"],
                ACKNOWLEDGE_SECONDS,
            ),
            time_to_resolve: histograms(
                &registry,
                "aftermath_incident_time_to_resolve_seconds",
                "From an incident's opening to its resolution, observed when the projector \
                 folds the resolution.",
                &["severity", "class"],
                RESOLVE_SECONDS,
            ),
            incidents_open: gauges(
                &registry,
                "aftermath_incidents_open",
                "Incidents not yet resolved, by severity (sampled at scrape).",
                &["severity"],
            ),
            incidents_ack_overdue: gauges(
                &registry,
                "aftermath_incidents_ack_overdue",
                "Unacknowledged incidents past their acknowledgement SLA, by severity \
                 (sampled at scrape).",
                &["severity"],
            ),
            incidents_sample_truncated: {
                let gauge = IntGauge::new(
                    "aftermath_incidents_sample_truncated",
                    "1 when the incident gauges stopped counting at their cap (they are then \
                     lower bounds), else 0.",
                )
                .expect("a constant metric definition is valid");
                register(&registry, gauge.clone());
                gauge
            },
            notifier_attempts: counters(
                &registry,
                "aftermath_notifier_attempts_total",
                "Outbound webhook attempts, by target and outcome (delivered, failed: will \
                 retry, gave_up: the last attempt failed).",
                &["target", "outcome"],
            ),
            sample_errors: counters(
                &registry,
                "aftermath_metrics_sample_errors_total",
                "Scrape-time samples that failed (the log or the store did not answer), by \
                 what was sampled; those gauges are left out of that scrape.",
                &["what"],
            ),
            registry,
        };
        metrics.start_at_zero();
        metrics
    }

    /// Creates the series alerting rules divide or take rates of at 0, so the first
    /// rejection or append error is an increase Prometheus sees, not a series appearing.
    fn start_at_zero(&self) {
        for (_, source) in crate::ingest::SOURCES_BY_ROUTE {
            for outcome in events::INGEST_OUTCOMES {
                self.ingest_requests.with_label_values(&[source, outcome]);
            }
        }
        for kind in events::APPEND_ERROR_KINDS {
            self.append_errors.with_label_values(&[kind]);
        }
    }
}

fn register<M: prometheus::core::Collector + 'static>(registry: &Registry, metric: M) {
    registry
        .register(Box::new(metric))
        .expect("each metric name is registered once");
}

fn counters(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let metric =
        IntCounterVec::new(Opts::new(name, help), labels).expect("a constant metric definition");
    register(registry, metric.clone());
    metric
}

fn gauges(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let metric =
        IntGaugeVec::new(Opts::new(name, help), labels).expect("a constant metric definition");
    register(registry, metric.clone());
    metric
}

fn histogram(registry: &Registry, name: &str, help: &str, buckets: &[f64]) -> Histogram {
    let opts = HistogramOpts::new(name, help).buckets(buckets.to_vec());
    let metric = Histogram::with_opts(opts).expect("a constant metric definition");
    register(registry, metric.clone());
    metric
}

fn histograms(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: &[f64],
) -> HistogramVec {
    let opts = HistogramOpts::new(name, help).buckets(buckets.to_vec());
    let metric = HistogramVec::new(opts, labels).expect("a constant metric definition");
    register(registry, metric.clone());
    metric
}
