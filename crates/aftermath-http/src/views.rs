//! The JSON shapes of the read API, built from projections.

use aftermath_core::{
    AckPolicy, ActionItem, AlertState, Change, Classification, ErrorClass, Impact, Incident, Link,
    PublishedRevision, RootCause, Runbook, TimelineEntry, Timestamp, Why,
};
use serde::Serialize;
use utoipa::ToSchema;

/// An incident as listed: everything but its alerts and timeline.
#[derive(Serialize, ToSchema)]
pub(crate) struct IncidentSummary<'a> {
    id: String,
    /// `triggered`, `acknowledged`, `mitigated`, `resolved` or `closed`.
    status: &'static str,
    title: &'a str,
    /// `critical`, `error`, `warning` or `info`.
    severity: &'static str,
    service: Option<&'a str>,
    source: &'a str,
    group_key: &'a str,
    opened_at: String,
    acknowledged_at: Option<String>,
    acknowledged_by: Option<&'a str>,
    resolved_at: Option<String>,
    resolved_by: Option<&'a str>,
    resolution: Option<&'a str>,
    time_to_acknowledge_seconds: Option<i64>,
    time_to_resolve_seconds: Option<i64>,
    alerts_firing: usize,
    alerts_total: usize,
    /// When it had to be acknowledged by (the acknowledgement SLA of its severity).
    ack_due_at: String,
    /// Acknowledged late, or still unacknowledged past `ack_due_at`.
    ack_breached: bool,
    /// The error class in force (`E101` … `E105`), a responder's or the classifier's;
    /// null: unclassified.
    error_class: Option<&'static str>,
}

/// What views need besides the incident: the SLA and the time of the request.
#[derive(Clone, Copy)]
pub(crate) struct ViewContext<'a> {
    pub(crate) ack_policy: &'a AckPolicy,
    pub(crate) now: Timestamp,
}

impl<'a> IncidentSummary<'a> {
    pub(crate) fn of(incident: &'a Incident, context: ViewContext<'_>) -> Self {
        Self {
            ack_due_at: context.ack_policy.due_at(incident).to_string(),
            ack_breached: context.ack_policy.breached(incident, context.now),
            error_class: incident.error_class().map(ErrorClass::code),
            id: incident.id.to_string(),
            status: incident.status.as_str(),
            title: &incident.title,
            severity: incident.severity.as_str(),
            service: incident.service.as_deref(),
            source: &incident.source,
            group_key: &incident.group_key,
            opened_at: incident.opened_at.to_string(),
            acknowledged_at: incident.acknowledged_at.map(|at| at.to_string()),
            acknowledged_by: incident.acknowledged_by.as_deref(),
            resolved_at: incident.resolved_at.map(|at| at.to_string()),
            resolved_by: incident.resolved_by.as_deref(),
            resolution: incident.resolution.as_deref(),
            time_to_acknowledge_seconds: incident.time_to_acknowledge_seconds(),
            time_to_resolve_seconds: incident.time_to_resolve_seconds(),
            alerts_firing: incident.firing_alerts(),
            alerts_total: incident.alerts.len(),
        }
    }
}

/// One incident in full, with its alerts and where to find its timeline and post-mortem.
#[derive(Serialize, ToSchema)]
pub(crate) struct IncidentDetail<'a> {
    #[serde(flatten)]
    summary: IncidentSummary<'a>,
    /// Alerts with their own state: `fingerprint`, `status`, `labels`, `annotations`,
    /// `starts_at`, `ends_at`, `generator_url`.
    #[schema(value_type = Vec<Object>)]
    alerts: Vec<&'a AlertState>,
    /// Changes to the incident's service shortly before it opened.
    #[schema(value_type = Vec<Object>)]
    suspect_changes: &'a [Change],
    commander: Option<&'a str>,
    mitigated_at: Option<String>,
    mitigated_by: Option<&'a str>,
    mitigation: Option<&'a str>,
    /// The five whys in order: `number`, `question`, `answer` (current wording),
    /// `asked_by`, `asked_at`, `asked_question`, `asked_answer`, `amendments`.
    #[schema(value_type = Vec<Object>)]
    whys: &'a [Why],
    /// `text`, `stated_by`, `stated_at`, `from_why`.
    #[schema(value_type = Option<Object>)]
    root_cause: Option<&'a RootCause>,
    /// `summary`, `users_affected`, `failed_requests`, `data_loss`, `customer_facing`,
    /// `downtime_seconds` (an override), `recorded_by`, `recorded_at`.
    #[schema(value_type = Option<Object>)]
    impact: Option<&'a Impact>,
    /// First alert start to resolution, unless the impact overrides it.
    downtime_seconds: Option<i64>,
    /// `id`, `title`, `owner`, `kind`, `due`, `added_by`, `added_at`, `done_at`, `done_by`.
    #[schema(value_type = Vec<Object>)]
    action_items: &'a [ActionItem],
    /// Dashboards, PRs, logs: `url`, `title`, `added_by`, `added_at`.
    #[schema(value_type = Vec<Object>)]
    links: &'a [Link],
    classification: ClassificationView<'a>,
    postmortem: PostmortemStateView<'a>,
    #[serde(rename = "_links")]
    resources: Links,
}

