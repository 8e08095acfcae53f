//! The traffic of a crash run: Alertmanager senders and responders that keep going while
//! processes die, retrying like the real clients do, and a ledger of every request that
//! was answered 2xx, with the facts it must have caused.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aftermath_core::{normalize_alertmanager, FactBody, Timestamp};
use reqwest::StatusCode;
use uuid::Uuid;

/// Alert groups driven during a run; each is driven by one sender, in order.
const GROUPS: usize = 16;
/// Concurrent Alertmanager senders (each owns every `SENDERS`-th group).
const SENDERS: usize = 4;
/// Give up retrying a responder action after this many failed attempts.
const RESPONDER_ATTEMPTS: usize = 60;

/// A small xorshift64 generator: the run's random choices replay from the printed seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        // xorshift must not start at zero; mix the seed so nearby seeds differ at once.
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    pub fn millis(&mut self, low: u64, high: u64) -> Duration {
        Duration::from_millis(low + self.below(high - low + 1))
    }
}

/// An Alertmanager notification of one alert of group `name`: episode `episode` firing,
/// or that episode resolved. Each episode has its own start time, so its facts are new.
pub fn alert_body(name: &str, episode: u64, resolved: bool) -> String {
    let at = |second: u64| {
        format!(
            "2026-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            1 + episode / (28 * 1440),
            1 + (episode / 1440) % 28,
            (episode / 60) % 24,
            episode % 60,
            second
        )
    };
    let status = if resolved { "resolved" } else { "firing" };
    let ends_at = if resolved {
        at(30)
    } else {
        "0001-01-01T00:00:00Z".to_owned()
    };
    serde_json::json!({
        "version": "4",
        "groupKey": format!("{{}}:{{alertname=\"{name}\"}}"),
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "aftermath",
        "groupLabels": {"alertname": name},
        "commonLabels": {"alertname": name, "severity": "critical", "service": "svc"},
        "commonAnnotations": {"summary": format!("{name} is failing")},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": [{
            "status": status,
            "labels": {"alertname": name, "instance": "host-1"},
            "annotations": {},
            "startsAt": at(0),
            "endsAt": ends_at,
            "generatorURL": "http://prometheus.example/graph",
            "fingerprint": format!("fp-{name}")
        }]
    })
    .to_string()
}

/// The facts a notification body becomes (their ids depend only on the body).
pub fn facts_of(body: &str) -> Vec<aftermath_core::Fact> {
    let at = Timestamp::from_unix_seconds(1_795_000_000).unwrap();
    normalize_alertmanager(body.as_bytes(), at).unwrap()
}

/// A notification the sender was answered 2xx for.
pub struct AckedNotification {
    pub stream_key: String,
    /// Every fact of the body: the raw notification and the alert.
    pub fact_ids: Vec<Uuid>,
    /// The `alert.notified` fact, which must be on the timeline as firing or resolved.
    pub alert_fact_id: Uuid,
    pub resolved: bool,
}

