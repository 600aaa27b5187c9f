package httpe2e_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/api"
	"github.com/authevents/authevents/internal/metrictest"
	"github.com/authevents/authevents/internal/testenv"
	"github.com/authevents/authevents/outbox/outboxtest"
)

// The request id, the error mapping, panics and the in-flight gauge, the
// request counters and the decoding of bodies are specified by api's
// transport tests; here is what needs the real services.

// TestClientIPIsRecorded: the client address the use cases record in the
// event is the peer, unless the peer is a trusted proxy, then the
// rightmost untrusted hop of X-Forwarded-For.
func TestClientIPIsRecorded(t *testing.T) {
	t.Parallel()
	f := setup(t, api.Config{})
	loginIP := func(f *fixture, xff string) any {
		t.Helper()
		f.register(t, "ip@example.com")
		if r := f.login(t, "ip@example.com", goodPassword, "X-Forwarded-For", xff); r.status != http.StatusOK {
			t.Fatalf("login: %d %s", r.status, r.body)
		}
		evs := outboxtest.RequireCount(t, f.Pool, authevents.EventUserLoggedIn, 1)
		return evs[0].DataMap(t)["ip"]
	}
	if ip := loginIP(f, "203.0.113.9"); ip != "127.0.0.1" {
		t.Errorf("ip with an untrusted X-Forwarded-For = %v, want the peer 127.0.0.1", ip)
	}
	g := setup(t, api.Config{TrustedProxies: []string{"127.0.0.1/32"}})
	if ip := loginIP(g, "198.51.100.1, 203.0.113.9"); ip != "203.0.113.9" {
		t.Errorf("ip behind a trusted proxy = %v, want 203.0.113.9 (the rightmost untrusted hop)", ip)
	}
}

// TestCommittedEventsAreCounted: appended events are counted by type once
// their transaction committed, and each hash is timed, as cmd/api wires
// the metrics.
func TestCommittedEventsAreCounted(t *testing.T) {
	t.Parallel()
	f := setup(t, api.Config{})
	f.register(t, "m@example.com")
	f.login(t, "m@example.com", "wrong password!")
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"authevents_outbox_appended_total", []string{"type", "user.registered"}, 1},
		{"authevents_outbox_appended_total", []string{"type", "user.login_failed"}, 1},
		{"authevents_outbox_appended_total", []string{"type", "user.logged_in"}, 0},
		{"authevents_password_hash_duration_seconds", []string{"op", "hash"}, 1},
		{"authevents_password_hash_duration_seconds", []string{"op", "verify"}, 1},
	} {
		if got, _ := metrictest.Value(t, f.reg, tc.name, tc.labels...); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
}

// TestRequestTimeout: a request that exceeds REQUEST_TIMEOUT (here a login
// stuck on a row lock another transaction holds) answers 503
// service_unavailable with Retry-After, and its transaction is rolled
// back: no session, no last_login_at, no event.
func TestRequestTimeout(t *testing.T) {
	t.Parallel()
	const timeout = 300 * time.Millisecond
	f := setup(t, api.Config{RequestTimeout: timeout})
	reg := f.register(t, "slowdb@example.com")
	ctx := context.Background()
	tx, err := f.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT 1 FROM users WHERE id = $1 FOR UPDATE`, reg.User.ID); err != nil {
		t.Fatal(err)
	}
	// Whatever happens, the lock goes after a generous bound so a missing
	// timeout fails the test instead of hanging it.
	release := time.AfterFunc(20*timeout, func() { tx.Rollback(ctx) })
	begin := time.Now()
	r := f.login(t, "slowdb@example.com", goodPassword)
	took := time.Since(begin)
	release.Stop()
	tx.Rollback(ctx)
	wantError(t, r, http.StatusServiceUnavailable, api.CodeUnavailable)
	if r.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	if took > 10*timeout {
		t.Errorf("login answered after %s, REQUEST_TIMEOUT is %s", took, timeout)
	}
	var sessions, logins int
	f.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM sessions), (SELECT count(*) FROM users WHERE last_login_at IS NOT NULL)`).Scan(&sessions, &logins)
	if sessions != 1 || logins != 0 {
		t.Errorf("a timed-out login left sessions=%d (want 1, register's), last_login_at set=%d", sessions, logins)
	}
	outboxtest.RequireTypes(t, f.Pool, authevents.EventUserRegistered)
	// The service is fine afterwards. A login may itself outlast the
	// 300 ms timeout on a loaded machine (CI met one: a hash and a
	// transaction queued behind other tests), so it gets a few tries; a
	// service left broken by the timeout still fails every one.
	var last response
	testenv.WaitFor(t, "a login once the lock was released", 10*time.Second, func() bool {
		last = f.login(t, "slowdb@example.com", goodPassword)
		return last.status != http.StatusServiceUnavailable
	})
	if last.status != 200 {
		t.Fatalf("login after the lock was released: %d %s", last.status, last.body)
	}
}

// TestValidationNamesEveryField: the use cases name every missing or
// mistyped field at once, and nothing is appended for a refused request.
// (Bodies that are not one JSON object, content types and sizes are the
// transport's: api's TestBodiesAreDecodedStrictly.)
func TestValidationNamesEveryField(t *testing.T) {
	t.Parallel()
	f := setup(t, api.Config{})
	for _, tc := range []struct {
		name, path string
		body       map[string]any
		fields     []string
	}{
		{"all missing", "/auth/register", map[string]any{}, []string{"email", "name", "password"}},
		{"null fields", "/auth/register", map[string]any{"email": nil, "password": nil, "name": nil}, []string{"email", "name", "password"}},
		{"email not a string", "/auth/register", map[string]any{"email": 42, "password": goodPassword, "name": "A"}, []string{"email"}},
		{"name is an object", "/auth/register", map[string]any{"email": "a@b.com", "password": goodPassword, "name": map[string]any{}}, []string{"name"}},
		{"login fields missing", "/auth/login", map[string]any{}, []string{"email", "password"}},
		{"refresh token missing", "/auth/refresh", map[string]any{}, []string{"refreshToken"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, f.do(t, "POST", tc.path, tc.body), http.StatusBadRequest, api.CodeValidation, tc.fields...)
		})
	}
	outboxtest.RequireTypes(t, f.Pool)
}
