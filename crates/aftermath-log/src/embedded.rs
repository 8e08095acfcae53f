//! The embedded log: one SQLite file in the data directory, a single partition, offsets
//! assigned in append order under one writer lock.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use aftermath_core::Fact;
use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use tokio::sync::{Mutex, Notify};

use crate::{Appended, EventLog, LogError, LoggedFact, Offset, Partition};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS facts (
    log_offset INTEGER PRIMARY KEY,
    fact_id    TEXT NOT NULL UNIQUE,
    stream_key TEXT NOT NULL,
    fact_type  TEXT NOT NULL,
    body       TEXT NOT NULL
);";

/// The SQLite-file event log of the embedded default.
pub struct EmbeddedLog {
    pool: SqlitePool,
    /// The next offset to assign. Held across the insert so offsets stay gap-free and in
    /// commit order.
    next_offset: Mutex<Offset>,
    appended: Notify,
}

impl EmbeddedLog {
    /// Opens (creating if needed) the log file at `path`.
    #[tracing::instrument(level = "debug")]
    pub async fn open(path: &Path) -> Result<Self, LogError> {
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a 2xx promises the fact survives a power cut, not just a process kill.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        sqlx::raw_sql(SCHEMA).execute(&pool).await?;
        let end: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(log_offset) + 1, 0) FROM facts")
            .fetch_one(&pool)
            .await?;
        Ok(Self {
            pool,
            next_offset: Mutex::new(end as Offset),
            appended: Notify::new(),
        })
    }

    fn check_partition(partition: Partition) -> Result<(), LogError> {
        if partition == 0 {
            Ok(())
        } else {
            Err(LogError::NoSuchPartition(partition))
        }
    }
}

#[async_trait]
impl EventLog for EmbeddedLog {
    fn partitions(&self) -> Partition {
        1
    }

    #[tracing::instrument(level = "debug", skip_all, fields(facts = facts.len()))]
    async fn append(&self, facts: &[Fact]) -> Result<Vec<Appended>, LogError> {
        let mut next_offset = self.next_offset.lock().await;
        let mut offset = *next_offset;
        let mut outcomes = Vec::with_capacity(facts.len());
        let mut tx = self.pool.begin().await?;
        for fact in facts {
            let inserted = sqlx::query(
                "INSERT INTO facts (log_offset, fact_id, stream_key, fact_type, body)
                 VALUES (?, ?, ?, ?, ?) ON CONFLICT (fact_id) DO NOTHING",
            )
            .bind(offset as i64)
            .bind(fact.fact_id.to_string())
            .bind(&fact.stream_key)
            .bind(fact.body.type_name())
            .bind(fact.to_json())
            .execute(&mut *tx)
            .await?;
            if inserted.rows_affected() == 1 {
                outcomes.push(Appended::New {
                    partition: 0,
                    offset,
                });
                offset += 1;
            } else {
                outcomes.push(Appended::Duplicate);
            }
        }
        tx.commit().await?;
        *next_offset = offset;
        drop(next_offset);
        // notify_one keeps a permit when the projector is not waiting yet, so no wake-up is lost.
        self.appended.notify_one();
        Ok(outcomes)
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn read(
        &self,
        partition: Partition,
        from: Offset,
        max: usize,
    ) -> Result<Vec<LoggedFact>, LogError> {
        Self::check_partition(partition)?;
        let rows = sqlx::query(
            "SELECT log_offset, body FROM facts WHERE log_offset >= ? ORDER BY log_offset LIMIT ?",
        )
        .bind(from as i64)
        .bind(max as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                let offset = row.get::<i64, _>(0) as Offset;
                let body: String = row.get(1);
                let fact = Fact::from_json(&body).map_err(|source| LogError::Corrupt {
                    partition,
                    offset,
                    source,
                })?;
                Ok(LoggedFact {
                    partition,
                    offset,
                    fact,
                })
            })
            .collect()
    }

    async fn end_offset(&self, partition: Partition) -> Result<Offset, LogError> {
        Self::check_partition(partition)?;
        Ok(*self.next_offset.lock().await)
    }

    async fn appended(&self) {
        self.appended.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use aftermath_core::{FactBody, NoteAdded, Timestamp};
    use uuid::Uuid;

    use super::*;

    fn note(id: u128) -> Fact {
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
}
