//! Overload: beyond its cap on requests in flight the API sheds with 503 and `Retry-After`
//! at once (never 429: Alertmanager retries only 5xx), appends nothing for a shed request,
//! keeps its probes answering, and takes requests again as soon as capacity frees.

use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::support::*;

/// Opens a request to the Alertmanager ingest whose body never finishes arriving: it holds
/// one permit for as long as the connection stays open.
async fn stalled_request(app: &TestApp) -> TcpStream {
    let address = app.base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST /v1/ingest/alertmanager HTTP/1.1\r\nHost: {address}\r\n\
         Authorization: Bearer {}\r\nContent-Type: application/json\r\n\
         Content-Length: 100000\r\n\r\n{{\"version\":",
        app.ingest
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.flush().await.unwrap();
    stream
}

/// Waits until `/metrics` (never shed) counts `count` requests in flight.
async fn wait_until_in_flight(app: &TestApp, count: u64) {
    for _ in 0..3000 {
        let text = app.get("/metrics", &app.reader).await.text;
        let in_flight = text
            .lines()
            .find_map(|line| line.strip_prefix("aftermath_requests_in_flight "))
            .and_then(|value| value.trim().parse::<u64>().ok());
        if in_flight == Some(count) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{count} stalled requests never held their permits");
}

/// Whether the API sheds now (asked with a read, which appends nothing either way).
async fn sheds(app: &TestApp) -> bool {
    app.get("/v1/incidents", &app.reader).await.status == 503
}

async fn beyond_the_cap_requests_are_shed_with_503_and_nothing_acknowledged_is_lost(
    backend: Backend,
) {
    let data_dir = tempfile::tempdir().unwrap();
    let (mut config, parts) = config_for(backend, data_dir.path()).await;
    config.max_in_flight = 2;
    let app = spawn_app_from(config, data_dir, parts).await;

    let log_before = app.log_end().await;
    // One at a time, each waited for until it holds its permit (a request arriving while
    // another is counted would itself be shed).
    let mut stalled = Vec::new();
    for holding in 1..=2 {
        stalled.push(stalled_request(&app).await);
        wait_until_in_flight(&app, holding).await;
    }
    // The stalled requests reach the server asynchronously; wait until both hold a permit.
    let mut shed = false;
    for _ in 0..3000 {
        if sheds(&app).await {
            shed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(shed, "two stalled requests never filled a cap of 2");

    let reply = app
        .post("/v1/ingest/alertmanager", &app.ingest, FIRING)
        .await;
    reply.assert_error(503, "in flight");
    assert_eq!(reply.json()["error"], "overloaded");
    assert_eq!(
        reply.headers["retry-after"], "5",
        "a shed request says when to retry"
    );
    // Reads are shed too (they hold memory and connections like any request) …
    assert_eq!(app.get("/v1/incidents", &app.reader).await.status, 503);
    // … but the probes and the metrics still answer.
    for probe in ["/healthz", "/readyz"] {
        let reply = app
            .request(reqwest::Method::GET, probe, None, None, &[])
            .await;
        assert_eq!(reply.status, 200, "{probe}: {}", reply.text);
    }
    let metrics = app.get("/metrics", &app.reader).await;
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .text
            .lines()
            .any(|line| line.starts_with("aftermath_requests_shed_total{")
                && line.contains(r#"route="/v1/ingest/alertmanager""#)),
        "shed requests are counted"
    );

    // Capacity frees as the stalled senders give up.
    drop(stalled);
    let mut freed = false;
    for _ in 0..1000 {
        if !sheds(&app).await {
            freed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(freed, "capacity never freed");
    assert_eq!(
        app.log_end().await,
        log_before,
        "a shed request appended nothing"
    );
    assert!(app.incidents("all").await.is_empty());

    // The sender's retry of the shed notification is taken whole.
    let accepted = app.notify(FIRING).await;
    assert_eq!(accepted["facts_appended"], 3, "{accepted}");
    app.caught_up().await;
    let incident = app.only_incident().await;
    assert_eq!(incident["alerts_total"], 2, "{incident}");
    app.stop().await;
}

crate::on_both_backends!(
    beyond_the_cap_requests_are_shed_with_503_and_nothing_acknowledged_is_lost
);
