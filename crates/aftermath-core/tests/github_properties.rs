//! Properties of the GitHub Actions normalizer: no input makes it panic, and a generated
//! delivery always maps to the same facts on its workflow's stream, whenever it arrives.

use aftermath_core::{normalize_github, AlertStatus, Fact, FactBody, GithubDelivery, Timestamp};
use proptest::prelude::*;
use serde_json::{json, Value};

const EVENTS: [&str; 5] = ["workflow_run", "workflow_job", "ping", "push", ""];

fn recorded() -> Timestamp {
    Timestamp::parse("2026-11-24T07:00:05Z").unwrap()
}

fn ids(facts: &[Fact]) -> Vec<uuid::Uuid> {
    facts.iter().map(|fact| fact.fact_id).collect()
}

/// Holds for every answer: facts are never empty, a refusal names a field.
fn well_formed(outcome: Result<GithubDelivery, aftermath_core::IngestError>) -> bool {
    match outcome {
        Ok(GithubDelivery::Facts(facts)) => !facts.is_empty(),
        Ok(GithubDelivery::Ping | GithubDelivery::Ignored(_)) => true,
        Err(error) => !error.field.is_empty(),
    }
}

/// Any JSON, a few levels deep, with the keys the normalizer looks for among random ones.
fn arbitrary_json() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("action".to_owned()),
        Just("workflow_run".to_owned()),
        Just("workflow_job".to_owned()),
        Just("repository".to_owned()),
        Just("conclusion".to_owned()),
        Just("steps".to_owned()),
        "[a-z_]{1,12}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        Just(json!("completed")),
        Just(json!("failure")),
        Just(json!("2026-11-24T07:00:00Z")),
        ".{0,16}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(key.clone(), inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

fn name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9 ._/-]{0,20}"
}

fn timestamp() -> impl Strategy<Value = String> {
    (0i64..2_000_000_000).prop_map(|seconds| {
        Timestamp::from_unix_seconds(seconds)
            .expect("in range")
            .to_string()
    })
}

/// A completed `workflow_run` delivery with the fields GitHub always sends.
fn run_body() -> impl Strategy<Value = (String, String, String, String, String)> {
    (
        name(),
        name(),
        name(),
        prop_oneof![
            Just("failure"),
            Just("timed_out"),
            Just("startup_failure"),
            Just("success"),
            Just("cancelled"),
        ],
        timestamp(),
        timestamp(),
    )
        .prop_map(
            |(repository, workflow, branch, conclusion, started, updated)| {
                let body = json!({
                    "action": "completed",
                    "workflow_run": {
                        "id": 1, "name": workflow, "head_branch": branch,
                        "conclusion": conclusion, "html_url": "https://github.com/run/1",
                        "created_at": started, "run_started_at": started, "updated_at": updated,
                        "run_number": 7
                    },
                    "repository": {"full_name": repository, "name": "repo"}
                })
                .to_string();
                (body, repository, workflow, branch, conclusion.to_owned())
            },
        )
}

/// A completed `workflow_job` delivery with steps.
fn job_body() -> impl Strategy<Value = (String, String, String, String, String, String)> {
    (
        name(),
        name(),
        name(),
        name(),
        prop_oneof![
            Just("failure"),
            Just("timed_out"),
            Just("success"),
            Just("skipped")
        ],
        timestamp(),
        prop::collection::vec(
            (
                name(),
                prop_oneof![Just("success"), Just("failure"), Just("skipped")],
            ),
            0..5,
        ),
    )
        .prop_map(
            |(repository, workflow, branch, job, conclusion, started, steps)| {
                let steps: Vec<Value> = steps
                    .into_iter()
                    .map(|(name, conclusion)| json!({"name": name, "conclusion": conclusion}))
                    .collect();
                let body = json!({
                    "action": "completed",
                    "workflow_job": {
                        "id": 2, "run_id": 1, "name": job, "workflow_name": workflow,
                        "head_branch": branch, "conclusion": conclusion,
                        "started_at": started, "completed_at": started, "steps": steps
                    },
                    "repository": {"full_name": repository, "html_url": "https://github.com/o/r"}
                })
                .to_string();
                (
                    body,
                    repository,
                    workflow,
                    branch,
                    job,
                    conclusion.to_owned(),
                )
            },
        )
}

/// The one alert of a delivery's facts, checked to come before its notification.
fn only_alert(facts: &[Fact]) -> (AlertStatus, String, String) {
    assert_eq!(facts.len(), 2);
    assert!(matches!(facts[1].body, FactBody::NotificationReceived(_)));
    match &facts[0].body {
        FactBody::AlertNotified(alert) => (
            alert.status,
            alert.fingerprint.clone(),
            facts[0].stream_key.clone(),
        ),
        other => panic!("alert first, got {other:?}"),
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(
        event in prop::sample::select(EVENTS.to_vec()),
        bytes in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        prop_assert!(well_formed(normalize_github(event, &bytes, recorded())));
    }

    #[test]
    fn arbitrary_json_never_panics(
        event in prop::sample::select(EVENTS.to_vec()),
        body in arbitrary_json(),
    ) {
        let text = body.to_string();
        prop_assert!(well_formed(normalize_github(event, text.as_bytes(), recorded())));
    }

    #[test]
    fn generated_runs_round_trip_on_their_workflows_stream(
        (body, repository, workflow, branch, conclusion) in run_body(),
    ) {
        let first = normalize_github("workflow_run", body.as_bytes(), recorded()).unwrap();
        let later = Timestamp::parse("2040-01-01T00:00:00Z").unwrap();
        let again = normalize_github("workflow_run", body.as_bytes(), later).unwrap();
        match (first, again) {
            (GithubDelivery::Facts(first), GithubDelivery::Facts(again)) => {
                prop_assert_eq!(ids(&first), ids(&again));
                let (status, fingerprint, stream) = only_alert(&first);
                let key = format!("{}/{}@{}", repository, workflow, branch);
                prop_assert_eq!(&fingerprint, &key);
                prop_assert_eq!(stream, format!("github:{key}"));
                let expected = if conclusion == "success" {
                    AlertStatus::Resolved
                } else {
                    AlertStatus::Firing
                };
                prop_assert_eq!(status, expected);
            }
            (GithubDelivery::Ignored(_), GithubDelivery::Ignored(_)) => {
                prop_assert_eq!(conclusion, "cancelled");
            }
            other => prop_assert!(false, "unexpected {:?}", other),
        }
    }

    #[test]
    fn generated_jobs_round_trip_next_to_their_run(
        (body, repository, workflow, branch, job, conclusion) in job_body(),
    ) {
        let first = normalize_github("workflow_job", body.as_bytes(), recorded()).unwrap();
        let later = Timestamp::parse("2040-01-01T00:00:00Z").unwrap();
        let again = normalize_github("workflow_job", body.as_bytes(), later).unwrap();
        match (first, again) {
            (GithubDelivery::Facts(first), GithubDelivery::Facts(again)) => {
                prop_assert_eq!(ids(&first), ids(&again));
                let (status, fingerprint, stream) = only_alert(&first);
                let key = format!("{repository}/{workflow}@{branch}");
                prop_assert_eq!(fingerprint, format!("{key}#{job}"));
                prop_assert_eq!(stream, format!("github:{key}"));
                prop_assert_eq!(status == AlertStatus::Resolved, conclusion == "success");
            }
            (GithubDelivery::Ignored(_), GithubDelivery::Ignored(_)) => {
                prop_assert_eq!(conclusion, "skipped");
            }
            other => prop_assert!(false, "unexpected {:?}", other),
        }
    }
}
