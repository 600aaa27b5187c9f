package api_test

// Transport tests: the router in front of a fake use-case layer. They need
// no PostgreSQL, Redis or NATS, and specify what the HTTP layer alone
// decides: status codes, error bodies, headers, decoding, what reaches the
// use case. The rules behind the answers are specified in package account.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/account"
	"github.com/authevents/authevents/api"
	"github.com/authevents/authevents/internal/logging"
	"github.com/authevents/authevents/internal/metrictest"
	"github.com/authevents/authevents/internal/openapitest"
	"github.com/authevents/authevents/internal/testenv"
	"github.com/authevents/authevents/token"
)

type transport struct {
	fake *fakeAccounts
	h    http.Handler
	reg  *prometheus.Registry
	logs *testenv.Buffer
}

func newTransport(t *testing.T, cfg api.Config) *transport {
	t.Helper()
	tr := &transport{fake: newFake(), reg: prometheus.NewRegistry(), logs: &testenv.Buffer{}}
	h, err := api.New(tr.fake, cfg, logging.New(tr.logs, "debug"), api.NewMetrics(tr.reg))
	if err != nil {
		t.Fatal(err)
	}
	tr.h = openapitest.Wrap(t, h) // every exchange is checked against api/openapi.yaml
	return tr
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

// call sends one request; header is name, value pairs. A string body is
// sent as application/json unless a Content-Type header is given.
func (tr *transport) call(t *testing.T, method, path, body string, header ...string) reply {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] == "" {
			req.Header.Del(header[i])
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	tr.h.ServeHTTP(rec, req)
	return reply{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

type errReply struct {
	Error struct {
		Code    string            `json:"code"`
		Message string            `json:"message"`
		Fields  map[string]string `json:"fields"`
	} `json:"error"`
}

// wantErr checks the status and the error body's code and fields.
func wantErr(t *testing.T, r reply, status int, code string, fields map[string]string) errReply {
	t.Helper()
	var e errReply
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("status %d, body %q is not an error object: %v", r.status, r.body, err)
	}
	if r.status != status || e.Error.Code != code {
		t.Fatalf("got %d %q, want %d %q (body %s)", r.status, e.Error.Code, status, code, r.body)
	}
	if e.Error.Message == "" {
		t.Errorf("error without a message: %s", r.body)
	}
	if e.Error.Fields == nil {
		t.Errorf("fields must be an object, never null: %s", r.body)
	}
	if fields != nil {
		if d := cmp.Diff(fields, e.Error.Fields); d != "" {
			t.Errorf("fields (-want +got):\n%s", d)
		}
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("error Content-Type = %q", ct)
	}
	return e
}

const loginBody = `{"email":"a@example.com","password":"a fine password"}`

// TestDomainErrorsMapToOneStatusEach is the error table as a client sees
// it: every domain error the use cases return, its status, code and
// headers, and that a cause never leaks into the body.
func TestDomainErrorsMapToOneStatusEach(t *testing.T) {
	t.Parallel()
	secret := "pq: connection to 10.0.0.7 refused (password=hunter2)"
	cases := []struct {
		name       string
		err        error
		status     int
		code       string
		retryAfter string
		fields     map[string]string
	}{
		{"email taken", authevents.ErrEmailTaken, 409, api.CodeEmailTaken, "", nil}, // sent to register
		{"not found", authevents.ErrNotFound, 404, api.CodeNotFound, "", nil},       // sent to DELETE /auth/sessions/{id}
		{"bad credentials", authevents.ErrInvalidCredentials, 401, api.CodeInvalidCreds, "", nil},
		{"bad refresh token", authevents.ErrInvalidRefreshToken, 401, api.CodeInvalidRefresh, "", nil}, // sent to refresh
		{"dependency down", fmt.Errorf("deny: %w: %s", authevents.ErrUnavailable, secret), 503, api.CodeUnavailable, "1", nil},
		{"deadline", fmt.Errorf("query: %w", context.DeadlineExceeded), 503, api.CodeUnavailable, "1", nil},
		{"rate limited", &authevents.RateLimitedError{Limit: "login_ip", RetryAfter: 1500 * time.Millisecond}, 429, api.CodeRateLimited, "2", nil},
		{"rate limited for less than a second", &authevents.RateLimitedError{Limit: "login_ip", RetryAfter: 0}, 429, api.CodeRateLimited, "1", nil},
		{"validation", &authevents.ValidationError{Fields: map[string]string{"email": "is required", "password": "is required"}},
			400, api.CodeValidation, "", map[string]string{"email": "is required", "password": "is required"}},
		{"unknown", errors.New(secret), 500, api.CodeInternal, "", map[string]string{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tr := newTransport(t, api.Config{})
			// Each error goes through a route that can return it
			// (the contract documents each route's statuses).
			tr.fake.login = func(context.Context, account.LoginInput) (*account.Result, error) { return nil, tc.err }
			tr.fake.register = func(context.Context, account.RegisterInput) (*account.Result, error) { return nil, tc.err }
			tr.fake.endSession = func(context.Context, *token.Verified, uuid.UUID) error { return tc.err }
			tr.fake.refresh = func(context.Context, string, authevents.Client) (*account.Result, error) { return nil, tc.err }
			var r reply
			switch tc.err {
			case authevents.ErrEmailTaken:
				r = tr.call(t, "POST", "/auth/register", `{"email":"a@example.com","password":"a fine password","name":"A"}`)
			case authevents.ErrInvalidRefreshToken:
				r = tr.call(t, "POST", "/auth/refresh", `{"refreshToken":"rt_x"}`)
			case authevents.ErrNotFound:
				r = tr.call(t, "DELETE", "/auth/sessions/"+fakeSession.String(), "", "Authorization", "Bearer "+goodAccess)
			default:
				r = tr.call(t, "POST", "/auth/login", loginBody)
			}
			wantErr(t, r, tc.status, tc.code, tc.fields)
			if got := r.header.Get("Retry-After"); got != tc.retryAfter {
				t.Errorf("Retry-After = %q, want %q", got, tc.retryAfter)
			}
			if got := r.header.Get("WWW-Authenticate"); got != "" {
				t.Errorf("WWW-Authenticate %q on a %s answer; only a refused access token carries it", got, tc.name)
			}
			if strings.Contains(string(r.body), "hunter2") || strings.Contains(string(r.body), "10.0.0.7") {
				t.Errorf("the cause leaked to the client: %s", r.body)
			}
			if strings.Contains(tc.err.Error(), secret) && !strings.Contains(tr.logs.String(), secret) {
				// The cause of a 5xx is logged for operators (the
				// request logger); the client only sees the code.
				t.Errorf("the cause of the %d was not logged: %s", tc.status, tr.logs.String())
			}
		})
	}
}

// TestBodiesAreDecodedStrictly: each malformed body is a 4xx naming the
// problem, and the use case is never called.
func TestBodiesAreDecodedStrictly(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, body, contentType string
		status                  int
		code                    string
		fields                  map[string]string
	}{
		{"no content type", loginBody, "-", 415, api.CodeUnsupportedMedia, nil},
		{"form content type", loginBody, "application/x-www-form-urlencoded", 415, api.CodeUnsupportedMedia, nil},
		{"not JSON", `{"email":`, "", 400, api.CodeInvalidJSON, nil},
		{"empty body", "", "application/json", 400, api.CodeInvalidJSON, nil},
		{"two values", loginBody + loginBody, "", 400, api.CodeInvalidJSON, nil},
		{"array", `[1,2]`, "", 400, api.CodeInvalidJSON, nil},
		{"null", `null`, "", 400, api.CodeInvalidJSON, nil},
		{"number for a string", `{"email":"a@example.com","password":12345678}`, "", 400, api.CodeValidation,
			map[string]string{"password": "must be a string"}},
		{"too large", `{"email":"` + strings.Repeat("a", api.MaxBodyBytes) + `"}`, "", 413, api.CodeTooLarge, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tr := newTransport(t, api.Config{})
			tr.fake.login = func(context.Context, account.LoginInput) (*account.Result, error) { return result(true), nil }
			h := []string{}
			switch tc.contentType {
			case "-":
				h = append(h, "Content-Type", "")
			case "":
			default:
				h = append(h, "Content-Type", tc.contentType)
			}
			wantErr(t, tr.call(t, "POST", "/auth/login", tc.body, h...), tc.status, tc.code, tc.fields)
			if calls := tr.fake.Calls(); len(calls) != 0 {
				t.Errorf("a refused body reached the use case: %v", calls)
			}
		})
	}
	t.Run("charset parameter is accepted", func(t *testing.T) {
		tr := newTransport(t, api.Config{})
		tr.fake.login = func(context.Context, account.LoginInput) (*account.Result, error) { return result(true), nil }
		if r := tr.call(t, "POST", "/auth/login", loginBody, "Content-Type", "application/json; charset=utf-8"); r.status != 200 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
	})
}

