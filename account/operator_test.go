package account_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/authevents/authevents"
	"github.com/authevents/authevents/account"
	"github.com/authevents/authevents/account/accounttest"
	"github.com/authevents/authevents/outbox/outboxtest"
)

// TestDisableStopsEveryTokenAtOnce: disabling ends every session (rows and
// denylist), so refresh and me fail at once; a login with the right
// password is ErrAccountDisabled, a wrong one still ErrInvalidCredentials.
// Enabling lets the user sign in again. Each change is one event; a change
// that changes nothing emits nothing.
func TestDisableStopsEveryTokenAtOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t)
	res := f.register(t, "disable@example.com")
	other := f.login(t, "disable@example.com")
	id := res.User.ID

	ch, err := f.Service.DisableUser(ctx, id, authevents.ByOperator)
	if err != nil {
		t.Fatal(err)
	}
	if !ch.Changed || ch.SessionsEnded != 2 {
		t.Errorf("DisableUser = %+v, want changed with 2 sessions ended", ch)
	}
	for _, r := range []*account.Result{res, other} {
		if f.works(t, r.AccessToken) {
			t.Error("an access token of a disabled user still works")
		}
		_, err := f.refresh(r.RefreshToken)
		wantErr(t, err, authevents.ErrInvalidRefreshToken)
	}
	_, err = f.Service.Login(ctx, account.LoginInput{Email: "disable@example.com", Password: goodPassword, Client: client})
	wantErr(t, err, authevents.ErrAccountDisabled)
	_, err = f.Service.Login(ctx, account.LoginInput{Email: "disable@example.com", Password: "wrong " + goodPassword, Client: client})
	wantErr(t, err, authevents.ErrInvalidCredentials)

	again, err := f.Service.DisableUser(ctx, id, authevents.ByOperator)
	if err != nil || again.Changed || again.SessionsEnded != 0 {
		t.Errorf("DisableUser again = %+v, %v; want no change", again, err)
	}
	got := f.events(t, authevents.EventUserDisabled, id.String())
	if want := map[string]any{"userId": id.String(), "by": "operator", "sessionsEnded": float64(2)}; len(got) != 1 || !equalMaps(got[0], want) {
		t.Errorf("user.disabled = %v, want one %v", got, want)
	}

	ch, err = f.Service.EnableUser(ctx, id, authevents.ByOperator)
	if err != nil || !ch.Changed {
		t.Fatalf("EnableUser = %+v, %v", ch, err)
	}
	if ch, err = f.Service.EnableUser(ctx, id, authevents.ByOperator); err != nil || ch.Changed {
		t.Errorf("EnableUser again = %+v, %v; want no change", ch, err)
	}
	f.login(t, "disable@example.com")
	if got := f.events(t, authevents.EventUserEnabled, id.String()); len(got) != 1 || !equalMaps(got[0], map[string]any{"userId": id.String(), "by": "operator"}) {
		t.Errorf("user.enabled = %v, want one", got)
	}
}

