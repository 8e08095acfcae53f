//! Given / when / then tests of the responder workflow in the fold: mitigation, reopening,
//! severity, commander, the five whys, root cause, impact, action items and links, and
//! the conflicts each rule records, in log order, on the timeline.

use aftermath_core::{
    normalize_alertmanager, Acknowledged, ActionItemAdded, ActionItemDone, ActionItemKind,
    AlertAcknowledged, CommanderAssigned, Fact, FactBody, FoldOutcome, ImpactRecorded, Incident,
    IncidentStatus, LinkAdded, Mitigated, Projection, Reopened, Resolved, RootCauseStated,
    Severity, SeverityChanged, TimelineKind, Timestamp, WhyAdded, WhyAmended,
};
use uuid::Uuid;

const FIRING: &str = include_str!("../../../tests/fixtures/alertmanager/01-checkout-firing.json");
const ONE_RESOLVED: &str =
    include_str!("../../../tests/fixtures/alertmanager/03-checkout-one-resolved.json");
const ALL_RESOLVED: &str =
    include_str!("../../../tests/fixtures/alertmanager/04-checkout-all-resolved.json");
const FIRING_AGAIN: &str =
    include_str!("../../../tests/fixtures/alertmanager/07-checkout-firing-again.json");

/// The SOP's "Workflow 2: Production Debugging", step 4, exactly as written.
const SOP_FIVE_WHYS: [(&str, &str); 5] = [
    ("Why did the API fail?", "Database connection timeout"),
    ("Why did the timeout occur?", "Connection pool exhausted"),
    ("Why was pool exhausted?", "Leaked connections not closed"),
    (
        "Why weren't they closed?",
        "Missing finally block in worker.py:145",
    ),
    ("Why was it missing?", "Code review didn't catch it"),
];
const SOP_ROOT_CAUSE: &str = "Connection leak in worker.py, missing proper cleanup";

/// A projection with a clock for `recorded_at`, one second per fact or notification.
struct Given {
    projection: Projection,
    second: i64,
}

impl Given {
    fn new() -> Self {
        Self {
            projection: Projection::default(),
            second: 1_795_000_000,
        }
    }

    /// Given an incident opened by a real Alertmanager notification (two alerts firing).
    fn incident() -> (Self, Uuid) {
        let mut given = Self::new();
        given.notify(FIRING);
        let id = given.only_incident().id;
        (given, id)
    }

    fn at(&mut self) -> Timestamp {
        self.second += 1;
        Timestamp::from_unix_seconds(self.second).unwrap()
    }

    fn notify(&mut self, body: &str) -> Vec<Fact> {
        let facts = normalize_alertmanager(body.as_bytes(), self.at()).unwrap();
        for fact in &facts {
            self.projection.apply(fact);
        }
        facts
    }

    /// A fact on the stream of the incident it targets (else of the only incident).
    fn fact(&mut self, body: FactBody) -> Fact {
        let at = self.at();
        let stream_key = body
            .incident_id()
            .and_then(|id| self.projection.incidents.get(&id))
            .or_else(|| self.projection.incidents.values().next())
            .map(|incident| incident.stream_key.clone())
            .unwrap_or_else(|| "unknown".into());
        Fact {
            fact_id: Uuid::from_u128(self.second as u128),
            stream_key,
            occurred_at: at,
            recorded_at: at,
            body,
        }
    }

    fn respond(&mut self, body: FactBody) -> FoldOutcome {
        let fact = self.fact(body);
        self.projection.apply(&fact)
    }

    /// Closes an incident by setting its status in the projection. No fact closes an
    /// incident yet (`postmortem.published` comes with a later issue), so the tests put the
    /// projection in the state that fact will leave it in; the fold's closed rules read only
    /// the status, exactly as they will after a store round trip of that state.
    fn close(&mut self, id: Uuid) {
        let incident = self.projection.incidents.get_mut(&id).unwrap();
        assert_eq!(
            incident.status,
            IncidentStatus::Resolved,
            "close after resolving"
        );
        incident.status = IncidentStatus::Closed;
    }

    fn incident_by_id(&self, id: Uuid) -> &Incident {
        &self.projection.incidents[&id]
    }

    fn only_incident(&self) -> &Incident {
        assert_eq!(self.projection.incidents.len(), 1, "expected one incident");
        self.projection.incidents.values().next().unwrap()
    }

    fn last_entry(&self, id: Uuid) -> (TimelineKind, String) {
        let entry = self.incident_by_id(id).timeline.last().unwrap();
        (entry.kind, entry.text.clone())
    }

    fn conflicts(&self, id: Uuid) -> Vec<String> {
        self.incident_by_id(id)
            .timeline
            .iter()
            .filter(|entry| entry.kind == TimelineKind::Conflict)
            .map(|entry| entry.text.clone())
            .collect()
    }
}

fn ack(incident_id: Uuid, actor: &str) -> FactBody {
    FactBody::Acknowledged(Acknowledged {
        incident_id,
        actor: actor.into(),
        note: None,
    })
}

