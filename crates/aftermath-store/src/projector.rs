//! The projector: reads the log in batches, folds each batch with the core, and commits
//! the rows with the new checkpoint in one transaction.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aftermath_core::{ErrorClass, Incident, Projection, Severity, Timestamp};
use aftermath_log::{LogError, LoggedFact, Offset, Partition, SharedLog};
use tokio::sync::watch;
use uuid::Uuid;

use crate::{SharedStore, StoreError};

/// See [`Projector::with_takeover_after`].
pub const DEFAULT_TAKEOVER_AFTER: Duration = Duration::from_secs(20);
const STALL_SCAN_INTERVAL: Duration = Duration::from_secs(1);

/// A live batch of at least this many facts means appends keep arriving while the
/// projector folds: the log is under sustained ingest load.
const BUSY_BATCH: usize = 100;
/// How long the projector lets facts accumulate before its next batch under such load.
/// Each batch pays a fixed cost (reading the checkpoint, loading, re-encoding and writing
/// every incident it touches, one transaction), so fewer, larger batches leave more of
/// the CPU to the requests that ingest; it delays what the read API shows by at most
/// this much, and only while busy.
const BUSY_PAUSE: Duration = Duration::from_millis(5);

/// The pause before the next live batch, given the largest batch of the last round: none
/// when idle or lightly loaded (every fact shows as soon as possible), none when behind (a
/// full batch: catch up at once), [`BUSY_PAUSE`] in between.
fn pause_before_next_batch(largest_batch: usize, batch_size: usize) -> Option<Duration> {
    (largest_batch >= BUSY_BATCH && largest_batch < batch_size).then_some(BUSY_PAUSE)
}

/// What the projector remembers about partitions owned elsewhere.
#[derive(Default)]
struct StallWatch {
    /// Per partition: the checkpoint last seen and since when it has not moved.
    since: BTreeMap<Partition, (Offset, Instant)>,
    stalled: Vec<Partition>,
    scanned: Option<Instant>,
}

type ReadResult = Result<Vec<LoggedFact>, LogError>;

/// Next offset to fold, per partition, as last committed by this projector.
pub type ProjectorPositions = BTreeMap<Partition, Offset>;

/// Told what the projector did, for metrics. The binary passes one in
/// ([`Projector::with_observer`]), so this crate needs no metrics library. Called on the
/// projector's task between batches: implementations must be quick and must not fail.
pub trait ProjectorObserver: Send + Sync {
    /// A batch was folded and committed with its checkpoint.
    fn batch_committed(&self, batch: &CommittedBatch);
    /// Reading, folding or committing a batch of `partition` failed; it will be retried
    /// from the stored checkpoint.
    fn batch_failed(&self, partition: Partition, error: &StoreError);
}

/// What one committed batch did.
#[derive(Clone, Debug, PartialEq)]
pub struct CommittedBatch {
    pub partition: Partition,
    /// The checkpoint moved from `from` to `to`.
    pub from: Offset,
    pub to: Offset,
    /// Facts folded (`to - from` on a log with dense offsets).
    pub facts: usize,
    /// How long the transaction writing the rows and the checkpoint took.
    pub commit_duration: Duration,
    /// Incidents this batch acknowledged or resolved.
    pub milestones: Vec<IncidentMilestone>,
}

