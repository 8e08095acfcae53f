//! The generic JSON sender, for anything that can POST a small JSON object, and the same
//! event carried in a CloudEvents 1.0 envelope (JSON format, one event or a batch).
//!
//! A generic event is one alert:
//!
//! | field         | required                          | becomes                                        |
//! |---------------|-----------------------------------|------------------------------------------------|
//! | `status`      | always: `"firing"` / `"resolved"` | the alert's status                             |
//! | `title`       | when firing                       | the incident title, annotation `summary`       |
//! | `dedup_key`   | no; derived from title + service  | the fingerprint and (scoped) the grouping key  |
//! | `severity`    | no; `error` when absent/unknown   | [`Severity::from_label`]                       |
//! | `service`     | no                                | the incident's service                         |
//! | `description` | no                                | annotation `description`                       |
//! | `labels`      | no; a string → string map         | the alert's labels                             |
//! | `occurred_at` | no; RFC 3339, else the receipt    | `starts_at` (firing) / `ends_at` (resolved)    |
//! | `source_url`  | no                                | the alert's `generator_url`                    |
//!
//! Any other field is kept in the raw body of the `notification.received` fact, never an
//! error. A resolve without `dedup_key` must carry the same `title` (and `service`) as the
//! trigger, since that is what the key is derived from.
//!
//! One incident per dedup key *per tenant*: the caller passes its token id, and the
//! grouping key is `<token id>/<dedup_key>`, so two tenants using the same key never share
//! an incident. Both endpoints use the source `generic`: a CloudEvent is only an envelope
//! around a generic event, so a key triggered through one can be resolved through the other.

use std::collections::BTreeMap;

use serde::de::IgnoredAny;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::notification::{AlertReport, Notification};
use crate::{parse_json, AlertStatus, Fact, IngestError, Severity, Timestamp};

/// A dedup key longer than this is refused: it becomes part of a partition key.
pub const MAX_DEDUP_KEY_BYTES: usize = 255;

/// A CloudEvents batch holding more events than this is refused, bounding what one
/// all-or-nothing append carries.
pub const MAX_CLOUDEVENTS_PER_BATCH: usize = 1_000;

const SOURCE: &str = "generic";
/// The only CloudEvents version whose attributes this reads.
const CLOUDEVENTS_SPEC_VERSION: &str = "1.0";
/// How a derived dedup key starts, so that a reader of the response knows where it came from.
const DERIVED_KEY_PREFIX: &str = "derived:";

/// What one generic event (or one CloudEvent) became: its facts, all on one stream.
#[derive(Clone, Debug, PartialEq)]
pub struct NormalizedGenericEvent {
    /// The key the event was grouped by: the sender's, or the one derived from title and
    /// service. A sender needs it to resolve what it triggered without a key.
    pub dedup_key: String,
    pub stream_key: String,
    pub facts: Vec<Fact>,
}

/// The two CloudEvents structured content modes, told apart by the request's media type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloudEventsMode {
    /// `application/cloudevents+json`: the body is one event.
    Structured,
    /// `application/cloudevents-batch+json`: the body is a JSON array of events.
    Batch,
}

impl CloudEventsMode {
    /// What a refused request is told.
    pub const ACCEPTED_CONTENT_TYPES: &'static str = "application/cloudevents+json (one event) \
        or application/cloudevents-batch+json (a JSON array of events); binary content mode \
        is not accepted";

    /// The mode a `Content-Type` header value asks for, parameters (`charset`) ignored.
    pub fn from_content_type(value: &str) -> Option<Self> {
        let media_type = value.split(';').next().unwrap_or_default().trim();
        if media_type.eq_ignore_ascii_case("application/cloudevents+json") {
            Some(Self::Structured)
        } else if media_type.eq_ignore_ascii_case("application/cloudevents-batch+json") {
            Some(Self::Batch)
        } else {
            None
        }
    }
}

/// The fields of a generic event. Optional in serde so that a missing one is named by
/// [`to_notification`] rather than reported as a document-level error.
#[derive(Deserialize)]
#[serde(expecting = "a JSON object holding one generic alert event")]
struct GenericFields {
    title: Option<String>,
    status: Option<AlertStatus>,
    dedup_key: Option<String>,
    severity: Option<String>,
    service: Option<String>,
    description: Option<String>,
    labels: Option<BTreeMap<String, String>>,
    occurred_at: Option<Timestamp>,
    source_url: Option<String>,
}

