//! Checks that the JSON Schemas in `schemas/` describe the facts this build really writes:
//! every `FACT_TYPES` entry has its schema file (and no schema file is unlisted), real
//! serialized facts of every type validate, and broken facts are refused.

use std::collections::BTreeSet;
use std::path::PathBuf;

use aftermath_core::{
    incident_id_for, normalize_alertmanager, responder_fact_id, Acknowledged, ActionItemAdded,
    ActionItemDone, ActionItemKind, AlertAcknowledged, Change, ClassificationOverridden,
    CommanderAssigned, ErrorClass, Fact, FactBody, ImpactRecorded, LinkAdded, Mitigated, NoteAdded,
    NotificationAttempted, OutboundEventKind, PostmortemEdited, PostmortemPublished,
    PostmortemSection, Reopened, Resolved, RootCauseStated, Severity, SeverityChanged, Timestamp,
    WhyAdded, WhyAmended, FACT_TYPES,
};
use jsonschema::Validator;
use serde_json::{json, Value};
use uuid::Uuid;

const SCHEMA_BASE_URI: &str = "https://aftermath.dev/schemas/";
const ENVELOPE_FILE: &str = "fact-envelope.json";

const CHECKOUT_FIRING: &str =
    include_str!("../../../tests/fixtures/alertmanager/01-checkout-firing.json");
const CHECKOUT_ONE_RESOLVED: &str =
    include_str!("../../../tests/fixtures/alertmanager/03-checkout-one-resolved.json");
/// A sparse but valid webhook: no common `service`/`job`/`severity` labels, no
/// `summary`, so `service` is null and the severity falls back to `error`.
const SPARSE_RESOLVED: &str = r#"{
  "version": "4", "groupKey": "{}:{alertname=\"DiskFull\"}", "status": "resolved",
  "receiver": "aftermath", "commonLabels": {"alertname": "DiskFull"},
  "alerts": [{"status": "resolved", "labels": {"alertname": "DiskFull", "severity": "p1"},
    "startsAt": "2026-11-24T06:00:00+01:00", "endsAt": "2026-11-24T06:30:00.5+01:00",
    "fingerprint": "d15cf011"}]
}"#;

fn schemas_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas")
}

fn load_schema(file: &str) -> Value {
    let path = schemas_dir().join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|error| panic!("{} is not JSON: {error}", path.display()))
}

/// Compiles a schema as draft 2020-12 (checking it against the meta-schema) with `format`
/// asserted rather than merely annotated.
fn compile(file: &str) -> Validator {
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&load_schema(file))
        .unwrap_or_else(|error| panic!("{file} is not a valid draft 2020-12 schema: {error}"))
}

fn schema_file_for(kind: &str, version: u64) -> &'static str {
    FACT_TYPES
        .iter()
        .find(|(k, v, _)| *k == kind && u64::from(*v) == version)
        .map(|(_, _, file)| *file)
        .unwrap_or_else(|| panic!("{kind} v{version} is not listed in FACT_TYPES"))
}

fn errors(validator: &Validator, instance: &Value) -> Vec<String> {
    validator
        .iter_errors(instance)
        .map(|error| format!("{error} at {}", error.instance_path))
        .collect()
}

fn at(text: &str) -> Timestamp {
    Timestamp::parse(text).unwrap()
}

