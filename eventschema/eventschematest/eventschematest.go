// Package eventschematest holds the events a test produces to their
// contract: each must keep eventschema's strict (producer) check and
// travel on the subject of its type.
package eventschematest

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/eventschema"
)

// Check fails t unless body, published on subject, is an event that keeps
// the contract (eventschema.Validator.Strict). It returns the event type.
func Check(t testing.TB, subject string, body []byte) string {
	t.Helper()
	v, err := eventschema.Load()
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Strict(body); err != nil {
		t.Errorf("event on %s breaks its contract: %v\n%s", subject, err, body)
		return ""
	}
	var ce struct{ Type string }
	_ = json.Unmarshal(body, &ce)
	if want := authevents.Subject(ce.Type); subject != want {
		t.Errorf("%s event on subject %s, want %s", ce.Type, subject, want)
	}
	return ce.Type
}

// Outbox checks every event in pool's outbox table (what the use cases
// appended and no relay has taken) and returns how many there were.
func Outbox(t testing.TB, pool *pgxpool.Pool) int {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT subject, payload FROM outbox ORDER BY seq`)
	if err != nil {
		t.Errorf("read the outbox to check its events: %v", err)
		return 0
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var subject, payload string
		if err := rows.Scan(&subject, &payload); err != nil {
			t.Errorf("read the outbox: %v", err)
			return n
		}
		Check(t, subject, []byte(payload))
		n++
	}
	if err := rows.Err(); err != nil {
		t.Errorf("read the outbox: %v", err)
	}
	return n
}

// CheckOutboxAtCleanup checks pool's outbox when the test ends, so every
// event a test appended is held to the contract without the test asking.
func CheckOutboxAtCleanup(t testing.TB, pool *pgxpool.Pool) {
	t.Helper()
	t.Cleanup(func() { Outbox(t, pool) })
}
