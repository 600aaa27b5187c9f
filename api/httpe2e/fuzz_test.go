package httpe2e_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/account"
	"github.com/authevents/authevents/account/accounttest"
	"github.com/authevents/authevents/api"
	"github.com/authevents/authevents/internal/openapitest"
	"github.com/authevents/authevents/outbox/outboxtest"
	"github.com/authevents/authevents/token/tokentest"
)

// TestLoginRefusesNULAndInvalidUTF8: a NUL byte in the login email used to
// reach PostgreSQL (which refuses it in text) and answer 500 without the
// user.login_failed event. Every field that reaches PostgreSQL is now
// checked: 400 validation_failed naming the field, nothing written. A NUL
// or invalid UTF-8 in the User-Agent (a header, cleaned, not refused) does
// not make a login fail either.
func TestLoginRefusesNULAndInvalidUTF8(t *testing.T) {
	t.Parallel()
	f := setup(t, api.Config{})
	f.register(t, "nul@example.com")
	for name, body := range map[string]string{
		"NUL in email":              `{"email":"nul\u0000@example.com","password":"not the password"}`,
		"NUL only email":            `{"email":"\u0000","password":"not the password"}`,
		"NUL after a valid address": `{"email":"nul@example.com\u0000","password":"not the password"}`,
	} {
		t.Run(name, func(t *testing.T) {
			wantError(t, f.do(t, "POST", "/auth/login", body), http.StatusBadRequest, api.CodeValidation, "email")
		})
	}
	for name, ua := range map[string]string{"NUL": "agent\x00x", "invalid UTF-8": "agent\xff\xfe"} {
		t.Run("User-Agent "+name, func(t *testing.T) {
			// httptest.NewRequest: net/http's client refuses such headers.
			w := httptest.NewRecorder()
			req := httptest.NewRequest("POST", "/auth/login", strings.NewReader(`{"email":"nul@example.com","password":"`+goodPassword+`"}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("User-Agent", ua)
			openapitest.Wrap(t, f.h).ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				t.Fatalf("login with User-Agent %q = %d %s, want 200", ua, w.Code, w.Body)
			}
		})
	}
	outboxtest.RequireCount(t, f.Pool, authevents.EventUserLoginFailed, 0)
}

// fuzzRoutes are every endpoint of the API; the authenticated ones get a
// fresh valid bearer token per input, and the ones that can take the
// account away (delete, password and address change) one of an account of
// their own, so that a seed with the right password does not sign every
// later input out.
var fuzzRoutes = []struct {
	method, path string
	auth, own    bool
}{
	{"POST", "/auth/register", false, false},
	{"POST", "/auth/login", false, false},
	{"POST", "/auth/refresh", false, false},
	{"GET", "/auth/me", true, false},
	{"POST", "/auth/logout", true, false},
	{"POST", "/auth/logout/all", true, false},
	{"GET", "/auth/sessions", true, false},
	{"DELETE", "/auth/sessions/", true, false}, // the body becomes the id
	{"GET", "/.well-known/jwks.json", false, false},
	{"DELETE", "/auth/account", true, true},
	{"GET", "/auth/account/export", true, false},
	{"POST", "/auth/email/verify", false, false},
	{"POST", "/auth/email/verify/resend", false, false},
	{"POST", "/auth/password/forgot", false, false},
	{"POST", "/auth/password/reset", false, false},
	{"POST", "/auth/password/change", true, true},
	{"POST", "/auth/email/change", true, true},
}

// FuzzEndpoints sends arbitrary bodies, session ids and User-Agent headers
// through the gin router to the real services (PostgreSQL, Redis): no input
// may produce a 5xx. testdata/fuzz/FuzzEndpoints keeps the inputs that once
// did (the NUL byte in the login email).
func FuzzEndpoints(f *testing.F) {
	sealer, _ := tokentest.SealPair(f)
	fx := setup(f, api.Config{TrustedProxies: []string{"192.0.2.0/24"}}, func(o *accounttest.Options) {
		o.Account = append(o.Account, account.WithSealer(sealer))
	})
	ctx := context.Background()
	if _, err := fx.Service.Register(ctx, account.RegisterInput{Email: "fuzz@example.com", Password: goodPassword, Name: "Fuzz"}); err != nil {
		f.Fatal(err)
	}
	for i := range fuzzRoutes {
		for _, body := range []string{
			`{"email":"fuzz@example.com","password":"` + goodPassword + `","name":"F"}`,
			`{"email":"a\u0000@b.com","password":"x","name":"n\u0000"}`, `{"refreshToken":"a.b.c"}`,
			`{"refreshToken":"\u0000"}`, `{"refreshToken":"rt_AAAA"}`, "\xff\xfe", `{`, `null`, "0190e4c2-7d3b-7000-8000-000000000000",
			`{"password":"` + goodPassword + `"}`, `{"currentPassword":"` + goodPassword + `","newPassword":"` + goodPassword + `!"}`,
			`{"newEmail":"fuzz@example.com","password":"` + goodPassword + `"}`, `{"token":"ot_` + strings.Repeat("A", 43) + `"}`,
			`{"token":"ot_\u0000","newPassword":"x"}`, `{"newEmail":"\u0000","password":""}`,
		} {
			f.Add(uint8(i), body, "fuzz/1.0")
		}
	}
	f.Add(uint8(1), `{"email":"fuzz@example.com","password":"`+goodPassword+`"}`, "ua\x00\xff")
	f.Fuzz(func(t *testing.T, route uint8, body, userAgent string) {
		r := fuzzRoutes[int(route)%len(fuzzRoutes)]
		req := httptest.NewRequest(r.method, "/", strings.NewReader(body))
		req.URL.Path = r.path
		if strings.HasSuffix(r.path, "/") {
			req.URL.Path += body
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", userAgent)
		req.Header.Set("X-Forwarded-For", userAgent)
		if r.auth {
			email := "fuzz@example.com"
			if r.own {
				email = "fuzz-" + uuid.NewString() + "@example.com"
				if _, err := fx.Service.Register(ctx, account.RegisterInput{Email: email, Password: goodPassword, Name: "Fuzz"}); err != nil {
					t.Fatal(err)
				}
			}
			res, err := fx.Service.Login(ctx, account.LoginInput{Email: email, Password: goodPassword})
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+res.AccessToken)
		}
		w := httptest.NewRecorder()
		openapitest.Wrap(t, fx.h).ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("%s %s body %q User-Agent %q = %d %s", r.method, req.URL.Path, body, userAgent, w.Code, w.Body)
		}
	})
}
