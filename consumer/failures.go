package consumer

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// DefaultBackoff returns the delays that space the three default attempts
// over six minutes (1 min, then 5 min), so a downstream outage of five
// minutes is ridden out rather than dead-lettering every event it touched
// (1s,5s gave up after 6 s). A nak'ed message waits on the server, not in
// the process: it holds no handler, needs no keep-alive and does not count
// against AckWait, but it does count against MaxAckPending (1000) while it
// waits. A function, not a variable: no caller can change the default of
// the whole process by writing to a shared slice.
func DefaultBackoff() []time.Duration { return []time.Duration{time.Minute, 5 * time.Minute} }

type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }
func (p permanent) Unwrap() error { return p.err }

// Permanent marks err as not worth retrying: the message goes to the
// dead-letter stream at once.
func Permanent(err error) error { return permanent{err} }

// ErrClaimed is returned by a handler when another replica is performing
// the event's effect (the email service's claim, consumer/email): the
// message is retried later without spending an attempt.
var ErrClaimed = errors.New("event claimed by another replica")

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p permanent
	return errors.As(err, &p)
}

// delay is the wait before attempt n+1 after attempt n failed.
func (c *Consumer) delay(n int) time.Duration { return delayAfter(c.cfg.Backoff, n) }

func delayAfter(backoff []time.Duration, n int) time.Duration {
	if len(backoff) == 0 {
		return 0
	}
	if n-1 < len(backoff) {
		return backoff[n-1]
	}
	return backoff[len(backoff)-1]
}

// recordFailure counts a handler failure of the message and returns the
// count so far. Like every bookkeeping round trip it has its own deadline
// (DBTimeout): a Postgres that stops answering must not hold the message,
// and the consumer, forever.
func (c *Consumer) recordFailure(ctx context.Context, md *jetstream.MsgMetadata, cause error) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.DBTimeout)
	defer cancel()
	var n int
	err := c.pool.QueryRow(ctx, `
		INSERT INTO consumer_failures (consumer, stream, stream_seq, failures, last_error) VALUES ($1, $2, $3, 1, $4)
		ON CONFLICT (consumer, stream, stream_seq)
		DO UPDATE SET failures = consumer_failures.failures + 1, last_error = $4, updated_at = now()
		RETURNING failures`, c.cfg.Durable, md.Stream, int64(md.Sequence.Stream), truncate(cause.Error(), 1000)).Scan(&n)
	return n, err
}

// forget removes the failure count of a settled message. A first
// delivery cannot have one (failures are recorded before a redelivery),
// so the common case costs no query.
func (c *Consumer) forget(ctx context.Context, md *jetstream.MsgMetadata) {
	if md.NumDelivered <= 1 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.DBTimeout)
	defer cancel()
	if _, err := c.pool.Exec(ctx, `DELETE FROM consumer_failures WHERE consumer = $1 AND stream = $2 AND stream_seq = $3`,
		c.cfg.Durable, md.Stream, int64(md.Sequence.Stream)); err != nil {
		// The row is left for retention to prune (CONSUMER_RETENTION).
		c.log.Debug("could not clear failure count", "err", err)
	}
}

// RetryHorizon is the time from a message's first failed attempt to its
// last attempt: the length of a downstream outage the consumer rides out
// before it dead-letters. Handler time is not included.
func RetryHorizon(attempts int, backoff []time.Duration) time.Duration {
	var h time.Duration
	for n := 1; n < attempts; n++ {
		h += delayAfter(backoff, n)
	}
	return h
}
