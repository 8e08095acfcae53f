//! The real binary's logs: JSON and pretty lines, one request id per request (echoed when
//! the client sent a valid one, replaced when not), no secret in any line at any level,
//! and a bad filter directive stopping startup with a message that says why.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{json, Value};

use crate::infra::free_port;
use crate::support::{hmac_sha256_hex, webhook};

const BINARY: &str = env!("CARGO_BIN_EXE_aftermath");
const GITHUB_PING: &str = include_str!("../fixtures/github/ping.json");
const PAGERDUTY_TRIGGER: &str = include_str!("../fixtures/pagerduty/trigger.json");

/// A command for the binary with no log settings inherited from whoever runs the tests.
fn aftermath() -> Command {
    let mut command = Command::new(BINARY);
    for variable in [
        "AFTERMATH_LOG",
        "RUST_LOG",
        "AFTERMATH_LOG_FORMAT",
        "NO_COLOR",
    ] {
        command.env_remove(variable);
    }
    command
}

/// Creates a token in `data` and returns its secret.
fn create_token(data: &Path, name: &str, scopes: &str, signing_secret: Option<&str>) -> String {
    let mut command = aftermath();
    command.args(["token", "create", "--name", name, "--scopes", scopes]);
    command.arg("--data-dir").arg(data);
    if let Some(secret) = signing_secret {
        command.args(["--signing-secret", secret]);
    }
    let output = command.output().expect("aftermath runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// Collects a pipe's lines on a thread, so the server never blocks on a full pipe.
fn collect_lines(pipe: impl Read + Send + 'static) -> (Arc<Mutex<Vec<String>>>, JoinHandle<()>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&lines);
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            sink.lock().unwrap().push(line);
        }
    });
    (lines, reader)
}

/// `aftermath serve` as a child process, its stdout and stderr captured.
struct Server {
    child: Child,
    base: String,
    stdout: (Arc<Mutex<Vec<String>>>, JoinHandle<()>),
    stderr: (Arc<Mutex<Vec<String>>>, JoinHandle<()>),
}

/// What a server wrote, once it has stopped.
struct Output {
    stdout: Vec<String>,
    stderr: Vec<String>,
}

impl Output {
    fn everything(&self) -> String {
        let mut text = self.stdout.join("\n");
        text.push('\n');
        text.push_str(&self.stderr.join("\n"));
        text
    }
}

impl Server {
    /// Starts `serve` on a free port with `env` set, and waits (bounded) until it is ready.
    async fn start(data: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let mut command = aftermath();
        command
            .arg("serve")
            .arg("--data-dir")
            .arg(data)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("aftermath starts");
        let stdout = collect_lines(child.stdout.take().unwrap());
        let stderr = collect_lines(child.stderr.take().unwrap());
        let server = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            stdout,
            stderr,
        };
        let http = reqwest::Client::new();
        for _ in 0..500 {
            if let Ok(reply) = http.get(format!("{}/readyz", server.base)).send().await {
                if reply.status().is_success() {
                    return server;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let output = server.stop();
        panic!(
            "aftermath serve did not become ready:\n{}",
            output.everything()
        );
    }

    /// Stops the server and returns every line it wrote. Each request's lines are written
    /// before its answer is sent, so nothing the tests asked about is still to come.
    fn stop(mut self) -> Output {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let (stdout, stdout_reader) = self.stdout;
        let (stderr, stderr_reader) = self.stderr;
        stdout_reader.join().unwrap();
        stderr_reader.join().unwrap();
        let take = |lines: Arc<Mutex<Vec<String>>>| std::mem::take(&mut *lines.lock().unwrap());
        Output {
            stdout: take(stdout),
            stderr: take(stderr),
        }
    }
}

/// One answer: its status, its `X-Request-Id`, and the route it was sent to.
#[derive(Debug)]
struct Answered {
    route: &'static str,
    status: u16,
    request_id: String,
}

async fn answered(route: &'static str, request: reqwest::RequestBuilder) -> Answered {
    let reply = request.send().await.expect("the server answers");
    let request_id = reply
        .headers()
        .get("x-request-id")
        .unwrap_or_else(|| panic!("no X-Request-Id on the answer from {route}"))
        .to_str()
        .unwrap()
        .to_owned();
    Answered {
        route,
        status: reply.status().as_u16(),
        request_id,
    }
}

fn is_uuid_v4(text: &str) -> bool {
    uuid::Uuid::parse_str(text).is_ok_and(|id| id.get_version_num() == 4)
}

/// The `request` span's fields of a JSON log line, when it was logged inside one.
fn request_span(line: &Value) -> Option<&Value> {
    line["spans"]
        .as_array()?
        .iter()
        .find(|span| span["name"] == "request")
}

fn lines_of_request<'a>(lines: &'a [Value], request_id: &str) -> Vec<&'a Value> {
    lines
        .iter()
        .filter(|line| request_span(line).is_some_and(|span| span["request_id"] == request_id))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_each_requests_id_and_never_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let bearer = create_token(data, "ops-bot", "ingest,read,respond", None);
    let session = create_token(data, "erin", "read", None);
    let github_hmac_secret = "github-hmac-secret-5f2e9c";
    let github = create_token(data, "github", "ingest", Some(github_hmac_secret));
    let pagerduty = create_token(data, "pagerduty", "ingest", None);
    // Secrets that authenticate nothing are still secrets (a typo of a real one).
    let unknown_bearer = "aftm_0badc0ffee0badc0ffee0badc0ffee0badc0ffe";
    let unknown_routing_key = "aftm_5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e";

