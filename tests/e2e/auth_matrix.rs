//! The auth matrix: every endpoint of the OpenAPI document (and `/metrics`) called with no
//! token, an unknown token and a token of each single scope answers 401, 401, and 403 for
//! every scope but the one it needs — which gets past authentication.

use aftermath_store::Scope;
use reqwest::Method;
use serde_json::{json, Value};

use crate::support::*;

const SCOPES: [(&str, Scope); 5] = [
    ("ingest", Scope::Ingest),
    ("respond", Scope::Respond),
    ("read", Scope::Read),
    ("manage", Scope::Manage),
    ("admin", Scope::Admin),
];

/// Every operation with a bearer requirement: method, path template, the scope it needs.
fn bearer_operations() -> Vec<(Method, String, String)> {
    let path = format!("{}/../../schemas/openapi.json", env!("CARGO_MANIFEST_DIR"));
    let document: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut operations = Vec::new();
    for (path, methods) in document["paths"].as_object().unwrap() {
        for (method, operation) in methods.as_object().unwrap() {
            let Some(security) = operation["security"].as_array() else {
                continue;
            };
            let scopes = security[0]["bearer"].as_array().unwrap();
            assert_eq!(scopes.len(), 1, "{method} {path} needs one scope");
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            operations.push((method, path.clone(), scopes[0].as_str().unwrap().to_owned()));
        }
    }
    // Served beside the API but not part of it.
    operations.push((Method::GET, "/metrics".to_owned(), "read".to_owned()));
    assert!(operations.len() > 30, "the document lists the API");
    operations
}

fn concrete(template: &str, incident: &str) -> String {
    template
        .replace("{id}", incident)
        .replace("{aid}", "00000000-0000-0000-0000-000000000000")
        .replace("{n}", "1")
        .replace("{name}", "summary")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_refuses_missing_unknown_and_wrongly_scoped_tokens() {
    let tokens: Vec<(&str, &[Scope])> = SCOPES
        .iter()
        .map(|(name, scope)| (*name, std::slice::from_ref(scope)))
        .collect();
    let (app, secrets) = spawn_app_with_tokens(&tokens).await;
    app.notify(FIRING).await;
    let incident = app.only_incident().await["id"].as_str().unwrap().to_owned();
    let unknown = format!("aftm_{}", "0".repeat(40));

    let mut checked = 0;
    for (method, template, needed) in bearer_operations() {
        let path = concrete(&template, &incident);
        let body = (method != Method::GET).then(|| "{}".to_owned());
        for (label, token) in [
            ("no token", None),
            ("unknown token", Some(unknown.as_str())),
        ] {
            let reply = app
                .request(method.clone(), &path, token, body.clone(), &[])
                .await;
            assert_eq!(
                reply.status, 401,
                "{method} {path} with {label}: {}",
                reply.text
            );
            assert!(
                reply.json()["detail"].is_string(),
                "{method} {path}: {}",
                reply.text
            );
            checked += 1;
        }
        for ((scope, _), secret) in SCOPES.iter().zip(&secrets) {
            let reply = app
                .request(method.clone(), &path, Some(secret), body.clone(), &[])
                .await;
            if *scope == needed {
                assert!(
                    reply.status != 401 && reply.status != 403,
                    "{method} {path} with scope {scope}: {} {}",
                    reply.status,
                    reply.text
                );
            } else {
                assert_eq!(
                    reply.status, 403,
                    "{method} {path} with scope {scope}: {}",
                    reply.text
                );
                let detail = reply.json()["detail"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                assert!(
                    detail.contains(&needed),
                    "{method} {path}: {detail:?} names no scope"
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 200, "{checked} calls checked");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagerduty_routing_keys_need_an_ingest_token() {
    let tokens: Vec<(&str, &[Scope])> = SCOPES
        .iter()
        .map(|(name, scope)| (*name, std::slice::from_ref(scope)))
        .collect();
    let (app, secrets) = spawn_app_with_tokens(&tokens).await;
    let path = format!(
        "{}/../../tests/fixtures/pagerduty/trigger.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let trigger: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let unknown = format!("aftm_{}", "0".repeat(40));
    let mut keys: Vec<(&str, Value)> = vec![
        ("no routing key", Value::Null),
        ("unknown routing key", json!(unknown)),
    ];
    for ((scope, _), secret) in SCOPES.iter().zip(&secrets) {
        keys.push((scope, json!(secret)));
    }
    for (label, key) in keys {
        let mut event = trigger.clone();
        event["routing_key"] = key;
        let reply = app
            .request(
                Method::POST,
                "/v2/enqueue",
                None,
                Some(event.to_string()),
                &[],
            )
            .await;
        if label == "ingest" {
            assert_eq!(reply.status, 202, "{label}: {}", reply.text);
        } else {
            assert!(
                [400, 401, 403].contains(&reply.status),
                "{label}: {} {}",
                reply.status,
                reply.text
            );
            // PagerDuty's shapes: `errors` for an invalid event, `message` for a refusal.
            let body = reply.json();
            assert!(
                body["errors"].is_array() || body["message"].is_string(),
                "{label}: {}",
                reply.text
            );
        }
    }
    assert_eq!(
        app.log_end().await,
        2,
        "only the ingest token's event is on the log"
    );
    app.stop().await;
}
