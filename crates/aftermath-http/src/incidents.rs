//! The responder API (acknowledge, note, resolve) and the read API (list, show, timeline,
//! status); post-mortems are in `postmortem.rs`.

use std::collections::{BTreeMap, HashMap};

use aftermath_core::{
    responder_fact_id, Acknowledged, Change, Fact, FactBody, Incident, IncidentStatus, NoteAdded,
    Resolved, Timestamp,
};
use aftermath_log::Appended;
use aftermath_store::{IncidentCursor, IncidentQuery, Scope, StatusFilter};
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::error::ErrorBody;
use crate::openapi::IdempotencyKey;
use uuid::Uuid;

use crate::auth::Caller;
use crate::request::{idempotency_key, incident_id, text_field};
use crate::views::{
    IncidentDetail, IncidentPageView, IncidentSummary, ResponderAnswer, TimelineView,
};
use crate::workflow::act;
use crate::{now, ApiError, AppState};

pub(crate) const MAX_TEXT_BYTES: usize = 64 * 1024;
const DEFAULT_PAGE: u32 = 100;
const MAX_PAGE: u32 = 1000;

/// Changes to the incident's service within the change window before it opened. Changes
/// and incidents live on different partitions, so this join is made here, when reading.
pub(crate) async fn suspect_changes(
    state: &AppState,
    incident: &Incident,
) -> Result<Vec<Change>, ApiError> {
    let Some(service) = &incident.service else {
        return Ok(Vec::new());
    };
    let window = time::Duration::try_from(state.change_window).unwrap_or(time::Duration::ZERO);
    let from = Timestamp::from_datetime(incident.opened_at.datetime() - window);
    state
        .store
        .changes_between(service, from, incident.opened_at)
        .await
        .map_err(|error| ApiError::internal("reading changes", error))
}

