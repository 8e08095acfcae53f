//! The checks after a crash run: every acknowledged request is on the log and folded
//! exactly once, no timeline entry is doubled, and each incident's timeline is in log
//! order. Reads the log in the test process and the projections from `aftermath export`.

use std::collections::{BTreeMap, HashMap, HashSet};

use aftermath_log::{Offset, Partition, SharedLog};
use serde_json::Value;
use uuid::Uuid;

use super::cluster::LogLocation;
use super::traffic::{AckedNotification, Ledger};

/// The log as read back: where each fact id first sits, and its stream.
pub struct LogContents {
    pub first_position: HashMap<Uuid, (Partition, Offset)>,
    /// Every position of each fact id, in log order (more than one: a retried append).
    pub positions: HashMap<Uuid, Vec<(Partition, Offset)>>,
    pub stream_of: HashMap<Uuid, String>,
    /// Facts on the log, copies included.
    pub records: u64,
    /// Later copies of a fact id already on the log (Kafka keeps a retried append; the
    /// fold must drop it).
    pub copies: u64,
}

/// Reads every partition of the log at `location` from offset 0 to its end.
pub async fn read_log(location: &LogLocation) -> LogContents {
    let log: SharedLog = location.open().await;
    let mut contents = LogContents {
        first_position: HashMap::new(),
        positions: HashMap::new(),
        stream_of: HashMap::new(),
        records: 0,
        copies: 0,
    };
    for partition in 0..log.partitions() {
        // tansu 0.6 may answer an end short of the truth (one past the last record
        // batch's first offset), so reading goes on past it until reads come back empty.
        let end = log.end_offset(partition).await.unwrap();
        let mut next = 0;
        // A remote log may answer empty while its reader is still fetching: only many
        // empty reads in a row mean the partition ends early.
        let mut empty_reads = 0;
        loop {
            let batch = log.read(partition, next, 2000).await.unwrap();
            if batch.is_empty() {
                if next >= end && empty_reads >= 5 {
                    break;
                }
                empty_reads += 1;
                assert!(
                    empty_reads < 200,
                    "partition {partition} ends early at {next}"
                );
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
            empty_reads = 0;
            for logged in batch {
                next = logged.offset + 1;
                contents.records += 1;
                let fact = logged.fact;
                contents
                    .positions
                    .entry(fact.fact_id)
                    .or_default()
                    .push((partition, logged.offset));
                if contents
                    .first_position
                    .insert(fact.fact_id, (partition, logged.offset))
                    .is_some()
                {
                    contents.copies += 1;
                    // The first copy's position is the one the fold used.
                    let first = contents.first_position.get_mut(&fact.fact_id).unwrap();
                    *first = (*first).min((partition, logged.offset));
                } else {
                    contents.stream_of.insert(fact.fact_id, fact.stream_key);
                }
            }
        }
    }
    contents
}

/// What the checks found; the run passes only with every problem list empty.
#[derive(Default)]
pub struct Findings {
    /// Distinct facts on the log, each checked to be folded once.
    pub facts_checked: u64,
    /// Acknowledged requests whose effect is missing (not on the log, not folded, not on
    /// the timeline).
    pub lost: Vec<String>,
    /// Timeline entries present more than once.
    pub duplicated: Vec<String>,
    /// Timelines out of log order, or entries of facts the log does not hold.
    pub disordered: Vec<String>,
    /// Entries in the order of a later copy of their fact rather than the first one: the
    /// projector folded the retried copy, so its read skipped the first.
    pub folded_from_later_copy: Vec<String>,
}

/// One timeline entry as exported.
struct Entry<'a> {
    incident: &'a str,
    stream_key: &'a str,
    kind: &'a str,
    fact_id: Uuid,
}

fn entries(export: &Value) -> Vec<Entry<'_>> {
    let mut all = Vec::new();
    for (id, incident) in export["incidents"].as_object().expect("incidents") {
        let stream_key = incident["stream_key"].as_str().unwrap();
        for entry in incident["timeline"].as_array().expect("a timeline") {
            all.push(Entry {
                incident: id,
                stream_key,
                kind: entry["kind"].as_str().unwrap(),
                fact_id: entry["fact_id"].as_str().unwrap().parse().unwrap(),
            });
        }
    }
    all
}

