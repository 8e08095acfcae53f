//! The managers' dashboard (`/dashboard`): MTTA, MTTR and MTTD against the SOP's targets,
//! week-by-week charts, figures per error class and per service, and the open action
//! items of every owner.
//!
//! The figures are the metrics summary's ([`crate::metrics::summary`]), so the page and
//! `GET /v1/metrics/summary` always agree, and the window and its errors are parsed by
//! the same [`SummaryQuery::parse`]. Every chart has its numbers next to it in a table,
//! so nothing depends on seeing the chart, and every verdict is written in words.

use std::collections::{BTreeMap, HashMap};

use aftermath_core::{
    ActionItem, GroupFigures, Incident, MetricsSummary, WeekFigures, NO_SERVICE_KEY,
    UNCLASSIFIED_KEY,
};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Response;
use maud::{html, Markup};
use time::Date;

use super::chart::{bar_chart, Bar, BarChart, TargetLine};
use super::format::{duration, query_string, timestamp};
use super::{Page, PageCaller, PageError};
use crate::metrics::{summary, SummaryQuery};
use crate::{now, ApiError, AppState};

/// The service chart draws this many of the busiest services; the table lists them all.
const MAX_CHARTED_SERVICES: usize = 15;

/// `GET /dashboard?from=&to=&service=`
pub(crate) async fn show(
    State(state): State<AppState>,
    caller: PageCaller,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    caller.render(dashboard_page(&state, query).await)
}

async fn dashboard_page(
    state: &AppState,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Page, PageError> {
    let Query(params) = query.map_err(|rejection| {
        PageError::bad_request(format!("unreadable query: {}", rejection.body_text()))
    })?;
    let now = now();
    let window = SummaryQuery::parse(&params, now)?;
    let view = summary(state, &window).await?;
    let with_items = state
        .store
        .incidents_with_action_items()
        .await
        .map_err(|error| ApiError::internal("listing action items", error))?;
    let owners = open_items_by_owner(&with_items, window.service.as_deref());
    let figures = &view.summary;
    let main = html! {
        section #dashboard {
            h1 { "Dashboard" }
            p #dashboard-window {
                "Incidents opened from " (timestamp(window.from))
                " up to (not including) " (timestamp(window.to))
                @if let Some(service) = &window.service {
                    " · service " strong #dashboard-service { (service) }
                }
            }
            (filters_form(&params, window.service.as_deref()))
            (headline(figures))
            (weekly(figures))
            (by_class(figures))
            (by_service(figures))
            (action_items_by_owner(&owners, window.service.as_deref(), now.datetime().date()))
        }
    };
    Ok(Page {
        title: "Dashboard".to_owned(),
        main,
    })
}

/// `form#dashboard-filters`. A date field is filled only with the date that was asked for:
/// an empty field means the default (now, twelve weeks back), and re-sending a date
/// derived from "now" would silently cut off today's incidents, since `to` is exclusive.
fn filters_form(params: &HashMap<String, String>, service: Option<&str>) -> Markup {
    let date_value = |name: &str| params.get(name).filter(|text| parse_date(text).is_some());
    html! {
        form #dashboard-filters method="get" action="/dashboard" {
            label {
                "From " span.hint { "(empty: 12 weeks before “to”)" }
                input type="date" name="from" value=[date_value("from")];
            }
            label {
                "To, not included " span.hint { "(empty: now)" }
                input type="date" name="to" value=[date_value("to")];
            }
            label {
                "Service"
                input type="text" name="service" value=[service] placeholder="any service";
            }
            button type="submit" { "Show" }
            a #dashboard-reset href="/dashboard" { "Last 12 weeks, every service" }
        }
    }
}

fn parse_date(text: &str) -> Option<Date> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(text, &format).ok()
}

/// Seconds in the largest unit that divides them, as people say targets (`5 min`, `1 h`);
/// other amounts in full (`4 min 05 s`).
fn short_duration(seconds: i64) -> String {
    match seconds {
        0 => "0 s".to_owned(),
        _ if seconds % 3600 == 0 => format!("{} h", seconds / 3600),
        _ if seconds % 60 == 0 => format!("{} min", seconds / 60),
        _ => duration(seconds),
    }
}

/// An optional mean as text, or a dash when nothing was measured.
fn optional_duration(seconds: Option<i64>) -> String {
    seconds.map_or_else(|| "—".to_owned(), duration)
}

/// `part of whole (pct%)`, rounded to the nearest percent; `0 of 0` without a share.
fn share(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "0 of 0".to_owned();
    }
    let percent = (200 * u128::from(part) + u128::from(whole)) / (2 * u128::from(whole));
    format!("{part} of {whole} ({percent}%)")
}

