//! The embedded log: one SQLite file in the data directory, a single partition, offsets
//! assigned in commit order by one writer thread that commits concurrent appends together
//! (group commit: one transaction, one fsync per group).
//!
//! Repeats cost no write: ids known to be durable on the log are answered `Duplicate`
//! from memory ([`recent_ids`]); a request made only of such ids never reaches SQLite.

mod id_filter;
mod recent_ids;
mod tail;
mod writer;

use std::io;
use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use aftermath_core::Fact;
use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::{Appended, EventLog, LogError, LoggedFact, Offset, Partition};
use writer::{AppendRequest, EncodedFact, GroupLimits, Shared, Writer};

/// The layout of a new log file (`user_version` 3). Fact ids are the UUID's 16 bytes, and
/// their unique index is a table of its own, `fact_ids`, filled in bulk: new ids wait in
/// the writer's memory (and in `facts`) until [`EmbeddedLogOptions::max_unindexed_fact_ids`]
/// of them have gathered, then go in sorted, in one transaction. Content-derived ids land
/// at random places in any index; inserted one group at a time, each id dirtied a page of
/// its own, which made the index most of what a commit wrote. `fact_ids_indexed` records
/// the offset below which every fact's id is in `fact_ids`.
///
/// Files of the earlier layouts keep a `UNIQUE` column and are still read and appended to
/// as they are ([`writer::IdLayout`]): version 0, `fact_id TEXT`, and version 2, the 16
/// bytes.
pub(crate) const SCHEMA: &str = "
CREATE TABLE facts (
    log_offset INTEGER PRIMARY KEY,
    fact_id    BLOB NOT NULL,
    stream_key TEXT NOT NULL,
    fact_type  TEXT NOT NULL,
    body       TEXT NOT NULL
);
CREATE TABLE fact_ids (fact_id BLOB PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE fact_ids_indexed (below_offset INTEGER NOT NULL);
INSERT INTO fact_ids_indexed (below_offset) VALUES (0);
PRAGMA user_version = 3;";

/// The page size of a new log file, in bytes.
pub(crate) const LOG_PAGE_SIZE: u32 = 16_384;

/// New fact ids the writer holds before it adds them to the `fact_ids` index in one go
/// (about 3 MB of memory when full).
pub const DEFAULT_MAX_UNINDEXED_FACT_IDS: usize = 65_536;

/// Fact ids the embedded log remembers as durable by default (about 26 MB when full).
pub const DEFAULT_RECENT_FACT_IDS: usize = 1_000_000;

/// Tuning of the embedded log; [`Default`] suits one machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmbeddedLogOptions {
    /// Fact ids remembered as durable, so repeats are answered without a write (about
    /// 26 bytes each when full; 0 turns the set off, every append then reaches SQLite).
    pub recent_fact_ids: usize,
    /// Serialized bytes one group transaction takes at most (a larger request goes alone).
    pub max_group_bytes: usize,
    /// Facts one group transaction takes at most.
    pub max_group_facts: usize,
    /// Serialized bytes waiting for the writer at most; appends beyond it wait for room
    /// (backpressure), so a burst cannot grow memory without bound. A fact handed over
    /// with `append_owned` counts three times its serialized size, for its decoded self.
    pub max_queued_bytes: usize,
    /// New fact ids gathered before they are added to the on-disk id index in one
    /// transaction. Larger means fewer index pages written per id and more memory; each
    /// reopen reads this many ids back at most.
    pub max_unindexed_fact_ids: usize,
    /// Stored bytes of the newest facts kept decoded in memory for the live projector,
    /// which then need not read them back (0 turns this off). A projector further behind
    /// reads from the file as before.
    pub max_tail_bytes: usize,
}

impl Default for EmbeddedLogOptions {
    fn default() -> Self {
        Self {
            recent_fact_ids: DEFAULT_RECENT_FACT_IDS,
            max_group_bytes: 8 << 20,
            max_group_facts: 16_384,
            max_queued_bytes: 64 << 20,
            max_unindexed_fact_ids: DEFAULT_MAX_UNINDEXED_FACT_IDS,
            // Some 50 ms of all-new alerts at one per request, more than the live projector
            // lags behind in steady state; decoded, about two and a half times as much
            // memory, which stays with the process once used.
            max_tail_bytes: 2 << 20,
        }
    }
}

/// Read connections kept open between reads (at most [`Readers::KEPT`]).
struct Readers {
    path: std::path::PathBuf,
    idle: std::sync::Mutex<Vec<rusqlite::Connection>>,
}

impl Readers {
    const KEPT: usize = 4;

    fn take(&self) -> rusqlite::Result<rusqlite::Connection> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop();
        match idle {
            Some(connection) => Ok(connection),
            None => {
                let connection = rusqlite::Connection::open_with_flags(
                    &self.path,
                    rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                        | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                connection.busy_timeout(Duration::from_secs(10))?;
                Ok(connection)
            }
        }
    }

