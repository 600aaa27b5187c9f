package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/authevents/authevents/account"
	"github.com/authevents/authevents/api"
)

// TestCORS: browser apps on the listed origins may call the API; a
// preflight is answered, the headers clients need are exposed, and
// credentials (cookies) are never allowed: the API takes bearer tokens.
func TestCORS(t *testing.T) {
	t.Parallel()
	const app = "https://app.example.com"
	preflight := func(tr *transport, origin string) reply {
		return tr.call(t, "OPTIONS", "/auth/login", "", "Origin", origin,
			"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type,x-request-id")
	}
	t.Run("preflight from a listed origin", func(t *testing.T) {
		t.Parallel()
		tr := newTransport(t, api.Config{CORSAllowedOrigins: []string{app}})
		r := preflight(tr, app)
		if r.status != http.StatusNoContent {
			t.Fatalf("preflight: %d %s", r.status, r.body)
		}
		if got := r.header.Get("Access-Control-Allow-Origin"); got != app {
			t.Errorf("Allow-Origin = %q, want %q", got, app)
		}
		if got := r.header.Get("Access-Control-Allow-Methods"); !strings.Contains(got, "POST") {
			t.Errorf("Allow-Methods = %q", got)
		}
		if got := strings.ToLower(r.header.Get("Access-Control-Allow-Headers")); !strings.Contains(got, "content-type") || !strings.Contains(got, "x-request-id") {
			t.Errorf("Allow-Headers = %q", got)
		}
		if r.header.Get("Access-Control-Allow-Credentials") != "" {
			t.Error("credentials allowed")
		}
		if len(tr.fake.Calls()) != 0 {
			t.Errorf("a preflight reached the use case: %v", tr.fake.Calls())
		}
	})
	t.Run("preflight from another origin gets no grant", func(t *testing.T) {
		t.Parallel()
		tr := newTransport(t, api.Config{CORSAllowedOrigins: []string{app}})
		r := preflight(tr, "https://evil.example.net")
		if got := r.header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("Allow-Origin = %q for an unlisted origin", got)
		}
	})
	t.Run("a request from a listed origin exposes the headers clients read", func(t *testing.T) {
		t.Parallel()
		tr := newTransport(t, api.Config{CORSAllowedOrigins: []string{app}})
		tr.fake.login = func(context.Context, account.LoginInput) (*account.Result, error) { return result(true), nil }
		r := tr.call(t, "POST", "/auth/login", loginBody, "Origin", app)
		if r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != app {
			t.Fatalf("%d, Allow-Origin %q", r.status, r.header.Get("Access-Control-Allow-Origin"))
		}
		exposed := strings.ToLower(r.header.Get("Access-Control-Expose-Headers"))
		for _, h := range []string{"retry-after", "www-authenticate", "x-request-id"} {
			if !strings.Contains(exposed, h) {
				t.Errorf("Expose-Headers %q lacks %s", exposed, h)
			}
		}
		if !strings.Contains(strings.Join(r.header.Values("Vary"), ","), "Origin") {
			t.Errorf("Vary = %q: a cache could serve one origin's grant to another", r.header.Values("Vary"))
		}
	})
	t.Run("any origin never allows credentials", func(t *testing.T) {
		t.Parallel()
		tr := newTransport(t, api.Config{CORSAllowedOrigins: []string{"*"}})
		r := preflight(tr, "https://anyone.example.org")
		if r.status != http.StatusNoContent || r.header.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("%d, Allow-Origin %q", r.status, r.header.Get("Access-Control-Allow-Origin"))
		}
		if r.header.Get("Access-Control-Allow-Credentials") != "" {
			t.Error("credentials allowed for *")
		}
	})
	t.Run("off by default", func(t *testing.T) {
		t.Parallel()
		tr := newTransport(t, api.Config{})
		r := preflight(tr, app)
		wantErr(t, r, 405, api.CodeMethodNotAllowed, nil)
		if r.header.Get("Access-Control-Allow-Origin") != "" {
			t.Error("a grant with no allowed origins")
		}
	})
}

// TestCachedDocsVaryOnOrigin: the Redoc asset is cacheable by shared
// caches and carries a CORS grant for the requesting origin, so it must
// vary on Origin too, or a cache hands one origin's grant to another.
// Found by review: the handler replaced Vary with Accept-Encoding.
func TestCachedDocsVaryOnOrigin(t *testing.T) {
	t.Parallel()
	tr := newTransport(t, api.Config{CORSAllowedOrigins: []string{"https://app.example.com"}})
	r := tr.call(t, "GET", "/docs/redoc.standalone.js", "", "Origin", "https://app.example.com", "Accept-Encoding", "gzip")
	vary := strings.Join(r.header.Values("Vary"), ",")
	if r.status != 200 || !strings.Contains(vary, "Origin") || !strings.Contains(vary, "Accept-Encoding") {
		t.Errorf("status %d, Vary %q: want both Origin and Accept-Encoding", r.status, vary)
	}
}
