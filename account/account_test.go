package account_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/account"
	"github.com/authevents/authevents/account/accounttest"
)

func count(t *testing.T, env *accounttest.Env, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := env.Pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestFailureAfterWritesRollsBackEverything forces an error after the user,
// session and outbox rows were written inside the transaction: none of the
// three may survive.
func TestFailureAfterWritesRollsBackEverything(t *testing.T) {
	t.Parallel()
	env := accounttest.New(t, accounttest.Options{})
	boom := errors.New("forced failure before commit")
	var sawRows bool
	env.Service.SetBeforeCommit(func(tx pgx.Tx) error {
		// Prove the writes really happened inside the transaction.
		var users, events int
		tx.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM outbox)`).Scan(&users, &events)
		sawRows = users == 1 && events == 1
		return boom
	})
	ctx := context.Background()
	_, err := env.Service.Register(ctx, account.RegisterInput{Email: "rollback@example.com", Password: "a fine password", Name: "R"})
	if !errors.Is(err, boom) {
		t.Fatalf("Register = %v, want the forced failure", err)
	}
	if !sawRows {
		t.Fatal("the hook did not see the user and the outbox row inside the transaction")
	}
	for _, table := range []string{"users", "sessions", "outbox"} {
		if n := count(t, env, "SELECT count(*) FROM "+table); n != 0 {
			t.Errorf("%s has %d rows after rollback, want 0", table, n)
		}
	}

	// Same for login: the session, last_login_at and the event go together.
	env.Service.SetBeforeCommit(nil)
	if _, err := env.Service.Register(ctx, account.RegisterInput{Email: "rollback@example.com", Password: "a fine password", Name: "R"}); err != nil {
		t.Fatal(err)
	}
	env.Service.SetBeforeCommit(func(pgx.Tx) error { return boom })
	if _, err := env.Service.Login(ctx, account.LoginInput{Email: "rollback@example.com", Password: "a fine password"}); !errors.Is(err, boom) {
		t.Fatalf("Login = %v, want the forced failure", err)
	}
	if n := count(t, env, "SELECT count(*) FROM sessions"); n != 1 {
		t.Errorf("sessions = %d after failed login, want 1 (from register)", n)
	}
	if n := count(t, env, "SELECT count(*) FROM users WHERE last_login_at IS NOT NULL"); n != 0 {
		t.Errorf("last_login_at set by a rolled-back login")
	}
	if n := count(t, env, "SELECT count(*) FROM outbox WHERE subject = $1", authevents.Subject(authevents.EventUserLoggedIn)); n != 0 {
		t.Errorf("logged_in event survived a rollback")
	}
}

func TestLoginUpgradesOutdatedHash(t *testing.T) {
	t.Parallel()
	env := accounttest.New(t, accounttest.Options{})
	ctx := context.Background()
	if _, err := env.Service.Register(ctx, account.RegisterInput{Email: "old@example.com", Password: "a fine password", Name: "Old"}); err != nil {
		t.Fatal(err)
	}
	// Store a hash made with other (cheaper) parameters, as after a
	// parameter change.
	old := accounttest.CheapParams
	old.Memory = 64
	h, _ := passwordHasher(t, old).Hash(ctx, "a fine password")
	env.Pool.Exec(ctx, `UPDATE users SET password_hash = $1`, h)
	if _, err := env.Service.Login(ctx, account.LoginInput{Email: "old@example.com", Password: "a fine password"}); err != nil {
		t.Fatal(err)
	}
	var stored string
	env.Pool.QueryRow(ctx, `SELECT password_hash FROM users`).Scan(&stored)
	if stored == h || env.Hasher.NeedsRehash(stored) {
		t.Fatalf("hash not upgraded on login: %s", stored)
	}
}

// TestRefreshBatchIsAtomic makes the outbox insert of a refresh fail (a
// trigger raises on it): the pipelined rotation must roll back with it,
// leaving the session on its old token, and the refresh must fail.
func TestRefreshBatchIsAtomic(t *testing.T) {
	t.Parallel()
	env := accounttest.New(t, accounttest.Options{})
	ctx := context.Background()
	res, err := env.Service.Register(ctx, account.RegisterInput{Email: "atomic@example.com", Password: "a fine password", Name: "A"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = env.Pool.Exec(ctx, `
		CREATE FUNCTION refuse_refresh_event() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.subject = 'auth.user.token_refreshed' THEN
				RAISE EXCEPTION 'forced outbox failure';
			END IF;
			RETURN NEW;
		END $$;
		CREATE TRIGGER refuse_refresh_event BEFORE INSERT ON outbox
			FOR EACH ROW EXECUTE FUNCTION refuse_refresh_event();`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Service.Refresh(ctx, res.RefreshToken, authevents.Client{}); err == nil {
		t.Fatal("refresh succeeded although its event could not be written")
	}
	var gen int
	var jti string
	env.Pool.QueryRow(ctx, `SELECT refresh_generation, refresh_jti::text FROM sessions WHERE id = $1`, res.Session.ID).Scan(&gen, &jti)
	if gen != 1 || jti != res.Session.RefreshJTI.String() {
		t.Fatalf("session moved to generation %d (jti %s) without its event", gen, jti)
	}
	if n := count(t, env, `SELECT count(*) FROM outbox WHERE subject = 'auth.user.token_refreshed'`); n != 0 {
		t.Fatalf("%d token_refreshed rows", n)
	}
	// Once the insert works again the same token rotates normally.
	env.Pool.Exec(ctx, `DROP TRIGGER refuse_refresh_event ON outbox`)
	if _, err := env.Service.Refresh(ctx, res.RefreshToken, authevents.Client{}); err != nil {
		t.Fatalf("refresh after the fault: %v", err)
	}
	if n := count(t, env, `SELECT count(*) FROM outbox WHERE subject = 'auth.user.token_refreshed'`); n != 1 {
		t.Fatalf("%d token_refreshed rows, want 1", n)
	}
}
