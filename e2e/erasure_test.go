package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/authevents/authevents/api/client"
	"github.com/authevents/authevents/consumer/email"
	"github.com/authevents/authevents/internal/mailbox"
	"github.com/authevents/authevents/internal/natstest"
	"github.com/authevents/authevents/internal/testenv"
	"github.com/authevents/authevents/personal"
)

// TestDeletedUserLeavesNothingReadable (issue 19, point 4): a user
// registers, verifies, logs in from two IPs (a new_ip alert), fails a
// login and refreshes; their events reach all four consumers, and one
// of their events lands in the DLQ; then they delete the account. A scan
// of every message of the stream and the DLQ, every row of every table and
// every log line at info level then finds none of their address, name,
// IPs or user agent in clear, while the events themselves (types, times,
// the user id), the audit rows and the counts are still there. The system
// runs as the docs tell production to: PERSONAL_DATA_KEY on every
// process, version 2 alone (EVENTS_V1=false).
func TestDeletedUserLeavesNothingReadable(t *testing.T) {
	t.Parallel()
	sys := startLifecycle(t, "all", "info", "PERSONAL_DATA_KEY="+personal.GenerateKEK(), "EVENTS_V1=false", "TRUSTED_PROXIES=127.0.0.1/32")
	pool, base := sys.pool, sys.base
	c := apiClient(t, base)
	ctx := t.Context()
	const addr, name, pw = "erasmus.deletable@example.com", "Erasmus Deletable", "correct horse battery staple"
	const ip1, ip2, agent = "203.0.113.77", "198.51.100.23", "ErasureAgent/7.1 (deletable)"
	from := func(ip string) []client.RequestEditorFn {
		return []client.RequestEditorFn{header("X-Forwarded-For", ip), header("User-Agent", agent)}
	}
	ok := func(what string, status int, err error) {
		t.Helper()
		if err != nil || status/100 != 2 {
			t.Fatalf("%s: %d %v", what, status, err)
		}
	}
	r1, err := c.RegisterWithResponse(ctx, nil, client.RegisterRequest{Email: addr, Password: pw, Name: name}, from(ip1)...)
	ok("register", r1.StatusCode(), err)
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	m, err := mailbox.Wait(wctx, sys.sink.Mailbox(), addr, email.KindVerify, nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, _, _ := m.Token()
	r2, err := c.VerifyEmailWithResponse(ctx, nil, client.LinkTokenRequest{Token: raw}, from(ip1)...)
	ok("verify", r2.StatusCode(), err)
	in, err := c.LoginWithResponse(ctx, nil, client.LoginRequest{Email: addr, Password: pw}, from(ip1)...)
	ok("login", in.StatusCode(), err)
	in2, err := c.LoginWithResponse(ctx, nil, client.LoginRequest{Email: addr, Password: pw}, from(ip2)...)
	ok("login from a second IP", in2.StatusCode(), err)
	if r, err := c.LoginWithResponse(ctx, nil, client.LoginRequest{Email: addr, Password: "not " + pw}, from(ip2)...); err != nil || r.StatusCode() != 401 {
		t.Fatalf("a failed login: %v", err)
	}
	r3, err := c.RefreshWithResponse(ctx, nil, client.RefreshRequest{RefreshToken: in.JSON200.RefreshToken}, from(ip1)...)
	ok("refresh", r3.StatusCode(), err)
	user := in.JSON200.User.Id.String()
	// One event of theirs lands in the DLQ: a version 2 login an operator
	// inserted by hand with a malformed time (its fields protected, as
	// every version 2 event's are).
	protected := "pd1." + strings.Repeat("A", 60)
	if _, err := pool.Exec(ctx, `INSERT INTO outbox (subject, payload, ordering_key) VALUES ('auth.user.logged_in_v2', $1, $2)`,
		`{"specversion":"1.0","id":"`+uuid.NewString()+`","source":"auth-service","type":"user.logged_in_v2","time":"2026-12-04T10:00:00.000Z",`+
			`"subject":"`+user+`","datacontenttype":"application/json","dataschema":"https://authevents.dev/schemas/events/user.logged_in/v2.json",`+
			`"serviceversion":"e2e","environment":"test","data":{"userId":"`+user+`","email":"`+protected+`","timestamp":"yesterday",`+
			`"ip":"`+protected+`","userAgent":"`+protected+`","ipPseudonym":"pu1.AAAAAAAAAAAAAAAAAAAAAA","userAgentPseudonym":"pu1.AAAAAAAAAAAAAAAAAAAAAA","keyOwner":"`+user+`"}}`, user); err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(natstest.Connect(t, sys.natsURL))
	messages := func(stream string) uint64 {
		s, err := js.Stream(ctx, stream)
		if err != nil {
			return 0
		}
		return s.CachedInfo().State.Msgs
	}
	// Every consumer has settled every message of the stream.
	settled := func() bool {
		if count(t, pool, `SELECT count(*) FROM outbox`) > 0 {
			return false
		}
		s, err := js.Stream(ctx, "auth-events")
		if err != nil {
			return false
		}
		n := 0
		names := s.ConsumerNames(ctx)
		for name := range names.Name() {
			c, err := s.Consumer(ctx, name)
			if err != nil {
				return false
			}
			if info := c.CachedInfo(); info.NumPending > 0 || info.NumAckPending > 0 {
				return false
			}
			n++
		}
		return n >= 4
	}
	testenv.WaitFor(t, "the events settled by the four consumers, the bad one dead-lettered, a new_ip alert", 30*time.Second, func() bool {
		return settled() && messages("auth-events-dlq") > 0 && count(t, pool, `SELECT count(*) FROM security_alerts WHERE rule = 'new_ip'`) > 0
	})
	secrets := needles{addr: "address", name: "name", ip1: "first IP", ip2: "second IP", agent: "user agent"}
	// The scanners find what is there before the deletion.
	if f, _ := scanTables(t, pool, secrets, nil); len(f) == 0 {
		t.Fatal("before the deletion the table scan finds none of the user's data: it proves nothing")
	}

	del, err := c.DeleteAccountWithResponse(ctx, nil, client.DeleteAccountRequest{Password: pw}, append(from(ip1), bearer(in.JSON200.AccessToken))...)
	if err != nil || del.StatusCode() != 204 {
		t.Fatalf("delete: %v %d", err, del.StatusCode())
	}
	if _, err := mailbox.Wait(wctx, sys.sink.Mailbox(), addr, email.KindAccountDeleted, nil); err != nil {
		t.Fatalf("the confirmation of the deletion: %v", err)
	}
	testenv.WaitFor(t, "user.deleted applied by every consumer", 30*time.Second, func() bool {
		return settled() && count(t, pool, `SELECT count(*) FROM analytics_event_counts WHERE type = 'user.deleted'`) > 0 &&
			count(t, pool, `SELECT count(*) FROM personal_keys WHERE erased_at IS NULL AND user_id <> ALL (SELECT id FROM users)`) == 0
	})
	var found []finding
	f, msgs := scanStream(t, js, "auth-events", secrets)
	found = append(found, f...)
	f, dead := scanStream(t, js, "auth-events-dlq", secrets)
	found = append(found, f...)
	f, rows := scanTables(t, pool, secrets, nil)
	found = append(found, f...)
	f, lines := scanLogs(t, sys.logs, secrets)
	found = append(found, f...)
	t.Logf("after the deletion: scanned %d stream messages, %d dead letters, %d rows, %d log lines", msgs, dead, rows, lines)
	for _, f := range found {
		t.Errorf("%s holds the %s in clear", f.where, f.needle)
	}
	// What stays: the facts.
	if n := count(t, pool, `SELECT count(*) FROM audit_log WHERE user_id = '`+user+`'`); n < 6 {
		t.Errorf("%d audit rows of the user remain, want the record of each event", n)
	}
	if msgs < 8 || dead < 1 || lines < 10 {
		t.Errorf("the scan read too little to prove anything")
	}
}