// TestRequestsReachTheUseCase: what the handlers pass down, from body,
// headers and the connection.
func TestRequestsReachTheUseCase(t *testing.T) {
	t.Parallel()
	t.Run("register", func(t *testing.T) {
		tr := newTransport(t, api.Config{})
		var got account.RegisterInput
		tr.fake.register = func(_ context.Context, in account.RegisterInput) (*account.Result, error) {
			got = in
			return result(true), nil
		}
		r := tr.call(t, "POST", "/auth/register", `{"email":"a@example.com","password":"a fine password","name":"A"}`, "User-Agent", "curl/8")
		if r.status != http.StatusCreated {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		want := account.RegisterInput{Email: "a@example.com", Password: "a fine password", Name: "A",
			Client: authevents.Client{IP: "192.0.2.1", UserAgent: "curl/8"}}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("input (-want +got):\n%s", d)
		}
	})
	t.Run("login carries the device token", func(t *testing.T) {
		tr := newTransport(t, api.Config{})
		var got account.LoginInput
		tr.fake.login = func(_ context.Context, in account.LoginInput) (*account.Result, error) {
			got = in
			return result(true), nil
		}
		tr.call(t, "POST", "/auth/login", loginBody, "X-Device-Token", "dev-1")
		if got.DeviceToken != "dev-1" || got.Email != "a@example.com" || got.Password != "a fine password" {
			t.Errorf("login input = %+v", got)
		}
	})
	t.Run("refresh without a token is refused before the use case", func(t *testing.T) {
		tr := newTransport(t, api.Config{})
		wantErr(t, tr.call(t, "POST", "/auth/refresh", `{}`), 400, api.CodeValidation, map[string]string{"refreshToken": "is required"})
		if len(tr.fake.Calls()) != 0 {
			t.Errorf("calls = %v", tr.fake.Calls())
		}
	})
	t.Run("client IP trusts only configured proxies", func(t *testing.T) {
		for _, tc := range []struct {
			proxies []string
			want    string
		}{{nil, "192.0.2.1"}, {[]string{"192.0.2.0/24"}, "203.0.113.9"}} {
			tr := newTransport(t, api.Config{TrustedProxies: tc.proxies})
			var got authevents.Client
			tr.fake.refresh = func(_ context.Context, _ string, c authevents.Client) (*account.Result, error) {
				got = c
				return result(false), nil
			}
			tr.call(t, "POST", "/auth/refresh", `{"refreshToken":"rt_x"}`, "X-Forwarded-For", "203.0.113.9")
			if got.IP != tc.want {
				t.Errorf("proxies %v: client IP %q, want %q", tc.proxies, got.IP, tc.want)
			}
		}
	})
}

