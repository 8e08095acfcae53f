//! Given / when / then tests of the incident fold, on notifications captured from a real
//! Alertmanager 0.25 (tests/fixtures/alertmanager) and on hand-made edge cases.

use aftermath_core::{
    incident_id_for, normalize_alertmanager, Acknowledged, Fact, FactBody, FoldOutcome, Incident,
    IncidentStatus, NoteAdded, Projection, Resolved, Severity, TimelineKind, Timestamp,
};
use uuid::Uuid;

const FIRING: &str = include_str!("../../../tests/fixtures/alertmanager/01-checkout-firing.json");
const REPEAT: &str =
    include_str!("../../../tests/fixtures/alertmanager/02-checkout-firing-repeat.json");
const ONE_RESOLVED: &str =
    include_str!("../../../tests/fixtures/alertmanager/03-checkout-one-resolved.json");
const ALL_RESOLVED: &str =
    include_str!("../../../tests/fixtures/alertmanager/04-checkout-all-resolved.json");
const BILLING_FIRING: &str =
    include_str!("../../../tests/fixtures/alertmanager/05-billing-firing.json");
const BILLING_RESOLVED: &str =
    include_str!("../../../tests/fixtures/alertmanager/06-billing-resolved.json");
const FIRING_AGAIN: &str =
    include_str!("../../../tests/fixtures/alertmanager/07-checkout-firing-again.json");

/// A projection with a clock for `recorded_at`, one second per notification.
struct Given {
    projection: Projection,
    second: i64,
}

impl Given {
    fn new() -> Self {
        Self {
            projection: Projection::default(),
            second: 1_795_000_000,
        }
    }

    fn at(&mut self) -> Timestamp {
        self.second += 1;
        Timestamp::from_unix_seconds(self.second).unwrap()
    }

    /// Folds a webhook body; returns its facts and what folding each did.
    fn notify(&mut self, body: &str) -> (Vec<Fact>, Vec<FoldOutcome>) {
        let facts = normalize_alertmanager(body.as_bytes(), self.at()).unwrap();
        let outcomes = facts.iter().map(|f| self.projection.apply(f)).collect();
        (facts, outcomes)
    }

    fn respond(&mut self, body: FactBody) -> FoldOutcome {
        let at = self.at();
        let stream_key = body
            .incident_id()
            .and_then(|id| self.projection.incidents.get(&id))
            .map(|incident| incident.stream_key.clone())
            .unwrap_or_else(|| "unknown".into());
        let fact = Fact {
            fact_id: Uuid::from_u128(self.second as u128),
            stream_key,
            occurred_at: at,
            recorded_at: at,
            body,
        };
        self.projection.apply(&fact)
    }

    fn incidents(&self) -> Vec<&Incident> {
        self.projection.incidents.values().collect()
    }

    fn only_incident(&self) -> &Incident {
        let incidents = self.incidents();
        assert_eq!(incidents.len(), 1, "expected exactly one incident");
        incidents[0]
    }

    fn kinds(&self) -> Vec<TimelineKind> {
        self.only_incident()
            .timeline
            .iter()
            .map(|e| e.kind)
            .collect()
    }
}

fn ack(incident_id: Uuid, actor: &str) -> FactBody {
    FactBody::Acknowledged(Acknowledged {
        incident_id,
        actor: actor.into(),
        note: None,
    })
}

fn resolve(incident_id: Uuid, actor: &str) -> FactBody {
    FactBody::Resolved(Resolved {
        incident_id,
        actor: actor.into(),
        resolution: Some("rolled back".into()),
    })
}

#[test]
fn a_firing_notification_opens_one_incident_with_its_alerts() {
    let mut given = Given::new();
    let (facts, _) = given.notify(FIRING);
    let incident = given.only_incident();
    assert_eq!(incident.id, incident_id_for(facts[0].fact_id));
    assert_eq!(incident.status, IncidentStatus::Triggered);
    assert_eq!(incident.title, "High HTTP 5xx error rate on checkout");
    assert_eq!(incident.severity, Severity::Warning);
    assert_eq!(incident.service.as_deref(), Some("checkout"));
    assert_eq!(incident.alerts.len(), 2);
    assert_eq!(incident.firing_alerts(), 2);
    assert!(incident
        .alerts
        .values()
        .all(|alert| alert.ends_at.is_none()));
    assert_eq!(
        given.kinds(),
        [
            TimelineKind::Opened,
            TimelineKind::AlertFiring,
            TimelineKind::AlertFiring
        ]
    );
}

