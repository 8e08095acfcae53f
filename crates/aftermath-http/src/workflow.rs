//! The responder workflow beyond ack/note/resolve, after the SOP's "Production
//! Debugging": mitigate, reopen, severity, commander, five whys, root cause, impact, action
//! items and links. Each request is checked against the read model for a clear 404/409 and
//! appended as one fact; the fold settles races in log order.

use aftermath_core::{
    classification_refusal, ActionItemAdded, ActionItemDone, ActionItemKind,
    ClassificationOverridden, CommanderAssigned, ErrorClass, FactBody, ImpactRecorded, Incident,
    IncidentStatus, LinkAdded, Mitigated, Reopened, RootCauseStated, Severity, SeverityChanged,
    WhyAdded, WhyAmended,
};
use aftermath_store::{Scope, TokenInfo};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::ErrorBody;
use crate::incidents::{load_incident, record, Action, MAX_TEXT_BYTES};
use crate::openapi::IdempotencyKey;
use crate::request::{body_bytes, json_body, text_field};
use crate::{now, ApiError, AppState};

/// Reads the request, loads the incident, builds the action and records it: every
/// responder endpoint goes through here.
pub(crate) async fn act<R: DeserializeOwned>(
    state: &AppState,
    caller: &Caller,
    id: &str,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    build: impl FnOnce(&Incident, R, &TokenInfo) -> Result<Action, ApiError>,
) -> Result<Response, ApiError> {
    let token = caller.require(Scope::Respond)?;
    let request: R = json_body(&body_bytes(body)?)?;
    let incident = load_incident(state, id).await?;
    let action = build(&incident, request, token)?;
    record(state, token, &incident, headers, action).await
}

fn optional_text(field: &str, value: &Option<String>) -> Result<(), ApiError> {
    match value {
        Some(text) => text_field(field, text, MAX_TEXT_BYTES),
        None => Ok(()),
    }
}

/// The refusal for any change to the record of a closed incident.
fn closed(incident: &Incident) -> Option<String> {
    (incident.status == IncidentStatus::Closed).then(|| "incident is closed".to_owned())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MitigateRequest {
    note: Option<String>,
}

/// `POST /v1/incidents/{id}/mitigate` `{"note"?}`
#[utoipa::path(post, path = "/v1/incidents/{id}/mitigate", tag = "respond",
    security(("bearer" = ["respond"])),
    params(("id" = String, Path, description = "Incident id"), IdempotencyKey),
    request_body = MitigateRequest,
    responses(
        (status = 200, description = "Mitigated and folded", body = crate::views::ResponderAnswer),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "Unknown incident", body = ErrorBody),
        (status = 409, description = "Resolved, closed or already mitigated", body = ErrorBody),
    ))]
pub(crate) async fn mitigate(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    act(
        &state,
        &caller,
        &id,
        &headers,
        body,
        |incident, request: MitigateRequest, token| {
            optional_text("note", &request.note)?;
            let refusal = closed(incident).or_else(|| match incident.status {
                IncidentStatus::Resolved => Some("incident is already resolved".to_owned()),
                IncidentStatus::Mitigated => Some(format!(
                    "incident is already mitigated by {}",
                    incident.mitigated_by.as_deref().unwrap_or("someone")
                )),
                _ => None,
            });
            Ok(Action {
                name: "mitigate",
                body: FactBody::Mitigated(Mitigated {
                    incident_id: incident.id,
                    actor: token.name.clone(),
                    note: request.note,
                }),
                refusal,
            })
        },
    )
    .await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReopenRequest {
    reason: Option<String>,
}

/// `POST /v1/incidents/{id}/reopen` `{"reason"?}`: only a resolved incident, within the
/// reopen window after its resolution.
#[utoipa::path(post, path = "/v1/incidents/{id}/reopen", tag = "respond",
    security(("bearer" = ["respond"])),
    params(("id" = String, Path, description = "Incident id"), IdempotencyKey),
    request_body = ReopenRequest,
    responses(
        (status = 200, description = "Reopened and folded", body = crate::views::ResponderAnswer),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "Unknown incident", body = ErrorBody),
        (status = 409, description = "Still open, closed, or resolved longer ago than the reopen window", body = ErrorBody),
    ))]
