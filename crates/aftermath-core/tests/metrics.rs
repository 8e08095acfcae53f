//! Given / when / then tests of the managers' metrics summary: incidents are folded from
//! real facts (built `alert.notified` facts and captured Alertmanager webhooks, then
//! responders' acknowledgements, resolutions and class overrides), summarized over a
//! window, and every figure checked against numbers worked out by hand; property tests
//! check that the groupings partition the window's incidents and the weeks cover it.

use std::collections::BTreeMap;

use aftermath_core::{
    normalize_alertmanager, summarize, AckPolicy, Acknowledged, AlertNotified, AlertStatus,
    ClassificationOverridden, ErrorClass, Fact, FactBody, Incident, MetricsSummary, Projection,
    Resolved, Severity, Timestamp, ACK_TARGET_SECONDS, FIX_TARGET_SECONDS, MAX_WEEKS,
};
use proptest::prelude::*;
use uuid::Uuid;

const BILLING_MIGRATION_FIRING: &str =
    include_str!("../../../tests/fixtures/alertmanager/05-billing-firing.json");
const CHECKOUT_FIRING: &str =
    include_str!("../../../tests/fixtures/alertmanager/01-checkout-firing.json");

const MINUTE: i64 = 60;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
const WEEK: i64 = 7 * DAY;

/// Monday 2026-11-02 00:00:00 UTC: the first week of every window below.
fn monday() -> Timestamp {
    at("2026-11-02T00:00:00Z")
}

fn at(text: &str) -> Timestamp {
    Timestamp::parse(text).unwrap()
}

/// `seconds` after `base`.
fn plus(base: Timestamp, seconds: i64) -> Timestamp {
    Timestamp::from_unix_seconds(base.datetime().unix_timestamp() + seconds).unwrap()
}

/// What the alert that opens an incident says.
#[derive(Clone, Debug)]
struct Alert {
    severity: Severity,
    service: Option<String>,
    /// Seconds the alert had been firing when Aftermath received it.
    firing_for: i64,
}

impl Default for Alert {
    fn default() -> Self {
        Self {
            severity: Severity::Critical,
            service: Some("checkout".into()),
            firing_for: 0,
        }
    }
}

/// The log so far, folded: incidents are opened and worked on by appending facts.
struct Given {
    projection: Projection,
    facts: u128,
}

impl Given {
    fn new() -> Self {
        Self {
            projection: Projection::default(),
            facts: 0,
        }
    }

    fn fact(&mut self, stream_key: &str, recorded_at: Timestamp, body: FactBody) -> Fact {
        self.facts += 1;
        Fact {
            fact_id: Uuid::from_u128(self.facts),
            stream_key: stream_key.to_owned(),
            occurred_at: recorded_at,
            recorded_at,
            body,
        }
    }

    fn apply(&mut self, fact: Fact) {
        self.projection.apply(&fact);
    }

    /// An incident opened at `opened_at` by one firing alert, on a stream of its own.
    fn opened(&mut self, opened_at: Timestamp, alert: Alert) -> Uuid {
        let stream_key = format!("test:probe-{}", self.facts);
        let mut labels = BTreeMap::from([("alertname".to_owned(), "Probe".to_owned())]);
        if let Some(service) = &alert.service {
            labels.insert("service".into(), service.clone());
        }
        labels.insert("severity".into(), alert.severity.as_str().into());
        let notified = AlertNotified {
            source: "alertmanager".into(),
            notification_id: Uuid::from_u128(u128::MAX - self.facts),
            group_key: stream_key.clone(),
            fingerprint: "f1".into(),
            status: AlertStatus::Firing,
            labels,
            annotations: BTreeMap::from([("summary".to_owned(), "Probe is down".to_owned())]),
            starts_at: plus(opened_at, -alert.firing_for),
            ends_at: None,
            generator_url: "http://prometheus.example/graph".into(),
            title: "Probe is down".into(),
            severity: alert.severity,
            service: alert.service,
        };
        let fact = self.fact(&stream_key, opened_at, FactBody::AlertNotified(notified));
        self.apply(fact);
        self.projection.streams[&stream_key]
            .current_incident
            .expect("a firing alert opens an incident")
    }

