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
// transaction with processed_events take a lease first (lease.go).
//
// State: the lag, pending and headroom gauges and the missed-events count
// come from the server's view of the consumer and its stream (state.go);
// expired rows of the consumer's tables are pruned (retention.go).
//
// Files, one concern each: consumer.go is the fetch loop and the settling
// of each message; failures.go counts failed attempts and spaces the
// retries; deadletter.go writes the dead-letter stream and holds the
// operator's tools to list, replay and purge it; metrics.go the collectors.
package consumer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/authevents/authevents"
)

// Event is a delivered auth event.
type Event struct {
	authevents.CloudEvent
	Subject    string // NATS subject
	Body       []byte // the message body as published
	StreamSeq  uint64
	Deliveries uint64
}

// Handler applies one event's effect. It must be idempotent by event id
// (see Once). An error wrapped with Permanent is not retried.
type Handler interface {
	Handle(ctx context.Context, ev *Event) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, ev *Event) error

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, ev *Event) error { return f(ctx, ev) }

// Config configures one durable consumer.
type Config struct {
	Stream        string          // source stream, auth-events
	Durable       string          // durable name = service name
	FilterSubject string          // e.g. auth.user.registered, or auth.user.*
	Attempts      int             // handler failures before dead-lettering (3)
	MaxDeliveries int             // server-side backstop on deliveries (10 x Attempts)
	Backoff       []time.Duration // delay after failure 1, 2, ... (NakWithDelay)
	AckWait       time.Duration   // server redelivers after this without an ack
	Batch         int             // messages per fetch
	DLQStream     string          // dead-letter stream, auth-events-dlq
	// DLQReplicas is the dead-letter stream's replica count (0: 1); set
	// it to the event stream's (STREAM_REPLICAS), so a node lost on a
	// cluster loses no dead letter either.
	DLQReplicas   int
	StateInterval time.Duration // how often the consumer and stream state is read for metrics (5s)
	DBTimeout     time.Duration // deadline of each bookkeeping round trip to Postgres (5s)
	Retention     Retention     // how long the consumer's rows are kept (DefaultRetention())
	PruneInterval time.Duration // how often expired rows are deleted; 0: never (cmd/consumer: 10m)
	PruneBatch    int           // rows per DELETE (1000)
}

// withDefaults returns c with each zero field set to its default: stream
// auth-events, 3 attempts, DefaultBackoff, AckWait 30s, batches of 50, the
// dead-letter stream <stream>-dlq, DefaultRetention, and so on.
func (c Config) withDefaults() Config {
	if c.Stream == "" {
		c.Stream = "auth-events"
	}
	if c.Attempts <= 0 {
		c.Attempts = 3
	}
	if c.MaxDeliveries <= c.Attempts {
		c.MaxDeliveries = 10 * c.Attempts
	}
	if len(c.Backoff) == 0 {
		c.Backoff = DefaultBackoff()
	}
	if c.AckWait <= 0 {
		c.AckWait = 30 * time.Second
	}
	if c.Batch <= 0 {
		c.Batch = 50
	}
	if c.DLQStream == "" {
		c.DLQStream = c.Stream + "-dlq"
	}
	if c.StateInterval <= 0 {
		c.StateInterval = 5 * time.Second
	}
	if c.DBTimeout <= 0 {
		c.DBTimeout = 5 * time.Second
	}
	if c.Retention == (Retention{}) {
		c.Retention = DefaultRetention()
	}
	return c
}

// Consumer runs one durable consumer.
type Consumer struct {
	js   jetstream.JetStream
	pool *pgxpool.Pool
	cfg  Config
	h    Handler
	log  *slog.Logger
	m    *metrics

	markSeen uint64 // last consumer_stream_marks value committed (watchState's goroutine only)
	markSet  bool   // markSeen is known
}

// New returns a Consumer. Metrics are labelled with the durable name, so
// several consumers may share reg.
func New(js jetstream.JetStream, pool *pgxpool.Pool, cfg Config, h Handler, m *Metrics, log *slog.Logger) *Consumer {
	cfg = cfg.withDefaults()
	return &Consumer{js: js, pool: pool, cfg: cfg, h: h, log: log.With("component", "consumer", "consumer", cfg.Durable), m: m.forConsumer(cfg.Durable)}
}

