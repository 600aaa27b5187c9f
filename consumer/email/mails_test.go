package email

import (
	"strings"
	"testing"
	"time"
)

func TestEveryMailHasBothParts(t *testing.T) {
	c := Content{Email: "ada@example.com", NewEmail: "ada@example.org", Link: LinkTo("https://app.example/", "/verify-email", "ot_abc"),
		ExpiresAt: time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC), When: time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC), IP: "198.51.100.7", Reason: "reset"}
	for _, kind := range []string{KindWelcome, KindVerify, KindRegistrationAttempt, KindReset, KindPasswordChanged,
		KindEmailChangeVerify, KindEmailChangeNotice, KindEmailChangeTaken, KindEmailChanged, KindAccountDeleted} {
		m, err := Compose(kind, "ada@example.com", "Subject", c)
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		if strings.TrimSpace(m.Text) == "" || !strings.Contains(m.HTML, "<html>") || strings.Contains(m.Text, "<no value>") || strings.Contains(m.HTML, "<no value>") {
			t.Errorf("%s: text %q, HTML %q", kind, m.Text, m.HTML)
		}
		withLink := kind == KindVerify || kind == KindReset || kind == KindEmailChangeVerify
		if has := strings.Contains(m.Text, "https://app.example/verify-email?token=ot_abc") && strings.Contains(m.HTML, `href="https://app.example/verify-email?token=ot_abc"`); has != withLink {
			t.Errorf("%s: carries the link in both parts = %v, want %v", kind, has, withLink)
		}
		if strings.Contains(strings.ReplaceAll(m.Text, "\r\n", ""), "\n") {
			t.Errorf("%s: the text part has a bare LF", kind)
		}
	}
}

// TestMailsDoNotLetUserTextOut: an address is escaped in the HTML part,
// and no header gets a line break from user text.
func TestMailsDoNotLetUserTextOut(t *testing.T) {
	m, err := Compose(KindEmailChangeNotice, "ada@example.com", "Welcome, Ada\r\nBcc: victim@example.com", Content{NewEmail: `<script>alert(1)</script>"><img src=x>`, Email: "ada@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(m.HTML, "<script>") || strings.Contains(m.HTML, "<img src=x>") {
		t.Errorf("the address reached the HTML part unescaped: %s", m.HTML)
	}
	if strings.ContainsAny(m.Subject, "\r\n") {
		t.Errorf("subject %q holds a line break", m.Subject)
	}
}

func TestLinkTo(t *testing.T) {
	for base, want := range map[string]string{
		"http://localhost:8080":   "http://localhost:8080/reset-password?token=ot_a-b_c",
		"https://app.example/x/":  "https://app.example/x/reset-password?token=ot_a-b_c",
		"https://app.example/x//": "https://app.example/x/reset-password?token=ot_a-b_c",
	} {
		if got := LinkTo(base, "/reset-password", "ot_a-b_c"); got != want {
			t.Errorf("LinkTo(%q) = %q, want %q", base, got, want)
		}
	}
}