    /// An incident opened by a captured Alertmanager webhook received at `received_at`.
    fn notified(&mut self, body: &str, received_at: Timestamp) -> Uuid {
        let facts = normalize_alertmanager(body.as_bytes(), received_at).unwrap();
        let stream_key = facts[0].stream_key.clone();
        for fact in facts {
            self.apply(fact);
        }
        self.projection.streams[&stream_key]
            .current_incident
            .unwrap()
    }

    fn stream_of(&self, incident: Uuid) -> String {
        self.projection.incidents[&incident].stream_key.clone()
    }

    fn opened_at(&self, incident: Uuid) -> Timestamp {
        self.projection.incidents[&incident].opened_at
    }

    fn acknowledged_after(&mut self, incident: Uuid, seconds: i64) -> &mut Self {
        let when = plus(self.opened_at(incident), seconds);
        let body = FactBody::Acknowledged(Acknowledged {
            incident_id: incident,
            actor: "alice".into(),
            note: None,
        });
        let fact = self.fact(&self.stream_of(incident), when, body);
        self.apply(fact);
        self
    }

    fn resolved_after(&mut self, incident: Uuid, seconds: i64) -> &mut Self {
        let when = plus(self.opened_at(incident), seconds);
        let body = FactBody::Resolved(Resolved {
            incident_id: incident,
            actor: "alice".into(),
            resolution: None,
        });
        let fact = self.fact(&self.stream_of(incident), when, body);
        self.apply(fact);
        self
    }

    fn classified_by_hand(&mut self, incident: Uuid, class: Option<ErrorClass>) -> &mut Self {
        let when = plus(self.opened_at(incident), MINUTE);
        let body = FactBody::ClassificationOverridden(ClassificationOverridden {
            incident_id: incident,
            actor: "alice".into(),
            class,
            reason: "seen it before".into(),
        });
        let fact = self.fact(&self.stream_of(incident), when, body);
        self.apply(fact);
        self
    }

    /// The incidents as the store returns them: oldest first.
    fn incidents(&self) -> Vec<Incident> {
        let mut incidents: Vec<Incident> = self.projection.incidents.values().cloned().collect();
        incidents.sort_by_key(|incident| incident.opened_at);
        incidents
    }

    /// Summarizes the window `[from, to)` under the SOP's default policy, at `now`.
    fn summary(&self, from: Timestamp, to: Timestamp, now: Timestamp) -> MetricsSummary {
        summarize(&self.incidents(), from, to, &AckPolicy::default(), now)
    }
}

fn week_rows(summary: &MetricsSummary) -> Vec<(String, u64)> {
    summary
        .by_week
        .iter()
        .map(|week| (week.week_start.clone(), week.incidents))
        .collect()
}

fn class_counts(summary: &MetricsSummary) -> Vec<(String, u64)> {
    summary
        .by_class
        .iter()
        .map(|row| (row.key.clone(), row.incidents))
        .collect()
}

#[test]
fn acknowledgements_after_3_and_7_minutes_average_5_minutes_with_one_within_target() {
    let mut given = Given::new();
    let quick = given.opened(plus(monday(), HOUR), Alert::default());
    let slow = given.opened(plus(monday(), 2 * HOUR), Alert::default());
    given.acknowledged_after(quick, 3 * MINUTE);
    given.acknowledged_after(slow, 7 * MINUTE);

    let summary = given.summary(monday(), plus(monday(), WEEK), plus(monday(), WEEK));

    assert_eq!(summary.incidents, 2);
    assert_eq!(summary.acknowledged, 2);
    assert_eq!(summary.mtta_seconds, Some(5 * MINUTE));
    assert_eq!(summary.mtta_p90_seconds, Some(7 * MINUTE));
    assert_eq!(summary.acknowledged_within_target, 1);
    assert_eq!(
        summary.ack_sla_breaches, 1,
        "the 7-minute acknowledgement breached the 5-minute SLA"
    );
    assert_eq!(summary.open, 2);
    assert_eq!(summary.resolved, 0);
    assert_eq!(summary.mttr_seconds, None);
    assert_eq!(summary.mttr_p90_seconds, None);
}

