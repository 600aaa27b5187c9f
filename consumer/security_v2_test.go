package consumer_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/consumer"
	"github.com/authevents/authevents/consumer/security"
	"github.com/authevents/authevents/db/postgres/pgtest"
	"github.com/authevents/authevents/personal"
)

var v2Thresholds = security.Thresholds{FailedLogins: 3, StuffingAccounts: 3, ResetRequests: 3, ResetRequestsPerIP: 4, Window: 10 * time.Minute}

// TestSecurityRulesReadVersion2: a life published in both versions raises
// exactly the alerts of the same life in version 1 alone, with the key and
// without it; with the key, the per-user baselines (security_seen) keep
// the pseudonyms, no clear IP or user agent. user.deleted_v2 erases as
// user.deleted does, and older version 2 events delivered afterwards store
// nothing.
func TestSecurityRulesReadVersion2(t *testing.T) {
	t.Parallel()
	filter := security.Config("auth-events", "auth.").FilterSubjects
	for _, typ := range security.Watched() {
		if !slices.Contains(filter, "auth."+typ) || !slices.Contains(filter, "auth."+authevents.ProtectedType(typ)) {
			t.Errorf("the security durable's filter %q lacks %s in one version", filter, typ)
		}
	}
	p, evs := newPerson(t)
	legacy := pgtest.New(t)
	p.live(t, consumer.Versioned(security.New(legacy, v2Thresholds, prometheus.NewRegistry()), nil), evs)
	want := alertRules(t, legacy)
	if len(want) < 4 {
		t.Fatalf("version 1 alone raised %v: the comparison would test little", want)
	}

	for _, withKey := range []bool{true, false} {
		pool := pgtest.New(t)
		keys := newKeys(t, pool)
		var read *personal.Keys
		if withKey {
			read = keys
		}
		h := consumer.Versioned(security.New(pool, v2Thresholds, prometheus.NewRegistry()), read)
		p.live(t, h, allTwins(t, keys, pool, evs))
		if got := alertRules(t, pool); !slices.Equal(got, want) {
			t.Errorf("key %v: both versions raised %v, want %v", withKey, got, want)
		}
		if !withKey {
			continue
		}
		if n := count(t, pool, `SELECT count(*) FROM security_seen WHERE value NOT LIKE 'pu1.%'`); n != 0 {
			t.Errorf("security_seen keeps %d clear values", n)
		}
		if left := personalLeft(t, pool, append(p.ips[:2:2], p.agents[:2]...)); !slices.ContainsFunc(left, func(s string) bool {
			return strings.HasPrefix(s, "security_alerts.")
		}) {
			t.Errorf("the alerts show no value (%v): operators read them", left)
		}

		late := allTwins(t, keys, pool, p.late) // published before the deletion, delivered after
		eraseKey(t, keys, pool, p.user)
		p.live(t, h, allTwins(t, keys, pool, p.deleted))
		p.live(t, h, late)
		assertNothingPersonal(t, pool, p.values(), "after user.deleted_v2 and the late events")
		if got := alertRules(t, pool); !slices.Equal(got, want) {
			t.Errorf("alerts after the erasure %v, want %v", got, want)
		}
		for _, table := range []string{"security_seen", "security_account_events", "security_failed_logins", "security_alert_marks"} {
			if n := count(t, pool, `SELECT count(*) FROM `+table); n != 0 {
				t.Errorf("%s keeps %d rows", table, n)
			}
		}
	}
}

// TestSecurityBaselinesMoveToPseudonyms: a baseline a version 1 login left
// in clear is known to the version 2 login of the same address and agent
// (no alert at the switch) and moves to the pseudonym; a new address in
// version 2 still alerts, showing the address. Version 2 failed logins
// whose day key is erased count nothing.
func TestSecurityBaselinesMoveToPseudonyms(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t)
	keys := newKeys(t, pool)
	h := consumer.Versioned(security.New(pool, v2Thresholds, prometheus.NewRegistry()), keys)
	user := uuid.NewString()
	login := func(at, ip string) *consumer.Event {
		return event(t, authevents.EventUserLoggedIn, at, map[string]string{"userId": user, "email": "b@example.com", "ip": ip, "userAgent": "Firefox/1"})
	}
	handleTwice(t, h, login("2026-11-28T10:00:00.000Z", "198.51.100.1")) // an older producer: the baseline in clear
	p2 := twins(t, keys, pool, login("2026-11-28T10:01:00.000Z", "198.51.100.1"))
	p3 := twins(t, keys, pool, login("2026-11-28T10:02:00.000Z", "203.0.113.9"))
	for _, ev := range append(p2, p3...) {
		handleTwice(t, h, ev)
	}
	if got := alertRules(t, pool); !slices.Equal(got, []string{"new_ip/medium"}) {
		t.Errorf("alerts %v, want new_ip once (the v2 login from the known address and agent raises nothing)", got)
	}
	if n := count(t, pool, `SELECT count(*) FROM security_seen WHERE value NOT LIKE 'pu1.%'`); n != 0 {
		t.Errorf("security_seen keeps %d clear values after the user's v2 logins", n)
	}
	if n := count(t, pool, `SELECT count(*) FROM security_alerts WHERE ip = '203.0.113.9' AND details ->> 'ip' = '203.0.113.9'`); n != 1 {
		t.Errorf("the new_ip alert does not show the address")
	}

	day := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	var old []*consumer.Event
	for i, addr := range []string{"x@example.com", "y@example.com", "z@example.com"} {
		at := day.Add(time.Duration(i) * time.Minute).Format(time.RFC3339Nano)
		old = append(old, twins(t, keys, pool, event(t, authevents.EventUserLoginFailed, at, map[string]string{"email": addr,
			"ip": "192.0.2.250", "userAgent": "bot", "reason": authevents.ReasonUnknownEmail}))...)
	}
	eraseKey(t, keys, pool, personal.DayOwner(day)) // older than the day keys live
	for _, ev := range old {
		handleTwice(t, h, ev)
	}
	if n := count(t, pool, `SELECT count(*) FROM security_failed_logins WHERE at >= '2026-10-01' AND at < '2026-10-02'`); n != 0 {
		t.Errorf("%d failed logins stored from events whose key is erased", n)
	}
	if got := alertRules(t, pool); len(got) != 1 {
		t.Errorf("alerts %v after failures whose key is erased, want none added", got)
	}
}
