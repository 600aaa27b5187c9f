package relay_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/authevents/authevents/db/postgres"
	"github.com/authevents/authevents/db/postgres/pgtest"
	"github.com/authevents/authevents/internal/faultproxy"
	"github.com/authevents/authevents/internal/metrictest"
	"github.com/authevents/authevents/internal/natstest"
	"github.com/authevents/authevents/internal/testenv"
	"github.com/authevents/authevents/outbox"
	"github.com/authevents/authevents/relay"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func fastConfig() relay.Config {
	c := relay.DefaultConfig()
	c.BatchSize = 100
	c.MinPollInterval = 5 * time.Millisecond
	c.PollInterval = 50 * time.Millisecond
	c.PublishTimeout = 2 * time.Second
	c.RetryBackoff = 10 * time.Millisecond
	c.MaxRetryBackoff = 50 * time.Millisecond
	c.MaxAttempts = 3
	return c
}

type env struct {
	pool    *pgxpool.Pool
	js      jetstream.JetStream
	names   natstest.Names
	natsURL string
}

func setup(t *testing.T, natsURL string) *env {
	t.Helper()
	pool := pgtest.New(t)
	var js jetstream.JetStream
	var names natstest.Names
	if natsURL == "" {
		natsURL = natstest.URL()
		_, js, names = natstest.Shared(t)
	} else {
		nc := natstest.Connect(t, natsURL)
		js, _ = jetstream.New(nc)
		names = natstest.NewNames()
	}
	ctx := context.Background()
	if _, err := relay.EnsureStream(ctx, js, streamConfig(names)); err != nil {
		t.Fatal(err)
	}
	return &env{pool: pool, js: js, names: names, natsURL: natsURL}
}

func streamConfig(n natstest.Names) relay.StreamConfig {
	c := relay.DefaultStream()
	c.Name, c.Subjects = n.Stream, []string{n.Subject}
	return c
}

