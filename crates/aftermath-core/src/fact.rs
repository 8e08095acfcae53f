//! The fact envelope and every fact type with its version. A fact, once written, is never
//! rewritten: a new shape becomes a new version decoded here (with an upcaster).

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use crate::{ActionItemKind, ErrorClass, PostmortemSection, Severity, Timestamp};

/// Every `(type, version)` pair this build can read, with the JSON Schema file in
/// `schemas/` that describes it.
pub const FACT_TYPES: &[(&str, u32, &str)] = &[
    ("notification.received", 1, "notification.received.v1.json"),
    ("alert.notified", 1, "alert.notified.v1.json"),
    ("alert.acknowledged", 1, "alert.acknowledged.v1.json"),
    ("change.recorded", 1, "change.recorded.v1.json"),
    ("incident.acknowledged", 1, "incident.acknowledged.v1.json"),
    ("incident.note_added", 1, "incident.note_added.v1.json"),
    ("incident.resolved", 1, "incident.resolved.v1.json"),
    ("incident.mitigated", 1, "incident.mitigated.v1.json"),
    ("incident.reopened", 1, "incident.reopened.v1.json"),
    (
        "incident.severity_changed",
        1,
        "incident.severity_changed.v1.json",
    ),
    (
        "incident.commander_assigned",
        1,
        "incident.commander_assigned.v1.json",
    ),
    ("incident.why_added", 1, "incident.why_added.v1.json"),
    ("incident.why_amended", 1, "incident.why_amended.v1.json"),
    (
        "incident.root_cause_stated",
        1,
        "incident.root_cause_stated.v1.json",
    ),
    (
        "incident.impact_recorded",
        1,
        "incident.impact_recorded.v1.json",
    ),
    (
        "incident.action_item_added",
        1,
        "incident.action_item_added.v1.json",
    ),
    (
        "incident.action_item_done",
        1,
        "incident.action_item_done.v1.json",
    ),
    ("incident.link_added", 1, "incident.link_added.v1.json"),
    (
        "incident.notification_attempted",
        1,
        "incident.notification_attempted.v1.json",
    ),
    (
        "incident.classification_overridden",
        1,
        "incident.classification_overridden.v1.json",
    ),
    (
        "incident.postmortem_edited",
        1,
        "incident.postmortem_edited.v1.json",
    ),
    (
        "incident.postmortem_published",
        1,
        "incident.postmortem_published.v1.json",
    ),
];

/// One immutable entry of the log.
#[derive(Clone, Debug, PartialEq)]
pub struct Fact {
    pub fact_id: Uuid,
    /// The partition key: all facts of one incident share it (the grouping key).
    pub stream_key: String,
    /// When it happened at the source (an alert's `startsAt`, a person's request).
    pub occurred_at: Timestamp,
    /// When Aftermath received it.
    pub recorded_at: Timestamp,
    pub body: FactBody,
}

/// The typed payload of a fact.
#[derive(Clone, Debug, PartialEq)]
pub enum FactBody {
    NotificationReceived(NotificationReceived),
    AlertNotified(AlertNotified),
    AlertAcknowledged(AlertAcknowledged),
    ChangeRecorded(ChangeRecorded),
    Acknowledged(Acknowledged),
    NoteAdded(NoteAdded),
    Resolved(Resolved),
    Mitigated(Mitigated),
    Reopened(Reopened),
    SeverityChanged(SeverityChanged),
    CommanderAssigned(CommanderAssigned),
    WhyAdded(WhyAdded),
    WhyAmended(WhyAmended),
    RootCauseStated(RootCauseStated),
    ImpactRecorded(ImpactRecorded),
    ActionItemAdded(ActionItemAdded),
    ActionItemDone(ActionItemDone),
    LinkAdded(LinkAdded),
    NotificationAttempted(NotificationAttempted),
    ClassificationOverridden(ClassificationOverridden),
    PostmortemEdited(PostmortemEdited),
    PostmortemPublished(PostmortemPublished),
}

