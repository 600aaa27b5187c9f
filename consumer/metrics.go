package consumer

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the consumer collectors, shared by every consumer of a
// process and labelled by consumer.
type Metrics struct {
	processed    *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	redeliveries *prometheus.CounterVec
	deadLettered *prometheus.CounterVec
	missed       *prometheus.CounterVec
	state        *stateCollector
	pruned       *prometheus.CounterVec
	batchSize    *prometheus.HistogramVec
	batchCommit  *prometheus.HistogramVec
}

// NewMetrics registers the consumer metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		processed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "authevents_consumer_processed_total",
			Help: "Messages handled, by consumer, event type and result (ok, retry, dead_lettered)."}, []string{"consumer", "type", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "authevents_consumer_processing_duration_seconds",
			Help: "Handler time per message.", Buckets: prometheus.DefBuckets}, []string{"consumer"}),
		redeliveries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "authevents_consumer_redeliveries_total",
			Help: "Messages delivered more than once."}, []string{"consumer"}),
		deadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "authevents_consumer_dead_lettered_total",
			Help: "Messages moved to the dead-letter stream."}, []string{"consumer"}),
		missed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "authevents_consumer_missed_events_total",
			Help: "Events the stream discarded (limits, max age) before the consumer processed them; counted once across replicas."}, []string{"consumer"}),
		state: newStateCollector(),
		batchSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "authevents_consumer_batch_size",
			Help:    "Events per committed transaction of a batch consumer.",
			Buckets: []float64{1, 2, 5, 10, 25, 50, 100, 250, 500, 1000}}, []string{"consumer"}),
		batchCommit: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "authevents_consumer_batch_commit_seconds",
			Help:    "Time of a batch consumer's committed transaction, from begin to commit.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}}, []string{"consumer"}),
	}
	reg.MustRegister(m.processed, m.duration, m.redeliveries, m.deadLettered, m.missed, m.state, m.batchSize, m.batchCommit)
	m.pruned = NewPrunedCounter(reg)
	return m
}

type metrics struct {
	processed    *prometheus.CounterVec
	duration     prometheus.Observer
	redeliveries prometheus.Counter
	deadLettered prometheus.Counter
	missed       prometheus.Counter
	state        *stateCollector
	pruned       *prometheus.CounterVec
	batchSize    prometheus.Observer
	batchCommit  prometheus.Observer
}

func (m *Metrics) forConsumer(name string) *metrics {
	return &metrics{
		processed:    m.processed.MustCurryWith(prometheus.Labels{"consumer": name}),
		duration:     m.duration.WithLabelValues(name),
		redeliveries: m.redeliveries.WithLabelValues(name),
		deadLettered: m.deadLettered.WithLabelValues(name),
		missed:       m.missed.WithLabelValues(name),
		state:        m.state,
		pruned:       m.pruned,
		batchSize:    m.batchSize.WithLabelValues(name),
		batchCommit:  m.batchCommit.WithLabelValues(name),
	}
}