#[test]
fn a_resent_notification_changes_nothing() {
    let mut given = Given::new();
    given.notify(FIRING);
    let before = given.projection.clone();
    let (_, outcomes) = given.notify(REPEAT);
    assert!(
        outcomes.iter().all(|o| *o == FoldOutcome::Duplicate),
        "{outcomes:?}"
    );
    assert_eq!(given.projection, before);
}

#[test]
fn one_resolved_alert_does_not_resolve_the_group_whatever_the_group_status_says() {
    let mut given = Given::new();
    given.notify(FIRING);
    given.notify(ONE_RESOLVED);
    let incident = given.only_incident();
    assert_eq!(incident.status, IncidentStatus::Triggered);
    assert_eq!(incident.firing_alerts(), 1);
    assert_eq!(given.kinds().last(), Some(&TimelineKind::AlertResolved));
}

#[test]
fn when_every_alert_is_resolved_the_incident_auto_resolves() {
    let mut given = Given::new();
    given.notify(FIRING);
    given.notify(ONE_RESOLVED);
    given.notify(ALL_RESOLVED);
    let incident = given.only_incident();
    assert_eq!(incident.status, IncidentStatus::Resolved);
    assert_eq!(incident.resolved_by.as_deref(), Some("alertmanager"));
    assert_eq!(incident.firing_alerts(), 0);
    assert_eq!(given.kinds().last(), Some(&TimelineKind::AutoResolved));
    // Downtime runs from the first alert's start to the last alert's end.
    let downtime = incident.downtime_seconds().unwrap();
    assert!(downtime > 0, "{downtime}");
}

#[test]
fn a_firing_alert_after_resolution_opens_a_new_incident() {
    let mut given = Given::new();
    given.notify(FIRING);
    given.notify(ONE_RESOLVED);
    given.notify(ALL_RESOLVED);
    let (facts, _) = given.notify(FIRING_AGAIN);
    let incidents = given.incidents();
    assert_eq!(incidents.len(), 2);
    let new_id = incident_id_for(facts[0].fact_id);
    let new = &given.projection.incidents[&new_id];
    assert_eq!(new.status, IncidentStatus::Triggered);
    let stream = &given.projection.streams[&new.stream_key];
    assert_eq!(stream.current_incident, Some(new_id));
    let resolved = incidents
        .iter()
        .filter(|i| i.status == IncidentStatus::Resolved);
    assert_eq!(resolved.count(), 1);
}

#[test]
fn groups_with_different_keys_are_different_incidents() {
    let mut given = Given::new();
    given.notify(FIRING);
    given.notify(BILLING_FIRING);
    given.notify(BILLING_RESOLVED);
    let incidents = given.incidents();
    assert_eq!(incidents.len(), 2);
    let billing = incidents
        .iter()
        .find(|i| i.service.as_deref() == Some("billing"))
        .unwrap();
    assert_eq!(billing.status, IncidentStatus::Resolved);
    assert_eq!(billing.severity, Severity::Critical);
}