impl AckedNotification {
    pub fn of(body: &str) -> Self {
        let facts = facts_of(body);
        let alert = facts
            .iter()
            .find(|fact| matches!(fact.body, FactBody::AlertNotified(_)))
            .expect("a notification with one alert");
        let resolved = match &alert.body {
            FactBody::AlertNotified(alert) => alert.status == aftermath_core::AlertStatus::Resolved,
            _ => unreachable!(),
        };
        Self {
            stream_key: alert.stream_key.clone(),
            fact_ids: facts.iter().map(|fact| fact.fact_id).collect(),
            alert_fact_id: alert.fact_id,
            resolved,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActionKind {
    Ack,
    Note,
    Resolve,
}

impl ActionKind {
    /// The timeline kinds the action's fact may become: a refusal the fold settles (an ack
    /// racing a resolve) is recorded as a conflict.
    pub fn timeline_kinds(self) -> &'static [&'static str] {
        match self {
            ActionKind::Ack => &["acknowledged", "conflict"],
            ActionKind::Note => &["note"],
            ActionKind::Resolve => &["resolved", "conflict"],
        }
    }
}

/// A responder action answered 2xx.
pub struct AckedAction {
    pub incident_id: String,
    pub fact_id: Uuid,
    pub kind: ActionKind,
}

/// Everything the clients saw.
#[derive(Default)]
pub struct Ledger {
    pub notifications: Vec<AckedNotification>,
    pub actions: Vec<AckedAction>,
    /// Requests sent, attempts of retries included.
    pub attempts: u64,
    /// Attempts that failed (no answer, 5xx, 429): not acknowledged, retried.
    pub failures: u64,
    /// Answers no client should ever get (a 400 for a valid body, …).
    pub unexpected: Vec<String>,
}

impl Ledger {
    pub fn acknowledged(&self) -> usize {
        self.notifications.len() + self.actions.len()
    }
}

/// What one attempt got.
enum Attempt {
    Accepted(serde_json::Value),
    /// Refused on purpose (404, 409): acknowledged as not done.
    Refused,
    /// No answer, 5xx or 429: unknown outcome, retry.
    Failed,
    Unexpected(String),
}

#[derive(Clone)]
struct Client {
    http: reqwest::Client,
    base: String,
    stop: Arc<AtomicBool>,
    ledger: Arc<Mutex<Ledger>>,
}

impl Client {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    async fn post(&self, path: &str, token: &str, body: String, key: Option<&str>) -> Attempt {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .timeout(Duration::from_secs(10))
            .body(body);
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        let attempt = match request.send().await {
            Err(_) => Attempt::Failed,
            Ok(reply) => {
                let status = reply.status();
                let text = reply.text().await.unwrap_or_default();
                if status.is_success() {
                    match serde_json::from_str(&text) {
                        Ok(json) => Attempt::Accepted(json),
                        // The answer was cut off by the kill: the outcome is unknown.
                        Err(_) => Attempt::Failed,
                    }
                } else if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
                    Attempt::Failed
                } else if status == StatusCode::NOT_FOUND || status == StatusCode::CONFLICT {
                    Attempt::Refused
                } else {
                    Attempt::Unexpected(format!("POST {path}: {status} {text}"))
                }
            }
        };
        let mut ledger = self.ledger.lock().unwrap();
        ledger.attempts += 1;
        match &attempt {
            Attempt::Failed => ledger.failures += 1,
            Attempt::Unexpected(what) => ledger.unexpected.push(what.clone()),
            _ => {}
        }
        attempt
    }

    /// Sends a notification until it is accepted, as Alertmanager retries; `false` when the
    /// run stopped first.
    async fn notify_until_accepted(&self, token: &str, body: &str) -> bool {
        loop {
            if self.stopping() {
                return false;
            }
            match self
                .post("/v1/ingest/alertmanager", token, body.to_owned(), None)
                .await
            {
                Attempt::Accepted(_) => {
                    let acked = AckedNotification::of(body);
                    self.ledger.lock().unwrap().notifications.push(acked);
                    return true;
                }
                Attempt::Failed => tokio::time::sleep(Duration::from_millis(50)).await,
                Attempt::Refused | Attempt::Unexpected(_) => return false,
            }
        }
    }
}

/// One group's sender: episode after episode, firing (sometimes resent unchanged) then
/// resolved, each notification retried until accepted before the next is sent.
async fn sender(client: Client, token: String, groups: Vec<String>, mut rng: Rng) {
    let mut episode = vec![0u64; groups.len()];
    let mut firing = vec![false; groups.len()];
    'run: loop {
        for (index, name) in groups.iter().enumerate() {
            if client.stopping() {
                break 'run;
            }
            let resolved = firing[index];
            let body = alert_body(name, episode[index], resolved);
            if !client.notify_until_accepted(&token, &body).await {
                continue;
            }
            // Alertmanager resends an unchanged notification every repeat interval.
            if !resolved && rng.below(3) == 0 && !client.notify_until_accepted(&token, &body).await
            {
                continue;
            }
            if resolved {
                episode[index] += 1;
            }
            firing[index] = !resolved;
            tokio::time::sleep(rng.millis(5, 30)).await;
        }
    }
}