/// The CloudEvents context attributes this reads. A `null` attribute is unset (JSON format
/// §2.2), which `Option` gives for free; extension attributes stay in the raw event.
#[derive(Deserialize)]
#[serde(expecting = "a JSON object holding one CloudEvent")]
struct CloudEvent {
    specversion: Option<String>,
    id: Option<String>,
    source: Option<String>,
    #[serde(rename = "type")]
    event_type: Option<String>,
    time: Option<Timestamp>,
    subject: Option<String>,
    datacontenttype: Option<String>,
    data: Option<serde_json::Value>,
    data_base64: Option<IgnoredAny>,
}

/// Parses a generic JSON event and turns it into facts on the stream of
/// `<tenant>/<dedup_key>`. `tenant` is the calling token's id.
pub fn normalize_generic(
    raw_body: &[u8],
    tenant: &str,
    recorded_at: Timestamp,
) -> Result<NormalizedGenericEvent, IngestError> {
    let text = utf8(raw_body)?;
    let fields: GenericFields = parse_json(text.as_bytes())?;
    let (dedup_key, notification) =
        to_notification(fields, tenant, None, recorded_at, &Field::root())?;
    notification.check_limits()?;
    Ok(finish(dedup_key, notification, text, recorded_at))
}

/// Parses a CloudEvents JSON body (one event, or a batch) whose `data` objects are generic
/// events, and turns each event into facts, with the event's own JSON as its raw body.
///
/// Either every event is valid and all are returned, or the first fault is named
/// (`[2].specversion`, `data.title`) and nothing is: the caller appends all or nothing.
pub fn normalize_cloudevents(
    raw_body: &[u8],
    mode: CloudEventsMode,
    tenant: &str,
    recorded_at: Timestamp,
) -> Result<Vec<NormalizedGenericEvent>, IngestError> {
    let text = utf8(raw_body)?;
    let first_token = text.trim_start_matches(JSON_WHITESPACE).chars().next();
    match mode {
        CloudEventsMode::Structured => {
            if first_token == Some('[') {
                return Err(refuse(
                    "body",
                    "a JSON array is a batch: send it as application/cloudevents-batch+json",
                ));
            }
            let event = cloudevent(text, tenant, recorded_at, &Field::root())?;
            Ok(vec![event])
        }
        CloudEventsMode::Batch => {
            if first_token == Some('{') {
                return Err(refuse(
                    "body",
                    "a batch is a JSON array of events: send one event as application/cloudevents+json",
                ));
            }
            let events: Vec<IgnoredAny> = parse_json(text.as_bytes())?;
            if events.is_empty() {
                return Err(refuse("body", "the batch holds no event"));
            }
            if events.len() > MAX_CLOUDEVENTS_PER_BATCH {
                return Err(refuse(
                    "body",
                    format!(
                        "the batch holds {} events; at most {MAX_CLOUDEVENTS_PER_BATCH} are accepted",
                        events.len()
                    ),
                ));
            }
            let spans =
                array_elements(text).ok_or_else(|| refuse("body", "not a JSON array of events"))?;
            spans
                .into_iter()
                .enumerate()
                .map(|(index, span)| cloudevent(span, tenant, recorded_at, &Field::index(index)))
                .collect()
        }
    }
}

/// One CloudEvent's JSON text, validated as the CloudEvents 1.0 spec asks, to facts.
fn cloudevent(
    text: &str,
    tenant: &str,
    recorded_at: Timestamp,
    at: &Field,
) -> Result<NormalizedGenericEvent, IngestError> {
    let event: CloudEvent = parse_json(text.as_bytes()).map_err(|error| at.prefix(error))?;
    let Some(specversion) = event.specversion.as_deref() else {
        return Err(at.missing_attribute("specversion"));
    };
    if specversion != CLOUDEVENTS_SPEC_VERSION {
        return Err(at.refuse(
            "specversion",
            format!(
                "unsupported CloudEvents version {specversion:?}; Aftermath reads \"{CLOUDEVENTS_SPEC_VERSION}\""
            ),
        ));
    }
    for (name, value) in [
        ("id", &event.id),
        ("source", &event.source),
        ("type", &event.event_type),
    ] {
        match value.as_deref() {
            None => return Err(at.missing_attribute(name)),
            Some("") => return Err(at.refuse(name, "must be a non-empty string")),
            Some(_) => {}
        }
    }
    if event
        .source
        .as_deref()
        .is_some_and(|source| source.chars().any(|c| c.is_whitespace() || c.is_control()))
    {
        return Err(at.refuse(
            "source",
            "must be a URI-reference, which holds no whitespace or control characters",
        ));
    }
    if event.subject.as_deref() == Some("") {
        return Err(at.refuse("subject", "must be a non-empty string when present"));
    }
    if event.data_base64.is_some() {
        return Err(at.refuse(
            "data_base64",
            "binary data cannot hold an alert; send its fields as a JSON object in data",
        ));
    }
    if let Some(content_type) = event.datacontenttype.as_deref() {
        if !declares_json(content_type) {
            return Err(at.refuse(
                "datacontenttype",
                format!(
                    "{content_type:?} does not declare JSON data; the alert must be a JSON object in data"
                ),
            ));
        }
    }
    let data = match event.data {
        Some(data @ serde_json::Value::Object(_)) => data,
        Some(_) => return Err(at.refuse("data", "must be a JSON object holding the alert")),
        None => return Err(at.refuse("data", "is required: a JSON object holding the alert")),
    };
    let data_field = at.child("data");
    let fields: GenericFields = serde_path_to_error::deserialize(data).map_err(|error| {
        data_field.prefix(IngestError {
            field: error.path().to_string(),
            message: error.into_inner().to_string(),
        })
    })?;
    let (dedup_key, notification) =
        to_notification(fields, tenant, event.time, recorded_at, &data_field)?;
    notification
        .check_limits()
        .map_err(|error| at.prefix(error))?;
    Ok(finish(dedup_key, notification, text, recorded_at))
}