#[test]
fn resolutions_after_30_minutes_and_2_hours_average_75_minutes_with_one_within_target() {
    let mut given = Given::new();
    let fixed_fast = given.opened(plus(monday(), HOUR), Alert::default());
    let fixed_slow = given.opened(plus(monday(), 2 * HOUR), Alert::default());
    let still_open = given.opened(plus(monday(), 3 * HOUR), Alert::default());
    given
        .acknowledged_after(fixed_fast, MINUTE)
        .resolved_after(fixed_fast, 30 * MINUTE);
    given
        .acknowledged_after(fixed_slow, MINUTE)
        .resolved_after(fixed_slow, 2 * HOUR);
    given.acknowledged_after(still_open, MINUTE);

    let summary = given.summary(monday(), plus(monday(), WEEK), plus(monday(), WEEK));

    assert_eq!(summary.incidents, 3);
    assert_eq!(summary.resolved, 2);
    assert_eq!(summary.open, 1);
    assert_eq!(summary.mttr_seconds, Some(75 * MINUTE));
    assert_eq!(summary.mttr_p90_seconds, Some(2 * HOUR));
    assert_eq!(summary.resolved_within_target, 1);
    assert_eq!(summary.targets.fix_seconds, FIX_TARGET_SECONDS);
    assert_eq!(summary.targets.ack_seconds, ACK_TARGET_SECONDS);
}

#[test]
fn a_mean_is_rounded_to_the_nearest_second() {
    let mut given = Given::new();
    let first = given.opened(plus(monday(), HOUR), Alert::default());
    let second = given.opened(plus(monday(), 2 * HOUR), Alert::default());
    given.acknowledged_after(first, 100);
    given.acknowledged_after(second, 101);

    let summary = given.summary(monday(), plus(monday(), WEEK), plus(monday(), WEEK));

    assert_eq!(summary.mtta_seconds, Some(101), "100.5 rounds up");
}

#[test]
fn time_to_detect_runs_from_the_first_alert_start_and_never_below_zero() {
    let mut given = Given::new();
    given.opened(
        plus(monday(), HOUR),
        Alert {
            firing_for: 4 * MINUTE,
            ..Alert::default()
        },
    );
    // A sender whose clock runs ahead stamps the alert after Aftermath received it.
    given.opened(
        plus(monday(), 2 * HOUR),
        Alert {
            firing_for: -30,
            ..Alert::default()
        },
    );

    let summary = given.summary(monday(), plus(monday(), WEEK), plus(monday(), WEEK));

    assert_eq!(summary.mttd_seconds, Some(2 * MINUTE), "(240 + 0) / 2");
}

#[test]
fn an_unacknowledged_open_incident_breaches_once_now_is_past_due() {
    let mut given = Given::new();
    given.opened(plus(monday(), HOUR), Alert::default());
    let from = monday();
    let to = plus(monday(), WEEK);

    let within = given.summary(from, to, plus(monday(), HOUR + 4 * MINUTE));
    let overdue = given.summary(from, to, plus(monday(), HOUR + 6 * MINUTE));

    assert_eq!(within.ack_sla_breaches, 0);
    assert_eq!(overdue.ack_sla_breaches, 1);
    assert_eq!(overdue.by_severity[&Severity::Critical].ack_sla_breaches, 1);
    assert_eq!(overdue.acknowledged, 0);
    assert_eq!(overdue.mtta_seconds, None);
}

#[test]
fn the_configured_policy_decides_breaches_while_the_sop_target_decides_within_target() {
    let mut given = Given::new();
    let warning = given.opened(
        plus(monday(), HOUR),
        Alert {
            severity: Severity::Warning,
            ..Alert::default()
        },
    );
    given.acknowledged_after(warning, 20 * MINUTE);
    let lenient = AckPolicy::parse_minutes("warning=30").unwrap();

    let summary = summarize(
        &given.incidents(),
        monday(),
        plus(monday(), WEEK),
        &lenient,
        plus(monday(), WEEK),
    );

    assert_eq!(summary.ack_sla_breaches, 0);
    assert_eq!(summary.acknowledged_within_target, 0);
}

