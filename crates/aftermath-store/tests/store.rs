//! Contract tests of the projection store and the projector, on real databases: every
//! `ProjectionStore` backend must pass the cases in `contract`, which the `sqlite` module
//! runs against `SqliteStore` and the `postgres` module against `PgStore`.
//!
//! The PostgreSQL cases need a server: `AFTERMATH_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`) names a database of it from which each
//! test creates (and afterwards drops) databases of its own. Without a server they fail.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aftermath_core::{
    incident_id_for, normalize_alertmanager, responder_fact_id, Acknowledged, AlertStatus,
    ClassificationOverridden, ErrorClass, Fact, FactBody, FoldOutcome, Incident, IncidentStatus,
    NoteAdded, Projection, Resolved, Severity, TimelineKind, Timestamp,
};
use aftermath_log::{Appended, EmbeddedLog, Offset, SharedLog};
use aftermath_store::{
    ClassFilter, Export, IncidentCursor, IncidentQuery, PgStore, Projector, Scope, SharedStore,
    SqliteStore, StatusFilter, StoreError,
};
use sqlx::{Connection, Executor, PgConnection};
use tempfile::TempDir;
use uuid::Uuid;

const FIRING: &str = include_str!("../../../tests/fixtures/alertmanager/01-checkout-firing.json");
const REPEAT: &str =
    include_str!("../../../tests/fixtures/alertmanager/02-checkout-firing-repeat.json");
const ONE_RESOLVED: &str =
    include_str!("../../../tests/fixtures/alertmanager/03-checkout-one-resolved.json");
const ALL_RESOLVED: &str =
    include_str!("../../../tests/fixtures/alertmanager/04-checkout-all-resolved.json");
const BILLING_FIRING: &str =
    include_str!("../../../tests/fixtures/alertmanager/05-billing-firing.json");
const BILLING_RESOLVED: &str =
    include_str!("../../../tests/fixtures/alertmanager/06-billing-resolved.json");
const FIRING_AGAIN: &str =
    include_str!("../../../tests/fixtures/alertmanager/07-checkout-firing-again.json");

// ---------------------------------------------------------------------------------------
// Backends
// ---------------------------------------------------------------------------------------

/// How the suite reaches a backend. Each test builds its own backend (its own temp dir or
/// database), so tests never share state.
trait Backend {
    /// Opens the store called `name`: empty the first time, and the same data when the
    /// same name is opened again (as after a restart). Distinct names are distinct stores.
    async fn open(&self, name: &str) -> SharedStore;
}

/// SQLite files in a temp dir of their own; the main store is `projections.sqlite`.
struct SqliteBackend {
    dir: TempDir,
}

impl SqliteBackend {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }
}

impl Backend for SqliteBackend {
    async fn open(&self, name: &str) -> SharedStore {
        let path = self.dir.path().join(format!("{name}.sqlite"));
        Arc::new(SqliteStore::open(&path).await.expect("open SQLite store"))
    }
}

const DEFAULT_TEST_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// PostgreSQL: one database per store name, `aftermath_test_<random hex>_<n>`, created on
/// first open and dropped (with `FORCE`, whatever is still connected) with the backend.
struct PgBackend {
    /// A database of the server to create and drop the test databases from.
    admin_url: String,
    prefix: String,
    /// Store name to database name, for every database created so far.
    databases: Mutex<BTreeMap<String, String>>,
}

impl PgBackend {
    fn new() -> Self {
        let admin_url = std::env::var("AFTERMATH_TEST_DATABASE_URL")
            .unwrap_or_else(|_| DEFAULT_TEST_DATABASE_URL.to_owned());
        Self {
            admin_url,
            prefix: format!(
                "aftermath_test_{}",
                &Uuid::new_v4().simple().to_string()[..16]
            ),
            databases: Mutex::new(BTreeMap::new()),
        }
    }

    /// The URL of the database of store `name`, creating the database the first time.
    async fn database_url(&self, name: &str) -> String {
        let known = self
            .databases
            .lock()
            .expect("databases lock")
            .get(name)
            .cloned();
        let database = match known {
            Some(database) => database,
            None => {
                let count = self.databases.lock().expect("databases lock").len();
                let database = format!("{}_{count}", self.prefix);
                let mut admin = admin_connection(&self.admin_url).await;
                admin
                    .execute(&*format!("CREATE DATABASE {database}"))
                    .await
                    .unwrap_or_else(|error| {
                        panic!("cannot create test database {database}: {error}")
                    });
                admin.close().await.ok();
                self.databases
                    .lock()
                    .expect("databases lock")
                    .insert(name.to_owned(), database.clone());
                database
            }
        };
        with_database(&self.admin_url, &database)
    }
}

impl Backend for PgBackend {
    async fn open(&self, name: &str) -> SharedStore {
        let url = self.database_url(name).await;
        Arc::new(
            PgStore::connect(&url)
                .await
                .unwrap_or_else(|error| panic!("open PostgreSQL store {name}: {error}")),
        )
    }
}

impl Drop for PgBackend {
    fn drop(&mut self) {
        let databases = std::mem::take(
            self.databases
                .get_mut()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
        if databases.is_empty() {
            return;
        }
        // Best effort, on a thread of its own: Drop cannot await, and this may run on a
        // runtime thread (or during a panic).
        let admin_url = self.admin_url.clone();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|error| error.to_string())?;
            runtime.block_on(async {
                let mut admin = PgConnection::connect(&admin_url)
                    .await
                    .map_err(|error| error.to_string())?;
                for database in databases.values() {
                    admin
                        .execute(&*format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
                        .await
                        .map_err(|error| format!("{database}: {error}"))?;
                }
                Ok::<_, String>(())
            })
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(error)) => eprintln!("warning: test databases left behind: {error}"),
            Err(_) => eprintln!("warning: dropping the test databases panicked"),
        }
    }
}

/// A connection to the admin database; panics, saying what to do, when there is no server.
async fn admin_connection(admin_url: &str) -> PgConnection {
    // The URL may hold a password: name it only when it is the default.
    let url = if admin_url == DEFAULT_TEST_DATABASE_URL {
        admin_url
    } else {
        "the URL in AFTERMATH_TEST_DATABASE_URL"
    };
    let advice = "the PostgreSQL contract tests need a running server: start one, or set \
                  AFTERMATH_TEST_DATABASE_URL to a database URL of one";
    match tokio::time::timeout(Duration::from_secs(10), PgConnection::connect(admin_url)).await {
        Ok(Ok(connection)) => connection,
        Ok(Err(error)) => panic!("PostgreSQL at {url} is unreachable ({error}); {advice}"),
        Err(_) => panic!("PostgreSQL at {url} did not answer within 10 s; {advice}"),
    }
}

/// `url` with its database (the path) replaced by `database`; parameters are kept.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let (scheme, rest) = base
        .split_once("://")
        .expect("AFTERMATH_TEST_DATABASE_URL is a postgres:// URL");
    let authority = rest
        .split_once('/')
        .map_or(rest, |(authority, _)| authority);
    let mut result = format!("{scheme}://{authority}/{database}");
    if let Some(query) = query {
        result.push('?');
        result.push_str(query);
    }
    result
}

