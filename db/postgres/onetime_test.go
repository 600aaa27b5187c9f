package postgres_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/db/postgres"
	"github.com/authevents/authevents/db/postgres/pgtest"
	"github.com/authevents/authevents/token"
)

func newUser(t *testing.T, pool *pgxpool.Pool, email string) *authevents.User {
	t.Helper()
	u := &authevents.User{ID: uuid.New(), Email: email, Name: "N", PasswordHash: "h"}
	if err := postgres.WithTx(context.Background(), pool, func(tx pgx.Tx) error { return postgres.CreateUser(context.Background(), tx, u) }); err != nil {
		t.Fatal(err)
	}
	return u
}

func issue(t *testing.T, pool *pgxpool.Pool, p postgres.Purpose, u *authevents.User, email string, ttl time.Duration) []byte {
	t.Helper()
	_, hash := token.NewOneTime()
	err := postgres.WithTx(context.Background(), pool, func(tx pgx.Tx) error {
		return postgres.IssueOneTime(context.Background(), tx, p, hash, postgres.OneTime{UserID: u.ID, Email: email, ExpiresAt: time.Now().Add(ttl)})
	})
	if err != nil {
		t.Fatal(err)
	}
	return hash
}

func consume(pool *pgxpool.Pool, p postgres.Purpose, hash []byte) (postgres.OneTime, error) {
	var got postgres.OneTime
	err := postgres.WithTx(context.Background(), pool, func(tx pgx.Tx) (err error) {
		got, err = postgres.ConsumeOneTime(context.Background(), tx, p, hash)
		return err
	})
	return got, err
}