impl FactBody {
    pub fn type_name(&self) -> &'static str {
        match self {
            FactBody::NotificationReceived(_) => "notification.received",
            FactBody::AlertNotified(_) => "alert.notified",
            FactBody::AlertAcknowledged(_) => "alert.acknowledged",
            FactBody::ChangeRecorded(_) => "change.recorded",
            FactBody::Acknowledged(_) => "incident.acknowledged",
            FactBody::NoteAdded(_) => "incident.note_added",
            FactBody::Resolved(_) => "incident.resolved",
            FactBody::Mitigated(_) => "incident.mitigated",
            FactBody::Reopened(_) => "incident.reopened",
            FactBody::SeverityChanged(_) => "incident.severity_changed",
            FactBody::CommanderAssigned(_) => "incident.commander_assigned",
            FactBody::WhyAdded(_) => "incident.why_added",
            FactBody::WhyAmended(_) => "incident.why_amended",
            FactBody::RootCauseStated(_) => "incident.root_cause_stated",
            FactBody::ImpactRecorded(_) => "incident.impact_recorded",
            FactBody::ActionItemAdded(_) => "incident.action_item_added",
            FactBody::ActionItemDone(_) => "incident.action_item_done",
            FactBody::LinkAdded(_) => "incident.link_added",
            FactBody::NotificationAttempted(_) => "incident.notification_attempted",
            FactBody::ClassificationOverridden(_) => "incident.classification_overridden",
            FactBody::PostmortemEdited(_) => "incident.postmortem_edited",
            FactBody::PostmortemPublished(_) => "incident.postmortem_published",
        }
    }

    /// The version this build writes.
    pub fn version(&self) -> u32 {
        1
    }

    /// The incident a responder fact targets; alert facts find theirs through the stream.
    pub fn incident_id(&self) -> Option<Uuid> {
        match self {
            FactBody::Acknowledged(f) => Some(f.incident_id),
            FactBody::NoteAdded(f) => Some(f.incident_id),
            FactBody::Resolved(f) => Some(f.incident_id),
            FactBody::Mitigated(f) => Some(f.incident_id),
            FactBody::Reopened(f) => Some(f.incident_id),
            FactBody::SeverityChanged(f) => Some(f.incident_id),
            FactBody::CommanderAssigned(f) => Some(f.incident_id),
            FactBody::WhyAdded(f) => Some(f.incident_id),
            FactBody::WhyAmended(f) => Some(f.incident_id),
            FactBody::RootCauseStated(f) => Some(f.incident_id),
            FactBody::ImpactRecorded(f) => Some(f.incident_id),
            FactBody::ActionItemAdded(f) => Some(f.incident_id),
            FactBody::ActionItemDone(f) => Some(f.incident_id),
            FactBody::LinkAdded(f) => Some(f.incident_id),
            FactBody::NotificationAttempted(f) => Some(f.incident_id),
            FactBody::ClassificationOverridden(f) => Some(f.incident_id),
            FactBody::PostmortemEdited(f) => Some(f.incident_id),
            FactBody::PostmortemPublished(f) => Some(f.incident_id),
            FactBody::NotificationReceived(_)
            | FactBody::AlertNotified(_)
            | FactBody::AlertAcknowledged(_)
            | FactBody::ChangeRecorded(_) => None,
        }
    }

    /// Writes the typed payload straight to `serializer`: no `serde_json::Value` tree is
    /// built on the way (that tree was most of the cost of encoding a fact for the log).
    fn serialize_payload<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            FactBody::NotificationReceived(f) => f.serialize(serializer),
            FactBody::AlertNotified(f) => f.serialize(serializer),
            FactBody::AlertAcknowledged(f) => f.serialize(serializer),
            FactBody::ChangeRecorded(f) => f.serialize(serializer),
            FactBody::Acknowledged(f) => f.serialize(serializer),
            FactBody::NoteAdded(f) => f.serialize(serializer),
            FactBody::Resolved(f) => f.serialize(serializer),
            FactBody::Mitigated(f) => f.serialize(serializer),
            FactBody::Reopened(f) => f.serialize(serializer),
            FactBody::SeverityChanged(f) => f.serialize(serializer),
            FactBody::CommanderAssigned(f) => f.serialize(serializer),
            FactBody::WhyAdded(f) => f.serialize(serializer),
            FactBody::WhyAmended(f) => f.serialize(serializer),
            FactBody::RootCauseStated(f) => f.serialize(serializer),
            FactBody::ImpactRecorded(f) => f.serialize(serializer),
            FactBody::ActionItemAdded(f) => f.serialize(serializer),
            FactBody::ActionItemDone(f) => f.serialize(serializer),
            FactBody::LinkAdded(f) => f.serialize(serializer),
            FactBody::NotificationAttempted(f) => f.serialize(serializer),
            FactBody::ClassificationOverridden(f) => f.serialize(serializer),
            FactBody::PostmortemEdited(f) => f.serialize(serializer),
            FactBody::PostmortemPublished(f) => f.serialize(serializer),
        }
    }

    /// Decodes a payload by its `(type, version)`; `payload` is a parsed
    /// `serde_json::Value` or, on the hot path ([`Fact::from_json`]), a deserializer over
    /// the stored text, which skips building the value tree.
    fn from_payload<'de, D: Deserializer<'de>>(
        kind: &str,
        version: u32,
        payload: D,
    ) -> Result<Self, FactDecodeError> {
        let bad_payload = |error: D::Error| FactDecodeError::Payload {
            kind: kind.to_owned(),
            version,
            message: error.to_string(),
        };
        Ok(match (kind, version) {
            ("notification.received", 1) => FactBody::NotificationReceived(
                Deserialize::deserialize(payload).map_err(bad_payload)?,
            ),
            ("alert.notified", 1) => {
                FactBody::AlertNotified(Deserialize::deserialize(payload).map_err(bad_payload)?)
            }
            ("alert.acknowledged", 1) => {
                FactBody::AlertAcknowledged(Deserialize::deserialize(payload).map_err(bad_payload)?)
            }
            ("change.recorded", 1) => {
                FactBody::ChangeRecorded(Deserialize::deserialize(payload).map_err(bad_payload)?)
            }
            ("incident.acknowledged", 1) => {
                FactBody::Acknowledged(Deserialize::deserialize(payload).map_err(bad_payload)?)
            }
            ("incident.note_added", 1) => {
                FactBody::NoteAdded(Deserialize::deserialize(payload).map_err(bad_payload)?)
            }
            ("incident.resolved", 1) => {
                FactBody::Resolved(Deserialize::deserialize(payload).map_err(bad_payload)?)
            }
            ("incident.mitigated", 1) => {
                FactBody::Mitigated(Deserialize::deserialize(payload).map_err(bad_payload)?)
            }
            ("incident.reopened", 1) => {
                FactBody::Reopened(Deserialize::deserialize(payload).map_err(bad_payload)?)
            }
            ("incident.severity_changed", 1) => {
                FactBody::SeverityChanged(Deserialize::deserialize(payload).map_err(bad_payload)?)
            }
            ("incident.commander_assigned", 1) => {
                FactBody::CommanderAssigned(Deserialize::deserialize(payload).map_err(bad_payload)?)
            }
            ("incident.why_added", 1) => {
                FactBody::WhyAdded(Deserialize::deserialize(payload).map_err(bad_payload)?)
            }
            ("incident.why_amended", 1) => {
                FactBody::WhyAmended(Deserialize::deserialize(payload).map_err(bad_payload)?)
            }
            ("incident.root_cause_stated", 1) => {
                FactBody::RootCauseStated(Deserialize::deserialize(payload).map_err(bad_payload)?)
            }
            ("incident.impact_recorded", 1) => {
                FactBody::ImpactRecorded(Deserialize::deserialize(payload).map_err(bad_payload)?)
            }
            ("incident.action_item_added", 1) => {
                FactBody::ActionItemAdded(Deserialize::deserialize(payload).map_err(bad_payload)?)
            }
            ("incident.action_item_done", 1) => {
                FactBody::ActionItemDone(Deserialize::deserialize(payload).map_err(bad_payload)?)
            }
            ("incident.link_added", 1) => {
                FactBody::LinkAdded(Deserialize::deserialize(payload).map_err(bad_payload)?)
            }
            ("incident.notification_attempted", 1) => FactBody::NotificationAttempted(
                Deserialize::deserialize(payload).map_err(bad_payload)?,
            ),
            ("incident.classification_overridden", 1) => FactBody::ClassificationOverridden(
                Deserialize::deserialize(payload).map_err(bad_payload)?,
            ),
            ("incident.postmortem_edited", 1) => {
                FactBody::PostmortemEdited(Deserialize::deserialize(payload).map_err(bad_payload)?)
            }
            ("incident.postmortem_published", 1) => FactBody::PostmortemPublished(
                Deserialize::deserialize(payload).map_err(bad_payload)?,
            ),
            _ => {
                return Err(FactDecodeError::UnknownType {
                    kind: kind.to_owned(),
                    version,
                })
            }
        })
    }
}