fn resolve(incident_id: Uuid, actor: &str) -> FactBody {
    FactBody::Resolved(Resolved {
        incident_id,
        actor: actor.into(),
        resolution: Some("added try/finally around the connection".into()),
    })
}

fn mitigate(incident_id: Uuid, actor: &str) -> FactBody {
    FactBody::Mitigated(Mitigated {
        incident_id,
        actor: actor.into(),
        note: Some("restarted the workers".into()),
    })
}

fn reopen(incident_id: Uuid, actor: &str) -> FactBody {
    FactBody::Reopened(Reopened {
        incident_id,
        actor: actor.into(),
        reason: Some("pool exhausted again".into()),
    })
}

fn severity(incident_id: Uuid, actor: &str, severity: Severity) -> FactBody {
    FactBody::SeverityChanged(SeverityChanged {
        incident_id,
        actor: actor.into(),
        severity,
        reason: "reassessed".into(),
    })
}

fn commander(incident_id: Uuid, actor: &str, name: &str) -> FactBody {
    FactBody::CommanderAssigned(CommanderAssigned {
        incident_id,
        actor: actor.into(),
        name: name.into(),
    })
}

fn why(incident_id: Uuid, actor: &str, question: &str, answer: &str) -> FactBody {
    FactBody::WhyAdded(WhyAdded {
        incident_id,
        actor: actor.into(),
        question: question.into(),
        answer: answer.into(),
    })
}

fn amend(incident_id: Uuid, actor: &str, number: u32, question: &str, answer: &str) -> FactBody {
    FactBody::WhyAmended(WhyAmended {
        incident_id,
        actor: actor.into(),
        number,
        question: question.into(),
        answer: answer.into(),
    })
}

fn root_cause(incident_id: Uuid, actor: &str, text: Option<&str>) -> FactBody {
    FactBody::RootCauseStated(RootCauseStated {
        incident_id,
        actor: actor.into(),
        text: text.map(str::to_owned),
    })
}

fn impact(incident_id: Uuid, actor: &str, downtime_seconds: Option<u64>) -> FactBody {
    FactBody::ImpactRecorded(ImpactRecorded {
        incident_id,
        actor: actor.into(),
        summary: "Checkout API failing".into(),
        users_affected: None,
        failed_requests: Some(156),
        data_loss: false,
        customer_facing: true,
        downtime_seconds,
    })
}

fn action_item(incident_id: Uuid, item: u128, title: &str, owner: &str) -> FactBody {
    FactBody::ActionItemAdded(ActionItemAdded {
        incident_id,
        actor: "carol".into(),
        action_item_id: Uuid::from_u128(item),
        title: title.into(),
        owner: owner.into(),
        kind: ActionItemKind::Prevent,
        due: Some("2026-12-01".into()),
    })
}

fn done(incident_id: Uuid, actor: &str, item: u128) -> FactBody {
    FactBody::ActionItemDone(ActionItemDone {
        incident_id,
        actor: actor.into(),
        action_item_id: Uuid::from_u128(item),
    })
}

fn link(incident_id: Uuid, url: &str, title: &str) -> FactBody {
    FactBody::LinkAdded(LinkAdded {
        incident_id,
        actor: "carol".into(),
        url: url.into(),
        title: title.into(),
    })
}

// --- Lifecycle: mitigate, resolve, reopen ------------------------------------------------

#[test]
fn mitigating_an_acknowledged_incident_keeps_it_open_as_mitigated() {
    let (mut given, id) = Given::incident();
    given.respond(ack(id, "alice"));
    assert_eq!(given.respond(mitigate(id, "bob")), FoldOutcome::Applied);
    let incident = given.incident_by_id(id);
    assert_eq!(incident.status, IncidentStatus::Mitigated);
    assert!(incident.status.is_open());
    assert_eq!(incident.mitigated_by.as_deref(), Some("bob"));
    assert_eq!(
        incident.mitigated_at,
        Some(incident.timeline.last().unwrap().at)
    );
    assert_eq!(
        incident.mitigation.as_deref(),
        Some("restarted the workers")
    );
    assert_eq!(incident.acknowledged_by.as_deref(), Some("alice"));
    let entry = incident.timeline.last().unwrap();
    assert_eq!(entry.kind, TimelineKind::Mitigated);
    assert_eq!(entry.actor, "bob");
    assert_eq!(entry.text, "Mitigated by bob: restarted the workers");
}

#[test]
fn mitigating_without_an_acknowledgement_leaves_the_incident_unacknowledged() {
    let (mut given, id) = Given::incident();
    assert_eq!(given.respond(mitigate(id, "bob")), FoldOutcome::Applied);
    let incident = given.incident_by_id(id);
    assert_eq!(incident.status, IncidentStatus::Mitigated);
    // A mitigation is not an acknowledgement: time-to-acknowledge stays unknown.
    assert_eq!(incident.acknowledged_at, None);
    assert_eq!(incident.acknowledged_by, None);
    assert_eq!(incident.time_to_acknowledge_seconds(), None);
}

