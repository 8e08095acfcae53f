//! The real `aftermath` binary: kill -9 under load, restart, rebuild, export; token and
//! demo commands.

use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use crate::infra::free_port;
use crate::support::webhook;

const BINARY: &str = env!("CARGO_BIN_EXE_aftermath");

fn aftermath(args: &[&str]) -> Output {
    let output = Command::new(BINARY)
        .args(args)
        .env("AFTERMATH_LOG", "warn")
        .output()
        .expect("aftermath runs");
    output
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "aftermath failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// (log end, lag), summed over every partition.
async fn lag(http: &reqwest::Client, base: &str, token: &str) -> (u64, u64) {
    let status: serde_json::Value = http
        .get(format!("{base}/v1/status"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let partitions = status["partitions"].as_object().unwrap().values();
    partitions.fold((0, 0), |(end, lag), partition| {
        (
            end + partition["log_end"].as_u64().unwrap(),
            lag + partition["lag"].as_u64().unwrap(),
        )
    })
}

/// Waits (bounded) until the projections hold every fact on the log.
async fn wait_for_zero_lag(http: &reqwest::Client, base: &str, token: &str) {
    // A dead group member keeps its partitions until the group expires it, or until a
    // live projector sees them stand still and takes them over (20 s).
    for _ in 0..1500 {
        if lag(http, base, token).await.1 == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    panic!("the projectors did not catch up with the log");
}

/// Notification `n` of the load: 40 groups, each firing then resolving.
fn notification(n: usize) -> String {
    let group = n % 40;
    webhook(
        &format!("Load{group}"),
        &format!("fp{group}"),
        n >= 40 && n % 3 == 0,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_loses_no_accepted_fact_and_a_rebuild_matches_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let token = stdout(&aftermath(&[
        "token",
        "create",
        "--data-dir",
        data,
        "--name",
        "loadgen",
        "--scopes",
        "ingest,read",
    ]))
    .trim()
    .to_owned();
    let http = reqwest::Client::new();
    let data_env = [("AFTERMATH_DATA_DIR", data.to_owned())];
    let server = Role::start("serve", &data_env, &http).await;

    // Send notifications concurrently and kill the server while they are in flight.
    let mut accepted_facts = 0u64;
    let mut senders = tokio::task::JoinSet::new();
    for n in 0..120 {
        let (http, base, token) = (http.clone(), server.base.clone(), token.clone());
        senders.spawn(async move {
            let reply = http
                .post(format!("{base}/v1/ingest/alertmanager"))
                .bearer_auth(token)
                .body(notification(n))
                .send()
                .await
                .ok()?;
            if reply.status().as_u16() != 202 {
                return None;
            }
            let body: serde_json::Value = reply.json().await.ok()?;
            body["facts_appended"].as_u64()
        });
        if n == 80 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    // Wait for a share of the answers, then kill -9 with the rest in flight.
    let mut answered = 0;
    while let Some(result) = senders.join_next().await {
        accepted_facts += result.unwrap().unwrap_or(0);
        answered += 1;
        if answered == 60 {
            break;
        }
    }
    server.kill();
    while let Some(result) = senders.join_next().await {
        accepted_facts += result.unwrap().unwrap_or(0);
    }
    assert!(accepted_facts > 0);

    // Restart: every fact answered 2xx is on the log, and the projector catches up.
    let server = Role::start("serve", &data_env, &http).await;
    let mut caught_up = false;
    for _ in 0..500 {
        let (log_end, lag) = lag(&http, &server.base, &token).await;
        assert!(
            log_end >= accepted_facts,
            "log holds {log_end} facts, {accepted_facts} were acknowledged"
        );
        if lag == 0 {
            caught_up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(caught_up, "projector did not catch up after restart");
    server.kill();

    let original = stdout(&aftermath(&["export", "--data-dir", data]));
    let exported: serde_json::Value = serde_json::from_str(&original).unwrap();
    assert!(!exported["incidents"].as_object().unwrap().is_empty());
    let rebuild = aftermath(&["rebuild", "--data-dir", data, "--batch-size", "7"]);
    assert!(
        rebuild.status.success(),
        "{}",
        String::from_utf8_lossy(&rebuild.stderr)
    );
    assert!(String::from_utf8_lossy(&rebuild.stderr).contains("rebuilt projections from"));
    let rebuilt = stdout(&aftermath(&["export", "--data-dir", data]));
    assert_eq!(
        original, rebuilt,
        "rebuild differs from the projections built live"
    );
}

#[test]
fn export_and_rebuild_refuse_a_data_dir_without_a_log() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothing-here");
    for (command, message) in [
        ("export", "no projections in"),
        ("rebuild", "no event log in"),
    ] {
        let output = aftermath(&[command, "--data-dir", missing.to_str().unwrap()]);
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(message), "{stderr}");
    }
    assert!(!missing.exists(), "nothing was created");
}

#[test]
fn token_commands_create_list_and_revoke() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let bad = aftermath(&[
        "token",
        "create",
        "--data-dir",
        data,
        "--name",
        "x",
        "--scopes",
        "ingest,write",
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown scope \"write\""));

    let secret = stdout(&aftermath(&[
        "token",
        "create",
        "--data-dir",
        data,
        "--name",
        "grafana",
        "--scopes",
        "ingest",
    ]));
    let secret = secret.trim();
    assert!(secret.starts_with("aftm_"), "{secret}");
    let listing = stdout(&aftermath(&["token", "list", "--data-dir", data]));
    assert!(listing.contains("grafana\tingest"), "{listing}");
    assert!(!listing.contains(secret));

    let duplicate = aftermath(&[
        "token",
        "create",
        "--data-dir",
        data,
        "--name",
        "grafana",
        "--scopes",
        "read",
    ]);
    assert!(!duplicate.status.success());
    assert!(stdout(&aftermath(&[
        "token",
        "revoke",
        "--data-dir",
        data,
        "--name",
        "grafana"
    ]))
    .is_empty());
    assert!(
        !aftermath(&["token", "revoke", "--data-dir", data, "--name", "grafana"])
            .status
            .success()
    );
    let listing = stdout(&aftermath(&["token", "list", "--data-dir", data]));
    assert!(listing.contains("revoked"), "{listing}");
}

#[test]
fn demo_runs_a_whole_incident_and_prints_its_postmortem() {
    let output = stdout(&aftermath(&["demo"]));
    assert!(output.contains("Timeline"), "{output}");
    assert!(output.contains("auto_resolved"), "{output}");
    assert!(output.contains("Acknowledged by alice"), "{output}");
    assert!(
        output.contains("why_added") && output.contains("root_cause_stated"),
        "{output}"
    );
    assert!(output.contains("action_item_added"), "{output}");
    assert!(
        output.contains("# Post-Mortem: High HTTP 5xx error rate on checkout"),
        "{output}"
    );
    // A manager's lessons and the publication: the printed post-mortem is revision 1.
    assert!(output.contains("postmortem_published"), "{output}");
    assert!(
        output.contains("*Revision 1, published by erin"),
        "{output}"
    );
    assert!(output.contains("status closed"), "{output}");
    assert!(
        output.contains("The deploy happened in business hours"),
        "{output}"
    );
}

/// Runs `aftermath` with the Kafka + PostgreSQL environment and returns its output.
fn aftermath_on(env: &[(&str, String)], args: &[&str]) -> Output {
    let mut command = Command::new(BINARY);
    command.args(args).env("AFTERMATH_LOG", "warn");
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("aftermath runs")
}

/// A process of one role, killed (-9) on drop.
struct Role {
    child: Child,
    base: String,
}

impl Role {
    /// kill -9 (through Drop): no graceful shutdown, no flush.
    fn kill(self) {}

    async fn start(role: &str, env: &[(&str, String)], http: &reqwest::Client) -> Self {
        let port = free_port();
        let mut command = Command::new(BINARY);
        command
            .args([role, "--listen", &format!("127.0.0.1:{port}")])
            .env("AFTERMATH_LOG", "warn")
            .stdout(Stdio::null());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("aftermath starts");
        let base = format!("http://127.0.0.1:{port}");
        for _ in 0..500 {
            if let Ok(reply) = http.get(format!("{base}/readyz")).send().await {
                if reply.status().is_success() {
                    return Self { child, base };
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("aftermath {role} did not become ready on {base}");
    }
}

impl Drop for Role {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_projectors_share_the_partitions_and_a_killed_one_loses_nothing() {
    let broker = crate::infra::Broker::start().await;
    let database = crate::infra::TestDatabase::create().await;
    let topic = crate::infra::Broker::fresh_topic();
    let env = vec![
        ("AFTERMATH_KAFKA_BROKERS", broker.bootstrap.clone()),
        ("AFTERMATH_KAFKA_TOPIC", topic.clone()),
        ("AFTERMATH_KAFKA_PARTITIONS", "4".to_owned()),
        ("AFTERMATH_KAFKA_GROUP", format!("{topic}-projectors")),
        ("AFTERMATH_DATABASE_URL", database.url.clone()),
    ];
    let migrated = aftermath_on(&env, &["migrate"]);
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    let token = stdout(&aftermath_on(
        &env,
        &[
            "token",
            "create",
            "--name",
            "loadgen",
            "--scopes",
            "ingest,read",
        ],
    ))
    .trim()
    .to_owned();
    let responder = stdout(&aftermath_on(
        &env,
        &[
            "token",
            "create",
            "--name",
            "alice",
            "--scopes",
            "respond,read",
        ],
    ))
    .trim()
    .to_owned();
    let http = reqwest::Client::new();
    let mut api_env = env.clone();
    api_env.push(("AFTERMATH_KAFKA_CREATE_TOPIC", "true".to_owned()));
    let api = Role::start("api", &api_env, &http).await;
    let first = Role::start("project", &env, &http).await;
    let second = Role::start("project", &env, &http).await;
    // Wait for the group to settle: both members own a share, together all four.
    let mut settled = false;
    for _ in 0..1000 {
        let mut all = Vec::new();
        let mut shares = 0;
        for projector in [&first, &second] {
            let ready: serde_json::Value = http
                .get(format!("{}/readyz", projector.base))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let owned: Vec<u64> =
                serde_json::from_value(ready["owned_partitions"].clone()).unwrap();
            shares += usize::from(!owned.is_empty());
            all.extend(owned);
        }
        all.sort();
        if shares == 2 && all == [0, 1, 2, 3] {
            settled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    assert!(
        settled,
        "the two projectors never shared the four partitions"
    );

    let send = |range: std::ops::Range<usize>| {
        let (http, base, token) = (http.clone(), api.base.clone(), token.clone());
        async move {
            for n in range {
                let reply = http
                    .post(format!("{base}/v1/ingest/alertmanager"))
                    .bearer_auth(&token)
                    .body(notification(n))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(
                    reply.status().as_u16(),
                    202,
                    "{}",
                    reply.text().await.unwrap()
                );
            }
        }
    };
    send(0..60).await;
    wait_for_zero_lag(&http, &api.base, &token).await;

    // Read-your-writes through an API-only process: it watches the checkpoints the
    // projectors commit, and answers with the acknowledged incident.
    let incidents: serde_json::Value = http
        .get(format!("{}/v1/incidents?limit=1", api.base))
        .bearer_auth(&responder)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = incidents["incidents"][0]["id"].as_str().unwrap().to_owned();
    let ack = http
        .post(format!("{}/v1/incidents/{id}/ack", api.base))
        .bearer_auth(&responder)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(ack.status().as_u16(), 200);
    let ack: serde_json::Value = ack.json().await.unwrap();
    assert_eq!(ack["projected"], true, "{ack}");
    assert_eq!(ack["incident"]["status"], "acknowledged", "{ack}");

    // One projector dies mid-stream; the group hands its partitions to the other.
    drop(first);
    send(60..120).await;

    wait_for_zero_lag(&http, &api.base, &token).await;
    drop(second);

    let live = stdout(&aftermath_on(&env, &["export"]));
    let exported: serde_json::Value = serde_json::from_str(&live).unwrap();
    assert_eq!(
        exported["incidents"].as_object().unwrap().len(),
        40,
        "one incident per group"
    );
    let rebuild = aftermath_on(&env, &["rebuild"]);
    assert!(
        rebuild.status.success(),
        "{}",
        String::from_utf8_lossy(&rebuild.stderr)
    );
    let rebuilt = stdout(&aftermath_on(&env, &["export"]));
    assert_eq!(
        live, rebuilt,
        "projections built by two projectors differ from a rebuild"
    );
    drop(api);
}

#[test]
fn a_bad_ack_sla_is_refused_at_start_naming_the_problem() {
    let output = aftermath(&[
        "serve",
        "--ack-sla-minutes",
        "urgent=5",
        "--listen",
        "127.0.0.1:0",
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("urgent") && stderr.contains("--ack-sla-minutes"),
        "{stderr}"
    );
}
