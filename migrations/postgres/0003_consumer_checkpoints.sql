-- Positions of the log's other consumers (the outbound notifier). They live beside the
-- tokens, outside the projection schema, so a rebuild keeps them and never makes the
-- notifier send again.
CREATE TABLE public.consumer_checkpoints (
    consumer TEXT NOT NULL,
    log_partition BIGINT NOT NULL,
    next_offset BIGINT NOT NULL,
    PRIMARY KEY (consumer, log_partition)
);
