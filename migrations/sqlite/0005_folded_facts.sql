-- Fact ids already folded, per stream (the fold's `seen_facts`). They used to be a list
-- inside the stream's row, which grew with the log and was rewritten whole on every
-- commit. Now each commit inserts one row per stream holding only the ids its batch
-- folded, packed as 16 bytes each; a stream's ids are the union of its rows. Derived from
-- the log: dropped by a rebuild.
CREATE TABLE folded_facts (
    stream_key TEXT NOT NULL,
    fact_ids   BLOB NOT NULL
);
CREATE INDEX folded_facts_by_stream ON folded_facts (stream_key);

-- Stream rows written before: their lists move here, one row per stream.
INSERT INTO folded_facts (stream_key, fact_ids)
SELECT streams.stream_key, unhex(group_concat(replace(id.value, '-', ''), ''))
FROM streams, json_each(streams.state, '$.seen_facts') AS id
GROUP BY streams.stream_key;
UPDATE streams SET state = json_remove(state, '$.seen_facts')
WHERE json_type(state, '$.seen_facts') IS NOT NULL;
