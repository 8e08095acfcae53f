//! `spawn_app()` and helpers shared by the end-to-end tests.

use std::collections::BTreeSet;
use std::time::Duration;

use aftermath::{Application, Config};
use aftermath_log::KafkaConfig;
use aftermath_store::Scope;
use serde_json::Value;

use crate::infra::{Broker, TestDatabase};

pub const FIRING: &str = include_str!("../fixtures/alertmanager/01-checkout-firing.json");
pub const REPEAT: &str = include_str!("../fixtures/alertmanager/02-checkout-firing-repeat.json");
pub const ONE_RESOLVED: &str =
    include_str!("../fixtures/alertmanager/03-checkout-one-resolved.json");
pub const ALL_RESOLVED: &str =
    include_str!("../fixtures/alertmanager/04-checkout-all-resolved.json");
pub const BILLING_FIRING: &str = include_str!("../fixtures/alertmanager/05-billing-firing.json");
pub const BILLING_RESOLVED: &str =
    include_str!("../fixtures/alertmanager/06-billing-resolved.json");
pub const FIRING_AGAIN: &str =
    include_str!("../fixtures/alertmanager/07-checkout-firing-again.json");

/// A running instance with one token per role.
pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    /// Scope `ingest`, named "alertmanager".
    pub ingest: String,
    /// Scopes `respond` and `read`, named "alice".
    pub alice: String,
    /// Scopes `respond` and `read`, named "bob".
    pub bob: String,
    /// Scope `read` only.
    pub reader: String,
    /// Scopes `ingest` and `read` (the load generator), named "loadgen".
    pub loadgen: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    config: Config,
    _data_dir: tempfile::TempDir,
    /// Kept alive for the app; dropped (stopped) after it.
    _parts: Option<(Broker, TestDatabase)>,
}

/// Which parts an app runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// SQLite log and projections in a temporary data directory.
    Embedded,
    /// A tansu broker (3-partition topic, consumer group) and a fresh PostgreSQL database.
    KafkaPostgres,
}

/// Builds the configuration of `backend`, starting the parts it needs.
pub async fn config_for(
    backend: Backend,
    data_dir: &std::path::Path,
) -> (Config, Option<(Broker, TestDatabase)>) {
    let mut config = Config::new(data_dir, "127.0.0.1:0".parse().unwrap());
    match backend {
        Backend::Embedded => (config, None),
        Backend::KafkaPostgres => {
            let broker = Broker::start().await;
            let database = TestDatabase::create().await;
            let mut kafka = KafkaConfig::new(&broker.bootstrap, Broker::fresh_topic());
            kafka.partitions = 3;
            kafka.create_topic = true;
            kafka.group = Some(format!("{}-projector", kafka.topic));
            config.backends.kafka = Some(kafka);
            config.backends.database_url = Some(database.url.clone());
            (config, Some((broker, database)))
        }
    }
}

pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|error| panic!("not JSON ({error}): {}", self.text))
    }

    /// Asserts a JSON error with this status whose detail mentions `needle`.
    #[track_caller]
    pub fn assert_error(&self, status: u16, needle: &str) {
        assert_eq!(self.status, status, "{}", self.text);
        let body = self.json();
        assert!(body["error"].is_string(), "{body}");
        let detail = body["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains(needle),
            "detail {detail:?} lacks {needle:?}"
        );
    }
}

/// An app with one more ingest token, `name`, that carries `signing_secret` (signing
/// senders: Grafana, GitHub); returns that token too.
pub async fn spawn_app_with_signing_token(name: &str, signing_secret: &str) -> (TestApp, String) {
    let data_dir = tempfile::tempdir().unwrap();
    let config = Config::new(data_dir.path(), "127.0.0.1:0".parse().unwrap());
    let store = config.backends.open_store().await.unwrap();
    let scopes: BTreeSet<Scope> = [Scope::Ingest].into_iter().collect();
    let (_, token) = store
        .create_token_with(name, &scopes, aftermath::now(), Some(signing_secret))
        .await
        .unwrap();
    drop(store);
    (spawn_app_from(config, data_dir, None).await, token)
}