// TestOperatorDeleteAndLookup: an operator finds a user by id or by any
// spelling of the address, deletes it (user.deleted {by: operator}), and
// then finds nothing; unknown users are ErrNotFound, never a change.
func TestOperatorDeleteAndLookup(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t)
	res := f.register(t, "operator-delete@example.com")
	id := res.User.ID

	for _, ref := range []string{id.String(), " Operator-Delete@Example.com "} {
		info, err := f.Service.FindUser(ctx, ref)
		if err != nil || info.User.ID != id || info.LiveSessions != 1 {
			t.Fatalf("FindUser(%q) = %+v, %v", ref, info, err)
		}
	}
	for _, ref := range []string{"nobody@example.com", "not an id or address", ""} {
		_, err := f.Service.FindUser(ctx, ref)
		wantErr(t, err, authevents.ErrNotFound)
	}
	ch, err := f.Service.DeleteUser(ctx, id, authevents.ByOperator)
	if err != nil || !ch.Changed || ch.SessionsEnded != 1 {
		t.Fatalf("DeleteUser = %+v, %v", ch, err)
	}
	if f.works(t, res.AccessToken) {
		t.Error("the access token of a deleted user still works")
	}
	got := f.events(t, authevents.EventUserDeleted, id.String())
	if want := map[string]any{"userId": id.String(), "email": "operator-delete@example.com", "by": "operator", "sessionsEnded": float64(1)}; len(got) != 1 || !equalMaps(got[0], want) {
		t.Errorf("user.deleted = %v, want one %v", got, want)
	}
	for _, op := range []func() (*account.Change, error){
		func() (*account.Change, error) { return f.Service.DeleteUser(ctx, id, authevents.ByOperator) },
		func() (*account.Change, error) { return f.Service.DisableUser(ctx, id, authevents.ByOperator) },
		func() (*account.Change, error) { return f.Service.EnableUser(ctx, id, authevents.ByOperator) },
	} {
		_, err := op()
		wantErr(t, err, authevents.ErrNotFound)
	}
	outboxtest.RequireCount(t, f.Pool, authevents.EventUserDeleted, 1)
	if n := f.count(t, `SELECT count(*) FROM personal_keys WHERE user_id = $1 AND erased_at IS NOT NULL`, id); n != 1 {
		t.Errorf("%d key tombstones for the user an operator deleted, want 1", n)
	}
}

// TestDisableFailureRollsBackEverything: a failure after the writes of a
// disable leaves the user enabled, its sessions live, and no event.
func TestDisableFailureRollsBackEverything(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t)
	res := f.register(t, "rollback-disable@example.com")
	boom := errors.New("forced failure before commit")
	f.Service.SetBeforeCommit(func(pgx.Tx) error { return boom })
	if _, err := f.Service.DisableUser(ctx, res.User.ID, authevents.ByOperator); !errors.Is(err, boom) {
		t.Fatalf("DisableUser = %v, want the forced failure", err)
	}
	if _, err := f.Service.DeleteUser(ctx, res.User.ID, authevents.ByOperator); !errors.Is(err, boom) {
		t.Fatalf("DeleteUser = %v, want the forced failure", err)
	}
	f.Service.SetBeforeCommit(nil)
	if n := f.count(t, "SELECT count(*) FROM users WHERE disabled_at IS NULL"); n != 1 {
		t.Errorf("enabled users = %d after the rollback, want 1", n)
	}
	if n := f.count(t, "SELECT count(*) FROM sessions WHERE revoked_at IS NULL"); n != 1 {
		t.Errorf("live sessions = %d after the rollback, want 1", n)
	}
	outboxtest.RequireTypes(t, f.Pool, authevents.EventUserRegistered)
}

// TestLoginThatRacedADisableGetsNoSession: a login whose password check
// passed before a disable committed, and whose write comes after it, is
// refused under the user's lock and opens no session. The disable runs
// inside the login's password check (the hasher's observer), between its
// read of the user and its transaction.
func TestLoginThatRacedADisableGetsNoSession(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var f *fixture
	var userID atomic.Value
	f = setup(t, func(o *accounttest.Options) {
		o.ObserveOp = func(op string, _ time.Duration) {
			if id, ok := userID.Load().(uuid.UUID); ok && op == "verify" && userID.CompareAndSwap(id, uuid.Nil) {
				if _, err := f.Service.DisableUser(ctx, id, authevents.ByOperator); err != nil {
					t.Errorf("DisableUser: %v", err)
				}
			}
		}
	})
	res := f.register(t, "raced@example.com")
	userID.Store(res.User.ID)
	_, err := f.Service.Login(ctx, account.LoginInput{Email: "raced@example.com", Password: goodPassword, Client: client})
	wantErr(t, err, authevents.ErrAccountDisabled)
	if n := f.count(t, "SELECT count(*) FROM sessions WHERE revoked_at IS NULL"); n != 0 {
		t.Errorf("%d live sessions after a login that raced the disable, want 0", n)
	}
	outboxtest.RequireCount(t, f.Pool, authevents.EventUserLoggedIn, 0)
}
