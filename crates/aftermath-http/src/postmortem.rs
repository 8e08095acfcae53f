//! Post-mortems over HTTP: the live draft and its published revisions as Markdown, JSON or
//! HTML (content negotiation), a manager's section edits, and publication.
//!
//! Drafts are made when read, from the incident as folded and the suspect changes joined
//! here; a published revision was frozen by the fold and is served as stored.

use std::collections::HashMap;

use aftermath_core::{
    draft_postmortem, postmortem_edit_refusal, publish_refusal, render_html_document,
    render_markdown, FactBody, PostmortemDraft, PostmortemEdited, PostmortemPublished,
    PostmortemSection,
};
use aftermath_store::Scope;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::ErrorBody;
use crate::incidents::{load_incident, record, suspect_changes, Action, MAX_TEXT_BYTES};
use crate::openapi::IdempotencyKey;
use crate::request::{body_bytes, json_body, text_field};
use crate::views::{ResponderAnswer, RevisionSummary};
use crate::{ApiError, AppState};

/// The forms a post-mortem is served in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rendering {
    Markdown,
    Json,
    Html,
}

/// What `?format=` accepts, for the error that lists them.
const FORMATS: &str = "md, json, html";

/// The media types offered, in the order preferred when the client is indifferent
/// (`*/*`, no `Accept`): Markdown is what people paste into a wiki or a review.
const OFFERED: [(Rendering, &str, &str); 3] = [
    (Rendering::Markdown, "text", "markdown"),
    (Rendering::Html, "text", "html"),
    (Rendering::Json, "application", "json"),
];

impl Rendering {
    /// `?format=` when given (it wins: a link can name its form), else the `Accept` header.
    fn requested(
        query: Result<Query<HashMap<String, String>>, QueryRejection>,
        headers: &HeaderMap,
    ) -> Result<Self, ApiError> {
        let Query(params) = query
            .map_err(|rejection| ApiError::bad_request("invalid_query", rejection.body_text()))?;
        if let Some(unknown) = params.keys().find(|key| key.as_str() != "format") {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("unknown parameter {unknown:?}; use format"),
            ));
        }
        match params.get("format").map(|format| format.trim()) {
            Some("md") => Ok(Rendering::Markdown),
            Some("json") => Ok(Rendering::Json),
            Some("html") => Ok(Rendering::Html),
            Some(other) => Err(ApiError::bad_request(
                "invalid_query",
                format!("format: {other:?} is not one of {FORMATS}"),
            )),
            None => Ok(Self::negotiate(
                headers
                    .get(header::ACCEPT)
                    .and_then(|value| value.to_str().ok()),
            )),
        }
    }

    /// The best offered form for an `Accept` header (RFC 9110 §12.5.1): the highest
    /// quality, then the most specific range, then the range the client listed first.
    /// Nothing acceptable still gets Markdown: a readable answer beats a bare 406.
    fn negotiate(accept: Option<&str>) -> Self {
        let ranges: Vec<MediaRange> = accept
            .unwrap_or_default()
            .split(',')
            .filter_map(MediaRange::parse)
            .collect();
        OFFERED
            .into_iter()
            .filter_map(|(rendering, kind, subtype)| {
                Some((rendering, Preference::of(&ranges, kind, subtype)?))
            })
            .filter(|(_, preference)| preference.quality > 0)
            // `max_by_key` keeps the last of equals: reversed, the first offered wins a tie.
            .rev()
            .max_by_key(|(_, preference)| *preference)
            .map_or(Rendering::Markdown, |(rendering, _)| rendering)
    }

    fn respond(self, draft: &PostmortemDraft) -> Response {
        let mut response = match self {
            Rendering::Markdown => (
                [(header::CONTENT_TYPE, "text/markdown; charset=utf-8")],
                render_markdown(draft),
            )
                .into_response(),
            Rendering::Json => Json(draft).into_response(),
            Rendering::Html => (
                [
                    (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                    // Every text is escaped already; this is the second lock on the door
                    // for alert text that comes from outside. The page's only style is inline.
                    (
                        header::CONTENT_SECURITY_POLICY,
                        "default-src 'none'; style-src 'unsafe-inline'",
                    ),
                ],
                render_html_document(draft),
            )
                .into_response(),
        };
        let headers = response.headers_mut();
        headers.insert(header::VARY, HeaderValue::from_static("Accept"));
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        response
    }
}