/// Runs the contract cases against one backend. `store` cases get a freshly opened store
/// (named `projections`); `backend` cases open the stores they need themselves. A case
/// may carry attributes, e.g. `#[ignore = "..."]` for a known bug of that backend; a case
/// left out of the list is dead code, which the lints refuse.
macro_rules! contract_suite {
    (
        $backend:ident => $make:expr;
        store cases: $($(#[$store_attr:meta])* $store_case:ident),* $(,)?;
        backend cases: $($(#[$backend_attr:meta])* $backend_case:ident),* $(,)?;
    ) => {
        mod $backend {
            use super::*;

            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                $(#[$store_attr])*
                async fn $store_case() {
                    let backend = $make;
                    let store = backend.open("projections").await;
                    contract::$store_case(store).await;
                }
            )*

            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                $(#[$backend_attr])*
                async fn $backend_case() {
                    let backend = $make;
                    contract::$backend_case(&backend).await;
                }
            )*
        }
    };
}

contract_suite! {
    sqlite => SqliteBackend::new();
    store cases:
        reset_then_catch_up_rebuilds_the_same_projection_and_keeps_tokens,
        rebuild_then_finish_gives_the_same_projection_and_keeps_tokens,
        commit_from_a_wrong_checkpoint_fails_and_writes_nothing,
        concurrent_commits_from_the_same_checkpoint_let_exactly_one_win,
        list_incidents_orders_filters_and_pages_without_gaps_or_duplicates,
        list_incidents_filters_by_service_and_class_in_force_and_pages_through_them,
        incidents_opened_between_keeps_from_drops_to_and_lists_oldest_first,
        incident_cursors_round_trip_and_garbage_decodes_to_none,
        tokens_authenticate_revoke_and_never_expose_their_secret,
        changes_are_kept_once_and_found_by_service_and_time,
        overdue_lists_only_unacknowledged_incidents_past_their_cutoff,
        only_incidents_with_action_items_are_listed_for_them,
        consumer_checkpoints_compare_and_set_and_survive_rebuilds,
        folded_fact_ids_accumulate_across_commits_and_a_later_repeat_is_a_duplicate,
        a_commit_stores_exactly_the_timeline_it_is_given,
        unknown_incident_is_none;
    backend cases:
        projector_gives_identical_exports_at_every_batch_size,
        projector_resumes_from_the_checkpoint_after_a_restart;
}

contract_suite! {
    postgres => PgBackend::new();
    store cases:
        reset_then_catch_up_rebuilds_the_same_projection_and_keeps_tokens,
        rebuild_then_finish_gives_the_same_projection_and_keeps_tokens,
        commit_from_a_wrong_checkpoint_fails_and_writes_nothing,
        concurrent_commits_from_the_same_checkpoint_let_exactly_one_win,
        list_incidents_orders_filters_and_pages_without_gaps_or_duplicates,
        list_incidents_filters_by_service_and_class_in_force_and_pages_through_them,
        incidents_opened_between_keeps_from_drops_to_and_lists_oldest_first,
        incident_cursors_round_trip_and_garbage_decodes_to_none,
        tokens_authenticate_revoke_and_never_expose_their_secret,
        changes_are_kept_once_and_found_by_service_and_time,
        overdue_lists_only_unacknowledged_incidents_past_their_cutoff,
        only_incidents_with_action_items_are_listed_for_them,
        consumer_checkpoints_compare_and_set_and_survive_rebuilds,
        folded_fact_ids_accumulate_across_commits_and_a_later_repeat_is_a_duplicate,
        a_commit_stores_exactly_the_timeline_it_is_given,
        unknown_incident_is_none;
    backend cases:
        projector_gives_identical_exports_at_every_batch_size,
        projector_resumes_from_the_checkpoint_after_a_restart;
}

// ---------------------------------------------------------------------------------------
// Logs to project
// ---------------------------------------------------------------------------------------

fn at(text: &str) -> Timestamp {
    Timestamp::parse(text).expect("test timestamp")
}

/// An embedded log in a temp dir of its own; `facts` are the facts it holds, in log order.
struct TestLog {
    _dir: TempDir,
    log: SharedLog,
    facts: Vec<Fact>,
}

impl TestLog {
    async fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = EmbeddedLog::open(&dir.path().join("log.sqlite"))
            .await
            .expect("open log");
        Self {
            _dir: dir,
            log: Arc::new(log),
            facts: Vec::new(),
        }
    }

    /// Appends `facts`; returns those that were new (not already on the log).
    async fn append(&mut self, facts: Vec<Fact>) -> Vec<Fact> {
        let outcomes = self.log.append(&facts).await.expect("append");
        assert_eq!(outcomes.len(), facts.len());
        let mut new = Vec::new();
        for (fact, outcome) in facts.into_iter().zip(outcomes) {
            if let Appended::New { offset, .. } = outcome {
                assert_eq!(offset, self.facts.len() as Offset, "offsets are dense");
                self.facts.push(fact.clone());
                new.push(fact);
            }
        }
        new
    }

    async fn notify(&mut self, body: &str, recorded_at: Timestamp) -> Vec<Fact> {
        let facts = normalize_alertmanager(body.as_bytes(), recorded_at).expect("valid webhook");
        self.append(facts).await
    }

    async fn respond(&mut self, stream_key: &str, recorded_at: Timestamp, body: FactBody) {
        let incident_id = body.incident_id().expect("a responder fact");
        let key = recorded_at.to_string();
        let fact = Fact {
            fact_id: responder_fact_id("test", incident_id, body.type_name(), &key),
            stream_key: stream_key.to_owned(),
            occurred_at: recorded_at,
            recorded_at,
            body,
        };
        assert_eq!(self.append(vec![fact]).await.len(), 1);
    }

    async fn end(&self) -> Offset {
        let end = self.log.end_offset(0).await.expect("end offset");
        assert_eq!(end, self.facts.len() as Offset);
        end
    }

    /// What the pure fold makes of the whole log: what every store must hold.
    fn folded(&self) -> Projection {
        let mut projection = Projection::default();
        for fact in &self.facts {
            projection.apply(fact);
        }
        projection
    }
}

/// The captured Alertmanager story, with responders acting on the first checkout incident.
struct FixtureLog {
    log: TestLog,
    checkout_stream: String,
    billing_stream: String,
    /// Opened by 01, acknowledged, resolved by alice while checkout-2 still fired.
    checkout_first: Uuid,
    /// Opened by 05, auto-resolved by 06.
    billing: Uuid,
    /// Opened by 07, still open.
    checkout_again: Uuid,
    opened_first: Timestamp,
    opened_again: Timestamp,
}

async fn fixture_log() -> FixtureLog {
    let mut log = TestLog::new().await;

    let opened_first = at("2026-11-24T07:03:12.8Z");
    let first = log.notify(FIRING, opened_first).await;
    assert_eq!(first.len(), 3, "two alerts and the notification");
    let checkout_stream = first[0].stream_key.clone();
    let checkout_first = incident_id_for(first[0].fact_id);

    // The repeat is byte-identical: the log already holds every one of its facts.
    let repeat = log.notify(REPEAT, at("2026-11-24T07:03:18.8Z")).await;
    assert!(repeat.is_empty(), "the repeat notification adds nothing");

    log.respond(
        &checkout_stream,
        at("2026-11-24T07:03:20Z"),
        FactBody::Acknowledged(Acknowledged {
            incident_id: checkout_first,
            actor: "alice".into(),
            note: Some("looking into it".into()),
        }),
    )
    .await;
    log.respond(
        &checkout_stream,
        at("2026-11-24T07:03:22.25Z"),
        FactBody::NoteAdded(NoteAdded {
            incident_id: checkout_first,
            actor: "bob".into(),
            text: "rolled checkout back to v41".into(),
        }),
    )
    .await;
    assert_eq!(
        log.notify(ONE_RESOLVED, at("2026-11-24T07:03:26Z"))
            .await
            .len(),
        2
    );
    log.respond(
        &checkout_stream,
        at("2026-11-24T07:03:30Z"),
        FactBody::Resolved(Resolved {
            incident_id: checkout_first,
            actor: "alice".into(),
            resolution: Some("rollback fixed it".into()),
        }),
    )
    .await;
    assert_eq!(
        log.notify(ALL_RESOLVED, at("2026-11-24T07:03:35Z"))
            .await
            .len(),
        2
    );
    // Too late: the fold records it as a conflict on the resolved incident.
    log.respond(
        &checkout_stream,
        at("2026-11-24T07:03:38Z"),
        FactBody::Acknowledged(Acknowledged {
            incident_id: checkout_first,
            actor: "bob".into(),
            note: None,
        }),
    )
    .await;

    let billing_facts = log
        .notify(BILLING_FIRING, at("2026-11-24T07:03:42.5Z"))
        .await;
    assert_eq!(billing_facts.len(), 2);
    let billing_stream = billing_facts[0].stream_key.clone();
    let billing = incident_id_for(billing_facts[0].fact_id);
    assert_eq!(
        log.notify(BILLING_RESOLVED, at("2026-11-24T07:03:45Z"))
            .await
            .len(),
        2
    );

    let opened_again = at("2026-11-24T07:03:53Z");
    let again = log.notify(FIRING_AGAIN, opened_again).await;
    assert_eq!(again.len(), 3);
    assert_eq!(again[0].stream_key, checkout_stream);
    let checkout_again = incident_id_for(again[0].fact_id);

    // 03 repeats checkout-2 as 01 told it: the log holds that alert fact already.
    assert_eq!(log.end().await, 18, "14 alert facts and 4 responder facts");
    FixtureLog {
        log,
        checkout_stream,
        billing_stream,
        checkout_first,
        billing,
        checkout_again,
        opened_first,
        opened_again,
    }
}

/// A single-alert Alertmanager webhook body of group `group`.
fn synthetic_webhook(group: usize, status: &str, starts_at: &str, ends_at: &str) -> String {
    let alertname = format!("Synthetic{group:02}");
    let service = format!("svc-{group:02}");
    let labels = serde_json::json!({
        "alertname": alertname,
        "env": "prod",
        "instance": format!("host-{group:02}:9100"),
        "job": service,
        "service": service,
        "severity": "warning",
    });
    let annotations = serde_json::json!({ "summary": format!("Synthetic alert {group}") });
    serde_json::json!({
        "receiver": "aftermath",
        "status": status,
        "alerts": [{
            "status": status,
            "labels": labels,
            "annotations": annotations,
            "startsAt": starts_at,
            "endsAt": ends_at,
            "generatorURL": "http://prometheus.example:9090/graph?g0.expr=up",
            "fingerprint": format!("{:016x}", 0xfeed_0000_u64 + group as u64),
        }],
        "groupLabels": { "alertname": alertname, "service": service },
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": "http://127.0.0.1:19093",
        "version": "4",
        "groupKey": format!("{{}}:{{alertname=\"{alertname}\", service=\"{service}\"}}"),
        "truncatedAlerts": 0,
    })
    .to_string()
}

/// What an alert's description gives the classifier to go on.
#[derive(Clone, Copy, Debug)]
enum AlertText {
    /// rustc and cargo compile errors: E101 Build Failure.
    Build,
    /// A failed Flyway migration: E104 Database Migration Failure.
    Migration,
    /// One weak E101 sign, below the classifier's threshold: a classification without a
    /// class.
    Weak,
    /// Nothing any rule matches: no classification at all.
    Nothing,
}

impl AlertText {
    fn description(self) -> &'static str {
        match self {
            AlertText::Build => {
                "error[E0308]: mismatched types\n  --> src/ledger/posting.rs:88:27\n\
                 error: could not compile `payments-ledger` (lib) due to 1 previous error"
            }
            AlertText::Migration => {
                "Migrating schema \"public\" to version \"3 - add index\"\n\
                 ERROR: Migration V3__add_index.sql failed\n\
                 Message    : ERROR: relation \"idx_orders_customer_id\" already exists"
            }
            AlertText::Weak => "note: `-D clippy::needless-return` implied by `-D warnings`",
            AlertText::Nothing => "Requests are slower than usual",
        }
    }
}

/// One incident to build for the filter cases: its own alert group, opened at `opened`,
/// then optionally overridden by a responder and resolved.
struct Planned {
    service: Option<&'static str>,
    text: AlertText,
    opened: Timestamp,
    /// A responder's class (`Some(None)`: "unclassified").
    override_to: Option<Option<ErrorClass>>,
    resolved: bool,
}

impl Planned {
    fn new(service: Option<&'static str>, text: AlertText, opened: Timestamp) -> Self {
        Self {
            service,
            text,
            opened,
            override_to: None,
            resolved: false,
        }
    }

    fn overridden(self, class: Option<ErrorClass>) -> Self {
        Self {
            override_to: Some(class),
            ..self
        }
    }

    fn resolved(self) -> Self {
        Self {
            resolved: true,
            ..self
        }
    }
}

/// A firing single-alert Alertmanager webhook body of group `group`, for `service` (no
/// `service` or `job` label when `None`), whose alert is described by `text`.
fn planned_webhook(group: usize, plan: &Planned) -> String {
    let alertname = format!("Filter{group:02}");
    let mut labels = serde_json::json!({
        "alertname": alertname,
        "instance": format!("host-{group:02}:9100"),
        "severity": "warning",
    });
    if let Some(service) = plan.service {
        labels["service"] = service.into();
    }
    let annotations = serde_json::json!({
        "summary": format!("Filter alert {group}"),
        "description": plan.text.description(),
    });
    let starts_at = Timestamp::from_datetime(plan.opened.datetime() - time::Duration::seconds(30));
    serde_json::json!({
        "receiver": "aftermath",
        "status": "firing",
        "alerts": [{
            "status": "firing",
            "labels": labels,
            "annotations": annotations,
            "startsAt": starts_at.to_string(),
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.example:9090/graph?g0.expr=up",
            "fingerprint": format!("{:016x}", 0xf117_0000_u64 + group as u64),
        }],
        "groupLabels": { "alertname": alertname },
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": "http://127.0.0.1:19093",
        "version": "4",
        "groupKey": format!("{{}}:{{alertname=\"{alertname}\"}}"),
        "truncatedAlerts": 0,
    })
    .to_string()
}

/// Folds the incidents of `plans` (one per entry, in that order on the log; overrides
/// and resolutions after every opening) into `store`; returns them as the store holds
/// them, in the order of `plans`.
async fn planned_incidents(store: &SharedStore, plans: &[Planned]) -> Vec<Incident> {
    let mut log = TestLog::new().await;
    let mut opening_facts = Vec::new();
    for (group, plan) in plans.iter().enumerate() {
        let facts = log.notify(&planned_webhook(group, plan), plan.opened).await;
        assert_eq!(
            facts.len(),
            2,
            "group {group}: one alert and the notification"
        );
        opening_facts.push(facts[0].clone());
    }
    let afterwards = at("2026-12-31T00:00:00Z").unix_nanos();
    let afterwards = |n: usize| {
        Timestamp::from_datetime(
            time::OffsetDateTime::from_unix_timestamp_nanos(afterwards + n as i128 * 1_000_000_000)
                .unwrap(),
        )
    };
    for (group, (plan, opening)) in plans.iter().zip(&opening_facts).enumerate() {
        let incident_id = incident_id_for(opening.fact_id);
        if let Some(class) = plan.override_to {
            log.respond(
                &opening.stream_key,
                afterwards(2 * group),
                FactBody::ClassificationOverridden(ClassificationOverridden {
                    incident_id,
                    actor: "carol".into(),
                    class,
                    reason: "the evidence says otherwise".into(),
                }),
            )
            .await;
        }
        if plan.resolved {
            log.respond(
                &opening.stream_key,
                afterwards(2 * group + 1),
                FactBody::Resolved(Resolved {
                    incident_id,
                    actor: "alice".into(),
                    resolution: None,
                }),
            )
            .await;
        }
    }
    let end = log.end().await;
    assert_eq!(catch_up(&log, store, 5).await, end);
    let export = store.export().await.expect("export");
    assert_eq!(export.incidents.len(), plans.len());
    opening_facts
        .iter()
        .map(|fact| export.incidents[&incident_id_for(fact.fact_id)].clone())
        .collect()
}

/// Projects the whole log into `store` with a fresh projector; returns how many facts it
/// folded.
async fn catch_up(log: &TestLog, store: &SharedStore, batch_size: usize) -> u64 {
    Projector::new(log.log.clone(), store.clone(), batch_size)
        .catch_up(|_, _| {})
        .await
        .expect("catch up")
}

async fn canonical(store: &SharedStore) -> String {
    store.export().await.expect("export").to_canonical_json()
}

fn assert_export_holds(export: &Export, log: &TestLog, end: Offset) {
    let folded = log.folded();
    assert_eq!(export.checkpoints, BTreeMap::from([(0, end)]));
    assert_eq!(
        export.streams, folded.streams,
        "streams differ from the pure fold"
    );
    assert_eq!(
        export.incidents, folded.incidents,
        "incidents differ from the pure fold"
    );
}

fn kinds(incident: &Incident) -> Vec<TimelineKind> {
    incident.timeline.iter().map(|entry| entry.kind).collect()
}

fn count(incident: &Incident, kind: TimelineKind) -> usize {
    kinds(incident).into_iter().filter(|k| *k == kind).count()
}

/// The newest-first order every listing must follow.
fn newest_first(incidents: &mut [Incident]) {
    incidents
        .sort_by_key(|incident| std::cmp::Reverse((incident.opened_at.unix_nanos(), incident.id)));
}

fn ids(incidents: &[Incident]) -> Vec<Uuid> {
    incidents.iter().map(|incident| incident.id).collect()
}

/// Reads every page of a listing, checking the paging invariants on the way.
async fn all_pages(store: &SharedStore, status: StatusFilter, limit: u32) -> Vec<Incident> {
    all_pages_of(
        store,
        IncidentQuery {
            status,
            limit,
            cursor: None,
            overdue_before: None,
            service: None,
            class: None,
            with_timelines: true,
        },
    )
    .await
}

/// Reads every page of `first_page` and the pages after it, checking the paging
/// invariants on the way.
async fn all_pages_of(store: &SharedStore, first_page: IncidentQuery) -> Vec<Incident> {
    let limit = first_page.limit;
    let mut query = first_page;
    let mut seen = Vec::new();
    for _ in 0..1_000 {
        let page = store.list_incidents(&query).await.expect("list incidents");
        assert!(
            page.incidents.len() <= limit as usize,
            "{query:?}: page of {}",
            page.incidents.len()
        );
        seen.extend(page.incidents.iter().cloned());
        let Some(next) = page.next_cursor else {
            return seen;
        };
        assert_eq!(
            page.incidents.len(),
            limit as usize,
            "{query:?}: only the last page may be short"
        );
        assert_eq!(
            Some(&next),
            page.incidents.last().map(IncidentCursor::of).as_ref(),
            "the cursor points at the last incident of the page"
        );
        // Clients get the cursor as text.
        let decoded = IncidentCursor::decode(&next.encode());
        assert_eq!(decoded.as_ref(), Some(&next));
        query.cursor = decoded;
    }
    panic!("{query:?}: paging never ended");
}

// ---------------------------------------------------------------------------------------
// The contract
// ---------------------------------------------------------------------------------------

mod contract {
    use super::*;

    /// 1. Batch boundaries are invisible: every batch size gives the same bytes, and those
    ///    bytes say what the fixtures mean.
    pub async fn projector_gives_identical_exports_at_every_batch_size(backend: &impl Backend) {
        let fixture = fixture_log().await;
        let log = &fixture.log;
        let end = log.end().await;

        let mut exports = Vec::new();
        for batch_size in [1, 2, 3, 7, 1000] {
            let store = backend.open(&format!("batch-{batch_size}")).await;
            let projector = Projector::new(log.log.clone(), store.clone(), batch_size);
            let mut reports = Vec::new();
            let folded = projector
                .catch_up(|done, total| reports.push((done, total)))
                .await
                .expect("catch up");
            assert_eq!(folded, end, "batch size {batch_size}");
            assert_eq!(reports.first(), Some(&(0, end)));
            assert_eq!(reports.last(), Some(&(end, end)));
            assert_eq!(projector.positions().borrow().get(&0), Some(&end));
            assert_eq!(
                store.checkpoints().await.unwrap(),
                BTreeMap::from([(0, end)])
            );

            let export = store.export().await.expect("export");
            assert_export_holds(&export, log, end);
            exports.push((batch_size, export.to_canonical_json(), export));
        }
        let (_, reference, export) = &exports[0];
        for (batch_size, json, _) in &exports[1..] {
            assert!(
                json == reference,
                "batch size {batch_size} exports other bytes than batch size 1:\n{json}\n---\n{reference}"
            );
        }

        // What the fixtures mean.
        assert_eq!(export.checkpoints, BTreeMap::from([(0, end)]));
        assert_eq!(
            export.incidents.keys().copied().collect::<BTreeSet<_>>(),
            BTreeSet::from([
                fixture.checkout_first,
                fixture.billing,
                fixture.checkout_again
            ]),
            "three incidents: checkout, billing, checkout again"
        );
        assert_eq!(export.streams.len(), 2);
        assert_eq!(
            export.streams[&fixture.checkout_stream].current_incident,
            Some(fixture.checkout_again)
        );
        assert_eq!(
            export.streams[&fixture.billing_stream].current_incident,
            Some(fixture.billing)
        );
        let seen: usize = export.streams.values().map(|s| s.seen_facts.len()).sum();
        assert_eq!(seen as u64, end, "every fact on the log is folded once");

        let first = &export.incidents[&fixture.checkout_first];
        assert_eq!(first.status, IncidentStatus::Resolved);
        assert_eq!(first.title, "High HTTP 5xx error rate on checkout");
        assert_eq!(first.severity, Severity::Warning);
        assert_eq!(first.opened_at, fixture.opened_first);
        assert_eq!(first.acknowledged_by.as_deref(), Some("alice"));
        assert_eq!(first.acknowledged_at, Some(at("2026-11-24T07:03:20Z")));
        assert_eq!(first.resolved_by.as_deref(), Some("alice"));
        assert_eq!(first.resolved_at, Some(at("2026-11-24T07:03:30Z")));
        assert_eq!(first.resolution.as_deref(), Some("rollback fixed it"));
        assert_eq!(first.alerts.len(), 2);
        assert!(first
            .alerts
            .values()
            .all(|alert| alert.status == AlertStatus::Resolved));
        assert_eq!(count(first, TimelineKind::Opened), 1);
        assert_eq!(count(first, TimelineKind::AlertFiring), 2);
        assert_eq!(count(first, TimelineKind::Acknowledged), 1);
        assert_eq!(count(first, TimelineKind::Note), 1);
        assert_eq!(count(first, TimelineKind::AlertResolved), 2);
        assert_eq!(count(first, TimelineKind::Resolved), 1);
        assert_eq!(count(first, TimelineKind::AutoResolved), 0);
        assert_eq!(count(first, TimelineKind::Conflict), 1, "bob's late ack");

        let billing = &export.incidents[&fixture.billing];
        assert_eq!(billing.status, IncidentStatus::Resolved);
        assert_eq!(billing.severity, Severity::Critical);
        assert_eq!(billing.resolved_by.as_deref(), Some("alertmanager"));
        assert_eq!(billing.alerts.len(), 1);
        assert_eq!(count(billing, TimelineKind::AutoResolved), 1);

        let again = &export.incidents[&fixture.checkout_again];
        assert_eq!(again.status, IncidentStatus::Triggered);
        assert_eq!(again.stream_key, fixture.checkout_stream);
        assert_eq!(again.opened_at, fixture.opened_again);
        assert_eq!(again.resolved_at, None);
        assert_eq!(again.firing_alerts(), 2);
    }

    /// 2. A projector that stops mid-log (mid-notification, even) and restarts against the
    ///    reopened store folds only the rest and ends where a one-shot projection ends.
    pub async fn projector_resumes_from_the_checkpoint_after_a_restart(backend: &impl Backend) {
        let fixture = fixture_log().await;
        let log = &fixture.log;
        let end = log.end().await;

        {
            let store = backend.open("projections").await;
            let projector = Projector::new(log.log.clone(), store.clone(), 2);
            for _ in 0..3 {
                assert_eq!(projector.project_batch(0).await.unwrap(), 2);
            }
            assert_eq!(store.checkpoints().await.unwrap(), BTreeMap::from([(0, 6)]));
            // The cut splits notification 03: its alert (offset 5) is folded, its
            // notification fact (offset 6) is not.
        }

        let reopened = backend.open("projections").await;
        assert_eq!(
            reopened.checkpoints().await.unwrap(),
            BTreeMap::from([(0, 6)]),
            "the checkpoint survives the restart"
        );
        let partial = reopened.export().await.unwrap();
        assert!(partial.incidents.contains_key(&fixture.checkout_first));
        assert_eq!(partial.incidents.len(), 1);

        let projector = Projector::new(log.log.clone(), reopened.clone(), 3);
        let mut reports = Vec::new();
        let folded = projector
            .catch_up(|done, total| reports.push((done, total)))
            .await
            .expect("catch up after restart");
        assert_eq!(folded, end - 6, "only the rest of the log is folded");
        assert_eq!(reports.first(), Some(&(0, end - 6)));

        let one_shot = backend.open("one-shot").await;
        assert_eq!(catch_up(log, &one_shot, 1000).await, end);
        let resumed = canonical(&reopened).await;
        assert_eq!(resumed, canonical(&one_shot).await);
        assert_export_holds(&reopened.export().await.unwrap(), log, end);
    }

    /// 3. `reset` drops every projection row and checkpoint but no token; catching up again
    ///    rebuilds the same bytes.
    pub async fn reset_then_catch_up_rebuilds_the_same_projection_and_keeps_tokens(
        store: SharedStore,
    ) {
        let fixture = fixture_log().await;
        let log = &fixture.log;
        let end = log.end().await;
        let (token, secret) = store
            .create_token(
                "ops",
                &BTreeSet::from([Scope::Read, Scope::Admin]),
                at("2026-11-24T07:00:00Z"),
            )
            .await
            .unwrap();
        assert_eq!(catch_up(log, &store, 4).await, end);
        let before = canonical(&store).await;
        let tokens_before = store.list_tokens().await.unwrap();

        store.reset().await.unwrap();
        let emptied = store.export().await.unwrap();
        assert!(emptied.checkpoints.is_empty(), "{emptied:?}");
        assert!(emptied.streams.is_empty(), "{emptied:?}");
        assert!(emptied.incidents.is_empty(), "{emptied:?}");
        assert_eq!(store.incident(fixture.checkout_first).await.unwrap(), None);
        let listed = store
            .list_incidents(&IncidentQuery {
                status: StatusFilter::All,
                limit: 100,
                cursor: None,
                overdue_before: None,
                service: None,
                class: None,
                with_timelines: true,
            })
            .await
            .unwrap();
        assert!(listed.incidents.is_empty() && listed.next_cursor.is_none());
        assert_eq!(
            store.authenticate(&secret).await.unwrap().as_ref(),
            Some(&token),
            "reset keeps tokens"
        );

        assert_eq!(
            catch_up(log, &store, 5).await,
            end,
            "the rebuild folds everything"
        );
        let rebuilt = canonical(&store).await;
        assert!(
            rebuilt == before,
            "the rebuild differs:\n{rebuilt}\n---\n{before}"
        );
        assert_eq!(store.list_tokens().await.unwrap(), tokens_before);
        assert_eq!(
            store.authenticate(&secret).await.unwrap().map(|t| t.name),
            Some("ops".to_owned())
        );
    }

    /// 3b. A rebuild (`begin_rebuild`, catching up into the store it returns,
    ///     `finish_rebuild`) leaves the same bytes in the live store, keeps tokens, and can
    ///     be repeated; the live store goes on working after the swap.
    pub async fn rebuild_then_finish_gives_the_same_projection_and_keeps_tokens(
        store: SharedStore,
    ) {
        let fixture = fixture_log().await;
        let log = &fixture.log;
        let end = log.end().await;
        let (token, secret) = store
            .create_token(
                "ops",
                &BTreeSet::from([Scope::Read]),
                at("2026-11-24T07:00:00Z"),
            )
            .await
            .unwrap();
        assert_eq!(catch_up(log, &store, 4).await, end);
        let before = canonical(&store).await;

        for round in 0..2 {
            let target = store.begin_rebuild().await.unwrap();
            let emptied = target.export().await.unwrap();
            assert!(
                emptied.checkpoints.is_empty()
                    && emptied.streams.is_empty()
                    && emptied.incidents.is_empty(),
                "round {round}: a rebuild starts from empty tables: {emptied:?}"
            );
            assert_eq!(catch_up(log, &target, 5).await, end, "round {round}");
            assert!(
                canonical(&target).await == before,
                "round {round}: the rebuilt projection differs"
            );
            store.finish_rebuild().await.unwrap();

            let swapped = canonical(&store).await;
            assert!(
                swapped == before,
                "round {round}: the live store after the swap differs:\n{swapped}\n---\n{before}"
            );
            assert_export_holds(&store.export().await.unwrap(), log, end);
            assert_eq!(
                store.incident(fixture.billing).await.unwrap().map(|i| i.id),
                Some(fixture.billing)
            );
            let listed = store
                .list_incidents(&IncidentQuery {
                    status: StatusFilter::All,
                    limit: 100,
                    cursor: None,
                    overdue_before: None,
                    service: None,
                    class: None,
                    with_timelines: true,
                })
                .await
                .unwrap();
            assert_eq!(listed.incidents.len(), 3, "round {round}");
            assert_eq!(
                store.authenticate(&secret).await.unwrap().as_ref(),
                Some(&token),
                "round {round}: a rebuild keeps tokens"
            );
            // Nothing left to fold: the live store carries the rebuilt checkpoint.
            assert_eq!(catch_up(log, &store, 3).await, 0, "round {round}");
        }
    }

    /// 4. A commit whose `from` is not the stored checkpoint is refused and changes nothing.
    pub async fn commit_from_a_wrong_checkpoint_fails_and_writes_nothing(store: SharedStore) {
        // On a store that never saw partition 0, its checkpoint is 0.
        let stray = Projection::default();
        match store.commit(&stray, 0, 3, 4).await {
            Err(StoreError::CheckpointMoved {
                partition: 0,
                expected: 3,
                found: 0,
            }) => {}
            other => panic!("expected CheckpointMoved from 3 to found 0, got {other:?}"),
        }
        assert!(store.checkpoints().await.unwrap().is_empty());

        let fixture = fixture_log().await;
        let log = &fixture.log;
        let end = log.end().await;
        assert_eq!(catch_up(log, &store, 1000).await, end);
        let before = canonical(&store).await;

        // A batch's worth of changes: a touched incident, a new stream, a new incident.
        let mut tampered = store
            .load(
                &BTreeSet::from([fixture.checkout_stream.clone()]),
                &BTreeSet::from([fixture.checkout_first]),
            )
            .await
            .unwrap();
        assert!(tampered.incidents.contains_key(&fixture.checkout_first));
        assert!(tampered.incidents.contains_key(&fixture.checkout_again));
        tampered
            .incidents
            .get_mut(&fixture.checkout_first)
            .unwrap()
            .title = "tampered".into();
        let mut extra = tampered.incidents[&fixture.checkout_again].clone();
        extra.id = Uuid::from_u128(0xbad);
        extra.stream_key = "tampered:stream".into();
        tampered.incidents.insert(extra.id, extra);
        tampered
            .streams
            .insert("tampered:stream".into(), Default::default());

        for (partition, from, found) in
            [(0, 0, end), (0, end - 1, end), (0, end + 1, end), (1, 5, 0)]
        {
            match store.commit(&tampered, partition, from, end + 10).await {
                Err(StoreError::CheckpointMoved {
                    partition: p,
                    expected,
                    found: f,
                }) => {
                    assert_eq!((p, expected, f), (partition, from, found));
                }
                other => panic!(
                    "commit of partition {partition} from {from}: expected CheckpointMoved, got {other:?}"
                ),
            }
            assert!(
                canonical(&store).await == before,
                "a refused commit (partition {partition}, from {from}) wrote something"
            );
        }
        assert_eq!(store.incident(Uuid::from_u128(0xbad)).await.unwrap(), None);

        // The same commit from the right checkpoint goes through: the refusals above were
        // about the checkpoint, not the content.
        store.commit(&tampered, 0, end, end + 1).await.unwrap();
        let after = store.export().await.unwrap();
        assert_eq!(after.checkpoints, BTreeMap::from([(0, end + 1)]));
        assert_eq!(after.incidents[&fixture.checkout_first].title, "tampered");
        assert!(after.incidents.contains_key(&Uuid::from_u128(0xbad)));
        assert!(after.streams.contains_key("tampered:stream"));
    }

    /// 4b. Two projectors racing from the same checkpoint: one commit wins, the other is
    ///     told the checkpoint moved (the error the projector's retry logic relies on),
    ///     never a storage error, and the checkpoint moves once.
    pub async fn concurrent_commits_from_the_same_checkpoint_let_exactly_one_win(
        store: SharedStore,
    ) {
        for round in 0..20u64 {
            let partition = round as u32;
            // First from a partition never committed (no checkpoint row yet), then from
            // the checkpoint the first race left (a row to contend for).
            let mut from = 0;
            for stage in ["first", "again"] {
                let barrier = Arc::new(tokio::sync::Barrier::new(2));
                let mut tasks = Vec::new();
                for contender in 0..2u64 {
                    let store = store.clone();
                    let barrier = barrier.clone();
                    tasks.push(tokio::spawn(async move {
                        let mut projection = Projection::default();
                        projection.streams.insert(
                            format!("race:{round}:{stage}:{contender}"),
                            Default::default(),
                        );
                        barrier.wait().await;
                        store
                            .commit(&projection, partition, from, from + 1 + contender)
                            .await
                    }));
                }
                let mut outcomes = Vec::new();
                for task in tasks {
                    outcomes.push(task.await.expect("commit task"));
                }
                let won: Vec<u64> = (0..2).filter(|c| outcomes[*c as usize].is_ok()).collect();
                assert_eq!(
                    won.len(),
                    1,
                    "round {round} {stage}: one commit wins: {outcomes:?}"
                );
                let (winner, loser) = (won[0], 1 - won[0]);
                let moved_to = from + 1 + winner;

                // Whatever the loser was told, it wrote nothing and the checkpoint moved
                // once.
                let export = store.export().await.unwrap();
                assert_eq!(export.checkpoints.get(&partition), Some(&moved_to));
                assert!(export
                    .streams
                    .contains_key(&format!("race:{round}:{stage}:{winner}")));
                assert!(!export
                    .streams
                    .contains_key(&format!("race:{round}:{stage}:{loser}")));

                match &outcomes[loser as usize] {
                    Err(StoreError::CheckpointMoved {
                        partition: p,
                        expected,
                        found,
                    }) if *p == partition && *expected == from && *found == moved_to => {}
                    other => panic!(
                        "round {round} {stage}: the losing commit must fail with \
                         CheckpointMoved (from {from}, found {moved_to}), got {other:?}"
                    ),
                }
                from = moved_to;
            }
        }
    }

    /// 5. Listings: newest first by (opened_at, id), status filters, and paging that visits
    ///    every incident exactly once.
    pub async fn list_incidents_orders_filters_and_pages_without_gaps_or_duplicates(
        store: SharedStore,
    ) {
        const GROUPS: usize = 30;
        const TIED: [usize; 4] = [4, 9, 14, 23];
        let mut log = TestLog::new().await;
        let base = at("2026-11-24T08:00:00.000250Z").unix_nanos();
        // Opening times are not in log order (so the store must sort), and four groups
        // open in the same nanosecond (so the id decides between them).
        let opened = |group: usize| {
            let (minutes, micros) = if TIED.contains(&group) {
                (11, 0)
            } else {
                ((group * 7) % GROUPS, group as i128)
            };
            let nanos = base + minutes as i128 * 60_000_000_000 + micros * 1_000;
            Timestamp::from_datetime(
                time::OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap(),
            )
        };
        let mut incident_of = BTreeMap::new();
        for group in 0..GROUPS {
            let starts =
                Timestamp::from_datetime(opened(group).datetime() - time::Duration::seconds(30));
            let body =
                synthetic_webhook(group, "firing", &starts.to_string(), "0001-01-01T00:00:00Z");
            let facts = log.notify(&body, opened(group)).await;
            assert_eq!(facts.len(), 2);
            incident_of.insert(group, (incident_id_for(facts[0].fact_id), facts[0].clone()));
        }
        // Resolve some: by Alertmanager (every third group), and by a person; acknowledge
        // one more (acknowledged is still open).
        let later = at("2026-11-24T09:00:00Z").unix_nanos();
        let later = |n: usize| {
            Timestamp::from_datetime(
                time::OffsetDateTime::from_unix_timestamp_nanos(later + n as i128 * 1_000_000_000)
                    .unwrap(),
            )
        };
        for group in (0..GROUPS).step_by(3) {
            let FactBody::AlertNotified(alert) = &incident_of[&group].1.body else {
                panic!("alert fact first");
            };
            let body = synthetic_webhook(
                group,
                "resolved",
                &alert.starts_at.to_string(),
                &later(group).to_string(),
            );
            assert_eq!(log.notify(&body, later(group)).await.len(), 2);
        }
        let (by_person, by_person_fact) = incident_of[&7].clone();
        log.respond(
            &by_person_fact.stream_key,
            later(100),
            FactBody::Resolved(Resolved {
                incident_id: by_person,
                actor: "alice".into(),
                resolution: None,
            }),
        )
        .await;
        let (acked, acked_fact) = incident_of[&8].clone();
        log.respond(
            &acked_fact.stream_key,
            later(101),
            FactBody::Acknowledged(Acknowledged {
                incident_id: acked,
                actor: "bob".into(),
                note: None,
            }),
        )
        .await;
        let end = log.end().await;
        assert_eq!(catch_up(&log, &store, 8).await, end);

        let export = store.export().await.unwrap();
        assert_eq!(export.incidents.len(), GROUPS);
        let mut all: Vec<Incident> = export.incidents.values().cloned().collect();
        newest_first(&mut all);
        let resolved: Vec<Incident> = all
            .iter()
            .filter(|i| i.status == IncidentStatus::Resolved)
            .cloned()
            .collect();
        let open: Vec<Incident> = all
            .iter()
            .filter(|i| i.status != IncidentStatus::Resolved)
            .cloned()
            .collect();
        assert_eq!(resolved.len(), GROUPS / 3 + 1);
        assert_eq!(open.len(), GROUPS - resolved.len());
        assert!(open
            .iter()
            .any(|i| i.status == IncidentStatus::Acknowledged));
        // The tied groups really share an opening instant.
        let tied: BTreeSet<_> = TIED.iter().map(|g| opened(*g).unix_nanos()).collect();
        assert_eq!(tied.len(), 1, "the tied groups share one instant");

        for (status, expected) in [
            (StatusFilter::All, &all),
            (StatusFilter::Open, &open),
            (StatusFilter::Resolved, &resolved),
        ] {
            // One big page: exact order and content.
            let page = store
                .list_incidents(&IncidentQuery {
                    status,
                    limit: 1_000,
                    cursor: None,
                    overdue_before: None,
                    service: None,
                    class: None,
                    with_timelines: true,
                })
                .await
                .unwrap();
            assert_eq!(ids(&page.incidents), ids(expected), "{status:?} order");
            assert_eq!(&page.incidents, expected, "{status:?} content");
            assert_eq!(page.next_cursor, None);

            for limit in [1, 2, 3, 4, 7, 10, expected.len() as u32, 31, 1_000] {
                let paged = all_pages(&store, status, limit).await;
                let unique: BTreeSet<Uuid> = paged.iter().map(|i| i.id).collect();
                assert_eq!(unique.len(), paged.len(), "{status:?} limit {limit}: dupes");
                assert_eq!(
                    ids(&paged),
                    ids(expected),
                    "{status:?} limit {limit}: every incident once, in order"
                );
            }
        }

        // A cursor is a position, not a row: one just before the tied instant (largest id)
        // continues with the tied incidents, largest id first.
        let tie_ns = opened(TIED[0]).unix_nanos() as i64;
        let page = store
            .list_incidents(&IncidentQuery {
                status: StatusFilter::All,
                limit: 2,
                cursor: Some(IncidentCursor {
                    opened_at_ns: tie_ns,
                    id: Uuid::max(),
                }),
                overdue_before: None,
                service: None,
                class: None,
                with_timelines: true,
            })
            .await
            .unwrap();
        let first_tied = all
            .iter()
            .position(|i| i.opened_at.unix_nanos() as i64 == tie_ns)
            .unwrap();
        assert_eq!(ids(&page.incidents), ids(&all[first_tied..first_tied + 2]));
    }

    /// 5b. Cursors survive their text form; anything else is no cursor.
    pub async fn incident_cursors_round_trip_and_garbage_decodes_to_none(_store: SharedStore) {
        let id = Uuid::parse_str("0b7e2a44-95c1-4f0f-8e36-7c1d4a90b3c2").unwrap();
        for opened_at_ns in [0, 1, 1_795_000_000_123_456_789, i64::MAX, -5] {
            let cursor = IncidentCursor { opened_at_ns, id };
            let text = cursor.encode();
            assert_eq!(IncidentCursor::decode(&text), Some(cursor), "{text}");
        }
        let max = IncidentCursor {
            opened_at_ns: 42,
            id: Uuid::max(),
        };
        assert_eq!(IncidentCursor::decode(&max.encode()), Some(max));

        let simple = id.simple().to_string();
        for garbage in [
            String::new(),
            "garbage".into(),
            "_".into(),
            "123".into(),
            "123_".into(),
            format!("_{simple}"),
            format!("abc_{simple}"),
            format!("1.5_{simple}"),
            format!("99999999999999999999_{simple}"),
            "123_not-a-uuid".into(),
            format!("123_{simple}_456"),
            format!("123_{}", &simple[..31]),
        ] {
            assert_eq!(IncidentCursor::decode(&garbage), None, "{garbage:?}");
        }
    }

    /// 5c. Listings filtered by service (exact) and by the class in force (a responder's
    ///     override, "unclassified" included, beats the classifier), alone, together and
    ///     with a status; every filtered listing pages without gaps or duplicates.
    pub async fn list_incidents_filters_by_service_and_class_in_force_and_pages_through_them(
        store: SharedStore,
    ) {
        use AlertText::{Build, Migration, Nothing, Weak};
        use ErrorClass::{E101, E104, E105};
        let base = at("2026-11-25T08:00:00.000125Z").unix_nanos();
        // Opening times out of log order, and groups 10 and 12 open in the same
        // nanosecond (the id decides between them, in a filtered listing too).
        let opened = |group: usize| {
            let minutes = if group == 12 { 8 } else { (group * 5) % 14 };
            Timestamp::from_datetime(
                time::OffsetDateTime::from_unix_timestamp_nanos(
                    base + minutes as i128 * 60_000_000_000,
                )
                .unwrap(),
            )
        };
        let plan = |group: usize, service: Option<&'static str>, text: AlertText| {
            Planned::new(service, text, opened(group))
        };
        let payments = Some("payments");
        let search = Some("search");
        let plans = [
            plan(0, payments, Build),
            plan(1, payments, Migration).resolved(),
            plan(2, search, Build).overridden(Some(E105)),
            plan(3, search, Migration).overridden(None),
            plan(4, payments, Nothing),
            plan(5, search, Weak),
            plan(6, payments, Nothing).overridden(Some(E101)),
            plan(7, search, Build).resolved(),
            plan(8, None, Build),
            plan(9, payments, Build).resolved(),
            plan(10, payments, Build),
            plan(11, payments, Migration).overridden(Some(E101)),
            plan(12, payments, Build),
            plan(13, Some("payments-eu"), Build),
        ];
        let incidents = planned_incidents(&store, &plans).await;

        // The groups are what the cases below say they are.
        let classifier: Vec<Option<Option<ErrorClass>>> = incidents
            .iter()
            .map(|i| i.classification.as_ref().map(|c| c.class))
            .collect();
        let (e101, e104) = (Some(Some(E101)), Some(Some(E104)));
        assert_eq!(
            classifier,
            [
                e101,
                e104,
                e101,
                e104,
                None,
                Some(None),
                None,
                e101,
                e101,
                e101,
                e101,
                e104,
                e101,
                e101
            ],
            "what the classifier made of each group"
        );
        let in_force: Vec<Option<ErrorClass>> =
            incidents.iter().map(Incident::error_class).collect();
        assert_eq!(
            in_force,
            [
                Some(E101),
                Some(E104),
                Some(E105),
                None,
                None,
                None,
                Some(E101),
                Some(E101),
                Some(E101),
                Some(E101),
                Some(E101),
                Some(E101),
                Some(E101),
                Some(E101)
            ],
            "the class in force of each group"
        );
        assert_eq!(incidents[10].opened_at, incidents[12].opened_at);
        assert_eq!(incidents[8].service, None);
        let resolved: Vec<usize> = (0..incidents.len())
            .filter(|g| !incidents[*g].status.is_open())
            .collect();
        assert_eq!(resolved, [1, 7, 9]);

        use ClassFilter::{Class, Unclassified};
        use StatusFilter::{All, Open, Resolved};
        let cases = [
            (payments, None, All, vec![0, 1, 4, 6, 9, 10, 11, 12]),
            (search, None, All, vec![2, 3, 5, 7]),
            (Some("payments-eu"), None, All, vec![13]),
            // Exact: neither a prefix nor a different case matches.
            (Some("pay"), None, All, vec![]),
            (Some("Payments"), None, All, vec![]),
            (Some("billing"), None, All, vec![]),
            (
                None,
                Some(Class(E101)),
                All,
                vec![0, 6, 7, 8, 9, 10, 11, 12, 13],
            ),
            (None, Some(Class(E104)), All, vec![1]),
            (None, Some(Class(E105)), All, vec![2]),
            (None, Some(Class(ErrorClass::E102)), All, vec![]),
            (None, Some(Class(ErrorClass::E103)), All, vec![]),
            (None, Some(Unclassified), All, vec![3, 4, 5]),
            (search, Some(Unclassified), All, vec![3, 5]),
            (payments, Some(Class(E101)), All, vec![0, 6, 9, 10, 11, 12]),
            (payments, Some(Class(E101)), Open, vec![0, 6, 10, 11, 12]),
            (payments, Some(Class(E101)), Resolved, vec![9]),
            (None, Some(Class(E101)), Open, vec![0, 6, 8, 10, 11, 12, 13]),
            (payments, None, Open, vec![0, 4, 6, 10, 11, 12]),
            (search, Some(Class(E104)), All, vec![]),
        ];
        for (service, class, status, groups) in cases {
            let mut expected: Vec<Incident> =
                groups.iter().map(|g| incidents[*g].clone()).collect();
            newest_first(&mut expected);
            let query = IncidentQuery {
                status,
                limit: 1_000,
                cursor: None,
                overdue_before: None,
                service: service.map(str::to_owned),
                class,
                with_timelines: true,
            };
            let page = store.list_incidents(&query).await.unwrap();
            assert_eq!(ids(&page.incidents), ids(&expected), "{query:?}");
            assert_eq!(page.incidents, expected, "{query:?}: content");
            // Without timelines: the same incidents, their timelines left empty.
            let summaries = store
                .list_incidents(&IncidentQuery {
                    with_timelines: false,
                    ..query.clone()
                })
                .await
                .unwrap();
            let mut bare = expected.clone();
            for incident in &mut bare {
                assert!(
                    !incident.timeline.is_empty(),
                    "{query:?}: the fixture has timelines"
                );
                incident.timeline.clear();
            }
            assert_eq!(summaries.incidents, bare, "{query:?}: without timelines");
            assert_eq!(page.next_cursor, None, "{query:?}");

            for limit in [1, 2, 3, 4, 5] {
                let paged = all_pages_of(
                    &store,
                    IncidentQuery {
                        limit,
                        ..query.clone()
                    },
                )
                .await;
                assert_eq!(
                    ids(&paged),
                    ids(&expected),
                    "{query:?} limit {limit}: every match once, in order"
                );
            }
        }

        // A page of a filtered listing that is full but holds the last match has no next
        // page: the store looked one match ahead, not one row.
        let query = IncidentQuery {
            status: StatusFilter::Open,
            limit: 5,
            cursor: None,
            overdue_before: None,
            service: payments.map(str::to_owned),
            class: Some(Class(E101)),
            with_timelines: true,
        };
        let page = store.list_incidents(&query).await.unwrap();
        assert_eq!(page.incidents.len(), 5);
        assert_eq!(page.next_cursor, None);
        let page = store
            .list_incidents(&IncidentQuery {
                limit: 4,
                ..query.clone()
            })
            .await
            .unwrap();
        assert_eq!(page.incidents.len(), 4);
        assert!(page.next_cursor.is_some());
    }

    /// 5d. `incidents_opened_between`: `from` inclusive, `to` exclusive, oldest first (the
    ///     id between equal instants), every status, optionally one service.
    pub async fn incidents_opened_between_keeps_from_drops_to_and_lists_oldest_first(
        store: SharedStore,
    ) {
        let from = at("2026-11-30T00:00:00Z");
        let to = at("2026-12-07T00:00:00Z");
        let shifted = |at: Timestamp, nanos: i64| {
            Timestamp::from_datetime(at.datetime() + time::Duration::nanoseconds(nanos))
        };
        const MINUTE: i64 = 60_000_000_000;
        let payments = Some("payments");
        let search = Some("search");
        // On the log in group order, which is not the order of the opening times.
        let plans = [
            Planned::new(search, AlertText::Nothing, shifted(to, -1)),
            Planned::new(payments, AlertText::Nothing, shifted(from, -1)),
            Planned::new(payments, AlertText::Nothing, shifted(from, 20 * MINUTE)).resolved(),
            Planned::new(payments, AlertText::Nothing, shifted(to, 60 * MINUTE)),
            Planned::new(payments, AlertText::Nothing, from),
            Planned::new(payments, AlertText::Nothing, to),
            Planned::new(payments, AlertText::Nothing, shifted(from, 20 * MINUTE)),
            Planned::new(search, AlertText::Build, shifted(from, 10 * MINUTE)),
        ];
        let incidents = planned_incidents(&store, &plans).await;
        assert_eq!(incidents[2].status, IncidentStatus::Resolved);
        assert_eq!(incidents[2].opened_at, incidents[6].opened_at);

        let oldest_first = |groups: &[usize]| {
            let mut expected: Vec<Incident> =
                groups.iter().map(|g| incidents[*g].clone()).collect();
            expected.sort_by_key(|incident| (incident.opened_at.unix_nanos(), incident.id));
            expected
        };
        let (tied_first, tied_second) = if incidents[2].id < incidents[6].id {
            (2, 6)
        } else {
            (6, 2)
        };
        let far_past = at("1500-01-01T00:00:00Z");
        let far_future = at("9999-12-31T00:00:00Z");
        for (start, end, service, groups) in [
            (from, to, None, vec![4, 7, tied_first, tied_second, 0]),
            (from, to, payments, vec![4, tied_first, tied_second]),
            (from, to, search, vec![7, 0]),
            (from, to, Some("pay"), vec![]),
            (from, to, Some("billing"), vec![]),
            // One nanosecond wider on each side takes in the two just outside.
            (
                shifted(from, -1),
                shifted(to, 1),
                None,
                vec![1, 4, 7, tied_first, tied_second, 0, 5],
            ),
            (from, shifted(from, 1), None, vec![4]),
            (from, from, None, vec![]),
            (to, from, None, vec![]),
            // Bounds beyond what nanoseconds in an i64 can say (1677 to 2262).
            (
                far_past,
                far_future,
                None,
                vec![1, 4, 7, tied_first, tied_second, 0, 5, 3],
            ),
            (
                far_past,
                far_future,
                payments,
                vec![1, 4, tied_first, tied_second, 5, 3],
            ),
            (far_past, from, None, vec![1]),
            (shifted(to, 1), far_future, None, vec![3]),
        ] {
            let found = store
                .incidents_opened_between(start, end, service)
                .await
                .unwrap();
            let expected = oldest_first(&groups);
            assert_eq!(
                ids(&found),
                groups.iter().map(|g| incidents[*g].id).collect::<Vec<_>>(),
                "{start} to {end}, service {service:?}"
            );
            assert_eq!(
                found, expected,
                "{start} to {end}, service {service:?}: content"
            );
        }
    }

    /// 6. Tokens: secrets authenticate their token until revoked; names are unique among
    ///    live tokens; the secret never comes back.
    pub async fn tokens_authenticate_revoke_and_never_expose_their_secret(store: SharedStore) {
        let created_at = at("2026-11-24T07:00:00Z");
        let ingest_scopes = BTreeSet::from([Scope::Ingest]);
        let (ci, ci_secret) = store
            .create_token("ci-ingest", &ingest_scopes, created_at)
            .await
            .unwrap();
        assert_eq!(ci.name, "ci-ingest");
        assert_eq!(ci.scopes, ingest_scopes);
        assert_eq!(ci.revoked_at, None);
        let responder_scopes = BTreeSet::from([Scope::Respond, Scope::Read]);
        let (alice, alice_secret) = store
            .create_token("alice", &responder_scopes, created_at)
            .await
            .unwrap();
        assert_ne!(ci_secret, alice_secret);
        assert_ne!(ci.id, alice.id);

        let found = store.authenticate(&ci_secret).await.unwrap().unwrap();
        assert_eq!(found, ci);
        assert!(found.has(Scope::Ingest) && !found.has(Scope::Read));
        let found = store.authenticate(&alice_secret).await.unwrap().unwrap();
        assert_eq!(
            (found.name.as_str(), &found.scopes),
            ("alice", &responder_scopes)
        );

        let mut wrong = ci_secret.clone();
        let last = wrong.pop().unwrap();
        wrong.push(if last == '0' { '1' } else { '0' });
        for wrong in [
            wrong,
            format!("{ci_secret}0"),
            ci_secret[..ci_secret.len() - 1].to_owned(),
            ci_secret.to_uppercase(),
            String::new(),
            "aftm_".into(),
        ] {
            assert_eq!(store.authenticate(&wrong).await.unwrap(), None, "{wrong:?}");
        }

        match store
            .create_token("ci-ingest", &responder_scopes, created_at)
            .await
        {
            Err(StoreError::InvalidToken(_)) => {}
            other => panic!("a second live ci-ingest: expected InvalidToken, got {other:?}"),
        }
        match store
            .create_token("bob", &BTreeSet::new(), created_at)
            .await
        {
            Err(StoreError::InvalidToken(_)) => {}
            other => panic!("a token without scopes: expected InvalidToken, got {other:?}"),
        }
        assert_eq!(
            store.list_tokens().await.unwrap().len(),
            2,
            "no failed creation stored"
        );
        assert_eq!(
            store.authenticate(&ci_secret).await.unwrap(),
            Some(ci.clone())
        );

        let revoked_at = at("2026-11-24T08:00:00Z");
        assert!(store.revoke_token("ci-ingest", revoked_at).await.unwrap());
        assert_eq!(store.authenticate(&ci_secret).await.unwrap(), None);
        assert!(!store.revoke_token("ci-ingest", revoked_at).await.unwrap());
        assert!(!store.revoke_token("nobody", revoked_at).await.unwrap());
        assert_eq!(
            store.authenticate(&alice_secret).await.unwrap(),
            Some(alice.clone()),
            "revoking one token leaves the others"
        );

        let (ci_again, ci_again_secret) = store
            .create_token("ci-ingest", &ingest_scopes, revoked_at)
            .await
            .expect("a revoked token's name can be reused");
        assert_ne!(ci_again.id, ci.id);
        assert_ne!(ci_again_secret, ci_secret);
        assert_eq!(
            store.authenticate(&ci_again_secret).await.unwrap(),
            Some(ci_again.clone())
        );
        assert_eq!(store.authenticate(&ci_secret).await.unwrap(), None);

        let tokens = store.list_tokens().await.unwrap();
        assert_eq!(tokens.len(), 3);
        let by_id: BTreeMap<Uuid, _> = tokens.iter().map(|t| (t.id, t)).collect();
        assert!(
            by_id[&ci.id].revoked_at.is_some(),
            "the old token shows revoked"
        );
        assert_eq!(by_id[&ci_again.id], &ci_again);
        assert_eq!(by_id[&alice.id], &alice);
        let json = serde_json::to_string(&tokens).unwrap();
        for secret in [&ci_secret, &alice_secret, &ci_again_secret] {
            let random_part = secret.trim_start_matches("aftm_");
            assert!(random_part.len() >= 20);
            assert!(
                !json.contains(random_part),
                "list_tokens exposes a secret: {json}"
            );
        }
        for info in [&ci, &alice, &ci_again] {
            let json = serde_json::to_string(info).unwrap();
            assert!(!json.contains(ci_secret.trim_start_matches("aftm_")));
            assert!(!json.contains(alice_secret.trim_start_matches("aftm_")));
            assert!(!json.contains(ci_again_secret.trim_start_matches("aftm_")));
        }
    }

    /// 7. Unknown incident ids are not found, before and after projecting.
    pub async fn changes_are_kept_once_and_found_by_service_and_time(store: SharedStore) {
        let body = include_str!("../../../tests/fixtures/pagerduty/change.json");
        let mut facts = Vec::new();
        for (service, timestamp) in [
            ("checkout", "2026-11-24T06:00:00Z"),
            ("checkout", "2026-11-24T07:00:00Z"),
            ("billing", "2026-11-24T07:00:00Z"),
        ] {
            let mut event: serde_json::Value = serde_json::from_str(body).unwrap();
            event["payload"]["custom_details"]["service"] = service.into();
            event["payload"]["timestamp"] = timestamp.into();
            facts.extend(
                aftermath_core::normalize_pagerduty_change(
                    event.to_string().as_bytes(),
                    "token",
                    "ci",
                    at("2026-11-24T07:30:00Z"),
                )
                .unwrap(),
            );
        }
        // Folded twice (a redelivery): still one change each.
        let mut projection = Projection::default();
        for fact in facts.iter().chain(&facts) {
            projection.apply(fact);
        }
        store.commit(&projection, 0, 0, 6).await.unwrap();
        store.commit(&projection, 0, 6, 12).await.unwrap();
        assert_eq!(store.export().await.unwrap().changes.len(), 3);

        let found = store
            .changes_between(
                "checkout",
                at("2026-11-24T06:30:00Z"),
                at("2026-11-24T08:00:00Z"),
            )
            .await
            .unwrap();
        let times: Vec<String> = found.iter().map(|c| c.at.to_string()).collect();
        assert_eq!(times, ["2026-11-24T07:00:00Z"]);
        let all = store
            .changes_between(
                "checkout",
                at("2026-11-24T00:00:00Z"),
                at("2026-11-24T23:00:00Z"),
            )
            .await
            .unwrap();
        assert_eq!(all.len(), 2);
        assert!(all[0].at < all[1].at, "oldest first");
        assert!(store
            .changes_between(
                "search",
                at("2026-11-24T00:00:00Z"),
                at("2026-11-24T23:00:00Z")
            )
            .await
            .unwrap()
            .is_empty());
    }

    pub async fn overdue_lists_only_unacknowledged_incidents_past_their_cutoff(store: SharedStore) {
        let fixture = fixture_log().await;
        catch_up(&fixture.log, &store, 1000).await;
        let query = |cutoff: &str| IncidentQuery {
            status: StatusFilter::All,
            limit: 100,
            cursor: None,
            overdue_before: Some(
                [
                    aftermath_core::Severity::Critical,
                    aftermath_core::Severity::Error,
                    aftermath_core::Severity::Warning,
                    aftermath_core::Severity::Info,
                ]
                .into_iter()
                .map(|severity| (severity, at(cutoff)))
                .collect(),
            ),
            service: None,
            class: None,
            with_timelines: true,
        };
        let all = store
            .list_incidents(&query("2026-12-31T00:00:00Z"))
            .await
            .unwrap();
        assert!(
            !all.incidents.is_empty(),
            "the fixture leaves an unacknowledged incident"
        );
        assert!(all
            .incidents
            .iter()
            .all(|i| i.status == aftermath_core::IncidentStatus::Triggered));
        let none = store
            .list_incidents(&query("2000-01-01T00:00:00Z"))
            .await
            .unwrap();
        assert!(none.incidents.is_empty());
    }

    pub async fn only_incidents_with_action_items_are_listed_for_them(store: SharedStore) {
        let fixture = fixture_log().await;
        catch_up(&fixture.log, &store, 1000).await;
        assert!(store
            .incidents_with_action_items()
            .await
            .unwrap()
            .is_empty());

        let mut projection = store
            .load(
                &BTreeSet::from([fixture.billing_stream.clone()]),
                &BTreeSet::from([fixture.billing]),
            )
            .await
            .unwrap();
        let at = at("2026-11-24T08:00:00Z");
        projection.apply(&aftermath_core::Fact {
            fact_id: Uuid::from_u128(0xac71),
            stream_key: fixture.billing_stream.clone(),
            occurred_at: at,
            recorded_at: at,
            body: aftermath_core::FactBody::ActionItemAdded(aftermath_core::ActionItemAdded {
                incident_id: fixture.billing,
                actor: "alice".into(),
                action_item_id: Uuid::from_u128(0xa1),
                title: "Add a migration dry run to CI".into(),
                owner: "alice".into(),
                kind: aftermath_core::ActionItemKind::Prevent,
                due: None,
            }),
        });
        let end = store.checkpoints().await.unwrap()[&0];
        store.commit(&projection, 0, end, end + 1).await.unwrap();
        let listed = store.incidents_with_action_items().await.unwrap();
        let ids: Vec<Uuid> = listed.iter().map(|i| i.id).collect();
        assert_eq!(ids, [fixture.billing]);
        assert_eq!(
            listed[0].action_items[0].title,
            "Add a migration dry run to CI"
        );
    }

    /// Another consumer's checkpoints: compare-and-set per consumer and partition, and
    /// kept by a reset and a rebuild (the notifier must never start over).
    pub async fn consumer_checkpoints_compare_and_set_and_survive_rebuilds(store: SharedStore) {
        assert!(store
            .consumer_checkpoints("notifier")
            .await
            .unwrap()
            .is_empty());
        store
            .advance_consumer("notifier", 0, None, 5)
            .await
            .unwrap();
        let again = store.advance_consumer("notifier", 0, None, 7).await;
        assert!(
            matches!(again, Err(StoreError::CheckpointMoved { found: 5, .. })),
            "a second first position is refused: {again:?}"
        );
        let stale = store.advance_consumer("notifier", 0, Some(3), 9).await;
        assert!(
            matches!(
                stale,
                Err(StoreError::CheckpointMoved {
                    expected: 3,
                    found: 5,
                    ..
                })
            ),
            "a stale position is refused: {stale:?}"
        );
        store
            .advance_consumer("notifier", 0, Some(5), 9)
            .await
            .unwrap();
        store
            .advance_consumer("notifier", 2, None, 1)
            .await
            .unwrap();
        store.advance_consumer("other", 0, None, 100).await.unwrap();
        assert_eq!(
            store.consumer_checkpoints("notifier").await.unwrap(),
            BTreeMap::from([(0, 9), (2, 1)])
        );

        store.reset().await.unwrap();
        let target = store.begin_rebuild().await.unwrap();
        assert_eq!(
            target.consumer_checkpoints("notifier").await.unwrap(),
            BTreeMap::from([(0, 9), (2, 1)]),
            "a rebuilding store sees the consumer's position"
        );
        store.finish_rebuild().await.unwrap();
        assert_eq!(
            store.consumer_checkpoints("notifier").await.unwrap(),
            BTreeMap::from([(0, 9), (2, 1)])
        );
        assert_eq!(
            store.consumer_checkpoints("other").await.unwrap(),
            BTreeMap::from([(0, 100)])
        );
    }

    /// A commit adds the folded fact ids it is given to the stream's stored ones (the
    /// projector passes only its batch's), so a fact folded batches ago is still known.
    pub async fn folded_fact_ids_accumulate_across_commits_and_a_later_repeat_is_a_duplicate(
        store: SharedStore,
    ) {
        let mut log = TestLog::new().await;
        let opened = log.notify(FIRING, at("2026-11-24T07:00:00Z")).await;
        let stream_key = opened[0].stream_key.clone();
        let streams = BTreeSet::from([stream_key.clone()]);
        let mut expected = BTreeSet::new();
        // One fact per commit, as a live projector folding one fact at a time would.
        for (offset, fact) in opened.iter().enumerate() {
            let mut projection = store.load(&streams, &BTreeSet::new()).await.unwrap();
            assert_eq!(
                projection
                    .streams
                    .get(&stream_key)
                    .map(|stream| stream.seen_facts.clone())
                    .unwrap_or_default(),
                expected,
                "every id committed before is loaded"
            );
            assert_eq!(projection.apply(fact), FoldOutcome::Applied);
            expected.insert(fact.fact_id);
            projection.streams.get_mut(&stream_key).unwrap().seen_facts =
                BTreeSet::from([fact.fact_id]);
            let offset = offset as Offset;
            store
                .commit(&projection, 0, offset, offset + 1)
                .await
                .unwrap();
        }
        let export = store.export().await.unwrap();
        assert_eq!(export.streams[&stream_key].seen_facts, expected);
        assert_eq!(export.streams, log.folded().streams);

        // The first fact again (a retried append on a log without `UNIQUE`).
        let mut projection = store.load(&streams, &BTreeSet::new()).await.unwrap();
        let before = projection.clone();
        assert_eq!(projection.apply(&opened[0]), FoldOutcome::Duplicate);
        assert_eq!(projection, before);
    }

    /// Timeline entries are stored one per row and a commit writes only the ones past the
    /// stored count; the stored incident is still exactly the committed one, whether its
    /// timeline grew, stayed, or (which the fold never does) shrank.
    pub async fn a_commit_stores_exactly_the_timeline_it_is_given(store: SharedStore) {
        let fixture = fixture_log().await;
        let end = fixture.log.end().await;
        assert_eq!(catch_up(&fixture.log, &store, 1000).await, end);
        let id = fixture.checkout_first;
        let mut projection = store
            .load(&BTreeSet::new(), &BTreeSet::from([id]))
            .await
            .unwrap();
        let full = projection.incidents[&id].timeline.clone();
        assert!(full.len() > 2, "the fixture incident has a timeline");
        for (from, length) in (end..).zip([full.len(), 1, 1, full.len(), 0, 2]) {
            let incident = projection.incidents.get_mut(&id).unwrap();
            incident.timeline = full[..length].to_vec();
            store.commit(&projection, 0, from, from + 1).await.unwrap();
            let stored = store.incident(id).await.unwrap().unwrap();
            assert_eq!(stored.timeline, full[..length], "length {length}");
            let loaded = store
                .load(&BTreeSet::new(), &BTreeSet::from([id]))
                .await
                .unwrap();
            assert_eq!(loaded.incidents[&id], stored);
            assert_eq!(store.export().await.unwrap().incidents[&id], stored);
        }
    }

    pub async fn unknown_incident_is_none(store: SharedStore) {
        let unknown = Uuid::from_u128(0x0123_4567_89ab_cdef);
        assert_eq!(store.incident(unknown).await.unwrap(), None);

        let fixture = fixture_log().await;
        catch_up(&fixture.log, &store, 1000).await;
        assert_eq!(store.incident(unknown).await.unwrap(), None);
        assert_eq!(store.incident(Uuid::nil()).await.unwrap(), None);
        let known = store.incident(fixture.billing).await.unwrap().unwrap();
        assert_eq!(known.id, fixture.billing);
        // An opening fact's id is not its incident's id.
        assert_eq!(
            store.incident(fixture.log.facts[0].fact_id).await.unwrap(),
            None
        );
    }
}

// ---------------------------------------------------------------------------------------
// Stream rows written before `folded_facts`
// ---------------------------------------------------------------------------------------

/// Folds the fixture log into `store` and rewrites its stream rows as they were before
/// `folded_facts` (each row listing every folded id), emptying that table; returns the
/// export the rows must still give.
async fn fold_then_write_legacy_stream_rows(
    store: &SharedStore,
    mut execute: impl FnMut(String),
) -> (FixtureLog, String) {
    let fixture = fixture_log().await;
    catch_up(&fixture.log, store, 4).await;
    let export = store.export().await.unwrap();
    execute("DELETE FROM {schema}folded_facts".into());
    for (key, stream) in &export.streams {
        let legacy = serde_json::to_string(stream).unwrap();
        assert!(legacy.contains("\"seen_facts\":[\""), "{legacy}");
        execute(format!(
            "UPDATE {{schema}}streams SET state = '{}' WHERE stream_key = '{}'",
            legacy.replace('\'', "''"),
            key.replace('\'', "''")
        ));
    }
    (fixture, export.to_canonical_json())
}

/// Folds the fixture log into `store` and rewrites its incident rows as they were before
/// `timeline_entries` (each row holding its whole timeline), emptying that table; returns
/// the export the rows must still give.
async fn fold_then_write_legacy_incident_rows(
    store: &SharedStore,
    mut execute: impl FnMut(String),
) -> (FixtureLog, String) {
    let fixture = fixture_log().await;
    catch_up(&fixture.log, store, 4).await;
    let export = store.export().await.unwrap();
    execute("DELETE FROM {schema}timeline_entries".into());
    let mut with_entries = 0;
    for (id, incident) in &export.incidents {
        let legacy = serde_json::to_string(incident).unwrap();
        assert!(legacy.contains("\"timeline\":["), "{legacy}");
        with_entries += usize::from(!incident.timeline.is_empty());
        execute(format!(
            "UPDATE {{schema}}incidents SET state = '{}' WHERE id = '{id}'",
            legacy.replace('\'', "''"),
        ));
    }
    assert!(with_entries > 1, "the fixture has timelines to move");
    (fixture, export.to_canonical_json())
}

/// After a migration: nothing is folded twice, and a fact folded later appends to a moved
/// timeline.
async fn assert_timelines_grow_after_the_move(fixture: FixtureLog, store: &SharedStore) {
    let mut log = fixture.log;
    assert_eq!(catch_up(&log, store, 3).await, 0);
    let before = store
        .incident(fixture.checkout_first)
        .await
        .unwrap()
        .unwrap();
    log.respond(
        &fixture.checkout_stream,
        at("2026-11-24T08:00:00Z"),
        FactBody::NoteAdded(NoteAdded {
            incident_id: fixture.checkout_first,
            actor: "carol".into(),
            text: "written after the timelines moved".into(),
        }),
    )
    .await;
    assert_eq!(catch_up(&log, store, 3).await, 1);
    let after = store
        .incident(fixture.checkout_first)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.timeline.len(), before.timeline.len() + 1);
    assert_eq!(after.timeline[..before.timeline.len()], before.timeline[..]);
    assert_export_holds(&store.export().await.unwrap(), &log, log.end().await);
}

