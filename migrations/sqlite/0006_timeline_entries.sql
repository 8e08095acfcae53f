-- An incident's timeline, one row per entry. It used to be a list inside the incident's
-- row, which grew with the incident and was re-encoded and rewritten whole by every
-- commit that touched it (rows of megabytes in a long replay). The fold only appends to
-- a timeline, so each entry is written once, at its position (from 0), and never
-- updated. Derived from the log: dropped by a rebuild.
CREATE TABLE timeline_entries (
    incident_id TEXT NOT NULL,
    position    INTEGER NOT NULL,
    entry       TEXT NOT NULL,
    PRIMARY KEY (incident_id, position)
) WITHOUT ROWID;

-- Incident rows written before: their timelines move here.
INSERT INTO timeline_entries (incident_id, position, entry)
SELECT incidents.id, CAST(entry.key AS INTEGER), entry.value
FROM incidents, json_each(incidents.state, '$.timeline') AS entry;
UPDATE incidents SET state = json_remove(state, '$.timeline')
WHERE json_type(state, '$.timeline') IS NOT NULL;
