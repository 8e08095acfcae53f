//! The generic JSON sender and its CloudEvents 1.0 envelope over real HTTP: trigger,
//! repeat, resolve, batches, bad input, content types, auth and per-token scoping.

use std::collections::BTreeSet;

use aftermath_store::Scope;
use serde_json::{json, Value};

use crate::support::*;

const FIRING: &str = include_str!("../fixtures/generic/01-checkout-firing.json");
const RESOLVED: &str = include_str!("../fixtures/generic/02-checkout-resolved.json");
const MINIMAL_FIRING: &str = include_str!("../fixtures/generic/03-minimal-firing.json");
const MINIMAL_RESOLVED: &str = include_str!("../fixtures/generic/04-minimal-resolved.json");
const CE_FIRING: &str = include_str!("../fixtures/cloudevents/01-structured-firing.json");
const CE_RESOLVED: &str = include_str!("../fixtures/cloudevents/02-structured-resolved.json");
const CE_BATCH: &str = include_str!("../fixtures/cloudevents/03-batch-two-keys.json");
const SPEC_BATCH: &str = include_str!("../fixtures/cloudevents/spec-4.3-batch.json");

const STRUCTURED: &str = "application/cloudevents+json";
const BATCH: &str = "application/cloudevents-batch+json";

async fn send_generic(app: &TestApp, token: &str, body: &str) -> Reply {
    app.post("/v1/ingest/generic", token, body).await
}

/// Posts to the CloudEvents endpoint with exactly this `Content-Type` (or none): the
/// shared helper always adds `application/json`.
async fn send_cloudevents(
    app: &TestApp,
    token: Option<&str>,
    content_type: Option<&str>,
    body: &str,
) -> Reply {
    let mut request = app
        .http
        .post(format!("{}/v1/ingest/cloudevents", app.base))
        .body(body.to_owned());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let response = request.send().await.expect("request failed");
    Reply {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        text: response.text().await.unwrap(),
    }
}

#[track_caller]
fn assert_accepted(reply: &Reply) -> Value {
    assert_eq!(reply.status, 202, "{}", reply.text);
    reply.json()
}

/// An app whose store also holds a second ingest token ("tenant-b"), made before the app
/// starts, the way `spawn_app_from` makes its own.
async fn spawn_app_with_second_ingest_token() -> (TestApp, String) {
    let data_dir = tempfile::tempdir().unwrap();
    let config = aftermath::Config::new(data_dir.path(), "127.0.0.1:0".parse().unwrap());
    let store = config.backends.open_store().await.unwrap();
    let scopes: BTreeSet<Scope> = [Scope::Ingest].into_iter().collect();
    let (_, second) = store
        .create_token("tenant-b", &scopes, aftermath::now())
        .await
        .unwrap();
    drop(store);
    (spawn_app_from(config, data_dir, None).await, second)
}

#[tokio::test]
async fn generic_trigger_repeat_and_resolve_make_one_incident() {
    let app = spawn_app().await;
    let first = assert_accepted(&send_generic(&app, &app.ingest, FIRING).await);
    assert_eq!(first["status"], "accepted");
    assert_eq!(first["facts_appended"], 2);
    assert_eq!(first["dedup_key"], "checkout-error-rate");
    assert!(
        first["stream_key"]
            .as_str()
            .unwrap()
            .ends_with("/checkout-error-rate"),
        "{first}"
    );

    let incident = app.only_incident().await;
    let id = incident["id"].as_str().unwrap().to_owned();
    assert_eq!(incident["status"], "triggered");
    assert_eq!(incident["source"], "generic");
    assert_eq!(incident["title"], "Checkout error rate above 5%");
    assert_eq!(incident["severity"], "critical");
    assert_eq!(incident["service"], "checkout");
    let timeline = app.timeline(&id).await;
    let log_before = app.log_end().await;

    // The same body again carries the same fact ids: nothing is appended or shown.
    let again = assert_accepted(&send_generic(&app, &app.ingest, FIRING).await);
    assert_eq!(again["status"], "duplicate");
    assert_eq!(again["duplicates"], 2);
    assert_eq!(app.log_end().await, log_before);
    assert_eq!(app.timeline(&id).await, timeline);

    assert_accepted(&send_generic(&app, &app.ingest, RESOLVED).await);
    let incident = app.only_incident().await;
    assert_eq!(incident["status"], "resolved");
    assert_eq!(incident["resolved_by"], "generic");
    assert_eq!(incident["alerts_firing"], 0);

    // A resolve for a key with no open incident is accepted and changes nothing.
    let unknown = json!({"status": "resolved", "dedup_key": "never-triggered"}).to_string();
    assert_accepted(&send_generic(&app, &app.ingest, &unknown).await);
    assert_accepted(&send_generic(&app, &app.ingest, RESOLVED).await);
    let incidents = app.incidents("all").await;
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    assert_eq!(incidents[0]["status"], "resolved");
    app.stop().await;
}

