package relay_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/authevents/authevents/internal/metrictest"
	"github.com/authevents/authevents/internal/natstest"
)

// Found in review (issue 8), now fixed: a row whose subject the relay's own matcher says the
// stream binds, but that the server can never route (an empty token), is
// classified "broker unavailable": never charged, never dead, its key
// blocked forever, and the JetStream-available gauge reads 0 although
// JetStream is fine.
func TestUnroutableSubjectIsChargedAndDies(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	r, reg := e.streamRelay(t, fastConfig())
	for _, subj := range []string{e.names.Prefix + ".user.", e.names.Prefix + ".user.a b", e.names.Prefix + ".user.*"} {
		e.insert(t, "k-"+subj, subj, []byte(`{}`))
	}
	start(t, r)
	// Wait for every row to be settled: published, or dead after its
	// attempts (a row the relay took for an outage would stay pending).
	deadline := time.Now().Add(10 * time.Second)
	for s := e.stats(t); s.Backlog > 0 && time.Now().Before(deadline); s = e.stats(t) {
		time.Sleep(20 * time.Millisecond)
	}
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
			t.Errorf("row %q with a subject no stream can ever store: state %s after 10 s (MaxAttempts %d, backoff <= 50ms), attempts %d; want charged and dead", subj, state, fastConfig().MaxAttempts, attempts)
		}
	}
	t.Logf("jetstream_available = %v, relay_up = %v", metrictest.Must(t, reg, "authevents_relay_jetstream_available"), metrictest.Must(t, reg, "authevents_relay_up"))
	t.Logf("stream msgs: %v", ids(natstest.Collect(t, e.js, e.names.Stream, 10, 500*time.Millisecond)))
}

// Found in review (issue 8), now fixed: the stream still exists but no longer binds the
// relay's subjects (an operator or another deployment updated its subject
// set). Every publish gets "no responders", classified broker-unavailable;
// checkStream finds the stream and does nothing, so the relay never
// re-provisions it: rows stay pending until the relay is restarted, and
// the log says "JetStream unavailable" while JetStream is up.
func TestStreamWithOtherSubjectsIsRepaired(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	r, reg := e.streamRelay(t, fastConfig())
	start(t, r)
	e.insert(t, "k", e.names.For("user.registered"), payload("k", 0))
	if got := natstest.Collect(t, e.js, e.names.Stream, 1, 10*time.Second); len(got) != 1 {
		t.Fatal("first event not published")
	}
	sc := streamConfigJS(t, e)
	sc.Subjects = []string{e.names.Prefix + ".other.*"}
	if _, err := e.js.UpdateStream(context.Background(), sc); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		e.insert(t, "k", e.names.For("user.logged_in"), payload("k", i+1))
	}
	msgs := natstest.Collect(t, e.js, e.names.Stream, 4, 8*time.Second)
	s, _ := e.js.Stream(context.Background(), e.names.Stream)
	t.Logf("after 8 s: %d messages, stream subjects %v, outbox %+v, jetstream_available %v", len(msgs), s.CachedInfo().Config.Subjects,
		e.stats(t), metrictest.Must(t, reg, "authevents_relay_jetstream_available"))
	if len(msgs) != 4 {
		t.Errorf("the relay did not restore its stream's subjects: %d of 4 events published", len(msgs))
	}
	if n := metrictest.Must(t, reg, "authevents_relay_stream_provisioned_total", "reason", "changed"); n < 1 {
		t.Errorf("repair not counted: authevents_relay_stream_provisioned_total{reason=changed} = %v", n)
	}
}

func streamConfigJS(t *testing.T, e *env) jetstream.StreamConfig {
	s, err := e.js.Stream(context.Background(), e.names.Stream)
	if err != nil {
		t.Fatal(err)
	}
	return s.CachedInfo().Config
}

// Found in review (issue 8), now fixed: a backlog holding many rows of one ordering key (one
// busy user) next to a backlog of other keys. The first claim is full, so
// the workers go to lane mode; once the other keys are drained, each lane
// claim yields at most the hot key's head row, and a lane that yields one
// keeps the worker in lane mode with no sleep: about Lanes claims (each
// scanning its lane's share of the hot key's rows) per row published.
func TestOneKeyBacklogDoesNotSpin(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	cfg := fastConfig()
	cfg.MinPollInterval = 10 * time.Millisecond
	cfg.PollInterval = time.Second
	reg := prometheus.NewRegistry()
	r := e.newRelay(t, cfg, reg)
	const hot, others = 300, 300
	if _, err := e.pool.Exec(context.Background(), `INSERT INTO outbox (subject, payload, ordering_key)
		SELECT $1, json_build_object('key', CASE WHEN i % 2 = 0 THEN 'hot' ELSE 'u' || i END, 'n', i)::text,
		       CASE WHEN i % 2 = 0 THEN 'hot' ELSE 'u' || i END
		  FROM generate_series(1, $2::int) i`, e.names.For("user.logged_in"), hot+others); err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	xact := commits(t, e.pool)
	start(t, r)
	msgs := natstest.Collect(t, e.js, e.names.Stream, hot+others, 120*time.Second)
	took := time.Since(begin)
	assertKeyOrder(t, msgs)
	b := metrictest.Must(t, reg, "authevents_relay_batch_size")
	t.Logf("%d rows (%d of one key) drained in %s: %.0f batches (%.1f per row), %d transactions", len(msgs), hot, took, b, b/float64(len(msgs)), commits(t, e.pool)-xact)
	if b > 3*float64(hot+others) {
		t.Errorf("%.0f claim transactions for %d rows: lane mode spins on a one-key backlog", b, hot+others)
	}
}