/// A responder acting on recent incidents: acknowledge, note, resolve, with an
/// `Idempotency-Key` per action so a retry after a lost answer is the same action.
async fn responder(client: Client, name: &'static str, token: String, mut rng: Rng, seed: u64) {
    let mut n = 0u64;
    while !client.stopping() {
        tokio::time::sleep(rng.millis(20, 80)).await;
        let Some(incidents) = recent_incidents(&client, &token).await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        if incidents.is_empty() {
            continue;
        }
        let id = incidents[rng.below(incidents.len() as u64) as usize].clone();
        n += 1;
        let (kind, path, body) = match rng.below(10) {
            0..=2 => (
                ActionKind::Ack,
                "ack",
                serde_json::json!({"note": format!("{name} on it ({n})")}),
            ),
            3..=6 => (
                ActionKind::Note,
                "notes",
                serde_json::json!({"text": format!("{name} looked at it ({n})")}),
            ),
            _ => (
                ActionKind::Resolve,
                "resolve",
                serde_json::json!({"resolution": format!("{name} fixed it ({n})")}),
            ),
        };
        let key = format!("crash-{seed}-{name}-{n}");
        for _ in 0..RESPONDER_ATTEMPTS {
            if client.stopping() {
                break;
            }
            let path = format!("/v1/incidents/{id}/{path}");
            match client
                .post(&path, &token, body.to_string(), Some(&key))
                .await
            {
                Attempt::Accepted(answer) => {
                    let fact_id = answer["fact_id"]
                        .as_str()
                        .and_then(|id| id.parse().ok())
                        .expect("a responder answer names its fact");
                    client.ledger.lock().unwrap().actions.push(AckedAction {
                        incident_id: id.clone(),
                        fact_id,
                        kind,
                    });
                    break;
                }
                Attempt::Failed => tokio::time::sleep(Duration::from_millis(50)).await,
                Attempt::Refused | Attempt::Unexpected(_) => break,
            }
        }
    }
}

async fn recent_incidents(client: &Client, token: &str) -> Option<Vec<String>> {
    let page: serde_json::Value = client
        .http
        .get(format!("{}/v1/incidents?limit=100", client.base))
        .bearer_auth(token)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    Some(
        page["incidents"]
            .as_array()?
            .iter()
            .filter_map(|incident| incident["id"].as_str().map(str::to_owned))
            .collect(),
    )
}

/// The running clients.
pub struct Traffic {
    stop: Arc<AtomicBool>,
    tasks: tokio::task::JoinSet<()>,
    ledger: Arc<Mutex<Ledger>>,
}

impl Traffic {
    /// Starts the senders and four responders against `base`.
    pub fn start(base: String, tokens: &super::cluster::Tokens, rng: &mut Rng, seed: u64) -> Self {
        let client = Client {
            http: reqwest::Client::new(),
            base,
            stop: Arc::new(AtomicBool::new(false)),
            ledger: Arc::default(),
        };
        let mut tasks = tokio::task::JoinSet::new();
        for sender_index in 0..SENDERS {
            let groups = (0..GROUPS)
                .filter(|group| group % SENDERS == sender_index)
                .map(|group| format!("Checkout{group}"))
                .collect();
            tasks.spawn(sender(
                client.clone(),
                tokens.ingest.clone(),
                groups,
                Rng::new(rng.next_u64()),
            ));
        }
        // Two responders per person: a responder's request may wait up to two seconds for
        // the projector, so more of them keep the action rate up while projectors restart.
        let people = [
            ("alice-1", &tokens.alice),
            ("alice-2", &tokens.alice),
            ("bob-1", &tokens.bob),
            ("bob-2", &tokens.bob),
        ];
        for (name, token) in people {
            tasks.spawn(responder(
                client.clone(),
                name,
                token.clone(),
                Rng::new(rng.next_u64()),
                seed,
            ));
        }
        Self {
            stop: client.stop,
            tasks,
            ledger: client.ledger,
        }
    }

    /// Stops every client (requests in flight are abandoned: not acknowledged) and hands
    /// over the ledger.
    pub async fn stop(mut self) -> Ledger {
        self.stop.store(true, Ordering::Relaxed);
        while let Some(joined) = self.tasks.join_next().await {
            joined.expect("a traffic task panicked");
        }
        std::mem::take(&mut *self.ledger.lock().unwrap())
    }
}
