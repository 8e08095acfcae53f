//! The per-token rate limit: a token over its rate is refused with 429 and `Retry-After` on
//! the read and responder API, 503 and `Retry-After` on ingest (senders retry 5xx), while
//! other tokens go on; refused requests append nothing.

use reqwest::Method;
use serde_json::Value;

use crate::support::*;

/// Sends `request` until one is refused; returns how many were taken and the refusal.
async fn until_refused(app: &TestApp, path: &str, token: &str, body: Option<&str>) -> (u32, Reply) {
    let method = if body.is_some() {
        Method::POST
    } else {
        Method::GET
    };
    for taken in 0..100 {
        let reply = app
            .request(
                method.clone(),
                path,
                Some(token),
                body.map(str::to_owned),
                &[],
            )
            .await;
        if !(200..300).contains(&reply.status) {
            return (taken, reply);
        }
    }
    panic!("{path}: 100 requests at 1 per second were all taken");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_over_its_rate_is_refused_and_the_others_go_on() {
    let data_dir = tempfile::tempdir().unwrap();
    let (mut config, parts) = config_for(Backend::Embedded, data_dir.path()).await;
    // One request per second, bursts of two.
    config.requests_per_token_per_second = 1;
    let app = spawn_app_from(config, data_dir, parts).await;

    let (taken, refused) = until_refused(&app, "/v1/incidents", &app.reader, None).await;
    assert!(taken >= 2, "the burst of 2 was taken ({taken})");
    refused.assert_error(429, "more than 1 requests per second");
    assert_eq!(refused.json()["error"], "rate_limited");
    let retry_after: u64 = refused.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);

    // Another token has its own allowance.
    assert_eq!(app.get("/v1/incidents", &app.alice).await.status, 200);

    // Ingest answers 503 so that Alertmanager retries; the refused notification is not on
    // the log.
    let (taken, refused) =
        until_refused(&app, "/v1/ingest/alertmanager", &app.ingest, Some(FIRING)).await;
    assert!(taken >= 1);
    refused.assert_error(503, "requests per second");
    assert!(refused.headers.contains_key("retry-after"));
    let status: Value = app.get("/v1/status", &app.bob).await.json();
    let log_end: u64 = status["partitions"]
        .as_object()
        .unwrap()
        .values()
        .map(|partition| partition["log_end"].as_u64().unwrap())
        .sum();
    assert_eq!(
        log_end, 3,
        "only the first (taken) notification is on the log"
    );
    app.stop().await;
}
