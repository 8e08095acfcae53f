//! Snapshot tests of the rendered post-mortem draft, from notifications captured from a real
//! Alertmanager and responder facts at fixed times.

use aftermath_core::{
    draft_postmortem, normalize_alertmanager, render_html_document, render_html_fragment,
    render_markdown, render_postmortem_markdown, Acknowledged, ActionItemAdded, ActionItemDone,
    ActionItemKind, Block, Change, Fact, FactBody, ImpactRecorded, IncidentStatus, Mitigated,
    NoteAdded, PostmortemDraft, PostmortemEdited, PostmortemPublished, PostmortemSection,
    Projection, Resolved, RootCauseStated, TimelineKind, Timestamp, WhyAdded,
};
use uuid::Uuid;

const FIRING: &str = include_str!("../../../tests/fixtures/alertmanager/01-checkout-firing.json");
const ONE_RESOLVED: &str =
    include_str!("../../../tests/fixtures/alertmanager/03-checkout-one-resolved.json");
const ALL_RESOLVED: &str =
    include_str!("../../../tests/fixtures/alertmanager/04-checkout-all-resolved.json");

fn at(text: &str) -> Timestamp {
    Timestamp::parse(text).unwrap()
}

fn respond(projection: &mut Projection, id: u128, when: &str, body: FactBody) {
    let stream_key = projection
        .incidents
        .values()
        .next()
        .unwrap()
        .stream_key
        .clone();
    projection.apply(&Fact {
        fact_id: Uuid::from_u128(id),
        stream_key,
        occurred_at: at(when),
        recorded_at: at(when),
        body,
    });
}

fn notify(projection: &mut Projection, body: &str, when: &str) {
    for fact in normalize_alertmanager(body.as_bytes(), at(when)).unwrap() {
        projection.apply(&fact);
    }
}

fn incident_id(projection: &Projection) -> Uuid {
    *projection.incidents.keys().next().unwrap()
}

#[test]
fn draft_of_an_incident_that_is_still_open() {
    let mut projection = Projection::default();
    notify(&mut projection, FIRING, "2026-11-24T07:03:12Z");
    let incident = projection.incidents.values().next().unwrap();
    insta::assert_snapshot!(render_postmortem_markdown(incident));
}

#[test]
fn draft_of_an_acknowledged_annotated_and_resolved_incident() {
    let mut projection = Projection::default();
    notify(&mut projection, FIRING, "2026-11-24T07:03:12Z");
    let id = incident_id(&projection);
    respond(
        &mut projection,
        1,
        "2026-11-24T07:05:40Z",
        FactBody::Acknowledged(Acknowledged {
            incident_id: id,
            actor: "alice".into(),
            note: Some("looking at the 07:00 deploy".into()),
        }),
    );
    respond(
        &mut projection,
        2,
        "2026-11-24T07:09:00Z",
        FactBody::NoteAdded(NoteAdded {
            incident_id: id,
            actor: "bob".into(),
            text: "rolled checkout back to v1.4.2".into(),
        }),
    );
    notify(&mut projection, ONE_RESOLVED, "2026-11-24T07:10:00Z");
    respond(
        &mut projection,
        3,
        "2026-11-24T07:12:30Z",
        FactBody::Resolved(Resolved {
            incident_id: id,
            actor: "alice".into(),
            resolution: Some("Rolled back the faulty release; error rate back under 0.1%.".into()),
        }),
    );
    notify(&mut projection, ALL_RESOLVED, "2026-11-24T07:13:00Z");
    insta::assert_snapshot!(render_postmortem_markdown(&projection.incidents[&id]));
}

#[test]
fn draft_of_a_classified_incident_shows_the_evidence_and_proposes_the_runbooks_prevention() {
    let body = serde_json::json!({
        "version": "4", "status": "firing", "receiver": "aftermath",
        "groupKey": "{}:{alertname=\"MigrationJobFailed\"}", "truncatedAlerts": 0,
        "groupLabels": {"alertname": "MigrationJobFailed"},
        "commonLabels": {"alertname": "MigrationJobFailed", "service": "orders"},
        "commonAnnotations": {"summary": "Flyway migration V3__add_index.sql failed on orders-db"},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": "MigrationJobFailed", "service": "orders", "severity": "critical"},
            "annotations": {
                "summary": "Flyway migration V3__add_index.sql failed on orders-db",
                "description": "ERROR: Migration V3__add_index.sql failed\nSQL State  : 42P07"
            },
            "startsAt": "2026-11-24T07:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.example/graph", "fingerprint": "m1"
        }]
    });
    let mut projection = Projection::default();
    notify(&mut projection, &body.to_string(), "2026-11-24T07:00:05Z");
    let incident = projection.incidents.values().next().unwrap();
    insta::assert_snapshot!(render_postmortem_markdown(incident));
}

