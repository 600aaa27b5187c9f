package consumer

import (
	"bytes"
	"context"
	"fmt"
	"slices"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/authevents/authevents/db/postgres"
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

// OnceAll is Once for the events of a batch, in one statement: it
// records those not yet processed by consumer and returns them. The ids
// are inserted in sorted order, so two transactions recording
// overlapping batches (two replicas given one redelivery) wait for each
// other instead of deadlocking; an id twice in ids is recorded once.
func OnceAll(ctx context.Context, tx pgx.Tx, consumer string, ids []uuid.UUID) (map[uuid.UUID]bool, error) {
	sorted := slices.Clone(ids)
	slices.SortFunc(sorted, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
	sorted = slices.Compact(sorted)
	rows, err := tx.Query(ctx, `INSERT INTO processed_events (consumer, event_id)
		SELECT $1, id FROM unnest($2::uuid[]) AS id
		ON CONFLICT DO NOTHING RETURNING event_id`, consumer, postgres.UUIDs(sorted))
	if err != nil {
		return nil, fmt.Errorf("record processed events: %w", err)
	}
	first := make(map[uuid.UUID]bool, len(sorted))
	for rows.Next() {
		var id uuid.UUID
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, fmt.Errorf("record processed events: %w", err)
		}
		first[id] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("record processed events: %w", err)
	}
	return first, nil
}
