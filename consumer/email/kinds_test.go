package email

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/consumer"
	"github.com/authevents/authevents/token"
	"github.com/authevents/authevents/token/tokentest"
)

// TestKindsAreTheMailsSent: for every type the email service takes (and
// one it does not), Kinds names exactly the mails the handler writes, in
// order: the chaos verdict expects Kinds' mails, and a new mail added to
// mails alone would go unchecked.
func TestKindsAreTheMailsSent(t *testing.T) {
	sealer, opener := tokentest.SealPair(t)
	h := New(nil, nil, "authevents <no-reply@authevents.test>", WithLinks(opener, "https://app.example"))
	now := time.Now()
	const a, b = "ada@example.com", "ada@example.org"
	// event builds an event of typ whose link, if any, is sealed to the
	// recipient to, as the API seals it.
	event := func(typ, to string, data func(authevents.Link) any) *consumer.Event {
		t.Helper()
		id := uuid.NewString()
		expires := now.Add(time.Hour)
		sealed, err := sealer.Seal(token.Binding{EventID: id, EventType: typ, To: to, ExpiresAt: expires}, "ot_secret")
		if err != nil {
			t.Fatal(err)
		}
		l := authevents.Link{SealedToken: sealed, ExpiresAt: authevents.Timestamp(expires)}
		ce, err := authevents.NewCloudEvent(authevents.EventSource{Source: "test"}, id, typ, "u1", now, data(l))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := json.Marshal(ce)
		ev, err := consumer.NewEvent(authevents.Subject(typ), body)
		if err != nil {
			t.Fatal(err)
		}
		return ev
	}
	ts := authevents.Timestamp(now)
	cases := []struct {
		name string
		ev   *consumer.Event
		want []string
	}{
		{"registered", event(authevents.EventUserRegistered, a, func(authevents.Link) any {
			return authevents.UserRegistered{UserID: "u1", Email: a, Name: "Ada", Timestamp: ts}
		}), []string{KindWelcome}},
		{"verification requested", event(authevents.EventEmailVerificationRequested, a, func(l authevents.Link) any {
			return authevents.UserEmailVerificationRequested{UserID: "u1", Email: a, Name: "Ada", Link: l, Timestamp: ts}
		}), []string{KindVerify}},
		{"registration attempted", event(authevents.EventRegistrationAttempted, a, func(authevents.Link) any {
			return authevents.UserRegistrationAttempted{UserID: "u1", Email: a, Timestamp: ts}
		}), []string{KindRegistrationAttempt}},
		{"reset requested", event(authevents.EventPasswordResetRequested, a, func(l authevents.Link) any {
			return authevents.UserPasswordResetRequested{UserID: "u1", Email: a, Link: l, Timestamp: ts}
		}), []string{KindReset}},
		{"password changed", event(authevents.EventPasswordChanged, a, func(authevents.Link) any {
			return authevents.UserPasswordChanged{UserID: "u1", Email: a, Reason: authevents.PasswordChangedByChange, Timestamp: ts}
		}), []string{KindPasswordChanged}},
		{"email change to a free address", event(authevents.EventEmailChangeRequested, b, func(l authevents.Link) any {
			return authevents.UserEmailChangeRequested{UserID: "u1", Email: a, NewEmail: b, Link: &l, Timestamp: ts}
		}), []string{KindEmailChangeVerify, KindEmailChangeNotice}},
		{"email change to a taken address", event(authevents.EventEmailChangeRequested, b, func(authevents.Link) any {
			return authevents.UserEmailChangeRequested{UserID: "u1", Email: a, NewEmail: b, NewEmailTaken: true, Timestamp: ts}
		}), []string{KindEmailChangeTaken, KindEmailChangeNotice}},
		{"email changed", event(authevents.EventEmailChanged, a, func(authevents.Link) any {
			return authevents.UserEmailChanged{UserID: "u1", OldEmail: a, Email: b, Timestamp: ts}
		}), []string{KindEmailChanged}},
		{"logged in: no mail", event(authevents.EventUserLoggedIn, a, func(authevents.Link) any {
			return authevents.UserLoggedIn{UserID: "u1", Email: a, Timestamp: ts}
		}), nil},
	}
	for _, c := range cases {
		mails, err := h.mails(c.ev)
		if err != nil {
			t.Fatalf("%s: mails: %v", c.name, err)
		}
		var sent []string
		for _, m := range mails {
			sent = append(sent, m.Kind)
		}
		kinds, err := Kinds(c.ev)
		if err != nil {
			t.Fatalf("%s: Kinds: %v", c.name, err)
		}
		if !slices.Equal(kinds, sent) || !slices.Equal(kinds, c.want) {
			t.Errorf("%s: Kinds = %q, mails sent %q, want %q", c.name, kinds, sent, c.want)
		}
	}
}