/// How much a client wants one offered type, in the order that decides: quality, then
/// how precisely it was named, then how early in the header.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Preference {
    quality: u16,
    specificity: u8,
    earlier: std::cmp::Reverse<usize>,
}

impl Preference {
    /// From the most specific range that matches `kind/subtype`, if one does.
    fn of(ranges: &[MediaRange], kind: &str, subtype: &str) -> Option<Self> {
        ranges
            .iter()
            .enumerate()
            .filter_map(|(position, range)| {
                Some(Preference {
                    quality: range.quality,
                    specificity: range.specificity(kind, subtype)?,
                    earlier: std::cmp::Reverse(position),
                })
            })
            .max_by_key(|preference| (preference.specificity, preference.earlier))
    }
}

/// One element of an `Accept` header, such as `text/html;q=0.9`.
struct MediaRange {
    kind: String,
    subtype: String,
    /// The `q` parameter in thousandths (0 to 1000).
    quality: u16,
}

impl MediaRange {
    fn parse(text: &str) -> Option<Self> {
        let mut parts = text.split(';');
        let (kind, subtype) = parts.next()?.trim().split_once('/')?;
        let quality = parts
            .filter_map(|parameter| parameter.split_once('='))
            .find(|(name, _)| name.trim().eq_ignore_ascii_case("q"))
            .map_or(1000, |(_, value)| {
                // An unreadable weight is ignored rather than failing the request.
                value
                    .trim()
                    .parse::<f32>()
                    .map_or(1000, |q| (q.clamp(0.0, 1.0) * 1000.0).round() as u16)
            });
        Some(Self {
            kind: kind.trim().to_ascii_lowercase(),
            subtype: subtype.trim().to_ascii_lowercase(),
            quality,
        })
    }

    /// How precisely this range names `kind/subtype` (2 exact, 1 `kind/*`, 0 `*/*`), or
    /// None when it does not match it.
    fn specificity(&self, kind: &str, subtype: &str) -> Option<u8> {
        match (self.kind.as_str(), self.subtype.as_str()) {
            ("*", "*") => Some(0),
            (k, "*") if k == kind => Some(1),
            (k, s) if k == kind && s == subtype => Some(2),
            _ => None,
        }
    }
}

/// `GET /v1/incidents/{id}/postmortem`: the live draft.
#[utoipa::path(get, path = "/v1/incidents/{id}/postmortem", tag = "read", operation_id = "postmortem",
    security(("bearer" = ["read"])),
    params(
        ("id" = String, Path, description = "Incident id"),
        ("format" = Option<String>, Query, description = "`md`, `json` or `html`; wins over `Accept`"),
        ("Accept" = Option<String>, Header, description = "`application/json`, `text/html`, or anything else for Markdown (the default)"),
    ),
    responses(
        (status = 200, description = "The draft, built from the incident's facts and a manager's edits (`Vary: Accept`). JSON: `incident_id`, `title`, `title_edited`, `incident_status`, `revision` (null), `published` (null), `as_of`, `sections` (`key`, `heading`, `edited` {`by`, `at`}, `blocks` of `type` paragraph, heading, list, checklist, moments, placeholder or markdown)",
            content(
                (String = "text/markdown"),
                (Object = "application/json"),
                (String = "text/html"),
            )),
        (status = 400, description = "Unknown `format` or query parameter", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Token lacks `read`", body = ErrorBody),
        (status = 404, description = "Unknown incident", body = ErrorBody)
    ))]
pub(crate) async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, ApiError> {
    caller.require(Scope::Read)?;
    let rendering = Rendering::requested(query, &headers)?;
    let incident = load_incident(&state, &id).await?;
    let changes = suspect_changes(&state, &incident).await?;
    Ok(rendering.respond(&draft_postmortem(&incident, &changes)))
}

/// `GET /v1/incidents/{id}/postmortem/revisions`: the published revisions, oldest first.
#[utoipa::path(get, path = "/v1/incidents/{id}/postmortem/revisions", tag = "read",
    operation_id = "postmortem_revisions",
    security(("bearer" = ["read"])),
    params(("id" = String, Path, description = "Incident id")),
    responses(
        (status = 200, description = "`[{number, by, at}]`, oldest first; empty before the first publication", body = Vec<RevisionSummary>),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Token lacks `read`", body = ErrorBody),
        (status = 404, description = "Unknown incident", body = ErrorBody)
    ))]
