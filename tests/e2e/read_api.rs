//! The read API: listing with filters and cursors, incident detail, timeline, post-mortem.

use crate::support::*;

async fn listing_filters_by_status_and_pages_newest_first(backend: Backend) {
    let app = spawn_app_on(backend).await;
    for n in 0..5 {
        app.notify(&webhook(&format!("Group{n}"), &format!("fp{n}"), false))
            .await;
    }
    for n in [1, 3] {
        app.notify(&webhook(&format!("Group{n}"), &format!("fp{n}"), true))
            .await;
    }
    assert_eq!(app.incidents("open").await.len(), 3);
    assert_eq!(app.incidents("resolved").await.len(), 2);
    let all = app.incidents("all").await;
    assert_eq!(all.len(), 5);
    let titles: Vec<_> = all.iter().map(|i| i["title"].as_str().unwrap()).collect();
    assert_eq!(
        titles,
        [
            "Group4 is failing",
            "Group3 is failing",
            "Group2 is failing",
            "Group1 is failing",
            "Group0 is failing"
        ]
    );

    let mut seen = Vec::new();
    let mut path = "/v1/incidents?limit=2".to_owned();
    loop {
        let page = app.get(&path, &app.reader).await.json();
        let incidents = page["incidents"].as_array().unwrap();
        assert!(incidents.len() <= 2);
        seen.extend(incidents.iter().map(|i| i["id"].clone()));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/incidents?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    let ids: Vec<_> = all.iter().map(|i| i["id"].clone()).collect();
    assert_eq!(seen, ids);

    app.get("/v1/incidents?limit=0", &app.reader)
        .await
        .assert_error(400, "limit");
    app.get("/v1/incidents?limit=1001", &app.reader)
        .await
        .assert_error(400, "limit");
    app.get("/v1/incidents?limit=ten", &app.reader)
        .await
        .assert_error(400, "limit");
    app.get("/v1/incidents?status=closed", &app.reader)
        .await
        .assert_error(400, "status");
    app.get("/v1/incidents?cursor=zzz", &app.reader)
        .await
        .assert_error(400, "cursor");
    app.get("/v1/incidents?sort=asc", &app.reader)
        .await
        .assert_error(400, "sort");
    app.stop().await;
}

async fn detail_timeline_and_postmortem_describe_the_incident(backend: Backend) {
    let app = spawn_app_on(backend).await;
    app.notify(BILLING_FIRING).await;
    let id = app.only_incident().await["id"].as_str().unwrap().to_owned();
    app.post(&format!("/v1/incidents/{id}/ack"), &app.alice, "{}")
        .await;
    app.notify(BILLING_RESOLVED).await;
    app.caught_up().await;

    let detail = app
        .get(&format!("/v1/incidents/{id}"), &app.reader)
        .await
        .json();
    assert_eq!(detail["status"], "resolved");
    assert_eq!(detail["severity"], "critical");
    assert_eq!(detail["service"], "billing");
    assert_eq!(detail["acknowledged_by"], "alice");
    assert_eq!(detail["resolved_by"], "alertmanager");
    assert!(detail["opened_at"].as_str().unwrap().ends_with('Z'));
    assert!(detail["time_to_acknowledge_seconds"].as_i64().unwrap() >= 0);
    assert!(detail["time_to_resolve_seconds"].as_i64().unwrap() >= 0);
    assert_eq!(detail["alerts"].as_array().unwrap().len(), 1);
    assert_eq!(detail["alerts"][0]["status"], "resolved");
    assert_eq!(
        detail["_links"]["timeline"],
        format!("/v1/incidents/{id}/timeline")
    );

    let timeline = app.timeline(&id).await;
    let kinds: Vec<_> = timeline
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "opened",
            "alert_firing",
            // The fixture's alert is a failed schema migration.
            "classified",
            "acknowledged",
            "alert_resolved",
            "auto_resolved"
        ]
    );
    assert_eq!(detail["classification"]["code"], "E104");
    assert_eq!(detail["error_class"], "E104");
    for entry in &timeline {
        for field in ["at", "kind", "actor", "text"] {
            assert!(entry[field].is_string(), "{entry}");
        }
    }

    let postmortem = app
        .get(&format!("/v1/incidents/{id}/postmortem"), &app.reader)
        .await;
    assert_eq!(postmortem.status, 200);
    assert_eq!(
        postmortem.headers["content-type"],
        "text/markdown; charset=utf-8"
    );
    let text = postmortem.text;
    assert!(text.starts_with("# Post-Mortem: "), "{text}");
    for section in ["## Summary", "## Impact", "## Timeline", "## Resolution"] {
        assert!(text.contains(section), "{section} missing from:\n{text}");
    }
    assert!(text.contains("alice acknowledged it"), "{text}");
    app.stop().await;
}

#[tokio::test]
async fn healthz_needs_no_token() {
    let app = spawn_app().await;
    let reply = app
        .request(reqwest::Method::GET, "/healthz", None, None, &[])
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["status"], "ok");
    app.stop().await;
}

crate::on_both_backends!(
    listing_filters_by_status_and_pages_newest_first,
    detail_timeline_and_postmortem_describe_the_incident,
);

#[tokio::test]
async fn the_openapi_document_is_served_and_every_operation_in_it_is_routed() {
    let app = spawn_app().await;
    let reply = app
        .request(reqwest::Method::GET, "/openapi.json", None, None, &[])
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text, aftermath_http::openapi_json());
    let document = reply.json();
    for (path, operations) in document["paths"].as_object().unwrap() {
        let concrete = path
            .replace("{id}", "00000000-0000-0000-0000-000000000000")
            .replace("{aid}", "00000000-0000-0000-0000-000000000001")
            .replace("{n}", "1");
        for method in operations.as_object().unwrap().keys() {
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let answer = app
                .request(method.clone(), &concrete, Some(&app.reader), None, &[])
                .await;
            assert_ne!(
                answer.status, 405,
                "{method} {path} is documented but not routed"
            );
            assert!(
                !answer.text.contains("no such endpoint"),
                "{method} {path} is documented but not routed"
            );
        }
    }
    app.stop().await;
}
