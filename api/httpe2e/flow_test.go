package httpe2e_test

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/account/accounttest"
	"github.com/authevents/authevents/api"
	"github.com/authevents/authevents/outbox/outboxtest"
)

// TestEndToEnd walks every endpoint once through the real router and
// services: register → login → me → refresh → sessions → end a session →
// logout → login → logout/all, and the JWKS. Each answer has its status,
// exact JSON keys and caching headers, each bearer route refuses a token
// the previous step ended, and the outbox holds the events of the walk in
// order.
func TestEndToEnd(t *testing.T) {
	t.Parallel()
	f := setup(t, api.Config{})

	r := f.do(t, "POST", "/auth/register", map[string]string{"email": "  Ada@Example.COM ", "password": goodPassword, "name": " Ada Lovelace "})
	if r.status != http.StatusCreated || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("register: %d (Cache-Control %q) %s", r.status, r.header.Get("Cache-Control"), r.body)
	}
	if got := r.keys(t); !cmp.Equal(got, []string{"accessToken", "expiresIn", "refreshToken", "tokenType", "user"}) {
		t.Errorf("register response keys = %v", got)
	}
	var reg api.TokenResponse
	r.json(t, &reg)
	var raw struct{ User map[string]any }
	r.json(t, &raw)
	if reg.TokenType != "Bearer" || reg.ExpiresIn != 900 || reg.User.Email != "ada@example.com" || reg.User.Name != "Ada Lovelace" || len(raw.User) != 4 {
		t.Fatalf("register response = %s", r.body)
	}

	r = f.login(t, "ada@example.com", goodPassword, "User-Agent", "phone/2.0")
	var login api.TokenResponse
	r.json(t, &login)
	if r.status != http.StatusOK || r.header.Get("Cache-Control") != "no-store" || login.User == nil || login.User.ID != reg.User.ID || login.DeviceToken == "" {
		t.Fatalf("login: %d %s", r.status, r.body)
	}

	r = f.do(t, "GET", "/auth/me", nil, "Authorization", "bearer "+reg.AccessToken) // the scheme is case-insensitive
	var me api.UserResponse
	r.json(t, &me)
	if r.status != http.StatusOK || me.ID != reg.User.ID || me.Email != "ada@example.com" || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("me: %d %s", r.status, r.body)
	}
	for name, hdr := range map[string]string{"no header": "", "basic auth": "Basic dXNlcjpwYXNz", "bearer only": "Bearer ", "garbage": "Bearer garbage"} {
		r := f.do(t, "GET", "/auth/me", nil, "Authorization", hdr)
		wantError(t, r, http.StatusUnauthorized, api.CodeUnauthorized)
		if r.header.Get("WWW-Authenticate") == "" {
			t.Errorf("me with %s: 401 without WWW-Authenticate", name)
		}
	}

	r = f.do(t, "POST", "/auth/refresh", map[string]string{"refreshToken": reg.RefreshToken})
	if r.status != http.StatusOK || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("refresh: %d %s", r.status, r.body)
	}
	if got := r.keys(t); !cmp.Equal(got, []string{"accessToken", "expiresIn", "refreshToken", "tokenType"}) {
		t.Errorf("refresh response keys = %v", got)
	}
	var rotated api.TokenResponse
	r.json(t, &rotated)
	if rotated.RefreshToken == reg.RefreshToken || rotated.TokenType != "Bearer" || rotated.ExpiresIn != 900 {
		t.Fatalf("refresh did not rotate: %s", r.body)
	}

	r = f.do(t, "GET", "/auth/sessions", nil, bearer(rotated.AccessToken)...)
	var list api.SessionsResponse
	r.json(t, &list)
	if r.status != http.StatusOK || len(list.Sessions) != 2 {
		t.Fatalf("sessions: %d %s", r.status, r.body)
	}
	var current, phone api.SessionResponse
	for _, s := range list.Sessions {
		if s.Current {
			current = s
		} else {
			phone = s
		}
	}
	if current.UserAgent != "authevents-test/1.0" || current.IP != "127.0.0.1" || phone.UserAgent != "phone/2.0" || phone.ID == "" {
		t.Errorf("sessions = %s, want the registration's current, the phone's not", r.body)
	}

	if r := f.do(t, "DELETE", "/auth/sessions/"+phone.ID, nil, bearer(rotated.AccessToken)...); r.status != http.StatusOK {
		t.Fatalf("end session: %d %s", r.status, r.body)
	}
	wantError(t, f.do(t, "DELETE", "/auth/sessions/"+phone.ID, nil, bearer(rotated.AccessToken)...), http.StatusNotFound, api.CodeNotFound)
	wantError(t, f.do(t, "DELETE", "/auth/sessions/not-a-uuid", nil, bearer(rotated.AccessToken)...), http.StatusNotFound, api.CodeNotFound)
	wantError(t, f.do(t, "GET", "/auth/me", nil, bearer(login.AccessToken)...), http.StatusUnauthorized, api.CodeUnauthorized)

	r = f.do(t, "POST", "/auth/logout", nil, bearer(rotated.AccessToken)...)
	var msg api.MessageResponse
	r.json(t, &msg)
	if r.status != http.StatusOK || msg.Message == "" || r.keys(t)[0] != "message" || len(r.keys(t)) != 1 {
		t.Fatalf("logout: %d %s", r.status, r.body)
	}
	wantError(t, f.do(t, "GET", "/auth/me", nil, bearer(rotated.AccessToken)...), http.StatusUnauthorized, api.CodeUnauthorized)
	wantError(t, f.do(t, "POST", "/auth/refresh", map[string]string{"refreshToken": rotated.RefreshToken}), http.StatusUnauthorized, api.CodeInvalidRefresh)

	var again api.TokenResponse
	f.login(t, "ada@example.com", goodPassword).json(t, &again)
	r = f.do(t, "POST", "/auth/logout/all", nil, bearer(again.AccessToken)...)
	var all map[string]any
	r.json(t, &all)
	if r.status != http.StatusOK || all["sessionsEnded"] != float64(1) || all["message"] == "" {
		t.Fatalf("logout/all: %d %s, want 1 session ended", r.status, r.body)
	}
	wantError(t, f.do(t, "GET", "/auth/sessions", nil, bearer(again.AccessToken)...), http.StatusUnauthorized, api.CodeUnauthorized)

	r = f.do(t, "GET", "/.well-known/jwks.json", nil)
	var doc struct{ Keys []map[string]any }
	r.json(t, &doc)
	if r.status != http.StatusOK || len(doc.Keys) != 1 || doc.Keys[0]["kid"] != f.Tokens.KeyID() || r.header.Get("Cache-Control") != "public, max-age=300" {
		t.Fatalf("jwks: %d %s", r.status, r.body)
	}
	if _, ok := doc.Keys[0]["d"]; ok {
		t.Fatal("JWKS exposes the private key")
	}

	outboxtest.RequireTypes(t, f.Pool,
		authevents.EventUserRegistered, authevents.EventUserLoggedIn, authevents.EventUserTokenRefreshed,
		authevents.EventUserLoggedOut, authevents.EventUserLoggedOut, authevents.EventUserLoggedIn, authevents.EventUserLoggedOut)
}

