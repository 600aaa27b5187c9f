package relay_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
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

// setup gives the test a database of its own and a stream of its own on
// the NATS server at natsURL ("": the shared server).
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

// streamConfig is the test's stream, with cmd/relay's default limits.
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

// streamRelay is a relay with cfg that also owns the test's stream
// (provisions and repairs it), and its metrics registry.
func (e *env) streamRelay(t *testing.T, cfg relay.Config) (*relay.Relay, *prometheus.Registry) {
	t.Helper()
	cfg.Stream = streamConfig(e.names)
	reg := prometheus.NewRegistry()
	return e.newRelay(t, cfg, reg), reg
}

// start runs r until the test ends.
func start(t *testing.T, r *relay.Relay) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
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

func (e *env) stats(t *testing.T) outbox.Stats {
	t.Helper()
	s, err := outbox.ReadStats(context.Background(), e.pool)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// maxAttempts is the highest attempt count of any row left in the outbox.
func (e *env) maxAttempts(t *testing.T) int {
	t.Helper()
	var attempts int
	if err := e.pool.QueryRow(context.Background(), `SELECT COALESCE(max(attempts), 0) FROM outbox`).Scan(&attempts); err != nil {
		t.Fatal(err)
	}
	return attempts
}

func ids(msgs []jetstream.Msg) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, m.Headers().Get(jetstream.MsgIDHeader))
	}
	return out
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

// waitStream waits until the stream named name exists.
func (e *env) waitStream(t *testing.T, name string) {
	t.Helper()
	testenv.WaitFor(t, "stream "+name, 10*time.Second, func() bool {
		_, err := e.js.Stream(context.Background(), name)
		return err == nil
	})
}

// streamConfigJS is the test stream's configuration as the server has it.
func streamConfigJS(t *testing.T, e *env) jetstream.StreamConfig {
	s, err := e.js.Stream(context.Background(), e.names.Stream)
	if err != nil {
		t.Fatal(err)
	}
	return s.CachedInfo().Config
}
