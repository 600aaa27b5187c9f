package consumer_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/consumer/security"
	"github.com/authevents/authevents/internal/natstest"
	"github.com/authevents/authevents/internal/testenv"
)

// TestSecurityStopsHandlingTokenRefreshes: user.token_refreshed carries
// no IP or user agent, so the security consumer has no rule for it and
// must not spend a transaction and a processed_events row on each
// refresh. A deployment's existing durable (created by earlier releases
// with the stream's wildcard filter) is updated in place: on nats-server
// 2.10 and later it gets the watched subjects as its filters, and the
// refreshes are not even delivered; on 2.9, which has one filter per
// consumer and would silently store a consumer without any filter if sent
// several, it keeps the wildcard and the handler acks refreshes without a
// transaction. Either way logins are still evaluated.
func TestSecurityStopsHandlingTokenRefreshes(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, js jetstream.JetStream, names natstest.Names) {
		e := newEnv(t, js, names)
		ctx := context.Background()
		// The durable as earlier releases created it.
		if _, err := js.CreateOrUpdateConsumer(ctx, names.Stream, jetstream.ConsumerConfig{Durable: security.Durable,
			AckPolicy: jetstream.AckExplicitPolicy, FilterSubject: names.Subject, DeliverPolicy: jetstream.DeliverAllPolicy}); err != nil {
			t.Fatal(err)
		}
		user := uuid.NewString()
		refreshed := e.publishData(t, authevents.EventUserTokenRefreshed, authevents.UserTokenRefreshed{UserID: user, SessionID: uuid.NewString()})
		login := e.publishData(t, authevents.EventUserLoggedIn, authevents.UserLoggedIn{UserID: user, Email: "r@example.com", IP: "192.0.2.1", UserAgent: "ua"})

		cfg := security.Config(names.Stream, names.Prefix+".")
		cfg.DLQStream = e.dlq
		reg := prometheus.NewRegistry()
		e.runWith(t, cfg, security.New(e.pool, security.DefaultThresholds(), reg), reg)
		testenv.WaitFor(t, "the login evaluated and the durable settled", 15*time.Second, func() bool {
			return e.processed(t, security.Durable, login) && e.settled(t, security.Durable)
		})
		if e.processed(t, security.Durable, refreshed) {
			t.Error("the token refresh was recorded in processed_events: it cost a transaction")
		}

		c, err := js.Consumer(ctx, names.Stream, security.Durable)
		if err != nil {
			t.Fatal(err)
		}
		got, version := c.CachedInfo().Config, js.Conn().ConnectedServerVersion()
		if strings.HasPrefix(version, "2.9.") {
			if got.FilterSubject != names.Subject || len(got.FilterSubjects) != 0 {
				t.Errorf("nats-server %s: durable filter %q %q, want the wildcard %q kept", version, got.FilterSubject, got.FilterSubjects, names.Subject)
			}
			return
		}
		var want []string
		for _, typ := range security.Watched() {
			want = append(want, names.For(typ))
			if v2 := authevents.ProtectedType(typ); v2 != "" {
				want = append(want, names.For(v2))
			}
		}
		if slices.Contains(want, names.For(authevents.EventUserTokenRefreshed)) {
			t.Fatal("security watches user.token_refreshed again")
		}
		if got.FilterSubject != "" || !slices.Equal(got.FilterSubjects, want) {
			t.Errorf("nats-server %s: durable filter %q %q, want the watched subjects %q", version, got.FilterSubject, got.FilterSubjects, want)
		}
		info, err := c.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.Delivered.Consumer != 1 {
			t.Errorf("nats-server %s: %d messages delivered, want 1 (the login, not the refresh)", version, info.Delivered.Consumer)
		}
	})
}

// processed reports whether durable recorded eventID in processed_events.
func (e *env) processed(t *testing.T, durable string, eventID uuid.UUID) bool {
	t.Helper()
	var ok bool
	if err := e.pool.QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM processed_events WHERE consumer = $1 AND event_id = $2)`, durable, eventID).Scan(&ok); err != nil {
		t.Fatal(err)
	}
	return ok
}
