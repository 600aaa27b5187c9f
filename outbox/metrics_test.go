package outbox_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/authevents/authevents/internal/metrictest"
	"github.com/authevents/authevents/outbox"
)

// TestCommittedRowsAreCountedByType: NewMetrics registers the counter on
// the registerer it is given, and Committed counts by event type.
func TestCommittedRowsAreCountedByType(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m := outbox.NewMetrics(reg)
	m.Committed("user.registered")
	m.Committed("user.registered")
	m.Committed("user.logged_in")
	const name = "authevents_outbox_appended_total"
	for typ, want := range map[string]float64{"user.registered": 2, "user.logged_in": 1} {
		if got := metrictest.Must(t, reg, name, "type", typ); got != want {
			t.Errorf("%s{type=%s} = %v, want %v", name, typ, got, want)
		}
	}
}
