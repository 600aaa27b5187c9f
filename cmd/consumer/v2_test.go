package main

import (
	"context"
	"encoding/json"
	"os/exec"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/internal/testenv"
	"github.com/authevents/authevents/personal"
)

// TestBinaryReadsVersion2WithTheKey: bin/consumer given PERSONAL_DATA_KEY
// records, of a change published in both versions, the version 2 (which
// passes its schema: nothing dead-lettered) and acks its twin, and an
// older producer's version 1 as before; without the key it records the
// version 1 events and acks version 2 unread. Either way every message is
// acknowledged.
func TestBinaryReadsVersion2WithTheKey(t *testing.T) {
	t.Parallel()
	kek := personal.GenerateKEK()
	for _, withKey := range []bool{true, false} {
		w := newWorld(t, 0)
		ring, err := personal.NewKeyring(kek)
		if err != nil {
			t.Fatal(err)
		}
		keys := personal.NewKeys(w.pool, ring, personal.Options{})
		ctx, user, now := context.Background(), uuid.New(), time.Now()
		var key *personal.DataKey
		if err := pgx.BeginFunc(ctx, w.pool, func(tx pgx.Tx) (err error) {
			key, err = keys.Create(ctx, tx, user)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		login := func() authevents.CloudEvent {
			ce, _ := authevents.NewCloudEvent(authevents.EventSource{Source: "t"}, uuid.NewString(), authevents.EventUserLoggedIn, user.String(), now,
				authevents.UserLoggedIn{UserID: user.String(), Email: "a@example.com", Timestamp: authevents.Timestamp(now), IP: "192.0.2.1", UserAgent: "t"})
			return ce
		}
		v1, legacy := login(), login()
		v2, err := personal.Protect(&v1, uuid.NewString(), key)
		if err != nil {
			t.Fatal(err)
		}
		for _, ce := range []authevents.CloudEvent{v1, v2, legacy} {
			body, _ := json.Marshal(ce)
			msg := &nats.Msg{Subject: "auth." + ce.Type, Data: body, Header: nats.Header{}}
			msg.Header.Set(jetstream.MsgIDHeader, ce.ID)
			if _, err := w.js.PublishMsg(ctx, msg); err != nil {
				t.Fatal(err)
			}
		}
		want := []string{v2.ID, legacy.ID}
		if !withKey {
			want = []string{v1.ID, legacy.ID}
		} else {
			w.env = append(w.env, "PERSONAL_DATA_KEY="+kek)
		}
		slices.Sort(want)
		cmd := w.start(t)
		testenv.WaitFor(t, "every message acknowledged", 30*time.Second, func() bool { return w.settled(t, 3) })
		stop(cmd)
		rows, _ := w.pool.Query(ctx, `SELECT event_id::text FROM audit_log ORDER BY 1`)
		got, _ := pgx.CollectRows(rows, pgx.RowTo[string])
		if !slices.Equal(got, want) {
			t.Errorf("key %v: audited %v, want %v", withKey, got, want)
		}
	}
}

// settled reports whether the audit durable has acknowledged n messages
// and holds none, and the dead-letter stream is empty.
func (w *world) settled(t *testing.T, n uint64) bool {
	t.Helper()
	ctx := context.Background()
	c, err := w.js.Consumer(ctx, "auth-events", "audit-log")
	if err != nil {
		return false
	}
	info, err := c.Info(ctx)
	if err != nil || info.AckFloor.Stream < n || info.NumAckPending > 0 {
		return false
	}
	if dlq, err := w.js.Stream(ctx, "auth-events-dlq"); err == nil && dlq.CachedInfo().State.Msgs > 0 {
		t.Fatalf("%d dead letters", dlq.CachedInfo().State.Msgs)
	}
	return true
}

func stop(cmd *exec.Cmd) {
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
}
