//! The production log: a Kafka topic through librdkafka. Facts are keyed by stream key, so
//! one incident lives in one partition; the producer is idempotent with `acks=all`, and an
//! append returns only once the broker acknowledged every fact (delivery report).

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aftermath_core::Fact;
use async_trait::async_trait;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{ClientContext, Offset as KafkaOffset, TopicPartitionList};
use uuid::Uuid;

use crate::{Appended, EventLog, LogError, LoggedFact, Offset, Partition};

/// How to reach and use the topic.
#[derive(Clone, Debug)]
pub struct KafkaConfig {
    /// `host:port[,host:port…]`.
    pub brokers: String,
    pub topic: String,
    /// Partitions of a topic created by [`KafkaLog::open`]; an existing topic keeps its own.
    pub partitions: u32,
    /// Replication factor of a topic created by [`KafkaLog::open`].
    pub replication: u32,
    /// Create the topic when it is missing, instead of failing.
    pub create_topic: bool,
    /// An append not acknowledged within this time fails (the API answers 503).
    pub append_timeout: Duration,
    /// The most facts waiting for acknowledgement; beyond it appends fail at once.
    pub max_in_flight: usize,
    /// With a consumer group, this process folds only the partitions the group gives it.
    pub group: Option<String>,
    /// librdkafka producer properties set over [`PRODUCER_DEFAULTS`] (batching,
    /// `linger.ms`, `compression.type`, …). Durability settings are refused
    /// ([`DURABILITY_PROPERTIES`]).
    pub producer_properties: Vec<(String, String)>,
    /// librdkafka properties of the projector's partition readers, set over
    /// [`READER_DEFAULTS`] (`fetch.wait.max.ms`, `fetch.min.bytes`,
    /// `max.partition.fetch.bytes`, …).
    pub reader_properties: Vec<(String, String)>,
    /// Fact ids this process remembers as acknowledged by the broker, so a repeated fact
    /// (a sender re-sending an unchanged alert) is answered `Duplicate` without being
    /// produced again; 0 turns it off.
    pub recent_fact_ids: usize,
}

/// Fact ids a Kafka log remembers as acknowledged by default (about 50 MB when full).
pub const DEFAULT_KAFKA_RECENT_FACT_IDS: usize = 1_000_000;

/// Producer properties Aftermath sets unless overridden. Every append waits for its
/// delivery report, so `linger.ms` is added to each request's latency: 0, because
/// concurrent requests fill a batch anyway while the previous one is in flight (10 ms
/// cut 1-alert requests to 40%). lz4 (built into librdkafka) shrinks the repetitive JSON
/// facts, so the broker copies and the projector fetches fewer bytes (see
/// BENCHMARKS.md, "Kafka mode").
pub const PRODUCER_DEFAULTS: &[(&str, &str)] = &[("linger.ms", "0"), ("compression.type", "lz4")];

/// Partition-reader properties Aftermath sets unless overridden.
pub const READER_DEFAULTS: &[(&str, &str)] = &[];

/// Properties that would weaken "2xx only once every fact is durable" or the partition a
/// stream key lands on; they cannot be overridden.
pub const DURABILITY_PROPERTIES: &[&str] = &[
    "acks",
    "request.required.acks",
    "enable.idempotence",
    "enable.gapless.guarantee",
    "message.timeout.ms",
    "delivery.timeout.ms",
    "partitioner",
    "bootstrap.servers",
    "metadata.broker.list",
    "group.id",
    "enable.auto.commit",
    "enable.auto.offset.store",
    "enable.partition.eof",
];

/// librdkafka properties as given on the command line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KafkaProperties(pub Vec<(String, String)>);

/// Parses `key=value,key=value` librdkafka properties (empty: none), refusing the
/// durability settings Aftermath owns.
pub fn parse_kafka_properties(text: &str) -> Result<KafkaProperties, String> {
    let mut properties = Vec::new();
    for item in text
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
    {
        let Some((key, value)) = item.split_once('=') else {
            return Err(format!("{item:?} is not key=value"));
        };
        let key = key.trim();
        if DURABILITY_PROPERTIES.contains(&key) {
            return Err(format!(
                "{key} is set by Aftermath (durability and partitioning) and cannot be changed"
            ));
        }
        properties.push((key.to_owned(), value.trim().to_owned()));
    }
    Ok(KafkaProperties(properties))
}

impl KafkaConfig {
    pub fn new(brokers: impl Into<String>, topic: impl Into<String>) -> Self {
        Self {
            brokers: brokers.into(),
            topic: topic.into(),
            partitions: 6,
            replication: 1,
            create_topic: false,
            append_timeout: Duration::from_secs(5),
            max_in_flight: 100_000,
            group: None,
            producer_properties: Vec::new(),
            reader_properties: Vec::new(),
            recent_fact_ids: DEFAULT_KAFKA_RECENT_FACT_IDS,
        }
    }
}

