//! The benchmarks' inputs, built from the repository's own fixtures and classification
//! corpus: captured webhook bodies, notifications derived from them, the SOP's worked
//! incident as facts, and a quarter's worth of incidents for the metrics summary.

use std::collections::BTreeMap;

use aftermath_core::{
    incident_id_for, normalize_alertmanager, normalize_generic, Acknowledged, ActionItemAdded,
    ActionItemDone, ActionItemKind, EvidenceText, Fact, FactBody, ImpactRecorded, Incident,
    Mitigated, Projection, Resolved, RootCauseStated, Timestamp, WhyAdded,
};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

pub const ALERTMANAGER_FIXTURES: [&str; 7] = [
    include_str!("../../../../tests/fixtures/alertmanager/01-checkout-firing.json"),
    include_str!("../../../../tests/fixtures/alertmanager/02-checkout-firing-repeat.json"),
    include_str!("../../../../tests/fixtures/alertmanager/03-checkout-one-resolved.json"),
    include_str!("../../../../tests/fixtures/alertmanager/04-checkout-all-resolved.json"),
    include_str!("../../../../tests/fixtures/alertmanager/05-billing-firing.json"),
    include_str!("../../../../tests/fixtures/alertmanager/06-billing-resolved.json"),
    include_str!("../../../../tests/fixtures/alertmanager/07-checkout-firing-again.json"),
];
pub const CHECKOUT_FIRING: &str = ALERTMANAGER_FIXTURES[0];
pub const CHECKOUT_FIRING_REPEAT: &str = ALERTMANAGER_FIXTURES[1];
pub const GRAFANA_FIRING: &str = include_str!("../../../../tests/fixtures/grafana/firing.json");
pub const PAGERDUTY_TRIGGER: &str =
    include_str!("../../../../tests/fixtures/pagerduty/trigger.json");
pub const PAGERDUTY_CHANGE: &str = include_str!("../../../../tests/fixtures/pagerduty/change.json");
pub const GENERIC_FIRING: &str =
    include_str!("../../../../tests/fixtures/generic/01-checkout-firing.json");
pub const CLOUDEVENT_FIRING: &str =
    include_str!("../../../../tests/fixtures/cloudevents/01-structured-firing.json");
pub const CLOUDEVENTS_BATCH: &str =
    include_str!("../../../../tests/fixtures/cloudevents/03-batch-two-keys.json");
pub const GITHUB_JOB_FAILED: &str =
    include_str!("../../../../tests/fixtures/github/workflow_job.completed.failure.json");
pub const GITHUB_RUN_FAILED: &str =
    include_str!("../../../../tests/fixtures/github/workflow_run.completed.failure.json");
const CORPUS: &str = include_str!("../../../../tests/fixtures/classification/corpus.jsonl");

/// The tenant (ingest token id) that scopes generic, CloudEvents and PagerDuty streams.
pub const TENANT: &str = "8d6f3c1e-1111-4222-8333-944445555666";

pub fn at(text: &str) -> Timestamp {
    Timestamp::parse(text).expect("a valid RFC 3339 time")
}

/// `seconds` after `base`.
pub fn plus(base: Timestamp, seconds: i64) -> Timestamp {
    Timestamp::from_unix_seconds(base.datetime().unix_timestamp() + seconds)
        .expect("a time within range")
}

pub fn received_at() -> Timestamp {
    at("2026-11-24T07:03:12Z")
}

/// Alerts in an Alertmanager body, which is what its normalizer's throughput counts.
pub fn alert_count(alertmanager_body: &str) -> u64 {
    let body: Value = serde_json::from_str(alertmanager_body).expect("a JSON body");
    body["alerts"]
        .as_array()
        .map_or(0, |alerts| alerts.len() as u64)
}

/// One group of 100 firing alerts, each shaped like the captured checkout alert with its
/// own instance and fingerprint: a large notification, well within Alertmanager's limits.
pub fn hundred_alert_notification() -> String {
    let mut body: Value = serde_json::from_str(CHECKOUT_FIRING).expect("a JSON fixture");
    let template = body["alerts"][0].clone();
    let alerts: Vec<Value> = (0..100)
        .map(|n| {
            let mut alert = template.clone();
            alert["labels"]["instance"] = json!(format!("checkout-{n}:8080"));
            alert["fingerprint"] = json!(format!("{n:016x}"));
            alert
        })
        .collect();
    body["alerts"] = Value::Array(alerts);
    body.to_string()
}

/// The fold benchmark's first workload: 100 captured checkout notifications, each in a
/// group of its own.
pub fn checkout_notifications() -> Vec<String> {
    (0..100).map(checkout_notification_of_group).collect()
}

