package relay_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/authevents/authevents/internal/metrictest"
	"github.com/authevents/authevents/internal/natstest"
	"github.com/authevents/authevents/internal/testenv"
	"github.com/authevents/authevents/outbox"
	"github.com/authevents/authevents/relay"
)

func TestPublishesRowsExactly(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	r := e.newRelay(t, fastConfig(), nil)
	want := map[string][]byte{}
	for i, key := range []string{"user-a", "user-b", ""} {
		p := []byte(fmt.Sprintf(`{"specversion":"1.0", "odd spacing":  %d}`, i))
		id := e.insert(t, key, e.names.For("user.registered"), p)
		want[id.String()] = p
	}
	start(t, r)
	msgs := natstest.Collect(t, e.js, e.names.Stream, 3, 10*time.Second)
	if len(msgs) != 3 {
		t.Fatalf("%d messages in the stream, want 3", len(msgs))
	}
	for _, m := range msgs {
		id := m.Headers().Get(jetstream.MsgIDHeader)
		if string(m.Data()) != string(want[id]) {
			t.Errorf("message %s body = %q, want the payload byte for byte %q", id, m.Data(), want[id])
		}
		if ct := m.Headers().Get("Content-Type"); ct != "application/cloudevents+json" {
			t.Errorf("Content-Type = %q", ct)
		}
		if m.Subject() != e.names.For("user.registered") {
			t.Errorf("subject = %q", m.Subject())
		}
	}
	// In the stream is not yet marked sent: the PubAcks come first.
	testenv.WaitFor(t, "the published rows to be deleted", 10*time.Second, func() bool { return e.stats(t).Backlog == 0 })
	if s := e.stats(t); s.Backlog != 0 || s.Dead != 0 {
		t.Errorf("after drain: %+v, want an empty outbox", s)
	}
	// Provisioning is idempotent and has the contract's settings.
	s, err := relay.EnsureStream(context.Background(), e.js, streamConfig(e.names))
	if err != nil {
		t.Fatal(err)
	}
	info, _ := s.Info(context.Background())
	c := info.Config
	if c.Storage != jetstream.FileStorage || c.Discard != jetstream.DiscardOld || c.MaxAge != 7*24*time.Hour ||
		c.MaxMsgs != 100_000 || c.MaxBytes != 100<<20 || c.Duplicates != 10*time.Minute {
		t.Errorf("stream config = %+v", c)
	}
}

// TestLateCommitIsNotSkipped: a transaction that appended a row first but
// commits last still gets its row published.
func TestLateCommitIsNotSkipped(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	r := e.newRelay(t, fastConfig(), nil)
	ctx := context.Background()
	late, err := e.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	lateID := uuid.Must(uuid.NewV7())
	if err := outbox.Append(ctx, late, outbox.Message{ID: lateID, Subject: e.names.For("user.registered"), Payload: []byte(`{"late":true}`), OrderingKey: "k1"}); err != nil {
		t.Fatal(err)
	}
	early := e.insert(t, "k2", e.names.For("user.registered"), []byte(`{"early":true}`))
	start(t, r)
	// The relay has claimed past the late row's place: it published the
	// row appended after it.
	if got := ids(natstest.Collect(t, e.js, e.names.Stream, 1, 10*time.Second)); len(got) != 1 || got[0] != early.String() {
		t.Fatalf("stream ids = %v, want [%s] while the late transaction is open", got, early)
	}
	if err := late.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	got := ids(natstest.Collect(t, e.js, e.names.Stream, 2, 10*time.Second))
	if len(got) != 2 || got[0] != early.String() || got[1] != lateID.String() {
		t.Fatalf("stream ids = %v, want [%s %s]", got, early, lateID)
	}
}

// TestThreeRelaysKeepOrderAndPublishOnce: three relays drain concurrently
// written rows of 40 keys; every row is published once, and each key's
// rows appear in the stream in commit order.
func TestThreeRelaysKeepOrderAndPublishOnce(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	regs := make([]*prometheus.Registry, 3)
	var wg sync.WaitGroup
	cfg := fastConfig()
	cfg.BatchSize = 10 // many batches, so every relay gets a share of the work
	for i := range 3 {
		regs[i] = prometheus.NewRegistry()
		r := e.newRelay(t, cfg, regs[i])
		wg.Go(func() { r.Run(ctx) })
	}
	const keys, perKey = 40, 15
	var pw sync.WaitGroup
	for k := range keys {
		pw.Go(func() {
			key := fmt.Sprintf("user-%d", k)
			for n := range perKey {
				e.insert(t, key, e.names.For("user.logged_in"), payload(key, n))
			}
		})
	}
	pw.Wait()
	msgs := natstest.Collect(t, e.js, e.names.Stream, keys*perKey, 30*time.Second)
	cancel()
	wg.Wait()
	if len(msgs) != keys*perKey {
		t.Fatalf("%d messages, want %d", len(msgs), keys*perKey)
	}
	seen := map[string]bool{}
	last := map[string]int{}
	for _, m := range msgs {
		id := m.Headers().Get(jetstream.MsgIDHeader)
		if seen[id] {
			t.Fatalf("event %s published twice", id)
		}
		seen[id] = true
		var p struct {
			Key string
			N   int
		}
		json.Unmarshal(m.Data(), &p)
		if prev, ok := last[p.Key]; ok && p.N != prev+1 {
			t.Fatalf("key %s: event %d after %d, want commit order", p.Key, p.N, prev)
		} else if !ok && p.N != 0 {
			t.Fatalf("key %s starts at %d", p.Key, p.N)
		}
		last[p.Key] = p.N
	}
	// Every relay did some of the work: throughput is shared, not serialized on one.
	busy := 0
	for _, reg := range regs {
		if n, _ := metrictest.Value(t, reg, "authevents_relay_published_total", "result", "ok"); n > 0 {
			busy++
		}
	}
	if busy < 2 {
		t.Errorf("only %d of 3 relays published anything", busy)
	}
	if s := e.stats(t); s.Backlog != 0 {
		t.Errorf("backlog %d after drain", s.Backlog)
	}
}
