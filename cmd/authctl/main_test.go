package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
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

// runCLI runs authctl with --json under env and decodes what it printed.
func runCLI(t *testing.T, env map[string]string, args ...string) (map[string]any, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(context.Background(), append(args, "--json"), env, &out)
	if err != nil {
		return nil, err
	}
	var v map[string]any
	if err := json.Unmarshal(out.Bytes(), &v); err != nil {
		t.Fatalf("authctl %v --json printed %q: %v", args, out.String(), err)
	}
	return v, nil
}

// runText runs authctl without --json and returns what it printed.
func runText(t *testing.T, env map[string]string, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	if err := run(context.Background(), args, env, &out); err != nil {
		t.Fatalf("authctl %v: %v", args, err)
	}
	if json.Valid(out.Bytes()) {
		t.Fatalf("authctl %v printed JSON without --json:\n%s", args, out.String())
	}
	return out.String()
}

// shape renders the structure of decoded JSON: objects with their keys
// sorted, the first element of arrays, and s, n, b, null for values. The
// --json outputs are a contract, so their shapes are asserted exactly.
func shape(v any) string {
	switch v := v.(type) {
	case map[string]any:
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(v)) {
			parts = append(parts, k+":"+shape(v[k]))
		}
		return "{" + strings.Join(parts, ",") + "}"
	case []any:
		if len(v) == 0 {
			return "[]"
		}
		return "[" + shape(v[0]) + "]"
	case string:
		return "s"
	case float64:
		return "n"
	case bool:
		return "b"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

func assertShape(t *testing.T, what string, v map[string]any, want string) {
	t.Helper()
	if got := shape(v); got != want {
		t.Errorf("authctl %s --json shape:\n got %s\nwant %s", what, got, want)
	}
}

func TestOutboxCommands(t *testing.T) {
	t.Parallel()
	pool, dbURL := pgtest.NewWithURL(t)
	_, js, names := natstest.Shared(t)
	if _, err := relay.EnsureStream(context.Background(), js, relay.StreamConfig{Name: names.Stream, Subjects: []string{names.Subject}, MaxAge: time.Hour, Duplicates: time.Minute}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"DATABASE_URL": dbURL, "NATS_URL": natstest.URL(), "STREAM_NAME": names.Stream}
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
	// The update left two dead tuples; a VACUUM removes them and sets
	// the last vacuum's time, which status then shows.
	if _, err := pool.Exec(ctx, `VACUUM outbox`); err != nil {
		t.Fatal(err)
	}

	st, err := runCLI(t, env, "outbox", "status", "--interval", "100ms")
	if err != nil {
		t.Fatal(err)
	}
	assertShape(t, "outbox status", st, "{backlog:n,dead:n,deadTuples:n,lastVacuum:s,oldestUnsentAgeSeconds:n,parked:n,publishRatePerSecond:n,stream:s,streamMessages:n}")
	if text := runText(t, env, "outbox", "status", "--interval", "10ms"); !strings.Contains(text, "backlog        1 rows\n") ||
		!strings.Contains(text, "parked         1 rows") || !strings.Contains(text, "dead tuples    ") || !strings.Contains(text, "on stream "+names.Stream+" (over 10ms)") {
		t.Errorf("outbox status text:\n%s", text)
	}
	// Without NATS the rate is unknown and the reason given, in both forms.
	noNATS := maps.Clone(env)
	noNATS["NATS_URL"] = "nats://127.0.0.1:1"
	if v, err := runCLI(t, noNATS, "outbox", "status"); err != nil || v["publishRatePerSecond"] != nil || v["note"] == "" || v["backlog"] != float64(1) {
		t.Errorf("outbox status without NATS = %v, %v", v, err)
	} else {
		assertShape(t, "outbox status (no NATS)", v, "{backlog:n,dead:n,deadTuples:n,lastVacuum:s,note:s,oldestUnsentAgeSeconds:n,parked:n,publishRatePerSecond:null,stream:s,streamMessages:null}")
	}
	if st["backlog"] != float64(1) || st["dead"] != float64(2) || st["parked"] != float64(1) || st["publishRatePerSecond"] == nil || st["stream"] != names.Stream {
		t.Fatalf("status = %v", st)
	}
	if age, _ := st["oldestUnsentAgeSeconds"].(float64); age < 0 {
		t.Errorf("lag = %v", age)
	}
	list, err := runCLI(t, env, "outbox", "dead", "list")
	if err != nil {
		t.Fatal(err)
	}
	assertShape(t, "outbox dead list", list, "{dead:[{attempts:n,createdAt:s,id:s,lastError:s,orderingKey:s,parkedBehind:n,payload:s,subject:s}]}")
	if text := runText(t, env, "outbox", "dead", "list"); !strings.Contains(text, "PARKED BEHIND") || !strings.Contains(text, dead[0].String()) {
		t.Errorf("outbox dead list text:\n%s", text)
	}
	rows := list["dead"].([]any)
	if len(rows) != 2 || rows[0].(map[string]any)["lastError"] != "no responders" ||
		rows[0].(map[string]any)["orderingKey"] != "k" || rows[0].(map[string]any)["parkedBehind"] != float64(1) {
		t.Fatalf("dead list = %v", list)
	}
	if _, err := runCLI(t, env, "outbox", "dead", "retry"); err == nil {
		t.Fatal("retry without ids or --all succeeded")
	}
	if v, err := runCLI(t, env, "outbox", "dead", "retry", dead[0].String()); err != nil || v["retried"] != float64(1) {
		t.Fatalf("retry = %v, %v", v, err)
	} else {
		assertShape(t, "outbox dead retry", v, "{retried:n}")
	}
	if text := runText(t, env, "outbox", "dead", "discard", "--all"); text != "discarded 1 dead rows\n" {
		t.Fatalf("discard --all printed %q", text)
	}
	if v, err := runCLI(t, env, "outbox", "dead", "discard", "--all"); err != nil || v["discarded"] != float64(0) {
		t.Fatalf("discard --all again = %v, %v", v, err)
	} else {
		assertShape(t, "outbox dead discard", v, "{discarded:n}")
	}
	st, _ = runCLI(t, env, "outbox", "status", "--interval", "10ms")
	if st["backlog"] != float64(2) || st["dead"] != float64(0) || st["parked"] != float64(0) {
		t.Fatalf("status after retry and discard = %v", st)
	}
}

// TestSchemaAndKeyCommands: migrate, db create and keygen, in text and
// with --json, against a database of their own.
func TestSchemaAndKeyCommands(t *testing.T) {
	t.Parallel()
	_, dbURL := pgtest.NewWithURL(t)
	env := map[string]string{"DATABASE_URL": dbURL}
	ctx := context.Background()
	ms, err := runCLI(t, env, "migrate", "status")
	if err != nil {
		t.Fatal(err)
	}
	assertShape(t, "migrate status", ms, "{migrations:[{applied:b,appliedAt:s,source:s,version:n}]}")
	if text := runText(t, env, "migrate", "status"); !strings.HasPrefix(text, "VERSION") || strings.Contains(text, "pending") {
		t.Errorf("migrate status text:\n%s", text)
	}
	down, err := runCLI(t, env, "migrate", "down")
	if err != nil {
		t.Fatal(err)
	}
	assertShape(t, "migrate down", down, "{rolledBack:n,source:s}")
	up, err := runCLI(t, env, "migrate", "up")
	if err != nil {
		t.Fatal(err)
	}
	assertShape(t, "migrate up", up, "{applied:[{durationMs:n,source:s,version:n}],version:n}")
	if up["applied"].([]any)[0].(map[string]any)["version"] != down["rolledBack"] {
		t.Errorf("migrate up applied %v, want the rolled back %v", up["applied"], down["rolledBack"])
	}
	if text := runText(t, env, "migrate", "up"); !strings.HasPrefix(text, "schema at version ") {
		t.Errorf("migrate up with nothing to do printed %q", text)
	}
	created, err := runCLI(t, env, "db", "create")
	if err != nil || created["created"] != false {
		t.Fatalf("db create on an existing database = %v, %v", created, err)
	}
	assertShape(t, "db create", created, "{created:b}")
	if text := runText(t, env, "db", "create"); text != "database exists\n" {
		t.Errorf("db create printed %q", text)
	}

	key := filepath.Join(t.TempDir(), "k.pem")
	if err := run(ctx, []string{"keygen", key}, env, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if err := run(ctx, []string{"keygen", key}, env, &bytes.Buffer{}); err == nil {
		t.Fatal("keygen overwrote a key")
	}
	if text := runText(t, env, "keygen", "--if-missing", key); text != "keeping the existing signing key "+key+"\n" {
		t.Fatalf("keygen --if-missing on a valid key printed %q", text)
	}
	kept, err := runCLI(t, env, "keygen", "--if-missing", key)
	if err != nil || kept["written"] != false || kept["file"] != key {
		t.Fatalf("keygen --if-missing --json = %v, %v", kept, err)
	}
	assertShape(t, "keygen", kept, "{file:s,written:b}")
	other := filepath.Join(t.TempDir(), "k2.pem")
	if v, err := runCLI(t, env, "keygen", "--if-missing", other); err != nil || v["written"] != true {
		t.Fatalf("keygen --if-missing without a key = %v, %v", v, err)
	}
}

func TestConsumerCommands(t *testing.T) {
	t.Parallel()
	pool, dbURL := pgtest.NewWithURL(t)
	_, js, names := natstest.Shared(t)
	ctx := context.Background()
	if _, err := relay.EnsureStream(ctx, js, relay.StreamConfig{Name: names.Stream, Subjects: []string{names.Subject}, MaxAge: time.Hour, Duplicates: time.Minute}); err != nil {
		t.Fatal(err)
	}
	dlq := names.Stream + "-dlq"
	if err := consumer.EnsureDLQ(ctx, js, dlq, 1); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { js.DeleteStream(context.Background(), dlq) })
	env := map[string]string{"DATABASE_URL": dbURL, "NATS_URL": natstest.URL(), "DLQ_STREAM": dlq}

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
	list, err := runCLI(t, env, "dlq", "list")
	if err != nil {
		t.Fatal(err)
	}
	assertShape(t, "dlq list", list, "{deadLetters:[{consumer:s,deliveries:s,eventId:s,lastError:s,originalSubject:s,seq:n,stream:s,streamSeq:s,time:s}]}")
	if text := runText(t, env, "dlq", "list"); !strings.HasPrefix(text, "SEQ") || !strings.Contains(text, events[1]) || !strings.Contains(text, "smtp down") {
		t.Errorf("dlq list text:\n%s", text)
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
	show, err := runCLI(t, env, "dlq", "show", "1")
	if err != nil || !strings.Contains(show["deadLetters"].([]any)[0].(map[string]any)["body"].(string), events[0]) {
		t.Fatalf("dlq show = %v, %v", show, err)
	}
	assertShape(t, "dlq show", show, "{deadLetters:[{body:s,consumer:s,deliveries:s,eventId:s,lastError:s,originalSubject:s,seq:n,stream:s,streamSeq:s,time:s}]}")
	if all, err := runCLI(t, env, "dlq", "show", "--all"); err != nil || len(all["deadLetters"].([]any)) != 2 {
		t.Fatalf("dlq show --all = %v, %v", all, err)
	}
	if v, err := runCLI(t, env, "dlq", "replay", "1"); err != nil {
		t.Fatal(err)
	} else {
		assertShape(t, "dlq replay", v, "{replayed:[{consumer:s,deliveries:s,eventId:s,lastError:s,originalSubject:s,seq:n,stream:s,streamSeq:s,time:s}]}")
	}
	replayed := natstest.Collect(t, js, names.Stream, 1, 5*time.Second)
	if len(replayed) != 1 || replayed[0].Subject() != names.For("user.registered") ||
		replayed[0].Headers().Get(jetstream.MsgIDHeader) != events[0]+":replay:1" || !strings.Contains(string(replayed[0].Data()), events[0]) {
		t.Fatalf("replay did not republish dead letter 1 to its original subject")
	}
	if list, _ = runCLI(t, env, "dlq", "list"); len(list["deadLetters"].([]any)) != 1 {
		t.Fatalf("after replay: %v, want the other dead letter only", list)
	}
	if v, err := runCLI(t, env, "dlq", "purge", "--all"); err != nil || len(v["purged"].([]any)) != 1 {
		t.Fatalf("purge --all = %v, %v", v, err)
	} else {
		assertShape(t, "dlq purge", v, "{purged:[{consumer:s,deliveries:s,eventId:s,lastError:s,originalSubject:s,seq:n,stream:s,streamSeq:s,time:s}]}")
	}
	if text := runText(t, env, "dlq", "purge", "--all"); text != "purged 0 dead letters\n" {
		t.Errorf("dlq purge --all with nothing left printed %q", text)
	}
	if list, _ = runCLI(t, env, "dlq", "list"); len(list["deadLetters"].([]any)) != 0 {
		t.Fatalf("after purge: %v", list)
	}

	user := uuid.New()
	pool.Exec(ctx, `INSERT INTO audit_log (event_id, type, user_id, occurred_at, envelope) VALUES ($1, 'user.logged_in', $2, '2026-11-28T10:00:00Z', '{"a":1}')`, uuid.New(), user)
	pool.Exec(ctx, `INSERT INTO analytics_event_counts VALUES ('2026-11-28T10:00:00Z', 'user.logged_in', 7)`)
	pool.Exec(ctx, `INSERT INTO analytics_active_users VALUES ('2026-11-28', $1)`, user)
	pool.Exec(ctx, `INSERT INTO security_alerts (event_id, rule, severity, user_id, email, ip, details) VALUES ($1, 'token_reuse', 'high', $2, 'a@example.com', '203.0.113.9', '{"sessionId":"s1","userAgent":"ua/1"}')`, uuid.New(), user)
	a, err := runCLI(t, env, "audit", "--user", user.String(), "--since", "2026-11-01T00:00:00Z")
	if err != nil || len(a["entries"].([]any)) != 1 {
		t.Fatalf("audit = %v, %v", a, err)
	}
	assertShape(t, "audit", a, "{entries:[{baseType:s,envelope:{a:n},eventId:s,ip:s,occurredAt:s,type:s,userAgent:s,userId:s}]}")
	// stats, security alerts and audit print text unless --json asks for
	// the JSON they printed before.
	if text := runText(t, env, "audit", "--user", user.String()); !strings.Contains(text, "user.logged_in") || !strings.HasPrefix(text, "OCCURRED AT") {
		t.Errorf("audit text:\n%s", text)
	}
	if text := runText(t, env, "stats", "--since", "2026-11-28T00:00:00Z"); !strings.Contains(text, "2026-11-28T10:00:00Z  user.logged_in  7") ||
		!strings.Contains(text, "2026-11-28  1") {
		t.Errorf("stats text:\n%s", text)
	}
	if text := runText(t, env, "security", "alerts"); !strings.Contains(text, "token_reuse") || !strings.Contains(text, user.String()) || !strings.Contains(text, `"userAgent": "ua/1"`) {
		t.Errorf("security alerts text:\n%s", text)
	}
	if a, _ := runCLI(t, env, "audit", "--user", user.String(), "--since", "2026-11-29T00:00:00Z"); len(a["entries"].([]any)) != 0 {
		t.Errorf("audit --since after the entry = %v", a)
	}
	s, err := runCLI(t, env, "stats", "--since", "2026-11-28T00:00:00Z")
	if err != nil || len(s["eventsByHour"].([]any)) != 1 {
		t.Fatalf("stats = %v, %v", s, err)
	}
	assertShape(t, "stats", s, "{activeUsersByDay:[{day:s,users:n}],eventsByHour:[{count:n,hour:s,type:s}]}")
	al, err := runCLI(t, env, "security", "alerts")
	if err != nil || al["alerts"].([]any)[0].(map[string]any)["rule"] != "token_reuse" {
		t.Fatalf("security alerts = %v, %v", al, err)
	}
	assertShape(t, "security alerts", al, "{alerts:[{createdAt:s,details:{sessionId:s,userAgent:s},email:s,eventId:s,id:n,ip:s,rule:s,severity:s,userId:s}]}")
	if _, err := runCLI(t, env, "audit"); err == nil {
		t.Error("audit without --user succeeded")
	}
}

// TestPrune: authctl prune --dry-run counts the rows past retention per
// table and deletes nothing; without --dry-run it deletes exactly them.
func TestPrune(t *testing.T) {
	t.Parallel()
	pool, dbURL := pgtest.NewWithURL(t)
	env := map[string]string{"DATABASE_URL": dbURL, "CONSUMER_RETENTION": "24h", "CONSUMER_FAILURES_RETENTION": "24h", "SECURITY_RETENTION": "48h"}
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
	exec(`INSERT INTO security_account_events (event_id, kind, user_id, at) VALUES ($1, 'reset_requested', $3, now() - interval '3 days'), ($2, 'reset_requested', $3, now())`, uuid.New(), uuid.New(), user)
	// One-time links: an expired one goes, a live one stays.
	exec(`INSERT INTO one_time_tokens (token_hash, user_id, purpose, email, expires_at) VALUES (decode(repeat('aa', 32), 'hex'), $1, 'verify_email', 'prune@example.com', now() - interval '1 minute'),
		(decode(repeat('bb', 32), 'hex'), $1, 'reset_password', 'prune@example.com', now() + interval '1 hour')`, user)
	// A day key of no user made 40 days ago is erased; the user's own
	// (as old) is kept.
	exec(`INSERT INTO personal_keys (user_id, kek_id, wrapped_key, created_at) VALUES ($1, 'k', 'w', now() - interval '40 days'), ($2, 'k', 'w', now() - interval '40 days')`, uuid.New(), user)
	want := map[string]any{"processed_events": 3.0, "consumer_failures": 1.0, "consumer_leases": 1.0, "security_failed_logins": 1.0, "security_alert_marks": 1.0,
		"security_account_events": 1.0, "one_time_tokens": 1.0, "sessions": 1.0, "personal_keys": 1.0}

	dry, err := runCLI(t, env, "prune", "--dry-run")
	if err != nil {
		t.Fatal(err)
	}
	assertShape(t, "prune", dry, "{dryRun:b,tables:{consumer_failures:n,consumer_leases:n,one_time_tokens:n,personal_keys:n,processed_events:n,security_account_events:n,security_alert_marks:n,security_failed_logins:n,sessions:n},total:n}")
	if text := runText(t, env, "prune", "--dry-run"); !strings.Contains(text, "ROWS would delete") || !regexp.MustCompile(`(?m)^total +11$`).MatchString(text) {
		t.Errorf("prune --dry-run text:\n%s", text)
	}
	if fmt.Sprint(dry["tables"]) != fmt.Sprint(want) || dry["total"] != 11.0 || dry["dryRun"] != true {
		t.Fatalf("prune --dry-run = %v, want tables %v, total 11", dry, want)
	}
	var left int
	pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM processed_events) + (SELECT count(*) FROM security_failed_logins)`).Scan(&left)
	if left != 6 {
		t.Fatalf("--dry-run deleted rows: %d left, want 6", left)
	}
	done, err := runCLI(t, env, "prune")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(done["tables"]) != fmt.Sprint(want) || done["total"] != 11.0 || done["dryRun"] != false {
		t.Fatalf("prune = %v, want tables %v, total 11", done, want)
	}
	again, err := runCLI(t, env, "prune", "--dry-run")
	if err != nil || again["total"] != 0.0 {
		t.Fatalf("after prune, prune --dry-run = %v, %v; want total 0", again, err)
	}
}
