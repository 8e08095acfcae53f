//! A real Prometheus scraping real `aftermath api` and `aftermath project` processes with
//! a bearer token, evaluating `deploy/prometheus/aftermath-rules.yml` (with short `for:`
//! durations): the series carry what was sent, and stopping the projector while alerts
//! keep coming fires `AftermathProjectorLagging` (and `AftermathDown` for the projector).
//!
//! Prometheus is a real part, like tansu and PostgreSQL: this test fails when the
//! `prometheus` binary is missing (Debian's `prometheus` package, which
//! `scripts/validate-deploy` installs).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::infra::free_port;
use crate::support::webhook;

const BINARY: &str = env!("CARGO_BIN_EXE_aftermath");
const RULES: &str = include_str!("../../deploy/prometheus/aftermath-rules.yml");
/// Every rule's `for:` in the test copy: long enough to be a real pending phase across
/// several 1 s evaluations, short enough to fire within seconds.
const TEST_FOR: &str = "3s";

/// A child process, killed (and reaped) on drop; its stderr goes to a file for the
/// failure messages.
struct Process {
    name: String,
    child: Child,
    stderr: PathBuf,
}

impl Process {
    fn spawn(name: &str, command: &mut Command, logs: &Path) -> Self {
        let stderr = logs.join(format!("{name}.stderr"));
        let child = command
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {name}: {error}"));
        Self {
            name: name.to_owned(),
            child,
            stderr,
        }
    }

