//! Property tests of the fold: any sequence of facts gives the same projection whether it
//! is folded in one batch or in arbitrary batches through a store round trip, duplicates
//! change nothing, and a stream never has two open incidents.

use std::collections::{BTreeMap, BTreeSet};

use aftermath_core::{
    incident_id_for, normalize_alertmanager, Acknowledged, Fact, FactBody, Incident, NoteAdded,
    Projection, Resolved, StreamState, Timestamp,
};
use proptest::prelude::*;
use uuid::Uuid;

/// One step of a generated history.
#[derive(Clone, Debug)]
enum Step {
    /// An Alertmanager notification about one alert of one group.
    Alert {
        group: u8,
        alert: u8,
        occurrence: u8,
        resolved: bool,
        truncated: bool,
    },
    /// A responder action on the incident opened by the n-th alert fact so far (if any).
    Ack {
        target: usize,
    },
    Note {
        target: usize,
    },
    Resolve {
        target: usize,
    },
    /// The n-th fact so far delivered again.
    Redeliver {
        index: usize,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (0u8..3, 0u8..3, 0u8..3, any::<bool>(), prop::bool::weighted(0.1)).prop_map(
            |(group, alert, occurrence, resolved, truncated)| Step::Alert {
                group, alert, occurrence, resolved, truncated
            }
        ),
        1 => (0usize..64).prop_map(|target| Step::Ack { target }),
        1 => (0usize..64).prop_map(|target| Step::Note { target }),
        1 => (0usize..64).prop_map(|target| Step::Resolve { target }),
        1 => (0usize..64).prop_map(|index| Step::Redeliver { index }),
    ]
}

fn webhook(group: u8, alert: u8, occurrence: u8, resolved: bool, truncated: bool) -> String {
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

/// Turns generated steps into the facts a log would hold, in order.
fn history(steps: &[Step]) -> Vec<Fact> {
    let mut facts: Vec<Fact> = Vec::new();
    let mut alert_facts: Vec<Fact> = Vec::new();
    for (index, step) in steps.iter().enumerate() {
        let at = Timestamp::from_unix_seconds(1_795_000_000 + index as i64).unwrap();
        let responder = |target: usize, body: fn(Uuid) -> FactBody| {
            let opener = alert_facts.get(target % alert_facts.len().max(1))?;
            let incident_id = incident_id_for(opener.fact_id);
            Some(Fact {
                fact_id: Uuid::from_u128(1_000_000 + index as u128),
                stream_key: opener.stream_key.clone(),
                occurred_at: at,
                recorded_at: at,
                body: body(incident_id),
            })
        };
        match step {
            Step::Alert {
                group,
                alert,
                occurrence,
                resolved,
                truncated,
            } => {
                let body = webhook(*group, *alert, *occurrence, *resolved, *truncated);
                let new = normalize_alertmanager(body.as_bytes(), at).unwrap();
                alert_facts.push(new[0].clone());
                facts.extend(new);
            }
            Step::Ack { target } => facts.extend(responder(*target, |incident_id| {
                FactBody::Acknowledged(Acknowledged {
                    incident_id,
                    actor: "alice".into(),
                    note: None,
                })
            })),
            Step::Note { target } => facts.extend(responder(*target, |incident_id| {
                FactBody::NoteAdded(NoteAdded {
                    incident_id,
                    actor: "bob".into(),
                    text: "n".into(),
                })
            })),
            Step::Resolve { target } => facts.extend(responder(*target, |incident_id| {
                FactBody::Resolved(Resolved {
                    incident_id,
                    actor: "carol".into(),
                    resolution: None,
                })
            })),
            Step::Redeliver { index } => {
                if !facts.is_empty() {
                    let again = facts[index % facts.len()].clone();
                    facts.push(again);
                }
            }
        }
    }
    facts
}

/// Rows as a projection store keeps them: canonical JSON by key.
#[derive(Debug, Default, PartialEq)]
struct Rows {
    streams: BTreeMap<String, String>,
    incidents: BTreeMap<Uuid, String>,
}

impl Rows {
    fn of(projection: &Projection) -> Self {
        let mut rows = Rows::default();
        rows.write(projection);
        rows
    }

    fn write(&mut self, projection: &Projection) {
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
    fn load(&self, batch: &[Fact]) -> Projection {
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

fn fold_in_one_batch(facts: &[Fact]) -> Projection {
    let mut projection = Projection::default();
    for fact in facts {
        projection.apply(fact);
    }
    projection
}

fn fold_in_batches(facts: &[Fact], sizes: &[usize]) -> Rows {
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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn batch_splits_do_not_change_the_projection(
        steps in prop::collection::vec(step(), 0..60),
        sizes in prop::collection::vec(1usize..8, 1..6),
    ) {
        let facts = history(&steps);
        let whole = Rows::of(&fold_in_one_batch(&facts));
        let batched = fold_in_batches(&facts, &sizes);
        prop_assert_eq!(whole, batched);
    }

    #[test]
    fn redelivering_the_whole_log_changes_nothing(steps in prop::collection::vec(step(), 0..40)) {
        let facts = history(&steps);
        let once = fold_in_one_batch(&facts);
        let mut twice = once.clone();
        for fact in &facts {
            twice.apply(fact);
        }
        prop_assert_eq!(once, twice);
    }

    #[test]
    fn a_stream_never_has_two_open_incidents(steps in prop::collection::vec(step(), 0..60)) {
        let projection = fold_in_one_batch(&history(&steps));
        let mut open_per_stream: BTreeMap<&str, usize> = BTreeMap::new();
        for incident in projection.incidents.values() {
            if incident.status.is_open() {
                *open_per_stream.entry(incident.stream_key.as_str()).or_default() += 1;
            }
            // A stream's current incident is its newest: an open one is always current.
            let current = projection.streams[&incident.stream_key].current_incident;
            if incident.status.is_open() {
                prop_assert_eq!(current, Some(incident.id));
            }
        }
        prop_assert!(open_per_stream.values().all(|open| *open <= 1));
    }
}