/// The captured checkout notification, moved to a group of its own for each `group`, so
/// that each one opens a new incident.
fn checkout_notification_of_group(group: usize) -> String {
    let mut body: Value = serde_json::from_str(CHECKOUT_FIRING).expect("a JSON fixture");
    body["groupKey"] = json!(format!(
        "{{}}:{{alertname=\"HighErrorRate\", service=\"checkout-{group}\"}}"
    ));
    for alert in body["alerts"].as_array_mut().expect("alerts") {
        let fingerprint = alert["fingerprint"].as_str().expect("a fingerprint");
        alert["fingerprint"] = json!(format!("{fingerprint}-{group}"));
    }
    body.to_string()
}

/// One line of the classification corpus (format in
/// `tests/fixtures/classification/README.md`).
#[derive(Deserialize)]
pub struct CorpusLine {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub notes: Vec<String>,
}

impl CorpusLine {
    /// What an alert brings to the classifier: its labels and annotations.
    pub fn alert_texts(&self) -> Vec<EvidenceText> {
        let labels = self
            .labels
            .iter()
            .map(|(name, value)| EvidenceText::label(name, value));
        let annotations = self
            .annotations
            .iter()
            .map(|(name, value)| EvidenceText::annotation(name, value));
        labels.chain(annotations).collect()
    }

    pub fn note_texts(&self) -> Vec<EvidenceText> {
        self.notes.iter().map(EvidenceText::note).collect()
    }

    /// Everything known about the incident, as `classify` takes it.
    pub fn texts(&self) -> Vec<EvidenceText> {
        let mut texts = self.alert_texts();
        texts.extend(self.note_texts());
        texts
    }

    /// An Alertmanager notification of this line's alert, firing or resolved, in a group of
    /// its own (`group`), started at `starts_at`.
    pub fn alertmanager_notification(
        &self,
        group: usize,
        starts_at: Timestamp,
        ends_at: Option<Timestamp>,
    ) -> String {
        let status = if ends_at.is_some() {
            "resolved"
        } else {
            "firing"
        };
        let alertname = self
            .labels
            .get("alertname")
            .map_or("CorpusAlert", String::as_str);
        json!({
            "version": "4", "status": status, "receiver": "aftermath",
            "groupKey": format!("{{}}:{{alertname=\"{alertname}\", corpus=\"{group}\"}}"),
            "truncatedAlerts": 0,
            "groupLabels": {"alertname": alertname},
            "commonLabels": self.labels,
            "commonAnnotations": {"summary": self.annotations.get("summary")},
            "externalURL": "http://alertmanager.example:9093",
            "alerts": [{
                "status": status,
                "labels": self.labels,
                "annotations": self.annotations,
                "startsAt": starts_at.to_string(),
                "endsAt": ends_at.map_or("0001-01-01T00:00:00Z".to_owned(), |t| t.to_string()),
                "generatorURL": "http://prometheus.example/graph",
                "fingerprint": format!("corpus-{group}")
            }]
        })
        .to_string()
    }
}

pub fn corpus() -> Vec<CorpusLine> {
    CORPUS
        .lines()
        .enumerate()
        .map(|(n, text)| {
            serde_json::from_str(text).unwrap_or_else(|e| panic!("corpus line {}: {e}", n + 1))
        })
        .collect()
}

/// Facts of every notification in order, as the log holds them.
pub fn alertmanager_facts(bodies: &[String]) -> Vec<Fact> {
    bodies
        .iter()
        .flat_map(|body| {
            normalize_alertmanager(body.as_bytes(), received_at()).expect("a valid notification")
        })
        .collect()
}

/// What the fold hands the classifier for each `alert.notified` fact: its labels and
/// annotations.
pub fn alert_texts(facts: &[Fact]) -> Vec<Vec<EvidenceText>> {
    facts
        .iter()
        .filter_map(|fact| match &fact.body {
            FactBody::AlertNotified(alert) => {
                let labels = alert
                    .labels
                    .iter()
                    .map(|(name, value)| EvidenceText::label(name, value));
                let annotations = alert
                    .annotations
                    .iter()
                    .map(|(name, value)| EvidenceText::annotation(name, value));
                Some(labels.chain(annotations).collect())
            }
            _ => None,
        })
        .collect()
}

/// The projection after folding `facts`.
pub fn folded(facts: &[Fact]) -> Projection {
    let mut projection = Projection::default();
    for fact in facts {
        projection.apply(fact);
    }
    projection
}

