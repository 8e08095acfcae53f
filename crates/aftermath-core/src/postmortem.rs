//! Post-mortems that write themselves: a structured draft built from an incident's facts
//! (the sections of Google's SRE template, Atlassian's five whys and the SOP's own example),
//! a person's edits kept over generated text, and the Markdown and HTML renderings.

use std::fmt::Write;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    ActionItemKind, Change, Incident, IncidentStatus, Runbook, TimelineKind, Timestamp,
    ACK_TARGET_SECONDS, CLASSIFIER, FIX_TARGET_SECONDS, NOTIFIER,
};

/// The parts of a post-mortem, in the order they are shown. Every one but the success
/// criteria (computed from facts only) may be written by a person.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PostmortemSection {
    Title,
    Summary,
    Impact,
    Detection,
    Trigger,
    Timeline,
    RootCause,
    Classification,
    Resolution,
    Prevention,
    ActionItems,
    LessonsLearned,
    SuccessCriteria,
}

impl PostmortemSection {
    pub const ALL: [PostmortemSection; 13] = [
        PostmortemSection::Title,
        PostmortemSection::Summary,
        PostmortemSection::Impact,
        PostmortemSection::Detection,
        PostmortemSection::Trigger,
        PostmortemSection::Timeline,
        PostmortemSection::RootCause,
        PostmortemSection::Classification,
        PostmortemSection::Resolution,
        PostmortemSection::Prevention,
        PostmortemSection::ActionItems,
        PostmortemSection::LessonsLearned,
        PostmortemSection::SuccessCriteria,
    ];

    /// The name used in URLs and facts, e.g. `root_cause`.
    pub fn key(self) -> &'static str {
        match self {
            PostmortemSection::Title => "title",
            PostmortemSection::Summary => "summary",
            PostmortemSection::Impact => "impact",
            PostmortemSection::Detection => "detection",
            PostmortemSection::Trigger => "trigger",
            PostmortemSection::Timeline => "timeline",
            PostmortemSection::RootCause => "root_cause",
            PostmortemSection::Classification => "classification",
            PostmortemSection::Resolution => "resolution",
            PostmortemSection::Prevention => "prevention",
            PostmortemSection::ActionItems => "action_items",
            PostmortemSection::LessonsLearned => "lessons_learned",
            PostmortemSection::SuccessCriteria => "success_criteria",
        }
    }

    pub fn heading(self) -> &'static str {
        match self {
            PostmortemSection::Title => "Title",
            PostmortemSection::Summary => "Summary",
            PostmortemSection::Impact => "Impact",
            PostmortemSection::Detection => "Detection",
            PostmortemSection::Trigger => "Trigger",
            PostmortemSection::Timeline => "Timeline",
            PostmortemSection::RootCause => "Root Cause and Five Whys",
            PostmortemSection::Classification => "Classification",
            PostmortemSection::Resolution => "Resolution",
            PostmortemSection::Prevention => "Prevention",
            PostmortemSection::ActionItems => "Action Items",
            PostmortemSection::LessonsLearned => "Lessons Learned",
            PostmortemSection::SuccessCriteria => "Success Criteria",
        }
    }

    /// Parses a key; `root-cause` is accepted for `root_cause`.
    pub fn parse(text: &str) -> Option<Self> {
        let key = text.trim().replace('-', "_");
        Self::ALL.into_iter().find(|section| section.key() == key)
    }

    /// Whether a person may write it. The success criteria are computed from facts: a
    /// checklist someone could tick by hand would measure nothing.
    pub fn is_editable(self) -> bool {
        self != PostmortemSection::SuccessCriteria
    }
}

/// A person's text for one section, which wins over the generated text.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SectionEdit {
    /// Markdown.
    pub text: String,
    pub by: String,
    pub at: Timestamp,
}

/// A published, frozen revision. Later facts make a new draft and never change it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PublishedRevision {
    pub number: u32,
    pub by: String,
    pub at: Timestamp,
    /// The `incident.postmortem_published` fact.
    pub fact_id: Uuid,
    pub draft: PostmortemDraft,
}

/// Who wrote a section or published a revision, and when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authored {
    pub by: String,
    pub at: Timestamp,
}

/// A post-mortem: the live draft, or a published revision.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PostmortemDraft {
    pub incident_id: Uuid,
    pub title: String,
    /// Set when a person wrote the title.
    pub title_edited: Option<Authored>,
    pub incident_status: IncidentStatus,
    /// The revision number once published; `None` for the live draft.
    pub revision: Option<u32>,
    /// Who published this revision, when.
    pub published: Option<Authored>,
    /// The time of the latest fact the draft reflects.
    pub as_of: Timestamp,
    pub sections: Vec<Section>,
}

impl PostmortemDraft {
    pub fn section(&self, key: PostmortemSection) -> Option<&Section> {
        self.sections.iter().find(|section| section.key == key)
    }
}

/// One section of the draft.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Section {
    pub key: PostmortemSection,
    pub heading: String,
    /// Set when a person wrote this section; `blocks` is then their text.
    pub edited: Option<Authored>,
    pub blocks: Vec<Block>,
}

