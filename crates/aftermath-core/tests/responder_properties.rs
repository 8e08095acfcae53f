//! Property tests of the responder workflow: histories in which every responder action
//! targets an incident that really opened (so mitigations, reopenings, whys, amendments,
//! root causes, impact, action items and links interleave densely with alerts and with each
//! other) fold to the same projection in one batch or in any batch split, are unchanged by
//! redelivery, and never leave a stream with two open incidents.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use aftermath_core::{
    normalize_alertmanager, Acknowledged, ActionItemAdded, ActionItemDone, ActionItemKind,
    CommanderAssigned, Fact, FactBody, ImpactRecorded, LinkAdded, Mitigated, PostmortemEdited,
    PostmortemPublished, PostmortemSection, Projection, PublishedRevision, Reopened, Resolved,
    RootCauseStated, Severity, SeverityChanged, Timestamp, WhyAdded, WhyAmended,
};
use proptest::prelude::*;
use support::{fold_in_batches, fold_in_one_batch, webhook, Rows};
use uuid::Uuid;

#[derive(Clone, Debug)]
enum Action {
    Acknowledge,
    Resolve,
    Mitigate,
    Reopen,
    SetSeverity(u8),
    AssignCommander(u8),
    AddWhy,
    /// Why numbers 0..4: some exist, some do not.
    AmendWhy(u8, u8),
    StateRootCause {
        with_text: bool,
    },
    RecordImpact(Option<u16>),
    /// Few action item ids, so adds collide and completions find (or miss) their items.
    AddActionItem(u8),
    CompleteActionItem(u8),
    AddLink(u8),
    /// Section index into `PostmortemSection::ALL`, and a text choice (0: revert).
    EditPostmortem(u8, u8),
    PublishPostmortem,
}

#[derive(Clone, Debug)]
enum Step {
    /// An Alertmanager notification about one alert of one of two groups.
    Alert {
        group: u8,
        alert: u8,
        occurrence: u8,
        resolved: bool,
    },
    /// A responder action on the n-th incident opened so far (modulo their number).
    Respond { incident: usize, action: Action },
    /// The n-th fact so far delivered again.
    Redeliver { index: usize },
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        1 => Just(Action::Acknowledge),
        2 => Just(Action::Resolve),
        2 => Just(Action::Mitigate),
        3 => Just(Action::Reopen),
        1 => (0u8..4).prop_map(Action::SetSeverity),
        1 => (0u8..2).prop_map(Action::AssignCommander),
        2 => Just(Action::AddWhy),
        2 => (0u8..4, 0u8..2).prop_map(|(number, answer)| Action::AmendWhy(number, answer)),
        1 => any::<bool>().prop_map(|with_text| Action::StateRootCause { with_text }),
        1 => prop::option::of(0u16..4000).prop_map(Action::RecordImpact),
        2 => (0u8..3).prop_map(Action::AddActionItem),
        2 => (0u8..4).prop_map(Action::CompleteActionItem),
        1 => (0u8..2).prop_map(Action::AddLink),
        2 => (0u8..13, 0u8..3).prop_map(|(section, text)| Action::EditPostmortem(section, text)),
        2 => Just(Action::PublishPostmortem),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0u8..2, 0u8..2, 0u8..3, any::<bool>()).prop_map(
            |(group, alert, occurrence, resolved)| Step::Alert { group, alert, occurrence, resolved }
        ),
        6 => (0usize..4, action()).prop_map(|(incident, action)| Step::Respond { incident, action }),
        1 => (0usize..64).prop_map(|index| Step::Redeliver { index }),
    ]
}

fn body(action: &Action, incident_id: Uuid, index: usize) -> FactBody {
    let actor = ["alice", "bob", "carol"][index % 3].to_owned();
    match action {
        Action::Acknowledge => FactBody::Acknowledged(Acknowledged {
            incident_id,
            actor,
            note: None,
        }),
        Action::Resolve => FactBody::Resolved(Resolved {
            incident_id,
            actor,
            resolution: Some(format!("fixed {index}")),
        }),
        Action::Mitigate => FactBody::Mitigated(Mitigated {
            incident_id,
            actor,
            note: None,
        }),
        Action::Reopen => FactBody::Reopened(Reopened {
            incident_id,
            actor,
            reason: None,
        }),
        Action::SetSeverity(level) => FactBody::SeverityChanged(SeverityChanged {
            incident_id,
            actor,
            severity: [
                Severity::Info,
                Severity::Warning,
                Severity::Error,
                Severity::Critical,
            ][usize::from(*level)],
            reason: "reassessed".into(),
        }),
        Action::AssignCommander(who) => FactBody::CommanderAssigned(CommanderAssigned {
            incident_id,
            actor,
            name: format!("commander-{who}"),
        }),
        Action::AddWhy => FactBody::WhyAdded(WhyAdded {
            incident_id,
            actor,
            question: format!("why {index}?"),
            answer: format!("because {index}"),
        }),
        Action::AmendWhy(number, answer) => FactBody::WhyAmended(WhyAmended {
            incident_id,
            actor,
            number: u32::from(*number),
            question: "why?".into(),
            answer: format!("amended {answer}"),
        }),
        Action::StateRootCause { with_text } => FactBody::RootCauseStated(RootCauseStated {
            incident_id,
            actor,
            text: with_text.then(|| format!("cause {index}")),
        }),
        Action::RecordImpact(downtime) => FactBody::ImpactRecorded(ImpactRecorded {
            incident_id,
            actor,
            summary: format!("impact {index}"),
            users_affected: Some(index as u64),
            failed_requests: None,
            data_loss: index % 2 == 0,
            customer_facing: index % 3 == 0,
            downtime_seconds: downtime.map(u64::from),
        }),
        Action::AddActionItem(item) => FactBody::ActionItemAdded(ActionItemAdded {
            incident_id,
            actor,
            action_item_id: Uuid::from_u128(u128::from(*item) + 1),
            title: format!("item {item}"),
            owner: "OpenCode".into(),
            kind: [
                ActionItemKind::Prevent,
                ActionItemKind::Mitigate,
                ActionItemKind::Process,
            ][usize::from(*item) % 3],
            due: (item % 2 == 0).then(|| "2026-12-01".to_owned()),
        }),
        Action::CompleteActionItem(item) => FactBody::ActionItemDone(ActionItemDone {
            incident_id,
            actor,
            action_item_id: Uuid::from_u128(u128::from(*item) + 1),
        }),
        Action::AddLink(url) => FactBody::LinkAdded(LinkAdded {
            incident_id,
            actor,
            url: format!("https://example.com/{url}"),
            title: format!("link {index}"),
        }),
        Action::EditPostmortem(section, text) => FactBody::PostmortemEdited(PostmortemEdited {
            incident_id,
            actor,
            section: PostmortemSection::ALL[usize::from(*section) % PostmortemSection::ALL.len()],
            text: (*text > 0).then(|| format!("text {text}")),
        }),
        Action::PublishPostmortem => FactBody::PostmortemPublished(PostmortemPublished {
            incident_id,
            actor,
            suspect_changes: Vec::new(),
        }),
    }
}

