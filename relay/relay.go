// Package relay moves committed outbox rows to NATS JetStream: claim a
// batch (row locks, SKIP LOCKED, one row per ordering key in flight),
// publish each row asynchronously with its id as Nats-Msg-Id, and only
// after a row's own PubAck delete it, in the same transaction that claimed
// it. Any crash before that commit leaves the rows pending; the republish
// is dropped by JetStream's duplicate window. The relay knows nothing of
// the events it carries: payloads are opaque bytes, and the stream, its
// subjects and the metrics' type label come from its Config.
package relay

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/authevents/authevents/internal/retry"
	"github.com/authevents/authevents/outbox"
)

// Config tunes the relay.
type Config struct {
	BatchSize       int           // rows per batch
	Workers         int           // concurrent batches in this process
	MinPollInterval time.Duration // first idle wait; doubles while idle
	PollInterval    time.Duration // longest idle wait (the polling fallback)
	PublishTimeout  time.Duration // how long to wait for a batch's PubAcks
	MaxAttempts     int           // refused publishes before a row is dead
	RetryBackoff    time.Duration // first retry delay; doubles per attempt
	MaxRetryBackoff time.Duration
	// VacuumRows: once the outbox has this many dead rows, whichever
	// replicas deleted them (or this relay deleted a twentieth of them and
	// drained the outbox), the relay VACUUMs the outbox (vacuum.go); 0:
	// never, autovacuum alone.
	VacuumRows  int
	ContentType string // the Content-Type header of every message
	// Stream is the stream the relay publishes to. When set, the relay
	// provisions it at start and again if it goes missing, and tells
	// subjects it does not bind (a refusal of the message) from a broker
	// that does not answer (unavailability, which costs nothing).
	Stream StreamConfig
	// TypeLabel turns a row's subject into the type label of the metrics
	// and of the durable per-type counters (nil: the subject itself).
	TypeLabel func(subject string) string
}

// DefaultConfig returns the relay's tuning defaults, the same as
// cmd/relay's environment defaults. It names no stream (Stream is empty:
// the relay provisions nothing and never charges a row for "no
// responders") and labels metrics with the subject itself; the binary
// sets both from its configuration. A function, not a variable: no caller
// can change the defaults of the whole process.
func DefaultConfig() Config {
	return Config{
		BatchSize: 2000, Workers: 2, MinPollInterval: 10 * time.Millisecond, PollInterval: time.Second,
		PublishTimeout: 5 * time.Second, MaxAttempts: 10, RetryBackoff: time.Second,
		MaxRetryBackoff: 5 * time.Minute, VacuumRows: 100_000, ContentType: "application/cloudevents+json",
	}
}

// Relay is one relay replica. Any number may run against one database.
type Relay struct {
	pool *pgxpool.Pool
	nc   *nats.Conn
	js   jetstream.JetStream   // stream provisioning and checks
	pubs []jetstream.JetStream // one per worker (newPublisher)
	cfg  Config
	log  *slog.Logger
	m    *metrics
	vac  *vacuumer
	wake chan struct{}

	provisionMu    sync.Mutex // one re-provisioning at a time per process
	batchLog       throttle
	unavailableLog throttle
}

// New returns a relay publishing through nc.
func New(pool *pgxpool.Pool, nc *nats.Conn, cfg Config, reg prometheus.Registerer, log *slog.Logger) (*Relay, error) {
	log = log.With("component", "relay")
	if cfg.TypeLabel == nil {
		cfg.TypeLabel = func(subject string) string { return subject }
	}
	js, err := newPublisher(nc, cfg)
	if err != nil {
		return nil, err
	}
	pubs := make([]jetstream.JetStream, max(cfg.Workers, 1))
	for i := range pubs {
		if pubs[i], err = newPublisher(nc, cfg); err != nil {
			return nil, err
		}
	}
	return &Relay{pool: pool, nc: nc, js: js, pubs: pubs, cfg: cfg, log: log, m: newMetrics(reg, pool, log), vac: newVacuumer(pool, cfg.VacuumRows, log, reg),
		wake:     make(chan struct{}, 1),
		batchLog: throttle{interval: 10 * time.Second}, unavailableLog: throttle{interval: 10 * time.Second}}, nil
}

// newPublisher is a JetStream context of its own: each worker publishes
// through one, so that PublishAsyncComplete waits for its batch alone.
// Without a publish timeout a lost PubAck never resolves; the timeout
// turns it into an error and the row stays pending.
func newPublisher(nc *nats.Conn, cfg Config) (jetstream.JetStream, error) {
	return jetstream.New(nc, jetstream.WithPublishAsyncTimeout(cfg.PublishTimeout),
		jetstream.WithPublishAsyncMaxPending(max(cfg.BatchSize, 256)))
}

// Run relays until ctx ends. A batch in flight when ctx ends is finished
// (published rows deleted, the rest left pending) before Run returns.
// Workers run batches concurrently, so the broker and the database are
// both kept busy; row locks keep them from taking the same rows, as they
// do across replicas. Nothing stops Run but ctx: it logs failures and
// carries on.
func (r *Relay) Run(ctx context.Context) {
	if r.cfg.Stream.Name != "" {
		r.provision(ctx, "start")
	}
	var wg sync.WaitGroup
	wg.Go(func() { r.listen(ctx) })
	for _, js := range r.pubs {
		wg.Go(func() { r.work(ctx, js) })
	}
	wg.Wait()
}

// work is one worker: it runs the batches its scheduler asks for, and
// waits as it says. It publishes through js, its own.
func (r *Relay) work(ctx context.Context, js jetstream.JetStream) {
	s := newScheduler(r.cfg, outbox.Lanes, rand.IntN(outbox.Lanes))
	for ctx.Err() == nil {
		if !r.nc.IsConnected() {
			r.m.up.Set(0)
			r.wait(ctx, s.disconnected())
			continue
		}
		lane, limit := s.claim()
		n, busy, err := r.batch(ctx, js, lane, limit)
		if err != nil {
			r.m.up.Set(0)
			next := s.failed()
			if ctx.Err() == nil && r.batchLog.allow() {
				r.log.Warn("relay batch failed", "err", err, "consecutive", s.failures)
			}
			r.wait(ctx, next)
			continue
		}
		r.m.up.Set(1)
		next := s.claimed(n, busy)
		if next.recruit {
			r.poke()
		}
		r.wait(ctx, next)
	}
}

// wait waits as step s says, and never past the end of ctx.
func (r *Relay) wait(ctx context.Context, s step) {
	if !s.wakeable {
		retry.Sleep(ctx, s.wait)
		return
	}
	t := time.NewTimer(s.wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	case <-r.wake:
		// The wake-up is used up here. Handing it back (to reach another
		// worker) made two idle workers pass it to each other forever:
		// thousands of empty batches a second. A worker whose batch comes
		// back full recruits the next one instead (scheduler.claimed).
	}
}

// poke wakes one idle worker, if none is already due to wake.
func (r *Relay) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}