/// An incident reaching a milestone of the SOP's workflow in a committed batch.
#[derive(Clone, Debug, PartialEq)]
pub struct IncidentMilestone {
    pub milestone: Milestone,
    pub severity: Severity,
    /// The class in force ([`Incident::error_class`]) when the batch was committed.
    pub class: Option<ErrorClass>,
    /// From opening to the milestone, both as recorded on the facts (`recorded_at`).
    pub after_opening: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Milestone {
    Acknowledged,
    Resolved,
}

/// Each incident's (`acknowledged_at`, `resolved_at`) before a batch was folded.
type MilestoneTimes = BTreeMap<Uuid, (Option<Timestamp>, Option<Timestamp>)>;

fn milestone_times(projection: &Projection) -> MilestoneTimes {
    projection
        .incidents
        .iter()
        .map(|(id, incident)| (*id, (incident.acknowledged_at, incident.resolved_at)))
        .collect()
}

/// The milestones a batch set: a time that is new since `before` (an incident the batch
/// opened had none). A reopened and resolved-again incident counts again.
fn milestones_reached(before: &MilestoneTimes, after: &Projection) -> Vec<IncidentMilestone> {
    let mut reached = Vec::new();
    for (id, incident) in &after.incidents {
        let (acknowledged, resolved) = before.get(id).copied().unwrap_or_default();
        let changes = [
            (
                Milestone::Acknowledged,
                acknowledged,
                incident.acknowledged_at,
            ),
            (Milestone::Resolved, resolved, incident.resolved_at),
        ];
        for (milestone, was, now) in changes {
            if let Some(at) = now.filter(|at| Some(*at) != was) {
                reached.push(milestone_of(incident, milestone, at));
            }
        }
    }
    reached
}

fn milestone_of(incident: &Incident, milestone: Milestone, at: Timestamp) -> IncidentMilestone {
    let elapsed = at.datetime() - incident.opened_at.datetime();
    IncidentMilestone {
        milestone,
        severity: incident.severity,
        class: incident.error_class(),
        // A milestone recorded before the opening (clock skew between API replicas) is 0.
        after_opening: Duration::try_from(elapsed).unwrap_or(Duration::ZERO),
    }
}

/// The ids of `batch` its streams have not folded yet (per stream), which folding it adds
/// to their `seen_facts`.
fn newly_folded(projection: &Projection, batch: &[LoggedFact]) -> BTreeMap<String, BTreeSet<Uuid>> {
    let mut folded: BTreeMap<String, BTreeSet<Uuid>> = BTreeMap::new();
    for logged in batch {
        let fact = &logged.fact;
        let seen = projection
            .streams
            .get(&fact.stream_key)
            .is_some_and(|stream| stream.seen_facts.contains(&fact.fact_id));
        if !seen {
            folded
                .entry(fact.stream_key.clone())
                .or_default()
                .insert(fact.fact_id);
        }
    }
    folded
}

/// Replaces every stream's `seen_facts` with its entry of `seen` (none: empty) and
/// returns the ones replaced, so a second call with them puts them back.
fn swap_seen_facts(
    projection: &mut Projection,
    mut seen: BTreeMap<String, BTreeSet<Uuid>>,
) -> BTreeMap<String, BTreeSet<Uuid>> {
    let mut replaced = BTreeMap::new();
    for (key, stream) in &mut projection.streams {
        let ids = seen.remove(key).unwrap_or_default();
        replaced.insert(key.clone(), std::mem::replace(&mut stream.seen_facts, ids));
    }
    replaced
}

/// Above this many carried incidents (or streams, times four) a catch-up forgets the
/// carried rows, which bounds its memory (an incident with its alerts and timeline is a
/// few to tens of KiB); they are then loaded from the store again as needed.
const MAX_CARRIED_INCIDENTS: usize = 20_000;

/// Above this many folded fact ids in the carried streams (about 40 bytes each in memory)
/// a catch-up forgets the carried rows too.
const MAX_CARRIED_FACT_IDS: usize = 4_000_000;

/// The rows a catch-up committed with its last batch, kept in memory so the next batch
/// takes them over instead of loading and decoding them again: most batches of a replay
/// touch the streams and incidents the previous one did. They equal the stored rows
/// exactly as long as the stored checkpoint is still `next_offset` (only a commit from
/// that checkpoint could change them), which every batch checks before using them.
#[derive(Default)]
struct CarriedRows {
    next_offset: Option<Offset>,
    rows: Projection,
}

impl CarriedRows {
    /// Moves out the carried rows a batch needs (its streams, their current incidents and
    /// the incidents it names) and says which of them must still be loaded.
    fn take(
        &mut self,
        stream_keys: &BTreeSet<String>,
        incident_ids: &BTreeSet<Uuid>,
    ) -> (Projection, BTreeSet<String>, BTreeSet<Uuid>) {
        let mut taken = Projection::default();
        let mut missing_streams = BTreeSet::new();
        let mut wanted = incident_ids.clone();
        for key in stream_keys {
            match self.rows.streams.remove(key) {
                Some(stream) => {
                    wanted.extend(stream.current_incident);
                    taken.streams.insert(key.clone(), stream);
                }
                None => {
                    missing_streams.insert(key.clone());
                }
            }
        }
        let mut missing_incidents = BTreeSet::new();
        for id in wanted {
            match self.rows.incidents.remove(&id) {
                Some(incident) => {
                    taken.incidents.insert(id, incident);
                }
                None => {
                    missing_incidents.insert(id);
                }
            }
        }
        (taken, missing_streams, missing_incidents)
    }

