package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/db/postgres"
	"github.com/authevents/authevents/db/postgres/pgtest"
	"github.com/authevents/authevents/internal/config"
	"github.com/authevents/authevents/internal/faultproxy"
	"github.com/authevents/authevents/internal/natstest"
	"github.com/authevents/authevents/internal/testenv"
	"github.com/authevents/authevents/outbox"
	"github.com/authevents/authevents/relay"
)

type procEnv struct {
	pool  *pgxpool.Pool
	env   []string
	js    jetstream.JetStream
	names natstest.Names
	logs  *os.File
}

func newProcEnv(t *testing.T) *procEnv {
	t.Helper()
	pool, dbURL := pgtest.NewWithURL(t)
	_, js, names := natstest.Shared(t)
	logs, err := os.Create(filepath.Join(t.TempDir(), "relay.log"))
	if err != nil {
		t.Fatal(err)
	}
	return &procEnv{pool: pool, js: js, names: names, logs: logs, env: append(os.Environ(),
		"DATABASE_URL="+dbURL, "NATS_URL="+natstest.URL(), "OPS_ADDR=127.0.0.1:0",
		"STREAM_NAME="+names.Stream, "STREAM_SUBJECTS="+names.Subject,
		"RELAY_BATCH_SIZE=50", "RELAY_MIN_POLL_INTERVAL=5ms", "RELAY_POLL_INTERVAL=50ms", "LOG_LEVEL=warn")}
}