mod sqlite_only {
    use super::*;

    /// A file whose incident rows hold their timelines (written before migration 6) is
    /// migrated at open: the entries move to `timeline_entries`, nothing is lost, and
    /// folding on appends to the moved timelines.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn incident_rows_written_before_timeline_entries_are_migrated_at_open() {
        let backend = SqliteBackend::new();
        let store = backend.open("projections").await;
        let path = backend.dir.path().join("projections.sqlite");
        let url = format!("sqlite://{}", path.display());
        let mut statements = Vec::new();
        let (fixture, expected) =
            fold_then_write_legacy_incident_rows(&store, |sql| statements.push(sql)).await;
        drop(store);
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        let rows_before: Vec<String> =
            sqlx::query_scalar("SELECT state FROM incidents ORDER BY id")
                .fetch_all(&mut conn)
                .await
                .unwrap();
        for sql in statements {
            conn.execute(&*sql.replace("{schema}", "")).await.unwrap();
        }
        // As before migration 6: no table, not applied.
        conn.execute(
            "DROP TABLE timeline_entries; DELETE FROM schema_migrations WHERE version = 6",
        )
        .await
        .unwrap();
        conn.close().await.unwrap();

        let reopened = backend.open("projections").await;
        assert_eq!(canonical(&reopened).await, expected);
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        let inline: i64 =
            sqlx::query_scalar("SELECT count(*) FROM incidents WHERE state LIKE '%\"timeline\":%'")
                .fetch_one(&mut conn)
                .await
                .unwrap();
        assert_eq!(inline, 0, "the timelines left the incident rows");
        let rows_after: Vec<String> = sqlx::query_scalar("SELECT state FROM incidents ORDER BY id")
            .fetch_all(&mut conn)
            .await
            .unwrap();
        assert_eq!(
            rows_after, rows_before,
            "the rows are left exactly as a commit writes them"
        );
        let entries: i64 = sqlx::query_scalar("SELECT count(*) FROM timeline_entries")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert!(entries > 0);
        conn.close().await.unwrap();
        assert_timelines_grow_after_the_move(fixture, &reopened).await;
    }

    /// A file whose stream rows list their folded ids (written before migration 5) is
    /// migrated at open: the ids move to `folded_facts` and nothing is lost.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stream_rows_written_before_folded_facts_are_migrated_at_open() {
        let backend = SqliteBackend::new();
        let store = backend.open("projections").await;
        let path = backend.dir.path().join("projections.sqlite");
        let url = format!("sqlite://{}", path.display());
        let mut statements = Vec::new();
        let (fixture, expected) =
            fold_then_write_legacy_stream_rows(&store, |sql| statements.push(sql)).await;
        drop(store);
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        for sql in statements {
            conn.execute(&*sql.replace("{schema}", "")).await.unwrap();
        }
        // As before migration 5: no table, not applied.
        conn.execute("DROP TABLE folded_facts; DELETE FROM schema_migrations WHERE version = 5")
            .await
            .unwrap();
        conn.close().await.unwrap();

        let reopened = backend.open("projections").await;
        assert_eq!(canonical(&reopened).await, expected);
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        let inline: i64 =
            sqlx::query_scalar("SELECT count(*) FROM streams WHERE state LIKE '%seen_facts%'")
                .fetch_one(&mut conn)
                .await
                .unwrap();
        assert_eq!(inline, 0, "the lists left the stream rows");
        conn.close().await.unwrap();
        // Folding on from there still folds each fact once.
        let end = fixture.log.end().await;
        assert_eq!(catch_up(&fixture.log, &reopened, 3).await, 0);
        assert_export_holds(&reopened.export().await.unwrap(), &fixture.log, end);
    }
}

