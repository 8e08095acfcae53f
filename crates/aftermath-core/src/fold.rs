//! The fold: `apply(projection, fact)` turns facts, in log order, into incidents and
//! timelines. Pure and deterministic; duplicates and conflicts are settled here, never by a
//! race in the API.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::fact::{
    Acknowledged, AlertAcknowledged, AlertNotified, NoteAdded, NotificationReceived, Resolved,
};
use crate::{
    incident_id_for, AlertState, AlertStatus, Fact, FactBody, Incident, IncidentStatus,
    TimelineEntry, TimelineKind, Timestamp,
};

/// What the fold keeps per stream (grouping key) besides its incidents.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamState {
    /// The stream's latest incident, open or resolved.
    pub current_incident: Option<Uuid>,
    /// Every fact id already folded for this stream. A fact delivered twice (a retried
    /// append, a resent notification) is recognised here and changes nothing.
    pub seen_facts: BTreeSet<Uuid>,
}

/// The part of the projection a batch of facts needs: the streams it touches and their
/// incidents. The store loads it, the fold changes it, the store writes it back.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Projection {
    pub streams: BTreeMap<String, StreamState>,
    pub incidents: BTreeMap<Uuid, Incident>,
    /// Changes folded by this batch (insert-only: a change never changes).
    #[serde(default)]
    pub changes: BTreeMap<Uuid, Change>,
}

/// A recorded change, as the read side joins it to incidents (suspect changes).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// The fact that recorded it.
    pub id: Uuid,
    pub source: String,
    pub summary: String,
    pub service: Option<String>,
    pub at: Timestamp,
    pub details: Option<String>,
    pub links: Option<String>,
    pub actor: String,
}

/// What folding one fact did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FoldOutcome {
    /// The projection changed.
    Applied,
    /// The fact (or one with the same meaning) was already folded.
    Duplicate,
    /// The fact refers to nothing the fold knows (e.g. an incident id that never opened).
    Ignored,
}

impl Projection {
    /// The incidents a fact needs loaded besides its stream's current incident.
    pub fn referenced_incident(fact: &Fact) -> Option<Uuid> {
        fact.body.incident_id()
    }

    /// Folds one fact. Callers must have loaded the fact's stream and the incidents it
    /// refers to (its stream's current incident and [`Self::referenced_incident`]).
    pub fn apply(&mut self, fact: &Fact) -> FoldOutcome {
        let stream = self.streams.entry(fact.stream_key.clone()).or_default();
        if !stream.seen_facts.insert(fact.fact_id) {
            return FoldOutcome::Duplicate;
        }
        match &fact.body {
            FactBody::NotificationReceived(body) => self.apply_notification(fact, body),
            FactBody::AlertNotified(body) => self.apply_alert(fact, body),
            FactBody::AlertAcknowledged(body) => self.apply_alert_acknowledged(fact, body),
            FactBody::ChangeRecorded(body) => {
                self.changes.insert(
                    fact.fact_id,
                    Change {
                        id: fact.fact_id,
                        source: body.source.clone(),
                        summary: body.summary.clone(),
                        service: body.service.clone(),
                        at: body.at,
                        details: body.details.clone(),
                        links: body.links.clone(),
                        actor: body.actor.clone(),
                    },
                );
                FoldOutcome::Applied
            }
            FactBody::Acknowledged(body) => self.apply_acknowledged(fact, body),
            FactBody::NoteAdded(body) => self.apply_note(fact, body),
            FactBody::Resolved(body) => self.apply_resolved(fact, body),
        }
    }

    fn current_incident_mut(&mut self, stream_key: &str) -> Option<&mut Incident> {
        let id = self.streams.get(stream_key)?.current_incident?;
        self.incidents.get_mut(&id)
    }

    fn apply_notification(&mut self, fact: &Fact, body: &NotificationReceived) -> FoldOutcome {
        if body.truncated_alerts == 0 {
            return FoldOutcome::Applied;
        }
        let Some(incident) = self.current_incident_mut(&fact.stream_key) else {
            return FoldOutcome::Ignored;
        };
        incident.timeline.push(TimelineEntry {
            at: fact.recorded_at,
            kind: TimelineKind::AlertsTruncated,
            actor: body.source.clone(),
            text: format!(
                "{} sent {} alerts and left out {} more (truncatedAlerts); see the sender for the rest",
                body.source, body.alert_count, body.truncated_alerts
            ),
            fact_id: fact.fact_id,
        });
        FoldOutcome::Applied
    }

