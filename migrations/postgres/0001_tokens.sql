-- Versioned migration 1 of the PostgreSQL store: API tokens, in schema `public`.
-- Tokens are access configuration, not incident state: no rebuild or reset drops them,
-- so their shape changes only through versioned migrations like this one. Applied once,
-- recorded in `public.schema_migrations`, in one transaction under an advisory lock
-- (see `PgStore::migrate`).

CREATE TABLE tokens (
    id         TEXT PRIMARY KEY,
    -- "C": listed by name in byte order, as SQLite's BINARY collation does.
    name       TEXT COLLATE "C" NOT NULL,
    scopes     TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
-- A name identifies one live token; a revoked token's name may be reused.
CREATE UNIQUE INDEX tokens_live_name ON tokens (name) WHERE revoked_at IS NULL;
