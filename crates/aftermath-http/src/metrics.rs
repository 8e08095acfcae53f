//! `GET /v1/metrics/summary`: MTTA, MTTR, MTTD, counts per class, severity, service and
//! week, and acknowledgement-SLA breaches over a window, computed at query time from the
//! incidents opened in it (cross-incident figures never live in the fold).

use std::collections::HashMap;

use aftermath_core::{summarize, MetricsSummary, Timestamp, MAX_WEEKS};
use aftermath_store::Scope;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use serde::Serialize;

use crate::auth::Caller;
use crate::error::ErrorBody;
use crate::{now, ApiError, AppState};

/// The window when the request names none: the last twelve weeks.
pub const DEFAULT_WINDOW_DAYS: i64 = 12 * 7;

/// The summary, and the service it was narrowed to.
#[derive(Serialize)]
pub struct SummaryView {
    /// The `service` filter, if one was given.
    pub service: Option<String>,
    #[serde(flatten)]
    pub summary: MetricsSummary,
}

/// A summary request, parsed: `[from, to)` and an optional service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SummaryQuery {
    pub from: Timestamp,
    pub to: Timestamp,
    pub service: Option<String>,
}

impl SummaryQuery {
    /// Parses `from`, `to` (RFC 3339, or `YYYY-MM-DD` for midnight UTC) and `service`.
    /// `to` defaults to now, `from` to twelve weeks before `to`.
    pub fn parse(params: &HashMap<String, String>, now: Timestamp) -> Result<Self, ApiError> {
        if let Some(unknown) = params
            .keys()
            .find(|key| !matches!(key.as_str(), "from" | "to" | "service"))
        {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("unknown parameter {unknown:?}; use from, to, service"),
            ));
        }
        let instant = |name: &str| -> Result<Option<Timestamp>, ApiError> {
            params
                .get(name)
                .filter(|text| !text.is_empty())
                .map(|text| {
                    parse_instant(text).ok_or_else(|| {
                        ApiError::bad_request(
                            "invalid_query",
                            format!(
                                "{name}: {text:?} is not an RFC 3339 time or a YYYY-MM-DD date"
                            ),
                        )
                    })
                })
                .transpose()
        };
        let to = instant("to")?.unwrap_or(now);
        let from = match instant("from")? {
            Some(from) => from,
            None => {
                Timestamp::from_datetime(to.datetime() - time::Duration::days(DEFAULT_WINDOW_DAYS))
            }
        };
        if from >= to {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("from ({from}) must be before to ({to})"),
            ));
        }
        let weeks = (to.datetime() - from.datetime()).whole_weeks();
        if weeks >= MAX_WEEKS as i64 {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("the window from {from} to {to} is longer than {MAX_WEEKS} weeks"),
            ));
        }
        let service = params
            .get("service")
            .map(|text| text.trim().to_owned())
            .filter(|text| !text.is_empty());
        Ok(Self { from, to, service })
    }
}

/// An RFC 3339 instant, or a calendar date meaning its midnight in UTC.
fn parse_instant(text: &str) -> Option<Timestamp> {
    if let Ok(at) = Timestamp::parse(text) {
        return Some(at);
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(text, &format).ok()?;
    Some(Timestamp::from_datetime(date.midnight().assume_utc()))
}

/// Reads the incidents of the window and summarizes them. Shared with the dashboard page.
pub(crate) async fn summary(
    state: &AppState,
    query: &SummaryQuery,
) -> Result<SummaryView, ApiError> {
    let incidents = state
        .store
        .incidents_opened_between(query.from, query.to, query.service.as_deref())
        .await
        .map_err(|error| ApiError::internal("reading incidents for metrics", error))?;
    Ok(SummaryView {
        service: query.service.clone(),
        summary: summarize(&incidents, query.from, query.to, &state.ack_policy, now()),
    })
}

/// `GET /v1/metrics/summary?from=&to=&service=`
#[utoipa::path(get, path = "/v1/metrics/summary", tag = "read",
    security(("bearer" = ["read"])),
    params(
        ("from" = Option<String>, Query, description = "Start (inclusive): RFC 3339, or YYYY-MM-DD for midnight UTC. Default: 12 weeks before `to`"),
        ("to" = Option<String>, Query, description = "End (exclusive). Default: now"),
        ("service" = Option<String>, Query, description = "Only incidents of this service"),
    ),
    responses(
        (status = 200, description = "`mtta_seconds`, `mttr_seconds`, `mttd_seconds` (means; p90s too), `targets` (the SOP's 5 min / 1 h), counts within target, `ack_sla_breaches`, `by_severity`, `by_class`, `by_service`, `by_week` (every week of the window)", body = Object),
        (status = 400, description = "Bad query parameter", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Token lacks `read`", body = ErrorBody)
    ))]
pub(crate) async fn metrics_summary(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<SummaryView>, ApiError> {
    caller.require(Scope::Read)?;
    let Query(params) =
        query.map_err(|rejection| ApiError::bad_request("invalid_query", rejection.body_text()))?;
    let query = SummaryQuery::parse(&params, now())?;
    Ok(Json(summary(&state, &query).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn at(text: &str) -> Timestamp {
        Timestamp::parse(text).unwrap()
    }

    #[test]
    fn the_window_defaults_to_twelve_weeks_before_now() {
        let now = at("2026-11-24T12:00:00Z");
        let query = SummaryQuery::parse(&params(&[]), now).unwrap();
        assert_eq!(query.to, now);
        assert_eq!(query.from, at("2026-09-01T12:00:00Z"));
        assert_eq!(query.service, None);
    }

    #[test]
    fn dates_mean_midnight_utc_and_times_are_taken_as_given() {
        let now = at("2026-11-24T12:00:00Z");
        let query = SummaryQuery::parse(
            &params(&[
                ("from", "2026-11-02"),
                ("to", "2026-11-09T06:00:00+01:00"),
                ("service", " checkout "),
            ]),
            now,
        )
        .unwrap();
        assert_eq!(query.from, at("2026-11-02T00:00:00Z"));
        assert_eq!(query.to, at("2026-11-09T05:00:00Z"));
        assert_eq!(query.service.as_deref(), Some("checkout"));
    }

    #[test]
    fn bad_windows_are_refused_with_the_parameter_named() {
        let now = at("2026-11-24T12:00:00Z");
        let detail = |pairs: &[(&str, &str)]| {
            SummaryQuery::parse(&params(pairs), now)
                .unwrap_err()
                .detail()
                .to_owned()
        };
        assert!(detail(&[("from", "last week")]).starts_with("from: \"last week\""));
        assert!(detail(&[("to", "2026-13-01")]).starts_with("to: "));
        assert!(detail(&[("from", "2026-11-10"), ("to", "2026-11-01")]).contains("must be before"));
        assert!(detail(&[("from", "1990-01-01")]).contains("longer than 520 weeks"));
        assert!(detail(&[("owner", "x")]).contains("unknown parameter \"owner\""));
    }
}
