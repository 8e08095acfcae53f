//! The Grafana unified alerting webhook (contact point payload version "1") normalizer:
//! one request body in, one `notification.received` fact plus one `alert.notified` fact per
//! alert out, on a stream scoped by Grafana organisation.
//!
//! Grafana's body is Alertmanager's with a few additions (`orgId`, `state`, `title`,
//! `message`, and per alert `silenceURL`, `dashboardURL`, `panelURL`, `imageURL`, `values`,
//! `valueString`). The mapping:
//!
//! - grouping: `groupKey` scoped by `orgId` (`org<orgId>/<groupKey>`), because two Grafana
//!   organisations (or two Grafana instances behind one token) may use the same group key
//!   for unrelated alerts; per-alert state is kept by `fingerprint`;
//! - title: `commonAnnotations.summary`, else `commonLabels.alertname`, else Grafana's
//!   rendered `title`;
//! - the links and values a responder clicks through to are kept as annotations on the
//!   alert, under Grafana's own field names, unless the rule already has an annotation of
//!   that name (the rule's own annotation wins);
//! - each alert's `status` (`firing`/`resolved`) is what the fold goes by. The group's
//!   `status` and the deprecated `state` are informational: `state` is `alerting` or `ok`
//!   in unified alerting, and legacy values such as `no_data`, `pending` or `paused` may
//!   appear from older senders and templates. Aftermath never refuses an unknown `state`,
//!   and only uses it when the group `status` is missing: `ok` then reads as resolved and
//!   every other state as firing, because each of them means the rule is not healthy.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::notification::{AlertReport, Notification};
use crate::{parse_json, AlertStatus, Fact, IngestError, Severity, Timestamp};

const SOURCE: &str = "grafana";
/// The payload version Grafana's unified alerting webhook sends.
const SUPPORTED_VERSION: &str = "1";
/// Grafana's (Go's zero time) "not ended" marker for `endsAt`.
const ZERO_TIME_YEAR: i32 = 1;

/// The fields are optional here so that a missing one is reported by its own path
/// (`alerts[0].fingerprint`) rather than by its parent's; [`validate`] decides what is
/// required. Unknown fields are ignored (they stay in the raw body).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Webhook {
    version: Option<String>,
    group_key: Option<String>,
    org_id: Option<i64>,
    status: Option<AlertStatus>,
    state: Option<String>,
    receiver: Option<String>,
    title: Option<String>,
    #[serde(rename = "externalURL")]
    external_url: Option<String>,
    common_labels: Option<BTreeMap<String, String>>,
    common_annotations: Option<BTreeMap<String, String>>,
    truncated_alerts: Option<u64>,
    alerts: Option<Vec<WebhookAlert>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WebhookAlert {
    status: Option<AlertStatus>,
    labels: Option<BTreeMap<String, String>>,
    annotations: Option<BTreeMap<String, String>>,
    starts_at: Option<Timestamp>,
    ends_at: Option<Timestamp>,
    #[serde(rename = "generatorURL")]
    generator_url: Option<String>,
    fingerprint: Option<String>,
    #[serde(rename = "silenceURL")]
    silence_url: Option<String>,
    #[serde(rename = "dashboardURL")]
    dashboard_url: Option<String>,
    #[serde(rename = "panelURL")]
    panel_url: Option<String>,
    #[serde(rename = "imageURL")]
    image_url: Option<String>,
    /// Numbers in Grafana; read as any JSON so an odd value is shown, not refused.
    values: Option<BTreeMap<String, Value>>,
    value_string: Option<String>,
}

/// A body that passed validation: every required field is present.
struct Checked {
    group_key: String,
    org_id: i64,
    status: AlertStatus,
    alerts: Vec<CheckedAlert>,
}

struct CheckedAlert {
    status: AlertStatus,
    starts_at: Timestamp,
    fingerprint: String,
}

