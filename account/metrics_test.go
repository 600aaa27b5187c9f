package account_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/authevents/authevents/account"
	"github.com/authevents/authevents/internal/metrictest"
)

// TestPrunedCounterAddsEachBatch: the counter NewPrunedCounter registers
// adds every batch the pruner reports.
func TestPrunedCounterAddsEachBatch(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	pruned := account.NewPrunedCounter(reg)
	pruned(1000)
	pruned(7)
	if got := metrictest.Must(t, reg, "authevents_api_pruned_sessions_total"); got != 1007 {
		t.Errorf("authevents_api_pruned_sessions_total = %v, want 1007", got)
	}
}
