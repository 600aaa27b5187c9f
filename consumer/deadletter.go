package consumer

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Headers of a dead-lettered message.
const (
	HeaderOriginalSubject = "Authevents-Original-Subject"
	HeaderStream          = "Authevents-Stream"
	HeaderStreamSeq       = "Authevents-Stream-Seq"
	HeaderConsumer        = "Authevents-Consumer"
	HeaderDeliveries      = "Authevents-Deliveries"
	HeaderFailures        = "Authevents-Failures"
	HeaderLastError       = "Authevents-Last-Error"
	HeaderEventID         = "Authevents-Event-Id"
)

// DLQSubject is where a consumer's dead letters go.
func DLQSubject(dlqStream, durable string) string { return dlqStream + "." + durable }

// EnsureDLQ creates or updates the dead-letter stream (subjects
// "<name>.>"), file storage, kept 30 days.
func EnsureDLQ(ctx context.Context, js jetstream.JetStream, name string) error {
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: name, Subjects: []string{name + ".>"}, Storage: jetstream.FileStorage,
		MaxAge: 30 * 24 * time.Hour, Duplicates: 2 * time.Minute,
	})
	if err != nil {
		return fmt.Errorf("dead-letter stream %s: %w", name, err)
	}
	return nil
}

// deadLetter copies the message with its metadata to the dead-letter
// stream, then terminates it in the source consumer. If the copy fails the
// message is nak'ed instead, so it is never dropped silently.
func (c *Consumer) deadLetter(ctx context.Context, msg jetstream.Msg, ev *Event, md *jetstream.MsgMetadata, failures int, cause error) bool {
	out := &nats.Msg{Subject: DLQSubject(c.cfg.DLQStream, c.cfg.Durable), Data: msg.Data(), Header: nats.Header{}}
	out.Header.Set(jetstream.MsgIDHeader, c.cfg.Durable+":"+md.Stream+":"+strconv.FormatUint(md.Sequence.Stream, 10))
	out.Header.Set(HeaderOriginalSubject, msg.Subject())
	out.Header.Set(HeaderStream, md.Stream)
	out.Header.Set(HeaderStreamSeq, strconv.FormatUint(md.Sequence.Stream, 10))
	out.Header.Set(HeaderConsumer, c.cfg.Durable)
	out.Header.Set(HeaderDeliveries, strconv.FormatUint(md.NumDelivered, 10))
	out.Header.Set(HeaderFailures, strconv.Itoa(failures))
	out.Header.Set(HeaderLastError, truncate(cause.Error(), 1000))
	if id := msg.Headers().Get(jetstream.MsgIDHeader); id != "" {
		out.Header.Set(HeaderEventID, id)
	} else if ev.ID != "" {
		out.Header.Set(HeaderEventID, ev.ID)
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := c.js.PublishMsg(pctx, out); err != nil {
		c.log.Error("dead-letter publish failed; message left for redelivery", "seq", ev.StreamSeq, "err", err)
		msg.NakWithDelay(c.delay(c.cfg.Attempts))
		return false
	}
	if err := msg.Term(); err != nil {
		c.log.Warn("term after dead-lettering failed", "seq", ev.StreamSeq, "err", err)
	}
	c.m.deadLettered.Inc()
	c.log.Error("message dead-lettered", "event_id", ev.ID, "type", ev.Type, "seq", ev.StreamSeq, "deliveries", md.NumDelivered, "failures", failures, "err", cause)
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