#[test]
fn lifecycle_conflicts_are_settled_in_log_order() {
    let (mut given, id) = Given::incident();
    given.respond(ack(id, "alice"));
    given.respond(mitigate(id, "bob"));
    given.respond(ack(id, "carol")); // after mitigation
    given.respond(mitigate(id, "dave")); // twice
    given.respond(reopen(id, "erin")); // while open
    given.respond(resolve(id, "alice"));
    given.respond(ack(id, "bob")); // after resolve
    given.respond(resolve(id, "carol")); // twice
    given.respond(mitigate(id, "dave")); // after resolve
    assert_eq!(given.respond(reopen(id, "erin")), FoldOutcome::Applied);
    given.respond(reopen(id, "frank")); // reopened already: open again

    let incident = given.incident_by_id(id);
    assert_eq!(incident.status, IncidentStatus::Acknowledged);
    assert_eq!(incident.acknowledged_by.as_deref(), Some("alice"));
    assert_eq!(
        given.conflicts(id),
        [
            "Ignored acknowledgement by carol: already mitigated by bob",
            "Ignored mitigation by dave: already mitigated by bob",
            "Ignored reopening by erin: incident is still open (mitigated)",
            "Ignored acknowledgement by bob: incident was already resolved",
            "Ignored resolution by carol: already resolved by alice",
            "Ignored mitigation by dave: incident was already resolved",
            "Ignored reopening by frank: incident is still open (acknowledged)",
        ]
    );
}

#[test]
fn resolving_a_mitigated_incident_keeps_when_it_was_mitigated() {
    let (mut given, id) = Given::incident();
    given.respond(mitigate(id, "bob"));
    assert_eq!(given.respond(resolve(id, "alice")), FoldOutcome::Applied);
    let incident = given.incident_by_id(id);
    assert_eq!(incident.status, IncidentStatus::Resolved);
    assert_eq!(incident.resolved_by.as_deref(), Some("alice"));
    assert_eq!(incident.mitigated_by.as_deref(), Some("bob"));
    assert!(incident.mitigated_at < incident.resolved_at);
    assert!(given.conflicts(id).is_empty());
}

#[test]
fn alerts_resolving_auto_resolve_a_mitigated_incident() {
    let (mut given, id) = Given::incident();
    given.respond(mitigate(id, "bob"));
    given.notify(ONE_RESOLVED);
    assert_eq!(given.incident_by_id(id).status, IncidentStatus::Mitigated);
    given.notify(ALL_RESOLVED);
    let incident = given.incident_by_id(id);
    assert_eq!(incident.status, IncidentStatus::Resolved);
    assert_eq!(given.last_entry(id).0, TimelineKind::AutoResolved);
}

#[test]
fn a_sender_acknowledgement_does_not_move_a_mitigated_incident_back() {
    let (mut given, id) = Given::incident();
    given.respond(mitigate(id, "bob"));
    let fingerprint = given
        .incident_by_id(id)
        .alerts
        .keys()
        .next()
        .unwrap()
        .clone();
    let before = given.incident_by_id(id).clone();
    let outcome = given.respond(FactBody::AlertAcknowledged(AlertAcknowledged {
        source: "pagerduty".into(),
        fingerprint,
        actor: "pd-integration".into(),
    }));
    assert_eq!(outcome, FoldOutcome::Duplicate);
    assert_eq!(given.incident_by_id(id), &before);
}

#[test]
fn reopening_a_resolved_incident_returns_it_to_acknowledged_and_keeps_its_history() {
    let (mut given, id) = Given::incident();
    given.respond(ack(id, "alice"));
    given.respond(mitigate(id, "bob"));
    given.respond(resolve(id, "alice"));
    assert_eq!(given.respond(reopen(id, "carol")), FoldOutcome::Applied);

    let incident = given.incident_by_id(id);
    assert_eq!(incident.status, IncidentStatus::Acknowledged);
    assert_eq!(incident.acknowledged_by.as_deref(), Some("alice"));
    assert_eq!(incident.resolved_at, None);
    assert_eq!(incident.resolved_by, None);
    assert_eq!(incident.resolution, None);
    // The mitigation did not hold either.
    assert_eq!(incident.mitigated_at, None);
    assert_eq!(incident.mitigated_by, None);
    assert_eq!(incident.mitigation, None);
    let kinds: Vec<TimelineKind> = incident.timeline.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds[kinds.len() - 4..],
        [
            TimelineKind::Acknowledged,
            TimelineKind::Mitigated,
            TimelineKind::Resolved,
            TimelineKind::Reopened
        ]
    );
    assert_eq!(
        given.last_entry(id).1,
        "Reopened by carol: pool exhausted again (had been resolved by alice; now acknowledged)"
    );

    // It can be worked on and resolved again.
    assert_eq!(given.respond(mitigate(id, "bob")), FoldOutcome::Applied);
    assert_eq!(given.respond(resolve(id, "dave")), FoldOutcome::Applied);
    let incident = given.incident_by_id(id);
    assert_eq!(incident.status, IncidentStatus::Resolved);
    assert_eq!(incident.resolved_by.as_deref(), Some("dave"));
    assert!(given.conflicts(id).is_empty());
}

