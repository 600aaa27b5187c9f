package consumer_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/authevents/authevents/consumer"
	"github.com/authevents/authevents/consumer/audit"
	"github.com/authevents/authevents/internal/natstest"
	"github.com/authevents/authevents/internal/testenv"
)

// poisonous is the audit handler with some events that make its batch
// statement fail, as a row the database refuses would: the handler
// cannot tell which event is to blame, so the consumer has to find it.
type poisonous struct {
	*audit.Handler
	mu      sync.Mutex
	poison  map[uuid.UUID]bool
	batches [][]uuid.UUID // the events of each HandleBatch call
}

func (p *poisonous) HandleBatch(ctx context.Context, tx pgx.Tx, evs []*consumer.Event) error {
	p.mu.Lock()
	ids := make([]uuid.UUID, len(evs))
	bad := false
	for i, ev := range evs {
		ids[i] = ev.EventID
		bad = bad || p.poison[ev.EventID]
	}
	p.batches = append(p.batches, ids)
	p.mu.Unlock()
	if err := p.Handler.HandleBatch(ctx, tx, evs); err != nil {
		return err
	}
	if bad {
		_, err := tx.Exec(ctx, `SELECT 1/0`) // division by zero
		return err
	}
	return nil
}

// publishBatch publishes n events, those at the indexes in poison made
// poisonous to h, and returns their ids in stream order.
func (e *env) publishBatch(t *testing.T, h *poisonous, n int, poison ...int) []uuid.UUID {
	t.Helper()
	ids := make([]uuid.UUID, n)
	for i := range n {
		ids[i], _ = e.publish(t, "user.logged_in", uuid.NewString(), "")
	}
	for _, i := range poison {
		h.poison[ids[i]] = true
	}
	return ids
}

// TestPoisonInTheMiddleOfABatchFailsAlone: of ten events fetched in one
// batch, the sixth makes the batch's statement fail, and a message that
// is not a CloudEvent sits between them. The eight good events are
// recorded, in fewer transactions than events; the bad envelope is
// dead-lettered without reaching the handler; the poison goes its own
// way: three attempts, then the dead-letter stream with the reason.
func TestPoisonInTheMiddleOfABatchFailsAlone(t *testing.T) {
	t.Parallel()
	e := setup(t)
	h := &poisonous{Handler: audit.New(e.pool), poison: map[uuid.UUID]bool{}}
	ids := e.publishBatch(t, h, 5)
	e.publishRaw(t, e.names.For("user.logged_in"), []byte(`not json at all`), "bad-envelope")
	ids = append(ids, e.publishBatch(t, h, 4)...)
	h.poison[ids[5]] = true // the sixth event
	reg := prometheus.NewRegistry()
	e.run(t, h, reg)
	dead := natstest.Collect(t, e.js, e.dlq, 2, 20*time.Second)
	reasons := map[string]bool{}
	for _, m := range dead {
		reasons[m.Headers().Get(consumer.HeaderEventID)+" "+m.Headers().Get(consumer.HeaderLastError)] = true
	}
	if len(dead) != 2 || !reasons[ids[5].String()+" ERROR: division by zero (SQLSTATE 22012)"] {
		t.Errorf("dead letters %v, want the poison's with its reason and the bad envelope's", reasons)
	}
	testenv.WaitFor(t, "the eight good events recorded", 10*time.Second, func() bool { return e.auditRows(t) == 8 })
	var poisoned int
	e.pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE event_id = $1`, ids[5]).Scan(&poisoned)
	if poisoned != 0 {
		t.Error("the poison event was recorded")
	}
	if commits := metricValue(t, reg, "authevents_consumer_batch_size"); commits < 1 || commits >= 8 {
		t.Errorf("%v batches committed for 8 events, want fewer than 8 (and some)", commits)
	}
	if n := histogramSum(t, reg, "authevents_consumer_batch_size"); n != 8 {
		t.Errorf("batch sizes sum to %v, want the 8 events committed", n)
	}
	if n, want := metricValue(t, reg, "authevents_consumer_batch_commit_seconds", "consumer", audit.Durable), metricValue(t, reg, "authevents_consumer_batch_size", "consumer", audit.Durable); n != want {
		t.Errorf("%v commit durations for %v committed batches", n, want)
	}
	for result, want := range map[string]float64{"ok": 8, "retry": 2, "dead_lettered": 2} {
		// Counted just after the dead letter is published: poll.
		testenv.WaitFor(t, fmt.Sprintf("processed{result=%q} = %v (events, not batches)", result, want), 5*time.Second, func() bool {
			return metricValue(t, reg, "authevents_consumer_processed_total", "result", result) == want
		})
	}
}

// TestABatchOfPoisonFailsEventByEvent: every event of the batch fails;
// each is isolated, retried and dead-lettered with its reason, none is
// recorded, and no good event is held back by them.
func TestABatchOfPoisonFailsEventByEvent(t *testing.T) {
	t.Parallel()
	e := setup(t)
	h := &poisonous{Handler: audit.New(e.pool), poison: map[uuid.UUID]bool{}}
	e.publishBatch(t, h, 6, 0, 1, 2, 3, 4, 5)
	reg := prometheus.NewRegistry()
	e.run(t, h, reg)
	dead := natstest.Collect(t, e.js, e.dlq, 6, 30*time.Second)
	for _, m := range dead {
		if r := m.Headers().Get(consumer.HeaderLastError); !strings.Contains(r, "division by zero") || m.Headers().Get(consumer.HeaderFailures) != "3" {
			t.Errorf("dead letter after %s failures, reason %q; want 3, division by zero", m.Headers().Get(consumer.HeaderFailures), r)
		}
	}
	if len(dead) != 6 || e.auditRows(t) != 0 {
		t.Errorf("%d dead letters and %d rows, want 6 and 0", len(dead), e.auditRows(t))
	}
	if got := metricValue(t, reg, "authevents_consumer_processed_total", "result", "retry"); got != 12 {
		t.Errorf("retries = %v, want 12 (two per event)", got)
	}
	good, _ := e.publish(t, "user.registered", uuid.NewString(), "")
	testenv.WaitFor(t, "a good event after the poison", 10*time.Second, func() bool { return e.auditRows(t) == 1 })
	var n int
	e.pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE event_id = $1`, good).Scan(&n)
	if n != 1 {
		t.Error("the good event is not the one recorded")
	}
}

