//! Property tests of the fold: any sequence of facts (alerts and every responder action,
//! the responder workflow included) gives the same projection whether it is folded in one
//! batch or in arbitrary batches through a store round trip, duplicates change nothing, and
//! a stream never has two open incidents, reopened ones included.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use aftermath_core::{
    incident_id_for, normalize_alertmanager, Acknowledged, ActionItemAdded, ActionItemDone,
    ActionItemKind, CommanderAssigned, Fact, FactBody, ImpactRecorded, LinkAdded, Mitigated,
    NoteAdded, Reopened, Resolved, RootCauseStated, Severity, SeverityChanged, Timestamp, WhyAdded,
    WhyAmended,
};
use proptest::prelude::*;
use support::{fold_in_batches, fold_in_one_batch, webhook, Rows};
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
    Mitigate {
        target: usize,
    },
    Reopen {
        target: usize,
    },
    SetSeverity {
        target: usize,
        level: u8,
    },
    AssignCommander {
        target: usize,
        who: u8,
    },
    AddWhy {
        target: usize,
    },
    /// Why numbers 0..3: some exist, some do not.
    AmendWhy {
        target: usize,
        number: u8,
        answer: u8,
    },
    StateRootCause {
        target: usize,
        with_text: bool,
    },
    RecordImpact {
        target: usize,
        downtime: Option<u16>,
    },
    /// A few action item ids only, so adds collide and completions find their items.
    AddActionItem {
        target: usize,
        item: u8,
    },
    CompleteActionItem {
        target: usize,
        item: u8,
    },
    AddLink {
        target: usize,
        url: u8,
    },
    /// The n-th fact so far delivered again.
    Redeliver {
        index: usize,
    },
}

/// Which alert fact's incident a responder acts on: mostly one of the first few (so one
/// incident collects a whole workflow), sometimes any.
fn target() -> impl Strategy<Value = usize> {
    prop_oneof![3 => 0usize..2, 1 => 0usize..64]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        10 => (0u8..3, 0u8..3, 0u8..3, any::<bool>(), prop::bool::weighted(0.1)).prop_map(
            |(group, alert, occurrence, resolved, truncated)| Step::Alert {
                group, alert, occurrence, resolved, truncated
            }
        ),
        1 => target().prop_map(|target| Step::Ack { target }),
        1 => target().prop_map(|target| Step::Note { target }),
        2 => target().prop_map(|target| Step::Resolve { target }),
        1 => target().prop_map(|target| Step::Mitigate { target }),
        2 => target().prop_map(|target| Step::Reopen { target }),
        1 => (target(), 0u8..4).prop_map(|(target, level)| Step::SetSeverity { target, level }),
        1 => (target(), 0u8..2).prop_map(|(target, who)| Step::AssignCommander { target, who }),
        1 => target().prop_map(|target| Step::AddWhy { target }),
        1 => (target(), 0u8..3, 0u8..2)
            .prop_map(|(target, number, answer)| Step::AmendWhy { target, number, answer }),
        1 => (target(), any::<bool>())
            .prop_map(|(target, with_text)| Step::StateRootCause { target, with_text }),
        1 => (target(), prop::option::of(0u16..4000))
            .prop_map(|(target, downtime)| Step::RecordImpact { target, downtime }),
        1 => (target(), 0u8..2).prop_map(|(target, item)| Step::AddActionItem { target, item }),
        1 => (target(), 0u8..3)
            .prop_map(|(target, item)| Step::CompleteActionItem { target, item }),
        1 => (target(), 0u8..2).prop_map(|(target, url)| Step::AddLink { target, url }),
        1 => (0usize..64).prop_map(|index| Step::Redeliver { index }),
    ]
}