/// Validates a generic event and maps it to the one alert of a [`Notification`]; returns
/// the dedup key it is grouped by. `fallback_time` stands in for a missing `occurred_at`
/// (a CloudEvent's `time`) before `recorded_at`, the receipt time, does.
fn to_notification(
    fields: GenericFields,
    tenant: &str,
    fallback_time: Option<Timestamp>,
    recorded_at: Timestamp,
    at: &Field,
) -> Result<(String, Notification), IngestError> {
    let Some(status) = fields.status else {
        return Err(at.refuse("status", "is required: \"firing\" or \"resolved\""));
    };
    if fields
        .title
        .as_deref()
        .is_some_and(|title| title.trim().is_empty())
    {
        return Err(at.refuse("title", "must not be blank"));
    }
    if status == AlertStatus::Firing && fields.title.is_none() {
        return Err(at.refuse("title", "is required when status is \"firing\""));
    }
    let service = fields.service.filter(|service| !service.trim().is_empty());
    let dedup_key = match (fields.dedup_key, &fields.title) {
        (Some(key), _) if key.trim().is_empty() => {
            return Err(at.refuse("dedup_key", "must not be blank"))
        }
        (Some(key), _) if key.len() > MAX_DEDUP_KEY_BYTES => {
            return Err(at.refuse(
                "dedup_key",
                format!("longer than {MAX_DEDUP_KEY_BYTES} bytes"),
            ))
        }
        (Some(key), _) => key,
        (None, Some(title)) => derived_dedup_key(title, service.as_deref()),
        (None, None) => {
            return Err(at.refuse(
                "dedup_key",
                "is required to resolve without a title (the key is otherwise derived from title and service)",
            ))
        }
    };

    // Without a time from the sender, the receipt time stands in; the fold treats a repeat
    // of the alert's state as a duplicate whatever its start time.
    let at_time = fields.occurred_at.or(fallback_time).unwrap_or(recorded_at);
    let severity = Severity::from_label(fields.severity.as_deref());
    let mut annotations = BTreeMap::new();
    if let Some(title) = &fields.title {
        annotations.insert("summary".to_owned(), title.clone());
    }
    if let Some(description) = fields.description {
        annotations.insert("description".to_owned(), description);
    }
    let alert = AlertReport {
        fingerprint: dedup_key.clone(),
        status,
        labels: fields.labels.unwrap_or_default(),
        annotations,
        starts_at: at_time,
        ends_at: (status == AlertStatus::Resolved).then_some(at_time),
        generator_url: fields.source_url.unwrap_or_default(),
        severity: None,
    };
    let notification = Notification {
        source: SOURCE.to_owned(),
        group_key: format!("{tenant}/{dedup_key}"),
        receiver: String::new(),
        status,
        truncated_alerts: 0,
        external_url: String::new(),
        title: fields.title.unwrap_or_else(|| dedup_key.clone()),
        severity,
        service,
        alerts: vec![alert],
    };
    Ok((dedup_key, notification))
}

fn finish(
    dedup_key: String,
    notification: Notification,
    raw_body: &str,
    recorded_at: Timestamp,
) -> NormalizedGenericEvent {
    NormalizedGenericEvent {
        dedup_key,
        stream_key: notification.stream_key(),
        facts: notification.into_facts(raw_body, recorded_at),
    }
}

