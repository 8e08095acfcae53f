//! The post-mortem pages: the live draft of an incident (`/incidents/{id}/postmortem`) with
//! a manager's section editing and publishing forms, its Markdown, and each published
//! revision as frozen (`/incidents/{id}/postmortem/revisions/{n}`).
//!
//! The document itself is the core's [`render_html_fragment`], which escapes every text
//! (alert text and a person's Markdown alike) and is embedded as is. Edits and publication
//! append facts through the same code as the API (`crate::incidents::record` with the
//! core's refusals), so a page refuses exactly what the API refuses.

use std::collections::HashMap;

use aftermath_core::{
    draft_postmortem, postmortem_edit_refusal, publish_refusal, render_html_fragment,
    render_markdown, FactBody, Incident, IncidentStatus, PostmortemDraft, PostmortemEdited,
    PostmortemPublished, PostmortemSection, PublishedRevision,
};
use aftermath_store::Scope;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup, PreEscaped};
use serde::Deserialize;
use uuid::Uuid;

use super::format::timestamp;
use super::session::SameOrigin;
use super::{html_response, layout, Page, PageCaller, PageError};
use crate::incidents::{load_incident, record, suspect_changes, Action, MAX_TEXT_BYTES};
use crate::postmortem::{edit_action_name, section_named};
use crate::request::text_field;
use crate::{ApiError, AppState};

/// Where the core's fragment closes its header (the title) and each section: the edit
/// form of the title goes after the first, each section's after its own closing tag.
/// Every text inside the fragment is escaped, so these markers cannot come from content.
const HEADER_END: &str = "</header>\n";
const SECTION_END: &str = "</section>\n";

fn postmortem_href(incident_id: Uuid) -> String {
    format!("/incidents/{incident_id}/postmortem")
}

fn revision_href(incident_id: Uuid, number: u32) -> String {
    format!("/incidents/{incident_id}/postmortem/revisions/{number}")
}

/// Whether the page is the print view (`?print=1`): the document without the forms.
fn print_view(
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<bool, PageError> {
    let Query(params) = query.map_err(|rejection| {
        PageError::bad_request(format!("unreadable query: {}", rejection.body_text()))
    })?;
    if let Some(unknown) = params.keys().find(|key| key.as_str() != "print") {
        return Err(PageError::bad_request(format!(
            "unknown parameter {unknown:?}; use print=1 for the print view"
        )));
    }
    match params.get("print").map(|value| value.trim()) {
        None | Some("" | "0") => Ok(false),
        Some("1") => Ok(true),
        Some(other) => Err(PageError::bad_request(format!(
            "print: {other:?} is not 1 or 0"
        ))),
    }
}

/// The incident and the suspect changes its draft is made from.
async fn incident_and_changes(
    state: &AppState,
    id: &str,
) -> Result<(Incident, Vec<aftermath_core::Change>), PageError> {
    let incident = load_incident(state, id).await?;
    let changes = suspect_changes(state, &incident).await?;
    Ok((incident, changes))
}

/// `GET /incidents/{id}/postmortem[?print=1]`
pub(crate) async fn show(
    State(state): State<AppState>,
    caller: PageCaller,
    Path(id): Path<String>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    let page = async {
        let print = print_view(query)?;
        let (incident, changes) = incident_and_changes(&state, &id).await?;
        let manages = caller.0.has(Scope::Manage) && !print;
        Ok(draft_page(&incident, &changes, manages, print, None))
    };
    caller.render(page.await)
}

/// `GET /incidents/{id}/postmortem/markdown`: the live draft as Markdown, shown as text
/// so it can be read and copied in the browser (the API's `?format=md` needs a bearer
/// token, which a browser session does not send).
pub(crate) async fn markdown(
    State(state): State<AppState>,
    caller: PageCaller,
    Path(id): Path<String>,
) -> Response {
    match incident_and_changes(&state, &id).await {
        Ok((incident, changes)) => {
            markdown_response(incident.id, None, &draft_postmortem(&incident, &changes))
        }
        Err(error) => caller.render(Err(error)),
    }
}

/// `GET /incidents/{id}/postmortem/revisions/{n}/markdown`
pub(crate) async fn revision_markdown(
    State(state): State<AppState>,
    caller: PageCaller,
    Path((id, number)): Path<(String, String)>,
) -> Response {
    match published_revision(&state, &id, &number).await {
        Ok((incident, revision)) => {
            markdown_response(incident.id, Some(revision.number), &revision.draft)
        }
        Err(error) => caller.render(Err(error)),
    }
}

fn markdown_response(
    incident_id: Uuid,
    revision: Option<u32>,
    draft: &PostmortemDraft,
) -> Response {
    let file_name = match revision {
        Some(number) => format!("postmortem-{incident_id}-r{number}.md"),
        None => format!("postmortem-{incident_id}.md"),
    };
    (
        [
            // Plain text rather than text/markdown, which browsers download instead of showing.
            (header::CONTENT_TYPE, "text/plain; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("inline; filename=\"{file_name}\""),
            ),
        ],
        render_markdown(draft),
    )
        .into_response()
}

