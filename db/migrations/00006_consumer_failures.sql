-- +goose Up
-- Handler failures per message. Attempts are counted here, not by the
-- server's delivery count: deliveries to a process that was killed before
-- it could ack must not use up a message's attempts.
CREATE TABLE consumer_failures (
    consumer   text        NOT NULL,
    stream     text        NOT NULL,
    stream_seq bigint      NOT NULL,
    failures   integer     NOT NULL,
    last_error text        NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, stream, stream_seq)
);

-- +goose Down
DROP TABLE consumer_failures;
