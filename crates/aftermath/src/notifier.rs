//! The notifier: a consumer of the log beside the projector, with its own checkpoint, that
//! tells responders about incidents through outbound webhooks (Slack-compatible or
//! generic JSON). At least once: an event is sent before the checkpoint passes its fact,
//! every attempt is recorded as an `incident.notification_attempted` fact, and an event
//! the incident already records as delivered to a target is not sent there again.
//!
//! It runs apart from ingest and projection: a slow or failing receiver delays only
//! further notifications, never a 2xx or a fold.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use aftermath_core::{
    ack_overdue_event, events_for_fact, incident_id_for, AckPolicy, AlertStatus, Delivered, Fact,
    FactBody, Incident, NotificationAttempted, OutboundEvent, WebhookTarget,
};
use aftermath_http::{InternalEvent, Telemetry, WebhookAttempted};
use aftermath_log::{Partition, SharedLog};
use aftermath_store::{IncidentQuery, SharedStore, StatusFilter, StoreError};
use anyhow::Context;
use serde::Deserialize;
use tokio::sync::watch;
use uuid::Uuid;

use crate::now;

/// The notifier's name among the log's consumers (its checkpoint's key).
pub const CONSUMER: &str = "notifier";

/// How far back through a stream's earlier incidents the notifier looks for the one a
/// resolving alert resolved (the stream may have opened newer ones since).
const MAX_PREVIOUS_INCIDENTS: usize = 16;
/// Facts read per step.
const BATCH: usize = 200;
/// How often an idle notifier looks for new facts.
const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// How many delivered events the notifier remembers itself (see `recently_delivered`).
const RECENT_DELIVERIES: usize = 10_000;
/// Overdue incidents per scan.
const OVERDUE_PAGE: u32 = 200;

/// The notifier's settings, read from a TOML file (`--notify-config`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// Where people open Aftermath, for links in notifications; default: the address the
    /// server listens on.
    #[serde(default)]
    pub public_url: Option<String>,
    /// Attempts per event and target before giving up (at least 1).
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// The wait after the first failed attempt; it doubles after each one, up to a minute.
    #[serde(default = "default_initial_backoff_ms")]
    pub initial_backoff_ms: u64,
    /// How long one attempt may take.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// How often to look for incidents past their acknowledgement SLA.
    #[serde(default = "default_overdue_scan_ms")]
    pub overdue_scan_ms: u64,
    /// Overdue incidents whose acknowledgement was due longer ago than this are not
    /// notified (so enabling notifications does not page about old, forgotten incidents).
    #[serde(default = "default_overdue_horizon_minutes")]
    pub overdue_horizon_minutes: u64,
    #[serde(default, rename = "webhook")]
    pub webhooks: Vec<WebhookTarget>,
}

fn default_max_attempts() -> u32 {
    5
}
fn default_initial_backoff_ms() -> u64 {
    1_000
}
fn default_timeout_ms() -> u64 {
    10_000
}
fn default_overdue_scan_ms() -> u64 {
    30_000
}
fn default_overdue_horizon_minutes() -> u64 {
    24 * 60
}

const MAX_BACKOFF: Duration = Duration::from_secs(60);

impl NotifyConfig {
    /// Reads and checks a TOML file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the notify config {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("invalid notify config {}", path.display()))
    }

    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let config: Self = toml::from_str(text)?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> anyhow::Result<()> {
        if self.max_attempts == 0 {
            anyhow::bail!("max_attempts must be at least 1");
        }
        let mut names = BTreeSet::new();
        for (index, webhook) in self.webhooks.iter().enumerate() {
            let at = format!("webhook[{index}]");
            if webhook.name.trim().is_empty() {
                anyhow::bail!("{at}: name is empty");
            }
            if !names.insert(webhook.name.as_str()) {
                anyhow::bail!("{at}: another webhook is already called {:?}", webhook.name);
            }
            let url = reqwest::Url::parse(&webhook.url)
                .with_context(|| format!("{at} ({}): url is not a URL", webhook.name))?;
            if !matches!(url.scheme(), "http" | "https") {
                anyhow::bail!("{at} ({}): url must be http or https", webhook.name);
            }
        }
        Ok(())
    }

    fn backoff(&self, failed_attempt: u32) -> Duration {
        let factor = 2u64.saturating_pow(failed_attempt.saturating_sub(1));
        Duration::from_millis(self.initial_backoff_ms.saturating_mul(factor)).min(MAX_BACKOFF)
    }
}

/// Stopped while waiting to retry: the event is not done, so the checkpoint stays.
struct Interrupted;