/// The captured checkout group re-reported once a minute by a sender that stamps each
/// repeat with a new time (generic JSON, PagerDuty): every repeat is a new fact id whose
/// alert the incident already holds as firing.
pub fn generic_repeats(count: usize) -> Vec<Fact> {
    let mut event: Value = serde_json::from_str(GENERIC_FIRING).expect("a JSON fixture");
    let first = at("2026-11-24T07:00:00Z");
    (0..count)
        .flat_map(|minute| {
            event["occurred_at"] = json!(plus(first, 60 * minute as i64).to_string());
            let body = event.to_string();
            let at = plus(first, 60 * minute as i64 + 2);
            normalize_generic(body.as_bytes(), TENANT, at)
                .expect("a valid generic event")
                .facts
        })
        .collect()
}

/// The SOP's example "Post-Mortem: Connection Pool Exhaustion" as facts (the same story as
/// `tests/postmortem.rs`): the alert that opens the incident, then the responders' work
/// (acknowledge, five whys, root cause, mitigate, resolve, the alert's resolution, impact,
/// six action items of which three are done).
pub struct WorkedIncident {
    pub opening: Vec<Fact>,
    pub workflow: Vec<Fact>,
    pub incident_id: Uuid,
}

pub fn connection_pool_exhaustion() -> WorkedIncident {
    let line = CorpusLine {
        labels: BTreeMap::from([
            ("alertname".to_owned(), "ApiDatabaseTimeouts".to_owned()),
            ("service".to_owned(), "api".to_owned()),
            ("severity".to_owned(), "critical".to_owned()),
        ]),
        annotations: BTreeMap::from([
            (
                "summary".to_owned(),
                "API requests time out waiting for a database connection".to_owned(),
            ),
            (
                "description".to_owned(),
                "pool exhausted: 50/50 connections in use".to_owned(),
            ),
        ]),
        notes: Vec::new(),
    };
    let started = at("2026-11-24T10:23:00Z");
    let opening = normalize_alertmanager(
        line.alertmanager_notification(0, started, None).as_bytes(),
        at("2026-11-24T10:23:20Z"),
    )
    .expect("a valid notification");
    let incident_id = incident_id_for(opening[0].fact_id);

    let mut workflow = Workflow {
        stream_key: opening[0].stream_key.clone(),
        facts: Vec::new(),
    };
    let mut respond = |when: &str, body: FactBody| workflow.respond(at(when), body);
    respond(
        "2026-11-24T10:28:00Z",
        FactBody::Acknowledged(Acknowledged {
            incident_id,
            actor: "opencode".into(),
            note: Some("investigating; joined the incident channel".into()),
        }),
    );
    let whys = [
        ("Why did the API fail?", "Database connection timeout"),
        ("Why did the timeout occur?", "Connection pool exhausted"),
        (
            "Why was the pool exhausted?",
            "Leaked connections not closed",
        ),
        (
            "Why weren't they closed?",
            "Missing finally block in worker.py:145",
        ),
        ("Why was it missing?", "Code review didn't catch it"),
    ];
    for (index, (question, answer)) in whys.into_iter().enumerate() {
        respond(
            &format!("2026-11-24T10:{}:00Z", 35 + index * 2),
            FactBody::WhyAdded(WhyAdded {
                incident_id,
                actor: "opencode".into(),
                question: question.into(),
                answer: answer.into(),
            }),
        );
    }
    respond(
        "2026-11-24T10:45:00Z",
        FactBody::RootCauseStated(RootCauseStated {
            incident_id,
            actor: "opencode".into(),
            text: Some(
                "Connection leak in worker.py line 145 - connections not properly closed".into(),
            ),
        }),
    );
    respond(
        "2026-11-24T10:52:00Z",
        FactBody::Mitigated(Mitigated {
            incident_id,
            actor: "opencode".into(),
            note: Some("hotfix/connection-leak deployed to production".into()),
        }),
    );
    respond(
        "2026-11-24T11:05:30Z",
        FactBody::Resolved(Resolved {
            incident_id,
            actor: "molt".into(),
            resolution: Some("Added proper connection cleanup with try/finally block".into()),
        }),
    );
    workflow.facts.extend(
        normalize_alertmanager(
            line.alertmanager_notification(0, started, Some(at("2026-11-24T11:05:00Z")))
                .as_bytes(),
            at("2026-11-24T11:06:00Z"),
        )
        .expect("a valid notification"),
    );
    let mut respond = |when: &str, body: FactBody| workflow.respond(at(when), body);
    respond(
        "2026-11-24T11:20:00Z",
        FactBody::ImpactRecorded(ImpactRecorded {
            incident_id,
            actor: "molt".into(),
            summary: "API requests failed while the pool was exhausted".into(),
            users_affected: None,
            failed_requests: Some(156),
            data_loss: false,
            customer_facing: true,
            downtime_seconds: None,
        }),
    );
    let items = [
        (
            "Add connection pool monitoring",
            "molt",
            ActionItemKind::Prevent,
            true,
        ),
        (
            "Update code review checklist",
            "opencode",
            ActionItemKind::Process,
            true,
        ),
        (
            "Add integration test for connection cleanup",
            "opencode",
            ActionItemKind::Prevent,
            true,
        ),
        (
            "Audit all database connection usage",
            "opencode",
            ActionItemKind::Prevent,
            false,
        ),
        (
            "Add pool exhaustion alert",
            "molt",
            ActionItemKind::Mitigate,
            false,
        ),
        (
            "Update developer docs",
            "opencode",
            ActionItemKind::Process,
            false,
        ),
    ];
    for (index, (title, owner, kind, done)) in items.into_iter().enumerate() {
        let action_item_id = Uuid::from_u128(900 + index as u128);
        respond(
            &format!("2026-11-24T11:{}:00Z", 30 + index),
            FactBody::ActionItemAdded(ActionItemAdded {
                incident_id,
                actor: "molt".into(),
                action_item_id,
                title: title.into(),
                owner: owner.into(),
                kind,
                due: Some("2026-12-01".into()),
            }),
        );
        if done {
            respond(
                &format!("2026-11-24T12:{}:00Z", 10 + index),
                FactBody::ActionItemDone(ActionItemDone {
                    incident_id,
                    actor: owner.into(),
                    action_item_id,
                }),
            );
        }
    }
    WorkedIncident {
        opening,
        workflow: workflow.facts,
        incident_id,
    }
}

