package personal

import (
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestEraseUnowned: a day key and a farewell key older than the
// retention are erased (tombstones stay); a recent one, and a user's own
// key however old, are kept; a dry run counts and changes nothing.
func TestEraseUnowned(t *testing.T) {
	t.Parallel()
	ctx, pool, ks := setup(t)
	user := uuid.New()
	if _, err := pool.Exec(ctx, `INSERT INTO users (id, email, name, password_hash) VALUES ($1, 'keep@example.com', 'K', 'x')`, user); err != nil {
		t.Fatal(err)
	}
	old := []uuid.UUID{DayOwner(time.Now().AddDate(0, 0, -40)), FarewellOwner(uuid.New())}
	recent := DayOwner(time.Now())
	for _, owner := range append(old, recent, user) {
		createKey(t, ks, pool, owner)
	}
	if _, err := pool.Exec(ctx, `UPDATE personal_keys SET created_at = now() - interval '40 days' WHERE user_id = ANY($1)`, append(old, user)); err != nil {
		t.Fatal(err)
	}
	n, err := EraseUnowned(ctx, pool, DayKeyRetention, true)
	if err != nil || n != 2 {
		t.Fatalf("dry run = %d, %v; want 2", n, err)
	}
	if n, err := EraseUnowned(ctx, pool, DayKeyRetention, false); err != nil || n != 2 {
		t.Fatalf("EraseUnowned = %d, %v; want 2", n, err)
	}
	var erased, live int
	pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE erased_at IS NOT NULL), count(*) FILTER (WHERE erased_at IS NULL) FROM personal_keys`).Scan(&erased, &live)
	if erased != 2 || live != 2 {
		t.Errorf("%d erased, %d live; want the 2 old unowned keys erased, the recent day key and the user's kept", erased, live)
	}
	if n, _ := EraseUnowned(ctx, pool, DayKeyRetention, false); n != 0 {
		t.Errorf("a second run erased %d", n)
	}
}
