//! Outbound notifications, decided purely: which events a folded fact caused (opened,
//! severity escalated, resolved) or the clock caused (acknowledgement overdue), which
//! configured webhooks want them, and the bodies sent (Slack-compatible or generic JSON).
//! The notifier in the binary does the I/O.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::ids::outbound_event_id;
use crate::{
    AckPolicy, Incident, IncidentStatus, OutboundEventKind, Severity, TimelineKind, Timestamp,
};

/// Something responders should hear about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboundEvent {
    /// The same for every attempt and every replay: a UUIDv5 of its cause and kind.
    pub id: Uuid,
    pub kind: OutboundEventKind,
    pub incident_id: Uuid,
    /// The severity that routes it: the opening severity for `opened`, the new one for
    /// an escalation, the current one otherwise.
    pub severity: Severity,
    pub at: Timestamp,
    /// One line for people, e.g. "severity raised from warning to critical by alice".
    pub summary: String,
}

/// The events that folding the fact `fact_id` caused on `incident` (the incident as
/// folded at or after that fact). A fact the incident's timeline does not hold, or one
/// that changed nothing worth telling, gives none.
pub fn events_for_fact(incident: &Incident, fact_id: Uuid) -> Vec<OutboundEvent> {
    let mut events = Vec::new();
    for entry in incident.timeline.iter().filter(|e| e.fact_id == fact_id) {
        let event = |kind: OutboundEventKind, severity: Severity, summary: String| OutboundEvent {
            id: outbound_event_id(fact_id, kind.as_str()),
            kind,
            incident_id: incident.id,
            severity,
            at: entry.at,
            summary,
        };
        match entry.kind {
            TimelineKind::Opened => {
                let opening_severity = incident
                    .severity_changes
                    .first()
                    .map_or(incident.severity, |change| change.from);
                events.push(event(
                    OutboundEventKind::Opened,
                    opening_severity,
                    entry.text.clone(),
                ));
            }
            TimelineKind::SeverityChanged => {
                let escalation = incident
                    .severity_changes
                    .iter()
                    .find(|change| change.fact_id == fact_id)
                    .filter(|change| change.to > change.from);
                if let Some(change) = escalation {
                    let summary = format!(
                        "Severity raised from {} to {} by {}: {}",
                        change.from.as_str(),
                        change.to.as_str(),
                        change.by,
                        change.reason
                    );
                    events.push(event(
                        OutboundEventKind::SeverityEscalated,
                        change.to,
                        summary,
                    ));
                }
            }
            TimelineKind::Resolved | TimelineKind::AutoResolved => {
                events.push(event(
                    OutboundEventKind::Resolved,
                    incident.severity,
                    entry.text.clone(),
                ));
            }
            _ => {}
        }
    }
    events
}

/// The acknowledgement-overdue event of an incident nobody has responded to by its due
/// time (no acknowledgement, mitigation or resolution), at `now`.
pub fn ack_overdue_event(
    incident: &Incident,
    policy: &AckPolicy,
    now: Timestamp,
) -> Option<OutboundEvent> {
    let due = policy.due_at(incident);
    if incident.status != IncidentStatus::Triggered || now <= due {
        return None;
    }
    let kind = OutboundEventKind::AckOverdue;
    Some(OutboundEvent {
        id: outbound_event_id(incident.id, kind.as_str()),
        kind,
        incident_id: incident.id,
        severity: incident.severity,
        at: due,
        summary: format!(
            "Not acknowledged within {} minutes of opening (due {due})",
            policy.seconds_for(incident.severity) / 60
        ),
    })
}

/// How a webhook's body is shaped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    /// A Slack incoming-webhook body (`text` plus `blocks`); Mattermost and many chat
    /// tools accept it too.
    Slack,
    /// Aftermath's own JSON: the event and a summary of the incident.
    Json,
}