/// An Alertmanager notification of one alert, firing or resolved.
fn alertmanager(
    alertname: &str,
    service: &str,
    summary: &str,
    description: &str,
    starts_at: &str,
    ends_at: Option<&str>,
) -> String {
    let status = if ends_at.is_some() {
        "resolved"
    } else {
        "firing"
    };
    serde_json::json!({
        "version": "4", "status": status, "receiver": "aftermath",
        "groupKey": format!("{{}}:{{alertname=\"{alertname}\"}}"), "truncatedAlerts": 0,
        "groupLabels": {"alertname": alertname},
        "commonLabels": {"alertname": alertname, "service": service},
        "commonAnnotations": {"summary": summary},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": [{
            "status": status,
            "labels": {"alertname": alertname, "service": service, "severity": "critical"},
            "annotations": {"summary": summary, "description": description},
            "startsAt": starts_at, "endsAt": ends_at.unwrap_or("0001-01-01T00:00:00Z"),
            "generatorURL": "http://prometheus.example/graph", "fingerprint": format!("{alertname}-1")
        }]
    })
    .to_string()
}

/// The SOP's own example, "Post-Mortem: Connection Pool Exhaustion", told as facts:
/// detected 10:23, investigation 10:28, root cause 10:45, fix 10:52, restored 11:05.
fn connection_pool_exhaustion() -> (Projection, Uuid) {
    let mut projection = Projection::default();
    notify(
        &mut projection,
        &alertmanager(
            "ApiDatabaseTimeouts",
            "api",
            "API requests time out waiting for a database connection",
            "pool exhausted: 50/50 connections in use",
            "2026-11-24T10:23:00Z",
            None,
        ),
        "2026-11-24T10:23:20Z",
    );
    let id = incident_id(&projection);
    let mut n = 100;
    let mut act = |projection: &mut Projection, when: &str, body: FactBody| {
        n += 1;
        respond(projection, n, when, body);
    };
    act(
        &mut projection,
        "2026-11-24T10:28:00Z",
        FactBody::Acknowledged(Acknowledged {
            incident_id: id,
            actor: "opencode".into(),
            note: Some("investigating; joined the incident channel".into()),
        }),
    );
    let whys = [
        ("Why did the API fail?", "Database connection timeout"),
        ("Why did the timeout occur?", "Connection pool exhausted"),
        (
            "Why was the pool exhausted?",
            "Leaked connections not closed",
        ),
        (
            "Why weren't they closed?",
            "Missing finally block in worker.py:145",
        ),
        ("Why was it missing?", "Code review didn't catch it"),
    ];
    for (index, (question, answer)) in whys.into_iter().enumerate() {
        act(
            &mut projection,
            &format!("2026-11-24T10:{}:00Z", 35 + index * 2),
            FactBody::WhyAdded(WhyAdded {
                incident_id: id,
                actor: "opencode".into(),
                question: question.into(),
                answer: answer.into(),
            }),
        );
    }
    act(
        &mut projection,
        "2026-11-24T10:45:00Z",
        FactBody::RootCauseStated(RootCauseStated {
            incident_id: id,
            actor: "opencode".into(),
            text: Some(
                "Connection leak in worker.py line 145 - connections not properly closed".into(),
            ),
        }),
    );
    act(
        &mut projection,
        "2026-11-24T10:52:00Z",
        FactBody::Mitigated(Mitigated {
            incident_id: id,
            actor: "opencode".into(),
            note: Some("hotfix/connection-leak deployed to production".into()),
        }),
    );
    act(
        &mut projection,
        "2026-11-24T11:05:30Z",
        FactBody::Resolved(Resolved {
            incident_id: id,
            actor: "molt".into(),
            resolution: Some("Added proper connection cleanup with try/finally block".into()),
        }),
    );
    notify(
        &mut projection,
        &alertmanager(
            "ApiDatabaseTimeouts",
            "api",
            "API requests time out waiting for a database connection",
            "pool exhausted: 50/50 connections in use",
            "2026-11-24T10:23:00Z",
            Some("2026-11-24T11:05:00Z"),
        ),
        "2026-11-24T11:06:00Z",
    );
    act(
        &mut projection,
        "2026-11-24T11:20:00Z",
        FactBody::ImpactRecorded(ImpactRecorded {
            incident_id: id,
            actor: "molt".into(),
            summary: "API requests failed while the pool was exhausted".into(),
            users_affected: None,
            failed_requests: Some(156),
            data_loss: false,
            customer_facing: true,
            downtime_seconds: None,
        }),
    );
    let items = [
        (
            "Add connection pool monitoring",
            "molt",
            ActionItemKind::Prevent,
            true,
        ),
        (
            "Update code review checklist",
            "opencode",
            ActionItemKind::Process,
            true,
        ),
        (
            "Add integration test for connection cleanup",
            "opencode",
            ActionItemKind::Prevent,
            true,
        ),
        (
            "Audit all database connection usage",
            "opencode",
            ActionItemKind::Prevent,
            false,
        ),
        (
            "Add pool exhaustion alert",
            "molt",
            ActionItemKind::Mitigate,
            false,
        ),
        (
            "Update developer docs",
            "opencode",
            ActionItemKind::Process,
            false,
        ),
    ];
    for (index, (title, owner, kind, done)) in items.into_iter().enumerate() {
        let action_item_id = Uuid::from_u128(900 + index as u128);
        act(
            &mut projection,
            &format!("2026-11-24T11:{}:00Z", 30 + index),
            FactBody::ActionItemAdded(ActionItemAdded {
                incident_id: id,
                actor: "molt".into(),
                action_item_id,
                title: title.into(),
                owner: owner.into(),
                kind,
                due: Some("2026-12-01".into()),
            }),
        );
        if done {
            act(
                &mut projection,
                &format!("2026-11-24T12:{}:00Z", 10 + index),
                FactBody::ActionItemDone(ActionItemDone {
                    incident_id: id,
                    actor: owner.into(),
                    action_item_id,
                }),
            );
        }
    }
    (projection, id)
}

