//! The incident read model that the fold builds: lifecycle, alerts by fingerprint and the
//! timeline.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{AlertStatus, Timestamp};

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

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IncidentStatus {
    Triggered,
    Acknowledged,
    Resolved,
}

impl IncidentStatus {
    pub fn is_open(self) -> bool {
        !matches!(self, IncidentStatus::Resolved)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            IncidentStatus::Triggered => "triggered",
            IncidentStatus::Acknowledged => "acknowledged",
            IncidentStatus::Resolved => "resolved",
        }
    }
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
    pub timeline: Vec<TimelineEntry>,
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

    pub fn firing_alerts(&self) -> usize {
        self.alerts
            .values()
            .filter(|alert| alert.status == AlertStatus::Firing)
            .count()
    }
}
