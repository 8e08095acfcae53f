//! Kafka + PostgreSQL specifics: a broker outage, projectors sharing a consumer group, and
//! the same facts giving the same export as the embedded default.

use std::time::Duration;

use aftermath::Config;
use aftermath_core::{
    normalize_alertmanager, Acknowledged, Fact, FactBody, NoteAdded, Projection, Resolved,
    Timestamp,
};
use aftermath_log::{EmbeddedLog, KafkaConfig, KafkaLog, SharedLog};
use aftermath_store::{PgStore, Projector, SharedStore, SqliteStore};
use std::sync::Arc;

use crate::infra::free_port;
use crate::infra::{Broker, Proxy, TestDatabase};
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_outage_answers_503_then_recovers_without_losing_or_duplicating() {
    // Every client connection goes through the proxy: tansu advertises the proxy's port.
    let broker_port = free_port();
    let proxy = Proxy::start(format!("127.0.0.1:{broker_port}").parse().unwrap()).await;
    let broker = Broker::start_advertising(broker_port, proxy.port).await;
    let database = TestDatabase::create().await;
    let data_dir = tempfile::tempdir().unwrap();
    let mut config = Config::new(data_dir.path(), "127.0.0.1:0".parse().unwrap());
    let mut kafka = KafkaConfig::new(&broker.bootstrap, Broker::fresh_topic());
    kafka.partitions = 2;
    kafka.create_topic = true;
    kafka.append_timeout = Duration::from_millis(1500);
    kafka.group = Some(format!("{}-projector", kafka.topic));
    config.backends.kafka = Some(kafka);
    config.backends.database_url = Some(database.url.clone());
    let app = spawn_app_from(config, data_dir, Some((broker, database))).await;

    app.notify(FIRING).await;
    let id = app.only_incident().await["id"].as_str().unwrap().to_owned();

    proxy.cut();
    let refused = app
        .post("/v1/ingest/alertmanager", &app.ingest, ONE_RESOLVED)
        .await;
    refused.assert_error(503, "retry later");
    assert!(
        refused.headers.contains_key("retry-after"),
        "{:?}",
        refused.headers
    );

    // The sender retries until the log takes it again.
    proxy.restore().await;
    let restored = std::time::Instant::now();
    let mut last = String::new();
    for _ in 0..60 {
        let reply = app
            .post("/v1/ingest/alertmanager", &app.ingest, ONE_RESOLVED)
            .await;
        if reply.status == 202 {
            last.clear();
            break;
        }
        assert_eq!(reply.status, 503, "{}", reply.text);
        last = reply.text;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        last.is_empty(),
        "ingest did not recover after the broker came back: {last}"
    );
    eprintln!(
        "broker cut: ingest recovered {:?} after the broker came back",
        restored.elapsed()
    );
    app.notify(ALL_RESOLVED).await;

    let incident = app.only_incident().await;
    assert_eq!(incident["status"], "resolved");
    assert_eq!(
        kinds(&app.timeline(&id).await),
        CHECKOUT_FIRED_AND_RESOLVED,
        "every fact folded exactly once"
    );
    app.stop().await;
}

/// The fixtures plus responder facts, with fixed times: the same facts on any log.
fn fixed_facts() -> Vec<Fact> {
    let mut facts = Vec::new();
    let bodies = [
        FIRING,
        REPEAT,
        ONE_RESOLVED,
        BILLING_FIRING,
        ALL_RESOLVED,
        BILLING_RESOLVED,
        FIRING_AGAIN,
    ];
    for (n, body) in bodies.iter().enumerate() {
        let at = Timestamp::from_unix_seconds(1_795_000_000 + 60 * n as i64).unwrap();
        facts.extend(normalize_alertmanager(body.as_bytes(), at).unwrap());
    }
    let mut projection = Projection::default();
    for fact in &facts[..3] {
        projection.apply(fact);
    }
    let incident = projection.incidents.values().next().unwrap().clone();
    let at = Timestamp::from_unix_seconds(1_795_000_030).unwrap();
    let responder = |n: u128, body: FactBody| Fact {
        fact_id: uuid::Uuid::from_u128(n),
        stream_key: incident.stream_key.clone(),
        occurred_at: at,
        recorded_at: at,
        body,
    };
    let id = incident.id;
    facts.insert(
        3,
        responder(
            1,
            FactBody::Acknowledged(Acknowledged {
                incident_id: id,
                actor: "alice".into(),
                note: None,
            }),
        ),
    );
    facts.insert(
        4,
        responder(
            2,
            FactBody::NoteAdded(NoteAdded {
                incident_id: id,
                actor: "bob".into(),
                text: "pool".into(),
            }),
        ),
    );
    facts.push(responder(
        3,
        FactBody::Resolved(Resolved {
            incident_id: id,
            actor: "alice".into(),
            resolution: None,
        }),
    ));
    // The embedded log drops a repeated fact id at append while Kafka keeps it (the fold
    // drops it there), so identical logs need each fact once.
    let mut seen = std::collections::HashSet::new();
    facts.retain(|fact| seen.insert(fact.fact_id));
    facts
}

