package consumer

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
)

// BatchHandler applies the effects of several events in one transaction,
// which the consumer opens, commits, and acknowledges the events after.
// A Handler that is also a BatchHandler (analytics, audit) runs in
// batches; any other runs one event at a time, as email does.
//
// HandleBatch applies evs in their order on the stream, with their
// idempotency records (OnceAll, or an effect keyed by event id) in tx, so
// a redelivery, a late duplicate or a second replica applies nothing
// twice. It takes its locks in an order every transaction shares
// (personal.Keys.GuardBatch sorts by user, OnceAll by event id, and
// multi-row statements by their keys), so two replicas whose batches
// overlap wait for each other instead of deadlocking.
//
// An error fails the batch, and the consumer finds the events that fail:
// an error from EventFailed names its event, which goes through the
// failure path alone (retried with backoff, then dead-lettered with the
// reason) while the others are applied again without it; a database
// error (or a panic, or Permanent) names none, and the batch is bisected
// until each failing event is alone. An error that is neither, such as a
// lost connection, fails every event of the batch, as it would have one
// at a time.
type BatchHandler interface {
	HandleBatch(ctx context.Context, tx pgx.Tx, evs []*Event) error
}

// EventFailed returns err as the failure of ev alone (see BatchHandler).
// IsPermanent and errors.Is see through it.
func EventFailed(ev *Event, err error) error { return &eventError{ev: ev, err: err} }

type eventError struct {
	ev  *Event
	err error
}

func (e *eventError) Error() string { return e.err.Error() }
func (e *eventError) Unwrap() error { return e.err }

// Chain puts wrap's per-event steps (Validated, Versioned) in front of h.
// When h is a BatchHandler, so is the result: each event of a batch
// passes the steps before the transaction, one that fails there goes its
// own way, one that a step settles without effect (a version 1 twin) is
// acknowledged, and only those that pass reach HandleBatch. Handle runs
// the steps and h on one event.
func Chain(h Handler, wrap func(Handler) Handler) Handler {
	bh, ok := h.(BatchHandler)
	if !ok {
		return wrap(h)
	}
	return &chain{Handler: wrap(h), gate: wrap(HandlerFunc(admit)), bh: bh}
}

type chain struct {
	Handler         // the steps, then h, for one event
	gate    Handler // the steps, then admit
	bh      BatchHandler
}

func (c *chain) HandleBatch(ctx context.Context, tx pgx.Tx, evs []*Event) error {
	return c.bh.HandleBatch(ctx, tx, evs)
}

// admit marks an event that passed every step of a chain.
func admit(_ context.Context, ev *Event) error {
	ev.admitted = true
	return nil
}

// batchMode returns the BatchHandler and the per-event gate of h, or nil
// when h handles one event at a time.
func batchMode(h Handler) (BatchHandler, Handler) {
	if c, ok := h.(*chain); ok {
		return c.bh, c.gate
	}
	if bh, ok := h.(BatchHandler); ok {
		return bh, HandlerFunc(admit)
	}
	return nil, nil
}

// isolatable reports whether err of a batch is one that bisecting can
// pin on some of its events: an error of a statement, a panic, or a
// permanent failure (a lost connection or a deadline is not).
func isolatable(err error) bool {
	var pg interface{ SQLState() string }
	return errors.As(err, &pg) || errors.Is(err, errPanic) || IsPermanent(err)
}
