//! The Aftermath application: configuration, wiring of log, store, projector and HTTP
//! server, and the commands behind the CLI. `main.rs` only parses arguments.

pub mod client;
mod demo;
pub mod loadgen;
pub mod notifier;

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use aftermath_core::Timestamp;
use aftermath_http::{AppStateFields, MeteredLog, Telemetry};
use aftermath_log::{EmbeddedLog, EmbeddedLogOptions, KafkaConfig, KafkaLog, SharedLog};
use aftermath_store::{PgStore, Projector, SharedStore, SqliteStore};
use anyhow::Context;
use tokio::net::TcpListener;

pub use demo::run_demo;

/// Changes this long before an incident opened are shown on it as suspect changes.
pub const DEFAULT_CHANGE_WINDOW: Duration = Duration::from_secs(2 * 60 * 60);

/// How long after its resolution an incident may be reopened (after that, a new alert
/// opens a new incident).
pub const DEFAULT_REOPEN_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);

/// How many facts the projector folds per transaction.
pub const DEFAULT_BATCH_SIZE: usize = 500;
/// Facts a rebuild folds per transaction: an incident touched by many facts of a batch is
/// written once per batch, so a replay wants large batches (latency does not matter). A
/// 1M-fact rebuild into SQLite ran about 15% faster at 40,000 than at 10,000, with a peak
/// RSS of about 490 MB instead of 340 MB.
pub const REBUILD_BATCH_SIZE: usize = 40_000;

/// Which parts hold the log and the projections.
#[derive(Clone)]
pub struct Backends {
    /// The embedded log and (without `database_url`) projections live here.
    pub data_dir: PathBuf,
    /// When set, the log is this Kafka topic instead of the embedded file.
    pub kafka: Option<KafkaConfig>,
    /// `postgres://…` for PostgreSQL projections, `sqlite://PATH` for a SQLite file
    /// elsewhere; unset: `projections.sqlite` in the data directory.
    pub database_url: Option<String>,
}

/// By hand, so that a `Debug` print (of a `Config` in a log line) never shows the
/// database password.
impl std::fmt::Debug for Backends {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let database_url = self
            .database_url
            .as_deref()
            .map(aftermath_store::redacted_database_url);
        f.debug_struct("Backends")
            .field("data_dir", &self.data_dir)
            .field("kafka", &self.kafka)
            .field("database_url", &database_url)
            .finish()
    }
}

