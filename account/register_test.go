package account_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/account"
	"github.com/authevents/authevents/account/accounttest"
	"github.com/authevents/authevents/outbox/outboxtest"
	"github.com/authevents/authevents/token"
)

// TestRegister: the email and name are stored normalized, the account's
// first session holds the returned refresh token, and exactly one
// user.registered event is appended, in the same transaction (the commit
// hook counts it once committed), carrying no secret.
func TestRegister(t *testing.T) {
	t.Parallel()
	var committed []string
	f := setup(t, func(o *accounttest.Options) {
		o.Account = append(o.Account, account.WithCommitHook(func(typ string) { committed = append(committed, typ) }))
	})
	res, err := f.Service.Register(context.Background(), account.RegisterInput{
		Email: "  Ada@Example.COM ", Password: goodPassword, Name: " Ada Lovelace ", Client: client})
	if err != nil {
		t.Fatal(err)
	}
	if res.User.Email != "ada@example.com" || res.User.Name != "Ada Lovelace" || res.ExpiresIn != accounttest.Config().AccessTTL {
		t.Fatalf("result = %+v", res)
	}
	access, err := f.Tokens.Verify(res.AccessToken, token.TypeAccess)
	if err != nil {
		t.Fatalf("access token: %v", err)
	}
	refresh, err := token.ParseRefresh(res.RefreshToken)
	if err != nil {
		t.Fatalf("refresh token: %v", err)
	}
	if access.UserID != res.User.ID || access.SessionID != refresh.SessionID || refresh.UserID != access.UserID || res.Session.ID != access.SessionID {
		t.Errorf("tokens do not belong to the user's one session: %+v %+v", access, refresh)
	}
	if n := f.count(t, `SELECT count(*) FROM sessions WHERE id = $1 AND user_id = $2 AND refresh_jti = $3 AND ip = $4 AND user_agent = $5`,
		access.SessionID, res.User.ID, refresh.ID(), client.IP, client.UserAgent); n != 1 {
		t.Errorf("no session row with the refresh token's id, the user and the client")
	}
	if n := f.count(t, `SELECT count(*) FROM users WHERE id = $1 AND email = 'ada@example.com' AND name = 'Ada Lovelace' AND password_hash LIKE '$argon2id$%'`, res.User.ID); n != 1 {
		t.Errorf("user row not stored normalized with an argon2id hash")
	}
	outboxtest.RequireTypes(t, f.Pool, authevents.EventUserRegistered)
	got := f.events(t, authevents.EventUserRegistered, res.User.ID.String())
	if want := []map[string]any{{"userId": res.User.ID.String(), "email": "ada@example.com", "name": "Ada Lovelace"}}; !cmp.Equal(got, want) {
		t.Errorf("user.registered data = %v, want %v", got, want)
	}
	if !cmp.Equal(committed, []string{authevents.EventUserRegistered}) {
		t.Errorf("commit hook saw %v, want one user.registered", committed)
	}
	f.noSecrets(t, goodPassword, res.AccessToken, res.RefreshToken)
}

// TestRegisterDuplicateEmail: uniqueness is on the normalized email, so
// case, spaces, zero-width characters and full-width letters all collide.
func TestRegisterDuplicateEmail(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.register(t, "dup@example.com")
	for _, email := range []string{"dup@example.com", " DUP@example.com", "d\u200bup@ｅｘａｍｐｌｅ.com"} {
		t.Run(email, func(t *testing.T) {
			_, err := f.Service.Register(context.Background(), account.RegisterInput{Email: email, Password: goodPassword, Name: "Other", Client: client})
			wantErr(t, err, authevents.ErrEmailTaken)
		})
	}
	outboxtest.RequireTypes(t, f.Pool, authevents.EventUserRegistered)
	if n := f.count(t, `SELECT count(*) FROM users`); n != 1 {
		t.Errorf("%d users, want 1", n)
	}
}

// TestConcurrentDuplicateRegistration: of twelve simultaneous
// registrations of one email exactly one succeeds (the unique index
// decides, not a read-then-insert), and only its rows exist.
func TestConcurrentDuplicateRegistration(t *testing.T) {
	t.Parallel()
	f := setup(t)
	const n = 12
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			_, errs[i] = f.Service.Register(context.Background(), account.RegisterInput{
				Email: "race@example.com", Password: goodPassword, Name: fmt.Sprint("racer ", i), Client: client})
		})
	}
	close(start)
	wg.Wait()
	ok, taken := 0, 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, authevents.ErrEmailTaken):
			taken++
		default:
			t.Errorf("register: %v", err)
		}
	}
	if ok != 1 || taken != n-1 {
		t.Fatalf("%d registered, %d ErrEmailTaken; want exactly 1 and %d", ok, taken, n-1)
	}
	if users, sessions := f.count(t, `SELECT count(*) FROM users`), f.count(t, `SELECT count(*) FROM sessions`); users != 1 || sessions != 1 {
		t.Fatalf("users=%d sessions=%d, want 1 each", users, sessions)
	}
	outboxtest.RequireTypes(t, f.Pool, authevents.EventUserRegistered)
}

