package dashboard_test

import (
	"context"
	"fmt"
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

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/db/postgres"
	"github.com/authevents/authevents/internal/natstest"
	"github.com/authevents/authevents/internal/testenv"
	"github.com/authevents/authevents/outbox"
	"github.com/authevents/authevents/relay"
)

// The fixture of the page test: a real relay publishing a known mix of
// events to a private JetStream, and consumers left in known states.

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// startRelay runs a relay on dbURL and natsURL until the test ends, and
// returns its pool. The pool carries the relay's application_name, as
// cmd/relay's does: the outbox panel counts relay replicas by it.
func startRelay(t *testing.T, dbURL, natsURL string) *pgxpool.Pool {
	t.Helper()
	pool, err := postgres.Open(context.Background(), dbURL, 4, postgres.Session{AppName: "authevents-relay"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	cfg := relay.DefaultConfig()
	cfg.BatchSize, cfg.MinPollInterval, cfg.PollInterval = 50, 5*time.Millisecond, 50*time.Millisecond
	cfg.MaxAttempts, cfg.RetryBackoff, cfg.MaxRetryBackoff = 2, 10*time.Millisecond, 20*time.Millisecond
	cfg.Stream = relay.DefaultStream()
	cfg.Stream.Name, cfg.Stream.Subjects = "auth-events", []string{"auth.user.*"} // cmd/relay's defaults
	cfg.TypeLabel = authevents.TypeOfSubject
	r, err := relay.New(pool, natstest.Connect(t, natsURL, nats.MaxReconnects(-1)), cfg, prometheus.NewRegistry(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	t.Cleanup(func() { stop(); <-done })
	return pool
}

// insert appends one event row in its own transaction.
func insert(t *testing.T, pool *pgxpool.Pool, subject, key string) {
	t.Helper()
	err := postgres.WithTx(context.Background(), pool, func(tx pgx.Tx) error {
		return outbox.Append(context.Background(), tx, outbox.Message{ID: uuid.Must(uuid.NewV7()), Subject: subject,
			Payload: []byte(`{"specversion":"1.0"}`), OrderingKey: key})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// publishMix writes the mix and waits until the relay has dealt with it:
// 7 events published; one on a subject the stream does not bind (refused
// twice, then dead), and one event of the same user behind it (parked:
// per-user order).
func publishMix(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	mix := map[string]int{"user.registered": 3, "user.logged_in": 2, "user.login_failed": 1, "user.token_refreshed": 1}
	for typ, n := range mix {
		for i := range n {
			insert(t, pool, "auth."+typ, fmt.Sprintf("%s-%d", typ, i))
		}
	}
	insert(t, pool, "auth.admin.note", "poisoned-user")
	insert(t, pool, "auth.user.logged_out", "poisoned-user")
	testenv.WaitFor(t, "7 published, 1 dead, 1 parked", 20*time.Second, func() bool {
		s, err := outbox.ReadStats(context.Background(), pool)
		return err == nil && s.Backlog == 1 && s.Dead == 1 && s.Parked == 1
	})
}

// leaveConsumersInKnownStates: analytics got all 7 messages and
// acknowledged 5; email-service got the 3 registrations, acknowledged 1,
// refused 1 (redelivered) and holds 1, and has one dead letter.
func leaveConsumersInKnownStates(t *testing.T, natsURL string) {
	t.Helper()
	bg := context.Background()
	js, _ := jetstream.New(natstest.Connect(t, natsURL))
	stream, err := js.Stream(bg, "auth-events")
	if err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "7 messages in the stream", 10*time.Second, func() bool {
		si, err := stream.Info(bg)
		return err == nil && si.State.Msgs == 7
	})
	consumer := func(name, filter string) jetstream.Consumer {
		c, err := stream.CreateOrUpdateConsumer(bg, jetstream.ConsumerConfig{Durable: name, FilterSubject: filter,
			AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, m := range fetch(t, consumer("analytics", "auth.user.*"), 7)[:5] {
		if err := m.DoubleAck(bg); err != nil {
			t.Fatal(err)
		}
	}
	email := consumer("email-service", "auth.user.registered")
	got := fetch(t, email, 3)
	if err := got[0].DoubleAck(bg); err != nil {
		t.Fatal(err)
	}
	if err := got[1].Nak(); err != nil {
		t.Fatal(err)
	}
	if again := fetch(t, email, 1); again[0].Headers().Get(jetstream.MsgIDHeader) != got[1].Headers().Get(jetstream.MsgIDHeader) {
		t.Fatal("the refused message was not the one redelivered")
	}
	if _, err := js.CreateStream(bg, jetstream.StreamConfig{Name: "auth-events-dlq", Subjects: []string{"auth-events-dlq.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(bg, "auth-events-dlq.email-service", []byte("{}")); err != nil {
		t.Fatal(err)
	}
}

// fetch fetches exactly n messages from c.
func fetch(t *testing.T, c jetstream.Consumer, n int) []jetstream.Msg {
	t.Helper()
	b, err := c.Fetch(n, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var out []jetstream.Msg
	for m := range b.Messages() {
		out = append(out, m)
	}
	if len(out) != n {
		t.Fatalf("fetched %d messages, want %d", len(out), n)
	}
	return out
}
