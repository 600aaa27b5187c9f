package smtptest_test

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/wneessen/go-mail"

	"github.com/authevents/authevents/internal/smtptest"
)

func send(t *testing.T, s *smtptest.Server, id string) error {
	t.Helper()
	m := mail.NewMsg()
	if err := m.From("a@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := m.To("b@example.com"); err != nil {
		t.Fatal(err)
	}
	m.SetMessageIDWithValue(id)
	m.SetBodyString(mail.TypeTextPlain, "hello")
	host, p, _ := net.SplitHostPort(s.Addr())
	port, _ := strconv.Atoi(p)
	c, err := mail.NewClient(host, mail.WithTLSPolicy(mail.NoTLS), mail.WithPort(port))
	if err != nil {
		t.Fatal(err)
	}
	return c.DialAndSendWithContext(context.Background(), m)
}

// TestKeepsWhatItAcceptsAndRefusesOnDemand: a refused message is not
// kept; accepted ones are, with their Message-ID, once per arrival.
func TestKeepsWhatItAcceptsAndRefusesOnDemand(t *testing.T) {
	t.Parallel()
	s := smtptest.New(t)
	s.Refuse(true)
	if err := send(t, s, "e1@authevents"); err == nil {
		t.Fatal("send succeeded while the server refuses")
	}
	s.Refuse(false)
	for _, id := range []string{"e1@authevents", "e1@authevents", "e2@authevents"} {
		if err := send(t, s, id); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.Count(); n != 3 {
		t.Fatalf("Count = %d, want 3", n)
	}
	if m := s.Messages()[2]; m.MessageID != "e2@authevents" || !strings.Contains(string(m.Data), "hello") {
		t.Errorf("Messages()[2] = %q, %q", m.MessageID, m.Data)
	}
	a := s.Arrivals()
	if len(a) != 2 || len(a["e1"]) != 2 || len(a["e2"]) != 1 {
		t.Errorf("Arrivals = %v, want e1 twice and e2 once", a)
	}
	s.Reset()
	if n := s.Count(); n != 0 {
		t.Errorf("Count after Reset = %d", n)
	}
}