/// The content of a section: a few shapes every rendering knows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Block {
    Paragraph {
        text: String,
    },
    Heading {
        text: String,
    },
    List {
        ordered: bool,
        items: Vec<String>,
    },
    Checklist {
        items: Vec<CheckItem>,
    },
    /// Moments in time order, as the SOP's timeline lists them.
    Moments {
        items: Vec<Moment>,
    },
    /// Something no fact supplies yet, for the team to write: clearly marked as such.
    Placeholder {
        text: String,
    },
    /// A person's text, as Markdown.
    Markdown {
        text: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckItem {
    pub done: bool,
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Moment {
    pub at: Timestamp,
    pub text: String,
}

/// Builds the draft from the incident as folded and the suspect changes (changes to its
/// service shortly before it opened, which the read side joins). Pure: the same inputs
/// always give the same draft.
pub fn draft_postmortem(incident: &Incident, suspect_changes: &[Change]) -> PostmortemDraft {
    draft(incident, suspect_changes, None)
}

/// The draft as revision `number`, published now: the fold freezes it.
pub(crate) fn draft_revision(
    incident: &Incident,
    suspect_changes: &[Change],
    number: u32,
    published: Authored,
) -> PostmortemDraft {
    draft(incident, suspect_changes, Some((number, published)))
}

fn draft(
    incident: &Incident,
    suspect_changes: &[Change],
    revision: Option<(u32, Authored)>,
) -> PostmortemDraft {
    let mut facts = Facts::of(incident);
    if let Some((number, _)) = &revision {
        facts.revisions_published = *number as usize;
    }
    let generated: Vec<(PostmortemSection, Vec<Block>)> = vec![
        (PostmortemSection::Summary, summary(incident, &facts)),
        (PostmortemSection::Impact, impact(incident)),
        (PostmortemSection::Detection, detection(incident)),
        (
            PostmortemSection::Trigger,
            trigger(incident, suspect_changes),
        ),
        (
            PostmortemSection::Timeline,
            timeline(incident, suspect_changes),
        ),
        (PostmortemSection::RootCause, root_cause(incident)),
        (PostmortemSection::Classification, classification(incident)),
        (PostmortemSection::Resolution, resolution(incident)),
        (PostmortemSection::Prevention, prevention(incident)),
        (PostmortemSection::ActionItems, action_items(incident)),
        (
            PostmortemSection::LessonsLearned,
            lessons_learned(incident, &facts),
        ),
        (
            PostmortemSection::SuccessCriteria,
            vec![Block::Checklist {
                items: success_criteria(incident, &facts),
            }],
        ),
    ];
    let edits = &incident.postmortem_edits;
    let sections = generated
        .into_iter()
        .map(|(key, blocks)| match edits.get(&key) {
            Some(edit) if key.is_editable() => Section {
                key,
                heading: key.heading().to_owned(),
                edited: Some(Authored {
                    by: edit.by.clone(),
                    at: edit.at,
                }),
                blocks: vec![Block::Markdown {
                    text: edit.text.clone(),
                }],
            },
            _ => Section {
                key,
                heading: key.heading().to_owned(),
                edited: None,
                blocks,
            },
        })
        .collect();
    let (title, title_edited) = match edits.get(&PostmortemSection::Title) {
        Some(edit) => (
            edit.text.trim().to_owned(),
            Some(Authored {
                by: edit.by.clone(),
                at: edit.at,
            }),
        ),
        None => (incident.title.clone(), None),
    };
    PostmortemDraft {
        incident_id: incident.id,
        title,
        title_edited,
        incident_status: incident.status,
        revision: revision.as_ref().map(|(number, _)| *number),
        published: revision.map(|(_, published)| published),
        as_of: incident
            .timeline
            .last()
            .map(|entry| entry.at)
            .unwrap_or(incident.opened_at),
        sections,
    }
}

/// Figures several sections share.
struct Facts {
    /// Opening to the fix: the mitigation, else the resolution.
    fix_seconds: Option<i64>,
    fixed_at: Option<Timestamp>,
    /// People who acted, in order of first appearance.
    responders: Vec<String>,
    reopened: usize,
    notifications_delivered: usize,
    notifications_failed: usize,
    /// Published revisions, counting the one being published.
    revisions_published: usize,
}

impl Facts {
    fn of(incident: &Incident) -> Self {
        let fixed_at = incident.mitigated_at.or(incident.resolved_at);
        let mut responders: Vec<String> = Vec::new();
        for entry in &incident.timeline {
            let by_a_person = matches!(
                entry.kind,
                TimelineKind::Acknowledged
                    | TimelineKind::Note
                    | TimelineKind::Resolved
                    | TimelineKind::Mitigated
                    | TimelineKind::Reopened
                    | TimelineKind::SeverityChanged
                    | TimelineKind::CommanderAssigned
                    | TimelineKind::WhyAdded
                    | TimelineKind::WhyAmended
                    | TimelineKind::RootCauseStated
                    | TimelineKind::ImpactRecorded
                    | TimelineKind::ActionItemAdded
                    | TimelineKind::ActionItemDone
                    | TimelineKind::LinkAdded
                    | TimelineKind::ClassificationOverridden
            ) && entry.actor != CLASSIFIER
                && entry.actor != NOTIFIER;
            if by_a_person && !responders.contains(&entry.actor) {
                responders.push(entry.actor.clone());
            }
        }
        let count = |kind: TimelineKind| {
            incident
                .timeline
                .iter()
                .filter(|entry| entry.kind == kind)
                .count()
        };
        Facts {
            fix_seconds: fixed_at.map(|at| at.seconds_since(incident.opened_at)),
            fixed_at,
            responders,
            reopened: count(TimelineKind::Reopened),
            notifications_delivered: count(TimelineKind::NotificationSent),
            notifications_failed: count(TimelineKind::NotificationFailed),
            revisions_published: incident.postmortem_revisions.len(),
        }
    }
}

fn paragraph(text: impl Into<String>) -> Block {
    Block::Paragraph { text: text.into() }
}

fn heading(text: impl Into<String>) -> Block {
    Block::Heading { text: text.into() }
}

fn placeholder(text: impl Into<String>) -> Block {
    Block::Placeholder { text: text.into() }
}

fn bullets(items: Vec<String>) -> Block {
    Block::List {
        ordered: false,
        items,
    }
}

/// `2026-11-24 10:23 UTC`.
fn when(at: Timestamp) -> String {
    let at = at.datetime();
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute()
    )
}

fn summary(incident: &Incident, facts: &Facts) -> Vec<Block> {
    let service = incident.service.as_deref().unwrap_or("an unnamed service");
    let mut text = format!(
        "A {} incident on {service}: {}. It began at {} ({} alert(s) from {})",
        incident.severity.as_str(),
        incident.title,
        when(incident.started_at()),
        incident.alerts.len(),
        incident.source
    );
    match incident.downtime_seconds() {
        Some(seconds) => {
            let _ = write!(text, " and lasted {}.", duration(seconds));
        }
        None => text.push_str(" and is not resolved yet."),
    }
    match (
        &incident.acknowledged_by,
        incident.time_to_acknowledge_seconds(),
    ) {
        (Some(by), Some(seconds)) => {
            let _ = write!(text, " {by} acknowledged it after {}.", duration(seconds));
        }
        _ => text.push_str(" Nobody acknowledged it."),
    }
    if let (Some(by), Some(seconds)) = (&incident.resolved_by, incident.time_to_resolve_seconds()) {
        let _ = write!(text, " {by} resolved it after {}.", duration(seconds));
    }
    let mut blocks = vec![paragraph(text)];
    let mut people = Vec::new();
    if !facts.responders.is_empty() {
        people.push(format!("Responders: {}", facts.responders.join(", ")));
    }
    if let Some(commander) = &incident.commander {
        people.push(format!("Incident commander: {commander}"));
    }
    if let Some(class) = incident.error_class() {
        people.push(format!("Error class: {} {}", class.code(), class.title()));
    }
    if !people.is_empty() {
        blocks.push(bullets(people));
    }
    blocks
}

fn impact(incident: &Incident) -> Vec<Block> {
    let mut blocks = Vec::new();
    let recorded = incident.impact.as_ref();
    if let Some(impact) = recorded {
        blocks.push(paragraph(format!(
            "{} (assessed by {}, {})",
            impact.summary,
            impact.recorded_by,
            when(impact.recorded_at)
        )));
    }
    let mut items = Vec::new();
    match (
        recorded.and_then(|impact| impact.downtime_seconds),
        incident.downtime_seconds(),
    ) {
        (Some(seconds), _) => items.push(format!(
            "Downtime: {} (as assessed)",
            duration(i64::try_from(seconds).unwrap_or(i64::MAX))
        )),
        (None, Some(seconds)) => items.push(format!(
            "Downtime: {} (derived from the timeline: first alert {}, service restored {})",
            duration(seconds),
            when(incident.started_at()),
            incident.ended_at().map(when).unwrap_or_default()
        )),
        (None, None) => items.push(format!(
            "Downtime: ongoing since {}",
            when(incident.started_at())
        )),
    }
    let figure = |value: Option<u64>, what: &str| match value {
        Some(count) => format!("{what}: {count}"),
        None => format!("{what}: not recorded"),
    };
    items.push(figure(
        recorded.and_then(|impact| impact.failed_requests),
        "Failed requests",
    ));
    items.push(figure(
        recorded.and_then(|impact| impact.users_affected),
        "Users affected",
    ));
    items.push(match recorded {
        Some(impact) if impact.data_loss => "Data loss: yes".to_owned(),
        Some(_) => "Data loss: none".to_owned(),
        None => "Data loss: not recorded".to_owned(),
    });
    items.push(match recorded {
        Some(impact) if impact.customer_facing => "Customer-facing: yes".to_owned(),
        Some(_) => "Customer-facing: no (internal)".to_owned(),
        None => "Customer-facing: not recorded".to_owned(),
    });
    let mut severity = format!("Severity: {}", incident.severity.as_str());
    if let Some(first) = incident.severity_changes.first() {
        let _ = write!(severity, " (opened as {})", first.from.as_str());
    }
    items.push(severity);
    blocks.push(bullets(items));
    if recorded.is_none() {
        blocks.push(placeholder(
            "the impact as the team assessed it (failed requests, users affected, data loss).",
        ));
    }
    blocks.push(heading("Alerts"));
    blocks.push(bullets(
        incident
            .alerts
            .values()
            .map(|alert| {
                let mut text = format!("{} ({})", alert.display_name(), alert.status.as_str());
                if let Some(summary) = alert.annotations.get("summary") {
                    let _ = write!(text, ": {summary}");
                }
                text
            })
            .collect(),
    ));
    blocks
}

fn detection(incident: &Incident) -> Vec<Block> {
    let first = incident
        .alerts
        .values()
        .min_by_key(|alert| (alert.starts_at, alert.fingerprint.clone()));
    let mut blocks = Vec::new();
    if let Some(alert) = first {
        blocks.push(paragraph(format!(
            "Detected by the {} alert {}, firing since {}; Aftermath opened the incident at {}.",
            incident.source,
            alert.display_name(),
            when(alert.starts_at),
            when(incident.opened_at)
        )));
    }
    let mut items = vec![format!(
        "Time to detect: {} (first alert to incident)",
        duration(incident.opened_at.seconds_since(incident.started_at()))
    )];
    items.push(
        match (
            &incident.acknowledged_by,
            incident.time_to_acknowledge_seconds(),
        ) {
            (Some(by), Some(seconds)) => format!(
                "Time to acknowledge: {} by {by}, {} the 5-minute target",
                duration(seconds),
                if seconds <= ACK_TARGET_SECONDS {
                    "within"
                } else {
                    "over"
                }
            ),
            _ => "Time to acknowledge: never acknowledged".to_owned(),
        },
    );
    items.push(format!(
        "Alerts: {} ({} still firing)",
        incident.alerts.len(),
        incident.firing_alerts()
    ));
    blocks.push(bullets(items));
    blocks
}

fn trigger(incident: &Incident, suspect_changes: &[Change]) -> Vec<Block> {
    if suspect_changes.is_empty() {
        let service = incident.service.as_deref().unwrap_or("the service");
        return vec![placeholder(format!(
            "what set it off; no change to {service} was recorded shortly before the incident."
        ))];
    }
    vec![
        paragraph("Changes to the service shortly before the incident opened (suspects):"),
        bullets(
            suspect_changes
                .iter()
                .map(|change| {
                    format!(
                        "{} - {} (reported by {} through {})",
                        when(change.at),
                        change.summary,
                        change.actor,
                        change.source
                    )
                })
                .collect(),
        ),
    ]
}

fn timeline(incident: &Incident, suspect_changes: &[Change]) -> Vec<Block> {
    let mut moments: Vec<Moment> = Vec::new();
    let mut add = |at: Timestamp, text: String| moments.push(Moment { at, text });
    for change in suspect_changes {
        add(change.at, format!("Suspect change: {}", change.summary));
    }
    if incident.started_at() < incident.opened_at {
        add(
            incident.started_at(),
            "Problem began (first alert fired)".into(),
        );
    }
    add(
        incident.opened_at,
        format!("Issue detected: {}", incident.title),
    );
    for entry in &incident.timeline {
        let text = match entry.kind {
            TimelineKind::Acknowledged => {
                format!("Investigation started ({})", entry.text)
            }
            TimelineKind::SeverityChanged
            | TimelineKind::CommanderAssigned
            | TimelineKind::Reopened
            | TimelineKind::ClassificationOverridden => entry.text.clone(),
            TimelineKind::RootCauseStated => format!("Root cause identified ({})", entry.text),
            TimelineKind::Mitigated => format!("Fix deployed ({})", entry.text),
            TimelineKind::Resolved | TimelineKind::AutoResolved => entry.text.clone(),
            _ => continue,
        };
        add(entry.at, text);
    }
    if let Some(ended) = incident.ended_at() {
        add(ended, "Service restored (every alert resolved)".into());
    }
    // A stable sort keeps log order among moments at the same instant.
    moments.sort_by_key(|moment| moment.at);
    vec![Block::Moments { items: moments }]
}

fn root_cause(incident: &Incident) -> Vec<Block> {
    let mut blocks = Vec::new();
    if incident.whys.is_empty() {
        blocks.push(placeholder("the five whys; none has been asked yet."));
    } else {
        blocks.push(Block::List {
            ordered: true,
            items: incident
                .whys
                .iter()
                .map(|why| format!("{} → {}", why.question, why.answer))
                .collect(),
        });
    }
    match &incident.root_cause {
        Some(root) => blocks.push(paragraph(format!(
            "Root cause: {} (stated by {}, {})",
            root.text,
            root.stated_by,
            when(root.stated_at)
        ))),
        None => blocks.push(placeholder(
            "the root cause; it has not been identified yet.",
        )),
    }
    blocks
}

fn classification(incident: &Incident) -> Vec<Block> {
    let Some(class) = incident.error_class() else {
        return vec![paragraph(
            "Unclassified: no error class (E101-E105) fits the evidence.",
        )];
    };
    let runbook = Runbook::of(class);
    let mut blocks = Vec::new();
    match (&incident.classification_override, &incident.classification) {
        (Some(chosen), _) => blocks.push(paragraph(format!(
            "{} {}, set by {}: {}",
            class.code(),
            class.title(),
            chosen.by,
            chosen.reason
        ))),
        (None, Some(found)) => {
            blocks.push(paragraph(format!(
                "{} {}, by the classifier (confidence {}%, rules v{}). Evidence:",
                class.code(),
                class.title(),
                found.confidence,
                found.rules_version
            )));
            blocks.push(bullets(
                found
                    .evidence
                    .iter()
                    .filter(|evidence| evidence.class == class)
                    .map(|evidence| {
                        format!("rule {} matched {:?}", evidence.rule, evidence.matched)
                    })
                    .collect(),
            ));
        }
        (None, None) => {}
    }
    blocks.push(paragraph(format!(
        "Runbook: {} ({})",
        runbook.title, runbook.path
    )));
    blocks
}

fn resolution(incident: &Incident) -> Vec<Block> {
    let mut blocks = Vec::new();
    if let (Some(by), Some(at)) = (&incident.mitigated_by, incident.mitigated_at) {
        let mut text = format!("Mitigated by {by} at {}", when(at));
        match &incident.mitigation {
            Some(note) => {
                let _ = write!(text, ": {note}");
            }
            None => text.push('.'),
        }
        blocks.push(paragraph(text));
    }
    match (incident.status, &incident.resolved_by) {
        (IncidentStatus::Resolved | IncidentStatus::Closed, Some(by)) => {
            let at = incident.resolved_at.map(when).unwrap_or_default();
            blocks.push(paragraph(match &incident.resolution {
                Some(resolution) => format!("{resolution} (resolved by {by}, {at})"),
                // Auto-resolved: the sender's name stands where a person's would.
                None if *by == incident.source => format!(
                    "Every alert resolved at the source ({by}) at {at}; nobody wrote a resolution."
                ),
                None => format!("Resolved by {by} at {at}; no resolution was written."),
            }));
        }
        (IncidentStatus::Resolved | IncidentStatus::Closed, None) => {
            blocks.push(paragraph("Resolved; nobody wrote how."));
        }
        _ => blocks.push(paragraph("Not resolved yet.")),
    }
    if !incident.links.is_empty() {
        blocks.push(heading("References"));
        blocks.push(bullets(
            incident
                .links
                .iter()
                .map(|link| format!("{}: {}", link.title, link.url))
                .collect(),
        ));
    }
    blocks
}

fn owner_suffix(owner: &str, due: Option<&str>) -> String {
    match due {
        Some(due) => format!(" ({owner}, due {due})"),
        None => format!(" ({owner})"),
    }
}

fn prevention(incident: &Incident) -> Vec<Block> {
    let mut blocks = Vec::new();
    let items: Vec<CheckItem> = incident
        .action_items
        .iter()
        .filter(|item| item.kind == ActionItemKind::Prevent)
        .map(|item| CheckItem {
            done: item.done_at.is_some(),
            text: format!(
                "{}{}",
                item.title,
                owner_suffix(&item.owner, item.due.as_deref())
            ),
        })
        .collect();
    if items.is_empty() {
        blocks.push(placeholder(
            "the prevention measures; no action item of kind prevent yet.",
        ));
    } else {
        blocks.push(Block::Checklist { items });
    }
    if let Some(class) = incident.error_class() {
        let runbook = Runbook::of(class);
        let taken: Vec<String> = incident
            .action_items
            .iter()
            .map(|item| item.title.to_lowercase())
            .collect();
        let proposals: Vec<CheckItem> = runbook
            .prevention
            .iter()
            .filter(|proposal| !taken.contains(&proposal.to_lowercase()))
            .map(|proposal| CheckItem {
                done: false,
                text: proposal.clone(),
            })
            .collect();
        if !proposals.is_empty() {
            blocks.push(heading(format!("Proposed by the {} runbook", class.code())));
            blocks.push(Block::Checklist { items: proposals });
        }
    }
    blocks
}

fn action_items(incident: &Incident) -> Vec<Block> {
    if incident.action_items.is_empty() {
        return vec![placeholder("the action items; none has been added yet.")];
    }
    vec![Block::Checklist {
        items: incident
            .action_items
            .iter()
            .map(|item| CheckItem {
                done: item.done_at.is_some(),
                text: format!(
                    "{} [{}]{}",
                    item.title,
                    item.kind.as_str(),
                    owner_suffix(&item.owner, item.due.as_deref())
                ),
            })
            .collect(),
    }]
}

fn lessons_learned(incident: &Incident, facts: &Facts) -> Vec<Block> {
    let mut went_well = Vec::new();
    let mut went_wrong = Vec::new();
    match incident.time_to_acknowledge_seconds() {
        Some(seconds) if seconds <= ACK_TARGET_SECONDS => went_well.push(format!(
            "Acknowledged in {}, within the 5-minute target.",
            duration(seconds)
        )),
        Some(seconds) => went_wrong.push(format!(
            "Acknowledgement took {}, over the 5-minute target.",
            duration(seconds)
        )),
        None if !incident.status.is_open() => {
            went_wrong.push("Nobody acknowledged the incident.".to_owned())
        }
        None => {}
    }
    match facts.fix_seconds {
        Some(seconds) if seconds <= FIX_TARGET_SECONDS => went_well.push(format!(
            "Fixed in {}, within the 1-hour target.",
            duration(seconds)
        )),
        Some(seconds) => went_wrong.push(format!(
            "The fix took {}, over the 1-hour target.",
            duration(seconds)
        )),
        None => {}
    }
    if incident.classification_override.is_none() {
        if let Some(class) = incident.classification.as_ref().and_then(|c| c.class) {
            went_well.push(format!(
                "The evidence was recognised as {} {}, pointing to its runbook.",
                class.code(),
                class.title()
            ));
        }
    }
    if facts.notifications_delivered > 0 {
        went_well.push(format!(
            "Responders were notified ({} notification(s) delivered).",
            facts.notifications_delivered
        ));
    }
    if facts.reopened > 0 {
        went_wrong.push(format!(
            "The incident was reopened {} time(s): a fix did not hold.",
            facts.reopened
        ));
    }
    if facts.notifications_failed > 0 {
        went_wrong.push(format!(
            "{} notification attempt(s) failed.",
            facts.notifications_failed
        ));
    }
    let mut blocks = vec![heading("What went well")];
    blocks.push(if went_well.is_empty() {
        placeholder("what went well.")
    } else {
        bullets(went_well)
    });
    blocks.push(heading("What went wrong"));
    blocks.push(if went_wrong.is_empty() {
        placeholder("what went wrong.")
    } else {
        bullets(went_wrong)
    });
    blocks.push(heading("Where we got lucky"));
    blocks.push(placeholder("where we got lucky."));
    blocks
}

/// The SOP's success criteria of a production incident, each decided by facts.
fn success_criteria(incident: &Incident, facts: &Facts) -> Vec<CheckItem> {
    let fix = match (facts.fix_seconds, facts.fixed_at) {
        (Some(seconds), Some(_)) => CheckItem {
            done: seconds <= FIX_TARGET_SECONDS,
            text: format!("Fix deployed within 1 hour (took {})", duration(seconds)),
        },
        _ => CheckItem {
            done: false,
            text: "Fix deployed within 1 hour (no fix yet)".to_owned(),
        },
    };
    let prevention: Vec<_> = incident
        .action_items
        .iter()
        .filter(|item| item.kind == ActionItemKind::Prevent)
        .collect();
    let implemented = prevention
        .iter()
        .filter(|item| item.done_at.is_some())
        .count();
    let published = facts.revisions_published;
    vec![
        CheckItem {
            done: incident.root_cause.is_some(),
            text: "Root cause identified".to_owned(),
        },
        fix,
        CheckItem {
            done: !incident.status.is_open(),
            text: "Service restored".to_owned(),
        },
        CheckItem {
            done: published > 0,
            text: match published {
                0 => "Post-mortem written (not published yet)".to_owned(),
                n => format!("Post-mortem written (revision {n} published)"),
            },
        },
        CheckItem {
            done: !prevention.is_empty() && implemented == prevention.len(),
            text: format!(
                "Prevention measures implemented ({implemented}/{})",
                prevention.len()
            ),
        },
    ]
}

/// `42 min 03 s`, `1 h 05 min`, `35 s`: the units a reader expects.
pub fn duration(seconds: i64) -> String {
    match seconds {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min {:02} s", s / 60, s % 60),
        s => format!("{} h {:02} min", s / 3600, (s % 3600) / 60),
    }
}

/// The Markdown rendering, the default of `GET /v1/incidents/{id}/postmortem`.
pub fn render_markdown(draft: &PostmortemDraft) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Post-Mortem: {}\n", draft.title);
    let _ = writeln!(out, "*{}*\n", status_line(draft));
    for section in &draft.sections {
        let _ = writeln!(out, "## {}\n", section.heading);
        if let Some(edited) = &section.edited {
            let _ = writeln!(out, "*Written by {}, {}.*\n", edited.by, when(edited.at));
        }
        for block in &section.blocks {
            markdown_block(&mut out, block);
        }
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

/// "Draft generated from the incident's facts…" or "Revision 2, published by…".
fn status_line(draft: &PostmortemDraft) -> String {
    let incident = format!(
        "Incident {}, status {}",
        draft.incident_id,
        draft.incident_status.as_str()
    );
    match (&draft.revision, &draft.published) {
        (Some(number), Some(published)) => format!(
            "Revision {number}, published by {} at {}. {incident}.",
            published.by,
            when(published.at)
        ),
        _ => format!(
            "Draft generated from the incident's facts as of {}. {incident}.",
            when(draft.as_of)
        ),
    }
}

/// Timeline moments show the clock time alone when they all fall on the reference day.
fn moment_label(moment: &Moment, same_day: bool) -> String {
    if same_day {
        let at = moment.at.datetime();
        format!("{:02}:{:02} UTC", at.hour(), at.minute())
    } else {
        when(moment.at)
    }
}

fn all_on_one_day(items: &[Moment]) -> bool {
    items.first().is_none_or(|first| {
        items
            .iter()
            .all(|m| m.at.datetime().date() == first.at.datetime().date())
    })
}

fn markdown_block(out: &mut String, block: &Block) {
    match block {
        Block::Paragraph { text } => {
            let _ = writeln!(out, "{text}\n");
        }
        Block::Heading { text } => {
            let _ = writeln!(out, "### {text}\n");
        }
        Block::List { ordered, items } => {
            for (index, item) in items.iter().enumerate() {
                if *ordered {
                    let _ = writeln!(out, "{}. {item}", index + 1);
                } else {
                    let _ = writeln!(out, "- {item}");
                }
            }
            out.push('\n');
        }
        Block::Checklist { items } => {
            for item in items {
                let mark = if item.done { 'x' } else { ' ' };
                let _ = writeln!(out, "- [{mark}] {}", item.text);
            }
            out.push('\n');
        }
        Block::Moments { items } => {
            let same_day = all_on_one_day(items);
            for moment in items {
                let _ = writeln!(
                    out,
                    "- {} - {}",
                    moment_label(moment, same_day),
                    moment.text
                );
            }
            out.push('\n');
        }
        Block::Placeholder { text } => {
            let _ = writeln!(out, "_To be written: {text}_\n");
        }
        Block::Markdown { text } => {
            let _ = writeln!(out, "{}\n", text.trim_end());
        }
    }
}

/// The HTML rendering as a fragment (`<article>`), for the web pages. Every text is
/// escaped: alert text comes from outside and must never become markup.
pub fn render_html_fragment(draft: &PostmortemDraft) -> String {
    let mut out = String::new();
    out.push_str("<article class=\"postmortem\">\n");
    let _ = writeln!(
        out,
        "<header><h1>Post-Mortem: {}</h1><p class=\"pm-status\">{}</p></header>",
        escape(&draft.title),
        escape(&status_line(draft))
    );
    for section in &draft.sections {
        let _ = writeln!(
            out,
            "<section class=\"pm-section\" id=\"{}\"><h2>{}</h2>",
            section.key.key(),
            escape(&section.heading)
        );
        if let Some(edited) = &section.edited {
            let _ = writeln!(
                out,
                "<p class=\"pm-edited\">Written by {}, {}.</p>",
                escape(&edited.by),
                escape(&when(edited.at))
            );
        }
        for block in &section.blocks {
            html_block(&mut out, block);
        }
        out.push_str("</section>\n");
    }
    out.push_str("</article>\n");
    out
}

/// A standalone, printable HTML document of the post-mortem.
pub fn render_html_document(draft: &PostmortemDraft) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Post-Mortem: {}</title>\n<style>{}</style>\n</head>\n<body>\n{}</body>\n</html>\n",
        escape(&draft.title),
        POSTMORTEM_CSS,
        render_html_fragment(draft)
    )
}

