package account

// The transactions of the use cases, and the events they append: every
// change commits with its event, and the commit hook hears of it after.

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/db/postgres"
	"github.com/authevents/authevents/outbox"
)

// event builds the outbox message of one auth event: a CloudEvents 1.0
// structured JSON envelope around data.
func (s *Service) event(eventType, subject string, now time.Time, data any) (outbox.Message, error) {
	return s.eventWithID(newID(), eventType, subject, now, data)
}

// eventWithID is event with the event id chosen by the caller (a sealed
// link is bound to the id of the event that carries it).
func (s *Service) eventWithID(id uuid.UUID, eventType, subject string, now time.Time, data any) (outbox.Message, error) {
	ce, err := authevents.NewCloudEvent(s.cfg.EventSource(), id.String(), eventType, subject, now, data)
	if err != nil {
		return outbox.Message{}, err
	}
	payload, err := json.Marshal(ce)
	if err != nil {
		return outbox.Message{}, fmt.Errorf("encode %s envelope: %w", eventType, err)
	}
	return outbox.Message{ID: id, Subject: authevents.Subject(eventType), Payload: payload, OrderingKey: subject}, nil
}

// inTxDynamic runs fn in a transaction, with the test hook before the
// commit, and reports the event types fn says it appended once they are
// committed.
func (s *Service) inTxDynamic(ctx context.Context, fn func(pgx.Tx) ([]string, error)) error {
	var types []string
	err := postgres.WithTx(ctx, s.pool, s.hooked(func(tx pgx.Tx) (err error) {
		types, err = fn(tx)
		return err
	}))
	if err != nil {
		return err
	}
	s.report(types)
	return nil
}

// inTx is inTxDynamic for transactions whose event types are known up
// front.
func (s *Service) inTx(ctx context.Context, fn func(pgx.Tx) error, eventTypes ...string) error {
	return s.inTxDynamic(ctx, func(tx pgx.Tx) ([]string, error) { return eventTypes, fn(tx) })
}

// inBatchTx is inTx for a transaction whose first statements queue puts
// into one pipelined batch with its BEGIN (postgres.WithBatchTx); then
// runs in the transaction once their results are read, and an error from
// it rolls back.
func (s *Service) inBatchTx(ctx context.Context, queue func(*pgx.Batch) error, then func(pgx.Tx) error, eventTypes ...string) error {
	if err := postgres.WithBatchTx(ctx, s.pool, queue, s.hooked(then)); err != nil {
		return err
	}
	s.report(eventTypes)
	return nil
}

// hooked is fn followed, when it succeeds, by the test hook that runs
// before every commit.
func (s *Service) hooked(fn func(pgx.Tx) error) func(pgx.Tx) error {
	return func(tx pgx.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		if s.beforeCommit != nil {
			return s.beforeCommit(tx)
		}
		return nil
	}
}

// report tells the commit hook the types a committed transaction
// appended, versions 2 included.
func (s *Service) report(types []string) {
	for _, t := range s.committedTypes(types) {
		s.committed(t)
	}
}