// TestTokenResponses: the JSON of register, login and refresh, and that
// none of them may be cached.
func TestTokenResponses(t *testing.T) {
	t.Parallel()
	tr := newTransport(t, api.Config{})
	tr.fake.register = func(context.Context, account.RegisterInput) (*account.Result, error) { return result(true), nil }
	tr.fake.login = func(context.Context, account.LoginInput) (*account.Result, error) {
		r := result(true)
		r.DeviceToken = "dev-1"
		return r, nil
	}
	tr.fake.refresh = func(context.Context, string, authevents.Client) (*account.Result, error) { return result(false), nil }
	user := map[string]any{"id": fakeUser.String(), "email": "a@example.com", "name": "A", "createdAt": "2026-01-02T03:04:05.678Z"}
	for _, tc := range []struct {
		path, body string
		status     int
		want       map[string]any
	}{
		{"/auth/register", `{"email":"a@example.com","password":"a fine password","name":"A"}`, 201,
			map[string]any{"accessToken": "at", "refreshToken": "rt_x", "tokenType": "Bearer", "expiresIn": 900.0, "user": user}},
		{"/auth/login", loginBody, 200,
			map[string]any{"accessToken": "at", "refreshToken": "rt_x", "tokenType": "Bearer", "expiresIn": 900.0, "user": user, "deviceToken": "dev-1"}},
		{"/auth/refresh", `{"refreshToken":"rt_x"}`, 200,
			map[string]any{"accessToken": "at", "refreshToken": "rt_x", "tokenType": "Bearer", "expiresIn": 900.0}},
	} {
		r := tr.call(t, "POST", tc.path, tc.body)
		var got map[string]any
		if err := json.Unmarshal(r.body, &got); err != nil || r.status != tc.status {
			t.Fatalf("%s: %d %s", tc.path, r.status, r.body)
		}
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("%s body (-want +got):\n%s", tc.path, d)
		}
		if r.header.Get("Cache-Control") != "no-store" || r.header.Get("Pragma") != "no-cache" {
			t.Errorf("%s: cache headers %q %q", tc.path, r.header.Get("Cache-Control"), r.header.Get("Pragma"))
		}
		if strings.Contains(string(r.body), "argon2") {
			t.Errorf("%s: the password hash leaked: %s", tc.path, r.body)
		}
	}
}