// Ensure creates or updates the durable consumer and the dead-letter stream.
func (c *Consumer) Ensure(ctx context.Context) (jetstream.Consumer, error) {
	if err := EnsureDLQ(ctx, c.js, c.cfg.DLQStream, c.cfg.DLQReplicas); err != nil {
		return nil, err
	}
	cons, err := c.js.CreateOrUpdateConsumer(ctx, c.cfg.Stream, jetstream.ConsumerConfig{
		Durable: c.cfg.Durable, AckPolicy: jetstream.AckExplicitPolicy, AckWait: c.cfg.AckWait,
		MaxDeliver: c.cfg.MaxDeliveries, FilterSubject: c.cfg.FilterSubject,
		DeliverPolicy: jetstream.DeliverAllPolicy, MaxAckPending: 1000,
	})
	if err != nil {
		return nil, fmt.Errorf("consumer %s on %s: %w", c.cfg.Durable, c.cfg.Stream, err)
	}
	// The missed-events mark starts where the consumer is (see countMissed).
	if s, err := c.js.Stream(ctx, c.cfg.Stream); err == nil {
		at := cons.CachedInfo().AckFloor.Stream
		if first := s.CachedInfo().State.FirstSeq; first > 0 {
			at = max(at, first-1)
		}
		dctx, cancel := context.WithTimeout(ctx, c.cfg.DBTimeout)
		err := c.initMark(dctx, c.pool, at)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("consumer %s: missed-events mark: %w", c.cfg.Durable, err)
		}
	}
	return cons, nil
}

// start ensures the durable consumer and reads its stream, retrying with
// backoff until it succeeds or ctx ends: JetStream may be unavailable for
// a while (a cluster electing a leader or without quorum, a broker
// restarting), and a replica started then must wait for it, as the relay
// does, not exit (the chaos suite found replicas exiting with status 1).
func (c *Consumer) start(ctx context.Context) (jetstream.Consumer, jetstream.Stream, error) {
	for attempt := 1; ; attempt++ {
		cons, err := c.Ensure(ctx)
		var stream jetstream.Stream
		if err == nil {
			stream, err = c.js.Stream(ctx, c.cfg.Stream)
			if err != nil {
				err = fmt.Errorf("stream %s: %w", c.cfg.Stream, err)
			}
		}
		if err == nil {
			return cons, stream, nil
		}
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		if attempt == 1 || attempt%20 == 0 {
			c.log.Warn("cannot set up the consumer yet; retrying", "err", err, "attempt", attempt)
		}
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(min(time.Duration(attempt)*250*time.Millisecond, 5*time.Second)):
		}
	}
}

// Run fetches and handles messages until ctx ends; setting up waits for
// JetStream, however long it is unavailable. On ctx end it stops
// fetching and finishes the messages it holds (each is acked, nak'ed or
// dead-lettered; none is dropped).
func (c *Consumer) Run(ctx context.Context) error {
	cons, stream, err := c.start(ctx)
	if err != nil {
		return nil // ctx ended
	}
	var stateWG sync.WaitGroup
	stateWG.Go(func() { c.watchState(ctx, stream, cons) })
	if c.cfg.PruneInterval > 0 {
		// A processed_events record must outlive every redelivery of its
		// event from the stream (see Retention).
		if sc := stream.CachedInfo().Config; sc.MaxAge > 0 && c.cfg.Retention.Processed > 0 && c.cfg.Retention.Processed < sc.MaxAge+sc.Duplicates {
			c.log.Error("CONSUMER_RETENTION is shorter than the stream keeps events; using the stream's max age plus dedupe window",
				"retention", c.cfg.Retention.Processed.String(), "stream_max_age", sc.MaxAge.String(), "duplicates", sc.Duplicates.String())
			c.cfg.Retention.Processed = sc.MaxAge + sc.Duplicates
		}
		stateWG.Go(func() { c.prune(ctx) })
	}
	defer stateWG.Wait()
	held := newHeld()
	done := make(chan struct{})
	defer close(done)
	go held.keepAlive(done, keepAlivePeriod(c.cfg.AckWait))
	failures := 0
	for ctx.Err() == nil {
		batch, err := cons.Fetch(c.cfg.Batch, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			failures++
			if ctx.Err() == nil {
				c.log.Warn("fetch failed", "err", err)
				time.Sleep(min(time.Duration(failures)*200*time.Millisecond, 5*time.Second))
			}
			continue
		}
		// Every message is held (kept alive) from its arrival, not only
		// from when its turn comes: the queue has room for the whole batch,
		// so the reader never waits on the handler.
		queue := make(chan jetstream.Msg, c.cfg.Batch)
		go func() {
			defer close(queue)
			for msg := range batch.Messages() {
				held.add(msg)
				queue <- msg
			}
		}()
		n := 0
		for msg := range queue {
			// Messages already fetched are handled even if ctx ended: they
			// are ours until acked, and handling beats waiting AckWait.
			c.handle(context.WithoutCancel(ctx), msg)
			held.remove(msg)
			n++
		}
		// A pull JetStream refused (no responders, 503: a cluster without
		// quorum or leader) fails the batch, not Fetch: back off as for
		// a failed fetch, or the loop spins (the chaos suite saw eight
		// replicas take most of a core through a quorum loss).
		if err := batch.Error(); err != nil && n == 0 && ctx.Err() == nil {
			failures++
			if failures == 1 || failures%20 == 0 {
				c.log.Warn("fetch refused", "err", err, "consecutive", failures)
			}
			select {
			case <-ctx.Done():
			case <-time.After(min(time.Duration(failures)*200*time.Millisecond, 5*time.Second)):
			}
		} else {
			failures = 0
		}
	}
	return nil
}

