package main

import (
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
