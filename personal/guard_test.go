package personal

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// A consumer stores an older event of a user while the user is being
// deleted. Either the store commits first (and user.deleted, which
// follows the erasure, removes it), or the erasure does (and Guard refuses
// the store): never a store after the erasure.
func TestGuardOrdersAStoreBeforeOrAfterTheErasureNeverAcross(t *testing.T) {
	t.Parallel()
	ctx, pool, ks := setup(t)
	user := uuid.New()
	createKey(t, ks, pool, user)

	store, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Rollback(context.WithoutCancel(ctx))
	if err := ks.Guard(ctx, store, user); err != nil {
		t.Fatalf("Guard before erasure = %v", err)
	}
	var storePID uint32
	if err := store.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&storePID); err != nil {
		t.Fatal(err)
	}

	erased := make(chan error, 1)
	go func() {
		erased <- pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return ks.Erase(ctx, tx, user) })
	}()
	// The erasure must be waiting on the store's lock, not merely slow.
	waitBlocked(t, pool, storePID, erased)
	if err := store.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-erased; err != nil {
		t.Fatalf("erasure after the store: %v", err)
	}

	// The older event redelivered after user.deleted: refused, although a
	// cache elsewhere may still hold the key.
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return ks.Guard(ctx, tx, user) })
	if !errors.Is(err, ErrErased) {
		t.Fatalf("Guard after erasure = %v, want ErrErased", err)
	}
}

func TestGuardLetsAUserWithoutAKeyThrough(t *testing.T) {
	t.Parallel()
	ctx, pool, ks := setup(t)
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return ks.Guard(ctx, tx, uuid.New()) })
	if err != nil {
		t.Fatalf("Guard of an unknown user = %v, want nil (accounts made before keys existed)", err)
	}
}

// A user made before keys existed has no key row to lock. The consumer's
// erasure (LockForErasure, on user.deleted, after the API committed the
// tombstone) still waits for a guarded store in flight, and a store after
// it is refused.
func TestGuardOrdersAStoreAgainstTheErasureWithoutAKeyRow(t *testing.T) {
	t.Parallel()
	ctx, pool, ks := setup(t)
	user := uuid.New()

	store, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Rollback(context.WithoutCancel(ctx))
	if err := ks.Guard(ctx, store, user); err != nil {
		t.Fatalf("Guard of a user without a key = %v, want nil", err)
	}
	var storePID uint32
	if err := store.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&storePID); err != nil {
		t.Fatal(err)
	}
	// The API deletes the user: a tombstone without a key before it.
	erase(t, ks, pool, user)

	erased := make(chan error, 1)
	go func() {
		erased <- pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return LockForErasure(ctx, tx, user) })
	}()
	waitBlocked(t, pool, storePID, erased)
	if err := store.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-erased; err != nil {
		t.Fatalf("erasure after the store: %v", err)
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return ks.Guard(ctx, tx, user) })
	if !errors.Is(err, ErrErased) {
		t.Fatalf("Guard after erasure = %v, want ErrErased", err)
	}
}

// waitBlocked waits until some transaction waits on a lock the backend
// pid holds, and fails if done reports first: the erasure must be waiting
// on the store, not merely slow.
func waitBlocked(t *testing.T, pool *pgxpool.Pool, pid uint32, done <-chan error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var blocked bool
		if err := pool.QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
			WHERE $1::int = ANY(pg_blocking_pids(pid)))`, pid).Scan(&blocked); err != nil {
			t.Fatal(err)
		}
		if blocked {
			return
		}
		select {
		case err := <-done:
			t.Fatalf("the erasure committed (%v) while a guarded store was open", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the erasure never blocked on the guarded store")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
