package account

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/outbox"
	"github.com/authevents/authevents/personal"
)

// Version 2 of the events with personal fields (issue 19, docs/privacy.md):
// with a key-encryption key configured (WithPersonalKeys), every event of
// such a type is appended twice in its transaction, version 1 as before
// and version 2 with the personal fields encrypted under the owner's data
// key, each naming the other (twinid); Config.V2Only drops version 1 once
// its documented period is over.

// append appends m, and its version 2 when the service protects personal
// data, in tx.
func (s *Service) append(ctx context.Context, tx pgx.Tx, m outbox.Message) error {
	if s.appendsAsIs(m) {
		return outbox.Append(ctx, tx, m)
	}
	eventType := authevents.TypeOfSubject(m.Subject)
	var ce authevents.CloudEvent
	if err := json.Unmarshal(m.Payload, &ce); err != nil {
		return fmt.Errorf("protect %s: %w", eventType, err)
	}
	key, err := s.keyFor(ctx, tx, &ce)
	if err != nil {
		return fmt.Errorf("protect %s: %w", eventType, err)
	}
	id := newID()
	v2, err := personal.Protect(&ce, id.String(), key)
	if err != nil {
		return err
	}
	if !s.cfg.V2Only {
		v1, err := json.Marshal(ce) // now naming its twin
		if err != nil {
			return err
		}
		m.Payload = v1
		if err := outbox.Append(ctx, tx, m); err != nil {
			return err
		}
	}
	body, err := json.Marshal(v2)
	if err != nil {
		return err
	}
	return outbox.Append(ctx, tx, outbox.Message{ID: id, Subject: authevents.Subject(v2.Type), Payload: body, OrderingKey: m.OrderingKey})
}

// appendsAsIs reports whether append writes m alone, as it is: no version
// 2, no data key to read or make.
func (s *Service) appendsAsIs(m outbox.Message) bool {
	return !s.protect || authevents.ProtectedType(authevents.TypeOfSubject(m.Subject)) == ""
}

// keyFor returns the data key that protects the personal fields of ce: its
// user's, made in tx if the user has none yet (registration, or an account
// from before keys existed); the farewell key for user.deleted, whose
// transaction erases the user's; the key of the day for an event of no
// account (a failed login with an unknown address).
func (s *Service) keyFor(ctx context.Context, tx pgx.Tx, ce *authevents.CloudEvent) (*personal.DataKey, error) {
	if ce.Subject == "" {
		t, err := timeOf(ce)
		if err != nil {
			return nil, err
		}
		return s.keys.Create(ctx, tx, personal.DayOwner(t))
	}
	user, err := uuid.Parse(ce.Subject)
	if err != nil {
		return nil, fmt.Errorf("subject %q: %w", ce.Subject, err)
	}
	if ce.Type == authevents.EventUserDeleted {
		return s.keys.Create(ctx, tx, personal.FarewellOwner(user))
	}
	key, err := s.keys.KeyIn(ctx, tx, user)
	if errors.Is(err, personal.ErrNoKey) {
		return s.keys.Create(ctx, tx, user)
	}
	return key, err
}

// committedTypes are the types a transaction that appended events of
// types commits, counting versions 2.
func (s *Service) committedTypes(types []string) []string {
	if !s.protect {
		return types
	}
	out := make([]string, 0, 2*len(types))
	for _, t := range types {
		v2 := authevents.ProtectedType(t)
		if v2 == "" || !s.cfg.V2Only {
			out = append(out, t)
		}
		if v2 != "" {
			out = append(out, v2)
		}
	}
	return out
}

// timeOf is when ce happened.
func timeOf(ce *authevents.CloudEvent) (time.Time, error) {
	t, err := time.Parse(authevents.TimestampLayout, ce.Time)
	if err != nil {
		return time.Time{}, fmt.Errorf("time of %s: %w", ce.Type, err)
	}
	return t, nil
}
