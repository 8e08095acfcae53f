//! The processes under test: `aftermath serve` (embedded), or `aftermath api` plus two
//! `aftermath project` (Kafka + PostgreSQL), each a child process on its own fixed port,
//! killed with SIGKILL and restarted on the same data.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::infra::free_port;
use crate::infra::{Broker, TestDatabase};
use crate::support::Backend;

const BINARY: &str = env!("CARGO_BIN_EXE_aftermath");
/// Kafka partitions of the test topic: more than one, so projectors share them.
const PARTITIONS: u32 = 3;

/// One role of the deployment. Its port stays the same across restarts, so clients keep
/// one address and simply fail while it is down.
pub struct Member {
    pub role: &'static str,
    pub name: String,
    pub base: String,
    port: u16,
    extra_env: Vec<(String, String)>,
    /// Where its stderr goes (appended over every restart), shown when it fails to start.
    stderr_path: PathBuf,
    child: Option<Child>,
}

impl Member {
    fn spawn(&mut self, env: &[(String, String)]) {
        let stderr: File = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.stderr_path)
            .unwrap();
        let mut command = Command::new(BINARY);
        command
            .args([self.role, "--listen", &format!("127.0.0.1:{}", self.port)])
            .env("AFTERMATH_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::from(stderr));
        for (name, value) in env.iter().chain(&self.extra_env) {
            command.env(name, value);
        }
        self.child = Some(command.spawn().expect("aftermath starts"));
    }

    /// SIGKILL (what `Child::kill` sends on Unix): no graceful shutdown, no flush.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM and wait: a graceful stop (a projector leaves its consumer group).
    pub fn terminate(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }

    fn stderr_tail(&self) -> String {
        let bytes = std::fs::read(&self.stderr_path).unwrap_or_default();
        let start = bytes.len().saturating_sub(4000);
        String::from_utf8_lossy(&bytes[start..]).into_owned()
    }

