package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/authevents/authevents/db/postgres"
	"github.com/authevents/authevents/db/postgres/pgtest"
	"github.com/authevents/authevents/internal/natstest"
	"github.com/authevents/authevents/outbox"
	"github.com/authevents/authevents/relay"
	"github.com/google/uuid"
)

func runCLI(t *testing.T, args ...string) (map[string]any, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(context.Background(), append(args, "--json"), &out)
	if err != nil {
		return nil, err
	}
	var v map[string]any
	if err := json.Unmarshal(out.Bytes(), &v); err != nil {
		t.Fatalf("authctl %v --json printed %q: %v", args, out.String(), err)
	}
	return v, nil
}

// Not parallel: authctl reads its configuration from the process environment.
func TestOutboxCommands(t *testing.T) {
	pool, dbURL := pgtest.NewWithURL(t)
	_, js, names := natstest.Shared(t)
	if _, err := relay.EnsureStream(context.Background(), js, relay.StreamConfig{Name: names.Stream, Subjects: []string{names.Subject}, MaxAge: time.Hour, Duplicates: time.Minute}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DATABASE_URL", dbURL)
	t.Setenv("NATS_URL", natstest.URL())
	t.Setenv("STREAM_NAME", names.Stream)
	ctx := context.Background()
	var dead []uuid.UUID
	postgres.WithTx(ctx, pool, func(tx pgx.Tx) error {
		for i := range 3 {
			id := uuid.New()
			outbox.Append(ctx, tx, outbox.Message{ID: id, Subject: "x.y", Payload: []byte(`{}`)})
			if i < 2 {
				dead = append(dead, id)
			}
		}
		return nil
	})
	pool.Exec(ctx, `UPDATE outbox SET state = 'dead', attempts = 10, last_error = 'no responders' WHERE id = ANY($1)`, dead)

	st, err := runCLI(t, "outbox", "status")
	if err != nil {
		t.Fatal(err)
	}
	if st["backlog"] != float64(1) || st["dead"] != float64(2) || st["publishRatePerSecond"] == nil || st["stream"] != names.Stream {
		t.Fatalf("status = %v", st)
	}
	if age, _ := st["oldestUnsentAgeSeconds"].(float64); age < 0 {
		t.Errorf("lag = %v", age)
	}
	list, err := runCLI(t, "outbox", "dead", "list")
	if err != nil {
		t.Fatal(err)
	}
	rows := list["dead"].([]any)
	if len(rows) != 2 || rows[0].(map[string]any)["lastError"] != "no responders" {
		t.Fatalf("dead list = %v", list)
	}
	if _, err := runCLI(t, "outbox", "dead", "retry"); err == nil {
		t.Fatal("retry without ids or --all succeeded")
	}
	if v, err := runCLI(t, "outbox", "dead", "retry", dead[0].String()); err != nil || v["retried"] != float64(1) {
		t.Fatalf("retry = %v, %v", v, err)
	}
	if v, err := runCLI(t, "outbox", "dead", "discard", "--all"); err != nil || v["discarded"] != float64(1) {
		t.Fatalf("discard --all = %v, %v", v, err)
	}
	st, _ = runCLI(t, "outbox", "status")
	if st["backlog"] != float64(2) || st["dead"] != float64(0) {
		t.Fatalf("status after retry and discard = %v", st)
	}
	if _, err := runCLI(t, "migrate", "status"); err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(t.TempDir(), "k.pem")
	if err := run(ctx, []string{"keygen", key}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if err := run(ctx, []string{"keygen", key}, &bytes.Buffer{}); err == nil {
		t.Fatal("keygen overwrote a key")
	}
	if err := run(ctx, []string{"keygen", "--if-missing", key}, &bytes.Buffer{}); err != nil {
		t.Fatalf("keygen --if-missing on a valid key: %v", err)
	}
}
