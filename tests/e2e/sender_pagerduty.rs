//! PagerDuty Events API v2 over real HTTP, and the real Alertmanager binary sending to
//! `/v2/enqueue` through its `pagerduty_configs`.

use std::time::Duration;

use serde_json::{json, Value};

use crate::real_alertmanager::Alertmanager;
use crate::support::*;

const TRIGGER: &str = include_str!("../fixtures/pagerduty/trigger.json");

/// The documented trigger example, routed with `routing_key`.
fn trigger(routing_key: &str) -> String {
    let mut event: Value = serde_json::from_str(TRIGGER).unwrap();
    event["routing_key"] = json!(routing_key);
    event.to_string()
}

fn action(routing_key: &str, action: &str, dedup_key: &str) -> String {
    json!({"routing_key": routing_key, "event_action": action, "dedup_key": dedup_key}).to_string()
}

async fn enqueue(app: &TestApp, body: &str) -> Reply {
    app.request(
        reqwest::Method::POST,
        "/v2/enqueue",
        None,
        Some(body.to_owned()),
        &[],
    )
    .await
}

#[tokio::test]
async fn trigger_repeat_acknowledge_resolve_as_pagerduty_does() {
    let app = spawn_app().await;
    let reply = enqueue(&app, &trigger(&app.ingest)).await;
    assert_eq!(reply.status, 202, "{}", reply.text);
    assert_eq!(
        reply.json(),
        json!({"status": "success", "message": "Event processed", "dedup_key": "samplekeyhere"})
    );
    let incident = app.only_incident().await;
    let id = incident["id"].as_str().unwrap().to_owned();
    assert_eq!(incident["title"], "Example alert on host1.example.com");
    assert_eq!(incident["severity"], "info");
    assert_eq!(incident["service"], "prod-datapipe");
    let before = app.timeline(&id).await;

    assert_eq!(enqueue(&app, &trigger(&app.ingest)).await.status, 202);
    assert_eq!(
        app.timeline(&id).await,
        before,
        "a repeated trigger adds nothing"
    );

    assert_eq!(
        enqueue(&app, &action(&app.ingest, "acknowledge", "samplekeyhere"))
            .await
            .status,
        202
    );
    let incident = app.only_incident().await;
    assert_eq!(incident["status"], "acknowledged");
    assert_eq!(incident["acknowledged_by"], "alertmanager");

    assert_eq!(
        enqueue(&app, &action(&app.ingest, "resolve", "samplekeyhere"))
            .await
            .status,
        202
    );
    let incident = app.only_incident().await;
    assert_eq!(incident["status"], "resolved");

    // Acknowledge and resolve for a key with no open incident: accepted, nothing changes.
    for verb in ["acknowledge", "resolve"] {
        let reply = enqueue(&app, &action(&app.ingest, verb, "samplekeyhere")).await;
        assert_eq!(reply.status, 202, "{}", reply.text);
    }
    assert_eq!(app.incidents("all").await.len(), 1);
    assert_eq!(app.only_incident().await["status"], "resolved");
    app.stop().await;
}

#[tokio::test]
async fn a_trigger_without_dedup_key_gets_one_generated() {
    let app = spawn_app().await;
    let mut event: Value = serde_json::from_str(&trigger(&app.ingest)).unwrap();
    event.as_object_mut().unwrap().remove("dedup_key");
    let reply = enqueue(&app, &event.to_string()).await;
    assert_eq!(reply.status, 202, "{}", reply.text);
    let key = reply.json()["dedup_key"].as_str().unwrap().to_owned();
    assert!(!key.is_empty() && key != "samplekeyhere");
    enqueue(&app, &action(&app.ingest, "resolve", &key)).await;
    assert_eq!(app.only_incident().await["status"], "resolved");
    app.stop().await;
}

