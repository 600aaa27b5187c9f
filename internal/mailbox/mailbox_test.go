package mailbox_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wneessen/go-mail"

	"github.com/authevents/authevents/consumer/email"
	"github.com/authevents/authevents/internal/mailbox"
)

// message writes a mail as the email service does: go-mail, text and
// HTML parts, the kind header, a link in each part.
func message(t *testing.T, kind, to, link string) []byte {
	t.Helper()
	m, err := email.Compose(kind, to, "Subject of "+kind, email.Content{Email: to, Link: link, ExpiresAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	msg := mail.NewMsg()
	msg.From("authevents <no-reply@authevents.test>")
	msg.To(m.To)
	msg.Subject(m.Subject)
	msg.SetMessageIDWithValue(email.MessageID("k-" + kind))
	msg.SetGenHeader(email.KindHeader, m.Kind)
	msg.SetBodyString(mail.TypeTextPlain, m.Text)
	msg.AddAlternativeString(mail.TypeTextHTML, m.HTML)
	var buf bytes.Buffer
	if _, err := msg.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestReadsTheLinkOfAMailAsTheEmailServiceWritesIt(t *testing.T) {
	// A token long enough that quoted-printable must wrap the line it is on.
	tok := strings.Repeat("AbC-_9", 12)
	link := email.LinkTo("http://127.0.0.1:8080", "/reset-password", tok)
	m, err := mailbox.Parse(message(t, email.KindReset, "Owner@Example.com", link))
	if err != nil {
		t.Fatal(err)
	}
	if m.Kind != email.KindReset || m.To != "owner@example.com" || m.MessageID != "k-reset@authevents" || m.Subject != "Subject of reset" {
		t.Errorf("parsed %+v", m)
	}
	got, path, ok := m.Token()
	if !ok || got != tok || path != "/reset-password" {
		t.Errorf("Token() = %q %q %v, want %q /reset-password", got, path, ok, tok)
	}
	if _, _, ok := (mailbox.Mail{Text: "no link here"}).Token(); ok {
		t.Error("a mail without a link gave a token")
	}
}

func TestWaitFindsTheLatestMatchingMailInAFolder(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte, at time.Time) {
		p := filepath.Join(dir, name+".eml")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(p, at, at)
	}
	now := time.Now()
	write("b", message(t, email.KindVerify, "a@example.com", email.LinkTo("http://x", "/verify-email", "new")), now)
	write("a", message(t, email.KindVerify, "a@example.com", email.LinkTo("http://x", "/verify-email", "old")), now.Add(-time.Minute))
	write("c", message(t, email.KindReset, "a@example.com", email.LinkTo("http://x", "/reset-password", "reset")), now)
	src := &mailbox.Dir{Path: dir}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	m, err := mailbox.Wait(ctx, src, "A@example.com", email.KindVerify, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tok, _, _ := m.Token(); tok != "new" {
		t.Errorf("latest verify link %q, want new", tok)
	}
	short, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	if _, err := mailbox.Wait(short, src, "b@example.com", email.KindVerify, nil); err == nil {
		t.Error("Wait found a mail to an address that has none")
	}
	raw := mailbox.Raw(func() [][]byte {
		return [][]byte{[]byte("not a mail"), message(t, email.KindWelcome, "w@example.com", "")}
	})
	if ms, _ := raw.Mails(); len(ms) != 1 || ms[0].Kind != email.KindWelcome {
		t.Errorf("Raw.Mails() = %+v, want the one welcome mail", ms)
	}
}
