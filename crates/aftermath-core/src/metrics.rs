//! The managers' metrics summary: MTTA, MTTR, MTTD and counts per week, severity, error
//! class and service, measured against the SOP's targets.
//!
//! Cross-incident figures are computed here, at query time, from the incidents the store
//! returns for a window; the fold never keeps them (incidents of different partitions
//! interleave differently on every replay, so a running total would not be a pure fold).
//! Pure like the rest of the crate: the caller passes `now` for the open incidents' SLA.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::{Date, Duration};

use crate::{AckPolicy, ErrorClass, Incident, Severity, Timestamp};

/// The SOP: acknowledge within 5 minutes.
pub const ACK_TARGET_SECONDS: i64 = 5 * 60;
/// The SOP: fix deployed within 1 hour.
pub const FIX_TARGET_SECONDS: i64 = 60 * 60;
/// The most weeks `by_week` lists (ten years). A longer window keeps its latest
/// `MAX_WEEKS` weeks and sets `by_week_truncated`, so an absurd `from` cannot make the
/// summary allocate without bound; every other figure still covers the whole window.
pub const MAX_WEEKS: usize = 520;
/// The `by_class` key of incidents without an error class.
pub const UNCLASSIFIED_KEY: &str = "unclassified";
/// The `by_service` key of incidents whose alerts named no service.
pub const NO_SERVICE_KEY: &str = "(no service)";

/// The SOP's targets that `*_within_target` counts are measured against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Targets {
    pub ack_seconds: i64,
    pub fix_seconds: i64,
}

impl Default for Targets {
    fn default() -> Self {
        Self {
            ack_seconds: ACK_TARGET_SECONDS,
            fix_seconds: FIX_TARGET_SECONDS,
        }
    }
}

/// Figures of the incidents of one severity, error class or service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupFigures {
    /// `critical`, `E104` / `unclassified`, or the service name / `(no service)`.
    pub key: String,
    /// `Critical`, the class title (`Database Migration Failure`) / `Unclassified`, or
    /// the service name.
    pub title: String,
    pub incidents: u64,
    pub open: u64,
    pub mtta_seconds: Option<i64>,
    pub mttr_seconds: Option<i64>,
    pub ack_sla_breaches: u64,
    pub resolved_within_target: u64,
}

/// Figures of the incidents opened in one ISO week (Monday to Sunday, UTC).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeekFigures {
    /// The week's Monday, `YYYY-MM-DD`.
    pub week_start: String,
    pub incidents: u64,
    pub mtta_seconds: Option<i64>,
    pub mttr_seconds: Option<i64>,
    pub acknowledged_within_target: u64,
    pub resolved_within_target: u64,
    pub ack_sla_breaches: u64,
}

/// What managers read for a window `[from, to)`: every figure is over the incidents
/// opened in it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricsSummary {
    pub from: Timestamp,
    pub to: Timestamp,
    pub incidents: u64,
    /// Still triggered, acknowledged or mitigated.
    pub open: u64,
    /// Resolved or closed.
    pub resolved: u64,
    /// Acknowledged by a person at some point (a mitigation alone is no acknowledgement).
    pub acknowledged: u64,
    /// Mean time to acknowledge, over the acknowledged incidents (rounded).
    pub mtta_seconds: Option<i64>,
    /// 90th percentile (nearest rank) of the time to acknowledge.
    pub mtta_p90_seconds: Option<i64>,
    /// Mean time to resolve, over the resolved incidents (rounded).
    pub mttr_seconds: Option<i64>,
    pub mttr_p90_seconds: Option<i64>,
    /// Mean time to detect: from the first alert's start to Aftermath opening the
    /// incident (rounded).
    pub mttd_seconds: Option<i64>,
    pub targets: Targets,
    /// Out of `acknowledged`: acknowledged within `targets.ack_seconds`.
    pub acknowledged_within_target: u64,
    /// Out of the incidents with a resolution time: resolved within `targets.fix_seconds`.
    pub resolved_within_target: u64,
    /// Answered late, or still waiting past due at `now`, under the configured
    /// [`AckPolicy`] (per severity, so it may differ from `targets.ack_seconds`).
    pub ack_sla_breaches: u64,
    /// Every severity, zeros included.
    pub by_severity: BTreeMap<Severity, GroupFigures>,
    /// E101..E105 then `unclassified`, always all six, in that order.
    pub by_class: Vec<GroupFigures>,
    /// Each service seen, most incidents first, then by name.
    pub by_service: Vec<GroupFigures>,
    /// Every ISO week overlapping the window, oldest first, empty weeks included.
    pub by_week: Vec<WeekFigures>,
    /// The window spans more than [`MAX_WEEKS`] weeks: `by_week` holds only the latest.
    pub by_week_truncated: bool,
}

