package consumer

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/authevents/authevents/internal/retry"
)

// MaxAckPending is the durable's bound on messages delivered and not yet
// acknowledged: a fetch (Config.Batch) asks for no more.
const MaxAckPending = 1000

// Ensure creates or updates the durable consumer and the dead-letter stream.
// An existing durable takes the configuration as it is now, its filter
// included (see filter).
func (c *Consumer) Ensure(ctx context.Context) (jetstream.Consumer, error) {
	if err := EnsureDLQ(ctx, c.js, c.cfg.DLQStream, c.cfg.DLQReplicas); err != nil {
		return nil, err
	}
	cc := jetstream.ConsumerConfig{
		Durable: c.cfg.Durable, AckPolicy: jetstream.AckExplicitPolicy, AckWait: c.cfg.AckWait,
		MaxDeliver: c.cfg.MaxDeliveries, DeliverPolicy: jetstream.DeliverAllPolicy, MaxAckPending: MaxAckPending,
	}
	cc.FilterSubject, cc.FilterSubjects = c.filter()
	cons, err := c.refilter(ctx, cc)
	if cons == nil && err == nil {
		cons, err = c.js.CreateOrUpdateConsumer(ctx, c.cfg.Stream, cc)
	}
	if err != nil {
		return nil, fmt.Errorf("consumer %s on %s: %w", c.cfg.Durable, c.cfg.Stream, err)
	}
	// The missed-events mark starts where the consumer is (see countMissed).
	if s, err := c.js.Stream(ctx, c.cfg.Stream); err == nil {
		at := cons.CachedInfo().AckFloor.Stream
		if first := s.CachedInfo().State.FirstSeq; first > 0 {
			at = max(at, first-1)
		}
		dctx, cancel := context.WithTimeout(ctx, c.cfg.DBTimeout)
		err := c.initMark(dctx, c.pool, at)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("consumer %s: missed-events mark: %w", c.cfg.Durable, err)
		}
	}
	return cons, nil
}

// filter returns the durable's filter: FilterSubjects on a server that has
// several filters per consumer (nats-server 2.10 and later), FilterSubject
// otherwise. The version is asked first because a 2.9 server does not
// refuse filter_subjects: it ignores the field and stores the durable
// without any filter, and only the client notices afterwards.
func (c *Consumer) filter() (string, []string) {
	if len(c.cfg.FilterSubjects) == 0 || !multipleFilters(c.js.Conn().ConnectedServerVersion()) {
		return c.cfg.FilterSubject, nil
	}
	return "", c.cfg.FilterSubjects
}

// filters are the subjects the durable receives, as filter sets them
// (">" for all the stream's).
func (c *Consumer) filters() []string {
	one, several := c.filter()
	if len(several) > 0 {
		return several
	}
	if one == "" {
		return []string{">"}
	}
	return []string{one}
}

// multipleFilters reports whether a nats-server of version v ("2.10.4")
// supports several filter subjects on one consumer (2.10 and later).
func multipleFilters(v string) bool {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return false
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return false
	}
	return major > 2 || major == 2 && minor >= 10
}

// start ensures the durable consumer and reads its stream, retrying with
// backoff until it succeeds or ctx ends: JetStream may be unavailable for
// a while (a cluster electing a leader or without quorum, a broker
// restarting), and a replica started then must wait for it, as the relay
// does, not exit (the chaos suite found replicas exiting with status 1).
// It fails only when ctx ends.
func (c *Consumer) start(ctx context.Context) (cons jetstream.Consumer, stream jetstream.Stream, err error) {
	err = retry.Until(ctx, retry.Exp(250*time.Millisecond, 5*time.Second), func(ctx context.Context) error {
		if cons, err = c.Ensure(ctx); err != nil {
			return err
		}
		if stream, err = c.js.Stream(ctx, c.cfg.Stream); err != nil {
			return fmt.Errorf("stream %s: %w", c.cfg.Stream, err)
		}
		return nil
	}, func(attempt int, err error) {
		if attempt == 1 || attempt%20 == 0 {
			c.log.Warn("cannot set up the consumer yet; retrying", "err", err, "attempt", attempt)
		}
	})
	return cons, stream, err
}
