//! `aftermath demo`: a whole incident on a throw-away embedded instance, over real HTTP,
//! the way Alertmanager and a responder would drive it.

use std::net::SocketAddr;
use std::time::Duration;

use aftermath_core::Timestamp;
use aftermath_store::Scope;
use anyhow::{bail, Context};
use serde_json::{json, Value};

use crate::{now, Application, Config};

const GROUP_KEY: &str = r#"{}:{alertname="HighErrorRate", service="checkout"}"#;

/// Runs the demo and returns what it printed: the timeline and the published post-mortem.
pub async fn run_demo(mut narrate: impl FnMut(&str)) -> anyhow::Result<String> {
    let data_dir = tempfile::Builder::new()
        .prefix("aftermath-demo-")
        .tempdir()
        .context("cannot create a temporary data directory")?;
    let listen: SocketAddr = "127.0.0.1:0".parse()?;
    let app = Application::build(Config::new(data_dir.path(), listen)).await?;
    let addr = app.local_addr()?;
    let store = app.store();
    let scopes = |list: &[Scope]| list.iter().copied().collect();
    let (_, ingest_token) = store
        .create_token("alertmanager", &scopes(&[Scope::Ingest]), now())
        .await?;
    let (_, responder_token) = store
        .create_token("alice", &scopes(&[Scope::Respond, Scope::Read]), now())
        .await?;
    let (_, manager_token) = store
        .create_token("erin", &scopes(&[Scope::Manage, Scope::Read]), now())
        .await?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));
    narrate(&format!(
        "Started an embedded Aftermath on http://{addr} (data in {})",
        data_dir.path().display()
    ));

    let client = Client {
        http: reqwest::Client::new(),
        base: format!("http://{addr}"),
    };
    let started = Timestamp::from_unix_seconds(now().datetime().unix_timestamp() - 180)
        .context("clock out of range")?;
    let firing = notification(started, None);
    narrate("Alertmanager -> POST /v1/ingest/alertmanager: HighErrorRate firing on checkout-1 and checkout-2");
    client
        .post(&ingest_token, "/v1/ingest/alertmanager", &firing)
        .await?;
    let incident = client.wait_for_incident(&responder_token, "open").await?;
    let id = incident["id"]
        .as_str()
        .context("incident without id")?
        .to_owned();
    narrate(&format!("Incident {id} opened: {}", incident["title"]));

    narrate(&format!("alice -> POST /v1/incidents/{id}/ack"));
    let ack = json!({"note": "Investigating: 5xx on checkout started with the 10:20 deploy"});
    client
        .post(&responder_token, &format!("/v1/incidents/{id}/ack"), &ack)
        .await?;
    narrate(&format!("alice -> POST /v1/incidents/{id}/notes"));
    let note = json!({"text": "Rolled checkout back to v1.4.2; error rate falling"});
    client
        .post(
            &responder_token,
            &format!("/v1/incidents/{id}/notes"),
            &note,
        )
        .await?;

    narrate(&format!(
        "alice -> POST /v1/incidents/{id}/whys (five whys), /root-cause, /mitigate, /impact"
    ));
    for (question, answer) in [
        ("Why did checkout fail?", "Database connection timeout"),
        ("Why did the timeout occur?", "Connection pool exhausted"),
        (
            "Why was the pool exhausted?",
            "The v1.4.3 worker leaked connections",
        ),
    ] {
        let why = json!({"question": question, "answer": answer});
        client
            .post(&responder_token, &format!("/v1/incidents/{id}/whys"), &why)
            .await?;
    }
    client
        .post(
            &responder_token,
            &format!("/v1/incidents/{id}/root-cause"),
            &json!({}),
        )
        .await?;
    let mitigation = json!({"note": "Rolled back to v1.4.2"});
    client
        .post(
            &responder_token,
            &format!("/v1/incidents/{id}/mitigate"),
            &mitigation,
        )
        .await?;
    let impact = json!({"summary": "Checkout requests failed with 5xx", "failed_requests": 156,
                        "data_loss": false, "customer_facing": true});
    client
        .post(
            &responder_token,
            &format!("/v1/incidents/{id}/impact"),
            &impact,
        )
        .await?;
    let action = json!({"title": "Add a connection-pool exhaustion alert", "owner": "alice", "kind": "prevent"});
    client
        .post(
            &responder_token,
            &format!("/v1/incidents/{id}/action-items"),
            &action,
        )
        .await?;

    narrate("Alertmanager -> POST /v1/ingest/alertmanager: both alerts resolved");
    client
        .post(
            &ingest_token,
            "/v1/ingest/alertmanager",
            &notification(started, Some(now())),
        )
        .await?;
    client
        .wait_for_incident(&responder_token, "resolved")
        .await?;

    narrate(&format!(
        "erin (manager) -> PUT /v1/incidents/{id}/postmortem/sections/lessons_learned, POST .../publish"
    ));
    let lessons = json!({"text": "### Where we got lucky\n- The deploy happened in business hours, so the rollback was quick."});
    client
        .put(
            &manager_token,
            &format!("/v1/incidents/{id}/postmortem/sections/lessons_learned"),
            &lessons,
        )
        .await?;
    let published = client
        .post(
            &manager_token,
            &format!("/v1/incidents/{id}/postmortem/publish"),
            &json!({}),
        )
        .await?;
    narrate(&format!(
        "Post-mortem revision {} published; incident {}",
        published["revision"], published["incident"]["status"]
    ));
    let timeline = client
        .get(&responder_token, &format!("/v1/incidents/{id}/timeline"))
        .await?;
    let mut out = String::from("Timeline\n--------\n");
    for entry in timeline["entries"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "{}  {:<18} {:<13} {}\n",
            entry["at"].as_str().unwrap_or_default(),
            entry["kind"].as_str().unwrap_or_default(),
            entry["actor"].as_str().unwrap_or_default(),
            entry["text"].as_str().unwrap_or_default(),
        ));
    }
    let postmortem = client
        .get_text(
            &responder_token,
            &format!("/v1/incidents/{id}/postmortem/revisions/1"),
        )
        .await?;
    out.push('\n');
    out.push_str(&postmortem);

    let _ = stop.send(());
    server.await.context("server task panicked")??;
    Ok(out)
}

