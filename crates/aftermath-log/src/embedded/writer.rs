//! Group commit: the embedded log's single writer thread takes every queued append, writes
//! them in one SQLite transaction with one fsync, and answers each caller with its own
//! outcomes.
//!
//! One thread owns the only writing connection, so offsets are assigned without a lock and
//! in commit order. While it waits for one fsync, the next appends queue up and share the
//! next one: the cost of durability is paid per group, not per request.

use std::collections::HashSet;
use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aftermath_core::Fact;
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::{oneshot, Notify, OwnedSemaphorePermit};
use uuid::Uuid;

use super::id_filter::IndexedIdFilter;
use super::recent_ids::RecentFactIds;
use super::tail::CommittedTail;
use crate::Offset;

/// Ids read per query while filling the recent-id set at open.
const SEED_CHUNK: usize = 8192;

/// What the writer and the appending callers share.
pub(crate) struct Shared {
    /// Ids known to be durable: filled only after a commit, and at open from the log.
    pub(crate) recent: Mutex<RecentFactIds>,
    /// The offset the next new fact gets, published after each commit.
    pub(crate) end_offset: AtomicU64,
    /// Transactions committed since open (for tests and metrics).
    pub(crate) transactions_committed: AtomicU64,
    /// Wakes readers (the projector) after a commit that added facts.
    pub(crate) appended: Notify,
    /// The newest committed facts, decoded, for the live projector.
    pub(crate) tail: Mutex<CommittedTail>,
    /// Set by the first read: until something reads, no appender hands its facts over
    /// (a process that serves only the API has no reader to keep them for).
    pub(crate) tail_wanted: AtomicBool,
}

impl Shared {
    pub(crate) fn new(recent_fact_ids: usize, tail_bytes: usize) -> Self {
        Self {
            recent: Mutex::new(RecentFactIds::new(recent_fact_ids)),
            end_offset: AtomicU64::new(0),
            transactions_committed: AtomicU64::new(0),
            appended: Notify::new(),
            tail: Mutex::new(CommittedTail::new(tail_bytes)),
            tail_wanted: AtomicBool::new(false),
        }
    }

    /// The committed tail; like the recent-id set, usable after a panic elsewhere.
    pub(crate) fn tail(&self) -> std::sync::MutexGuard<'_, CommittedTail> {
        self.tail.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether appenders should hand their facts over for the tail.
    pub(crate) fn tail_wanted(&self) -> bool {
        self.tail_wanted.load(Ordering::Relaxed)
    }

    /// The recent-id set; a panic elsewhere cannot leave it inconsistent (every method
    /// finishes its update before returning), so a poisoned lock is still usable.
    pub(crate) fn recent(&self) -> std::sync::MutexGuard<'_, RecentFactIds> {
        self.recent.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One fact, serialized by its caller so the writer thread only inserts.
pub(crate) struct EncodedFact {
    pub(crate) fact_id: Uuid,
    stream_key: String,
    fact_type: &'static str,
    body: String,
    /// The fact itself when its caller handed it over, for the committed tail.
    decoded: Option<Fact>,
}

impl EncodedFact {
    pub(crate) fn new(fact: &Fact) -> Self {
        Self {
            fact_id: fact.fact_id,
            stream_key: fact.stream_key.clone(),
            fact_type: fact.body.type_name(),
            body: fact.to_json(),
            decoded: None,
        }
    }

    /// Encodes `fact` and keeps it, to be moved into the committed tail once written.
    pub(crate) fn keeping(fact: Fact) -> Self {
        let mut encoded = Self::new(&fact);
        encoded.decoded = Some(fact);
        encoded
    }

    /// Roughly the memory its encoding holds (what group limits count).
    pub(crate) fn bytes(&self) -> usize {
        16 + self.stream_key.len() + self.body.len()
    }

