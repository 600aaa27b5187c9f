package consumer_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/google/uuid"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/consumer"
	"github.com/authevents/authevents/db/postgres/pgtest"
	"github.com/authevents/authevents/personal"
)

// TestVersionedHandsOverTheVersionTheServiceReads: with keys, a version 2
// event reaches the handler as its base type with version 1's values, its
// version 1 twin does not reach it, and a version 1 event without twinid
// (an older producer) does; once the key is erased, version 2 reaches it
// Erased, its values [erased]. Without keys, version 2 is acked unread and
// every version 1 event is handled.
func TestVersionedHandsOverTheVersionTheServiceReads(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t)
	keys := newKeys(t, pool)
	user := uuid.New()
	login := event(t, authevents.EventUserLoggedIn, "2026-11-28T10:00:00.000Z", authevents.UserLoggedIn{UserID: user.String(),
		Email: "ada@example.com", IP: "198.51.100.7", UserAgent: "Ada/1"})
	pair := twins(t, keys, pool, login)
	v1, v2 := pair[0], pair[1]
	if v1.TwinID != v2.ID || v2.Base != authevents.EventUserLoggedIn || v2.Version != 2 || v1.Base != v1.Type || v1.Version != 1 {
		t.Fatalf("twins: v1 %s/%d twin %q, v2 %s base %s/%d", v1.Type, v1.Version, v1.TwinID, v2.Type, v2.Base, v2.Version)
	}
	type seen struct {
		id, base     string
		email, ip    string
		ipPseudonym  string
		erased, read bool
	}
	var got []seen
	record := consumer.HandlerFunc(func(_ context.Context, ev *consumer.Event) error {
		var d struct{ Email, IP, IPPseudonym string }
		if err := ev.Decode(&d); err != nil {
			return err
		}
		got = append(got, seen{ev.ID, ev.Base, d.Email, d.IP, d.IPPseudonym, ev.Erased(), true})
		return nil
	})
	handle := func(h consumer.Handler, evs ...*consumer.Event) []seen {
		t.Helper()
		got = nil
		for _, ev := range evs {
			if err := h.Handle(context.Background(), ev); err != nil {
				t.Fatalf("Handle %s: %v", ev.Type, err)
			}
		}
		return got
	}

	h := consumer.Versioned(record, keys)
	if s := handle(h, v1, v2, login); len(s) != 2 || s[0].id != v2.ID || s[0].base != authevents.EventUserLoggedIn ||
		s[0].email != "ada@example.com" || s[0].ip != "198.51.100.7" || s[0].ipPseudonym == "" || s[0].erased || s[1].id != login.ID {
		t.Errorf("with keys: handled %+v, want the v2 opened (not its v1 twin), then the v1 without twin", s)
	}
	refreshed := event(t, authevents.EventUserTokenRefreshed, "2026-11-28T10:01:00.000Z", map[string]string{"userId": user.String(), "sessionId": uuid.NewString()})
	if s := handle(h, twins(t, keys, pool, refreshed)...); len(s) != 1 {
		t.Errorf("with keys: a type without personal fields handled %d times, want 1", len(s))
	}

	eraseKey(t, keys, pool, user)
	if s := handle(h, v2); len(s) != 1 || !s[0].erased || s[0].email != personal.Erased || s[0].ip != personal.Erased {
		t.Errorf("after the erasure: handled %+v, want the v2 erased", s)
	}

	if s := handle(consumer.Versioned(record, nil), v1, v2, login); len(s) != 2 || s[0].id != v1.ID || s[1].id != login.ID || s[0].email != "ada@example.com" {
		t.Errorf("without keys: handled %+v, want both v1 (twinned or not), not the v2", s)
	}

	// A version 2 event no key opens is dead-lettered, not retried.
	var data map[string]any
	json.Unmarshal(v2.Data, &data)
	data["keyOwner"] = uuid.NewString()
	orphan := v2.CloudEvent
	orphan.Data, _ = json.Marshal(data)
	if err := h.Handle(context.Background(), delivered(t, orphan)); !consumer.IsPermanent(err) {
		t.Errorf("a v2 whose owner has no key: %v, want a permanent error", err)
	}
	// A handler run without Versioned cannot take ciphertexts for values.
	if err := record.Handle(context.Background(), delivered(t, v2.CloudEvent)); err == nil {
		t.Error("Decode of a v2 event not opened succeeded")
	}
}
