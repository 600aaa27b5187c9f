package personal

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/authevents/authevents/internal/testenv"
)

// TestGuardBatchLocksInUserOrder: two batches erase the same two users,
// named in opposite orders, while a third transaction holds the lower
// user's lock. Both must queue on the lower user without holding the
// higher (locks in user order): released, one commits, then the other.
// Taken in the order given, the first would hold the higher user and
// wait for the lower while the second holds the lower and waits for the
// higher, and PostgreSQL would abort one as a deadlock.
func TestGuardBatchLocksInUserOrder(t *testing.T) {
	t.Parallel()
	ctx, pool, ks := setup(t)
	low, high := uuid.New(), uuid.New()
	if bytes.Compare(low[:], high[:]) > 0 {
		low, high = high, low
	}
	holder, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback(context.WithoutCancel(ctx))
	if err := LockForErasure(ctx, holder, low); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 2)
	for _, order := range [][]uuid.UUID{{high, low}, {low, high}} {
		go func() {
			errs <- pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				_, err := ks.GuardBatch(ctx, tx, nil, order)
				return err
			})
		}()
	}
	testenv.WaitFor(t, "both batches waiting for a lock", 10*time.Second, func() bool {
		var n int
		pool.QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&n)
		return n == 2
	})
	var higherHeld int
	pool.QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()
		AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&higherHeld)
	if higherHeld != 1 {
		t.Errorf("%d advisory locks held while both batches wait, want only the holder's 1", higherHeld)
	}
	if err := holder.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		select {
		case err := <-errs:
			if err != nil {
				t.Errorf("GuardBatch: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a batch still waits after the holder committed")
		}
	}
}
