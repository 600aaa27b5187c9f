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
//
// Both versions of a type are one change to a handler: it switches on
// Base, and Decode gives version 1's shape whichever version arrived (the
// data of a version 2 event is opened by Versioned before the handler
// runs). Data and Body stay as received.
type Event struct {
	authevents.CloudEvent
	EventID    uuid.UUID // the envelope's id
	OccurredAt time.Time // the envelope's time
	Subject    string    // NATS subject
	Body       []byte    // the message body as published
	StreamSeq  uint64
	Deliveries uint64
	// Base is the type without its version: user.logged_in for
	// user.logged_in and user.logged_in_v2 (authevents.BaseType).
	Base string
	// Version is 2 for a type whose personal properties are protected
	// (<type>_v2, docs/privacy.md), 1 otherwise.
	Version int

	opened []byte // version 2: the data opened by personal.Keys.Open
	erased bool   // version 2: its key is erased (opened holds personal.Erased)

	admitted bool // passed the per-event steps of a Chain (batch.go)
}

// NewEvent parses body, a CloudEvent published on subject. An envelope
// without a type, or whose id is not a UUID or whose time is not RFC 3339,
// is a permanent failure (the message goes to the dead-letter stream); the
// Event is returned even then, holding what could be read, for the
// dead-letter headers and the logs.
func NewEvent(subject string, body []byte) (*Event, error) {
	ev := &Event{Subject: subject, Body: body, Version: 1}
	if err := json.Unmarshal(body, &ev.CloudEvent); err != nil {
		return ev, Permanent(fmt.Errorf("not a CloudEvent: %w", err))
	}
	ev.Base, ev.Version = authevents.BaseType(ev.Type)
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

// Decode unmarshals the event's data into v, in the shape of version 1:
// for a version 2 event, its data as Versioned opened it (the personal
// properties read, or personal.Erased once their key is gone, beside
// keyOwner and the pseudonyms). Data that does not decode fails the event
// permanently, as a schema violation does: the error is marked Permanent,
// so a handler returns it as it is and the message goes to the dead-letter
// stream with the reason. A version 2 event that was not opened fails too
// (a handler run without Versioned): its ciphertexts are not values.
func (ev *Event) Decode(v any) error {
	data := ev.Data
	if ev.Version == 2 {
		if ev.opened == nil {
			return errors.New(ev.Type + " data not opened (no personal data key)")
		}
		data = ev.opened
	}
	if err := json.Unmarshal(data, v); err != nil {
		return Permanent(fmt.Errorf("%s data: %w", ev.Type, err))
	}
	return nil
}

// Erased reports whether the event is a version 2 event whose key is
// erased: its personal values Decode as personal.Erased, and a handler
// stores nothing personal of it.
func (ev *Event) Erased() bool { return ev.erased }
