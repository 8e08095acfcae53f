//! The incident pages: the filtered list (`/incidents`) and one incident in full
//! (`/incidents/{id}`) with its alerts, live timeline, five whys, classification, action
//! items and links.

use std::collections::HashMap;

use aftermath_core::{ErrorClass, Incident, TimelineKind};
use aftermath_store::{ClassFilter, IncidentCursor, IncidentQuery, StatusFilter};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use uuid::Uuid;

use super::format::{duration, maybe_timestamp, outside_link, query_string, timestamp};
use super::{Page, PageCaller, PageError};
use crate::incidents::suspect_changes;
use crate::views::{ClassificationView, ViewContext};
use crate::{now, ApiError, AppState};

/// Incidents per page unless `limit` says otherwise.
const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 1000;
/// How often the script re-reads an open incident's timeline.
const LIVE_TIMELINE_SECONDS: u32 = 15;

/// The list's filters, as read from the query string of `form#filters`.
struct ListFilters {
    status: StatusFilter,
    overdue: bool,
    service: Option<String>,
    class: Option<ClassFilter>,
    limit: u32,
    cursor: Option<IncidentCursor>,
}

impl ListFilters {
    /// Parses the query. Empty values are what an untouched form field sends, so they
    /// mean "no filter"; anything else that is not understood is a 400 naming the
    /// parameter (a typo must not silently show a different list).
    fn parse(params: &HashMap<String, String>) -> Result<Self, PageError> {
        if let Some(unknown) = params.keys().find(|key| {
            !matches!(
                key.as_str(),
                "status" | "overdue" | "service" | "class" | "limit" | "cursor"
            )
        }) {
            return Err(PageError::bad_request(format!(
                "unknown parameter {unknown:?}; use status, overdue, service, class, limit, cursor"
            )));
        }
        let given = |name: &str| {
            params
                .get(name)
                .map(|value| value.trim())
                .filter(|value| !value.is_empty())
        };
        let status = match given("status") {
            None | Some("open") => StatusFilter::Open,
            Some("resolved") => StatusFilter::Resolved,
            Some("all") => StatusFilter::All,
            Some(other) => {
                return Err(PageError::bad_request(format!(
                    "status: {other:?} is not one of open, resolved, all"
                )))
            }
        };
        let overdue = match given("overdue") {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(PageError::bad_request(format!(
                    "overdue: {other:?} is not true or false"
                )))
            }
        };
        let class = match given("class") {
            None | Some("any") => None,
            Some("unclassified") => Some(ClassFilter::Unclassified),
            Some(code) => Some(ClassFilter::Class(ErrorClass::parse(code).ok_or_else(
                || {
                    PageError::bad_request(format!(
                        "class: {code:?} is not one of E101, E102, E103, E104, E105, \
                         unclassified, any"
                    ))
                },
            )?)),
        };
        let limit = match given("limit") {
            None => DEFAULT_PAGE,
            Some(text) => text
                .parse::<u32>()
                .ok()
                .filter(|limit| (1..=MAX_PAGE).contains(limit))
                .ok_or_else(|| {
                    PageError::bad_request(format!(
                        "limit: {text:?} is not a whole number from 1 to {MAX_PAGE}"
                    ))
                })?,
        };
        let cursor = given("cursor")
            .map(|text| {
                IncidentCursor::decode(text).ok_or_else(|| {
                    PageError::bad_request(
                        "cursor: not a cursor this page handed out; follow the next-page link",
                    )
                })
            })
            .transpose()?;
        Ok(Self {
            status,
            overdue,
            service: given("service").map(str::to_owned),
            class,
            limit,
            cursor,
        })
    }

    fn status_value(&self) -> &'static str {
        match self.status {
            StatusFilter::Open => "open",
            StatusFilter::Resolved => "resolved",
            StatusFilter::All => "all",
        }
    }

    fn class_value(&self) -> &'static str {
        match self.class {
            None => "any",
            Some(ClassFilter::Unclassified) => "unclassified",
            Some(ClassFilter::Class(class)) => class.code(),
        }
    }

    /// The link to the page after this one: the same filters, resuming after `cursor`.
    fn next_page_href(&self, cursor: &str) -> String {
        let limit = self.limit.to_string();
        let mut pairs = vec![("status", self.status_value())];
        if self.overdue {
            pairs.push(("overdue", "true"));
        }
        if let Some(service) = &self.service {
            pairs.push(("service", service));
        }
        if self.class.is_some() {
            pairs.push(("class", self.class_value()));
        }
        if self.limit != DEFAULT_PAGE {
            pairs.push(("limit", &limit));
        }
        pairs.push(("cursor", cursor));
        format!("/incidents?{}", query_string(pairs))
    }
}