/// The post-mortem's own styles, print included; the web pages embed them too.
pub const POSTMORTEM_CSS: &str = "\
.postmortem{max-width:52rem;font-family:system-ui,sans-serif;line-height:1.5;color:#1b1f24}\
.postmortem h1{font-size:1.6rem}.postmortem h2{border-bottom:1px solid #d0d7de;padding-bottom:.2rem}\
.pm-status,.pm-edited{color:#57606a;font-style:italic}\
.pm-placeholder{background:#fff8c5;border-left:4px solid #d4a72c;padding:.3rem .6rem}\
.pm-checklist{list-style:none;padding-left:1rem}.pm-checklist li::before{content:'\\2610  '}\
.pm-checklist li.done::before{content:'\\2611  '}\
.pm-moments time{font-variant-numeric:tabular-nums;font-weight:600;margin-right:.5rem}\
@media print{.postmortem{max-width:none}.pm-placeholder{border-left:2px solid #000}}";

fn html_block(out: &mut String, block: &Block) {
    match block {
        Block::Paragraph { text } => {
            let _ = writeln!(out, "<p>{}</p>", escape(text));
        }
        Block::Heading { text } => {
            let _ = writeln!(out, "<h3>{}</h3>", escape(text));
        }
        Block::List { ordered, items } => {
            let tag = if *ordered { "ol" } else { "ul" };
            let _ = write!(out, "<{tag}>");
            for item in items {
                let _ = write!(out, "<li>{}</li>", escape(item));
            }
            let _ = writeln!(out, "</{tag}>");
        }
        Block::Checklist { items } => {
            out.push_str("<ul class=\"pm-checklist\">");
            for item in items {
                let class = if item.done { " class=\"done\"" } else { "" };
                let _ = write!(out, "<li{class}>{}</li>", escape(&item.text));
            }
            out.push_str("</ul>\n");
        }
        Block::Moments { items } => {
            let same_day = all_on_one_day(items);
            out.push_str("<ul class=\"pm-moments\">");
            for moment in items {
                let _ = write!(
                    out,
                    "<li><time datetime=\"{}\">{}</time>{}</li>",
                    moment.at,
                    escape(&moment_label(moment, same_day)),
                    escape(&moment.text)
                );
            }
            out.push_str("</ul>\n");
        }
        Block::Placeholder { text } => {
            let _ = writeln!(
                out,
                "<p class=\"pm-placeholder\"><strong>To be written:</strong> {}</p>",
                escape(text)
            );
        }
        Block::Markdown { text } => markdown_to_html(out, text),
    }
}

