//! Given / when / then tests of classification in the fold: the classifier runs as
//! evidence arrives (alerts, notes, whys), records its class with evidence and the rule
//! table's version on the incident and the timeline, and a responder's override wins.

use aftermath_core::{
    normalize_alertmanager, rules_version, ClassificationOverridden, ErrorClass, Fact, FactBody,
    Incident, IncidentStatus, NoteAdded, Projection, TimelineKind, Timestamp,
};
use serde_json::json;
use uuid::Uuid;

struct Given {
    projection: Projection,
    second: i64,
    facts: Vec<Fact>,
}

impl Given {
    /// Given an incident opened by an alert with this summary and description.
    fn alert(alertname: &str, summary: &str, description: &str) -> (Self, Uuid) {
        let mut given = Self {
            projection: Projection::default(),
            second: 1_795_000_000,
            facts: Vec::new(),
        };
        let body = json!({
            "version": "4", "status": "firing", "receiver": "aftermath",
            "groupKey": format!("{{}}:{{alertname=\"{alertname}\"}}"), "truncatedAlerts": 0,
            "groupLabels": {"alertname": alertname}, "commonLabels": {}, "commonAnnotations": {},
            "externalURL": "http://alertmanager.example:9093",
            "alerts": [{
                "status": "firing",
                "labels": {"alertname": alertname, "service": "orders", "severity": "critical"},
                "annotations": {"summary": summary, "description": description},
                "startsAt": "2026-11-24T07:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus.example/graph", "fingerprint": "f1"
            }]
        });
        let at = given.at();
        let facts = normalize_alertmanager(body.to_string().as_bytes(), at).unwrap();
        for fact in facts {
            given.apply(fact);
        }
        let id = *given.projection.incidents.keys().next().unwrap();
        (given, id)
    }

    fn at(&mut self) -> Timestamp {
        self.second += 1;
        Timestamp::from_unix_seconds(self.second).unwrap()
    }

    fn apply(&mut self, fact: Fact) {
        self.projection.apply(&fact);
        self.facts.push(fact);
    }

    fn respond(&mut self, id: Uuid, body: FactBody) {
        let at = self.at();
        let fact = Fact {
            fact_id: Uuid::from_u128(self.second as u128),
            stream_key: self.projection.incidents[&id].stream_key.clone(),
            occurred_at: at,
            recorded_at: at,
            body,
        };
        self.apply(fact);
    }

    fn note(&mut self, id: Uuid, text: &str) {
        self.respond(
            id,
            FactBody::NoteAdded(NoteAdded {
                incident_id: id,
                actor: "alice".into(),
                text: text.into(),
            }),
        );
    }

    fn choose(&mut self, id: Uuid, class: Option<ErrorClass>, reason: &str) {
        self.respond(
            id,
            FactBody::ClassificationOverridden(ClassificationOverridden {
                incident_id: id,
                actor: "carol".into(),
                class,
                reason: reason.into(),
            }),
        );
    }

    fn incident(&self, id: Uuid) -> &Incident {
        &self.projection.incidents[&id]
    }

    fn entries(&self, id: Uuid, kind: TimelineKind) -> Vec<String> {
        self.incident(id)
            .timeline
            .iter()
            .filter(|entry| entry.kind == kind)
            .map(|entry| entry.text.clone())
            .collect()
    }
}

const FLYWAY: &str = "ERROR: Migration V3__add_index.sql failed\n\
    SQL State  : 42P07\nMessage    : relation \"orders_state_idx\" already exists\n\
    Location   : db/migration/V3__add_index.sql";