#[tokio::test]
async fn invalid_events_and_keys_are_refused_as_pagerduty_does_and_append_nothing() {
    let app = spawn_app().await;
    let reply = enqueue(
        &app,
        &json!({"routing_key": app.ingest, "event_action": "trigger", "payload": {"summary": "x"}})
            .to_string(),
    )
    .await;
    assert_eq!(reply.status, 400, "{}", reply.text);
    let body = reply.json();
    assert_eq!(body["status"], "invalid event");
    assert_eq!(body["message"], "Event object is invalid");
    let errors: Vec<String> = serde_json::from_value(body["errors"].clone()).unwrap();
    assert_eq!(
        errors,
        [
            "'payload.source' is missing or blank",
            "'payload.severity' must be one of critical, error, warning, info"
        ]
    );

    let unknown = enqueue(&app, &trigger("not-a-token")).await;
    assert_eq!(unknown.status, 401, "{}", unknown.text);
    let reader = enqueue(&app, &trigger(&app.reader)).await;
    assert_eq!(reader.status, 401, "{}", reader.text);
    let missing = enqueue(&app, r#"{"event_action":"trigger"}"#).await;
    assert_eq!(missing.status, 400);
    assert!(missing.text.contains("routing_key"), "{}", missing.text);

    let mut huge: Value = serde_json::from_str(&trigger(&app.ingest)).unwrap();
    huge["payload"]["custom_details"]["blob"] = json!("x".repeat(600 * 1024));
    let too_large = enqueue(&app, &huge.to_string()).await;
    assert_eq!(too_large.status, 413, "{}", too_large.text);
    assert_eq!(too_large.json()["status"], "invalid event");

    assert_eq!(app.log_end().await, 0);
    app.stop().await;
}

/// A real Alertmanager sending to Aftermath's `/v2/enqueue` through `pagerduty_configs`.
async fn alertmanager_to(aftermath: &str, routing_key: &str) -> Alertmanager {
    Alertmanager::start(&format!(
        "route:\n  receiver: aftermath\n  group_by: [alertname]\n  group_wait: 1s\n  \
         group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n  - name: aftermath\n    \
         pagerduty_configs:\n      - routing_key: {routing_key}\n        url: {aftermath}/v2/enqueue\n        \
         send_resolved: true\n"
    ))
    .await
}

/// Posts the DiskFull alert to Alertmanager, ending at `ends_at`, as Prometheus would.
async fn post_alert(alertmanager: &Alertmanager, ends_at: &str) {
    let alert = json!([{
        "labels": {"alertname": "DiskFull", "service": "billing", "severity": "critical", "instance": "db-1"},
        "annotations": {"summary": "Disk almost full on db-1"},
        "startsAt": "2026-11-24T07:00:00Z",
        "endsAt": ends_at,
        "generatorURL": "http://prometheus.example/graph"
    }]);
    let reply = reqwest::Client::new()
        .post(format!("{}/api/v2/alerts", alertmanager.base))
        .json(&alert)
        .send()
        .await
        .unwrap();
    assert!(
        reply.status().is_success(),
        "{}",
        reply.text().await.unwrap()
    );
}

async fn wait_for_status(app: &TestApp, status: &str) -> Value {
    for _ in 0..600 {
        let incidents = app.incidents("all").await;
        if let Some(incident) = incidents.iter().find(|i| i["status"] == status) {
            return incident.clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no {status} incident arrived from Alertmanager");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_alertmanager_opens_and_resolves_incidents_through_pagerduty_configs() {
    let app = spawn_app().await;
    let alertmanager = alertmanager_to(&app.base, &app.ingest).await;
    let far_future = "2099-01-01T00:00:00Z";
    post_alert(&alertmanager, far_future).await;
    let incident = wait_for_status(&app, "triggered").await;
    assert!(
        incident["title"].as_str().unwrap().contains("DiskFull"),
        "{incident}"
    );

    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    post_alert(&alertmanager, &now).await;
    let resolved = wait_for_status(&app, "resolved").await;
    assert_eq!(resolved["id"], incident["id"]);
    assert_eq!(app.incidents("all").await.len(), 1);
    app.stop().await;
}

const CHANGE: &str = include_str!("../fixtures/pagerduty/change.json");

/// The documented change event, for `service`, `minutes_ago` before now.
fn change(routing_key: &str, service: &str, minutes_ago: i64, summary: &str) -> String {
    let at = time::OffsetDateTime::now_utc() - time::Duration::minutes(minutes_ago);
    let mut event: Value = serde_json::from_str(CHANGE).unwrap();
    event["routing_key"] = json!(routing_key);
    event["payload"]["summary"] = json!(summary);
    event["payload"]["timestamp"] = json!(at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap());
    event["payload"]["custom_details"]["service"] = json!(service);
    event.to_string()
}

async fn change_enqueue(app: &TestApp, body: &str) -> Reply {
    app.request(
        reqwest::Method::POST,
        "/v2/change/enqueue",
        None,
        Some(body.to_owned()),
        &[],
    )
    .await
}

#[tokio::test]
async fn changes_shortly_before_an_incident_show_on_it_as_suspects() {
    let app = spawn_app().await;
    let deploy = change(&app.ingest, "checkout", 10, "Deploy checkout v1.4.3");
    let reply = change_enqueue(&app, &deploy).await;
    assert_eq!(reply.status, 202, "{}", reply.text);
    assert_eq!(
        reply.json(),
        json!({"status": "success", "message": "Change event processed"})
    );
    // The same change resent, another service's change, and one outside the 2 h window.
    assert_eq!(change_enqueue(&app, &deploy).await.status, 202);
    change_enqueue(&app, &change(&app.ingest, "billing", 5, "Deploy billing")).await;
    change_enqueue(
        &app,
        &change(&app.ingest, "checkout", 180, "Old checkout deploy"),
    )
    .await;
    let refused = change_enqueue(
        &app,
        &json!({"routing_key": app.ingest, "payload": {}}).to_string(),
    )
    .await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert_eq!(
        refused.json()["errors"][0],
        "'payload.summary' is missing or blank"
    );

    app.notify(FIRING).await;
    let id = app.only_incident().await["id"].as_str().unwrap().to_owned();
    let timeline = app.timeline(&id).await;
    let suspects: Vec<_> = timeline
        .iter()
        .filter(|entry| entry["kind"] == "suspect_change")
        .map(|entry| entry["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        suspects,
        ["Suspect change (pagerduty): Deploy checkout v1.4.3"]
    );
    assert_eq!(
        timeline[0]["kind"], "suspect_change",
        "a suspect change comes first"
    );
    let detail = app
        .get(&format!("/v1/incidents/{id}"), &app.reader)
        .await
        .json();
    assert_eq!(detail["suspect_changes"].as_array().unwrap().len(), 1);
    assert_eq!(
        detail["suspect_changes"][0]["summary"],
        "Deploy checkout v1.4.3"
    );
    app.stop().await;
}
