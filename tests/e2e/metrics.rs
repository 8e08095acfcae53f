//! The managers' metrics summary over HTTP: MTTA, MTTR, counts per class, severity,
//! service and week for the incidents opened in a window, on both backends.

use serde_json::{json, Value};

use crate::on_both_backends;
use crate::support::*;

/// A failed schema migration on `orders`: the classifier makes it E104.
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

fn group<'a>(rows: &'a Value, key: &str) -> &'a Value {
    rows.as_array()
        .unwrap()
        .iter()
        .find(|row| row["key"] == key)
        .unwrap_or_else(|| panic!("no row {key} in {rows}"))
}

async fn summary(app: &TestApp, query: &str) -> Value {
    let reply = app
        .get(&format!("/v1/metrics/summary{query}"), &app.reader)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json()
}

async fn summarizes_the_incidents_of_a_window(backend: Backend) {
    let app = spawn_app_on(backend).await;
    app.notify(&webhook("Checkout", "c1", false)).await;
    app.notify(&webhook("Payments", "p1", false)).await;
    app.notify(&failed_migration()).await;
    app.caught_up().await;
    let incidents = app.incidents("all").await;
    let checkout = incidents
        .iter()
        .find(|incident| incident["title"] == "Checkout is failing")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ack = app
        .post(&format!("/v1/incidents/{checkout}/ack"), &app.alice, "{}")
        .await;
    assert_eq!(ack.status, 200, "{}", ack.text);
    let resolve = app
        .post(
            &format!("/v1/incidents/{checkout}/resolve"),
            &app.alice,
            "{}",
        )
        .await;
    assert_eq!(resolve.status, 200, "{}", resolve.text);

    let all = summary(&app, "").await;
    assert_eq!(all["incidents"], 3, "{all}");
    assert_eq!(all["open"], 2);
    assert_eq!(all["resolved"], 1);
    assert_eq!(all["acknowledged"], 1);
    assert_eq!(all["acknowledged_within_target"], 1);
    assert_eq!(all["resolved_within_target"], 1);
    assert_eq!(
        all["targets"],
        json!({"ack_seconds": 300, "fix_seconds": 3600})
    );
    // Acknowledged and resolved within this test: well inside the targets.
    assert!(all["mtta_seconds"].as_i64().unwrap() < 300, "{all}");
    assert!(all["mttr_seconds"].as_i64().unwrap() < 3600, "{all}");
    assert_eq!(all["service"], Value::Null);
    assert_eq!(group(&all["by_service"], "svc")["incidents"], 2);
    assert_eq!(group(&all["by_service"], "orders")["incidents"], 1);
    assert_eq!(group(&all["by_class"], "E104")["incidents"], 1);
    assert_eq!(group(&all["by_class"], "unclassified")["incidents"], 2);
    assert_eq!(all["by_class"].as_array().unwrap().len(), 6);
    assert_eq!(all["by_severity"]["critical"]["incidents"], 2);
    assert_eq!(all["by_severity"]["warning"]["incidents"], 1);
    // Twelve weeks by default, every week listed; this week holds all three.
    let weeks = all["by_week"].as_array().unwrap();
    assert!((12..=13).contains(&weeks.len()), "{weeks:?}");
    assert_eq!(weeks.last().unwrap()["incidents"], 3);
    let counted: u64 = weeks.iter().map(|w| w["incidents"].as_u64().unwrap()).sum();
    assert_eq!(counted, 3);

    let orders = summary(&app, "?service=orders").await;
    assert_eq!(orders["service"], "orders");
    assert_eq!(orders["incidents"], 1);
    assert_eq!(orders["mtta_seconds"], Value::Null);

    let past = summary(&app, "?from=2020-01-06&to=2020-02-03").await;
    assert_eq!(past["incidents"], 0);
    assert_eq!(past["by_week"].as_array().unwrap().len(), 4);
    assert_eq!(past["by_week"][0]["week_start"], "2020-01-06");
    app.stop().await;
}

on_both_backends!(summarizes_the_incidents_of_a_window);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_windows_and_missing_scopes_are_refused() {
    let app = spawn_app().await;
    for (query, needle) in [
        ("?from=yesterday", "from: \"yesterday\""),
        ("?from=2026-11-10&to=2026-11-01", "must be before"),
        ("?from=1990-01-01", "longer than 520 weeks"),
        ("?owner=alice", "unknown parameter \"owner\""),
    ] {
        app.get(&format!("/v1/metrics/summary{query}"), &app.reader)
            .await
            .assert_error(400, needle);
    }
    app.get("/v1/metrics/summary", &app.ingest)
        .await
        .assert_error(403, "read");
    app.get("/v1/metrics/summary", "not-a-token")
        .await
        .assert_error(401, "unknown or revoked token");
    app.stop().await;
}