/// A bounded, first-in-first-out set of fact ids whose delivery the broker acknowledged
/// (`acks=all`). An id goes in only after its delivery report, so an id in the set is on
/// the log; correctness never depends on the set, since the fold drops repeats anyway.
struct AcknowledgedIds {
    ids: HashSet<Uuid>,
    order: VecDeque<Uuid>,
    capacity: usize,
}

impl AcknowledgedIds {
    fn new(capacity: usize) -> Self {
        Self {
            ids: HashSet::new(),
            order: VecDeque::new(),
            capacity,
        }
    }

    fn contains(&self, id: &Uuid) -> bool {
        self.ids.contains(id)
    }

    fn insert(&mut self, id: Uuid) {
        if self.capacity == 0 || !self.ids.insert(id) {
            return;
        }
        self.order.push_back(id);
        if self.order.len() > self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.ids.remove(&oldest);
            }
        }
    }
}

/// The Kafka event log.
pub struct KafkaLog {
    config: KafkaConfig,
    partitions: Partition,
    producer: ProducerSlot,
    /// Idle assign-only consumers of each partition, taken out for a read and put back
    /// after it (see [`READERS_PER_PARTITION`]).
    readers: Arc<Mutex<BTreeMap<Partition, Vec<PartitionReader>>>>,
    membership: Option<Membership>,
    acknowledged: Mutex<AcknowledgedIds>,
}

struct PartitionReader {
    consumer: BaseConsumer,
    /// The first offset not yet answered: a read from here continues without a new
    /// assignment.
    next: Offset,
    /// The offset the consumer's next message must have, or `None` right after an
    /// assignment, when the first message may stand at or before `next` (see [`Step`]).
    polled_next: Option<Offset>,
    /// How far before `next` the current assignment starts (0 unless the broker skipped
    /// the offset asked for; see [`Step::Rewind`]).
    rewind: Offset,
    /// When the current assignment was made.
    assigned_at: Instant,
    /// The last event was the partition's end (`enable.partition.eof`): nothing more was
    /// fetched since, so a read need not wait.
    at_end: bool,
    /// No event (fact or end of partition) arrived since the last assignment: the reader
    /// is still connecting or fetching for the first time.
    fresh: bool,
    /// Since when every read at the partition's end came back empty, and when the broker
    /// was last asked whether the partition holds more.
    idle: StuckReaderWatch,
    /// When the last read ended: the least recently used reader goes first.
    last_used: Instant,
}

/// Notices a reader that keeps answering empty at what it took for the partition's end
/// while the broker holds more: every [`STUCK_CHECK_INTERVAL`] of empty reads the
/// broker's high watermark is fetched, and a reader behind it is replaced by a fresh one.
#[derive(Default)]
struct StuckReaderWatch {
    empty_since: Option<Instant>,
    checked_at: Option<Instant>,
}

impl StuckReaderWatch {
    /// Records an empty read; true when it is time to ask the broker for its end.
    fn empty_read(&mut self, now: Instant) -> bool {
        let since = *self.empty_since.get_or_insert(now);
        let last = self.checked_at.unwrap_or(since);
        if now.duration_since(last) >= STUCK_CHECK_INTERVAL {
            self.checked_at = Some(now);
            return true;
        }
        false
    }

    fn delivered(&mut self) {
        *self = Self::default();
    }
}

/// How long a reader may answer empty at the partition's end before the broker is asked
/// whether it really holds nothing more.
const STUCK_CHECK_INTERVAL: Duration = Duration::from_secs(3);

/// Readers kept per partition: one for each follower of the log in a process (the
/// projector, the notifier) and one for a rebuild or a catch-up's read-ahead.
const READERS_PER_PARTITION: usize = 4;

/// How long a waiting read polls at a time, to look at the fetch responses in between.
const POLL_SLICE: Duration = Duration::from_millis(50);
/// How long after an assignment no event at all (neither a message nor the partition's
/// end) means the broker skipped the offset due. A broker holds a fetch that finds
/// nothing for up to `fetch.wait.max.ms` (500 ms by default) before answering it; a slow
/// one only costs a few records read and passed over.
const REWIND_AFTER: Duration = Duration::from_millis(1000);
/// The first step back, doubled on each further rewind up to [`MAX_REWIND`] (a record
/// batch of librdkafka holds at most `batch.num.messages`, 10,000 by default).
const FIRST_REWIND: Offset = 16;
const MAX_REWIND: Offset = 1 << 17;

/// How long a read waits for the first fact while the reader is not known to be at the
/// partition's end (in the middle of a fetch).
const READ_WAIT: Duration = Duration::from_millis(200);
/// How long a fresh reader's read waits for its first event. The end of the partition is
/// an event too, so this is reached only when the broker is slow or unreachable.
const FIRST_READ_WAIT: Duration = Duration::from_secs(2);