/// Parses a Grafana unified alerting webhook body and turns it into facts, all on the
/// stream `grafana:org<orgId>/<groupKey>`.
///
/// Fact ids are derived from content: a resent notification yields the same ids, so the
/// log and the fold recognise it.
pub fn normalize_grafana(
    raw_body: &[u8],
    recorded_at: Timestamp,
) -> Result<Vec<Fact>, IngestError> {
    let text = std::str::from_utf8(raw_body)
        .map_err(|error| ingest_error("body", format!("not UTF-8: {error}")))?;
    // serde would read a JSON array positionally into the struct.
    if !text.trim_start().starts_with('{') {
        return Err(ingest_error(
            "body",
            "must be a JSON object (Grafana's webhook payload)",
        ));
    }
    let mut webhook: Webhook = parse_json(text.as_bytes())?;
    let checked = validate(&webhook)?;

    let common_labels = webhook.common_labels.take().unwrap_or_default();
    let common_annotations = webhook.common_annotations.take().unwrap_or_default();
    let title = common_annotations
        .get("summary")
        .or_else(|| common_labels.get("alertname"))
        .or(webhook.title.as_ref())
        .filter(|title| !title.trim().is_empty())
        .cloned()
        .unwrap_or_else(|| format!("Grafana group {}", checked.group_key));
    let severity = Severity::from_label(common_labels.get("severity").map(String::as_str));
    let service = common_labels
        .get("service")
        .or_else(|| common_labels.get("job"))
        .cloned();
    let alerts = webhook
        .alerts
        .take()
        .unwrap_or_default()
        .into_iter()
        .zip(checked.alerts)
        .map(|(alert, checked)| alert_report(alert, checked))
        .collect();
    let notification = Notification {
        source: SOURCE.to_owned(),
        group_key: format!("org{}/{}", checked.org_id, checked.group_key),
        receiver: webhook.receiver.unwrap_or_default(),
        status: checked.status,
        truncated_alerts: webhook.truncated_alerts.unwrap_or_default(),
        external_url: webhook.external_url.unwrap_or_default(),
        title,
        severity,
        service,
        alerts,
    };
    notification.check_limits()?;
    Ok(notification.into_facts(text, recorded_at))
}

fn alert_report(alert: WebhookAlert, checked: CheckedAlert) -> AlertReport {
    let labels = alert.labels.unwrap_or_default();
    let mut annotations = alert.annotations.unwrap_or_default();
    let values = alert
        .values
        .filter(|values| !values.is_empty())
        .map(|values| render_values(&values));
    let links = [
        ("silenceURL", alert.silence_url),
        ("dashboardURL", alert.dashboard_url),
        ("panelURL", alert.panel_url),
        ("imageURL", alert.image_url),
        ("valueString", alert.value_string),
        ("values", values),
    ];
    for (name, value) in links {
        if let Some(value) = value.filter(|value| !value.trim().is_empty()) {
            annotations.entry(name.to_owned()).or_insert(value);
        }
    }
    AlertReport {
        // Each alert may carry its own severity; the group's applies otherwise.
        severity: labels
            .get("severity")
            .map(|label| Severity::from_label(Some(label))),
        ends_at: alert
            .ends_at
            .filter(|at| at.datetime().year() > ZERO_TIME_YEAR),
        fingerprint: checked.fingerprint,
        status: checked.status,
        labels,
        annotations,
        starts_at: checked.starts_at,
        generator_url: alert.generator_url.unwrap_or_default(),
    }
}