#[test]
fn an_alert_with_a_failed_migration_is_classified_with_evidence_on_the_timeline() {
    let (given, id) = Given::alert(
        "MigrationJobFailed",
        "Flyway migration V3__add_index.sql failed on orders-db",
        FLYWAY,
    );
    let incident = given.incident(id);
    let classification = incident.classification.as_ref().unwrap();
    assert_eq!(classification.class, Some(ErrorClass::E104));
    assert_eq!(incident.error_class(), Some(ErrorClass::E104));
    assert_eq!(classification.rules_version, rules_version());
    assert!(classification.confidence > 0);
    assert!(classification
        .evidence
        .iter()
        .any(|e| e.class == ErrorClass::E104 && !e.matched.is_empty()));
    let classified = given.entries(id, TimelineKind::Classified);
    assert_eq!(classified.len(), 1, "{classified:?}");
    assert!(
        classified[0].starts_with(&format!(
            "Classified as E104 Database Migration Failure (confidence {}%, rules v{})",
            classification.confidence,
            rules_version()
        )),
        "{}",
        classified[0]
    );
}

#[test]
fn an_ordinary_alert_stays_unclassified_and_says_nothing() {
    let (given, id) = Given::alert(
        "HostHighCpuLoad",
        "Host high CPU load on api-node-4",
        "CPU load is above 90% for 15 minutes",
    );
    assert_eq!(given.incident(id).error_class(), None);
    assert!(given.entries(id, TimelineKind::Classified).is_empty());
}

#[test]
fn a_note_brings_the_evidence_that_classifies_an_incident() {
    let (mut given, id) = Given::alert(
        "CIJobFailed",
        "Nightly merge job for the monorepo failed",
        "job exited with status 1",
    );
    assert_eq!(given.incident(id).error_class(), None);
    given.note(
        id,
        "Auto-merging src/app.rs\nCONFLICT (content): Merge conflict in src/app.rs\n\
         Automatic merge failed; fix conflicts and then commit the result.",
    );
    assert_eq!(given.incident(id).error_class(), Some(ErrorClass::E105));
    assert_eq!(given.entries(id, TimelineKind::Classified).len(), 1);
    // The same evidence again changes nothing and adds no entry.
    given.note(id, "CONFLICT (content): Merge conflict in src/app.rs");
    assert_eq!(given.entries(id, TimelineKind::Classified).len(), 1);
}

#[test]
fn a_responders_class_wins_over_the_classifier_from_then_on() {
    let (mut given, id) = Given::alert(
        "MigrationJobFailed",
        "Flyway migration V3__add_index.sql failed on orders-db",
        FLYWAY,
    );
    given.choose(id, Some(ErrorClass::E103), "the deploy ran the job twice");
    assert_eq!(given.incident(id).error_class(), Some(ErrorClass::E103));
    assert_eq!(
        given.entries(id, TimelineKind::ClassificationOverridden),
        ["Classification set to E103 Deployment Failure by carol: the deploy ran the job twice"]
    );
    // More evidence keeps feeding the classifier, but the responder's class stands.
    given.note(
        id,
        "CONFLICT (content): Merge conflict in db/migration/V3__add_index.sql",
    );
    assert_eq!(given.incident(id).error_class(), Some(ErrorClass::E103));

    // The same class again is a conflict; "unclassified" is a choice too.
    given.choose(id, Some(ErrorClass::E103), "again");
    assert_eq!(
        given.entries(id, TimelineKind::Conflict),
        ["Ignored classification by carol: already set to E103 Deployment Failure by carol"]
    );
    given.choose(id, None, "not a failed change after all");
    assert_eq!(given.incident(id).error_class(), None);

    // A replay of the same facts gives the same incident.
    let mut replay = Projection::default();
    for fact in &given.facts {
        replay.apply(fact);
    }
    assert_eq!(&replay.incidents[&id], given.incident(id));
}

#[test]
fn a_closed_incident_keeps_its_class() {
    let (mut given, id) = Given::alert(
        "MigrationJobFailed",
        "Flyway migration V3__add_index.sql failed on orders-db",
        FLYWAY,
    );
    // No fact closes an incident yet (post-mortem publishing comes later): the test puts
    // the projection in the state that fact will leave it in.
    given.projection.incidents.get_mut(&id).unwrap().status = IncidentStatus::Closed;
    given.choose(id, Some(ErrorClass::E101), "late change of mind");
    assert_eq!(given.incident(id).error_class(), Some(ErrorClass::E104));
    assert_eq!(
        given.entries(id, TimelineKind::Conflict),
        ["Ignored classification by carol: incident was already closed"]
    );
}
