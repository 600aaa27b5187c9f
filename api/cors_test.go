package api_test

// Differences between the README and the answers, found by trying the API
// as a new user would (issue 12). Each test failed before its fix.

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"go.yaml.in/yaml/v3"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/account"
	"github.com/authevents/authevents/api"
	"github.com/authevents/authevents/api/client"
)

// TestEveryMistypedFieldIsNamed: the README promises that fields names
// every bad field; the decoder used to stop at the first wrong JSON type.
func TestEveryMistypedFieldIsNamed(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		path, body string
		fields     map[string]string
	}{
		{"/auth/register", `{"email":"t@example.com","password":12345678,"name":["x"]}`,
			map[string]string{"password": "must be a string", "name": "must be a string"}},
		{"/auth/register", `{"email":false,"password":{},"name":1.5}`,
			map[string]string{"email": "must be a string", "password": "must be a string", "name": "must be a string"}},
		{"/auth/login", `{"email":7,"password":8}`,
			map[string]string{"email": "must be a string", "password": "must be a string"}},
		{"/auth/refresh", `{"refreshToken":["rt_x"]}`, map[string]string{"refreshToken": "must be a string"}},
		{"/auth/login", `{"email":"a@example.com","password":1,"password":"a fine password"}`, map[string]string{"password": "must be a string"}},
	} {
		tr := newTransport(t, api.Config{})
		wantErr(t, tr.call(t, "POST", tc.path, tc.body), 400, api.CodeValidation, tc.fields)
		if calls := tr.fake.Calls(); len(calls) != 0 {
			t.Errorf("%s %s reached the use case: %v", tc.path, tc.body, calls)
		}
	}
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

// TestServesItsContract: /openapi.json is the embedded document, and
// /docs renders it with assets from the binary, never from elsewhere.
func TestServesItsContract(t *testing.T) {
	t.Parallel()
	tr := newTransport(t, api.Config{})
	r := tr.call(t, "GET", "/openapi.json", "")
	var doc map[string]any
	if err := json.Unmarshal(r.body, &doc); err != nil || r.status != 200 {
		t.Fatalf("%d %v", r.status, err)
	}
	var fromYAML any
	if err := yaml.Unmarshal(api.OpenAPI(), &fromYAML); err != nil {
		t.Fatal(err)
	}
	var want map[string]any // numbers as JSON has them
	b, _ := json.Marshal(fromYAML)
	json.Unmarshal(b, &want)
	if d := cmp.Diff(want, doc); d != "" {
		t.Errorf("/openapi.json is not openapi.yaml (-yaml +json):\n%s", d)
	}

	page := tr.call(t, "GET", "/docs", "")
	if page.status != 200 || !strings.HasPrefix(page.header.Get("Content-Type"), "text/html") {
		t.Fatalf("/docs: %d %q", page.status, page.header.Get("Content-Type"))
	}
	if !strings.Contains(string(page.body), `spec-url="openapi.json"`) || !strings.Contains(string(page.body), `src="docs/redoc.standalone.js"`) {
		t.Errorf("/docs does not load the document and script from this server:\n%s", page.body)
	}
	if strings.Contains(string(page.body), "://") && !strings.Contains(string(page.body), `a[href^="https://redocly.com"]`) {
		t.Errorf("/docs names another server:\n%s", page.body)
	}
	if csp := page.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "http") {
		t.Errorf("Content-Security-Policy %q lets the page load from elsewhere", csp)
	}

	gz := tr.call(t, "GET", "/docs/redoc.standalone.js", "", "Accept-Encoding", "gzip, br")
	plain := tr.call(t, "GET", "/docs/redoc.standalone.js", "")
	if gz.status != 200 || gz.header.Get("Content-Encoding") != "gzip" || plain.header.Get("Content-Encoding") != "" {
		t.Fatalf("script: %d, encodings %q and %q", gz.status, gz.header.Get("Content-Encoding"), plain.header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz.body))
	if err != nil {
		t.Fatal(err)
	}
	unzipped, _ := io.ReadAll(zr)
	if !bytes.Equal(unzipped, plain.body) || !bytes.Contains(plain.body, []byte("Redoc")) || len(plain.body) < 500_000 {
		t.Errorf("the gzip and plain scripts differ, or are not Redoc (%d and %d bytes)", len(unzipped), len(plain.body))
	}
}

// TestGeneratedClientReadsEveryAnswer: the client generated from the
// spec decodes what the API sends, successes and errors alike, fields
// and headers included.
func TestGeneratedClientReadsEveryAnswer(t *testing.T) {
	t.Parallel()
	tr := newTransport(t, api.Config{})
	tr.fake.register = func(context.Context, account.RegisterInput) (*account.Result, error) { return result(true), nil }
	srv := httptest.NewServer(tr.h)
	defer srv.Close()
	c, err := client.NewClientWithResponses(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	reg, err := c.RegisterWithResponse(ctx, nil, client.RegisterRequest{Email: "a@example.com", Password: "a fine password", Name: "A"})
	if err != nil || reg.JSON201 == nil || reg.JSON201.User.Id.String() != fakeUser.String() || reg.JSON201.ExpiresIn != 900 {
		t.Fatalf("register: %v %+v", err, reg)
	}
	bad, err := c.RegisterWithBodyWithResponse(ctx, nil, "application/json", strings.NewReader(`{"email":"t@example.com","password":12345678,"name":["x"]}`))
	if err != nil || bad.JSON400 == nil || bad.JSON400.Error.Code != client.ErrorCodeValidationFailed || len(bad.JSON400.Error.Fields) != 2 {
		t.Fatalf("bad register: %v %s", err, bad.Body)
	}
	me, err := c.MeWithResponse(ctx, nil)
	if err != nil || me.JSON401 == nil || me.Headers401 == nil || me.Headers401.WWWAuthenticate != "Bearer" {
		t.Fatalf("me without a token: %v %s %+v", err, me.Body, me.Headers401)
	}
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
