//! The event log: an append-only, partitioned sequence of facts with offsets.
//!
//! Architecture invariant: a successful [`EventLog::append`] means the facts are durable
//! and readable at the returned positions; the API answers 2xx only after it returns. The
//! log never rewrites a fact, and a fact id is stored at most once.

mod embedded;
mod kafka;

use std::sync::Arc;

use aftermath_core::{Fact, FactDecodeError};
use async_trait::async_trait;

pub use embedded::{EmbeddedLog, EmbeddedLogOptions, DEFAULT_RECENT_FACT_IDS};
pub use kafka::{
    parse_kafka_properties, KafkaConfig, KafkaLog, KafkaProperties, DEFAULT_KAFKA_RECENT_FACT_IDS,
    DURABILITY_PROPERTIES, PRODUCER_DEFAULTS, READER_DEFAULTS,
};

/// A partition number. The embedded log has one partition, `0`.
pub type Partition = u32;
/// A position within a partition, counted from 0.
pub type Offset = u64;

/// A fact together with where it sits on the log.
#[derive(Clone, Debug, PartialEq)]
pub struct LoggedFact {
    pub partition: Partition,
    pub offset: Offset,
    pub fact: Fact,
}

/// What appending one fact did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Appended {
    /// Written at this position.
    New {
        partition: Partition,
        offset: Offset,
    },
    /// A fact with the same id was already on the log; nothing was written.
    Duplicate,
}

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("event log storage failed: {0}")]
    Storage(#[from] sqlx::Error),
    #[error("fact at partition {partition} offset {offset} cannot be read: {source}")]
    Corrupt {
        partition: Partition,
        offset: Offset,
        source: FactDecodeError,
    },
    #[error("the event log has no partition {0}")]
    NoSuchPartition(Partition),
    #[error("message at partition {partition} offset {offset} is not a fact: {message}")]
    Unreadable {
        partition: Partition,
        offset: Offset,
        message: String,
    },
    /// The log cannot take or serve facts right now (broker unreachable, queue full, no
    /// acknowledgement in time). Callers answer 503 and senders retry.
    #[error("event log unavailable: {0}")]
    Unavailable(String),
}

/// An append-only, partitioned log of facts.
#[async_trait]
pub trait EventLog: Send + Sync + 'static {
    /// How many partitions the log has; they are numbered `0..partitions()`.
    fn partitions(&self) -> Partition;

    /// Appends `facts` atomically, in order: either all new facts are durable or none is.
    /// Facts whose id is already on the log are reported as [`Appended::Duplicate`].
    async fn append(&self, facts: &[Fact]) -> Result<Vec<Appended>, LogError>;

    /// [`append`](Self::append) for a caller that has no further use for `facts`: a log
    /// that keeps its newest facts in memory for its readers (the embedded one) takes
    /// them as they are instead of decoding them again from what it stored.
    async fn append_owned(&self, facts: Vec<Fact>) -> Result<Vec<Appended>, LogError> {
        self.append(&facts).await
    }

    /// Reads up to `max` facts of `partition` starting at offset `from`, in log order.
    async fn read(
        &self,
        partition: Partition,
        from: Offset,
        max: usize,
    ) -> Result<Vec<LoggedFact>, LogError>;

    /// The offset the next appended fact of `partition` will get.
    async fn end_offset(&self, partition: Partition) -> Result<Offset, LogError>;

    /// Resolves when something may have been appended since the call, so readers need not
    /// spin. Implementations may resolve spuriously.
    async fn appended(&self);

    /// The partitions this process should fold: all of them, unless a consumer group
    /// shares them out between projector processes.
    async fn owned_partitions(&self) -> Vec<Partition> {
        (0..self.partitions()).collect()
    }

    /// Told after the projector committed `next_offset` of `partition` with its rows, so
    /// the log can publish progress (Kafka: the group offset, for lag monitoring only).
    async fn checkpointed(&self, _partition: Partition, _next_offset: Offset) {}

    /// Whether the log answers, for readiness probes.
    async fn ping(&self) -> Result<(), LogError> {
        self.end_offset(0).await.map(|_| ())
    }
}

/// A shared handle to whichever log backend the configuration chose.
pub type SharedLog = Arc<dyn EventLog>;