/// `GET /incidents/{id}/postmortem/revisions/{n}[?print=1]`
pub(crate) async fn revision(
    State(state): State<AppState>,
    caller: PageCaller,
    Path((id, number)): Path<(String, String)>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    let page = async {
        let print = print_view(query)?;
        let (incident, revision) = published_revision(&state, &id, &number).await?;
        Ok(revision_page(&incident, &revision, print))
    };
    caller.render(page.await)
}

/// The incident and its published revision `number`; a 404 page names what exists.
async fn published_revision(
    state: &AppState,
    id: &str,
    number: &str,
) -> Result<(Incident, PublishedRevision), PageError> {
    let incident = load_incident(state, id).await?;
    let published = match incident.postmortem_revisions.len() {
        0 => "nothing is published yet".to_owned(),
        1 => "only revision 1 is published".to_owned(),
        count => format!("revisions 1 to {count} are published"),
    };
    let revision = number
        .trim()
        .parse::<u32>()
        .ok()
        .and_then(|wanted| {
            incident
                .postmortem_revisions
                .iter()
                .find(|revision| revision.number == wanted)
        })
        .cloned()
        .ok_or_else(|| {
            PageError::new(
                StatusCode::NOT_FOUND,
                format!("the post-mortem of this incident has no revision {number:?}; {published}"),
            )
        })?;
    Ok((incident, revision))
}

/// The section edit form: the new text, or `revert=1` (the "use generated text" button)
/// to hand the section back to the generated text.
#[derive(Deserialize)]
pub(crate) struct SectionForm {
    #[serde(default)]
    text: String,
    revert: Option<String>,
}

/// The publish form: the revision number the button offered, so a second click of a
/// form already submitted (a double click, a reload) does not publish another revision.
#[derive(Deserialize)]
pub(crate) struct PublishForm {
    revision: Option<String>,
}

/// `POST /incidents/{id}/postmortem/sections/{key}` (form: `text`, `revert`)
pub(crate) async fn edit_section(
    State(state): State<AppState>,
    _same_origin: SameOrigin,
    caller: PageCaller,
    Path((id, key)): Path<(String, String)>,
    form: Result<Form<SectionForm>, FormRejection>,
) -> Response {
    if let Err(refused) = require_manage(&caller) {
        return caller.render(Err(refused));
    }
    let prepared = async {
        let Form(form) = form.map_err(|rejection| {
            PageError::bad_request(format!("unreadable form: {}", rejection.body_text()))
        })?;
        let section = section_named(&key)?;
        let incident = load_incident(&state, &id).await?;
        let action = section_action(&caller, &incident, section, form);
        Ok::<_, PageError>((incident, action))
    };
    match prepared.await {
        Ok((incident, action)) => submit(&state, &caller, incident, action).await,
        Err(error) => caller.render(Err(error)),
    }
}

