//! `GET /metrics` over HTTP: who may scrape it, that it is Prometheus' text format, and
//! that its figures follow what happened: ingest outcomes and refusal reasons, facts on
//! the log, lag per partition, projector batches, open and overdue incidents, times to
//! acknowledge and resolve, notifier attempts, and a projector-only process's probes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aftermath::notifier::NotifyConfig;
use aftermath::Role;
use aftermath_core::AckPolicy;
use serde_json::json;

use crate::on_both_backends;
use crate::support::*;

/// One scrape, parsed strictly: samples by name and labels.
#[derive(Debug)]
struct Scrape {
    /// (metric name, labels) → value.
    samples: BTreeMap<(String, BTreeMap<String, String>), f64>,
}

impl Scrape {
    /// The sample `name` whose labels are exactly `labels`.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let labels: BTreeMap<String, String> = labels
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect();
        self.samples.get(&(name.to_owned(), labels)).copied()
    }

    /// Like [`Self::value`], failing with the scrape when the sample is missing.
    #[track_caller]
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.value(name, labels)
            .unwrap_or_else(|| panic!("no sample {name}{labels:?} in {:#?}", self.samples))
    }

    /// Every sample `name` whose labels include `filter`, as (labels, value).
    fn matching(
        &self,
        name: &str,
        filter: &[(&str, &str)],
    ) -> Vec<(BTreeMap<String, String>, f64)> {
        self.samples
            .iter()
            .filter(|((sample, labels), _)| {
                sample == name
                    && filter
                        .iter()
                        .all(|(key, value)| labels.get(*key).map(String::as_str) == Some(value))
            })
            .map(|((_, labels), value)| (labels.clone(), *value))
            .collect()
    }

    fn sum(&self, name: &str, filter: &[(&str, &str)]) -> f64 {
        self.matching(name, filter)
            .iter()
            .map(|(_, value)| value)
            .sum()
    }
}

fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_' || first == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// `{a="x",b="y\"z"}` → labels, per the text format's escaping (`\\`, `\"`, `\n`).
fn parse_labels(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut labels = BTreeMap::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (name, after) = rest
            .split_once("=\"")
            .ok_or_else(|| format!("label without =\" in {text:?}"))?;
        if !is_metric_name(name) || name.contains(':') {
            return Err(format!("bad label name {name:?}"));
        }
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    other => return Err(format!("bad escape {other:?} in {text:?}")),
                },
                Some((at, '"')) => break at,
                Some((_, c)) => value.push(c),
                None => return Err(format!("unterminated label value in {text:?}")),
            }
        };
        if labels.insert(name.to_owned(), value).is_some() {
            return Err(format!("label {name} twice in {text:?}"));
        }
        rest = &after[end + 1..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
    Ok(labels)
}

