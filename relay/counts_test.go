package relay_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/authevents/authevents/internal/natstest"
	"github.com/authevents/authevents/internal/testenv"
	"github.com/authevents/authevents/outbox"
)

// TestCountersCountEachRowOnceAcrossReplicas: three replicas drain a mix
// of types and one row no stream binds; the durable per-minute counters
// (what the dashboard shows) hold each published row exactly once, every
// refusal, the row that died, and a latency observation per published row.
// A counter kept in a process's memory would be split over the replicas.
func TestCountersCountEachRowOnceAcrossReplicas(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	cfg := fastConfig()
	cfg.BatchSize = 7 // many batches, shared among the replicas
	for range 3 {
		r, _ := e.streamRelay(t, cfg)
		start(t, r)
	}
	want := map[string]int{"user.registered": 40, "user.logged_in": 25, "user.logged_out": 9}
	var wg sync.WaitGroup
	total := 0
	for typ, n := range want {
		total += n
		wg.Go(func() {
			for i := range n {
				key := fmt.Sprintf("%s-%d", typ, i%5)
				e.insert(t, key, e.names.For(typ), payload(key, i))
			}
		})
	}
	unbound := e.names.Prefix + ".other.thing" // the stream binds only <prefix>.user.*
	e.insert(t, "poison", unbound, []byte(`{}`))
	wg.Wait()
	natstest.Collect(t, e.js, e.names.Stream, total, 30*time.Second)

	ctx := context.Background()
	var got map[string]outbox.TypeCounts
	testenv.WaitFor(t, "every row counted and the unbound one dead", 20*time.Second, func() bool {
		counts, err := outbox.ReadCounts(ctx, e.pool, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		got = map[string]outbox.TypeCounts{}
		sum := int64(0)
		for _, c := range counts {
			got[c.Type] = c
			sum += c.Published
		}
		return sum >= int64(total) && got[unbound].Dead > 0
	})
	for typ, n := range want {
		if c := got[e.names.For(typ)]; c.Published != int64(n) || c.Refused != 0 || c.Dead != 0 {
			t.Errorf("%s counted %+v, want published %d and nothing refused", typ, c, n)
		}
	}
	if c := got[unbound]; c.Published != 0 || c.Refused != int64(cfg.MaxAttempts) || c.Dead != 1 {
		t.Errorf("unbound subject counted %+v, want %d refusals and 1 dead", c, cfg.MaxAttempts)
	}
	minutes, _, err := outbox.ReadLatency(ctx, e.pool, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var observed int64
	for _, m := range minutes {
		for _, n := range m.Counts {
			observed += n
		}
	}
	if observed != int64(total) {
		t.Errorf("%d latency observations, want one per published row (%d)", observed, total)
	}
}
