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
// one commits. Preparing (parse, validation: admit) runs in goroutines
// of its own (admitAll) while the batch before is in its transaction.
// It returns how many messages it settled.
func (c *Consumer) applyBatches(ctx context.Context, queue <-chan jetstream.Msg, held *held) int {
	// Messages already fetched are applied even if ctx ended: they are
	// ours until acked, and applying beats waiting AckWait.
	ctx = context.WithoutCancel(ctx)
	var settled atomic.Int64 // by admit alone
	ready := c.admitAll(ctx, queue, held, &settled)
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

// admitWorkers is the number of goroutines that prepare messages for
// batches: schema validation and parsing are most of a batch consumer's
// CPU (issue 20's profile), and one goroutine for them left the second
// core to PostgreSQL and NATS alone.
const admitWorkers = 2

// admitAll runs admit on the messages of queue in admitWorkers
// goroutines and hands the admitted ones over in queue order: message k
// goes to worker k mod admitWorkers, and its result is read back from
// that worker in turn. A message admit settles (a failure, a skip) is
// counted in settled and no longer held.
func (c *Consumer) admitAll(ctx context.Context, queue <-chan jetstream.Msg, held *held, settled *atomic.Int64) <-chan pending {
	type result struct {
		p  pending
		ok bool
	}
	ins := make([]chan jetstream.Msg, admitWorkers)
	outs := make([]chan result, admitWorkers)
	for i := range admitWorkers {
		ins[i], outs[i] = make(chan jetstream.Msg, c.cfg.Batch), make(chan result, c.cfg.Batch)
		go func() {
			defer close(outs[i])
			for msg := range ins[i] {
				p, ok := c.admit(ctx, msg)
				p.msg = msg
				outs[i] <- result{p, ok}
			}
		}()
	}
	go func() {
		defer func() {
			for _, in := range ins {
				close(in)
			}
		}()
		k := 0
		for msg := range queue {
			ins[k%admitWorkers] <- msg
			k++
		}
	}()
	ready := make(chan pending, c.cfg.Batch)
	go func() {
		defer close(ready)
		for k := 0; ; k++ {
			r, open := <-outs[k%admitWorkers]
			switch {
			case !open:
				return
			case r.ok:
				ready <- r.p
			default:
				held.remove(r.p.msg)
				settled.Add(1)
			}
		}
	}()
	return ready
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