    /// The folded fact ids the carried streams hold.
    fn fact_ids(&self) -> usize {
        let streams = self.rows.streams.values();
        streams.map(|stream| stream.seen_facts.len()).sum()
    }

    /// Keeps a committed batch's rows, current at checkpoint `next_offset`.
    fn keep(&mut self, committed: Projection, next_offset: Offset) {
        self.next_offset = Some(next_offset);
        if self.rows.incidents.len() + committed.incidents.len() > MAX_CARRIED_INCIDENTS
            || self.rows.streams.len() + committed.streams.len() > 4 * MAX_CARRIED_INCIDENTS
            || self.fact_ids() > MAX_CARRIED_FACT_IDS
        {
            self.rows = Projection::default();
        }
        self.rows.streams.extend(committed.streams);
        self.rows.incidents.extend(committed.incidents);
        // Changes are insert-only and never loaded: nothing to carry.
    }
}

/// Folds the log into the projection store.
pub struct Projector {
    log: SharedLog,
    store: SharedStore,
    batch_size: usize,
    /// Fold a partition owned elsewhere once its checkpoint has stood still this long
    /// while the log holds more (`None`: never).
    takeover_after: Option<Duration>,
    positions: watch::Sender<ProjectorPositions>,
    observer: Option<Arc<dyn ProjectorObserver>>,
}

impl Projector {
    pub fn new(log: SharedLog, store: SharedStore, batch_size: usize) -> Self {
        Self {
            log,
            store,
            batch_size: batch_size.max(1),
            takeover_after: Some(DEFAULT_TAKEOVER_AFTER),
            positions: watch::Sender::new(ProjectorPositions::new()),
            observer: None,
        }
    }

    /// Reports every committed and failed batch to `observer` (metrics).
    pub fn with_observer(mut self, observer: Arc<dyn ProjectorObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// How long a partition owned elsewhere may stand still before this projector folds
    /// it too (`None`: never).
    pub fn with_takeover_after(mut self, takeover_after: Option<Duration>) -> Self {
        self.takeover_after = takeover_after;
        self
    }

    /// Follows the committed positions, e.g. to answer a request once its fact is folded.
    pub fn positions(&self) -> watch::Receiver<ProjectorPositions> {
        self.positions.subscribe()
    }

    /// Folds at most one batch of `partition`; returns how many facts it folded.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn project_batch(&self, partition: Partition) -> Result<usize, StoreError> {
        let folded = self.fold_batch(partition).await;
        if let (Err(error), Some(observer)) = (&folded, &self.observer) {
            observer.batch_failed(partition, error);
        }
        folded
    }

    async fn fold_batch(&self, partition: Partition) -> Result<usize, StoreError> {
        let from = self.stored_checkpoint(partition).await?;
        let batch = self.log.read(partition, from, self.batch_size).await?;
        self.fold_read_batch(partition, from, batch, None).await
    }