#[derive(Serialize, ToSchema)]
struct Links {
    timeline: String,
    postmortem: String,
    postmortem_revisions: String,
}

impl<'a> IncidentDetail<'a> {
    pub(crate) fn of(
        incident: &'a Incident,
        suspect_changes: &'a [Change],
        context: ViewContext<'_>,
    ) -> Self {
        let base = format!("/v1/incidents/{}", incident.id);
        Self {
            summary: IncidentSummary::of(incident, context),
            alerts: incident.alerts.values().collect(),
            suspect_changes,
            commander: incident.commander.as_deref(),
            mitigated_at: incident.mitigated_at.map(|at| at.to_string()),
            mitigated_by: incident.mitigated_by.as_deref(),
            mitigation: incident.mitigation.as_deref(),
            whys: &incident.whys,
            root_cause: incident.root_cause.as_ref(),
            impact: incident.impact.as_ref(),
            downtime_seconds: incident.effective_downtime_seconds(),
            action_items: &incident.action_items,
            links: &incident.links,
            classification: ClassificationView::of(incident),
            postmortem: PostmortemStateView::of(incident),
            resources: Links {
                timeline: format!("{base}/timeline"),
                postmortem: format!("{base}/postmortem"),
                postmortem_revisions: format!("{base}/postmortem/revisions"),
            },
        }
    }
}

/// Where the incident's post-mortem stands: what was published, and which sections a
/// person wrote (the others are generated from the facts).
#[derive(Serialize, ToSchema)]
pub(crate) struct PostmortemStateView<'a> {
    /// Published revisions, oldest first; each is frozen and readable at
    /// `/v1/incidents/{id}/postmortem/revisions/{number}`.
    revisions: Vec<RevisionSummary<'a>>,
    /// Sections whose generated text a person replaced, in the draft's order.
    edited_sections: Vec<SectionEditView<'a>>,
}

/// A published revision of a post-mortem, without its content.
#[derive(Serialize, ToSchema)]
pub(crate) struct RevisionSummary<'a> {
    /// 1 for the first publication, then 2, 3, …
    number: u32,
    /// Who published it.
    by: &'a str,
    /// When it was published.
    at: String,
}

impl<'a> RevisionSummary<'a> {
    pub(crate) fn of(revision: &'a PublishedRevision) -> Self {
        Self {
            number: revision.number,
            by: &revision.by,
            at: revision.at.to_string(),
        }
    }
}

/// A section a person wrote.
#[derive(Serialize, ToSchema)]
pub(crate) struct SectionEditView<'a> {
    /// The section's key, e.g. `root_cause`.
    section: &'static str,
    by: &'a str,
    at: String,
}

impl<'a> PostmortemStateView<'a> {
    fn of(incident: &'a Incident) -> Self {
        Self {
            revisions: incident
                .postmortem_revisions
                .iter()
                .map(RevisionSummary::of)
                .collect(),
            // `postmortem_edits` is keyed by section, so this is the draft's order.
            edited_sections: incident
                .postmortem_edits
                .iter()
                .map(|(section, edit)| SectionEditView {
                    section: section.key(),
                    by: &edit.by,
                    at: edit.at.to_string(),
                })
                .collect(),
        }
    }
}

