package relay

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/authevents/authevents/outbox"
)

type metrics struct {
	published  *prometheus.CounterVec
	latency    prometheus.Histogram
	duplicates prometheus.Counter
	batchSize  prometheus.Histogram
	up         prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, pool *pgxpool.Pool, log *slog.Logger) *metrics {
	m := &metrics{
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authevents_relay_published_total",
			Help: "Outbox rows handled by the relay, by event type and result (ok, duplicate, retry, dead, unsent).",
		}, []string{"type", "result"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "authevents_relay_publish_latency_seconds",
			Help:    "From the row's created_at (its transaction) to the JetStream PubAck.",
			Buckets: []float64{.001, .0025, .005, .0075, .01, .015, .025, .05, .1, .25, .5, 1, 5, 30, 120},
		}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authevents_relay_duplicates_total",
			Help: "PubAcks with Duplicate set: JetStream dropped a republished row by its Nats-Msg-Id.",
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "authevents_relay_batch_size",
			Help:    "Rows claimed per batch.",
			Buckets: []float64{1, 2, 5, 10, 25, 50, 100, 250, 500, 1000},
		}),
		up: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "authevents_relay_up",
			Help: "1 while the relay is connected to NATS and its last batch reached Postgres.",
		}),
	}
	reg.MustRegister(m.published, m.latency, m.duplicates, m.batchSize, m.up,
		&statsCollector{pool: pool, log: log})
	return m
}

// eventType turns "auth.user.registered" into "user.registered", the label
// value; other subjects are used as they are.
func eventType(subject string) string {
	if t, ok := strings.CutPrefix(subject, "auth."); ok {
		return t
	}
	return subject
}

// statsCollector reads backlog, lag and dead rows from Postgres at scrape
// time, on the database clock: correct with any number of replicas.
type statsCollector struct {
	pool *pgxpool.Pool
	log  *slog.Logger
}

var (
	backlogDesc = prometheus.NewDesc("authevents_outbox_backlog", "Unsent (pending) outbox rows.", nil, nil)
	lagDesc     = prometheus.NewDesc("authevents_outbox_oldest_unsent_age_seconds", "Age of the oldest unsent outbox row, on the database clock: the outbox lag.", nil, nil)
	deadDesc    = prometheus.NewDesc("authevents_outbox_dead_rows", "Outbox rows the relay gave up on (authctl outbox dead list).", nil, nil)
)

func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- backlogDesc
	ch <- lagDesc
	ch <- deadDesc
}

func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s, err := outbox.ReadStats(ctx, c.pool)
	if err != nil {
		c.log.Warn("outbox stats for metrics", "err", err)
		ch <- prometheus.NewInvalidMetric(backlogDesc, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(backlogDesc, prometheus.GaugeValue, float64(s.Backlog))
	ch <- prometheus.MustNewConstMetric(lagDesc, prometheus.GaugeValue, s.OldestUnsentSecs)
	ch <- prometheus.MustNewConstMetric(deadDesc, prometheus.GaugeValue, float64(s.Dead))
}