/// What went wrong in a step: the parts, or a stop in the middle of a retry.
enum StepError {
    Failed(anyhow::Error),
    Interrupted,
}

impl From<StoreError> for StepError {
    fn from(error: StoreError) -> Self {
        StepError::Failed(error.into())
    }
}

impl From<aftermath_log::LogError> for StepError {
    fn from(error: aftermath_log::LogError) -> Self {
        StepError::Failed(error.into())
    }
}

impl From<Interrupted> for StepError {
    fn from(_: Interrupted) -> Self {
        StepError::Interrupted
    }
}

pub struct Notifier {
    log: SharedLog,
    store: SharedStore,
    config: NotifyConfig,
    ack_policy: AckPolicy,
    public_url: String,
    http: reqwest::Client,
    /// Delivered events whose record the projector may not have folded yet.
    recently_delivered: BTreeSet<Delivered>,
    /// The log's end per partition when this notifier started. Delivery records from
    /// before a restart lie below it: events are sent only once the projector has folded
    /// that far, so a delivery recorded just before a restart is seen, not repeated.
    start_ends: std::collections::BTreeMap<Partition, aftermath_log::Offset>,
    stop: watch::Receiver<bool>,
    /// Where attempts are counted (`aftermath_notifier_attempts_total`).
    telemetry: Telemetry,
}