pub(crate) async fn reopen(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let window = state.reopen_window;
    act(
        &state,
        &caller,
        &id,
        &headers,
        body,
        |incident, request: ReopenRequest, token| {
            optional_text("reason", &request.reason)?;
            let refusal =
                closed(incident).or_else(|| match (incident.status, incident.resolved_at) {
                    (IncidentStatus::Resolved, Some(resolved_at)) => {
                        let age = now().seconds_since(resolved_at);
                        (age as u64 > window.as_secs()).then(|| {
                            format!(
                        "incident was resolved {} minutes ago, longer than the {}-minute reopen \
                         window; a new alert opens a new incident",
                        age / 60,
                        window.as_secs() / 60
                    )
                        })
                    }
                    (status, _) => Some(format!("incident is still open ({})", status.as_str())),
                });
            Ok(Action {
                name: "reopen",
                body: FactBody::Reopened(Reopened {
                    incident_id: incident.id,
                    actor: token.name.clone(),
                    reason: request.reason,
                }),
                refusal,
            })
        },
    )
    .await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SeverityRequest {
    /// `critical`, `error`, `warning` or `info`.
    #[schema(value_type = String)]
    severity: Severity,
    reason: String,
}

/// `POST /v1/incidents/{id}/severity` `{"severity", "reason"}`
#[utoipa::path(post, path = "/v1/incidents/{id}/severity", tag = "respond",
    security(("bearer" = ["respond"])),
    params(("id" = String, Path, description = "Incident id"), IdempotencyKey),
    request_body = SeverityRequest,
    responses(
        (status = 200, description = "Changed and folded", body = crate::views::ResponderAnswer),
        (status = 400, description = "Unknown severity or blank reason", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "Unknown incident", body = ErrorBody),
        (status = 409, description = "Closed, or already that severity", body = ErrorBody),
    ))]
pub(crate) async fn severity(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    act(
        &state,
        &caller,
        &id,
        &headers,
        body,
        |incident, request: SeverityRequest, token| {
            text_field("reason", &request.reason, MAX_TEXT_BYTES)?;
            let refusal = closed(incident).or_else(|| {
                (incident.severity == request.severity)
                    .then(|| format!("incident is already {}", request.severity.as_str()))
            });
            Ok(Action {
                name: "severity",
                body: FactBody::SeverityChanged(SeverityChanged {
                    incident_id: incident.id,
                    actor: token.name.clone(),
                    severity: request.severity,
                    reason: request.reason,
                }),
                refusal,
            })
        },
    )
    .await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CommanderRequest {
    name: String,
}

/// `POST /v1/incidents/{id}/commander` `{"name"}`
#[utoipa::path(post, path = "/v1/incidents/{id}/commander", tag = "respond",
    security(("bearer" = ["respond"])),
    params(("id" = String, Path, description = "Incident id"), IdempotencyKey),
    request_body = CommanderRequest,
    responses(
        (status = 200, description = "Assigned and folded", body = crate::views::ResponderAnswer),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "Unknown incident", body = ErrorBody),
        (status = 409, description = "Closed, or already the commander", body = ErrorBody),
    ))]
