//! The one normalized alert model every sender maps to: a [`Notification`] about one group
//! (one stream, one incident at a time) carrying [`AlertReport`]s, turned into facts the
//! same way whatever the sender.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::fact::{AlertNotified, NotificationReceived};
use crate::ids::content_fact_id;
use crate::{AlertStatus, Fact, FactBody, Severity, Timestamp};

/// One alert as a sender reported it.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertReport {
    /// Identifies the alert within its group across notifications.
    pub fingerprint: String,
    pub status: AlertStatus,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub starts_at: Timestamp,
    /// `None` while the alert has not ended.
    pub ends_at: Option<Timestamp>,
    /// A link back to the source (a graph, a run, a dashboard).
    pub generator_url: String,
    /// The alert's own severity, when it has one; otherwise the notification's.
    pub severity: Option<Severity>,
}

/// A sender's request about one group of alerts, in Aftermath's terms.
#[derive(Clone, Debug, PartialEq)]
pub struct Notification {
    /// `alertmanager`, `grafana`, `pagerduty`, `generic`, …: the first part of the stream key.
    pub source: String,
    /// The sender's grouping key, already scoped (by org, routing key, repository…) so
    /// that different senders' groups never share a stream.
    pub group_key: String,
    pub receiver: String,
    /// The group-level status; informational only, never applied to alerts.
    pub status: AlertStatus,
    pub truncated_alerts: u64,
    pub external_url: String,
    pub title: String,
    pub severity: Severity,
    pub service: Option<String>,
    pub alerts: Vec<AlertReport>,
}

impl Notification {
    /// The stream (partition) key of the notification's group.
    pub fn stream_key(&self) -> String {
        format!("{}:{}", self.source, self.group_key)
    }

    /// One `alert.notified` fact per alert, then one `notification.received` holding
    /// `raw_body`, all on the group's stream.
    ///
    /// Fact ids are derived from content: a resent notification yields the same ids, so
    /// the log and the fold recognise it. The notification comes last so a truncation note
    /// lands on the incident its alerts opened.
    pub fn into_facts(mut self, raw_body: &str, recorded_at: Timestamp) -> Vec<Fact> {
        let stream_key = self.stream_key();
        let body_digest = hex::encode(Sha256::digest(raw_body.as_bytes()));
        let notification_id =
            content_fact_id(&["notification.received", &stream_key, &body_digest]);
        let alert_count = self.alerts.len() as u64;
        let mut facts = Vec::with_capacity(self.alerts.len() + 1);
        // Each alert's own fields move into its fact; only the group's are copied.
        for alert in std::mem::take(&mut self.alerts) {
            let ends_text = alert.ends_at.map(|at| at.to_string()).unwrap_or_default();
            let fact_id = content_fact_id(&[
                "alert.notified",
                &stream_key,
                &alert.fingerprint,
                alert.status.as_str(),
                &alert.starts_at.to_string(),
                &ends_text,
            ]);
            let occurred_at = match alert.status {
                AlertStatus::Firing => alert.starts_at,
                AlertStatus::Resolved => alert.ends_at.unwrap_or(recorded_at),
            };
            facts.push(Fact {
                fact_id,
                stream_key: stream_key.clone(),
                occurred_at,
                recorded_at,
                body: FactBody::AlertNotified(AlertNotified {
                    source: self.source.clone(),
                    notification_id,
                    group_key: self.group_key.clone(),
                    fingerprint: alert.fingerprint,
                    status: alert.status,
                    labels: alert.labels,
                    annotations: alert.annotations,
                    starts_at: alert.starts_at,
                    ends_at: alert.ends_at,
                    generator_url: alert.generator_url,
                    title: self.title.clone(),
                    severity: alert.severity.unwrap_or(self.severity),
                    service: self.service.clone(),
                }),
            });
        }
        facts.push(Fact {
            fact_id: notification_id,
            stream_key,
            occurred_at: recorded_at,
            recorded_at,
            body: FactBody::NotificationReceived(NotificationReceived {
                source: self.source,
                group_key: self.group_key,
                receiver: self.receiver,
                status: self.status,
                alert_count,
                truncated_alerts: self.truncated_alerts,
                external_url: self.external_url,
                raw_body: raw_body.to_owned(),
            }),
        });
        facts
    }
}
