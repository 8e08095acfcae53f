//! PagerDuty Events API v2, drop-in: `trigger`, `acknowledge` and `resolve` events become
//! the same facts as any other sender's, with PagerDuty's semantics (dedup scoped to the
//! routing key; acknowledge/resolve apply to the open incident of the key, if any).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::fact::AlertAcknowledged;
use crate::ids::content_fact_id;
use crate::notification::{AlertReport, Notification};
use crate::{AlertStatus, Fact, FactBody, Severity, Timestamp};

const SOURCE: &str = "pagerduty";
/// PagerDuty's limits, enforced the same way so a body PagerDuty refuses is refused here.
const MAX_DEDUP_KEY: usize = 255;
const MAX_SUMMARY: usize = 1024;

/// A PagerDuty Events API v2 event (`POST /v2/enqueue`). Unknown fields are kept in the
/// raw body, never refused.
#[derive(Deserialize)]
struct Event {
    #[serde(default)]
    event_action: Option<String>,
    #[serde(default)]
    dedup_key: Option<String>,
    #[serde(default)]
    payload: Option<Payload>,
    #[serde(default)]
    links: Vec<Value>,
    #[serde(default)]
    images: Vec<Value>,
    #[serde(default)]
    client: Option<String>,
    #[serde(default)]
    client_url: Option<String>,
}

#[derive(Deserialize)]
struct Payload {
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    severity: Option<String>,
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default)]
    component: Option<String>,
    #[serde(default)]
    group: Option<String>,
    #[serde(default)]
    class: Option<String>,
    #[serde(default)]
    custom_details: Option<Value>,
}

/// An accepted PagerDuty event: the dedup key PagerDuty would answer with, and its facts.
#[derive(Debug, PartialEq)]
pub struct PagerDutyEvent {
    pub dedup_key: String,
    pub facts: Vec<Fact>,
}

