//! Helpers shared by the fold's property tests: Alertmanager webhooks to generate, and a
//! projection store's round trip (canonical JSON rows, loading what a batch needs).

use std::collections::{BTreeMap, BTreeSet};

use aftermath_core::{Fact, Incident, Projection, StreamState};
use uuid::Uuid;

/// An Alertmanager webhook about one alert of one group.
pub fn webhook(group: u8, alert: u8, occurrence: u8, resolved: bool, truncated: bool) -> String {
    let status = if resolved { "resolved" } else { "firing" };
    let starts_at = format!("2026-11-24T07:{:02}:00Z", occurrence * 10);
    let ends_at = if resolved {
        format!("2026-11-24T07:{:02}:05Z", occurrence * 10 + 5)
    } else {
        "0001-01-01T00:00:00Z".to_owned()
    };
    let severity = ["critical", "warning", "info"][alert as usize % 3];
    serde_json::json!({
        "version": "4",
        "groupKey": format!("{{}}:{{alertname=\"A{group}\"}}"),
        "truncatedAlerts": if truncated { 3 } else { 0 },
        "status": status,
        "receiver": "aftermath",
        "commonLabels": {"alertname": format!("A{group}"), "severity": severity},
        "commonAnnotations": {},
        "externalURL": "http://am",
        "alerts": [{
            "status": status,
            "labels": {"alertname": format!("A{group}"), "instance": format!("i{alert}")},
            "annotations": {"summary": "s"},
            "startsAt": starts_at,
            "endsAt": ends_at,
            "generatorURL": "http://prom",
            "fingerprint": format!("fp{group}{alert}")
        }]
    })
    .to_string()
}

/// Rows as a projection store keeps them: canonical JSON by key.
#[derive(Debug, Default, PartialEq)]
pub struct Rows {
    pub streams: BTreeMap<String, String>,
    pub incidents: BTreeMap<Uuid, String>,
}

impl Rows {
    pub fn of(projection: &Projection) -> Self {
        let mut rows = Rows::default();
        rows.write(projection);
        rows
    }

    pub fn write(&mut self, projection: &Projection) {
        for (key, stream) in &projection.streams {
            self.streams
                .insert(key.clone(), serde_json::to_string(stream).unwrap());
        }
        for (id, incident) in &projection.incidents {
            self.incidents
                .insert(*id, serde_json::to_string(incident).unwrap());
        }
    }

    /// Loads what a batch needs, as the projector asks the store to.
    pub fn load(&self, batch: &[Fact]) -> Projection {
        let mut projection = Projection::default();
        let mut wanted: BTreeSet<Uuid> = batch
            .iter()
            .filter_map(Projection::referenced_incident)
            .collect();
        for fact in batch {
            if let Some(json) = self.streams.get(&fact.stream_key) {
                let stream: StreamState = serde_json::from_str(json).unwrap();
                wanted.extend(stream.current_incident);
                projection.streams.insert(fact.stream_key.clone(), stream);
            }
        }
        for id in wanted {
            if let Some(json) = self.incidents.get(&id) {
                let incident: Incident = serde_json::from_str(json).unwrap();
                projection.incidents.insert(id, incident);
            }
        }
        projection
    }
}

pub fn fold_in_one_batch(facts: &[Fact]) -> Projection {
    let mut projection = Projection::default();
    for fact in facts {
        projection.apply(fact);
    }
    projection
}

pub fn fold_in_batches(facts: &[Fact], sizes: &[usize]) -> Rows {
    let mut rows = Rows::default();
    let mut rest = facts;
    let mut sizes = sizes.iter().cycle();
    while !rest.is_empty() {
        let size = (*sizes.next().unwrap()).clamp(1, rest.len());
        let (batch, tail) = rest.split_at(size);
        let mut projection = rows.load(batch);
        for fact in batch {
            projection.apply(fact);
        }
        rows.write(&projection);
        rest = tail;
    }
    rows
}