// ---------------------------------------------------------------------------------------
// PostgreSQL only
// ---------------------------------------------------------------------------------------

/// What only the PostgreSQL store promises beyond the contract.
mod postgres_only {
    use super::*;

    /// A rebuild happens beside the live projections: readers see the old ones until
    /// `finish_rebuild`, then the new ones, never an error or a mix, even mid-swap; and a
    /// reopened store (a restart) finds the swapped-in projections.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn readers_keep_the_old_projections_until_the_rebuild_is_swapped_in() {
        let backend = PgBackend::new();
        let fixture = fixture_log().await;
        let log = &fixture.log;
        let end = log.end().await;

        let live = backend.open("projections").await;
        let projector = Projector::new(log.log.clone(), live.clone(), 3);
        for _ in 0..2 {
            assert_eq!(projector.project_batch(0).await.unwrap(), 3);
        }
        let old = canonical(&live).await;

        let target = live.begin_rebuild().await.unwrap();
        assert_eq!(catch_up(log, &target, 1000).await, end);
        let new = canonical(&target).await;
        assert_ne!(old, new);
        assert!(
            canonical(&live).await == old,
            "readers see the rebuild before it is finished"
        );

        // Readers hammer the live store while it is swapped.
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut readers = Vec::new();
        for _ in 0..2 {
            let (live, stop, old, new) = (live.clone(), stop.clone(), old.clone(), new.clone());
            readers.push(tokio::spawn(async move {
                let (mut saw_old, mut saw_new) = (0, 0);
                loop {
                    let stopping = stop.load(std::sync::atomic::Ordering::SeqCst);
                    let export = canonical(&live).await;
                    if export == old {
                        assert_eq!(saw_new, 0, "a reader went back to the old projections");
                        saw_old += 1;
                    } else {
                        assert!(export == new, "a reader saw a mix:\n{export}");
                        saw_new += 1;
                    }
                    if stopping {
                        return (saw_old, saw_new);
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        live.finish_rebuild().await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        for reader in readers {
            let (saw_old, saw_new) = reader.await.expect("reader task");
            assert!(saw_old > 0 && saw_new > 0, "old {saw_old}, new {saw_new}");
        }
        assert!(canonical(&live).await == new);
        drop((live, target, projector));

        let reopened = backend.open("projections").await;
        assert!(
            canonical(&reopened).await == new,
            "the swap survives a restart"
        );
        assert_export_holds(&reopened.export().await.unwrap(), log, end);
    }

    /// A live schema whose stream rows list their folded ids (written before
    /// `folded_facts`) is migrated at startup: the ids move to that table, nothing is lost,
    /// and the next start finds nothing left to move.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stream_rows_written_before_folded_facts_are_migrated_at_startup() {
        let backend = PgBackend::new();
        let store = backend.open("projections").await;
        let url = backend.database_url("projections").await;
        let mut statements = Vec::new();
        let (fixture, expected) =
            fold_then_write_legacy_stream_rows(&store, |sql| statements.push(sql)).await;
        let mut conn = PgConnection::connect(&url).await.unwrap();
        for sql in statements {
            conn.execute(&*sql.replace("{schema}", "aftermath_projections."))
                .await
                .unwrap();
        }
        for _ in 0..2 {
            let reopened = backend.open("projections").await;
            assert_eq!(canonical(&reopened).await, expected);
        }
        let inline: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM aftermath_projections.streams WHERE state LIKE '%seen_facts%'",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        assert_eq!(inline, 0, "the lists left the stream rows");
        conn.close().await.unwrap();
        let reopened = backend.open("projections").await;
        let end = fixture.log.end().await;
        assert_eq!(catch_up(&fixture.log, &reopened, 3).await, 0);
        assert_export_holds(&reopened.export().await.unwrap(), &fixture.log, end);
    }

    /// A live schema whose incident rows hold their timelines (written before
    /// `timeline_entries`) is migrated at startup: the entries move to that table, the rows
    /// are rewritten canonically, nothing is lost, and the next start finds nothing to move.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn incident_rows_written_before_timeline_entries_are_migrated_at_startup() {
        let backend = PgBackend::new();
        let store = backend.open("projections").await;
        let url = backend.database_url("projections").await;
        let mut statements = Vec::new();
        let (fixture, expected) =
            fold_then_write_legacy_incident_rows(&store, |sql| statements.push(sql)).await;
        let rows_before: Vec<String> =
            sqlx::query_scalar("SELECT state FROM aftermath_projections.incidents ORDER BY id")
                .fetch_all(&mut PgConnection::connect(&url).await.unwrap())
                .await
                .unwrap();
        let mut conn = PgConnection::connect(&url).await.unwrap();
        for sql in statements {
            conn.execute(&*sql.replace("{schema}", "aftermath_projections."))
                .await
                .unwrap();
        }
        for _ in 0..2 {
            let reopened = backend.open("projections").await;
            assert_eq!(canonical(&reopened).await, expected);
        }
        let rows_after: Vec<String> =
            sqlx::query_scalar("SELECT state FROM aftermath_projections.incidents ORDER BY id")
                .fetch_all(&mut conn)
                .await
                .unwrap();
        assert_eq!(
            rows_after, rows_before,
            "the rows are written again exactly as a commit writes them"
        );
        let entries: i64 =
            sqlx::query_scalar("SELECT count(*) FROM aftermath_projections.timeline_entries")
                .fetch_one(&mut conn)
                .await
                .unwrap();
        assert!(entries > 0);
        conn.close().await.unwrap();
        let reopened = backend.open("projections").await;
        assert_timelines_grow_after_the_move(fixture, &reopened).await;
    }

    /// Incident rows, rewritten whole by every batch touching them, are stored without
    /// TOAST compression in the live schema and in a rebuild's.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn incident_states_are_stored_uncompressed_live_and_in_a_rebuild() {
        let backend = PgBackend::new();
        let live = backend.open("projections").await;
        let _rebuild = live.begin_rebuild().await.unwrap();
        let url = backend.database_url("projections").await;
        let mut conn = PgConnection::connect(&url).await.unwrap();
        let storage: Vec<(String, String)> = sqlx::query_as(
            "SELECT n.nspname::text, a.attstorage::text FROM pg_attribute a
             JOIN pg_class c ON c.oid = a.attrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relname = 'incidents' AND a.attname = 'state' ORDER BY 1",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        assert_eq!(
            storage,
            [
                ("aftermath_projections".to_owned(), "e".to_owned()),
                ("aftermath_projections_rebuild".to_owned(), "e".to_owned())
            ]
        );
        conn.close().await.unwrap();
    }

    /// Processes starting at once against a fresh database all migrate it, and the
    /// versioned migration runs once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_starts_migrate_once() {
        let backend = PgBackend::new();
        for round in 0..3 {
            let url = backend.database_url(&format!("fresh-{round}")).await;
            let starts: Vec<_> = (0..4)
                .map(|_| {
                    let url = url.clone();
                    tokio::spawn(async move { PgStore::connect(&url).await })
                })
                .collect();
            let mut stores = Vec::new();
            for start in starts {
                stores.push(start.await.expect("start task").expect("concurrent start"));
            }
            let store: SharedStore = Arc::new(stores.swap_remove(0));
            store
                .create_token(
                    "ci",
                    &BTreeSet::from([Scope::Ingest]),
                    at("2026-01-01T00:00:00Z"),
                )
                .await
                .unwrap();
            assert!(store.checkpoints().await.unwrap().is_empty());

            let mut conn = PgConnection::connect(&url).await.unwrap();
            let applied: Vec<(i64, String)> = sqlx::query_as(
                "SELECT version, name FROM public.schema_migrations ORDER BY version",
            )
            .fetch_all(&mut conn)
            .await
            .unwrap();
            assert_eq!(
                applied,
                vec![
                    (1, "tokens".to_owned()),
                    (2, "token_signing_secret".to_owned()),
                    (3, "consumer_checkpoints".to_owned())
                ],
                "round {round}"
            );
            let schemas: Vec<String> = sqlx::query_scalar(
                "SELECT table_schema || '.' || table_name FROM information_schema.tables
                 WHERE table_schema IN ('public', 'aftermath_projections')
                 ORDER BY 1",
            )
            .fetch_all(&mut conn)
            .await
            .unwrap();
            assert_eq!(
                schemas,
                [
                    "aftermath_projections.changes",
                    "aftermath_projections.checkpoints",
                    "aftermath_projections.folded_facts",
                    "aftermath_projections.incidents",
                    "aftermath_projections.streams",
                    "aftermath_projections.timeline_entries",
                    "public.consumer_checkpoints",
                    "public.schema_migrations",
                    "public.tokens",
                ],
                "round {round}"
            );
            conn.close().await.ok();
        }
    }

    /// An unreachable server fails fast, naming the URL but not its password.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_unreachable_server_is_named_without_the_password() {
        let started = std::time::Instant::now();
        let error = match PgStore::connect("postgres://alice:hunter2@127.0.0.1:1/aftermath").await {
            Ok(_) => panic!("connected to port 1"),
            Err(error) => error.to_string(),
        };
        assert!(started.elapsed() < Duration::from_secs(8), "{error}");
        assert!(
            error.contains("postgres://alice@127.0.0.1:1/aftermath"),
            "{error}"
        );
        assert!(!error.contains("hunter2"), "{error}");
        assert!(error.contains("refused"), "the cause is named: {error}");
    }

    /// The canonical export is the same bytes as the SQLite store's: states are stored as
    /// the JSON text the store was given, never re-encoded.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn exports_are_byte_identical_to_sqlite() {
        let fixture = fixture_log().await;
        let log = &fixture.log;
        let sqlite_backend = SqliteBackend::new();
        let sqlite = sqlite_backend.open("projections").await;
        let postgres_backend = PgBackend::new();
        let postgres = postgres_backend.open("projections").await;
        assert_eq!(catch_up(log, &sqlite, 3).await, log.end().await);
        assert_eq!(catch_up(log, &postgres, 7).await, log.end().await);
        let (sqlite, postgres) = (canonical(&sqlite).await, canonical(&postgres).await);
        assert!(
            sqlite == postgres,
            "PostgreSQL exports other bytes than SQLite:\n{postgres}\n---\n{sqlite}"
        );
    }
}
