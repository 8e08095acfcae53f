//! Request bodies of the load generator: the same alerts as Alertmanager's webhook
//! (version "4", one group per body, what Aftermath ingests) or as the JSON array of
//! Alertmanager's own `POST /api/v2/alerts` (what Prometheus sends it).
//!
//! Bodies are written straight into a string rather than through `serde_json::Value`:
//! the generator shares the machine with the servers it measures, so it spends as little
//! time per alert as it can.

use std::fmt::Write;

use aftermath_core::{AlertReport, AlertStatus, Notification, Severity, Timestamp};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::traffic::{AlertSend, Population};

/// Alertmanager's `endsAt` for an alert that has not ended.
const NOT_ENDED: &str = "0001-01-01T00:00:00Z";
const EXTERNAL_URL: &str = "http://alertmanager.loadgen:9093";
const RECEIVER: &str = "aftermath";

/// Turns the model's alerts into labels, annotations and timestamps.
#[derive(Clone, Debug)]
pub struct Renderer {
    population: Population,
    /// Change sequence number 0 happens at this instant; number `n`, `n` µs later.
    epoch: OffsetDateTime,
}

/// A group's identity as Alertmanager shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupIdentity {
    pub alertname: String,
    pub service: String,
    pub severity: &'static str,
    /// `{}:{alertname="…", service="…"}`: the root route's key and the group labels.
    pub group_key: String,
}

impl GroupIdentity {
    pub fn stream_key(&self) -> String {
        format!("alertmanager:{}", self.group_key)
    }
}

impl Renderer {
    pub fn new(population: Population, epoch: OffsetDateTime) -> Self {
        Self { population, epoch }
    }

    pub fn group(&self, group: u64) -> GroupIdentity {
        let alertname = format!("LoadAlert{:04}", self.population.alertname_of(group));
        let service = format!("svc-{:03}", self.population.service_of(group));
        // Two groups in ten page someone; the rest are warnings.
        let severity = if group % 10 < 2 {
            "critical"
        } else {
            "warning"
        };
        let group_key = format!("{{}}:{{alertname=\"{alertname}\", service=\"{service}\"}}");
        GroupIdentity {
            alertname,
            service,
            severity,
            group_key,
        }
    }

    pub fn timestamp(&self, seq: u64) -> Timestamp {
        Timestamp::from_datetime(self.epoch + Duration::microseconds(seq as i64))
    }

    fn instance(&self, alert: u64) -> String {
        let instance = self.population.instance_of(alert);
        format!(
            "10.{}.{}.{}:9100",
            (instance >> 16) & 255,
            (instance >> 8) & 255,
            instance & 255
        )
    }

