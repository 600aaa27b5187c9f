package consumer_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/authevents/authevents/consumer"
	"github.com/authevents/authevents/internal/natstest"
)

// TestDeadLetterStreamHasTheStreamsReplicas: on a 3-node cluster, with the
// event stream at 3 replicas, the dead-letter stream used to be created
// with 1, so losing one node's disk lost the dead letters, the events an
// operator still has to look at (found by the chaos suite and the
// deployment review). It takes the replicas it is given, and a stream
// created earlier with 1 is raised to them.
func TestDeadLetterStreamHasTheStreamsReplicas(t *testing.T) {
	t.Parallel()
	c := natstest.StartCluster(t, 3, 0)
	nc, err := nats.Connect(c.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, step := range []struct{ replicas, want int }{{0, 1}, {3, 3}} {
		if err := consumer.EnsureDLQ(ctx, js, "auth-events-dlq", step.replicas); err != nil {
			t.Fatalf("replicas %d: %v", step.replicas, err)
		}
		s, err := js.Stream(ctx, "auth-events-dlq")
		if err != nil {
			t.Fatal(err)
		}
		if got := s.CachedInfo().Config.Replicas; got != step.want {
			t.Errorf("EnsureDLQ(replicas %d): stream has %d replicas, want %d", step.replicas, got, step.want)
		}
	}
}