pub(crate) async fn commander(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    act(
        &state,
        &caller,
        &id,
        &headers,
        body,
        |incident, request: CommanderRequest, token| {
            text_field("name", &request.name, 200)?;
            let refusal = closed(incident).or_else(|| {
                (incident.commander.as_deref() == Some(request.name.as_str()))
                    .then(|| format!("{} is already the commander", request.name))
            });
            Ok(Action {
                name: "commander",
                body: FactBody::CommanderAssigned(CommanderAssigned {
                    incident_id: incident.id,
                    actor: token.name.clone(),
                    name: request.name,
                }),
                refusal,
            })
        },
    )
    .await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClassificationRequest {
    /// `E101` … `E105`, or `unclassified`.
    code: String,
    reason: String,
}

/// `POST /v1/incidents/{id}/classification` `{"code", "reason"}`: a responder's error
/// class, which wins over the classifier from then on.
#[utoipa::path(post, path = "/v1/incidents/{id}/classification", tag = "respond",
    security(("bearer" = ["respond"])),
    params(("id" = String, Path, description = "Incident id"), IdempotencyKey),
    request_body = ClassificationRequest,
    responses(
        (status = 200, description = "Set and folded", body = crate::views::ResponderAnswer),
        (status = 400, description = "Unknown code or blank reason", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "Unknown incident", body = ErrorBody),
        (status = 409, description = "Closed, or a responder already set this class", body = ErrorBody),
    ))]
pub(crate) async fn classification(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    act(
        &state,
        &caller,
        &id,
        &headers,
        body,
        |incident, request: ClassificationRequest, token| {
            let class = match request.code.trim() {
                code if code.eq_ignore_ascii_case("unclassified") => None,
                code => Some(ErrorClass::parse(code).ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid_body",
                        format!(
                            "code: {code:?} is not one of E101, E102, E103, E104, E105, unclassified"
                        ),
                    )
                })?),
            };
            text_field("reason", &request.reason, MAX_TEXT_BYTES)?;
            let refusal = classification_refusal(incident, class);
            Ok(Action {
                name: "classification",
                body: FactBody::ClassificationOverridden(ClassificationOverridden {
                    incident_id: incident.id,
                    actor: token.name.clone(),
                    class,
                    reason: request.reason,
                }),
                refusal,
            })
        },
    )
    .await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct WhyRequest {
    question: String,
    answer: String,
}

/// `POST /v1/incidents/{id}/whys` `{"question", "answer"}`: the next why.
#[utoipa::path(post, path = "/v1/incidents/{id}/whys", tag = "respond",
    security(("bearer" = ["respond"])),
    params(("id" = String, Path, description = "Incident id"), IdempotencyKey),
    request_body = WhyRequest,
    responses(
        (status = 200, description = "Appended and folded", body = crate::views::ResponderAnswer),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "Unknown incident", body = ErrorBody),
        (status = 409, description = "Closed", body = ErrorBody),
    ))]
pub(crate) async fn add_why(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    act(
        &state,
        &caller,
        &id,
        &headers,
        body,
        |incident, request: WhyRequest, token| {
            text_field("question", &request.question, MAX_TEXT_BYTES)?;
            text_field("answer", &request.answer, MAX_TEXT_BYTES)?;
            Ok(Action {
                name: "why",
                body: FactBody::WhyAdded(WhyAdded {
                    incident_id: incident.id,
                    actor: token.name.clone(),
                    question: request.question,
                    answer: request.answer,
                }),
                refusal: closed(incident),
            })
        },
    )
    .await
}

/// `PUT /v1/incidents/{id}/whys/{n}` `{"question", "answer"}`: amends why `n`; the earlier
/// wording stays in its history.
#[utoipa::path(put, path = "/v1/incidents/{id}/whys/{n}", tag = "respond",
    security(("bearer" = ["respond"])),
    params(("id" = String, Path, description = "Incident id"), ("n" = u32, Path, description = "Why number, from 1"), IdempotencyKey),
    request_body = WhyRequest,
    responses(
        (status = 200, description = "Amended and folded", body = crate::views::ResponderAnswer),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "Unknown incident or why", body = ErrorBody),
        (status = 409, description = "Closed, or the wording is unchanged", body = ErrorBody),
    ))]
