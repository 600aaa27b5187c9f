package chaos_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/consumer"
	"github.com/authevents/authevents/consumer/audit"
	"github.com/authevents/authevents/db/postgres/pgtest"
	"github.com/authevents/authevents/internal/natstest"
	"github.com/authevents/authevents/internal/testenv"
	"github.com/authevents/authevents/relay"
)

// TestConsumerStartWaitsForJetStream is what the chaos suite found first: a
// consumer replica restarted while the cluster was electing a stream
// leader (or had lost its quorum) could not create its dead-letter stream
// or durable consumer and exited with status 1. It must wait for JetStream
// as the relay does, then consume.
func TestConsumerStartWaitsForJetStream(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t)
	srv := natstest.Start(t)
	srv.RestartWithoutJetStream()
	nc := natstest.Connect(t, srv.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	js, _ := jetstream.New(nc)
	names := natstest.NewNames()
	_, done, stop := runAudit(t, js, pool, names)
	select {
	case err := <-done:
		t.Fatalf("consumer Run returned while JetStream was unavailable: %v", err)
	case <-time.After(1500 * time.Millisecond):
	}

	srv.Restart()
	ensureStream(t, js, names)
	id := uuid.Must(uuid.NewV7())
	data, _ := json.Marshal(map[string]string{"userId": uuid.NewString(), "timestamp": "2026-11-28T12:00:00.000Z"})
	body, _ := json.Marshal(authevents.CloudEvent{SpecVersion: "1.0", ID: id.String(), Source: "auth-service", Type: "user.logged_in",
		Time: "2026-11-28T12:00:00.000Z", DataContentType: "application/json", Data: data})
	msg := &nats.Msg{Subject: names.For("user.logged_in"), Data: body, Header: nats.Header{}}
	msg.Header.Set(jetstream.MsgIDHeader, id.String())
	if _, err := js.PublishMsg(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "the event in the audit log", 30*time.Second, func() bool {
		var n int
		pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE event_id = $1`, id).Scan(&n)
		return n == 1
	})
	stop()
}

// TestConsumerBacksOffWhileJetStreamIsUnavailable is the second finding:
// while the cluster had lost its quorum, the eight consumer replicas took
// 70–80 % of a core and the surviving NATS node 40–60 %, and auth latency
// rose with it. A fetch that JetStream refuses (no responders, 503) does not
// fail Fetch itself: the error comes back in the batch, which the loop did
// not look at, so it fetched again at once, without end. It must back off.
func TestConsumerBacksOffWhileJetStreamIsUnavailable(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t)
	srv := natstest.Start(t)
	nc := natstest.Connect(t, srv.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	js, _ := jetstream.New(nc)
	names := natstest.NewNames()
	ensureStream(t, js, names)
	cfg, _, stop := runAudit(t, js, pool, names)
	testenv.WaitFor(t, "the durable consumer", 10*time.Second, func() bool {
		_, err := js.Consumer(context.Background(), names.Stream, cfg.Durable)
		return err == nil
	})

	srv.RestartWithoutJetStream()
	testenv.WaitFor(t, "the reconnection", 10*time.Second, nc.IsConnected)
	time.Sleep(500 * time.Millisecond)
	before := nc.Stats().OutMsgs
	time.Sleep(3 * time.Second)
	// Backing off from 200 ms, a few fetches; the state reader and the
	// keep-alive add a handful.
	if sent := nc.Stats().OutMsgs - before; sent > 60 {
		t.Errorf("the consumer sent %d requests in 3 s while JetStream was unavailable: it does not back off", sent)
	}
	stop()
}

// runAudit runs the audit consumer on names' stream through js until the
// returned stop, which fails t if Run returned an error. Run's early
// return (before stop) is sent on the channel.
func runAudit(t *testing.T, js jetstream.JetStream, pool *pgxpool.Pool, names natstest.Names) (consumer.Config, <-chan error, func()) {
	t.Helper()
	cfg := audit.Config(names.Stream, names.Subject)
	cfg.DLQStream = names.Stream + "-dlq"
	cfg.AckWait = 5 * time.Second
	c := consumer.New(js, pool, cfg, audit.New(pool), consumer.NewMetrics(prometheus.NewRegistry()), slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	return cfg, done, func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("consumer Run: %v", err)
		}
	}
}

func ensureStream(t *testing.T, js jetstream.JetStream, names natstest.Names) {
	t.Helper()
	if _, err := relay.EnsureStream(context.Background(), js, relay.StreamConfig{Name: names.Stream, Subjects: []string{names.Subject},
		MaxAge: time.Hour, MaxMsgs: -1, MaxBytes: -1, Duplicates: time.Minute}); err != nil {
		t.Fatal(err)
	}
}
