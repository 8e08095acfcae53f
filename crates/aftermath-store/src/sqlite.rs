//! The SQLite projection store of the embedded default.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aftermath_core::{Change, Incident, Projection, StreamState, Timestamp};
use aftermath_log::{Offset, Partition};
use async_trait::async_trait;
use rusqlite::{OptionalExtension, TransactionBehavior};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqliteConnection, SqlitePool};
use uuid::Uuid;

use crate::rows::{
    decode, encode, encode_incident_row, encode_stream, encode_timeline_entry, incident_from_row,
    incidents_from_rows, pack_ids, unpack_ids, IncidentRow, NewToken, TokenColumns,
};
use crate::tokens::hash_secret;
use crate::{
    bound_ns, opened_at_ns, ClassFilter, Export, IncidentCursor, IncidentPage, IncidentQuery,
    ProjectionStore, Scope, StatusFilter, StoreError, TokenInfo,
};

/// Ordered schema migrations; each runs once, in its own transaction.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "projections",
        include_str!("../../../migrations/sqlite/0001_projections.sql"),
    ),
    (
        2,
        "token_signing_secret",
        include_str!("../../../migrations/sqlite/0002_token_signing_secret.sql"),
    ),
    (
        3,
        "changes",
        include_str!("../../../migrations/sqlite/0003_changes.sql"),
    ),
    (
        4,
        "consumer_checkpoints",
        include_str!("../../../migrations/sqlite/0004_consumer_checkpoints.sql"),
    ),
    (
        5,
        "folded_facts",
        include_str!("../../../migrations/sqlite/0005_folded_facts.sql"),
    ),
    (
        6,
        "timeline_entries",
        include_str!("../../../migrations/sqlite/0006_timeline_entries.sql"),
    ),
];

/// [`Incident::service`] of an `incidents` row, read from its folded state.
const SERVICE_OF_ROW: &str = "json_extract(state, '$.service')";

/// [`Incident::error_class`] of an `incidents` row as its code, NULL when unclassified. An
/// override is present exactly when `classification_override` is an object (`None` is
/// left out of the JSON), and then its `class` wins even when null; otherwise the
/// classifier's `class`, which is absent with no classification and null without a class.
const CLASS_IN_FORCE_OF_ROW: &str =
    "CASE WHEN json_type(state, '$.classification_override') = 'object'
     THEN json_extract(state, '$.classification_override.class')
     ELSE json_extract(state, '$.classification.class') END";

#[derive(Clone)]
pub struct SqliteStore {
    /// Migrations and the read API's queries.
    pool: SqlitePool,
    /// The projector's connection: checkpoints, `load` and `commit` run on it in the
    /// calling thread (see [`blocking`]). Through sqlx each statement of a batch was a
    /// round trip to sqlx's worker thread, and a live batch of a few facts runs about ten
    /// of them: under load the thread switches, not SQLite, set the batch's latency.
    projector: Arc<Mutex<rusqlite::Connection>>,
}

/// Runs `work`, which blocks on SQLite, on this thread: taken off the async scheduler
/// (`block_in_place`, so other tasks move to another worker) on a multi-thread runtime,
/// inline on a current-thread one.
fn blocking<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|handle| handle.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the projection database at `path` and migrates it.
    #[tracing::instrument(level = "debug")]
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        migrate(&pool).await?;
        // Opened after the migrations, so it sees the schema they made.
        let projector = rusqlite::Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        projector.busy_timeout(Duration::from_secs(10))?;
        // As the pool's: WAL (set on the file by the pool), fsync only at checkpoints.
        projector.pragma_update(None, "synchronous", "NORMAL")?;
        Ok(Self {
            pool,
            projector: Arc::new(Mutex::new(projector)),
        })
    }
}

/// Applies the migrations the file has not had yet, each in its own transaction.
async fn migrate(pool: &SqlitePool) -> Result<(), StoreError> {
    sqlx::raw_sql(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL)",
        )
        .execute(pool)
        .await?;
    for (version, name, sql) in MIGRATIONS {
        let mut tx = pool.begin().await?;
        let applied: Option<i64> =
            sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = ?")
                .bind(version)
                .fetch_optional(&mut *tx)
                .await?;
        if applied.is_none() {
            tracing::info!(version, name, "applying projection migration");
            sqlx::raw_sql(sql).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO schema_migrations (version, name) VALUES (?, ?)")
                .bind(version)
                .bind(name)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
    }
    Ok(())
}

