package account_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/account"
	"github.com/authevents/authevents/outbox/outboxtest"
)

// TestDeleteAccount: a wrong password is ErrInvalidCredentials, a
// user.login_failed, and changes nothing; the right one deletes the user
// with its sessions and links, stops every token at once, and appends
// user.deleted {by: user} in the same transaction.
func TestDeleteAccount(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := setupLifecycle(t, false)
	here := l.register(t, "leave@example.com")
	elsewhere := l.login(t, "leave@example.com")
	if err := l.Service.ForgotPassword(ctx, "leave@example.com", client); err != nil {
		t.Fatal(err)
	}
	v := l.authenticate(t, here.AccessToken)

	wantErr(t, l.Service.DeleteAccount(ctx, v, "wrong "+goodPassword, client), authevents.ErrInvalidCredentials)
	outboxtest.RequireCount(t, l.Pool, authevents.EventUserLoginFailed, 1)
	outboxtest.RequireCount(t, l.Pool, authevents.EventUserDeleted, 0)
	wantFields(t, l.Service.DeleteAccount(ctx, v, "", client), "password")
	if !l.works(t, here.AccessToken) {
		t.Fatal("a refused deletion ended the session")
	}

	if err := l.Service.DeleteAccount(ctx, v, goodPassword, client); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"users", "sessions", "one_time_tokens"} {
		if n := l.count(t, "SELECT count(*) FROM "+table); n != 0 {
			t.Errorf("%s has %d rows after the deletion, want 0", table, n)
		}
	}
	for _, tok := range []string{here.AccessToken, elsewhere.AccessToken} {
		_, err := l.Service.Authenticate(ctx, tok)
		wantErr(t, err, authevents.ErrUnauthorized)
	}
	_, err := l.refresh(elsewhere.RefreshToken)
	wantErr(t, err, authevents.ErrInvalidRefreshToken)
	_, err = l.Service.Login(ctx, account.LoginInput{Email: "leave@example.com", Password: goodPassword, Client: client})
	wantErr(t, err, authevents.ErrInvalidCredentials)

	got := l.events(t, authevents.EventUserDeleted, here.User.ID.String())
	want := map[string]any{"userId": here.User.ID.String(), "email": "leave@example.com", "by": "user", "sessionsEnded": float64(2)}
	if len(got) != 1 || !equalMaps(got[0], want) {
		t.Errorf("user.deleted = %v, want %v", got, want)
	}
	outboxtest.RequireCount(t, l.Pool, authevents.EventUserLoggedOut, 2)
	l.noSecrets(t, goodPassword)
	// The user's data key is erased with the user (crypto-shredding), and
	// its tombstone is what consumers check before storing anything.
	if n := l.count(t, `SELECT count(*) FROM personal_keys WHERE user_id = $1 AND erased_at IS NOT NULL AND wrapped_key IS NULL`, here.User.ID); n != 1 {
		t.Errorf("%d erased personal_keys rows for the deleted user, want its tombstone", n)
	}
}

// TestDeleteAccountFailureRollsBackEverything: a failure after the
// deletion's writes leaves the user, its sessions and its links, and no
// event of the deletion.
func TestDeleteAccountFailureRollsBackEverything(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := setupLifecycle(t, false)
	res := l.register(t, "rollback-leave@example.com")
	v := l.authenticate(t, res.AccessToken)
	boom := errors.New("forced failure before commit")
	var sawDeleted bool
	l.Service.SetBeforeCommit(func(tx pgx.Tx) error {
		var users int
		tx.QueryRow(ctx, `SELECT count(*) FROM users`).Scan(&users)
		sawDeleted = users == 0 && len(outboxtest.Events(t, tx, authevents.EventUserDeleted)) == 1
		return boom
	})
	if err := l.Service.DeleteAccount(ctx, v, goodPassword, client); !errors.Is(err, boom) {
		t.Fatalf("DeleteAccount = %v, want the forced failure", err)
	}
	if !sawDeleted {
		t.Fatal("the hook did not see the deletion and its event inside the transaction")
	}
	l.Service.SetBeforeCommit(nil)
	if n := l.count(t, "SELECT count(*) FROM sessions WHERE revoked_at IS NULL"); n != 1 {
		t.Errorf("live sessions = %d after the rollback, want 1", n)
	}
	if n := l.count(t, "SELECT count(*) FROM users"); n != 1 {
		t.Errorf("users = %d after the rollback, want 1", n)
	}
	outboxtest.RequireCount(t, l.Pool, authevents.EventUserDeleted, 0)
	outboxtest.RequireCount(t, l.Pool, authevents.EventUserLoggedOut, 0)
	if n := l.count(t, `SELECT count(*) FROM personal_keys WHERE erased_at IS NOT NULL`); n != 0 {
		t.Errorf("%d key tombstones after the rollback, want 0", n)
	}
}

// equalMaps compares event data without its timestamp.
func equalMaps(got, want map[string]any) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}