impl Backends {
    /// The embedded default: everything in `data_dir`.
    pub fn embedded(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            kafka: None,
            database_url: None,
        }
    }

    /// Whether the projections are in PostgreSQL (otherwise in a SQLite file).
    pub fn postgres_projections(&self) -> bool {
        self.database_url
            .as_deref()
            .is_some_and(|url| url.starts_with("postgres://") || url.starts_with("postgresql://"))
    }

    /// Opens the projection store, applying migrations.
    pub async fn open_store(&self) -> anyhow::Result<SharedStore> {
        match self.database_url.as_deref() {
            Some(url) if self.postgres_projections() => {
                let store = PgStore::connect(url)
                    .await
                    .context("cannot open the PostgreSQL projection store")?;
                Ok(Arc::new(store))
            }
            Some(url) => match url.strip_prefix("sqlite://") {
                Some(path) => open_sqlite(Path::new(path)).await,
                None => anyhow::bail!(
                    "unsupported --database-url {url:?}: use postgres://… or sqlite://PATH"
                ),
            },
            None => {
                create_data_dir(&self.data_dir)?;
                open_sqlite(&self.data_dir.join("projections.sqlite")).await
            }
        }
    }

    /// Opens the event log. `with_group` joins the Kafka consumer group (projectors only).
    pub async fn open_log(&self, with_group: bool) -> anyhow::Result<SharedLog> {
        self.open_log_with(with_group, EmbeddedLogOptions::default())
            .await
    }

    /// Opens the event log; `embedded` tunes the embedded log (with Kafka, only its
    /// recent-id set is used).
    pub async fn open_log_with(
        &self,
        with_group: bool,
        embedded: EmbeddedLogOptions,
    ) -> anyhow::Result<SharedLog> {
        match &self.kafka {
            Some(kafka) => {
                let mut config = kafka.clone();
                if !with_group {
                    config.group = None;
                }
                // The same set of recent ids answers repeats without a write on Kafka.
                config.recent_fact_ids = embedded.recent_fact_ids;
                let log = KafkaLog::open(config)
                    .await
                    .context("cannot open the Kafka log")?;
                Ok(Arc::new(log))
            }
            None => {
                create_data_dir(&self.data_dir)?;
                let path = self.data_dir.join("log.sqlite");
                let log = EmbeddedLog::open_with(&path, embedded)
                    .await
                    .with_context(|| format!("cannot open the event log {}", path.display()))?;
                Ok(Arc::new(log))
            }
        }
    }

    /// Refuses to create an empty embedded data directory by mistake.
    fn require_existing(&self, file: &str) -> anyhow::Result<()> {
        let path = self.data_dir.join(file);
        if !path.exists() {
            anyhow::bail!(
                "no {} in {}; pass the --data-dir that `aftermath serve` uses",
                if file == "log.sqlite" {
                    "event log"
                } else {
                    "projections"
                },
                self.data_dir.display()
            );
        }
        Ok(())
    }
}

fn create_data_dir(data_dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create the data directory {}", data_dir.display()))
}

async fn open_sqlite(path: &Path) -> anyhow::Result<SharedStore> {
    let store = SqliteStore::open(path)
        .await
        .with_context(|| format!("cannot open the projection store {}", path.display()))?;
    Ok(Arc::new(store))
}

/// What a process does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// API and projector in one process (`aftermath serve`).
    All,
    /// HTTP API only (`aftermath api`); projectors run elsewhere.
    Api,
    /// Projector only (`aftermath project`), with health probes over HTTP.
    Projector,
}

impl Role {
    fn projects(self) -> bool {
        matches!(self, Role::All | Role::Projector)
    }
}

/// Where the parts live and where the process listens.
#[derive(Clone, Debug)]
pub struct Config {
    pub backends: Backends,
    pub listen: SocketAddr,
    pub role: Role,
    pub batch_size: usize,
    /// How long a responder request waits for its fact to be folded before answering 202.
    pub projection_wait: Duration,
    /// Changes this long before an incident opened, to its service, are suspect changes.
    pub change_window: Duration,
    /// How long after its resolution an incident may be reopened.
    pub reopen_window: Duration,
    /// The acknowledgement SLA per severity (the SOP: 5 minutes).
    pub ack_policy: aftermath_core::AckPolicy,
    /// Outbound webhooks: when set, this process runs the notifier (run one per log).
    pub notify: Option<notifier::NotifyConfig>,
    /// Fact ids the embedded log remembers as durable, so repeated alerts are answered
    /// without a write (about 26 bytes each; 0 turns it off).
    pub recent_fact_ids: usize,
    /// Serve `GET /metrics` without a token (otherwise it needs the `read` scope).
    pub metrics_public: bool,
    /// API requests in flight at most; beyond it requests are shed with 503.
    pub max_in_flight: usize,
    /// Requests per second each API token may make (bursts of twice that); 0 is no limit.
    pub requests_per_token_per_second: u32,
}

