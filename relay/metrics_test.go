package relay_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/authevents/authevents/internal/metrictest"
)

// TestOutboxGaugesAbsentWhenUnreadable: when the outbox statistics cannot
// be read the gauges are absent from the scrape (not stale, not 0), the
// failure is counted, and the rest of /metrics is still served.
func TestOutboxGaugesAbsentWhenUnreadable(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	reg := prometheus.NewRegistry()
	e.newRelay(t, fastConfig(), reg)
	if _, ok := metrictest.Value(t, reg, "authevents_outbox_backlog"); !ok {
		t.Fatal("backlog gauge absent while Postgres answers")
	}
	e.pool.Close() // the stats query now fails
	for _, name := range []string{"authevents_outbox_backlog", "authevents_outbox_oldest_unsent_age_seconds",
		"authevents_outbox_dead_rows", "authevents_outbox_parked_rows", "authevents_outbox_dead_tuples"} {
		if v, ok := metrictest.Value(t, reg, name); ok {
			t.Errorf("%s = %v with the stats unreadable, want it absent", name, v)
		}
	}
	if n := metrictest.Must(t, reg, "authevents_outbox_stats_errors_total"); n < 1 {
		t.Errorf("authevents_outbox_stats_errors_total = %v, want the failed reads counted", n)
	}
	if _, ok := metrictest.Value(t, reg, "authevents_relay_up"); !ok {
		t.Error("authevents_relay_up missing: one failing collector must not empty the scrape")
	}
}