    fn give_back(&self, connection: rusqlite::Connection) {
        let mut idle = self
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if idle.len() < Self::KEPT {
            idle.push(connection);
        }
    }
}

/// Up to `max` facts from offset `from` on, decoded. Runs on a blocking thread: the rows
/// are read and decoded where they are stepped, not handed one by one to the async side
/// (with sqlx, each row crossed a channel to another thread, and the thread switches cost
/// as much as the decoding in a replay).
fn read_facts(
    connection: &rusqlite::Connection,
    partition: Partition,
    from: Offset,
    max: usize,
) -> Result<Vec<LoggedFact>, LogError> {
    let failed = |error: rusqlite::Error| storage_failure("reading the log", error);
    let mut statement = connection
        .prepare_cached(
            "SELECT log_offset, body FROM facts WHERE log_offset >= ?1 ORDER BY log_offset LIMIT ?2",
        )
        .map_err(failed)?;
    let mut rows = statement.query((from as i64, max as i64)).map_err(failed)?;
    let mut facts = Vec::with_capacity(max.min(16_384));
    while let Some(row) = rows.next().map_err(failed)? {
        let offset = row.get::<_, i64>(0).map_err(failed)? as Offset;
        let body = row
            .get_ref(1)
            .and_then(|value| Ok(value.as_str()?))
            .map_err(failed)?;
        let fact = Fact::from_json(body).map_err(|source| LogError::Corrupt {
            partition,
            offset,
            source,
        })?;
        facts.push(LoggedFact {
            partition,
            offset,
            fact,
        });
    }
    Ok(facts)
}

/// The SQLite-file event log of the embedded default.
pub struct EmbeddedLog {
    /// Opened the file (creating it) before the writer did; kept so the file stays open.
    _pool: SqlitePool,
    /// Readers only; all writes go through the writer thread.
    readers: Arc<Readers>,
    shared: Arc<Shared>,
    /// Room left in the queue, in serialized bytes.
    queue_room: Arc<Semaphore>,
    max_queued_bytes: usize,
    /// `None` only while dropping: closing the queue stops the writer.
    queue: Option<mpsc::UnboundedSender<AppendRequest>>,
    writer_thread: Option<std::thread::JoinHandle<()>>,
}

impl EmbeddedLog {
    /// Opens (creating if needed) the log file at `path`, with default options.
    pub async fn open(path: &Path) -> Result<Self, LogError> {
        Self::open_with(path, EmbeddedLogOptions::default()).await
    }

