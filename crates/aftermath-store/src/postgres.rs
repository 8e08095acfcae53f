//! The PostgreSQL projection store, for deployments that outgrow the embedded default.
//!
//! # Schema layout
//!
//! - `public.tokens` and `public.schema_migrations`: API tokens are access configuration,
//!   not incident state, so they are never dropped; their shape changes only through the
//!   versioned migrations of `migrations/postgres/NNNN_*.sql`, each applied once, recorded
//!   in `schema_migrations`, in one transaction under a transaction-level advisory lock
//!   (two processes starting at once apply each migration once, one after the other).
//! - `aftermath_projections.{checkpoints, streams, incidents}`: the live projections,
//!   with the same columns as the SQLite store (`opened_at_ns BIGINT`, partitions and
//!   offsets `BIGINT`). Folded states are JSON in `TEXT` columns, not `JSONB`: JSONB
//!   reorders object keys, and a state row must stay the exact text SQLite holds, so that
//!   both stores give byte-identical canonical exports.
//!   These tables have no versioned migrations: they are derived from the log and can
//!   always be rebuilt, so `migrations/postgres/projections.sql` is plain
//!   `CREATE TABLE IF NOT EXISTS`, run in whichever schema it is creating.
//! - `aftermath_projections_rebuild`: exists only during a rebuild. [`begin_rebuild`]
//!   creates it empty and hands out a store writing there while readers keep using the
//!   live schema; [`finish_rebuild`] drops the live schema and renames the rebuilt one
//!   in its place in one transaction, so readers switch from old to new atomically.
//!
//! A [`PgStore`] carries the name of the schema it reads and writes projections in (one
//! of the two constants above, never user input) and qualifies every projection table
//! with it; tokens are always qualified with `public`.
//!
//! [`begin_rebuild`]: ProjectionStore::begin_rebuild
//! [`finish_rebuild`]: ProjectionStore::finish_rebuild

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use aftermath_core::{Change, Incident, Projection, StreamState, Timestamp};
use aftermath_log::{Offset, Partition};
use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{Connection, Executor, PgConnection, PgPool, Row};
use uuid::Uuid;

use crate::rows::{
    decode, encode, encode_incident_row, encode_stream, encode_timeline_entry, incident_from_row,
    incidents_from_rows, pack_ids, unpack_ids, IncidentRow, NewToken, TokenColumns,
};
use crate::tokens::hash_secret;
use crate::{
    bound_ns, opened_at_ns, ClassFilter, Export, IncidentCursor, IncidentPage, IncidentQuery,
    ProjectionStore, Scope, SharedStore, StatusFilter, StoreError, TokenInfo,
};

/// Ordered versioned migrations of `public`; each runs once.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "tokens",
        include_str!("../../../migrations/postgres/0001_tokens.sql"),
    ),
    (
        2,
        "token_signing_secret",
        include_str!("../../../migrations/postgres/0002_token_signing_secret.sql"),
    ),
    (
        3,
        "consumer_checkpoints",
        include_str!("../../../migrations/postgres/0003_consumer_checkpoints.sql"),
    ),
];

/// The projection DDL, run in the schema being created (unqualified names).
const PROJECTIONS_DDL: &str = include_str!("../../../migrations/postgres/projections.sql");

/// The schema readers use.
const LIVE_SCHEMA: &str = "aftermath_projections";
/// The schema a rebuild fills before it replaces [`LIVE_SCHEMA`].
const REBUILD_SCHEMA: &str = "aftermath_projections_rebuild";

/// The key of the transaction-level advisory lock that serializes schema changes
/// (migrations, creating the rebuild schema, the swap): "aftermat" in ASCII.
const SCHEMA_LOCK: i64 = 0x6166_7465_726d_6174;

const POOL_SIZE: u32 = 10;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// [`Incident::service`] of an `incidents` row, read from its folded state. The state is
/// TEXT (see the module documentation), so it is cast to JSONB to be read.
const SERVICE_OF_ROW: &str = "((state::jsonb) ->> 'service')";

