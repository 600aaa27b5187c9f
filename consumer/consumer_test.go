package consumer_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/consumer"
	"github.com/authevents/authevents/consumer/audit"
	"github.com/authevents/authevents/db/postgres/pgtest"
	"github.com/authevents/authevents/internal/natstest"
	"github.com/authevents/authevents/internal/testenv"
	"github.com/authevents/authevents/relay"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type env struct {
	pool  *pgxpool.Pool
	js    jetstream.JetStream
	names natstest.Names
	dlq   string
}

func setup(t *testing.T) *env {
	t.Helper()
	pool := pgtest.New(t)
	_, js, names := natstest.Shared(t)
	if _, err := relay.EnsureStream(context.Background(), js, relay.StreamConfig{Name: names.Stream, Subjects: []string{names.Subject}, MaxAge: time.Hour, MaxMsgs: -1, MaxBytes: -1, Duplicates: time.Minute}); err != nil {
		t.Fatal(err)
	}
	dlq := names.Stream + "-dlq"
	if err := consumer.EnsureDLQ(context.Background(), js, dlq, 1); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { js.DeleteStream(context.Background(), dlq) })
	return &env{pool: pool, js: js, names: names, dlq: dlq}
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

// run starts a consumer and returns a stop function.
func (e *env) run(t *testing.T, h consumer.Handler, reg prometheus.Registerer) func() {
	t.Helper()
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	c := consumer.New(e.js, e.pool, e.config(), h, consumer.NewMetrics(reg), quiet)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("consumer Run: %v", err)
		}
	}
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

func TestAuditRecordsEveryEventOnce(t *testing.T) {
	t.Parallel()
	e := setup(t)
	user := uuid.NewString()
	id, body := e.publish(t, "user.logged_in", user, "")
	e.publish(t, "user.registered", user, "")
	// The same event again after the dedupe window (a different msg id):
	// JetStream stores it, the audit log must not.
	e.publishRaw(t, e.names.For("user.logged_in"), body, "late-duplicate-"+id.String())
	stop := e.run(t, audit.New(e.pool), nil)
	defer stop()
	testenv.WaitFor(t, "two audit rows", 10*time.Second, func() bool { return e.auditRows(t) == 2 })

	entries, err := audit.Query(context.Background(), e.pool, uuid.MustParse(user), time.Time{}, 10)
	if err != nil || len(entries) != 2 {
		t.Fatalf("Query = %v, %v", entries, err)
	}
	var got *audit.Entry
	for i := range entries {
		if entries[i].EventID == id {
			got = &entries[i]
		}
	}
	if got == nil || got.Type != "user.logged_in" || got.IP != "203.0.113.5" || got.UserAgent != "ua/1" ||
		!got.OccurredAt.Equal(time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)) {
		t.Fatalf("audit entry = %+v", got)
	}
	var env map[string]any
	json.Unmarshal(got.Envelope, &env)
	if env["id"] != id.String() || env["specversion"] != "1.0" {
		t.Errorf("stored envelope = %v", env)
	}
	// Give the late duplicate time to be delivered, then check once more.
	testenv.WaitFor(t, "the duplicate to be consumed", 10*time.Second, func() bool { return pendingOf(t, e) == 0 })
	if n := e.auditRows(t); n != 2 {
		t.Fatalf("%d audit rows after a duplicate delivery, want 2", n)
	}
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

func TestAuditLogIsAppendOnly(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.publish(t, "user.registered", uuid.NewString(), "")
	stop := e.run(t, audit.New(e.pool), nil)
	defer stop()
	testenv.WaitFor(t, "an audit row", 10*time.Second, func() bool { return e.auditRows(t) == 1 })
	ctx := context.Background()
	for _, sql := range []string{`UPDATE audit_log SET type = 'x'`, `DELETE FROM audit_log`, `TRUNCATE audit_log`} {
		if _, err := e.pool.Exec(ctx, sql); err == nil {
			t.Errorf("%s succeeded on the append-only audit log", sql)
		}
	}
	if n := e.auditRows(t); n != 1 {
		t.Fatalf("%d rows after refused changes", n)
	}
}

// flaky fails the first n attempts per event, then delegates.
type flaky struct {
	h     consumer.Handler
	n     int
	mu    sync.Mutex
	calls map[string]int
}

func (f *flaky) Handle(ctx context.Context, ev *consumer.Event) error {
	f.mu.Lock()
	f.calls[ev.ID]++
	c := f.calls[ev.ID]
	f.mu.Unlock()
	if c <= f.n {
		return fmt.Errorf("induced failure %d", c)
	}
	return f.h.Handle(ctx, ev)
}