/// The key of an event sent without one: the same title and service always give the same
/// key, so a repeat groups with the trigger and a resolve with the same title finds it.
fn derived_dedup_key(title: &str, service: Option<&str>) -> String {
    let mut hasher = Sha256::new();
    // Length-prefixed, so that no other title/service split hashes the same bytes.
    hasher.update((title.len() as u64).to_be_bytes());
    hasher.update(title.as_bytes());
    hasher.update(service.unwrap_or_default().as_bytes());
    let digest = hex::encode(hasher.finalize());
    format!("{DERIVED_KEY_PREFIX}{}", &digest[..32])
}

/// Whether a `datacontenttype` declares JSON data: `*/json` or `*/*+json`, parameters
/// stripped (CloudEvents JSON format §3.1.1).
fn declares_json(content_type: &str) -> bool {
    let media_type = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match media_type.split_once('/') {
        Some((kind, subtype)) => {
            !kind.is_empty() && (subtype == "json" || subtype.ends_with("+json"))
        }
        None => false,
    }
}

/// The characters JSON allows between tokens (RFC 8259 §2); not Rust's wider whitespace.
const JSON_WHITESPACE: [char; 4] = [' ', '\t', '\n', '\r'];

/// The exact text of each element of a JSON array already known to be valid, so that each
/// CloudEvent of a batch is kept as its sender wrote it.
fn array_elements(text: &str) -> Option<Vec<&str>> {
    let mut rest = text.trim_start_matches(JSON_WHITESPACE).strip_prefix('[')?;
    let mut elements = Vec::new();
    loop {
        rest = rest.trim_start_matches(JSON_WHITESPACE);
        if rest.starts_with(']') {
            return Some(elements);
        }
        let mut values = serde_json::Deserializer::from_str(rest).into_iter::<IgnoredAny>();
        values.next()?.ok()?;
        let end = values.byte_offset();
        elements.push(&rest[..end]);
        rest = rest[end..].trim_start_matches(JSON_WHITESPACE);
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

fn utf8(raw_body: &[u8]) -> Result<&str, IngestError> {
    std::str::from_utf8(raw_body).map_err(|error| refuse("body", format!("not UTF-8: {error}")))
}

fn refuse(field: impl Into<String>, message: impl Into<String>) -> IngestError {
    IngestError {
        field: field.into(),
        message: message.into(),
    }
}

/// Where in the request a value sits (`""` for the body, `[2]` for a batch's third event,
/// `[2].data` for its data), so that every error names the full path of its field.
struct Field(String);

impl Field {
    fn root() -> Self {
        Self(String::new())
    }

    fn index(index: usize) -> Self {
        Self(format!("[{index}]"))
    }

    fn child(&self, name: &str) -> Self {
        Self(self.join(name))
    }

    fn join(&self, name: &str) -> String {
        // serde_path_to_error says "." for the root and "?" before any field was read.
        let whole = matches!(name, "body" | "." | "?" | "");
        match (self.0.is_empty(), whole) {
            (true, true) => "body".to_owned(),
            (true, false) => name.to_owned(),
            (false, true) => self.0.clone(),
            (false, false) if name.starts_with('[') => format!("{}{name}", self.0),
            (false, false) => format!("{}.{name}", self.0),
        }
    }

    fn refuse(&self, name: &str, message: impl Into<String>) -> IngestError {
        refuse(self.join(name), message)
    }

    fn missing_attribute(&self, name: &str) -> IngestError {
        self.refuse(name, "required CloudEvents attribute is missing")
    }

    fn prefix(&self, error: IngestError) -> IngestError {
        IngestError {
            field: self.join(&error.field),
            message: error.message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FactBody;

    const FIRING: &str = include_str!("../../../tests/fixtures/generic/01-checkout-firing.json");
    const RESOLVED: &str =
        include_str!("../../../tests/fixtures/generic/02-checkout-resolved.json");
    const MINIMAL_FIRING: &str =
        include_str!("../../../tests/fixtures/generic/03-minimal-firing.json");
    const MINIMAL_RESOLVED: &str =
        include_str!("../../../tests/fixtures/generic/04-minimal-resolved.json");
    const CE_FIRING: &str =
        include_str!("../../../tests/fixtures/cloudevents/01-structured-firing.json");
    const CE_RESOLVED: &str =
        include_str!("../../../tests/fixtures/cloudevents/02-structured-resolved.json");
    const CE_BATCH: &str =
        include_str!("../../../tests/fixtures/cloudevents/03-batch-two-keys.json");
    const SPEC_JSON: &str =
        include_str!("../../../tests/fixtures/cloudevents/spec-3.2-json-data.json");
    const SPEC_BINARY: &str =
        include_str!("../../../tests/fixtures/cloudevents/spec-3.2-binary-data.json");
    const SPEC_XML: &str =
        include_str!("../../../tests/fixtures/cloudevents/spec-3.2-xml-data.json");
    const SPEC_BATCH: &str =
        include_str!("../../../tests/fixtures/cloudevents/spec-4.3-batch.json");

    const TENANT: &str = "5f0c7a4e-0000-4000-8000-000000000001";

    fn recorded() -> Timestamp {
        Timestamp::parse("2026-11-24T07:00:05Z").unwrap()
    }

    fn alert(fact: &Fact) -> &crate::AlertNotified {
        match &fact.body {
            FactBody::AlertNotified(alert) => alert,
            other => panic!("expected alert.notified, got {other:?}"),
        }
    }

    fn raw_body(fact: &Fact) -> &str {
        match &fact.body {
            FactBody::NotificationReceived(note) => &note.raw_body,
            other => panic!("expected notification.received, got {other:?}"),
        }
    }

    fn generic_error(body: &str) -> IngestError {
        normalize_generic(body.as_bytes(), TENANT, recorded()).unwrap_err()
    }

    #[test]
    fn a_full_event_maps_every_field() {
        let event = normalize_generic(FIRING.as_bytes(), TENANT, recorded()).unwrap();
        assert_eq!(event.dedup_key, "checkout-error-rate");
        assert_eq!(
            event.stream_key,
            format!("generic:{TENANT}/checkout-error-rate")
        );
        assert_eq!(event.facts.len(), 2);
        let alert = alert(&event.facts[0]);
        assert_eq!(alert.source, "generic");
        assert_eq!(alert.group_key, format!("{TENANT}/checkout-error-rate"));
        assert_eq!(alert.fingerprint, "checkout-error-rate");
        assert_eq!(alert.status, AlertStatus::Firing);
        assert_eq!(alert.title, "Checkout error rate above 5%");
        assert_eq!(alert.severity, Severity::Critical);
        assert_eq!(alert.service.as_deref(), Some("checkout"));
        assert_eq!(alert.annotations["summary"], "Checkout error rate above 5%");
        assert!(alert.annotations["description"].starts_with("5xx responses"));
        assert_eq!(alert.labels["team"], "payments");
        assert_eq!(alert.labels.len(), 3);
        assert_eq!(
            alert.generator_url,
            "https://grafana.example.com/d/checkout?viewPanel=4"
        );
        assert_eq!(alert.starts_at.to_string(), "2026-11-24T07:00:00Z");
        assert_eq!(alert.ends_at, None);
        assert_eq!(
            event.facts[0].occurred_at.to_string(),
            "2026-11-24T07:00:00Z"
        );
        assert_eq!(event.facts[0].stream_key, event.stream_key);
        // Unknown fields are kept, byte for byte, in the raw body.
        assert_eq!(raw_body(&event.facts[1]), FIRING);
    }

    #[test]
    fn a_resolve_ends_the_alert_at_its_occurred_at() {
        let event = normalize_generic(RESOLVED.as_bytes(), TENANT, recorded()).unwrap();
        let alert = alert(&event.facts[0]);
        assert_eq!(alert.status, AlertStatus::Resolved);
        assert_eq!(alert.fingerprint, "checkout-error-rate");
        let ended = Timestamp::parse("2026-11-24T07:42:00Z").unwrap();
        assert_eq!(alert.ends_at, Some(ended));
        assert_eq!(event.facts[0].occurred_at, ended);
        let trigger = normalize_generic(FIRING.as_bytes(), TENANT, recorded()).unwrap();
        assert_eq!(event.stream_key, trigger.stream_key);
    }

    #[test]
    fn without_times_the_receipt_stands_in_and_severity_defaults_to_error() {
        let firing = normalize_generic(MINIMAL_FIRING.as_bytes(), TENANT, recorded()).unwrap();
        let alert = alert(&firing.facts[0]);
        assert_eq!(alert.starts_at, recorded());
        assert_eq!(alert.severity, Severity::Error);
        assert_eq!(alert.service, None);
        assert!(!alert.annotations.contains_key("description"));
        let resolved = normalize_generic(MINIMAL_RESOLVED.as_bytes(), TENANT, recorded()).unwrap();
        assert_eq!(self::alert(&resolved.facts[0]).ends_at, Some(recorded()));
    }

    #[test]
    fn without_a_dedup_key_one_is_derived_from_title_and_service() {
        let firing = normalize_generic(MINIMAL_FIRING.as_bytes(), TENANT, recorded()).unwrap();
        let resolved = normalize_generic(MINIMAL_RESOLVED.as_bytes(), TENANT, recorded()).unwrap();
        assert!(
            firing.dedup_key.starts_with("derived:"),
            "{}",
            firing.dedup_key
        );
        assert_eq!(firing.dedup_key, resolved.dedup_key);
        assert_eq!(firing.stream_key, resolved.stream_key);

        let key = |title: &str, service: Option<&str>| {
            let mut body = serde_json::json!({"title": title, "status": "firing"});
            if let Some(service) = service {
                body["service"] = service.into();
            }
            normalize_generic(body.to_string().as_bytes(), TENANT, recorded())
                .unwrap()
                .dedup_key
        };
        assert_ne!(key("disk full", Some("db")), key("disk full", Some("web")));
        assert_ne!(key("disk full", None), key("disk ful", Some("l")));
        assert_eq!(key("disk full", None), key("disk full", Some(" ")));
    }

    #[test]
    fn the_same_key_of_two_tenants_lands_on_two_streams() {
        let first = normalize_generic(FIRING.as_bytes(), TENANT, recorded()).unwrap();
        let other = normalize_generic(FIRING.as_bytes(), "another-token", recorded()).unwrap();
        assert_eq!(first.dedup_key, other.dedup_key);
        assert_ne!(first.stream_key, other.stream_key);
        assert_ne!(first.facts[0].fact_id, other.facts[0].fact_id);
        assert_ne!(first.facts[1].fact_id, other.facts[1].fact_id);
    }

    #[test]
    fn the_same_body_yields_the_same_fact_ids_whenever_it_arrives() {
        let ids = |event: NormalizedGenericEvent| {
            event.facts.iter().map(|f| f.fact_id).collect::<Vec<_>>()
        };
        let later = Timestamp::parse("2026-11-24T09:00:00Z").unwrap();
        let first = normalize_generic(FIRING.as_bytes(), TENANT, recorded()).unwrap();
        let again = normalize_generic(FIRING.as_bytes(), TENANT, later).unwrap();
        assert_eq!(ids(first), ids(again));
    }

    #[test]
    fn generic_errors_name_the_field() {
        let cases = [
            (FIRING.replace(r#""status": "firing","#, ""), "status"),
            (
                FIRING.replace(r#""status": "firing""#, r#""status": "burning""#),
                "status",
            ),
            (
                FIRING.replace(r#""title": "Checkout error rate above 5%","#, ""),
                "title",
            ),
            (
                FIRING.replace(
                    r#""title": "Checkout error rate above 5%""#,
                    r#""title": " ""#,
                ),
                "title",
            ),
            (
                FIRING.replace(
                    r#""dedup_key": "checkout-error-rate""#,
                    r#""dedup_key": """#,
                ),
                "dedup_key",
            ),
            (
                FIRING.replace(
                    r#""dedup_key": "checkout-error-rate""#,
                    &format!(r#""dedup_key": "{}""#, "k".repeat(MAX_DEDUP_KEY_BYTES + 1)),
                ),
                "dedup_key",
            ),
            (
                FIRING.replace(
                    r#""occurred_at": "2026-11-24T07:00:00Z""#,
                    r#""occurred_at": "today""#,
                ),
                "occurred_at",
            ),
            (
                FIRING.replace(r#""team": "payments""#, r#""team": 7"#),
                "labels.team",
            ),
            (
                FIRING.replace(r#""severity": "critical""#, r#""severity": 1"#),
                "severity",
            ),
            (r#"{"status": "resolved"}"#.to_owned(), "dedup_key"),
            ("{".to_owned(), "body"),
            ("[]".to_owned(), "body"),
            ("".to_owned(), "body"),
        ];
        for (body, field) in cases {
            let error = generic_error(&body);
            assert_eq!(error.field, field, "{error} for {body}");
        }
        let error = normalize_generic(&[0xff, 0xfe], TENANT, recorded()).unwrap_err();
        assert_eq!(error.field, "body");
    }

    #[test]
    fn content_types_pick_the_cloudevents_mode() {
        use CloudEventsMode::*;
        for (value, mode) in [
            ("application/cloudevents+json", Some(Structured)),
            (
                "Application/CloudEvents+JSON; charset=UTF-8",
                Some(Structured),
            ),
            ("application/cloudevents-batch+json", Some(Batch)),
            ("application/json", None),
            ("application/cloudevents", None),
            ("", None),
        ] {
            assert_eq!(CloudEventsMode::from_content_type(value), mode, "{value}");
        }
    }

    fn structured(body: &str) -> Result<Vec<NormalizedGenericEvent>, IngestError> {
        normalize_cloudevents(
            body.as_bytes(),
            CloudEventsMode::Structured,
            TENANT,
            recorded(),
        )
    }

    fn batch(body: &str) -> Result<Vec<NormalizedGenericEvent>, IngestError> {
        normalize_cloudevents(body.as_bytes(), CloudEventsMode::Batch, TENANT, recorded())
    }

    #[test]
    fn a_structured_event_is_a_generic_event_in_data_timed_by_time() {
        let events = structured(CE_FIRING).unwrap();
        assert_eq!(events.len(), 1);
        let event = &events[0];
        assert_eq!(event.dedup_key, "orders-queue-depth");
        assert_eq!(
            event.stream_key,
            format!("generic:{TENANT}/orders-queue-depth")
        );
        let alert = alert(&event.facts[0]);
        assert_eq!(alert.title, "Queue depth above 10k on orders");
        assert_eq!(alert.severity, Severity::Warning);
        assert_eq!(alert.service.as_deref(), Some("orders"));
        assert_eq!(alert.labels["queue"], "orders");
        assert_eq!(alert.starts_at.to_string(), "2018-04-05T17:31:00Z");
        assert_eq!(raw_body(&event.facts[1]), CE_FIRING);

        // data.occurred_at wins over time.
        let resolved = structured(CE_RESOLVED).unwrap();
        let alert = self::alert(&resolved[0].facts[0]);
        assert_eq!(alert.status, AlertStatus::Resolved);
        assert_eq!(
            alert.ends_at.map(|at| at.to_string()).as_deref(),
            Some("2018-04-05T17:45:00Z")
        );
        assert_eq!(resolved[0].stream_key, event.stream_key);
    }

    #[test]
    fn a_generic_event_and_its_cloudevent_share_the_incident() {
        let data: serde_json::Value = serde_json::from_str(CE_FIRING).unwrap();
        let generic = data["data"].to_string();
        let direct = normalize_generic(generic.as_bytes(), TENANT, recorded()).unwrap();
        assert_eq!(
            direct.stream_key,
            structured(CE_FIRING).unwrap()[0].stream_key
        );
    }

    #[test]
    fn a_batch_keeps_each_event_as_sent_on_its_own_stream() {
        let events = batch(CE_BATCH).unwrap();
        let keys: Vec<_> = events.iter().map(|e| e.dedup_key.as_str()).collect();
        assert_eq!(keys, ["db-1-disk", "api-cert-expiry"]);
        assert_ne!(events[0].stream_key, events[1].stream_key);
        let raws: Vec<&str> = events.iter().map(|e| raw_body(&e.facts[1])).collect();
        assert!(
            raws[0].starts_with("{\n      \"specversion\""),
            "{}",
            raws[0]
        );
        assert!(raws[0].ends_with('}'));
        let document: Vec<serde_json::Value> = serde_json::from_str(CE_BATCH).unwrap();
        for (raw, original) in raws.iter().zip(&document) {
            assert!(CE_BATCH.contains(raw));
            assert_eq!(
                &serde_json::from_str::<serde_json::Value>(raw).unwrap(),
                original
            );
        }
        // Same batch again: same ids, so the log and the fold see a repeat.
        let ids = |events: &[NormalizedGenericEvent]| {
            events
                .iter()
                .flat_map(|e| e.facts.iter().map(|f| f.fact_id))
                .collect::<Vec<_>>()
        };
        let later = Timestamp::parse("2026-11-25T00:00:00Z").unwrap();
        let again =
            normalize_cloudevents(CE_BATCH.as_bytes(), CloudEventsMode::Batch, TENANT, later)
                .unwrap();
        assert_eq!(ids(&events), ids(&again));
    }

    #[test]
    fn the_spec_examples_are_read_and_refused_for_their_data() {
        let error = structured(SPEC_JSON).unwrap_err();
        assert_eq!(error.field, "data.status", "{error}");
        let error = structured(SPEC_BINARY).unwrap_err();
        assert_eq!(error.field, "data_base64", "{error}");
        let error = structured(SPEC_XML).unwrap_err();
        assert_eq!(error.field, "datacontenttype", "{error}");
        let error = batch(SPEC_BATCH).unwrap_err();
        assert_eq!(error.field, "[0].data_base64", "{error}");
    }

    #[test]
    fn cloudevents_errors_name_the_attribute_and_the_event() {
        let remove = |body: &str, attribute: &str| -> String {
            let mut value: serde_json::Value = serde_json::from_str(body).unwrap();
            value.as_object_mut().unwrap().remove(attribute);
            value.to_string()
        };
        for attribute in ["specversion", "id", "source", "type"] {
            let error = structured(&remove(CE_FIRING, attribute)).unwrap_err();
            assert_eq!(error.field, attribute, "{error}");
            assert!(error.message.contains("missing"), "{error}");
        }
        let cases = [
            (
                CE_FIRING.replace(r#""specversion" : "1.0""#, r#""specversion" : "0.3""#),
                "specversion",
            ),
            (
                CE_FIRING.replace(r#""specversion" : "1.0""#, r#""specversion" : 1.0"#),
                "specversion",
            ),
            (
                CE_FIRING.replace(r#""id" : "C234-1234-1234""#, r#""id" : """#),
                "id",
            ),
            (
                CE_FIRING.replace(r#""source" : "/mycontext""#, r#""source" : "/my context""#),
                "source",
            ),
            (
                CE_FIRING.replace(r#""subject": null"#, r#""subject": """#),
                "subject",
            ),
            (
                CE_FIRING.replace(r#""time" : "2018-04-05T17:31:00Z""#, r#""time" : "noon""#),
                "time",
            ),
            (
                CE_FIRING.replace(r#""status" : "firing""#, r#""status" : "open""#),
                "data.status",
            ),
            (
                CE_FIRING.replace(r#""queue" : "orders""#, r#""queue" : ["orders"]"#),
                "data.labels.queue",
            ),
            (remove(CE_FIRING, "data"), "data"),
            (
                CE_FIRING.replace(
                    r#""datacontenttype" : "application/json""#,
                    r#""datacontenttype" : "text/plain""#,
                ),
                "datacontenttype",
            ),
            (format!("[{CE_FIRING}]"), "body"),
            ("{".to_owned(), "body"),
        ];
        for (body, field) in cases {
            let error = structured(&body).unwrap_err();
            assert_eq!(error.field, field, "{error} for {body}");
        }
        // A datacontenttype declaring JSON with a suffix or parameters is fine.
        let vendor = CE_FIRING.replace(
            r#""datacontenttype" : "application/json""#,
            r#""datacontenttype" : "application/vnd.alert+json; charset=utf-8""#,
        );
        assert!(structured(&vendor).is_ok());
        assert!(structured(&remove(CE_FIRING, "datacontenttype")).is_ok());
    }

    #[test]
    fn batch_errors_name_the_event_index() {
        let mut events: Vec<serde_json::Value> = serde_json::from_str(CE_BATCH).unwrap();
        events.push(events[0].clone());
        events[2].as_object_mut().unwrap().remove("specversion");
        let error = batch(&serde_json::to_string(&events).unwrap()).unwrap_err();
        assert_eq!(error.field, "[2].specversion", "{error}");

        events[2] = events[0].clone();
        events[2]["data"]["labels"] = serde_json::json!({"disk": 91});
        let error = batch(&serde_json::to_string(&events).unwrap()).unwrap_err();
        assert_eq!(error.field, "[2].data.labels.disk", "{error}");

        events[2] = serde_json::json!("not an event");
        let error = batch(&serde_json::to_string(&events).unwrap()).unwrap_err();
        assert_eq!(error.field, "[2]", "{error}");

        for (body, needle) in [
            ("[]", "no event"),
            (" [ \n ] ", "no event"),
            (CE_FIRING, "array"),
            ("", ""),
        ] {
            let error = batch(body).unwrap_err();
            assert_eq!(error.field, "body", "{error} for {body:?}");
            assert!(error.message.contains(needle), "{error}");
        }
        // A syntax error inside an event is placed at that event.
        assert_eq!(batch("[{}, {]").unwrap_err().field, "[1]");
        let too_many = format!(
            "[{}]",
            vec![CE_FIRING; MAX_CLOUDEVENTS_PER_BATCH + 1].join(",")
        );
        assert_eq!(batch(&too_many).unwrap_err().field, "body");
    }

    #[test]
    fn array_elements_are_the_exact_texts_of_the_elements() {
        let text = " [ {\"a\": [1, \"],\"]} ,\n 2,\"x\\\"]\" ,null,[ ]\t] ";
        assert_eq!(
            array_elements(text).unwrap(),
            ["{\"a\": [1, \"],\"]}", "2", "\"x\\\"]\"", "null", "[ ]"]
        );
        assert_eq!(array_elements("[]").unwrap(), Vec::<&str>::new());
        assert_eq!(array_elements("{}"), None);
    }
}