/// What the form asks for, checked as the API checks a `PUT` (or a `DELETE` to revert).
fn section_action(
    caller: &PageCaller,
    incident: &Incident,
    section: PostmortemSection,
    form: SectionForm,
) -> Result<Action, ApiError> {
    let revert = form.revert.as_deref().is_some_and(|value| value == "1");
    let text = if revert {
        None
    } else {
        // Browsers send a textarea's line breaks as CRLF; the text is stored as typed,
        // with the line breaks every other client sends, so an unchanged resubmission is
        // recognised as "already says that".
        let text = form.text.replace("\r\n", "\n");
        text_field("text", &text, MAX_TEXT_BYTES)?;
        if section == PostmortemSection::Title && text.trim().contains('\n') {
            return Err(ApiError::bad_request(
                "invalid_body",
                "text: the title is one line",
            ));
        }
        Some(text)
    };
    Ok(Action {
        name: edit_action_name(section, revert),
        refusal: postmortem_edit_refusal(incident, section, text.as_deref()),
        body: FactBody::PostmortemEdited(PostmortemEdited {
            incident_id: incident.id,
            actor: caller.0.name.clone(),
            section,
            text,
        }),
    })
}

/// `POST /incidents/{id}/postmortem/publish` (form: `revision`)
pub(crate) async fn publish(
    State(state): State<AppState>,
    _same_origin: SameOrigin,
    caller: PageCaller,
    Path(id): Path<String>,
    form: Result<Form<PublishForm>, FormRejection>,
) -> Response {
    if let Err(refused) = require_manage(&caller) {
        return caller.render(Err(refused));
    }
    let prepared = async {
        let Form(form) = form.map_err(|rejection| {
            PageError::bad_request(format!("unreadable form: {}", rejection.body_text()))
        })?;
        let incident = load_incident(&state, &id).await?;
        let offered = form
            .revision
            .as_deref()
            .and_then(|number| number.trim().parse::<u32>().ok());
        let already_published = offered.is_some_and(|number| {
            incident
                .postmortem_revisions
                .iter()
                .any(|revision| revision.number >= number)
        });
        // The fold must not read other partitions, so the fact carries what the manager saw.
        let suspect_changes = suspect_changes(&state, &incident).await?;
        let action = Action {
            name: "postmortem-publish",
            refusal: publish_refusal(&incident),
            body: FactBody::PostmortemPublished(PostmortemPublished {
                incident_id: incident.id,
                actor: caller.0.name.clone(),
                suspect_changes,
            }),
        };
        Ok::<_, PageError>((incident, action, already_published))
    };
    match prepared.await {
        Ok((incident, _, true)) => Redirect::to(&postmortem_href(incident.id)).into_response(),
        Ok((incident, action, false)) => submit(&state, &caller, incident, Ok(action)).await,
        Err(error) => caller.render(Err(error)),
    }
}

/// A 403 page unless the session's token may manage post-mortems.
fn require_manage(caller: &PageCaller) -> Result<(), PageError> {
    if caller.0.has(Scope::Manage) {
        Ok(())
    } else {
        Err(PageError::new(
            StatusCode::FORBIDDEN,
            format!(
                "token {:?} lacks the manage scope; only managers edit and publish post-mortems",
                caller.0.name
            ),
        ))
    }
}