// TestBearerTokens: how the Authorization header is read, and what a
// refused token looks like.
func TestBearerTokens(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, header string
		status       int
	}{
		{"none", "", 401},
		{"basic scheme", "Basic " + goodAccess, 401},
		{"empty bearer", "Bearer ", 401},
		{"wrong token", "Bearer nope", 401},
		{"good", "Bearer " + goodAccess, 200},
		{"scheme is case-insensitive", "bearer " + goodAccess, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tr := newTransport(t, api.Config{})
			tr.fake.me = func(_ context.Context, id uuid.UUID) (*authevents.User, error) {
				if id != fakeUser {
					t.Errorf("Me(%s), want the token's user", id)
				}
				return result(true).User, nil
			}
			r := tr.call(t, "GET", "/auth/me", "", "Authorization", tc.header)
			if tc.status == 200 {
				if r.status != 200 {
					t.Fatalf("status %d: %s", r.status, r.body)
				}
				return
			}
			wantErr(t, r, tc.status, api.CodeUnauthorized, nil)
			if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate = %q", r.header.Get("WWW-Authenticate"))
			}
			if calls := tr.fake.Calls(); len(calls) > 1 || (len(calls) == 1 && calls[0] != "Authenticate") {
				t.Errorf("a refused token reached %v", calls)
			}
		})
	}
	t.Run("denylist down fails closed", func(t *testing.T) {
		t.Parallel()
		tr := newTransport(t, api.Config{})
		tr.fake.authenticate = func(context.Context, string) (*token.Verified, error) {
			return nil, fmt.Errorf("%w: redis: connection refused", authevents.ErrUnavailable)
		}
		wantErr(t, tr.call(t, "GET", "/auth/me", "", "Authorization", "Bearer "+goodAccess), 503, api.CodeUnavailable, nil)
	})
}

