//! The incident read model that the fold builds: lifecycle, alerts by fingerprint and the
//! timeline.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    AlertStatus, Classification, ErrorClass, PostmortemSection, PublishedRevision, SectionEdit,
    Timestamp,
};

/// Severity, normalized from whatever the sender called it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
    Critical,
}

impl Severity {
    /// Maps a sender's label. Missing or unknown values page as `error`: an alert someone
    /// wired to Aftermath without a severity is still an alert, never silenced to `info`.
    pub fn from_label(label: Option<&str>) -> Self {
        match label.map(|s| s.trim().to_ascii_lowercase()).as_deref() {
            Some("critical" | "crit" | "fatal" | "emergency" | "page" | "p1" | "sev1") => {
                Severity::Critical
            }
            Some("warning" | "warn" | "medium" | "minor" | "p3" | "sev3") => Severity::Warning,
            Some("info" | "informational" | "low" | "none" | "notice" | "p4" | "p5" | "sev4") => {
                Severity::Info
            }
            _ => Severity::Error,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
            Severity::Critical => "critical",
        }
    }
}

/// The lifecycle: `triggered` → `acknowledged` → `mitigated` → `resolved` → `closed`.
/// `acknowledged` and `mitigated` may be skipped; a resolved incident may be reopened (back
/// to `triggered` or `acknowledged`); `closed` (the post-mortem is published) is final.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IncidentStatus {
    Triggered,
    Acknowledged,
    /// The impact is contained (rolled back, failed over), the cause not yet fixed.
    Mitigated,
    Resolved,
    /// Resolved and its post-mortem published (`incident.postmortem_published`).
    Closed,
}

impl IncidentStatus {
    /// Whether the incident still needs responders: alerts of its stream land on it.
    pub fn is_open(self) -> bool {
        match self {
            IncidentStatus::Triggered
            | IncidentStatus::Acknowledged
            | IncidentStatus::Mitigated => true,
            IncidentStatus::Resolved | IncidentStatus::Closed => false,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            IncidentStatus::Triggered => "triggered",
            IncidentStatus::Acknowledged => "acknowledged",
            IncidentStatus::Mitigated => "mitigated",
            IncidentStatus::Resolved => "resolved",
            IncidentStatus::Closed => "closed",
        }
    }
}

/// What an action item is for, as the SOP's post-mortem splits them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionItemKind {
    /// Keeps the problem from happening again.
    Prevent,
    /// Limits the damage next time (an alert, a runbook, a failover).
    Mitigate,
    /// Changes how people work (review checklists, docs).
    Process,
}

impl ActionItemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionItemKind::Prevent => "prevent",
            ActionItemKind::Mitigate => "mitigate",
            ActionItemKind::Process => "process",
        }
    }
}

/// One of the five whys. `question` and `answer` are the current wording (the latest
/// amendment's, else as asked); the wording as first asked and every amendment are kept.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Why {
    /// 1-based position in the chain.
    pub number: u32,
    pub question: String,
    pub answer: String,
    pub asked_by: String,
    pub asked_at: Timestamp,
    /// The wording as `asked_by` first wrote it.
    pub asked_question: String,
    pub asked_answer: String,
    /// Every later wording, oldest first; the last one is the current wording.
    pub amendments: Vec<WhyAmendment>,
}

/// A new wording of a why, by whom and when.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WhyAmendment {
    pub question: String,
    pub answer: String,
    pub by: String,
    pub at: Timestamp,
}

/// The root cause as stated. A snapshot: amending the why it was taken from later does
/// not change it (state it again to follow).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RootCause {
    pub text: String,
    pub stated_by: String,
    pub stated_at: Timestamp,
    /// The why whose answer it was taken from, when no text was given.
    pub from_why: Option<u32>,
}

/// The impact as a person assessed it (the SOP's "Impact" section). The latest wins.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Impact {
    pub summary: String,
    pub users_affected: Option<u64>,
    pub failed_requests: Option<u64>,
    pub data_loss: bool,
    pub customer_facing: bool,
    /// A person's figure, overriding the downtime derived from the alerts.
    pub downtime_seconds: Option<u64>,
    pub recorded_by: String,
    pub recorded_at: Timestamp,
}

