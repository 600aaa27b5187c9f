package consumer_test

import (
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/authevents/authevents/consumer"
	"github.com/authevents/authevents/consumer/security"
	"github.com/authevents/authevents/db/postgres/pgtest"
)

// TestSecurityLifecycleRules: password_reset_abuse for one account's or
// one address's reset requests reaching their threshold within the
// window, and login_after_change for a login from a new address soon after
// a password or address change, whichever of the two is delivered first.
func TestSecurityLifecycleRules(t *testing.T) {
	t.Parallel()
	th := security.Thresholds{FailedLogins: 3, StuffingAccounts: 3, ResetRequests: 3, ResetRequestsPerIP: 4, Window: 10 * time.Minute}
	user, other := uuid.NewString(), uuid.NewString()
	login := func(u, at, ip string) *consumer.Event {
		return event(t, "user.logged_in", at, map[string]any{"userId": u, "email": "v@example.com", "ip": ip, "userAgent": "firefox"})
	}
	reset := func(u, at, ip string) *consumer.Event {
		return event(t, "user.password_reset_requested", at, map[string]any{"userId": u, "email": "v@example.com", "ip": ip, "userAgent": "x",
			"link": map[string]string{"sealedToken": "s1.AAAAAAAAAAA.AAAA", "expiresAt": at}})
	}
	changed := func(u, at string) *consumer.Event {
		return event(t, "user.password_changed", at, map[string]any{"userId": u, "email": "v@example.com", "reason": "change",
			"sessionsEnded": 1, "ip": "198.51.100.1", "userAgent": "firefox"})
	}
	for _, tc := range []struct {
		name string
		evs  []*consumer.Event
		want []string
	}{
		{"reset requests for one account", []*consumer.Event{
			reset(user, "2026-11-28T10:00:00.000Z", "192.0.2.1"), reset(user, "2026-11-28T10:01:00.000Z", "192.0.2.2"),
			reset(user, "2026-11-28T10:02:00.000Z", "192.0.2.3"), reset(user, "2026-11-28T10:03:00.000Z", "192.0.2.4"),
		}, []string{"password_reset_abuse/medium"}},
		{"reset requests from one address", []*consumer.Event{
			reset(uuid.NewString(), "2026-11-28T10:00:00.000Z", "192.0.2.9"), reset(uuid.NewString(), "2026-11-28T10:00:01.000Z", "192.0.2.9"),
			reset(uuid.NewString(), "2026-11-28T10:00:02.000Z", "192.0.2.9"), reset(uuid.NewString(), "2026-11-28T10:00:03.000Z", "192.0.2.9"),
		}, []string{"password_reset_abuse/medium"}},
		{"reset requests spread beyond the window", []*consumer.Event{
			reset(other, "2026-11-28T10:00:00.000Z", "192.0.2.1"), reset(other, "2026-11-28T10:11:00.000Z", "192.0.2.1"),
			reset(other, "2026-11-28T10:22:00.000Z", "192.0.2.1"),
		}, nil},
		{"a change, then a login from a new address", []*consumer.Event{
			login(user, "2026-11-28T10:00:00.000Z", "198.51.100.1"), changed(user, "2026-11-28T10:05:00.000Z"),
			login(user, "2026-11-28T10:08:00.000Z", "203.0.113.9"),
		}, []string{"new_ip/medium", "login_after_change/high"}},
		{"the same, the login delivered first", []*consumer.Event{
			login(user, "2026-11-28T10:00:00.000Z", "198.51.100.1"), login(user, "2026-11-28T10:08:00.000Z", "203.0.113.9"),
			changed(user, "2026-11-28T10:05:00.000Z"),
		}, []string{"new_ip/medium", "login_after_change/high"}},
		{"a new address long after the change", []*consumer.Event{
			login(user, "2026-11-28T10:00:00.000Z", "198.51.100.1"), changed(user, "2026-11-28T10:05:00.000Z"),
			login(user, "2026-11-28T11:08:00.000Z", "203.0.113.9"),
		}, []string{"new_ip/medium"}},
		{"a known address after the change", []*consumer.Event{
			login(user, "2026-11-28T10:00:00.000Z", "198.51.100.1"), changed(user, "2026-11-28T10:05:00.000Z"),
			login(user, "2026-11-28T10:08:00.000Z", "198.51.100.1"),
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pool := pgtest.New(t)
			h := security.New(pool, th, prometheus.NewRegistry())
			for _, ev := range tc.evs {
				handleTwice(t, h, ev)
			}
			if got := alertRules(t, pool); !slices.Equal(got, tc.want) {
				t.Fatalf("alerts = %v, want %v", got, tc.want)
			}
		})
	}
}
