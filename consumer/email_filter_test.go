package consumer_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/consumer"
	"github.com/authevents/authevents/consumer/email"
	"github.com/authevents/authevents/internal/natstest"
	"github.com/authevents/authevents/internal/testenv"
)

// TestEmailDurableOfEarlierReleasesTakesTheNewTypes: earlier releases
// created the email durable with the one filter auth.user.registered. The
// email service now writes mails for more types; on start its durable is
// created again with its new filter (every mail type on nats-server 2.10
// and later, the stream's wildcard on 2.9), from the first message of a
// type it gains, and a notice after a password change emitted during the
// rollout is mailed.
func TestEmailDurableOfEarlierReleasesTakesTheNewTypes(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, js jetstream.JetStream, names natstest.Names) {
		e := newEnv(t, js, names)
		ctx := context.Background()
		if _, err := js.CreateOrUpdateConsumer(ctx, names.Stream, jetstream.ConsumerConfig{Durable: email.Durable,
			AckPolicy: jetstream.AckExplicitPolicy, FilterSubject: names.For(authevents.EventUserRegistered), DeliverPolicy: jetstream.DeliverAllPolicy}); err != nil {
			t.Fatal(err)
		}
		// During the rollout the new API emits a new type before the
		// email service is upgraded, and the old email service goes on
		// acknowledging welcomes past it (found in review: the durable
		// then restarted above its ack floor and never mailed it).
		user := uuid.NewString()
		changed := e.publishData(t, authevents.EventPasswordChanged, authevents.UserPasswordChanged{UserID: user, Email: "w@example.com",
			Reason: authevents.PasswordChangedByChange, IP: "192.0.2.1", UserAgent: "ua"})
		welcome := e.publishData(t, authevents.EventUserRegistered, authevents.UserRegistered{UserID: user, Email: "w@example.com", Name: "W"})
		old, err := js.Consumer(ctx, names.Stream, email.Durable)
		if err != nil {
			t.Fatal(err)
		}
		batch, err := old.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			if err := m.DoubleAck(ctx); err != nil { // the old release mailed it
				t.Fatal(err)
			}
		}
		if info, _ := old.Info(ctx); info.AckFloor.Stream < 2 {
			t.Fatalf("the old durable's ack floor is %d, want it past the new type's message", info.AckFloor.Stream)
		}
		dir := t.TempDir()
		cfg := email.Config(names.Stream, names.Prefix+".")
		cfg.DLQStream = e.dlq
		reg := prometheus.NewRegistry()
		logs := &testenv.Buffer{}
		runConsumer(t, consumer.New(e.js, e.pool, cfg, email.New(e.pool, email.Files{Dir: dir}, "authevents <no-reply@authevents.test>"),
			consumer.NewMetrics(reg), slog.New(slog.NewTextHandler(logs, nil))))
		t.Cleanup(func() {
			if t.Failed() {
				if c, err := js.Consumer(context.Background(), names.Stream, email.Durable); err == nil {
					i := c.CachedInfo()
					t.Logf("durable: filter %q %q, delivered %+v, ack floor %+v, pending %d", i.Config.FilterSubject, i.Config.FilterSubjects, i.Delivered, i.AckFloor, i.NumPending)
				}
				var n int
				e.pool.QueryRow(context.Background(), `SELECT count(*) FROM consumer_failures`).Scan(&n)
				t.Logf("welcome subject %s, failures %d, consumer log:\n%s", names.For(authevents.EventUserRegistered), n, logs)
			}
		})
		_ = welcome // mailed by the old release
		for _, key := range []uuid.UUID{email.Key(changed, email.KindPasswordChanged)} {
			testenv.WaitFor(t, "the mail "+key.String(), 15*time.Second, func() bool {
				_, err := os.Stat(filepath.Join(dir, key.String()+".eml"))
				return err == nil
			})
		}
		if c, err := js.Consumer(ctx, names.Stream, email.Durable); err != nil {
			t.Fatal(err)
		} else {
			got := c.CachedInfo().Config
			t.Logf("nats-server %s: durable filter %q %q", js.Conn().ConnectedServerVersion(), got.FilterSubject, got.FilterSubjects)
		}
	})
}