/// `B=44.23943737541908, C=1`: the query values that triggered the alert, by ref id.
fn render_values(values: &BTreeMap<String, Value>) -> String {
    values
        .iter()
        .map(|(name, value)| match value {
            Value::String(text) => format!("{name}={text}"),
            other => format!("{name}={other}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn validate(webhook: &Webhook) -> Result<Checked, IngestError> {
    match webhook.version.as_deref() {
        Some(SUPPORTED_VERSION) => {}
        Some(other) => {
            return Err(ingest_error(
                "version",
                format!(
                    "unsupported webhook version {other:?}; Aftermath reads Grafana unified \
                     alerting's version \"{SUPPORTED_VERSION}\""
                ),
            ))
        }
        None => {
            return Err(ingest_error(
                "version",
                format!(
                    "is required; Aftermath reads Grafana unified alerting's webhook \
                     (version \"{SUPPORTED_VERSION}\"), not legacy Grafana alerting"
                ),
            ))
        }
    }
    let group_key = required_text(webhook.group_key.as_deref(), "groupKey")?;
    let org_id = webhook
        .org_id
        .ok_or_else(|| ingest_error("orgId", "is required (the Grafana organisation id)"))?;
    let status = match (webhook.status, webhook.state.as_deref()) {
        (Some(status), _) => status,
        (None, Some(state)) if state.trim().eq_ignore_ascii_case("ok") => AlertStatus::Resolved,
        (None, Some(_)) => AlertStatus::Firing,
        (None, None) => return Err(ingest_error("status", "is required (firing or resolved)")),
    };
    let alerts = webhook
        .alerts
        .as_deref()
        .ok_or_else(|| ingest_error("alerts", "is required"))?;
    if alerts.is_empty() {
        return Err(ingest_error("alerts", "must hold at least one alert"));
    }
    crate::limits::check_alert_count("alerts", alerts.len())?;
    let alerts = alerts
        .iter()
        .enumerate()
        .map(|(index, alert)| {
            let field = |name: &str| format!("alerts[{index}].{name}");
            Ok(CheckedAlert {
                status: alert.status.ok_or_else(|| {
                    ingest_error(field("status"), "is required (firing or resolved)")
                })?,
                starts_at: alert
                    .starts_at
                    .ok_or_else(|| ingest_error(field("startsAt"), "is required"))?,
                fingerprint: required_text(alert.fingerprint.as_deref(), &field("fingerprint"))?,
            })
        })
        .collect::<Result<_, IngestError>>()?;
    Ok(Checked {
        group_key,
        org_id,
        status,
        alerts,
    })
}

fn required_text(value: Option<&str>, field: &str) -> Result<String, IngestError> {
    match value {
        None => Err(ingest_error(field, "is required")),
        Some(text) if text.trim().is_empty() => Err(ingest_error(field, "must not be empty")),
        Some(text) => Ok(text.to_owned()),
    }
}

fn ingest_error(field: impl Into<String>, message: impl Into<String>) -> IngestError {
    IngestError {
        field: field.into(),
        message: message.into(),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::{AlertNotified, FactBody, NotificationReceived};

    const FIRING: &str = include_str!("../../../tests/fixtures/grafana/firing.json");
    const RESOLVED: &str = include_str!("../../../tests/fixtures/grafana/resolved.json");

    fn recorded() -> Timestamp {
        Timestamp::parse("2021-10-12T08:00:05Z").unwrap()
    }

    fn alerts(facts: &[Fact]) -> Vec<&AlertNotified> {
        facts
            .iter()
            .filter_map(|fact| match &fact.body {
                FactBody::AlertNotified(alert) => Some(alert),
                _ => None,
            })
            .collect()
    }

    fn notification(facts: &[Fact]) -> &NotificationReceived {
        match &facts.last().expect("facts").body {
            FactBody::NotificationReceived(note) => note,
            other => panic!("notification last, got {other:?}"),
        }
    }

    fn ids(facts: &[Fact]) -> Vec<uuid::Uuid> {
        facts.iter().map(|fact| fact.fact_id).collect()
    }

    #[test]
    fn the_documented_firing_example_becomes_two_alerts_on_the_org_scoped_stream() {
        let facts = normalize_grafana(FIRING.as_bytes(), recorded()).unwrap();
        assert_eq!(facts.len(), 3);
        for fact in &facts {
            assert_eq!(fact.stream_key, "grafana:org1/{}:{}");
        }
        let alerts = alerts(&facts);
        assert_eq!(alerts[0].fingerprint, "c6eadffa33fcdf37");
        assert_eq!(alerts[1].fingerprint, "bc97ff14869b13e3");
        assert_eq!(alerts[0].group_key, "org1/{}:{}");
        assert_eq!(alerts[0].source, "grafana");
        assert_eq!(alerts[0].status, AlertStatus::Firing);
        // The example has no common summary or alertname: Grafana's own title is used.
        assert_eq!(alerts[0].title, "[FIRING:2]  (blue)");
        assert_eq!(alerts[0].severity, Severity::Error);
        assert_eq!(alerts[0].ends_at, None);
        assert_eq!(
            alerts[0].starts_at.to_string(),
            "2021-10-12T07:51:03.157076Z"
        );
        assert_eq!(
            alerts[0].generator_url,
            "https://play.grafana.org/alerting/1afz29v7z/edit"
        );
        assert_eq!(
            facts[0].occurred_at.to_string(),
            "2021-10-12T07:51:03.157076Z"
        );
        let note = notification(&facts);
        assert_eq!(note.raw_body, FIRING);
        assert_eq!(note.receiver, "My Super Webhook");
        assert_eq!(note.external_url, "https://play.grafana.org/");
        assert_eq!(note.alert_count, 2);
        assert_eq!(note.status, AlertStatus::Firing);
    }

    #[test]
    fn links_and_values_are_kept_as_annotations_for_responders() {
        let facts = normalize_grafana(FIRING.as_bytes(), recorded()).unwrap();
        let annotations = &alerts(&facts)[0].annotations;
        assert_eq!(
            annotations.get("silenceURL").map(String::as_str),
            Some(
                "https://play.grafana.org/alerting/silence/new?alertmanager=grafana&matchers=alertname%3DT2%2Cteam%3Dblue%2Czone%3Dus-1"
            )
        );
        assert_eq!(
            annotations.get("values").map(String::as_str),
            Some("B=44.23943737541908, C=1")
        );
        assert_eq!(
            annotations.get("summary").map(String::as_str),
            Some("This alert was triggered for zone us-1")
        );
        // Empty links (the example's dashboardURL and panelURL) are left out.
        assert!(!annotations.contains_key("dashboardURL"));
        assert!(!annotations.contains_key("panelURL"));

        let mut body: Value = serde_json::from_str(FIRING).unwrap();
        let alert = &mut body["alerts"][0];
        alert["dashboardURL"] = json!("https://grafana.example/d/abc");
        alert["panelURL"] = json!("https://grafana.example/d/abc?viewPanel=2");
        alert["valueString"] = json!("[ var='B' labels={} value=44.2 ]");
        alert["annotations"]["values"] = json!("the rule's own");
        let facts = normalize_grafana(body.to_string().as_bytes(), recorded()).unwrap();
        let annotations = &alerts(&facts)[0].annotations;
        assert_eq!(annotations["dashboardURL"], "https://grafana.example/d/abc");
        assert_eq!(
            annotations["panelURL"],
            "https://grafana.example/d/abc?viewPanel=2"
        );
        assert_eq!(
            annotations["valueString"],
            "[ var='B' labels={} value=44.2 ]"
        );
        assert_eq!(annotations["values"], "the rule's own");
    }

    #[test]
    fn the_resolved_counterpart_resolves_the_same_alerts_on_the_same_stream() {
        let firing = normalize_grafana(FIRING.as_bytes(), recorded()).unwrap();
        let resolved = normalize_grafana(RESOLVED.as_bytes(), recorded()).unwrap();
        assert_eq!(resolved[0].stream_key, firing[0].stream_key);
        let alerts = alerts(&resolved);
        assert_eq!(alerts.len(), 2);
        for alert in &alerts {
            assert_eq!(alert.status, AlertStatus::Resolved);
            assert!(alert.ends_at.is_some());
        }
        assert_eq!(alerts[0].fingerprint, "c6eadffa33fcdf37");
        assert_eq!(
            resolved[0].occurred_at,
            alerts[0].ends_at.unwrap(),
            "a resolution occurs when the alert ended"
        );
        assert_eq!(notification(&resolved).status, AlertStatus::Resolved);
    }

    #[test]
    fn the_title_prefers_summary_then_alertname_then_grafanas_title() {
        let mut body: Value = serde_json::from_str(FIRING).unwrap();
        let title_of = |body: &Value| {
            let facts = normalize_grafana(body.to_string().as_bytes(), recorded()).unwrap();
            alerts(&facts)[0].title.clone()
        };
        body["commonLabels"]["alertname"] = json!("High memory usage");
        assert_eq!(title_of(&body), "High memory usage");
        body["commonAnnotations"]["summary"] = json!("Memory above 90% in us-1");
        assert_eq!(title_of(&body), "Memory above 90% in us-1");
        body["commonAnnotations"] = json!({});
        body["commonLabels"] = json!({});
        body["title"] = json!("");
        assert_eq!(title_of(&body), "Grafana group {}:{}");
    }

    #[test]
    fn severity_and_service_come_from_labels() {
        let mut body: Value = serde_json::from_str(FIRING).unwrap();
        body["commonLabels"]["severity"] = json!("warning");
        body["commonLabels"]["service"] = json!("checkout");
        body["alerts"][1]["labels"]["severity"] = json!("critical");
        let facts = normalize_grafana(body.to_string().as_bytes(), recorded()).unwrap();
        let alerts = alerts(&facts);
        assert_eq!(alerts[0].severity, Severity::Warning);
        assert_eq!(alerts[1].severity, Severity::Critical);
        assert_eq!(alerts[0].service.as_deref(), Some("checkout"));
    }

    #[test]
    fn the_same_group_key_in_two_organisations_is_two_streams() {
        let mut body: Value = serde_json::from_str(FIRING).unwrap();
        body["orgId"] = json!(2);
        let org1 = normalize_grafana(FIRING.as_bytes(), recorded()).unwrap();
        let org2 = normalize_grafana(body.to_string().as_bytes(), recorded()).unwrap();
        assert_eq!(org2[0].stream_key, "grafana:org2/{}:{}");
        assert_ne!(org1[0].stream_key, org2[0].stream_key);
        assert!(ids(&org1).iter().all(|id| !ids(&org2).contains(id)));
    }

    #[test]
    fn the_same_body_yields_the_same_fact_ids_whenever_it_arrives() {
        let first = normalize_grafana(FIRING.as_bytes(), recorded()).unwrap();
        let later = Timestamp::parse("2021-10-12T09:00:00Z").unwrap();
        let again = normalize_grafana(FIRING.as_bytes(), later).unwrap();
        assert_eq!(ids(&first), ids(&again));
    }

    #[test]
    fn a_missing_group_status_falls_back_to_state() {
        let status_of = |state: Option<&str>| {
            let mut body: Value = serde_json::from_str(FIRING).unwrap();
            let object = body.as_object_mut().unwrap();
            object.remove("status");
            match state {
                Some(state) => object.insert("state".to_owned(), json!(state)),
                None => object.remove("state"),
            };
            normalize_grafana(body.to_string().as_bytes(), recorded())
                .map(|facts| notification(&facts).status)
        };
        assert_eq!(status_of(Some("ok")), Ok(AlertStatus::Resolved));
        assert_eq!(status_of(Some("alerting")), Ok(AlertStatus::Firing));
        assert_eq!(status_of(Some("no_data")), Ok(AlertStatus::Firing));
        assert_eq!(status_of(Some("pending")), Ok(AlertStatus::Firing));
        assert_eq!(status_of(None).unwrap_err().field, "status");
        // With a status, an unusual state is kept in the raw body and never refused.
        let body = FIRING.replace(r#""state": "alerting""#, r#""state": "no_data""#);
        assert_ne!(body, FIRING);
        assert!(normalize_grafana(body.as_bytes(), recorded()).is_ok());
    }

    #[test]
    fn null_maps_and_unknown_fields_are_accepted() {
        let mut body: Value = serde_json::from_str(FIRING).unwrap();
        body["groupLabels"] = Value::Null;
        body["commonLabels"] = Value::Null;
        body["alerts"][0]["labels"] = Value::Null;
        body["alerts"][0]["values"] = Value::Null;
        body["alerts"][0]["somethingNew"] = json!({"nested": [1, 2]});
        body["extraTopLevel"] = json!(true);
        assert!(normalize_grafana(body.to_string().as_bytes(), recorded()).is_ok());
    }

    #[test]
    fn errors_name_the_field() {
        let without = |pointer: &str, key: &str| {
            let mut body: Value = serde_json::from_str(FIRING).unwrap();
            body.pointer_mut(pointer)
                .unwrap()
                .as_object_mut()
                .unwrap()
                .remove(key);
            body.to_string()
        };
        let cases = [
            (
                FIRING.replace(r#""version": "1""#, r#""version": "4""#),
                "version",
            ),
            (without("", "version"), "version"),
            (without("", "groupKey"), "groupKey"),
            (
                FIRING.replace(r#""groupKey": "{}:{}""#, r#""groupKey": " ""#),
                "groupKey",
            ),
            (without("", "orgId"), "orgId"),
            (
                FIRING.replace(r#""orgId": 1"#, r#""orgId": "one""#),
                "orgId",
            ),
            (without("", "alerts"), "alerts"),
            (without("/alerts/0", "fingerprint"), "alerts[0].fingerprint"),
            (
                FIRING.replace(
                    r#""fingerprint": "bc97ff14869b13e3""#,
                    r#""fingerprint": """#,
                ),
                "alerts[1].fingerprint",
            ),
            (without("/alerts/1", "startsAt"), "alerts[1].startsAt"),
            (without("/alerts/0", "status"), "alerts[0].status"),
            (
                FIRING.replacen(r#""status": "firing""#, r#""status": "burning""#, 1),
                "status",
            ),
            (
                FIRING.replace(
                    r#""startsAt": "2021-10-12T09:51:03.157076+02:00""#,
                    r#""startsAt": "yesterday""#,
                ),
                "alerts[0].startsAt",
            ),
            ("{".to_owned(), "body"),
            ("[]".to_owned(), "body"),
            ("\"version\"".to_owned(), "body"),
        ];
        for (body, field) in cases {
            let error = normalize_grafana(body.as_bytes(), recorded()).unwrap_err();
            assert_eq!(error.field, field, "{error}");
        }
        let error = normalize_grafana(b"\xff{", recorded()).unwrap_err();
        assert_eq!(error.field, "body");
        let mut empty: Value = serde_json::from_str(FIRING).unwrap();
        empty["alerts"] = json!([]);
        let error = normalize_grafana(empty.to_string().as_bytes(), recorded()).unwrap_err();
        assert_eq!(error.field, "alerts");
    }

    fn label_map() -> impl Strategy<Value = BTreeMap<String, String>> {
        prop::collection::btree_map("[a-z_]{1,8}", "[ -~]{0,12}", 0..4)
    }

    prop_compose! {
        fn generated_alert()(
            firing in any::<bool>(),
            labels in label_map(),
            annotations in label_map(),
            fingerprint in "[0-9a-f]{16}",
            start in 0i64..4_000_000_000,
            values in prop::collection::btree_map("[A-Z]", -1e9f64..1e9, 0..3),
            value_string in prop::option::of("[ -~]{0,20}"),
        ) -> Value {
            json!({
                "status": if firing { "firing" } else { "resolved" },
                "labels": labels,
                "annotations": annotations,
                "startsAt": Timestamp::from_unix_seconds(start).unwrap().to_string(),
                "endsAt": if firing {
                    "0001-01-01T00:00:00Z".to_owned()
                } else {
                    Timestamp::from_unix_seconds(start + 60).unwrap().to_string()
                },
                "generatorURL": "https://grafana.example/alerting/grafana/rule/view",
                "fingerprint": fingerprint,
                "silenceURL": "https://grafana.example/alerting/silence/new",
                "dashboardURL": "",
                "panelURL": "",
                "values": values,
                "valueString": value_string,
            })
        }
    }

    prop_compose! {
        fn generated_body()(
            org_id in 1i64..1000,
            group_key in "[!-~][ -~]{0,39}",
            common_labels in label_map(),
            alerts in prop::collection::vec(generated_alert(), 1..4),
            truncated in 0u64..3,
        ) -> String {
            json!({
                "receiver": "aftermath",
                "status": "firing",
                "orgId": org_id,
                "alerts": alerts,
                "groupLabels": {},
                "commonLabels": common_labels,
                "commonAnnotations": {},
                "externalURL": "https://grafana.example/",
                "version": "1",
                "groupKey": group_key,
                "truncatedAlerts": truncated,
                "title": "[FIRING]",
                "state": "alerting",
                "message": "",
            })
            .to_string()
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            match normalize_grafana(&bytes, recorded()) {
                Ok(facts) => prop_assert!(!facts.is_empty()),
                Err(error) => prop_assert!(!error.field.is_empty()),
            }
        }

        #[test]
        fn arbitrary_json_never_panics(body in arbitrary_json()) {
            let text = body.to_string();
            match normalize_grafana(text.as_bytes(), recorded()) {
                Ok(facts) => prop_assert!(!facts.is_empty()),
                Err(error) => prop_assert!(!error.field.is_empty()),
            }
        }

        #[test]
        fn generated_bodies_round_trip(body in generated_body()) {
            let first = normalize_grafana(body.as_bytes(), recorded()).unwrap();
            let later = Timestamp::parse("2030-01-01T00:00:00Z").unwrap();
            let again = normalize_grafana(body.as_bytes(), later).unwrap();
            prop_assert_eq!(ids(&first), ids(&again));
            let parsed: Value = serde_json::from_str(&body).unwrap();
            let alert_count = parsed["alerts"].as_array().unwrap().len();
            prop_assert_eq!(first.len(), alert_count + 1);
            let stream = format!("grafana:org{}/{}", parsed["orgId"], parsed["groupKey"].as_str().unwrap());
            prop_assert!(first.iter().all(|fact| fact.stream_key == stream));
        }
    }

    /// Grafana-shaped JSON with fields missing, mistyped or null, to reach validation.
    fn arbitrary_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            "[ -~]{0,8}".prop_map(Value::from),
            Just(json!("1")),
            Just(json!("firing")),
            Just(json!("2021-10-12T09:51:03Z")),
        ];
        let value = leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
                prop::collection::btree_map(field_name(), inner, 0..5)
                    .prop_map(|map| Value::Object(map.into_iter().collect())),
            ]
        });
        prop::collection::btree_map(field_name(), value, 0..8)
            .prop_map(|map| Value::Object(map.into_iter().collect()))
    }

    fn field_name() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("version".to_owned()),
            Just("groupKey".to_owned()),
            Just("orgId".to_owned()),
            Just("status".to_owned()),
            Just("state".to_owned()),
            Just("alerts".to_owned()),
            Just("fingerprint".to_owned()),
            Just("startsAt".to_owned()),
            Just("values".to_owned()),
            Just("labels".to_owned()),
            "[a-z]{1,6}",
        ]
    }
}