#[test]
fn reopening_a_never_acknowledged_incident_returns_it_to_triggered() {
    let (mut given, id) = Given::incident();
    given.notify(ONE_RESOLVED);
    given.notify(ALL_RESOLVED);
    assert_eq!(given.incident_by_id(id).status, IncidentStatus::Resolved);
    given.respond(reopen(id, "carol"));
    let incident = given.incident_by_id(id);
    assert_eq!(incident.status, IncidentStatus::Triggered);
    assert_eq!(incident.resolved_by, None);
    // Once reopened, it can be acknowledged.
    assert_eq!(given.respond(ack(id, "alice")), FoldOutcome::Applied);
    assert_eq!(
        given.incident_by_id(id).status,
        IncidentStatus::Acknowledged
    );
}

#[test]
fn an_alert_firing_after_a_reopen_lands_on_the_reopened_incident() {
    let (mut given, id) = Given::incident();
    given.notify(ONE_RESOLVED);
    given.notify(ALL_RESOLVED);
    given.respond(reopen(id, "carol"));
    given.notify(FIRING_AGAIN);
    let incident = given.only_incident();
    assert_eq!(incident.id, id);
    assert_eq!(incident.firing_alerts(), 2);
    assert_eq!(incident.status, IncidentStatus::Triggered);
}

#[test]
fn reopening_an_older_incident_after_a_newer_one_opened_is_a_conflict() {
    let (mut given, old) = Given::incident();
    given.notify(ONE_RESOLVED);
    given.notify(ALL_RESOLVED);
    given.notify(FIRING_AGAIN);
    let new = given
        .projection
        .incidents
        .keys()
        .copied()
        .find(|other| *other != old)
        .expect("a second incident opened");
    // Even once the newer one is resolved, the older one stays closed to reopening.
    given.respond(resolve(new, "alice"));
    assert_eq!(given.respond(reopen(old, "carol")), FoldOutcome::Applied);
    assert_eq!(given.incident_by_id(old).status, IncidentStatus::Resolved);
    assert_eq!(
        given.conflicts(old),
        [format!(
            "Ignored reopening by carol: a newer incident {new} opened on the same stream since"
        )]
    );
    // The newer one, current on the stream, can be reopened.
    assert_eq!(given.respond(reopen(new, "carol")), FoldOutcome::Applied);
    assert_eq!(given.incident_by_id(new).status, IncidentStatus::Triggered);
}

// --- Severity and commander ----------------------------------------------------------------

#[test]
fn severity_goes_up_and_down_and_the_same_severity_again_is_a_conflict() {
    let (mut given, id) = Given::incident();
    assert_eq!(given.incident_by_id(id).severity, Severity::Warning);
    given.respond(severity(id, "alice", Severity::Critical));
    assert_eq!(given.incident_by_id(id).severity, Severity::Critical);
    assert_eq!(
        given.last_entry(id),
        (
            TimelineKind::SeverityChanged,
            "Severity changed from warning to critical by alice: reassessed".into()
        )
    );
    given.respond(severity(id, "bob", Severity::Critical));
    given.respond(resolve(id, "alice"));
    // Resolved incidents can still be reclassified (the post-mortem's judgement).
    given.respond(severity(id, "carol", Severity::Info));
    assert_eq!(given.incident_by_id(id).severity, Severity::Info);
    assert_eq!(
        given.conflicts(id),
        ["Ignored severity change by bob: already critical"]
    );
}

#[test]
fn a_commander_can_be_assigned_and_replaced_until_closed() {
    let (mut given, id) = Given::incident();
    given.respond(commander(id, "alice", "Carol"));
    assert_eq!(given.incident_by_id(id).commander.as_deref(), Some("Carol"));
    assert_eq!(
        given.last_entry(id),
        (
            TimelineKind::CommanderAssigned,
            "Commander Carol assigned by alice".into()
        )
    );
    given.respond(commander(id, "bob", "Carol"));
    given.respond(resolve(id, "alice"));
    given.respond(commander(id, "alice", "Dave"));
    assert_eq!(given.incident_by_id(id).commander.as_deref(), Some("Dave"));
    assert_eq!(
        given.last_entry(id).1,
        "Commander changed from Carol to Dave by alice"
    );
    given.close(id);
    given.respond(commander(id, "alice", "Erin"));
    assert_eq!(given.incident_by_id(id).commander.as_deref(), Some("Dave"));
    assert_eq!(
        given.conflicts(id),
        [
            "Ignored commander assignment by bob: Carol is already the commander",
            "Ignored commander assignment by alice: incident was already closed",
        ]
    );
}

// --- Five whys and root cause ---------------------------------------------------------------

