package api_test

import (
	"bufio"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/authevents/authevents/api"
	"github.com/authevents/authevents/internal/openapitest"
)

// TestSpecRefusesWhatTheAPIRefuses: every body the API answers 400 for a
// rule JSON Schema can state (openapitest.Refused; api/httpe2e sends each
// to the real service) is refused by the request schemas too, on the
// field the API names. A client generating requests from the document
// never meets a 400 the document did not announce.
func TestSpecRefusesWhatTheAPIRefuses(t *testing.T) {
	t.Parallel()
	spec, err := openapitest.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range openapitest.Refused() {
		err := spec.ValidateBody(tc.Path, tc.Body)
		if err == nil {
			t.Errorf("%s: openapi.yaml accepts %s %v, which the API refuses", tc.Name, tc.Path, tc.Body)
		} else if !strings.Contains(err.Error(), `"/`+tc.Field+`"`) {
			t.Errorf("%s: openapi.yaml refuses it, but not for %s:\n%.300s", tc.Name, tc.Field, err)
		}
	}
	// The bodies the cases start from are good: each case is refused for
	// its one field.
	for path, body := range map[string]map[string]any{
		"/auth/register": {"email": "ada@example.com", "password": "correct horse battery staple", "name": "Ada Lovelace"},
		"/auth/login":    {"email": "ada@example.com", "password": "correct horse battery staple"},
		"/auth/refresh":  {"refreshToken": "rt_x"},
		// What the API trims or accepts, the document accepts too.
		"/auth/register#padded": {"email": " \tÄda@Exämple.com ", "password": "correct horse battery staple", "name": " \u00a0Ada\u200b Lovelace\t"},
	} {
		if err := spec.ValidateBody(strings.Split(path, "#")[0], body); err != nil {
			t.Errorf("%s: openapi.yaml refuses a body the API accepts: %v", path, err)
		}
	}
}

// TestMalformedHeaderIsDocumented: a header value with a control
// character is refused by Go's HTTP server before any route runs, in
// text/plain and without a request id; every operation documents that
// answer (TestSpecOpenAPIIsValid), and this is what it looks like.
func TestMalformedHeaderIsDocumented(t *testing.T) {
	t.Parallel()
	tr := newTransport(t, api.Config{})
	srv := httptest.NewServer(tr.h)
	defer srv.Close()
	conn, err := net.DialTimeout("tcp", srv.Listener.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte("GET /.well-known/jwks.json HTTP/1.1\r\nHost: x\r\nX-Request-ID: a\x01b\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 400 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain") || res.Header.Get("X-Request-ID") != "" {
		t.Errorf("malformed header: %d %q, X-Request-ID %q; openapi.yaml (MalformedHeader) says 400 text/plain without a request id",
			res.StatusCode, res.Header.Get("Content-Type"), res.Header.Get("X-Request-ID"))
	}
	if calls := tr.fake.Calls(); len(calls) != 0 {
		t.Errorf("a refused request reached the use case: %v", calls)
	}
}