fn unavailable(what: &str, error: impl std::fmt::Display) -> LogError {
    LogError::Unavailable(format!("{what}: {error}"))
}

/// What to do with a polled message, given the offset the consumer's stream must continue
/// with (`polled_next`, `None` right after an assignment) and the first offset not yet
/// answered (`next`). Offsets of a topic written only by an idempotent producer, never
/// compacted, have no gaps, so a read answers an unbroken run from the offset asked for.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// The next offset to answer.
    Deliver,
    /// Before the offset asked for: a rewound assignment passing over what was answered.
    Skip,
    /// The first message after an assignment stands past the offset asked for. A Kafka
    /// broker answers a fetch from inside a record batch with that whole batch; tansu 0.6
    /// answers with the batches after it. Start again from further back.
    Rewind,
    /// The consumer's stream skipped or went back: give up this reader.
    Broken,
}

fn step(polled_next: Option<Offset>, next: Offset, offset: Offset) -> Step {
    match polled_next {
        Some(expected) if offset != expected => Step::Broken,
        None if offset > next => Step::Rewind,
        _ if offset < next => Step::Skip,
        _ => Step::Deliver,
    }
}

impl PartitionReader {
    fn new(config: &KafkaConfig) -> Result<Self, LogError> {
        Ok(Self {
            consumer: create_reader(config)?,
            next: u64::MAX,
            polled_next: None,
            rewind: 0,
            assigned_at: Instant::now(),
            at_end: false,
            fresh: true,
            idle: StuckReaderWatch::default(),
            last_used: Instant::now(),
        })
    }

    /// Reads up to `max` facts of `partition` from offset `from`; also answers whether
    /// this reader may serve the next read (false: replace it with a fresh one).
    fn read(
        &mut self,
        topic: &str,
        partition: Partition,
        from: Offset,
        max: usize,
    ) -> (Result<Vec<LoggedFact>, LogError>, bool) {
        if self.next != from {
            if let Err(error) = self.assign(topic, partition, from, 0) {
                return (Err(error), false);
            }
        }
        // A batch is what the reader has already fetched: wait only for its first fact,
        // and not at all when the last event was the end of the partition. Under load
        // the batches grow by themselves while the projector commits the previous one.
        let mut facts = Vec::new();
        let deadline = Instant::now()
            + if self.fresh {
                FIRST_READ_WAIT
            } else {
                READ_WAIT
            };
        while facts.len() < max {
            let waiting = facts.is_empty() && !self.at_end;
            let wait = if waiting {
                deadline
                    .saturating_duration_since(Instant::now())
                    .min(POLL_SLICE)
            } else {
                Duration::ZERO
            };
            let Some(message) = self.consumer.poll(wait) else {
                if waiting && Instant::now() < deadline {
                    // Nothing yet, not even the partition's end: tansu 0.6 answers a fetch
                    // from inside the last record batch with nothing at all.
                    if self.fresh && self.next > 0 && self.assigned_at.elapsed() >= REWIND_AFTER {
                        if let Err(error) = self.rewind_further(topic, partition, None) {
                            return (Err(error), false);
                        }
                    }
                    continue;
                }
                break;
            };
            let message = match message {
                Ok(message) => message,
                Err(rdkafka::error::KafkaError::PartitionEOF(_)) => {
                    self.at_end = true;
                    self.fresh = false;
                    break;
                }
                Err(error) => {
                    return (Err(unavailable("reading from Kafka failed", error)), false);
                }
            };
            self.at_end = false;
            self.fresh = false;
            let offset = message.offset() as Offset;
            match step(self.polled_next, self.next, offset) {
                Step::Deliver => {}
                Step::Skip => {
                    self.polled_next = Some(offset + 1);
                    continue;
                }
                Step::Rewind => {
                    if let Err(error) = self.rewind_further(topic, partition, Some(offset)) {
                        return (Err(error), false);
                    }
                    continue;
                }
                Step::Broken => {
                    tracing::warn!(
                        partition,
                        expected = self.polled_next.unwrap_or(self.next),
                        delivered = offset,
                        "the Kafka reader delivered an unexpected offset; starting a new reader"
                    );
                    if facts.is_empty() {
                        let error = LogError::Unavailable(format!(
                            "Kafka delivered offset {offset} of partition {partition} when \
                             {} was due; reading again with a new reader",
                            self.next
                        ));
                        return (Err(error), false);
                    }
                    // Answer the unbroken run from `from`; a fresh reader goes on from there.
                    return (Ok(facts), false);
                }
            }
            let fact = match message.payload() {
                Some(bytes) => std::str::from_utf8(bytes)
                    .map_err(|error| error.to_string())
                    .and_then(|text| Fact::from_json(text).map_err(|error| error.to_string())),
                None => Err("empty message".to_owned()),
            };
            self.polled_next = Some(offset + 1);
            self.next = offset + 1;
            match fact {
                Ok(fact) => facts.push(LoggedFact {
                    partition,
                    offset,
                    fact,
                }),
                Err(message) => {
                    let error = LogError::Unreadable {
                        partition,
                        offset,
                        message,
                    };
                    return (Err(error), true);
                }
            }
        }
        if !facts.is_empty() {
            self.idle.delivered();
            return (Ok(facts), true);
        }
        let keep = !(self.at_end
            && self.idle.empty_read(Instant::now())
            && self.behind_the_broker(topic, partition));
        (Ok(facts), keep)
    }

