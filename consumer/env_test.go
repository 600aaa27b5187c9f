package consumer_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/consumer"
	"github.com/authevents/authevents/consumer/audit"
	"github.com/authevents/authevents/db/postgres/pgtest"
	"github.com/authevents/authevents/internal/natstest"
	"github.com/authevents/authevents/relay"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type env struct {
	pool  *pgxpool.Pool
	js    jetstream.JetStream
	names natstest.Names
	dlq   string
}

// setup returns an env on the shared server.
func setup(t *testing.T) *env {
	t.Helper()
	_, js, names := natstest.Shared(t)
	return newEnv(t, js, names)
}

// newEnv creates names' stream and its dead-letter stream through js,
// and a database.
func newEnv(t *testing.T, js jetstream.JetStream, names natstest.Names) *env {
	t.Helper()
	e := &env{pool: pgtest.New(t), js: js, names: names, dlq: names.Stream + "-dlq"}
	e.ensureStream(t)
	if err := consumer.EnsureDLQ(context.Background(), js, e.dlq, 1); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { js.DeleteStream(context.Background(), e.dlq) })
	return e
}

// ensureStream creates the event stream.
func (e *env) ensureStream(t *testing.T) {
	t.Helper()
	if _, err := relay.EnsureStream(context.Background(), e.js, relay.StreamConfig{Name: e.names.Stream, Subjects: []string{e.names.Subject},
		MaxAge: time.Hour, MaxMsgs: -1, MaxBytes: -1, Duplicates: time.Minute}); err != nil {
		t.Fatal(err)
	}
}

func (e *env) config() consumer.Config {
	c := audit.Config(e.names.Stream, e.names.Subject)
	c.Backoff = []time.Duration{50 * time.Millisecond, 50 * time.Millisecond}
	c.AckWait = 5 * time.Second
	c.DLQStream = e.dlq
	return c
}

// publish puts an auth event on the stream as the relay would.
func (e *env) publish(t *testing.T, eventType, userID string, msgID string) (uuid.UUID, []byte) {
	t.Helper()
	id := uuid.Must(uuid.NewV7())
	data, _ := json.Marshal(map[string]string{"userId": userID, "ip": "203.0.113.5", "userAgent": "ua/1", "timestamp": "2026-11-28T12:00:00.000Z"})
	body, _ := json.Marshal(authevents.CloudEvent{SpecVersion: "1.0", ID: id.String(), Source: "auth-service", Type: eventType,
		Time: "2026-11-28T12:00:00.000Z", Subject: userID, DataContentType: "application/json", ServiceVersion: "t", Environment: "test", Data: data})
	e.publishRaw(t, e.names.For(eventType), body, orDefault(msgID, id.String()))
	return id, body
}

func (e *env) publishRaw(t *testing.T, subject string, body []byte, msgID string) {
	t.Helper()
	msg := &nats.Msg{Subject: subject, Data: body, Header: nats.Header{}}
	msg.Header.Set(jetstream.MsgIDHeader, msgID)
	if _, err := e.js.PublishMsg(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// run starts a consumer with e.config() and returns a stop function.
func (e *env) run(t *testing.T, h consumer.Handler, reg prometheus.Registerer) func() {
	t.Helper()
	return e.runWith(t, e.config(), h, reg)
}

// runWith starts a consumer with cfg and returns a stop function, which
// also runs when t ends.
func (e *env) runWith(t *testing.T, cfg consumer.Config, h consumer.Handler, reg prometheus.Registerer) func() {
	t.Helper()
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	return runConsumer(t, consumer.New(e.js, e.pool, cfg, h, consumer.NewMetrics(reg), quiet))
}

// runConsumer runs c until the returned stop, which also runs when t
// ends; stop returns once Run has.
func runConsumer(t *testing.T, c *consumer.Consumer) func() {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx) }()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

func (e *env) failureRows(t *testing.T) int {
	t.Helper()
	var n int
	e.pool.QueryRow(context.Background(), `SELECT count(*) FROM consumer_failures`).Scan(&n)
	return n
}

func (e *env) auditRows(t *testing.T) int {
	t.Helper()
	var n int
	e.pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_log`).Scan(&n)
	return n
}

func pendingOf(t *testing.T, e *env) uint64 {
	t.Helper()
	c, err := e.js.Consumer(context.Background(), e.names.Stream, audit.Durable)
	if err != nil {
		return 1
	}
	info, err := c.Info(context.Background())
	if err != nil {
		return 1
	}
	return info.NumPending + uint64(info.NumAckPending)
}

func counterSum(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	return sumOver(t, reg, name, false)
}

// sumOver sums a counter's values, or a histogram's observations, over
// the series of the metric name.
func sumOver(t *testing.T, reg *prometheus.Registry, name string, histogram bool) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				if histogram {
					sum += m.GetHistogram().GetSampleSum()
				} else {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}

// onBothServers runs fn as parallel subtests on the shared nats-server
// (2.9 here: one filter per consumer) and on a pinned one of our own (a
// newer one, with several), each with stream names of its own.
func onBothServers(t *testing.T, fn func(t *testing.T, js jetstream.JetStream, names natstest.Names)) {
	t.Run("shared server", func(t *testing.T) {
		t.Parallel()
		_, js, names := natstest.Shared(t)
		fn(t, js, names)
	})
	t.Run("pinned server", func(t *testing.T) {
		t.Parallel()
		js, _ := jetstream.New(natstest.Connect(t, natstest.Start(t).URL()))
		fn(t, js, natstest.NewNames())
	})
}
