package consumer

import (
	"context"

	"github.com/authevents/authevents/eventschema"
)

// Validated puts the event contract in front of h: an event that does not
// validate against its JSON Schemas (the envelope, and the data schema its
// dataschema names; see eventschema.Validator.Validate) is never handled.
// It is a permanent failure, so it goes to the dead-letter stream at once,
// its reason in the Authevents-Last-Error header; retrying could not make
// it valid. Events of types this build does not know pass on their
// envelope, so a newer producer does not fill the dead-letter stream.
func Validated(h Handler, v *eventschema.Validator) Handler {
	return HandlerFunc(func(ctx context.Context, ev *Event) error {
		if err := v.Validate(ev.Body); err != nil {
			return Permanent(err)
		}
		return h.Handle(ctx, ev)
	})
}