async fn project_everything(log: SharedLog, store: SharedStore) -> String {
    for fact in fixed_facts() {
        log.append(&[fact]).await.unwrap();
    }
    Projector::new(log, store.clone(), 4)
        .catch_up(|_, _| {})
        .await
        .unwrap();
    store.export().await.unwrap().to_canonical_json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_facts_export_identically_on_both_backends() {
    let dir = tempfile::tempdir().unwrap();
    let embedded_log: SharedLog = Arc::new(
        EmbeddedLog::open(&dir.path().join("log.sqlite"))
            .await
            .unwrap(),
    );
    let sqlite: SharedStore = Arc::new(
        SqliteStore::open(&dir.path().join("p.sqlite"))
            .await
            .unwrap(),
    );
    let embedded = project_everything(embedded_log, sqlite).await;

    // One partition, so the checkpoints (part of the export) line up too.
    let broker = Broker::start().await;
    let database = TestDatabase::create().await;
    let mut kafka = KafkaConfig::new(&broker.bootstrap, Broker::fresh_topic());
    kafka.partitions = 1;
    kafka.create_topic = true;
    let kafka_log: SharedLog = Arc::new(KafkaLog::open(kafka).await.unwrap());
    let postgres: SharedStore = Arc::new(PgStore::connect(&database.url).await.unwrap());
    let on_kafka = project_everything(kafka_log, postgres).await;

    assert!(embedded.contains("\"incidents\""));
    assert_eq!(embedded, on_kafka);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_topic_is_an_error_unless_creation_is_asked_for() {
    let broker = Broker::start().await;
    let config = KafkaConfig::new(&broker.bootstrap, Broker::fresh_topic());
    let error = match KafkaLog::open(config.clone()).await {
        Ok(_) => panic!("opened a topic that does not exist"),
        Err(error) => error.to_string(),
    };
    assert!(
        error.contains("does not exist") && error.contains("--kafka-create-topic"),
        "{error}"
    );

    let mut creating = config;
    creating.create_topic = true;
    creating.partitions = 3;
    let log = KafkaLog::open(creating).await.unwrap();
    assert_eq!(aftermath_log::EventLog::partitions(&log), 3);
}

/// Facts of one stream (one partition), numbered from `first`.
fn numbered_notes(first: u128, count: u128) -> Vec<Fact> {
    let at = Timestamp::from_unix_seconds(1_795_000_000).unwrap();
    (first..first + count)
        .map(|n| Fact {
            fact_id: uuid::Uuid::from_u128(n),
            stream_key: "checkout".into(),
            occurred_at: at,
            recorded_at: at,
            body: FactBody::NoteAdded(NoteAdded {
                incident_id: uuid::Uuid::nil(),
                actor: "bob".into(),
                text: format!("note {n}"),
            }),
        })
        .collect()
}

/// Reads partition 0 of `log` from `from` up to `end` and returns the offsets delivered;
/// a read that stays empty for many attempts fails the test (a stuck reader).
async fn offsets_read(log: &KafkaLog, from: u64, end: u64) -> Vec<u64> {
    use aftermath_log::EventLog;
    let mut offsets = Vec::new();
    let mut next = from;
    let mut empty_reads = 0;
    while next < end {
        let batch = match log.read(0, next, 7).await {
            Ok(batch) => batch,
            // A reader that refused a broken run answers an error once; the next read
            // starts a new one.
            Err(error) => {
                eprintln!("read from {next}: {error}");
                Vec::new()
            }
        };
        if batch.is_empty() {
            empty_reads += 1;
            assert!(
                empty_reads < 400,
                "the reader stays empty at {next} of {end}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        empty_reads = 0;
        for logged in batch.into_iter().take_while(|logged| logged.offset < end) {
            offsets.push(logged.offset);
            next = logged.offset + 1;
        }
    }
    offsets
}

/// A projector resuming at its checkpoint starts a fresh reader wherever the checkpoint
/// is, often inside a record batch the producer wrote: it must read every offset from
/// there, none skipped, none repeated, and keep reading what is appended after it
/// reached the partition's end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fresh_readers_inside_a_record_batch_and_after_the_end_skip_nothing() {
    use aftermath_log::EventLog;
    let broker = Broker::start().await;
    let mut config = KafkaConfig::new(&broker.bootstrap, Broker::fresh_topic());
    config.partitions = 1;
    config.create_topic = true;
    // A long linger puts each append into one record batch.
    config.producer_properties = vec![("linger.ms".into(), "200".into())];
    let writer = KafkaLog::open(config.clone()).await.unwrap();
    writer.append(&numbered_notes(0, 30)).await.unwrap();
    writer.append(&numbered_notes(30, 30)).await.unwrap();
    // tansu 0.6 answers the latest offset as one past the last record batch's first
    // offset (31 here), so the test knows the end from what it appended.

    for from in [0, 1, 13, 29, 30, 31, 45, 59] {
        let reader = KafkaLog::open(config.clone()).await.unwrap();
        assert_eq!(
            offsets_read(&reader, from, 60).await,
            (from..60).collect::<Vec<_>>(),
            "a fresh reader from offset {from}"
        );
    }

    // One reader: to the end, then what is appended after, then back to an earlier
    // offset (a projector whose commit failed reads its batch again).
    let reader = KafkaLog::open(config.clone()).await.unwrap();
    assert_eq!(offsets_read(&reader, 0, 60).await.len(), 60);
    assert!(reader.read(0, 60, 10).await.unwrap().is_empty());
    assert!(reader.read(0, 60, 10).await.unwrap().is_empty());
    writer.append(&numbered_notes(60, 30)).await.unwrap();
    assert_eq!(
        offsets_read(&reader, 60, 90).await,
        (60..90).collect::<Vec<_>>()
    );
    assert_eq!(
        offsets_read(&reader, 17, 40).await,
        (17..40).collect::<Vec<_>>()
    );
}
