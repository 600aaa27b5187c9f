// Package outbox is the Go side of the transactional outbox table. Writers
// append messages inside the transaction of the change they describe; the
// relay claims committed rows, publishes them and marks them sent. Payloads
// are opaque bytes: this package knows nothing of auth events.
package outbox

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Message is one row to publish.
type Message struct {
	// ID becomes the Nats-Msg-Id header, so JetStream drops a republish.
	ID uuid.UUID
	// Subject is the NATS subject to publish on.
	Subject string
	// Payload is the message body, published byte for byte.
	Payload []byte
	// OrderingKey groups messages that must be published in commit order
	// (the user id for auth events). Empty means no ordering constraint.
	OrderingKey string
}

// Append inserts msgs into the outbox as part of tx. It takes a pgx.Tx, not
// a pool or connection, on purpose: an event can only be written in the
// same transaction as the change it describes, so it exists if and only if
// that change commits.
func Append(ctx context.Context, tx pgx.Tx, msgs ...Message) error {
	if tx == nil {
		return errors.New("outbox: Append needs a transaction")
	}
	for _, m := range msgs {
		if err := m.validate(); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, insertSQL, m.ID, m.Subject, string(m.Payload), m.OrderingKey); err != nil {
			return fmt.Errorf("outbox append %s: %w", m.Subject, err)
		}
	}
	return nil
}

// QueueAppend queues the insert of msgs into b, for a change and its
// events sent as one pipelined batch that begins a transaction (pgx
// Batch.BeginTx): like Append, the rows are part of that transaction.
func QueueAppend(b *pgx.Batch, msgs ...Message) error {
	for _, m := range msgs {
		if err := m.validate(); err != nil {
			return err
		}
		subject := m.Subject
		b.Queue(insertSQL, m.ID, m.Subject, string(m.Payload), m.OrderingKey).Fn = func(br pgx.BatchResults) error {
			if _, err := br.Exec(); err != nil {
				return fmt.Errorf("outbox append %s: %w", subject, err)
			}
			return nil
		}
	}
	return nil
}

const insertSQL = `INSERT INTO outbox (id, subject, payload, ordering_key) VALUES ($1, $2, $3, $4)`

func (m Message) validate() error {
	if m.ID == uuid.Nil || m.Subject == "" || len(m.Payload) == 0 {
		return fmt.Errorf("outbox: message %s needs an id, a subject and a payload", m.ID)
	}
	return nil
}

// QueueAppendIf queues into b the insert of m, made only if the query
// exists (a SELECT whose parameters are numbered from $5, with values
// existsArgs) returns a row at that point of the batch. It is for a change
// and its event sent as one pipelined batch: PostgreSQL runs a batch that
// holds no transaction statements as one implicit transaction, so the
// change and the event still commit together or not at all. The returned
// query's command tag tells whether the row was inserted (RowsAffected).
func QueueAppendIf(b *pgx.Batch, m Message, exists string, existsArgs ...any) (*pgx.QueuedQuery, error) {
	if err := m.validate(); err != nil {
		return nil, err
	}
	args := append([]any{m.ID, m.Subject, string(m.Payload), m.OrderingKey}, existsArgs...)
	return b.Queue(`INSERT INTO outbox (id, subject, payload, ordering_key)
		SELECT $1, $2, $3, $4 WHERE EXISTS (`+exists+`)`, args...), nil
}