pub(crate) async fn revisions(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(Scope::Read)?;
    let incident = load_incident(&state, &id).await?;
    let revisions: Vec<RevisionSummary> = incident
        .postmortem_revisions
        .iter()
        .map(RevisionSummary::of)
        .collect();
    Ok(Json(revisions).into_response())
}

/// `GET /v1/incidents/{id}/postmortem/revisions/{n}`: a published revision, as frozen.
#[utoipa::path(get, path = "/v1/incidents/{id}/postmortem/revisions/{n}", tag = "read",
    operation_id = "postmortem_revision",
    security(("bearer" = ["read"])),
    params(
        ("id" = String, Path, description = "Incident id"),
        ("n" = u32, Path, description = "Revision number, from 1"),
        ("format" = Option<String>, Query, description = "`md`, `json` or `html`; wins over `Accept`"),
        ("Accept" = Option<String>, Header, description = "`application/json`, `text/html`, or anything else for Markdown (the default)"),
    ),
    responses(
        (status = 200, description = "The revision exactly as published (`Vary: Accept`)",
            content(
                (String = "text/markdown"),
                (Object = "application/json"),
                (String = "text/html"),
            )),
        (status = 400, description = "`n` is not a number, or unknown `format`", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Token lacks `read`", body = ErrorBody),
        (status = 404, description = "Unknown incident, or no such revision", body = ErrorBody)
    ))]
pub(crate) async fn revision(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, number)): Path<(String, String)>,
    headers: HeaderMap,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, ApiError> {
    caller.require(Scope::Read)?;
    let rendering = Rendering::requested(query, &headers)?;
    let wanted: u32 = number.trim().parse().map_err(|_| {
        ApiError::bad_request(
            "invalid_path",
            format!("n: {number:?} is not a revision number (1, 2, …)"),
        )
    })?;
    let incident = load_incident(&state, &id).await?;
    let revision = incident
        .postmortem_revisions
        .iter()
        .find(|revision| revision.number == wanted)
        .ok_or_else(|| {
            let published = match incident.postmortem_revisions.len() {
                0 => "none is published yet".to_owned(),
                1 => "only revision 1 is published".to_owned(),
                count => format!("revisions 1 to {count} are published"),
            };
            ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_revision",
                format!(
                    "n: the post-mortem of incident {id} has no revision {wanted}; {published}"
                ),
            )
        })?;
    Ok(rendering.respond(&revision.draft))
}

/// `PUT /v1/incidents/{id}/postmortem/sections/{name}` body: the section's new text.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SectionRequest {
    /// Markdown (headings, lists, `- [ ]` checklists, paragraphs); the title is one line.
    text: String,
}

/// `POST /v1/incidents/{id}/postmortem/publish` body: nothing (`{}` or empty).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PublishRequest {}

/// Every section key, for errors that list them.
fn section_names() -> String {
    PostmortemSection::ALL
        .iter()
        .map(|section| section.key())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The section a path names (`root-cause` and `root_cause` alike), or 404 listing them.
pub(crate) fn section_named(name: &str) -> Result<PostmortemSection, ApiError> {
    PostmortemSection::parse(name).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_section",
            format!(
                "name: {name:?} is not a post-mortem section; use one of {}",
                section_names()
            ),
        )
    })
}

/// Idempotency keys are scoped by action name (see `responder_fact_id`): one name per
/// section and direction, so a key reused for another section or for a revert is a new
/// request rather than a replay of the first one. In `PostmortemSection::ALL` order.
const WRITE_ACTIONS: [&str; 13] = [
    "postmortem-write:title",
    "postmortem-write:summary",
    "postmortem-write:impact",
    "postmortem-write:detection",
    "postmortem-write:trigger",
    "postmortem-write:timeline",
    "postmortem-write:root_cause",
    "postmortem-write:classification",
    "postmortem-write:resolution",
    "postmortem-write:prevention",
    "postmortem-write:action_items",
    "postmortem-write:lessons_learned",
    "postmortem-write:success_criteria",
];
const REVERT_ACTIONS: [&str; 13] = [
    "postmortem-revert:title",
    "postmortem-revert:summary",
    "postmortem-revert:impact",
    "postmortem-revert:detection",
    "postmortem-revert:trigger",
    "postmortem-revert:timeline",
    "postmortem-revert:root_cause",
    "postmortem-revert:classification",
    "postmortem-revert:resolution",
    "postmortem-revert:prevention",
    "postmortem-revert:action_items",
    "postmortem-revert:lessons_learned",
    "postmortem-revert:success_criteria",
];

