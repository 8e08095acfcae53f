//! Projections: the store that holds folded incidents with their checkpoints, the queries
//! the read API needs, API tokens, and the projector that moves facts from the log into it.
//!
//! Architecture invariant: projection rows and the checkpoint that covers them are written
//! in one transaction, so after any crash the store resumes exactly where its rows end.
//! Nothing but the projector writes projection rows.

mod postgres;
mod projector;
mod rows;
mod sqlite;
mod tokens;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use aftermath_core::{ErrorClass, Incident, Projection, Timestamp};
use aftermath_log::{Offset, Partition};
use async_trait::async_trait;
use serde::Serialize;
use uuid::Uuid;

pub use postgres::{redacted as redacted_database_url, PgStore};
pub use projector::{
    CommittedBatch, IncidentMilestone, Milestone, Projector, ProjectorObserver, ProjectorPositions,
};
pub use sqlite::SqliteStore;
pub use tokens::{Scope, TokenInfo, UnknownScope};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("projection database failed: {0}")]
    Database(#[from] sqlx::Error),
    /// The SQLite store's projector connection (rusqlite) failed.
    #[error("projection database failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("stored projection row {what} is unreadable: {message}")]
    Corrupt { what: String, message: String },
    #[error("checkpoint of partition {partition} moved from {expected} to {found}: another projector owns it")]
    CheckpointMoved {
        partition: Partition,
        expected: Offset,
        found: Offset,
    },
    #[error("{0}")]
    InvalidToken(String),
    #[error("event log failed: {0}")]
    Log(#[from] aftermath_log::LogError),
}

/// Which incidents a listing wants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusFilter {
    Open,
    Resolved,
    All,
}

/// Which error class a listing wants. It is matched against the class in force,
/// [`Incident::error_class`]: a responder's override (which may say "unclassified") wins
/// over the classifier's class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClassFilter {
    Class(ErrorClass),
    /// No class in force: the classifier found too little evidence (or none), or a
    /// responder set "unclassified".
    Unclassified,
}

impl ClassFilter {
    /// The code the class in force must equal, `None` for unclassified. The stores compare
    /// it null-safely (SQL `IS` / `IS NOT DISTINCT FROM`), so one bound value covers both.
    pub(crate) fn code(self) -> Option<&'static str> {
        match self {
            ClassFilter::Class(class) => Some(class.code()),
            ClassFilter::Unclassified => None,
        }
    }
}

/// A page request: newest first, resuming after `cursor`.
///
/// `service` and `class` are read from the folded state (`json_extract` in SQLite,
/// `state::jsonb` in PostgreSQL), not from columns of their own. Why: the class in force
/// is derived (an override beats the classifier), so a column would be a second copy of
/// [`Incident::error_class`] kept in step on every commit; PostgreSQL projection tables
/// have no versioned migrations, so a new column would break queries on an existing
/// database until an operator ran a rebuild; and the cost is small at the volumes an
/// incident store holds: a listing walks an index in its own order and stops after
/// `limit + 1` matches (a rare service or class means parsing more rows on the way), and
/// [`ProjectionStore::incidents_opened_between`] parses only the rows of its
/// `opened_at_ns` range. Should listings by service of a large store get slow, an
/// expression index over the same expression is the remedy, without changing any row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncidentQuery {
    pub status: StatusFilter,
    pub limit: u32,
    pub cursor: Option<IncidentCursor>,
    /// Only unacknowledged (`triggered`) incidents opened before the cutoff of their
    /// severity: the acknowledgement SLA is breached.
    pub overdue_before: Option<BTreeMap<aftermath_core::Severity, aftermath_core::Timestamp>>,
    /// Only incidents of this service (exact match on [`Incident::service`]).
    pub service: Option<String>,
    /// Only incidents whose class in force matches.
    pub class: Option<ClassFilter>,
    /// Whether the listed incidents carry their timelines. Summaries (the incident list,
    /// `/metrics`) do not need them, and a long incident's timeline costs more to read than
    /// the rest of it; without, `timeline` is empty.
    pub with_timelines: bool,
}