/// Normalizes a PagerDuty event body. `scope` keeps routing keys apart (the ingest token's
/// id); `actor` is the token's name; `generated_dedup_key` is used for a trigger that has
/// none (PagerDuty generates one). Errors come as PagerDuty's list of messages.
pub fn normalize_pagerduty(
    raw_body: &[u8],
    scope: &str,
    actor: &str,
    generated_dedup_key: &str,
    recorded_at: Timestamp,
) -> Result<PagerDutyEvent, Vec<String>> {
    let text = std::str::from_utf8(raw_body).map_err(|_| vec!["body is not UTF-8".to_owned()])?;
    // serde would read a JSON array positionally into the all-optional struct.
    if !text.trim_start().starts_with('{') {
        return Err(vec!["'body': must be a JSON object (an event)".to_owned()]);
    }
    let event: Event = crate::parse_json(text.as_bytes())
        .map_err(|error| vec![format!("'{}': {}", error.field, error.message)])?;
    let mut errors = Vec::new();
    let action = event.event_action.as_deref().unwrap_or_default();
    if !matches!(action, "trigger" | "acknowledge" | "resolve") {
        errors.push("'event_action' must be one of trigger, acknowledge, resolve".to_owned());
    }
    let dedup_key = match event.dedup_key.as_deref().map(str::trim) {
        Some(key) if !key.is_empty() => key.to_owned(),
        _ if action == "trigger" => generated_dedup_key.to_owned(),
        _ => {
            errors.push("'dedup_key' is required for acknowledge and resolve".to_owned());
            String::new()
        }
    };
    if dedup_key.len() > MAX_DEDUP_KEY {
        errors.push(format!(
            "'dedup_key' is longer than {MAX_DEDUP_KEY} characters"
        ));
    }
    let group_key = format!("{scope}/{dedup_key}");
    let stream_key = format!("{SOURCE}:{group_key}");
    if action != "trigger" {
        if !errors.is_empty() {
            return Err(errors);
        }
        let facts = match action {
            "acknowledge" => {
                let digest = hex::encode(Sha256::digest(raw_body));
                let acknowledged = Fact {
                    fact_id: content_fact_id(&["alert.acknowledged", &stream_key, &digest]),
                    stream_key: stream_key.clone(),
                    occurred_at: recorded_at,
                    recorded_at,
                    body: FactBody::AlertAcknowledged(AlertAcknowledged {
                        source: SOURCE.to_owned(),
                        fingerprint: dedup_key.clone(),
                        actor: actor.to_owned(),
                    }),
                };
                let mut facts = vec![acknowledged];
                facts.extend(
                    bare_notification(group_key, AlertStatus::Firing).into_facts(text, recorded_at),
                );
                facts
            }
            _ => {
                let mut notification = bare_notification(group_key, AlertStatus::Resolved);
                notification.alerts.push(AlertReport {
                    fingerprint: dedup_key.clone(),
                    status: AlertStatus::Resolved,
                    labels: BTreeMap::new(),
                    annotations: BTreeMap::new(),
                    // The fold keeps the start it saw when this resolves a known alert.
                    starts_at: recorded_at,
                    ends_at: Some(recorded_at),
                    generator_url: String::new(),
                    severity: None,
                });
                notification.into_facts(text, recorded_at)
            }
        };
        return Ok(PagerDutyEvent { dedup_key, facts });
    }

    let Some(payload) = event.payload else {
        errors.push("'payload' is missing".to_owned());
        return Err(errors);
    };
    let summary = required(&payload.summary, "payload.summary", &mut errors);
    if summary.len() > MAX_SUMMARY {
        errors.push(format!(
            "'payload.summary' is longer than {MAX_SUMMARY} characters"
        ));
    }
    let source = required(&payload.source, "payload.source", &mut errors);
    let severity = match payload.severity.as_deref() {
        Some(value @ ("critical" | "error" | "warning" | "info")) => {
            Severity::from_label(Some(value))
        }
        _ => {
            errors.push(
                "'payload.severity' must be one of critical, error, warning, info".to_owned(),
            );
            Severity::Error
        }
    };
    let starts_at = match payload.timestamp.as_deref() {
        None => recorded_at,
        Some(text) => parse_iso8601(text).unwrap_or_else(|| {
            errors.push("'payload.timestamp' is not an ISO 8601 / RFC 3339 timestamp".to_owned());
            recorded_at
        }),
    };
    if !errors.is_empty() {
        return Err(errors);
    }

    let mut labels = BTreeMap::from([("source".to_owned(), source.clone())]);
    for (name, value) in [
        ("component", &payload.component),
        ("group", &payload.group),
        ("class", &payload.class),
        ("client", &event.client),
    ] {
        if let Some(value) = value.as_ref().filter(|v| !v.is_empty()) {
            labels.insert(name.to_owned(), value.clone());
        }
    }
    let mut annotations = BTreeMap::from([("summary".to_owned(), summary.clone())]);
    for (name, value) in [
        (
            "custom_details",
            payload.custom_details.filter(|v| !v.is_null()),
        ),
        (
            "links",
            (!event.links.is_empty()).then_some(Value::Array(event.links)),
        ),
        (
            "images",
            (!event.images.is_empty()).then_some(Value::Array(event.images)),
        ),
    ] {
        if let Some(value) = value {
            annotations.insert(name.to_owned(), value.to_string());
        }
    }
    let service = payload
        .group
        .clone()
        .or(payload.component.clone())
        .filter(|s| !s.is_empty());
    let mut notification = bare_notification(group_key, AlertStatus::Firing);
    notification.title = summary;
    notification.severity = severity;
    notification.service = service;
    notification.external_url = event.client_url.unwrap_or_default();
    notification.alerts.push(AlertReport {
        fingerprint: dedup_key.clone(),
        status: AlertStatus::Firing,
        labels,
        annotations,
        starts_at,
        ends_at: None,
        generator_url: notification.external_url.clone(),
        severity: Some(severity),
    });
    notification
        .check_limits()
        .map_err(|error| vec![format!("'{}': {}", error.field, error.message)])?;
    Ok(PagerDutyEvent {
        dedup_key,
        facts: notification.into_facts(text, recorded_at),
    })
}

/// A PagerDuty change event (`POST /v2/change/enqueue`).
#[derive(Deserialize)]
struct ChangeEvent {
    #[serde(default)]
    payload: Option<ChangePayload>,
    #[serde(default)]
    links: Vec<Value>,
}

#[derive(Deserialize)]
struct ChangePayload {
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default)]
    custom_details: Option<Value>,
}