pub(crate) fn edit_action_name(section: PostmortemSection, revert: bool) -> &'static str {
    let index = PostmortemSection::ALL
        .iter()
        .position(|candidate| *candidate == section)
        .expect("ALL lists every section");
    if revert {
        REVERT_ACTIONS[index]
    } else {
        WRITE_ACTIONS[index]
    }
}

/// `PUT /v1/incidents/{id}/postmortem/sections/{name}` `{"text"}`
#[utoipa::path(put, path = "/v1/incidents/{id}/postmortem/sections/{name}", tag = "manage",
    operation_id = "write_postmortem_section",
    security(("bearer" = ["manage"])),
    params(
        ("id" = String, Path, description = "Incident id"),
        ("name" = String, Path, description = "`title`, `summary`, `impact`, `detection`, `trigger`, `timeline`, `root_cause` (or `root-cause`), `classification`, `resolution`, `prevention`, `action_items`, `lessons_learned`; `success_criteria` is computed and refused with 409"),
        IdempotencyKey,
    ),
    request_body = SectionRequest,
    responses(
        (status = 200, description = "Written and folded: the draft shows this text for the section from now on", body = ResponderAnswer),
        (status = 202, description = "On the log, not folded yet", body = ResponderAnswer),
        (status = 400, description = "Blank, too long (64 KiB), or a title of several lines", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Token lacks `manage`", body = ErrorBody),
        (status = 404, description = "Unknown incident, or unknown section (`unknown_section`; the detail lists the names)", body = ErrorBody),
        (status = 409, description = "`success_criteria`, or the section already says exactly that", body = ErrorBody),
        (status = 503, description = "The log is unavailable; retry", body = ErrorBody)
    ))]
pub(crate) async fn write_section(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let token = caller.require(Scope::Manage)?;
    let section = section_named(&name)?;
    let request: SectionRequest = json_body(&body_bytes(body)?)?;
    text_field("text", &request.text, MAX_TEXT_BYTES)?;
    if section == PostmortemSection::Title && request.text.trim().contains('\n') {
        return Err(ApiError::bad_request(
            "invalid_body",
            "text: the title is one line",
        ));
    }
    let incident = load_incident(&state, &id).await?;
    let refusal = postmortem_edit_refusal(&incident, section, Some(&request.text));
    let action = Action {
        name: edit_action_name(section, false),
        body: FactBody::PostmortemEdited(PostmortemEdited {
            incident_id: incident.id,
            actor: token.name.clone(),
            section,
            text: Some(request.text),
        }),
        refusal,
    };
    record(&state, token, &incident, &headers, action).await
}

/// `DELETE /v1/incidents/{id}/postmortem/sections/{name}`: back to the generated text.
#[utoipa::path(delete, path = "/v1/incidents/{id}/postmortem/sections/{name}", tag = "manage",
    operation_id = "revert_postmortem_section",
    security(("bearer" = ["manage"])),
    params(
        ("id" = String, Path, description = "Incident id"),
        ("name" = String, Path, description = "A section key, as for `PUT`"),
        IdempotencyKey,
    ),
    responses(
        (status = 200, description = "Handed back to the generated text, and folded", body = ResponderAnswer),
        (status = 202, description = "On the log, not folded yet", body = ResponderAnswer),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Token lacks `manage`", body = ErrorBody),
        (status = 404, description = "Unknown incident, or unknown section (`unknown_section`; the detail lists the names)", body = ErrorBody),
        (status = 409, description = "The section has no edit to revert, or is `success_criteria`", body = ErrorBody),
        (status = 503, description = "The log is unavailable; retry", body = ErrorBody)
    ))]
