package consumer

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// applyBatches takes the messages of one fetch from queue, as they
// arrive, in batches bounded by count (Config.Batch), by bytes
// (Config.BatchBytes) and by time: a batch is applied as soon as the
// queue is empty (or after Config.BatchLinger), not when the fetch is
// full, so at low traffic each event is applied as it arrives, and under
// load the batches grow with what arrives while the last one commits.
// It returns how many messages it settled.
func (c *Consumer) applyBatches(ctx context.Context, queue <-chan jetstream.Msg, held *held) int {
	n := 0
	var carry jetstream.Msg // the message over the last batch's bytes
	for {
		var msgs []jetstream.Msg
		msgs, carry = c.collect(queue, carry)
		if len(msgs) == 0 {
			return n
		}
		// Messages already fetched are applied even if ctx ended: they
		// are ours until acked, and applying beats waiting AckWait.
		c.applyBatch(context.WithoutCancel(ctx), msgs)
		for _, m := range msgs {
			held.remove(m)
		}
		n += len(msgs)
	}
}

// collect returns the next batch: carry or the next message of queue
// (none once queue is closed and empty), then those already waiting,
// within the bounds; and the message that would have passed BatchBytes,
// which starts the next batch.
func (c *Consumer) collect(queue <-chan jetstream.Msg, carry jetstream.Msg) ([]jetstream.Msg, jetstream.Msg) {
	first, ok := carry, carry != nil
	if !ok {
		if first, ok = <-queue; !ok {
			return nil, nil
		}
	}
	msgs := []jetstream.Msg{first}
	size := len(first.Data())
	var linger <-chan time.Time
	if c.cfg.BatchLinger > 0 {
		t := time.NewTimer(c.cfg.BatchLinger)
		defer t.Stop()
		linger = t.C
	}
	for len(msgs) < c.cfg.Batch {
		var msg jetstream.Msg
		select {
		case msg, ok = <-queue:
		default:
			if linger == nil {
				return msgs, nil // the stream paused
			}
			select {
			case msg, ok = <-queue:
			case <-linger:
				return msgs, nil
			}
		}
		if !ok {
			return msgs, nil
		}
		if size+len(msg.Data()) > c.cfg.BatchBytes {
			return msgs, msg
		}
		msgs = append(msgs, msg)
		size += len(msg.Data())
	}
	return msgs, nil
}