    /// Opens (creating if needed) the log file at `path`. Returns once the writer is ready
    /// (the schema in place) and the recent-id set holds the newest ids on the log. A file
    /// of a newer layout than this build knows is refused with an error that says so.
    #[tracing::instrument(level = "debug", skip(options))]
    pub async fn open_with(path: &Path, options: EmbeddedLogOptions) -> Result<Self, LogError> {
        let connect = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(true)
            // Set only when the file is created (a WAL file keeps its page size). A
            // notification's facts are 1 to 2 KB each: with 16 KiB pages a group commit
            // writes a few large WAL frames instead of many small ones, and rows waste
            // less of each page (about 18% more alerts per second at 100 per request).
            .page_size(LOG_PAGE_SIZE)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(connect)
            .await?;

        let shared = Arc::new(Shared::new(options.recent_fact_ids, options.max_tail_bytes));
        let limits = GroupLimits {
            max_bytes: options.max_group_bytes.max(1),
            max_facts: options.max_group_facts.max(1),
            max_unindexed_ids: options.max_unindexed_fact_ids.max(1),
        };
        let (queue, requests) = mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = oneshot::channel();
        let writer_thread = {
            let (path, shared) = (path.to_owned(), shared.clone());
            std::thread::Builder::new()
                .name("aftermath-log-writer".into())
                .spawn(move || {
                    let writer = match Writer::open(&path, shared, limits) {
                        Ok(writer) => writer,
                        Err(error) => {
                            let _ = ready_tx.send(Err(error));
                            return;
                        }
                    };
                    if let Err(error) = writer.seed_recent_ids() {
                        let _ = ready_tx.send(Err(error));
                        return;
                    }
                    let _ = ready_tx.send(Ok(()));
                    writer.run(requests);
                })
                .map_err(|error| storage_failure("starting the log writer thread", error))?
        };
        match ready_rx.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => return Err(storage_failure("opening the log for writing", error)),
            Err(_) => {
                return Err(storage_failure(
                    "opening the log for writing",
                    "the writer thread stopped",
                ))
            }
        }
        let max_queued_bytes = options.max_queued_bytes.clamp(1, u32::MAX as usize);
        Ok(Self {
            _pool: pool,
            readers: Arc::new(Readers {
                path: path.to_owned(),
                idle: std::sync::Mutex::new(Vec::new()),
            }),
            shared,
            queue_room: Arc::new(Semaphore::new(max_queued_bytes)),
            max_queued_bytes,
            queue: Some(queue),
            writer_thread: Some(writer_thread),
        })
    }

    /// Transactions the writer committed since open: one per group, none for a request
    /// whose facts were all known duplicates. For tests and metrics.
    pub fn transactions_committed(&self) -> u64 {
        self.shared.transactions_committed.load(Ordering::Relaxed)
    }

    /// How many fact ids the recent-id set holds now.
    pub fn recent_fact_ids(&self) -> usize {
        self.shared.recent().len()
    }

    /// Indexes of the facts whose ids are not known to be durable already, ascending:
    /// only those go to the writer; the others are duplicates now.
    fn unknown(&self, facts: &[Fact]) -> Vec<usize> {
        let recent = self.shared.recent();
        (0..facts.len())
            .filter(|&index| !recent.contains(&facts[index].fact_id))
            .collect()
    }

    /// Queues `encoded` (the facts at `unknown` of an append of `count`) for the writer
    /// and waits for the commit; every fact not written is a duplicate.
    async fn queue_for_writer(
        &self,
        count: usize,
        unknown: &[usize],
        encoded: Vec<EncodedFact>,
    ) -> Result<Vec<Appended>, LogError> {
        let mut outcomes = vec![Appended::Duplicate; count];
        if unknown.is_empty() {
            return Ok(outcomes);
        }
        let bytes = encoded.iter().map(EncodedFact::queued_bytes).sum::<usize>();
        // A request larger than the whole budget waits for an empty queue, then goes alone.
        let wanted = bytes.clamp(1, self.max_queued_bytes) as u32;
        let queue_room = self
            .queue_room
            .clone()
            .acquire_many_owned(wanted)
            .await
            .map_err(|_| storage_failure("appending", "the event log is closed"))?;
        let (reply, answer) = oneshot::channel();
        let request = AppendRequest {
            facts: encoded,
            reply,
            _queue_room: Some(queue_room),
        };
        self.queue
            .as_ref()
            .and_then(|queue| queue.send(request).ok())
            .ok_or_else(|| storage_failure("appending", "the log writer stopped"))?;
        let written = answer
            .await
            .map_err(|_| storage_failure("appending", "the log writer stopped"))?
            .map_err(|failure| storage_failure("writing to the event log", failure))?;
        for (&index, offset) in unknown.iter().zip(written) {
            if let Some(offset) = offset {
                outcomes[index] = Appended::New {
                    partition: 0,
                    offset,
                };
            }
        }
        Ok(outcomes)
    }

    fn check_partition(partition: Partition) -> Result<(), LogError> {
        if partition == 0 {
            Ok(())
        } else {
            Err(LogError::NoSuchPartition(partition))
        }
    }
}

impl Drop for EmbeddedLog {
    fn drop(&mut self) {
        // Closing the queue ends the writer once it has answered what it holds; joining
        // it means a reopen right after a drop sees every committed fact and offset.
        self.queue.take();
        if let Some(thread) = self.writer_thread.take() {
            let _ = thread.join();
        }
    }
}

/// The error every caller sees for a failure of the SQLite writer (the `storage` kind).
fn storage_failure(context: &str, error: impl std::fmt::Display) -> LogError {
    LogError::Storage(sqlx::Error::Io(io::Error::other(format!(
        "{context}: {error}"
    ))))
}

#[async_trait]
impl EventLog for EmbeddedLog {
    fn partitions(&self) -> Partition {
        1
    }