#[test]
fn the_sops_five_whys_are_numbered_in_order_and_give_its_root_cause() {
    let (mut given, id) = Given::incident();
    for (question, answer) in SOP_FIVE_WHYS {
        assert_eq!(
            given.respond(why(id, "alice", question, answer)),
            FoldOutcome::Applied
        );
    }
    given.respond(root_cause(id, "alice", Some(SOP_ROOT_CAUSE)));

    let incident = given.incident_by_id(id);
    let whys: Vec<(u32, &str, &str)> = incident
        .whys
        .iter()
        .map(|w| (w.number, w.question.as_str(), w.answer.as_str()))
        .collect();
    assert_eq!(
        whys,
        [
            (1, "Why did the API fail?", "Database connection timeout"),
            (2, "Why did the timeout occur?", "Connection pool exhausted"),
            (
                3,
                "Why was pool exhausted?",
                "Leaked connections not closed"
            ),
            (
                4,
                "Why weren't they closed?",
                "Missing finally block in worker.py:145"
            ),
            (5, "Why was it missing?", "Code review didn't catch it"),
        ]
    );
    assert!(incident
        .whys
        .iter()
        .all(|w| w.asked_by == "alice" && w.amendments.is_empty()));
    let root = incident.root_cause.as_ref().unwrap();
    assert_eq!(
        root.text,
        "Connection leak in worker.py, missing proper cleanup"
    );
    assert_eq!(root.stated_by, "alice");
    assert_eq!(root.from_why, None);

    let why_texts: Vec<&str> = incident
        .timeline
        .iter()
        .filter(|e| e.kind == TimelineKind::WhyAdded)
        .map(|e| e.text.as_str())
        .collect();
    assert_eq!(
        why_texts[0],
        "Why 1 by alice: Why did the API fail? → Database connection timeout"
    );
    assert_eq!(why_texts.len(), 5);
    assert_eq!(
        given.last_entry(id),
        (
            TimelineKind::RootCauseStated,
            format!("Root cause stated by alice: {SOP_ROOT_CAUSE}")
        )
    );
}

#[test]
fn the_root_cause_defaults_to_the_last_whys_current_answer() {
    let (mut given, id) = Given::incident();
    for (question, answer) in &SOP_FIVE_WHYS[..4] {
        given.respond(why(id, "alice", question, answer));
    }
    given.respond(amend(
        id,
        "bob",
        4,
        "Why weren't they closed?",
        "No finally block in worker.py:145",
    ));
    given.respond(root_cause(id, "bob", None));

    let root = given.incident_by_id(id).root_cause.clone().unwrap();
    assert_eq!(root.text, "No finally block in worker.py:145");
    assert_eq!(root.from_why, Some(4));
    assert_eq!(root.stated_by, "bob");
    assert_eq!(
        given.last_entry(id).1,
        "Root cause stated by bob (the answer to why 4): No finally block in worker.py:145"
    );

    // A snapshot: amending the why afterwards does not rewrite the stated root cause…
    given.respond(amend(id, "carol", 4, "Why?", "Missing cleanup"));
    assert_eq!(
        given.incident_by_id(id).root_cause.as_ref().unwrap().text,
        "No finally block in worker.py:145"
    );
    // …and the latest statement wins.
    given.respond(root_cause(id, "carol", Some(SOP_ROOT_CAUSE)));
    let root = given.incident_by_id(id).root_cause.clone().unwrap();
    assert_eq!((root.text.as_str(), root.from_why), (SOP_ROOT_CAUSE, None));
}

#[test]
fn a_root_cause_without_text_and_without_whys_is_a_conflict() {
    let (mut given, id) = Given::incident();
    assert_eq!(
        given.respond(root_cause(id, "bob", None)),
        FoldOutcome::Applied
    );
    assert_eq!(given.incident_by_id(id).root_cause, None);
    assert_eq!(
        given.conflicts(id),
        ["Ignored root cause by bob: no root cause given and no whys to take it from"]
    );
}

#[test]
fn amending_a_why_keeps_every_earlier_wording() {
    let (mut given, id) = Given::incident();
    let (question, answer) = SOP_FIVE_WHYS[2];
    given.respond(why(id, "alice", question, answer));
    given.respond(amend(id, "bob", 1, "Why was the pool exhausted?", answer));
    given.respond(amend(
        id,
        "carol",
        1,
        "Why was the pool exhausted?",
        "Leaked connections were never closed",
    ));

    let incident = given.incident_by_id(id);
    let why = &incident.whys[0];
    // The current wording is the latest amendment's…
    assert_eq!(why.question, "Why was the pool exhausted?");
    assert_eq!(why.answer, "Leaked connections were never closed");
    // …and the wording as asked, and every amendment, are kept.
    assert_eq!(
        (why.asked_question.as_str(), why.asked_answer.as_str()),
        (question, answer)
    );
    assert_eq!(why.asked_by, "alice");
    let history: Vec<(&str, &str, &str)> = why
        .amendments
        .iter()
        .map(|a| (a.by.as_str(), a.question.as_str(), a.answer.as_str()))
        .collect();
    assert_eq!(
        history,
        [
            ("bob", "Why was the pool exhausted?", answer),
            (
                "carol",
                "Why was the pool exhausted?",
                "Leaked connections were never closed"
            ),
        ]
    );
    assert!(why.asked_at < why.amendments[0].at && why.amendments[0].at < why.amendments[1].at);
    assert_eq!(
        given.last_entry(id),
        (
            TimelineKind::WhyAmended,
            "Why 1 amended by carol: Why was the pool exhausted? → Leaked connections were never closed"
                .into()
        )
    );
}