pub(crate) async fn load_incident(state: &AppState, id: &str) -> Result<Incident, ApiError> {
    let uuid = incident_id(id)?;
    state
        .store
        .incident(uuid)
        .await
        .map_err(|error| ApiError::internal("reading the incident", error))?
        .ok_or_else(|| ApiError::unknown_incident(id))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AckRequest {
    note: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NoteRequest {
    text: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResolveRequest {
    resolution: Option<String>,
}

/// A responder action, checked against the read model and appended as one fact.
pub(crate) struct Action {
    pub(crate) name: &'static str,
    pub(crate) body: FactBody,
    /// Why the read model says the action makes no sense now, if it does not.
    pub(crate) refusal: Option<String>,
}

/// `POST /v1/incidents/{id}/ack` `{"note"?}`
#[utoipa::path(post, path = "/v1/incidents/{id}/ack", tag = "respond",
    security(("bearer" = ["respond"])),
    params(("id" = String, Path, description = "Incident id"), IdempotencyKey),
    request_body(content = AckRequest, description = "An optional note; an empty body is `{}`"),
    responses(
        (status = 200, description = "Acknowledged and folded", body = ResponderAnswer),
        (status = 202, description = "On the log, not folded yet", body = ResponderAnswer),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Token lacks `respond`", body = ErrorBody),
        (status = 404, description = "Unknown incident", body = ErrorBody),
        (status = 409, description = "Already acknowledged or resolved", body = ErrorBody),
        (status = 503, description = "The log is unavailable; retry", body = ErrorBody)
    ))]
pub(crate) async fn acknowledge(
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
        |incident, request: AckRequest, token| {
            if let Some(note) = &request.note {
                text_field("note", note, MAX_TEXT_BYTES)?;
            }
            let refusal = match (&incident.status, &incident.acknowledged_by) {
                (IncidentStatus::Closed, _) => Some("incident is closed".to_owned()),
                (IncidentStatus::Resolved, _) => Some("incident is already resolved".to_owned()),
                (IncidentStatus::Mitigated, _) => Some(format!(
                    "incident is already mitigated by {}",
                    incident.mitigated_by.as_deref().unwrap_or("someone")
                )),
                (_, Some(by)) => Some(format!("incident is already acknowledged by {by}")),
                _ => None,
            };
            Ok(Action {
                name: "ack",
                body: FactBody::Acknowledged(Acknowledged {
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

/// `POST /v1/incidents/{id}/notes` `{"text"}`
#[utoipa::path(post, path = "/v1/incidents/{id}/notes", tag = "respond",
    security(("bearer" = ["respond"])),
    params(("id" = String, Path, description = "Incident id"), IdempotencyKey),
    request_body = NoteRequest,
    responses(
        (status = 200, description = "Noted and folded", body = ResponderAnswer),
        (status = 202, description = "On the log, not folded yet", body = ResponderAnswer),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Token lacks `respond`", body = ErrorBody),
        (status = 404, description = "Unknown incident", body = ErrorBody),
        (status = 503, description = "The log is unavailable; retry", body = ErrorBody)
    ))]
pub(crate) async fn add_note(
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
        |incident, request: NoteRequest, token| {
            text_field("text", &request.text, MAX_TEXT_BYTES)?;
            Ok(Action {
                name: "note",
                body: FactBody::NoteAdded(NoteAdded {
                    incident_id: incident.id,
                    actor: token.name.clone(),
                    text: request.text,
                }),
                refusal: None,
            })
        },
    )
    .await
}

/// `POST /v1/incidents/{id}/resolve` `{"resolution"?}`
#[utoipa::path(post, path = "/v1/incidents/{id}/resolve", tag = "respond",
    security(("bearer" = ["respond"])),
    params(("id" = String, Path, description = "Incident id"), IdempotencyKey),
    request_body = ResolveRequest,
    responses(
        (status = 200, description = "Resolved and folded", body = ResponderAnswer),
        (status = 202, description = "On the log, not folded yet", body = ResponderAnswer),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Token lacks `respond`", body = ErrorBody),
        (status = 404, description = "Unknown incident", body = ErrorBody),
        (status = 409, description = "Already resolved", body = ErrorBody),
        (status = 503, description = "The log is unavailable; retry", body = ErrorBody)
    ))]
pub(crate) async fn resolve(
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
        |incident, request: ResolveRequest, token| {
            if let Some(resolution) = &request.resolution {
                text_field("resolution", resolution, MAX_TEXT_BYTES)?;
            }
            let refusal = match incident.status {
                IncidentStatus::Closed => Some("incident is closed".to_owned()),
                IncidentStatus::Resolved => {
                    let by = incident.resolved_by.as_deref().unwrap_or("someone");
                    Some(format!("incident is already resolved (by {by})"))
                }
                _ => None,
            };
            Ok(Action {
                name: "resolve",
                body: FactBody::Resolved(Resolved {
                    incident_id: incident.id,
                    actor: token.name.clone(),
                    resolution: request.resolution,
                }),
                refusal,
            })
        },
    )
    .await
}

/// Appends a responder fact. With an `Idempotency-Key`, a repeat of a request already on
/// the log answers as the first did instead of being checked again.
pub(crate) async fn record(
    state: &AppState,
    token: &aftermath_store::TokenInfo,
    incident: &Incident,
    headers: &HeaderMap,
    action: Action,
) -> Result<Response, ApiError> {
    let key = idempotency_key(headers)?;
    let fact_id = match &key {
        Some(key) => responder_fact_id(&token.id.to_string(), incident.id, action.name, key),
        None => Uuid::new_v4(),
    };
    let already_folded = incident
        .timeline
        .iter()
        .any(|entry| entry.fact_id == fact_id);
    if already_folded {
        return Ok(answer(state, StatusCode::OK, fact_id, Some(incident), true));
    }
    if let Some(refusal) = action.refusal {
        return Err(ApiError::conflict(refusal));
    }
    let at = now();
    let fact = Fact {
        fact_id,
        stream_key: incident.stream_key.clone(),
        occurred_at: at,
        recorded_at: at,
        body: action.body,
    };
    let outcome = state
        .log
        .append(std::slice::from_ref(&fact))
        .await
        .map_err(|error| ApiError::internal("appending to the event log", error))?;
    let replayed = outcome.first() == Some(&Appended::Duplicate);
    if let Some(Appended::New { partition, offset }) = outcome.first().copied() {
        if let Some(folded) = wait_until_folded(state, partition, offset, incident.id).await {
            return Ok(answer(state, StatusCode::OK, fact_id, Some(&folded), false));
        }
    }
    Ok(answer(state, StatusCode::ACCEPTED, fact_id, None, replayed))
}

/// Waits (bounded by `projection_wait`) until `offset` of `partition` is folded, then
/// returns the incident as folded: a responder reads their own write.
async fn wait_until_folded(
    state: &AppState,
    partition: u32,
    offset: u64,
    incident_id: Uuid,
) -> Option<Incident> {
    let folded = async {
        match state.projected.clone() {
            Some(mut positions) => {
                let passed = |positions: &aftermath_store::ProjectorPositions| {
                    positions.get(&partition).is_some_and(|next| *next > offset)
                };
                positions.wait_for(passed).await.is_ok()
            }
            // Another process projects: watch the checkpoints it commits.
            None => loop {
                let checkpoints = state.store.checkpoints().await.ok()?;
                if checkpoints
                    .get(&partition)
                    .is_some_and(|next| *next > offset)
                {
                    break true;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            },
        }
        .then_some(())
    };
    tokio::time::timeout(state.projection_wait, folded)
        .await
        .ok()??;
    state.store.incident(incident_id).await.ok().flatten()
}

fn answer(
    state: &AppState,
    status: StatusCode,
    fact_id: Uuid,
    incident: Option<&Incident>,
    replayed: bool,
) -> Response {
    let context = state.view_context();
    let body = ResponderAnswer {
        fact_id,
        replayed,
        projected: incident.is_some(),
        incident: incident.map(|incident| IncidentDetail::of(incident, &[], context)),
        revision: incident.and_then(|incident| {
            incident
                .postmortem_revisions
                .iter()
                .find(|revision| revision.fact_id == fact_id)
                .map(|revision| revision.number)
        }),
    };
    (status, Json(body)).into_response()
}

/// `GET /v1/incidents?status=open|resolved|all&limit=&cursor=`
#[utoipa::path(get, path = "/v1/incidents", tag = "read",
    security(("bearer" = ["read"])),
    params(
        ("status" = Option<String>, Query, description = "`open`, `resolved` or `all` (default)"),
        ("limit" = Option<u32>, Query, description = "1 to 1000, default 100"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
        ("overdue" = Option<bool>, Query, description = "`true`: only unacknowledged incidents past their acknowledgement SLA"),
    ),
    responses(
        (status = 200, description = "Newest first", body = IncidentPageView),
        (status = 400, description = "Bad query parameter", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Token lacks `read`", body = ErrorBody)
    ))]
pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, ApiError> {
    caller.require(Scope::Read)?;
    let Query(params) =
        query.map_err(|rejection| ApiError::bad_request("invalid_query", rejection.body_text()))?;
    if let Some(unknown) = params
        .keys()
        .find(|key| !matches!(key.as_str(), "status" | "limit" | "cursor" | "overdue"))
    {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("unknown parameter {unknown:?}; use status, limit, cursor, overdue"),
        ));
    }
    let status = match params.get("status").map(String::as_str) {
        None | Some("all") => StatusFilter::All,
        Some("open") => StatusFilter::Open,
        Some("resolved") => StatusFilter::Resolved,
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("status: {other:?} is not one of open, resolved, all"),
            ))
        }
    };
    let limit = match params.get("limit") {
        None => DEFAULT_PAGE,
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|limit| (1..=MAX_PAGE).contains(limit))
            .ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_query",
                    format!("limit: {text:?} is not a whole number from 1 to {MAX_PAGE}"),
                )
            })?,
    };
    let cursor = params
        .get("cursor")
        .map(|text| {
            IncidentCursor::decode(text).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_query",
                    "cursor: not a cursor this API handed out; pass next_cursor unchanged",
                )
            })
        })
        .transpose()?;
    let overdue_before = match params.get("overdue").map(String::as_str) {
        None | Some("false") => None,
        Some("true") => Some(state.ack_policy.overdue_cutoffs(now())),
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("overdue: {other:?} is not true or false"),
            ))
        }
    };
    let page = state
        .store
        .list_incidents(&IncidentQuery {
            status,
            limit,
            cursor,
            overdue_before,
            service: None,
            class: None,
            with_timelines: false,
        })
        .await
        .map_err(|error| ApiError::internal("listing incidents", error))?;
    let context = state.view_context();
    let incidents: Vec<_> = page
        .incidents
        .iter()
        .map(|incident| IncidentSummary::of(incident, context))
        .collect();
    Ok(Json(IncidentPageView {
        incidents,
        next_cursor: page.next_cursor.map(|cursor| cursor.encode()),
    })
    .into_response())
}