/// `GET /incidents?status=&overdue=&service=&class=&limit=&cursor=`
pub(crate) async fn list(
    State(state): State<AppState>,
    caller: PageCaller,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    caller.render(list_page(&state, query).await)
}

async fn list_page(
    state: &AppState,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Page, PageError> {
    let Query(params) = query.map_err(|rejection| {
        PageError::bad_request(format!("unreadable query: {}", rejection.body_text()))
    })?;
    let filters = ListFilters::parse(&params)?;
    let page = state
        .store
        .list_incidents(&IncidentQuery {
            status: filters.status,
            limit: filters.limit,
            cursor: filters.cursor.clone(),
            overdue_before: filters
                .overdue
                .then(|| state.ack_policy.overdue_cutoffs(now())),
            service: filters.service.clone(),
            class: filters.class,
            with_timelines: false,
        })
        .await
        .map_err(|error| ApiError::internal("listing incidents", error))?;
    let context = state.view_context();
    let main = html! {
        h1 { "Incidents" }
        (filters_form(&filters))
        @if page.incidents.is_empty() {
            p #no-incidents { "No incidents match these filters." }
        }
        div.table-scroll {
            table #incidents {
                thead {
                    tr {
                        th scope="col" { "Title" }
                        th scope="col" { "Status" }
                        th scope="col" { "Severity" }
                        th scope="col" { "Service" }
                        th scope="col" { "Error class" }
                        th scope="col" { "Opened" }
                        th scope="col" { "Time to acknowledge" }
                    }
                }
                tbody {
                    @for incident in &page.incidents {
                        (incident_row(incident, context))
                    }
                }
            }
        }
        @if let Some(cursor) = &page.next_cursor {
            p.paging {
                a #next-page href=(filters.next_page_href(&cursor.encode())) { "Older incidents →" }
            }
        }
    };
    Ok(Page {
        title: "Incidents".to_owned(),
        main,
    })
}

/// `form#filters`, showing the filters in force.
fn filters_form(filters: &ListFilters) -> Markup {
    let status = filters.status_value();
    let class = filters.class_value();
    html! {
        form #filters method="get" action="/incidents" {
            label {
                "Status"
                select name="status" {
                    @for (value, text) in [("open", "Open"), ("resolved", "Resolved"), ("all", "All")] {
                        option value=(value) selected[value == status] { (text) }
                    }
                }
            }
            label.checkbox {
                input type="checkbox" name="overdue" value="true" checked[filters.overdue];
                "Overdue acknowledgement only"
            }
            label {
                "Service"
                input type="text" name="service" value=[filters.service.as_deref()]
                    placeholder="any service";
            }
            label {
                "Error class"
                select name="class" {
                    option value="any" selected[class == "any"] { "Any" }
                    @for error_class in ErrorClass::ALL {
                        option value=(error_class.code()) selected[class == error_class.code()] {
                            (error_class.code()) " " (error_class.title())
                        }
                    }
                    option value="unclassified" selected[class == "unclassified"] { "Unclassified" }
                }
            }
            @if filters.limit != DEFAULT_PAGE {
                input type="hidden" name="limit" value=(filters.limit);
            }
            button type="submit" { "Filter" }
        }
    }
}

fn incident_row(incident: &Incident, context: ViewContext<'_>) -> Markup {
    let id = incident.id.to_string();
    html! {
        tr.incident data-id=(id) {
            td { a.incident-link href={ "/incidents/" (id) } { (incident.title) } }
            td.status { (status_badge(incident)) }
            td.severity { (severity_badge(incident)) }
            td.service { (optional_text(incident.service.as_deref())) }
            td.class { (class_code(incident)) }
            td.opened { (timestamp(incident.opened_at)) }
            td.time-to-acknowledge { (time_to_acknowledge(incident, context)) }
        }
    }
}