/// The error class with where it came from, its evidence and its runbook.
#[derive(Serialize, ToSchema)]
pub(crate) struct ClassificationView<'a> {
    /// `E101` … `E105`, or null: unclassified.
    pub(crate) code: Option<&'static str>,
    /// e.g. `Database Migration Failure`.
    pub(crate) title: Option<&'static str>,
    /// `responder` when overridden, `classifier` otherwise.
    pub(crate) source: &'static str,
    /// The classifier's own answer, kept when a responder overrides it: `class`,
    /// `confidence` (percent), `scores`, `evidence` (`rule`, `class`, `weight`, `kind`,
    /// `name`, `matched`), `rules_version`. Null until a rule matched.
    #[schema(value_type = Option<Object>)]
    pub(crate) classifier: Option<&'a Classification>,
    /// A responder's choice: `class`, `reason`, `by`, `at`.
    #[schema(value_type = Option<Object>)]
    #[serde(rename = "override")]
    pub(crate) override_: Option<&'a aftermath_core::ClassificationOverride>,
    pub(crate) runbook: Option<RunbookView>,
}

/// The runbook of the class in force.
#[derive(Serialize, ToSchema)]
pub(crate) struct RunbookView {
    /// The runbook's path in the repository, e.g. `runbooks/E104-database-migration-failure.md`.
    pub(crate) path: &'static str,
    pub(crate) title: String,
    pub(crate) procedure: Vec<String>,
    pub(crate) prevention: Vec<String>,
}

impl<'a> ClassificationView<'a> {
    pub(crate) fn of(incident: &'a Incident) -> Self {
        let class = incident.error_class();
        Self {
            code: class.map(ErrorClass::code),
            title: class.map(ErrorClass::title),
            source: if incident.classification_override.is_some() {
                "responder"
            } else {
                "classifier"
            },
            classifier: incident.classification.as_ref(),
            override_: incident.classification_override.as_ref(),
            runbook: class.map(|class| {
                let runbook = Runbook::of(class);
                RunbookView {
                    path: runbook.path,
                    title: runbook.title,
                    procedure: runbook.procedure,
                    prevention: runbook.prevention,
                }
            }),
        }
    }
}

/// A timeline line: a folded entry, or a suspect change joined in when reading.
#[derive(Serialize)]
#[serde(untagged)]
pub(crate) enum TimelineItem<'a> {
    Entry(&'a TimelineEntry),
    SuspectChange {
        at: String,
        kind: &'static str,
        actor: &'a str,
        text: String,
        change_id: String,
    },
}

#[derive(Serialize, ToSchema)]
pub(crate) struct TimelineView<'a> {
    incident_id: String,
    /// In order: `at`, `kind`, `actor`, `text`, and `fact_id` (or `change_id` for a
    /// `suspect_change`).
    #[schema(value_type = Vec<Object>)]
    entries: Vec<TimelineItem<'a>>,
}

/// A page of incidents, newest first.
#[derive(Serialize, ToSchema)]
pub(crate) struct IncidentPageView<'a> {
    pub(crate) incidents: Vec<IncidentSummary<'a>>,
    /// Pass back as `cursor` for the next page; absent on the last page.
    pub(crate) next_cursor: Option<String>,
}

/// What a responder request did.
#[derive(Serialize, ToSchema)]
pub(crate) struct ResponderAnswer<'a> {
    pub(crate) fact_id: uuid::Uuid,
    /// The request repeated an earlier one with the same `Idempotency-Key`.
    pub(crate) replayed: bool,
    /// The incident below is as folded after this request (else not included yet).
    pub(crate) projected: bool,
    pub(crate) incident: Option<IncidentDetail<'a>>,
    /// The post-mortem revision this request published, once folded (publication only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) revision: Option<u32>,
}

impl<'a> TimelineView<'a> {
    /// The incident's timeline, preceded by the changes to its service shortly before it
    /// opened (they happened first).
    pub(crate) fn of(incident: &'a Incident, suspect_changes: &'a [Change]) -> Self {
        let changes = suspect_changes
            .iter()
            .map(|change| TimelineItem::SuspectChange {
                at: change.at.to_string(),
                kind: "suspect_change",
                actor: &change.actor,
                text: format!("Suspect change ({}): {}", change.source, change.summary),
                change_id: change.id.to_string(),
            });
        Self {
            incident_id: incident.id.to_string(),
            entries: changes
                .chain(incident.timeline.iter().map(TimelineItem::Entry))
                .collect(),
        }
    }
}
