package httpe2e_test

import (
	"context"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/api"
	"github.com/authevents/authevents/internal/testenv"
	"github.com/authevents/authevents/outbox/outboxtest"
)

// TestRequestIDAndClientIP: a sane X-Request-ID is echoed and logged, an
// over-long one replaced, a missing one generated; the client address the
// use cases record is the peer, unless the peer is a trusted proxy, then
// the rightmost untrusted hop of X-Forwarded-For.
func TestRequestIDAndClientIP(t *testing.T) {
	t.Parallel()
	f := setup(t, api.Config{})
	r := f.do(t, "GET", "/.well-known/jwks.json", nil, "X-Request-ID", "abc-123")
	if r.header.Get("X-Request-ID") != "abc-123" {
		t.Errorf("X-Request-ID echoed as %q", r.header.Get("X-Request-ID"))
	}
	r = f.do(t, "GET", "/.well-known/jwks.json", nil, "X-Request-ID", strings.Repeat("a", 200))
	if id := r.header.Get("X-Request-ID"); len(id) != 36 {
		t.Errorf("over-long request id not replaced: %q", id)
	}
	r = f.do(t, "GET", "/.well-known/jwks.json", nil)
	if _, err := uuid.Parse(r.header.Get("X-Request-ID")); err != nil {
		t.Errorf("generated request id %q is not a UUID", r.header.Get("X-Request-ID"))
	}
	if !strings.Contains(f.logs.String(), `"request_id":"abc-123"`) || !strings.Contains(f.logs.String(), `"route":"/.well-known/jwks.json"`) {
		t.Errorf("access log missing: %s", f.logs.String())
	}

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

// TestMetrics: requests are counted by route, method and status (unknown
// routes as "unmatched"), and appended events by type once committed.
func TestMetrics(t *testing.T) {
	t.Parallel()
	f := setup(t, api.Config{})
	f.register(t, "m@example.com")
	f.login(t, "m@example.com", "wrong password!")
	f.do(t, "GET", "/no/such/route/"+uuid.NewString(), nil)
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"authevents_http_requests_total", map[string]string{"route": "/auth/register", "method": "POST", "status": "201"}, 1},
		{"authevents_http_requests_total", map[string]string{"route": "/auth/login", "method": "POST", "status": "401"}, 1},
		{"authevents_http_requests_total", map[string]string{"route": "unmatched", "method": "GET", "status": "404"}, 1},
		{"authevents_outbox_appended_total", map[string]string{"type": "user.registered"}, 1},
		{"authevents_outbox_appended_total", map[string]string{"type": "user.login_failed"}, 1},
	} {
		if got := counter(t, f.reg, tc.name, tc.labels); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
}

// counter reads one counter series by name and exact label set.
func counter(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			if maps.Equal(got, labels) {
				return m.GetCounter().GetValue()
			}
		}
		var series [][]string
		for _, m := range mf.GetMetric() {
			var vals []string
			for _, l := range m.GetLabel() {
				vals = append(vals, l.GetName()+"="+l.GetValue())
			}
			series = append(series, slices.Sorted(slices.Values(vals)))
		}
		t.Logf("%s series: %v", name, series)
	}
	return 0
}

// gauge reads an unlabelled gauge from the registry.
func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("gauge %s not found", name)
	return 0
}

// TestInFlightGaugeSurvivesPanics: the in-flight gauge was decremented
// after c.Next() returned, so a panic that the recovery middleware passes
// on (http.ErrAbortHandler, which net/http uses to abort a response) left
// it one higher for ever. A panic of either kind leaves it at zero.
func TestInFlightGaugeSurvivesPanics(t *testing.T) {
	t.Parallel()
	f := setup(t, api.Config{})
	e := f.h.(*gin.Engine)
	e.GET("/test/panic", func(*gin.Context) { panic("boom") })
	e.GET("/test/abort", func(*gin.Context) { panic(http.ErrAbortHandler) })
	// Test-only routes are not in the contract: served without the
	// OpenAPI check that f.srv applies.
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)

	res, err := http.Get(srv.URL + "/test/panic")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	wantError(t, response{status: res.StatusCode, header: res.Header, body: body}, http.StatusInternalServerError, api.CodeInternal)
	if res, err := http.Get(srv.URL + "/test/abort"); err == nil {
		res.Body.Close()
		t.Fatalf("aborted handler answered %d, want the connection aborted", res.StatusCode)
	}
	testenv.WaitFor(t, "the in-flight gauge back at 0", 5*time.Second, func() bool {
		return gauge(t, f.reg, "authevents_http_requests_in_flight") == 0
	})
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
	// The service is fine afterwards.
	if r := f.login(t, "slowdb@example.com", goodPassword); r.status != 200 {
		t.Fatalf("login after the lock was released: %d %s", r.status, r.body)
	}
}

// TestMalformedRequests: bodies that are not one JSON object of the right
// field types, the wrong content type and oversized bodies are refused by
// the transport with their own codes, before any use case runs; the
// charset parameter is accepted; unknown routes and methods have JSON
// errors too.
func TestMalformedRequests(t *testing.T) {
	t.Parallel()
	f := setup(t, api.Config{})
	big := `{"email":"a@b.com","password":"` + strings.Repeat("x", 70<<10) + `","name":"A"}`
	for _, path := range []string{"/auth/register", "/auth/login", "/auth/refresh"} {
		for _, tc := range []struct {
			name        string
			body        string
			contentType string
			status      int
			code        string
		}{
			{"not json", "{email:", "application/json", 400, api.CodeInvalidJSON},
			{"truncated", `{"email":"a@b.com"`, "application/json", 400, api.CodeInvalidJSON},
			{"empty body", "", "application/json", 400, api.CodeInvalidJSON},
			{"array", `[1,2]`, "application/json", 400, api.CodeInvalidJSON},
			{"string", `"hello"`, "application/json", 400, api.CodeInvalidJSON},
			{"two objects", `{"email":"a@b.com"} {"x":1}`, "application/json", 400, api.CodeInvalidJSON},
			{"form encoded", "email=a@b.com", "application/x-www-form-urlencoded", 415, api.CodeUnsupportedMedia},
			{"no content type", `{"email":"a@b.com"}`, "", 415, api.CodeUnsupportedMedia},
			{"text/plain", `{"email":"a@b.com"}`, "text/plain", 415, api.CodeUnsupportedMedia},
			{"over 64 KiB", big, "application/json", 413, api.CodeTooLarge},
		} {
			t.Run(path+"/"+tc.name, func(t *testing.T) {
				wantError(t, f.do(t, "POST", path, tc.body, "Content-Type", tc.contentType), tc.status, tc.code)
			})
		}
	}
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

	r := f.do(t, "POST", "/auth/register", `{"email":"cs@b.com","password":"`+goodPassword+`","name":"A"}`, "Content-Type", "application/json; charset=utf-8")
	if r.status != http.StatusCreated {
		t.Fatalf("application/json; charset=utf-8 -> %d %s", r.status, r.body)
	}
	wantError(t, f.do(t, "GET", "/nope", nil), http.StatusNotFound, api.CodeNotFound)
	wantError(t, f.do(t, "GET", "/auth/register", nil), http.StatusMethodNotAllowed, api.CodeMethodNotAllowed)
}