/// Summarizes the incidents opened in `[from, to)`; incidents opened outside it are
/// ignored, in whatever order they come. `now` decides whether an unacknowledged open
/// incident has breached `ack_policy`.
pub fn summarize(
    incidents: &[Incident],
    from: Timestamp,
    to: Timestamp,
    ack_policy: &AckPolicy,
    now: Timestamp,
) -> MetricsSummary {
    let in_window: Vec<&Incident> = incidents
        .iter()
        .filter(|incident| from <= incident.opened_at && incident.opened_at < to)
        .collect();

    let mut overall = Tally::default();
    let mut by_severity: BTreeMap<Severity, Tally> = SEVERITIES
        .into_iter()
        .map(|severity| (severity, Tally::default()))
        .collect();
    let mut by_class: BTreeMap<Option<ErrorClass>, Tally> = BTreeMap::new();
    let mut by_service: BTreeMap<&str, Tally> = BTreeMap::new();
    let weeks = weeks_overlapping(from, to);
    let by_week_truncated = weeks.len() > MAX_WEEKS;
    let weeks = &weeks[weeks.len().saturating_sub(MAX_WEEKS)..];
    let mut by_week: BTreeMap<Date, Tally> = weeks.iter().map(|w| (*w, Tally::default())).collect();

    for incident in in_window {
        let figures = IncidentFigures::of(incident, ack_policy, now);
        overall.add(&figures);
        by_severity
            .entry(incident.severity)
            .or_default()
            .add(&figures);
        by_class
            .entry(incident.error_class())
            .or_default()
            .add(&figures);
        by_service
            .entry(incident.service.as_deref().unwrap_or(NO_SERVICE_KEY))
            .or_default()
            .add(&figures);
        if let Some(week) = by_week.get_mut(&monday_of(incident.opened_at.datetime().date())) {
            week.add(&figures);
        }
    }

    let class_rows = ErrorClass::ALL
        .into_iter()
        .map(Some)
        .chain([None])
        .map(|class| {
            let (key, title) = match class {
                Some(class) => (class.code(), class.title()),
                None => (UNCLASSIFIED_KEY, "Unclassified"),
            };
            by_class
                .get(&class)
                .unwrap_or(&Tally::default())
                .group(key, title)
        })
        .collect();
    let mut service_rows: Vec<GroupFigures> = by_service
        .iter()
        .map(|(service, tally)| tally.group(service, service))
        .collect();
    // `by_service` iterated in name order and the sort is stable: ties stay by name.
    service_rows.sort_by_key(|row| std::cmp::Reverse(row.incidents));

    MetricsSummary {
        from,
        to,
        incidents: overall.incidents,
        open: overall.open,
        resolved: overall.incidents - overall.open,
        acknowledged: len(&overall.ack_seconds),
        mtta_seconds: mean(&overall.ack_seconds),
        mtta_p90_seconds: p90(&overall.ack_seconds),
        mttr_seconds: mean(&overall.resolve_seconds),
        mttr_p90_seconds: p90(&overall.resolve_seconds),
        mttd_seconds: mean(&overall.detect_seconds),
        targets: Targets::default(),
        acknowledged_within_target: overall.acknowledged_within_target,
        resolved_within_target: overall.resolved_within_target,
        ack_sla_breaches: overall.ack_sla_breaches,
        by_severity: by_severity
            .iter()
            .map(|(severity, tally)| {
                (
                    *severity,
                    tally.group(severity.as_str(), severity_title(*severity)),
                )
            })
            .collect(),
        by_class: class_rows,
        by_service: service_rows,
        by_week: by_week
            .iter()
            .map(|(monday, tally)| tally.week(*monday))
            .collect(),
        by_week_truncated,
    }
}

const SEVERITIES: [Severity; 4] = [
    Severity::Critical,
    Severity::Error,
    Severity::Warning,
    Severity::Info,
];

fn severity_title(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "Critical",
        Severity::Error => "Error",
        Severity::Warning => "Warning",
        Severity::Info => "Info",
    }
}

/// What one incident contributes to every group it belongs to.
struct IncidentFigures {
    open: bool,
    ack_seconds: Option<i64>,
    resolve_seconds: Option<i64>,
    detect_seconds: i64,
    ack_sla_breached: bool,
}

impl IncidentFigures {
    fn of(incident: &Incident, ack_policy: &AckPolicy, now: Timestamp) -> Self {
        Self {
            open: incident.status.is_open(),
            ack_seconds: incident.time_to_acknowledge_seconds(),
            resolve_seconds: incident.time_to_resolve_seconds(),
            // `seconds_since` clamps at 0: an alert stamped after Aftermath received it
            // (a sender's clock running ahead) is detected instantly, never before.
            detect_seconds: incident.opened_at.seconds_since(incident.started_at()),
            ack_sla_breached: ack_policy.breached(incident, now),
        }
    }
}

/// Running figures of one group of incidents.
#[derive(Default)]
struct Tally {
    incidents: u64,
    open: u64,
    ack_seconds: Vec<i64>,
    resolve_seconds: Vec<i64>,
    detect_seconds: Vec<i64>,
    acknowledged_within_target: u64,
    resolved_within_target: u64,
    ack_sla_breaches: u64,
}

