//! Error classification over HTTP: the classifier's class with its evidence and runbook on
//! the incident, a responder's override (and its errors), and the override surviving a
//! rebuild from the log.

use serde_json::{json, Value};

use crate::support::*;

fn failed_migration() -> String {
    json!({
        "version": "4", "status": "firing", "receiver": "aftermath",
        "groupKey": "{}:{alertname=\"MigrationJobFailed\"}", "truncatedAlerts": 0,
        "groupLabels": {"alertname": "MigrationJobFailed"},
        "commonLabels": {}, "commonAnnotations": {},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": "MigrationJobFailed", "service": "orders", "severity": "critical"},
            "annotations": {
                "summary": "Flyway migration V3__add_index.sql failed on orders-db",
                "description": "ERROR: Migration V3__add_index.sql failed\nSQL State  : 42P07\nMessage    : relation \"orders_state_idx\" already exists"
            },
            "startsAt": "2026-11-24T07:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.example/graph", "fingerprint": "m1"
        }]
    })
    .to_string()
}

async fn detail(app: &TestApp, id: &str) -> Value {
    app.caught_up().await;
    let reply = app.get(&format!("/v1/incidents/{id}"), &app.reader).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incidents_carry_their_class_evidence_and_runbook_and_an_override_survives_a_rebuild() {
    let app = spawn_app().await;
    app.notify(&failed_migration()).await;
    let listed = app.only_incident().await;
    assert_eq!(listed["error_class"], "E104");
    let id = listed["id"].as_str().unwrap().to_owned();

    let incident = detail(&app, &id).await;
    let classification = &incident["classification"];
    assert_eq!(classification["code"], "E104");
    assert_eq!(classification["title"], "Database Migration Failure");
    assert_eq!(classification["source"], "classifier");
    assert!(classification["override"].is_null());
    let classifier = &classification["classifier"];
    assert_eq!(classifier["class"], "E104");
    assert!(classifier["confidence"].as_u64().unwrap() > 0);
    assert!(classifier["rules_version"].as_u64().unwrap() >= 1);
    let evidence = classifier["evidence"].as_array().unwrap();
    assert!(
        evidence
            .iter()
            .any(|e| e["class"] == "E104" && e["matched"].as_str().unwrap().len() > 3),
        "{evidence:?}"
    );
    let runbook = &classification["runbook"];
    assert_eq!(
        runbook["path"],
        "runbooks/E104-database-migration-failure.md"
    );
    assert!(runbook["procedure"].as_array().unwrap().len() >= 3);
    assert!(runbook["prevention"].as_array().unwrap().len() >= 3);
    let timeline = app.timeline(&id).await;
    assert!(timeline.iter().any(|e| e["kind"] == "classified"
        && e["actor"] == "aftermath-classifier"
        && e["text"]
            .as_str()
            .unwrap()
            .starts_with("Classified as E104 Database Migration Failure")));

    // Bad requests change nothing.
    let path = format!("/v1/incidents/{id}/classification");
    app.post(&path, &app.alice, r#"{"code":"E999","reason":"x"}"#)
        .await
        .assert_error(400, "E999");
    app.post(&path, &app.alice, r#"{"code":"E103","reason":" "}"#)
        .await
        .assert_error(400, "reason");
    app.post(&path, &app.reader, r#"{"code":"E103","reason":"x"}"#)
        .await
        .assert_error(403, "respond");

    let reply = app
        .post(
            &path,
            &app.alice,
            r#"{"code":"E103","reason":"the deploy ran the migration job twice"}"#,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let overridden = &reply.json()["incident"]["classification"];
    assert_eq!(overridden["code"], "E103");
    assert_eq!(overridden["source"], "responder");
    assert_eq!(overridden["override"]["by"], "alice");
    assert_eq!(
        overridden["classifier"]["class"], "E104",
        "the classifier's answer is kept"
    );
    assert_eq!(
        overridden["runbook"]["path"],
        "runbooks/E103-deployment-failure.md"
    );
    app.post(&path, &app.bob, r#"{"code":"E103","reason":"agreed"}"#)
        .await
        .assert_error(409, "already set to E103 Deployment Failure by alice");

    // A rebuild from the log re-derives the classifier's answer and keeps the override.
    let before = detail(&app, &id).await;
    let app = app.rebuild_and_restart().await;
    let after = detail(&app, &id).await;
    assert_eq!(after["classification"], before["classification"]);
    assert_eq!(after["classification"]["code"], "E103");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classify_dry_run_lists_exactly_the_incidents_whose_class_would_change() {
    let app = spawn_app().await;
    app.notify(&failed_migration()).await;
    app.notify(&webhook("HostHighCpuLoad", "cpu-1", false))
        .await;
    let incidents = app.incidents("all").await;
    assert_eq!(incidents.len(), 2);
    let migration = incidents
        .iter()
        .find(|i| i["error_class"] == "E104")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (backends, data_dir) = app.stop_keeping_data().await;

    // Projections folded under an older rule table: the migration incident was E101 then.
    let projections = data_dir.path().join("projections.sqlite");
    let url = format!("sqlite://{}", projections.display());
    let mut db = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    let changed = sqlx::query(
        "UPDATE incidents SET state = replace(state, '\"class\":\"E104\"', '\"class\":\"E101\"') WHERE id = ?",
    )
    .bind(&migration)
    .execute(&mut db)
    .await
    .unwrap()
    .rows_affected();
    assert_eq!(changed, 1);
    drop(db);
    let before = aftermath::export(&backends).await.unwrap();

    let dir = data_dir.path().to_str().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_aftermath"))
        .args(["classify", "--dry-run", "--data-dir", dir])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[0],
        format!("{migration}  E101 -> E104  Alertmanager group {{}}:{{alertname=\"MigrationJobFailed\"}}")
    );
    assert!(
        lines[1].starts_with("1 of 2 incidents would change class (rules v"),
        "{stdout}"
    );
    assert!(stdout.contains("\nE101            1      0\n"), "{stdout}");
    assert!(stdout.contains("\nE104            0      1\n"), "{stdout}");
    assert!(stdout.contains("\nunclassified    1      1\n"), "{stdout}");
    assert_eq!(
        aftermath::export(&backends).await.unwrap(),
        before,
        "a dry run writes nothing"
    );

    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_aftermath"))
        .args(["classify", "--data-dir", dir])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--dry-run"));
}
