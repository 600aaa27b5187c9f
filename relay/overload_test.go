package relay_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/authevents/authevents/internal/metrictest"
	"github.com/authevents/authevents/internal/natstest"
	"github.com/authevents/authevents/internal/testenv"
	"github.com/authevents/authevents/outbox"
)

// Found in review (issue 8), now fixed: a stream whose ingest queue is
// full answers 429 "too many requests" (JSStreamTooManyRequests, 10167):
// the broker is overloaded, the message is fine. classify charged every
// JetStream 4xx but 404/408, so rows paid attempts (and died after
// MaxAttempts) for the broker's overload. The private server here has a
// small ingest buffer (jetstream { max_buffered_msgs }) to provoke it
// without a real overload. The test watches the broker's answers on the
// wire: the overload must happen, cost no row an attempt, and every row
// must be published once the broker catches up.
func TestIngestOverloadCostsNoAttempt(t *testing.T) {
	t.Parallel()
	url := startOverloadableServer(t)
	e := setup(t, url)

	// Every PubAck goes to the relay's reply inbox; a subscriber on all
	// inboxes sees the 429 answers too.
	var overloads atomic.Int64
	witness := natstest.Connect(t, url)
	if _, err := witness.Subscribe("_INBOX.>", func(m *nats.Msg) {
		if bytes.Contains(m.Data, []byte(`"err_code":10167`)) {
			overloads.Add(1)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := witness.Flush(); err != nil {
		t.Fatal(err)
	}

	cfg := fastConfig()
	cfg.BatchSize = 2000
	cfg.Stream = streamConfig(e.names)
	reg := prometheus.NewRegistry()
	r := e.newRelay(t, cfg, reg)
	const n = 4000
	subject := e.names.For("user.logged_in")
	if _, err := e.pool.Exec(context.Background(), `INSERT INTO outbox (subject, payload, ordering_key)
		SELECT $1, json_build_object('key', 'u' || i, 'n', i)::text, 'u' || i FROM generate_series(1, $2::int) i`, subject, n); err != nil {
		t.Fatal(err)
	}
	start(t, r)
	testenv.WaitFor(t, "the broker to refuse publishes with 429", 30*time.Second, func() bool { return overloads.Load() > 0 })
	var charged, dead int
	var sample string
	e.pool.QueryRow(context.Background(), `SELECT count(*) FILTER (WHERE attempts > 0), count(*) FILTER (WHERE state = 'dead'),
		COALESCE(max(last_error), '') FROM outbox`).Scan(&charged, &dead, &sample)
	if charged > 0 || dead > 0 {
		t.Errorf("broker overload (429) charged %d rows an attempt and killed %d; last_error e.g. %q", charged, dead, sample)
	}

	testenv.WaitFor(t, "every row published after the overload", 90*time.Second, func() bool { return e.stats(t).Backlog == 0 })
	info, err := e.js.Stream(context.Background(), e.names.Stream)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.CachedInfo().State.Msgs; got != n {
		t.Errorf("stream holds %d messages, want %d", got, n)
	}
	counts, err := outbox.ReadCounts(context.Background(), e.pool, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(counts) != 1 || counts[0].Type != subject || counts[0].Published != n || counts[0].Refused != 0 || counts[0].Dead != 0 {
		t.Errorf("durable counts %+v, want %d published, none refused or dead", counts, n)
	}
	unsent := metrictest.Must(t, reg, "authevents_relay_published_total", "result", "unsent")
	t.Logf("%d answers 429 on the wire; %v publishes left unsent (no attempt charged) by the relay", overloads.Load(), unsent)
	if unsent == 0 {
		t.Errorf("the relay counted no unsent publish: the 429s were not its own")
	}
}

// startOverloadableServer starts a private nats-server whose JetStream
// ingest queue holds 5 messages, and returns its URL.
func startOverloadableServer(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	addr := testenv.FreeAddr(t)
	conf := filepath.Join(dir, "nats.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf("listen: %q\njetstream { store_dir: %q, max_buffered_msgs: 5 }\n", addr, filepath.Join(dir, "js"))), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(natstest.Binary(t), "-c", conf)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	url := "nats://" + addr
	testenv.WaitFor(t, "the private nats-server to accept connections", 10*time.Second, func() bool {
		nc, err := nats.Connect(url)
		if err == nil {
			nc.Close()
		}
		return err == nil
	})
	return url
}
