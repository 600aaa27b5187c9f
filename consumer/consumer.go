// Package consumer is the plumbing every subscriber service shares: a
// durable JetStream pull consumer with explicit acks, bounded attempts with
// a delay between them, a dead-letter stream, and the idempotency record
// that makes effects apply once however often a message is delivered.
//
// Attempts: a message is handed to the handler at most Config.Attempts
// times. The server's MaxDeliver is one more than that, as a safety net:
// if the process dies during the last attempt, the server delivers once
// more and the message goes straight to the dead-letter stream instead of
// being dropped by the consumer's ack floor.
package consumer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

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

type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }
func (p permanent) Unwrap() error { return p.err }

// Permanent marks err as not worth retrying: the message goes to the
// dead-letter stream at once.
func Permanent(err error) error { return permanent{err} }

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p permanent
	return errors.As(err, &p)
}

// Config configures one durable consumer.
type Config struct {
	Stream        string          // source stream, auth-events
	Durable       string          // durable name = service name
	FilterSubject string          // e.g. auth.user.registered, or auth.user.*
	Attempts      int             // handler attempts before dead-lettering (3)
	Backoff       []time.Duration // delay before attempt 2, 3, ... (NakWithDelay)
	AckWait       time.Duration   // server redelivers after this without an ack
	Batch         int             // messages per fetch
	DLQStream     string          // dead-letter stream, auth-events-dlq
}

// Defaults fills zero fields.
func (c Config) withDefaults() Config {
	if c.Stream == "" {
		c.Stream = "auth-events"
	}
	if c.Attempts <= 0 {
		c.Attempts = 3
	}
	if len(c.Backoff) == 0 {
		c.Backoff = []time.Duration{time.Second, 5 * time.Second}
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
	return c
}

// Headers of a dead-lettered message.
const (
	HeaderOriginalSubject = "Authevents-Original-Subject"
	HeaderStream          = "Authevents-Stream"
	HeaderStreamSeq       = "Authevents-Stream-Seq"
	HeaderConsumer        = "Authevents-Consumer"
	HeaderDeliveries      = "Authevents-Deliveries"
	HeaderLastError       = "Authevents-Last-Error"
	HeaderEventID         = "Authevents-Event-Id"
)

// DLQSubject is where a consumer's dead letters go.
func DLQSubject(dlqStream, durable string) string { return dlqStream + "." + durable }

// EnsureDLQ creates or updates the dead-letter stream (subjects
// "<name>.>"), file storage, kept 30 days.
func EnsureDLQ(ctx context.Context, js jetstream.JetStream, name string) error {
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: name, Subjects: []string{name + ".>"}, Storage: jetstream.FileStorage,
		MaxAge: 30 * 24 * time.Hour, Duplicates: 2 * time.Minute,
	})
	if err != nil {
		return fmt.Errorf("dead-letter stream %s: %w", name, err)
	}
	return nil
}

// Consumer runs one durable consumer.
type Consumer struct {
	js  jetstream.JetStream
	cfg Config
	h   Handler
	log *slog.Logger
	m   *metrics
}

// New returns a Consumer. Metrics are labelled with the durable name, so
// several consumers may share reg.
func New(js jetstream.JetStream, cfg Config, h Handler, m *Metrics, log *slog.Logger) *Consumer {
	cfg = cfg.withDefaults()
	return &Consumer{js: js, cfg: cfg, h: h, log: log.With("component", "consumer", "consumer", cfg.Durable), m: m.forConsumer(cfg.Durable)}
}

// Ensure creates or updates the durable consumer and the dead-letter stream.
func (c *Consumer) Ensure(ctx context.Context) (jetstream.Consumer, error) {
	if err := EnsureDLQ(ctx, c.js, c.cfg.DLQStream); err != nil {
		return nil, err
	}
	backoff := make([]time.Duration, 0, c.cfg.Attempts)
	for i := range c.cfg.Attempts {
		backoff = append(backoff, c.delay(i+1))
	}
	cons, err := c.js.CreateOrUpdateConsumer(ctx, c.cfg.Stream, jetstream.ConsumerConfig{
		Durable: c.cfg.Durable, AckPolicy: jetstream.AckExplicitPolicy, AckWait: c.cfg.AckWait,
		MaxDeliver: c.cfg.Attempts + 1, BackOff: backoff, FilterSubject: c.cfg.FilterSubject,
		DeliverPolicy: jetstream.DeliverAllPolicy, MaxAckPending: 1000,
	})
	if err != nil {
		return nil, fmt.Errorf("consumer %s on %s: %w", c.cfg.Durable, c.cfg.Stream, err)
	}
	return cons, nil
}