/// Escapes text for HTML content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A person's section text as HTML: the small part of Markdown people write in a
/// post-mortem (paragraphs, `###` headings, `-` lists, `- [ ]` checklists, `1.` lists).
/// Everything is escaped; no raw HTML or links pass through, so an edit cannot inject
/// markup either.
fn markdown_to_html(out: &mut String, text: &str) {
    let mut blocks: Vec<Block> = Vec::new();
    let mut paragraph_lines: Vec<&str> = Vec::new();
    let flush = |lines: &mut Vec<&str>, blocks: &mut Vec<Block>| {
        if !lines.is_empty() {
            blocks.push(Block::Paragraph {
                text: lines.join(" "),
            });
            lines.clear();
        }
    };
    for line in text.lines().map(str::trim_end) {
        let trimmed = line.trim_start();
        let checklist_item = trimmed
            .strip_prefix("- [ ] ")
            .map(|rest| (false, rest))
            .or_else(|| {
                trimmed
                    .strip_prefix("- [x] ")
                    .or_else(|| trimmed.strip_prefix("- [X] "))
                    .map(|rest| (true, rest))
            });
        let bullet = trimmed
            .strip_prefix("- ")
            .or_else(|| trimmed.strip_prefix("* "));
        let numbered = trimmed
            .split_once(". ")
            .filter(|(number, _)| !number.is_empty() && number.chars().all(|c| c.is_ascii_digit()))
            .map(|(_, rest)| rest);
        if trimmed.is_empty() {
            flush(&mut paragraph_lines, &mut blocks);
        } else if let Some(rest) = trimmed.strip_prefix('#') {
            flush(&mut paragraph_lines, &mut blocks);
            blocks.push(heading(rest.trim_start_matches('#').trim()));
        } else if let Some((done, rest)) = checklist_item {
            flush(&mut paragraph_lines, &mut blocks);
            let item = CheckItem {
                done,
                text: rest.to_owned(),
            };
            match blocks.last_mut() {
                Some(Block::Checklist { items }) => items.push(item),
                _ => blocks.push(Block::Checklist { items: vec![item] }),
            }
        } else if let Some((ordered, rest)) = bullet
            .map(|rest| (false, rest))
            .or(numbered.map(|rest| (true, rest)))
        {
            flush(&mut paragraph_lines, &mut blocks);
            match blocks.last_mut() {
                Some(Block::List {
                    ordered: was_ordered,
                    items,
                }) if *was_ordered == ordered => items.push(rest.to_owned()),
                _ => blocks.push(Block::List {
                    ordered,
                    items: vec![rest.to_owned()],
                }),
            }
        } else {
            paragraph_lines.push(trimmed);
        }
    }
    flush(&mut paragraph_lines, &mut blocks);
    for block in &blocks {
        html_block(out, block);
    }
}