/// [`Incident::error_class`] of an `incidents` row as its code, NULL when unclassified. An
/// override is present exactly when `classification_override` is an object (`None` is
/// left out of the JSON), and then its `class` wins even when null; otherwise the
/// classifier's `class`, which is absent with no classification and null without a class.
const CLASS_IN_FORCE_OF_ROW: &str =
    "CASE WHEN jsonb_typeof((state::jsonb) -> 'classification_override') = 'object'
     THEN (state::jsonb) -> 'classification_override' ->> 'class'
     ELSE (state::jsonb) -> 'classification' ->> 'class' END";

#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    /// Where this store's projection tables live: [`LIVE_SCHEMA`] or [`REBUILD_SCHEMA`].
    schema: &'static str,
}

impl PgStore {
    /// Connects to the database at `database_url` (`postgres://user[:password]@host/db`)
    /// and migrates it. Fails after about five seconds when the server cannot be reached,
    /// naming the URL without its password.
    #[tracing::instrument(level = "debug", skip_all, fields(url = %redacted(database_url)))]
    pub async fn connect(database_url: &str) -> Result<Self, StoreError> {
        let failed = |error: sqlx::Error| connect_failed(database_url, error);
        let options = PgConnectOptions::from_str(database_url)
            .map_err(|error| {
                StoreError::Database(sqlx::Error::Configuration(
                    format!("invalid PostgreSQL URL {}: {error}", redacted(database_url)).into(),
                ))
            })?
            .application_name("aftermath");
        // One direct connection first: the pool retries a refused connection until its
        // acquire timeout and then reports only "timed out", while this says why (refused,
        // unknown host, authentication, no such database).
        let probe = tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&options))
            .await
            .map_err(|_| failed(sqlx::Error::PoolTimedOut))?
            .map_err(failed)?;
        if let Err(error) = probe.close().await {
            tracing::debug!(%error, "closing the probe connection failed");
        }
        let connecting = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect_with(options);
        // The acquire timeout bounds the first connection too; the outer timeout is a
        // backstop should a handshake hang past it.
        let pool = tokio::time::timeout(CONNECT_TIMEOUT + Duration::from_secs(1), connecting)
            .await
            .map_err(|_| failed(sqlx::Error::PoolTimedOut))?
            .map_err(failed)?;
        let store = Self {
            pool,
            schema: LIVE_SCHEMA,
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Applies the versioned migrations of `public` that have not run yet and creates the
    /// projection tables of this store's schema if missing, all in one transaction under
    /// an advisory lock, so concurrent starts neither race nor apply anything twice.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        lock_schema_changes(&mut tx).await?;
        // Plain `&str`s without arguments run as simple queries (several statements
        // each). Not `sqlx::raw_sql`: its future is not `Send` for every lifetime, which
        // would make `connect` unusable in `tokio::spawn`.
        tx.execute(
            "SET LOCAL search_path TO public;
             CREATE TABLE IF NOT EXISTS schema_migrations (
                 version    BIGINT PRIMARY KEY,
                 name       TEXT NOT NULL,
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
             )",
        )
        .await?;
        for (version, name, sql) in MIGRATIONS {
            let applied: Option<i64> = sqlx::query_scalar(
                "SELECT version FROM public.schema_migrations WHERE version = $1",
            )
            .bind(version)
            .fetch_optional(&mut *tx)
            .await?;
            if applied.is_none() {
                tracing::info!(version, name, "applying PostgreSQL migration");
                tx.execute(*sql).await?;
                sqlx::query("INSERT INTO public.schema_migrations (version, name) VALUES ($1, $2)")
                    .bind(version)
                    .bind(name)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        create_projection_tables(&mut tx, self.schema).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn incident_in(
        &self,
        conn: &mut PgConnection,
        id: Uuid,
    ) -> Result<Option<Incident>, StoreError> {
        let row: Option<IncidentRow> = sqlx::query_as(&format!(
            "SELECT state, {} FROM {}.incidents WHERE id = $1",
            timeline_of_row(self.schema),
            self.schema
        ))
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?;
        row.as_ref().map(incident_from_row).transpose()
    }

    async fn checkpoints_in(
        &self,
        conn: &mut PgConnection,
    ) -> Result<BTreeMap<Partition, Offset>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT log_partition, next_offset FROM {}.checkpoints",
            self.schema
        ))
        .fetch_all(conn)
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
}

