package account_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/account"
	"github.com/authevents/authevents/account/accounttest"
	"github.com/authevents/authevents/db/postgres"
	"github.com/authevents/authevents/db/postgres/pgtest"
	"github.com/authevents/authevents/internal/testenv"
)

// TestPostgresDownIsUnavailable: while PostgreSQL cannot be reached every
// use case that needs it answers ErrUnavailable (503 with Retry-After,
// "try again shortly"), not an unknown error (500 internal_error, "a bug").
// The chaos suite saw 500s during a PostgreSQL crash. Once the server is
// back the same service works again without a restart.
func TestPostgresDownIsUnavailable(t *testing.T) {
	t.Parallel()
	srv := pgtest.StartServer(t)
	env := accounttest.New(t, accounttest.Options{DatabaseURL: srv.CreateDatabase("down")})
	ctx := context.Background()
	svc := env.Service
	reg, err := svc.Register(ctx, account.RegisterInput{Email: "down@example.com", Password: "a fine password", Name: "D"})
	if err != nil {
		t.Fatal(err)
	}
	v, err := svc.Authenticate(ctx, reg.AccessToken)
	if err != nil {
		t.Fatal(err)
	}

	srv.Crash()
	cases := map[string]func(context.Context) error{
		"register": func(ctx context.Context) error {
			_, err := svc.Register(ctx, account.RegisterInput{Email: "down2@example.com", Password: "a fine password", Name: "D"})
			return err
		},
		"login": func(ctx context.Context) error {
			_, err := svc.Login(ctx, account.LoginInput{Email: "down@example.com", Password: "a fine password"})
			return err
		},
		"refresh": func(ctx context.Context) error {
			_, err := svc.Refresh(ctx, reg.RefreshToken, authevents.Client{})
			return err
		},
		"me":          func(ctx context.Context) error { _, err := svc.Me(ctx, v.UserID); return err },
		"sessions":    func(ctx context.Context) error { _, err := svc.Sessions(ctx, v.UserID); return err },
		"logout":      func(ctx context.Context) error { return svc.Logout(ctx, v) },
		"logout all":  func(ctx context.Context) error { _, err := svc.LogoutAll(ctx, v); return err },
		"end session": func(ctx context.Context) error { return svc.EndSession(ctx, v, v.SessionID) },
	}
	for name, call := range cases {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := call(ctx)
		cancel()
		if !errors.Is(err, authevents.ErrUnavailable) {
			t.Errorf("%s with PostgreSQL down: %v, want ErrUnavailable", name, err)
		}
	}

	srv.Start()
	testenv.WaitFor(t, "a login once PostgreSQL is back", 30*time.Second, func() bool {
		_, err := svc.Login(ctx, account.LoginInput{Email: "down@example.com", Password: "a fine password"})
		return err == nil
	})
}

// TestReadOnlyOrSlowPostgresIsUnavailable: a primary demoted during a
// failover (read-only transactions, SQLSTATE 25006) and a statement that
// hit statement_timeout (57014, e.g. waiting on a lock) are conditions a
// retry a moment later may get past, not bugs: ErrUnavailable (503), not
// 500. Found by review.
func TestReadOnlyOrSlowPostgresIsUnavailable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	env := accounttest.New(t, accounttest.Options{DatabaseURL: url})
	_, err := env.Service.Register(ctx, account.RegisterInput{Email: "ro@example.com", Password: "a fine password", Name: "R"})
	if err != nil {
		t.Fatal(err)
	}

	// A statement timeout: refresh waits on a lock held elsewhere.
	tx, err := env.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	conn, err := env.Pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `SET statement_timeout = '200ms'`); err != nil {
		t.Fatal(err)
	}
	_, err = conn.Exec(ctx, `SELECT count(*) FROM sessions`)
	conn.Release()
	if !errors.Is(postgres.MarkUnavailable(err), authevents.ErrUnavailable) {
		t.Errorf("statement timeout: %v, want ErrUnavailable", postgres.MarkUnavailable(err))
	}
	tx.Rollback(ctx)

	// A read-only primary: every new session of the database is read-only.
	if _, err := env.Pool.Exec(ctx, `DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET default_transaction_read_only = on', current_database()); END $$`); err != nil {
		t.Fatal(err)
	}
	env.Pool.Reset()
	_, err = env.Service.Register(ctx, account.RegisterInput{Email: "ro2@example.com", Password: "a fine password", Name: "R"})
	if !errors.Is(err, authevents.ErrUnavailable) {
		t.Errorf("register on a read-only primary: %v, want ErrUnavailable", err)
	}
	_, err = env.Service.Login(ctx, account.LoginInput{Email: "ro@example.com", Password: "a fine password"})
	if !errors.Is(err, authevents.ErrUnavailable) {
		t.Errorf("login on a read-only primary: %v, want ErrUnavailable", err)
	}
}
