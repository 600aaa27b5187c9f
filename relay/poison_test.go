package relay_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/authevents/authevents/internal/metrictest"
	"github.com/authevents/authevents/internal/natstest"
	"github.com/authevents/authevents/internal/testenv"
	"github.com/authevents/authevents/outbox"
)

// TestPoisonRowsDoNotBlock: a subject no stream binds and a payload over
// the server's limit are retried with backoff, then dead; rows of other
// keys flow meanwhile. A dead row keeps holding back the later rows of its
// key ("parked": per-user order is the contract) until an operator
// discards or retries it.
func TestPoisonRowsDoNotBlock(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	reg := prometheus.NewRegistry()
	cfg := fastConfig()
	cfg.Stream = streamConfig(e.names)
	r := e.newRelay(t, cfg, reg)
	unbound := e.insert(t, "poison-key", e.names.Prefix+".nobody.listens", []byte(`{}`))
	behind := e.insert(t, "poison-key", e.names.For("user.logged_in"), []byte(`{"behind":"the poison row"}`))
	huge := e.insert(t, "", e.names.For("user.registered"), []byte(`"`+strings.Repeat("x", 2<<20)+`"`))
	good := e.insert(t, "other-key", e.names.For("user.registered"), []byte(`{"good":true}`))

	start(t, r)

	first := natstest.Collect(t, e.js, e.names.Stream, 1, 10*time.Second)
	if len(first) != 1 || first[0].Headers().Get(jetstream.MsgIDHeader) != good.String() {
		t.Fatalf("first published = %v, want the good row while the poison rows retry", ids(first))
	}
	testenv.WaitFor(t, "both poison rows to be dead", 20*time.Second, func() bool { return e.stats(t).Dead == 2 })
	dead, err := outbox.ListDead(context.Background(), e.pool, 10)
	if err != nil || len(dead) != 2 {
		t.Fatalf("ListDead = %v, %v", dead, err)
	}
	for _, d := range dead {
		if d.Attempts != 3 || d.LastError == "" || (d.ID != unbound && d.ID != huge) {
			t.Errorf("dead row %+v", d)
		}
	}
	// The row behind the dead one stays parked: several polls later it is
	// still pending and unpublished.
	polls := metrictest.Must(t, reg, "authevents_relay_batch_size")
	testenv.WaitFor(t, "five more polls", 10*time.Second, func() bool {
		return metrictest.Must(t, reg, "authevents_relay_batch_size") >= polls+5
	})
	if s := e.stats(t); s.Parked != 1 || s.Backlog != 1 {
		t.Fatalf("behind a dead row: %+v, want 1 parked pending row", s)
	}
	if got := metrictest.Must(t, reg, "authevents_outbox_dead_rows"); got != 2 {
		t.Errorf("dead rows metric = %v, want 2", got)
	}
	if got := metrictest.Must(t, reg, "authevents_outbox_parked_rows"); got != 1 {
		t.Errorf("parked rows metric = %v, want 1", got)
	}
	if got := natstest.Collect(t, e.js, e.names.Stream, 2, 300*time.Millisecond); len(got) != 1 {
		t.Fatalf("stream = %v, want only the good row while the key is parked", ids(got))
	}

	// Retrying makes the dead row pending again, first of its key; a
	// discarded row releases the rows behind it, in order.
	if n, _ := outbox.RetryDead(context.Background(), e.pool, []uuid.UUID{unbound}); n != 1 {
		t.Errorf("RetryDead = %d", n)
	}
	if n, _ := outbox.DiscardDead(context.Background(), e.pool, []uuid.UUID{huge}); n != 1 {
		t.Errorf("DiscardDead = %d", n)
	}
	testenv.WaitFor(t, "the retried row to be dead again", 20*time.Second, func() bool { return e.stats(t).Dead == 1 })
	if n, _ := outbox.DiscardDead(context.Background(), e.pool, nil); n != 1 {
		t.Errorf("DiscardDead(all) = %d", n)
	}
	all := ids(natstest.Collect(t, e.js, e.names.Stream, 2, 10*time.Second))
	if len(all) != 2 || all[1] != behind.String() {
		t.Fatalf("stream = %v, want the good row then the row released from behind the discarded one", all)
	}
	testenv.WaitFor(t, "an empty outbox after the discard", 10*time.Second, func() bool {
		s := e.stats(t)
		return s.Dead == 0 && s.Backlog == 0 && s.Parked == 0
	})
}

// Found in review (issue 8), now fixed: a row whose subject the relay's
// own matcher says the stream binds, but that the server can never route
// (an empty token), was classified "broker unavailable": never charged,
// never dead, its key blocked forever, and the JetStream-available gauge
// read 0 although JetStream was fine.
func TestUnroutableSubjectIsChargedAndDies(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	r, reg := e.streamRelay(t, fastConfig())
	for _, subj := range []string{e.names.Prefix + ".user.", e.names.Prefix + ".user.a b", e.names.Prefix + ".user.*"} {
		e.insert(t, "k-"+subj, subj, []byte(`{}`))
	}
	start(t, r)
	// Every row is settled: published, or dead after its attempts (a row
	// the relay took for an outage would stay pending).
	testenv.WaitFor(t, "every row to be settled (MaxAttempts 3, backoff <= 50ms)", 10*time.Second, func() bool {
		return e.stats(t).Backlog == 0
	})
	rows, err := e.pool.Query(context.Background(), `SELECT subject, state, attempts, COALESCE(last_error,'') FROM outbox ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var subj, state, lastErr string
		var attempts int
		rows.Scan(&subj, &state, &attempts, &lastErr)
		t.Logf("row %q: state %s attempts %d last_error %q", subj, state, attempts, lastErr)
		if state != "dead" {
			t.Errorf("row %q with a subject no stream can ever store: state %s (MaxAttempts %d, backoff <= 50ms), attempts %d; want charged and dead", subj, state, fastConfig().MaxAttempts, attempts)
		}
	}
	t.Logf("jetstream_available = %v, relay_up = %v", metrictest.Must(t, reg, "authevents_relay_jetstream_available"), metrictest.Must(t, reg, "authevents_relay_up"))
	t.Logf("stream msgs: %v", ids(natstest.Collect(t, e.js, e.names.Stream, 10, 500*time.Millisecond)))
}
