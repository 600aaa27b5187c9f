package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/account"
	"github.com/authevents/authevents/api"
	"github.com/authevents/authevents/token"
)

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

// TestChallengeNamesAnErrorOnlyForAPresentedToken: RFC 6750 §3 — a
// request with no authentication information gets a bare Bearer
// challenge; error="invalid_token" only answers a token that was sent.
func TestChallengeNamesAnErrorOnlyForAPresentedToken(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, header, want string }{
		{"no header", "", "Bearer"},
		{"another scheme", "Basic dXNlcjpwYXNz", "Bearer"},
		{"bearer without a token", "Bearer ", "Bearer"},
		{"a refused token", "Bearer nope", `Bearer error="invalid_token"`},
	} {
		tr := newTransport(t, api.Config{})
		r := tr.call(t, "GET", "/auth/me", "", "Authorization", tc.header)
		wantErr(t, r, 401, api.CodeUnauthorized, nil)
		if got := r.header.Values("WWW-Authenticate"); len(got) != 1 || got[0] != tc.want {
			t.Errorf("%s: WWW-Authenticate = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestPersonalAnswersAreNotCached: /auth/me and /auth/sessions carry
// personal data and, like token responses, must stay out of caches.
func TestPersonalAnswersAreNotCached(t *testing.T) {
	t.Parallel()
	tr := newTransport(t, api.Config{})
	tr.fake.me = func(context.Context, uuid.UUID) (*authevents.User, error) { return result(true).User, nil }
	tr.fake.sessions = func(context.Context, uuid.UUID) ([]authevents.Session, error) { return nil, nil }
	for _, path := range []string{"/auth/me", "/auth/sessions"} {
		r := tr.call(t, "GET", path, "", "Authorization", "Bearer "+goodAccess)
		if r.status != 200 || r.header.Get("Cache-Control") != "no-store" || r.header.Get("Pragma") != "no-cache" {
			t.Errorf("%s: %d, Cache-Control %q, Pragma %q", path, r.status, r.header.Get("Cache-Control"), r.header.Get("Pragma"))
		}
	}
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