/// The error of a failed connection: names the server by its URL without the password.
fn connect_failed(database_url: &str, error: sqlx::Error) -> StoreError {
    let (kind, cause) = match error {
        sqlx::Error::Io(error) => (error.kind(), error.to_string()),
        sqlx::Error::PoolTimedOut => (
            std::io::ErrorKind::TimedOut,
            format!("no connection within {} s", CONNECT_TIMEOUT.as_secs()),
        ),
        error => (std::io::ErrorKind::Other, error.to_string()),
    };
    StoreError::Database(sqlx::Error::Io(std::io::Error::new(
        kind,
        format!(
            "cannot connect to PostgreSQL at {}: {cause}",
            redacted(database_url)
        ),
    )))
}

/// Waits for, then holds until the transaction ends, the lock serializing schema changes.
async fn lock_schema_changes(conn: &mut PgConnection) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(SCHEMA_LOCK)
        .execute(conn)
        .await?;
    Ok(())
}

/// Creates `schema` if missing and the projection tables in it. `schema` is one of the
/// constants of this module, never input.
async fn create_projection_tables(
    conn: &mut PgConnection,
    schema: &'static str,
) -> Result<(), StoreError> {
    for statement in [
        format!("CREATE SCHEMA IF NOT EXISTS {schema}"),
        format!("SET LOCAL search_path TO {schema}"),
    ] {
        sqlx::query(&statement).execute(&mut *conn).await?;
    }
    // A simple query: several statements (see `migrate`).
    conn.execute(PROJECTIONS_DDL).await?;
    move_inline_timelines(conn, schema).await
}

/// Incident rows written before `timeline_entries` existed hold their timeline inline:
/// it moves to that table and the row is written again without it, canonically. Only a
/// real `timeline` key matches the pattern (inside a JSON string its quotes are escaped),
/// so once moved, nothing is found again.
async fn move_inline_timelines(conn: &mut PgConnection, schema: &str) -> Result<(), StoreError> {
    let rows: Vec<String> = sqlx::query_scalar(&format!(
        "SELECT state FROM {schema}.incidents WHERE state LIKE '%\"timeline\":%'"
    ))
    .fetch_all(&mut *conn)
    .await?;
    for state in rows {
        let incident: Incident = decode("incident", &state)?;
        let id = incident.id.to_string();
        sqlx::query(&format!(
            "UPDATE {schema}.incidents SET state = $2 WHERE id = $1"
        ))
        .bind(&id)
        .bind(encode_incident_row(&incident))
        .execute(&mut *conn)
        .await?;
        write_new_timeline_entries(conn, schema, &[&incident], &[id]).await?;
    }
    Ok(())
}

/// `url` without its password (in the authority or as a `password` parameter), for
/// messages and logs. A string that is not a URL is not shown at all.
pub fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "<a connection string that is not a URL>".to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            format!("{user}@{host}")
        }
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let kept: Vec<&str> = query
                .split('&')
                .filter(|pair| {
                    let key = pair.split_once('=').map_or(*pair, |(key, _)| key);
                    !key.eq_ignore_ascii_case("password")
                })
                .collect();
            if kept.is_empty() {
                path.to_owned()
            } else {
                format!("{path}?{}", kept.join("&"))
            }
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

/// The select-list expression that gives an `incidents` row's timeline: its entries'
/// JSON joined with commas in position order (NULL when it has none), read in the same
/// statement (so from the same snapshot) as the row, and decoded in one parse.
fn timeline_of_row(schema: &str) -> String {
    format!(
        "(SELECT string_agg(entry, ',' ORDER BY entries.position)
          FROM {schema}.timeline_entries AS entries WHERE entries.incident_id = incidents.id)"
    )
}