    fn apply_alert(&mut self, fact: &Fact, alert: &AlertNotified) -> FoldOutcome {
        let open = self
            .current_incident_mut(&fact.stream_key)
            .filter(|incident| incident.status.is_open());
        match (open, alert.status) {
            (Some(incident), _) => update_alert(incident, fact, alert),
            (None, AlertStatus::Firing) => {
                let incident = open_incident(fact, alert);
                let id = incident.id;
                self.incidents.insert(id, incident);
                if let Some(stream) = self.streams.get_mut(&fact.stream_key) {
                    stream.current_incident = Some(id);
                }
                FoldOutcome::Applied
            }
            (None, AlertStatus::Resolved) => {
                // The incident was already resolved (by a person, or by its other alerts):
                // keep the alert's own state true on it, without reopening anything.
                match self.current_incident_mut(&fact.stream_key) {
                    Some(incident) if is_known_firing(incident, alert) => {
                        update_alert(incident, fact, alert)
                    }
                    _ => FoldOutcome::Ignored,
                }
            }
        }
    }

    fn apply_alert_acknowledged(&mut self, fact: &Fact, body: &AlertAcknowledged) -> FoldOutcome {
        let Some(incident) = self
            .current_incident_mut(&fact.stream_key)
            .filter(|incident| incident.status.is_open())
            .filter(|incident| incident.alerts.contains_key(&body.fingerprint))
        else {
            return FoldOutcome::Ignored;
        };
        // Senders repeat acknowledgements; only the first one counts.
        if incident.acknowledged_by.is_some() {
            return FoldOutcome::Duplicate;
        }
        incident.status = IncidentStatus::Acknowledged;
        incident.acknowledged_at = Some(fact.recorded_at);
        incident.acknowledged_by = Some(body.actor.clone());
        let text = format!("Acknowledged by {} through {}", body.actor, body.source);
        push(
            incident,
            fact,
            TimelineKind::Acknowledged,
            &body.actor,
            text,
        );
        FoldOutcome::Applied
    }

    fn apply_acknowledged(&mut self, fact: &Fact, body: &Acknowledged) -> FoldOutcome {
        let Some(incident) = self.incidents.get_mut(&body.incident_id) else {
            return FoldOutcome::Ignored;
        };
        let refused = match (incident.status, &incident.acknowledged_by) {
            (IncidentStatus::Resolved, _) => Some("incident was already resolved".to_owned()),
            (_, Some(by)) => Some(format!("already acknowledged by {by}")),
            _ => None,
        };
        if let Some(reason) = refused {
            push_conflict(incident, fact, &body.actor, "acknowledgement", &reason);
            return FoldOutcome::Applied;
        }
        incident.status = IncidentStatus::Acknowledged;
        incident.acknowledged_at = Some(fact.recorded_at);
        incident.acknowledged_by = Some(body.actor.clone());
        let text = match &body.note {
            Some(note) => format!("Acknowledged by {}: {note}", body.actor),
            None => format!("Acknowledged by {}", body.actor),
        };
        push(
            incident,
            fact,
            TimelineKind::Acknowledged,
            &body.actor,
            text,
        );
        FoldOutcome::Applied
    }

    fn apply_note(&mut self, fact: &Fact, body: &NoteAdded) -> FoldOutcome {
        let Some(incident) = self.incidents.get_mut(&body.incident_id) else {
            return FoldOutcome::Ignored;
        };
        let text = format!("Note by {}: {}", body.actor, body.text);
        push(incident, fact, TimelineKind::Note, &body.actor, text);
        FoldOutcome::Applied
    }

    fn apply_resolved(&mut self, fact: &Fact, body: &Resolved) -> FoldOutcome {
        let Some(incident) = self.incidents.get_mut(&body.incident_id) else {
            return FoldOutcome::Ignored;
        };
        if incident.status == IncidentStatus::Resolved {
            let by = incident.resolved_by.clone().unwrap_or_default();
            let reason = format!("already resolved by {by}");
            push_conflict(incident, fact, &body.actor, "resolution", &reason);
            return FoldOutcome::Applied;
        }
        incident.status = IncidentStatus::Resolved;
        incident.resolved_at = Some(fact.recorded_at);
        incident.resolved_by = Some(body.actor.clone());
        incident.resolution = body.resolution.clone();
        let firing = incident.firing_alerts();
        let mut text = match &body.resolution {
            Some(resolution) => format!("Resolved by {}: {resolution}", body.actor),
            None => format!("Resolved by {}", body.actor),
        };
        if firing > 0 {
            text.push_str(&format!(" ({firing} alert(s) still firing at the source)"));
        }
        push(incident, fact, TimelineKind::Resolved, &body.actor, text);
        FoldOutcome::Applied
    }
}

