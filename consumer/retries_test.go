package consumer_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authevents/authevents/consumer"
	"github.com/authevents/authevents/consumer/audit"
	"github.com/authevents/authevents/internal/natstest"
	"github.com/authevents/authevents/internal/testenv"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
)

// flaky fails the first n attempts per event, then delegates.
type flaky struct {
	h     consumer.Handler
	n     int
	mu    sync.Mutex
	calls map[string]int
}

func (f *flaky) Handle(ctx context.Context, ev *consumer.Event) error {
	f.mu.Lock()
	f.calls[ev.ID]++
	c := f.calls[ev.ID]
	f.mu.Unlock()
	if c <= f.n {
		return fmt.Errorf("induced failure %d", c)
	}
	return f.h.Handle(ctx, ev)
}

func TestRedeliveryAfterFailure(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.publish(t, "user.registered", uuid.NewString(), "")
	h := &flaky{h: audit.New(e.pool), n: 2, calls: map[string]int{}}
	stop := e.run(t, h, nil)
	defer stop()
	testenv.WaitFor(t, "the third attempt to succeed", 10*time.Second, func() bool { return e.auditRows(t) == 1 })
	for id, c := range h.calls {
		if c != 3 {
			t.Errorf("event %s handled %d times, want 3 (two failures, one success)", id, c)
		}
	}
	testenv.WaitFor(t, "the failure count to be cleared", 5*time.Second, func() bool { return e.failureRows(t) == 0 })
}

// TestDeadLetterAndReplay: three failures put the message in the
// dead-letter stream with its metadata and terminate it; replaying it
// (DeadLetters.Replay, authctl dlq replay) makes it succeed once the
// handler works.
func TestDeadLetterAndReplay(t *testing.T) {
	t.Parallel()
	e := setup(t)
	id, body := e.publish(t, "user.logged_in", uuid.NewString(), "")
	var broken atomic.Bool
	broken.Store(true)
	var calls atomic.Int32
	h := consumer.HandlerFunc(func(ctx context.Context, ev *consumer.Event) error {
		calls.Add(1)
		if broken.Load() {
			return errors.New("smtp server on fire")
		}
		return audit.New(e.pool).Handle(ctx, ev)
	})
	reg := prometheus.NewRegistry()
	stop := e.run(t, h, reg)
	defer stop()
	msgs := natstest.Collect(t, e.js, e.dlq, 1, 15*time.Second)
	if len(msgs) != 1 {
		t.Fatalf("%d dead letters, want 1", len(msgs))
	}
	dl := msgs[0]
	hdr := dl.Headers()
	want := map[string]string{
		consumer.HeaderOriginalSubject: e.names.For("user.logged_in"), consumer.HeaderStream: e.names.Stream,
		consumer.HeaderStreamSeq: "1", consumer.HeaderConsumer: audit.Durable, consumer.HeaderDeliveries: "3", consumer.HeaderFailures: "3",
		consumer.HeaderLastError: "smtp server on fire", consumer.HeaderEventID: id.String(),
	}
	for k, v := range want {
		if hdr.Get(k) != v {
			t.Errorf("dead letter header %s = %q, want %q", k, hdr.Get(k), v)
		}
	}
	if string(dl.Data()) != string(body) {
		t.Error("dead letter body differs from the original")
	}
	if c := calls.Load(); c != 3 {
		t.Errorf("handler called %d times, want 3", c)
	}
	testenv.WaitFor(t, "the source message to be settled", 10*time.Second, func() bool { return pendingOf(t, e) == 0 })
	if c := calls.Load(); c != 3 {
		t.Errorf("terminated message was delivered again (%d calls)", c)
	}
	// The failure row is deleted right after the term that settles the
	// message, so it may outlive the settled state by a moment.
	testenv.WaitFor(t, "no failure rows left after dead-lettering", 5*time.Second, func() bool { return e.failureRows(t) == 0 })
	for name, want := range map[string]float64{
		"authevents_consumer_dead_lettered_total": 1, "authevents_consumer_redeliveries_total": 2,
	} {
		if got := counterSum(t, reg, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}

	broken.Store(false)
	md, err := dl.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	dls, err := consumer.OpenDeadLetters(context.Background(), e.js, e.dlq)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dls.Replay(context.Background(), md.Sequence.Stream); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "the replayed event in the audit log", 10*time.Second, func() bool { return e.auditRows(t) == 1 })
}

func TestPermanentFailureIsNotRetried(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.publishRaw(t, e.names.For("user.registered"), []byte(`not json at all`), "poison-1")
	var calls atomic.Int32
	stop := e.run(t, consumer.HandlerFunc(func(ctx context.Context, ev *consumer.Event) error { calls.Add(1); return nil }), nil)
	defer stop()
	msgs := natstest.Collect(t, e.js, e.dlq, 1, 10*time.Second)
	if len(msgs) != 1 || msgs[0].Headers().Get(consumer.HeaderDeliveries) != "1" {
		t.Fatalf("poison message: %d dead letters (deliveries %q), want 1 after 1 delivery", len(msgs), msgs[0].Headers().Get(consumer.HeaderDeliveries))
	}
	if calls.Load() != 0 {
		t.Error("handler called with a body that is not a CloudEvent")
	}
}
