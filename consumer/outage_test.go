package consumer_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/authevents/authevents/consumer"
	"github.com/authevents/authevents/consumer/audit"
	"github.com/authevents/authevents/db/postgres/pgtest"
	"github.com/authevents/authevents/internal/natstest"
	"github.com/authevents/authevents/internal/testenv"
)

// outage is a consumer on a private nats-server that the test takes
// JetStream away from and gives back.
type outage struct {
	*env
	srv  *natstest.Server
	nc   *nats.Conn
	logs *testenv.Buffer
	done chan struct{} // closed when Run returns
	stop func()
}

func newOutage(t *testing.T, withJetStream bool) *outage {
	t.Helper()
	srv := natstest.Start(t)
	if !withJetStream {
		srv.RestartWithoutJetStream()
	}
	nc := natstest.Connect(t, srv.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	js, _ := jetstream.New(nc)
	o := &outage{env: &env{pool: pgtest.New(t), js: js, names: natstest.NewNames()}, srv: srv, nc: nc, logs: &testenv.Buffer{}}
	o.dlq = o.names.Stream + "-dlq"
	if withJetStream {
		o.ensureStream(t)
	}
	c := consumer.New(js, o.pool, o.config(), audit.New(o.pool), consumer.NewMetrics(prometheus.NewRegistry()), slog.New(slog.NewJSONHandler(o.logs, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	o.done = make(chan struct{})
	go func() { defer close(o.done); c.Run(ctx) }()
	o.stop = func() { cancel(); <-o.done }
	t.Cleanup(o.stop)
	return o
}

func (o *outage) running() bool {
	select {
	case <-o.done:
		return false
	default:
		return true
	}
}

// consumesOneEvent publishes one event and waits until the consumer has written it
// to the audit log.
func (o *outage) consumesOneEvent(t *testing.T, within time.Duration) {
	t.Helper()
	id, _ := o.publish(t, "user.logged_in", uuid.NewString(), "")
	testenv.WaitFor(t, "the event in the audit log", within, func() bool {
		var n int
		o.pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE event_id = $1`, id).Scan(&n)
		return n == 1
	})
}

// TestConsumerStartWaitsForJetStream is what the chaos suite found first: a
// consumer replica restarted while the cluster was electing a stream
// leader (or had lost its quorum) could not create its dead-letter stream
// or durable consumer and exited with status 1. It must keep trying to
// set up, as the relay does, and consume once JetStream is back.
func TestConsumerStartWaitsForJetStream(t *testing.T) {
	t.Parallel()
	o := newOutage(t, false)
	testenv.WaitFor(t, "the set-up refused and retried", 15*time.Second, func() bool {
		return strings.Contains(o.logs.String(), "cannot set up the consumer yet") && o.nc.Stats().OutMsgs >= 3
	})
	if !o.running() {
		t.Fatal("consumer Run returned while JetStream was unavailable")
	}

	o.srv.Restart()
	o.ensureStream(t)
	o.consumesOneEvent(t, 30*time.Second)
	if _, err := o.js.Consumer(context.Background(), o.names.Stream, audit.Durable); err != nil {
		t.Errorf("durable consumer after the outage: %v", err)
	}
}

// TestConsumerBacksOffWhileJetStreamIsUnavailable is the second finding:
// while the cluster had lost its quorum, the eight consumer replicas took
// 70–80 % of a core and the surviving NATS node 40–60 %, and auth latency
// rose with it. A fetch that JetStream refuses (no responders, 503) does not
// fail Fetch itself: the error comes back in the batch, which the loop did
// not look at, so it fetched again at once, without end. It must back off,
// keep trying, and consume again once JetStream is back.
func TestConsumerBacksOffWhileJetStreamIsUnavailable(t *testing.T) {
	t.Parallel()
	o := newOutage(t, true)
	o.consumesOneEvent(t, 15*time.Second)

	o.srv.RestartWithoutJetStream()
	testenv.WaitFor(t, "the reconnection", 10*time.Second, o.nc.IsConnected)
	testenv.WaitFor(t, "a refused fetch", 10*time.Second, func() bool { return strings.Contains(o.logs.String(), "fetch failed") })
	// An honest measurement window, not a wait: requests sent over 3 s.
	// Backing off from 200 ms to 5 s, a few fetches; the state reader and
	// the keep-alive add a handful. Without backoff it is thousands.
	before := o.nc.Stats().OutMsgs
	time.Sleep(3 * time.Second)
	sent := o.nc.Stats().OutMsgs - before
	if sent > 60 {
		t.Errorf("the consumer sent %d requests in 3 s while JetStream was unavailable: it does not back off", sent)
	}
	if sent == 0 {
		t.Error("the consumer sent nothing in 3 s while JetStream was unavailable: it stopped trying")
	}
	if !o.running() {
		t.Fatal("consumer Run returned while JetStream was unavailable")
	}
	t.Logf("%d requests in 3 s without JetStream", sent)

	o.srv.Restart()
	o.consumesOneEvent(t, 30*time.Second)
}
