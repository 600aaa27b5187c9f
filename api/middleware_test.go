package api_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/account"
	"github.com/authevents/authevents/api"
	"github.com/authevents/authevents/internal/metrictest"
	"github.com/authevents/authevents/internal/testenv"
)

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

// TestRequestID: a sane client id is echoed and logged with the route,
// anything else replaced, a missing one generated.
func TestRequestID(t *testing.T) {
	t.Parallel()
	tr := newTransport(t, api.Config{})
	if got := tr.call(t, "GET", "/.well-known/jwks.json", "", "X-Request-ID", "abc-123").header.Get("X-Request-ID"); got != "abc-123" {
		t.Errorf("echoed %q", got)
	}
	if logs := tr.logs.String(); !strings.Contains(logs, `"request_id":"abc-123"`) || !strings.Contains(logs, `"route":"/.well-known/jwks.json"`) {
		t.Errorf("access log missing: %s", logs)
	}
	for _, bad := range []string{"has space", strings.Repeat("x", 129), strings.Repeat("a", 200), "tab\there", ""} {
		got := tr.call(t, "GET", "/.well-known/jwks.json", "", "X-Request-ID", bad).header.Get("X-Request-ID")
		if _, err := uuid.Parse(got); err != nil {
			t.Errorf("X-Request-ID %q came back as %q, want a fresh uuid", bad, got)
		}
	}
}

// TestInFlightGaugeSurvivesPanics: the in-flight gauge was decremented
// after c.Next() returned, so a panic that the recovery middleware passes
// on (http.ErrAbortHandler, which net/http uses to abort a response) left
// it one higher for ever. A panic of either kind leaves it at zero.
func TestInFlightGaugeSurvivesPanics(t *testing.T) {
	t.Parallel()
	tr := newTransport(t, api.Config{})
	tr.engine.GET("/test/panic", func(*gin.Context) { panic("boom") })
	tr.engine.GET("/test/abort", func(*gin.Context) { panic(http.ErrAbortHandler) })
	// Test-only routes are not in the contract: served without the
	// OpenAPI check that tr.h applies.
	srv := httptest.NewServer(tr.engine)
	t.Cleanup(srv.Close)

	res, err := http.Get(srv.URL + "/test/panic")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	wantErr(t, reply{status: res.StatusCode, header: res.Header, body: body}, http.StatusInternalServerError, api.CodeInternal, nil)
	if res, err := http.Get(srv.URL + "/test/abort"); err == nil {
		res.Body.Close()
		t.Fatalf("aborted handler answered %d, want the connection aborted", res.StatusCode)
	}
	testenv.WaitFor(t, "the in-flight gauge back at 0", 5*time.Second, func() bool {
		return metrictest.Must(t, tr.reg, "authevents_http_requests_in_flight") == 0
	})
}

// TestRequestsAreCounted: requests are counted by route template, method
// and status; unknown routes as "unmatched".
func TestRequestsAreCounted(t *testing.T) {
	t.Parallel()
	tr := newTransport(t, api.Config{})
	tr.fake.register = func(context.Context, account.RegisterInput) (*account.Result, error) { return result(true), nil }
	tr.fake.login = func(context.Context, account.LoginInput) (*account.Result, error) {
		return nil, authevents.ErrInvalidCredentials
	}
	tr.call(t, "POST", "/auth/register", `{"email":"m@example.com","password":"a fine password","name":"M"}`)
	tr.call(t, "POST", "/auth/login", loginBody)
	tr.call(t, "GET", "/no/such/route/"+uuid.NewString(), "")
	tr.call(t, "DELETE", "/auth/sessions/"+uuid.NewString(), "")
	for _, tc := range []struct {
		labels []string
		want   float64
	}{
		{[]string{"route", "/auth/register", "method", "POST", "status", "201"}, 1},
		{[]string{"route", "/auth/login", "method", "POST", "status", "401"}, 1},
		{[]string{"route", "unmatched", "method", "GET", "status", "404"}, 1},
		{[]string{"route", "/auth/sessions/:id", "method", "DELETE", "status", "401"}, 1},
	} {
		if got := metrictest.Must(t, tr.reg, "authevents_http_requests_total", tc.labels...); got != tc.want {
			t.Errorf("authevents_http_requests_total%v = %v, want %v", tc.labels, got, tc.want)
		}
	}
	if n := metrictest.Must(t, tr.reg, "authevents_http_request_duration_seconds", "route", "/auth/register"); n != 1 {
		t.Errorf("register latency has %v samples, want 1", n)
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