fn status_badge(incident: &Incident) -> Markup {
    let status = incident.status.as_str();
    html! { span.badge.{ "status-" (status) } { (status) } }
}

fn severity_badge(incident: &Incident) -> Markup {
    let severity = incident.severity.as_str();
    html! { span.badge.{ "severity-" (severity) } { (severity) } }
}

fn optional_text(text: Option<&str>) -> Markup {
    match text {
        Some(text) => html! { (text) },
        None => html! { span.none { "—" } },
    }
}

fn class_code(incident: &Incident) -> Markup {
    match incident.error_class() {
        Some(class) => html! { abbr title=(class.title()) { (class.code()) } },
        None => html! { span.none { "unclassified" } },
    }
}

/// How long acknowledging took; for an unacknowledged open incident, whether it is
/// already past its acknowledgement SLA.
fn time_to_acknowledge(incident: &Incident, context: ViewContext<'_>) -> Markup {
    let breached = context.ack_policy.breached(incident, context.now);
    match incident.time_to_acknowledge_seconds() {
        Some(seconds) => html! {
            (duration(seconds))
            @if breached { " " span.overdue { "(late)" } }
        },
        None if incident.status.is_open() && breached => html! { span.overdue { "overdue" } },
        None if incident.status.is_open() => html! { span.none { "not yet" } },
        None => html! { span.none { "—" } },
    }
}

/// `GET /incidents/{id}`
pub(crate) async fn show(
    State(state): State<AppState>,
    caller: PageCaller,
    Path(id): Path<String>,
) -> Response {
    caller.render(incident_page(&state, &id).await)
}

async fn incident_page(state: &AppState, id: &str) -> Result<Page, PageError> {
    let uuid = Uuid::try_parse(id).map_err(|_| {
        PageError::bad_request(format!(
            "{id:?} is not an incident id (a UUID such as 0b4e…); pick one from the list"
        ))
    })?;
    let incident = state
        .store
        .incident(uuid)
        .await
        .map_err(|error| ApiError::internal("reading the incident", error))?
        .ok_or_else(|| {
            PageError::new(StatusCode::NOT_FOUND, format!("no incident with id {id:?}"))
        })?;
    let changes = suspect_changes(state, &incident).await?;
    let context = state.view_context();
    let main = html! {
        h1 #incident-title { (incident.title) }
        (overview(&incident, context))
        (alerts(&incident))
        (timeline(&incident, &changes))
        (whys(&incident))
        (classification(&incident))
        (action_items(&incident))
        (links(&incident))
        a #postmortem-link href={ "/incidents/" (incident.id) "/postmortem" } { "Post-mortem →" }
    };
    Ok(Page {
        title: format!("{} ({})", incident.title, incident.status.as_str()),
        main,
    })
}

/// Status, severity, service, commander and the lifecycle times.
fn overview(incident: &Incident, context: ViewContext<'_>) -> Markup {
    html! {
        dl.facts #incident-facts {
            dt { "Status" }
            dd { span.badge.{ "status-" (incident.status.as_str()) } #incident-status { (incident.status.as_str()) } }
            dt { "Severity" }
            dd { span.badge.{ "severity-" (incident.severity.as_str()) } #incident-severity { (incident.severity.as_str()) } }
            dt { "Service" }
            dd #incident-service { (optional_text(incident.service.as_deref())) }
            dt { "Commander" }
            dd #incident-commander { (optional_text(incident.commander.as_deref())) }
            dt { "Source" }
            dd { (incident.source) }
            dt { "Opened" }
            dd #incident-opened { (timestamp(incident.opened_at)) }
            dt { "Acknowledged" }
            dd #incident-acknowledged {
                (maybe_timestamp(incident.acknowledged_at))
                @if let Some(by) = &incident.acknowledged_by { " by " (by) }
                " · time to acknowledge: " (time_to_acknowledge(incident, context))
            }
            @if incident.mitigated_at.is_some() {
                dt { "Mitigated" }
                dd #incident-mitigated {
                    (maybe_timestamp(incident.mitigated_at))
                    @if let Some(by) = &incident.mitigated_by { " by " (by) }
                    @if let Some(mitigation) = &incident.mitigation { ": " (mitigation) }
                }
            }
            dt { "Resolved" }
            dd #incident-resolved {
                (maybe_timestamp(incident.resolved_at))
                @if let Some(by) = &incident.resolved_by { " by " (by) }
                @if let Some(resolution) = &incident.resolution { ": " (resolution) }
                @if let Some(seconds) = incident.time_to_resolve_seconds() {
                    " · time to resolve: " (duration(seconds))
                }
            }
            @if let Some(impact) = &incident.impact {
                dt { "Impact" }
                dd #incident-impact {
                    (impact.summary)
                    @if let Some(users) = impact.users_affected { " · users affected: " (users) }
                    @if let Some(requests) = impact.failed_requests { " · failed requests: " (requests) }
                    @if impact.data_loss { " · data loss" }
                    @if impact.customer_facing { " · customer-facing" }
                }
            }
        }
    }
}

