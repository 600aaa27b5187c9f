package consumer

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/authevents/authevents/internal/retry"
)

// Run fetches and handles messages until ctx ends; setting up waits for
// JetStream, however long it is unavailable. On ctx end it stops
// fetching and finishes the messages it holds (each is acked, nak'ed or
// dead-lettered; none is dropped).
func (c *Consumer) Run(ctx context.Context) {
	cons, stream, err := c.start(ctx)
	if err != nil {
		return // ctx ended
	}
	var stateWG sync.WaitGroup
	stateWG.Go(func() { c.watchState(ctx, stream, cons) })
	if c.cfg.PruneInterval > 0 {
		// A processed_events record must outlive every redelivery of its
		// event from the stream (see Retention).
		if sc := stream.CachedInfo().Config; sc.MaxAge > 0 && c.cfg.Retention.Processed > 0 && c.cfg.Retention.Processed < sc.MaxAge+sc.Duplicates {
			c.log.Error("CONSUMER_RETENTION is shorter than the stream keeps events; using the stream's max age plus dedupe window",
				"retention", c.cfg.Retention.Processed.String(), "stream_max_age", sc.MaxAge.String(), "duplicates", sc.Duplicates.String())
			c.cfg.Retention.Processed = sc.MaxAge + sc.Duplicates
		}
		stateWG.Go(func() { c.prune(ctx) })
	}
	defer stateWG.Wait()
	held := newHeld()
	done := make(chan struct{})
	defer close(done)
	go held.keepAlive(done, keepAlivePeriod(c.cfg.AckWait))
	backoff := retry.Exp(200*time.Millisecond, 5*time.Second) // after failed or refused fetches
	failures := 0
	for ctx.Err() == nil {
		n, err := c.fetchOnce(ctx, cons, held)
		if err == nil || n > 0 {
			failures = 0
			continue
		}
		// A fetch that fails, or a pull JetStream refused (no responders,
		// 503: a cluster without quorum or leader), which fails the batch
		// and not Fetch, backs off, or the loop spins (the chaos suite saw
		// eight replicas take most of a core through a quorum loss).
		failures++
		if ctx.Err() == nil && (failures == 1 || failures%20 == 0) {
			c.log.Warn("fetch failed", "err", err, "consecutive", failures)
		}
		retry.Sleep(ctx, backoff.Delay(failures))
	}
}

// fetchOnce fetches one batch and handles its messages; it returns how
// many it handled and the fetch's or the batch's error.
func (c *Consumer) fetchOnce(ctx context.Context, cons jetstream.Consumer, held *held) (int, error) {
	batch, err := cons.Fetch(c.cfg.Batch, jetstream.FetchMaxWait(time.Second))
	if err != nil {
		return 0, err
	}
	queue := c.receiveAll(batch, held)
	if c.bh != nil {
		n := c.applyBatches(ctx, queue, held)
		return n, batch.Error()
	}
	// Messages already fetched are handled even if ctx ended: they are
	// ours until acked, and handling beats waiting AckWait. Up to
	// Concurrency at once, each settled on its own.
	var n atomic.Int64
	var wg sync.WaitGroup
	for range c.cfg.Concurrency {
		wg.Go(func() {
			for msg := range queue {
				c.handle(context.WithoutCancel(ctx), msg)
				held.remove(msg)
				n.Add(1)
			}
		})
	}
	wg.Wait()
	return int(n.Load()), batch.Error()
}

// receiveAll returns the messages of batch as they arrive. Every message
// is held (kept alive) from its arrival, not only from when its turn
// comes: the queue has room for the whole batch, so the reader never
// waits on the handler.
func (c *Consumer) receiveAll(batch jetstream.MessageBatch, held *held) <-chan jetstream.Msg {
	queue := make(chan jetstream.Msg, c.cfg.Batch)
	go func() {
		defer close(queue)
		for msg := range batch.Messages() {
			held.add(msg)
			queue <- msg
		}
	}()
	return queue
}
