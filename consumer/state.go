package consumer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/authevents/authevents/db/postgres"
)

// state is what a consumer last read of its own and its stream's state on
// the server. Every replica of a durable reads the same server state, so
// every replica reports the same values.
type state struct {
	validUntil  time.Time // after this the values are stale and not exported
	oldest      time.Time // stored time of the oldest event not yet acknowledged; zero when caught up
	pending     uint64    // not yet delivered
	ackPending  int       // delivered, not yet acknowledged
	headroom    float64   // messages the stream can take before it discards the oldest unacknowledged event
	hasHeadroom bool      // the stream has a MaxMsgs limit
	maxAge      time.Duration
}

// stateCollector exports the last state read by each consumer of the
// process. A consumer whose state could not be read (or was not read for
// three intervals) has no series at all: an absent gauge is an alert
// (absent()), a stale or zero one is a lie.
type stateCollector struct {
	mu     sync.Mutex
	states map[string]*state
	now    func() time.Time

	lag, pending, ackPending, headroom, headroomSeconds *prometheus.Desc
}

func newStateCollector() *stateCollector {
	l := []string{"consumer"}
	return &stateCollector{
		states: map[string]*state{}, now: time.Now,
		lag: prometheus.NewDesc("authevents_consumer_lag_seconds",
			"Age of the oldest event the consumer has not acknowledged (0 when caught up); absent when the consumer's state cannot be read.", l, nil),
		pending: prometheus.NewDesc("authevents_consumer_pending_messages",
			"Messages not yet delivered to the consumer (consumer info).", l, nil),
		ackPending: prometheus.NewDesc("authevents_consumer_ack_pending_messages",
			"Messages delivered but not yet acknowledged.", l, nil),
		headroom: prometheus.NewDesc("authevents_consumer_stream_headroom_messages",
			"Messages the stream can still take before its MaxMsgs limit discards the consumer's oldest unacknowledged event (MaxMsgs when caught up; absent without a MaxMsgs limit).", l, nil),
		headroomSeconds: prometheus.NewDesc("authevents_consumer_stream_headroom_seconds",
			"Time until the stream's MaxAge discards the consumer's oldest unacknowledged event (MaxAge when caught up; absent without a MaxAge limit).", l, nil),
	}
}

func (c *stateCollector) set(consumer string, st *state) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st == nil {
		delete(c.states, consumer)
		return
	}
	c.states[consumer] = st
}

// Describe implements prometheus.Collector.
func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.lag, c.pending, c.ackPending, c.headroom, c.headroomSeconds} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. The lag is computed at scrape
// time from the oldest event's stored time, so it keeps growing between
// reads and agrees across replicas.
func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	for name, st := range c.states {
		if now.After(st.validUntil) {
			continue
		}
		lag := 0.0
		if !st.oldest.IsZero() {
			lag = max(now.Sub(st.oldest).Seconds(), 0)
		}
		ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, lag, name)
		ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(st.pending), name)
		ch <- prometheus.MustNewConstMetric(c.ackPending, prometheus.GaugeValue, float64(st.ackPending), name)
		if st.hasHeadroom {
			ch <- prometheus.MustNewConstMetric(c.headroom, prometheus.GaugeValue, st.headroom, name)
		}
		if st.maxAge > 0 {
			ch <- prometheus.MustNewConstMetric(c.headroomSeconds, prometheus.GaugeValue, st.maxAge.Seconds()-lag, name)
		}
	}
}

// watchState reads the consumer's and the stream's state every
// StateInterval for the metrics, and counts events the stream discarded
// before this consumer processed them.
func (c *Consumer) watchState(ctx context.Context, stream jetstream.Stream, cons jetstream.Consumer) {
	t := time.NewTicker(c.cfg.StateInterval)
	defer t.Stop()
	defer c.m.state.set(c.cfg.Durable, nil) // a stopped consumer reports nothing
	failing := false
	for {
		st, err := c.readState(ctx, stream, cons)
		switch {
		case err != nil && ctx.Err() == nil:
			c.m.state.set(c.cfg.Durable, nil)
			if !failing {
				c.log.Warn("cannot read the consumer's state; its lag is not reported", "err", err)
			}
			failing = true
		case err == nil:
			c.m.state.set(c.cfg.Durable, st)
			failing = false
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// readState reads the stream's state, then the consumer's (in this order:
// a consumer caught up after the stream's last sequence was read has
// processed everything up to it), then the oldest unacknowledged event.
func (c *Consumer) readState(ctx context.Context, stream jetstream.Stream, cons jetstream.Consumer) (*state, error) {
	rt := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, 2*time.Second) }
	sctx, cancel := rt()
	si, err := stream.Info(sctx)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("stream info: %w", err)
	}
	cctx, cancel := rt()
	ci, err := cons.Info(cctx)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("consumer info: %w", err)
	}
	st := &state{validUntil: time.Now().Add(3 * c.cfg.StateInterval), pending: ci.NumPending, ackPending: ci.NumAckPending, maxAge: si.Config.MaxAge}
	caughtUp := ci.NumPending == 0 && ci.NumAckPending == 0
	// firstFrom is the first message of the consumer's subjects at or
	// after seq (nil when there is none), skipping other subjects and
	// sequences deleted or discarded: the earliest over its filters.
	firstFrom := func(seq uint64) (*jetstream.RawStreamMsg, error) {
		var first *jetstream.RawStreamMsg
		for _, filter := range c.filters() {
			gctx, cancel := rt()
			m, err := stream.GetMsg(gctx, max(seq, si.State.FirstSeq), jetstream.WithGetMsgSubject(filter))
			cancel()
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				continue
			}
			if err != nil {
				return nil, err
			}
			if first == nil || m.Sequence < first.Sequence {
				first = m
			}
		}
		return first, nil
	}
	var next uint64 // stream sequence of the oldest unacknowledged event; 0 when caught up
	if !caughtUp {
		// The first event of the consumer's subjects after its ack floor is
		// unacknowledged by definition of the floor.
		m, err := firstFrom(ci.AckFloor.Stream + 1)
		if err != nil {
			return nil, fmt.Errorf("oldest unacknowledged message: %w", err)
		}
		if m != nil { // else settled between the two reads
			st.oldest, next = m.Time, m.Sequence
		}
	}
	// settled: every sequence up to it was processed, is held by a
	// replica, or is of another subject.
	settled := ci.AckFloor.Stream
	if ci.NumPending == 0 {
		settled = max(settled, si.State.LastSeq)
	} else {
		m, err := firstFrom(ci.Delivered.Stream + 1)
		switch {
		case err != nil:
			return nil, fmt.Errorf("next undelivered message: %w", err)
		case m == nil:
			settled = max(settled, si.State.LastSeq)
		default:
			settled = max(settled, m.Sequence-1)
		}
	}
	if si.Config.MaxMsgs > 0 {
		st.hasHeadroom = true
		st.headroom = float64(si.Config.MaxMsgs)
		if next > 0 && next <= si.State.LastSeq {
			st.headroom -= float64(si.State.LastSeq - next + 1)
		}
	}
	if err := c.countMissed(ctx, si, settled); err != nil {
		return nil, err
	}
	return st, nil
}

