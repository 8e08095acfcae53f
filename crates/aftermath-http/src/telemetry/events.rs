//! Internal events: each is one typed value that both counts (Prometheus) and logs
//! (tracing), so a figure on `/metrics` and the log line explaining it cannot drift apart.

use std::time::Duration;

use aftermath_core::Fact;
use aftermath_log::{Appended, LogError, Partition};
use aftermath_store::{CommittedBatch, Milestone, StoreError};
use axum::http::{Method, StatusCode};
use uuid::Uuid;

use super::Telemetry;

/// The `outcome` label values of `aftermath_ingest_requests_total`.
pub(crate) const INGEST_OUTCOMES: [&str; 5] =
    ["accepted", "duplicate", "ignored", "rejected", "failed"];

/// The `kind` label values of `aftermath_log_append_errors_total`.
pub(crate) const APPEND_ERROR_KINDS: [&str; 5] = [
    "storage",
    "corrupt",
    "no_such_partition",
    "unreadable",
    "unavailable",
];

/// Something that happened in Aftermath, worth a figure and a log line.
pub trait InternalEvent {
    fn emit(self, telemetry: &Telemetry);
}

/// An ingest request whose facts are on the log (or were already: a resend).
pub(crate) struct IngestAppended<'a> {
    pub(crate) source: &'a str,
    pub(crate) facts_appended: usize,
    pub(crate) duplicates: usize,
    pub(crate) stream_key: &'a str,
}

impl InternalEvent for IngestAppended<'_> {
    fn emit(self, telemetry: &Telemetry) {
        let Self {
            source,
            facts_appended,
            duplicates,
            stream_key,
        } = self;
        tracing::info!(source, facts_appended, duplicates, %stream_key, "notification accepted");
        let outcome = if facts_appended == 0 {
            "duplicate"
        } else {
            "accepted"
        };
        telemetry
            .metrics()
            .ingest_requests
            .with_label_values(&[source, outcome])
            .inc();
    }
}

/// An ingest request that was understood but records nothing (a GitHub ping, an event
/// Aftermath does not follow).
pub(crate) struct IngestIgnored<'a> {
    pub(crate) source: &'a str,
    pub(crate) event: &'a str,
    pub(crate) reason: &'a str,
}

impl InternalEvent for IngestIgnored<'_> {
    fn emit(self, telemetry: &Telemetry) {
        let Self {
            source,
            event,
            reason,
        } = self;
        tracing::info!(source, event, %reason, "delivery ignored");
        telemetry
            .metrics()
            .ingest_requests
            .with_label_values(&[source, "ignored"])
            .inc();
    }
}

/// A request shed with 503 because the cap on requests in flight was reached.
pub(crate) struct RequestShed<'a> {
    pub(crate) route: &'a str,
    pub(crate) limit: usize,
}

impl InternalEvent for RequestShed<'_> {
    fn emit(self, telemetry: &Telemetry) {
        tracing::warn!(
            route = self.route,
            limit = self.limit,
            "request shed: too many requests in flight"
        );
        telemetry
            .metrics()
            .requests_shed
            .with_label_values(&[self.route])
            .inc();
    }
}

/// A request answered with a 4xx. `ingest_source` is set when the route is an ingest
/// endpoint.
pub(crate) struct RequestRefused<'a> {
    pub(crate) method: &'a Method,
    pub(crate) route: &'a str,
    pub(crate) status: StatusCode,
    pub(crate) ingest_source: Option<&'static str>,
}

impl InternalEvent for RequestRefused<'_> {
    fn emit(self, telemetry: &Telemetry) {
        let Self {
            method,
            route,
            status,
            ingest_source,
        } = self;
        // Debug only: the reason, in Aftermath's words, is logged at info where the
        // refusal is decided (`ApiError`), with the detail this middleware cannot see.
        tracing::debug!(%method, route, status = status.as_u16(), "refusal counted");
        let metrics = telemetry.metrics();
        metrics
            .http_rejections
            .with_label_values(&[&format!("{method} {route}"), status.as_str()])
            .inc();
        if let Some(source) = ingest_source {
            metrics
                .ingest_requests
                .with_label_values(&[source, "rejected"])
                .inc();
            metrics
                .ingest_rejections
                .with_label_values(&[source, refusal_reason(status)])
                .inc();
        }
    }
}

/// The reason label of a refusal: a small fixed vocabulary by status, so the label's
/// cardinality stays bounded whatever a sender sends. The detail is in the log line.
fn refusal_reason(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "invalid_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::CONFLICT => "conflict",
        StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "unprocessable",
        StatusCode::TOO_MANY_REQUESTS => "too_many_requests",
        _ => "other",
    }
}

