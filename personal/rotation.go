package personal

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Rewrap re-wraps, under the current KEK, up to batch live keys still
// wrapped under another one, and returns how many it re-wrapped: call it
// until it returns 0, then the old KEK unwraps nothing in the live
// database. The data keys themselves do not change, so every ciphertext
// already published stays readable. Rows are locked while re-wrapped
// (SKIP LOCKED: several runs share the work, and a concurrent Erase waits
// for the batch or is skipped by it).
func (s *Keys) Rewrap(ctx context.Context, batch int) (int, error) {
	n := 0
	err := withTx(ctx, s, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT user_id, kek_id, wrapped_key FROM personal_keys
			WHERE erased_at IS NULL AND kek_id <> $1 LIMIT $2 FOR UPDATE SKIP LOCKED`, s.ring.CurrentID(), batch)
		if err != nil {
			return err
		}
		type row struct {
			user    uuid.UUID
			kekID   string
			wrapped []byte
		}
		todo, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
			var x row
			return x, r.Scan(&x.user, &x.kekID, &x.wrapped)
		})
		if err != nil {
			return err
		}
		for _, r := range todo {
			dek, err := s.ring.unwrap(r.user, r.kekID, r.wrapped)
			if err != nil {
				return err
			}
			kekID, wrapped := s.ring.wrap(r.user, dek)
			if _, err := tx.Exec(ctx, `UPDATE personal_keys SET kek_id = $2, wrapped_key = $3 WHERE user_id = $1`,
				r.user, kekID, wrapped); err != nil {
				return err
			}
		}
		n = len(todo)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("rewrap personal data keys: %w", err)
	}
	return n, nil
}

// withTx runs fn in a transaction on s's pool. (db/postgres.WithTx is the
// same; this package does not import the adapter of the users it serves.)
func withTx(ctx context.Context, s *Keys, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, fn)
}
