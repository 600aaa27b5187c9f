package relay

import (
	"context"
	"log/slog"
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

	jsAvailable prometheus.Gauge
	provisioned *prometheus.CounterVec
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
	m.jsAvailable = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "authevents_relay_jetstream_available",
		Help: "1 while JetStream accepts the relay's publishes; 0 while it does not answer or the stream is missing (rows wait pending, no attempt is charged).",
	})
	m.provisioned = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "authevents_relay_stream_provisioned_total",
		Help: "Stream create-or-update calls that succeeded, by reason: start, missing (the stream disappeared under a running relay) or changed (it no longer bound the relay's subjects).",
	}, []string{"reason"})
	m.jsAvailable.Set(1)
	reg.MustRegister(m.published, m.latency, m.duplicates, m.batchSize, m.up, m.jsAvailable, m.provisioned,
		&statsCollector{pool: pool, log: log, errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authevents_outbox_stats_errors_total",
			Help: "Scrapes at which the outbox statistics could not be read (their series were absent).",
		})})
	return m
}

// statsCollector reads backlog, lag, dead and parked rows from Postgres at
// scrape time, on the database clock: correct with any number of replicas.
// When they cannot be read the series are absent, never stale or zero (an
// alert covers their absence), and the failure is counted.
type statsCollector struct {
	pool   *pgxpool.Pool
	log    *slog.Logger
	errors prometheus.Counter
}

var (
	backlogDesc = prometheus.NewDesc("authevents_outbox_backlog", "Unsent (pending) outbox rows: exact up to 10,000, above that the span of pending seq values (an upper bound, exact for a contiguous backlog).", nil, nil)
	lagDesc     = prometheus.NewDesc("authevents_outbox_oldest_unsent_age_seconds", "Age of the oldest unsent outbox row, on the database clock: the outbox lag.", nil, nil)
	deadDesc    = prometheus.NewDesc("authevents_outbox_dead_rows", "Outbox rows the relay gave up on (authctl outbox dead list).", nil, nil)
	parkedDesc  = prometheus.NewDesc("authevents_outbox_parked_rows", "Pending outbox rows held back by an earlier dead row of their ordering key, until it is retried or discarded.", nil, nil)
	tuplesDesc  = prometheus.NewDesc("authevents_outbox_dead_tuples", "Outbox rows deleted and not yet vacuumed away (pg_stat_user_tables.n_dead_tup, an estimate): index entries every claim walks until a VACUUM.", nil, nil)
)

func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- backlogDesc
	ch <- lagDesc
	ch <- deadDesc
	ch <- parkedDesc
	ch <- tuplesDesc
	c.errors.Describe(ch)
}

// statsTimeout bounds the stats query; the query is a handful of index
// lookups (milliseconds with a million pending rows), so hitting it means
// Postgres is in trouble, and the series go absent.
const statsTimeout = 2 * time.Second

func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	defer c.errors.Collect(ch)
	ctx, cancel := context.WithTimeout(context.Background(), statsTimeout)
	defer cancel()
	s, err := outbox.ReadStats(ctx, c.pool)
	if err != nil {
		c.errors.Inc()
		c.log.Warn("outbox stats for metrics; the outbox series are absent from this scrape", "err", err)
		return
	}
	ch <- prometheus.MustNewConstMetric(backlogDesc, prometheus.GaugeValue, float64(s.Backlog))
	ch <- prometheus.MustNewConstMetric(lagDesc, prometheus.GaugeValue, s.OldestUnsentSecs)
	ch <- prometheus.MustNewConstMetric(deadDesc, prometheus.GaugeValue, float64(s.Dead))
	ch <- prometheus.MustNewConstMetric(parkedDesc, prometheus.GaugeValue, float64(s.Parked))
	ch <- prometheus.MustNewConstMetric(tuplesDesc, prometheus.GaugeValue, float64(s.DeadTuples))
}
