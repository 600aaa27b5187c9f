package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/authevents/authevents/db/postgres"
	"github.com/authevents/authevents/db/postgres/pgtest"
)

// TestSessionSettings: every connection carries the binary's name and the
// server-side bounds, so a client that goes silent (partition, frozen
// host) cannot hold a transaction and its locks for hours. Settings given
// in the URL win.
func TestSessionSettings(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	pool, err := postgres.Open(ctx, url, 2, postgres.Session{AppName: "authevents-relay",
		StatementTimeout: 10 * time.Second, IdleInTxTimeout: 15 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	want := map[string]string{
		"application_name":                    "authevents-relay",
		"statement_timeout":                   "10s",
		"idle_in_transaction_session_timeout": "15s",
		"tcp_keepalives_idle":                 "15",
		"tcp_keepalives_interval":             "5",
		"tcp_keepalives_count":                "3",
	}
	for name, w := range want {
		var got string
		if err := pool.QueryRow(ctx, "SELECT current_setting($1)", name).Scan(&got); err != nil || got != w {
			t.Errorf("%s = %q, %v; want %q", name, got, err, w)
		}
	}

	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	pool2, err := postgres.Open(ctx, url+sep+"application_name=mine", 1, postgres.Session{AppName: "authevents-api"})
	if err != nil {
		t.Fatal(err)
	}
	defer pool2.Close()
	var name string
	pool2.QueryRow(ctx, "SELECT current_setting('application_name')").Scan(&name)
	if name != "mine" {
		t.Errorf("application_name from the URL = %q, want it to win", name)
	}
}