// histogramSum is the sum of a histogram's observations over its series.
func histogramSum(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	return sumOver(t, reg, name, true)
}

// TestStepsRunBeforeTheBatch: behind consumer.Chain, an event a per-event
// step refuses (as Validated refuses one off its schema) is dead-lettered
// without reaching HandleBatch, one a step settles without effect (as
// Versioned settles a version 1 twin) is acknowledged unapplied, even in
// a batch that a poison event fails, and the others are applied in
// batches.
func TestStepsRunBeforeTheBatch(t *testing.T) {
	t.Parallel()
	e := setup(t)
	h := &poisonous{Handler: audit.New(e.pool), poison: map[uuid.UUID]bool{}}
	ids := e.publishBatch(t, h, 6)
	refused, skipped := ids[1], ids[4]
	h.poison[ids[2]] = true
	step := func(next consumer.Handler) consumer.Handler {
		return consumer.HandlerFunc(func(ctx context.Context, ev *consumer.Event) error {
			switch ev.EventID {
			case refused:
				return consumer.Permanent(fmt.Errorf("off its schema"))
			case skipped:
				return nil
			}
			return next.Handle(ctx, ev)
		})
	}
	reg := prometheus.NewRegistry()
	e.run(t, consumer.Chain(h, step), reg)
	dead := natstest.Collect(t, e.js, e.dlq, 2, 15*time.Second)
	got := map[string]bool{}
	for _, m := range dead {
		got[m.Headers().Get(consumer.HeaderEventID)] = true
	}
	if len(dead) != 2 || !got[refused.String()] || !got[ids[2].String()] {
		t.Fatalf("dead letters %v, want the refused event's and the poison's", got)
	}
	testenv.WaitFor(t, "the three others recorded and all six settled", 10*time.Second, func() bool {
		return e.auditRows(t) == 3 && pendingOf(t, e) == 0
	})
	if r := metricValue(t, reg, "authevents_consumer_processed_total", "result", "retry"); r != 2 {
		t.Errorf("retries %v, want the poison's 2 (the skipped event failed nothing)", r)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, b := range h.batches {
		for _, id := range b {
			if id == refused || id == skipped {
				t.Errorf("HandleBatch got event %s, which a step settled", id)
			}
		}
	}
}