impl Config {
    /// The embedded default in `data_dir`, API and projector in one process.
    pub fn new(data_dir: impl Into<PathBuf>, listen: SocketAddr) -> Self {
        Self {
            backends: Backends::embedded(data_dir),
            listen,
            role: Role::All,
            batch_size: DEFAULT_BATCH_SIZE,
            projection_wait: Duration::from_secs(2),
            change_window: DEFAULT_CHANGE_WINDOW,
            reopen_window: DEFAULT_REOPEN_WINDOW,
            ack_policy: aftermath_core::AckPolicy::default(),
            notify: None,
            recent_fact_ids: aftermath_log::DEFAULT_RECENT_FACT_IDS,
            metrics_public: false,
            max_in_flight: aftermath_http::DEFAULT_MAX_IN_FLIGHT,
            requests_per_token_per_second: aftermath_http::DEFAULT_REQUESTS_PER_TOKEN_PER_SECOND,
        }
    }
}

/// The log and the projection store.
pub struct Parts {
    pub log: SharedLog,
    pub store: SharedStore,
}

/// A built, bound, not yet running process.
pub struct Application {
    listener: TcpListener,
    parts: Parts,
    config: Config,
}

impl Application {
    /// Opens the parts and binds the listen address (port 0 picks a free port).
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let store = config.backends.open_store().await?;
        let embedded_log = EmbeddedLogOptions {
            recent_fact_ids: config.recent_fact_ids,
            ..EmbeddedLogOptions::default()
        };
        let log = config
            .backends
            .open_log_with(config.role.projects(), embedded_log)
            .await?;
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        Ok(Self {
            listener,
            parts: Parts { log, store },
            config,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener
            .local_addr()
            .map(|addr| addr.port())
            .unwrap_or(0)
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn store(&self) -> SharedStore {
        self.parts.store.clone()
    }

    /// Runs until `shutdown` resolves, then drains in-flight requests and stops the
    /// projector between batches.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let stopped = |mut receiver: tokio::sync::watch::Receiver<bool>| async move {
            let _ = receiver.wait_for(|stopped| *stopped).await;
        };
        // One registry per process; every writer appends through the metered log.
        let telemetry = Telemetry::new().with_public_scrape(self.config.metrics_public);
        let log = MeteredLog::wrap(self.parts.log.clone(), telemetry.clone());
        let mut state = AppStateFields {
            log: log.clone(),
            store: self.parts.store.clone(),
            projected: None,
            projection_wait: self.config.projection_wait,
            change_window: self.config.change_window,
            rejections: aftermath_http::Rejections::default(),
            reopen_window: self.config.reopen_window,
            ack_policy: self.config.ack_policy.clone(),
            telemetry: telemetry.clone(),
            admission: aftermath_http::Admission::new(self.config.max_in_flight),
            rate_limit: Arc::new(aftermath_http::TokenRateLimit::new(
                self.config.requests_per_token_per_second,
            )),
        };
        let projector_task = if self.config.role.projects() {
            let projector = Projector::new(
                log.clone(),
                self.parts.store.clone(),
                self.config.batch_size,
            )
            .with_observer(Arc::new(telemetry.clone()));
            state.projected = Some(projector.positions());
            let run = projector.run_until_stopped(stopped(stop_rx.clone()));
            Some(if self.config.backends.postgres_projections() {
                // sqlx's PostgreSQL connections belong to the runtime that opened them,
                // which the request handlers share.
                let task = tokio::spawn(run);
                Box::pin(async move { task.await.context("projector task panicked") })
            } else {
                run_on_projector_thread(run)?
            })
        } else {
            None
        };
        let notifier_task = match self.config.notify.clone() {
            Some(notify) => {
                let mut notifier = notifier::Notifier::new(
                    log.clone(),
                    self.parts.store.clone(),
                    notify,
                    self.config.ack_policy.clone(),
                    format!("http://{}", self.listener.local_addr()?),
                    stop_rx.clone(),
                )?
                .with_telemetry(telemetry.clone());
                notifier
                    .start()
                    .await
                    .context("cannot start the notifier")?;
                Some(tokio::spawn(notifier.run()))
            }
            None => None,
        };
        let router = match self.config.role {
            Role::All | Role::Api => aftermath_http::router(state.into()),
            Role::Projector => aftermath_http::health_router(state.into()),
        };
        tracing::info!(
            addr = %self.listener.local_addr()?,
            role = ?self.config.role,
            "aftermath running"
        );
        let server = aftermath_http::serve(self.listener, router, stopped(stop_rx));
        let trigger = tokio::spawn(async move {
            shutdown.await;
            tracing::info!("shutting down");
            let _ = stop_tx.send(true);
        });
        let served = server.await;
        trigger.abort();
        if let Some(task) = projector_task {
            task.await?;
        }
        if let Some(task) = notifier_task {
            task.await.context("notifier task panicked")?;
        }
        served.context("HTTP server failed")
    }
}

