//! The fold: `apply(projection, fact)` turns facts, in log order, into incidents and
//! timelines. Pure and deterministic; duplicates and conflicts are settled here, never by a
//! race in the API.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::classify::{match_new_texts, TextRef};
use crate::fact::{
    Acknowledged, ActionItemAdded, ActionItemDone, AlertAcknowledged, AlertNotified,
    ClassificationOverridden, CommanderAssigned, ImpactRecorded, LinkAdded, Mitigated, NoteAdded,
    NotificationAttempted, NotificationReceived, PostmortemEdited, PostmortemPublished, Reopened,
    Resolved, RootCauseStated, SeverityChanged, WhyAdded, WhyAmended,
};
use crate::incident::{
    ActionItem, ClassificationOverride, Delivered, Impact, Link, RootCause, SeverityChange, Why,
    WhyAmendment,
};
use crate::postmortem::draft_revision;
use crate::{
    decide, incident_id_for, postmortem_edit_refusal, publish_refusal, AlertState, AlertStatus,
    Authored, ErrorClass, Evidence, Fact, FactBody, Incident, IncidentStatus, PublishedRevision,
    SectionEdit, TimelineEntry, TimelineKind, Timestamp,
};

/// The refusal of anything that would change what a closed incident's published
/// post-mortem says (the lifecycle, severity, commander, whys, root cause, impact).
/// Action items and links stay open: prevention work and its references come later.
const CLOSED: &str = "incident was already closed";