#[test]
fn the_sops_connection_pool_example_drafts_itself_in_markdown() {
    let (projection, id) = connection_pool_exhaustion();
    let draft = draft_postmortem(&projection.incidents[&id], &[]);
    insta::assert_snapshot!(render_markdown(&draft));
}

#[test]
fn the_sops_connection_pool_example_renders_as_html() {
    let (projection, id) = connection_pool_exhaustion();
    let draft = draft_postmortem(&projection.incidents[&id], &[]);
    insta::assert_snapshot!(render_html_fragment(&draft));
}

#[test]
fn success_criteria_are_computed_from_the_facts() {
    let (projection, id) = connection_pool_exhaustion();
    let draft = draft_postmortem(&projection.incidents[&id], &[]);
    let Some(Block::Checklist { items }) = draft
        .section(PostmortemSection::SuccessCriteria)
        .and_then(|section| section.blocks.first())
    else {
        panic!("success criteria are a checklist: {draft:?}");
    };
    let criteria: Vec<(bool, &str)> = items
        .iter()
        .map(|item| (item.done, item.text.as_str()))
        .collect();
    assert_eq!(
        criteria,
        [
            (true, "Root cause identified"),
            (true, "Fix deployed within 1 hour (took 28 min 40 s)"),
            (true, "Service restored"),
            (false, "Post-mortem written (not published yet)"),
            (false, "Prevention measures implemented (2/3)"),
        ]
    );
}

/// A deploy that failed, with the change that preceded it recorded by the CI system.
fn failed_deploy() -> (Projection, Uuid, Vec<Change>) {
    let mut projection = Projection::default();
    notify(
        &mut projection,
        &alertmanager(
            "KubeDeploymentRolloutStuck",
            "checkout",
            "Deployment checkout rollout is stuck: ImagePullBackOff",
            "kubectl rollout status deployment/checkout: progress deadline exceeded; pods in ImagePullBackOff",
            "2026-11-24T07:02:00Z",
            None,
        ),
        "2026-11-24T07:02:30Z",
    );
    let id = incident_id(&projection);
    respond(
        &mut projection,
        1,
        "2026-11-24T07:09:00Z",
        FactBody::Acknowledged(Acknowledged {
            incident_id: id,
            actor: "alice".into(),
            note: None,
        }),
    );
    respond(
        &mut projection,
        2,
        "2026-11-24T07:15:00Z",
        FactBody::Mitigated(Mitigated {
            incident_id: id,
            actor: "alice".into(),
            note: Some("rolled checkout back to v1.4.2".into()),
        }),
    );
    notify(
        &mut projection,
        &alertmanager(
            "KubeDeploymentRolloutStuck",
            "checkout",
            "Deployment checkout rollout is stuck: ImagePullBackOff",
            "kubectl rollout status deployment/checkout: progress deadline exceeded; pods in ImagePullBackOff",
            "2026-11-24T07:02:00Z",
            Some("2026-11-24T07:16:00Z"),
        ),
        "2026-11-24T07:16:30Z",
    );
    let changes = vec![Change {
        id: Uuid::from_u128(77),
        source: "pagerduty".into(),
        summary: "Deploy checkout v1.4.3 (image tag 1.4.3 <not pushed>)".into(),
        service: Some("checkout".into()),
        at: at("2026-11-24T06:58:00Z"),
        details: None,
        links: None,
        actor: "ci".into(),
    }];
    (projection, id, changes)
}

