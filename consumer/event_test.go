package consumer_test

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/authevents/authevents/consumer"
)

// TestNewEventParsesTheEnvelopeOnce: the id and time a handler uses come
// parsed; an envelope they cannot be parsed from, or data that does not
// decode, is a permanent failure (dead-lettered at once, like a schema
// violation).
func TestNewEventParsesTheEnvelopeOnce(t *testing.T) {
	t.Parallel()
	id := "0190a4c8-0000-7000-8000-000000000001"
	ev, err := consumer.NewEvent("auth.user.logged_in", []byte(`{"specversion":"1.0","id":"`+id+`","type":"user.logged_in",
		"time":"2026-01-02T03:04:05.678Z","data":{"userId":"u1"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if ev.EventID != uuid.MustParse(id) || !ev.OccurredAt.Equal(time.Date(2026, 1, 2, 3, 4, 5, 678e6, time.UTC)) || ev.Subject != "auth.user.logged_in" {
		t.Errorf("NewEvent = id %s, time %s, subject %q", ev.EventID, ev.OccurredAt, ev.Subject)
	}
	var d struct {
		UserID string `json:"userId"`
	}
	if err := ev.Decode(&d); err != nil || d.UserID != "u1" {
		t.Errorf("Decode = %+v, %v", d, err)
	}
	var n int
	if err := ev.Decode(&n); !consumer.IsPermanent(err) {
		t.Errorf("Decode(object into int) = %v, want a permanent error", err)
	}

	for name, body := range map[string]string{
		"not JSON":   `not json`,
		"no type":    `{"id":"` + id + `","time":"2026-01-02T03:04:05.678Z","data":{}}`,
		"no id":      `{"type":"user.logged_in","time":"2026-01-02T03:04:05.678Z","data":{}}`,
		"id no UUID": `{"id":"42","type":"user.logged_in","time":"2026-01-02T03:04:05.678Z","data":{}}`,
		"bad time":   `{"id":"` + id + `","type":"user.logged_in","time":"yesterday","data":{}}`,
	} {
		ev, err := consumer.NewEvent("auth.user.logged_in", []byte(body))
		if !consumer.IsPermanent(err) || ev == nil {
			t.Errorf("NewEvent(%s) = %v, %v; want the event and a permanent error", name, ev, err)
		}
	}
}