/// Why stored bytes could not be read back as a fact.
#[derive(Debug, thiserror::Error)]
pub enum FactDecodeError {
    #[error("fact is not valid JSON or lacks an envelope field: {0}")]
    Envelope(#[from] serde_json::Error),
    #[error("unknown fact type {kind:?} version {version}: this build is older than the log")]
    UnknownType { kind: String, version: u32 },
    #[error("fact {kind:?} version {version} has an invalid payload: {message}")]
    Payload {
        kind: String,
        version: u32,
        message: String,
    },
}

impl Fact {
    /// The canonical JSON form written to the log (keys sorted, timestamps in UTC).
    pub fn to_json(&self) -> String {
        // A fact is built from owned, serializable data only: this cannot fail.
        serde_json::to_string(self).expect("facts always serialize")
    }

    /// Reads a fact back from its stored JSON. The payload is decoded straight from the
    /// text into its typed body (no intermediate `serde_json::Value`): the projector reads
    /// every fact through here.
    pub fn from_json(text: &str) -> Result<Self, FactDecodeError> {
        let stored: StoredFact<'_> = serde_json::from_str(text)?;
        let mut payload = serde_json::Deserializer::from_str(stored.payload.get());
        Ok(Fact {
            fact_id: stored.fact_id,
            stream_key: stored.stream_key,
            occurred_at: stored.occurred_at,
            recorded_at: stored.recorded_at,
            body: FactBody::from_payload(&stored.kind, stored.version, &mut payload)?,
        })
    }
}

/// The envelope as [`Fact::from_json`] reads it: the payload left as raw JSON text, decoded
/// once its type is known.
#[derive(Deserialize)]
struct StoredFact<'a> {
    fact_id: Uuid,
    stream_key: String,
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
    version: u32,
    occurred_at: Timestamp,
    recorded_at: Timestamp,
    #[serde(borrow)]
    payload: &'a serde_json::value::RawValue,
}