/// Appends the action as the API does, then 303 back to the draft. A refusal (409) or an
/// invalid text (400) shows the draft again with the reason in `p#form-error`.
async fn submit(
    state: &AppState,
    caller: &PageCaller,
    incident: Incident,
    action: Result<Action, ApiError>,
) -> Response {
    // Forms carry no Idempotency-Key; each submission is a new request, as a browser means it.
    let outcome = match action {
        Ok(action) => record(state, &caller.0, &incident, &HeaderMap::new(), action).await,
        Err(invalid) => Err(invalid),
    };
    let refused = match outcome {
        Ok(_) => return Redirect::to(&postmortem_href(incident.id)).into_response(),
        Err(refused)
            if refused.status == StatusCode::CONFLICT
                || refused.status == StatusCode::BAD_REQUEST =>
        {
            refused
        }
        Err(error) => return caller.render(Err(error.into())),
    };
    tracing::info!(status = refused.status.as_u16(), detail = %refused.detail, "post-mortem form refused");
    let changes = match suspect_changes(state, &incident).await {
        Ok(changes) => changes,
        Err(error) => return caller.render(Err(error.into())),
    };
    let page = draft_page(&incident, &changes, true, false, Some(&refused.detail));
    html_response(
        refused.status,
        layout(&page.title, Some(&caller.0), page.main),
    )
}

/// The live draft: the toolbar, the document (with a manager's edit forms between its
/// sections), publishing and the published revisions. `manages` shows the forms.
fn draft_page(
    incident: &Incident,
    changes: &[aftermath_core::Change],
    manages: bool,
    print: bool,
    error: Option<&str>,
) -> Page {
    let draft = draft_postmortem(incident, changes);
    let href = postmortem_href(incident.id);
    let document = if manages {
        with_edit_forms(&render_html_fragment(&draft), &draft, incident)
    } else {
        PreEscaped(render_html_fragment(&draft))
    };
    let main = html! {
        (toolbar(incident, &href, &format!("{href}/markdown"), print, &href))
        @if let Some(error) = error {
            p #form-error role="alert" { (error) }
        }
        (document)
        @if !print {
            @if manages {
                (publish_panel(incident))
            } @else {
                p #manage-note.none {
                    "Only managers (a token with the manage scope) edit and publish post-mortems."
                }
            }
            (revisions(incident))
        }
    };
    Page {
        title: format!("Post-mortem: {}", draft.title),
        main,
    }
}

/// A published revision, labelled as frozen, with the way back to the live draft.
fn revision_page(incident: &Incident, revision: &PublishedRevision, print: bool) -> Page {
    let href = revision_href(incident.id, revision.number);
    let main = html! {
        (toolbar(incident, &href, &format!("{href}/markdown"), print, &postmortem_href(incident.id)))
        p #revision-label {
            strong { "Revision " (revision.number) } ", published by " (revision.by) " "
            (timestamp(revision.at)) ". Frozen as published: later changes to the incident "
            "show in the live draft, never here."
        }
        (PreEscaped(render_html_fragment(&revision.draft)))
    };
    Page {
        title: format!(
            "Post-mortem revision {}: {}",
            revision.number, revision.draft.title
        ),
        main,
    }
}

/// Above the document: back to the incident (and to the live draft, from a revision),
/// the incident's current status, the Markdown and print links. `page` is this page's
/// path, for the print view's link; `draft` the live draft's.
fn toolbar(incident: &Incident, page: &str, markdown: &str, print: bool, draft: &str) -> Markup {
    let status = incident.status.as_str();
    html! {
        div.pm-toolbar {
            p.pm-back {
                a #back-to-incident href={ "/incidents/" (incident.id) } { "← Incident: " (incident.title) }
                @if page != draft {
                    " · " a #live-draft-link href=(draft) { "Live draft" }
                }
            }
            p.pm-incident-status {
                "Incident status "
                span #incident-status .badge.{ "status-" (status) } { (status) }
            }
            p.pm-links {
                a #postmortem-markdown href=(markdown) { "Markdown" }
                @if print {
                    a #postmortem-print href=(page) { "Leave the print view" }
                } @else {
                    a #postmortem-print href={ (page) "?print=1" } { "Print view" }
                }
            }
            @if print {
                p #print-hint {
                    "Print view: use your browser's Print command (Ctrl+P or ⌘P) to print or "
                    "save as PDF."
                }
            }
        }
    }
}

