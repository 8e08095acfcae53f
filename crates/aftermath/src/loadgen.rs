//! `aftermath loadgen`: drives a running Aftermath (or, for comparison, an Alertmanager)
//! with realistic alert traffic over HTTP and measures what it took: accepted alerts and
//! requests per second, latency to the 2xx, errors by status and, for Aftermath, how long
//! after its 2xx an alert shows on its incident in the read API.
//!
//! The traffic ([`traffic`]) is what Prometheus sends: new alerts, unchanged re-sends and
//! alerts that resolve and fire again, grouped as Alertmanager groups them. Aftermath gets
//! each group's alerts as an Alertmanager webhook (version "4"); Alertmanager gets the same
//! alerts as `POST /api/v2/alerts` arrays ([`body`]).
//!
//! Pacing is either open-loop (`Pace::Rate`: requests leave on a fixed schedule whether or
//! not earlier ones answered, and latency runs from the scheduled time, so a stalled server
//! shows as latency instead of silently slowing the generator down) or closed-loop
//! (`Pace::Concurrency`: a fixed number of requests in flight, as fast as the server goes).

pub mod body;
mod cli;
pub mod histogram;
pub mod traffic;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aftermath_core::Timestamp;
use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

pub use cli::{run_cli, LoadgenArgs, TargetKind};

use body::Renderer;
use histogram::Histogram;
use traffic::{split_by_group, AlertSend, Batch, Traffic, TrafficShape, TrafficTotals};

/// A probe polls the read API every 2 ms for its first 20 ms, then every 10 ms, then after
/// a second every 50 ms: fine resolution where the figure usually is, without the probes
/// themselves loading a slow server (each poll reads a whole incident).
fn probe_poll_interval(waited: Duration) -> Duration {
    match waited.as_millis() {
        0..20 => Duration::from_millis(2),
        20..1000 => Duration::from_millis(10),
        _ => Duration::from_millis(50),
    }
}
/// At most this many probes run at once; a request due for a probe while they all run
/// goes unprobed (counted as skipped), so probes never pile up on a slow server.
const MAX_PROBES_IN_FLIGHT: u64 = 4;
/// A probe gives up after this long; it is then counted as not seen.
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);
/// While a probe's incident id is unknown to the read API, the probe looks the group up in
/// the incident list this often: concurrent requests to one group may reach the log in
/// another order than they were made (a group commit takes them together), so another
/// alert than the model's may have opened the incident. Such a probe's figure may be late
/// by up to this much; the group's true incident is then remembered for later probes.
const PROBE_LIST_LOOKUP_EVERY: Duration = Duration::from_millis(10);
/// A probe whose incident exists but does not show the alert looks the group up in the
/// list after this long (the alert may have landed on a later incident of the group).
const PROBE_STALE_LOOKUP_AFTER: Duration = Duration::from_secs(1);
/// Newest incidents a probe's list look-up reads.
const PROBE_LIST_LIMIT: u32 = 50;
/// A request that has not answered after this long counts as an error (`timeout`).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Which server the load goes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// `POST /v1/ingest/alertmanager` with a token holding the ingest (and, for probes and
    /// the wait for the projections, read) scope.
    Aftermath { token: String },
    /// Alertmanager's `POST /api/v2/alerts`, without authentication.
    Alertmanager,
}

impl Target {
    pub fn name(&self) -> &'static str {
        match self {
            Target::Aftermath { .. } => "aftermath",
            Target::Alertmanager => "alertmanager",
        }
    }
}

/// How requests are paced.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pace {
    /// Open loop: `batches_per_second` batches leave on schedule, with at most
    /// `max_in_flight` unanswered (beyond that the schedule slips, which shows as latency).
    Rate {
        batches_per_second: f64,
        max_in_flight: u64,
    },
    /// Closed loop: this many requests in flight, each sent when the previous answered.
    Concurrency(u64),
}

/// When the run ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// After this many batches.
    Batches(u64),
    /// After this long (no batch starts later).
    Duration(Duration),
}

/// What to send, where, and how fast.
#[derive(Clone, Debug)]
pub struct LoadPlan {
    pub base_url: String,
    pub target: Target,
    pub shape: TrafficShape,
    pub pace: Pace,
    pub stop: Stop,
    /// Probe alert→visible on one in this many requests that change something (Aftermath
    /// only); 0 for none.
    pub visibility_every: u64,
    /// Whether to wait, at the end, until the projections hold every fact (Aftermath).
    pub wait_for_projections: bool,
}