func (e *env) newRelay(t *testing.T, cfg relay.Config, reg prometheus.Registerer) *relay.Relay {
	t.Helper()
	nc := natstest.Connect(t, e.natsURL, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	r, err := relay.New(e.pool, nc, cfg, reg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// insert appends one row in its own transaction and returns its id.
func (e *env) insert(t *testing.T, key, subject string, payload []byte) uuid.UUID {
	t.Helper()
	id := uuid.Must(uuid.NewV7())
	err := postgres.WithTx(context.Background(), e.pool, func(tx pgx.Tx) error {
		return outbox.Append(context.Background(), tx, outbox.Message{ID: id, Subject: subject, Payload: payload, OrderingKey: key})
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func payload(key string, n int) []byte {
	b, _ := json.Marshal(map[string]any{"key": key, "n": n, "pad": "x"})
	return b
}

func (e *env) drain(t *testing.T, r *relay.Relay) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		n, err := r.Batch(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
	t.Fatal("relay did not drain")
}

func (e *env) stats(t *testing.T) outbox.Stats {
	t.Helper()
	s, err := outbox.ReadStats(context.Background(), e.pool)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func ids(msgs []jetstream.Msg) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, m.Headers().Get(jetstream.MsgIDHeader))
	}
	return out
}

func TestPublishesRowsExactly(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	r := e.newRelay(t, fastConfig(), nil)
	want := map[string][]byte{}
	for i, key := range []string{"user-a", "user-b", ""} {
		p := []byte(fmt.Sprintf(`{"specversion":"1.0", "odd spacing":  %d}`, i))
		id := e.insert(t, key, e.names.For("user.registered"), p)
		want[id.String()] = p
	}
	e.drain(t, r)
	msgs := natstest.Collect(t, e.js, e.names.Stream, 3, 5*time.Second)
	if len(msgs) != 3 {
		t.Fatalf("%d messages in the stream, want 3", len(msgs))
	}
	for _, m := range msgs {
		id := m.Headers().Get(jetstream.MsgIDHeader)
		if string(m.Data()) != string(want[id]) {
			t.Errorf("message %s body = %q, want the payload byte for byte %q", id, m.Data(), want[id])
		}
		if ct := m.Headers().Get("Content-Type"); ct != "application/cloudevents+json" {
			t.Errorf("Content-Type = %q", ct)
		}
		if m.Subject() != e.names.For("user.registered") {
			t.Errorf("subject = %q", m.Subject())
		}
	}
	if s := e.stats(t); s.Backlog != 0 || s.Dead != 0 {
		t.Errorf("after drain: %+v, want an empty outbox", s)
	}
	// Provisioning is idempotent and has the contract's settings.
	s, err := relay.EnsureStream(context.Background(), e.js, streamConfig(e.names))
	if err != nil {
		t.Fatal(err)
	}
	info, _ := s.Info(context.Background())
	c := info.Config
	if c.Storage != jetstream.FileStorage || c.Discard != jetstream.DiscardOld || c.MaxAge != 7*24*time.Hour ||
		c.MaxMsgs != 100_000 || c.MaxBytes != 100<<20 || c.Duplicates != 10*time.Minute {
		t.Errorf("stream config = %+v", c)
	}
}

// TestLateCommitIsNotSkipped: a transaction that appended a row first but
// commits last still gets its row published.
func TestLateCommitIsNotSkipped(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	r := e.newRelay(t, fastConfig(), nil)
	ctx := context.Background()
	late, err := e.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	lateID := uuid.Must(uuid.NewV7())
	if err := outbox.Append(ctx, late, outbox.Message{ID: lateID, Subject: e.names.For("user.registered"), Payload: []byte(`{"late":true}`), OrderingKey: "k1"}); err != nil {
		t.Fatal(err)
	}
	early := e.insert(t, "k2", e.names.For("user.registered"), []byte(`{"early":true}`))
	e.drain(t, r)
	if err := late.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	e.drain(t, r)
	got := ids(natstest.Collect(t, e.js, e.names.Stream, 2, 5*time.Second))
	if len(got) != 2 || got[0] != early.String() || got[1] != lateID.String() {
		t.Fatalf("stream ids = %v, want [%s %s]", got, early, lateID)
	}
}

// TestThreeRelaysKeepOrderAndPublishOnce: three relays drain concurrently
// written rows of 40 keys; every row is published once, and each key's
// rows appear in the stream in commit order.
func TestThreeRelaysKeepOrderAndPublishOnce(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	regs := make([]*prometheus.Registry, 3)
	var wg sync.WaitGroup
	cfg := fastConfig()
	cfg.BatchSize = 10 // many batches, so every relay gets a share of the work
	for i := range 3 {
		regs[i] = prometheus.NewRegistry()
		r := e.newRelay(t, cfg, regs[i])
		wg.Go(func() { r.Run(ctx) })
	}
	const keys, perKey = 40, 15
	var pw sync.WaitGroup
	for k := range keys {
		pw.Go(func() {
			key := fmt.Sprintf("user-%d", k)
			for n := range perKey {
				e.insert(t, key, e.names.For("user.logged_in"), payload(key, n))
			}
		})
	}
	pw.Wait()
	msgs := natstest.Collect(t, e.js, e.names.Stream, keys*perKey, 30*time.Second)
	cancel()
	wg.Wait()
	if len(msgs) != keys*perKey {
		t.Fatalf("%d messages, want %d", len(msgs), keys*perKey)
	}
	seen := map[string]bool{}
	last := map[string]int{}
	for _, m := range msgs {
		id := m.Headers().Get(jetstream.MsgIDHeader)
		if seen[id] {
			t.Fatalf("event %s published twice", id)
		}
		seen[id] = true
		var p struct {
			Key string
			N   int
		}
		json.Unmarshal(m.Data(), &p)
		if prev, ok := last[p.Key]; ok && p.N != prev+1 {
			t.Fatalf("key %s: event %d after %d, want commit order", p.Key, p.N, prev)
		} else if !ok && p.N != 0 {
			t.Fatalf("key %s starts at %d", p.Key, p.N)
		}
		last[p.Key] = p.N
	}
	// Every relay did some of the work: throughput is shared, not serialized on one.
	busy := 0
	for _, reg := range regs {
		if n, _ := metrictest.Value(t, reg, "authevents_relay_published_total", "result", "ok"); n > 0 {
			busy++
		}
	}
	if busy < 2 {
		t.Errorf("only %d of 3 relays published anything", busy)
	}
	if s := e.stats(t); s.Backlog != 0 {
		t.Errorf("backlog %d after drain", s.Backlog)
	}
}

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
	deadline := time.Now().Add(20 * time.Second)
	for e.stats(t).Dead != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("poison rows not dead: %+v", e.stats(t))
		}
		time.Sleep(20 * time.Millisecond)
	}
	dead, err := outbox.ListDead(context.Background(), e.pool, 10)
	if err != nil || len(dead) != 2 {
		t.Fatalf("ListDead = %v, %v", dead, err)
	}
	for _, d := range dead {
		if d.Attempts != 3 || d.LastError == "" || (d.ID != unbound && d.ID != huge) {
			t.Errorf("dead row %+v", d)
		}
	}
	// The row behind the dead one stays parked: several idle polls later
	// it is still pending and unpublished.
	for end := time.Now().Add(500 * time.Millisecond); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if s := e.stats(t); s.Parked != 1 || s.Backlog != 1 {
			t.Fatalf("behind a dead row: %+v, want 1 parked pending row", s)
		}
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
	deadline = time.Now().Add(20 * time.Second)
	for e.stats(t).Dead != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("retried row not dead again: %+v", e.stats(t))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n, _ := outbox.DiscardDead(context.Background(), e.pool, nil); n != 1 {
		t.Errorf("DiscardDead(all) = %d", n)
	}
	all := ids(natstest.Collect(t, e.js, e.names.Stream, 2, 10*time.Second))
	if len(all) != 2 || all[1] != behind.String() {
		t.Fatalf("stream = %v, want the good row then the row released from behind the discarded one", all)
	}
	deadline = time.Now().Add(10 * time.Second)
	for s := e.stats(t); s.Dead != 0 || s.Backlog != 0 || s.Parked != 0; s = e.stats(t) {
		if time.Now().After(deadline) {
			t.Fatalf("after discard: %+v, want an empty outbox", s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

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
	deadline := time.Now().Add(10 * time.Second)
	for {
		lag := metrictest.Must(t, reg, "authevents_outbox_oldest_unsent_age_seconds")
		backlog := metrictest.Must(t, reg, "authevents_outbox_backlog")
		if backlog == 20 && lag > 0.2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("during the outage: backlog %v, lag %v; want 20 rows and a rising lag", backlog, lag)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var attempts int
	e.pool.QueryRow(context.Background(), `SELECT COALESCE(max(attempts), 0) FROM outbox`).Scan(&attempts)
	if attempts != 0 {
		t.Errorf("an outage charged rows %d attempts; they must not die of it", attempts)
	}
	srv.Restart()
	nc := natstest.Connect(t, srv.URL())
	js, _ := jetstream.New(nc)
	msgs := natstest.Collect(t, js, e.names.Stream, 25, 20*time.Second)
	if len(msgs) != 25 {
		t.Fatalf("after the outage: %d messages, want 25", len(msgs))
	}
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

// TestNotifyWakesTheRelay: with polling slowed to a minute, a NOTIFY from
// the application is what gets a new row published within seconds.
func TestNotifyWakesTheRelay(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	cfg := fastConfig()
	cfg.MinPollInterval, cfg.PollInterval = time.Minute, time.Minute
	r := e.newRelay(t, cfg, nil)
	start(t, r)
	n := outbox.NewNotifier(e.pool, 5*time.Millisecond, quiet)
	go n.Run(t.Context())

	// Let the relay reach its (one-minute) idle wait with LISTEN set up.
	e.waitListening(t)
	start := time.Now()
	id := e.insert(t, "k", e.names.For("user.registered"), []byte(`{}`))
	n.Poke()
	msgs := natstest.Collect(t, e.js, e.names.Stream, 1, 10*time.Second)
	if len(msgs) != 1 || msgs[0].Headers().Get(jetstream.MsgIDHeader) != id.String() {
		t.Fatalf("not published after a NOTIFY within 10 s (polling is 1 min)")
	}
	t.Logf("published %s after commit", time.Since(start))
}

// TestIdleRelayStaysIdle: after one event, an idle relay polls at its idle
// interval and no faster. The wake-up token used to bounce between workers
// (each handing it back to the channel it came from), so an idle relay ran
// about 10,000 empty batches a second, forever.
func TestIdleRelayStaysIdle(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	cfg := fastConfig()
	cfg.Workers = 2
	cfg.PollInterval = time.Second // the default idle poll
	reg := prometheus.NewRegistry()
	r := e.newRelay(t, cfg, reg)
	start(t, r)
	n := outbox.NewNotifier(e.pool, 5*time.Millisecond, quiet)
	go n.Run(t.Context())

	e.waitListening(t)
	e.insert(t, "k", e.names.For("user.logged_in"), []byte(`{}`))
	n.Poke()
	if got := natstest.Collect(t, e.js, e.names.Stream, 1, 10*time.Second); len(got) != 1 {
		t.Fatalf("event not published")
	}
	// Let the idle backoff reach PollInterval (10ms doubling: under 2 s).
	time.Sleep(2500 * time.Millisecond)
	before := metrictest.Must(t, reg, "authevents_relay_batch_size")
	xactBefore := commits(t, e.pool)
	const window = 3 * time.Second
	time.Sleep(window)
	perSec := (metrictest.Must(t, reg, "authevents_relay_batch_size") - before) / window.Seconds()
	xactPerSec := float64(commits(t, e.pool)-xactBefore) / window.Seconds()
	t.Logf("idle: %.1f batches/s, %.1f transactions/s", perSec, xactPerSec)
	if perSec >= 5 {
		t.Errorf("idle relay ran %.1f batches per second, want < 5", perSec)
	}
	// The transaction count is coarse: backends flush their counters at
	// most once a second, and on a loaded 2-core machine (CI runs the
	// chaos suite beside this) an idle relay's stats and lease queries
	// were seen at 6/s. The busy loop this guards against ran thousands.
	if xactPerSec >= 15 {
		t.Errorf("idle relay ran %.1f database transactions per second, want < 15", xactPerSec)
	}
}

// commits is the test database's committed transaction count. Backends
// flush their counters at most once a second, so this is approximate at
// the edges, and a busy relay shows thousands.
func commits(t *testing.T, pool *pgxpool.Pool) int64 {
	t.Helper()
	var n int64
	if err := pool.QueryRow(context.Background(), `SELECT pg_stat_force_next_flush(), pg_stat_clear_snapshot(),
		(SELECT xact_commit FROM pg_stat_database WHERE datname = current_database())`).Scan(nil, nil, &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// waitListening waits until the relay's LISTEN connection is set up.
func (e *env) waitListening(t *testing.T) {
	t.Helper()
	testenv.WaitFor(t, "the relay to LISTEN", 10*time.Second, func() bool {
		var listening bool
		e.pool.QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND query = 'LISTEN `+outbox.NotifyChannel+`')`).Scan(&listening)
		return listening
	})
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
	r, reg := e.streamRelay(t, fastConfig())
	start(t, r)
	e.insert(t, "first", e.names.For("user.registered"), payload("first", 0))
	if got := natstest.Collect(t, e.js, e.names.Stream, 1, 10*time.Second); len(got) != 1 {
		t.Fatal("relay not publishing before the outage")
	}

	srv.RestartWithoutJetStream()
	for i := range 32 {
		e.insert(t, fmt.Sprintf("k%d", i%4), e.names.For("user.logged_in"), payload(fmt.Sprintf("k%d", i%4), i))
	}
	// Let the relay try for 3 s, far longer than RELAY_MAX_ATTEMPTS
	// retries at 10-50 ms backoff would take.
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		var attempts, dead int
		e.pool.QueryRow(context.Background(), `SELECT COALESCE(max(attempts), 0), count(*) FILTER (WHERE state = 'dead') FROM outbox`).Scan(&attempts, &dead)
		if attempts != 0 || dead != 0 {
			t.Fatalf("during the outage: max attempts %d, dead rows %d; an unavailable broker must cost nothing", attempts, dead)
		}
	}
	if got := metrictest.Must(t, reg, "authevents_relay_jetstream_available"); got != 0 {
		t.Errorf("authevents_relay_jetstream_available = %v during the outage, want 0", got)
	}

	srv.Restart()
	nc := natstest.Connect(t, srv.URL())
	js, _ := jetstream.New(nc)
	msgs := natstest.Collect(t, js, e.names.Stream, 33, 30*time.Second)
	if len(msgs) != 33 {
		t.Fatalf("after the outage: %d messages, want 33; outbox %+v", len(msgs), e.stats(t))
	}
	assertKeyOrder(t, msgs)
}

// TestDeletedStreamIsReprovisioned: the stream deleted under a running
// relay is created again (log line and metric), and no row pays for it.
func TestDeletedStreamIsReprovisioned(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	r, reg := e.streamRelay(t, fastConfig())
	start(t, r)

	e.insert(t, "k", e.names.For("user.registered"), []byte(`{"n":0}`))
	if got := natstest.Collect(t, e.js, e.names.Stream, 1, 10*time.Second); len(got) != 1 {
		t.Fatal("first event not published")
	}
	if err := e.js.DeleteStream(context.Background(), e.names.Stream); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		e.insert(t, "k", e.names.For("user.logged_in"), payload("k", i+1))
	}
	e.waitStream(t, e.names.Stream)
	msgs := natstest.Collect(t, e.js, e.names.Stream, 5, 20*time.Second)
	if len(msgs) != 5 {
		t.Fatalf("after the stream was deleted: %d messages, want 5", len(msgs))
	}
	assertKeyOrder(t, msgs)
	if got := metrictest.Must(t, reg, "authevents_relay_stream_provisioned_total", "reason", "missing"); got < 1 {
		t.Errorf("stream re-provisioning not counted")
	}
	var attempts int
	e.pool.QueryRow(context.Background(), `SELECT COALESCE(max(attempts), 0) FROM outbox`).Scan(&attempts)
	if attempts != 0 {
		t.Errorf("a deleted stream charged rows %d attempts", attempts)
	}
}

// assertKeyOrder checks that each key's messages are in payload order n.
func assertKeyOrder(t *testing.T, msgs []jetstream.Msg) {
	t.Helper()
	last := map[string]int{}
	for _, m := range msgs {
		var p struct {
			Key string `json:"key"`
			N   int    `json:"n"`
		}
		if err := json.Unmarshal(m.Data(), &p); err != nil {
			t.Fatal(err)
		}
		if prev, ok := last[p.Key]; ok && p.N <= prev {
			t.Errorf("key %s: %d published after %d", p.Key, p.N, prev)
		}
		last[p.Key] = p.N
	}
}

// streamRelay is a relay with cfg that also owns the test's stream
// (provisions and repairs it), and its metrics registry.
func (e *env) streamRelay(t *testing.T, cfg relay.Config) (*relay.Relay, *prometheus.Registry) {
	t.Helper()
	cfg.Stream = streamConfig(e.names)
	reg := prometheus.NewRegistry()
	return e.newRelay(t, cfg, reg), reg
}

// waitStream waits until the stream named name exists.
func (e *env) waitStream(t *testing.T, name string) {
	t.Helper()
	testenv.WaitFor(t, "stream "+name, 10*time.Second, func() bool {
		_, err := e.js.Stream(context.Background(), name)
		return err == nil
	})
}

// start runs r until the test ends.
func start(t *testing.T, r *relay.Relay) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// TestShutdownWithASilentDatabase: cut off from Postgres (black hole), a
// relay asked to stop returns, and its pool closes, within bounded time:
// the listener is waited for and its UNLISTEN has a deadline.
func TestShutdownWithASilentDatabase(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	var dbURL string
	e.pool.QueryRow(context.Background(), `SELECT current_database()`).Scan(&dbURL)
	u, _ := url.Parse(pgtest.AdminURL())
	proxy := faultproxy.Start(t, u.Host)
	u.Host, u.Path = proxy.Addr, "/"+dbURL
	pool, err := postgres.Open(context.Background(), u.String(), 4, postgres.Session{AppName: "authevents-relay"})
	if err != nil {
		t.Fatal(err)
	}
	nc := natstest.Connect(t, e.natsURL)
	r, err := relay.New(pool, nc, fastConfig(), prometheus.NewRegistry(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		r.Run(ctx)
		close(done)
	}()
	e.waitListening(t)
	proxy.BlackHole(t)
	time.Sleep(100 * time.Millisecond) // let a poll or two hit the black hole
	stop := time.Now()
	cancel()
	select {
	case <-done:
		t.Logf("stopped in %s", time.Since(stop))
	case <-time.After(5 * time.Second):
		t.Fatal("relay shutdown hung on a silent database")
	}
	// pool.Close waits (up to pgxpool's 15 s) for the server to close each
	// silent connection; bin/relay bounds that wait at exit.
	go pool.Close()
}

// TestOutboxGaugesAbsentWhenUnreadable: when the outbox statistics cannot
// be read the gauges are absent from the scrape (not stale, not 0), the
// failure is counted, and the rest of /metrics is still served.
func TestOutboxGaugesAbsentWhenUnreadable(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	reg := prometheus.NewRegistry()
	e.newRelay(t, fastConfig(), reg)
	if _, ok := metrictest.Value(t, reg, "authevents_outbox_backlog"); !ok {
		t.Fatal("backlog gauge absent while Postgres answers")
	}
	e.pool.Close() // the stats query now fails
	for _, name := range []string{"authevents_outbox_backlog", "authevents_outbox_oldest_unsent_age_seconds",
		"authevents_outbox_dead_rows", "authevents_outbox_parked_rows"} {
		if v, ok := metrictest.Value(t, reg, name); ok {
			t.Errorf("%s = %v with the stats unreadable, want it absent", name, v)
		}
	}
	if n := metrictest.Must(t, reg, "authevents_outbox_stats_errors_total"); n < 1 {
		t.Errorf("authevents_outbox_stats_errors_total = %v, want the failed reads counted", n)
	}
	if _, ok := metrictest.Value(t, reg, "authevents_relay_up"); !ok {
		t.Error("authevents_relay_up missing: one failing collector must not empty the scrape")
	}
}