#[test]
fn a_week_without_incidents_is_listed_with_zeros() {
    let mut given = Given::new();
    let first_week = given.opened(plus(monday(), DAY), Alert::default());
    let third_week = given.opened(plus(monday(), 2 * WEEK + DAY), Alert::default());
    given.acknowledged_after(first_week, 3 * MINUTE);
    given.acknowledged_after(third_week, 7 * MINUTE);

    let summary = given.summary(monday(), plus(monday(), 3 * WEEK), plus(monday(), 3 * WEEK));

    assert_eq!(
        week_rows(&summary),
        [
            ("2026-11-02".to_owned(), 1),
            ("2026-11-09".to_owned(), 0),
            ("2026-11-16".to_owned(), 1),
        ]
    );
    let empty = &summary.by_week[1];
    assert_eq!(empty.mtta_seconds, None);
    assert_eq!(empty.mttr_seconds, None);
    assert_eq!(empty.acknowledged_within_target, 0);
    assert_eq!(empty.resolved_within_target, 0);
    assert_eq!(empty.ack_sla_breaches, 0);
    assert_eq!(summary.by_week[0].mtta_seconds, Some(3 * MINUTE));
    assert_eq!(summary.by_week[0].acknowledged_within_target, 1);
    assert_eq!(summary.by_week[2].mtta_seconds, Some(7 * MINUTE));
    assert_eq!(summary.by_week[2].ack_sla_breaches, 1);
    assert!(!summary.by_week_truncated);
}

#[test]
fn weeks_partly_in_the_window_are_listed_from_their_monday() {
    let given = Given::new();
    // Wednesday 2026-11-04 noon to Tuesday 2026-11-17 noon touches three ISO weeks.
    let summary = given.summary(
        at("2026-11-04T12:00:00Z"),
        at("2026-11-17T12:00:00Z"),
        at("2026-11-20T00:00:00Z"),
    );

    let mondays: Vec<&str> = summary
        .by_week
        .iter()
        .map(|week| week.week_start.as_str())
        .collect();
    assert_eq!(mondays, ["2026-11-02", "2026-11-09", "2026-11-16"]);
}

#[test]
fn the_window_includes_from_and_excludes_to() {
    let mut given = Given::new();
    let from = monday();
    let to = plus(monday(), WEEK);
    given.opened(plus(from, -1), Alert::default());
    given.opened(from, Alert::default());
    given.opened(plus(to, -1), Alert::default());
    given.opened(to, Alert::default());

    let summary = given.summary(from, to, to);

    assert_eq!(summary.incidents, 2);
    assert_eq!(
        week_rows(&summary),
        [("2026-11-02".to_owned(), 2)],
        "a window ending on Monday 00:00 does not touch that Monday's week"
    );
    assert_eq!(summary.from, from);
    assert_eq!(summary.to, to);
}

#[test]
fn an_empty_window_has_no_incidents_and_no_weeks() {
    let mut given = Given::new();
    given.opened(monday(), Alert::default());

    let summary = given.summary(monday(), monday(), monday());

    assert_eq!(summary.incidents, 0);
    assert!(summary.by_week.is_empty());
    assert_eq!(summary.by_class.len(), 6);
    assert_eq!(summary.by_severity.len(), 4);
    assert!(summary.by_service.is_empty());
}

#[test]
fn every_severity_is_present_zeros_included() {
    let mut given = Given::new();
    for severity in [Severity::Critical, Severity::Critical, Severity::Warning] {
        given.opened(
            plus(monday(), HOUR),
            Alert {
                severity,
                ..Alert::default()
            },
        );
    }

    let summary = given.summary(monday(), plus(monday(), WEEK), plus(monday(), WEEK));

    let counts: Vec<(Severity, &str, u64)> = summary
        .by_severity
        .iter()
        .map(|(severity, row)| (*severity, row.key.as_str(), row.incidents))
        .collect();
    assert_eq!(
        counts,
        [
            (Severity::Info, "info", 0),
            (Severity::Warning, "warning", 1),
            (Severity::Error, "error", 0),
            (Severity::Critical, "critical", 2),
        ]
    );
    assert_eq!(summary.by_severity[&Severity::Info].mtta_seconds, None);
}

#[test]
fn the_classifiers_class_counts_and_every_class_row_is_present_in_order() {
    let mut given = Given::new();
    given.notified(BILLING_MIGRATION_FIRING, plus(monday(), HOUR));
    given.opened(plus(monday(), 2 * HOUR), Alert::default());

    let summary = given.summary(monday(), plus(monday(), WEEK), plus(monday(), WEEK));

    assert_eq!(
        class_counts(&summary),
        [
            ("E101".to_owned(), 0),
            ("E102".to_owned(), 0),
            ("E103".to_owned(), 0),
            ("E104".to_owned(), 1),
            ("E105".to_owned(), 0),
            ("unclassified".to_owned(), 1),
        ]
    );
    assert_eq!(summary.by_class[3].title, "Database Migration Failure");
    assert_eq!(summary.by_class[5].title, "Unclassified");
}