    async fn stored_checkpoint(&self, partition: Partition) -> Result<Offset, StoreError> {
        Ok(self
            .store
            .checkpoints()
            .await?
            .get(&partition)
            .copied()
            .unwrap_or(0))
    }

    /// Folds `batch`, read from offset `from` of `partition`, and commits it. With
    /// `carried`, the rows the previous batch committed are taken from there instead of
    /// being loaded and decoded again, and this batch's rows are left there afterwards.
    async fn fold_read_batch(
        &self,
        partition: Partition,
        from: Offset,
        batch: Vec<LoggedFact>,
        mut carried: Option<&mut CarriedRows>,
    ) -> Result<usize, StoreError> {
        let Some(last) = batch.last() else {
            self.publish(partition, from);
            return Ok(0);
        };
        let to = last.offset + 1;
        let stream_keys: BTreeSet<String> = batch
            .iter()
            .map(|logged| logged.fact.stream_key.clone())
            .collect();
        let incident_ids: BTreeSet<_> = batch
            .iter()
            .filter_map(|logged| Projection::referenced_incident(&logged.fact))
            .collect();
        let mut projection = match carried.as_deref_mut() {
            Some(carried) if carried.next_offset == Some(from) => {
                // Only what the carried rows lack is loaded; the rest moves over.
                let (mut projection, missing_streams, missing_incidents) =
                    carried.take(&stream_keys, &incident_ids);
                if !missing_streams.is_empty() || !missing_incidents.is_empty() {
                    let loaded = self
                        .store
                        .load(&missing_streams, &missing_incidents)
                        .await?;
                    for (key, stream) in loaded.streams {
                        projection.streams.entry(key).or_insert(stream);
                    }
                    for (id, incident) in loaded.incidents {
                        projection.incidents.entry(id).or_insert(incident);
                    }
                }
                projection
            }
            _ => self.store.load(&stream_keys, &incident_ids).await?,
        };
        // Only an observer wants milestones; rebuilds skip the copy.
        let before = self.observer.as_ref().map(|_| milestone_times(&projection));
        let folded_now = newly_folded(&projection, &batch);
        for logged in &batch {
            projection.apply(&logged.fact);
        }
        // The store adds the ids it is given to the stream's stored ones: it gets only
        // this batch's, so a commit does not rewrite every id the stream ever folded.
        let all_seen = swap_seen_facts(&mut projection, folded_now);
        let commit_started = Instant::now();
        let committed = self.store.commit(&projection, partition, from, to).await;
        let commit_duration = commit_started.elapsed();
        swap_seen_facts(&mut projection, all_seen);
        if let Err(error) = committed {
            if let Some(carried) = carried {
                // The rows taken out were folded but not written: start afresh.
                *carried = CarriedRows::default();
            }
            return Err(error);
        }
        self.publish(partition, to);
        self.log.checkpointed(partition, to).await;
        if let (Some(observer), Some(before)) = (&self.observer, before) {
            observer.batch_committed(&CommittedBatch {
                partition,
                from,
                to,
                facts: batch.len(),
                commit_duration,
                milestones: milestones_reached(&before, &projection),
            });
        }
        if let Some(carried) = carried {
            carried.keep(projection, to);
        }
        Ok(batch.len())
    }

    fn publish(&self, partition: Partition, next_offset: Offset) {
        self.positions.send_if_modified(|positions| {
            positions.insert(partition, next_offset) != Some(next_offset)
        });
    }

