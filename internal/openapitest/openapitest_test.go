package openapitest_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/authevents/authevents/internal/openapitest"
)

// TestCheckCatchesEveryKindOfBreach: the checker is only worth something
// if each way an answer can leave the contract is reported.
func TestCheckCatchesEveryKindOfBreach(t *testing.T) {
	t.Parallel()
	spec, err := openapitest.Load()
	if err != nil {
		t.Fatal(err)
	}
	const me = `{"id":"0190a4c8-0000-7000-8000-000000000001","email":"a@example.com","name":"A","createdAt":"2026-01-02T03:04:05.678Z"}`
	const unauthorized = `{"error":{"code":"unauthorized","message":"m","fields":{}}}`
	personal := map[string]string{"X-Request-ID": "r1", "Cache-Control": "no-store", "Pragma": "no-cache", "Content-Type": "application/json"}
	with := func(h map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range h {
			out[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(out, kv[i])
			} else {
				out[kv[i]] = kv[i+1]
			}
		}
		return out
	}
	for _, tc := range []struct {
		name                string
		method, path, body  string
		reqHeader           map[string]string
		status              int
		header              map[string]string
		resBody, wantReport string // wantReport "" means the exchange keeps the contract
	}{
		{"kept", "GET", "/auth/me", "", map[string]string{"Authorization": "Bearer x"}, 200, personal, me, ""},
		{"undocumented status", "GET", "/auth/me", "", nil, 418, personal, me, "status is not supported"},
		{"undocumented field", "GET", "/auth/me", "", nil, 200, personal,
			strings.TrimSuffix(me, "}") + `,"passwordHash":"x"}`, "passwordHash"},
		{"missing field", "GET", "/auth/me", "", nil, 200, personal, `{"id":"0190a4c8-0000-7000-8000-000000000001"}`, "email"},
		{"wrong type", "GET", "/auth/me", "", nil, 200, personal, strings.Replace(me, `"name":"A"`, `"name":1`, 1), "name"},
		{"undocumented header", "GET", "/auth/me", "", nil, 200, with(personal, "X-Powered-By", "gin"), me, "X-Powered-By"},
		{"missing documented header", "GET", "/auth/me", "", nil, 200, with(personal, "Cache-Control", ""), me, "Cache-Control"},
		{"malformed documented header", "GET", "/auth/me", "", nil, 401,
			map[string]string{"X-Request-ID": "r1", "Content-Type": "application/json", "WWW-Authenticate": "Basic"}, unauthorized, "WWW-Authenticate"},
		{"wrong error code for the status", "GET", "/auth/me", "", nil, 401,
			map[string]string{"X-Request-ID": "r1", "Content-Type": "application/json", "WWW-Authenticate": "Bearer"},
			`{"error":{"code":"not_found","message":"m","fields":{}}}`, "unauthorized"},
		{"wrong content type", "GET", "/auth/me", "", nil, 200, with(personal, "Content-Type", "text/plain"), me, "Content-Type"},
		{"refused request succeeds", "POST", "/auth/register", `{"email":"a@example.com","password":"short","name":"A"}`,
			map[string]string{"Content-Type": "application/json"}, 201, personal,
			`{"accessToken":"a","refreshToken":"r","tokenType":"Bearer","expiresIn":900,"user":` + me + `}`, "refuses the request"},
		{"bearer route succeeds without a token", "GET", "/auth/me", "", nil, 200, personal, me, "no bearer token"},
		{"unknown path not a 404", "GET", "/auth/nope", "", nil, 200, map[string]string{"X-Request-ID": "r1", "Content-Type": "application/json"}, `{}`, "want 404"},
		{"unknown path 404 in another shape", "GET", "/auth/nope", "", nil, 404,
			map[string]string{"X-Request-ID": "r1", "Content-Type": "text/plain"}, `404 page not found`, "not JSON"},
		{"preflight with a body", "OPTIONS", "/auth/login", "", map[string]string{"Origin": "https://a.example", "Access-Control-Request-Method": "POST"},
			200, map[string]string{"Content-Type": "text/plain"}, "ok", "want 204"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
			for k, v := range tc.reqHeader {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			for k, v := range tc.header {
				rec.Header().Set(k, v)
			}
			rec.WriteHeader(tc.status)
			rec.WriteString(tc.resBody)
			problems := spec.Check(req, []byte(tc.body), rec.Result())
			report := strings.Join(problems, "\n")
			switch {
			case tc.wantReport == "" && len(problems) > 0:
				t.Errorf("a kept exchange was reported:\n%s", report)
			case tc.wantReport != "" && !strings.Contains(report, tc.wantReport):
				t.Errorf("report %q does not mention %q", report, tc.wantReport)
			}
		})
	}
}

// TestWrapPassesTheAnswerThrough: the wrapped handler's answer reaches
// the client unchanged.
func TestWrapPassesTheAnswerThrough(t *testing.T) {
	t.Parallel()
	h := openapitest.Wrap(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-ID", "r1")
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(200)
		w.Write([]byte(`{"keys":[]}`))
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/.well-known/jwks.json", nil))
	if rec.Code != 200 || rec.Body.String() != `{"keys":[]}` || rec.Header().Get("X-Request-ID") != "r1" {
		t.Errorf("%d %q %v", rec.Code, rec.Body, rec.Header())
	}
}
