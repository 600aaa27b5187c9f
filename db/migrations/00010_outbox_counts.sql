-- +goose Up
-- Durable per-minute, per-type counters of what the relay did, written in
-- the relay's claim transaction (the one that deletes the published rows),
-- so they count each row exactly once whatever the number of replicas and
-- restarts: a batch that rolls back takes its counts with it. The
-- dashboard (bin/dashboard) reads its 24-hour figures and its latency
-- sparkline from here, never from a process's memory.
--   minute     the database clock (now() of the batch transaction), truncated
--   type       event type ("user.registered"), the relay's metric label
--   published  rows JetStream acknowledged (a PubAck, duplicate or not)
--   refused    publishes JetStream refused for the message itself (each
--              costs the row an attempt)
--   dead       rows that became dead at that refusal
--   latency_ms row created_at to PubAck: counts per bucket of
--              outbox.LatencyBucketsMs (the last one is +Inf)
CREATE TABLE outbox_counts (
    minute     timestamptz NOT NULL,
    type       text        NOT NULL,
    published  bigint      NOT NULL DEFAULT 0,
    refused    bigint      NOT NULL DEFAULT 0,
    dead       bigint      NOT NULL DEFAULT 0,
    latency_ms bigint[]    NOT NULL,
    PRIMARY KEY (minute, type)
) WITH (fillfactor = 50); -- room for HOT updates: a minute's row is updated by every batch

-- +goose Down
DROP TABLE outbox_counts;
