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

// p99sAtLowTraffic runs a consumer of each handler, on streams and
// databases of their own, publishes 150 events at 50 a second to both at
// the same moments (so both see the same load on this shared machine),
// and returns, for each, the 99th percentile of publish to effect.
func p99sAtLowTraffic(t *testing.T, newHandlers ...func(pool *pgxpool.Pool) (consumer.Handler, *timed)) []time.Duration {
	t.Helper()
	const n = 150
	envs := make([]*env, len(newHandlers))
	timings := make([]*timed, len(newHandlers))
	for i, newHandler := range newHandlers {
		envs[i] = setup(t)
		var h consumer.Handler
		h, timings[i] = newHandler(envs[i].pool)
		defer envs[i].run(t, h, nil)()
	}
	published := make([]map[uuid.UUID]time.Time, len(envs))
	for i := range envs {
		published[i] = make(map[uuid.UUID]time.Time, n)
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for range n {
		<-tick.C
		for i, e := range envs {
			at := time.Now()
			id, _ := e.publish(t, "user.logged_in", uuid.NewString(), "")
			published[i][id] = at
		}
	}
	var p99s []time.Duration
	for i, th := range timings {
		testenv.WaitFor(t, "every event applied", 10*time.Second, func() bool {
			th.mu.Lock()
			defer th.mu.Unlock()
			return len(th.applied) == n
		})
		var lat []time.Duration
		for id, at := range published[i] {
			lat = append(lat, th.applied[id].Sub(at))
		}
		slices.Sort(lat)
		p99s = append(p99s, lat[n*99/100-1])
	}
	return p99s
}

// TestBatchIsAppliedAtOnceAtLowTraffic: at 50 events a second, a batch
// consumer applies each event as it arrives (the stream pauses between
// events, so a batch does not wait to fill): its publish-to-effect p99 is
// no higher than that of the same handler applied one event at a time.
func TestBatchIsAppliedAtOnceAtLowTraffic(t *testing.T) {
	t.Parallel()
	p99s := p99sAtLowTraffic(t, func(pool *pgxpool.Pool) (consumer.Handler, *timed) {
		one := &timed{Handler: audit.New(pool), applied: map[uuid.UUID]time.Time{}}
		return consumer.HandlerFunc(func(ctx context.Context, ev *consumer.Event) error { // not a BatchHandler
			return postgres.WithTx(ctx, pool, func(tx pgx.Tx) error { return one.HandleBatch(ctx, tx, []*consumer.Event{ev}) })
		}), one
	}, func(pool *pgxpool.Pool) (consumer.Handler, *timed) {
		batched := &timed{Handler: audit.New(pool), applied: map[uuid.UUID]time.Time{}}
		return batched, batched
	})
	before, after := p99s[0], p99s[1]
	t.Logf("publish to effect p99 at 50 events/s: one at a time %v, in batches %v", before, after)
	// Other suites share this machine's 2 cores: a tail of 150 samples
	// moves by several ms from run to run, in both columns, and by tens
	// when make test runs the packages at once (CI saw 152 ms one at a
	// time and 76 ms in batches, then 37 ms and 57 ms). A batch that waits
	// to fill adds up to a fetch's second (983 ms before the fix): the
	// bound of 500 ms catches that whatever the load; the comparison
	// allows the noise seen, 25 ms or half the one-at-a-time tail. The
	// figures of a quiet machine are in docs/benchmarks.md.
	noise := max(25*time.Millisecond, before/2)
	if after > 500*time.Millisecond || after > before+noise {
		t.Errorf("p99 in batches %v, one at a time %v: want no higher (within %v of noise), and under 500ms", after, before, noise)
	}
}