pub(crate) async fn amend_why(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, number)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    act(
        &state,
        &caller,
        &id,
        &headers,
        body,
        |incident, request: WhyRequest, token| {
            text_field("question", &request.question, MAX_TEXT_BYTES)?;
            text_field("answer", &request.answer, MAX_TEXT_BYTES)?;
            let why = number
                .parse::<u32>()
                .ok()
                .and_then(|n| incident.whys.iter().find(|why| why.number == n))
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::NOT_FOUND,
                        "unknown_why",
                        format!(
                            "incident has no why {number:?} (it has {})",
                            incident.whys.len()
                        ),
                    )
                })?;
            let unchanged = why.question == request.question && why.answer == request.answer;
            let refusal = closed(incident)
                .or_else(|| unchanged.then(|| format!("why {} already reads so", why.number)));
            Ok(Action {
                name: "why-amend",
                body: FactBody::WhyAmended(WhyAmended {
                    incident_id: incident.id,
                    actor: token.name.clone(),
                    number: why.number,
                    question: request.question,
                    answer: request.answer,
                }),
                refusal,
            })
        },
    )
    .await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RootCauseRequest {
    /// Defaults to the last why's answer.
    text: Option<String>,
}

/// `POST /v1/incidents/{id}/root-cause` `{"text"?}`
#[utoipa::path(post, path = "/v1/incidents/{id}/root-cause", tag = "respond",
    security(("bearer" = ["respond"])),
    params(("id" = String, Path, description = "Incident id"), IdempotencyKey),
    request_body = RootCauseRequest,
    responses(
        (status = 200, description = "Stated and folded", body = crate::views::ResponderAnswer),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "Unknown incident", body = ErrorBody),
        (status = 409, description = "Closed, or no text and no whys to take it from", body = ErrorBody),
    ))]
pub(crate) async fn root_cause(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    act(
        &state,
        &caller,
        &id,
        &headers,
        body,
        |incident, request: RootCauseRequest, token| {
            optional_text("text", &request.text)?;
            let refusal = closed(incident).or_else(|| {
                (request.text.is_none() && incident.whys.is_empty())
                    .then(|| "no root cause given and no whys to take it from".to_owned())
            });
            Ok(Action {
                name: "root-cause",
                body: FactBody::RootCauseStated(RootCauseStated {
                    incident_id: incident.id,
                    actor: token.name.clone(),
                    text: request.text,
                }),
                refusal,
            })
        },
    )
    .await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ImpactRequest {
    summary: String,
    users_affected: Option<u64>,
    failed_requests: Option<u64>,
    #[serde(default)]
    data_loss: bool,
    #[serde(default)]
    customer_facing: bool,
    /// Overrides the downtime derived from the timeline.
    downtime_seconds: Option<u64>,
}

/// `POST /v1/incidents/{id}/impact`
#[utoipa::path(post, path = "/v1/incidents/{id}/impact", tag = "respond",
    security(("bearer" = ["respond"])),
    params(("id" = String, Path, description = "Incident id"), IdempotencyKey),
    request_body = ImpactRequest,
    responses(
        (status = 200, description = "Recorded and folded", body = crate::views::ResponderAnswer),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "Unknown incident", body = ErrorBody),
        (status = 409, description = "Closed", body = ErrorBody),
    ))]