    /// Folds every partition up to the log's current end, reporting progress as
    /// `(folded so far, total to fold)`.
    pub async fn catch_up(&self, mut progress: impl FnMut(u64, u64)) -> Result<u64, StoreError> {
        let checkpoints = self.store.checkpoints().await?;
        let mut total = 0;
        for partition in 0..self.log.partitions() {
            let end = self.log.end_offset(partition).await?;
            let from = checkpoints.get(&partition).copied().unwrap_or(0);
            total += end.saturating_sub(from);
        }
        let mut done = 0;
        progress(done, total);
        for partition in 0..self.log.partitions() {
            let end = self.log.end_offset(partition).await?;
            let mut carried = CarriedRows::default();
            // The next batch is read from the log while this one is folded and committed,
            // so reading and decoding facts runs beside the fold on another core.
            let mut prefetched: Option<(Offset, tokio::task::JoinHandle<ReadResult>)> = None;
            // A remote log may answer an empty read while it is still connecting: only
            // many empty reads in a row mean it will not deliver what it claims to hold.
            let mut empty_reads = 0;
            loop {
                let position = self
                    .positions
                    .borrow()
                    .get(&partition)
                    .copied()
                    .unwrap_or(0);
                if position >= end {
                    break;
                }
                let folded = self
                    .catch_up_batch(partition, end, &mut prefetched, &mut carried)
                    .await;
                if let (Err(error), Some(observer)) = (&folded, &self.observer) {
                    observer.batch_failed(partition, error);
                }
                let folded = folded? as u64;
                done += folded;
                progress(done.min(total), total);
                empty_reads = if folded == 0 { empty_reads + 1 } else { 0 };
                if empty_reads > 100 {
                    return Err(StoreError::Log(aftermath_log::LogError::Unavailable(format!(
                        "partition {partition} ends at offset {end} but delivers nothing after {position}"
                    ))));
                }
            }
        }
        Ok(done)
    }

    /// One batch of a catch-up: takes the prefetched read if it starts at the stored
    /// checkpoint (otherwise reads afresh), starts reading the batch after it (up to
    /// `end`), and folds it with the carried rows.
    async fn catch_up_batch(
        &self,
        partition: Partition,
        end: Offset,
        prefetched: &mut Option<(Offset, tokio::task::JoinHandle<ReadResult>)>,
        carried: &mut CarriedRows,
    ) -> Result<usize, StoreError> {
        let from = self.stored_checkpoint(partition).await?;
        let batch = match prefetched.take() {
            Some((at, reading)) if at == from => reading.await.map_err(|error| {
                LogError::Unavailable(format!("reading the log stopped: {error}"))
            })??,
            _ => self.log.read(partition, from, self.batch_size).await?,
        };
        if let Some(next) = batch.last().map(|last| last.offset + 1) {
            if next < end {
                let log = self.log.clone();
                let batch_size = self.batch_size;
                let reading =
                    tokio::spawn(async move { log.read(partition, next, batch_size).await });
                *prefetched = Some((next, reading));
            }
        }
        self.fold_read_batch(partition, from, batch, Some(carried))
            .await
    }

    /// Partitions nobody here owns whose checkpoint has not moved for `takeover_after`
    /// while the log holds more: their owner is gone and the group has not noticed (a
    /// coordinator that does not expire dead members, as seen with tansu 0.6). Folding
    /// them here is safe because commits compare-and-set the checkpoint; it only costs
    /// wasted work if the owner was merely slow.
    async fn stalled_partitions(
        &self,
        owned: &[Partition],
        watch: &mut StallWatch,
    ) -> Vec<Partition> {
        let Some(takeover_after) = self.takeover_after else {
            return Vec::new();
        };
        if watch
            .scanned
            .is_some_and(|at| at.elapsed() < STALL_SCAN_INTERVAL)
        {
            return watch.stalled.clone();
        }
        watch.scanned = Some(Instant::now());
        let Ok(checkpoints) = self.store.checkpoints().await else {
            return watch.stalled.clone();
        };
        let taken_over = std::mem::take(&mut watch.stalled);
        for partition in (0..self.log.partitions()).filter(|p| !owned.contains(p)) {
            let Ok(end) = self.log.end_offset(partition).await else {
                continue;
            };
            let checkpoint = checkpoints.get(&partition).copied().unwrap_or(0);
            if checkpoint >= end {
                watch.since.remove(&partition);
                continue;
            }
            // Once taken over, a partition stays here until it has caught up.
            if taken_over.contains(&partition) {
                watch.stalled.push(partition);
                continue;
            }
            let since = match watch.since.get(&partition) {
                Some((seen, since)) if *seen == checkpoint => *since,
                _ => {
                    watch.since.insert(partition, (checkpoint, Instant::now()));
                    continue;
                }
            };
            if since.elapsed() >= takeover_after {
                tracing::warn!(
                    partition,
                    checkpoint,
                    end,
                    "partition owned elsewhere has not moved; folding it here"
                );
                watch.stalled.push(partition);
            }
        }
        watch.stalled.clone()
    }