    /// Assigns the reader to `partition` so that it answers from offset `from`, polling
    /// from `rewind` offsets before it.
    fn assign(
        &mut self,
        topic: &str,
        partition: Partition,
        from: Offset,
        rewind: Offset,
    ) -> Result<(), LogError> {
        let start = from.saturating_sub(rewind);
        let mut assignment = TopicPartitionList::new();
        assignment
            .add_partition_offset(topic, partition as i32, KafkaOffset::Offset(start as i64))
            .map_err(|error| unavailable("bad Kafka offset", error))?;
        self.consumer
            .assign(&assignment)
            .map_err(|error| unavailable("cannot assign a Kafka partition", error))?;
        self.next = from;
        self.polled_next = None;
        self.rewind = from - start;
        self.assigned_at = Instant::now();
        self.at_end = false;
        self.fresh = true;
        self.idle.delivered();
        Ok(())
    }

    /// Assigns the reader again, further back before the offset due, after the broker
    /// skipped it (`delivered`: the offset it delivered instead, if any).
    fn rewind_further(
        &mut self,
        topic: &str,
        partition: Partition,
        delivered: Option<Offset>,
    ) -> Result<(), LogError> {
        let rewind = (self.rewind * 2).max(FIRST_REWIND);
        let no_further_back = self.next.saturating_sub(rewind) == self.next - self.rewind;
        if no_further_back && delivered.is_none() {
            // Already reading from the partition's start: let the fetch in flight answer.
            self.assigned_at = Instant::now();
            return Ok(());
        }
        if no_further_back || self.rewind >= MAX_REWIND {
            return Err(LogError::Unavailable(format!(
                "Kafka does not deliver offset {} of partition {partition} (delivered {}), \
                 even reading from {} offsets before it; is the broker reachable?",
                self.next,
                delivered.map_or("nothing".to_owned(), |offset| offset.to_string()),
                self.rewind
            )));
        }
        tracing::debug!(
            partition,
            due = self.next,
            ?delivered,
            rewind,
            "the broker skipped the offset due; assigning from further back"
        );
        self.assign(topic, partition, self.next, rewind)
    }

    /// Whether the broker's high watermark is past the offset this reader, at what it
    /// took for the partition's end, would answer next: then it is stuck. (A high
    /// watermark below the truth, as tansu 0.6 answers, only delays this.)
    fn behind_the_broker(&self, topic: &str, partition: Partition) -> bool {
        let high = self
            .consumer
            .fetch_watermarks(topic, partition as i32, STUCK_CHECK_INTERVAL);
        match high {
            Ok((_, high)) if high.max(0) as Offset > self.next => {
                tracing::warn!(
                    partition,
                    next = self.next,
                    high,
                    "the Kafka reader stayed at a partition end the broker is past; \
                     starting a new reader"
                );
                true
            }
            // Unreachable or caught up: nothing a new reader would do better.
            _ => false,
        }
    }
}

impl KafkaLog {
    /// Connects, checks (or creates) the topic and starts the producer, and, with a group,
    /// joins it.
    #[tracing::instrument(level = "info", skip_all, fields(brokers = %config.brokers, topic = %config.topic))]
    pub async fn open(config: KafkaConfig) -> Result<Self, LogError> {
        let partitions = ensure_topic(&config).await?;
        let producer = ProducerSlot::new(&config)?;
        let membership = match &config.group {
            Some(group) => Some(Membership::join(&config, group)?),
            None => None,
        };
        Ok(Self {
            partitions,
            producer,
            readers: Arc::new(Mutex::new(BTreeMap::new())),
            membership,
            acknowledged: Mutex::new(AcknowledgedIds::new(config.recent_fact_ids)),
            config,
        })
    }

    pub fn topic(&self) -> &str {
        &self.config.topic
    }
}

/// The idempotent producer, replaced when the broker fences it. After delivery timeouts
/// librdkafka re-initialises its producer id, and a broker that answers that with
/// `ProducerFenced` would otherwise fail every later append; a fresh producer (a new
/// producer id) recovers, and deterministic fact ids plus the fold's dedup make any fact
/// that reached the log twice harmless.
struct ProducerSlot {
    current: std::sync::RwLock<(u64, FutureProducer)>,
}

