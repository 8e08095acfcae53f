//! The load generator against live servers: what its report counts is what the server
//! holds afterwards (Aftermath's log and incidents; a real Alertmanager's alerts), so its
//! figures in BENCHMARKS.md mean what they claim.

use aftermath::loadgen::traffic::{Grouping, Population, TrafficShape};
use aftermath::loadgen::{run, LoadPlan, LoadReport, Pace, Stop, Target};
use serde_json::Value;

use crate::real_alertmanager::Alertmanager;
use crate::support::*;

fn shape(per_request: u64, per_group: u64, repeats: f64, cycles: f64) -> TrafficShape {
    TrafficShape {
        population: Population {
            services: 3,
            grouping: Grouping::Fill {
                alerts_per_group: per_group,
            },
        },
        alerts_per_request: per_request,
        repeat_share: repeats,
        cycle_share: cycles,
    }
}

fn aftermath_plan(app: &TestApp, shape: TrafficShape, pace: Pace, batches: u64) -> LoadPlan {
    LoadPlan {
        base_url: app.base.clone(),
        target: Target::Aftermath {
            token: app.loadgen.clone(),
        },
        shape,
        pace,
        stop: Stop::Batches(batches),
        visibility_every: 1,
        wait_for_projections: true,
    }
}

/// What the incidents hold: (incidents, alerts on them, alerts firing on them).
async fn held(app: &TestApp) -> (u64, u64, u64) {
    let incidents = app.incidents("all").await;
    let sum = |field: &str| incidents.iter().map(|i| i[field].as_u64().unwrap()).sum();
    (
        incidents.len() as u64,
        sum("alerts_total"),
        sum("alerts_firing"),
    )
}

fn assert_all_accepted(report: &LoadReport) {
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.requests_ok, report.requests);
    assert_eq!(report.alerts_accepted, report.traffic.alerts);
    assert_eq!(report.latency_ms.count, report.requests_ok);
    assert!(report.latency_ms.p50 <= report.latency_ms.p99);
    assert!(report.latency_ms.p99 <= report.latency_ms.p999);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_new_and_repeated_alerts_are_counted_as_the_api_holds_them() {
    let app = spawn_app().await;
    // Requests of 3 alerts, groups of 6: each request is one webhook, and a repeat
    // re-sends a whole earlier request, byte for byte.
    let plan = aftermath_plan(&app, shape(3, 6, 0.5, 0.0), Pace::Concurrency(4), 60);
    let report = run(plan.clone(), |_| {}).await.unwrap();
    assert_all_accepted(&report);
    let traffic = report.traffic;
    assert_eq!(traffic.batches, 60);
    assert_eq!(report.requests, 60);
    assert_eq!((traffic.new, traffic.repeats), (90, 90));
    assert_eq!(traffic.distinct_alerts, 90);
    assert_eq!(traffic.groups, 15);

    // Every fact the answers counted is on the log, and nothing else is.
    let appended = report.facts_appended.unwrap();
    assert_eq!(app.log_end().await, appended);
    // A new request adds its 3 alerts and its body; a repeat adds nothing, in whichever
    // order the two reached the log.
    assert_eq!(appended, traffic.distinct_alerts + traffic.new / 3);
    assert_eq!(
        appended + report.duplicates.unwrap(),
        report.alerts_accepted + report.requests_ok
    );
    // One incident per group, holding every alert, all firing.
    assert_eq!(held(&app).await, (15, 90, 90));

    // Each request that added alerts was probed (unless 4 probes were running), and each
    // probed alert was seen.
    let visibility = report.visibility.clone().unwrap();
    assert_eq!(visibility.probes + visibility.skipped, traffic.new / 3);
    assert_eq!(visibility.not_seen, 0);
    assert!(report.projected_seconds.unwrap() >= report.seconds);
    assert!(report.summary().contains("facts/s projected"));
    let json: Value = serde_json::to_value(&report).unwrap();
    assert_eq!(json["traffic"]["distinct_alerts"], 90);
    assert_eq!(json["alerts_accepted"], 180);

    // Probes and the final wait read the API: an ingest-only token is refused up front.
    let ingest_only = LoadPlan {
        target: Target::Aftermath {
            token: app.ingest.clone(),
        },
        ..plan
    };
    let error = run(ingest_only, |_| {}).await.unwrap_err().to_string();
    assert!(error.contains("read scope"), "{error}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_firing_and_resolving_opens_the_incidents_the_model_expects() {
    let app = spawn_app().await;
    // One request in flight at a time keeps the log in the order the model made the
    // requests, so the incidents the fold opens are exactly the model's.
    let plan = aftermath_plan(
        &app,
        shape(2, 4, 0.2, 0.5),
        Pace::Rate {
            batches_per_second: 400.0,
            max_in_flight: 1,
        },
        80,
    );
    let report = run(plan, |_| {}).await.unwrap();
    assert_all_accepted(&report);
    let traffic = report.traffic;
    assert!(traffic.resolves > 0 && traffic.refires > 0, "{traffic:?}");
    assert!(traffic.incidents_opened > traffic.groups, "{traffic:?}");
    assert_eq!(app.log_end().await, report.facts_appended.unwrap());
    let (incidents, _, firing) = held(&app).await;
    assert_eq!(incidents, traffic.incidents_opened);
    assert_eq!(firing, traffic.firing);
    let visibility = report.visibility.unwrap();
    assert!(visibility.probes > 0);
    assert_eq!(visibility.not_seen, 0);
    app.stop().await;
}

/// Clustering off, and a receiver that never hears anything during a test.
const SILENT_ALERTMANAGER: &str =
    "route:\n  receiver: nowhere\n  group_by: [alertname, service]\n  \
                                   group_wait: 1h\n  group_interval: 1h\n  repeat_interval: 24h\n\
                                   receivers:\n  - name: nowhere\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alertmanager_target_leaves_alertmanager_holding_the_alerts_still_firing() {
    let am = Alertmanager::start(SILENT_ALERTMANAGER).await;
    let plan = LoadPlan {
        base_url: am.base.clone(),
        target: Target::Alertmanager,
        // Requests spanning groups (10 alerts, groups of 4) go whole to Alertmanager.
        shape: shape(10, 4, 0.4, 0.3),
        pace: Pace::Concurrency(1),
        stop: Stop::Batches(40),
        visibility_every: 0,
        wait_for_projections: false,
    };
    let report = run(plan, |_| {}).await.unwrap();
    assert_all_accepted(&report);
    assert_eq!(report.requests, 40);
    assert_eq!(report.facts_appended, None);
    let traffic = report.traffic;
    assert!(traffic.resolves > 0 && traffic.repeats > 0, "{traffic:?}");

    // Alertmanager lists the alerts that have not ended: the ones the model left firing.
    let alerts: Vec<Value> = reqwest::get(format!("{}/api/v2/alerts", am.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(alerts.len() as u64, traffic.firing, "{traffic:?}");
    let groups: Vec<Value> = reqwest::get(format!("{}/api/v2/alerts/groups", am.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(groups.len() as u64 <= traffic.groups);
    assert!(groups.iter().all(|group| group["labels"]["service"]
        .as_str()
        .unwrap()
        .starts_with("svc-")));
}