/// One configured receiver and what it wants to hear about.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookTarget {
    /// Names the target on the timeline and in logs (the URL may hold a secret).
    pub name: String,
    pub url: String,
    pub format: WebhookFormat,
    /// Only incidents of these services; empty: every service.
    #[serde(default)]
    pub services: BTreeSet<String>,
    /// Only events at this severity or above; none: every severity.
    #[serde(default)]
    pub min_severity: Option<Severity>,
    /// Only these events; empty: all of them.
    #[serde(default)]
    pub events: BTreeSet<OutboundEventKind>,
}

/// By hand, so that a `Debug` print (of the notifier's config in a log line) shows only
/// the URL's scheme and host: hooks such as Slack's carry their secret in the path.
impl std::fmt::Debug for WebhookTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookTarget")
            .field("name", &self.name)
            .field("url", &url_origin(&self.url))
            .field("format", &self.format)
            .field("services", &self.services)
            .field("min_severity", &self.min_severity)
            .field("events", &self.events)
            .finish()
    }
}

/// `scheme://host[:port]/…` of `url`, without user info, path, query or fragment.
fn url_origin(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "<not a URL>".to_owned();
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    format!("{scheme}://{host}/…")
}

impl WebhookTarget {
    pub fn wants(&self, event: &OutboundEvent, incident: &Incident) -> bool {
        let service_matches = self.services.is_empty()
            || incident
                .service
                .as_ref()
                .is_some_and(|service| self.services.contains(service));
        let severe_enough = self
            .min_severity
            .is_none_or(|minimum| event.severity >= minimum);
        let event_wanted = self.events.is_empty() || self.events.contains(&event.kind);
        service_matches && severe_enough && event_wanted
    }

    /// The body to send for `event`; `link` is where people read the incident.
    pub fn body(&self, event: &OutboundEvent, incident: &Incident, link: &str) -> Value {
        match self.format {
            WebhookFormat::Slack => slack_body(event, incident, link),
            WebhookFormat::Json => json_body(event, incident, link),
        }
    }
}

fn headline(kind: OutboundEventKind) -> &'static str {
    match kind {
        OutboundEventKind::Opened => "Incident opened",
        OutboundEventKind::AckOverdue => "Acknowledgement overdue",
        OutboundEventKind::SeverityEscalated => "Severity escalated",
        OutboundEventKind::Resolved => "Incident resolved",
    }
}

/// Slack's mrkdwn treats `&`, `<` and `>` as control characters: alert text must not
/// make links or mentions.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn slack_body(event: &OutboundEvent, incident: &Incident, link: &str) -> Value {
    let headline = headline(event.kind);
    let title = slack_escape(&incident.title);
    let service = incident.service.as_deref().unwrap_or("no service");
    let context = format!(
        "severity *{}* · service {} · status {}",
        event.severity.as_str(),
        slack_escape(service),
        incident.status.as_str()
    );
    json!({
        "text": format!("{headline}: {} [{}]", incident.title, event.severity.as_str()),
        "blocks": [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": format!(
                        "*{headline}*: <{}|{title}>\n{}",
                        slack_escape(link),
                        slack_escape(&event.summary)
                    ),
                }
            },
            {
                "type": "context",
                "elements": [{ "type": "mrkdwn", "text": context }]
            }
        ]
    })
}

fn json_body(event: &OutboundEvent, incident: &Incident, link: &str) -> Value {
    json!({
        "version": 1,
        "event": event.kind.as_str(),
        "event_id": event.id,
        "at": event.at,
        "summary": event.summary,
        "severity": event.severity.as_str(),
        "incident": {
            "id": incident.id,
            "title": incident.title,
            "status": incident.status.as_str(),
            "severity": incident.severity.as_str(),
            "service": incident.service,
            "opened_at": incident.opened_at,
            "acknowledged_at": incident.acknowledged_at,
            "acknowledged_by": incident.acknowledged_by,
            "resolved_at": incident.resolved_at,
            "resolved_by": incident.resolved_by,
            "commander": incident.commander,
            "url": link,
        }
    })
}