/// How much lower than the request handlers the projector thread runs (a nice value).
const PROJECTOR_NICENESS: i32 = 10;

/// Runs the live projector on a thread of its own with a single-threaded runtime, at a
/// lower CPU priority than the request handlers; resolves when it stopped.
///
/// On the shared runtime, every SQLite call of a batch (`block_in_place`) handed the
/// worker's other tasks to another thread and back, which cost more CPU than the
/// projector's own work; and while ingest keeps both cores busy, the requests waiting for
/// their 2xx should go first: a lagging projector folds larger, cheaper batches and
/// catches up when the load eases (its lag is a metric with an alert rule).
fn run_on_projector_thread(
    run: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<std::pin::Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the projector's runtime")?;
    let (stopped_tx, stopped_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::Builder::new()
        .name("aftermath-proj".into())
        .spawn(move || {
            lower_this_threads_priority(PROJECTOR_NICENESS);
            runtime.block_on(run);
            // Only once its blocking reads are done too has the projector let go of the
            // log and the store (a caller may unmount their file system next).
            drop(runtime);
            let _ = stopped_tx.send(());
        })
        .context("cannot start the projector thread")?;
    Ok(Box::pin(async move {
        stopped_rx
            .await
            .map_err(|_| anyhow::anyhow!("the projector thread panicked"))
    }))
}

/// Raises the calling thread's nice value by `niceness` (threads it starts inherit it).
/// Linux only: elsewhere `setpriority` would apply to the whole process.
fn lower_this_threads_priority(niceness: i32) {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{getpriority_process, setpriority_process};
        let thread = Some(rustix::thread::gettid());
        let lowered = getpriority_process(thread)
            .and_then(|current| setpriority_process(thread, current.saturating_add(niceness)));
        if let Err(error) = lowered {
            tracing::warn!(%error, "cannot lower the projector thread's priority");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = niceness;
}

/// Folds the whole log into fresh projections and swaps them in, reporting progress.
pub async fn rebuild(
    backends: &Backends,
    batch_size: usize,
    progress: impl FnMut(u64, u64),
) -> anyhow::Result<u64> {
    if backends.kafka.is_none() {
        backends.require_existing("log.sqlite")?;
    }
    let log = backends.open_log(false).await?;
    let store = backends.open_store().await?;
    let target = store
        .begin_rebuild()
        .await
        .context("cannot prepare empty projection tables")?;
    let projector = Projector::new(log, target, batch_size);
    let folded = projector
        .catch_up(progress)
        .await
        .context("re-folding the log failed")?;
    store
        .finish_rebuild()
        .await
        .context("cannot swap in the rebuilt projections")?;
    Ok(folded)
}

/// One incident whose error class the current rules would change.
#[derive(Debug, PartialEq, Eq)]
pub struct ClassChange {
    pub incident_id: uuid::Uuid,
    pub title: String,
    pub old: Option<aftermath_core::ErrorClass>,
    pub new: Option<aftermath_core::ErrorClass>,
}

/// What `classify --dry-run` found.
#[derive(Debug, Default)]
pub struct ClassifyReport {
    pub incidents: usize,
    pub changes: Vec<ClassChange>,
    /// Incidents per class (None: unclassified), as stored and as the rules would have it.
    pub old_counts: std::collections::BTreeMap<Option<aftermath_core::ErrorClass>, usize>,
    pub new_counts: std::collections::BTreeMap<Option<aftermath_core::ErrorClass>, usize>,
}

/// Replays the whole log through this build's rules into a scratch projection and
/// compares every incident's class with the stored one, writing nothing.
pub async fn classify_dry_run(
    backends: &Backends,
    batch_size: usize,
    progress: impl FnMut(u64, u64),
) -> anyhow::Result<ClassifyReport> {
    if backends.kafka.is_none() {
        backends.require_existing("log.sqlite")?;
    }
    if backends.database_url.is_none() {
        backends.require_existing("projections.sqlite")?;
    }
    let log = backends.open_log(false).await?;
    let store = backends.open_store().await?;
    let scratch_dir = tempfile::tempdir().context("cannot create a scratch directory")?;
    let scratch = open_sqlite(&scratch_dir.path().join("projections.sqlite")).await?;
    Projector::new(log, scratch.clone(), batch_size)
        .with_takeover_after(None)
        .catch_up(progress)
        .await
        .context("replaying the log failed")?;
    let stored = store.export().await.context("cannot read projections")?;
    let replayed = scratch.export().await.context("cannot read the replay")?;
    let mut report = ClassifyReport::default();
    for (id, incident) in &replayed.incidents {
        let new = incident.error_class();
        let old = stored.incidents.get(id).and_then(|i| i.error_class());
        report.incidents += 1;
        *report.old_counts.entry(old).or_default() += 1;
        *report.new_counts.entry(new).or_default() += 1;
        if old != new {
            report.changes.push(ClassChange {
                incident_id: *id,
                title: incident.title.clone(),
                old,
                new,
            });
        }
    }
    Ok(report)
}

/// The canonical JSON dump of every projection.
pub async fn export(backends: &Backends) -> anyhow::Result<String> {
    if backends.database_url.is_none() {
        backends.require_existing("projections.sqlite")?;
    }
    let store = backends.open_store().await?;
    let export = store.export().await.context("cannot read projections")?;
    Ok(export.to_canonical_json())
}

/// Applies projection-store migrations (opening the store does).
pub async fn migrate(backends: &Backends) -> anyhow::Result<()> {
    backends.open_store().await.map(|_| ())
}

/// The current wall-clock time, for commands that stamp records.
pub fn now() -> Timestamp {
    Timestamp::from_datetime(time::OffsetDateTime::now_utc())
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use rustix::process::getpriority_process;
    use rustix::thread::gettid;

    use super::*;

    fn this_threads_niceness() -> i32 {
        getpriority_process(Some(gettid())).unwrap()
    }

    #[tokio::test]
    async fn the_projector_runs_on_its_own_thread_at_a_lower_priority_and_is_awaited_to_the_end() {
        let callers = this_threads_niceness();
        let (seen_tx, seen_rx) = std::sync::mpsc::channel();
        let stopped = run_on_projector_thread(async move {
            let name = std::thread::current().name().map(str::to_owned);
            seen_tx.send((name, this_threads_niceness())).unwrap();
        })
        .unwrap();
        stopped.await.unwrap();
        let (name, niceness) = seen_rx.try_recv().expect("the future ran to its end");
        assert_eq!(name.as_deref(), Some("aftermath-proj"));
        assert_eq!(niceness, (callers + PROJECTOR_NICENESS).min(19));
        assert_eq!(
            this_threads_niceness(),
            callers,
            "only the projector's thread"
        );
    }

    #[tokio::test]
    async fn a_projector_thread_that_panics_is_reported() {
        let stopped = run_on_projector_thread(async { panic!("injected") }).unwrap();
        let error = stopped.await.unwrap_err();
        assert!(error.to_string().contains("panicked"), "{error}");
    }
}
