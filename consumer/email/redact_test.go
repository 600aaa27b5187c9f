package email_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
	"github.com/google/uuid"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/consumer"
	"github.com/authevents/authevents/consumer/email"
	"github.com/authevents/authevents/db/postgres/pgtest"
)

// TestSMTPRefusalNamesNoRecipient: a server that refuses the recipient
// with a text naming it (as Postfix does: "<ada@…>: Recipient address
// rejected") fails the event with an error, the dead letter's reason,
// that keeps the status codes and the server's words but no address.
func TestSMTPRefusalNamesNoRecipient(t *testing.T) {
	t.Parallel()
	const to = "Ada.Lovelace@Example.com"
	url := refusingServer(t, &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1},
		Message: "<" + to + ">: Recipient address rejected: user ada.lovelace unknown in virtual mailbox table (ada.lovelace@example.com)"})
	sender, err := email.NewSMTP(url)
	if err != nil {
		t.Fatal(err)
	}
	h := email.New(pgtest.New(t), sender, "authevents <no-reply@authevents.test>")
	data, _ := json.Marshal(authevents.UserRegistered{UserID: uuid.NewString(), Email: to, Name: "Ada"})
	body, _ := json.Marshal(authevents.CloudEvent{SpecVersion: "1.0", ID: uuid.NewString(), Source: "test",
		Type: authevents.EventUserRegistered, Time: "2026-11-28T10:00:00.000Z", Data: data, DataContentType: "application/json"})
	ev, err := consumer.NewEvent(authevents.Subject(authevents.EventUserRegistered), body)
	if err != nil {
		t.Fatal(err)
	}
	err = h.Handle(context.Background(), ev)
	if err == nil {
		t.Fatal("Handle = nil, want the refusal")
	}
	reason := err.Error()
	t.Logf("reason: %s", reason)
	for _, leak := range []string{"ada.lovelace", "lovelace", "example.com", "@"} {
		if strings.Contains(strings.ToLower(reason), leak) {
			t.Errorf("the reason %q holds %q", reason, leak)
		}
	}
	for _, want := range []string{"550", "5.1.1", "Recipient address rejected", "[address]"} {
		if !strings.Contains(reason, want) {
			t.Errorf("the reason %q lacks %q", reason, want)
		}
	}
}

// refusingServer is an SMTP server on loopback that refuses every
// recipient with refusal; it returns its SMTP_URL.
func refusingServer(t *testing.T, refusal *smtp.SMTPError) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := smtp.NewServer(refusingBackend{refusal})
	srv.Domain = "localhost"
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "smtp://" + ln.Addr().String() + "?tls=none"
}

type refusingBackend struct{ refusal *smtp.SMTPError }

func (b refusingBackend) NewSession(*smtp.Conn) (smtp.Session, error) { return refusingSession(b), nil }

type refusingSession refusingBackend

func (refusingSession) Reset()                                 {}
func (refusingSession) Logout() error                          { return nil }
func (refusingSession) Mail(string, *smtp.MailOptions) error   { return nil }
func (s refusingSession) Rcpt(string, *smtp.RcptOptions) error { return s.refusal }
func (refusingSession) Data(io.Reader) error                   { return nil }