/// The envelope as it sits on the log, read through a `serde_json::Value` payload (the
/// generic path; [`Fact::from_json`] is the fast one, `impl Serialize for Fact` the writer).
#[derive(Deserialize)]
struct RawFact {
    fact_id: Uuid,
    stream_key: String,
    #[serde(rename = "type")]
    kind: String,
    version: u32,
    occurred_at: Timestamp,
    recorded_at: Timestamp,
    payload: serde_json::Value,
}

impl RawFact {
    fn into_fact(self) -> Result<Fact, FactDecodeError> {
        Ok(Fact {
            fact_id: self.fact_id,
            stream_key: self.stream_key,
            occurred_at: self.occurred_at,
            recorded_at: self.recorded_at,
            body: FactBody::from_payload(&self.kind, self.version, self.payload)?,
        })
    }
}

impl Serialize for Fact {
    /// The envelope's fields in [`RawFact`]'s order, the payload's in its type's
    /// declaration order; readers do not depend on the order of keys.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;

        /// The body as the envelope's `payload` field.
        struct Payload<'a>(&'a FactBody);
        impl Serialize for Payload<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                self.0.serialize_payload(serializer)
            }
        }

        let mut envelope = serializer.serialize_struct("RawFact", 7)?;
        envelope.serialize_field("fact_id", &self.fact_id)?;
        envelope.serialize_field("stream_key", &self.stream_key)?;
        envelope.serialize_field("type", self.body.type_name())?;
        envelope.serialize_field("version", &self.body.version())?;
        envelope.serialize_field("occurred_at", &self.occurred_at)?;
        envelope.serialize_field("recorded_at", &self.recorded_at)?;
        envelope.serialize_field("payload", &Payload(&self.body))?;
        envelope.end()
    }
}

