package account_test

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/authevents/authevents/account"
	"github.com/authevents/authevents/account/accounttest"
	"github.com/authevents/authevents/internal/testenv"
)

// TestPrunerDeletesOnlyLongEndedSessions: sessions rows were never
// deleted. The pruner removes, in bounded batches, exactly the sessions
// that ended (revoked, or past their absolute end) longer than the
// retention ago, and keeps live and recently ended ones.
func TestPrunerDeletesOnlyLongEndedSessions(t *testing.T) {
	t.Parallel()
	env := accounttest.New(t, accounttest.Options{})
	ctx := context.Background()
	res, err := env.Service.Register(ctx, account.RegisterInput{Email: "prune@example.com", Password: "a fine password", Name: "P"})
	if err != nil {
		t.Fatal(err)
	}
	user := res.User.ID
	insert := func(expires, revoked string) uuid.UUID {
		t.Helper()
		id := uuid.New()
		_, err := env.Pool.Exec(ctx, `
			INSERT INTO sessions (id, user_id, expires_at, refresh_jti, refresh_issued_at, refresh_expires_at, revoked_at)
			VALUES ($1, $2, now() + $3::interval, gen_random_uuid(), now(), now(), now() + NULLIF($4, '')::interval)`, id, user, expires, revoked)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	keep := []uuid.UUID{
		res.Session.ID,                // live
		insert("-10 days", ""),        // expired, within retention
		insert("20 days", "-1 day"),   // revoked, within retention
		insert("20 days", "-29 days"), // revoked, within retention
		insert("-29 days 23:00", ""),  // expired, just within retention
	}
	var drop []uuid.UUID
	drop = append(drop, insert("-31 days", ""), insert("20 days", "-31 days"), insert("-60 days", "-61 days"))
	for range 4 {
		drop = append(drop, insert("-90 days", ""))
	}

	var pruned, batches atomic.Int64
	p := account.NewPruner(env.Pool, account.PrunerConfig{Retention: 30 * 24 * time.Hour, Interval: time.Hour, Batch: 3},
		slog.New(slog.NewJSONHandler(io.Discard, nil)), func(n int) { pruned.Add(int64(n)); batches.Add(1) })
	n, err := p.PruneOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != len(drop) || pruned.Load() != int64(len(drop)) || batches.Load() != 3 {
		t.Errorf("PruneOnce = %d (counted %d in %d batches), want %d in 3 batches of at most 3", n, pruned.Load(), batches.Load(), len(drop))
	}
	for _, id := range keep {
		if count(t, env, `SELECT count(*) FROM sessions WHERE id = $1`, id) != 1 {
			t.Errorf("session %s was pruned, want it kept", id)
		}
	}
	if left := count(t, env, `SELECT count(*) FROM sessions WHERE id = ANY($1)`, drop); left != 0 {
		t.Errorf("%d long-ended sessions left, want 0", left)
	}
	if n, _ := p.PruneOnce(ctx); n != 0 {
		t.Errorf("second PruneOnce deleted %d, want 0", n)
	}

	// Run prunes at start and stops when its context ends.
	late := insert("-40 days", "")
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { p.Run(rctx); close(done) }()
	testenv.WaitFor(t, "Run to prune at start", 10*time.Second, func() bool {
		return count(t, env, `SELECT count(*) FROM sessions WHERE id = $1`, late) == 0
	})
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

// TestPrunerDeletesExpiredLinks: an expired one-time link can never be
// used, and its row (a hash and an address) need not outlive it: the
// API's pruner deletes it, and keeps the links still valid.
func TestPrunerDeletesExpiredLinks(t *testing.T) {
	t.Parallel()
	env := accounttest.New(t, accounttest.Options{})
	ctx := context.Background()
	res, err := env.Service.Register(ctx, account.RegisterInput{Email: "links@example.com", Password: "a fine password", Name: "L"})
	if err != nil {
		t.Fatal(err)
	}
	insert := func(expires string) {
		t.Helper()
		if _, err := env.Pool.Exec(ctx, `
			INSERT INTO one_time_tokens (token_hash, user_id, purpose, email, expires_at)
			VALUES (sha256(gen_random_uuid()::text::bytea), $1, 'reset_password', 'links@example.com', now() + $2::interval)`, res.User.ID, expires); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range []string{"-1 second", "-2 days", "-40 days"} {
		insert(e)
	}
	insert("10 minutes")
	p := account.NewPruner(env.Pool, account.PrunerConfig{Retention: 30 * 24 * time.Hour, Interval: time.Hour, Batch: 2},
		slog.New(slog.NewJSONHandler(io.Discard, nil)), nil)
	if _, err := p.PruneOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(t, env, `SELECT count(*) FROM one_time_tokens WHERE expires_at < now()`); n != 0 {
		t.Errorf("%d expired links left, want 0", n)
	}
	if n := count(t, env, `SELECT count(*) FROM one_time_tokens WHERE expires_at > now()`); n != 1 {
		t.Errorf("%d valid links left, want 1", n)
	}
}
