//! Given / when / then tests of outbound notifications: which events a folded fact
//! causes, the overdue event, which webhooks want them, the bodies, and how delivery
//! records fold onto the incident.

use aftermath_core::{
    ack_overdue_event, events_for_fact, normalize_alertmanager, AckPolicy, Acknowledged, Fact,
    FactBody, FoldOutcome, Incident, NotificationAttempted, OutboundEventKind, Projection,
    Resolved, Severity, SeverityChanged, TimelineKind, Timestamp, WebhookFormat, WebhookTarget,
};
use serde_json::Value;
use uuid::Uuid;

const FIRING: &str = include_str!("../../../tests/fixtures/alertmanager/01-checkout-firing.json");
const ONE_RESOLVED: &str =
    include_str!("../../../tests/fixtures/alertmanager/03-checkout-one-resolved.json");
const ALL_RESOLVED: &str =
    include_str!("../../../tests/fixtures/alertmanager/04-checkout-all-resolved.json");
const FIRING_AGAIN: &str =
    include_str!("../../../tests/fixtures/alertmanager/07-checkout-firing-again.json");

const OPENED_AT: i64 = 1_795_000_001;

struct Given {
    projection: Projection,
    second: i64,
}

impl Given {
    /// Given an incident opened by a real Alertmanager notification; returns the facts.
    fn opened() -> (Self, Uuid, Vec<Fact>) {
        let mut given = Self {
            projection: Projection::default(),
            second: OPENED_AT - 1,
        };
        let facts = given.notify(FIRING);
        let id = *given.projection.incidents.keys().next().unwrap();
        (given, id, facts)
    }

    fn at(&mut self) -> Timestamp {
        self.second += 1;
        Timestamp::from_unix_seconds(self.second).unwrap()
    }

    fn notify(&mut self, body: &str) -> Vec<Fact> {
        let facts = normalize_alertmanager(body.as_bytes(), self.at()).unwrap();
        for fact in &facts {
            self.projection.apply(fact);
        }
        facts
    }

    fn respond(&mut self, incident_id: Uuid, body: FactBody) -> Fact {
        let at = self.at();
        let fact = Fact {
            fact_id: Uuid::from_u128(self.second as u128),
            stream_key: self.projection.incidents[&incident_id].stream_key.clone(),
            occurred_at: at,
            recorded_at: at,
            body,
        };
        self.projection.apply(&fact);
        fact
    }

    fn incident(&self, id: Uuid) -> &Incident {
        &self.projection.incidents[&id]
    }

    fn kinds_for(&self, id: Uuid, fact: &Fact) -> Vec<OutboundEventKind> {
        events_for_fact(self.incident(id), fact.fact_id)
            .into_iter()
            .map(|event| event.kind)
            .collect()
    }
}

fn severity(incident_id: Uuid, to: Severity) -> FactBody {
    FactBody::SeverityChanged(SeverityChanged {
        incident_id,
        actor: "alice".into(),
        severity: to,
        reason: "checkout is down for everyone".into(),
    })
}

fn attempt(incident_id: Uuid, event_id: Uuid, number: u32, delivered: bool) -> FactBody {
    FactBody::NotificationAttempted(NotificationAttempted {
        incident_id,
        event_id,
        event: OutboundEventKind::Opened,
        target: "ops-slack".into(),
        attempt: number,
        delivered,
        status: Some(if delivered { 200 } else { 503 }),
        error: None,
        last: delivered,
    })
}

fn target(format: WebhookFormat) -> WebhookTarget {
    WebhookTarget {
        name: "ops".into(),
        url: "http://127.0.0.1:9/hook".into(),
        format,
        services: Default::default(),
        min_severity: None,
        events: Default::default(),
    }
}

#[test]
fn the_opening_alert_causes_one_opened_event_and_the_other_alerts_none() {
    let (given, id, facts) = Given::opened();
    let opening = facts
        .iter()
        .find(|fact| given.incident(id).timeline[0].fact_id == fact.fact_id)
        .unwrap();
    assert_eq!(given.kinds_for(id, opening), [OutboundEventKind::Opened]);
    let others: Vec<_> = facts
        .iter()
        .filter(|fact| fact.fact_id != opening.fact_id)
        .flat_map(|fact| given.kinds_for(id, fact))
        .collect();
    assert!(others.is_empty(), "{others:?}");
}

#[test]
fn the_opened_event_routes_by_the_opening_severity_even_after_an_escalation() {
    let (mut given, id, facts) = Given::opened();
    let opening_severity = given.incident(id).severity;
    assert_ne!(opening_severity, Severity::Info);
    given.respond(id, severity(id, Severity::Info));
    let events = events_for_fact(given.incident(id), facts[0].fact_id);
    assert_eq!(events[0].severity, opening_severity);
}

