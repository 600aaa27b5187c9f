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
	ev, md, herr, ok := c.receive(msg)
	if !ok {
		return
	}
	if herr == nil {
		herr = c.call(ctx, ev)
	}
	c.m.duration.Observe(time.Since(start).Seconds())
	if herr == nil {
		// The ack is not waited for (no DoubleAck): the connection sends
		// it with the next flush, and one lost costs a redelivery, which
		// the effect's idempotency record turns into a no-op. Waiting
		// was a round trip per event, as it was for the batches.
		if err := msg.Ack(); err != nil {
			c.log.Warn("ack failed", "seq", ev.StreamSeq, "err", err)
		}
		c.forget(ctx, md)
		c.m.processed.WithLabelValues(typeOf(ev), "ok").Inc()
		return
	}
	c.fail(ctx, msg, ev, md, herr)
}

// receive reads msg's metadata and envelope. A message without metadata
// is terminated (ok false). herr is the envelope's parse error, or a
// permanent one for a message the server will not deliver again.
func (c *Consumer) receive(msg jetstream.Msg) (ev *Event, md *jetstream.MsgMetadata, herr error, ok bool) {
	md, err := msg.Metadata()
	if err != nil {
		c.log.Error("message without metadata; terminating it", "err", err)
		msg.Term()
		return nil, nil, nil, false
	}
	ev, herr = NewEvent(msg.Subject(), msg.Data())
	ev.StreamSeq, ev.Deliveries = md.Sequence.Stream, md.NumDelivered
	if md.NumDelivered > 1 {
		c.m.redeliveries.Inc()
	}
	if md.NumDelivered >= uint64(c.cfg.MaxDeliveries) {
		// The server will not deliver it again: dead-letter it now.
		herr = Permanent(fmt.Errorf("delivered %d times without being settled", md.NumDelivered))
	}
	return ev, md, herr, true
}

// typeOf is the event type label of ev's metrics.
func typeOf(ev *Event) string {
	if ev.Type == "" {
		return "unknown"
	}
	return ev.Type
}

// fail settles a message whose handling failed with herr: nak'ed to be
// retried later, or dead-lettered (permanent, or out of attempts).
func (c *Consumer) fail(ctx context.Context, msg jetstream.Msg, ev *Event, md *jetstream.MsgMetadata, herr error) {
	typ := typeOf(ev)
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
			c.retryUncounted(msg, ev, err)
			return
		}
	}
	c.failed(ctx, msg, ev, md, herr, failures)
}

// retryUncounted naks a failed message whose failure could not be
// counted: it is retried later without spending an attempt.
func (c *Consumer) retryUncounted(msg jetstream.Msg, ev *Event, err error) {
	c.log.Warn("cannot record handler failure; retrying", "seq", ev.StreamSeq, "err", err)
	msg.NakWithDelay(c.delay(1))
	c.m.processed.WithLabelValues(typeOf(ev), "retry").Inc()
}

// failed settles a message that has failed failures times (0 for a
// permanent failure): dead-lettered when permanent or out of attempts,
// otherwise nak'ed with the backoff's delay.
func (c *Consumer) failed(ctx context.Context, msg jetstream.Msg, ev *Event, md *jetstream.MsgMetadata, herr error, failures int) {
	typ := typeOf(ev)
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
	return c.guarded(ctx, func(ctx context.Context) error { return c.h.Handle(ctx, ev) })
}

// guarded runs fn with a deadline inside AckWait and turns a panic into
// an error.
func (c *Consumer) guarded(ctx context.Context, fn func(ctx context.Context) error) (err error) {
	hctx, cancel := context.WithTimeout(ctx, c.cfg.AckWait-time.Second)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", errPanic, p)
		}
	}()
	return fn(hctx)
}

// errPanic marks a handler's panic.
var errPanic = errors.New("handler panic")
