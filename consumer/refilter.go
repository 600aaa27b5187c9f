package consumer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/authevents/authevents/internal/retry"
	"github.com/authevents/authevents/internal/subjects"
)

// refilter moves an existing durable to a new filter by deleting it and
// creating it again, delivering from the first message it may not have
// seen. JetStream, updating a filter in place, never delivers the messages
// of the subjects the durable gains that lie below where it is (and
// nats-server 2.9 even skips those it had not delivered yet). Those are
// real: during a rollout the new API emits a new type before its consumer
// is upgraded, while the old consumer acknowledges past it (found in
// review: a link mailed by nobody). So the new durable starts at the
// first message of a gained subject, when that is below the old one's ack
// floor, and just above the floor otherwise. What it delivers again was
// acknowledged once, and effects are idempotent. It returns nil, nil when
// there is no durable yet or its filter is already the one wanted.
func (c *Consumer) refilter(ctx context.Context, cc jetstream.ConsumerConfig) (jetstream.Consumer, error) {
	old, err := c.js.Consumer(ctx, c.cfg.Stream, cc.Durable)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	info := old.CachedInfo()
	was := filtersOf(info.Config)
	if slices.Equal(was, filtersOf(cc)) {
		return nil, nil
	}
	start := info.AckFloor.Stream + 1
	gained, err := c.firstGained(ctx, was, start)
	if err != nil {
		return nil, fmt.Errorf("recreate with the new filter: %w", err)
	}
	if gained > 0 {
		start = gained
	}
	c.log.Warn("recreating the durable with its new filter (an in-place change would skip messages of the subjects it gains)",
		"durable", cc.Durable, "from", was, "to", filtersOf(cc), "ack_floor", info.AckFloor.Stream, "start", start)
	if err := c.js.DeleteConsumer(ctx, c.cfg.Stream, cc.Durable); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, fmt.Errorf("recreate with the new filter: delete: %w", err)
	}
	cc.DeliverPolicy, cc.OptStartSeq = jetstream.DeliverByStartSequencePolicy, start
	// Deleted: created again here, whatever it takes. Given up, the next
	// start would find no durable and deliver the whole stream again.
	var cons jetstream.Consumer
	err = retry.Until(ctx, retry.Exp(100*time.Millisecond, 5*time.Second), func(ctx context.Context) (err error) {
		cons, err = c.js.CreateOrUpdateConsumer(ctx, c.cfg.Stream, cc)
		return err
	}, func(attempt int, err error) {
		c.log.Warn("recreate the durable: create failed; retrying", "durable", cc.Durable, "attempt", attempt, "err", err)
	})
	return cons, err
}

// firstGained returns the sequence of the first message below before of a
// subject the durable receives now and did not under the filters was, or
// 0 if there is none. The subjects are the configured types (FilterSubjects)
// even on nats-server 2.9, whose durable has the stream's wildcard instead.
func (c *Consumer) firstGained(ctx context.Context, was []string, before uint64) (uint64, error) {
	wanted := c.cfg.FilterSubjects
	if len(wanted) == 0 {
		wanted = c.filters()
	}
	s, err := c.js.Stream(ctx, c.cfg.Stream)
	if err != nil {
		return 0, err
	}
	first := s.CachedInfo().State.FirstSeq
	var at uint64
	for _, subj := range wanted {
		if subjects.MatchAny(was, subj) {
			continue
		}
		m, err := s.GetMsg(ctx, first, jetstream.WithGetMsgSubject(subj))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("first message of %s: %w", subj, err)
		}
		if m.Sequence < before && (at == 0 || m.Sequence < at) {
			at = m.Sequence
		}
	}
	return at, nil
}

// filtersOf is a durable's filters, sorted (">" for none).
func filtersOf(cc jetstream.ConsumerConfig) []string {
	var fs []string
	switch {
	case len(cc.FilterSubjects) > 0:
		fs = slices.Clone(cc.FilterSubjects)
	case cc.FilterSubject != "":
		fs = []string{cc.FilterSubject}
	default:
		fs = []string{">"}
	}
	slices.Sort(fs)
	return fs
}