// TestOneTimeTokenIsGoodOnceForItsPurpose: a token is used once; a used,
// superseded, expired, made-up token, or one of another purpose, is the
// same ErrNotFound.
func TestOneTimeTokenIsGoodOnceForItsPurpose(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t)
	u := newUser(t, pool, "a@example.com")

	h := issue(t, pool, postgres.PurposeVerifyEmail, u, u.Email, time.Hour)
	if _, err := consume(pool, postgres.PurposeResetPassword, h); !errors.Is(err, authevents.ErrNotFound) {
		t.Fatalf("another purpose: %v, want ErrNotFound", err)
	}
	got, err := consume(pool, postgres.PurposeVerifyEmail, h)
	if err != nil || got.UserID != u.ID || got.Email != u.Email {
		t.Fatalf("first use = %+v, %v", got, err)
	}
	if _, err := consume(pool, postgres.PurposeVerifyEmail, h); !errors.Is(err, authevents.ErrNotFound) {
		t.Fatalf("second use: %v, want ErrNotFound", err)
	}

	older := issue(t, pool, postgres.PurposeResetPassword, u, u.Email, time.Hour)
	newer := issue(t, pool, postgres.PurposeResetPassword, u, u.Email, time.Hour)
	if _, err := consume(pool, postgres.PurposeResetPassword, older); !errors.Is(err, authevents.ErrNotFound) {
		t.Fatalf("superseded: %v, want ErrNotFound", err)
	}
	if _, err := consume(pool, postgres.PurposeResetPassword, newer); err != nil {
		t.Fatalf("the newer token: %v", err)
	}

	expired := issue(t, pool, postgres.PurposeChangeEmail, u, "new@example.com", -time.Second)
	if _, err := consume(pool, postgres.PurposeChangeEmail, expired); !errors.Is(err, authevents.ErrNotFound) {
		t.Fatalf("expired: %v, want ErrNotFound", err)
	}
	_, madeUp := token.NewOneTime()
	if _, err := consume(pool, postgres.PurposeChangeEmail, madeUp); !errors.Is(err, authevents.ErrNotFound) {
		t.Fatalf("made up: %v, want ErrNotFound", err)
	}
	var left int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM one_time_tokens`).Scan(&left); err != nil || left != 1 {
		t.Fatalf("%d token rows left after every token was used, superseded or expired (%v), want 1 (the expired one, for pruning)", left, err)
	}
}

// TestOneTimeTokenIsUsedOnceUnderConcurrency: 16 transactions present one
// token at once; exactly one gets it.
func TestOneTimeTokenIsUsedOnceUnderConcurrency(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t)
	u := newUser(t, pool, "b@example.com")
	h := issue(t, pool, postgres.PurposeResetPassword, u, u.Email, time.Hour)
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if _, err := consume(pool, postgres.PurposeResetPassword, h); err == nil {
				wins.Add(1)
			} else if !errors.Is(err, authevents.ErrNotFound) {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d transactions used the token, want exactly 1", wins.Load())
	}
}

func TestEmailLifecycleWrites(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.New(t)
	u := newUser(t, pool, "c@example.com")
	other := newUser(t, pool, "taken@example.com")
	if u.EmailVerifiedAt != nil {
		t.Fatal("a new user is verified")
	}
	tx := func(fn func(pgx.Tx) error) error { return postgres.WithTx(ctx, pool, fn) }

	// Verification applies only to the address it was sent to.
	err := tx(func(tx pgx.Tx) error {
		_, err := postgres.MarkEmailVerified(ctx, tx, u.ID, "old@example.com")
		return err
	})
	if !errors.Is(err, authevents.ErrNotFound) {
		t.Fatalf("verifying another address: %v, want ErrNotFound", err)
	}
	var first *time.Time
	err = tx(func(tx pgx.Tx) error {
		v, err := postgres.MarkEmailVerified(ctx, tx, u.ID, u.Email)
		if err == nil {
			first = v.EmailVerifiedAt
		}
		return err
	})
	if err != nil || first == nil {
		t.Fatalf("verifying = %v, %v", first, err)
	}
	err = tx(func(tx pgx.Tx) error {
		v, err := postgres.MarkEmailVerified(ctx, tx, u.ID, u.Email)
		if err == nil && !v.EmailVerifiedAt.Equal(*first) {
			t.Errorf("verifying again moved the time from %s to %s", first, v.EmailVerifiedAt)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	err = tx(func(tx pgx.Tx) error { _, _, err := postgres.ChangeEmail(ctx, tx, u.ID, other.Email); return err })
	if !errors.Is(err, authevents.ErrEmailTaken) {
		t.Fatalf("changing to a taken address: %v, want ErrEmailTaken", err)
	}
	err = tx(func(tx pgx.Tx) error {
		before, after, err := postgres.ChangeEmail(ctx, tx, u.ID, "c2@example.com")
		if err == nil && (before.Email != "c@example.com" || after.Email != "c2@example.com" || after.EmailVerifiedAt == nil) {
			t.Errorf("ChangeEmail = %s → %s (verified %v)", before.Email, after.Email, after.EmailVerifiedAt)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	err = tx(func(tx pgx.Tx) error {
		v, err := postgres.SetPassword(ctx, tx, u.ID, "", "new-hash")
		if err == nil && v.PasswordHash != "new-hash" {
			t.Errorf("SetPassword stored %q", v.PasswordHash)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestEndAndPruneOneTimes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.New(t)
	u := newUser(t, pool, "d@example.com")
	issue(t, pool, postgres.PurposeVerifyEmail, u, u.Email, time.Hour)
	reset := issue(t, pool, postgres.PurposeResetPassword, u, u.Email, time.Hour)
	issue(t, pool, postgres.PurposeChangeEmail, u, "e@example.com", -time.Hour)
	if err := postgres.WithTx(ctx, pool, func(tx pgx.Tx) error {
		return postgres.EndOneTimes(ctx, tx, u.ID, postgres.PurposeResetPassword)
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := consume(pool, postgres.PurposeResetPassword, reset); !errors.Is(err, authevents.ErrNotFound) {
		t.Fatalf("an ended reset token: %v", err)
	}
	n, err := postgres.PruneOneTimes(ctx, pool, time.Now(), 100)
	if err != nil || n != 1 {
		t.Fatalf("PruneOneTimes = %d, %v; want the 1 expired token", n, err)
	}
	if err := postgres.WithTx(ctx, pool, func(tx pgx.Tx) error { return postgres.EndOneTimes(ctx, tx, u.ID) }); err != nil {
		t.Fatal(err)
	}
	var left int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM one_time_tokens`).Scan(&left); err != nil || left != 0 {
		t.Fatalf("%d rows left after EndOneTimes of every purpose (%v)", left, err)
	}
}