pub(crate) async fn revert_section(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let token = caller.require(Scope::Manage)?;
    let section = section_named(&name)?;
    let incident = load_incident(&state, &id).await?;
    let refusal = postmortem_edit_refusal(&incident, section, None);
    let action = Action {
        name: edit_action_name(section, true),
        body: FactBody::PostmortemEdited(PostmortemEdited {
            incident_id: incident.id,
            actor: token.name.clone(),
            section,
            text: None,
        }),
        refusal,
    };
    record(&state, token, &incident, &headers, action).await
}

/// `POST /v1/incidents/{id}/postmortem/publish`: freezes the draft as the next revision
/// and closes the incident.
#[utoipa::path(post, path = "/v1/incidents/{id}/postmortem/publish", tag = "manage",
    operation_id = "publish_postmortem",
    security(("bearer" = ["manage"])),
    params(("id" = String, Path, description = "Incident id"), IdempotencyKey),
    request_body(content = PublishRequest, description = "Nothing: `{}` or an empty body"),
    responses(
        (status = 200, description = "Published and folded: `revision` is the new revision's number; the incident is `closed`", body = ResponderAnswer),
        (status = 202, description = "On the log, not folded yet (no `revision` yet: read `postmortem.revisions` of the incident later)", body = ResponderAnswer),
        (status = 400, description = "A body other than `{}`", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Token lacks `manage`", body = ErrorBody),
        (status = 404, description = "Unknown incident", body = ErrorBody),
        (status = 409, description = "The incident is still open: resolve it first", body = ErrorBody),
        (status = 503, description = "The log is unavailable; retry", body = ErrorBody)
    ))]
pub(crate) async fn publish(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let token = caller.require(Scope::Manage)?;
    let PublishRequest {} = json_body(&body_bytes(body)?)?;
    let incident = load_incident(&state, &id).await?;
    // The fold must not read other partitions, so the fact carries what the manager saw.
    let suspect_changes = suspect_changes(&state, &incident).await?;
    let action = Action {
        name: "postmortem-publish",
        body: FactBody::PostmortemPublished(PostmortemPublished {
            incident_id: incident.id,
            actor: token.name.clone(),
            suspect_changes,
        }),
        refusal: publish_refusal(&incident),
    };
    record(&state, token, &incident, &headers, action).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_headers_pick_the_form_people_expect() {
        let cases = [
            (None, Rendering::Markdown),
            (Some(""), Rendering::Markdown),
            (Some("*/*"), Rendering::Markdown),
            (Some("text/*"), Rendering::Markdown),
            (Some("application/xml"), Rendering::Markdown),
            (Some("application/json"), Rendering::Json),
            (Some("Application/JSON; charset=utf-8"), Rendering::Json),
            (Some("text/html"), Rendering::Html),
            // What a browser sends.
            (
                Some("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
                Rendering::Html,
            ),
            (Some("application/json;q=0.5, text/html"), Rendering::Html),
            (Some("text/html, application/json"), Rendering::Html),
            (Some("application/json, text/html"), Rendering::Json),
            (Some("text/markdown;q=0.1, */*"), Rendering::Html),
            (Some("application/json;q=0, */*"), Rendering::Markdown),
            (Some("text/html;q=0, text/*"), Rendering::Markdown),
            (Some("application/json;q=bogus"), Rendering::Json),
        ];
        for (accept, expected) in cases {
            assert_eq!(Rendering::negotiate(accept), expected, "Accept: {accept:?}");
        }
    }

    #[test]
    fn every_section_has_its_own_action_names() {
        for (index, section) in PostmortemSection::ALL.into_iter().enumerate() {
            assert_eq!(
                edit_action_name(section, false),
                format!("postmortem-write:{}", section.key())
            );
            assert_eq!(
                edit_action_name(section, true),
                format!("postmortem-revert:{}", section.key())
            );
            assert_eq!(WRITE_ACTIONS[index], edit_action_name(section, false));
        }
    }

    #[test]
    fn unknown_sections_are_answered_with_the_list_of_names() {
        assert_eq!(
            section_named("root-cause").unwrap(),
            PostmortemSection::RootCause
        );
        let error = section_named("appendix").unwrap_err();
        assert_eq!(error.status, StatusCode::NOT_FOUND);
        assert!(error.detail.contains("\"appendix\""), "{}", error.detail);
        for section in PostmortemSection::ALL {
            assert!(error.detail.contains(section.key()), "{}", error.detail);
        }
    }
}
