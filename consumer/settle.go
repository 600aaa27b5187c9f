package consumer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// handle runs the handler on one message and settles it.
func (c *Consumer) handle(ctx context.Context, msg jetstream.Msg) {
	start := time.Now()
	md, err := msg.Metadata()
	if err != nil {
		c.log.Error("message without metadata; terminating it", "err", err)
		msg.Term()
		return
	}
	ev, herr := NewEvent(msg.Subject(), msg.Data())
	ev.StreamSeq, ev.Deliveries = md.Sequence.Stream, md.NumDelivered
	if md.NumDelivered > 1 {
		c.m.redeliveries.Inc()
	}
	if md.NumDelivered >= uint64(c.cfg.MaxDeliveries) {
		// The server will not deliver it again: dead-letter it now.
		herr = Permanent(fmt.Errorf("delivered %d times without being settled", md.NumDelivered))
	} else if herr == nil {
		herr = c.call(ctx, ev)
	}
	typ := ev.Type
	if typ == "" {
		typ = "unknown"
	}
	c.m.duration.Observe(time.Since(start).Seconds())
	if herr == nil {
		if err := msg.DoubleAck(ctx); err != nil {
			// Not acked: it will be redelivered, and the handler is idempotent.
			c.log.Warn("ack failed", "seq", ev.StreamSeq, "err", err)
		}
		c.forget(ctx, md)
		c.m.processed.WithLabelValues(typ, "ok").Inc()
		return
	}
	if errors.Is(herr, ErrClaimed) {
		// Another replica is performing this effect: look again later,
		// without spending an attempt (it was not a failure).
		msg.NakWithDelay(min(c.cfg.Backoff[0], c.cfg.AckWait))
		c.m.processed.WithLabelValues(typ, "claimed_elsewhere").Inc()
		return
	}
	failures := 0 // a permanent failure is not retried, whatever the count
	if !IsPermanent(herr) {
		var err error
		if failures, err = c.recordFailure(ctx, md, herr); err != nil {
			// Cannot count: retry later without spending an attempt.
			c.log.Warn("cannot record handler failure; retrying", "seq", ev.StreamSeq, "err", err)
			msg.NakWithDelay(c.delay(1))
			c.m.processed.WithLabelValues(typ, "retry").Inc()
			return
		}
	}
	if IsPermanent(herr) || failures >= c.cfg.Attempts {
		if c.deadLetter(ctx, msg, ev, md, failures, herr) {
			c.forget(ctx, md)
			c.m.processed.WithLabelValues(typ, "dead_lettered").Inc()
		}
		return
	}
	delay := c.delay(failures)
	c.log.Warn("handler failed; will retry", "event_id", ev.ID, "type", ev.Type, "attempt", failures, "retry_in", delay, "err", herr)
	msg.NakWithDelay(delay)
	c.m.processed.WithLabelValues(typ, "retry").Inc()
}

// call runs the handler with a deadline inside AckWait; a panic is a
// failure like any other.
func (c *Consumer) call(ctx context.Context, ev *Event) (err error) {
	hctx, cancel := context.WithTimeout(ctx, c.cfg.AckWait-time.Second)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handler panic: %v", p)
		}
	}()
	return c.h.Handle(hctx, ev)
}