// Found in review (issue 8), now fixed: a stream whose ingest queue is full answers
// 429 "too many requests" (JSStreamTooManyRequests, 10167): the broker is
// overloaded, the message is fine. classify charges every JetStream 4xx
// but 404/408, so rows pay attempts (and die after MaxAttempts) for the
// broker's overload. The private server here has a small ingest buffer
// (jetstream { max_buffered_msgs }) to provoke it without a real overload.
func TestIngestOverloadCostsNoAttempt(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	addr := testenvFreeAddr(t)
	conf := filepath.Join(dir, "nats.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf("listen: %q\njetstream { store_dir: %q, max_buffered_msgs: 5 }\n", addr, filepath.Join(dir, "js"))), 0o644)
	cmd := exec.Command(natstest.Binary(t), "-c", conf)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	url := "nats://" + addr
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if nc, err := nats.Connect(url); err == nil {
			nc.Close()
			break
		}
		if time.Now().After(end) {
			t.Fatal("server did not start")
		}
	}
	e := setup(t, url)
	cfg := fastConfig()
	cfg.BatchSize = 2000
	cfg.Stream = streamConfig(e.names)
	r := e.newRelay(t, cfg, nil)
	const n = 4000
	if _, err := e.pool.Exec(context.Background(), `INSERT INTO outbox (subject, payload, ordering_key)
		SELECT $1, json_build_object('key', 'u' || i, 'n', i)::text, 'u' || i FROM generate_series(1, $2::int) i`, e.names.For("user.logged_in"), n); err != nil {
		t.Fatal(err)
	}
	start(t, r)
	time.Sleep(5 * time.Second)
	var charged, dead int
	var sample string
	e.pool.QueryRow(context.Background(), `SELECT count(*) FILTER (WHERE attempts > 0), count(*) FILTER (WHERE state = 'dead'),
		COALESCE(max(last_error), '') FROM outbox`).Scan(&charged, &dead, &sample)
	t.Logf("after 5 s: %d rows charged an attempt, %d dead; last_error e.g. %q; outbox %+v", charged, dead, sample, e.stats(t))
	if charged > 0 || dead > 0 {
		t.Errorf("broker overload (429) charged %d rows an attempt and killed %d", charged, dead)
	}
}

func testenvFreeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Found in review (issue 8), now fixed: three relays (two workers each, small batches so they
// go to lane mode) drain keys spread over every lane while some rows are
// refused (over the stream's max message size: retried with backoff, then
// dead). Per key: published in order, once, and nothing published after a
// row of the key that is still pending or dead.
func TestLanesRetriesAndDeadRowsKeepKeyOrder(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	sc := streamConfigJS(t, e)
	sc.MaxMsgSize = 400
	if _, err := e.js.UpdateStream(context.Background(), sc); err != nil {
		t.Fatal(err)
	}
	cfg := fastConfig()
	cfg.BatchSize = 50
	cfg.MaxAttempts = 4
	const rows, keys = 6000, 300
	if _, err := e.pool.Exec(context.Background(), `INSERT INTO outbox (subject, payload, ordering_key)
		SELECT $1, json_build_object('key', 'k' || (i % $3), 'n', i, 'pad', CASE WHEN random() < 0.01 THEN repeat('x', 500) ELSE '' END)::text, 'k' || (i % $3)
		  FROM generate_series(1, $2::int) i`, e.names.For("user.logged_in"), rows, keys); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		start(t, e.newRelay(t, cfg, nil))
	}
	// Wait until nothing is claimable any more: only dead and parked rows left.
	deadline := time.Now().Add(90 * time.Second)
	for {
		s := e.stats(t)
		if s.Backlog == s.Parked {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not drained: %+v", s)
		}
		time.Sleep(100 * time.Millisecond)
	}
	msgs := natstest.Collect(t, e.js, e.names.Stream, rows, 5*time.Second)
	assertKeyOrder(t, msgs)
	seen := map[string]bool{}
	for _, id := range ids(msgs) {
		if seen[id] {
			t.Errorf("event %s stored twice", id)
		}
		seen[id] = true
	}
	// No published row of a key may come after its first unpublished row.
	q, err := e.pool.Query(context.Background(), `SELECT ordering_key, min((payload::json->>'n')::int) FROM outbox GROUP BY ordering_key`)
	if err != nil {
		t.Fatal(err)
	}
	firstLeft := map[string]int{}
	for q.Next() {
		var k string
		var n int
		q.Scan(&k, &n)
		firstLeft[k] = n
	}
	for _, m := range msgs {
		var p struct {
			Key string `json:"key"`
			N   int    `json:"n"`
		}
		json.Unmarshal(m.Data(), &p)
		if f, ok := firstLeft[p.Key]; ok && p.N > f {
			t.Errorf("key %s: row %d published past its unpublished row %d", p.Key, p.N, f)
		}
	}
	s := e.stats(t)
	t.Logf("%d published, outbox %+v", len(msgs), s)
	if len(msgs)+int(s.Backlog)+int(s.Dead) != rows {
		t.Errorf("%d published + %d pending + %d dead != %d rows", len(msgs), s.Backlog, s.Dead, rows)
	}
}
