package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/authevents/authevents/consumer"
	"github.com/authevents/authevents/internal/config"
)

// TestDefaultRetriesRideOutAFiveMinuteOutage is issue 8, item 8: with
// CONSUMER_BACKOFF=1s,5s a downstream blip over 6 s dead-lettered every
// event it touched. By default the three attempts must span at least five
// minutes.
func TestDefaultRetriesRideOutAFiveMinuteOutage(t *testing.T) {
	cfg, err := config.Load[Config](map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Attempts != 3 {
		t.Errorf("CONSUMER_ATTEMPTS default = %d, want 3", cfg.Attempts)
	}
	if h := consumer.RetryHorizon(cfg.Attempts, cfg.Backoff); h < 5*time.Minute {
		t.Errorf("RetryHorizon(%d, %v) = %v, want at least 5m", cfg.Attempts, cfg.Backoff, h)
	}
}

// TestRetentionSettingsAreValidated: a retention that would break
// idempotency or a prune batch of zero is refused at start-up, with the
// variable named, before any connection is made.
func TestRetentionSettingsAreValidated(t *testing.T) {
	for _, env := range []map[string]string{
		{"CONSUMER_RETENTION": "30m"},
		{"CONSUMER_FAILURES_RETENTION": "1m"},
		{"SECURITY_RETENTION": "10m", "SECURITY_WINDOW": "15m"},
		{"CONSUMER_PRUNE_BATCH": "0"},
		{"CONSUMER_PRUNE_INTERVAL": "-1s"},
	} {
		err := run(context.Background(), []string{"--service", "audit"}, env, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "RETENTION") {
			t.Errorf("run with %v = %v, want an error naming the retention settings", env, err)
		}
	}
}
