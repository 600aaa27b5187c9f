package outbox_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/authevents/authevents/db/postgres/pgtest"
	"github.com/authevents/authevents/outbox"
)

// TestNotifierDebounces: the first poke after a quiet spell is announced
// at once, and pokes that keep coming get at most one NOTIFY per interval.
func TestNotifierDebounces(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool, url := pgtest.NewWithURL(t)
	listener, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close(context.Background())
	if _, err := listener.Exec(ctx, "LISTEN "+outbox.NotifyChannel); err != nil {
		t.Fatal(err)
	}
	const interval = 300 * time.Millisecond
	n := outbox.NewNotifier(pool, interval, slog.New(slog.DiscardHandler))
	go n.Run(ctx)
	wait := func(d time.Duration) bool {
		wctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		_, err := listener.WaitForNotification(wctx)
		return err == nil
	}

	start := time.Now()
	n.Poke()
	if !wait(interval / 2) {
		t.Fatalf("no NOTIFY within %s of the first poke", interval/2)
	}
	if d := time.Since(start); d > interval/2 {
		t.Fatalf("first NOTIFY after %s, want at once", d)
	}
	// Pokes every 10 ms for 4 intervals: about 4 NOTIFYs, never 2 within
	// one interval.
	stop := time.Now().Add(4 * interval)
	go func() {
		for time.Now().Before(stop) {
			n.Poke()
			time.Sleep(10 * time.Millisecond)
		}
	}()
	var got []time.Time
	for wait(2 * interval) {
		got = append(got, time.Now())
	}
	if len(got) < 3 || len(got) > 5 {
		t.Errorf("%d NOTIFYs for pokes over %s at interval %s, want about 4", len(got), 4*interval, interval)
	}
	for i := 1; i < len(got); i++ {
		if d := got[i].Sub(got[i-1]); d < interval*9/10 {
			t.Errorf("NOTIFYs %d and %d %s apart, want at least %s", i-1, i, d, interval)
		}
	}

	// Quiet again: the next poke is announced at once.
	n.Poke()
	if !wait(interval / 2) {
		t.Fatalf("no NOTIFY within %s of a poke after a quiet spell", interval/2)
	}
}
