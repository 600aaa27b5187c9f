-- +goose Up
-- A claim on one event's side effect, taken before an effect that cannot
-- share a transaction with processed_events (an email). Two replicas never
-- perform it at the same time; a crashed holder's lease expires and another
-- replica takes over.
CREATE TABLE consumer_leases (
    consumer   text        NOT NULL,
    event_id   uuid        NOT NULL,
    owner      text        NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (consumer, event_id)
);
CREATE INDEX consumer_leases_expires_idx ON consumer_leases (expires_at);

-- Per consumer and stream: every sequence up to accounted_through was
-- processed by the consumer or counted as missed (discarded by the stream's
-- limits before it was processed). Replicas update it under a row lock, so
-- a missed event is counted once.
CREATE TABLE consumer_stream_marks (
    consumer          text        NOT NULL,
    stream            text        NOT NULL,
    accounted_through bigint      NOT NULL,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, stream)
);

-- One row per security threshold alert raised: rule, key (account or
-- address) and Window-aligned bucket. Inserted with ON CONFLICT DO NOTHING,
-- it makes the alert fire once per window however many replicas see the
-- threshold reached, in whatever order.
CREATE TABLE security_alert_marks (
    rule       text        NOT NULL,
    key        text        NOT NULL,
    bucket     timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (rule, key, bucket)
);

-- +goose Down
DROP TABLE security_alert_marks;
DROP TABLE consumer_stream_marks;
DROP TABLE consumer_leases;
