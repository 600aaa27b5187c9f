package relay_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/authevents/authevents/internal/metrictest"
	"github.com/authevents/authevents/internal/natstest"
	"github.com/authevents/authevents/internal/testenv"
)

// Found in the second review (issue 8), now fixed: checkStream's new "changed" branch provisions in a loop that
// ends only on success. When the stream cannot take the relay's subjects
// (another stream now binds part of them: JetStream refuses overlapping
// subjects), the worker never leaves checkStream, and the others queue on
// provisionMu: the whole relay stops, including rows another stream would
// store. Before, the relay only warned and kept publishing what it could.
func TestUnrepairableStreamDoesNotStopTheRelay(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	r, reg := e.streamRelay(t, fastConfig())
	start(t, r)
	e.waitStream(t, e.names.Stream)
	// Operator moves user.registered to a stream of its own. The running
	// relay may put its subjects back between the two steps (its periodic
	// check repairs a changed stream): then JetStream refuses the new
	// stream as overlapping, and the operator tries again, as one would.
	s2 := e.names.Stream + "-reg"
	testenv.WaitFor(t, "the operator's move of user.registered to "+s2, 10*time.Second, func() bool {
		sc := streamConfigJS(t, e)
		sc.Subjects = []string{e.names.Prefix + ".other.*"}
		if _, err := e.js.UpdateStream(context.Background(), sc); err != nil {
			t.Logf("update: %v", err)
			return false
		}
		_, err := e.js.CreateStream(context.Background(), jetstream.StreamConfig{Name: s2, Subjects: []string{e.names.For("user.registered")}, Storage: jetstream.MemoryStorage})
		if err != nil {
			t.Logf("create %s: %v", s2, err)
		}
		return err == nil
	})
	t.Cleanup(func() { e.js.DeleteStream(context.Background(), s2) })
	// Sanity: the relay publishes to s2 while nothing is unbound.
	e.insert(t, "a", e.names.For("user.registered"), payload("a", 0))
	if got := natstest.Collect(t, e.js, s2, 1, 5*time.Second); len(got) != 1 {
		t.Fatalf("relay did not publish to %s at all: %d", s2, len(got))
	}
	// One row no stream binds now.
	e.insert(t, "b", e.names.For("user.logged_in"), payload("b", 0))
	testenv.WaitFor(t, "the relay to find its stream unrepairable", 10*time.Second, func() bool {
		return metrictest.Must(t, reg, "authevents_relay_jetstream_available") == 0
	})
	for i := range 3 {
		e.insert(t, "c", e.names.For("user.registered"), payload("c", i))
	}
	got := natstest.Collect(t, e.js, s2, 4, 8*time.Second)
	changed, _ := metrictest.Value(t, reg, "authevents_relay_stream_provisioned_total", "reason", "changed")
	t.Logf("%s holds %d of 4; outbox %+v; provisioned{changed} %v; jetstream_available %v", s2, len(got), e.stats(t),
		changed,
		metrictest.Must(t, reg, "authevents_relay_jetstream_available"))
	if len(got) != 4 {
		t.Errorf("%d of 4 user.registered rows published to %s after 8 s: the relay is stuck re-provisioning", len(got), s2)
	}
}

// TestDeletedStreamIsReprovisioned: the stream deleted under a running
// relay is created again (log line and metric), and no row pays for it.
func TestDeletedStreamIsReprovisioned(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	r, reg := e.streamRelay(t, fastConfig())
	start(t, r)

	e.insert(t, "k", e.names.For("user.registered"), []byte(`{"n":0}`))
	if got := natstest.Collect(t, e.js, e.names.Stream, 1, 10*time.Second); len(got) != 1 {
		t.Fatal("first event not published")
	}
	if err := e.js.DeleteStream(context.Background(), e.names.Stream); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		e.insert(t, "k", e.names.For("user.logged_in"), payload("k", i+1))
	}
	e.waitStream(t, e.names.Stream)
	msgs := natstest.Collect(t, e.js, e.names.Stream, 5, 20*time.Second)
	if len(msgs) != 5 {
		t.Fatalf("after the stream was deleted: %d messages, want 5", len(msgs))
	}
	assertKeyOrder(t, msgs)
	if got := metrictest.Must(t, reg, "authevents_relay_stream_provisioned_total", "reason", "missing"); got < 1 {
		t.Errorf("stream re-provisioning not counted")
	}
	if attempts := e.maxAttempts(t); attempts != 0 {
		t.Errorf("a deleted stream charged rows %d attempts", attempts)
	}
}

// Found in review (issue 8), now fixed: the stream still exists but no
// longer binds the relay's subjects (an operator or another deployment
// updated its subject set). Every publish got "no responders", classified
// broker-unavailable; checkStream found the stream and did nothing, so the
// relay never re-provisioned it: rows stayed pending until the relay was
// restarted, and the log said "JetStream unavailable" while JetStream was
// up.
func TestStreamWithOtherSubjectsIsRepaired(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	r, reg := e.streamRelay(t, fastConfig())
	start(t, r)
	e.insert(t, "k", e.names.For("user.registered"), payload("k", 0))
	if got := natstest.Collect(t, e.js, e.names.Stream, 1, 10*time.Second); len(got) != 1 {
		t.Fatal("first event not published")
	}
	sc := streamConfigJS(t, e)
	sc.Subjects = []string{e.names.Prefix + ".other.*"}
	if _, err := e.js.UpdateStream(context.Background(), sc); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		e.insert(t, "k", e.names.For("user.logged_in"), payload("k", i+1))
	}
	msgs := natstest.Collect(t, e.js, e.names.Stream, 4, 8*time.Second)
	s, _ := e.js.Stream(context.Background(), e.names.Stream)
	t.Logf("after 8 s: %d messages, stream subjects %v, outbox %+v, jetstream_available %v", len(msgs), s.CachedInfo().Config.Subjects,
		e.stats(t), metrictest.Must(t, reg, "authevents_relay_jetstream_available"))
	if len(msgs) != 4 {
		t.Errorf("the relay did not restore its stream's subjects: %d of 4 events published", len(msgs))
	}
	if n := metrictest.Must(t, reg, "authevents_relay_stream_provisioned_total", "reason", "changed"); n < 1 {
		t.Errorf("repair not counted: authevents_relay_stream_provisioned_total{reason=changed} = %v", n)
	}
}
