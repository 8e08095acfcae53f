//! The Aftermath application: configuration, wiring of log, store, projector and HTTP
//! server, and the commands behind the CLI. `main.rs` only parses arguments.

mod demo;

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use aftermath_core::Timestamp;
use aftermath_http::AppState;
use aftermath_log::{EmbeddedLog, SharedLog};
use aftermath_store::{Projector, SharedStore, SqliteStore};
use anyhow::Context;
use tokio::net::TcpListener;

pub use demo::run_demo;

/// How many facts the projector folds per transaction.
pub const DEFAULT_BATCH_SIZE: usize = 500;

/// Where the embedded parts live and where the API listens.
#[derive(Clone, Debug)]
pub struct Config {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub batch_size: usize,
    /// How long a responder request waits for its fact to be folded before answering 202.
    pub projection_wait: Duration,
}

impl Config {
    pub fn new(data_dir: impl Into<PathBuf>, listen: SocketAddr) -> Self {
        Self {
            data_dir: data_dir.into(),
            listen,
            batch_size: DEFAULT_BATCH_SIZE,
            projection_wait: Duration::from_secs(2),
        }
    }
}

/// The log and the projection store of a data directory.
pub struct Parts {
    pub log: SharedLog,
    pub store: SharedStore,
}

impl Parts {
    /// Opens (creating if needed) the embedded log and projection store in `data_dir`.
    pub async fn open(data_dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
        let log_path = data_dir.join("log.sqlite");
        let log = EmbeddedLog::open(&log_path)
            .await
            .with_context(|| format!("cannot open the event log {}", log_path.display()))?;
        let store_path = data_dir.join("projections.sqlite");
        let store = SqliteStore::open(&store_path).await.with_context(|| {
            format!("cannot open the projection store {}", store_path.display())
        })?;
        Ok(Self {
            log: Arc::new(log),
            store: Arc::new(store),
        })
    }
}

/// A built, bound, not yet running server with its projector.
pub struct Application {
    listener: TcpListener,
    parts: Parts,
    config: Config,
}

impl Application {
    /// Opens the data directory and binds the listen address (port 0 picks a free port).
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let parts = Parts::open(&config.data_dir).await?;
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        Ok(Self {
            listener,
            parts,
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

    /// Serves the API and runs the projector until `shutdown` resolves, then drains
    /// in-flight requests and stops the projector between batches.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let projector = Projector::new(
            self.parts.log.clone(),
            self.parts.store.clone(),
            self.config.batch_size,
        );
        let state = AppState {
            log: self.parts.log.clone(),
            store: self.parts.store.clone(),
            projected: Some(projector.positions()),
            projection_wait: self.config.projection_wait,
        };
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut projector_stop = stop_rx.clone();
        let projector_task = tokio::spawn(projector.run_until_stopped(async move {
            let _ = projector_stop.wait_for(|stopped| *stopped).await;
        }));
        tracing::info!(addr = %self.listener.local_addr()?, data_dir = %self.config.data_dir.display(), "aftermath serving");
        let mut server_stop = stop_rx;
        let server = aftermath_http::serve(self.listener, state, async move {
            let _ = server_stop.wait_for(|stopped| *stopped).await;
        });
        let trigger = tokio::spawn(async move {
            shutdown.await;
            tracing::info!("shutting down");
            let _ = stop_tx.send(true);
        });
        let served = server.await;
        trigger.abort();
        projector_task.await.context("projector task panicked")?;
        served.context("HTTP server failed")
    }
}

/// Opens an existing data directory, refusing to create an empty one by mistake.
async fn open_existing(data_dir: &Path) -> anyhow::Result<Parts> {
    if !data_dir.join("log.sqlite").exists() {
        anyhow::bail!(
            "no event log in {}; pass the --data-dir that `aftermath serve` uses",
            data_dir.display()
        );
    }
    Parts::open(data_dir).await
}

/// Drops every projection and folds the whole log again, reporting progress.
pub async fn rebuild(
    data_dir: &Path,
    batch_size: usize,
    progress: impl FnMut(u64, u64),
) -> anyhow::Result<u64> {
    let parts = open_existing(data_dir).await?;
    parts
        .store
        .reset()
        .await
        .context("cannot drop the projections")?;
    let projector = Projector::new(parts.log, parts.store, batch_size);
    projector
        .catch_up(progress)
        .await
        .context("re-folding the log failed")
}

/// The canonical JSON dump of every projection in `data_dir`.
pub async fn export(data_dir: &Path) -> anyhow::Result<String> {
    let parts = open_existing(data_dir).await?;
    let export = parts
        .store
        .export()
        .await
        .context("cannot read projections")?;
    Ok(export.to_canonical_json())
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
