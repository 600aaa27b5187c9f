package account_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/account"
	"github.com/authevents/authevents/account/accounttest"
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
