package relay_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/authevents/authevents/db/postgres"
	"github.com/authevents/authevents/db/postgres/pgtest"
	"github.com/authevents/authevents/internal/faultproxy"
	"github.com/authevents/authevents/internal/natstest"
	"github.com/authevents/authevents/internal/testenv"
	"github.com/authevents/authevents/relay"
)

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
	cfg := fastConfig()
	r, err := relay.New(pool, nc, cfg, prometheus.NewRegistry(), quiet)
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
	// Every worker is in a poll the black hole swallowed: each holds a
	// connection, or waits for a new one to connect, beside the
	// listener's, for several idle intervals. (A scrape would query the
	// silent database: the pool's own count it is.)
	var held time.Time
	testenv.WaitFor(t, "every worker's poll to hang in the black hole", 10*time.Second, func() bool {
		if st := pool.Stat(); st.AcquiredConns()+st.ConstructingConns() < int32(1+cfg.Workers) {
			held = time.Time{}
			return false
		}
		if held.IsZero() {
			held = time.Now()
		}
		return time.Since(held) >= 4*cfg.PollInterval
	})
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