fn is_known_firing(incident: &Incident, alert: &AlertNotified) -> bool {
    incident
        .alerts
        .get(&alert.fingerprint)
        .is_some_and(|known| known.status == AlertStatus::Firing)
}

fn open_incident(fact: &Fact, alert: &AlertNotified) -> Incident {
    let mut incident = Incident {
        id: incident_id_for(fact.fact_id),
        stream_key: fact.stream_key.clone(),
        source: alert.source.clone(),
        group_key: alert.group_key.clone(),
        status: IncidentStatus::Triggered,
        title: alert.title.clone(),
        severity: alert.severity,
        service: alert.service.clone(),
        opened_at: fact.recorded_at,
        acknowledged_at: None,
        acknowledged_by: None,
        resolved_at: None,
        resolved_by: None,
        resolution: None,
        alerts: BTreeMap::new(),
        timeline: Vec::new(),
    };
    let text = format!(
        "Incident opened by {}: {} ({})",
        alert.source,
        alert.title,
        alert.severity.as_str()
    );
    push(
        &mut incident,
        fact,
        TimelineKind::Opened,
        &alert.source,
        text,
    );
    update_alert(&mut incident, fact, alert);
    incident
}

/// Records one alert's new state on its incident. A notification that repeats the state
/// the incident already holds changes nothing.
fn update_alert(incident: &mut Incident, fact: &Fact, alert: &AlertNotified) -> FoldOutcome {
    let known = incident.alerts.get(&alert.fingerprint);
    // A repeat of the state the incident holds changes nothing, even with another start
    // time: senders that do not know when an alert began (PagerDuty, generic JSON) stamp
    // each repeat anew.
    if known.is_some_and(|known| known.status == alert.status) {
        return FoldOutcome::Duplicate;
    }
    // A resolution ends the occurrence that was firing; its start stays the one seen.
    let starts_at = match (known, alert.status) {
        (Some(known), AlertStatus::Resolved) => known.starts_at,
        _ => alert.starts_at,
    };
    let state = AlertState {
        fingerprint: alert.fingerprint.clone(),
        status: alert.status,
        labels: alert.labels.clone(),
        annotations: alert.annotations.clone(),
        starts_at,
        ends_at: alert.ends_at,
        generator_url: alert.generator_url.clone(),
    };
    let name = state.display_name();
    incident.alerts.insert(alert.fingerprint.clone(), state);
    let (kind, text) = match alert.status {
        AlertStatus::Firing => {
            incident.severity = incident.severity.max(alert.severity);
            let summary = alert
                .annotations
                .get("summary")
                .map(|s| format!(": {s}"))
                .unwrap_or_default();
            (
                TimelineKind::AlertFiring,
                format!(
                    "Alert {name} firing since {}{summary}",
                    alert.starts_at.clock_time()
                ),
            )
        }
        AlertStatus::Resolved => {
            let ended = alert
                .ends_at
                .map(|at| format!(" at {}", at.clock_time()))
                .unwrap_or_default();
            (
                TimelineKind::AlertResolved,
                format!("Alert {name} resolved{ended}"),
            )
        }
    };
    push(incident, fact, kind, &alert.source, text);

    if incident.status.is_open() && incident.firing_alerts() == 0 {
        incident.status = IncidentStatus::Resolved;
        incident.resolved_at = Some(fact.recorded_at);
        incident.resolved_by = Some(alert.source.clone());
        let count = incident.alerts.len();
        push(
            incident,
            fact,
            TimelineKind::AutoResolved,
            &alert.source,
            format!("All {count} alert(s) resolved: incident auto-resolved"),
        );
    }
    FoldOutcome::Applied
}

fn push(incident: &mut Incident, fact: &Fact, kind: TimelineKind, actor: &str, text: String) {
    incident.timeline.push(TimelineEntry {
        at: fact.recorded_at,
        kind,
        actor: actor.to_owned(),
        text,
        fact_id: fact.fact_id,
    });
}

fn push_conflict(incident: &mut Incident, fact: &Fact, actor: &str, what: &str, reason: &str) {
    let text = format!("Ignored {what} by {actor}: {reason}");
    push(incident, fact, TimelineKind::Conflict, actor, text);
}
