-- Projections of the embedded default. Everything here except `tokens` is derived from
-- the log and is dropped and re-folded by `aftermath rebuild`.

-- Per log partition: the offset of the next fact to fold. Written in the same
-- transaction as the rows it covers (exactly-once effect).
CREATE TABLE checkpoints (
    log_partition INTEGER PRIMARY KEY,
    next_offset   INTEGER NOT NULL
);

-- Fold state per stream (grouping key): current incident and folded fact ids.
CREATE TABLE streams (
    stream_key TEXT PRIMARY KEY,
    state      TEXT NOT NULL
);

-- One row per incident: the folded state as canonical JSON, plus the columns queries
-- filter and sort on.
CREATE TABLE incidents (
    id           TEXT PRIMARY KEY,
    stream_key   TEXT NOT NULL,
    status       TEXT NOT NULL,
    severity     TEXT NOT NULL,
    opened_at_ns INTEGER NOT NULL,
    state        TEXT NOT NULL
);
CREATE INDEX incidents_newest_first ON incidents (opened_at_ns DESC, id DESC);
CREATE INDEX incidents_by_status ON incidents (status, opened_at_ns DESC, id DESC);

-- API tokens. Access configuration, not incident state: never dropped by a rebuild.
CREATE TABLE tokens (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    scopes     TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
-- A name identifies one live token; a revoked token's name may be reused.
CREATE UNIQUE INDEX tokens_live_name ON tokens (name) WHERE revoked_at IS NULL;
