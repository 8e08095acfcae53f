//! Snapshot tests of the rendered post-mortem draft, from notifications captured from a real
//! Alertmanager and responder facts at fixed times.

use aftermath_core::{
    normalize_alertmanager, render_postmortem_markdown, Acknowledged, Fact, FactBody, NoteAdded,
    Projection, Resolved, Timestamp,
};
use uuid::Uuid;

const FIRING: &str = include_str!("../../../tests/fixtures/alertmanager/01-checkout-firing.json");
const ONE_RESOLVED: &str =
    include_str!("../../../tests/fixtures/alertmanager/03-checkout-one-resolved.json");
const ALL_RESOLVED: &str =
    include_str!("../../../tests/fixtures/alertmanager/04-checkout-all-resolved.json");

fn at(text: &str) -> Timestamp {
    Timestamp::parse(text).unwrap()
}

fn respond(projection: &mut Projection, id: u128, when: &str, body: FactBody) {
    let stream_key = projection
        .incidents
        .values()
        .next()
        .unwrap()
        .stream_key
        .clone();
    projection.apply(&Fact {
        fact_id: Uuid::from_u128(id),
        stream_key,
        occurred_at: at(when),
        recorded_at: at(when),
        body,
    });
}

fn notify(projection: &mut Projection, body: &str, when: &str) {
    for fact in normalize_alertmanager(body.as_bytes(), at(when)).unwrap() {
        projection.apply(&fact);
    }
}

fn incident_id(projection: &Projection) -> Uuid {
    *projection.incidents.keys().next().unwrap()
}

#[test]
fn draft_of_an_incident_that_is_still_open() {
    let mut projection = Projection::default();
    notify(&mut projection, FIRING, "2026-11-24T07:03:12Z");
    let incident = projection.incidents.values().next().unwrap();
    insta::assert_snapshot!(render_postmortem_markdown(incident));
}

#[test]
fn draft_of_an_acknowledged_annotated_and_resolved_incident() {
    let mut projection = Projection::default();
    notify(&mut projection, FIRING, "2026-11-24T07:03:12Z");
    let id = incident_id(&projection);
    respond(
        &mut projection,
        1,
        "2026-11-24T07:05:40Z",
        FactBody::Acknowledged(Acknowledged {
            incident_id: id,
            actor: "alice".into(),
            note: Some("looking at the 07:00 deploy".into()),
        }),
    );
    respond(
        &mut projection,
        2,
        "2026-11-24T07:09:00Z",
        FactBody::NoteAdded(NoteAdded {
            incident_id: id,
            actor: "bob".into(),
            text: "rolled checkout back to v1.4.2".into(),
        }),
    );
    notify(&mut projection, ONE_RESOLVED, "2026-11-24T07:10:00Z");
    respond(
        &mut projection,
        3,
        "2026-11-24T07:12:30Z",
        FactBody::Resolved(Resolved {
            incident_id: id,
            actor: "alice".into(),
            resolution: Some("Rolled back the faulty release; error rate back under 0.1%.".into()),
        }),
    );
    notify(&mut projection, ALL_RESOLVED, "2026-11-24T07:13:00Z");
    insta::assert_snapshot!(render_postmortem_markdown(&projection.incidents[&id]));
}

#[test]
fn draft_of_a_classified_incident_shows_the_evidence_and_proposes_the_runbooks_prevention() {
    let body = serde_json::json!({
        "version": "4", "status": "firing", "receiver": "aftermath",
        "groupKey": "{}:{alertname=\"MigrationJobFailed\"}", "truncatedAlerts": 0,
        "groupLabels": {"alertname": "MigrationJobFailed"},
        "commonLabels": {"alertname": "MigrationJobFailed", "service": "orders"},
        "commonAnnotations": {"summary": "Flyway migration V3__add_index.sql failed on orders-db"},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": "MigrationJobFailed", "service": "orders", "severity": "critical"},
            "annotations": {
                "summary": "Flyway migration V3__add_index.sql failed on orders-db",
                "description": "ERROR: Migration V3__add_index.sql failed\nSQL State  : 42P07"
            },
            "startsAt": "2026-11-24T07:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.example/graph", "fingerprint": "m1"
        }]
    });
    let mut projection = Projection::default();
    notify(&mut projection, &body.to_string(), "2026-11-24T07:00:05Z");
    let incident = projection.incidents.values().next().unwrap();
    insta::assert_snapshot!(render_postmortem_markdown(incident));
}
