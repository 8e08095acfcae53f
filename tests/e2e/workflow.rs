//! The responder workflow over HTTP, walking the SOP's own example (connection-pool
//! exhaustion): alert, acknowledge, five whys exactly as the SOP writes them, root cause,
//! mitigation, impact, resolution, action items.

use serde_json::{json, Value};

use crate::support::*;

async fn act(app: &TestApp, token: &str, path: &str, body: Value) -> Value {
    let reply = app.post(path, token, &body.to_string()).await;
    assert_eq!(reply.status, 200, "{path}: {}", reply.text);
    reply.json()["incident"].clone()
}

fn connection_timeouts() -> String {
    webhook("ApiConnectionTimeouts", "pool-1", false)
}

/// The SOP's five whys, word for word.
const WHYS: [(&str, &str); 5] = [
    ("Why did the API fail?", "Database connection timeout"),
    ("Why did the timeout occur?", "Connection pool exhausted"),
    ("Why was pool exhausted?", "Leaked connections not closed"),
    (
        "Why weren't they closed?",
        "Missing finally block in worker.py:145",
    ),
    ("Why was it missing?", "Code review didn't catch it"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sops_connection_pool_incident_from_alert_to_action_items() {
    let app = spawn_app().await;
    app.notify(&connection_timeouts()).await;
    let id = app.only_incident().await["id"].as_str().unwrap().to_owned();
    let at = |action: &str| format!("/v1/incidents/{id}/{action}");

    act(
        &app,
        &app.alice,
        &at("ack"),
        json!({"note": "Investigating"}),
    )
    .await;
    act(&app, &app.alice, &at("commander"), json!({"name": "alice"})).await;
    act(
        &app,
        &app.bob,
        &at("links"),
        json!({"url": "https://grafana.example/d/db-pool", "title": "DB pool dashboard"}),
    )
    .await;
    for (question, answer) in WHYS {
        act(
            &app,
            &app.bob,
            &at("whys"),
            json!({"question": question, "answer": answer}),
        )
        .await;
    }
    act(
        &app,
        &app.alice,
        &at("root-cause"),
        json!({"text": "Connection leak in worker.py, missing proper cleanup"}),
    )
    .await;
    act(
        &app,
        &app.alice,
        &at("mitigate"),
        json!({"note": "Restarted the workers to release connections"}),
    )
    .await;
    act(
        &app,
        &app.bob,
        &at("impact"),
        json!({
            "summary": "API requests failed with timeouts", "failed_requests": 156,
            "data_loss": false, "customer_facing": true, "downtime_seconds": 2520
        }),
    )
    .await;
    act(
        &app,
        &app.alice,
        &at("resolve"),
        json!({"resolution": "Added proper connection cleanup with try/finally block"}),
    )
    .await;
    for (title, owner, kind) in [
        ("Audit all database connection usage", "OpenCode", "prevent"),
        ("Add pool exhaustion alert", "Molt", "prevent"),
        ("Update developer docs", "OpenCode", "process"),
    ] {
        act(
            &app,
            &app.alice,
            &at("action-items"),
            json!({"title": title, "owner": owner, "kind": kind, "due": "2026-12-15"}),
        )
        .await;
    }
    let detail = app
        .get(&format!("/v1/incidents/{id}"), &app.reader)
        .await
        .json();
    let first_item = detail["action_items"][0]["id"].as_str().unwrap().to_owned();
    let done = act(
        &app,
        &app.bob,
        &at(&format!("action-items/{first_item}/done")),
        json!({}),
    )
    .await;
    assert_eq!(done["action_items"][0]["done_by"], "bob");

    let detail = app
        .get(&format!("/v1/incidents/{id}"), &app.reader)
        .await
        .json();
    assert_eq!(detail["status"], "resolved");
    assert_eq!(detail["commander"], "alice");
    assert_eq!(detail["mitigated_by"], "alice");
    let whys: Vec<(String, String, String)> = detail["whys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|why| {
            (
                why["question"].as_str().unwrap().to_owned(),
                why["answer"].as_str().unwrap().to_owned(),
                why["asked_by"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: Vec<_> = WHYS
        .iter()
        .map(|(q, a)| (q.to_string(), a.to_string(), "bob".to_owned()))
        .collect();
    assert_eq!(whys, expected);
    assert_eq!(
        detail["root_cause"]["text"],
        "Connection leak in worker.py, missing proper cleanup"
    );
    assert_eq!(detail["impact"]["failed_requests"], 156);
    assert_eq!(
        detail["downtime_seconds"], 2520,
        "the recorded downtime overrides the derived one"
    );
    let owners: Vec<&str> = detail["action_items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["owner"].as_str().unwrap())
        .collect();
    assert_eq!(owners, ["OpenCode", "Molt", "OpenCode"]);
    assert_eq!(detail["links"][0]["title"], "DB pool dashboard");

    // Across incidents: OpenCode's open items, and everybody's done ones.
    let open = app
        .get("/v1/action-items?owner=OpenCode&open=true", &app.reader)
        .await
        .json();
    let titles: Vec<&str> = open["action_items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Update developer docs"]);
    assert_eq!(open["action_items"][0]["incident_id"], id.as_str());
    let done = app
        .get("/v1/action-items?open=false", &app.reader)
        .await
        .json();
    assert_eq!(done["action_items"].as_array().unwrap().len(), 1);
    app.get("/v1/action-items?open=maybe", &app.reader)
        .await
        .assert_error(400, "open");
    app.get("/v1/action-items", &app.ingest)
        .await
        .assert_error(403, "read");

    let people: Vec<(String, String)> = app
        .timeline(&id)
        .await
        .iter()
        .filter(|entry| entry["actor"] != "alertmanager")
        .map(|entry| {
            (
                entry["kind"].as_str().unwrap().to_owned(),
                entry["actor"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let kinds: Vec<&str> = people.iter().map(|(kind, _)| kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "acknowledged",
            "commander_assigned",
            "link_added",
            "why_added",
            "why_added",
            "why_added",
            "why_added",
            "why_added",
            "root_cause_stated",
            "mitigated",
            "impact_recorded",
            "resolved",
            "action_item_added",
            "action_item_added",
            "action_item_added",
            "action_item_done",
        ]
    );
    assert_eq!(people[3].1, "bob");
    assert_eq!(people[9].1, "alice");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflow_requests_that_make_no_sense_are_refused_and_append_nothing() {
    let app = spawn_app().await;
    app.notify(&connection_timeouts()).await;
    let id = app.only_incident().await["id"].as_str().unwrap().to_owned();
    let at = |action: &str| format!("/v1/incidents/{id}/{action}");
    let log_end = app.log_end().await;

    app.post(&at("reopen"), &app.alice, "{}")
        .await
        .assert_error(409, "still open");
    app.post(&at("root-cause"), &app.alice, "{}")
        .await
        .assert_error(409, "no whys");
    app.post(
        &at("whys/1"),
        &app.alice,
        r#"{"question":"q","answer":"a"}"#,
    )
    .await;
    let amend_unknown = app
        .request(
            reqwest::Method::PUT,
            &at("whys/1"),
            Some(&app.alice),
            Some(r#"{"question":"q","answer":"a"}"#.into()),
            &[],
        )
        .await;
    amend_unknown.assert_error(404, "no why");
    app.post(
        &at("severity"),
        &app.alice,
        r#"{"severity":"urgent","reason":"x"}"#,
    )
    .await
    .assert_error(400, "severity");
    app.post(
        &at("severity"),
        &app.alice,
        r#"{"severity":"critical","reason":"x"}"#,
    )
    .await
    .assert_error(409, "already critical");
    app.post(
        &at("action-items"),
        &app.alice,
        r#"{"title":"t","owner":"o","kind":"someday"}"#,
    )
    .await
    .assert_error(400, "kind");
    app.post(
        &at("action-items"),
        &app.alice,
        r#"{"title":"t","owner":"o","kind":"prevent","due":"next week"}"#,
    )
    .await
    .assert_error(400, "due");
    app.post(
        &at("links"),
        &app.alice,
        r#"{"url":"javascript:alert(1)","title":"x"}"#,
    )
    .await
    .assert_error(400, "url");
    app.post(&at("whys"), &app.alice, r#"{"question":" ","answer":"a"}"#)
        .await
        .assert_error(400, "question");
    app.post(&at("mitigate"), &app.reader, "{}")
        .await
        .assert_error(403, "respond");
    assert_eq!(
        app.log_end().await,
        log_end,
        "nothing refused reached the log"
    );

    // A why amended keeps its history; the root cause defaults to the last answer.
    act(
        &app,
        &app.alice,
        &at("whys"),
        json!({"question": "Why?", "answer": "Pool too small"}),
    )
    .await;
    let amend = app
        .request(
            reqwest::Method::PUT,
            &at("whys/1"),
            Some(&app.bob),
            Some(json!({"question": "Why?", "answer": "Connections leaked"}).to_string()),
            &[],
        )
        .await;
    assert_eq!(amend.status, 200, "{}", amend.text);
    let incident = act(&app, &app.alice, &at("root-cause"), json!({})).await;
    assert_eq!(incident["root_cause"]["text"], "Connections leaked");
    assert_eq!(incident["whys"][0]["asked_answer"], "Pool too small");
    assert_eq!(
        incident["whys"][0]["amendments"].as_array().unwrap().len(),
        1
    );

    // Resolve, then mitigation is refused and a reopen within the window is not.
    act(&app, &app.alice, &at("resolve"), json!({})).await;
    app.post(&at("mitigate"), &app.alice, "{}")
        .await
        .assert_error(409, "already resolved");
    let reopened = act(
        &app,
        &app.bob,
        &at("reopen"),
        json!({"reason": "errors are back"}),
    )
    .await;
    assert_eq!(reopened["status"], "triggered");
    assert!(reopened["resolved_at"].is_null());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_acknowledgement_sla_shows_on_incidents_and_filters_the_overdue_ones() {
    // The SOP's default: acknowledge within 5 minutes.
    let app = spawn_app().await;
    app.notify(&connection_timeouts()).await;
    let incident = app.only_incident().await;
    let opened = time::OffsetDateTime::parse(
        incident["opened_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let due = time::OffsetDateTime::parse(
        incident["ack_due_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!((due - opened).whole_seconds(), 300);
    assert_eq!(incident["ack_breached"], false);
    let overdue = app
        .get("/v1/incidents?overdue=true", &app.reader)
        .await
        .json();
    assert!(overdue["incidents"].as_array().unwrap().is_empty());
    app.get("/v1/incidents?overdue=maybe", &app.reader)
        .await
        .assert_error(400, "overdue");
    app.stop().await;

    // With a zero SLA every unacknowledged incident is overdue at once.
    let data_dir = tempfile::tempdir().unwrap();
    let mut config = aftermath::Config::new(data_dir.path(), "127.0.0.1:0".parse().unwrap());
    config.ack_policy = aftermath_core::AckPolicy::uniform(0);
    let app = spawn_app_from(config, data_dir, None).await;
    app.notify(&webhook("Waiting", "w-1", false)).await;
    app.notify(&webhook("Handled", "h-1", false)).await;
    let handled = app
        .incidents("all")
        .await
        .into_iter()
        .find(|i| i["title"] == "Handled is failing")
        .unwrap();
    let handled_id = handled["id"].as_str().unwrap();
    act(
        &app,
        &app.alice,
        &format!("/v1/incidents/{handled_id}/ack"),
        json!({}),
    )
    .await;
    let overdue = app
        .get("/v1/incidents?overdue=true", &app.reader)
        .await
        .json();
    let titles: Vec<&str> = overdue["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Waiting is failing"]);
    assert_eq!(overdue["incidents"][0]["ack_breached"], true);
    app.stop().await;
}
