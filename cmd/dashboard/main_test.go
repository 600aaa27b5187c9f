package main

import (
	"context"
	"io"
	"strings"
	"testing"
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
		err := run(context.Background(), env, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "DASHBOARD_") {
			t.Errorf("run with %v = %v, want a refusal naming the DASHBOARD_ variables", env, err)
		}
	}
	cfg := Config{Addr: "0.0.0.0:8081", Token: "0123456789abcdef", Refresh: 2e9, LagWarning: 1, CountsRetention: 1 << 62}
	if err := cfg.validate(); err != nil {
		t.Errorf("validate with a token = %v, want accepted", err)
	}
}