/// Milliseconds at a few quantiles.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

impl Percentiles {
    /// From a histogram of microseconds.
    pub fn of(histogram: &Histogram) -> Self {
        let ms = |micros: u64| micros as f64 / 1000.0;
        Self {
            count: histogram.count(),
            p50: ms(histogram.value_at(0.5)),
            p99: ms(histogram.value_at(0.99)),
            p999: ms(histogram.value_at(0.999)),
            max: ms(histogram.max()),
            mean: histogram.mean() / 1000.0,
        }
    }
}

/// How long after its 2xx a sampled alert showed on its incident in the read API.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Visibility {
    pub probes: u64,
    /// Probes that gave up after 30 s without seeing the alert.
    pub not_seen: u64,
    /// Requests due for a probe while the most probes allowed at once were running.
    pub skipped: u64,
    /// Over the probes that saw their alert.
    pub ms: Percentiles,
}

/// What was measured.
#[derive(Clone, Debug, Serialize)]
pub struct LoadReport {
    pub target: &'static str,
    /// From the first request to the last answer.
    pub seconds: f64,
    /// What the traffic model sent (batches, alerts by kind, distinct alerts, groups, and
    /// the incidents the fold opens if requests reach the log in the order they were made).
    pub traffic: TrafficTotals,
    /// HTTP requests answered (one per batch for Alertmanager; one per group in a batch
    /// for Aftermath).
    pub requests: u64,
    pub requests_ok: u64,
    /// Alerts in requests answered 2xx.
    pub alerts_accepted: u64,
    pub alerts_per_second: f64,
    pub requests_per_second: f64,
    /// Scheduled send (open loop) or send (closed loop) to the 2xx.
    pub latency_ms: Percentiles,
    /// Failed requests by HTTP status, or `transport` / `timeout`.
    pub errors: BTreeMap<String, u64>,
    /// Aftermath: facts the 2xx answers said were appended, and recognised repeats.
    pub facts_appended: Option<u64>,
    pub duplicates: Option<u64>,
    pub visibility: Option<Visibility>,
    /// Aftermath: seconds from the first request until the projections held every fact.
    pub projected_seconds: Option<f64>,
}

impl LoadReport {
    pub fn summary(&self) -> String {
        let traffic = &self.traffic;
        let mut text = format!(
            "{target}: {ok}/{requests} requests 2xx, {accepted} alerts accepted in {seconds:.2} s: \
             {alerts_per_second:.0} alerts/s, {requests_per_second:.0} requests/s\n\
             alerts sent: {new} new, {repeats} repeats, {resolves} resolved, {refires} fired again; \
             {distinct} distinct alerts in {groups} groups\n\
             latency to the 2xx: p50 {p50:.2} ms, p99 {p99:.2} ms, p99.9 {p999:.2} ms, max {max:.2} ms",
            target = self.target,
            ok = self.requests_ok,
            requests = self.requests,
            accepted = self.alerts_accepted,
            seconds = self.seconds,
            alerts_per_second = self.alerts_per_second,
            requests_per_second = self.requests_per_second,
            new = traffic.new,
            repeats = traffic.repeats,
            resolves = traffic.resolves,
            refires = traffic.refires,
            distinct = traffic.distinct_alerts,
            groups = traffic.groups,
            p50 = self.latency_ms.p50,
            p99 = self.latency_ms.p99,
            p999 = self.latency_ms.p999,
            max = self.latency_ms.max,
        );
        if !self.errors.is_empty() {
            let errors: Vec<String> = self
                .errors
                .iter()
                .map(|(status, count)| format!("{count} × {status}"))
                .collect();
            text.push_str(&format!("\nerrors: {}", errors.join(", ")));
        }
        if let (Some(appended), Some(duplicates)) = (self.facts_appended, self.duplicates) {
            text.push_str(&format!(
                "\nfacts appended: {appended} ({:.0}/s); repeats recognised: {duplicates}",
                appended as f64 / self.seconds
            ));
        }
        if let Some(visibility) = &self.visibility {
            text.push_str(&format!(
                "\nalert visible on its incident after the 2xx ({} probes, {} not seen in 30 s, \
                 {} skipped while {MAX_PROBES_IN_FLIGHT} ran): \
                 p50 {:.1} ms, p99 {:.1} ms, p99.9 {:.1} ms, max {:.1} ms",
                visibility.probes,
                visibility.not_seen,
                visibility.skipped,
                visibility.ms.p50,
                visibility.ms.p99,
                visibility.ms.p999,
                visibility.ms.max
            ));
        }
        if let (Some(projected), Some(appended)) = (self.projected_seconds, self.facts_appended) {
            text.push_str(&format!(
                "\nprojections caught up after {projected:.2} s: {:.0} facts/s projected",
                appended as f64 / projected
            ));
        }
        text
    }
}

