package relay_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/authevents/authevents/internal/metrictest"
	"github.com/authevents/authevents/internal/natstest"
	"github.com/authevents/authevents/internal/testenv"
	"github.com/authevents/authevents/outbox"
	"github.com/authevents/authevents/relay"
)

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
	// The relay gets a pool of its own whose statements are counted: the
	// database's own transaction count (pg_stat_database.xact_commit) also
	// counts autovacuum's and other backends', and CI saw it at 18.7/s
	// while this relay's pool was acquired 4 times a second.
	pcfg := e.pool.Config().Copy()
	statements := &statementCounter{}
	pcfg.ConnConfig.Tracer = statements
	pool, err := pgxpool.NewWithConfig(t.Context(), pcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	nc := natstest.Connect(t, e.natsURL, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	r, err := relay.New(pool, nc, cfg, reg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	start(t, r)
	n := outbox.NewNotifier(e.pool, 5*time.Millisecond, quiet)
	go n.Run(t.Context())

	e.waitListening(t)
	e.insert(t, "k", e.names.For("user.logged_in"), []byte(`{}`))
	n.Poke()
	if got := natstest.Collect(t, e.js, e.names.Stream, 1, 10*time.Second); len(got) != 1 {
		t.Fatalf("event not published")
	}
	// Let the idle backoff reach PollInterval (5 ms doubling: under 2 s).
	// A pause of 2/5 of it between batches comes once the workers wait
	// 640 ms or more (two workers at PollInterval leave one pause of at
	// least half of it every period). Batches are counted by the relay
	// pool's acquires: a scrape would query the database.
	last, since, pauses := int64(-1), time.Now(), 0
	testenv.WaitFor(t, "the idle waits to approach PollInterval", 10*time.Second, func() bool {
		if n := pool.Stat().AcquireCount(); n != last {
			if last >= 0 && time.Since(since) >= cfg.PollInterval*2/5 {
				pauses++
			}
			last, since = n, time.Now()
		}
		return pauses >= 2
	})
	before := metrictest.Must(t, reg, "authevents_relay_batch_size")
	stmtBefore := statements.n.Load()
	const window = 3 * time.Second
	time.Sleep(window) // the measurement window, not a wait for a state
	perSec := (metrictest.Must(t, reg, "authevents_relay_batch_size") - before) / window.Seconds()
	stmtPerSec := float64(statements.n.Load()-stmtBefore) / window.Seconds()
	t.Logf("idle: %.1f batches/s, %.1f statements/s", perSec, stmtPerSec)
	if perSec >= 5 {
		t.Errorf("idle relay ran %.1f batches per second, want < 5", perSec)
	}
	// Every statement the relay sends counts, on any of its connections
	// (claims, leases, the LISTEN connection, a VACUUM). Idle, two workers
	// polling once a second sent 2.3 a second here; the busy loop
	// this guards against sent tens of thousands.
	if stmtPerSec >= 15 {
		t.Errorf("idle relay sent %.1f statements per second, want < 15", stmtPerSec)
	}
}

// statementCounter counts the statements a pool sends (a pgx tracer).
type statementCounter struct{ n atomic.Int64 }

func (c *statementCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}

func (c *statementCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// waitListening waits until the relay's LISTEN connection is set up.
func (e *env) waitListening(t *testing.T) {
	t.Helper()
	testenv.WaitFor(t, "the relay to LISTEN", 10*time.Second, func() bool {
		var listening bool
		e.pool.QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND query = 'LISTEN `+outbox.NotifyChannel+`')`).Scan(&listening)
		return listening
	})
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