    /// The alert's labels, sorted by name as Alertmanager keeps them.
    fn labels(&self, send: &AlertSend, group: &GroupIdentity) -> [(&'static str, String); 5] {
        [
            ("alertname", group.alertname.clone()),
            ("instance", self.instance(send.alert)),
            ("job", "node".to_owned()),
            ("service", group.service.clone()),
            ("severity", group.severity.to_owned()),
        ]
    }

    fn summary(group: &GroupIdentity) -> String {
        format!("{} is failing on {}", group.alertname, group.service)
    }

    fn description(&self, send: &AlertSend) -> String {
        format!(
            "{} has been over its threshold for 5 minutes",
            self.instance(send.alert)
        )
    }

    /// Alertmanager's fingerprint of the alert (see [`alertmanager_fingerprint`]).
    pub fn fingerprint(&self, send: &AlertSend, group: &GroupIdentity) -> String {
        let labels = self.labels(send, group);
        alertmanager_fingerprint(labels.iter().map(|(name, value)| (*name, value.as_str())))
    }

    /// One Alertmanager webhook (version "4") holding `alerts`, which all belong to one
    /// group, as Alertmanager delivers a group to a receiver.
    pub fn webhook(&self, alerts: &[AlertSend]) -> String {
        let group = self.group(alerts[0].group);
        let any_firing = alerts.iter().any(AlertSend::is_firing);
        let mut body = String::with_capacity(600 + alerts.len() * 520);
        body.push_str(r#"{"version":"4","groupKey":"#);
        push_json_str(&mut body, &group.group_key);
        let _ = write!(
            body,
            r#","truncatedAlerts":0,"status":"{}","receiver":"{RECEIVER}","groupLabels":{{"alertname":"{}","service":"{}"}},"commonLabels":{{"#,
            if any_firing { "firing" } else { "resolved" },
            group.alertname,
            group.service
        );
        // Labels and annotations all alerts share; an alert alone shares all of its own.
        let first = &alerts[0];
        let alone = alerts.len() == 1;
        let mut separator = "";
        for (name, value) in self.labels(first, &group) {
            if name != "instance" || alone {
                let _ = write!(body, r#"{separator}"{name}":"{value}""#);
                separator = ",";
            }
        }
        let _ = write!(
            body,
            r#"}},"commonAnnotations":{{"summary":"{}""#,
            Self::summary(&group)
        );
        if alone {
            let _ = write!(body, r#","description":"{}""#, self.description(first));
        }
        let _ = write!(body, r#"}},"externalURL":"{EXTERNAL_URL}","alerts":["#);
        for (index, send) in alerts.iter().enumerate() {
            if index > 0 {
                body.push(',');
            }
            let _ = write!(
                body,
                r#"{{"status":"{}","labels":"#,
                if send.is_firing() {
                    "firing"
                } else {
                    "resolved"
                }
            );
            self.push_labels(&mut body, send, &group);
            self.push_annotations(&mut body, send, &group);
            let ends = match send.ends_seq {
                Some(seq) => self.timestamp(seq).to_string(),
                None => NOT_ENDED.to_owned(),
            };
            let _ = write!(
                body,
                r#","startsAt":"{}","endsAt":"{ends}","generatorURL":"{}","fingerprint":"{}"}}"#,
                self.timestamp(send.starts_seq),
                generator_url(&group),
                self.fingerprint(send, &group)
            );
        }
        body.push_str("]}");
        body
    }

    /// The alerts as `POST /api/v2/alerts` takes them from Prometheus: an array of
    /// postable alerts. A firing alert has no `endsAt` (Alertmanager then resolves it
    /// after its `resolve_timeout` unless it is sent again); a resolved one ends in the past.
    pub fn postable_alerts(&self, alerts: &[AlertSend]) -> String {
        let mut body = String::with_capacity(2 + alerts.len() * 420);
        body.push('[');
        for (index, send) in alerts.iter().enumerate() {
            if index > 0 {
                body.push(',');
            }
            let group = self.group(send.group);
            body.push_str(r#"{"labels":"#);
            self.push_labels(&mut body, send, &group);
            self.push_annotations(&mut body, send, &group);
            let _ = write!(body, r#","startsAt":"{}""#, self.timestamp(send.starts_seq));
            if let Some(seq) = send.ends_seq {
                let _ = write!(body, r#","endsAt":"{}""#, self.timestamp(seq));
            }
            let _ = write!(body, r#","generatorURL":"{}"}}"#, generator_url(&group));
        }
        body.push(']');
        body
    }

    fn push_labels(&self, body: &mut String, send: &AlertSend, group: &GroupIdentity) {
        body.push('{');
        for (index, (name, value)) in self.labels(send, group).into_iter().enumerate() {
            let separator = if index > 0 { "," } else { "" };
            let _ = write!(body, r#"{separator}"{name}":"{value}""#);
        }
        body.push('}');
    }

    fn push_annotations(&self, body: &mut String, send: &AlertSend, group: &GroupIdentity) {
        let _ = write!(
            body,
            r#","annotations":{{"description":"{}","summary":"{}"}}"#,
            self.description(send),
            Self::summary(group)
        );
    }

    /// The id Aftermath gives the incident `send` lands on: a UUIDv5 of the fact id of
    /// the firing that opened it, which is a function of the alert's stream, fingerprint,
    /// status and times (see `aftermath_core::ids`). Built through the core's own
    /// normalized model so it cannot drift from the server's.
    pub fn incident_id(&self, send: &AlertSend) -> Uuid {
        let group = self.group(send.group);
        let opener = AlertSend {
            alert: send.opener_alert,
            starts_seq: send.opener_starts_seq,
            ends_seq: None,
            ..*send
        };
        let notification = Notification {
            source: "alertmanager".to_owned(),
            group_key: group.group_key.clone(),
            receiver: RECEIVER.to_owned(),
            status: AlertStatus::Firing,
            truncated_alerts: 0,
            external_url: EXTERNAL_URL.to_owned(),
            title: Self::summary(&group),
            severity: Severity::from_label(Some(group.severity)),
            service: Some(group.service.clone()),
            alerts: vec![AlertReport {
                fingerprint: self.fingerprint(&opener, &group),
                status: AlertStatus::Firing,
                labels: Default::default(),
                annotations: Default::default(),
                starts_at: self.timestamp(opener.starts_seq),
                ends_at: None,
                generator_url: String::new(),
                severity: None,
            }],
        };
        let recorded_at = self.timestamp(0);
        let opening_fact = &notification.into_facts("", recorded_at)[0];
        aftermath_core::incident_id_for(opening_fact.fact_id)
    }
}

/// Alertmanager's fingerprint of a label set: FNV-1a (64 bit) over the labels sorted by
/// name, each name and value followed by the byte 0xff, in 16 hex digits. `labels` must
/// come sorted by name.
pub fn alertmanager_fingerprint<'a>(
    labels: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (name, value) in labels {
        for byte in name
            .bytes()
            .chain([0xff])
            .chain(value.bytes())
            .chain([0xff])
        {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

fn generator_url(group: &GroupIdentity) -> String {
    format!(
        "http://prometheus.loadgen:9090/graph?g0.expr={}",
        group.alertname
    )
}

/// Appends `text` as a JSON string. Only the group key needs it (its label quotes); the
/// other texts the renderer writes are plain ASCII names, numbers and times.
fn push_json_str(body: &mut String, text: &str) {
    body.push('"');
    for character in text.chars() {
        match character {
            '"' => body.push_str("\\\""),
            '\\' => body.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(body, "\\u{:04x}", c as u32);
            }
            c => body.push(c),
        }
    }
    body.push('"');
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use aftermath_core::{normalize_alertmanager, FactBody};
    use serde_json::Value;

    use super::super::traffic::{split_by_group, Grouping, Traffic, TrafficShape};
    use super::*;

    fn renderer() -> Renderer {
        let population = Population {
            services: 3,
            grouping: Grouping::Fill {
                alerts_per_group: 4,
            },
        };
        Renderer::new(
            population,
            OffsetDateTime::from_unix_timestamp(1_795_000_000).unwrap(),
        )
    }

    fn batches(per_request: u64, repeats: f64, cycles: f64, count: u64) -> Vec<Vec<AlertSend>> {
        let mut traffic = Traffic::new(TrafficShape {
            population: renderer().population,
            alerts_per_request: per_request,
            repeat_share: repeats,
            cycle_share: cycles,
        });
        (0..count).map(|_| traffic.next_batch().alerts).collect()
    }

    #[test]
    fn webhooks_are_what_aftermath_parses_with_alertmanagers_fingerprints() {
        let renderer = renderer();
        let alerts = &batches(4, 0.0, 0.0, 1)[0];
        let body = renderer.webhook(alerts);
        let facts = normalize_alertmanager(body.as_bytes(), renderer.timestamp(0)).unwrap();
        assert_eq!(facts.len(), 5);
        assert_eq!(
            facts[0].stream_key,
            r#"alertmanager:{}:{alertname="LoadAlert0000", service="svc-000"}"#
        );
        let FactBody::AlertNotified(alert) = &facts[0].body else {
            panic!("alert first")
        };
        assert_eq!(alert.service.as_deref(), Some("svc-000"));
        assert_eq!(alert.labels["instance"], "10.0.0.0:9100");
        assert_eq!(
            alert.fingerprint,
            renderer.fingerprint(&alerts[0], &renderer.group(0))
        );
        let json: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["commonLabels"]["severity"], "critical");
        assert!(json["commonLabels"].get("instance").is_none());
        assert_eq!(json["alerts"].as_array().unwrap().len(), 4);
        assert_eq!(json["alerts"][3]["endsAt"], NOT_ENDED);
    }

    #[test]
    fn fingerprints_are_the_ones_alertmanager_shows() {
        // Read back from a real Alertmanager 0.25 (`GET /api/v2/alerts`) after posting
        // these label sets.
        assert_eq!(
            alertmanager_fingerprint([("alertname", "a")]),
            "d258efc389808447"
        );
        let renderer = renderer();
        let first = batches(1, 0.0, 0.0, 1)[0][0];
        assert_eq!(
            renderer.fingerprint(&first, &renderer.group(0)),
            "3c25f65200721a25"
        );
    }

    #[test]
    fn postable_alerts_carry_the_same_alerts_and_times() {
        let renderer = renderer();
        let sends = batches(4, 0.0, 1.0, 3).concat();
        let webhook_alerts: Vec<Value> = sends
            .chunks(1)
            .map(|one| {
                serde_json::from_str::<Value>(&renderer.webhook(one)).unwrap()["alerts"][0].clone()
            })
            .collect();
        let postable: Vec<Value> = serde_json::from_str(&renderer.postable_alerts(&sends)).unwrap();
        assert_eq!(postable.len(), sends.len());
        for (webhook, postable) in webhook_alerts.iter().zip(&postable) {
            assert_eq!(webhook["labels"], postable["labels"]);
            assert_eq!(webhook["annotations"], postable["annotations"]);
            assert_eq!(webhook["startsAt"], postable["startsAt"]);
            match webhook["status"].as_str().unwrap() {
                "firing" => assert!(postable.get("endsAt").is_none()),
                _ => assert_eq!(webhook["endsAt"], postable["endsAt"]),
            }
        }
        // The second batch resolved the first's alerts.
        assert_eq!(
            postable[4]["endsAt"].as_str().unwrap(),
            renderer.timestamp(4).to_string()
        );
    }

    #[test]
    fn the_derived_incident_id_is_the_one_the_fold_gives() {
        use aftermath_core::Projection;
        let renderer = renderer();
        let mut projection = Projection::default();
        let mut expected: BTreeMap<u64, Uuid> = BTreeMap::new();
        for alerts in batches(3, 0.3, 0.5, 40) {
            for part in split_by_group(&alerts) {
                let body = renderer.webhook(&part);
                for fact in normalize_alertmanager(body.as_bytes(), renderer.timestamp(0)).unwrap()
                {
                    projection.apply(&fact);
                }
            }
            // A repeat lands where its alert already is (or nowhere): only changes count.
            for send in alerts.iter().filter(|send| send.is_change()) {
                expected.insert(send.alert, renderer.incident_id(send));
                let incident = &projection.incidents[&renderer.incident_id(send)];
                let fingerprint = renderer.fingerprint(send, &renderer.group(send.group));
                let held = &incident.alerts[&fingerprint];
                assert_eq!(held.status == AlertStatus::Firing, send.is_firing());
            }
        }
        assert!(expected.len() > 10);
    }
}
