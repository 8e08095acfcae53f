//! The GitHub Actions webhook normalizer: a `workflow_run` or `workflow_job` delivery in,
//! the facts of one workflow's incident out (or a reason why the delivery records nothing).
//!
//! The mapping:
//!
//! - grouping: one stream per repository, workflow and branch, group key
//!   `<repository full_name>/<workflow name>@<branch>` (source `github`). The workflow's
//!   *name* is used, not its file path, because `workflow_job` deliveries carry only the
//!   name and a failed job must land on its run's incident;
//! - a completed run is one alert whose fingerprint is the group key itself, so a failing
//!   run and the next successful one are firing → resolved on the same alert. Runs that
//!   conclude `failure`, `timed_out` or `startup_failure` fire; `success` resolves. A
//!   `cancelled` run does neither: cancelling is usually deliberate (a newer push
//!   superseding the run through a concurrency group, or a person), so it is no evidence
//!   that the branch is broken, nor that it is fixed. `neutral`, `skipped`,
//!   `action_required`, `stale` and unknown conclusions are ignored likewise;
//! - a completed job is its own alert on the same stream, fingerprint
//!   `<group key>#<job name>`: `failure` or `timed_out` fires it with the job name and the
//!   failed step names as labels (`job`, `failed_step`), the strongest evidence a
//!   classifier has of what broke (build, tests, deploy, migration); `success` resolves
//!   it. So the run's incident resolves once the run and every job that failed have
//!   succeeded again; a job that never succeeds again (renamed, removed) keeps it open
//!   until a responder resolves it;
//! - starts: the run's `run_started_at` (else `created_at`), the job's `started_at`;
//!   ends (successes only): the run's `updated_at`, the job's `completed_at`;
//! - title `<workflow> failed on <branch> (<repository>)`, severity `error`, service the
//!   repository's name, link the run's (or the job's) page.
//!
//! Repeats change nothing: a redelivered body yields the same fact ids, and another failing
//! run while the incident is open repeats the state it holds (firing), which the fold
//! treats as a duplicate. `ping`, other events and other actions (`requested`, `queued`,
//! `in_progress`, `waiting`) record nothing.
//!
//! Fields GitHub documents as nullable never refuse a delivery: a missing branch reads
//! `(no branch)` and a job's missing workflow name `(unknown workflow)` (GitHub's own
//! example `workflow_job` payload has no `head_branch`); such a job then groups apart from
//! its run.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::notification::{AlertReport, Notification};
use crate::{parse_json, AlertStatus, Fact, IngestError, Severity, Timestamp};

const SOURCE: &str = "github";
/// Stands in for a `head_branch` GitHub sent as null or left out.
const NO_BRANCH: &str = "(no branch)";
/// Stands in for a job's `workflow_name` GitHub sent as null or left out.
const UNKNOWN_WORKFLOW: &str = "(unknown workflow)";

/// What one GitHub webhook delivery means to Aftermath.
#[derive(Clone, Debug, PartialEq)]
pub enum GithubDelivery {
    /// `ping`: GitHub checking that the webhook answers; nothing to record.
    Ping,
    /// Facts to append, all on one stream.
    Facts(Vec<Fact>),
    /// A delivery with nothing to record, and why.
    Ignored(String),
}

/// Turns the body of a GitHub webhook delivery of type `event` (its `X-GitHub-Event`
/// header) into facts, or says why it records nothing.
///
/// Fact ids are derived from content: a redelivered body yields the same ids, so the log
/// and the fold recognise it.
pub fn normalize_github(
    event: &str,
    raw_body: &[u8],
    recorded_at: Timestamp,
) -> Result<GithubDelivery, IngestError> {
    if event == "ping" {
        return Ok(GithubDelivery::Ping);
    }
    if event != "workflow_run" && event != "workflow_job" {
        return Ok(GithubDelivery::Ignored(format!(
            "GitHub event {event:?} is not one Aftermath reads; subscribe the webhook to \
             \"Workflow runs\" and \"Workflow jobs\" only"
        )));
    }
    let text = std::str::from_utf8(raw_body)
        .map_err(|error| refuse("body", format!("not UTF-8: {error}")))?;
    let envelope: Envelope = parse_json(text.as_bytes())?;
    let action = envelope.action.ok_or_else(|| refuse("action", "missing"))?;
    if action != "completed" {
        return Ok(GithubDelivery::Ignored(format!(
            "{event} action {action:?} ignored: only completed runs and jobs are recorded"
        )));
    }
    let notification = if event == "workflow_run" {
        run_notification(parse_json(text.as_bytes())?)?
    } else {
        job_notification(parse_json(text.as_bytes())?)?
    };
    Ok(match notification {
        Outcome::Notify(notification) => {
            notification.check_limits()?;
            GithubDelivery::Facts(notification.into_facts(text, recorded_at))
        }
        Outcome::Ignore(reason) => GithubDelivery::Ignored(reason),
    })
}

