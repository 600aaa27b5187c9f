// Package e2e runs the whole system as processes — bin/api, bin/relay and
// bin/consumer --service all — against real PostgreSQL, Redis and a private
// NATS JetStream server, and checks every downstream effect of a sequence
// of auth requests.
package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/authevents/authevents/api/client"
	"github.com/authevents/authevents/eventschema/eventschematest"

	"github.com/authevents/authevents/db/postgres/pgtest"
	"github.com/authevents/authevents/db/redistest"
	"github.com/authevents/authevents/internal/natstest"
	"github.com/authevents/authevents/internal/openapitest"
	"github.com/authevents/authevents/internal/testenv"
	"github.com/authevents/authevents/token"
)

func build(t *testing.T) string {
	t.Helper()
	return testenv.BuildCommands(t, "./cmd/api", "./cmd/relay", "./cmd/consumer")
}

// waitAPI waits until the api at base answers.
func waitAPI(t *testing.T, base string) {
	t.Helper()
	testenv.WaitFor(t, "the api", 20*time.Second, func() bool {
		res, err := http.Get(base + "/.well-known/jwks.json")
		if err == nil {
			res.Body.Close()
		}
		return err == nil
	})
}

// start runs bin until the test ends and returns the file its output
// (its log) goes to.
func start(t *testing.T, bin string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	logPath := filepath.Join(t.TempDir(), filepath.Base(bin)+".log")
	logf, _ := os.Create(logPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
		}
		if t.Failed() {
			logf.Seek(0, 0)
			sc := bufio.NewScanner(logf)
			n := 0
			for sc.Scan() && n < 30 {
				t.Logf("[%s] %s", filepath.Base(bin), sc.Text())
				n++
			}
		}
	})
	return logPath
}

