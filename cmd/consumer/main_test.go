package main

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/db/postgres/pgtest"
	"github.com/authevents/authevents/internal/natstest"
)

// TestSIGKILLMidMessageLosesNothing kills the audit consumer process at
// random moments while it works through 3,000 events and restarts it: every
// event ends up in the audit log exactly once.
func TestSIGKILLMidMessageLosesNothing(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "consumer")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	pool, dbURL := pgtest.NewWithURL(t)
	srv := natstest.Start(t) // the stream must be named auth-events: a private server
	nc := natstest.Connect(t, srv.URL())
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "auth-events", Subjects: []string{"auth.user.*"}, Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
	const n = 3000
	for i := range n {
		id := uuid.Must(uuid.NewV7()).String()
		data, _ := json.Marshal(map[string]string{"userId": uuid.NewString()})
		body, _ := json.Marshal(authevents.CloudEvent{SpecVersion: "1.0", ID: id, Source: "t", Type: "user.logged_in",
			Time: time.Now().UTC().Format(authevents.TimestampLayout), DataContentType: "application/json", Data: data})
		msg := &nats.Msg{Subject: "auth.user.logged_in", Data: body, Header: nats.Header{}}
		msg.Header.Set(jetstream.MsgIDHeader, id)
		if _, err := js.PublishMsg(ctx, msg); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	env := append(os.Environ(), "DATABASE_URL="+dbURL, "NATS_URL="+srv.URL(), "OPS_ADDR=127.0.0.1:0",
		"CONSUMER_ACK_WAIT=2s", "CONSUMER_BACKOFF=100ms", "LOG_LEVEL=warn")
	audited := func() int {
		var c int
		pool.QueryRow(ctx, `SELECT count(*) FROM audit_log`).Scan(&c)
		return c
	}
	kills := 0
	for (audited() < n*2/3 || kills < 3) && kills < 20 {
		cmd := exec.Command(bin, "--service", "audit")
		cmd.Env = env
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(150+rand.IntN(250)) * time.Millisecond) // a random moment, by design
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		kills++
	}
	cmd := exec.Command(bin, "--service", "audit")
	cmd.Env = env
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for audited() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d events audited after %d kills", audited(), n, kills)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var distinct int
	pool.QueryRow(ctx, `SELECT count(DISTINCT event_id) FROM audit_log`).Scan(&distinct)
	if distinct != n || audited() != n {
		t.Fatalf("audit log: %d rows, %d distinct, want %d", audited(), distinct, n)
	}
	t.Logf("%d events, %d kills", n, kills)
}