    /// The end of what it wrote to stderr, for failure messages.
    fn stderr_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// SIGTERM, then a bounded wait for the exit; SIGKILL if it does not come.
    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..250 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("{} ignored SIGTERM; killing it", self.name);
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `aftermath token create` and returns the secret.
fn create_token(data_dir: &Path, name: &str, scopes: &str) -> String {
    let output = Command::new(BINARY)
        .args(["token", "create", "--name", name, "--scopes", scopes])
        .env("AFTERMATH_DATA_DIR", data_dir)
        .env("AFTERMATH_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// Starts `aftermath <role>` on the data directory and waits (bounded) until it is ready.
async fn start_aftermath(
    role: &str,
    data_dir: &Path,
    logs: &Path,
    http: &reqwest::Client,
) -> (Process, String) {
    let address = format!("127.0.0.1:{}", free_port());
    let process = Process::spawn(
        &format!("aftermath-{role}"),
        Command::new(BINARY)
            .args([role, "--listen", &address])
            .env("AFTERMATH_DATA_DIR", data_dir)
            .env("AFTERMATH_LOG", "warn"),
        logs,
    );
    let base = format!("http://{address}");
    for _ in 0..500 {
        if let Ok(reply) = http.get(format!("{base}/readyz")).send().await {
            if reply.status().is_success() {
                return (process, address);
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "aftermath {role} did not become ready on {base}:\n{}",
        process.stderr_tail()
    );
}

/// The rules as shipped, with every `for:` shortened to [`TEST_FOR`]; expressions and
/// thresholds are the real ones.
fn rules_with_short_for() -> String {
    let mut shortened = 0;
    let lines: Vec<String> = RULES
        .lines()
        .map(|line| {
            let indent = line.len() - line.trim_start().len();
            if line.trim_start().starts_with("for:") {
                shortened += 1;
                format!("{}for: {TEST_FOR}", &line[..indent])
            } else {
                line.to_owned()
            }
        })
        .collect();
    assert_eq!(shortened, 4, "every rule has a for:");
    lines.join("\n") + "\n"
}

/// A Prometheus on a free loopback port, with its own storage in `dir`.
struct Prometheus {
    process: Option<Process>,
    base: String,
    http: reqwest::Client,
}

impl Prometheus {
    async fn start(dir: &Path, config: &str) -> Self {
        let binary = which("prometheus").unwrap_or_else(|| {
            panic!(
                "the prometheus binary is not installed: `apt-get install prometheus` \
                 (scripts/validate-deploy installs it)"
            )
        });
        let config_file = dir.join("prometheus.yml");
        std::fs::write(&config_file, config).unwrap();
        let address = format!("127.0.0.1:{}", free_port());
        let process = Process::spawn(
            "prometheus",
            Command::new(binary)
                .arg(format!("--config.file={}", config_file.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.join("tsdb").display()
                ))
                .arg(format!("--web.listen-address={address}"))
                .arg("--log.level=warn"),
            dir,
        );
        let prometheus = Self {
            process: Some(process),
            base: format!("http://{address}"),
            http: reqwest::Client::new(),
        };
        for _ in 0..1000 {
            if let Ok(reply) = prometheus
                .http
                .get(format!("{}/-/ready", prometheus.base))
                .send()
                .await
            {
                if reply.status().is_success() {
                    return prometheus;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!(
            "prometheus did not become ready on {}:\n{}",
            prometheus.base,
            prometheus.stderr_tail()
        );
    }

    fn stderr_tail(&self) -> String {
        self.process
            .as_ref()
            .map(Process::stderr_tail)
            .unwrap_or_default()
    }

    async fn api(&self, path: &str, query: &[(&str, &str)]) -> Value {
        let reply: Value = self
            .http
            .get(format!("{}/api/v1/{path}", self.base))
            .query(query)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(reply["status"], "success", "{path}: {reply}");
        reply["data"].clone()
    }

    /// The value of an instant query that returns one series, if it returns one.
    async fn value(&self, expr: &str) -> Option<f64> {
        let data = self.api("query", &[("query", expr)]).await;
        let results = data["result"].as_array().unwrap();
        match results.as_slice() {
            [one] => one["value"][1].as_str()?.parse().ok(),
            _ => None,
        }
    }

    /// Polls `expr` (bounded) until it equals `expected`.
    async fn wait_for_value(&self, expr: &str, expected: f64) {
        let mut last = None;
        for _ in 0..300 {
            last = self.value(expr).await;
            if last == Some(expected) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("Prometheus never answered {expected} to {expr}; last: {last:?}");
    }

    /// The scrape targets' health, by job.
    async fn target_health(&self) -> Vec<(String, String, String)> {
        let data = self.api("targets", &[]).await;
        data["activeTargets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|target| {
                (
                    target["labels"]["job"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    target["health"].as_str().unwrap_or_default().to_owned(),
                    target["lastError"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    /// Polls `/api/v1/alerts` (bounded) until `alertname` fires with `labels`.
    async fn wait_until_firing(&self, alertname: &str, labels: &[(&str, &str)]) -> Value {
        let mut last = Value::Null;
        for _ in 0..600 {
            last = self.api("alerts", &[]).await;
            let firing = last["alerts"].as_array().unwrap().iter().find(|alert| {
                alert["labels"]["alertname"] == alertname
                    && alert["state"] == "firing"
                    && labels
                        .iter()
                        .all(|(key, value)| alert["labels"][*key] == *value)
            });
            if let Some(alert) = firing {
                return alert.clone();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{alertname} {labels:?} never fired within 60 s; alerts: {last:#}");
    }

    fn stop(mut self) {
        if let Some(process) = self.process.take() {
            process.stop();
        }
    }
}

fn which(binary: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(binary))
            .find(|path| path.is_file())
    })
}

/// One Alertmanager notification of group `group` with `alerts` firing alerts: as many
/// `alert.notified` facts plus one `notification.received`.
fn burst(group: &str, alerts: usize) -> String {
    let alerts: Vec<Value> = (0..alerts)
        .map(|n| {
            serde_json::json!({
                "status": "firing",
                "labels": {"alertname": group, "instance": format!("host-{n}")},
                "annotations": {},
                "startsAt": "2026-11-24T07:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus.example/graph",
                "fingerprint": format!("{group}-{n}")
            })
        })
        .collect();
    serde_json::json!({
        "version": "4",
        "groupKey": format!("{{}}:{{alertname=\"{group}\"}}"),
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "aftermath",
        "groupLabels": {"alertname": group},
        "commonLabels": {"alertname": group, "severity": "critical", "service": "svc"},
        "commonAnnotations": {"summary": format!("{group} is failing")},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": alerts
    })
    .to_string()
}

async fn post_alert(http: &reqwest::Client, api: &str, token: &str, body: String) -> u16 {
    http.post(format!("http://{api}/v1/ingest/alertmanager"))
        .bearer_auth(token)
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_aftermath_and_fires_projector_lagging_when_the_projector_stops() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let ingest = create_token(&data_dir, "alertmanager", "ingest");
    let scrape_token = create_token(&data_dir, "prometheus", "read");
    let http = reqwest::Client::new();
    let (api, api_address) = start_aftermath("api", &data_dir, dir.path(), &http).await;
    let (projector, projector_address) =
        start_aftermath("project", &data_dir, dir.path(), &http).await;

    // Before Prometheus starts: three incidents, a resend, a refused body.
    for n in 0..3 {
        let body = webhook(&format!("Group{n}"), &format!("fp{n}"), false);
        assert_eq!(post_alert(&http, &api_address, &ingest, body).await, 202);
    }
    let resend = webhook("Group0", "fp0", false);
    assert_eq!(post_alert(&http, &api_address, &ingest, resend).await, 202);
    assert_eq!(
        post_alert(&http, &api_address, &ingest, "{".to_owned()).await,
        400
    );

    let prometheus_dir = dir.path().join("prometheus");
    std::fs::create_dir(&prometheus_dir).unwrap();
    let token_file = prometheus_dir.join("aftermath-token");
    std::fs::write(&token_file, &scrape_token).unwrap();
    std::fs::write(
        prometheus_dir.join("aftermath-rules.yml"),
        rules_with_short_for(),
    )
    .unwrap();
    let config = format!(
        "global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - aftermath-rules.yml
scrape_configs:
  - job_name: aftermath-api
    authorization:
      type: Bearer
      credentials_file: {token}
    static_configs:
      - targets: ['{api_address}']
  - job_name: aftermath-projector
    authorization:
      type: Bearer
      credentials_file: {token}
    static_configs:
      - targets: ['{projector_address}']
",
        token = token_file.display()
    );
    let prometheus = Prometheus::start(&prometheus_dir, &config).await;

    // Both targets up: the bearer token is accepted and the text format parses.
    let mut health = Vec::new();
    for _ in 0..300 {
        health = prometheus.target_health().await;
        if health.len() == 2 && health.iter().all(|(_, up, _)| up == "up") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        health.len() == 2
            && health
                .iter()
                .all(|(_, up, error)| up == "up" && error.is_empty()),
        "targets never came up: {health:?}\n{}",
        prometheus.stderr_tail()
    );

    // The series carry what was sent.
    let on_api = |selector: &str| format!("{selector}{{job=\"aftermath-api\"}}");
    let requests = |outcome: &str| {
        format!(
            "aftermath_ingest_requests_total{{job=\"aftermath-api\",source=\"alertmanager\",outcome=\"{outcome}\"}}"
        )
    };
    prometheus.wait_for_value(&requests("accepted"), 3.0).await;
    assert_eq!(prometheus.value(&requests("duplicate")).await, Some(1.0));
    assert_eq!(prometheus.value(&requests("rejected")).await, Some(1.0));
    assert_eq!(
        prometheus
            .value("aftermath_ingest_rejections_total{job=\"aftermath-api\",reason=\"invalid_request\"}")
            .await,
        Some(1.0)
    );
    prometheus
        .wait_for_value(
            "aftermath_incidents_open{job=\"aftermath-api\",severity=\"critical\"}",
            3.0,
        )
        .await;
    prometheus
        .wait_for_value(&format!("sum({})", on_api("aftermath_projector_lag")), 0.0)
        .await;
    prometheus
        .wait_for_value(
            "sum(aftermath_projector_facts_folded_total{job=\"aftermath-projector\"})",
            6.0,
        )
        .await;
    assert_eq!(
        prometheus
            .value("up{job=\"aftermath-projector\"} == 1")
            .await,
        Some(1.0)
    );

    // The projector stops; alerts keep coming: 25 notifications of 50 alerts, 1275 facts,
    // more than the rule's 1000.
    projector.stop();
    for n in 0..25 {
        let status = post_alert(
            &http,
            &api_address,
            &ingest,
            burst(&format!("Burst{n}"), 50),
        )
        .await;
        assert_eq!(status, 202);
    }
    let lagging = prometheus
        .wait_until_firing("AftermathProjectorLagging", &[("partition", "0")])
        .await;
    assert_eq!(lagging["labels"]["severity"], "warning", "{lagging}");
    let value: f64 = lagging["value"].as_str().unwrap().parse().unwrap();
    assert!(value >= 1275.0, "lag {value}: {lagging}");
    assert!(
        lagging["annotations"]["runbook_url"]
            .as_str()
            .unwrap()
            .ends_with("/runbooks/aftermath-projector-lagging.md"),
        "{lagging}"
    );
    prometheus
        .wait_until_firing("AftermathDown", &[("job", "aftermath-projector")])
        .await;

    prometheus.stop();
    api.stop();
}