/// An app on the embedded default with one more token per `(name, scopes)`; returns
/// those tokens in the same order.
pub async fn spawn_app_with_tokens(tokens: &[(&str, &[Scope])]) -> (TestApp, Vec<String>) {
    let data_dir = tempfile::tempdir().unwrap();
    let config = Config::new(data_dir.path(), "127.0.0.1:0".parse().unwrap());
    let store = config.backends.open_store().await.unwrap();
    let mut secrets = Vec::new();
    for (name, scopes) in tokens {
        let scopes: BTreeSet<Scope> = scopes.iter().copied().collect();
        let (_, secret) = store
            .create_token(name, &scopes, aftermath::now())
            .await
            .unwrap();
        secrets.push(secret);
    }
    drop(store);
    (spawn_app_from(config, data_dir, None).await, secrets)
}

/// An app on the embedded default.
pub async fn spawn_app() -> TestApp {
    spawn_app_on(Backend::Embedded).await
}

pub async fn spawn_app_on(backend: Backend) -> TestApp {
    let data_dir = tempfile::tempdir().unwrap();
    let (config, parts) = config_for(backend, data_dir.path()).await;
    spawn_app_from(config, data_dir, parts).await
}

/// Starts an app with `config`, keeping `data_dir` and `parts` alive as long as it runs.
pub async fn spawn_app_from(
    config: Config,
    data_dir: tempfile::TempDir,
    parts: Option<(Broker, TestDatabase)>,
) -> TestApp {
    let app = Application::build(config.clone()).await.unwrap();
    let base = format!("http://{}", app.local_addr().unwrap());
    let store = app.store();
    let token = |name: &'static str, scopes: &'static [Scope]| {
        let store = store.clone();
        async move {
            let scopes: BTreeSet<Scope> = scopes.iter().copied().collect();
            store
                .create_token(name, &scopes, aftermath::now())
                .await
                .unwrap()
                .1
        }
    };
    let ingest = token("alertmanager", &[Scope::Ingest]).await;
    let alice = token("alice", &[Scope::Respond, Scope::Read]).await;
    let bob = token("bob", &[Scope::Respond, Scope::Read]).await;
    let reader = token("reader", &[Scope::Read]).await;
    let loadgen = token("loadgen", &[Scope::Ingest, Scope::Read]).await;
    let (stop, server) = run(app);
    TestApp {
        config,
        base,
        http: reqwest::Client::new(),
        ingest,
        alice,
        bob,
        reader,
        loadgen,
        stop: Some(stop),
        server: Some(server),
        _data_dir: data_dir,
        _parts: parts,
    }
}

fn run(
    app: Application,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));
    (stop, server)
}

impl TestApp {
    /// Stops the app gracefully and starts it again on the same data, with its
    /// configuration changed by `change`; the tokens stay valid. The port changes.
    pub async fn restart_with(mut self, change: impl FnOnce(&mut Config)) -> TestApp {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
        change(&mut self.config);
        let app = Application::build(self.config.clone()).await.unwrap();
        self.base = format!("http://{}", app.local_addr().unwrap());
        let (stop, server) = run(app);
        self.stop = Some(stop);
        self.server = Some(server);
        self
    }

