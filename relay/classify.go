package relay

import (
	"errors"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/authevents/authevents/internal/subjects"
)

type failure int

const (
	connectionFailure failure = iota // timeout, disconnect: costs nothing
	brokerUnavailable                // JetStream or the stream unavailable: costs nothing
	refusedMessage                   // about the message itself: costs an attempt
)

// classify tells a refusal of the message itself, which costs the row an
// attempt, from unavailability on the broker's side, which never does.
// stream is the relay's configured stream (Name "" when there is none).
//   - A JetStream API error is about the message only for the codes that
//     say so (messageRefusals: too large, header too large, bad TTL). Every
//     other one is the broker's: stream not found, insufficient resources,
//     no leader, an overloaded ingest queue (429), account limits, a
//     sealed stream, a message id still in process. An unknown code costs
//     nothing either: a row is never lost to an error we cannot read; it
//     waits, with the batch's backoff, as in an outage.
//   - "No responders" means no stream took the subject: with a configured
//     stream, a subject it binds means JetStream or the stream is down (or
//     the stream binds other subjects now: checkStream repairs it); a
//     subject it does not bind can never be stored (a refusal).
//   - Too large for the server, invalid subject or message: refusals.
func classify(stream StreamConfig, subject string, err error) failure {
	var apiErr *jetstream.APIError
	switch {
	case errors.As(err, &apiErr):
		if messageRefusals[apiErr.ErrorCode] {
			return refusedMessage
		}
		return brokerUnavailable
	case errors.Is(err, jetstream.ErrNoStreamResponse), errors.Is(err, nats.ErrNoResponders):
		if stream.Name != "" && !subjects.MatchAny(stream.Subjects, subject) {
			return refusedMessage
		}
		return brokerUnavailable
	case errors.Is(err, nats.ErrMaxPayload), errors.Is(err, nats.ErrBadSubject),
		errors.Is(err, nats.ErrInvalidMsg):
		return refusedMessage
	}
	return connectionFailure
}

// messageRefusals are the JetStream error codes of a publish that refuse
// the message itself: sending it again can never succeed.
var messageRefusals = map[jetstream.ErrorCode]bool{
	jetstream.JSErrCodeStreamMessageExceedsMaximum: true, // 10054: message size exceeds the stream's maximum
	10097: true, // JSStreamHeaderExceedsMaximumErr: header size exceeds the maximum
	10165: true, // JSMessageTTLInvalidErr: invalid per-message TTL
	10166: true, // JSMessageTTLDisabledErr: per-message TTL on a stream without it
}
