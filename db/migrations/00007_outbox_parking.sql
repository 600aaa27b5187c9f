-- +goose Up
-- A dead row keeps holding back the later rows of its ordering key
-- ("parked") until an operator retries or discards it: per-key order is the
-- contract. The claim's per-key probe therefore looks at every earlier row
-- of the key, pending or dead. The table holds only those two states (sent
-- rows are deleted), so a full (ordering_key, seq) index is as small as the
-- partial one it replaces.
CREATE INDEX outbox_key_seq_idx ON outbox (ordering_key, seq);
DROP INDEX outbox_pending_key_idx;

-- Metrics read the outbox lag and counts at every scrape; each must stay an
-- index lookup however large the backlog (1,000,000 pending rows: < 50 ms).
CREATE INDEX outbox_pending_created_idx ON outbox (created_at) WHERE state = 'pending';
CREATE INDEX outbox_dead_key_seq_idx ON outbox (ordering_key, seq) WHERE state = 'dead';

-- Claim lanes (outbox.Lanes = 16): claimers working through a backlog each
-- take a lane, runs of 64 consecutive rows ((seq / 64) % 16 = lane), in seq
-- order. Not partial, so PostgreSQL keeps statistics on the expression and
-- plans an ordered scan that stops at the claim's limit.
CREATE INDEX outbox_lane_seq_idx ON outbox (((seq / 64) % 16), seq);

-- +goose Down
DROP INDEX outbox_lane_seq_idx;
DROP INDEX outbox_dead_key_seq_idx;
DROP INDEX outbox_pending_created_idx;
CREATE INDEX outbox_pending_key_idx ON outbox (ordering_key, seq) WHERE state = 'pending';
DROP INDEX outbox_key_seq_idx;
