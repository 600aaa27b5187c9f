package consumer_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/authevents/authevents/consumer"
	"github.com/authevents/authevents/consumer/audit"
	"github.com/authevents/authevents/db/postgres"
	"github.com/authevents/authevents/internal/testenv"
)

// timed is the audit handler noting when each event's effect was
// applied (at the end of the statements, before the commit: the same
// point for one event at a time as for a batch).
type timed struct {
	*audit.Handler
	mu      sync.Mutex
	applied map[uuid.UUID]time.Time
}

func (h *timed) HandleBatch(ctx context.Context, tx pgx.Tx, evs []*consumer.Event) error {
	err := h.Handler.HandleBatch(ctx, tx, evs)
	now := time.Now()
	h.mu.Lock()
	for _, ev := range evs {
		h.applied[ev.EventID] = now
	}
	h.mu.Unlock()
	return err
}

// p99AtLowTraffic publishes 100 events at 50 a second to a consumer
// running h and returns the 99th percentile of publish to effect.
// newHandler returns the consumer's handler over pool, and its timings.
func p99AtLowTraffic(t *testing.T, newHandler func(pool *pgxpool.Pool) (consumer.Handler, *timed)) time.Duration {
	t.Helper()
	e := setup(t)
	h, th := newHandler(e.pool)
	stop := e.run(t, h, nil)
	defer stop()
	const n = 100
	published := make(map[uuid.UUID]time.Time, n)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for range n {
		<-tick.C
		at := time.Now()
		id, _ := e.publish(t, "user.logged_in", uuid.NewString(), "")
		published[id] = at
	}
	testenv.WaitFor(t, "every event applied", 10*time.Second, func() bool {
		th.mu.Lock()
		defer th.mu.Unlock()
		return len(th.applied) == n
	})
	var lat []time.Duration
	for id, at := range published {
		lat = append(lat, th.applied[id].Sub(at))
	}
	slices.Sort(lat)
	return lat[n*99/100-1]
}

// TestBatchIsAppliedAtOnceAtLowTraffic: at 50 events a second, a batch
// consumer applies each event as it arrives (the stream pauses between
// events, so a batch does not wait to fill): its publish-to-effect p99 is
// no higher than that of the same handler applied one event at a time.
func TestBatchIsAppliedAtOnceAtLowTraffic(t *testing.T) {
	t.Parallel()
	before := p99AtLowTraffic(t, func(pool *pgxpool.Pool) (consumer.Handler, *timed) {
		one := &timed{Handler: audit.New(pool), applied: map[uuid.UUID]time.Time{}}
		return consumer.HandlerFunc(func(ctx context.Context, ev *consumer.Event) error { // not a BatchHandler
			return postgres.WithTx(ctx, pool, func(tx pgx.Tx) error { return one.HandleBatch(ctx, tx, []*consumer.Event{ev}) })
		}), one
	})
	after := p99AtLowTraffic(t, func(pool *pgxpool.Pool) (consumer.Handler, *timed) {
		batched := &timed{Handler: audit.New(pool), applied: map[uuid.UUID]time.Time{}}
		return batched, batched
	})
	t.Logf("publish to effect p99 at 50 events/s: one at a time %v, in batches %v", before, after)
	if after > 50*time.Millisecond || after > max(before*3/2, before+5*time.Millisecond) {
		t.Errorf("p99 in batches %v, one at a time %v: want no higher (within noise), and under 50ms", after, before)
	}
}
