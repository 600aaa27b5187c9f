package consumer_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/authevents/authevents/consumer"
	"github.com/authevents/authevents/db/postgres/pgtest"
	"github.com/authevents/authevents/internal/testenv"
)

// queryCounter counts the statements a pool sends.
type queryCounter struct{ n atomic.Int64 }

func (q *queryCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	q.n.Add(1)
	return ctx
}
func (q *queryCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// TestIdleConsumerSendsNoQueries: a consumer with nothing to do reads its
// state (every 20 ms here) without a Postgres round trip; the missed-events
// bookkeeping queries only when something can have been missed.
func TestIdleConsumerSendsNoQueries(t *testing.T) {
	t.Parallel()
	e := setup(t)
	_, dbURL := pgtest.NewWithURL(t)
	pcfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	counter := &queryCounter{}
	pcfg.ConnConfig.Tracer = counter
	pool, err := pgxpool.NewWithConfig(context.Background(), pcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	e.pool = pool
	e.publish(t, "user.logged_in", "u", "") // one event, then nothing
	cfg := e.config()
	cfg.StateInterval = 20 * time.Millisecond
	reg := prometheus.NewRegistry()
	e.runWith(t, cfg, consumer.HandlerFunc(func(context.Context, *consumer.Event) error { return nil }), reg)
	testenv.WaitFor(t, "the event handled and the consumer idle", 10*time.Second, func() bool {
		return metricValue(t, reg, "authevents_consumer_processed_total", "result", "ok") == 1 && e.settled(t, "audit-log")
	})
	// A state read that saw the consumer caught up has committed its
	// missed-events mark (the gauges are set after it): from then on
	// nothing is left to write.
	testenv.WaitFor(t, "a state read of the caught-up consumer", 10*time.Second, func() bool {
		pending, ok1 := gauge(t, reg, "authevents_consumer_pending_messages", "audit-log")
		ackPending, ok2 := gauge(t, reg, "authevents_consumer_ack_pending_messages", "audit-log")
		return ok1 && ok2 && pending == 0 && ackPending == 0
	})
	before := counter.n.Load()
	// An honest measurement window, not a wait: the idle period measured,
	// 50 state reads.
	time.Sleep(time.Second)
	if n := counter.n.Load() - before; n > 0 {
		t.Errorf("idle consumer sent %d queries in 1 s, want 0", n)
	}
}
