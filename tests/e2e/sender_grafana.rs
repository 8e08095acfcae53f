//! End-to-end tests of the Grafana unified alerting webhook sender (`POST|PUT
//! /v1/ingest/grafana`), replaying the payload example of Grafana's documentation, with
//! and without Grafana's HMAC signature.

use reqwest::Method;
use serde_json::{json, Value};

use crate::support::*;

const FIRING: &str = include_str!("../fixtures/grafana/firing.json");
const RESOLVED: &str = include_str!("../fixtures/grafana/resolved.json");
const PATH: &str = "/v1/ingest/grafana";
const SIGNING_SECRET: &str = "grafana-hmac-secret-0123";

async fn send(app: &TestApp, method: Method, token: &str, body: &str) -> Reply {
    app.request(method, PATH, Some(token), Some(body.to_owned()), &[])
        .await
}

#[track_caller]
fn assert_accepted(reply: &Reply) {
    assert_eq!(reply.status, 202, "{}", reply.text);
}

fn alert_annotations(detail: &Value, fingerprint: &str) -> Value {
    detail["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|alert| alert["fingerprint"] == fingerprint)
        .unwrap_or_else(|| panic!("no alert {fingerprint} in {detail}"))["annotations"]
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_firing_group_opens_an_incident_a_repeat_adds_nothing_and_resolving_resolves_it() {
    let app = spawn_app().await;
    let first = app.post(PATH, &app.ingest, FIRING).await;
    assert_accepted(&first);
    assert_eq!(first.json()["stream_key"], "grafana:org1/{}:{}");
    let incident = app.only_incident().await;
    assert_eq!(incident["status"], "triggered");
    assert_eq!(incident["title"], "[FIRING:2]  (blue)");
    assert_eq!(incident["alerts_total"], 2);
    assert_eq!(incident["alerts_firing"], 2);
    let id = incident["id"].as_str().unwrap().to_owned();
    let detail = app
        .get(&format!("/v1/incidents/{id}"), &app.reader)
        .await
        .json();
    let annotations = alert_annotations(&detail, "c6eadffa33fcdf37");
    assert_eq!(
        annotations["silenceURL"],
        "https://play.grafana.org/alerting/silence/new?alertmanager=grafana&matchers=alertname%3DT2%2Cteam%3Dblue%2Czone%3Dus-1"
    );
    assert_eq!(annotations["values"], "B=44.23943737541908, C=1");
    let timeline = app.timeline(&id).await;

    // Grafana re-sends the group every repeat interval: nothing new on the timeline.
    let repeat = app.post(PATH, &app.ingest, FIRING).await;
    assert_accepted(&repeat);
    assert_eq!(repeat.json()["status"], "duplicate");
    assert_eq!(app.timeline(&id).await, timeline);
    assert_eq!(app.incidents("all").await.len(), 1);

    let resolved = app.post(PATH, &app.ingest, RESOLVED).await;
    assert_accepted(&resolved);
    let incident = app.only_incident().await;
    assert_eq!(incident["id"], id.as_str());
    assert_eq!(incident["status"], "resolved");
    assert_eq!(incident["alerts_firing"], 0);
    assert!(app.incidents("open").await.is_empty());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_works_like_post() {
    let app = spawn_app().await;
    assert_accepted(&send(&app, Method::PUT, &app.ingest, FIRING).await);
    assert_eq!(app.only_incident().await["status"], "triggered");
    // The same notification by POST is the same facts.
    let again = send(&app, Method::POST, &app.ingest, FIRING).await;
    assert_eq!(again.json()["status"], "duplicate");
    assert_accepted(&send(&app, Method::PUT, &app.ingest, RESOLVED).await);
    assert_eq!(app.only_incident().await["status"], "resolved");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_group_key_in_two_organisations_opens_two_incidents() {
    let app = spawn_app().await;
    let mut other_org: Value = serde_json::from_str(FIRING).unwrap();
    other_org["orgId"] = json!(2);
    assert_accepted(&app.post(PATH, &app.ingest, FIRING).await);
    let reply = app.post(PATH, &app.ingest, &other_org.to_string()).await;
    assert_accepted(&reply);
    assert_eq!(reply.json()["stream_key"], "grafana:org2/{}:{}");
    assert_eq!(app.incidents("open").await.len(), 2);

    // Resolving org 1's group leaves org 2's incident open.
    assert_accepted(&app.post(PATH, &app.ingest, RESOLVED).await);
    assert_eq!(app.incidents("open").await.len(), 1);
    assert_eq!(app.incidents("resolved").await.len(), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bodies_are_refused_naming_the_field_and_append_nothing() {
    let app = spawn_app().await;
    let log_before = app.log_end().await;

    let mut no_fingerprint: Value = serde_json::from_str(FIRING).unwrap();
    no_fingerprint["alerts"][0]
        .as_object_mut()
        .unwrap()
        .remove("fingerprint");
    let reply = app
        .post(PATH, &app.ingest, &no_fingerprint.to_string())
        .await;
    reply.assert_error(400, "alerts[0].fingerprint");
    assert_eq!(reply.json()["error"], "invalid_body");

    let alertmanager_version = FIRING.replace(r#""version": "1""#, r#""version": "4""#);
    app.post(PATH, &app.ingest, &alertmanager_version)
        .await
        .assert_error(400, "version");

    let legacy_grafana = r#"{"title": "[Alerting] Test notification", "state": "alerting",
        "ruleId": 0, "ruleName": "Test notification", "evalMatches": []}"#;
    app.post(PATH, &app.ingest, legacy_grafana)
        .await
        .assert_error(400, "version");

    let bad_time = FIRING.replace("2021-10-12T09:56:03.157076+02:00", "12 October 2021, 09:56");
    app.post(PATH, &app.ingest, &bad_time)
        .await
        .assert_error(400, "alerts[1].startsAt");

    app.post(PATH, &app.ingest, "not json")
        .await
        .assert_error(400, "body");

    assert_eq!(app.log_end().await, log_before);
    assert!(app.incidents("all").await.is_empty());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_token_is_401_and_a_token_without_the_ingest_scope_403() {
    let app = spawn_app().await;
    let log_before = app.log_end().await;
    let anonymous = app
        .request(Method::POST, PATH, None, Some(FIRING.to_owned()), &[])
        .await;
    anonymous.assert_error(401, "Authorization");
    send(&app, Method::PUT, "not-a-token", FIRING)
        .await
        .assert_error(401, "unknown");
    send(&app, Method::POST, &app.reader, FIRING)
        .await
        .assert_error(403, "ingest");
    assert_eq!(app.log_end().await, log_before);
    app.stop().await;
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Grafana's signature headers for `body`, signed at `timestamp` (or over the body alone).
fn grafana_signature(secret: &str, body: &str, timestamp: Option<i64>) -> Vec<(String, String)> {
    match timestamp {
        Some(timestamp) => vec![
            (
                "X-Grafana-Alerting-Signature".to_owned(),
                hmac_sha256_hex(secret.as_bytes(), format!("{timestamp}:{body}").as_bytes()),
            ),
            (
                "X-Grafana-Alerting-Signature-Timestamp".to_owned(),
                timestamp.to_string(),
            ),
        ],
        None => vec![(
            "X-Grafana-Alerting-Signature".to_owned(),
            hmac_sha256_hex(secret.as_bytes(), body.as_bytes()),
        )],
    }
}

async fn send_signed(
    app: &TestApp,
    token: &str,
    body: &str,
    headers: &[(String, String)],
) -> Reply {
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    app.request(
        Method::POST,
        PATH,
        Some(token),
        Some(body.to_owned()),
        &headers,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_with_a_signing_secret_accepts_only_fresh_valid_signatures() {
    let (app, token) = spawn_app_with_signing_token("grafana", SIGNING_SECRET).await;

    let signed = grafana_signature(SIGNING_SECRET, FIRING, Some(unix_now()));
    assert_accepted(&send_signed(&app, &token, FIRING, &signed).await);
    assert_eq!(app.only_incident().await["status"], "triggered");
    // Without a timestamp header, Grafana signs the body alone.
    let body_only = grafana_signature(SIGNING_SECRET, RESOLVED, None);
    let log_before = app.log_end().await;

    let wrong_secret = grafana_signature("another-secret-of-24-chars", RESOLVED, Some(unix_now()));
    let reply = send_signed(&app, &token, RESOLVED, &wrong_secret).await;
    reply.assert_error(401, "does not match");
    assert!(!reply.text.contains(SIGNING_SECRET), "{}", reply.text);
    let expected = &grafana_signature(SIGNING_SECRET, RESOLVED, None)[0].1;
    assert!(!reply.text.contains(expected.as_str()), "{}", reply.text);

    // A signature of another body (here the firing one) does not sign this one.
    let other_body = grafana_signature(SIGNING_SECRET, FIRING, None);
    send_signed(&app, &token, RESOLVED, &other_body)
        .await
        .assert_error(401, "does not match");

    send_signed(&app, &token, RESOLVED, &[])
        .await
        .assert_error(401, "missing X-Grafana-Alerting-Signature");

    let stale = grafana_signature(SIGNING_SECRET, RESOLVED, Some(unix_now() - 10 * 60));
    send_signed(&app, &token, RESOLVED, &stale)
        .await
        .assert_error(401, "seconds old");
    let future = grafana_signature(SIGNING_SECRET, RESOLVED, Some(unix_now() + 10 * 60));
    send_signed(&app, &token, RESOLVED, &future)
        .await
        .assert_error(401, "in the future");

    // Not even a bad body is read before the signature: 401, not 400.
    send_signed(&app, &token, "not json", &[])
        .await
        .assert_error(401, "missing");

    assert_eq!(app.log_end().await, log_before);
    assert_eq!(app.incidents("open").await.len(), 1);

    assert_accepted(&send_signed(&app, &token, RESOLVED, &body_only).await);
    assert_eq!(app.only_incident().await["status"], "resolved");

    // The default ingest token has no secret: no signature is needed.
    let mut other_org: Value = serde_json::from_str(FIRING).unwrap();
    other_org["orgId"] = json!(7);
    assert_accepted(&app.post(PATH, &app.ingest, &other_org.to_string()).await);
    app.stop().await;
}