#[test]
fn amending_an_unknown_why_or_without_a_change_is_a_conflict() {
    let (mut given, id) = Given::incident();
    let (question, answer) = SOP_FIVE_WHYS[0];
    given.respond(amend(id, "bob", 1, question, answer));
    given.respond(why(id, "alice", question, answer));
    given.respond(amend(id, "bob", 0, question, answer));
    given.respond(amend(id, "bob", 2, question, answer));
    given.respond(amend(id, "bob", 1, question, answer));
    assert!(given.incident_by_id(id).whys[0].amendments.is_empty());
    assert_eq!(
        given.conflicts(id),
        [
            "Ignored why amendment by bob: there is no why 1 (the incident has 0)",
            "Ignored why amendment by bob: there is no why 0 (the incident has 1)",
            "Ignored why amendment by bob: there is no why 2 (the incident has 1)",
            "Ignored why amendment by bob: why 1 already reads so",
        ]
    );
}

// --- Impact ----------------------------------------------------------------------------------

#[test]
fn recorded_impact_overrides_the_derived_downtime_only_when_it_gives_one() {
    let (mut given, id) = Given::incident();
    given.notify(ONE_RESOLVED);
    given.notify(ALL_RESOLVED);
    // First alert start 07:03:11.267, last alert end 07:03:33.775.
    let derived = given.incident_by_id(id).downtime_seconds();
    assert_eq!(derived, Some(22));
    assert_eq!(
        given.incident_by_id(id).effective_downtime_seconds(),
        derived
    );

    // The SOP's post-mortem: 42 minutes downtime, 156 failed requests, no data loss.
    given.respond(impact(id, "alice", Some(42 * 60)));
    let incident = given.incident_by_id(id);
    assert_eq!(incident.effective_downtime_seconds(), Some(2520));
    assert_eq!(
        incident.downtime_seconds(),
        Some(22),
        "derived is unchanged"
    );
    let recorded = incident.impact.as_ref().unwrap();
    assert_eq!(recorded.failed_requests, Some(156));
    assert!(!recorded.data_loss && recorded.customer_facing);
    assert_eq!(recorded.recorded_by, "alice");
    assert_eq!(
        given.last_entry(id),
        (
            TimelineKind::ImpactRecorded,
            "Impact recorded by alice: Checkout API failing (156 failed request(s), 2520 s downtime, no data loss, customer-facing)"
                .into()
        )
    );

    // The latest record wins; without an override the derived figure is back.
    given.respond(impact(id, "bob", None));
    let incident = given.incident_by_id(id);
    assert_eq!(incident.impact.as_ref().unwrap().recorded_by, "bob");
    assert_eq!(incident.effective_downtime_seconds(), Some(22));
}

#[test]
fn an_open_incident_has_no_derived_downtime_but_an_override_counts() {
    let (mut given, id) = Given::incident();
    assert_eq!(given.incident_by_id(id).effective_downtime_seconds(), None);
    given.respond(impact(id, "alice", Some(600)));
    assert_eq!(
        given.incident_by_id(id).effective_downtime_seconds(),
        Some(600)
    );
}

// --- Action items and links ------------------------------------------------------------------