impl ProducerSlot {
    fn new(config: &KafkaConfig) -> Result<Self, LogError> {
        Ok(Self {
            current: std::sync::RwLock::new((0, create_producer(config)?)),
        })
    }

    /// The producer in use and its generation.
    fn get(&self) -> (u64, FutureProducer) {
        let current = self
            .current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        (current.0, current.1.clone())
    }

    /// Replaces generation `failed` (unless another request already did).
    fn replace(&self, failed: u64, config: &KafkaConfig) {
        let mut current = self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if current.0 != failed {
            return;
        }
        match create_producer(config) {
            Ok(producer) => {
                tracing::warn!(
                    generation = failed + 1,
                    "replaced the fenced Kafka producer"
                );
                *current = (failed + 1, producer);
            }
            Err(error) => tracing::error!(%error, "cannot replace the Kafka producer"),
        }
    }
}

/// `defaults`, then `overrides`, onto `client`; durability settings stay Aftermath's.
fn apply_properties(
    client: &mut ClientConfig,
    defaults: &[(&str, &str)],
    overrides: &[(String, String)],
) -> Result<(), LogError> {
    for (key, value) in defaults {
        client.set(*key, *value);
    }
    for (key, value) in overrides {
        if DURABILITY_PROPERTIES.contains(&key.as_str()) {
            return Err(LogError::Unavailable(format!(
                "the Kafka property {key} is set by Aftermath and cannot be changed"
            )));
        }
        client.set(key, value);
    }
    Ok(())
}