impl Notifier {
    /// `default_public_url` is used when the config names none. `stop` turning true
    /// stops the notifier between attempts.
    pub fn new(
        log: SharedLog,
        store: SharedStore,
        config: NotifyConfig,
        ack_policy: AckPolicy,
        default_public_url: String,
        stop: watch::Receiver<bool>,
    ) -> anyhow::Result<Self> {
        let public_url = config
            .public_url
            .clone()
            .unwrap_or(default_public_url)
            .trim_end_matches('/')
            .to_owned();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms))
            .user_agent(concat!("aftermath/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("cannot build the webhook client")?;
        Ok(Self {
            log,
            store,
            config,
            ack_policy,
            public_url,
            http,
            recently_delivered: BTreeSet::new(),
            start_ends: Default::default(),
            stop,
            telemetry: Telemetry::new(),
        })
    }

    /// Counts attempts in `telemetry` (the process's registry) rather than in a private one.
    pub fn with_telemetry(mut self, telemetry: Telemetry) -> Self {
        self.telemetry = telemetry;
        self
    }

    /// Gives every partition without a checkpoint one at the end of the log: what
    /// happened before the notifier was configured is history, not news. Call it before
    /// the server takes requests, so nothing accepted after the start is skipped.
    pub async fn start(&mut self) -> anyhow::Result<()> {
        let checkpoints = self.store.consumer_checkpoints(CONSUMER).await?;
        for partition in 0..self.log.partitions() {
            let end = self.log.end_offset(partition).await?;
            self.start_ends.insert(partition, end);
            if !checkpoints.contains_key(&partition) {
                self.start_at_end(partition).await?;
            }
        }
        Ok(())
    }

    async fn start_at_end(&self, partition: Partition) -> Result<(), StoreError> {
        let end = self.log.end_offset(partition).await?;
        match self
            .store
            .advance_consumer(CONSUMER, partition, None, end)
            .await
        {
            // Another instance started it first: its position stands.
            Ok(()) | Err(StoreError::CheckpointMoved { .. }) => {}
            Err(error) => return Err(error),
        }
        tracing::info!(
            partition,
            offset = end,
            "notifier starts at the end of the log"
        );
        Ok(())
    }

    /// Follows the log until `stop` turns true.
    pub async fn run(mut self) {
        tracing::info!(webhooks = self.config.webhooks.len(), "notifier running");
        let scan_every = Duration::from_millis(self.config.overdue_scan_ms.max(10));
        let mut next_scan = tokio::time::Instant::now();
        let mut failures = 0u32;
        while !*self.stop.borrow() {
            let mut worked = false;
            let mut failed = None;
            for partition in 0..self.log.partitions() {
                match self.consume(partition).await {
                    Ok(folded) => worked |= folded > 0,
                    Err(StepError::Interrupted) => return,
                    Err(StepError::Failed(error)) => failed = Some(error),
                }
            }
            if tokio::time::Instant::now() >= next_scan {
                match self.scan_overdue().await {
                    Ok(()) => {}
                    Err(StepError::Interrupted) => return,
                    Err(StepError::Failed(error)) => failed = Some(error),
                }
                next_scan = tokio::time::Instant::now() + scan_every;
            }
            let pause = match failed {
                Some(error) => {
                    failures += 1;
                    tracing::warn!(error = %format!("{error:#}"), failures, "notifier step failed; retrying");
                    self.config.backoff(failures)
                }
                None if worked => {
                    failures = 0;
                    continue;
                }
                None => {
                    failures = 0;
                    POLL_INTERVAL
                }
            };
            if self.pause(pause).await.is_err() {
                return;
            }
        }
    }

    /// Sleeps, unless stopped first.
    async fn pause(&mut self, how_long: Duration) -> Result<(), Interrupted> {
        tokio::select! {
            _ = tokio::time::sleep(how_long) => Ok(()),
            _ = self.stop.wait_for(|stopped| *stopped) => Err(Interrupted),
        }
    }

    /// Notifies the events of the next folded facts of `partition`, then moves the
    /// checkpoint past them. Returns how many facts it passed.
    async fn consume(&mut self, partition: Partition) -> Result<usize, StepError> {
        let checkpoints = self.store.consumer_checkpoints(CONSUMER).await?;
        let Some(&from) = checkpoints.get(&partition) else {
            self.start_at_end(partition).await?;
            return Ok(0);
        };
        // Only facts the projector has folded: the events are read off the incidents.
        let projected = self
            .store
            .checkpoints()
            .await?
            .get(&partition)
            .copied()
            .unwrap_or(0);
        let end_at_start = self.start_ends.get(&partition).copied().unwrap_or(0);
        if projected <= from || projected < end_at_start {
            return Ok(0);
        }
        let wanted = usize::try_from(projected - from)
            .unwrap_or(BATCH)
            .min(BATCH);
        let batch = self.log.read(partition, from, wanted).await?;
        let batch: Vec<_> = batch.into_iter().filter(|l| l.offset < projected).collect();
        let Some(last) = batch.last().map(|logged| logged.offset) else {
            return Ok(0);
        };
        for logged in &batch {
            let Some(incident) = self.incident_of(&logged.fact).await? else {
                continue;
            };
            for event in events_for_fact(&incident, logged.fact.fact_id) {
                self.notify(&event, &incident).await?;
            }
        }
        self.store
            .advance_consumer(CONSUMER, partition, Some(from), last + 1)
            .await?;
        Ok(batch.len())
    }

    /// The incident whose timeline records `fact`, if it can cause an event.
    async fn incident_of(&self, fact: &Fact) -> Result<Option<Incident>, StoreError> {
        let holds = |incident: &Incident| {
            incident
                .timeline
                .iter()
                .any(|entry| entry.fact_id == fact.fact_id)
        };
        if let FactBody::NotificationAttempted(_) = fact.body {
            // Delivery records cause nothing (and must not loop).
            return Ok(None);
        }
        if let Some(id) = fact.body.incident_id() {
            return Ok(self.store.incident(id).await?.filter(holds));
        }
        match &fact.body {
            // A firing alert can only open an incident, whose id it determines.
            FactBody::AlertNotified(alert) if alert.status == AlertStatus::Firing => Ok(self
                .store
                .incident(incident_id_for(fact.fact_id))
                .await?
                .filter(holds)),
            // A resolving alert resolved its stream's incident of the time, which newer
            // incidents of the stream may have followed since.
            FactBody::AlertNotified(_) => {
                let streams = BTreeSet::from([fact.stream_key.clone()]);
                let loaded = self.store.load(&streams, &BTreeSet::new()).await?;
                let mut next = loaded
                    .streams
                    .get(&fact.stream_key)
                    .and_then(|stream| stream.current_incident);
                for _ in 0..MAX_PREVIOUS_INCIDENTS {
                    let Some(id) = next else { break };
                    let Some(incident) = self.store.incident(id).await? else {
                        break;
                    };
                    if holds(&incident) {
                        return Ok(Some(incident));
                    }
                    next = incident.previous_incident;
                }
                Ok(None)
            }
            _ => Ok(None),
        }
    }

    /// Sends acknowledgement-overdue events for open incidents past their SLA.
    async fn scan_overdue(&mut self) -> Result<(), StepError> {
        let now = now();
        let query = IncidentQuery {
            status: StatusFilter::Open,
            limit: OVERDUE_PAGE,
            cursor: None,
            overdue_before: Some(self.ack_policy.overdue_cutoffs(now)),
            service: None,
            class: None,
            with_timelines: true,
        };
        let horizon = time::Duration::minutes(
            i64::try_from(self.config.overdue_horizon_minutes).unwrap_or(i64::MAX / 60),
        );
        let page = self.store.list_incidents(&query).await?;
        for incident in page.incidents {
            let Some(event) = ack_overdue_event(&incident, &self.ack_policy, now) else {
                continue;
            };
            if event.at.datetime() + horizon < now.datetime() {
                continue;
            }
            self.notify(&event, &incident).await?;
        }
        Ok(())
    }

    /// Sends `event` to every webhook that wants it and has not had it yet.
    async fn notify(
        &mut self,
        event: &OutboundEvent,
        incident: &Incident,
    ) -> Result<(), Interrupted> {
        let targets: Vec<WebhookTarget> = self
            .config
            .webhooks
            .iter()
            .filter(|target| target.wants(event, incident))
            .cloned()
            .collect();
        for target in targets {
            let delivered = Delivered {
                event_id: event.id,
                target: target.name.clone(),
            };
            if incident.delivered.contains(&delivered)
                || self.recently_delivered.contains(&delivered)
            {
                continue;
            }
            if self.deliver(event, incident, &target).await? {
                // Only needed until the projector folds the record, which is long done
                // by the time this many deliveries followed.
                if self.recently_delivered.len() >= RECENT_DELIVERIES {
                    self.recently_delivered.clear();
                }
                self.recently_delivered.insert(delivered);
            }
        }
        Ok(())
    }

    /// Tries to deliver one event to one target, with retries and backoff; records every
    /// attempt. Returns whether it was delivered.
    async fn deliver(
        &mut self,
        event: &OutboundEvent,
        incident: &Incident,
        target: &WebhookTarget,
    ) -> Result<bool, Interrupted> {
        let link = format!("{}/v1/incidents/{}", self.public_url, incident.id);
        let body = target.body(event, incident, &link);
        for attempt in 1..=self.config.max_attempts {
            let request = self
                .http
                .post(&target.url)
                .header("X-Aftermath-Event-Id", event.id.to_string())
                .header("X-Aftermath-Event", event.kind.as_str())
                .json(&body)
                .send();
            // A stop abandons the attempt unrecorded: the event is not done, so the
            // checkpoint stays before it and the next start sends it again.
            let sent = tokio::select! {
                sent = request => sent,
                _ = self.stop.wait_for(|stopped| *stopped) => return Err(Interrupted),
            };
            let (delivered, status, error, permanent) = match sent {
                Ok(response) if response.status().is_success() => {
                    (true, Some(response.status().as_u16()), None, false)
                }
                Ok(response) => {
                    let status = response.status();
                    // A 4xx other than a timeout or a rate limit will not change by
                    // retrying (a wrong URL, a revoked hook).
                    let permanent = status.is_client_error()
                        && status != reqwest::StatusCode::REQUEST_TIMEOUT
                        && status != reqwest::StatusCode::TOO_MANY_REQUESTS;
                    (false, Some(status.as_u16()), None, permanent)
                }
                Err(error) => (false, None, Some(describe(&error)), false),
            };
            let last = delivered || permanent || attempt == self.config.max_attempts;
            self.record(
                NotificationAttempted {
                    incident_id: incident.id,
                    event_id: event.id,
                    event: event.kind,
                    target: target.name.clone(),
                    attempt,
                    delivered,
                    status,
                    error: error.clone(),
                    last,
                },
                incident,
            )
            .await;
            WebhookAttempted {
                target: &target.name,
                event: event.kind.as_str(),
                incident: incident.id,
                attempt,
                delivered,
                status,
                error: error.as_deref(),
                gave_up: last && !delivered,
            }
            .emit(&self.telemetry);
            if delivered {
                return Ok(true);
            }
            if last {
                return Ok(false);
            }
            self.pause(self.config.backoff(attempt)).await?;
        }
        Ok(false)
    }

    /// Appends the record of an attempt. A record that cannot be written is logged: the
    /// notification itself went out (or not) either way.
    async fn record(&self, attempt: NotificationAttempted, incident: &Incident) {
        let at = now();
        let fact = Fact {
            // Random: a notifier restarted mid-event makes a new attempt 1, which is a
            // new record, not a repeat of the old one.
            fact_id: Uuid::new_v4(),
            stream_key: incident.stream_key.clone(),
            occurred_at: at,
            recorded_at: at,
            body: FactBody::NotificationAttempted(attempt),
        };
        if let Err(error) = self.log.append(&[fact]).await {
            tracing::error!(%error, incident = %incident.id, "cannot record a notification attempt");
        }
    }
}

/// A send error in words, without the URL (which may hold a secret token).
fn describe(error: &reqwest::Error) -> String {
    let what = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection failed"
    } else if error.is_redirect() {
        "too many redirects"
    } else {
        "request failed"
    };
    what.to_owned()
}