func (p *procEnv) start(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(testenv.BuildHere(t, "relay"))
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// produce inserts n rows over keys in small transactions and returns their ids.
func (p *procEnv) produce(t *testing.T, n, keys int) []uuid.UUID {
	t.Helper()
	var out []uuid.UUID
	ctx := context.Background()
	for len(out) < n {
		k := rand.IntN(keys)
		batch := 1 + rand.IntN(4)
		err := postgres.WithTx(ctx, p.pool, func(tx pgx.Tx) error {
			for range batch {
				id := uuid.Must(uuid.NewV7())
				if err := outbox.Append(ctx, tx, outbox.Message{ID: id, Subject: p.names.For("user.logged_in"),
					Payload: []byte(fmt.Sprintf(`{"n":%d}`, len(out))), OrderingKey: fmt.Sprintf("user-%d", k)}); err != nil {
					return err
				}
				out = append(out, id)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func (p *procEnv) waitDrained(t *testing.T, within time.Duration) {
	t.Helper()
	testenv.WaitFor(t, "the outbox to drain", within, func() bool {
		s, err := outbox.ReadStats(context.Background(), p.pool)
		return err == nil && s.Backlog == 0
	})
}

// streamIDs returns every message id in the stream, with repeats.
func (p *procEnv) streamIDs(t *testing.T, want int) []string {
	t.Helper()
	var out []string
	for _, m := range natstest.Collect(t, p.js, p.names.Stream, want, 20*time.Second) {
		out = append(out, m.Headers().Get(jetstream.MsgIDHeader))
	}
	return out
}

// TestSIGKILLLosesNothingAndDuplicatesNothing kills the relay process at
// random moments while events are being produced and restarts it; at the
// end every committed event is in the stream exactly once.
func TestSIGKILLLosesNothingAndDuplicatesNothing(t *testing.T) {
	t.Parallel()
	p := newProcEnv(t)
	var mu sync.Mutex
	var produced []uuid.UUID
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Paced over at least 1.5 s so that the kills land while events
		// are still being produced, however fast the machine.
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for range 30 {
			<-tick.C
			ids := p.produce(t, 100, 60)
			mu.Lock()
			produced = append(produced, ids...)
			mu.Unlock()
		}
	}()
	kills := 0
	for producing := true; producing || kills < 5; {
		cmd := p.start(t)
		time.Sleep(time.Duration(50+rand.IntN(300)) * time.Millisecond) // a random moment, by design
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		kills++
		select {
		case <-done:
			producing = false
		default:
		}
	}
	final := p.start(t)
	p.waitDrained(t, 60*time.Second)
	final.Process.Signal(syscall.SIGTERM)
	final.Wait()

	ids := p.streamIDs(t, len(produced))
	seen := map[string]int{}
	for _, id := range ids {
		seen[id]++
	}
	for id, n := range seen {
		if n > 1 {
			t.Errorf("event %s is %d times in the stream", id, n)
		}
	}
	for _, id := range produced {
		if seen[id.String()] == 0 {
			t.Errorf("event %s lost", id)
		}
	}
	if len(ids) != len(produced) {
		t.Errorf("%d messages for %d events", len(ids), len(produced))
	}
	t.Logf("%d events, %d kills, %d messages", len(produced), kills, len(ids))

}

// TestSIGTERMLeavesNothingHalfMarked stops the relay with SIGTERM in the
// middle of a drain: it exits 0, and every row gone from the outbox is in
// the stream (rows still pending may or may not be; they will be).
func TestSIGTERMLeavesNothingHalfMarked(t *testing.T) {
	t.Parallel()
	p := newProcEnv(t)
	produced := p.produce(t, 3000, 500)
	cmd := p.start(t)
	testenv.WaitFor(t, "the relay to publish 500 rows", 20*time.Second, func() bool {
		s, err := outbox.ReadStats(context.Background(), p.pool)
		return err == nil && s.Backlog < 2500
	})
	testenv.Terminate(t, cmd, 15*time.Second)
	pending := map[string]bool{}
	rows, _ := p.pool.Query(context.Background(), `SELECT id::text FROM outbox`)
	for rows.Next() {
		var id string
		rows.Scan(&id)
		pending[id] = true
	}
	rows.Close()
	deleted := 0
	for _, id := range produced {
		if !pending[id.String()] {
			deleted++
		}
	}
	inStream := map[string]bool{}
	for _, id := range p.streamIDs(t, deleted) {
		inStream[id] = true
	}
	for _, id := range produced {
		if !pending[id.String()] && !inStream[id.String()] {
			t.Fatalf("row %s was marked sent but is not in the stream", id)
		}
	}
	t.Logf("stopped after %d of %d rows", deleted, len(produced))
	if deleted == 0 || deleted == len(produced) {
		t.Logf("note: SIGTERM did not land mid-drain this time (deleted %d)", deleted)
	}
}

func TestRefusesToStart(t *testing.T) {
	t.Parallel()
	empty := pgtest.NewDatabase(t)
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"DATABASE_URL": empty, "OPS_ADDR": "127.0.0.1:0"}, "not migrated"},
		{map[string]string{"RELAY_BATCH_SIZE": "0"}, "RELAY_BATCH_SIZE"},
		{map[string]string{"RELAY_WORKERS": "0"}, "RELAY_WORKERS"},
		{map[string]string{"STREAM_DUPLICATE_WINDOW": "1000h"}, "STREAM_DUPLICATE_WINDOW"},
		{map[string]string{"RELAY_POLL_INTERVAL": "soon"}, "RELAY_POLL_INTERVAL"},
		// Each worker holds a connection for its batch, and one is the
		// LISTEN connection: fewer starve the workers.
		{map[string]string{"RELAY_WORKERS": "4", "DB_MAX_CONNS": "4"}, "DB_MAX_CONNS"},
		{map[string]string{"STREAM_DUPLICATE_WINDOW": "10s"}, "STREAM_DUPLICATE_WINDOW"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err := run(ctx, nil, tc.env, io.Discard)
		cancel()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("run(%v) = %v, want an error naming %q", tc.env, err, tc.want)
		}
	}
}

// TestPartitionedRelayReleasesItsRows puts a fault proxy between relay A
// and Postgres and black-holes it while A is in the middle of a batch (its
// claim transaction open, waiting for PubAcks that a slow link delays).
// Relay B, connected directly, must publish those rows within 30 s, each
// exactly once in the stream.
//
// A is also frozen (SIGSTOP) at that moment: toxiproxy, unlike a real
// partition, passes A's own close on to Postgres once A's client-side
// deadline fires. Frozen behind a black hole, A sends nothing at all, as
// a host cut off by the network would, so only the server-side
// idle_in_transaction_session_timeout can free the rows. Without it they
// stayed locked until the kernel's TCP timeout, about two hours.
func TestPartitionedRelayReleasesItsRows(t *testing.T) {
	t.Parallel()
	p := newProcEnv(t)
	dbURL := envValue(p.env, "DATABASE_URL")
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	pgProxy := faultproxy.Start(t, u.Host)
	natsProxy := faultproxy.Start(t, strings.TrimPrefix(natstest.URL(), "nats://"))
	u.Host = pgProxy.Addr
	a := exec.Command(testenv.BuildHere(t, "relay"))
	a.Env = append(slices.Clone(p.env), "DATABASE_URL="+u.String(), "NATS_URL=nats://"+natsProxy.Addr,
		"RELAY_PUBLISH_TIMEOUT=5s", "RELAY_WORKERS=1")
	a.Stdout, a.Stderr = p.logs, p.logs
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { a.Process.Kill(); a.Wait() }()

	// A is up and publishing; then its link to NATS turns slow, so each
	// of its batches waits 2 s for its PubAcks.
	warmup := p.produce(t, 1, 1)
	if got := p.streamIDs(t, 1); len(got) != 1 || got[0] != warmup[0].String() {
		t.Fatalf("relay A not publishing: %v", got)
	}
	natsProxy.Latency(t, 2*time.Second)
	produced := append(warmup, p.produce(t, 20, 20)...)
	// Wait until A holds the rows: its claim transaction is open.
	testenv.WaitFor(t, "relay A to claim the rows", 30*time.Second, func() bool {
		var holding bool
		p.pool.QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
			WHERE datname = current_database() AND application_name = 'authevents-relay'
			  AND state = 'idle in transaction')`).Scan(&holding)
		return holding
	})
	pgProxy.BlackHole(t)
	a.Process.Signal(syscall.SIGSTOP)
	cut := time.Now()

	b := p.start(t)
	defer testenv.Terminate(t, b, 15*time.Second)
	p.waitDrained(t, time.Until(cut.Add(30*time.Second))) // within 30 s of the cut
	t.Logf("relay B published the partitioned relay's rows %.1f s after the cut", time.Since(cut).Seconds())
	seen := map[string]int{}
	for _, id := range p.streamIDs(t, len(produced)+1) { // +1: a duplicate would show
		seen[id]++
	}
	for _, id := range produced {
		if n := seen[id.String()]; n != 1 {
			t.Errorf("event %s is %d times in the stream, want exactly once", id, n)
		}
	}
	if len(seen) != len(produced) {
		t.Errorf("stream has %d distinct events, want %d", len(seen), len(produced))
	}
}

func envValue(env []string, key string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], key+"="); ok {
			return v
		}
	}
	return ""
}

// TestDefaultDuplicateWindowCoversRepublishing: the default window outlasts
// the longest republish path the relay supports (PostgreSQL recovery after
// a crash lost the last deletes), and the partition path. It was 2 min,
// shorter than a PostgreSQL failover.
func TestDefaultDuplicateWindowCoversRepublishing(t *testing.T) {
	cfg, err := config.Load[Config](map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	longest := max(relay.PostgresRecovery, relay.IdleInTxTimeout(cfg.PublishTimeout))
	if cfg.StreamDuplicates < longest+time.Minute {
		t.Errorf("STREAM_DUPLICATE_WINDOW default %s, want at least the longest republish path (%s) plus a minute", cfg.StreamDuplicates, longest)
	}
	if relay.DefaultStream().Duplicates != cfg.StreamDuplicates {
		t.Errorf("relay.DefaultStream().Duplicates = %s, binary default %s", relay.DefaultStream().Duplicates, cfg.StreamDuplicates)
	}
}

// TestDefaultsAreTheRelayPackages: the environment's defaults are the
// relay package's (DefaultConfig, DefaultStream), as their comments say;
// the stream's name and subjects are the binary's alone.
func TestDefaultsAreTheRelayPackages(t *testing.T) {
	cfg, err := config.Load[Config](map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	d, s := relay.DefaultConfig(), relay.DefaultStream()
	got := relay.Config{BatchSize: cfg.BatchSize, Workers: cfg.Workers, MinPollInterval: cfg.MinPollInterval,
		PollInterval: cfg.PollInterval, PublishTimeout: cfg.PublishTimeout, MaxAttempts: cfg.MaxAttempts,
		RetryBackoff: cfg.RetryBackoff, MaxRetryBackoff: cfg.MaxRetryBackoff, VacuumRows: cfg.VacuumRows, ContentType: authevents.ContentTypeCloudEvents}
	if diff := cmp.Diff(d, got); diff != "" {
		t.Errorf("environment defaults differ from relay.DefaultConfig() (-relay +env):\n%s", diff)
	}
	gotStream := relay.StreamConfig{MaxAge: cfg.StreamMaxAge, MaxMsgs: cfg.StreamMaxMsgs, MaxBytes: cfg.StreamMaxBytes,
		Duplicates: cfg.StreamDuplicates, Replicas: cfg.StreamReplicas}
	if diff := cmp.Diff(s, gotStream); diff != "" {
		t.Errorf("environment stream defaults differ from relay.DefaultStream() (-relay +env):\n%s", diff)
	}
	if cfg.StreamName != "auth-events" || !slices.Equal(cfg.StreamSubjects, []string{"auth.user.*"}) {
		t.Errorf("stream %s %v, want auth-events binding auth.user.*", cfg.StreamName, cfg.StreamSubjects)
	}
}