#[test]
fn a_failed_deploy_names_its_suspect_change_in_markdown() {
    let (projection, id, changes) = failed_deploy();
    let draft = draft_postmortem(&projection.incidents[&id], &changes);
    insta::assert_snapshot!(render_markdown(&draft));
}

#[test]
fn a_failed_deploy_renders_as_html_with_its_text_escaped() {
    let (projection, id, changes) = failed_deploy();
    let html = render_html_fragment(&draft_postmortem(&projection.incidents[&id], &changes));
    assert!(html.contains("&lt;not pushed&gt;"), "{html}");
    assert!(!html.contains("<not pushed>"), "{html}");
    insta::assert_snapshot!(html);
}

#[test]
fn an_alert_summary_with_markup_stays_text_in_every_rendering() {
    let mut projection = Projection::default();
    notify(
        &mut projection,
        &alertmanager(
            "Injected",
            "web",
            "<script>alert('pwned')</script>",
            "<img src=x onerror=alert(1)>",
            "2026-11-24T07:00:00Z",
            None,
        ),
        "2026-11-24T07:00:05Z",
    );
    let draft = draft_postmortem(projection.incidents.values().next().unwrap(), &[]);
    let html = render_html_document(&draft);
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(!html.contains("<img src=x"), "{html}");
    assert!(
        html.contains("&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;"),
        "{html}"
    );
    // Markdown readers get the text as the sender wrote it.
    assert!(render_markdown(&draft).contains("<script>alert('pwned')</script>"));
}

fn published(projection: &mut Projection, id: Uuid, fact: u128, when: &str, changes: Vec<Change>) {
    respond(
        projection,
        fact,
        when,
        FactBody::PostmortemPublished(PostmortemPublished {
            incident_id: id,
            actor: "manager".into(),
            suspect_changes: changes,
        }),
    );
}

fn edit(
    projection: &mut Projection,
    id: Uuid,
    fact: u128,
    section: PostmortemSection,
    text: Option<&str>,
) {
    respond(
        projection,
        fact,
        "2026-11-24T08:00:00Z",
        FactBody::PostmortemEdited(PostmortemEdited {
            incident_id: id,
            actor: "manager".into(),
            section,
            text: text.map(str::to_owned),
        }),
    );
}

#[test]
fn a_published_revision_is_frozen_and_later_facts_make_a_new_draft() {
    let (mut projection, id, changes) = failed_deploy();
    published(
        &mut projection,
        id,
        10,
        "2026-11-24T09:00:00Z",
        changes.clone(),
    );
    let incident = &projection.incidents[&id];
    assert_eq!(incident.status, IncidentStatus::Closed);
    assert_eq!(incident.postmortem_revisions.len(), 1);
    let revision = incident.postmortem_revisions[0].clone();
    assert_eq!(revision.draft.revision, Some(1));
    insta::assert_snapshot!(
        "a_failed_deploy_published_as_revision_1",
        render_markdown(&revision.draft)
    );
    assert_eq!(
        incident.timeline.last().unwrap().text,
        "Post-mortem revision 1 published by manager; incident closed"
    );

    // Follow-up work after publishing changes the draft, never revision 1.
    respond(
        &mut projection,
        11,
        "2026-11-24T10:00:00Z",
        FactBody::ActionItemAdded(ActionItemAdded {
            incident_id: id,
            actor: "alice".into(),
            action_item_id: Uuid::from_u128(5),
            title: "Check the image exists before rolling out".into(),
            owner: "alice".into(),
            kind: ActionItemKind::Prevent,
            due: None,
        }),
    );
    let incident = &projection.incidents[&id];
    assert_eq!(incident.postmortem_revisions[0], revision);
    let live = render_markdown(&draft_postmortem(incident, &changes));
    assert!(
        live.contains("Check the image exists before rolling out"),
        "{live}"
    );
    assert!(!render_markdown(&revision.draft).contains("Check the image exists"));

    // Publishing again makes revision 2; the incident stays closed.
    published(&mut projection, id, 12, "2026-11-24T10:30:00Z", changes);
    let incident = &projection.incidents[&id];
    assert_eq!(incident.postmortem_revisions.len(), 2);
    assert_eq!(incident.postmortem_revisions[0], revision);
    assert_eq!(incident.postmortem_revisions[1].draft.revision, Some(2));
    assert!(render_markdown(&incident.postmortem_revisions[1].draft)
        .contains("Check the image exists before rolling out"));
    assert_eq!(
        incident.timeline.last().unwrap().text,
        "Post-mortem revision 2 published by manager"
    );
}

