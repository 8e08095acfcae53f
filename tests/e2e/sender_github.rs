//! End-to-end tests of the GitHub Actions sender (`POST /v1/ingest/github`), replaying the
//! example payloads GitHub documents for `workflow_run` and `workflow_job`, with the token
//! as a bearer or in the payload URL, signed and unsigned.

use reqwest::Method;
use serde_json::{json, Value};

use crate::support::*;

const RUN_FAILURE: &str = include_str!("../fixtures/github/workflow_run.completed.failure.json");
const RUN_SUCCESS: &str = include_str!("../fixtures/github/workflow_run.completed.success.json");
const JOB_FAILURE: &str = include_str!("../fixtures/github/workflow_job.completed.failure.json");
const JOB_SUCCESS: &str = include_str!("../fixtures/github/workflow_job.completed.success.json");
const PING: &str = include_str!("../fixtures/github/ping.json");
const PATH: &str = "/v1/ingest/github";
const SIGNING_SECRET: &str = "github-webhook-secret-0123";
/// The example run's workflow (its blank `name` falls back to the workflow's), branch and
/// repository.
const GROUP_KEY: &str = "octo-org/octo-repo/test@master";

/// A delivery as GitHub makes it: the event and a delivery id in headers, plus `headers`.
async fn deliver_as(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
    event: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> Reply {
    let mut all = vec![
        ("X-GitHub-Event", event),
        ("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
        ("User-Agent", "GitHub-Hookshot/044aadd"),
    ];
    all.extend_from_slice(headers);
    app.request(Method::POST, path, token, Some(body.to_owned()), &all)
        .await
}

/// A delivery with the default ingest token as a bearer.
async fn deliver(app: &TestApp, event: &str, body: &str) -> Reply {
    deliver_as(app, PATH, Some(&app.ingest), event, body, &[]).await
}

#[track_caller]
fn assert_accepted(reply: &Reply) {
    assert_eq!(reply.status, 202, "{}", reply.text);
    assert_ne!(reply.json()["status"], "ignored", "{}", reply.text);
}

#[track_caller]
fn assert_ignored(reply: &Reply, reason: &str) {
    assert_eq!(reply.status, 202, "{}", reply.text);
    let body = reply.json();
    assert_eq!(body["status"], "ignored", "{body}");
    let said = body["reason"].as_str().unwrap_or_default();
    assert!(said.contains(reason), "reason {said:?} lacks {reason:?}");
}

fn edit(body: &str, change: impl FnOnce(&mut Value)) -> String {
    let mut value: Value = serde_json::from_str(body).unwrap();
    change(&mut value);
    value.to_string()
}

/// GitHub's example job, as a job of the example run: same repository, workflow and branch
/// (the example job names none of them alike, and has no `head_branch`).
fn job_of_the_example_run(body: &str) -> String {
    edit(body, |job| {
        job["workflow_job"]["workflow_name"] = json!("test");
        job["workflow_job"]["head_branch"] = json!("master");
        job["repository"]["full_name"] = json!("octo-org/octo-repo");
        job["repository"]["name"] = json!("octo-repo");
        job["repository"]["html_url"] = json!("https://github.com/octo-org/octo-repo");
    })
}

async fn detail(app: &TestApp, id: &str) -> Value {
    app.caught_up().await;
    app.get(&format!("/v1/incidents/{id}"), &app.reader)
        .await
        .json()
}

fn alert<'a>(detail: &'a Value, fingerprint: &str) -> &'a Value {
    detail["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|alert| alert["fingerprint"] == fingerprint)
        .unwrap_or_else(|| panic!("no alert {fingerprint} in {detail}"))
}

fn kinds(timeline: &[Value]) -> Vec<&str> {
    timeline
        .iter()
        .map(|entry| entry["kind"].as_str().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_run_opens_an_incident_a_redelivery_adds_nothing_and_a_success_resolves_it() {
    let app = spawn_app().await;
    let first = deliver(&app, "workflow_run", RUN_FAILURE).await;
    assert_accepted(&first);
    assert_eq!(first.json()["stream_key"], format!("github:{GROUP_KEY}"));

    let incident = app.only_incident().await;
    assert_eq!(incident["status"], "triggered");
    assert_eq!(
        incident["title"],
        "test failed on master (octo-org/octo-repo)"
    );
    assert_eq!(incident["severity"], "error");
    assert_eq!(incident["service"], "octo-repo");
    assert_eq!(incident["source"], "github");
    assert_eq!(incident["group_key"], GROUP_KEY);
    let id = incident["id"].as_str().unwrap().to_owned();
    let detail = detail(&app, &id).await;
    let run = alert(&detail, GROUP_KEY);
    assert_eq!(run["status"], "firing");
    assert_eq!(run["labels"]["repository"], "octo-org/octo-repo");
    assert_eq!(run["labels"]["workflow"], "test");
    assert_eq!(run["labels"]["branch"], "master");
    assert_eq!(
        run["labels"]["run_url"],
        "https://github.com/octo-org/octo-repo/actions/runs/289782451"
    );
    assert_eq!(
        run["generator_url"],
        "https://github.com/octo-org/octo-repo/actions/runs/289782451"
    );
    let timeline = app.timeline(&id).await;
    assert_eq!(kinds(&timeline), ["opened", "alert_firing"]);

    // GitHub redelivers the same body: nothing new on the log, nothing on the timeline.
    let log_before = app.log_end().await;
    let again = deliver(&app, "workflow_run", RUN_FAILURE).await;
    assert_eq!(again.status, 202, "{}", again.text);
    assert_eq!(again.json()["status"], "duplicate");
    assert_eq!(app.log_end().await, log_before);
    // The next run fails too while the incident is open: recorded, but it repeats the state
    // the incident holds, so the timeline stays as it was.
    let next_failure = edit(RUN_FAILURE, |run| {
        run["workflow_run"]["id"] = json!(289782452);
        run["workflow_run"]["run_number"] = json!(164);
        run["workflow_run"]["run_started_at"] = json!("2020-10-05T16:40:00Z");
        run["workflow_run"]["updated_at"] = json!("2020-10-05T16:41:00Z");
    });
    assert_accepted(&deliver(&app, "workflow_run", &next_failure).await);
    assert!(app.log_end().await > log_before);
    assert_eq!(app.timeline(&id).await, timeline);
    assert_eq!(app.incidents("all").await.len(), 1);

    // A successful run of the same workflow on the same branch resolves it.
    assert_accepted(&deliver(&app, "workflow_run", RUN_SUCCESS).await);
    let incident = app.only_incident().await;
    assert_eq!(incident["status"], "resolved");
    assert_eq!(incident["resolved_by"], "github");
    assert_eq!(
        kinds(&app.timeline(&id).await),
        ["opened", "alert_firing", "alert_resolved", "auto_resolved"]
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_job_lands_on_its_runs_incident_with_its_failed_step() {
    let app = spawn_app().await;
    // Jobs finish before their run: the failed job opens the incident.
    assert_accepted(&deliver(&app, "workflow_job", &job_of_the_example_run(JOB_FAILURE)).await);
    assert_accepted(&deliver(&app, "workflow_run", RUN_FAILURE).await);
    let incident = app.only_incident().await;
    assert_eq!(
        incident["title"],
        "test failed on master (octo-org/octo-repo)"
    );
    assert_eq!(incident["alerts_total"], 2);
    assert_eq!(incident["alerts_firing"], 2);
    let id = incident["id"].as_str().unwrap().to_owned();
    let detail = detail(&app, &id).await;
    let job = alert(&detail, &format!("{GROUP_KEY}#linters"));
    assert_eq!(job["status"], "firing");
    assert_eq!(job["labels"]["job"], "linters");
    assert_eq!(job["labels"]["failed_step"], "Run yarn run format-check");
    assert_eq!(job["labels"]["workflow"], "test");
    assert_eq!(job["labels"]["repository"], "octo-org/octo-repo");
    assert_eq!(job["labels"]["branch"], "master");
    assert_eq!(
        job["labels"]["run_url"],
        "https://github.com/octo-org/octo-repo/actions/runs/2202229078"
    );
    assert_eq!(
        job["generator_url"],
        "https://github.com/octo-org/octo-repo/runs/1291536064"
    );

    // The job passes on the next run, then the run: the incident resolves.
    assert_accepted(&deliver(&app, "workflow_job", &job_of_the_example_run(JOB_SUCCESS)).await);
    assert_eq!(app.only_incident().await["status"], "triggered");
    assert_accepted(&deliver(&app, "workflow_run", RUN_SUCCESS).await);
    let incident = app.only_incident().await;
    assert_eq!(incident["status"], "resolved");
    assert_eq!(incident["alerts_firing"], 0);
    app.stop().await;
}

fn signature(secret: &str, body: &str) -> String {
    format!(
        "sha256={}",
        hmac_sha256_hex(secret.as_bytes(), body.as_bytes())
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_with_a_signing_secret_takes_only_deliveries_signed_with_it() {
    let (app, token) = spawn_app_with_signing_token("github", SIGNING_SECRET).await;
    // As GitHub sends it: the token in the payload URL, the body signed.
    let url = format!("{PATH}?token={token}");
    let signed = signature(SIGNING_SECRET, RUN_FAILURE);
    let reply = deliver_as(
        &app,
        &url,
        None,
        "workflow_run",
        RUN_FAILURE,
        &[("X-Hub-Signature-256", &signed)],
    )
    .await;
    assert_accepted(&reply);
    assert_eq!(app.only_incident().await["status"], "triggered");

    let log_before = app.log_end().await;
    let wrong = signature("another-secret-of-24-chars", RUN_SUCCESS);
    let reply = deliver_as(
        &app,
        &url,
        None,
        "workflow_run",
        RUN_SUCCESS,
        &[("X-Hub-Signature-256", &wrong)],
    )
    .await;
    reply.assert_error(401, "does not match");
    assert!(!reply.text.contains(SIGNING_SECRET), "{}", reply.text);
    // The signature of another body does not sign this one.
    let reply = deliver_as(
        &app,
        &url,
        None,
        "workflow_run",
        RUN_SUCCESS,
        &[("X-Hub-Signature-256", &signed)],
    )
    .await;
    reply.assert_error(401, "does not match");
    // Unsigned, whichever way the token travels.
    deliver_as(&app, &url, None, "workflow_run", RUN_SUCCESS, &[])
        .await
        .assert_error(401, "missing X-Hub-Signature-256");
    deliver_as(&app, PATH, Some(&token), "workflow_run", RUN_SUCCESS, &[])
        .await
        .assert_error(401, "missing X-Hub-Signature-256");
    // Nothing is read before the signature: a bad body or a ping unsigned is a 401 too.
    deliver_as(&app, &url, None, "workflow_run", "not json", &[])
        .await
        .assert_error(401, "missing X-Hub-Signature-256");
    deliver_as(&app, &url, None, "ping", PING, &[])
        .await
        .assert_error(401, "missing X-Hub-Signature-256");
    assert_eq!(app.log_end().await, log_before);
    assert_eq!(app.incidents("open").await.len(), 1);

    let signed = signature(SIGNING_SECRET, RUN_SUCCESS);
    let reply = deliver_as(
        &app,
        &url,
        None,
        "workflow_run",
        RUN_SUCCESS,
        &[("X-Hub-Signature-256", &signed)],
    )
    .await;
    assert_accepted(&reply);
    assert_eq!(app.only_incident().await["status"], "resolved");

    // The default ingest token has no signing secret: unsigned deliveries are taken.
    let other_branch = edit(RUN_FAILURE, |run| {
        run["workflow_run"]["head_branch"] = json!("release")
    });
    assert_accepted(&deliver(&app, "workflow_run", &other_branch).await);
    assert_eq!(app.incidents("open").await.len(), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_can_travel_in_the_payload_url() {
    let app = spawn_app().await;
    let with_query = |token: &str| format!("{PATH}?token={token}");
    let reply = deliver_as(
        &app,
        &with_query(&app.ingest),
        None,
        "workflow_run",
        RUN_FAILURE,
        &[],
    )
    .await;
    assert_accepted(&reply);
    assert_eq!(app.only_incident().await["status"], "triggered");

    let log_before = app.log_end().await;
    for url in [
        with_query("aftm_0000000000000000000000000000000000000000"),
        with_query("alertmanager"),
    ] {
        deliver_as(&app, &url, None, "workflow_run", RUN_SUCCESS, &[])
            .await
            .assert_error(401, "unknown or revoked token");
    }
    for url in [PATH.to_owned(), with_query("")] {
        deliver_as(&app, &url, None, "workflow_run", RUN_SUCCESS, &[])
            .await
            .assert_error(401, "missing token");
    }
    // A bearer header decides alone, even next to a good token in the URL.
    deliver_as(
        &app,
        &with_query(&app.ingest),
        Some("not-a-token"),
        "workflow_run",
        RUN_SUCCESS,
        &[],
    )
    .await
    .assert_error(401, "unknown");
    deliver_as(
        &app,
        &with_query(&app.reader),
        None,
        "workflow_run",
        RUN_SUCCESS,
        &[],
    )
    .await
    .assert_error(403, "ingest");
    assert_eq!(app.log_end().await, log_before);
    assert_eq!(app.only_incident().await["status"], "triggered");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pings_other_events_and_unfinished_runs_record_nothing() {
    let app = spawn_app().await;
    let log_before = app.log_end().await;

    let ping = deliver(&app, "ping", PING).await;
    assert_eq!(ping.status, 200, "{}", ping.text);
    assert_eq!(ping.json()["status"], "pong");

    assert_ignored(&deliver(&app, "push", PING).await, "\"push\"");
    assert_ignored(
        &deliver(&app, "check_run", RUN_FAILURE).await,
        "Workflow runs",
    );
    for action in ["requested", "in_progress"] {
        let body = edit(RUN_FAILURE, |run| {
            run["action"] = json!(action);
            run["workflow_run"]["conclusion"] = Value::Null;
            run["workflow_run"]["status"] = json!(action);
        });
        assert_ignored(&deliver(&app, "workflow_run", &body).await, action);
    }
    for action in ["queued", "in_progress", "waiting"] {
        let body = edit(JOB_FAILURE, |job| job["action"] = json!(action));
        assert_ignored(&deliver(&app, "workflow_job", &body).await, action);
    }
    let cancelled = edit(RUN_FAILURE, |run| {
        run["workflow_run"]["conclusion"] = json!("cancelled")
    });
    assert_ignored(
        &deliver(&app, "workflow_run", &cancelled).await,
        "\"cancelled\"",
    );
    let skipped = edit(JOB_FAILURE, |job| {
        job["workflow_job"]["conclusion"] = json!("skipped")
    });
    assert_ignored(
        &deliver(&app, "workflow_job", &skipped).await,
        "\"skipped\"",
    );

    assert_eq!(app.log_end().await, log_before);
    assert!(app.incidents("all").await.is_empty());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_deliveries_are_refused_naming_what_is_wrong() {
    let app = spawn_app().await;
    let log_before = app.log_end().await;

    deliver(&app, "workflow_run", "{not json")
        .await
        .assert_error(400, "body");
    let no_repository = edit(RUN_FAILURE, |run| {
        run["repository"]["full_name"] = Value::Null
    });
    deliver(&app, "workflow_run", &no_repository)
        .await
        .assert_error(400, "repository.full_name");
    let bad_time = edit(RUN_FAILURE, |run| {
        run["workflow_run"]["run_started_at"] = json!("yesterday")
    });
    deliver(&app, "workflow_run", &bad_time)
        .await
        .assert_error(400, "workflow_run.run_started_at");
    let no_start = edit(JOB_FAILURE, |job| {
        job["workflow_job"]
            .as_object_mut()
            .unwrap()
            .remove("started_at");
    });
    deliver(&app, "workflow_job", &no_start)
        .await
        .assert_error(400, "workflow_job.started_at");
    let reply = deliver(&app, "workflow_run", "{}").await;
    reply.assert_error(400, "action");
    assert_eq!(reply.json()["error"], "invalid_body");

    // Without X-GitHub-Event nothing says what the body is.
    app.request(
        Method::POST,
        PATH,
        Some(&app.ingest),
        Some(RUN_FAILURE.to_owned()),
        &[],
    )
    .await
    .assert_error(400, "X-GitHub-Event");
    // GitHub's default content type wraps the JSON in a form field.
    let form = app
        .http
        .post(format!("{}{PATH}", app.base))
        .bearer_auth(&app.ingest)
        .header("X-GitHub-Event", "workflow_run")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("payload=%7B%7D")
        .send()
        .await
        .unwrap();
    assert_eq!(form.status().as_u16(), 415);
    assert!(form.text().await.unwrap().contains("application/json"));

    assert_eq!(app.log_end().await, log_before);
    assert!(app.incidents("all").await.is_empty());
    app.stop().await;
}
