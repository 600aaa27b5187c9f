package dashboard_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/authevents/authevents/dashboard"
)

func TestCheckAddrNeedsCredentialsOffLoopback(t *testing.T) {
	t.Parallel()
	none, token := dashboard.Auth{}, dashboard.Auth{Token: "0123456789abcdef"}
	for _, tc := range []struct {
		addr    string
		auth    dashboard.Auth
		refused bool
	}{
		{"127.0.0.1:8081", none, false},
		{"[::1]:8081", none, false},
		{"localhost:8081", none, false},
		{"0.0.0.0:8081", none, true},
		{":8081", none, true},
		{"[::]:8081", none, true},
		{"10.1.2.3:8081", none, true},
		{"0.0.0.0:8081", token, false},
		{":8081", dashboard.Auth{User: "sre", Password: "pw"}, false},
	} {
		if err := tc.auth.CheckAddr(tc.addr); (err != nil) != tc.refused {
			t.Errorf("CheckAddr(%q) with %s = %v, want refused %v", tc.addr, tc.auth.Describe(), err, tc.refused)
		}
	}
	if err := (dashboard.Auth{User: "sre"}).Validate(); err == nil {
		t.Error("a user without a password was accepted")
	}
	if err := (dashboard.Auth{Token: "short"}).Validate(); err == nil {
		t.Error("a 5-character token was accepted")
	}
}

// TestAccessControl: with credentials configured, every path (page and
// JSON) needs them: a bearer token, the cookie a ?token= link sets, or
// basic auth; anything else is a 401.
func TestAccessControl(t *testing.T) {
	t.Parallel()
	const token = "s3cret-token-0123456789"
	h := dashboard.NewForTest(dashboard.Auth{Token: token, User: "sre", Password: "pa55"})
	do := func(r *http.Request) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec
	}
	req := func(path string) *http.Request { return httptest.NewRequest("GET", path, nil) }
	for _, path := range []string{"/", "/api/overview", "/dashboard.js"} {
		if rec := do(req(path)); rec.Code != http.StatusUnauthorized || rec.Header().Get("WWW-Authenticate") == "" {
			t.Errorf("GET %s without credentials = %d, want 401 with a basic-auth challenge", path, rec.Code)
		}
	}
	r := req("/")
	r.Header.Set("Authorization", "Bearer "+token)
	if rec := do(r); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "Auth Events Dashboard") {
		t.Errorf("GET / with the bearer token = %d", rec.Code)
	}
	r = req("/")
	r.Header.Set("Authorization", "Bearer "+token+"x")
	if rec := do(r); rec.Code != http.StatusUnauthorized {
		t.Errorf("GET / with a wrong token = %d, want 401", rec.Code)
	}
	r = req("/")
	r.SetBasicAuth("sre", "pa55")
	if rec := do(r); rec.Code != http.StatusOK {
		t.Errorf("GET / with basic auth = %d", rec.Code)
	}
	r = req("/")
	r.SetBasicAuth("sre", "wrong")
	if rec := do(r); rec.Code != http.StatusUnauthorized {
		t.Errorf("GET / with a wrong password = %d, want 401", rec.Code)
	}
	// A ?token= link sets an HttpOnly cookie and takes the token out of the address.
	rec := do(req("/?token=" + token))
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/" {
		t.Fatalf("GET /?token= = %d to %q, want 303 to /", rec.Code, rec.Header().Get("Location"))
	}
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 || !cookies[0].HttpOnly {
		t.Fatalf("cookies %v, want one HttpOnly cookie", cookies)
	}
	r = req("/dashboard.js")
	r.AddCookie(cookies[0])
	if rec := do(r); rec.Code != http.StatusOK {
		t.Errorf("GET /dashboard.js with the cookie = %d", rec.Code)
	}
	if rec := do(req("/?token=wrong")); rec.Code != http.StatusUnauthorized {
		t.Errorf("GET /?token=wrong = %d, want 401", rec.Code)
	}
}