func TestRedeliveryAfterFailure(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.publish(t, "user.registered", uuid.NewString(), "")
	h := &flaky{h: audit.New(e.pool), n: 2, calls: map[string]int{}}
	stop := e.run(t, h, nil)
	defer stop()
	testenv.WaitFor(t, "the third attempt to succeed", 10*time.Second, func() bool { return e.auditRows(t) == 1 })
	for id, c := range h.calls {
		if c != 3 {
			t.Errorf("event %s handled %d times, want 3 (two failures, one success)", id, c)
		}
	}
	testenv.WaitFor(t, "the failure count to be cleared", 5*time.Second, func() bool { return e.failureRows(t) == 0 })
}

// TestDeadLetterAndReplay: three failures put the message in the
// dead-letter stream with its metadata and terminate it; replaying it
// (DeadLetters.Replay, authctl dlq replay) makes it succeed once the
// handler works.
func TestDeadLetterAndReplay(t *testing.T) {
	t.Parallel()
	e := setup(t)
	id, body := e.publish(t, "user.logged_in", uuid.NewString(), "")
	var broken atomic.Bool
	broken.Store(true)
	var calls atomic.Int32
	h := consumer.HandlerFunc(func(ctx context.Context, ev *consumer.Event) error {
		calls.Add(1)
		if broken.Load() {
			return errors.New("smtp server on fire")
		}
		return audit.New(e.pool).Handle(ctx, ev)
	})
	reg := prometheus.NewRegistry()
	stop := e.run(t, h, reg)
	defer stop()
	msgs := natstest.Collect(t, e.js, e.dlq, 1, 15*time.Second)
	if len(msgs) != 1 {
		t.Fatalf("%d dead letters, want 1", len(msgs))
	}
	dl := msgs[0]
	hdr := dl.Headers()
	want := map[string]string{
		consumer.HeaderOriginalSubject: e.names.For("user.logged_in"), consumer.HeaderStream: e.names.Stream,
		consumer.HeaderStreamSeq: "1", consumer.HeaderConsumer: audit.Durable, consumer.HeaderDeliveries: "3", consumer.HeaderFailures: "3",
		consumer.HeaderLastError: "smtp server on fire", consumer.HeaderEventID: id.String(),
	}
	for k, v := range want {
		if hdr.Get(k) != v {
			t.Errorf("dead letter header %s = %q, want %q", k, hdr.Get(k), v)
		}
	}
	if string(dl.Data()) != string(body) {
		t.Error("dead letter body differs from the original")
	}
	if c := calls.Load(); c != 3 {
		t.Errorf("handler called %d times, want 3", c)
	}
	testenv.WaitFor(t, "the source message to be settled", 10*time.Second, func() bool { return pendingOf(t, e) == 0 })
	if c := calls.Load(); c != 3 {
		t.Errorf("terminated message was delivered again (%d calls)", c)
	}
	// The failure row is deleted right after the term that settles the
	// message, so it may outlive the settled state by a moment.
	testenv.WaitFor(t, "no failure rows left after dead-lettering", 5*time.Second, func() bool { return e.failureRows(t) == 0 })
	for name, want := range map[string]float64{
		"authevents_consumer_dead_lettered_total": 1, "authevents_consumer_redeliveries_total": 2,
	} {
		if got := counterSum(t, reg, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}

	broken.Store(false)
	md, err := dl.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	dls, err := consumer.OpenDeadLetters(context.Background(), e.js, e.dlq)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dls.Replay(context.Background(), md.Sequence.Stream); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "the replayed event in the audit log", 10*time.Second, func() bool { return e.auditRows(t) == 1 })
}

func TestPermanentFailureIsNotRetried(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.publishRaw(t, e.names.For("user.registered"), []byte(`not json at all`), "poison-1")
	var calls atomic.Int32
	stop := e.run(t, consumer.HandlerFunc(func(ctx context.Context, ev *consumer.Event) error { calls.Add(1); return nil }), nil)
	defer stop()
	msgs := natstest.Collect(t, e.js, e.dlq, 1, 10*time.Second)
	if len(msgs) != 1 || msgs[0].Headers().Get(consumer.HeaderDeliveries) != "1" {
		t.Fatalf("poison message: %d dead letters (deliveries %q), want 1 after 1 delivery", len(msgs), msgs[0].Headers().Get(consumer.HeaderDeliveries))
	}
	if calls.Load() != 0 {
		t.Error("handler called with a body that is not a CloudEvent")
	}
}

// TestTwoReplicasApplyOnce runs two instances of one durable consumer.
func TestTwoReplicasApplyOnce(t *testing.T) {
	t.Parallel()
	e := setup(t)
	for range 40 {
		e.publish(t, "user.logged_in", uuid.NewString(), "")
	}
	stop1 := e.run(t, audit.New(e.pool), nil)
	stop2 := e.run(t, audit.New(e.pool), nil)
	defer stop1()
	defer stop2()
	testenv.WaitFor(t, "40 audit rows", 15*time.Second, func() bool { return e.auditRows(t) == 40 })
	testenv.WaitFor(t, "all settled", 10*time.Second, func() bool { return pendingOf(t, e) == 0 })
	if n := e.auditRows(t); n != 40 {
		t.Fatalf("%d rows, want 40", n)
	}
}

func counterSum(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}
