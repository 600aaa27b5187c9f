package password

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/authevents/authevents/internal/metrictest"
)

// TestObserverTimesEachHash: the histogram NewObserver registers counts
// one sample per hash and per verify, by operation, whether the hashes
// run in this process or in a worker.
func TestObserverTimesEachHash(t *testing.T) {
	t.Parallel()
	for _, workers := range []bool{false, true} {
		reg := prometheus.NewRegistry()
		var opts []HasherOption
		if workers {
			opts = append(opts, WithWorkers(startWorkers(t, 1, WorkerConfig{})))
		}
		h, err := NewHasher(cheap, 1, NewObserver(reg), opts...)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		enc, err := h.Hash(ctx, "correct horse battery staple")
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if _, err := h.Verify(ctx, "correct horse battery staple", enc); err != nil {
				t.Fatal(err)
			}
		}
		const name = "authevents_password_hash_duration_seconds"
		if got := metrictest.Must(t, reg, name, "op", "hash"); got != 1 {
			t.Errorf("workers %v: %s{op=hash} has %v samples, want 1", workers, name, got)
		}
		if got := metrictest.Must(t, reg, name, "op", "verify"); got != 2 {
			t.Errorf("workers %v: %s{op=verify} has %v samples, want 2", workers, name, got)
		}
	}
}