impl Tally {
    fn add(&mut self, figures: &IncidentFigures) {
        self.incidents += 1;
        self.open += u64::from(figures.open);
        if let Some(seconds) = figures.ack_seconds {
            self.ack_seconds.push(seconds);
            self.acknowledged_within_target += u64::from(seconds <= ACK_TARGET_SECONDS);
        }
        if let Some(seconds) = figures.resolve_seconds {
            self.resolve_seconds.push(seconds);
            self.resolved_within_target += u64::from(seconds <= FIX_TARGET_SECONDS);
        }
        self.detect_seconds.push(figures.detect_seconds);
        self.ack_sla_breaches += u64::from(figures.ack_sla_breached);
    }

    fn group(&self, key: &str, title: &str) -> GroupFigures {
        GroupFigures {
            key: key.to_owned(),
            title: title.to_owned(),
            incidents: self.incidents,
            open: self.open,
            mtta_seconds: mean(&self.ack_seconds),
            mttr_seconds: mean(&self.resolve_seconds),
            ack_sla_breaches: self.ack_sla_breaches,
            resolved_within_target: self.resolved_within_target,
        }
    }

    fn week(&self, monday: Date) -> WeekFigures {
        WeekFigures {
            week_start: format!(
                "{:04}-{:02}-{:02}",
                monday.year(),
                u8::from(monday.month()),
                monday.day()
            ),
            incidents: self.incidents,
            mtta_seconds: mean(&self.ack_seconds),
            mttr_seconds: mean(&self.resolve_seconds),
            acknowledged_within_target: self.acknowledged_within_target,
            resolved_within_target: self.resolved_within_target,
            ack_sla_breaches: self.ack_sla_breaches,
        }
    }
}

fn len(values: &[i64]) -> u64 {
    u64::try_from(values.len()).unwrap_or(u64::MAX)
}

/// The mean, rounded half away from zero; `None` for no values. Summed in `i128` so no
/// number of incidents can overflow it.
fn mean(values: &[i64]) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    let count = values.len() as i128;
    let sum: i128 = values.iter().map(|v| i128::from(*v)).sum();
    let half = if sum < 0 { -count } else { count };
    // (2·sum ± count) / (2·count) is sum/count rounded half away from zero.
    i64::try_from((2 * sum + half) / (2 * count)).ok()
}

/// The 90th percentile by nearest rank: the smallest value with at least 90% of the
/// values at or below it (`ceil(0.9·n)`-th in ascending order); `None` for no values.
fn p90(values: &[i64]) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let rank = (9 * sorted.len()).div_ceil(10);
    sorted.get(rank.max(1) - 1).copied()
}

/// The Monday of `date`'s ISO week; `date` itself at the edge of the calendar's range.
fn monday_of(date: Date) -> Date {
    let back = Duration::days(i64::from(date.weekday().number_days_from_monday()));
    date.checked_sub(back).unwrap_or(date)
}

/// The Mondays of every ISO week that overlaps `[from, to)`, oldest first; none for an
/// empty window. Stops one week past [`MAX_WEEKS`] so the caller can tell it was longer.
fn weeks_overlapping(from: Timestamp, to: Timestamp) -> Vec<Date> {
    if from >= to {
        return Vec::new();
    }
    // `to` is exclusive: a window ending at Monday 00:00 does not touch that week.
    let last_instant = to
        .datetime()
        .checked_sub(Duration::NANOSECOND)
        .unwrap_or(to.datetime());
    let first = monday_of(from.datetime().date());
    let last = monday_of(last_instant.date());
    let total_weeks = (last - first).whole_weeks();
    // Only the latest weeks are kept, so start late enough for `MAX_WEEKS + 1` of them.
    let skipped = (total_weeks + 1 - (MAX_WEEKS as i64 + 1)).max(0);
    let mut monday = first.checked_add(Duration::weeks(skipped)).unwrap_or(first);
    let mut weeks = Vec::new();
    while monday <= last {
        weeks.push(monday);
        match monday.checked_add(Duration::WEEK) {
            Some(next) => monday = next,
            None => break,
        }
    }
    weeks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn means_round_half_away_from_zero() {
        assert_eq!(mean(&[]), None);
        assert_eq!(mean(&[1, 2]), Some(2));
        assert_eq!(mean(&[1, 1, 2]), Some(1));
        assert_eq!(mean(&[-1, -2]), Some(-2));
        assert_eq!(mean(&[i64::MAX, i64::MAX]), Some(i64::MAX));
    }

    #[test]
    fn p90_is_the_nearest_rank() {
        assert_eq!(p90(&[]), None);
        assert_eq!(p90(&[7]), Some(7));
        assert_eq!(p90(&(1..=10).rev().collect::<Vec<_>>()), Some(9));
        assert_eq!(p90(&(1..=11).collect::<Vec<_>>()), Some(10));
        assert_eq!(p90(&(1..=100).collect::<Vec<_>>()), Some(90));
    }

    #[test]
    fn an_absurd_window_keeps_its_latest_weeks() {
        let from = Timestamp::parse("1970-01-01T00:00:00Z").unwrap();
        let to = Timestamp::parse("2026-11-24T00:00:00Z").unwrap();
        let weeks = weeks_overlapping(from, to);
        assert_eq!(weeks.len(), MAX_WEEKS + 1);
        assert_eq!(weeks.last().unwrap().to_string(), "2026-11-23");
    }
}
