package consumer_test

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/consumer"
	"github.com/authevents/authevents/consumer/analytics"
	"github.com/authevents/authevents/db/postgres/pgtest"
)

// TestAnalyticsCountsBothVersionsAsOne: a life published in both versions
// is counted as the same life published in version 1 alone (counts under
// the base types, the same active users), with the key and without it; a
// version 1 event without twinid counts as before; after the user's key
// is erased, a version 2 event is counted by type and stores no user id.
func TestAnalyticsCountsBothVersionsAsOne(t *testing.T) {
	t.Parallel()
	p, evs := newPerson(t)
	legacy := pgtest.New(t)
	p.live(t, consumer.Versioned(analytics.New(legacy), nil), evs)
	want := stats(t, legacy)
	if len(want) < 5 {
		t.Fatalf("the life counted %v: the comparison would test little", want)
	}

	for _, withKey := range []bool{true, false} {
		pool := pgtest.New(t)
		keys := newKeys(t, pool)
		h := consumer.Versioned(analytics.New(pool), nil)
		if withKey {
			h = consumer.Versioned(analytics.New(pool), keys)
		}
		p.live(t, h, allTwins(t, keys, pool, evs))
		if got := stats(t, pool); !equalStats(got, want) {
			t.Errorf("key %v: both versions counted %v, want %v (version 1 alone)", withKey, got, want)
		}
		if !withKey {
			continue
		}
		late := twins(t, keys, pool, event(t, authevents.EventUserLoggedIn, "2026-11-29T10:00:00.000Z", map[string]string{
			"userId": p.user.String(), "email": p.email, "ip": p.ips[0], "userAgent": p.agents[0]}))
		eraseKey(t, keys, pool, p.user)
		p.live(t, h, late)
		if n := count(t, pool, `SELECT count(*) FROM analytics_active_users WHERE day = '2026-11-29'`); n != 0 {
			t.Errorf("a version 2 login after the erasure stored %d active users, want 0", n)
		}
		if n := count(t, pool, `SELECT COALESCE(sum(count), 0) FROM analytics_event_counts WHERE type = 'user.logged_in' AND hour >= '2026-11-29'`); n != 1 {
			t.Errorf("the login after the erasure counted %d times, want 1", n)
		}
		legacyLogin := event(t, authevents.EventUserLoggedIn, "2026-11-30T10:00:00.000Z", map[string]string{"userId": uuid.NewString()})
		handleTwice(t, h, legacyLogin)
		if n := count(t, pool, `SELECT count(*) FROM analytics_active_users WHERE day = '2026-11-30'`); n != 1 {
			t.Errorf("a version 1 login without twinid: %d active users, want 1", n)
		}
	}
}

// stats reads the counts per hour and type and the active users per day.
func stats(t *testing.T, pool *pgxpool.Pool) map[string]int64 {
	t.Helper()
	s, err := analytics.Read(t.Context(), pool, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, c := range s.EventsByHour {
		out[c.Hour.UTC().Format("2006-01-02T15")+" "+c.Type] = c.Count
	}
	for _, d := range s.ActiveUsersByDay {
		out[d.Day+" active"] = d.Users
	}
	return out
}

func equalStats(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