// TestSessionRoutes: the answers of the routes behind a valid token.
func TestSessionRoutes(t *testing.T) {
	t.Parallel()
	auth := []string{"Authorization", "Bearer " + goodAccess}
	other := uuid.MustParse("0190a4c8-0000-7000-8000-00000000000f")
	t.Run("sessions mark the current one", func(t *testing.T) {
		tr := newTransport(t, api.Config{})
		at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		tr.fake.sessions = func(context.Context, uuid.UUID) ([]authevents.Session, error) {
			return []authevents.Session{
				{ID: fakeSession, CreatedAt: at, LastUsedAt: at, IP: "192.0.2.1", UserAgent: "ua", RefreshJTI: fakeJTI},
				{ID: other, CreatedAt: at, LastUsedAt: at},
			}, nil
		}
		r := tr.call(t, "GET", "/auth/sessions", "", auth...)
		var got api.SessionsResponse
		if err := json.Unmarshal(r.body, &got); err != nil || r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		if len(got.Sessions) != 2 || !got.Sessions[0].Current || got.Sessions[1].Current {
			t.Errorf("sessions = %+v", got.Sessions)
		}
		if strings.Contains(string(r.body), fakeJTI.String()) {
			t.Errorf("a refresh token id leaked: %s", r.body)
		}
	})
	t.Run("logout all counts", func(t *testing.T) {
		tr := newTransport(t, api.Config{})
		tr.fake.logoutAll = func(context.Context, *token.Verified) (int, error) { return 3, nil }
		r := tr.call(t, "POST", "/auth/logout/all", "", auth...)
		if r.status != 200 || !strings.Contains(string(r.body), `"sessionsEnded":3`) {
			t.Errorf("%d %s", r.status, r.body)
		}
	})
	t.Run("logout", func(t *testing.T) {
		tr := newTransport(t, api.Config{})
		var got *token.Verified
		tr.fake.logout = func(_ context.Context, v *token.Verified) error { got = v; return nil }
		if r := tr.call(t, "POST", "/auth/logout", "", auth...); r.status != 200 || got == nil || got.SessionID != fakeSession {
			t.Errorf("%d %s, logout of %+v", r.status, r.body, got)
		}
	})
	t.Run("ending a session", func(t *testing.T) {
		tr := newTransport(t, api.Config{})
		tr.fake.endSession = func(_ context.Context, _ *token.Verified, id uuid.UUID) error {
			if id == other {
				return nil
			}
			return authevents.ErrNotFound
		}
		if r := tr.call(t, "DELETE", "/auth/sessions/"+other.String(), "", auth...); r.status != 200 {
			t.Errorf("%d %s", r.status, r.body)
		}
		wantErr(t, tr.call(t, "DELETE", "/auth/sessions/"+uuid.NewString(), "", auth...), 404, api.CodeNotFound, nil)
		n := len(tr.fake.Calls())
		wantErr(t, tr.call(t, "DELETE", "/auth/sessions/not-a-uuid", "", auth...), 404, api.CodeNotFound, nil)
		// Only the canonical spelling the API hands out (format: uuid);
		// uuid.Parse also takes {…}, urn:uuid: and unhyphenated forms.
		for _, odd := range []string{"{" + other.String() + "}", "urn:uuid:" + other.String(), strings.ReplaceAll(other.String(), "-", "")} {
			wantErr(t, tr.call(t, "DELETE", "/auth/sessions/"+odd, "", auth...), 404, api.CodeNotFound, nil)
		}
		if calls := tr.fake.Calls()[n:]; len(calls) != 4 {
			t.Errorf("a malformed id reached the use case: %v", calls)
		}
	})
}