/// Turns generated steps into the facts a log would hold, in order.
fn history(steps: &[Step]) -> Vec<Fact> {
    let mut facts: Vec<Fact> = Vec::new();
    let mut alert_facts: Vec<Fact> = Vec::new();
    for (index, step) in steps.iter().enumerate() {
        let at = Timestamp::from_unix_seconds(1_795_000_000 + index as i64).unwrap();
        let responder = |target: usize, body: &dyn Fn(Uuid) -> FactBody| {
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
            Step::Ack { target } => facts.extend(responder(*target, &|incident_id| {
                FactBody::Acknowledged(Acknowledged {
                    incident_id,
                    actor: "alice".into(),
                    note: None,
                })
            })),
            Step::Note { target } => facts.extend(responder(*target, &|incident_id| {
                FactBody::NoteAdded(NoteAdded {
                    incident_id,
                    actor: "bob".into(),
                    text: "n".into(),
                })
            })),
            Step::Resolve { target } => facts.extend(responder(*target, &|incident_id| {
                FactBody::Resolved(Resolved {
                    incident_id,
                    actor: "carol".into(),
                    resolution: None,
                })
            })),
            Step::Mitigate { target } => facts.extend(responder(*target, &|incident_id| {
                FactBody::Mitigated(Mitigated {
                    incident_id,
                    actor: "dave".into(),
                    note: None,
                })
            })),
            Step::Reopen { target } => facts.extend(responder(*target, &|incident_id| {
                FactBody::Reopened(Reopened {
                    incident_id,
                    actor: "erin".into(),
                    reason: Some("back".into()),
                })
            })),
            Step::SetSeverity { target, level } => {
                let severity = [
                    Severity::Info,
                    Severity::Warning,
                    Severity::Error,
                    Severity::Critical,
                ][usize::from(*level)];
                facts.extend(responder(*target, &|incident_id| {
                    FactBody::SeverityChanged(SeverityChanged {
                        incident_id,
                        actor: "alice".into(),
                        severity,
                        reason: "r".into(),
                    })
                }))
            }
            Step::AssignCommander { target, who } => {
                facts.extend(responder(*target, &|incident_id| {
                    FactBody::CommanderAssigned(CommanderAssigned {
                        incident_id,
                        actor: "alice".into(),
                        name: format!("commander-{who}"),
                    })
                }))
            }
            Step::AddWhy { target } => facts.extend(responder(*target, &|incident_id| {
                FactBody::WhyAdded(WhyAdded {
                    incident_id,
                    actor: "bob".into(),
                    question: format!("q{index}"),
                    answer: format!("a{index}"),
                })
            })),
            Step::AmendWhy {
                target,
                number,
                answer,
            } => facts.extend(responder(*target, &|incident_id| {
                FactBody::WhyAmended(WhyAmended {
                    incident_id,
                    actor: "carol".into(),
                    number: u32::from(*number),
                    question: "q".into(),
                    answer: format!("amended {answer}"),
                })
            })),
            Step::StateRootCause { target, with_text } => {
                facts.extend(responder(*target, &|incident_id| {
                    FactBody::RootCauseStated(RootCauseStated {
                        incident_id,
                        actor: "carol".into(),
                        text: with_text.then(|| format!("cause {index}")),
                    })
                }))
            }
            Step::RecordImpact { target, downtime } => {
                facts.extend(responder(*target, &|incident_id| {
                    FactBody::ImpactRecorded(ImpactRecorded {
                        incident_id,
                        actor: "carol".into(),
                        summary: "s".into(),
                        users_affected: Some(index as u64),
                        failed_requests: None,
                        data_loss: index % 2 == 0,
                        customer_facing: true,
                        downtime_seconds: downtime.map(u64::from),
                    })
                }))
            }
            Step::AddActionItem { target, item } => {
                facts.extend(responder(*target, &|incident_id| {
                    FactBody::ActionItemAdded(ActionItemAdded {
                        incident_id,
                        actor: "carol".into(),
                        action_item_id: Uuid::from_u128(u128::from(*item)),
                        title: format!("item {item}"),
                        owner: "OpenCode".into(),
                        kind: ActionItemKind::Prevent,
                        due: None,
                    })
                }))
            }
            Step::CompleteActionItem { target, item } => {
                facts.extend(responder(*target, &|incident_id| {
                    FactBody::ActionItemDone(ActionItemDone {
                        incident_id,
                        actor: "dave".into(),
                        action_item_id: Uuid::from_u128(u128::from(*item)),
                    })
                }))
            }
            Step::AddLink { target, url } => facts.extend(responder(*target, &|incident_id| {
                FactBody::LinkAdded(LinkAdded {
                    incident_id,
                    actor: "erin".into(),
                    url: format!("https://example.com/{url}"),
                    title: "t".into(),
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

    #[test]
    fn workflow_records_stay_well_formed(steps in prop::collection::vec(step(), 0..60)) {
        let projection = fold_in_one_batch(&history(&steps));
        for incident in projection.incidents.values() {
            // Whys are numbered 1..=n in order; each shows its latest wording.
            for (index, why) in incident.whys.iter().enumerate() {
                prop_assert_eq!(why.number as usize, index + 1);
                let (question, answer) = why
                    .amendments
                    .last()
                    .map(|a| (&a.question, &a.answer))
                    .unwrap_or((&why.asked_question, &why.asked_answer));
                prop_assert_eq!((&why.question, &why.answer), (question, answer));
            }
            // Action item ids and link URLs are unique; done items say by whom and when.
            let ids: BTreeSet<Uuid> = incident.action_items.iter().map(|i| i.id).collect();
            prop_assert_eq!(ids.len(), incident.action_items.len());
            let urls: BTreeSet<&str> = incident.links.iter().map(|l| l.url.as_str()).collect();
            prop_assert_eq!(urls.len(), incident.links.len());
            for item in &incident.action_items {
                prop_assert_eq!(item.done_at.is_some(), item.done_by.is_some());
            }
            // Resolution fields exist exactly when the incident is resolved; a mitigated one
            // says by whom.
            prop_assert_eq!(incident.resolved_at.is_some(), !incident.status.is_open());
            if incident.status == aftermath_core::IncidentStatus::Mitigated {
                prop_assert!(incident.mitigated_by.is_some());
            }
        }
    }
}