/// Real facts of every type, built through the public API.
fn real_facts() -> Vec<Fact> {
    let mut facts = Vec::new();
    for (body, recorded) in [
        (CHECKOUT_FIRING, "2026-11-24T07:03:12.001Z"),
        (CHECKOUT_ONE_RESOLVED, "2026-11-24T07:03:25Z"),
        (SPARSE_RESOLVED, "2026-11-24T05:31:00Z"),
    ] {
        facts.extend(normalize_alertmanager(body.as_bytes(), at(recorded)).unwrap());
    }

    let opening = facts[0].clone();
    let incident_id = incident_id_for(opening.fact_id);
    let responder = |fact_id: Uuid, occurred: &str, body: FactBody| Fact {
        fact_id,
        stream_key: opening.stream_key.clone(),
        occurred_at: at(occurred),
        recorded_at: at(occurred),
        body,
    };
    let keyed = |action: &str, key: &str| responder_fact_id("token-1", incident_id, action, key);
    facts.push(responder(
        keyed("acknowledge", "k1"),
        "2026-11-24T07:04:00Z",
        FactBody::Acknowledged(Acknowledged {
            incident_id,
            actor: "alice".into(),
            note: Some("looking at the checkout pods".into()),
        }),
    ));
    facts.push(responder(
        // An un-keyed request gets a random (v4) id.
        Uuid::parse_str("4e1f0c2a-8b3d-4f6e-9a01-23456789abcd").unwrap(),
        "2026-11-24T07:04:01.5Z",
        FactBody::Acknowledged(Acknowledged {
            incident_id,
            actor: "bob".into(),
            note: None,
        }),
    ));
    facts.push(responder(
        keyed("note", "k2"),
        "2026-11-24T07:05:00Z",
        FactBody::NoteAdded(NoteAdded {
            incident_id,
            actor: "alice".into(),
            text: "rolled back checkout to v1.41 — \"errors\" dropping".into(),
        }),
    ));
    facts.push(responder(
        keyed("resolve", "k3"),
        "2026-11-24T07:10:00Z",
        FactBody::Resolved(Resolved {
            incident_id,
            actor: "alice".into(),
            resolution: Some("bad deploy rolled back".into()),
        }),
    ));
    facts.push(responder(
        Uuid::parse_str("7a0d3c1e-2b4f-5a6c-8d9e-0f1a2b3c4d5e").unwrap(),
        "2026-11-24T07:04:30Z",
        FactBody::AlertAcknowledged(AlertAcknowledged {
            source: "pagerduty".into(),
            fingerprint: "checkout-5xx".into(),
            actor: "alertmanager-pd".into(),
        }),
    ));
    facts.extend(
        aftermath_core::normalize_pagerduty_change(
            include_str!("../../../tests/fixtures/pagerduty/change.json").as_bytes(),
            "token-1",
            "ci",
            at("2026-11-24T07:00:00Z"),
        )
        .unwrap(),
    );
    facts.push(responder(
        keyed("resolve", "k4"),
        "2026-11-24T07:11:00Z",
        FactBody::Resolved(Resolved {
            incident_id,
            actor: "bob".into(),
            resolution: None,
        }),
    ));
    facts.extend(responder_workflow_facts(incident_id, &responder));
    facts
}

