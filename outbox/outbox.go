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
		if m.ID == uuid.Nil || m.Subject == "" || len(m.Payload) == 0 {
			return fmt.Errorf("outbox: message %s needs an id, a subject and a payload", m.ID)
		}
		if _, err := tx.Exec(ctx,
			`INSERT INTO outbox (id, subject, payload, ordering_key) VALUES ($1, $2, $3, $4)`,
			m.ID, m.Subject, string(m.Payload), m.OrderingKey); err != nil {
			return fmt.Errorf("outbox append %s: %w", m.Subject, err)
		}
	}
	return nil
}