impl<'de> Deserialize<'de> for Fact {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        RawFact::deserialize(deserializer)?
            .into_fact()
            .map_err(serde::de::Error::custom)
    }
}

/// `notification.received` v1: one per accepted webhook request, holding its raw body so
/// nothing the sender said is lost, even fields the normalizer does not use yet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NotificationReceived {
    pub source: String,
    pub group_key: String,
    pub receiver: String,
    /// The group-level status; informational only, never applied to alerts.
    pub status: AlertStatus,
    pub alert_count: u64,
    pub truncated_alerts: u64,
    pub external_url: String,
    pub raw_body: String,
}

/// `alert.notified` v1: the state of one alert (by fingerprint) as a notification told it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertNotified {
    pub source: String,
    /// The `notification.received` fact that carried this alert.
    pub notification_id: Uuid,
    pub group_key: String,
    pub fingerprint: String,
    pub status: AlertStatus,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub starts_at: Timestamp,
    /// `None` while the alert has not ended (Alertmanager's `0001-01-01T00:00:00Z`).
    pub ends_at: Option<Timestamp>,
    pub generator_url: String,
    /// Incident title proposed by the notification (summary, else alertname).
    pub title: String,
    pub severity: crate::Severity,
    pub service: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    Firing,
    Resolved,
}

impl AlertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Firing => "firing",
            AlertStatus::Resolved => "resolved",
        }
    }
}

/// `alert.acknowledged` v1: a sender acknowledged an alert (PagerDuty's `acknowledge`
/// event). It acknowledges the stream's open incident holding that alert, if any.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertAcknowledged {
    pub source: String,
    pub fingerprint: String,
    /// The token's name: the integration that sent it.
    pub actor: String,
}

/// `change.recorded` v1: something changed (a deploy, a config push, a migration), as
/// a change event reported it. Incidents of the same service opened soon after show it as
/// a suspect change; that join is made when reading, never in the per-incident fold.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChangeRecorded {
    pub source: String,
    pub summary: String,
    /// The service it changed, matched against incidents' `service`.
    pub service: Option<String>,
    /// When the change happened (the event's timestamp, else when it arrived).
    pub at: Timestamp,
    /// The sender's details, as JSON text.
    pub details: Option<String>,
    /// Links the sender attached (a build, a pull request), as JSON text.
    pub links: Option<String>,
    /// The name of the ingest token that sent it.
    pub actor: String,
}

/// `incident.acknowledged` v1.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Acknowledged {
    pub incident_id: Uuid,
    /// The token's name: who acted. Never taken from a request body.
    pub actor: String,
    pub note: Option<String>,
}

/// `incident.note_added` v1.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NoteAdded {
    pub incident_id: Uuid,
    pub actor: String,
    pub text: String,
}

/// `incident.resolved` v1: a person declared the incident resolved.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Resolved {
    pub incident_id: Uuid,
    pub actor: String,
    pub resolution: Option<String>,
}

/// `incident.mitigated` v1: a responder stopped the bleeding (a rollback, a failover)
/// without the incident being resolved yet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Mitigated {
    pub incident_id: Uuid,
    pub actor: String,
    pub note: Option<String>,
}

/// `incident.reopened` v1: a resolved incident came back. Whether the reopen window is
/// still open is the API's check (the fold has no clock); the fold only settles the
/// lifecycle rules.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reopened {
    pub incident_id: Uuid,
    pub actor: String,
    pub reason: Option<String>,
}

/// `incident.severity_changed` v1: a person raised or lowered the severity.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeverityChanged {
    pub incident_id: Uuid,
    pub actor: String,
    pub severity: Severity,
    pub reason: String,
}

