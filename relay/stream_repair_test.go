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
	// Operator moves user.registered to a stream of its own.
	sc := streamConfigJS(t, e)
	sc.Subjects = []string{e.names.Prefix + ".other.*"}
	if _, err := e.js.UpdateStream(context.Background(), sc); err != nil {
		t.Fatal(err)
	}
	s2 := e.names.Stream + "-reg"
	if _, err := e.js.CreateStream(context.Background(), jetstream.StreamConfig{Name: s2, Subjects: []string{e.names.For("user.registered")}, Storage: jetstream.MemoryStorage}); err != nil {
		t.Fatal(err)
	}
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
