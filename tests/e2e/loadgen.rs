//! The load generator against a live instance: it sends what it says and waits for the
//! projections, so its figures in BENCHMARKS.md mean what they claim.

use aftermath::loadgen::{run, LoadPlan};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loadgen_sends_every_notification_and_waits_for_the_projections() {
    let app = spawn_app().await;
    let plan = LoadPlan {
        base_url: app.base.clone(),
        token: app.loadgen.clone(),
        notifications: 60,
        alerts_per_notification: 2,
        concurrency: 4,
        groups: 7,
    };
    let report = run(plan.clone(), |_| {}).await.unwrap();
    assert_eq!(report.notifications, 60);
    // Each notification: two alert facts and the notification with its raw body.
    assert_eq!(report.facts_appended, 180);
    assert!(report.summary().contains("facts/s projected"));
    // It returned only once nothing was left to fold.
    assert_eq!(app.log_end().await, 180);
    assert_eq!(app.incidents("all").await.len(), 7);

    let ingest_only = LoadPlan {
        token: app.ingest.clone(),
        ..plan
    };
    let error = run(ingest_only, |_| {}).await.unwrap_err().to_string();
    assert!(error.contains("read scope"), "{error}");
    app.stop().await;
}