/// `GET /v1/incidents/{id}`
#[utoipa::path(get, path = "/v1/incidents/{id}", tag = "read",
    security(("bearer" = ["read"])),
    params(("id" = String, Path, description = "Incident id")),
    responses(
        (status = 200, description = "The incident", body = IncidentDetail),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Token lacks `read`", body = ErrorBody),
        (status = 404, description = "Unknown incident", body = ErrorBody)
    ))]
pub(crate) async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(Scope::Read)?;
    let incident = load_incident(&state, &id).await?;
    let changes = suspect_changes(&state, &incident).await?;
    Ok(Json(IncidentDetail::of(
        &incident,
        &changes,
        state.view_context(),
    ))
    .into_response())
}

/// `GET /v1/incidents/{id}/timeline`
#[utoipa::path(get, path = "/v1/incidents/{id}/timeline", tag = "read",
    security(("bearer" = ["read"])),
    params(("id" = String, Path, description = "Incident id")),
    responses(
        (status = 200, description = "Entries in order, suspect changes first", body = TimelineView),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Token lacks `read`", body = ErrorBody),
        (status = 404, description = "Unknown incident", body = ErrorBody)
    ))]
pub(crate) async fn timeline(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(Scope::Read)?;
    let incident = load_incident(&state, &id).await?;
    let changes = suspect_changes(&state, &incident).await?;
    Ok(Json(TimelineView::of(&incident, &changes)).into_response())
}

/// `GET /v1/status`: how far the projections are behind the log.
#[utoipa::path(get, path = "/v1/status", tag = "read",
    security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "Per partition `log_end`, `projected`, `lag`; refused requests by route and status", body = Object),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Token lacks `read`", body = ErrorBody)
    ))]
pub(crate) async fn status(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require(Scope::Read)?;
    let checkpoints = state
        .store
        .checkpoints()
        .await
        .map_err(|error| ApiError::internal("reading checkpoints", error))?;
    let mut partitions = BTreeMap::new();
    for partition in 0..state.log.partitions() {
        let end = state
            .log
            .end_offset(partition)
            .await
            .map_err(|error| ApiError::internal("reading the log end", error))?;
        let projected = checkpoints.get(&partition).copied().unwrap_or(0);
        partitions.insert(
            partition.to_string(),
            serde_json::json!({"log_end": end, "projected": projected, "lag": end.saturating_sub(projected)}),
        );
    }
    Ok(Json(serde_json::json!({
        "partitions": partitions,
        "rejected": state.rejections.snapshot(),
    })))
}