/// Writes the timeline entries of `incidents` (with their ids, `ids`) that are not stored
/// yet, in one statement. The fold only appends, so the stored entries are each timeline's
/// first ones: only positions from the stored count on are inserted. (Stored entries
/// beyond a timeline's length cannot come from the fold; they are removed so the stored
/// incident is exactly the committed one.)
async fn write_new_timeline_entries(
    tx: &mut PgConnection,
    schema: &str,
    incidents: &[&Incident],
    ids: &[String],
) -> Result<(), StoreError> {
    let stored: Vec<(String, i32)> = sqlx::query_as(&format!(
        "SELECT incident_id, MAX(position) + 1 FROM {schema}.timeline_entries
         WHERE incident_id = ANY($1) GROUP BY incident_id"
    ))
    .bind(ids)
    .fetch_all(&mut *tx)
    .await?;
    let stored: BTreeMap<String, usize> = stored
        .into_iter()
        .map(|(id, count)| (id, count as usize))
        .collect();
    let (mut cut_ids, mut cut_lengths) = (Vec::new(), Vec::new());
    let (mut entry_ids, mut positions, mut entries) = (Vec::new(), Vec::new(), Vec::new());
    for (incident, id) in incidents.iter().zip(ids) {
        let stored = stored.get(id).copied().unwrap_or(0);
        if stored > incident.timeline.len() {
            cut_ids.push(id.as_str());
            cut_lengths.push(incident.timeline.len() as i32);
        }
        for (position, entry) in incident.timeline.iter().enumerate().skip(stored) {
            entry_ids.push(id.as_str());
            positions.push(position as i32);
            entries.push(encode_timeline_entry(entry));
        }
    }
    if !cut_ids.is_empty() {
        sqlx::query(&format!(
            "DELETE FROM {schema}.timeline_entries AS entries
             USING UNNEST($1::text[], $2::int4[]) AS cut (incident_id, length)
             WHERE entries.incident_id = cut.incident_id AND entries.position >= cut.length"
        ))
        .bind(&cut_ids)
        .bind(&cut_lengths)
        .execute(&mut *tx)
        .await?;
    }
    if !entry_ids.is_empty() {
        sqlx::query(&format!(
            "INSERT INTO {schema}.timeline_entries (incident_id, position, entry)
             SELECT * FROM UNNEST($1::text[], $2::int4[], $3::text[])"
        ))
        .bind(&entry_ids)
        .bind(&positions)
        .bind(&entries)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

fn token_from_row(row: &PgRow) -> Result<TokenInfo, StoreError> {
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
impl ProjectionStore for PgStore {
    async fn checkpoints(&self) -> Result<BTreeMap<Partition, Offset>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        self.checkpoints_in(&mut conn).await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(streams = stream_keys.len()))]
    async fn load(
        &self,
        stream_keys: &BTreeSet<String>,
        incident_ids: &BTreeSet<Uuid>,
    ) -> Result<Projection, StoreError> {
        let schema = self.schema;
        let mut conn = self.pool.acquire().await?;
        let mut projection = Projection::default();
        let mut wanted = incident_ids.clone();
        if !stream_keys.is_empty() {
            let keys: Vec<&str> = stream_keys.iter().map(String::as_str).collect();
            let rows = sqlx::query(&format!(
                "SELECT stream_key, state FROM {schema}.streams WHERE stream_key = ANY($1)"
            ))
            .bind(&keys)
            .fetch_all(&mut *conn)
            .await?;
            for row in rows {
                let key: String = row.get(0);
                let json: String = row.get(1);
                let stream: StreamState = decode(&format!("stream {key}"), &json)?;
                wanted.extend(stream.current_incident);
                projection.streams.insert(key, stream);
            }
            let rows = sqlx::query(&format!(
                "SELECT stream_key, fact_ids FROM {schema}.folded_facts WHERE stream_key = ANY($1)"
            ))
            .bind(&keys)
            .fetch_all(&mut *conn)
            .await?;
            for row in rows {
                let key: String = row.get(0);
                let packed: Vec<u8> = row.get(1);
                if let Some(stream) = projection.streams.get_mut(&key) {
                    unpack_ids(&key, &packed, &mut stream.seen_facts)?;
                }
            }
        }
        if !wanted.is_empty() {
            let ids: Vec<String> = wanted.iter().map(Uuid::to_string).collect();
            let rows: Vec<IncidentRow> = sqlx::query_as(&format!(
                "SELECT state, {} FROM {schema}.incidents WHERE id = ANY($1)",
                timeline_of_row(schema)
            ))
            .bind(&ids)
            .fetch_all(&mut *conn)
            .await?;
            for incident in incidents_from_rows(&rows)? {
                projection.incidents.insert(incident.id, incident);
            }
        }
        Ok(projection)
    }

    #[tracing::instrument(level = "debug", skip(self, projection))]
    async fn commit(
        &self,
        projection: &Projection,
        partition: Partition,
        from: Offset,
        to: Offset,
    ) -> Result<(), StoreError> {
        let schema = self.schema;
        let mut tx = self.pool.begin().await?;
        if schema == REBUILD_SCHEMA {
            // A rebuild need not wait for each commit to reach the disk: a crash loses at
            // most its last commits, all-or-nothing with their checkpoint, and the rebuild
            // schema is not live until `finish_rebuild` (whose own commit is synchronous),
            // nor kept across a restart (`begin_rebuild` drops it).
            sqlx::query("SET LOCAL synchronous_commit = off")
                .execute(&mut *tx)
                .await?;
        }
        // Under READ COMMITTED a plain SELECT would let two commits from the same `from`
        // both see it and both write. So the checkpoint row is locked first. A partition
        // never committed has no row to lock: the 0 row is inserted first (a concurrent
        // insert of the same key waits for this transaction, then finds the row and does
        // nothing), so the lock always has a row to hold. A refused commit rolls the 0
        // row back with everything else.
        sqlx::query(&format!(
            "INSERT INTO {schema}.checkpoints (log_partition, next_offset) VALUES ($1, 0)
             ON CONFLICT (log_partition) DO NOTHING"
        ))
        .bind(partition as i64)
        .execute(&mut *tx)
        .await?;
        // FOR UPDATE waits for a concurrent holder and then reads the row as it committed.
        let found: i64 = sqlx::query_scalar(&format!(
            "SELECT next_offset FROM {schema}.checkpoints WHERE log_partition = $1 FOR UPDATE"
        ))
        .bind(partition as i64)
        .fetch_one(&mut *tx)
        .await?;
        let found = found as Offset;
        if found != from {
            if let Err(error) = tx.rollback().await {
                // Nothing was committed either way; the connection is discarded.
                tracing::warn!(%error, "rolling back a refused commit failed");
            }
            return Err(StoreError::CheckpointMoved {
                partition,
                expected: from,
                found,
            });
        }
        // Keys are unique and sorted (BTreeMap), so concurrent commits lock rows in one
        // order.
        if !projection.streams.is_empty() {
            let (keys, states): (Vec<&str>, Vec<String>) = projection
                .streams
                .iter()
                .map(|(key, stream)| (key.as_str(), encode_stream(stream)))
                .unzip();
            sqlx::query(&format!(
                "INSERT INTO {schema}.streams (stream_key, state)
                 SELECT * FROM UNNEST($1::text[], $2::text[])
                 ON CONFLICT (stream_key) DO UPDATE SET state = EXCLUDED.state"
            ))
            .bind(&keys)
            .bind(&states)
            .execute(&mut *tx)
            .await?;
            let (keys, packed): (Vec<&str>, Vec<Vec<u8>>) = projection
                .streams
                .iter()
                .filter(|(_, stream)| !stream.seen_facts.is_empty())
                .map(|(key, stream)| (key.as_str(), pack_ids(&stream.seen_facts)))
                .unzip();
            if !keys.is_empty() {
                sqlx::query(&format!(
                    "INSERT INTO {schema}.folded_facts (stream_key, fact_ids)
                     SELECT * FROM UNNEST($1::text[], $2::bytea[])"
                ))
                .bind(&keys)
                .bind(&packed)
                .execute(&mut *tx)
                .await?;
            }
        }
        if !projection.incidents.is_empty() {
            let incidents: Vec<&Incident> = projection.incidents.values().collect();
            let ids: Vec<String> = incidents.iter().map(|i| i.id.to_string()).collect();
            let streams: Vec<&str> = incidents.iter().map(|i| i.stream_key.as_str()).collect();
            let statuses: Vec<&str> = incidents.iter().map(|i| i.status.as_str()).collect();
            let severities: Vec<&str> = incidents.iter().map(|i| i.severity.as_str()).collect();
            let opened: Vec<i64> = incidents.iter().map(|i| opened_at_ns(i)).collect();
            let states: Vec<String> = incidents.iter().map(|i| encode_incident_row(i)).collect();
            sqlx::query(&format!(
                "INSERT INTO {schema}.incidents
                     (id, stream_key, status, severity, opened_at_ns, state)
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[],
                                      $5::int8[], $6::text[])
                 ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status,
                     severity = EXCLUDED.severity, state = EXCLUDED.state"
            ))
            .bind(&ids)
            .bind(&streams)
            .bind(&statuses)
            .bind(&severities)
            .bind(&opened)
            .bind(&states)
            .execute(&mut *tx)
            .await?;
            write_new_timeline_entries(&mut tx, schema, &incidents, &ids).await?;
        }
        for change in projection.changes.values() {
            sqlx::query(&format!(
                "INSERT INTO {schema}.changes (id, service, at_ns, state) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (id) DO NOTHING"
            ))
            .bind(change.id.to_string())
            .bind(&change.service)
            .bind(change.at.unix_nanos() as i64)
            .bind(encode(change))
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(&format!(
            "UPDATE {schema}.checkpoints SET next_offset = $2 WHERE log_partition = $1"
        ))
        .bind(partition as i64)
        .bind(to as i64)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
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
            sqlx::query(&format!("DELETE FROM {}.{table}", self.schema))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn begin_rebuild(&self) -> Result<SharedStore, StoreError> {
        let mut tx = self.pool.begin().await?;
        lock_schema_changes(&mut tx).await?;
        sqlx::query(&format!("DROP SCHEMA IF EXISTS {REBUILD_SCHEMA} CASCADE"))
            .execute(&mut *tx)
            .await?;
        create_projection_tables(&mut tx, REBUILD_SCHEMA).await?;
        tx.commit().await?;
        Ok(Arc::new(Self {
            pool: self.pool.clone(),
            schema: REBUILD_SCHEMA,
        }))
    }

    async fn finish_rebuild(&self) -> Result<(), StoreError> {
        // DDL is transactional: readers see the old schema until the commit and the
        // rebuilt one after it, never neither. Fails, changing nothing, without a rebuild
        // schema to swap in.
        let mut tx = self.pool.begin().await?;
        lock_schema_changes(&mut tx).await?;
        for statement in [
            format!("DROP SCHEMA IF EXISTS {LIVE_SCHEMA} CASCADE"),
            format!("ALTER SCHEMA {REBUILD_SCHEMA} RENAME TO {LIVE_SCHEMA}"),
        ] {
            sqlx::query(&statement).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn incident(&self, id: Uuid) -> Result<Option<Incident>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        self.incident_in(&mut conn, id).await
    }

    async fn incidents_with_action_items(&self) -> Result<Vec<Incident>, StoreError> {
        // Rows are compact JSON, so a non-empty list reads `"action_items":[{`.
        let rows: Vec<IncidentRow> = sqlx::query_as(&format!(
            "SELECT state, {} FROM {}.incidents WHERE state LIKE '%\"action_items\":[{{%'
             ORDER BY opened_at_ns DESC, id DESC",
            timeline_of_row(self.schema),
            self.schema
        ))
        .fetch_all(&self.pool)
        .await?;
        incidents_from_rows(&rows)
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn list_incidents(&self, query: &IncidentQuery) -> Result<IncidentPage, StoreError> {
        let status_clause = match query.status {
            StatusFilter::Open => "status NOT IN ('resolved', 'closed')",
            StatusFilter::Resolved => "status IN ('resolved', 'closed')",
            StatusFilter::All => "TRUE",
        };
        let overdue = crate::overdue_clause(query);
        let limit = query.limit.max(1) as i64;
        let schema = self.schema;
        // An absent service or class filter binds NULL or false, which admits every row
        // before the state is parsed: the executor evaluates an OR from the left and
        // stops at the first true operand. The class is compared with IS NOT DISTINCT
        // FROM, so a NULL code selects the unclassified.
        let filters = format!(
            "{status_clause} AND {overdue}
             AND ($1::text IS NULL OR {SERVICE_OF_ROW} = $1)
             AND (NOT $2::boolean OR ({CLASS_IN_FORCE_OF_ROW}) IS NOT DISTINCT FROM $3::text)"
        );
        let service = query.service.as_deref();
        let class_code = query.class.and_then(ClassFilter::code);
        let timeline = if query.with_timelines {
            timeline_of_row(schema)
        } else {
            "NULL::text".to_owned()
        };
        let rows: Vec<IncidentRow> = match &query.cursor {
            Some(cursor) => {
                sqlx::query_as(&format!(
                    "SELECT state, {timeline} FROM {schema}.incidents
                     WHERE {filters} AND (opened_at_ns, id) < ($5, $6)
                     ORDER BY opened_at_ns DESC, id DESC LIMIT $4"
                ))
                .bind(service)
                .bind(query.class.is_some())
                .bind(class_code)
                .bind(limit + 1)
                .bind(cursor.opened_at_ns)
                .bind(cursor.id.to_string())
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query_as(&format!(
                    "SELECT state, {timeline} FROM {schema}.incidents WHERE {filters}
                     ORDER BY opened_at_ns DESC, id DESC LIMIT $4"
                ))
                .bind(service)
                .bind(query.class.is_some())
                .bind(class_code)
                .bind(limit + 1)
                .fetch_all(&self.pool)
                .await?
            }
        };
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

    async fn incidents_opened_between(
        &self,
        from: Timestamp,
        to: Timestamp,
        service: Option<&str>,
    ) -> Result<Vec<Incident>, StoreError> {
        let rows: Vec<IncidentRow> = sqlx::query_as(&format!(
            "SELECT state, {} FROM {}.incidents
             WHERE opened_at_ns >= $1 AND opened_at_ns < $2
               AND ($3::text IS NULL OR {SERVICE_OF_ROW} = $3)
             ORDER BY opened_at_ns, id",
            timeline_of_row(self.schema),
            self.schema
        ))
        .bind(bound_ns(from))
        .bind(bound_ns(to))
        .bind(service)
        .fetch_all(&self.pool)
        .await?;
        incidents_from_rows(&rows)
    }

    async fn changes_between(
        &self,
        service: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<Change>, StoreError> {
        let states: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT state FROM {}.changes WHERE service = $1 AND at_ns BETWEEN $2 AND $3
             ORDER BY at_ns, id",
            self.schema
        ))
        .bind(service)
        .bind(from.unix_nanos() as i64)
        .bind(to.unix_nanos() as i64)
        .fetch_all(&self.pool)
        .await?;
        states.iter().map(|state| decode("change", state)).collect()
    }

    async fn export(&self) -> Result<Export, StoreError> {
        let schema = self.schema;
        // One snapshot for all three tables, so the checkpoints cover exactly the rows.
        let mut tx = self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await?;
        let checkpoints = self.checkpoints_in(&mut tx).await?;
        let mut streams = BTreeMap::new();
        for row in sqlx::query(&format!("SELECT stream_key, state FROM {schema}.streams"))
            .fetch_all(&mut *tx)
            .await?
        {
            let key: String = row.get(0);
            let state: String = row.get(1);
            let stream: StreamState = decode(&format!("stream {key}"), &state)?;
            streams.insert(key, stream);
        }
        for row in sqlx::query(&format!(
            "SELECT stream_key, fact_ids FROM {schema}.folded_facts"
        ))
        .fetch_all(&mut *tx)
        .await?
        {
            let key: String = row.get(0);
            let packed: Vec<u8> = row.get(1);
            let stream: &mut StreamState = streams.entry(key.clone()).or_default();
            unpack_ids(&key, &packed, &mut stream.seen_facts)?;
        }
        let mut incidents = BTreeMap::new();
        let rows: Vec<IncidentRow> = sqlx::query_as(&format!(
            "SELECT state, {} FROM {schema}.incidents",
            timeline_of_row(schema)
        ))
        .fetch_all(&mut *tx)
        .await?;
        for incident in incidents_from_rows(&rows)? {
            incidents.insert(incident.id, incident);
        }
        let mut changes = BTreeMap::new();
        for state in sqlx::query_scalar::<_, String>(&format!("SELECT state FROM {schema}.changes"))
            .fetch_all(&mut *tx)
            .await?
        {
            let change: Change = decode("change", &state)?;
            changes.insert(change.id, change);
        }
        tx.commit().await?;
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
        // No conflict target: any unique index, the partial one on live names included,
        // turns a clash into "nothing inserted".
        let inserted = sqlx::query(
            "INSERT INTO public.tokens (id, name, scopes, token_hash, created_at, signing_secret)
             VALUES ($1, $2, $3, $4, $5, $6)
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
            "SELECT id, name, scopes, created_at, revoked_at, signing_secret FROM public.tokens
             WHERE token_hash = $1 AND revoked_at IS NULL",
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
            "SELECT log_partition, next_offset FROM public.consumer_checkpoints WHERE consumer = $1",
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
                "INSERT INTO public.consumer_checkpoints (consumer, log_partition, next_offset)
                 VALUES ($1, $2, $3) ON CONFLICT (consumer, log_partition) DO NOTHING",
            )
            .bind(consumer)
            .bind(partition as i64)
            .bind(to as i64)
            .execute(&self.pool)
            .await?
            .rows_affected(),
            Some(from) => sqlx::query(
                "UPDATE public.consumer_checkpoints SET next_offset = $1
                 WHERE consumer = $2 AND log_partition = $3 AND next_offset = $4",
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
        sqlx::query(
            "SELECT id, name, scopes, created_at, revoked_at, signing_secret FROM public.tokens
             ORDER BY name, created_at, id",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(token_from_row)
        .collect()
    }

    async fn revoke_token(&self, name: &str, revoked_at: Timestamp) -> Result<bool, StoreError> {
        let updated = sqlx::query(
            "UPDATE public.tokens SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL",
        )
        .bind(revoked_at.to_string())
        .bind(name)
        .execute(&self.pool)
        .await?;
        Ok(updated.rows_affected() == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::redacted;

    #[test]
    fn redacted_urls_keep_everything_but_the_password() {
        for (url, shown) in [
            (
                "postgres://alice:s3cr%40t@db.example:5432/aftermath?sslmode=require",
                "postgres://alice@db.example:5432/aftermath?sslmode=require",
            ),
            (
                "postgres://postgres@127.0.0.1:5432/postgres",
                "postgres://postgres@127.0.0.1:5432/postgres",
            ),
            ("postgresql://bob:p@ss@host/db", "postgresql://bob@host/db"),
            (
                "postgres://host/db?user=x&password=hunter2&sslmode=disable",
                "postgres://host/db?user=x&sslmode=disable",
            ),
            ("postgres://host/db?password=hunter2", "postgres://host/db"),
            ("postgres://u:pw@host", "postgres://u@host"),
            (
                "host=db password=hunter2",
                "<a connection string that is not a URL>",
            ),
        ] {
            assert_eq!(redacted(url), shown, "{url}");
        }
    }
}