// handle runs the handler on one message and settles it.
func (c *Consumer) handle(ctx context.Context, msg jetstream.Msg) {
	start := time.Now()
	md, err := msg.Metadata()
	if err != nil {
		c.log.Error("message without metadata; terminating it", "err", err)
		msg.Term()
		return
	}
	ev := &Event{Subject: msg.Subject(), Body: msg.Data(), StreamSeq: md.Sequence.Stream, Deliveries: md.NumDelivered}
	if md.NumDelivered > 1 {
		c.m.redeliveries.Inc()
	}
	var herr error
	if md.NumDelivered >= uint64(c.cfg.MaxDeliveries) {
		// The server will not deliver it again: dead-letter it now.
		herr = Permanent(fmt.Errorf("delivered %d times without being settled", md.NumDelivered))
	} else if err := json.Unmarshal(msg.Data(), &ev.CloudEvent); err != nil || ev.ID == "" || ev.Type == "" {
		herr = Permanent(fmt.Errorf("not a CloudEvent: %v", err))
	} else {
		herr = c.call(ctx, ev)
	}
	typ := ev.Type
	if typ == "" {
		typ = "unknown"
	}
	c.m.duration.Observe(time.Since(start).Seconds())
	if herr == nil {
		if err := msg.DoubleAck(ctx); err != nil {
			// Not acked: it will be redelivered, and the handler is idempotent.
			c.log.Warn("ack failed", "seq", ev.StreamSeq, "err", err)
		}
		c.forget(ctx, md)
		c.m.processed.WithLabelValues(typ, "ok").Inc()
		return
	}
	if errors.Is(herr, ErrClaimed) {
		// Another replica is performing this effect: look again later,
		// without spending an attempt (it was not a failure).
		msg.NakWithDelay(min(c.cfg.Backoff[0], c.cfg.AckWait))
		c.m.processed.WithLabelValues(typ, "claimed_elsewhere").Inc()
		return
	}
	failures := 0 // a permanent failure is not retried, whatever the count
	if !IsPermanent(herr) {
		var err error
		if failures, err = c.recordFailure(ctx, md, herr); err != nil {
			// Cannot count: retry later without spending an attempt.
			c.log.Warn("cannot record handler failure; retrying", "seq", ev.StreamSeq, "err", err)
			msg.NakWithDelay(c.delay(1))
			c.m.processed.WithLabelValues(typ, "retry").Inc()
			return
		}
	}
	if IsPermanent(herr) || failures >= c.cfg.Attempts {
		if c.deadLetter(ctx, msg, ev, md, failures, herr) {
			c.forget(ctx, md)
			c.m.processed.WithLabelValues(typ, "dead_lettered").Inc()
		}
		return
	}
	delay := c.delay(failures)
	c.log.Warn("handler failed; will retry", "event_id", ev.ID, "type", ev.Type, "attempt", failures, "retry_in", delay, "err", herr)
	msg.NakWithDelay(delay)
	c.m.processed.WithLabelValues(typ, "retry").Inc()
}

// call runs the handler with a deadline inside AckWait; a panic is a
// failure like any other.
func (c *Consumer) call(ctx context.Context, ev *Event) (err error) {
	hctx, cancel := context.WithTimeout(ctx, c.cfg.AckWait-time.Second)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handler panic: %v", p)
		}
	}()
	return c.h.Handle(hctx, ev)
}