#[test]
fn publishing_an_open_incident_is_refused_on_the_timeline() {
    let mut projection = Projection::default();
    notify(&mut projection, FIRING, "2026-11-24T07:03:12Z");
    let id = incident_id(&projection);
    published(&mut projection, id, 1, "2026-11-24T07:10:00Z", Vec::new());
    let incident = &projection.incidents[&id];
    assert_eq!(incident.status, IncidentStatus::Triggered);
    assert!(incident.postmortem_revisions.is_empty());
    let last = incident.timeline.last().unwrap();
    assert_eq!(last.kind, TimelineKind::Conflict);
    assert_eq!(
        last.text,
        "Ignored publication by manager: incident is still open (triggered); resolve it before publishing its post-mortem"
    );
}

#[test]
fn a_persons_section_wins_over_the_generated_text_until_handed_back() {
    let (mut projection, id) = connection_pool_exhaustion();
    edit(
        &mut projection,
        id,
        50,
        PostmortemSection::LessonsLearned,
        Some("### Where we got lucky\n- It happened in business hours"),
    );
    edit(
        &mut projection,
        id,
        51,
        PostmortemSection::Title,
        Some("Connection Pool Exhaustion"),
    );
    let draft = draft_postmortem(&projection.incidents[&id], &[]);
    assert_eq!(draft.title, "Connection Pool Exhaustion");
    let lessons = draft.section(PostmortemSection::LessonsLearned).unwrap();
    assert_eq!(
        lessons.edited.as_ref().map(|e| e.by.as_str()),
        Some("manager")
    );
    assert_eq!(
        lessons.blocks,
        [Block::Markdown {
            text: "### Where we got lucky\n- It happened in business hours".into()
        }]
    );
    let markdown = render_markdown(&draft);
    assert!(
        markdown.starts_with("# Post-Mortem: Connection Pool Exhaustion\n"),
        "{markdown}"
    );
    assert!(
        markdown.contains("*Written by manager, 2026-11-24 08:00 UTC.*"),
        "{markdown}"
    );

    // The same text again, a revert of an unedited section and the computed checklist
    // are refused, with the reason on the timeline.
    edit(
        &mut projection,
        id,
        52,
        PostmortemSection::LessonsLearned,
        Some("### Where we got lucky\n- It happened in business hours"),
    );
    edit(&mut projection, id, 53, PostmortemSection::Impact, None);
    edit(
        &mut projection,
        id,
        54,
        PostmortemSection::SuccessCriteria,
        Some("all done"),
    );
    let refusals: Vec<&str> = projection.incidents[&id]
        .timeline
        .iter()
        .rev()
        .take(3)
        .map(|entry| entry.text.as_str())
        .collect();
    assert_eq!(
        refusals,
        [
            "Ignored post-mortem edit by manager: the success_criteria section is computed from facts and cannot be written",
            "Ignored post-mortem edit by manager: the impact section has no edit to revert",
            "Ignored post-mortem edit by manager: the lessons_learned section already says that",
        ]
    );

    edit(
        &mut projection,
        id,
        55,
        PostmortemSection::LessonsLearned,
        None,
    );
    let draft = draft_postmortem(&projection.incidents[&id], &[]);
    let lessons = draft.section(PostmortemSection::LessonsLearned).unwrap();
    assert_eq!(lessons.edited, None);
    assert!(matches!(lessons.blocks[0], Block::Heading { .. }));
}

#[test]
fn the_json_rendering_names_every_section_in_order() {
    let (projection, id) = connection_pool_exhaustion();
    let draft = draft_postmortem(&projection.incidents[&id], &[]);
    let json = serde_json::to_value(&draft).unwrap();
    let keys: Vec<&str> = json["sections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|section| section["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "summary",
            "impact",
            "detection",
            "trigger",
            "timeline",
            "root_cause",
            "classification",
            "resolution",
            "prevention",
            "action_items",
            "lessons_learned",
            "success_criteria"
        ]
    );
    assert_eq!(json["revision"], serde_json::Value::Null);
    let back: PostmortemDraft = serde_json::from_value(json).unwrap();
    assert_eq!(back, draft);
}