/// What an Aftermath ingest answer says.
#[derive(Deserialize)]
struct IngestAnswer {
    facts_appended: u64,
    duplicates: u64,
}

#[derive(Default)]
struct Counters {
    latency: Histogram,
    requests: u64,
    requests_ok: u64,
    alerts_accepted: u64,
    facts_appended: u64,
    duplicates: u64,
    errors: BTreeMap<String, u64>,
    /// The first refusal's answer, to say why when nothing succeeded.
    first_refusal: Option<String>,
    last_answer: Option<Instant>,
}

#[derive(Default)]
struct ProbeCounters {
    latency: Histogram,
    probes: u64,
    not_seen: u64,
    skipped: u64,
    in_flight: u64,
}

/// What the senders share.
struct Run {
    client: reqwest::Client,
    plan: LoadPlan,
    url: String,
    renderer: Renderer,
    traffic: Mutex<Traffic>,
    counters: Mutex<Counters>,
    probes: Mutex<ProbeCounters>,
    probe_tasks: Mutex<tokio::task::JoinSet<()>>,
    /// Requests that changed something, for sampling the probes.
    changing_requests: AtomicU64,
    /// Incidents found opened by another alert than the model's opener (group, opener
    /// alert, its start), so later probes of the same incident look there at once.
    learned_incidents: Mutex<HashMap<(u64, u64, u64), Uuid>>,
    started: Instant,
}

/// One HTTP request of a batch.
struct Request {
    body: String,
    alerts: u64,
    /// The alert a probe would watch: the request's first change.
    first_change: Option<AlertSend>,
}

impl Run {
    /// The next batch, or `None` once the plan's stop is reached.
    fn next_batch(&self) -> Option<Batch> {
        let mut traffic = self.traffic.lock().expect("traffic lock");
        let more = match self.plan.stop {
            Stop::Batches(count) => traffic.totals().batches < count,
            Stop::Duration(duration) => self.started.elapsed() < duration,
        };
        more.then(|| traffic.next_batch())
    }

    fn requests_of(&self, batch: &Batch) -> Vec<Request> {
        let first_change = |alerts: &[AlertSend]| alerts.iter().copied().find(AlertSend::is_change);
        match self.plan.target {
            Target::Aftermath { .. } => split_by_group(&batch.alerts)
                .into_iter()
                .map(|part| Request {
                    body: self.renderer.webhook(&part),
                    alerts: part.len() as u64,
                    first_change: first_change(&part),
                })
                .collect(),
            Target::Alertmanager => vec![Request {
                body: self.renderer.postable_alerts(&batch.alerts),
                alerts: batch.alerts.len() as u64,
                first_change: None,
            }],
        }
    }

    /// Sends a batch's requests one after another; latency runs from `since`.
    async fn send_batch(self: &Arc<Self>, batch: Batch, since: Instant) {
        for request in self.requests_of(&batch) {
            self.send(request, since).await;
        }
    }

