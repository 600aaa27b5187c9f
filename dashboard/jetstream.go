package dashboard

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/authevents/authevents/internal/subjects"
)

// jsConfig names what the JetStream panels read.
type jsConfig struct {
	Stream, DLQ string
	LagWarning  time.Duration
}

// readJetStream fills the panels whose figures live in JetStream.
func readJetStream(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, cfg jsConfig, ov *Overview) error {
	if !nc.IsConnected() {
		return fmt.Errorf("NATS connection %s", strings.ToLower(nc.Status().String()))
	}
	stream, err := js.Stream(ctx, cfg.Stream)
	if err != nil {
		return fmt.Errorf("stream %s: %w", cfg.Stream, err)
	}
	// Per-subject counts, to tell each consumer how many stored messages
	// of its subjects there are.
	si, err := stream.Info(ctx, jetstream.WithSubjectFilter(">"))
	if err != nil {
		return fmt.Errorf("stream %s: %w", cfg.Stream, err)
	}
	now := time.Now()
	st := &Stream{Name: si.Config.Name, Messages: si.State.Msgs, MaxMessages: si.Config.MaxMsgs, Bytes: si.State.Bytes,
		MaxBytes: si.Config.MaxBytes, MaxAgeSeconds: si.Config.MaxAge.Seconds(), Consumers: si.State.Consumers,
		Replicas: si.Config.Replicas}
	if si.State.Msgs > 0 {
		age := math.Max(now.Sub(si.State.FirstTime).Seconds(), 0)
		st.OldestAgeSeconds = &age
	}
	if si.Cluster != nil {
		st.Leader, st.Cluster = si.Cluster.Leader, si.Cluster.Name
	}
	dlq := map[string]uint64{}
	cs := &Consumers{LagWarningSeconds: cfg.LagWarning.Seconds(), DLQ: cfg.DLQ}
	if ds, err := js.Stream(ctx, cfg.DLQ); errors.Is(err, jetstream.ErrStreamNotFound) {
		cs.DLQMissing = true
	} else if err != nil {
		return fmt.Errorf("dead-letter stream %s: %w", cfg.DLQ, err)
	} else {
		di, err := ds.Info(ctx, jetstream.WithSubjectFilter(cfg.DLQ+".>"))
		if err != nil {
			return fmt.Errorf("dead-letter stream %s: %w", cfg.DLQ, err)
		}
		for subject, n := range di.State.Subjects {
			dlq[strings.TrimPrefix(subject, cfg.DLQ+".")] = n
		}
	}
	lister := stream.ListConsumers(ctx)
	for ci := range lister.Info() {
		c, err := readConsumer(ctx, stream, si, ci, now)
		if err != nil {
			return err
		}
		c.DLQ = dlq[c.Name]
		c.Warning = c.LagSeconds >= cfg.LagWarning.Seconds() || c.DLQ > 0
		if ci.NumWaiting > 0 || (ci.Delivered.Last != nil && now.Sub(*ci.Delivered.Last) < time.Minute) {
			st.ActiveConsumers++
		}
		cs.Items = append(cs.Items, c)
	}
	if err := lister.Err(); err != nil {
		return fmt.Errorf("consumers of %s: %w", cfg.Stream, err)
	}
	slices.SortFunc(cs.Items, func(a, b Consumer) int { return strings.Compare(a.Name, b.Name) })
	ov.Stream, ov.Consumers = st, cs
	return nil
}

// readConsumer reads one consumer's figures; its lag is the age of the
// first message of its subjects after its ack floor (unacknowledged by
// definition of the floor), as the consumers' own lag gauge computes it.
func readConsumer(ctx context.Context, stream jetstream.Stream, si *jetstream.StreamInfo, ci *jetstream.ConsumerInfo, now time.Time) (Consumer, error) {
	filters := ci.Config.FilterSubjects
	if ci.Config.FilterSubject != "" {
		filters = append(filters, ci.Config.FilterSubject)
	}
	c := Consumer{Name: ci.Name, Filter: strings.Join(filters, ","), Pending: ci.NumPending, AckPending: ci.NumAckPending,
		Redelivered: ci.NumRedelivered}
	var stored uint64
	for subject, n := range si.State.Subjects {
		if len(filters) == 0 || subjects.MatchAny(filters, subject) {
			stored += n
		}
	}
	if unacked := ci.NumPending + uint64(ci.NumAckPending); stored > unacked {
		c.Acknowledged = stored - unacked
	}
	if ci.NumPending == 0 && ci.NumAckPending == 0 {
		return c, nil
	}
	filter := ">"
	if len(filters) == 1 {
		filter = filters[0]
	}
	m, err := stream.GetMsg(ctx, max(ci.AckFloor.Stream+1, si.State.FirstSeq), jetstream.WithGetMsgSubject(filter))
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
	case err != nil:
		return c, fmt.Errorf("consumer %s: oldest unacknowledged message: %w", ci.Name, err)
	default:
		c.LagSeconds = math.Round(math.Max(now.Sub(m.Time).Seconds(), 0)*10) / 10
	}
	return c, nil
}
