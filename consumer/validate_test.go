package consumer_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/consumer"
	"github.com/authevents/authevents/eventschema"
	"github.com/authevents/authevents/internal/natstest"
	"github.com/authevents/authevents/internal/testenv"
)

// TestInvalidEventsAreDeadLetteredWithTheReason: a consumer handles what
// keeps the contract and sends what breaks it to the dead-letter stream,
// unhandled, saying why.
func TestInvalidEventsAreDeadLetteredWithTheReason(t *testing.T) {
	t.Parallel()
	e := setup(t)
	v, err := eventschema.Load()
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now()
	publish := func(data authevents.UserRegistered) string {
		id := uuid.Must(uuid.NewV7()).String()
		ce, err := authevents.NewCloudEvent(authevents.EventSource{Source: "auth-service", ServiceVersion: "t", Environment: "test"},
			id, authevents.EventUserRegistered, data.UserID, at, data)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := json.Marshal(ce)
		e.publishRaw(t, e.names.For(authevents.EventUserRegistered), body, id)
		return id
	}
	good := publish(authevents.UserRegistered{UserID: uuid.NewString(), Email: "ada@example.com", Name: "Ada", Timestamp: authevents.Timestamp(at)})
	bad := publish(authevents.UserRegistered{UserID: uuid.NewString(), Email: "bob@example.com", Name: "", Timestamp: authevents.Timestamp(at)})

	var mu sync.Mutex
	handled := map[string]bool{}
	stop := e.run(t, consumer.Validated(consumer.HandlerFunc(func(_ context.Context, ev *consumer.Event) error {
		mu.Lock()
		handled[ev.ID] = true
		mu.Unlock()
		return nil
	}), v), nil)
	defer stop()

	msgs := natstest.Collect(t, e.js, e.dlq, 1, 15*time.Second)
	h := msgs[0].Headers()
	if h.Get(consumer.HeaderEventID) != bad || h.Get(consumer.HeaderFailures) != "0" {
		t.Errorf("dead letter of %s after %s failures, want the invalid event %s at once", h.Get(consumer.HeaderEventID), h.Get(consumer.HeaderFailures), bad)
	}
	if reason := h.Get(consumer.HeaderLastError); !strings.Contains(reason, "invalid user.registered event") || !strings.Contains(reason, "/name") {
		t.Errorf("reason %q does not say what is wrong", reason)
	}
	testenv.WaitFor(t, "the valid event handled", 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return handled[good]
	})
	mu.Lock()
	defer mu.Unlock()
	if handled[bad] {
		t.Error("the invalid event was handled")
	}
}
