package email

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/authevents/authevents/consumer"
	"github.com/authevents/authevents/db/postgres"
	"github.com/authevents/authevents/personal"
)

// Eraser is a Sender that keeps copies of the mails it sent (Files):
// on user.deleted the service drops those that name the user's address,
// but the mail named keep. SMTP keeps nothing: what it sent is in the
// recipient's mailbox, not ours.
type Eraser interface {
	Erase(ctx context.Context, addr, keep string) (int, error)
}

// owner returns the user an event is about, nil when it names none.
func owner(ev *consumer.Event) *uuid.UUID {
	var d struct {
		UserID string `json:"userId"`
	}
	if json.Unmarshal(ev.Data, &d) != nil {
		return nil
	}
	u, err := uuid.Parse(d.UserID)
	if err != nil {
		return nil
	}
	return &u
}

// erase drops what the service keeps of the user of a user.deleted: the
// copies of the mails sent to addr, when the sender keeps any (Eraser),
// but the confirmation of this deletion. It runs before the confirmation
// is sent, on every delivery, so that the erasure never waits on the mail
// server and a redelivery completes it; the confirmation is sent once
// after it (its key is recorded) and is kept: it is the goodbye mail. It
// holds personal.LockForErasure meanwhile, so a guarded send in flight
// has finished and a later one sends nothing.
func (h *Handler) erase(ctx context.Context, ev *consumer.Event, user *uuid.UUID, addr string) error {
	er, ok := h.sender.(Eraser)
	if !ok || user == nil {
		return nil
	}
	return postgres.WithTx(ctx, h.pool, func(tx pgx.Tx) error {
		if err := personal.LockForErasure(ctx, tx, *user); err != nil {
			return err
		}
		if _, err := er.Erase(ctx, addr, Key(ev.EventID, KindAccountDeleted).String()); err != nil {
			return fmt.Errorf("erase the copies of the user's mails: %w", err)
		}
		return nil
	})
}