/// Parses Prometheus' text format 0.0.4, refusing what Prometheus would refuse: samples
/// of a family without a `# TYPE` before them, bad names or labels, unparsable values,
/// repeated series, and histograms whose buckets are not cumulative up to `_count`.
fn parse_exposition(text: &str) -> Result<Scrape, String> {
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut samples = BTreeMap::new();
    for line in text.lines().filter(|line| !line.trim().is_empty()) {
        if let Some(comment) = line.strip_prefix("# ") {
            let mut words = comment.splitn(3, ' ');
            match (words.next(), words.next(), words.next()) {
                (Some("HELP"), Some(name), Some(_)) if is_metric_name(name) => {}
                (Some("TYPE"), Some(name), Some(kind)) if is_metric_name(name) => {
                    let known = ["counter", "gauge", "histogram", "summary", "untyped"];
                    if !known.contains(&kind) {
                        return Err(format!("unknown type in {line:?}"));
                    }
                    if types.insert(name.to_owned(), kind.to_owned()).is_some() {
                        return Err(format!("second TYPE line for {name}"));
                    }
                }
                _ => return Err(format!("malformed comment line {line:?}")),
            }
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .ok_or_else(|| format!("sample without a value: {line:?}"))?;
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            number => number
                .parse()
                .map_err(|_| format!("bad value in {line:?}"))?,
        };
        let (name, labels) = match series.split_once('{') {
            Some((name, labels)) => {
                let labels = labels
                    .strip_suffix('}')
                    .ok_or_else(|| format!("unclosed labels in {line:?}"))?;
                (name, parse_labels(labels)?)
            }
            None => (series, BTreeMap::new()),
        };
        if !is_metric_name(name) {
            return Err(format!("bad metric name in {line:?}"));
        }
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| {
                let base = name.strip_suffix(suffix)?;
                (types.get(base).map(String::as_str) == Some("histogram")).then_some(base)
            })
            .unwrap_or(name);
        if !types.contains_key(family) {
            return Err(format!("{name} has no # TYPE line before its samples"));
        }
        if samples
            .insert((name.to_owned(), labels.clone()), value)
            .is_some()
        {
            return Err(format!("series {name}{labels:?} appears twice"));
        }
    }
    let scrape = Scrape { samples };
    for (name, _) in types.iter().filter(|(_, kind)| *kind == "histogram") {
        for ((_, labels), count) in scrape
            .samples
            .iter()
            .filter(|((sample, _), _)| *sample == format!("{name}_count"))
        {
            let mut buckets: Vec<(f64, f64)> = scrape
                .samples
                .iter()
                .filter(|((sample, bucket_labels), _)| {
                    *sample == format!("{name}_bucket") && {
                        let mut without_le = (*bucket_labels).clone();
                        without_le.remove("le");
                        without_le == *labels
                    }
                })
                .map(|((_, bucket_labels), value)| {
                    let le = bucket_labels["le"].as_str();
                    let bound = if le == "+Inf" {
                        f64::INFINITY
                    } else {
                        le.parse().unwrap_or(f64::NAN)
                    };
                    (bound, *value)
                })
                .collect();
            buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
            let cumulative = buckets.windows(2).all(|pair| pair[0].1 <= pair[1].1);
            let ends_at_count = buckets
                .last()
                .is_some_and(|(bound, value)| bound.is_infinite() && value == count);
            if !cumulative || !ends_at_count {
                return Err(format!(
                    "histogram {name}{labels:?} buckets {buckets:?}, count {count}"
                ));
            }
        }
    }
    Ok(scrape)
}

/// Scrapes `/metrics` with `token` and parses the answer.
async fn scrape(app: &TestApp, token: &str) -> Scrape {
    let reply = app.get("/metrics", token).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    parse_exposition(&reply.text)
        .unwrap_or_else(|error| panic!("not the text format: {error}\n{}", reply.text))
}

