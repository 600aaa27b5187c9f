package personal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/authevents/authevents"
)

// Version 2 of an event (docs/privacy.md, "Events v2"): Protect makes it
// from version 1 on the producer's side, Open reads it on a consumer's.

// Protect returns version 2 of ce, an event of a type with personal fields:
// the event id id, the type <type>_v2 and its dataschema, twinid naming
// ce (and ce's twinid naming it: set on ce), and data where each personal
// property is encrypted under key (bound to key's owner, id and the
// property), with keyOwner and the per-user pseudonyms of ip and
// userAgent beside them. Properties absent from ce's data stay absent.
func Protect(ce *authevents.CloudEvent, id string, key *DataKey) (authevents.CloudEvent, error) {
	v2 := authevents.ProtectedType(ce.Type)
	if v2 == "" {
		return authevents.CloudEvent{}, fmt.Errorf("%s has no personal fields", ce.Type)
	}
	var data map[string]json.RawMessage
	if err := json.Unmarshal(ce.Data, &data); err != nil {
		return authevents.CloudEvent{}, fmt.Errorf("protect %s: %w", ce.Type, err)
	}
	for _, f := range authevents.PersonalFields(ce.Type) {
		raw, ok := data[f]
		if !ok {
			continue
		}
		var v string
		if err := json.Unmarshal(raw, &v); err != nil {
			return authevents.CloudEvent{}, fmt.Errorf("protect %s.%s: %w", ce.Type, f, err)
		}
		data[f] = quoted(key.Encrypt(id, Field(f), v))
		if p := authevents.PseudonymField(f); p != "" {
			data[p] = quoted(key.Pseudonym(Field(f), v))
		}
	}
	data["keyOwner"] = quoted(key.UserID().String())
	body, err := json.Marshal(data)
	if err != nil {
		return authevents.CloudEvent{}, err
	}
	out := *ce
	out.ID, out.Type, out.DataSchema, out.TwinID, out.Data = id, v2, authevents.DataSchema(v2), ce.ID, body
	ce.TwinID = id
	return out, nil
}

// FarewellOwner returns the owner of the one-off key that protects the
// address in user.deleted_v2: the same transaction erases the user's own
// key, and the email service needs the address once more for the
// confirmation; it erases the farewell key when the mail is sent.
func FarewellOwner(user uuid.UUID) uuid.UUID { return uuid.NewSHA1(user, []byte("farewell")) }

// Open returns the data of a version 2 event (type <type>_v2, id eventID)
// with its protected properties read: in the shape of version 1, plus
// keyOwner and the pseudonyms. A property whose key is erased reads
// Erased; erased reports whether any did (a consumer then stores nothing
// personal of the user). It fails with ErrNoKey, ErrUnreadable or an error
// reading the key.
func (s *Keys) Open(ctx context.Context, eventType, eventID string, data []byte) (opened []byte, erased bool, err error) {
	base, v := authevents.BaseType(eventType)
	if v != 2 {
		return data, false, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, false, fmt.Errorf("%w: data of %s: %v", ErrUnreadable, eventType, err)
	}
	var owner uuid.UUID
	if raw, ok := m["keyOwner"]; !ok || json.Unmarshal(raw, &owner) != nil {
		return nil, false, fmt.Errorf("%w: %s without keyOwner", ErrUnreadable, eventType)
	}
	key, err := s.Key(ctx, owner)
	if errors.Is(err, ErrErased) {
		erased, key = true, nil
	} else if err != nil {
		return nil, false, err
	}
	for _, f := range authevents.PersonalFields(base) {
		raw, ok := m[f]
		if !ok {
			continue
		}
		if key == nil {
			m[f] = quoted(Erased)
			continue
		}
		var protected string
		if err := json.Unmarshal(raw, &protected); err != nil {
			return nil, false, fmt.Errorf("%w: %s.%s", ErrUnreadable, eventType, f)
		}
		clear, err := key.Decrypt(eventID, Field(f), protected)
		if err != nil {
			return nil, false, err
		}
		m[f] = quoted(clear)
	}
	opened, err = json.Marshal(m)
	return opened, erased, err
}

// DayKeyRetention is how long the day keys of events without an account
// live (the longest retention that needs them: the dead-letter stream's
// 30 days); older ones are erased.
const DayKeyRetention = 30 * 24 * time.Hour

func quoted(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}
