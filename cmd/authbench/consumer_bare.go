package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// bareRate is the rate of a bare JetStream pull consumer on this
// machine, the yardstick of the services' drain rates (issue 20): a
// stream filled as for a service is drained by a durable that only
// fetches (500 at a time, as a batch consumer) and acknowledges each
// message (Ack, then one flush per fetch), with the durable settings of
// the services (explicit acks, MaxAckPending 1000). Timed until the
// durable has nothing pending or unacknowledged, as the services are;
// the rate is of events (changes), as theirs.
func bareRate(ctx context.Context, js jetstream.JetStream, n, round int, prot *protector) (float64, error) {
	stream := fmt.Sprintf("bench-cons-%d-bare-%d", os.Getpid(), round)
	defer js.DeleteStream(context.WithoutCancel(ctx), stream)
	msgs, err := fillStream(ctx, js, stream, false, n, prot)
	if err != nil {
		return 0, err
	}
	settleNATS()
	start := time.Now()
	cons, err := js.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{Durable: "bare", AckPolicy: jetstream.AckExplicitPolicy,
		AckWait: 30 * time.Second, MaxAckPending: 1000, DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		return 0, err
	}
	for acked := 0; acked < msgs; { // with v1+v2, more messages than events
		batch, err := cons.Fetch(500, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return 0, err
		}
		for msg := range batch.Messages() {
			if err := msg.Ack(); err != nil {
				return 0, err
			}
			acked++
		}
		if err := js.Conn().Flush(); err != nil {
			return 0, err
		}
	}
	if _, err := waitDrained(ctx, js, stream, "bare", nil); err != nil {
		return 0, err
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// benchBare measures bareRate rounds times and returns the median.
func benchBare(ctx context.Context, js jetstream.JetStream, n, rounds int, prot *protector) (float64, error) {
	var rates []float64
	for round := range rounds {
		r, err := bareRate(ctx, js, n, round, prot)
		if err != nil {
			return 0, fmt.Errorf("bare fetch+ack: %w", err)
		}
		rates = append(rates, r)
	}
	fmt.Printf("%-10s %8d %12.0f   %-28s the yardstick: fetch and ack only, in this process\n", "bare", 1, medianOf(rates), fmtRates(rates))
	return medianOf(rates), nil
}