    /// Follows the log until `shutdown` resolves. Errors are logged and retried with
    /// backoff: the checkpoint makes a retried batch safe.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut backoff = Duration::from_millis(100);
        let mut stalls = StallWatch::default();
        loop {
            let mut folded_any = false;
            let mut largest_batch = 0;
            let mut failed = false;
            let mut partitions = self.log.owned_partitions().await;
            partitions.extend(self.stalled_partitions(&partitions, &mut stalls).await);
            for partition in partitions {
                match self.project_batch(partition).await {
                    Ok(folded) => {
                        folded_any |= folded > 0;
                        largest_batch = largest_batch.max(folded);
                    }
                    Err(StoreError::CheckpointMoved { .. }) => {
                        // Another projector folded this batch first (a rebalance moved
                        // the partition); the next round starts from its checkpoint.
                        tracing::info!(partition, "checkpoint moved under us; reloading");
                        folded_any = true;
                    }
                    Err(error) => {
                        tracing::error!(%error, partition, "projector batch failed; retrying");
                        failed = true;
                    }
                }
            }
            if failed {
                tokio::select! {
                    _ = &mut shutdown => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
            backoff = Duration::from_millis(100);
            if folded_any {
                if let Some(pause) = pause_before_next_batch(largest_batch, self.batch_size) {
                    tokio::select! {
                        _ = &mut shutdown => return,
                        _ = tokio::time::sleep(pause) => {}
                    }
                }
                continue;
            }
            tokio::select! {
                _ = &mut shutdown => return,
                _ = self.log.appended() => {}
                // A safety net for appends made by another process on the same log.
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use aftermath_core::{normalize_alertmanager, Acknowledged, Fact, FactBody, Resolved};

    use super::*;

    const FIRING: &str =
        include_str!("../../../tests/fixtures/alertmanager/01-checkout-firing.json");

    fn at(text: &str) -> Timestamp {
        Timestamp::parse(text).unwrap()
    }

    fn responder_fact(n: u128, incident: &Incident, recorded_at: &str, body: FactBody) -> Fact {
        Fact {
            fact_id: Uuid::from_u128(n),
            stream_key: incident.stream_key.clone(),
            occurred_at: at(recorded_at),
            recorded_at: at(recorded_at),
            body,
        }
    }

    fn opened() -> Projection {
        let mut projection = Projection::default();
        for fact in normalize_alertmanager(FIRING.as_bytes(), at("2026-11-24T07:00:00Z")).unwrap() {
            projection.apply(&fact);
        }
        projection
    }

    #[test]
    fn the_live_projector_pauses_only_between_busy_batches_that_are_not_full() {
        let batch_size = 500;
        // Idle or light load: the next batch starts at once, so facts show at once.
        assert_eq!(pause_before_next_batch(0, batch_size), None);
        assert_eq!(pause_before_next_batch(BUSY_BATCH - 1, batch_size), None);
        // Sustained load: let the next batch grow.
        assert_eq!(
            pause_before_next_batch(BUSY_BATCH, batch_size),
            Some(BUSY_PAUSE)
        );
        assert_eq!(
            pause_before_next_batch(batch_size - 1, batch_size),
            Some(BUSY_PAUSE)
        );
        // Behind (a full batch): catch up without pausing.
        assert_eq!(pause_before_next_batch(batch_size, batch_size), None);
        // A batch size below the busy mark never pauses.
        assert_eq!(pause_before_next_batch(3, 3), None);
    }

    #[test]
    fn a_batch_reports_each_acknowledgement_and_resolution_it_folds_once() {
        let mut projection = opened();
        let incident = projection.incidents.values().next().unwrap().clone();
        let before = milestone_times(&projection);
        assert_eq!(milestones_reached(&before, &projection), vec![]);

        let ack = FactBody::Acknowledged(Acknowledged {
            incident_id: incident.id,
            actor: "alice".into(),
            note: None,
        });
        projection.apply(&responder_fact(1, &incident, "2026-11-24T07:04:00Z", ack));
        let resolve = FactBody::Resolved(Resolved {
            incident_id: incident.id,
            actor: "alice".into(),
            resolution: None,
        });
        projection.apply(&responder_fact(
            2,
            &incident,
            "2026-11-24T08:00:00Z",
            resolve,
        ));

        let reached = milestones_reached(&before, &projection);
        let expected = |milestone, seconds| IncidentMilestone {
            milestone,
            severity: incident.severity,
            class: incident.error_class(),
            after_opening: Duration::from_secs(seconds),
        };
        assert_eq!(
            reached,
            vec![
                expected(Milestone::Acknowledged, 4 * 60),
                expected(Milestone::Resolved, 60 * 60)
            ]
        );
        // The next batch starts from these times: nothing is reported twice.
        let next_before = milestone_times(&projection);
        assert_eq!(milestones_reached(&next_before, &projection), vec![]);
    }

    #[test]
    fn a_commit_is_given_only_the_ids_its_batch_folded_and_the_rest_come_back_after() {
        let facts = normalize_alertmanager(FIRING.as_bytes(), at("2026-11-24T07:00:00Z")).unwrap();
        let logged = |offset: usize, fact: &Fact| LoggedFact {
            partition: 0,
            offset: offset as Offset,
            fact: fact.clone(),
        };
        let key = facts[0].stream_key.clone();
        // The first fact was folded by an earlier batch; this batch holds it again (a
        // repeat on the log), the second fact twice, and the rest once.
        let mut projection = Projection::default();
        projection.apply(&facts[0]);
        let mut batch = vec![logged(0, &facts[0]), logged(1, &facts[1])];
        batch.extend(
            facts
                .iter()
                .enumerate()
                .skip(1)
                .map(|(n, f)| logged(n + 1, f)),
        );
        let folded_now = newly_folded(&projection, &batch);
        let expected: BTreeSet<Uuid> = facts[1..].iter().map(|f| f.fact_id).collect();
        assert_eq!(
            folded_now,
            BTreeMap::from([(key.clone(), expected.clone())])
        );

        for logged in &batch {
            projection.apply(&logged.fact);
        }
        let everything = projection.streams[&key].seen_facts.clone();
        let all_seen = swap_seen_facts(&mut projection, folded_now);
        assert_eq!(projection.streams[&key].seen_facts, expected);
        swap_seen_facts(&mut projection, all_seen);
        assert_eq!(projection.streams[&key].seen_facts, everything);
        assert_eq!(everything.len(), facts.len());
    }

    #[test]
    fn an_incident_opened_and_acknowledged_in_one_batch_counts() {
        let before = milestone_times(&Projection::default());
        let mut projection = opened();
        let incident = projection.incidents.values().next().unwrap().clone();
        let ack = FactBody::Acknowledged(Acknowledged {
            incident_id: incident.id,
            actor: "bob".into(),
            note: None,
        });
        projection.apply(&responder_fact(1, &incident, "2026-11-24T07:00:30Z", ack));
        let reached = milestones_reached(&before, &projection);
        assert_eq!(reached.len(), 1, "{reached:?}");
        assert_eq!(reached[0].milestone, Milestone::Acknowledged);
        assert_eq!(reached[0].after_opening, Duration::from_secs(30));
    }
}