/// The select-list expression that gives an `incidents` row's timeline: its entries'
/// JSON joined with commas in position order (NULL when it has none), read in the same
/// statement, so from the same snapshot, as the row. One value per incident, not one row
/// per entry: sqlx hands every row to the async side through a channel, which a timeline
/// of hundreds of entries would pay hundreds of times per read.
const TIMELINE_OF_ROW: &str = "(SELECT group_concat(entry, ',' ORDER BY position)
     FROM timeline_entries WHERE timeline_entries.incident_id = incidents.id)";

async fn incident_in(
    conn: &mut SqliteConnection,
    id: Uuid,
) -> Result<Option<Incident>, StoreError> {
    let row: Option<IncidentRow> = sqlx::query_as(&format!(
        "SELECT state, {TIMELINE_OF_ROW} FROM incidents WHERE id = ?"
    ))
    .bind(id.to_string())
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(incident_from_row).transpose()
}

impl SqliteStore {
    /// The projector's connection; a panic elsewhere cannot leave it mid-transaction (a
    /// dropped transaction rolls back), so a poisoned lock is still usable.
    fn projector(&self) -> std::sync::MutexGuard<'_, rusqlite::Connection> {
        self.projector
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

fn checkpoints_in(
    connection: &rusqlite::Connection,
) -> Result<BTreeMap<Partition, Offset>, StoreError> {
    let mut select =
        connection.prepare_cached("SELECT log_partition, next_offset FROM checkpoints")?;
    let rows = select.query_map((), |row| {
        Ok((
            row.get::<_, i64>(0)? as Partition,
            row.get::<_, i64>(1)? as Offset,
        ))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn load_in(
    connection: &rusqlite::Connection,
    stream_keys: &BTreeSet<String>,
    incident_ids: &BTreeSet<Uuid>,
) -> Result<Projection, StoreError> {
    let mut projection = Projection::default();
    let mut wanted = incident_ids.clone();
    let mut stream_state =
        connection.prepare_cached("SELECT state FROM streams WHERE stream_key = ?1")?;
    let mut folded_ids =
        connection.prepare_cached("SELECT fact_ids FROM folded_facts WHERE stream_key = ?1")?;
    for key in stream_keys {
        let state: Option<String> = stream_state.query_row([key], |row| row.get(0)).optional()?;
        if let Some(json) = state {
            let mut stream: StreamState = decode(&format!("stream {key}"), &json)?;
            for packed in folded_ids.query_map([key], |row| row.get::<_, Vec<u8>>(0))? {
                unpack_ids(key, &packed?, &mut stream.seen_facts)?;
            }
            wanted.extend(stream.current_incident);
            projection.streams.insert(key.clone(), stream);
        }
    }
    let mut incident_row = connection.prepare_cached(&format!(
        "SELECT state, {TIMELINE_OF_ROW} FROM incidents WHERE id = ?1"
    ))?;
    for id in wanted {
        let row: Option<IncidentRow> = incident_row
            .query_row([id.to_string()], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()?;
        if let Some(row) = row {
            projection.incidents.insert(id, incident_from_row(&row)?);
        }
    }
    Ok(projection)
}

fn commit_in(
    connection: &mut rusqlite::Connection,
    projection: &Projection,
    partition: Partition,
    from: Offset,
    to: Offset,
) -> Result<(), StoreError> {
    // IMMEDIATE takes the write lock before the checkpoint is read, so a concurrent
    // commit waits (busy_timeout) and then sees the moved checkpoint, instead of failing
    // to upgrade a stale read snapshot with "database is locked". Dropping the transaction
    // on any early return rolls it back.
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found: Option<i64> = tx
        .prepare_cached("SELECT next_offset FROM checkpoints WHERE log_partition = ?1")?
        .query_row([partition as i64], |row| row.get(0))
        .optional()?;
    let found = found.unwrap_or(0) as Offset;
    if found != from {
        return Err(StoreError::CheckpointMoved {
            partition,
            expected: from,
            found,
        });
    }
    {
        let mut upsert_stream = tx.prepare_cached(
            "INSERT INTO streams (stream_key, state) VALUES (?1, ?2)
             ON CONFLICT (stream_key) DO UPDATE SET state = excluded.state",
        )?;
        let mut insert_folded =
            tx.prepare_cached("INSERT INTO folded_facts (stream_key, fact_ids) VALUES (?1, ?2)")?;
        for (key, stream) in &projection.streams {
            upsert_stream.execute((key, encode_stream(stream)))?;
            if !stream.seen_facts.is_empty() {
                insert_folded.execute((key, pack_ids(&stream.seen_facts)))?;
            }
        }
    }
    {
        let mut upsert_incident = tx.prepare_cached(
            "INSERT INTO incidents (id, stream_key, status, severity, opened_at_ns, state)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (id) DO UPDATE SET status = excluded.status,
                 severity = excluded.severity, state = excluded.state",
        )?;
        for incident in projection.incidents.values() {
            upsert_incident.execute((
                incident.id.to_string(),
                &incident.stream_key,
                incident.status.as_str(),
                incident.severity.as_str(),
                opened_at_ns(incident),
                encode_incident_row(incident),
            ))?;
            write_new_timeline_entries(&tx, incident)?;
        }
    }
    {
        let mut insert_change = tx.prepare_cached(
            "INSERT INTO changes (id, service, at_ns, state) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (id) DO NOTHING",
        )?;
        for change in projection.changes.values() {
            insert_change.execute((
                change.id.to_string(),
                &change.service,
                change.at.unix_nanos() as i64,
                encode(change),
            ))?;
        }
    }
    tx.prepare_cached(
        "INSERT INTO checkpoints (log_partition, next_offset) VALUES (?1, ?2)
         ON CONFLICT (log_partition) DO UPDATE SET next_offset = excluded.next_offset",
    )?
    .execute((partition as i64, to as i64))?;
    tx.commit()?;
    Ok(())
}

/// Writes `incident`'s timeline entries that are not stored yet. The fold only appends,
/// so the stored entries are this timeline's first ones: only positions from the stored
/// count on are inserted. (Stored entries beyond the timeline's length cannot come from
/// the fold; they are removed so the stored incident is exactly the committed one.)
fn write_new_timeline_entries(
    tx: &rusqlite::Transaction<'_>,
    incident: &Incident,
) -> Result<(), StoreError> {
    let id = incident.id.to_string();
    let stored: i64 = tx
        .prepare_cached(
            "SELECT COALESCE(MAX(position) + 1, 0) FROM timeline_entries WHERE incident_id = ?1",
        )?
        .query_row([&id], |row| row.get(0))?;
    let length = incident.timeline.len() as i64;
    if stored > length {
        tx.prepare_cached(
            "DELETE FROM timeline_entries WHERE incident_id = ?1 AND position >= ?2",
        )?
        .execute((&id, length))?;
    }
    let mut insert = tx.prepare_cached(
        "INSERT INTO timeline_entries (incident_id, position, entry) VALUES (?1, ?2, ?3)",
    )?;
    for (position, entry) in incident.timeline.iter().enumerate().skip(stored as usize) {
        insert.execute((&id, position as i64, encode_timeline_entry(entry)))?;
    }
    Ok(())
}

fn token_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<TokenInfo, StoreError> {
    TokenColumns {
        id: row.get("id"),
        name: row.get("name"),
        scopes: row.get("scopes"),
        created_at: row.get("created_at"),
        revoked_at: row.get("revoked_at"),
        signing_secret: row.get("signing_secret"),
    }
    .into_token()
}

#[async_trait]
impl ProjectionStore for SqliteStore {
    async fn checkpoints(&self) -> Result<BTreeMap<Partition, Offset>, StoreError> {
        blocking(|| checkpoints_in(&self.projector()))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(streams = stream_keys.len()))]
    async fn load(
        &self,
        stream_keys: &BTreeSet<String>,
        incident_ids: &BTreeSet<Uuid>,
    ) -> Result<Projection, StoreError> {
        blocking(|| load_in(&self.projector(), stream_keys, incident_ids))
    }

    #[tracing::instrument(level = "debug", skip(self, projection))]
    async fn commit(
        &self,
        projection: &Projection,
        partition: Partition,
        from: Offset,
        to: Offset,
    ) -> Result<(), StoreError> {
        blocking(|| commit_in(&mut self.projector(), projection, partition, from, to))
    }

    async fn reset(&self) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for table in [
            "checkpoints",
            "streams",
            "folded_facts",
            "incidents",
            "timeline_entries",
            "changes",
        ] {
            sqlx::query(&format!("DELETE FROM {table}"))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn begin_rebuild(&self) -> Result<crate::SharedStore, StoreError> {
        self.reset().await?;
        Ok(std::sync::Arc::new(self.clone()))
    }

    async fn finish_rebuild(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn changes_between(
        &self,
        service: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<Change>, StoreError> {
        let states: Vec<String> = sqlx::query_scalar(
            "SELECT state FROM changes WHERE service = ? AND at_ns BETWEEN ? AND ?
             ORDER BY at_ns, id",
        )
        .bind(service)
        .bind(from.unix_nanos() as i64)
        .bind(to.unix_nanos() as i64)
        .fetch_all(&self.pool)
        .await?;
        states.iter().map(|state| decode("change", state)).collect()
    }

    async fn incident(&self, id: Uuid) -> Result<Option<Incident>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        incident_in(&mut conn, id).await
    }

    async fn incidents_with_action_items(&self) -> Result<Vec<Incident>, StoreError> {
        // Rows are compact JSON, so a non-empty list reads `"action_items":[{`.
        let rows: Vec<IncidentRow> = sqlx::query_as(&format!(
            "SELECT state, {TIMELINE_OF_ROW} FROM incidents
             WHERE state LIKE '%\"action_items\":[{{%'
             ORDER BY opened_at_ns DESC, id DESC"
        ))
        .fetch_all(&self.pool)
        .await?;
        incidents_from_rows(&rows)
    }

    async fn incidents_opened_between(
        &self,
        from: Timestamp,
        to: Timestamp,
        service: Option<&str>,
    ) -> Result<Vec<Incident>, StoreError> {
        let rows: Vec<IncidentRow> = sqlx::query_as(&format!(
            "SELECT state, {TIMELINE_OF_ROW} FROM incidents
             WHERE opened_at_ns >= ?1 AND opened_at_ns < ?2
               AND (?3 IS NULL OR {SERVICE_OF_ROW} = ?3)
             ORDER BY opened_at_ns, id"
        ))
        .bind(bound_ns(from))
        .bind(bound_ns(to))
        .bind(service)
        .fetch_all(&self.pool)
        .await?;
        incidents_from_rows(&rows)
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn list_incidents(&self, query: &IncidentQuery) -> Result<IncidentPage, StoreError> {
        let status_clause = match query.status {
            StatusFilter::Open => "status NOT IN ('resolved', 'closed')",
            StatusFilter::Resolved => "status IN ('resolved', 'closed')",
            StatusFilter::All => "1 = 1",
        };
        let (at, id) = match &query.cursor {
            Some(cursor) => (cursor.opened_at_ns, cursor.id.to_string()),
            None => (i64::MAX, String::new()),
        };
        // With no cursor, `opened_at_ns < i64::MAX` admits every row. An absent service
        // or class filter binds NULL or false, which admits every row before the JSON of
        // the state is looked at (SQLite evaluates OR from the left and stops early). The
        // class is compared with `IS`, so a NULL code selects the unclassified.
        let overdue = crate::overdue_clause(query);
        let timeline = if query.with_timelines {
            TIMELINE_OF_ROW
        } else {
            "NULL"
        };
        let sql = format!(
            "SELECT state, {timeline} FROM incidents WHERE {status_clause} AND {overdue}
               AND (opened_at_ns < ?1 OR (opened_at_ns = ?1 AND id < ?2) OR ?3)
               AND (?5 IS NULL OR {SERVICE_OF_ROW} = ?5)
               AND (NOT ?6 OR ({CLASS_IN_FORCE_OF_ROW}) IS ?7)
             ORDER BY opened_at_ns DESC, id DESC LIMIT ?4"
        );
        let limit = query.limit.max(1) as i64;
        let rows: Vec<IncidentRow> = sqlx::query_as(&sql)
            .bind(at)
            .bind(id)
            .bind(query.cursor.is_none())
            .bind(limit + 1)
            .bind(query.service.as_deref())
            .bind(query.class.is_some())
            .bind(query.class.and_then(ClassFilter::code))
            .fetch_all(&self.pool)
            .await?;
        let mut incidents = incidents_from_rows(&rows)?;
        let next_cursor = if incidents.len() as i64 > limit {
            incidents.truncate(limit as usize);
            incidents.last().map(IncidentCursor::of)
        } else {
            None
        };
        Ok(IncidentPage {
            incidents,
            next_cursor,
        })
    }

    async fn export(&self) -> Result<Export, StoreError> {
        let checkpoints = self.checkpoints().await?;
        let mut streams = BTreeMap::new();
        for row in sqlx::query("SELECT stream_key, state FROM streams")
            .fetch_all(&self.pool)
            .await?
        {
            let key: String = row.get(0);
            let state: String = row.get(1);
            let stream: StreamState = decode(&format!("stream {key}"), &state)?;
            streams.insert(key, stream);
        }
        for row in sqlx::query("SELECT stream_key, fact_ids FROM folded_facts")
            .fetch_all(&self.pool)
            .await?
        {
            let key: String = row.get(0);
            let packed: Vec<u8> = row.get(1);
            let stream: &mut StreamState = streams.entry(key.clone()).or_default();
            unpack_ids(&key, &packed, &mut stream.seen_facts)?;
        }
        let mut incidents = BTreeMap::new();
        let rows: Vec<IncidentRow> =
            sqlx::query_as(&format!("SELECT state, {TIMELINE_OF_ROW} FROM incidents"))
                .fetch_all(&self.pool)
                .await?;
        for incident in incidents_from_rows(&rows)? {
            incidents.insert(incident.id, incident);
        }
        let mut changes = BTreeMap::new();
        for state in sqlx::query_scalar::<_, String>("SELECT state FROM changes")
            .fetch_all(&self.pool)
            .await?
        {
            let change: Change = decode("change", &state)?;
            changes.insert(change.id, change);
        }
        Ok(Export {
            checkpoints,
            streams,
            incidents,
            changes,
        })
    }

    async fn create_token_with(
        &self,
        name: &str,
        scopes: &BTreeSet<Scope>,
        created_at: Timestamp,
        signing_secret: Option<&str>,
    ) -> Result<(TokenInfo, String), StoreError> {
        let token = NewToken::prepare(name, scopes, created_at, signing_secret)?;
        let inserted = sqlx::query(
            "INSERT INTO tokens (id, name, scopes, token_hash, created_at, signing_secret)
             VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT DO NOTHING",
        )
        .bind(token.info.id.to_string())
        .bind(&token.info.name)
        .bind(Scope::join(scopes))
        .bind(&token.hash)
        .bind(&token.info.created_at)
        .bind(&token.info.signing_secret)
        .execute(&self.pool)
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(token.name_taken());
        }
        Ok((token.info, token.secret))
    }

    async fn authenticate(&self, secret: &str) -> Result<Option<TokenInfo>, StoreError> {
        let row = sqlx::query(
            "SELECT id, name, scopes, created_at, revoked_at, signing_secret FROM tokens
             WHERE token_hash = ? AND revoked_at IS NULL",
        )
        .bind(hash_secret(secret))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(token_from_row).transpose()
    }

    async fn consumer_checkpoints(
        &self,
        consumer: &str,
    ) -> Result<BTreeMap<Partition, Offset>, StoreError> {
        let rows = sqlx::query(
            "SELECT log_partition, next_offset FROM consumer_checkpoints WHERE consumer = ?",
        )
        .bind(consumer)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|row| {
                (
                    row.get::<i64, _>(0) as Partition,
                    row.get::<i64, _>(1) as Offset,
                )
            })
            .collect())
    }

    async fn advance_consumer(
        &self,
        consumer: &str,
        partition: Partition,
        from: Option<Offset>,
        to: Offset,
    ) -> Result<(), StoreError> {
        // One statement each way, so the compare-and-set needs no transaction.
        let moved = match from {
            None => sqlx::query(
                "INSERT INTO consumer_checkpoints (consumer, log_partition, next_offset)
                 VALUES (?, ?, ?) ON CONFLICT (consumer, log_partition) DO NOTHING",
            )
            .bind(consumer)
            .bind(partition as i64)
            .bind(to as i64)
            .execute(&self.pool)
            .await?
            .rows_affected(),
            Some(from) => sqlx::query(
                "UPDATE consumer_checkpoints SET next_offset = ?
                 WHERE consumer = ? AND log_partition = ? AND next_offset = ?",
            )
            .bind(to as i64)
            .bind(consumer)
            .bind(partition as i64)
            .bind(from as i64)
            .execute(&self.pool)
            .await?
            .rows_affected(),
        };
        if moved == 1 {
            return Ok(());
        }
        let found = self
            .consumer_checkpoints(consumer)
            .await?
            .get(&partition)
            .copied()
            .unwrap_or(0);
        Err(StoreError::CheckpointMoved {
            partition,
            expected: from.unwrap_or(0),
            found,
        })
    }

    async fn list_tokens(&self) -> Result<Vec<TokenInfo>, StoreError> {
        sqlx::query("SELECT id, name, scopes, created_at, revoked_at, signing_secret FROM tokens ORDER BY name")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(token_from_row)
            .collect()
    }

    async fn revoke_token(&self, name: &str, revoked_at: Timestamp) -> Result<bool, StoreError> {
        let updated =
            sqlx::query("UPDATE tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL")
                .bind(revoked_at.to_string())
                .bind(name)
                .execute(&self.pool)
                .await?;
        Ok(updated.rows_affected() == 1)
    }
}
