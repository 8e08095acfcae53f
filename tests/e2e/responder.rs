//! The responder API: acknowledge, note, resolve, with names from tokens, conflicts and
//! idempotency keys.

use reqwest::Method;

use crate::support::*;

async fn open_incident(app: &TestApp) -> String {
    app.notify(FIRING).await;
    app.only_incident().await["id"].as_str().unwrap().to_owned()
}

async fn acknowledge_note_and_resolve_with_the_token_as_actor(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let id = open_incident(&app).await;

    let ack = app
        .post(
            &format!("/v1/incidents/{id}/ack"),
            &app.alice,
            r#"{"note":"on it"}"#,
        )
        .await;
    assert_eq!(ack.status, 200, "{}", ack.text);
    let incident = &ack.json()["incident"];
    assert_eq!(incident["status"], "acknowledged");
    assert_eq!(incident["acknowledged_by"], "alice");
    assert!(incident["time_to_acknowledge_seconds"].is_i64());

    let note = app
        .post(
            &format!("/v1/incidents/{id}/notes"),
            &app.bob,
            r#"{"text":"rolled back v1.4.3"}"#,
        )
        .await;
    assert_eq!(note.status, 200, "{}", note.text);

    let resolve = app
        .post(
            &format!("/v1/incidents/{id}/resolve"),
            &app.bob,
            r#"{"resolution":"rollback fixed it"}"#,
        )
        .await;
    assert_eq!(resolve.status, 200, "{}", resolve.text);
    let incident = &resolve.json()["incident"];
    assert_eq!(incident["status"], "resolved");
    assert_eq!(incident["resolved_by"], "bob");
    assert_eq!(incident["resolution"], "rollback fixed it");
    assert!(incident["time_to_resolve_seconds"].is_i64());

    let timeline = app.timeline(&id).await;
    let people: Vec<_> = timeline
        .iter()
        .filter(|e| e["actor"] != "alertmanager")
        .map(|e| {
            (
                e["kind"].as_str().unwrap(),
                e["actor"].as_str().unwrap(),
                e["text"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        people,
        [
            ("acknowledged", "alice", "Acknowledged by alice: on it"),
            ("note", "bob", "Note by bob: rolled back v1.4.3"),
            (
                "resolved",
                "bob",
                "Resolved by bob: rollback fixed it (2 alert(s) still firing at the source)"
            ),
        ]
    );
    app.stop().await;
}

#[tokio::test]
async fn the_actor_cannot_be_set_from_the_body() {
    let app = spawn_app().await;
    let id = open_incident(&app).await;
    let reply = app
        .post(
            &format!("/v1/incidents/{id}/ack"),
            &app.alice,
            r#"{"actor":"mallory"}"#,
        )
        .await;
    reply.assert_error(400, "actor");
    assert_eq!(app.only_incident().await["status"], "triggered");
    app.stop().await;
}

async fn transitions_that_make_no_sense_are_409(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let id = open_incident(&app).await;
    assert_eq!(
        app.post(&format!("/v1/incidents/{id}/ack"), &app.alice, "")
            .await
            .status,
        200
    );
    app.post(&format!("/v1/incidents/{id}/ack"), &app.bob, "{}")
        .await
        .assert_error(409, "already acknowledged by alice");
    assert_eq!(
        app.post(&format!("/v1/incidents/{id}/resolve"), &app.alice, "{}")
            .await
            .status,
        200
    );
    app.post(&format!("/v1/incidents/{id}/resolve"), &app.bob, "{}")
        .await
        .assert_error(409, "already resolved");
    // Notes are welcome after resolution.
    let note = app
        .post(
            &format!("/v1/incidents/{id}/notes"),
            &app.bob,
            r#"{"text":"follow-up"}"#,
        )
        .await;
    assert_eq!(note.status, 200, "{}", note.text);
    let log_end = app.log_end().await;
    app.post(&format!("/v1/incidents/{id}/ack"), &app.bob, "{}")
        .await
        .assert_error(409, "resolved");
    assert_eq!(
        app.log_end().await,
        log_end,
        "a refused request appends nothing"
    );
    app.stop().await;
}

#[tokio::test]
async fn unknown_incidents_are_404() {
    let app = spawn_app().await;
    for id in ["2b1d8f3e-6a55-4c1e-9b5e-2f4c6f0e9a11", "not-an-id"] {
        app.post(&format!("/v1/incidents/{id}/ack"), &app.alice, "{}")
            .await
            .assert_error(404, id);
        app.get(&format!("/v1/incidents/{id}"), &app.alice)
            .await
            .assert_error(404, id);
        app.get(&format!("/v1/incidents/{id}/timeline"), &app.alice)
            .await
            .assert_error(404, id);
        app.get(&format!("/v1/incidents/{id}/postmortem"), &app.alice)
            .await
            .assert_error(404, id);
    }
    app.stop().await;
}

async fn an_idempotency_key_makes_a_retry_answer_like_the_first_request(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let id = open_incident(&app).await;
    let send = |path: String, key: &'static str| {
        let app = &app;
        async move {
            app.request(
                Method::POST,
                &path,
                Some(&app.alice),
                Some(r#"{"text":"checking the pool"}"#.into()),
                &[("Idempotency-Key", key)],
            )
            .await
        }
    };
    let first = send(format!("/v1/incidents/{id}/notes"), "note-1").await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.json()["replayed"], false);
    let retry = send(format!("/v1/incidents/{id}/notes"), "note-1").await;
    assert_eq!(retry.status, 200, "{}", retry.text);
    assert_eq!(retry.json()["replayed"], true);
    assert_eq!(retry.json()["fact_id"], first.json()["fact_id"]);
    let other = send(format!("/v1/incidents/{id}/notes"), "note-2").await;
    assert_eq!(other.json()["replayed"], false);
    let notes = app
        .timeline(&id)
        .await
        .into_iter()
        .filter(|e| e["kind"] == "note")
        .count();
    assert_eq!(notes, 2);

    // A retried resolve is answered as the first one, not with 409.
    let resolve = |key: &'static str| {
        let app = &app;
        let path = format!("/v1/incidents/{id}/resolve");
        async move {
            app.request(
                Method::POST,
                &path,
                Some(&app.alice),
                Some("{}".into()),
                &[("Idempotency-Key", key)],
            )
            .await
        }
    };
    assert_eq!(resolve("r-1").await.status, 200);
    let again = resolve("r-1").await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.json()["replayed"], true);
    resolve("r-2").await.assert_error(409, "already resolved");

    let bad_key = app
        .request(
            Method::POST,
            &format!("/v1/incidents/{id}/notes"),
            Some(&app.alice),
            Some(r#"{"text":"x"}"#.into()),
            &[("Idempotency-Key", "has space")],
        )
        .await;
    bad_key.assert_error(400, "Idempotency-Key");
    app.stop().await;
}

crate::on_both_backends!(
    acknowledge_note_and_resolve_with_the_token_as_actor,
    transitions_that_make_no_sense_are_409,
    an_idempotency_key_makes_a_retry_answer_like_the_first_request,
);
