//! Duplicates give one incident and one timeline entry per real state change: the same
//! webhook delivered 100 times at once, and an HA pair of real Alertmanagers that both
//! deliver every notification.

use std::time::Duration;

use aftermath_core::Timestamp;
use serde_json::{json, Value};
use tokio::task::JoinSet;

use crate::real_alertmanager::Alertmanager;
use crate::support::*;

/// Posts `body` to the Alertmanager ingest `copies` times, all in flight at once; every
/// delivery must be answered 2xx (a duplicate is still a success for the sender).
async fn deliver_at_once(app: &TestApp, body: &str, copies: usize) {
    let mut deliveries = JoinSet::new();
    for _ in 0..copies {
        let request = app
            .http
            .post(format!("{}/v1/ingest/alertmanager", app.base))
            .bearer_auth(&app.ingest)
            .header("content-type", "application/json")
            .body(body.to_owned());
        deliveries.spawn(async move { request.send().await.unwrap().status().as_u16() });
    }
    while let Some(status) = deliveries.join_next().await {
        let status = status.unwrap();
        assert!((200..300).contains(&status), "a delivery got {status}");
    }
}

async fn the_same_webhook_100_times_at_once_is_one_incident_and_one_entry_per_change(
    backend: Backend,
) {
    let app = spawn_app_on(backend).await;
    deliver_at_once(&app, FIRING, 100).await;
    app.caught_up().await;
    let incidents = app.incidents("all").await;
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    let id = incidents[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        kinds(&app.timeline(&id).await),
        ["opened", "alert_firing", "alert_firing"]
    );

    deliver_at_once(&app, ONE_RESOLVED, 100).await;
    deliver_at_once(&app, ALL_RESOLVED, 100).await;
    app.caught_up().await;
    let incident = app.only_incident().await;
    assert_eq!(incident["status"], "resolved", "{incident}");
    assert_eq!(kinds(&app.timeline(&id).await), CHECKOUT_FIRED_AND_RESOLVED);
    app.stop().await;
}

/// An Alertmanager that delivers to `app` quickly: groups wait 1 s, resolutions are sent.
fn delivering_to(app: &TestApp) -> String {
    format!(
        "route:\n  receiver: aftermath\n  group_by: [alertname, service]\n  group_wait: 1s\n  \
         group_interval: 1s\n  repeat_interval: 1h\n\
         receivers:\n  - name: aftermath\n    webhook_configs:\n      - url: {}/v1/ingest/alertmanager\n        \
         send_resolved: true\n        max_alerts: 2000\n        http_config:\n          \
         authorization: {{ type: Bearer, credentials: \"{}\" }}\n",
        app.base, app.ingest
    )
}

/// What Prometheus sends to every Alertmanager it knows: the same alerts, the same times.
fn alerts(starts_at: Timestamp, ends_at: Timestamp) -> Value {
    let alert = |instance: &str| {
        json!({
            "labels": {"alertname": "HighErrorRate", "service": "checkout",
                       "severity": "critical", "instance": instance},
            "annotations": {"summary": "Checkout 5xx above 5%"},
            "startsAt": starts_at.to_string(),
            "endsAt": ends_at.to_string(),
            "generatorURL": "http://prometheus.example/graph",
        })
    };
    json!([alert("checkout-1"), alert("checkout-2")])
}

/// Alertmanager ingest requests Aftermath has answered, from its `/metrics`.
async fn alertmanager_requests_answered(app: &TestApp) -> f64 {
    let text = app.get("/metrics", &app.reader).await.text;
    text.lines()
        .filter(|line| {
            line.starts_with("aftermath_ingest_requests_total{")
                && line.contains(r#"source="alertmanager""#)
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Waits until each Alertmanager of the pair has delivered `per_replica` webhooks (none
/// failed) and Aftermath has answered all of them.
async fn delivered_by_both(app: &TestApp, pair: &[Alertmanager], per_replica: f64) {
    for _ in 0..300 {
        let mut all = true;
        for am in pair {
            let failed = am
                .counter("alertmanager_notifications_failed_total", "webhook")
                .await;
            assert_eq!(failed, 0.0, "an Alertmanager failed to deliver");
            all &= am
                .counter("alertmanager_notifications_total", "webhook")
                .await
                >= per_replica;
        }
        // Alertmanager counts a notification as it starts sending it; Aftermath's count
        // says it was answered.
        if all && alertmanager_requests_answered(app).await >= per_replica * pair.len() as f64 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the Alertmanagers did not both deliver {per_replica} notifications");
}

async fn an_alertmanager_ha_pair_both_delivering_makes_one_incident_and_one_entry_per_change(
    backend: Backend,
) {
    let app = spawn_app_on(backend).await;
    // Two replicas that do not gossip, so each delivers every notification itself: the
    // worst an HA pair does (a partitioned pair, or gossip slower than group_wait).
    let config = delivering_to(&app);
    let pair = [
        Alertmanager::start(&config).await,
        Alertmanager::start(&config).await,
    ];
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let http = reqwest::Client::new();
    let send = |body: Value| {
        let http = http.clone();
        let urls: Vec<String> = pair
            .iter()
            .map(|am| format!("{}/api/v2/alerts", am.base))
            .collect();
        async move {
            for url in urls {
                let reply = http.post(url).json(&body).send().await.unwrap();
                assert_eq!(reply.status().as_u16(), 200);
            }
        }
    };
    let started = Timestamp::from_unix_seconds(now - 60).unwrap();
    send(alerts(
        started,
        Timestamp::from_unix_seconds(now + 3600).unwrap(),
    ))
    .await;
    delivered_by_both(&app, &pair, 1.0).await;
    app.caught_up().await;
    let incidents = app.incidents("all").await;
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    let id = incidents[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        kinds(&app.timeline(&id).await),
        ["opened", "alert_firing", "alert_firing"]
    );

    // Prometheus resolves by sending the alerts again with an end in the past.
    send(alerts(
        started,
        Timestamp::from_unix_seconds(now - 1).unwrap(),
    ))
    .await;
    delivered_by_both(&app, &pair, 2.0).await;
    app.caught_up().await;
    let incident = app.only_incident().await;
    assert_eq!(incident["status"], "resolved", "{incident}");
    assert_eq!(kinds(&app.timeline(&id).await), CHECKOUT_FIRED_AND_RESOLVED);
    app.stop().await;
}

crate::on_both_backends!(
    the_same_webhook_100_times_at_once_is_one_incident_and_one_entry_per_change,
    an_alertmanager_ha_pair_both_delivering_makes_one_incident_and_one_entry_per_change,
);
