package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/authevents/authevents/consumer"
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
		for i, key := range []string{"k", "", "k"} { // the third row is parked behind the first
			id := uuid.New()
			outbox.Append(ctx, tx, outbox.Message{ID: id, Subject: "x.y", Payload: []byte(`{}`), OrderingKey: key})
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
	if st["backlog"] != float64(1) || st["dead"] != float64(2) || st["parked"] != float64(1) || st["publishRatePerSecond"] == nil || st["stream"] != names.Stream {
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
	if len(rows) != 2 || rows[0].(map[string]any)["lastError"] != "no responders" ||
		rows[0].(map[string]any)["orderingKey"] != "k" || rows[0].(map[string]any)["parkedBehind"] != float64(1) {
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
	if st["backlog"] != float64(2) || st["dead"] != float64(0) || st["parked"] != float64(0) {
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

// Not parallel: authctl reads its configuration from the process environment.
func TestConsumerCommands(t *testing.T) {
	pool, dbURL := pgtest.NewWithURL(t)
	_, js, names := natstest.Shared(t)
	ctx := context.Background()
	if _, err := relay.EnsureStream(ctx, js, relay.StreamConfig{Name: names.Stream, Subjects: []string{names.Subject}, MaxAge: time.Hour, Duplicates: time.Minute}); err != nil {
		t.Fatal(err)
	}
	dlq := names.Stream + "-dlq"
	if err := consumer.EnsureDLQ(ctx, js, dlq); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { js.DeleteStream(context.Background(), dlq) })
	t.Setenv("DATABASE_URL", dbURL)
	t.Setenv("NATS_URL", natstest.URL())
	t.Setenv("DLQ_STREAM", dlq)

	var events []string
	for i := range 2 {
		id := uuid.NewString()
		events = append(events, id)
		m := &nats.Msg{Subject: consumer.DLQSubject(dlq, "email-service"), Data: []byte(fmt.Sprintf(`{"id":"%s","n":%d}`, id, i)), Header: nats.Header{}}
		m.Header.Set(consumer.HeaderOriginalSubject, names.For("user.registered"))
		m.Header.Set(consumer.HeaderConsumer, "email-service")
		m.Header.Set(consumer.HeaderDeliveries, "3")
		m.Header.Set(consumer.HeaderLastError, "smtp down")
		m.Header.Set(consumer.HeaderStreamSeq, strconv.Itoa(10+i))
		m.Header.Set(consumer.HeaderEventID, id)
		if _, err := js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	list, err := runCLI(t, "dlq", "list")
	if err != nil {
		t.Fatal(err)
	}
	dls := list["deadLetters"].([]any)
	if len(dls) != 2 {
		t.Fatalf("dlq list = %v", list)
	}
	first := dls[0].(map[string]any)
	if first["consumer"] != "email-service" || first["deliveries"] != "3" || first["lastError"] != "smtp down" ||
		first["originalSubject"] != names.For("user.registered") || first["streamSeq"] != "10" || first["eventId"] != events[0] {
		t.Errorf("dead letter = %v", first)
	}
	show, err := runCLI(t, "dlq", "show", "1")
	if err != nil || !strings.Contains(show["deadLetters"].([]any)[0].(map[string]any)["body"].(string), events[0]) {
		t.Fatalf("dlq show = %v, %v", show, err)
	}
	if _, err := runCLI(t, "dlq", "replay", "1"); err != nil {
		t.Fatal(err)
	}
	replayed := natstest.Collect(t, js, names.Stream, 1, 5*time.Second)
	if len(replayed) != 1 || replayed[0].Subject() != names.For("user.registered") ||
		replayed[0].Headers().Get(jetstream.MsgIDHeader) != events[0]+":replay:1" || !strings.Contains(string(replayed[0].Data()), events[0]) {
		t.Fatalf("replay did not republish dead letter 1 to its original subject")
	}
	if list, _ = runCLI(t, "dlq", "list"); len(list["deadLetters"].([]any)) != 1 {
		t.Fatalf("after replay: %v, want the other dead letter only", list)
	}
	if v, err := runCLI(t, "dlq", "purge", "--all"); err != nil || len(v["purged"].([]any)) != 1 {
		t.Fatalf("purge --all = %v, %v", v, err)
	}
	if list, _ = runCLI(t, "dlq", "list"); len(list["deadLetters"].([]any)) != 0 {
		t.Fatalf("after purge: %v", list)
	}

	user := uuid.New()
	pool.Exec(ctx, `INSERT INTO audit_log (event_id, type, user_id, occurred_at, envelope) VALUES ($1, 'user.logged_in', $2, '2026-11-28T10:00:00Z', '{"a":1}')`, uuid.New(), user)
	pool.Exec(ctx, `INSERT INTO analytics_event_counts VALUES ('2026-11-28T10:00:00Z', 'user.logged_in', 7)`)
	pool.Exec(ctx, `INSERT INTO security_alerts (event_id, rule, severity, user_id) VALUES ($1, 'token_reuse', 'high', $2)`, uuid.New(), user)
	a, err := runCLI(t, "audit", "--user", user.String(), "--since", "2026-11-01T00:00:00Z")
	if err != nil || len(a["entries"].([]any)) != 1 {
		t.Fatalf("audit = %v, %v", a, err)
	}
	if a, _ := runCLI(t, "audit", "--user", user.String(), "--since", "2026-11-29T00:00:00Z"); len(a["entries"].([]any)) != 0 {
		t.Errorf("audit --since after the entry = %v", a)
	}
	s, err := runCLI(t, "stats", "--since", "2026-11-28T00:00:00Z")
	if err != nil || len(s["eventsByHour"].([]any)) != 1 {
		t.Fatalf("stats = %v, %v", s, err)
	}
	al, err := runCLI(t, "security", "alerts")
	if err != nil || al["alerts"].([]any)[0].(map[string]any)["rule"] != "token_reuse" {
		t.Fatalf("security alerts = %v, %v", al, err)
	}
	if _, err := runCLI(t, "audit"); err == nil {
		t.Error("audit without --user succeeded")
	}
}

// TestPrune: authctl prune --dry-run counts the rows past retention per
// table and deletes nothing; without --dry-run it deletes exactly them.
// Not parallel: authctl reads its configuration from the process environment.
func TestPrune(t *testing.T) {
	pool, dbURL := pgtest.NewWithURL(t)
	t.Setenv("DATABASE_URL", dbURL)
	t.Setenv("CONSUMER_RETENTION", "24h")
	t.Setenv("CONSUMER_FAILURES_RETENTION", "24h")
	t.Setenv("SECURITY_RETENTION", "48h")
	ctx := context.Background()
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := pool.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	for i := range 3 {
		exec(`INSERT INTO processed_events (consumer, event_id, processed_at) VALUES ($1, $2, now() - interval '3 days')`, fmt.Sprint("c", i), uuid.New())
	}
	exec(`INSERT INTO processed_events (consumer, event_id) VALUES ('c0', $1)`, uuid.New())
	exec(`INSERT INTO consumer_failures (consumer, stream, stream_seq, failures, last_error, updated_at) VALUES ('c0', 's', 1, 1, 'x', now() - interval '3 days'), ('c0', 's', 2, 1, 'x', now())`)
	exec(`INSERT INTO consumer_leases (consumer, event_id, owner, expires_at) VALUES ('c0', $1, 'o', now() - interval '3 hours')`, uuid.New())
	exec(`INSERT INTO security_failed_logins (event_id, email, ip, at) VALUES ($1, 'a', 'b', now() - interval '3 days'), ($2, 'a', 'b', now())`, uuid.New(), uuid.New())
	exec(`INSERT INTO security_alert_marks (rule, key, bucket) VALUES ('r', 'k', now() - interval '3 days')`)
	// Sessions (SESSION_RETENTION, as bin/api prunes them): one that ended
	// long ago goes, a live one and one ended recently stay.
	user := uuid.New()
	exec(`INSERT INTO users (id, email, name, password_hash) VALUES ($1, 'prune@example.com', 'P', 'x')`, user)
	exec(`INSERT INTO sessions (id, user_id, expires_at, refresh_jti, refresh_issued_at, refresh_expires_at) VALUES ($1, $4, now() - interval '40 days', $2, now(), now()),
		($3, $4, now() + interval '1 day', $2, now(), now()), ($5, $4, now() + interval '1 day', $2, now(), now())`, uuid.New(), uuid.New(), uuid.New(), user, uuid.New())
	exec(`UPDATE sessions SET revoked_at = now() - interval '1 day' WHERE id = (SELECT id FROM sessions WHERE expires_at > now() LIMIT 1)`)
	want := map[string]any{"processed_events": 3.0, "consumer_failures": 1.0, "consumer_leases": 1.0, "security_failed_logins": 1.0, "security_alert_marks": 1.0, "sessions": 1.0}

	dry, err := runCLI(t, "prune", "--dry-run")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(dry["tables"]) != fmt.Sprint(want) || dry["total"] != 8.0 || dry["dryRun"] != true {
		t.Fatalf("prune --dry-run = %v, want tables %v, total 8", dry, want)
	}
	var left int
	pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM processed_events) + (SELECT count(*) FROM security_failed_logins)`).Scan(&left)
	if left != 6 {
		t.Fatalf("--dry-run deleted rows: %d left, want 6", left)
	}
	done, err := runCLI(t, "prune")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(done["tables"]) != fmt.Sprint(want) || done["total"] != 8.0 || done["dryRun"] != false {
		t.Fatalf("prune = %v, want tables %v, total 8", done, want)
	}
	again, err := runCLI(t, "prune", "--dry-run")
	if err != nil || again["total"] != 0.0 {
		t.Fatalf("after prune, prune --dry-run = %v, %v; want total 0", again, err)
	}
}
