//! The input limits over HTTP, on every ingest endpoint: too deep, too many alerts, too
//! many labels, too long a text, invalid UTF-8 — each a 400 whose body says what and
//! where, and nothing on the log.

use serde_json::{json, Value};

use crate::support::*;

/// An ingest endpoint, a valid body for it and where its first alert's labels are.
struct Endpoint {
    name: &'static str,
    path: String,
    body: Value,
    labels: Option<&'static str>,
    headers: Vec<(&'static str, &'static str)>,
}

fn fixture(path: &str) -> Value {
    let path = format!("{}/../../tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn endpoints(ingest_token: &str) -> Vec<Endpoint> {
    let mut pagerduty = fixture("pagerduty/trigger.json");
    pagerduty["routing_key"] = json!(ingest_token);
    vec![
        Endpoint {
            name: "alertmanager",
            path: "/v1/ingest/alertmanager".into(),
            body: fixture("alertmanager/01-checkout-firing.json"),
            labels: Some("/alerts/0/labels"),
            headers: vec![],
        },
        Endpoint {
            name: "grafana",
            path: "/v1/ingest/grafana".into(),
            body: fixture("grafana/firing.json"),
            labels: Some("/alerts/0/labels"),
            headers: vec![],
        },
        Endpoint {
            name: "generic",
            path: "/v1/ingest/generic".into(),
            body: fixture("generic/01-checkout-firing.json"),
            labels: Some("/labels"),
            headers: vec![],
        },
        Endpoint {
            name: "cloudevents",
            path: "/v1/ingest/cloudevents".into(),
            body: fixture("cloudevents/01-structured-firing.json"),
            labels: Some("/data/labels"),
            headers: vec![("content-type", "application/cloudevents+json")],
        },
        Endpoint {
            name: "pagerduty",
            path: "/v2/enqueue".into(),
            body: pagerduty,
            labels: None,
            headers: vec![],
        },
        Endpoint {
            name: "github",
            path: format!("/v1/ingest/github?token={ingest_token}"),
            body: fixture("github/workflow_run.completed.failure.json"),
            labels: None,
            headers: vec![("X-GitHub-Event", "workflow_run")],
        },
    ]
}

/// Posts raw bytes (they may not be UTF-8) and returns the status and the JSON body.
async fn post_bytes(app: &TestApp, endpoint: &Endpoint, bytes: Vec<u8>) -> (u16, Value) {
    let mut request = app
        .http
        .post(format!("{}{}", app.base, endpoint.path))
        .bearer_auth(&app.ingest)
        .body(bytes);
    if !endpoint
        .headers
        .iter()
        .any(|(name, _)| *name == "content-type")
    {
        request = request.header("content-type", "application/json");
    }
    for (name, value) in &endpoint.headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|error| panic!("{}: not JSON ({error}): {text}", endpoint.name));
    (status, body)
}

fn with(body: &Value, pointer: &str, value: Value) -> Vec<u8> {
    let mut body = body.clone();
    *body.pointer_mut(pointer).unwrap() = value;
    body.to_string().into_bytes()
}

fn nested(depth: usize) -> Value {
    (0..depth).fold(json!(1), |inner, _| json!([inner]))
}

/// The refusal's text, whatever the endpoint's error shape (PagerDuty's `errors` list or
/// Aftermath's `detail`).
fn reason(body: &Value) -> String {
    match body.get("errors") {
        Some(errors) => errors.to_string(),
        None => body["detail"].as_str().unwrap_or_default().to_owned(),
    }
}

#[tokio::test]
async fn every_ingest_endpoint_refuses_input_over_the_limits_and_appends_nothing() {
    let app = spawn_app().await;
    for endpoint in endpoints(&app.ingest) {
        let mut cases: Vec<(&str, Vec<u8>, &str)> = Vec::new();
        let mut deep = endpoint.body.clone();
        deep["extra"] = nested(40);
        cases.push((
            "deep",
            deep.to_string().into_bytes(),
            "nested deeper than 32",
        ));
        let mut invalid_utf8 = endpoint.body.to_string().into_bytes();
        // In a text the sender's own checks do not read first (PagerDuty's routing key).
        let text = endpoint.body.to_string();
        let at = text
            .find("\"summary\":\"")
            .map_or_else(|| text.find(":\"").unwrap() + 2, |at| at + 11);
        invalid_utf8[at] = 0xFF;
        cases.push(("invalid UTF-8", invalid_utf8, "UTF-8"));
        if let Some(pointer) = endpoint.labels {
            let many: serde_json::Map<String, Value> = (0..65)
                .map(|index| (format!("l{index}"), json!("v")))
                .collect();
            cases.push((
                "65 labels",
                with(&endpoint.body, pointer, Value::Object(many)),
                "at most 64",
            ));
            let long = json!({"note": "x".repeat(16 * 1024 + 1)});
            cases.push((
                "long value",
                with(&endpoint.body, pointer, long),
                "at most 16384",
            ));
        }
        if endpoint.labels == Some("/alerts/0/labels") {
            // A small alert, so that 2001 of them stay within the 1 MiB body limit.
            let mut alert = endpoint.body["alerts"][0].clone();
            let fields = alert.as_object_mut().unwrap();
            fields.retain(|name, _| {
                ["status", "labels", "startsAt", "endsAt", "fingerprint"].contains(&name.as_str())
            });
            fields.insert("labels".into(), json!({"alertname": "A"}));
            let alerts = vec![alert; 2001];
            cases.push((
                "2001 alerts",
                with(&endpoint.body, "/alerts", Value::Array(alerts)),
                "at most 2000",
            ));
        }
        for (case, bytes, needle) in cases {
            let (status, body) = post_bytes(&app, &endpoint, bytes).await;
            assert_eq!(status, 400, "{} {case}: {body}", endpoint.name);
            let reason = reason(&body);
            assert!(
                reason.contains(needle),
                "{} {case}: {reason:?} lacks {needle:?}",
                endpoint.name
            );
        }
    }
    assert_eq!(app.log_end().await, 0, "a refused body appended facts");
    // The same bodies within the limits are accepted, so the refusals above were the limits.
    for endpoint in endpoints(&app.ingest) {
        let (status, body) =
            post_bytes(&app, &endpoint, endpoint.body.to_string().into_bytes()).await;
        assert!(
            (200..300).contains(&status),
            "{}: {status} {body}",
            endpoint.name
        );
    }
    assert!(app.log_end().await > 0);
    app.stop().await;
}
