package consumer_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/authevents/authevents/consumer"
	"github.com/authevents/authevents/internal/natstest"
)

// deadLetter writes a dead letter as a consumer would (see deadLetter in
// deadletter.go) and returns its event id.
func (e *env) deadLetter(t *testing.T, i int) string {
	t.Helper()
	id := uuid.NewString()
	m := &nats.Msg{Subject: consumer.DLQSubject(e.dlq, "email-service"), Data: fmt.Appendf(nil, `{"id":"%s","n":%d}`, id, i), Header: nats.Header{}}
	m.Header.Set(consumer.HeaderOriginalSubject, e.names.For("user.registered"))
	m.Header.Set(consumer.HeaderStream, e.names.Stream)
	m.Header.Set(consumer.HeaderConsumer, "email-service")
	m.Header.Set(consumer.HeaderDeliveries, "3")
	m.Header.Set(consumer.HeaderLastError, "smtp down")
	m.Header.Set(consumer.HeaderStreamSeq, strconv.Itoa(10+i))
	m.Header.Set(consumer.HeaderEventID, id)
	if _, err := e.js.PublishMsg(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	return id
}

// TestReplayRepublishesToTheOriginalSubjectOnce: a replayed dead letter
// reaches the source stream on its original subject, byte for byte, under
// a fresh Nats-Msg-Id (the original may still be inside the duplicate
// window), and leaves the dead-letter stream; a second replay of it finds
// nothing and publishes nothing.
func TestReplayRepublishesToTheOriginalSubjectOnce(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	first, second := e.deadLetter(t, 0), e.deadLetter(t, 1)
	dls, err := consumer.OpenDeadLetters(ctx, e.js, e.dlq)
	if err != nil {
		t.Fatal(err)
	}

	got, err := dls.Get(ctx, 1, true)
	if err != nil {
		t.Fatal(err)
	}
	want := consumer.DeadLetter{Seq: 1, Time: got.Time, EventID: first, OriginalSubject: e.names.For("user.registered"),
		Stream: e.names.Stream, StreamSeq: "10", Consumer: "email-service", Deliveries: "3", LastError: "smtp down",
		Body: fmt.Sprintf(`{"id":"%s","n":0}`, first)}
	if got != want || got.Time.IsZero() || got.Time.Location() != time.UTC {
		t.Fatalf("Get(1) = %+v, want %+v (time in UTC)", got, want)
	}
	if got, _ := dls.Get(ctx, 1, false); got.Body != "" {
		t.Errorf("Get(1, withBody=false).Body = %q, want empty", got.Body)
	}

	replayed, err := dls.Replay(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if replayed.EventID != first || replayed.Body != "" {
		t.Errorf("Replay(1) = %+v, want dead letter 1 without body", replayed)
	}
	if _, err := dls.Replay(ctx, 1); !errors.Is(err, jetstream.ErrMsgNotFound) {
		t.Fatalf("second Replay(1) = %v, want ErrMsgNotFound", err)
	}
	// One message only: the second replay published nothing. Collect waits
	// its whole deadline for a second one.
	msgs := natstest.Collect(t, e.js, e.names.Stream, 2, time.Second)
	if len(msgs) != 1 {
		t.Fatalf("%d messages on the source stream after replaying twice, want 1", len(msgs))
	}
	m := msgs[0]
	if m.Subject() != e.names.For("user.registered") || m.Headers().Get(jetstream.MsgIDHeader) != first+":replay:1" ||
		string(m.Data()) != want.Body || m.Headers().Get("Content-Type") != "application/cloudevents+json" {
		t.Fatalf("replayed message: subject %s, headers %v, body %s", m.Subject(), m.Headers(), m.Data())
	}

	purged, err := dls.Purge(ctx, 2)
	if err != nil || purged.EventID != second {
		t.Fatalf("Purge(2) = %+v, %v", purged, err)
	}
	if _, err := dls.Get(ctx, 2, false); !errors.Is(err, jetstream.ErrMsgNotFound) {
		t.Errorf("Get(2) after Purge = %v, want ErrMsgNotFound", err)
	}
	if _, err := dls.Purge(ctx, 2); !errors.Is(err, jetstream.ErrMsgNotFound) {
		t.Errorf("second Purge(2) = %v, want ErrMsgNotFound", err)
	}
	// Seqs spans first to last message; with every message gone it is empty.
	if seqs, err := dls.Seqs(ctx); err != nil || len(seqs) != 0 {
		t.Errorf("Seqs() with every dead letter removed = %v, %v; want none", seqs, err)
	}
	third := e.deadLetter(t, 2)
	if seqs, err := dls.Seqs(ctx); err != nil || !slices.Equal(seqs, []uint64{3}) {
		t.Errorf("Seqs() = %v, %v; want [3]", seqs, err)
	}
	if got, err := dls.Get(ctx, 3, false); err != nil || got.EventID != third {
		t.Errorf("Get(3) = %+v, %v", got, err)
	}
}

func TestOpenDeadLettersNamesAMissingStream(t *testing.T) {
	t.Parallel()
	_, js, names := natstest.Shared(t)
	_, err := consumer.OpenDeadLetters(context.Background(), js, names.Stream+"-nope")
	if !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Fatalf("OpenDeadLetters(missing) = %v, want ErrStreamNotFound", err)
	}
}