    let server = Server::start(
        data,
        &["--log-format", "json"],
        &[("AFTERMATH_LOG", "debug")],
    )
    .await;
    let base = server.base.clone();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // Bearer token: an accepted notification, a malformed one, an unknown token.
    let accepted = answered(
        "/v1/ingest/alertmanager",
        http.post(format!("{base}/v1/ingest/alertmanager"))
            .bearer_auth(&bearer)
            .body(webhook("LogsCheckout", "fp-logs", false)),
    )
    .await;
    assert_eq!(accepted.status, 202);
    let malformed = answered(
        "/v1/ingest/alertmanager",
        http.post(format!("{base}/v1/ingest/alertmanager"))
            .bearer_auth(&bearer)
            .body(r#"{"version": "#),
    )
    .await;
    assert_eq!(malformed.status, 400);
    let unknown = answered(
        "/v1/incidents",
        http.get(format!("{base}/v1/incidents"))
            .bearer_auth(unknown_bearer),
    )
    .await;
    assert_eq!(unknown.status, 401);

    // Request ids: a valid incoming one is echoed; a too long or spaced one is replaced.
    let client_id = "client-chosen-id-42";
    let echoed = answered(
        "/v1/incidents",
        http.get(format!("{base}/v1/incidents"))
            .bearer_auth(&bearer)
            .header("X-Request-Id", client_id),
    )
    .await;
    assert_eq!(echoed.status, 200);
    assert_eq!(echoed.request_id, client_id);
    let too_long = "x".repeat(129);
    let replaced_long = answered(
        "/healthz",
        http.get(format!("{base}/healthz"))
            .header("X-Request-Id", &too_long),
    )
    .await;
    let with_control = "tab\there";
    let replaced_control = answered(
        "/healthz",
        http.get(format!("{base}/healthz"))
            .header("X-Request-Id", with_control),
    )
    .await;
    for replaced in [&replaced_long, &replaced_control] {
        assert!(is_uuid_v4(&replaced.request_id), "{replaced:?}");
    }
    assert_ne!(replaced_long.request_id, replaced_control.request_id);

    // The session cookie, and the sign-in form that carries the token in its body.
    let page = answered(
        "/incidents",
        http.get(format!("{base}/incidents"))
            .header("Cookie", format!("theme=dark; aftermath_session={session}")),
    )
    .await;
    assert_eq!(page.status, 200);
    let signed_in = answered(
        "/login",
        http.post(format!("{base}/login"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(format!("token={session}&next=%2Fincidents")),
    )
    .await;
    assert_eq!(signed_in.status, 303);

    // GitHub: the token in the payload URL's query, and the HMAC signature header.
    let signature = format!(
        "sha256={}",
        hmac_sha256_hex(github_hmac_secret.as_bytes(), GITHUB_PING.as_bytes())
    );
    let github_url = format!("{base}/v1/ingest/github?token={github}");
    let github_delivery = |signature: &str| {
        http.post(&github_url)
            .header("Content-Type", "application/json")
            .header("X-GitHub-Event", "ping")
            .header("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
            .header("X-Hub-Signature-256", signature)
            .body(GITHUB_PING)
    };
    let pong = answered("/v1/ingest/github", github_delivery(&signature)).await;
    assert_eq!(pong.status, 200);
    let forged_signature = format!("sha256={}", hmac_sha256_hex(b"a guess", b"anything"));
    let forged = answered("/v1/ingest/github", github_delivery(&forged_signature)).await;
    assert_eq!(forged.status, 401);

    // PagerDuty: the routing_key in the body, accepted, in a refused event, and unknown.
    let mut trigger: Value = serde_json::from_str(PAGERDUTY_TRIGGER).unwrap();
    trigger["routing_key"] = json!(pagerduty);
    let enqueued = answered(
        "/v2/enqueue",
        http.post(format!("{base}/v2/enqueue"))
            .body(trigger.to_string()),
    )
    .await;
    assert_eq!(enqueued.status, 202);
    let invalid_event = json!({"routing_key": pagerduty, "event_action": "explode"});
    let refused_event = answered(
        "/v2/enqueue",
        http.post(format!("{base}/v2/enqueue"))
            .body(invalid_event.to_string()),
    )
    .await;
    assert_eq!(refused_event.status, 400);
    trigger["routing_key"] = json!(unknown_routing_key);
    let unknown_key = answered(
        "/v2/enqueue",
        http.post(format!("{base}/v2/enqueue"))
            .body(trigger.to_string()),
    )
    .await;
    assert_eq!(unknown_key.status, 401);

    // No route, a token in the query anyway: the fallback's answer has an id too.
    let nowhere = answered(
        "unmatched",
        http.get(format!("{base}/v1/nowhere?token={bearer}")),
    )
    .await;
    assert_eq!(nowhere.status, 404);

    let (accepted_id, malformed_id) = (accepted.request_id.clone(), malformed.request_id.clone());
    let answers = [
        accepted,
        malformed,
        unknown,
        echoed,
        replaced_long,
        replaced_control,
        page,
        signed_in,
        pong,
        forged,
        enqueued,
        refused_event,
        unknown_key,
        nowhere,
    ];
    let output = server.stop();

    // Every line, on either stream, is one JSON object in the documented shape.
    let mut lines = Vec::new();
    for line in output.stdout.iter().chain(&output.stderr) {
        let parsed: Value = serde_json::from_str(line)
            .unwrap_or_else(|error| panic!("not a JSON log line ({error}): {line}"));
        assert!(parsed["timestamp"].is_string(), "{line}");
        assert!(
            ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"]
                .contains(&parsed["level"].as_str().unwrap_or_default()),
            "{line}"
        );
        assert!(parsed["target"].is_string(), "{line}");
        assert!(parsed["fields"].is_object(), "{line}");
        lines.push(parsed);
    }
    assert!(
        lines.iter().any(|line| line["level"] == "DEBUG"),
        "AFTERMATH_LOG=debug lets debug lines through"
    );

    // Each answer's id names its request's lines, ending with one "request finished".
    for answer in &answers {
        let of_request = lines_of_request(&lines, &answer.request_id);
        let finished: Vec<_> = of_request
            .iter()
            .filter(|line| line["fields"]["message"] == "request finished")
            .collect();
        assert_eq!(finished.len(), 1, "{answer:?}: {of_request:#?}");
        let span = request_span(finished[0]).unwrap();
        assert_eq!(finished[0]["fields"]["status"], answer.status, "{answer:?}");
        assert!(
            finished[0]["fields"]["latency_ms"].is_number(),
            "{answer:?}"
        );
        assert_eq!(span["route"], answer.route, "{answer:?}");
        assert!(span["method"].is_string(), "{answer:?}");
    }
    // Lines logged by the handlers sit inside the request's span, so they carry its id.
    let accepted_lines = lines_of_request(&lines, &accepted_id);
    assert!(
        accepted_lines
            .iter()
            .any(|line| line["fields"]["message"] == "notification accepted"),
        "{accepted_lines:#?}"
    );
    let malformed_lines = lines_of_request(&lines, &malformed_id);
    assert!(
        malformed_lines
            .iter()
            .any(|line| line["fields"]["message"] == "request refused"),
        "{malformed_lines:#?}"
    );

    // No secret, nor what a client sent as an id we refused, is anywhere in the output.
    let everything = output.everything();
    for (what, secret) in [
        ("bearer token", bearer.as_str()),
        ("session cookie token", session.as_str()),
        ("GitHub ?token=", github.as_str()),
        ("GitHub signing secret", github_hmac_secret),
        ("GitHub signature", signature.as_str()),
        ("forged GitHub signature", forged_signature.as_str()),
        ("PagerDuty routing_key", pagerduty.as_str()),
        ("unknown bearer token", unknown_bearer),
        ("unknown routing_key", unknown_routing_key),
        ("refused request id", too_long.as_str()),
    ] {
        assert!(
            !everything.contains(secret),
            "the {what} appears in the logs:\n{everything}"
        );
    }
    // The hex digits alone, should a line print the signature without its prefix.
    assert!(!everything.contains(signature.trim_start_matches("sha256=")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pretty_logs_are_one_readable_line_per_event_with_the_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &[],
        &[
            ("AFTERMATH_LOG", "info"),
            ("AFTERMATH_LOG_FORMAT", "pretty"),
        ],
    )
    .await;
    let reply = reqwest::Client::new()
        .get(format!("{}/healthz", server.base))
        .header("X-Request-Id", "pretty-check-7")
        .send()
        .await
        .unwrap();
    assert_eq!(reply.headers()["x-request-id"], "pretty-check-7");
    let output = server.stop();

    assert!(!output.stderr.is_empty());
    for line in &output.stderr {
        assert!(
            serde_json::from_str::<Value>(line).is_err(),
            "a JSON line: {line}"
        );
        // Not a terminal: no colour escapes in a file or a pipe.
        assert!(!line.contains('\u{1b}'), "an escape code: {line:?}");
        let timestamp = line.split_whitespace().next().unwrap_or_default();
        assert!(
            time::OffsetDateTime::parse(timestamp, &time::format_description::well_known::Rfc3339)
                .is_ok(),
            "no leading timestamp: {line}"
        );
    }
    let finished = output
        .stderr
        .iter()
        .find(|line| line.contains("request finished") && line.contains("pretty-check-7"))
        .unwrap_or_else(|| panic!("no request line: {:#?}", output.stderr));
    for part in [
        " INFO ",
        "request{",
        "method=GET",
        "route=/healthz",
        "request_id=pretty-check-7",
        "status=200",
        "latency_ms=",
    ] {
        assert!(finished.contains(part), "{part:?} missing from {finished}");
    }
}

/// Runs `serve` with `env` and returns its stderr once it exits, which it must do by
/// itself; a server that keeps running is killed and the test fails.
fn serve_expecting_exit(env: &[(&str, &str)]) -> (std::process::ExitStatus, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut command = aftermath();
    command
        .arg("serve")
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--listen", &format!("127.0.0.1:{}", free_port())])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("aftermath starts");
    let mut stderr = child.stderr.take().unwrap();
    for _ in 0..1500 {
        if let Some(status) = child.try_wait().unwrap() {
            let mut text = String::new();
            stderr.read_to_string(&mut text).unwrap();
            return (status, text);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("serve kept running with {env:?}");
}

#[test]
fn a_bad_filter_directive_stops_startup_naming_the_variable_and_the_directive() {
    let (status, stderr) = serve_expecting_exit(&[("AFTERMATH_LOG", "aftermath=loud")]);
    assert!(!status.success());
    assert!(
        stderr.contains("invalid log filter in AFTERMATH_LOG \"aftermath=loud\""),
        "{stderr}"
    );
    assert!(stderr.contains("directives look like"), "{stderr}");

    // Without AFTERMATH_LOG, RUST_LOG is read, and held to the same standard.
    let (status, stderr) = serve_expecting_exit(&[("RUST_LOG", "info,[{")]);
    assert!(!status.success());
    assert!(
        stderr.contains("invalid log filter in RUST_LOG \"info,[{\""),
        "{stderr}"
    );
}

#[test]
fn a_debug_print_of_the_configuration_hides_its_passwords_and_hook_secrets() {
    let mut config =
        aftermath::Config::new("/var/lib/aftermath", "127.0.0.1:7700".parse().unwrap());
    config.backends.database_url =
        Some("postgres://aftermath:db-pa55word@db.internal:5432/aftermath".to_owned());
    config.notify = Some(
        aftermath::notifier::NotifyConfig::parse(
            "[[webhook]]\nname = \"ops\"\n\
             url = \"https://hooks.slack.com/services/T000/B000/slack-hook-s3cret\"\n\
             format = \"slack\"\n",
        )
        .unwrap(),
    );
    let printed = format!("{config:?}");
    for secret in ["db-pa55word", "slack-hook-s3cret", "T000/B000"] {
        assert!(!printed.contains(secret), "{secret} in {printed}");
    }
    // What an operator needs to tell configurations apart is still there.
    for shown in [
        "postgres://aftermath@db.internal:5432/aftermath",
        "https://hooks.slack.com/…",
        "\"ops\"",
    ] {
        assert!(printed.contains(shown), "{shown} not in {printed}");
    }
}