#[test]
fn raising_the_severity_is_an_escalation_and_lowering_it_is_not() {
    let (mut given, id, _) = Given::opened();
    let lowered = given.respond(id, severity(id, Severity::Info));
    assert!(given.kinds_for(id, &lowered).is_empty());
    let raised = given.respond(id, severity(id, Severity::Critical));
    let events = events_for_fact(given.incident(id), raised.fact_id);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, OutboundEventKind::SeverityEscalated);
    assert_eq!(events[0].severity, Severity::Critical);
    assert_eq!(
        events[0].summary,
        "Severity raised from info to critical by alice: checkout is down for everyone"
    );
    // The same severity again is a conflict on the timeline: no event.
    let repeated = given.respond(id, severity(id, Severity::Critical));
    assert_eq!(
        given.incident(id).timeline.last().unwrap().kind,
        TimelineKind::Conflict
    );
    assert!(given.kinds_for(id, &repeated).is_empty());
}

#[test]
fn a_person_resolving_and_the_alerts_resolving_both_cause_a_resolved_event() {
    let (mut given, id, _) = Given::opened();
    let resolved = given.respond(
        id,
        FactBody::Resolved(Resolved {
            incident_id: id,
            actor: "bob".into(),
            resolution: Some("rolled back".into()),
        }),
    );
    assert_eq!(
        given.kinds_for(id, &resolved),
        [OutboundEventKind::Resolved]
    );

    let (mut given, id, _) = Given::opened();
    let mut resolving = given.notify(ONE_RESOLVED);
    resolving.extend(given.notify(ALL_RESOLVED));
    let kinds: Vec<_> = resolving
        .iter()
        .flat_map(|fact| given.kinds_for(id, fact))
        .collect();
    assert_eq!(kinds, [OutboundEventKind::Resolved]);
}

#[test]
fn an_acknowledgement_causes_no_event_and_a_conflict_causes_none_either() {
    let (mut given, id, _) = Given::opened();
    let ack = |actor: &str| {
        FactBody::Acknowledged(Acknowledged {
            incident_id: id,
            actor: actor.into(),
            note: None,
        })
    };
    let first = given.respond(id, ack("alice"));
    let second = given.respond(id, ack("bob"));
    assert!(given.kinds_for(id, &first).is_empty());
    assert!(given.kinds_for(id, &second).is_empty());
}

#[test]
fn event_ids_are_the_same_on_a_replay_and_differ_between_events() {
    let (mut given, id, facts) = Given::opened();
    let raised = given.respond(id, severity(id, Severity::Critical));
    let opened = events_for_fact(given.incident(id), facts[0].fact_id)[0].id;
    let escalated = events_for_fact(given.incident(id), raised.fact_id)[0].id;
    assert_ne!(opened, escalated);

    let mut replay = Projection::default();
    for fact in &facts {
        replay.apply(fact);
    }
    replay.apply(&raised);
    assert_eq!(
        events_for_fact(&replay.incidents[&id], facts[0].fact_id)[0].id,
        opened
    );
    assert_eq!(
        events_for_fact(&replay.incidents[&id], raised.fact_id)[0].id,
        escalated
    );
}

#[test]
fn the_group_firing_again_opens_an_incident_that_knows_the_previous_one() {
    let (mut given, first, _) = Given::opened();
    given.notify(ONE_RESOLVED);
    given.notify(ALL_RESOLVED);
    given.notify(FIRING_AGAIN);
    let second = *given
        .projection
        .incidents
        .keys()
        .find(|id| **id != first)
        .unwrap();
    assert_eq!(given.incident(second).previous_incident, Some(first));
    assert_eq!(given.incident(first).previous_incident, None);
}

#[test]
fn ack_overdue_only_for_an_unanswered_incident_past_its_due_time() {
    let (mut given, id, _) = Given::opened();
    let policy = AckPolicy::uniform(5 * 60);
    let at = |seconds: i64| Timestamp::from_unix_seconds(OPENED_AT + seconds).unwrap();
    assert_eq!(
        ack_overdue_event(given.incident(id), &policy, at(300)),
        None
    );
    let overdue = ack_overdue_event(given.incident(id), &policy, at(301)).unwrap();
    assert_eq!(overdue.kind, OutboundEventKind::AckOverdue);
    assert_eq!(overdue.at, at(300));
    assert_eq!(
        overdue.id,
        ack_overdue_event(given.incident(id), &policy, at(9_000))
            .unwrap()
            .id,
        "one overdue event per incident, whenever it is noticed"
    );
    given.respond(
        id,
        FactBody::Acknowledged(Acknowledged {
            incident_id: id,
            actor: "alice".into(),
            note: None,
        }),
    );
    assert_eq!(
        ack_overdue_event(given.incident(id), &policy, at(9_000)),
        None
    );
}

