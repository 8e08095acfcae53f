//! Post-mortems over HTTP and from the command line: the draft in Markdown, JSON or HTML by
//! content negotiation, a manager's section edits, publication as frozen numbered
//! revisions, and those revisions surviving a rebuild from the log byte for byte.

use std::collections::BTreeSet;
use std::process::{Command, Output, Stdio};

use aftermath::Config;
use aftermath_store::Scope;
use reqwest::Method;
use serde_json::{json, Value};

use crate::support::*;

const BINARY: &str = env!("CARGO_BIN_EXE_aftermath");
const CHANGE: &str = include_str!("../fixtures/pagerduty/change.json");

/// The draft's sections in order, as the JSON rendering and the URLs name them.
const SECTIONS: [&str; 13] = [
    "title",
    "summary",
    "impact",
    "detection",
    "trigger",
    "timeline",
    "root_cause",
    "classification",
    "resolution",
    "prevention",
    "action_items",
    "lessons_learned",
    "success_criteria",
];

/// An app with one more token: "carol", a manager (scopes `manage` and `read`).
async fn spawn_app_with_manager() -> (TestApp, String) {
    let data_dir = tempfile::tempdir().unwrap();
    let config = Config::new(data_dir.path(), "127.0.0.1:0".parse().unwrap());
    let store = config.backends.open_store().await.unwrap();
    let scopes: BTreeSet<Scope> = [Scope::Manage, Scope::Read].into_iter().collect();
    let (_, carol) = store
        .create_token("carol", &scopes, aftermath::now())
        .await
        .unwrap();
    drop(store);
    (spawn_app_from(config, data_dir, None).await, carol)
}

/// Opens the checkout incident (captured from a real Alertmanager); its id.
async fn open_checkout_incident(app: &TestApp) -> String {
    app.notify(FIRING).await;
    app.only_incident().await["id"].as_str().unwrap().to_owned()
}

/// A responder request that must be folded (200); the incident after it.
async fn respond(app: &TestApp, id: &str, action: &str, body: Value) -> Value {
    let reply = app
        .post(
            &format!("/v1/incidents/{id}/{action}"),
            &app.alice,
            &body.to_string(),
        )
        .await;
    assert_eq!(reply.status, 200, "{action}: {}", reply.text);
    reply.json()["incident"].clone()
}

