package consumer

import (
	"context"
	"errors"
	"fmt"

	"github.com/authevents/authevents/personal"
)

// Versioned decides, in one place for every service, which version of an
// event h handles (docs/privacy.md, "Events v2"). During the dual period
// the API publishes each change with personal fields twice, version 1 in
// clear and version 2 protected, and the two name each other in the
// envelope's twinid.
//
// With keys (the service holds the KEK, PERSONAL_DATA_KEY):
//   - a version 2 event is opened (personal.Keys.Open) and handled as its
//     version 1 type: Base is that type, Decode gives version 1's shape;
//     Erased reports a key that is gone, its values then read
//     personal.Erased;
//   - a version 1 event with a twinid is acked without effect: its twin
//     carries the change;
//   - a version 1 event without twinid (an older producer, or a type
//     without personal fields) is handled as it always was.
//
// Without keys (nil): version 2 cannot be read, so it is acked without
// effect, and every version 1 event is handled as it always was.
//
// A version 2 event that does not open (no key for its owner, a
// ciphertext that fails) is a permanent failure, dead-lettered with the
// reason (which names no value); a key that cannot be read now (the
// database, a KEK not configured) is retried.
func Versioned(h Handler, keys *personal.Keys) Handler {
	return HandlerFunc(func(ctx context.Context, ev *Event) error {
		switch {
		case ev.Version == 2 && keys == nil:
			return nil
		case ev.Version == 2:
			if err := ev.open(ctx, keys); err != nil {
				return err
			}
		case keys != nil && ev.TwinID != "":
			return nil
		}
		return h.Handle(ctx, ev)
	})
}

// open reads a version 2 event's data into version 1's shape, for Decode.
func (ev *Event) open(ctx context.Context, keys *personal.Keys) error {
	opened, erased, err := keys.Open(ctx, ev.Type, ev.ID, ev.Data)
	switch {
	case errors.Is(err, personal.ErrNoKey) || errors.Is(err, personal.ErrUnreadable):
		return Permanent(fmt.Errorf("open %s: %w", ev.Type, err))
	case err != nil:
		return fmt.Errorf("open %s: %w", ev.Type, err)
	}
	ev.opened, ev.erased = opened, erased
	return nil
}