/// One or more facts of every responder-workflow type, with both present and absent
/// optional fields.
fn responder_workflow_facts(
    incident_id: Uuid,
    responder: &dyn Fn(Uuid, &str, FactBody) -> Fact,
) -> Vec<Fact> {
    let action_item_id = Uuid::parse_str("0f3a5b7c-9d1e-4f20-8a31-b2c3d4e5f607").unwrap();
    let bodies = [
        FactBody::Mitigated(Mitigated {
            incident_id,
            actor: "alice".into(),
            note: Some("rolled back to v1.41".into()),
        }),
        FactBody::Mitigated(Mitigated {
            incident_id,
            actor: "alice".into(),
            note: None,
        }),
        FactBody::Reopened(Reopened {
            incident_id,
            actor: "bob".into(),
            reason: Some("errors are back".into()),
        }),
        FactBody::Reopened(Reopened {
            incident_id,
            actor: "bob".into(),
            reason: None,
        }),
        FactBody::SeverityChanged(SeverityChanged {
            incident_id,
            actor: "alice".into(),
            severity: Severity::Critical,
            reason: "checkout is down for everyone".into(),
        }),
        FactBody::CommanderAssigned(CommanderAssigned {
            incident_id,
            actor: "alice".into(),
            name: "Carol".into(),
        }),
        FactBody::WhyAdded(WhyAdded {
            incident_id,
            actor: "carol".into(),
            question: "Why did the API fail?".into(),
            answer: "Database connection timeout".into(),
        }),
        FactBody::WhyAmended(WhyAmended {
            incident_id,
            actor: "carol".into(),
            number: 1,
            question: "Why did the checkout API fail?".into(),
            answer: "Database connection timeout".into(),
        }),
        FactBody::RootCauseStated(RootCauseStated {
            incident_id,
            actor: "carol".into(),
            text: Some("Connection leak in worker.py, missing proper cleanup".into()),
        }),
        FactBody::RootCauseStated(RootCauseStated {
            incident_id,
            actor: "carol".into(),
            text: None,
        }),
        FactBody::ImpactRecorded(ImpactRecorded {
            incident_id,
            actor: "carol".into(),
            summary: "Checkout failed for 42 minutes".into(),
            users_affected: Some(1200),
            failed_requests: Some(156),
            data_loss: false,
            customer_facing: true,
            downtime_seconds: Some(42 * 60),
        }),
        FactBody::ImpactRecorded(ImpactRecorded {
            incident_id,
            actor: "carol".into(),
            summary: "Internal batch delayed".into(),
            users_affected: None,
            failed_requests: None,
            data_loss: true,
            customer_facing: false,
            downtime_seconds: None,
        }),
        FactBody::ActionItemAdded(ActionItemAdded {
            incident_id,
            actor: "carol".into(),
            action_item_id,
            title: "Audit all database connection usage".into(),
            owner: "OpenCode".into(),
            kind: ActionItemKind::Prevent,
            due: Some("2026-12-01".into()),
        }),
        FactBody::ActionItemAdded(ActionItemAdded {
            incident_id,
            actor: "carol".into(),
            action_item_id: Uuid::parse_str("1f3a5b7c-9d1e-4f20-8a31-b2c3d4e5f607").unwrap(),
            title: "Update developer docs".into(),
            owner: "OpenCode".into(),
            kind: ActionItemKind::Process,
            due: None,
        }),
        FactBody::ActionItemDone(ActionItemDone {
            incident_id,
            actor: "dave".into(),
            action_item_id,
        }),
        FactBody::LinkAdded(LinkAdded {
            incident_id,
            actor: "carol".into(),
            url: "https://github.com/acme/checkout/pull/812".into(),
            title: "Fix: close connections in worker.py".into(),
        }),
        FactBody::NotificationAttempted(NotificationAttempted {
            incident_id,
            event_id: Uuid::parse_str("0f3c9e1a-5b27-5d84-9c6e-1a2b3c4d5e6f").unwrap(),
            event: OutboundEventKind::Opened,
            target: "ops-slack".into(),
            attempt: 1,
            delivered: false,
            status: Some(503),
            error: None,
            last: false,
        }),
        FactBody::NotificationAttempted(NotificationAttempted {
            incident_id,
            event_id: Uuid::parse_str("0f3c9e1a-5b27-5d84-9c6e-1a2b3c4d5e6f").unwrap(),
            event: OutboundEventKind::Opened,
            target: "ops-slack".into(),
            attempt: 2,
            delivered: true,
            status: Some(200),
            error: None,
            last: true,
        }),
        FactBody::ClassificationOverridden(ClassificationOverridden {
            incident_id,
            actor: "carol".into(),
            class: Some(ErrorClass::E104),
            reason: "the Flyway migration V27 failed in the pre-upgrade hook".into(),
        }),
        FactBody::ClassificationOverridden(ClassificationOverridden {
            incident_id,
            actor: "dave".into(),
            class: None,
            reason: "a capacity problem, not a failed change".into(),
        }),
        FactBody::PostmortemEdited(PostmortemEdited {
            incident_id,
            actor: "erin".into(),
            section: PostmortemSection::LessonsLearned,
            text: Some("### What went well\n- The rollback took 2 minutes".into()),
        }),
        FactBody::PostmortemEdited(PostmortemEdited {
            incident_id,
            actor: "erin".into(),
            section: PostmortemSection::Impact,
            text: None,
        }),
        FactBody::PostmortemPublished(PostmortemPublished {
            incident_id,
            actor: "erin".into(),
            suspect_changes: vec![Change {
                id: Uuid::parse_str("5e0c2f4a-1b3d-5c6e-8f70-a1b2c3d4e5f6").unwrap(),
                source: "pagerduty".into(),
                summary: "Deploy checkout v1.4.3".into(),
                service: Some("checkout".into()),
                at: Timestamp::parse("2026-11-24T06:55:00Z").unwrap(),
                details: Some(r#"{"build":"1234"}"#.into()),
                links: None,
                actor: "ci".into(),
            }],
        }),
        FactBody::PostmortemPublished(PostmortemPublished {
            incident_id,
            actor: "erin".into(),
            suspect_changes: Vec::new(),
        }),
    ];
    bodies
        .into_iter()
        .enumerate()
        .map(|(index, body)| {
            let occurred = format!("2026-11-24T08:{:02}:00Z", index);
            let key = format!("w{index}");
            let fact_id = responder_fact_id("token-1", incident_id, body.type_name(), &key);
            responder(fact_id, &occurred, body)
        })
        .collect()
}

fn serialized(fact: &Fact) -> Value {
    serde_json::from_str(&fact.to_json()).unwrap()
}

#[test]
fn fact_types_and_schema_files_match_one_to_one() {
    let listed: BTreeSet<&str> = FACT_TYPES.iter().map(|(_, _, file)| *file).collect();
    assert_eq!(
        listed.len(),
        FACT_TYPES.len(),
        "FACT_TYPES lists a file twice"
    );

    let mut on_disk = BTreeSet::new();
    for entry in std::fs::read_dir(schemas_dir()).expect("schemas/ exists") {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let Some(stem) = name.strip_suffix(".json") else {
            continue;
        };
        let versioned = stem
            .rsplit_once(".v")
            .is_some_and(|(_, v)| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()));
        if versioned {
            on_disk.insert(name);
        }
    }
    let on_disk: BTreeSet<&str> = on_disk.iter().map(String::as_str).collect();
    assert_eq!(
        listed, on_disk,
        "FACT_TYPES and the *.v*.json files in schemas/ differ"
    );

    for (kind, version, file) in FACT_TYPES {
        assert_eq!(
            *file,
            format!("{kind}.v{version}.json"),
            "file name of {kind}"
        );
        let schema = load_schema(file);
        assert_eq!(
            schema["$schema"], "https://json-schema.org/draft/2020-12/schema",
            "{file}"
        );
        assert_eq!(schema["$id"], format!("{SCHEMA_BASE_URI}{file}"), "{file}");
        assert!(
            schema["title"].as_str().is_some_and(|t| !t.is_empty()),
            "{file}"
        );
        assert!(
            schema["description"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "{file}"
        );
        assert_eq!(schema["properties"]["type"]["const"], *kind, "{file}");
        assert_eq!(schema["properties"]["version"]["const"], *version, "{file}");
        assert_eq!(schema["additionalProperties"], false, "{file}");
        assert_eq!(
            schema["properties"]["payload"]["additionalProperties"], false,
            "{file}"
        );
        compile(file);
    }

    let envelope = load_schema(ENVELOPE_FILE);
    assert_eq!(envelope["$id"], format!("{SCHEMA_BASE_URI}{ENVELOPE_FILE}"));
    compile(ENVELOPE_FILE);
}

#[test]
fn every_real_fact_validates_against_its_schema_and_the_envelope() {
    let envelope = compile(ENVELOPE_FILE);
    let by_file: Vec<(&str, Validator)> = FACT_TYPES
        .iter()
        .map(|(_, _, file)| (*file, compile(file)))
        .collect();

    let mut covered = BTreeSet::new();
    let (mut some_ends_at, mut null_ends_at, mut null_service) = (false, false, false);
    for fact in real_facts() {
        let json = fact.to_json();
        let instance = serialized(&fact);
        let kind = instance["type"].as_str().unwrap().to_owned();
        let version = instance["version"].as_u64().unwrap();
        let file = schema_file_for(&kind, version);

        let problems = errors(&envelope, &instance);
        assert!(problems.is_empty(), "envelope: {problems:?}\n{json}");
        for (other, validator) in &by_file {
            let problems = errors(validator, &instance);
            if *other == file {
                assert!(problems.is_empty(), "{file}: {problems:?}\n{json}");
            } else {
                assert!(!problems.is_empty(), "{kind} fact also passes {other}");
            }
        }

        if kind == "alert.notified" {
            some_ends_at |= instance["payload"]["ends_at"].is_string();
            null_ends_at |= instance["payload"]["ends_at"].is_null();
            null_service |= instance["payload"]["service"].is_null();
        }
        covered.insert(kind);
    }

    let listed: BTreeSet<String> = FACT_TYPES.iter().map(|(k, _, _)| k.to_string()).collect();
    assert_eq!(covered, listed, "some fact type was not exercised");
    assert!(some_ends_at && null_ends_at && null_service);
}

#[test]
fn absent_options_serialize_as_present_nulls() {
    let facts = real_facts();
    let find = |pred: &dyn Fn(&FactBody) -> bool| {
        serialized(facts.iter().find(|f| pred(&f.body)).unwrap())
    };
    let ack = find(&|b| matches!(b, FactBody::Acknowledged(a) if a.note.is_none()));
    assert_eq!(ack["payload"].get("note"), Some(&Value::Null));
    let resolved = find(&|b| matches!(b, FactBody::Resolved(r) if r.resolution.is_none()));
    assert_eq!(resolved["payload"].get("resolution"), Some(&Value::Null));
    let mitigated = find(&|b| matches!(b, FactBody::Mitigated(m) if m.note.is_none()));
    assert_eq!(mitigated["payload"].get("note"), Some(&Value::Null));
    let reopened = find(&|b| matches!(b, FactBody::Reopened(r) if r.reason.is_none()));
    assert_eq!(reopened["payload"].get("reason"), Some(&Value::Null));
    let root_cause = find(&|b| matches!(b, FactBody::RootCauseStated(r) if r.text.is_none()));
    assert_eq!(root_cause["payload"].get("text"), Some(&Value::Null));
    let impact = find(&|b| matches!(b, FactBody::ImpactRecorded(i) if i.users_affected.is_none()));
    for field in ["users_affected", "failed_requests", "downtime_seconds"] {
        assert_eq!(impact["payload"].get(field), Some(&Value::Null), "{field}");
    }
    let item = find(&|b| matches!(b, FactBody::ActionItemAdded(a) if a.due.is_none()));
    assert_eq!(item["payload"].get("due"), Some(&Value::Null));
    let attempt = find(&|b| matches!(b, FactBody::NotificationAttempted(n) if n.error.is_none()));
    assert_eq!(attempt["payload"].get("error"), Some(&Value::Null));
}

#[test]
fn broken_facts_fail_validation() {
    let facts = real_facts();
    let first_of = |kind: &str| {
        serialized(
            facts
                .iter()
                .find(|f| f.body.type_name() == kind)
                .unwrap_or_else(|| panic!("no {kind} fact")),
        )
    };

    type Mutation = fn(&mut Value);
    let cases: Vec<(&str, &str, Mutation)> = vec![
        (
            "incident.acknowledged",
            "payload lacks a required field",
            |v| {
                v["payload"].as_object_mut().unwrap().remove("actor");
            },
        ),
        ("incident.acknowledged", "nullable field is absent", |v| {
            v["payload"].as_object_mut().unwrap().remove("note");
        }),
        ("incident.note_added", "payload has an extra field", |v| {
            v["payload"]["mood"] = json!("calm");
        }),
        ("incident.note_added", "non-nullable field is null", |v| {
            v["payload"]["text"] = Value::Null;
        }),
        ("incident.resolved", "envelope has an extra field", |v| {
            v["schema_version"] = json!(1);
        }),
        ("incident.resolved", "envelope lacks recorded_at", |v| {
            v.as_object_mut().unwrap().remove("recorded_at");
        }),
        ("incident.resolved", "wrong version", |v| {
            v["version"] = json!(2);
        }),
        ("alert.notified", "wrong type", |v| {
            v["type"] = json!("alert.fired");
        }),
        ("alert.notified", "severity outside the enum", |v| {
            v["payload"]["severity"] = json!("sev1");
        }),
        ("alert.notified", "status outside the enum", |v| {
            v["payload"]["status"] = json!("burning");
        }),
        ("alert.notified", "label value is not a string", |v| {
            v["payload"]["labels"]["replicas"] = json!(3);
        }),
        ("alert.notified", "starts_at is not a date-time", |v| {
            v["payload"]["starts_at"] = json!("yesterday");
        }),
        ("alert.notified", "ends_at is not a date-time", |v| {
            v["payload"]["ends_at"] = json!("2026-13-45T99:00:00Z");
        }),
        ("alert.notified", "notification_id is not a uuid", |v| {
            v["payload"]["notification_id"] = json!("not-a-uuid");
        }),
        ("notification.received", "fact_id is not a uuid", |v| {
            v["fact_id"] = json!("12345");
        }),
        ("notification.received", "occurred_at is not UTC", |v| {
            v["occurred_at"] = json!("2026-11-24T08:03:12+01:00");
        }),
        ("notification.received", "alert_count is negative", |v| {
            v["payload"]["alert_count"] = json!(-1);
        }),
        (
            "notification.received",
            "truncated_alerts is a string",
            |v| {
                v["payload"]["truncated_alerts"] = json!("0");
            },
        ),
        ("incident.mitigated", "nullable note is absent", |v| {
            v["payload"].as_object_mut().unwrap().remove("note");
        }),
        ("incident.reopened", "payload lacks the actor", |v| {
            v["payload"].as_object_mut().unwrap().remove("actor");
        }),
        (
            "incident.severity_changed",
            "severity outside the enum",
            |v| {
                v["payload"]["severity"] = json!("sev1");
            },
        ),
        ("incident.severity_changed", "reason is null", |v| {
            v["payload"]["reason"] = Value::Null;
        }),
        ("incident.commander_assigned", "name is empty", |v| {
            v["payload"]["name"] = json!("");
        }),
        ("incident.why_added", "answer is absent", |v| {
            v["payload"].as_object_mut().unwrap().remove("answer");
        }),
        ("incident.why_amended", "why number 0", |v| {
            v["payload"]["number"] = json!(0);
        }),
        ("incident.why_amended", "why number is a string", |v| {
            v["payload"]["number"] = json!("1");
        }),
        ("incident.root_cause_stated", "text is a number", |v| {
            v["payload"]["text"] = json!(5);
        }),
        (
            "incident.impact_recorded",
            "failed_requests negative",
            |v| {
                v["payload"]["failed_requests"] = json!(-156);
            },
        ),
        ("incident.impact_recorded", "data_loss is a string", |v| {
            v["payload"]["data_loss"] = json!("no");
        }),
        (
            "incident.impact_recorded",
            "downtime_seconds is absent",
            |v| {
                v["payload"]
                    .as_object_mut()
                    .unwrap()
                    .remove("downtime_seconds");
            },
        ),
        ("incident.action_item_added", "kind outside the enum", |v| {
            v["payload"]["kind"] = json!("fix");
        }),
        ("incident.action_item_added", "due is not a date", |v| {
            v["payload"]["due"] = json!("next week");
        }),
        ("incident.action_item_added", "due is a date-time", |v| {
            v["payload"]["due"] = json!("2026-12-01T00:00:00Z");
        }),
        (
            "incident.action_item_done",
            "action_item_id is not a uuid",
            |v| {
                v["payload"]["action_item_id"] = json!("item-1");
            },
        ),
        ("incident.link_added", "payload has an extra field", |v| {
            v["payload"]["description"] = json!("the fix");
        }),
    ];

    for (kind, what, mutate) in cases {
        let mut instance = first_of(kind);
        let validator = compile(schema_file_for(kind, 1));
        assert!(
            validator.is_valid(&instance),
            "{kind}: the unbroken fact must pass"
        );
        mutate(&mut instance);
        assert!(
            !validator.is_valid(&instance),
            "{kind}: {what} passed validation:\n{instance}"
        );
    }

    // The generic envelope still catches envelope-level breakage of any type.
    let envelope = compile(ENVELOPE_FILE);
    let mut instance = first_of("incident.note_added");
    instance["version"] = json!(0);
    assert!(
        !envelope.is_valid(&instance),
        "version 0 passed the envelope"
    );
    let mut instance = first_of("incident.note_added");
    instance["payload"] = json!("text");
    assert!(
        !envelope.is_valid(&instance),
        "string payload passed the envelope"
    );
}