/// One headline figure measured against a target: the mean (with `data-target-met`), the
/// verdict in words and symbol (never colour alone), and the p90.
fn against_target(
    id: &str,
    label: &str,
    mean: Option<i64>,
    p90: Option<i64>,
    target_seconds: i64,
    nothing_measured: &str,
) -> Markup {
    let target = short_duration(target_seconds);
    let met = mean.map(|mean| mean <= target_seconds);
    html! {
        div.figure.against-target {
            span.figure-label { (label) }
            span.figure-value id=(id) data-target-met=[met] { (optional_duration(mean)) }
            @match met {
                Some(true) => span.verdict.met id={ (id) "-verdict" } {
                    "✓ target met (" (target) ")"
                },
                Some(false) => span.verdict.missed id={ (id) "-verdict" } {
                    "✗ target missed (" (target) ")"
                },
                None => span.verdict.none id={ (id) "-verdict" } {
                    (nothing_measured) " (target " (target) ")"
                },
            }
            @if let Some(p90) = p90 {
                span.figure-detail { "p90 " (duration(p90)) }
            }
        }
    }
}

/// The headline figures of the window.
fn headline(figures: &MetricsSummary) -> Markup {
    let targets = figures.targets;
    html! {
        div #headline.figures {
            div.figure {
                span.figure-label { "Incidents opened" }
                span.figure-value #incident-count { (figures.incidents) }
            }
            div.figure {
                span.figure-label { "Still open" }
                span.figure-value #open-count { (figures.open) }
            }
            (against_target("mtta", "MTTA, mean time to acknowledge", figures.mtta_seconds,
                figures.mtta_p90_seconds, targets.ack_seconds, "nothing acknowledged yet"))
            (against_target("mttr", "MTTR, mean time to resolve", figures.mttr_seconds,
                figures.mttr_p90_seconds, targets.fix_seconds, "nothing resolved yet"))
            div.figure {
                span.figure-label { "MTTD, mean time to detect" }
                span.figure-value #mttd { (optional_duration(figures.mttd_seconds)) }
                span.figure-detail { "first alert to incident opened" }
            }
            div.figure {
                span.figure-label { "Acknowledgement SLA breaches" }
                span.figure-value #ack-breaches { (figures.ack_sla_breaches) }
                span.figure-detail { "acknowledged late, or still waiting past due" }
            }
            div.figure {
                span.figure-label { "Acknowledged within " (short_duration(targets.ack_seconds)) }
                span.figure-value #ack-within-target {
                    (share(figures.acknowledged_within_target, figures.acknowledged))
                }
            }
            div.figure {
                span.figure-label { "Resolved within " (short_duration(targets.fix_seconds)) }
                span.figure-value #fix-within-target {
                    (share(figures.resolved_within_target, figures.resolved))
                }
            }
        }
    }
}

/// A chart in a `figure` with a caption.
fn charted(caption: &str, chart: &BarChart<'_>) -> Markup {
    html! {
        figure.chart-figure {
            figcaption { (caption) }
            (bar_chart(chart))
        }
    }
}

/// Seconds as a chart writes them: short, since the scale's top is often a target.
fn seconds_text(seconds: u64) -> String {
    short_duration(i64::try_from(seconds).unwrap_or(i64::MAX))
}

fn count_text(count: u64) -> String {
    count.to_string()
}

/// A non-negative mean of seconds as a bar value (a mean is never negative: the fold
/// clamps every duration at zero).
fn seconds_value(seconds: Option<i64>) -> Option<u64> {
    seconds.map(|seconds| u64::try_from(seconds).unwrap_or(0))
}

/// A target line at `seconds`.
fn target_line(seconds: i64) -> TargetLine {
    TargetLine {
        value: u64::try_from(seconds).unwrap_or(0),
        label: format!("target {}", short_duration(seconds)),
    }
}

/// Week bars: labelled `MM-DD` under the bar, the whole Monday date in the tooltip.
fn week_bars(weeks: &[WeekFigures], value: impl Fn(&WeekFigures) -> Option<u64>) -> Vec<Bar> {
    weeks
        .iter()
        .map(|week| Bar {
            label: week
                .week_start
                .get(5..)
                .unwrap_or(&week.week_start)
                .to_owned(),
            title: format!("week of {}", week.week_start),
            value: value(week),
        })
        .collect()
}