#[test]
fn a_responders_class_override_is_counted_under_its_class() {
    let mut given = Given::new();
    let migration = given.notified(BILLING_MIGRATION_FIRING, plus(monday(), HOUR));
    let probe = given.opened(plus(monday(), 2 * HOUR), Alert::default());
    given.classified_by_hand(migration, Some(ErrorClass::E103));
    given.classified_by_hand(probe, Some(ErrorClass::E105));
    given
        .acknowledged_after(probe, 2 * MINUTE)
        .resolved_after(probe, 40 * MINUTE);

    let summary = given.summary(monday(), plus(monday(), WEEK), plus(monday(), WEEK));

    assert_eq!(
        class_counts(&summary),
        [
            ("E101".to_owned(), 0),
            ("E102".to_owned(), 0),
            ("E103".to_owned(), 1),
            ("E104".to_owned(), 0),
            ("E105".to_owned(), 1),
            ("unclassified".to_owned(), 0),
        ]
    );
    let merge_conflicts = &summary.by_class[4];
    assert_eq!(merge_conflicts.title, "Git Merge Conflict");
    assert_eq!(merge_conflicts.mtta_seconds, Some(2 * MINUTE));
    assert_eq!(merge_conflicts.mttr_seconds, Some(40 * MINUTE));
    assert_eq!(merge_conflicts.resolved_within_target, 1);
    assert_eq!(merge_conflicts.open, 0);
}

#[test]
fn an_override_to_unclassified_moves_the_incident_out_of_its_class() {
    let mut given = Given::new();
    let migration = given.notified(BILLING_MIGRATION_FIRING, plus(monday(), HOUR));
    given.classified_by_hand(migration, None);

    let summary = given.summary(monday(), plus(monday(), WEEK), plus(monday(), WEEK));

    assert_eq!(summary.by_class[3].incidents, 0);
    assert_eq!(summary.by_class[5].incidents, 1);
}

#[test]
fn services_are_grouped_most_incidents_first_then_by_name() {
    let mut given = Given::new();
    let checkout_one = given.notified(CHECKOUT_FIRING, plus(monday(), HOUR));
    given.opened(plus(monday(), 2 * HOUR), Alert::default());
    given.notified(BILLING_MIGRATION_FIRING, plus(monday(), 3 * HOUR));
    given.opened(
        plus(monday(), 4 * HOUR),
        Alert {
            service: None,
            ..Alert::default()
        },
    );
    given.acknowledged_after(checkout_one, 4 * MINUTE);

    let summary = given.summary(monday(), plus(monday(), WEEK), plus(monday(), WEEK));

    let rows: Vec<(&str, &str, u64)> = summary
        .by_service
        .iter()
        .map(|row| (row.key.as_str(), row.title.as_str(), row.incidents))
        .collect();
    assert_eq!(
        rows,
        [
            ("checkout", "checkout", 2),
            ("(no service)", "(no service)", 1),
            ("billing", "billing", 1),
        ]
    );
    assert_eq!(summary.by_service[0].mtta_seconds, Some(4 * MINUTE));
    assert_eq!(summary.by_service[0].open, 2);
}

#[test]
fn the_summary_serializes_to_the_documented_json_shape_and_back() {
    let mut given = Given::new();
    let incident = given.opened(plus(monday(), HOUR), Alert::default());
    given
        .acknowledged_after(incident, 3 * MINUTE)
        .resolved_after(incident, 50 * MINUTE);
    let summary = given.summary(monday(), plus(monday(), WEEK), plus(monday(), WEEK));

    let json = serde_json::to_value(&summary).unwrap();

    assert_eq!(json["from"], "2026-11-02T00:00:00Z");
    assert_eq!(json["to"], "2026-11-09T00:00:00Z");
    assert_eq!(json["incidents"], 1);
    assert_eq!(json["mtta_seconds"], 180);
    assert_eq!(json["mttr_p90_seconds"], 3000);
    assert_eq!(
        json["targets"],
        serde_json::json!({"ack_seconds": 300, "fix_seconds": 3600})
    );
    assert_eq!(
        json["by_severity"]["critical"],
        serde_json::json!({
            "key": "critical", "title": "Critical", "incidents": 1, "open": 0,
            "mtta_seconds": 180, "mttr_seconds": 3000, "ack_sla_breaches": 0,
            "resolved_within_target": 1
        })
    );
    assert_eq!(
        json["by_severity"]["info"]["mtta_seconds"],
        serde_json::Value::Null
    );
    assert_eq!(
        json["by_week"][0],
        serde_json::json!({
            "week_start": "2026-11-02", "incidents": 1, "mtta_seconds": 180,
            "mttr_seconds": 3000, "acknowledged_within_target": 1,
            "resolved_within_target": 1, "ack_sla_breaches": 0
        })
    );
    assert_eq!(json["by_class"][5]["key"], "unclassified");
    assert_eq!(json["by_service"][0]["key"], "checkout");
    assert_eq!(json["by_week_truncated"], false);
    let back: MetricsSummary = serde_json::from_value(json).unwrap();
    assert_eq!(back, summary);
}

