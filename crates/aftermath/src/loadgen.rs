//! `aftermath loadgen`: drives a running instance with Alertmanager notifications over
//! HTTP and measures ingest throughput, then how fast the projections catch up.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};

/// What to send.
#[derive(Clone, Debug)]
pub struct LoadPlan {
    pub base_url: String,
    pub token: String,
    pub notifications: u64,
    pub alerts_per_notification: u64,
    pub concurrency: u64,
    /// Distinct Alertmanager groups (incidents) the notifications are spread over.
    pub groups: u64,
}

/// What was measured.
#[derive(Debug)]
pub struct LoadReport {
    pub notifications: u64,
    pub facts_appended: u64,
    pub ingest_seconds: f64,
    /// Seconds from the first request until the projections held every fact.
    pub projected_seconds: f64,
}

impl LoadReport {
    pub fn summary(&self) -> String {
        format!(
            "sent {} notifications, {} facts appended in {:.2} s: {:.0} notifications/s, {:.0} facts/s appended\n\
             projections caught up after {:.2} s: {:.0} facts/s projected",
            self.notifications,
            self.facts_appended,
            self.ingest_seconds,
            self.notifications as f64 / self.ingest_seconds,
            self.facts_appended as f64 / self.ingest_seconds,
            self.projected_seconds,
            self.facts_appended as f64 / self.projected_seconds,
        )
    }
}

/// Notification `n`: its group fires `alerts` alerts, all new (distinct start times).
fn notification(n: u64, alerts: u64, groups: u64) -> String {
    let group = n % groups;
    let alerts: Vec<Value> = (0..alerts)
        .map(|a| {
            json!({
                "status": "firing",
                "labels": {"alertname": format!("Load{group}"), "instance": format!("host-{a}"), "severity": "warning"},
                "annotations": {"summary": format!("load group {group}")},
                "startsAt": format!("2026-01-01T00:00:{:02}.{:09}Z", (n / 1_000_000_000) % 60, n % 1_000_000_000),
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://loadgen",
                "fingerprint": format!("{group:08x}{a:08x}"),
            })
        })
        .collect();
    json!({
        "version": "4",
        "groupKey": format!("{{}}:{{alertname=\"Load{group}\"}}"),
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "loadgen",
        "groupLabels": {"alertname": format!("Load{group}")},
        "commonLabels": {"alertname": format!("Load{group}"), "severity": "warning"},
        "commonAnnotations": {"summary": format!("load group {group}")},
        "externalURL": "http://loadgen",
        "alerts": alerts,
    })
    .to_string()
}

async fn lag(client: &reqwest::Client, plan: &LoadPlan) -> anyhow::Result<u64> {
    let status: Value = client
        .get(format!("{}/v1/status", plan.base_url))
        .bearer_auth(&plan.token)
        .send()
        .await?
        .error_for_status()
        .context("GET /v1/status (the token needs the read scope)")?
        .json()
        .await?;
    let partitions = status["partitions"]
        .as_object()
        .context("no partitions in /v1/status")?;
    Ok(partitions.values().filter_map(|p| p["lag"].as_u64()).sum())
}

/// Sends the plan's notifications with bounded concurrency, then waits for the projector.
pub async fn run(plan: LoadPlan, mut progress: impl FnMut(u64)) -> anyhow::Result<LoadReport> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(plan.concurrency as usize)
        .build()?;
    let next = Arc::new(AtomicU64::new(0));
    let appended = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..plan.concurrency.max(1) {
        let (client, plan, next, appended) =
            (client.clone(), plan.clone(), next.clone(), appended.clone());
        workers.spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= plan.notifications {
                    return Ok::<(), anyhow::Error>(());
                }
                let body = notification(n, plan.alerts_per_notification.max(1), plan.groups.max(1));
                let reply = client
                    .post(format!("{}/v1/ingest/alertmanager", plan.base_url))
                    .bearer_auth(&plan.token)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await?;
                let status = reply.status();
                let reply: Value = reply.json().await?;
                if status.as_u16() != 202 {
                    bail!("ingest answered {status}: {reply}");
                }
                appended.fetch_add(
                    reply["facts_appended"].as_u64().unwrap_or(0),
                    Ordering::Relaxed,
                );
            }
        });
    }
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            finished = workers.join_next() => match finished {
                Some(result) => result??,
                None => break,
            },
            _ = ticker.tick() => progress(next.load(Ordering::Relaxed).min(plan.notifications)),
        }
    }
    let ingest_seconds = started.elapsed().as_secs_f64();
    while lag(&client, &plan).await? > 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(LoadReport {
        notifications: plan.notifications,
        facts_appended: appended.load(Ordering::Relaxed),
        ingest_seconds,
        projected_seconds: started.elapsed().as_secs_f64(),
    })
}