// TestRegisterValidation: every rejected field is named, and a rejected
// registration writes nothing (the wrong JSON types are the transport's,
// in api/httpe2e).
func TestRegisterValidation(t *testing.T) {
	t.Parallel()
	f := setup(t)
	for _, tc := range []struct {
		label                 string
		email, password, name string
		fields                []string
	}{
		{"all missing", "", "", "", []string{"email", "name", "password"}},
		{"bad email", "nope", goodPassword, "A", []string{"email"}},
		{"crlf email", "a@b.com\r\nBcc: c@d.com", goodPassword, "A", []string{"email"}},
		{"display name", "Ada <a@b.com>", goodPassword, "A", []string{"email"}},
		{"NUL in email", "a\x00@b.com", goodPassword, "A", []string{"email"}},
		{"short password", "a@b.com", "short", "A", []string{"password"}},
		{"common password", "a@b.com", "password123", "A", []string{"password"}},
		{"password is email", "longaddress@b.com", "LongAddress@b.com", "A", []string{"password"}},
		{"long password", "a@b.com", strings.Repeat("x", 257), "A", []string{"password"}},
		{"control in name", "a@b.com", goodPassword, "A\x07", []string{"name"}},
		{"NUL in name", "a@b.com", goodPassword, "A\x00", []string{"name"}},
		{"invalid UTF-8 name", "a@b.com", goodPassword, "A\xff", []string{"name"}},
		{"long name", "a@b.com", goodPassword, strings.Repeat("n", 101), []string{"name"}},
	} {
		t.Run(tc.label, func(t *testing.T) {
			_, err := f.Service.Register(context.Background(), account.RegisterInput{Email: tc.email, Password: tc.password, Name: tc.name, Client: client})
			wantFields(t, err, tc.fields...)
		})
	}
	if n := f.count(t, `SELECT count(*) FROM users`); n != 0 {
		t.Fatalf("rejected registrations wrote %d users", n)
	}
	outboxtest.RequireTypes(t, f.Pool)
}

// TestFailureAfterWritesRollsBackEverything forces an error after the user,
// session and outbox rows were written inside the transaction: none of the
// three may survive.
func TestFailureAfterWritesRollsBackEverything(t *testing.T) {
	t.Parallel()
	f := setup(t)
	boom := errors.New("forced failure before commit")
	var sawRows bool
	f.Service.SetBeforeCommit(func(tx pgx.Tx) error {
		// Prove the writes really happened inside the transaction.
		var users int
		tx.QueryRow(context.Background(), `SELECT count(*) FROM users`).Scan(&users)
		sawRows = users == 1 && len(outboxtest.Events(t, tx, authevents.EventUserRegistered)) == 1
		return boom
	})
	ctx := context.Background()
	_, err := f.Service.Register(ctx, account.RegisterInput{Email: "rollback@example.com", Password: "a fine password", Name: "R"})
	if !errors.Is(err, boom) {
		t.Fatalf("Register = %v, want the forced failure", err)
	}
	if !sawRows {
		t.Fatal("the hook did not see the user and the outbox row inside the transaction")
	}
	for _, table := range []string{"users", "sessions"} {
		if n := f.count(t, "SELECT count(*) FROM "+table); n != 0 {
			t.Errorf("%s has %d rows after rollback, want 0", table, n)
		}
	}
	outboxtest.RequireTypes(t, f.Pool)

	// Same for login: the session, last_login_at and the event go together.
	f.Service.SetBeforeCommit(nil)
	if _, err := f.Service.Register(ctx, account.RegisterInput{Email: "rollback@example.com", Password: "a fine password", Name: "R"}); err != nil {
		t.Fatal(err)
	}
	f.Service.SetBeforeCommit(func(pgx.Tx) error { return boom })
	if _, err := f.Service.Login(ctx, account.LoginInput{Email: "rollback@example.com", Password: "a fine password"}); !errors.Is(err, boom) {
		t.Fatalf("Login = %v, want the forced failure", err)
	}
	if n := f.count(t, "SELECT count(*) FROM sessions"); n != 1 {
		t.Errorf("sessions = %d after failed login, want 1 (from register)", n)
	}
	if n := f.count(t, "SELECT count(*) FROM users WHERE last_login_at IS NOT NULL"); n != 0 {
		t.Errorf("last_login_at set by a rolled-back login")
	}
	outboxtest.RequireTypes(t, f.Pool, authevents.EventUserRegistered)
}