/// `incident.commander_assigned` v1: who leads the response from now on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CommanderAssigned {
    pub incident_id: Uuid,
    pub actor: String,
    /// The commander's name (free text: a person, not necessarily a token).
    pub name: String,
}

/// `incident.why_added` v1: the next of the five whys, with its answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WhyAdded {
    pub incident_id: Uuid,
    pub actor: String,
    pub question: String,
    pub answer: String,
}

/// `incident.why_amended` v1: a new wording of why `number` (1-based); the old one is kept.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WhyAmended {
    pub incident_id: Uuid,
    pub actor: String,
    pub number: u32,
    pub question: String,
    pub answer: String,
}

/// `incident.root_cause_stated` v1. Without `text`, the root cause is the last why's
/// current answer at the time this fact is folded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RootCauseStated {
    pub incident_id: Uuid,
    pub actor: String,
    pub text: Option<String>,
}

/// `incident.impact_recorded` v1: the impact as a person assessed it; the latest wins.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImpactRecorded {
    pub incident_id: Uuid,
    pub actor: String,
    pub summary: String,
    pub users_affected: Option<u64>,
    pub failed_requests: Option<u64>,
    pub data_loss: bool,
    pub customer_facing: bool,
    /// Overrides the downtime derived from the alerts when set.
    pub downtime_seconds: Option<u64>,
}

/// `incident.action_item_added` v1: follow-up work, possibly long after resolution.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionItemAdded {
    pub incident_id: Uuid,
    pub actor: String,
    /// Chosen by the API when the request arrives, so replaying the log gives the same id.
    pub action_item_id: Uuid,
    pub title: String,
    pub owner: String,
    pub kind: ActionItemKind,
    /// A calendar date, `YYYY-MM-DD`.
    pub due: Option<String>,
}

/// `incident.action_item_done` v1.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionItemDone {
    pub incident_id: Uuid,
    pub actor: String,
    pub action_item_id: Uuid,
}

/// `incident.link_added` v1: a related document (a dashboard, a pull request, a ticket).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinkAdded {
    pub incident_id: Uuid,
    pub actor: String,
    pub url: String,
    pub title: String,
}

/// `incident.notification_attempted` v1: the notifier tried once to deliver an outbound
/// notification (a webhook) about the incident. One fact per attempt, failed or not.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NotificationAttempted {
    pub incident_id: Uuid,
    /// The event notified of: a UUIDv5 of what caused it, the same on every attempt.
    pub event_id: Uuid,
    pub event: OutboundEventKind,
    /// The configured webhook's name.
    pub target: String,
    /// 1 for the first try.
    pub attempt: u32,
    pub delivered: bool,
    /// The receiver's HTTP status, when it answered.
    pub status: Option<u16>,
    /// Why the attempt failed (a refused connection, a timeout, a non-2xx answer).
    pub error: Option<String>,
    /// No further attempt follows: delivered, or given up after the last retry.
    pub last: bool,
}

/// `incident.classification_overridden` v1: a responder set the error class; it wins over
/// the classifier from then on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassificationOverridden {
    pub incident_id: Uuid,
    pub actor: String,
    /// The class, or null: "unclassified".
    pub class: Option<ErrorClass>,
    pub reason: String,
}

/// `incident.postmortem_edited` v1: a manager wrote a section of the post-mortem draft. The
/// person's text wins over the generated one for that section from then on; `text: null`
/// hands the section back to the generator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PostmortemEdited {
    pub incident_id: Uuid,
    pub actor: String,
    pub section: PostmortemSection,
    /// Markdown, or null to revert to the generated text.
    pub text: Option<String>,
}

/// `incident.postmortem_published` v1: a manager published the draft as the next numbered
/// revision, which closes the incident. The suspect changes are carried in the fact because
/// they live on other partitions: the fold must not look there, and the revision must say
/// what the manager saw.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PostmortemPublished {
    pub incident_id: Uuid,
    pub actor: String,
    pub suspect_changes: Vec<crate::Change>,
}

/// What an outbound notification tells its receiver.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum OutboundEventKind {
    #[serde(rename = "incident.opened")]
    Opened,
    #[serde(rename = "incident.ack_overdue")]
    AckOverdue,
    #[serde(rename = "incident.severity_escalated")]
    SeverityEscalated,
    #[serde(rename = "incident.resolved")]
    Resolved,
}

