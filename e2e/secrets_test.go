package e2e

import (
	"context"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/authevents/authevents/api/client"
	"github.com/authevents/authevents/consumer/email"
	"github.com/authevents/authevents/internal/mailbox"
	"github.com/authevents/authevents/internal/natstest"
	"github.com/authevents/authevents/internal/testenv"
	"github.com/authevents/authevents/token"
)

// TestNoLinkTokenAnywhere (issue 18, point 4): after every flow that mails
// a link (verification, a superseded one, reset, email change), with all
// four consumers and every process logging at debug level, a scan of
// every message of the stream and the DLQ, every row of every table and
// every log line finds no link token, and its hash only in the API's own
// table of links. The tokens are read from the mails, as their owner does.
func TestNoLinkTokenAnywhere(t *testing.T) {
	t.Parallel()
	sys := startLifecycle(t, "all", "debug")
	pool, sink, base := sys.pool, sys.sink, sys.base
	c := apiClient(t, base)
	ctx := t.Context()
	const addr, moved, pw, pw2 = "scan@example.com", "scan2@example.com", "correct horse battery staple", "a brand new passphrase"
	secrets := needles{}
	// link waits for the newest mail of kind to to, and notes its token.
	seen := map[string]bool{}
	link := func(kind, to string) string {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		m, err := mailbox.Wait(wctx, sink.Mailbox(), to, kind, func(m mailbox.Mail) bool { return !seen[m.MessageID] })
		if err != nil {
			t.Fatal(err)
		}
		seen[m.MessageID] = true
		raw, _, ok := m.Token()
		if !ok {
			t.Fatalf("the %s mail carries no link", kind)
		}
		hash, err := token.HashOneTime(raw)
		if err != nil {
			t.Fatalf("the %s link's token: %v", kind, err)
		}
		name := kind + " link #" + string(rune('0'+len(secrets)/3))
		secrets[raw] = name + " token"
		secrets[strings.TrimPrefix(raw, token.OneTimePrefix)] = name + " token body"
		secrets[hex.EncodeToString(hash)] = name + " hash"
		return raw
	}
	ok := func(what string, status int, err error) {
		t.Helper()
		if err != nil || status/100 != 2 {
			t.Fatalf("%s: %d %v", what, status, err)
		}
	}

	r1, err := c.RegisterWithResponse(ctx, nil, client.RegisterRequest{Email: addr, Password: pw, Name: "Scan"})
	ok("register", r1.StatusCode(), err)
	superseded := link(email.KindVerify, addr)
	r2, err := c.ResendVerificationWithResponse(ctx, nil, client.EmailRequest{Email: addr})
	ok("resend", r2.StatusCode(), err)
	verify := link(email.KindVerify, addr)
	if r, err := c.VerifyEmailWithResponse(ctx, nil, client.LinkTokenRequest{Token: superseded}); err != nil || r.StatusCode() != 400 {
		t.Fatalf("the superseded link: %v %d, want 400", err, r.StatusCode())
	}
	// The API's own page, with the token in its query string, as a mail
	// client opens it.
	if res, err := http.Get(base + "/verify-email?token=" + url.QueryEscape(verify)); err != nil || res.StatusCode != 200 {
		t.Fatalf("the verification page: %v", err)
	} else {
		res.Body.Close()
	}
	r3, err := c.VerifyEmailWithResponse(ctx, nil, client.LinkTokenRequest{Token: verify})
	ok("verify", r3.StatusCode(), err)
	r4, err := c.ForgotPasswordWithResponse(ctx, nil, client.EmailRequest{Email: addr})
	ok("forgot", r4.StatusCode(), err)
	reset := link(email.KindReset, addr)
	r5, err := c.ResetPasswordWithResponse(ctx, nil, client.ResetPasswordRequest{Token: reset, NewPassword: pw2})
	ok("reset", r5.StatusCode(), err)
	in, err := c.LoginWithResponse(ctx, nil, client.LoginRequest{Email: addr, Password: pw2})
	ok("login", in.StatusCode(), err)
	r6, err := c.ChangeEmailWithResponse(ctx, nil, client.ChangeEmailRequest{NewEmail: moved, Password: pw2}, bearer(in.JSON200.AccessToken))
	ok("change email", r6.StatusCode(), err)
	r7, err := c.VerifyEmailWithResponse(ctx, nil, client.LinkTokenRequest{Token: link(email.KindEmailChangeVerify, moved)})
	ok("confirm the new address", r7.StatusCode(), err)

	// Every event reached every consumer: the relay published every row
	// (sent rows leave the outbox), and the audit log has each. (Waiting
	// on the audit log alone once returned before the last row was
	// published: 8 audited of 8 published, the 9th still in the outbox.)
	js, _ := jetstream.New(natstest.Connect(t, sys.natsURL))
	testenv.WaitFor(t, "every event published and audited", 30*time.Second, func() bool {
		s, err := js.Stream(ctx, "auth-events")
		if err != nil || count(t, pool, `SELECT count(*) FROM outbox`) > 0 {
			return false
		}
		return s.CachedInfo().State.Msgs > 0 && uint64(count(t, pool, `SELECT count(*) FROM audit_log`)) == s.CachedInfo().State.Msgs
	})
	var found []finding
	f, msgs := scanStream(t, js, "auth-events", secrets)
	found = append(found, f...)
	f, dead := scanStream(t, js, "auth-events-dlq", secrets)
	found = append(found, f...)
	// The API keeps a link's hash until it is used or superseded; none is
	// left now, and only that table may ever hold one.
	hashes := map[string][]string{}
	for _, name := range secrets {
		if strings.HasSuffix(name, " hash") {
			hashes[name] = []string{"one_time_tokens"}
		}
	}
	f, rows := scanTables(t, pool, secrets, hashes)
	found = append(found, f...)
	f, lines := scanLogs(t, sys.logs, secrets)
	found = append(found, f...)
	t.Logf("scanned %d stream messages, %d dead letters, %d rows, %d log lines for %d needles of 4 links", msgs, dead, rows, lines, len(secrets))
	if msgs < 9 || rows < 10 || lines < 10 {
		t.Fatalf("the scan read too little to prove anything")
	}
	// The scanners find what is there: the address is in the events, and
	// so in the stream and the audit log.
	control := needles{addr: "address"}
	if f, _ := scanStream(t, js, "auth-events", control); len(f) == 0 {
		t.Error("the stream scan does not find the address the events carry")
	}
	if f, _ := scanTables(t, pool, control, nil); len(f) == 0 {
		t.Error("the table scan does not find the address the audit log holds")
	}
	for _, f := range found {
		t.Errorf("%s holds the %s", f.where, f.needle)
	}
}