#[test]
fn action_items_are_added_and_done_after_resolution_and_after_closing() {
    let (mut given, id) = Given::incident();
    given.respond(action_item(
        id,
        1,
        "Audit all database connection usage",
        "OpenCode",
    ));
    given.respond(resolve(id, "alice"));
    given.respond(action_item(id, 2, "Add pool exhaustion alert", "Molt"));
    given.respond(done(id, "dave", 2));
    given.close(id);
    given.respond(action_item(id, 3, "Update developer docs", "OpenCode"));
    given.respond(done(id, "erin", 1));

    let incident = given.incident_by_id(id);
    assert!(given.conflicts(id).is_empty(), "{:?}", given.conflicts(id));
    let items: Vec<(u128, &str, &str, Option<&str>)> = incident
        .action_items
        .iter()
        .map(|item| {
            (
                item.id.as_u128(),
                item.title.as_str(),
                item.owner.as_str(),
                item.done_by.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        items,
        [
            (
                1,
                "Audit all database connection usage",
                "OpenCode",
                Some("erin")
            ),
            (2, "Add pool exhaustion alert", "Molt", Some("dave")),
            (3, "Update developer docs", "OpenCode", None),
        ]
    );
    let first = &incident.action_items[0];
    assert_eq!(first.kind, ActionItemKind::Prevent);
    assert_eq!(first.due.as_deref(), Some("2026-12-01"));
    assert_eq!(first.added_by, "carol");
    assert!(first.done_at > Some(first.added_at));
    assert_eq!(incident.action_items[2].done_at, None);
    assert_eq!(
        given.last_entry(id),
        (
            TimelineKind::ActionItemDone,
            "Action item done by erin: Audit all database connection usage".into()
        )
    );
    let added = incident
        .timeline
        .iter()
        .find(|e| e.kind == TimelineKind::ActionItemAdded)
        .unwrap();
    assert_eq!(
        added.text,
        "Action item added by carol: Audit all database connection usage (prevent, owner OpenCode, due 2026-12-01)"
    );
}

#[test]
fn completing_an_action_item_twice_or_an_unknown_one_is_a_conflict() {
    let (mut given, id) = Given::incident();
    given.respond(action_item(id, 1, "Add pool exhaustion alert", "Molt"));
    given.respond(done(id, "dave", 1));
    given.respond(done(id, "erin", 1));
    given.respond(done(id, "erin", 9));
    given.respond(action_item(id, 1, "Another title", "Molt"));
    let item = &given.incident_by_id(id).action_items[0];
    assert_eq!(item.done_by.as_deref(), Some("dave"));
    assert_eq!(item.title, "Add pool exhaustion alert");
    assert_eq!(given.incident_by_id(id).action_items.len(), 1);
    let nine = Uuid::from_u128(9);
    let one = Uuid::from_u128(1);
    assert_eq!(
        given.conflicts(id),
        [
            "Ignored action item completion by erin: action item \"Add pool exhaustion alert\" was already done by dave".to_owned(),
            format!("Ignored action item completion by erin: there is no action item {nine}"),
            format!("Ignored action item by carol: action item {one} already exists (Add pool exhaustion alert)"),
        ]
    );
}

#[test]
fn links_are_kept_in_order_and_the_same_url_twice_is_a_conflict() {
    let (mut given, id) = Given::incident();
    let pr = "https://github.com/acme/checkout/pull/812";
    given.respond(link(id, pr, "Fix: close connections"));
    given.respond(link(id, "https://grafana.example/d/pool", "Pool dashboard"));
    given.respond(link(id, pr, "Same PR again"));
    given.respond(resolve(id, "alice"));
    given.close(id);
    given.respond(link(
        id,
        "https://wiki.example/postmortems/42",
        "Post-mortem",
    ));

    let incident = given.incident_by_id(id);
    let links: Vec<(&str, &str, &str)> = incident
        .links
        .iter()
        .map(|l| (l.url.as_str(), l.title.as_str(), l.added_by.as_str()))
        .collect();
    assert_eq!(
        links,
        [
            (pr, "Fix: close connections", "carol"),
            ("https://grafana.example/d/pool", "Pool dashboard", "carol"),
            (
                "https://wiki.example/postmortems/42",
                "Post-mortem",
                "carol"
            ),
        ]
    );
    assert_eq!(
        given.conflicts(id),
        [format!("Ignored link by carol: {pr} is already linked")]
    );
    assert_eq!(
        given.last_entry(id),
        (
            TimelineKind::LinkAdded,
            "Link added by carol: Post-mortem <https://wiki.example/postmortems/42>".into()
        )
    );
}

// --- Closed incidents ------------------------------------------------------------------------

#[test]
fn a_closed_incident_refuses_a_why_and_every_other_change_to_its_record() {
    let (mut given, id) = Given::incident();
    given.respond(why(id, "alice", SOP_FIVE_WHYS[0].0, SOP_FIVE_WHYS[0].1));
    given.respond(resolve(id, "alice"));
    given.close(id);
    let before = given.incident_by_id(id).clone();

    for body in [
        why(id, "bob", SOP_FIVE_WHYS[1].0, SOP_FIVE_WHYS[1].1),
        amend(id, "bob", 1, "Why?", "Because"),
        root_cause(id, "bob", Some(SOP_ROOT_CAUSE)),
        impact(id, "bob", Some(60)),
        severity(id, "bob", Severity::Critical),
        ack(id, "bob"),
        mitigate(id, "bob"),
        resolve(id, "bob"),
        reopen(id, "bob"),
    ] {
        assert_eq!(given.respond(body), FoldOutcome::Applied);
    }

    let incident = given.incident_by_id(id);
    assert_eq!(incident.status, IncidentStatus::Closed);
    assert!(!incident.status.is_open());
    assert_eq!(incident.whys, before.whys);
    assert_eq!(incident.root_cause, None);
    assert_eq!(incident.impact, None);
    assert_eq!(incident.severity, before.severity);
    assert_eq!(incident.resolved_by, before.resolved_by);
    let what = [
        "why",
        "why amendment",
        "root cause",
        "impact",
        "severity change",
        "acknowledgement",
        "mitigation",
        "resolution",
        "reopening",
    ];
    let expected: Vec<String> = what
        .iter()
        .map(|what| format!("Ignored {what} by bob: incident was already closed"))
        .collect();
    assert_eq!(given.conflicts(id), expected);
}

#[test]
fn alerts_of_a_closed_incidents_stream_open_a_new_incident() {
    let (mut given, id) = Given::incident();
    given.notify(ONE_RESOLVED);
    given.notify(ALL_RESOLVED);
    given.close(id);
    given.notify(FIRING_AGAIN);
    assert_eq!(given.projection.incidents.len(), 2);
    assert_eq!(given.incident_by_id(id).status, IncidentStatus::Closed);
}

// --- Identity, duplicates, stored shape --------------------------------------------------------

#[test]
fn responder_facts_about_unknown_incidents_are_ignored() {
    let mut given = Given::new();
    let nobody = Uuid::from_u128(77);
    for body in [
        mitigate(nobody, "a"),
        reopen(nobody, "a"),
        severity(nobody, "a", Severity::Info),
        commander(nobody, "a", "b"),
        why(nobody, "a", "q", "a"),
        amend(nobody, "a", 1, "q", "a"),
        root_cause(nobody, "a", None),
        impact(nobody, "a", None),
        action_item(nobody, 1, "t", "o"),
        done(nobody, "a", 1),
        link(nobody, "u", "t"),
    ] {
        assert_eq!(given.respond(body), FoldOutcome::Ignored);
    }
    assert!(given.projection.incidents.is_empty());
}

#[test]
fn a_redelivered_responder_fact_is_folded_once() {
    let (mut given, id) = Given::incident();
    let fact = given.fact(why(id, "alice", SOP_FIVE_WHYS[0].0, SOP_FIVE_WHYS[0].1));
    assert_eq!(given.projection.apply(&fact), FoldOutcome::Applied);
    let before = given.projection.clone();
    assert_eq!(given.projection.apply(&fact), FoldOutcome::Duplicate);
    assert_eq!(given.projection, before);
    assert_eq!(given.incident_by_id(id).whys.len(), 1);
}

#[test]
fn incidents_stored_before_the_responder_workflow_still_read() {
    let (given, id) = Given::incident();
    let mut stored = serde_json::to_value(given.incident_by_id(id)).unwrap();
    let fields = stored.as_object_mut().unwrap();
    for field in [
        "mitigated_at",
        "mitigated_by",
        "mitigation",
        "commander",
        "whys",
        "root_cause",
        "impact",
        "action_items",
        "links",
    ] {
        assert!(fields.remove(field).is_some(), "{field} is not serialized");
    }
    let read: Incident = serde_json::from_value(stored).unwrap();
    assert_eq!(&read, given.incident_by_id(id));
}

#[test]
fn the_read_model_serializes_the_workflow_in_its_documented_shape() {
    let (mut given, id) = Given::incident();
    given.respond(mitigate(id, "bob"));
    given.respond(commander(id, "alice", "Carol"));
    given.respond(why(id, "alice", SOP_FIVE_WHYS[0].0, SOP_FIVE_WHYS[0].1));
    given.respond(root_cause(id, "alice", None));
    given.respond(impact(id, "alice", Some(2520)));
    given.respond(action_item(id, 1, "Add pool exhaustion alert", "Molt"));
    given.respond(link(id, "https://x.example", "X"));
    let json = serde_json::to_value(given.incident_by_id(id)).unwrap();
    assert_eq!(json["status"], "mitigated");
    assert_eq!(json["mitigated_by"], "bob");
    assert_eq!(json["commander"], "Carol");
    let why = &json["whys"][0];
    assert_eq!(why["number"], 1);
    assert_eq!(why["question"], "Why did the API fail?");
    assert_eq!(why["asked_answer"], "Database connection timeout");
    assert_eq!(why["amendments"], serde_json::json!([]));
    assert_eq!(json["root_cause"]["text"], "Database connection timeout");
    assert_eq!(json["root_cause"]["from_why"], 1);
    assert_eq!(json["impact"]["downtime_seconds"], 2520);
    assert_eq!(json["impact"]["users_affected"], serde_json::Value::Null);
    let item = &json["action_items"][0];
    assert_eq!(item["id"], Uuid::from_u128(1).to_string());
    assert_eq!(item["kind"], "prevent");
    assert_eq!(item["done_at"], serde_json::Value::Null);
    assert_eq!(json["links"][0]["url"], "https://x.example");
    let kinds: Vec<&str> = json["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.ends_with(&[
        "mitigated",
        "commander_assigned",
        "why_added",
        "root_cause_stated",
        "impact_recorded",
        "action_item_added",
        "link_added"
    ]));
}

#[test]
fn closed_and_mitigated_statuses_are_named_and_only_closed_is_final() {
    let all = [
        (IncidentStatus::Triggered, "triggered", true),
        (IncidentStatus::Acknowledged, "acknowledged", true),
        (IncidentStatus::Mitigated, "mitigated", true),
        (IncidentStatus::Resolved, "resolved", false),
        (IncidentStatus::Closed, "closed", false),
    ];
    for (status, name, open) in all {
        assert_eq!(status.as_str(), name);
        assert_eq!(status.is_open(), open, "{name}");
        assert_eq!(serde_json::to_value(status).unwrap(), name);
        let read: IncidentStatus = serde_json::from_value(name.into()).unwrap();
        assert_eq!(read, status);
    }
}