/// An ingest request answered with a 5xx: the log (or the token store) did not answer,
/// nothing was recorded, and the sender retries.
pub(crate) struct IngestFailed {
    pub(crate) source: &'static str,
    pub(crate) status: StatusCode,
}

impl InternalEvent for IngestFailed {
    fn emit(self, telemetry: &Telemetry) {
        // Debug only: the failure itself is logged at error where it happened.
        tracing::debug!(
            source = self.source,
            status = self.status.as_u16(),
            "ingest failure counted"
        );
        telemetry
            .metrics()
            .ingest_requests
            .with_label_values(&[self.source, "failed"])
            .inc();
    }
}

/// One append to the log returned: each fact written or found already there.
pub(crate) struct FactsAppended<'a, Labels> {
    /// Each fact's `[source, family]` labels, in append order.
    pub(crate) labels: Labels,
    pub(crate) outcomes: &'a [Appended],
    pub(crate) duration: Duration,
}

/// A fact's `[source, family]` labels on the appended and duplicate counters.
pub(crate) fn fact_labels(fact: &Fact) -> [&str; 2] {
    [stream_source(&fact.stream_key), type_family(fact)]
}

impl<'a, Labels: Iterator<Item = [&'a str; 2]>> InternalEvent for FactsAppended<'a, Labels> {
    fn emit(self, telemetry: &Telemetry) {
        let metrics = telemetry.metrics();
        metrics.append_duration.observe(self.duration.as_secs_f64());
        let mut written = 0;
        for (labels, outcome) in self.labels.zip(self.outcomes) {
            match outcome {
                Appended::New { .. } => {
                    written += 1;
                    metrics.facts_appended.with_label_values(&labels).inc();
                }
                Appended::Duplicate => metrics.facts_duplicate.with_label_values(&labels).inc(),
            }
        }
        tracing::debug!(
            written,
            duplicates = self.outcomes.len() - written,
            seconds = self.duration.as_secs_f64(),
            "facts appended"
        );
    }
}

/// One append to the log failed; none of its facts may be taken as recorded.
pub(crate) struct AppendFailed<'a> {
    pub(crate) facts: usize,
    pub(crate) error: &'a LogError,
    pub(crate) duration: Duration,
}

impl InternalEvent for AppendFailed<'_> {
    fn emit(self, telemetry: &Telemetry) {
        let kind = append_error_kind(self.error);
        // Warn, not error: the caller (a handler answering 503, the notifier) logs the
        // failure with its context at error.
        tracing::warn!(kind, facts = self.facts, error = %self.error, "append to the event log failed");
        let metrics = telemetry.metrics();
        metrics.append_duration.observe(self.duration.as_secs_f64());
        metrics.append_errors.with_label_values(&[kind]).inc();
    }
}

/// The `kind` label of an append error, one of [`APPEND_ERROR_KINDS`].
fn append_error_kind(error: &LogError) -> &'static str {
    match error {
        LogError::Storage(_) => "storage",
        LogError::Corrupt { .. } => "corrupt",
        LogError::NoSuchPartition(_) => "no_such_partition",
        LogError::Unreadable { .. } => "unreadable",
        LogError::Unavailable(_) => "unavailable",
    }
}

/// The projector committed a batch.
pub(crate) struct BatchCommitted<'a>(pub(crate) &'a CommittedBatch);

impl InternalEvent for BatchCommitted<'_> {
    fn emit(self, telemetry: &Telemetry) {
        let batch = self.0;
        tracing::debug!(
            partition = batch.partition,
            from = batch.from,
            to = batch.to,
            facts = batch.facts,
            commit_seconds = batch.commit_duration.as_secs_f64(),
            milestones = batch.milestones.len(),
            "projector batch committed"
        );
        let metrics = telemetry.metrics();
        metrics.projector_batch_facts.observe(batch.facts as f64);
        metrics
            .projector_commit_duration
            .observe(batch.commit_duration.as_secs_f64());
        metrics
            .projector_facts_folded
            .with_label_values(&[&batch.partition.to_string()])
            .inc_by(batch.facts as u64);
        for reached in &batch.milestones {
            let histogram = match reached.milestone {
                Milestone::Acknowledged => &metrics.time_to_acknowledge,
                Milestone::Resolved => &metrics.time_to_resolve,
            };
            let class = reached.class.map_or("unclassified", |class| class.code());
            histogram
                .with_label_values(&[reached.severity.as_str(), class])
                .observe(reached.after_opening.as_secs_f64());
        }
    }
}

/// A projector batch failed and will be retried.
pub(crate) struct BatchFailed<'a> {
    pub(crate) partition: Partition,
    pub(crate) error: &'a StoreError,
}