// delay is the wait before attempt n+1 after attempt n failed.
func (c *Consumer) delay(n int) time.Duration {
	if n-1 < len(c.cfg.Backoff) {
		return c.cfg.Backoff[n-1]
	}
	return c.cfg.Backoff[len(c.cfg.Backoff)-1]
}

// Run fetches and handles messages until ctx ends. On ctx end it stops
// fetching and finishes the messages it holds (each is acked, nak'ed or
// dead-lettered; none is dropped).
func (c *Consumer) Run(ctx context.Context) error {
	cons, err := c.Ensure(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	var infoWG sync.WaitGroup
	infoWG.Go(func() { c.watchLag(ctx, cons) })
	defer infoWG.Wait()
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
		failures = 0
		for msg := range batch.Messages() {
			// Messages already fetched are handled even if ctx ended: they
			// are ours until acked, and handling beats waiting AckWait.
			c.handle(context.WithoutCancel(ctx), msg)
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
	if md.NumDelivered > uint64(c.cfg.Attempts) {
		// The safety-net delivery: the last attempt never settled.
		herr = errors.New("attempts exhausted without a settled outcome (consumer died during its last attempt?)")
	} else if err := json.Unmarshal(msg.Data(), &ev.CloudEvent); err != nil || ev.ID == "" || ev.Type == "" {
		herr = Permanent(fmt.Errorf("not a CloudEvent: %v", err))
	} else {
		hctx, cancel := context.WithTimeout(ctx, c.cfg.AckWait-time.Second)
		herr = c.h.Handle(hctx, ev)
		cancel()
	}
	typ := ev.Type
	if typ == "" {
		typ = "unknown"
	}
	c.m.duration.Observe(time.Since(start).Seconds())
	switch {
	case herr == nil:
		if err := msg.DoubleAck(ctx); err != nil {
			// Not acked: it will be redelivered, and the handler is idempotent.
			c.log.Warn("ack failed", "seq", ev.StreamSeq, "err", err)
		}
		c.m.processed.WithLabelValues(typ, "ok").Inc()
	case IsPermanent(herr) || md.NumDelivered >= uint64(c.cfg.Attempts):
		c.deadLetter(ctx, msg, ev, md, herr)
		c.m.processed.WithLabelValues(typ, "dead_lettered").Inc()
	default:
		delay := c.delay(int(md.NumDelivered))
		c.log.Warn("handler failed; will retry", "event_id", ev.ID, "type", ev.Type, "attempt", md.NumDelivered, "retry_in", delay, "err", herr)
		msg.NakWithDelay(delay)
		c.m.processed.WithLabelValues(typ, "retry").Inc()
	}
}

// deadLetter copies the message with its metadata to the dead-letter
// stream, then terminates it in the source consumer. If the copy fails the
// message is nak'ed instead, so it is never dropped silently.
func (c *Consumer) deadLetter(ctx context.Context, msg jetstream.Msg, ev *Event, md *jetstream.MsgMetadata, cause error) {
	out := &nats.Msg{Subject: DLQSubject(c.cfg.DLQStream, c.cfg.Durable), Data: msg.Data(), Header: nats.Header{}}
	out.Header.Set(jetstream.MsgIDHeader, c.cfg.Durable+":"+md.Stream+":"+strconv.FormatUint(md.Sequence.Stream, 10))
	out.Header.Set(HeaderOriginalSubject, msg.Subject())
	out.Header.Set(HeaderStream, md.Stream)
	out.Header.Set(HeaderStreamSeq, strconv.FormatUint(md.Sequence.Stream, 10))
	out.Header.Set(HeaderConsumer, c.cfg.Durable)
	out.Header.Set(HeaderDeliveries, strconv.FormatUint(md.NumDelivered, 10))
	out.Header.Set(HeaderLastError, truncate(cause.Error(), 1000))
	if id := msg.Headers().Get(jetstream.MsgIDHeader); id != "" {
		out.Header.Set(HeaderEventID, id)
	} else if ev.ID != "" {
		out.Header.Set(HeaderEventID, ev.ID)
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := c.js.PublishMsg(pctx, out); err != nil {
		c.log.Error("dead-letter publish failed; message left for redelivery", "seq", ev.StreamSeq, "err", err)
		msg.NakWithDelay(c.delay(c.cfg.Attempts))
		return
	}
	if err := msg.Term(); err != nil {
		c.log.Warn("term after dead-lettering failed", "seq", ev.StreamSeq, "err", err)
	}
	c.m.deadLettered.Inc()
	c.log.Error("message dead-lettered", "event_id", ev.ID, "type", ev.Type, "seq", ev.StreamSeq, "deliveries", md.NumDelivered, "err", cause)
}

// watchLag exports pending, ack-pending and lag from the consumer's info.
func (c *Consumer) watchLag(ctx context.Context, cons jetstream.Consumer) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		ictx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if info, err := cons.Info(ictx); err == nil {
			c.m.pending.Set(float64(info.NumPending))
			c.m.ackPending.Set(float64(info.NumAckPending))
			if info.Delivered.Last != nil && info.NumPending > 0 {
				c.m.lag.Set(time.Since(*info.Delivered.Last).Seconds())
			} else {
				c.m.lag.Set(0)
			}
		}
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// Metrics are the consumer collectors, shared by every consumer of a
// process and labelled by consumer.
type Metrics struct {
	processed    *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	redeliveries *prometheus.CounterVec
	deadLettered *prometheus.CounterVec
	pending      *prometheus.GaugeVec
	ackPending   *prometheus.GaugeVec
	lag          *prometheus.GaugeVec
}

// NewMetrics registers the consumer metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		processed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "authevents_consumer_processed_total",
			Help: "Messages handled, by consumer, event type and result (ok, retry, dead_lettered)."}, []string{"consumer", "type", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "authevents_consumer_processing_duration_seconds",
			Help: "Handler time per message.", Buckets: prometheus.DefBuckets}, []string{"consumer"}),
		redeliveries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "authevents_consumer_redeliveries_total",
			Help: "Messages delivered more than once."}, []string{"consumer"}),
		deadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "authevents_consumer_dead_lettered_total",
			Help: "Messages moved to the dead-letter stream."}, []string{"consumer"}),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "authevents_consumer_pending_messages",
			Help: "Messages not yet delivered to the consumer (consumer info)."}, []string{"consumer"}),
		ackPending: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "authevents_consumer_ack_pending_messages",
			Help: "Messages delivered but not yet acknowledged."}, []string{"consumer"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "authevents_consumer_lag_seconds",
			Help: "Time since the last delivery while messages are pending (0 when caught up)."}, []string{"consumer"}),
	}
	reg.MustRegister(m.processed, m.duration, m.redeliveries, m.deadLettered, m.pending, m.ackPending, m.lag)
	return m
}

type metrics struct {
	processed    *prometheus.CounterVec
	duration     prometheus.Observer
	redeliveries prometheus.Counter
	deadLettered prometheus.Counter
	pending      prometheus.Gauge
	ackPending   prometheus.Gauge
	lag          prometheus.Gauge
}

func (m *Metrics) forConsumer(name string) *metrics {
	return &metrics{
		processed:    m.processed.MustCurryWith(prometheus.Labels{"consumer": name}),
		duration:     m.duration.WithLabelValues(name),
		redeliveries: m.redeliveries.WithLabelValues(name),
		deadLettered: m.deadLettered.WithLabelValues(name),
		pending:      m.pending.WithLabelValues(name),
		ackPending:   m.ackPending.WithLabelValues(name),
		lag:          m.lag.WithLabelValues(name),
	}
}