impl OutboundEventKind {
    pub const ALL: [OutboundEventKind; 4] = [
        OutboundEventKind::Opened,
        OutboundEventKind::AckOverdue,
        OutboundEventKind::SeverityEscalated,
        OutboundEventKind::Resolved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OutboundEventKind::Opened => "incident.opened",
            OutboundEventKind::AckOverdue => "incident.ack_overdue",
            OutboundEventKind::SeverityEscalated => "incident.severity_escalated",
            OutboundEventKind::Resolved => "incident.resolved",
        }
    }

    /// Parses the name in [`Self::as_str`], or its short form (`opened`, `ack_overdue`…).
    pub fn parse(text: &str) -> Option<Self> {
        let short = text.strip_prefix("incident.").unwrap_or(text);
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str().strip_prefix("incident.") == Some(short))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note_fact() -> Fact {
        let at = Timestamp::parse("2026-11-24T07:00:00Z").unwrap();
        Fact {
            fact_id: Uuid::from_u128(1),
            stream_key: "alertmanager:{}:{alertname=\"X\"}".into(),
            occurred_at: at,
            recorded_at: at,
            body: FactBody::NoteAdded(NoteAdded {
                incident_id: Uuid::from_u128(2),
                actor: "alice".into(),
                text: "looking".into(),
            }),
        }
    }

    #[test]
    fn envelope_round_trips_through_canonical_json() {
        let fact = note_fact();
        let json = fact.to_json();
        assert!(json.contains(r#""type":"incident.note_added""#), "{json}");
        assert!(json.contains(r#""version":1"#), "{json}");
        assert_eq!(Fact::from_json(&json).unwrap(), fact);
        assert_eq!(Fact::from_json(&json).unwrap().to_json(), json);
    }

    #[test]
    fn the_stored_form_is_the_envelope_around_the_bodys_own_serde_form() {
        let fact = note_fact();
        let stored: serde_json::Value = serde_json::from_str(&fact.to_json()).unwrap();
        let FactBody::NoteAdded(note) = &fact.body else {
            unreachable!("note_fact is a note")
        };
        assert_eq!(stored["payload"], serde_json::to_value(note).unwrap());
        let mut keys: Vec<_> = stored.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "fact_id",
                "occurred_at",
                "payload",
                "recorded_at",
                "stream_key",
                "type",
                "version"
            ]
        );
    }

    #[test]
    fn from_json_reads_what_the_generic_deserializer_reads() {
        // Escapes, nested maps and a raw body inside a string: the direct decoding of the
        // payload text must give the same facts as decoding through a `serde_json::Value`.
        let body = include_str!("../../../tests/fixtures/alertmanager/01-checkout-firing.json");
        let at = Timestamp::parse("2026-11-24T07:00:05Z").unwrap();
        let mut facts = crate::normalize_alertmanager(body.as_bytes(), at).unwrap();
        facts.push(note_fact());
        for fact in facts {
            let json = fact.to_json();
            let direct = Fact::from_json(&json).unwrap();
            let generic: Fact = serde_json::from_str(&json).unwrap();
            assert_eq!(direct, generic);
            assert_eq!(direct, fact);
        }
    }

    #[test]
    fn a_payload_that_does_not_fit_its_type_is_refused_with_the_type() {
        let json = note_fact()
            .to_json()
            .replace(r#""actor":"alice""#, r#""actor":7"#);
        let error = Fact::from_json(&json).unwrap_err();
        assert!(
            matches!(&error, FactDecodeError::Payload { kind, version: 1, .. } if kind == "incident.note_added"),
            "{error}"
        );
    }

    #[test]
    fn unknown_versions_are_refused_with_their_name() {
        let json = note_fact()
            .to_json()
            .replace(r#""version":1"#, r#""version":9"#);
        let error = Fact::from_json(&json).unwrap_err().to_string();
        assert!(
            error.contains("incident.note_added") && error.contains('9'),
            "{error}"
        );
    }
}
