package api_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/authevents/authevents/account"
	"github.com/authevents/authevents/api"
	"github.com/authevents/authevents/api/client"
)

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