/// An Alertmanager webhook body (version "4") for the demo's two checkout alerts, firing,
/// or resolved at `resolved_at`.
fn notification(started: Timestamp, resolved_at: Option<Timestamp>) -> Value {
    let status = if resolved_at.is_some() {
        "resolved"
    } else {
        "firing"
    };
    let ends_at =
        resolved_at.map_or_else(|| "0001-01-01T00:00:00Z".to_owned(), |at| at.to_string());
    let alert = |instance: &str, fingerprint: &str| {
        json!({
            "status": status,
            "labels": {"alertname": "HighErrorRate", "env": "prod", "instance": instance,
                       "job": "checkout", "service": "checkout", "severity": "critical"},
            "annotations": {"summary": "High HTTP 5xx error rate on checkout",
                            "description": format!("More than 5% of requests on {instance} failed with 5xx over 5 minutes.")},
            "startsAt": started.to_string(),
            "endsAt": ends_at,
            "generatorURL": "http://prometheus.example:9090/graph?g0.expr=job%3Acheckout%3Aerror_ratio%3E0.05",
            "fingerprint": fingerprint,
        })
    };
    json!({
        "receiver": "aftermath",
        "status": status,
        "alerts": [alert("checkout-1:8080", "e806104dcaccbf3c"), alert("checkout-2:8080", "6fa2b1b9d1c4a7e0")],
        "groupLabels": {"alertname": "HighErrorRate", "service": "checkout"},
        "commonLabels": {"alertname": "HighErrorRate", "env": "prod", "job": "checkout",
                         "service": "checkout", "severity": "critical"},
        "commonAnnotations": {"summary": "High HTTP 5xx error rate on checkout"},
        "externalURL": "http://alertmanager.example:9093",
        "version": "4",
        "groupKey": GROUP_KEY,
        "truncatedAlerts": 0,
    })
}

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    async fn post(&self, token: &str, path: &str, body: &Value) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(body)
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await?;
        if !status.is_success() {
            bail!("POST {path} answered {status}: {body}");
        }
        Ok(body)
    }

    async fn put(&self, token: &str, path: &str, body: &Value) -> anyhow::Result<Value> {
        let response = self
            .http
            .put(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(body)
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await?;
        if !status.is_success() {
            bail!("PUT {path} answered {status}: {body}");
        }
        Ok(body)
    }

    async fn get(&self, token: &str, path: &str) -> anyhow::Result<Value> {
        Ok(serde_json::from_str(&self.get_text(token, path).await?)?)
    }

    async fn get_text(&self, token: &str, path: &str) -> anyhow::Result<String> {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            bail!("GET {path} answered {status}: {text}");
        }
        Ok(text)
    }

    /// The newest incident with `status`, once the projector has folded it.
    async fn wait_for_incident(&self, token: &str, status: &str) -> anyhow::Result<Value> {
        for _ in 0..200 {
            let page = self
                .get(token, &format!("/v1/incidents?status={status}&limit=1"))
                .await?;
            if let Some(incident) = page["incidents"].as_array().and_then(|list| list.first()) {
                return Ok(incident.clone());
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        bail!("no {status} incident appeared; is the projector running?")
    }
}
