//! An [`EventLog`] that counts and times every append of the log it wraps, so every writer
//! (ingest, responders, pages, the notifier) is measured in one place.

use std::sync::Arc;
use std::time::Instant;

use aftermath_core::Fact;
use aftermath_log::{Appended, EventLog, LogError, LoggedFact, Offset, Partition, SharedLog};
use async_trait::async_trait;

use super::events::{fact_labels, type_family, AppendFailed, FactsAppended};
use super::{InternalEvent, Telemetry};

/// Wraps a log; everything but the appends is passed through untouched.
pub struct MeteredLog {
    inner: SharedLog,
    telemetry: Telemetry,
}

impl MeteredLog {
    /// `inner`, with its appends counted in `telemetry`.
    pub fn wrap(inner: SharedLog, telemetry: Telemetry) -> SharedLog {
        Arc::new(Self { inner, telemetry })
    }

    /// Counts and times one append that began at `started`; `labels` are its facts'.
    fn record<'a>(
        &self,
        labels: impl ExactSizeIterator<Item = [&'a str; 2]>,
        started: Instant,
        appended: &'a Result<Vec<Appended>, LogError>,
    ) {
        let duration = started.elapsed();
        match appended {
            Ok(outcomes) => FactsAppended {
                labels,
                outcomes,
                duration,
            }
            .emit(&self.telemetry),
            Err(error) => AppendFailed {
                facts: labels.len(),
                error,
                duration,
            }
            .emit(&self.telemetry),
        }
    }
}

#[async_trait]
impl EventLog for MeteredLog {
    fn partitions(&self) -> Partition {
        self.inner.partitions()
    }

    async fn append(&self, facts: &[Fact]) -> Result<Vec<Appended>, LogError> {
        let started = Instant::now();
        let appended = self.inner.append(facts).await;
        self.record(facts.iter().map(fact_labels), started, &appended);
        appended
    }

    async fn append_owned(&self, facts: Vec<Fact>) -> Result<Vec<Appended>, LogError> {
        // The facts go to the log: their labels are copied out first.
        let labels: Vec<(String, &'static str)> = facts
            .iter()
            .map(|fact| {
                let [source, _] = fact_labels(fact);
                (source.to_owned(), type_family(fact))
            })
            .collect();
        let started = Instant::now();
        let appended = self.inner.append_owned(facts).await;
        let labels = labels
            .iter()
            .map(|(source, family)| [source.as_str(), *family]);
        self.record(labels, started, &appended);
        appended
    }

    async fn read(
        &self,
        partition: Partition,
        from: Offset,
        max: usize,
    ) -> Result<Vec<LoggedFact>, LogError> {
        self.inner.read(partition, from, max).await
    }

    async fn end_offset(&self, partition: Partition) -> Result<Offset, LogError> {
        self.inner.end_offset(partition).await
    }

    async fn appended(&self) {
        self.inner.appended().await
    }

    async fn owned_partitions(&self) -> Vec<Partition> {
        self.inner.owned_partitions().await
    }

    async fn checkpointed(&self, partition: Partition, next_offset: Offset) {
        self.inner.checkpointed(partition, next_offset).await
    }

    async fn ping(&self) -> Result<(), LogError> {
        self.inner.ping().await
    }
}
