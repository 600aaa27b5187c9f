package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/authevents/authevents/db/postgres/pgtest"
	"github.com/authevents/authevents/internal/testenv"
)

// TestRefusesToStartOffLoopbackWithoutCredentials: the dashboard shows the
// system's inner state; on any address but loopback it needs a token or
// basic-auth credentials, and says which variables to set.
func TestRefusesToStartOffLoopbackWithoutCredentials(t *testing.T) {
	t.Parallel()
	for _, env := range []map[string]string{
		{"DASHBOARD_ADDR": "0.0.0.0:0"},
		{"DASHBOARD_ADDR": ":8081"},
		{"DASHBOARD_ADDR": "0.0.0.0:0", "DASHBOARD_USER": "sre"},        // no password
		{"DASHBOARD_ADDR": "0.0.0.0:0", "DASHBOARD_TOKEN": "too-short"}, // under 16 characters
	} {
		err := run(context.Background(), nil, env, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "DASHBOARD_") {
			t.Errorf("run with %v = %v, want a refusal naming the DASHBOARD_ variables", env, err)
		}
	}
	cfg := Config{Addr: "0.0.0.0:8081", Token: "0123456789abcdef", Refresh: 2e9, LagWarning: 1, CountsRetention: 1 << 62}
	if err := cfg.validate(); err != nil {
		t.Errorf("validate with a token = %v, want accepted", err)
	}
}

// TestStartsWithNATSDownAndSaysSo: NATS being down at start is a
// down-state, not a refusal to start. The dashboard serves its page,
// /readyz names NATS's state (the connection is retried in the
// background), and a cancelled context stops it cleanly.
func TestStartsWithNATSDownAndSaysSo(t *testing.T) {
	t.Parallel()
	_, dbURL := pgtest.NewWithURL(t)
	addr, opsAddr := testenv.FreeAddr(t), testenv.FreeAddr(t)
	env := map[string]string{"DASHBOARD_ADDR": addr, "OPS_ADDR": opsAddr, "LOG_LEVEL": "warn",
		"DATABASE_URL": dbURL, "NATS_URL": "nats://" + testenv.FreeAddr(t)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, env, io.Discard) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run after cancel = %v, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("run did not return within 10 s of its context ending")
		}
	}()

	get := func(url string) (int, string) {
		res, err := http.Get(url)
		if err != nil {
			return 0, err.Error()
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	testenv.WaitFor(t, "the page to be served", 10*time.Second, func() bool {
		code, _ := get("http://" + addr + "/")
		return code == http.StatusOK
	})
	code, body := get("http://" + opsAddr + "/readyz")
	var ready struct{ Checks map[string]string }
	if err := json.Unmarshal([]byte(body), &ready); code != http.StatusServiceUnavailable || err != nil ||
		!strings.HasPrefix(ready.Checks["nats"], "nats: ") || ready.Checks["postgres"] != "ok" {
		t.Errorf("/readyz with NATS down = %d %s, want 503 naming NATS's state, postgres ok", code, body)
	}
	if code, _ := get("http://" + opsAddr + "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d, want 200: the process is alive", code)
	}
}