/// Read first, so that actions Aftermath ignores are not held to a completed body's shape.
#[derive(Deserialize)]
struct Envelope {
    action: Option<String>,
}

// The fields are optional here so that a missing one is reported by its own path
// (`workflow_run.created_at`) rather than by its parent's; the mapping decides what is
// required. Unknown fields are ignored (they stay in the raw body).

#[derive(Deserialize)]
struct Repository {
    full_name: Option<String>,
    name: Option<String>,
    html_url: Option<String>,
}

#[derive(Deserialize)]
struct WorkflowRunEvent {
    workflow_run: Option<WorkflowRun>,
    /// The workflow definition; its name stands in when the run's is blank.
    workflow: Option<Workflow>,
    repository: Option<Repository>,
}

#[derive(Deserialize)]
struct Workflow {
    name: Option<String>,
}

#[derive(Deserialize)]
struct WorkflowRun {
    id: Option<u64>,
    name: Option<String>,
    path: Option<String>,
    display_title: Option<String>,
    head_branch: Option<String>,
    head_sha: Option<String>,
    event: Option<String>,
    conclusion: Option<String>,
    html_url: Option<String>,
    run_number: Option<u64>,
    run_attempt: Option<u64>,
    created_at: Option<Timestamp>,
    run_started_at: Option<Timestamp>,
    updated_at: Option<Timestamp>,
}

#[derive(Deserialize)]
struct WorkflowJobEvent {
    workflow_job: Option<WorkflowJob>,
    repository: Option<Repository>,
}

#[derive(Deserialize)]
struct WorkflowJob {
    id: Option<u64>,
    run_id: Option<u64>,
    run_attempt: Option<u64>,
    name: Option<String>,
    workflow_name: Option<String>,
    head_branch: Option<String>,
    head_sha: Option<String>,
    conclusion: Option<String>,
    html_url: Option<String>,
    started_at: Option<Timestamp>,
    completed_at: Option<Timestamp>,
    steps: Option<Vec<Step>>,
}

#[derive(Deserialize)]
struct Step {
    name: Option<String>,
    conclusion: Option<String>,
}

enum Outcome {
    Notify(Notification),
    Ignore(String),
}

/// What a conclusion means for the alert it concludes.
fn run_status(conclusion: &str) -> Option<AlertStatus> {
    match conclusion {
        "failure" | "timed_out" | "startup_failure" => Some(AlertStatus::Firing),
        "success" => Some(AlertStatus::Resolved),
        _ => None,
    }
}

fn job_status(conclusion: &str) -> Option<AlertStatus> {
    match conclusion {
        "failure" | "timed_out" => Some(AlertStatus::Firing),
        "success" => Some(AlertStatus::Resolved),
        _ => None,
    }
}

/// The repository a delivery is about, and where its group key starts.
struct RepositoryInfo {
    full_name: String,
    name: String,
    html_url: String,
}

fn repository(repository: Option<Repository>) -> Result<RepositoryInfo, IngestError> {
    let repository = repository.ok_or_else(|| refuse("repository", "missing"))?;
    let full_name = non_blank(repository.full_name)
        .ok_or_else(|| refuse("repository.full_name", "missing or empty"))?;
    // `name` is the part after the owner; GitHub always sends both.
    let name = non_blank(repository.name).unwrap_or_else(|| {
        full_name
            .rsplit('/')
            .next()
            .unwrap_or(&full_name)
            .to_owned()
    });
    Ok(RepositoryInfo {
        full_name,
        name,
        html_url: repository.html_url.unwrap_or_default(),
    })
}