/// Turns steps into the facts a log would hold. A running fold tells which incidents have
/// opened, so responder actions target real incidents (the property folds the facts anew).
fn history(steps: &[Step]) -> Vec<Fact> {
    let mut facts: Vec<Fact> = Vec::new();
    let mut running = Projection::default();
    let mut opened: Vec<Uuid> = Vec::new();
    for (index, step) in steps.iter().enumerate() {
        let at = Timestamp::from_unix_seconds(1_795_000_000 + index as i64).unwrap();
        let new: Vec<Fact> = match step {
            Step::Alert {
                group,
                alert,
                occurrence,
                resolved,
            } => {
                let body = webhook(*group, *alert, *occurrence, *resolved, false);
                normalize_alertmanager(body.as_bytes(), at).unwrap()
            }
            Step::Respond { incident, action } => {
                let Some(&incident_id) = opened.get(incident % opened.len().max(1)) else {
                    continue;
                };
                vec![Fact {
                    fact_id: Uuid::from_u128(1_000_000 + index as u128),
                    stream_key: running.incidents[&incident_id].stream_key.clone(),
                    occurred_at: at,
                    recorded_at: at,
                    body: body(action, incident_id, index),
                }]
            }
            Step::Redeliver { index } => match facts.len() {
                0 => Vec::new(),
                len => vec![facts[index % len].clone()],
            },
        };
        for fact in new {
            let known: BTreeSet<Uuid> = running.incidents.keys().copied().collect();
            running.apply(&fact);
            opened.extend(
                running
                    .incidents
                    .keys()
                    .filter(|id| !known.contains(id))
                    .copied(),
            );
            facts.push(fact);
        }
    }
    facts
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_interleaving_of_the_workflow_folds_the_same_in_any_batch_split(
        steps in prop::collection::vec(step(), 0..80),
        sizes in prop::collection::vec(1usize..8, 1..6),
    ) {
        let facts = history(&steps);
        let whole = Rows::of(&fold_in_one_batch(&facts));
        let batched = fold_in_batches(&facts, &sizes);
        prop_assert_eq!(whole, batched);
    }

    #[test]
    fn redelivering_a_workflow_history_changes_nothing(
        steps in prop::collection::vec(step(), 0..60),
    ) {
        let facts = history(&steps);
        let once = fold_in_one_batch(&facts);
        let mut twice = once.clone();
        for fact in &facts {
            twice.apply(fact);
        }
        prop_assert_eq!(once, twice);
    }

    #[test]
    fn reopening_never_gives_a_stream_two_open_incidents(
        steps in prop::collection::vec(step(), 0..80),
    ) {
        let projection = fold_in_one_batch(&history(&steps));
        let mut open_per_stream: BTreeMap<&str, usize> = BTreeMap::new();
        for incident in projection.incidents.values().filter(|i| i.status.is_open()) {
            *open_per_stream.entry(incident.stream_key.as_str()).or_default() += 1;
            let current = projection.streams[&incident.stream_key].current_incident;
            prop_assert_eq!(current, Some(incident.id));
        }
        prop_assert!(open_per_stream.values().all(|open| *open <= 1));
    }

    /// Whatever follows a publication (edits, action items, alerts, more publications), a
    /// published revision stays as it was frozen, revisions are numbered 1, 2, 3… and an
    /// incident with a revision is closed.
    #[test]
    fn published_revisions_never_change(steps in prop::collection::vec(step(), 0..80)) {
        let facts = history(&steps);
        let mut projection = Projection::default();
        let mut frozen: BTreeMap<(Uuid, u32), PublishedRevision> = BTreeMap::new();
        for fact in &facts {
            projection.apply(fact);
            for incident in projection.incidents.values() {
                for (index, revision) in incident.postmortem_revisions.iter().enumerate() {
                    prop_assert_eq!(revision.number as usize, index + 1);
                    prop_assert_eq!(revision.draft.revision, Some(revision.number));
                    let first_seen = frozen
                        .entry((incident.id, revision.number))
                        .or_insert_with(|| revision.clone());
                    prop_assert_eq!(&*first_seen, revision);
                }
                if !incident.postmortem_revisions.is_empty() {
                    prop_assert_eq!(incident.status, aftermath_core::IncidentStatus::Closed);
                }
            }
        }
    }
}