pub(crate) async fn impact(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    act(
        &state,
        &caller,
        &id,
        &headers,
        body,
        |incident, request: ImpactRequest, token| {
            text_field("summary", &request.summary, MAX_TEXT_BYTES)?;
            Ok(Action {
                name: "impact",
                body: FactBody::ImpactRecorded(ImpactRecorded {
                    incident_id: incident.id,
                    actor: token.name.clone(),
                    summary: request.summary,
                    users_affected: request.users_affected,
                    failed_requests: request.failed_requests,
                    data_loss: request.data_loss,
                    customer_facing: request.customer_facing,
                    downtime_seconds: request.downtime_seconds,
                }),
                refusal: closed(incident),
            })
        },
    )
    .await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ActionItemRequest {
    title: String,
    owner: String,
    /// `prevent`, `mitigate` or `process`.
    #[schema(value_type = String)]
    kind: ActionItemKind,
    /// `YYYY-MM-DD`.
    due: Option<String>,
}

fn valid_date(text: &str) -> bool {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(text, format).is_ok()
}

/// `POST /v1/incidents/{id}/action-items` `{"title", "owner", "kind", "due"?}`
#[utoipa::path(post, path = "/v1/incidents/{id}/action-items", tag = "respond",
    security(("bearer" = ["respond"])),
    params(("id" = String, Path, description = "Incident id"), IdempotencyKey),
    request_body = ActionItemRequest,
    responses(
        (status = 200, description = "Added and folded; the item is last in `incident.action_items`", body = crate::views::ResponderAnswer),
        (status = 400, description = "Blank title or owner, unknown kind, bad date", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "Unknown incident", body = ErrorBody),
    ))]
pub(crate) async fn add_action_item(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    act(
        &state,
        &caller,
        &id,
        &headers,
        body,
        |incident, request: ActionItemRequest, token| {
            text_field("title", &request.title, 1000)?;
            text_field("owner", &request.owner, 200)?;
            if let Some(due) = request.due.as_deref().filter(|due| !valid_date(due)) {
                return Err(ApiError::bad_request(
                    "invalid_body",
                    format!("due: {due:?} is not a date (YYYY-MM-DD)"),
                ));
            }
            Ok(Action {
                name: "action-item",
                body: FactBody::ActionItemAdded(ActionItemAdded {
                    incident_id: incident.id,
                    actor: token.name.clone(),
                    // Chosen here and written in the fact, so a replay keeps the same id.
                    action_item_id: Uuid::new_v4(),
                    title: request.title,
                    owner: request.owner,
                    kind: request.kind,
                    due: request.due,
                }),
                refusal: None,
            })
        },
    )
    .await
}

/// `POST /v1/incidents/{id}/action-items/{aid}/done`
#[utoipa::path(post, path = "/v1/incidents/{id}/action-items/{aid}/done", tag = "respond",
    security(("bearer" = ["respond"])),
    params(("id" = String, Path, description = "Incident id"), ("aid" = String, Path, description = "Action item id"), IdempotencyKey),
    responses(
        (status = 200, description = "Done and folded", body = crate::views::ResponderAnswer),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "Unknown incident or action item", body = ErrorBody),
        (status = 409, description = "Already done", body = ErrorBody),
    ))]
pub(crate) async fn action_item_done(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, item)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    act(
        &state,
        &caller,
        &id,
        &headers,
        body,
        |incident, _: serde_json::Map<String, serde_json::Value>, token| {
            let found = Uuid::try_parse(&item)
                .ok()
                .and_then(|aid| incident.action_items.iter().find(|a| a.id == aid))
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::NOT_FOUND,
                        "unknown_action_item",
                        format!("incident has no action item {item:?}"),
                    )
                })?;
            let refusal = found
                .done_by
                .as_ref()
                .map(|by| format!("action item was already done by {by}"));
            Ok(Action {
                name: "action-item-done",
                body: FactBody::ActionItemDone(ActionItemDone {
                    incident_id: incident.id,
                    actor: token.name.clone(),
                    action_item_id: found.id,
                }),
                refusal,
            })
        },
    )
    .await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LinkRequest {
    url: String,
    title: String,
}

/// `POST /v1/incidents/{id}/links` `{"url", "title"}`: a dashboard, a PR, logs.
#[utoipa::path(post, path = "/v1/incidents/{id}/links", tag = "respond",
    security(("bearer" = ["respond"])),
    params(("id" = String, Path, description = "Incident id"), IdempotencyKey),
    request_body = LinkRequest,
    responses(
        (status = 200, description = "Added and folded", body = crate::views::ResponderAnswer),
        (status = 400, description = "Not an http(s) URL, or a blank title", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 404, description = "Unknown incident", body = ErrorBody),
        (status = 409, description = "That URL is already linked", body = ErrorBody),
    ))]
