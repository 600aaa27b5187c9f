package consumer

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/authevents/authevents"
)

// Event is a delivered auth event, its envelope parsed once: handlers use
// EventID and OccurredAt and Decode the data, instead of parsing them again.
type Event struct {
	authevents.CloudEvent
	EventID    uuid.UUID // the envelope's id
	OccurredAt time.Time // the envelope's time
	Subject    string    // NATS subject
	Body       []byte    // the message body as published
	StreamSeq  uint64
	Deliveries uint64
}

// NewEvent parses body, a CloudEvent published on subject. An envelope
// without a type, or whose id is not a UUID or whose time is not RFC 3339,
// is a permanent failure (the message goes to the dead-letter stream); the
// Event is returned even then, holding what could be read, for the
// dead-letter headers and the logs.
func NewEvent(subject string, body []byte) (*Event, error) {
	ev := &Event{Subject: subject, Body: body}
	if err := json.Unmarshal(body, &ev.CloudEvent); err != nil {
		return ev, Permanent(fmt.Errorf("not a CloudEvent: %w", err))
	}
	if ev.ID == "" || ev.Type == "" {
		return ev, Permanent(errors.New("not a CloudEvent: no id or type"))
	}
	var err error
	if ev.EventID, err = uuid.Parse(ev.ID); err != nil {
		return ev, Permanent(fmt.Errorf("event id %q: %w", ev.ID, err))
	}
	if ev.OccurredAt, err = time.Parse(time.RFC3339Nano, ev.Time); err != nil {
		return ev, Permanent(fmt.Errorf("event time %q: %w", ev.Time, err))
	}
	return ev, nil
}

// Decode unmarshals the event's data into v. Data that does not decode
// fails the event permanently, as a schema violation does: the error is
// marked Permanent, so a handler returns it as it is and the message goes
// to the dead-letter stream with the reason.
func (ev *Event) Decode(v any) error {
	if err := json.Unmarshal(ev.Data, v); err != nil {
		return Permanent(fmt.Errorf("%s data: %w", ev.Type, err))
	}
	return nil
}