async fn postmortem(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> Reply {
    app.request(Method::GET, path, Some(&app.reader), None, headers)
        .await
}

async fn draft_json(app: &TestApp, id: &str) -> Value {
    let reply = postmortem(
        app,
        &format!("/v1/incidents/{id}/postmortem?format=json"),
        &[],
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json()
}

fn section<'a>(draft: &'a Value, key: &str) -> &'a Value {
    draft["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|section| section["key"] == key)
        .unwrap_or_else(|| panic!("no section {key} in {draft}"))
}

async fn write_section(
    app: &TestApp,
    token: Option<&str>,
    id: &str,
    name: &str,
    body: Value,
    headers: &[(&str, &str)],
) -> Reply {
    app.request(
        Method::PUT,
        &format!("/v1/incidents/{id}/postmortem/sections/{name}"),
        token,
        Some(body.to_string()),
        headers,
    )
    .await
}

async fn revert_section(app: &TestApp, token: Option<&str>, id: &str, name: &str) -> Reply {
    app.request(
        Method::DELETE,
        &format!("/v1/incidents/{id}/postmortem/sections/{name}"),
        token,
        None,
        &[],
    )
    .await
}

async fn publish(app: &TestApp, token: Option<&str>, id: &str, headers: &[(&str, &str)]) -> Reply {
    app.request(
        Method::POST,
        &format!("/v1/incidents/{id}/postmortem/publish"),
        token,
        None,
        headers,
    )
    .await
}

/// A revision's three renderings (Markdown, JSON, HTML), as served.
async fn revision_renderings(app: &TestApp, id: &str, number: u32) -> [String; 3] {
    let path = format!("/v1/incidents/{id}/postmortem/revisions/{number}");
    let mut renderings = Vec::new();
    for accept in ["text/markdown", "application/json", "text/html"] {
        let reply = postmortem(app, &path, &[("accept", accept)]).await;
        assert_eq!(reply.status, 200, "{accept}: {}", reply.text);
        renderings.push(reply.text);
    }
    renderings.try_into().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_draft_is_markdown_json_or_html_by_accept_header_or_format_parameter() {
    let app = spawn_app().await;
    let id = open_checkout_incident(&app).await;
    let path = format!("/v1/incidents/{id}/postmortem");

    // No preference, or one the API does not offer: Markdown.
    for accept in [None, Some("*/*"), Some("application/xml"), Some("text/*")] {
        let headers: Vec<(&str, &str)> = accept.map(|a| ("accept", a)).into_iter().collect();
        let reply = postmortem(&app, &path, &headers).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_eq!(
            reply.headers["content-type"], "text/markdown; charset=utf-8",
            "Accept: {accept:?}"
        );
        assert_eq!(reply.headers["vary"], "Accept");
        assert!(reply.text.starts_with("# Post-Mortem: "), "{}", reply.text);
        assert!(reply.text.contains("## Success Criteria"), "{}", reply.text);
    }

    let json = postmortem(&app, &path, &[("accept", "application/json")]).await;
    assert_eq!(json.status, 200, "{}", json.text);
    assert_eq!(json.headers["content-type"], "application/json");
    assert_eq!(json.headers["vary"], "Accept");
    let draft = json.json();
    assert_eq!(draft["incident_id"], id.as_str());
    assert_eq!(draft["incident_status"], "triggered");
    assert!(draft["revision"].is_null(), "a live draft has no number");
    let keys: Vec<&str> = draft["sections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|section| section["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, SECTIONS[1..], "the title is not a section of its own");

    let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    for accept in ["text/html", browser] {
        let html = postmortem(&app, &path, &[("accept", accept)]).await;
        assert_eq!(html.status, 200, "{}", html.text);
        assert_eq!(html.headers["content-type"], "text/html; charset=utf-8");
        assert_eq!(html.headers["vary"], "Accept");
        assert!(html.text.starts_with("<!DOCTYPE html>"), "{}", html.text);
        assert!(html.text.contains("<article class=\"postmortem\">"));
        let policy = html.headers["content-security-policy"].to_str().unwrap();
        assert!(policy.contains("default-src 'none'"), "{policy}");
    }

    // `format` wins over Accept.
    let reply = postmortem(
        &app,
        &format!("{path}?format=json"),
        &[("accept", "text/html")],
    )
    .await;
    assert_eq!(reply.headers["content-type"], "application/json");
    assert_eq!(reply.json(), draft, "both ways give the same draft");
    let reply = postmortem(
        &app,
        &format!("{path}?format=md"),
        &[("accept", "application/json")],
    )
    .await;
    assert_eq!(
        reply.headers["content-type"],
        "text/markdown; charset=utf-8"
    );
    let reply = postmortem(&app, &format!("{path}?format=html"), &[]).await;
    assert_eq!(reply.headers["content-type"], "text/html; charset=utf-8");

    // The three renderings tell the same story.
    let title = draft["title"].as_str().unwrap();
    let markdown = postmortem(&app, &path, &[]).await.text;
    assert!(
        markdown.starts_with(&format!("# Post-Mortem: {title}\n")),
        "{markdown}"
    );
    let html = postmortem(&app, &format!("{path}?format=html"), &[])
        .await
        .text;
    assert!(
        html.contains(&format!("<h1>Post-Mortem: {title}</h1>")),
        "{html}"
    );
    for heading in ["Summary", "Timeline", "Success Criteria"] {
        assert!(
            markdown.contains(&format!("\n## {heading}\n")),
            "{markdown}"
        );
        assert!(html.contains(&format!("<h2>{heading}</h2>")), "{html}");
    }

    postmortem(&app, &format!("{path}?format=pdf"), &[])
        .await
        .assert_error(400, "format: \"pdf\" is not one of md, json, html");
    postmortem(&app, &format!("{path}?fmt=json"), &[])
        .await
        .assert_error(400, "fmt");
    postmortem(
        &app,
        "/v1/incidents/2b1d8f3e-6a55-4c1e-9b5e-2f4c6f0e9a11/postmortem?format=json",
        &[],
    )
    .await
    .assert_error(404, "2b1d8f3e-6a55-4c1e-9b5e-2f4c6f0e9a11");
    app.request(Method::GET, &path, None, None, &[])
        .await
        .assert_error(401, "Authorization");
    app.get(&path, &app.ingest).await.assert_error(403, "read");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_writes_sections_and_hands_them_back_to_the_generated_text() {
    let (app, carol) = spawn_app_with_manager().await;
    let id = open_checkout_incident(&app).await;
    let generated = section(&draft_json(&app, &id).await, "summary").clone();
    assert!(generated["edited"].is_null());

    let text = "Checkout returned 5xx for 12 minutes after the v1.4.3 deploy.\n\n- rolled back";
    let reply = write_section(
        &app,
        Some(&carol),
        &id,
        "summary",
        json!({ "text": text }),
        &[],
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let answer = reply.json();
    assert_eq!(answer["projected"], true);
    assert!(
        answer.get("revision").is_none(),
        "only publication makes a revision"
    );
    let edited = answer["incident"]["postmortem"]["edited_sections"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(edited.len(), 1, "{edited:?}");
    assert_eq!(edited[0]["section"], "summary");
    assert_eq!(edited[0]["by"], "carol");
    assert!(edited[0]["at"].is_string());

    let draft = draft_json(&app, &id).await;
    let summary = section(&draft, "summary");
    assert_eq!(summary["edited"]["by"], "carol");
    assert_eq!(
        summary["blocks"],
        json!([{"type": "markdown", "text": text}])
    );
    let markdown = postmortem(&app, &format!("/v1/incidents/{id}/postmortem"), &[])
        .await
        .text;
    assert!(
        markdown.contains("## Summary\n\n*Written by carol"),
        "{markdown}"
    );
    assert!(markdown.contains(text), "{markdown}");
    let timeline = app.timeline(&id).await;
    assert!(timeline
        .iter()
        .any(|entry| entry["kind"] == "postmortem_edited" && entry["actor"] == "carol"));

    // The same text again is a conflict; `root-cause` names `root_cause`; the title is set.
    write_section(
        &app,
        Some(&carol),
        &id,
        "summary",
        json!({ "text": text }),
        &[],
    )
    .await
    .assert_error(409, "already says that");
    let cause = "A connection leak in worker.py";
    let reply = write_section(
        &app,
        Some(&carol),
        &id,
        "root-cause",
        json!({"text": cause}),
        &[],
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let reply = write_section(
        &app,
        Some(&carol),
        &id,
        "title",
        json!({"text": "Checkout outage of 24 November"}),
        &[],
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let draft = draft_json(&app, &id).await;
    assert_eq!(draft["title"], "Checkout outage of 24 November");
    assert_eq!(draft["title_edited"]["by"], "carol");
    assert_eq!(section(&draft, "root_cause")["blocks"][0]["text"], cause);

    // DELETE hands the section back to the generator.
    let reply = revert_section(&app, Some(&carol), &id, "summary").await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let sections: Vec<Value> = reply.json()["incident"]["postmortem"]["edited_sections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|edit| edit["section"].clone())
        .collect();
    assert_eq!(sections, [json!("title"), json!("root_cause")]);
    assert_eq!(section(&draft_json(&app, &id).await, "summary"), &generated);
    revert_section(&app, Some(&carol), &id, "summary")
        .await
        .assert_error(409, "no edit to revert");

    // An Idempotency-Key makes a retry answer like the first request.
    let key = [("idempotency-key", "lessons-1")];
    let lessons = json!({"text": "- [ ] alert on pool saturation"});
    let first = write_section(
        &app,
        Some(&carol),
        &id,
        "lessons_learned",
        lessons.clone(),
        &key,
    )
    .await;
    assert_eq!(first.status, 200, "{}", first.text);
    let log_end = app.log_end().await;
    let again = write_section(&app, Some(&carol), &id, "lessons_learned", lessons, &key).await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.json()["replayed"], true);
    assert_eq!(again.json()["fact_id"], first.json()["fact_id"]);
    assert_eq!(app.log_end().await, log_end, "a replay appends nothing");

    // Refusals append nothing.
    let log_end = app.log_end().await;
    write_section(
        &app,
        Some(&carol),
        &id,
        "success_criteria",
        json!({"text": "all met"}),
        &[],
    )
    .await
    .assert_error(409, "success_criteria section is computed from facts");
    revert_section(&app, Some(&carol), &id, "success_criteria")
        .await
        .assert_error(409, "computed from facts");
    let unknown = write_section(
        &app,
        Some(&carol),
        &id,
        "appendix",
        json!({"text": "x"}),
        &[],
    )
    .await;
    unknown.assert_error(404, "name: \"appendix\" is not a post-mortem section");
    assert_eq!(unknown.json()["error"], "unknown_section");
    for name in SECTIONS {
        assert!(
            unknown.text.contains(name),
            "{name} missing from {}",
            unknown.text
        );
    }
    revert_section(&app, Some(&carol), &id, "appendix")
        .await
        .assert_error(404, "lessons_learned");
    write_section(
        &app,
        Some(&carol),
        &id,
        "impact",
        json!({"text": "  \n "}),
        &[],
    )
    .await
    .assert_error(400, "text: must not be blank");
    write_section(
        &app,
        Some(&carol),
        &id,
        "impact",
        json!({"text": "x".repeat(64 * 1024 + 1)}),
        &[],
    )
    .await
    .assert_error(400, "text: longer than 65536 bytes");
    write_section(
        &app,
        Some(&carol),
        &id,
        "impact",
        json!({"text": "x", "by": "eve"}),
        &[],
    )
    .await
    .assert_error(400, "by");
    write_section(&app, Some(&carol), &id, "impact", json!({}), &[])
        .await
        .assert_error(400, "text");
    write_section(
        &app,
        Some(&carol),
        &id,
        "title",
        json!({"text": "two\nlines"}),
        &[],
    )
    .await
    .assert_error(400, "text: the title is one line");
    write_section(
        &app,
        Some(&carol),
        "2b1d8f3e-6a55-4c1e-9b5e-2f4c6f0e9a11",
        "impact",
        json!({"text": "x"}),
        &[],
    )
    .await
    .assert_error(404, "no incident");
    for token in [&app.reader, &app.alice] {
        write_section(&app, Some(token), &id, "impact", json!({"text": "x"}), &[])
            .await
            .assert_error(403, "manage");
        revert_section(&app, Some(token), &id, "title")
            .await
            .assert_error(403, "manage");
    }
    write_section(&app, None, &id, "impact", json!({"text": "x"}), &[])
        .await
        .assert_error(401, "Authorization");
    revert_section(&app, None, &id, "title")
        .await
        .assert_error(401, "Authorization");
    assert_eq!(
        app.log_end().await,
        log_end,
        "refused requests append nothing"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_freezes_numbered_revisions_that_survive_a_rebuild() {
    let (app, carol) = spawn_app_with_manager().await;
    // A deploy to checkout ten minutes before the incident: a suspect change.
    let mut deploy: Value = serde_json::from_str(CHANGE).unwrap();
    deploy["routing_key"] = json!(app.ingest);
    deploy["payload"]["summary"] = json!("Deploy checkout v1.4.3");
    deploy["payload"]["custom_details"]["service"] = json!("checkout");
    let ten_minutes_ago = time::OffsetDateTime::now_utc() - time::Duration::minutes(10);
    deploy["payload"]["timestamp"] = json!(ten_minutes_ago
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap());
    let reply = app
        .request(
            Method::POST,
            "/v2/change/enqueue",
            None,
            Some(deploy.to_string()),
            &[],
        )
        .await;
    assert_eq!(reply.status, 202, "{}", reply.text);
    let id = open_checkout_incident(&app).await;
    let revisions_path = format!("/v1/incidents/{id}/postmortem/revisions");

    // Nothing to publish while the incident is open.
    let log_end = app.log_end().await;
    publish(&app, Some(&carol), &id, &[])
        .await
        .assert_error(409, "still open (triggered); resolve it before publishing");
    for token in [&app.reader, &app.alice] {
        publish(&app, Some(token), &id, &[])
            .await
            .assert_error(403, "manage");
    }
    publish(&app, None, &id, &[])
        .await
        .assert_error(401, "Authorization");
    assert_eq!(
        app.log_end().await,
        log_end,
        "refused publications append nothing"
    );
    assert_eq!(
        postmortem(&app, &revisions_path, &[]).await.json(),
        json!([])
    );
    postmortem(&app, &format!("{revisions_path}/1"), &[])
        .await
        .assert_error(404, "has no revision 1; none is published yet");

    respond(&app, &id, "ack", json!({})).await;
    respond(
        &app,
        &id,
        "resolve",
        json!({"resolution": "rolled back to v1.4.2"}),
    )
    .await;
    let summary = "Checkout failed after the v1.4.3 deploy; rolling back fixed it.";
    let reply = write_section(
        &app,
        Some(&carol),
        &id,
        "summary",
        json!({"text": summary}),
        &[],
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    app.request(
        Method::POST,
        &format!("/v1/incidents/{id}/postmortem/publish"),
        Some(&carol),
        Some(r#"{"draft": true}"#.to_owned()),
        &[],
    )
    .await
    .assert_error(400, "draft");

    // Publish: revision 1, incident closed. A retry with the same key is the same revision.
    let key = [("idempotency-key", "publish-1")];
    let reply = publish(&app, Some(&carol), &id, &key).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let answer = reply.json();
    assert_eq!(answer["revision"], 1);
    assert_eq!(answer["replayed"], false);
    let incident = &answer["incident"];
    assert_eq!(incident["status"], "closed");
    assert_eq!(incident["postmortem"]["revisions"][0]["number"], 1);
    assert_eq!(incident["postmortem"]["revisions"][0]["by"], "carol");
    let retry = publish(&app, Some(&carol), &id, &key).await;
    assert_eq!(retry.status, 200, "{}", retry.text);
    assert_eq!(retry.json()["replayed"], true);
    assert_eq!(retry.json()["revision"], 1);

    let revisions = postmortem(&app, &revisions_path, &[]).await.json();
    let listed = revisions.as_array().unwrap();
    assert_eq!(listed.len(), 1, "{revisions}");
    assert_eq!(listed[0]["number"], 1);
    assert_eq!(listed[0]["by"], "carol");
    assert!(listed[0]["at"].is_string());
    let detail = app
        .get(&format!("/v1/incidents/{id}"), &app.reader)
        .await
        .json();
    assert_eq!(detail["postmortem"]["revisions"], revisions);
    assert_eq!(
        detail["_links"]["postmortem_revisions"],
        revisions_path.as_str()
    );

    let revision_one = revision_renderings(&app, &id, 1).await;
    let [markdown, json_text, html] = &revision_one;
    let frozen: Value = serde_json::from_str(json_text).unwrap();
    assert_eq!(frozen["revision"], 1);
    assert_eq!(frozen["published"]["by"], "carol");
    assert_eq!(frozen["incident_status"], "closed");
    assert_eq!(section(&frozen, "summary")["blocks"][0]["text"], summary);
    assert!(
        section(&frozen, "trigger")
            .to_string()
            .contains("Deploy checkout v1.4.3"),
        "the revision keeps the suspect change seen when publishing: {frozen}"
    );
    assert!(
        markdown.contains("*Revision 1, published by carol"),
        "{markdown}"
    );
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    let reply = postmortem(&app, &format!("{revisions_path}/1?format=md"), &[]).await;
    assert_eq!(reply.headers["vary"], "Accept");
    assert_eq!(&reply.text, markdown);

    // A later action item changes the draft, never the published revision.
    respond(
        &app,
        &id,
        "action-items",
        json!({"title": "Alert on checkout pool saturation", "owner": "bob", "kind": "prevent"}),
    )
    .await;
    let draft = draft_json(&app, &id).await;
    assert!(draft["revision"].is_null());
    assert!(
        section(&draft, "action_items")
            .to_string()
            .contains("Alert on checkout pool saturation"),
        "{draft}"
    );
    assert!(!json_text.contains("Alert on checkout pool saturation"));
    assert_eq!(revision_renderings(&app, &id, 1).await, revision_one);

    // Publishing again (the incident is closed already) makes revision 2.
    let reply = publish(&app, Some(&carol), &id, &[]).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json()["revision"], 2);
    assert_eq!(reply.json()["incident"]["status"], "closed");
    let numbers: Vec<Value> = postmortem(&app, &revisions_path, &[])
        .await
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|revision| revision["number"].clone())
        .collect();
    assert_eq!(numbers, [json!(1), json!(2)]);
    let revision_two = revision_renderings(&app, &id, 2).await;
    assert!(revision_two[1].contains("Alert on checkout pool saturation"));
    assert_eq!(revision_renderings(&app, &id, 1).await, revision_one);

    postmortem(&app, &format!("{revisions_path}/3"), &[])
        .await
        .assert_error(404, "has no revision 3; revisions 1 to 2 are published");
    postmortem(&app, &format!("{revisions_path}/0"), &[])
        .await
        .assert_error(404, "has no revision 0");
    postmortem(&app, &format!("{revisions_path}/latest"), &[])
        .await
        .assert_error(400, "n: \"latest\" is not a revision number");
    postmortem(&app, &format!("{revisions_path}/1?format=doc"), &[])
        .await
        .assert_error(400, "format");

    // The log alone gives back the same revisions, draft and listing, byte for byte.
    let draft_before = postmortem(&app, &format!("/v1/incidents/{id}/postmortem"), &[])
        .await
        .text;
    let listed_before = postmortem(&app, &revisions_path, &[]).await.text;
    let app = app.rebuild_and_restart().await;
    assert_eq!(revision_renderings(&app, &id, 1).await, revision_one);
    assert_eq!(revision_renderings(&app, &id, 2).await, revision_two);
    assert_eq!(
        postmortem(&app, &revisions_path, &[]).await.text,
        listed_before
    );
    assert_eq!(
        postmortem(&app, &format!("/v1/incidents/{id}/postmortem"), &[])
            .await
            .text,
        draft_before
    );
    // The manager's token outlives the rebuild: a third revision.
    let reply = publish(&app, Some(&carol), &id, &[]).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json()["revision"], 3);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_text_never_becomes_markup_in_the_html_rendering() {
    let (app, carol) = spawn_app_with_manager().await;
    let hostile = "<script>alert('pwned')</script> checkout down";
    let body = json!({
        "version": "4", "status": "firing", "receiver": "aftermath",
        "groupKey": "{}:{alertname=\"CheckoutDown\"}", "truncatedAlerts": 0,
        "groupLabels": {"alertname": "CheckoutDown"},
        "commonLabels": {"alertname": "CheckoutDown", "service": "checkout", "severity": "critical"},
        "commonAnnotations": {"summary": hostile},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": "CheckoutDown", "service": "checkout", "severity": "critical"},
            "annotations": {"summary": hostile, "description": "<img src=x onerror=alert(1)>"},
            "startsAt": "2026-11-24T07:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.example/graph", "fingerprint": "x1"
        }]
    });
    app.notify(&body.to_string()).await;
    let id = app.only_incident().await["id"].as_str().unwrap().to_owned();
    let reply = write_section(
        &app,
        Some(&carol),
        &id,
        "lessons_learned",
        json!({"text": "- <b>bold</b> <iframe src=evil>"}),
        &[],
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text);

    let markdown = postmortem(&app, &format!("/v1/incidents/{id}/postmortem"), &[])
        .await
        .text;
    assert!(
        markdown.contains(hostile),
        "the alert's text is in the draft: {markdown}"
    );
    let html = postmortem(
        &app,
        &format!("/v1/incidents/{id}/postmortem"),
        &[("accept", "text/html")],
    )
    .await
    .text;
    assert!(
        html.contains("&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;"),
        "{html}"
    );
    for markup in ["<script", "<img", "<iframe", "<b>"] {
        assert!(!html.contains(markup), "{markup} reached the HTML:\n{html}");
    }
    app.stop().await;
}

/// Runs `aftermath postmortem ARGS` against `server` with `token` on a blocking thread (the
/// in-process server keeps serving), without the caller's AFTERMATH_* or PAGER.
async fn cli(server: &str, token: Option<&str>, args: &[&str]) -> Output {
    let mut command = Command::new(BINARY);
    command
        .arg("postmortem")
        .env_remove("AFTERMATH_URL")
        .env_remove("AFTERMATH_TOKEN")
        .env_remove("PAGER")
        .env("AFTERMATH_LOG", "warn")
        .env("AFTERMATH_URL", server)
        .stdin(Stdio::null())
        .args(args);
    if let Some(token) = token {
        command.env("AFTERMATH_TOKEN", token);
    }
    tokio::task::spawn_blocking(move || command.output().expect("aftermath runs"))
        .await
        .unwrap()
}

/// A command that must succeed; its stdout.
async fn cli_ok(server: &str, token: &str, args: &[&str]) -> String {
    let output = cli(server, Some(token), args).await;
    assert!(
        output.status.success(),
        "aftermath postmortem {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// A command that must fail with nothing on stdout; its stderr.
async fn cli_fails(server: &str, token: Option<&str>, args: &[&str]) -> String {
    let output = cli(server, token, args).await;
    assert!(
        !output.status.success(),
        "aftermath postmortem {args:?} succeeded: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(output.stdout.is_empty(), "a failure printed on stdout");
    String::from_utf8(output.stderr).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_shows_edits_and_publishes_post_mortems() {
    let (app, carol) = spawn_app_with_manager().await;
    let id = open_checkout_incident(&app).await;
    let short = &id[..8];
    let server = app.base.as_str();

    let markdown = cli_ok(server, &app.reader, &["show", short]).await;
    let served = postmortem(&app, &format!("/v1/incidents/{id}/postmortem"), &[])
        .await
        .text;
    assert_eq!(markdown, served, "show prints the server's Markdown as is");
    let printed: Value = serde_json::from_str(
        &cli_ok(server, &app.reader, &["show", &id, "--format", "json"]).await,
    )
    .unwrap();
    assert_eq!(printed, draft_json(&app, &id).await);
    let printed: Value =
        serde_json::from_str(&cli_ok(server, &app.reader, &["--json", "show", &id]).await).unwrap();
    assert_eq!(printed["incident_id"], id.as_str());
    let html = cli_ok(server, &app.reader, &["show", short, "--format", "html"]).await;
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");

    let written = cli_ok(
        server,
        &carol,
        &[
            "edit",
            short,
            "summary",
            "--text",
            "Checkout failed for 12 minutes.",
        ],
    )
    .await;
    assert_eq!(
        written,
        format!("wrote the summary section of {short}'s post-mortem\n")
    );
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), "- [ ] alert on pool saturation\n").unwrap();
    let path = file.path().to_str().unwrap();
    cli_ok(
        server,
        &carol,
        &["edit", short, "lessons-learned", "--file", path],
    )
    .await;
    let draft = draft_json(&app, &id).await;
    assert_eq!(
        section(&draft, "summary")["blocks"][0]["text"],
        "Checkout failed for 12 minutes."
    );
    assert_eq!(
        section(&draft, "lessons_learned")["blocks"][0]["text"],
        "- [ ] alert on pool saturation\n"
    );
    let reverted = cli_ok(server, &carol, &["edit", short, "summary", "--revert"]).await;
    assert_eq!(
        reverted,
        format!("handed the summary section of {short}'s post-mortem back to the generated text\n")
    );
    assert!(section(&draft_json(&app, &id).await, "summary")["edited"].is_null());

    // Failures print the server's detail and exit non-zero.
    let error = cli_fails(
        server,
        Some(&carol),
        &["edit", short, "success_criteria", "--text", "x"],
    )
    .await;
    assert!(
        error.contains("computed from facts") && error.contains("(HTTP 409)"),
        "{error}"
    );
    let error = cli_fails(
        server,
        Some(&carol),
        &["edit", short, "../ack", "--text", "x"],
    )
    .await;
    assert!(error.contains("is not a section name"), "{error}");
    let error = cli_fails(
        server,
        Some(&carol),
        &["edit", short, "appendix", "--text", "x"],
    )
    .await;
    assert!(
        error.contains("lessons_learned") && error.contains("(HTTP 404)"),
        "{error}"
    );
    let error = cli_fails(server, Some(&carol), &["publish", short]).await;
    assert!(
        error.contains("resolve it before publishing") && error.contains("(HTTP 409)"),
        "{error}"
    );
    respond(&app, &id, "resolve", json!({})).await;
    let error = cli_fails(server, Some(&app.reader), &["publish", short]).await;
    assert!(
        error.contains("manage") && error.contains("(HTTP 403)"),
        "{error}"
    );
    let error = cli_fails(server, None, &["publish", short]).await;
    assert!(error.contains("--scopes manage,read"), "{error}");
    let error = cli_fails(
        server,
        Some(&carol),
        &["edit", short, "summary", "--file", "/nonexistent/x.md"],
    )
    .await;
    assert!(error.contains("/nonexistent/x.md"), "{error}");

    let published = cli_ok(server, &carol, &["publish", short]).await;
    assert_eq!(
        published,
        format!("published revision 1 of {short}'s post-mortem; incident closed\n")
    );
    let listed = cli_ok(server, &app.reader, &["revisions", short]).await;
    let rows: Vec<&str> = listed.lines().collect();
    assert_eq!(rows.len(), 2, "{listed}");
    assert!(rows[0].starts_with("REVISION"), "{listed}");
    assert!(
        rows[1].starts_with("1 ") && rows[1].contains("carol"),
        "{listed}"
    );
    let frozen = cli_ok(server, &app.reader, &["show", short, "--revision", "1"]).await;
    let served = postmortem(
        &app,
        &format!("/v1/incidents/{id}/postmortem/revisions/1"),
        &[],
    )
    .await
    .text;
    assert_eq!(frozen, served);
    assert!(
        frozen.contains("*Revision 1, published by carol"),
        "{frozen}"
    );
    let error = cli_fails(
        server,
        Some(&app.reader),
        &["show", short, "--revision", "9"],
    )
    .await;
    assert!(
        error.contains("has no revision 9") && error.contains("(HTTP 404)"),
        "{error}"
    );

    // `--url` and `--token` flags work as well as the environment.
    let mut command = Command::new(BINARY);
    command
        .args([
            "postmortem",
            "--url",
            server,
            "--token",
            &carol,
            "--json",
            "publish",
            &id,
        ])
        .env_remove("AFTERMATH_URL")
        .env_remove("AFTERMATH_TOKEN")
        .stdin(Stdio::null());
    let output = tokio::task::spawn_blocking(move || command.output().expect("aftermath runs"))
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(answer["revision"], 2);
    app.stop().await;
}
