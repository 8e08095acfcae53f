//! Alertmanager ingest, replaying notifications captured from a real Alertmanager 0.25.

use crate::support::*;

fn kinds(timeline: &[serde_json::Value]) -> Vec<&str> {
    timeline
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect()
}

async fn captured_notifications_make_one_incident_per_group_and_auto_resolve(backend: Backend) {
    let app = spawn_app_on(backend).await;
    for body in [
        FIRING,
        REPEAT,
        ONE_RESOLVED,
        ALL_RESOLVED,
        BILLING_FIRING,
        BILLING_RESOLVED,
    ] {
        app.notify(body).await;
    }
    let incidents = app.incidents("all").await;
    assert_eq!(incidents.len(), 2, "{incidents:?}");
    for incident in &incidents {
        assert_eq!(incident["status"], "resolved", "{incident}");
        assert_eq!(incident["resolved_by"], "alertmanager");
        assert_eq!(incident["alerts_firing"], 0);
    }
    let checkout = incidents
        .iter()
        .find(|i| i["service"] == "checkout")
        .unwrap();
    assert_eq!(checkout["title"], "High HTTP 5xx error rate on checkout");
    assert_eq!(checkout["alerts_total"], 2);
    let timeline = app.timeline(checkout["id"].as_str().unwrap()).await;
    assert_eq!(
        kinds(&timeline),
        [
            "opened",
            "alert_firing",
            "alert_firing",
            "alert_resolved",
            "alert_resolved",
            "auto_resolved"
        ]
    );

    // The same alerts firing again after resolution open a new incident.
    app.notify(FIRING_AGAIN).await;
    let open = app.incidents("open").await;
    assert_eq!(open.len(), 1);
    assert_eq!(open[0]["service"], "checkout");
    assert_ne!(open[0]["id"], checkout["id"]);
    app.stop().await;
}

async fn a_resent_notification_adds_nothing(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let first = app.notify(FIRING).await;
    assert_eq!(first["status"], "accepted");
    assert_eq!(first["facts_appended"], 3);
    let id = app.only_incident().await["id"].as_str().unwrap().to_owned();
    let before = app.timeline(&id).await;
    let log_before = app.log_end().await;

    let again = app.notify(REPEAT).await;
    // Both logs recognise the fact ids and write nothing (Kafka: ids it saw acknowledged;
    // a repeat that reaches the topic anyway is dropped by the fold).
    assert_eq!(again["status"], "duplicate");
    assert_eq!(again["facts_appended"], 0);
    assert_eq!(again["duplicates"], 3);
    assert_eq!(app.log_end().await, log_before);
    assert_eq!(app.timeline(&id).await, before);
    app.stop().await;
}

async fn per_alert_state_is_kept_and_the_group_status_never_overwrites_it(backend: Backend) {
    let app = spawn_app_on(backend).await;
    app.notify(FIRING).await;
    app.notify(ONE_RESOLVED).await;
    let incident = app.only_incident().await;
    assert_eq!(incident["status"], "triggered");
    let detail = app
        .get(
            &format!("/v1/incidents/{}", incident["id"].as_str().unwrap()),
            &app.reader,
        )
        .await
        .json();
    let mut states: Vec<_> = detail["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["labels"]["instance"].as_str().unwrap().to_owned(),
                a["status"].as_str().unwrap().to_owned(),
                a["ends_at"].is_null(),
            )
        })
        .collect();
    states.sort();
    assert_eq!(
        states,
        [
            ("checkout-1:8080".to_owned(), "resolved".to_owned(), false),
            ("checkout-2:8080".to_owned(), "firing".to_owned(), true)
        ]
    );
    app.stop().await;
}

async fn truncated_alerts_show_on_the_timeline(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let body = FIRING.replace(r#""truncatedAlerts":0"#, r#""truncatedAlerts":12"#);
    app.notify(&body).await;
    let id = app.only_incident().await["id"].as_str().unwrap().to_owned();
    let timeline = app.timeline(&id).await;
    let last = timeline.last().unwrap();
    assert_eq!(last["kind"], "alerts_truncated");
    assert!(
        last["text"].as_str().unwrap().contains("left out 12"),
        "{last}"
    );
    app.stop().await;
}

crate::on_both_backends!(
    captured_notifications_make_one_incident_per_group_and_auto_resolve,
    a_resent_notification_adds_nothing,
    per_alert_state_is_kept_and_the_group_status_never_overwrites_it,
    truncated_alerts_show_on_the_timeline,
);