/// The parts every alert of a workflow's stream shares.
struct WorkflowStream {
    repository: RepositoryInfo,
    workflow: String,
    branch: String,
}

impl WorkflowStream {
    fn group_key(&self) -> String {
        format!(
            "{}/{}@{}",
            self.repository.full_name, self.workflow, self.branch
        )
    }

    fn title(&self) -> String {
        format!(
            "{} failed on {} ({})",
            self.workflow, self.branch, self.repository.full_name
        )
    }

    fn labels(&self, run_url: &str) -> BTreeMap<String, String> {
        let mut labels = BTreeMap::new();
        labels.insert("repository".to_owned(), self.repository.full_name.clone());
        labels.insert("workflow".to_owned(), self.workflow.clone());
        labels.insert("branch".to_owned(), self.branch.clone());
        if !run_url.is_empty() {
            labels.insert("run_url".to_owned(), run_url.to_owned());
        }
        labels
    }

    fn notification(self, alert: AlertReport) -> Notification {
        Notification {
            source: SOURCE.to_owned(),
            group_key: self.group_key(),
            // GitHub has no receivers: one webhook, one endpoint.
            receiver: String::new(),
            status: alert.status,
            truncated_alerts: 0,
            title: self.title(),
            severity: Severity::Error,
            service: Some(self.repository.name.clone()),
            external_url: self.repository.html_url,
            alerts: vec![alert],
        }
    }
}

fn run_notification(event: WorkflowRunEvent) -> Result<Outcome, IngestError> {
    let run = event
        .workflow_run
        .ok_or_else(|| refuse("workflow_run", "missing"))?;
    let repository = repository(event.repository)?;
    let conclusion = run.conclusion.clone().unwrap_or_default();
    let Some(status) = run_status(&conclusion) else {
        return Ok(Outcome::Ignore(ignored_conclusion(
            "workflow run",
            &conclusion,
        )));
    };
    // GitHub's own example run has a blank `name`; the workflow's name, then its file,
    // name it then.
    let workflow = non_blank(run.name.clone())
        .or_else(|| event.workflow.and_then(|workflow| non_blank(workflow.name)))
        .or_else(|| non_blank(run.path.clone()))
        .ok_or_else(|| {
            refuse(
                "workflow_run.name",
                "missing or empty, and neither workflow.name nor workflow_run.path names the workflow",
            )
        })?;
    let created_at = run
        .created_at
        .ok_or_else(|| refuse("workflow_run.created_at", "missing"))?;
    let starts_at = run.run_started_at.unwrap_or(created_at);
    let ends_at = match status {
        AlertStatus::Firing => None,
        AlertStatus::Resolved => Some(
            run.updated_at
                .ok_or_else(|| refuse("workflow_run.updated_at", "missing"))?,
        ),
    };
    let shared = WorkflowStream {
        repository,
        workflow,
        branch: non_blank(run.head_branch).unwrap_or_else(|| NO_BRANCH.to_owned()),
    };
    let run_url = run.html_url.unwrap_or_default();

    let mut labels = shared.labels(&run_url);
    labels.insert("alertname".to_owned(), shared.workflow.clone());
    labels.insert("conclusion".to_owned(), conclusion.clone());
    insert_some(&mut labels, "head_sha", run.head_sha);
    insert_some(&mut labels, "event", run.event);
    insert_some(&mut labels, "workflow_path", run.path);
    insert_some(&mut labels, "run_id", run.id.map(|id| id.to_string()));
    insert_some(
        &mut labels,
        "run_number",
        run.run_number.map(|n| n.to_string()),
    );
    insert_some(
        &mut labels,
        "run_attempt",
        run.run_attempt.map(|n| n.to_string()),
    );
    let run_name = run
        .run_number
        .map(|number| format!("run #{number}"))
        .unwrap_or_else(|| "run".to_owned());
    let mut annotations = BTreeMap::new();
    annotations.insert(
        "summary".to_owned(),
        format!(
            "{} {run_name} on {} concluded {conclusion}",
            shared.workflow, shared.branch
        ),
    );
    // The commit message or pull request title: what the run was testing.
    insert_some(&mut annotations, "description", run.display_title);

    let alert = AlertReport {
        fingerprint: shared.group_key(),
        status,
        labels,
        annotations,
        starts_at,
        ends_at,
        generator_url: run_url,
        severity: None,
    };
    Ok(Outcome::Notify(shared.notification(alert)))
}