    /// Roughly the memory it holds while queued: a kept fact, decoded, takes about twice
    /// its encoding again (strings and maps allocated one by one).
    pub(crate) fn queued_bytes(&self) -> usize {
        let decoded = if self.decoded.is_some() {
            2 * self.body.len()
        } else {
            0
        };
        self.bytes() + decoded
    }
}

/// Why a group's transaction failed; every caller in the group gets it.
#[derive(Clone, Debug)]
pub(crate) struct GroupCommitFailed(Arc<str>);

impl fmt::Display for GroupCommitFailed {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

/// Per queued fact, in the caller's order: `Some(offset)` when written, `None` when its id
/// was already on the log (or earlier in the same group).
pub(crate) type Outcomes = Vec<Option<Offset>>;

/// One caller's append, waiting in the queue.
pub(crate) struct AppendRequest {
    pub(crate) facts: Vec<EncodedFact>,
    pub(crate) reply: oneshot::Sender<Result<Outcomes, GroupCommitFailed>>,
    /// The request's share of the queue's byte budget, given back once it is answered.
    pub(crate) _queue_room: Option<OwnedSemaphorePermit>,
}

/// How much one transaction takes at most. A request is never split: one larger than the
/// budget is a group on its own.
#[derive(Clone, Copy, Debug)]
pub(crate) struct GroupLimits {
    pub(crate) max_bytes: usize,
    pub(crate) max_facts: usize,
    /// New ids gathered before they go into the `fact_ids` index (deferred layout only).
    pub(crate) max_unindexed_ids: usize,
}

/// How a log file stores fact ids (its `user_version`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IdLayout {
    /// Version 0, files written before 2026-11-24: the id's 36-character text, `UNIQUE`.
    Text,
    /// Version 2: the id's 16 bytes, `UNIQUE` (an index insert at a random place per id).
    Bytes,
    /// Version 3, every new file: the 16 bytes, uniqueness kept by the writer against
    /// the ids it holds and the `fact_ids` index, which it fills in bulk ([`Unindexed`]).
    Deferred,
}

impl IdLayout {
    const TEXT_VERSION: i64 = 0;
    const BYTES_VERSION: i64 = 2;
    const DEFERRED_VERSION: i64 = 3;

    /// Creates the schema in a new file, or finds the layout of an existing one; a file
    /// of an unknown (newer) layout is an error rather than something to write into.
    fn prepare(connection: &mut Connection) -> rusqlite::Result<Self> {
        // IMMEDIATE: two processes opening a new file at once create the table only once.
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let has_facts: bool = transaction.query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'facts')",
            (),
            |row| row.get(0),
        )?;
        let version: i64 = transaction.query_row("PRAGMA user_version", (), |row| row.get(0))?;
        let layout = match (has_facts, version) {
            (false, _) => {
                transaction.execute_batch(super::SCHEMA)?;
                IdLayout::Deferred
            }
            (true, Self::TEXT_VERSION) => IdLayout::Text,
            (true, Self::BYTES_VERSION) => IdLayout::Bytes,
            (true, Self::DEFERRED_VERSION) => IdLayout::Deferred,
            (true, other) => {
                return Err(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
                    Some(format!(
                        "the log file has layout version {other}, which this build does not know \
                     (it knows {}, {} and {}): it was written by a newer Aftermath",
                        Self::TEXT_VERSION,
                        Self::BYTES_VERSION,
                        Self::DEFERRED_VERSION
                    )),
                ))
            }
        };
        transaction.commit()?;
        Ok(layout)
    }

    /// The stored form of `id` from a row, `None` if it is not one this build wrote.
    fn read(value: rusqlite::types::ValueRef<'_>) -> Option<Uuid> {
        match value {
            rusqlite::types::ValueRef::Blob(bytes) => Uuid::from_slice(bytes).ok(),
            rusqlite::types::ValueRef::Text(text) => Uuid::try_parse_ascii(text).ok(),
            _ => None,
        }
    }
}

/// Ids on a deferred-layout log that are not in its `fact_ids` index yet: those of the
/// facts from `indexed_below` on. Uniqueness is checked against them and the index, which
/// is looked up only for ids its filter may hold.
struct Unindexed {
    ids: HashSet<Uuid>,
    indexed_below: Offset,
    /// Every id in `fact_ids` (and possibly a few more).
    in_index: IndexedIdFilter,
    /// Index them once this many have gathered.
    index_at: usize,
}

