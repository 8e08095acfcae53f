//! The `normalizers` group: one request body to facts, for every sender, on the captured or
//! documented payloads in `tests/fixtures/`. Throughput counts the alerts (or events) a
//! body carries.

use std::hint::black_box;

use aftermath_core::{
    normalize_alertmanager, normalize_cloudevents, normalize_generic, normalize_github,
    normalize_grafana, normalize_pagerduty, normalize_pagerduty_change, CloudEventsMode,
    GithubDelivery,
};
use criterion::{Criterion, Throughput};

use crate::inputs::{self, received_at, TENANT};

pub fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("normalizers");
    let at = received_at();

    // All seven captured bodies per iteration: firing, repeated, partly and fully resolved.
    let captured_alerts: u64 = inputs::ALERTMANAGER_FIXTURES
        .iter()
        .map(|body| inputs::alert_count(body))
        .sum();
    group.throughput(Throughput::Elements(captured_alerts));
    group.bench_function("alertmanager/captured_fixtures", |b| {
        b.iter(|| {
            for body in inputs::ALERTMANAGER_FIXTURES {
                black_box(normalize_alertmanager(black_box(body.as_bytes()), at).unwrap());
            }
        })
    });

    let hundred = inputs::hundred_alert_notification();
    group.throughput(Throughput::Elements(inputs::alert_count(&hundred)));
    group.bench_function("alertmanager/100_alerts", |b| {
        b.iter(|| black_box(normalize_alertmanager(black_box(hundred.as_bytes()), at).unwrap()))
    });

    group.throughput(Throughput::Elements(2));
    group.bench_function("grafana/firing_2_alerts", |b| {
        b.iter(|| {
            black_box(normalize_grafana(black_box(inputs::GRAFANA_FIRING.as_bytes()), at).unwrap())
        })
    });

    group.throughput(Throughput::Elements(1));
    group.bench_function("pagerduty/trigger", |b| {
        b.iter(|| {
            let body = black_box(inputs::PAGERDUTY_TRIGGER.as_bytes());
            black_box(normalize_pagerduty(body, TENANT, "monitoring", "generated", at).unwrap())
        })
    });
    group.bench_function("pagerduty/change", |b| {
        b.iter(|| {
            let body = black_box(inputs::PAGERDUTY_CHANGE.as_bytes());
            black_box(normalize_pagerduty_change(body, TENANT, "ci", at).unwrap())
        })
    });

    group.bench_function("generic/firing", |b| {
        b.iter(|| {
            let body = black_box(inputs::GENERIC_FIRING.as_bytes());
            black_box(normalize_generic(body, TENANT, at).unwrap())
        })
    });
    group.bench_function("cloudevents/structured", |b| {
        b.iter(|| {
            let body = black_box(inputs::CLOUDEVENT_FIRING.as_bytes());
            black_box(normalize_cloudevents(body, CloudEventsMode::Structured, TENANT, at).unwrap())
        })
    });
    group.throughput(Throughput::Elements(2));
    group.bench_function("cloudevents/batch_2_events", |b| {
        b.iter(|| {
            let body = black_box(inputs::CLOUDEVENTS_BATCH.as_bytes());
            black_box(normalize_cloudevents(body, CloudEventsMode::Batch, TENANT, at).unwrap())
        })
    });

    // GitHub's published payloads are 11 and 22 KB of JSON for one failed job or run.
    group.throughput(Throughput::Elements(1));
    for (name, event, body) in [
        (
            "github/workflow_job_failed",
            "workflow_job",
            inputs::GITHUB_JOB_FAILED,
        ),
        (
            "github/workflow_run_failed",
            "workflow_run",
            inputs::GITHUB_RUN_FAILED,
        ),
    ] {
        assert!(
            matches!(
                normalize_github(event, body.as_bytes(), at),
                Ok(GithubDelivery::Facts(_))
            ),
            "{name}: the fixture must become facts, or this measures a refusal"
        );
        group.bench_function(name, |b| {
            b.iter(|| black_box(normalize_github(event, black_box(body.as_bytes()), at).unwrap()))
        });
    }
    group.finish();
}