/// `section#weekly`: incidents, MTTA and MTTR per week, and the numbers in a table.
fn weekly(figures: &MetricsSummary) -> Markup {
    let weeks = &figures.by_week;
    let targets = figures.targets;
    let counts = week_bars(weeks, |week| Some(week.incidents));
    let mtta = week_bars(weeks, |week| seconds_value(week.mtta_seconds));
    let mttr = week_bars(weeks, |week| seconds_value(week.mttr_seconds));
    let ack_target = short_duration(targets.ack_seconds);
    let fix_target = short_duration(targets.fix_seconds);
    let mtta_caption = format!(
        "Mean time to acknowledge per week (target {ack_target}); \
         weeks with no acknowledgement are left blank"
    );
    let mtta_title = format!("Mean time to acknowledge per week, against the {ack_target} target");
    let mttr_caption = format!(
        "Mean time to resolve per week (target {fix_target}); \
         weeks with nothing resolved are left blank"
    );
    let mttr_title = format!("Mean time to resolve per week, against the {fix_target} target");
    html! {
        section #weekly {
            h2 { "Week by week" }
            @if figures.by_week_truncated {
                p.note { "The window is long: only its latest " (weeks.len()) " weeks are drawn." }
            }
            div.charts {
                (charted("Incidents opened per week", &BarChart {
                    id: "chart-weekly-counts",
                    title: "Incidents opened per week",
                    bars: &counts,
                    format_value: &count_text,
                    target: None,
                }))
                (charted(&mtta_caption, &BarChart {
                    id: "chart-weekly-mtta",
                    title: &mtta_title,
                    bars: &mtta,
                    format_value: &seconds_text,
                    target: Some(target_line(targets.ack_seconds)),
                }))
                (charted(&mttr_caption, &BarChart {
                    id: "chart-weekly-mttr",
                    title: &mttr_title,
                    bars: &mttr,
                    format_value: &seconds_text,
                    target: Some(target_line(targets.fix_seconds)),
                }))
            }
            details #weekly-numbers {
                summary { "The numbers, week by week" }
                div.table-scroll {
                    table #by-week {
                        thead { tr {
                            th scope="col" { "Week of" }
                            th scope="col" { "Incidents" }
                            th scope="col" { "MTTA" }
                            th scope="col" { "Acknowledged within " (ack_target) }
                            th scope="col" { "MTTR" }
                            th scope="col" { "Resolved within " (fix_target) }
                            th scope="col" { "SLA breaches" }
                        } }
                        tbody {
                            @for week in weeks {
                                tr data-week=(week.week_start) {
                                    th scope="row" { (week.week_start) }
                                    td.incidents { (week.incidents) }
                                    td.mtta { (optional_duration(week.mtta_seconds)) }
                                    td.acknowledged-within-target { (week.acknowledged_within_target) }
                                    td.mttr { (optional_duration(week.mttr_seconds)) }
                                    td.resolved-within-target { (week.resolved_within_target) }
                                    td.breaches { (week.ack_sla_breaches) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A table of group figures (`table#by-class`, `table#by-service`), each group's name
/// linking to its incidents when `link` gives one.
fn group_table(
    id: &str,
    group_heading: &str,
    rows: &[GroupFigures],
    name: impl Fn(&GroupFigures) -> Markup,
    link: impl Fn(&GroupFigures) -> Option<String>,
) -> Markup {
    html! {
        div.table-scroll {
            table.groups id=(id) {
                thead { tr {
                    th scope="col" { (group_heading) }
                    th scope="col" { "Incidents" }
                    th scope="col" { "Open" }
                    th scope="col" { "MTTA" }
                    th scope="col" { "MTTR" }
                    th scope="col" { "SLA breaches" }
                    th scope="col" { "Resolved within target" }
                } }
                tbody {
                    @for row in rows {
                        tr data-key=(row.key) {
                            th scope="row" {
                                @match link(row) {
                                    Some(href) => a href=(href) { (name(row)) },
                                    None => (name(row)),
                                }
                            }
                            td.incidents { (row.incidents) }
                            td.open { (row.open) }
                            td.mtta { (optional_duration(row.mtta_seconds)) }
                            td.mttr { (optional_duration(row.mttr_seconds)) }
                            td.breaches { (row.ack_sla_breaches) }
                            td.resolved-within-target {
                                (share(row.resolved_within_target, row.incidents - row.open))
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `section#classes`: incidents per error class, E101..E105 then unclassified.
fn by_class(figures: &MetricsSummary) -> Markup {
    let bars: Vec<Bar> = figures
        .by_class
        .iter()
        .map(|row| Bar {
            label: row.key.clone(),
            title: class_name(row),
            value: Some(row.incidents),
        })
        .collect();
    html! {
        section #classes {
            h2 { "By error class" }
            (charted("Incidents per error class", &BarChart {
                id: "chart-by-class",
                title: "Incidents per error class",
                bars: &bars,
                format_value: &count_text,
                target: None,
            }))
            (group_table("by-class", "Error class", &figures.by_class,
                |row| html! { (class_name(row)) },
                |row| Some(incidents_href("class", &row.key))))
        }
    }
}

/// The incident list of every status, filtered by `filter` (`class`, `service`) = `value`.
fn incidents_href(filter: &str, value: &str) -> String {
    format!(
        "/incidents?{}",
        query_string([(filter, value), ("status", "all")])
    )
}

/// `E104 Database Migration Failure`, or `Unclassified`.
fn class_name(row: &GroupFigures) -> String {
    if row.key == UNCLASSIFIED_KEY {
        row.title.clone()
    } else {
        format!("{} {}", row.key, row.title)
    }
}

/// `section#services`: incidents per service, busiest first.
fn by_service(figures: &MetricsSummary) -> Markup {
    let rows = &figures.by_service;
    let bars: Vec<Bar> = rows
        .iter()
        .take(MAX_CHARTED_SERVICES)
        .map(|row| Bar {
            label: row.key.clone(),
            title: row.key.clone(),
            value: Some(row.incidents),
        })
        .collect();
    html! {
        section #services {
            h2 { "By service" }
            @if rows.len() > MAX_CHARTED_SERVICES {
                p.note { "The chart shows the " (MAX_CHARTED_SERVICES) " busiest of "
                    (rows.len()) " services; the table lists them all." }
            }
            (charted("Incidents per service", &BarChart {
                id: "chart-by-service",
                title: "Incidents per service",
                bars: &bars,
                format_value: &count_text,
                target: None,
            }))
            @if rows.is_empty() {
                p.none #no-services { "No incidents in this window." }
            }
            // Incidents without a service cannot be asked for by name on the list page.
            (group_table("by-service", "Service", rows,
                |row| html! { (row.key) },
                |row| (row.key != NO_SERVICE_KEY).then(|| incidents_href("service", &row.key))))
        }
    }
}

/// An action item not done yet, with the incident it belongs to.
struct OpenItem<'a> {
    incident: &'a Incident,
    item: &'a ActionItem,
}

impl OpenItem<'_> {
    fn due(&self) -> Option<Date> {
        self.item.due.as_deref().and_then(parse_date)
    }

    fn overdue(&self, today: Date) -> bool {
        self.due().is_some_and(|due| due < today)
    }
}

/// The open action items of every owner (of `service`'s incidents when given): owners with
/// the most open items first, then by name; each owner's items soonest due first, undated
/// ones last.
fn open_items_by_owner<'a>(
    incidents: &'a [Incident],
    service: Option<&str>,
) -> Vec<(&'a str, Vec<OpenItem<'a>>)> {
    let mut owners: BTreeMap<&str, Vec<OpenItem<'a>>> = BTreeMap::new();
    for incident in incidents.iter().filter(|incident| {
        service.is_none_or(|service| incident.service.as_deref() == Some(service))
    }) {
        for item in incident
            .action_items
            .iter()
            .filter(|item| item.done_at.is_none())
        {
            owners
                .entry(item.owner.as_str())
                .or_default()
                .push(OpenItem { incident, item });
        }
    }
    let mut owners: Vec<(&str, Vec<OpenItem<'a>>)> = owners.into_iter().collect();
    for (_, items) in &mut owners {
        items.sort_by(|a, b| {
            (a.due().is_none(), a.due(), &a.item.title).cmp(&(
                b.due().is_none(),
                b.due(),
                &b.item.title,
            ))
        });
    }
    // Stable: owners with as many items stay in name order.
    owners.sort_by_key(|(_, items)| std::cmp::Reverse(items.len()));
    owners
}

/// `section#action-items-by-owner`.
fn action_items_by_owner(
    owners: &[(&str, Vec<OpenItem<'_>>)],
    service: Option<&str>,
    today: Date,
) -> Markup {
    html! {
        section #action-items-by-owner {
            h2 { "Open action items by owner" }
            p.note {
                "Every action item not done yet"
                @if let Some(service) = service { " of " (service) "’s incidents" }
                ", whenever its incident was opened."
            }
            @if owners.is_empty() {
                p.none #no-action-items { "No open action items." }
            }
            @for (owner, items) in owners {
                div.owner data-owner=(owner) {
                    h3 { (owner) " " span.count { "(" (items.len()) " open)" } }
                    ul {
                        @for open in items {
                            @let overdue = open.overdue(today);
                            li.action-item data-id=(open.item.id) data-overdue=(overdue) {
                                span.item-title { (open.item.title) }
                                " — " span.kind { (open.item.kind.as_str()) }
                                @match &open.item.due {
                                    Some(due) => { ", due " span.due { (due) } },
                                    None => { ", " span.none { "no due date" } },
                                }
                                @if overdue { " " span.overdue { "overdue" } }
                                " · incident "
                                a.incident-link href={ "/incidents/" (open.incident.id) } {
                                    (open.incident.title)
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incident(title: &str, service: &str, items: serde_json::Value) -> Incident {
        serde_json::from_value(serde_json::json!({
            "id": uuid::Uuid::new_v4(),
            "stream_key": format!("test:{title}"),
            "source": "alertmanager",
            "group_key": title,
            "status": "resolved",
            "title": title,
            "severity": "critical",
            "service": service,
            "opened_at": "2026-11-02T10:00:00Z",
            "alerts": {},
            "timeline": [],
            "action_items": items,
        }))
        .expect("a test incident")
    }

    fn item(title: &str, owner: &str, due: Option<&str>, done: bool) -> serde_json::Value {
        serde_json::json!({
            "id": uuid::Uuid::new_v4(),
            "title": title,
            "owner": owner,
            "kind": "prevent",
            "due": due,
            "added_by": "alice",
            "added_at": "2026-11-02T11:00:00Z",
            "done_at": if done { Some("2026-11-03T09:00:00Z") } else { None },
            "done_by": if done { Some("alice") } else { None },
        })
    }

    #[test]
    fn targets_and_shares_read_as_people_say_them() {
        assert_eq!(short_duration(300), "5 min");
        assert_eq!(short_duration(3600), "1 h");
        assert_eq!(short_duration(90), duration(90));
        assert_eq!(share(1, 3), "1 of 3 (33%)");
        assert_eq!(share(2, 3), "2 of 3 (67%)");
        assert_eq!(share(0, 0), "0 of 0");
    }

    #[test]
    fn a_mean_is_marked_met_or_missed_in_words_and_data() {
        let met = against_target("mtta", "MTTA", Some(300), Some(400), 300, "none").into_string();
        assert!(met.contains(r#"id="mtta" data-target-met="true""#), "{met}");
        assert!(met.contains("target met (5 min)"), "{met}");
        let missed = against_target("mtta", "MTTA", Some(301), None, 300, "none").into_string();
        assert!(missed.contains(r#"data-target-met="false""#), "{missed}");
        assert!(missed.contains("target missed (5 min)"), "{missed}");
        let unmeasured =
            against_target("mttr", "MTTR", None, None, 3600, "nothing resolved yet").into_string();
        assert!(!unmeasured.contains("data-target-met"), "{unmeasured}");
        assert!(
            unmeasured.contains("nothing resolved yet (target 1 h)"),
            "{unmeasured}"
        );
    }

    #[test]
    fn open_items_are_grouped_by_owner_busiest_first_and_soonest_due_first() {
        let incidents = vec![
            incident(
                "Checkout down",
                "checkout",
                serde_json::json!([
                    item("No due date", "bob", None, false),
                    item("Later", "bob", Some("2026-12-20"), false),
                    item("Done already", "bob", Some("2026-01-01"), true),
                    item("Add alert", "alice", Some("2026-11-01"), false),
                ]),
            ),
            incident(
                "Orders slow",
                "orders",
                serde_json::json!([item("Sooner", "bob", Some("2026-11-20"), false)]),
            ),
        ];
        let owners = open_items_by_owner(&incidents, None);
        let listed: Vec<(&str, Vec<&str>)> = owners
            .iter()
            .map(|(owner, items)| {
                (
                    *owner,
                    items.iter().map(|open| open.item.title.as_str()).collect(),
                )
            })
            .collect();
        assert_eq!(
            listed,
            [
                ("bob", vec!["Sooner", "Later", "No due date"]),
                ("alice", vec!["Add alert"]),
            ]
        );
        let today = parse_date("2026-11-24").unwrap();
        let alice = &owners[1].1[0];
        assert!(alice.overdue(today));
        assert!(!owners[0].1[1].overdue(today), "due after today");
        assert!(
            !owners[0].1[2].overdue(today),
            "no due date is never overdue"
        );
        // Due today is not overdue yet.
        assert!(!alice.overdue(parse_date("2026-11-01").unwrap()));

        let orders = open_items_by_owner(&incidents, Some("orders"));
        assert_eq!(orders.len(), 1);
        assert_eq!(orders[0].0, "bob");
        assert_eq!(orders[0].1.len(), 1);
    }
}
