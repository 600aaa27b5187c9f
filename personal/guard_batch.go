package personal

import (
	"bytes"
	"context"
	"fmt"
	"slices"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/authevents/authevents/db/postgres"
)

// GuardBatch is Guard and LockForErasure for the events of a batch, in
// one transaction: it takes the exclusive erasure lock of each user in
// erase and the shared one of each other user in guard, and returns
// which of them are erased (a tombstone in personal_keys), as Guard
// would have reported each. Two round trips, whatever the number of
// users.
//
// The locks are taken in the order of the user ids, one lock per user
// (exclusive when the user is in erase), and the key rows share-locked
// in that order too: two consumer replicas whose batches hold
// overlapping users wait for each other instead of deadlocking. A
// transaction that takes one lock, as Guard and LockForErasure do, is in
// that order as well.
func (s *Keys) GuardBatch(ctx context.Context, tx pgx.Tx, guard, erase []uuid.UUID) (map[uuid.UUID]bool, error) {
	exclusive := make(map[uuid.UUID]bool, len(erase))
	for _, u := range erase {
		exclusive[u] = true
	}
	users := slices.Concat(guard, erase)
	if len(users) == 0 {
		return map[uuid.UUID]bool{}, nil
	}
	slices.SortFunc(users, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
	users = slices.Compact(users)
	modes := make([]bool, len(users))
	for i, u := range users {
		modes[i] = exclusive[u]
	}
	// unnest yields the rows in the arrays' order, and each row's lock
	// is taken before the next row is read.
	if _, err := tx.Exec(ctx, `SELECT CASE WHEN x THEN pg_advisory_xact_lock(hashtextextended(u::text, $3))
		ELSE pg_advisory_xact_lock_shared(hashtextextended(u::text, $3)) END
		FROM unnest($1::uuid[], $2::bool[]) AS t(u, x)`, postgres.UUIDs(users), modes, erasureLockSeed); err != nil {
		return nil, fmt.Errorf("lock users against erasure: %w", err)
	}
	rows, err := tx.Query(ctx, `SELECT user_id, erased_at IS NOT NULL FROM personal_keys WHERE user_id = ANY($1)
		ORDER BY user_id FOR SHARE`, postgres.UUIDs(users))
	if err != nil {
		return nil, fmt.Errorf("check personal data keys: %w", err)
	}
	out := map[uuid.UUID]bool{}
	var u uuid.UUID
	var erased bool
	_, err = pgx.ForEachRow(rows, []any{&u, &erased}, func() error {
		if erased {
			s.cache.put(u, nil)
			out[u] = true
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("check personal data keys: %w", err)
	}
	return out, nil
}
