package main

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/authevents/authevents/internal/testenv"
)

// TestStartupLogShowsDurationsAsGoDurations: the start-up line is read by
// people; "access_token_ttl":900000000000 had to be decoded by hand.
func TestStartupLogShowsDurationsAsGoDurations(t *testing.T) {
	t.Parallel()
	cfg, err := loadConfig(map[string]string{"CORS_ALLOWED_ORIGINS": "https://app.example.com", "EMAIL_VERIFICATION": "optional"})
	if err != nil {
		t.Fatal(err)
	}
	var buf testenv.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("api starting", "config", cfg)
	var line struct{ Config map[string]any }
	if err := json.Unmarshal([]byte(buf.String()), &line); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{"access_token_ttl": "15m0s", "refresh_token_ttl": "168h0m0s",
		"refresh_grace_window": "10s", "request_timeout": "10s", "session_prune_interval": "10m0s"} {
		if got := line.Config[key]; got != want {
			t.Errorf("%s = %v (%T), want %q", key, got, got, want)
		}
	}
	for key, v := range line.Config {
		if f, ok := v.(float64); ok && f >= 1e6 {
			t.Errorf("%s = %v: a duration logged as nanoseconds?", key, f)
		}
	}
	if got, _ := json.Marshal(line.Config["cors_allowed_origins"]); string(got) != `["https://app.example.com"]` {
		t.Errorf("cors_allowed_origins = %s", got)
	}
}

func TestCORSOriginsAreValidated(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		origins string
		ok      bool
	}{
		{"", true},
		{"*", true},
		{"https://app.example.com,http://localhost:5173", true},
		{"https://app.example.com/", false}, // an origin has no path
		{"app.example.com", false},
		{"*,https://app.example.com", false},
		{"https://*.example.com", false},
	} {
		_, err := loadConfig(map[string]string{"CORS_ALLOWED_ORIGINS": tc.origins, "EMAIL_VERIFICATION": "optional"})
		if (err == nil) != tc.ok || (err != nil && !strings.Contains(err.Error(), "CORS_ALLOWED_ORIGINS")) {
			t.Errorf("CORS_ALLOWED_ORIGINS=%q: %v", tc.origins, err)
		}
	}
}
