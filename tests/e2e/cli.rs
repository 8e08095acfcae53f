//! `aftermath incident …`: the real binary as a client of an in-process server, walking
//! the SOP's connection-pool example the way `workflow.rs` walks it over HTTP.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::support::*;

const BINARY: &str = env!("CARGO_BIN_EXE_aftermath");

/// The SOP's five whys, word for word (as in `workflow.rs`).
const WHYS: [(&str, &str); 5] = [
    ("Why did the API fail?", "Database connection timeout"),
    ("Why did the timeout occur?", "Connection pool exhausted"),
    ("Why was pool exhausted?", "Leaked connections not closed"),
    (
        "Why weren't they closed?",
        "Missing finally block in worker.py:145",
    ),
    ("Why was it missing?", "Code review didn't catch it"),
];

/// How a run of the binary is told where the server is and who it is.
#[derive(Clone)]
enum Who {
    /// `--server URL --token TOKEN`.
    Flags(String, String),
    /// `AFTERMATH_URL` and `AFTERMATH_TOKEN`.
    Env(String, String),
    /// A server, no token anywhere.
    NoToken(String),
}

/// Runs `aftermath incident ARGS` on a blocking thread, so the in-process server keeps
/// serving, in an environment without the caller's AFTERMATH_* or PAGER.
async fn incident(who: &Who, extra_env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut command = Command::new(BINARY);
    command
        .arg("incident")
        .env_remove("AFTERMATH_URL")
        .env_remove("AFTERMATH_TOKEN")
        .env_remove("PAGER")
        .env("AFTERMATH_LOG", "warn")
        .stdin(Stdio::null());
    match who {
        Who::Flags(server, token) => {
            command.args(["--server", server, "--token", token]);
        }
        Who::Env(server, token) => {
            command
                .env("AFTERMATH_URL", server)
                .env("AFTERMATH_TOKEN", token);
        }
        Who::NoToken(server) => {
            command.env("AFTERMATH_URL", server);
        }
    }
    command.args(args);
    for (name, value) in extra_env {
        command.env(name, value);
    }
    tokio::task::spawn_blocking(move || command.output().expect("aftermath runs"))
        .await
        .unwrap()
}