/// The live draft of an incident, with edits applied (a shorthand used by tests and tools
/// that have no suspect changes at hand).
pub fn render_postmortem_markdown(incident: &Incident) -> String {
    render_markdown(&draft_postmortem(incident, &[]))
}

/// Why an edit of `section` to `text` (None: back to the generated text) makes no sense
/// now, if it does not. Shared by the fold (authoritative) and the API (for a clear 409).
pub fn postmortem_edit_refusal(
    incident: &Incident,
    section: PostmortemSection,
    text: Option<&str>,
) -> Option<String> {
    if !section.is_editable() {
        return Some(format!(
            "the {} section is computed from facts and cannot be written",
            section.key()
        ));
    }
    match (incident.postmortem_edits.get(&section), text) {
        (Some(edit), Some(text)) if edit.text == text => {
            Some(format!("the {} section already says that", section.key()))
        }
        (None, None) => Some(format!(
            "the {} section has no edit to revert",
            section.key()
        )),
        _ => None,
    }
}

/// Why the post-mortem cannot be published now, if it cannot: only a resolved (or already
/// closed, for a new revision) incident has a story to tell.
pub fn publish_refusal(incident: &Incident) -> Option<String> {
    incident.status.is_open().then(|| {
        format!(
            "incident is still open ({}); resolve it before publishing its post-mortem",
            incident.status.as_str()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(35), "35 s");
        assert_eq!(duration(42 * 60 + 3), "42 min 03 s");
        assert_eq!(duration(3600 + 5 * 60), "1 h 05 min");
    }

    #[test]
    fn section_keys_round_trip_and_accept_dashes() {
        for section in PostmortemSection::ALL {
            assert_eq!(PostmortemSection::parse(section.key()), Some(section));
        }
        assert_eq!(
            PostmortemSection::parse("root-cause"),
            Some(PostmortemSection::RootCause)
        );
        assert_eq!(PostmortemSection::parse("appendix"), None);
        assert!(!PostmortemSection::SuccessCriteria.is_editable());
    }

    #[test]
    fn markup_in_any_text_is_escaped() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"y\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;y&quot;"
        );
        let mut out = String::new();
        markdown_to_html(
            &mut out,
            "# Went <b>well</b>\n- [x] <img src=x onerror=alert(1)>\n\nplain <i>text</i>\n1. one\n2. two",
        );
        assert!(
            !out.contains("<b>") && !out.contains("<img") && !out.contains("<i>"),
            "{out}"
        );
        assert!(
            out.contains("<h3>Went &lt;b&gt;well&lt;/b&gt;</h3>"),
            "{out}"
        );
        assert!(out.contains("<li class=\"done\">&lt;img"), "{out}");
        assert!(out.contains("<ol><li>one</li><li>two</li></ol>"), "{out}");
    }
}