/// `section#alerts`: each alert with its status, labels and annotations.
fn alerts(incident: &Incident) -> Markup {
    html! {
        section #alerts {
            h2 { "Alerts (" (incident.firing_alerts()) " firing of " (incident.alerts.len()) ")" }
            @for alert in incident.alerts.values() {
                article.alert data-fingerprint=(alert.fingerprint) {
                    h3 { (alert.display_name()) }
                    p {
                        span.badge.{ "alert-" (alert_status(alert)) } { (alert_status(alert)) }
                        " since " (timestamp(alert.starts_at))
                        @if let Some(ends_at) = alert.ends_at { " until " (timestamp(ends_at)) }
                        @if !alert.generator_url.is_empty() {
                            " · " (outside_link(&alert.generator_url, "source"))
                        }
                    }
                    div.alert-details {
                        @if !alert.labels.is_empty() {
                            div {
                                h4 { "Labels" }
                                dl.pairs.labels {
                                    @for (name, value) in &alert.labels { dt { (name) } dd { (value) } }
                                }
                            }
                        }
                        @if !alert.annotations.is_empty() {
                            div {
                                h4 { "Annotations" }
                                dl.pairs.annotations {
                                    @for (name, value) in &alert.annotations { dt { (name) } dd { (value) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn alert_status(alert: &aftermath_core::AlertState) -> &'static str {
    match alert.status {
        aftermath_core::AlertStatus::Firing => "firing",
        aftermath_core::AlertStatus::Resolved => "resolved",
    }
}

/// The snake_case name of a timeline kind, as the API writes it.
fn kind_name(kind: TimelineKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|value| value.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// `section#timeline`: suspect changes first (they happened before the incident opened,
/// as in the API's `TimelineView`), then every entry in log order. An open incident's
/// timeline is marked live for `app.js`; without the script, a link reloads it.
fn timeline(incident: &Incident, changes: &[aftermath_core::Change]) -> Markup {
    let live = incident.status.is_open().then_some(LIVE_TIMELINE_SECONDS);
    html! {
        section #timeline data-live-seconds=[live] {
            h2 { "Timeline" }
            @if live.is_some() {
                p.refresh {
                    "Updates every " (LIVE_TIMELINE_SECONDS) " seconds while the incident is open. "
                    a #refresh href={ "/incidents/" (incident.id) "#timeline" } { "Refresh" }
                }
            }
            ol {
                @for change in changes {
                    li.timeline-entry.kind-suspect_change data-kind="suspect_change" {
                        (timestamp(change.at))
                        span.actor { (change.actor) }
                        span.text { "Suspect change (" (change.source) "): " (change.summary) }
                    }
                }
                @for entry in &incident.timeline {
                    @let kind = kind_name(entry.kind);
                    li.timeline-entry.{ "kind-" (kind) } data-kind=(kind) {
                        (timestamp(entry.at))
                        span.actor { (entry.actor) }
                        span.text { (entry.text) }
                    }
                }
            }
        }
    }
}

/// `section#whys`: the five whys in order, then the root cause.
fn whys(incident: &Incident) -> Markup {
    html! {
        section #whys {
            h2 { "Five whys" }
            @if incident.whys.is_empty() {
                p.none { "No whys asked yet." }
            } @else {
                ol.whys {
                    @for why in &incident.whys {
                        li.why data-number=(why.number) {
                            p.question { strong { (why.question) } }
                            p.answer { (why.answer) }
                            p.meta {
                                "asked by " (why.asked_by) ", " (timestamp(why.asked_at))
                                @if !why.amendments.is_empty() {
                                    " · amended " (why.amendments.len()) " time(s)"
                                }
                            }
                        }
                    }
                }
            }
            h3 { "Root cause" }
            @match &incident.root_cause {
                Some(root_cause) => p #root-cause {
                    (root_cause.text)
                    span.meta {
                        " — stated by " (root_cause.stated_by) ", " (timestamp(root_cause.stated_at))
                        @if let Some(number) = root_cause.from_why { " (from why " (number) ")" }
                    }
                },
                None => p #root-cause.none { "Not stated yet." },
            }
        }
    }
}

/// `section#classification`: the class in force, where it came from, the classifier's
/// evidence and the class's runbook — the read API's [`ClassificationView`].
fn classification(incident: &Incident) -> Markup {
    let view = ClassificationView::of(incident);
    html! {
        section #classification {
            h2 { "Classification" }
            p #class {
                @match (view.code, view.title) {
                    (Some(code), Some(title)) => { strong #class-code { (code) } " " (title) },
                    _ => strong #class-code { "Unclassified" },
                }
                " · set by " span #class-source { (view.source) }
            }
            @if let Some(chosen) = view.override_ {
                p #class-override {
                    "Set by " (chosen.by) ", " (timestamp(chosen.at)) ": " (chosen.reason)
                }
            }
            @if let Some(classifier) = view.classifier {
                p #classifier {
                    "The classifier says "
                    @match classifier.class {
                        Some(class) => strong { (class.code()) },
                        None => "unclassified",
                    }
                    " (confidence " (classifier.confidence) "%, rule table v" (classifier.rules_version) ")."
                }
                @if !classifier.evidence.is_empty() {
                    div.table-scroll {
                        table #evidence {
                            thead { tr {
                                th scope="col" { "Rule" } th scope="col" { "Class" }
                                th scope="col" { "Weight" } th scope="col" { "Where" }
                                th scope="col" { "Matched" }
                            } }
                            tbody {
                                @for evidence in &classifier.evidence {
                                    tr {
                                        td { code { (evidence.rule) } }
                                        td { (evidence.class.code()) }
                                        td { (evidence.weight) }
                                        td {
                                            (evidence_kind(evidence.kind))
                                            @if !evidence.name.is_empty() { " " code { (evidence.name) } }
                                        }
                                        td { code { (evidence.matched) } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if let Some(runbook) = &view.runbook {
                div #runbook {
                    h3 { "Runbook: " span #runbook-title { (runbook.title) } }
                    p { code #runbook-path { (runbook.path) } }
                    h4 { "Procedure" }
                    ol #runbook-procedure { @for step in &runbook.procedure { li { (step) } } }
                    h4 { "Prevention" }
                    ul #runbook-prevention { @for item in &runbook.prevention { li { (item) } } }
                }
            }
        }
    }
}

fn evidence_kind(kind: aftermath_core::EvidenceKind) -> &'static str {
    match kind {
        aftermath_core::EvidenceKind::Label => "label",
        aftermath_core::EvidenceKind::Annotation => "annotation",
        aftermath_core::EvidenceKind::Note => "note",
    }
}

/// `section#action-items`.
fn action_items(incident: &Incident) -> Markup {
    html! {
        section #action-items {
            h2 { "Action items" }
            @if incident.action_items.is_empty() {
                p.none { "No action items yet." }
            } @else {
                ul {
                    @for item in &incident.action_items {
                        li.action-item data-id=(item.id) data-done=(item.done_at.is_some()) {
                            @if item.done_at.is_some() { s { (item.title) } } @else { (item.title) }
                            " — " (item.kind.as_str()) ", owner " (item.owner)
                            @if let Some(due) = &item.due { ", due " (due) }
                            @if let (Some(at), Some(by)) = (item.done_at, &item.done_by) {
                                ", done by " (by) " " (timestamp(at))
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `section#links`: only http(s) URLs become links; anything else is shown as text.
fn links(incident: &Incident) -> Markup {
    html! {
        section #links {
            h2 { "Links" }
            @if incident.links.is_empty() {
                p.none { "No links yet." }
            } @else {
                ul {
                    @for link in &incident.links {
                        li.link {
                            (outside_link(&link.url, &link.title))
                            span.meta { " added by " (link.added_by) }
                        }
                    }
                }
            }
        }
    }
}
