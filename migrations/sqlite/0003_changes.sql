-- Recorded changes (deploys, config pushes, migrations), joined to incidents of the same
-- service when read: suspect changes. Derived from the log: dropped by a rebuild.
CREATE TABLE changes (
    id      TEXT PRIMARY KEY,
    service TEXT,
    at_ns   INTEGER NOT NULL,
    state   TEXT NOT NULL
);
CREATE INDEX changes_by_service ON changes (service, at_ns);