    /// Waits (bounded) until `/readyz` answers 200; panics with the process's stderr if it
    /// exits or never gets ready.
    async fn wait_ready(&mut self, http: &reqwest::Client) {
        let deadline = Instant::now() + Duration::from_secs(90);
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!(
                        "aftermath {} exited at start ({status}):\n{}",
                        self.name,
                        self.stderr_tail()
                    );
                }
            }
            let probe = http
                .get(format!("{}/readyz", self.base))
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            if probe.is_ok_and(|reply| reply.status().is_success()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!(
            "aftermath {} did not get ready on {}:\n{}",
            self.name,
            self.base,
            self.stderr_tail()
        );
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The tokens the traffic uses.
pub struct Tokens {
    pub ingest: String,
    pub alice: String,
    pub bob: String,
    pub reader: String,
}

/// Every process of one deployment, with the parts (data dir, broker, database) it runs on.
pub struct Cluster {
    /// `serve`, or `api` then the two `project` processes.
    pub members: Vec<Member>,
    pub tokens: Tokens,
    pub http: reqwest::Client,
    env: Vec<(String, String)>,
    data_dir: tempfile::TempDir,
    kafka: Option<(String, String)>,
    // Dropped after the members (fields drop in order).
    _parts: Option<(Broker, TestDatabase)>,
}

impl Cluster {
    /// Prepares the parts, creates the tokens and starts every member.
    pub async fn start(backend: Backend) -> Self {
        let data_dir = tempfile::tempdir().unwrap();
        let http = reqwest::Client::new();
        let (env, parts, kafka) = match backend {
            Backend::Embedded => {
                let env = vec![(
                    "AFTERMATH_DATA_DIR".to_owned(),
                    data_dir.path().display().to_string(),
                )];
                (env, None, None)
            }
            Backend::KafkaPostgres => {
                let broker = Broker::start().await;
                let database = TestDatabase::create().await;
                let topic = Broker::fresh_topic();
                let env = vec![
                    (
                        "AFTERMATH_KAFKA_BROKERS".to_owned(),
                        broker.bootstrap.clone(),
                    ),
                    ("AFTERMATH_KAFKA_TOPIC".to_owned(), topic.clone()),
                    (
                        "AFTERMATH_KAFKA_PARTITIONS".to_owned(),
                        PARTITIONS.to_string(),
                    ),
                    (
                        "AFTERMATH_KAFKA_GROUP".to_owned(),
                        format!("{topic}-projectors"),
                    ),
                    ("AFTERMATH_DATABASE_URL".to_owned(), database.url.clone()),
                ];
                let kafka = Some((broker.bootstrap.clone(), topic));
                (env, Some((broker, database)), kafka)
            }
        };
        let mut cluster = Self {
            members: Vec::new(),
            tokens: Tokens {
                ingest: String::new(),
                alice: String::new(),
                bob: String::new(),
                reader: String::new(),
            },
            http,
            env,
            data_dir,
            kafka,
            _parts: parts,
        };
        if backend == Backend::KafkaPostgres {
            cluster.command_ok(&["migrate"]);
        }
        let token = |name: &str, scopes: &str| {
            let output =
                cluster.command_ok(&["token", "create", "--name", name, "--scopes", scopes]);
            String::from_utf8(output.stdout).unwrap().trim().to_owned()
        };
        let tokens = Tokens {
            ingest: token("alertmanager", "ingest"),
            alice: token("alice", "respond,read"),
            bob: token("bob", "respond,read"),
            reader: token("reader", "read"),
        };
        cluster.tokens = tokens;
        let logs = cluster.data_dir.path().to_owned();
        let member = |role: &'static str, name: &str, extra_env: Vec<(String, String)>| {
            let port = free_port();
            Member {
                role,
                name: name.to_owned(),
                base: format!("http://127.0.0.1:{port}"),
                port,
                extra_env,
                stderr_path: logs.join(format!("{name}.stderr")),
                child: None,
            }
        };
        cluster.members = match backend {
            Backend::Embedded => vec![member("serve", "serve", Vec::new())],
            Backend::KafkaPostgres => vec![
                member(
                    "api",
                    "api",
                    vec![("AFTERMATH_KAFKA_CREATE_TOPIC".to_owned(), "true".to_owned())],
                ),
                member("project", "project-1", Vec::new()),
                member("project", "project-2", Vec::new()),
            ],
        };
        for index in 0..cluster.members.len() {
            cluster.start_member(index).await;
        }
        cluster
    }

    /// Where the API answers (the serve or api process).
    pub fn api_base(&self) -> String {
        self.members[0].base.clone()
    }

    /// Starts member `index` and waits until it is ready; returns how long that took.
    pub async fn start_member(&mut self, index: usize) -> Duration {
        let started = Instant::now();
        let env = self.env.clone();
        let member = &mut self.members[index];
        member.spawn(&env);
        member.wait_ready(&self.http).await;
        started.elapsed()
    }

    pub fn kill_member(&mut self, index: usize) {
        self.members[index].kill();
    }

    pub fn terminate_member(&mut self, index: usize) {
        self.members[index].terminate();
    }

    pub fn kill_all(&mut self) {
        for member in &mut self.members {
            member.kill();
        }
    }

    /// Runs a one-shot `aftermath` command (export, rebuild, token, migrate) on this
    /// deployment's data and asserts it succeeded.
    pub fn command_ok(&self, args: &[&str]) -> Output {
        let mut command = Command::new(BINARY);
        command.args(args).env("AFTERMATH_LOG", "warn");
        for (name, value) in &self.env {
            command.env(name, value);
        }
        let output = command.output().expect("aftermath runs");
        assert!(
            output.status.success(),
            "aftermath {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// The embedded log file, or the Kafka (bootstrap, topic).
    pub fn log_location(&self) -> LogLocation {
        match &self.kafka {
            None => LogLocation::Embedded(self.data_dir.path().join("log.sqlite")),
            Some((bootstrap, topic)) => LogLocation::Kafka {
                bootstrap: bootstrap.clone(),
                topic: topic.clone(),
            },
        }
    }

    /// (log end, lag) summed over the partitions, from the API's `/v1/status`; `None` while
    /// it does not answer.
    pub async fn log_end_and_lag(&self) -> Option<(u64, u64)> {
        let status: serde_json::Value = self
            .http
            .get(format!("{}/v1/status", self.api_base()))
            .bearer_auth(&self.tokens.reader)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let partitions = status["partitions"].as_object()?;
        Some(partitions.values().fold((0, 0), |(end, lag), partition| {
            (
                end + partition["log_end"].as_u64().unwrap_or(0),
                lag + partition["lag"].as_u64().unwrap_or(u64::MAX / 8),
            )
        }))
    }

    /// Waits (bounded) until the projections hold every fact on the log; returns how long
    /// it took. A killed group member may keep its partitions until a live projector sees
    /// them stand still (20 s) and takes them over, hence the generous bound.
    pub async fn wait_caught_up(&self) -> Duration {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(300) {
            if let Some((end, 0)) = self.log_end_and_lag().await {
                if end > 0 {
                    return started.elapsed();
                }
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "the projectors did not catch up with the log within 300 s: {:?}",
            self.log_end_and_lag().await
        );
    }
}

/// Where a deployment's log lives, for reading it back in the test process.
pub enum LogLocation {
    Embedded(PathBuf),
    Kafka { bootstrap: String, topic: String },
}

impl LogLocation {
    /// Opens the log in this process (every member of the deployment is stopped, or only
    /// appends happen elsewhere).
    pub async fn open(&self) -> aftermath_log::SharedLog {
        match self {
            LogLocation::Embedded(path) => open_embedded(path).await,
            LogLocation::Kafka { bootstrap, topic } => {
                let config = aftermath_log::KafkaConfig::new(bootstrap, topic);
                std::sync::Arc::new(aftermath_log::KafkaLog::open(config).await.unwrap())
            }
        }
    }
}

async fn open_embedded(path: &Path) -> aftermath_log::SharedLog {
    std::sync::Arc::new(aftermath_log::EmbeddedLog::open(path).await.unwrap())
}