fn create_producer(config: &KafkaConfig) -> Result<FutureProducer, LogError> {
    let mut client = ClientConfig::new();
    client.set(
        "queue.buffering.max.messages",
        config.max_in_flight.max(1).to_string(),
    );
    apply_properties(&mut client, PRODUCER_DEFAULTS, &config.producer_properties)?;
    client
        .set("bootstrap.servers", &config.brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set(
            "message.timeout.ms",
            config.append_timeout.as_millis().max(1).to_string(),
        )
        // Java-compatible key hashing: the same stream key lands on the same partition
        // whatever client wrote it.
        .set("partitioner", "murmur2_random")
        .create()
        .map_err(|error| unavailable("cannot create the Kafka producer", error))
}

fn create_reader(config: &KafkaConfig) -> Result<BaseConsumer, LogError> {
    let mut client = ClientConfig::new();
    apply_properties(&mut client, READER_DEFAULTS, &config.reader_properties)?;
    client
        .set("bootstrap.servers", &config.brokers)
        .set("group.id", "aftermath-reader")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        // An offset the broker does not hold is an error, never a silent jump to
        // another offset: the projector asks only for offsets below the log's end.
        .set("auto.offset.reset", "error")
        // The end of the partition is an event, so a caught-up read returns at once
        // instead of waiting out its timeout.
        .set("enable.partition.eof", "true")
        .create()
        .map_err(|error| unavailable("cannot create a Kafka reader", error))
}

/// Errors after which this producer id is unusable.
fn needs_new_producer(error: &rdkafka::error::KafkaError) -> bool {
    use rdkafka::types::RDKafkaErrorCode as Code;
    matches!(
        error.rdkafka_error_code(),
        Some(
            Code::ProducerFenced
                | Code::InvalidProducerEpoch
                | Code::UnknownProducerId
                | Code::OutOfOrderSequenceNumber
                | Code::Fatal
        )
    )
}

/// Returns the topic's partition count, creating the topic if allowed.
async fn ensure_topic(config: &KafkaConfig) -> Result<Partition, LogError> {
    let probe_timeout = config.append_timeout.max(Duration::from_secs(1));
    let admin: Arc<AdminClient<DefaultClientContext>> = Arc::new(
        ClientConfig::new()
            .set("bootstrap.servers", &config.brokers)
            .create()
            .map_err(|error| unavailable("cannot create the Kafka admin client", error))?,
    );
    let existing = topic_partitions(&admin, &config.topic, probe_timeout).await?;
    if let Some(count) = existing {
        return Ok(count);
    }
    if !config.create_topic {
        return Err(LogError::Unavailable(format!(
            "Kafka topic {:?} does not exist on {}; create it, or pass --kafka-create-topic",
            config.topic, config.brokers
        )));
    }
    let topic = NewTopic::new(
        &config.topic,
        config.partitions.max(1) as i32,
        TopicReplication::Fixed(config.replication.max(1) as i32),
    );
    let options = AdminOptions::new().operation_timeout(Some(probe_timeout));
    let results = admin
        .create_topics([&topic], &options)
        .await
        .map_err(|error| unavailable("cannot create the Kafka topic", error))?;
    for result in results {
        match result {
            Ok(_) => {
                tracing::info!(topic = %config.topic, partitions = config.partitions, "created Kafka topic")
            }
            // Another process created it first: fine.
            Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => {
                return Err(LogError::Unavailable(format!(
                    "cannot create Kafka topic {name:?}: {code}"
                )))
            }
        }
    }
    // Metadata can lag behind creation for a moment.
    let deadline = Instant::now() + probe_timeout;
    loop {
        if let Some(count) = topic_partitions(&admin, &config.topic, probe_timeout).await? {
            return Ok(count);
        }
        if Instant::now() > deadline {
            return Err(LogError::Unavailable(format!(
                "Kafka topic {:?} was created but does not show in metadata",
                config.topic
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn topic_partitions(
    admin: &Arc<AdminClient<DefaultClientContext>>,
    topic: &str,
    timeout: Duration,
) -> Result<Option<Partition>, LogError> {
    let (client, name) = (admin.clone(), topic.to_owned());
    let metadata =
        tokio::task::spawn_blocking(move || client.inner().fetch_metadata(Some(&name), timeout))
            .await
            .map_err(|error| unavailable("the Kafka metadata thread failed", error))?
            .map_err(|error| unavailable("cannot reach the Kafka brokers", error))?;
    Ok(metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty())
        .map(|t| t.partitions().len() as Partition))
}

#[async_trait]
impl EventLog for KafkaLog {
    fn partitions(&self) -> Partition {
        self.partitions
    }

    #[tracing::instrument(level = "debug", skip_all, fields(facts = facts.len()))]
    async fn append(&self, facts: &[Fact]) -> Result<Vec<Appended>, LogError> {
        let known: Vec<bool> = {
            let acknowledged = self.acknowledged.lock().unwrap_or_else(|p| p.into_inner());
            facts
                .iter()
                .map(|fact| acknowledged.contains(&fact.fact_id))
                .collect()
        };
        let (generation, producer) = self.producer.get();
        let mut deliveries = Vec::with_capacity(facts.len());
        for (fact, _) in facts.iter().zip(&known).filter(|(_, known)| !**known) {
            let payload = fact.to_json();
            let record = FutureRecord::to(&self.config.topic)
                .key(fact.stream_key.as_bytes())
                .payload(payload.as_bytes());
            let delivery = producer.send_result(record).map_err(|(error, _)| {
                unavailable("the Kafka producer queue refused the fact", error)
            })?;
            deliveries.push(delivery);
        }
        // librdkafka fails undelivered facts after message.timeout.ms; the extra second
        // only guards against a lost delivery report.
        let limit = self.config.append_timeout + Duration::from_secs(1);
        let mut delivered = Vec::with_capacity(deliveries.len());
        for delivery in deliveries {
            let report = tokio::time::timeout(limit, delivery)
                .await
                .map_err(|_| LogError::Unavailable("no delivery report from Kafka in time".into()))?
                .map_err(|_| LogError::Unavailable("the Kafka producer was dropped".into()))?;
            match report {
                Ok(delivery) => delivered.push(Appended::New {
                    partition: delivery.partition as Partition,
                    offset: delivery.offset as Offset,
                }),
                Err((error, _)) => {
                    if needs_new_producer(&error) || producer.client().fatal_error().is_some() {
                        self.producer.replace(generation, &self.config);
                    }
                    return Err(unavailable("Kafka did not acknowledge the fact", error));
                }
            }
        }
        // Every fact of the request is durable now: remember them, and answer in order.
        let mut acknowledged = self.acknowledged.lock().unwrap_or_else(|p| p.into_inner());
        let mut delivered = delivered.into_iter();
        let mut outcomes = Vec::with_capacity(facts.len());
        for (fact, known) in facts.iter().zip(known) {
            if known {
                outcomes.push(Appended::Duplicate);
            } else {
                acknowledged.insert(fact.fact_id);
                outcomes.extend(delivered.next());
            }
        }
        Ok(outcomes)
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn read(
        &self,
        partition: Partition,
        from: Offset,
        max: usize,
    ) -> Result<Vec<LoggedFact>, LogError> {
        if partition >= self.partitions {
            return Err(LogError::NoSuchPartition(partition));
        }
        let readers = self.readers.clone();
        let config = self.config.clone();
        tokio::task::spawn_blocking(move || {
            // A reader already where this read starts is taken; otherwise a new one, so
            // that the projector and the notifier following the same partition at
            // different offsets each keep their own position.
            let idle = {
                let mut readers = readers.lock().unwrap_or_else(|p| p.into_inner());
                let pool = readers.entry(partition).or_default();
                pool.iter()
                    .position(|reader| reader.next == from)
                    .map(|at| pool.swap_remove(at))
            };
            let mut reader = match idle {
                Some(reader) => reader,
                None => PartitionReader::new(&config)?,
            };
            let (facts, keep_reader) = reader.read(&config.topic, partition, from, max);
            // A reader not kept is dropped: the next read starts a new consumer.
            if keep_reader {
                reader.last_used = Instant::now();
                let mut readers = readers.lock().unwrap_or_else(|p| p.into_inner());
                let pool = readers.entry(partition).or_default();
                pool.push(reader);
                if pool.len() > READERS_PER_PARTITION {
                    let oldest = (0..pool.len())
                        .min_by_key(|&at| pool[at].last_used)
                        .unwrap_or(0);
                    pool.swap_remove(oldest);
                }
            }
            facts
        })
        .await
        .map_err(|error| unavailable("the Kafka reader thread failed", error))?
    }

    async fn end_offset(&self, partition: Partition) -> Result<Offset, LogError> {
        let timeout = self.config.append_timeout;
        let (producer, topic) = (self.producer.get().1, self.config.topic.clone());
        let (_, high) = tokio::task::spawn_blocking(move || {
            producer
                .client()
                .fetch_watermarks(&topic, partition as i32, timeout)
        })
        .await
        .map_err(|error| unavailable("the Kafka metadata thread failed", error))?
        .map_err(|error| unavailable("cannot read the Kafka high watermark", error))?;
        Ok(high.max(0) as Offset)
    }

    async fn appended(&self) {
        // Readers poll with a timeout; nothing to wait on in-process.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    async fn owned_partitions(&self) -> Vec<Partition> {
        match &self.membership {
            Some(membership) => membership.owned(),
            None => (0..self.partitions).collect(),
        }
    }

    async fn checkpointed(&self, partition: Partition, next_offset: Offset) {
        if let Some(membership) = &self.membership {
            membership.commit(&self.config.topic, partition, next_offset);
        }
    }

    async fn ping(&self) -> Result<(), LogError> {
        let timeout = Duration::from_secs(2);
        let (producer, topic) = (self.producer.get().1, self.config.topic.clone());
        tokio::task::spawn_blocking(move || producer.client().fetch_metadata(Some(&topic), timeout))
            .await
            .map_err(|error| unavailable("the Kafka metadata thread failed", error))?
            .map(|_| ())
            .map_err(|error| unavailable("Kafka does not answer", error))
    }
}

/// Consumer-group membership: decides which partitions this process folds. The member
/// consumes nothing (its partitions are paused); the projector reads with its own
/// readers from the checkpoints in the projection database, and the member commits those
/// checkpoints to the group for lag monitoring only.
struct Membership {
    consumer: Arc<BaseConsumer<MembershipContext>>,
    owned: Arc<Mutex<BTreeSet<Partition>>>,
    stop: Arc<AtomicBool>,
}

struct MembershipContext {
    owned: Arc<Mutex<BTreeSet<Partition>>>,
}

impl ClientContext for MembershipContext {}

impl ConsumerContext for MembershipContext {
    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let mut owned = self
            .owned
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match rebalance {
            Rebalance::Assign(partitions) => {
                if let Err(error) = consumer.pause(partitions) {
                    tracing::warn!(%error, "cannot pause the group member's partitions");
                }
                owned.extend(
                    partitions
                        .elements()
                        .iter()
                        .map(|p| p.partition() as Partition),
                );
                tracing::info!(owned = ?*owned, "consumer group assigned partitions");
            }
            Rebalance::Revoke(partitions) => {
                for element in partitions.elements() {
                    owned.remove(&(element.partition() as Partition));
                }
                tracing::info!(owned = ?*owned, "consumer group revoked partitions");
            }
            Rebalance::Error(error) => tracing::warn!(%error, "consumer group rebalance failed"),
        }
    }
}

impl Membership {
    fn join(config: &KafkaConfig, group: &str) -> Result<Self, LogError> {
        let owned = Arc::new(Mutex::new(BTreeSet::new()));
        let consumer: BaseConsumer<MembershipContext> = ClientConfig::new()
            .set("bootstrap.servers", &config.brokers)
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            // An offset the broker does not hold is an error, never a silent jump to
            // another offset: the projector asks only for offsets below the log's end.
            .set("auto.offset.reset", "error")
            // A dead member's partitions move after the session times out; the rebalance
            // that follows waits at most max.poll.interval.ms for members to rejoin. This
            // member polls every 100 ms, so both can be short.
            .set("session.timeout.ms", "6000")
            .set("heartbeat.interval.ms", "1000")
            .set("max.poll.interval.ms", "10000")
            .create_with_context(MembershipContext {
                owned: owned.clone(),
            })
            .map_err(|error| unavailable("cannot create the consumer-group member", error))?;
        consumer
            .subscribe(&[&config.topic])
            .map_err(|error| unavailable("cannot join the consumer group", error))?;
        let consumer = Arc::new(consumer);
        let stop = Arc::new(AtomicBool::new(false));
        // Rebalances and heartbeats happen inside poll: keep polling on a thread of its own.
        let (member, stopped) = (consumer.clone(), stop.clone());
        std::thread::Builder::new()
            .name("aftermath-group".into())
            .spawn(move || {
                while !stopped.load(Ordering::Relaxed) {
                    if let Some(Err(error)) = member.poll(Duration::from_millis(100)) {
                        tracing::debug!(%error, "consumer group poll");
                    }
                }
                member.unsubscribe();
            })
            .map_err(|error| unavailable("cannot start the consumer-group thread", error))?;
        Ok(Self {
            consumer,
            owned,
            stop,
        })
    }

    fn owned(&self) -> Vec<Partition> {
        let owned = self
            .owned
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        owned.iter().copied().collect()
    }

    fn commit(&self, topic: &str, partition: Partition, next_offset: Offset) {
        let mut offsets = TopicPartitionList::new();
        if offsets
            .add_partition_offset(
                topic,
                partition as i32,
                KafkaOffset::Offset(next_offset as i64),
            )
            .is_ok()
        {
            if let Err(error) = self.consumer.commit(&offsets, CommitMode::Async) {
                tracing::debug!(%error, partition, "cannot commit the group offset (lag monitoring only)");
            }
        }
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_answers_only_an_unbroken_run_from_the_offset_asked_for() {
        // Right after an assignment at 305.
        assert_eq!(step(None, 305, 305), Step::Deliver);
        assert_eq!(step(None, 305, 300), Step::Skip, "a batch holding 305");
        assert_eq!(step(None, 305, 311), Step::Rewind, "the batch after 305");
        // Under way.
        assert_eq!(step(Some(306), 306, 306), Step::Deliver);
        assert_eq!(step(Some(302), 306, 302), Step::Skip, "rewound, before 306");
        assert_eq!(step(Some(306), 306, 307), Step::Broken, "a skipped offset");
        assert_eq!(
            step(Some(306), 306, 0),
            Step::Broken,
            "a reset to the start"
        );
        assert_eq!(
            step(Some(302), 306, 304),
            Step::Broken,
            "a gap while rewound"
        );
    }

    #[test]
    fn a_reader_empty_at_the_end_asks_the_broker_once_per_interval() {
        let start = Instant::now();
        let mut watch = StuckReaderWatch::default();
        assert!(
            !watch.empty_read(start),
            "the first empty read asks nothing"
        );
        assert!(!watch.empty_read(start + STUCK_CHECK_INTERVAL / 2));
        assert!(watch.empty_read(start + STUCK_CHECK_INTERVAL));
        assert!(
            !watch.empty_read(start + STUCK_CHECK_INTERVAL * 3 / 2),
            "asked again before another interval"
        );
        assert!(watch.empty_read(start + STUCK_CHECK_INTERVAL * 2));
        // A delivered fact starts the count again.
        watch.delivered();
        let later = start + STUCK_CHECK_INTERVAL * 10;
        assert!(!watch.empty_read(later));
        assert!(watch.empty_read(later + STUCK_CHECK_INTERVAL));
    }

    #[test]
    fn properties_parse_as_key_value_pairs() {
        let parsed = parse_kafka_properties(" linger.ms=5, compression.type = lz4 ,").unwrap();
        assert_eq!(
            parsed.0,
            [
                ("linger.ms".to_owned(), "5".to_owned()),
                ("compression.type".to_owned(), "lz4".to_owned())
            ]
        );
        assert_eq!(
            parse_kafka_properties("").unwrap(),
            KafkaProperties::default()
        );
        assert!(parse_kafka_properties("linger.ms").is_err());
    }

    #[test]
    fn durability_settings_cannot_be_overridden() {
        for key in [
            "acks",
            "enable.idempotence",
            "message.timeout.ms",
            "partitioner",
        ] {
            let error = parse_kafka_properties(&format!("{key}=1")).unwrap_err();
            assert!(error.contains(key), "{error}");
        }
        let mut config = KafkaConfig::new("127.0.0.1:9", "facts");
        config.producer_properties = vec![("acks".to_owned(), "1".to_owned())];
        assert!(create_producer(&config).is_err());
    }

    #[test]
    fn acknowledged_ids_forget_the_oldest_beyond_capacity() {
        let mut ids = AcknowledgedIds::new(2);
        for n in 1..=3 {
            ids.insert(Uuid::from_u128(n));
        }
        assert!(!ids.contains(&Uuid::from_u128(1)));
        assert!(ids.contains(&Uuid::from_u128(2)) && ids.contains(&Uuid::from_u128(3)));
        ids.insert(Uuid::from_u128(3)); // already held: nothing evicted
        assert!(ids.contains(&Uuid::from_u128(2)));

        let mut off = AcknowledgedIds::new(0);
        off.insert(Uuid::from_u128(1));
        assert!(!off.contains(&Uuid::from_u128(1)));
    }
}