fn job_notification(event: WorkflowJobEvent) -> Result<Outcome, IngestError> {
    let job = event
        .workflow_job
        .ok_or_else(|| refuse("workflow_job", "missing"))?;
    let repository = repository(event.repository)?;
    let job_name =
        non_blank(job.name).ok_or_else(|| refuse("workflow_job.name", "missing or empty"))?;
    let conclusion = job.conclusion.unwrap_or_default();
    let Some(status) = job_status(&conclusion) else {
        return Ok(Outcome::Ignore(ignored_conclusion(
            "workflow job",
            &conclusion,
        )));
    };
    let starts_at = job
        .started_at
        .ok_or_else(|| refuse("workflow_job.started_at", "missing"))?;
    let ends_at = match status {
        AlertStatus::Firing => None,
        AlertStatus::Resolved => job.completed_at,
    };
    let shared = WorkflowStream {
        repository,
        workflow: non_blank(job.workflow_name).unwrap_or_else(|| UNKNOWN_WORKFLOW.to_owned()),
        branch: non_blank(job.head_branch).unwrap_or_else(|| NO_BRANCH.to_owned()),
    };
    // The run's page, from the repository's: the job carries only the run's API URL.
    let run_url = match (job.run_id, shared.repository.html_url.is_empty()) {
        (Some(run_id), false) => format!("{}/actions/runs/{run_id}", shared.repository.html_url),
        _ => String::new(),
    };
    let failed_steps = failed_steps(job.steps.unwrap_or_default(), &conclusion);

    let mut labels = shared.labels(&run_url);
    labels.insert(
        "alertname".to_owned(),
        format!("{} / {job_name}", shared.workflow),
    );
    labels.insert("job".to_owned(), job_name.clone());
    labels.insert("conclusion".to_owned(), conclusion.clone());
    if status == AlertStatus::Firing && !failed_steps.is_empty() {
        labels.insert("failed_step".to_owned(), failed_steps.join(", "));
    }
    insert_some(&mut labels, "head_sha", job.head_sha);
    insert_some(&mut labels, "job_id", job.id.map(|id| id.to_string()));
    insert_some(&mut labels, "run_id", job.run_id.map(|id| id.to_string()));
    insert_some(
        &mut labels,
        "run_attempt",
        job.run_attempt.map(|n| n.to_string()),
    );
    let summary = match (status, failed_steps.as_slice()) {
        (AlertStatus::Resolved, _) => format!("Job {job_name:?} succeeded"),
        (AlertStatus::Firing, []) => format!("Job {job_name:?} concluded {conclusion}"),
        (AlertStatus::Firing, [step]) => {
            format!("Job {job_name:?} concluded {conclusion} at step {step:?}")
        }
        (AlertStatus::Firing, steps) => format!(
            "Job {job_name:?} concluded {conclusion} at steps {}",
            steps
                .iter()
                .map(|step| format!("{step:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut annotations = BTreeMap::new();
    annotations.insert("summary".to_owned(), summary);

    let alert = AlertReport {
        fingerprint: format!("{}#{job_name}", shared.group_key()),
        status,
        labels,
        annotations,
        starts_at,
        ends_at,
        // The job's own page shows its log; the run's page is the `run_url` label.
        generator_url: non_blank(job.html_url).unwrap_or_else(|| run_url.clone()),
        severity: None,
    };
    Ok(Outcome::Notify(shared.notification(alert)))
}

/// The names of the steps that broke the job. A job that timed out has its running step
/// cancelled rather than failed, so that one is named then.
fn failed_steps(steps: Vec<Step>, job_conclusion: &str) -> Vec<String> {
    let named = |wanted: &[&str]| -> Vec<String> {
        steps
            .iter()
            .filter(|step| {
                step.conclusion
                    .as_deref()
                    .is_some_and(|conclusion| wanted.contains(&conclusion))
            })
            .filter_map(|step| non_blank(step.name.clone()))
            .collect()
    };
    let failed = named(&["failure", "timed_out"]);
    if failed.is_empty() && job_conclusion == "timed_out" {
        named(&["cancelled"])
    } else {
        failed
    }
}

fn ignored_conclusion(what: &str, conclusion: &str) -> String {
    if conclusion.is_empty() {
        format!("completed {what} without a conclusion ignored")
    } else {
        format!(
            "{what} concluded {conclusion:?}: ignored, only failures (failure, timed_out, \
             startup_failure) open incidents and success resolves them"
        )
    }
}

fn insert_some(map: &mut BTreeMap<String, String>, key: &str, value: Option<String>) {
    if let Some(value) = non_blank(value) {
        map.insert(key.to_owned(), value);
    }
}

fn non_blank(text: Option<String>) -> Option<String> {
    text.filter(|text| !text.trim().is_empty())
}

fn refuse(field: impl Into<String>, message: impl Into<String>) -> IngestError {
    IngestError {
        field: field.into(),
        message: message.into(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::{AlertNotified, FactBody, NotificationReceived};

    const RUN_SUCCESS: &str =
        include_str!("../../../tests/fixtures/github/workflow_run.completed.success.json");
    const RUN_FAILURE: &str =
        include_str!("../../../tests/fixtures/github/workflow_run.completed.failure.json");
    const JOB_FAILURE: &str =
        include_str!("../../../tests/fixtures/github/workflow_job.completed.failure.json");
    const JOB_SUCCESS: &str =
        include_str!("../../../tests/fixtures/github/workflow_job.completed.success.json");
    const PING: &str = include_str!("../../../tests/fixtures/github/ping.json");

    fn recorded() -> Timestamp {
        Timestamp::parse("2020-10-05T16:34:00Z").unwrap()
    }

    fn facts(event: &str, body: &str) -> Vec<Fact> {
        match normalize_github(event, body.as_bytes(), recorded()).unwrap() {
            GithubDelivery::Facts(facts) => facts,
            other => panic!("expected facts, got {other:?}"),
        }
    }

    fn ignored(event: &str, body: &str) -> String {
        match normalize_github(event, body.as_bytes(), recorded()).unwrap() {
            GithubDelivery::Ignored(reason) => reason,
            other => panic!("expected ignored, got {other:?}"),
        }
    }

    fn only_alert(facts: &[Fact]) -> &AlertNotified {
        assert_eq!(facts.len(), 2, "one alert and the notification");
        match &facts[0].body {
            FactBody::AlertNotified(alert) => alert,
            other => panic!("alert first, got {other:?}"),
        }
    }

    fn notification(facts: &[Fact]) -> &NotificationReceived {
        match &facts.last().unwrap().body {
            FactBody::NotificationReceived(note) => note,
            other => panic!("notification last, got {other:?}"),
        }
    }

    fn edit(body: &str, change: impl FnOnce(&mut Value)) -> String {
        let mut value: Value = serde_json::from_str(body).unwrap();
        change(&mut value);
        value.to_string()
    }

    #[test]
    fn a_failed_run_fires_one_alert_keyed_by_repository_workflow_and_branch() {
        let facts = facts("workflow_run", RUN_FAILURE);
        let alert = only_alert(&facts);
        // The documented example's run has a blank name: the workflow's name stands in.
        let key = "octo-org/octo-repo/test@master";
        assert_eq!(facts[0].stream_key, format!("github:{key}"));
        assert_eq!(alert.group_key, key);
        assert_eq!(alert.fingerprint, key);
        assert_eq!(alert.status, AlertStatus::Firing);
        assert_eq!(alert.title, "test failed on master (octo-org/octo-repo)");
        assert_eq!(alert.severity, Severity::Error);
        assert_eq!(alert.service.as_deref(), Some("octo-repo"));
        assert_eq!(
            alert.generator_url,
            "https://github.com/octo-org/octo-repo/actions/runs/289782451"
        );
        assert_eq!(alert.starts_at.to_string(), "2020-10-05T16:33:49Z");
        assert_eq!(alert.ends_at, None);
        assert_eq!(facts[0].occurred_at, alert.starts_at);
        for (label, value) in [
            ("alertname", "test"),
            ("repository", "octo-org/octo-repo"),
            ("workflow", "test"),
            ("branch", "master"),
            (
                "run_url",
                "https://github.com/octo-org/octo-repo/actions/runs/289782451",
            ),
            ("conclusion", "failure"),
            ("event", "repository_dispatch"),
            ("run_number", "163"),
        ] {
            assert_eq!(
                alert.labels.get(label).map(String::as_str),
                Some(value),
                "{label}"
            );
        }
        assert_eq!(
            alert.annotations["summary"],
            "test run #163 on master concluded failure"
        );
        let note = notification(&facts);
        assert_eq!(note.raw_body, RUN_FAILURE);
        assert_eq!(note.external_url, "https://github.com/octo-org/octo-repo");
        assert_eq!(note.status, AlertStatus::Firing);
    }

    #[test]
    fn a_successful_run_resolves_the_same_alert_at_its_update_time() {
        let failed = facts("workflow_run", RUN_FAILURE);
        let succeeded = facts("workflow_run", RUN_SUCCESS);
        let alert = only_alert(&succeeded);
        assert_eq!(alert.status, AlertStatus::Resolved);
        assert_eq!(alert.fingerprint, only_alert(&failed).fingerprint);
        assert_eq!(succeeded[0].stream_key, failed[0].stream_key);
        assert_eq!(alert.ends_at.unwrap().to_string(), "2020-10-05T16:33:49Z");
    }

    #[test]
    fn timed_out_and_startup_failures_fire_too() {
        for conclusion in ["timed_out", "startup_failure"] {
            let body = RUN_FAILURE.replace(
                r#""conclusion": "failure""#,
                &format!(r#""conclusion": "{conclusion}""#),
            );
            assert_eq!(
                only_alert(&facts("workflow_run", &body)).status,
                AlertStatus::Firing
            );
        }
    }

    #[test]
    fn the_workflow_path_names_the_workflow_when_nothing_else_does() {
        let body = edit(RUN_FAILURE, |run| {
            run["workflow"]["name"] = Value::Null;
            run["workflow_run"]["path"] = json!(".github/workflows/test.yml");
        });
        let alert = only_alert(&facts("workflow_run", &body)).clone();
        assert_eq!(
            alert.group_key,
            "octo-org/octo-repo/.github/workflows/test.yml@master"
        );
        assert_eq!(alert.labels["workflow_path"], ".github/workflows/test.yml");
        // The run's own name, when set, wins.
        let body = edit(RUN_FAILURE, |run| run["workflow_run"]["name"] = json!("CI"));
        assert_eq!(
            only_alert(&facts("workflow_run", &body)).group_key,
            "octo-org/octo-repo/CI@master"
        );
    }

    #[test]
    fn cancelled_neutral_and_unfinished_runs_record_nothing() {
        for conclusion in [
            "cancelled",
            "neutral",
            "skipped",
            "action_required",
            "stale",
        ] {
            let body = RUN_FAILURE.replace(
                r#""conclusion": "failure""#,
                &format!(r#""conclusion": "{conclusion}""#),
            );
            assert!(ignored("workflow_run", &body).contains(conclusion));
        }
        let no_conclusion = edit(RUN_FAILURE, |run| {
            run["workflow_run"]["conclusion"] = Value::Null
        });
        assert!(ignored("workflow_run", &no_conclusion).contains("without a conclusion"));
        for action in ["requested", "in_progress"] {
            // Not held to a completed body's shape: only the action is read.
            let body = json!({"action": action}).to_string();
            assert!(ignored("workflow_run", &body).contains(action));
        }
        for action in ["queued", "in_progress", "waiting"] {
            let body = json!({"action": action}).to_string();
            assert!(ignored("workflow_job", &body).contains(action));
        }
    }

    #[test]
    fn pings_and_other_events_record_nothing_whatever_the_body() {
        for body in [PING, "not json"] {
            assert_eq!(
                normalize_github("ping", body.as_bytes(), recorded()).unwrap(),
                GithubDelivery::Ping
            );
        }
        assert!(ignored("push", "not json").contains("\"push\""));
        assert!(ignored("check_run", RUN_FAILURE).contains("Workflow runs"));
    }

    #[test]
    fn a_failed_job_keeps_its_name_and_failed_step_on_its_runs_stream() {
        let facts = facts("workflow_job", JOB_FAILURE);
        let alert = only_alert(&facts);
        // GitHub's example job has no head_branch: it groups under "(no branch)".
        let key = "Codertocat/Hello-World/CodeQL@(no branch)";
        assert_eq!(alert.group_key, key);
        assert_eq!(alert.fingerprint, format!("{key}#linters"));
        assert_eq!(alert.status, AlertStatus::Firing);
        assert_eq!(
            alert.title,
            "CodeQL failed on (no branch) (Codertocat/Hello-World)"
        );
        assert_eq!(alert.service.as_deref(), Some("Hello-World"));
        assert_eq!(alert.starts_at.to_string(), "2021-08-05T10:34:58Z");
        assert_eq!(
            alert.generator_url,
            "https://github.com/octo-org/octo-repo/runs/1291536064"
        );
        for (label, value) in [
            ("alertname", "CodeQL / linters"),
            ("job", "linters"),
            ("failed_step", "Run yarn run format-check"),
            ("workflow", "CodeQL"),
            ("repository", "Codertocat/Hello-World"),
            ("branch", "(no branch)"),
            (
                "run_url",
                "https://github.com/Codertocat/Hello-World/actions/runs/2202229078",
            ),
            ("conclusion", "failure"),
        ] {
            assert_eq!(
                alert.labels.get(label).map(String::as_str),
                Some(value),
                "{label}"
            );
        }
        assert_eq!(
            alert.annotations["summary"],
            "Job \"linters\" concluded failure at step \"Run yarn run format-check\""
        );
    }

    #[test]
    fn a_job_with_a_branch_lands_on_its_runs_stream() {
        let job = edit(JOB_FAILURE, |job| {
            job["workflow_job"]["head_branch"] = json!("master");
            job["workflow_job"]["workflow_name"] = json!("test");
            job["repository"]["full_name"] = json!("octo-org/octo-repo");
        });
        let job_facts = facts("workflow_job", &job);
        let run_facts = facts("workflow_run", RUN_FAILURE);
        assert_eq!(job_facts[0].stream_key, run_facts[0].stream_key);
        assert_ne!(
            only_alert(&job_facts).fingerprint,
            only_alert(&run_facts).fingerprint
        );
    }

    #[test]
    fn a_successful_job_resolves_its_own_alert() {
        let failed = facts("workflow_job", JOB_FAILURE);
        let succeeded = facts("workflow_job", JOB_SUCCESS);
        let alert = only_alert(&succeeded);
        assert_eq!(alert.status, AlertStatus::Resolved);
        assert_eq!(alert.fingerprint, only_alert(&failed).fingerprint);
        assert_eq!(alert.ends_at.unwrap().to_string(), "2021-08-05T10:38:16Z");
        assert!(!alert.labels.contains_key("failed_step"));
        let cancelled = edit(JOB_FAILURE, |job| {
            job["workflow_job"]["conclusion"] = json!("cancelled");
        });
        assert!(ignored("workflow_job", &cancelled).contains("cancelled"));
    }

    #[test]
    fn a_timed_out_job_names_the_step_that_was_cut_off() {
        let body = edit(JOB_FAILURE, |job| {
            job["workflow_job"]["conclusion"] = json!("timed_out");
            job["workflow_job"]["steps"] = json!([
                {"name": "Set up job", "conclusion": "success"},
                {"name": "Run migrations", "conclusion": "cancelled"},
                {"name": "Complete job", "conclusion": "success"}
            ]);
        });
        let facts = facts("workflow_job", &body);
        assert_eq!(only_alert(&facts).labels["failed_step"], "Run migrations");
    }

    #[test]
    fn the_same_body_yields_the_same_fact_ids_whenever_it_arrives() {
        let later = Timestamp::parse("2031-01-01T00:00:00Z").unwrap();
        for (event, body) in [("workflow_run", RUN_FAILURE), ("workflow_job", JOB_FAILURE)] {
            let first = facts(event, body);
            let GithubDelivery::Facts(again) =
                normalize_github(event, body.as_bytes(), later).unwrap()
            else {
                panic!("facts")
            };
            let ids = |facts: &[Fact]| facts.iter().map(|f| f.fact_id).collect::<Vec<_>>();
            assert_eq!(ids(&first), ids(&again));
        }
    }

    #[test]
    fn another_failing_run_is_a_new_fact_with_the_same_fingerprint() {
        let next = edit(RUN_FAILURE, |run| {
            run["workflow_run"]["id"] = json!(289782999);
            run["workflow_run"]["run_number"] = json!(164);
            run["workflow_run"]["run_started_at"] = json!("2020-10-05T17:00:00Z");
        });
        let first = facts("workflow_run", RUN_FAILURE);
        let second = facts("workflow_run", &next);
        assert_ne!(first[0].fact_id, second[0].fact_id);
        assert_eq!(
            only_alert(&first).fingerprint,
            only_alert(&second).fingerprint
        );
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            ("workflow_run", "{".to_owned(), "body"),
            ("workflow_run", "[]".to_owned(), "body"),
            ("workflow_run", "{}".to_owned(), "action"),
            ("workflow_run", json!({"action": 7}).to_string(), "action"),
            (
                "workflow_run",
                json!({"action": "completed"}).to_string(),
                "workflow_run",
            ),
            (
                "workflow_run",
                edit(RUN_FAILURE, |run| {
                    run["repository"]["full_name"] = json!("")
                }),
                "repository.full_name",
            ),
            (
                "workflow_run",
                edit(RUN_FAILURE, |run| {
                    run.as_object_mut().unwrap().remove("repository");
                }),
                "repository",
            ),
            (
                "workflow_run",
                edit(RUN_FAILURE, |run| {
                    run["workflow_run"]
                        .as_object_mut()
                        .unwrap()
                        .remove("created_at");
                }),
                "workflow_run.created_at",
            ),
            (
                "workflow_run",
                edit(RUN_FAILURE, |run| {
                    run["workflow_run"]["run_started_at"] = json!("yesterday")
                }),
                "workflow_run.run_started_at",
            ),
            (
                "workflow_run",
                edit(RUN_SUCCESS, |run| {
                    run["workflow_run"]["updated_at"] = Value::Null
                }),
                "workflow_run.updated_at",
            ),
            (
                "workflow_run",
                edit(RUN_FAILURE, |run| {
                    run["workflow_run"]["name"] = json!("");
                    run["workflow"]["name"] = json!(" ");
                }),
                "workflow_run.name",
            ),
            (
                "workflow_run",
                edit(RUN_FAILURE, |run| {
                    run["workflow_run"]["conclusion"] = json!(1)
                }),
                "workflow_run.conclusion",
            ),
            (
                "workflow_job",
                edit(JOB_FAILURE, |job| job["workflow_job"]["name"] = json!("")),
                "workflow_job.name",
            ),
            (
                "workflow_job",
                edit(JOB_FAILURE, |job| {
                    job["workflow_job"]
                        .as_object_mut()
                        .unwrap()
                        .remove("started_at");
                }),
                "workflow_job.started_at",
            ),
            (
                "workflow_job",
                edit(JOB_FAILURE, |job| job["workflow_job"]["steps"] = json!({})),
                "workflow_job.steps",
            ),
        ];
        for (event, body, field) in cases {
            let error = normalize_github(event, body.as_bytes(), recorded()).unwrap_err();
            assert_eq!(error.field, field, "{error}");
        }
        let error = normalize_github("workflow_job", &[0xff, 0xfe], recorded()).unwrap_err();
        assert_eq!(error.field, "body");
    }
}
