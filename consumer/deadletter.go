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
// "<name>.>"), file storage, kept 30 days, with the given replicas (0: 1)
// like the event stream, so a cluster that loses a node keeps them.
func EnsureDLQ(ctx context.Context, js jetstream.JetStream, name string, replicas int) error {
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: name, Subjects: []string{name + ".>"}, Storage: jetstream.FileStorage,
		MaxAge: 30 * 24 * time.Hour, Duplicates: 2 * time.Minute, Replicas: max(replicas, 1),
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

// DeadLetter is one message of a dead-letter stream as an operator sees
// it. authctl dlq prints these fields with --json (a contract: extend,
// never rename).
type DeadLetter struct {
	Seq             uint64    `json:"seq"`
	Time            time.Time `json:"time"`
	EventID         string    `json:"eventId"`
	OriginalSubject string    `json:"originalSubject"`
	Stream          string    `json:"stream"`
	StreamSeq       string    `json:"streamSeq"`
	Consumer        string    `json:"consumer"`
	Deliveries      string    `json:"deliveries"`
	LastError       string    `json:"lastError"`
	Body            string    `json:"body,omitempty"`
}

func deadLetterOf(m *jetstream.RawStreamMsg, withBody bool) DeadLetter {
	h := m.Header
	d := DeadLetter{Seq: m.Sequence, Time: m.Time.UTC(), EventID: h.Get(HeaderEventID),
		OriginalSubject: h.Get(HeaderOriginalSubject), Stream: h.Get(HeaderStream),
		StreamSeq: h.Get(HeaderStreamSeq), Consumer: h.Get(HeaderConsumer),
		Deliveries: h.Get(HeaderDeliveries), LastError: h.Get(HeaderLastError)}
	if withBody {
		d.Body = string(m.Data)
	}
	return d
}

// DeadLetters is a dead-letter stream opened for an operator: its
// messages are read, replayed and purged by sequence number. A sequence
// number whose message is gone (replayed, purged, expired, or never
// written) gives an error matching jetstream.ErrMsgNotFound.
type DeadLetters struct {
	js     jetstream.JetStream
	stream jetstream.Stream
}

// OpenDeadLetters opens the dead-letter stream name (auth-events-dlq).
func OpenDeadLetters(ctx context.Context, js jetstream.JetStream, name string) (*DeadLetters, error) {
	s, err := js.Stream(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("dead-letter stream %s: %w", name, err)
	}
	return &DeadLetters{js: js, stream: s}, nil
}

// Seqs returns every sequence number from the stream's first message to
// its last. Messages removed in between are not skipped here: reading one
// gives jetstream.ErrMsgNotFound.
func (d *DeadLetters) Seqs(ctx context.Context) ([]uint64, error) {
	info, err := d.stream.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("dead-letter stream %s: %w", d.stream.CachedInfo().Config.Name, err)
	}
	var seqs []uint64
	for n := info.State.FirstSeq; n <= info.State.LastSeq && info.State.Msgs > 0; n++ {
		seqs = append(seqs, n)
	}
	return seqs, nil
}

// Get reads the dead letter seq, with its body when withBody is set.
func (d *DeadLetters) Get(ctx context.Context, seq uint64, withBody bool) (DeadLetter, error) {
	m, err := d.stream.GetMsg(ctx, seq)
	if err != nil {
		return DeadLetter{}, fmt.Errorf("dead letter %d: %w", seq, err)
	}
	return deadLetterOf(m, withBody), nil
}

// Replay publishes the dead letter seq again to its original subject, so
// the consumers see it as a new delivery, then removes it from the
// dead-letter stream. It gets a fresh Nats-Msg-Id (<event id>:replay:<seq>)
// because the original id may still be inside the source stream's
// duplicate window. Handlers are idempotent by event id, so the consumers
// that had already applied the event apply nothing. If the removal fails
// after the publish, the error says so and a second replay is harmless.
func (d *DeadLetters) Replay(ctx context.Context, seq uint64) (DeadLetter, error) {
	m, err := d.stream.GetMsg(ctx, seq)
	if err != nil {
		return DeadLetter{}, fmt.Errorf("dead letter %d: %w", seq, err)
	}
	msg := &nats.Msg{Subject: m.Header.Get(HeaderOriginalSubject), Data: m.Data, Header: nats.Header{}}
	msg.Header.Set(jetstream.MsgIDHeader, m.Header.Get(HeaderEventID)+":replay:"+strconv.FormatUint(seq, 10))
	msg.Header.Set("Content-Type", "application/cloudevents+json")
	if _, err := d.js.PublishMsg(ctx, msg); err != nil {
		return DeadLetter{}, fmt.Errorf("replay %d: %w", seq, err)
	}
	if err := d.stream.DeleteMsg(ctx, seq); err != nil {
		return DeadLetter{}, fmt.Errorf("replayed %d but could not remove it: %w", seq, err)
	}
	return deadLetterOf(m, false), nil
}

// Purge removes the dead letter seq without replaying it.
func (d *DeadLetters) Purge(ctx context.Context, seq uint64) (DeadLetter, error) {
	m, err := d.stream.GetMsg(ctx, seq)
	if err != nil {
		return DeadLetter{}, fmt.Errorf("dead letter %d: %w", seq, err)
	}
	if err := d.stream.DeleteMsg(ctx, seq); err != nil {
		return DeadLetter{}, fmt.Errorf("purge %d: %w", seq, err)
	}
	return deadLetterOf(m, false), nil
}
