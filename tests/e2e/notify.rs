//! Outbound notifications against a real local webhook receiver that fails, refuses or
//! hangs on purpose: retries with backoff until delivered, every attempt on the timeline,
//! one delivery per event and target (also across a restart), routing by service,
//! severity and event, the overdue acknowledgement, and ingest unaffected by a receiver
//! that never answers.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aftermath::notifier::NotifyConfig;
use aftermath::Config;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Value};

use crate::on_both_backends;
use crate::support::*;

/// How the receiver answers one request.
#[derive(Clone, Copy, Debug)]
enum Answer {
    Status(u16),
    /// Never answers (the notifier's timeout ends the attempt).
    Hang,
}

#[derive(Clone, Debug)]
struct Call {
    hook: String,
    event: String,
    event_id: String,
    body: Value,
    answered: u16,
}

/// A webhook receiver on a free loopback port: `POST /{hook}` answers from the hook's
/// plan (then 200) and records every request.
#[derive(Default)]
struct Receiver {
    calls: Mutex<Vec<Call>>,
    plans: Mutex<HashMap<String, VecDeque<Answer>>>,
}

impl Receiver {
    async fn start(plans: &[(&str, &[Answer])]) -> (Arc<Self>, String) {
        let receiver = Arc::new(Self::default());
        {
            let mut stored = receiver.plans.lock().unwrap();
            for (hook, answers) in plans {
                stored.insert((*hook).to_owned(), answers.iter().copied().collect());
            }
        }
        let router = axum::Router::new()
            .route("/{hook}", axum::routing::post(receive))
            .with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        (receiver, base)
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// Waits (bounded) until `done` holds for the calls so far.
    async fn wait_until(&self, what: &str, done: impl Fn(&[Call]) -> bool) -> Vec<Call> {
        for _ in 0..1500 {
            let calls = self.calls();
            if done(&calls) {
                return calls;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("receiver never saw {what}: {:#?}", self.calls());
    }
}

async fn receive(
    State(receiver): State<Arc<Receiver>>,
    Path(hook): Path<String>,
    headers: HeaderMap,
    body: axum::Json<Value>,
) -> StatusCode {
    let answer = receiver
        .plans
        .lock()
        .unwrap()
        .get_mut(&hook)
        .and_then(VecDeque::pop_front)
        .unwrap_or(Answer::Status(200));
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    receiver.calls.lock().unwrap().push(Call {
        hook,
        event: header("x-aftermath-event"),
        event_id: header("x-aftermath-event-id"),
        body: body.0,
        answered: match answer {
            Answer::Status(status) => status,
            Answer::Hang => 0,
        },
    });
    match answer {
        Answer::Status(status) => StatusCode::from_u16(status).unwrap(),
        Answer::Hang => std::future::pending().await,
    }
}

fn delivered(calls: &[Call], hook: &str, event: &str) -> usize {
    calls
        .iter()
        .filter(|c| c.hook == hook && c.event == event && c.answered == 200)
        .count()
}

/// One `[[webhook]]` table: `name`, posting JSON to `{hooks}/{name}`.
fn json_webhook(hooks: &str, name: &str) -> String {
    format!("[[webhook]]\nname = \"{name}\"\nurl = \"{hooks}/{name}\"\nformat = \"json\"\n")
}

/// A notify config with fast retries; `webhooks` is TOML `[[webhook]]` tables.
fn notify_config(webhooks: &str, extra: &str) -> NotifyConfig {
    NotifyConfig::parse(&format!(
        "initial_backoff_ms = 20\nmax_attempts = 4\ntimeout_ms = 2000\noverdue_scan_ms = 100\n{extra}\n{webhooks}"
    ))
    .unwrap()
}

async fn spawn_notifying(backend: Backend, change: impl FnOnce(&mut Config)) -> TestApp {
    let data_dir = tempfile::tempdir().unwrap();
    let (mut config, parts) = config_for(backend, data_dir.path()).await;
    change(&mut config);
    spawn_app_from(config, data_dir, parts).await
}

/// The timeline entries the notifier wrote, as (kind, text), once `count` are folded.
async fn notifier_entries(app: &TestApp, id: &str, count: usize) -> Vec<(String, String)> {
    for _ in 0..1500 {
        let entries: Vec<(String, String)> = app
            .timeline(id)
            .await
            .into_iter()
            .filter(|entry| entry["actor"] == "aftermath-notifier")
            .map(|entry| {
                (
                    entry["kind"].as_str().unwrap().to_owned(),
                    entry["text"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        if entries.len() >= count {
            return entries;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the timeline of {id} never held {count} notifier entries");
}

on_both_backends!(failing_receivers_get_every_event_once_after_retries);

async fn failing_receivers_get_every_event_once_after_retries(backend: Backend) {
    let (receiver, hooks) =
        Receiver::start(&[("json", &[Answer::Status(503), Answer::Status(502)])]).await;
    let webhooks = format!(
        r#"
        [[webhook]]
        name = "ops-json"
        url = "{hooks}/json"
        format = "json"

        [[webhook]]
        name = "ops-slack"
        url = "{hooks}/slack"
        format = "slack"
        "#
    );
    let app = spawn_notifying(backend, |config| {
        config.notify = Some(notify_config(&webhooks, ""));
    })
    .await;
    app.notify(FIRING).await;
    let incident = app.only_incident().await;
    let id = incident["id"].as_str().unwrap().to_owned();

    // Opened: the JSON receiver fails twice, then takes it; Slack takes it at once.
    let calls = receiver
        .wait_until("the opened event delivered to both", |calls| {
            delivered(calls, "json", "incident.opened") == 1
                && delivered(calls, "slack", "incident.opened") == 1
        })
        .await;
    let json_calls: Vec<&Call> = calls.iter().filter(|c| c.hook == "json").collect();
    assert_eq!(
        json_calls.iter().map(|c| c.answered).collect::<Vec<_>>(),
        [503, 502, 200]
    );
    assert!(
        json_calls
            .iter()
            .all(|c| c.event_id == json_calls[0].event_id),
        "every attempt carries the same event id"
    );
    let body = &json_calls[2].body;
    assert_eq!(body["event"], "incident.opened");
    assert_eq!(body["incident"]["id"], id.as_str());
    assert_eq!(body["incident"]["service"], "checkout");
    assert!(body["incident"]["url"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/v1/incidents/{id}")));
    let slack = calls.iter().find(|c| c.hook == "slack").unwrap();
    assert!(slack.body["text"]
        .as_str()
        .unwrap()
        .starts_with("Incident opened: "));
    assert_eq!(slack.body["blocks"][0]["type"], "section");

    // Every attempt is on the timeline, in order.
    let entries = notifier_entries(&app, &id, 4).await;
    let json_entries: Vec<&(String, String)> = entries
        .iter()
        .filter(|(_, text)| text.contains("ops-json"))
        .collect();
    assert_eq!(
        json_entries,
        [
            &(
                "notification_failed".to_owned(),
                "Notifying ops-json of incident.opened failed (attempt 1): HTTP 503; will retry"
                    .to_owned()
            ),
            &(
                "notification_failed".to_owned(),
                "Notifying ops-json of incident.opened failed (attempt 2): HTTP 502; will retry"
                    .to_owned()
            ),
            &(
                "notification_sent".to_owned(),
                "Notified ops-json of incident.opened (attempt 3)".to_owned()
            ),
        ]
    );

    // Escalated, then resolved.
    let path = |action: &str| format!("/v1/incidents/{id}/{action}");
    let reply = app
        .post(
            &path("severity"),
            &app.alice,
            &json!({"severity": "critical", "reason": "checkout down for everyone"}).to_string(),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let reply = app
        .post(
            &path("resolve"),
            &app.alice,
            &json!({"resolution": "rolled back"}).to_string(),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let calls = receiver
        .wait_until("escalation and resolution delivered to both", |calls| {
            ["json", "slack"].iter().all(|hook| {
                delivered(calls, hook, "incident.severity_escalated") == 1
                    && delivered(calls, hook, "incident.resolved") == 1
            })
        })
        .await;
    let escalated = calls
        .iter()
        .find(|c| c.hook == "json" && c.event == "incident.severity_escalated")
        .unwrap();
    assert_eq!(
        escalated.body["summary"],
        "Severity raised from warning to critical by alice: checkout down for everyone"
    );
    assert_eq!(escalated.body["severity"], "critical");

    // Nothing is sent twice: settle, then count deliveries per hook and event id.
    notifier_entries(&app, &id, 8).await;
    let mut per_event: BTreeMap<(String, String), usize> = BTreeMap::new();
    for call in receiver.calls().iter().filter(|c| c.answered == 200) {
        *per_event
            .entry((call.hook.clone(), call.event_id.clone()))
            .or_default() += 1;
    }
    assert_eq!(per_event.len(), 6, "{per_event:?}");
    assert!(per_event.values().all(|count| *count == 1), "{per_event:?}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_get_only_the_services_severities_and_events_they_asked_for() {
    let (receiver, hooks) = Receiver::start(&[]).await;
    let webhooks = format!(
        r#"
        [[webhook]]
        name = "billing-team"
        url = "{hooks}/billing"
        format = "json"
        services = ["billing"]

        [[webhook]]
        name = "pager"
        url = "{hooks}/pager"
        format = "json"
        min_severity = "critical"

        [[webhook]]
        name = "resolutions"
        url = "{hooks}/resolutions"
        format = "slack"
        events = ["incident.resolved"]

        [[webhook]]
        name = "everything"
        url = "{hooks}/everything"
        format = "json"
        "#
    );
    let app = spawn_notifying(Backend::Embedded, |config| {
        config.notify = Some(notify_config(&webhooks, ""));
    })
    .await;
    // Checkout (warning) fires and resolves.
    app.notify(FIRING).await;
    app.notify(ONE_RESOLVED).await;
    app.notify(ALL_RESOLVED).await;
    let calls = receiver
        .wait_until("checkout opened and resolved", |calls| {
            delivered(calls, "everything", "incident.resolved") == 1
                && delivered(calls, "resolutions", "incident.resolved") == 1
        })
        .await;
    let events = |hook: &str| -> Vec<String> {
        calls
            .iter()
            .filter(|c| c.hook == hook)
            .map(|c| c.event.clone())
            .collect()
    };
    assert_eq!(
        events("everything"),
        ["incident.opened", "incident.resolved"]
    );
    assert_eq!(events("resolutions"), ["incident.resolved"]);
    assert!(events("billing").is_empty(), "checkout is not billing");
    assert!(events("pager").is_empty(), "warning is below critical");

    // Billing (critical) fires: the billing team and the pager hear of it.
    app.notify(BILLING_FIRING).await;
    let calls = receiver
        .wait_until("billing opened", |calls| {
            delivered(calls, "billing", "incident.opened") == 1
                && delivered(calls, "pager", "incident.opened") == 1
                && delivered(calls, "everything", "incident.opened") == 2
        })
        .await;
    assert!(calls
        .iter()
        .all(|c| c.hook != "resolutions" || c.event == "incident.resolved"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unacknowledged_incident_is_notified_once_as_overdue_and_an_acknowledged_one_never() {
    let (receiver, hooks) = Receiver::start(&[]).await;
    let webhooks = format!(
        r#"
        [[webhook]]
        name = "overdue"
        url = "{hooks}/overdue"
        format = "json"
        events = ["incident.ack_overdue"]
        "#
    );
    let app = spawn_notifying(Backend::Embedded, |config| {
        config.ack_policy = aftermath_core::AckPolicy::uniform(1);
        config.notify = Some(notify_config(&webhooks, ""));
    })
    .await;
    app.notify(&webhook("Waiting", "w-1", false)).await;
    app.notify(&webhook("Handled", "h-1", false)).await;
    let handled = app
        .incidents("all")
        .await
        .into_iter()
        .find(|i| i["title"] == "Handled is failing")
        .unwrap();
    let reply = app
        .post(
            &format!("/v1/incidents/{}/ack", handled["id"].as_str().unwrap()),
            &app.alice,
            "{}",
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);

    let calls = receiver
        .wait_until("the overdue event", |calls| !calls.is_empty())
        .await;
    assert_eq!(calls[0].event, "incident.ack_overdue");
    assert_eq!(calls[0].body["incident"]["title"], "Waiting is failing");
    let waiting = calls[0].body["incident"]["id"].as_str().unwrap().to_owned();
    // Many scans later (one every 100 ms) it was still sent once.
    notifier_entries(&app, &waiting, 1).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let calls = receiver.calls();
    assert_eq!(calls.len(), 1, "{calls:#?}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_never_answers_slows_neither_ingest_nor_the_read_model() {
    let (receiver, hooks) = Receiver::start(&[("slow", &[Answer::Hang; 8])]).await;
    let webhooks = json_webhook(&hooks, "slow");
    let app = spawn_notifying(Backend::Embedded, |config| {
        // A long timeout: the first attempt hangs for the whole test.
        let mut notify = notify_config(&webhooks, "");
        notify.timeout_ms = 600_000;
        config.notify = Some(notify);
    })
    .await;
    app.notify(&webhook("First", "f-1", false)).await;
    receiver
        .wait_until("the first attempt", |calls| calls.len() == 1)
        .await;
    // While the notifier waits on the receiver, alerts are taken and folded, and
    // responders work.
    for n in 0..20 {
        app.notify(&webhook(&format!("Next{n}"), &format!("n-{n}"), false))
            .await;
    }
    let incidents = app.incidents("open").await;
    assert_eq!(incidents.len(), 21);
    let id = incidents[0]["id"].as_str().unwrap();
    let reply = app
        .post(&format!("/v1/incidents/{id}/ack"), &app.alice, "{}")
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(receiver.calls().len(), 1, "still on the first attempt");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_keeps_failing_is_given_up_on_and_the_timeline_says_so() {
    // Four 500s use up the attempts on the opened event; a 404 is permanent, so the
    // resolution is given up at once; the receiver then takes the next incident.
    let (receiver, hooks) = Receiver::start(&[(
        "ops",
        &[
            Answer::Status(500),
            Answer::Status(500),
            Answer::Status(500),
            Answer::Status(500),
            Answer::Status(404),
        ],
    )])
    .await;
    let webhooks = json_webhook(&hooks, "ops");
    let app = spawn_notifying(Backend::Embedded, |config| {
        config.notify = Some(notify_config(&webhooks, ""));
    })
    .await;
    app.notify(&webhook("Given", "g-1", false)).await;
    let id = app.only_incident().await["id"].as_str().unwrap().to_owned();
    receiver
        .wait_until("four failed attempts", |calls| calls.len() == 4)
        .await;
    let entries = notifier_entries(&app, &id, 4).await;
    assert_eq!(
        entries.last().unwrap().1,
        "Notifying ops of incident.opened failed (attempt 4): HTTP 500; gave up"
    );
    app.notify(&webhook("Given", "g-1", true)).await;
    receiver
        .wait_until("the refused resolution", |calls| calls.len() == 5)
        .await;
    let entries = notifier_entries(&app, &id, 5).await;
    assert_eq!(
        entries.last().unwrap().1,
        "Notifying ops of incident.resolved failed (attempt 1): HTTP 404; gave up"
    );
    app.notify(&webhook("Later", "l-1", false)).await;
    receiver
        .wait_until("the later incident", |calls| {
            delivered(calls, "ops", "incident.opened") == 1
        })
        .await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notifier_stopped_while_retrying_delivers_after_the_restart_and_nothing_twice() {
    // The first incident is taken; the second is refused once, and the retry waits a
    // minute: the app is restarted in that minute.
    let (receiver, hooks) =
        Receiver::start(&[("ops", &[Answer::Status(200), Answer::Status(503)])]).await;
    let webhooks = json_webhook(&hooks, "ops");
    let app = spawn_notifying(Backend::Embedded, |config| {
        let mut notify = notify_config(&webhooks, "");
        notify.initial_backoff_ms = 60_000;
        config.notify = Some(notify);
    })
    .await;
    app.notify(&webhook("Earlier", "e-1", false)).await;
    receiver
        .wait_until("the earlier incident", |calls| calls.len() == 1)
        .await;
    app.notify(&webhook("Pending", "p-1", false)).await;
    receiver
        .wait_until("the refused attempt", |calls| calls.len() == 2)
        .await;

    let app = app
        .restart_with(|config| {
            config.notify.as_mut().unwrap().initial_backoff_ms = 20;
        })
        .await;
    let calls = receiver
        .wait_until("the pending incident after the restart", |calls| {
            delivered(calls, "ops", "incident.opened") == 2
        })
        .await;
    let titles: Vec<(&str, u16)> = calls
        .iter()
        .map(|c| (c.body["incident"]["title"].as_str().unwrap(), c.answered))
        .collect();
    assert_eq!(
        titles,
        [
            ("Earlier is failing", 200),
            ("Pending is failing", 503),
            ("Pending is failing", 200)
        ]
    );
    let pending = calls[2].body["incident"]["id"].as_str().unwrap().to_owned();
    let entries = notifier_entries(&app, &pending, 2).await;
    assert_eq!(
        entries
            .iter()
            .map(|(kind, _)| kind.as_str())
            .collect::<Vec<_>>(),
        ["notification_failed", "notification_sent"]
    );
    // One more incident goes out once; nothing earlier is sent again.
    app.notify(&webhook("AfterRestart", "a-1", false)).await;
    let calls = receiver
        .wait_until("the incident after the restart", |calls| calls.len() == 4)
        .await;
    assert_eq!(
        calls[3].body["incident"]["title"],
        "AfterRestart is failing"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.calls().len(), 4);
    app.stop().await;
}

#[test]
fn notify_configs_with_mistakes_are_refused_with_the_reason() {
    let refused = |text: &str| format!("{:#}", NotifyConfig::parse(text).unwrap_err());
    let hook = |extra: &str| {
        format!(
            "[[webhook]]\nname = \"a\"\nurl = \"http://127.0.0.1:1/x\"\nformat = \"json\"\n{extra}"
        )
    };
    assert!(refused(&hook("format2 = 1")).contains("unknown field `format2`"));
    assert!(refused(&hook("min_severity = \"urgent\"")).contains("urgent"));
    assert!(refused(&hook("events = [\"incident.closed\"]")).contains("incident.closed"));
    assert!(refused(&format!("{}\n{}", hook(""), hook(""))).contains("already called \"a\""));
    assert!(
        refused(&hook("").replace("http://127.0.0.1:1/x", "ftp://x/y")).contains("http or https")
    );
    assert!(refused("max_attempts = 0").contains("at least 1"));
    let parsed = NotifyConfig::parse(&hook("services = [\"checkout\"]")).unwrap();
    assert_eq!(parsed.max_attempts, 5, "the default");
    assert_eq!(parsed.webhooks[0].services.len(), 1);
}
