package consumer

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"
)

// pending is a received message of a batch, not yet settled.
type pending struct {
	msg  jetstream.Msg
	md   *jetstream.MsgMetadata
	ev   *Event
	gate time.Duration // time in the per-event steps
	skip bool          // a step settled it without effect: acked with its batch, not applied
}

// admit prepares msg for a batch: it passes the per-event steps first
// (parse, validation, version). One that fails there goes through the
// failure path alone; ok reports that msg goes on to a batch (apply),
// to be applied, or only acknowledged with it when a step settled it
// without effect (a version 1 twin: skip).
func (c *Consumer) admit(ctx context.Context, msg jetstream.Msg) (p pending, ok bool) {
	start := time.Now()
	ev, md, herr, ok := c.receive(msg)
	if !ok {
		return p, false
	}
	if herr == nil {
		herr = c.guarded(ctx, func(ctx context.Context) error { return c.gate.Handle(ctx, ev) })
	}
	p = pending{msg: msg, md: md, ev: ev, gate: time.Since(start)}
	if herr != nil {
		c.m.duration.Observe(p.gate.Seconds())
		c.fail(ctx, msg, ev, md, herr)
		return p, false
	}
	p.skip = !ev.admitted
	return p, true
}

// apply applies ps in one transaction and acknowledges them after its
// commit. When it fails, the failing events are isolated (BatchHandler):
// the one an EventFailed names is taken out and the others applied
// again; otherwise the batch is bisected, each half applied on its own,
// the first half first, so what commits keeps the stream's order.
func (c *Consumer) apply(ctx context.Context, ps []pending) {
	if len(ps) == 0 {
		return
	}
	evs := make([]*Event, 0, len(ps))
	for _, p := range ps {
		if !p.skip {
			evs = append(evs, p.ev)
		}
	}
	if len(evs) == 0 {
		c.acked(ctx, ps, 0)
		return
	}
	start := time.Now()
	err := c.guarded(ctx, func(ctx context.Context) error {
		return WithTx(ctx, c.pool, func(tx pgx.Tx) error { return c.bh.HandleBatch(ctx, tx, evs) })
	})
	took := time.Since(start)
	share := took / time.Duration(len(ps))
	if err == nil {
		c.m.batchSize.Observe(float64(len(evs)))
		c.m.batchCommit.Observe(took.Seconds())
		c.acked(ctx, ps, share)
		return
	}
	// Events a step settled without effect did not fail: acknowledged.
	if skipped, rest := partition(ps, func(p pending) bool { return p.skip }); len(skipped) > 0 {
		c.acked(ctx, skipped, 0)
		ps = rest
	}
	var one *eventError
	if errors.As(err, &one) {
		if i := slices.IndexFunc(ps, func(p pending) bool { return p.ev == one.ev }); i >= 0 {
			c.failOne(ctx, ps[i], one.err, share)
			c.apply(ctx, slices.Delete(slices.Clone(ps), i, i+1))
			return
		}
	}
	switch {
	case len(ps) == 1:
		c.failOne(ctx, ps[0], err, took)
	case !isolatable(err):
		c.failAll(ctx, ps, err, share)
	default:
		mid := len(ps) / 2
		c.apply(ctx, ps[:mid])
		c.apply(ctx, ps[mid:])
	}
}

// failOne settles p, which failed with err alone; took is the time it
// took.
func (c *Consumer) failOne(ctx context.Context, p pending, err error, took time.Duration) {
	c.m.duration.Observe((p.gate + took).Seconds())
	c.fail(ctx, p.msg, p.ev, p.md, err)
}

// failAll settles ps, which failed together for a reason none of them
// is to blame for (a lost connection): every one has failed an attempt,
// as it would have alone. Their failures are counted in one statement,
// so a database that does not answer costs one deadline, not one per
// event.
func (c *Consumer) failAll(ctx context.Context, ps []pending, err error, share time.Duration) {
	counts, cerr := c.recordFailures(ctx, ps, err)
	for _, p := range ps {
		c.m.duration.Observe((p.gate + share).Seconds())
		if cerr != nil {
			c.retryUncounted(p.msg, p.ev, cerr)
			continue
		}
		c.failed(ctx, p.msg, p.ev, p.md, err, counts[p.md.Sequence.Stream])
	}
}

// acked acknowledges ps, whose effects are committed. Each Ack is sent
// without waiting for its confirmation, and one flush of the connection
// waits for them all: a DoubleAck per message was a round trip each,
// and an ack lost after all costs only a redelivery, which the
// committed idempotency record turns into a no-op.
func (c *Consumer) acked(ctx context.Context, ps []pending, share time.Duration) {
	if len(ps) == 0 {
		return
	}
	for _, p := range ps {
		if err := p.msg.Ack(); err != nil {
			c.log.Warn("ack failed", "seq", p.ev.StreamSeq, "err", err)
		}
	}
	if err := c.js.Conn().FlushTimeout(c.cfg.DBTimeout); err != nil {
		c.log.Warn("acks not flushed; the events will be redelivered", "n", len(ps), "err", err)
	}
	c.forgetAll(ctx, ps)
	for _, p := range ps {
		c.m.duration.Observe((p.gate + share).Seconds())
		c.m.processed.WithLabelValues(typeOf(p.ev), "ok").Inc()
	}
}

// partition returns the pending messages that match and those that do
// not, each in their order.
func partition(ps []pending, match func(pending) bool) (yes, no []pending) {
	for _, p := range ps {
		if match(p) {
			yes = append(yes, p)
		} else {
			no = append(no, p)
		}
	}
	return yes, no
}