/// The core's fragment with each editable section's form after it, and the title's after
/// the header. Should the fragment's shape ever differ from what the markers expect, the
/// forms that found no place follow the document rather than going missing.
fn with_edit_forms(fragment: &str, draft: &PostmortemDraft, incident: &Incident) -> Markup {
    let mut page = String::with_capacity(fragment.len() * 2);
    let mut rest = fragment;
    let mut unplaced: Vec<PostmortemSection> = Vec::new();
    let anchors = std::iter::once((PostmortemSection::Title, HEADER_END)).chain(
        draft
            .sections
            .iter()
            .map(|section| (section.key, SECTION_END)),
    );
    for (section, marker) in anchors {
        match rest.find(marker) {
            Some(at) => {
                let (before, after) = rest.split_at(at + marker.len());
                page.push_str(before);
                rest = after;
                if section.is_editable() {
                    page.push_str(&edit_form(incident, section).into_string());
                }
            }
            None if section.is_editable() => unplaced.push(section),
            None => {}
        }
    }
    page.push_str(rest);
    for section in unplaced {
        page.push_str(&edit_form(incident, section).into_string());
    }
    PreEscaped(page)
}

/// `details.edit-section`: the section's form, pre-filled with the person's text when
/// the section was written by someone, with a button back to the generated text.
fn edit_form(incident: &Incident, section: PostmortemSection) -> Markup {
    let key = section.key();
    let edit = incident.postmortem_edits.get(&section);
    let field = format!("edit-{key}");
    let rows = if section == PostmortemSection::Title {
        2
    } else {
        8
    };
    html! {
        details.edit-section data-section=(key) {
            summary { "Edit “" (section.heading()) "”" }
            form.edit-section-form method="post"
                action={ (postmortem_href(incident.id)) "/sections/" (key) } {
                label for=(field) {
                    @if section == PostmortemSection::Title {
                        "The title, one line; it replaces the incident's title in the post-mortem."
                    } @else {
                        "Markdown (paragraphs, ### headings, - lists, - [ ] checklists); "
                        "it replaces the generated text."
                    }
                }
                textarea #(field) name="text" rows=(rows) required {
                    @if let Some(edit) = edit { (edit.text) }
                }
                div.edit-actions {
                    button type="submit" { "Save" }
                    @if edit.is_some() {
                        button.revert type="submit" name="revert" value="1" formnovalidate {
                            "Use generated text"
                        }
                    }
                }
            }
        }
    }
}

/// `section#publish-panel`: the publish form once the incident is resolved, else why not.
fn publish_panel(incident: &Incident) -> Markup {
    let next = incident.postmortem_revisions.len() + 1;
    html! {
        section #publish-panel {
            h2 { "Publish" }
            @if let Some(refusal) = publish_refusal(incident) {
                p #publish-blocked {
                    "Publishing waits for the incident to be resolved: " (refusal) "."
                }
            } @else {
                form #publish method="post" action={ (postmortem_href(incident.id)) "/publish" } {
                    input type="hidden" name="revision" value=(next);
                    p.publish-explanation {
                        "Publishing freezes this draft as revision " (next)
                        " (later changes never alter it) and "
                        @if incident.status == IncidentStatus::Closed {
                            "keeps the incident closed."
                        } @else {
                            "closes the incident."
                        }
                    }
                    button #publish-button type="submit" { "Publish revision " (next) }
                }
            }
        }
    }
}

/// `section#revisions`: every published revision, oldest first.
fn revisions(incident: &Incident) -> Markup {
    html! {
        section #revisions {
            h2 { "Published revisions" }
            @if incident.postmortem_revisions.is_empty() {
                p #no-revisions.none { "Nothing published yet." }
            } @else {
                ol {
                    @for revision in &incident.postmortem_revisions {
                        li.revision data-number=(revision.number) {
                            a.revision-link href=(revision_href(incident.id, revision.number)) {
                                "Revision " (revision.number)
                            }
                            " — published by " span.revision-by { (revision.by) } ", "
                            (timestamp(revision.at))
                        }
                    }
                }
            }
        }
    }
}