/// Responders' facts on one incident's stream, numbered in order.
struct Workflow {
    stream_key: String,
    facts: Vec<Fact>,
}

impl Workflow {
    fn respond(&mut self, when: Timestamp, body: FactBody) {
        self.facts.push(Fact {
            fact_id: Uuid::from_u128(100 + self.facts.len() as u128),
            stream_key: self.stream_key.clone(),
            occurred_at: when,
            recorded_at: when,
            body,
        });
    }
}

/// The first Monday of the quarter the summary benchmarks cover.
pub fn quarter_start() -> Timestamp {
    at("2026-09-07T00:00:00Z")
}

/// 13 weeks.
pub const QUARTER_SECONDS: i64 = 13 * 7 * 24 * 60 * 60;

/// `count` incidents opened evenly over the quarter, each by a corpus line's alert (so the
/// classes and services are the corpus's mix), most acknowledged and resolved after varied
/// delays, as the fold leaves them.
pub fn quarter_of_incidents(corpus: &[CorpusLine], count: usize) -> Vec<Incident> {
    let spacing = QUARTER_SECONDS / count as i64;
    let mut projection = Projection::default();
    for n in 0..count {
        let line = &corpus[n % corpus.len()];
        let opened = plus(quarter_start(), spacing * n as i64);
        // Varied, deterministic delays: every fifth incident is never acknowledged and
        // every fourth stays open, so the SLA and open counts are not trivial.
        let facts = normalize_alertmanager(
            line.alertmanager_notification(n, plus(opened, -((n % 7) as i64) * 30), None)
                .as_bytes(),
            opened,
        )
        .expect("a valid notification");
        let incident_id = incident_id_for(facts[0].fact_id);
        let stream_key = facts[0].stream_key.clone();
        for fact in &facts {
            projection.apply(fact);
        }
        let responder_fact = |offset: u128, seconds: i64, body: FactBody| Fact {
            fact_id: Uuid::from_u128(((n as u128) << 8) + offset),
            stream_key: stream_key.clone(),
            occurred_at: plus(opened, seconds),
            recorded_at: plus(opened, seconds),
            body,
        };
        if n % 5 != 0 {
            projection.apply(&responder_fact(
                1,
                60 + (n as i64 * 37) % 900,
                FactBody::Acknowledged(Acknowledged {
                    incident_id,
                    actor: "oncall".into(),
                    note: None,
                }),
            ));
        }
        if n % 4 != 0 {
            projection.apply(&responder_fact(
                2,
                1_200 + (n as i64 * 131) % 10_800,
                FactBody::Resolved(Resolved {
                    incident_id,
                    actor: "oncall".into(),
                    resolution: None,
                }),
            ));
        }
    }
    projection.incidents.into_values().collect()
}