    #[tracing::instrument(level = "debug", skip_all, fields(facts = facts.len()))]
    async fn append(&self, facts: &[Fact]) -> Result<Vec<Appended>, LogError> {
        let unknown = self.unknown(facts);
        let encoded = unknown
            .iter()
            .map(|&index| EncodedFact::new(&facts[index]))
            .collect();
        self.queue_for_writer(facts.len(), &unknown, encoded).await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(facts = facts.len()))]
    async fn append_owned(&self, facts: Vec<Fact>) -> Result<Vec<Appended>, LogError> {
        if !self.shared.tail_wanted() {
            return self.append(&facts).await;
        }
        let count = facts.len();
        let unknown = self.unknown(&facts);
        // `unknown` is in ascending order: walk both once.
        let mut wanted = unknown.iter().peekable();
        let encoded = facts
            .into_iter()
            .enumerate()
            .filter(|(index, _)| wanted.next_if_eq(&index).is_some())
            .map(|(_, fact)| EncodedFact::keeping(fact))
            .collect();
        self.queue_for_writer(count, &unknown, encoded).await
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn read(
        &self,
        partition: Partition,
        from: Offset,
        max: usize,
    ) -> Result<Vec<LoggedFact>, LogError> {
        Self::check_partition(partition)?;
        self.shared.tail_wanted.store(true, Ordering::Relaxed);
        if let Some(facts) = self.shared.tail().take(from, max) {
            return Ok(facts);
        }
        let readers = self.readers.clone();
        tokio::task::spawn_blocking(move || {
            let connection = readers
                .take()
                .map_err(|error| storage_failure("opening a log reader", error))?;
            let facts = read_facts(&connection, partition, from, max);
            readers.give_back(connection);
            facts
        })
        .await
        .map_err(|error| storage_failure("reading the log", error))?
    }

    async fn end_offset(&self, partition: Partition) -> Result<Offset, LogError> {
        Self::check_partition(partition)?;
        Ok(self.shared.end_offset.load(Ordering::Acquire))
    }

    async fn appended(&self) {
        self.shared.appended.notified().await;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use aftermath_core::{FactBody, NoteAdded, Timestamp};
    use uuid::Uuid;

    use super::*;

    pub(crate) fn note(id: u128) -> Fact {
        let at = Timestamp::from_unix_seconds(1_700_000_000).unwrap();
        Fact {
            fact_id: Uuid::from_u128(id),
            stream_key: "s".into(),
            occurred_at: at,
            recorded_at: at,
            body: FactBody::NoteAdded(NoteAdded {
                incident_id: Uuid::from_u128(99),
                actor: "alice".into(),
                text: format!("note {id}"),
            }),
        }
    }

    #[tokio::test]
    async fn offsets_are_dense_duplicates_are_skipped_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.sqlite");
        let log = EmbeddedLog::open(&path).await.unwrap();
        let first = log.append(&[note(1), note(2)]).await.unwrap();
        assert_eq!(
            first,
            vec![
                Appended::New {
                    partition: 0,
                    offset: 0
                },
                Appended::New {
                    partition: 0,
                    offset: 1
                }
            ]
        );
        let second = log.append(&[note(2), note(3)]).await.unwrap();
        assert_eq!(
            second,
            vec![
                Appended::Duplicate,
                Appended::New {
                    partition: 0,
                    offset: 2
                }
            ]
        );
        drop(log);

        let reopened = EmbeddedLog::open(&path).await.unwrap();
        assert_eq!(reopened.end_offset(0).await.unwrap(), 3);
        let facts = reopened.read(0, 1, 10).await.unwrap();
        let ids: Vec<_> = facts.iter().map(|f| (f.offset, f.fact.fact_id)).collect();
        assert_eq!(ids, vec![(1, Uuid::from_u128(2)), (2, Uuid::from_u128(3))]);
        assert_eq!(facts[0].fact, note(2));
        assert!(matches!(
            reopened.read(1, 0, 10).await,
            Err(LogError::NoSuchPartition(1))
        ));
    }

    fn ids(facts: &[LoggedFact]) -> Vec<(Offset, u128)> {
        facts
            .iter()
            .map(|fact| (fact.offset, fact.fact.fact_id.as_u128()))
            .collect()
    }

    #[tokio::test]
    async fn facts_handed_over_are_read_once_from_memory_and_match_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let log = EmbeddedLog::open(&dir.path().join("log.sqlite"))
            .await
            .unwrap();
        // Before anything reads, appends hand nothing over.
        log.append_owned(vec![note(1)]).await.unwrap();
        assert!(log.shared.tail().take(0, 10).is_none());
        assert_eq!(ids(&log.read(0, 0, 10).await.unwrap()), [(0, 1)]);

        // A reader exists now: handed-over facts wait in memory; a duplicate takes no
        // offset; a borrowed append (not handed over) breaks the run.
        let outcomes = log.append_owned(vec![note(2), note(1), note(3)]).await;
        assert_eq!(outcomes.unwrap()[1], Appended::Duplicate);
        log.append(&[note(4)]).await.unwrap();
        log.append_owned(vec![note(5), note(6)]).await.unwrap();

        // Behind the kept run: from the file, all of it.
        let from_file = log.read(0, 1, 10).await.unwrap();
        assert_eq!(ids(&from_file), [(1, 2), (2, 3), (3, 4), (4, 5), (5, 6)]);
        // At its start: from memory, taken out; the same read again goes to the file.
        let from_memory = log.read(0, 4, 10).await.unwrap();
        assert!(log.shared.tail().take(4, 10).is_none(), "taken once");
        let again = log.read(0, 4, 10).await.unwrap();
        assert_eq!(ids(&from_memory), [(4, 5), (5, 6)]);
        assert_eq!(from_memory, again);
        assert_eq!(from_memory[..], from_file[3..]);
        assert_eq!(from_memory[1].fact, note(6));
    }
}
