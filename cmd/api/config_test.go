package main

import (
	"encoding/json"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authevents/authevents/internal/testenv"
	"github.com/authevents/authevents/personal"
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

// TestPersonalDataKeyConfig: PERSONAL_DATA_KEY or its file, not both, and
// a malformed key, are refused at start with the variable named; version
// 2 alone (EVENTS_V1=false) needs a key.
func TestPersonalDataKeyConfig(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "kek")
	if err := os.WriteFile(file, []byte(personal.GenerateKEK()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := map[string]string{"EMAIL_VERIFICATION": "optional"}
	for _, tc := range []struct {
		env  map[string]string
		want string // "" for accepted
	}{
		{map[string]string{"PERSONAL_DATA_KEY": personal.GenerateKEK()}, ""},
		{map[string]string{"PERSONAL_DATA_KEY_FILE": file, "EVENTS_V1": "false"}, ""},
		{map[string]string{"PERSONAL_DATA_KEY": personal.GenerateKEK(), "PERSONAL_DATA_KEY_FILE": file}, "not both"},
		{map[string]string{"PERSONAL_DATA_KEY": "short"}, "PERSONAL_DATA_KEY"},
		{map[string]string{"PERSONAL_DATA_KEY_FILE": file + ".missing"}, "PERSONAL_DATA_KEY_FILE"},
		{map[string]string{"EVENTS_V1": "false"}, "EVENTS_V1=false needs PERSONAL_DATA_KEY"},
	} {
		env := maps.Clone(base)
		maps.Copy(env, tc.env)
		_, err := loadConfig(env)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: %v, want accepted", tc.env, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%v: %v, want an error naming %q", tc.env, err, tc.want)
		}
	}
}
