// Package consumer is the plumbing every subscriber service shares: a
// durable JetStream pull consumer with explicit acks, bounded attempts with
// a delay between them, a dead-letter stream, and the idempotency record
// that makes effects apply once however often a message is delivered.
//
// Attempts: a message is dead-lettered after its handler failed
// Config.Attempts times. Failures are counted in Postgres
// (consumer_failures), not by the server's delivery count, because a
// delivery to a process killed before it could ack is not a failed
// attempt: a consumer that crashes repeatedly must not use up, and lose,
// the messages it held. The server's MaxDeliver is a generous backstop
// (MaxDeliveries); the delivery that reaches it goes to the dead-letter
// stream instead of falling silently below the consumer's ack floor.
//
// Held messages: every fetched, unsettled message is kept alive with
// InProgress (keepalive.go), so a slow handler does not let the server hand
// the rest of its batch to another replica. Effects that cannot share a
// transaction with processed_events claim it first: the email service
// inserts the mail's processed_events row before the send and commits it
// after (consumer/email).
//
// State: the lag, pending and headroom gauges and the missed-events count
// come from the server's view of the consumer and its stream (state.go);
// expired rows of the consumer's tables are pruned (retention.go).
//
// Files, one concern each: config.go the settings and their defaults;
// setup.go creates the durable consumer, waiting for JetStream; fetch.go
// is the fetch loop; settle.go handles one message and acks, naks or
// dead-letters it; event.go parses the envelope; failures.go counts failed
// attempts and spaces the retries; deadletter.go writes the dead-letter
// stream and holds the operator's tools to list, replay and purge it;
// metrics.go the collectors. A handler that is also a BatchHandler gets
// its events in batches: batch.go the interface and Chain, batch_loop.go
// how a fetch is cut into bounded batches, batch_apply.go the
// transaction, its acks and the isolation of a failing event,
// batch_failures.go the failure counts of a batch in one statement.
//
// Batches: each event passes parse, validation and version steps alone;
// the rest of a batch is applied in one transaction and acknowledged
// after its commit. An event that fails goes through the same failure
// path as one handled alone, while its neighbours commit. Events are
// handed over in stream order and the batches of one replica follow
// each other, so a handler that keeps per-key order (security, later)
// keeps it within and across its batches, as one event at a time did.
package consumer

import (
	"context"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
)

// Handler applies one event's effect. It must be idempotent by event id
// (see Once). An error wrapped with Permanent is not retried.
type Handler interface {
	Handle(ctx context.Context, ev *Event) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, ev *Event) error

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, ev *Event) error { return f(ctx, ev) }

// Consumer runs one durable consumer.
type Consumer struct {
	js   jetstream.JetStream
	pool *pgxpool.Pool
	cfg  Config
	h    Handler
	bh   BatchHandler // h in batches (batch.go), or nil
	gate Handler      // the per-event steps before a batch
	log  *slog.Logger
	m    *metrics

	markSeen uint64 // last consumer_stream_marks value committed (watchState's goroutine only)
	markSet  bool   // markSeen is known
}

// New returns a Consumer. Metrics are labelled with the durable name, so
// several consumers may share reg.
func New(js jetstream.JetStream, pool *pgxpool.Pool, cfg Config, h Handler, m *Metrics, log *slog.Logger) *Consumer {
	cfg = cfg.withDefaults()
	c := &Consumer{js: js, pool: pool, cfg: cfg, h: h, log: log.With("component", "consumer", "consumer", cfg.Durable), m: m.forConsumer(cfg.Durable)}
	c.bh, c.gate = batchMode(h)
	return c
}
