package password

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// NewObserver registers authevents_password_hash_duration_seconds on reg
// and returns the Observer that feeds it, for NewHasher.
func NewObserver(reg prometheus.Registerer) Observer {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "authevents_password_hash_duration_seconds",
		Help:    "Time spent computing one argon2id hash, by operation (hash, verify).",
		Buckets: []float64{.005, .01, .02, .03, .05, .075, .1, .15, .25, .5, 1},
	}, []string{"op"})
	reg.MustRegister(h)
	return func(op string, d time.Duration) { h.WithLabelValues(op).Observe(d.Seconds()) }
}