pub(crate) async fn add_link(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    act(
        &state,
        &caller,
        &id,
        &headers,
        body,
        |incident, request: LinkRequest, token| {
            text_field("url", &request.url, 2000)?;
            text_field("title", &request.title, 500)?;
            if !(request.url.starts_with("https://") || request.url.starts_with("http://")) {
                return Err(ApiError::bad_request(
                    "invalid_body",
                    "url: must start with http:// or https://",
                ));
            }
            let refusal = incident
                .links
                .iter()
                .any(|link| link.url == request.url)
                .then(|| format!("{} is already linked", request.url));
            Ok(Action {
                name: "link",
                body: FactBody::LinkAdded(LinkAdded {
                    incident_id: incident.id,
                    actor: token.name.clone(),
                    url: request.url,
                    title: request.title,
                }),
                refusal,
            })
        },
    )
    .await
}

/// An action item with the incident it belongs to.
#[derive(serde::Serialize, ToSchema)]
pub(crate) struct ActionItemView<'a> {
    incident_id: String,
    incident_title: &'a str,
    incident_status: &'static str,
    /// `id`, `title`, `owner`, `kind`, `due`, `added_by`, `added_at`, `done_at`, `done_by`.
    #[schema(value_type = Object)]
    #[serde(flatten)]
    item: &'a aftermath_core::ActionItem,
}

#[derive(serde::Serialize, ToSchema)]
pub(crate) struct ActionItemList<'a> {
    action_items: Vec<ActionItemView<'a>>,
}

/// `GET /v1/action-items?owner=&open=true`: action items across incidents, newest
/// incident first.
#[utoipa::path(get, path = "/v1/action-items", tag = "read",
    security(("bearer" = ["read"])),
    params(
        ("owner" = Option<String>, Query, description = "Only this owner's items"),
        ("open" = Option<bool>, Query, description = "`true`: only items not done; `false`: only done ones"),
    ),
    responses(
        (status = 200, description = "The items", body = ActionItemList),
        (status = 400, description = "Bad query parameter", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Token lacks `read`", body = ErrorBody),
    ))]
pub(crate) async fn list_action_items(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<
        axum::extract::Query<std::collections::HashMap<String, String>>,
        axum::extract::rejection::QueryRejection,
    >,
) -> Result<Response, ApiError> {
    use axum::response::IntoResponse;
    caller.require(Scope::Read)?;
    let axum::extract::Query(params) =
        query.map_err(|rejection| ApiError::bad_request("invalid_query", rejection.body_text()))?;
    if let Some(unknown) = params
        .keys()
        .find(|key| !matches!(key.as_str(), "owner" | "open"))
    {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("unknown parameter {unknown:?}; use owner, open"),
        ));
    }
    let open = match params.get("open").map(String::as_str) {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("open: {other:?} is not true or false"),
            ))
        }
    };
    let owner = params.get("owner");
    let incidents = state
        .store
        .incidents_with_action_items()
        .await
        .map_err(|error| ApiError::internal("listing action items", error))?;
    let action_items = incidents
        .iter()
        .flat_map(|incident| {
            incident
                .action_items
                .iter()
                .map(move |item| ActionItemView {
                    incident_id: incident.id.to_string(),
                    incident_title: &incident.title,
                    incident_status: incident.status.as_str(),
                    item,
                })
        })
        .filter(|view| owner.is_none_or(|owner| &view.item.owner == owner))
        .filter(|view| open.is_none_or(|open| view.item.done_at.is_none() == open))
        .collect();
    Ok(axum::Json(ActionItemList { action_items }).into_response())
}
