//! SQL reaches the stores only through bound parameters: injection strings sent through
//! every free-text filter, path segment and ingested label match only themselves, are
//! stored and returned verbatim, and leave every table intact (SQLite and PostgreSQL).

use serde_json::{json, Value};

use crate::support::*;

const INJECTIONS: [&str; 8] = [
    "' OR '1'='1",
    "x'; DROP TABLE incidents; --",
    "x\"; DROP TABLE action_items; --",
    "' UNION SELECT secret_hash, name FROM api_tokens --",
    "%",
    "_",
    "\\'; SELECT pg_sleep(0); --",
    "O'Brien) OR 1=1 /*",
];

fn encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

/// A notification whose service (and title, and labels) is `text`.
fn hostile_webhook(text: &str, fingerprint: &str) -> String {
    let mut body: Value = serde_json::from_str(&webhook("Injected", fingerprint, false)).unwrap();
    body["groupKey"] = json!(format!("{{}}:{{alertname=\"{text}\"}}"));
    body["commonLabels"]["service"] = json!(text);
    body["commonAnnotations"]["summary"] = json!(text);
    body["alerts"][0]["labels"]["note"] = json!(text);
    body.to_string()
}

async fn injection_strings_are_data_and_match_only_themselves(backend: Backend) {
    let app = spawn_app_on(backend).await;
    app.notify(FIRING).await;
    for (index, text) in INJECTIONS.iter().enumerate() {
        app.notify(&hostile_webhook(text, &format!("f{index}")))
            .await;
    }
    app.caught_up().await;
    let incidents = app.incidents("all").await;
    assert_eq!(incidents.len(), 1 + INJECTIONS.len(), "{incidents:?}");
    // Stored and returned verbatim.
    for text in INJECTIONS {
        let incident = incidents
            .iter()
            .find(|incident| incident["service"] == text)
            .unwrap_or_else(|| panic!("no incident with service {text:?}"));
        assert_eq!(incident["title"], text);
    }
    let checkout = incidents
        .iter()
        .find(|incident| incident["service"] == "checkout")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // An action item per injection string as its owner.
    for text in INJECTIONS {
        let reply = app
            .post(
                &format!("/v1/incidents/{checkout}/action-items"),
                &app.alice,
                &json!({"title": format!("Owned by {text}"), "owner": text, "kind": "prevent"})
                    .to_string(),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
    }
    app.caught_up().await;

    for text in INJECTIONS {
        // The owner filter matches exactly that owner: no wildcard, no OR.
        let items = app
            .get(
                &format!("/v1/action-items?owner={}", encode(text)),
                &app.reader,
            )
            .await
            .json();
        let owners: Vec<&str> = items["action_items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["owner"].as_str().unwrap())
            .collect();
        assert_eq!(owners, [text], "owner filter {text:?}");

        // The service filter of the managers' summary counts that service's incident only.
        let summary = app
            .get(
                &format!("/v1/metrics/summary?service={}", encode(text)),
                &app.reader,
            )
            .await;
        assert_eq!(summary.status, 200, "{}", summary.text);
        let summary = summary.json();
        assert_eq!(
            summary["incidents"], 1,
            "service filter {text:?}: {summary}"
        );

        // As a path segment: not an incident id.
        let reply = app
            .get(&format!("/v1/incidents/{}", encode(text)), &app.reader)
            .await;
        assert!(
            [400, 404].contains(&reply.status),
            "{text:?}: {} {}",
            reply.status,
            reply.text
        );
        assert!(reply.json()["detail"].is_string());
    }

    // Every table is still there and whole.
    assert_eq!(app.incidents("all").await.len(), 1 + INJECTIONS.len());
    let all_items = app.get("/v1/action-items", &app.reader).await.json();
    assert_eq!(
        all_items["action_items"].as_array().unwrap().len(),
        INJECTIONS.len()
    );
    assert_eq!(app.get("/v1/status", &app.reader).await.status, 200);
    app.stop().await;
}

crate::on_both_backends!(injection_strings_are_data_and_match_only_themselves);
