//! The acknowledgement SLA: the SOP's "respond within 5 minutes", configurable per
//! severity. Pure: the caller passes the current time.

use std::collections::BTreeMap;

use crate::{Incident, IncidentStatus, Severity, Timestamp};

/// How long after opening an incident of each severity must be acknowledged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AckPolicy {
    seconds: BTreeMap<Severity, i64>,
}

impl Default for AckPolicy {
    /// The SOP's rule for every severity: acknowledge within 5 minutes.
    fn default() -> Self {
        Self::uniform(5 * 60)
    }
}

impl AckPolicy {
    pub fn uniform(seconds: i64) -> Self {
        let severities = [
            Severity::Critical,
            Severity::Error,
            Severity::Warning,
            Severity::Info,
        ];
        Self {
            seconds: severities.into_iter().map(|s| (s, seconds)).collect(),
        }
    }

    /// Parses `critical=5,warning=30` (minutes); unnamed severities keep the default.
    pub fn parse_minutes(text: &str) -> Result<Self, String> {
        let mut policy = Self::default();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, minutes) = part
                .split_once('=')
                .ok_or_else(|| format!("{part:?} is not severity=minutes"))?;
            let severity = match name.trim() {
                "critical" => Severity::Critical,
                "error" => Severity::Error,
                "warning" => Severity::Warning,
                "info" => Severity::Info,
                other => {
                    return Err(format!(
                        "unknown severity {other:?} (critical, error, warning, info)"
                    ))
                }
            };
            let minutes: i64 = minutes
                .trim()
                .parse()
                .ok()
                .filter(|m| *m > 0)
                .ok_or_else(|| format!("{minutes:?} is not a positive number of minutes"))?;
            policy.seconds.insert(severity, minutes * 60);
        }
        Ok(policy)
    }

    pub fn seconds_for(&self, severity: Severity) -> i64 {
        self.seconds.get(&severity).copied().unwrap_or(5 * 60)
    }

    /// When the incident had to be acknowledged by.
    pub fn due_at(&self, incident: &Incident) -> Timestamp {
        let seconds = self.seconds_for(incident.severity);
        Timestamp::from_datetime(incident.opened_at.datetime() + time::Duration::seconds(seconds))
    }

    /// Acknowledged late, or still unacknowledged (and open) past the due time at `now`.
    /// A mitigation or resolution counts as a response.
    pub fn breached(&self, incident: &Incident, now: Timestamp) -> bool {
        let due = self.due_at(incident);
        let responded = [
            incident.acknowledged_at,
            incident.mitigated_at,
            incident.resolved_at,
        ]
        .into_iter()
        .flatten()
        .min();
        match responded {
            Some(at) => at > due,
            None => incident.status == IncidentStatus::Triggered && now > due,
        }
    }

    /// The `opened_at` before which an unacknowledged incident of each severity is overdue
    /// at `now`.
    pub fn overdue_cutoffs(&self, now: Timestamp) -> BTreeMap<Severity, Timestamp> {
        self.seconds
            .iter()
            .map(|(severity, seconds)| {
                let cutoff = now.datetime() - time::Duration::seconds(*seconds);
                (*severity, Timestamp::from_datetime(cutoff))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{normalize_alertmanager, Projection};

    fn incident(severity_label: &str) -> Incident {
        let body = include_str!("../../../tests/fixtures/alertmanager/05-billing-firing.json")
            .replace(
                "\"severity\":\"critical\"",
                &format!("\"severity\":\"{severity_label}\""),
            );
        let opened = Timestamp::parse("2026-11-24T07:00:00Z").unwrap();
        let mut projection = Projection::default();
        for fact in normalize_alertmanager(body.as_bytes(), opened).unwrap() {
            projection.apply(&fact);
        }
        projection.incidents.into_values().next().unwrap()
    }

    fn at(text: &str) -> Timestamp {
        Timestamp::parse(text).unwrap()
    }

    #[test]
    fn the_sops_five_minutes_apply_unless_configured_per_severity() {
        let critical = incident("critical");
        assert_eq!(
            AckPolicy::default().due_at(&critical).to_string(),
            "2026-11-24T07:05:00Z"
        );
        let policy = AckPolicy::parse_minutes("warning=30, info=240").unwrap();
        assert_eq!(policy.due_at(&critical).to_string(), "2026-11-24T07:05:00Z");
        assert_eq!(
            policy.due_at(&incident("warning")).to_string(),
            "2026-11-24T07:30:00Z"
        );
        assert!(AckPolicy::parse_minutes("urgent=5")
            .unwrap_err()
            .contains("urgent"));
        assert!(AckPolicy::parse_minutes("critical=0").is_err());
        assert!(AckPolicy::parse_minutes("critical").is_err());
    }

    #[test]
    fn breached_means_answered_late_or_still_waiting_past_due() {
        let policy = AckPolicy::default();
        let mut waiting = incident("critical");
        assert!(!policy.breached(&waiting, at("2026-11-24T07:04:59Z")));
        assert!(policy.breached(&waiting, at("2026-11-24T07:05:01Z")));
        waiting.acknowledged_at = Some(at("2026-11-24T07:03:00Z"));
        waiting.status = IncidentStatus::Acknowledged;
        assert!(
            !policy.breached(&waiting, at("2026-11-24T09:00:00Z")),
            "acked in time stays in time"
        );
        waiting.acknowledged_at = Some(at("2026-11-24T07:09:00Z"));
        assert!(policy.breached(&waiting, at("2026-11-24T09:00:00Z")));
    }

    #[test]
    fn overdue_cutoffs_are_now_minus_each_sla() {
        let policy = AckPolicy::parse_minutes("info=60").unwrap();
        let cutoffs = policy.overdue_cutoffs(at("2026-11-24T08:00:00Z"));
        assert_eq!(
            cutoffs[&Severity::Critical].to_string(),
            "2026-11-24T07:55:00Z"
        );
        assert_eq!(cutoffs[&Severity::Info].to_string(), "2026-11-24T07:00:00Z");
    }
}