#[test]
fn a_window_longer_than_ten_years_lists_only_its_latest_weeks() {
    let mut given = Given::new();
    given.opened(at("2000-01-05T00:00:00Z"), Alert::default());
    given.opened(plus(monday(), HOUR), Alert::default());

    let summary = given.summary(
        at("2000-01-03T00:00:00Z"),
        plus(monday(), WEEK),
        plus(monday(), WEEK),
    );

    assert!(summary.by_week_truncated);
    assert_eq!(summary.by_week.len(), MAX_WEEKS);
    assert_eq!(summary.by_week.last().unwrap().week_start, "2026-11-02");
    assert_eq!(summary.by_week.last().unwrap().incidents, 1);
    assert_eq!(
        summary.incidents, 2,
        "the totals still cover the whole window"
    );
}

// Properties.

/// One incident to fold: when it opens (seconds after `monday()`), what its alert says,
/// and what responders did.
#[derive(Clone, Debug)]
struct IncidentPlan {
    opened_after: i64,
    severity: Severity,
    service: Option<String>,
    ack_after: Option<i64>,
    resolve_after: Option<i64>,
    /// `Some(None)`: overridden to unclassified.
    override_class: Option<Option<ErrorClass>>,
}

fn incident_plan() -> impl Strategy<Value = IncidentPlan> {
    (
        0..10 * WEEK,
        prop::sample::select(vec![
            Severity::Critical,
            Severity::Error,
            Severity::Warning,
            Severity::Info,
        ]),
        prop::option::of(prop::sample::select(vec!["checkout", "billing", "search"])),
        prop::option::of(0..2 * HOUR),
        prop::option::of(0..4 * HOUR),
        prop::option::of(prop::option::of(prop::sample::select(
            ErrorClass::ALL.to_vec(),
        ))),
    )
        .prop_map(
            |(opened_after, severity, service, ack_after, resolve_after, override_class)| {
                IncidentPlan {
                    opened_after,
                    severity,
                    service: service.map(str::to_owned),
                    ack_after,
                    // A resolution comes after the acknowledgement, if there is one.
                    resolve_after: resolve_after.map(|r| r + ack_after.unwrap_or(0)),
                    override_class,
                }
            },
        )
}

fn fold_plans(plans: &[IncidentPlan]) -> Given {
    let mut given = Given::new();
    for plan in plans {
        let id = given.opened(
            plus(monday(), plan.opened_after),
            Alert {
                severity: plan.severity,
                service: plan.service.clone(),
                firing_for: 0,
            },
        );
        if let Some(class) = plan.override_class {
            given.classified_by_hand(id, class);
        }
        if let Some(seconds) = plan.ack_after {
            given.acknowledged_after(id, seconds);
        }
        if let Some(seconds) = plan.resolve_after {
            given.resolved_after(id, seconds);
        }
    }
    given
}

/// A window inside (or around) the ten weeks the plans open incidents in.
fn window() -> impl Strategy<Value = (Timestamp, Timestamp)> {
    (-WEEK..11 * WEEK, 0..12 * WEEK)
        .prop_map(|(start, length)| (plus(monday(), start), plus(monday(), start + length)))
}

