package consumer

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// applyBatches takes the messages of one fetch from queue, as they
// arrive, in batches bounded by count (Config.Batch), by bytes
// (Config.BatchBytes) and by time: a batch is applied as soon as no
// prepared message waits (or after Config.BatchLinger), not when the
// fetch is full, so at low traffic each event is applied as it arrives,
// and under load the batches grow with what is prepared while the last
// one commits. Preparing (parse, validation: admit) runs in a goroutine
// of its own, in stream order, while the batch before is in its
// transaction. It returns how many messages it settled.
func (c *Consumer) applyBatches(ctx context.Context, queue <-chan jetstream.Msg, held *held) int {
	// Messages already fetched are applied even if ctx ended: they are
	// ours until acked, and applying beats waiting AckWait.
	ctx = context.WithoutCancel(ctx)
	ready := make(chan pending, c.cfg.Batch)
	var settled atomic.Int64 // by admit alone
	go func() {
		defer close(ready)
		for msg := range queue {
			if p, ok := c.admit(ctx, msg); ok {
				ready <- p
				continue
			}
			held.remove(msg)
			settled.Add(1)
		}
	}()
	n := 0
	var carry *pending // the message over the last batch's bytes
	for {
		var ps []pending
		ps, carry = c.collect(ready, carry)
		if len(ps) == 0 {
			return n + int(settled.Load())
		}
		c.apply(ctx, ps)
		for _, p := range ps {
			held.remove(p.msg)
		}
		n += len(ps)
	}
}

// collect returns the next batch: carry or the next message of queue
// (none once queue is closed and empty), then those already waiting,
// within the bounds; and the message that would have passed BatchBytes,
// which starts the next batch.
func (c *Consumer) collect(queue <-chan pending, carry *pending) ([]pending, *pending) {
	var first pending
	if carry != nil {
		first = *carry
	} else {
		var ok bool
		if first, ok = <-queue; !ok {
			return nil, nil
		}
	}
	ps := []pending{first}
	size := len(first.msg.Data())
	var linger <-chan time.Time
	if c.cfg.BatchLinger > 0 {
		t := time.NewTimer(c.cfg.BatchLinger)
		defer t.Stop()
		linger = t.C
	}
	for len(ps) < c.cfg.Batch {
		var p pending
		var ok bool
		select {
		case p, ok = <-queue:
		default:
			if linger == nil {
				return ps, nil // the stream paused
			}
			select {
			case p, ok = <-queue:
			case <-linger:
				return ps, nil
			}
		}
		if !ok {
			return ps, nil
		}
		if size+len(p.msg.Data()) > c.cfg.BatchBytes {
			return ps, &p
		}
		ps = append(ps, p)
		size += len(p.msg.Data())
	}
	return ps, nil
}
