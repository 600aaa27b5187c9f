package personal

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// EraseUnowned erases the live data keys that belong to no user and were
// made more than olderThan ago: the day keys of events of no account (a
// failed login with an unknown address) and the farewell keys whose
// confirmation mail was never sent. Both outlive their use by design; past
// the longest retention that needs them (DayKeyRetention: the dead-letter
// stream's 30 days) their fields become unreadable everywhere. A user's
// own key is never touched (its user row exists). With dryRun it counts
// them instead. Tombstones stay, as for every erasure.
func EraseUnowned(ctx context.Context, pool *pgxpool.Pool, olderThan time.Duration, dryRun bool) (int64, error) {
	const which = `erased_at IS NULL AND created_at < now() - $1::interval
		AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = personal_keys.user_id)`
	if dryRun {
		var n int64
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM personal_keys WHERE `+which, olderThan).Scan(&n); err != nil {
			return 0, fmt.Errorf("count unowned personal data keys: %w", err)
		}
		return n, nil
	}
	tag, err := pool.Exec(ctx, `UPDATE personal_keys SET kek_id = NULL, wrapped_key = NULL, erased_at = now() WHERE `+which, olderThan)
	if err != nil {
		return 0, fmt.Errorf("erase unowned personal data keys: %w", err)
	}
	return tag.RowsAffected(), nil
}
