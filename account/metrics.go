package account

import "github.com/prometheus/client_golang/prometheus"

// NewPrunedCounter registers authevents_api_pruned_sessions_total on reg
// and returns the function NewPruner tells every batch's count. The name
// keeps its api_ prefix: dashboards and alerts know it by it.
func NewPrunedCounter(reg prometheus.Registerer) func(n int) {
	c := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "authevents_api_pruned_sessions_total",
		Help: "Session rows deleted by retention (ended longer than SESSION_RETENTION ago).",
	})
	reg.MustRegister(c)
	return func(n int) { c.Add(float64(n)) }
}
