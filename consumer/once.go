package consumer

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Once records that consumer processed eventID, inside tx, and reports
// whether this is the first time. Call it in the transaction of the
// effect: when it returns false, apply nothing and commit; the effect and
// the record commit together, so a redelivery, a late duplicate or a
// second replica never applies the effect twice.
func Once(ctx context.Context, tx pgx.Tx, consumer string, eventID uuid.UUID) (bool, error) {
	tag, err := tx.Exec(ctx, `INSERT INTO processed_events (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, consumer, eventID)
	if err != nil {
		return false, fmt.Errorf("record processed event: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}
