package main

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/authevents/authevents/internal/testenv"
)

// TestSIGKILLMidBatchCountsOnce kills the analytics consumer, which
// applies events in batches, while it holds a batch (its durable has
// messages delivered and not acknowledged), then lets a new process
// finish: every event is counted exactly once, in processed_events and
// in the counts (a batch is committed whole or not at all, and a
// redelivered one applies nothing twice).
func TestSIGKILLMidBatchCountsOnce(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 5000)
	w.service = "analytics"
	w.env = append(w.env, "CONSUMER_BATCH=200")
	processed := func() int {
		var n int
		w.pool.QueryRow(context.Background(), `SELECT count(*) FROM processed_events WHERE consumer = 'analytics'`).Scan(&n)
		return n
	}
	kills, midBatch := 0, 0
	for midBatch < 2 && kills < 20 && processed() < w.n {
		before := processed()
		cmd := w.start(t)
		testenv.WaitFor(t, "the consumer to count something", 20*time.Second, func() bool { return processed() > before || processed() >= w.n })
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		kills++
		if n := processed(); n < w.n && w.inFlightOf(t, "analytics") > 0 {
			midBatch++
		}
	}
	if midBatch == 0 {
		t.Fatalf("none of %d SIGKILLs landed while a batch was held: the test proved nothing", kills)
	}
	cmd := w.start(t)
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	testenv.WaitFor(t, "every event counted", 60*time.Second, func() bool { return processed() >= w.n })
	var counted int
	w.pool.QueryRow(context.Background(), `SELECT coalesce(sum(count), 0) FROM analytics_event_counts`).Scan(&counted)
	if p := processed(); counted != w.n || p != w.n {
		t.Errorf("%d counted, %d processed records, want %d each", counted, p, w.n)
	}
	t.Logf("%d events, %d kills, %d mid-batch", w.n, kills, midBatch)
}