/// The SQL condition of [`IncidentQuery::overdue_before`]. The cutoffs are numbers and the
/// severities constants, so they are written into the SQL, not bound.
pub(crate) fn overdue_clause(query: &IncidentQuery) -> String {
    match &query.overdue_before {
        None => "1 = 1".to_owned(),
        Some(cutoffs) if cutoffs.is_empty() => "1 = 0".to_owned(),
        Some(cutoffs) => {
            let per_severity: Vec<String> = cutoffs
                .iter()
                .map(|(severity, cutoff)| {
                    format!(
                        "(severity = '{}' AND opened_at_ns < {})",
                        severity.as_str(),
                        cutoff.unix_nanos() as i64
                    )
                })
                .collect();
            format!("status = 'triggered' AND ({})", per_severity.join(" OR "))
        }
    }
}

/// A position in the newest-first order: (opened_at in ns, id) of the last incident seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncidentCursor {
    pub opened_at_ns: i64,
    pub id: Uuid,
}

impl IncidentCursor {
    /// The opaque text form handed to clients.
    pub fn encode(&self) -> String {
        format!("{}_{}", self.opened_at_ns, self.id.simple())
    }

    pub fn decode(text: &str) -> Option<Self> {
        let (at, id) = text.split_once('_')?;
        Some(Self {
            opened_at_ns: at.parse().ok()?,
            id: Uuid::try_parse(id).ok()?,
        })
    }

    pub fn of(incident: &Incident) -> Self {
        Self {
            opened_at_ns: opened_at_ns(incident),
            id: incident.id,
        }
    }
}

/// The sort key of an incident. Nanoseconds since the epoch fit an i64 until 2262.
pub(crate) fn opened_at_ns(incident: &Incident) -> i64 {
    incident.opened_at.unix_nanos() as i64
}

/// A bound of a time range on the `opened_at_ns` scale. An instant outside the i64 range
/// clamps to its end instead of wrapping around, which would turn the range upside down.
pub(crate) fn bound_ns(at: Timestamp) -> i64 {
    let nanos = at.unix_nanos();
    i64::try_from(nanos).unwrap_or(if nanos < 0 { i64::MIN } else { i64::MAX })
}

#[derive(Clone, Debug)]
pub struct IncidentPage {
    pub incidents: Vec<Incident>,
    pub next_cursor: Option<IncidentCursor>,
}

/// The canonical dump of every projection, for comparing a rebuild with the original.
#[derive(Debug, Serialize, PartialEq)]
pub struct Export {
    pub checkpoints: BTreeMap<Partition, Offset>,
    pub streams: BTreeMap<String, aftermath_core::StreamState>,
    pub incidents: BTreeMap<Uuid, Incident>,
    pub changes: BTreeMap<Uuid, aftermath_core::Change>,
}

impl Export {
    /// Pretty JSON with sorted keys: equal projections give equal bytes.
    pub fn to_canonical_json(&self) -> String {
        // Only maps, strings and numbers: serialization cannot fail.
        serde_json::to_string_pretty(self).expect("export serializes")
    }
}