#[tokio::test]
async fn a_generic_event_without_key_or_times_is_grouped_by_title_and_resolved_by_it() {
    let app = spawn_app().await;
    let reply = assert_accepted(&send_generic(&app, &app.ingest, MINIMAL_FIRING).await);
    let key = reply["dedup_key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("derived:"), "{key}");
    let incident = app.only_incident().await;
    let id = incident["id"].as_str().unwrap().to_owned();
    assert_eq!(incident["title"], "Nightly backup did not finish");
    assert_eq!(incident["severity"], "error");
    assert_eq!(incident["service"], Value::Null);
    let timeline = app.timeline(&id).await;

    // Without occurred_at each repeat is stamped anew, yet the fold sees the same state.
    let repeat = assert_accepted(&send_generic(&app, &app.ingest, MINIMAL_FIRING).await);
    assert_eq!(repeat["dedup_key"], key.as_str());
    assert_eq!(app.timeline(&id).await, timeline);

    let resolve = assert_accepted(&send_generic(&app, &app.ingest, MINIMAL_RESOLVED).await);
    assert_eq!(resolve["dedup_key"], key.as_str());
    assert_eq!(app.only_incident().await["status"], "resolved");
    app.stop().await;
}

#[tokio::test]
async fn bad_generic_events_are_400_naming_the_field_and_append_nothing() {
    let app = spawn_app().await;
    let cases = [
        (FIRING.replace(r#""status": "firing","#, ""), "status"),
        (
            FIRING.replace(r#""status": "firing""#, r#""status": "burning""#),
            "status",
        ),
        (
            FIRING.replace(r#""title": "Checkout error rate above 5%","#, ""),
            "title",
        ),
        (
            FIRING.replace(r#""team": "payments""#, r#""team": 7"#),
            "labels.team",
        ),
        (
            FIRING.replace(
                r#""occurred_at": "2026-11-24T07:00:00Z""#,
                r#""occurred_at": "soon""#,
            ),
            "occurred_at",
        ),
        (r#"{"status": "resolved"}"#.to_owned(), "dedup_key"),
        ("{not json".to_owned(), "body"),
    ];
    for (body, field) in cases {
        assert_ne!(body, FIRING, "fixture layout changed");
        let reply = send_generic(&app, &app.ingest, &body).await;
        reply.assert_error(400, &format!("{field}: "));
        assert_eq!(reply.json()["error"], "invalid_body");
    }
    assert_eq!(app.log_end().await, 0);
    app.stop().await;
}

#[tokio::test]
async fn both_endpoints_need_an_ingest_token() {
    let app = spawn_app().await;
    let no_token = app
        .request(
            reqwest::Method::POST,
            "/v1/ingest/generic",
            None,
            Some(FIRING.to_owned()),
            &[],
        )
        .await;
    no_token.assert_error(401, "Authorization");
    send_generic(&app, &app.reader, FIRING)
        .await
        .assert_error(403, "ingest");

    send_cloudevents(&app, None, Some(STRUCTURED), CE_FIRING)
        .await
        .assert_error(401, "Authorization");
    send_cloudevents(&app, Some(app.reader.as_str()), Some(STRUCTURED), CE_FIRING)
        .await
        .assert_error(403, "ingest");
    send_cloudevents(&app, Some("aftm_not-a-token"), Some(STRUCTURED), CE_FIRING)
        .await
        .assert_error(401, "unknown");
    assert_eq!(app.log_end().await, 0);
    app.stop().await;
}

#[tokio::test]
async fn the_same_dedup_key_from_two_tokens_makes_two_incidents() {
    let (app, tenant_b) = spawn_app_with_second_ingest_token().await;
    let a = assert_accepted(&send_generic(&app, &app.ingest, FIRING).await);
    let b = assert_accepted(&send_generic(&app, &tenant_b, FIRING).await);
    assert_eq!(a["dedup_key"], b["dedup_key"]);
    assert_ne!(a["stream_key"], b["stream_key"]);
    assert_eq!(
        b["status"], "accepted",
        "tenant b's body is no duplicate of a's"
    );

    let incidents = app.incidents("open").await;
    assert_eq!(incidents.len(), 2, "{incidents:?}");
    assert_ne!(incidents[0]["group_key"], incidents[1]["group_key"]);

    // Tenant b resolving its key leaves tenant a's incident open; the same holds for
    // CloudEvents, which groups exactly like the generic endpoint.
    assert_accepted(&send_generic(&app, &tenant_b, RESOLVED).await);
    assert_eq!(app.incidents("open").await.len(), 1);
    assert_eq!(app.incidents("resolved").await.len(), 1);
    assert_accepted(
        &send_cloudevents(&app, Some(tenant_b.as_str()), Some(STRUCTURED), CE_FIRING).await,
    );
    assert_accepted(
        &send_cloudevents(&app, Some(app.ingest.as_str()), Some(STRUCTURED), CE_FIRING).await,
    );
    assert_eq!(app.incidents("open").await.len(), 3);
    app.stop().await;
}

#[tokio::test]
async fn a_structured_cloudevent_triggers_repeats_and_resolves() {
    let app = spawn_app().await;
    let reply = assert_accepted(
        &send_cloudevents(
            &app,
            Some(app.ingest.as_str()),
            Some("application/cloudevents+json; charset=utf-8"),
            CE_FIRING,
        )
        .await,
    );
    assert_eq!(reply["facts_appended"], 2);
    assert_eq!(reply["events"][0]["dedup_key"], "orders-queue-depth");

    let incident = app.only_incident().await;
    let id = incident["id"].as_str().unwrap().to_owned();
    assert_eq!(incident["title"], "Queue depth above 10k on orders");
    assert_eq!(incident["severity"], "warning");
    assert_eq!(incident["service"], "orders");
    assert_eq!(incident["source"], "generic");
    let timeline = app.timeline(&id).await;
    let log_before = app.log_end().await;

    let again = assert_accepted(
        &send_cloudevents(&app, Some(app.ingest.as_str()), Some(STRUCTURED), CE_FIRING).await,
    );
    assert_eq!(again["status"], "duplicate");
    assert_eq!(app.log_end().await, log_before);
    assert_eq!(app.timeline(&id).await, timeline);

    assert_accepted(
        &send_cloudevents(
            &app,
            Some(app.ingest.as_str()),
            Some(STRUCTURED),
            CE_RESOLVED,
        )
        .await,
    );
    let incident = app.only_incident().await;
    assert_eq!(incident["status"], "resolved");
    let detail = app
        .get(&format!("/v1/incidents/{id}"), &app.reader)
        .await
        .json();
    // time stood in for the trigger's missing occurred_at; the resolve carried its own.
    assert_eq!(detail["alerts"][0]["starts_at"], "2018-04-05T17:31:00Z");
    assert_eq!(detail["alerts"][0]["ends_at"], "2018-04-05T17:45:00Z");
    app.stop().await;
}

#[tokio::test]
async fn a_cloudevents_batch_with_two_keys_opens_two_incidents_in_one_append() {
    let app = spawn_app().await;
    let reply = assert_accepted(
        &send_cloudevents(&app, Some(app.ingest.as_str()), Some(BATCH), CE_BATCH).await,
    );
    assert_eq!(reply["facts_appended"], 4);
    let keys: Vec<&str> = reply["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["dedup_key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["db-1-disk", "api-cert-expiry"]);

    let incidents = app.incidents("open").await;
    assert_eq!(incidents.len(), 2, "{incidents:?}");
    let by_title = |title: &str| {
        incidents
            .iter()
            .find(|incident| incident["title"] == title)
            .unwrap_or_else(|| panic!("no incident {title:?} in {incidents:?}"))
            .clone()
    };
    let disk = by_title("Disk 91% full on db-1");
    assert_eq!(disk["severity"], "critical");
    assert_eq!(disk["service"], "postgres");
    let cert = by_title("Certificate for api.example.com expires in 6 days");
    assert_eq!(cert["severity"], "info");
    assert_eq!(cert["service"], "edge");

    let log_before = app.log_end().await;
    let again = assert_accepted(
        &send_cloudevents(&app, Some(app.ingest.as_str()), Some(BATCH), CE_BATCH).await,
    );
    assert_eq!(again["status"], "duplicate");
    assert_eq!(app.log_end().await, log_before);

    // A batch resolving one key through the generic endpoint's own shape.
    let resolve = json!([{
        "specversion": "1.0", "type": "com.example.resolved", "source": "/mycontext/4",
        "id": "R-1", "data": {"status": "resolved", "dedup_key": "db-1-disk"}
    }])
    .to_string();
    assert_accepted(
        &send_cloudevents(&app, Some(app.ingest.as_str()), Some(BATCH), &resolve).await,
    );
    let open = app.incidents("open").await;
    assert_eq!(open.len(), 1);
    assert_eq!(open[0]["title"], cert["title"]);
    app.stop().await;
}

#[tokio::test]
async fn bad_cloudevents_are_400_naming_the_field_and_append_nothing() {
    let app = spawn_app().await;
    let mut events: Vec<Value> = serde_json::from_str(CE_BATCH).unwrap();
    let mut third = events[0].clone();
    third.as_object_mut().unwrap().remove("specversion");
    events.push(third);
    let missing_specversion = serde_json::to_string(&events).unwrap();
    let mut no_id: Value = serde_json::from_str(CE_FIRING).unwrap();
    no_id.as_object_mut().unwrap().remove("id");

    let cases = [
        (BATCH, missing_specversion, "[2].specversion"),
        // The spec's own batch: its first event is binary; its valid second is not kept.
        (BATCH, SPEC_BATCH.to_owned(), "[0].data_base64"),
        (BATCH, "[]".to_owned(), "body"),
        (BATCH, CE_FIRING.to_owned(), "body"),
        (STRUCTURED, CE_BATCH.to_owned(), "body"),
        (STRUCTURED, no_id.to_string(), "id"),
        (
            STRUCTURED,
            CE_FIRING.replace(r#""specversion" : "1.0""#, r#""specversion" : "0.3""#),
            "specversion",
        ),
        (
            STRUCTURED,
            CE_FIRING.replace(r#""status" : "firing""#, r#""status" : "open""#),
            "data.status",
        ),
    ];
    for (content_type, body, field) in cases {
        let reply =
            send_cloudevents(&app, Some(app.ingest.as_str()), Some(content_type), &body).await;
        reply.assert_error(400, &format!("{field}: "));
        assert_eq!(reply.json()["error"], "invalid_body");
    }
    assert_eq!(app.log_end().await, 0);
    app.stop().await;
}

#[tokio::test]
async fn other_content_types_are_415_saying_which_are_accepted() {
    let app = spawn_app().await;
    for content_type in [
        Some("application/json"),
        Some("text/plain"),
        Some("application/cloudevents"),
        None,
    ] {
        let reply =
            send_cloudevents(&app, Some(app.ingest.as_str()), content_type, CE_FIRING).await;
        reply.assert_error(415, STRUCTURED);
        reply.assert_error(415, BATCH);
        assert_eq!(reply.json()["error"], "unsupported_media_type");
    }
    assert_eq!(app.log_end().await, 0);
    app.stop().await;
}