/// Follow-up work. Items can be added and completed at any point, also after closing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionItem {
    pub id: Uuid,
    pub title: String,
    pub owner: String,
    pub kind: ActionItemKind,
    /// `YYYY-MM-DD`, as given.
    pub due: Option<String>,
    pub added_by: String,
    pub added_at: Timestamp,
    pub done_at: Option<Timestamp>,
    pub done_by: Option<String>,
}

/// A related document: a dashboard, a pull request, a ticket.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Link {
    pub url: String,
    pub title: String,
    pub added_by: String,
    pub added_at: Timestamp,
}

/// One alert of an incident, tracked by fingerprint with its own status.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertState {
    pub fingerprint: String,
    pub status: AlertStatus,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub starts_at: Timestamp,
    pub ends_at: Option<Timestamp>,
    pub generator_url: String,
}

impl AlertState {
    /// `alertname` (or the fingerprint) plus the instance, for timeline text.
    pub fn display_name(&self) -> String {
        let name = self
            .labels
            .get("alertname")
            .cloned()
            .unwrap_or_else(|| format!("alert {}", self.fingerprint));
        match self.labels.get("instance") {
            Some(instance) => format!("{name} on {instance}"),
            None => name,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimelineKind {
    Opened,
    AlertFiring,
    AlertResolved,
    AlertsTruncated,
    Acknowledged,
    Note,
    Resolved,
    AutoResolved,
    Mitigated,
    Reopened,
    SeverityChanged,
    CommanderAssigned,
    WhyAdded,
    WhyAmended,
    RootCauseStated,
    ImpactRecorded,
    ActionItemAdded,
    ActionItemDone,
    LinkAdded,
    /// An outbound notification reached its receiver.
    NotificationSent,
    /// An outbound notification attempt failed (a retry may follow).
    NotificationFailed,
    /// The classifier's error class changed with new evidence.
    Classified,
    /// A responder set the error class.
    ClassificationOverridden,
    /// A manager wrote (or reverted) a section of the post-mortem.
    PostmortemEdited,
    /// A manager published a post-mortem revision.
    PostmortemPublished,
    /// A request the fold refused because of what came before it in the log.
    Conflict,
}

/// One line of an incident's timeline. Entries are in log order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub at: Timestamp,
    pub kind: TimelineKind,
    pub actor: String,
    pub text: String,
    pub fact_id: Uuid,
}

/// An incident as the fold sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub id: Uuid,
    pub stream_key: String,
    pub source: String,
    pub group_key: String,
    pub status: IncidentStatus,
    pub title: String,
    pub severity: Severity,
    pub service: Option<String>,
    /// When Aftermath opened it (the opening fact's `recorded_at`).
    pub opened_at: Timestamp,
    pub acknowledged_at: Option<Timestamp>,
    pub acknowledged_by: Option<String>,
    pub resolved_at: Option<Timestamp>,
    pub resolved_by: Option<String>,
    pub resolution: Option<String>,
    /// Alerts by fingerprint.
    pub alerts: BTreeMap<String, AlertState>,
    /// Append-only: the fold only ever pushes entries, so an entry's position never
    /// changes (the stores write each entry once, at its position). `default`: the SQL
    /// stores keep entries in their own table and the incident row without them.
    #[serde(default)]
    pub timeline: Vec<TimelineEntry>,
    // Everything below came with the responder workflow; `default` keeps incidents stored
    // before it readable.
    /// Set while the incident is (or was, before resolving) mitigated; cleared on reopen.
    #[serde(default)]
    pub mitigated_at: Option<Timestamp>,
    #[serde(default)]
    pub mitigated_by: Option<String>,
    /// The note given with the mitigation.
    #[serde(default)]
    pub mitigation: Option<String>,
    /// The incident commander, as last assigned.
    #[serde(default)]
    pub commander: Option<String>,
    /// The five whys, in order (`number` is the position, from 1).
    #[serde(default)]
    pub whys: Vec<Why>,
    #[serde(default)]
    pub root_cause: Option<RootCause>,
    #[serde(default)]
    pub impact: Option<Impact>,
    /// In the order they were added.
    #[serde(default)]
    pub action_items: Vec<ActionItem>,
    #[serde(default)]
    pub links: Vec<Link>,
    // Below: with outbound notifications. Left out of the JSON when empty, so incidents
    // that never had them keep their stored bytes.
    /// The incident its stream (alert group) had before this one, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_incident: Option<Uuid>,
    /// Every severity change, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub severity_changes: Vec<SeverityChange>,
    /// Outbound notifications that reached their receiver: (event, target).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub delivered: BTreeSet<Delivered>,
    /// What the classifier made of the evidence, once any rule matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification: Option<Classification>,
    /// A responder's class, which wins over the classifier's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification_override: Option<ClassificationOverride>,
    /// A person's text per post-mortem section, winning over the generated text.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub postmortem_edits: BTreeMap<PostmortemSection, SectionEdit>,
    /// Published post-mortem revisions, oldest first (revision `n` at index `n - 1`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub postmortem_revisions: Vec<PublishedRevision>,
}

/// A responder's decision about the error class.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassificationOverride {
    /// None: unclassified.
    pub class: Option<ErrorClass>,
    pub reason: String,
    pub by: String,
    pub at: Timestamp,
}