/// What the fold keeps per stream (grouping key) besides its incidents.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamState {
    /// The stream's latest incident, open or resolved.
    pub current_incident: Option<Uuid>,
    /// Every fact id already folded for this stream. A fact delivered twice (a retried
    /// append, a resent notification) is recognised here and changes nothing. (Stores keep
    /// these ids apart from the rest of the stream's row, which `default` lets decode.)
    #[serde(default)]
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
        let outcome = match &fact.body {
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
            FactBody::Mitigated(body) => self.apply_mitigated(fact, body),
            FactBody::Reopened(body) => self.apply_reopened(fact, body),
            FactBody::SeverityChanged(body) => self.apply_severity_changed(fact, body),
            FactBody::CommanderAssigned(body) => self.apply_commander_assigned(fact, body),
            FactBody::WhyAdded(body) => self.apply_why_added(fact, body),
            FactBody::WhyAmended(body) => self.apply_why_amended(fact, body),
            FactBody::RootCauseStated(body) => self.apply_root_cause(fact, body),
            FactBody::ImpactRecorded(body) => self.apply_impact(fact, body),
            FactBody::ActionItemAdded(body) => self.apply_action_item_added(fact, body),
            FactBody::ActionItemDone(body) => self.apply_action_item_done(fact, body),
            FactBody::LinkAdded(body) => self.apply_link(fact, body),
            FactBody::NotificationAttempted(body) => self.apply_notification_attempted(fact, body),
            FactBody::ClassificationOverridden(body) => {
                self.apply_classification_overridden(fact, body)
            }
            FactBody::PostmortemEdited(body) => self.apply_postmortem_edited(fact, body),
            FactBody::PostmortemPublished(body) => self.apply_postmortem_published(fact, body),
        };
        if outcome == FoldOutcome::Applied {
            self.classify_new_evidence(fact);
        }
        outcome
    }

    /// Feeds the evidence a fact brought (an alert's labels and annotations, a note, a
    /// why, a root cause) to the classifier. Evidence only grows, so only the new texts
    /// are matched; a closed incident's class stays as published.
    fn classify_new_evidence(&mut self, fact: &Fact) {
        // The texts are borrowed from the fact; a why's question and answer are one text.
        let why_text;
        let (incident_id, texts) = match &fact.body {
            FactBody::AlertNotified(alert) => {
                let Some(id) = self
                    .streams
                    .get(&fact.stream_key)
                    .and_then(|stream| stream.current_incident)
                else {
                    return;
                };
                let mut texts: Vec<TextRef<'_>> =
                    Vec::with_capacity(alert.labels.len() + alert.annotations.len());
                texts.extend(
                    alert
                        .labels
                        .iter()
                        .map(|(name, value)| TextRef::label(name, value)),
                );
                texts.extend(
                    alert
                        .annotations
                        .iter()
                        .map(|(name, value)| TextRef::annotation(name, value)),
                );
                (id, texts)
            }
            FactBody::NoteAdded(note) => (note.incident_id, vec![TextRef::note(&note.text)]),
            FactBody::WhyAdded(why) => {
                why_text = format!("{} {}", why.question, why.answer);
                (why.incident_id, vec![TextRef::note(&why_text)])
            }
            FactBody::WhyAmended(why) => {
                why_text = format!("{} {}", why.question, why.answer);
                (why.incident_id, vec![TextRef::note(&why_text)])
            }
            FactBody::RootCauseStated(root) => match &root.text {
                Some(text) => (root.incident_id, vec![TextRef::note(text)]),
                None => return,
            },
            _ => return,
        };
        let Some(incident) = self.incidents.get_mut(&incident_id) else {
            return;
        };
        // A refused fact (recorded as a conflict) is no evidence.
        let refused = incident.timeline.last().is_some_and(|entry| {
            entry.fact_id == fact.fact_id && entry.kind == TimelineKind::Conflict
        });
        if refused || incident.status == IncidentStatus::Closed {
            return;
        }
        let known = incident
            .classification
            .iter()
            .flat_map(|c| c.evidence.iter());
        let new = match_new_texts(&texts, known.map(|e| e.rule.as_str()));
        if new.is_empty() {
            return;
        }
        let mut evidence: BTreeMap<String, Evidence> = incident
            .classification
            .iter()
            .flat_map(|c| c.evidence.iter())
            .map(|e| (e.rule.clone(), e.clone()))
            .collect();
        evidence.extend(new.into_iter().map(|e| (e.rule.clone(), e)));
        let before = incident.classification.as_ref().and_then(|c| c.class);
        let decided = decide(&evidence);
        let after = decided.class;
        let text = match after {
            Some(class) => {
                let strongest = decided
                    .evidence
                    .iter()
                    .filter(|e| e.class == class)
                    .max_by_key(|e| e.weight);
                let because = strongest
                    .map(|e| format!(": rule {} matched {:?}", e.rule, e.matched))
                    .unwrap_or_default();
                format!(
                    "Classified as {} {} (confidence {}%, rules v{}){because}",
                    class.code(),
                    class.title(),
                    decided.confidence,
                    decided.rules_version
                )
            }
            None => format!(
                "Classification withdrawn: the evidence no longer points to one class (rules v{})",
                decided.rules_version
            ),
        };
        incident.classification = Some(decided);
        if after != before && incident.classification_override.is_none() {
            push(incident, fact, TimelineKind::Classified, CLASSIFIER, text);
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
                let mut incident = open_incident(fact, alert);
                incident.previous_incident = self
                    .streams
                    .get(&fact.stream_key)
                    .and_then(|stream| stream.current_incident);
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
        // Senders repeat acknowledgements; only the first one counts. A mitigated incident
        // is past acknowledging: the sender's ack neither moves it back nor dates the ack.
        if incident.acknowledged_by.is_some() || incident.status == IncidentStatus::Mitigated {
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
            (IncidentStatus::Closed, _) => Some(CLOSED.to_owned()),
            // Mitigating implies someone is on it, whether or not they acknowledged first.
            (IncidentStatus::Mitigated, _) => Some(already_mitigated(incident)),
            (_, Some(by)) => Some(format!("already acknowledged by {by}")),
            (IncidentStatus::Triggered | IncidentStatus::Acknowledged, None) => None,
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
        let refused = match incident.status {
            IncidentStatus::Resolved => {
                let by = incident.resolved_by.clone().unwrap_or_default();
                Some(format!("already resolved by {by}"))
            }
            IncidentStatus::Closed => Some(CLOSED.to_owned()),
            IncidentStatus::Triggered
            | IncidentStatus::Acknowledged
            | IncidentStatus::Mitigated => None,
        };
        if let Some(reason) = refused {
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

    /// Mitigation does not count as an acknowledgement: `acknowledged_at` stays empty, so
    /// time-to-acknowledge is only ever a real acknowledgement.
    fn apply_mitigated(&mut self, fact: &Fact, body: &Mitigated) -> FoldOutcome {
        let Some(incident) = self.incidents.get_mut(&body.incident_id) else {
            return FoldOutcome::Ignored;
        };
        let refused = match incident.status {
            IncidentStatus::Resolved => Some("incident was already resolved".to_owned()),
            IncidentStatus::Closed => Some(CLOSED.to_owned()),
            IncidentStatus::Mitigated => Some(already_mitigated(incident)),
            IncidentStatus::Triggered | IncidentStatus::Acknowledged => None,
        };
        if let Some(reason) = refused {
            return refuse(incident, fact, &body.actor, "mitigation", &reason);
        }
        incident.status = IncidentStatus::Mitigated;
        incident.mitigated_at = Some(fact.recorded_at);
        incident.mitigated_by = Some(body.actor.clone());
        incident.mitigation = body.note.clone();
        let text = match &body.note {
            Some(note) => format!("Mitigated by {}: {note}", body.actor),
            None => format!("Mitigated by {}", body.actor),
        };
        push(incident, fact, TimelineKind::Mitigated, &body.actor, text);
        FoldOutcome::Applied
    }

    /// Reopens a resolved incident. The reopen window is the API's check (it needs a
    /// clock); here only the lifecycle is settled.
    fn apply_reopened(&mut self, fact: &Fact, body: &Reopened) -> FoldOutcome {
        let current = self
            .streams
            .get(&fact.stream_key)
            .and_then(|stream| stream.current_incident);
        let Some(incident) = self.incidents.get_mut(&body.incident_id) else {
            return FoldOutcome::Ignored;
        };
        let refused = match incident.status {
            IncidentStatus::Closed => Some(CLOSED.to_owned()),
            IncidentStatus::Triggered
            | IncidentStatus::Acknowledged
            | IncidentStatus::Mitigated => Some(format!(
                "incident is still open ({})",
                incident.status.as_str()
            )),
            // A stream's alerts land on its current incident only, and a stream never has
            // two open incidents (the open one is always the current one). Once a newer
            // incident opened on the stream, reopening this older one would leave an open
            // incident no alert can reach, next to the newer one: refuse, and let the
            // responder work on the newer incident instead.
            IncidentStatus::Resolved if current != Some(incident.id) => Some(match current {
                Some(newer) if fact.stream_key == incident.stream_key => {
                    format!("a newer incident {newer} opened on the same stream since")
                }
                _ => format!(
                    "it is not the current incident of stream {}",
                    fact.stream_key
                ),
            }),
            IncidentStatus::Resolved => None,
        };
        if let Some(reason) = refused {
            return refuse(incident, fact, &body.actor, "reopening", &reason);
        }
        let resolved_by = incident.resolved_by.take().unwrap_or_default();
        incident.status = match incident.acknowledged_by {
            Some(_) => IncidentStatus::Acknowledged,
            None => IncidentStatus::Triggered,
        };
        incident.resolved_at = None;
        incident.resolution = None;
        // The mitigation did not hold: the incident is back to being worked on.
        incident.mitigated_at = None;
        incident.mitigated_by = None;
        incident.mitigation = None;
        let mut text = format!("Reopened by {}", body.actor);
        if let Some(reason) = &body.reason {
            text.push_str(&format!(": {reason}"));
        }
        text.push_str(&format!(
            " (had been resolved by {resolved_by}; now {})",
            incident.status.as_str()
        ));
        push(incident, fact, TimelineKind::Reopened, &body.actor, text);
        FoldOutcome::Applied
    }

    /// Sets the severity, up or down, on any incident not yet closed. Alerts that fire
    /// later may still raise it (a new alert is new information); they never lower it.
    fn apply_severity_changed(&mut self, fact: &Fact, body: &SeverityChanged) -> FoldOutcome {
        let Some(incident) = self.incidents.get_mut(&body.incident_id) else {
            return FoldOutcome::Ignored;
        };
        let refused = if incident.status == IncidentStatus::Closed {
            Some(CLOSED.to_owned())
        } else if incident.severity == body.severity {
            Some(format!("already {}", body.severity.as_str()))
        } else {
            None
        };
        if let Some(reason) = refused {
            return refuse(incident, fact, &body.actor, "severity change", &reason);
        }
        let text = format!(
            "Severity changed from {} to {} by {}: {}",
            incident.severity.as_str(),
            body.severity.as_str(),
            body.actor,
            body.reason
        );
        incident.severity_changes.push(SeverityChange {
            from: incident.severity,
            to: body.severity,
            by: body.actor.clone(),
            at: fact.recorded_at,
            reason: body.reason.clone(),
            fact_id: fact.fact_id,
        });
        incident.severity = body.severity;
        push(
            incident,
            fact,
            TimelineKind::SeverityChanged,
            &body.actor,
            text,
        );
        FoldOutcome::Applied
    }

    fn apply_commander_assigned(&mut self, fact: &Fact, body: &CommanderAssigned) -> FoldOutcome {
        let Some(incident) = self.incidents.get_mut(&body.incident_id) else {
            return FoldOutcome::Ignored;
        };
        let refused = if incident.status == IncidentStatus::Closed {
            Some(CLOSED.to_owned())
        } else if incident.commander.as_deref() == Some(body.name.as_str()) {
            Some(format!("{} is already the commander", body.name))
        } else {
            None
        };
        if let Some(reason) = refused {
            return refuse(incident, fact, &body.actor, "commander assignment", &reason);
        }
        let text = match &incident.commander {
            Some(before) => format!(
                "Commander changed from {before} to {} by {}",
                body.name, body.actor
            ),
            None => format!("Commander {} assigned by {}", body.name, body.actor),
        };
        incident.commander = Some(body.name.clone());
        push(
            incident,
            fact,
            TimelineKind::CommanderAssigned,
            &body.actor,
            text,
        );
        FoldOutcome::Applied
    }

    /// Appends the next why. There is no limit of five: the chain ends where the root cause
    /// is found.
    fn apply_why_added(&mut self, fact: &Fact, body: &WhyAdded) -> FoldOutcome {
        let Some(incident) = self.incidents.get_mut(&body.incident_id) else {
            return FoldOutcome::Ignored;
        };
        if incident.status == IncidentStatus::Closed {
            return refuse(incident, fact, &body.actor, "why", CLOSED);
        }
        let number = u32::try_from(incident.whys.len() + 1).unwrap_or(u32::MAX);
        incident.whys.push(Why {
            number,
            question: body.question.clone(),
            answer: body.answer.clone(),
            asked_by: body.actor.clone(),
            asked_at: fact.recorded_at,
            asked_question: body.question.clone(),
            asked_answer: body.answer.clone(),
            amendments: Vec::new(),
        });
        let text = format!(
            "Why {number} by {}: {} → {}",
            body.actor, body.question, body.answer
        );
        push(incident, fact, TimelineKind::WhyAdded, &body.actor, text);
        FoldOutcome::Applied
    }

    fn apply_why_amended(&mut self, fact: &Fact, body: &WhyAmended) -> FoldOutcome {
        let Some(incident) = self.incidents.get_mut(&body.incident_id) else {
            return FoldOutcome::Ignored;
        };
        if incident.status == IncidentStatus::Closed {
            return refuse(incident, fact, &body.actor, "why amendment", CLOSED);
        }
        let count = incident.whys.len();
        let Some(index) = usize::try_from(body.number)
            .ok()
            .and_then(|number| number.checked_sub(1))
            .filter(|index| *index < count)
        else {
            let reason = format!("there is no why {} (the incident has {count})", body.number);
            return refuse(incident, fact, &body.actor, "why amendment", &reason);
        };
        let current = &incident.whys[index];
        if current.question == body.question && current.answer == body.answer {
            let reason = format!("why {} already reads so", body.number);
            return refuse(incident, fact, &body.actor, "why amendment", &reason);
        }
        let why = &mut incident.whys[index];
        why.question = body.question.clone();
        why.answer = body.answer.clone();
        why.amendments.push(WhyAmendment {
            question: body.question.clone(),
            answer: body.answer.clone(),
            by: body.actor.clone(),
            at: fact.recorded_at,
        });
        let text = format!(
            "Why {} amended by {}: {} → {}",
            body.number, body.actor, body.question, body.answer
        );
        push(incident, fact, TimelineKind::WhyAmended, &body.actor, text);
        FoldOutcome::Applied
    }

    /// States the root cause; the latest statement wins. Without text it is the last why's
    /// current answer, copied now (a later amendment of that why does not follow).
    fn apply_root_cause(&mut self, fact: &Fact, body: &RootCauseStated) -> FoldOutcome {
        let Some(incident) = self.incidents.get_mut(&body.incident_id) else {
            return FoldOutcome::Ignored;
        };
        if incident.status == IncidentStatus::Closed {
            return refuse(incident, fact, &body.actor, "root cause", CLOSED);
        }
        let (text, from_why) = match (&body.text, incident.whys.last()) {
            (Some(text), _) => (text.clone(), None),
            (None, Some(why)) => (why.answer.clone(), Some(why.number)),
            (None, None) => {
                let reason = "no root cause given and no whys to take it from";
                return refuse(incident, fact, &body.actor, "root cause", reason);
            }
        };
        let entry = match from_why {
            Some(number) => format!(
                "Root cause stated by {} (the answer to why {number}): {text}",
                body.actor
            ),
            None => format!("Root cause stated by {}: {text}", body.actor),
        };
        incident.root_cause = Some(RootCause {
            text,
            stated_by: body.actor.clone(),
            stated_at: fact.recorded_at,
            from_why,
        });
        push(
            incident,
            fact,
            TimelineKind::RootCauseStated,
            &body.actor,
            entry,
        );
        FoldOutcome::Applied
    }

    fn apply_impact(&mut self, fact: &Fact, body: &ImpactRecorded) -> FoldOutcome {
        let Some(incident) = self.incidents.get_mut(&body.incident_id) else {
            return FoldOutcome::Ignored;
        };
        if incident.status == IncidentStatus::Closed {
            return refuse(incident, fact, &body.actor, "impact", CLOSED);
        }
        let mut details = Vec::new();
        if let Some(users) = body.users_affected {
            details.push(format!("{users} user(s) affected"));
        }
        if let Some(failed) = body.failed_requests {
            details.push(format!("{failed} failed request(s)"));
        }
        if let Some(seconds) = body.downtime_seconds {
            details.push(format!("{seconds} s downtime"));
        }
        details.push(
            if body.data_loss {
                "data loss"
            } else {
                "no data loss"
            }
            .to_owned(),
        );
        details.push(
            if body.customer_facing {
                "customer-facing"
            } else {
                "internal"
            }
            .to_owned(),
        );
        let text = format!(
            "Impact recorded by {}: {} ({})",
            body.actor,
            body.summary,
            details.join(", ")
        );
        incident.impact = Some(Impact {
            summary: body.summary.clone(),
            users_affected: body.users_affected,
            failed_requests: body.failed_requests,
            data_loss: body.data_loss,
            customer_facing: body.customer_facing,
            downtime_seconds: body.downtime_seconds,
            recorded_by: body.actor.clone(),
            recorded_at: fact.recorded_at,
        });
        push(
            incident,
            fact,
            TimelineKind::ImpactRecorded,
            &body.actor,
            text,
        );
        FoldOutcome::Applied
    }

    /// Action items are accepted in every status, closed included.
    fn apply_action_item_added(&mut self, fact: &Fact, body: &ActionItemAdded) -> FoldOutcome {
        let Some(incident) = self.incidents.get_mut(&body.incident_id) else {
            return FoldOutcome::Ignored;
        };
        if let Some(item) = incident
            .action_items
            .iter()
            .find(|item| item.id == body.action_item_id)
        {
            let reason = format!("action item {} already exists ({})", item.id, item.title);
            return refuse(incident, fact, &body.actor, "action item", &reason);
        }
        let mut text = format!(
            "Action item added by {}: {} ({}, owner {}",
            body.actor,
            body.title,
            body.kind.as_str(),
            body.owner
        );
        if let Some(due) = &body.due {
            text.push_str(&format!(", due {due}"));
        }
        text.push(')');
        incident.action_items.push(ActionItem {
            id: body.action_item_id,
            title: body.title.clone(),
            owner: body.owner.clone(),
            kind: body.kind,
            due: body.due.clone(),
            added_by: body.actor.clone(),
            added_at: fact.recorded_at,
            done_at: None,
            done_by: None,
        });
        push(
            incident,
            fact,
            TimelineKind::ActionItemAdded,
            &body.actor,
            text,
        );
        FoldOutcome::Applied
    }

    fn apply_action_item_done(&mut self, fact: &Fact, body: &ActionItemDone) -> FoldOutcome {
        let Some(incident) = self.incidents.get_mut(&body.incident_id) else {
            return FoldOutcome::Ignored;
        };
        let Some(index) = incident
            .action_items
            .iter()
            .position(|item| item.id == body.action_item_id)
        else {
            let reason = format!("there is no action item {}", body.action_item_id);
            return refuse(
                incident,
                fact,
                &body.actor,
                "action item completion",
                &reason,
            );
        };
        let item = &mut incident.action_items[index];
        if let Some(by) = &item.done_by {
            let reason = format!("action item \"{}\" was already done by {by}", item.title);
            return refuse(
                incident,
                fact,
                &body.actor,
                "action item completion",
                &reason,
            );
        }
        item.done_at = Some(fact.recorded_at);
        item.done_by = Some(body.actor.clone());
        let text = format!("Action item done by {}: {}", body.actor, item.title);
        push(
            incident,
            fact,
            TimelineKind::ActionItemDone,
            &body.actor,
            text,
        );
        FoldOutcome::Applied
    }

    /// Links are accepted in every status, closed included; the same URL twice is refused.
    fn apply_link(&mut self, fact: &Fact, body: &LinkAdded) -> FoldOutcome {
        let Some(incident) = self.incidents.get_mut(&body.incident_id) else {
            return FoldOutcome::Ignored;
        };
        if incident.links.iter().any(|link| link.url == body.url) {
            let reason = format!("{} is already linked", body.url);
            return refuse(incident, fact, &body.actor, "link", &reason);
        }
        incident.links.push(Link {
            url: body.url.clone(),
            title: body.title.clone(),
            added_by: body.actor.clone(),
            added_at: fact.recorded_at,
        });
        let text = format!(
            "Link added by {}: {} <{}>",
            body.actor, body.title, body.url
        );
        push(incident, fact, TimelineKind::LinkAdded, &body.actor, text);
        FoldOutcome::Applied
    }

    fn apply_classification_overridden(
        &mut self,
        fact: &Fact,
        body: &ClassificationOverridden,
    ) -> FoldOutcome {
        let Some(incident) = self.incidents.get_mut(&body.incident_id) else {
            return FoldOutcome::Ignored;
        };
        if let Some(reason) = classification_refusal(incident, body.class) {
            return refuse(incident, fact, &body.actor, "classification", &reason);
        }
        incident.classification_override = Some(ClassificationOverride {
            class: body.class,
            reason: body.reason.clone(),
            by: body.actor.clone(),
            at: fact.recorded_at,
        });
        let text = format!(
            "Classification set to {} by {}: {}",
            class_name(body.class),
            body.actor,
            body.reason
        );
        push(
            incident,
            fact,
            TimelineKind::ClassificationOverridden,
            &body.actor,
            text,
        );
        FoldOutcome::Applied
    }

    /// A person's text for a post-mortem section. Accepted after closing too: it shapes
    /// the next revision, never a published one.
    fn apply_postmortem_edited(&mut self, fact: &Fact, body: &PostmortemEdited) -> FoldOutcome {
        let Some(incident) = self.incidents.get_mut(&body.incident_id) else {
            return FoldOutcome::Ignored;
        };
        if let Some(reason) = postmortem_edit_refusal(incident, body.section, body.text.as_deref())
        {
            return refuse(incident, fact, &body.actor, "post-mortem edit", &reason);
        }
        let heading = body.section.heading();
        let text = match &body.text {
            Some(text) => {
                incident.postmortem_edits.insert(
                    body.section,
                    SectionEdit {
                        text: text.clone(),
                        by: body.actor.clone(),
                        at: fact.recorded_at,
                    },
                );
                format!("Post-mortem section {heading} written by {}", body.actor)
            }
            None => {
                incident.postmortem_edits.remove(&body.section);
                format!(
                    "Post-mortem section {heading} handed back to the generated text by {}",
                    body.actor
                )
            }
        };
        push(
            incident,
            fact,
            TimelineKind::PostmortemEdited,
            &body.actor,
            text,
        );
        FoldOutcome::Applied
    }

    /// Freezes the draft as the next revision and closes the incident. The draft is made
    /// here, from the state at this point of the log and the suspect changes the fact
    /// carries, so a rebuild freezes the same revision.
    fn apply_postmortem_published(
        &mut self,
        fact: &Fact,
        body: &PostmortemPublished,
    ) -> FoldOutcome {
        let Some(incident) = self.incidents.get_mut(&body.incident_id) else {
            return FoldOutcome::Ignored;
        };
        if let Some(reason) = publish_refusal(incident) {
            return refuse(incident, fact, &body.actor, "publication", &reason);
        }
        let number = u32::try_from(incident.postmortem_revisions.len() + 1).unwrap_or(u32::MAX);
        let closing = incident.status != IncidentStatus::Closed;
        incident.status = IncidentStatus::Closed;
        let text = if closing {
            format!(
                "Post-mortem revision {number} published by {}; incident closed",
                body.actor
            )
        } else {
            format!("Post-mortem revision {number} published by {}", body.actor)
        };
        push(
            incident,
            fact,
            TimelineKind::PostmortemPublished,
            &body.actor,
            text,
        );
        let published = Authored {
            by: body.actor.clone(),
            at: fact.recorded_at,
        };
        let draft = draft_revision(incident, &body.suspect_changes, number, published);
        incident.postmortem_revisions.push(PublishedRevision {
            number,
            by: body.actor.clone(),
            at: fact.recorded_at,
            fact_id: fact.fact_id,
            draft,
        });
        FoldOutcome::Applied
    }

    /// A record of what the notifier did: accepted in every status (even closed), since
    /// it changes nothing a post-mortem says.
    fn apply_notification_attempted(
        &mut self,
        fact: &Fact,
        body: &NotificationAttempted,
    ) -> FoldOutcome {
        let Some(incident) = self.incidents.get_mut(&body.incident_id) else {
            return FoldOutcome::Ignored;
        };
        let (kind, text) = if body.delivered {
            incident.delivered.insert(Delivered {
                event_id: body.event_id,
                target: body.target.clone(),
            });
            let text = format!(
                "Notified {} of {} (attempt {})",
                body.target,
                body.event.as_str(),
                body.attempt
            );
            (TimelineKind::NotificationSent, text)
        } else {
            let outcome = match (body.status, &body.error) {
                (_, Some(error)) => error.clone(),
                (Some(status), None) => format!("HTTP {status}"),
                (None, None) => "no answer".to_owned(),
            };
            let next = if body.last { "gave up" } else { "will retry" };
            let text = format!(
                "Notifying {} of {} failed (attempt {}): {outcome}; {next}",
                body.target,
                body.event.as_str(),
                body.attempt
            );
            (TimelineKind::NotificationFailed, text)
        };
        push(incident, fact, kind, NOTIFIER, text);
        FoldOutcome::Applied
    }
}

/// The actor of the classifier's timeline entries.
pub const CLASSIFIER: &str = "aftermath-classifier";

/// The actor of the notifier's timeline entries.
pub const NOTIFIER: &str = "aftermath-notifier";

/// Why a responder's class cannot be set now (closed, or the same class already set by a
/// responder), if it cannot. The fold refuses on it; the API answers 409 with it.
pub fn classification_refusal(incident: &Incident, class: Option<ErrorClass>) -> Option<String> {
    if incident.status == IncidentStatus::Closed {
        return Some(CLOSED.to_owned());
    }
    match &incident.classification_override {
        Some(chosen) if chosen.class == class => Some(format!(
            "already set to {} by {}",
            class_name(class),
            chosen.by
        )),
        _ => None,
    }
}

/// "E104 Database Migration Failure", or "unclassified".
pub fn class_name(class: Option<ErrorClass>) -> String {
    match class {
        Some(class) => format!("{} {}", class.code(), class.title()),
        None => "unclassified".to_owned(),
    }
}

fn already_mitigated(incident: &Incident) -> String {
    match &incident.mitigated_by {
        Some(by) => format!("already mitigated by {by}"),
        None => "already mitigated".to_owned(),
    }
}

/// Records a refused fact on the timeline. The projection changed (a timeline entry), so
/// the outcome is `Applied`.
fn refuse(
    incident: &mut Incident,
    fact: &Fact,
    actor: &str,
    what: &str,
    reason: &str,
) -> FoldOutcome {
    push_conflict(incident, fact, actor, what, reason);
    FoldOutcome::Applied
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
        mitigated_at: None,
        mitigated_by: None,
        mitigation: None,
        commander: None,
        whys: Vec::new(),
        root_cause: None,
        impact: None,
        action_items: Vec::new(),
        links: Vec::new(),
        previous_incident: None,
        severity_changes: Vec::new(),
        delivered: BTreeSet::new(),
        classification: None,
        classification_override: None,
        postmortem_edits: BTreeMap::new(),
        postmortem_revisions: Vec::new(),
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
