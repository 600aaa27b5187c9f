package accounttest

import (
	"testing"
	"time"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/outbox/outboxtest"
	"github.com/authevents/authevents/token"
)

// OpenLink opens the sealed one-time token an event row carries, as the
// email service does: bound to the event, its type, its recipient (the
// new address of an email change, else the address) and its expiry. It
// returns "" when the event carries no link.
func OpenLink(t testing.TB, r outboxtest.Row, o *token.Opener) string {
	t.Helper()
	var d struct {
		Email, NewEmail string
		Link            *authevents.Link
	}
	r.Data(t, &d)
	if d.Link == nil {
		return ""
	}
	to := d.Email
	if d.NewEmail != "" {
		to = d.NewEmail
	}
	raw, err := o.Open(token.Binding{EventID: r.ID.String(), EventType: r.Event.Type, To: to, ExpiresAt: time.Time(d.Link.ExpiresAt)}, d.Link.SealedToken)
	if err != nil {
		t.Fatalf("open the sealed link of %s %s: %v", r.Event.Type, r.ID, err)
	}
	return raw
}
