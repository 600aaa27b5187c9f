package relay_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/authevents/authevents/internal/metrictest"
	"github.com/authevents/authevents/internal/natstest"
	"github.com/authevents/authevents/internal/testenv"
)

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
	testenv.WaitFor(t, "nothing claimable any more: only dead and parked rows left", 90*time.Second, func() bool {
		s := e.stats(t)
		return s.Backlog == s.Parked
	})
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

// Found in review of the lane claim's cap: a lane claim looks at no more
// than about twice its limit of the lane's rows, so a backlog whose lanes
// begin with a long run of one key's rows (a busy user's burst, then the
// other users) hides the other keys' rows behind it in every lane. The
// lane of the busy key's head yields that one row a round, which kept
// the worker in lane mode: the other keys waited for the busy key's rows
// to drain one per round of lanes. A round of lanes that yields less than
// a row per lane goes back to the whole outbox, which finds them.
func TestOtherKeysBehindABusyKeyAreNotStarved(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	reg := prometheus.NewRegistry()
	r := e.newRelay(t, fastConfig(), reg)
	const hot, others = 8000, 1000 // 8,000 rows: 500 at the front of each of the 16 lanes
	if _, err := e.pool.Exec(context.Background(), `INSERT INTO outbox (subject, payload, ordering_key)
		SELECT $1, '{}', CASE WHEN i <= $2 THEN 'hot' ELSE 'u' || i END
		  FROM generate_series(1, $2::int + $3::int) i ORDER BY i`, e.names.For("user.logged_in"), hot, others); err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	start(t, r)
	testenv.WaitFor(t, "the other keys' rows published", 60*time.Second, func() bool {
		var left int
		if err := e.pool.QueryRow(context.Background(), `SELECT count(*) FROM outbox WHERE ordering_key <> 'hot'`).Scan(&left); err != nil {
			t.Fatal(err)
		}
		return left == 0
	})
	// Before the fix: 2,470 claims (3.9-7.3 s), most of them empty lanes;
	// after it, 164. A full batch of 100 would take 90 for every row.
	claims := metrictest.Must(t, reg, "authevents_relay_batch_size")
	t.Logf("the other keys' rows published in %s, %.0f claims", time.Since(begin), claims)
	if claims > 450 {
		t.Errorf("%.0f claims to publish %d rows behind a busy key's %d: its lanes hide them", claims, others, hot)
	}
}