impl Unindexed {
    /// What the file holds: the index's boundary, every id stored beyond it, and the
    /// filter over the index, read whole (about 0.14 s per million ids).
    fn load(connection: &Connection, max: usize) -> rusqlite::Result<Self> {
        let indexed_below: i64 =
            connection.query_row("SELECT below_offset FROM fact_ids_indexed", (), |row| {
                row.get(0)
            })?;
        // Each fact below the boundary has its id in the index, once: that many ids, and
        // room for as many again before the filter grows.
        let started = std::time::Instant::now();
        let mut in_index = IndexedIdFilter::with_capacity(2 * indexed_below as usize);
        let mut statement = connection.prepare("SELECT fact_id FROM fact_ids")?;
        let mut rows = statement.query(())?;
        let mut loaded = 0u64;
        while let Some(row) = rows.next()? {
            // A value this build cannot read can never equal a new id's 16 bytes.
            if let Some(id) = IdLayout::read(row.get_ref(0)?) {
                in_index.insert(&id);
                loaded += 1;
            }
        }
        drop(rows);
        tracing::debug!(
            ids = loaded,
            filter_bytes = in_index.bytes(),
            elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
            "filter over the log's fact-id index loaded"
        );
        let mut statement =
            connection.prepare("SELECT fact_id FROM facts WHERE log_offset >= ?1")?;
        let ids = statement
            .query_map([indexed_below], |row| Ok(IdLayout::read(row.get_ref(0)?)))?
            .filter_map(|id| id.transpose())
            .collect::<rusqlite::Result<HashSet<Uuid>>>()?;
        Ok(Self {
            ids,
            indexed_below: indexed_below as Offset,
            in_index,
            index_at: max,
        })
    }
}

/// The thread that owns the log's only writing connection.
pub(crate) struct Writer {
    connection: Connection,
    id_layout: IdLayout,
    /// `Some` exactly for the deferred layout.
    unindexed: Option<Unindexed>,
    next_offset: Offset,
    shared: Arc<Shared>,
    limits: GroupLimits,
}

impl Writer {
    /// Opens the writing connection to an existing (possibly empty) log file and puts the
    /// schema in place if it is not.
    pub(crate) fn open(
        path: &Path,
        shared: Arc<Shared>,
        limits: GroupLimits,
    ) -> rusqlite::Result<Self> {
        let mut connection = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        // FULL: a 2xx promises the fact survives a power cut, not just a process kill.
        connection.pragma_update(None, "synchronous", "FULL")?;
        connection.busy_timeout(Duration::from_secs(10))?;
        // The page cache stays at SQLite's 2 MiB: a larger one (64 MiB) helped on logs of
        // a million facts but cost more per commit (SQLite sweeps the cache after each),
        // and made small groups, the common case, slower.

        // Checkpoint every 4000 WAL pages (16 MiB) instead of 1000: a longer window
        // copies each page back once, not several times (about 15% more appends per
        // second in scripts/bench-ingest when ids went into a `UNIQUE` index per group).
        connection.pragma_update(None, "wal_autocheckpoint", 4000)?;
        let id_layout = IdLayout::prepare(&mut connection)?;
        let unindexed = match id_layout {
            IdLayout::Deferred => Some(Unindexed::load(&connection, limits.max_unindexed_ids)?),
            IdLayout::Text | IdLayout::Bytes => None,
        };
        let next_offset = stored_end_offset(&connection)?;
        shared.end_offset.store(next_offset, Ordering::Release);
        Ok(Self {
            connection,
            id_layout,
            unindexed,
            next_offset,
            shared,
            limits,
        })
    }

