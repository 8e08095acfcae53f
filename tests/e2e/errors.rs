//! Bad input and bad credentials: a clear JSON error, the right status, nothing appended.

use reqwest::Method;

use crate::support::*;

#[tokio::test]
async fn malformed_notifications_are_400_naming_the_field_and_append_nothing() {
    let app = spawn_app().await;
    let cases = [
        ("{not json", "body"),
        ("[]", "body"),
        (
            &*FIRING.replace(r#""version":"4""#, r#""version":"3""#),
            "version",
        ),
        (
            &*FIRING.replace(r#""fingerprint":"#, r#""fingerprint_":"#),
            "alerts[0]",
        ),
        (
            &*FIRING.replacen(r#""startsAt":"2026"#, r#""startsAt":"later"#, 1),
            "alerts[0].startsAt",
        ),
        (
            &*FIRING.replacen(
                r#""status":"firing","labels""#,
                r#""status":"burning","labels""#,
                1,
            ),
            "alerts[0].status",
        ),
        (
            r#"{"version":"4","groupKey":"g","status":"firing","alerts":[]}"#,
            "alerts",
        ),
    ];
    for (body, field) in cases {
        assert_ne!(body, FIRING, "fixture layout changed");
        let reply = app.post("/v1/ingest/alertmanager", &app.ingest, body).await;
        reply.assert_error(400, field);
    }
    assert_eq!(app.log_end().await, 0);
    // Refusals are counted by route pattern and status for operators.
    let status = app.get("/v1/status", &app.reader).await.json();
    assert_eq!(
        status["rejected"]["POST /v1/ingest/alertmanager"]["400"], 7,
        "{status}"
    );
    app.stop().await;
}

#[tokio::test]
async fn bodies_over_one_mebibyte_are_413() {
    let app = spawn_app().await;
    let padding = "x".repeat(1024 * 1024);
    let body = FIRING.replacen(
        r#""receiver":"aftermath""#,
        &format!(r#""receiver":"{padding}""#),
        1,
    );
    let reply = app
        .post("/v1/ingest/alertmanager", &app.ingest, &body)
        .await;
    reply.assert_error(413, "exceeds");
    assert_eq!(app.log_end().await, 0);
    app.stop().await;
}

#[tokio::test]
async fn missing_or_unknown_tokens_are_401_and_missing_scopes_403() {
    let app = spawn_app().await;
    let no_token = app
        .request(
            Method::POST,
            "/v1/ingest/alertmanager",
            None,
            Some(FIRING.into()),
            &[],
        )
        .await;
    no_token.assert_error(401, "Bearer");
    assert_eq!(no_token.headers["www-authenticate"], "Bearer");
    app.post("/v1/ingest/alertmanager", "aftm_0000", FIRING)
        .await
        .assert_error(401, "unknown");
    app.request(
        Method::GET,
        "/v1/incidents",
        None,
        None,
        &[("Authorization", "Basic YTpi")],
    )
    .await
    .assert_error(401, "Bearer");

    app.post("/v1/ingest/alertmanager", &app.reader, FIRING)
        .await
        .assert_error(403, "ingest");
    app.get("/v1/incidents", &app.ingest)
        .await
        .assert_error(403, "read");
    app.get("/v1/status", &app.ingest)
        .await
        .assert_error(403, "read");
    assert_eq!(app.log_end().await, 0);

    app.notify(FIRING).await;
    let id = app.only_incident().await["id"].as_str().unwrap().to_owned();
    for action in ["ack", "notes", "resolve"] {
        let path = format!("/v1/incidents/{id}/{action}");
        app.post(&path, &app.reader, r#"{"text":"x"}"#)
            .await
            .assert_error(403, "respond");
        app.post(&path, &app.ingest, r#"{"text":"x"}"#)
            .await
            .assert_error(403, "respond");
    }
    for path in ["", "/timeline", "/postmortem"] {
        app.get(&format!("/v1/incidents/{id}{path}"), &app.ingest)
            .await
            .assert_error(403, "read");
    }
    app.stop().await;
}

#[tokio::test]
async fn responder_bodies_are_checked_field_by_field() {
    let app = spawn_app().await;
    app.notify(FIRING).await;
    let id = app.only_incident().await["id"].as_str().unwrap().to_owned();
    let log_end = app.log_end().await;
    let notes = format!("/v1/incidents/{id}/notes");
    app.post(&notes, &app.alice, "{}")
        .await
        .assert_error(400, "text");
    app.post(&notes, &app.alice, r#"{"text":"   "}"#)
        .await
        .assert_error(400, "text: must not be blank");
    app.post(&notes, &app.alice, r#"{"text":42}"#)
        .await
        .assert_error(400, "text");
    app.post(&notes, &app.alice, r#"{"text":"ok","extra":1}"#)
        .await
        .assert_error(400, "extra");
    app.post(&notes, &app.alice, "{")
        .await
        .assert_error(400, "body");
    app.post(
        &format!("/v1/incidents/{id}/ack"),
        &app.alice,
        r#"{"note":""}"#,
    )
    .await
    .assert_error(400, "note");
    app.post(
        &format!("/v1/incidents/{id}/resolve"),
        &app.alice,
        r#"{"resolution":7}"#,
    )
    .await
    .assert_error(400, "resolution");
    assert_eq!(app.log_end().await, log_end);
    app.stop().await;
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let app = spawn_app().await;
    app.get("/v1/nothing-here", &app.reader)
        .await
        .assert_error(404, "no such endpoint");
    app.request(
        Method::DELETE,
        "/v1/incidents",
        Some(&app.reader),
        None,
        &[],
    )
    .await
    .assert_error(405, "method");
    app.stop().await;
}
