package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the auth API's Prometheus collectors.
type Metrics struct {
	inFlight     prometheus.Gauge
	requests     *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	hashDuration *prometheus.HistogramVec
	appended     *prometheus.CounterVec
	pruned       prometheus.Counter
}

// NewMetrics creates and registers the API's collectors on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "authevents_http_requests_in_flight",
			Help: "HTTP requests being served right now.",
		}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authevents_http_requests_total",
			Help: "HTTP requests served, by route template, method and status.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "authevents_http_request_duration_seconds",
			Help:    "HTTP request latency, by route template, method and status.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method", "status"}),
		hashDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "authevents_password_hash_duration_seconds",
			Help:    "Time spent computing one argon2id hash, by operation (hash, verify).",
			Buckets: []float64{.005, .01, .02, .03, .05, .075, .1, .15, .25, .5, 1},
		}, []string{"op"}),
		appended: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authevents_outbox_appended_total",
			Help: "Outbox rows committed by the API, by event type.",
		}, []string{"type"}),
		pruned: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authevents_api_pruned_sessions_total",
			Help: "Session rows deleted by retention (ended longer than SESSION_RETENTION ago).",
		}),
	}
	reg.MustRegister(m.inFlight, m.requests, m.duration, m.hashDuration, m.appended, m.pruned)
	return m
}

// ObserveHash records one password hash; pass it to password.NewHasher.
func (m *Metrics) ObserveHash(op string, d time.Duration) {
	m.hashDuration.WithLabelValues(op).Observe(d.Seconds())
}

// EventCommitted counts one committed outbox row; pass it to account.New.
func (m *Metrics) EventCommitted(eventType string) {
	m.appended.WithLabelValues(eventType).Inc()
}

// SessionsPruned counts session rows deleted by retention; pass it to
// account.NewPruner.
func (m *Metrics) SessionsPruned(n int) { m.pruned.Add(float64(n)) }

// methodLabel bounds the method label: the client chooses the method, so
// anything but the standard ones is "other", never a new series.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return method
	}
	return "other"
}

func (m *Metrics) observeRequest(route, method string, status int, d time.Duration) {
	method = methodLabel(method)
	s := strconv.Itoa(status)
	m.requests.WithLabelValues(route, method, s).Inc()
	m.duration.WithLabelValues(route, method, s).Observe(d.Seconds())
}
