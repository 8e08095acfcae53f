//! The committed OpenAPI document (`schemas/openapi.json`) is the one the handlers'
//! annotations generate, and it describes every endpoint.

use std::path::PathBuf;

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas/openapi.json")
}

#[test]
fn the_committed_document_is_the_generated_one() {
    let generated = aftermath_http::openapi_json();
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(committed_path(), &generated).unwrap();
    }
    let committed = std::fs::read_to_string(committed_path()).unwrap_or_default();
    assert!(
        committed == generated,
        "schemas/openapi.json differs from the code; regenerate it with \
         `UPDATE_OPENAPI=1 cargo test -p aftermath-http --test openapi` and commit it"
    );
}

#[test]
fn the_document_is_openapi_3_1_and_describes_every_endpoint() {
    let document: serde_json::Value =
        serde_json::from_str(&aftermath_http::openapi_json()).unwrap();
    assert!(
        document["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        document["openapi"]
    );
    let mut paths: Vec<&str> = document["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    paths.sort();
    assert_eq!(
        paths,
        [
            "/healthz",
            "/readyz",
            "/v1/action-items",
            "/v1/incidents",
            "/v1/incidents/{id}",
            "/v1/incidents/{id}/ack",
            "/v1/incidents/{id}/action-items",
            "/v1/incidents/{id}/action-items/{aid}/done",
            "/v1/incidents/{id}/classification",
            "/v1/incidents/{id}/commander",
            "/v1/incidents/{id}/impact",
            "/v1/incidents/{id}/links",
            "/v1/incidents/{id}/mitigate",
            "/v1/incidents/{id}/notes",
            "/v1/incidents/{id}/postmortem",
            "/v1/incidents/{id}/postmortem/publish",
            "/v1/incidents/{id}/postmortem/revisions",
            "/v1/incidents/{id}/postmortem/revisions/{n}",
            "/v1/incidents/{id}/postmortem/sections/{name}",
            "/v1/incidents/{id}/reopen",
            "/v1/incidents/{id}/resolve",
            "/v1/incidents/{id}/root-cause",
            "/v1/incidents/{id}/severity",
            "/v1/incidents/{id}/timeline",
            "/v1/incidents/{id}/whys",
            "/v1/incidents/{id}/whys/{n}",
            "/v1/ingest/alertmanager",
            "/v1/ingest/cloudevents",
            "/v1/ingest/generic",
            "/v1/ingest/github",
            "/v1/ingest/grafana",
            "/v1/metrics/summary",
            "/v1/status",
            "/v2/change/enqueue",
            "/v2/enqueue",
        ]
    );
    // Every operation says who may call it and how it fails.
    for (path, operations) in document["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            let responses = operation["responses"].as_object().unwrap();
            assert!(
                !responses.is_empty(),
                "{method} {path} documents no response"
            );
            let open = ["/healthz", "/readyz"].contains(&path.as_str()) || path.starts_with("/v2/");
            if !open {
                assert!(
                    operation["security"].is_array(),
                    "{method} {path} documents no security"
                );
                assert!(
                    responses.contains_key("401"),
                    "{method} {path} documents no 401"
                );
            }
        }
    }
    assert!(document["components"]["securitySchemes"]["bearer"].is_object());
}
