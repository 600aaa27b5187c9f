package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authevents/authevents/consumer"
	"github.com/authevents/authevents/internal/config"
	"github.com/authevents/authevents/personal"
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

// TestPersonalDataKeyIsValidated: a KEK that is not 32 bytes of
// base64url, an unreadable key file, or both variables set stop the start,
// with the variable named, before any connection is made; a key file is
// read as the API reads it.
func TestPersonalDataKeyIsValidated(t *testing.T) {
	file := filepath.Join(t.TempDir(), "kek")
	os.WriteFile(file, []byte("# current first\n"+personal.GenerateKEK()+"\n"+personal.GenerateKEK()+"\n"), 0o600)
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"PERSONAL_DATA_KEY": "c2hvcnQ"}, "PERSONAL_DATA_KEY"},
		{map[string]string{"PERSONAL_DATA_KEY_FILE": file + ".missing"}, "PERSONAL_DATA_KEY_FILE"},
		{map[string]string{"PERSONAL_DATA_KEY": personal.GenerateKEK(), "PERSONAL_DATA_KEY_FILE": file}, "not both"},
	} {
		err := run(context.Background(), []string{"--service", "audit"}, tc.env, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("run with %v = %v, want an error naming %s", tc.env, err, tc.want)
		}
	}
	cfg, err := config.Load[Config](map[string]string{"PERSONAL_DATA_KEY_FILE": file})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := keyring(cfg); err != nil || r == nil {
		t.Errorf("keyring(PERSONAL_DATA_KEY_FILE) = %v, %v", r, err)
	}
	if r, err := keyring(Config{}); err != nil || r != nil {
		t.Errorf("keyring(nothing set) = %v, %v; want none, no error", r, err)
	}
}

// TestBatchSettings: the batch bounds default to 500 events, 1 MiB and
// no linger, and a batch larger than the durable's MaxAckPending (which
// a fetch cannot exceed), of no bytes, or a negative linger stops the
// start, with the variables named.
func TestBatchSettings(t *testing.T) {
	cfg, err := config.Load[Config](map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Batch != 500 || cfg.BatchBytes != 1<<20 || cfg.BatchLinger != 0 {
		t.Errorf("defaults CONSUMER_BATCH %d, CONSUMER_BATCH_BYTES %d, CONSUMER_BATCH_LINGER %v; want 500, 1048576, 0s", cfg.Batch, cfg.BatchBytes, cfg.BatchLinger)
	}
	for _, env := range []map[string]string{
		{"CONSUMER_BATCH": "0"},
		{"CONSUMER_BATCH": "1001"},
		{"CONSUMER_BATCH_BYTES": "0"},
		{"CONSUMER_BATCH_LINGER": "-1ms"},
	} {
		err := run(context.Background(), []string{"--service", "audit"}, env, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "CONSUMER_BATCH") {
			t.Errorf("run with %v = %v, want an error naming the batch settings", env, err)
		}
	}
}

// TestSMTPConcurrency: the email service sends 8 mails at once by
// default; 0, or more than 64, stops the start with the variable named.
func TestSMTPConcurrency(t *testing.T) {
	cfg, err := config.Load[Config](map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SMTPConcurrency != 8 {
		t.Errorf("default SMTP_CONCURRENCY %d, want 8", cfg.SMTPConcurrency)
	}
	for _, v := range []string{"0", "65", "-1"} {
		err := run(context.Background(), []string{"--service", "email"}, map[string]string{"SMTP_CONCURRENCY": v}, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "SMTP_CONCURRENCY") {
			t.Errorf("run with SMTP_CONCURRENCY=%s = %v, want an error naming it", v, err)
		}
	}
}

// TestIdleInTxOutlastsTheHandler: the server must not end a session
// whose transaction holds a mail's claim while the handler may still be
// sending (its deadline is the ack wait less 1 s) and recording it (5 s).
func TestIdleInTxOutlastsTheHandler(t *testing.T) {
	for _, ackWait := range []time.Duration{2 * time.Second, 30 * time.Second, 60 * time.Second, 10 * time.Minute} {
		if got, need := idleInTxTimeout(ackWait), ackWait-time.Second+5*time.Second; got <= need {
			t.Errorf("CONSUMER_ACK_WAIT %s: idle_in_transaction_session_timeout %s, want more than %s", ackWait, got, need)
		}
	}
}
