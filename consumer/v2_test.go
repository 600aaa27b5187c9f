package consumer_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/consumer"
	"github.com/authevents/authevents/personal"
)

// Events v2 (docs/privacy.md): helpers that publish as the API does
// during the dual period, version 1 naming its twin and version 2 made
// by personal.Protect, the producer's own call.

// newKeys returns a key store holding a fresh KEK, as a service given
// PERSONAL_DATA_KEY has.
func newKeys(t *testing.T, pool *pgxpool.Pool) *personal.Keys {
	t.Helper()
	ring, err := personal.NewKeyring(personal.GenerateKEK())
	if err != nil {
		t.Fatal(err)
	}
	return personal.NewKeys(pool, ring, personal.Options{})
}

// twins returns what the API publishes of ev: for a type with personal
// fields, version 1 naming its twin and version 2 protected under the
// key of its owner (the user; the farewell key for user.deleted; the day
// key for an event without a user), made in
// a committed transaction as the API makes it; for another type, ev alone.
func twins(t *testing.T, keys *personal.Keys, pool *pgxpool.Pool, ev *consumer.Event) []*consumer.Event {
	t.Helper()
	if authevents.ProtectedType(ev.Type) == "" {
		return []*consumer.Event{ev}
	}
	var d struct {
		UserID string `json:"userId"`
	}
	json.Unmarshal(ev.Data, &d)
	owner, err := uuid.Parse(d.UserID)
	switch {
	case err != nil: // a failed login with no account: the day's key
		owner = personal.DayOwner(ev.OccurredAt)
	case ev.Type == authevents.EventUserDeleted:
		owner = personal.FarewellOwner(owner)
	}
	var key *personal.DataKey
	ctx := context.Background()
	if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) (err error) {
		key, err = keys.Create(ctx, tx, owner)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	v1 := ev.CloudEvent
	v2, err := personal.Protect(&v1, uuid.Must(uuid.NewV7()).String(), key)
	if err != nil {
		t.Fatal(err)
	}
	return []*consumer.Event{delivered(t, v1), delivered(t, v2)}
}

// allTwins is twins of each event, in order.
func allTwins(t *testing.T, keys *personal.Keys, pool *pgxpool.Pool, evs []*consumer.Event) []*consumer.Event {
	t.Helper()
	var out []*consumer.Event
	for _, ev := range evs {
		out = append(out, twins(t, keys, pool, ev)...)
	}
	return out
}

// delivered is ce as a consumer receives it.
func delivered(t *testing.T, ce authevents.CloudEvent) *consumer.Event {
	t.Helper()
	body, err := json.Marshal(ce)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := consumer.NewEvent("auth."+ce.Type, body)
	if err != nil {
		t.Fatal(err)
	}
	ev.Deliveries = 1
	return ev
}

// eraseKey erases user's key as the API does on deletion.
func eraseKey(t *testing.T, keys *personal.Keys, pool *pgxpool.Pool, user uuid.UUID) {
	t.Helper()
	ctx := context.Background()
	if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return keys.Erase(ctx, tx, user) }); err != nil {
		t.Fatal(err)
	}
}

// versions returns the events of version v among evs.
func versions(evs []*consumer.Event, v int) []*consumer.Event {
	var out []*consumer.Event
	for _, ev := range evs {
		if ev.Version == v {
			out = append(out, ev)
		}
	}
	return out
}
