package outbox

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DeadRow is a row the relay gave up on.
type DeadRow struct {
	ID        uuid.UUID `json:"id"`
	Subject   string    `json:"subject"`
	Attempts  int       `json:"attempts"`
	LastError string    `json:"lastError"`
	CreatedAt time.Time `json:"createdAt"`
	Payload   string    `json:"payload"`
	// OrderingKey and ParkedBehind: the later rows of the key that this
	// dead row holds back until it is retried or discarded.
	OrderingKey  string `json:"orderingKey"`
	ParkedBehind int64  `json:"parkedBehind"`
}

// ListDead returns dead rows, oldest first, each with the number of
// pending rows of its key it holds back.
func ListDead(ctx context.Context, pool *pgxpool.Pool, limit int) ([]DeadRow, error) {
	rows, err := pool.Query(ctx, `SELECT d.id, d.subject, d.attempts, COALESCE(d.last_error, ''), d.created_at, d.payload, d.ordering_key,
		       CASE WHEN d.ordering_key = '' THEN 0 ELSE (SELECT count(*) FROM outbox p
		             WHERE p.ordering_key = d.ordering_key AND p.seq > d.seq AND p.state = 'pending') END
		  FROM outbox d WHERE d.state = 'dead' ORDER BY d.seq LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("list dead outbox rows: %w", err)
	}
	dead, err := pgx.CollectRows(rows, pgx.RowToStructByPos[DeadRow])
	if err != nil {
		return nil, fmt.Errorf("list dead outbox rows: %w", err)
	}
	return dead, nil
}

// RetryDead makes dead rows pending again with a fresh attempt count (all
// dead rows when ids is empty) and returns how many.
func RetryDead(ctx context.Context, pool *pgxpool.Pool, ids []uuid.UUID) (int64, error) {
	tag, err := pool.Exec(ctx, `UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = now()
		WHERE state = 'dead' AND (COALESCE(cardinality($1::uuid[]), 0) = 0 OR id = ANY($1))`, ids)
	if err != nil {
		return 0, fmt.Errorf("retry dead outbox rows: %w", err)
	}
	return tag.RowsAffected(), nil
}

// DiscardDead deletes dead rows (all when ids is empty).
func DiscardDead(ctx context.Context, pool *pgxpool.Pool, ids []uuid.UUID) (int64, error) {
	tag, err := pool.Exec(ctx, `DELETE FROM outbox WHERE state = 'dead' AND (COALESCE(cardinality($1::uuid[]), 0) = 0 OR id = ANY($1))`, ids)
	if err != nil {
		return 0, fmt.Errorf("discard dead outbox rows: %w", err)
	}
	return tag.RowsAffected(), nil
}