#[test]
fn truncated_alerts_are_recorded_on_the_timeline() {
    let mut given = Given::new();
    let body = FIRING.replace(r#""truncatedAlerts":0"#, r#""truncatedAlerts":7"#);
    assert_ne!(body, FIRING, "fixture layout changed");
    given.notify(&body);
    let entry = given.only_incident().timeline.last().unwrap().clone();
    assert_eq!(entry.kind, TimelineKind::AlertsTruncated);
    assert!(entry.text.contains("left out 7"), "{}", entry.text);
}

#[test]
fn responders_acknowledge_note_and_resolve_in_log_order() {
    let mut given = Given::new();
    given.notify(FIRING);
    let id = given.only_incident().id;
    assert_eq!(given.respond(ack(id, "alice")), FoldOutcome::Applied);
    let note = FactBody::NoteAdded(NoteAdded {
        incident_id: id,
        actor: "bob".into(),
        text: "rollback started".into(),
    });
    assert_eq!(given.respond(note), FoldOutcome::Applied);
    assert_eq!(given.respond(resolve(id, "alice")), FoldOutcome::Applied);
    let incident = given.only_incident();
    assert_eq!(incident.status, IncidentStatus::Resolved);
    assert_eq!(incident.acknowledged_by.as_deref(), Some("alice"));
    assert_eq!(incident.resolved_by.as_deref(), Some("alice"));
    assert_eq!(incident.resolution.as_deref(), Some("rolled back"));
    assert_eq!(incident.time_to_acknowledge_seconds(), Some(1));
    assert_eq!(incident.time_to_resolve_seconds(), Some(3));
    let resolved_text = &incident.timeline.last().unwrap().text;
    assert!(
        resolved_text.contains("2 alert(s) still firing"),
        "{resolved_text}"
    );
}

#[test]
fn conflicts_are_settled_by_log_order_and_shown_on_the_timeline() {
    let mut given = Given::new();
    given.notify(FIRING);
    let id = given.only_incident().id;
    given.respond(resolve(id, "alice"));
    given.respond(ack(id, "bob"));
    given.respond(resolve(id, "carol"));
    let incident = given.only_incident();
    assert_eq!(incident.acknowledged_by, None);
    assert_eq!(incident.resolved_by.as_deref(), Some("alice"));
    let conflicts: Vec<_> = incident
        .timeline
        .iter()
        .filter(|e| e.kind == TimelineKind::Conflict)
        .map(|e| e.text.as_str())
        .collect();
    assert_eq!(
        conflicts,
        [
            "Ignored acknowledgement by bob: incident was already resolved",
            "Ignored resolution by carol: already resolved by alice"
        ]
    );
}

#[test]
fn alerts_resolving_after_a_person_resolved_update_the_alert_but_reopen_nothing() {
    let mut given = Given::new();
    given.notify(FIRING);
    let id = given.only_incident().id;
    given.respond(resolve(id, "alice"));
    given.notify(ONE_RESOLVED);
    given.notify(REPEAT);
    let incident = given.only_incident();
    assert_eq!(incident.status, IncidentStatus::Resolved);
    assert_eq!(incident.firing_alerts(), 1);
    assert_eq!(incident.resolved_by.as_deref(), Some("alice"));
}

#[test]
fn facts_about_unknown_incidents_are_ignored() {
    let mut given = Given::new();
    assert_eq!(
        given.respond(ack(Uuid::from_u128(7), "alice")),
        FoldOutcome::Ignored
    );
    assert!(given.projection.incidents.is_empty());
}

#[test]
fn the_same_fact_twice_is_folded_once() {
    let mut given = Given::new();
    let (facts, _) = given.notify(FIRING);
    let before = given.projection.clone();
    for fact in &facts {
        assert_eq!(given.projection.apply(fact), FoldOutcome::Duplicate);
    }
    assert_eq!(given.projection, before);
}

#[test]
fn a_repeat_stamped_with_a_new_start_while_firing_changes_nothing() {
    let mut given = Given::new();
    given.notify(FIRING);
    let before = given.projection.clone();
    // Same alerts, still firing, but the sender reports another start time.
    let restamped = FIRING.replace("2026-11-24T07:03:11", "2026-11-24T07:04:59");
    assert_ne!(restamped, FIRING, "fixture layout changed");
    let (_, outcomes) = given.notify(&restamped);
    assert!(
        outcomes[..2].iter().all(|o| *o == FoldOutcome::Duplicate),
        "{outcomes:?}"
    );
    assert_eq!(
        given.only_incident().timeline,
        before.incidents.values().next().unwrap().timeline
    );
    // Resolving keeps the start time the incident saw first.
    given.notify(&ONE_RESOLVED.replace("2026-11-24T07:03:11", "2026-11-24T07:04:59"));
    let alert = given
        .only_incident()
        .alerts
        .values()
        .find(|a| a.status == aftermath_core::AlertStatus::Resolved)
        .unwrap()
        .clone();
    assert!(
        alert
            .starts_at
            .to_string()
            .starts_with("2026-11-24T07:03:11"),
        "{}",
        alert.starts_at
    );
}
