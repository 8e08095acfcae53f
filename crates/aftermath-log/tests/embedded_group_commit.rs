//! The embedded log under concurrent appends: group commit keeps every fact id once, offsets
//! dense and each request all-or-nothing; the recent-id set answers repeats without a
//! write and never for an id that is not on the log.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use aftermath_core::{Fact, FactBody, NoteAdded, Timestamp};
use aftermath_log::{Appended, EmbeddedLog, EmbeddedLogOptions, EventLog, LogError, Offset};
use proptest::prelude::*;
use uuid::Uuid;

fn note(id: u128, stream_key: &str) -> Fact {
    let at = Timestamp::from_unix_seconds(1_700_000_000).unwrap();
    Fact {
        fact_id: Uuid::from_u128(id),
        stream_key: stream_key.into(),
        occurred_at: at,
        recorded_at: at,
        body: FactBody::NoteAdded(NoteAdded {
            incident_id: Uuid::from_u128(99),
            actor: "alice".into(),
            text: format!("note {id}"),
        }),
    }
}

/// What appending a fact that the embedded log (one partition) wrote at `offset` returns.
fn written_at(offset: Offset) -> Appended {
    Appended::New {
        partition: 0,
        offset,
    }
}

fn notes(ids: &[u128]) -> Vec<Fact> {
    ids.iter().map(|&id| note(id, "s")).collect()
}

fn options(recent_fact_ids: usize) -> EmbeddedLogOptions {
    EmbeddedLogOptions {
        recent_fact_ids,
        ..EmbeddedLogOptions::default()
    }
}

/// Every fact on the log, checking that offsets run 0, 1, 2… and ids are distinct.
async fn dense_log(log: &EmbeddedLog) -> Vec<Uuid> {
    let facts = log.read(0, 0, usize::MAX >> 1).await.unwrap();
    for (expected, logged) in facts.iter().enumerate() {
        assert_eq!(logged.offset, expected as Offset, "offsets are dense");
    }
    let ids: Vec<Uuid> = facts.iter().map(|logged| logged.fact.fact_id).collect();
    assert_eq!(
        ids.iter().collect::<HashSet<_>>().len(),
        ids.len(),
        "each id at most once"
    );
    assert_eq!(log.end_offset(0).await.unwrap(), ids.len() as Offset);
    ids
}

fn new_offsets(outcomes: &[Appended]) -> Vec<Offset> {
    outcomes
        .iter()
        .filter_map(|outcome| match outcome {
            Appended::New { offset, .. } => Some(*offset),
            Appended::Duplicate => None,
        })
        .collect()
}