    async fn send(self: &Arc<Self>, request: Request, since: Instant) {
        let mut call = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .body(request.body);
        if let Target::Aftermath { token } = &self.plan.target {
            call = call.bearer_auth(token);
        }
        let probe = request.first_change.filter(|_| {
            self.plan.visibility_every > 0
                && self.changing_requests.fetch_add(1, Ordering::Relaxed)
                    % self.plan.visibility_every
                    == 0
        });
        let outcome = match call.send().await {
            Ok(answer) => {
                let status = answer.status();
                let bytes = answer.bytes().await;
                match bytes {
                    Ok(bytes) => Ok((status, bytes)),
                    Err(error) => Err(error),
                }
            }
            Err(error) => Err(error),
        };
        let answered = Instant::now();
        let mut counters = self.counters.lock().expect("counters lock");
        counters.requests += 1;
        counters.last_answer = Some(answered);
        match outcome {
            Ok((status, bytes)) if status.is_success() => {
                counters.requests_ok += 1;
                counters.alerts_accepted += request.alerts;
                counters
                    .latency
                    .record(answered.duration_since(since).as_micros() as u64);
                if let Ok(answer) = serde_json::from_slice::<IngestAnswer>(&bytes) {
                    counters.facts_appended += answer.facts_appended;
                    counters.duplicates += answer.duplicates;
                }
                drop(counters);
                if let Some(send) = probe.filter(|_| self.start_probe()) {
                    let run = self.clone();
                    self.probe_tasks
                        .lock()
                        .expect("probe lock")
                        .spawn(async move { run.probe(send, answered).await });
                }
            }
            Ok((status, bytes)) => {
                *counters
                    .errors
                    .entry(status.as_u16().to_string())
                    .or_default() += 1;
                counters.first_refusal.get_or_insert_with(|| {
                    format!("{status}: {}", String::from_utf8_lossy(&bytes))
                });
            }
            Err(error) => {
                let kind = if error.is_timeout() {
                    "timeout"
                } else {
                    "transport"
                };
                *counters.errors.entry(kind.to_owned()).or_default() += 1;
                counters
                    .first_refusal
                    .get_or_insert_with(|| format!("{kind}: {error:#}"));
            }
        }
    }

    /// Whether a probe may start now (then it counts as running).
    fn start_probe(&self) -> bool {
        let mut probes = self.probes.lock().expect("probe counters lock");
        if probes.in_flight >= MAX_PROBES_IN_FLIGHT {
            probes.skipped += 1;
            return false;
        }
        probes.in_flight += 1;
        true
    }

    /// Polls the read API until `send` shows on its incident as sent, and records how
    /// long after `acknowledged` (the 2xx) that was.
    async fn probe(self: Arc<Self>, send: AlertSend, acknowledged: Instant) {
        let Target::Aftermath { token } = &self.plan.target else {
            return;
        };
        let group = self.renderer.group(send.group);
        let fingerprint = self.renderer.fingerprint(&send, &group);
        let starts_at = self.renderer.timestamp(send.starts_seq);
        let ends_at = send.ends_seq.map(|seq| self.renderer.timestamp(seq));
        let opener = (send.group, send.opener_alert, send.opener_starts_seq);
        let derived = self.renderer.incident_id(&send);
        let learned = self
            .learned_incidents
            .lock()
            .expect("learned lock")
            .get(&opener)
            .copied();
        let mut incident = learned.unwrap_or(derived);
        let mut last_lookup = acknowledged;
        let seen = loop {
            let detail = self
                .client
                .get(format!("{}/v1/incidents/{incident}", self.plan.base_url))
                .bearer_auth(token)
                .send()
                .await;
            let mut known = false;
            if let Ok(detail) = detail {
                known = detail.status().is_success();
                if let Ok(detail) = detail.json::<Value>().await {
                    if known && holds(&detail, &fingerprint, starts_at, ends_at) {
                        break Some(acknowledged.elapsed());
                    }
                }
            }
            if acknowledged.elapsed() > PROBE_TIMEOUT {
                break None;
            }
            let lookup_after = if known {
                PROBE_STALE_LOOKUP_AFTER
            } else {
                PROBE_LIST_LOOKUP_EVERY
            };
            if last_lookup.elapsed() >= lookup_after {
                last_lookup = Instant::now();
                if let Some(newest) = self.newest_incident_of(token, &group.group_key).await {
                    if newest != incident {
                        incident = newest;
                        continue;
                    }
                }
            }
            tokio::time::sleep(probe_poll_interval(acknowledged.elapsed())).await;
        };
        if seen.is_some() && incident != derived {
            self.learned_incidents
                .lock()
                .expect("learned lock")
                .insert(opener, incident);
        }
        let mut probes = self.probes.lock().expect("probe counters lock");
        probes.in_flight -= 1;
        probes.probes += 1;
        match seen {
            Some(after) => probes.latency.record(after.as_micros() as u64),
            None => probes.not_seen += 1,
        }
    }

    /// The newest incident of a group, from the first page of the incident list.
    async fn newest_incident_of(&self, token: &str, group_key: &str) -> Option<Uuid> {
        let page: Value = self
            .client
            .get(format!(
                "{}/v1/incidents?status=all&limit={PROBE_LIST_LIMIT}",
                self.plan.base_url
            ))
            .bearer_auth(token)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        page["incidents"]
            .as_array()?
            .iter()
            .find(|incident| incident["group_key"] == group_key)
            .and_then(|incident| incident["id"].as_str()?.parse().ok())
    }
}