#[test]
fn targets_filter_by_service_severity_and_event() {
    let (given, id, facts) = Given::opened();
    let incident = given.incident(id);
    let event = &events_for_fact(incident, facts[0].fact_id)[0];
    let service = incident
        .service
        .clone()
        .expect("the fixture names a service");

    let mut every = target(WebhookFormat::Json);
    assert!(every.wants(event, incident));
    every.services = [service.clone()].into();
    assert!(every.wants(event, incident));
    every.services = ["billing".to_owned()].into();
    assert!(!every.wants(event, incident), "another service");

    let mut severe = target(WebhookFormat::Json);
    severe.min_severity = Some(event.severity);
    assert!(severe.wants(event, incident));
    severe.min_severity = Some(Severity::Critical);
    assert_eq!(
        severe.wants(event, incident),
        event.severity == Severity::Critical
    );

    let mut resolved_only = target(WebhookFormat::Json);
    resolved_only.events = [OutboundEventKind::Resolved].into();
    assert!(!resolved_only.wants(event, incident));
}

#[test]
fn the_slack_body_escapes_alert_text_and_links_the_incident() {
    let (mut given, id, facts) = Given::opened();
    let incident = given.projection.incidents.get_mut(&id).unwrap();
    incident.title = "<!channel> & <script>alert(1)</script>".into();
    let incident = given.incident(id).clone();
    let event = &events_for_fact(&incident, facts[0].fact_id)[0];
    let body = target(WebhookFormat::Slack).body(event, &incident, "https://am.example/i/1");
    let section = body["blocks"][0]["text"]["text"].as_str().unwrap();
    assert!(
        section.starts_with(
            "*Incident opened*: <https://am.example/i/1|&lt;!channel&gt; &amp; &lt;script&gt;"
        ),
        "{section}"
    );
    assert!(!section.contains("<!channel>"));
    assert_eq!(body["blocks"][1]["type"], "context");
    assert!(body["text"]
        .as_str()
        .unwrap()
        .starts_with("Incident opened: "));
}

#[test]
fn the_json_body_names_the_event_and_the_incident() {
    let (given, id, facts) = Given::opened();
    let incident = given.incident(id);
    let event = &events_for_fact(incident, facts[0].fact_id)[0];
    let body = target(WebhookFormat::Json).body(event, incident, "https://am.example/i/1");
    assert_eq!(body["version"], 1);
    assert_eq!(body["event"], "incident.opened");
    assert_eq!(body["event_id"], Value::String(event.id.to_string()));
    assert_eq!(body["incident"]["id"], Value::String(id.to_string()));
    assert_eq!(body["incident"]["status"], "triggered");
    assert_eq!(body["incident"]["url"], "https://am.example/i/1");
    assert_eq!(body["incident"]["title"], incident.title.as_str());
}

#[test]
fn delivery_attempts_go_on_the_timeline_and_a_delivery_is_remembered() {
    let (mut given, id, facts) = Given::opened();
    let event_id = events_for_fact(given.incident(id), facts[0].fact_id)[0].id;
    given.respond(id, attempt(id, event_id, 1, false));
    assert!(given.incident(id).delivered.is_empty());
    let entry = given.incident(id).timeline.last().unwrap().clone();
    assert_eq!(entry.kind, TimelineKind::NotificationFailed);
    assert_eq!(entry.actor, "aftermath-notifier");
    assert_eq!(
        entry.text,
        "Notifying ops-slack of incident.opened failed (attempt 1): HTTP 503; will retry"
    );

    let delivered = given.respond(id, attempt(id, event_id, 2, true));
    let entry = given.incident(id).timeline.last().unwrap().clone();
    assert_eq!(entry.kind, TimelineKind::NotificationSent);
    assert_eq!(
        entry.text,
        "Notified ops-slack of incident.opened (attempt 2)"
    );
    let remembered: Vec<_> = given
        .incident(id)
        .delivered
        .iter()
        .map(|d| (d.event_id, d.target.clone()))
        .collect();
    assert_eq!(remembered, [(event_id, "ops-slack".to_owned())]);

    // The same record delivered twice is folded once.
    let length = given.incident(id).timeline.len();
    assert_eq!(given.projection.apply(&delivered), FoldOutcome::Duplicate);
    assert_eq!(given.incident(id).timeline.len(), length);
}

#[test]
fn event_names_parse_in_long_and_short_form() {
    for kind in OutboundEventKind::ALL {
        assert_eq!(OutboundEventKind::parse(kind.as_str()), Some(kind));
        let short = kind.as_str().trim_start_matches("incident.");
        assert_eq!(OutboundEventKind::parse(short), Some(kind));
    }
    assert_eq!(OutboundEventKind::parse("incident.closed"), None);
}
