//! The Alertmanager webhook (version "4") normalizer: one request body in, one
//! `notification.received` fact plus one `alert.notified` fact per alert out.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::notification::{AlertReport, Notification};
use crate::{AlertStatus, Fact, Severity, Timestamp};

const SOURCE: &str = "alertmanager";
/// Alertmanager's "not ended" marker for `endsAt`.
const ZERO_TIME_YEAR: i32 = 1;

/// Why a request body was refused, naming the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct IngestError {
    /// A path such as `alerts[0].startsAt`, or `body` for the document as a whole.
    pub field: String,
    pub message: String,
}

impl IngestError {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Webhook {
    version: String,
    group_key: String,
    #[serde(default)]
    truncated_alerts: u64,
    status: AlertStatus,
    #[serde(default)]
    receiver: String,
    #[serde(default)]
    common_labels: BTreeMap<String, String>,
    #[serde(default)]
    common_annotations: BTreeMap<String, String>,
    #[serde(default, rename = "externalURL")]
    external_url: String,
    alerts: Vec<WebhookAlert>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WebhookAlert {
    status: AlertStatus,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    starts_at: Timestamp,
    ends_at: Option<Timestamp>,
    #[serde(default, rename = "generatorURL")]
    generator_url: String,
    fingerprint: String,
}

/// Parses an Alertmanager webhook body and turns it into facts, all on the group's stream.
///
/// Fact ids are derived from content: a resent notification yields the same ids, so the
/// log and the fold recognise it. The alert facts come first and the notification last,
/// so a truncation note lands on the incident the alerts opened.
pub fn normalize_alertmanager(
    raw_body: &[u8],
    recorded_at: Timestamp,
) -> Result<Vec<Fact>, IngestError> {
    let text = std::str::from_utf8(raw_body)
        .map_err(|error| IngestError::new("body", format!("not UTF-8: {error}")))?;
    let webhook: Webhook = parse_json(text.as_bytes())?;
    validate(&webhook)?;

    let title = webhook
        .common_annotations
        .get("summary")
        .or_else(|| webhook.common_labels.get("alertname"))
        .cloned()
        .unwrap_or_else(|| format!("Alertmanager group {}", webhook.group_key));
    let severity = Severity::from_label(webhook.common_labels.get("severity").map(String::as_str));
    let service = webhook
        .common_labels
        .get("service")
        .or_else(|| webhook.common_labels.get("job"))
        .cloned();
    let alerts = webhook
        .alerts
        .into_iter()
        .map(|alert| AlertReport {
            // Each alert may carry its own severity; the group's applies otherwise.
            severity: alert
                .labels
                .get("severity")
                .map(|label| Severity::from_label(Some(label))),
            ends_at: alert
                .ends_at
                .filter(|at| at.datetime().year() > ZERO_TIME_YEAR),
            fingerprint: alert.fingerprint,
            status: alert.status,
            labels: alert.labels,
            annotations: alert.annotations,
            starts_at: alert.starts_at,
            generator_url: alert.generator_url,
        })
        .collect();
    let notification = Notification {
        source: SOURCE.to_owned(),
        group_key: webhook.group_key,
        receiver: webhook.receiver,
        status: webhook.status,
        truncated_alerts: webhook.truncated_alerts,
        external_url: webhook.external_url,
        title,
        severity,
        service,
        alerts,
    };
    notification.check_limits()?;
    Ok(notification.into_facts(text, recorded_at))
}

/// Parses JSON, naming the field at fault (`alerts[0].startsAt`), or `body` when the
/// document as a whole is not the expected JSON.
pub fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, IngestError> {
    crate::limits::check_json_depth(bytes)?;
    // Tracking the path wraps every field of every body, yet only a body that fails needs
    // it: such a body is parsed again with tracking to name the field. Both parses are the
    // same deserializer (neither checks for trailing bytes), so they accept the same bodies.
    if let Ok(value) = T::deserialize(&mut serde_json::Deserializer::from_slice(bytes)) {
        return Ok(value);
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let field = match error.path().to_string() {
            // serde_path_to_error says "." for the root and "?" before any field was read;
            // a key "" (found by fuzzing) prints as nothing.
            path if path.is_empty() || path == "." || path == "?" => "body".to_owned(),
            path => path,
        };
        IngestError::new(field, error.into_inner().to_string())
    })
}

fn validate(webhook: &Webhook) -> Result<(), IngestError> {
    if webhook.version != "4" {
        return Err(IngestError::new(
            "version",
            format!(
                "unsupported webhook version {:?}; Aftermath reads Alertmanager's version \"4\"",
                webhook.version
            ),
        ));
    }
    if webhook.group_key.trim().is_empty() {
        return Err(IngestError::new("groupKey", "must not be empty"));
    }
    if webhook.alerts.is_empty() {
        return Err(IngestError::new("alerts", "must hold at least one alert"));
    }
    crate::limits::check_alert_count("alerts", webhook.alerts.len())?;
    for (index, alert) in webhook.alerts.iter().enumerate() {
        if alert.fingerprint.trim().is_empty() {
            return Err(IngestError::new(
                format!("alerts[{index}].fingerprint"),
                "must not be empty",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FactBody;

    const FIRING: &str = r#"{
      "version": "4", "groupKey": "{}:{alertname=\"HighErrorRate\"}", "truncatedAlerts": 0,
      "status": "firing", "receiver": "aftermath", "groupLabels": {"alertname": "HighErrorRate"},
      "commonLabels": {"alertname": "HighErrorRate", "severity": "critical", "job": "checkout"},
      "commonAnnotations": {"summary": "Checkout 5xx above 5%"},
      "externalURL": "http://am:9093",
      "alerts": [{"status": "firing", "labels": {"alertname": "HighErrorRate", "instance": "a"},
        "annotations": {}, "startsAt": "2026-11-24T07:00:00.123Z",
        "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prom/graph", "fingerprint": "f1"}]
    }"#;

    fn recorded() -> Timestamp {
        Timestamp::parse("2026-11-24T07:00:05Z").unwrap()
    }

    #[test]
    fn normalizes_title_severity_service_and_zero_end_time() {
        let facts = normalize_alertmanager(FIRING.as_bytes(), recorded()).unwrap();
        assert_eq!(facts.len(), 2);
        let FactBody::AlertNotified(alert) = &facts[0].body else {
            panic!("alert first")
        };
        assert_eq!(alert.title, "Checkout 5xx above 5%");
        assert_eq!(alert.severity, Severity::Critical);
        assert_eq!(alert.service.as_deref(), Some("checkout"));
        assert_eq!(alert.ends_at, None);
        assert_eq!(facts[0].occurred_at.to_string(), "2026-11-24T07:00:00.123Z");
        let FactBody::NotificationReceived(note) = &facts[1].body else {
            panic!("notification last")
        };
        assert_eq!(note.raw_body, FIRING);
    }

    #[test]
    fn the_same_body_yields_the_same_fact_ids_whenever_it_arrives() {
        let first = normalize_alertmanager(FIRING.as_bytes(), recorded()).unwrap();
        let later = Timestamp::parse("2026-11-24T08:00:00Z").unwrap();
        let again = normalize_alertmanager(FIRING.as_bytes(), later).unwrap();
        let ids = |facts: &[Fact]| facts.iter().map(|f| f.fact_id).collect::<Vec<_>>();
        assert_eq!(ids(&first), ids(&again));
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (
                FIRING.replace(r#""version": "4""#, r#""version": "3""#),
                "version",
            ),
            (
                FIRING.replace(r#""fingerprint": "f1""#, r#""fingerprint": """#),
                "alerts[0].fingerprint",
            ),
            (
                FIRING.replace(r#""startsAt": "2026-11-24T07:00:00.123Z","#, ""),
                "alerts[0]",
            ),
            (
                FIRING.replace(
                    r#""status": "firing", "labels""#,
                    r#""status": "burning", "labels""#,
                ),
                "alerts[0].status",
            ),
            (
                FIRING.replace(
                    r#""startsAt": "2026-11-24T07:00:00.123Z""#,
                    r#""startsAt": "yesterday""#,
                ),
                "alerts[0].startsAt",
            ),
            ("{".to_owned(), "body"),
            ("[]".to_owned(), "body"),
        ];
        for (body, field) in cases {
            let error = normalize_alertmanager(body.as_bytes(), recorded()).unwrap_err();
            assert_eq!(error.field, field, "{error}");
        }
    }
}