fn date_of(week_start: &str) -> time::Date {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(week_start, &format).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_grouping_partitions_the_incidents_of_the_window(
        plans in prop::collection::vec(incident_plan(), 0..25),
        (from, to) in window(),
    ) {
        let given = fold_plans(&plans);
        let summary = given.summary(from, to, plus(monday(), 12 * WEEK));

        let in_window = given
            .incidents()
            .iter()
            .filter(|incident| from <= incident.opened_at && incident.opened_at < to)
            .count() as u64;
        prop_assert_eq!(summary.incidents, in_window);
        prop_assert_eq!(summary.open + summary.resolved, summary.incidents);
        prop_assert_eq!(summary.by_class.iter().map(|row| row.incidents).sum::<u64>(), summary.incidents);
        prop_assert_eq!(summary.by_severity.values().map(|row| row.incidents).sum::<u64>(), summary.incidents);
        prop_assert_eq!(summary.by_service.iter().map(|row| row.incidents).sum::<u64>(), summary.incidents);
        prop_assert_eq!(summary.by_week.iter().map(|week| week.incidents).sum::<u64>(), summary.incidents);
        prop_assert_eq!(
            summary.by_week.iter().map(|week| week.ack_sla_breaches).sum::<u64>(),
            summary.ack_sla_breaches
        );
        prop_assert_eq!(summary.by_class.len(), 6);
        prop_assert_eq!(summary.by_severity.len(), 4);
        prop_assert!(summary.acknowledged_within_target <= summary.acknowledged);
        prop_assert!(summary.resolved_within_target <= summary.resolved);
        prop_assert!(summary.by_service.windows(2).all(|pair| {
            (pair[0].incidents, &pair[1].key) > (pair[1].incidents, &pair[0].key)
        }), "most incidents first, then by name");
    }

    #[test]
    fn mtta_and_its_p90_lie_between_the_fastest_and_slowest_acknowledgement(
        plans in prop::collection::vec(incident_plan(), 0..25),
        (from, to) in window(),
    ) {
        let given = fold_plans(&plans);
        let summary = given.summary(from, to, plus(monday(), 12 * WEEK));

        let acks: Vec<i64> = given
            .incidents()
            .iter()
            .filter(|incident| from <= incident.opened_at && incident.opened_at < to)
            .filter_map(Incident::time_to_acknowledge_seconds)
            .collect();
        match (acks.iter().min(), acks.iter().max()) {
            (Some(fastest), Some(slowest)) => {
                let mtta = summary.mtta_seconds.unwrap();
                let p90 = summary.mtta_p90_seconds.unwrap();
                prop_assert!(*fastest <= mtta && mtta <= *slowest);
                prop_assert!(*fastest <= p90 && p90 <= *slowest);
                prop_assert_eq!(summary.acknowledged, acks.len() as u64);
            }
            _ => {
                prop_assert_eq!(summary.mtta_seconds, None);
                prop_assert_eq!(summary.mtta_p90_seconds, None);
            }
        }
    }

    #[test]
    fn weeks_are_consecutive_mondays_covering_the_window(
        (from, to) in window(),
    ) {
        let summary = Given::new().summary(from, to, to);

        if from >= to {
            prop_assert!(summary.by_week.is_empty());
        } else {
            let mondays: Vec<time::Date> =
                summary.by_week.iter().map(|week| date_of(&week.week_start)).collect();
            prop_assert!(mondays.iter().all(|day| day.weekday() == time::Weekday::Monday));
            prop_assert!(mondays.windows(2).all(|pair| pair[1] - pair[0] == time::Duration::WEEK));
            let first = mondays[0].midnight().assume_utc();
            let last = mondays[mondays.len() - 1].midnight().assume_utc();
            prop_assert!(first <= from.datetime() && from.datetime() < first + time::Duration::WEEK);
            prop_assert!(last < to.datetime() && to.datetime() <= last + time::Duration::WEEK);
        }
    }

    #[test]
    fn the_order_of_the_incidents_does_not_change_the_summary(
        plans in prop::collection::vec(incident_plan(), 0..15),
        (from, to) in window(),
    ) {
        let given = fold_plans(&plans);
        let oldest_first = given.incidents();
        let mut newest_first = oldest_first.clone();
        newest_first.reverse();
        let policy = AckPolicy::default();
        let now = plus(monday(), 12 * WEEK);

        prop_assert_eq!(
            summarize(&oldest_first, from, to, &policy, now),
            summarize(&newest_first, from, to, &policy, now)
        );
    }
}
