package httpe2e_test

import (
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/authevents/authevents/account"
	"github.com/authevents/authevents/account/accounttest"
	"github.com/authevents/authevents/api"
	"github.com/authevents/authevents/db/ratelimit"
	"github.com/authevents/authevents/internal/logging"
	"github.com/authevents/authevents/internal/openapitest"
	"github.com/authevents/authevents/internal/testenv"
	"github.com/authevents/authevents/outbox"
	"github.com/authevents/authevents/password"
)

const goodPassword = "correct horse battery staple"

type fixture struct {
	*accounttest.Env
	h    http.Handler
	srv  *httptest.Server
	reg  *prometheus.Registry
	logs *testenv.Buffer
}

// setup serves api.New over a real account.Service (accounttest) with
// the metrics wired as cmd/api wires them.
func setup(t testing.TB, cfg api.Config, opts ...func(*accounttest.Options)) *fixture {
	t.Helper()
	logs := &testenv.Buffer{}
	log := logging.New(logs, "debug")
	reg := prometheus.NewRegistry()
	m := api.NewMetrics(reg)
	o := accounttest.Options{Log: log, ObserveOp: password.NewObserver(reg),
		Account: []account.Option{account.WithCommitHook(outbox.NewMetrics(reg).Committed)}}
	for _, f := range opts {
		f(&o)
	}
	env := accounttest.New(t, o)
	h, err := api.New(env.Service, cfg, log, m)
	if err != nil {
		t.Fatal(err)
	}
	// Every exchange through the server is checked against api/openapi.yaml.
	srv := httptest.NewServer(openapitest.Wrap(t, h))
	t.Cleanup(srv.Close)
	return &fixture{Env: env, h: h, srv: srv, reg: reg, logs: logs}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// keys returns the sorted top-level keys of a JSON object response.
func (r response) keys(t testing.TB) []string {
	t.Helper()
	var m map[string]any
	r.json(t, &m)
	return slices.Sorted(maps.Keys(m))
}

// do sends a request: body nil, a string, bytes or a value to encode as
// JSON; header pairs set (an empty value deletes) headers.
func (f *fixture) do(t testing.TB, method, path string, body any, header ...string) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, f.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", "authevents-test/1.0")
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] == "" {
			req.Header.Del(header[i])
		} else {
			req.Header.Set(header[i], header[i+1])
		}
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{res.StatusCode, res.Header, b}
}

func bearer(access string) []string { return []string{"Authorization", "Bearer " + access} }

// wantError checks status, the JSON error shape, its code and the exact
// set of named fields.
func wantError(t testing.TB, r response, status int, code string, fields ...string) {
	t.Helper()
	want := map[string]string{}
	for _, f := range fields {
		want[f] = ""
	}
	testenv.WantError(t, r.status, r.header, r.body, status, code, want)
}

func (f *fixture) register(t testing.TB, email string) api.TokenResponse {
	t.Helper()
	r := f.do(t, "POST", "/auth/register", map[string]string{"email": email, "password": goodPassword, "name": "Ada Lovelace"})
	if r.status != http.StatusCreated {
		t.Fatalf("register %s: %d %s", email, r.status, r.body)
	}
	var tr api.TokenResponse
	r.json(t, &tr)
	return tr
}

func (f *fixture) login(t testing.TB, email, password string, header ...string) response {
	t.Helper()
	return f.do(t, "POST", "/auth/login", map[string]string{"email": email, "password": password}, header...)
}

// loginLimit limits logins to n per account and minute, nothing else.
func loginLimit(n int) map[string]ratelimit.Limit {
	l := func(n int) ratelimit.Limit { return ratelimit.Limit{Rate: n, Burst: n, Period: time.Minute} }
	return map[string]ratelimit.Limit{
		account.LimitLoginIP: l(1000), account.LimitLoginAccount: l(n), account.LimitRegisterIP: l(1000),
		account.LimitRefreshSession: l(1000), account.LimitLoginDevice: l(n),
	}
}