// TestRoutingAnswersInJSON: unknown paths and methods, the JWKS document.
func TestRoutingAnswersInJSON(t *testing.T) {
	t.Parallel()
	tr := newTransport(t, api.Config{})
	wantErr(t, tr.call(t, "GET", "/auth/nope", ""), 404, api.CodeNotFound, nil)
	wantErr(t, tr.call(t, "GET", "/auth/login", ""), 405, api.CodeMethodNotAllowed, nil)
	wantErr(t, tr.call(t, "GET", "/auth/me/", ""), 404, api.CodeNotFound, nil)
	r := tr.call(t, "GET", "/.well-known/jwks.json", "")
	if r.status != 200 || r.header.Get("Cache-Control") != "public, max-age=300" || !strings.Contains(string(r.body), `"kid":"k1"`) {
		t.Errorf("jwks: %d %q %s", r.status, r.header.Get("Cache-Control"), r.body)
	}
	if v := metrictest.Must(t, tr.reg, "authevents_http_requests_total", "route", "unmatched", "status", "404"); v != 2 {
		t.Errorf("unmatched 404s counted %v, want 2", v)
	}
}

// TestRequestID: a sane client id is echoed, anything else replaced.
func TestRequestID(t *testing.T) {
	t.Parallel()
	tr := newTransport(t, api.Config{})
	if got := tr.call(t, "GET", "/.well-known/jwks.json", "", "X-Request-ID", "abc-123").header.Get("X-Request-ID"); got != "abc-123" {
		t.Errorf("echoed %q", got)
	}
	for _, bad := range []string{"has space", strings.Repeat("x", 129), "tab\there"} {
		got := tr.call(t, "GET", "/.well-known/jwks.json", "", "X-Request-ID", bad).header.Get("X-Request-ID")
		if _, err := uuid.Parse(got); err != nil {
			t.Errorf("X-Request-ID %q came back as %q, want a fresh uuid", bad, got)
		}
	}
}

// TestPanicAndTimeout: a panicking use case is a JSON 500 and the server
// keeps serving; a use case still running at the request deadline answers
// 503; neither leaves the in-flight gauge up.
func TestPanicAndTimeout(t *testing.T) {
	t.Parallel()
	tr := newTransport(t, api.Config{RequestTimeout: 50 * time.Millisecond})
	tr.fake.login = func(context.Context, account.LoginInput) (*account.Result, error) { panic("boom") }
	wantErr(t, tr.call(t, "POST", "/auth/login", loginBody), 500, api.CodeInternal, nil)
	tr.fake.login = func(ctx context.Context, _ account.LoginInput) (*account.Result, error) {
		<-ctx.Done() // ends only at the request deadline
		return nil, ctx.Err()
	}
	r := tr.call(t, "POST", "/auth/login", loginBody)
	wantErr(t, r, 503, api.CodeUnavailable, nil)
	if r.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	if v := metrictest.Must(t, tr.reg, "authevents_http_requests_in_flight"); v != 0 {
		t.Errorf("in-flight gauge %v after every request ended", v)
	}
}

// TestMetricLabelsAreBounded: a client choosing methods (XA1, XA2, …)
// must not create new series: every method outside the HTTP methods the
// API knows is counted as "other". Found by review: each made ~17 series.
func TestMetricLabelsAreBounded(t *testing.T) {
	t.Parallel()
	tr := newTransport(t, api.Config{})
	for i := range 5 {
		tr.call(t, fmt.Sprintf("XA%d", i), "/auth/login", "")
	}
	families, err := tr.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "method" && strings.HasPrefix(l.GetValue(), "XA") {
					t.Fatalf("%s has a series for method %q", f.GetName(), l.GetValue())
				}
			}
		}
	}
	if v := metrictest.Must(t, tr.reg, "authevents_http_requests_total", "method", "other"); v != 5 {
		t.Errorf("other methods counted %v, want 5", v)
	}
}