    /// Fills the recent-id set with the newest ids on the log, up to its capacity, so
    /// repeats right after a restart cost no write either. Returns how many it read.
    pub(crate) fn seed_recent_ids(&self) -> rusqlite::Result<usize> {
        let mut statement = self.connection.prepare(
            "SELECT log_offset, fact_id FROM facts WHERE log_offset < ?1
             ORDER BY log_offset DESC LIMIT ?2",
        )?;
        let mut below = self.next_offset;
        let mut seeded = 0;
        while below > 0 && !self.shared.recent().is_full() {
            let rows = statement
                .query_map((below as i64, SEED_CHUNK as i64), |row| {
                    Ok((row.get::<_, i64>(0)?, IdLayout::read(row.get_ref(1)?)))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let Some(&(last, _)) = rows.last() else { break };
            let mut recent = self.shared.recent();
            for (_, id) in &rows {
                if recent.is_full() {
                    break;
                }
                // Ids this build wrote always parse; anything else is left to `UNIQUE`.
                if let Some(id) = *id {
                    recent.insert(id);
                    seeded += 1;
                }
            }
            below = last as Offset;
        }
        Ok(seeded)
    }

    /// Serves the queue until every sender is gone (the log was dropped).
    pub(crate) fn run(mut self, mut queue: UnboundedReceiver<AppendRequest>) {
        while let Some(first) = queue.blocking_recv() {
            let mut group = self.take_group(first, &mut queue);
            // A caller that went away (its client disconnected) was never answered 2xx:
            // skip its facts rather than write them for nobody. It cannot affect others.
            group.retain(|request| !request.reply.is_closed());
            if !group.is_empty() {
                self.write_group(group);
            }
        }
    }

    /// `first` and whatever else is queued now, up to the group limits.
    fn take_group(
        &self,
        first: AppendRequest,
        queue: &mut UnboundedReceiver<AppendRequest>,
    ) -> Vec<AppendRequest> {
        let mut bytes = first.facts.iter().map(EncodedFact::bytes).sum::<usize>();
        let mut facts = first.facts.len();
        let mut group = vec![first];
        while bytes < self.limits.max_bytes && facts < self.limits.max_facts {
            match queue.try_recv() {
                Ok(request) => {
                    bytes += request.facts.iter().map(EncodedFact::bytes).sum::<usize>();
                    facts += request.facts.len();
                    group.push(request);
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        group
    }

    /// Writes `group` in one transaction and answers every caller in it: each its own
    /// outcomes, or all the same error (then nothing of the group was written).
    pub(crate) fn write_group(&mut self, mut group: Vec<AppendRequest>) {
        match self.commit(&group) {
            Ok(outcomes) => {
                let written = outcomes.iter().flatten().flatten().count() as Offset;
                // Only now are the ids durable: publish them, then the new end.
                {
                    let mut recent = self.shared.recent();
                    for request in &group {
                        for fact in &request.facts {
                            recent.insert(fact.fact_id);
                        }
                    }
                }
                // The written facts, decoded, for the projector; before the new end is
                // published, so a reader that sees the end finds them here.
                let mut tail = self.shared.tail();
                if !tail.is_off() {
                    for (request, offsets) in group.iter_mut().zip(&outcomes) {
                        for (fact, offset) in request.facts.iter_mut().zip(offsets) {
                            if let Some(offset) = *offset {
                                tail.push(offset, fact.decoded.take(), fact.body.len());
                            }
                        }
                    }
                }
                drop(tail);
                self.next_offset += written;
                self.shared
                    .end_offset
                    .store(self.next_offset, Ordering::Release);
                self.shared
                    .transactions_committed
                    .fetch_add(1, Ordering::Relaxed);
                if written > 0 {
                    // notify_one keeps a permit when the projector is not waiting yet, so
                    // no wake-up is lost.
                    self.shared.appended.notify_one();
                }
                for (request, outcomes) in group.into_iter().zip(outcomes) {
                    // A caller that left meanwhile: its facts are durable, a retry
                    // will see them as duplicates.
                    let _ = request.reply.send(Ok(outcomes));
                }
                // After the answers: the group's callers do not wait for the index.
                self.index_when_due();
            }
            Err(error) => {
                tracing::error!(%error, requests = group.len(), "group commit to the event log failed");
                // A failed COMMIT may or may not have reached the file; offsets resume
                // from what is stored, so they stay gap-free either way.
                if let Ok(stored) = stored_end_offset(&self.connection) {
                    self.next_offset = stored;
                    self.shared.end_offset.store(stored, Ordering::Release);
                }
                let failure = GroupCommitFailed(Arc::from(error.to_string()));
                for request in group {
                    let _ = request.reply.send(Err(failure.clone()));
                }
            }
        }
    }

    /// The transaction: facts inserted in queue order, each request's in its own order,
    /// offsets counted from `next_offset`. A fact id already stored, by an earlier
    /// transaction or earlier in this one, is a duplicate and takes no offset.
    fn commit(&mut self, group: &[AppendRequest]) -> rusqlite::Result<Vec<Outcomes>> {
        let id_layout = self.id_layout;
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut offset = self.next_offset;
        let mut outcomes = Vec::with_capacity(group.len());
        // Deferred layout: the ids this group adds, remembered only once it committed.
        let mut added = HashSet::new();
        {
            let mut insert = transaction.prepare_cached(match id_layout {
                IdLayout::Deferred => {
                    "INSERT INTO facts (log_offset, fact_id, stream_key, fact_type, body)
                     VALUES (?1, ?2, ?3, ?4, ?5)"
                }
                IdLayout::Text | IdLayout::Bytes => {
                    "INSERT INTO facts (log_offset, fact_id, stream_key, fact_type, body)
                     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (fact_id) DO NOTHING"
                }
            })?;
            let mut indexed = match &self.unindexed {
                Some(unindexed) => Some((
                    unindexed,
                    transaction.prepare_cached(
                        "SELECT EXISTS (SELECT 1 FROM fact_ids WHERE fact_id = ?1)",
                    )?,
                )),
                None => None,
            };
            let mut id_text = [0u8; uuid::fmt::Hyphenated::LENGTH];
            for request in group {
                let mut request_outcomes = Vec::with_capacity(request.facts.len());
                for fact in &request.facts {
                    let id_bytes = &fact.fact_id.as_bytes()[..];
                    let inserted = match id_layout {
                        IdLayout::Text => {
                            insert.execute((
                                offset as i64,
                                // `&str` binds as TEXT: the values the first layout holds.
                                &*fact.fact_id.hyphenated().encode_lower(&mut id_text),
                                &fact.stream_key,
                                fact.fact_type,
                                &fact.body,
                            ))? == 1
                        }
                        IdLayout::Bytes | IdLayout::Deferred => {
                            // Layout 2 leaves the check to `ON CONFLICT`; layout 3 does it here.
                            let known = match &mut indexed {
                                Some((unindexed, in_index)) => {
                                    unindexed.ids.contains(&fact.fact_id)
                                        || added.contains(&fact.fact_id)
                                        || (unindexed.in_index.may_contain(&fact.fact_id)
                                            && in_index.query_row([id_bytes], |row| {
                                                row.get::<_, bool>(0)
                                            })?)
                                }
                                None => false,
                            };
                            let inserted = !known
                                && insert.execute((
                                    offset as i64,
                                    id_bytes,
                                    &fact.stream_key,
                                    fact.fact_type,
                                    &fact.body,
                                ))? == 1;
                            if inserted && indexed.is_some() {
                                added.insert(fact.fact_id);
                            }
                            inserted
                        }
                    };
                    if inserted {
                        request_outcomes.push(Some(offset));
                        offset += 1;
                    } else {
                        request_outcomes.push(None);
                    }
                }
                outcomes.push(request_outcomes);
            }
        }
        // One fsync for the whole group (synchronous=FULL).
        transaction.commit()?;
        if let Some(unindexed) = &mut self.unindexed {
            unindexed.ids.extend(added);
        }
        Ok(outcomes)
    }

    /// Deferred layout: once enough ids have gathered, adds them to `fact_ids` in key
    /// order and moves the boundary, in one transaction. Sorted and in bulk, many ids
    /// share each index page written. A failure leaves everything as it was (the ids
    /// stay in memory, uniqueness holds); it is retried after another batch of ids.
    fn index_when_due(&mut self) {
        let Some(unindexed) = &mut self.unindexed else {
            return;
        };
        if unindexed.ids.len() < unindexed.index_at {
            return;
        }
        let (from, to) = (unindexed.indexed_below, self.next_offset);
        let started = std::time::Instant::now();
        // Before the transaction: should it fail, the filter holds a few ids the index
        // does not, which costs lookups only; the other way round would let a repeat in.
        for id in &unindexed.ids {
            unindexed.in_index.insert(id);
        }
        let indexed = (|| {
            let transaction = self
                .connection
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            transaction.execute(
                "INSERT INTO fact_ids (fact_id)
                 SELECT fact_id FROM facts WHERE log_offset >= ?1 AND log_offset < ?2
                 ORDER BY fact_id",
                (from as i64, to as i64),
            )?;
            transaction.execute("UPDATE fact_ids_indexed SET below_offset = ?1", [to as i64])?;
            transaction.commit()
        })();
        match indexed {
            Ok(()) => {
                // The writer takes no appends meanwhile: how long is worth knowing.
                tracing::debug!(
                    ids = unindexed.ids.len(),
                    elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
                    "fact ids added to the log's index"
                );
                unindexed.ids.clear();
                unindexed.indexed_below = to;
                unindexed.index_at = self.limits.max_unindexed_ids;
            }
            Err(error) => {
                tracing::warn!(%error, ids = unindexed.ids.len(), "adding fact ids to the log's index failed; retrying later");
                unindexed.index_at = unindexed.ids.len() + self.limits.max_unindexed_ids;
            }
        }
    }
}

fn stored_end_offset(connection: &Connection) -> rusqlite::Result<Offset> {
    let end: i64 = connection.query_row(
        "SELECT COALESCE(MAX(log_offset) + 1, 0) FROM facts",
        (),
        |row| row.get(0),
    )?;
    Ok(end as Offset)
}

#[cfg(test)]
mod tests {
    use aftermath_core::{FactBody, NoteAdded, Timestamp};

    use super::*;

    fn fact(id: u128, stream_key: &str) -> Fact {
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

    /// A writer on a fresh log file, without its thread: groups are written by hand.
    fn writer(dir: &tempfile::TempDir) -> Writer {
        let mut writer = writer_indexing_after(dir, 1000);
        writer.shared = Arc::new(Shared::new(100, 0));
        writer
    }

    /// A writer (on the file in `dir`, created if missing) that adds ids to the `fact_ids`
    /// index once `max_unindexed_ids` have gathered; no recent-id set, so every repeat
    /// reaches the writer.
    fn writer_indexing_after(dir: &tempfile::TempDir, max_unindexed_ids: usize) -> Writer {
        let path = dir.path().join("log.sqlite");
        Connection::open(&path).unwrap();
        let limits = GroupLimits {
            max_bytes: 1 << 20,
            max_facts: 1000,
            max_unindexed_ids,
        };
        Writer::open(&path, Arc::new(Shared::new(0, 0)), limits).unwrap()
    }

    /// A real SQLite failure for any fact on stream `poison`, wherever it is in a group.
    fn fail_inserts_on_the_poison_stream(writer: &Writer) {
        writer
            .connection
            .execute_batch(
                "CREATE TRIGGER poison BEFORE INSERT ON facts WHEN NEW.stream_key = 'poison'
                 BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
            )
            .unwrap();
    }

    /// Writes one group of one request holding `ids`, returning its outcomes.
    fn write(writer: &mut Writer, ids: &[u128]) -> Outcomes {
        let facts: Vec<Fact> = ids.iter().map(|&id| fact(id, "s")).collect();
        let (request, mut answer) = request(&facts);
        writer.write_group(vec![request]);
        answer.try_recv().unwrap().unwrap()
    }

    /// The ids in the `fact_ids` index, and the offset below which it claims to hold all.
    fn index(writer: &Writer) -> (Vec<Uuid>, Offset) {
        let mut statement = writer
            .connection
            .prepare("SELECT fact_id FROM fact_ids ORDER BY fact_id")
            .unwrap();
        let ids = statement
            .query_map((), |row| Ok(IdLayout::read(row.get_ref(0)?).unwrap()))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let below: i64 = writer
            .connection
            .query_row("SELECT below_offset FROM fact_ids_indexed", (), |row| {
                row.get(0)
            })
            .unwrap();
        (ids, below as Offset)
    }

    type Answer = oneshot::Receiver<Result<Outcomes, GroupCommitFailed>>;

    fn request(facts: &[Fact]) -> (AppendRequest, Answer) {
        let (reply, answer) = oneshot::channel();
        let request = AppendRequest {
            facts: facts.iter().map(EncodedFact::new).collect(),
            reply,
            _queue_room: None,
        };
        (request, answer)
    }

    fn stored_ids(writer: &Writer) -> Vec<(i64, Uuid)> {
        let mut statement = writer
            .connection
            .prepare("SELECT log_offset, fact_id FROM facts ORDER BY log_offset")
            .unwrap();
        statement
            .query_map((), |row| {
                Ok((row.get(0)?, IdLayout::read(row.get_ref(1)?).unwrap()))
            })
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    #[test]
    fn a_kept_fact_counts_its_decoded_self_against_the_queue_not_the_group() {
        let borrowed = EncodedFact::new(&fact(1, "s"));
        let kept = EncodedFact::keeping(fact(1, "s"));
        assert_eq!(kept.bytes(), borrowed.bytes());
        assert_eq!(borrowed.queued_bytes(), borrowed.bytes());
        assert_eq!(kept.queued_bytes(), kept.bytes() + 2 * kept.body.len());
    }

    #[test]
    fn one_group_is_one_transaction_and_a_later_caller_sees_an_earlier_callers_id_as_duplicate() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = writer(&dir);
        let (first, mut first_answer) = request(&[fact(1, "s"), fact(2, "s")]);
        let (second, mut second_answer) = request(&[fact(2, "s"), fact(3, "s"), fact(3, "s")]);
        writer.write_group(vec![first, second]);

        assert_eq!(
            first_answer.try_recv().unwrap().unwrap(),
            vec![Some(0), Some(1)]
        );
        assert_eq!(
            second_answer.try_recv().unwrap().unwrap(),
            vec![None, Some(2), None]
        );
        assert_eq!(
            writer.shared.transactions_committed.load(Ordering::Relaxed),
            1
        );
        assert_eq!(writer.shared.end_offset.load(Ordering::Relaxed), 3);
        let recent = writer.shared.recent();
        assert!((1..=3).all(|id| recent.contains(&Uuid::from_u128(id))));
    }

    #[test]
    fn a_failing_group_fails_every_caller_and_writes_nothing_then_offsets_resume_dense() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = writer(&dir);
        // A real SQLite failure in the middle of the group, after other rows went in.
        fail_inserts_on_the_poison_stream(&writer);
        let (good, mut good_answer) = request(&[fact(1, "s"), fact(2, "s")]);
        let (bad, mut bad_answer) = request(&[fact(3, "s"), fact(4, "poison")]);
        let (later, mut later_answer) = request(&[fact(5, "s")]);
        writer.write_group(vec![good, bad, later]);

        for answer in [&mut good_answer, &mut bad_answer, &mut later_answer] {
            let failure = answer.try_recv().unwrap().unwrap_err();
            assert!(
                failure.to_string().contains("injected failure"),
                "{failure}"
            );
        }
        assert!(
            stored_ids(&writer).is_empty(),
            "nothing of the group is on the log"
        );
        assert_eq!(
            writer.shared.transactions_committed.load(Ordering::Relaxed),
            0
        );
        assert_eq!(
            writer.shared.recent().len(),
            0,
            "failed ids are not remembered"
        );

        let (retry, mut retry_answer) = request(&[fact(1, "s"), fact(2, "s")]);
        writer.write_group(vec![retry]);
        assert_eq!(
            retry_answer.try_recv().unwrap().unwrap(),
            vec![Some(0), Some(1)]
        );
        assert_eq!(
            stored_ids(&writer),
            vec![(0, Uuid::from_u128(1)), (1, Uuid::from_u128(2))]
        );
    }

    #[test]
    fn a_caller_that_left_does_not_disturb_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = writer(&dir);
        let (left, left_answer) = request(&[fact(1, "s")]);
        drop(left_answer);
        let (stayed, mut stayed_answer) = request(&[fact(2, "s")]);
        writer.write_group(vec![left, stayed]);
        // Written or not, the one that stayed gets its own answer and dense offsets.
        let offsets = stayed_answer.try_recv().unwrap().unwrap();
        let stored = stored_ids(&writer);
        assert_eq!(stored.last().unwrap().1, Uuid::from_u128(2));
        assert_eq!(offsets, vec![Some(stored.len() as Offset - 1)]);
        assert!(stored
            .iter()
            .enumerate()
            .all(|(n, (offset, _))| n as i64 == *offset));
    }

    #[test]
    fn new_ids_wait_in_memory_then_enter_the_index_in_one_go_and_stay_unique_across_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = writer_indexing_after(&dir, 3);
        assert_eq!(writer.id_layout, IdLayout::Deferred);
        assert_eq!(write(&mut writer, &[1, 2]), vec![Some(0), Some(1)]);
        assert_eq!(index(&writer), (vec![], 0), "two ids: not yet");
        assert_eq!(write(&mut writer, &[3, 4]), vec![Some(2), Some(3)]);
        assert_eq!(
            index(&writer),
            ((1..=4).map(Uuid::from_u128).collect(), 4),
            "four ids: all in the index, with the boundary after them"
        );
        assert!(writer.unindexed.as_ref().unwrap().ids.is_empty());

        // Repeats of indexed ids, of an id written in the same group, and of a waiting one.
        assert_eq!(
            write(&mut writer, &[2, 5, 5, 4]),
            vec![None, Some(4), None, None]
        );
        assert_eq!(write(&mut writer, &[5, 1]), vec![None, None]);
        drop(writer);

        // Reopened: id 5 waits again (read back from the facts beyond the boundary).
        let mut reopened = writer_indexing_after(&dir, 3);
        assert_eq!(
            reopened.unindexed.as_ref().unwrap().ids,
            HashSet::from([Uuid::from_u128(5)])
        );
        assert_eq!(write(&mut reopened, &[5, 1, 6]), vec![None, None, Some(5)]);
        assert_eq!(write(&mut reopened, &[7]), vec![Some(6)]);
        assert_eq!(
            index(&reopened),
            ((1..=7).map(Uuid::from_u128).collect(), 7)
        );
        assert_eq!(stored_ids(&reopened).len(), 7);
    }

    #[test]
    fn a_failed_group_adds_no_waiting_ids() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = writer_indexing_after(&dir, 100);
        fail_inserts_on_the_poison_stream(&writer);
        let (bad, mut bad_answer) = request(&[fact(1, "s"), fact(2, "poison")]);
        writer.write_group(vec![bad]);
        assert!(bad_answer.try_recv().unwrap().is_err());
        assert!(writer.unindexed.as_ref().unwrap().ids.is_empty());
        assert_eq!(
            write(&mut writer, &[1]),
            vec![Some(0)],
            "id 1 was never written"
        );
    }

    proptest::proptest! {
        /// Whatever the index threshold, the grouping and the reopens, an id is written
        /// once, offsets stay dense, and the index holds exactly the ids below its boundary.
        #[test]
        fn ids_are_unique_whenever_they_enter_the_index(
            max_unindexed_ids in 1usize..6,
            groups in proptest::collection::vec(
                (proptest::collection::vec(0u128..25, 0..6), proptest::bool::weighted(0.2)),
                1..20,
            ),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let mut writer = writer_indexing_after(&dir, max_unindexed_ids);
            let mut written: Vec<u128> = Vec::new();
            for (ids, reopen_after) in groups {
                let outcomes = write(&mut writer, &ids);
                for (id, outcome) in ids.iter().zip(outcomes) {
                    match outcome {
                        Some(offset) => {
                            proptest::prop_assert!(!written.contains(id), "id {} twice", id);
                            proptest::prop_assert_eq!(offset, written.len() as Offset);
                            written.push(*id);
                        }
                        None => proptest::prop_assert!(written.contains(id), "id {} lost", id),
                    }
                }
                if reopen_after {
                    drop(writer);
                    writer = writer_indexing_after(&dir, max_unindexed_ids);
                }
            }
            let (indexed, below) = index(&writer);
            let mut expected: Vec<Uuid> =
                written[..below as usize].iter().map(|&id| Uuid::from_u128(id)).collect();
            expected.sort();
            proptest::prop_assert_eq!(indexed, expected);
            let stored: Vec<Uuid> = stored_ids(&writer).into_iter().map(|(_, id)| id).collect();
            proptest::prop_assert_eq!(
                stored,
                written.iter().map(|&id| Uuid::from_u128(id)).collect::<Vec<_>>()
            );
        }
    }
}