/// Whether an incident's detail holds the alert in the probed state or a later one: the
/// traffic may resolve or re-fire the alert again before a probe looks, and a later state
/// can only be there once the probed one was folded.
fn holds(
    detail: &Value,
    fingerprint: &str,
    starts_at: Timestamp,
    ends_at: Option<Timestamp>,
) -> bool {
    let time = |value: &Value| value.as_str().and_then(|text| Timestamp::parse(text).ok());
    let Some(alerts) = detail["alerts"].as_array() else {
        return false;
    };
    alerts
        .iter()
        .filter(|alert| alert["fingerprint"] == fingerprint)
        .any(|alert| {
            let (held_starts, held_ends) = (time(&alert["starts_at"]), time(&alert["ends_at"]));
            match ends_at {
                None => held_starts.is_some_and(|held| held >= starts_at),
                Some(ends_at) => {
                    (alert["status"] == "resolved" && held_ends.is_some_and(|held| held >= ends_at))
                        || held_starts.is_some_and(|held| held > ends_at)
                }
            }
        })
}

async fn lag(client: &reqwest::Client, base_url: &str, token: &str) -> anyhow::Result<u64> {
    let status: Value = client
        .get(format!("{base_url}/v1/status"))
        .bearer_auth(token)
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

/// Runs the plan; `progress` hears the number of batches sent about once a second.
pub async fn run(plan: LoadPlan, mut progress: impl FnMut(u64)) -> anyhow::Result<LoadReport> {
    let connections = match plan.pace {
        Pace::Rate { max_in_flight, .. } => max_in_flight,
        Pace::Concurrency(concurrency) => concurrency,
    };
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(connections.max(1) as usize)
        .timeout(REQUEST_TIMEOUT)
        .build()?;
    if let Target::Aftermath { token } = &plan.target {
        // Fail early on a token without the read scope, before sending anything.
        if plan.wait_for_projections || plan.visibility_every > 0 {
            lag(&client, &plan.base_url, token).await?;
        }
    }
    let url = match plan.target {
        Target::Aftermath { .. } => format!("{}/v1/ingest/alertmanager", plan.base_url),
        Target::Alertmanager => format!("{}/api/v2/alerts", plan.base_url),
    };
    // Alerts start an hour back, one microsecond per change, so every time is past
    // (Alertmanager takes a resolved alert's past `endsAt` as resolved) and runs differ.
    let epoch = OffsetDateTime::now_utc() - time::Duration::hours(1);
    let run = Arc::new(Run {
        client: client.clone(),
        renderer: Renderer::new(plan.shape.population, epoch),
        traffic: Mutex::new(Traffic::new(plan.shape)),
        url,
        counters: Mutex::new(Counters::default()),
        probes: Mutex::new(ProbeCounters::default()),
        probe_tasks: Mutex::new(tokio::task::JoinSet::new()),
        changing_requests: AtomicU64::new(0),
        learned_incidents: Mutex::new(HashMap::new()),
        started: Instant::now(),
        plan,
    });
    let batches_sent = || run.traffic.lock().expect("traffic lock").totals().batches;
    match run.plan.pace {
        Pace::Concurrency(concurrency) => {
            let mut workers = tokio::task::JoinSet::new();
            for _ in 0..concurrency.max(1) {
                let run = run.clone();
                workers.spawn(async move {
                    while let Some(batch) = run.next_batch() {
                        run.send_batch(batch, Instant::now()).await;
                    }
                });
            }
            let mut ticker = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    finished = workers.join_next() => match finished {
                        Some(result) => result?,
                        None => break,
                    },
                    _ = ticker.tick() => progress(batches_sent()),
                }
            }
        }
        Pace::Rate {
            batches_per_second,
            max_in_flight,
        } => {
            if batches_per_second.is_nan() || batches_per_second <= 0.0 {
                bail!("the rate must be above 0 requests per second");
            }
            let period = Duration::from_secs_f64(1.0 / batches_per_second);
            let in_flight = Arc::new(tokio::sync::Semaphore::new(max_in_flight.max(1) as usize));
            let mut senders = tokio::task::JoinSet::new();
            let mut last_progress = Instant::now();
            for index in 0u64.. {
                let scheduled = run.started + period.mul_f64(index as f64);
                tokio::time::sleep_until(scheduled.into()).await;
                let Some(batch) = run.next_batch() else { break };
                let permit = in_flight.clone().acquire_owned().await?;
                let run = run.clone();
                senders.spawn(async move {
                    run.send_batch(batch, scheduled).await;
                    drop(permit);
                });
                while let Some(finished) = senders.try_join_next() {
                    finished?;
                }
                if last_progress.elapsed() >= Duration::from_secs(1) {
                    last_progress = Instant::now();
                    progress(batches_sent());
                }
            }
            while let Some(finished) = senders.join_next().await {
                finished?;
            }
        }
    }
    progress(batches_sent());
    let (seconds, report) = {
        let counters = run.counters.lock().expect("counters lock");
        let seconds = counters
            .last_answer
            .map_or(0.0, |last| last.duration_since(run.started).as_secs_f64())
            .max(1e-9);
        if counters.requests_ok == 0 {
            bail!(
                "no request succeeded ({} sent); the first answer was {}",
                counters.requests,
                counters.first_refusal.as_deref().unwrap_or("none")
            );
        }
        let aftermath = matches!(run.plan.target, Target::Aftermath { .. });
        let report = LoadReport {
            target: run.plan.target.name(),
            seconds,
            traffic: run.traffic.lock().expect("traffic lock").totals(),
            requests: counters.requests,
            requests_ok: counters.requests_ok,
            alerts_accepted: counters.alerts_accepted,
            alerts_per_second: counters.alerts_accepted as f64 / seconds,
            requests_per_second: counters.requests_ok as f64 / seconds,
            latency_ms: Percentiles::of(&counters.latency),
            errors: counters.errors.clone(),
            facts_appended: aftermath.then_some(counters.facts_appended),
            duplicates: aftermath.then_some(counters.duplicates),
            visibility: None,
            projected_seconds: None,
        };
        (seconds, report)
    };
    let mut report = report;
    let mut probe_tasks = std::mem::take(&mut *run.probe_tasks.lock().expect("probe lock"));
    while let Some(finished) = probe_tasks.join_next().await {
        finished?;
    }
    if let Target::Aftermath { token } = &run.plan.target {
        if run.plan.visibility_every > 0 {
            let probes = run.probes.lock().expect("probe counters lock");
            report.visibility = Some(Visibility {
                probes: probes.probes,
                not_seen: probes.not_seen,
                skipped: probes.skipped,
                ms: Percentiles::of(&probes.latency),
            });
        }
        if run.plan.wait_for_projections {
            while lag(&client, &run.plan.base_url, token).await? > 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            report.projected_seconds = Some(run.started.elapsed().as_secs_f64().max(seconds));
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn at(text: &str) -> Timestamp {
        Timestamp::parse(text).unwrap()
    }

    fn detail(status: &str, starts_at: &str, ends_at: Option<&str>) -> Value {
        json!({"alerts": [
            {"fingerprint": "other", "status": "firing", "starts_at": "2026-11-24T10:00:00Z", "ends_at": null},
            {"fingerprint": "f1", "status": status, "starts_at": starts_at, "ends_at": ends_at},
        ]})
    }

    #[test]
    fn a_probe_sees_its_state_or_a_later_one_never_an_earlier_one() {
        let (start, end) = (
            at("2026-11-24T10:00:00.000002Z"),
            at("2026-11-24T10:00:00.000005Z"),
        );
        let firing = detail("firing", "2026-11-24T10:00:00.000002Z", None);
        let resolved = detail(
            "resolved",
            "2026-11-24T10:00:00.000002Z",
            Some("2026-11-24T10:00:00.000005Z"),
        );
        let fired_again = detail("firing", "2026-11-24T10:00:00.000009Z", None);
        // Probing the firing: it, its resolution, or a later firing.
        assert!(holds(&firing, "f1", start, None));
        assert!(holds(&resolved, "f1", start, None));
        assert!(holds(&fired_again, "f1", start, None));
        // Probing the resolution: not the firing before it.
        assert!(!holds(&firing, "f1", start, Some(end)));
        assert!(holds(&resolved, "f1", start, Some(end)));
        assert!(holds(&fired_again, "f1", start, Some(end)));
        // Probing a re-firing: not the occurrence before it.
        assert!(!holds(
            &resolved,
            "f1",
            at("2026-11-24T10:00:00.000009Z"),
            None
        ));
        assert!(!holds(&firing, "f2", start, None));
        assert!(!holds(&json!({}), "f1", start, None));
    }
}