impl InternalEvent for BatchFailed<'_> {
    fn emit(self, telemetry: &Telemetry) {
        let reason = match self.error {
            StoreError::CheckpointMoved { .. } => "checkpoint_moved",
            StoreError::Log(_) => "log",
            StoreError::Database(_) | StoreError::Sqlite(_) => "database",
            StoreError::Corrupt { .. } => "corrupt",
            StoreError::InvalidToken(_) => "other",
        };
        // Debug only: the projector logs the failure itself, at the level it deserves.
        tracing::debug!(
            partition = self.partition,
            reason,
            "projector failure counted"
        );
        telemetry
            .metrics()
            .projector_batch_failures
            .with_label_values(&[reason])
            .inc();
    }
}

/// One outbound webhook attempt of the notifier finished.
pub struct WebhookAttempted<'a> {
    /// The target's name in the notify config.
    pub target: &'a str,
    /// The outbound event kind (`incident.opened`, …).
    pub event: &'a str,
    pub incident: Uuid,
    /// From 1.
    pub attempt: u32,
    pub delivered: bool,
    /// The receiver's HTTP status, when it answered.
    pub status: Option<u16>,
    /// Why the request failed, when it did not get an answer.
    pub error: Option<&'a str>,
    /// The attempt failed and no other will follow.
    pub gave_up: bool,
}

impl InternalEvent for WebhookAttempted<'_> {
    fn emit(self, telemetry: &Telemetry) {
        let Self {
            target,
            event,
            incident,
            attempt,
            delivered,
            status,
            error,
            gave_up,
        } = self;
        let outcome = if delivered {
            tracing::info!(target, event, %incident, attempt, "notification delivered");
            "delivered"
        } else {
            tracing::warn!(
                target,
                event,
                %incident,
                attempt,
                status,
                error,
                gave_up,
                "notification attempt failed"
            );
            if gave_up {
                "gave_up"
            } else {
                "failed"
            }
        };
        telemetry
            .metrics()
            .notifier_attempts
            .with_label_values(&[target, outcome])
            .inc();
    }
}

/// A scrape-time sample that could not be taken.
pub(crate) struct SampleFailed<'a> {
    pub(crate) what: &'static str,
    pub(crate) error: &'a dyn std::fmt::Display,
}

impl InternalEvent for SampleFailed<'_> {
    fn emit(self, telemetry: &Telemetry) {
        tracing::warn!(what = self.what, error = %self.error, "metrics sample failed; left out of this scrape");
        telemetry
            .metrics()
            .sample_errors
            .with_label_values(&[self.what])
            .inc();
    }
}

/// The sender a stream belongs to: the stream key's prefix (`alertmanager:…`,
/// `pagerduty-changes:…`). Stream keys are built by Aftermath's normalizers, so the
/// prefixes are a fixed set; anything unexpected is `other`, which keeps the label bounded.
fn stream_source(stream_key: &str) -> &str {
    let prefix = stream_key
        .split_once(':')
        .map_or(stream_key, |(prefix, _)| prefix);
    let plausible = !prefix.is_empty()
        && prefix.len() <= 32
        && prefix
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_');
    if plausible {
        prefix
    } else {
        "other"
    }
}

/// `alert.notified` → `alert`: the part of the fact type before the first dot.
pub(crate) fn type_family(fact: &Fact) -> &'static str {
    let type_name = fact.body.type_name();
    type_name
        .split_once('.')
        .map_or(type_name, |(family, _)| family)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_sources_are_the_key_prefix_or_other() {
        assert_eq!(
            stream_source("alertmanager:{}:{alertname=\"x\"}"),
            "alertmanager"
        );
        assert_eq!(
            stream_source("pagerduty-changes:abc/svc"),
            "pagerduty-changes"
        );
        assert_eq!(stream_source("no-colon"), "no-colon");
        assert_eq!(stream_source(":empty"), "other");
        assert_eq!(stream_source("we ird:x"), "other");
        assert_eq!(stream_source(&"x".repeat(40)), "other");
    }

    #[test]
    fn append_error_kinds_are_the_ones_started_at_zero() {
        let errors = [
            LogError::NoSuchPartition(3),
            LogError::Unavailable("broker down".into()),
            LogError::Unreadable {
                partition: 0,
                offset: 1,
                message: "not JSON".into(),
            },
        ];
        for error in &errors {
            assert!(APPEND_ERROR_KINDS.contains(&append_error_kind(error)));
        }
    }

    #[test]
    fn refusal_reasons_are_a_fixed_vocabulary() {
        assert_eq!(refusal_reason(StatusCode::UNAUTHORIZED), "unauthorized");
        assert_eq!(
            refusal_reason(StatusCode::PAYLOAD_TOO_LARGE),
            "body_too_large"
        );
        assert_eq!(refusal_reason(StatusCode::IM_A_TEAPOT), "other");
    }
}