/// Scrapes until `done` holds (bounded): counters fed by background tasks (the
/// projector, the notifier) move shortly after the request that caused them.
async fn scrape_until(app: &TestApp, what: &str, done: impl Fn(&Scrape) -> bool) -> Scrape {
    let mut last = None;
    for _ in 0..1500 {
        let scraped = scrape(app, &app.reader).await;
        if done(&scraped) {
            return scraped;
        }
        last = Some(scraped);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("/metrics never showed {what}; last scrape: {last:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_need_a_read_token_unless_the_process_is_started_public() {
    let app = spawn_app().await;
    let anonymous = app
        .request(reqwest::Method::GET, "/metrics", None, None, &[])
        .await;
    anonymous.assert_error(401, "Authorization");
    app.get("/metrics", "aftm_not_a_token")
        .await
        .assert_error(401, "unknown or revoked token");
    app.get("/metrics", &app.ingest)
        .await
        .assert_error(403, "read");

    let reply = app.get("/metrics", &app.reader).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.headers["content-type"], "text/plain; version=0.0.4",
        "Prometheus' text format"
    );
    let scraped = parse_exposition(&reply.text).unwrap();
    assert_eq!(
        scraped.get(
            "aftermath_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );
    // The refusals above are counted like any other, under the route pattern.
    assert_eq!(
        scraped.get(
            "aftermath_http_rejections_total",
            &[("route", "GET /metrics"), ("status", "401")]
        ),
        2.0
    );
    assert_eq!(
        scraped.get(
            "aftermath_http_rejections_total",
            &[("route", "GET /metrics"), ("status", "403")]
        ),
        1.0
    );

    let app = app
        .restart_with(|config| config.metrics_public = true)
        .await;
    let anonymous = app
        .request(reqwest::Method::GET, "/metrics", None, None, &[])
        .await;
    assert_eq!(anonymous.status, 200, "{}", anonymous.text);
    parse_exposition(&anonymous.text).unwrap();
    // Public metrics open nothing else.
    let status = app
        .request(reqwest::Method::GET, "/v1/status", None, None, &[])
        .await;
    status.assert_error(401, "Authorization");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_counters_tell_accepted_duplicate_and_rejected_apart() {
    let app = spawn_app().await;
    let before = scrape(&app, &app.reader).await;
    // Every ingest source and outcome, and every append error kind, is exported from the
    // start at 0, so a first rejection is an increase Prometheus' rate() sees.
    for source in [
        "alertmanager",
        "grafana",
        "generic",
        "cloudevents",
        "github",
        "pagerduty",
        "pagerduty-change",
    ] {
        for outcome in ["accepted", "duplicate", "ignored", "rejected", "failed"] {
            let labels = [("source", source), ("outcome", outcome)];
            assert_eq!(before.get("aftermath_ingest_requests_total", &labels), 0.0);
        }
    }
    assert_eq!(
        before.get(
            "aftermath_log_append_errors_total",
            &[("kind", "unavailable")]
        ),
        0.0
    );

    let first = app.notify(FIRING).await;
    assert_eq!(first["status"], "accepted");
    let again = app.notify(FIRING).await;
    assert_eq!(again["status"], "duplicate");
    let path = "/v1/ingest/alertmanager";
    app.post(path, &app.ingest, "{").await.assert_error(400, "");
    app.request(
        reqwest::Method::POST,
        path,
        None,
        Some(FIRING.to_owned()),
        &[],
    )
    .await
    .assert_error(401, "");
    app.post(path, &app.reader, FIRING)
        .await
        .assert_error(403, "ingest");
    app.post("/v1/ingest/generic", &app.ingest, "{\"title\": 5}")
        .await
        .assert_error(400, "title");

    let scraped = scrape(&app, &app.reader).await;
    let requests = |source, outcome| {
        scraped.get(
            "aftermath_ingest_requests_total",
            &[("source", source), ("outcome", outcome)],
        )
    };
    assert_eq!(requests("alertmanager", "accepted"), 1.0);
    assert_eq!(requests("alertmanager", "duplicate"), 1.0);
    assert_eq!(requests("alertmanager", "rejected"), 3.0);
    assert_eq!(requests("alertmanager", "failed"), 0.0);
    assert_eq!(requests("generic", "rejected"), 1.0);
    assert_eq!(requests("generic", "accepted"), 0.0);
    let rejections = |source, reason| {
        scraped.get(
            "aftermath_ingest_rejections_total",
            &[("source", source), ("reason", reason)],
        )
    };
    assert_eq!(rejections("alertmanager", "invalid_request"), 1.0);
    assert_eq!(rejections("alertmanager", "unauthorized"), 1.0);
    assert_eq!(rejections("alertmanager", "forbidden"), 1.0);
    assert_eq!(rejections("generic", "invalid_request"), 1.0);
    assert_eq!(
        scraped.get(
            "aftermath_http_rejections_total",
            &[("route", "POST /v1/ingest/alertmanager"), ("status", "400")]
        ),
        1.0
    );

    // The fixture holds two alerts: two alert facts and the notification, written once,
    // then found on the log when resent.
    let facts = |name, family| scraped.get(name, &[("source", "alertmanager"), ("family", family)]);
    assert_eq!(facts("aftermath_facts_appended_total", "alert"), 2.0);
    assert_eq!(facts("aftermath_facts_appended_total", "notification"), 1.0);
    assert_eq!(facts("aftermath_facts_duplicate_total", "alert"), 2.0);
    assert_eq!(
        facts("aftermath_facts_duplicate_total", "notification"),
        1.0
    );
    assert_eq!(
        scraped.get("aftermath_log_append_duration_seconds_count", &[]),
        2.0,
        "two appends reached the log"
    );
    assert_eq!(scraped.sum("aftermath_log_append_errors_total", &[]), 0.0);
    app.stop().await;
}

on_both_backends!(lag_and_positions_are_reported_per_partition);

/// An API-only process with no projector anywhere: the whole log is lag. Started again
/// with its projector, the lag of every partition falls to 0.
async fn lag_and_positions_are_reported_per_partition(backend: Backend) {
    let data_dir = tempfile::tempdir().unwrap();
    let (mut config, parts) = config_for(backend, data_dir.path()).await;
    config.role = Role::Api;
    let app = spawn_app_from(config, data_dir, parts).await;
    let mut appended = 0;
    for n in 0..12 {
        let answer = app
            .notify(&webhook(&format!("Lag{n}"), &format!("fp{n}"), false))
            .await;
        appended += answer["facts_appended"].as_u64().unwrap();
    }
    let partitions: u64 = if backend == Backend::Embedded { 1 } else { 3 };
    let partition_labels: BTreeSet<String> = (0..partitions).map(|p| p.to_string()).collect();

    // The log end is Kafka's high watermark, which trails an acknowledged append for a
    // moment; and tansu 0.6 reports each partition's high watermark one short of the
    // facts it holds (seen here: 2-fact appends, every partition one short), so on Kafka
    // the whole log is a bound, not an exact count.
    let embedded = backend == Backend::Embedded;
    let whole_log_lags = |scraped: &Scrape| {
        let lag = scraped.sum("aftermath_projector_lag", &[]);
        if embedded {
            lag == appended as f64
        } else {
            lag >= (appended - partitions) as f64 && lag <= appended as f64
        }
    };
    let scraped = scrape_until(&app, "the whole log as lag", whole_log_lags).await;
    let labels_of = |name| -> BTreeSet<String> {
        scraped
            .matching(name, &[])
            .into_iter()
            .map(|(labels, _)| labels["partition"].clone())
            .collect()
    };
    for name in [
        "aftermath_log_end_offset",
        "aftermath_projector_position",
        "aftermath_projector_lag",
    ] {
        assert_eq!(
            labels_of(name),
            partition_labels,
            "{name}: one per partition"
        );
    }
    for partition in &partition_labels {
        let labels = [("partition", partition.as_str())];
        let end = scraped.get("aftermath_log_end_offset", &labels);
        assert_eq!(scraped.get("aftermath_projector_position", &labels), 0.0);
        assert_eq!(scraped.get("aftermath_projector_lag", &labels), end);
    }

    let app = app.restart_with(|config| config.role = Role::All).await;
    let scraped = scrape_until(&app, "every partition caught up", |scraped| {
        scraped.sum("aftermath_projector_lag", &[]) == 0.0
    })
    .await;
    for partition in &partition_labels {
        let labels = [("partition", partition.as_str())];
        let position = scraped.get("aftermath_projector_position", &labels);
        let end = scraped.get("aftermath_log_end_offset", &labels);
        if embedded {
            assert_eq!(position, end, "partition {partition}");
        } else {
            assert!(position >= end, "partition {partition}: {position} < {end}");
        }
    }
    assert_eq!(
        scraped.sum("aftermath_projector_facts_folded_total", &[]),
        appended as f64
    );
    let batches = scraped.get("aftermath_projector_batch_facts_count", &[]);
    assert!(batches >= 1.0, "{batches} batches");
    assert_eq!(
        scraped.get("aftermath_projector_batch_facts_sum", &[]),
        appended as f64
    );
    assert_eq!(
        scraped.get("aftermath_projector_commit_duration_seconds_count", &[]),
        batches,
        "one commit per batch"
    );
    app.stop().await;
}

/// A failed schema migration: the classifier makes it E104, severity warning.
fn failed_migration() -> String {
    json!({
        "version": "4", "status": "firing", "receiver": "aftermath",
        "groupKey": "{}:{alertname=\"MigrationJobFailed\"}", "truncatedAlerts": 0,
        "groupLabels": {"alertname": "MigrationJobFailed"},
        "commonLabels": {"alertname": "MigrationJobFailed", "service": "orders"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": "MigrationJobFailed", "service": "orders", "severity": "warning"},
            "annotations": {
                "summary": "Flyway migration V3__add_index.sql failed on orders-db",
                "description": "ERROR: Migration V3__add_index.sql failed\nSQL State  : 42P07"
            },
            "startsAt": "2026-11-24T07:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.example/graph", "fingerprint": "m1"
        }]
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incident_gauges_and_times_to_acknowledge_and_resolve_follow_the_workflow() {
    let data_dir = tempfile::tempdir().unwrap();
    let (mut config, parts) = config_for(Backend::Embedded, data_dir.path()).await;
    // Due the moment it opens: an unacknowledged incident is overdue at once.
    config.ack_policy = AckPolicy::uniform(0);
    let app = spawn_app_from(config, data_dir, parts).await;
    app.notify(&failed_migration()).await;
    app.notify(&webhook("Checkout", "c1", false)).await;
    let incidents = app.incidents("open").await;
    let migration = incidents
        .iter()
        .find(|incident| incident["service"] == "orders")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let scraped = scrape(&app, &app.reader).await;
    let open = |scraped: &Scrape, severity| {
        scraped.get("aftermath_incidents_open", &[("severity", severity)])
    };
    let overdue = |scraped: &Scrape, severity| {
        scraped.get("aftermath_incidents_ack_overdue", &[("severity", severity)])
    };
    assert_eq!(open(&scraped, "warning"), 1.0);
    assert_eq!(open(&scraped, "critical"), 1.0);
    assert_eq!(open(&scraped, "info"), 0.0, "every severity is exported");
    assert_eq!(overdue(&scraped, "warning"), 1.0);
    assert_eq!(overdue(&scraped, "critical"), 1.0);
    assert_eq!(
        scraped.get("aftermath_incidents_sample_truncated", &[]),
        0.0
    );
    assert!(scraped
        .matching("aftermath_incident_time_to_acknowledge_seconds_count", &[])
        .is_empty());

    let ack = app
        .post(&format!("/v1/incidents/{migration}/ack"), &app.alice, "{}")
        .await;
    assert_eq!(ack.status, 200, "{}", ack.text);
    let by_class = [("severity", "warning"), ("class", "E104")];
    let scraped = scrape_until(&app, "the acknowledgement observed", |scraped| {
        scraped.value(
            "aftermath_incident_time_to_acknowledge_seconds_count",
            &by_class,
        ) == Some(1.0)
    })
    .await;
    assert_eq!(overdue(&scraped, "warning"), 0.0, "acknowledged");
    assert_eq!(overdue(&scraped, "critical"), 1.0);
    assert_eq!(open(&scraped, "warning"), 1.0, "acknowledged is still open");
    let ack_seconds = scraped.get(
        "aftermath_incident_time_to_acknowledge_seconds_sum",
        &by_class,
    );
    assert!(ack_seconds >= 0.0, "{ack_seconds}");

    let resolve = app
        .post(
            &format!("/v1/incidents/{migration}/resolve"),
            &app.alice,
            "{}",
        )
        .await;
    assert_eq!(resolve.status, 200, "{}", resolve.text);
    let scraped = scrape_until(&app, "the resolution observed", |scraped| {
        scraped.value(
            "aftermath_incident_time_to_resolve_seconds_count",
            &by_class,
        ) == Some(1.0)
    })
    .await;
    assert_eq!(open(&scraped, "warning"), 0.0);
    assert_eq!(open(&scraped, "critical"), 1.0);
    let resolve_seconds = scraped.get("aftermath_incident_time_to_resolve_seconds_sum", &by_class);
    assert!(
        resolve_seconds >= ack_seconds,
        "{resolve_seconds} < {ack_seconds}"
    );
    // Observed once: folding later facts does not count the milestones again.
    app.notify(&webhook("Later", "l1", false)).await;
    app.caught_up().await;
    let scraped = scrape(&app, &app.reader).await;
    assert_eq!(
        scraped.sum("aftermath_incident_time_to_acknowledge_seconds_count", &[]),
        1.0
    );
    assert_eq!(
        scraped.sum("aftermath_incident_time_to_resolve_seconds_count", &[]),
        1.0
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifier_attempts_are_counted_by_target_and_outcome() {
    // A receiver that fails its first request and takes the rest.
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let router = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            let counter = counter.clone();
            async move {
                if counter.fetch_add(1, Ordering::SeqCst) == 0 {
                    axum::http::StatusCode::SERVICE_UNAVAILABLE
                } else {
                    axum::http::StatusCode::OK
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });

    let data_dir = tempfile::tempdir().unwrap();
    let (mut config, parts) = config_for(Backend::Embedded, data_dir.path()).await;
    config.notify = Some(
        NotifyConfig::parse(&format!(
            "initial_backoff_ms = 20\nmax_attempts = 3\n\n[[webhook]]\nname = \"ops\"\nurl = \"{hook}\"\nformat = \"json\"\nevents = [\"incident.opened\"]\n"
        ))
        .unwrap(),
    );
    let app = spawn_app_from(config, data_dir, parts).await;
    app.notify(FIRING).await;
    let attempts = |scraped: &Scrape, outcome| {
        scraped.value(
            "aftermath_notifier_attempts_total",
            &[("target", "ops"), ("outcome", outcome)],
        )
    };
    let scraped = scrape_until(&app, "the opened event delivered", |scraped| {
        attempts(scraped, "delivered") == Some(1.0)
    })
    .await;
    assert_eq!(attempts(&scraped, "failed"), Some(1.0), "the first attempt");
    assert_eq!(attempts(&scraped, "gave_up"), None);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_projector_only_process_serves_its_metrics_beside_the_probes() {
    let data_dir = tempfile::tempdir().unwrap();
    let (mut config, parts) = config_for(Backend::Embedded, data_dir.path()).await;
    config.role = Role::Projector;
    let app = spawn_app_from(config, data_dir, parts).await;
    let anonymous = app
        .request(reqwest::Method::GET, "/metrics", None, None, &[])
        .await;
    anonymous.assert_error(401, "Authorization");
    app.get("/metrics", &app.ingest)
        .await
        .assert_error(403, "read");
    let scraped = scrape(&app, &app.reader).await;
    assert_eq!(
        scraped.get("aftermath_projector_lag", &[("partition", "0")]),
        0.0
    );
    // Only the probes and the metrics: the API is not served here.
    assert_eq!(app.get("/v1/status", &app.reader).await.status, 404);
    app.stop().await;
}

#[test]
fn the_exposition_parser_refuses_what_prometheus_refuses() {
    let valid = "# HELP up_total Ups.\n# TYPE up_total counter\nup_total{a=\"x\\\"y\"} 3\n";
    let scraped = parse_exposition(valid).unwrap();
    assert_eq!(scraped.get("up_total", &[("a", "x\"y")]), 3.0);
    for invalid in [
        "up_total 3\n",
        "# TYPE up_total counter\nup_total{a=\"x} 3\n",
        "# TYPE up_total counter\nup_total three\n",
        "# TYPE up_total counter\nup_total 1\nup_total 2\n",
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\nh_sum 0\n",
    ] {
        assert!(parse_exposition(invalid).is_err(), "accepted {invalid:?}");
    }
}
