package consumer_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/consumer"
	"github.com/authevents/authevents/personal"
)

// person is what a user's events reveal: every value must be gone from
// a service's tables once it has handled user.deleted.
type person struct {
	user          uuid.UUID
	email, name   string
	ips, agents   []string // the last of each only in the late events
	session       string
	deleted, late []*consumer.Event
}

// newPerson returns a user, the events of their life (registered, two
// logins from two addresses and agents, three failed logins, a refresh, a
// password change and a token reuse: enough for every security rule
// that names one user), user.deleted, and two older events delivered
// only after the deletion.
func newPerson(t *testing.T) (*person, []*consumer.Event) {
	t.Helper()
	tag := uuid.NewString()[:8]
	p := &person{user: uuid.New(), email: "erasure-" + tag + "@example.com", name: "Ada Erasure-" + tag,
		ips: []string{"192.0.2.101", "198.51.100.102", "203.0.113.103"}, session: uuid.NewString(),
		agents: []string{"ErasureAgent-" + tag + "/first", "ErasureAgent-" + tag + "/second", "ErasureAgent-" + tag + "/late"}}
	u := p.user.String()
	base := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	at := func(min int) string { return base.Add(time.Duration(min) * time.Minute).Format(time.RFC3339Nano) }
	login := func(min, i int) *consumer.Event {
		return event(t, authevents.EventUserLoggedIn, at(min), map[string]any{"userId": u, "email": p.email, "ip": p.ips[i], "userAgent": p.agents[i]})
	}
	evs := []*consumer.Event{
		event(t, authevents.EventUserRegistered, at(0), map[string]any{"userId": u, "email": p.email, "name": p.name}),
		login(1, 0), login(2, 1),
	}
	for i := range 3 {
		evs = append(evs, event(t, authevents.EventUserLoginFailed, at(3+i), map[string]any{"userId": u, "email": p.email,
			"ip": p.ips[1], "userAgent": p.agents[1], "reason": authevents.ReasonInvalidPassword}))
	}
	evs = append(evs,
		event(t, authevents.EventUserTokenRefreshed, at(7), map[string]any{"userId": u, "sessionId": p.session}),
		event(t, authevents.EventPasswordChanged, at(8), map[string]any{"userId": u, "email": p.email, "reason": "change",
			"sessionsEnded": 1, "ip": p.ips[1], "userAgent": p.agents[1]}),
		event(t, authevents.EventTokenReuseDetected, at(9), map[string]any{"userId": u, "sessionId": p.session, "ip": p.ips[0], "userAgent": p.agents[0]}),
	)
	p.deleted = []*consumer.Event{event(t, authevents.EventUserDeleted, at(30),
		authevents.UserDeleted{UserID: u, Email: p.email, By: authevents.ByUser, SessionsEnded: 2})}
	p.late = []*consumer.Event{login(10, 2),
		event(t, authevents.EventPasswordChanged, at(11), map[string]any{"userId": u, "email": p.email, "reason": "change",
			"sessionsEnded": 1, "ip": p.ips[2], "userAgent": p.agents[2]})}
	return p, evs
}

// values are the person's personal values.
func (p *person) values() []string {
	return append(append([]string{p.email, p.name}, p.ips...), p.agents...)
}

// live plays the person's life through h, each event delivered twice.
func (p *person) live(t *testing.T, h consumer.Handler, evs []*consumer.Event) {
	t.Helper()
	for _, ev := range evs {
		handleTwice(t, h, ev)
	}
}

// leave deletes the person as the API does (the key's tombstone commits
// before user.deleted can be seen), then delivers user.deleted twice.
func (p *person) leave(t *testing.T, pool *pgxpool.Pool, h consumer.Handler) {
	t.Helper()
	ctx := context.Background()
	keys := personal.NewKeys(pool, nil, personal.Options{})
	if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return keys.Erase(ctx, tx, p.user) }); err != nil {
		t.Fatal(err)
	}
	p.live(t, h, p.deleted)
}

// personalLeft scans every text, varchar and JSON column of every table
// for the values, case-insensitively, and returns where it found each.
func personalLeft(t *testing.T, pool *pgxpool.Pool, values []string) []string {
	t.Helper()
	ctx := context.Background()
	rows, err := pool.Query(ctx, `SELECT c.Table_name, c.column_name FROM information_schema.columns c
		JOIN information_schema.tables t USING (table_schema, table_name)
		WHERE c.Table_schema = current_schema() AND t.table_type = 'BASE TABLE'
		  AND c.data_type IN ('text', 'character varying', 'character', 'json', 'jsonb', 'ARRAY')`)
	if err != nil {
		t.Fatal(err)
	}
	type column struct{ Table, Name string }
	cols, err := pgx.CollectRows(rows, pgx.RowToStructByPos[column])
	if err != nil {
		t.Fatal(err)
	}
	if len(cols) < 10 {
		t.Fatalf("found %d text columns: the scan looks at nothing", len(cols))
	}
	var found []string
	for _, c := range cols {
		for _, v := range values {
			var n int
			q := fmt.Sprintf(`SELECT count(*) FROM %s WHERE strpos(lower(%s::text), lower($1)) > 0`,
				pgx.Identifier{c.Table}.Sanitize(), pgx.Identifier{c.Name}.Sanitize())
			if err := pool.QueryRow(ctx, q, v).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n > 0 {
				found = append(found, fmt.Sprintf("%s.%s holds %q in %d rows", c.Table, c.Name, v, n))
			}
		}
	}
	return found
}

// assertNothingPersonal fails with every place that still holds a value.
func assertNothingPersonal(t *testing.T, pool *pgxpool.Pool, values []string, when string) {
	t.Helper()
	if found := personalLeft(t, pool, values); len(found) > 0 {
		t.Errorf("%s:\n%s", when, strings.Join(found, "\n"))
	}
}

// count runs a query that returns one number.
func count(t *testing.T, pool *pgxpool.Pool, q string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}