// apiClient is the typed client generated from api/openapi.yaml, over a
// transport that checks every exchange against the document: the end-to-
// end flow proves the spec serves the clients it is written for.
func apiClient(t *testing.T, base string) *client.ClientWithResponses {
	t.Helper()
	c, err := client.NewClientWithResponses(base,
		client.WithHTTPClient(&http.Client{Transport: openapitest.Transport(t, nil), Timeout: 30 * time.Second}),
		client.WithRequestEditorFn(header("User-Agent", "e2e/1.0")))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// header sets a request header.
func header(name, value string) client.RequestEditorFn {
	return func(_ context.Context, r *http.Request) error { r.Header.Set(name, value); return nil }
}

func bearer(token string) client.RequestEditorFn { return header("Authorization", "Bearer "+token) }

func count(t *testing.T, pool *pgxpool.Pool, sql string) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), sql).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestEndToEnd(t *testing.T) {
	t.Parallel()
	bins := build(t)
	pool, dbURL := pgtest.NewWithURL(t)
	_, prefix := redistest.New(t)
	nats := natstest.Start(t)
	key := filepath.Join(t.TempDir(), "key.pem")
	if err := token.GenerateKeyFile(key); err != nil {
		t.Fatal(err)
	}
	mailDir := filepath.Join(t.TempDir(), "mail")
	httpAddr := testenv.FreeAddr(t)
	env := append(os.Environ(), "DATABASE_URL="+dbURL, "REDIS_URL="+redistest.URL(), "REDIS_KEY_PREFIX="+prefix,
		"NATS_URL="+nats.URL(), "JWT_PRIVATE_KEY_FILE="+key, "ARGON2_MEMORY_KIB=256", "ARGON2_ITERATIONS=1",
		"TRUSTED_PROXIES=127.0.0.1", "RATE_LIMIT_ENABLED=false", "MAIL_DIR="+mailDir, "LOG_LEVEL=warn",
		"CONSUMER_BACKOFF=200ms,200ms",
		// The flow of sessions and their events, with users signed in at
		// registration; TestLifecycleInTheBrowser covers required mode.
		"EMAIL_VERIFICATION=optional")
	start(t, filepath.Join(bins, "relay"), append(env, "OPS_ADDR="+testenv.FreeAddr(t)))
	start(t, filepath.Join(bins, "consumer"), append(env, "OPS_ADDR="+testenv.FreeAddr(t)), "--service", "all")
	start(t, filepath.Join(bins, "api"), append(env, "HTTP_ADDR="+httpAddr, "OPS_ADDR="+testenv.FreeAddr(t)))
	base := "http://" + httpAddr
	waitAPI(t, base)
	c := apiClient(t, base)
	ctx := context.Background()

	const pw = "correct horse battery staple"
	for _, name := range []string{"ada", "bob", "cyd"} {
		res, err := c.RegisterWithResponse(ctx, nil, client.RegisterRequest{Email: name + "@example.com", Password: pw, Name: name})
		if err != nil || res.JSON201 == nil {
			t.Fatalf("register %s: %v %s", name, err, body(res))
		}
		if string(res.JSON201.User.Email) != name+"@example.com" || res.JSON201.TokenType != client.Bearer {
			t.Errorf("register %s: %+v", name, res.JSON201)
		}
	}
	login := func(name, ip string) *client.LoginResponse {
		res, err := c.LoginWithResponse(ctx, nil, client.LoginRequest{Email: name + "@example.com", Password: pw}, header("X-Forwarded-For", ip))
		if err != nil || res.JSON200 == nil {
			t.Fatalf("login %s: %v %s", name, err, body(res))
		}
		return res.JSON200
	}
	ada1 := login("ada", "198.51.100.1")
	ada2 := login("ada", "203.0.113.50") // a new IP for ada: alert
	bob := login("bob", "198.51.100.2")
	// Two rotations, then a replay of the first token: reuse.
	r1, err := c.RefreshWithResponse(ctx, nil, client.RefreshRequest{RefreshToken: ada1.RefreshToken})
	if err != nil || r1.JSON200 == nil {
		t.Fatalf("first refresh: %v %s", err, body(r1))
	}
	if r2, err := c.RefreshWithResponse(ctx, nil, client.RefreshRequest{RefreshToken: r1.JSON200.RefreshToken}); err != nil || r2.JSON200 == nil {
		t.Fatalf("second refresh: %v %s", err, body(r2))
	}
	replay, err := c.RefreshWithResponse(ctx, nil, client.RefreshRequest{RefreshToken: ada1.RefreshToken})
	if err != nil || replay.JSON401 == nil || replay.JSON401.Error.Code != client.ErrorCodeInvalidRefreshToken {
		t.Fatalf("replayed refresh token: %v %s, want 401 invalid_refresh_token", err, body(replay))
	}
	// The reader's side: who am I, and where am I signed in.
	me, err := c.MeWithResponse(ctx, nil, bearer(ada2.AccessToken))
	if err != nil || me.JSON200 == nil || me.JSON200.Id != ada2.User.Id || me.HTTPResponse.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("me: %v %s", err, body(me))
	}
	sessions, err := c.ListSessionsWithResponse(ctx, nil, bearer(ada2.AccessToken))
	if err != nil || sessions.JSON200 == nil {
		t.Fatalf("sessions: %v %s", err, body(sessions))
	}
	current := 0
	for _, s := range sessions.JSON200.Sessions {
		if s.Current {
			current++
		}
	}
	// register's session and the second login; the first login's session
	// was revoked by the reuse.
	if len(sessions.JSON200.Sessions) != 2 || current != 1 {
		t.Errorf("ada's sessions: %+v, want 2 with one current", sessions.JSON200.Sessions)
	}
	if res, err := c.LogoutWithResponse(ctx, nil, bearer(bob.AccessToken)); err != nil || res.JSON200 == nil {
		t.Fatalf("logout: %v %s", err, body(res))
	}
	if res, err := c.MeWithResponse(ctx, nil, bearer(bob.AccessToken)); err != nil || res.JSON401 == nil {
		t.Fatalf("me after logout: %v %s, want 401", err, body(res))
	}
	for range 5 {
		res, err := c.LoginWithResponse(ctx, nil, client.LoginRequest{Email: "cyd@example.com", Password: "not the password"}, header("X-Forwarded-For", "192.0.2.99"))
		if err != nil || res.JSON401 == nil || res.JSON401.Error.Code != client.ErrorCodeInvalidCredentials {
			t.Fatalf("failed login: %v %s", err, body(res))
		}
	}
	const events = 3 + 3 + 2 + 1 + 1 + 5 // registered, logged_in, refreshed, reuse, logged_out, login_failed

	testenv.WaitFor(t, "every event in the audit log", 30*time.Second, func() bool {
		return count(t, pool, `SELECT count(*) FROM audit_log`) == events
	})
	testenv.WaitFor(t, "analytics", 10*time.Second, func() bool {
		return count(t, pool, `SELECT COALESCE(sum(count), 0) FROM analytics_event_counts`) == events
	})
	testenv.WaitFor(t, "three welcome emails", 10*time.Second, func() bool {
		files, _ := filepath.Glob(filepath.Join(mailDir, "*.eml"))
		return len(files) == 3
	})
	if n := count(t, pool, `SELECT count(*) FROM outbox`); n != 0 {
		t.Errorf("%d outbox rows left", n)
	}
	// Every event the relay published keeps its contract, and none was
	// dead-lettered by a consumer's validation.
	js, err := jetstream.New(natstest.Connect(t, nats.URL()))
	if err != nil {
		t.Fatal(err)
	}
	published := map[string]int{}
	for _, m := range natstest.Collect(t, js, "auth-events", events, 10*time.Second) {
		typ := eventschematest.Check(t, m.Subject(), m.Data())
		published[typ]++
		var ce struct{ ID string }
		json.Unmarshal(m.Data(), &ce)
		if id := m.Headers().Get(jetstream.MsgIDHeader); id != ce.ID {
			t.Errorf("Nats-Msg-Id %q, event id %q", id, ce.ID)
		}
	}
	if dlq, err := js.Stream(ctx, "auth-events-dlq"); err != nil || dlq.CachedInfo().State.Msgs != 0 {
		t.Errorf("dead-letter stream: %v, %+v", err, dlq)
	}
	byType := map[string]int{}
	rows, _ := pool.Query(context.Background(), `SELECT type, sum(count) FROM analytics_event_counts GROUP BY type`)
	for rows.Next() {
		var typ string
		var n int
		rows.Scan(&typ, &n)
		byType[typ] = n
	}
	rows.Close()
	want := map[string]int{"user.registered": 3, "user.logged_in": 3, "user.token_refreshed": 2,
		"user.token_reuse_detected": 1, "user.logged_out": 1, "user.login_failed": 5}
	for k, v := range want {
		if byType[k] != v {
			t.Errorf("analytics %s = %d, want %d", k, byType[k], v)
		}
		if published[k] != v {
			t.Errorf("%d %s events on the stream, want %d", published[k], k, v)
		}
	}
	testenv.WaitFor(t, "security alerts", 10*time.Second, func() bool {
		return count(t, pool, `SELECT count(*) FROM security_alerts`) >= 3
	})
	var rules []string
	rows, _ = pool.Query(context.Background(), `SELECT rule FROM security_alerts ORDER BY id`)
	for rows.Next() {
		var r string
		rows.Scan(&r)
		rules = append(rules, r)
	}
	rows.Close()
	if got := strings.Join(rules, ","); got != "new_ip,token_reuse,failed_logins" {
		t.Errorf("security alerts = %s, want new_ip,token_reuse,failed_logins", got)
	}
	files, _ := filepath.Glob(filepath.Join(mailDir, "*.eml"))
	var to []string
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, line := range strings.Split(string(b), "\r\n") {
			if strings.HasPrefix(line, "To: ") {
				to = append(to, line)
			}
		}
	}
	if len(to) != 3 {
		t.Errorf("welcome emails to %v, want one each for ada, bob, cyd", to)
	}
	leave(t, c, pool, js, mailDir, ada2, events)
}

// body shows a generated client's reply (a *XxxReply) in a failure
// message: its status and body.
func body(reply any) string {
	v := reflect.ValueOf(reply)
	if !v.IsValid() || v.IsNil() {
		return "(no reply)"
	}
	v = v.Elem()
	res := v.FieldByName("HTTPResponse").Interface().(*http.Response)
	return fmt.Sprintf("%d %s", res.StatusCode, v.FieldByName("Body").Bytes())
}