/// Where projections live. SQLite for the embedded default, PostgreSQL ([`PgStore`]) for
/// shared deployments; every backend passes the same contract tests.
#[async_trait]
pub trait ProjectionStore: Send + Sync + 'static {
    /// The next offset to fold for every partition the store has seen.
    async fn checkpoints(&self) -> Result<BTreeMap<Partition, Offset>, StoreError>;

    /// Loads what folding a batch needs: the given streams (with their folded fact ids),
    /// their current incidents, and the incidents named explicitly.
    async fn load(
        &self,
        stream_keys: &BTreeSet<String>,
        incident_ids: &BTreeSet<Uuid>,
    ) -> Result<Projection, StoreError>;

    /// Writes `projection` and moves the checkpoint of `partition` from `from` to `to`, in
    /// one transaction. Fails with [`StoreError::CheckpointMoved`] if the checkpoint is not
    /// at `from` (another projector got there first); nothing is written then.
    ///
    /// A stream's `seen_facts` in `projection` are added to the stored ones, never
    /// replace them: the projector passes only the ids its batch folded, so a commit's cost
    /// does not grow with the stream.
    async fn commit(
        &self,
        projection: &Projection,
        partition: Partition,
        from: Offset,
        to: Offset,
    ) -> Result<(), StoreError>;

    /// Drops every projection row and checkpoint (tokens stay).
    async fn reset(&self) -> Result<(), StoreError>;

    /// Starts a rebuild: returns a store over empty projection tables for the projector
    /// to fill from offset 0. Backends that can (PostgreSQL) build beside the live tables,
    /// so readers keep the old projections until [`Self::finish_rebuild`]; the embedded
    /// store empties its tables in place (the server is stopped for a rebuild).
    async fn begin_rebuild(&self) -> Result<SharedStore, StoreError>;

    /// Makes the rebuilt projections the live ones, atomically.
    async fn finish_rebuild(&self) -> Result<(), StoreError>;

    async fn incident(&self, id: Uuid) -> Result<Option<Incident>, StoreError>;

    /// Changes to `service` that happened in `from..=to`, oldest first.
    async fn changes_between(
        &self,
        service: &str,
        from: aftermath_core::Timestamp,
        to: aftermath_core::Timestamp,
    ) -> Result<Vec<aftermath_core::Change>, StoreError>;

    async fn list_incidents(&self, query: &IncidentQuery) -> Result<IncidentPage, StoreError>;

    /// Every incident opened in `from..to` (`from` inclusive, `to` exclusive), only those
    /// of `service` when given, oldest first (ties by id). Cross-incident figures (MTTA
    /// and MTTR per week) are computed from it at query time.
    async fn incidents_opened_between(
        &self,
        from: Timestamp,
        to: Timestamp,
        service: Option<&str>,
    ) -> Result<Vec<Incident>, StoreError>;

    /// Every incident that has action items, newest first (for the cross-incident list).
    async fn incidents_with_action_items(&self) -> Result<Vec<Incident>, StoreError>;

    async fn export(&self) -> Result<Export, StoreError>;

    /// The next offset to read, per partition, of another consumer of the log (the
    /// notifier). Kept apart from the projections: a rebuild or reset keeps them.
    async fn consumer_checkpoints(
        &self,
        consumer: &str,
    ) -> Result<BTreeMap<Partition, Offset>, StoreError>;

    /// Moves `consumer`'s checkpoint of `partition` from `from` (`None`: it has none yet)
    /// to `to`. Fails with [`StoreError::CheckpointMoved`], changing nothing, when the
    /// checkpoint is elsewhere (another instance of the consumer moved it).
    async fn advance_consumer(
        &self,
        consumer: &str,
        partition: Partition,
        from: Option<Offset>,
        to: Offset,
    ) -> Result<(), StoreError>;

    /// Creates a token and returns it with its secret, which is stored only as a hash.
    async fn create_token(
        &self,
        name: &str,
        scopes: &BTreeSet<Scope>,
        created_at: aftermath_core::Timestamp,
    ) -> Result<(TokenInfo, String), StoreError> {
        self.create_token_with(name, scopes, created_at, None).await
    }

    /// [`Self::create_token`], with the shared secret a signing sender (Grafana, GitHub)
    /// signs its requests with.
    async fn create_token_with(
        &self,
        name: &str,
        scopes: &BTreeSet<Scope>,
        created_at: aftermath_core::Timestamp,
        signing_secret: Option<&str>,
    ) -> Result<(TokenInfo, String), StoreError>;

    /// The token a presented secret belongs to, unless unknown or revoked.
    async fn authenticate(&self, secret: &str) -> Result<Option<TokenInfo>, StoreError>;

    async fn list_tokens(&self) -> Result<Vec<TokenInfo>, StoreError>;

    /// Revokes the token called `name`; false when there is none.
    async fn revoke_token(
        &self,
        name: &str,
        revoked_at: aftermath_core::Timestamp,
    ) -> Result<bool, StoreError>;
}

pub type SharedStore = Arc<dyn ProjectionStore>;