// TestDomainErrorMapping: errors as the real services produce them reach
// the client with their status and code: a taken email, a refused login
// (byte for byte the same for a wrong password, an unknown email and a
// malformed one), a refused refresh, a rejected field, and a rate limit
// with Retry-After, the same body for a known and an unknown account.
func TestDomainErrorMapping(t *testing.T) {
	t.Parallel()
	f := setup(t, api.Config{}, func(o *accounttest.Options) { o.Limits = loginLimit(3) })
	f.register(t, "known@example.com")
	wantError(t, f.do(t, "POST", "/auth/register", map[string]string{"email": "KNOWN@example.com", "password": goodPassword, "name": "B"}), http.StatusConflict, api.CodeEmailTaken)
	wantError(t, f.do(t, "POST", "/auth/register", map[string]string{"email": "nope", "password": "short", "name": "B"}), http.StatusBadRequest, api.CodeValidation, "email", "password")
	wantError(t, f.do(t, "POST", "/auth/refresh", map[string]string{"refreshToken": "garbage"}), http.StatusUnauthorized, api.CodeInvalidRefresh)

	wrong := f.login(t, "known@example.com", "not the password")
	unknown := f.login(t, "nobody@example.com", "not the password")
	malformed := f.login(t, "not-an-email", "not the password")
	wantError(t, wrong, http.StatusUnauthorized, api.CodeInvalidCreds)
	if !bytes.Equal(wrong.body, unknown.body) || !bytes.Equal(wrong.body, malformed.body) {
		t.Errorf("bodies differ:\n%s\n%s\n%s", wrong.body, unknown.body, malformed.body)
	}
	if wrong.header.Get("WWW-Authenticate") != unknown.header.Get("WWW-Authenticate") {
		t.Error("headers differ between unknown email and wrong password")
	}

	for range 2 {
		f.login(t, "known@example.com", "not the password")
		f.login(t, "nobody@example.com", "not the password")
	}
	over := f.login(t, "known@example.com", goodPassword)
	wantError(t, over, http.StatusTooManyRequests, api.CodeRateLimited)
	if ra := over.header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("Retry-After = %q", ra)
	}
	ghost := f.login(t, "nobody@example.com", "not the password")
	wantError(t, ghost, http.StatusTooManyRequests, api.CodeRateLimited)
	if !bytes.Equal(ghost.body, over.body) {
		t.Errorf("429 bodies differ for known and unknown accounts:\n%s\n%s", over.body, ghost.body)
	}
}
