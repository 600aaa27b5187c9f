-- +goose Up
-- Delivery state for the relay. Sent rows are deleted, so the table holds
-- only what is still to publish ('pending') and what gave up ('dead').
ALTER TABLE outbox
    ADD COLUMN state           text        NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'dead')),
    ADD COLUMN attempts        integer     NOT NULL DEFAULT 0,
    ADD COLUMN next_attempt_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN last_error      text;

-- The claim scans pending rows in seq order and, per row, probes for an
-- earlier pending row of the same ordering key. Both indexes are partial:
-- dead rows never slow the claim.
DROP INDEX outbox_seq_key;
CREATE INDEX outbox_pending_seq_idx ON outbox (seq) WHERE state = 'pending';
CREATE INDEX outbox_pending_key_idx ON outbox (ordering_key, seq) WHERE state = 'pending';

-- Every row is inserted once and deleted once: vacuum after a fixed number
-- of dead tuples, not a fraction of a table that is meant to stay near
-- empty, and without cost-based sleeping.
ALTER TABLE outbox SET (
    autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 5000,
    autovacuum_vacuum_insert_scale_factor = 0,
    autovacuum_vacuum_insert_threshold = 5000,
    autovacuum_analyze_scale_factor = 0,
    autovacuum_analyze_threshold = 5000,
    autovacuum_vacuum_cost_delay = 0
);

-- +goose Down
ALTER TABLE outbox RESET (
    autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold,
    autovacuum_vacuum_insert_scale_factor, autovacuum_vacuum_insert_threshold,
    autovacuum_analyze_scale_factor, autovacuum_analyze_threshold, autovacuum_vacuum_cost_delay
);
DROP INDEX outbox_pending_key_idx;
DROP INDEX outbox_pending_seq_idx;
CREATE UNIQUE INDEX outbox_seq_key ON outbox (seq);
ALTER TABLE outbox
    DROP COLUMN state,
    DROP COLUMN attempts,
    DROP COLUMN next_attempt_at,
    DROP COLUMN last_error;
