-- Projection tables of the PostgreSQL store. Unqualified names: `PgStore` runs this file
-- with `SET LOCAL search_path TO <schema>` after `CREATE SCHEMA IF NOT EXISTS <schema>`,
-- once for the live schema `aftermath_projections` at startup and once for
-- `aftermath_projections_rebuild` at the start of every rebuild.
--
-- No versioned migrations here, on purpose: every row below is derived from the event log
-- and can always be rebuilt from offset 0. A changed shape reaches an existing database
-- through `aftermath rebuild`, which creates these tables afresh in the rebuild schema,
-- folds the log into them and swaps them in; `IF NOT EXISTS` never alters a live table.
--
-- Folded states are JSON stored as TEXT, not JSONB: JSONB reorders object keys and drops
-- duplicates, and the canonical export must be byte-identical to the SQLite store's.

-- Per log partition: the offset of the next fact to fold. Written in the same
-- transaction as the rows it covers (exactly-once effect); `commit` locks this row.
CREATE TABLE IF NOT EXISTS checkpoints (
    log_partition BIGINT PRIMARY KEY,
    next_offset   BIGINT NOT NULL
);

-- Fold state per stream (grouping key): its current incident. Its folded fact ids are in
-- `folded_facts`.
CREATE TABLE IF NOT EXISTS streams (
    stream_key TEXT PRIMARY KEY,
    state      TEXT NOT NULL
);

-- Fact ids already folded, per stream (the fold's `seen_facts`). They used to be a list
-- inside the stream's row, which grew with the log and was rewritten (and re-TOASTed)
-- whole on every commit. Now each commit inserts one row per stream holding only the ids
-- its batch folded, packed as 16 bytes each; a stream's ids are the union of its rows.
CREATE TABLE IF NOT EXISTS folded_facts (
    stream_key TEXT NOT NULL,
    fact_ids   BYTEA NOT NULL
);
CREATE INDEX IF NOT EXISTS folded_facts_by_stream ON folded_facts (stream_key);
-- Stream rows written before that table held the list inline: it moves here, once (the
-- statements find nothing to do afterwards).
INSERT INTO folded_facts (stream_key, fact_ids)
SELECT stream_key, decode(string_agg(replace(id, '-', ''), ''), 'hex')
FROM streams, jsonb_array_elements_text(state::jsonb -> 'seen_facts') AS id
WHERE state::jsonb ? 'seen_facts'
GROUP BY stream_key;
UPDATE streams SET state = jsonb_build_object('current_incident', state::jsonb -> 'current_incident')::text
WHERE state::jsonb ? 'seen_facts';

-- One row per incident: the folded state as canonical JSON, plus the columns queries
-- filter and sort on. `id` is the hyphenated lowercase UUID; collation "C" makes its
-- order byte order (= UUID order, as in SQLite) whatever the database's locale, which
-- the newest-first listing and its cursors rely on.
CREATE TABLE IF NOT EXISTS incidents (
    id           TEXT COLLATE "C" PRIMARY KEY,
    stream_key   TEXT NOT NULL,
    status       TEXT NOT NULL,
    severity     TEXT NOT NULL,
    opened_at_ns BIGINT NOT NULL,
    state        TEXT NOT NULL
);
-- An incident row is rewritten whole whenever a batch touches the incident, and a long
-- one is TOASTed: compressing it again with pglz on every write cost more than the bytes
-- it saved (a 1M-fact rebuild took about half the time without it). Stored out of line,
-- uncompressed. Affects only later writes, so running it at every start is harmless.
ALTER TABLE incidents ALTER COLUMN state SET STORAGE EXTERNAL;
-- An incident's timeline, one row per entry. It used to be a list inside the incident's
-- row, which grew with the incident and was re-encoded and rewritten whole by every
-- commit that touched it. The fold only appends to a timeline, so each entry is written
-- once, at its position (from 0), and never updated.
CREATE TABLE IF NOT EXISTS timeline_entries (
    incident_id TEXT COLLATE "C" NOT NULL,
    position    INTEGER NOT NULL,
    entry       TEXT NOT NULL,
    PRIMARY KEY (incident_id, position)
);
-- Incident rows written before held the list inline: `PgStore` moves it here after this
-- file runs (in Rust, so the rewritten rows stay canonical JSON; jsonb would reorder and
-- respace them).
CREATE INDEX IF NOT EXISTS incidents_newest_first ON incidents (opened_at_ns DESC, id DESC);
CREATE INDEX IF NOT EXISTS incidents_by_status ON incidents (status, opened_at_ns DESC, id DESC);

-- Recorded changes (deploys, config pushes, migrations), joined to incidents of the same
-- service when read: suspect changes.
CREATE TABLE IF NOT EXISTS changes (
    id      TEXT COLLATE "C" PRIMARY KEY,
    service TEXT,
    at_ns   BIGINT NOT NULL,
    state   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS changes_by_service ON changes (service, at_ns);
