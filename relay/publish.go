package relay

import (
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/authevents/authevents/internal/retry"
	"github.com/authevents/authevents/outbox"
)

type pending struct {
	row outbox.Row
	fut jetstream.PubAckFuture
	err error
}

// publish sends every row asynchronously and waits for each PubAck. A row
// counts as sent only with its own PubAck. A refusal of the message itself
// (failed) costs the row an attempt. Anything on the broker's side (no
// JetStream answering a subject the stream binds, a missing stream,
// insufficient resources, a timeout, a disconnect) leaves the row
// untouched, in neither list: unavailable reports that JetStream, not the
// connection, was the problem.
// Each acknowledged and each refused row is added to tally.
func (r *Relay) publish(rows []outbox.Row, tally *outbox.Tally) (sent []uuid.UUID, failed []outbox.Failure, unavailable bool) {
	ps := make([]pending, len(rows))
	for i, row := range rows {
		msg := &nats.Msg{Subject: row.Subject, Data: row.Payload, Header: nats.Header{}}
		msg.Header.Set(jetstream.MsgIDHeader, row.ID.String())
		msg.Header.Set("Content-Type", r.cfg.ContentType)
		ps[i].row = row
		ps[i].fut, ps[i].err = r.js.PublishMsgAsync(msg)
	}
	deadline := time.NewTimer(r.cfg.PublishTimeout + time.Second)
	defer deadline.Stop()
	expired := false
	for i := range ps {
		p := &ps[i]
		typ := r.cfg.TypeLabel(p.row.Subject)
		if p.err == nil {
			var ack *jetstream.PubAck
			ack, p.err, expired = await(p.fut, deadline, expired)
			if ack != nil {
				sent = append(sent, p.row.ID)
				if ack.Duplicate {
					r.m.duplicates.Inc()
					r.m.published.WithLabelValues(typ, "duplicate").Inc()
				} else {
					r.m.published.WithLabelValues(typ, "ok").Inc()
				}
				latency := time.Since(p.row.CreatedAt)
				r.m.latency.Observe(latency.Seconds())
				tally.Published(typ, latency)
				continue
			}
		}
		switch classify(r.cfg.Stream, p.row.Subject, p.err) {
		case refusedMessage:
			failed = append(failed, outbox.Failure{ID: p.row.ID, Error: p.err.Error(),
				Delay: retry.Exp(r.cfg.RetryBackoff, r.cfg.MaxRetryBackoff).Delay(p.row.Attempts + 1)})
			r.m.published.WithLabelValues(typ, "retry").Inc()
			tally.Refused(typ)
		case brokerUnavailable:
			unavailable = true
			r.m.published.WithLabelValues(typ, "unsent").Inc()
		default:
			r.m.published.WithLabelValues(typ, "unsent").Inc()
		}
	}
	return sent, failed, unavailable
}

// await waits for one PubAck future until deadline. Once the deadline has
// passed (expired), it only takes what has already arrived: an ack that
// came in time must never lose a random select to the expired deadline
// and be republished.
func await(fut jetstream.PubAckFuture, deadline *time.Timer, expired bool) (*jetstream.PubAck, error, bool) {
	if !expired {
		select {
		case ack := <-fut.Ok():
			return ack, nil, false
		case err := <-fut.Err():
			return nil, err, false
		case <-deadline.C:
		}
	}
	select {
	case ack := <-fut.Ok():
		return ack, nil, true
	case err := <-fut.Err():
		return nil, err, true
	default:
		return nil, jetstream.ErrAsyncPublishTimeout, true
	}
}