/// One change of an incident's severity.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeverityChange {
    pub from: Severity,
    pub to: Severity,
    pub by: String,
    pub at: Timestamp,
    pub reason: String,
    /// The fact that changed it.
    pub fact_id: Uuid,
}

/// An outbound notification event delivered to one configured target.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Delivered {
    pub event_id: Uuid,
    pub target: String,
}

impl Incident {
    /// Seconds from opening to the first acknowledgement.
    pub fn time_to_acknowledge_seconds(&self) -> Option<i64> {
        self.acknowledged_at
            .map(|at| at.seconds_since(self.opened_at))
    }

    /// Seconds from opening to resolution.
    pub fn time_to_resolve_seconds(&self) -> Option<i64> {
        self.resolved_at.map(|at| at.seconds_since(self.opened_at))
    }

    /// When the problem began: the earliest `startsAt` of its alerts.
    pub fn started_at(&self) -> Timestamp {
        self.alerts
            .values()
            .map(|alert| alert.starts_at)
            .min()
            .unwrap_or(self.opened_at)
    }

    /// When the problem ended: the latest alert end if every alert ended, else the
    /// resolution time.
    pub fn ended_at(&self) -> Option<Timestamp> {
        let resolved_at = self.resolved_at?;
        let all_ended: Option<Vec<Timestamp>> =
            self.alerts.values().map(|alert| alert.ends_at).collect();
        match all_ended {
            Some(ends) if !ends.is_empty() => ends.into_iter().max(),
            _ => Some(resolved_at),
        }
    }

    /// Downtime derived from the timeline: first alert start to resolution.
    pub fn downtime_seconds(&self) -> Option<i64> {
        self.ended_at()
            .map(|end| end.seconds_since(self.started_at()))
    }

    /// The downtime to report: a person's figure from the recorded impact if there is
    /// one, else the one derived from the timeline.
    pub fn effective_downtime_seconds(&self) -> Option<i64> {
        match self
            .impact
            .as_ref()
            .and_then(|impact| impact.downtime_seconds)
        {
            Some(seconds) => Some(i64::try_from(seconds).unwrap_or(i64::MAX)),
            None => self.downtime_seconds(),
        }
    }

    /// The error class in force: a responder's override, else the classifier's.
    pub fn error_class(&self) -> Option<ErrorClass> {
        match &self.classification_override {
            Some(chosen) => chosen.class,
            None => self.classification.as_ref().and_then(|c| c.class),
        }
    }

    pub fn firing_alerts(&self) -> usize {
        self.alerts
            .values()
            .filter(|alert| alert.status == AlertStatus::Firing)
            .count()
    }
}