/// A SQLite trigger that fails any insert of a fact on the stream `poison`: a real failure
/// inside the writer's transaction, injected from another connection.
async fn install_poison(path: &Path) -> sqlx::SqlitePool {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    sqlx::raw_sql(
        "CREATE TRIGGER poison BEFORE INSERT ON facts WHEN NEW.stream_key = 'poison'
         BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool
}

/// Runs `requests` as concurrent tasks, all released at once so they share groups.
async fn append_concurrently(
    log: &Arc<EmbeddedLog>,
    requests: Vec<Vec<Fact>>,
) -> Vec<Result<Vec<Appended>, LogError>> {
    let start = Arc::new(tokio::sync::Barrier::new(requests.len()));
    let tasks: Vec<_> = requests
        .into_iter()
        .map(|facts| {
            let (log, start) = (log.clone(), start.clone());
            tokio::spawn(async move {
                start.wait().await;
                log.append(&facts).await
            })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    results
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Many callers with overlapping ids (also within one request): each id lands once,
    /// offsets are dense, exactly one caller gets `New` for an id (at its first place in
    /// that request, at the id's offset), and each caller's offsets follow its own order.
    #[test]
    fn concurrent_appenders_keep_every_id_once_with_dense_offsets(
        requests in proptest::collection::vec(proptest::collection::vec(0u128..40, 1..6), 1..40),
        recent_fact_ids in prop_oneof![Just(0usize), Just(4), Just(1000)],
    ) {
        runtime().block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let log = Arc::new(
                EmbeddedLog::open_with(&dir.path().join("log.sqlite"), options(recent_fact_ids))
                    .await
                    .unwrap(),
            );
            let facts = requests.iter().map(|ids| notes(ids)).collect();
            let results = append_concurrently(&log, facts).await;

            let on_log = dense_log(&log).await;
            let wanted: BTreeSet<u128> = requests.iter().flatten().copied().collect();
            let stored: BTreeSet<u128> = on_log.iter().map(|id| id.as_u128()).collect();
            assert_eq!(stored, wanted, "every requested id is on the log");
            let offset_of: HashMap<u128, Offset> = on_log
                .iter()
                .enumerate()
                .map(|(offset, id)| (id.as_u128(), offset as Offset))
                .collect();

            let mut new_per_id: HashMap<u128, usize> = HashMap::new();
            for (ids, result) in requests.iter().zip(&results) {
                let outcomes = result.as_ref().unwrap();
                assert_eq!(outcomes.len(), ids.len());
                let offsets = new_offsets(outcomes);
                assert!(offsets.windows(2).all(|pair| pair[0] < pair[1]), "{offsets:?}");
                for (place, (id, outcome)) in ids.iter().zip(outcomes).enumerate() {
                    if let Appended::New { partition, offset } = outcome {
                        assert_eq!(*partition, 0);
                        assert_eq!(*offset, offset_of[id]);
                        assert!(!ids[..place].contains(id), "only an id's first place is new");
                        *new_per_id.entry(*id).or_default() += 1;
                    }
                }
            }
            assert!(wanted.iter().all(|id| new_per_id.get(id) == Some(&1)), "{new_per_id:?}");
        });
    }

    /// Sequential appends, some failing inside SQLite, against a model of what is on the
    /// log: an id is `Duplicate` exactly when the model holds it (or it came earlier in the
    /// same request). A failed request leaves nothing behind, and its ids are never
    /// remembered as durable, however small the recent-id set.
    #[test]
    fn the_recent_id_set_never_answers_duplicate_for_an_id_not_on_the_log(
        steps in proptest::collection::vec(
            (proptest::collection::vec(0u128..12, 1..5), any::<bool>()),
            1..25,
        ),
        recent_fact_ids in 0usize..6,
    ) {
        runtime().block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("log.sqlite");
            let log = EmbeddedLog::open_with(&path, options(recent_fact_ids)).await.unwrap();
            let _poison = install_poison(&path).await;
            let mut model: HashSet<u128> = HashSet::new();
            for (ids, poisoned) in steps {
                let mut facts = notes(&ids);
                if poisoned {
                    facts.push(note(1_000, "poison"));
                }
                let result = log.append(&facts).await;
                if poisoned {
                    // The poisoned fact is never on the log, so it always reaches SQLite.
                    assert!(result.is_err(), "the poisoned fact fails its whole request");
                    continue;
                }
                let outcomes = result.unwrap();
                for (place, (id, outcome)) in ids.iter().zip(&outcomes).enumerate() {
                    let expected_duplicate = model.contains(id) || ids[..place].contains(id);
                    assert_eq!(*outcome == Appended::Duplicate, expected_duplicate, "id {id}");
                }
                model.extend(ids.iter().copied());
                let stored: HashSet<u128> =
                    dense_log(&log).await.iter().map(|id| id.as_u128()).collect();
                assert_eq!(&stored, &model);
            }
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_transaction_fails_whole_requests_and_leaves_nothing_half_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.sqlite");
    // Small groups (two or three requests each), so some groups hold no poisoned request.
    let small_groups = EmbeddedLogOptions {
        max_group_facts: 7,
        ..EmbeddedLogOptions::default()
    };
    let log = Arc::new(EmbeddedLog::open_with(&path, small_groups).await.unwrap());
    let poison = install_poison(&path).await;
    // Disjoint ids: request n holds ids 10n, 10n+1, 10n+2; every third is poisoned last.
    let requests: Vec<Vec<Fact>> = (0..60u128)
        .map(|n| {
            let mut facts = notes(&[10 * n, 10 * n + 1, 10 * n + 2]);
            if n % 3 == 0 {
                facts.push(note(10 * n + 3, "poison"));
            }
            facts
        })
        .collect();
    let results = append_concurrently(&log, requests.clone()).await;

    let on_log: HashMap<Uuid, Offset> = dense_log(&log)
        .await
        .into_iter()
        .enumerate()
        .map(|(offset, id)| (id, offset as Offset))
        .collect();
    assert!(
        results.iter().any(Result::is_ok),
        "groups without poison commit"
    );
    for (n, (facts, result)) in requests.iter().zip(&results).enumerate() {
        let stored = facts
            .iter()
            .filter(|fact| on_log.contains_key(&fact.fact_id));
        match result {
            Ok(outcomes) => {
                assert!(n % 3 != 0, "a poisoned request never succeeds");
                for (fact, outcome) in facts.iter().zip(outcomes) {
                    let offset = on_log[&fact.fact_id];
                    assert_eq!(*outcome, written_at(offset));
                }
            }
            // Poisoned, or in a group with a poisoned request: none of it is on the log.
            Err(error) => assert_eq!(stored.count(), 0, "request {n} half-written: {error}"),
        }
    }

    // Once the cause is gone, the retries land after what is there, still dense.
    sqlx::raw_sql("DROP TRIGGER poison")
        .execute(&poison)
        .await
        .unwrap();
    for facts in &requests {
        log.append(facts).await.unwrap();
    }
    assert_eq!(dense_log(&log).await.len(), 60 * 3 + 20);
}

#[tokio::test]
async fn repeats_known_to_be_durable_cost_no_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let log = EmbeddedLog::open(&dir.path().join("log.sqlite"))
        .await
        .unwrap();
    log.append(&notes(&[1, 2])).await.unwrap();
    assert_eq!(log.transactions_committed(), 1);

    let repeat = log.append(&notes(&[2, 1])).await.unwrap();
    assert_eq!(repeat, vec![Appended::Duplicate, Appended::Duplicate]);
    assert_eq!(
        log.transactions_committed(),
        1,
        "no transaction for known repeats"
    );

    // Only the unknown id is written; the known one is answered from memory.
    let mixed = log.append(&notes(&[1, 3])).await.unwrap();
    assert_eq!(mixed, vec![Appended::Duplicate, written_at(2)]);
    assert_eq!(log.transactions_committed(), 2);
    assert!(log.append(&[]).await.unwrap().is_empty());
    assert_eq!(log.transactions_committed(), 2);
}

#[tokio::test]
async fn without_the_recent_id_set_sqlite_still_finds_every_repeat() {
    let dir = tempfile::tempdir().unwrap();
    let log = EmbeddedLog::open_with(&dir.path().join("log.sqlite"), options(0))
        .await
        .unwrap();
    log.append(&notes(&[1, 2])).await.unwrap();
    let repeat = log.append(&notes(&[1, 2])).await.unwrap();
    assert_eq!(repeat, vec![Appended::Duplicate, Appended::Duplicate]);
    assert_eq!(log.transactions_committed(), 2, "the repeat went to SQLite");
    assert_eq!(dense_log(&log).await.len(), 2);
}

#[tokio::test]
async fn a_reopened_log_continues_dense_and_remembers_its_newest_ids() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.sqlite");
    let log = EmbeddedLog::open_with(&path, options(3)).await.unwrap();
    for id in 1..=5 {
        log.append(&notes(&[id])).await.unwrap();
    }
    drop(log);

    let reopened = EmbeddedLog::open_with(&path, options(3)).await.unwrap();
    assert_eq!(reopened.end_offset(0).await.unwrap(), 5);
    assert_eq!(reopened.recent_fact_ids(), 3, "filled from the log at open");
    let newest = reopened.append(&notes(&[5, 4, 3])).await.unwrap();
    assert!(newest.iter().all(|outcome| *outcome == Appended::Duplicate));
    assert_eq!(
        reopened.transactions_committed(),
        0,
        "the newest ids were known"
    );
    // The oldest fell outside the set: SQLite recognises it.
    assert_eq!(
        reopened.append(&notes(&[1])).await.unwrap(),
        vec![Appended::Duplicate]
    );
    assert_eq!(reopened.transactions_committed(), 1);
    let next = reopened.append(&notes(&[6])).await.unwrap();
    assert_eq!(next, vec![written_at(5)]);
    drop(reopened);

    let again = EmbeddedLog::open(&path).await.unwrap();
    assert_eq!(dense_log(&again).await.len(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn callers_that_go_away_never_corrupt_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(
        EmbeddedLog::open(&dir.path().join("log.sqlite"))
            .await
            .unwrap(),
    );
    let requests: Vec<Vec<Fact>> = (0..200u128)
        .map(|n| notes(&[3 * n, 3 * n + 1, 3 * n + 2]))
        .collect();
    let tasks: Vec<_> = requests
        .iter()
        .cloned()
        .map(|facts| {
            let log = log.clone();
            tokio::spawn(async move { log.append(&facts).await })
        })
        .collect();
    // Every other caller goes away at some point of its append (like a client hanging up).
    for (n, task) in tasks.iter().enumerate() {
        if n % 2 == 0 {
            tokio::task::yield_now().await;
            task.abort();
        }
    }
    let mut finished = Vec::new();
    for task in tasks {
        finished.push(task.await.ok());
    }

    let on_log: HashMap<Uuid, Offset> = dense_log(&log)
        .await
        .into_iter()
        .enumerate()
        .map(|(offset, id)| (id, offset as Offset))
        .collect();
    for (facts, result) in requests.iter().zip(finished) {
        let stored = facts
            .iter()
            .filter(|fact| on_log.contains_key(&fact.fact_id))
            .count();
        match result {
            Some(outcomes) => {
                for (fact, outcome) in facts.iter().zip(outcomes.unwrap()) {
                    let offset = on_log[&fact.fact_id];
                    assert_eq!(outcome, written_at(offset));
                }
            }
            // A caller that left: all of its request or none of it.
            None => assert!(stored == 0 || stored == facts.len(), "{stored}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_queue_makes_appenders_wait_not_fail() {
    let dir = tempfile::tempdir().unwrap();
    // Room for less than one request: each waits for the queue to be empty, then goes alone.
    let tiny = EmbeddedLogOptions {
        max_queued_bytes: 1,
        max_group_facts: 1,
        ..EmbeddedLogOptions::default()
    };
    let log = Arc::new(
        EmbeddedLog::open_with(&dir.path().join("log.sqlite"), tiny)
            .await
            .unwrap(),
    );
    let requests = (0..50u128).map(|n| notes(&[2 * n, 2 * n + 1])).collect();
    let results = append_concurrently(&log, requests).await;
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(dense_log(&log).await.len(), 100);
}

/// The schema every log file had before fact ids were stored as 16 bytes (`user_version` 0).
const TEXT_ID_SCHEMA: &str = "
CREATE TABLE facts (
    log_offset INTEGER PRIMARY KEY,
    fact_id    TEXT NOT NULL UNIQUE,
    stream_key TEXT NOT NULL,
    fact_type  TEXT NOT NULL,
    body       TEXT NOT NULL
);";

/// A log file of the first layout holding facts 1 and 2, written as that build wrote them.
async fn text_id_log(path: &Path) {
    let pool = sqlx::SqlitePool::connect_with(
        sqlx::sqlite::SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true),
    )
    .await
    .unwrap();
    sqlx::raw_sql(TEXT_ID_SCHEMA).execute(&pool).await.unwrap();
    for (offset, fact) in notes(&[1, 2]).iter().enumerate() {
        sqlx::query("INSERT INTO facts VALUES (?, ?, ?, ?, ?)")
            .bind(offset as i64)
            .bind(fact.fact_id.to_string())
            .bind(&fact.stream_key)
            .bind(fact.body.type_name())
            .bind(fact.to_json())
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;
}

#[tokio::test]
async fn a_log_file_with_text_ids_is_read_and_appended_to_in_its_own_layout() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.sqlite");
    text_id_log(&path).await;

    // Without the recent-id set, only the stored text ids can recognise the repeat.
    let log = EmbeddedLog::open_with(&path, options(0)).await.unwrap();
    assert_eq!(log.end_offset(0).await.unwrap(), 2);
    let outcomes = log.append(&notes(&[2, 3])).await.unwrap();
    assert_eq!(outcomes, vec![Appended::Duplicate, written_at(2)]);
    assert_eq!(
        dense_log(&log).await,
        (1..=3).map(Uuid::from_u128).collect::<Vec<_>>()
    );
    drop(log);

    let reopened = EmbeddedLog::open_with(&path, options(10)).await.unwrap();
    assert_eq!(reopened.recent_fact_ids(), 3, "text ids seed the set too");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let layout: Vec<(String, i64)> =
        sqlx::query_as("SELECT typeof(fact_id), count(*) FROM facts GROUP BY 1")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        layout,
        vec![("text".to_owned(), 3)],
        "the file keeps its layout"
    );
}

#[tokio::test]
async fn a_new_log_file_has_16_kib_pages_stores_ids_as_16_bytes_and_indexes_them_in_bulk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.sqlite");
    let options = EmbeddedLogOptions {
        recent_fact_ids: 0,
        max_unindexed_fact_ids: 3,
        ..EmbeddedLogOptions::default()
    };
    let log = EmbeddedLog::open_with(&path, options.clone())
        .await
        .unwrap();
    log.append(&notes(&[1, 2])).await.unwrap();
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let ids: Vec<Vec<u8>> = sqlx::query_scalar("SELECT fact_id FROM facts ORDER BY log_offset")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(
        ids,
        vec![
            Uuid::from_u128(1).as_bytes().to_vec(),
            Uuid::from_u128(2).as_bytes().to_vec()
        ]
    );
    let version: i64 = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(version, 3);
    let page_size: i64 = sqlx::query_scalar("PRAGMA page_size")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(page_size, 16_384);
    let indexed = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM fact_ids")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    assert_eq!(indexed().await, 0, "two ids wait in memory");

    // The third id fills the batch: all three enter the index, and repeats of them,
    // now answered from the index alone, are still duplicates after a reopen.
    // (The writer indexes after answering: dropping the log waits for it.)
    log.append(&notes(&[3])).await.unwrap();
    drop(log);
    assert_eq!(indexed().await, 3);
    let reopened = EmbeddedLog::open_with(&path, options).await.unwrap();
    let outcomes = reopened.append(&notes(&[1, 3, 4])).await.unwrap();
    assert_eq!(
        outcomes,
        vec![Appended::Duplicate, Appended::Duplicate, written_at(3)]
    );
    assert_eq!(
        dense_log(&reopened).await,
        (1..=4).map(Uuid::from_u128).collect::<Vec<_>>()
    );
}

/// The layout of log files written from 2026-11-24 until the id index was filled in bulk
/// (`user_version` 2): 16-byte ids in a `UNIQUE` column.
const BYTES_ID_SCHEMA: &str = "
CREATE TABLE facts (
    log_offset INTEGER PRIMARY KEY,
    fact_id    BLOB NOT NULL UNIQUE,
    stream_key TEXT NOT NULL,
    fact_type  TEXT NOT NULL,
    body       TEXT NOT NULL
);
PRAGMA user_version = 2;";

#[tokio::test]
async fn a_log_file_with_a_unique_id_column_is_appended_to_in_its_own_layout() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.sqlite");
    let pool = sqlx::SqlitePool::connect_with(
        sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true),
    )
    .await
    .unwrap();
    sqlx::raw_sql(BYTES_ID_SCHEMA).execute(&pool).await.unwrap();
    let fact = &notes(&[1])[0];
    sqlx::query("INSERT INTO facts VALUES (0, ?, ?, ?, ?)")
        .bind(&fact.fact_id.as_bytes()[..])
        .bind(&fact.stream_key)
        .bind(fact.body.type_name())
        .bind(fact.to_json())
        .execute(&pool)
        .await
        .unwrap();

    // Without the recent-id set, only the column's UNIQUE index can recognise the repeat.
    let log = EmbeddedLog::open_with(&path, options(0)).await.unwrap();
    let outcomes = log.append(&notes(&[1, 2])).await.unwrap();
    assert_eq!(outcomes, vec![Appended::Duplicate, written_at(1)]);
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        tables,
        vec!["facts".to_owned()],
        "the file keeps its layout"
    );
}

#[tokio::test]
async fn a_log_file_of_a_newer_layout_is_refused_with_an_error_that_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.sqlite");
    text_id_log(&path).await;
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    sqlx::raw_sql("PRAGMA user_version = 4")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;

    let error = EmbeddedLog::open(&path).await.err().expect("refused");
    assert!(error.to_string().contains("layout version 4"), "{error}");
}