/// Checks the exported projections against the log and against what the clients were told.
pub fn check(
    export: &Value,
    log: &LogContents,
    ledger: &Ledger,
    backlog: &[AckedNotification],
) -> Findings {
    let mut findings = Findings::default();
    let entries = entries(export);

    // Every fact on the log is folded, once: it is in its stream's seen set (a set, so
    // at most once), and no (fact, kind) entry appears twice on the timelines.
    let seen: HashMap<&str, HashSet<Uuid>> = export["streams"]
        .as_object()
        .expect("streams")
        .iter()
        .map(|(key, stream)| {
            let ids = stream["seen_facts"]
                .as_array()
                .expect("seen_facts")
                .iter()
                .map(|id| id.as_str().unwrap().parse().unwrap())
                .collect();
            (key.as_str(), ids)
        })
        .collect();
    for (fact_id, stream) in &log.stream_of {
        findings.facts_checked += 1;
        if !seen
            .get(stream.as_str())
            .is_some_and(|ids| ids.contains(fact_id))
        {
            findings.lost.push(format!(
                "fact {fact_id} of {stream} is on the log but not folded"
            ));
        }
    }
    let mut by_fact: HashMap<Uuid, Vec<&Entry>> = HashMap::new();
    for entry in &entries {
        by_fact.entry(entry.fact_id).or_default().push(entry);
    }
    let no_entries = Vec::new();
    let entries_of = |fact_id: &Uuid| by_fact.get(fact_id).unwrap_or(&no_entries);
    for (fact_id, of_fact) in &by_fact {
        let mut kinds = HashSet::new();
        for entry in of_fact {
            if !kinds.insert(entry.kind) {
                findings.duplicated.push(format!(
                    "{} entry of fact {fact_id} is on the timelines more than once (incident {})",
                    entry.kind, entry.incident
                ));
            }
        }
    }

    // Every acknowledged notification: its facts on the log, its alert on the timeline of
    // an incident of its stream, as firing or resolved, once.
    let mut alerts_checked = HashSet::new();
    for notification in ledger.notifications.iter().chain(backlog) {
        for fact_id in &notification.fact_ids {
            if !log.first_position.contains_key(fact_id) {
                findings.lost.push(format!(
                    "fact {fact_id} of an acknowledged notification of {} is not on the log",
                    notification.stream_key
                ));
            }
        }
        if !alerts_checked.insert(notification.alert_fact_id) {
            continue; // a resent notification: the same facts, checked once
        }
        let kind = if notification.resolved {
            "alert_resolved"
        } else {
            "alert_firing"
        };
        let found = entries_of(&notification.alert_fact_id)
            .iter()
            .filter(|entry| entry.kind == kind)
            .collect::<Vec<_>>();
        match found.as_slice() {
            [one] if one.stream_key == notification.stream_key => {}
            [] => findings.lost.push(format!(
                "acknowledged {kind} notification {} of {} is on no timeline",
                notification.alert_fact_id, notification.stream_key
            )),
            [one] => findings.lost.push(format!(
                "{kind} {} of {} is on an incident of {}",
                notification.alert_fact_id, notification.stream_key, one.stream_key
            )),
            _ => {} // counted as duplicated above
        }
    }

    // Every acknowledged responder action: on its incident's timeline, once.
    for action in &ledger.actions {
        if !log.first_position.contains_key(&action.fact_id) {
            findings.lost.push(format!(
                "acknowledged {:?} {} is not on the log",
                action.kind, action.fact_id
            ));
        }
        let of_action = entries_of(&action.fact_id);
        let found = of_action
            .iter()
            .filter(|entry| action.kind.timeline_kinds().contains(&entry.kind))
            .count();
        let on_its_incident = of_action
            .iter()
            .any(|entry| entry.incident == action.incident_id);
        if found == 0 || !on_its_incident {
            findings.lost.push(format!(
                "acknowledged {:?} {} of incident {} is not on its timeline",
                action.kind, action.fact_id, action.incident_id
            ));
        } else if found > 1 {
            findings.duplicated.push(format!(
                "{:?} {} is on the timelines {found} times",
                action.kind, action.fact_id
            ));
        }
    }

    // Per incident, the timeline follows the log: positions never go back, one partition.
    // A fact with several copies on the log may stand at any of them; standing at a later
    // copy than the first is reported separately.
    let mut last: BTreeMap<&str, (Partition, Offset)> = BTreeMap::new();
    for entry in &entries {
        let Some(copies) = log.positions.get(&entry.fact_id) else {
            findings.disordered.push(format!(
                "{} entry of incident {} names fact {}, which is not on the log",
                entry.kind, entry.incident, entry.fact_id
            ));
            continue;
        };
        let previous = last.get(entry.incident).copied();
        let position = match previous {
            None => copies[0],
            Some(previous) => {
                let in_order = copies
                    .iter()
                    .copied()
                    .find(|position| position.0 == previous.0 && *position >= previous);
                match in_order {
                    Some(position) if position == copies[0] => position,
                    Some(position) => {
                        findings.folded_from_later_copy.push(format!(
                            "incident {}: {} entry of fact {} (copies at {copies:?}) \
                             follows {previous:?}",
                            entry.incident, entry.kind, entry.fact_id
                        ));
                        position
                    }
                    None => {
                        findings.disordered.push(format!(
                            "incident {}: {} entry of fact {} (copies at {copies:?}) \
                             follows {previous:?}",
                            entry.incident, entry.kind, entry.fact_id
                        ));
                        copies[0]
                    }
                }
            }
        };
        last.insert(entry.incident, position);
    }
    findings
}
