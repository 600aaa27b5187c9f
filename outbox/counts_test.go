package outbox_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/authevents/authevents/db/postgres/pgtest"
	"github.com/authevents/authevents/outbox"
)

func TestLatencyQuantile(t *testing.T) {
	t.Parallel()
	b := func(pairs ...int64) []int64 { // bucket index, count, ...
		c := make([]int64, len(outbox.LatencyBucketsMs)+1)
		for i := 0; i < len(pairs); i += 2 {
			c[pairs[i]] = pairs[i+1]
		}
		return c
	}
	last := int64(len(outbox.LatencyBucketsMs))
	for _, tc := range []struct {
		name   string
		counts []int64
		want   float64
	}{
		{"all in the first bucket", b(0, 100), 0.95},     // 0..1 ms, rank 95 of 100
		{"all in the 2..3 ms bucket", b(2, 20), 2.95},    // interpolated inside (2, 3]
		{"tail decides", b(0, 90, 5, 10), 7.5 + 2.5*0.5}, // rank 95: 5th of 10 in (7.5, 10]
		{"beyond the last bound", b(last, 10), 60000},    // +Inf: the last finite bound
		{"rank reached at a bucket's end", b(0, 95, 3, 5), 1},
	} {
		if got := outbox.LatencyQuantile(0.95, tc.counts); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("%s: LatencyQuantile(0.95) = %v, want %v", tc.name, got, tc.want)
		}
	}
	if got := outbox.LatencyQuantile(0.95, b()); !math.IsNaN(got) {
		t.Errorf("LatencyQuantile of nothing = %v, want NaN", got)
	}
}

// TestCountsRollBackWithTheBatch: counters written in a batch transaction
// that rolls back are gone with it (the rows will be published, and
// counted, again); committed ones add up per minute and type.
func TestCountsRollBackWithTheBatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.New(t)
	record := func(commit bool, published int) {
		t.Helper()
		var tally outbox.Tally
		for range published {
			tally.Published("user.registered", 3*time.Millisecond)
		}
		tally.Refused("user.logged_in")
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		if err := outbox.RecordCounts(ctx, tx, &tally); err != nil {
			t.Fatal(err)
		}
		if commit {
			err = tx.Commit(ctx)
		} else {
			err = tx.Rollback(ctx)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	record(true, 2)
	record(false, 100)
	record(true, 3)
	counts, err := outbox.ReadCounts(ctx, pool, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	want := []outbox.TypeCounts{{Type: "user.logged_in", Refused: 2}, {Type: "user.registered", Published: 5}}
	if len(counts) != 2 || counts[0] != want[0] || counts[1] != want[1] {
		t.Errorf("ReadCounts = %+v, want %+v", counts, want)
	}
	minutes, _, err := outbox.ReadLatency(ctx, pool, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(minutes) == 0 || minutes[len(minutes)-1].Counts[2] != 5 {
		t.Errorf("latency histogram %+v, want 5 observations in the (2, 3] ms bucket", minutes)
	}
}

// BenchmarkRecordCounts is the counters' share of a relay batch: one
// statement adding a 2,000-row tally over six types, in a transaction
// committed with synchronous_commit off as the relay's is. Compare with
// BenchmarkEmptyBatchTx, the same transaction without it.
func BenchmarkRecordCounts(b *testing.B) {
	benchBatchTx(b, true)
}

// BenchmarkEmptyBatchTx is BenchmarkRecordCounts without the counters.
func BenchmarkEmptyBatchTx(b *testing.B) {
	benchBatchTx(b, false)
}

func benchBatchTx(b *testing.B, record bool) {
	ctx := context.Background()
	pool := pgtest.New(b)
	types := []string{"user.registered", "user.logged_in", "user.login_failed", "user.token_refreshed", "user.logged_out", "user.token_reuse_detected"}
	var tally outbox.Tally
	for i := range 2000 {
		tally.Published(types[i%len(types)], time.Duration(i%50)*time.Millisecond)
	}
	for b.Loop() {
		tx, err := pool.Begin(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := tx.Exec(ctx, `SET LOCAL synchronous_commit = off`); err != nil {
			b.Fatal(err)
		}
		if record {
			if err := outbox.RecordCounts(ctx, tx, &tally); err != nil {
				b.Fatal(err)
			}
		}
		if err := tx.Commit(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
