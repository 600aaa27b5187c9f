package relay

import (
	"errors"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

type future struct {
	ok  chan *jetstream.PubAck
	err chan error
}

func (f future) Ok() <-chan *jetstream.PubAck { return f.ok }
func (f future) Err() <-chan error            { return f.err }
func (f future) Msg() *nats.Msg               { return nil }

// TestResolvedTakesAcksThatArrived: once the batch's wait is over (its
// PubAcks are in, or the deadline passed), an ack that is there is taken,
// every time, and a future with nothing is a timeout. (Before the wait
// was one per batch, the ack and an expired deadline raced in one select,
// so about half of such rows were left pending and published again.)
func TestResolvedTakesAcksThatArrived(t *testing.T) {
	for i := range 1000 {
		f := future{ok: make(chan *jetstream.PubAck, 1), err: make(chan error, 1)}
		f.ok <- &jetstream.PubAck{Sequence: uint64(i)}
		if ack, err := resolved(f); ack == nil || ack.Sequence != uint64(i) {
			t.Fatalf("row %d: the ack that had arrived was not taken (err %v)", i, err)
		}
	}
	refused := errors.New("refused")
	f := future{ok: make(chan *jetstream.PubAck, 1), err: make(chan error, 1)}
	f.err <- refused
	if ack, err := resolved(f); ack != nil || !errors.Is(err, refused) {
		t.Errorf("a refusal: got %v, %v; want it", ack, err)
	}
	f = future{ok: make(chan *jetstream.PubAck, 1), err: make(chan error, 1)}
	if ack, err := resolved(f); ack != nil || !errors.Is(err, jetstream.ErrAsyncPublishTimeout) {
		t.Errorf("no ack after the wait: got %v, %v; want a timeout", ack, err)
	}
}

// TestClassify: only refusals of the message itself cost an attempt; the
// broker being unavailable never does.
func TestClassify(t *testing.T) {
	stream := StreamConfig{Name: "auth-events", Subjects: []string{"auth.user.*", "audit.>"}}
	api := func(status int, code jetstream.ErrorCode) error {
		return fmt.Errorf("publish: %w", &jetstream.APIError{Code: status, ErrorCode: code, Description: "x"})
	}
	tests := []struct {
		name    string
		subject string
		err     error
		want    failure
	}{
		{"message too large for the stream", "auth.user.registered", api(400, jetstream.JSErrCodeStreamMessageExceedsMaximum), refusedMessage},
		{"header too large", "auth.user.registered", api(400, 10097), refusedMessage},
		{"insufficient resources", "auth.user.registered", api(503, 10023), brokerUnavailable},
		{"ingest queue full (429)", "auth.user.registered", api(429, 10167), brokerUnavailable},
		{"account resource limits exceeded", "auth.user.registered", api(400, 10002), brokerUnavailable},
		{"sealed stream", "auth.user.registered", api(400, 10109), brokerUnavailable},
		{"message id still in process", "auth.user.registered", api(409, 10158), brokerUnavailable},
		{"an unknown 4xx code", "auth.user.registered", api(400, 19999), brokerUnavailable},
		{"invalid per-message TTL", "auth.user.registered", api(400, 10165), refusedMessage},
		{"stream store failed", "auth.user.registered", api(503, 10077), brokerUnavailable},
		{"stream not found", "auth.user.registered", api(404, jetstream.JSErrCodeStreamNotFound), brokerUnavailable},
		{"JetStream not enabled", "auth.user.registered", api(503, jetstream.JSErrCodeJetStreamNotEnabled), brokerUnavailable},
		{"no responders on a bound subject", "auth.user.registered", jetstream.ErrNoStreamResponse, brokerUnavailable},
		{"no responders on a bound subject (>)", "audit.a.b", nats.ErrNoResponders, brokerUnavailable},
		{"no responders on a subject no stream binds", "auth.nobody.listens", jetstream.ErrNoStreamResponse, refusedMessage},
		{"no responders, too many tokens for *", "auth.user.a.b", jetstream.ErrNoStreamResponse, refusedMessage},
		{"no responders, empty last token", "auth.user.", jetstream.ErrNoStreamResponse, refusedMessage},
		{"no responders, empty inner token", "auth..registered", jetstream.ErrNoStreamResponse, refusedMessage},
		{"over the server's max payload", "auth.user.registered", nats.ErrMaxPayload, refusedMessage},
		{"bad subject", "auth..x", nats.ErrBadSubject, refusedMessage},
		{"ack timeout", "auth.user.registered", jetstream.ErrAsyncPublishTimeout, connectionFailure},
		{"disconnected", "auth.user.registered", nats.ErrDisconnected, connectionFailure},
		{"connection closed", "auth.user.registered", nats.ErrConnectionClosed, connectionFailure},
	}
	for _, tt := range tests {
		if got := classify(stream, tt.subject, tt.err); got != tt.want {
			t.Errorf("%s: classify(%q, %v) = %d, want %d", tt.name, tt.subject, tt.err, got, tt.want)
		}
	}
	// Without a configured stream, "no responders" is never charged.
	if got := classify(StreamConfig{}, "anything", jetstream.ErrNoStreamResponse); got != brokerUnavailable {
		t.Errorf("no stream configured: classify(no responders) = %d, want brokerUnavailable", got)
	}
}
