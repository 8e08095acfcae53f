-- Positions of the log's other consumers (the outbound notifier). Unlike the projector's
-- checkpoints these are not projection state: a rebuild keeps them, so rebuilding never
-- sends a notification twice.
CREATE TABLE consumer_checkpoints (
    consumer TEXT NOT NULL,
    log_partition INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    PRIMARY KEY (consumer, log_partition)
);
