package api_test

// Transport tests: the router in front of a fake use-case layer. They need
// no PostgreSQL, Redis or NATS, and specify what the HTTP layer alone
// decides: status codes, error bodies, headers, decoding, what reaches the
// use case. The rules behind the answers are specified in package account.
// This file holds the harness; each concern has its file (errors, bodies,
// auth, middleware, cors, reference, schemas, spec).

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/authevents/authevents/api"
	"github.com/authevents/authevents/internal/logging"
	"github.com/authevents/authevents/internal/openapitest"
	"github.com/authevents/authevents/internal/testenv"
)

type transport struct {
	fake   *fakeAccounts
	h      http.Handler // the router behind the OpenAPI check
	engine *gin.Engine  // the router itself
	reg    *prometheus.Registry
	logs   *testenv.Buffer
}

func newTransport(t *testing.T, cfg api.Config) *transport {
	t.Helper()
	tr := &transport{fake: newFake(), reg: prometheus.NewRegistry(), logs: &testenv.Buffer{}}
	h, err := api.New(tr.fake, cfg, logging.New(tr.logs, "debug"), api.NewMetrics(tr.reg))
	if err != nil {
		t.Fatal(err)
	}
	tr.engine = h.(*gin.Engine)
	tr.h = openapitest.Wrap(t, h) // every exchange is checked against api/openapi.yaml
	return tr
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

// call sends one request; header is name, value pairs. A string body is
// sent as application/json unless a Content-Type header is given.
func (tr *transport) call(t *testing.T, method, path, body string, header ...string) reply {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] == "" {
			req.Header.Del(header[i])
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	tr.h.ServeHTTP(rec, req)
	return reply{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

// wantErr checks the status, the JSON error shape, its code and, when
// fields is not nil, exactly these fields with these reasons.
func wantErr(t *testing.T, r reply, status int, code string, fields map[string]string) {
	t.Helper()
	testenv.WantError(t, r.status, r.header, r.body, status, code, fields)
}

const loginBody = `{"email":"a@example.com","password":"a fine password"}`
