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
// updated in place (every mail type as a filter on nats-server 2.10 and
// later, the stream's wildcard on 2.9), and a notice after a password
// change is mailed like the welcome.
func TestEmailDurableOfEarlierReleasesTakesTheNewTypes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		server func(t *testing.T) (jetstream.JetStream, natstest.Names)
	}{
		{"shared server", func(t *testing.T) (jetstream.JetStream, natstest.Names) {
			_, js, names := natstest.Shared(t)
			return js, names
		}},
		{"pinned server", func(t *testing.T) (jetstream.JetStream, natstest.Names) {
			js, _ := jetstream.New(natstest.Connect(t, natstest.Start(t).URL()))
			return js, natstest.NewNames()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			js, names := tc.server(t)
			e := newEnv(t, js, names)
			ctx := context.Background()
			if _, err := js.CreateOrUpdateConsumer(ctx, names.Stream, jetstream.ConsumerConfig{Durable: email.Durable,
				AckPolicy: jetstream.AckExplicitPolicy, FilterSubject: names.For(authevents.EventUserRegistered), DeliverPolicy: jetstream.DeliverAllPolicy}); err != nil {
				t.Fatal(err)
			}
			user := uuid.NewString()
			welcome := e.publishData(t, authevents.EventUserRegistered, authevents.UserRegistered{UserID: user, Email: "w@example.com", Name: "W"})
			changed := e.publishData(t, authevents.EventPasswordChanged, authevents.UserPasswordChanged{UserID: user, Email: "w@example.com",
				Reason: authevents.PasswordChangedByChange, IP: "192.0.2.1", UserAgent: "ua"})
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
			for _, key := range []uuid.UUID{email.Key(welcome, email.KindWelcome), email.Key(changed, email.KindPasswordChanged)} {
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
}