/// Normalizes a PagerDuty change event into a `change.recorded` fact (plus the raw body).
/// The changed service is `custom_details.service` when given, else `payload.source`.
pub fn normalize_pagerduty_change(
    raw_body: &[u8],
    scope: &str,
    actor: &str,
    recorded_at: Timestamp,
) -> Result<Vec<Fact>, Vec<String>> {
    let text = std::str::from_utf8(raw_body).map_err(|_| vec!["body is not UTF-8".to_owned()])?;
    if !text.trim_start().starts_with('{') {
        return Err(vec![
            "'body': must be a JSON object (a change event)".to_owned()
        ]);
    }
    let event: ChangeEvent = crate::parse_json(text.as_bytes())
        .map_err(|error| vec![format!("'{}': {}", error.field, error.message)])?;
    let mut errors = Vec::new();
    let Some(payload) = event.payload else {
        return Err(vec!["'payload' is missing".to_owned()]);
    };
    let summary = required(&payload.summary, "payload.summary", &mut errors);
    if summary.len() > MAX_SUMMARY {
        errors.push(format!(
            "'payload.summary' is longer than {MAX_SUMMARY} characters"
        ));
    }
    let at = match payload.timestamp.as_deref() {
        None => recorded_at,
        Some(text) => parse_iso8601(text).unwrap_or_else(|| {
            errors.push("'payload.timestamp' is not an ISO 8601 / RFC 3339 timestamp".to_owned());
            recorded_at
        }),
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    let details = payload.custom_details.filter(|value| !value.is_null());
    let service = details
        .as_ref()
        .and_then(|details| details.get("service")?.as_str().map(str::to_owned))
        .or(payload.source)
        .filter(|service| !service.is_empty());
    let stream_key = format!(
        "{SOURCE}-changes:{scope}/{}",
        service.as_deref().unwrap_or("")
    );
    let digest = hex::encode(Sha256::digest(raw_body));
    let fact_id = content_fact_id(&["change.recorded", &stream_key, &digest]);
    Ok(vec![Fact {
        fact_id,
        stream_key,
        occurred_at: at,
        recorded_at,
        body: FactBody::ChangeRecorded(crate::ChangeRecorded {
            source: SOURCE.to_owned(),
            summary,
            service,
            at,
            details: details.map(|details| details.to_string()),
            links: (!event.links.is_empty()).then(|| Value::Array(event.links).to_string()),
            actor: actor.to_owned(),
        }),
    }])
}

/// RFC 3339, and the ISO 8601 offsets without a colon (`+0000`) that PagerDuty's own
/// examples use.
fn parse_iso8601(text: &str) -> Option<Timestamp> {
    if let Ok(at) = Timestamp::parse(text) {
        return Some(at);
    }
    let (head, offset) = text.split_at(text.len().checked_sub(5)?);
    let compact = offset.starts_with(['+', '-']) && offset[1..].bytes().all(|b| b.is_ascii_digit());
    compact
        .then(|| format!("{head}{}:{}", &offset[..3], &offset[3..]))
        .and_then(|fixed| Timestamp::parse(&fixed).ok())
}

fn bare_notification(group_key: String, status: AlertStatus) -> Notification {
    Notification {
        source: SOURCE.to_owned(),
        title: format!("PagerDuty event {group_key}"),
        group_key,
        receiver: String::new(),
        status,
        truncated_alerts: 0,
        external_url: String::new(),
        severity: Severity::Error,
        service: None,
        alerts: Vec::new(),
    }
}

fn required(value: &Option<String>, name: &str, errors: &mut Vec<String>) -> String {
    match value.as_deref().map(str::trim) {
        Some(value) if !value.is_empty() => value.to_owned(),
        _ => {
            errors.push(format!("'{name}' is missing or blank"));
            String::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Projection;

    /// The trigger example of PagerDuty's Events API v2 documentation.
    const TRIGGER: &str = include_str!("../../../tests/fixtures/pagerduty/trigger.json");

    fn at(second: i64) -> Timestamp {
        Timestamp::from_unix_seconds(1_795_000_000 + second).unwrap()
    }

    fn event(body: &str, second: i64) -> PagerDutyEvent {
        normalize_pagerduty(
            body.as_bytes(),
            "token-1",
            "grafana-pd",
            "generated-1",
            at(second),
        )
        .unwrap()
    }

    #[test]
    fn a_documented_trigger_becomes_an_alert_with_its_details() {
        let trigger = event(TRIGGER, 0);
        assert_eq!(trigger.dedup_key, "samplekeyhere");
        let FactBody::AlertNotified(alert) = &trigger.facts[0].body else {
            panic!("alert first")
        };
        assert_eq!(alert.title, "Example alert on host1.example.com");
        assert_eq!(alert.severity, Severity::Info);
        assert_eq!(alert.service.as_deref(), Some("prod-datapipe"));
        assert_eq!(
            alert.labels["source"],
            "monitoringtool:cloudvendor:central-region-dc-01:852559987:cluster/api-stats-prod-003"
        );
        assert!(alert.annotations["custom_details"].contains("ping time"));
        assert_eq!(alert.starts_at.to_string(), "2015-07-17T08:42:58.315Z");
        assert!(trigger.facts[0]
            .stream_key
            .starts_with("pagerduty:token-1/"));
    }

    #[test]
    fn trigger_acknowledge_resolve_follow_pagerduty_semantics() {
        let mut projection = Projection::default();
        let mut fold = |facts: Vec<Fact>| {
            facts.iter().for_each(|f| {
                projection.apply(f);
            })
        };
        fold(event(TRIGGER, 0).facts);
        fold(event(TRIGGER, 5).facts);
        let ack = r#"{"routing_key":"x","event_action":"acknowledge","dedup_key":"samplekeyhere"}"#;
        fold(event(ack, 10).facts);
        fold(event(ack, 11).facts);
        let resolve = r#"{"routing_key":"x","event_action":"resolve","dedup_key":"samplekeyhere"}"#;
        fold(event(resolve, 20).facts);
        fold(event(resolve, 21).facts);
        let incident = projection.incidents.values().next().unwrap();
        assert_eq!(projection.incidents.len(), 1);
        assert_eq!(incident.acknowledged_by.as_deref(), Some("grafana-pd"));
        assert_eq!(incident.status, crate::IncidentStatus::Resolved);
        let kinds: Vec<_> = incident.timeline.iter().map(|e| e.kind).collect();
        use crate::TimelineKind::*;
        assert_eq!(
            kinds,
            [
                Opened,
                AlertFiring,
                Acknowledged,
                AlertResolved,
                AutoResolved
            ]
        );
    }

    #[test]
    fn acknowledge_or_resolve_without_an_open_incident_changes_nothing() {
        let mut projection = Projection::default();
        for body in [
            r#"{"event_action":"acknowledge","dedup_key":"nothing-open"}"#,
            r#"{"event_action":"resolve","dedup_key":"nothing-open"}"#,
        ] {
            for fact in event(body, 0).facts {
                projection.apply(&fact);
            }
        }
        assert!(projection.incidents.is_empty());
    }

    #[test]
    fn a_trigger_without_a_dedup_key_gets_the_generated_one() {
        let body = TRIGGER.replace(r#""dedup_key": "samplekeyhere","#, "");
        assert_ne!(body, TRIGGER, "fixture layout changed");
        assert_eq!(event(&body, 0).dedup_key, "generated-1");
    }

    #[test]
    fn invalid_events_list_every_problem_as_pagerduty_does() {
        let errors = normalize_pagerduty(
            br#"{"event_action":"trigger","payload":{"severity":"urgent"}}"#,
            "t",
            "a",
            "g",
            at(0),
        )
        .unwrap_err();
        assert_eq!(
            errors,
            [
                "'payload.summary' is missing or blank",
                "'payload.source' is missing or blank",
                "'payload.severity' must be one of critical, error, warning, info",
            ]
        );
        let errors =
            normalize_pagerduty(br#"{"event_action":"snooze"}"#, "t", "a", "g", at(0)).unwrap_err();
        assert!(errors[0].contains("event_action"), "{errors:?}");
        let errors = normalize_pagerduty(br#"{"event_action":"resolve"}"#, "t", "a", "g", at(0))
            .unwrap_err();
        assert!(errors[0].contains("dedup_key"), "{errors:?}");
        let errors = normalize_pagerduty(b"[1]", "t", "a", "g", at(0)).unwrap_err();
        assert!(errors[0].contains("body"), "{errors:?}");
    }

    /// The change event example of PagerDuty's documentation.
    const CHANGE: &str = include_str!("../../../tests/fixtures/pagerduty/change.json");

    #[test]
    fn a_documented_change_event_becomes_a_change() {
        let facts = normalize_pagerduty_change(CHANGE.as_bytes(), "token-1", "ci", at(0)).unwrap();
        assert_eq!(facts.len(), 1);
        let FactBody::ChangeRecorded(change) = &facts[0].body else {
            panic!("a change")
        };
        assert_eq!(
            change.summary,
            "Build Success - Increase snapshot create timeout to 30 seconds"
        );
        assert_eq!(
            change.service.as_deref(),
            Some("acme-build-pipeline-tool-default-i-9999")
        );
        assert_eq!(change.at.to_string(), "2020-07-17T08:42:58.315Z");
        assert!(change.details.as_deref().unwrap().contains("build_state"));
        assert!(change
            .links
            .as_deref()
            .unwrap()
            .contains("View more details in Acme!"));
        let again = normalize_pagerduty_change(CHANGE.as_bytes(), "token-1", "ci", at(9)).unwrap();
        assert_eq!(
            again[0].fact_id, facts[0].fact_id,
            "a resent change is the same fact"
        );
        let errors = normalize_pagerduty_change(br#"{"payload":{}}"#, "t", "a", at(0)).unwrap_err();
        assert_eq!(errors, ["'payload.summary' is missing or blank"]);
    }

    #[test]
    fn routing_keys_scope_dedup_keys() {
        let one = normalize_pagerduty(TRIGGER.as_bytes(), "token-1", "a", "g", at(0)).unwrap();
        let two = normalize_pagerduty(TRIGGER.as_bytes(), "token-2", "a", "g", at(0)).unwrap();
        assert_ne!(one.facts[0].stream_key, two.facts[0].stream_key);
    }
}