// countMissed counts the events the stream discarded (limits, MaxAge)
// before this consumer processed them. The row consumer_stream_marks holds
// the sequence up to which everything was processed or counted; every
// sequence after it and below the stream's first sequence was discarded
// unprocessed. The mark, not the consumer's ack floor, is the reference:
// on its next fetch the server moves the ack floor past discarded
// messages, so a floor read after that hides them. The mark advances
// after counting, to the settled sequence the caller read (ack floor, held
// messages, other subjects), under a row lock: each sequence is counted
// once across replicas and restarts.
//
// Exact for a consumer of all the stream's subjects. For a filtered
// consumer (email; security on nats-server 2.10 and later) the mark
// passes other subjects only at a state read, so
// other subjects' messages that arrive and are discarded between two reads
// (or while it is stopped) count too: an upper bound. So do messages
// processed and then discarded between two reads.
func (c *Consumer) countMissed(ctx context.Context, si *jetstream.StreamInfo, settled uint64) error {
	first, last := si.State.FirstSeq, si.State.LastSeq
	floor := settled
	if first > 0 {
		floor = max(floor, first-1)
	}
	// An idle or healthy consumer costs no query: the row's mark only
	// grows (unless the stream is recreated), so with the last mark this
	// process committed nothing can be missed when the stream's first
	// sequence is not past it, and nothing is to write when the mark would
	// not move.
	if known := c.markSeen; c.markSet && last >= known && first <= known+1 && floor <= known {
		return nil
	}
	var missed, from, newMark uint64
	dctx, cancel := context.WithTimeout(ctx, c.cfg.DBTimeout)
	defer cancel()
	err := postgres.WithTx(dctx, c.pool, func(tx pgx.Tx) error {
		if err := c.initMark(dctx, tx, floor); err != nil {
			return err
		}
		var stored int64
		if err := tx.QueryRow(dctx, `SELECT accounted_through FROM consumer_stream_marks WHERE consumer = $1 AND stream = $2 FOR UPDATE`,
			c.cfg.Durable, c.cfg.Stream).Scan(&stored); err != nil {
			return err
		}
		mark := uint64(stored)
		if mark > last {
			mark = floor // the stream was recreated: sequences start again
		}
		from = mark + 1
		if first > from {
			missed = first - from
		}
		newMark = max(mark, floor)
		if newMark == uint64(stored) {
			return nil
		}
		_, err := tx.Exec(dctx, `UPDATE consumer_stream_marks SET accounted_through = $3, updated_at = now() WHERE consumer = $1 AND stream = $2`,
			c.cfg.Durable, c.cfg.Stream, int64(newMark))
		return err
	})
	if err != nil {
		return fmt.Errorf("count missed events: %w", err)
	}
	c.markSeen, c.markSet = newMark, true // committed
	if missed > 0 {
		c.m.missed.Add(float64(missed))
		c.log.Error("the stream discarded events this consumer never processed: they are lost to it",
			"missed", missed, "first_missed_seq", from, "last_missed_seq", first-1, "stream", c.cfg.Stream)
	}
	return nil
}

// initMark creates the consumer's mark at start if it has none: nothing
// before the consumer's present position is counted as missed.
func (c *Consumer) initMark(ctx context.Context, q postgres.Querier, at uint64) error {
	_, err := q.Exec(ctx, `INSERT INTO consumer_stream_marks (consumer, stream, accounted_through) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
		c.cfg.Durable, c.cfg.Stream, int64(at))
	return err
}
