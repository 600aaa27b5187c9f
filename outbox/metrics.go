package outbox

import "github.com/prometheus/client_golang/prometheus"

// Metrics counts the outbox rows a producer committed.
type Metrics struct {
	appended *prometheus.CounterVec
}

// NewMetrics registers authevents_outbox_appended_total on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{appended: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "authevents_outbox_appended_total",
		Help: "Outbox rows committed by the API, by event type.",
	}, []string{"type"})}
	reg.MustRegister(m.appended)
	return m
}

// Committed counts one outbox row of the given event type whose
// transaction committed; pass it to account.WithCommitHook. A row is
// counted after its commit, never when it is appended: a rolled-back
// append is no event.
func (m *Metrics) Committed(eventType string) { m.appended.WithLabelValues(eventType).Inc() }
