package relay_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/authevents/authevents/internal/metrictest"
	"github.com/authevents/authevents/internal/natstest"
	"github.com/authevents/authevents/internal/testenv"
)

// TestBrokerDown stops a private nats-server while rows are produced: they
// accumulate (no attempt is charged), the lag metric rises, and the relay
// drains everything once the server is back.
func TestBrokerDown(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t)
	e := setup(t, srv.URL())
	reg := prometheus.NewRegistry()
	r := e.newRelay(t, fastConfig(), reg)
	start(t, r)

	var all []uuid.UUID
	for i := range 5 {
		all = append(all, e.insert(t, fmt.Sprintf("k%d", i), e.names.For("user.registered"), payload("k", i)))
	}
	if got := natstest.Collect(t, e.js, e.names.Stream, 5, 10*time.Second); len(got) != 5 {
		t.Fatalf("before the outage: %d messages", len(got))
	}
	// In the stream is not yet marked sent: wait for the relay to have its
	// PubAcks and delete the rows, or one may rightly stay pending.
	testenv.WaitFor(t, "rows published before the outage to be marked sent", 10*time.Second, func() bool { return e.stats(t).Backlog == 0 })
	srv.Stop()
	for i := range 20 {
		all = append(all, e.insert(t, fmt.Sprintf("k%d", i%7), e.names.For("user.logged_in"), payload("k", 100+i)))
	}
	testenv.WaitFor(t, "20 rows of backlog and a rising lag during the outage", 10*time.Second, func() bool {
		return metrictest.Must(t, reg, "authevents_outbox_backlog") == 20 &&
			metrictest.Must(t, reg, "authevents_outbox_oldest_unsent_age_seconds") > 0.2
	})
	if attempts := e.maxAttempts(t); attempts != 0 {
		t.Errorf("an outage charged rows %d attempts; they must not die of it", attempts)
	}
	msgs := e.restartAndCollect(t, srv, 25, 20*time.Second)
	got := map[string]bool{}
	for _, id := range ids(msgs) {
		got[id] = true
	}
	for _, id := range all {
		if !got[id.String()] {
			t.Errorf("event %s lost", id)
		}
	}
}

// TestJetStreamOutageCostsNoAttempt: core NATS answers but JetStream does
// not (the server restarted without it: every publish gets "no
// responders"). Rows committed meanwhile are not charged an attempt, none
// goes dead, and when JetStream returns they drain, each key in order.
// Before, with RELAY_MAX_ATTEMPTS=3, every such row was dead in seconds.
func TestJetStreamOutageCostsNoAttempt(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t)
	e := setup(t, srv.URL())
	cfg := fastConfig()
	r, reg := e.streamRelay(t, cfg)
	start(t, r)
	e.insert(t, "first", e.names.For("user.registered"), payload("first", 0))
	if got := natstest.Collect(t, e.js, e.names.Stream, 1, 10*time.Second); len(got) != 1 {
		t.Fatal("relay not publishing before the outage")
	}

	srv.RestartWithoutJetStream()
	const keys = 4
	for i := range 32 {
		e.insert(t, fmt.Sprintf("k%d", i%keys), e.names.For("user.logged_in"), payload(fmt.Sprintf("k%d", i%keys), i))
	}
	// Each key's head row is sent, and goes unanswered, more times than
	// RELAY_MAX_ATTEMPTS refusals would allow.
	tries := float64(keys * (cfg.MaxAttempts + 1))
	testenv.WaitFor(t, fmt.Sprintf("%.0f unanswered publishes", tries), 20*time.Second, func() bool {
		unsent, _ := metrictest.Value(t, reg, "authevents_relay_published_total", "result", "unsent")
		return unsent >= tries
	})
	var attempts, dead int
	e.pool.QueryRow(context.Background(), `SELECT COALESCE(max(attempts), 0), count(*) FILTER (WHERE state = 'dead') FROM outbox`).Scan(&attempts, &dead)
	if attempts != 0 || dead != 0 {
		t.Fatalf("during the outage: max attempts %d, dead rows %d; an unavailable broker must cost nothing", attempts, dead)
	}
	if got := metrictest.Must(t, reg, "authevents_relay_jetstream_available"); got != 0 {
		t.Errorf("authevents_relay_jetstream_available = %v during the outage, want 0", got)
	}

	assertKeyOrder(t, e.restartAndCollect(t, srv, 33, 30*time.Second))
}

// restartAndCollect ends the outage (srv runs again, with JetStream) and
// waits for want messages in the test's stream, through a connection of
// its own (the test's was to the stopped server).
func (e *env) restartAndCollect(t *testing.T, srv *natstest.Server, want int, within time.Duration) []jetstream.Msg {
	t.Helper()
	srv.Restart()
	js, _ := jetstream.New(natstest.Connect(t, srv.URL()))
	msgs := natstest.Collect(t, js, e.names.Stream, want, within)
	if len(msgs) != want {
		t.Fatalf("after the outage: %d messages, want %d; outbox %+v", len(msgs), want, e.stats(t))
	}
	return msgs
}