/// Runs a command that must succeed; its stdout.
async fn ok(who: &Who, args: &[&str]) -> String {
    let output = incident(who, &[], args).await;
    assert!(
        output.status.success(),
        "aftermath incident {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Runs a command that must fail; its stderr.
async fn fails(who: &Who, args: &[&str]) -> String {
    let output = incident(who, &[], args).await;
    assert!(
        !output.status.success(),
        "aftermath incident {args:?} succeeded: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(output.stdout.is_empty(), "a failure printed on stdout");
    String::from_utf8(output.stderr).unwrap()
}

/// The `(kind, actor)` of every `HH:MM:SS  kind  actor  text` line of `show`'s timeline.
fn shown_timeline(shown: &str) -> Vec<(String, String)> {
    let (_, timeline) = shown
        .split_once("\nTimeline (UTC)\n")
        .unwrap_or_else(|| panic!("no timeline in:\n{shown}"));
    timeline
        .lines()
        .filter(|line| {
            let clock = line.as_bytes();
            clock.len() > 10
                && clock[2] == b':'
                && clock[5] == b':'
                && &line[8..10] == "  "
                && line[..8].chars().all(|c| c.is_ascii_digit() || c == ':')
        })
        .map(|line| {
            let mut words = line[10..].split_whitespace();
            let kind = words.next().unwrap_or_default().to_owned();
            let actor = words.next().unwrap_or_default().to_owned();
            (kind, actor)
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sops_connection_pool_incident_over_the_cli() {
    let app = spawn_app().await;
    app.notify(&webhook("ApiConnectionTimeouts", "pool-1", false))
        .await;
    let id = app.only_incident().await["id"].as_str().unwrap().to_owned();
    let short = &id[..8];
    let alice = Who::Flags(app.base.clone(), app.alice.clone());
    let bob = Who::Env(app.base.clone(), app.bob.clone());

    let listing = ok(&alice, &["list"]).await;
    let row = listing
        .lines()
        .find(|line| line.starts_with(short))
        .unwrap_or_else(|| panic!("{short} not listed:\n{listing}"));
    assert!(row.contains("triggered"), "{row}");
    assert!(row.contains("ApiConnectionTimeouts is failing"), "{row}");
    assert!(listing.starts_with("ID"), "{listing}");

    // Alert → acknowledge (by the short id `list` shows), a note, the five whys.
    let acked = ok(&alice, &["ack", short, "--note", "Investigating"]).await;
    assert_eq!(acked, format!("acknowledged {short} (alice)\n"));
    let noted = ok(&alice, &["note", &id, "Rolled", "back", "the", "deploy"]).await;
    assert_eq!(noted, format!("noted on {short} (alice)\n"));
    for (n, (question, answer)) in WHYS.iter().enumerate() {
        let added = ok(
            &bob,
            &["why", &id, "--question", question, "--answer", answer],
        )
        .await;
        assert_eq!(added, format!("added why {} to {short} (bob)\n", n + 1));
    }
    let cause = "Connection leak in worker.py, missing proper cleanup";
    let stated = ok(&alice, &["root-cause", &id, cause]).await;
    assert_eq!(
        stated,
        format!("stated the root cause of {short} (alice): {cause}\n")
    );
    let mitigated = ok(
        &alice,
        &[
            "mitigate",
            &id,
            "--note",
            "Restarted the workers to release connections",
        ],
    )
    .await;
    assert_eq!(mitigated, format!("mitigated {short} (alice)\n"));
    let impact = ok(
        &bob,
        &[
            "impact",
            &id,
            "--summary",
            "API requests failed with timeouts",
            "--failed-requests",
            "156",
            "--customer-facing",
            "--downtime-seconds",
            "2520",
        ],
    )
    .await;
    assert_eq!(impact, format!("recorded the impact on {short} (bob)\n"));
    let resolved = ok(
        &alice,
        &[
            "resolve",
            &id,
            "--resolution",
            "Added proper connection cleanup with try/finally block",
        ],
    )
    .await;
    assert_eq!(resolved, format!("resolved {short} (alice)\n"));
    let items = [
        ("Audit all database connection usage", "OpenCode", "prevent"),
        ("Add pool exhaustion alert", "Molt", "prevent"),
        ("Update developer docs", "OpenCode", "process"),
    ];
    for (title, owner, kind) in items {
        let added = ok(
            &alice,
            &[
                "action",
                &id,
                "--title",
                title,
                "--owner",
                owner,
                "--kind",
                kind,
                "--due",
                "2026-12-15",
            ],
        )
        .await;
        assert!(
            added.starts_with("added action item ")
                && added.ends_with(&format!(" to {short} (alice): {title}\n")),
            "{added}"
        );
    }
    let detail = app
        .get(&format!("/v1/incidents/{id}"), &app.reader)
        .await
        .json();
    let first_item = detail["action_items"][0]["id"].as_str().unwrap().to_owned();
    let done = ok(&bob, &["action", &id, "--done", &first_item[..8]]).await;
    assert_eq!(
        done,
        format!(
            "marked action item {} done on {short} (bob)\n",
            &first_item[..8]
        )
    );
    // A mutation with --json prints the server's answer.
    let answer: Value = serde_json::from_str(
        &ok(&bob, &["--json", "note", &id, "Post-mortem review booked"]).await,
    )
    .expect("--json note prints JSON");
    assert_eq!(answer["projected"], true, "{answer}");
    assert_eq!(answer["replayed"], false, "{answer}");
    assert_eq!(answer["incident"]["id"], id.as_str(), "{answer}");

    // What the server holds, read over HTTP.
    let detail = app
        .get(&format!("/v1/incidents/{id}"), &app.reader)
        .await
        .json();
    assert_eq!(detail["status"], "resolved");
    assert_eq!(detail["acknowledged_by"], "alice");
    assert_eq!(detail["mitigated_by"], "alice");
    assert_eq!(
        detail["mitigation"],
        "Restarted the workers to release connections"
    );
    assert_eq!(detail["resolved_by"], "alice");
    assert_eq!(
        detail["resolution"],
        "Added proper connection cleanup with try/finally block"
    );
    let whys: Vec<(String, String, String)> = detail["whys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|why| {
            (
                why["question"].as_str().unwrap().to_owned(),
                why["answer"].as_str().unwrap().to_owned(),
                why["asked_by"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: Vec<_> = WHYS
        .iter()
        .map(|(q, a)| (q.to_string(), a.to_string(), "bob".to_owned()))
        .collect();
    assert_eq!(whys, expected);
    assert_eq!(detail["root_cause"]["text"], cause);
    assert_eq!(detail["root_cause"]["stated_by"], "alice");
    assert_eq!(detail["impact"]["failed_requests"], 156);
    assert_eq!(detail["impact"]["customer_facing"], true);
    assert_eq!(detail["impact"]["data_loss"], false);
    assert!(detail["impact"]["users_affected"].is_null());
    assert_eq!(detail["downtime_seconds"], 2520);
    let held: Vec<(String, String, String, String, Value)> = detail["action_items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            (
                item["title"].as_str().unwrap().to_owned(),
                item["owner"].as_str().unwrap().to_owned(),
                item["kind"].as_str().unwrap().to_owned(),
                item["due"].as_str().unwrap().to_owned(),
                item["done_by"].clone(),
            )
        })
        .collect();
    let wanted: Vec<_> = items
        .iter()
        .enumerate()
        .map(|(n, (title, owner, kind))| {
            let done_by = if n == 0 { "bob".into() } else { Value::Null };
            (
                title.to_string(),
                owner.to_string(),
                kind.to_string(),
                "2026-12-15".to_owned(),
                done_by,
            )
        })
        .collect();
    assert_eq!(held, wanted);

    let timeline = app.timeline(&id).await;
    let people: Vec<(String, String)> = timeline
        .iter()
        .filter(|entry| entry["actor"] != "alertmanager")
        .map(|entry| {
            (
                entry["kind"].as_str().unwrap().to_owned(),
                entry["actor"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected_people = pairs(&[
        ("acknowledged", "alice"),
        ("note", "alice"),
        ("why_added", "bob"),
        ("why_added", "bob"),
        ("why_added", "bob"),
        ("why_added", "bob"),
        ("why_added", "bob"),
        ("root_cause_stated", "alice"),
        ("mitigated", "alice"),
        ("impact_recorded", "bob"),
        ("resolved", "alice"),
        ("action_item_added", "alice"),
        ("action_item_added", "alice"),
        ("action_item_added", "alice"),
        ("action_item_done", "bob"),
        ("note", "bob"),
    ]);
    assert_eq!(people, expected_people);

    // `show` by the full id: the header, the whys numbered in order, and the timeline.
    let shown = ok(&alice, &["show", &id]).await;
    assert!(
        shown.starts_with("ApiConnectionTimeouts is failing\n"),
        "{shown}"
    );
    for line in [
        format!("id         {id}"),
        "status     resolved".to_owned(),
        "severity   critical".to_owned(),
        "service    svc".to_owned(),
        "downtime   42m 0s".to_owned(),
    ] {
        assert!(
            shown.contains(&format!("{line}\n")),
            "no {line:?} in:\n{shown}"
        );
    }
    for (label, who) in [
        ("acked", "alice"),
        ("mitigated", "alice"),
        ("resolved", "alice"),
    ] {
        let line = shown
            .lines()
            .find(|line| line.starts_with(&format!("{label:<11}")))
            .unwrap_or_else(|| panic!("no {label} line in:\n{shown}"));
        assert!(line.contains(&format!(" UTC by {who}")), "{line}");
    }
    let mut from = shown.find("\nFive whys\n").expect("a five whys section");
    for (n, (question, answer)) in WHYS.iter().enumerate() {
        let why = format!("  {}. {question}\n     {answer}  (bob)\n", n + 1);
        let at = shown[from..]
            .find(&why)
            .unwrap_or_else(|| panic!("why {} missing or out of order in:\n{shown}", n + 1));
        from += at + why.len();
    }
    assert!(
        shown.contains(&format!("\nRoot cause\n  {cause}  (alice)\n")),
        "{shown}"
    );
    assert!(
        shown.contains("API requests failed with timeouts  (bob)\n"),
        "{shown}"
    );
    assert!(
        shown.contains("failed requests 156 · customer facing: yes · data loss: no"),
        "{shown}"
    );
    assert!(
        shown.contains(&format!(
            "  [x] {}  Audit all database connection usage (prevent, OpenCode, due 2026-12-15) — done by bob\n",
            &first_item[..8]
        )),
        "{shown}"
    );
    assert_eq!(shown.matches("\n  [ ] ").count(), 2, "{shown}");
    let mut shown_people = shown_timeline(&shown);
    assert_eq!(
        shown_people.len(),
        timeline.len(),
        "every timeline entry is shown:\n{shown}"
    );
    shown_people.retain(|(_, actor)| actor != "alertmanager");
    assert_eq!(shown_people, expected_people, "{shown}");
    let note_line = shown
        .lines()
        .find(|line| line.contains("Rolled back the deploy"))
        .unwrap_or_else(|| panic!("the note is not on the shown timeline:\n{shown}"));
    assert!(note_line.contains(" note ") && note_line.contains(" alice "));
    assert_eq!(
        ok(&bob, &["show", short]).await,
        shown,
        "a unique prefix shows the same incident"
    );

    // `list` by status, and --json before or after the command parses.
    let resolved = ok(&alice, &["list", "--status", "resolved"]).await;
    assert!(
        resolved
            .lines()
            .any(|line| line.starts_with(short) && line.contains("resolved")),
        "{resolved}"
    );
    assert_eq!(
        ok(&alice, &["list", "--status", "open"]).await,
        "no incidents\n"
    );
    let listed: Value = serde_json::from_str(&ok(&alice, &["--json", "list"]).await).unwrap();
    assert_eq!(listed["incidents"][0]["id"], id.as_str());
    assert_eq!(listed["incidents"][0]["status"], "resolved");
    let shown_json: Value =
        serde_json::from_str(&ok(&alice, &["show", &id, "--json"]).await).unwrap();
    assert_eq!(shown_json["incident"]["id"], id.as_str());
    assert_eq!(shown_json["incident"]["whys"].as_array().unwrap().len(), 5);
    assert_eq!(
        shown_json["timeline"]["entries"].as_array().unwrap().len(),
        timeline.len()
    );

    // Errors: the server's detail with the status, on stderr, and a non-zero exit.
    let refused = fails(&alice, &["mitigate", &id, "--note", "again"]).await;
    assert!(
        refused.contains("error: incident is already resolved") && refused.contains("(HTTP 409)"),
        "{refused}"
    );
    assert_eq!(
        app.timeline(&id).await.len(),
        timeline.len(),
        "a refused command recorded nothing"
    );
    let unknown = fails(&alice, &["show", "00000000-0000-4000-8000-000000000000"]).await;
    assert!(unknown.contains("(HTTP 404)"), "{unknown}");
    let wrong_token = Who::Flags(app.base.clone(), "aftm_not-a-token".into());
    assert!(fails(&wrong_token, &["list"]).await.contains("(HTTP 401)"));
    let reader = Who::Env(app.base.clone(), app.reader.clone());
    let forbidden = fails(&reader, &["note", &id, "hello"]).await;
    assert!(
        forbidden.contains("respond") && forbidden.contains("(HTTP 403)"),
        "{forbidden}"
    );
    let no_token = fails(&Who::NoToken(app.base.clone()), &["list"]).await;
    assert!(
        no_token.contains("no API token") && no_token.contains("AFTERMATH_TOKEN"),
        "{no_token}"
    );
    let free_port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let nowhere = format!("http://127.0.0.1:{free_port}");
    let unreachable = fails(&Who::Flags(nowhere.clone(), app.alice.clone()), &["list"]).await;
    assert!(
        unreachable.contains(&format!(
            "cannot connect to the Aftermath server at {nowhere}"
        )),
        "{unreachable}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_pages_follows_cursors_and_never_pages_into_a_pipe() {
    let app = spawn_app().await;
    for group in ["First", "Second", "Third"] {
        app.notify(&webhook(group, &format!("{group}-1"), false))
            .await;
    }
    assert_eq!(app.incidents("all").await.len(), 3);
    let alice = Who::Flags(app.base.clone(), app.alice.clone());
    // A pager that would swallow the output: stdout is a pipe here, so it is not used.
    let env = [("PAGER", "false"), ("LINES", "2")];

    let one_page = incident(&alice, &env, &["list", "--limit", "2"]).await;
    assert!(one_page.status.success());
    let rows = String::from_utf8(one_page.stdout).unwrap();
    assert_eq!(
        rows.lines().count(),
        3,
        "a header and two incidents:\n{rows}"
    );
    assert!(rows.contains("Third is failing"), "newest first:\n{rows}");
    assert!(!rows.contains("First is failing"), "{rows}");
    assert!(String::from_utf8_lossy(&one_page.stderr).contains("--all-pages"));

    let every_page = incident(&alice, &env, &["list", "--limit", "1", "--all-pages"]).await;
    assert!(every_page.status.success());
    let rows = String::from_utf8(every_page.stdout).unwrap();
    let positions: Vec<usize> = ["Third", "Second", "First"]
        .iter()
        .map(|group| {
            rows.lines()
                .position(|line| line.contains(&format!("{group} is failing")))
                .unwrap_or_else(|| panic!("{group} not listed:\n{rows}"))
        })
        .collect();
    assert_eq!(
        positions,
        [1, 2, 3],
        "newest first, after the header:\n{rows}"
    );
    assert_eq!(rows.lines().count(), 4, "{rows}");

    let json = incident(
        &alice,
        &env,
        &["--json", "list", "--limit", "1", "--all-pages"],
    )
    .await;
    assert!(json.status.success());
    let json: Value = serde_json::from_slice(&json.stdout).unwrap();
    let titles: Vec<&str> = json["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|incident| incident["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        ["Third is failing", "Second is failing", "First is failing"]
    );
    assert!(json["next_cursor"].is_null());
    let bad_limit = fails(&alice, &["list", "--limit", "0"]).await;
    assert!(
        bad_limit.contains("limit") && bad_limit.contains("(HTTP 400)"),
        "{bad_limit}"
    );
    // An id prefix no incident has is named as such.
    let ids: Vec<&str> = json["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|incident| incident["id"].as_str().unwrap())
        .collect();
    let prefix = ["ffffffff-f", "00000000-0"]
        .into_iter()
        .find(|prefix| !ids.iter().any(|id| id.starts_with(prefix)))
        .unwrap();
    let unknown = fails(&alice, &["show", prefix]).await;
    assert!(
        unknown.contains(&format!("no incident id starts with {prefix:?}")),
        "{unknown}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_why_amended_over_the_cli_keeps_its_history_and_feeds_the_root_cause() {
    let app = spawn_app().await;
    app.notify(&webhook("PoolTooSmall", "pool-2", false)).await;
    let id = app.only_incident().await["id"].as_str().unwrap().to_owned();
    let short = &id[..8];
    let alice = Who::Env(app.base.clone(), app.alice.clone());
    let bob = Who::Flags(app.base.clone(), app.bob.clone());
    ok(
        &alice,
        &[
            "why",
            short,
            "--question",
            "Why?",
            "--answer",
            "Pool too small",
        ],
    )
    .await;
    let amended = ok(
        &bob,
        &[
            "why",
            short,
            "--amend",
            "1",
            "--question",
            "Why?",
            "--answer",
            "Connections leaked",
        ],
    )
    .await;
    assert_eq!(amended, format!("amended why 1 on {short} (bob)\n"));
    let stated = ok(&alice, &["root-cause", short]).await;
    assert_eq!(
        stated,
        format!("stated the root cause of {short} (alice): Connections leaked\n")
    );
    let missing = fails(
        &alice,
        &[
            "why",
            short,
            "--amend",
            "7",
            "--question",
            "q",
            "--answer",
            "a",
        ],
    )
    .await;
    assert!(missing.contains("(HTTP 404)"), "{missing}");

    let detail = app
        .get(&format!("/v1/incidents/{id}"), &app.reader)
        .await
        .json();
    assert_eq!(detail["whys"][0]["answer"], "Connections leaked");
    assert_eq!(detail["whys"][0]["asked_answer"], "Pool too small");
    assert_eq!(detail["whys"][0]["amendments"][0]["by"], "bob");
    assert_eq!(detail["root_cause"]["from_why"], 1);
    let shown = ok(&alice, &["show", &id]).await;
    assert!(
        shown.contains("  1. Why?\n     Connections leaked  (alice; amended by bob)\n"),
        "{shown}"
    );
    assert!(
        shown.contains("  Connections leaked  (alice, from why 1)\n"),
        "{shown}"
    );
    assert!(
        shown.contains("status     triggered  (open for "),
        "{shown}"
    );
    app.stop().await;
}

/// One HTTP/1.1 request as a fake server reads it: the request line, lowercase headers.
struct Seen {
    line: String,
    headers: Vec<(String, String)>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// Accepts one connection, reads one request, answers `status` with `body`, closes.
fn answer_one(listener: &TcpListener, status: &str, extra: &str, body: &str) -> Seen {
    let (stream, _) = listener.accept().unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).unwrap();
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':').unwrap();
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let seen = Seen {
        line: line.trim_end().to_owned(),
        headers,
    };
    let length: usize = seen
        .header("content-length")
        .map_or(0, |n| n.parse().unwrap());
    let mut body_in = vec![0; length];
    reader.read_exact(&mut body_in).unwrap();
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n{extra}\r\n{body}",
        body.len()
    )
    .unwrap();
    stream.flush().unwrap();
    seen
}

#[test]
fn every_mutation_sends_a_fresh_idempotency_key_and_a_retry_repeats_it() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = format!("http://{}", listener.local_addr().unwrap());
    let id = "7576acb2-1c2d-4e5f-8a9b-0c1d2e3f4a5b";
    let acked = format!(
        r#"{{"fact_id":"00000000-0000-4000-8000-000000000001","replayed":false,"projected":true,
            "incident":{{"id":"{id}","acknowledged_by":"alice"}}}}"#
    );
    let fake = std::thread::spawn({
        let acked = acked.clone();
        move || {
            let unavailable = r#"{"error":"unavailable","detail":"the log is unavailable"}"#;
            let first = answer_one(
                &listener,
                "503 Service Unavailable",
                "retry-after: 0\r\n",
                unavailable,
            );
            let retry = answer_one(&listener, "200 OK", "", &acked);
            let second = answer_one(&listener, "200 OK", "", &acked);
            (first, retry, second)
        }
    });
    let run = || {
        Command::new(BINARY)
            .args(["incident", "--server", &server, "--token", "aftm_test"])
            .args(["ack", id, "--note", "on it"])
            .env_remove("AFTERMATH_TOKEN")
            .env("AFTERMATH_LOG", "error")
            .output()
            .expect("aftermath runs")
    };
    let retried = run();
    assert!(
        retried.status.success(),
        "{}",
        String::from_utf8_lossy(&retried.stderr)
    );
    assert_eq!(
        String::from_utf8(retried.stdout).unwrap(),
        "acknowledged 7576acb2 (alice)\n"
    );
    assert!(run().status.success());
    let (first, retry, second) = fake.join().unwrap();
    assert_eq!(first.line, format!("POST /v1/incidents/{id}/ack HTTP/1.1"));
    assert_eq!(first.header("authorization"), Some("Bearer aftm_test"));
    let key = |seen: &Seen| {
        let key = seen.header("idempotency-key").expect("an Idempotency-Key");
        let uuid = uuid::Uuid::parse_str(key).expect("the key is a UUID");
        assert_eq!(uuid.get_version_num(), 4, "{key}");
        uuid
    };
    assert_eq!(key(&first), key(&retry), "a retry repeats the key");
    assert_ne!(key(&first), key(&second), "a new command has a new key");
}