    /// Stops the app and hands over its data directory (and where the parts live).
    pub async fn stop_keeping_data(mut self) -> (aftermath::Backends, tempfile::TempDir) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
        (self.config.backends.clone(), self._data_dir)
    }

    /// Stops the app, rebuilds its projections from the log, and starts it again.
    pub async fn rebuild_and_restart(mut self) -> TestApp {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
        aftermath::rebuild(&self.config.backends, 100, |_, _| {})
            .await
            .unwrap();
        self.restart_with(|_| {}).await
    }

    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<String>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("request failed");
        Reply {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            text: response.text().await.unwrap(),
        }
    }

    pub async fn post(&self, path: &str, token: &str, body: &str) -> Reply {
        self.request(
            reqwest::Method::POST,
            path,
            Some(token),
            Some(body.to_owned()),
            &[],
        )
        .await
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.request(reqwest::Method::GET, path, Some(token), None, &[])
            .await
    }

    /// Posts an Alertmanager notification and asserts it was accepted.
    pub async fn notify(&self, body: &str) -> Value {
        let reply = self
            .post("/v1/ingest/alertmanager", &self.ingest, body)
            .await;
        assert_eq!(reply.status, 202, "{}", reply.text);
        reply.json()
    }

    /// Sums `field` of every partition in `/v1/status`.
    async fn status_total(&self, field: &str) -> u64 {
        let status = self.get("/v1/status", &self.reader).await.json();
        status["partitions"]
            .as_object()
            .unwrap()
            .values()
            .map(|partition| partition[field].as_u64().unwrap())
            .sum()
    }

    /// How many facts the log holds, over all partitions.
    pub async fn log_end(&self) -> u64 {
        self.status_total("log_end").await
    }

    /// Waits until the projector has folded everything on the log.
    pub async fn caught_up(&self) {
        // Bounded: a consumer group needs a few seconds to hand out its partitions.
        for _ in 0..1500 {
            if self.status_total("lag").await == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("projector did not catch up with the log");
    }

    /// Every incident, newest first.
    pub async fn incidents(&self, status: &str) -> Vec<Value> {
        self.caught_up().await;
        let page = self
            .get(
                &format!("/v1/incidents?status={status}&limit=1000"),
                &self.reader,
            )
            .await;
        assert_eq!(page.status, 200, "{}", page.text);
        page.json()["incidents"].as_array().unwrap().clone()
    }

    pub async fn only_incident(&self) -> Value {
        let incidents = self.incidents("all").await;
        assert_eq!(incidents.len(), 1, "{incidents:?}");
        incidents[0].clone()
    }

    pub async fn timeline(&self, id: &str) -> Vec<Value> {
        self.caught_up().await;
        let reply = self
            .get(&format!("/v1/incidents/{id}/timeline"), &self.reader)
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        reply.json()["entries"].as_array().unwrap().clone()
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
    }
}

/// An Alertmanager webhook body for one alert of group `group`.
pub fn webhook(group: &str, fingerprint: &str, resolved: bool) -> String {
    let status = if resolved { "resolved" } else { "firing" };
    let ends_at = if resolved {
        "2026-11-24T08:00:00Z"
    } else {
        "0001-01-01T00:00:00Z"
    };
    serde_json::json!({
        "version": "4",
        "groupKey": format!("{{}}:{{alertname=\"{group}\"}}"),
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "aftermath",
        "groupLabels": {"alertname": group},
        "commonLabels": {"alertname": group, "severity": "critical", "service": "svc"},
        "commonAnnotations": {"summary": format!("{group} is failing")},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": [{
            "status": status,
            "labels": {"alertname": group, "instance": "host-1"},
            "annotations": {},
            "startsAt": "2026-11-24T07:00:00Z",
            "endsAt": ends_at,
            "generatorURL": "http://prometheus.example/graph",
            "fingerprint": fingerprint
        }]
    })
    .to_string()
}

/// Runs each named `async fn(Backend)` scenario as two tests: on the embedded default and
/// on Kafka + PostgreSQL. The same test code covers both backends.
#[macro_export]
macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {
        $(mod $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn embedded() {
                super::$scenario($crate::support::Backend::Embedded).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn kafka_postgres() {
                super::$scenario($crate::support::Backend::KafkaPostgres).await
            }
        })*
    };
}

/// Hex HMAC-SHA256 of `message` under `key`: how signing senders (Grafana, GitHub) sign.
pub fn hmac_sha256_hex(key: &[u8], message: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("any key length");
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

/// The kinds of a timeline's entries, in order.
pub fn kinds(timeline: &[Value]) -> Vec<String> {
    timeline
        .iter()
        .map(|entry| entry["kind"].as_str().unwrap().to_owned())
        .collect()
}

/// The checkout group's timeline once both its alerts fired and resolved: one entry per
/// real state change.
pub const CHECKOUT_FIRED_AND_RESOLVED: [&str; 6] = [
    "opened",
    "alert_firing",
    "alert_firing",
    "alert_resolved",
    "alert_resolved",
    "auto_resolved",
];
